//! The fuzzy-copy protocol's primary (the patent's "new backup" and "soft failure"; ClustRa
//! §4).
//!
//! The primary keeps serving throughout: while the backup is being copied or is catching up,
//! it commits alone (the process has no current backup); once the backup is current, every
//! update is shipped as a log entry and answered after the backup's ack. The primary's history
//! table holds the last `table` log entries only (it is recycled).

use super::backup::BackupState;
use super::msg::{Msg, Timer};
use super::replay::{execute, Generations};
use super::{Config, Node, Variant};
use crate::services::Service;
use stateright::actor::{model_timeout, Id, Out};
use std::collections::BTreeMap;

type M<S> =
    Msg<<S as Service>::Op, <S as Service>::Reply, <S as Service>::Key, <S as Service>::Object>;
type O<S> = Out<Node<S>>;
type St<S> = PrimaryState<S>;

/// Where the primary is in building its backup.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Phase {
    /// The batch from object number `key` of the key space is in flight; the log is replayed
    /// from `noted`.
    Copying {
        /// The SSN noted when the copy began.
        noted: u64,
        /// The first object of the batch in flight (its number in the key space).
        key: u32,
    },
    /// Replaying the log: the batch from entry `acked` is in flight (or next to send).
    Shipping {
        /// The next SSN the backup needs.
        acked: u64,
    },
    /// The last entry is shipped; intake is paused until the backup acks everything before `upto`.
    Paused {
        /// One past the last SSN shipped.
        upto: u64,
    },
    /// The backup is current: normal checkpointing.
    Current,
}

/// The primary's state (it does not crash in this model).
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct PrimaryState<S: Service> {
    /// The service.
    pub service: S,
    /// Object generations.
    pub gens: Generations<S::Key>,
    /// The next SSN (SSNs start at 1; generation 0 means never updated).
    pub next_ssn: u64,
    /// The retained log entries (the last `table` ones, consecutive SSNs), persistent (`imbl`)
    /// so that the state's copy at each step shares them.
    pub history: imbl::Vector<(u64, S::Op)>,
    /// The message table: the last answered request of each client and its reply.
    pub answered: BTreeMap<Id, (u64, S::Reply)>,
    /// Building the backup.
    pub phase: Phase,
    /// An update waiting for the backup's ack (normal checkpointing).
    pub pending: Option<(Id, u64, S::Reply, u64)>,
    /// The number of the current (or last) copy attempt.
    pub attempt: u64,
    /// The backup incarnation the primary is serving.
    pub incarnation: u64,
    /// Rolling upgrade: it handed the process over to the backup and serves no more.
    pub retired: bool,
}

crate::role! {
    /// The primary actor.
    Primary
}

const BACKUP: usize = 1;

impl<S: Service> Primary<S> {
    /// A new backup joins at once: the copy begins, noting SSN 1.
    pub fn on_start(&self, _: Id, _: &Option<BackupState<S>>, o: &mut O<S>) -> St<S> {
        let mut s = PrimaryState {
            service: S::default(),
            gens: Generations::new(),
            next_ssn: 1,
            history: imbl::Vector::new(),
            answered: BTreeMap::new(),
            phase: Phase::Current,
            pending: None,
            attempt: 0,
            incarnation: 0,
            retired: false,
        };
        self.start_over(&mut s, o);
        if self.cfg.upgrade {
            o.set_timer(Timer::Handover, model_timeout());
        }
        s
    }

    /// The keys of the copy batch that starts at object number `first` of the key space.
    fn batch(&self, first: u32) -> Vec<S::Key> {
        (first as usize..first as usize + self.cfg.batch.max(1)).map_while(S::nth_key).collect()
    }

    /// Sends the batch of objects from number `key` of the key space as they are now (the
    /// copy is fuzzy).
    fn copy(&self, n: &mut PrimaryState<S>, noted: u64, key: u32, o: &mut O<S>) {
        let keys = self.batch(key);
        if keys.is_empty() {
            return; // an empty key space: nothing to copy
        }
        let objects = keys
            .into_iter()
            .map(|k| {
                (
                    k,
                    n.service.object(&k),
                    match self.cfg.variant {
                        Variant::CopyWithoutGenerations => 0,
                        _ => n.gens.get(&k).copied().unwrap_or(0),
                    },
                )
            })
            .collect();
        o.send(
            Id::from(BACKUP),
            Msg::CopyObject { incarnation: n.incarnation, attempt: n.attempt, objects },
        );
        n.phase = Phase::Copying { noted, key };
    }

    /// A full fuzzy copy from the first object, noting the next SSN as the log position.
    fn start_over(&self, n: &mut PrimaryState<S>, o: &mut O<S>) {
        n.attempt += 1;
        let noted = n.next_ssn;
        self.copy(n, noted, 0, o);
    }

    /// Rolling upgrade: once the backup (the new version) is current and no update is in
    /// flight, hand the process over with the message table, and retire.
    pub fn on_timeout(&self, s: &St<S>, timer: &Timer, o: &mut O<S>) -> Option<St<S>> {
        if *timer != Timer::Handover || s.retired {
            return None;
        }
        let current = s.phase == Phase::Current && s.pending.is_none();
        if !current && self.cfg.variant != Variant::HandoverBeforeCurrent {
            o.set_timer(Timer::Handover, model_timeout());
            return None; // not yet: the timer stays armed
        }
        let table = s.answered.iter().map(|(c, (seq, reply))| (*c, *seq, reply.clone())).collect();
        o.send(Id::from(BACKUP), Msg::Handover { table });
        Some(PrimaryState { retired: true, ..s.clone() })
    }

    /// Log entry `ssn` if the history table still holds it (its SSNs are consecutive).
    fn holds(n: &St<S>, ssn: u64) -> Option<&S::Op> {
        let first = n.history.front()?.0;
        let i = usize::try_from(ssn.checked_sub(first)?).ok()?;
        n.history.get(i).filter(|(s, _)| *s == ssn).map(|(_, op)| op)
    }

    /// Ships the batch of log entries from `ssn` (or finishes catch-up when there is none
    /// left).
    fn ship(&self, n: &mut PrimaryState<S>, ssn: u64, o: &mut O<S>) {
        if ssn >= n.next_ssn {
            n.phase = Phase::Current;
            return;
        }
        let end = n.next_ssn.min(ssn + self.cfg.batch.max(1) as u64);
        let Some(ops) = (ssn..end).map(|e| Self::holds(n, e).cloned()).collect::<Option<Vec<_>>>()
        else {
            // Recycled while catching up: start over with a full copy.
            self.start_over(n, o);
            return;
        };
        o.send(Id::from(BACKUP), Msg::Log { ssn, ops });
        n.phase = if end == n.next_ssn {
            // The backup is nearly current: pause intake until it has caught up.
            Phase::Paused { upto: end }
        } else {
            Phase::Shipping { acked: ssn }
        };
    }

    /// Handles a message.
    pub fn on_msg(&self, s: &St<S>, src: Id, msg: M<S>, o: &mut O<S>) -> Option<St<S>> {
        if s.retired {
            // The old version serves no more: it points clients to the new one.
            if matches!(msg, Msg::Request { .. })
                && self.cfg.variant != Variant::RetireWithoutForwarding
            {
                o.send(src, Msg::Moved);
            }
            return None;
        }
        match msg {
            Msg::Request { seq, op } => self.on_request(s, src, seq, op, o),
            Msg::LogAck { next } => {
                let mut n = s.clone();
                if let Some((c, seq, reply, ssn)) = n.pending.clone() {
                    if ssn < next {
                        n.answered.insert(c, (seq, reply.clone()));
                        n.pending = None;
                        o.send(c, Msg::Reply { seq, reply });
                    }
                }
                match n.phase {
                    Phase::Shipping { acked } if next > acked => self.ship(&mut n, next, o),
                    Phase::Paused { upto } if next >= upto => {
                        // Correct: nothing arrived since the pause. Without the pause, whatever
                        // committed meanwhile is never shipped.
                        n.phase = Phase::Current;
                    }
                    _ => {}
                }
                (n != *s).then_some(n)
            }
            Msg::CopyAck { attempt, key } => {
                let Phase::Copying { noted, key: k } = s.phase else {
                    return None;
                };
                let keys = self.batch(k);
                if attempt != s.attempt || keys.last() != Some(&key) {
                    return None; // an ack from an earlier attempt
                }
                let mut n = s.clone();
                let next = k + keys.len() as u32;
                if S::nth_key(next as usize).is_some() {
                    self.copy(&mut n, noted, next, o);
                } else {
                    o.send(
                        Id::from(BACKUP),
                        Msg::CopyDone { incarnation: s.incarnation, attempt, noted },
                    );
                    n.phase = Phase::Shipping { acked: noted.saturating_sub(1) };
                }
                Some(n)
            }
            Msg::Rejoin { incarnation, next } => {
                if incarnation <= s.incarnation {
                    return None; // from an earlier incarnation of the backup
                }
                let mut n = s.clone();
                n.incarnation = incarnation;
                let oldest = n.history.front().map_or(n.next_ssn, |(ssn, _)| *ssn);
                match next {
                    Some(need) if need >= n.next_ssn => n.phase = Phase::Current,
                    Some(need) if need >= oldest => self.ship(&mut n, need, o),
                    Some(_) if self.cfg.variant == Variant::RecycledCatchUp => {
                        // The bug: catch up from what the recycled table still holds, moving
                        // the backup's log position past the entries it lacks.
                        n.attempt += 1;
                        o.send(
                            Id::from(BACKUP),
                            Msg::CopyDone {
                                incarnation: n.incarnation,
                                attempt: n.attempt,
                                noted: oldest,
                            },
                        );
                        n.phase = Phase::Shipping { acked: oldest.saturating_sub(1) };
                    }
                    _ => self.start_over(&mut n, o),
                }
                if let (Phase::Current, Some((_, _, _, ssn))) = (n.phase, &n.pending) {
                    if let Some(op) = Self::holds(&n, *ssn).cloned() {
                        o.send(Id::from(BACKUP), Msg::Log { ssn: *ssn, ops: vec![op] });
                    }
                }
                Some(n)
            }
            _ => None,
        }
    }

    fn on_request(
        &self, s: &St<S>, client: Id, seq: u64, op: S::Op, o: &mut O<S>,
    ) -> Option<St<S>> {
        if let Some((answered_seq, reply)) = s.answered.get(&client) {
            if *answered_seq > seq {
                return None; // a stale resend of a request answered long ago
            }
            if *answered_seq == seq {
                o.send(client, Msg::Reply { seq, reply: reply.clone() });
                return None;
            }
        }
        if let Some((c, pseq, _, ssn)) = &s.pending {
            if *c == client && *pseq == seq {
                if let Some(op) = Self::holds(s, *ssn) {
                    o.send(Id::from(BACKUP), Msg::Log { ssn: *ssn, ops: vec![op.clone()] });
                }
            }
            return None; // one checkpoint at a time
        }
        if matches!(s.phase, Phase::Paused { .. }) && self.cfg.variant != Variant::NoIntakePause {
            return None; // intake paused: the request waits
        }
        let mut n = s.clone();
        if !S::changes_state(&op) {
            let reply = n.service.clone().apply(&op);
            o.send(client, Msg::Reply { seq, reply });
            return None;
        }
        let ssn = n.next_ssn;
        n.next_ssn += 1;
        let reply = execute(&mut n.service, &mut n.gens, ssn, &op);
        n.history.push_back((ssn, op.clone()));
        if n.history.len() > self.cfg.table {
            n.history.pop_front(); // recycle the oldest entry
        }
        if n.phase == Phase::Current {
            n.pending = Some((client, seq, reply, ssn));
            o.send(Id::from(BACKUP), Msg::Log { ssn, ops: vec![op] });
        } else {
            // No current backup: the process runs alone until the copy is done.
            n.answered.insert(client, (seq, reply.clone()));
            o.send(client, Msg::Reply { seq, reply });
        }
        Some(n)
    }
}
