//! Online schema evolution's configuration, seeded-bug variants, properties and model
//! builder.
//!
//! Actors: the server (0), the converter (1), then the clients. The network reorders
//! messages and, if `lossy`, loses them, and a copy sent while an identical one is in flight
//! is merged into it ([`InFlightOnce`]: the converter polls for as long as the conversion
//! runs); up to `crashes` crashes of the processes `crash` names, one down at a time, each
//! followed by a restart (the server from its saved database, the converter from nothing).

use super::client::{Client, ClientState};
use super::converter::Converter;
use super::server::{Durable, Phase, Server};
use super::{Config, Node, NodeState, Saved, Variant, PROCESSES, SERVER, VARIANT, VARIANTS};
use crate::history::{saved, within_crash_budget, Environment};
use crate::in_flight_once::InFlightOnce;
use crate::params::{self, ParamError, ParamSpec, Params, NETWORK};
use crate::spec::{ModelSpec, ModelVisitor, PropertySpec};
use stateright::actor::{ActorModel, ActorModelState};
use stateright::Expectation;

/// The model's name in the catalogue.
pub const NAME: &str = "schema-evolution";

/// The properties, each with a seeded bug.
pub const PROPERTIES: &[PropertySpec] = &[
    PropertySpec {
        name: "no-lost-update",
        about: "the serving table (the original before the switch, the new one after, read \
                through the policy) holds every update a client saw acknowledged: each \
                client's tuple is what its requests give, taken once each in order, up to at \
                least the last one answered",
    },
    PropertySpec {
        name: "equivalence",
        about: "at the switch (the new version installed, nothing run on it yet), the new \
                table is the policy's conversion of the original table's final state",
    },
    PropertySpec {
        name: "exactly-once",
        about: "every request, trapped and replayed ones included, takes effect at most once \
                (each client's tuple is what its requests give, taken once each, up to at most \
                the one outstanding), and every reply is the one its single execution gives",
    },
    PropertySpec {
        name: "switch-condition",
        about: "the switch runs only while the pending tuples can be converted within the \
                switch time (N·X < T)",
    },
    PropertySpec {
        name: "switch-completes",
        about: "the new version eventually serves, every trapped request replayed (under weak \
                fairness: crashes and losses are not owed)",
    },
];

/// The parameters of the model, with their defaults.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec::uint("writers", (1, 2), "1", "clients: client k inserts, adds to, deletes key k"),
    params::requests(4, "2"),
    params::resends(2, "1"),
    params::crashes(2, "0").with_help(
        "crashes in all, of the processes `crash` names (each followed by a restart; one down \
         at a time)",
    ),
    ParamSpec::choice(
        "crash",
        &["server", "converter", "any"],
        "any",
        "which process may crash: the server (restarts from its saved database) or the \
         converter (restarts from nothing)",
    ),
    ParamSpec::uint(
        "switch",
        (1, 3),
        "1",
        "T, the switch time, in conversions of one tuple: the switch starts when N < T",
    ),
    params::lossy(true),
    NETWORK,
    VARIANT,
];

/// The protocol's entry in the catalogue.
pub const SPEC: ModelSpec = ModelSpec {
    name: NAME,
    about: "online schema evolution: capture, convert, switch when N·X < T, trap and recover",
    seed: "Chen, Jeng, Huang & Lin, \"Design and Implementation of Database Schema Evolution \
           for Service Continuity of Web-based Internet Applications\", §III, §IV-B",
    params: PARAMS,
    properties: PROPERTIES,
    given_up: &[],
    variants: VARIANTS,
    configurations: crate::checks![
        "one-client": ;
        "one-client/server-crash": crashes = "1", crash = "server";
        "one-client/converter-crash": crashes = "1", crash = "converter";
        "insert-add-delete": requests = "3", resends = "0";
        "insert-add-delete/server-crash": requests = "3", resends = "0", crashes = "1", crash = "server";
        "two-clients": writers = "2", requests = "1";
        "two-clients/drain-during-switch": writers = "2", switch = "2", resends = "0", lossy = "false";
        deep "deep/two-clients/server-crash": writers = "2", requests = "1", crashes = "1", crash = "server";
        deep "deep/two-clients/converter-crash": writers = "2", requests = "1", crashes = "1", crash = "converter";
    ],
};

impl Config {
    /// The configuration that `params` (validated against [`PARAMS`]) describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        let crash = p.choice("crash")?;
        Ok(Config {
            variant: Variant::from_params(p)?,
            writers: p.uint("writers")? as usize,
            requests: p.uint("requests")? as usize,
            resends: p.uint("resends")? as u8,
            crashes: p.uint("crashes")? as usize,
            may_crash: [crash != "converter", crash != "server"],
            switch: p.uint("switch")? as usize,
            lossy: p.bool("lossy")?,
            ordered: p.choice("network")? == "ordered",
        })
    }
}

/// The model's state (no ghost history: the properties read the tables and the clients).
pub type State = ActorModelState<Node, ()>;
/// The model.
pub type Model = ActorModel<Node, Config, ()>;

fn within_boundary(cfg: &Config, state: &State) -> bool {
    let restarts = (0..PROCESSES).filter_map(|i| saved(state, i).map(Saved::restarts));
    within_crash_budget(&state.crashed, PROCESSES, restarts, |i| cfg.may_crash[i], cfg.crashes)
}

// ---- Properties -------------------------------------------------------------------------

/// The server's saved database.
fn database(state: &State) -> Option<&Durable> {
    match saved(state, SERVER)? {
        Saved::Server(d) => Some(d),
        Saved::Converter { .. } => None,
    }
}

/// The clients, with their numbers.
fn clients<'a>(cfg: &Config, state: &'a State) -> impl Iterator<Item = (usize, &'a ClientState)> {
    (0..cfg.writers).filter_map(move |k| match &*state.actor_states[PROCESSES + k] {
        NodeState::Client(c) => Some((k, c)),
        _ => None,
    })
}

/// Whether client `k`'s tuple in the serving table is what its first `n` requests give, for
/// some `n` in `lo..=hi` (`lo` the requests answered, `hi` those issued).
fn tuple_within(m: &Model, state: &State, lo: bool, hi: bool) -> bool {
    let Some(d) = database(state) else {
        return true;
    };
    clients(&m.cfg, state).all(|(k, c)| {
        let answered = c.replies.len();
        let issued = (answered + 1).min(m.cfg.requests);
        let from = if lo { answered } else { 0 };
        let to = if hi { issued } else { m.cfg.requests };
        let row = d.serving(k as u8);
        (from..=to).any(|n| m.cfg.after(k, n) == row)
    })
}

fn no_lost_update(m: &Model, state: &State) -> bool {
    tuple_within(m, state, true, false)
}

fn exactly_once(m: &Model, state: &State) -> bool {
    let replies_right = clients(&m.cfg, state).all(|(k, c)| {
        c.replies
            .iter()
            .enumerate()
            .all(|(i, r)| *r == m.cfg.workload(k, i).apply(m.cfg.after(k, i)).1)
    });
    replies_right && tuple_within(m, state, false, true)
}

fn equivalence(_: &Model, state: &State) -> bool {
    database(state).is_none_or(|d| {
        d.phase != (Phase::Recover { replayed: 0 })
            || d.new.iter().map(|(k, r)| (*k, r.logical())).eq(d.old.iter().map(|(k, v)| (*k, *v)))
    })
}

fn switch_condition(m: &Model, state: &State) -> bool {
    database(state).is_none_or(|d| d.phase != Phase::Switch || d.pending() < m.cfg.switch)
}

fn switch_completes(_: &Model, state: &State) -> bool {
    database(state).is_some_and(|d| d.phase == Phase::Live)
}

/// Builds the model of configuration `cfg`.
pub fn build(cfg: Config) -> Model {
    // Actor ids: the server (`SERVER`), the converter (`CONVERTER`), then the clients.
    let clients = (0..cfg.writers).map(|k| Node::Client(Client::new(cfg.clone(), k)));
    ActorModel::new(cfg.clone(), ())
        .actor(Node::Server(Server::new(cfg.clone())))
        .actor(Node::Converter(Converter::new(cfg.clone())))
        .actors(clients)
        .environment(cfg.ordered, cfg.lossy, cfg.crashes.min(1))
        .within_boundary(within_boundary)
        .property(Expectation::Always, "no-lost-update", no_lost_update)
        .property(Expectation::Always, "equivalence", equivalence)
        .property(Expectation::Always, "exactly-once", exactly_once)
        .property(Expectation::Always, "switch-condition", switch_condition)
        .property(Expectation::Eventually, "switch-completes", switch_completes)
}

/// Builds the model that `params` describes, on the network where a message is in flight at
/// most once, and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    Ok(visitor.visit(InFlightOnce::new(build(Config::from_params(params)?))))
}
