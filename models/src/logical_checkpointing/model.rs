//! Logical checkpointing's configuration, seeded bugs, properties and model builder.
//!
//! The model: server 0 (primary), server 1 (backup), `clients` clients with `window`
//! outstanding requests each. The network reorders and, if `lossy`, loses messages; up to
//! `crashes` server crashes, one server down at a time. Without `heartbeats`, failure detection
//! is accurate: the boundary excludes states where the backup has taken over while the old
//! primary is up and still primary. With them, the backup may take over at any moment.

use super::client::Client;
use super::msg::{Committed, Epoch, Seq, Ssn};
use super::server::{Durable, Logged, Role, Server, ServerState};
use super::{Config, Node, NodeState, Timing, Variant, SERVERS, VARIANT, VARIANTS};
use crate::history::{self, saved, History as ClientHistory, PairFaults, Seen, FOREVER};
use crate::params::{self, ParamError, ParamSpec, Params, CRASH, NETWORK};
use crate::services::Service;
use crate::spec::{ModelSpec, PropertySpec};
use stateright::actor::{ActorModel, ActorModelState, Id};
use stateright::Expectation;

/// The model's name in the catalogue.
pub const NAME: &str = "logical-checkpointing";

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
    PropertySpec {
        name: "liveness",
        about: "every client eventually gets a response to each of its requests, under weak \
                fairness (checked on reliable networks, and on lossy ones with resends = \
                forever)",
    },
];

/// The parameters.
pub const PARAMS: &[ParamSpec] = &[
    params::service(&["register", "counter"], "register"),
    params::clients(4, "1"),
    params::requests(4, "2").with_help("requests per client"),
    ParamSpec::uint("window", (1, 4), "2", "outstanding requests per client"),
    params::sessions(3),
    params::resends_or_forever(3, "1").with_help(
        "path failures per client (each resends every outstanding request), or forever (lossy \
         networks only: a copy sent while an identical one is in flight is merged into it)",
    ),
    params::crashes(3, "1"),
    super::REJOIN,
    params::PROBE,
    ParamSpec::uint(
        "wipes",
        (0, 1),
        "0",
        "storage losses: a server whose peer holds everything it acknowledged (a backup, or \
         the first primary) loses its storage and rejoins as a learner by catch-up (needs rejoin)",
    ),
    ParamSpec::uint(
        "takeovers",
        (1, 3),
        "1",
        "the highest epoch explored (each takeover bumps it; with heartbeats a rejoined spare \
         may take over again without end)",
    ),
    super::HEARTBEATS,
    CRASH,
    NETWORK,
    params::lossy(true),
    VARIANT,
];

/// The protocol's entry in the catalogue.
pub const SPEC: ModelSpec = ModelSpec {
    name: NAME,
    about:
        "the patent's logical checkpointing: message table, SSNs, SSN-order commit, resends, takeover",
    seed: "Patent, \"Fault tolerance using logical checkpointing in computing systems\", Fig. \
           3A-3D, 4A, 4B",
    params: PARAMS,
    properties: PROPERTIES,
    given_up: &[],
    variants: VARIANTS,
    configurations: crate::checks![
        "crash-primary": crash = "primary";
        "crash-backup": crash = "backup";
        "counter": service = "counter";
        "two-clients": clients = "2", requests = "1", window = "1";
        "heartbeats": heartbeats = "true", requests = "1";
        "heartbeats/two-clients": heartbeats = "true", clients = "2", requests = "1", window = "1",
            crashes = "0", lossy = "false";
        "heartbeats/window": heartbeats = "true", crashes = "0", lossy = "false";
        "sessions": service = "counter", sessions = "2", requests = "1", window = "1";
        "sessions/heartbeats": service = "counter", sessions = "2", requests = "1", window = "1",
            heartbeats = "true", crashes = "0";
        "rejoin": rejoin = "true", crash = "primary", requests = "2", window = "1";
        "rejoin/heartbeats": rejoin = "true", heartbeats = "true", requests = "1", crashes = "0";
        "rejoin/heartbeats/crash": rejoin = "true", heartbeats = "true", requests = "1",
            crash = "backup", lossy = "false";
        "probe": probe = "true", crash = "primary", requests = "1";
        "rejoin/heartbeats/probe": rejoin = "true", heartbeats = "true", probe = "true",
            requests = "1", crashes = "0";
        "rejoin/twice": rejoin = "true", requests = "1", crashes = "2", takeovers = "2",
            lossy = "false";
        "storage-loss/backup": rejoin = "true", wipes = "1", crash = "backup", crashes = "0",
            requests = "2", window = "1";
        "storage-loss/primary": rejoin = "true", wipes = "1", crash = "primary", crashes = "0",
            requests = "1";
        "storage-loss/then-crash": rejoin = "true", wipes = "1", crash = "any", crashes = "1",
            requests = "1", lossy = "false";
        "resend-forever/crash-primary": resends = "forever", crash = "primary", requests = "1";
        "resend-forever/crash-backup": resends = "forever", crash = "backup";
        "resend-forever/heartbeats": resends = "forever", heartbeats = "true", crash = "primary",
            requests = "1";
        "resend-forever/probe": resends = "forever", probe = "true", crash = "primary",
            requests = "1";
        deep "deep/resend-forever/crash-primary": resends = "forever", crash = "primary";
        deep "deep/storage-loss/heartbeats": rejoin = "true", heartbeats = "true", wipes = "1",
            crash = "primary", crashes = "0", requests = "1", lossy = "false";
        deep "deep/heartbeats/two-clients-lossy": heartbeats = "true", clients = "2",
            requests = "1", window = "1", crashes = "0";
    ],
};

impl Config {
    /// The configuration `p` describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        let variant = Variant::from_params(p)?;
        let (wipes, rejoin) = super::wipes_and_rejoin(p)?;
        Ok(Config {
            variant,
            clients: p.uint("clients")? as usize,
            requests: p.uint("requests")? as usize,
            window: p.uint("window")? as usize,
            sessions: p.uint("sessions")? as u8,
            resends: p.resends()?,
            heartbeats: p.bool("heartbeats")?,
            rejoin,
            probe: p.bool("probe")?,
            catch_up_chunk: 1,
            wipes,
            takeovers: p.uint("takeovers")?,
            faults: PairFaults::from_params(p)?,
            timing: Timing::model(),
        })
    }
}

/// The client-visible history: one tester thread per (client, window slot).
pub type History<S> = ClientHistory<(Id, u8), S>;
/// The model's state.
pub type State<S> = ActorModelState<Node<S>, History<S>>;
/// The model.
pub type Model<S> = ActorModel<Node<S>, Config, History<S>>;

/// A client's tester thread for request `seq`: one per window slot.
fn slot(cfg: &Config, client: Id, seq: u32) -> (Id, u8) {
    (client, ((seq & 0xffff) % cfg.window as u32) as u8)
}

fn server<S: Service>(state: &State<S>, i: usize) -> Option<&ServerState<S>> {
    match &*state.actor_states[i] {
        NodeState::Server(s) if !state.crashed[i] => Some(s),
        _ => None,
    }
}

fn within_boundary<S: Service>(cfg: &Config, state: &State<S>) -> bool {
    // Accurate failure detection (without heartbeats): no takeover while the old primary is up
    // and primary.
    let two_primaries = (0..SERVERS)
        .filter(|i| server(state, *i).is_some_and(|s| s.d.role == Role::Primary))
        .count()
        > 1;
    let restarts = (0..SERVERS).filter_map(|i| saved(state, i).map(|d| d.restarts));
    // Storage losses in all within the bound; epochs come from takeovers and from learners
    // caught up (one each).
    let wipes: u8 = (0..SERVERS).filter_map(|i| saved(state, i)).map(|d| d.wipes).sum();
    let epochs = wipes <= cfg.wipes
        && (0..SERVERS).all(|i| {
            saved(state, i).is_none_or(|d| d.epoch <= cfg.takeovers + Epoch::from(cfg.wipes))
        });
    (cfg.heartbeats || !two_primaries) && epochs && cfg.faults.allow(&state.crashed, restarts)
}

// ---- Properties ---------------------------------------------------------------------------

/// The server that serves the process now or will after the takeover: the durable primary of
/// the highest epoch, or the backup while the failed primary is in the spare pool, or — both
/// spares, the last chunk of a rejoin lost with the primary that sent it — that primary, which
/// catches the other up again.
fn authority<S: Service>(state: &State<S>) -> Option<&Durable<S::Op, S::Reply>> {
    (0..SERVERS)
        .filter_map(|i| saved(state, i))
        .max_by_key(|d| (!d.learner, d.epoch, d.role != Role::Spare, d.role == Role::Primary))
}

/// A request: client, session, sequence number.
type Request = (Id, u64, Seq);

/// Every request a client has a response for, with its operation and the response.
fn answered<S: Service>(m: &Model<S>, state: &State<S>) -> Vec<(Request, S::Op, S::Reply)> {
    let mut out = Vec::new();
    for (k, id) in m.cfg.client_ids().enumerate() {
        if let NodeState::Client(c) = &*state.actor_states[usize::from(id)] {
            for ((session, seq), reply) in &c.replies {
                let i = (*session as usize - 1) * m.cfg.requests + *seq as usize;
                out.push(((id, *session, *seq), S::workload(k, i), reply.clone()));
            }
        }
    }
    out
}

fn copies<S: Service>(d: &Durable<S::Op, S::Reply>, r: &Request) -> usize {
    d.history.iter().filter(|e| (e.client, e.session, e.seq) == *r).count()
        + d.log.values().filter(|l| (l.client, l.session, l.seq) == *r).count()
}

pub(crate) fn two_safety<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let Some(a) = authority(state) else {
        return false;
    };
    let backups: Vec<_> =
        (0..SERVERS).filter_map(|i| saved(state, i)).filter(|d| d.role == Role::Backup).collect();
    answered(m, state)
        .iter()
        .filter(|(_, op, _)| S::changes_state(op))
        .all(|(r, _, _)| copies::<S>(a, r) > 0 && backups.iter().all(|b| copies::<S>(b, r) > 0))
}

pub(crate) fn exactly_once<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let once = |history: &imbl::Vector<Committed<S::Op, S::Reply>>,
                log: &std::collections::BTreeMap<Ssn, Logged<S::Op>>| {
        let ids: Vec<Request> = history
            .iter()
            .map(|e| (e.client, e.session, e.seq))
            .chain(log.values().map(|l| (l.client, l.session, l.seq)))
            .collect();
        ids.iter().enumerate().all(|(i, x)| !ids[..i].contains(x))
    };
    for i in 0..SERVERS {
        if saved(state, i).is_some_and(|d| !once(&d.history, &d.log))
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
        .filter(|(_, op, _)| S::changes_state(op))
        .all(|(r, _, _)| copies::<S>(a, r) == 1)
}

fn same_response<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    answered(m, state).iter().all(|(r, _, reply)| {
        (0..SERVERS).filter_map(|i| saved(state, i)).all(|d| {
            d.history
                .iter()
                .filter(|e| (e.client, e.session, e.seq) == *r)
                .all(|e| e.reply == *reply)
        })
    })
}

fn ssn_order<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    (0..SERVERS).all(|i| {
        let ok = |h: &imbl::Vector<Committed<S::Op, S::Reply>>| {
            h.iter().enumerate().all(|(k, e)| e.ssn == k as Ssn)
        };
        saved(state, i).is_none_or(|d| ok(&d.history))
            && server(state, i).is_none_or(|s| ok(&s.d.history))
    })
}

fn linearizability<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    state.history.is_linearizable()
}

/// Builds the model of `cfg` over service `S`.
pub fn build<S: Service>(cfg: Config) -> Model<S> {
    let model = actors::<S>(cfg.clone())
        .property(Expectation::Always, "2-safety", two_safety::<S>)
        .property(Expectation::Always, "exactly-once", exactly_once::<S>)
        .property(Expectation::Always, "same-response", same_response::<S>)
        .property(Expectation::Always, "ssn-order", ssn_order::<S>)
        .property(Expectation::Always, "linearizability", linearizability::<S>);
    // With rejoin, each learner caught up opens an epoch, so a bounded configuration ends
    // with a catch-up its epoch bound cuts off: the verdict would be unknown at the bound.
    if (!cfg.faults.lossy || cfg.resends == FOREVER) && !cfg.rejoin {
        model.property(Expectation::Eventually, "liveness", liveness::<S>)
    } else {
        model
    }
}

/// Every client has a response to each request of each of its sessions.
fn liveness<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let all = m.cfg.requests * usize::from(m.cfg.sessions);
    (SERVERS..SERVERS + m.cfg.clients)
        .all(|i| matches!(&*state.actor_states[i], NodeState::Client(c) if c.replies.len() == all))
}

/// The model of `cfg` over service `S` without its properties: the servers and clients, the
/// network and crashes, the client-visible history (the transactions model states its own
/// properties over these roles).
pub(crate) fn actors<S: Service>(cfg: Config) -> Model<S> {
    cfg.faults
        .apply(ActorModel::new(cfg.clone(), History::<S>::new()))
        .actors((0..SERVERS).map(|_| Node::Server(Server::new(cfg.clone()))))
        .actors((0..cfg.clients).map(|k| Node::Client(Client::new(cfg.clone(), k))))
        .record_msg_out(|cfg, h, env| {
            history::record(h, env, Seen::Sent, SERVERS, |c, q| slot(cfg, c, q))
        })
        .record_msg_in(|cfg, h, env| {
            history::record(h, env, Seen::Delivered, SERVERS, |c, q| slot(cfg, c, q))
        })
        .within_boundary(within_boundary::<S>)
}

crate::visit_over_service!(in_flight_once if cfg => cfg.resends == FOREVER);
