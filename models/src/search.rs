//! The safety search: a parallel breadth-first exploration that keeps what a verdict needs and
//! nothing more, as TLC's model checker does (Yu, Manolios & Lamport, "Model Checking TLA+
//! Specifications", CHARME 1999, §3: a set of state fingerprints and a queue of unexplored
//! states).
//!
//! stateright's BFS keeps, for every state seen, its fingerprint and its parent's (24 bytes in
//! a `DashMap`), and, for every state in the frontier, the whole path of action indices from
//! the initial state, copied for every successor generated. Both are there to print a
//! counterexample. A check whose every property holds prints none, so this search keeps:
//!
//! - **the visited set**: 64-bit fingerprints only (8 bytes each, in 256 independently locked
//!   and independently growing hash sets, so that growing one never copies the others);
//! - **the frontier**: the states of the current level, in chunks that a worker takes and
//!   drops as it expands them, and the next level's states as the workers produce them.
//!
//! Levels are explored one after another (all workers finish level `d` before any starts
//! `d + 1`), so the depth reported is the breadth-first depth whatever the number of threads,
//! and the counts are the ones stateright's BFS reports for the same model: every distinct
//! state within the boundary is expanded once, and every successor within the boundary is
//! counted once per transition.
//!
//! What it does not give is a path. When an `always` property fails, the caller searches
//! again with stateright's checker, which records paths, to print the shortest counterexample.
//! `eventually` properties are not judged here (see [`crate::fairness`]).
//!
//! Two distinct states with the same fingerprint would make the second one look visited: as
//! in TLC, the probability is about `n² / 2⁶⁵` for `n` distinct states (3 × 10⁻³ at 10⁸
//! states), and a missed state can only hide a violation, never invent one.
//!
//! **A search split over machines** ([`search_part`]): every part explores the same levels up
//! to the first that has at least [`SPLIT_WIDTH`] states per part (the *split level*; levels
//! are the same sets whoever explores them), then expands only the split level's states whose
//! fingerprint falls to it, and everything reachable from them. No part talks to another, so
//! any job runner can run them. Together they are complete: a state deeper than the split
//! level has a shortest path through some split-level state, whose part reaches it (a part
//! leaves unexpanded only split-level states, and a shortest path meets the split level once).
//! What they pay is overlap: a state reachable from two parts' split-level states is explored
//! by both. Each part returns its visited fingerprints; their union is the exact set of
//! distinct states, which is how the parts' results are merged (see `twosafe merge`).

use stateright::{Expectation, Model};
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, RwLock};

/// A state's 64-bit fingerprint (aHash with fixed keys, as stateright's own).
pub fn fingerprint<T: Hash>(t: &T) -> u64 {
    KEYS.hash_one(t)
}

/// The fingerprints' keys.
static KEYS: ahash::RandomState =
    ahash::RandomState::with_seeds(123_456_789_987_654_321, 98_765_432_123_456_789, 0, 0);

/// How far a running search has come, for a progress line (read while it runs).
#[derive(Debug, Default)]
pub struct Progress {
    /// States generated so far (with repeats).
    pub states: AtomicUsize,
    /// Distinct states so far.
    pub unique: AtomicUsize,
    /// The level being explored (the initial states are level 1).
    pub depth: AtomicUsize,
    /// Set by whoever watches the search (a limit reached): it stops soon after, without
    /// expanding what is left, and its outcome says so ([`Outcome::stopped`]).
    pub stop: AtomicBool,
    /// The search stops itself, as if [`Progress::stop`] were set, once it has this many
    /// distinct states (a watcher polling `unique` could miss a fast search's limit).
    pub state_limit: Option<usize>,
}

impl Progress {
    /// A progress that stops its search at `state_limit` distinct states, if any.
    pub fn limited(state_limit: Option<usize>) -> Self {
        Progress { state_limit, ..Progress::default() }
    }

    /// Whether the search should stop now.
    pub fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            || self.state_limit.is_some_and(|n| self.unique.load(Ordering::Relaxed) >= n)
    }
}

/// What a finished search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// States generated (with repeats), as stateright counts them.
    pub states: usize,
    /// Distinct states.
    pub unique: usize,
    /// The deepest level (the initial states are level 1).
    pub max_depth: usize,
    /// The `always` properties that some reachable state breaks and the `sometimes`
    /// properties that some reachable state satisfies, in the model's order.
    pub discovered: Vec<&'static str>,
    /// Whether the search was stopped ([`Progress::stop`]) before it had explored everything:
    /// then what it did not discover decides nothing.
    pub stopped: bool,
}

/// One of `of` parts of a split search (see the module's doc): `index` counts from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// Which part, from 0.
    pub index: usize,
    /// How many parts.
    pub of: usize,
}

/// A split search divides at the first level with at least this many states per part: enough
/// that the fingerprints spread the work evenly.
pub const SPLIT_WIDTH: usize = 64;

/// What one part of a split search found.
#[derive(Clone, Debug)]
pub struct PartOutcome {
    /// Its own counts and discoveries (the levels before the split level are in every part's).
    pub outcome: Outcome,
    /// The split level; none if the search ended before any level was wide enough (then the
    /// part explored everything, as each of the others did).
    pub split_depth: Option<usize>,
    /// The fingerprints of every state it saw, in no order.
    pub fingerprints: Vec<u64>,
}

/// How many states a worker takes from the frontier at a time.
const CHUNK: usize = 512;

/// How many independently locked parts the visited set has (a power of two).
const SHARDS: usize = 256;

/// The fingerprints seen.
struct Visited {
    shards: Vec<Mutex<HashSet<u64, Fingerprints>>>,
}

/// The hasher of a map or set keyed by fingerprints (which are their own hash).
pub type Fingerprints = BuildHasherDefault<Spread>;

impl Visited {
    fn new() -> Visited {
        Visited { shards: (0..SHARDS).map(|_| Mutex::default()).collect() }
    }

    /// Adds `fp`; whether it was new.
    fn insert(&self, fp: u64) -> bool {
        // Bits 40..48 choose the shard; the set hashes with the others (see `Spread`).
        let shard = &self.shards[(fp >> 40) as usize & (SHARDS - 1)];
        shard.lock().unwrap_or_else(|e| e.into_inner()).insert(fp)
    }

    /// Every fingerprint, in no order (each shard is freed as it is read).
    fn into_vec(self) -> Vec<u64> {
        let mut all = Vec::new();
        for shard in self.shards {
            all.extend(shard.into_inner().unwrap_or_else(|e| e.into_inner()));
        }
        all
    }
}

/// The hasher of the visited set: a fingerprint is already uniform, so it is its own hash.
/// (The table takes its buckets from the low bits and its tags from the top seven, neither of
/// which the shard's bits touch.)
#[derive(Default)]
pub struct Spread(u64);

impl Hasher for Spread {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Explores every state of `model` within its boundary, breadth first on `threads` threads,
/// judging its `always` and `sometimes` properties; `progress` follows it, and stops it.
///
/// The workers live for the whole search and meet at a barrier between levels. Each keeps the
/// states it generated and, at the next level, expands its own first (the allocator frees a
/// state fastest on the thread that allocated it), then helps the others with theirs.
pub fn search<M>(model: &M, threads: usize, progress: &Progress) -> Outcome
where
    M: Model + Sync,
    M::State: Hash + Send,
{
    explore(model, threads, progress, None).0
}

/// Part `part` of a search split over independent workers (see the module's doc), on
/// `threads` threads.
pub fn search_part<M>(model: &M, threads: usize, progress: &Progress, part: Part) -> PartOutcome
where
    M: Model + Sync,
    M::State: Hash + Send,
{
    let part = Part { of: part.of.max(1), index: part.index % part.of.max(1) };
    let (outcome, split_depth, visited) = explore(model, threads, progress, Some(part));
    PartOutcome { outcome, split_depth, fingerprints: visited.into_vec() }
}

/// The search, whole or one part of it: its outcome, the split level, the visited set.
fn explore<M>(
    model: &M, threads: usize, progress: &Progress, part: Option<Part>,
) -> (Outcome, Option<usize>, Visited)
where
    M: Model + Sync,
    M::State: Hash + Send,
{
    let threads = threads.max(1);
    let props = model.properties();
    let found: Vec<AtomicBool> = props.iter().map(|_| AtomicBool::new(false)).collect();
    let visited = Visited::new();
    let mut first: Vec<M::State> = Vec::new();
    let mut inits = 0;
    for s in model.init_states() {
        if model.within_boundary(&s) {
            inits += 1;
            if visited.insert(fingerprint(&s)) {
                first.push(s);
            }
        }
    }
    let firsts = first.len();
    progress.states.store(inits, Ordering::Relaxed);
    progress.unique.store(firsts, Ordering::Relaxed);
    // Per worker: the chunks of the level that it generated, how many have been taken, and
    // how many states it generated.
    let published: Vec<RwLock<Chunks<M::State>>> =
        (0..threads).map(|_| RwLock::default()).collect();
    let taken: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
    let sizes: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
    sizes[0].store(first.len(), Ordering::Relaxed);
    *published[0].write().unwrap_or_else(|e| e.into_inner()) = chunked(first);
    let barrier = Barrier::new(threads);
    // A worker that panics (a model's bug) still meets the others at the barriers, and then
    // they all stop; the panic is raised again once they have.
    let panicked: Mutex<Option<Box<dyn std::any::Any + Send>>> = Mutex::new(None);
    // Set only before the first barrier of a level and read only between its two, so every
    // worker reads the same: a stop asked for while a level is expanded ends the search
    // after that level's chunks in hand.
    let halted = AtomicBool::new(false);
    let work = |me: usize| {
        let (mut my_states, mut my_unique, mut depth) = (0, 0, 0);
        let mut actions = Vec::new();
        let mut mine = vec![false; props.len()];
        let mut failed = false;
        let mut split_depth = None;
        while !failed && sizes.iter().any(|n| n.load(Ordering::Relaxed) > 0) {
            depth += 1;
            if me == 0 {
                progress.depth.store(depth, Ordering::Relaxed);
            }
            // Every worker reads the same sizes here, so they all split at the same level.
            let level: usize = sizes.iter().map(|n| n.load(Ordering::Relaxed)).sum();
            let split = part.filter(|p| split_depth.is_none() && level >= SPLIT_WIDTH * p.of);
            if split.is_some() {
                split_depth = Some(depth);
            }
            let mut next = Vec::new();
            let expand = std::panic::AssertUnwindSafe(|| {
                for o in (0..threads).map(|k| (me + k) % threads) {
                    loop {
                        if progress.should_stop() {
                            halted.store(true, Ordering::Relaxed);
                            break;
                        }
                        let i = taken[o].fetch_add(1, Ordering::Relaxed);
                        let chunk = {
                            let chunks = published[o].read().unwrap_or_else(|e| e.into_inner());
                            let Some(chunk) = chunks.get(i) else { break };
                            let mut chunk = chunk.lock().unwrap_or_else(|e| e.into_inner());
                            std::mem::take(&mut *chunk)
                        };
                        let (before_states, before_unique) = (my_states, my_unique);
                        for state in chunk {
                            if split.is_some_and(|p| {
                                fingerprint(&state) % p.of as u64 != p.index as u64
                            }) {
                                continue;
                            }
                            judge(model, &props, &mut mine, &state);
                            model.actions(&state, &mut actions);
                            for action in actions.drain(..) {
                                let Some(succ) = model.next_state(&state, action) else { continue };
                                if !model.within_boundary(&succ) {
                                    continue;
                                }
                                my_states += 1;
                                if visited.insert(fingerprint(&succ)) {
                                    my_unique += 1;
                                    next.push(succ);
                                }
                            }
                        }
                        progress.states.fetch_add(my_states - before_states, Ordering::Relaxed);
                        progress.unique.fetch_add(my_unique - before_unique, Ordering::Relaxed);
                    }
                }
            });
            if let Err(p) = std::panic::catch_unwind(expand) {
                if let Ok(mut slot) = panicked.lock() {
                    slot.get_or_insert(p);
                }
            }
            // Everybody is done with this level's chunks before anybody replaces them.
            barrier.wait();
            // Between the barriers nobody runs the model, so every worker reads the same.
            failed =
                panicked.lock().map_or(true, |p| p.is_some()) || halted.load(Ordering::Relaxed);
            sizes[me].store(next.len(), Ordering::Relaxed);
            taken[me].store(0, Ordering::Relaxed);
            *published[me].write().unwrap_or_else(|e| e.into_inner()) = chunked(next);
            barrier.wait();
        }
        for (f, m) in found.iter().zip(&mine) {
            if *m {
                f.store(true, Ordering::Relaxed);
            }
        }
        (my_states, my_unique, depth, split_depth)
    };
    let parts: Vec<(usize, usize, usize, Option<usize>)> = if threads == 1 {
        vec![work(0)]
    } else {
        std::thread::scope(|scope| {
            let work = &work;
            let handles: Vec<_> = (0..threads).map(|t| scope.spawn(move || work(t))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    if let Some(p) = panicked.into_inner().ok().flatten() {
        std::panic::resume_unwind(p);
    }
    let outcome = Outcome {
        states: inits + parts.iter().map(|p| p.0).sum::<usize>(),
        unique: firsts + parts.iter().map(|p| p.1).sum::<usize>(),
        max_depth: parts.iter().map(|p| p.2).max().unwrap_or(0),
        discovered: discovered(&props, found.iter().map(|f| f.load(Ordering::Relaxed))),
        stopped: halted.into_inner(),
    };
    (outcome, parts.iter().find_map(|p| p.3), visited)
}

/// The names of the properties whose flag in `found` is set, in `props`' order.
pub(crate) fn discovered<M: Model>(
    props: &[stateright::Property<M>], found: impl IntoIterator<Item = bool>,
) -> Vec<&'static str> {
    props.iter().zip(found).filter(|(_, f)| *f).map(|(p, _)| p.name).collect()
}

/// A level's states in chunks, each for a worker to take whole.
type Chunks<S> = Vec<Mutex<Vec<S>>>;

/// `states` in chunks of [`CHUNK`].
fn chunked<S>(mut states: Vec<S>) -> Chunks<S> {
    let mut chunks = Vec::with_capacity(states.len() / CHUNK + 1);
    while !states.is_empty() {
        let rest = states.split_off(states.len().saturating_sub(CHUNK));
        chunks.push(Mutex::new(rest));
    }
    chunks
}

/// Notes in `found` the properties that `state` discovers (an `always` one it breaks, a
/// `sometimes` one it satisfies); one already found is not evaluated again.
pub(crate) fn judge<M: Model>(
    model: &M, props: &[stateright::Property<M>], found: &mut [bool], state: &M::State,
) {
    for (p, f) in props.iter().zip(found) {
        if !*f {
            *f = match p.expectation {
                Expectation::Always => !(p.condition)(model, state),
                Expectation::Sometimes => (p.condition)(model, state),
                Expectation::Eventually => false,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::{Checker, Property};

    /// A grid walk: from (0, 0), step right or up, within `n × n`; `(x, y)` is at depth
    /// `x + y + 1`, and every state but the top right has two successors unless on an edge.
    struct Grid(u8);

    impl Model for Grid {
        type State = (u8, u8);
        type Action = bool;
        fn init_states(&self) -> Vec<(u8, u8)> {
            vec![(0, 0)]
        }
        fn actions(&self, _: &(u8, u8), actions: &mut Vec<bool>) {
            actions.extend([true, false]);
        }
        fn next_state(&self, s: &(u8, u8), right: bool) -> Option<(u8, u8)> {
            let n = if right { (s.0 + 1, s.1) } else { (s.0, s.1 + 1) };
            (n.0 < self.0 && n.1 < self.0).then_some(n)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![
                Property::always("below the diagonal's end", |m: &Grid, s: &(u8, u8)| {
                    u16::from(s.0) + u16::from(s.1) < 2 * u16::from(m.0) - 2
                }),
                Property::sometimes("the corner", |m: &Grid, s: &(u8, u8)| s.0 == m.0 - 1),
                Property::sometimes("outside", |m: &Grid, s: &(u8, u8)| s.0 >= m.0),
                Property::always("in the grid", |m: &Grid, s: &(u8, u8)| s.1 < m.0),
            ]
        }
    }

    #[test]
    fn counts_and_discoveries_match_stateright_on_any_number_of_threads() {
        for threads in [1, 2, 3] {
            let out = search(&Grid(40), threads, &Progress::default());
            let sr = Grid(40).checker().spawn_bfs().join();
            assert_eq!(out.unique, 1600);
            assert_eq!((out.states, out.unique), (sr.state_count(), sr.unique_state_count()));
            assert_eq!(out.max_depth, 79);
            assert_eq!(out.discovered, ["below the diagonal's end", "the corner"]);
        }
    }

    /// A grid whose step out of (3, 3) panics: a bug in a model.
    struct Trap;

    impl Model for Trap {
        type State = (u8, u8);
        type Action = bool;
        fn init_states(&self) -> Vec<(u8, u8)> {
            Grid(10).init_states()
        }
        fn actions(&self, s: &(u8, u8), actions: &mut Vec<bool>) {
            Grid(10).actions(s, actions)
        }
        fn next_state(&self, s: &(u8, u8), right: bool) -> Option<(u8, u8)> {
            assert!(*s != (3, 3), "the model's bug");
            Grid(10).next_state(s, right)
        }
    }

    #[test]
    fn a_panicking_model_panics_the_search_instead_of_hanging_it() {
        // Repeated: the workers meet at barriers, and a race there would hang only sometimes.
        for threads in [1, 2, 3].repeat(10) {
            let run = std::panic::catch_unwind(|| search(&Trap, threads, &Progress::default()));
            let payload = run.expect_err("the model panics");
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"the model's bug"));
        }
    }

    #[test]
    fn the_parts_of_a_split_search_together_see_what_the_whole_search_sees() {
        let model = Grid(200);
        let (whole, none, visited) = explore(&model, 2, &Progress::default(), None);
        assert_eq!(none, None);
        let all: HashSet<u64> = visited.into_vec().into_iter().collect();
        assert_eq!(all.len(), 40_000);
        for of in [1, 2, 3] {
            let parts: Vec<PartOutcome> = (0..of)
                .map(|index| {
                    search_part(&model, 1 + index % 2, &Progress::default(), Part { index, of })
                })
                .collect();
            // Level k of the grid has k states: the first with 64 per part is level 64 × of.
            assert!(parts.iter().all(|p| p.split_depth == Some(64 * of)));
            let union: HashSet<u64> = parts.iter().flat_map(|p| p.fingerprints.clone()).collect();
            assert_eq!(union, all, "{of} parts");
            let mut found: Vec<&str> =
                parts.iter().flat_map(|p| p.outcome.discovered.clone()).collect();
            found.sort_unstable();
            found.dedup();
            let mut expected = whole.discovered.clone();
            expected.sort_unstable();
            assert_eq!(found, expected, "{of} parts");
            if of > 1 {
                // The split divides the work: no part explores everything.
                assert!(parts.iter().all(|p| p.outcome.unique < whole.unique), "{of} parts");
            }
        }
    }

    #[test]
    fn a_search_too_narrow_to_split_is_explored_whole_by_every_part() {
        let whole = search(&Grid(40), 1, &Progress::default());
        let part = search_part(&Grid(40), 1, &Progress::default(), Part { index: 1, of: 2 });
        assert_eq!((part.split_depth, &part.outcome), (None, &whole));
        assert_eq!(part.fingerprints.len(), 1600);
    }

    /// A grid that asks its own search to stop once it has generated `after` states.
    struct StopsItself(Grid, std::sync::Arc<Progress>, usize);

    impl Model for StopsItself {
        type State = (u8, u8);
        type Action = bool;
        fn init_states(&self) -> Vec<(u8, u8)> {
            self.0.init_states()
        }
        fn actions(&self, s: &(u8, u8), actions: &mut Vec<bool>) {
            self.0.actions(s, actions)
        }
        fn next_state(&self, s: &(u8, u8), right: bool) -> Option<(u8, u8)> {
            if self.1.states.load(Ordering::Relaxed) >= self.2 {
                self.1.stop.store(true, Ordering::Relaxed);
            }
            self.0.next_state(s, right)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![Property::sometimes("the corner", |m: &StopsItself, s: &(u8, u8)| {
                s.0 == m.0 .0 - 1
            })]
        }
    }

    #[test]
    fn a_stopped_search_says_so_and_explores_no_further() {
        for threads in [1, 2, 3] {
            let whole = search(&Grid(200), threads, &Progress::default());
            assert!(!whole.stopped);
            let progress = std::sync::Arc::new(Progress::default());
            let model = StopsItself(Grid(200), progress.clone(), 1_000);
            let out = search(&model, threads, &progress);
            assert!(out.stopped, "{threads} threads");
            assert!(out.unique < whole.unique / 4, "{threads} threads: {}", out.unique);
            assert!(out.discovered.is_empty());
            // Asked before it starts, it expands nothing.
            let before = Progress::default();
            before.stop.store(true, Ordering::Relaxed);
            let out = search(&Grid(200), threads, &before);
            assert!(out.stopped && out.unique == 1 && out.states == 1, "{out:?}");
        }
    }

    #[test]
    fn the_visited_set_tells_new_from_seen() {
        let v = Visited::new();
        assert!(v.insert(7) && v.insert(7 << 40) && v.insert(u64::MAX));
        assert!(!v.insert(7) && !v.insert(u64::MAX));
    }
}
