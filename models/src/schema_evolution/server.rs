//! The server of online schema evolution (Chen, Jeng, Huang & Lin §III-A to §III-E): the
//! database with its original table, Temp Table and new table; the data replication module's
//! trigger and judge unit, which capture every change into the Temp Table, one record per
//! tuple; the bulk copy that builds the new table (the schema evolution proper, D); the flow
//! controller, which starts the switch when the pending tuples satisfy N·X < T; and the trap
//! and recover module, which logs the requests that arrive during the switch and replays them
//! on the new version, in order.
//!
//! Everything here is the database's, so everything is saved, in one step with the change
//! (the trap log too: the paper's Logger Unit). The message table (the last request answered
//! per client, with its reply) answers a resend without executing it again.

use super::msg::{Msg, Timer};
use super::{
    convert, Config, Key, NewTable, Node, OldTable, Op, OpType, Record, Reply, Saved, Variant,
    CONVERTER,
};
use crate::trace::{listed, one_line, Field, Fields};
use serde::{Deserialize, Serialize};
use stateright::actor::{model_timeout, Id, Out};
use std::collections::BTreeMap;

/// Where the conversion stands.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Phase {
    /// The bulk copy runs (the paper's D), `next` is the next key it converts; the trigger
    /// captures every change; the old version serves.
    Copy {
        /// The next key to copy.
        next: Key,
    },
    /// The bulk copy is done; the converter drains the Temp Table; the old version serves.
    Convert,
    /// The switch (the paper's T): requests are trapped; the new version is installed; the
    /// converter drains what is left.
    Switch,
    /// The new version is installed: the trapped requests are replayed, `replayed` so far;
    /// requests that arrive meanwhile are trapped behind them.
    Recover {
        /// Trapped requests replayed so far.
        replayed: u8,
    },
    /// The new version serves from the new table.
    Live,
}

/// A trapped request: (client, seq, operation).
pub type Trapped = (Id, u32, Op);

/// A reply to send once the step is saved: (client, seq, reply).
type Answer = (Id, u32, Reply);

/// What the server saves: all of its state.
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Durable {
    /// Where the conversion stands.
    pub phase: Phase,
    /// The original table.
    pub old: OldTable,
    /// The Temp Table: one record per tuple changed since the capture started.
    pub temp: BTreeMap<Key, Record>,
    /// The new table.
    pub new: NewTable,
    /// The trap log, in arrival order.
    pub trapped: Vec<Trapped>,
    /// The message table: per client, the last request answered and its reply.
    pub answered: BTreeMap<Id, (u32, Reply)>,
    /// Restarts so far.
    pub restarts: u8,
}

impl Durable {
    /// The records not yet written into the new table (N).
    pub fn pending(&self) -> usize {
        self.temp.values().filter(|r| r.pending).count()
    }

    /// Whether the new version serves (or replays): the new table is the serving table.
    pub fn new_version(&self) -> bool {
        matches!(self.phase, Phase::Recover { .. } | Phase::Live)
    }

    /// The serving table's tuple `key`, in the original schema's terms.
    pub fn serving(&self, key: Key) -> Option<u8> {
        if self.new_version() {
            self.new.get(&key).map(|r| r.logical())
        } else {
            self.old.get(&key).copied()
        }
    }
}

/// The server's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ServerState {
    /// All of it is saved.
    pub d: Durable,
}

impl Fields for ServerState {
    fn fields(&self) -> Vec<Field> {
        let d = &self.d;
        crate::fields![
            "phase" => one_line(&d.phase),
            "original table" => one_line(&d.old),
            "Temp Table" => one_line(&d.temp),
            "new table" => one_line(&d.new),
            "trap log" => listed(d.trapped.iter()),
            "message table" => one_line(&d.answered),
            "restarts" => one_line(&d.restarts),
        ]
    }
}

/// The server actor.
#[derive(Clone, Debug)]
pub struct Server {
    /// The model's configuration.
    pub cfg: Config,
}

type O = Out<Node>;

impl Server {
    /// The server of configuration `cfg`.
    pub fn new(cfg: Config) -> Self {
        Server { cfg }
    }

    /// The timer that drives phase `phase`, if any.
    fn arm(&self, phase: Phase, o: &mut O) {
        match phase {
            Phase::Copy { .. } => o.set_timer(Timer::Copy, model_timeout()),
            Phase::Switch => o.set_timer(Timer::Install, model_timeout()),
            Phase::Recover { .. } => o.set_timer(Timer::Replay, model_timeout()),
            Phase::Convert | Phase::Live => {}
        }
    }

    /// Starts the conversion with an empty original table and the capture on, or restarts
    /// from the saved database where it stood.
    pub fn on_start(&self, _: Id, storage: &Option<Saved>, o: &mut O) -> ServerState {
        let d = match storage {
            Some(Saved::Server(d)) => Durable { restarts: d.restarts + 1, ..d.clone() },
            _ => Durable {
                phase: Phase::Copy { next: 0 },
                old: OldTable::new(),
                temp: BTreeMap::new(),
                new: NewTable::new(),
                trapped: Vec::new(),
                answered: BTreeMap::new(),
                restarts: 0,
            },
        };
        o.save(Saved::Server(d.clone()));
        self.arm(d.phase, o);
        ServerState { d }
    }

    /// Saves `n`, arms the timer that drives its phase if the phase changed, and only then
    /// sends the replies of what the step executed.
    fn commit(
        &self, s: &ServerState, n: ServerState, replies: Option<Answer>, o: &mut O,
    ) -> Option<ServerState> {
        if n == *s {
            return None;
        }
        o.save(Saved::Server(n.d.clone()));
        if n.d.phase != s.d.phase {
            self.arm(n.d.phase, o);
        }
        if let Some((client, seq, reply)) = replies {
            o.send(client, Msg::Reply { seq, reply });
        }
        Some(n)
    }

    /// A request, a converter's fetch, or its converted records.
    pub fn on_msg(&self, s: &ServerState, src: Id, msg: Msg, o: &mut O) -> Option<ServerState> {
        match msg {
            Msg::Request { seq, op } => self.on_request(s, src, seq, op, o),
            Msg::Fetch => self.on_fetch(s, o),
            Msg::Apply { rows } => {
                let mut n = s.clone();
                for (key, fetched, row) in rows {
                    let now = n.d.temp.get(&key).copied();
                    if now != Some(fetched) && self.cfg.variant != Variant::MarkDoneBlindly {
                        continue; // changed since the fetch (or already written): fetch again
                    }
                    match row {
                        Some(r) => n.d.new.insert(key, r),
                        None => n.d.new.remove(&key),
                    };
                    if let Some(rec) = n.d.temp.get_mut(&key) {
                        rec.pending = false;
                    }
                }
                self.flow_control(&mut n);
                self.commit(s, n, None, o)
            }
            Msg::Reply { .. } | Msg::Batch { .. } => None,
        }
    }

    /// The flow controller: once the bulk copy is done, the switch starts when the pending
    /// tuples can be converted within the switch time (N·X < T, X the unit).
    fn flow_control(&self, n: &mut ServerState) {
        let fits = n.d.pending() < self.cfg.switch || self.cfg.variant == Variant::SwitchEarly;
        if n.d.phase == Phase::Convert && fits {
            n.d.phase = Phase::Switch;
        }
    }

    /// A client's request: a resend of the last one answered gets its recorded reply; during
    /// the switch and the recovery a new one is trapped; otherwise it is executed by the
    /// version that serves.
    fn on_request(
        &self, s: &ServerState, client: Id, seq: u32, op: Op, o: &mut O,
    ) -> Option<ServerState> {
        match s.d.answered.get(&client) {
            Some((q, reply)) if *q == seq => {
                o.send(client, Msg::Reply { seq, reply: *reply });
                return None;
            }
            Some((q, _)) if *q > seq => return None,
            _ => {}
        }
        let mut n = s.clone();
        let mut answer = None;
        if matches!(s.d.phase, Phase::Switch | Phase::Recover { .. }) {
            let known = s.d.trapped.iter().any(|(c, q, _)| *c == client && *q == seq);
            if known && self.cfg.variant != Variant::ReplaysDuplicates {
                return None;
            }
            n.d.trapped.push((client, seq, op));
        } else {
            answer = Some(self.execute(&mut n, client, seq, op));
            self.flow_control(&mut n);
        }
        self.commit(s, n, answer, o)
    }

    /// Executes a request on the serving version and records it in the message table; the
    /// answer leaves after the save (`commit`). On the old version, the trigger captures the
    /// change into the Temp Table.
    fn execute(&self, n: &mut ServerState, client: Id, seq: u32, op: Op) -> Answer {
        let key = op.key();
        let reply = if n.d.new_version() {
            let (after, reply) = op.apply(n.d.serving(key));
            match after {
                Some(v) => n.d.new.insert(key, convert(v)),
                None => n.d.new.remove(&key),
            };
            reply
        } else {
            let (after, reply) = op.apply(n.d.old.get(&key).copied());
            if after != n.d.old.get(&key).copied() {
                match after {
                    Some(v) => n.d.old.insert(key, v),
                    None => n.d.old.remove(&key),
                };
                self.capture(n, key, op);
            }
            reply
        };
        n.d.answered.insert(client, (seq, reply));
        (client, seq, reply)
    }

    /// The judge unit: an insert adds a record (or turns a pending delete into an update); an
    /// update updates the tuple's record, keeping its operation type, or adds one; a delete
    /// marks the record a delete, or adds one. Every capture leaves the record pending.
    fn capture(&self, n: &mut ServerState, key: Key, op: Op) {
        let row = n.d.old.get(&key).copied();
        let before = n.d.temp.get(&key).copied();
        let kind = match (op, before) {
            (Op::Insert(_), None) => OpType::Insert,
            (Op::Insert(_), Some(_)) => OpType::Update,
            (Op::Add(_), Some(r)) if r.op != OpType::Delete => r.op,
            (Op::Add(_), _) => OpType::Update,
            (Op::Delete(_), Some(r))
                if r.op == OpType::Insert && self.cfg.variant == Variant::DropsInsertThenDelete =>
            {
                n.d.temp.remove(&key);
                return;
            }
            (Op::Delete(_), _) => OpType::Delete,
        };
        n.d.temp.insert(key, Record { op: kind, row, pending: true });
    }

    /// The converter's fetch: the pending records once the bulk copy is done (before, nothing
    /// yet: the fetch waits), and "live" once the new version serves.
    fn on_fetch(&self, s: &ServerState, o: &mut O) -> Option<ServerState> {
        let to = Id::from(CONVERTER);
        match s.d.phase {
            Phase::Copy { .. } => None,
            Phase::Recover { .. } | Phase::Live => {
                o.send(to, Msg::Batch { records: Vec::new(), live: true });
                None
            }
            Phase::Convert | Phase::Switch => {
                let records: Vec<(Key, Record)> =
                    s.d.temp.iter().filter(|(_, r)| r.pending).map(|(k, r)| (*k, *r)).collect();
                let mut n = s.clone();
                if self.cfg.variant == Variant::DoneAtFetch {
                    n.d.temp.values_mut().for_each(|r| r.pending = false);
                    self.flow_control(&mut n);
                }
                let next = self.commit(s, n, None, o);
                o.send(to, Msg::Batch { records, live: false });
                next
            }
        }
    }

    /// `Copy`: the bulk copy converts the next tuple. `Install`: the new version is installed;
    /// it goes live once the Temp Table is drained (with N·X < T at the switch's start, it is
    /// by now; otherwise the switch waits). `Replay`: recovery replays the next trapped
    /// request, unless the message table shows it answered; after the last, the new version
    /// serves.
    pub fn on_timeout(&self, s: &ServerState, timer: &Timer, o: &mut O) -> Option<ServerState> {
        let mut n = s.clone();
        let mut answer = None;
        match (timer, s.d.phase) {
            (Timer::Copy, Phase::Copy { next }) => {
                match s.d.old.get(&next) {
                    Some(v) => n.d.new.insert(next, convert(*v)),
                    None => n.d.new.remove(&next),
                };
                n.d.phase = if usize::from(next) + 1 >= self.cfg.writers {
                    Phase::Convert
                } else {
                    Phase::Copy { next: next + 1 }
                };
                self.flow_control(&mut n);
            }
            (Timer::Install, Phase::Switch) => {
                if s.d.pending() > 0 && self.cfg.variant != Variant::LiveBeforeDrain {
                    o.set_timer(Timer::Install, model_timeout());
                    return None;
                }
                n.d.phase = Phase::Recover { replayed: 0 };
            }
            (Timer::Replay, Phase::Recover { replayed }) => {
                if let Some((client, seq, op)) = s.d.trapped.get(usize::from(replayed)).copied() {
                    let done = s.d.answered.get(&client).is_some_and(|(q, _)| *q >= seq);
                    if !done || self.cfg.variant == Variant::ReplaysDuplicates {
                        answer = Some(self.execute(&mut n, client, seq, op));
                    }
                    n.d.phase = Phase::Recover { replayed: replayed + 1 };
                } else {
                    n.d.phase = Phase::Live;
                }
            }
            _ => return None,
        }
        self.commit(s, n, answer, o)
    }
}
