//! The server role of lazy primary copy (Ameling, Roy & Kemme §3.2.1, §3.2.3): the primary
//! copy's server executes and commits every update, replies, and propagates the change to the
//! secondaries afterwards; a secondary serves reads from its own copy, forwards updates to the
//! primary, and applies the primary's changes in the primary's commit order.
//!
//! Which role a server plays is in its saved copy: the epoch and the server that is primary in
//! it. Server 0 is primary in epoch 0; server 1 may suspect it and take over (epoch + 1). A
//! server applies a `Propagate` of its epoch only where it continues its copy (`from` at most
//! its length: it appends the entries it lacks); one of a newer epoch makes it follow the
//! sender, replacing its copy by the new primary's from the start (what the old primary had
//! not propagated is gone). Every change of the copy is saved before anything is sent.

use super::msg::{Msg, Timer};
use super::{Config, Entry, Epoch, Log, Node, Object, Variant};
use crate::services::{RegisterOp, Service};
use crate::trace::{listed, one_line, Field, Fields};
use serde::{Deserialize, Serialize};
use stateright::actor::{model_timeout, Id, Out};
use std::collections::BTreeSet;

/// What a server saves: its copy of the history and its view of who is primary.
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Durable {
    /// The epoch it is in.
    pub epoch: Epoch,
    /// The primary of that epoch.
    pub primary: usize,
    /// Its copy of the history (at the primary: the history), with the message table.
    pub log: Log,
    /// The object after the history's updates, kept beside it so that a read or a commit
    /// costs O(1) in the history's length (a function of `log`: no extra states).
    pub object: Object,
    /// Restarts so far (the model's crash budget counts them).
    pub restarts: u8,
}

/// A server's state: the saved part, and what the primary and a secondary keep in memory.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ServerState {
    /// What is saved (every change is saved before the step sends anything).
    pub d: Durable,
    /// Primary: per server, the length of its copy it confirmed in this epoch (`None`: not
    /// heard from in this epoch).
    pub acked: Vec<Option<u32>>,
    /// Primary: per server, how much of the history has been propagated to it.
    pub shipped: Vec<u32>,
    /// Secondary: the updates it forwarded and has not answered yet, as (client, seq).
    pub forwarded: BTreeSet<(Id, u32)>,
}

impl Fields for ServerState {
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "epoch (primary)" => format!("{} (server {})", self.d.epoch, self.d.primary),
            "history" => listed(self.d.log.iter()),
            "confirmed by each server" => one_line(&self.acked),
            "propagated to each server" => one_line(&self.shipped),
            "forwarded, not answered" => one_line(&self.forwarded),
            "restarts" => one_line(&self.d.restarts),
        ]
    }
}

/// The server actor.
#[derive(Clone, Debug)]
pub struct Server {
    /// The model's configuration.
    pub cfg: Config,
    /// This server's number.
    pub me: usize,
}

type O = Out<Node>;

impl Durable {
    /// Appends a committed entry to the history and applies it to the object.
    fn append(&mut self, e: Entry) {
        self.object.apply(&e.op);
        self.log.push(e);
    }
}

/// The session every entry is recorded under (the model's clients run one session).
const SESSION: u64 = 1;

impl Server {
    /// Server number `me` of configuration `cfg`.
    pub fn new(cfg: Config, me: usize) -> Self {
        Server { cfg, me }
    }

    fn fresh(&self, d: Durable) -> ServerState {
        let n = self.cfg.servers;
        ServerState { d, acked: vec![None; n], shipped: vec![0; n], forwarded: BTreeSet::new() }
    }

    /// Whether this server is the primary of its epoch.
    pub fn is_primary(&self, s: &ServerState) -> bool {
        s.d.primary == self.me
    }

    /// Whether server 1 may still suspect the primary.
    fn may_suspect(&self, d: &Durable) -> bool {
        self.me == 1 && d.primary != self.me && d.epoch < self.cfg.takeovers
    }

    /// Whether some other server lags behind the primary (not heard from in this epoch, or
    /// not confirmed the whole history).
    fn lagging(&self, s: &ServerState) -> bool {
        let len = s.d.log.len() as u32;
        (0..self.cfg.servers).any(|j| j != self.me && s.acked[j] != Some(len))
    }

    /// Starts (or restarts from the saved copy: a primary propagates again what nobody has
    /// confirmed since).
    pub fn on_start(&self, _: Id, storage: &Option<Durable>, o: &mut O) -> ServerState {
        let d = match storage {
            None => Durable {
                epoch: 0,
                primary: 0,
                log: Log::new(),
                object: Object::default(),
                restarts: 0,
            },
            Some(d) => Durable { restarts: d.restarts + 1, ..d.clone() },
        };
        o.save(d.clone());
        let s = self.fresh(d);
        if storage.is_some() && self.is_primary(&s) && self.lagging(&s) {
            o.set_timer(Timer::Ship, model_timeout());
        }
        if self.may_suspect(&s.d) {
            o.set_timer(Timer::Suspect, model_timeout());
        }
        s
    }

    /// A client's request, a forwarded update, a propagation or a confirmation.
    pub fn on_msg(&self, s: &ServerState, src: Id, msg: Msg, o: &mut O) -> Option<ServerState> {
        match msg {
            Msg::Request { seq, op } => self.on_request(s, src, seq, op, o),
            Msg::Forward { client, seq, op } => self.on_forward(s, src, client, seq, op, o),
            Msg::Propagate { epoch, from, entries } => {
                self.on_propagate(s, src, epoch, from, entries, o)
            }
            Msg::Applied { epoch, len } => {
                let j = usize::from(src);
                let now = s.acked.get(j).copied().flatten();
                if !self.is_primary(s) || epoch != s.d.epoch || now.is_some_and(|a| a >= len) {
                    return None;
                }
                let mut n = s.clone();
                n.acked[j] = Some(len);
                Some(n)
            }
            Msg::Reply { .. } => None,
        }
    }

    /// A client's request: a read is answered from the local copy, whatever the role; an
    /// update already in the message table gets its recorded reply; a new update is executed
    /// and committed by the primary, or forwarded to it by a secondary.
    fn on_request(
        &self, s: &ServerState, client: Id, seq: u32, op: RegisterOp, o: &mut O,
    ) -> Option<ServerState> {
        if !Object::changes_state(&op) {
            o.send(client, Msg::Reply { seq, reply: s.d.object.clone().apply(&op) });
            return None;
        }
        if let Some(e) = s.d.log.find(client, SESSION, seq) {
            o.send(client, Msg::Reply { seq, reply: e.reply });
            return None;
        }
        if self.is_primary(s) {
            let n = self.commit(s, client, seq, op, o);
            o.send(client, Msg::Reply { seq, reply: n.d.log.last()?.reply });
            return Some(n);
        }
        o.send(Id::from(s.d.primary), Msg::Forward { client, seq, op });
        if s.forwarded.contains(&(client, seq)) {
            return None;
        }
        let mut n = s.clone();
        n.forwarded.insert((client, seq));
        Some(n)
    }

    /// Executes and commits an update at the primary: appended to the history (and the message
    /// table), saved; its propagation is left to the `Ship` timer, after the reply.
    fn commit(
        &self, s: &ServerState, client: Id, seq: u32, op: RegisterOp, o: &mut O,
    ) -> ServerState {
        let mut n = s.clone();
        let reply = s.d.object.clone().apply(&op);
        n.d.append(Entry { client, session: SESSION, seq, op, reply });
        o.save(n.d.clone());
        if self.cfg.servers > 1 {
            o.set_timer(Timer::Ship, model_timeout());
        }
        n
    }

    /// A secondary's forwarded update: executed and committed unless the message table has it
    /// already (a resend), then the history that secondary lacks is sent to it at once, so
    /// that it can answer the client.
    fn on_forward(
        &self, s: &ServerState, secondary: Id, client: Id, seq: u32, op: RegisterOp, o: &mut O,
    ) -> Option<ServerState> {
        if !self.is_primary(s) {
            return None;
        }
        let filtered = self.cfg.variant != Variant::ForwardUnfiltered;
        let mut n = if filtered && s.d.log.find(client, SESSION, seq).is_some() {
            s.clone()
        } else {
            self.commit(s, client, seq, op, o)
        };
        let j = usize::from(secondary);
        let from = n.acked[j].unwrap_or(0);
        let entries = n.d.log.suffix(from as usize);
        o.send(secondary, Msg::Propagate { epoch: n.d.epoch, from, entries });
        n.shipped[j] = n.d.log.len() as u32;
        (n != *s).then_some(n)
    }

    /// The primary's changes: one of a newer epoch makes this server follow its sender with
    /// the sender's copy; one of this epoch that continues the copy is applied. Then the
    /// server confirms its length and answers the forwarded updates it now holds.
    fn on_propagate(
        &self, s: &ServerState, primary: Id, epoch: Epoch, from: u32, entries: Vec<Entry>,
        o: &mut O,
    ) -> Option<ServerState> {
        if epoch < s.d.epoch || (epoch == s.d.epoch && self.is_primary(s)) {
            return None;
        }
        let mut n = s.clone();
        if epoch > s.d.epoch {
            n.d.epoch = epoch;
            n.d.primary = usize::from(primary);
            if self.cfg.variant != Variant::KeepsDivergentCopy {
                n.d.log.clear();
                n.d.object = Object::default();
            }
            n.acked = vec![None; self.cfg.servers];
            n.shipped = vec![0; self.cfg.servers];
        }
        let len = n.d.log.len();
        let from = from as usize;
        let skip = if self.cfg.variant == Variant::ArrivalOrder {
            len.saturating_sub(from)
        } else if from <= len {
            len - from
        } else {
            entries.len() // a gap: wait for the missing changes
        };
        for e in entries.into_iter().skip(skip) {
            n.d.append(e);
        }
        if n.d != s.d {
            o.save(n.d.clone());
        }
        o.send(primary, Msg::Applied { epoch, len: n.d.log.len() as u32 });
        let answered: Vec<(Id, u32)> = n
            .forwarded
            .iter()
            .filter(|(c, q)| n.d.log.find(*c, SESSION, *q).is_some())
            .copied()
            .collect();
        for (c, q) in answered {
            if let Some(e) = n.d.log.find(c, SESSION, q) {
                o.send(c, Msg::Reply { seq: q, reply: e.reply });
            }
            n.forwarded.remove(&(c, q));
        }
        (n != *s).then_some(n)
    }

    /// `Ship`: the primary propagates to each other server what it has not propagated yet,
    /// or, when everything has been, again what that server has not confirmed (a lost
    /// propagation, a server that restarted or has not heard of this epoch). `Suspect`:
    /// server 1 takes over as primary of the next epoch.
    pub fn on_timeout(&self, s: &ServerState, timer: &Timer, o: &mut O) -> Option<ServerState> {
        match timer {
            Timer::Ship if self.is_primary(s) => {
                let mut n = s.clone();
                let len = s.d.log.len() as u32;
                for j in (0..self.cfg.servers).filter(|j| *j != self.me) {
                    let from = if s.shipped[j] < len {
                        s.shipped[j]
                    } else if self.cfg.variant == Variant::ShipOnce {
                        continue;
                    } else {
                        match s.acked[j] {
                            Some(a) if a == len => continue,
                            a => a.unwrap_or(0),
                        }
                    };
                    let entries = s.d.log.suffix(from as usize);
                    o.send(Id::from(j), Msg::Propagate { epoch: s.d.epoch, from, entries });
                    n.shipped[j] = len;
                }
                if self.lagging(&n) && self.cfg.variant != Variant::ShipOnce {
                    o.set_timer(Timer::Ship, model_timeout());
                }
                Some(n)
            }
            Timer::Suspect if self.may_suspect(&s.d) => {
                let n =
                    self.fresh(Durable { epoch: s.d.epoch + 1, primary: self.me, ..s.d.clone() });
                o.save(n.d.clone());
                o.set_timer(Timer::Ship, model_timeout());
                Some(n)
            }
            _ => None,
        }
    }
}
