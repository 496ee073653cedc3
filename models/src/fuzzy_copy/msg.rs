//! Messages and timers of the fuzzy-copy protocol (and of the rolling upgrade built from its
//! roles).

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
        incarnation: u64,
        /// The copy attempt (the primary numbers its copies).
        attempt: u64,
        /// Each object's key, value (`None`: absent) and generation (the SSN of the last
        /// update it reflects).
        objects: Vec<(Key, Option<Object>, u64)>,
    },
    /// The backup installed the objects of copy `attempt` up to `key` (the batch's last).
    CopyAck {
        /// The copy attempt.
        attempt: u64,
        /// The last object installed.
        key: Key,
    },
    /// Every object of copy `attempt` is copied; the log is to be replayed from SSN `noted`.
    CopyDone {
        /// The backup incarnation the copy is for.
        incarnation: u64,
        /// The copy attempt.
        attempt: u64,
        /// The SSN noted when the copy began.
        noted: u64,
    },
    /// Log entries `ssn`, `ssn + 1`, … (catch-up replay, `batch` at most; then normal
    /// checkpointing, one each; none: the backup is current, in answer to its `Rejoin`).
    Log {
        /// The backup incarnation the primary serves (it has heard that one's `Rejoin`).
        incarnation: u64,
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
        incarnation: u64,
        /// The next SSN it needs.
        next: Option<u64>,
    },
    /// Rolling upgrade: the new version serves (hosted, where the retired primary resends
    /// `Handover` until it hears this: `resends = forever`).
    HandoverAck,
}

/// Timers.
#[derive(
    Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize,
)]
pub enum Timer {
    /// A client resends.
    Resend,
    /// Rolling upgrade: the primary hands over to its backup (when current).
    Handover,
    /// The primary sends again what is in flight to the backup (a retired one its
    /// `Handover`); a rebooted backup sends its `Rejoin` again (hosted, where clients resend
    /// for ever: `resends = forever`).
    Retransmit,
}

crate::client_message! {
    impl[Op, Reply, Key, Object] for Msg<Op, Reply, Key, Object>;
    Msg::Request { seq, op } => (0, *seq as u32, op);
    Msg::Reply { seq, reply } => (0, *seq as u32, reply);
}
