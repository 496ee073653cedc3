//! Lazy primary copy's configuration, seeded-bug variants, properties and model builder.
//!
//! Actors: servers `0..servers` (server 0 the first primary, the others its secondaries), then
//! the writers and the readers. The network reorders and loses messages, and a copy sent while
//! an identical one is in flight is merged into it ([`InFlightOnce`]: the primary retransmits
//! what a secondary has not confirmed for as long as it has not, which on stateright's
//! multiset network would pile up copies without end); up to
//! `crashes` server crashes, one server down at a time, each followed by a restart from the
//! saved copy; up to `takeovers` takeovers by server 1, at any moment (a suspicion, right or
//! wrong).

use super::client::{Client, ClientState};
use super::server::{Durable, Server};
use super::{Config, Node, NodeState, Variant, WritersAt, VARIANT, VARIANTS};
use crate::history::{self, saved, within_crash_budget, Environment, Seen};
use crate::in_flight_once::InFlightOnce;
use crate::params::{self, ParamError, ParamSpec, Params, NETWORK};
use crate::services::{Register, RegisterReply};
use crate::spec::{GivenUp, ModelSpec, ModelVisitor, PropertySpec};
use stateright::actor::{ActorModel, ActorModelState, Id};
use stateright::Expectation;

/// The model's name in the catalogue.
pub const NAME: &str = "lazy-primary-copy";

/// The properties: three the protocol keeps, with a seeded bug each, and four it gives up,
/// which the checker shows (the brief's vocabulary, as in linear 2PC).
pub const PROPERTIES: &[PropertySpec] = &[
    PropertySpec {
        name: "prefix-consistency",
        about: "every server's saved copy is a prefix of the history of its epoch's primary: \
                secondaries apply the changes in the primary's commit order",
    },
    PropertySpec {
        name: "exactly-once",
        about: "no request takes effect twice in any server's copy, forwarded resends included",
    },
    PropertySpec {
        name: "convergence",
        about: "whenever every client is finished (all replies, or out of resends), every \
                server is later up, in the same epoch, with the same history (leads-to, under \
                weak fairness)",
    },
    PropertySpec {
        name: "2-safety",
        about: "every update a client saw committed is in the saved history of the serving \
                primary and of every secondary of its epoch, any of which could be promoted \
                (given up: lazy propagation is 1-safe)",
    },
    PropertySpec {
        name: "no-lost-update",
        about: "every update a client saw committed is in the saved history of the serving \
                primary, the highest epoch's: a takeover loses none (given up: what the old \
                primary had not propagated is gone)",
    },
    PropertySpec {
        name: "read-your-writes",
        about: "a writer's read of its own key returns the value it last saw written (given \
                up: a read is served by whichever copy the client reaches)",
    },
    PropertySpec {
        name: "linearizability",
        about: "the client-visible history is linearizable against the register (given up: \
                local reads of stale copies)",
    },
];

/// What the protocol gives up, and the configurations that show each.
pub const GIVEN_UP: &[GivenUp] = &[
    GivenUp {
        property: "2-safety",
        shown_by: &["primary-writer/takeover", "primary-writer/no-takeover", "reader/stale-read"],
    },
    GivenUp { property: "no-lost-update", shown_by: &["primary-writer/takeover"] },
    GivenUp { property: "read-your-writes", shown_by: &["primary-writer/takeover"] },
    GivenUp {
        property: "linearizability",
        shown_by: &["primary-writer/takeover", "reader/stale-read"],
    },
];

/// The parameters of the model, with their defaults.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec::uint("servers", (2, 3), "2", "servers: the primary and its secondaries"),
    ParamSpec::uint(
        "writers",
        (0, 2),
        "1",
        "writing clients: writer k puts into key k and reads it back, in turn",
    ),
    ParamSpec::choice(
        "home",
        &["primary", "secondary"],
        "primary",
        "the server the writers talk to first: the primary (commit there, propagate later) or \
         server 1 (forwarded to the primary)",
    ),
    ParamSpec::uint("readers", (0, 1), "0", "reading clients at the last server: read key 0"),
    params::requests(4, "2"),
    params::resends(3, "1").with_help("timer-driven resends per request, each to the next server"),
    params::crashes(2, "0").with_help(
        "server crashes in all (each followed by a restart from the saved copy; one server \
         down at a time)",
    ),
    ParamSpec::uint(
        "takeovers",
        (0, 1),
        "1",
        "takeovers by server 1, at any moment (it suspects the primary, rightly or not)",
    ),
    NETWORK,
    VARIANT,
];

/// The protocol's entry in the catalogue.
pub const SPEC: ModelSpec = ModelSpec {
    name: NAME,
    about: "lazy primary copy: commit at the primary, reply, propagate later (1-safe)",
    seed: "Ameling, Roy & Kemme, \"Replication in Service Oriented Architectures\" (ICSOFT \
           2008), §3.2.1, §3.2.3",
    params: PARAMS,
    properties: PROPERTIES,
    given_up: GIVEN_UP,
    variants: VARIANTS,
    configurations: crate::checks![
        "primary-writer/takeover": ;
        "primary-writer/no-takeover": takeovers = "0";
        "primary-writer/crash": takeovers = "0", crashes = "1";
        "secondary-writer/takeover": home = "secondary";
        "secondary-writer/three-servers": home = "secondary", servers = "3", takeovers = "0", requests = "1";
        "reader/stale-read": readers = "1", takeovers = "0", resends = "0";
        "two-writers": writers = "2", home = "secondary", requests = "1", takeovers = "0";
        deep "deep/crash-and-takeover": crashes = "1";
        deep "deep/three-servers/takeover": servers = "3", requests = "1";
        deep "deep/two-writers/crash": writers = "2", home = "secondary", requests = "1", takeovers = "0", crashes = "1";
    ],
};

impl Config {
    /// The configuration that `params` (validated against [`PARAMS`]) describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        let (writers, readers) = (p.uint("writers")? as usize, p.uint("readers")? as usize);
        if writers + readers == 0 {
            return Err(ParamError::BadValue {
                name: "writers".into(),
                value: "0".into(),
                expected: "at least 1 unless readers = 1 (the model needs a client)".into(),
            });
        }
        Ok(Config {
            variant: Variant::from_params(p)?,
            servers: p.uint("servers")? as usize,
            writers,
            writers_at: match p.choice("home")? {
                "secondary" => WritersAt::Secondary,
                _ => WritersAt::Primary,
            },
            readers,
            requests: p.uint("requests")? as usize,
            resends: p.uint("resends")? as u8,
            crashes: p.uint("crashes")? as usize,
            takeovers: p.uint("takeovers")? as u8,
            ordered: p.choice("network")? == "ordered",
        })
    }
}

/// The client-visible history (one slot per client).
pub type History = crate::history::History<Id, Register>;
/// The model's full state.
pub type State = ActorModelState<Node, History>;
/// The model.
pub type Model = ActorModel<Node, Config, History>;

fn within_boundary(cfg: &Config, state: &State) -> bool {
    let restarts = (0..cfg.servers).filter_map(|i| saved(state, i).map(|d| d.restarts));
    within_crash_budget(&state.crashed, cfg.servers, restarts, |_| true, cfg.crashes)
}

// ---- Properties -------------------------------------------------------------------------

fn client(state: &State, id: Id) -> Option<&ClientState> {
    match &*state.actor_states[usize::from(id)] {
        NodeState::Client(c) => Some(c),
        NodeState::Server(_) => None,
    }
}

/// The saved copies, by server.
fn copies<'a>(cfg: &Config, state: &'a State) -> impl Iterator<Item = (usize, &'a Durable)> + 'a {
    (0..cfg.servers).filter_map(move |i| saved(state, i).map(|d| (i, d)))
}

/// The serving primary: the server that is primary in the highest epoch of a saved copy.
fn authority<'a>(cfg: &Config, state: &'a State) -> Option<(usize, &'a Durable)> {
    copies(cfg, state).filter(|(i, d)| d.primary == *i).max_by_key(|(_, d)| d.epoch)
}

/// Every update a writer saw committed: (client, seq) (a writer's even-numbered requests).
fn acknowledged_updates(cfg: &Config, state: &State) -> Vec<(Id, u32)> {
    let writers = cfg.client_ids().take(cfg.writers);
    writers
        .filter_map(|id| client(state, id).map(|c| (id, c.replies.len())))
        .flat_map(|(id, n)| (0..n).step_by(2).map(move |i| (id, i as u32)))
        .collect()
}

fn prefix_consistency(m: &Model, state: &State) -> bool {
    let all: Vec<_> = copies(&m.cfg, state).collect();
    all.iter().filter(|(i, d)| d.primary == *i).all(|(_, p)| {
        all.iter()
            .filter(|(_, d)| d.epoch == p.epoch)
            .all(|(_, d)| d.log.len() <= p.log.len() && d.log.agrees_on_prefix(&p.log, d.log.len()))
    })
}

fn exactly_once(m: &Model, state: &State) -> bool {
    copies(&m.cfg, state).all(|(_, d)| !d.log.has_duplicates())
}

/// 2-safety: no-lost-update, and every acknowledged update also at every secondary of the
/// serving primary's epoch (any of which could be promoted).
fn two_safety(m: &Model, state: &State) -> bool {
    let Some((a, ad)) = authority(&m.cfg, state) else {
        return true;
    };
    let holds = |d: &Durable, (c, q): (Id, u32)| d.log.scan(c, 1, q).is_some();
    let secondaries: Vec<&Durable> = copies(&m.cfg, state)
        .filter(|(i, d)| *i != a && d.epoch == ad.epoch)
        .map(|(_, d)| d)
        .collect();
    no_lost_update(m, state)
        && acknowledged_updates(&m.cfg, state)
            .into_iter()
            .all(|k| secondaries.iter().all(|d| holds(d, k)))
}

fn no_lost_update(m: &Model, state: &State) -> bool {
    let Some((_, ad)) = authority(&m.cfg, state) else {
        return true;
    };
    acknowledged_updates(&m.cfg, state).into_iter().all(|(c, q)| ad.log.scan(c, 1, q).is_some())
}

fn read_your_writes(m: &Model, state: &State) -> bool {
    m.cfg.client_ids().take(m.cfg.writers).all(|id| {
        client(state, id).is_none_or(|c| {
            c.replies
                .iter()
                .enumerate()
                .skip(1)
                .step_by(2)
                .all(|(i, r)| *r == RegisterReply::GetOk(Some(i.div_ceil(2) as u8)))
        })
    })
}

fn linearizability(_: &Model, state: &State) -> bool {
    state.history.is_linearizable()
}

/// The trigger of convergence: every client is finished — it has all its replies, or it is
/// out of resends (a request or reply of it may still be in flight: then it is finished again
/// later, and convergence is owed again).
fn clients_finished(m: &Model, state: &State) -> bool {
    m.cfg.client_ids().all(|id| {
        client(state, id).is_none_or(|c| c.replies.len() >= m.cfg.requests || c.resends_left == 0)
    })
}

/// Converged: every server up, in the same epoch, with the same history.
fn convergence(m: &Model, state: &State) -> bool {
    let up = state.crashed.iter().all(|c| !c);
    let mut all = copies(&m.cfg, state).map(|(_, d)| (d.epoch, &d.log));
    let first = all.next();
    up && first.is_some_and(|(e, l)| all.all(|(e2, l2)| e2 == e && l2.iter().eq(l.iter())))
}

/// Builds the model of configuration `cfg`.
pub fn build(cfg: Config) -> Model {
    let servers = (0..cfg.servers).map(|i| Node::Server(Server::new(cfg.clone(), i)));
    let clients = (0..cfg.writers + cfg.readers).map(|k| Node::Client(Client::new(cfg.clone(), k)));
    ActorModel::new(cfg.clone(), History::new())
        .actors(servers)
        .actors(clients)
        .environment(cfg.ordered, true, cfg.crashes.min(1))
        .record_msg_out(|cfg, h, env| history::record(h, env, Seen::Sent, cfg.servers, |c, _| c))
        .record_msg_in(|cfg, h, env| {
            history::record(h, env, Seen::Delivered, cfg.servers, |c, _| c)
        })
        .within_boundary(within_boundary)
        .property(Expectation::Always, "prefix-consistency", prefix_consistency)
        .property(Expectation::Always, "exactly-once", exactly_once)
        .property(Expectation::Eventually, "convergence", convergence)
        .property(Expectation::Sometimes, "convergence/when", clients_finished)
        .property(Expectation::Always, "2-safety", two_safety)
        .property(Expectation::Always, "no-lost-update", no_lost_update)
        .property(Expectation::Always, "read-your-writes", read_your_writes)
        .property(Expectation::Always, "linearizability", linearizability)
}

/// Builds the model that `params` describes, on the network where a message is in flight at
/// most once, and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    Ok(visitor.visit(InFlightOnce::new(build(Config::from_params(params)?))))
}
