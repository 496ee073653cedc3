//! Linear 2PC's configuration, seeded-bug variants, properties and model builder.
//!
//! The model: servers 0 (primary) and 1 (backup; absent at level normal) and `clients`
//! clients after them. The network reorders and, if `lossy`, loses messages (a TCP connection
//! that breaks and is remade); at most one server is down at a time and at most `crashes`
//! crashes happen in all, each followed by a restart from the server's durable state.

use super::client::{Client, ClientState};
use super::commit_log::CommitLog;
use super::msg::Msg;
use super::server::{Durable, Role, Server, ServerState};
use crate::catalogue::{ModelVisitor, PropertySpec, VariantSpec};
use crate::history::{network, within_crash_budget};
use crate::params::{ParamError, ParamKind, ParamSpec, Params, CRASH, NETWORK};
use crate::service::{Counter, Register, Service};
use serde::{Deserialize, Serialize};
use stateright::actor::{model_timeout, ActorModel, ActorModelState, Envelope, Id};
use stateright::Expectation;
use std::ops::Range;
use std::time::Duration;

/// The model's name in the catalogue.
pub const NAME: &str = "linear-2pc";

/// OPERA's availability levels (seed 000 §3.1).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Level {
    /// Hot standby: the backup applies the change buffer and commits before it acks.
    Critical,
    /// Cold standby: the backup stores the change buffer durably and acks; applies at takeover.
    Important,
    /// No backup.
    Normal,
}

/// Which servers the model may crash.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum CrashTarget {
    /// Only server 0, the initial primary.
    Primary,
    /// Only server 1, the initial backup.
    Backup,
    /// Either server (one at a time).
    Any,
}

/// The network's ordering.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum NetworkKind {
    /// Messages race one another (reordering), each delivered at most once.
    Unordered,
    /// FIFO per directed pair of nodes.
    Ordered,
}

/// The protocol as specified, or one seeded bug.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Variant {
    /// The protocol of specs/linear-2pc.md.
    Correct,
    /// The primary commits and replies before the backup's ack, and ships the change buffer
    /// after its commit (1-safe).
    OneSafe,
    /// The backup acks a change buffer before it is durable (written when the next arrives).
    AckBeforeDurable,
    /// A restarted primary resumes without the reconfiguration protocol.
    SkipReconfiguration,
    /// The primary executes a resent request again instead of answering from its history.
    NoDuplicateDetection,
    /// The primary answers reads from its local state without confirming it is still primary.
    LocalReads,
    /// A new primary does not announce itself, so clients keep resending to the old one.
    NoRedirect,
    /// Takeback welcomes the old primary back as backup without bringing it up to date.
    TakebackWithoutCatchUp,
    /// The new primary acks change buffers of the deposed primary's epoch (no fencing).
    NoFencing,
    /// A takeover keeps the epoch instead of starting a new one.
    NoEpochBump,
    /// A promoted cold standby drops the change buffers it stored but had not yet applied
    /// instead of committing them before it serves (ClustRa's takeover finishes them first).
    PromotionWithoutPendingCommits,
}

/// The seeded-bug variants, with the property each one must break.
pub const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "correct",
        about: "the protocol as specified",
        breaks: &[],
    },
    VariantSpec {
        name: "one-safe",
        about: "primary commits and replies before the backup's ack (1-safe)",
        breaks: &["2-safety"],
    },
    VariantSpec {
        name: "ack-before-durable",
        about: "backup acks before its change buffer is durable",
        breaks: &["2-safety"],
    },
    VariantSpec {
        name: "skip-reconfiguration",
        about: "a restarted primary skips the reconfiguration protocol",
        breaks: &["atomicity"],
    },
    VariantSpec {
        name: "no-duplicate-detection",
        about: "a resent request is executed again",
        breaks: &["exactly-once"],
    },
    VariantSpec {
        name: "local-reads",
        about: "reads answered locally, without confirming the primary still is one",
        breaks: &["linearizability"],
    },
    VariantSpec {
        name: "no-redirect",
        about: "a new primary does not announce itself to clients",
        breaks: &["liveness"],
    },
    VariantSpec {
        name: "no-fencing",
        about: "the new primary acks the deposed primary's old-epoch change buffers",
        breaks: &["2-safety"],
    },
    VariantSpec {
        name: "no-epoch-bump",
        about: "a takeover does not start a new epoch",
        breaks: &["single-primary-per-epoch"],
    },
    VariantSpec {
        name: "takeback-without-catch-up",
        about: "the old primary is welcomed back as backup without catching up first",
        breaks: &["2-safety"],
    },
    VariantSpec {
        name: "promotion-without-pending-commits",
        about: "a promoted cold standby drops its stored, not yet applied change buffers",
        breaks: &["2-safety"],
    },
];

/// The properties, named in the brief's vocabulary.
pub const PROPERTIES: &[PropertySpec] = &[
    PropertySpec {
        name: "2-safety",
        about: "every update a client saw committed is durable at the primary and at every \
                server that could take over (a backup): no single failure loses it",
    },
    PropertySpec {
        name: "exactly-once",
        about: "no request takes effect twice at any server; every acknowledged update is in \
                the surviving primary's history once, with the reply the client got",
    },
    PropertySpec {
        name: "atomicity",
        about: "the servers' committed histories never diverge: one is a prefix of the other",
    },
    PropertySpec {
        name: "linearizability",
        about: "the client-visible history is linearizable against the service",
    },
    PropertySpec {
        name: "single-primary-per-epoch",
        about: "no two servers are durably primary in the same epoch",
    },
    PropertySpec {
        name: "liveness",
        about: "every client eventually gets all its replies (checked on reliable networks; \
                judged at terminal states only)",
    },
];

/// The parameters of the model, with their defaults.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "service",
        kind: ParamKind::Choice(&["register", "counter"]),
        default: "register",
        help: "replicated application",
    },
    ParamSpec {
        name: "level",
        kind: ParamKind::Choice(&["critical", "important", "normal"]),
        default: "critical",
        help: "availability level: hot standby, cold standby, no backup",
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
        help: "requests per client (one outstanding at a time)",
    },
    ParamSpec {
        name: "resends",
        kind: ParamKind::UInt { min: 0, max: 4 },
        default: "1",
        help: "timer-driven resends per request",
    },
    ParamSpec {
        name: "crashes",
        kind: ParamKind::UInt { min: 0, max: 4 },
        default: "1",
        help: "server crashes in all (each followed by a restart; one server down at a time)",
    },
    CRASH,
    NETWORK,
    ParamSpec {
        name: "lossy",
        kind: ParamKind::Bool,
        default: "true",
        help: "whether messages can be lost (liveness is only checked when false)",
    },
    ParamSpec {
        name: "heartbeats",
        kind: ParamKind::Bool,
        default: "false",
        help: "I-am-alive messages from primary to backup, one unanswered at a time (the \
               backup may suspect the primary at any moment either way)",
    },
    ParamSpec {
        name: "takeback",
        kind: ParamKind::Bool,
        default: "false",
        help: "a deposed primary rejoins as backup: catch-up, then the primary upgrades",
    },
    ParamSpec {
        name: "takeovers",
        kind: ParamKind::UInt { min: 1, max: 4 },
        default: "1",
        help: "takeovers explored in all (the epoch bound; takeback makes more than one possible)",
    },
    ParamSpec {
        name: "variant",
        kind: ParamKind::Choice(&[
            "correct",
            "one-safe",
            "ack-before-durable",
            "skip-reconfiguration",
            "no-duplicate-detection",
            "local-reads",
            "no-redirect",
            "takeback-without-catch-up",
            "no-fencing",
            "no-epoch-bump",
            "promotion-without-pending-commits",
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
    /// The process's availability level.
    pub level: Level,
    /// Number of servers: 2, or 1 at level normal.
    pub servers: usize,
    /// Number of clients.
    pub clients: usize,
    /// Requests per client.
    pub requests: usize,
    /// Timer-driven resends per request.
    pub resends: u8,
    /// Crashes in all.
    pub crashes: usize,
    /// Which servers may crash.
    pub crash: CrashTarget,
    /// Message ordering.
    pub network: NetworkKind,
    /// Whether messages can be lost.
    pub lossy: bool,
    /// Whether the primary sends I-am-alive messages (one unanswered at a time) and the backup
    /// re-arms its suspicion timer on each; without them the takeover timer is armed once.
    /// Either way the checker may fire it at any moment (a false suspicion).
    pub heartbeats: bool,
    /// Whether a deposed primary rejoins as backup (takeback).
    pub takeback: bool,
    /// The highest epoch explored (the checker's bound on takeovers; the runtime's is 255).
    pub takeovers: u8,
    /// The timers' durations (the model checker ignores them; the runtime waits them out).
    pub timing: Timing,
}

/// How long each timer runs, as the ranges the Actor hands to `set_timer`.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Timing {
    /// The client's wait before it resends its outstanding request.
    pub resend: Range<Duration>,
    /// The primary's I-am-alive period.
    pub heartbeat: Range<Duration>,
    /// How long the backup waits without an I-am-alive before it suspects the primary.
    pub suspect: Range<Duration>,
}

impl Timing {
    /// The durations the model uses (stateright's `model_timeout`; any timer may fire any time).
    pub fn model() -> Timing {
        Timing {
            resend: model_timeout(),
            heartbeat: model_timeout(),
            suspect: model_timeout(),
        }
    }
}

impl Config {
    /// The configuration that `params` (validated against [`PARAMS`]) describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        let level = match p.choice("level")? {
            "critical" => Level::Critical,
            "important" => Level::Important,
            _ => Level::Normal,
        };
        let variant = match p.choice("variant")? {
            "one-safe" => Variant::OneSafe,
            "ack-before-durable" => Variant::AckBeforeDurable,
            "skip-reconfiguration" => Variant::SkipReconfiguration,
            "no-duplicate-detection" => Variant::NoDuplicateDetection,
            "local-reads" => Variant::LocalReads,
            "no-redirect" => Variant::NoRedirect,
            "takeback-without-catch-up" => Variant::TakebackWithoutCatchUp,
            "no-fencing" => Variant::NoFencing,
            "no-epoch-bump" => Variant::NoEpochBump,
            "promotion-without-pending-commits" => Variant::PromotionWithoutPendingCommits,
            _ => Variant::Correct,
        };
        Ok(Config {
            variant,
            level,
            servers: if level == Level::Normal { 1 } else { 2 },
            clients: p.uint("clients")? as usize,
            requests: p.uint("requests")? as usize,
            resends: p.uint("resends")? as u8,
            crashes: p.uint("crashes")? as usize,
            crash: match p.choice("crash")? {
                "primary" => CrashTarget::Primary,
                "backup" => CrashTarget::Backup,
                _ => CrashTarget::Any,
            },
            network: match p.choice("network")? {
                "ordered" => NetworkKind::Ordered,
                _ => NetworkKind::Unordered,
            },
            lossy: p.bool("lossy")?,
            heartbeats: p.bool("heartbeats")?,
            takeback: p.bool("takeback")?,
            takeovers: p.uint("takeovers")? as u8,
            timing: Timing::model(),
        })
    }

    /// The clients' actor ids.
    pub fn client_ids(&self) -> impl Iterator<Item = Id> {
        (self.servers..self.servers + self.clients).map(Id::from)
    }

    fn may_crash(&self, server: usize) -> bool {
        match self.crash {
            CrashTarget::Primary => server == 0,
            CrashTarget::Backup => server == 1,
            CrashTarget::Any => true,
        }
    }
}

/// Timers: data, not durations; the model checker fires any timer that is set at any moment.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Timer {
    /// The client resends its outstanding request.
    Resend,
    /// The backup suspects the primary and takes over.
    Takeover,
    /// The primary sends an I-am-alive message to the backup.
    Heartbeat,
}

crate::protocol_node! {
    msg = Msg<S::Op, S::Reply>, timer = Timer, storage = Durable<S::Op, S::Reply>;
    Server(Server<S>, ServerState<S>, "server"),
    Client(Client<S>, ClientState<S::Op, S::Reply>, "client"),
}

/// The client-visible history (one slot per client: one request outstanding at a time).
pub type History<S> = crate::history::History<Id, S>;
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
        Msg::Request { seq, op } if usize::from(env.src) >= cfg.servers => {
            h.invoke(env.src, *seq, op)
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
        Msg::Reply { seq, reply } if usize::from(env.dst) >= cfg.servers => {
            h.ret(env.dst, *seq, reply)
        }
        _ => None,
    }
}

fn within_boundary<S: Service>(cfg: &Config, state: &State<S>) -> bool {
    let restarts = (0..cfg.servers).filter_map(|i| durable(state, i).map(|d| d.restarts));
    let epochs_within = (0..cfg.servers)
        .filter_map(|i| durable(state, i))
        .all(|d| d.epoch <= cfg.takeovers);
    epochs_within
        && within_crash_budget(
            &state.crashed,
            cfg.servers,
            restarts,
            |i| cfg.may_crash(i),
            cfg.crashes,
        )
}

// ---- Properties -------------------------------------------------------------------------

type Log<S> = CommitLog<<S as Service>::Op, <S as Service>::Reply>;

fn durable<S: Service>(state: &State<S>, i: usize) -> Option<&Durable<S::Op, S::Reply>> {
    state.actor_storages.get(i).and_then(Option::as_ref)
}

/// The server whose durable state says primary with the highest epoch: the one that serves.
fn authority<S: Service>(cfg: &Config, state: &State<S>) -> Option<usize> {
    (0..cfg.servers)
        .filter_map(|i| durable(state, i).map(|d| (i, d)))
        .filter(|(_, d)| d.role == Role::Primary)
        .max_by_key(|(_, d)| d.epoch)
        .map(|(i, _)| i)
}

/// Every (client, seq, op, reply) a client has received a reply for.
fn acknowledged<S: Service>(cfg: &Config, state: &State<S>) -> Vec<(Id, u32, S::Op, S::Reply)> {
    let mut acked = Vec::new();
    for (k, id) in cfg.client_ids().enumerate() {
        if let NodeState::Client(c) = &*state.actor_states[usize::from(id)] {
            for (seq, reply) in c.replies.iter().enumerate() {
                acked.push((id, seq as u32, S::workload(k, seq), reply.clone()));
            }
        }
    }
    acked
}

fn holds<S: Service>(log: &Log<S>, client: Id, seq: u32) -> bool {
    log.find(client, seq).is_some()
}

fn two_safety<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let Some(a) = authority(&m.cfg, state) else {
        return false;
    };
    let Some(ad) = durable(state, a) else {
        return false;
    };
    acknowledged(&m.cfg, state)
        .iter()
        .filter(|(_, _, op, _)| S::changes_state(op))
        .all(|(c, seq, _, _)| {
            // On the serving primary's disk, and on that of every server that could take
            // over (a backup): no single failure — a crash, or a takeover — loses it.
            holds::<S>(&ad.log, *c, *seq)
                && (0..m.cfg.servers).filter(|j| *j != a).all(|j| {
                    durable(state, j)
                        .is_none_or(|d| d.role != Role::Backup || holds::<S>(&d.log, *c, *seq))
                })
        })
}

fn exactly_once<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    for i in 0..m.cfg.servers {
        if durable(state, i).is_some_and(|d| d.log.has_duplicates()) {
            return false;
        }
        if let NodeState::Server(s) = &*state.actor_states[i] {
            if !state.crashed[i] && s.log.has_duplicates() {
                return false;
            }
        }
    }
    let Some(ad) = authority(&m.cfg, state).and_then(|a| durable(state, a)) else {
        return false;
    };
    acknowledged(&m.cfg, state)
        .iter()
        .filter(|(_, _, op, _)| S::changes_state(op))
        .all(|(c, seq, _, reply)| {
            // Exactly once: present, and (checked above) no request twice in any history.
            ad.log.find(*c, *seq).is_some_and(|e| e.reply == *reply)
        })
}

fn atomicity<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let logs: Vec<&Log<S>> = (0..m.cfg.servers)
        .filter_map(|i| durable(state, i).map(|d| &d.log))
        .collect();
    logs.iter().enumerate().all(|(i, a)| {
        logs[i + 1..]
            .iter()
            .all(|b| a.agrees_on_prefix(b, a.len().min(b.len())))
    })
}

fn linearizability<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    state.history.is_linearizable()
}

fn single_primary_per_epoch<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let primaries: Vec<u8> = (0..m.cfg.servers)
        .filter_map(|i| durable(state, i))
        .filter(|d| d.role == Role::Primary)
        .map(|d| d.epoch)
        .collect();
    primaries
        .iter()
        .enumerate()
        .all(|(i, e)| !primaries[i + 1..].contains(e))
}

fn liveness<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    m.cfg.client_ids().all(|id| {
        matches!(&*state.actor_states[usize::from(id)],
            NodeState::Client(c) if c.replies.len() == m.cfg.requests)
    })
}

/// Builds the model of configuration `cfg` over service `S`.
pub fn build<S: Service>(cfg: Config) -> Model<S> {
    let servers = (0..cfg.servers).map(|_| Node::Server(Server::new(cfg.clone())));
    let clients = (0..cfg.clients).map(|k| Node::Client(Client::new(cfg.clone(), k)));
    let (net, lossy) = network(cfg.network == NetworkKind::Ordered, cfg.lossy);
    let mut model = ActorModel::new(cfg.clone(), History::<S>::new())
        .actors(servers)
        .actors(clients)
        .init_network(net)
        .lossy_network(lossy)
        .max_crashes(cfg.crashes.min(1))
        .record_msg_out(record_out::<S>)
        .record_msg_in(record_in::<S>)
        .within_boundary(within_boundary::<S>)
        .property(Expectation::Always, "2-safety", two_safety::<S>)
        .property(Expectation::Always, "exactly-once", exactly_once::<S>)
        .property(Expectation::Always, "atomicity", atomicity::<S>)
        .property(Expectation::Always, "linearizability", linearizability::<S>)
        .property(
            Expectation::Always,
            "single-primary-per-epoch",
            single_primary_per_epoch::<S>,
        );
    if !cfg.lossy {
        model = model.property(Expectation::Eventually, "liveness", liveness::<S>);
    }
    model
}

/// Builds the model that `params` describes and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    let cfg = Config::from_params(params)?;
    Ok(match params.choice("service")? {
        "counter" => visitor.visit(build::<Counter>(cfg)),
        _ => visitor.visit(build::<Register>(cfg)),
    })
}
