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
use super::{Config, Node, Variant, FOREVER};
use crate::services::Service;
use crate::trace::{listed, one_line, Field, Fields};
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
    /// Every object is copied and `CopyDone` is in flight: the log is to be replayed from
    /// `noted` once the backup acks it.
    Done {
        /// The SSN noted when the copy began.
        noted: u64,
    },
    /// Replaying the log: the batch from entry `acked` is in flight (or next to send).
    Shipping {
        /// The next SSN the backup needs.
        acked: u64,
    },
    /// The last batch, `from` to `upto`, is shipped; intake is paused until the backup acks
    /// everything before `upto`.
    Paused {
        /// The first SSN of the last batch.
        from: u64,
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

impl<S: Service> Fields for PrimaryState<S> {
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "phase" => one_line(&self.phase),
            "next SSN" => one_line(&self.next_ssn),
            "log (SSN, op)" => listed(self.history.iter()),
            "message table" => listed(self.answered.iter()),
            "awaiting the backup's ack" => one_line(&self.pending),
            "generations" => one_line(&self.gens),
            "service" => one_line(&self.service),
            "copy attempt / backup incarnation" => format!("{} / {}", self.attempt, self.incarnation),
            "retired" => one_line(&self.retired),
        ]
    }
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
        self.retransmit_later(o);
    }

    /// Arms the retransmission of what is in flight to the backup (hosted, where clients
    /// resend for ever: `resends = forever`). The network may lose a copy batch, `CopyDone` or
    /// a log batch, and nothing else would send it again: the copy would never finish.
    fn retransmit_later(&self, o: &mut O<S>) {
        if self.cfg.resends == FOREVER && self.cfg.variant != Variant::CopyOnce {
            o.set_timer(Timer::Retransmit, self.cfg.resend.clone());
        }
    }

    /// The backup is current: nothing is in flight to retransmit.
    fn current(&self, n: &mut PrimaryState<S>, o: &mut O<S>) {
        n.phase = Phase::Current;
        if self.cfg.resends == FOREVER {
            o.cancel_timer(Timer::Retransmit);
        }
    }

    /// Sends `CopyDone` for the copy that noted `noted`.
    fn copy_done(&self, n: &mut PrimaryState<S>, noted: u64, o: &mut O<S>) {
        let (incarnation, attempt) = (n.incarnation, n.attempt);
        o.send(Id::from(BACKUP), Msg::CopyDone { incarnation, attempt, noted });
        n.phase = Phase::Done { noted };
        self.retransmit_later(o);
    }

    /// Sends the log batch from `from` to `upto` again (`None`: the table no longer holds it).
    fn reship(&self, n: &St<S>, from: u64, upto: u64, o: &mut O<S>) -> Option<()> {
        let ops = (from..upto).map(|e| Self::holds(n, e).cloned()).collect::<Option<Vec<_>>>()?;
        o.send(Id::from(BACKUP), Msg::Log { incarnation: n.incarnation, ssn: from, ops });
        self.retransmit_later(o);
        Some(())
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
        if *timer == Timer::Retransmit && s.retired {
            self.hand_over(s, o); // not acknowledged yet: the network may have lost it
            return None;
        }
        if *timer == Timer::Retransmit {
            return self.retransmit(s, o);
        }
        if *timer != Timer::Handover || s.retired {
            return None;
        }
        let current = s.phase == Phase::Current && s.pending.is_none();
        if !current && self.cfg.variant != Variant::HandoverBeforeCurrent {
            o.set_timer(Timer::Handover, model_timeout());
            return None; // not yet: the timer stays armed
        }
        self.hand_over(s, o);
        Some(PrimaryState { retired: true, ..s.clone() })
    }

    /// Sends `Handover` with the message table, and (hosted) arms its resend until the new
    /// version acknowledges it: a lost handover would leave nobody serving.
    fn hand_over(&self, s: &St<S>, o: &mut O<S>) {
        let table = s.answered.iter().map(|(c, (seq, reply))| (*c, *seq, reply.clone())).collect();
        o.send(Id::from(BACKUP), Msg::Handover { table });
        if self.cfg.resends == FOREVER && self.cfg.variant != Variant::HandoverOnce {
            o.set_timer(Timer::Retransmit, self.cfg.resend.clone());
        }
    }

    /// Sends again what is in flight to the backup in `s`'s phase: the copy batch (as the
    /// objects are now: the copy is fuzzy anyway), `CopyDone`, or the log batch. Current: the
    /// update in flight is sent again when its client resends.
    fn retransmit(&self, s: &St<S>, o: &mut O<S>) -> Option<St<S>> {
        let mut n = s.clone();
        match s.phase {
            Phase::Copying { noted, key } => self.copy(&mut n, noted, key, o),
            Phase::Done { noted } => self.copy_done(&mut n, noted, o),
            Phase::Shipping { acked } => self.ship(&mut n, acked, o),
            Phase::Paused { from, upto } => {
                if self.reship(s, from, upto, o).is_none() {
                    self.start_over(&mut n, o);
                }
            }
            Phase::Current => return None,
        }
        (n != *s).then_some(n)
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
            self.current(n, o);
            return;
        }
        let end = n.next_ssn.min(ssn + self.cfg.batch.max(1) as u64);
        let Some(ops) = (ssn..end).map(|e| Self::holds(n, e).cloned()).collect::<Option<Vec<_>>>()
        else {
            // Recycled while catching up: start over with a full copy.
            self.start_over(n, o);
            return;
        };
        o.send(Id::from(BACKUP), Msg::Log { incarnation: n.incarnation, ssn, ops });
        self.retransmit_later(o);
        n.phase = if end == n.next_ssn {
            // The backup is nearly current: pause intake until it has caught up.
            Phase::Paused { from: ssn, upto: end }
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
            if matches!(msg, Msg::HandoverAck) {
                o.cancel_timer(Timer::Retransmit); // the new version serves
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
                    Phase::Done { noted } if next >= noted => self.ship(&mut n, next, o),
                    Phase::Shipping { acked } if next > acked => self.ship(&mut n, next, o),
                    Phase::Paused { upto, .. } if next >= upto => {
                        // Correct: nothing arrived since the pause. Without the pause, whatever
                        // committed meanwhile is never shipped.
                        self.current(&mut n, o);
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
                    self.copy_done(&mut n, noted, o);
                }
                Some(n)
            }
            Msg::Rejoin { incarnation, next } => {
                if incarnation == s.incarnation
                    && s.phase == Phase::Current
                    && self.cfg.resends == FOREVER
                {
                    // Asked again: the empty log that said it is current was lost.
                    let next_ssn = s.next_ssn;
                    o.send(Id::from(BACKUP), Msg::Log { incarnation, ssn: next_ssn, ops: vec![] });
                    return None;
                }
                if incarnation <= s.incarnation {
                    return None; // from an earlier incarnation of the backup, or asked again
                }
                let mut n = s.clone();
                n.incarnation = incarnation;
                let oldest = n.history.front().map_or(n.next_ssn, |(ssn, _)| *ssn);
                match next {
                    Some(need) if need >= n.next_ssn => {
                        self.current(&mut n, o);
                        if self.cfg.resends == FOREVER {
                            // Says so: the backup asks again until it hears from us.
                            let (incarnation, ssn) = (n.incarnation, n.next_ssn);
                            o.send(Id::from(BACKUP), Msg::Log { incarnation, ssn, ops: vec![] });
                        }
                    }
                    Some(need) if need >= oldest => self.ship(&mut n, need, o),
                    Some(_) if self.cfg.variant == Variant::RecycledCatchUp => {
                        // The bug: catch up from what the recycled table still holds, moving
                        // the backup's log position past the entries it lacks.
                        n.attempt += 1;
                        self.copy_done(&mut n, oldest, o);
                    }
                    _ => self.start_over(&mut n, o),
                }
                if let (Phase::Current, Some((_, _, _, ssn))) = (n.phase, &n.pending) {
                    if let Some(op) = Self::holds(&n, *ssn).cloned() {
                        let incarnation = n.incarnation;
                        o.send(
                            Id::from(BACKUP),
                            Msg::Log { incarnation, ssn: *ssn, ops: vec![op] },
                        );
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
                    let (incarnation, ops) = (s.incarnation, vec![op.clone()]);
                    o.send(Id::from(BACKUP), Msg::Log { incarnation, ssn: *ssn, ops });
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
            o.send(Id::from(BACKUP), Msg::Log { incarnation: n.incarnation, ssn, ops: vec![op] });
        } else {
            // No current backup: the process runs alone until the copy is done.
            n.answered.insert(client, (seq, reply.clone()));
            o.send(client, Msg::Reply { seq, reply });
        }
        Some(n)
    }
}
