//! The fragments model's configuration, seeded-bug variants, properties and builder.
//!
//! Actors: nodes `0..nodes` (node `f` is fragment `f`'s first primary), then the clients. The
//! network reorders and, if `lossy`, loses messages. Up to `crashes` nodes crash (for good:
//! main memory is lost) and up to `suspicions` false suspicions start builds of node sets
//! while every node is alive; the builder's decision may exclude a live node that has not
//! answered yet, which is how a lost answer looks.

use super::client::{Client, ClientState};
use super::node::{Live, Node, NodeState};
use super::{dictionary, Msg, NodeSet};
use crate::catalogue::{ModelVisitor, PropertySpec, VariantSpec};
use crate::history::network;
use crate::params::{ParamError, ParamKind, ParamSpec, Params, LOSSY, NETWORK};
use serde::{Deserialize, Serialize};
use stateright::actor::{ActorModel, ActorModelState, Envelope, Id, Out};
use stateright::Expectation;
use std::borrow::Cow;

/// The model's name in the catalogue.
pub const NAME: &str = "fragments";

/// The protocol as specified, or one seeded bug.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Variant {
    /// The protocol of specs/fragments.md.
    Correct,
    /// Node set ids are a bare counter, so a node answers every build of the number it promised
    /// (it cannot tell a rival builder from a resend).
    CounterOnlyIds,
    /// The builder decides with whoever answered, majority or not.
    NoMajority,
    /// A new stand-by acks the log records that arrive before its fuzzy copy without keeping
    /// them for replay.
    RepairWithoutLog,
    /// A primary never makes a new stand-by: no self-repair.
    NoSelfRepair,
}

/// The seeded-bug variants, with the property each one must break.
pub const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "correct",
        about: "the protocol as specified",
        breaks: &[],
    },
    VariantSpec {
        name: "counter-only-ids",
        about: "node set ids without the builder: two builders decide different node sets \
                under one id",
        breaks: &["single-primary-per-epoch"],
    },
    VariantSpec {
        name: "no-majority",
        about: "the builder decides with whoever answered, not only with a majority",
        breaks: &["2-safety"],
    },
    VariantSpec {
        name: "repair-without-log",
        about: "a new stand-by acks log records that precede its fuzzy copy without replaying \
                them",
        breaks: &["2-safety"],
    },
    VariantSpec {
        name: "no-self-repair",
        about: "a primary whose stand-by failed never makes a new one",
        breaks: &["fragment-availability"],
    },
];

/// The properties.
pub const PROPERTIES: &[PropertySpec] = &[
    PropertySpec {
        name: "single-primary-per-epoch",
        about: "no two nodes run a fragment as primary under the same node set id",
    },
    PropertySpec {
        name: "2-safety",
        about: "every committed update is in every current replica the latest node set names \
                primary or stand-by, and in some live node while at most one node failed",
    },
    PropertySpec {
        name: "fragment-availability",
        about: "with at most one node failed, every fragment ends with a live primary and a \
                current stand-by in the latest node set, and every client gets its commits \
                (checked on reliable networks)",
    },
];

/// The parameters of the model, with their defaults.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "nodes",
        kind: ParamKind::UInt { min: 3, max: 4 },
        default: "3",
        help: "nodes on the circle, each the first primary of one fragment",
    },
    ParamSpec {
        name: "clients",
        kind: ParamKind::UInt { min: 1, max: 3 },
        default: "1",
        help: "clients; client k updates fragment k mod nodes",
    },
    ParamSpec {
        name: "requests",
        kind: ParamKind::UInt { min: 0, max: 3 },
        default: "1",
        help: "updates per client (one outstanding at a time)",
    },
    ParamSpec {
        name: "resends",
        kind: ParamKind::UInt { min: 0, max: 3 },
        default: "1",
        help: "timer-driven resends per update, each to the next node on the circle",
    },
    ParamSpec {
        name: "crashes",
        kind: ParamKind::UInt { min: 0, max: 2 },
        default: "1",
        help: "node crashes in all (a crashed node stays down)",
    },
    ParamSpec {
        name: "crash",
        kind: ParamKind::Choice(&["any", "node0"]),
        default: "any",
        help: "which nodes may crash: any, or node 0 only (fragment 0's first primary)",
    },
    ParamSpec {
        name: "suspicions",
        kind: ParamKind::UInt { min: 0, max: 2 },
        default: "1",
        help: "false suspicions in all (each starts a build of a node set)",
    },
    NETWORK,
    LOSSY,
    ParamSpec {
        name: "variant",
        kind: ParamKind::Choice(&[
            "correct",
            "counter-only-ids",
            "no-majority",
            "repair-without-log",
            "no-self-repair",
        ]),
        default: "correct",
        help: "the protocol or a seeded bug",
    },
];

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
    /// The configuration that `params` (validated against [`PARAMS`]) describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        Ok(Config {
            variant: match p.choice("variant")? {
                "counter-only-ids" => Variant::CounterOnlyIds,
                "no-majority" => Variant::NoMajority,
                "repair-without-log" => Variant::RepairWithoutLog,
                "no-self-repair" => Variant::NoSelfRepair,
                _ => Variant::Correct,
            },
            nodes: p.uint("nodes")? as u8,
            clients: p.uint("clients")? as u8,
            requests: p.uint("requests")? as u8,
            resends: p.uint("resends")? as u8,
            crashes: p.uint("crashes")? as usize,
            crash_node0_only: p.choice("crash")? == "node0",
            suspicions: p.uint("suspicions")? as u8,
            ordered: p.choice("network")? == "ordered",
            lossy: p.bool("lossy")?,
        })
    }

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

/// An actor of the model.
#[derive(Clone, Debug)]
pub enum Actor {
    /// A node.
    Node(Node),
    /// A client.
    Client(Client),
}

/// An actor's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub enum ActorState {
    /// A node's state.
    Node(NodeState),
    /// A client's state.
    Client(ClientState),
}

impl stateright::actor::Actor for Actor {
    type Msg = Msg;
    type State = ActorState;
    type Timer = Timer;
    type Random = ();
    type Storage = ();

    fn on_start(&self, id: Id, _: &Option<()>, o: &mut Out<Self>) -> ActorState {
        match self {
            Actor::Node(a) => ActorState::Node(a.on_start(id, o)),
            Actor::Client(a) => ActorState::Client(a.on_start(o)),
        }
    }

    fn on_msg(&self, id: Id, state: &mut Cow<ActorState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        let next = match (self, state.as_ref()) {
            (Actor::Node(a), ActorState::Node(s)) => {
                a.on_msg(id, s, src, msg, o).map(ActorState::Node)
            }
            (Actor::Client(a), ActorState::Client(s)) => {
                a.on_msg(s, msg, o).map(ActorState::Client)
            }
            _ => None,
        };
        if let Some(n) = next {
            *state = Cow::Owned(n);
        }
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<ActorState>, timer: &Timer, o: &mut Out<Self>) {
        let next = match (self, state.as_ref()) {
            (Actor::Node(a), ActorState::Node(s)) => {
                a.on_timeout(id, s, timer, o).map(ActorState::Node)
            }
            (Actor::Client(a), ActorState::Client(s)) => a.on_timeout(s, o).map(ActorState::Client),
            _ => None,
        };
        if let Some(n) = next {
            *state = Cow::Owned(n);
        }
    }

    fn name(&self) -> String {
        match self {
            Actor::Node(_) => "node".into(),
            Actor::Client(_) => "client".into(),
        }
    }
}

/// The model's history: the decided node set with the highest id (it may have been installed
/// by a node that crashed since).
pub type History = Option<NodeSet>;
/// The model's full state.
pub type State = ActorModelState<Actor, History>;
/// The model.
pub type Model = ActorModel<Actor, Config, History>;

fn record_decided(_: &Config, h: &History, env: Envelope<&Msg>) -> Option<History> {
    match env.msg {
        Msg::Install { set } if h.is_none_or(|l| set.id > l.id) => Some(Some(*set)),
        _ => None,
    }
}

fn node(state: &State, i: u8) -> &NodeState {
    match &*state.actor_states[usize::from(i)] {
        ActorState::Node(s) => s,
        ActorState::Client(_) => &NodeState::Down(0),
    }
}

fn live(state: &State, i: u8) -> Option<&Live> {
    match node(state, i) {
        NodeState::Live(l) => Some(l),
        _ => None,
    }
}

fn within_boundary(cfg: &Config, state: &State) -> bool {
    let down = (0..cfg.nodes)
        .filter(|i| matches!(node(state, *i), NodeState::Down(_)))
        .count();
    let suspicions: u8 = (0..cfg.nodes)
        .map(|i| match node(state, i) {
            NodeState::Live(l) => l.suspicions,
            NodeState::Down(k) | NodeState::Excluded(k) => *k,
        })
        .sum();
    down <= cfg.crashes && suspicions <= cfg.suspicions
}

// ---- Properties -------------------------------------------------------------------------

/// The decided node set with the highest id.
fn latest(cfg: &Config, state: &State) -> Option<NodeSet> {
    (0..cfg.nodes)
        .filter_map(|i| live(state, i))
        .map(|l| l.set)
        .chain(state.history)
        .max_by_key(|s| s.id)
}

/// Nodes that failed: crashed, or alive but outside the latest node set.
fn failures(cfg: &Config, state: &State, latest: &NodeSet) -> usize {
    (0..cfg.nodes)
        .filter(|i| match node(state, *i) {
            NodeState::Live(_) => !latest.has(*i),
            NodeState::Down(_) | NodeState::Excluded(_) => true,
        })
        .count()
}

/// Every (fragment, update) a client has seen committed.
fn committed(cfg: &Config, state: &State) -> Vec<(u8, (u8, u8))> {
    let mut v = Vec::new();
    for (k, id) in cfg.client_ids().enumerate() {
        if let ActorState::Client(c) = &*state.actor_states[usize::from(id)] {
            for seq in 0..c.done {
                v.push(((k as u8) % cfg.nodes, (k as u8, seq)));
            }
        }
    }
    v
}

fn single_primary_per_epoch(m: &Model, state: &State) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    (0..m.cfg.nodes).all(|i| match live(state, i) {
        Some(l) => (0..m.cfg.nodes)
            .filter(|f| l.is_primary(&m.cfg, i, *f))
            .all(|f| seen.insert((l.set.id, f))),
        None => true,
    })
}

fn two_safety(m: &Model, state: &State) -> bool {
    let Some(latest) = latest(&m.cfg, state) else {
        return true;
    };
    let single_failure = failures(&m.cfg, state, &latest) <= 1;
    committed(&m.cfg, state).into_iter().all(|(f, u)| {
        let (p, s) = dictionary(f, latest.members, m.cfg.nodes);
        let mut holders = (0..m.cfg.nodes)
            .filter_map(|i| live(state, i).map(|l| (i, &l.replicas[usize::from(f)])));
        let named_current_hold = holders
            .clone()
            .filter(|(i, r)| r.current && (p == Some(*i) || s == Some(*i)))
            .all(|(_, r)| r.log.contains(&u));
        let someone_holds = holders.any(|(_, r)| r.log.contains(&u));
        named_current_hold && (someone_holds || !single_failure)
    })
}

fn fragment_availability(m: &Model, state: &State) -> bool {
    let Some(latest) = latest(&m.cfg, state) else {
        return true;
    };
    if failures(&m.cfg, state, &latest) > 1 {
        return true; // beyond the single-failure assumption
    }
    let serving = |i: Option<u8>, f: u8| {
        i.and_then(|i| live(state, i))
            .is_some_and(|l| l.set == latest && l.replicas[usize::from(f)].current)
    };
    let fragments = (0..m.cfg.nodes).all(|f| {
        let (p, s) = dictionary(f, latest.members, m.cfg.nodes);
        serving(p, f) && (s.is_none() || serving(s, f))
    });
    let clients = m.cfg.client_ids().all(|id| {
        matches!(&*state.actor_states[usize::from(id)],
            ActorState::Client(c) if c.done == m.cfg.requests)
    });
    fragments && clients
}

/// Builds the model of configuration `cfg`.
pub fn build(cfg: Config) -> Model {
    let nodes = (0..cfg.nodes).map(|_| Actor::Node(Node { cfg: cfg.clone() }));
    let clients = (0..cfg.clients).map(|k| {
        Actor::Client(Client {
            cfg: cfg.clone(),
            index: k,
        })
    });
    let (net, lossy) = network(cfg.ordered, cfg.lossy);
    let mut model = ActorModel::new(cfg.clone(), None)
        .actors(nodes)
        .actors(clients)
        .init_network(net)
        .lossy_network(lossy)
        .record_msg_out(record_decided)
        .within_boundary(within_boundary)
        .property(
            Expectation::Always,
            "single-primary-per-epoch",
            single_primary_per_epoch,
        )
        .property(Expectation::Always, "2-safety", two_safety);
    if !cfg.lossy {
        model = model.property(
            Expectation::Eventually,
            "fragment-availability",
            fragment_availability,
        );
    }
    model
}

/// Builds the model that `params` describes and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    Ok(visitor.visit(build(Config::from_params(params)?)))
}
