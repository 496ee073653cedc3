//! Model-level tests of linear 2PC: BFS and DFS agree on the state space (pinned), the
//! write-ahead rule holds in every reachable step, the model is not vacuous (takeovers,
//! restarts and completed workloads are all reachable), and two ways a rejoin once got stuck
//! for good are no longer reachable (quiescent states where a server is left out).

mod common;

use stateright::actor::ActorModelAction;
use stateright::{Checker, Model};
use twosafe_models::catalogue;
use twosafe_models::linear_2pc::model as m;
use twosafe_models::linear_2pc::server::Role;
use twosafe_models::linear_2pc::{Config, NodeState};
use twosafe_models::services::Register;

fn model(set: &[(&str, &str)]) -> m::Model<Register> {
    let spec = catalogue::model("linear-2pc").unwrap();
    let mut p = spec.defaults();
    for (k, v) in set {
        p.set(spec.params, k, v).unwrap();
    }
    m::build::<Register>(Config::from_params(&p).unwrap())
}

#[test]
fn bfs_and_dfs_agree_on_the_state_space() {
    let set = [("crash", "backup"), ("requests", "1")];
    let bfs = model(&set).checker().spawn_bfs().join();
    let dfs = model(&set).checker().spawn_dfs().join();
    bfs.assert_properties();
    dfs.assert_properties();
    assert_eq!(bfs.unique_state_count(), dfs.unique_state_count());
    assert_eq!(bfs.unique_state_count(), 1793);
}

fn reachable(model: &m::Model<Register>, limit: usize) -> Vec<m::State<Register>> {
    common::reachable(model, limit)
}

#[test]
fn every_reachable_step_saves_before_it_sends() {
    for level in ["critical", "important", "normal", "takeback"] {
        let model = if level == "takeback" {
            model(&[
                ("takeback", "true"),
                ("heartbeats", "true"),
                ("crash", "any"),
                ("takeovers", "2"),
            ])
        } else {
            model(&[("level", level), ("crash", "any")])
        };
        let steps = common::assert_saves_before_sends(level, &model, 20_000);
        assert!(steps > 500, "{level}: only {steps} steps examined");
    }
}

/// Takeback is not vacuous: the deposed primary becomes the backup again (epoch 1), and with
/// two takeovers allowed it takes the primary role back (epoch 2).
#[test]
fn takeback_and_a_second_takeover_are_reachable() {
    let model = model(&[("takeback", "true"), ("crashes", "0"), ("takeovers", "2")]);
    let states = reachable(&model, usize::MAX);
    let server0 = |s: &m::State<Register>| match &*s.actor_states[0] {
        NodeState::Server(x) => Some((x.role, x.epoch, x.log.len())),
        _ => None,
    };
    assert!(states.iter().any(|s| server0(s).is_some_and(|(r, e, _)| r == Role::Backup && e == 1)));
    assert!(states
        .iter()
        .any(|s| server0(s).is_some_and(|(r, e, n)| r == Role::Primary && e == 2 && n > 0)));
}

/// Whether nothing but a crash changes `s`: every message left in the network is ignored for
/// good and no timer does anything.
fn quiescent(model: &m::Model<Register>, s: &m::State<Register>) -> bool {
    let mut actions = Vec::new();
    model.actions(s, &mut actions);
    actions
        .into_iter()
        .filter(|a| !matches!(a, ActorModelAction::Crash(_)))
        .all(|a| model.next_state(s, a).is_none())
}

/// Degraded mode with two degradations on a reliable network: the second can cut the fenced
/// backup's rejoin (it is still retired in the first degradation's epoch). The retired server
/// is never left behind — the primary in epoch 2, it retired in epoch 1, and no action
/// changing anything — which, before the model adopted a newer fence, was where such a run
/// ended for good; and it does come back as the backup of epoch 2.
#[test]
fn a_rejoin_cut_by_a_second_degradation_is_not_left_behind() {
    let model = model(&[
        ("takeback", "true"),
        ("degrade", "true"),
        ("lossy", "false"),
        ("crashes", "0"),
        ("takeovers", "2"),
        ("resends", "0"),
    ]);
    let states = reachable(&model, usize::MAX);
    let server = |s: &m::State<Register>, i: usize| match &*s.actor_states[i] {
        NodeState::Server(x) => Some((x.role, x.epoch, x.log.len())),
        _ => None,
    };
    let left_behind = states.iter().find(|s| {
        server(s, 0).is_some_and(|(r, e, _)| r == Role::Primary && e == 2)
            && server(s, 1).is_some_and(|(r, e, _)| r == Role::Retired && e == 1)
            && quiescent(&model, s)
    });
    assert!(left_behind.is_none(), "{left_behind:#?}");
    assert!(states
        .iter()
        .any(|s| server(s, 1).is_some_and(|(r, e, n)| r == Role::Backup && e == 2 && n == 2)));
}

/// Degraded mode with a primary crash on a reliable network: the primary upgraded for a
/// retired server's rejoin can crash and restart during the catch-up, and ask the retired
/// server for the commit decisions. It is never left waiting — restarted (reconfiguring), the
/// other server retired, no action changing anything — which before a retired server answered
/// the inquiry was where such a run ended for good.
#[test]
fn a_primary_restarted_during_a_catch_up_is_not_left_waiting() {
    let model = model(&[
        ("takeback", "true"),
        ("degrade", "true"),
        ("lossy", "false"),
        ("crash", "primary"),
        ("requests", "1"),
    ]);
    let states = reachable(&model, usize::MAX);
    let role = |s: &m::State<Register>, i: usize| match &*s.actor_states[i] {
        NodeState::Server(x) => Some(x.role),
        _ => None,
    };
    let waiting = states
        .iter()
        .filter(|s| role(s, 0) == Some(Role::Reconfiguring) && role(s, 1) == Some(Role::Retired));
    let mut examined = 0;
    for s in waiting {
        examined += 1;
        assert!(!quiescent(&model, s), "{s:#?}");
    }
    assert!(examined > 0, "a primary restarted while the other server is retired is reachable");
}

#[test]
fn takeover_restart_and_completion_are_reachable() {
    let model = model(&[("crash", "any")]);
    let states = reachable(&model, usize::MAX);
    let server = |s: &m::State<Register>, i: usize| match &*s.actor_states[i] {
        NodeState::Server(x) => Some(x.clone()),
        _ => None,
    };
    assert!(
        states.iter().any(|s| server(s, 1).is_some_and(|b| b.role == Role::Primary)),
        "the backup can take over"
    );
    assert!(
        states.iter().any(|s| server(s, 0).is_some_and(|p| p.role == Role::Retired)),
        "the old primary can be deposed"
    );
    assert!(
        states.iter().any(|s| server(s, 0).is_some_and(|p| p.role == Role::Reconfiguring)),
        "a restarted primary runs the reconfiguration protocol"
    );
    assert!(
        states.iter().any(|s| matches!(&*s.actor_states[2],
        NodeState::Client(c) if c.replies.len() == 2)),
        "the client can finish its workload"
    );
}
