//! ClustRa's many-node form (Hvasshovd et al. (ClustRa) §3.3-§4): fragments placed in a circle, the I-am-alive
//! circle and the virtual node set, takeover by the hot stand-by, and on-line self-repair by
//! fuzzy copy.
//!
//! `N` nodes hold `N` fragments; fragment `f`'s primary replica is on node `f` and its hot
//! stand-by on node `f+1 (mod N)` (§4: "node 0's primary fragments have hot stand-bys on node
//! 1 ..."). Which replica is primary is not stored: the *distribution dictionary*
//! ([`dictionary`]) derives it from the current *node set* (the virtual node set), walking the
//! circle from `f` — so a failed node's stand-bys become primaries as soon as a node set
//! without it is installed, and the next live node in the circle is the new stand-by.
//!
//! ```text
//!  node 0 ─ I-am-alive ─ node 1 ─ I-am-alive ─ node 2 ─ I-am-alive ─ (node 0)
//!  f0: P                 f0: S
//!                        f1: P                 f1: S
//!  f2: S                                       f2: P
//!
//!  node 1 crashes → node set {0, 2}: f1: P on node 2 (takeover);
//!                   f0: S on node 2, f1: S on node 0 (self-repair: fuzzy copy + log)
//! ```
//!
//! The node set protocol (§3.3, after [ESC88]): a node that misses its neighbour's I-am-alive
//! messages *builds* a node set: it sends `Build{id}` to every member of its node set; a
//! member that has not promised a higher id promises this one and answers with its services;
//! the builder decides when all have answered, or — after its resends — with those that
//! answered, if they are a majority of the nodes; the decided node set is distributed and
//! installed. Node set ids are `(counter, builder)`, so two builders never decide different
//! node sets under one id; the majority makes any two node sets overlap, and a node answers
//! only builders of its own node set, so a node once excluded stays out (it restarts and
//! rejoins by self-repair, which is not modelled: its replicas are rebuilt by fuzzy copy).
//!
//! Updates commit by linear 2PC between the fragment's primary and its stand-by in the
//! primary's node set: the stand-by logs the update and acks only in the same node set (this is
//! the fencing). A new stand-by gets a fuzzy copy of the fragment and, from the moment the node
//! set was installed, every log record as well (ClustRa: "the log where only one replica
//! exists is copied to a node at the other site"), which it replays over the copy; so
//! updates never stop during self-repair, and never commit with one replica only.
//!
//! Files: [`msg`] (messages, timers), [`server`] (the node role), [`client`], [`model`]
//! (parameters, properties, configurations, builder); here: the node set types, the variant
//! table, [`Config`] and the actor enum [`Node`].

pub mod client;
pub mod model;
pub mod msg;
pub mod server;

pub use model::{build, visit, NAME, SPEC};

use client::{Client, ClientState};
use msg::{Msg, Timer};
use serde::{Deserialize, Serialize};
use server::{Server, ServerState};
use stateright::actor::Id;

/// A fragment; fragment `f`'s replicas start on nodes `f` (primary) and `f+1` (stand-by).
pub type FragmentId = u8;

/// An update: (client, the client's sequence number). The fragment's content is its log.
pub type Update = (u8, u8);

/// A node set's identity: ordered by counter, then by builder.
#[derive(
    Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize,
)]
pub struct NodeSetId {
    /// Incremented by each build.
    pub counter: u8,
    /// The node that built it (always 0 in the `counter-only-ids` variant).
    pub builder: u8,
}

/// A virtual node set: the nodes considered available, under an id.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct NodeSet {
    /// Its id (the epoch every fragment message carries).
    pub id: NodeSetId,
    /// Bit `i` set: node `i` is a member.
    pub members: u8,
}

impl NodeSet {
    /// Whether node `n` is a member.
    pub fn has(&self, n: u8) -> bool {
        self.members & (1 << n) != 0
    }

    /// The members, in node order.
    pub fn nodes(&self, n: u8) -> impl Iterator<Item = u8> + '_ {
        (0..n).filter(|i| self.has(*i))
    }
}

/// The distribution dictionary filtered by the node set: fragment `f`'s primary and stand-by
/// among `members` of `n` nodes — the first and second members met walking the circle from
/// node `f`.
pub fn dictionary(f: FragmentId, members: u8, n: u8) -> (Option<u8>, Option<u8>) {
    let mut on_circle = (0..n).map(|k| (f + k) % n).filter(|i| members & (1 << i) != 0);
    (on_circle.next(), on_circle.next())
}

crate::variants! {
    /// The protocol as specified, or one seeded bug.
    pub enum Variant {
        /// The protocol of specs/fragments.md.
        Correct = "correct": "the protocol as specified";
        /// Node set ids are a bare counter, so a node answers every build of the number it promised
        /// (it cannot tell a rival builder from a resend).
        CounterOnlyIds = "counter-only-ids": "node set ids without the builder: two builders decide different node sets \
                under one id",
            breaks ["single-primary-per-epoch"], check [crashes = "0", suspicions = "2"];
        /// The builder decides with whoever answered, majority or not.
        NoMajority = "no-majority":
            "the builder decides with whoever answered, not only with a majority",
            breaks ["2-safety"], check [crashes = "0", suspicions = "2"];
        /// A new stand-by acks the log records that arrive before its fuzzy copy without keeping
        /// them for replay.
        RepairWithoutLog = "repair-without-log": "a new stand-by acks log records that precede its fuzzy copy without replaying \
                them",
            breaks ["2-safety"], check [crash = "node0"];
        /// A primary never makes a new stand-by: no self-repair.
        NoSelfRepair = "no-self-repair": "a primary whose stand-by failed never makes a new one",
            breaks ["fragment-availability"], check [lossy = "false", crash = "node0", suspicions = "0"];
    }
}

/// The fixed configuration every actor of the model holds.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Config {
    /// The protocol or a seeded bug.
    pub variant: Variant,
    /// Number of nodes (and fragments).
    pub nodes: u8,
    /// Number of clients.
    pub clients: u8,
    /// Updates per client.
    pub requests: u8,
    /// Resends per update.
    pub resends: u8,
    /// Crashes in all.
    pub crashes: usize,
    /// Only node 0 may crash.
    pub crash_node0_only: bool,
    /// False suspicions in all.
    pub suspicions: u8,
    /// FIFO per pair of nodes instead of reordering.
    pub ordered: bool,
    /// Whether messages can be lost.
    pub lossy: bool,
}

impl Config {
    /// Whether node `n` may crash.
    pub fn may_crash(&self, n: u8) -> bool {
        self.crashes > 0 && (!self.crash_node0_only || n == 0)
    }

    /// The clients' ids.
    pub fn client_ids(&self) -> impl Iterator<Item = Id> {
        let first = usize::from(self.nodes);
        (first..first + usize::from(self.clients)).map(Id::from)
    }
}

crate::protocol_node! {
    msg = Msg, timer = Timer, storage = ();
    Server(Server, ServerState, "node"),
    Client(Client, ClientState, "client"),
}
