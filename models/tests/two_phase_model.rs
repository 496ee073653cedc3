//! The calibration model against TLC: the counts TLC published for Gray & Lamport's TwoPhase
//! spec, and the count derived by hand from the spec (`6^n + 4^n + 2^n`, the module's doc).

use stateright::{Checker, Model};
use twosafe_models::two_phase::{self, Action, RmState, TmState, TwoPhase, Variant};

fn correct(rms: usize) -> TwoPhase {
    TwoPhase { rms, variant: Variant::Correct }
}

/// (states generated, distinct states, depth), as TLC counts them.
fn counts(model: TwoPhase) -> (usize, usize, usize) {
    let c = model.checker().threads(1).spawn_bfs().join();
    assert!(c.is_done());
    (c.state_count(), c.unique_state_count(), c.max_depth())
}

/// TLC on the TLA+ examples' TwoPhase.cfg (RM = {r1, r2, r3}), as the examples' manifest
/// records it: 288 distinct states, 1,146 states generated, depth 11.
#[test]
fn three_resource_managers_give_tlcs_counts() {
    assert_eq!(counts(correct(3)), (1_146, 288, 11));
}

/// "The two theorems in this module have been checked with TLC for six RMs, a configuration
/// with 50816 reachable states" (the TwoPhase module's closing comment).
#[test]
fn six_resource_managers_give_tlcs_count() {
    assert_eq!(counts(correct(6)).1, 50_816);
}

#[test]
fn the_distinct_states_are_six_to_the_n_plus_four_to_the_n_plus_two_to_the_n() {
    for n in 1..=7u32 {
        let by_hand = 6usize.pow(n) + 4usize.pow(n) + 2usize.pow(n);
        assert_eq!(counts(correct(n as usize)).1, by_hand, "{n} resource managers");
    }
}

#[test]
fn every_step_is_one_of_the_modules_actions_with_its_guard() {
    let m = correct(2);
    let mut s = m.init();
    let mut enabled = Vec::new();
    m.actions(&s, &mut enabled);
    // TMCommit waits for every Prepared; nothing is received before it is sent.
    assert!(!enabled.contains(&Action::TmCommit));
    assert!(!enabled.iter().any(|a| matches!(a, Action::TmRcvPrepared(_))));
    for a in [Action::RmPrepare(0), Action::RmPrepare(1), Action::TmRcvPrepared(0)] {
        s = m.next_state(&s, a).expect("a step");
    }
    enabled.clear();
    m.actions(&s, &mut enabled);
    assert!(!enabled.contains(&Action::TmCommit), "rm 1's Prepared is not received yet");
    s = m.next_state(&s, Action::TmRcvPrepared(1)).expect("a step");
    enabled.clear();
    m.actions(&s, &mut enabled);
    assert!(enabled.contains(&Action::TmCommit));
    s = m.next_state(&s, Action::TmCommit).expect("a step");
    assert_eq!(s.tm_state, TmState::Committed);
    s = m.next_state(&s, Action::RmRcvCommitMsg(1)).expect("a step");
    assert_eq!(s.rm_state, vec![RmState::Prepared, RmState::Committed]);
    assert!(two_phase::consistent(&s));
}

#[test]
fn committing_on_the_first_prepared_lets_one_commit_and_another_abort() {
    let bug = TwoPhase { rms: 2, variant: Variant::CommitUnprepared };
    let c = bug.checker().spawn_bfs().join();
    let path = c.discovery("consistency").expect("a counterexample");
    let last = path.last_state();
    assert!(last.rm_state.contains(&RmState::Committed));
    assert!(last.rm_state.contains(&RmState::Aborted));
}
