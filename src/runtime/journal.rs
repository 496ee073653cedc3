//! A node's durable storage: an append-only journal of checksummed records, each a
//! [`Journaled`] change against the previous save (O(change)), or a snapshot; the first record
//! says whose journal it is ([`Identity`]).
//!
//! Record layout: `len: u32 LE | crc32(payload): u32 LE | crc32(the 8 bytes before): u32 LE |
//! payload`, the payload the postcard encoding of a [`Record`]. Several saves made while a
//! batch of events is handled are appended together and forced once (group commit). When the
//! changes since the last snapshot outgrow it, the journal is rewritten as the identity and one
//! snapshot (to a temporary file, synced, renamed over the old one, directory synced).
//!
//! **Recovery tells a torn tail from damage** (the storage fault model of Alagappan et al.,
//! "Protocol-Aware Recovery for Consensus-Based Storage", FAST 2018, §3-4, in the small). At
//! open, records are read back in order:
//! - an incomplete *final* record (a partial header, a payload shorter than its checksummed
//!   length, or a zero-filled tail) is what a crash in the middle of an append leaves: it is
//!   cut, and [`Recovery::cut`] says how much; by the write-ahead rule, no message of that
//!   save left the node while the save was incomplete;
//! - anything else that does not check — a header or payload checksum that fails, a record that
//!   does not decode, a journal with no identity or another node's — is damage inside what the
//!   node may have acknowledged: [`JournalError::Damaged`] or [`JournalError::Foreign`], and the
//!   node does not start from it;
//! - a missing journal is [`JournalError::Missing`]: a first start needs [`format`], so an
//!   emptied or deleted data directory is never taken for a new node.

use crate::runtime::config::Durability;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;
use twosafe_models::journaled::Journaled;

/// A storage failure; the node stops (or does not start) rather than send a message whose
/// save is not durable, or serve from a journal it cannot trust.
#[derive(Debug, Error)]
pub enum JournalError {
    /// An IO error on the journal (full disk, unreadable directory, …).
    #[error("journal {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No journal: the node's storage is lost, or it was never formatted.
    #[error("no journal at {path}: this node's storage is lost, or it was never formatted")]
    Missing {
        /// The file that is not there.
        path: PathBuf,
    },
    /// A journal where one was to be created.
    #[error("journal {path} already exists")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A record that does not check, before the final one: damage inside what the node may
    /// have acknowledged.
    #[error("journal {path} is damaged at byte {offset} of {size}: {what}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Where the first bad record starts.
        offset: u64,
        /// The file's size.
        size: u64,
        /// What is wrong there.
        what: String,
    },
    /// The journal belongs to another node, cluster, protocol or service.
    #[error("journal {path} belongs to {found}, not to {expected}")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// Whose it is.
        found: Box<Identity>,
        /// Whose it should be.
        expected: Box<Identity>,
    },
}

/// Whose journal this is: its first record, written by [`format`], checked at every open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The journal's format ([`FORMAT`] when written by this build).
    pub format: u32,
    /// The cluster's name.
    pub cluster: String,
    /// The protocol.
    pub protocol: String,
    /// The replicated service.
    pub service: String,
    /// The node's id in the cluster.
    pub node: u32,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Identity { format, cluster, protocol, service, node } = self;
        write!(
            f,
            "node {node} of cluster {cluster:?} ({protocol}, {service}; journal format {format})"
        )
    }
}

/// The journal format this build writes and reads: 4 since a linear-2PC backup records the
/// restarted primaries' inquiries it answered in a new epoch (`reconfigured`); 3 since a
/// linear-2PC learner records that it holds its whole chunked catch-up (`caught_up`); 2 since change buffers name the client's
/// session (a journal of format 1, before sessions, has no format field and reads as damaged).
/// A journal of another format is refused at start, naming both.
pub const FORMAT: u32 = 4;

/// One journal record.
#[derive(Serialize, Deserialize)]
enum Record<D, C> {
    Identity(Identity),
    Snapshot(D),
    Change(C),
}

const JOURNAL: &str = "journal.log";
const HEADER: usize = 12;

/// What opening a journal found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Records read.
    pub records: u64,
    /// Bytes cut from a torn final record.
    pub cut: u64,
}

/// An open journal.
pub struct Journal<D: Journaled> {
    dir: PathBuf,
    file: File,
    durability: Durability,
    identity: Identity,
    /// The last value saved (what the next change is taken against).
    last: Option<D>,
    /// Bytes written since the last snapshot, and that snapshot's size.
    since_snapshot: u64,
    snapshot_size: u64,
    buf: Vec<u8>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io { path: path.to_owned(), source }
}

/// Appends one record of `payload` to `out`, header and checksums included (public for the
/// fuzz target, which frames arbitrary payloads to reach the decoder past the checksums).
pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let header_crc = crc32fast::hash(&out[start..start + 8]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The journal file of data directory `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(JOURNAL)
}

/// Whether `dir` holds a journal (of any state).
pub fn exists(dir: &Path) -> bool {
    path(dir).exists()
}

/// Creates `dir`'s journal holding only `identity`: a node's first start. Refuses if a journal
/// is there.
pub fn format(dir: &Path, identity: &Identity) -> Result<(), JournalError> {
    write_new::<(), ()>(dir, identity, None)
}

/// Writes a new journal, `identity` then `first` if given, synced, directory synced.
fn write_new<D: Serialize, C: Serialize>(
    dir: &Path, identity: &Identity, first: Option<&D>,
) -> Result<(), JournalError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = path(dir);
    let mut bytes = Vec::new();
    let payload = postcard::to_allocvec(&Record::<&D, C>::Identity(identity.clone()))
        .map_err(|e| JournalError::Io { path: path.clone(), source: std::io::Error::other(e) })?;
    frame(&payload, &mut bytes);
    if let Some(d) = first {
        let payload = postcard::to_allocvec(&Record::<&D, C>::Snapshot(d)).map_err(|e| {
            JournalError::Io { path: path.clone(), source: std::io::Error::other(e) }
        })?;
        frame(&payload, &mut bytes);
    }
    let mut f = OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            JournalError::Exists { path: path.clone() }
        } else {
            JournalError::Io { path: path.clone(), source: e }
        }
    })?;
    f.write_all(&bytes).map_err(io(&path))?;
    f.sync_all().map_err(io(&path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    Ok(())
}

/// Moves `dir`'s journal aside (to `journal.log.damaged-<unix seconds>`, kept for a post
/// mortem) and writes a new one holding `identity` and `first`: a node that lost its storage
/// starting again as what `first` says (a learner). Returns where the old journal went.
pub fn replace<D: Journaled>(
    dir: &Path, identity: &Identity, first: &D,
) -> Result<Option<PathBuf>, JournalError> {
    let path = path(dir);
    let mut aside = None;
    if path.exists() {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let to = dir.join(format!("{JOURNAL}.damaged-{secs}"));
        std::fs::rename(&path, &to).map_err(io(&path))?;
        aside = Some(to);
    }
    write_new::<D, D::Change>(dir, identity, Some(first))?;
    Ok(aside)
}

/// What a crash in the middle of appending a record of `payload` bytes leaves: its header and
/// all of its payload but the last byte (for fault injection: `twosafe chaos`).
pub fn torn_record(payload: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    frame(&vec![0x5a; payload.max(1)], &mut bytes);
    bytes.pop();
    bytes
}

/// How a record at `pos` of `bytes` reads.
enum Found<'a> {
    /// A whole record whose checksums hold.
    Whole(&'a [u8]),
    /// What a crash in the middle of the final append leaves.
    Torn,
    /// Damage.
    Bad(&'static str),
}

fn read_record(bytes: &[u8], pos: usize) -> Found<'_> {
    let rest = &bytes[pos..];
    if rest.len() < HEADER || rest.iter().all(|&b| b == 0) {
        return Found::Torn;
    }
    if crc32fast::hash(&rest[..8]) != u32_at(rest, 8) {
        return Found::Bad("a record header fails its checksum");
    }
    let len = u32_at(rest, 0) as usize;
    let Some(payload) = rest.get(HEADER..HEADER + len) else {
        return Found::Torn;
    };
    if crc32fast::hash(payload) != u32_at(rest, 4) {
        return Found::Bad("a record fails its checksum");
    }
    Found::Whole(payload)
}

/// What [`recover`] read from a journal's bytes.
#[derive(Debug)]
pub struct Recovered<D> {
    /// The last saved value (`None`: formatted, nothing saved yet).
    pub value: Option<D>,
    /// Where the whole records end; what follows is a torn final record, to be cut.
    pub end: usize,
    /// Records read.
    pub records: u64,
    /// The size of the last snapshot's record.
    pub snapshot_size: u64,
    /// The size of the change records after it.
    pub since: u64,
}

/// Why [`recover`] refused a journal's bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Unusable {
    /// A record that does not check, before the final one.
    Damaged {
        /// Where the first bad record starts.
        offset: usize,
        /// What is wrong there.
        what: String,
    },
    /// The journal is this other node's.
    Foreign(Box<Identity>),
}

/// Reads a journal's bytes back (the module's doc says how a torn tail is told from damage):
/// pure, so that it can be fuzzed (`fuzz/`), and what [`Journal::open`] does before it cuts a
/// torn tail.
pub fn recover<D: Journaled>(bytes: &[u8], identity: &Identity) -> Result<Recovered<D>, Unusable> {
    let damaged = |offset: usize, what: &str| Unusable::Damaged { offset, what: what.into() };
    let mut value: Option<D> = None;
    let mut identified = false;
    let (mut pos, mut records, mut snapshot_size, mut since) = (0usize, 0u64, 0u64, 0u64);
    while pos < bytes.len() {
        let payload = match read_record(bytes, pos) {
            Found::Whole(p) => p,
            Found::Torn => break,
            Found::Bad(what) => return Err(damaged(pos, what)),
        };
        let record: Record<D, D::Change> = postcard::from_bytes(payload)
            .map_err(|e| damaged(pos, &format!("a record does not decode ({e})")))?;
        let size = (HEADER + payload.len()) as u64;
        match record {
            Record::Identity(found) => {
                if identified || pos != 0 {
                    return Err(damaged(pos, "a second identity record"));
                }
                if &found != identity {
                    return Err(Unusable::Foreign(Box::new(found)));
                }
                identified = true;
            }
            _ if !identified => {
                return Err(damaged(pos, "the journal does not start with its identity"))
            }
            Record::Snapshot(d) => {
                value = Some(d);
                snapshot_size = size;
                since = 0;
            }
            Record::Change(c) => {
                let Some(v) = value.as_mut() else {
                    return Err(damaged(pos, "a change before any snapshot"));
                };
                v.apply(c);
                since += size;
            }
        }
        records += 1;
        pos += HEADER + payload.len();
    }
    if !identified {
        return Err(damaged(0, "no identity record (an empty or truncated journal)"));
    }
    Ok(Recovered { value, end: pos, records, snapshot_size, since })
}

impl<D: Journaled> Journal<D> {
    /// Opens the journal in `dir`, which must be `identity`'s, and returns the last saved value
    /// (`None` on a first start) and what recovery found. A torn final record is cut; any other
    /// damage is an error (see the module's doc).
    pub fn open(
        dir: &Path, durability: Durability, identity: &Identity,
    ) -> Result<(Journal<D>, Option<D>, Recovery), JournalError> {
        let path = path(dir);
        let mut file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(JournalError::Missing { path });
            }
            Err(e) => return Err(JournalError::Io { path, source: e }),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io(&path))?;
        let size = bytes.len() as u64;
        let found = recover::<D>(&bytes, identity).map_err(|e| match e {
            Unusable::Damaged { offset, what } => {
                JournalError::Damaged { path: path.clone(), offset: offset as u64, size, what }
            }
            Unusable::Foreign(found) => JournalError::Foreign {
                path: path.clone(),
                found,
                expected: Box::new(identity.clone()),
            },
        })?;
        let rec = Recovery { records: found.records, cut: (bytes.len() - found.end) as u64 };
        if rec.cut > 0 {
            file.set_len(found.end as u64).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io(&path))?;
        let journal = Journal {
            dir: dir.to_owned(),
            file,
            durability,
            identity: identity.clone(),
            last: found.value.clone(),
            since_snapshot: found.since,
            snapshot_size: found.snapshot_size,
            buf: Vec::new(),
        };
        Ok((journal, found.value, rec))
    }

    /// Queues a save: the change against the previous save (a snapshot if it is the first).
    pub fn save(&mut self, value: &D) {
        match &mut self.last {
            Some(prev) => {
                // O(change): the change is encoded, then our copy of the last save moves on
                // (by applying it, or by sharing a persistent value: never a deep clone).
                let change = value.change_from(prev);
                let record: Record<&D, &D::Change> = Record::Change(&change);
                let payload = postcard::to_allocvec(&record).unwrap_or_default();
                frame(&payload, &mut self.buf);
                prev.advance(change, value);
            }
            None => {
                let record: Record<&D, &D::Change> = Record::Snapshot(value);
                let payload = postcard::to_allocvec(&record).unwrap_or_default();
                frame(&payload, &mut self.buf);
                self.last = Some(value.clone());
            }
        }
    }

    /// How saves are made durable.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Whether saves are queued and not yet durable.
    pub fn dirty(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Writes the queued saves and, in `fsync` mode, forces them to disk: after it returns
    /// `Ok`, the messages of those steps may leave the node.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(JOURNAL);
        self.file.write_all(&self.buf).map_err(io(&path))?;
        if self.durability == Durability::Fsync {
            self.file.sync_data().map_err(io(&path))?;
        }
        self.since_snapshot += self.buf.len() as u64;
        self.buf.clear();
        if self.since_snapshot > (2 * self.snapshot_size).max(1 << 20) {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the journal as one snapshot of the last save.
    fn compact(&mut self) -> Result<(), JournalError> {
        let Some(last) = &self.last else {
            return Ok(());
        };
        let path = self.dir.join(JOURNAL);
        let tmp = self.dir.join("journal.log.tmp");
        let mut bytes = Vec::new();
        let identity = Record::<&D, D::Change>::Identity(self.identity.clone());
        frame(&postcard::to_allocvec(&identity).unwrap_or_default(), &mut bytes);
        let identity_size = bytes.len();
        let snapshot = Record::<&D, D::Change>::Snapshot(last);
        frame(&postcard::to_allocvec(&snapshot).unwrap_or_default(), &mut bytes);
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&self.dir))?;
        self.file = OpenOptions::new().append(true).open(&path).map_err(io(&path))?;
        self.snapshot_size = (bytes.len() - identity_size) as u64;
        self.since_snapshot = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twosafe_models::linear_2pc::msg::Entry;
    use twosafe_models::linear_2pc::server::{Durable, Role};
    use twosafe_models::linear_2pc::Level;
    use twosafe_models::stateright::actor::Id;

    type D = Durable<u8, u8>;

    fn durable(n: u32) -> D {
        Durable {
            role: Role::Backup,
            epoch: 0,
            level: Level::Critical,
            log: (0..n)
                .map(|i| Entry { client: Id::from(2), session: 1, seq: i, op: i as u8, reply: 0 })
                .collect(),
            applied: n,
            restarts: 0,
            wipes: 0,
            reconfigured: 0,
            incarnation: 0,
            joined: 0,
            caught_up: false,
        }
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("twosafe-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn me() -> Identity {
        Identity {
            format: FORMAT,
            cluster: "test".into(),
            protocol: "linear-2pc".into(),
            service: "counter".into(),
            node: 1,
        }
    }

    /// A formatted journal in a new directory `name`, opened.
    fn formatted(name: &str, durability: Durability) -> (PathBuf, Journal<D>) {
        let dir = tempdir(name);
        format(&dir, &me()).unwrap();
        let (j, none, rec) = Journal::<D>::open(&dir, durability, &me()).unwrap();
        assert!(none.is_none(), "a formatted journal holds no save");
        assert_eq!((rec.records, rec.cut), (1, 0));
        (dir, j)
    }

    /// A journal of five saves, `durable(0..5)`, closed; its directory.
    fn five_saves(name: &str) -> PathBuf {
        let (dir, mut j) = formatted(name, Durability::Memory);
        for n in 0..5 {
            j.save(&durable(n));
            j.commit().unwrap();
        }
        dir
    }

    fn reopen(dir: &Path) -> Result<(Journal<D>, Option<D>, Recovery), JournalError> {
        Journal::<D>::open(dir, Durability::Memory, &me())
    }

    #[test]
    fn saves_come_back_and_each_costs_its_change() {
        let (dir, mut j) = formatted("roundtrip", Durability::Fsync);
        let mut sizes = Vec::new();
        for n in 0..50 {
            let before = std::fs::metadata(dir.join(JOURNAL)).unwrap().len();
            j.save(&durable(n));
            j.commit().unwrap();
            sizes.push(std::fs::metadata(dir.join(JOURNAL)).unwrap().len() - before);
        }
        // O(change): the 50th save writes no more than the 2nd.
        assert!(sizes[49] <= sizes[1], "{sizes:?}");
        drop(j);
        let (_, back, rec) = reopen(&dir).unwrap();
        assert_eq!(back, Some(durable(49)));
        assert_eq!((rec.records, rec.cut), (51, 0));
    }

    /// What a crash in the middle of an append leaves — the final record shorter than its
    /// header says, a partial header, a zero-filled tail — is cut; the saves before it come
    /// back, and the journal takes new saves after the cut.
    #[test]
    fn a_torn_final_record_is_cut_and_the_rest_kept() {
        for (torn, back_to) in [("short", 3), ("header", 4), ("zeros", 4)] {
            let dir = five_saves(torn);
            let path = dir.join(JOURNAL);
            let mut bytes = std::fs::read(&path).unwrap();
            match torn {
                "short" => bytes.truncate(bytes.len() - 3),
                "header" => bytes.extend_from_slice(&[9, 0, 0, 0, 1]),
                _ => bytes.extend_from_slice(&[0; 40]),
            }
            std::fs::write(&path, &bytes).unwrap();
            let (mut j, back, rec) = reopen(&dir).unwrap();
            assert_eq!(back, Some(durable(back_to)), "{torn}");
            assert!(rec.cut > 0, "{torn}");
            j.save(&durable(7));
            j.commit().unwrap();
            drop(j);
            assert_eq!(reopen(&dir).unwrap().1, Some(durable(7)), "{torn}");
        }
    }

    /// Damage anywhere a save was complete — a flipped byte in a payload or in a length, in
    /// the middle or in the final record, garbage after the last record, an emptied journal —
    /// is refused with where it is; so are a missing journal and another node's, and nothing
    /// is cut or written.
    #[test]
    fn damage_a_missing_journal_and_another_nodes_are_refused_untouched() {
        type Damage = fn(&mut Vec<u8>);
        let cases: [(&str, Damage); 6] = [
            ("payload", |b| {
                let middle = b.len() / 2;
                b[middle] ^= 0x10
            }),
            ("length", |b| {
                let second = frame_len(b, 0);
                b[second] ^= 0x01;
            }),
            ("final", |b| {
                let n = b.len();
                b[n - 2] ^= 0xff
            }),
            ("garbage", |b| b.extend((1..=64u8).map(|i| i.wrapping_mul(37) | 1))),
            ("empty", |b| b.clear()),
            ("identity", |b| {
                b.drain(..frame_len(b, 0));
            }),
        ];
        for (name, damage) in cases {
            let dir = five_saves(name);
            let path = dir.join(JOURNAL);
            let mut bytes = std::fs::read(&path).unwrap();
            damage(&mut bytes);
            std::fs::write(&path, &bytes).unwrap();
            match reopen(&dir) {
                Err(JournalError::Damaged { offset, size, .. }) => {
                    assert_eq!(size, bytes.len() as u64, "{name}");
                    assert!(offset <= size, "{name}");
                }
                other => panic!("{name}: {:?}", other.map(|(_, v, r)| (v, r))),
            }
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}: left as it was");
        }
        let dir = five_saves("foreign");
        let other = Identity { node: 0, ..me() };
        let r = Journal::<D>::open(&dir, Durability::Memory, &other);
        assert!(matches!(r, Err(JournalError::Foreign { .. })), "{:?}", r.map(|x| x.1));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(reopen(&dir), Err(JournalError::Missing { .. })));
        format(&dir, &me()).unwrap();
        assert!(matches!(format(&dir, &me()), Err(JournalError::Exists { .. })));
    }

    /// The size of the record at `pos` (header and payload).
    fn frame_len(bytes: &[u8], pos: usize) -> usize {
        HEADER + u32_at(bytes, pos) as usize
    }

    #[test]
    fn replace_keeps_the_old_journal_aside_and_starts_from_the_given_save() {
        let dir = five_saves("replace");
        let aside = replace(&dir, &me(), &durable(2)).unwrap().unwrap();
        assert!(aside.exists());
        let (_, back, rec) = reopen(&dir).unwrap();
        assert_eq!((back, rec.records), (Some(durable(2)), 2));
        let post_mortem = tempdir("replace-aside");
        std::fs::create_dir_all(&post_mortem).unwrap();
        std::fs::copy(&aside, post_mortem.join(JOURNAL)).unwrap();
        assert_eq!(reopen(&post_mortem).unwrap().1, Some(durable(4)));
    }

    #[test]
    fn compaction_keeps_the_identity_and_the_last_save() {
        let (dir, mut j) = formatted("compact", Durability::Memory);
        for n in 0..3000 {
            j.save(&durable(n % 200));
            j.commit().unwrap();
        }
        drop(j);
        let size = std::fs::metadata(dir.join(JOURNAL)).unwrap().len();
        let (_, back, _) = reopen(&dir).unwrap();
        assert_eq!(back, Some(durable(2999 % 200)));
        assert!(size < 3 << 20, "compacted: {size} bytes");
        let other = Identity { cluster: "other".into(), ..me() };
        assert!(Journal::<D>::open(&dir, Durability::Memory, &other).is_err());
    }
}
