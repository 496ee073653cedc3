//! Messages and timers of the transactions model (the patent's Fig. 5A-5C).

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

/// Timers.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Timer {
    /// A client resends its current request.
    Resend,
    /// The backup takes over.
    Takeover,
}
