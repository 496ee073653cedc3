//! The transactions model: configuration, seeded bugs, properties, model builder. Server 0
//! is the primary, server 1 the backup, then the clients; each client runs one transaction of
//! `ops` updates and its commit, restarting it when told of a new primary. Failure detection
//! is accurate, as in logical checkpointing.

use super::client::Client;
use super::msg::Item;
use super::server::{Durable, Role, Server, ServerState, Txn};
use super::{Config, Mode, Node, NodeState, Variant, SERVERS, VARIANT, VARIANTS};
use crate::history::{saved, PairFaults};
use crate::params::{self, ParamError, ParamSpec, Params, CRASH, NETWORK};
use crate::services::Service;
use crate::spec::{ModelSpec, PropertySpec};
use stateright::actor::{ActorModel, ActorModelState, Id};
use stateright::Expectation;

/// The model's name in the catalogue.
pub const NAME: &str = "transactions";

/// The properties.
pub const PROPERTIES: &[PropertySpec] = &[
    PropertySpec {
        name: "transaction-atomicity",
        about: "a transaction's requests take effect all or none: every committed transaction \
                has all its requests",
    },
    PropertySpec {
        name: "serial-equivalence",
        about: "the servers commit the same transactions in the same order (one history is a \
                prefix of the other)",
    },
    PropertySpec {
        name: "2-safety",
        about: "a transaction a client saw committed is durable at the serving server and, while \
                there is one, at the backup",
    },
    PropertySpec { name: "exactly-once", about: "no transaction commits twice at any server" },
];

/// The parameters.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec::choice(
        "mode",
        &["batch", "entry"],
        "entry",
        "checkpoint the transaction as a batch (5B) or entry by entry (5C)",
    ),
    params::service(&["counter", "register"], "counter"),
    params::clients(3, "1").with_help("clients, one transaction each"),
    ParamSpec::uint("ops", (1, 3), "2", "updates per transaction"),
    params::resends(3, "1").with_help("resends per request"),
    params::crashes(2, "1").with_help("server crashes in all"),
    CRASH,
    NETWORK,
    params::lossy(true),
    VARIANT,
];

/// The protocol's entry in the catalogue.
pub const SPEC: ModelSpec = ModelSpec {
    name: NAME,
    about: "transactions under logical checkpointing: batch (5B) and entry by entry (5C)",
    seed:
        "Patent, \"Fault tolerance using logical checkpointing in computing systems\", Fig. 5A-5C",
    params: PARAMS,
    properties: PROPERTIES,
    variants: VARIANTS,
    configurations: crate::checks![
        "entry": mode = "entry";
        "batch": mode = "batch";
        "entry/two-clients": mode = "entry", clients = "2", ops = "1", crashes = "0";
        deep "deep/entry/two-clients-two-ops": mode = "entry", clients = "2", crashes = "0";
        "batch/two-clients": mode = "batch", clients = "2", crashes = "0";
    ],
};

impl Config {
    /// The configuration `p` describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        Ok(Config {
            variant: Variant::from_params(p)?,
            mode: if p.choice("mode")? == "batch" { Mode::Batch } else { Mode::Entry },
            clients: p.uint("clients")? as usize,
            ops: p.uint("ops")? as usize,
            resends: p.uint("resends")? as u8,
            faults: PairFaults::from_params(p)?,
        })
    }
}

/// The model's state.
pub type State<S> = ActorModelState<Node<S>>;
/// The model.
pub type Model<S> = ActorModel<Node<S>, Config>;

fn server<S: Service>(state: &State<S>, i: usize) -> Option<&ServerState<S>> {
    match &*state.actor_states[i] {
        NodeState::Server(s) if !state.crashed[i] => Some(s),
        _ => None,
    }
}

fn within_boundary<S: Service>(cfg: &Config, state: &State<S>) -> bool {
    let primaries = (0..SERVERS)
        .filter(|i| server(state, *i).is_some_and(|s| s.d.role == Role::Primary))
        .count();
    let restarts = (0..SERVERS).filter_map(|i| saved(state, i).map(|d| d.restarts));
    primaries <= 1 && cfg.faults.allow(&state.crashed, restarts)
}

fn histories<S: Service>(state: &State<S>) -> Vec<&[Txn<S::Op, S::Reply>]> {
    (0..SERVERS).filter_map(|i| saved(state, i).map(|d| d.history.as_slice())).collect()
}

fn transaction_atomicity<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    histories(state).iter().all(|h| h.iter().all(|t| t.ops.len() == m.cfg.ops))
}

fn serial_equivalence<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    let hs = histories(state);
    hs.iter().enumerate().all(|(i, a)| {
        hs[i + 1..].iter().all(|b| {
            let n = a.len().min(b.len());
            a[..n] == b[..n]
        })
    })
}

fn holds<S: Service>(d: &Durable<S::Op, S::Reply>, c: Id) -> bool {
    d.history.iter().any(|t| t.client == c)
        || d.log.values().any(|(item, _)| matches!(item, Item::Batch { client, .. } | Item::CommitRecord { client } if *client == c))
}

fn two_safety<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let Some(a) = (0..SERVERS)
        .filter_map(|i| saved(state, i))
        .filter(|d| d.role != Role::Spare)
        .max_by_key(|d| (d.epoch, d.role == Role::Primary))
    else {
        return false;
    };
    m.cfg.client_ids().all(|c| {
        let acked = matches!(&*state.actor_states[usize::from(c)], NodeState::Client(s) if s.committed.is_some());
        !acked || (holds::<S>(a, c) && (a.epoch > 0 || saved(state, 1).is_some_and(|b| holds::<S>(b, c))))
    })
}

fn exactly_once<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    histories(state)
        .iter()
        .all(|h| m.cfg.client_ids().all(|c| h.iter().filter(|t| t.client == c).count() <= 1))
}

/// Builds the model of `cfg` over service `S`.
pub fn build<S: Service>(cfg: Config) -> Model<S> {
    cfg.faults
        .apply(ActorModel::new(cfg.clone(), ()))
        .actors((0..SERVERS).map(|_| Node::Server(Server::new(cfg.clone()))))
        .actors((0..cfg.clients).map(|k| Node::Client(Client::new(cfg.clone(), k))))
        .within_boundary(within_boundary::<S>)
        .property(Expectation::Always, "transaction-atomicity", transaction_atomicity::<S>)
        .property(Expectation::Always, "serial-equivalence", serial_equivalence::<S>)
        .property(Expectation::Always, "2-safety", two_safety::<S>)
        .property(Expectation::Always, "exactly-once", exactly_once::<S>)
}

crate::visit_over_service!();
