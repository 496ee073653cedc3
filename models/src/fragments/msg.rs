//! Messages and timers of ClustRa's many-node form (Hvasshovd et al. §3.3-§4).

use super::{FragmentId, NodeSet, NodeSetId, Update};
use serde::{Deserialize, Serialize};

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

/// Timers.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Timer {
    /// A node misses its neighbour's I-am-alive messages although the neighbour is alive.
    Suspect,
    /// A builder's resends are over: it decides with the nodes that answered.
    Decide,
    /// The node crashes.
    Crash,
    /// A client resends its update.
    Resend,
}
