//! Lazy primary copy (Ameling, Roy & Kemme, "Replication in Service Oriented Architectures",
//! ICSOFT 2008, §3.2.1 and §3.2.3): the *1-safe* comparison point of the workbench.
//!
//! One business object has its primary copy on server 0 and secondary copies on the others.
//! A client talks to one server. A read is executed by that server on its local copy, whatever
//! its role. An update is executed and committed by the primary alone: at the primary, the
//! reply goes back at once and the change is *propagated* to the secondaries afterwards, in a
//! separate step (the paper: "the transaction executes and commits locally. The AS instance
//! returns the result to the client and then forwards the update on the BOs to the secondary
//! copies"); at a secondary, the update is *forwarded* to the primary, which executes it and
//! sends the change back to that secondary, which applies it and then answers the client
//! ("the primary executes it and then forwards the changes and the response to the secondary
//! (who sends them to the client) and all other secondaries").
//!
//! ```text
//!  client ── Put ──▶ primary: execute, commit, save ── Reply ──▶ client
//!                      │  (later: the Ship timer)
//!                      └── Propagate{from, entries} ──▶ secondary: apply in order, save
//!                                                      ◀── Applied{len} ──┘
//!  client ── Put ──▶ secondary ── Forward ──▶ primary: execute, commit
//!                      ◀── Propagate{…, the entry} ──┘
//!  client ◀── Reply ── secondary (after applying the entry)
//!  client ── Get ──▶ any server: read its local copy (never checkpointed, never forwarded)
//! ```
//!
//! The paper describes no failover. The model adds the least one that lets the checker show
//! what laziness costs: server 1 may suspect the primary at any moment (as linear 2PC's backup
//! does) and take over with a new *epoch*; every server-to-server message carries the epoch; a
//! server that hears of a newer epoch follows its primary and replaces its copy by the new
//! primary's, from the start. Updates the old primary committed and did not propagate are
//! lost: that is what 1-safe means.
//!
//! What the protocol keeps, checked: every replica holds a prefix of its epoch's primary's
//! history (*prefix consistency*: secondaries apply propagations in the primary's commit
//! order), no request takes effect twice in any replica (the primary's message table filters
//! resends, forwarded ones included), and replicas converge once propagation quiesces. What it
//! gives up, shown by the checker's counterexamples: 2-safety, linearizability and
//! read-your-writes (specs/lazy-primary-copy.md).
//!
//! Files: [`msg`] (messages, timers), [`server`] (the primary and secondary role), [`client`],
//! [`model`] (parameters, properties, configurations, builder); here: the variant table,
//! [`Config`] and the actor enum [`Node`].

pub mod client;
pub mod model;
pub mod msg;
pub mod server;

pub use model::{build, visit, NAME, SPEC};

use crate::commit_log::CommitLog;
use crate::services::{Register, RegisterOp, RegisterReply};
use client::{Client, ClientState};
use msg::{Msg, Timer};
use server::{Durable, Server, ServerState};
use stateright::actor::Id;

/// A primary's term: 0 for server 0's, one more at each takeover.
pub type Epoch = u8;

/// The replicated business object: the key-value register.
pub type Object = Register;

/// A committed update, with the request that caused it and the reply the primary computed:
/// an entry of the history and of the message table.
pub type Entry = crate::commit_log::Entry<RegisterOp, RegisterReply>;

/// A replica's committed history, in the primary's commit order, with its message table.
pub type Log = CommitLog<RegisterOp, RegisterReply>;

crate::variants! {
    /// The protocol as specified, or one seeded bug.
    pub enum Variant {
        /// The protocol of specs/lazy-primary-copy.md.
        Correct = "correct": "the protocol as specified";
        /// A secondary appends a propagation's entries as it arrives, wherever it starts: two
        /// propagations delivered out of order are applied out of order.
        ArrivalOrder = "arrival-order":
            "a secondary appends each propagation as it arrives, ignoring the position it \
             starts at",
            breaks ["prefix-consistency"], check [writers = "2", requests = "1", resends = "0", takeovers = "0"];
        /// The primary executes a forwarded update without looking it up in its message
        /// table: a resend forwarded again is executed twice.
        ForwardUnfiltered = "forward-unfiltered":
            "the primary executes a forwarded update without looking it up in its message table",
            breaks ["exactly-once"], check [home = "secondary", resends = "2", requests = "1", crashes = "0", takeovers = "0"];
        /// A new primary keeps the shipping positions of the old one: a server that held the
        /// old primary's longer history never replaces it.
        KeepsDivergentCopy = "keeps-divergent-copy":
            "a server that follows a new primary keeps its own copy and applies the new \
             primary's changes on top of it",
            breaks ["prefix-consistency"], check [requests = "1", crashes = "0", readers = "0"];
        /// A secondary never asks again for a propagation it missed: the primary ships each
        /// change once.
        ShipOnce = "ship-once":
            "the primary ships each change once and never again, lost or not",
            breaks ["convergence"], check [requests = "1", crashes = "0", takeovers = "0", resends = "0"];
    }
}

/// Where the writing clients send their requests.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum WritersAt {
    /// At the primary (server 0): updates are committed there and propagated lazily.
    Primary,
    /// At the first secondary (server 1): updates are forwarded to the primary.
    Secondary,
}

/// The fixed configuration every actor of the model holds.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Config {
    /// The protocol or a seeded bug.
    pub variant: Variant,
    /// Servers: the primary and `servers - 1` secondaries.
    pub servers: usize,
    /// Writing clients: client `k` writes key `k` and reads it back.
    pub writers: usize,
    /// Where the writers are.
    pub writers_at: WritersAt,
    /// Reading clients, at the last server: each reads key 0 `requests` times.
    pub readers: usize,
    /// Requests per client.
    pub requests: usize,
    /// Resends per request (each to the next server in turn).
    pub resends: u8,
    /// Server crashes in all (each followed by a restart from the saved copy).
    pub crashes: usize,
    /// Takeovers by server 1 in all.
    pub takeovers: Epoch,
    /// FIFO per pair of actors instead of reordering.
    pub ordered: bool,
}

impl Config {
    /// The clients' ids: the writers, then the readers.
    pub fn client_ids(&self) -> impl Iterator<Item = Id> {
        (self.servers..self.servers + self.writers + self.readers).map(Id::from)
    }

    /// The server client number `k` talks to first.
    pub fn home(&self, k: usize) -> usize {
        if k >= self.writers {
            self.servers - 1
        } else {
            match self.writers_at {
                WritersAt::Primary => 0,
                WritersAt::Secondary => 1.min(self.servers - 1),
            }
        }
    }

    /// Request `i` of client `k`: a writer puts `i/2 + 1` into key `k` and reads it back; a
    /// reader reads key 0.
    pub fn workload(&self, k: usize, i: usize) -> RegisterOp {
        if k >= self.writers {
            RegisterOp::Get(0)
        } else if i.is_multiple_of(2) {
            RegisterOp::Put(k as u8, (i / 2 + 1) as u8)
        } else {
            RegisterOp::Get(k as u8)
        }
    }
}

crate::protocol_node! {
    msg = Msg, timer = Timer, storage = Durable;
    Server(Server, ServerState, "server"),
    Client(Client, ClientState, "client"),
}
