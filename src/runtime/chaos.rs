//! The fault test as a user-facing command (`twosafe chaos`) and as the engine of the kill -9
//! tests: a local cluster of `twosafe node` processes under a counter load, the backup killed
//! (SIGKILL) and restarted at seeded random points, then the primary killed (the backup takes
//! over) and restarted (it learns it was deposed and rejoins as backup: takeback), and again
//! with the roles swapped. With `silent_backup = "degrade"` the backup never takes over: a
//! primary kill is an outage until it restarts, and a silent backup is fenced out by a
//! degradation instead. Afterwards the client-visible
//! history is judged — no acknowledged update lost, none applied twice, real-time order kept —
//! and the nodes' step traces are replayed through the model ([`crate::runtime::conform`]).
//! Every process it starts is killed when it ends, however it ends. It runs any protocol the
//! runtime hosts (`protocol`); logical checkpointing has no takeback (a deposed primary retires
//! to the spare pool and rejoins as the new backup by catch-up). With transactions the load
//! runs counter transactions and the history is judged all or none ([`judge_transactions`]).

use crate::runtime::binding::transactions::{Transactions, Txn, TxnOp, TxnReply};
use crate::runtime::binding::{Binding, Protocol};
use crate::runtime::client::{self, ClientError};
use crate::runtime::config::{ClusterConfig, Durability, ServiceKind, SilentBackup};
use crate::runtime::load::{self, Call, LoadReport, LoadSpec, TxnSpec};
use crate::runtime::node::{self, NodeStats};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use twosafe_models::services::transactional::{TxnOp as Op, TxnReply as Reply};
use twosafe_models::services::{Counter, CounterOp, CounterReply};

/// Why a chaos run could not be carried out (as opposed to a verdict against the system).
#[derive(Debug, Error)]
pub enum ChaosError {
    /// A process or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The load could not run.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The configuration could not be written.
    #[error("cannot write the configuration: {0}")]
    Config(String),
    /// The nodes' journals could not be formatted.
    #[error(transparent)]
    Node(#[from] Box<crate::runtime::node::NodeError>),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ChaosError {
    let what = what.into();
    move |source| ChaosError::Io { what, source }
}

/// A local cluster of `twosafe node` processes, each recording its trace; dropping it kills
/// every process still running.
pub struct LocalCluster {
    exe: PathBuf,
    config: PathBuf,
    /// The configuration the nodes run.
    pub cfg: ClusterConfig,
    nodes: Vec<Option<Child>>,
    trace: bool,
}

/// A free loopback port `p` with `p + 1` free as well, below the kernel's ephemeral range
/// (`ip_local_port_range`), so that no outgoing connection of another test or cluster is given
/// it between this check and the node's bind; drawn at random, so that clusters started at
/// once do not draw the same (in one process too: two tests' threads that ask in the same
/// microsecond get different draws).
pub fn free_port_pair() -> Result<u16, ChaosError> {
    static DRAWS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let draw = DRAWS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()))
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral.saturating_sub(1));
    let mut rng = Rng::new(
        crate::runtime::conform::now_us()
            ^ u64::from(std::process::id())
            ^ draw.wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    for _ in 0..200 {
        let p = if high > low + 1 {
            low + rng.below(u64::from(high - low - 1)) as u16
        } else {
            // No room below the ephemeral range: any free port, as the kernel gives one.
            let a = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("bind a free port"))?;
            a.local_addr().map_err(io("bind a free port"))?.port()
        };
        let pair = (
            std::net::TcpListener::bind(("127.0.0.1", p)),
            std::net::TcpListener::bind(("127.0.0.1", p.saturating_add(1))),
        );
        if p < 65000 && pair.0.is_ok() && pair.1.is_ok() {
            return Ok(p);
        }
    }
    Err(ChaosError::Io {
        what: "find two free adjacent ports".into(),
        source: std::io::Error::other("none found in 200 tries"),
    })
}

/// The fault test's timings: a suspicion after 500 ms, partitions of 900 ms (longer), and the
/// primary doing `silent_backup` when its backup does not answer (degrading after 300 ms).
fn fault_test_settings(cfg: &mut ClusterConfig, silent_backup: SilentBackup) {
    cfg.suspect_ms = 500;
    cfg.partition_ms = 900;
    cfg.silent_backup = silent_backup;
    cfg.degrade_after_ms = 300;
}

impl LocalCluster {
    /// Writes a two-node counter configuration into `dir` (emptied first) and starts both
    /// nodes with the `twosafe` executable `exe`.
    pub fn start(exe: &Path, dir: &Path, durability: Durability) -> Result<Self, ChaosError> {
        Self::start_service(exe, dir, durability, ServiceKind::Counter)
    }

    /// As [`LocalCluster::start`], for another service.
    pub fn start_service(
        exe: &Path, dir: &Path, durability: Durability, service: ServiceKind,
    ) -> Result<Self, ChaosError> {
        Self::start_policy(exe, dir, durability, service, SilentBackup::Block)
    }

    /// As [`LocalCluster::start_service`], the primary doing `silent_backup` when its backup
    /// does not answer (degrading after 300 ms, less than a partition).
    pub fn start_policy(
        exe: &Path, dir: &Path, durability: Durability, service: ServiceKind,
        silent_backup: SilentBackup,
    ) -> Result<Self, ChaosError> {
        Self::launch(exe, dir, durability, service, true, |cfg| {
            fault_test_settings(cfg, silent_backup)
        })
    }

    /// Writes a two-node configuration for `service` into `dir` (emptied first), lets `edit`
    /// adjust it (timings, say), and starts both nodes, each recording its step trace when
    /// `trace` is set (the benchmarks run without: a trace line per step costs throughput).
    pub fn launch(
        exe: &Path, dir: &Path, durability: Durability, service: ServiceKind, trace: bool,
        edit: impl FnOnce(&mut ClusterConfig),
    ) -> Result<Self, ChaosError> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
        // Absolute: a node resolves a relative data directory against its configuration
        // file's folder, which is `dir` itself.
        let dir = &dir.canonicalize().map_err(io(format!("resolve {}", dir.display())))?;
        let mut cfg = ClusterConfig::local(dir, free_port_pair()?, service, durability);
        edit(&mut cfg);
        let config = dir.join("cluster.toml");
        let text = toml::to_string(&cfg).map_err(|e| ChaosError::Config(e.to_string()))?;
        std::fs::write(&config, text).map_err(io(format!("write {}", config.display())))?;
        node::format(&cfg, 0..cfg.servers()).map_err(Box::new)?;
        let mut c = LocalCluster { exe: exe.to_owned(), config, cfg, nodes: Vec::new(), trace };
        for id in 0..c.cfg.node.len() {
            c.nodes.push(None);
            c.restart(id)?;
        }
        Ok(c)
    }

    /// The configuration file.
    pub fn config(&self) -> &Path {
        &self.config
    }

    /// Node `id`'s trace file.
    pub fn trace(&self, id: usize) -> PathBuf {
        self.config.with_file_name(format!("trace-{id}.jsonl"))
    }

    /// Node `id`'s log (its standard error).
    pub fn log(&self, id: usize) -> PathBuf {
        self.config.with_file_name(format!("node{id}.log"))
    }

    /// Starts node `id` (again).
    pub fn restart(&mut self, id: usize) -> Result<(), ChaosError> {
        self.restart_with(id, &[])
    }

    /// Starts node `id` (again) with extra arguments (`--rejoin`).
    pub fn restart_with(&mut self, id: usize, extra: &[&str]) -> Result<(), ChaosError> {
        let mut cmd = Command::new(&self.exe);
        cmd.args(["node", "--config"]).arg(&self.config).args(["--id", &id.to_string()]);
        cmd.args(extra);
        if self.trace {
            cmd.arg("--trace").arg(self.trace(id));
        }
        // The node's log (warnings about refused connections while its peer is down, say)
        // goes to a file beside its data, not into the terminal of whoever runs the cluster.
        let log = self.log(id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io(format!("open {}", log.display())))?;
        cmd.stdout(std::process::Stdio::null()).stderr(log);
        let child = cmd.spawn().map_err(io(format!("start node {id}")))?;
        self.nodes[id] = Some(child);
        Ok(())
    }

    /// Cuts node `id` off for the configuration's `partition_ms` (SIGUSR1: it closes every
    /// connection and makes or accepts none meanwhile).
    pub fn partition(&mut self, id: usize) -> Result<(), ChaosError> {
        self.signal(id, "USR1")
    }

    /// Sends node `id` signal `name` (as `kill -<name>` spells it).
    fn signal(&mut self, id: usize, name: &str) -> Result<(), ChaosError> {
        if let Some(c) = &self.nodes[id] {
            let status = Command::new("kill")
                .args([format!("-{name}"), c.id().to_string()])
                .status()
                .map_err(io(format!("signal node {id}")))?;
            if !status.success() {
                return Err(ChaosError::Io {
                    what: format!("signal node {id}"),
                    source: std::io::Error::other(format!("kill -{name} failed")),
                });
            }
        }
        Ok(())
    }

    /// Stops node `id` gracefully (SIGTERM; SIGKILL after `wait`) and returns what it did, from
    /// the `stats.json` it writes as it stops (`None` if it wrote none).
    pub fn stop(&mut self, id: usize, wait: Duration) -> Option<NodeStats> {
        let _ = std::fs::remove_file(node::stats_path(&self.cfg.node[id].data));
        if self.signal(id, "TERM").is_err() || self.exited_within(id, wait).ok()?.is_none() {
            self.kill(id);
            return None;
        }
        let text = std::fs::read_to_string(node::stats_path(&self.cfg.node[id].data)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Whether node `id` exits within `wait` (a node that refuses to start exits at once), and
    /// with what status.
    pub fn exited_within(
        &mut self, id: usize, wait: Duration,
    ) -> Result<Option<std::process::ExitStatus>, ChaosError> {
        let until = Instant::now() + wait;
        while let Some(c) = &mut self.nodes[id] {
            if let Some(status) = c.try_wait().map_err(io(format!("wait for node {id}")))? {
                self.nodes[id] = None;
                return Ok(Some(status));
            }
            if Instant::now() >= until {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(None)
    }

    /// Node `id`'s process id, while it runs.
    pub fn pid(&self, id: usize) -> Option<u32> {
        self.nodes.get(id)?.as_ref().map(|c| c.id())
    }

    /// Kills node `id` with SIGKILL.
    pub fn kill(&mut self, id: usize) {
        if let Some(mut c) = self.nodes[id].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for id in 0..self.nodes.len() {
            self.kill(id);
        }
    }
}

/// When (the steps' wall clock, µs since the Unix epoch) a node's trace records a takeover: a
/// step on the `Takeover` timer that saved (a backup becoming primary; the timer saves
/// nothing in any other role).
pub fn takeovers_in(trace: &Path) -> Result<Vec<u64>, ChaosError> {
    saving_timer_steps(trace, "Takeover")
}

/// When a node's trace records a degradation: a step on the `Degrade` timer that saved (the
/// primary fencing its silent backup out with a new epoch; the timer saves nothing otherwise).
pub fn degradations_in(trace: &Path) -> Result<Vec<u64>, ChaosError> {
    saving_timer_steps(trace, "Degrade")
}

/// The times of the steps on `timer` that saved.
fn saving_timer_steps(trace: &Path, timer: &str) -> Result<Vec<u64>, ChaosError> {
    let text = std::fs::read_to_string(trace).map_err(io(format!("read {}", trace.display())))?;
    Ok(text
        .lines()
        .filter(|l| l.contains(timer)) // cheap: most steps are messages
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v["event"]["Timer"]["timer"] == timer
                && v["commands"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c.get("Save").is_some()))
        })
        .map(|v| v["at_us"].as_u64().unwrap_or(0))
        .collect())
}

/// A small seeded generator (xorshift64*), so that a run can be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// A storage fault that `chaos` injects into a killed node's data before restarting it
/// (issue-17's matrix; the journal's recovery rules are in [`crate::runtime::journal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageFault {
    /// What a crash in the middle of an append leaves: the start of a record after the last
    /// whole one. The node cuts it and starts (as a learner if it was a backup).
    TornTail,
    /// One byte of the journal flipped, anywhere.
    FlippedByte,
    /// Random bytes appended after the last record.
    Garbage,
    /// The journal emptied.
    EmptyJournal,
    /// The data directory deleted.
    DeletedDir,
}

impl StorageFault {
    /// Every fault, in the order `--storage-faults` cycles through them.
    pub const ALL: [StorageFault; 5] = [
        StorageFault::TornTail,
        StorageFault::FlippedByte,
        StorageFault::Garbage,
        StorageFault::EmptyJournal,
        StorageFault::DeletedDir,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            StorageFault::TornTail => "torn-tail",
            StorageFault::FlippedByte => "flipped-byte",
            StorageFault::Garbage => "garbage",
            StorageFault::EmptyJournal => "empty-journal",
            StorageFault::DeletedDir => "deleted-dir",
        }
    }

    /// Whether a node must refuse to start from what this fault leaves (everything but a torn
    /// tail, which is what a crash leaves).
    pub fn refused(self) -> bool {
        self != StorageFault::TornTail
    }

    /// Does it to the data directory `dir`; says what was done.
    pub fn inject(self, dir: &Path, rng: &mut Rng) -> std::io::Result<String> {
        let path = crate::runtime::journal::path(dir);
        let mut bytes = match self {
            StorageFault::DeletedDir => Vec::new(),
            _ => std::fs::read(&path)?,
        };
        let size = bytes.len();
        let what = match self {
            StorageFault::TornTail => {
                let torn = crate::runtime::journal::torn_record(1 + rng.below(200) as usize);
                bytes.extend_from_slice(&torn);
                format!("a torn record of {} bytes appended to its journal", torn.len())
            }
            StorageFault::FlippedByte => {
                let at = rng.below(size as u64) as usize;
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
                format!("byte {at} of its {size}-byte journal flipped")
            }
            StorageFault::Garbage => {
                let n = 16 + rng.below(240) as usize;
                bytes.extend((0..n).map(|_| rng.below(256) as u8 | 1));
                format!("{n} bytes of garbage appended to its journal")
            }
            StorageFault::EmptyJournal => {
                bytes.clear();
                format!("its {size}-byte journal emptied")
            }
            StorageFault::DeletedDir => {
                std::fs::remove_dir_all(dir)?;
                return Ok(format!("its data directory {} deleted", dir.display()));
            }
        };
        std::fs::write(&path, &bytes)?;
        Ok(what)
    }
}

impl std::str::FromStr for StorageFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|f| f.name()).collect();
            format!("{s:?}: expected one of {}", names.join(", "))
        })
    }
}

/// A counter history as the load records it.
pub type CounterHistory = Vec<Call<CounterOp, CounterReply>>;

/// Judges a counter history (every op `Add(k, 1)`) against the counters' final values:
/// - no acknowledged update lost: each key's final value is at least its acknowledged adds;
/// - at most once: it is at most the acknowledged plus the unanswered adds (a double apply of
///   any request pushes it over), and no two acknowledged adds saw the same value;
/// - real-time order (linearizability of the counter): if add a returned before add b was
///   invoked on the same key, a saw a smaller value than b.
pub fn judge(history: &CounterHistory, finals: &BTreeMap<u8, u32>) -> Result<(), String> {
    type Answered<'a> = (&'a Call<CounterOp, CounterReply>, Option<u32>);
    let mut by_key: BTreeMap<u8, Vec<Answered>> = BTreeMap::new();
    for c in history {
        match c.op {
            CounterOp::Add(k, 1) => by_key.entry(k).or_default().push((c, c.reply.map(|r| r.0))),
            op => return Err(format!("unexpected operation {op:?} in a counter history")),
        }
    }
    for (k, calls) in by_key {
        let acked: Vec<(&Call<_, _>, u32)> =
            calls.iter().filter_map(|(c, v)| v.map(|v| (*c, v))).collect();
        let unanswered = (calls.len() - acked.len()) as u64;
        let fin = u64::from(finals.get(&k).copied().unwrap_or(0));
        let a = acked.len() as u64;
        if fin < a {
            return Err(format!(
                "key {k}: {a} adds acknowledged but the counter is {fin}: an update was lost"
            ));
        }
        if fin > a + unanswered {
            return Err(format!(
                "key {k}: counter {fin} > {a} acknowledged + {unanswered} unanswered adds: applied twice"
            ));
        }
        let mut values: Vec<u32> = acked.iter().map(|(_, v)| *v).collect();
        values.sort_unstable();
        if values.windows(2).any(|w| w[0] == w[1]) {
            return Err(format!("key {k}: two acknowledged adds saw the same value"));
        }
        if values.last().is_some_and(|v| u64::from(*v) > fin) {
            return Err(format!("key {k}: an acknowledged add saw more than the final value"));
        }
        let mut by_ret: Vec<(u64, u32)> = acked.iter().map(|(c, v)| (c.return_us, *v)).collect();
        by_ret.sort_unstable();
        let mut prefix_max = Vec::with_capacity(by_ret.len());
        let mut m = 0;
        for (_, v) in &by_ret {
            m = m.max(*v);
            prefix_max.push(m);
        }
        for (b, v) in &acked {
            let before = by_ret.partition_point(|(r, _)| *r < b.invoke_us);
            if before > 0 && prefix_max[before - 1] >= *v {
                return Err(format!(
                    "key {k}: client {} request {} saw {v} although {} was returned before it was sent",
                    b.client,
                    b.seq,
                    prefix_max[before - 1]
                ));
            }
        }
    }
    Ok(())
}

/// A history of counter transactions as the load records it (one call per request).
pub type TxnHistory = Vec<Call<TxnOp<Counter>, TxnReply<Counter>>>;

/// What became of the transactions of a history, as their clients saw them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TxnCounts {
    /// Answered `Committed`.
    pub committed: usize,
    /// Answered `Aborted` (restarted under a new number).
    pub aborted: usize,
    /// End indicator sent, no answer: committed or not, but whole either way.
    pub uncertain: usize,
    /// Ended before the end indicator was sent: must not have taken effect.
    pub unfinished: usize,
}

/// One transaction as its client saw it.
struct Seen {
    ops: Vec<CounterOp>,
    invoke_us: u64,
    return_us: u64,
    /// `None`: no end indicator sent; `Some(None)`: sent, unanswered.
    end: Option<Option<Reply<CounterReply>>>,
    aborted: bool,
}

/// Judges a history of counter transactions (each request `Add(k, 1)`) against the counters'
/// final values: every committed transaction answered with one reply per request; the
/// committed transactions' adds (each timed from its transaction's first request to its
/// commit) judged as a counter history ([`judge`]) with the unanswered end indicators' adds as
/// unanswered (so an aborted or unfinished transaction that took effect shows as applied
/// twice); and all or none: what the counters hold above the committed transactions is the
/// sum of some set of whole unanswered transactions (checked exactly up to 20 of them).
pub fn judge_transactions(
    history: &TxnHistory, finals: &BTreeMap<u8, u32>,
) -> Result<TxnCounts, String> {
    let mut seen: BTreeMap<(u32, u64), Seen> = BTreeMap::new();
    for c in history {
        let (client, txn) = match &c.op {
            Op::Request { client, txn, .. } | Op::Commit { client, txn, .. } => (*client, *txn),
            Op::Batch { .. } => return Err("a client sent a whole batch".into()),
        };
        let t = seen.entry((client, txn)).or_insert(Seen {
            ops: Vec::new(),
            invoke_us: c.invoke_us,
            return_us: c.return_us,
            end: None,
            aborted: false,
        });
        t.return_us = c.return_us;
        t.aborted |= c.reply == Some(Reply::Aborted);
        match &c.op {
            Op::Request { i, op, .. } if usize::from(*i) == t.ops.len() => t.ops.push(*op),
            Op::Request { i, .. } => {
                return Err(format!("client {client} transaction {txn}: request {i} out of order"))
            }
            _ => t.end = Some(c.reply.clone()),
        }
    }
    let mut counts = TxnCounts::default();
    let (mut flat, mut uncertain) = (CounterHistory::new(), Vec::new());
    for ((client, txn), t) in &seen {
        let call = |op: CounterOp, reply: Option<CounterReply>| Call {
            client: *client as usize,
            seq: *txn,
            op,
            reply,
            invoke_us: t.invoke_us,
            return_us: t.return_us,
        };
        match &t.end {
            Some(Some(Reply::Committed { replies })) => {
                if replies.len() != t.ops.len() {
                    return Err(format!(
                        "client {client} transaction {txn} committed with {} replies for its {} \
                         requests: not all or none",
                        replies.len(),
                        t.ops.len()
                    ));
                }
                counts.committed += 1;
                flat.extend(t.ops.iter().zip(replies).map(|(op, r)| call(*op, Some(*r))));
            }
            Some(None) => {
                counts.uncertain += 1;
                flat.extend(t.ops.iter().map(|op| call(*op, None)));
                uncertain.push(&t.ops);
            }
            _ if t.aborted => counts.aborted += 1,
            Some(Some(reply)) => {
                return Err(format!("client {client} transaction {txn}: commit answered {reply:?}"))
            }
            None => counts.unfinished += 1,
        }
    }
    judge(&flat, finals)?;
    // All or none: the counters' excess over the committed adds is made of whole transactions.
    let adds = |ops: &[CounterOp]| {
        let mut m = BTreeMap::<u8, u64>::new();
        for op in ops {
            if let CounterOp::Add(k, n) = op {
                *m.entry(*k).or_default() += u64::from(*n);
            }
        }
        m
    };
    let acked = adds(&flat.iter().filter(|c| c.reply.is_some()).map(|c| c.op).collect::<Vec<_>>());
    let excess: BTreeMap<u8, u64> = finals
        .iter()
        .map(|(k, v)| (*k, u64::from(*v).saturating_sub(acked.get(k).copied().unwrap_or(0))))
        .filter(|(_, e)| *e > 0)
        .collect();
    if uncertain.len() <= 20 {
        let each: Vec<_> = uncertain.iter().map(|ops| adds(ops)).collect();
        let whole = (0u32..1 << each.len()).any(|set| {
            let mut sum = BTreeMap::<u8, u64>::new();
            for (_, m) in each.iter().enumerate().filter(|(j, _)| set & (1 << j) != 0) {
                for (k, n) in m {
                    *sum.entry(*k).or_default() += n;
                }
            }
            sum.retain(|_, n| *n > 0);
            sum == excess
        });
        if !whole {
            return Err(format!(
                "the counters hold {excess:?} above the committed transactions, which no set of \
                 the {} unanswered transactions adds up to: a transaction took effect in part",
                each.len()
            ));
        }
    }
    Ok(counts)
}

/// What to inject.
#[derive(Clone, Debug, Serialize)]
pub struct ChaosSpec {
    /// How long the load runs.
    pub seconds: f64,
    /// The seed of the fault schedule.
    pub seed: u64,
    /// How saves are made durable.
    pub durability: Durability,
    /// Backup kills (each followed by a restart) before the primary is killed.
    pub backup_kills: usize,
    /// Primary kills (each followed by a takeover, a restart and a takeback).
    pub primary_kills: usize,
    /// Partitions: the primary or the backup cut off for longer than the suspicion timeout
    /// (a takeover, then a takeback once it reconnects).
    pub partitions: usize,
    /// Sessions of the load.
    pub window: usize,
    /// Requests each session keeps outstanding (logical checkpointing's client window; 1 for
    /// the other protocols, whose clients send one request at a time).
    pub per_session: usize,
    /// Storage faults, in order, after the backup kills: the first to the backup, the next to
    /// the primary (a takeover), and so on alternately. Each kills the node, damages its data,
    /// restarts it, and, when it refuses to start, restarts it with `--rejoin`. With
    /// `degrade`, every one goes to the backup: a degraded primary's updates live on its disk
    /// alone and the backup never takes over, so a primary's lost storage is an outage and a
    /// loss that degraded mode accepts (proofs.md), not something to test for. Likewise for a
    /// protocol whose model never fails the primary ([`Protocol::faults`]).
    pub storage_faults: Vec<StorageFault>,
    /// What the primary does when its backup does not answer. With `Degrade`, primary kills
    /// and partitions move no role: a killed primary's restart ends the outage, and a silent
    /// backup is fenced out (a degradation) and rejoins; the verdict expects no takeover.
    pub silent_backup: SilentBackup,
    /// The protocol the cluster runs.
    pub protocol: Protocol,
    /// Linear 2PC: change buffers the primary keeps in flight (the cluster file's `buffers`;
    /// 1 for the other protocols).
    pub buffers: usize,
    /// With `Transactions`: the transactions the load runs.
    pub txn: TxnSpec,
}

impl ChaosSpec {
    /// Refuses a fault the protocol's model does not cover ([`Protocol::faults`]).
    pub fn check_faults(&self) -> Result<(), String> {
        let f = self.protocol.faults();
        let asked = [
            ("primary kills", self.primary_kills, f.primary_kills),
            ("partitions", self.partitions, f.partitions),
            ("storage faults", self.storage_faults.len(), f.storage_faults),
        ];
        for (what, n, covered) in asked {
            if n > 0 && !covered {
                return Err(format!(
                    "{}'s model does not cover {what} (it fails the backup only): give 0 {what}",
                    self.protocol
                ));
            }
        }
        Ok(())
    }
}

/// One injected fault.
#[derive(Clone, Debug, Serialize)]
pub struct Fault {
    /// Milliseconds since the load started.
    pub at_ms: u64,
    /// What was done.
    pub what: String,
}

/// What a chaos run saw.
#[derive(Clone, Debug, Serialize)]
pub struct ChaosReport {
    /// The run's settings.
    pub spec: ChaosSpec,
    /// `None` when the history passed; otherwise what was wrong.
    pub history_violation: Option<String>,
    /// `None` when every trace conforms to the model; otherwise the first divergence.
    pub conformance_violation: Option<String>,
    /// `None` when every node with damaged storage refused to start (and every torn tail was
    /// cut and the node started); otherwise the first that did not.
    pub storage_violation: Option<String>,
    /// Requests answered.
    pub answered: u64,
    /// Requests without a reply.
    pub unanswered: u64,
    /// Answered requests per second.
    pub throughput: f64,
    /// The counters' final values.
    pub finals: BTreeMap<u8, u32>,
    /// The faults injected.
    pub faults: Vec<Fault>,
    /// Takeovers recorded in the nodes' traces.
    pub takeovers: usize,
    /// Degradations recorded in the nodes' traces (a primary fencing its backup out).
    pub degradations: usize,
    /// The load's pauses: stretches of at least [`load::PAUSE`] in which no request was
    /// answered (what a client sees of a takeover, a degradation or an outage).
    pub pauses: load::Pauses,
    /// Trace steps replayed through the model.
    pub steps_conformed: usize,
    /// With `Transactions`: what became of the transactions.
    pub transactions: Option<TxnCounts>,
}

impl ChaosReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.history_violation.is_none()
            && self.conformance_violation.is_none()
            && self.storage_violation.is_none()
            && self.unanswered == 0
            && self.policy_violation().is_none()
    }

    /// `Some` when a role moved against the policy: a takeover in degraded mode (the backup
    /// must never take over on its own there), or a degradation in blocking mode.
    pub fn policy_violation(&self) -> Option<String> {
        match self.spec.silent_backup {
            SilentBackup::Degrade if self.takeovers > 0 => Some(format!(
                "{} takeovers although the backup never takes over in degraded mode",
                self.takeovers
            )),
            SilentBackup::Block if self.degradations > 0 => Some(format!(
                "{} degradations although the primary blocks for a silent backup",
                self.degradations
            )),
            _ => None,
        }
    }
}

/// The counters 0 and 1, read through a fresh session of client id `id`.
pub async fn read_counters<P: Binding>(
    cfg: &ClusterConfig, id: usize,
) -> Result<BTreeMap<u8, u32>, ClientError> {
    let s = client::open::<P, Counter>(cfg, id)?;
    let mut m = BTreeMap::new();
    for k in 0..2u8 {
        m.insert(k, s.submit(CounterOp::Get(k)).await?.0);
    }
    s.close().await;
    Ok(m)
}

/// The counters 0 and 1, read by one transaction (entry by entry, restarted if it aborts) of
/// a fresh session of client id `id` of a transactions cluster.
async fn counters_in_a_transaction(
    cfg: &ClusterConfig, id: usize,
) -> Result<BTreeMap<u8, u32>, ClientError> {
    let s = client::open::<Transactions, Txn<Counter>>(cfg, id)?;
    let client = id as u32;
    let mut txn = 0;
    for _ in 0..3 {
        txn = crate::runtime::conform::now_us().max(txn + 1);
        for i in 0..2u8 {
            let op = CounterOp::Get(i);
            s.submit(Op::Request { client, txn, i, op, batch: false }).await?;
        }
        if let Reply::Committed { replies } =
            s.submit(Op::Commit { client, txn, n: 2, batch: false }).await?
        {
            s.close().await;
            return Ok((0..2u8).zip(replies.iter().map(|r| r.0)).collect());
        }
    }
    s.close().await;
    Err(ClientError::Stopped)
}

/// What the load recorded: requests, or transactions' requests.
enum Loaded {
    Requests(LoadReport<CounterOp, CounterReply>),
    Transactions(LoadReport<TxnOp<Counter>, TxnReply<Counter>>),
}

/// Runs `spec` in `dir` with the `twosafe` executable `exe`; `dir` is left with the cluster's
/// configuration, journals and traces.
pub fn run(exe: &Path, dir: &Path, spec: &ChaosSpec) -> Result<ChaosReport, ChaosError> {
    spec.check_faults().map_err(ChaosError::Config)?;
    let degrade = spec.silent_backup == SilentBackup::Degrade;
    let mut cluster =
        LocalCluster::launch(exe, dir, spec.durability, ServiceKind::Counter, true, |cfg| {
            fault_test_settings(cfg, spec.silent_backup);
            cfg.protocol = spec.protocol;
            cfg.buffers = spec.buffers.max(1);
        })?;
    let cfg = cluster.cfg.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("start the async runtime"))?;
    let load_spec = LoadSpec {
        per_session: spec.per_session.max(1),
        window: spec.window.max(1),
        duration: Duration::from_secs_f64(spec.seconds.max(0.5)),
        first_client: cfg.servers(),
    };
    let load_cfg = cfg.clone();
    let txn = spec.txn;
    let load = std::thread::spawn(move || {
        let done = Arc::new(AtomicU64::new(0));
        let r = if load_cfg.protocol == Protocol::Transactions {
            rt.block_on(load::run_transactions::<Transactions, Counter>(
                &load_cfg, &load_spec, txn, done,
            ))
            .map(Loaded::Transactions)
        } else {
            crate::with_protocol!(load_cfg.protocol, P =>
                rt.block_on(load::run::<P, Counter>(&load_cfg, &load_spec, done)))
            .map(Loaded::Requests)
        };
        (rt, r)
    });
    let start = Instant::now();
    let at = |start: Instant| start.elapsed().as_millis() as u64;
    let mut rng = Rng::new(spec.seed);
    let mut faults = Vec::new();
    // Spread the backup kills over the first 70% of the run; then the partitions and the
    // primary kills, each of which moves the primary role to the other node.
    let budget = (spec.seconds * 700.0) as u64 / (spec.backup_kills as u64 + 1);
    let mut primary = 0;
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..spec.backup_kills {
        let backup = 1 - primary;
        std::thread::sleep(Duration::from_millis(20 + rng.below(budget.max(40) / 2)));
        cluster.kill(backup);
        faults.push(Fault { at_ms: at(start), what: format!("kill -9 node {backup} (backup)") });
        std::thread::sleep(Duration::from_millis(20 + rng.below(budget.max(40) / 2)));
        cluster.restart(backup)?;
        faults.push(Fault { at_ms: at(start), what: format!("restart node {backup}") });
    }
    let mut storage_violation = None;
    for (i, fault) in spec.storage_faults.iter().enumerate() {
        let backup_only = degrade || !spec.protocol.faults().primary_kills;
        let victim = if i % 2 == 0 || backup_only { 1 - primary } else { primary };
        let role = if victim == primary { "primary" } else { "backup" };
        std::thread::sleep(Duration::from_millis(100 + rng.below(300)));
        cluster.kill(victim);
        let data = &cfg.node[victim].data;
        let what =
            fault.inject(data, &mut rng).map_err(io(format!("damage {}", data.display())))?;
        faults.push(Fault {
            at_ms: at(start),
            what: format!("kill -9 node {victim} ({role}); {what}"),
        });
        if victim == primary {
            // The backup takes over before the damaged node is back, as in a primary kill.
            std::thread::sleep(Duration::from_millis(cfg.suspect_ms + 300));
        }
        cluster.restart(victim)?;
        let refused = cluster.exited_within(victim, Duration::from_millis(1000))?;
        let said = std::fs::read_to_string(cluster.log(victim)).unwrap_or_default();
        let said = said.lines().last().unwrap_or_default().to_owned();
        match refused {
            Some(_) => {
                faults.push(Fault { at_ms: at(start), what: format!("node {victim}: {said}") });
                if !fault.refused() || !said.contains("--rejoin") {
                    storage_violation.get_or_insert(format!(
                        "node {victim} refused to start after {}: {said:?}",
                        fault.name()
                    ));
                }
                cluster.restart_with(victim, &["--rejoin"])?;
                faults.push(Fault {
                    at_ms: at(start),
                    what: format!("restart node {victim} --rejoin"),
                });
            }
            None if fault.refused() => {
                storage_violation.get_or_insert(format!(
                    "node {victim} started from a damaged journal ({})",
                    fault.name()
                ));
            }
            None => faults.push(Fault {
                at_ms: at(start),
                what: format!("node {victim} restarted from its journal, the torn record cut"),
            }),
        }
        if victim == primary {
            primary = 1 - primary;
        }
        // Time for the join (or the takeback), the catch-up and the welcome.
        std::thread::sleep(Duration::from_millis(1000));
    }
    for _ in 0..spec.partitions {
        // Cut off the primary or the backup for longer than the suspicion timeout: the backup
        // takes over either way (a false suspicion when it is the one cut off), and the old
        // primary, reconnected, is fenced and rejoins.
        let victim = rng.below(2) as usize;
        std::thread::sleep(Duration::from_millis(50 + rng.below(200)));
        cluster.partition(victim)?;
        faults.push(Fault {
            at_ms: at(start),
            what: format!(
                "cut node {victim} ({}) off for {} ms",
                if victim == primary { "primary" } else { "backup" },
                cfg.partition_ms
            ),
        });
        std::thread::sleep(Duration::from_millis(cfg.partition_ms + 700));
        // A takeover where the protocol has one (its model fails the primary).
        if !degrade && spec.protocol.faults().primary_kills {
            primary = 1 - primary;
        }
    }
    for _ in 0..spec.primary_kills {
        let victim = primary;
        std::thread::sleep(Duration::from_millis(50 + rng.below(300)));
        cluster.kill(victim);
        faults.push(Fault { at_ms: at(start), what: format!("kill -9 node {victim} (primary)") });
        std::thread::sleep(Duration::from_millis(cfg.suspect_ms + 300));
        cluster.restart(victim)?;
        let after = if degrade { "the outage ends" } else { "takeback" };
        faults.push(Fault { at_ms: at(start), what: format!("restart node {victim} ({after})") });
        // Time for the takeback (rejoin, catch-up, welcome) before the next primary dies.
        std::thread::sleep(Duration::from_millis(700));
        if !degrade {
            primary = 1 - primary;
        }
    }
    let (rt, report) =
        load.join().map_err(|_| ChaosError::Config("the load thread panicked".into()))?;
    let report = report?;
    // The final counters, read through a fresh session (it finds the new primary).
    let id = cfg.servers() + spec.window.max(1);
    let finals = if cfg.protocol == Protocol::Transactions {
        rt.block_on(counters_in_a_transaction(&cfg, id))?
    } else {
        crate::with_protocol!(cfg.protocol, P => rt.block_on(read_counters::<P>(&cfg, id)))?
    };
    let traces = [cluster.trace(0), cluster.trace(1)];
    drop(cluster);
    let (history_violation, transactions) = match &report {
        Loaded::Requests(r) => (judge(&r.history, &finals).err(), None),
        Loaded::Transactions(r) => match judge_transactions(&r.history, &finals) {
            Ok(counts) => (None, Some(counts)),
            Err(e) => (Some(e), None),
        },
    };
    let (answered, unanswered, throughput, pauses) = match &report {
        Loaded::Requests(r) => (r.answered, r.unanswered, r.throughput(), r.pauses.clone()),
        Loaded::Transactions(r) => (r.answered, r.unanswered, r.throughput(), r.pauses.clone()),
    };
    let (conformance_violation, steps_conformed) = match node::conform(&cfg, &traces) {
        Ok(steps) => (None, steps.iter().sum()),
        Err(e) => (Some(e.to_string()), 0),
    };
    let (mut takeovers, mut degradations) = (0, 0);
    for t in &traces {
        takeovers += takeovers_in(t)?.len();
        degradations += degradations_in(t)?.len();
    }
    Ok(ChaosReport {
        spec: spec.clone(),
        history_violation,
        conformance_violation,
        storage_violation,
        answered,
        unanswered,
        throughput,
        finals,
        faults,
        takeovers,
        degradations,
        pauses,
        steps_conformed,
        transactions,
    })
}
