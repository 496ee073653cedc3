//! Messages of linear 2PC (seed 000 §3.1, Fig. 1), as request/response pairs.
//!
//! | request (from → to)                      | response                               |
//! |------------------------------------------|----------------------------------------|
//! | `Request` client → primary               | `Reply` primary → client               |
//! | `ChangeBuffer` primary → backup          | `Ack` (or `TakenOver`) backup → primary |
//! | `Confirm` primary → backup (reads)       | `Confirmed` (or `TakenOver`)           |
//! | `Inquire` restarted primary → backup     | `ProcessState` or `TakenOver`          |
//! | `IAmAlive` primary → backup (heartbeat)  | `AliveAck` backup → primary            |
//! | `Rejoin` retired server → primary        | `CatchUp` (its history)                |
//! | `CaughtUp` rejoining server → primary    | `Welcome` (upgraded; backup again)     |
//! | `NewPrimary` new primary → clients       | (none: clients resend to it)           |
//! | `NotPrimary` backup/retired → client     | (the client turns to the other server) |
//!
//! Every server-to-server message carries the sender's *epoch*; a backup that has taken over
//! answers anything from an older epoch with `TakenOver`, which fences the deposed primary.

use super::commit_log::CommitLog;
use serde::{Deserialize, Serialize};
use stateright::actor::Id;

/// One committed navigation step: the change buffer of OPERA, in the service's vocabulary.
///
/// It names the request that caused it (client id and the client's request sequence number),
/// the update to apply and the reply the primary computed, so that a backup that takes over can
/// answer a resend of that request with the very same reply.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Entry<Op, Reply> {
    /// The client that sent the request.
    pub client: Id,
    /// The client's sequence number of the request.
    pub seq: u32,
    /// The state change (an update of the service).
    pub op: Op,
    /// The reply computed by the primary when it executed the step.
    pub reply: Reply,
}

impl<Op, Reply> Entry<Op, Reply> {
    /// Whether this step was caused by request `seq` of `client`.
    pub fn is_request(&self, client: Id, seq: u32) -> bool {
        self.client == client && self.seq == seq
    }
}

/// A message of the linear 2PC protocol.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Msg<Op: Clone, Reply: Clone> {
    /// A client's request number `seq`; resends carry the same `seq`.
    Request {
        /// The client's request sequence number.
        seq: u32,
        /// The operation.
        op: Op,
    },
    /// The answer to request `seq`.
    Reply {
        /// The sequence number of the request answered.
        seq: u32,
        /// The service's reply.
        reply: Reply,
    },
    /// Phase one of the degenerate linear 2PC: the primary ships a step's change buffer.
    ChangeBuffer {
        /// The primary's epoch.
        epoch: u8,
        /// The position of the step in the process's committed history.
        index: u32,
        /// The change buffer.
        entry: Entry<Op, Reply>,
    },
    /// The backup committed (hot standby) or durably stored (cold standby) step `index`.
    Ack {
        /// The backup's epoch.
        epoch: u8,
        /// The step acknowledged.
        index: u32,
    },
    /// A read is about to be answered: is the sender still the primary, at this history length?
    Confirm {
        /// The primary's epoch.
        epoch: u8,
        /// The primary's committed history length.
        index: u32,
    },
    /// Yes: the backup has not taken over and holds a history of that length.
    Confirmed {
        /// The backup's epoch.
        epoch: u8,
        /// The history length confirmed.
        index: u32,
    },
    /// Reconfiguration protocol: a restarted primary asks for the process's actual state.
    Inquire {
        /// The epoch the restarted primary remembers.
        epoch: u8,
    },
    /// Reconfiguration protocol: the backup has not taken over; here is its committed history.
    ProcessState {
        /// The backup's epoch.
        epoch: u8,
        /// The backup's committed history (change buffers applied or stored).
        log: CommitLog<Op, Reply>,
    },
    /// The sender has taken over as primary in `epoch`: the receiver is deposed.
    TakenOver {
        /// The new primary's epoch.
        epoch: u8,
    },
    /// I am alive: the primary of `epoch` to its backup, every heartbeat period.
    IAmAlive {
        /// The primary's epoch.
        epoch: u8,
    },
    /// The backup's answer to `IAmAlive`.
    AliveAck {
        /// The backup's epoch.
        epoch: u8,
    },
    /// Takeback: a retired server asks the primary of `epoch` to bring it up to date.
    Rejoin {
        /// The epoch in which the sender was deposed.
        epoch: u8,
        /// The length of the history the sender holds.
        len: u32,
    },
    /// Takeback: the primary's committed history.
    CatchUp {
        /// The primary's epoch.
        epoch: u8,
        /// The history.
        log: CommitLog<Op, Reply>,
    },
    /// Takeback: the rejoining server holds (durably) a history of this length.
    CaughtUp {
        /// Its epoch.
        epoch: u8,
        /// The history's length.
        len: u32,
    },
    /// Takeback: the primary has upgraded; the receiver is its backup again.
    Welcome {
        /// The primary's epoch.
        epoch: u8,
    },
    /// To a client: the sender is not the primary of `epoch`; the other server is (for a
    /// client that missed the announcement).
    NotPrimary {
        /// The sender's epoch.
        epoch: u8,
    },
    /// The sender is now the primary of `epoch` (client redirection).
    NewPrimary {
        /// The new primary's epoch.
        epoch: u8,
    },
}
