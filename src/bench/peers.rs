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

use super::report::{Kind, Report};
use super::target::{Sample, Target};
use super::Options;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};
use twosafe_models::services::{Bank, BankOp, Service};

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
    fn run(&mut self, _: usize, _: f64) -> Result<Sample, String> {
        Err(self.why.clone())
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
                out.push(Box::new(Pg {
                    pair: pair.clone(),
                    mode,
                }));
            }
        }
        Err(why) => {
            r.notes.push(format!("PostgreSQL skipped: {why}"));
            for mode in ["on", "remote_apply"] {
                out.push(Box::new(Skipped {
                    system: format!("PostgreSQL 15 {mode}"),
                    why: why.clone(),
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
                out.push(Box::new(Skipped { system, why }));
            }
        }
    }
    out
}

fn temp_dir(name: &str) -> Result<PathBuf, String> {
    let d = std::env::temp_dir().join(format!("twosafe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).map_err(|e| format!("create {}: {e}", d.display()))?;
    Ok(d)
}

fn run_ok(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(format!("{what} failed ({}): {last}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// PostgreSQL's server programs refuse to run as root: as root, run them as `postgres`.
fn as_pg(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// The primary's `synchronous_standby_names` for a synchronous standby `standby1`.
const SYNC_STANDBY: &str = "FIRST 1 (standby1)";

/// A PostgreSQL 15 primary with one synchronous standby.
struct PgPair {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    root: bool,
    version: String,
}

impl PgPair {
    /// Checks the installation and makes the pair's temporary directory `twosafe-{name}-PID`;
    /// no server runs yet.
    fn new(port: u16, name: &str) -> Result<PgPair, String> {
        let bin = PathBuf::from("/usr/lib/postgresql/15/bin");
        if !bin.join("postgres").exists() {
            return Err(
                "PostgreSQL 15 is not installed (Debian package postgresql-15; \
                        benches/peers.sh installs it)"
                    .into(),
            );
        }
        let root = is_root();
        let dir = temp_dir(name)?;
        if root {
            run_ok(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&dir),
                "chown the temporary directory to postgres",
            )?;
        }
        let version = run_ok(
            Command::new(bin.join("postgres")).arg("--version"),
            "postgres --version",
        )?
        .trim()
        .to_string();
        Ok(PgPair {
            bin,
            dir,
            port,
            root,
            version,
        })
    }

    /// The TPC-B pair: primary and synchronous standby up, pgbench's tables loaded.
    fn start(port: u16, smoke: bool) -> Result<PgPair, String> {
        let pair = PgPair::new(port, "pg")?;
        pair.start_primary(SYNC_STANDBY)?;
        pair.start_standby()?;
        pair.wait_sync(Duration::from_secs(20))?;
        let scale = if smoke { "1" } else { "10" };
        run_ok(
            pair.client("pgbench")
                .args(["-i", "-q", "-s", scale, "postgres"]),
            "pgbench -i",
        )?;
        Ok(pair)
    }

    fn pg(&self, program: &str) -> Command {
        as_pg(self.root, &self.bin.join(program))
    }

    fn append(&self, file: &Path, lines: &str) -> Result<(), String> {
        // Written as the postgres user, so that ownership stays right.
        let mut c = if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "tee", "-a"]);
            c
        } else {
            let mut c = Command::new("tee");
            c.arg("-a");
            c
        };
        let mut child = c
            .arg(file)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("append to {}: {e}", file.display()))?;
        if let Some(mut i) = child.stdin.take() {
            i.write_all(lines.as_bytes())
                .map_err(|e| format!("append to {}: {e}", file.display()))?;
        }
        child
            .wait()
            .map_err(|e| format!("append to {}: {e}", file.display()))?;
        Ok(())
    }

    /// initdb and start the primary with `synchronous_standby_names = sync_names`.
    fn start_primary(&self, sync_names: &str) -> Result<(), String> {
        let primary = self.dir.join("primary");
        run_ok(
            self.pg("initdb").arg("-D").arg(&primary).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
            "initdb",
        )?;
        self.append(
            &primary.join("postgresql.conf"),
            &format!(
                "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
                 wal_level = replica\nmax_wal_senders = 4\n\
                 synchronous_standby_names = '{sync_names}'\nfsync = on\n",
                self.port,
                self.dir.display()
            ),
        )?;
        self.start_server("primary")?;
        Ok(())
    }

    /// A new standby `standby1` from the running primary: `pg_basebackup -X stream -R -c fast`,
    /// its own port (the primary's + 1), then started.
    fn start_standby(&self) -> Result<(), String> {
        run_ok(
            self.pg("pg_basebackup")
                .args(["-h", "127.0.0.1", "-p"])
                .arg(self.port.to_string())
                .args(["-U", "postgres", "-D"])
                .arg(self.dir.join("standby"))
                .args(["-X", "stream", "-R", "-c", "fast"]),
            "pg_basebackup",
        )?;
        // The standby inherits synchronous_standby_names: clear it (PEERS.md's trap).
        self.append(
            &self.dir.join("standby").join("postgresql.conf"),
            &format!(
                "port = {}\ncluster_name = 'standby1'\nsynchronous_standby_names = ''\n",
                self.port + 1
            ),
        )?;
        self.start_server("standby")?;
        Ok(())
    }

    /// Waits until the primary reports its standby synchronous.
    fn wait_sync(&self, limit: Duration) -> Result<(), String> {
        self.wait_for("sync_state", "sync", limit)
    }

    /// Polls `column` of the primary's `pg_stat_replication` (one standby) every 5 ms until it
    /// reads `want`, for at most `limit`.
    fn wait_for(&self, column: &str, want: &str, limit: Duration) -> Result<(), String> {
        let until = Instant::now() + limit;
        loop {
            let value = self.psql(&format!("select {column} from pg_stat_replication"))?;
            if value.trim() == want {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(format!(
                    "the standby's {column} was not {want} after {limit:?} \
                     (pg_stat_replication: {:?})",
                    value.trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts the server whose data directory is `name` (its log beside it) and waits for it.
    fn start_server(&self, name: &str) -> Result<String, String> {
        run_ok(
            self.pg("pg_ctl")
                .arg("-D")
                .arg(self.dir.join(name))
                .arg("-l")
                .arg(self.dir.join(format!("{name}.log")))
                .args(["-w", "start"]),
            &format!("start the PostgreSQL {name}"),
        )
    }

    /// A client `program` (psql, pgbench) pointed at the primary as `postgres`.
    fn client(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ]);
        c
    }

    fn psql(&self, sql: &str) -> Result<String, String> {
        run_ok(self.client("psql").args(["-Atc", sql, "postgres"]), "psql")
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        for d in ["standby", "primary"] {
            let _ = self
                .pg("pg_ctl")
                .arg("-D")
                .arg(self.dir.join(d))
                .args(["-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// pgbench against the pair with one `synchronous_commit` mode.
struct Pg {
    pair: Rc<PgPair>,
    mode: &'static str,
}

impl Target for Pg {
    fn system(&self) -> String {
        format!("PostgreSQL 15 {}", self.mode)
    }

    fn kind(&self) -> Kind {
        Kind::Peer
    }

    fn version(&self) -> Option<String> {
        Some(self.pair.version.clone())
    }

    fn run(&mut self, clients: usize, seconds: f64) -> Result<Sample, String> {
        let p = &self.pair;
        let logs = p.dir.join(format!("log-{}-{clients}", self.mode));
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs).map_err(|e| format!("create {}: {e}", logs.display()))?;
        let secs = seconds.ceil().max(1.0) as u64;
        let t = Instant::now();
        run_ok(
            p.client("pgbench")
                .env("PGOPTIONS", format!("-c synchronous_commit={}", self.mode))
                .args(["-M", "prepared", "-c", &clients.to_string()])
                .args(["-j", &clients.min(2).to_string(), "-T", &secs.to_string()])
                .arg("-l")
                .arg(format!("--log-prefix={}", logs.join("tx").display()))
                .arg("postgres"),
            "pgbench",
        )?;
        let elapsed = t.elapsed().as_secs_f64().min(secs as f64);
        // client_id transaction_no time(µs) script_no time_epoch time_us
        let latencies_us: Vec<u64> = pgbench_log(&logs)?
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
            .collect();
        let _ = std::fs::remove_dir_all(&logs);
        if latencies_us.is_empty() {
            return Err("pgbench logged no transaction".into());
        }
        Ok(Sample {
            latencies_us,
            elapsed_s: elapsed,
        })
    }
}

fn redis_name(aof: bool) -> String {
    if aof {
        "Redis AOF always + WAIT".into()
    } else {
        "Redis memory + WAIT".into()
    }
}

/// A Redis primary and its replica.
struct RedisPair {
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
fn redis_installed() -> Result<(PathBuf, String), String> {
    let exe = redis_server().ok_or(
        "Redis is not installed (Debian package redis-server; benches/peers.sh installs it)",
    )?;
    let version = run_ok(
        Command::new(&exe).arg("--version"),
        "redis-server --version",
    )?
    .trim()
    .to_string();
    Ok((exe, version))
}

impl RedisPair {
    fn start(port: u16, aof: bool) -> Result<RedisPair, String> {
        let (exe, version) = redis_installed()?;
        let dir = temp_dir(if aof { "redis-aof" } else { "redis" })?;
        let mut pair = RedisPair {
            port,
            aof,
            children: Vec::new(),
            dir,
            version,
        };
        for (i, p) in [port, port + 1].into_iter().enumerate() {
            let d = pair.dir.join(format!("n{i}"));
            std::fs::create_dir_all(&d).map_err(|e| format!("create {}: {e}", d.display()))?;
            let mut c = redis_node(&exe, &d, p, (i == 1).then_some(port), aof);
            let log = std::fs::File::create(pair.dir.join(format!("n{i}.log")))
                .map_err(|e| format!("create the Redis log: {e}"))?;
            let child = c
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("start redis-server: {e}"))?;
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

/// Sends one inline command and returns the reply's text (a bulk string's payload).
fn command(port: u16, cmd: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    s.write_all(format!("{cmd}\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let mut head = String::new();
    r.read_line(&mut head).map_err(|e| e.to_string())?;
    let Some(len) = head.strip_prefix('$') else {
        return Ok(head);
    };
    let len: usize = len
        .trim()
        .parse()
        .map_err(|_| format!("bad reply {head:?}"))?;
    let mut body = vec![0u8; len + 2];
    std::io::Read::read_exact(&mut r, &mut body).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn resp(args: &[&str]) -> String {
    let mut s = format!("*{}\r\n", args.len());
    for a in args {
        s.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s
}

/// One TPC-B-like transaction and its WAIT, as one write; the reply is 11 lines.
fn transaction(op: &BankOp) -> String {
    let BankOp::Transfer {
        account,
        teller,
        branch,
        delta,
    } = *op
    else {
        return String::new();
    };
    let d = delta.to_string();
    let mut s = resp(&["MULTI"]);
    s += &resp(&["INCRBY", &format!("a:{account}"), &d]);
    s += &resp(&["INCRBY", &format!("t:{teller}"), &d]);
    s += &resp(&["INCRBY", &format!("b:{branch}"), &d]);
    s += &resp(&["RPUSH", "h", &format!("{account}:{teller}:{branch}:{d}")]);
    s += &resp(&["EXEC"]);
    s += &resp(&["WAIT", "1", "0"]);
    s
}

fn client(port: u16, id: usize, until: Instant) -> Result<Vec<u64>, String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let mut out = Vec::new();
    let mut line = String::new();
    let mut i = 0;
    while Instant::now() < until {
        let tx = transaction(&Bank::workload(id, i));
        i += 1;
        let t = Instant::now();
        w.write_all(tx.as_bytes()).map_err(|e| e.to_string())?;
        for k in 0..11 {
            line.clear();
            r.read_line(&mut line).map_err(|e| e.to_string())?;
            if line.starts_with('-') {
                return Err(format!("Redis: {}", line.trim()));
            }
            if k == 10 && line.trim() == ":0" {
                return Err("WAIT 1 0 returned 0 replicas".into());
            }
        }
        out.push(t.elapsed().as_micros() as u64);
    }
    Ok(out)
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
struct Cleanup(Vec<Child>, PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

/// Redis's counterpart of `catchup`: a primary holding `n` rows (hashes of a balance and an
/// 84-byte filler) serves a paced `HINCRBY` load of `rate` commands/s from the moment a new,
/// empty replica is started with `--replicaof` (full synchronisation: a snapshot of the
/// primary, then the commands since); current when the replica reports its link up and no
/// sync in progress. From then on each command is followed by `WAIT 1 0` (2-safe, as ours
/// after its backup is current), for `after` seconds. `aof`: both keep an fsync'ed AOF.
pub fn redis_catchup(n: u32, aof: bool, rate: f64, after: f64) -> Result<CatchupRun, String> {
    let (exe, version) = redis_installed()?;
    let port = crate::runtime::chaos::free_port_pair().map_err(|e| e.to_string())?;
    let mut guard = Cleanup(Vec::new(), temp_dir("redis-catchup")?);
    let spawn = |i: usize, dir: &Path| -> Result<Child, String> {
        let d = dir.join(format!("n{i}"));
        std::fs::create_dir_all(&d).map_err(|e| format!("create {}: {e}", d.display()))?;
        let mut c = redis_node(&exe, &d, port + i as u16, (i == 1).then_some(port), aof);
        c.args(["--repl-diskless-sync-delay", "0"]);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start redis-server: {e}"))
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
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let filler = "f".repeat(84);
    let mut line = String::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut buf = String::new();
        for i in chunk {
            buf += &resp(&["HSET", &format!("a:{i}"), "b", "0", "f", &filler]);
        }
        w.write_all(buf.as_bytes()).map_err(|e| e.to_string())?;
        for _ in chunk {
            line.clear();
            r.read_line(&mut line).map_err(|e| e.to_string())?;
            if line.starts_with('-') {
                return Err(format!("Redis: {}", line.trim()));
            }
        }
    }
    // The load, paced, on its own thread; the replica starts at t0.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let wait = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let t0 = Instant::now();
    let load = {
        let (stop, wait) = (stop.clone(), wait.clone());
        std::thread::spawn(move || -> Result<Vec<(f64, f64)>, String> {
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
                w.write_all(cmd.as_bytes()).map_err(|e| e.to_string())?;
                for _ in 0..if waits { 2 } else { 1 } {
                    line.clear();
                    r.read_line(&mut line).map_err(|e| e.to_string())?;
                    if line.starts_with('-') {
                        return Err(format!("Redis: {}", line.trim()));
                    }
                }
                out.push((
                    t0.elapsed().as_secs_f64(),
                    sent.elapsed().as_secs_f64() * 1000.0,
                ));
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
                break Err(format!(
                    "the Redis replica of {n} rows was not in sync after 600 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    if current.is_ok() {
        wait.store(true, std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs_f64(after));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let timeline = load
        .join()
        .map_err(|_| "the Redis load thread panicked".to_string())??;
    Ok(CatchupRun {
        timeline,
        current_s: current?,
        version,
        copied_mb: None,
    })
}

/// PostgreSQL's counterpart of `catchup`: a primary holding `n` rows (`accounts`: an integer
/// key, a balance and an 84-byte filler) serves a paced load of `rate` single-row updates/s
/// (pgbench, a custom one-statement script, 4 clients) from the moment a new standby is built
/// from nothing: `pg_basebackup -X stream -R -c fast` (a copy of the whole cluster while
/// updates go on, then the WAL since its start), then the standby started. During the build
/// the primary commits alone; current when the primary reports the standby `streaming` (its
/// WAL sender has caught up), made synchronous (`synchronous_standby_names`, reloaded) and
/// reported `sync`: from then on every commit waits for the standby's flush (2-safe, as ours
/// after its backup is current). pgbench runs for a fixed time (`budget` s: it writes its
/// per-transaction log only when it ends normally), so the load after current runs until
/// then; the run fails if the standby is not current `after` seconds before the load ends.
/// PostgreSQL keeps its WAL fsync'ed (`fsync = on`): the peer of the fsync mode only.
pub fn pg_catchup(n: u32, rate: f64, after: f64, budget: f64) -> Result<CatchupRun, String> {
    let port = crate::runtime::chaos::free_port_pair().map_err(|e| e.to_string())?;
    let pair = PgPair::new(port, "pg-catchup")?;
    pair.start_primary("")?;
    pair.psql(&format!(
        "create table accounts (aid integer primary key, abalance integer not null, \
         filler char(84)); \
         insert into accounts select g, 0, '' from generate_series(0, {}) g;",
        n.max(1) - 1
    ))?;
    // Not in a transaction block, so each on its own.
    pair.psql("vacuum analyze accounts")?;
    pair.psql("checkpoint")?;
    // pg_basebackup copies the whole cluster: every database, not only the table.
    let bytes: f64 = pair
        .psql("select sum(pg_database_size(oid)) from pg_database")?
        .trim()
        .parse()
        .map_err(|e| format!("the cluster's size: {e}"))?;
    let script = pair.dir.join("deposit.sql");
    std::fs::write(
        &script,
        format!(
            "\\set aid random(0, {})\n\\set delta random(-999, 999)\n\
             update accounts set abalance = abalance + :delta where aid = :aid;\n",
            n.max(1) - 1
        ),
    )
    .map_err(|e| format!("write {}: {e}", script.display()))?;
    let logs = pair.dir.join("log");
    std::fs::create_dir_all(&logs).map_err(|e| format!("create {}: {e}", logs.display()))?;
    let secs = budget.ceil().max(1.0) as u64;
    let wall0 = std::time::SystemTime::now();
    let t0 = Instant::now();
    let load = pair
        .client("pgbench")
        .args(["-n", "-M", "prepared", "-c", "4", "-j", "2"])
        .args(["-R", &format!("{rate}"), "-T", &secs.to_string(), "-f"])
        .arg(&script)
        .arg("-l")
        .arg(format!("--log-prefix={}", logs.join("tx").display()))
        .arg("postgres")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start pgbench: {e}"))?;
    // No early return until pgbench is waited for (the pair's drop removes the directory).
    let current = pair
        .start_standby()
        .and_then(|()| {
            let left = Duration::from_secs(secs).saturating_sub(t0.elapsed());
            pair.wait_for("state", "streaming", left)
        })
        .and_then(|()| {
            pair.psql(&format!(
                "alter system set synchronous_standby_names = '{SYNC_STANDBY}'"
            ))?;
            pair.psql("select pg_reload_conf()")?;
            pair.wait_sync(Duration::from_secs(secs))?;
            Ok(t0.elapsed().as_secs_f64())
        });
    let out = load
        .wait_with_output()
        .map_err(|e| format!("pgbench: {e}"))?;
    let current_s = current?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "pgbench failed ({}): {}",
            out.status,
            err.lines().last().unwrap_or("").trim()
        ));
    }
    if current_s + after > secs as f64 {
        return Err(format!(
            "the new standby was current after {current_s:.2} s, less than {after} s before \
             the load's end at {secs} s"
        ));
    }
    let start = wall0
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs_f64();
    let mut timeline: Vec<(f64, f64)> = pgbench_log(&logs)?
        .lines()
        .filter_map(|l| paced_transaction(l, start))
        .collect();
    if timeline.is_empty() {
        return Err("pgbench logged no transaction".into());
    }
    timeline.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(CatchupRun {
        timeline,
        current_s,
        version: pair.version.clone(),
        copied_mb: Some(bytes / 1e6),
    })
}

/// Every per-transaction log file pgbench wrote in `dir` (one per thread), as one text.
fn pgbench_log(dir: &Path) -> Result<String, String> {
    let mut text = String::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let path = e.path();
        text +=
            &std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    }
    Ok(text)
}

/// One line of pgbench's per-transaction log under `--rate`: (completion time in seconds
/// since `start` (Unix seconds), latency in ms). The line is `client_id transaction_no time
/// script_no time_epoch time_us schedule_lag`; with `--rate`, `time` counts from the
/// transaction's scheduled start, so the schedule lag is taken off to get the latency.
fn paced_transaction(line: &str, start: f64) -> Option<(f64, f64)> {
    let f: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(f64::NAN))
        .collect();
    let [_, _, time, _, epoch, us, lag, ..] = f[..] else {
        return None;
    };
    let (done, latency) = (epoch + us / 1e6 - start, (time - lag) / 1000.0);
    (done.is_finite() && latency.is_finite()).then_some((done, latency))
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

    fn run(&mut self, clients: usize, seconds: f64) -> Result<Sample, String> {
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
        Ok(Sample {
            latencies_us,
            elapsed_s: t.elapsed().as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_pgbench_line_gives_completion_and_latency_without_lag() {
        // 1,250 µs from the scheduled start, 250 of them waiting for the schedule.
        let (done, ms) = paced_transaction("3 17 1250 0 1700000010 500000 250", 1_700_000_000.0)
            .expect("a well-formed line");
        assert!((done - 10.5).abs() < 1e-6, "{done}");
        assert!((ms - 1.0).abs() < 1e-9, "{ms}");
        // Without --rate there is no lag field; a skipped transaction has no number.
        assert_eq!(
            paced_transaction("3 17 1250 0 1700000010 500000", 0.0),
            None
        );
        assert_eq!(
            paced_transaction("3 17 skipped 0 1700000010 500000 250", 0.0),
            None
        );
    }

    #[test]
    fn a_transaction_is_five_commands_then_wait() {
        let t = transaction(&BankOp::Transfer {
            account: 7,
            teller: 1,
            branch: 0,
            delta: -5,
        });
        assert_eq!(t.matches("\r\n*").count() + 1, 7);
        assert!(t.starts_with("*1\r\n$5\r\nMULTI\r\n"));
        assert!(t.ends_with("*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n"));
        assert!(t.contains("$3\r\na:7\r\n$2\r\n-5\r\n"));
    }
}
