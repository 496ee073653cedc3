//! Linear 2PC's configuration, seeded-bug variants, properties and model builder.
//!
//! The model: servers 0 (primary) and 1 (backup; absent at level normal) and `clients`
//! clients after them. The network reorders and, if `lossy`, loses messages (a TCP connection
//! that breaks and is remade); at most one server is down at a time and at most `crashes`
//! crashes happen in all, each followed by a restart from the server's durable state.

use super::client::Client;
use super::server::{Durable, Role, Server};
use super::{
    Config, CrashTarget, Epoch, Level, NetworkKind, Node, NodeState, Timing, Variant, VARIANT,
    VARIANTS,
};
use crate::commit_log::CommitLog;
use crate::history::{self, saved, within_crash_budget, Environment, Seen, FOREVER};
use crate::params::{self, ParamError, ParamSpec, Params, CRASH, NETWORK};
use crate::services::Service;
use crate::spec::{ModelSpec, PropertySpec};
use stateright::actor::{ActorModel, ActorModelState, Id};
use stateright::Expectation;

/// The model's name in the catalogue.
pub const NAME: &str = "linear-2pc";

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
    params::service(&["register", "counter"], "register"),
    ParamSpec::choice(
        "level",
        &["critical", "important", "normal"],
        "critical",
        "availability level: hot standby, cold standby, no backup",
    ),
    params::clients(4, "1"),
    params::requests(4, "2"),
    params::sessions(3),
    ParamSpec::uint(
        "buffers",
        (1, 3),
        "1",
        "change buffers the primary may have in flight at once (pipelined 2-safe commit; 1 is \
         OPERA's one step at a time)",
    ),
    params::resends_or_forever(4, "1"),
    params::crashes(4, "1")
        .with_help("server crashes in all (each followed by a restart; one server down at a time)"),
    CRASH,
    NETWORK,
    params::lossy(true).with_help(
        "whether messages can be lost (liveness is checked when false, or with resends = forever)",
    ),
    ParamSpec::flag(
        "heartbeats",
        false,
        "I-am-alive messages from primary to backup, one unanswered at a time (the \
               backup may suspect the primary at any moment either way)",
    ),
    ParamSpec::flag(
        "takeback",
        false,
        "a deposed primary rejoins as backup: catch-up, then the primary upgrades",
    ),
    params::PROBE,
    ParamSpec::flag(
        "degrade",
        false,
        "degraded mode (needs takeback): a primary whose backup does not answer a step fences \
         it out with a durable new epoch and continues alone until it rejoins; the backup \
         never takes over on its own",
    ),
    ParamSpec::uint(
        "takeovers",
        (1, 4),
        "1",
        "takeovers explored in all (the epoch bound, plus one epoch per learner caught up; \
         takeback makes more than one takeover possible)",
    ),
    ParamSpec::uint(
        "wipes",
        (0, 2),
        "0",
        "storage losses in all: a server crashes and comes back with its journal lost or \
         damaged, which it detects, and rejoins as a learner by catch-up (needs takeback)",
    ),
    VARIANT,
];

/// The protocol's entry in the catalogue.
pub const SPEC: ModelSpec = ModelSpec {
    name: NAME,
    about: "OPERA's semantic backup: degenerate linear 2PC, hot/cold standby, reconfiguration",
    seed: "Hagen & Alonso, \"Backup and Process Migration Mechanisms in Process Support \
           Systems\" (OPERA), §2.3, §3.1, Fig. 1",
    params: PARAMS,
    properties: PROPERTIES,
    given_up: &[],
    variants: VARIANTS,
    configurations: crate::checks![
        "hot/crash-primary": level = "critical", crash = "primary";
        "hot/crash-backup": level = "critical", crash = "backup";
        "cold/crash-primary": level = "important", crash = "primary";
        "cold/crash-backup": level = "important", crash = "backup";
        "normal/crash": level = "normal", crash = "primary";
        "hot/counter": service = "counter";
        "hot/two-clients": clients = "2", requests = "1", crashes = "0";
        "hot/two-clients-reliable": clients = "2", requests = "1", resends = "0", lossy = "false";
        "hot/reliable": lossy = "false";
        "cold/reliable": level = "important", lossy = "false";
        "hot/heartbeats/crash-primary": heartbeats = "true", crash = "primary";
        "cold/heartbeats/crash-backup": heartbeats = "true", level = "important", crash = "backup";
        "hot/heartbeats/reliable": heartbeats = "true", lossy = "false";
        "hot/takeback/crash-primary": takeback = "true", crash = "primary";
        "cold/takeback/crash-primary": takeback = "true", level = "important", crash = "primary";
        "hot/takeback/two-takeovers": takeback = "true", crashes = "0", takeovers = "2";
        "hot/takeback/two-takeovers-reliable": takeback = "true", crashes = "0", takeovers = "2", lossy = "false";
        "hot/storage-loss/backup": takeback = "true", wipes = "1", crash = "backup", crashes = "0", requests = "1";
        "hot/storage-loss/primary": takeback = "true", wipes = "1", crash = "primary", crashes = "0", requests = "1";
        "cold/storage-loss/backup": takeback = "true", wipes = "1", crash = "backup", crashes = "0", requests = "1", level = "important";
        "hot/probe/crash-primary": probe = "true", crash = "primary";
        "hot/takeback/probe": takeback = "true", probe = "true", heartbeats = "true", crashes = "0", requests = "1";
        "hot/sessions": sessions = "2", requests = "1";
        "hot/sessions/reliable": sessions = "2", requests = "1", lossy = "false";
        "hot/degrade/crash-backup": takeback = "true", degrade = "true", crash = "backup";
        "hot/degrade/crash-primary": takeback = "true", degrade = "true", crash = "primary", requests = "1";
        "hot/degrade/reliable": takeback = "true", degrade = "true", lossy = "false", crashes = "0";
        "hot/degrade/storage-loss": takeback = "true", degrade = "true", wipes = "1", crash = "backup", crashes = "0", requests = "1";
        "hot/storage-loss/reliable": takeback = "true", wipes = "1", crash = "any", crashes = "0", requests = "1", lossy = "false";
        "hot/resend-forever/crash-primary": resends = "forever", crash = "primary", requests = "1";
        "hot/probe/resend-forever": probe = "true", resends = "forever", crash = "primary", requests = "1";
        "hot/degrade/resend-forever": takeback = "true", degrade = "true", resends = "forever", crash = "primary", requests = "1";
        "hot/buffers-2": service = "counter", buffers = "2", clients = "2", requests = "1", crashes = "0";
        "hot/buffers-2/reads": buffers = "2", clients = "2", requests = "1", crashes = "0";
        "hot/buffers-2/crash-primary": resends = "0", service = "counter", buffers = "2", clients = "2", requests = "1", crash = "primary";
        "hot/buffers-2/crash-backup": resends = "0", service = "counter", buffers = "2", clients = "2", requests = "1", crash = "backup";
        "cold/buffers-2/crash-primary": resends = "0", service = "counter", level = "important", buffers = "2", clients = "2", requests = "1", crash = "primary";
        "hot/buffers-2/takeback": resends = "0", service = "counter", takeback = "true", buffers = "2", clients = "2", requests = "1", crashes = "0";
        "hot/two-writers/crash-primary": service = "counter", clients = "2", requests = "1", crash = "primary", resends = "0", lossy = "false";
        "hot/buffers-2/reliable": resends = "0", service = "counter", buffers = "2", clients = "2", requests = "1", lossy = "false";
        "hot/buffers-2/degrade": resends = "0", service = "counter", takeback = "true", degrade = "true", buffers = "2", clients = "2", requests = "1", crash = "backup";
        deep "deep/hot/buffers-2/storage-loss": resends = "0", service = "counter", takeback = "true", wipes = "1", crash = "backup", crashes = "0", buffers = "2", clients = "2", requests = "1";
        "hot/buffers-3": service = "counter", buffers = "3", clients = "3", requests = "1", crashes = "0", resends = "0";
        deep "deep/hot/takeback-heartbeats-crash-primary": takeback = "true", heartbeats = "true", crash = "primary";
        deep "deep/hot/two-clients-crash-primary": clients = "2", requests = "1", crash = "primary";
        deep "deep/hot/storage-loss/then-crash": takeback = "true", wipes = "1", crash = "any", crashes = "1", requests = "1";
        deep "deep/hot/storage-loss/two-requests": takeback = "true", wipes = "1", crash = "any", crashes = "0";
        deep "deep/hot/degrade/crash-primary": takeback = "true", degrade = "true", crash = "primary";
        deep "deep/hot/resend-forever/two-requests": resends = "forever", crash = "primary";
        deep "deep/hot/takeback/resend-forever": takeback = "true", resends = "forever", crash = "primary", requests = "1";
        deep "deep/hot/heartbeats/resend-forever": heartbeats = "true", resends = "forever", crash = "primary", requests = "1";
        deep "deep/cold/two-clients-crash-backup": level = "important", clients = "2", requests = "1", crash = "backup";
    ],
};

impl Config {
    /// The configuration that `params` (validated against [`PARAMS`]) describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        let level = match p.choice("level")? {
            "critical" => Level::Critical,
            "important" => Level::Important,
            _ => Level::Normal,
        };
        let variant = Variant::from_params(p)?;
        let (wipes, takeback) = (p.uint("wipes")?, p.bool("takeback")?);
        let degrade = p.bool("degrade")?;
        if degrade && !takeback {
            return Err(ParamError::BadValue {
                name: "degrade".into(),
                value: "true".into(),
                expected: "false unless takeback = true (a fenced backup rejoins by takeback's \
                           catch-up)"
                    .into(),
            });
        }
        let (resends, lossy) = (p.resends()?, p.bool("lossy")?);
        if wipes > 0 && !takeback {
            return Err(ParamError::BadValue {
                name: "wipes".into(),
                value: wipes.to_string(),
                expected: "0 unless takeback = true (a server that lost its storage rejoins by \
                           takeback's catch-up)"
                    .into(),
            });
        }
        Ok(Config {
            variant,
            level,
            servers: if level == Level::Normal { 1 } else { 2 },
            clients: p.uint("clients")? as usize,
            requests: p.uint("requests")? as usize,
            sessions: p.uint("sessions")? as u8,
            buffers: p.uint("buffers")? as usize,
            resends,
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
            lossy,
            heartbeats: p.bool("heartbeats")?,
            takeback,
            probe: p.bool("probe")?,
            degrade,
            takeovers: p.uint("takeovers")? as Epoch,
            catch_up_chunk: 1,
            wipes: wipes as u8,
            timing: Timing::model(),
        })
    }

    /// Whether the model may crash `server` (or make it lose its storage).
    pub(crate) fn may_crash(&self, server: usize) -> bool {
        match self.crash {
            CrashTarget::Primary => server == 0,
            CrashTarget::Backup => server == 1,
            CrashTarget::Any => true,
        }
    }
}

/// The client-visible history (one slot per client: one request outstanding at a time).
pub type History<S> = crate::history::History<Id, S>;
/// The model's full state.
pub type State<S> = ActorModelState<Node<S>, History<S>>;
/// The model.
pub type Model<S> = ActorModel<Node<S>, Config, History<S>>;

fn within_boundary<S: Service>(cfg: &Config, state: &State<S>) -> bool {
    let restarts = (0..cfg.servers).filter_map(|i| saved(state, i).map(|d| d.restarts));
    let durable = || (0..cfg.servers).filter_map(|i| saved(state, i));
    let wipes: u8 = durable().map(|d| d.wipes).sum();
    // Epochs come from takeovers (bounded), from learners caught up (one each, bounded by the
    // storage losses) and from inquiries answered in a new epoch (one per restart of a
    // primary at most, bounded by the crashes): the bound counts takeovers only.
    let joins = durable().filter(|d| d.joined != 0).count() as Epoch;
    let answered: Epoch = durable().map(|d| Epoch::from(d.reconfigured)).sum();
    let bound = cfg.takeovers + joins + answered;
    let epochs_within = wipes <= cfg.wipes && durable().all(|d| d.epoch <= bound);
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

/// The server whose durable state says primary with the highest epoch: the one that serves;
/// with none (the primary lost its storage), the backup: the one that will take over.
fn authority<S: Service>(cfg: &Config, state: &State<S>) -> Option<usize> {
    let durable = || (0..cfg.servers).filter_map(|i| saved(state, i).map(|d| (i, d)));
    let highest = |role| durable().filter(|(_, d)| d.role == role).max_by_key(|(_, d)| d.epoch);
    highest(Role::Primary).or_else(|| highest(Role::Backup)).map(|(i, _)| i)
}

/// A request a client has received a reply for.
struct Acked<S: Service> {
    client: Id,
    session: u64,
    seq: u32,
    op: S::Op,
    reply: S::Reply,
}

/// Every request a client has received a reply for (the model's client `k` runs sessions
/// 1, 2, … of `requests` requests each, its workload numbered across them).
fn acknowledged<S: Service>(cfg: &Config, state: &State<S>) -> Vec<Acked<S>> {
    let mut acked = Vec::new();
    let per_session = cfg.requests.max(1);
    for (k, client) in cfg.client_ids().enumerate() {
        if let NodeState::Client(c) = &*state.actor_states[usize::from(client)] {
            for (i, reply) in c.replies.iter().enumerate() {
                let (session, seq) = ((i / per_session) as u64 + 1, (i % per_session) as u32);
                let (op, reply) = (S::workload(k, i), reply.clone());
                acked.push(Acked { client, session, seq, op, reply });
            }
        }
    }
    acked
}

/// Whether `log` holds request `a` (expired or not).
fn holds<S: Service>(log: &Log<S>, a: &Acked<S>) -> bool {
    log.scan(a.client, a.session, a.seq).is_some()
}

fn two_safety<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let Some(a) = authority(&m.cfg, state) else {
        return false;
    };
    let Some(ad) = saved(state, a) else {
        return false;
    };
    acknowledged(&m.cfg, state).iter().filter(|k| S::changes_state(&k.op)).all(|k| {
        // On the serving primary's disk, and on that of every server that could take over (a
        // backup): no single failure — a crash, or a takeover — loses it. A backup of an older
        // epoch than the serving primary's is fenced out (degraded mode): it can neither
        // commit a step nor take over, and rejoins by catch-up.
        let fenced = |d: &Durable<S::Op, S::Reply>| d.epoch < ad.epoch;
        holds(&ad.log, k)
            && (0..m.cfg.servers).filter(|j| *j != a).all(|j| {
                saved(state, j)
                    .is_none_or(|d| d.role != Role::Backup || fenced(d) || holds(&d.log, k))
            })
    })
}

fn exactly_once<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    for i in 0..m.cfg.servers {
        if saved(state, i).is_some_and(|d| d.log.has_duplicates()) {
            return false;
        }
        if let NodeState::Server(s) = &*state.actor_states[i] {
            if !state.crashed[i] && s.log.has_duplicates() {
                return false;
            }
        }
    }
    let Some(ad) = authority(&m.cfg, state).and_then(|a| saved(state, a)) else {
        return false;
    };
    acknowledged(&m.cfg, state).iter().filter(|k| S::changes_state(&k.op)).all(|k| {
        // Exactly once: present, and (checked above) no request twice in any history.
        ad.log.scan(k.client, k.session, k.seq).is_some_and(|e| e.reply == k.reply)
    })
}

fn atomicity<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let logs: Vec<&Log<S>> =
        (0..m.cfg.servers).filter_map(|i| saved(state, i).map(|d| &d.log)).collect();
    logs.iter()
        .enumerate()
        .all(|(i, a)| logs[i + 1..].iter().all(|b| a.agrees_on_prefix(b, a.len().min(b.len()))))
}

fn linearizability<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    state.history.is_linearizable()
}

fn single_primary_per_epoch<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let primaries: Vec<Epoch> = (0..m.cfg.servers)
        .filter_map(|i| saved(state, i))
        .filter(|d| d.role == Role::Primary)
        .map(|d| d.epoch)
        .collect();
    primaries.iter().enumerate().all(|(i, e)| !primaries[i + 1..].contains(e))
}

fn liveness<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    m.cfg.client_ids().all(|id| {
        matches!(&*state.actor_states[usize::from(id)],
            NodeState::Client(c) if c.replies.len() == m.cfg.requests * usize::from(m.cfg.sessions))
    })
}

/// Builds the model of configuration `cfg` over service `S`.
pub fn build<S: Service>(cfg: Config) -> Model<S> {
    let servers = (0..cfg.servers).map(|_| Node::Server(Server::new(cfg.clone())));
    let clients = (0..cfg.clients).map(|k| Node::Client(Client::new(cfg.clone(), k)));
    let mut model = ActorModel::new(cfg.clone(), History::<S>::new())
        .actors(servers)
        .actors(clients)
        .environment(cfg.network == NetworkKind::Ordered, cfg.lossy, cfg.crashes.min(1))
        .record_msg_out(|cfg, h, env| history::record(h, env, Seen::Sent, cfg.servers, |c, _| c))
        .record_msg_in(|cfg, h, env| {
            history::record(h, env, Seen::Delivered, cfg.servers, |c, _| c)
        })
        .within_boundary(within_boundary::<S>)
        .property(Expectation::Always, "2-safety", two_safety::<S>)
        .property(Expectation::Always, "exactly-once", exactly_once::<S>)
        .property(Expectation::Always, "atomicity", atomicity::<S>)
        .property(Expectation::Always, "linearizability", linearizability::<S>)
        .property(Expectation::Always, "single-primary-per-epoch", single_primary_per_epoch::<S>);
    if !cfg.lossy || cfg.resends == FOREVER {
        model = model.property(Expectation::Eventually, "liveness", liveness::<S>);
    }
    model
}

crate::visit_over_service!(in_flight_once if cfg => cfg.resends == FOREVER);
