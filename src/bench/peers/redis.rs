//! Redis primary + replica (in memory, or each with an fsync'ed AOF), each transaction
//! followed by `WAIT 1 0`, and a replica built by full synchronisation for `catchup`.

use super::super::report::Kind;
use super::super::target::{Sample, Target};
use super::resp::{client, command, resp};
use super::{run_ok, temp_dir, CatchupRun, Cleanup};
use crate::bench::BenchError;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(super) fn redis_name(aof: bool) -> String {
    if aof {
        "Redis AOF always + WAIT".into()
    } else {
        "Redis memory + WAIT".into()
    }
}

/// A Redis primary and its replica.
pub(super) struct RedisPair {
    port: u16,
    aof: bool,
    children: Vec<Child>,
    dir: PathBuf,
    version: String,
}

fn redis_server() -> Option<PathBuf> {
    ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A Redis server on loopback `port` with data in `dir`, no snapshots, an fsync'ed AOF if
/// `aof`, and a replica of the primary on `replica_of` if given.
fn redis_node(exe: &Path, dir: &Path, port: u16, replica_of: Option<u16>, aof: bool) -> Command {
    let mut c = Command::new(exe);
    c.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(dir)
        .args(["--save", ""]);
    if aof {
        c.args(["--appendonly", "yes", "--appendfsync", "always"]);
    } else {
        c.args(["--appendonly", "no"]);
    }
    if let Some(primary) = replica_of {
        c.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
    }
    c
}

/// The `redis-server` executable and its version, or why it cannot be used.
fn redis_installed() -> Result<(PathBuf, String), BenchError> {
    let exe = redis_server().ok_or(
        "Redis is not installed (Debian package redis-server; benches/peers.sh installs it)",
    )?;
    let version =
        run_ok(Command::new(&exe).arg("--version"), "redis-server --version")?.trim().to_string();
    Ok((exe, version))
}

impl RedisPair {
    pub(super) fn start(port: u16, aof: bool) -> Result<RedisPair, BenchError> {
        let (exe, version) = redis_installed()?;
        let dir = temp_dir(if aof { "redis-aof" } else { "redis" })?;
        let mut pair = RedisPair { port, aof, children: Vec::new(), dir, version };
        for (i, p) in [port, port + 1].into_iter().enumerate() {
            let d = pair.dir.join(format!("n{i}"));
            std::fs::create_dir_all(&d)
                .map_err(BenchError::at(format!("create {}", d.display())))?;
            let mut c = redis_node(&exe, &d, p, (i == 1).then_some(port), aof);
            let log = std::fs::File::create(pair.dir.join(format!("n{i}.log")))
                .map_err(BenchError::at("create the Redis log"))?;
            let child = c
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(Stdio::null())
                .spawn()
                .map_err(BenchError::at("start redis-server"))?;
            pair.children.push(child);
        }
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let up = command(port + 1, "INFO replication")
                .map(|s| s.contains("master_link_status:up"))
                .unwrap_or(false);
            if up {
                break;
            }
            if Instant::now() > until {
                return Err("the Redis replica did not connect to its primary in 15 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(pair)
    }
}

impl Drop for RedisPair {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Redis's counterpart of `catchup`: a primary holding `n` rows (hashes of a balance and an
/// 84-byte filler) serves a paced `HINCRBY` load of `rate` commands/s from the moment a new,
/// empty replica is started with `--replicaof` (full synchronisation: a snapshot of the
/// primary, then the commands since); current when the replica reports its link up and no
/// sync in progress. From then on each command is followed by `WAIT 1 0` (2-safe, as ours
/// after its backup is current), for `after` seconds. `aof`: both keep an fsync'ed AOF.
pub fn redis_catchup(n: u32, aof: bool, rate: f64, after: f64) -> Result<CatchupRun, BenchError> {
    let (exe, version) = redis_installed()?;
    let port = crate::runtime::chaos::free_port_pair()?;
    let mut guard = Cleanup(Vec::new(), temp_dir("redis-catchup")?);
    let spawn = |i: usize, dir: &Path| -> Result<Child, BenchError> {
        let d = dir.join(format!("n{i}"));
        std::fs::create_dir_all(&d).map_err(BenchError::at(format!("create {}", d.display())))?;
        let mut c = redis_node(&exe, &d, port + i as u16, (i == 1).then_some(port), aof);
        c.args(["--repl-diskless-sync-delay", "0"]);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(BenchError::at("start redis-server"))
    };
    guard.0.push(spawn(0, &guard.1)?);
    let until = Instant::now() + Duration::from_secs(10);
    while !command(port, "PING").is_ok_and(|r| r.starts_with("+PONG")) {
        if Instant::now() > until {
            return Err("the Redis primary did not answer PING in 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Load the table, pipelined in batches.
    let s = TcpStream::connect(("127.0.0.1", port))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    let filler = "f".repeat(84);
    let mut line = String::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut buf = String::new();
        for i in chunk {
            buf += &resp(&["HSET", &format!("a:{i}"), "b", "0", "f", &filler]);
        }
        w.write_all(buf.as_bytes())?;
        for _ in chunk {
            line.clear();
            r.read_line(&mut line)?;
            if line.starts_with('-') {
                return Err(BenchError::Run(format!("Redis: {}", line.trim())));
            }
        }
    }
    // The load, paced, on its own thread; the replica starts at t0.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let wait = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let t0 = Instant::now();
    let load = {
        let (stop, wait) = (stop.clone(), wait.clone());
        std::thread::spawn(move || -> Result<Vec<(f64, f64)>, BenchError> {
            let mut out = Vec::new();
            let mut j = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let at = t0 + Duration::from_secs_f64(j as f64 / rate);
                if let Some(d) = at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
                let h = twosafe_models::services::fnv1a((j as u64).to_le_bytes());
                let key = format!("a:{}", h % u64::from(n.max(1)));
                let delta = (((h >> 32) % 1999) as i64 - 999).to_string();
                let waits = wait.load(std::sync::atomic::Ordering::Relaxed);
                let mut cmd = resp(&["HINCRBY", &key, "b", &delta]);
                if waits {
                    cmd += &resp(&["WAIT", "1", "0"]);
                }
                let sent = Instant::now();
                w.write_all(cmd.as_bytes())?;
                for _ in 0..if waits { 2 } else { 1 } {
                    line.clear();
                    r.read_line(&mut line)?;
                    if line.starts_with('-') {
                        return Err(BenchError::Run(format!("Redis: {}", line.trim())));
                    }
                }
                out.push((t0.elapsed().as_secs_f64(), sent.elapsed().as_secs_f64() * 1000.0));
                j += 1;
            }
            Ok(out)
        })
    };
    let replica = spawn(1, &guard.1);
    let current = replica.and_then(|c| {
        guard.0.push(c);
        let limit = Instant::now() + Duration::from_secs(600);
        loop {
            let info = command(port + 1, "INFO replication").unwrap_or_default();
            if info.contains("master_link_status:up") && info.contains("master_sync_in_progress:0")
            {
                break Ok(t0.elapsed().as_secs_f64());
            }
            if Instant::now() > limit {
                break Err(BenchError::Run(format!(
                    "the Redis replica of {n} rows was not in sync after 600 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    if current.is_ok() {
        wait.store(true, std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs_f64(after));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let timeline = load.join().map_err(|_| "the Redis load thread panicked".to_string())??;
    Ok(CatchupRun { timeline, current_s: current?, version, copied_mb: None })
}
impl Target for RedisPair {
    fn system(&self) -> String {
        redis_name(self.aof)
    }

    fn kind(&self) -> Kind {
        Kind::Peer
    }

    fn version(&self) -> Option<String> {
        Some(self.version.clone())
    }

    fn run(&mut self, clients: usize, seconds: f64) -> Result<Sample, BenchError> {
        let until = Instant::now() + Duration::from_secs_f64(seconds);
        let t = Instant::now();
        let port = self.port;
        let handles: Vec<_> = (0..clients)
            .map(|k| std::thread::spawn(move || client(port, 1000 + k, until)))
            .collect();
        let mut latencies_us = Vec::new();
        for h in handles {
            latencies_us.extend(h.join().map_err(|_| "a client thread panicked")??);
        }
        Ok(Sample { latencies_us, elapsed_s: t.elapsed().as_secs_f64(), ..Sample::default() })
    }
}
