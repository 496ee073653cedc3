//! Transactions under logical checkpointing (the logical-checkpointing patent, Fig. 5A-5C).
//!
//! A transaction is a start indicator, requests, and an end indicator (Fig. 5A). The roles are
//! logical checkpointing's own ([`super`]): its primary, backup, spare
//! and clients, message table, SSNs, SSN-order commit, resends and takeover. What makes the
//! requests a transaction is the replicated service, [`Transactional`]: a request
//! goes into the transaction's internal state, the end indicator commits all of them at once
//! or, if one is missing, none. Two ways to checkpoint it, the same at primary and backup:
//!
//! - **entry by entry** (Fig. 5C): each request is checkpointed and acked on its own, with
//!   its transaction indicator, and goes into the transaction's internal state in SSN order at
//!   both servers; the commit request is checkpointed too, and both commit the entire
//!   transaction when they process it. A failure loses at most a request that was not
//!   checkpointed yet, which the client resends: a takeover finds the rest in the new primary's
//!   internal state, so the transaction goes on.
//! - **batch** (Fig. 5B): the primary executes the requests as they come into its volatile
//!   workspace, without table entries or checkpoints (the one hook logical checkpointing has
//!   for it, [`Service::in_workspace`](crate::services::Service::in_workspace)); at the end
//!   indicator it checkpoints the whole transaction in one message under one SSN
//!   ([`Service::to_checkpoint`](crate::services::Service::to_checkpoint)), the backup logs it
//!   and sends a single ack, and both commit it. A failure of the primary before that loses the
//!   workspace: the transaction is aborted and the client restarts it.
//!
//! Both servers commit in SSN order, so an older transaction (an earlier commit record) always
//! commits before a newer one at the backup, as at the primary.
//!
//! The second model of these roles (as rolling upgrade is of fuzzy copy's): the service is
//! [`crate::services::transactional`]; here are the variant table, [`Config`], the
//! parameters, properties, configurations and builder.
//!
//! The model: logical checkpointing's roles (server 0 the primary, server 1 the backup, then the
//! clients, one request outstanding each) replicate the transactional service; each client runs
//! `transactions` transactions of `ops` requests and their commit, one after another. Failure
//! detection is accurate unless `heartbeats` is on, as in logical checkpointing.

use super::{model as roles, server::Durable, Timing};
use crate::history::{saved, PairFaults};
use crate::params::{self, ParamError, ParamSpec, Params, CRASH, NETWORK};
use crate::services::transactional::{Transactional, TxnOp, TxnReply};
use crate::services::{Counter, Service};
use crate::spec::{ModelSpec, ModelVisitor, PropertySpec};
use stateright::Expectation;

/// How transactions are checkpointed.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Mode {
    /// Fig. 5B: the whole transaction in one checkpoint at commit.
    Batch,
    /// Fig. 5C: each request checkpointed on its own, then a commit record.
    Entry,
}

crate::variants! {
    /// The protocol or a seeded bug.
    pub enum Variant {
        /// As specified.
        Correct = "correct": "the protocol as specified";
        /// An end indicator commits whatever its transaction has.
        PartialCommit = "partial-commit":
            "an end indicator commits the requests its transaction has, though some are \
             missing (a batch whose workspace a failure of the primary lost)",
            breaks ["transaction-atomicity"], check [mode = "batch", crash = "primary"];
        /// The primary commits a batch's end indicator from its workspace although it
        /// checkpointed it without the transaction.
        CommitUnsealed = "commit-unsealed":
            "the primary commits a batch's end indicator from its workspace, completed after \
             it checkpointed the end indicator alone, which the backup aborts",
            breaks ["serial-equivalence"],
            check [mode = "batch", rejoin = "true", crash = "primary", ops = "1",
                   transactions = "2"];
        /// The backup commits transactions in execution order, not SSN order.
        CommitInExecutionOrder = "commit-in-execution-order":
            "the backup commits a transaction as soon as it has executed it, before older ones",
            breaks ["serial-equivalence"],
            check [mode = "batch", clients = "2", ops = "1", crashes = "0"];
        /// The backup acks a checkpoint before its intention log entry is durable.
        AckBeforeLog = "ack-before-log":
            "the backup acks a checkpoint before its intention log entry is durable",
            breaks ["2-safety"], check [mode = "batch", crashes = "0"];
        /// A resend is executed again instead of answered from the message table.
        NoTableLookup = "no-table-lookup":
            "a resent request is executed again instead of answered from the message table",
            breaks ["exactly-once"], check [mode = "batch", crashes = "0"];
    }
}

impl Variant {
    /// The logical-checkpointing variant the roles run: the seeded bugs of the roles are
    /// theirs; the partial commit and the unsealed commit are the service's.
    pub fn roles(self) -> super::Variant {
        match self {
            Variant::Correct | Variant::PartialCommit | Variant::CommitUnsealed => {
                super::Variant::Correct
            }
            Variant::CommitInExecutionOrder => super::Variant::CommitInExecutionOrder,
            Variant::AckBeforeLog => super::Variant::AckBeforeLog,
            Variant::NoTableLookup => super::Variant::NoTableLookup,
        }
    }
}

/// The model's configuration.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Config {
    /// The protocol or a seeded bug.
    pub variant: Variant,
    /// Batch or entry by entry.
    pub mode: Mode,
    /// Requests per transaction.
    pub ops: u8,
    /// Transactions per client, one after another.
    pub transactions: usize,
    /// The roles' configuration (logical checkpointing's).
    pub roles: super::Config,
}

/// The model's name in the catalogue.
pub const NAME: &str = "transactions";

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
        about: "every update a client got a response for (a request checkpointed entry by \
                entry, a transaction's commit) is durable at the primary and, while there is \
                one, at the backup",
    },
    PropertySpec {
        name: "exactly-once",
        about: "no request has two SSNs at any server, every answered update is in the \
                serving primary's table once, and no transaction commits twice at any server",
    },
];

/// The parameters.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec::choice(
        "mode",
        &["batch", "entry"],
        "entry",
        "checkpoint the transaction as a batch (5B) or entry by entry (5C)",
    ),
    params::service(&["counter"], "counter"),
    params::clients(3, "1").with_help("clients, one request outstanding each"),
    ParamSpec::uint("ops", (1, 2), "2", "requests per transaction (before its commit)"),
    ParamSpec::uint("transactions", (1, 2), "1", "transactions per client, one after another"),
    params::resends(3, "1")
        .with_help("path failures per client (each resends the outstanding request)"),
    params::crashes(2, "1").with_help("server crashes in all"),
    super::HEARTBEATS,
    super::REJOIN,
    ParamSpec::uint(
        "wipes",
        (0, 1),
        "0",
        "storage losses, as in logical-checkpointing: a server whose peer holds everything it \
         acknowledged loses its storage and rejoins as a learner (needs rejoin)",
    ),
    CRASH,
    NETWORK,
    params::lossy(true),
    VARIANT,
];

/// The protocol's entry in the catalogue.
pub const SPEC: ModelSpec = ModelSpec {
    name: NAME,
    about: "transactions under logical checkpointing: batch (5B) and entry by entry (5C)",
    seed:
        "Patent, \"Fault tolerance using logical checkpointing in computing systems\", Fig. 5A-5C",
    params: PARAMS,
    properties: PROPERTIES,
    given_up: &[],
    variants: VARIANTS,
    configurations: crate::checks![
        "entry": mode = "entry";
        "batch": mode = "batch";
        "entry/two-clients": mode = "entry", clients = "2", ops = "1", crashes = "0",
            lossy = "false";
        deep "deep/batch/two-clients-crash": mode = "batch", clients = "2", ops = "1",
            crash = "primary";
        "batch/two-clients": mode = "batch", clients = "2", crashes = "0";
        "batch/heartbeats": mode = "batch", heartbeats = "true", crashes = "0";
        "entry/heartbeats": mode = "entry", heartbeats = "true", ops = "1", crashes = "0";
        "entry/rejoin": mode = "entry", rejoin = "true", crash = "primary", ops = "1";
        "batch/rejoin": mode = "batch", rejoin = "true", crash = "primary", ops = "1",
            transactions = "2";
        "entry/storage-loss": mode = "entry", rejoin = "true", wipes = "1", crash = "any",
            crashes = "0", ops = "1";
        "batch/storage-loss": mode = "batch", rejoin = "true", wipes = "1", crash = "any",
            crashes = "0", ops = "1";
    ],
};

impl Config {
    /// The configuration `p` describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        let variant = Variant::from_params(p)?;
        let ops = p.uint("ops")? as u8;
        let transactions = p.uint("transactions")? as usize;
        let (wipes, rejoin) = super::wipes_and_rejoin(p)?;
        Ok(Config {
            variant,
            mode: if p.choice("mode")? == "batch" { Mode::Batch } else { Mode::Entry },
            ops,
            transactions,
            roles: super::Config {
                variant: variant.roles(),
                clients: p.uint("clients")? as usize,
                requests: transactions * (usize::from(ops) + 1),
                sessions: 1,
                window: 1,
                resends: p.uint("resends")? as u8,
                heartbeats: p.bool("heartbeats")?,
                rejoin,
                probe: false,
                catch_up_chunk: 1,
                wipes,
                takeovers: 1,
                faults: PairFaults::from_params(p)?,
                timing: Timing::model(),
            },
        })
    }
}

/// The service of `S` with transactions of `OPS` requests.
type Txn<S, const OPS: u8, const BATCH: bool, const BUG: u8> = Transactional<S, OPS, BATCH, BUG>;
/// The model over it.
pub type Model<S, const OPS: u8, const BATCH: bool, const BUG: u8> =
    roles::Model<Txn<S, OPS, BATCH, BUG>>;
type State<S, const OPS: u8, const BATCH: bool, const BUG: u8> =
    roles::State<Txn<S, OPS, BATCH, BUG>>;

/// The transactions a server's history commits, in commit order, with how many replies each
/// has (one per request it committed).
fn commits<Op: Clone, Reply: Clone>(
    d: &Durable<TxnOp<Op>, TxnReply<Reply>>,
) -> Vec<(u32, u64, usize)> {
    d.history
        .iter()
        .filter_map(|e| match (&e.op, &e.reply) {
            (
                TxnOp::Commit { client, txn, .. } | TxnOp::Batch { client, txn, .. },
                TxnReply::Committed { replies },
            ) => Some((*client, *txn, replies.len())),
            _ => None,
        })
        .collect()
}

/// Every server's durable history of committed transactions.
fn histories<S: Service, const OPS: u8, const BATCH: bool, const BUG: u8>(
    state: &State<S, OPS, BATCH, BUG>,
) -> Vec<Vec<(u32, u64, usize)>> {
    (0..super::SERVERS).filter_map(|i| saved(state, i).map(commits)).collect()
}

fn transaction_atomicity<S: Service, const OPS: u8, const BATCH: bool, const BUG: u8>(
    _: &Model<S, OPS, BATCH, BUG>, state: &State<S, OPS, BATCH, BUG>,
) -> bool {
    histories(state).iter().all(|h| h.iter().all(|(_, _, n)| *n == usize::from(OPS)))
}

fn serial_equivalence<S: Service, const OPS: u8, const BATCH: bool, const BUG: u8>(
    _: &Model<S, OPS, BATCH, BUG>, state: &State<S, OPS, BATCH, BUG>,
) -> bool {
    let hs = histories(state);
    hs.iter().enumerate().all(|(i, a)| {
        hs[i + 1..].iter().all(|b| {
            let n = a.len().min(b.len());
            a[..n] == b[..n]
        })
    })
}

fn exactly_once<S: Service, const OPS: u8, const BATCH: bool, const BUG: u8>(
    m: &Model<S, OPS, BATCH, BUG>, state: &State<S, OPS, BATCH, BUG>,
) -> bool {
    roles::exactly_once(m, state)
        && histories(state).iter().all(|h| {
            h.iter()
                .enumerate()
                .all(|(i, (c, t, _))| !h[..i].iter().any(|(d, u, _)| (d, u) == (c, t)))
        })
}

/// Builds the model of `cfg` over service `S` with transactions of `OPS` requests,
/// checkpointed as a batch if `BATCH`, with the service's seeded bug `BUG`.
pub fn build<S: Service, const OPS: u8, const BATCH: bool, const BUG: u8>(
    cfg: Config,
) -> Model<S, OPS, BATCH, BUG> {
    roles::actors::<Txn<S, OPS, BATCH, BUG>>(cfg.roles)
        .property(
            Expectation::Always,
            "transaction-atomicity",
            transaction_atomicity::<S, OPS, BATCH, BUG>,
        )
        .property(
            Expectation::Always,
            "serial-equivalence",
            serial_equivalence::<S, OPS, BATCH, BUG>,
        )
        .property(Expectation::Always, "2-safety", roles::two_safety::<Txn<S, OPS, BATCH, BUG>>)
        .property(Expectation::Always, "exactly-once", exactly_once::<S, OPS, BATCH, BUG>)
}

/// Evaluates `$body` with the model shape of `$cfg` (a [`Config`]) as the constants `$ops`
/// (requests per transaction), `$batch` (checkpointed as a batch) and `$bug` (the service's
/// seeded bug), which the model takes as const generics: `Some(body)`, or `None` if no model
/// has that many requests per transaction. The one list of the shapes that exist, for
/// [`visit`] and for whatever else builds this model (the runtime's replay test).
#[macro_export]
macro_rules! with_transaction_shape {
    ($cfg:expr, $ops:ident, $batch:ident, $bug:ident => $body:expr) => {{
        use $crate::logical_checkpointing::transactions::{Mode, Variant};
        use $crate::services::transactional::{NONE, PARTIAL, UNSEALED};
        let cfg: &$crate::logical_checkpointing::transactions::Config = $cfg;
        let bug = match cfg.variant {
            Variant::PartialCommit => PARTIAL,
            Variant::CommitUnsealed => UNSEALED,
            _ => NONE,
        };
        $crate::with_transaction_shape!(@arms (cfg.ops, cfg.mode == Mode::Batch, bug), $ops, $batch, $bug, $body;
            (1, false, NONE), (1, false, PARTIAL), (1, false, UNSEALED),
            (1, true, NONE), (1, true, PARTIAL), (1, true, UNSEALED),
            (2, false, NONE), (2, false, PARTIAL), (2, false, UNSEALED),
            (2, true, NONE), (2, true, PARTIAL), (2, true, UNSEALED))
    }};
    (@arms $shape:expr, $ops:ident, $batch:ident, $bug:ident, $body:expr;
        $(($o:literal, $b:literal, $g:ident)),+) => {
        match $shape {
            $(($o, $b, $g) => {
                const $ops: u8 = $o;
                const $batch: bool = $b;
                const $bug: u8 = $g;
                Some($body)
            })+
            _ => None,
        }
    };
}

/// Builds the model that `params` describes and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    let cfg = Config::from_params(params)?;
    params.choice("service")?; // counter, the one choice
    let ops = cfg.ops;
    crate::with_transaction_shape!(&cfg.clone(), OPS, BATCH, BUG => {
        visitor.visit(build::<Counter, OPS, BATCH, BUG>(cfg))
    })
    .ok_or_else(|| ParamError::BadValue {
        name: "ops".into(),
        value: ops.to_string(),
        expected: "1 or 2".into(),
    })
}
