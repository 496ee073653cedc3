//! The node role (`Server`) of ClustRa's many-node form (Hvasshovd et al. (ClustRa) §3.3-§4): one actor per node, holding a
//! replica of each fragment the distribution dictionary places on it, taking part in the
//! virtual node set protocol, and running each fragment it is primary of by linear 2PC with
//! the fragment's stand-by.
//!
//! The node is a main-memory database with neighbour logging (§2): nothing is written to disk,
//! a crash loses the node's state, and durability comes from the stand-by's log. A crashed or
//! excluded node stays out (ClustRa restarts it and rebuilds its replicas by self-repair; that
//! rejoin is not modelled).

use super::msg::{Msg, Timer};
use super::{dictionary, Config, FragmentId, Node, NodeSet, NodeSetId, Update, Variant};
use crate::trace::{listed, one_line, Field, Fields};
use stateright::actor::{model_timeout, Id, Out};

/// A node's replica of one fragment.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
pub struct Replica {
    /// Whether the replica holds the whole fragment (its log is complete); false for a node
    /// that holds no replica, or for a new stand-by whose fuzzy copy has not arrived yet.
    pub current: bool,
    /// The fragment's log (its content).
    pub log: Vec<Update>,
    /// A new stand-by's log records that arrived before its fuzzy copy, by log index.
    pub records: Vec<(u8, Update)>,
    /// Primary: the update waiting for the stand-by's ack.
    pub pending: Option<Update>,
    /// Primary: its stand-by acknowledged a copy of the whole fragment. Until then the
    /// primary answers no resend of an update already in its log (a new primary may hold it
    /// alone: the old primary may not have committed it).
    pub standby_current: bool,
}

/// A build of a node set in progress.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct Building {
    /// The node set id being built.
    pub id: NodeSetId,
    /// Bit `i` set: node `i` answered.
    pub answered: u8,
}

/// A live node's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Live {
    /// The node set installed.
    pub set: NodeSet,
    /// The highest node set id this node answered (or built); it answers no lower build.
    pub promised: NodeSetId,
    /// The build this node leads, if any.
    pub building: Option<Building>,
    /// False suspicions so far (the model bounds their sum).
    pub suspicions: u8,
    /// Bit `i` set: node `i`'s I-am-alive messages stopped; a build must exclude it.
    pub suspected: u8,
    /// One replica per fragment.
    pub replicas: Vec<Replica>,
}

/// A node's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub enum ServerState {
    /// Running.
    Live(Live),
    /// Crashed: its main memory is gone (the count of its false suspicions is kept for the
    /// model's bound).
    Down(u8),
    /// Learned that a node set excludes it: it stopped serving (it would restart and rejoin).
    Excluded(u8),
}

impl Fields for ServerState {
    fn fields(&self) -> Vec<Field> {
        match self {
            ServerState::Down(n) => {
                crate::fields!["state" => format!("down ({n} false suspicions so far)")]
            }
            ServerState::Excluded(n) => {
                crate::fields!["state" => format!("excluded by a node set ({n} false suspicions so far)")]
            }
            ServerState::Live(l) => {
                let mut rows = crate::fields![
                    "node set" => one_line(&l.set),
                    "promised" => one_line(&l.promised),
                    "building" => one_line(&l.building),
                    "suspected (bits)" => format!("{:08b}", l.suspected),
                    "false suspicions" => one_line(&l.suspicions),
                ];
                rows.extend(l.replicas.iter().enumerate().map(|(i, r)| Field {
                    name: format!("fragment {i}"),
                    value: format!(
                        "{}log {}{}{}{}",
                        if r.current { "" } else { "not current; " },
                        listed(r.log.iter()),
                        if r.records.is_empty() {
                            String::new()
                        } else {
                            format!("; early records {}", listed(r.records.iter()))
                        },
                        r.pending.as_ref().map_or(String::new(), |p| format!("; pending {p:?}")),
                        if r.standby_current { "; stand-by current" } else { "" },
                    ),
                }));
                rows
            }
        }
    }
}

/// The node role: one per node of the circle.
#[derive(Clone, Debug)]
pub struct Server {
    /// The model's configuration.
    pub cfg: Config,
    /// Its node number (and actor id).
    pub me: u8,
}

type O = Out<Node>;

impl Live {
    /// Whether node `me` runs fragment `f` as its primary: the installed node set names it
    /// primary and it holds the whole fragment.
    pub fn is_primary(&self, cfg: &Config, me: u8, f: FragmentId) -> bool {
        self.roles(cfg, f).0 == Some(me) && self.replicas[usize::from(f)].current
    }

    /// Fragment `f`'s (primary, stand-by) in the installed node set.
    pub fn roles(&self, cfg: &Config, f: FragmentId) -> (Option<u8>, Option<u8>) {
        dictionary(f, self.set.members, cfg.nodes)
    }
}

impl Server {
    /// Node `me` of configuration `cfg`.
    pub fn new(cfg: Config, me: u8) -> Self {
        Server { cfg, me }
    }

    /// The initial node set of all nodes; each node holds the fragments the dictionary places
    /// on it.
    pub fn on_start(&self, _: Id, _: &Option<()>, o: &mut O) -> ServerState {
        let me = self.me;
        let set = NodeSet {
            id: NodeSetId::default(),
            members: (1u16 << self.cfg.nodes).wrapping_sub(1) as u8,
        };
        let replicas = (0..self.cfg.nodes)
            .map(|f| {
                let (p, s) = dictionary(f, set.members, self.cfg.nodes);
                Replica {
                    current: p == Some(me) || s == Some(me),
                    standby_current: p == Some(me),
                    ..Replica::default()
                }
            })
            .collect();
        if self.cfg.suspicions > 0 {
            o.set_timer(Timer::Suspect, model_timeout());
        }
        if self.cfg.may_crash(me) {
            o.set_timer(Timer::Crash, model_timeout());
        }
        ServerState::Live(Live {
            set,
            promised: set.id,
            building: None,
            suspicions: 0,
            suspected: 0,
            replicas,
        })
    }

    /// Handles a message; `None` leaves it in the network (delivered later, or never).
    pub fn on_msg(&self, s: &ServerState, src: Id, msg: Msg, o: &mut O) -> Option<ServerState> {
        let ServerState::Live(live) = s else {
            return None;
        };
        let me = self.me;
        let from = usize::from(src);
        let mut n = live.clone();
        match msg {
            Msg::Update { f, seq } if from >= usize::from(self.cfg.nodes) => {
                let client = (from - usize::from(self.cfg.nodes)) as u8;
                self.on_update(me, &mut n, f, (client, seq), src, o)?
            }
            Msg::Log { set, f, index, update } => {
                self.on_log(me, &mut n, set, f, index, update, from as u8, o)?
            }
            Msg::Ack { set, f, index } => {
                let (_, standby) = n.roles(&self.cfg, f);
                let r = &n.replicas[usize::from(f)];
                if set != n.set.id
                    || !n.is_primary(&self.cfg, me, f)
                    || standby != Some(from as u8)
                    || r.pending.is_none()
                    || usize::from(index) != r.log.len()
                {
                    return None;
                }
                self.commit(&mut n, f, o);
            }
            Msg::Copy { f, log, .. } => {
                let (primary, standby) = n.roles(&self.cfg, f);
                if standby != Some(me) || primary != Some(from as u8) {
                    return None;
                }
                let r = &mut n.replicas[usize::from(f)];
                if !r.current {
                    r.log = log;
                    r.records.sort();
                    for (i, u) in std::mem::take(&mut r.records) {
                        if usize::from(i) == r.log.len() {
                            r.log.push(u);
                        } else if usize::from(i) > r.log.len() {
                            r.records.push((i, u));
                        }
                    }
                    r.current = r.records.is_empty();
                }
                if n.replicas[usize::from(f)].current {
                    o.send(src, Msg::Copied { set: n.set.id, f });
                }
            }
            Msg::Copied { set, f } => {
                // From any node set in which the stand-by holds the whole fragment under this
                // primary: later records reach it by linear 2PC.
                let (_, standby) = n.roles(&self.cfg, f);
                let r = &mut n.replicas[usize::from(f)];
                if set > n.set.id || standby != Some(from as u8) || r.standby_current {
                    return None;
                }
                r.standby_current = true;
            }
            Msg::Build { id } => {
                let answers = if self.cfg.variant == Variant::CounterOnlyIds {
                    id >= n.promised
                } else {
                    id > n.promised
                };
                if !n.set.has(from as u8) || !answers {
                    return None;
                }
                n.promised = id;
                if n.building.is_some_and(|b| b.id < id) {
                    n.building = None;
                    if n.suspected == 0 {
                        o.cancel_timer(Timer::Decide);
                    } // else the Decide timer builds again if this build stalls
                }
                o.send(src, Msg::Services { id });
            }
            Msg::Services { id } => {
                let b = n.building.as_mut().filter(|b| b.id == id)?;
                b.answered |= 1 << from;
                if b.answered & n.set.members == n.set.members {
                    return Some(self.decide(me, n, o));
                }
            }
            Msg::Install { set } => {
                if set.id <= n.set.id {
                    return None;
                }
                if set.id < n.promised {
                    let promised = n.promised;
                    o.send(src, Msg::Refuse { promised });
                    return None; // the state is unchanged; the refusal is the step's effect
                }
                return Some(self.install(me, n, set, o));
            }
            Msg::Refuse { promised } => {
                // Only a promise to a builder this node's set excludes (down, or cut off) is
                // in the way for good; a live rival's build will be installed instead.
                if n.set.has(promised.builder) || promised <= n.promised || n.building.is_some() {
                    return None;
                }
                n.promised = promised;
                self.build(me, &mut n, o);
            }
            Msg::Silent => {
                if !n.set.has(from as u8) {
                    return None;
                }
                n.suspected |= 1 << from;
                if n.building.is_none() {
                    self.build(me, &mut n, o);
                }
            }
            _ => return None,
        }
        Some(ServerState::Live(n))
    }

    /// Suspect: a false suspicion starts a build; Decide: the builder's resends are over;
    /// Crash: the node stops, and its neighbours miss its I-am-alive messages.
    pub fn on_timeout(&self, s: &ServerState, timer: &Timer, o: &mut O) -> Option<ServerState> {
        let ServerState::Live(live) = s else {
            return None;
        };
        let me = self.me;
        match timer {
            Timer::Suspect => {
                if live.building.is_some() {
                    o.set_timer(Timer::Suspect, model_timeout());
                    return None; // suspect again once the build is over
                }
                let mut n = live.clone();
                n.suspicions += 1;
                self.build(me, &mut n, o);
                o.set_timer(Timer::Suspect, model_timeout());
                Some(ServerState::Live(n))
            }
            Timer::Decide => {
                let Some(b) = live.building else {
                    // This node gave up its build for a higher one that never came: it still
                    // knows a member is silent, so it builds again.
                    if live.suspected == 0 {
                        return None;
                    }
                    let mut n = live.clone();
                    self.build(me, &mut n, o);
                    return Some(ServerState::Live(n));
                };
                let majority = b.answered.count_ones() * 2 > u32::from(self.cfg.nodes);
                if !majority && self.cfg.variant != Variant::NoMajority {
                    o.set_timer(Timer::Decide, model_timeout());
                    return None; // keep waiting for answers
                }
                Some(self.decide(me, live.clone(), o))
            }
            Timer::Crash => {
                if let Some(next) = self.successor(me, &live.set) {
                    o.send(Id::from(usize::from(next)), Msg::Silent);
                }
                o.cancel_timer(Timer::Suspect);
                o.cancel_timer(Timer::Decide);
                Some(ServerState::Down(live.suspicions))
            }
            Timer::Resend => None,
        }
    }

    /// The next member after `me` on the circle of node set `set`: it watches `me`'s
    /// I-am-alive messages.
    fn successor(&self, me: u8, set: &NodeSet) -> Option<u8> {
        let n = self.cfg.nodes;
        (1..n).map(|k| (me + k) % n).find(|i| set.has(*i))
    }

    fn build(&self, me: u8, n: &mut Live, o: &mut O) {
        let counter = n.set.id.counter.max(n.promised.counter) + 1;
        let builder = if self.cfg.variant == Variant::CounterOnlyIds { 0 } else { me };
        let id = NodeSetId { counter, builder };
        n.promised = id;
        n.building = Some(Building { id, answered: 1 << me });
        for m in n.set.nodes(self.cfg.nodes).filter(|m| *m != me) {
            o.send(Id::from(usize::from(m)), Msg::Build { id });
        }
        o.set_timer(Timer::Decide, model_timeout());
    }

    /// The builder decides: the node set is the nodes that answered.
    fn decide(&self, me: u8, n: Live, o: &mut O) -> ServerState {
        let Some(b) = n.building else {
            return ServerState::Live(n);
        };
        let set = NodeSet { id: b.id, members: b.answered };
        for m in n.set.nodes(self.cfg.nodes).filter(|m| *m != me) {
            o.send(Id::from(usize::from(m)), Msg::Install { set });
        }
        self.install(me, n, set, o)
    }

    /// Installs node set `set`: the dictionary now names each fragment's primary and stand-by
    /// among its members. A primary with a new stand-by sends it a fuzzy copy; a pending update
    /// is logged again under the new id.
    fn install(&self, me: u8, mut n: Live, set: NodeSet, o: &mut O) -> ServerState {
        o.cancel_timer(Timer::Decide);
        if !set.has(me) {
            o.cancel_timer(Timer::Suspect);
            return ServerState::Excluded(n.suspicions);
        }
        let old = n.set;
        n.set = set;
        n.promised = n.promised.max(set.id);
        n.building = None;
        n.suspected &= set.members;
        for f in 0..self.cfg.nodes {
            let before = dictionary(f, old.members, self.cfg.nodes);
            let (primary, standby) = n.roles(&self.cfg, f);
            if !n.is_primary(&self.cfg, me, f) {
                continue;
            }
            let r = &mut n.replicas[usize::from(f)];
            if before != (primary, standby) {
                r.standby_current = false;
            }
            let r = &n.replicas[usize::from(f)];
            match standby {
                Some(sb) => {
                    let to = Id::from(usize::from(sb));
                    if !r.standby_current && self.cfg.variant != Variant::NoSelfRepair {
                        o.send(to, Msg::Copy { set: set.id, f, log: r.log.clone() });
                    }
                    if let Some(update) = r.pending {
                        let index = r.log.len() as u8;
                        o.send(to, Msg::Log { set: set.id, f, index, update });
                    }
                }
                None if r.pending.is_some() => self.commit(&mut n, f, o),
                None => {}
            }
        }
        if n.suspected != 0 {
            self.build(me, &mut n, o); // a member it knows to be silent is still in the set
        }
        ServerState::Live(n)
    }

    fn on_update(
        &self, me: u8, n: &mut Live, f: FragmentId, update: Update, client: Id, o: &mut O,
    ) -> Option<()> {
        if f >= self.cfg.nodes || !n.is_primary(&self.cfg, me, f) {
            return None;
        }
        let (_, standby) = n.roles(&self.cfg, f);
        let r = &mut n.replicas[usize::from(f)];
        if r.log.contains(&update) {
            if !r.standby_current && standby.is_some() {
                return None; // answered once the stand-by holds it too
            }
            o.send(client, Msg::Committed { f, seq: update.1 });
            return Some(());
        }
        if r.pending.is_some() {
            return None; // one update in flight per fragment; this one waits in the network
        }
        r.pending = Some(update);
        match standby {
            Some(sb) => {
                let index = r.log.len() as u8;
                let set = n.set.id;
                o.send(Id::from(usize::from(sb)), Msg::Log { set, f, index, update });
            }
            None => self.commit(n, f, o),
        }
        Some(())
    }

    /// The stand-by's side of linear 2PC: log the record and ack it, only in the node set it
    /// has installed and only for the primary that set names (fencing).
    #[allow(clippy::too_many_arguments)]
    fn on_log(
        &self, me: u8, n: &mut Live, set: NodeSetId, f: FragmentId, index: u8, update: Update,
        from: u8, o: &mut O,
    ) -> Option<()> {
        let (primary, standby) = n.roles(&self.cfg, f);
        if set != n.set.id || standby != Some(me) || primary != Some(from) {
            return None;
        }
        let r = &mut n.replicas[usize::from(f)];
        let i = usize::from(index);
        if r.current {
            match r.log.get(i) {
                None if i == r.log.len() => r.log.push(update),
                Some(u) if *u == update => {}
                _ => return None,
            }
        } else if self.cfg.variant != Variant::RepairWithoutLog {
            match r.records.iter().find(|(j, _)| *j == index) {
                None => r.records.push((index, update)),
                Some((_, u)) if *u == update => {}
                Some(_) => return None,
            }
        }
        o.send(Id::from(usize::from(from)), Msg::Ack { set, f, index });
        Some(())
    }

    /// The primary commits its pending update and answers the client.
    fn commit(&self, n: &mut Live, f: FragmentId, o: &mut O) {
        let r = &mut n.replicas[usize::from(f)];
        if let Some(u) = r.pending.take() {
            r.log.push(u);
            let client = usize::from(self.cfg.nodes) + usize::from(u.0);
            o.send(Id::from(client), Msg::Committed { f, seq: u.1 });
        }
    }
}
