//! Unit tests of the fuzzy-copy roles (the logical-checkpointing patent's "new backup" and
//! "soft failure"; ClustRa §4; the rolling upgrade's handover, Fig. 2A): a state and an event
//! in, the exact commands out, one test per guard of the primary and the backup — attempts,
//! incarnations, re-sent and overtaken messages, the intake pause, the retired primary.

mod common;

use common::{lines, run, BACKUP, CLIENT, PRIMARY};
use stateright::actor::Id;
use twosafe_models::fuzzy_copy::backup::{Backup, BackupState};
use twosafe_models::fuzzy_copy::msg::{Msg, Timer};
use twosafe_models::fuzzy_copy::primary::{Phase, Primary, PrimaryState};
use twosafe_models::fuzzy_copy::{Config, Node};
use twosafe_models::services::{Counter, CounterOp, CounterReply, Service};

type M = Msg<CounterOp, CounterReply, u8, u32>;
type N = Node<Counter>;

fn cfg(upgrade: bool) -> Config {
    if upgrade {
        Config::upgrade_from_params(&common::params("rolling-upgrade", &[])).unwrap()
    } else {
        Config::from_params(&common::params("fuzzy-copy", &[])).unwrap()
    }
}

fn on_primary(
    p: &Primary<Counter>, s: &PrimaryState<Counter>, src: usize, m: M,
) -> (Option<PrimaryState<Counter>>, Vec<String>) {
    let (n, c) = run::<N, _>(|o| p.on_msg(s, Id::from(src), m, o));
    (n, lines(&c))
}

fn on_backup(
    b: &Backup<Counter>, s: &BackupState<Counter>, m: M,
) -> (Option<BackupState<Counter>>, Vec<String>) {
    let (n, c) = run::<N, _>(|o| b.on_msg(s, Id::from(PRIMARY), m, o));
    (n, lines(&c))
}

fn primary() -> (Primary<Counter>, PrimaryState<Counter>, Vec<String>) {
    let p = Primary::new(cfg(false));
    let (s, c) = run::<N, _>(|o| p.on_start(Id::from(PRIMARY), &None, o));
    (p, s, lines(&c))
}

/// A current primary at SSN `next` with client 2's request `seq` answered.
fn current(p: &PrimaryState<Counter>, next: u64, seq: u64) -> PrimaryState<Counter> {
    let mut s = p.clone();
    s.phase = Phase::Current;
    s.next_ssn = next;
    s.answered.insert(Id::from(CLIENT), (seq, CounterReply(1)));
    s
}

fn add(seq: u64) -> M {
    Msg::Request { seq, op: CounterOp::Add(0, 1) }
}

#[test]
fn primary_starts_the_copy_at_the_first_object_and_ignores_acks_of_other_batches() {
    let (p, s, cmds) = primary();
    assert_eq!(cmds, ["send 1 CopyObject { incarnation: 0, attempt: 1, objects: [(0, None, 0)] }"]);
    assert_eq!(s.phase, Phase::Copying { noted: 1, key: 0 });
    // An ack of an earlier attempt, or of another object, moves nothing.
    for m in [Msg::CopyAck { attempt: 0, key: 0 }, Msg::CopyAck { attempt: 1, key: 1 }] {
        let (n, cmds) = on_primary(&p, &s, BACKUP, m);
        assert!(n.is_none() && cmds.is_empty());
    }
    // The right ack sends the next object; the last one's ack ends the copy at the noted SSN.
    let (s, cmds) = on_primary(&p, &s, BACKUP, Msg::CopyAck { attempt: 1, key: 0 });
    assert_eq!(cmds, ["send 1 CopyObject { incarnation: 0, attempt: 1, objects: [(1, None, 0)] }"]);
    let (s, cmds) = on_primary(&p, &s.unwrap(), BACKUP, Msg::CopyAck { attempt: 1, key: 1 });
    assert_eq!(cmds, ["send 1 CopyDone { incarnation: 0, attempt: 1, noted: 1 }"]);
    assert_eq!(s.unwrap().phase, Phase::Done { noted: 1 });
}

#[test]
fn primary_pauses_intake_while_the_last_entries_are_caught_up() {
    let (p, s, _) = primary();
    let mut paused = s.clone();
    paused.phase = Phase::Paused { from: 2, upto: 3 };
    let (n, cmds) = on_primary(&p, &paused, CLIENT, add(0));
    assert!(n.is_none() && cmds.is_empty(), "the request waits in the network");
    // The ack of everything shipped ends the pause.
    let (n, cmds) = on_primary(&p, &paused, BACKUP, Msg::LogAck { next: 3 });
    assert!(cmds.is_empty());
    assert_eq!(n.unwrap().phase, Phase::Current);
    // An ack short of it does not.
    let (n, _) = on_primary(&p, &paused, BACKUP, Msg::LogAck { next: 2 });
    assert!(n.is_none());
}

#[test]
fn primary_ignores_an_overtaken_resend_and_answers_the_last_one_from_its_table() {
    let (p, s, _) = primary();
    let s = current(&s, 3, 1);
    let (n, cmds) = on_primary(&p, &s, CLIENT, add(0));
    assert!(n.is_none() && cmds.is_empty(), "request 0 was answered long ago");
    let (n, cmds) = on_primary(&p, &s, CLIENT, add(1));
    assert!(n.is_none());
    assert_eq!(cmds, ["send 2 Reply { seq: 1, reply: CounterReply(1) }"]);
}

/// A hosted session numbers its requests from its session number, so a later session of a
/// client id is a new request to a primary whose message table holds the earlier session's
/// last (an earlier session's is a stale resend, as in the models).
#[test]
fn a_later_session_of_a_client_id_is_served_past_the_earlier_sessions_table_entry() {
    use twosafe_models::fuzzy_copy::client::Client;
    use twosafe_models::history::FOREVER;
    let mut hosted = cfg(false);
    hosted.resends = FOREVER;
    hosted.requests = 0; // hosted: only what is submitted
    let client = Client::<Counter>::in_session(hosted, 0, 1_000);
    let (st, _) = run::<N, _>(|o| client.on_start(Id::from(CLIENT), &None, o));
    let (st, cmds) = run::<N, _>(|o| client.submit(&st, CounterOp::Add(0, 1), o));
    assert_eq!(lines(&cmds), ["send 0 Request { seq: 1000, op: Add(0, 1) }", "set Resend"]);
    // Its resend timer resends for ever.
    let (again, cmds) = run::<N, _>(|o| client.on_timeout(&st.unwrap(), &Timer::Resend, o));
    assert_eq!(lines(&cmds), ["send 0 Request { seq: 1000, op: Add(0, 1) }", "set Resend"]);
    assert_eq!(again.unwrap().resends_left, FOREVER);
    // The primary's table holds request 7 of an earlier session (numbered from 1).
    let (p, s, _) = primary();
    let s = current(&s, 3, 7);
    let (n, cmds) = on_primary(&p, &s, CLIENT, add(1_000));
    assert_eq!(cmds, ["send 1 Log { incarnation: 0, ssn: 3, ops: [Add(0, 1)] }"], "a new update");
    assert_eq!(n.unwrap().pending.map(|(_, seq, _, ssn)| (seq, ssn)), Some((1_000, 3)));
    let (n, cmds) = on_primary(&p, &s, CLIENT, add(6));
    assert!(n.is_none() && cmds.is_empty(), "an earlier request is a stale resend");
}

#[test]
fn primary_ignores_a_rejoin_of_an_earlier_incarnation() {
    let (p, s, _) = primary();
    let mut s = current(&s, 3, 1);
    s.incarnation = 2;
    for incarnation in [1, 2] {
        let (n, cmds) = on_primary(&p, &s, BACKUP, Msg::Rejoin { incarnation, next: Some(1) });
        assert!(n.is_none() && cmds.is_empty(), "incarnation {incarnation}");
    }
    // A newer one that is current needs nothing shipped.
    let (n, cmds) = on_primary(&p, &s, BACKUP, Msg::Rejoin { incarnation: 3, next: Some(3) });
    assert!(cmds.is_empty());
    let n = n.unwrap();
    assert_eq!((n.incarnation, n.phase), (3, Phase::Current));
}

#[test]
fn a_rejoin_behind_a_recycled_table_starts_a_full_copy_over() {
    let (p, s, _) = primary();
    let mut s = current(&s, 9, 1);
    s.history = (5..9u64).map(|ssn| (ssn, CounterOp::Add(0, 1))).collect();
    let (n, cmds) = on_primary(&p, &s, BACKUP, Msg::Rejoin { incarnation: 1, next: Some(2) });
    assert_eq!(cmds, ["send 1 CopyObject { incarnation: 1, attempt: 2, objects: [(0, None, 0)] }"]);
    assert_eq!(n.unwrap().phase, Phase::Copying { noted: 9, key: 0 });
    // Within the table: the missing entries are shipped.
    let (n, cmds) = on_primary(&p, &s, BACKUP, Msg::Rejoin { incarnation: 1, next: Some(7) });
    assert_eq!(cmds, ["send 1 Log { incarnation: 1, ssn: 7, ops: [Add(0, 1)] }"]);
    assert_eq!(n.unwrap().phase, Phase::Shipping { acked: 7 });
}

fn backup() -> (Backup<Counter>, BackupState<Counter>) {
    let b = Backup::new(cfg(false));
    let (s, c) = run::<N, _>(|o| b.on_start(Id::from(BACKUP), &None, o));
    assert_eq!(lines(&c), ["save"], "a new backup only saves its empty state");
    (b, s)
}

#[test]
fn backup_ignores_copies_of_another_incarnation_or_an_older_attempt() {
    let (b, s) = backup();
    let mut s = s;
    s.attempt = 2;
    for (incarnation, attempt) in [(1, 2), (0, 1)] {
        let m = Msg::CopyObject { incarnation, attempt, objects: vec![(0, Some(1), 1)] };
        let (n, cmds) = on_backup(&b, &s, m);
        assert!(n.is_none() && cmds.is_empty(), "({incarnation}, {attempt})");
    }
    let m = Msg::CopyObject { incarnation: 0, attempt: 2, objects: vec![(0, Some(1), 1)] };
    let (n, cmds) = on_backup(&b, &s, m);
    assert_eq!(cmds, ["save", "send 0 CopyAck { attempt: 2, key: 0 }"]);
    let n = n.unwrap();
    assert_eq!((n.service.object(&0), n.next), (Some(1), None));
}

#[test]
fn backup_re_acks_a_re_sent_copy_done_and_waits_for_entries_past_a_gap() {
    let (b, s) = backup();
    let done = |attempt| Msg::CopyDone { incarnation: 0, attempt, noted: 1 };
    let (s, cmds) = on_backup(&b, &s, done(1));
    assert_eq!(cmds, ["save", "send 0 LogAck { next: 1 }"]);
    let s = s.unwrap();
    let (n, cmds) = on_backup(&b, &s, done(1));
    assert!(n.is_none());
    assert_eq!(cmds, ["send 0 LogAck { next: 1 }"], "a re-sent CopyDone");
    // Entry 2 before entry 1: it waits.
    let log = |ssn, k| Msg::Log { incarnation: 0, ssn, ops: vec![CounterOp::Add(0, 1); k] };
    let (n, cmds) = on_backup(&b, &s, log(2, 1));
    assert!(n.is_none() && cmds.is_empty());
    // Entries 1-2 apply; a re-sent entry 1 is skipped and re-acked.
    let (s, cmds) = on_backup(&b, &s, log(1, 2));
    assert_eq!(cmds, ["save", "send 0 LogAck { next: 3 }"]);
    let s = s.unwrap();
    assert_eq!(s.service.object(&0), Some(2));
    let (n, cmds) = on_backup(&b, &s, log(1, 1));
    assert!(n.is_none());
    assert_eq!(cmds, ["send 0 LogAck { next: 3 }"]);
    // A batch straddling `next` applies only its new entries.
    let (s, _) = on_backup(&b, &s, log(2, 2));
    let s = s.unwrap();
    assert_eq!((s.service.object(&0), s.next), (Some(3), Some(4)));
}

#[test]
fn a_rebooted_backup_asks_to_catch_up_from_its_log_position() {
    let (b, s) = backup();
    let mut d = s.clone();
    d.next = Some(4);
    let (r, cmds) = run::<N, _>(|o| b.on_start(Id::from(BACKUP), &Some(d), o));
    assert_eq!(lines(&cmds), ["save", "send 0 Rejoin { incarnation: 1, next: Some(4) }"]);
    assert_eq!(r.restarts, 1);
    let (n, cmds) = run::<N, _>(|o| b.on_timeout(&r, &Timer::Retransmit, o));
    assert!(n.is_none() && lines(&cmds).is_empty(), "asked once with a finite resend budget");
}

fn forever() -> Config {
    let p = common::params("fuzzy-copy", &[("lossy", "true"), ("resends", "forever")]);
    Config::from_params(&p).unwrap()
}

#[test]
fn with_resends_for_ever_a_rebooted_backup_asks_again_until_it_hears_from_the_primary() {
    let b = Backup::new(forever());
    let (s, _) = run::<N, _>(|o| b.on_start(Id::from(BACKUP), &None, o));
    let mut d = s.clone();
    d.next = Some(4);
    let (r, cmds) = run::<N, _>(|o| b.on_start(Id::from(BACKUP), &Some(d), o));
    let rejoin = "send 0 Rejoin { incarnation: 1, next: Some(4) }";
    assert_eq!(lines(&cmds), ["save", rejoin, "set Retransmit"]);
    assert!(r.rejoining);
    let (n, cmds) = run::<N, _>(|o| b.on_timeout(&r, &Timer::Retransmit, o));
    assert!(n.is_none());
    assert_eq!(lines(&cmds)[0], rejoin, "asked again");
    // A message for the previous incarnation is no answer; one for this incarnation is.
    let log = |incarnation| Msg::Log { incarnation, ssn: 4, ops: vec![] };
    let (n, _) = on_backup(&b, &r, log(0));
    assert!(n.is_none_or(|n| n.rejoining));
    let (n, cmds) = on_backup(&b, &r, log(1));
    let n = n.expect("it heard from the primary");
    assert!(!n.rejoining);
    assert_eq!(cmds, ["cancel Retransmit", "send 0 LogAck { next: 4 }"]);
    let (_, cmds) = run::<N, _>(|o| b.on_timeout(&n, &Timer::Retransmit, o));
    assert!(lines(&cmds).is_empty(), "no more questions");
}

#[test]
fn with_resends_for_ever_the_primary_retransmits_what_is_in_flight_in_each_phase() {
    let p = Primary::new(forever());
    let (s, cmds) = run::<N, _>(|o| p.on_start(Id::from(PRIMARY), &None, o));
    assert_eq!(lines(&cmds)[1], "set Retransmit");
    let tick = |s: &PrimaryState<Counter>| {
        let (n, c) = run::<N, _>(|o| p.on_timeout(s, &Timer::Retransmit, o));
        (n, lines(&c))
    };
    // Copying: the batch again (read again: the copy is fuzzy).
    let (n, cmds) = tick(&s);
    assert!(n.is_none());
    assert_eq!(
        cmds[0],
        "send 1 CopyObject { incarnation: 0, attempt: 1, objects: [(0, None, 0)] }"
    );
    // Done: CopyDone again.
    let mut done = s.clone();
    done.phase = Phase::Done { noted: 1 };
    assert_eq!(tick(&done).1[0], "send 1 CopyDone { incarnation: 0, attempt: 1, noted: 1 }");
    // Shipping and paused: the log batch again, from where it began.
    let mut shipping = s.clone();
    (shipping.next_ssn, shipping.phase) = (3, Phase::Shipping { acked: 1 });
    shipping.history = [(1, CounterOp::Add(0, 1)), (2, CounterOp::Add(1, 1))].into_iter().collect();
    let (_, cmds) = tick(&shipping);
    assert_eq!(cmds[0], "send 1 Log { incarnation: 0, ssn: 1, ops: [Add(0, 1)] }");
    let mut paused = shipping.clone();
    paused.phase = Phase::Paused { from: 2, upto: 3 };
    let (_, cmds) = tick(&paused);
    assert_eq!(cmds[0], "send 1 Log { incarnation: 0, ssn: 2, ops: [Add(1, 1)] }");
    // Current: nothing (an update in flight goes again when its client resends).
    let (n, cmds) = tick(&current(&s, 3, 1));
    assert!(n.is_none() && cmds.is_empty());
    // A repeated Rejoin of a backup found current is answered again, with an empty log.
    let mut served = current(&s, 3, 1);
    served.incarnation = 1;
    let (n, cmds) = on_primary(&p, &served, BACKUP, Msg::Rejoin { incarnation: 1, next: Some(3) });
    assert!(n.is_none());
    assert_eq!(cmds, ["send 1 Log { incarnation: 1, ssn: 3, ops: [] }"]);
}

#[test]
fn a_copy_batch_that_arrives_after_copy_done_is_a_late_retransmission_and_is_ignored() {
    let (b, s) = backup();
    let batch = Msg::CopyObject { incarnation: 0, attempt: 1, objects: vec![(0, Some(5), 3)] };
    let (s, _) = on_backup(&b, &s, batch.clone());
    let (s, _) = on_backup(&b, &s.unwrap(), Msg::CopyDone { incarnation: 0, attempt: 1, noted: 1 });
    let s = s.unwrap();
    assert_eq!(s.next, Some(1));
    let (n, cmds) = on_backup(&b, &s, batch);
    assert!(n.is_none() && cmds.is_empty(), "the replay from `noted` stays");
}

#[test]
fn the_handover_waits_for_a_current_backup_and_the_retired_primary_points_to_it() {
    let p = Primary::new(cfg(true));
    let (s, _) = run::<N, _>(|o| p.on_start(Id::from(PRIMARY), &None, o));
    // Still copying: the timer is re-armed, nothing is handed over.
    let (n, cmds) = run::<N, _>(|o| p.on_timeout(&s, &Timer::Handover, o));
    assert!(n.is_none());
    assert_eq!(lines(&cmds), ["set Handover"]);
    let s = current(&s, 2, 0);
    let (n, cmds) = run::<N, _>(|o| p.on_timeout(&s, &Timer::Handover, o));
    assert_eq!(lines(&cmds), ["send 1 Handover { table: [(Id(2), 0, CounterReply(1))] }"]);
    let retired = n.unwrap();
    assert!(retired.retired);
    let (n, cmds) = on_primary(&p, &retired, CLIENT, add(1));
    assert!(n.is_none());
    assert_eq!(cmds, ["send 2 Moved"]);
    let (n, cmds) = on_primary(&p, &retired, BACKUP, Msg::LogAck { next: 9 });
    assert!(n.is_none() && cmds.is_empty(), "a retired primary takes part in nothing");
    let (n, cmds) = run::<N, _>(|o| p.on_timeout(&retired, &Timer::Handover, o));
    assert!(n.is_none() && lines(&cmds).is_empty(), "handed over once");
}

#[test]
fn the_new_version_serves_from_the_handed_over_message_table() {
    let b = Backup::new(cfg(true));
    let (s, _) = run::<N, _>(|o| b.on_start(Id::from(BACKUP), &None, o));
    let mut s = s;
    s.next = Some(2);
    let (s, cmds) =
        on_backup(&b, &s, Msg::Handover { table: vec![(Id::from(CLIENT), 1, CounterReply(1))] });
    assert_eq!(cmds, ["save"]);
    let s = s.unwrap();
    let req = |seq| (Id::from(CLIENT), add(seq));
    let serve = |s: &BackupState<_>, (src, m): (Id, M)| {
        let (n, c) = run::<Node<_>, _>(|o| b.on_msg(s, src, m, o));
        (n, lines(&c))
    };
    let (n, cmds) = serve(&s, req(0));
    assert!(n.is_none() && cmds.is_empty(), "a stale resend");
    let (n, cmds) = serve(&s, req(1));
    assert!(n.is_none());
    assert_eq!(cmds, ["send 2 Reply { seq: 1, reply: CounterReply(1) }"], "from the table");
    let (n, cmds) = serve(&s, req(2));
    assert_eq!(cmds, ["save", "send 2 Reply { seq: 2, reply: CounterReply(1) }"]);
    assert_eq!(n.unwrap().next, Some(3));
    let (n, cmds) = on_backup(&b, &s, Msg::LogAck { next: 1 });
    assert!(n.is_none() && cmds.is_empty(), "the old primary's messages are ignored");
}

#[test]
fn with_resends_for_ever_the_handover_is_resent_until_the_new_version_acknowledges_it() {
    let set = [("lossy", "true"), ("resends", "forever")];
    let cfg = Config::upgrade_from_params(&common::params("rolling-upgrade", &set)).unwrap();
    let (p, b) = (Primary::new(cfg.clone()), Backup::new(cfg));
    let (s, _) = run::<N, _>(|o| p.on_start(Id::from(PRIMARY), &None, o));
    let ready = current(&s, 2, 0);
    let (retired, cmds) = run::<N, _>(|o| p.on_timeout(&ready, &Timer::Handover, o));
    let retired = retired.expect("it hands over");
    let handover = "send 1 Handover { table: [(Id(2), 0, CounterReply(1))] }";
    assert_eq!(lines(&cmds), [handover, "set Retransmit"]);
    let (n, cmds) = run::<N, _>(|o| p.on_timeout(&retired, &Timer::Retransmit, o));
    assert!(n.is_none());
    assert_eq!(lines(&cmds), [handover, "set Retransmit"], "not acknowledged: again");
    let (n, cmds) = on_primary(&p, &retired, BACKUP, Msg::HandoverAck);
    assert!(n.is_none());
    assert_eq!(cmds, ["cancel Retransmit"]);
    // The spare acknowledges the first handover and a repeated one.
    let (spare, _) = run::<N, _>(|o| b.on_start(Id::from(BACKUP), &None, o));
    let table = vec![(Id::from(CLIENT), 0, CounterReply(1))];
    let (serving, cmds) = on_backup(&b, &spare, Msg::Handover { table: table.clone() });
    assert_eq!(cmds, ["save", "send 0 HandoverAck"]);
    let (n, cmds) = on_backup(&b, &serving.unwrap(), Msg::Handover { table });
    assert!(n.is_none());
    assert_eq!(cmds, ["send 0 HandoverAck"]);
}
