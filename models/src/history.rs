//! What the model checker records beside the actors, shared by every protocol: the
//! client-visible history judged for linearizability, the crash budget, and the network.

use crate::services::{SequentialService, Service};
use stateright::actor::{LossyNetwork, Network};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;

/// The client-visible history: a linearizability tester over the service's sequential spec,
/// plus the request sequence number each client *slot* (a thread of the tester) waits on.
///
/// A request is invoked when its first copy is sent (resends carry the same sequence number and
/// are not new invocations) and returns when its reply is delivered to the waiting slot.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct History<T: Ord, S: Service> {
    /// Invocations and returns.
    pub lin: LinearizabilityTester<T, SequentialService<S>>,
    /// The sequence number each slot waits on.
    pub waiting: BTreeMap<T, u32>,
}

impl<T: Copy + Debug + Ord, S: Service> History<T, S> {
    /// An empty history.
    pub fn new() -> Self {
        History {
            lin: LinearizabilityTester::new(SequentialService(S::default())),
            waiting: BTreeMap::new(),
        }
    }

    /// The history after slot `t` sends request `seq`; `None` if it is a resend.
    pub fn invoke(&self, t: T, seq: u32, op: &S::Op) -> Option<Self> {
        if self.waiting.get(&t) == Some(&seq) {
            return None;
        }
        let mut h = self.clone();
        // An invocation while another is in flight marks the history invalid, which the
        // linearizability property then reports: the clients never do it.
        let _ = h.lin.on_invoke(t, op.clone());
        h.waiting.insert(t, seq);
        Some(h)
    }

    /// The history after slot `t` receives the reply to `seq`; `None` if it waits on another.
    pub fn ret(&self, t: T, seq: u32, reply: &S::Reply) -> Option<Self> {
        if self.waiting.get(&t) != Some(&seq) {
            return None;
        }
        let mut h = self.clone();
        let _ = h.lin.on_return(t, reply.clone());
        h.waiting.remove(&t);
        Some(h)
    }

    /// Whether the history so far is linearizable.
    pub fn is_linearizable(&self) -> bool {
        self.lin.serialized_history().is_some()
    }
}

impl<T: Copy + Debug + Ord, S: Service> Default for History<T, S> {
    fn default() -> Self {
        Self::new()
    }
}

/// The network a model's `network` and `lossy` parameters describe.
pub fn network<M: Eq + Hash>(ordered: bool, lossy: bool) -> (Network<M>, LossyNetwork) {
    let net = if ordered {
        Network::new_ordered([])
    } else {
        Network::new_unordered_nonduplicating([])
    };
    (
        net,
        if lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        },
    )
}

/// Whether a state is within the crash budget: only servers `0..servers` that `may_crash`
/// may be down, and crashes so far (restarts recorded in durable state plus servers down now)
/// do not exceed `budget`.
pub fn within_crash_budget(
    crashed: &[bool],
    servers: usize,
    restarts: impl Iterator<Item = u8>,
    may_crash: impl Fn(usize) -> bool,
    budget: usize,
) -> bool {
    if crashed[servers..].iter().any(|c| *c) {
        return false; // clients do not crash
    }
    let down = (0..servers).filter(|i| crashed[*i]).collect::<Vec<_>>();
    if down.iter().any(|i| !may_crash(*i)) {
        return false;
    }
    down.len() + restarts.map(usize::from).sum::<usize>() <= budget
}
