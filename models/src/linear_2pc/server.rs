//! The server role of linear 2PC: one actor that is the primary, the backup, a restarted
//! primary running the reconfiguration protocol, or retired (Hagen & Alonso (OPERA) §3.1).
//!
//! - **Primary**: executes one navigation step at a time. A resend of a committed request is
//!   answered from the committed history; a new update's change buffer goes to the backup and the
//!   step commits only on the backup's `Ack` (write-ahead: the commit is saved in the same step
//!   as the reply is sent). Reads are not checkpointed, only confirmed (`Confirm`), because a
//!   primary that was deposed without knowing it must not answer from a stale state.
//! - **Backup**: stores the change buffer durably (important) or applies and commits it
//!   (critical), then acks. It takes over on its `Takeover` timer, which the model checker may
//!   fire at any moment — including while the primary is alive (a false suspicion): safety may
//!   not rest on the failure detector. After takeover it bumps the epoch, installs the stored
//!   change buffers, runs degraded (normal), announces itself to clients, and answers anything
//!   from the old epoch with `TakenOver`.
//! - **Reconfiguring**: a restarted primary asks the backup for the process state and adopts
//!   the backup's committed history (the commit decision was taken there), or retires. A peer
//!   still catching up (retired or learner) holds no decision and says so: the primary resumes
//!   with its own history.
//! - **Retired**: deposed; with takeback it asks the primary for a catch-up, in chunks, and is
//!   welcomed back as the backup. A fence of a newer epoch (the primary degraded meanwhile)
//!   or of its own (its request lost) makes it ask again, keeping the prefix it holds.
//! - **Learner**: a server that lost its storage (an empty or damaged journal, which it
//!   detects) knows nothing, not even the epoch. It never serves, never takes over and never
//!   answers the reconfiguration as an authority: it asks its peer to `Join`, and only a
//!   primary answers, with a catch-up (takeback's path); welcomed, it is the backup again.
//!   Only a server whose peer holds everything it acknowledged may lose its storage in the
//!   model (a backup, a deposed server, or the first primary, whose every commit its backup
//!   acked): losing the only copy of an update is a second failure, outside 2-safety.
//!
//! A request that a server cannot take now (busy with a step, or not primary) is left in the
//! network untouched: the handler emits nothing, which both the checker and the runtime treat
//! as "deliver later".

use super::msg::Timer;
use super::msg::{Entry, Msg};
use super::{Config, Epoch, Level, Node, Variant};
use crate::commit_log::CommitLog;
use crate::journaled::Journaled;
use crate::services::Service;
use crate::trace::{listed, one_line, Field, Fields};
use serde::{Deserialize, Serialize};
use stateright::actor::{Id, Out};

/// The part of a server's state that survives a crash (saved with the Actor's `save`).
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Durable<Op: Clone, Reply: Clone> {
    /// The role as last made durable (`Reconfiguring` is never saved).
    pub role: Role,
    /// The epoch: bumped by every takeover.
    pub epoch: Epoch,
    /// The process's availability level (degraded to normal by a takeover).
    pub level: Level,
    /// The committed history: every change buffer committed (or, cold standby, stored).
    pub log: CommitLog<Op, Reply>,
    /// How many entries of `log` are applied to the service image.
    pub applied: u32,
    /// How many times this server has restarted (bounds crashes in the model).
    pub restarts: u8,
    /// How many times this server lost its storage (bounds storage faults in the model; a
    /// real node that lost its storage has lost this count too, and the runtime keeps 0).
    pub wipes: u8,
    /// How many restarted primaries' inquiries this server answered in a new epoch (the
    /// model's epoch bound counts them; the runtime has no bound).
    pub reconfigured: u8,
    /// This server's incarnation: 0 at first, new each time it lost its storage.
    pub incarnation: u64,
    /// The incarnation of the last learner this server caught up as primary (a `Join` of it
    /// again is a resend: caught up again, no new epoch).
    pub joined: u64,
    /// A learner or retired server: it holds the last chunk of its epoch's catch-up, so its
    /// history is the primary's as of the catch-up plus every step it acked since (it may then
    /// answer a restarted primary's `Inquire`; with part of the chunks it holds a bare prefix).
    pub caught_up: bool,
}

impl<Op: Clone, Reply: Clone> Durable<Op, Reply> {
    /// What a server that lost its storage starts from: a learner that knows nothing.
    pub fn learner(level: Level, incarnation: u64) -> Self {
        Durable {
            role: Role::Learner,
            epoch: 0,
            level,
            log: CommitLog::new(),
            applied: 0,
            restarts: 0,
            wipes: 0,
            reconfigured: 0,
            incarnation,
            joined: 0,
            caught_up: false,
        }
    }
}

impl<Op: Clone, Reply: Clone> Durable<Op, Reply> {
    /// Whether the peer of a server that saved this holds everything the server acknowledged,
    /// so that the server may lose its storage and rejoin as a learner (the model's
    /// `StorageLost`): a backup, a deposed, rejoining or learner server, or the first primary
    /// (epoch 0, with a backup). The runtime asks it of a journal whose final record was torn:
    /// such a server restarts as a learner, the others from what is left.
    pub fn peer_holds_all(&self) -> bool {
        peer_holds_all(self.role, self.epoch, self.level)
    }
}

fn peer_holds_all(role: Role, epoch: Epoch, level: Level) -> bool {
    match role {
        Role::Backup | Role::Retired | Role::Learner => true,
        Role::Primary | Role::Reconfiguring => epoch == 0 && level != Level::Normal,
    }
}

/// A save of a server as a change: the scalar fields whole, the history as the entries
/// appended since the previous save (or whole, when it was replaced).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct DurableChange<Op: Clone, Reply: Clone> {
    /// The role.
    pub role: Role,
    /// The epoch.
    pub epoch: Epoch,
    /// The level.
    pub level: Level,
    /// Entries applied.
    pub applied: u32,
    /// Restarts.
    pub restarts: u8,
    /// Storage losses.
    pub wipes: u8,
    /// Inquiries answered in a new epoch.
    pub reconfigured: u8,
    /// The incarnation.
    pub incarnation: u64,
    /// The last learner caught up.
    pub joined: u64,
    /// Whether a learner holds its whole catch-up.
    pub caught_up: bool,
    /// How the history changed.
    pub log: LogChange<Op, Reply>,
}

/// How a server's committed history changed between two saves.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub enum LogChange<Op: Clone, Reply: Clone> {
    /// These entries were appended.
    Append(Vec<Entry<Op, Reply>>),
    /// The history was replaced (retirement clears it; reconfiguration adopts the backup's).
    Replace(CommitLog<Op, Reply>),
}

impl<Op, Reply> Journaled for Durable<Op, Reply>
where
    Op: Clone + PartialEq + Serialize + serde::de::DeserializeOwned,
    Reply: Clone + PartialEq + Serialize + serde::de::DeserializeOwned,
{
    type Change = DurableChange<Op, Reply>;

    /// O(change): histories only grow by appending, except when a server retires (cleared) or
    /// adopts the backup's history (which extends its own: the checked atomicity property).
    /// So the previous history is taken as a prefix when the new one is at least as long and
    /// agrees on its last entry; debug builds verify the whole prefix.
    fn change_from(&self, prev: &Self) -> Self::Change {
        let n = prev.log.len();
        let extends = self.log.len() >= n && (n == 0 || self.log.get(n - 1) == prev.log.last());
        debug_assert!(!extends || self.log.agrees_on_prefix(&prev.log, n));
        DurableChange {
            role: self.role,
            epoch: self.epoch,
            level: self.level,
            applied: self.applied,
            restarts: self.restarts,
            wipes: self.wipes,
            reconfigured: self.reconfigured,
            incarnation: self.incarnation,
            joined: self.joined,
            caught_up: self.caught_up,
            log: if extends {
                LogChange::Append(self.log.suffix(n))
            } else {
                LogChange::Replace(self.log.clone())
            },
        }
    }

    fn apply(&mut self, c: Self::Change) {
        self.role = c.role;
        self.epoch = c.epoch;
        self.level = c.level;
        self.applied = c.applied;
        self.restarts = c.restarts;
        self.wipes = c.wipes;
        self.reconfigured = c.reconfigured;
        self.incarnation = c.incarnation;
        self.joined = c.joined;
        self.caught_up = c.caught_up;
        match c.log {
            LogChange::Append(entries) => self.log.extend(entries),
            LogChange::Replace(entries) => self.log = entries,
        }
    }
}

/// What a server is doing for the process.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Role {
    /// Executes steps and answers clients.
    Primary,
    /// Stores or applies change buffers; may take over.
    Backup,
    /// A restarted primary waiting for the backup's answer (reconfiguration protocol).
    Reconfiguring,
    /// Deposed: the backup has taken over; the process was removed from this server.
    Retired,
    /// Lost its storage: asks its peer to `Join` and catches up; never serves or takes over.
    Learner,
}

/// A step the primary has executed and not yet committed or answered: one of its change
/// buffers in flight (up to [`Config::buffers`] at a time, committed and answered in order).
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub enum Pending<Op, Reply> {
    /// An update waiting for the backup's `Ack`.
    Update {
        /// The change buffer: the request and the reply computed for it.
        entry: Entry<Op, Reply>,
        /// Whether the backup has acknowledged it (then it commits once every step before
        /// it has).
        acked: bool,
    },
    /// A read waiting for the backup's `Confirmed`.
    Read {
        /// The client.
        client: Id,
        /// The client's session.
        session: u64,
        /// The request's sequence number.
        seq: u32,
        /// The reply, computed from the state after every step before it.
        reply: Reply,
        /// Whether the backup has confirmed it (then it is answered once every step before
        /// it is).
        confirmed: bool,
    },
}

impl<Op, Reply> Pending<Op, Reply> {
    fn is_request(&self, client: Id, session: u64, seq: u32) -> bool {
        match self {
            Pending::Update { entry, .. } => entry.is_request(client, session, seq),
            Pending::Read { client: c, session: n, seq: s, .. } => {
                *c == client && *n == session && *s == seq
            }
        }
    }

    /// Whether the backup has answered it.
    fn answered(&self) -> bool {
        match self {
            Pending::Update { acked, .. } => *acked,
            Pending::Read { confirmed, .. } => *confirmed,
        }
    }

    /// The client's reply to it: (client, session, seq, reply).
    fn reply(&self) -> (Id, u64, u32, Reply)
    where
        Reply: Clone,
    {
        match self {
            Pending::Update { entry: e, .. } => (e.client, e.session, e.seq, e.reply.clone()),
            Pending::Read { client, session, seq, reply, .. } => {
                (*client, *session, *seq, reply.clone())
            }
        }
    }
}

/// A server's whole state: the durable part plus what a crash loses.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ServerState<S: Service> {
    /// What the server is doing.
    pub role: Role,
    /// The current epoch.
    pub epoch: Epoch,
    /// The availability level.
    pub level: Level,
    /// The committed history.
    pub log: CommitLog<S::Op, S::Reply>,
    /// Entries of `log` applied to `service`.
    pub applied: u32,
    /// The process image: `log[..applied]` applied in order.
    pub service: S,
    /// The steps in flight, oldest first (primary only; at most [`Config::buffers`]).
    pub pending: Vec<Pending<S::Op, S::Reply>>,
    /// Restarts so far.
    pub restarts: u8,
    /// Storage losses so far.
    pub wipes: u8,
    /// Inquiries answered in a new epoch (see [`Durable::reconfigured`]).
    pub reconfigured: u8,
    /// The incarnation (see [`Durable::incarnation`]).
    pub incarnation: u64,
    /// The last learner caught up (see [`Durable::joined`]).
    pub joined: u64,
    /// A learner or retired server holds its whole catch-up (see [`Durable::caught_up`]).
    pub caught_up: bool,
    /// Whether an I-am-alive message is unanswered (primary only; lost in a crash).
    pub awaiting_alive: bool,
    /// `Join` resends left (a learner), or `Inquire` resends left (a restarted primary
    /// reconfiguring); the model's bound, like a client's resends.
    pub joins_left: u8,
    /// `TakenOver` resends left (a degraded primary waiting for its fenced backup to ask to
    /// rejoin; the model's bound, like a client's resends).
    pub fences_left: u8,
    /// This server's id (constant).
    pub me: Id,
}

impl<S: Service> Fields for ServerState<S> {
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "role" => one_line(&self.role),
            "epoch" => one_line(&self.epoch),
            "level" => one_line(&self.level),
            "log (committed change buffers)" => listed(self.log.iter()),
            "applied" => format!("{} of {}", self.applied, self.log.len()),
            "service" => one_line(&self.service),
            "steps in flight" => listed(self.pending.iter()),
            "awaiting I-am-alive" => one_line(&self.awaiting_alive),
            "incarnation / last learner caught up" => format!("{} / {}", self.incarnation, self.joined),
            "caught up" => one_line(&self.caught_up),
            "restarts / storage losses / inquiries answered" => format!("{} / {} / {}", self.restarts, self.wipes, self.reconfigured),
            "resends left: join / fence" => format!("{} / {}", self.joins_left, self.fences_left),
        ]
    }
}

impl<S: Service> ServerState<S> {
    /// The durable subset of this state.
    pub fn durable(&self) -> Durable<S::Op, S::Reply> {
        let role = match self.role {
            Role::Reconfiguring => Role::Primary,
            r => r,
        };
        Durable {
            role,
            epoch: self.epoch,
            level: self.level,
            log: self.log.clone(),
            applied: self.applied,
            restarts: self.restarts,
            wipes: self.wipes,
            reconfigured: self.reconfigured,
            incarnation: self.incarnation,
            joined: self.joined,
            caught_up: self.caught_up,
        }
    }

    /// Applies every stored but not yet applied change buffer (cold standby's takeover work).
    fn install_all(&mut self) {
        for e in self.log.suffix(self.applied as usize) {
            self.service.apply(&e.op);
        }
        self.applied = self.log.len() as u32;
    }

    fn commit(&mut self, entry: Entry<S::Op, S::Reply>) {
        self.service.apply(&entry.op);
        self.log.push(entry);
        self.applied = self.log.len() as u32;
    }

    /// The history position of step `i` in flight: for an update its index in the history,
    /// for a read the number of updates it follows.
    fn position(&self, i: usize) -> u32 {
        let before = self.pending[..i].iter().filter(|p| matches!(p, Pending::Update { .. }));
        (self.log.len() + before.count()) as u32
    }

    /// The service after every update in flight: what the next step executes on.
    fn speculative(&self) -> S {
        let mut next = self.service.clone();
        for p in &self.pending {
            if let Pending::Update { entry, .. } = p {
                next.apply(&entry.op);
            }
        }
        next
    }
}

crate::role! {
    /// The server actor's fixed configuration.
    Server
}

type O<S> = Out<Node<S>>;
type St<S> = ServerState<S>;
type M<S> = Msg<<S as Service>::Op, <S as Service>::Reply>;

impl<S: Service> Server<S> {
    /// The other server: the backup of a primary, the primary of a backup.
    fn peer(s: &St<S>) -> Id {
        crate::history::other_server(s.me)
    }

    fn announce(&self, epoch: Epoch, o: &mut O<S>) {
        if self.cfg.variant != Variant::NoRedirect {
            for c in self.cfg.client_ids() {
                o.send(c, Msg::NewPrimary { epoch });
            }
        }
    }

    fn save(&self, s: &St<S>, o: &mut O<S>) {
        o.save(s.durable());
    }

    /// Starts a server: fresh (server 0 is the primary, server 1 the backup) or from its
    /// durable state after a crash.
    pub fn on_start(
        &self, id: Id, storage: &Option<Durable<S::Op, S::Reply>>, o: &mut O<S>,
    ) -> St<S> {
        match storage {
            None => self.start(self.fresh(id), false, o),
            Some(d) => self.start(self.restored(id, d, d.restarts.saturating_add(1)), true, o),
        }
    }

    /// A server's state at its very first start.
    fn fresh(&self, id: Id) -> St<S> {
        ServerState {
            role: if id == Id::from(0) { Role::Primary } else { Role::Backup },
            epoch: 0,
            level: self.cfg.level,
            log: CommitLog::new(),
            applied: 0,
            service: S::default(),
            pending: Vec::new(),
            restarts: 0,
            wipes: 0,
            reconfigured: 0,
            incarnation: 0,
            joined: 0,
            caught_up: false,
            awaiting_alive: false,
            joins_left: 0,
            fences_left: 0,
            me: id,
        }
    }

    /// A server's state rebuilt from its durable state `d`.
    fn restored(&self, id: Id, d: &Durable<S::Op, S::Reply>, restarts: u8) -> St<S> {
        // Recovery reinstalls the process image by interpreting the change buffers
        // (Hagen & Alonso (OPERA) §4: "re-executing all original transactions").
        let service = S::from_ops(d.log.iter().take(d.applied as usize).map(|e| &e.op));
        ServerState {
            role: d.role,
            epoch: d.epoch,
            level: d.level,
            log: d.log.clone(),
            applied: d.applied,
            service,
            pending: Vec::new(),
            restarts,
            wipes: d.wipes,
            reconfigured: d.reconfigured,
            incarnation: d.incarnation,
            joined: d.joined,
            caught_up: d.caught_up,
            awaiting_alive: false,
            joins_left: 0,
            fences_left: 0,
            me: id,
        }
    }

    /// Runs a server from state `s`, `restarted` from a durable state or not.
    fn start(&self, mut s: St<S>, restarted: bool, o: &mut O<S>) -> St<S> {
        let restarted_primary = s.role == Role::Primary && restarted;
        let reconfigure = restarted_primary
            && s.level != Level::Normal
            && self.cfg.variant != Variant::SkipReconfiguration;
        if reconfigure {
            s.role = Role::Reconfiguring;
            // Asked again for ever where clients resend for ever (the runtime; the model's
            // `resends = forever`). With a finite budget the model explores the single
            // question: one more multiplies the crash-primary configurations' states by six
            // to eight, and the forever configurations check the resends' safety.
            s.joins_left = if self.cfg.resends == super::FOREVER { super::FOREVER } else { 0 };
        }
        // Write-ahead: the restart is durable before anything is sent.
        self.save(&s, o);
        if reconfigure {
            self.inquire(&s, o);
        } else if restarted_primary {
            self.announce(s.epoch, o);
            if self.degraded(&s) {
                // The fence may have been lost before the crash: the backup may still think
                // itself the backup of the old epoch, and says nothing while we say nothing.
                self.fence(&mut s, o);
            }
        }
        match s.role {
            Role::Backup => {
                self.arm_takeover(o);
                if self.cfg.heartbeats && restarted {
                    // Back after a crash: an I-am-alive sent meanwhile was lost; resume them.
                    o.send(Self::peer(&s), Msg::AliveAck { epoch: s.epoch });
                }
            }
            Role::Primary => self.arm_heartbeat(&s, o),
            Role::Retired if restarted => self.rejoin(&s, o),
            Role::Learner => {
                s.joins_left = self.cfg.resends;
                self.join(&s, o);
            }
            _ => {}
        }
        if s.wipes < self.cfg.wipes && self.cfg.may_crash(usize::from(s.me)) {
            o.set_timer(Timer::StorageLost, self.cfg.timing.suspect.clone());
        }
        s
    }

    /// Whether this server's peer holds everything it acknowledged, so that losing its
    /// storage loses nothing a client saw: a backup, a deposed or rejoining server, or the
    /// first primary (epoch 0, with a backup: every commit was acked by the backup first).
    fn may_lose_storage(s: &St<S>) -> bool {
        peer_holds_all(s.role, s.epoch, s.level)
    }

    /// The model's storage fault: the server crashes and comes back with its storage lost,
    /// and starts as a learner (or, in the seeded bugs, trusts what is left).
    fn lose_storage(&self, s: &St<S>, o: &mut O<S>) -> St<S> {
        for t in [Timer::Takeover, Timer::Heartbeat, Timer::Join] {
            o.cancel_timer(t);
        }
        let mut d = match self.cfg.variant {
            Variant::WipedStartsFresh => {
                let mut n = self.fresh(s.me);
                (n.restarts, n.wipes, n.incarnation) =
                    (s.restarts, s.wipes + 1, u64::from(s.wipes) + 1);
                return self.start(n, false, o);
            }
            Variant::TrustCutJournal => {
                // The bug: the journal cut at its first bad record, the rest trusted.
                let mut d = s.durable();
                d.log.clear();
                d.applied = 0;
                d
            }
            _ => Durable::learner(self.cfg.level, u64::from(s.wipes) + 1),
        };
        d.wipes = s.wipes + 1;
        self.start(self.restored(s.me, &d, s.restarts), true, o)
    }

    /// A restarted primary asks its peer for the process state, and asks again on its
    /// `Inquire` timer while it has resends left (the path may lose the question or the
    /// answer, and nothing else would make it ask again).
    fn inquire(&self, s: &St<S>, o: &mut O<S>) {
        o.send(Self::peer(s), Msg::Inquire { epoch: s.epoch, len: s.log.len() as u32 });
        if s.joins_left > 0 && self.cfg.variant != Variant::InquireOnce {
            o.set_timer(Timer::Inquire, self.cfg.timing.resend.clone());
        }
    }

    /// A learner asks its peer for the history, and asks again on its `Join` timer while it
    /// has resends left.
    fn join(&self, s: &St<S>, o: &mut O<S>) {
        o.send(Self::peer(s), Msg::Join { inc: s.incarnation });
        if s.joins_left > 0 {
            o.set_timer(Timer::Join, self.cfg.timing.resend.clone());
        }
    }

    /// Takeback (Hvasshovd et al. (ClustRa) §3.3-§4: a repaired node is brought up to date and becomes the
    /// stand-by again): a retired server asks the primary of its epoch for the history.
    fn rejoin(&self, s: &St<S>, o: &mut O<S>) {
        if self.cfg.takeback && s.epoch > 0 {
            let (epoch, len, inc) = (s.epoch, s.log.len() as u32, s.incarnation);
            o.send(Self::peer(s), Msg::Rejoin { epoch, len, inc });
        }
    }

    /// Arms the backup's suspicion of the primary, which ends in a takeover; not in degraded
    /// mode, where the primary is the authority and the backup never takes over on its own.
    fn arm_takeover(&self, o: &mut O<S>) {
        if !self.cfg.degrade || self.cfg.variant == Variant::DegradeWithTakeover {
            o.set_timer(Timer::Takeover, self.cfg.timing.suspect.clone());
        }
    }

    /// The backup answered the pending step: no degradation for it.
    fn answered(&self, o: &mut O<S>) {
        if self.cfg.degrade {
            o.cancel_timer(Timer::Degrade);
        }
    }

    /// Degraded mode: the backup has not answered the pending step in time. The primary moves
    /// to a new epoch at level normal — durably, before anything of the step leaves, so that a
    /// restart does not ask the fenced backup for the process state — commits the step alone,
    /// answers it, and tells the backup it is fenced (it rejoins by catch-up; takeback).
    fn degrade(&self, s: &St<S>, o: &mut O<S>) -> Option<St<S>> {
        if s.role != Role::Primary || s.level == Level::Normal || s.pending.is_empty() {
            return None;
        }
        let mut n = s.clone();
        n.epoch = s.epoch.saturating_add(1);
        n.level = Level::Normal;
        n.awaiting_alive = false;
        let pending = std::mem::take(&mut n.pending);
        for p in &pending {
            if let Pending::Update { entry, .. } = p {
                n.commit(entry.clone());
            }
        }
        if self.cfg.variant == Variant::VolatileDegrade {
            // The bug: the commit is saved, the new epoch and level are not.
            let mut d = n.durable();
            (d.epoch, d.level) = (s.epoch, s.level);
            o.save(d);
        } else {
            self.save(&n, o);
        }
        o.cancel_timer(Timer::Heartbeat);
        self.fence(&mut n, o);
        for p in &pending {
            let (client, session, seq, reply) = p.reply();
            o.send(client, Msg::Reply { session, seq, reply });
        }
        Some(n)
    }

    /// Whether `s` is a degraded primary: one that fenced its backup out (degraded mode) and
    /// serves alone until the backup asks to rejoin.
    fn degraded(&self, s: &St<S>) -> bool {
        self.cfg.degrade
            && s.role == Role::Primary
            && s.level == Level::Normal
            && self.cfg.level != Level::Normal
    }

    /// Tells the backup it is fenced out of `s`'s epoch, and arms the resend of that fence
    /// (the `Degrade` timer) until the backup asks to rejoin (which upgrades the primary).
    fn fence(&self, s: &mut St<S>, o: &mut O<S>) {
        o.send(Self::peer(s), Msg::TakenOver { epoch: s.epoch });
        s.fences_left = self.cfg.resends;
        if s.fences_left > 0 {
            o.set_timer(Timer::Degrade, self.cfg.timing.degrade.clone());
        }
    }

    /// Arms the I-am-alive timer of a primary that has a backup (Hvasshovd et al. (ClustRa) §3.3: "I am alive"
    /// messages; the backup suspects the primary when they stop).
    fn arm_heartbeat(&self, s: &St<S>, o: &mut O<S>) {
        if self.cfg.heartbeats && s.role == Role::Primary && s.level != Level::Normal {
            o.set_timer(Timer::Heartbeat, self.cfg.timing.heartbeat.clone());
        }
    }

    /// Handles a message; returns the next state if it changed.
    pub fn on_msg(&self, s: &St<S>, src: Id, msg: M<S>, o: &mut O<S>) -> Option<St<S>> {
        match (s.role, msg) {
            (Role::Primary, Msg::Request { session, seq, op }) => {
                self.on_request(s, src, session, seq, op, o)
            }
            (Role::Primary, Msg::Probe) if self.cfg.probe => {
                o.send(src, Msg::NewPrimary { epoch: s.epoch });
                None
            }
            (Role::Primary, Msg::Ack { epoch, index }) if epoch == s.epoch => {
                // The backup holds every change buffer up to `index` (it stores them in
                // order): each of ours up to it is acknowledged.
                let exact = self.cfg.variant == Variant::CommitOutOfOrder;
                let mut n = s.clone();
                let mut newly = false;
                for i in 0..n.pending.len() {
                    let at = n.position(i);
                    if let Pending::Update { acked, .. } = &mut n.pending[i] {
                        if !*acked && (at == index || (at < index && !exact)) {
                            *acked = true;
                            newly = true;
                        }
                    }
                }
                newly.then(|| self.drain(n, o))
            }
            (Role::Primary, Msg::Confirmed { epoch, index }) if epoch == s.epoch => {
                let mut n = s.clone();
                let at = (0..n.pending.len()).find(|i| {
                    matches!(n.pending[*i], Pending::Read { confirmed: false, .. })
                        && n.position(*i) == index
                })?;
                if let Pending::Read { confirmed, .. } = &mut n.pending[at] {
                    *confirmed = true;
                }
                Some(self.drain(n, o))
            }
            (Role::Retired, Msg::TakenOver { epoch }) if epoch >= s.epoch && self.cfg.takeback => {
                // A degraded primary fences us: its degradation cut our rejoin (a chunk or an
                // ack came too late), or our `Rejoin` was lost and it fences again. Its
                // history only grows across a degradation, so what we hold is still a prefix
                // of it: adopt its epoch (durably, before anything leaves) and ask again from
                // where ours ends. Ignoring it left a retired server retired for good.
                let n = (epoch > s.epoch).then(|| {
                    let mut n = s.clone();
                    n.epoch = epoch;
                    n.caught_up = false;
                    self.save(&n, o);
                    n
                });
                self.rejoin(n.as_ref().unwrap_or(s), o);
                n
            }
            (Role::Primary | Role::Reconfiguring | Role::Backup, Msg::TakenOver { epoch })
                if epoch > s.epoch =>
            {
                // Deposed: "the process can be removed from the old primary's database since
                // the new primary has elected a new backup during fail-over" (§3.1). A backup
                // hears it from a primary that degraded: fenced out, it rejoins by catch-up.
                let mut n = s.clone();
                n.role = Role::Retired;
                n.epoch = epoch;
                n.log.clear();
                n.applied = 0;
                n.service = S::default();
                n.pending.clear();
                self.save(&n, o);
                self.rejoin(&n, o);
                Some(n)
            }
            (Role::Reconfiguring, Msg::ProcessState { epoch, from, entries })
                if (epoch == s.epoch || epoch == s.epoch + 1) && from as usize <= s.log.len() =>
            {
                // The backup has not taken over: adopt its committed history, which extends
                // ours by at most the step whose commit we crashed before (the checked
                // atomicity property: ours is a prefix of it). It sends only what follows
                // our length — or, were its history shorter, from its end, and ours is cut
                // to it: its history is the one that counts.
                // The backup answers in a new epoch (see `on_backup_msg`): we adopt it.
                let mut n = s.clone();
                n.epoch = epoch;
                if (from as usize) < n.log.len() {
                    n.log.truncate(from as usize);
                    n.applied = 0;
                    n.service = S::default();
                }
                n.log.extend(entries);
                n.install_all();
                Some(self.resume_as_primary(n, o))
            }
            (Role::Primary, Msg::AliveAck { epoch }) if epoch == s.epoch && s.awaiting_alive => {
                let mut n = s.clone();
                n.awaiting_alive = false;
                self.arm_heartbeat(&n, o);
                Some(n)
            }
            (Role::Primary, Msg::Rejoin { epoch, len, inc })
                if epoch == s.epoch && self.cfg.takeback =>
            {
                // Upgrade first (every later step needs the rejoining server's ack), then send
                // the history as of the upgrade, a chunk per `Rejoin` from where the rejoining
                // server's ends: from here on it holds all of it — the chunks, then each change
                // buffer it acks (one that arrives before the last chunk is not acked, and the
                // step waits). (Waiting for the catch-up to be acknowledged before upgrading
                // never converges under load: the degraded primary keeps committing alone
                // meanwhile.)
                let n = self.upgrade(s, o);
                if self.cfg.variant == Variant::TakebackWithoutCatchUp {
                    // The bug: welcome the old primary back as backup with whatever it has.
                    o.send(src, Msg::Welcome { epoch, inc });
                } else {
                    o.send(src, self.catch_up(s, len as usize, inc));
                }
                n
            }
            (Role::Primary, Msg::Join { inc }) if self.cfg.takeback => {
                // A learner (it lost its storage) is caught up as in a takeback, in a new
                // epoch: an ack its lost storage sent may still be on its way, and must not
                // count (the new epoch fences the server's previous incarnation). A resent
                // `Join` of the learner already caught up is answered again, in this epoch —
                // upgraded again if the primary degraded since (the learner did not ack a step
                // in time): the degradation's epoch fences what it acked before, and without
                // the upgrade its `CaughtUp` is never welcomed.
                let mut n = s.clone();
                let degraded_since = s.level == Level::Normal && self.cfg.level != Level::Normal;
                if inc != s.joined || degraded_since {
                    if inc != s.joined && self.cfg.variant != Variant::JoinInSameEpoch {
                        n.epoch = s.epoch.saturating_add(1);
                    }
                    n.joined = inc;
                    n.level = self.cfg.level;
                    if n.epoch != s.epoch {
                        // The acks of the learner's lost storage do not count.
                        for p in &mut n.pending {
                            if let Pending::Update { acked, .. } = p {
                                *acked = false;
                            }
                        }
                    }
                    n.fences_left = 0;
                    n.awaiting_alive = false;
                    self.save(&n, o);
                    self.arm_heartbeat(&n, o);
                }
                o.send(src, self.catch_up(&n, 0, inc));
                // The steps in flight go again, in the new epoch.
                self.ship_upto(&n, n.pending.len(), o);
                (n != *s).then_some(n)
            }
            (Role::Learner | Role::Retired, Msg::Inquire { epoch, len })
                if s.role == Role::Learner || epoch == s.epoch =>
            {
                // A restarted primary asks for the commit decisions. A learner or retired
                // server that has caught up in that epoch — all the chunks — holds them (the
                // primary's history as of the catch-up and every step it acked since); one
                // that has not holds nothing to adopt (a prefix at most: it acked no step of
                // the epoch), and says so: the inquirer's own history is then the longest that
                // survives. (A retired server knows its epoch and answers only in it; a
                // learner knows none. Leaving the inquiry unanswered left both servers
                // waiting for good: the primary for the answer, the retired one for chunks.)
                let caught_up = s.caught_up && epoch == s.epoch && !s.log.is_empty();
                if caught_up || self.cfg.variant == Variant::LearnerAnswersInquiry {
                    o.send(src, Self::process_state(s, epoch, len));
                } else {
                    o.send(src, Msg::Empty { epoch });
                }
                None
            }
            (Role::Reconfiguring, Msg::Empty { epoch }) if epoch == s.epoch => {
                // The backup lost its storage: resume with our own history, and the learner
                // catches up from it.
                Some(self.resume_as_primary(s.clone(), o))
            }
            (Role::Primary, Msg::CaughtUp { epoch, inc, .. })
                if epoch == s.epoch && self.cfg.takeback && s.level != Level::Normal =>
            {
                // It holds the history as of the upgrade and has acked every step since: it
                // is current, and may take over from now on.
                o.send(src, Msg::Welcome { epoch, inc });
                None
            }
            (Role::Retired | Role::Learner, Msg::ChangeBuffer { epoch, index, entry })
                if epoch == s.epoch && self.cfg.takeback =>
            {
                // The primary has upgraded: store and ack like a backup (the index check
                // takes only the step that extends what it holds).
                let cb = Msg::ChangeBuffer { epoch, index, entry };
                self.on_backup_msg(s, src, cb, o)
            }
            (Role::Retired | Role::Learner, Msg::CatchUp { epoch, inc, from, entries, last })
                if inc == s.incarnation
                    && self.cfg.takeback
                    && ((epoch == s.epoch && from as usize <= s.log.len())
                        || (s.role == Role::Learner && epoch > s.epoch && from == 0)) =>
            {
                // The primary's history of one epoch only grows, and ours is a prefix of it:
                // a chunk appends what we lack, and a delayed chunk that ends before our end
                // (or at it, not the last) brings nothing. A learner learns the epoch from the
                // first chunk of a catch-up, and starts its history over with it.
                let mut n = s.clone();
                if epoch > s.epoch {
                    n.epoch = epoch;
                    n.log.clear();
                    n.applied = 0;
                    n.service = S::default();
                    n.caught_up = false;
                }
                let (have, from) = (n.log.len(), from as usize);
                let end = from + entries.len();
                // The seeded bug: every chunk is taken for the last one.
                let last = last || self.cfg.variant == Variant::CaughtUpAtFirstChunk;
                if end < have || (end == have && !last) {
                    return None;
                }
                n.log.extend(entries.into_iter().skip(have - from));
                n.install_all();
                n.level = self.cfg.level;
                if last {
                    n.caught_up = true;
                }
                self.save(&n, o);
                let len = n.log.len() as u32;
                if last {
                    o.send(src, Msg::CaughtUp { epoch, inc, len });
                } else {
                    o.send(src, Msg::Rejoin { epoch, len, inc });
                }
                Some(n)
            }
            (Role::Retired | Role::Learner, Msg::Welcome { epoch, inc })
                if epoch == s.epoch && inc == s.incarnation && self.cfg.takeback =>
            {
                // Current, and the primary has upgraded: the stand-by again, with the right
                // to take over (a learner stops asking to join).
                let mut n = s.clone();
                n.role = Role::Backup;
                n.level = self.cfg.level;
                n.caught_up = false;
                self.save(&n, o);
                if s.role == Role::Learner {
                    o.cancel_timer(Timer::Join);
                }
                self.arm_takeover(o);
                Some(n)
            }
            (Role::Retired | Role::Backup, Msg::Request { .. })
                if self.cfg.variant != Variant::NoRedirect && s.epoch > 0 =>
            {
                // A client that missed the new primary's announcement (it connected later):
                // tell it the other server is the primary of this epoch.
                o.send(src, Msg::NotPrimary { epoch: s.epoch });
                None
            }
            (Role::Backup, msg) => self.on_backup_msg(s, src, msg, o),
            (Role::Primary, Msg::ChangeBuffer { epoch, index, .. })
                if epoch < s.epoch && self.cfg.variant == Variant::NoFencing =>
            {
                // The bug: the new primary still acks the deposed one's change buffers.
                o.send(src, Msg::Ack { epoch, index });
                None
            }
            (Role::Primary, Msg::Ack { epoch, .. })
            | (Role::Primary, Msg::Confirmed { epoch, .. })
            | (Role::Primary, Msg::AliveAck { epoch })
                if epoch < s.epoch && self.cfg.degrade =>
            {
                // A backup fenced out by our degradation has not heard of it: tell it again.
                o.send(src, Msg::TakenOver { epoch: s.epoch });
                None
            }
            (Role::Primary, Msg::ChangeBuffer { epoch, .. })
            | (Role::Primary, Msg::Confirm { epoch, .. })
            | (Role::Primary, Msg::Inquire { epoch, .. })
                if epoch < s.epoch =>
            {
                // Fencing: the sender is a primary of an older epoch.
                o.send(src, Msg::TakenOver { epoch: s.epoch });
                None
            }
            _ => None,
        }
    }

    /// A reconfiguring primary that knows the process state serves again: durably primary,
    /// announced, its heartbeat armed.
    fn resume_as_primary(&self, mut n: St<S>, o: &mut O<S>) -> St<S> {
        n.role = Role::Primary;
        self.save(&n, o);
        self.announce(n.epoch, o);
        self.arm_heartbeat(&n, o);
        n
    }

    /// A degraded primary returns to the configured level (durably, before anything of the
    /// step leaves): from now on each step needs the backup's ack.
    fn upgrade(&self, s: &St<S>, o: &mut O<S>) -> Option<St<S>> {
        if s.level != Level::Normal || !s.pending.is_empty() {
            return None;
        }
        let mut n = s.clone();
        n.level = self.cfg.level;
        n.fences_left = 0;
        self.save(&n, o);
        self.arm_heartbeat(&n, o);
        Some(n)
    }

    fn on_request(
        &self, s: &St<S>, client: Id, session: u64, seq: u32, op: S::Op, o: &mut O<S>,
    ) -> Option<St<S>> {
        let v = self.cfg.variant;
        if v == Variant::BusyWhileHeartbeat && s.awaiting_alive {
            return None;
        }
        if v != Variant::NoDuplicateDetection {
            let expired = s.log.session(client).is_some_and(|latest| session < latest);
            if expired && v != Variant::ExpiredSessionExecutes {
                // A later session of this client id has committed a step: this session's
                // entries have expired from the message table, so the request can be neither
                // answered from it nor executed (it may have been, before).
                o.send(client, Msg::Expired { session, seq });
                return None;
            }
            let stored = if v == Variant::SessionBlind {
                // The bug: the stored reply of the same seq in any session of the client.
                s.log.iter().find(|e| e.client == client && e.seq == seq)
            } else {
                s.log.find(client, session, seq)
            };
            if let Some(e) = stored {
                // A resend of a committed request: the stored reply, not a second execution.
                o.send(client, Msg::Reply { session, seq, reply: e.reply.clone() });
                return None;
            }
        }
        if let Some(i) = s.pending.iter().position(|p| p.is_request(client, session, seq)) {
            // A resend of a step in flight: the path to the backup may have lost it, and any
            // before it that the backup has not answered.
            self.ship_upto(s, i + 1, o);
            return None;
        }
        if s.pending.len() >= self.cfg.buffers.max(1) {
            return None;
        }
        let reply = s.speculative().apply(&op);
        let mut n = s.clone();
        let has_backup = s.level != Level::Normal;
        if !S::changes_state(&op) {
            if !has_backup || self.cfg.variant == Variant::LocalReads {
                o.send(client, Msg::Reply { session, seq, reply });
                return None;
            }
            let at = s.position(s.pending.len());
            let read_at = |i: usize| matches!(s.pending[i], Pending::Read { .. });
            if (0..s.pending.len()).any(|i| read_at(i) && s.position(i) == at) {
                // One read in flight per position: its `Confirmed` names it by position.
                return None;
            }
            n.pending.push(Pending::Read { client, session, seq, reply, confirmed: false });
        } else {
            let entry = Entry { client, session, seq, op, reply: reply.clone() };
            if !s.pending.is_empty() && (!has_backup || self.cfg.variant == Variant::OneSafe) {
                return None;
            }
            if !has_backup || self.cfg.variant == Variant::OneSafe {
                // No backup (normal), or the 1-safe bug: commit and reply at once; the 1-safe
                // primary propagates the change buffer after its commit.
                let index = s.log.len() as u32;
                n.commit(entry.clone());
                self.save(&n, o);
                o.send(client, Msg::Reply { session, seq, reply });
                if has_backup {
                    o.send(Self::peer(s), Msg::ChangeBuffer { epoch: s.epoch, index, entry });
                }
                return Some(n);
            }
            n.pending.push(Pending::Update { entry, acked: false });
        }
        self.ship(&n, n.pending.len() - 1, o);
        if self.cfg.degrade {
            o.set_timer(Timer::Degrade, self.cfg.timing.degrade.clone());
        }
        Some(n)
    }

    /// Commits and answers, in order, the steps in flight that the backup has answered, up to
    /// the first it has not: one save for every commit, before any reply leaves (write-ahead).
    /// The degradation timer then runs for the steps left, if any.
    fn drain(&self, mut n: St<S>, o: &mut O<S>) -> St<S> {
        let out_of_order = self.cfg.variant == Variant::CommitOutOfOrder;
        let mut done = Vec::new();
        let mut i = 0;
        while i < n.pending.len() {
            if !n.pending[i].answered() {
                if !out_of_order {
                    break;
                }
                i += 1;
                continue;
            }
            let p = n.pending.remove(i);
            if let Pending::Update { entry, .. } = &p {
                n.commit(entry.clone());
            }
            done.push(p);
        }
        if n.pending.is_empty() {
            self.answered(o);
        } else if self.cfg.degrade {
            o.set_timer(Timer::Degrade, self.cfg.timing.degrade.clone());
        }
        if done.iter().any(|p| matches!(p, Pending::Update { .. })) {
            self.save(&n, o);
        }
        for p in &done {
            let (client, session, seq, reply) = p.reply();
            o.send(client, Msg::Reply { session, seq, reply });
        }
        n
    }

    /// The chunk of `s`'s history after its first `from` entries, for the server of
    /// incarnation `inc` (at most `catch_up_chunk` entries; O(log n + chunk)).
    fn catch_up(&self, s: &St<S>, from: usize, inc: u64) -> M<S> {
        let len = s.log.len();
        let from = from.min(len);
        let to = len.min(from.saturating_add(self.cfg.catch_up_chunk.max(1)));
        let entries = s.log.range(from, to);
        Msg::CatchUp { epoch: s.epoch, inc, from: from as u32, entries, last: to == len }
    }

    /// The answer to a restarted primary's `Inquire` of `epoch`: the history after the
    /// inquirer's `len` entries (after ours, were ours shorter).
    fn process_state(s: &St<S>, epoch: Epoch, len: u32) -> M<S> {
        let from = (len as usize).min(s.log.len());
        Msg::ProcessState { epoch, from: from as u32, entries: s.log.suffix(from) }
    }

    /// Sends step `i` in flight to the backup: the change buffer, or the read's confirmation.
    fn ship(&self, s: &St<S>, i: usize, o: &mut O<S>) {
        let index = s.position(i);
        let msg = match &s.pending[i] {
            Pending::Update { entry, .. } => {
                Msg::ChangeBuffer { epoch: s.epoch, index, entry: entry.clone() }
            }
            Pending::Read { .. } => Msg::Confirm { epoch: s.epoch, index },
        };
        o.send(Self::peer(s), msg);
    }

    /// Sends again the first `upto` steps in flight that the backup has not answered.
    fn ship_upto(&self, s: &St<S>, upto: usize, o: &mut O<S>) {
        for i in (0..upto).filter(|i| !s.pending[*i].answered()) {
            self.ship(s, i, o);
        }
    }

    fn on_backup_msg(&self, s: &St<S>, src: Id, msg: M<S>, o: &mut O<S>) -> Option<St<S>> {
        match msg {
            Msg::ChangeBuffer { epoch, index, entry } if epoch == s.epoch => {
                let len = s.log.len();
                if (index as usize) < len {
                    // A retransmission of a step already stored: ack it again.
                    o.send(src, Msg::Ack { epoch, index });
                    return None;
                }
                if (index as usize) > len && self.cfg.variant != Variant::AckWithoutPredecessor {
                    // An earlier change buffer is still on its way (or lost: it comes again).
                    return None;
                }
                let mut n = s.clone();
                n.log.push(entry);
                if s.level == Level::Critical {
                    // Hot standby: apply and commit before acknowledging.
                    n.install_all();
                }
                if self.cfg.variant == Variant::AckBeforeDurable {
                    // The bug: the buffer is written lazily, when the next one arrives.
                    let mut lagging = n.durable();
                    lagging.log.pop();
                    lagging.applied = lagging.applied.min(lagging.log.len() as u32);
                    o.save(lagging);
                } else {
                    self.save(&n, o);
                }
                o.send(src, Msg::Ack { epoch, index });
                Some(n)
            }
            Msg::Confirm { epoch, index } if epoch == s.epoch => {
                o.send(src, Msg::Confirmed { epoch, index });
                None
            }
            Msg::IAmAlive { epoch } if epoch == s.epoch => {
                // The primary lives: suspicion starts over.
                self.arm_takeover(o);
                o.send(src, Msg::AliveAck { epoch });
                None
            }
            Msg::Inquire { epoch, len } if epoch == s.epoch => {
                // A restarted primary's reconfiguration. Its previous incarnation's change
                // buffers may still be on their way here, and acks of them on their way back:
                // one stored after this answer would put at an index what the restarted
                // primary does not hold, and its ack would commit there whatever step the
                // restarted primary ships next at that index. So the answer starts a new epoch
                // (durably, before it leaves), which fences both out; the primary adopts it.
                if self.cfg.variant == Variant::ReconfigureInSameEpoch {
                    o.send(src, Self::process_state(s, epoch, len));
                    return None;
                }
                let mut n = s.clone();
                n.epoch = epoch.saturating_add(1);
                n.reconfigured = s.reconfigured.saturating_add(1);
                self.save(&n, o);
                o.send(src, Self::process_state(&n, n.epoch, len));
                Some(n)
            }
            Msg::Inquire { epoch, len } if epoch.saturating_add(1) == s.epoch => {
                // The same question again (our answer was lost): the same answer, in the
                // epoch it started.
                o.send(src, Self::process_state(s, s.epoch, len));
                None
            }
            _ => None,
        }
    }

    /// The primary's I-am-alive timer, or the backup's suspicion: it takes over.
    pub fn on_timeout(&self, s: &St<S>, timer: &Timer, o: &mut O<S>) -> Option<St<S>> {
        if *timer == Timer::Heartbeat && s.role == Role::Primary && self.cfg.heartbeats {
            if s.awaiting_alive {
                // The last one is unanswered: stay silent until an answer comes, or until
                // the restarted backup says it is back. If none comes, the backup suspects
                // us, which fencing makes safe.
                return None;
            }
            let mut n = s.clone();
            n.awaiting_alive = true;
            o.send(Self::peer(s), Msg::IAmAlive { epoch: s.epoch });
            self.arm_heartbeat(&n, o);
            return Some(n);
        }
        if *timer == Timer::Degrade && self.degraded(s) {
            // Degraded and the backup has not asked to rejoin: the fence again (the path may
            // have lost it, and a fenced backup that never heard it stays silent).
            if s.fences_left == 0 {
                return None;
            }
            let mut n = s.clone();
            n.fences_left = super::spend(s.fences_left);
            o.send(Self::peer(s), Msg::TakenOver { epoch: s.epoch });
            if n.fences_left > 0 {
                o.set_timer(Timer::Degrade, self.cfg.timing.degrade.clone());
            }
            return Some(n);
        }
        if *timer == Timer::Degrade {
            return self.degrade(s, o);
        }
        if *timer == Timer::StorageLost {
            if !Self::may_lose_storage(s) {
                // Not now: its peer may lack something it acknowledged. Maybe later.
                o.set_timer(Timer::StorageLost, self.cfg.timing.suspect.clone());
                return None;
            }
            return Some(self.lose_storage(s, o));
        }
        if *timer == Timer::Inquire && s.role == Role::Reconfiguring && s.joins_left > 0 {
            let mut n = s.clone();
            n.joins_left = super::spend(s.joins_left);
            self.inquire(&n, o);
            return Some(n);
        }
        if *timer == Timer::Join && s.role == Role::Learner && s.joins_left > 0 {
            let mut n = s.clone();
            n.joins_left = super::spend(s.joins_left);
            self.join(&n, o);
            return Some(n);
        }
        if *timer != Timer::Takeover || s.role != Role::Backup {
            return None;
        }
        let mut n = s.clone();
        n.role = Role::Primary;
        if self.cfg.variant != Variant::NoEpochBump {
            n.epoch = s.epoch.saturating_add(1);
        }
        n.level = Level::Normal;
        if self.cfg.variant == Variant::PromotionWithoutPendingCommits {
            // The bug: the stored change buffers not yet applied are dropped, not committed.
            while n.log.len() > n.applied as usize {
                n.log.pop();
            }
        } else {
            // Finish the pending commits: a cold standby installs what it stored.
            n.install_all();
        }
        self.save(&n, o);
        self.announce(n.epoch, o);
        Some(n)
    }
}
