//! Messages of linear 2PC (Hagen & Alonso (OPERA) §3.1, Fig. 1), as request/response pairs.
//!
//! | request (from → to)                      | response                               |
//! |------------------------------------------|----------------------------------------|
//! | `Request` client → primary               | `Reply` primary → client               |
//! | `ChangeBuffer` primary → backup          | `Ack` (or `TakenOver`) backup → primary |
//! | `Confirm` primary → backup (reads)       | `Confirmed` (or `TakenOver`)           |
//! | `Inquire` restarted primary → backup     | `ProcessState` (what it lacks) or `TakenOver` |
//! | `IAmAlive` primary → backup (heartbeat)  | `AliveAck` backup → primary            |
//! | `Rejoin` retired server → primary        | `CatchUp` (the next chunk of its history) |
//! | `CaughtUp` rejoining server → primary    | `Welcome` (upgraded; backup again)     |
//! | `Join` learner (storage lost) → peer     | `CatchUp` (from the primary only)      |
//! | `Inquire` restarted primary → learner    | `Empty` (it holds nothing to adopt)    |
//! | `NewPrimary` new primary → clients       | (none: clients resend to it)           |
//! | `NotPrimary` backup/retired → client     | (the client turns to the other server) |
//! | `Probe` client → the other server        | `NewPrimary` (from a primary only)     |
//! | `Request` of an expired session          | `Expired` primary → client             |
//!
//! Every server-to-server message carries the sender's *epoch*; a backup that has taken over
//! answers anything from an older epoch with `TakenOver`, which fences the deposed primary.

use super::Epoch;
pub use crate::commit_log::Entry;
use serde::{Deserialize, Serialize};

/// A message of the linear 2PC protocol.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Msg<Op: Clone, Reply: Clone> {
    /// A client's request number `seq` of its session `session`; resends carry the same
    /// `seq`.
    Request {
        /// The client's session: larger than any earlier session of the same client id.
        session: u64,
        /// The client's request sequence number in the session.
        seq: u32,
        /// The operation.
        op: Op,
    },
    /// The answer to request `seq`.
    Reply {
        /// The session of the request answered.
        session: u64,
        /// The sequence number of the request answered.
        seq: u32,
        /// The service's reply.
        reply: Reply,
    },
    /// Phase one of the degenerate linear 2PC: the primary ships a step's change buffer.
    ChangeBuffer {
        /// The primary's epoch.
        epoch: Epoch,
        /// The position of the step in the process's committed history.
        index: u32,
        /// The change buffer.
        entry: Entry<Op, Reply>,
    },
    /// The backup committed (hot standby) or durably stored (cold standby) step `index`.
    Ack {
        /// The backup's epoch.
        epoch: Epoch,
        /// The step acknowledged.
        index: u32,
    },
    /// A read is about to be answered: is the sender still the primary, at this history length?
    Confirm {
        /// The primary's epoch.
        epoch: Epoch,
        /// The primary's committed history length.
        index: u32,
    },
    /// Yes: the backup has not taken over and holds a history of that length.
    Confirmed {
        /// The backup's epoch.
        epoch: Epoch,
        /// The history length confirmed.
        index: u32,
    },
    /// Reconfiguration protocol: a restarted primary asks for the process's actual state.
    Inquire {
        /// The epoch the restarted primary remembers.
        epoch: Epoch,
        /// The length of the committed history it holds (a prefix of the backup's).
        len: u32,
    },
    /// Reconfiguration protocol: the backup has not taken over; here is its committed history
    /// from position `from` on (the inquirer's length, or the backup's if shorter): what the
    /// inquirer lacks, at most the step whose commit it crashed before — never the whole
    /// history in one message.
    ProcessState {
        /// The backup's epoch.
        epoch: Epoch,
        /// Where `entries` start in the backup's history.
        from: u32,
        /// The backup's committed history (change buffers applied or stored) from `from` on.
        entries: Vec<Entry<Op, Reply>>,
    },
    /// The sender has taken over as primary in `epoch`: the receiver is deposed.
    TakenOver {
        /// The new primary's epoch.
        epoch: Epoch,
    },
    /// I am alive: the primary of `epoch` to its backup, every heartbeat period.
    IAmAlive {
        /// The primary's epoch.
        epoch: Epoch,
    },
    /// The backup's answer to `IAmAlive`.
    AliveAck {
        /// The backup's epoch.
        epoch: Epoch,
    },
    /// Takeback: a retired server (or a learner, after its first chunk) asks the primary of
    /// `epoch` for the next chunk of its history, after the `len` entries it holds.
    Rejoin {
        /// The epoch in which the sender was deposed.
        epoch: Epoch,
        /// The length of the history the sender holds.
        len: u32,
        /// The sender's incarnation (echoed by the answers, so that none reaches a later one).
        inc: u64,
    },
    /// Takeback: a chunk of the primary's committed history (at most `catch_up_chunk`
    /// entries, so that no message carries the whole history); the receiver asks for the next
    /// with `Rejoin` until `last`.
    CatchUp {
        /// The primary's epoch.
        epoch: Epoch,
        /// The incarnation of the server it answers.
        inc: u64,
        /// Where `entries` start in the primary's history.
        from: u32,
        /// The chunk.
        entries: Vec<Entry<Op, Reply>>,
        /// Whether the chunk reaches the end of the primary's history.
        last: bool,
    },
    /// Takeback: the rejoining server holds (durably) a history of this length.
    CaughtUp {
        /// Its epoch.
        epoch: Epoch,
        /// Its incarnation.
        inc: u64,
        /// The history's length.
        len: u32,
    },
    /// Takeback: the primary has upgraded; the receiver is its backup again.
    Welcome {
        /// The primary's epoch.
        epoch: Epoch,
        /// The incarnation of the server welcomed.
        inc: u64,
    },
    /// A server that lost its storage (a learner) asks its peer for the process's history;
    /// only a primary answers (`CatchUp`), whatever its epoch, which the learner adopts.
    Join {
        /// The learner's incarnation: new at every loss of storage (the model counts them;
        /// the runtime draws one at random), so a `Join` of an earlier one is told apart.
        inc: u64,
    },
    /// A learner's answer to `Inquire`: it lost its storage and holds nothing, so the
    /// restarted primary's own history is the longest one that survives.
    Empty {
        /// The epoch of the `Inquire` answered.
        epoch: Epoch,
    },
    /// To a client: the sender is not the primary of `epoch`; the other server is (for a
    /// client that missed the announcement).
    NotPrimary {
        /// The sender's epoch.
        epoch: Epoch,
    },
    /// The sender is now the primary of `epoch` (client redirection).
    NewPrimary {
        /// The new primary's epoch.
        epoch: Epoch,
    },
    /// To a client: request `seq` of `session` is not executed and not answered, because a
    /// later session of the same client id has committed a step (the earlier one expired).
    Expired {
        /// The expired session.
        session: u64,
        /// The request's sequence number.
        seq: u32,
    },
    /// With `probe`: a client whose resend timer fired asks the server it does not send to
    /// whether that one is the primary (its own may be down for good, and the announcement
    /// lost or sent before the client opened); a primary answers `NewPrimary`.
    Probe,
}

pub use crate::history::history_seq;

/// Timers: data, not durations; the model checker fires any timer that is set at any moment.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Timer {
    /// The client resends its outstanding request.
    Resend,
    /// The backup suspects the primary and takes over.
    Takeover,
    /// The primary sends an I-am-alive message to the backup.
    Heartbeat,
    /// A learner resends `Join` (the path to its peer may have lost it).
    Join,
    /// The primary's wait for the backup's answer to a step (with `degrade`): on expiry it
    /// fences the backup out and continues alone. Degraded, it waits for the fenced backup to
    /// ask to rejoin, and on expiry sends the fence (`TakenOver`) again.
    Degrade,
    /// Model only, armed only when the model explores storage faults (`wipes`): the server
    /// crashes and comes back with its storage lost. The runtime never arms it; there, a
    /// node whose journal is lost or damaged is started as a learner (`twosafe node --rejoin`).
    StorageLost,
    /// A restarted primary resends `Inquire` while it reconfigures (the path may have lost
    /// the question or the answer).
    Inquire,
}

crate::client_message! {
    impl[Op: Clone, Reply: Clone] for Msg<Op, Reply>;
    Msg::Request { session, seq, op } => (0, history_seq(*session, *seq), op);
    Msg::Reply { session, seq, reply } => (0, history_seq(*session, *seq), reply);
}
