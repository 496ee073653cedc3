//! Model-level tests of the rolling upgrade: non-vacuity — the spare really runs version 2, the
//! handover happens, and version 2 executes updates after it.

mod common;

use stateright::Expectation;
use twosafe_models::fuzzy_copy::model as m;
use twosafe_models::fuzzy_copy::rolling_upgrade::Upgraded;
use twosafe_models::fuzzy_copy::{Config, NodeState};
use twosafe_models::services::Versions;

type St = m::State<Upgraded>;

#[test]
fn version_two_takes_over_and_serves() {
    /// The spare, in version 2, serves and has executed an update after the handover (its
    /// next SSN is past the one the handover found).
    fn v2_serves(_: &m::Model<Upgraded>, s: &St) -> bool {
        let primary_next = match &*s.actor_states[0] {
            NodeState::Primary(p) => p.next_ssn,
            _ => return false,
        };
        matches!(&*s.actor_states[1], NodeState::Backup(b)
            if matches!(b.service, Versions::V2(_))
                && b.serving.is_some()
                && b.next.is_some_and(|n| n > primary_next))
    }
    let cfg = Config::upgrade_from_params(&common::params("rolling-upgrade", &[])).unwrap();
    assert!(cfg.upgrade);
    let model = m::build::<Upgraded>(cfg).property(Expectation::Sometimes, "v2 serves", v2_serves);
    common::assert_reachable(model, &["v2 serves"]);
}

/// The write-ahead rule on the upgrade's paths (the spare saving its copy, its log position,
/// the handover and each update it serves before the message that announces it leaves), over
/// the whole state space of the default configuration.
#[test]
fn every_reachable_step_saves_before_it_sends() {
    let cfg = Config::upgrade_from_params(&common::params("rolling-upgrade", &[])).unwrap();
    let steps =
        common::assert_saves_before_sends("rolling-upgrade", &m::build::<Upgraded>(cfg), 20_000);
    assert!(steps > 1_000, "only {steps} steps examined");
}
