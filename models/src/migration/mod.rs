//! Process migration by the backup mechanism, and the planner's `migrate_all` (seed 000 §4,
//! Fig. 2; the same mechanism as linear 2PC, seed 000 §3.1).
//!
//! Process P moves from server S to server T in three moves, each made durable before the
//! message that announces it leaves:
//!
//! ```text
//!  planner            S (primary of P)                         T
//!    | MigrateAll ---->| copy P's image (P still runs, alone)   |
//!    |                 |---- Copy(p, epoch, history) ---------->| install as backup of P
//!    |                 |<--- Installed(p, epoch, history) ------|
//!    |                 | upgrade P to critical (Save):          |
//!    |                 |   ship what the copy missed, then      |
//!    |                 |   every step by linear 2PC             |
//!    |                 |---- ChangeBuffer(p, epoch, i, cb) ---->| apply, Save
//!    |                 |<--- Ack(p, epoch, i) ------------------|
//!    |                 | T current and no step in flight:       |
//!    |                 | hand over (Save: S stops executing)    |
//!    |                 |---- Switch(p, epoch+1) --------------->| primary of P in epoch+1,
//!    |                 |<--- SwitchDone(p, epoch+1) ------------| at level normal (degraded)
//!    |                 | delete P's image, keep a forwarding    |
//!    |<--- Drained ----| address (Save); clients get Moved      |
//! ```
//!
//! Why it is atomic (proofs.md has the argument): S stops executing P *durably* before it
//! asks T to take over, and T becomes primary only at that request — so P is never primary on
//! two servers; S keeps P (as `Handing`, resending the switch) until T confirms — so P always
//! has an owner; and S hands over only when T's history equals its own with no step in flight
//! — so the new primary holds every acknowledged update, and a resent request is answered
//! from T's message table exactly once.
//!
//! Files: [`server`] (the source and target roles of one server actor, per process),
//! [`planner`], [`client`], [`model`] (configuration, variants, properties, builder).

pub mod client;
pub mod model;
pub mod planner;
pub mod server;

pub use model::{build, visit, Config, Variant, NAME};

use crate::linear_2pc::commit_log::CommitLog;
use crate::linear_2pc::msg::Entry;
use serde::{Deserialize, Serialize};
use stateright::actor::Id;

/// A process: one replicated service instance, placed on servers by the planner.
pub type ProcessId = u8;

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
