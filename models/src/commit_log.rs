//! A server's committed history of change buffers, with its message table (Hagen & Alonso (OPERA) §3.1 for
//! the history; the logical-checkpointing patent's message table for the lookup by request). Shared by linear 2PC and
//! migration, which moves a process by the same change buffers.
//!
//! Two costs matter once the same role runs in the runtime for minutes: a stateright handler
//! returns a *new* state, so the history is copied at every step, and a new request is looked
//! up in the history to answer resends. The entries are therefore kept in a persistent vector
//! (`imbl::Vector`: a clone shares the structure, a push copies O(log n)) and indexed by
//! (client, request sequence number), first occurrence, so that both costs are O(log n).
//!
//! **Client sessions.** A request names its client id, the client's *session* and its
//! sequence number in that session. A client id may be used again (a second `twosafe load`),
//! by a new session with a larger number; the table keeps each client's latest session only, so
//! an earlier session's entries *expire* from it when a later one commits its first step (the
//! entries stay in the history). The server answers a request of an expired session with an
//! error, never with another request's reply and never by executing it (specs/linear-2pc.md).
//!
//! Logically it is the sequence of entries and nothing else: equality, order, hashing and the
//! serialised form (a plain sequence) ignore the table, which is a function of the entries.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use stateright::actor::Id;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// One committed navigation step: the change buffer of OPERA, in the service's vocabulary.
///
/// It names the request that caused it (client id, session and the client's request sequence
/// number in that session),
/// the update to apply and the reply the primary computed, so that a backup that takes over can
/// answer a resend of that request with the very same reply.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Entry<Op, Reply> {
    /// The client that sent the request.
    pub client: Id,
    /// The client's session (see the module's doc).
    pub session: u64,
    /// The client's sequence number of the request in that session.
    pub seq: u32,
    /// The state change (an update of the service).
    pub op: Op,
    /// The reply computed by the primary when it executed the step.
    pub reply: Reply,
}

impl<Op, Reply> Entry<Op, Reply> {
    /// Whether this step was caused by request `seq` of `client`'s session `session`.
    pub fn is_request(&self, client: Id, session: u64, seq: u32) -> bool {
        self.client == client && self.session == session && self.seq == seq
    }
}

/// The committed history of change buffers, indexed by request.
#[derive(Clone)]
pub struct CommitLog<Op: Clone, Reply: Clone> {
    entries: imbl::Vector<Entry<Op, Reply>>,
    /// The message table: client → its latest session.
    table: imbl::OrdMap<Id, Session>,
}

/// A client's latest session in the message table.
#[derive(Clone, Debug)]
struct Session {
    /// The session's number.
    number: u64,
    /// seq → position of the first entry for that request of the session.
    seqs: imbl::OrdMap<u32, u32>,
}

impl<Op: Clone, Reply: Clone> Default for CommitLog<Op, Reply> {
    fn default() -> Self {
        Self { entries: imbl::Vector::new(), table: imbl::OrdMap::new() }
    }
}

impl<Op: Clone, Reply: Clone> CommitLog<Op, Reply> {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in commit order.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = &Entry<Op, Reply>> + ExactSizeIterator + '_ {
        self.entries.iter()
    }

    /// The entry at `index`.
    pub fn get(&self, index: usize) -> Option<&Entry<Op, Reply>> {
        self.entries.get(index)
    }

    /// The last entry.
    pub fn last(&self) -> Option<&Entry<Op, Reply>> {
        self.entries.back()
    }

    /// The first entry caused by request `seq` of `client`'s session `session`, if that is
    /// the client's latest session: the message-table lookup, O(log n).
    pub fn find(&self, client: Id, session: u64, seq: u32) -> Option<&Entry<Op, Reply>> {
        let s = self.table.get(&client).filter(|s| s.number == session)?;
        s.seqs.get(&seq).and_then(|i| self.entries.get(*i as usize))
    }

    /// The latest session of `client` that has committed a step, if any.
    pub fn session(&self, client: Id) -> Option<u64> {
        self.table.get(&client).map(|s| s.number)
    }

    /// The first entry caused by request `seq` of `client`'s session `session`, expired or
    /// not: a scan, O(n) (the properties ask it of the model's short histories).
    pub fn scan(&self, client: Id, session: u64, seq: u32) -> Option<&Entry<Op, Reply>> {
        self.entries.iter().find(|e| e.is_request(client, session, seq))
    }

    /// Whether some request occurs twice: a scan, O(n log n).
    pub fn has_duplicates(&self) -> bool {
        let mut seen = std::collections::BTreeSet::new();
        !self.entries.iter().all(|e| seen.insert((e.client, e.session, e.seq)))
    }

    /// Appends an entry. A client's later session replaces its earlier one in the table (whose
    /// entries expire); an earlier session's entry leaves the table as it is.
    pub fn push(&mut self, entry: Entry<Op, Reply>) {
        let index = self.entries.len() as u32;
        match self.table.get_mut(&entry.client) {
            Some(s) if s.number == entry.session => {
                s.seqs.entry(entry.seq).or_insert(index);
            }
            Some(s) if s.number > entry.session => {}
            _ => {
                let seqs = imbl::OrdMap::unit(entry.seq, index);
                self.table.insert(entry.client, Session { number: entry.session, seqs });
            }
        }
        self.entries.push_back(entry);
    }

    /// Removes the last entry. O(n): the table is rebuilt (the entry may have expired an
    /// earlier session); only seeded bugs take entries back.
    pub fn pop(&mut self) -> Option<Entry<Op, Reply>> {
        let mut entries = self.entries.clone();
        let entry = entries.pop_back()?;
        *self = entries.into_iter().collect();
        Some(entry)
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Whether the first `n` entries of both histories are equal (`n` at most the shorter
    /// length).
    pub fn agrees_on_prefix(&self, other: &Self, n: usize) -> bool
    where
        Op: PartialEq,
        Reply: PartialEq,
    {
        self.entries.iter().take(n).eq(other.entries.iter().take(n))
    }

    /// The entries from position `from` on: O(log n + suffix), as a save's change must be
    /// (`iter().skip(from)` would walk the first `from` entries one by one).
    pub fn suffix(&self, from: usize) -> Vec<Entry<Op, Reply>> {
        self.range(from, self.len())
    }

    /// The entries at positions `from..to` (clamped to the history): O(log n + chunk).
    pub fn range(&self, from: usize, to: usize) -> Vec<Entry<Op, Reply>> {
        let to = to.min(self.len());
        let from = from.min(to);
        self.entries.skip(from).take(to - from).into_iter().collect()
    }

    /// Drops the entries from position `len` on (a no-op when the history is not longer;
    /// otherwise O(n), the table rebuilt, like [`Self::pop`]).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            *self = self.entries.take(len).into_iter().collect();
        }
    }
}

impl<Op: Clone, Reply: Clone> FromIterator<Entry<Op, Reply>> for CommitLog<Op, Reply> {
    fn from_iter<I: IntoIterator<Item = Entry<Op, Reply>>>(iter: I) -> Self {
        let mut log = Self::new();
        log.extend(iter);
        log
    }
}

impl<Op: Clone, Reply: Clone> Extend<Entry<Op, Reply>> for CommitLog<Op, Reply> {
    fn extend<I: IntoIterator<Item = Entry<Op, Reply>>>(&mut self, iter: I) {
        for e in iter {
            self.push(e);
        }
    }
}

impl<Op: Clone, Reply: Clone> From<Vec<Entry<Op, Reply>>> for CommitLog<Op, Reply> {
    fn from(entries: Vec<Entry<Op, Reply>>) -> Self {
        entries.into_iter().collect()
    }
}

impl<Op: Clone + fmt::Debug, Reply: Clone + fmt::Debug> fmt::Debug for CommitLog<Op, Reply> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter()).finish()
    }
}

impl<Op: Clone + PartialEq, Reply: Clone + PartialEq> PartialEq for CommitLog<Op, Reply> {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl<Op: Clone + Eq, Reply: Clone + Eq> Eq for CommitLog<Op, Reply> {}

impl<Op: Clone + PartialOrd, Reply: Clone + PartialOrd> PartialOrd for CommitLog<Op, Reply> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.entries.iter().partial_cmp(other.entries.iter())
    }
}

impl<Op: Clone + Ord, Reply: Clone + Ord> Ord for CommitLog<Op, Reply> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.entries.iter().cmp(other.entries.iter())
    }
}

impl<Op: Clone + Hash, Reply: Clone + Hash> Hash for CommitLog<Op, Reply> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As a slice hashes: the length, then the elements.
        self.entries.len().hash(state);
        for e in &self.entries {
            e.hash(state);
        }
    }
}

impl<Op: Clone + Serialize, Reply: Clone + Serialize> Serialize for CommitLog<Op, Reply> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.entries.iter())
    }
}

impl<'de, Op, Reply> Deserialize<'de> for CommitLog<Op, Reply>
where
    Op: Clone + Deserialize<'de>,
    Reply: Clone + Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Entry<Op, Reply>>::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(client: usize, session: u64, seq: u32) -> Entry<u8, u8> {
        Entry { client: Id::from(client), session, seq, op: seq as u8, reply: client as u8 }
    }

    proptest! {
        /// The message table answers exactly what a scan of the entries answers for each
        /// client's latest session, and nothing for an earlier one, through pushes (with
        /// duplicates, as the no-duplicate-detection bug makes, and sessions out of order) and
        /// pops.
        #[test]
        fn find_agrees_with_a_scan(steps in prop::collection::vec((0usize..3, 1u64..4, 0u32..4, any::<bool>()), 0..60)) {
            let mut log = CommitLog::new();
            let mut plain: Vec<Entry<u8, u8>> = Vec::new();
            for (c, session, s, pop) in steps {
                if pop {
                    prop_assert_eq!(log.pop(), plain.pop());
                } else {
                    log.push(entry(c, session, s));
                    plain.push(entry(c, session, s));
                }
                let dup = plain.iter().enumerate().any(|(i, e)| {
                    plain[..i].iter().any(|f| f.is_request(e.client, e.session, e.seq))
                });
                prop_assert_eq!(log.has_duplicates(), dup);
                for c in 0..3 {
                    let c = Id::from(c);
                    let latest = plain.iter().filter(|e| e.client == c).map(|e| e.session).max();
                    prop_assert_eq!(log.session(c), latest);
                    for session in 1..4 {
                        for s in 0..4 {
                            let scan = plain.iter().find(|e| e.is_request(c, session, s));
                            prop_assert_eq!(log.scan(c, session, s), scan);
                            let current = scan.filter(|_| latest == Some(session));
                            prop_assert_eq!(log.find(c, session, s), current);
                        }
                    }
                }
            }
            let bytes = postcard::to_allocvec(&log).unwrap();
            prop_assert_eq!(&bytes, &postcard::to_allocvec(&plain).unwrap());
            let back: CommitLog<u8, u8> = postcard::from_bytes(&bytes).unwrap();
            prop_assert_eq!(back, log);
        }
    }
}
