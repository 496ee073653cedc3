//! The check runner: runs catalogue configurations on all cores and turns the result into rows
//! (property, expectation, verdict, state counts, depth, seconds, throughput, memory) with a
//! readable counterexample for every violation. A configuration whose properties are all
//! expected to hold is explored by the safety search ([`twosafe_models::search`]) or, if it has
//! a liveness property, by the liveness check's graph ([`twosafe_models::fairness`]); a seeded
//! bug, or a violation either of those finds, by stateright's BFS, which keeps the paths a
//! counterexample is printed from (proofs.md, "The checker's engine").
//!
//! A configuration too big for one machine is split ([`Options::part`]): each part runs
//! [`search::search_part`] anywhere, writes its fingerprints to a file and its rows as JSON,
//! and [`merge`] turns the parts' rows into the configuration's verdicts.

use serde::{Deserialize, Serialize};
use stateright::{Checker, Expectation, HasDiscoveries, Path};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use twosafe_models::params::{ParamError, Params};
use twosafe_models::spec::{Expect, ModelSpec, ModelVisitor, VariantSpec};
use twosafe_models::trace::{shortest_of, Checkable};
use twosafe_models::{catalogue, search};

/// The verdict of the checker on one property.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The whole bounded state space was explored and no counterexample exists.
    Holds,
    /// A counterexample was found.
    Violated,
    /// The search stopped before it could decide.
    Unknown,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Holds => "holds",
            Verdict::Violated => "violated",
            Verdict::Unknown => "unknown",
        })
    }
}

/// One line of `twosafe check`: a (model, configuration, property) and what the checker found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    /// The model's name.
    pub model: String,
    /// The protocol variant (`correct` or a seeded bug).
    pub variant: String,
    /// The property.
    pub property: String,
    /// What the catalogue expects.
    pub expect: Expect,
    /// What the checker found.
    pub verdict: Verdict,
    /// States generated (with repeats).
    pub states: usize,
    /// Distinct states.
    pub unique_states: usize,
    /// The depth reached.
    pub max_depth: usize,
    /// Seconds the check took.
    pub secs: f64,
    /// Distinct states per second (`unique_states / secs`): the checker's throughput.
    pub unique_per_sec: f64,
    /// The growth of the process's peak resident memory during the check, per distinct state
    /// (Linux; absent where it cannot be read). Measured, not estimated: it counts the
    /// checker's visited set, its frontier, the liveness graph, and what the allocator keeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_state: Option<f64>,
    /// The catalogue configuration's label.
    pub config: String,
    /// Parameters that differ from the model's defaults.
    pub params: String,
    /// The counterexample, one step a line, where one was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Vec<String>>,
    /// The counterexample as the explorer's path: the initial state's index, then each step's
    /// index among the actions offered (see [`Row::explore_fragment`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<usize>>,
    /// For a liveness counterexample (a lasso): the index of the counterexample's first step
    /// that belongs to the cycle, which repeats for ever; equal to its length when there is
    /// no cycle (nothing but faults can happen after the last step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle_from: Option<usize>,
    /// For a row of one part of a split check: which part, and where its fingerprints are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<PartRecord>,
    /// The limit that stopped the check before it had explored everything ([`Limits`]), as
    /// a sentence: what it did not find decides nothing, so such verdicts are unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// What a part of a split check records beside its row, for [`merge`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartRecord {
    /// Which part, from 1.
    pub index: usize,
    /// Of how many.
    pub of: usize,
    /// The level at which the search split (none: too narrow to split; the part explored
    /// everything).
    pub split_depth: Option<usize>,
    /// The property's kind.
    pub kind: Kind,
    /// Whether this part found a state that discovers the property (breaks an `always`,
    /// satisfies a `sometimes`).
    pub found: bool,
    /// The file of the part's fingerprints, as an absolute path.
    pub fingerprints: PathBuf,
}

/// A property's kind, as a part of a split check records it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// In every reachable state.
    Always,
    /// In some reachable state.
    Sometimes,
    /// On every fair behaviour (not decided by a split check).
    Eventually,
    /// A seeded bug's property that the model does not have.
    Absent,
}

impl Kind {
    fn of(x: &Expectation) -> Kind {
        match x {
            Expectation::Always => Kind::Always,
            Expectation::Sometimes => Kind::Sometimes,
            Expectation::Eventually => Kind::Eventually,
        }
    }

    /// The verdict when some explored state discovers the property (`found`: breaks an
    /// `always`, satisfies a `sometimes`) or none does; an absence is a verdict only when
    /// the exploration was `whole` (all parts merged), not one part's.
    fn verdict(self, found: bool, whole: bool) -> Verdict {
        match (self, found, whole) {
            (Kind::Always, true, _) => Verdict::Violated,
            (Kind::Always, false, true) => Verdict::Holds,
            (Kind::Sometimes, true, _) => Verdict::Holds,
            (Kind::Sometimes, false, true) => Verdict::Violated,
            _ => Verdict::Unknown,
        }
    }
}

/// One part of a split check: which, and the file its fingerprints go to.
#[derive(Clone, Debug)]
pub struct Split {
    /// The part.
    pub part: search::Part,
    /// Where its fingerprints are written.
    pub fingerprints: PathBuf,
}

/// Why a check or a merge could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A parameter or variant is wrong.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// A fingerprint file could not be written or read.
    #[error("fingerprint file {path}: {source}")]
    Fingerprints {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A part's JSON output could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A fingerprint file is not one (a wrong or truncated file).
    #[error("fingerprint file {0}: not a twosafe fingerprint file (or truncated)")]
    NotFingerprints(PathBuf),
    /// A line of the parts' JSON is not a row of a split check's part.
    #[error("{file}:{line}: not a row of `twosafe check --part ... --json` ({why})")]
    NotAPart {
        /// The file.
        file: PathBuf,
        /// The line, from 1.
        line: usize,
        /// Why.
        why: String,
    },
    /// The parts of a configuration do not make a whole.
    #[error("{model} {config}: {why}")]
    Incomplete {
        /// The model.
        model: String,
        /// The configuration.
        config: String,
        /// What is missing or inconsistent.
        why: String,
    },
}

impl Row {
    /// Where `twosafe explore` shows the counterexample: the fragment of its URL (model,
    /// parameters, path, and a lasso's cycle), if there is a counterexample.
    pub fn explore_fragment(&self) -> Option<String> {
        let path = self.path.as_ref()?;
        let path: Vec<String> = path.iter().map(usize::to_string).collect();
        let set = if self.params.is_empty() {
            String::new()
        } else {
            format!("&s={}", self.params.replace(',', ";"))
        };
        // A lasso's cycle: the index of its first step (the page marks it and what follows).
        let cycle = self.cycle_from.map_or(String::new(), |c| format!("&c={c}"));
        Some(format!("#m={}{set}&p={}{cycle}", self.model, path.join(".")))
    }

    /// Whether the verdict is the expected one.
    pub fn as_expected(&self) -> bool {
        matches!(
            (self.expect, self.verdict),
            (Expect::Holds, Verdict::Holds) | (Expect::Violated, Verdict::Violated)
        )
    }
}

/// How to run checks.
#[derive(Clone, Debug)]
pub struct Options {
    /// Checker threads.
    pub threads: usize,
    /// Show a progress line for long checks.
    pub progress: bool,
    /// Check one part of a split search only (see [`merge`]).
    pub part: Option<Split>,
    /// When to give up on a configuration.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            progress: false,
            part: None,
            limits: Limits::default(),
        }
    }
}

/// When a check gives up on a configuration (none: never). A check that reaches one stops
/// soon after (it finishes the states in hand and frees what it holds), with the verdicts it
/// has (a violation found stays one; the rest are unknown) and [`Row::stopped`] saying which
/// limit it was.
///
/// The searches that keep no paths (every property expected to hold) and the liveness check
/// obey all three. stateright's BFS, which keeps the paths of a seeded bug's counterexample,
/// obeys the state limit only at the end of a batch of 1,500 states, and counts it with
/// repeats; the time limit only between batches of work that its threads share (with one
/// thread, hardly ever); and not the memory limit. A seeded bug's search stops when it has
/// found the bug, which is usually soon.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    /// Distinct states.
    pub states: Option<usize>,
    /// Seconds.
    pub secs: Option<f64>,
    /// The process's resident memory, in bytes.
    pub memory: Option<u64>,
}

/// A limit reached.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reached {
    States(usize),
    Secs(f64),
    Memory(u64),
}

impl std::fmt::Display for Reached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reached::States(n) => write!(f, "the state limit ({n} distinct states, --max-states)"),
            Reached::Secs(s) => write!(f, "the time limit ({s} s, --max-secs)"),
            Reached::Memory(b) => {
                write!(f, "the memory limit ({:.1} GB resident, --max-memory)", *b as f64 / 1e9)
            }
        }
    }
}

impl Limits {
    /// The first limit that a search `elapsed` into its run, with `unique` distinct states so
    /// far, has reached.
    fn reached(&self, elapsed: Duration, unique: usize) -> Option<Reached> {
        if let Some(n) = self.states.filter(|n| unique >= *n) {
            return Some(Reached::States(n));
        }
        if let Some(s) = self.secs.filter(|s| elapsed.as_secs_f64() >= *s) {
            return Some(Reached::Secs(s));
        }
        let memory = self.memory?;
        memory::resident().filter(|r| *r >= memory).map(|_| Reached::Memory(memory))
    }

    fn any(&self) -> bool {
        self.states.is_some() || self.secs.is_some() || self.memory.is_some()
    }
}

/// One property's result: name, expectation, verdict, counterexample, and where a lasso's
/// cycle starts in it.
type RunRow = (String, Expect, Verdict, Option<Told>, Option<usize>);

/// A counterexample: its steps, one a line, and the same path as the explorer's indices.
#[derive(Clone, Debug)]
struct Told {
    steps: Vec<String>,
    path: Option<Vec<usize>>,
}

impl Told {
    fn of<M: Checkable>(model: &M, path: PathOf<M>) -> Told {
        Told { steps: model.narrate(&path), path: crate::explore::indices(model, path) }
    }
}

/// The result of one model run, before it is labelled.
struct Run {
    rows: Vec<RunRow>,
    states: usize,
    unique_states: usize,
    max_depth: usize,
    secs: f64,
    /// The peak resident memory's growth during the run, in bytes.
    grown: Option<u64>,
    /// For a part of a split check: per row, its record but for the fingerprints' file; and
    /// the fingerprints.
    part: Option<(Vec<PartRecord>, Vec<u64>)>,
    /// The limit that stopped it.
    stopped: Option<Reached>,
}

struct RunVisitor<'a> {
    spec: &'a ModelSpec,
    config: &'a str,
    variant: &'static VariantSpec,
    opts: &'a Options,
    label: String,
}

impl ModelVisitor for RunVisitor<'_> {
    type Output = Run;

    fn visit<M: Checkable>(self, model: M) -> Run {
        // A leads-to's trigger is part of its property, not a row of its own.
        let props: Vec<_> = model
            .properties()
            .into_iter()
            .filter(|p| !twosafe_models::fairness::is_trigger(p.name))
            .map(|p| {
                let e = twosafe_models::spec::expect(self.spec, self.variant, self.config, p.name);
                (p.name, p.expectation, e)
            })
            .collect();
        // Expected violations that the model cannot even express are reported as unknown.
        let mut rows_extra: Vec<_> = self
            .variant
            .breaks
            .iter()
            .filter(|b| !props.iter().any(|(n, _, _)| n == *b))
            .map(|b| (b.to_string(), Expect::Violated, Verdict::Unknown, None, None))
            .collect();
        if let Some(split) = &self.opts.part {
            return self.part_run(&model, &props, rows_extra, split.part);
        }
        // `eventually` properties are judged under weak fairness on the whole graph
        // (twosafe_models::fairness), not by stateright, which sees terminal states only.
        let eventually = |x: &Expectation| *x == Expectation::Eventually;
        let wanted: BTreeSet<&'static str> = props
            .iter()
            .filter(|(_, x, e)| *e == Some(Expect::Violated) && !eventually(x))
            .map(|(n, _, _)| *n)
            .collect();
        // The row's seconds and memory count both searches.
        let base = memory::reset_peak();
        let start = Instant::now();
        let mut explored = None;
        let mut stopped = None;
        let fair = props.iter().any(|(_, x, e)| eventually(x) && e.is_some()).then(|| {
            let (report, reached) = self
                .with_progress(start, |p| twosafe_models::fairness::check(&model, FAIR_LIMIT, p));
            stopped = reached.filter(|_| report.safety.stopped);
            if report.complete || stopped.is_some() {
                explored = Some(report.safety.clone());
            }
            let m = &model;
            report
                .verdicts
                .into_iter()
                .map(|(name, lasso)| {
                    // A lasso that an action cut off by the bound could have left is no
                    // verdict: the bound may have made it.
                    let verdict = match (&lasso, report.complete) {
                        (_, false) => Verdict::Unknown,
                        (Some(l), true) if l.at_bound => Verdict::Unknown,
                        (Some(_), true) => Verdict::Violated,
                        (None, true) => Verdict::Holds,
                    };
                    (name, verdict, lasso.map(|l| narrate_lasso(m, &l)))
                })
                .collect::<Vec<_>>()
        });
        // Where every property is expected to hold, the fast search decides (no paths kept),
        // or the liveness check's exploration, which has judged every state already; a search
        // for a seeded bug, or a violation found without a path, needs a path, and
        // stateright's BFS keeps one.
        // A check stopped by a limit searches no further, for a path or anything else.
        // Where the protocol is expected both to keep some properties and to violate others
        // (what it gives up), the exhaustive search decides and counts, and stateright's BFS
        // then looks for the violations' paths only.
        let mixed = !wanted.is_empty()
            && props.iter().any(|(_, x, e)| *e == Some(Expect::Holds) && !eventually(x));
        let fast = (wanted.is_empty() || mixed || stopped.is_some())
            .then(|| match explored {
                Some(outcome) => Safety::from(outcome),
                None => {
                    let (safety, reached) = self.fast_search(&model, start);
                    stopped = reached;
                    safety
                }
            })
            .filter(|s| {
                stopped.is_some()
                    || mixed
                    || !props
                        .iter()
                        .any(|(n, x, e)| e.is_some() && is_always(x) && s.found.contains_key(n))
            });
        let safety = match fast {
            Some(s) if mixed && stopped.is_none() => {
                let violated: BTreeSet<&'static str> = props
                    .iter()
                    .filter(|(n, x, e)| e.is_some() && is_always(x) && s.found.contains_key(n))
                    .map(|(n, _, _)| *n)
                    .collect();
                // The exhaustive search has decided every verdict and counted the states; this
                // search only fetches paths for the violations it found, and stops once it has
                // them all. A limit it reaches changes no verdict, so it is not reported.
                let (mut paths, _) = self.path_search(&model, &violated, start);
                let found = s.found.into_keys().map(|n| (n, paths.found.remove(n).flatten()));
                Safety { found: found.collect(), ..s }
            }
            Some(s) => s,
            None => {
                let (safety, reached) = self.path_search(&model, &wanted, start);
                stopped = reached;
                safety
            }
        };
        let secs = start.elapsed().as_secs_f64();
        let mut rows = Vec::new();
        for (name, expectation, expect) in props {
            let Some(expect) = expect else { continue };
            if let Some((_, verdict, trace)) =
                fair.iter().flatten().find(|(n, _, _)| eventually(&expectation) && *n == name)
            {
                let (trace, cycle) = trace.clone().unzip();
                rows.push((name.to_string(), expect, *verdict, trace, cycle));
                continue;
            }
            let discovery = safety.found.get(name);
            let verdict = match (&expectation, &discovery) {
                (Expectation::Sometimes, Some(_)) => Verdict::Holds,
                (Expectation::Sometimes, None) if safety.exhaustive => Verdict::Violated,
                (_, Some(_)) => Verdict::Violated,
                (_, None) if safety.exhaustive => Verdict::Holds,
                _ => Verdict::Unknown,
            };
            let trace = match (&expectation, discovery) {
                (Expectation::Sometimes, _) => None,
                (_, Some(Some(path))) => {
                    Some(Told::of(&model, shortest_of(&model, name, path.clone())))
                }
                _ => None,
            };
            rows.push((name.to_string(), expect, verdict, trace, None));
        }
        rows.append(&mut rows_extra);
        Run {
            rows,
            states: safety.states,
            unique_states: safety.unique,
            max_depth: safety.max_depth,
            secs,
            grown: base.zip(memory::peak()).map(|(b, p)| p.saturating_sub(b)),
            part: None,
            stopped,
        }
    }
}

/// A path of model `M`.
type PathOf<M> = Path<<M as stateright::Model>::State, <M as stateright::Model>::Action>;

/// What a safety search found: counts, depth, and per property discovered (a broken `always`,
/// a satisfied `sometimes`) the path to it where the search keeps paths.
struct Safety<M: Checkable> {
    found: HashMap<&'static str, Option<PathOf<M>>>,
    /// Whether the search explored everything (so an absent discovery is a verdict).
    exhaustive: bool,
    states: usize,
    unique: usize,
    max_depth: usize,
}

impl<M: Checkable> From<search::Outcome> for Safety<M> {
    fn from(outcome: search::Outcome) -> Self {
        Safety {
            exhaustive: !outcome.stopped,
            found: outcome.discovered.into_iter().map(|n| (n, None)).collect(),
            states: outcome.states,
            unique: outcome.unique,
            max_depth: outcome.max_depth,
        }
    }
}

fn is_always(x: &Expectation) -> bool {
    *x == Expectation::Always
}

impl RunVisitor<'_> {
    /// A progress line for a long check (none if progress is off).
    fn progress_bar(&self) -> Option<indicatif::ProgressBar> {
        self.opts.progress.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar
        })
    }

    /// Shows the counts on `bar` once the check has run for two seconds.
    fn show(&self, bar: &indicatif::ProgressBar, start: Instant, counts: (usize, usize, usize)) {
        if start.elapsed() > Duration::from_secs(2) {
            let (states, unique, depth) = counts;
            bar.set_message(format!(
                "{}: {states} states, {unique} unique, depth {depth}",
                self.label
            ));
            bar.tick();
        }
    }

    /// The whole state space by [`twosafe_models::search`] on every thread: counts and
    /// discoveries, no paths; and the limit that stopped it, if one did.
    fn fast_search<M: Checkable>(&self, model: &M, start: Instant) -> (Safety<M>, Option<Reached>) {
        let threads = self.opts.threads;
        let (outcome, reached) = self.with_progress(start, |p| search::search(model, threads, p));
        let stopped = reached.filter(|_| outcome.stopped);
        (Safety::from(outcome), stopped)
    }

    /// Runs `search` with a progress line that follows it, and stops it (by
    /// [`search::Progress::stop`]) when it reaches one of the [`Limits`], which it returns.
    /// `start` is when the configuration's check began: its time limit counts from there.
    fn with_progress<T: Send>(
        &self, start: Instant, search: impl FnOnce(&search::Progress) -> T + Send,
    ) -> (T, Option<Reached>) {
        let limits = self.opts.limits;
        let progress = search::Progress::limited(limits.states);
        let bar = self.progress_bar();
        let mut reached = None;
        let outcome = std::thread::scope(|scope| {
            let run = scope.spawn(|| search(&progress));
            while (bar.is_some() || limits.any()) && !run.is_finished() {
                // Looks every 100 ms, but sees the end within a millisecond: a short search's
                // seconds are its own, not the watcher's.
                for _ in 0..100 {
                    if run.is_finished() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                let counts = (
                    progress.states.load(Ordering::Relaxed),
                    progress.unique.load(Ordering::Relaxed),
                    progress.depth.load(Ordering::Relaxed),
                );
                if reached.is_none() {
                    reached = limits.reached(start.elapsed(), counts.1);
                    if reached.is_some() {
                        progress.stop.store(true, Ordering::Relaxed);
                    }
                }
                if let Some(bar) = &bar {
                    self.show(bar, start, counts);
                }
            }
            run.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        // A search that stopped itself at the state limit before a poll saw it.
        let unique = progress.unique.load(Ordering::Relaxed);
        (outcome, reached.or_else(|| limits.reached(start.elapsed(), unique)))
    }

    /// One part of a split check: what the part alone can say of each property (an `always`
    /// it breaks is violated, a `sometimes` it satisfies holds; the rest is unknown until
    /// [`merge`]), and its fingerprints.
    fn part_run<M: Checkable>(
        &self, model: &M, props: &[(&'static str, Expectation, Option<Expect>)],
        mut rows_extra: Vec<RunRow>, part: search::Part,
    ) -> Run {
        let base = memory::reset_peak();
        let start = Instant::now();
        let threads = self.opts.threads;
        let (out, reached) =
            self.with_progress(start, |p| search::search_part(model, threads, p, part));
        let secs = start.elapsed().as_secs_f64();
        let record = |kind, found| PartRecord {
            index: part.index + 1,
            of: part.of,
            split_depth: out.split_depth,
            kind,
            found,
            fingerprints: PathBuf::new(),
        };
        let mut rows = Vec::new();
        let mut records = Vec::new();
        for (name, expectation, expect) in props {
            let Some(expect) = expect else { continue };
            let found = out.outcome.discovered.contains(name);
            let kind = Kind::of(expectation);
            rows.push((name.to_string(), *expect, kind.verdict(found, false), None, None));
            records.push(record(kind, found));
        }
        // A seeded bug's property that the model does not have stays unknown.
        records.extend(rows_extra.iter().map(|_| record(Kind::Absent, false)));
        rows.append(&mut rows_extra);
        Run {
            rows,
            states: out.outcome.states,
            unique_states: out.outcome.unique,
            max_depth: out.outcome.max_depth,
            secs,
            grown: base.zip(memory::peak()).map(|(b, p)| p.saturating_sub(b)),
            stopped: reached.filter(|_| out.outcome.stopped),
            part: Some((records, out.fingerprints)),
        }
    }

    /// stateright's BFS, which keeps a path to every discovery. A search for seeded bugs
    /// (`wanted`) runs on one thread, so that it finds a shortest counterexample, and the same
    /// one every time, and stops when it has them all; otherwise it uses every thread.
    fn path_search<M: Checkable>(
        &self, model: &M, wanted: &BTreeSet<&'static str>, start: Instant,
    ) -> (Safety<M>, Option<Reached>) {
        let mut builder = if wanted.is_empty() {
            model.clone().checker().threads(self.opts.threads)
        } else {
            model.clone().checker().threads(1).finish_when(HasDiscoveries::AllOf(wanted.clone()))
        };
        let limits = self.opts.limits;
        if let Some(n) = limits.states {
            builder = builder.target_state_count(n);
        }
        if let Some(secs) = limits.secs {
            builder =
                builder.timeout(Duration::from_secs_f64(secs).saturating_sub(start.elapsed()));
        }
        let checker = builder.spawn_bfs();
        let bar = self.progress_bar();
        // Without a progress line, just wait; with one, poll (a poll costs up to 100 ms).
        while bar.is_some() && !checker.is_done() {
            std::thread::sleep(Duration::from_millis(100));
            if let Some(bar) = &bar {
                let counts =
                    (checker.state_count(), checker.unique_state_count(), checker.max_depth());
                self.show(bar, start, counts);
            }
        }
        let checker = checker.join();
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let found_all_wanted = wanted.iter().all(|w| checker.discovery(w).is_some());
        // Stopped by a limit, unless it stopped because it had found what it looked for (it
        // cannot tell which when both came at once: then unknown, the safe side).
        let reached = if !wanted.is_empty() && found_all_wanted {
            None
        } else {
            (limits.states.filter(|n| checker.state_count() >= *n).map(Reached::States)).or_else(
                || limits.secs.filter(|s| start.elapsed().as_secs_f64() >= *s).map(Reached::Secs),
            )
        };
        let safety = Safety {
            found: checker.discoveries().into_iter().map(|(n, p)| (n, Some(p))).collect(),
            exhaustive: reached.is_none() && (wanted.is_empty() || !found_all_wanted),
            states: checker.state_count(),
            unique: checker.unique_state_count(),
            max_depth: checker.max_depth(),
        };
        (safety, reached)
    }
}

/// The process's resident memory, as Linux reports it in /proc (nothing elsewhere).
pub mod memory {
    /// Resets the peak resident set size to the current size (Linux 4.0 and later:
    /// `clear_refs` value 5) and returns it, in bytes.
    pub fn reset_peak() -> Option<u64> {
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
        peak()
    }

    /// The resident set size now, in bytes.
    pub fn resident() -> Option<u64> {
        field("VmRSS:")
    }

    /// Three quarters of the memory available now (free, or freeable), in bytes.
    pub fn three_quarters_available() -> Option<u64> {
        let info = std::fs::read_to_string("/proc/meminfo").ok()?;
        let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024 / 4 * 3)
    }

    /// The peak resident set size since the last reset, in bytes.
    pub fn peak() -> Option<u64> {
        field("VmHWM:")
    }

    /// A size in /proc/self/status, in bytes.
    fn field(name: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }
}

/// Where `twosafe explore` serves by default.
const EXPLORER: &str = "http://127.0.0.1:3000/";

/// The most distinct states the liveness check explores (it keeps the whole graph).
const FAIR_LIMIT: usize = 4_000_000;

/// A lasso told as a message sequence, and the index of its cycle's first step.
fn narrate_lasso<M: Checkable>(
    model: &M, lasso: &twosafe_models::fairness::Lasso<M>,
) -> (Told, usize) {
    match lasso.path(model) {
        Some(path) => (Told::of(model, path), lasso.stem.len()),
        None => {
            let steps = vec!["(the counterexample could not be replayed)".into()];
            (Told { steps, path: None }, 1)
        }
    }
}

/// Runs `model` with `params` (a catalogue configuration labelled `config`); with
/// [`Options::part`], one part of it, whose fingerprints are written to the part's file.
pub fn run(
    model: &ModelSpec, config: &str, params: &Params, opts: &Options,
) -> Result<Vec<Row>, CheckError> {
    let variant = model.variant(params).ok_or_else(|| ParamError::BadValue {
        name: "variant".into(),
        value: params.choice("variant").unwrap_or("").into(),
        expected: "a variant of the model".into(),
    })?;
    let label = format!("{} {config}", model.name);
    let visitor = RunVisitor { spec: model, config, variant, opts, label };
    let mut run = catalogue::visit(params, visitor)?;
    let diff = params.diff(&model.defaults());
    let mut records = Vec::new();
    if let (Some(split), Some((mut r, fingerprints))) = (&opts.part, run.part.take()) {
        let path = fingerprints::write(&split.fingerprints, &fingerprints)?;
        for record in &mut r {
            record.fingerprints = path.clone();
        }
        records = r;
    }
    let mut records = records.into_iter();
    Ok(run
        .rows
        .into_iter()
        .map(|(property, expect, verdict, told, cycle_from)| Row {
            model: model.name.to_string(),
            variant: variant.name.to_string(),
            property,
            expect,
            verdict,
            states: run.states,
            unique_states: run.unique_states,
            max_depth: run.max_depth,
            secs: run.secs,
            unique_per_sec: run.unique_states as f64 / run.secs.max(1e-9),
            bytes_per_state: run
                .grown
                .filter(|_| run.unique_states > 0)
                .map(|g| g as f64 / run.unique_states as f64),
            config: config.to_string(),
            params: diff.clone(),
            path: told.as_ref().and_then(|t| t.path.clone()),
            counterexample: told.map(|t| t.steps),
            cycle_from,
            part: records.next(),
            stopped: run.stopped.map(|r| r.to_string()),
        })
        .collect())
}

/// The file format of a part's fingerprints: a magic line, then each fingerprint as eight
/// little-endian bytes.
mod fingerprints {
    use super::CheckError;
    use std::io::{Read, Write};
    use std::path::{Path, PathBuf};

    const MAGIC: &[u8; 8] = b"TSFP0001";

    /// Writes `fps` to `path`; the file's absolute path.
    pub fn write(path: &Path, fps: &[u64]) -> Result<PathBuf, CheckError> {
        let err = |source| CheckError::Fingerprints { path: path.to_path_buf(), source };
        let file = std::fs::File::create(path).map_err(err)?;
        let mut out = std::io::BufWriter::new(file);
        out.write_all(MAGIC).map_err(err)?;
        for fp in fps {
            out.write_all(&fp.to_le_bytes()).map_err(err)?;
        }
        out.into_inner().map_err(|e| err(e.into_error()))?.sync_all().map_err(err)?;
        std::fs::canonicalize(path).map_err(err)
    }

    /// Adds the fingerprints in `path` to `into`; how many the file holds.
    pub fn read_into(
        path: &Path,
        into: &mut std::collections::HashSet<u64, twosafe_models::search::Fingerprints>,
    ) -> Result<usize, CheckError> {
        let err = |source| CheckError::Fingerprints { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(err)?;
        let mut input = std::io::BufReader::new(file);
        let mut magic = [0; 8];
        if input.read_exact(&mut magic).is_err() || &magic != MAGIC {
            return Err(CheckError::NotFingerprints(path.to_path_buf()));
        }
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes).map_err(err)?;
        if bytes.len() % 8 != 0 {
            return Err(CheckError::NotFingerprints(path.to_path_buf()));
        }
        into.reserve(bytes.len() / 8);
        for fp in bytes.chunks_exact(8) {
            let mut b = [0; 8];
            b.copy_from_slice(fp);
            into.insert(u64::from_le_bytes(b));
        }
        Ok(bytes.len() / 8)
    }
}

/// What [`merge`] says of one split configuration, beside its rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeSummary {
    /// The model.
    pub model: String,
    /// The configuration.
    pub config: String,
    /// How many parts.
    pub parts: usize,
    /// The level the search split at.
    pub split_depth: Option<usize>,
    /// Distinct states: the union of the parts' fingerprints.
    pub unique: usize,
    /// The parts' distinct states added up (what they explored, overlap included).
    pub explored: usize,
}

/// Merges the rows of a split check's parts (each file: `twosafe check --part K/N --json`'s
/// output) into one row per property of each configuration: an `always` property holds if no
/// part broke it, a `sometimes` one if some part satisfied it; an `eventually` one stays
/// unknown (the liveness check needs the whole graph). Distinct states are the union of the
/// parts' fingerprints; `states` adds the parts' up, `secs` is the slowest part's.
/// A violation has no counterexample here: `twosafe check` on the configuration prints it.
pub fn merge(files: &[PathBuf]) -> Result<(Vec<Row>, Vec<MergeSummary>), CheckError> {
    // Per configuration (model, config, params), in order of first appearance: its rows.
    let mut groups: Vec<((String, String, String), Vec<Row>)> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|source| CheckError::Read { path: file.clone(), source })?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let bad = |why: String| CheckError::NotAPart { file: file.clone(), line: i + 1, why };
            let mut row: Row = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
            let Some(part) = &mut row.part else {
                return Err(bad("no `part` field: a row of an unsplit check".into()));
            };
            // A file moved with its parts' files is found beside them.
            if !part.fingerprints.exists() {
                if let (Some(dir), Some(name)) = (file.parent(), part.fingerprints.file_name()) {
                    part.fingerprints = dir.join(name);
                }
            }
            let key = (row.model.clone(), row.config.clone(), row.params.clone());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, rows)) => rows.push(row),
                None => groups.push((key, vec![row])),
            }
        }
    }
    let mut merged = Vec::new();
    let mut summaries = Vec::new();
    for ((model, config, _), rows) in groups {
        let (new, summary) = merge_one(&model, &config, rows)?;
        merged.extend(new);
        summaries.push(summary);
    }
    Ok((merged, summaries))
}

/// Merges the parts' rows of one configuration.
fn merge_one(
    model: &str, config: &str, rows: Vec<Row>,
) -> Result<(Vec<Row>, MergeSummary), CheckError> {
    let incomplete =
        |why: String| CheckError::Incomplete { model: model.into(), config: config.into(), why };
    let record = |r: &Row| r.part.clone().ok_or_else(|| incomplete("a row without a part".into()));
    let first = record(&rows[0])?;
    let of = first.of;
    // Per part (from 1): the row it gave for each property.
    let mut parts: Vec<Vec<&Row>> = vec![Vec::new(); of + 1];
    for r in &rows {
        let p = record(r)?;
        if p.of != of || p.split_depth != first.split_depth || p.index == 0 || p.index > of {
            return Err(incomplete(format!(
                "part {}/{} (split at {:?}) does not belong with part {}/{of} (split at {:?})",
                p.index, p.of, p.split_depth, first.index, first.split_depth
            )));
        }
        if let Some(limit) = &r.stopped {
            return Err(incomplete(format!(
                "part {}/{of} stopped at {limit} before it had explored its share: run it again \
                 with a higher limit",
                p.index
            )));
        }
        parts[p.index].push(r);
    }
    let missing: Vec<String> =
        (1..=of).filter(|k| parts[*k].is_empty()).map(|k| format!("{k}/{of}")).collect();
    if !missing.is_empty() {
        return Err(incomplete(format!("missing part(s) {}", missing.join(", "))));
    }
    let per_part = parts[1].len();
    if parts[1..].iter().any(|p| p.len() != per_part) {
        return Err(incomplete("a part appears twice, or the parts' properties differ".into()));
    }
    let mut union = std::collections::HashSet::default();
    let mut explored = 0;
    for p in &parts[1..] {
        let fps = &record(p[0])?.fingerprints;
        explored += fingerprints::read_into(fps, &mut union)?;
    }
    let states = parts[1..].iter().map(|p| p[0].states).sum();
    let secs = parts[1..].iter().map(|p| p[0].secs).fold(0.0, f64::max);
    let max_depth = parts[1..].iter().map(|p| p[0].max_depth).max().unwrap_or(0);
    let mut merged = Vec::new();
    for (i, row) in parts[1].iter().enumerate() {
        let all: Vec<&Row> = parts[1..].iter().map(|p| p[i]).collect();
        if all.iter().any(|r| r.property != row.property) {
            return Err(incomplete("the parts' properties differ".into()));
        }
        let found = all.iter().any(|r| r.part.as_ref().is_some_and(|p| p.found));
        let verdict = record(row)?.kind.verdict(found, true);
        merged.push(Row {
            verdict,
            states,
            unique_states: union.len(),
            max_depth,
            secs,
            unique_per_sec: union.len() as f64 / secs.max(1e-9),
            bytes_per_state: None,
            counterexample: None,
            path: None,
            cycle_from: None,
            part: None,
            stopped: None,
            ..(*row).clone()
        });
    }
    let summary = MergeSummary {
        model: model.into(),
        config: config.into(),
        parts: of,
        split_depth: first.split_depth,
        unique: union.len(),
        explored,
    };
    Ok((merged, summary))
}

/// The configurations to run for `models` (all when empty; the deep ones only if `deep`),
/// with `overrides` on top of each;
/// configurations that the overrides make identical are run once.
pub fn plan(
    models: &[String], overrides: &[String], deep: bool,
) -> Result<Vec<(&'static ModelSpec, String, Params)>, ParamError> {
    let specs: Vec<&'static ModelSpec> = if models.is_empty() {
        catalogue::MODELS.iter().collect()
    } else {
        models.iter().map(|m| catalogue::model(m)).collect::<Result<_, _>>()?
    };
    let mut seen = BTreeSet::new();
    let mut plan = Vec::new();
    for spec in specs {
        for c in spec.checks().iter().filter(|c| deep || !c.deep) {
            let params = spec.params_of(c, overrides)?;
            if seen.insert(params.clone()) {
                plan.push((spec, c.config.to_string(), params));
            }
        }
    }
    Ok(plan)
}

/// Formats rows as a table.
pub fn table(rows: &[Row]) -> String {
    let head = [
        "model", "config", "variant", "property", "expect", "verdict", "states", "unique", "depth",
        "secs", "unique/s", "B/state",
    ];
    let cells: Vec<[String; 12]> = rows
        .iter()
        .map(|r| {
            [
                r.model.clone(),
                r.config.clone(),
                r.variant.clone(),
                r.property.clone(),
                format!("{:?}", r.expect).to_lowercase(),
                if r.as_expected() { r.verdict.to_string() } else { format!("{} (!)", r.verdict) },
                r.states.to_string(),
                r.unique_states.to_string(),
                r.max_depth.to_string(),
                format!("{:.2}", r.secs),
                format!("{:.0}", r.unique_per_sec),
                r.bytes_per_state.map_or("-".into(), |b| format!("{b:.0}")),
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String]| {
        row.iter()
            .zip(width)
            .enumerate()
            .map(|(i, (c, w))| if i >= 6 { format!("{c:>w$}") } else { format!("{c:<w$}") })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(&head.map(String::from));
    out.push('\n');
    out.push_str(&width.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
    out.push('\n');
    for row in &cells {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

/// Formats rows as a markdown table, one line per configuration (the table in proofs.md):
/// model, configuration, variant, each property with its verdict, states, unique states,
/// depth, and the length of the shortest counterexample where one was found.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| model | config | variant | verdicts | states | unique | depth | counterexample steps |\n\
         |---|---|---|---|---:|---:|---:|---:|\n",
    );
    let mut i = 0;
    while i < rows.len() {
        let first = &rows[i];
        let group: Vec<&Row> = rows[i..]
            .iter()
            .take_while(|r| r.model == first.model && r.config == first.config)
            .collect();
        i += group.len();
        let verdicts = group
            .iter()
            .map(|r| format!("{} {}", r.property, r.verdict))
            .collect::<Vec<_>>()
            .join(", ");
        let steps = group
            .iter()
            .filter_map(|r| r.counterexample.as_ref().map(Vec::len))
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            first.model,
            first.config,
            first.variant,
            verdicts,
            first.states,
            first.unique_states,
            first.max_depth,
            if steps.is_empty() { "-".to_string() } else { steps }
        ));
    }
    out
}

/// Formats the main job's report: the table, every counterexample step by step, and the
/// one-line summary (`N checks, N as expected, N not`).
pub fn report(rows: &[Row]) -> String {
    use std::fmt::Write;
    let mut out = table(rows);
    for r in rows {
        let Some(steps) = &r.counterexample else {
            continue;
        };
        let _ = writeln!(
            out,
            "\nCounterexample: {} of {} {} ({}), {} steps:",
            r.property,
            r.model,
            r.config,
            r.variant,
            steps.len()
        );
        let cycle = r.cycle_from.unwrap_or(usize::MAX);
        for (i, s) in steps.iter().enumerate() {
            let mark = if i >= cycle { "↻" } else { " " };
            let _ = writeln!(out, " {mark}{:>2}. {s}", i + 1);
        }
        if r.cycle_from.is_some() && r.verdict == Verdict::Unknown {
            let _ = writeln!(
                out,
                "      (at the model's bound: a step the bound cuts off was possible all along; \
                 widen the bound to decide)"
            );
        }
        match r.cycle_from {
            Some(c) if c >= steps.len() => {
                let _ = writeln!(out, "      … then nothing but faults can happen: it stops here");
            }
            Some(_) => {
                let _ = writeln!(out, "      … the steps marked ↻ repeat for ever (a fair cycle)");
            }
            None => {}
        }
        if let Some(fragment) = r.explore_fragment() {
            let _ = writeln!(
                out,
                "      in the explorer: `twosafe explore`, then {EXPLORER}{fragment}"
            );
        }
    }
    let mut said = BTreeSet::new();
    for r in rows {
        if let Some(limit) = r.stopped.as_ref().filter(|_| said.insert((&r.model, &r.config))) {
            let _ = writeln!(
                out,
                "\nStopped: {} {} reached {limit} after {} distinct states; what it did not \
                 find is unknown. Raise the limit, or narrow the check (--only, --set).",
                r.model, r.config, r.unique_states
            );
        }
    }
    let failed = rows.iter().filter(|r| !r.as_expected()).count();
    let _ = writeln!(
        out,
        "\n{} checks, {} as expected, {} not",
        rows.len(),
        rows.len() - failed,
        failed
    );
    out
}

/// What `twosafe models` shows of one registered model (also its `--json` line).
#[derive(Serialize)]
pub struct ModelView {
    name: &'static str,
    about: &'static str,
    seed: &'static str,
    params: Vec<ParamView>,
    properties: Vec<(&'static str, &'static str)>,
    /// The properties the protocol gives up, each with the configurations that show it.
    given_up: Vec<(&'static str, &'static [&'static str])>,
    variants: Vec<VariantView>,
    checks: Vec<&'static str>,
}

#[derive(Serialize)]
struct ParamView {
    name: &'static str,
    kind: String,
    default: &'static str,
    help: &'static str,
}

#[derive(Serialize)]
struct VariantView {
    name: &'static str,
    about: &'static str,
    breaks: &'static [&'static str],
}

impl ModelView {
    /// The view of a registered model.
    pub fn of(m: &ModelSpec) -> Self {
        Self {
            name: m.name,
            about: m.about,
            seed: m.seed,
            params: m
                .params
                .iter()
                .map(|p| ParamView {
                    name: p.name,
                    kind: p.expected(m.name),
                    default: p.default,
                    help: p.help,
                })
                .collect(),
            properties: m.properties.iter().map(|p| (p.name, p.about)).collect(),
            given_up: m.given_up.iter().map(|g| (g.property, g.shown_by)).collect(),
            variants: m
                .variants()
                .map(|v| VariantView { name: v.name, about: v.about, breaks: v.breaks })
                .collect(),
            checks: m.checks().iter().map(|c| c.config).collect(),
        }
    }
}

impl std::fmt::Display for ModelView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} — {}\n  source: {}", self.name, self.about, self.seed)?;
        writeln!(f, "  parameters (--set NAME=VALUE):")?;
        for p in &self.params {
            writeln!(f, "    {:<10} {:<32} default {:<10} {}", p.name, p.kind, p.default, p.help)?;
        }
        writeln!(f, "  properties:")?;
        for (n, a) in &self.properties {
            writeln!(f, "    {n:<16} {a}")?;
        }
        if !self.given_up.is_empty() {
            writeln!(f, "  given up by the protocol itself (expected violated where shown):")?;
            for (n, shown) in &self.given_up {
                writeln!(f, "    {n:<16} shown by {}", shown.join(", "))?;
            }
        }
        writeln!(f, "  variants (seeded bugs and the property each must break):")?;
        for v in &self.variants {
            let breaks = if v.breaks.is_empty() { "-".to_string() } else { v.breaks.join(", ") };
            writeln!(f, "    {:<24} breaks {:<16} {}", v.name, breaks, v.about)?;
        }
        writeln!(f, "  checked configurations: {}", self.checks.join(", "))
    }
}
