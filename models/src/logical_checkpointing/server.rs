//! The server of logical checkpointing: primary, backup, or spare (the logical-checkpointing patent, Fig. 3A-3D,
//! 4A, 4B).
//!
//! Both roles keep the same two structures: the **history** (committed requests with their
//! responses: the message table's answered entries, in SSN order) and the **log** (requests
//! with an SSN that are not committed yet: at the primary, checkpointed and waiting for the
//! ack; at the backup, the durable intention log waiting for execution). An entry is *ready*
//! when acked (primary) or executed (backup); both commit ready entries strictly in SSN order,
//! which is what makes their logical states equal whatever order the backup executed in.
//!
//! Why it is safe: the primary commits (and so replies) only acked entries, and the backup acks
//! only once the entry is in its durable log, so a reply implies two durable copies; the primary
//! answers a resend from its table (or re-checkpoints a pending one) and never gives one
//! (client, seq) two SSNs; a new primary finishes the old primary's pending commits before it
//! answers a resend of them, or any read.
//!
//! The message table is the history plus an index by request ([`Table`], a function of the
//! history), so that a lookup costs O(log n) once the role runs for real; the history is a
//! persistent vector (a copy of the state shares it) and a save journals what changed
//! ([`Journaled`]). A request names its client's *session* too: the table keeps each client's
//! latest session that committed a request, and a request of an earlier session is refused
//! (`Expired`), never answered with another request's response.

use super::msg::{Committed, Epoch, Msg, Seq, Ssn, Timer};
use super::{Config, Node, Variant};
use crate::journaled::Journaled;
use crate::services::Service;
use crate::trace::{listed, one_line, Field, Fields};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use stateright::actor::{Id, Out};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// What a server does.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Role {
    /// Assigns SSNs, checkpoints, commits on acks, answers clients.
    Primary,
    /// Logs, acks, executes in any order, commits in SSN order; takes over.
    Backup,
    /// A failed primary after its restart: in the spare pool.
    Spare,
}

/// A request with an SSN, not committed yet.
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Logged<Op> {
    /// The client.
    pub client: Id,
    /// The client's session.
    pub session: u64,
    /// The client's sequence number.
    pub seq: Seq,
    /// The data.
    pub op: Op,
    /// Acked (primary) or executed (backup): it may commit once every lower SSN has.
    pub ready: bool,
}

/// A server's durable state.
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Durable<Op: Clone, Reply: Clone> {
    /// The role as last made durable.
    pub role: Role,
    /// Bumped by a takeover.
    pub epoch: Epoch,
    /// A primary's: its peer is its backup and acknowledges every checkpoint before it
    /// commits. Server 0 starts with one; a new primary has none until a spare joins.
    pub with_backup: bool,
    /// Committed requests in SSN order (persistent: copies share it).
    pub history: imbl::Vector<Committed<Op, Reply>>,
    /// Requests with an SSN, not committed.
    pub log: BTreeMap<Ssn, Logged<Op>>,
    /// The next SSN to assign.
    pub next_ssn: Ssn,
    /// Restarts so far (bounds crashes in the model).
    pub restarts: u8,
    /// Storage losses so far (bounds them in the model).
    pub wipes: u8,
    /// This server's incarnation: 0 at first, new each time it lost its storage.
    pub inc: u64,
    /// It lost its storage and has not been caught up since: a spare that holds nothing.
    pub learner: bool,
    /// A primary's: the incarnation of the last learner it caught up (its backup's, since).
    pub backup_inc: u64,
}

impl<Op: Clone, Reply: Clone> Durable<Op, Reply> {
    /// What a server that lost its storage starts from: a spare in the pool, of epoch 0, that
    /// holds nothing and asks its peer to catch it up (incarnation `inc`).
    pub fn learner(inc: u64) -> Self {
        Durable {
            role: Role::Spare,
            epoch: 0,
            with_backup: false,
            history: imbl::Vector::new(),
            log: BTreeMap::new(),
            next_ssn: 0,
            restarts: 0,
            wipes: 0,
            inc,
            learner: true,
            backup_inc: 0,
        }
    }

    /// Whether the peer of a server that saved this holds everything the server acknowledged,
    /// so that the server may lose its storage and rejoin as a learner (the model's
    /// `StorageLost`): a backup (its primary checkpointed everything it acked, and committed
    /// only what it acked), a learner, or the first primary (epoch 0, with its backup from
    /// the start: every commit was acked by the backup first). Not a spare (it may hold the
    /// last chunk of a catch-up its peer never got) nor a later primary (it may have committed
    /// alone). The runtime asks it of a journal whose final record was torn: such a server
    /// restarts as a learner, the others from what is left.
    pub fn peer_holds_all(&self) -> bool {
        match self.role {
            Role::Backup => true,
            Role::Spare => self.learner,
            Role::Primary => self.epoch == 0 && self.with_backup,
        }
    }
}

/// A server's state: the durable part and the service image (rebuilt from the history).
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ServerState<S: Service> {
    /// The durable part.
    pub d: Durable<S::Op, S::Reply>,
    /// The service with every committed request applied in SSN order.
    pub service: S,
    /// With `heartbeats`: an I-am-alive is unanswered (primary; lost in a crash).
    pub awaiting_alive: bool,
    /// The message table's index of the history (volatile, rebuilt on restart).
    pub table: Table,
    /// This server's id.
    pub me: Id,
    /// `Join` resends left (spare only; the model's bound, like a client's resends).
    pub joins_left: u8,
}

impl<S: Service> Fields for ServerState<S> {
    fn fields(&self) -> Vec<Field> {
        let d = &self.d;
        crate::fields![
            "role" => one_line(&d.role),
            "epoch" => one_line(&d.epoch),
            "with backup" => one_line(&d.with_backup),
            "next SSN" => one_line(&d.next_ssn),
            "log (SSN assigned, not committed)" => listed(d.log.iter()),
            "history (committed, SSN order)" => listed(d.history.iter()),
            "message table (latest session per client)" => one_line(&self.table.latest),
            "service" => one_line(&self.service),
            "awaiting I-am-alive" => one_line(&self.awaiting_alive),
            "incarnation / learner / backup's" => format!("{} / {} / {}", d.inc, d.learner, d.backup_inc),
            "restarts / storage losses" => format!("{} / {}", d.restarts, d.wipes),
            "join resends left" => one_line(&self.joins_left),
        ]
    }
}

/// The message table's index: each client's latest session that committed a request, and the
/// position in the history of each committed request (its first commit). A function of the
/// history, so equality and hashing ignore it.
#[derive(Clone, Debug, Default)]
pub struct Table {
    latest: imbl::OrdMap<Id, u64>,
    index: imbl::OrdMap<(Id, u64, Seq), usize>,
}

impl Table {
    /// The index of `history`.
    pub fn of<Op, Reply>(history: &imbl::Vector<Committed<Op, Reply>>) -> Table
    where
        Op: Clone,
        Reply: Clone,
    {
        let mut t = Table::default();
        for (i, e) in history.iter().enumerate() {
            t.note(e.client, e.session, e.seq, i);
        }
        t
    }

    fn note(&mut self, client: Id, session: u64, seq: Seq, position: usize) {
        if self.latest.get(&client).is_none_or(|l| *l < session) {
            self.latest.insert(client, session);
        }
        self.index.entry((client, session, seq)).or_insert(position);
    }

    /// The latest session of `client` that committed a request.
    pub fn session(&self, client: Id) -> Option<u64> {
        self.latest.get(&client).copied()
    }
}

impl PartialEq for Table {
    fn eq(&self, _: &Table) -> bool {
        true // a function of the history, which the state compares
    }
}

impl Eq for Table {}

impl Hash for Table {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

impl<S: Service> ServerState<S> {
    /// The committed entry of request `seq` of `c`'s session `session`, if that is the
    /// client's latest session: the message-table lookup, O(log n).
    fn find_committed(&self, c: Id, session: u64, s: Seq) -> Option<&Committed<S::Op, S::Reply>> {
        if self.table.session(c) != Some(session) {
            return None;
        }
        let i = self.table.index.get(&(c, session, s))?;
        self.d.history.get(*i)
    }

    fn find_logged(&self, c: Id, session: u64, s: Seq) -> Option<Ssn> {
        self.d
            .log
            .iter()
            .find(|(_, l)| l.client == c && l.session == session && l.seq == s)
            .map(|(n, _)| *n)
    }

    /// Whether this primary has a backup: server 0 in the first epoch, and a primary that a
    /// spare has joined (after a takeover the process runs without one until then).
    fn has_backup(&self) -> bool {
        self.d.with_backup
    }

    /// The other server: a primary's backup, a backup's primary, the primary a spare joins.
    fn peer(&self) -> Id {
        crate::history::other_server(self.me)
    }

    fn commit(&mut self, ssn: Ssn, o: &mut O<S>) {
        if let Some(l) = self.d.log.remove(&ssn) {
            let reply = self.service.apply(&l.op);
            let (client, session, seq) = (l.client, l.session, l.seq);
            if self.d.role == Role::Primary {
                o.send(client, Msg::Reply { session, seq, reply: reply.clone() });
            }
            self.append(Committed { ssn, client, session, seq, op: l.op, reply });
        }
    }

    /// Appends a committed request to the history and notes it in the message table.
    fn append(&mut self, e: Committed<S::Op, S::Reply>) {
        self.table.note(e.client, e.session, e.seq, self.d.history.len());
        self.d.history.push_back(e);
    }

    /// Commits every ready entry whose predecessors are committed: SSN order.
    fn commit_in_order(&mut self, o: &mut O<S>) {
        loop {
            let next = self.d.history.len() as Ssn;
            match self.d.log.get(&next) {
                Some(l) if l.ready => self.commit(next, o),
                _ => return,
            }
        }
    }
}

crate::role! {
    /// The server actor's configuration.
    Server
}

type O<S> = Out<Node<S>>;
type St<S> = ServerState<S>;
type M<S> = Msg<<S as Service>::Op, <S as Service>::Reply>;

impl<S: Service> Server<S> {
    fn save(&self, s: &St<S>, o: &mut O<S>) {
        o.save(s.d.clone());
    }

    /// Starts fresh (server 0 primary, server 1 backup) or restarts from the durable state.
    pub fn on_start(
        &self, id: Id, storage: &Option<Durable<S::Op, S::Reply>>, o: &mut O<S>,
    ) -> St<S> {
        let mut s = match storage {
            None => ServerState {
                d: Durable {
                    role: if id == Id::from(0) { Role::Primary } else { Role::Backup },
                    epoch: 0,
                    with_backup: id == Id::from(0),
                    history: imbl::Vector::new(),
                    log: BTreeMap::new(),
                    next_ssn: 0,
                    restarts: 0,
                    wipes: 0,
                    inc: 0,
                    learner: false,
                    backup_inc: 0,
                },
                service: S::default(),
                awaiting_alive: false,
                table: Table::default(),
                me: id,
                joins_left: 0,
            },
            Some(d) => {
                let service = S::from_ops(d.history.iter().map(|e| &e.op));
                let mut d = d.clone();
                d.restarts = d.restarts.saturating_add(1);
                for l in d.log.values_mut() {
                    l.ready = false; // execution results and acks were volatile
                }
                let table = Table::of(&d.history);
                ServerState { d, service, awaiting_alive: false, table, me: id, joins_left: 0 }
            }
        };
        if storage.is_some() && s.d.role == Role::Primary && s.has_backup() {
            // A failed primary that had a backup goes to the spare pool: its backup takes over
            // (the logical-checkpointing patent). A primary without one is the process's only
            // copy and serves again.
            s.d.role = Role::Spare;
            s.d.with_backup = false;
            s.d.log.clear();
        }
        self.save(&s, o);
        if s.d.role == Role::Spare {
            self.join(&mut s, o);
        }
        if s.d.role == Role::Backup {
            o.set_timer(Timer::Takeover, self.cfg.timing.suspect.clone());
            if self.cfg.heartbeats && storage.is_some() {
                // Back after a crash: an I-am-alive sent meanwhile was lost; resume them.
                o.send(s.peer(), Msg::AliveAck { epoch: s.d.epoch });
            }
        }
        self.arm_heartbeat(&s, o);
        if s.d.role != Role::Spare && (s.d.role == Role::Backup || !s.has_backup()) {
            for ssn in s.d.log.keys() {
                o.set_timer(Timer::Execute(*ssn), self.cfg.timing.execute.clone());
            }
        }
        self.arm_storage_loss(&s, o);
        s
    }

    /// With `wipes` left and this server allowed to fail: its storage may be lost later.
    fn arm_storage_loss(&self, s: &St<S>, o: &mut O<S>) {
        if s.d.wipes < self.cfg.wipes && self.cfg.faults.may_crash[usize::from(s.me) % 2] {
            o.set_timer(Timer::StorageLost, self.cfg.timing.suspect.clone());
        }
    }

    /// The model's storage fault: the server crashes and comes back with its storage lost: a
    /// learner of a new incarnation, which asks its peer to catch it up (or, in the seeded
    /// bug, a server that starts afresh as if the cluster were new).
    fn lose_storage(&self, s: &St<S>, o: &mut O<S>) -> St<S> {
        for t in [Timer::Takeover, Timer::Heartbeat, Timer::Join] {
            o.cancel_timer(t);
        }
        for ssn in s.d.log.keys() {
            o.cancel_timer(Timer::Execute(*ssn));
        }
        let (wipes, restarts) = (s.d.wipes + 1, s.d.restarts);
        if self.cfg.variant == Variant::WipedStartsFresh {
            // The bug: an empty data directory taken for a new cluster's.
            let mut n = self.on_start(s.me, &None, o);
            (n.d.wipes, n.d.restarts) = (wipes, restarts);
            self.save(&n, o);
            return n;
        }
        let mut d = Durable::learner(u64::from(wipes));
        (d.wipes, d.restarts) = (wipes, restarts);
        let mut n = ServerState {
            d,
            service: S::default(),
            awaiting_alive: false,
            table: Table::default(),
            me: s.me,
            joins_left: 0,
        };
        self.save(&n, o);
        self.join(&mut n, o);
        self.arm_storage_loss(&n, o);
        n
    }

    /// A spare asks its peer to make it the backup, and asks again on its `Join` timer.
    fn join(&self, s: &mut St<S>, o: &mut O<S>) {
        if !self.cfg.rejoin {
            return;
        }
        s.joins_left = self.cfg.resends;
        self.ask_to_join(s, o);
    }

    fn ask_to_join(&self, s: &St<S>, o: &mut O<S>) {
        let have = s.d.history.len() as Ssn;
        let (epoch, inc, learner) = (s.d.epoch, s.d.inc, s.d.learner);
        o.send(s.peer(), Msg::Join { epoch, have, inc, learner });
        if s.joins_left > 0 {
            o.set_timer(Timer::Join, self.cfg.timing.resend.clone());
        }
    }

    /// Arms the I-am-alive timer of a primary that has a backup.
    fn arm_heartbeat(&self, s: &St<S>, o: &mut O<S>) {
        if self.cfg.heartbeats && s.d.role == Role::Primary && s.has_backup() {
            o.set_timer(Timer::Heartbeat, self.cfg.timing.heartbeat.clone());
        }
    }

    /// Handles a message; the next state if it changed.
    pub fn on_msg(&self, s: &St<S>, src: Id, msg: M<S>, o: &mut O<S>) -> Option<St<S>> {
        match (s.d.role, msg) {
            // Fencing: a primary that took over answers anything of an older epoch with
            // `TakenOver` and never with an ack or a confirmation.
            (
                Role::Primary,
                Msg::Checkpoint { epoch, .. }
                | Msg::Confirm { epoch, .. }
                | Msg::IAmAlive { epoch },
            ) if self.cfg.heartbeats && epoch < s.d.epoch => {
                // (Without heartbeats detection is accurate: the old primary is down.)
                o.send(src, Msg::TakenOver { epoch: s.d.epoch });
                None
            }
            (Role::Primary, Msg::TakenOver { epoch }) if epoch > s.d.epoch => {
                // Deposed: retire to the spare pool; the clients follow the new primary.
                let mut n = s.clone();
                n.d.role = Role::Spare;
                n.d.with_backup = false;
                n.d.log.clear();
                n.awaiting_alive = false;
                self.save(&n, o);
                o.cancel_timer(Timer::Heartbeat);
                // From the pool it asks to become the new primary's backup.
                self.join(&mut n, o);
                Some(n)
            }
            (Role::Primary, Msg::AliveAck { epoch }) if epoch == s.d.epoch && s.awaiting_alive => {
                let mut n = s.clone();
                n.awaiting_alive = false;
                // The period may have ended while the answer was on its way (the timer then
                // fired and fell silent): start the next one.
                self.arm_heartbeat(&n, o);
                Some(n)
            }
            (Role::Primary, Msg::Confirmed { epoch, client, session, seq, reply })
                if epoch == s.d.epoch =>
            {
                o.send(client, Msg::Reply { session, seq, reply });
                None
            }
            (Role::Backup, Msg::IAmAlive { epoch }) if epoch == s.d.epoch => {
                // The primary lives: suspicion starts over.
                o.set_timer(Timer::Takeover, self.cfg.timing.suspect.clone());
                o.send(src, Msg::AliveAck { epoch });
                None
            }
            (Role::Backup, Msg::Confirm { epoch, client, session, seq, reply })
                if epoch == s.d.epoch =>
            {
                o.send(src, Msg::Confirmed { epoch, client, session, seq, reply });
                None
            }
            (Role::Primary, Msg::Request { session, seq, op }) => {
                self.on_request(s, src, session, seq, op, o)
            }
            (Role::Primary, Msg::Probe) if self.cfg.probe => {
                o.send(src, Msg::NewPrimary { epoch: s.d.epoch });
                None
            }
            (Role::Spare, Msg::Request { .. }) if self.cfg.variant == Variant::SilentSpare => {
                // The bug: the spare says nothing, and the client keeps resending to it.
                None
            }
            (role @ (Role::Spare | Role::Backup), Msg::Request { .. }) => {
                // Only the primary serves: the client is sent to the other server (a backup
                // gets requests once the pair has swapped roles: a client starts at server 0),
                // with what this server knows of that primary's epoch: a backup's primary is of
                // its epoch; a spare's (or its backup's, once it takes over) is of a later one.
                let epoch = if role == Role::Spare { s.d.epoch + 1 } else { s.d.epoch };
                o.send(src, Msg::NotPrimary { epoch });
                None
            }
            (Role::Primary, Msg::Join { have, inc, learner, .. })
                if src == s.peer() && (s.has_backup() || s.d.log.is_empty()) =>
            {
                // (A new primary first finishes the old primary's pending commits: the spare
                // asks again.)
                self.on_join(s, have, (inc, learner), o)
            }
            (Role::Spare, Msg::Join { epoch, have, inc, learner })
                if src == s.peer()
                    && self.cfg.rejoin
                    && !s.d.learner
                    && (epoch < s.d.epoch || learner) =>
            {
                // Both servers are spares: this one sent a joining spare the last chunk (so it
                // went to the pool when it failed), and the chunk was lost; or this one failed
                // as the primary and the peer, its backup, lost its storage. It holds everything
                // committed, the peer nothing of this epoch: it catches the peer up again, and
                // the peer, a backup with no primary, takes over.
                o.send(s.peer(), self.catch_up(s, have, inc).0);
                None
            }
            (Role::Spare, Msg::CatchUp { epoch, inc, from, entries, last })
                if (epoch > s.d.epoch || (s.d.learner && epoch == s.d.epoch))
                    && (inc == s.d.inc || self.cfg.variant == Variant::LearnerAnyIncarnation)
                    && from == s.d.history.len() as Ssn =>
            {
                // (A learner, of epoch 0, is caught up by a primary of any epoch, 0 too; a
                // chunk sent to an earlier incarnation of this server is not for it.)
                self.on_catch_up(s, epoch, entries, last, o)
            }
            (Role::Primary, Msg::Ack { epoch, ssn }) if epoch == s.d.epoch => {
                match s.d.log.get(&ssn) {
                    Some(l) if !l.ready => {
                        let mut n = s.clone();
                        if let Some(l) = n.d.log.get_mut(&ssn) {
                            l.ready = true;
                        }
                        // Commit in SSN order; the commit is saved before the replies leave.
                        let mut replies = Out::new();
                        n.commit_in_order(&mut replies);
                        self.save(&n, o);
                        o.append(&mut replies);
                        Some(n)
                    }
                    _ => None,
                }
            }
            (Role::Backup, Msg::Checkpoint { epoch, ssn, client, session, seq, op })
                if epoch == s.d.epoch =>
            {
                if ssn < s.d.history.len() as Ssn || s.d.log.contains_key(&ssn) {
                    o.send(src, Msg::Ack { epoch, ssn }); // a re-sent checkpoint
                    return None;
                }
                let mut n = s.clone();
                n.d.log.insert(ssn, Logged { client, session, seq, op, ready: false });
                if self.cfg.variant == Variant::AckBeforeLog {
                    // The bug: acked before the intention log entry is durable.
                    self.save(s, o);
                } else {
                    self.save(&n, o);
                }
                o.send(src, Msg::Ack { epoch, ssn });
                o.set_timer(Timer::Execute(ssn), self.cfg.timing.execute.clone());
                Some(n)
            }
            _ => None,
        }
    }

    /// A spare holding the first `have` committed requests asks to join: the next chunk of
    /// the history. The chunk that reaches the end makes the spare this primary's backup —
    /// everything committed so far is in it, and nothing commits later without its ack — and
    /// the requests waiting for an ack are checkpointed to it again.
    ///
    /// A learner (a server that lost its storage) of a new incarnation is caught up in a new
    /// epoch: the acks its earlier incarnation sent, still on their way, are of the old one
    /// and count for nothing, and the requests they acked are checkpointed to it again.
    fn on_join(
        &self, s: &St<S>, have: Ssn, (inc, learner): (u64, bool), o: &mut O<S>,
    ) -> Option<St<S>> {
        let new_learner = learner
            && self.chunk(s, have).2
            && inc != s.d.backup_inc
            && self.cfg.variant != Variant::LearnerInSameEpoch;
        let mut n = None;
        if new_learner {
            let mut b = s.clone();
            b.d.epoch += 1;
            b.d.backup_inc = inc;
            b.awaiting_alive = false; // an answer would be of the old epoch
            for l in b.d.log.values_mut() {
                l.ready = false; // acked by the incarnation that lost it
            }
            n = Some(b);
        }
        let base = n.as_ref().unwrap_or(s);
        let (chunk, last) = self.catch_up(base, have, inc);
        if last && (!s.has_backup() || new_learner) {
            // Durable before the chunk leaves: if this primary fails now it goes to the pool,
            // and the spare, once it has the chunk, takes over.
            let mut b = base.clone();
            b.d.with_backup = true;
            if self.cfg.variant == Variant::JoinNotDurable {
                self.save(s, o); // the bug: a restart forgets the backup
            } else {
                self.save(&b, o);
            }
            n = Some(b);
        }
        o.send(s.peer(), chunk);
        if last {
            let s = n.as_ref().unwrap_or(s);
            let epoch = s.d.epoch;
            for (ssn, l) in &s.d.log {
                let (client, session, seq, op) = (l.client, l.session, l.seq, l.op.clone());
                o.send(s.peer(), Msg::Checkpoint { epoch, ssn: *ssn, client, session, seq, op });
            }
            if let Some(b) = &n {
                self.arm_heartbeat(b, o);
            }
        }
        n
    }

    /// The bounds of the chunk after the first `have` entries of the history, and whether it
    /// reaches its end.
    fn chunk(&self, s: &St<S>, have: Ssn) -> (usize, usize, bool) {
        let len = s.d.history.len();
        let from = (have as usize).min(len);
        let to = if self.cfg.variant == Variant::JoinWithoutCatchUp {
            from // the bug: the spare is taken to be current
        } else {
            len.min(from + self.cfg.catch_up_chunk.max(1))
        };
        (from, to, to == len || self.cfg.variant == Variant::JoinWithoutCatchUp)
    }

    /// The chunk of the history after its first `have` entries, for incarnation `inc` of the
    /// peer, and whether it is the last. O(log n + chunk): the persistent history is sliced,
    /// not walked from its start.
    fn catch_up(&self, s: &St<S>, have: Ssn, inc: u64) -> (M<S>, bool) {
        let (from, to, last) = self.chunk(s, have);
        let entries: Vec<_> = s.d.history.skip(from).take(to - from).into_iter().collect();
        let epoch = s.d.epoch;
        (Msg::CatchUp { epoch, inc, from: from as Ssn, entries, last }, last)
    }

    /// A joining spare appends a chunk of the primary's history (applied to its service, in
    /// SSN order); the last makes it the backup of the primary's epoch, else it asks for more.
    fn on_catch_up(
        &self, s: &St<S>, epoch: Epoch, entries: Vec<Committed<S::Op, S::Reply>>, last: bool,
        o: &mut O<S>,
    ) -> Option<St<S>> {
        let mut n = s.clone();
        for e in entries {
            n.service.apply(&e.op);
            n.append(e);
        }
        if last {
            n.d.role = Role::Backup;
            n.d.epoch = epoch;
            n.d.learner = false;
            n.d.next_ssn = n.d.history.len() as Ssn;
            self.save(&n, o);
            o.cancel_timer(Timer::Join);
            o.set_timer(Timer::Takeover, self.cfg.timing.suspect.clone());
        } else {
            self.save(&n, o);
            self.ask_to_join(&n, o);
        }
        Some(n)
    }

    fn on_request(
        &self, s: &St<S>, client: Id, session: u64, seq: Seq, op: S::Op, o: &mut O<S>,
    ) -> Option<St<S>> {
        let stored = if self.cfg.variant == Variant::SessionBlind {
            // The bug: the table keyed by (client, sequence number) alone.
            s.d.history.iter().find(|e| e.client == client && e.seq == seq)
        } else {
            s.find_committed(client, session, seq)
        };
        if self.cfg.variant != Variant::NoTableLookup {
            if let Some(e) = stored {
                // Fig. 4A: the response from the message table, no second execution.
                o.send(client, Msg::Reply { session, seq, reply: e.reply.clone() });
                return None;
            }
        }
        if s.table.session(client).is_some_and(|latest| session < latest)
            && self.cfg.variant != Variant::ExpiredSessionExecutes
        {
            // A later session of this client id has committed a request: this one's requests
            // are no longer in the table, and executing them now would be a second execution.
            o.send(client, Msg::Expired { session, seq });
            return None;
        }
        if let Some(ssn) = s.find_logged(client, session, seq) {
            if let Some(l) = s.d.log.get(&ssn).filter(|_| s.has_backup()) {
                // Still waiting for the ack: the checkpoint may have been lost on the way.
                let (epoch, op) = (s.d.epoch, l.op.clone());
                o.send(s.peer(), Msg::Checkpoint { epoch, ssn, client, session, seq, op });
                return None;
            }
            if self.cfg.variant != Variant::AnswerBeforeCommit {
                // Fig. 4B: wait until the pending commit completes, then answer from the table.
                return None;
            }
        }
        if S::in_workspace(&op) {
            // Fig. 5B: a request of a transaction checkpointed as a batch is executed at once
            // into the primary's workspace (volatile: a failure loses it and so aborts the
            // transaction), with no table entry and no checkpoint until its commit.
            let mut n = s.clone();
            let reply = n.service.apply(&op);
            o.send(client, Msg::Reply { session, seq, reply });
            return Some(n);
        }
        if !S::changes_state(&op) {
            if !s.has_backup()
                && !s.d.log.is_empty()
                && self.cfg.variant != Variant::ReadBeforePending
            {
                // A new primary finishes the old primary's pending commits before any read.
                return None;
            }
            let reply = s.service.clone().apply(&op);
            if self.cfg.heartbeats && s.has_backup() && self.cfg.variant != Variant::LocalReads {
                // The backup may have taken over: answer only once it says it has not.
                let epoch = s.d.epoch;
                o.send(s.peer(), Msg::Confirm { epoch, client, session, seq, reply });
            } else {
                o.send(client, Msg::Reply { session, seq, reply });
            }
            return None;
        }
        // Fig. 5B: the end indicator of a batch transaction is checkpointed as the whole
        // transaction (any other request as itself).
        let op = s.service.to_checkpoint(&op);
        let mut n = s.clone();
        let ssn = n.d.next_ssn;
        n.d.next_ssn += 1;
        let ready = !s.has_backup();
        n.d.log.insert(ssn, Logged { client, session, seq, op: op.clone(), ready });
        let mut replies = Out::new();
        n.commit_in_order(&mut replies);
        self.save(&n, o);
        o.append(&mut replies);
        if s.has_backup() {
            let epoch = s.d.epoch;
            o.send(s.peer(), Msg::Checkpoint { epoch, ssn, client, session, seq, op });
        }
        Some(n)
    }

    /// `Execute(ssn)`: the backup (or a new primary finishing pending work) executes a logged
    /// request — in any order — and commits what SSN order allows. `Takeover`: the backup
    /// becomes the primary. `Heartbeat`: the primary's next I-am-alive.
    pub fn on_timeout(&self, s: &St<S>, timer: &Timer, o: &mut O<S>) -> Option<St<S>> {
        match *timer {
            Timer::Heartbeat if self.cfg.heartbeats && s.d.role == Role::Primary => {
                if s.awaiting_alive || !s.has_backup() {
                    // The last one is unanswered: stay silent until it is (or the restarted
                    // backup says it is back). If no answer comes, the backup suspects us,
                    // which fencing makes safe.
                    return None;
                }
                let mut n = s.clone();
                n.awaiting_alive = true;
                o.send(s.peer(), Msg::IAmAlive { epoch: s.d.epoch });
                self.arm_heartbeat(&n, o);
                Some(n)
            }
            Timer::Execute(ssn) => {
                let l = s.d.log.get(&ssn)?;
                if l.ready {
                    return None;
                }
                let mut n = s.clone();
                let mut replies = Out::new();
                if self.cfg.variant == Variant::CommitInExecutionOrder && s.d.role == Role::Backup {
                    n.commit(ssn, &mut replies); // the bug: no wait for lower SSNs
                } else {
                    if let Some(l) = n.d.log.get_mut(&ssn) {
                        l.ready = true;
                    }
                    n.commit_in_order(&mut replies);
                }
                self.save(&n, o);
                o.append(&mut replies);
                Some(n)
            }
            Timer::StorageLost => {
                if !s.d.peer_holds_all() {
                    // Not now: its peer may lack something it acknowledged. Maybe later.
                    o.set_timer(Timer::StorageLost, self.cfg.timing.suspect.clone());
                    return None;
                }
                Some(self.lose_storage(s, o))
            }
            Timer::Join if s.d.role == Role::Spare && s.joins_left > 0 => {
                let mut n = s.clone();
                n.joins_left = super::spend(s.joins_left);
                self.ask_to_join(&n, o);
                Some(n)
            }
            Timer::Takeover if s.d.role == Role::Backup => {
                let mut n = s.clone();
                n.d.role = Role::Primary;
                n.d.epoch += 1;
                n.d.with_backup = false;
                // Entries past a gap in the SSNs were never committed by the old primary (it
                // commits in SSN order, and the gap was never acked): drop them; their clients
                // resend. What remains is committed before anything new.
                let mut next = n.d.history.len() as Ssn;
                while n.d.log.contains_key(&next) {
                    next += 1;
                }
                n.d.log.retain(|ssn, _| *ssn < next);
                n.d.next_ssn = next;
                self.save(&n, o);
                for c in self.cfg.client_ids() {
                    o.send(c, Msg::NewPrimary { epoch: n.d.epoch });
                }
                Some(n)
            }
            _ => None,
        }
    }
}

/// What changed between two saves of a server ([`Journaled`]): O(change), not O(history).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct DurableChange<Op: Clone, Reply: Clone> {
    /// The role.
    pub role: Role,
    /// The epoch.
    pub epoch: Epoch,
    /// Whether a primary has a backup.
    pub with_backup: bool,
    /// The next SSN.
    pub next_ssn: Ssn,
    /// Restarts.
    pub restarts: u8,
    /// Storage losses.
    pub wipes: u8,
    /// The incarnation.
    pub inc: u64,
    /// Whether it is a learner.
    pub learner: bool,
    /// The incarnation of the last learner caught up.
    pub backup_inc: u64,
    /// The history's length before `committed`: the previous save's, or 0 when the history
    /// was replaced (a learner's, empty, after a torn tail).
    pub from: Ssn,
    /// Entries committed since (the history only grows by appending, but for that).
    pub committed: Vec<Committed<Op, Reply>>,
    /// The uncommitted log's changes: an entry set (`Some`) or removed (`None`).
    pub log: Vec<(Ssn, Option<Logged<Op>>)>,
}

impl<Op, Reply> Journaled for Durable<Op, Reply>
where
    Op: Clone + PartialEq + Serialize + DeserializeOwned,
    Reply: Clone + PartialEq + Serialize + DeserializeOwned,
{
    type Change = DurableChange<Op, Reply>;

    /// The history only grows by appending (debug builds check the prefix), except when a
    /// learner's empty one replaces it; the log holds the requests in flight, so its
    /// difference is as small as the step.
    fn change_from(&self, prev: &Self) -> Self::Change {
        let n = if self.history.len() < prev.history.len() { 0 } else { prev.history.len() };
        debug_assert!(self.history.iter().take(n).eq(prev.history.iter().take(n)));
        let mut log: Vec<_> =
            prev.log.keys().filter(|k| !self.log.contains_key(k)).map(|k| (*k, None)).collect();
        log.extend(
            self.log
                .iter()
                .filter(|(k, l)| prev.log.get(k) != Some(l))
                .map(|(k, l)| (*k, Some(l.clone()))),
        );
        DurableChange {
            role: self.role,
            epoch: self.epoch,
            with_backup: self.with_backup,
            next_ssn: self.next_ssn,
            restarts: self.restarts,
            wipes: self.wipes,
            inc: self.inc,
            learner: self.learner,
            backup_inc: self.backup_inc,
            from: n as Ssn,
            // `Vector::skip` is O(log n); `iter().skip(n)` would walk the whole history.
            committed: self.history.skip(n).into_iter().collect(),
            log,
        }
    }

    fn apply(&mut self, c: Self::Change) {
        self.role = c.role;
        self.epoch = c.epoch;
        self.with_backup = c.with_backup;
        self.next_ssn = c.next_ssn;
        self.restarts = c.restarts;
        self.wipes = c.wipes;
        self.inc = c.inc;
        self.learner = c.learner;
        self.backup_inc = c.backup_inc;
        self.history.truncate(c.from as usize);
        self.history.extend(c.committed);
        for (k, l) in c.log {
            match l {
                Some(l) => self.log.insert(k, l),
                None => self.log.remove(&k),
            };
        }
    }

    fn advance(&mut self, _change: Self::Change, next: &Self) {
        *self = next.clone(); // shares the persistent history
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn committed(ssn: usize, client: usize, session: u64, seq: Seq) -> Committed<u8, u8> {
        let client = Id::from(client);
        Committed { ssn: ssn as Ssn, client, session, seq, op: seq as u8, reply: ssn as u8 }
    }

    proptest! {
        /// The table answers what a scan of the history answers: each client's latest session,
        /// and the first position of each request.
        #[test]
        fn the_table_agrees_with_a_scan(reqs in prop::collection::vec((0usize..3, 1u64..4, 0u32..4), 0..40)) {
            let history: imbl::Vector<_> =
                reqs.iter().enumerate().map(|(i, (c, n, s))| committed(i, *c, *n, *s)).collect();
            let t = Table::of(&history);
            for c in 0..3 {
                let id = Id::from(c);
                let latest = history.iter().filter(|e| e.client == id).map(|e| e.session).max();
                prop_assert_eq!(t.session(id), latest);
                for n in 1..4 {
                    for s in 0..4 {
                        let first = history.iter().position(|e| (e.client, e.session, e.seq) == (id, n, s));
                        prop_assert_eq!(t.index.get(&(id, n, s)).copied(), first);
                    }
                }
            }
        }

        /// A save's change applied to the previous save gives the new one, whatever the history
        /// appended (or replaced by a learner's) and the log's entries set, changed or removed.
        #[test]
        fn a_change_applied_to_the_last_save_gives_the_next(
            appended in 0usize..5,
            before in prop::collection::btree_map(0u64..8, any::<bool>(), 0..5),
            after in prop::collection::btree_map(0u64..8, any::<bool>(), 0..5),
            replaced in any::<bool>(),
        ) {
            let logged = |ready: bool| Logged { client: Id::from(2), session: 1, seq: 0, op: 1u8, ready };
            let prev: Durable<u8, u8> = Durable {
                role: Role::Backup,
                epoch: 0,
                with_backup: false,
                history: (0..3).map(|i| committed(i, 2, 1, i as Seq)).collect(),
                log: before.iter().map(|(k, r)| (*k, logged(*r))).collect(),
                next_ssn: 3,
                restarts: 0,
                wipes: 0,
                inc: 0,
                learner: false,
                backup_inc: 0,
            };
            // Or a learner's empty history replaces it (a torn tail's restart).
            let mut next = if replaced { Durable::learner(5) } else { prev.clone() };
            (next.wipes, next.inc, next.learner, next.backup_inc) = (1, 5, true, 7);
            let appended = if replaced { 0 } else { appended };
            next.history.extend((3..3 + appended).map(|i| committed(i, 2, 1, i as Seq)));
            next.log = after.iter().map(|(k, r)| (*k, logged(*r))).collect();
            next.epoch = 1;
            let change = next.change_from(&prev);
            prop_assert_eq!(change.committed.len(), appended);
            let mut journal = prev.clone();
            journal.apply(change);
            prop_assert_eq!(journal, next);
        }
    }
}
