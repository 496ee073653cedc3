//! The server role of process migration (Hagen & Alonso (OPERA) §4, Fig. 2): per process, the primary (and,
//! while it migrates P away, the *source*), the backup that is the migration *target*, the
//! source handing P over, and the forwarding address P leaves behind.
//!
//! The backup mechanism is linear 2PC's (Hagen & Alonso (OPERA) §3.1): the target applies and saves each
//! change buffer before it acks, and the source commits a step only on that ack. What
//! migration adds, in the order of Fig. 2:
//! 1. **upgrade**: the source copies P's image to the target (`Copy`; P keeps running alone
//!    meanwhile) and, once the target holds it, upgrades P to critical: it ships the steps the
//!    copy missed and every further step by 2PC;
//! 2. **switch**: once the target's history equals its own with no step in flight, the source
//!    stops executing P *durably* (`Handing`) and only then asks the target to take over;
//! 3. **degrade**: the target runs P at level normal; on its confirmation the source deletes
//!    P's image and keeps a forwarding address (`Moved`) for the clients.
//!
//! A restarted source does not serve a critical P before the target has told it what it holds
//! (`Copy` → `Installed`, carrying the source's incarnation so that change buffers from before
//! the crash are not confused with new ones); it adopts the target's history if it is longer
//! (the commit decision was taken there), as linear 2PC's reconfiguration protocol does.
//!
//! The only server timer is the source's `Switch` decision, which the checker fires at any
//! moment (so steps at level critical are explored before the switch). Resends are driven by
//! the planner's resent `MigrateAll` and by restarts, so the checker's state space stays
//! finite on a lossy network; a request the server cannot take now stays in the network.

use super::msg::{Msg, Timer};
use super::SESSION;
use super::{Config, Node, ProcessId, Variant};
use crate::commit_log::CommitLog;
use crate::commit_log::Entry;
use crate::services::Service;
use crate::trace::{listed, one_line, Field, Fields};
use serde::{Deserialize, Serialize};
use stateright::actor::{model_timeout, Id, Out};
use std::collections::BTreeMap;

/// What a server is for one process, as saved.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Role {
    /// Executes P's steps and answers its clients.
    Primary,
    /// Holds a copy of P that the primary keeps current (the migration target).
    Backup,
    /// The source after its switch decision: executes nothing, asks the target to take over.
    Handing,
    /// P moved away: its image is deleted, only the forwarding address is kept.
    Moved,
}

/// One server's saved state for one process.
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Replica<Op: Clone, Reply: Clone> {
    /// What the server is for P.
    pub role: Role,
    /// P's epoch: bumped by each switch.
    pub epoch: u8,
    /// Primary: the migration target, if P is migrating. Backup: the primary. Handing and
    /// Moved: where P went.
    pub peer: Option<Id>,
    /// Primary with a target: whether P is upgraded to critical (every step by 2PC with the
    /// target); before, the image is being copied while P runs alone.
    pub upgraded: bool,
    /// Backup: the incarnation (restart count) of the primary whose copy it installed last.
    pub inc: u8,
    /// P's committed history: its change buffers, each naming the request that caused it.
    pub log: CommitLog<Op, Reply>,
}

impl<Op: Clone, Reply: Clone> Replica<Op, Reply> {
    /// Whether this replica has `role` towards `peer` in `epoch`: the check every
    /// server-to-server message of the protocol passes before it is acted on.
    pub fn is(&self, role: Role, peer: Id, epoch: u8) -> bool {
        self.role == role && self.peer == Some(peer) && self.epoch == epoch
    }
}

/// The part of a server's state that survives a crash.
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Durable<Op: Clone, Reply: Clone> {
    /// The processes this server holds (or forwards).
    pub replicas: BTreeMap<ProcessId, Replica<Op, Reply>>,
    /// How many times this server has restarted: its incarnation.
    pub restarts: u8,
}

/// A server's whole state: the durable part plus what a crash loses.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ServerState<Op: Clone, Reply: Clone> {
    /// As last saved (every handler saves what it changes here before it sends).
    pub durable: Durable<Op, Reply>,
    /// Source: how much of P's history the target is known to hold (unknown after a restart
    /// until the target answers the copy).
    pub acked: BTreeMap<ProcessId, u32>,
    /// Source at level critical: the step waiting for the target's ack.
    pub pending: BTreeMap<ProcessId, Entry<Op, Reply>>,
}

impl<Op: Clone + std::fmt::Debug, Reply: Clone + std::fmt::Debug> Fields
    for ServerState<Op, Reply>
{
    fn fields(&self) -> Vec<Field> {
        let mut rows: Vec<Field> = self
            .durable
            .replicas
            .iter()
            .map(|(p, r)| Field {
                name: format!("process {p:?}"),
                value: format!(
                    "{:?}, epoch {}, peer {}, {}inc {}, log {}",
                    r.role,
                    r.epoch,
                    r.peer.map_or("none".into(), |i| format!("server {}", usize::from(i))),
                    if r.upgraded { "upgraded, " } else { "" },
                    r.inc,
                    listed(r.log.iter())
                ),
            })
            .collect();
        rows.extend(crate::fields![
            "target holds (source)" => listed(self.acked.iter()),
            "awaiting the target's ack" => listed(self.pending.iter()),
            "restarts" => one_line(&self.durable.restarts),
        ]);
        rows
    }
}

crate::role! {
    /// The server actor.
    Server
}

type O<S> = Out<Node<S>>;
type St<S> = ServerState<<S as Service>::Op, <S as Service>::Reply>;
type M<S> = Msg<<S as Service>::Op, <S as Service>::Reply>;

impl<S: Service> Server<S> {
    /// The durable state a server starts with: server 0 runs every process, at level normal.
    pub fn initial(cfg: &Config, id: Id) -> Durable<S::Op, S::Reply> {
        let replicas = if id == Id::from(0) {
            (0..cfg.processes as ProcessId)
                .map(|p| {
                    let r = Replica {
                        role: Role::Primary,
                        epoch: 0,
                        peer: None,
                        upgraded: false,
                        inc: 0,
                        log: CommitLog::new(),
                    };
                    (p, r)
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        Durable { replicas, restarts: 0 }
    }

    /// Starts from the durable state (saving the restart first) and resumes every migration.
    pub fn on_start(
        &self, id: Id, storage: &Option<Durable<S::Op, S::Reply>>, o: &mut O<S>,
    ) -> St<S> {
        let durable = match storage {
            None => Self::initial(&self.cfg, id),
            Some(d) => {
                Durable { replicas: d.replicas.clone(), restarts: d.restarts.saturating_add(1) }
            }
        };
        let s = ServerState { durable, acked: BTreeMap::new(), pending: BTreeMap::new() };
        o.save(s.durable.clone());
        if storage.is_some() {
            for p in s.durable.replicas.keys() {
                self.resume(&s, *p, o);
            }
        }
        s
    }

    /// Handles a message.
    pub fn on_msg(
        &self, s: &St<S>, src: Id, msg: Msg<S::Op, S::Reply>, o: &mut O<S>,
    ) -> Option<St<S>> {
        match msg {
            Msg::MigrateAll { targets } => self.on_migrate_all(s, src, &targets, o),
            Msg::Request { p, seq, op } => self.on_request(s, src, p, seq, op, o),
            Msg::Copy { p, epoch, inc, log } => self.on_copy(s, src, p, epoch, inc, log, o),
            Msg::Installed { p, epoch, inc, log } => {
                self.on_installed(s, src, p, epoch, inc, log, o)
            }
            Msg::ChangeBuffer { p, epoch, inc, index, entry } => {
                self.on_change_buffer(s, src, p, epoch, inc, index, entry, o)
            }
            Msg::Ack { p, epoch, inc, index } => self.on_ack(s, src, p, epoch, inc, index, o),
            Msg::Switch { p, epoch } => self.on_switch(s, src, p, epoch, o),
            Msg::SwitchDone { p, epoch } => self.on_switch_done(s, src, p, epoch, o),
            Msg::Reply { .. } | Msg::Moved { .. } | Msg::Drained => None,
        }
    }

    /// The `Switch` timer: the source hands over every process whose target is current and
    /// that has no step in flight (the checker fires it at any moment, so any number of steps
    /// may run at level critical first); it re-arms while a migration is not ready.
    pub fn on_timeout(&self, s: &St<S>, timer: &Timer, o: &mut O<S>) -> Option<St<S>> {
        if *timer != Timer::Switch {
            return None;
        }
        let mut n = s.clone();
        let mut waiting = false;
        let mut out = Vec::new();
        let upgraded: Vec<ProcessId> = s
            .durable
            .replicas
            .iter()
            .filter(|(_, r)| r.role == Role::Primary && r.peer.is_some() && r.upgraded)
            .map(|(p, _)| *p)
            .collect();
        for p in upgraded {
            if Self::current(&n, p) {
                out.extend(self.switch(&mut n, p));
            } else {
                waiting = true;
            }
        }
        let changed = n != *s;
        if changed {
            self.save(&n, o);
        }
        for (t, msg) in out {
            o.send(t, msg);
        }
        if changed && Self::drained(&n) {
            o.send(self.cfg.planner(), Msg::Drained);
        }
        if waiting {
            o.set_timer(Timer::Switch, model_timeout());
        }
        changed.then_some(n)
    }

    fn save(&self, s: &St<S>, o: &mut O<S>) {
        o.save(s.durable.clone());
    }

    /// Commits a step of P: appends it to P's history, saves, then answers its client.
    fn commit(&self, n: &mut St<S>, p: ProcessId, entry: Entry<S::Op, S::Reply>, o: &mut O<S>) {
        let (client, seq, reply) = (entry.client, entry.seq, entry.reply.clone());
        if let Some(r) = n.durable.replicas.get_mut(&p) {
            r.log.push(entry);
        }
        self.save(n, o);
        o.send(client, Msg::Reply { p, seq, reply });
    }

    fn drained(s: &St<S>) -> bool {
        s.durable.replicas.values().all(|r| r.role == Role::Moved)
    }

    /// Sends what the migration of P waits on: the copy (target's holdings unknown), the step
    /// in flight, the next step the target lacks, or the switch request.
    fn resume(&self, s: &St<S>, p: ProcessId, o: &mut O<S>) {
        let Some(r) = s.durable.replicas.get(&p) else {
            return;
        };
        let Some(t) = r.peer else {
            return;
        };
        match r.role {
            Role::Primary => match s.acked.get(&p) {
                None => o.send(
                    t,
                    Msg::Copy { p, epoch: r.epoch, inc: s.durable.restarts, log: r.log.clone() },
                ),
                Some(&acked) => {
                    let next = match s.pending.get(&p) {
                        Some(e) => Some((r.log.len() as u32, e.clone())),
                        None => r.log.get(acked as usize).map(|e| (acked, e.clone())),
                    };
                    if let Some((index, entry)) = next {
                        o.send(
                            t,
                            Msg::ChangeBuffer {
                                p,
                                epoch: r.epoch,
                                inc: s.durable.restarts,
                                index,
                                entry,
                            },
                        );
                    }
                }
            },
            Role::Handing => o.send(t, Msg::Switch { p, epoch: r.epoch }),
            Role::Backup | Role::Moved => {}
        }
    }

    /// The planner asks this server to move each process to its target: the upgrade starts
    /// with a copy of the image. A resent `MigrateAll` resends what each migration waits on.
    fn on_migrate_all(
        &self, s: &St<S>, planner: Id, targets: &[(ProcessId, Id)], o: &mut O<S>,
    ) -> Option<St<S>> {
        let mut n = s.clone();
        let mut changed = false;
        for (p, t) in targets {
            if let Some(r) = n.durable.replicas.get_mut(p) {
                if r.role == Role::Primary && r.peer.is_none() {
                    r.peer = Some(*t);
                    r.upgraded = false;
                    changed = true;
                }
            }
        }
        if changed {
            self.save(&n, o);
        }
        if Self::drained(&n) {
            o.send(planner, Msg::Drained);
        }
        if changed || self.cfg.variant != Variant::NoResume {
            for p in n.durable.replicas.keys() {
                self.resume(&n, *p, o);
            }
        }
        changed.then_some(n)
    }

    fn on_request(
        &self, s: &St<S>, client: Id, p: ProcessId, seq: u32, op: S::Op, o: &mut O<S>,
    ) -> Option<St<S>> {
        let r = s.durable.replicas.get(&p)?;
        match r.role {
            Role::Primary => {}
            Role::Handing | Role::Moved => {
                if self.cfg.variant == Variant::ReadsAtTheSource && !S::changes_state(&op) {
                    let reply = S::from_ops(r.log.iter().map(|e| &e.op)).apply(&op);
                    o.send(client, Msg::Reply { p, seq, reply });
                    return None;
                }
                if self.cfg.variant != Variant::NoForwarding || r.role == Role::Handing {
                    o.send(client, Msg::Moved { p, to: r.peer? });
                }
                return None;
            }
            Role::Backup => return None,
        }
        if let Some(e) = r.log.find(client, SESSION, seq) {
            o.send(client, Msg::Reply { p, seq, reply: e.reply.clone() });
            return None;
        }
        if s.pending.contains_key(&p) {
            return None; // a step is in flight: the request waits in the network
        }
        let critical = r.peer.is_some() && r.upgraded;
        if critical && s.acked.get(&p) != Some(&(r.log.len() as u32)) {
            return None; // the target is not current yet: the step waits
        }
        let mut service = S::from_ops(r.log.iter().map(|e| &e.op));
        let reply = service.apply(&op);
        if !S::changes_state(&op) {
            o.send(client, Msg::Reply { p, seq, reply });
            return None;
        }
        let entry = Entry { client, session: SESSION, seq, op, reply };
        let mut n = s.clone();
        if critical {
            n.pending.insert(p, entry);
            self.resume(&n, p, o);
        } else {
            self.commit(&mut n, p, entry, o);
        }
        Some(n)
    }

    /// At the target: install P's image as backup, or keep its own if it is longer.
    #[allow(clippy::too_many_arguments)]
    fn on_copy(
        &self, s: &St<S>, src: Id, p: ProcessId, epoch: u8, inc: u8,
        log: CommitLog<S::Op, S::Reply>, o: &mut O<S>,
    ) -> Option<St<S>> {
        let mut n = s.clone();
        let changed = match n.durable.replicas.get_mut(&p) {
            None => {
                let r = Replica {
                    role: Role::Backup,
                    epoch,
                    peer: Some(src),
                    upgraded: false,
                    inc,
                    log,
                };
                n.durable.replicas.insert(p, r);
                true
            }
            Some(r) if r.role == Role::Backup && r.epoch == epoch && r.peer == Some(src) => {
                if inc < r.inc {
                    return None; // a copy from before the source's last restart
                }
                let longer = log.len() > r.log.len();
                if longer {
                    r.log = log; // the source ran alone meanwhile: a later image
                }
                let newer = inc > r.inc;
                r.inc = inc;
                longer || newer
            }
            Some(_) => return None,
        };
        if changed {
            self.save(&n, o);
        }
        let r = &n.durable.replicas[&p];
        o.send(src, Msg::Installed { p, epoch, inc, log: r.log.clone() });
        changed.then_some(n)
    }

    /// At the source: the target holds P. Upgrade P to critical, then catch the target up.
    #[allow(clippy::too_many_arguments)]
    fn on_installed(
        &self, s: &St<S>, src: Id, p: ProcessId, epoch: u8, inc: u8,
        log: CommitLog<S::Op, S::Reply>, o: &mut O<S>,
    ) -> Option<St<S>> {
        let r = s.durable.replicas.get(&p)?;
        if !r.is(Role::Primary, src, epoch) || inc != s.durable.restarts || s.acked.contains_key(&p)
        {
            return None;
        }
        let mut n = s.clone();
        let r = n.durable.replicas.get_mut(&p)?;
        let mut changed = false;
        if log.len() > r.log.len() {
            // The target acked a step this server lost in a crash: the decision was taken there.
            r.log = log.clone();
            changed = true;
        }
        if !r.upgraded {
            r.upgraded = true;
            changed = true;
        }
        let acked = if self.cfg.variant == Variant::SwitchBeforeCurrent {
            r.log.len() // takes the copy's arrival for currency
        } else {
            log.len().min(r.log.len())
        };
        n.acked.insert(p, acked as u32);
        if changed {
            self.save(&n, o);
        }
        self.resume(&n, p, o); // the next step the target lacks, if any
        o.set_timer(Timer::Switch, model_timeout());
        Some(n)
    }

    /// At the target: apply and save the change buffer, then ack (hot standby).
    #[allow(clippy::too_many_arguments)]
    fn on_change_buffer(
        &self, s: &St<S>, src: Id, p: ProcessId, epoch: u8, inc: u8, index: u32,
        entry: Entry<S::Op, S::Reply>, o: &mut O<S>,
    ) -> Option<St<S>> {
        let r = s.durable.replicas.get(&p)?;
        if !r.is(Role::Backup, src, epoch) || r.inc != inc {
            return None;
        }
        let ack = Msg::Ack { p, epoch, inc, index };
        let len = r.log.len() as u32;
        if index < len {
            if r.log.get(index as usize) == Some(&entry) {
                o.send(src, ack); // a resend of a step already applied
            }
            return None;
        }
        if index > len {
            return None;
        }
        let mut n = s.clone();
        n.durable.replicas.get_mut(&p)?.log.push(entry);
        self.save(&n, o);
        o.send(src, ack);
        Some(n)
    }

    /// At the source: the target holds step `index`; commit the step in flight, or ship the
    /// next, or — current — switch.
    #[allow(clippy::too_many_arguments)]
    fn on_ack(
        &self, s: &St<S>, src: Id, p: ProcessId, epoch: u8, inc: u8, index: u32, o: &mut O<S>,
    ) -> Option<St<S>> {
        let r = s.durable.replicas.get(&p)?;
        let acked = *s.acked.get(&p)?;
        if !r.is(Role::Primary, src, epoch) || inc != s.durable.restarts || index < acked {
            return None;
        }
        let mut n = s.clone();
        n.acked.insert(p, index + 1);
        if index as usize == r.log.len() {
            let entry = n.pending.remove(&p)?;
            self.commit(&mut n, p, entry, o);
        }
        self.resume(&n, p, o); // the next step the target lacks, if any
        Some(n)
    }

    /// Whether the target holds P's whole history and no step is in flight.
    fn current(n: &St<S>, p: ProcessId) -> bool {
        let Some(r) = n.durable.replicas.get(&p) else {
            return false;
        };
        !n.pending.contains_key(&p) && n.acked.get(&p) == Some(&(r.log.len() as u32))
    }

    /// Hands P over (the target is current): stop executing P, and return the request that
    /// asks the target to take over — the caller saves first, then sends (write-ahead).
    fn switch(&self, n: &mut St<S>, p: ProcessId) -> Option<(Id, M<S>)> {
        let r = n.durable.replicas.get_mut(&p)?;
        let t = r.peer?;
        let epoch = r.epoch + 1;
        match self.cfg.variant {
            // Asks the target to take over but goes on executing P meanwhile.
            Variant::SwitchWithoutStopping => return Some((t, Msg::Switch { p, epoch })),
            // Deletes P here before the target has confirmed it runs P.
            Variant::DegradeBeforeSwitch => {
                r.role = Role::Moved;
                r.log = CommitLog::new();
            }
            _ => r.role = Role::Handing,
        }
        r.epoch = epoch;
        n.acked.remove(&p);
        Some((t, Msg::Switch { p, epoch }))
    }

    /// At the target: the source stopped executing P; run it here, at level normal.
    fn on_switch(
        &self, s: &St<S>, src: Id, p: ProcessId, epoch: u8, o: &mut O<S>,
    ) -> Option<St<S>> {
        let r = s.durable.replicas.get(&p)?;
        let done = Msg::SwitchDone { p, epoch };
        if r.role == Role::Primary && r.epoch == epoch {
            o.send(src, done); // a resent switch
            return None;
        }
        if epoch == 0 || !r.is(Role::Backup, src, epoch - 1) {
            return None;
        }
        let mut n = s.clone();
        let r = n.durable.replicas.get_mut(&p)?;
        r.role = Role::Primary;
        r.epoch = epoch;
        r.peer = None;
        r.upgraded = false;
        self.save(&n, o);
        o.send(src, done);
        Some(n)
    }

    /// At the source: the target runs P. Delete P's image; keep where it went.
    fn on_switch_done(
        &self, s: &St<S>, src: Id, p: ProcessId, epoch: u8, o: &mut O<S>,
    ) -> Option<St<S>> {
        let r = s.durable.replicas.get(&p)?;
        if !r.is(Role::Handing, src, epoch) {
            return None;
        }
        let mut n = s.clone();
        let r = n.durable.replicas.get_mut(&p)?;
        r.role = Role::Moved;
        r.log = CommitLog::new();
        self.save(&n, o);
        if Self::drained(&n) {
            o.send(self.cfg.planner(), Msg::Drained);
        }
        Some(n)
    }
}
