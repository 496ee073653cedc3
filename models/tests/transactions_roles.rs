//! Unit tests of the transactions roles (the logical-checkpointing patent, Fig. 5A-5C): a
//! state and an event in, the exact commands out, one test per guard of the server role, in
//! both checkpointing modes.

#[macro_use]
mod common;

use common::{lines, run, BACKUP, CLIENT, PRIMARY};
use stateright::actor::Id;
use twosafe_models::services::{Counter, CounterOp, CounterReply};
use twosafe_models::transactions::msg::{Item, Msg, Timer};
use twosafe_models::transactions::server::{Role, Server, ServerState};
use twosafe_models::transactions::{Config, Node};

type M = Msg<CounterOp, CounterReply>;
type St = ServerState<Counter>;
type N = Node<Counter>;

/// The server of mode `mode` with transactions of two updates.
fn server(mode: &str) -> Server<Counter> {
    let p = common::params("transactions", &[("mode", mode), ("ops", "2")]);
    Server::new(Config::from_params(&p).unwrap())
}

role_steps!(Server<Counter>, St, N, M, Timer);

fn op(i: u8) -> M {
    Msg::Op { i, op: CounterOp::Add(0, 1) }
}

fn entry(i: u8) -> Item<CounterOp> {
    Item::Entry { client: Id::from(CLIENT), i, op: CounterOp::Add(0, 1) }
}

#[test]
fn batch_mode_executes_at_once_and_checkpoints_only_at_commit() {
    // Fig. 5B.
    let s = server("batch");
    let p = start(&s, PRIMARY);
    let (p, cmds) = deliver(&s, &p, CLIENT, op(0));
    assert_eq!(cmds, ["send 2 Executed { i: 0 }"], "no save, no checkpoint");
    let (p, _) = deliver(&s, &p.unwrap(), CLIENT, op(1));
    let (p, cmds) = deliver(&s, &p.unwrap(), CLIENT, Msg::Commit);
    assert_eq!(
        cmds,
        [
            "save",
            "send 1 Checkpoint { epoch: 0, ssn: 0, item: Batch { client: Id(2), ops: [Add(0, 1), Add(0, 1)] } }"
        ]
    );
    // Answered on the backup's ack, after the commit is saved.
    let (p, cmds) = deliver(&s, &p.unwrap(), BACKUP, Msg::Ack { epoch: 0, ssn: 0 });
    assert_eq!(cmds, ["save", "send 2 Committed { replies: [CounterReply(1), CounterReply(2)] }"]);
    // A resent commit of a committed transaction gets the same response, nothing executes.
    assert_eq!(
        answer(&s, &p.unwrap(), CLIENT, Msg::Commit),
        ["send 2 Committed { replies: [CounterReply(1), CounterReply(2)] }"]
    );
}

#[test]
fn entry_mode_checkpoints_each_request_and_answers_it_after_the_ack() {
    // Fig. 5C.
    let s = server("entry");
    let p = start(&s, PRIMARY);
    let (p, cmds) = deliver(&s, &p, CLIENT, op(0));
    assert_eq!(
        cmds,
        [
            "save",
            "send 1 Checkpoint { epoch: 0, ssn: 0, item: Entry { client: Id(2), i: 0, op: Add(0, 1) } }"
        ]
    );
    let (p, cmds) = deliver(&s, &p.unwrap(), BACKUP, Msg::Ack { epoch: 0, ssn: 0 });
    assert_eq!(cmds, ["save", "send 2 Executed { i: 0 }"]);
    let p = p.unwrap();
    // A resend of the answered request is answered again, not checkpointed again.
    assert_eq!(answer(&s, &p, CLIENT, op(0)), ["send 2 Executed { i: 0 }"]);
}

#[test]
fn a_request_out_of_order_and_an_early_commit_wait_in_the_network() {
    let s = server("entry");
    let p = start(&s, PRIMARY);
    ignored(&s, &p, CLIENT, op(1), "request 1 before request 0");
    ignored(&s, &p, CLIENT, Msg::Commit, "a commit before every request is here");
}

#[test]
fn a_resend_of_an_unacked_entry_re_sends_its_checkpoint() {
    let s = server("entry");
    let p = start(&s, PRIMARY);
    let (p, _) = deliver(&s, &p, CLIENT, op(0));
    assert_eq!(answer(&s, &p.unwrap(), CLIENT, op(0)), ["send 1 Checkpoint { epoch: 0, ssn: 0, item: Entry { client: Id(2), i: 0, op: Add(0, 1) } }"], "no new SSN");
}

#[test]
fn primary_ignores_duplicate_acks_and_acks_of_another_epoch() {
    let s = server("entry");
    let p = start(&s, PRIMARY);
    let (p, _) = deliver(&s, &p, CLIENT, op(0));
    let p = p.unwrap();
    ignored(&s, &p, BACKUP, Msg::Ack { epoch: 1, ssn: 0 }, "another epoch");
    ignored(&s, &p, BACKUP, Msg::Ack { epoch: 0, ssn: 5 }, "an SSN it never gave");
    let (p, _) = deliver(&s, &p, BACKUP, Msg::Ack { epoch: 0, ssn: 0 });
    ignored(&s, &p.unwrap(), BACKUP, Msg::Ack { epoch: 0, ssn: 0 }, "a duplicate");
}

#[test]
fn backup_saves_before_it_acks_and_re_acks_a_re_sent_checkpoint() {
    let s = server("entry");
    let b = start(&s, BACKUP);
    let cp = |ssn, epoch| Msg::Checkpoint { epoch, ssn, item: entry(0) };
    ignored(&s, &b, PRIMARY, cp(0, 1), "a checkpoint of another epoch");
    let (b, cmds) = deliver(&s, &b, PRIMARY, cp(0, 0));
    assert_eq!(cmds, ["save", "send 0 Ack { epoch: 0, ssn: 0 }"]);
    assert_eq!(
        answer(&s, &b.unwrap(), PRIMARY, cp(0, 0)),
        ["send 0 Ack { epoch: 0, ssn: 0 }"],
        "logged once"
    );
}

#[test]
fn backup_commits_transactions_in_ssn_order() {
    // A newer transaction's batch logged before an older one waits for it.
    let s = server("batch");
    let b = start(&s, BACKUP);
    let batch = |c: usize| Item::Batch { client: Id::from(c), ops: vec![CounterOp::Add(0, 1)] };
    let (b, _) = deliver(&s, &b, PRIMARY, Msg::Checkpoint { epoch: 0, ssn: 1, item: batch(3) });
    let b = b.unwrap();
    assert!(b.d.history.is_empty(), "SSN 1 waits for SSN 0");
    let (b, _) = deliver(&s, &b, PRIMARY, Msg::Checkpoint { epoch: 0, ssn: 0, item: batch(2) });
    let order: Vec<(u64, usize)> =
        b.unwrap().d.history.iter().map(|t| (t.ssn, usize::from(t.client))).collect();
    assert_eq!(order, [(0, 2), (1, 3)]);
}

#[test]
fn takeover_aborts_open_transactions_and_announces_itself() {
    // Fig. 5C: a failure before the commit record aborts the transaction.
    let s = server("entry");
    let b = start(&s, BACKUP);
    let (b, _) = deliver(&s, &b, PRIMARY, Msg::Checkpoint { epoch: 0, ssn: 0, item: entry(0) });
    let b = b.unwrap();
    assert!(!b.d.open.is_empty(), "the entry is in the transaction's state");
    let (n, cmds) = run::<N, _>(|o| s.on_timeout(&b, &Timer::Takeover, o));
    assert_eq!(lines(&cmds), ["save", "send 2 NewPrimary { epoch: 1 }"]);
    let n = n.unwrap();
    assert_eq!((n.d.role, n.d.epoch), (Role::Primary, 1));
    assert!(n.d.open.is_empty() && n.d.history.is_empty(), "aborted, not committed");
    // The resend timer is not the takeover; a primary does not take over again.
    let (again, cmds) = run::<N, _>(|o| s.on_timeout(&n, &Timer::Takeover, o));
    assert!(again.is_none() && cmds.is_empty());
    let (again, cmds) = run::<N, _>(|o| s.on_timeout(&b, &Timer::Resend, o));
    assert!(again.is_none() && cmds.is_empty());
}

#[test]
fn a_restarted_first_primary_goes_to_the_spare_pool() {
    let s = server("entry");
    let p = start(&s, PRIMARY);
    let (p, _) = deliver(&s, &p, CLIENT, op(0));
    let (r, cmds) = run::<N, _>(|o| s.on_start(Id::from(PRIMARY), &Some(p.unwrap().d), o));
    assert_eq!(lines(&cmds), ["save"]);
    assert_eq!(r.d.role, Role::Spare);
    ignored(&s, &r, CLIENT, op(0), "a spare serves nobody");
}
