//! Online schema evolution (Chen, Jeng, Huang & Lin, "Design and Implementation of Database
//! Schema Evolution for Service Continuity of Web-based Internet Applications", §III, §IV-B):
//! a table is converted to a new schema while the service keeps running, and the only
//! interruption is the switch of the software components.
//!
//! ```text
//!  client ── Request ──▶ server: old version, original table ── Reply ──▶ client
//!                          │ trigger + judge unit (DRM): the changed tuple → Temp Table,
//!                          │ one record per tuple (repeated updates coalesced), pending
//!                          │ bulk copy (the schema evolution, D): original → new table
//!  converter (MCM) ── Fetch ──▶ server ── Batch{pending records} ──▶ converter
//!  converter: convert each by the policy ── Apply{record, converted} ──▶ server:
//!      the status check: still the same record? then write the new table, mark it done
//!  flow controller (FCM): pending N, N·X < T ⇒ switch: trap every request (TRM), install
//!      the new version (T), the converter drains the rest meanwhile; then recover: replay the
//!      trapped requests on the new version, in order; then serve on the new table
//! ```
//!
//! The model has one server (the database, its trigger, Temp Table and flow controller, and
//! the web tier's trap and recover agents: they share one machine in the paper's prototype),
//! one converter (the map-and-convert module, a process of its own that can crash), and
//! clients, each working on its own tuple. X, the time to convert one tuple, is the model's
//! unit: the switch condition N·X < T is `pending < switch`.
//!
//! What is checked (specs/schema-evolution.md): no acknowledged update is lost across the
//! conversion and the switch; at the switch the new table is the policy's conversion of the
//! original table's final state; every request, trapped and replayed ones included, takes
//! effect once; the switch starts only when the pending tuples fit in T; and the switch
//! completes (under weak fairness).
//!
//! Files: [`msg`] (messages, timers), [`server`], [`converter`], [`client`], [`model`]
//! (parameters, properties, configurations, builder); here: the tables, the conversion
//! policy, the variant table, [`Config`] and the actor enum [`Node`].

pub mod client;
pub mod converter;
pub mod model;
pub mod msg;
pub mod server;

pub use model::{build, visit, NAME, SPEC};

use client::{Client, ClientState};
use converter::{Converter, ConverterState};
use msg::{Msg, Timer};
use serde::{Deserialize, Serialize};
use server::{Durable, Server, ServerState};
use std::collections::BTreeMap;

/// A tuple's key: client `k` works on key `k`.
pub type Key = u8;

/// A tuple of the original schema: a quantity in whole units.
pub type OldRow = u8;

/// A tuple of the new schema: the same quantity in hundredths (the paper's example of a
/// complex evolution: "modifying the data type of the attribute").
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct NewRow {
    /// The quantity, in hundredths.
    pub hundredths: u16,
}

/// The conversion policy (the Policy Transfer Unit's rule): whole units to hundredths.
pub fn convert(row: OldRow) -> NewRow {
    NewRow { hundredths: u16::from(row) * 100 }
}

impl NewRow {
    /// The quantity in whole units, as the new version's software presents it to a client.
    pub fn logical(self) -> OldRow {
        (self.hundredths / 100) as OldRow
    }
}

/// The original table.
pub type OldTable = BTreeMap<Key, OldRow>;
/// The new table.
pub type NewTable = BTreeMap<Key, NewRow>;

/// A client's operation on its tuple.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Op {
    /// Insert the tuple with quantity 1 (fails if it exists).
    Insert(Key),
    /// Add 1 to the tuple's quantity (fails if it does not exist).
    Add(Key),
    /// Delete the tuple (fails if it does not exist).
    Delete(Key),
}

/// The answer: the tuple's quantity after an insert or an add, before a delete; `None` when
/// the operation failed.
pub type Reply = Option<OldRow>;

impl Op {
    /// The tuple it works on.
    pub fn key(self) -> Key {
        match self {
            Op::Insert(k) | Op::Add(k) | Op::Delete(k) => k,
        }
    }

    /// The tuple's quantity after the operation, and the reply, from its quantity before.
    pub fn apply(self, before: Option<OldRow>) -> (Option<OldRow>, Reply) {
        match (self, before) {
            (Op::Insert(_), None) => (Some(1), Some(1)),
            (Op::Add(_), Some(v)) => (Some(v.saturating_add(1)), Some(v.saturating_add(1))),
            (Op::Delete(_), Some(v)) => (None, Some(v)),
            (_, b) => (b, None),
        }
    }
}

/// The DML operation a Temp Table record redoes (the paper's `Operation_Type`).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum OpType {
    /// The tuple was inserted while the conversion ran.
    Insert,
    /// The tuple was updated.
    Update,
    /// The tuple was deleted.
    Delete,
}

/// A Temp Table record: the tuple's latest change, its values, and whether the converter
/// has written it into the new table (the paper's `Status_Check`).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Record {
    /// What to redo.
    pub op: OpType,
    /// The tuple's values (none for a delete).
    pub row: Option<OldRow>,
    /// Not yet written into the new table.
    pub pending: bool,
}

crate::variants! {
    /// The protocol as specified, or one seeded bug.
    pub enum Variant {
        /// The protocol of specs/schema-evolution.md.
        Correct = "correct": "the protocol as specified";
        /// The judge unit drops the record of a tuple inserted and then deleted during the
        /// conversion, as if the new table could not have it; the bulk copy may have copied it.
        DropsInsertThenDelete = "drops-insert-then-delete":
            "the judge unit drops the Temp Table record of a tuple inserted, then deleted, \
             during the conversion",
            breaks ["equivalence"], check [requests = "3", resends = "0", lossy = "false"];
        /// The status check marks a record done whatever happened to it since the converter
        /// fetched it: a change captured in between never reaches the new table.
        MarkDoneBlindly = "mark-done-blindly":
            "the server writes a converted record and marks it done even if the tuple changed \
             after the converter fetched it",
            breaks ["equivalence"], check [resends = "0", lossy = "false"];
        /// The status check marks records done when it hands them to the converter: a batch
        /// lost with a crashed converter, or still on its way when the switch ends, is never
        /// written.
        DoneAtFetch = "done-at-fetch":
            "records are marked done when the converter fetches them, not when it writes them",
            breaks ["equivalence"], check [resends = "0", lossy = "false"];
        /// The new version goes live when its installation ends, drained or not.
        LiveBeforeDrain = "live-before-drain":
            "the new version goes live when its installation ends, whether or not the Temp \
             Table is drained",
            breaks ["no-lost-update"], check [writers = "2", switch = "2", resends = "0", lossy = "false"];
        /// The logger traps every copy of a resent request and recovery replays each one.
        ReplaysDuplicates = "replays-duplicates":
            "the trap logs every copy of a resent request, and recovery replays every entry \
             without the message table",
            breaks ["exactly-once"], check [lossy = "false"];
        /// The flow controller switches as soon as the bulk copy ends, whatever N·X.
        SwitchEarly = "switch-early":
            "the flow controller starts the switch as soon as the bulk copy ends, without the \
             N·X < T test",
            breaks ["switch-condition"], check [requests = "1", resends = "0", switch = "1"];
        /// The converter polls again only when a batch arrives: a lost fetch or batch stops it.
        PollOnce = "poll-once":
            "the converter fetches again only when a batch arrives: a lost fetch or batch \
             stops it for good",
            breaks ["switch-completes"], check [requests = "1", resends = "0"];
    }
}

/// The fixed configuration every actor of the model holds.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Config {
    /// The protocol or a seeded bug.
    pub variant: Variant,
    /// Clients (writers): client `k` works on key `k`.
    pub writers: usize,
    /// Requests per client.
    pub requests: usize,
    /// Resends per request.
    pub resends: u8,
    /// Crashes in all (each followed by a restart).
    pub crashes: usize,
    /// Which processes may crash: `[server, converter]`.
    pub may_crash: [bool; 2],
    /// T, the switch time, in conversions of one tuple (X): the switch starts when the
    /// pending tuples N satisfy N·X < T.
    pub switch: usize,
    /// Messages can be lost.
    pub lossy: bool,
    /// FIFO per pair of actors instead of reordering.
    pub ordered: bool,
}

/// The server's id.
pub const SERVER: usize = 0;
/// The converter's id.
pub const CONVERTER: usize = 1;
/// Actors before the clients.
pub const PROCESSES: usize = 2;

impl Config {
    /// Request `i` of client `k`: insert, add, delete, in turn, on key `k`.
    pub fn workload(&self, k: usize, i: usize) -> Op {
        let key = k as Key;
        match i % 3 {
            0 => Op::Insert(key),
            1 => Op::Add(key),
            _ => Op::Delete(key),
        }
    }

    /// Client `k`'s tuple after its first `n` requests took effect once each, in order.
    pub fn after(&self, k: usize, n: usize) -> Option<OldRow> {
        (0..n).fold(None, |row, i| self.workload(k, i).apply(row).0)
    }
}

/// What a process saves.
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub enum Saved {
    /// The server's database: its tables, its phase, the trap log, the message table.
    Server(Durable),
    /// The converter saves nothing but counts its restarts (the crash budget counts them).
    Converter {
        /// Restarts so far.
        restarts: u8,
    },
}

impl Saved {
    /// Restarts so far.
    pub fn restarts(&self) -> u8 {
        match self {
            Saved::Server(d) => d.restarts,
            Saved::Converter { restarts } => *restarts,
        }
    }
}

crate::protocol_node! {
    msg = Msg, timer = Timer, storage = Saved;
    Server(Server, ServerState, "server"),
    Converter(Converter, ConverterState, "converter"),
    Client(Client, ClientState, "client"),
}
