//! Unit tests of the logical-checkpointing roles (the patent, Fig. 3A-3D, 4A, 4B): a state and
//! an event in, the exact commands out, one test per guard of the server role. A `save` must
//! come before any message of the same step.

#[macro_use]
mod common;

use common::{lines, run, BACKUP, CLIENT, PRIMARY};
use stateright::actor::Id;
use twosafe_models::logical_checkpointing::msg::{Msg, Timer};
use twosafe_models::logical_checkpointing::server::{Role, Server, ServerState};
use twosafe_models::logical_checkpointing::{Config, Node};
use twosafe_models::services::{Counter, CounterOp, CounterReply};

type M = Msg<CounterOp, CounterReply>;
type St = ServerState<Counter>;
type N = Node<Counter>;

fn server() -> Server<Counter> {
    let p = common::params("logical-checkpointing", &[("service", "counter")]);
    Server::new(Config::from_params(&p).unwrap())
}

/// A server whose spares rejoin (catch-up chunks of one request, as in the model).
fn rejoining_server() -> Server<Counter> {
    let p = common::params("logical-checkpointing", &[("service", "counter"), ("rejoin", "true")]);
    Server::new(Config::from_params(&p).unwrap())
}

/// A server with I-am-alive messages and a failure detector that may be wrong.
fn heartbeat_server() -> Server<Counter> {
    let p =
        common::params("logical-checkpointing", &[("service", "counter"), ("heartbeats", "true")]);
    Server::new(Config::from_params(&p).unwrap())
}

fn get(seq: u32) -> M {
    Msg::Request { session: 1, seq, op: CounterOp::Get(0) }
}

role_steps!(Server<Counter>, St, N, M, Timer);

fn add(seq: u32) -> M {
    Msg::Request { session: 1, seq, op: CounterOp::Add(0, 1) }
}

fn checkpoint(epoch: u64, ssn: u64, seq: u32) -> M {
    let (client, op) = (Id::from(CLIENT), CounterOp::Add(0, 1));
    Msg::Checkpoint { epoch, ssn, client, session: 1, seq, op }
}

/// A primary with requests 0 and 1 checkpointed (SSNs 0 and 1), neither acked.
fn primary_with_two_pending(s: &Server<Counter>) -> St {
    let p = start(s, PRIMARY);
    let (p, _) = deliver(s, &p, CLIENT, add(0));
    let (p, _) = deliver(s, &p.unwrap(), CLIENT, add(1));
    p.unwrap()
}

#[test]
fn primary_logs_with_the_next_ssn_saves_then_checkpoints() {
    let s = server();
    let p = start(&s, PRIMARY);
    let (p, cmds) = deliver(&s, &p, CLIENT, add(0));
    assert_eq!(
        cmds,
        ["save", "send 1 Checkpoint { epoch: 0, ssn: 0, client: Id(2), session: 1, seq: 0, op: Add(0, 1) }"]
    );
    let p = p.unwrap();
    assert_eq!((p.d.next_ssn, p.d.history.len()), (1, 0), "nothing committed before the ack");
}

#[test]
fn primary_commits_in_ssn_order_whatever_order_the_acks_come_in() {
    let s = server();
    let p = primary_with_two_pending(&s);
    // The ack of SSN 1 first: SSN 0 is not committed, so neither is 1.
    let (p, cmds) = deliver(&s, &p, BACKUP, Msg::Ack { epoch: 0, ssn: 1 });
    assert_eq!(cmds, ["save"], "the ack is noted, nothing is answered");
    let p = p.unwrap();
    assert!(p.d.history.is_empty());
    // The ack of SSN 0 commits both, in SSN order, saved before the replies leave.
    let (p, cmds) = deliver(&s, &p, BACKUP, Msg::Ack { epoch: 0, ssn: 0 });
    assert_eq!(
        cmds,
        [
            "save",
            "send 2 Reply { session: 1, seq: 0, reply: CounterReply(1) }",
            "send 2 Reply { session: 1, seq: 1, reply: CounterReply(2) }"
        ]
    );
    let ssns: Vec<u64> = p.unwrap().d.history.iter().map(|c| c.ssn).collect();
    assert_eq!(ssns, [0, 1]);
}

#[test]
fn primary_ignores_a_duplicate_ack_and_an_ack_of_another_epoch() {
    let s = server();
    let p = primary_with_two_pending(&s);
    let (p, _) = deliver(&s, &p, BACKUP, Msg::Ack { epoch: 0, ssn: 1 });
    let p = p.unwrap();
    ignored(&s, &p, BACKUP, Msg::Ack { epoch: 0, ssn: 1 }, "a duplicate ack");
    ignored(&s, &p, BACKUP, Msg::Ack { epoch: 1, ssn: 0 }, "an ack of another epoch");
}

#[test]
fn primary_answers_a_committed_resend_from_the_message_table() {
    // Fig. 4A: a path failure loses the reply; the resend gets the stored response.
    let s = server();
    let p = start(&s, PRIMARY);
    let (p, _) = deliver(&s, &p, CLIENT, add(0));
    let (p, _) = deliver(&s, &p.unwrap(), BACKUP, Msg::Ack { epoch: 0, ssn: 0 });
    let p = p.unwrap();
    assert_eq!(
        answer(&s, &p, CLIENT, add(0)),
        ["send 2 Reply { session: 1, seq: 0, reply: CounterReply(1) }"],
        "not executed a second time"
    );
}

#[test]
fn primary_re_sends_the_checkpoint_of_a_logged_resend() {
    // The checkpoint or its ack may have been lost: the resend re-sends it under its SSN.
    let s = server();
    let p = primary_with_two_pending(&s);
    assert_eq!(
        answer(&s, &p, CLIENT, add(0)),
        ["send 1 Checkpoint { epoch: 0, ssn: 0, client: Id(2), session: 1, seq: 0, op: Add(0, 1) }"],
        "no new SSN"
    );
}

#[test]
fn backup_logs_durably_then_acks_then_executes() {
    let s = server();
    let b = start(&s, BACKUP);
    let (b, cmds) = deliver(&s, &b, PRIMARY, checkpoint(0, 0, 0));
    assert_eq!(cmds, ["save", "send 0 Ack { epoch: 0, ssn: 0 }", "set Execute(0)"]);
    let b = b.unwrap();
    assert!(b.d.history.is_empty(), "executed later, by the Execute timer");
    let (b, cmds) = fire(&s, &b, Timer::Execute(0));
    assert_eq!(cmds, ["save"], "the backup commits and tells no client");
    assert_eq!(b.unwrap().d.history.len(), 1);
}

#[test]
fn backup_re_acks_a_re_sent_checkpoint_without_logging_it_twice() {
    let s = server();
    let b = start(&s, BACKUP);
    let (b, _) = deliver(&s, &b, PRIMARY, checkpoint(0, 0, 0));
    let b = b.unwrap();
    assert_eq!(answer(&s, &b, PRIMARY, checkpoint(0, 0, 0)), ["send 0 Ack { epoch: 0, ssn: 0 }"]);
    // Also once committed.
    let (b, _) = fire(&s, &b, Timer::Execute(0));
    assert_eq!(
        answer(&s, &b.unwrap(), PRIMARY, checkpoint(0, 0, 0)),
        ["send 0 Ack { epoch: 0, ssn: 0 }"]
    );
}

#[test]
fn backup_ignores_a_checkpoint_of_another_epoch() {
    let s = server();
    let b = start(&s, BACKUP);
    ignored(&s, &b, PRIMARY, checkpoint(1, 0, 0), "a no-op");
}

#[test]
fn backup_executes_in_any_order_but_commits_in_ssn_order() {
    // Fig. 3D.
    let s = server();
    let b = start(&s, BACKUP);
    let (b, _) = deliver(&s, &b, PRIMARY, checkpoint(0, 0, 0));
    let (b, _) = deliver(&s, &b.unwrap(), PRIMARY, checkpoint(0, 1, 1));
    let (b, _) = fire(&s, &b.unwrap(), Timer::Execute(1));
    let b = b.unwrap();
    assert!(b.d.history.is_empty(), "SSN 1 executed, not committed before SSN 0");
    let (again, cmds) = fire(&s, &b, Timer::Execute(1));
    assert!(again.is_none() && cmds.is_empty(), "executed once");
    let (b, _) = fire(&s, &b, Timer::Execute(0));
    let ssns: Vec<u64> = b.unwrap().d.history.iter().map(|c| c.ssn).collect();
    assert_eq!(ssns, [0, 1]);
}

#[test]
fn takeover_bumps_the_epoch_drops_entries_past_a_gap_and_announces_itself() {
    let s = server();
    let b = start(&s, BACKUP);
    let (b, _) = deliver(&s, &b, PRIMARY, checkpoint(0, 0, 0));
    let (b, _) = deliver(&s, &b.unwrap(), PRIMARY, checkpoint(0, 2, 2));
    let (n, cmds) = fire(&s, &b.unwrap(), Timer::Takeover);
    assert_eq!(cmds, ["save", "send 2 NewPrimary { epoch: 1 }"]);
    let n = n.unwrap();
    assert_eq!((n.d.role, n.d.epoch, n.d.next_ssn), (Role::Primary, 1, 1));
    assert_eq!(
        n.d.log.keys().copied().collect::<Vec<_>>(),
        [0],
        "SSN 2 follows a gap: never acked, so never committed by the old primary"
    );
    // Fig. 4B: a resend of the pending request waits for its commit.
    ignored(&s, &n, CLIENT, add(0), "a no-op");
    // A takeover timer at a primary does nothing.
    let (again, cmds) = fire(&s, &n, Timer::Takeover);
    assert!(again.is_none() && cmds.is_empty());
}

#[test]
fn a_restarted_first_primary_goes_to_the_spare_pool() {
    let s = server();
    let p = primary_with_two_pending(&s);
    let (r, cmds) = run::<N, _>(|o| s.on_start(Id::from(PRIMARY), &Some(p.d.clone()), o));
    assert_eq!(lines(&cmds), ["save"]);
    assert_eq!(r.d.role, Role::Spare);
    assert!(r.d.log.is_empty(), "its uncommitted entries are its backup's to decide");
    assert_eq!(
        answer(&s, &r, CLIENT, add(2)),
        ["send 2 NotPrimary { epoch: 1 }"],
        "a spare serves nobody: it sends the client to the other server, a primary of a later epoch"
    );
}

#[test]
fn with_heartbeats_a_primary_confirms_a_read_with_its_backup_before_answering() {
    let s = heartbeat_server();
    let p = start(&s, PRIMARY);
    let cmds = answer(&s, &p, CLIENT, get(0));
    assert_eq!(
        cmds,
        ["send 1 Confirm { epoch: 0, client: Id(2), session: 1, seq: 0, reply: CounterReply(0) }"],
        "the reply as of the read's arrival, sent only once the backup confirms"
    );
    let b = start(&s, BACKUP);
    let confirm = Msg::Confirm {
        epoch: 0,
        client: Id::from(CLIENT),
        session: 1,
        seq: 0,
        reply: CounterReply(0),
    };
    assert_eq!(
        answer(&s, &b, PRIMARY, confirm.clone()),
        ["send 0 Confirmed { epoch: 0, client: Id(2), session: 1, seq: 0, reply: CounterReply(0) }"]
    );
    let confirmed = Msg::Confirmed {
        epoch: 0,
        client: Id::from(CLIENT),
        session: 1,
        seq: 0,
        reply: CounterReply(0),
    };
    assert_eq!(
        answer(&s, &p, BACKUP, confirmed),
        ["send 2 Reply { session: 1, seq: 0, reply: CounterReply(0) }"]
    );
    // Without heartbeats detection is accurate, and the primary answers at once.
    let plain = server();
    let p = start(&plain, PRIMARY);
    assert_eq!(
        answer(&plain, &p, CLIENT, get(0)),
        ["send 2 Reply { session: 1, seq: 0, reply: CounterReply(0) }"]
    );
}

#[test]
fn a_new_primary_fences_the_old_one_which_retires_to_the_spare_pool() {
    let s = heartbeat_server();
    let b = start(&s, BACKUP);
    let (n, _) = fire(&s, &b, Timer::Takeover);
    let n = n.unwrap();
    // Anything of the old epoch is answered with TakenOver, never with an ack or a confirmation.
    for m in [
        checkpoint(0, 0, 0),
        Msg::Confirm {
            epoch: 0,
            client: Id::from(CLIENT),
            session: 1,
            seq: 0,
            reply: CounterReply(0),
        },
        Msg::IAmAlive { epoch: 0 },
    ] {
        assert_eq!(answer(&s, &n, PRIMARY, m), ["send 0 TakenOver { epoch: 1 }"]);
    }
    let p = primary_with_two_pending(&s);
    let (r, cmds) = deliver(&s, &p, BACKUP, Msg::TakenOver { epoch: 1 });
    assert_eq!(cmds, ["save", "cancel Heartbeat"]);
    let r = r.unwrap();
    assert_eq!(r.d.role, Role::Spare);
    assert!(r.d.log.is_empty());
    assert_eq!(
        answer(&s, &r, CLIENT, add(2)),
        ["send 2 NotPrimary { epoch: 1 }"],
        "a spare serves nobody: it sends the client to the other server, a primary of a later epoch"
    );
}

#[test]
fn with_heartbeats_one_i_am_alive_is_outstanding_at_a_time() {
    let s = heartbeat_server();
    let p = start(&s, PRIMARY);
    let (p, cmds) = fire(&s, &p, Timer::Heartbeat);
    assert_eq!(cmds, ["send 1 IAmAlive { epoch: 0 }", "set Heartbeat"]);
    let p = p.unwrap();
    let (again, cmds) = fire(&s, &p, Timer::Heartbeat);
    assert!(again.is_none() && cmds.is_empty(), "silent until the last one is answered");
    let b = start(&s, BACKUP);
    assert_eq!(
        answer(&s, &b, PRIMARY, Msg::IAmAlive { epoch: 0 }),
        ["set Takeover", "send 0 AliveAck { epoch: 0 }"]
    );
    // The answer starts the next period: the timer may have fired (silently) meanwhile, and
    // without it the backup would hear nothing more and take over.
    let (p, cmds) = deliver(&s, &p, BACKUP, Msg::AliveAck { epoch: 0 });
    assert_eq!(cmds, ["set Heartbeat"]);
    assert!(!p.unwrap().awaiting_alive);
}

#[test]
fn a_later_session_is_executed_and_expires_the_earlier_one() {
    let s = server();
    let p = start(&s, PRIMARY);
    let (p, _) = deliver(&s, &p, CLIENT, add(0));
    let (p, _) = deliver(&s, &p.unwrap(), BACKUP, Msg::Ack { epoch: 0, ssn: 0 });
    let p = p.unwrap();
    // Session 2 of the same client id, sequence number 0 again: a new request, not a resend.
    let again = Msg::Request { session: 2, seq: 0, op: CounterOp::Add(0, 1) };
    let (p, cmds) = deliver(&s, &p, CLIENT, again);
    assert_eq!(
        cmds,
        [
            "save",
            "send 1 Checkpoint { epoch: 0, ssn: 1, client: Id(2), session: 2, seq: 0, op: Add(0, 1) }"
        ]
    );
    // Until session 2 commits, session 1 is still the table's: its resend is answered.
    let p = p.unwrap();
    assert_eq!(
        answer(&s, &p, CLIENT, add(0)),
        ["send 2 Reply { session: 1, seq: 0, reply: CounterReply(1) }"]
    );
    let (p, cmds) = deliver(&s, &p, BACKUP, Msg::Ack { epoch: 0, ssn: 1 });
    assert_eq!(cmds, ["save", "send 2 Reply { session: 2, seq: 0, reply: CounterReply(2) }"]);
    // Now a late copy of session 1's request is refused: neither executed nor answered.
    let p = p.unwrap();
    assert_eq!(answer(&s, &p, CLIENT, add(0)), ["send 2 Expired { session: 1, seq: 0 }"]);
    assert_eq!(answer(&s, &p, CLIENT, add(1)), ["send 2 Expired { session: 1, seq: 1 }"]);
}

#[test]
fn a_spare_rejoins_by_chunks_and_the_last_makes_it_the_backup() {
    let s = rejoining_server();
    // The backup takes over and commits two updates alone.
    let b = start(&s, BACKUP);
    let (n, _) = fire(&s, &b, Timer::Takeover);
    let (n, _) = deliver(&s, &n.unwrap(), CLIENT, add(0));
    let (n, _) = deliver(&s, &n.unwrap(), CLIENT, add(1));
    let p = n.unwrap();
    assert_eq!(p.d.history.len(), 2);
    // The restarted first primary is a spare and asks to join, holding nothing.
    let old = primary_with_two_pending(&s);
    let (r, cmds) = run::<N, _>(|o| s.on_start(Id::from(PRIMARY), &Some(old.d.clone()), o));
    assert_eq!(
        lines(&cmds),
        ["save", "send 1 Join { epoch: 0, have: 0, inc: 0, learner: false }", "set Join"]
    );
    // One request per chunk: the first is not the last, and changes nothing at the primary.
    let (n, cmds) =
        deliver(&s, &p, PRIMARY, Msg::Join { epoch: 0, have: 0, inc: 0, learner: false });
    assert!(n.is_none());
    assert_eq!(cmds.len(), 1);
    assert!(
        cmds[0].contains("CatchUp { epoch: 1, inc: 0, from: 0,")
            && cmds[0].ends_with("last: false }")
    );
    // The chunk of the primary's history from `from` to `to`, in epoch 1.
    let chunk = |from: usize, to: usize, last: bool| Msg::CatchUp {
        epoch: 1,
        inc: 0,
        from: from as u64,
        entries: p.d.history.iter().skip(from).take(to - from).cloned().collect(),
        last,
    };
    let (r, cmds) = deliver(&s, &r, BACKUP, chunk(0, 1, false));
    assert_eq!(
        cmds,
        ["save", "send 1 Join { epoch: 0, have: 1, inc: 0, learner: false }", "set Join"]
    );
    let r = r.unwrap();
    // The last chunk: the primary saves that it has a backup before the chunk leaves.
    let (n, cmds) =
        deliver(&s, &p, PRIMARY, Msg::Join { epoch: 0, have: 1, inc: 0, learner: false });
    assert_eq!(cmds[0], "save");
    assert!(cmds[1].contains("from: 1,") && cmds[1].ends_with("last: true }"), "{cmds:?}");
    let p2 = n.unwrap();
    // From then on an update is checkpointed and waits for the new backup's ack.
    let (_, cmds) = deliver(&s, &p2, CLIENT, add(2));
    assert_eq!(
        cmds,
        ["save", "send 0 Checkpoint { epoch: 1, ssn: 2, client: Id(2), session: 1, seq: 2, op: Add(0, 1) }"]
    );
    // A chunk of an epoch the spare has not seen end, starting elsewhere, is ignored.
    ignored(&s, &r, BACKUP, chunk(0, 0, true), "a stale chunk");
    let (r, cmds) = deliver(&s, &r, BACKUP, chunk(1, 2, true));
    assert_eq!(cmds, ["save", "cancel Join", "set Takeover"]);
    let r = r.unwrap();
    assert_eq!((r.d.role, r.d.epoch, r.d.history.len()), (Role::Backup, 1, 2));
    assert_eq!(r.service, p.service, "the catch-up applied what the primary committed");
    // A backup serves nobody either: the client goes to the primary of its epoch.
    assert_eq!(answer(&s, &r, CLIENT, add(3)), ["send 2 NotPrimary { epoch: 1 }"]);
    // And the new primary, failing now, restarts as a spare: its backup takes over.
    let (q, _) = run::<N, _>(|o| s.on_start(Id::from(BACKUP), &Some(p2.d.clone()), o));
    assert_eq!(q.d.role, Role::Spare);
}

/// A client whose server 0 is down for good, and that missed server 1's announcement (it was
/// lost, or sent before the client opened), finds the new primary: its resend timer resends
/// to server 0 and probes server 1, which answers `NewPrimary` as a primary; a backup's
/// answer is nothing. Without `probe` the client only resends.
#[test]
fn a_client_probes_the_other_server_and_follows_a_newer_primary() {
    use twosafe_models::logical_checkpointing::client::Client;
    let cfg = |probe: &str| {
        let p = common::params(
            "logical-checkpointing",
            &[("service", "counter"), ("probe", probe), ("requests", "1"), ("window", "1")],
        );
        Config::from_params(&p).unwrap()
    };
    let client = Client::<Counter>::new(cfg("true"), 0);
    let (c, _) = run::<N, _>(|o| client.on_start(Id::from(CLIENT), &None, o));
    let (fired, cmds) = run::<N, _>(|o| client.on_timeout(&c, &Timer::Resend, o));
    assert_eq!(
        lines(&cmds),
        ["send 0 Request { session: 1, seq: 0, op: Add(0, 1) }", "send 1 Probe"],
        "resends to its primary and probes the other (its last resend: no timer)"
    );
    let c = fired.unwrap();
    // Server 1, primary of epoch 1 after a takeover, answers the probe.
    let p = Server::<Counter>::new(cfg("true"));
    let mut primary = start(&p, BACKUP);
    primary.d.role = Role::Primary;
    primary.d.epoch = 1;
    assert_eq!(answer(&p, &primary, CLIENT, Msg::Probe), ["send 2 NewPrimary { epoch: 1 }"]);
    ignored(&p, &start(&p, BACKUP), CLIENT, Msg::Probe, "a backup is not the primary");
    let (followed, cmds) =
        run::<N, _>(|o| client.on_msg(&c, Id::from(BACKUP), Msg::NewPrimary { epoch: 1 }, o));
    assert_eq!(lines(&cmds), ["send 1 Request { session: 1, seq: 0, op: Add(0, 1) }"]);
    assert_eq!(followed.unwrap().primary, Id::from(BACKUP));
    // Without the probe the timer only resends.
    let plain = Client::<Counter>::new(cfg("false"), 0);
    let (c, _) = run::<N, _>(|o| plain.on_start(Id::from(CLIENT), &None, o));
    let (_, cmds) = run::<N, _>(|o| plain.on_timeout(&c, &Timer::Resend, o));
    assert!(!lines(&cmds).iter().any(|l| l.contains("Probe")), "{:?}", lines(&cmds));
}

/// Storage loss: a learner (a spare of epoch 0, of a new incarnation) asks to join; the
/// primary catches it up in a new epoch, saved before the chunk leaves, with its pending
/// entries un-acked and checkpointed again, so an ack of the lost incarnation commits nothing.
/// The learner takes a chunk of its own incarnation, even of its own epoch, and no other.
#[test]
fn a_learner_is_caught_up_in_a_new_epoch_and_takes_only_its_own_chunks() {
    use twosafe_models::logical_checkpointing::server::Durable;
    let s = rejoining_server();
    let p = primary_with_two_pending(&s);
    // The backup acked SSN 0, then lost its storage; the ack is on its way.
    let learner = Durable::learner(7);
    let (l, cmds) = run::<N, _>(|o| s.on_start(Id::from(BACKUP), &Some(learner.clone()), o));
    assert_eq!(
        lines(&cmds),
        ["save", "send 0 Join { epoch: 0, have: 0, inc: 7, learner: true }", "set Join"]
    );
    let (n, cmds) = deliver(&s, &p, BACKUP, Msg::Join { epoch: 0, have: 0, inc: 7, learner: true });
    assert_eq!(cmds[0], "save", "the new epoch is durable before the chunk leaves");
    assert_eq!(cmds[1], "send 1 CatchUp { epoch: 1, inc: 7, from: 0, entries: [], last: true }");
    assert!(cmds[2].starts_with("send 1 Checkpoint { epoch: 1, ssn: 0"), "{cmds:?}");
    assert!(cmds[3].starts_with("send 1 Checkpoint { epoch: 1, ssn: 1"), "{cmds:?}");
    let n = n.unwrap();
    assert_eq!((n.d.epoch, n.d.backup_inc, n.d.with_backup), (1, 7, true));
    // The lost incarnation's ack is of epoch 0: it commits nothing.
    ignored(&s, &n, BACKUP, Msg::Ack { epoch: 0, ssn: 0 }, "an ack of the lost incarnation");
    // A resent Join of the same learner is answered in the same epoch.
    let (_, cmds) = deliver(&s, &n, BACKUP, Msg::Join { epoch: 0, have: 0, inc: 7, learner: true });
    assert!(cmds[0].starts_with("send 1 CatchUp { epoch: 1, inc: 7"), "{cmds:?}");
    // At the learner: a chunk for another incarnation is not for it; its own is, of epoch 0 too.
    let chunk =
        |epoch: u64, inc: u64| Msg::CatchUp { epoch, inc, from: 0, entries: vec![], last: true };
    ignored(&s, &l, PRIMARY, chunk(1, 0), "a chunk sent to the lost incarnation");
    let (b, cmds) = deliver(&s, &l, PRIMARY, chunk(0, 7));
    assert_eq!(cmds, ["save", "cancel Join", "set Takeover"]);
    let b = b.unwrap();
    assert_eq!((b.d.role, b.d.epoch, b.d.learner), (Role::Backup, 0, false));
}
