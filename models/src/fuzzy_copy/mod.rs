//! Fuzzy copy and catch-up: a new backup built while the primary keeps serving (seed 002, the
//! "new backup" and "soft failure" paragraphs; seed 003 §4, fuzzy replica production and
//! catch-up from the log, with a state identifier per record).
//!
//! ```text
//!  primary                                          new backup
//!  note SSN n; for each object in turn, while updates go on:
//!    ---- CopyObject(a, [(key, value, generation)…]) ->  install objects and generations
//!    <--- CopyAck(a, last key) ----------------------   (a: the copy attempt)
//!    ---- CopyDone(a, n) --------------------------->  the log starts at n
//!    ---- Log(n, [op…]), … (one batch at a time) ---->  apply if SSN > generation, else skip
//!    <--- LogAck(next) ------------------------------
//!  (a batch is `batch` objects or entries at most; the models check batches of 1 and 2)
//!  last entry shipped: pause intake until its ack; then normal checkpointing (Log per update)
//! ```
//!
//! A backup that reboots (a soft failure) reports the next SSN it needs; the primary ships the
//! log from there if its history table still holds it, and otherwise starts over with a full
//! copy (the table was recycled).
//!
//! Rolling upgrade (seed 002 Fig. 2A, `rolling-upgrade` in the catalogue): the new backup is a
//! spare running version 2 of the service; once it is current and no update is in flight, the
//! primary (version 1) hands over — `Handover` with its message table — and retires,
//! answering clients `Moved`; the spare serves from then on.
//!
//! Why it is safe: an object's generation is the SSN of the last update it reflects, so the
//! filtered replay applies each update to each object exactly once, in SSN order, whichever
//! updates the copy already caught; the intake pause makes the switch to normal checkpointing
//! happen at a point where every committed update has been shipped.

pub mod model;
pub mod replay;
pub mod server;

pub use model::{build, visit, Config, Variant, NAME};

use serde::{Deserialize, Serialize};

/// A message of the fuzzy-copy protocol.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Msg<Op, Reply, Key, Object> {
    /// A client's request `seq`.
    Request {
        /// The client's sequence number.
        seq: u64,
        /// The operation.
        op: Op,
    },
    /// The reply to `seq`.
    Reply {
        /// The request answered.
        seq: u64,
        /// The reply.
        reply: Reply,
    },
    /// The next objects of the fuzzy copy (consecutive in the key space, `batch` at most),
    /// each with its generation.
    CopyObject {
        /// The backup incarnation the copy is for (its restart count).
        incarnation: u8,
        /// The copy attempt (the primary numbers its copies).
        attempt: u8,
        /// Each object's key, value (`None`: absent) and generation (the SSN of the last
        /// update it reflects).
        objects: Vec<(Key, Option<Object>, u64)>,
    },
    /// The backup installed the objects of copy `attempt` up to `key` (the batch's last).
    CopyAck {
        /// The copy attempt.
        attempt: u8,
        /// The last object installed.
        key: Key,
    },
    /// Every object of copy `attempt` is copied; the log is to be replayed from SSN `noted`.
    CopyDone {
        /// The backup incarnation the copy is for.
        incarnation: u8,
        /// The copy attempt.
        attempt: u8,
        /// The SSN noted when the copy began.
        noted: u64,
    },
    /// Log entries `ssn`, `ssn + 1`, … (catch-up replay, `batch` at most; then normal
    /// checkpointing, one each).
    Log {
        /// The service sequence number of the first.
        ssn: u64,
        /// The logical operations, in SSN order.
        ops: Vec<Op>,
    },
    /// The backup has applied or skipped every entry before `next`.
    LogAck {
        /// The next SSN the backup needs.
        next: u64,
    },
    /// Rolling upgrade: the primary (old version) hands the process over to its current backup
    /// (new version) and retires; the message table goes with it.
    Handover {
        /// Every client's last answered request and its reply.
        table: Vec<(stateright::actor::Id, u64, Reply)>,
    },
    /// To a client: the process now runs on the other server (sent by a retired primary).
    Moved,
    /// A rebooted backup: the next SSN it needs, or `None` if its copy was incomplete.
    Rejoin {
        /// Its incarnation (restart count): an older one's rejoin is stale.
        incarnation: u8,
        /// The next SSN it needs.
        next: Option<u64>,
    },
}
