//! The migration model's configuration, seeded-bug variants, properties and builder.
//!
//! Actors: servers `0..servers` (server 0 runs every process at first and is being shut
//! down), the planner (id `servers`), then the clients. The network reorders and, if `lossy`,
//! loses messages; at most `crashes` server crashes happen, one server down at a time, each
//! followed by a restart from the server's durable state.

use super::client::{Client, ClientState};
use super::planner::{Planner, PlannerState};
use super::server::{Durable, Replica, Role, Server, ServerState};
use super::{Msg, ProcessId};
use crate::catalogue::{ModelVisitor, PropertySpec, VariantSpec};
use crate::history::{network, within_crash_budget};
use crate::params::{ParamError, ParamKind, ParamSpec, Params, LOSSY, NETWORK};
use crate::service::{Counter, Register, Service};
use serde::{Deserialize, Serialize};
use stateright::actor::{ActorModel, ActorModelState, Envelope, Id};
use stateright::Expectation;

pub use stateright::actor::model_timeout;

/// The model's name in the catalogue.
pub const NAME: &str = "migration";

/// The protocol as specified, or one seeded bug.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Variant {
    /// The protocol of specs/migration.md.
    Correct,
    /// The source switches as soon as the copy is installed, although P ran on meanwhile.
    SwitchBeforeCurrent,
    /// The source deletes P as it asks the target to take over, before the target confirms.
    DegradeBeforeSwitch,
    /// The source asks the target to take over but does not stop executing P first.
    SwitchWithoutStopping,
    /// A source that deleted P keeps no forwarding address for its clients.
    NoForwarding,
}

/// The seeded-bug variants, with the property each one must break.
pub const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "correct",
        about: "the protocol as specified",
        breaks: &[],
    },
    VariantSpec {
        name: "switch-before-current",
        about: "the switch happens once the copy is installed, before the target is current",
        breaks: &["2-safety", "exactly-once"],
    },
    VariantSpec {
        name: "degrade-before-switch",
        about: "the source deletes P before the target has confirmed it runs P",
        breaks: &["migration-atomicity"],
    },
    VariantSpec {
        name: "switch-without-stopping",
        about: "the source asks the target to take over without stopping P first",
        breaks: &["migration-atomicity"],
    },
    VariantSpec {
        name: "no-forwarding",
        about: "the source keeps no forwarding address once P has moved",
        breaks: &["liveness"],
    },
];

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
    ParamSpec {
        name: "service",
        kind: ParamKind::Choice(&["counter", "register"]),
        default: "counter",
        help: "replicated application (counter: increments are not idempotent)",
    },
    ParamSpec {
        name: "servers",
        kind: ParamKind::UInt { min: 2, max: 3 },
        default: "2",
        help: "servers: 0 is shut down, the others are targets",
    },
    ParamSpec {
        name: "processes",
        kind: ParamKind::UInt { min: 1, max: 2 },
        default: "1",
        help: "processes on server 0, each migrated to a target the planner chooses",
    },
    ParamSpec {
        name: "clients",
        kind: ParamKind::UInt { min: 1, max: 3 },
        default: "1",
        help: "clients; client k uses process k mod processes",
    },
    ParamSpec {
        name: "requests",
        kind: ParamKind::UInt { min: 0, max: 3 },
        default: "2",
        help: "requests per client (one outstanding at a time)",
    },
    ParamSpec {
        name: "resends",
        kind: ParamKind::UInt { min: 0, max: 3 },
        default: "1",
        help: "timer-driven resends per request",
    },
    ParamSpec {
        name: "reorders",
        kind: ParamKind::UInt { min: 0, max: 3 },
        default: "1",
        help: "timer-driven resends of the planner's order (each resends what every \
               migration waits on)",
    },
    ParamSpec {
        name: "crashes",
        kind: ParamKind::UInt { min: 0, max: 2 },
        default: "1",
        help: "server crashes in all (each followed by a restart; one server down at a time)",
    },
    ParamSpec {
        name: "crash",
        kind: ParamKind::Choice(&["source", "target", "any"]),
        default: "any",
        help: "which servers may crash: the source (0), the targets, or any",
    },
    NETWORK,
    LOSSY,
    ParamSpec {
        name: "variant",
        kind: ParamKind::Choice(&[
            "correct",
            "switch-before-current",
            "degrade-before-switch",
            "switch-without-stopping",
            "no-forwarding",
        ]),
        default: "correct",
        help: "the protocol or a seeded bug",
    },
];

/// Which servers the model may crash.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum CrashTarget {
    /// Server 0, the source.
    Source,
    /// The targets.
    Target,
    /// Any server (one at a time).
    Any,
}

/// The fixed configuration every actor of the model holds.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Config {
    /// The protocol or a seeded bug.
    pub variant: Variant,
    /// Number of servers.
    pub servers: usize,
    /// Number of processes (all on server 0 at first).
    pub processes: usize,
    /// Number of clients.
    pub clients: usize,
    /// Requests per client.
    pub requests: usize,
    /// Timer-driven resends per request.
    pub resends: u8,
    /// Timer-driven resends of the planner's order.
    pub reorders: u8,
    /// Crashes in all.
    pub crashes: usize,
    /// Which servers may crash.
    pub crash: CrashTarget,
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
                "switch-before-current" => Variant::SwitchBeforeCurrent,
                "degrade-before-switch" => Variant::DegradeBeforeSwitch,
                "switch-without-stopping" => Variant::SwitchWithoutStopping,
                "no-forwarding" => Variant::NoForwarding,
                _ => Variant::Correct,
            },
            servers: p.uint("servers")? as usize,
            processes: p.uint("processes")? as usize,
            clients: p.uint("clients")? as usize,
            requests: p.uint("requests")? as usize,
            resends: p.uint("resends")? as u8,
            reorders: p.uint("reorders")? as u8,
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

    /// The planner's id.
    pub fn planner(&self) -> Id {
        Id::from(self.servers)
    }

    /// The clients' ids.
    pub fn client_ids(&self) -> impl Iterator<Item = Id> {
        let first = self.servers + 1;
        (first..first + self.clients).map(Id::from)
    }

    fn may_crash(&self, server: usize) -> bool {
        match self.crash {
            CrashTarget::Source => server == 0,
            CrashTarget::Target => server != 0,
            CrashTarget::Any => true,
        }
    }
}

/// Timers: the clients' and the planner's resends, and the source's switch decision.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Timer {
    /// Resend the outstanding request (client) or the order (planner).
    Resend,
    /// The source hands over the processes whose targets are current.
    Switch,
}

crate::protocol_node! {
    msg = Msg<S::Op, S::Reply>, timer = Timer, storage = Durable<S::Op, S::Reply>;
    Server(Server<S>, ServerState<S::Op, S::Reply>, "server"),
    Planner(Planner<S>, PlannerState, "planner"),
    Client(Client<S>, ClientState<S::Op, S::Reply>, "client"),
}

/// The client-visible histories, one per process.
pub type History<S> = Vec<crate::history::History<Id, S>>;
/// The model's full state.
pub type State<S> = ActorModelState<Node<S>, History<S>>;
/// The model.
pub type Model<S> = ActorModel<Node<S>, Config, History<S>>;

fn record_out<S: Service>(
    cfg: &Config,
    h: &History<S>,
    env: Envelope<&Msg<S::Op, S::Reply>>,
) -> Option<History<S>> {
    match env.msg {
        Msg::Request { p, seq, op } if usize::from(env.src) > cfg.servers => {
            let next = h.get(usize::from(*p))?.invoke(env.src, *seq, op)?;
            let mut n = h.clone();
            n[usize::from(*p)] = next;
            Some(n)
        }
        _ => None,
    }
}

fn record_in<S: Service>(
    cfg: &Config,
    h: &History<S>,
    env: Envelope<&Msg<S::Op, S::Reply>>,
) -> Option<History<S>> {
    match env.msg {
        Msg::Reply { p, seq, reply } if usize::from(env.dst) > cfg.servers => {
            let next = h.get(usize::from(*p))?.ret(env.dst, *seq, reply)?;
            let mut n = h.clone();
            n[usize::from(*p)] = next;
            Some(n)
        }
        _ => None,
    }
}

fn durable<S: Service>(state: &State<S>, i: usize) -> Option<&Durable<S::Op, S::Reply>> {
    state.actor_storages.get(i).and_then(Option::as_ref)
}

fn within_boundary<S: Service>(cfg: &Config, state: &State<S>) -> bool {
    let restarts = (0..cfg.servers).filter_map(|i| durable(state, i).map(|d| d.restarts));
    within_crash_budget(
        &state.crashed,
        cfg.servers,
        restarts,
        |i| cfg.may_crash(i),
        cfg.crashes,
    )
}

// ---- Properties -------------------------------------------------------------------------

type Rep<S> = Replica<<S as Service>::Op, <S as Service>::Reply>;

/// Every server's saved replica of process `p`, with the server's index.
fn replicas<'a, S: Service>(
    cfg: &Config,
    state: &'a State<S>,
    p: ProcessId,
) -> Vec<(usize, &'a Rep<S>)> {
    (0..cfg.servers)
        .filter_map(|i| {
            durable(state, i)
                .and_then(|d| d.replicas.get(&p))
                .map(|r| (i, r))
        })
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
type Acked<S> = (
    ProcessId,
    Id,
    u32,
    <S as Service>::Op,
    <S as Service>::Reply,
);

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
    acknowledged(&m.cfg, state)
        .iter()
        .filter(|(_, _, _, op, _)| S::changes_state(op))
        .all(|(p, c, seq, _, _)| {
            owner(&m.cfg, state, *p).is_some_and(|r| r.log.find(*c, *seq).is_some())
        })
}

fn exactly_once<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let no_duplicates = (0..m.cfg.servers)
        .filter_map(|i| durable(state, i))
        .flat_map(|d| d.replicas.values())
        .all(|r| !r.log.has_duplicates());
    no_duplicates
        && acknowledged(&m.cfg, state)
            .iter()
            .filter(|(_, _, _, op, _)| S::changes_state(op))
            .all(|(p, c, seq, _, reply)| {
                owner(&m.cfg, state, *p)
                    .and_then(|r| r.log.find(*c, *seq))
                    .is_some_and(|e| e.reply == *reply)
            })
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
        durable(state, usize::from(t))
            .and_then(|d| d.replicas.get(&p))
            .is_some_and(|r| r.role == Role::Primary)
    });
    clients_done && planner_done && placed
}

/// Builds the model of configuration `cfg` over service `S`.
pub fn build<S: Service>(cfg: Config) -> Model<S> {
    let servers = (0..cfg.servers).map(|_| Node::Server(Server::new(cfg.clone())));
    let clients = (0..cfg.clients).map(|k| Node::Client(Client::new(cfg.clone(), k)));
    let (net, lossy) = network(cfg.ordered, cfg.lossy);
    let histories = vec![crate::history::History::<Id, S>::new(); cfg.processes];
    let mut model = ActorModel::new(cfg.clone(), histories)
        .actors(servers)
        .actor(Node::Planner(Planner::new(cfg.clone())))
        .actors(clients)
        .init_network(net)
        .lossy_network(lossy)
        .max_crashes(cfg.crashes.min(1))
        .record_msg_out(record_out::<S>)
        .record_msg_in(record_in::<S>)
        .within_boundary(within_boundary::<S>)
        .property(
            Expectation::Always,
            "migration-atomicity",
            migration_atomicity::<S>,
        )
        .property(Expectation::Always, "2-safety", two_safety::<S>)
        .property(Expectation::Always, "exactly-once", exactly_once::<S>)
        .property(Expectation::Always, "linearizability", linearizability::<S>);
    if !cfg.lossy {
        model = model.property(Expectation::Eventually, "liveness", liveness::<S>);
    }
    model
}

/// Builds the model that `params` describes and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    let cfg = Config::from_params(params)?;
    Ok(match params.choice("service")? {
        "register" => visitor.visit(build::<Register>(cfg)),
        _ => visitor.visit(build::<Counter>(cfg)),
    })
}
