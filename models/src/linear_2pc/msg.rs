//! Messages of linear 2PC (Hagen & Alonso (OPERA) §3.1, Fig. 1), as request/response pairs.
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

use crate::commit_log::CommitLog;
pub use crate::commit_log::Entry;
use serde::{Deserialize, Serialize};

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

/// Timers: data, not durations; the model checker fires any timer that is set at any moment.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Timer {
    /// The client resends its outstanding request.
    Resend,
    /// The backup suspects the primary and takes over.
    Takeover,
    /// The primary sends an I-am-alive message to the backup.
    Heartbeat,
}

crate::client_message! {
    impl[Op: Clone, Reply: Clone] for Msg<Op, Reply>;
    Msg::Request { seq, op } => (0, *seq, op);
    Msg::Reply { seq, reply } => (0, *seq, reply);
}
