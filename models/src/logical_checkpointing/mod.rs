//! Logical checkpointing (the logical-checkpointing patent "Fault tolerance using logical checkpointing in
//! computing systems": Fig. 3A-3D, 4A, 4B).
//!
//! Only the *external view* is checkpointed: every state-changing request, as (client id,
//! request sequence number, data). The primary puts a request in its **message table**, gives it
//! the next **service sequence number** (SSN) and checkpoints it to the backup; the backup puts
//! it in its durable intention log, acks, and only then executes it — in any order, on several
//! threads — but commits strictly in SSN order. The primary commits on the ack (also in SSN
//! order), stores the response in its table and replies. Reads are not checkpointed.
//!
//! ```text
//!  client           primary                              backup
//!    |--Request(c,s)->| table[(c,s)] = ssn n                |
//!    |                |------ Checkpoint(n, c, s, op) ----->| intention log (durable)
//!    |                |<------------- Ack(n) ---------------| then execute (any order)
//!    |                | commit n (SSN order), table.reply   | commit in SSN order
//!    |<--Reply(s)-----|                                     |
//! ```
//!
//! Failures. A *path failure* loses a reply: the client reconnects and resends, and the primary
//! answers from its table (Fig. 4A). A *primary failure*: the backup becomes the primary; a
//! resent request whose commit is still pending waits for it and then gets the response the old
//! primary gave or would have given (Fig. 4B). Failure detection is assumed accurate here (the
//! backup takes over only when the primary is down; the model's boundary enforces it) unless
//! `heartbeats` is on: then the primary sends I-am-alive messages, the backup may take over at
//! any moment (a false suspicion), a new primary answers anything of an older epoch with
//! `TakenOver` (the deposed primary retires), and a primary that has a backup confirms each
//! read with it before answering (`Confirm`/`Confirmed`), so a deposed primary can neither
//! commit an update nor answer a read.
//!
//! Rejoining. A spare (a failed primary after its restart, or a deposed one) asks the primary
//! to `Join`; the primary sends its history in chunks from where the spare's ends
//! (`CatchUp`), and the chunk that reaches the end makes the spare its backup: from then on
//! it checkpoints to it again, so the pair survives the next failure too. A server that lost
//! its storage (`wipes`) comes back as a *learner*: a spare of epoch 0 and a new incarnation,
//! which joins the same way (a spare peer that holds the history catches it up too) and takes
//! only the chunks sent to its own incarnation.
//!
//! Files: [`msg`] (messages, timers), [`server`] (the primary, backup and spare roles of one
//! server actor), [`client`], [`model`] (parameters, properties, configurations, builder);
//! here: the variant table, [`Config`] and the actor enum [`Node`].

pub mod client;
pub mod model;
pub mod msg;
pub mod server;
pub mod transactions;

pub use model::{build, visit, NAME, SPEC};

use client::{Client, ClientState};
use msg::{Epoch, Msg, Timer};
use server::{Durable, Server, ServerState};
use stateright::actor::{model_timeout, Id};
use std::ops::Range;
use std::time::Duration;

crate::variants! {
    /// The protocol, or one seeded bug.
    pub enum Variant {
        /// As specified (specs/logical-checkpointing.md).
        Correct = "correct": "the protocol as specified";
        /// A resend is executed again instead of answered from the message table.
        NoTableLookup = "no-table-lookup":
            "a resend is executed again instead of answered from the message table",
            breaks ["exactly-once", "same-response"], check [service = "counter", crashes = "0"];
        /// The backup commits each request as soon as it has executed it.
        CommitInExecutionOrder = "commit-in-execution-order":
            "the backup commits in execution order, not SSN order",
            breaks ["ssn-order"], check [crashes = "0"];
        /// A new primary executes a resent request whose commit is still pending.
        AnswerBeforeCommit = "answer-before-commit":
            "a new primary executes a resend whose commit is still pending",
            breaks ["exactly-once"], check [service = "counter", crash = "primary"];
        /// The backup acks a checkpoint before its intention log entry is durable.
        AckBeforeLog = "ack-before-log":
            "the backup acks before its intention log entry is durable",
            breaks ["2-safety"], check [crashes = "0"];
        /// A primary that has a backup answers reads without confirming it is still primary.
        LocalReads = "local-reads":
            "a primary answers reads from its state without confirming it was not deposed",
            breaks ["linearizability"],
            check [heartbeats = "true", clients = "2", window = "1", crashes = "0"];
        /// A new primary answers reads before finishing the old primary's pending commits.
        ReadBeforePending = "read-before-pending":
            "a new primary answers reads before its pending commits complete",
            breaks ["linearizability"], check [clients = "2", window = "1", crash = "primary"];
        /// The message table is looked up by (client, sequence number) without the session.
        SessionBlind = "session-blind":
            "a client id's later session is answered from the table with its earlier session's \
             responses",
            breaks ["exactly-once", "linearizability"],
            check [service = "counter", sessions = "2", requests = "2", window = "1",
                   crashes = "0"];
        /// A request of a session that a later session of the client id has expired is
        /// executed (its entry is no longer in the table).
        ExpiredSessionExecutes = "expired-session-executes":
            "a late copy of an expired session's request is executed again",
            breaks ["exactly-once"],
            check [service = "counter", sessions = "2", requests = "1", window = "1",
                   crashes = "0"];
        /// The primary takes a joining spare as its backup without sending it what it
        /// committed while the spare was away.
        JoinWithoutCatchUp = "join-without-catch-up":
            "a spare becomes the backup without the requests committed while it was away",
            breaks ["2-safety"], check [rejoin = "true", crash = "primary", requests = "1"];
        /// The primary takes a joining spare as its backup without making that durable first.
        JoinNotDurable = "join-not-durable":
            "a primary that restarts has forgotten the backup it made, and serves alone beside it",
            breaks ["2-safety"],
            check [rejoin = "true", heartbeats = "true", requests = "1", crash = "backup",
                   lossy = "false"];
        /// A server that lost its storage starts as the cluster's first primary or backup, of
        /// epoch 0, holding nothing.
        WipedStartsFresh = "wiped-starts-fresh":
            "a server whose storage was lost starts afresh, as if the cluster were new",
            breaks ["2-safety"], check [rejoin = "true", wipes = "1", crash = "backup",
                                        crashes = "0", requests = "1"];
        /// A learner is caught up in the primary's current epoch, so an ack that its lost
        /// incarnation sent still counts.
        LearnerInSameEpoch = "learner-in-same-epoch":
            "a learner is caught up in the primary's epoch, and an ack its lost incarnation \
             sent commits a request it no longer holds",
            breaks ["2-safety"], check [rejoin = "true", wipes = "1", crash = "backup",
                                        crashes = "0", requests = "1"];
        /// A learner takes a `CatchUp` sent to an earlier incarnation of its server.
        LearnerAnyIncarnation = "learner-any-incarnation":
            "a learner installs a catch-up chunk that was sent to its server before the loss",
            breaks ["2-safety"], check [rejoin = "true", wipes = "1", crash = "any",
                                        crashes = "1", requests = "1", lossy = "false"];
        /// A spare (a deposed primary) ignores a client's request instead of sending it to
        /// the other server: a client that missed the takeover announcement resends to it
        /// for ever. Only a lossy network loses the announcement, so only with `resends =
        /// forever`.
        SilentSpare = "silent-spare":
            "a spare ignores requests instead of answering NotPrimary",
            breaks ["liveness"], check [resends = "forever", crash = "primary", requests = "1"];
    }
}

pub(crate) use crate::history::spend;
pub use crate::history::FOREVER;

/// How long each timer runs, as the ranges the Actor hands to `set_timer`.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Timing {
    /// A client's wait before it resends its outstanding requests (a path failure).
    pub resend: Range<Duration>,
    /// The primary's I-am-alive period.
    pub heartbeat: Range<Duration>,
    /// How long the backup waits without an I-am-alive before it suspects the primary.
    pub suspect: Range<Duration>,
    /// How long the backup takes before it executes a logged request.
    pub execute: Range<Duration>,
}

impl Timing {
    /// The durations the model uses (stateright's `model_timeout`; any timer may fire any time).
    pub fn model() -> Timing {
        Timing {
            resend: model_timeout(),
            heartbeat: model_timeout(),
            suspect: model_timeout(),
            execute: model_timeout(),
        }
    }
}

/// The model's fixed configuration.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Config {
    /// The protocol or a seeded bug.
    pub variant: Variant,
    /// Clients.
    pub clients: usize,
    /// Requests per client and session; 0: the client sends what it is given
    /// ([`client::Client::submit`], the runtime's client library).
    pub requests: usize,
    /// Sessions per client, one after another: the client id used again, with sequence numbers
    /// from 0 and a larger session number.
    pub sessions: u8,
    /// Outstanding requests per client.
    pub window: usize,
    /// Path failures per client.
    pub resends: u8,
    /// I-am-alive messages and a failure detector that may be wrong (a takeover at any
    /// moment, fenced); without them detection is accurate (the model's boundary).
    pub heartbeats: bool,
    /// A spare asks the primary to make it the backup (`Join`); without, it stays a spare.
    pub rejoin: bool,
    /// A client whose resend timer fires also asks the other server whether it is the primary
    /// (`Probe`); without, it learns of a new primary only by `NewPrimary` and `NotPrimary`.
    pub probe: bool,
    /// Committed requests per `CatchUp` message.
    pub catch_up_chunk: usize,
    /// Storage losses explored: a server whose peer holds everything it acknowledged loses
    /// its storage and rejoins as a learner by catch-up (needs `rejoin`).
    pub wipes: u8,
    /// The highest epoch explored (the model's bound on takeovers; with `heartbeats` a backup
    /// may take over, rejoin and take over again without end).
    pub takeovers: Epoch,
    /// Crashes and the network.
    pub faults: crate::history::PairFaults,
    /// How long timers run.
    pub timing: Timing,
}

/// The number of servers.
pub const SERVERS: usize = 2;

/// The `rejoin` parameter, shared by the logical-checkpointing and transactions models.
pub(crate) const REJOIN: crate::params::ParamSpec = crate::params::ParamSpec::flag(
    "rejoin",
    false,
    "a spare (a restarted or deposed primary) joins the primary as its new backup by a chunked \
     catch-up; off: it stays in the spare pool",
);

/// The `wipes` and `rejoin` parameters of `p`, shared by the logical-checkpointing and
/// transactions models: a server that lost its storage can only come back by rejoining.
pub(crate) fn wipes_and_rejoin(
    p: &crate::params::Params,
) -> Result<(u8, bool), crate::params::ParamError> {
    let (wipes, rejoin) = (p.uint("wipes")?, p.bool("rejoin")?);
    if wipes > 0 && !rejoin {
        return Err(crate::params::ParamError::BadValue {
            name: "wipes".into(),
            value: wipes.to_string(),
            expected: "0 unless rejoin = true (a server that lost its storage rejoins by \
                       catch-up)"
                .into(),
        });
    }
    Ok((wipes as u8, rejoin))
}

/// The `heartbeats` parameter, shared by the logical-checkpointing and transactions models.
pub(crate) const HEARTBEATS: crate::params::ParamSpec = crate::params::ParamSpec::flag(
    "heartbeats",
    false,
    "I-am-alive messages, one unanswered at a time, and a backup that may suspect the primary \
     at any moment (fenced; reads confirmed); off: accurate failure detection",
);

impl Config {
    /// The clients' ids.
    pub fn client_ids(&self) -> impl Iterator<Item = Id> {
        (SERVERS..SERVERS + self.clients).map(Id::from)
    }
}

crate::protocol_node! {
    <S>
    msg = Msg<S::Op, S::Reply>, timer = Timer, storage = Durable<S::Op, S::Reply>;
    Server(Server<S>, ServerState<S>, "server"),
    Client(Client<S>, ClientState<S::Op, S::Reply>, "client"),
}
