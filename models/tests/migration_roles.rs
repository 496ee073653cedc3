//! Unit tests of the migration roles (Hagen & Alonso §4, Fig. 2): a state and an event in, the
//! exact commands out, one test per guard of the server role — the copy, the upgrade to
//! critical, the change buffers, the switch and the degrade, each checked against the wrong
//! peer, epoch or incarnation, a resend, and a step past a gap.

#[macro_use]
mod common;

use stateright::actor::Id;
use twosafe_models::commit_log::{CommitLog, Entry};
use twosafe_models::migration::msg::{Msg, Timer};
use twosafe_models::migration::server::{Role, Server, ServerState};
use twosafe_models::migration::{Config, Node};
use twosafe_models::services::{Counter, CounterOp, CounterReply};

type M = Msg<CounterOp, CounterReply>;
type St = ServerState<CounterOp, CounterReply>;
type N = Node<Counter>;

const SOURCE: usize = 0;
const TARGET: usize = 1;
const PLANNER: usize = 2;
const CLIENT: usize = 3;

fn server() -> Server<Counter> {
    let p = common::params("migration", &[("servers", "2"), ("processes", "1")]);
    Server::new(Config::from_params(&p).unwrap())
}

role_steps!(Server<Counter>, St, N, M, Timer);

fn entry(seq: u32, v: u32) -> Entry<CounterOp, CounterReply> {
    Entry {
        client: Id::from(CLIENT),
        session: 0,
        seq,
        op: CounterOp::Add(0, 1),
        reply: CounterReply(v),
    }
}

fn migrate() -> M {
    Msg::MigrateAll { targets: vec![(0, Id::from(TARGET))] }
}

fn copy(epoch: u8, inc: u8, log: CommitLog<CounterOp, CounterReply>) -> M {
    Msg::Copy { p: 0, epoch, inc, log }
}

fn installed(epoch: u8, inc: u8) -> M {
    Msg::Installed { p: 0, epoch, inc, log: CommitLog::new() }
}

fn change_buffer(epoch: u8, inc: u8, index: u32, e: Entry<CounterOp, CounterReply>) -> M {
    Msg::ChangeBuffer { p: 0, epoch, inc, index, entry: e }
}

/// The source after the planner's order and the target's `Installed`: P upgraded to critical.
fn upgraded_source(s: &Server<Counter>) -> St {
    let src = start(s, SOURCE);
    let (src, _) = deliver(s, &src, PLANNER, migrate());
    let (src, _) = deliver(s, &src.unwrap(), TARGET, installed(0, 0));
    src.unwrap()
}

/// The target holding P's copy as backup of the source.
fn backup_target(s: &Server<Counter>) -> St {
    let t = start(s, TARGET);
    let (t, _) = deliver(s, &t, SOURCE, copy(0, 0, CommitLog::new()));
    t.unwrap()
}

#[test]
fn the_planners_order_starts_the_copy_and_a_resent_order_resends_it() {
    let s = server();
    let src = start(&s, SOURCE);
    let (src, cmds) = deliver(&s, &src, PLANNER, migrate());
    assert_eq!(cmds, ["save", "send 1 Copy { p: 0, epoch: 0, inc: 0, log: [] }"]);
    assert_eq!(
        answer(&s, &src.unwrap(), PLANNER, migrate()),
        ["send 1 Copy { p: 0, epoch: 0, inc: 0, log: [] }"]
    );
}

#[test]
fn the_target_installs_the_copy_and_ignores_one_from_before_the_sources_restart() {
    let s = server();
    let t = start(&s, TARGET);
    let (t, cmds) = deliver(&s, &t, SOURCE, copy(0, 1, CommitLog::new()));
    assert_eq!(cmds, ["save", "send 0 Installed { p: 0, epoch: 0, inc: 1, log: [] }"]);
    let t = t.unwrap();
    assert_eq!(t.durable.replicas[&0].role, Role::Backup);
    ignored(&s, &t, SOURCE, copy(0, 0, CommitLog::new()), "incarnation 0 < 1");
    ignored(&s, &t, PLANNER, copy(0, 1, CommitLog::new()), "from a server it is not the backup of");
    // The same copy again: answered, not saved again.
    assert_eq!(
        answer(&s, &t, SOURCE, copy(0, 1, CommitLog::new())),
        ["send 0 Installed { p: 0, epoch: 0, inc: 1, log: [] }"]
    );
}

#[test]
fn the_source_upgrades_on_installed_only_from_its_target_in_its_incarnation() {
    let s = server();
    let src = start(&s, SOURCE);
    let (src, _) = deliver(&s, &src, PLANNER, migrate());
    let src = src.unwrap();
    for (from, m) in
        [(TARGET, installed(0, 1)), (TARGET, installed(1, 0)), (PLANNER, installed(0, 0))]
    {
        ignored(&s, &src, from, m, "a no-op");
    }
    let (n, cmds) = deliver(&s, &src, TARGET, installed(0, 0));
    assert_eq!(cmds, ["save", "set Switch"]);
    let n = n.unwrap();
    assert!(n.durable.replicas[&0].upgraded);
    ignored(&s, &n, TARGET, installed(0, 0), "a duplicate Installed");
}

#[test]
fn a_critical_step_waits_for_the_targets_ack_then_commits_saved_before_the_reply() {
    let s = server();
    let src = upgraded_source(&s);
    let req = Msg::Request { p: 0, seq: 0, op: CounterOp::Add(0, 1) };
    let (src, cmds) = deliver(&s, &src, CLIENT, req.clone());
    assert_eq!(
        cmds,
        ["send 1 ChangeBuffer { p: 0, epoch: 0, inc: 0, index: 0, entry: Entry { client: Id(3), session: 0, seq: 0, op: Add(0, 1), reply: CounterReply(1) } }"]
    );
    let src = src.unwrap();
    ignored(&s, &src, CLIENT, req, "a step in flight: the request waits");
    // The switch timer fires while the step is in flight: not current, it re-arms.
    let (n, cmds) = fire(&s, &src, Timer::Switch);
    assert!(n.is_none());
    assert_eq!(cmds, ["set Switch"]);
    // An ack of the wrong incarnation, then the right one.
    let ack = |inc| Msg::Ack { p: 0, epoch: 0, inc, index: 0 };
    ignored(&s, &src, TARGET, ack(1), "a no-op");
    let (n, cmds) = deliver(&s, &src, TARGET, ack(0));
    assert_eq!(cmds, ["save", "send 3 Reply { p: 0, seq: 0, reply: CounterReply(1) }"]);
    let n = n.unwrap();
    ignored(&s, &n, TARGET, ack(0), "a duplicate ack");
}

#[test]
fn the_target_applies_change_buffers_in_order_and_re_acks_a_resend() {
    let s = server();
    let t = backup_target(&s);
    ignored(&s, &t, SOURCE, change_buffer(0, 0, 1, entry(1, 2)), "index 1 before index 0");
    for m in [change_buffer(1, 0, 0, entry(0, 1)), change_buffer(0, 1, 0, entry(0, 1))] {
        ignored(&s, &t, SOURCE, m, "another epoch or incarnation");
    }
    let (t, cmds) = deliver(&s, &t, SOURCE, change_buffer(0, 0, 0, entry(0, 1)));
    assert_eq!(cmds, ["save", "send 0 Ack { p: 0, epoch: 0, inc: 0, index: 0 }"]);
    let t = t.unwrap();
    assert_eq!(
        answer(&s, &t, SOURCE, change_buffer(0, 0, 0, entry(0, 1))),
        ["send 0 Ack { p: 0, epoch: 0, inc: 0, index: 0 }"]
    );
    ignored(
        &s,
        &t,
        SOURCE,
        change_buffer(0, 0, 0, entry(0, 9)),
        "another step at a held index is not acked",
    );
}

#[test]
fn switch_degrade_and_forwarding() {
    let s = server();
    let src = upgraded_source(&s);
    // Current and nothing in flight: the switch stops P here and asks the target.
    let (src, cmds) = fire(&s, &src, Timer::Switch);
    assert_eq!(cmds, ["save", "send 1 Switch { p: 0, epoch: 1 }"]);
    let src = src.unwrap();
    assert_eq!(src.durable.replicas[&0].role, Role::Handing);
    let req = Msg::Request { p: 0, seq: 0, op: CounterOp::Add(0, 1) };
    assert_eq!(answer(&s, &src, CLIENT, req.clone()), ["send 3 Moved { p: 0, to: Id(1) }"]);
    // The target takes over only from its primary and for the next epoch.
    let t = backup_target(&s);
    for (from, epoch) in [(SOURCE, 0), (SOURCE, 2), (PLANNER, 1)] {
        ignored(&s, &t, from, Msg::Switch { p: 0, epoch }, "from {from} epoch {epoch}");
    }
    let (t, cmds) = deliver(&s, &t, SOURCE, Msg::Switch { p: 0, epoch: 1 });
    assert_eq!(cmds, ["save", "send 0 SwitchDone { p: 0, epoch: 1 }"]);
    let t = t.unwrap();
    assert_eq!(t.durable.replicas[&0].role, Role::Primary);
    assert_eq!(
        answer(&s, &t, SOURCE, Msg::Switch { p: 0, epoch: 1 }),
        ["send 0 SwitchDone { p: 0, epoch: 1 }"],
        "a resent switch"
    );
    // The source degrades on the confirmation of its epoch only, and tells the planner.
    ignored(&s, &src, TARGET, Msg::SwitchDone { p: 0, epoch: 0 }, "a no-op");
    let (src, cmds) = deliver(&s, &src, TARGET, Msg::SwitchDone { p: 0, epoch: 1 });
    assert_eq!(cmds, ["save", "send 2 Drained"]);
    let r = &src.unwrap().durable.replicas[&0];
    assert_eq!((r.role, r.log.len()), (Role::Moved, 0), "image deleted, address kept");
}

/// The planner (Hagen & Alonso §4): one `migrate_all` order to server 0, resent within its
/// budget until server 0 reports it is drained.
mod planner {
    use super::*;
    use twosafe_models::migration::planner::{Planner, PlannerState};

    role_steps!(Planner<Counter>, PlannerState, N, M, Timer);

    fn planner(set: &[(&str, &str)]) -> Planner<Counter> {
        Planner::new(Config::from_params(&common::params("migration", set)).unwrap())
    }

    #[test]
    fn each_process_goes_to_the_least_loaded_other_server_ties_to_the_lowest_id() {
        let p = common::params("migration", &[("servers", "3"), ("processes", "2")]);
        let targets = Planner::<Counter>::targets(&Config::from_params(&p).unwrap());
        assert_eq!(targets, [(0, Id::from(1)), (1, Id::from(2))]);
        let p = common::params("migration", &[("servers", "2"), ("processes", "2")]);
        let targets = Planner::<Counter>::targets(&Config::from_params(&p).unwrap());
        assert_eq!(targets, [(0, Id::from(1)), (1, Id::from(1))], "one target takes all");
    }

    #[test]
    fn the_order_goes_out_at_start_with_a_resend_timer_only_when_resends_are_allowed() {
        let with = planner(&[("reorders", "1")]);
        let (s, cmds) = common::run::<N, _>(|o| with.on_start(Id::from(PLANNER), &None, o));
        assert_eq!(
            common::lines(&cmds),
            ["send 0 MigrateAll { targets: [(0, Id(1))] }", "set Resend"]
        );
        assert_eq!(s, PlannerState { drained: false, resends_left: 1 });
        let without = planner(&[("reorders", "0")]);
        let (_, cmds) = common::run::<N, _>(|o| without.on_start(Id::from(PLANNER), &None, o));
        assert_eq!(common::lines(&cmds), ["send 0 MigrateAll { targets: [(0, Id(1))] }"]);
    }

    #[test]
    fn drained_ends_the_resends_once_and_nothing_else_moves_the_planner() {
        let pl = planner(&[("reorders", "1")]);
        let s = start(&pl, PLANNER);
        let (d, cmds) = deliver(&pl, &s, SOURCE, Msg::Drained);
        assert_eq!(cmds, ["cancel Resend"]);
        let d = d.unwrap();
        assert!(d.drained);
        ignored(&pl, &d, SOURCE, Msg::Drained, "a duplicate report");
        ignored(&pl, &s, TARGET, Msg::Switch { p: 0, epoch: 1 }, "not a report");
        let (_, cmds) = fire(&pl, &d, Timer::Resend);
        assert!(cmds.is_empty(), "no resend once drained");
    }

    #[test]
    fn the_order_is_resent_within_its_budget_the_last_resend_arming_no_timer() {
        let pl = planner(&[("reorders", "2")]);
        let s = start(&pl, PLANNER);
        let (s, cmds) = fire(&pl, &s, Timer::Resend);
        assert_eq!(cmds, ["send 0 MigrateAll { targets: [(0, Id(1))] }", "set Resend"]);
        let (s, cmds) = fire(&pl, &s.unwrap(), Timer::Resend);
        assert_eq!(cmds, ["send 0 MigrateAll { targets: [(0, Id(1))] }"], "the last resend");
        let s = s.unwrap();
        assert_eq!(s.resends_left, 0);
        let (n, cmds) = fire(&pl, &s, Timer::Resend);
        assert!(n.is_none() && cmds.is_empty(), "the budget is spent");
    }
}
