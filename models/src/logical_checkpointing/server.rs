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

use super::msg::Timer;
use super::msg::{Committed, Msg};
use super::{Config, Node, Variant};
use crate::services::Service;
use serde::{Deserialize, Serialize};
use stateright::actor::{model_timeout, Id, Out};
use std::collections::BTreeMap;

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
    /// The client's sequence number.
    pub seq: u8,
    /// The data.
    pub op: Op,
    /// Acked (primary) or executed (backup): it may commit once every lower SSN has.
    pub ready: bool,
}

/// A server's durable state.
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Durable<Op, Reply> {
    /// The role as last made durable.
    pub role: Role,
    /// Bumped by a takeover.
    pub epoch: u8,
    /// Committed requests in SSN order.
    pub history: Vec<Committed<Op, Reply>>,
    /// Requests with an SSN, not committed.
    pub log: BTreeMap<u8, Logged<Op>>,
    /// The next SSN to assign.
    pub next_ssn: u8,
    /// Restarts so far (bounds crashes in the model).
    pub restarts: u8,
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
}

impl<S: Service> ServerState<S> {
    fn find_committed(&self, c: Id, s: u8) -> Option<&Committed<S::Op, S::Reply>> {
        self.d.history.iter().find(|e| e.client == c && e.seq == s)
    }

    fn find_logged(&self, c: Id, s: u8) -> Option<u8> {
        self.d.log.iter().find(|(_, l)| l.client == c && l.seq == s).map(|(n, _)| *n)
    }

    /// Whether this primary still has a backup (only the first epoch does: after a takeover
    /// the process runs without one until a new backup is built; see fuzzy copy).
    fn has_backup(&self) -> bool {
        self.d.epoch == 0
    }

    fn commit(&mut self, ssn: u8, o: &mut O<S>) {
        if let Some(l) = self.d.log.remove(&ssn) {
            let reply = self.service.apply(&l.op);
            if self.d.role == Role::Primary {
                o.send(l.client, Msg::Reply { seq: l.seq, reply: reply.clone() });
            }
            self.d.history.push(Committed { ssn, client: l.client, seq: l.seq, op: l.op, reply });
        }
    }

    /// Commits every ready entry whose predecessors are committed: SSN order.
    fn commit_in_order(&mut self, o: &mut O<S>) {
        loop {
            let next = self.d.history.len() as u8;
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
                    history: Vec::new(),
                    log: BTreeMap::new(),
                    next_ssn: 0,
                    restarts: 0,
                },
                service: S::default(),
                awaiting_alive: false,
            },
            Some(d) => {
                let service = S::from_ops(d.history.iter().map(|e| &e.op));
                let mut d = d.clone();
                d.restarts = d.restarts.saturating_add(1);
                for l in d.log.values_mut() {
                    l.ready = false; // execution results and acks were volatile
                }
                ServerState { d, service, awaiting_alive: false }
            }
        };
        if storage.is_some() && s.d.role == Role::Primary && s.d.epoch == 0 {
            // A failed primary goes to the spare pool: its backup takes over (the logical-checkpointing patent).
            s.d.role = Role::Spare;
            s.d.log.clear();
        }
        self.save(&s, o);
        if s.d.role == Role::Backup {
            o.set_timer(Timer::Takeover, model_timeout());
            if self.cfg.heartbeats && storage.is_some() {
                // Back after a crash: an I-am-alive sent meanwhile was lost; resume them.
                o.send(Id::from(0), Msg::AliveAck { epoch: s.d.epoch });
            }
        }
        self.arm_heartbeat(&s, o);
        if s.d.role != Role::Spare && (s.d.role == Role::Backup || !s.has_backup()) {
            for ssn in s.d.log.keys() {
                o.set_timer(Timer::Execute(*ssn), model_timeout());
            }
        }
        s
    }

    /// Arms the I-am-alive timer of a primary that has a backup.
    fn arm_heartbeat(&self, s: &St<S>, o: &mut O<S>) {
        if self.cfg.heartbeats && s.d.role == Role::Primary && s.has_backup() {
            o.set_timer(Timer::Heartbeat, model_timeout());
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
                n.d.log.clear();
                n.awaiting_alive = false;
                self.save(&n, o);
                o.cancel_timer(Timer::Heartbeat);
                Some(n)
            }
            (Role::Primary, Msg::AliveAck { epoch }) if epoch == s.d.epoch && s.awaiting_alive => {
                let mut n = s.clone();
                n.awaiting_alive = false;
                Some(n)
            }
            (Role::Primary, Msg::Confirmed { epoch, client, seq, reply }) if epoch == s.d.epoch => {
                o.send(client, Msg::Reply { seq, reply });
                None
            }
            (Role::Backup, Msg::IAmAlive { epoch }) if epoch == s.d.epoch => {
                // The primary lives: suspicion starts over.
                o.set_timer(Timer::Takeover, model_timeout());
                o.send(src, Msg::AliveAck { epoch });
                None
            }
            (Role::Backup, Msg::Confirm { epoch, client, seq, reply }) if epoch == s.d.epoch => {
                o.send(src, Msg::Confirmed { epoch, client, seq, reply });
                None
            }
            (Role::Primary, Msg::Request { seq, op }) => self.on_request(s, src, seq, op, o),
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
            (Role::Backup, Msg::Checkpoint { epoch, ssn, client, seq, op })
                if epoch == s.d.epoch =>
            {
                if usize::from(ssn) < s.d.history.len() || s.d.log.contains_key(&ssn) {
                    o.send(src, Msg::Ack { epoch, ssn }); // a re-sent checkpoint
                    return None;
                }
                let mut n = s.clone();
                n.d.log.insert(ssn, Logged { client, seq, op, ready: false });
                if self.cfg.variant == Variant::AckBeforeLog {
                    // The bug: acked before the intention log entry is durable.
                    self.save(s, o);
                } else {
                    self.save(&n, o);
                }
                o.send(src, Msg::Ack { epoch, ssn });
                o.set_timer(Timer::Execute(ssn), model_timeout());
                Some(n)
            }
            _ => None,
        }
    }

    fn on_request(&self, s: &St<S>, client: Id, seq: u8, op: S::Op, o: &mut O<S>) -> Option<St<S>> {
        if self.cfg.variant != Variant::NoTableLookup {
            if let Some(e) = s.find_committed(client, seq) {
                // Fig. 4A: the response from the message table, no second execution.
                o.send(client, Msg::Reply { seq, reply: e.reply.clone() });
                return None;
            }
        }
        if let Some(ssn) = s.find_logged(client, seq) {
            if s.has_backup() {
                // Still waiting for the ack: the checkpoint may have been lost on the way.
                o.send(Id::from(1), Msg::Checkpoint { epoch: s.d.epoch, ssn, client, seq, op });
                return None;
            }
            if self.cfg.variant != Variant::AnswerBeforeCommit {
                // Fig. 4B: wait until the pending commit completes, then answer from the table.
                return None;
            }
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
                o.send(Id::from(1), Msg::Confirm { epoch, client, seq, reply });
            } else {
                o.send(client, Msg::Reply { seq, reply });
            }
            return None;
        }
        let mut n = s.clone();
        let ssn = n.d.next_ssn;
        n.d.next_ssn += 1;
        let ready = !s.has_backup();
        n.d.log.insert(ssn, Logged { client, seq, op: op.clone(), ready });
        let mut replies = Out::new();
        n.commit_in_order(&mut replies);
        self.save(&n, o);
        o.append(&mut replies);
        if s.has_backup() {
            o.send(Id::from(1), Msg::Checkpoint { epoch: s.d.epoch, ssn, client, seq, op });
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
                o.send(Id::from(1), Msg::IAmAlive { epoch: s.d.epoch });
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
            Timer::Takeover if s.d.role == Role::Backup => {
                let mut n = s.clone();
                n.d.role = Role::Primary;
                n.d.epoch += 1;
                // Entries past a gap in the SSNs were never committed by the old primary (it
                // commits in SSN order, and the gap was never acked): drop them; their clients
                // resend. What remains is committed before anything new.
                let mut next = n.d.history.len() as u8;
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
