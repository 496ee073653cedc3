//! Linear 2PC: OPERA's semantic backup with a degenerate linear two-phase commit
//! (seed 000, Hagen & Alonso, §2.3, §3.1 and Fig. 1).
//!
//! A *process* (here: one replicated [`Service`](crate::service::Service) instance) has a
//! primary server and, depending on its availability level, a backup:
//!
//! ```text
//!  client            primary                         backup
//!    | Request(seq,op)  |                                |
//!    |----------------->| execute step -> change buffer  |
//!    |                  |---- ChangeBuffer(epoch,i,cb) ->| critical: apply + commit
//!    |                  |                                | important: store durably
//!    |                  |<--------- Ack(epoch,i) --------| (the decision is taken here)
//!    |                  | commit (durable)               |
//!    |<-- Reply(seq) ---|                                |
//! ```
//!
//! The commit decision of the distributed transaction is taken when the backup commits: if the
//! primary fails after that and before its own commit, either the backup takes over with the
//! valid process state, or the restarted primary learns it through the **reconfiguration
//! protocol** (`Inquire` → `ProcessState` or `TakenOver`). Levels: *critical* = hot standby,
//! *important* = cold standby (change buffers stored, applied at takeover), *normal* = no
//! backup. After a takeover the new primary runs degraded to *normal* (§4, process degradation).
//!
//! Why it is safe, in one line each (proofs.md has the arguments):
//! - 2-safety: a client sees a reply only after the backup made the change buffer durable;
//! - atomicity: the primary's committed history is always a prefix of the backup's, because the
//!   backup commits first and a restarted primary adopts the backup's history before serving;
//! - exactly-once: every committed step carries its (client, seq); a resend is answered from the
//!   committed history, never executed twice, and the backup holds the same history;
//! - linearizability: updates take effect at the backup's commit, reads are confirmed by the
//!   backup, and a backup that took over answers an older epoch with `TakenOver`.
//!
//! Files: [`msg`] (messages), [`commit_log`] (the history and its message table), [`server`] (the primary and backup roles of one server actor),
//! [`client`], [`model`] (configuration, variants, properties, the model builder).

pub mod client;
pub mod commit_log;
pub mod model;
pub mod msg;
pub mod server;

pub use model::{build, visit, Config, CrashTarget, Level, NetworkKind, Variant, NAME};
