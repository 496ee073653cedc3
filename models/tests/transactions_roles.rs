//! Unit tests of the two hooks logical checkpointing's primary has for transactions (the
//! logical-checkpointing patent, Fig. 5B/5C): a state and an event in, the exact commands out.
//! A batch transaction's requests go into the primary's workspace with no save and no
//! checkpoint; its end indicator is checkpointed as the whole transaction, and so is a resend
//! of it; entry by entry, every request is saved and checkpointed on its own.

#[macro_use]
mod common;

use common::{BACKUP, CLIENT, PRIMARY};
use twosafe_models::logical_checkpointing::msg::{Msg, Timer};
use twosafe_models::logical_checkpointing::server::{Server, ServerState};
use twosafe_models::logical_checkpointing::{Config, Node};
use twosafe_models::services::transactional::{Transactional, TxnOp, TxnReply, NONE};
use twosafe_models::services::{Counter, CounterReply, Service};

type T = Transactional<Counter, 2, true, NONE>;
type M = Msg<TxnOp<<Counter as Service>::Op>, TxnReply<CounterReply>>;
type St = ServerState<T>;
type N = Node<T>;

/// Logical checkpointing's configuration (the roles do not depend on the service's).
fn config() -> Config {
    Config::from_params(&common::params("logical-checkpointing", &[("service", "counter")]))
        .unwrap()
}

fn server() -> Server<T> {
    Server::new(config())
}

role_steps!(Server<T>, St, N, M, Timer);

/// Request `k` of client 0's batch workload (requests 0 and 1, then the end indicator).
fn request(k: usize) -> M {
    Msg::Request { session: 1, seq: k as u32, op: T::workload(0, k) }
}

#[test]
fn a_batch_request_is_answered_from_the_workspace_without_a_save_or_a_checkpoint() {
    let s = server();
    let p = start(&s, PRIMARY);
    let (p, cmds) = deliver(&s, &p, CLIENT, request(0));
    assert_eq!(cmds, ["send 2 Reply { session: 1, seq: 0, reply: Executed { i: 0 } }"]);
    let p = p.unwrap();
    assert_eq!(p.service.open[&0].ops.len(), 1, "in the workspace");
    assert_eq!((p.d.next_ssn, p.d.log.len()), (0, 0), "no SSN, no table entry");
}

#[test]
fn the_end_indicator_is_checkpointed_as_the_whole_transaction_and_so_is_its_resend() {
    let s = server();
    let p = start(&s, PRIMARY);
    let (p, _) = deliver(&s, &p, CLIENT, request(0));
    let (p, _) = deliver(&s, &p.unwrap(), CLIENT, request(1));
    let (p, cmds) = deliver(&s, &p.unwrap(), CLIENT, request(2));
    let batch = "send 1 Checkpoint { epoch: 0, ssn: 0, client: Id(2), session: 1, seq: 2, op: \
                 Batch { client: 0, txn: 0, ops: [Add(0, 1), Add(1, 1)] } }";
    assert_eq!(cmds, ["save", batch]);
    // The checkpoint is lost; the client resends its end indicator: the logged batch goes again.
    let cmds = answer(&s, &p.unwrap(), CLIENT, request(2));
    assert_eq!(cmds, [batch]);
}

#[test]
fn an_end_indicator_without_its_requests_is_checkpointed_alone_and_aborts_on_the_ack() {
    let s = server();
    let p = start(&s, PRIMARY);
    let (p, _) = deliver(&s, &p, CLIENT, request(0));
    let (p, cmds) = deliver(&s, &p.unwrap(), CLIENT, request(2));
    assert_eq!(
        cmds,
        [
            "save",
            "send 1 Checkpoint { epoch: 0, ssn: 0, client: Id(2), session: 1, seq: 2, op: \
             Commit { client: 0, txn: 0, n: 2, batch: true } }"
        ]
    );
    // Request 1 comes now and completes the workspace; the end indicator still aborts.
    let (p, _) = deliver(&s, &p.unwrap(), CLIENT, request(1));
    let (_, cmds) = deliver(&s, &p.unwrap(), BACKUP, Msg::Ack { epoch: 0, ssn: 0 });
    assert_eq!(cmds, ["save", "send 2 Reply { session: 1, seq: 2, reply: Aborted }"]);
}

#[test]
fn entry_by_entry_each_request_is_saved_and_checkpointed_on_its_own() {
    type E = Transactional<Counter, 2, false, NONE>;
    let s = Server::<E>::new(config());
    let p = common::run::<Node<E>, _>(|o| s.on_start(PRIMARY.into(), &None, o)).0;
    let m = Msg::Request { session: 1, seq: 0, op: E::workload(0, 0) };
    let (_, cmds) = common::run::<Node<E>, _>(|o| s.on_msg(&p, CLIENT.into(), m, o));
    assert_eq!(
        common::lines(&cmds),
        [
            "save",
            "send 1 Checkpoint { epoch: 0, ssn: 0, client: Id(2), session: 1, seq: 0, op: \
             Request { client: 0, txn: 0, i: 0, op: Add(0, 1), batch: false } }"
        ]
    );
}
