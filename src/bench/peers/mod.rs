//! The real peers, run on loopback in a temporary directory and stopped afterwards (see
//! ../shared/PEERS.md for the setups): PostgreSQL 15 streaming replication with a synchronous
//! standby, driven by pgbench's built-in TPC-B-like script (3 updates + 1 insert) with
//! `synchronous_commit` = `on` and = `remote_apply`; Redis primary + replica, each transaction
//! `MULTI; INCRBY ×3; RPUSH; EXEC` followed by `WAIT 1 0`, in memory and with an fsync'ed AOF.
//! For `catchup`, a new replica built from nothing under a paced load: a PostgreSQL standby by
//! `pg_basebackup` ([`pg_catchup`]) and a Redis replica by full synchronisation
//! ([`redis_catchup`]).
//! Debian's packages `postgresql-15` and `redis-server` provide them (`benches/peers.sh`
//! installs both); a peer that is not installed or does not start is reported as skipped,
//! with the reason, never faked.

use crate::bench::BenchError;
mod postgres;
mod redis;
mod resp;

pub use postgres::pg_catchup;
pub use redis::redis_catchup;

use super::report::{Kind, Report};
use super::target::{Sample, Target};
use super::Options;
use postgres::{Pg, PgPair};
use redis::{redis_name, RedisPair};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;

/// A system that could not be set up: every run fails with the reason.
struct Skipped {
    system: String,
    why: String,
}

impl Target for Skipped {
    fn system(&self) -> String {
        self.system.clone()
    }
    fn kind(&self) -> Kind {
        Kind::Peer
    }
    fn run(&mut self, _: usize, _: f64) -> Result<Sample, BenchError> {
        Err(BenchError::Run(self.why.clone()))
    }
}

/// The peers, started now (their setup is not part of any run).
pub fn targets(o: &Options, r: &mut Report) -> Vec<Box<dyn Target>> {
    let mut out: Vec<Box<dyn Target>> = Vec::new();
    let base = 17_000 + (std::process::id() % 1000) as u16 * 10;
    match PgPair::start(base, o.smoke) {
        Ok(pair) => {
            let pair = Rc::new(pair);
            for mode in ["on", "remote_apply"] {
                out.push(Box::new(Pg { pair: pair.clone(), mode }));
            }
        }
        Err(why) => {
            r.notes.push(format!("PostgreSQL skipped: {why}"));
            for mode in ["on", "remote_apply"] {
                out.push(Box::new(Skipped {
                    system: format!("PostgreSQL 15 {mode}"),
                    why: why.to_string(),
                }));
            }
        }
    }
    for aof in [false, true] {
        let system = redis_name(aof);
        match RedisPair::start(base + 4 + if aof { 2 } else { 0 }, aof) {
            Ok(pair) => out.push(Box::new(pair)),
            Err(why) => {
                r.notes.push(format!("{system} skipped: {why}"));
                out.push(Box::new(Skipped { system, why: why.to_string() }));
            }
        }
    }
    out
}

pub(super) fn temp_dir(name: &str) -> Result<PathBuf, BenchError> {
    let d = std::env::temp_dir().join(format!("twosafe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).map_err(BenchError::at(format!("create {}", d.display())))?;
    Ok(d)
}

pub(super) fn run_ok(cmd: &mut Command, what: &str) -> Result<String, BenchError> {
    let out = cmd.stdin(Stdio::null()).output().map_err(BenchError::at(what))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(BenchError::Program {
            what: what.to_string(),
            status: out.status,
            stderr: err.lines().last().unwrap_or("").trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What a peer's catch-up run saw: every request's (completion s, latency ms) from the new
/// replica's start, and when it was current (s).
pub struct CatchupRun {
    /// Every request: completion time since the replica started (s), latency (ms).
    pub timeline: Vec<(f64, f64)>,
    /// When the replica was current (s).
    pub current_s: f64,
    /// The peer's version.
    pub version: String,
    /// What the new replica copied, where the peer says (MB).
    pub copied_mb: Option<f64>,
}

/// Kills the processes and removes the directory when dropped.
pub(super) struct Cleanup(pub Vec<Child>, pub PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.1);
    }
}
