//! Unit tests of the node role of ClustRa's fragments (Hvasshovd et al. §3.3-§4): a state and
//! an event in, the exact commands out, one test per guard of the virtual node set protocol
//! and of the fragments' linear 2PC — promises, lower builds and node sets, the majority at
//! its boundary with an odd and an even number of nodes, records of another node set.

mod common;

use common::{lines, run};
use stateright::actor::Id;
use twosafe_models::fragments::msg::{Msg, Timer};
use twosafe_models::fragments::server::{Building, Live, Server, ServerState};
use twosafe_models::fragments::{Config, Node, NodeSet, NodeSetId};

fn server(nodes: u8, me: u8) -> Server {
    let p = common::params("fragments", &[("nodes", &nodes.to_string()), ("suspicions", "1")]);
    Server::new(Config::from_params(&p).unwrap(), me)
}

fn start(s: &Server) -> Live {
    let (st, _) = run::<Node, _>(|o| s.on_start(Id::from(usize::from(s.me)), &None, o));
    match st {
        ServerState::Live(l) => l,
        other => panic!("{other:?}"),
    }
}

fn deliver(s: &Server, l: &Live, src: usize, msg: Msg) -> (Option<ServerState>, Vec<String>) {
    let (n, c) = run::<Node, _>(|o| s.on_msg(&ServerState::Live(l.clone()), Id::from(src), msg, o));
    (n, lines(&c))
}

fn fire(s: &Server, l: &Live, t: Timer) -> (Option<ServerState>, Vec<String>) {
    let (n, c) = run::<Node, _>(|o| s.on_timeout(&ServerState::Live(l.clone()), &t, o));
    (n, lines(&c))
}

fn live(s: Option<ServerState>) -> Live {
    match s {
        Some(ServerState::Live(l)) => l,
        other => panic!("{other:?}"),
    }
}

fn id(counter: u8, builder: u8) -> NodeSetId {
    NodeSetId { counter, builder }
}

#[test]
fn a_member_answers_a_higher_build_once_and_refuses_lower_ones() {
    let s = server(3, 1);
    let l = start(&s);
    let (l, cmds) = deliver(&s, &l, 0, Msg::Build { id: id(1, 0) });
    assert_eq!(cmds, ["send 0 Services { id: NodeSetId { counter: 1, builder: 0 } }"]);
    let l = live(l);
    assert_eq!(l.promised, id(1, 0));
    // The same build again, and a build with the same counter by a lower builder.
    for b in [id(1, 0), id(0, 2)] {
        let (n, cmds) = deliver(&s, &l, 2, Msg::Build { id: b });
        assert!(n.is_none() && cmds.is_empty(), "{b:?}");
    }
    // The same counter by a higher builder is higher: ids are ordered by counter, then builder.
    let (n, cmds) = deliver(&s, &l, 2, Msg::Build { id: id(1, 2) });
    assert_eq!(cmds, ["send 2 Services { id: NodeSetId { counter: 1, builder: 2 } }"]);
    assert_eq!(live(n).promised, id(1, 2));
}

#[test]
fn a_build_from_a_node_outside_the_set_is_ignored() {
    let s = server(3, 1);
    let mut l = start(&s);
    l.set.members = 0b011; // node 2 was excluded
    let (n, cmds) = deliver(&s, &l, 2, Msg::Build { id: id(5, 2) });
    assert!(n.is_none() && cmds.is_empty());
}

#[test]
fn the_builder_decides_with_a_strict_majority_and_not_with_half() {
    // Three nodes: two answers are a majority. Four nodes: two are not, three are.
    for (nodes, answered, decides) in
        [(3u8, 0b011u8, true), (3, 0b001, false), (4, 0b0011, false), (4, 0b0111, true)]
    {
        let s = server(nodes, 0);
        let mut l = start(&s);
        l.building = Some(Building { id: id(1, 0), answered });
        let (n, cmds) = fire(&s, &l, Timer::Decide);
        if decides {
            let l = live(n);
            assert_eq!(l.set.members, answered, "the set is who answered");
            assert!(l.building.is_none());
            assert!(cmds.iter().any(|c| c.starts_with("send 1 Install")), "{cmds:?}");
        } else {
            assert!(n.is_none(), "{nodes} nodes, {answered:b}");
            assert_eq!(cmds, ["set Decide"], "it keeps waiting for answers");
        }
    }
}

#[test]
fn services_of_another_build_are_ignored_and_all_answers_decide_at_once() {
    let s = server(3, 0);
    let l = start(&s);
    let (l, cmds) = fire(&s, &l, Timer::Suspect);
    assert_eq!(
        cmds,
        [
            "send 1 Build { id: NodeSetId { counter: 1, builder: 0 } }",
            "send 2 Build { id: NodeSetId { counter: 1, builder: 0 } }",
            "set Decide",
            "set Suspect"
        ]
    );
    let l = live(l);
    let (n, cmds) = deliver(&s, &l, 1, Msg::Services { id: id(0, 1) });
    assert!(n.is_none() && cmds.is_empty(), "an answer to another build");
    let (l, _) = deliver(&s, &l, 1, Msg::Services { id: id(1, 0) });
    let l = live(l);
    assert!(l.building.is_some(), "two of three answered: it waits for the Decide timer");
    let (l, cmds) = deliver(&s, &l, 2, Msg::Services { id: id(1, 0) });
    assert!(cmds.iter().any(|c| c.starts_with("send 1 Install")), "{cmds:?}");
    assert_eq!(live(l).set.id, id(1, 0));
}

#[test]
fn a_lower_node_set_is_ignored_and_one_below_a_promise_is_refused() {
    let s = server(3, 1);
    let l = start(&s);
    let (l, _) = deliver(&s, &l, 2, Msg::Build { id: id(2, 2) });
    let l = live(l);
    let install = |c, b| Msg::Install { set: NodeSet { id: id(c, b), members: 0b111 } };
    let (n, cmds) = deliver(&s, &l, 0, install(0, 0));
    assert!(n.is_none() && cmds.is_empty(), "not above the installed set");
    let (n, cmds) = deliver(&s, &l, 0, install(1, 0));
    assert!(n.is_none(), "below its promise: refused, state unchanged");
    assert_eq!(cmds, ["send 0 Refuse { promised: NodeSetId { counter: 2, builder: 2 } }"]);
    let (n, _) = deliver(&s, &l, 2, install(2, 2));
    assert_eq!(live(n).set.id, id(2, 2));
}

#[test]
fn a_node_left_out_of_the_installed_set_stops_serving() {
    let s = server(3, 1);
    let l = start(&s);
    let (n, cmds) =
        deliver(&s, &l, 0, Msg::Install { set: NodeSet { id: id(1, 0), members: 0b101 } });
    assert_eq!(cmds, ["cancel Decide", "cancel Suspect"]);
    assert!(matches!(n, Some(ServerState::Excluded(_))));
}

#[test]
fn records_and_acks_of_another_node_set_are_ignored() {
    // Fragment 0: primary node 0, stand-by node 1.
    let s = server(3, 1);
    let l = start(&s);
    let log = |set| Msg::Log { set, f: 0, index: 0, update: (0, 0) };
    let (n, cmds) = deliver(&s, &l, 0, log(id(1, 0)));
    assert!(n.is_none() && cmds.is_empty(), "a record of another node set");
    let (n, cmds) = deliver(&s, &l, 2, log(NodeSetId::default()));
    assert!(n.is_none() && cmds.is_empty(), "from a node that is not the primary");
    let (n, cmds) = deliver(&s, &l, 0, log(NodeSetId::default()));
    assert_eq!(cmds, ["send 0 Ack { set: NodeSetId { counter: 0, builder: 0 }, f: 0, index: 0 }"]);
    assert_eq!(live(n).replicas[0].log, [(0, 0)]);
    // At the primary: an ack of another node set, or with nothing pending, moves nothing.
    let p = server(3, 0);
    let l = start(&p);
    let ack = Msg::Ack { set: NodeSetId::default(), f: 0, index: 0 };
    let (n, cmds) = deliver(&p, &l, 1, ack);
    assert!(n.is_none() && cmds.is_empty(), "nothing pending");
}

#[test]
fn a_silent_member_starts_a_build_that_excludes_it() {
    let s = server(3, 1);
    let l = start(&s);
    let (n, cmds) = deliver(&s, &l, 0, Msg::Silent);
    assert_eq!(
        cmds,
        [
            "send 0 Build { id: NodeSetId { counter: 1, builder: 1 } }",
            "send 2 Build { id: NodeSetId { counter: 1, builder: 1 } }",
            "set Decide"
        ]
    );
    assert_eq!(live(n).suspected, 0b001);
    let mut outside = l.clone();
    outside.set.members = 0b110;
    let (n, cmds) = deliver(&s, &outside, 0, Msg::Silent);
    assert!(n.is_none() && cmds.is_empty(), "not a member: nothing to exclude");
}

#[test]
fn a_crashed_node_tells_its_successor_and_stops() {
    let s = server(3, 1);
    let l = start(&s);
    let (n, cmds) = fire(&s, &l, Timer::Crash);
    assert_eq!(cmds, ["send 2 Silent", "cancel Suspect", "cancel Decide"]);
    let down = n.unwrap();
    assert!(matches!(down, ServerState::Down(0)));
    let (n, cmds) = run::<Node, _>(|o| s.on_msg(&down, Id::from(0), Msg::Silent, o));
    assert!(n.is_none() && lines(&cmds).is_empty(), "a down node does nothing");
}
