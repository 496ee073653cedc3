//! What the model checker records beside the actors, shared by every protocol: the
//! client-visible history judged for linearizability and how client messages are recorded in
//! it ([`record`]), an actor's saved storage, the crash budget, the faults of a primary-backup
//! pair ([`PairFaults`]), and the network ([`Environment`]).

use crate::services::{SequentialService, Service};
use stateright::actor::{Actor, ActorModel, ActorModelState, Envelope, Id, LossyNetwork, Network};
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

/// A protocol's client messages as the client-visible history sees them: a request
/// `(process, seq, op)` and a reply `(process, seq, reply)`; `process` is 0 where the protocol
/// replicates one service.
pub trait ClientMessage {
    /// The service's operation.
    type Op;
    /// The service's reply.
    type Reply;
    /// The request this message is, if it is one.
    fn request(&self) -> Option<(usize, u32, &Self::Op)>;
    /// The reply this message is, if it is one.
    fn reply(&self) -> Option<(usize, u32, &Self::Reply)>;
}

/// Implements [`ClientMessage`] for a protocol's message type from the patterns of its
/// request and its reply, each giving `(process, seq, op or reply)`.
#[macro_export]
macro_rules! client_message {
    (
        impl[$($g:tt)*] for $ty:ty;
        $rq:pat => $rqv:expr;
        $rp:pat => $rpv:expr;
    ) => {
        impl<$($g)*> $crate::history::ClientMessage for $ty {
            type Op = Op;
            type Reply = Reply;
            fn request(&self) -> Option<(usize, u32, &Op)> {
                match self {
                    $rq => Some($rqv),
                    _ => None,
                }
            }
            fn reply(&self) -> Option<(usize, u32, &Reply)> {
                match self {
                    $rp => Some($rpv),
                    _ => None,
                }
            }
        }
    };
}

/// A resend budget that never runs out: the runtime's (its configuration sets `resends` to
/// it), where a lost message is a broken connection that will be made again, so giving up
/// would only turn a fault into an outage. The checker's budgets are 0 to 4, which keeps its
/// state space finite.
pub const FOREVER: u8 = u8::MAX;

/// A resend budget `left` after one resend ([`FOREVER`] stays [`FOREVER`]).
pub(crate) fn spend(left: u8) -> u8 {
    if left == FOREVER {
        left
    } else {
        left.saturating_sub(1)
    }
}

/// The number the client-visible history knows a request by: its sequence number, told apart
/// from the same number of the client's other sessions (the model's sessions are few, numbered
/// from 1, and its requests fewer than 2^16).
pub fn history_seq(session: u64, seq: u32) -> u32 {
    ((session as u32) << 16) | (seq & 0xffff)
}

/// Which event of a message the checker records.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Seen {
    /// A message sent (`record_msg_out`): a client's request is an invocation.
    Sent,
    /// A message delivered (`record_msg_in`): a reply to a client is a return.
    Delivered,
}

/// Records a request a client sends or a reply delivered to a client (clients are the actors
/// numbered `first_client` and above) as slot `slot(client, seq)`'s invocation or return.
pub fn record<M, T, S>(
    h: &History<T, S>, env: Envelope<&M>, seen: Seen, first_client: usize,
    slot: impl Fn(Id, u32) -> T,
) -> Option<History<T, S>>
where
    M: ClientMessage<Op = S::Op, Reply = S::Reply>,
    T: Copy + Debug + Ord,
    S: Service,
{
    let is_client = |id: Id| usize::from(id) >= first_client;
    match seen {
        Seen::Sent => match env.msg.request()? {
            (_, seq, op) if is_client(env.src) => h.invoke(slot(env.src, seq), seq, op),
            _ => None,
        },
        Seen::Delivered => match env.msg.reply()? {
            (_, seq, reply) if is_client(env.dst) => h.ret(slot(env.dst, seq), seq, reply),
            _ => None,
        },
    }
}

/// What actor `i` has saved (its durable storage), if anything.
pub fn saved<A: Actor, H>(state: &ActorModelState<A, H>, i: usize) -> Option<&A::Storage> {
    state.actor_storages.get(i).and_then(Option::as_ref)
}

/// The environment every model's builder sets: the network its `network` and `lossy`
/// parameters describe, and how many actors may be down at once (`down`: 1 where crashes are
/// allowed, 0 where the model injects its failures otherwise).
pub trait Environment: Sized {
    /// The model in that environment.
    fn environment(self, ordered: bool, lossy: bool, down: usize) -> Self;
}

impl<A, C, H> Environment for ActorModel<A, C, H>
where
    A: Actor,
    A::Msg: Ord,
    A::Timer: Ord,
    H: Clone + Debug + Hash,
{
    fn environment(self, ordered: bool, lossy: bool, down: usize) -> Self {
        let net = if ordered {
            Network::new_ordered([])
        } else {
            Network::new_unordered_nonduplicating([])
        };
        self.init_network(net)
            .lossy_network(if lossy { LossyNetwork::Yes } else { LossyNetwork::No })
            .max_crashes(down)
    }
}

/// The other server of a pair (servers 0 and 1): the backup of a primary, the primary of a
/// backup, where a client turns when told its server is not the primary.
pub fn other_server(server: Id) -> Id {
    Id::from(1 - usize::from(server).min(1))
}

/// The faults a model of one primary and one backup explores (logical checkpointing,
/// transactions): which of the two servers may crash, how many crashes in all, and the
/// network.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct PairFaults {
    /// Crashes in all.
    pub crashes: usize,
    /// Which servers may crash: `[server 0, server 1]`.
    pub may_crash: [bool; 2],
    /// FIFO per pair of nodes.
    pub ordered: bool,
    /// Messages can be lost.
    pub lossy: bool,
}

impl PairFaults {
    /// The faults the `crashes`, `crash`, `network` and `lossy` parameters describe.
    pub fn from_params(p: &crate::params::Params) -> Result<Self, crate::params::ParamError> {
        let crash = p.choice("crash")?;
        Ok(PairFaults {
            crashes: p.uint("crashes")? as usize,
            may_crash: [crash != "backup", crash != "primary"],
            ordered: p.choice("network")? == "ordered",
            lossy: p.bool("lossy")?,
        })
    }

    /// Whether a state with servers down as `crashed` and `restarts` so far is within these
    /// faults.
    pub fn allow(&self, crashed: &[bool], restarts: impl Iterator<Item = u8>) -> bool {
        within_crash_budget(crashed, 2, restarts, |i| self.may_crash[i], self.crashes)
    }

    /// `model` in this network, one server down at a time.
    pub fn apply<M: Environment>(&self, model: M) -> M {
        model.environment(self.ordered, self.lossy, self.crashes.min(1))
    }
}

/// Whether a state is within the crash budget: only servers `0..servers` that `may_crash`
/// may be down, and crashes so far (restarts recorded in durable state plus servers down now)
/// do not exceed `budget`.
pub fn within_crash_budget(
    crashed: &[bool], servers: usize, restarts: impl Iterator<Item = u8>,
    may_crash: impl Fn(usize) -> bool, budget: usize,
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
