//! Model-level tests of ClustRa's many-node form: the distribution dictionary's circle, and
//! non-vacuity — the paths the properties are about are reachable (a takeover that commits, a
//! finished self-repair, a live node cut off by a false suspicion).

mod common;

use stateright::Expectation;
use twosafe_models::fragments::dictionary;
use twosafe_models::fragments::model as m;
use twosafe_models::fragments::server::{Live, ServerState};
use twosafe_models::fragments::{Config, NodeState};

fn config(set: &[(&str, &str)]) -> Config {
    Config::from_params(&common::params("fragments", set)).unwrap()
}

fn live(s: &m::State, i: usize) -> Option<&Live> {
    match &*s.actor_states[i] {
        NodeState::Server(ServerState::Live(l)) => Some(l),
        _ => None,
    }
}

#[test]
fn the_dictionary_walks_the_circle() {
    // All of 0, 1, 2: fragment f on f (primary) and f+1 (stand-by).
    assert_eq!(dictionary(0, 0b111, 3), (Some(0), Some(1)));
    assert_eq!(dictionary(2, 0b111, 3), (Some(2), Some(0)));
    // Node 1 gone: its stand-by (node 2) takes fragment 1 over; node 2 becomes fragment 0's
    // new stand-by.
    assert_eq!(dictionary(1, 0b101, 3), (Some(2), Some(0)));
    assert_eq!(dictionary(0, 0b101, 3), (Some(0), Some(2)));
    // Four nodes, node 0 gone: fragment 0 moves to node 1 with node 2 as stand-by, and
    // fragment 3 keeps its primary with a new stand-by on node 1.
    assert_eq!(dictionary(0, 0b1110, 4), (Some(1), Some(2)));
    assert_eq!(dictionary(3, 0b1110, 4), (Some(3), Some(1)));
    // One node left: no stand-by.
    assert_eq!(dictionary(1, 0b100, 3), (Some(2), None));
}

#[test]
fn takeover_self_repair_and_exclusion_are_reachable() {
    /// Node 1 runs fragment 0 (node 0's) and has committed the client's update in it.
    fn takeover_commit(m: &m::Model, s: &m::State) -> bool {
        live(s, 1).is_some_and(|l| l.is_primary(&m.cfg, 1, 0) && !l.replicas[0].log.is_empty())
    }
    /// Self-repair finished: node 2, fragment 0's new stand-by once node 1 is gone, holds the
    /// whole fragment with the committed update. (That the record logged before the copy is
    /// replayed is shown by `bug/repair-without-log`, whose counterexample needs that path.)
    fn fuzzy_repair(_: &m::Model, s: &m::State) -> bool {
        live(s, 2).is_some_and(|l| {
            let r = &l.replicas[0];
            r.current && r.log.len() == 1 && l.set.id.counter > 0
        }) && live(s, 0).is_some_and(|l| l.replicas[0].log.len() == 1 && l.set.members == 0b101)
    }
    /// A live node learned that a node set excluded it.
    fn excluded(_: &m::Model, s: &m::State) -> bool {
        s.actor_states.iter().any(|a| matches!(&**a, NodeState::Server(ServerState::Excluded(_))))
    }
    let model = m::build(config(&[("lossy", "false")]))
        .property(Expectation::Sometimes, "takeover commits", takeover_commit)
        .property(Expectation::Sometimes, "fuzzy self-repair", fuzzy_repair)
        .property(Expectation::Sometimes, "live node excluded", excluded);
    common::assert_reachable(
        model,
        &["takeover commits", "fuzzy self-repair", "live node excluded"],
    );
}
