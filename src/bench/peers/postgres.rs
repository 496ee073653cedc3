//! PostgreSQL 15 streaming replication with a synchronous standby, driven by pgbench
//! (`synchronous_commit` = `on` and = `remote_apply`), and a standby built by
//! `pg_basebackup` under a paced load for `catchup`.

use super::super::report::Kind;
use super::super::target::{Sample, Target};
use super::{run_ok, temp_dir, CatchupRun};
use crate::bench::BenchError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

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
pub(super) struct PgPair {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    root: bool,
    version: String,
}

impl PgPair {
    /// Checks the installation and makes the pair's temporary directory `twosafe-{name}-PID`;
    /// no server runs yet.
    fn new(port: u16, name: &str) -> Result<PgPair, BenchError> {
        let bin = PathBuf::from("/usr/lib/postgresql/15/bin");
        if !bin.join("postgres").exists() {
            return Err("PostgreSQL 15 is not installed (Debian package postgresql-15; \
                        benches/peers.sh installs it)"
                .into());
        }
        let root = is_root();
        let dir = temp_dir(name)?;
        if root {
            run_ok(
                Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir),
                "chown the temporary directory to postgres",
            )?;
        }
        let version =
            run_ok(Command::new(bin.join("postgres")).arg("--version"), "postgres --version")?
                .trim()
                .to_string();
        Ok(PgPair { bin, dir, port, root, version })
    }

    /// The TPC-B pair: primary and synchronous standby up, pgbench's tables loaded.
    pub(super) fn start(port: u16, smoke: bool) -> Result<PgPair, BenchError> {
        let pair = PgPair::new(port, "pg")?;
        pair.start_primary(SYNC_STANDBY)?;
        pair.start_standby()?;
        pair.wait_sync(Duration::from_secs(20))?;
        let scale = if smoke { "1" } else { "10" };
        run_ok(pair.client("pgbench").args(["-i", "-q", "-s", scale, "postgres"]), "pgbench -i")?;
        Ok(pair)
    }

    fn pg(&self, program: &str) -> Command {
        as_pg(self.root, &self.bin.join(program))
    }

    fn append(&self, file: &Path, lines: &str) -> Result<(), BenchError> {
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
            .map_err(BenchError::at(format!("append to {}", file.display())))?;
        if let Some(mut i) = child.stdin.take() {
            i.write_all(lines.as_bytes())
                .map_err(BenchError::at(format!("append to {}", file.display())))?;
        }
        child.wait().map_err(BenchError::at(format!("append to {}", file.display())))?;
        Ok(())
    }

    /// initdb and start the primary with `synchronous_standby_names = sync_names`.
    fn start_primary(&self, sync_names: &str) -> Result<(), BenchError> {
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
    fn start_standby(&self) -> Result<(), BenchError> {
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
    fn wait_sync(&self, limit: Duration) -> Result<(), BenchError> {
        self.wait_for("sync_state", "sync", limit)
    }

    /// Polls `column` of the primary's `pg_stat_replication` (one standby) every 5 ms until it
    /// reads `want`, for at most `limit`.
    fn wait_for(&self, column: &str, want: &str, limit: Duration) -> Result<(), BenchError> {
        let until = Instant::now() + limit;
        loop {
            let value = self.psql(&format!("select {column} from pg_stat_replication"))?;
            if value.trim() == want {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(BenchError::Run(format!(
                    "the standby's {column} was not {want} after {limit:?} \
                     (pg_stat_replication: {:?})",
                    value.trim()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts the server whose data directory is `name` (its log beside it) and waits for it.
    fn start_server(&self, name: &str) -> Result<String, BenchError> {
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
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"]);
        c
    }

    fn psql(&self, sql: &str) -> Result<String, BenchError> {
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
pub(super) struct Pg {
    pub(super) pair: Rc<PgPair>,
    pub(super) mode: &'static str,
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

    fn run(&mut self, clients: usize, seconds: f64) -> Result<Sample, BenchError> {
        let p = &self.pair;
        let logs = p.dir.join(format!("log-{}-{clients}", self.mode));
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs)
            .map_err(BenchError::at(format!("create {}", logs.display())))?;
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
        Ok(Sample { latencies_us, elapsed_s: elapsed, ..Sample::default() })
    }
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
pub fn pg_catchup(n: u32, rate: f64, after: f64, budget: f64) -> Result<CatchupRun, BenchError> {
    let port = crate::runtime::chaos::free_port_pair()?;
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
        .map_err(|e| BenchError::Run(format!("the cluster's size: {e}")))?;
    let script = pair.dir.join("deposit.sql");
    std::fs::write(
        &script,
        format!(
            "\\set aid random(0, {})\n\\set delta random(-999, 999)\n\
             update accounts set abalance = abalance + :delta where aid = :aid;\n",
            n.max(1) - 1
        ),
    )
    .map_err(BenchError::at(format!("write {}", script.display())))?;
    let logs = pair.dir.join("log");
    std::fs::create_dir_all(&logs).map_err(BenchError::at(format!("create {}", logs.display())))?;
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
        .map_err(BenchError::at("start pgbench"))?;
    // No early return until pgbench is waited for (the pair's drop removes the directory).
    let current = pair
        .start_standby()
        .and_then(|()| {
            let left = Duration::from_secs(secs).saturating_sub(t0.elapsed());
            pair.wait_for("state", "streaming", left)
        })
        .and_then(|()| {
            pair.psql(&format!("alter system set synchronous_standby_names = '{SYNC_STANDBY}'"))?;
            pair.psql("select pg_reload_conf()")?;
            pair.wait_sync(Duration::from_secs(secs))?;
            Ok(t0.elapsed().as_secs_f64())
        });
    let out = load.wait_with_output().map_err(BenchError::at("pgbench"))?;
    let current_s = current?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(BenchError::Run(format!(
            "pgbench failed ({}): {}",
            out.status,
            err.lines().last().unwrap_or("").trim()
        )));
    }
    if current_s + after > secs as f64 {
        return Err(BenchError::Run(format!(
            "the new standby was current after {current_s:.2} s, less than {after} s before \
             the load's end at {secs} s"
        )));
    }
    let start = wall0.duration_since(std::time::UNIX_EPOCH)?.as_secs_f64();
    let mut timeline: Vec<(f64, f64)> =
        pgbench_log(&logs)?.lines().filter_map(|l| paced_transaction(l, start)).collect();
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
fn pgbench_log(dir: &Path) -> Result<String, BenchError> {
    let mut text = String::new();
    let entries =
        std::fs::read_dir(dir).map_err(BenchError::at(format!("read {}", dir.display())))?;
    for e in entries.flatten() {
        let path = e.path();
        text += &std::fs::read_to_string(&path)
            .map_err(BenchError::at(format!("read {}", path.display())))?;
    }
    Ok(text)
}

/// One line of pgbench's per-transaction log under `--rate`: (completion time in seconds
/// since `start` (Unix seconds), latency in ms). The line is `client_id transaction_no time
/// script_no time_epoch time_us schedule_lag`; with `--rate`, `time` counts from the
/// transaction's scheduled start, so the schedule lag is taken off to get the latency.
fn paced_transaction(line: &str, start: f64) -> Option<(f64, f64)> {
    let f: Vec<f64> = line.split_whitespace().map(|x| x.parse().unwrap_or(f64::NAN)).collect();
    let [_, _, time, _, epoch, us, lag, ..] = f[..] else {
        return None;
    };
    let (done, latency) = (epoch + us / 1e6 - start, (time - lag) / 1000.0);
    (done.is_finite() && latency.is_finite()).then_some((done, latency))
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
        assert_eq!(paced_transaction("3 17 1250 0 1700000010 500000", 0.0), None);
        assert_eq!(paced_transaction("3 17 skipped 0 1700000010 500000 250", 0.0), None);
    }
}
