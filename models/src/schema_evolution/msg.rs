//! Messages and timers of online schema evolution (Chen, Jeng, Huang & Lin §III-B to §III-E).
//!
//! | message (from → to)              | answered by                                           |
//! |----------------------------------|-------------------------------------------------------|
//! | `Request` client → server        | `Reply` at once (old or new version), or after the switch (trapped, then replayed) |
//! | `Fetch` converter → server       | `Batch`: the pending Temp Table records (none before the bulk copy ends) |
//! | `Apply` converter → server       | nothing: the server writes the records still unchanged and marks them done |

use super::{Key, NewRow, Op, Record, Reply};
use serde::{Deserialize, Serialize};

/// A message of the schema evolution protocol.
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
        /// The answer.
        reply: Reply,
    },
    /// The converter asks for the pending records (the Status Check Unit's query).
    Fetch,
    /// The pending records, by key; `live`: the new version is serving, the converter is done.
    Batch {
        /// The records.
        records: Vec<(Key, Record)>,
        /// The conversion is over.
        live: bool,
    },
    /// The converted records (the Map and Convert Unit's output): each record as fetched, and
    /// its tuple in the new schema (none for a delete).
    Apply {
        /// (key, the record as fetched, the converted tuple).
        rows: Vec<(Key, Record, Option<NewRow>)>,
    },
}

/// A timer.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Timer {
    /// Client: no reply yet; resend.
    Resend,
    /// Server: the bulk copy converts the next tuple of the original table.
    Copy,
    /// Server: the new version's installation has ended (T after the switch started).
    Install,
    /// Server: recovery replays the next trapped request.
    Replay,
    /// Converter: ask for the pending records.
    Poll,
}
