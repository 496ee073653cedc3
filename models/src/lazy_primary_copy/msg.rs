//! Messages and timers of lazy primary copy (Ameling, Roy & Kemme §3.2.3).
//!
//! | message (from → to)                     | answered by                                  |
//! |-----------------------------------------|----------------------------------------------|
//! | `Request` client → any server           | `Reply` (a read at once, from the local copy; an update by the primary after its commit, or by a secondary after it applied the change) |
//! | `Forward` secondary → primary (updates) | `Propagate` to that secondary, at once        |
//! | `Propagate` primary → secondary (later) | `Applied` secondary → primary                |
//!
//! Every server-to-server message but `Forward` carries the sender's *epoch*: a server that
//! receives a `Propagate` of a newer epoch follows its sender as the new primary.

use super::{Entry, Epoch};
use crate::history::history_seq;
use crate::services::{RegisterOp as Op, RegisterReply as Reply};
use serde::{Deserialize, Serialize};
use stateright::actor::Id;

/// A message of the lazy primary copy protocol.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Msg {
    /// A client's request number `seq` (resends carry the same number).
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
    /// A secondary passes a client's update on to the primary (§3.2.3: "transparently
    /// redirect it to the primary").
    Forward {
        /// The client that sent it.
        client: Id,
        /// The client's sequence number.
        seq: u32,
        /// The update.
        op: Op,
    },
    /// The primary's committed changes from position `from` on, in commit order.
    Propagate {
        /// The primary's epoch.
        epoch: Epoch,
        /// The position of the first entry in the primary's history.
        from: u32,
        /// The entries.
        entries: Vec<Entry>,
    },
    /// A secondary holds the first `len` entries of the primary's history of `epoch`.
    Applied {
        /// The secondary's epoch.
        epoch: Epoch,
        /// The length of its copy of the history.
        len: u32,
    },
}

/// A timer.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Timer {
    /// Client: no reply yet; resend to the next server.
    Resend,
    /// Primary: propagate what is committed and not yet propagated (lazily, after the reply),
    /// and again what a secondary has not confirmed.
    Ship,
    /// Server 1: it suspects the primary and takes over.
    Suspect,
}

crate::client_message! {
    impl[] for Msg;
    Msg::Request { seq, op } => (0, history_seq(1, *seq), op);
    Msg::Reply { seq, reply } => (0, history_seq(1, *seq), reply);
}
