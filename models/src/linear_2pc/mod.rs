//! Linear 2PC: OPERA's semantic backup with a degenerate linear two-phase commit
//! (Hagen & Alonso (OPERA), §2.3, §3.1 and Fig. 1).
//!
//! A *process* (here: one replicated [`Service`](crate::services::Service) instance) has a
//! primary server and, depending on its availability level, a backup:
//!
//! ```text
//!  client            primary                         backup
//!    | Request(seq,op)  |                                |
//!    |----------------->| execute step -> change buffer  |
//!    |                  |---- ChangeBuffer(epoch,i,cb) ->| critical: apply + commit
//!    |                  |                                | important: store durably
//!    |                  |<--------- Ack(epoch,i) --------| (the decision is taken here)
//!    |                  | commit (durable)               |
//!    |<-- Reply(seq) ---|                                |
//! ```
//!
//! The commit decision of the distributed transaction is taken when the backup commits: if the
//! primary fails after that and before its own commit, either the backup takes over with the
//! valid process state, or the restarted primary learns it through the **reconfiguration
//! protocol** (`Inquire` → `ProcessState` or `TakenOver`). Levels: *critical* = hot standby,
//! *important* = cold standby (change buffers stored, applied at takeover), *normal* = no
//! backup. After a takeover the new primary runs degraded to *normal* (§4, process degradation).
//!
//! Why it is safe, in one line each (proofs.md has the arguments):
//! - 2-safety: a client sees a reply only after the backup made the change buffer durable;
//! - atomicity: the primary's committed history is always a prefix of the backup's, because the
//!   backup commits first and a restarted primary adopts the backup's history before serving;
//! - exactly-once: every committed step carries its (client, session, seq); a resend is answered
//!   from the committed history, never executed twice, and the backup holds the same history; a
//!   client id used again by a later session expires the earlier session, whose requests are
//!   then refused (`Expired`), never executed or answered with another request's reply;
//! - linearizability: updates take effect at the backup's commit, reads are confirmed by the
//!   backup, and a backup that took over answers an older epoch with `TakenOver`.
//!
//! Files: [`msg`] (messages, timers), [`server`] (the primary and backup roles of one server
//! actor), [`client`], [`model`] (parameters, properties, configurations, builder); here: the
//! variant table, [`Config`] and the actor enum [`Node`]. The history with its message table
//! is [`crate::commit_log`], shared with migration.

pub mod client;
pub mod model;
pub mod msg;
pub mod server;

pub use model::{build, visit, NAME, SPEC};

use client::{Client, ClientState};
use msg::{Msg, Timer};
use serde::{Deserialize, Serialize};
use server::{Durable, Server, ServerState};
use stateright::actor::{model_timeout, Id};
use std::ops::Range;
use std::time::Duration;

/// An epoch: bumped by every takeover and by every learner caught up. A u64, so that a
/// long-lived cluster never runs out of them (a u8 stopped at 255 takeovers).
pub type Epoch = u64;

pub(crate) use crate::history::spend;
pub use crate::history::FOREVER;

/// OPERA's availability levels (Hagen & Alonso (OPERA) §3.1).
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

crate::variants! {
    /// The protocol as specified, or one seeded bug.
    pub enum Variant {
        /// The protocol of specs/linear-2pc.md.
        Correct = "correct": "the protocol as specified";
        /// The primary commits and replies before the backup's ack, and ships the change buffer
        /// after its commit (1-safe).
        OneSafe = "one-safe": "primary commits and replies before the backup's ack (1-safe)",
            breaks ["2-safety"], check [];
        /// The backup acks a change buffer before it is durable (written when the next arrives).
        AckBeforeDurable = "ack-before-durable": "backup acks before its change buffer is durable",
            breaks ["2-safety"], check [level = "important"];
        /// A restarted primary resumes without the reconfiguration protocol.
        SkipReconfiguration = "skip-reconfiguration":
            "a restarted primary skips the reconfiguration protocol",
            breaks ["atomicity"], check [service = "counter", clients = "2", requests = "1", crash = "primary"];
        /// The primary executes a resent request again instead of answering from its history.
        NoDuplicateDetection = "no-duplicate-detection": "a resent request is executed again",
            breaks ["exactly-once"], check [service = "counter", crashes = "0"];
        /// The primary answers reads from its local state without confirming it is still primary.
        LocalReads = "local-reads":
            "reads answered locally, without confirming the primary still is one",
            breaks ["linearizability"], check [clients = "2", crashes = "0"];
        /// A new primary does not announce itself, so clients keep resending to the old one.
        NoRedirect = "no-redirect": "a new primary does not announce itself to clients",
            breaks ["liveness"], check [lossy = "false", crashes = "0"];
        /// The new primary acks change buffers of the deposed primary's epoch (no fencing).
        NoFencing = "no-fencing":
            "the new primary acks the deposed primary's old-epoch change buffers",
            breaks ["2-safety"], check [crashes = "0"];
        /// A takeover keeps the epoch instead of starting a new one.
        NoEpochBump = "no-epoch-bump": "a takeover does not start a new epoch",
            breaks ["single-primary-per-epoch"], check [crashes = "0"];
        /// Takeback welcomes the old primary back as backup without bringing it up to date.
        TakebackWithoutCatchUp = "takeback-without-catch-up":
            "the old primary is welcomed back as backup without catching up first",
            breaks ["2-safety"], check [takeback = "true"];
        /// A rejoining server takes the first chunk of its catch-up for the last one: it
        /// reports itself caught up, and is welcomed as backup, without the rest.
        CaughtUpAtFirstChunk = "caught-up-at-first-chunk":
            "a rejoining server reports itself caught up after the first chunk of the history",
            breaks ["2-safety"], check [takeback = "true"];
        /// A promoted cold standby drops the change buffers it stored but had not yet applied
        /// instead of committing them before it serves (ClustRa's takeover finishes them first).
        PromotionWithoutPendingCommits = "promotion-without-pending-commits":
            "a promoted cold standby drops its stored, not yet applied change buffers",
            breaks ["2-safety"], check [level = "important", crashes = "0"];
        /// A server that lost its storage starts as if new: server 0 as the primary, server 1
        /// as the backup, at epoch 0 (what the runtime did with a wiped data directory).
        WipedStartsFresh = "wiped-starts-fresh":
            "a server that lost its storage starts as if new (server 0 primary at epoch 0)",
            breaks ["2-safety"], check [takeback = "true", wipes = "1", crash = "primary", crashes = "0"];
        /// A learner is caught up in the primary's current epoch, so an ack that its lost
        /// storage sent before the loss still counts.
        JoinInSameEpoch = "join-in-same-epoch":
            "a server that lost its storage is caught up without a new epoch (its old acks count)",
            breaks ["2-safety"], check [takeback = "true", wipes = "1", crash = "backup", crashes = "0"];
        /// A server whose journal is damaged cuts it at the first bad record and trusts the
        /// rest: it keeps its role with a history that lacks what it acknowledged.
        TrustCutJournal = "trust-cut-journal":
            "a damaged journal is cut at the first bad record and the rest trusted",
            breaks ["2-safety"], check [takeback = "true", wipes = "1", crash = "backup", crashes = "0"];
        /// A learner answers a restarted primary's `Inquire` with its (empty) history, as if
        /// it were the backup that holds the commit decisions.
        LearnerAnswersInquiry = "learner-answers-inquiry":
            "a server that lost its storage answers the reconfiguration as an authority",
            breaks ["2-safety"], check [takeback = "true", wipes = "1", crash = "any", crashes = "1"];
        /// The message table ignores sessions: a later session's request is answered with the
        /// reply stored for the same sequence number of an earlier session of the client id
        /// (what a second `twosafe load` got before sessions).
        SessionBlind = "session-blind":
            "a later session's request is answered with an earlier session's stored reply",
            breaks ["exactly-once"], check [sessions = "2", crashes = "0"];
        /// Degraded mode with the backup's automatic takeover still on: during a partition the
        /// primary continues alone in a new epoch while the backup takes over in one too (two
        /// servers cannot tell a dead peer from a cut link without a third party).
        DegradeWithTakeover = "degrade-with-takeover":
            "the primary degrades while the backup may still take over automatically",
            breaks ["single-primary-per-epoch"], check [takeback = "true", degrade = "true", crashes = "0"];
        /// The primary degrades without saving its new epoch and level first: restarted, it
        /// runs the reconfiguration protocol and adopts the fenced backup's stale history.
        VolatileDegrade = "volatile-degrade":
            "the primary replies alone before its new epoch and level are durable",
            breaks ["2-safety"], check [takeback = "true", degrade = "true", crash = "primary"];
        /// A request of an expired session is executed as a new one (the table no longer
        /// holds its entry), so a late resend of an executed request is executed again.
        ExpiredSessionExecutes = "expired-session-executes":
            "a request of an expired session is executed as new",
            breaks ["exactly-once"], check [sessions = "2", crashes = "0"];
        /// The primary takes no new request while an I-am-alive is unanswered. Requests are
        /// taken between heartbeats, so no state is stuck; but the heartbeat exchange can go
        /// on for ever while each request waits, a livelock that only a cycle shows (weak
        /// fairness does not owe a delivery that is disabled now and then).
        BusyWhileHeartbeat = "busy-while-heartbeat":
            "the primary takes no new request while an I-am-alive is unanswered",
            breaks ["liveness"], check [heartbeats = "true", takeback = "true", degrade = "true", lossy = "false", crashes = "0", requests = "1"];
        /// The backup answers a restarted primary's reconfiguration in the same epoch: a
        /// change buffer of the primary's previous incarnation, still on its way, is stored
        /// after the answer, and its ack commits the restarted primary's next step at that
        /// index.
        ReconfigureInSameEpoch = "reconfigure-in-same-epoch":
            "the backup answers a restarted primary's inquiry without starting a new epoch",
            breaks ["2-safety"], check [service = "counter", clients = "2", requests = "1", crash = "primary", resends = "0", lossy = "false"];
        /// The primary commits and answers a change buffer as soon as the backup acks it,
        /// ahead of earlier ones still unacknowledged (acks taken one by one, not as
        /// cumulative).
        CommitOutOfOrder = "commit-out-of-order":
            "with buffers in flight, one is committed and answered as soon as it is acked, ahead of earlier ones",
            breaks ["atomicity"], check [service = "counter", buffers = "2", clients = "2", requests = "1", crashes = "0"];
        /// The backup stores and acks a change buffer whose predecessor it does not hold (an
        /// earlier one still on its way, or lost).
        AckWithoutPredecessor = "ack-without-predecessor":
            "the backup stores and acks a change buffer whose predecessor it does not hold",
            breaks ["2-safety"], check [service = "counter", buffers = "2", clients = "2", requests = "1", crashes = "0"];
        /// A restarted primary sends its `Inquire` once: if the path loses it (or the
        /// answer), the primary reconfigures for ever and its clients, which resend to it,
        /// are never answered. Only a lossy network shows it, so only with `resends =
        /// forever` (the liveness search on a network where a message is in flight at most
        /// once).
        InquireOnce = "inquire-once":
            "a restarted primary asks its peer for the process state once, never again",
            breaks ["liveness"], check [resends = "forever", crash = "primary"];
    }
}

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
    /// Requests per client session.
    pub requests: usize,
    /// Sessions per client, one after another: each starts its sequence numbers at 0 with the
    /// same client id and a larger session number (a client id used again).
    pub sessions: u8,
    /// Change buffers the primary may have in flight at once (Hagen & Alonso's one at a time
    /// is 1): each is shipped at once, the backup stores them in order and acks each, and the
    /// primary commits and answers them strictly in order.
    pub buffers: usize,
    /// Timer-driven resends per request (and per `Join`, per fence): [`FOREVER`] never runs
    /// out.
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
    /// A client whose resend timer fires also asks the other server whether it is the primary
    /// (`Probe`); without, it learns of a new primary only by `NewPrimary` and `NotPrimary`.
    pub probe: bool,
    /// Degraded mode (needs takeback): when the backup does not answer a step, the primary
    /// fences it out with a durable new epoch and continues alone at level normal until the
    /// backup rejoins by catch-up; the backup never takes over automatically. Without it the
    /// primary blocks until the backup answers (and the backup may take over).
    pub degrade: bool,
    /// Storage losses explored in all: a server crashes and comes back with its storage
    /// lost, detected (it rejoins as a learner). Only a server whose peer holds everything it
    /// acknowledged may lose it (see [`server`]); 0 in the runtime.
    pub wipes: u8,
    /// The highest epoch explored (the checker's bound on takeovers; the runtime has none).
    pub takeovers: Epoch,
    /// Committed steps per `CatchUp` message (1 in the model, so that every catch-up of
    /// more than one step is chunked; thousands in the runtime): no message carries the
    /// whole history.
    pub catch_up_chunk: usize,
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
    /// How long the primary waits for the backup's answer to a step before it degrades
    /// (with `degrade`).
    pub degrade: Range<Duration>,
}

impl Timing {
    /// The durations the model uses (stateright's `model_timeout`; any timer may fire any time).
    pub fn model() -> Timing {
        Timing {
            resend: model_timeout(),
            heartbeat: model_timeout(),
            suspect: model_timeout(),
            degrade: model_timeout(),
        }
    }
}

impl Config {
    /// The clients' actor ids.
    pub fn client_ids(&self) -> impl Iterator<Item = Id> {
        (self.servers..self.servers + self.clients).map(Id::from)
    }
}

crate::protocol_node! {
    <S>
    msg = Msg<S::Op, S::Reply>, timer = Timer, storage = Durable<S::Op, S::Reply>;
    Server(Server<S>, ServerState<S>, "server"),
    Client(Client<S>, ClientState<S::Op, S::Reply>, "client"),
}
