//! A system under measurement: ours (a fresh local twosafe cluster per run) or a peer; each
//! run is `clients` closed-loop clients sending TPC-B-like transactions back to back for a
//! duration, and yields every transaction's latency.

use super::report::{Kind, Metrics};
use crate::bench::BenchError;
use crate::runtime::binding::Protocol;
use crate::runtime::chaos::LocalCluster;
use crate::runtime::config::{Durability, ServiceKind};
use crate::runtime::load::{self, LoadSpec};
use crate::runtime::node::NodeStats;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use twosafe_models::services::Bank;

/// What one run measured.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Every answered transaction's latency, µs.
    pub latencies_us: Vec<u64>,
    /// The run's wall time, s.
    pub elapsed_s: f64,
    /// Further metrics of the system's own (ours: requests per force and frames per write).
    pub extra: Metrics,
}

impl Sample {
    /// Throughput and latency statistics under the names the reports share: `tps`, `avg_ms`,
    /// `min_ms`, `max_ms`, `p50_ms`, `p95_ms`, `p99_ms`, `under_15ms` (a share, 0..1).
    pub fn metrics(&self) -> Metrics {
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        let mut m = Metrics::new();
        m.insert("tps".into(), v.len() as f64 / self.elapsed_s.max(1e-9));
        if v.is_empty() {
            return m;
        }
        let ms = |x: u64| x as f64 / 1000.0;
        let at = |q: f64| ms(v[(((v.len() - 1) as f64) * q).round() as usize]);
        m.insert(
            "avg_ms".into(),
            v.iter().map(|x| *x as f64).sum::<f64>() / v.len() as f64 / 1000.0,
        );
        m.insert("min_ms".into(), ms(v[0]));
        m.insert("max_ms".into(), ms(v[v.len() - 1]));
        m.insert("p50_ms".into(), at(0.5));
        m.insert("p95_ms".into(), at(0.95));
        m.insert("p99_ms".into(), at(0.99));
        m.insert(
            "under_15ms".into(),
            v.iter().filter(|x| **x < 15_000).count() as f64 / v.len() as f64,
        );
        m.extend(self.extra.iter().map(|(k, v)| (k.clone(), *v)));
        m
    }
}

/// A system that can run the TPC-B-like load.
pub trait Target {
    /// Its name in the tables ("twosafe fsync", "PostgreSQL 15 remote_apply").
    fn system(&self) -> String;
    /// Ours or a peer.
    fn kind(&self) -> Kind;
    /// Runs `clients` closed-loop clients for `seconds`. An error skips the system for the
    /// rest of the experiment, with the error as the reason.
    fn run(&mut self, clients: usize, seconds: f64) -> Result<Sample, BenchError>;
    /// Its version, for the report.
    fn version(&self) -> Option<String> {
        None
    }
}

/// twosafe: a primary with a hot standby running `protocol` (linear 2PC, or logical
/// checkpointing), the TPC-B-like bank, a fresh two-node cluster of `twosafe node` processes
/// per run (so no run inherits another's history). Linear 2PC runs pipelined: up to
/// [`BUFFERS`] change buffers in flight (the cluster file's `buffers`).
pub struct Ours {
    exe: PathBuf,
    dir: PathBuf,
    durability: Durability,
    protocol: Protocol,
}

/// The change buffers a linear 2PC primary keeps in flight in the benchmarks: more than the
/// largest window, so that every client's step can be in flight at once.
pub const BUFFERS: usize = 16;

/// The metrics a run of ours adds from the nodes' counts (`stats.json`, written as each node
/// stops): requests answered per journal force at the primary and at the backup (fsync mode)
/// or per journal write (memory mode, where nothing is forced), and frames per socket write
/// at the primary.
fn node_metrics(answered: u64, durability: Durability, nodes: &[Option<NodeStats>]) -> Metrics {
    let mut m = Metrics::new();
    let per = |n: u64| (n > 0).then(|| answered as f64 / n as f64);
    let writes = |s: &NodeStats| match durability {
        Durability::Fsync => s.core.forces,
        Durability::Memory => s.core.journal_writes,
    };
    for (name, node) in [("primary", nodes.first()), ("backup", nodes.get(1))] {
        if let Some(v) = node.and_then(Option::as_ref).and_then(|s| per(writes(s))) {
            m.insert(format!("req_per_force_{name}"), v);
        }
    }
    if let Some(p) = nodes.first().and_then(Option::as_ref).filter(|p| p.flushes > 0) {
        m.insert("frames_per_write".into(), p.frames_out as f64 / p.flushes as f64);
    }
    m
}

impl Ours {
    /// Linear 2PC, with the `twosafe` executable `exe`, clusters under `dir`.
    pub fn new(exe: PathBuf, dir: PathBuf, durability: Durability) -> Self {
        Self::running(exe, dir, durability, Protocol::Linear2pc)
    }

    /// As [`Ours::new`], running `protocol`.
    pub fn running(exe: PathBuf, dir: PathBuf, durability: Durability, protocol: Protocol) -> Self {
        Ours { exe, dir, durability, protocol }
    }

    /// "" for linear 2PC (its rows keep their names), "LC " for logical checkpointing, "FC "
    /// for fuzzy copy.
    fn tag(&self) -> &'static str {
        match self.protocol {
            Protocol::Linear2pc => "",
            Protocol::LogicalCheckpointing => "LC ",
            Protocol::FuzzyCopy => "FC ",
            Protocol::Transactions => "TX ",
        }
    }
}

/// The name of a durability mode in tables.
pub fn mode(d: Durability) -> &'static str {
    match d {
        Durability::Memory => "memory",
        Durability::Fsync => "fsync",
    }
}

/// A current-thread tokio runtime for the in-process clients.
pub fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::at("cannot start the async runtime"))
}

impl Target for Ours {
    fn system(&self) -> String {
        format!("twosafe {}{}", self.tag(), mode(self.durability))
    }

    fn kind(&self) -> Kind {
        Kind::Ours
    }

    fn run(&mut self, clients: usize, seconds: f64) -> Result<Sample, BenchError> {
        let dir = self.dir.join(format!("ours-{}-{}", self.protocol, mode(self.durability)));
        let protocol = self.protocol;
        let mut cluster = LocalCluster::launch(
            &self.exe,
            &dir,
            self.durability,
            ServiceKind::Tpcb,
            false,
            |cfg| {
                cfg.protocol = protocol;
                if protocol == Protocol::Linear2pc {
                    cfg.buffers = BUFFERS;
                }
            },
        )?;
        let cfg = cluster.cfg.clone();
        let rt = runtime()?;
        let first = cfg.servers();
        // Warm-up (connections made, nodes started), then the measured run with fresh ids.
        let warm = LoadSpec {
            per_session: 1,
            window: clients,
            duration: Duration::from_millis(300),
            first_client: first,
        };
        let warmed = crate::with_protocol!(protocol, P =>
            rt.block_on(load::run::<P, Bank>(&cfg, &warm, Arc::new(AtomicU64::new(0)))))?;
        let spec = LoadSpec {
            per_session: 1,
            window: clients,
            duration: Duration::from_secs_f64(seconds),
            first_client: first + clients,
        };
        let r = crate::with_protocol!(protocol, P =>
            rt.block_on(load::run::<P, Bank>(&cfg, &spec, Arc::new(AtomicU64::new(0)))))?;
        // The nodes count from their start: the warm-up's requests are in their counts too.
        let nodes: Vec<_> =
            (0..cfg.servers()).map(|id| cluster.stop(id, Duration::from_secs(5))).collect();
        drop(cluster);
        let extra = node_metrics(warmed.answered + r.answered, self.durability, &nodes);
        if r.unanswered > 0 {
            return Err(BenchError::Run(format!(
                "{} requests unanswered without a fault",
                r.unanswered
            )));
        }
        Ok(Sample {
            latencies_us: r
                .history
                .iter()
                .filter(|c| c.reply.is_some())
                .map(|c| c.return_us - c.invoke_us)
                .collect(),
            elapsed_s: r.elapsed.as_secs_f64(),
            extra,
        })
    }

    fn version(&self) -> Option<String> {
        Some(env!("CARGO_PKG_VERSION").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_per_force_come_from_the_nodes_counts() {
        use crate::runtime::host::Stats;
        let node = |forces, journal_writes, frames_out, flushes| NodeStats {
            core: Stats { forces, journal_writes, ..Stats::default() },
            frames_out,
            flushes,
        };
        let nodes = [Some(node(20, 20, 300, 200)), Some(node(25, 25, 0, 0))];
        let m = node_metrics(100, Durability::Fsync, &nodes);
        assert_eq!(m["req_per_force_primary"], 5.0);
        assert_eq!(m["req_per_force_backup"], 4.0);
        assert_eq!(m["frames_per_write"], 1.5);
        // Memory mode forces nothing: its journal writes count; a node without counts (it
        // did not stop gracefully) has no figure, and nothing is divided by zero.
        let nodes = [Some(node(0, 50, 10, 10)), None];
        let m = node_metrics(100, Durability::Memory, &nodes);
        assert_eq!(m["req_per_force_primary"], 2.0);
        assert!(!m.contains_key("req_per_force_backup"));
        assert!(!node_metrics(100, Durability::Fsync, &nodes).contains_key("req_per_force_primary"));
    }

    #[test]
    fn metrics_of_a_known_sample() {
        let s = Sample {
            latencies_us: vec![1_000, 3_000, 2_000, 20_000],
            elapsed_s: 2.0,
            ..Sample::default()
        };
        let m = s.metrics();
        assert_eq!(m["tps"], 2.0);
        assert_eq!(m["min_ms"], 1.0);
        assert_eq!(m["max_ms"], 20.0);
        assert_eq!(m["avg_ms"], 6.5);
        assert_eq!(m["under_15ms"], 0.75);
    }
}
