//! Fuzzy copy and catch-up: a new backup built while the primary keeps serving (the logical-checkpointing patent, the
//! "new backup" and "soft failure" paragraphs; Hvasshovd et al. (ClustRa) §4, fuzzy replica production and
//! catch-up from the log, with a state identifier per record).
//!
//! ```text
//!  primary                                          new backup
//!  note SSN n; for each object in turn, while updates go on:
//!    ---- CopyObject(a, [(key, value, generation)…]) ->  install objects and generations
//!    <--- CopyAck(a, last key) ----------------------   (a: the copy attempt)
//!    ---- CopyDone(a, n) --------------------------->  the log starts at n
//!    ---- Log(n, [op…]), … (one batch at a time) ---->  apply if SSN > generation, else skip
//!    <--- LogAck(next) ------------------------------
//!  (a batch is `batch` objects or entries at most; the models check batches of 1 and 2)
//!  last entry shipped: pause intake until its ack; then normal checkpointing (Log per update)
//! ```
//!
//! A backup that reboots (a soft failure) reports the next SSN it needs; the primary ships the
//! log from there if its history table still holds it, and otherwise starts over with a full
//! copy (the table was recycled).
//!
//! Rolling upgrade (the logical-checkpointing patent Fig. 2A, `rolling-upgrade` in the catalogue): the new backup is a
//! spare running version 2 of the service; once it is current and no update is in flight, the
//! primary (version 1) hands over — `Handover` with its message table — and retires,
//! answering clients `Moved`; the spare serves from then on.
//!
//! Why it is safe: an object's generation is the SSN of the last update it reflects, so the
//! filtered replay applies each update to each object exactly once, in SSN order, whichever
//! updates the copy already caught; the intake pause makes the switch to normal checkpointing
//! happen at a point where every committed update has been shipped.
//!
//! Files: [`msg`] (messages, timers), [`primary`], [`backup`], [`client`] (one role each),
//! [`replay`] (the copy and the filtered replay as pure functions), [`model`] (parameters,
//! properties, configurations, builder) and [`rolling_upgrade`] (the second model built from
//! these roles); here: the variant table of both models, [`Config`] and the actor enum
//! [`Node`].

pub mod backup;
pub mod client;
pub mod model;
pub mod msg;
pub mod primary;
pub mod replay;
pub mod rolling_upgrade;

pub use crate::history::FOREVER;
pub use model::{build, visit, NAME, SPEC};

use backup::{Backup, BackupState};
use client::{Client, ClientState};
use msg::{Msg, Timer};
use primary::{Primary, PrimaryState};

crate::variants! {
    /// The protocol, or one seeded bug (of the fuzzy copy, or of the rolling upgrade built
    /// from the same roles).
    pub enum Variant {
        /// As specified (specs/fuzzy-copy.md).
        Correct = "correct": "the protocol as specified";
        /// The backup replays every log entry, without generation filtering.
        NoFilter = "no-filter": "log replay without generation filtering",
            breaks ["logical-equivalence"], check [crashes = "0"];
        /// The primary copies each object without its generation (as if never updated), so
        /// the replay cannot tell which logged updates the copy already reflects.
        CopyWithoutGenerations = "copy-without-generations":
            "objects are copied without their generation labels",
            breaks ["logical-equivalence"], check [crashes = "0"],
            only "fuzzy-copy";
        /// The primary keeps accepting requests while the backup catches up the last entries.
        NoIntakePause = "no-intake-pause": "no intake pause at the end of catch-up",
            breaks ["logical-equivalence"], check [crashes = "0"],
            only "fuzzy-copy";
        /// A rebooted backup catches up from what a recycled table still holds.
        RecycledCatchUp = "recycled-catch-up":
            "soft-failure catch-up from a recycled history table",
            breaks ["logical-equivalence"], check [table = "1"],
            only "fuzzy-copy";
        /// The primary sends each copy batch, `CopyDone` and log batch once: on a lossy network
        /// a loss stalls the copy for ever.
        CopyOnce = "copy-once":
            "the primary never retransmits a copy batch, CopyDone or log batch that was lost",
            breaks ["catch-up-terminates"], check [lossy = "true", resends = "forever", crashes = "0", requests = "1"],
            only "fuzzy-copy";
        /// A rebooted backup sends its `Rejoin` once: if it is lost, the primary never learns
        /// of the reboot.
        RejoinOnce = "rejoin-once": "a rebooted backup asks once to catch up, and a lost Rejoin leaves it behind",
            breaks ["catch-up-terminates"], check [lossy = "true", resends = "forever", requests = "0"],
            only "fuzzy-copy";
        /// The backup installs a retransmitted copy batch that arrives after `CopyDone`,
        /// undoing the log replayed since.
        LateCopyBatch = "late-copy-batch":
            "the backup installs a retransmitted copy batch that arrives after CopyDone",
            breaks ["logical-equivalence"], check [lossy = "true", resends = "forever", crashes = "0", requests = "1"],
            only "fuzzy-copy";
        /// Rolling upgrade: the primary hands over while the spare is still being copied or
        /// catching up.
        HandoverBeforeCurrent = "handover-before-current":
            "the primary hands over while the spare is still being copied or catching up",
            breaks ["linearizability"], check [crashes = "0"],
            only "rolling-upgrade";
        /// Rolling upgrade: the primary sends `Handover` once; if it is lost, nobody serves.
        HandoverOnce = "handover-once":
            "the primary sends Handover once, and a lost one leaves nobody serving",
            breaks ["upgrade-liveness"], check [lossy = "true", resends = "forever", crashes = "0", requests = "0"],
            only "rolling-upgrade";
        /// Rolling upgrade: the retired primary drops requests instead of redirecting them.
        RetireWithoutForwarding = "retire-without-forwarding":
            "the retired primary drops requests instead of pointing clients to the new one",
            breaks ["upgrade-liveness"], check [crashes = "0"],
            only "rolling-upgrade";
    }
}

/// The model's configuration.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Config {
    /// The protocol or a seeded bug.
    pub variant: Variant,
    /// Clients.
    pub clients: usize,
    /// Requests per client.
    pub requests: usize,
    /// Resends per request ([`FOREVER`] when hosted: then the primary also retransmits what
    /// is in flight to the backup, and a rebooted backup its `Rejoin`).
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
    /// How long a client waits before it resends: `model_timeout()` in the models (the
    /// checker fires timers in any order), a real duration when hosted.
    pub resend: std::ops::Range<std::time::Duration>,
}

/// The number of servers: the primary and the backup.
pub const SERVERS: usize = 2;

crate::protocol_node! {
    <S>
    msg = Msg<S::Op, S::Reply, S::Key, S::Object>, timer = Timer, storage = BackupState<S>;
    Primary(Primary<S>, PrimaryState<S>, "primary"),
    Backup(Backup<S>, BackupState<S>, "backup"),
    Client(Client<S>, ClientState<S::Op, S::Reply>, "client"),
}
