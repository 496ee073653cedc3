//! Transactions under logical checkpointing (seed 002, Fig. 5A-5C).
//!
//! A transaction is a start indicator, requests, and an end indicator (Fig. 5A); here each
//! client runs one transaction of `ops` updates followed by its commit request. Two ways to
//! checkpoint it, the same at primary and backup:
//!
//! - **batch** (Fig. 5B): the primary executes the requests as they come, without table entries
//!   or checkpoints; at commit it checkpoints the whole transaction in one message under one SSN,
//!   the backup logs it and sends a single ack, and both commit it atomically;
//! - **entry by entry** (Fig. 5C): each request is checkpointed and acked on its own, with a
//!   transaction indicator, and goes into the transaction's internal state; the commit request is
//!   checkpointed too, and on its ack both commit the entire transaction.
//!
//! Both sides commit in SSN order, so an older transaction (an earlier commit record) always
//! commits before a newer conflicting one at the backup, as at the primary. A failure before
//! the commit is checkpointed aborts the transaction: the new primary discards the logged entries
//! of transactions without a commit record, and the client restarts the transaction.

pub mod model;
pub mod server;

pub use model::{build, visit, Config, Variant, NAME};

use serde::{Deserialize, Serialize};

/// A message of the transactions model.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Msg<Op, Reply> {
    /// Request `i` of the client's transaction.
    Op {
        /// Its position in the transaction.
        i: u8,
        /// The update.
        op: Op,
    },
    /// The transaction's end indicator: commit it.
    Commit,
    /// Request `i` is part of the transaction's internal state.
    Executed {
        /// The request.
        i: u8,
    },
    /// The transaction committed; the single response for it (one reply per request).
    Committed {
        /// The replies, in request order.
        replies: Vec<Reply>,
    },
    /// A checkpoint: one transaction entry (5C), a commit record (5C), or a whole batch (5B).
    Checkpoint {
        /// The primary's epoch.
        epoch: u8,
        /// The SSN.
        ssn: u8,
        /// What is checkpointed.
        item: Item<Op>,
    },
    /// The backup has logged `ssn`.
    Ack {
        /// The backup's epoch.
        epoch: u8,
        /// The SSN.
        ssn: u8,
    },
    /// The sender is the primary now.
    NewPrimary {
        /// Its epoch.
        epoch: u8,
    },
}

/// What one SSN carries.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Item<Op> {
    /// Request `i` of `client`'s transaction (entry by entry).
    Entry {
        /// The client.
        client: stateright::actor::Id,
        /// The request's position.
        i: u8,
        /// The update.
        op: Op,
    },
    /// `client`'s commit request (entry by entry).
    CommitRecord {
        /// The client.
        client: stateright::actor::Id,
    },
    /// `client`'s whole transaction (batch).
    Batch {
        /// The client.
        client: stateright::actor::Id,
        /// Its updates in order.
        ops: Vec<Op>,
    },
}
