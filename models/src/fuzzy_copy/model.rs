//! The fuzzy-copy model: configuration, seeded bugs, the logical-equivalence property, and the
//! model builder. Server 0 is the primary (it does not crash here), server 1 the new backup
//! (which may crash and reboot: a soft failure), then the clients.

use super::server::{Backup, BackupState, Phase, Primary, PrimaryState};
use super::Msg;
use crate::accounts::Accounts;
use crate::catalogue::{ModelVisitor, PropertySpec, VariantSpec};
use crate::history::{network, within_crash_budget};
use crate::params::{ParamError, ParamKind, ParamSpec, Params, NETWORK};
use crate::service::{Counter, Register, Service};
use stateright::actor::{model_timeout, ActorModel, ActorModelState, Envelope, Id, Out};
use stateright::Expectation;
use std::marker::PhantomData;

/// The model's name in the catalogue.
pub const NAME: &str = "fuzzy-copy";

/// The protocol, or one seeded bug.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Variant {
    /// As specified (specs/fuzzy-copy.md).
    Correct,
    /// The backup replays every log entry, without generation filtering.
    NoFilter,
    /// The primary keeps accepting requests while the backup catches up the last entries.
    NoIntakePause,
    /// A rebooted backup catches up from what a recycled table still holds.
    RecycledCatchUp,
    /// Rolling upgrade: the primary hands over while the spare is still being copied or
    /// catching up.
    HandoverBeforeCurrent,
    /// Rolling upgrade: the retired primary drops requests instead of redirecting them.
    RetireWithoutForwarding,
}

/// The variants.
pub const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "correct",
        about: "the protocol as specified",
        breaks: &[],
    },
    VariantSpec {
        name: "no-filter",
        about: "log replay without generation filtering",
        breaks: &["logical-equivalence"],
    },
    VariantSpec {
        name: "no-intake-pause",
        about: "no intake pause at the end of catch-up",
        breaks: &["logical-equivalence"],
    },
    VariantSpec {
        name: "recycled-catch-up",
        about: "soft-failure catch-up from a recycled history table",
        breaks: &["logical-equivalence"],
    },
];

/// The properties.
pub const PROPERTIES: &[PropertySpec] = &[PropertySpec {
    name: "logical-equivalence",
    about: "whenever the backup is current and no update is in flight, its logical state \
            (service digest) equals the primary's",
}];

/// The parameters the rolling upgrade shares with this model (the same roles and bounds).
pub const SHARED_PARAMS: [ParamSpec; 7] =
    [CLIENTS, REQUESTS, RESENDS, CRASHES, TABLE, NETWORK, LOSSY];

const CLIENTS: ParamSpec = ParamSpec {
    name: "clients",
    kind: ParamKind::UInt { min: 1, max: 3 },
    default: "1",
    help: "number of clients",
};
const REQUESTS: ParamSpec = ParamSpec {
    name: "requests",
    kind: ParamKind::UInt { min: 0, max: 4 },
    default: "3",
    help: "requests per client (one outstanding at a time)",
};
const RESENDS: ParamSpec = ParamSpec {
    name: "resends",
    kind: ParamKind::UInt { min: 0, max: 3 },
    default: "0",
    help: "timer-driven resends per request",
};
const CRASHES: ParamSpec = ParamSpec {
    name: "crashes",
    kind: ParamKind::UInt { min: 0, max: 2 },
    default: "1",
    help: "backup crashes (soft failures) in all",
};
const TABLE: ParamSpec = ParamSpec {
    name: "table",
    kind: ParamKind::UInt { min: 1, max: 8 },
    default: "4",
    help: "log entries the primary's history table retains",
};
const LOSSY: ParamSpec = ParamSpec {
    name: "lossy",
    kind: ParamKind::Bool,
    default: "false",
    help: "whether messages can be lost",
};

const BATCH: ParamSpec = ParamSpec {
    name: "batch",
    kind: ParamKind::UInt { min: 1, max: 4 },
    default: "1",
    help: "objects per copy message and log entries per replay message",
};

/// The parameters.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "service",
        kind: ParamKind::Choice(&["counter", "register", "accounts"]),
        default: "counter",
        help: "replicated application (accounts: three TPC-B account rows, so that a copy in \
               batches of two is still fuzzy)",
    },
    CLIENTS,
    REQUESTS,
    RESENDS,
    CRASHES,
    TABLE,
    BATCH,
    NETWORK,
    LOSSY,
    ParamSpec {
        name: "variant",
        kind: ParamKind::Choice(&[
            "correct",
            "no-filter",
            "no-intake-pause",
            "recycled-catch-up",
        ]),
        default: "correct",
        help: "the protocol or a seeded bug",
    },
];

/// The model's configuration.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Config {
    /// The protocol or a seeded bug.
    pub variant: Variant,
    /// Clients.
    pub clients: usize,
    /// Requests per client.
    pub requests: usize,
    /// Resends per request.
    pub resends: u8,
    /// Backup crashes.
    pub crashes: usize,
    /// History table capacity.
    pub table: usize,
    /// Objects per copy message, log entries per replay message (at least 1).
    pub batch: usize,
    /// FIFO per pair.
    pub ordered: bool,
    /// Lossy network.
    pub lossy: bool,
    /// Rolling upgrade: the spare runs version 2, and the primary hands over once it is
    /// current (the `rolling-upgrade` model).
    pub upgrade: bool,
}

const SERVERS: usize = 2;

impl Config {
    /// The configuration `p` describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        Ok(Config {
            variant: match p.choice("variant")? {
                "no-filter" => Variant::NoFilter,
                "no-intake-pause" => Variant::NoIntakePause,
                "recycled-catch-up" => Variant::RecycledCatchUp,
                "handover-before-current" => Variant::HandoverBeforeCurrent,
                "retire-without-forwarding" => Variant::RetireWithoutForwarding,
                _ => Variant::Correct,
            },
            clients: p.uint("clients")? as usize,
            requests: p.uint("requests")? as usize,
            resends: p.uint("resends")? as u8,
            crashes: p.uint("crashes")? as usize,
            table: p.uint("table")? as usize,
            // The rolling upgrade copies one object at a time.
            batch: if p.model() == NAME {
                p.uint("batch")? as usize
            } else {
                1
            },
            ordered: p.choice("network")? == "ordered",
            lossy: p.bool("lossy")?,
            upgrade: p.model() == crate::rolling_upgrade::NAME,
        })
    }
}

/// Timers.
#[derive(
    Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize,
)]
pub enum Timer {
    /// A client resends.
    Resend,
    /// Rolling upgrade: the primary hands over to its backup (when current).
    Handover,
}

/// A client: its requests in order, one outstanding, resent within a budget. In the models the
/// requests are the service's fixed workload; hosted by the runtime, they are the operations
/// submitted to it ([`Client::submit`]).
#[derive(Clone, Debug)]
pub struct Client<S> {
    cfg: Config,
    index: usize,
    _s: PhantomData<S>,
}

/// A client's state: the replies received and the resends left.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientState<Op: Clone, Reply: Clone> {
    /// Replies, in request order (persistent: a hosted client answers thousands).
    pub replies: imbl::Vector<Reply>,
    /// Resends left for the outstanding request.
    pub resends_left: u8,
    /// The server it sends to: 0, or 1 once told `Moved` (rolling upgrade).
    pub server: u8,
    /// A submitted operation waiting for its reply (hosted clients; `None` in the models).
    pub submitted: Option<Op>,
}

type Cs<S> = ClientState<<S as Service>::Op, <S as Service>::Reply>;

impl<S: Service> Client<S> {
    /// Client number `index` of configuration `cfg`.
    pub fn new(cfg: Config, index: usize) -> Self {
        Client {
            cfg,
            index,
            _s: PhantomData,
        }
    }

    /// The outstanding request: the submitted operation, or the workload's next one.
    fn outstanding(&self, s: &Cs<S>) -> Option<(u64, S::Op)> {
        let seq = s.replies.len();
        match &s.submitted {
            Some(op) => Some((seq as u64, op.clone())),
            None => (seq < self.cfg.requests).then(|| (seq as u64, S::workload(self.index, seq))),
        }
    }

    /// Sends the outstanding request (if any) and arms the resend timer.
    fn send_next(&self, s: &Cs<S>, o: &mut Out<Node<S>>) {
        if let Some((seq, op)) = self.outstanding(s) {
            o.send(Id::from(usize::from(s.server)), Msg::Request { seq, op });
            if s.resends_left > 0 {
                o.set_timer(Timer::Resend, model_timeout());
            }
        }
    }

    /// Sends the first request.
    pub fn on_start(&self, _: Id, _: &Option<BackupState<S>>, o: &mut Out<Node<S>>) -> Cs<S> {
        let s = ClientState {
            replies: imbl::Vector::new(),
            resends_left: self.cfg.resends,
            server: 0,
            submitted: None,
        };
        self.send_next(&s, o);
        s
    }

    /// A hosted client's request: `op` is sent as the next request unless one is outstanding.
    pub fn submit(&self, s: &Cs<S>, op: S::Op, o: &mut Out<Node<S>>) -> Option<Cs<S>> {
        if self.outstanding(s).is_some() {
            return None;
        }
        let n = ClientState {
            submitted: Some(op),
            resends_left: self.cfg.resends,
            ..s.clone()
        };
        self.send_next(&n, o);
        Some(n)
    }

    /// Takes the reply to the outstanding request and sends the next.
    pub fn on_msg(
        &self,
        s: &Cs<S>,
        _: Id,
        msg: Msg<S::Op, S::Reply, S::Key, S::Object>,
        o: &mut Out<Node<S>>,
    ) -> Option<Cs<S>> {
        let (seq, _) = self.outstanding(s)?;
        match msg {
            Msg::Reply { seq: r, reply } if r == seq => {
                let mut n = s.clone();
                n.replies.push_back(reply);
                n.resends_left = self.cfg.resends;
                n.submitted = None;
                self.send_next(&n, o);
                Some(n)
            }
            Msg::Moved if s.server == 0 => {
                let n = ClientState {
                    server: 1,
                    ..s.clone()
                };
                self.send_next(&n, o);
                Some(n)
            }
            _ => None,
        }
    }

    /// Resends the outstanding request, within the budget.
    pub fn on_timeout(&self, s: &Cs<S>, _: &Timer, o: &mut Out<Node<S>>) -> Option<Cs<S>> {
        if s.resends_left == 0 {
            return None;
        }
        let (seq, op) = self.outstanding(s)?;
        let mut n = s.clone();
        n.resends_left -= 1;
        o.send(Id::from(usize::from(n.server)), Msg::Request { seq, op });
        if n.resends_left > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
        Some(n)
    }
}

crate::protocol_node! {
    msg = Msg<S::Op, S::Reply, S::Key, S::Object>, timer = Timer, storage = BackupState<S>;
    Primary(Primary<S>, PrimaryState<S>, "primary"),
    Backup(Backup<S>, BackupState<S>, "backup"),
    Client(Client<S>, ClientState<S::Op, S::Reply>, "client"),
}

/// The client-visible history (recorded in the rolling upgrade only).
pub type History<S> = crate::history::History<Id, S>;
/// The model's state.
pub type State<S> = ActorModelState<Node<S>, History<S>>;
/// The model.
pub type Model<S> = ActorModel<Node<S>, Config, History<S>>;

type M<S> =
    Msg<<S as Service>::Op, <S as Service>::Reply, <S as Service>::Key, <S as Service>::Object>;

fn record_out<S: Service>(
    cfg: &Config,
    h: &History<S>,
    env: Envelope<&M<S>>,
) -> Option<History<S>> {
    match env.msg {
        Msg::Request { seq, op } if cfg.upgrade && usize::from(env.src) >= SERVERS => {
            h.invoke(env.src, *seq as u32, op)
        }
        _ => None,
    }
}

fn record_in<S: Service>(cfg: &Config, h: &History<S>, env: Envelope<&M<S>>) -> Option<History<S>> {
    match env.msg {
        Msg::Reply { seq, reply } if cfg.upgrade && usize::from(env.dst) >= SERVERS => {
            h.ret(env.dst, *seq as u32, reply)
        }
        _ => None,
    }
}

fn within_boundary<S: Service>(cfg: &Config, state: &State<S>) -> bool {
    let restarts = state
        .actor_storages
        .get(1)
        .and_then(Option::as_ref)
        .map(|d| d.restarts);
    within_crash_budget(
        &state.crashed,
        SERVERS,
        restarts.into_iter(),
        |i| i == 1,
        cfg.crashes,
    )
}

fn logical_equivalence<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    let (NodeState::Primary(p), NodeState::Backup(b)) =
        (&*state.actor_states[0], &*state.actor_states[1])
    else {
        return true;
    };
    if p.phase != Phase::Current || p.pending.is_some() || p.retired || state.crashed[1] {
        return true;
    }
    p.service.digest() == b.service.digest()
}

fn linearizability<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    state.history.is_linearizable()
}

/// The upgrade is done without unavailability: every client got all its replies, and the
/// new version serves the process.
fn upgrade_liveness<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let served = matches!(&*state.actor_states[1], NodeState::Backup(b) if b.serving.is_some());
    let clients = state.actor_states[SERVERS..]
        .iter()
        .all(|c| matches!(&**c, NodeState::Client(c) if c.replies.len() == m.cfg.requests));
    served && clients
}

/// Builds the model of `cfg` over service `S`.
pub fn build<S: Service>(cfg: Config) -> Model<S> {
    let (net, lossy) = network(cfg.ordered, cfg.lossy);
    let upgrade = cfg.upgrade;
    let reliable = !cfg.lossy;
    let model = ActorModel::new(cfg.clone(), History::<S>::new())
        .actor(Node::Primary(Primary::new(cfg.clone())))
        .actor(Node::Backup(Backup::new(cfg.clone())))
        .actors((0..cfg.clients).map(|k| Node::Client(Client::new(cfg.clone(), k))))
        .init_network(net)
        .lossy_network(lossy)
        .max_crashes(cfg.crashes.min(1))
        .within_boundary(within_boundary::<S>)
        .record_msg_out(record_out::<S>)
        .record_msg_in(record_in::<S>)
        .property(
            Expectation::Always,
            "logical-equivalence",
            logical_equivalence::<S>,
        );
    match (upgrade, reliable) {
        (false, _) => model,
        (true, false) => {
            model.property(Expectation::Always, "linearizability", linearizability::<S>)
        }
        (true, true) => model
            .property(Expectation::Always, "linearizability", linearizability::<S>)
            .property(
                Expectation::Eventually,
                "upgrade-liveness",
                upgrade_liveness::<S>,
            ),
    }
}

/// Builds the model `params` describe and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    let cfg = Config::from_params(params)?;
    Ok(match params.choice("service")? {
        "register" => visitor.visit(build::<Register>(cfg)),
        "accounts" => visitor.visit(build::<Accounts<3>>(cfg)),
        _ => visitor.visit(build::<Counter>(cfg)),
    })
}
