//! The transactional service: any [`Service`] whose updates are grouped into transactions (the
//! logical-checkpointing patent, Fig. 5A-5C), so that logical checkpointing replicates
//! transactions with nothing of its own added but two hooks ([`Service::in_workspace`],
//! [`Service::to_checkpoint`]).
//!
//! A transaction of client `client` is requests `0..n` followed by its end indicator
//! ([`TxnOp::Commit`]), under a transaction number the client never uses again. Its requests go
//! into the transaction's *internal state* ([`Transactional::open`]); the end indicator commits
//! all of them to the service at once, or none if one is missing (the transaction aborts and
//! its client restarts it under a new number). Two ways to checkpoint, the const `BATCH`:
//!
//! - **entry by entry** (Fig. 5C): each request is a state-changing request of its own; the
//!   primary checkpoints it, the backup logs and acks it, and both put it into the internal
//!   state in SSN order, where a takeover finds it; the commit request is checkpointed too.
//! - **batch** (Fig. 5B): the primary executes each request at once into its volatile
//!   workspace, without a table entry or a checkpoint; at the end indicator it checkpoints the
//!   whole transaction in one [`TxnOp::Batch`] under one SSN, acked once. A failure of the
//!   primary loses the workspace, so the end indicator finds the transaction incomplete and
//!   aborts it.
//!
//! The workload is transactions of `OPS` requests of the inner service's workload, one after
//! another. `BUG` is the service's seeded bug, if any: [`PARTIAL`] or [`UNSEALED`].

use crate::services::Service;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `BUG` of the correct service.
pub const NONE: u8 = 0;
/// `BUG`: an end indicator commits the requests its transaction has, though some are missing.
pub const PARTIAL: u8 = 1;
/// `BUG`: the primary commits a batch's end indicator from its workspace although it
/// checkpointed the end indicator without the transaction (the workspace was incomplete then).
pub const UNSEALED: u8 = 2;

/// A request of a transaction, its end indicator, or (what a batch is checkpointed as) a
/// whole transaction.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum TxnOp<Op> {
    /// Request `i` of transaction `txn` of client `client`: into the internal state (entry by
    /// entry) or the primary's workspace (`batch`).
    Request {
        /// The client.
        client: u32,
        /// The transaction's number, larger than every earlier one of the client.
        txn: u64,
        /// The request's position in the transaction.
        i: u8,
        /// The update.
        op: Op,
        /// Whether the transaction is checkpointed as a batch (Fig. 5B).
        batch: bool,
    },
    /// The end indicator: commit transaction `txn`, which has `n` requests.
    Commit {
        /// The client.
        client: u32,
        /// The transaction.
        txn: u64,
        /// Its requests.
        n: u8,
        /// Whether it is checkpointed as a batch (Fig. 5B).
        batch: bool,
    },
    /// A whole transaction, as the primary checkpoints a batch at its end indicator.
    Batch {
        /// The client.
        client: u32,
        /// The transaction.
        txn: u64,
        /// Its updates, in order.
        ops: Vec<Op>,
    },
}

/// What a transactional request is answered.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum TxnReply<Reply> {
    /// Request `i` is in the transaction's internal state (or the primary's workspace).
    Executed {
        /// The request.
        i: u8,
    },
    /// The transaction committed: the single response for it, one reply per request.
    Committed {
        /// The inner service's replies, in request order.
        replies: Vec<Reply>,
    },
    /// The transaction is aborted (a request is missing): the client restarts it.
    Aborted,
}

/// A transaction that has requests and no commit yet.
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Open<Op> {
    /// Its number.
    pub txn: u64,
    /// Its requests so far, in order.
    pub ops: Vec<Op>,
}

/// Service `S` with transactions of `OPS` requests, checkpointed as a batch if `BATCH`, with
/// the seeded bug `BUG` ([`NONE`], [`PARTIAL`], [`UNSEALED`]).
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Transactional<S: Service, const OPS: u8, const BATCH: bool, const BUG: u8> {
    /// The service with every committed transaction applied.
    pub committed: S,
    /// Each client's open transaction: its internal state (entry by entry, replicated) or the
    /// workspace (batch, the primary's only).
    pub open: BTreeMap<u32, Open<S::Op>>,
}

impl<S: Service, const OPS: u8, const BATCH: bool, const BUG: u8> Default
    for Transactional<S, OPS, BATCH, BUG>
{
    fn default() -> Self {
        Transactional { committed: S::default(), open: BTreeMap::new() }
    }
}

impl<S: Service, const OPS: u8, const BATCH: bool, const BUG: u8>
    Transactional<S, OPS, BATCH, BUG>
{
    /// `client`'s open transaction if it is `txn`.
    fn open_txn(&self, client: u32, txn: u64) -> Option<&Open<S::Op>> {
        self.open.get(&client).filter(|t| t.txn == txn)
    }

    /// Commits `ops` to the service at once: the transaction's single response.
    fn commit(&mut self, ops: &[S::Op]) -> TxnReply<S::Reply> {
        TxnReply::Committed { replies: ops.iter().map(|op| self.committed.apply(op)).collect() }
    }
}

impl<S: Service, const OPS: u8, const BATCH: bool, const BUG: u8> Service
    for Transactional<S, OPS, BATCH, BUG>
{
    type Op = TxnOp<S::Op>;
    type Reply = TxnReply<S::Reply>;
    /// The inner service's keys; `None` for an end indicator, which names no object.
    type Key = Option<S::Key>;
    type Object = S::Object;
    const NAME: &'static str = S::NAME;

    fn apply(&mut self, op: &TxnOp<S::Op>) -> TxnReply<S::Reply> {
        match op {
            TxnOp::Request { client, txn, i, op, .. } => {
                let at = usize::from(*i);
                match self.open.get_mut(client) {
                    Some(t) if t.txn == *txn && at == t.ops.len() => {
                        t.ops.push(op.clone());
                        TxnReply::Executed { i: *i }
                    }
                    // A copy of a request it has: the same answer, no second execution.
                    Some(t) if t.txn == *txn && at < t.ops.len() => TxnReply::Executed { i: *i },
                    // A request before it is missing, or a late copy of an earlier transaction's.
                    Some(t) if t.txn >= *txn => TxnReply::Aborted,
                    // A new transaction starts (replacing one its client abandoned).
                    _ if at == 0 => {
                        self.open.insert(*client, Open { txn: *txn, ops: vec![op.clone()] });
                        TxnReply::Executed { i: 0 }
                    }
                    _ => TxnReply::Aborted,
                }
            }
            TxnOp::Commit { client, txn, n, batch } => {
                // A batch's end indicator commits nothing itself: the primary checkpoints the
                // whole transaction instead ([`Service::to_checkpoint`]), so one that reaches
                // the log found the workspace incomplete (or lost) and aborts — at the
                // primary too, even if the missing request has come since: the backup has no
                // workspace to commit from.
                let open = self.open_txn(*client, *txn);
                let complete = (!batch || BUG == UNSEALED)
                    && open.is_some_and(|t| t.ops.len() == usize::from(*n));
                let ops = open.map(|t| t.ops.clone()).unwrap_or_default();
                if open.is_some() {
                    self.open.remove(client);
                }
                if complete || BUG == PARTIAL {
                    self.commit(&ops)
                } else {
                    TxnReply::Aborted
                }
            }
            TxnOp::Batch { client, txn, ops } => {
                if self.open_txn(*client, *txn).is_some() {
                    self.open.remove(client); // the primary's workspace
                }
                self.commit(ops)
            }
        }
    }

    /// Entry-by-entry requests, end indicators and batches change the state; a batch
    /// transaction's requests change only the primary's volatile workspace, which is not
    /// replicated ([`Service::in_workspace`]).
    fn changes_state(op: &TxnOp<S::Op>) -> bool {
        !Self::in_workspace(op)
    }

    /// The committed state's (open transactions are not part of it).
    fn digest(&self) -> u64 {
        self.committed.digest()
    }

    fn key(op: &TxnOp<S::Op>) -> Option<S::Key> {
        match op {
            TxnOp::Request { op, .. } => Some(S::key(op)),
            TxnOp::Batch { ops, .. } => ops.first().map(S::key),
            TxnOp::Commit { .. } => None,
        }
    }

    fn object(&self, key: &Option<S::Key>) -> Option<S::Object> {
        key.as_ref().and_then(|k| self.committed.object(k))
    }

    fn set_object(&mut self, key: &Option<S::Key>, object: Option<S::Object>) {
        if let Some(k) = key {
            self.committed.set_object(k, object);
        }
    }

    fn key_space() -> Vec<Option<S::Key>> {
        S::key_space().into_iter().map(Some).collect()
    }

    /// Client `client`'s transactions one after another: transaction `t` is requests
    /// `t·OPS .. (t+1)·OPS` of the inner workload, then its end indicator.
    fn workload(client: usize, index: usize) -> TxnOp<S::Op> {
        let per = usize::from(OPS) + 1;
        let (t, i) = (index / per, index % per);
        let (c, txn) = (client as u32, t as u64);
        if i < usize::from(OPS) {
            let op = S::workload(client, t * usize::from(OPS) + i);
            TxnOp::Request { client: c, txn, i: i as u8, op, batch: BATCH }
        } else {
            TxnOp::Commit { client: c, txn, n: OPS, batch: BATCH }
        }
    }

    fn in_workspace(op: &TxnOp<S::Op>) -> bool {
        matches!(op, TxnOp::Request { batch: true, .. })
    }

    /// A batch transaction's end indicator becomes the whole transaction from the workspace,
    /// if every request is there; otherwise it stays the end indicator, which aborts it.
    fn to_checkpoint(&self, op: &TxnOp<S::Op>) -> TxnOp<S::Op> {
        if let TxnOp::Commit { client, txn, n, batch: true } = op {
            if let Some(t) = self.open_txn(*client, *txn) {
                if t.ops.len() == usize::from(*n) || BUG == PARTIAL {
                    return TxnOp::Batch { client: *client, txn: *txn, ops: t.ops.clone() };
                }
            }
        }
        op.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Counter;
    use proptest::prelude::*;

    type Entry = Transactional<Counter, 2, false, NONE>;
    type Batch = Transactional<Counter, 2, true, NONE>;

    #[test]
    fn the_workload_is_transactions_of_ops_requests_then_the_commit() {
        let ops: Vec<_> = (0..6).map(|k| Entry::workload(1, k)).collect();
        assert!(matches!(ops[0], TxnOp::Request { client: 1, txn: 0, i: 0, batch: false, .. }));
        assert!(matches!(ops[1], TxnOp::Request { txn: 0, i: 1, .. }));
        assert_eq!(ops[2], TxnOp::Commit { client: 1, txn: 0, n: 2, batch: false });
        assert!(matches!(ops[3], TxnOp::Request { txn: 1, i: 0, .. }));
        assert!(Batch::in_workspace(&Batch::workload(0, 0)));
        assert!(!Batch::changes_state(&Batch::workload(0, 0)));
        assert!(Batch::changes_state(&Batch::workload(0, 2)));
    }

    #[test]
    fn a_batch_is_checkpointed_whole_only_with_every_request_in_the_workspace() {
        let mut primary = Batch::default();
        let commit = Batch::workload(0, 2);
        assert_eq!(primary.to_checkpoint(&commit), commit, "nothing in the workspace");
        primary.apply(&Batch::workload(0, 0));
        assert_eq!(primary.to_checkpoint(&commit), commit, "one request of two");
        primary.apply(&Batch::workload(0, 1));
        let sealed = primary.to_checkpoint(&commit);
        assert!(matches!(&sealed, TxnOp::Batch { ops, .. } if ops.len() == 2), "{sealed:?}");
        // The backup, which never saw the requests, commits the same transaction.
        let mut backup = Batch::default();
        assert_eq!(primary.apply(&sealed), backup.apply(&sealed));
        assert_eq!(primary, backup);
        // A workspace lost with the primary: the end indicator aborts.
        assert_eq!(Batch::default().apply(&commit), TxnReply::Aborted);
        // An end indicator checkpointed before the workspace was complete aborts at the
        // primary as at the backup, even if the missing request has come since.
        let mut primary = Batch::default();
        primary.apply(&Batch::workload(0, 0));
        let unsealed = primary.to_checkpoint(&commit);
        primary.apply(&Batch::workload(0, 1));
        let (mut bugged, mut backup) =
            (Transactional::<Counter, 2, true, UNSEALED>::default(), Batch::default());
        bugged.apply(&Batch::workload(0, 0));
        bugged.apply(&Batch::workload(0, 1));
        assert_eq!(primary.apply(&unsealed), TxnReply::Aborted);
        assert_eq!(backup.apply(&unsealed), TxnReply::Aborted);
        // The bug: the primary commits it, the backup cannot.
        assert!(matches!(bugged.apply(&unsealed), TxnReply::Committed { .. }));
    }

    #[test]
    fn the_partial_commit_bug_commits_a_transaction_without_its_requests() {
        let mut s = Transactional::<Counter, 2, true, PARTIAL>::default();
        let commit = TxnOp::Commit { client: 0, txn: 0, n: 2, batch: true };
        assert_eq!(s.apply(&commit), TxnReply::Committed { replies: vec![] });
    }

    proptest! {
        /// Whatever order, loss and duplication its requests arrive in, a transaction commits
        /// all its requests or none, each once, and a committed one's replies are the inner
        /// service's for its requests in order.
        #[test]
        fn a_transaction_commits_all_or_nothing(
            arrivals in proptest::collection::vec(0usize..6, 0..16),
        ) {
            let mut s = Entry::default();
            let mut committed = 0;
            for k in arrivals {
                // Requests of transactions 0 and 1 of client 0 (3 each: 2 requests, commit).
                let op = Entry::workload(0, k);
                if let TxnReply::Committed { replies } = s.apply(&op) {
                    prop_assert_eq!(replies.len(), 2);
                    committed += 1;
                }
            }
            let total: u32 = (0u8..2).map(|k| s.committed.value(k)).sum();
            prop_assert_eq!(total, 2 * committed);
        }
    }

    #[test]
    fn a_late_copy_of_an_earlier_transactions_request_is_refused() {
        let mut s = Entry::default();
        s.apply(&Entry::workload(0, 3)); // transaction 1 starts
        assert_eq!(s.apply(&Entry::workload(0, 0)), TxnReply::Aborted);
        assert_eq!(s.open[&0].txn, 1);
    }
}
