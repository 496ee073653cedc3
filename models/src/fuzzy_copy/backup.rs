//! The fuzzy-copy protocol's new backup: it installs the copied objects with their
//! generations, replays the log with generation filtering, reboots into catch-up (a soft
//! failure), and — in a rolling upgrade — takes the process over when handed it. All its state
//! is durable and saved as a change ([`BackupChange`]).

use super::msg::{Msg, Timer};
use super::replay::{execute, install_object, replay, Generations};
use super::{Config, Node, Variant, FOREVER};
use crate::journaled::Journaled;
use crate::services::Service;
use crate::trace::{one_line, Field, Fields};
use imbl::ordmap::DiffItem;
use serde::{Deserialize, Serialize};
use stateright::actor::{Id, Out};
use std::collections::BTreeMap;

type M<S> =
    Msg<<S as Service>::Op, <S as Service>::Reply, <S as Service>::Key, <S as Service>::Object>;
type O<S> = Out<Node<S>>;
type St<S> = BackupState<S>;

/// The backup's state; all of it is durable.
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct BackupState<S: Service> {
    /// The replica.
    pub service: S,
    /// Its object generations.
    pub gens: Generations<S::Key>,
    /// The next SSN it needs; `None` while a copy is incomplete.
    pub next: Option<u64>,
    /// The copy attempt it is installing or installed.
    pub attempt: u64,
    /// Restarts so far.
    pub restarts: u64,
    /// Rolling upgrade: after the handover the backup is the primary, with this message table.
    pub serving: Option<BTreeMap<Id, (u64, S::Reply)>>,
    /// Rebooted and not yet heard from the primary for this incarnation: it sends `Rejoin`
    /// again on its `Retransmit` timer (`resends = forever` only; set anew at every reboot).
    #[serde(default)]
    pub rejoining: bool,
}

impl<S: Service> Fields for BackupState<S> {
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "next SSN needed" => self.next.map_or("none (copy incomplete)".into(), |n| n.to_string()),
            "copy attempt" => one_line(&self.attempt),
            "generations" => one_line(&self.gens),
            "service" => one_line(&self.service),
            "serving (after a handover)" => one_line(&self.serving),
            "rejoining" => one_line(&self.rejoining),
            "restarts" => one_line(&self.restarts),
        ]
    }
}

/// A save of the backup as a change: the objects and generations that changed (found by
/// diffing persistent maps, which skips the parts they share), the scalars whole, and the
/// message table only when it changed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct BackupChange<S: Service> {
    /// The replica's objects that changed ([`Service::changed_objects`]).
    #[allow(clippy::type_complexity)]
    service: Vec<(S::Key, Option<S::Object>)>,
    gens: Vec<(S::Key, Option<u64>)>,
    next: Option<u64>,
    attempt: u64,
    restarts: u64,
    #[allow(clippy::type_complexity)]
    serving: Option<Option<BTreeMap<Id, (u64, S::Reply)>>>,
    rejoining: bool,
}

impl<S: Service> Journaled for BackupState<S> {
    type Change = BackupChange<S>;

    fn change_from(&self, prev: &Self) -> BackupChange<S> {
        BackupChange {
            service: self.service.changed_objects(&prev.service),
            gens: prev
                .gens
                .diff(&self.gens)
                .map(|d| match d {
                    DiffItem::Add(k, g) | DiffItem::Update { new: (k, g), .. } => (*k, Some(*g)),
                    DiffItem::Remove(k, _) => (*k, None),
                })
                .collect(),
            next: self.next,
            attempt: self.attempt,
            restarts: self.restarts,
            serving: (self.serving != prev.serving).then(|| self.serving.clone()),
            rejoining: self.rejoining,
        }
    }

    fn apply(&mut self, c: BackupChange<S>) {
        for (k, object) in c.service {
            self.service.set_object(&k, object);
        }
        for (k, g) in c.gens {
            match g {
                Some(g) => self.gens.insert(k, g),
                None => self.gens.remove(&k),
            };
        }
        self.next = c.next;
        self.attempt = c.attempt;
        self.restarts = c.restarts;
        if let Some(serving) = c.serving {
            self.serving = serving;
        }
        self.rejoining = c.rejoining;
    }

    /// The replica and the generations are persistent maps: share `next` (O(1)).
    fn advance(&mut self, _: BackupChange<S>, next: &Self) {
        *self = next.clone();
    }
}

crate::role! {
    /// The backup actor.
    Backup
}

impl<S: Service> Backup<S> {
    /// Starts empty, or reboots from its durable state and asks to catch up (soft failure).
    pub fn on_start(&self, _: Id, storage: &Option<St<S>>, o: &mut O<S>) -> St<S> {
        let s = match storage {
            None => BackupState {
                service: S::spare(),
                gens: Generations::new(),
                next: None,
                attempt: 0,
                restarts: 0,
                serving: None,
                rejoining: false,
            },
            Some(d) => BackupState {
                restarts: d.restarts.saturating_add(1),
                rejoining: d.serving.is_none() && self.cfg.resends == FOREVER,
                ..d.clone()
            },
        };
        o.save(s.clone());
        if storage.is_some() && s.serving.is_none() {
            self.rejoin(&s, o);
        }
        s
    }

    /// Asks the primary to catch this incarnation up from `next`, and (hosted) arms the
    /// question's resend: the network may lose it, and only this backup knows it rebooted.
    fn rejoin(&self, s: &St<S>, o: &mut O<S>) {
        o.send(Id::from(0), Msg::Rejoin { incarnation: s.restarts, next: s.next });
        if s.rejoining && self.cfg.variant != Variant::RejoinOnce {
            o.set_timer(Timer::Retransmit, self.cfg.resend.clone());
        }
    }

    /// A rebooted backup asks again while it has not heard from the primary.
    pub fn on_timeout(&self, s: &St<S>, timer: &Timer, o: &mut O<S>) -> Option<St<S>> {
        if *timer == Timer::Retransmit && s.rejoining {
            self.rejoin(s, o);
        }
        None
    }

    /// Takes a message; a first one from the primary for this incarnation ends the rejoin.
    pub fn on_msg(&self, s: &St<S>, src: Id, msg: M<S>, o: &mut O<S>) -> Option<St<S>> {
        let heard = match &msg {
            Msg::CopyObject { incarnation, .. }
            | Msg::CopyDone { incarnation, .. }
            | Msg::Log { incarnation, .. } => *incarnation == s.restarts,
            _ => false,
        };
        if !(heard && s.rejoining) {
            return self.take(s, src, msg, o);
        }
        // Not saved here: a reboot sets it anew.
        let n = BackupState { rejoining: false, ..s.clone() };
        o.cancel_timer(Timer::Retransmit);
        Some(self.take(&n, src, msg, o).unwrap_or(n))
    }

    /// Installs copied objects and replays the log with generation filtering.
    fn take(&self, s: &St<S>, src: Id, msg: M<S>, o: &mut O<S>) -> Option<St<S>> {
        let mut n = s.clone();
        if let Some(table) = &s.serving {
            if matches!(msg, Msg::Handover { .. }) && self.cfg.resends == FOREVER {
                o.send(src, Msg::HandoverAck); // again: the first ack was lost
            }
            let Msg::Request { seq, op } = msg else {
                return None; // the old primary's messages: it is retired
            };
            if table.get(&src).is_some_and(|(done, _)| *done > seq) {
                return None; // a stale resend
            }
            if let Some((done, reply)) = table.get(&src).filter(|(done, _)| *done == seq) {
                o.send(src, Msg::Reply { seq: *done, reply: reply.clone() });
                return None;
            }
            if !S::changes_state(&op) {
                let reply = n.service.clone().apply(&op);
                o.send(src, Msg::Reply { seq, reply });
                return None;
            }
            let ssn = s.next.unwrap_or(1);
            let reply = execute(&mut n.service, &mut n.gens, ssn, &op);
            n.next = Some(ssn + 1);
            if let Some(t) = n.serving.as_mut() {
                t.insert(src, (seq, reply.clone()));
            }
            o.save(n.clone());
            o.send(src, Msg::Reply { seq, reply });
            return Some(n);
        }
        match msg {
            Msg::Handover { table } => {
                // The backup becomes the primary, running the new version.
                n.serving = Some(table.into_iter().map(|(c, seq, r)| (c, (seq, r))).collect());
                o.save(n.clone());
                if self.cfg.resends == FOREVER {
                    o.send(src, Msg::HandoverAck);
                }
            }
            // A copy batch of the attempt whose `CopyDone` came already is a retransmitted
            // one that arrived late: installing it would undo the log replayed since.
            Msg::CopyObject { incarnation, attempt, objects }
                if incarnation == s.restarts
                    && (attempt > s.attempt
                        || (attempt == s.attempt
                            && (s.next.is_none()
                                || self.cfg.variant == Variant::LateCopyBatch))) =>
            {
                let key = objects.last()?.0;
                for (k, object, generation) in objects {
                    install_object(&mut n.service, &mut n.gens, &k, object, Some(generation));
                }
                n.attempt = attempt;
                n.next = None; // the copy is incomplete until CopyDone
                o.save(n.clone());
                o.send(src, Msg::CopyAck { attempt, key });
            }
            Msg::CopyDone { incarnation, attempt, noted }
                if incarnation == s.restarts && attempt >= s.attempt =>
            {
                if let (true, Some(next)) = (attempt == s.attempt, s.next) {
                    o.send(src, Msg::LogAck { next }); // a re-sent CopyDone
                    return None;
                }
                // The log position the primary gives: the backup trusts it.
                n.attempt = attempt;
                n.next = Some(noted);
                o.save(n.clone());
                o.send(src, Msg::LogAck { next: noted });
            }
            Msg::Log { ssn, ops, .. } => match s.next {
                Some(next) if ssn <= next => {
                    // Entries before `next` are re-sent ones: skipped.
                    let mut upto = next;
                    for (e, op) in (ssn..).zip(&ops) {
                        if e == upto {
                            replay(
                                &mut n.service,
                                &mut n.gens,
                                e,
                                op,
                                self.cfg.variant != Variant::NoFilter,
                            );
                            upto += 1;
                        }
                    }
                    if upto == next {
                        o.send(src, Msg::LogAck { next }); // all re-sent: nothing new
                        return None;
                    }
                    n.next = Some(upto);
                    o.save(n.clone());
                    o.send(src, Msg::LogAck { next: upto });
                }
                _ => return None, // not yet: it waits for the entries before it
            },
            _ => return None,
        }
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::accounts::{Accounts, AccountsOp};
    use proptest::prelude::*;

    type Small = Accounts<16>;

    proptest! {
        /// The journal's law for the backup's state: `prev.apply(next.change_from(prev)) ==
        /// next`, whatever changed — rows, generations added and removed, its position.
        #[test]
        fn a_backup_save_is_the_change(deposits in prop::collection::vec((0u32..20, -999i32..1000), 0..20),
                                       gen in (0u32..16, 0u64..100)) {
            let prev = BackupState {
                service: Small::default(),
                gens: (0..4u32).map(|k| (k, u64::from(k))).collect(),
                next: Some(3),
                attempt: 1,
                restarts: 0,
                serving: None,
                rejoining: false,
            };
            let mut next = prev.clone();
            for (account, delta) in deposits {
                Service::apply(&mut next.service, &AccountsOp::Deposit { account, delta });
            }
            next.gens.insert(gen.0, gen.1);
            next.gens.remove(&1);
            next.next = Some(4);
            let mut b = prev.clone();
            Journaled::apply(&mut b, next.change_from(&prev));
            prop_assert_eq!(b, next);
        }
    }
}
