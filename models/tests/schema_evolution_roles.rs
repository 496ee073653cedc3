//! Unit tests of online schema evolution's roles (Chen, Jeng, Huang & Lin §III): a state and an
//! event in, the exact commands out — the judge unit's coalescing, the status check at write
//! time, the flow controller's switch condition, trap and recover with the message table, the
//! converter's policy — and the paths the properties are about, reachable.

mod common;

use common::{lines, run};
use stateright::actor::{Command, Id};
use stateright::Expectation;
use std::collections::BTreeMap;
use twosafe_models::schema_evolution::converter::{Converter, ConverterState};
use twosafe_models::schema_evolution::model::{self as m, Model, State};
use twosafe_models::schema_evolution::msg::{Msg, Timer};
use twosafe_models::schema_evolution::server::{Phase, Server, ServerState};
use twosafe_models::schema_evolution::{
    convert, Config, NewRow, Node, NodeState, Op, OpType, Record, Saved,
};

fn config(set: &[(&str, &str)]) -> Config {
    Config::from_params(&common::params("schema-evolution", set)).unwrap()
}

fn start(s: &Server) -> ServerState {
    run::<Node, _>(|o| s.on_start(Id::from(0), &None, o)).0
}

fn deliver(
    s: &Server, st: &ServerState, src: usize, msg: Msg,
) -> (Option<ServerState>, Vec<String>) {
    let (n, c) = run::<Node, _>(|o| s.on_msg(st, Id::from(src), msg, o));
    (n, lines(&c))
}

fn fire(s: &Server, st: &ServerState, t: Timer) -> (Option<ServerState>, Vec<String>) {
    let (n, c) = run::<Node, _>(|o| s.on_timeout(st, &t, o));
    (n, lines(&c))
}

fn req(seq: u32, op: Op) -> Msg {
    Msg::Request { seq, op }
}

const CLIENT: usize = 2;

fn record(op: OpType, row: Option<u8>) -> Record {
    Record { op, row, pending: true }
}

#[test]
fn the_old_version_executes_saves_before_it_replies_and_the_trigger_captures_the_change() {
    let s = Server::new(config(&[]));
    let st = start(&s);
    assert_eq!(st.d.phase, Phase::Copy { next: 0 });
    let (n, cmds) = deliver(&s, &st, CLIENT, req(0, Op::Insert(0)));
    assert_eq!(cmds, ["save", "send 2 Reply { seq: 0, reply: Some(1) }"]);
    let n = n.unwrap();
    assert_eq!(n.d.old, BTreeMap::from([(0, 1)]));
    assert_eq!(n.d.temp, BTreeMap::from([(0, record(OpType::Insert, Some(1)))]));
    assert!(n.d.new.is_empty(), "the new table is the bulk copy's and the converter's");
    // A resend gets the recorded reply and changes nothing.
    let (again, cmds) = deliver(&s, &n, CLIENT, req(0, Op::Insert(0)));
    assert!(again.is_none());
    assert_eq!(cmds, ["send 2 Reply { seq: 0, reply: Some(1) }"]);
    // A failed operation changes no tuple and captures nothing.
    let (n2, _) = deliver(&s, &n, CLIENT, req(1, Op::Insert(0)));
    assert_eq!(n2.unwrap().d.temp, n.d.temp);
}

#[test]
fn the_judge_unit_coalesces_one_record_per_tuple_and_keeps_a_delete_after_an_insert() {
    let s = Server::new(config(&[]));
    let mut st = start(&s);
    let mut seq = 0;
    let mut step = |st: &mut ServerState, op| {
        *st = deliver(&s, st, CLIENT, req(seq, op)).0.unwrap();
        seq += 1;
        st.d.temp.get(&0).copied()
    };
    assert_eq!(step(&mut st, Op::Insert(0)), Some(record(OpType::Insert, Some(1))));
    assert_eq!(step(&mut st, Op::Add(0)), Some(record(OpType::Insert, Some(2))));
    assert_eq!(step(&mut st, Op::Add(0)), Some(record(OpType::Insert, Some(3))));
    assert_eq!(step(&mut st, Op::Delete(0)), Some(record(OpType::Delete, None)));
    assert_eq!(step(&mut st, Op::Insert(0)), Some(record(OpType::Update, Some(1))));
    assert_eq!(st.d.temp.len(), 1, "five changes of one tuple, one record");

    // The seeded bug drops the record of a tuple inserted then deleted.
    let bug = Server::new(config(&[("variant", "drops-insert-then-delete")]));
    let b = start(&bug);
    let b = deliver(&bug, &b, CLIENT, req(0, Op::Insert(0))).0.unwrap();
    let b = deliver(&bug, &b, CLIENT, req(1, Op::Delete(0))).0.unwrap();
    assert!(b.d.temp.is_empty());
}

#[test]
fn the_bulk_copy_converts_tuple_by_tuple_then_the_flow_controller_tests_n_x_below_t() {
    let s = Server::new(config(&[("writers", "2"), ("switch", "2")]));
    let st = start(&s);
    let st = deliver(&s, &st, CLIENT, req(0, Op::Insert(0))).0.unwrap();
    let st = deliver(&s, &st, CLIENT + 1, req(0, Op::Insert(1))).0.unwrap();
    let (n, cmds) = fire(&s, &st, Timer::Copy);
    assert_eq!(cmds, ["save", "set Copy"]);
    let n = n.unwrap();
    assert_eq!(n.d.phase, Phase::Copy { next: 1 });
    assert_eq!(n.d.new, BTreeMap::from([(0, NewRow { hundredths: 100 })]));
    // Both tuples pending (N = 2, T = 2): the copy ends, the switch waits.
    let (n, cmds) = fire(&s, &n, Timer::Copy);
    assert_eq!(cmds, ["save"]);
    let n = n.unwrap();
    assert_eq!((n.d.phase, n.d.pending()), (Phase::Convert, 2));
    // One converted (N = 1 < T): the switch starts, and the installation's timer with it.
    let rows = vec![(1, record(OpType::Insert, Some(1)), Some(convert(1)))];
    let (n, cmds) = deliver(&s, &n, 1, Msg::Apply { rows });
    assert_eq!(cmds, ["save", "set Install"]);
    assert_eq!(n.unwrap().d.phase, Phase::Switch);
}

#[test]
fn the_status_check_writes_only_a_record_unchanged_since_the_fetch() {
    let s = Server::new(config(&[]));
    let st = start(&s);
    let st = deliver(&s, &st, CLIENT, req(0, Op::Insert(0))).0.unwrap();
    let st = fire(&s, &st, Timer::Copy).0.unwrap();
    assert_eq!((st.d.phase, st.d.pending()), (Phase::Convert, 1));
    let (none, cmds) = deliver(&s, &st, 1, Msg::Fetch);
    assert!(none.is_none(), "a fetch changes nothing");
    let fetched = record(OpType::Insert, Some(1));
    assert_eq!(cmds, [format!("send 1 Batch {{ records: [(0, {fetched:?})], live: false }}")]);
    // The tuple changes before the converted record comes back: it stays pending.
    let st = deliver(&s, &st, CLIENT, req(1, Op::Add(0))).0.unwrap();
    let stale = vec![(0, fetched, Some(convert(1)))];
    let (n, cmds) = deliver(&s, &st, 1, Msg::Apply { rows: stale.clone() });
    assert_eq!((n, cmds.len()), (None, 0));
    // The seeded bug writes it and marks it done: the add never reaches the new table.
    let bug = Server::new(config(&[("variant", "mark-done-blindly")]));
    let (b, _) = deliver(&bug, &st, 1, Msg::Apply { rows: stale });
    let b = b.unwrap();
    assert_eq!((b.d.pending(), b.d.new.get(&0)), (0, Some(&convert(1))));
    assert_eq!(b.d.old.get(&0), Some(&2));
}

#[test]
fn the_switch_traps_requests_once_and_recovery_replays_them_in_order_on_the_new_version() {
    let s = Server::new(config(&[]));
    let st = start(&s);
    let st = fire(&s, &st, Timer::Copy).0.unwrap();
    assert_eq!(st.d.phase, Phase::Switch, "nothing pending: the switch starts at once");
    let (st, cmds) = deliver(&s, &st, CLIENT, req(0, Op::Insert(0)));
    assert_eq!(cmds, ["save"], "trapped: saved, not answered");
    let st = st.unwrap();
    let (again, cmds) = deliver(&s, &st, CLIENT, req(0, Op::Insert(0)));
    assert_eq!((again, cmds.len()), (None, 0), "a resend of a trapped request is trapped once");
    let (st, cmds) = fire(&s, &st, Timer::Install);
    assert_eq!(cmds, ["save", "set Replay"]);
    let st = st.unwrap();
    assert_eq!(st.d.phase, Phase::Recover { replayed: 0 });
    let (st, cmds) = fire(&s, &st, Timer::Replay);
    assert_eq!(cmds, ["save", "set Replay", "send 2 Reply { seq: 0, reply: Some(1) }"]);
    let st = st.unwrap();
    assert_eq!(st.d.new, BTreeMap::from([(0, NewRow { hundredths: 100 })]));
    assert!(st.d.old.is_empty(), "the original table is retired at the switch");
    let (st, cmds) = fire(&s, &st, Timer::Replay);
    assert_eq!(cmds, ["save"]);
    let st = st.unwrap();
    assert_eq!(st.d.phase, Phase::Live);
    // The new version serves: an add in hundredths, answered in units.
    let (st, cmds) = deliver(&s, &st, CLIENT, req(1, Op::Add(0)));
    assert_eq!(cmds, ["save", "send 2 Reply { seq: 1, reply: Some(2) }"]);
    assert_eq!(st.unwrap().d.new.get(&0), Some(&NewRow { hundredths: 200 }));
}

#[test]
fn the_installation_waits_for_the_drain_and_the_seeded_bug_goes_live_without_it() {
    let s = Server::new(config(&[("writers", "2"), ("switch", "2")]));
    let mut st = start(&s);
    st.d.phase = Phase::Switch;
    st.d.temp.insert(0, record(OpType::Insert, Some(1)));
    st.d.old.insert(0, 1);
    let (n, cmds) = fire(&s, &st, Timer::Install);
    assert!(n.is_none());
    assert_eq!(cmds, ["set Install"]);
    let bug =
        Server::new(config(&[("writers", "2"), ("switch", "2"), ("variant", "live-before-drain")]));
    let (n, _) = fire(&bug, &st, Timer::Install);
    assert_eq!(n.unwrap().d.phase, Phase::Recover { replayed: 0 });
}

#[test]
fn a_restarted_server_resumes_its_phase_from_the_saved_database() {
    let s = Server::new(config(&[]));
    let st = start(&s);
    let st = fire(&s, &st, Timer::Copy).0.unwrap();
    let st = deliver(&s, &st, CLIENT, req(0, Op::Insert(0))).0.unwrap();
    let (r, cmds) =
        run::<Node, _>(|o| s.on_start(Id::from(0), &Some(Saved::Server(st.d.clone())), o));
    assert_eq!(lines(&cmds), ["save", "set Install"]);
    assert_eq!((r.d.restarts, r.d.trapped.len()), (1, 1), "the trap log survives");
}

#[test]
fn the_converter_converts_by_the_policy_keeps_deletes_and_polls_until_the_switch_is_over() {
    let c = Converter::new(config(&[]));
    let (st, cmds) = run::<Node, _>(|o| c.on_start(Id::from(1), &None, o));
    assert_eq!(lines(&cmds), ["save", "set Poll"]);
    let (none, cmds) = run::<Node, _>(|o| c.on_timeout(&st, &Timer::Poll, o));
    assert!(none.is_none());
    assert_eq!(lines(&cmds), ["send 0 Fetch", "set Poll"]);
    let records = vec![(0, record(OpType::Update, Some(3))), (1, record(OpType::Delete, None))];
    let (none, cmds) =
        run::<Node, _>(|o| c.on_msg(&st, Id::from(0), Msg::Batch { records, live: false }, o));
    assert!(none.is_none());
    let rows = [
        (0, record(OpType::Update, Some(3)), Some(NewRow { hundredths: 300 })),
        (1, record(OpType::Delete, None), None),
    ];
    assert_eq!(lines(&cmds), [format!("send 0 {:?}", Msg::Apply { rows: rows.to_vec() })]);
    let (done, cmds) = run::<Node, _>(|o| {
        c.on_msg(&st, Id::from(0), Msg::Batch { records: vec![], live: true }, o)
    });
    assert_eq!(done, Some(ConverterState { done: true }));
    assert_eq!(lines(&cmds), ["cancel Poll"]);
    // A restarted converter counts its restart and starts over.
    let (r, cmds) =
        run::<Node, _>(|o| c.on_start(Id::from(1), &Some(Saved::Converter { restarts: 0 }), o));
    assert_eq!(r, ConverterState { done: false });
    let saved: Vec<_> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Save(s) => Some(s.restarts()),
            _ => None,
        })
        .collect();
    assert_eq!(saved, [1], "the restart is counted in what it saves");
}

fn database(s: &State) -> Option<&ServerState> {
    match &*s.actor_states[0] {
        NodeState::Server(d) => Some(d),
        _ => None,
    }
}

/// The paths the properties are about exist: the converter drains a tuple during the switch
/// (the paper's U2, parallel to T), a trapped request is replayed, and an apply is refused by
/// the status check because its tuple changed.
#[test]
fn draining_during_the_switch_replaying_and_a_refused_stale_apply_are_reachable() {
    fn drain(_: &Model, s: &State) -> bool {
        database(s).is_some_and(|d| d.d.phase == Phase::Switch && d.d.pending() > 0)
    }
    fn replay(_: &Model, s: &State) -> bool {
        database(s).is_some_and(|d| matches!(d.d.phase, Phase::Recover { replayed: 1.. }))
    }
    fn stale(_: &Model, s: &State) -> bool {
        database(s).is_some_and(|d| {
            d.d.phase == Phase::Convert
                && s.network.iter_deliverable().any(|e| match e.msg {
                    Msg::Apply { rows } => rows.iter().any(|(k, r, _)| d.d.temp.get(k) != Some(r)),
                    _ => false,
                })
        })
    }
    let set = [("writers", "2"), ("switch", "2"), ("resends", "0"), ("lossy", "false")];
    let model = m::build(config(&set))
        .property(Expectation::Sometimes, "drain during the switch", drain)
        .property(Expectation::Sometimes, "trapped request replayed", replay)
        .property(Expectation::Sometimes, "stale apply in flight", stale);
    common::assert_reachable(
        model,
        &["drain during the switch", "trapped request replayed", "stale apply in flight"],
    );
}

#[test]
fn every_save_precedes_the_step_s_first_send() {
    let model = m::build(config(&[("crashes", "1")]));
    let steps = common::assert_saves_before_sends("schema-evolution", &model, 20_000);
    assert!(steps > 20_000, "{steps}");
}
