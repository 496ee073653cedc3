//! The server of the transactions model: primary, backup or spare (the logical-checkpointing patent, Fig. 5A-5C).
//!
//! Every checkpointed item has an SSN and both roles process items strictly in SSN order: a
//! transaction entry goes into the transaction's internal state (`open`), a commit record or a
//! batch commits the whole transaction at once (`history`). So a transaction takes effect all
//! at once or not at all, and in the same order everywhere.

use super::msg::{Epoch, Item, Msg, Ssn, Timer};
use super::{Config, Mode, Node, Variant};
use crate::services::Service;
use stateright::actor::{model_timeout, Id, Out};
use std::collections::BTreeMap;

/// What a server does.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Role {
    /// Serves clients and checkpoints.
    Primary,
    /// Logs, acks, processes in SSN order; takes over when the primary fails.
    Backup,
    /// A failed primary after restart.
    Spare,
}

/// A committed transaction, with the single response for it.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Txn<Op, Reply> {
    /// The SSN of its commit record or batch.
    pub ssn: Ssn,
    /// The client.
    pub client: Id,
    /// Its updates, in order.
    pub ops: Vec<Op>,
    /// Their replies.
    pub replies: Vec<Reply>,
}

/// A server's durable state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Durable<Op, Reply> {
    /// The role as last saved.
    pub role: Role,
    /// Bumped by a takeover.
    pub epoch: Epoch,
    /// Committed transactions, in commit (SSN) order.
    pub history: Vec<Txn<Op, Reply>>,
    /// Checkpointed items not processed yet, by SSN, with whether they are ready (acked).
    pub log: BTreeMap<Ssn, (Item<Op>, bool)>,
    /// The internal state of open transactions: entries processed, not committed (5C).
    pub open: BTreeMap<Id, Vec<Op>>,
    /// The next SSN to process.
    pub next_commit: Ssn,
    /// The next SSN to assign.
    pub next_ssn: Ssn,
    /// Restarts so far.
    pub restarts: u8,
}

/// A server's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ServerState<S: Service> {
    /// The durable part.
    pub d: Durable<S::Op, S::Reply>,
    /// The primary's workspace: the requests received of each open transaction (volatile: a
    /// failure before the checkpoint aborts the transaction).
    pub work: BTreeMap<Id, Vec<S::Op>>,
    /// The service with every committed transaction applied.
    pub service: S,
}

crate::role! {
    /// The server actor.
    Server
}

type O<S> = Out<Node<S>>;
type St<S> = ServerState<S>;
type M<S> = Msg<<S as Service>::Op, <S as Service>::Reply>;
const BACKUP: usize = 1;

impl<S: Service> ServerState<S> {
    fn has_backup(&self) -> bool {
        self.d.epoch == 0
    }

    fn committed(&self, c: Id) -> Option<&Txn<S::Op, S::Reply>> {
        self.d.history.iter().find(|t| t.client == c)
    }

    fn pending(&self, pred: impl Fn(&Item<S::Op>) -> bool) -> Option<(Ssn, Item<S::Op>)> {
        self.d
            .log
            .iter()
            .find(|(_, (item, _))| pred(item))
            .map(|(ssn, (item, _))| (*ssn, item.clone()))
    }

    fn commit_txn(&mut self, ssn: Ssn, client: Id, ops: Vec<S::Op>, o: &mut O<S>) {
        let replies: Vec<S::Reply> = ops.iter().map(|op| self.service.apply(op)).collect();
        if self.d.role == Role::Primary {
            o.send(client, Msg::Committed { replies: replies.clone() });
        }
        self.work.remove(&client);
        self.d.history.push(Txn { ssn, client, ops, replies });
    }

    /// Processes ready items in SSN order.
    fn process(&mut self, o: &mut O<S>) {
        while let Some((item, true)) = self.d.log.get(&self.d.next_commit).cloned() {
            let ssn = self.d.next_commit;
            self.d.log.remove(&ssn);
            self.d.next_commit += 1;
            match item {
                Item::Entry { client, i, op } => {
                    let open = self.d.open.entry(client).or_default();
                    if usize::from(i) == open.len() {
                        open.push(op);
                    }
                    if self.d.role == Role::Primary {
                        o.send(client, Msg::Executed { i });
                    }
                }
                Item::CommitRecord { client } => {
                    let ops = self.d.open.remove(&client).unwrap_or_default();
                    self.commit_txn(ssn, client, ops, o);
                }
                Item::Batch { client, ops } => self.commit_txn(ssn, client, ops, o),
            }
        }
    }
}

impl<S: Service> Server<S> {
    /// Starts fresh or restarts: a failed primary goes to the spare pool.
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
                    open: BTreeMap::new(),
                    next_commit: 0,
                    next_ssn: 0,
                    restarts: 0,
                },
                work: BTreeMap::new(),
                service: S::default(),
            },
            Some(d) => {
                let service = S::from_ops(d.history.iter().flat_map(|t| &t.ops));
                let mut d = d.clone();
                d.restarts = d.restarts.saturating_add(1);
                ServerState { d, work: BTreeMap::new(), service }
            }
        };
        if storage.is_some() && s.d.role == Role::Primary && s.d.epoch == 0 {
            s.d.role = Role::Spare;
        }
        o.save(s.d.clone());
        if s.d.role == Role::Backup {
            o.set_timer(Timer::Takeover, model_timeout());
        }
        s
    }

    fn checkpoint(&self, n: &mut ServerState<S>, item: Item<S::Op>, o: &mut O<S>) -> Ssn {
        let ssn = n.d.next_ssn;
        n.d.next_ssn += 1;
        let ready = !n.has_backup();
        n.d.log.insert(ssn, (item.clone(), ready));
        if !ready {
            o.send(Id::from(BACKUP), Msg::Checkpoint { epoch: n.d.epoch, ssn, item });
        }
        ssn
    }

    /// Handles a message.
    pub fn on_msg(&self, s: &St<S>, src: Id, msg: M<S>, o: &mut O<S>) -> Option<St<S>> {
        match (s.d.role, msg) {
            (Role::Primary, Msg::Op { i, op }) => self.on_op(s, src, i, op, o),
            (Role::Primary, Msg::Commit) => self.on_commit(s, src, o),
            (Role::Primary, Msg::Ack { epoch, ssn }) if epoch == s.d.epoch => {
                let mut n = s.clone();
                match n.d.log.get_mut(&ssn) {
                    Some((_, ready)) if !*ready => *ready = true,
                    _ => return None,
                }
                let mut replies = Out::new();
                n.process(&mut replies);
                o.save(n.d.clone());
                o.append(&mut replies);
                Some(n)
            }
            (Role::Backup, Msg::Checkpoint { epoch, ssn, item }) if epoch == s.d.epoch => {
                if ssn < s.d.next_commit || s.d.log.contains_key(&ssn) {
                    o.send(src, Msg::Ack { epoch, ssn });
                    return None;
                }
                let mut n = s.clone();
                if let (Variant::NewerFirst, Item::Batch { client, ops }) =
                    (self.cfg.variant, &item)
                {
                    // The bug: a batch commits as soon as it is logged, before older ones.
                    n.commit_txn(ssn, *client, ops.clone(), &mut Out::new());
                } else {
                    n.d.log.insert(ssn, (item, true));
                    n.process(&mut Out::new());
                }
                o.save(n.d.clone());
                o.send(src, Msg::Ack { epoch, ssn });
                Some(n)
            }
            _ => None,
        }
    }

    fn on_op(&self, s: &St<S>, c: Id, i: u8, op: S::Op, o: &mut O<S>) -> Option<St<S>> {
        if let Some(t) = s.committed(c) {
            if self.cfg.variant != Variant::NoTxnDedup {
                o.send(c, Msg::Committed { replies: t.replies.clone() });
                return None;
            }
        }
        let received = s.work.get(&c).map_or(0, Vec::len);
        if usize::from(i) < received {
            // A resend: re-checkpoint an entry still waiting for its ack, or answer again.
            match s.pending(
                |it| matches!(it, Item::Entry { client, i: j, .. } if *client == c && *j == i),
            ) {
                Some((ssn, item)) if s.has_backup() => {
                    o.send(Id::from(BACKUP), Msg::Checkpoint { epoch: s.d.epoch, ssn, item })
                }
                Some(_) => {}
                None => o.send(c, Msg::Executed { i }),
            }
            return None;
        }
        if usize::from(i) > received {
            return None;
        }
        let mut n = s.clone();
        n.work.entry(c).or_default().push(op.clone());
        match self.cfg.mode {
            // 5B: executed at once, no table entry, no checkpoint until the commit.
            Mode::Batch => o.send(c, Msg::Executed { i }),
            // 5C: checkpointed on its own; answered once it is in the transaction's state.
            Mode::Entry => {
                let mut replies = Out::new();
                self.checkpoint(&mut n, Item::Entry { client: c, i, op }, &mut replies);
                n.process(&mut replies);
                o.save(n.d.clone());
                o.append(&mut replies);
            }
        }
        Some(n)
    }

    fn on_commit(&self, s: &St<S>, c: Id, o: &mut O<S>) -> Option<St<S>> {
        if let Some(t) = s.committed(c) {
            if self.cfg.variant != Variant::NoTxnDedup {
                o.send(c, Msg::Committed { replies: t.replies.clone() });
                return None;
            }
        }
        let is_commit = |it: &Item<S::Op>| matches!(it, Item::CommitRecord { client } | Item::Batch { client, .. } if *client == c);
        if let Some((ssn, item)) = s.pending(is_commit) {
            if s.has_backup() {
                o.send(Id::from(BACKUP), Msg::Checkpoint { epoch: s.d.epoch, ssn, item });
            }
            return None;
        }
        let ops = s.work.get(&c).cloned().unwrap_or_default();
        if ops.len() < self.cfg.ops {
            return None; // not every request of the transaction is here
        }
        let mut n = s.clone();
        let mut replies = Out::new();
        let item = match self.cfg.mode {
            Mode::Batch => Item::Batch { client: c, ops },
            Mode::Entry => Item::CommitRecord { client: c },
        };
        if self.cfg.variant == Variant::ReplyBeforeAck && n.has_backup() {
            // The bug: commit and answer at once; checkpoint afterwards.
            let ssn = n.d.next_ssn;
            n.d.next_ssn += 1;
            n.d.log.insert(ssn, (item.clone(), true));
            n.process(&mut replies);
            o.save(n.d.clone());
            o.append(&mut replies);
            o.send(Id::from(BACKUP), Msg::Checkpoint { epoch: n.d.epoch, ssn, item });
            return Some(n);
        }
        self.checkpoint(&mut n, item, &mut replies);
        n.process(&mut replies);
        o.save(n.d.clone());
        o.append(&mut replies);
        Some(n)
    }

    /// The backup takes over: it processes what it logged, in SSN order, up to the first gap;
    /// transactions without a commit record are aborted (their clients restart them).
    pub fn on_timeout(&self, s: &St<S>, timer: &Timer, o: &mut O<S>) -> Option<St<S>> {
        if *timer != Timer::Takeover || s.d.role != Role::Backup {
            return None;
        }
        let mut n = s.clone();
        n.d.role = Role::Primary;
        n.d.epoch = n.d.epoch.saturating_add(1);
        n.process(&mut Out::new());
        n.d.log.clear(); // past a gap: never committed by the old primary
        let open = std::mem::take(&mut n.d.open);
        if self.cfg.variant == Variant::PartialCommit {
            // The bug: the entries of unfinished transactions are committed as they are.
            for (client, ops) in open {
                let ssn = n.d.next_commit;
                n.d.next_commit += 1;
                n.commit_txn(ssn, client, ops, &mut Out::new());
            }
        }
        n.d.next_ssn = n.d.next_commit;
        o.save(n.d.clone());
        for c in self.cfg.client_ids() {
            o.send(c, Msg::NewPrimary { epoch: n.d.epoch });
        }
        Some(n)
    }
}
