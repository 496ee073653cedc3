//! Model-level tests of transactions under logical checkpointing (the logical-checkpointing
//! patent, Fig. 5A-5C): what each way of checkpointing does on a failure, as paths the checker
//! must find or must never find.
//!
//! - batch (5B): a failure of the primary loses its workspace, and the transaction aborts
//!   (reachable); no request is ever checkpointed on its own, only whole transactions;
//! - entry by entry (5C): a takeover in the middle of a transaction does not abort it (never an
//!   `Aborted` reply), and the new primary commits it (reachable).

mod common;

use stateright::{Checker, Expectation, Model};
use twosafe_models::history::saved;
use twosafe_models::logical_checkpointing::model::State;
use twosafe_models::logical_checkpointing::server::Role;
use twosafe_models::logical_checkpointing::transactions::Config;
use twosafe_models::logical_checkpointing::transactions::{self as m, Model as TxnModel};
use twosafe_models::logical_checkpointing::NodeState;
use twosafe_models::services::transactional::{Transactional, TxnOp, TxnReply, NONE};
use twosafe_models::services::Counter;

type Batch = Transactional<Counter, 2, true, NONE>;
type Entry = Transactional<Counter, 2, false, NONE>;

fn config(mode: &str) -> Config {
    Config::from_params(&common::params("transactions", &[("mode", mode), ("crash", "primary")]))
        .unwrap()
}

/// Every reply some client has received.
fn replies<const B: bool>(
    state: &State<Transactional<Counter, 2, B, NONE>>,
) -> Vec<TxnReply<twosafe_models::services::CounterReply>> {
    state
        .actor_states
        .iter()
        .filter_map(|a| match &**a {
            NodeState::Client(c) => Some(c.replies.values().cloned().collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn new_primary<const B: bool>(state: &State<Transactional<Counter, 2, B, NONE>>) -> bool {
    saved(state, 1).is_some_and(|d| d.role == Role::Primary && d.epoch == 1)
}

#[test]
fn in_batch_mode_a_failure_of_the_primary_aborts_the_transaction() {
    let model: TxnModel<Counter, 2, true, NONE> = m::build(config("batch"))
        .property(Expectation::Sometimes, "aborted after a takeover", |_, s: &State<Batch>| {
            new_primary(s) && replies(s).contains(&TxnReply::Aborted)
        })
        .property(Expectation::Always, "only whole transactions are checkpointed", |_, s| {
            (0..2).filter_map(|i| saved(s, i)).all(|d| {
                d.history.iter().all(|e| !matches!(e.op, TxnOp::Request { .. }))
                    && d.log.values().all(|l| !matches!(l.op, TxnOp::Request { .. }))
            })
        });
    let checker = model.checker().spawn_bfs().join();
    checker.assert_properties();
    assert!(checker.discovery("aborted after a takeover").is_some());
}

#[test]
fn entry_by_entry_a_takeover_does_not_abort_the_transaction() {
    let model: TxnModel<Counter, 2, false, NONE> = m::build(config("entry"))
        .property(Expectation::Always, "never aborted", |_, s: &State<Entry>| {
            !replies(s).contains(&TxnReply::Aborted)
        })
        .property(Expectation::Sometimes, "committed by the new primary", |_, s| {
            // The old primary's durable history has the transaction's first request and not
            // its commit; the new primary's has the commit.
            let started = |i: usize, commit: bool| {
                saved(s, i).is_some_and(|d| {
                    d.history.iter().any(|e| matches!(e.op, TxnOp::Request { i: 0, .. }))
                        && commit
                            == d.history
                                .iter()
                                .any(|e| matches!(e.reply, TxnReply::Committed { .. }))
                })
            };
            new_primary(s) && started(0, false) && started(1, true)
        });
    let checker = model.checker().spawn_bfs().join();
    checker.assert_properties();
    assert!(checker.discovery("committed by the new primary").is_some());
}
