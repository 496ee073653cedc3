//! The runtime's commands: `node`, `cluster`, `load`, `config`.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use twosafe::models::services::Service;
use twosafe::runtime::binding::transactions::Transactions;
use twosafe::runtime::binding::Binding;
use twosafe::runtime::chaos;
use twosafe::runtime::client::ClientError;
use twosafe::runtime::config::{ClusterConfig, Durability, Protocol, ServiceKind, SilentBackup};
use twosafe::runtime::load::{self, LoadSpec};
use twosafe::runtime::node;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// `twosafe node`.
pub fn node_cmd(
    config: &Path, id: usize, trace: Option<&Path>, rejoin: bool, force: bool,
) -> Result<()> {
    let cfg = ClusterConfig::load(config)?;
    let from = match (rejoin, force) {
        (false, _) => node::StartFrom::Journal,
        (true, false) => node::StartFrom::Rejoin,
        (true, true) => node::StartFrom::RejoinForced,
    };
    runtime()?.block_on(node::serve(&cfg, id, trace, from, shutdown()))?;
    Ok(())
}

/// `twosafe format`.
pub fn format_cmd(config: &Path, id: Option<usize>) -> Result<()> {
    let cfg = ClusterConfig::load(config)?;
    let ids: Vec<usize> = match id {
        Some(id) => vec![id],
        None => (0..cfg.servers()).collect(),
    };
    for journal in node::format(&cfg, ids)? {
        eprintln!("formatted {}", journal.display());
    }
    Ok(())
}

/// `twosafe chaos` options.
#[derive(clap::Args)]
pub struct ChaosArgs {
    /// How long the load runs.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// The seed of the fault schedule (a failing run replays from its seed).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Backup kills before the primary's (default: one per two seconds of load).
    #[arg(long)]
    pub backup_kills: Option<usize>,
    /// Primary kills, each followed by a takeover and a takeback (default 2).
    #[arg(long)]
    pub primary_kills: Option<usize>,
    /// Partitions: the primary or the backup cut off (all its connections) for longer
    /// than the suspicion timeout (default 1).
    #[arg(long)]
    pub partitions: Option<usize>,
    /// Storage faults after the backup kills, alternately to the backup and to the primary:
    /// the node is killed, its data damaged, and it is restarted; a node that refuses to
    /// start is restarted with --rejoin (default 0).
    #[arg(long, default_value_t = 0)]
    pub storage_faults: usize,
    /// Which storage faults to draw from, in turn (repeatable; default all): torn-tail,
    /// flipped-byte, garbage, empty-journal, deleted-dir.
    #[arg(long = "storage-kind", value_name = "KIND")]
    pub storage_kinds: Vec<chaos::StorageFault>,
    /// memory or fsync.
    #[arg(long, default_value = "fsync", value_parser = crate::parse_durability)]
    pub durability: Durability,
    /// What the primary does when its backup is silent: block (the backup takes over when the
    /// primary is) or degrade (after 300 ms the primary fences the backup out and continues
    /// alone; the backup never takes over, so a primary kill is an outage until its restart,
    /// and storage faults go to the backup only).
    #[arg(long, default_value = "block")]
    pub silent_backup: SilentBackup,
    /// The protocol the cluster runs (linear-2pc, logical-checkpointing, fuzzy-copy,
    /// transactions). The fuzzy-copy model fails its backup only: its default is backup kills
    /// and a partition, storage faults go to the backup, and primary kills are refused.
    /// Transactions run counter transactions (--txn-mode, --txn-ops) and judge them all or
    /// none.
    #[arg(long, default_value = "linear-2pc")]
    pub protocol: Protocol,
    /// With --protocol transactions: entry (checkpointed request by request) or batch
    /// (checkpointed at the end indicator; a takeover aborts the open transactions).
    #[arg(long, value_enum, default_value = "entry")]
    pub txn_mode: load::TxnMode,
    /// With --protocol transactions: requests per transaction, alternating between the two
    /// counters.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..))]
    pub txn_ops: u8,
    /// Requests each of the load's three sessions keeps outstanding (logical checkpointing's
    /// client window, distinct sequence numbers, up to 64; the other protocols' clients send
    /// one at a time).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub per_session: u64,
    /// With --protocol linear-2pc: change buffers the primary keeps in flight (pipelining; the
    /// load's three sessions then have their steps in flight together). 1 is one step at a
    /// time.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub buffers: u64,
    /// Where the cluster's files go (default: a fresh temporary directory, removed after a
    /// passing run).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `twosafe chaos`.
pub fn chaos_cmd(a: ChaosArgs) -> Result<std::process::ExitCode> {
    let ChaosArgs {
        seconds,
        seed,
        backup_kills,
        primary_kills,
        partitions,
        storage_faults,
        storage_kinds,
        durability,
        silent_backup,
        protocol,
        txn_mode,
        txn_ops,
        per_session,
        buffers,
        dir,
        json,
    } = a;
    let kinds =
        if storage_kinds.is_empty() { chaos::StorageFault::ALL.to_vec() } else { storage_kinds };
    let storage_faults: Vec<_> =
        (0..storage_faults).map(|i| kinds[(seed as usize + i) % kinds.len()]).collect();
    if !(1.0..=3600.0).contains(&seconds) {
        bail!("--seconds must be between 1 and 3600");
    }
    let exe = std::env::current_exe().context("cannot find the twosafe executable")?;
    let temporary = dir.is_none();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("twosafe-chaos-{}-{seed}", std::process::id()))
    });
    let faults = protocol.faults();
    let spec = chaos::ChaosSpec {
        seconds,
        seed,
        durability,
        backup_kills: backup_kills.unwrap_or(seconds as usize / 2),
        primary_kills: primary_kills.unwrap_or(if faults.primary_kills { 2 } else { 0 }),
        partitions: partitions.unwrap_or(if faults.partitions { 1 } else { 0 }),
        window: 3,
        per_session: per_session as usize,
        storage_faults,
        silent_backup,
        protocol,
        buffers: buffers as usize,
        txn: load::TxnSpec { mode: txn_mode, ops: txn_ops },
    };
    spec.check_faults().map_err(anyhow::Error::msg)?;
    check_per_session(protocol, spec.per_session)?;
    if buffers != 1 && protocol != Protocol::Linear2pc {
        bail!("--buffers is linear 2PC's pipelining; {protocol} takes 1");
    }
    if !json {
        eprintln!(
            "chaos: {seconds} s of load, seed {seed}, {} backup kills, {} storage faults, {} partitions, {} primary kills, durability {durability:?}, silent backup: {silent_backup:?}, buffers {buffers}, in {}",
            spec.backup_kills,
            spec.storage_faults.len(),
            spec.partitions,
            spec.primary_kills,
            dir.display()
        );
    }
    let report = chaos::run(&exe, &dir, &spec)?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for f in &report.faults {
            println!("{:>7} ms  {}", f.at_ms, f.what);
        }
        println!(
            "{} requests answered ({} unanswered), {:.0} req/s; takeovers: {}, degradations: {}; final counters {:?}",
            report.answered,
            report.unanswered,
            report.throughput,
            report.takeovers,
            report.degradations,
            report.finals
        );
        if let Some(t) = &report.transactions {
            println!(
                "transactions ({:?}): {} committed, {} aborted and restarted, {} unanswered, {} \
                 unfinished",
                spec.txn.mode, t.committed, t.aborted, t.uncertain, t.unfinished
            );
        }
        println!("{}", pauses_line(&report.pauses));
        println!(
            "roles (silent backup: {silent_backup:?}): {}",
            report.policy_violation().as_deref().unwrap_or("ok")
        );
        let judged = if report.transactions.is_some() { ", all or none" } else { "" };
        println!(
            "history (no lost update, at most once, real-time order{judged}): {}",
            report.history_violation.as_deref().unwrap_or("ok")
        );
        if !spec.storage_faults.is_empty() {
            println!(
                "storage (damage refused, torn tails cut): {}",
                report.storage_violation.as_deref().unwrap_or("ok")
            );
        }
        println!(
            "conformance ({} node steps replayed through the model): {}",
            report.steps_conformed,
            report.conformance_violation.as_deref().unwrap_or("ok")
        );
        println!("verdict: {}", if report.passed() { "PASS" } else { "FAIL" });
    }
    if report.passed() {
        if temporary {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        eprintln!("chaos: the run's files are kept in {}", dir.display());
        Ok(std::process::ExitCode::FAILURE)
    }
}

/// What a load's clients saw of its pauses, in one line.
fn pauses_line(p: &load::Pauses) -> String {
    let at: Vec<String> =
        p.each_ms.iter().take(8).map(|(at, ms)| format!("{ms:.0} ms at {at:.0} ms")).collect();
    let more = if p.count > 8 { ", …" } else { "" };
    format!(
        "pauses (no reply for ≥ {} ms): {}{}",
        load::PAUSE.as_millis(),
        p.count,
        if p.count == 0 {
            String::new()
        } else {
            format!(", longest {:.0} ms ({}{more})", p.longest_ms, at.join(", "))
        }
    )
}

/// `twosafe conform`.
pub fn conform_cmd(config: &Path, traces: &[PathBuf]) -> Result<()> {
    let cfg = ClusterConfig::load(config)?;
    let steps = node::conform(&cfg, traces)?;
    for (t, n) in traces.iter().zip(steps) {
        println!("{}: {n} steps, each one the model takes", t.display());
    }
    Ok(())
}

/// `twosafe config`: a local two-node configuration on stdout.
pub fn config_cmd(
    dir: &Path, port: u16, service: ServiceKind, durability: Durability, protocol: Protocol,
) -> Result<()> {
    let mut cfg = ClusterConfig::local(dir, port, service, durability);
    cfg.protocol = protocol;
    cfg.validate()?;
    print!("{}", toml::to_string(&cfg)?);
    Ok(())
}

/// `twosafe cluster`: every node of the configuration as a child process, until Ctrl-C.
pub fn cluster_cmd(config: &Path) -> Result<()> {
    let cfg = ClusterConfig::load(config)?;
    let exe = std::env::current_exe().context("cannot find the twosafe executable")?;
    // A new cluster (no node has a journal) is formatted; a cluster of which some node has
    // lost its journal is not: that node refuses to start and says how to rejoin.
    if cfg.node.iter().all(|n| !twosafe::runtime::journal::exists(&n.data)) {
        node::format(&cfg, 0..cfg.servers())?;
        eprintln!("new cluster {:?}: {} journals formatted", cfg.cluster, cfg.servers());
    }
    let mut children: Vec<Child> = Vec::new();
    for (id, n) in cfg.node.iter().enumerate() {
        let child = Process::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(config)
            .arg("--id")
            .arg(id.to_string())
            .spawn()
            .with_context(|| format!("cannot start node {id}"))?;
        eprintln!("node {id}: pid {} on {} (data {})", child.id(), n.addr, n.data.display());
        children.push(child);
    }
    eprintln!("cluster {:?} running; Ctrl-C stops it", cfg.cluster);
    runtime()?.block_on(shutdown());
    for c in &mut children {
        // SIGTERM: each node finishes its batch and exits.
        let _ = Process::new("kill").arg("-TERM").arg(c.id().to_string()).status();
    }
    for c in &mut children {
        let _ = c.wait();
    }
    eprintln!("cluster stopped");
    Ok(())
}

/// `twosafe load` options.
#[derive(clap::Args)]
pub struct LoadArgs {
    /// The cluster configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// Client sessions (client ids), each with --per-session requests outstanding.
    #[arg(long, default_value_t = 1)]
    pub window: usize,
    /// Requests each session keeps outstanding at once: logical checkpointing's client window
    /// (distinct sequence numbers, up to 64); the other protocols' clients send one at a time.
    #[arg(long, default_value_t = 1)]
    pub per_session: usize,
    /// How long to send.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// The first session's client id (default: the first client id). A later run may use
    /// the same ids (each run's sessions are newer); two runs at once need disjoint ids.
    #[arg(long)]
    pub first_client: Option<usize>,
    /// Write the client-visible history here, one JSON object per request.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// One JSON summary line instead of text.
    #[arg(long)]
    pub json: bool,
    /// With protocol = "transactions": how a transaction is checkpointed, entry by entry
    /// (each request as it comes; a takeover keeps the transaction) or as a batch at its end
    /// indicator (a takeover before it aborts the transaction, which is restarted).
    #[arg(long, value_enum)]
    pub txn_mode: Option<load::TxnMode>,
    /// With protocol = "transactions": requests per transaction (default 2).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..))]
    pub txn_ops: Option<u8>,
}

/// Refuses a session window the protocol's client does not have.
fn check_per_session(protocol: Protocol, per_session: usize) -> Result<()> {
    let most = twosafe::with_protocol!(protocol, P => P::session_window());
    if per_session == 0 || per_session > most {
        bail!(
            "--per-session {per_session} must be in 1..={most}: {protocol}'s client {}",
            if most == 1 {
                "sends one request at a time (use more sessions: --window)".to_string()
            } else {
                format!("keeps up to {most} requests outstanding")
            }
        );
    }
    Ok(())
}

/// `twosafe load`.
pub fn load_cmd(a: &LoadArgs) -> Result<()> {
    let cfg = ClusterConfig::load(&a.config)?;
    if a.window == 0 || a.window > cfg.clients {
        bail!("--window {} must be in 1..={} (the configuration's clients)", a.window, cfg.clients);
    }
    if !(a.seconds > 0.0 && a.seconds.is_finite()) {
        bail!("--seconds must be positive");
    }
    check_per_session(cfg.protocol, a.per_session)?;
    let first = a.first_client.unwrap_or(cfg.servers());
    let spec = LoadSpec {
        per_session: a.per_session,
        window: a.window,
        duration: Duration::from_secs_f64(a.seconds),
        first_client: first,
    };
    let txn = (cfg.protocol == Protocol::Transactions).then(|| {
        let d = load::TxnSpec::default();
        load::TxnSpec { ops: a.txn_ops.unwrap_or(d.ops), mode: a.txn_mode.unwrap_or(d.mode) }
    });
    if txn.is_none() && (a.txn_mode.is_some() || a.txn_ops.is_some()) {
        bail!(
            "--txn-mode and --txn-ops are for a cluster with protocol = \"transactions\"; this \
             one runs {}",
            cfg.protocol
        );
    }
    match txn {
        Some(txn) => twosafe::with_service!(cfg.service, S => load_service(
            &cfg, &spec, a, (Transactions::NAME, S::NAME),
            |progress| load::run_transactions::<Transactions, S>(&cfg, &spec, txn, progress),
            |r| Some(r.transactions()),
        )),
        None => twosafe::with_protocol!(cfg.protocol, P =>
        twosafe::with_service!(cfg.service, S => load_service(
            &cfg, &spec, a, (P::NAME, S::NAME),
            |progress| load::run::<P, S>(&cfg, &spec, progress),
            |_| None,
        ))),
    }
}

/// Runs a load (`run`) with a progress bar and prints its summary; `transactions` sums up the
/// transactions of a transaction load.
fn load_service<Op: Serialize, Reply: Serialize, F>(
    cfg: &ClusterConfig, spec: &LoadSpec, a: &LoadArgs, (protocol, service): (&str, &str),
    run: impl FnOnce(Arc<AtomicU64>) -> F,
    transactions: impl FnOnce(&load::LoadReport<Op, Reply>) -> Option<load::TxnSummary>,
) -> Result<()>
where
    F: std::future::Future<Output = Result<load::LoadReport<Op, Reply>, ClientError>>,
{
    let progress = Arc::new(AtomicU64::new(0));
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) && !a.json {
        let b = ProgressBar::new((a.seconds * 10.0) as u64);
        b.set_style(ProgressStyle::with_template("{bar:40} {elapsed}/{duration} {msg}")?);
        Some(b)
    } else {
        None
    };
    let rt = runtime()?;
    let report = rt.block_on(async {
        let ticker = bar.clone().map(|b| {
            let progress = progress.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    b.inc(1);
                    b.set_message(format!(
                        "{} replies",
                        progress.load(std::sync::atomic::Ordering::Relaxed)
                    ));
                }
            })
        });
        let r = run(progress.clone()).await;
        if let Some(t) = ticker {
            t.abort();
        }
        r
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(path) = &a.history {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        );
        for c in &report.history {
            serde_json::to_writer(&mut f, c)?;
            writeln!(f)?;
        }
        f.flush()?;
    }
    let txns = transactions(&report);
    let per_s = |n: u64| n as f64 / report.elapsed.as_secs_f64().max(1e-9);
    let summary = serde_json::json!({
        "protocol": protocol,
        "service": service,
        "transactions": txns.as_ref().map(|t| serde_json::json!({
            "committed": t.committed,
            "aborted": t.aborted,
            "throughput": per_s(t.committed),
            "latency_ms": { "p50": t.p50_ms, "p99": t.p99_ms },
        })),
        "window": spec.window,
        "per_session": spec.per_session,
        "seconds": report.elapsed.as_secs_f64(),
        "answered": report.answered,
        "unanswered": report.unanswered,
        "throughput": report.throughput(),
        "latency_ms": {
            "mean": report.latency.mean() / 1000.0,
            "p50": report.latency_ms(0.5),
            "p99": report.latency_ms(0.99),
            "max": report.latency.max() as f64 / 1000.0,
        },
        "pauses": report.pauses,
        "durability": cfg.durability,
    });
    if a.json {
        println!("{summary}");
    } else {
        println!(
            "{} requests in {:.1} s ({} unanswered): {:.0} req/s; latency ms: mean {:.3}, p50 {:.3}, p99 {:.3}, max {:.3} (window {} × {} per session, durability {:?})",
            report.answered,
            report.elapsed.as_secs_f64(),
            report.unanswered,
            report.throughput(),
            report.latency.mean() / 1000.0,
            report.latency_ms(0.5),
            report.latency_ms(0.99),
            report.latency.max() as f64 / 1000.0,
            spec.window,
            spec.per_session,
            cfg.durability,
        );
        if let Some(t) = &txns {
            println!(
                "{} transactions committed ({:.0} txn/s; latency ms: p50 {:.3}, p99 {:.3}), {} \
                 aborted and restarted",
                t.committed,
                per_s(t.committed),
                t.p50_ms,
                t.p99_ms,
                t.aborted
            );
        }
        if report.pauses.count > 0 {
            println!("{}", pauses_line(&report.pauses));
        }
    }
    if report.unanswered > 0 {
        bail!("{} requests got no reply", report.unanswered);
    }
    Ok(())
}

/// `twosafe bench`'s options.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// clustra-response, clustra-window, clustra-takeover, opera-overhead, opera-recovery,
    /// catchup, all; or `table`: the markdown tables of the reports already in --out (for the README).
    pub experiment: String,
    /// Runs per system and setting; medians are over these (takeover: at least 5).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seconds per run.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// A few seconds in all (one short run each): checks that everything runs and writes
    /// well-formed output; the figures mean nothing.
    #[arg(long)]
    pub smoke: bool,
    /// Do not start PostgreSQL and Redis.
    #[arg(long)]
    pub no_peers: bool,
    /// Where the JSON reports and plots go.
    #[arg(long, default_value = "target/twosafe-bench")]
    pub out: PathBuf,
}

/// `twosafe bench`.
pub fn bench_cmd(a: &BenchArgs) -> Result<()> {
    use twosafe::bench;
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if !(a.seconds > 0.0 && a.seconds.is_finite()) {
        bail!("--seconds must be positive");
    }
    if a.experiment == "table" {
        print!("{}", bench::markdown(&a.out).map_err(anyhow::Error::msg)?);
        return Ok(());
    }
    let names: Vec<&str> = if a.experiment == "all" {
        bench::EXPERIMENTS.iter().map(|e| e.0).collect()
    } else if bench::EXPERIMENTS.iter().any(|e| e.0 == a.experiment) {
        vec![a.experiment.as_str()]
    } else {
        let known: Vec<String> =
            bench::EXPERIMENTS.iter().map(|(n, about)| format!("  {n}: {about}")).collect();
        bail!(
            "unknown experiment {:?}; expected `all` or one of:\n{}",
            a.experiment,
            known.join("\n")
        );
    };
    let out = a.out.clone();
    let o = bench::Options {
        runs: if a.smoke { 1 } else { a.runs },
        seconds: if a.smoke { 1.0 } else { a.seconds },
        smoke: a.smoke,
        work: out.join("work"),
        out,
        exe: std::env::current_exe().context("cannot find the twosafe executable")?,
        peers: !a.no_peers,
    };
    for name in names {
        let (report, table) = bench::run(name, &o).map_err(anyhow::Error::msg)?;
        println!("{table}");
        println!(
            "wrote {}{}",
            o.out.join(format!("{name}.json")).display(),
            report.plot.as_deref().map(|p| format!(" and {p}")).unwrap_or_default()
        );
    }
    let _ = std::fs::remove_dir_all(&o.work);
    Ok(())
}
