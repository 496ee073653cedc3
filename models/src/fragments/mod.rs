//! ClustRa's many-node form (seed 003 §3.3-§4): fragments placed in a circle, the I-am-alive
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
//! Files: [`node`] (the node role), [`client`], [`model`] (configuration, variants,
//! properties, builder).

pub mod client;
pub mod model;
pub mod node;

pub use model::{build, visit, Config, Variant, NAME};

use serde::{Deserialize, Serialize};

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
    let mut on_circle = (0..n)
        .map(|k| (f + k) % n)
        .filter(|i| members & (1 << i) != 0);
    (on_circle.next(), on_circle.next())
}

/// A message between nodes, or between a client and a node.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Msg {
    /// Client → node: apply the client's update `seq` to fragment `f`.
    Update {
        /// The fragment.
        f: FragmentId,
        /// The client's sequence number.
        seq: u8,
    },
    /// Node → client: update `seq` to fragment `f` is committed.
    Committed {
        /// The fragment.
        f: FragmentId,
        /// The client's sequence number.
        seq: u8,
    },
    /// Primary → stand-by: the log record of the update at `index` (linear 2PC's phase one).
    Log {
        /// The primary's node set.
        set: NodeSetId,
        /// The fragment.
        f: FragmentId,
        /// The record's position in the fragment's log.
        index: u8,
        /// The update.
        update: Update,
    },
    /// Stand-by → primary: record `index` is in the stand-by's log.
    Ack {
        /// The node set.
        set: NodeSetId,
        /// The fragment.
        f: FragmentId,
        /// The record.
        index: u8,
    },
    /// Primary → new stand-by: the fuzzy copy of fragment `f` (its log when the node set was
    /// installed; later records come as `Log`).
    Copy {
        /// The node set.
        set: NodeSetId,
        /// The fragment.
        f: FragmentId,
        /// The copied log.
        log: Vec<Update>,
    },
    /// A node that missed its neighbour's I-am-alive messages asks for the members' services.
    Build {
        /// The node set being built.
        id: NodeSetId,
    },
    /// A member's answer: it promises not to answer a lower build.
    Services {
        /// The node set being built.
        id: NodeSetId,
    },
    /// The builder distributes the decided node set.
    Install {
        /// The node set.
        set: NodeSet,
    },
    /// New stand-by → primary: the fuzzy copy is installed (and the records logged before it
    /// replayed over it).
    Copied {
        /// The stand-by's node set.
        set: NodeSetId,
        /// The fragment.
        f: FragmentId,
    },
    /// A member refuses a node set lower than a build it answered since: the builder builds
    /// again, above it.
    Refuse {
        /// The id the member promised.
        promised: NodeSetId,
    },
    /// A crashed node's I-am-alive messages stopped: how its circle neighbours learn of it
    /// (the environment's report of the missing heartbeats; sent in the crash step).
    Silent,
}
