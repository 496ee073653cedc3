//! Transactions under logical checkpointing (the logical-checkpointing patent, Fig. 5A-5C).
//!
//! A transaction is a start indicator, requests, and an end indicator (Fig. 5A); here each
//! client runs one transaction of `ops` updates followed by its commit request. Two ways to
//! checkpoint it, the same at primary and backup:
//!
//! - **batch** (Fig. 5B): the primary executes the requests as they come, without table entries
//!   or checkpoints; at commit it checkpoints the whole transaction in one message under one SSN,
//!   the backup logs it and sends a single ack, and both commit it atomically;
//! - **entry by entry** (Fig. 5C): each request is checkpointed and acked on its own, with a
//!   transaction indicator, and goes into the transaction's internal state; the commit request is
//!   checkpointed too, and on its ack both commit the entire transaction.
//!
//! Both sides commit in SSN order, so an older transaction (an earlier commit record) always
//! commits before a newer conflicting one at the backup, as at the primary. A failure before
//! the commit is checkpointed aborts the transaction: the new primary discards the logged entries
//! of transactions without a commit record, and the client restarts the transaction.
//!
//! Files: [`msg`] (messages, timers), [`server`] (the primary, backup and spare roles of one
//! server actor), [`client`], [`model`] (parameters, properties, configurations, builder);
//! here: [`Mode`], the variant table, [`Config`] and the actor enum [`Node`].

pub mod client;
pub mod model;
pub mod msg;
pub mod server;

pub use model::{build, visit, NAME, SPEC};

use client::{Client, ClientState};
use msg::{Msg, Timer};
use server::{Durable, Server, ServerState};
use stateright::actor::Id;

/// How transactions are checkpointed.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Mode {
    /// Fig. 5B: the whole transaction in one checkpoint at commit.
    Batch,
    /// Fig. 5C: each request checkpointed on its own, then a commit record.
    Entry,
}

crate::variants! {
    /// The protocol or a seeded bug.
    pub enum Variant {
        /// As specified.
        Correct = "correct": "the protocol as specified";
        /// A new primary commits the logged entries of transactions that have no commit record.
        PartialCommit = "partial-commit":
            "a new primary commits the entries of transactions without a commit record",
            breaks ["transaction-atomicity"], check [mode = "entry", crash = "primary"];
        /// The backup commits a batch as soon as it is logged, before older ones.
        NewerFirst = "newer-first":
            "the backup commits a transaction as soon as it is logged, before older ones",
            breaks ["serial-equivalence"], check [mode = "batch", clients = "2", ops = "1", crashes = "0"];
        /// The primary commits and answers a transaction before the backup's ack.
        ReplyBeforeAck = "reply-before-ack":
            "the primary commits and answers a transaction before the backup's ack",
            breaks ["2-safety"], check [mode = "batch", crashes = "0"];
        /// A restarted transaction is executed again although it committed.
        NoTxnDedup = "no-txn-dedup":
            "a restarted transaction that already committed is executed again",
            breaks ["exactly-once"], check [crash = "primary"];
    }
}

/// The model's configuration.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Config {
    /// The protocol or a seeded bug.
    pub variant: Variant,
    /// Batch or entry by entry.
    pub mode: Mode,
    /// Clients.
    pub clients: usize,
    /// Updates per transaction.
    pub ops: usize,
    /// Resends per request.
    pub resends: u8,
    /// Crashes and the network.
    pub faults: crate::history::PairFaults,
}

/// The number of servers.
pub const SERVERS: usize = 2;

impl Config {
    /// The clients' ids.
    pub fn client_ids(&self) -> impl Iterator<Item = Id> {
        (SERVERS..SERVERS + self.clients).map(Id::from)
    }
}

crate::protocol_node! {
    <S>
    msg = Msg<S::Op, S::Reply>, timer = Timer, storage = Durable<S::Op, S::Reply>;
    Server(Server<S>, ServerState<S>, "server"),
    Client(Client<S>, ClientState<S::Reply>, "client"),
}
