//! A node's durable storage: an append-only journal of checksummed records, each a
//! [`Journaled`] change against the previous save (O(change)), or a snapshot.
//!
//! Record layout: `len: u32 LE | crc32(payload): u32 LE | payload` where the payload is the
//! postcard encoding of a [`Record`]. Several saves made while a batch of events is handled are
//! appended together and forced once (group commit). At open, the records are read back until
//! the first torn or corrupt one, and the file is cut there (a crash mid-append loses only a
//! save whose messages never left the node: write-ahead). When the changes since the last
//! snapshot outgrow it, the journal is rewritten as one snapshot (to a temporary file, synced,
//! renamed over the old one, directory synced).

use crate::runtime::config::Durability;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;
use twosafe_models::journaled::Journaled;

/// A storage failure; the node stops rather than send a message whose save is not durable.
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
    /// A record that passed its checksum did not decode (a different protocol's journal?).
    #[error("journal {path}: record at offset {offset} does not decode: {message}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// The decoder's message.
        message: String,
    },
}

/// One journal record.
#[derive(Serialize, Deserialize)]
enum Record<D, C> {
    Snapshot(D),
    Change(C),
}

const JOURNAL: &str = "journal.log";
const HEADER: usize = 8;

/// What opening a journal found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Records read.
    pub records: u64,
    /// Bytes cut from a torn or corrupt tail.
    pub cut: u64,
}

/// An open journal.
pub struct Journal<D: Journaled> {
    dir: PathBuf,
    file: File,
    durability: Durability,
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

fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

impl<D: Journaled> Journal<D> {
    /// Opens (or creates) the journal in `dir` and returns the last saved value, if any.
    pub fn open(
        dir: &Path, durability: Durability,
    ) -> Result<(Journal<D>, Option<D>, Recovery), JournalError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(JOURNAL);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io(&path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io(&path))?;
        let mut rec = Recovery::default();
        let mut value: Option<D> = None;
        let (mut pos, mut snapshot_size, mut since) = (0usize, 0u64, 0u64);
        while bytes.len() - pos >= HEADER {
            let len =
                u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
                    as usize;
            let crc = u32::from_le_bytes([
                bytes[pos + 4],
                bytes[pos + 5],
                bytes[pos + 6],
                bytes[pos + 7],
            ]);
            let Some(payload) = bytes.get(pos + HEADER..pos + HEADER + len) else {
                break;
            };
            if crc32fast::hash(payload) != crc {
                break;
            }
            let record: Record<D, D::Change> =
                postcard::from_bytes(payload).map_err(|e| JournalError::Decode {
                    path: path.clone(),
                    offset: pos as u64,
                    message: e.to_string(),
                })?;
            let size = (HEADER + len) as u64;
            match record {
                Record::Snapshot(d) => {
                    value = Some(d);
                    snapshot_size = size;
                    since = 0;
                }
                Record::Change(c) => {
                    if let Some(v) = value.as_mut() {
                        v.apply(c);
                    }
                    since += size;
                }
            }
            rec.records += 1;
            pos += HEADER + len;
        }
        if pos < bytes.len() {
            rec.cut = (bytes.len() - pos) as u64;
            file.set_len(pos as u64).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io(&path))?;
        let journal = Journal {
            dir: dir.to_owned(),
            file,
            durability,
            last: value.clone(),
            since_snapshot: since,
            snapshot_size,
            buf: Vec::new(),
        };
        Ok((journal, value, rec))
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
        let payload =
            postcard::to_allocvec(&Record::<&D, D::Change>::Snapshot(last)).unwrap_or_default();
        let mut bytes = Vec::with_capacity(payload.len() + HEADER);
        frame(&payload, &mut bytes);
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&self.dir))?;
        self.file = OpenOptions::new().append(true).open(&path).map_err(io(&path))?;
        self.snapshot_size = bytes.len() as u64;
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
                .map(|i| Entry { client: Id::from(2), seq: i, op: i as u8, reply: 0 })
                .collect(),
            applied: n,
            restarts: 0,
            wipes: 0,
            incarnation: 0,
            joined: 0,
        }
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("twosafe-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn saves_come_back_and_each_costs_its_change() {
        let dir = tempdir("roundtrip");
        let (mut j, none, _) = Journal::<D>::open(&dir, Durability::Fsync).unwrap();
        assert!(none.is_none());
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
        let (_, back, rec) = Journal::<D>::open(&dir, Durability::Fsync).unwrap();
        assert_eq!(back, Some(durable(49)));
        assert_eq!((rec.records, rec.cut), (50, 0));
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_cut_and_the_rest_kept() {
        for damage in ["torn", "flipped"] {
            let dir = tempdir(damage);
            let (mut j, _, _) = Journal::<D>::open(&dir, Durability::Memory).unwrap();
            for n in 0..5 {
                j.save(&durable(n));
                j.commit().unwrap();
            }
            drop(j);
            let path = dir.join(JOURNAL);
            let mut bytes = std::fs::read(&path).unwrap();
            let len = bytes.len();
            if damage == "torn" {
                bytes.truncate(len - 3);
            } else {
                bytes[len - 2] ^= 0xff;
            }
            std::fs::write(&path, &bytes).unwrap();
            let (mut j, back, rec) = Journal::<D>::open(&dir, Durability::Memory).unwrap();
            assert_eq!(back, Some(durable(3)), "{damage}");
            assert!(rec.cut > 0, "{damage}");
            // Appending after the cut works and survives a reopen.
            j.save(&durable(7));
            j.commit().unwrap();
            drop(j);
            let (_, back, _) = Journal::<D>::open(&dir, Durability::Memory).unwrap();
            assert_eq!(back, Some(durable(7)), "{damage}");
        }
    }

    #[test]
    fn compaction_keeps_the_last_save() {
        let dir = tempdir("compact");
        let (mut j, _, _) = Journal::<D>::open(&dir, Durability::Memory).unwrap();
        for n in 0..3000 {
            j.save(&durable(n % 200));
            j.commit().unwrap();
        }
        drop(j);
        let size = std::fs::metadata(dir.join(JOURNAL)).unwrap().len();
        let (_, back, _) = Journal::<D>::open(&dir, Durability::Memory).unwrap();
        assert_eq!(back, Some(durable(2999 % 200)));
        assert!(size < 3 << 20, "compacted: {size} bytes");
    }
}
