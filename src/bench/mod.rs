//! `twosafe bench EXPERIMENT`: the papers' measurements reproduced on this machine, side by side
//! with the published figures, with real peers run in the same invocation, and with the
//! physical floors (loopback round trip, disk sync) measured alongside.
//!
//! Each experiment writes `target/twosafe-bench/EXPERIMENT.json` ([`report::Report`]: the
//! paper's values, ours and the peers' under the same metric names, each run's figures, the
//! ratios run by run) and an SVG plot where the paper has a figure, and prints a table.
//! Runs alternate between systems so that drift on this shared machine hits all of them.
//!
//! Experiments (Hvasshovd et al. (ClustRa) = ClustRa, §6; Hagen & Alonso (OPERA) = OPERA, §5):
//! - `clustra-response` (003 Fig. 3/4): window 1, TPC-B-like, 2-safe: latency statistics and
//!   distribution;
//! - `clustra-window` (003 Fig. 5): windows 1, 2, 5, 10: throughput and mean latency;
//! - `clustra-takeover` (003 Fig. 9): a primary killed with SIGKILL under a back-to-back
//!   client; unavailability, split into detection and promotion;
//! - `opera-overhead` (000 Fig. 5-9): INST, START, TERM on 50 KB process images with no
//!   backup, a cold and a hot standby, at two database sizes;
//! - `opera-recovery` (000 Fig. 10): recovering 1000 processes after the primary fails, hot
//!   and cold standby, and the change-buffer replay serial and parallel;
//! - `catchup` (002 "new backup", 003 §4): a new backup built by fuzzy copy and log replay of N
//!   objects under a load (no paper figure: measured against the copy's physical floor).

pub mod catchup;
pub mod clustra;
pub mod floors;
pub mod opera;
pub mod peers;
pub mod plot;
pub mod report;
pub mod target;

use report::{medians, Kind, Metrics, Report, Row};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use target::{Sample, Target};

/// The experiments, with a line each (for `--help` and errors).
pub const EXPERIMENTS: &[(&str, &str)] = &[
    ("clustra-response", "ClustRa Fig. 3/4: 2-safe TPC-B-like latency at window 1"),
    ("clustra-window", "ClustRa Fig. 5: throughput and latency at windows 1, 2, 5, 10"),
    ("clustra-takeover", "ClustRa Fig. 9: unavailability after kill -9 of the primary"),
    ("opera-overhead", "OPERA Fig. 5-9: INST/START/TERM with no backup, cold and hot standby"),
    ("opera-recovery", "OPERA Fig. 10: time to recover 1000 processes after a server failure"),
    ("catchup", "a new backup built by fuzzy copy + log replay of N objects under load"),
];

/// How to run an experiment.
#[derive(Clone, Debug)]
pub struct Options {
    /// Runs per system and setting (medians are over these).
    pub runs: usize,
    /// Seconds per run.
    pub seconds: f64,
    /// A few seconds in all: checks that everything runs and the output is well formed.
    pub smoke: bool,
    /// Where the JSON and plots go (`target/twosafe-bench`).
    pub out: PathBuf,
    /// Scratch space for clusters and peers.
    pub work: PathBuf,
    /// The `twosafe` executable (nodes are started from it).
    pub exe: PathBuf,
    /// Measure the peers (PostgreSQL, Redis) where installed.
    pub peers: bool,
}

/// Why an experiment, a run or a peer's setup failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file, socket or thread call failed; the operating system's reason.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An operation on a file, a socket or a program failed.
    #[error("{what}: {source}")]
    At {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A program (a peer's server or tool) ran and failed.
    #[error("{what} failed ({status}): {stderr}")]
    Program {
        /// What was run.
        what: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The last line it wrote to stderr.
        stderr: String,
    },
    /// Our own cluster could not be set up or stopped.
    #[error(transparent)]
    Chaos(#[from] crate::runtime::chaos::ChaosError),
    /// A hosted node failed.
    #[error(transparent)]
    Fuzzy(#[from] crate::runtime::fuzzy::FuzzyError),
    /// A hosted client failed.
    #[error(transparent)]
    Client(#[from] crate::runtime::client::ClientError),
    /// A thread or task of a run panicked or was cancelled.
    #[error("a task of the run failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The clock is before 1970.
    #[error("clock: {0}")]
    Clock(#[from] std::time::SystemTimeError),
    /// A plot could not be drawn.
    #[error("plot: {0}")]
    Plot(String),
    /// A report could not be encoded or decoded.
    #[error("report: {0}")]
    Report(#[from] serde_json::Error),
    /// A run saw something it should not (a peer's answer, a timeout, a wrong result).
    #[error("{0}")]
    Run(String),
}

impl BenchError {
    /// A failed operation, described by `what`.
    pub fn at(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::At { what, source }
    }

    /// A failed file operation on `path`.
    pub fn file(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
        move |source| BenchError::File { path: path.to_path_buf(), source }
    }
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for BenchError
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        BenchError::Plot(e.to_string())
    }
}

impl From<&str> for BenchError {
    fn from(why: &str) -> Self {
        BenchError::Run(why.to_string())
    }
}

impl From<String> for BenchError {
    fn from(why: String) -> Self {
        BenchError::Run(why)
    }
}

/// Runs `experiment` and writes its report; returns the report and its text table.
pub fn run(experiment: &str, o: &Options) -> Result<(Report, String), BenchError> {
    std::fs::create_dir_all(&o.out)
        .map_err(BenchError::at(format!("create {}", o.out.display())))?;
    std::fs::create_dir_all(&o.work)
        .map_err(BenchError::at(format!("create {}", o.work.display())))?;
    let (mut report, columns) = match experiment {
        "clustra-response" => clustra::response(o)?,
        "clustra-window" => clustra::window(o)?,
        "clustra-takeover" => clustra::takeover(o)?,
        "opera-overhead" => opera::overhead(o)?,
        "opera-recovery" => opera::recovery(o)?,
        "catchup" => catchup::catchup(o)?,
        _ => {
            let names: Vec<&str> = EXPERIMENTS.iter().map(|e| e.0).collect();
            return Err(BenchError::Run(format!(
                "unknown experiment {experiment:?}; expected one of: {}",
                names.join(", ")
            )));
        }
    };
    report.columns = columns.iter().map(|c| c.to_string()).collect();
    report.finished_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let path = o.out.join(format!("{experiment}.json"));
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(&path, text).map_err(BenchError::at(format!("write {}", path.display())))?;
    let table = report.table(&columns);
    Ok((report, table))
}

/// The markdown tables of every report in `out` (the experiments' order), for the README.
pub fn markdown(out: &std::path::Path) -> Result<String, BenchError> {
    let mut reports = Vec::new();
    for (name, _) in EXPERIMENTS {
        let path = out.join(format!("{name}.json"));
        match std::fs::read_to_string(&path) {
            Ok(text) => reports.push(
                serde_json::from_str::<Report>(&text)
                    .map_err(|e| BenchError::Run(format!("{}: {e}", path.display())))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BenchError::file(&path)(e)),
        }
    }
    if reports.is_empty() {
        return Err(BenchError::Run(format!(
            "no report in {}: run `twosafe bench all` first",
            out.display()
        )));
    }
    Ok(report::markdown(&reports))
}

/// A fresh report with the machine's description and the floors measured now.
fn new_report(
    experiment: &str, title: &str, source: &str, o: &Options,
) -> Result<Report, BenchError> {
    let floors = floors::measure(&o.work, o.smoke).map_err(BenchError::at("floors"))?;
    Ok(Report {
        experiment: experiment.into(),
        title: title.into(),
        source: source.into(),
        smoke: o.smoke,
        finished_unix: 0,
        machine: machine(),
        versions: BTreeMap::from([("twosafe".into(), env!("CARGO_PKG_VERSION").into())]),
        settings: serde_json::Value::Null,
        floors,
        rows: Vec::new(),
        ratios: Vec::new(),
        plot: None,
        notes: Vec::new(),
        columns: Vec::new(),
    })
}

/// Cores, CPU model, kernel: what a reader needs to compare machines.
pub fn machine() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert(
        "cores".into(),
        std::thread::available_parallelism().map_or("?".into(), |n| n.to_string()),
    );
    if let Ok(cpu) = std::fs::read_to_string("/proc/cpuinfo") {
        if let Some(name) =
            cpu.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1))
        {
            m.insert("cpu".into(), name.trim().into());
        }
    }
    if let Ok(k) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        m.insert("kernel".into(), k.trim().into());
    }
    m.insert("os".into(), std::env::consts::OS.into());
    m
}

/// Progress on stderr: a bar on a terminal, a line per run otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    done: u64,
    total: u64,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(total);
            if let Ok(s) =
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed} {msg}")
            {
                b.set_style(s);
            }
            b
        });
        Progress { bar, done: 0, total }
    }

    fn step(&mut self, msg: String) {
        self.done += 1;
        match &self.bar {
            Some(b) => {
                b.set_message(msg);
                b.inc(1);
            }
            None => eprintln!("[{}/{}] {msg}", self.done, self.total),
        }
    }

    fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// Runs every target at every setting (`clients`), `runs` times, alternating: run 1 of every
/// system at every setting, then run 2, … A target that fails is skipped from then on, with
/// its error as the reason. Returns one row per (target, setting) and the last sample of each.
fn grid(
    targets: &mut [Box<dyn Target>], settings: &[(String, usize)], runs: usize, seconds: f64,
) -> (Vec<Row>, BTreeMap<(String, String), Sample>) {
    let mut results: Vec<Vec<Vec<Metrics>>> = vec![vec![Vec::new(); settings.len()]; targets.len()];
    let mut skipped: Vec<Option<String>> = vec![None; targets.len()];
    let mut last = BTreeMap::new();
    let mut progress = Progress::new((runs * settings.len() * targets.len()) as u64);
    for _ in 0..runs {
        for (si, (setting, clients)) in settings.iter().enumerate() {
            for (ti, t) in targets.iter_mut().enumerate() {
                if skipped[ti].is_some() {
                    progress.step(format!("{} skipped", t.system()));
                    continue;
                }
                match t.run(*clients, seconds) {
                    Ok(sample) => {
                        let m = sample.metrics();
                        progress.step(format!(
                            "{setting}: {} {:.0} tx/s, mean {:.2} ms",
                            t.system(),
                            m.get("tps").copied().unwrap_or(0.0),
                            m.get("avg_ms").copied().unwrap_or(f64::NAN)
                        ));
                        results[ti][si].push(m);
                        last.insert((t.system(), setting.clone()), sample);
                    }
                    Err(why) => {
                        progress.step(format!("{} skipped: {why}", t.system()));
                        skipped[ti] = Some(why.to_string());
                    }
                }
            }
        }
    }
    progress.finish();
    let mut rows = Vec::new();
    for (si, (setting, _)) in settings.iter().enumerate() {
        for (ti, t) in targets.iter().enumerate() {
            let runs = std::mem::take(&mut results[ti][si]);
            rows.push(Row {
                kind: t.kind(),
                system: t.system(),
                setting: setting.clone(),
                metrics: medians(&runs),
                runs,
                skipped: skipped[ti].clone(),
            });
        }
    }
    (rows, last)
}

/// A paper row.
fn paper(system: &str, setting: &str, metrics: &[(&str, f64)]) -> Row {
    Row {
        kind: Kind::Paper,
        system: system.into(),
        setting: setting.into(),
        metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        runs: Vec::new(),
        skipped: None,
    }
}
