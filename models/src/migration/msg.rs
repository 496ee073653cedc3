//! Messages and timers of the migration protocol (Hagen & Alonso §4, Fig. 2).

use super::ProcessId;
use crate::commit_log::{CommitLog, Entry};
use serde::{Deserialize, Serialize};
use stateright::actor::Id;

/// A message of the migration protocol.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Msg<Op: Clone, Reply: Clone> {
    /// A client's request number `seq` to process `p`; resends carry the same `seq`.
    Request {
        /// The process.
        p: ProcessId,
        /// The client's request sequence number.
        seq: u32,
        /// The operation.
        op: Op,
    },
    /// The answer to request `seq`.
    Reply {
        /// The process.
        p: ProcessId,
        /// The request answered.
        seq: u32,
        /// The service's reply.
        reply: Reply,
    },
    /// To a client: process `p` now lives on server `to`.
    Moved {
        /// The process.
        p: ProcessId,
        /// Its new server.
        to: Id,
    },
    /// Planner → server being shut down: move each process to its chosen target.
    MigrateAll {
        /// (process, target server) for every process the planner placed on the receiver.
        targets: Vec<(ProcessId, Id)>,
    },
    /// Server → planner: the sender holds no process any more (it can be shut down).
    Drained,
    /// Source → target: P's image (its committed history) as the backup mechanism copies it.
    Copy {
        /// The process.
        p: ProcessId,
        /// The source's epoch for P.
        epoch: u8,
        /// The source's incarnation (its restart count): tells its steps from before a crash.
        inc: u8,
        /// The committed history.
        log: CommitLog<Op, Reply>,
    },
    /// Target → source: the target holds P as backup with this history.
    Installed {
        /// The process.
        p: ProcessId,
        /// The epoch.
        epoch: u8,
        /// The source's incarnation (its restart count): tells its steps from before a crash.
        inc: u8,
        /// The target's history (longer than the copy if the target acked a step the source
        /// lost in a crash: the commit decision was taken at the target).
        log: CommitLog<Op, Reply>,
    },
    /// Linear 2PC's phase one, for P at level critical.
    ChangeBuffer {
        /// The process.
        p: ProcessId,
        /// The epoch.
        epoch: u8,
        /// The source's incarnation (its restart count): tells its steps from before a crash.
        inc: u8,
        /// The step's position in P's history.
        index: u32,
        /// The change buffer.
        entry: Entry<Op, Reply>,
    },
    /// The target applied and saved step `index`.
    Ack {
        /// The process.
        p: ProcessId,
        /// The epoch.
        epoch: u8,
        /// The source's incarnation (its restart count): tells its steps from before a crash.
        inc: u8,
        /// The step.
        index: u32,
    },
    /// Source → target: you are P's primary in `epoch` (the source stopped executing P).
    Switch {
        /// The process.
        p: ProcessId,
        /// The new epoch.
        epoch: u8,
    },
    /// Target → source: P runs here in `epoch`.
    SwitchDone {
        /// The process.
        p: ProcessId,
        /// The new epoch.
        epoch: u8,
    },
}

/// Timers: the clients' and the planner's resends, and the source's switch decision.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Timer {
    /// Resend the outstanding request (client) or the order (planner).
    Resend,
    /// The source hands over the processes whose targets are current.
    Switch,
}

crate::client_message! {
    impl[Op: Clone, Reply: Clone] for Msg<Op, Reply>;
    Msg::Request { p, seq, op } => (usize::from(*p), *seq, op);
    Msg::Reply { p, seq, reply } => (usize::from(*p), *seq, reply);
}
