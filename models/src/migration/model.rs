//! The migration model's configuration, seeded-bug variants, properties and builder.
//!
//! Actors: servers `0..servers` (server 0 runs every process at first and is being shut
//! down), the planner (id `servers`), then the clients. The network reorders and, if `lossy`,
//! loses messages; at most `crashes` server crashes happen, one server down at a time, each
//! followed by a restart from the server's durable state.

use super::client::Client;
use super::msg::Msg;
use super::planner::Planner;
use super::server::{Replica, Role, Server};
use super::SESSION;
use super::{Config, CrashTarget, Node, NodeState, ProcessId, Variant, VARIANT, VARIANTS};
use crate::history::{self, saved, within_crash_budget, ClientMessage, Environment, Seen, FOREVER};
use crate::params::{self, ParamError, ParamSpec, Params, NETWORK};
use crate::services::Service;
use crate::spec::{ModelSpec, PropertySpec};
use stateright::actor::{ActorModel, ActorModelState, Envelope, Id};
use stateright::Expectation;

/// The model's name in the catalogue.
pub const NAME: &str = "migration";

/// The properties.
pub const PROPERTIES: &[PropertySpec] = &[
    PropertySpec {
        name: "migration-atomicity",
        about: "every process is always owned (durably primary, or handed over and not yet \
                confirmed) by some server, and is never primary on two servers",
    },
    PropertySpec {
        name: "2-safety",
        about: "every update a client saw committed is durable at the process's owner",
    },
    PropertySpec {
        name: "exactly-once",
        about: "no request takes effect twice in any history; every acknowledged update is in \
                the owner's history once, with the reply the client got",
    },
    PropertySpec {
        name: "linearizability",
        about: "each process's client-visible history is linearizable against the service",
    },
    PropertySpec {
        name: "liveness",
        about: "the source is eventually drained, every process runs on its target, and every \
                client gets all its replies (checked on reliable networks)",
    },
];

/// The parameters of the model, with their defaults.
pub const PARAMS: &[ParamSpec] = &[
    params::service(&["counter", "register"], "counter")
        .with_help("replicated application (counter: increments are not idempotent)"),
    ParamSpec::uint("servers", (2, 3), "2", "servers: 0 is shut down, the others are targets"),
    ParamSpec::uint(
        "processes",
        (1, 2),
        "1",
        "processes on server 0, each migrated to a target the planner chooses",
    ),
    params::clients(3, "1").with_help("clients; client k uses process k mod processes"),
    params::requests(3, "2"),
    params::resends_or_forever(3, "1"),
    ParamSpec {
        name: "reorders",
        kind: params::ParamKind::Budget { max: 3 },
        default: "1",
        help: "timer-driven resends of the planner's order (each resends what every \
               migration waits on), or forever (with resends=forever)",
    },
    params::crashes(2, "1")
        .with_help("server crashes in all (each followed by a restart; one server down at a time)"),
    ParamSpec::choice(
        "crash",
        &["source", "target", "any"],
        "any",
        "which servers may crash: the source (0), the targets, or any",
    ),
    NETWORK,
    params::lossy(true),
    VARIANT,
];

/// The protocol's entry in the catalogue.
pub const SPEC: ModelSpec = ModelSpec {
    name: NAME,
    about: "process migration by upgrade, switch and degrade; the planner's migrate_all",
    seed: "Hagen & Alonso, \"Backup and Process Migration Mechanisms in Process Support \
           Systems\" (OPERA), §4, Fig. 2",
    params: PARAMS,
    properties: PROPERTIES,
    given_up: &[],
    variants: VARIANTS,
    configurations: crate::checks![
        "migrate/crash-source": crash = "source";
        "migrate/crash-target": crash = "target";
        "migrate/register-reader": service = "register", clients = "2", requests = "1", reorders = "0";
        "migrate/reliable": lossy = "false";
        "migrate-all/crash-source": servers = "3", processes = "2", requests = "1", reorders = "0", crash = "source";
        "migrate-all/crash-target": servers = "3", processes = "2", requests = "1", reorders = "0", crash = "target";
        "migrate-all/reliable": servers = "3", processes = "2", requests = "1", reorders = "0", lossy = "false";
        "migrate/resend-forever": resends = "forever", reorders = "forever", crashes = "0", requests = "1";
        "migrate/resend-forever/crash-target": resends = "forever", reorders = "forever", crash = "target", requests = "1";
        deep "deep/migrate/resend-forever/crash-source": resends = "forever", reorders = "forever", crash = "source", requests = "1";
        deep "deep/migrate-all/two-clients-crash-source": servers = "3", processes = "2", clients = "2", requests = "1", reorders = "0", crash = "source";
    ],
};

impl Config {
    /// The configuration that `params` (validated against [`PARAMS`]) describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        Ok(Config {
            variant: Variant::from_params(p)?,
            servers: p.uint("servers")? as usize,
            processes: p.uint("processes")? as usize,
            clients: p.uint("clients")? as usize,
            requests: p.uint("requests")? as usize,
            resends: p.resends()?,
            reorders: match p.budget("reorders")? {
                FOREVER if p.resends()? != FOREVER => {
                    return Err(ParamError::BadValue {
                        name: "reorders".into(),
                        value: params::FOREVER_WORD.into(),
                        expected: "an integer unless resends = forever".into(),
                    })
                }
                r => r,
            },
            crashes: p.uint("crashes")? as usize,
            crash: match p.choice("crash")? {
                "source" => CrashTarget::Source,
                "target" => CrashTarget::Target,
                _ => CrashTarget::Any,
            },
            ordered: p.choice("network")? == "ordered",
            lossy: p.bool("lossy")?,
        })
    }

    fn may_crash(&self, server: usize) -> bool {
        match self.crash {
            CrashTarget::Source => server == 0,
            CrashTarget::Target => server != 0,
            CrashTarget::Any => true,
        }
    }
}

/// The client-visible histories, one per process.
pub type History<S> = Vec<history::History<Id, S>>;
/// The model's full state.
pub type State<S> = ActorModelState<Node<S>, History<S>>;
/// The model.
pub type Model<S> = ActorModel<Node<S>, Config, History<S>>;

type M<S> = Msg<<S as Service>::Op, <S as Service>::Reply>;

fn record_out<S: Service>(
    cfg: &Config, h: &History<S>, env: Envelope<&M<S>>,
) -> Option<History<S>> {
    let (p, ..) = env.msg.request()?;
    at_process(h, p, |hp| history::record(hp, env, Seen::Sent, cfg.servers + 1, |c, _| c))
}

fn record_in<S: Service>(cfg: &Config, h: &History<S>, env: Envelope<&M<S>>) -> Option<History<S>> {
    let (p, ..) = env.msg.reply()?;
    at_process(h, p, |hp| history::record(hp, env, Seen::Delivered, cfg.servers + 1, |c, _| c))
}

/// The histories with process `p`'s replaced by what `f` makes of it, if anything.
fn at_process<S: Service>(
    h: &History<S>, p: usize,
    f: impl FnOnce(&history::History<Id, S>) -> Option<history::History<Id, S>>,
) -> Option<History<S>> {
    let next = f(h.get(p)?)?;
    let mut n = h.clone();
    n[p] = next;
    Some(n)
}

fn within_boundary<S: Service>(cfg: &Config, state: &State<S>) -> bool {
    let restarts = (0..cfg.servers).filter_map(|i| saved(state, i).map(|d| d.restarts));
    within_crash_budget(&state.crashed, cfg.servers, restarts, |i| cfg.may_crash(i), cfg.crashes)
}

// ---- Properties -------------------------------------------------------------------------

type Rep<S> = Replica<<S as Service>::Op, <S as Service>::Reply>;

/// Every server's saved replica of process `p`, with the server's index.
fn replicas<'a, S: Service>(
    cfg: &Config, state: &'a State<S>, p: ProcessId,
) -> Vec<(usize, &'a Rep<S>)> {
    (0..cfg.servers)
        .filter_map(|i| saved(state, i).and_then(|d| d.replicas.get(&p)).map(|r| (i, r)))
        .collect()
}

/// P's owner: the server durably primary of it or, between a switch request and its
/// confirmation, the source handing it over.
fn owner<'a, S: Service>(cfg: &Config, state: &'a State<S>, p: ProcessId) -> Option<&'a Rep<S>> {
    let reps = replicas(cfg, state, p);
    let find = |role| reps.iter().find(|(_, r)| r.role == role).map(|(_, r)| *r);
    find(Role::Primary).or_else(|| find(Role::Handing))
}

/// A reply a client received: (process, client, seq, op, reply).
type Acked<S> = (ProcessId, Id, u32, <S as Service>::Op, <S as Service>::Reply);

/// Every (process, client, seq, op, reply) a client has received a reply for.
fn acknowledged<S: Service>(cfg: &Config, state: &State<S>) -> Vec<Acked<S>> {
    let mut acked = Vec::new();
    for (k, id) in cfg.client_ids().enumerate() {
        if let NodeState::Client(c) = &*state.actor_states[usize::from(id)] {
            let p = (k % cfg.processes) as ProcessId;
            for (seq, reply) in c.replies.iter().enumerate() {
                acked.push((p, id, seq as u32, S::workload(k, seq), reply.clone()));
            }
        }
    }
    acked
}

fn migration_atomicity<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    (0..m.cfg.processes as ProcessId).all(|p| {
        let reps = replicas(&m.cfg, state, p);
        let primaries = reps.iter().filter(|(_, r)| r.role == Role::Primary).count();
        primaries <= 1 && owner(&m.cfg, state, p).is_some()
    })
}

fn two_safety<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    acknowledged(&m.cfg, state).iter().filter(|(_, _, _, op, _)| S::changes_state(op)).all(
        |(p, c, seq, _, _)| {
            owner(&m.cfg, state, *p).is_some_and(|r| r.log.find(*c, SESSION, *seq).is_some())
        },
    )
}

fn exactly_once<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let no_duplicates = (0..m.cfg.servers)
        .filter_map(|i| saved(state, i))
        .flat_map(|d| d.replicas.values())
        .all(|r| !r.log.has_duplicates());
    no_duplicates
        && acknowledged(&m.cfg, state).iter().filter(|(_, _, _, op, _)| S::changes_state(op)).all(
            |(p, c, seq, _, reply)| {
                owner(&m.cfg, state, *p)
                    .and_then(|r| r.log.find(*c, SESSION, *seq))
                    .is_some_and(|e| e.reply == *reply)
            },
        )
}

fn linearizability<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    state.history.iter().all(|h| h.is_linearizable())
}

fn liveness<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let clients_done = m.cfg.client_ids().all(|id| {
        matches!(&*state.actor_states[usize::from(id)],
            NodeState::Client(c) if c.replies.len() == m.cfg.requests)
    });
    let planner_done = matches!(&*state.actor_states[m.cfg.servers],
        NodeState::Planner(pl) if pl.drained);
    let placed = Planner::<S>::targets(&m.cfg).into_iter().all(|(p, t)| {
        saved(state, usize::from(t))
            .and_then(|d| d.replicas.get(&p))
            .is_some_and(|r| r.role == Role::Primary)
    });
    clients_done && planner_done && placed
}

/// Builds the model of configuration `cfg` over service `S`.
pub fn build<S: Service>(cfg: Config) -> Model<S> {
    let servers = (0..cfg.servers).map(|_| Node::Server(Server::new(cfg.clone())));
    let clients = (0..cfg.clients).map(|k| Node::Client(Client::new(cfg.clone(), k)));
    let histories = vec![history::History::<Id, S>::new(); cfg.processes];
    let mut model = ActorModel::new(cfg.clone(), histories)
        .actors(servers)
        .actor(Node::Planner(Planner::new(cfg.clone())))
        .actors(clients)
        .environment(cfg.ordered, cfg.lossy, cfg.crashes.min(1))
        .record_msg_out(record_out::<S>)
        .record_msg_in(record_in::<S>)
        .within_boundary(within_boundary::<S>)
        .property(Expectation::Always, "migration-atomicity", migration_atomicity::<S>)
        .property(Expectation::Always, "2-safety", two_safety::<S>)
        .property(Expectation::Always, "exactly-once", exactly_once::<S>)
        .property(Expectation::Always, "linearizability", linearizability::<S>);
    if !cfg.lossy || cfg.resends == FOREVER && cfg.reorders == FOREVER {
        model = model.property(Expectation::Eventually, "liveness", liveness::<S>);
    }
    model
}

crate::visit_over_service!(in_flight_once if cfg => cfg.resends == FOREVER);
