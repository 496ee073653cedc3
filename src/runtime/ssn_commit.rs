//! SSN-ordered commit for a backup that executes checkpointed requests on several threads
//! (the logical-checkpointing patent, Fig. 3D: "the backup could start executing the requests
//! in any order if it has parallel threads … the backup must commit … in
//! service-sequence-number order").
//!
//! Workers execute requests in any order and hand each result to [`SsnCommitter::executed`].
//! The committer keeps the executed-but-uncommitted results by SSN; whichever worker supplies
//! the next SSN to commit drains every consecutive ready result, calling `commit` for each in
//! SSN order while it holds the lock, so commits never overlap and never skip. This is the
//! runtime's counterpart of the model's `commit_in_order` (models/src/logical_checkpointing),
//! and the loom test below checks it under every interleaving of three workers.
//!
//! Used by nothing yet but that test: the runtime hosts linear 2PC and the fuzzy copy, whose
//! backups apply in order on one thread. The logical-checkpointing runtime binding will host
//! the patent's multi-threaded backup on it; until then the module is compiled for its test
//! only (`#[cfg(test)]` in `runtime/mod.rs`), so nothing is exported that nothing uses.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::ops::DerefMut;
use thiserror::Error;

/// A mutual-exclusion lock: `std::sync::Mutex` in the runtime, loom's in the loom test.
pub trait Lock<T> {
    /// The guard that gives access to the value.
    type Guard<'a>: DerefMut<Target = T>
    where
        Self: 'a;
    /// A lock around `value`.
    fn new(value: T) -> Self;
    /// Waits for the lock.
    fn lock(&self) -> Self::Guard<'_>;
}

impl<T> Lock<T> for std::sync::Mutex<T> {
    type Guard<'a>
        = std::sync::MutexGuard<'a, T>
    where
        T: 'a;
    fn new(value: T) -> Self {
        std::sync::Mutex::new(value)
    }
    fn lock(&self) -> Self::Guard<'_> {
        // A worker that panicked mid-commit leaves the map consistent (inserts and removes
        // are single operations), so the lock's poison carries no meaning here.
        std::sync::Mutex::lock(self).unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The committer's shared state: the next SSN to commit and the results waiting for it.
#[derive(Debug)]
pub struct Pending<T> {
    next: u64,
    ready: BTreeMap<u64, T>,
}

/// A result that cannot be accepted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CommitError {
    /// The SSN was committed already.
    #[error("SSN {ssn} is already committed (next to commit is {next})")]
    AlreadyCommitted {
        /// The SSN given.
        ssn: u64,
        /// The next SSN to commit.
        next: u64,
    },
    /// A result for this SSN is already waiting.
    #[error("SSN {0} was already executed")]
    Duplicate(u64),
}

/// Commits executed requests strictly in SSN order, whatever order they execute in.
pub struct SsnCommitter<T, L: Lock<Pending<T>> = std::sync::Mutex<Pending<T>>> {
    inner: L,
    _t: PhantomData<fn(T)>,
}

impl<T, L: Lock<Pending<T>>> SsnCommitter<T, L> {
    /// A committer whose next SSN to commit is `first`.
    pub fn new(first: u64) -> Self {
        SsnCommitter {
            inner: L::new(Pending { next: first, ready: BTreeMap::new() }),
            _t: PhantomData,
        }
    }

    /// The next SSN to commit.
    pub fn next(&self) -> u64 {
        self.inner.lock().next
    }

    /// Records that request `ssn` executed with `result`, then commits — through `commit`, in
    /// SSN order — every executed request whose predecessors are all committed. Returns how
    /// many this call committed (0 while a lower SSN is still executing).
    pub fn executed(
        &self, ssn: u64, result: T, mut commit: impl FnMut(u64, T),
    ) -> Result<usize, CommitError> {
        let mut guard = self.inner.lock();
        let p = guard.deref_mut();
        if ssn < p.next {
            return Err(CommitError::AlreadyCommitted { ssn, next: p.next });
        }
        if p.ready.contains_key(&ssn) {
            return Err(CommitError::Duplicate(ssn));
        }
        p.ready.insert(ssn, result);
        let mut n = 0;
        while let Some(r) = p.ready.remove(&p.next) {
            commit(p.next, r);
            p.next += 1;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_in_ssn_order_whatever_the_execution_order() {
        let c: SsnCommitter<&str> = SsnCommitter::new(5);
        let mut log = Vec::new();
        assert_eq!(c.executed(7, "c", |s, r| log.push((s, r))), Ok(0));
        assert_eq!(c.executed(6, "b", |s, r| log.push((s, r))), Ok(0));
        assert_eq!(c.executed(5, "a", |s, r| log.push((s, r))), Ok(3));
        assert_eq!(log, [(5, "a"), (6, "b"), (7, "c")]);
        assert_eq!(c.next(), 8);
        assert_eq!(
            c.executed(6, "x", |_, _| {}),
            Err(CommitError::AlreadyCommitted { ssn: 6, next: 8 })
        );
        assert_eq!(c.executed(9, "y", |_, _| {}), Ok(0));
        assert_eq!(c.executed(9, "y", |_, _| {}), Err(CommitError::Duplicate(9)));
    }

    impl<T> Lock<T> for loom::sync::Mutex<T> {
        type Guard<'a>
            = loom::sync::MutexGuard<'a, T>
        where
            T: 'a;
        fn new(value: T) -> Self {
            loom::sync::Mutex::new(value)
        }
        fn lock(&self) -> Self::Guard<'_> {
            loom::sync::Mutex::lock(self).unwrap_or_else(|e| e.into_inner())
        }
    }

    type LoomCommitter = SsnCommitter<u64, loom::sync::Mutex<Pending<u64>>>;

    /// Three workers execute SSNs 0, 1, 2 concurrently; in every interleaving loom can produce,
    /// the commits come out as 0, 1, 2, each exactly once.
    #[test]
    fn loom_three_workers_commit_in_ssn_order() {
        loom::model(|| {
            use loom::sync::{Arc, Mutex};
            let committer = Arc::new(LoomCommitter::new(0));
            let committed = Arc::new(Mutex::new(Vec::new()));
            let workers: Vec<_> = (0..3u64)
                .map(|ssn| {
                    let (c, log) = (committer.clone(), committed.clone());
                    loom::thread::spawn(move || {
                        c.executed(ssn, ssn * 10, |s, r| log.lock().unwrap().push((s, r))).unwrap();
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            assert_eq!(*committed.lock().unwrap(), [(0, 0), (1, 10), (2, 20)]);
            assert_eq!(committer.next(), 3);
        });
    }

    /// The seeded bug: commit each result as soon as it is executed. Loom must find an
    /// interleaving that commits out of SSN order.
    #[test]
    fn loom_catches_commit_in_execution_order() {
        let found = std::panic::catch_unwind(|| {
            loom::model(|| {
                use loom::sync::{Arc, Mutex};
                let committed = Arc::new(Mutex::new(Vec::new()));
                let workers: Vec<_> = (0..2u64)
                    .map(|ssn| {
                        let log = committed.clone();
                        loom::thread::spawn(move || log.lock().unwrap().push(ssn))
                    })
                    .collect();
                for w in workers {
                    w.join().unwrap();
                }
                assert_eq!(*committed.lock().unwrap(), [0, 1], "committed out of SSN order");
            });
        });
        assert!(found.is_err(), "loom did not find the out-of-order interleaving");
    }
}
