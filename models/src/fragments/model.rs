//! The fragments model's configuration, seeded-bug variants, properties and builder.
//!
//! Actors: nodes `0..nodes` (node `f` is fragment `f`'s first primary), then the clients. The
//! network reorders and, if `lossy`, loses messages. Up to `crashes` nodes crash (for good:
//! main memory is lost) and up to `suspicions` false suspicions start builds of node sets
//! while every node is alive; the builder's decision may exclude a live node that has not
//! answered yet, which is how a lost answer looks.

use super::client::Client;
use super::msg::Msg;
use super::server::{Live, Server, ServerState};
use super::{dictionary, Config, Node, NodeSet, NodeState, Variant, VARIANT, VARIANTS};
use crate::history::Environment;
use crate::params::{self, ParamError, ParamSpec, Params, NETWORK};
use crate::spec::{ModelSpec, ModelVisitor, PropertySpec};
use stateright::actor::{ActorModel, ActorModelState, Envelope};
use stateright::Expectation;

/// The model's name in the catalogue.
pub const NAME: &str = "fragments";

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
    ParamSpec::uint(
        "nodes",
        (3, 4),
        "3",
        "nodes on the circle, each the first primary of one fragment",
    ),
    params::clients(3, "1").with_help("clients; client k updates fragment k mod nodes"),
    params::requests(3, "1").with_help("updates per client (one outstanding at a time)"),
    params::resends(3, "1")
        .with_help("timer-driven resends per update, each to the next node on the circle"),
    params::crashes(2, "1").with_help("node crashes in all (a crashed node stays down)"),
    ParamSpec::choice(
        "crash",
        &["any", "node0"],
        "any",
        "which nodes may crash: any, or node 0 only (fragment 0's first primary)",
    ),
    ParamSpec::uint(
        "suspicions",
        (0, 2),
        "1",
        "false suspicions in all (each starts a build of a node set)",
    ),
    NETWORK,
    params::lossy(true),
    VARIANT,
];

/// The protocol's entry in the catalogue.
pub const SPEC: ModelSpec = ModelSpec {
    name: NAME,
    about: "ClustRa's fragments on a circle: node sets, takeover, self-repair by fuzzy copy",
    seed: "Hvasshovd et al., \"The ClustRa Telecom Database: High Availability, High \
           Throughput, and Real-Time Response\", §3.3-§4",
    params: PARAMS,
    properties: PROPERTIES,
    given_up: &[],
    variants: VARIANTS,
    configurations: crate::checks![
        "circle/crash-any": suspicions = "0";
        "circle/four-nodes": nodes = "4", suspicions = "0";
        "circle/false-suspicion-and-crash/reliable": lossy = "false";
        "circle/two-clients/reliable": clients = "2", lossy = "false", suspicions = "0";
        deep "deep/circle/two-clients": clients = "2", suspicions = "0";
        deep "deep/circle/false-suspicion-and-crash": crash = "node0";
    ],
};

impl Config {
    /// The configuration that `params` (validated against [`PARAMS`]) describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        Ok(Config {
            variant: Variant::from_params(p)?,
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
}

/// The model's history: the decided node set with the highest id (it may have been installed
/// by a node that crashed since).
pub type History = Option<NodeSet>;
/// The model's full state.
pub type State = ActorModelState<Node, History>;
/// The model.
pub type Model = ActorModel<Node, Config, History>;

fn record_decided(_: &Config, h: &History, env: Envelope<&Msg>) -> Option<History> {
    match env.msg {
        Msg::Install { set } if h.is_none_or(|l| set.id > l.id) => Some(Some(*set)),
        _ => None,
    }
}

fn node(state: &State, i: u8) -> &ServerState {
    match &*state.actor_states[usize::from(i)] {
        NodeState::Server(s) => s,
        NodeState::Client(_) => &ServerState::Down(0),
    }
}

fn live(state: &State, i: u8) -> Option<&Live> {
    match node(state, i) {
        ServerState::Live(l) => Some(l),
        _ => None,
    }
}

fn within_boundary(cfg: &Config, state: &State) -> bool {
    let down = (0..cfg.nodes).filter(|i| matches!(node(state, *i), ServerState::Down(_))).count();
    let suspicions: u8 = (0..cfg.nodes)
        .map(|i| match node(state, i) {
            ServerState::Live(l) => l.suspicions,
            ServerState::Down(k) | ServerState::Excluded(k) => *k,
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
            ServerState::Live(_) => !latest.has(*i),
            ServerState::Down(_) | ServerState::Excluded(_) => true,
        })
        .count()
}

/// Every (fragment, update) a client has seen committed.
fn committed(cfg: &Config, state: &State) -> Vec<(u8, (u8, u8))> {
    let mut v = Vec::new();
    for (k, id) in cfg.client_ids().enumerate() {
        if let NodeState::Client(c) = &*state.actor_states[usize::from(id)] {
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
            NodeState::Client(c) if c.done == m.cfg.requests)
    });
    fragments && clients
}

/// Builds the model of configuration `cfg`.
pub fn build(cfg: Config) -> Model {
    let nodes = (0..cfg.nodes).map(|i| Node::Server(Server::new(cfg.clone(), i)));
    let clients = (0..cfg.clients).map(|k| Node::Client(Client::new(cfg.clone(), k)));
    let mut model = ActorModel::new(cfg.clone(), None)
        .actors(nodes)
        .actors(clients)
        .environment(cfg.ordered, cfg.lossy, 0)
        .record_msg_out(record_decided)
        .within_boundary(within_boundary)
        .property(Expectation::Always, "single-primary-per-epoch", single_primary_per_epoch)
        .property(Expectation::Always, "2-safety", two_safety);
    if !cfg.lossy {
        model =
            model.property(Expectation::Eventually, "fragment-availability", fragment_availability);
    }
    model
}

/// Builds the model that `params` describes and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    Ok(visitor.visit(build(Config::from_params(params)?)))
}
