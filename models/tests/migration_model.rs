//! Model-level tests of process migration: the write-ahead rule in every reachable step, the
//! planner's placement, and non-vacuity (the 2PC path at level critical, a restarted source
//! adopting the target's longer history, complete migrations of one and of two processes).

mod common;

use stateright::actor::Id;
use stateright::Expectation;
use twosafe_models::migration::model as m;
use twosafe_models::migration::planner::Planner;
use twosafe_models::migration::server::{Role, ServerState};
use twosafe_models::migration::{Config, Node, NodeState};
use twosafe_models::services::{Counter, CounterOp, Service};

fn config(set: &[(&str, &str)]) -> Config {
    Config::from_params(&common::params("migration", set)).unwrap()
}

type Srv = ServerState<CounterOp, <Counter as Service>::Reply>;

fn server(s: &m::State<Counter>, i: usize) -> Option<&Srv> {
    match &*s.actor_states[i] {
        NodeState::Server(x) => Some(x),
        _ => None,
    }
}

#[test]
fn every_reachable_step_saves_before_it_sends() {
    for (label, set) in [
        ("migrate", vec![("crash", "any")]),
        ("migrate-all", vec![("servers", "3"), ("processes", "2"), ("requests", "1")]),
    ] {
        let model = m::build::<Counter>(config(&set));
        let steps = common::assert_saves_before_sends(label, &model, 20_000);
        assert!(steps > 500, "{label}: only {steps} steps examined");
    }
}

#[test]
fn the_planner_spreads_processes_over_the_remaining_servers() {
    let two = Planner::<Counter>::targets(&config(&[("servers", "3"), ("processes", "2")]));
    assert_eq!(two, vec![(0, Id::from(1)), (1, Id::from(2))]);
    let one = Planner::<Counter>::targets(&config(&[("servers", "2"), ("processes", "2")]));
    assert_eq!(one, vec![(0, Id::from(1)), (1, Id::from(1))]);
}

/// The paths that matter are reachable: a step in flight by 2PC while P is critical, and a
/// whole migration with every reply delivered.
#[test]
fn critical_steps_adoption_and_completion_are_reachable() {
    fn in_flight(_: &m::Model<Counter>, s: &m::State<Counter>) -> bool {
        server(s, 0).is_some_and(|x| !x.pending.is_empty())
    }
    fn complete(m: &m::Model<Counter>, s: &m::State<Counter>) -> bool {
        let moved = server(s, 0)
            .is_some_and(|x| x.durable.replicas.values().all(|r| r.role == Role::Moved));
        let running = server(s, 1).is_some_and(|x| {
            x.durable
                .replicas
                .get(&0)
                .is_some_and(|r| r.role == Role::Primary && r.log.len() == m.cfg.requests)
        });
        moved && running
    }
    let model = m::build::<Counter>(config(&[("crash", "source")]))
        .property(Expectation::Sometimes, "critical step in flight", in_flight)
        .property(Expectation::Sometimes, "migration complete", complete);
    common::assert_reachable(model, &["critical step in flight", "migration complete"]);
}

#[test]
fn migrate_all_moves_both_processes() {
    fn both(_: &m::Model<Counter>, s: &m::State<Counter>) -> bool {
        (1..3).all(|i| {
            server(s, i).is_some_and(|x| {
                x.durable
                    .replicas
                    .get(&((i - 1) as u8))
                    .is_some_and(|r| r.role == Role::Primary && r.epoch == 1)
            })
        }) && matches!(&*s.actor_states[3], NodeState::Planner(p) if p.drained)
    }
    let model = m::build::<Counter>(config(&[
        ("servers", "3"),
        ("processes", "2"),
        ("requests", "1"),
        ("reorders", "0"),
    ]))
    .property(Expectation::Sometimes, "both moved", both);
    common::assert_reachable(model, &["both moved"]);
}

/// A restarted source learns from the target's answer to its copy that the target holds a
/// step it lost in the crash (the commit decision was taken there): it adopts that history,
/// saves it before it sends anything, and counts the target as current.
#[test]
fn a_restarted_source_adopts_the_targets_longer_history() {
    use stateright::actor::{Command, Out};
    use std::collections::BTreeMap;
    use twosafe_models::commit_log::CommitLog;
    use twosafe_models::commit_log::Entry;
    use twosafe_models::migration::msg::Msg;
    use twosafe_models::migration::server::{Durable, Replica, Server};

    let cfg = config(&[]);
    let server = Server::<Counter>::new(cfg);
    let replica = |role, log| Replica {
        role,
        epoch: 0,
        peer: Some(Id::from(1)),
        upgraded: true,
        inc: 1,
        log,
    };
    let s = ServerState {
        durable: Durable {
            replicas: BTreeMap::from([(0, replica(Role::Primary, CommitLog::new()))]),
            restarts: 1,
        },
        acked: BTreeMap::new(),
        pending: BTreeMap::new(),
    };
    let mut theirs = CommitLog::new();
    theirs.push(Entry {
        client: Id::from(3),
        session: 0,
        seq: 0,
        op: CounterOp::Add(0, 1),
        reply: Counter::default().apply(&CounterOp::Add(0, 1)),
    });
    let mut o = Out::<Node<Counter>>::new();
    let msg = Msg::Installed { p: 0, epoch: 0, inc: 1, log: theirs.clone() };
    let n = server.on_msg(&s, Id::from(1), msg.clone(), &mut o).expect("adopts");
    assert_eq!(n.durable.replicas[&0].log, theirs);
    assert_eq!(n.acked.get(&0), Some(&1));
    assert!(matches!(o.iter().next(), Some(Command::Save(d)) if d.replicas[&0].log == theirs));
    // The same answer from before the restart (incarnation 0) is ignored.
    let stale = Msg::Installed { p: 0, epoch: 0, inc: 0, log: theirs };
    let mut o = Out::<Node<Counter>>::new();
    assert!(server.on_msg(&s, Id::from(1), stale, &mut o).is_none());
    assert_eq!(o.iter().count(), 0);
}
