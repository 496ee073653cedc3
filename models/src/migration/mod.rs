//! Process migration by the backup mechanism, and the planner's `migrate_all` (Hagen & Alonso (OPERA) §4,
//! Fig. 2; the same mechanism as linear 2PC, Hagen & Alonso (OPERA) §3.1).
//!
//! Process P moves from server S to server T in three moves, each made durable before the
//! message that announces it leaves:
//!
//! ```text
//!  planner            S (primary of P)                         T
//!    | MigrateAll ---->| copy P's image (P still runs, alone)   |
//!    |                 |---- Copy(p, epoch, history) ---------->| install as backup of P
//!    |                 |<--- Installed(p, epoch, history) ------|
//!    |                 | upgrade P to critical (Save):          |
//!    |                 |   ship what the copy missed, then      |
//!    |                 |   every step by linear 2PC             |
//!    |                 |---- ChangeBuffer(p, epoch, i, cb) ---->| apply, Save
//!    |                 |<--- Ack(p, epoch, i) ------------------|
//!    |                 | T current and no step in flight:       |
//!    |                 | hand over (Save: S stops executing)    |
//!    |                 |---- Switch(p, epoch+1) --------------->| primary of P in epoch+1,
//!    |                 |<--- SwitchDone(p, epoch+1) ------------| at level normal (degraded)
//!    |                 | delete P's image, keep a forwarding    |
//!    |<--- Drained ----| address (Save); clients get Moved      |
//! ```
//!
//! Why it is atomic (proofs.md has the argument): S stops executing P *durably* before it
//! asks T to take over, and T becomes primary only at that request — so P is never primary on
//! two servers; S keeps P (as `Handing`, resending the switch) until T confirms — so P always
//! has an owner; and S hands over only when T's history equals its own with no step in flight
//! — so the new primary holds every acknowledged update, and a resent request is answered
//! from T's message table exactly once.
//!
//! Files: [`msg`] (messages, timers), [`server`] (the source and target roles of one server
//! actor, per process), [`planner`], [`client`], [`model`] (parameters, properties,
//! configurations, builder); here: the variant table, [`Config`] and the actor enum [`Node`].

pub mod client;
pub mod model;
pub mod msg;
pub mod planner;
pub mod server;

pub use model::{build, visit, NAME, SPEC};

use client::{Client, ClientState};
use msg::{Msg, Timer};
use planner::{Planner, PlannerState};
use server::{Durable, Server, ServerState};
use stateright::actor::Id;

/// The session every migration request belongs to: migration's clients run once, so the
/// message table's sessions ([`crate::commit_log`]) are not used.
pub const SESSION: u64 = 0;

/// A process: one replicated service instance, placed on servers by the planner.
pub type ProcessId = u8;

crate::variants! {
    /// The protocol as specified, or one seeded bug.
    pub enum Variant {
        /// The protocol of specs/migration.md.
        Correct = "correct": "the protocol as specified";
        /// The source switches as soon as the copy is installed, although P ran on meanwhile.
        SwitchBeforeCurrent = "switch-before-current":
            "the switch happens once the copy is installed, before the target is current",
            breaks ["2-safety", "exactly-once"], check [crashes = "0"];
        /// The source deletes P as it asks the target to take over, before the target confirms.
        DegradeBeforeSwitch = "degrade-before-switch":
            "the source deletes P before the target has confirmed it runs P",
            breaks ["migration-atomicity"], check [crashes = "0"];
        /// The source asks the target to take over but does not stop executing P first.
        SwitchWithoutStopping = "switch-without-stopping":
            "the source asks the target to take over without stopping P first",
            breaks ["migration-atomicity"], check [crashes = "0"];
        /// A source that deleted P keeps no forwarding address for its clients.
        NoForwarding = "no-forwarding": "the source keeps no forwarding address once P has moved",
            breaks ["liveness"], check [lossy = "false", crashes = "0"];
        /// A server that handed P over answers P's reads from what it holds of P instead of
        /// pointing the client to the new owner (a read changes nothing, so why forward it?).
        ReadsAtTheSource = "reads-at-the-source":
            "the old owner answers reads of a process it handed over from its own stale copy",
            breaks ["linearizability"], check [service = "register", clients = "2", crashes = "0", lossy = "false"];
        /// A resent `MigrateAll` resends nothing: only the first order starts each migration,
        /// so a lost copy, image or switch message stalls it for ever.
        NoResume = "no-resume":
            "a resent order does not resend what each migration waits on",
            breaks ["liveness"], check [resends = "forever", reorders = "forever", crashes = "0", requests = "1"];
    }
}

/// Which servers the model may crash.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum CrashTarget {
    /// Server 0, the source.
    Source,
    /// The targets.
    Target,
    /// Any server (one at a time).
    Any,
}

/// The fixed configuration every actor of the model holds.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Config {
    /// The protocol or a seeded bug.
    pub variant: Variant,
    /// Number of servers.
    pub servers: usize,
    /// Number of processes (all on server 0 at first).
    pub processes: usize,
    /// Number of clients.
    pub clients: usize,
    /// Requests per client.
    pub requests: usize,
    /// Timer-driven resends per request.
    pub resends: u8,
    /// Timer-driven resends of the planner's order.
    pub reorders: u8,
    /// Crashes in all.
    pub crashes: usize,
    /// Which servers may crash.
    pub crash: CrashTarget,
    /// FIFO per pair of nodes instead of reordering.
    pub ordered: bool,
    /// Whether messages can be lost.
    pub lossy: bool,
}

impl Config {
    /// The planner's id.
    pub fn planner(&self) -> Id {
        Id::from(self.servers)
    }

    /// The clients' ids.
    pub fn client_ids(&self) -> impl Iterator<Item = Id> {
        let first = self.servers + 1;
        (first..first + self.clients).map(Id::from)
    }
}

crate::protocol_node! {
    <S>
    msg = Msg<S::Op, S::Reply>, timer = Timer, storage = Durable<S::Op, S::Reply>;
    Server(Server<S>, ServerState<S::Op, S::Reply>, "server"),
    Planner(Planner<S>, PlannerState, "planner"),
    Client(Client<S>, ClientState<S::Op, S::Reply>, "client"),
}
