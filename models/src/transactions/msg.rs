//! Messages and timers of the transactions model (the patent's Fig. 5A-5C).

use serde::{Deserialize, Serialize};

/// An epoch: bumped by every takeover. A u64, as in the other protocols, so that a live
/// cluster never runs out of them.
pub type Epoch = u64;

/// A service sequence number: the position of a checkpointed item in the primary's log. A
/// u64: a live primary assigns one per checkpoint for as long as it runs.
pub type Ssn = u64;

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
        epoch: Epoch,
        /// The SSN.
        ssn: Ssn,
        /// What is checkpointed.
        item: Item<Op>,
    },
    /// The backup has logged `ssn`.
    Ack {
        /// The backup's epoch.
        epoch: Epoch,
        /// The SSN.
        ssn: Ssn,
    },
    /// The sender is the primary now.
    NewPrimary {
        /// Its epoch.
        epoch: Epoch,
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
