//! Logical checkpointing's configuration, seeded bugs, properties and model builder.
//!
//! The model: server 0 (primary), server 1 (backup), `clients` clients with `window`
//! outstanding requests each. The network reorders and, if `lossy`, loses messages; up to
//! `crashes` server crashes, one server down at a time. Failure detection is accurate: the
//! boundary excludes states where the backup has taken over while the old primary is up and
//! still primary (issue 5 checks inaccurate detection).

use super::client::{Client, ClientState};
use super::msg::{Committed, Msg};
use super::server::{Durable, Role, Server, ServerState};
use crate::catalogue::{ModelVisitor, PropertySpec, VariantSpec};
use crate::history::{network, within_crash_budget, History as ClientHistory};
use crate::params::{ParamError, ParamKind, ParamSpec, Params, CRASH, LOSSY, NETWORK};
use crate::service::{Counter, Register, Service};
use stateright::actor::{ActorModel, ActorModelState, Envelope, Id};
use stateright::Expectation;

/// The model's name in the catalogue.
pub const NAME: &str = "logical-checkpointing";

/// The protocol, or one seeded bug.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Variant {
    /// As specified (specs/logical-checkpointing.md).
    Correct,
    /// A resend is executed again instead of answered from the message table.
    NoTableLookup,
    /// The backup commits each request as soon as it has executed it.
    CommitInExecutionOrder,
    /// A new primary executes a resent request whose commit is still pending.
    AnswerBeforeCommit,
    /// The backup acks a checkpoint before its intention log entry is durable.
    AckBeforeLog,
    /// A new primary answers reads before finishing the old primary's pending commits.
    ReadBeforePending,
}

/// The variants with the properties they must break.
pub const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "correct",
        about: "the protocol as specified",
        breaks: &[],
    },
    VariantSpec {
        name: "no-table-lookup",
        about: "a resend is executed again instead of answered from the message table",
        breaks: &["exactly-once", "same-response"],
    },
    VariantSpec {
        name: "commit-in-execution-order",
        about: "the backup commits in execution order, not SSN order",
        breaks: &["ssn-order"],
    },
    VariantSpec {
        name: "answer-before-commit",
        about: "a new primary executes a resend whose commit is still pending",
        breaks: &["exactly-once"],
    },
    VariantSpec {
        name: "ack-before-log",
        about: "the backup acks before its intention log entry is durable",
        breaks: &["2-safety"],
    },
    VariantSpec {
        name: "read-before-pending",
        about: "a new primary answers reads before its pending commits complete",
        breaks: &["linearizability"],
    },
];

/// The properties.
pub const PROPERTIES: &[PropertySpec] = &[
    PropertySpec {
        name: "2-safety",
        about: "every update a client got a response for is durable at the primary and, while \
                there is one, at the backup (committed or in its intention log)",
    },
    PropertySpec {
        name: "exactly-once",
        about: "no request has two SSNs at any server; every answered update is in the serving \
                primary's table exactly once",
    },
    PropertySpec {
        name: "same-response",
        about: "every committed copy of an answered request holds the response the client got",
    },
    PropertySpec {
        name: "ssn-order",
        about: "every server commits in service-sequence-number order, without gaps",
    },
    PropertySpec {
        name: "linearizability",
        about: "the client-visible history is linearizable against the service",
    },
];

/// The parameters.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "service",
        kind: ParamKind::Choice(&["register", "counter"]),
        default: "register",
        help: "replicated application",
    },
    ParamSpec {
        name: "clients",
        kind: ParamKind::UInt { min: 1, max: 4 },
        default: "1",
        help: "number of clients",
    },
    ParamSpec {
        name: "requests",
        kind: ParamKind::UInt { min: 0, max: 4 },
        default: "2",
        help: "requests per client",
    },
    ParamSpec {
        name: "window",
        kind: ParamKind::UInt { min: 1, max: 4 },
        default: "2",
        help: "outstanding requests per client",
    },
    ParamSpec {
        name: "resends",
        kind: ParamKind::UInt { min: 0, max: 3 },
        default: "1",
        help: "path failures per client (each resends every outstanding request)",
    },
    ParamSpec {
        name: "crashes",
        kind: ParamKind::UInt { min: 0, max: 3 },
        default: "1",
        help: "server crashes in all (one server down at a time)",
    },
    CRASH,
    NETWORK,
    LOSSY,
    ParamSpec {
        name: "variant",
        kind: ParamKind::Choice(&[
            "correct",
            "no-table-lookup",
            "commit-in-execution-order",
            "answer-before-commit",
            "ack-before-log",
            "read-before-pending",
        ]),
        default: "correct",
        help: "the protocol or a seeded bug",
    },
];

/// The model's fixed configuration.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Config {
    /// The protocol or a seeded bug.
    pub variant: Variant,
    /// Clients.
    pub clients: usize,
    /// Requests per client.
    pub requests: usize,
    /// Outstanding requests per client.
    pub window: usize,
    /// Path failures per client.
    pub resends: u8,
    /// Crashes in all.
    pub crashes: usize,
    /// Which servers may crash: `[server 0, server 1]`.
    pub may_crash: [bool; 2],
    /// FIFO per pair of nodes.
    pub ordered: bool,
    /// Messages can be lost.
    pub lossy: bool,
}

/// The number of servers.
pub const SERVERS: usize = 2;

impl Config {
    /// The configuration `p` describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        let variant = match p.choice("variant")? {
            "no-table-lookup" => Variant::NoTableLookup,
            "commit-in-execution-order" => Variant::CommitInExecutionOrder,
            "answer-before-commit" => Variant::AnswerBeforeCommit,
            "ack-before-log" => Variant::AckBeforeLog,
            "read-before-pending" => Variant::ReadBeforePending,
            _ => Variant::Correct,
        };
        let crash = p.choice("crash")?;
        Ok(Config {
            variant,
            clients: p.uint("clients")? as usize,
            requests: p.uint("requests")? as usize,
            window: p.uint("window")? as usize,
            resends: p.uint("resends")? as u8,
            crashes: p.uint("crashes")? as usize,
            may_crash: [crash != "backup", crash != "primary"],
            ordered: p.choice("network")? == "ordered",
            lossy: p.bool("lossy")?,
        })
    }

    /// The clients' ids.
    pub fn client_ids(&self) -> impl Iterator<Item = Id> {
        (SERVERS..SERVERS + self.clients).map(Id::from)
    }
}

/// Timers.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Timer {
    /// A client's path failure: resend every outstanding request.
    Resend,
    /// The backup executes the logged request with this SSN (in any order).
    Execute(u8),
    /// The backup learns the primary failed and takes over.
    Takeover,
}

crate::protocol_node! {
    msg = Msg<S::Op, S::Reply>, timer = Timer, storage = Durable<S::Op, S::Reply>;
    Server(Server<S>, ServerState<S>, "server"),
    Client(Client<S>, ClientState<S::Reply>, "client"),
}

/// The client-visible history: one tester thread per (client, window slot).
pub type History<S> = ClientHistory<(Id, u8), S>;
/// The model's state.
pub type State<S> = ActorModelState<Node<S>, History<S>>;
/// The model.
pub type Model<S> = ActorModel<Node<S>, Config, History<S>>;

fn slot(cfg: &Config, client: Id, seq: u8) -> (Id, u8) {
    (client, seq % cfg.window as u8)
}

fn record_out<S: Service>(
    cfg: &Config,
    h: &History<S>,
    env: Envelope<&Msg<S::Op, S::Reply>>,
) -> Option<History<S>> {
    match env.msg {
        Msg::Request { seq, op } if usize::from(env.src) >= SERVERS => {
            h.invoke(slot(cfg, env.src, *seq), u32::from(*seq), op)
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
        Msg::Reply { seq, reply } if usize::from(env.dst) >= SERVERS => {
            h.ret(slot(cfg, env.dst, *seq), u32::from(*seq), reply)
        }
        _ => None,
    }
}

fn server<S: Service>(state: &State<S>, i: usize) -> Option<&ServerState<S>> {
    match &*state.actor_states[i] {
        NodeState::Server(s) if !state.crashed[i] => Some(s),
        _ => None,
    }
}

fn durable<S: Service>(state: &State<S>, i: usize) -> Option<&Durable<S::Op, S::Reply>> {
    state.actor_storages.get(i).and_then(Option::as_ref)
}

fn within_boundary<S: Service>(cfg: &Config, state: &State<S>) -> bool {
    // Accurate failure detection: no takeover while the old primary is up and primary.
    let two_primaries = (0..SERVERS)
        .filter(|i| server(state, *i).is_some_and(|s| s.d.role == Role::Primary))
        .count()
        > 1;
    let restarts = (0..SERVERS).filter_map(|i| durable(state, i).map(|d| d.restarts));
    !two_primaries
        && within_crash_budget(
            &state.crashed,
            SERVERS,
            restarts,
            |i| cfg.may_crash[i],
            cfg.crashes,
        )
}

// ---- Properties ---------------------------------------------------------------------------

/// The server that serves the process now or will after the takeover: the durable primary of
/// the highest epoch, or the backup while the failed primary is in the spare pool.
fn authority<S: Service>(state: &State<S>) -> Option<&Durable<S::Op, S::Reply>> {
    (0..SERVERS)
        .filter_map(|i| durable(state, i))
        .filter(|d| d.role != Role::Spare)
        .max_by_key(|d| (d.epoch, d.role == Role::Primary))
}

/// Every (client, seq, op, reply) a client has a response for.
fn answered<S: Service>(m: &Model<S>, state: &State<S>) -> Vec<(Id, u8, S::Op, S::Reply)> {
    let mut out = Vec::new();
    for (k, id) in m.cfg.client_ids().enumerate() {
        if let NodeState::Client(c) = &*state.actor_states[usize::from(id)] {
            for (seq, reply) in &c.replies {
                out.push((id, *seq, S::workload(k, usize::from(*seq)), reply.clone()));
            }
        }
    }
    out
}

fn copies<S: Service>(d: &Durable<S::Op, S::Reply>, c: Id, s: u8) -> usize {
    d.history
        .iter()
        .filter(|e| e.client == c && e.seq == s)
        .count()
        + d.log
            .values()
            .filter(|l| l.client == c && l.seq == s)
            .count()
}

fn two_safety<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let Some(a) = authority(state) else {
        return false;
    };
    answered(m, state)
        .iter()
        .filter(|(_, _, op, _)| S::changes_state(op))
        .all(|(c, s, _, _)| {
            copies::<S>(a, *c, *s) > 0
                && (a.epoch > 0 || durable(state, 1).is_some_and(|b| copies::<S>(b, *c, *s) > 0))
        })
}

fn exactly_once<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let once = |history: &[Committed<S::Op, S::Reply>],
                log: &std::collections::BTreeMap<u8, super::server::Logged<S::Op>>| {
        let ids: Vec<(Id, u8)> = history
            .iter()
            .map(|e| (e.client, e.seq))
            .chain(log.values().map(|l| (l.client, l.seq)))
            .collect();
        ids.iter().enumerate().all(|(i, x)| !ids[..i].contains(x))
    };
    for i in 0..SERVERS {
        if durable(state, i).is_some_and(|d| !once(&d.history, &d.log))
            || server(state, i).is_some_and(|s| !once(&s.d.history, &s.d.log))
        {
            return false;
        }
    }
    let Some(a) = authority(state) else {
        return false;
    };
    answered(m, state)
        .iter()
        .filter(|(_, _, op, _)| S::changes_state(op))
        .all(|(c, s, _, _)| copies::<S>(a, *c, *s) == 1)
}

fn same_response<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    answered(m, state).iter().all(|(c, s, _, reply)| {
        (0..SERVERS).filter_map(|i| durable(state, i)).all(|d| {
            d.history
                .iter()
                .filter(|e| e.client == *c && e.seq == *s)
                .all(|e| e.reply == *reply)
        })
    })
}

fn ssn_order<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    (0..SERVERS).all(|i| {
        let ok = |h: &[Committed<S::Op, S::Reply>]| {
            h.iter().enumerate().all(|(k, e)| usize::from(e.ssn) == k)
        };
        durable(state, i).is_none_or(|d| ok(&d.history))
            && server(state, i).is_none_or(|s| ok(&s.d.history))
    })
}

fn linearizability<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    state.history.is_linearizable()
}

/// Builds the model of `cfg` over service `S`.
pub fn build<S: Service>(cfg: Config) -> Model<S> {
    let (net, lossy) = network(cfg.ordered, cfg.lossy);
    ActorModel::new(cfg.clone(), History::<S>::new())
        .actors((0..SERVERS).map(|_| Node::Server(Server::new(cfg.clone()))))
        .actors((0..cfg.clients).map(|k| Node::Client(Client::new(cfg.clone(), k))))
        .init_network(net)
        .lossy_network(lossy)
        .max_crashes(cfg.crashes.min(1))
        .record_msg_out(record_out::<S>)
        .record_msg_in(record_in::<S>)
        .within_boundary(within_boundary::<S>)
        .property(Expectation::Always, "2-safety", two_safety::<S>)
        .property(Expectation::Always, "exactly-once", exactly_once::<S>)
        .property(Expectation::Always, "same-response", same_response::<S>)
        .property(Expectation::Always, "ssn-order", ssn_order::<S>)
        .property(Expectation::Always, "linearizability", linearizability::<S>)
}

/// Builds the model `params` describe and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    let cfg = Config::from_params(params)?;
    Ok(match params.choice("service")? {
        "counter" => visitor.visit(build::<Counter>(cfg)),
        _ => visitor.visit(build::<Register>(cfg)),
    })
}
