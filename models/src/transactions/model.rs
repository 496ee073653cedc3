//! The transactions model: configuration, seeded bugs, properties, model builder. Server 0
//! is the primary, server 1 the backup, then the clients; each client runs one transaction of
//! `ops` updates and its commit, restarting it when told of a new primary. Failure detection
//! is accurate, as in logical checkpointing.

use super::server::{Durable, Role, Server, ServerState, Txn};
use super::{Item, Msg};
use crate::catalogue::{ModelVisitor, PropertySpec, VariantSpec};
use crate::history::{network, within_crash_budget};
use crate::params::{ParamError, ParamKind, ParamSpec, Params, CRASH, LOSSY, NETWORK};
use crate::service::{Counter, Register, Service};
use stateright::actor::{model_timeout, ActorModel, ActorModelState, Id, Out};
use stateright::Expectation;
use std::marker::PhantomData;

/// The model's name in the catalogue.
pub const NAME: &str = "transactions";

/// How transactions are checkpointed.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Mode {
    /// Fig. 5B: the whole transaction in one checkpoint at commit.
    Batch,
    /// Fig. 5C: each request checkpointed on its own, then a commit record.
    Entry,
}

/// The protocol or a seeded bug.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Variant {
    /// As specified.
    Correct,
    /// A new primary commits the logged entries of transactions that have no commit record.
    PartialCommit,
    /// The backup commits a batch as soon as it is logged, before older ones.
    NewerFirst,
    /// The primary commits and answers a transaction before the backup's ack.
    ReplyBeforeAck,
    /// A restarted transaction is executed again although it committed.
    NoTxnDedup,
}

/// The variants.
pub const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "correct",
        about: "the protocol as specified",
        breaks: &[],
    },
    VariantSpec {
        name: "partial-commit",
        about: "a new primary commits the entries of transactions without a commit record",
        breaks: &["transaction-atomicity"],
    },
    VariantSpec {
        name: "newer-first",
        about: "the backup commits a transaction as soon as it is logged, before older ones",
        breaks: &["serial-equivalence"],
    },
    VariantSpec {
        name: "reply-before-ack",
        about: "the primary commits and answers a transaction before the backup's ack",
        breaks: &["2-safety"],
    },
    VariantSpec {
        name: "no-txn-dedup",
        about: "a restarted transaction that already committed is executed again",
        breaks: &["exactly-once"],
    },
];

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
    PropertySpec {
        name: "exactly-once",
        about: "no transaction commits twice at any server",
    },
];

/// The parameters.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "mode",
        kind: ParamKind::Choice(&["batch", "entry"]),
        default: "entry",
        help: "checkpoint the transaction as a batch (5B) or entry by entry (5C)",
    },
    ParamSpec {
        name: "service",
        kind: ParamKind::Choice(&["counter", "register"]),
        default: "counter",
        help: "replicated application",
    },
    ParamSpec {
        name: "clients",
        kind: ParamKind::UInt { min: 1, max: 3 },
        default: "1",
        help: "clients, one transaction each",
    },
    ParamSpec {
        name: "ops",
        kind: ParamKind::UInt { min: 1, max: 3 },
        default: "2",
        help: "updates per transaction",
    },
    ParamSpec {
        name: "resends",
        kind: ParamKind::UInt { min: 0, max: 3 },
        default: "1",
        help: "resends per request",
    },
    ParamSpec {
        name: "crashes",
        kind: ParamKind::UInt { min: 0, max: 2 },
        default: "1",
        help: "server crashes in all",
    },
    CRASH,
    NETWORK,
    LOSSY,
    ParamSpec {
        name: "variant",
        kind: ParamKind::Choice(&[
            "correct",
            "partial-commit",
            "newer-first",
            "reply-before-ack",
            "no-txn-dedup",
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
    /// Batch or entry by entry.
    pub mode: Mode,
    /// Clients.
    pub clients: usize,
    /// Updates per transaction.
    pub ops: usize,
    /// Resends per request.
    pub resends: u8,
    /// Crashes in all.
    pub crashes: usize,
    /// Which servers may crash.
    pub may_crash: [bool; 2],
    /// FIFO per pair.
    pub ordered: bool,
    /// Lossy network.
    pub lossy: bool,
}

const SERVERS: usize = 2;

impl Config {
    /// The configuration `p` describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        let crash = p.choice("crash")?;
        Ok(Config {
            variant: match p.choice("variant")? {
                "partial-commit" => Variant::PartialCommit,
                "newer-first" => Variant::NewerFirst,
                "reply-before-ack" => Variant::ReplyBeforeAck,
                "no-txn-dedup" => Variant::NoTxnDedup,
                _ => Variant::Correct,
            },
            mode: if p.choice("mode")? == "batch" {
                Mode::Batch
            } else {
                Mode::Entry
            },
            clients: p.uint("clients")? as usize,
            ops: p.uint("ops")? as usize,
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
    /// A client resends its current request.
    Resend,
    /// The backup takes over.
    Takeover,
}

/// A client: one transaction, request by request, then the commit.
#[derive(Clone, Debug)]
pub struct Client<S> {
    cfg: Config,
    index: usize,
    _s: PhantomData<S>,
}

/// A client's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientState<Reply> {
    /// The next request to send: `0..ops` are updates, `ops` the commit.
    pub next: u8,
    /// The transaction's response, once committed.
    pub committed: Option<Vec<Reply>>,
    /// Where requests go.
    pub primary: Id,
    /// The epoch of the last announcement followed.
    pub epoch: u8,
    /// Resends left for the current request.
    pub resends_left: u8,
}

impl<S: Service> Client<S> {
    fn current(&self, s: &ClientState<S::Reply>) -> Msg<S::Op, S::Reply> {
        if usize::from(s.next) < self.cfg.ops {
            Msg::Op {
                i: s.next,
                op: S::workload(self.index, usize::from(s.next)),
            }
        } else {
            Msg::Commit
        }
    }

    fn send(&self, s: &ClientState<S::Reply>, o: &mut Out<Node<S>>) {
        o.send(s.primary, self.current(s));
        if s.resends_left > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
    }
}

impl<S: Service> Client<S> {
    /// Sends the first request of the transaction to server 0.
    pub fn on_start(
        &self,
        _: Id,
        _: &Option<Durable<S::Op, S::Reply>>,
        o: &mut Out<Node<S>>,
    ) -> ClientState<S::Reply> {
        let s = ClientState {
            next: 0,
            committed: None,
            primary: Id::from(0),
            epoch: 0,
            resends_left: self.cfg.resends,
        };
        self.send(&s, o);
        s
    }

    /// Moves through the transaction; restarts it at a new primary.
    pub fn on_msg(
        &self,
        s: &ClientState<S::Reply>,
        src: Id,
        msg: Msg<S::Op, S::Reply>,
        o: &mut Out<Node<S>>,
    ) -> Option<ClientState<S::Reply>> {
        if s.committed.is_some() {
            return None;
        }
        let mut n = s.clone();
        match msg {
            Msg::Executed { i } if i == s.next && usize::from(i) < self.cfg.ops => {
                n.next += 1;
                n.resends_left = self.cfg.resends;
                self.send(&n, o);
            }
            Msg::Committed { replies } => {
                n.committed = Some(replies);
                o.cancel_timer(Timer::Resend);
            }
            Msg::NewPrimary { epoch } if epoch > s.epoch => {
                // The transaction was aborted or committed by the failure: restart it.
                n.primary = src;
                n.epoch = epoch;
                n.next = 0;
                self.send(&n, o);
            }
            _ => return None,
        }
        Some(n)
    }

    /// Resends the current request, within the budget.
    pub fn on_timeout(
        &self,
        s: &ClientState<S::Reply>,
        _: &Timer,
        o: &mut Out<Node<S>>,
    ) -> Option<ClientState<S::Reply>> {
        if s.committed.is_some() || s.resends_left == 0 {
            return None;
        }
        let mut n = s.clone();
        n.resends_left -= 1;
        o.send(n.primary, self.current(&n));
        if n.resends_left > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
        Some(n)
    }
}

crate::protocol_node! {
    msg = Msg<S::Op, S::Reply>, timer = Timer, storage = Durable<S::Op, S::Reply>;
    Server(Server<S>, ServerState<S>, "server"),
    Client(Client<S>, ClientState<S::Reply>, "client"),
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

fn durable<S: Service>(state: &State<S>, i: usize) -> Option<&Durable<S::Op, S::Reply>> {
    state.actor_storages.get(i).and_then(Option::as_ref)
}

fn within_boundary<S: Service>(cfg: &Config, state: &State<S>) -> bool {
    let primaries = (0..SERVERS)
        .filter(|i| server(state, *i).is_some_and(|s| s.d.role == Role::Primary))
        .count();
    let restarts = (0..SERVERS).filter_map(|i| durable(state, i).map(|d| d.restarts));
    primaries <= 1
        && within_crash_budget(
            &state.crashed,
            SERVERS,
            restarts,
            |i| cfg.may_crash[i],
            cfg.crashes,
        )
}

fn histories<S: Service>(state: &State<S>) -> Vec<&[Txn<S::Op, S::Reply>]> {
    (0..SERVERS)
        .filter_map(|i| durable(state, i).map(|d| d.history.as_slice()))
        .collect()
}

fn transaction_atomicity<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    histories(state)
        .iter()
        .all(|h| h.iter().all(|t| t.ops.len() == m.cfg.ops))
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
        .filter_map(|i| durable(state, i))
        .filter(|d| d.role != Role::Spare)
        .max_by_key(|d| (d.epoch, d.role == Role::Primary))
    else {
        return false;
    };
    m.cfg.client_ids().all(|c| {
        let acked = matches!(&*state.actor_states[usize::from(c)], NodeState::Client(s) if s.committed.is_some());
        !acked || (holds::<S>(a, c) && (a.epoch > 0 || durable(state, 1).is_some_and(|b| holds::<S>(b, c))))
    })
}

fn exactly_once<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    histories(state).iter().all(|h| {
        m.cfg
            .client_ids()
            .all(|c| h.iter().filter(|t| t.client == c).count() <= 1)
    })
}

/// Builds the model of `cfg` over service `S`.
pub fn build<S: Service>(cfg: Config) -> Model<S> {
    let (net, lossy) = network(cfg.ordered, cfg.lossy);
    ActorModel::new(cfg.clone(), ())
        .actors((0..SERVERS).map(|_| Node::Server(Server::new(cfg.clone()))))
        .actors((0..cfg.clients).map(|k| {
            Node::Client(Client {
                cfg: cfg.clone(),
                index: k,
                _s: PhantomData,
            })
        }))
        .init_network(net)
        .lossy_network(lossy)
        .max_crashes(cfg.crashes.min(1))
        .within_boundary(within_boundary::<S>)
        .property(
            Expectation::Always,
            "transaction-atomicity",
            transaction_atomicity::<S>,
        )
        .property(
            Expectation::Always,
            "serial-equivalence",
            serial_equivalence::<S>,
        )
        .property(Expectation::Always, "2-safety", two_safety::<S>)
        .property(Expectation::Always, "exactly-once", exactly_once::<S>)
}

/// Builds the model `params` describe and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    let cfg = Config::from_params(params)?;
    Ok(match params.choice("service")? {
        "register" => visitor.visit(build::<Register>(cfg)),
        _ => visitor.visit(build::<Counter>(cfg)),
    })
}
