//! `catchup`: a new backup built by fuzzy copy plus log replay of N objects while a load runs
//! (the logical-checkpointing patent, "new backup"; Hvasshovd et al. (ClustRa) §4, fuzzy replica production and catch-up). The model's
//! fuzzy-copy roles run for real ([`crate::runtime::fuzzy`]): a primary holding `N` TPC-B
//! account rows ([`Accounts`]) serves a paced client load from the start while it copies every
//! row to a new, empty backup (one batch of objects per round trip, each batch saved by the
//! backup before its ack), replays the log from the SSN it noted in batches of entries (the
//! backup skips entries its copied rows already reflect), pauses intake for the last batch,
//! and then checkpoints every update (2-safe). Batch 1 is the patent's stop-and-wait; batch
//! 256 is the same protocol with batches (the model checks batches of 1 and 2). Measured: the time to copy, to catch up and to be current; the load's throughput
//! and latency during the build and after it. At the end the backup's logical state is
//! compared with the primary's (the digests must be equal, or the run fails).
//!
//! The papers publish no figure for this (ClustRa's §7 lists fuzzy replica production as work
//! in progress), so the report has no paper row: its reference is the physical floor of the
//! protocol's copy, one loopback round trip per batch (plus one forced write in fsync mode).
//! The peers, run right after ours at the same size and load: a new Redis replica's full
//! synchronisation ([`peers::redis_catchup`]) beside each mode, and a new PostgreSQL standby
//! built by `pg_basebackup` ([`peers::pg_catchup`]) beside the fsync mode.

use super::peers;
use super::plot::{self, Plot, Series};
use super::report::{median, Kind, Metrics, Ratio, Report, Row};
use super::target::{mode, runtime};
use super::{new_report, Options, Progress};
use crate::bench::BenchError;
use crate::runtime::config::Durability;
use crate::runtime::fuzzy::{self, Role, Server};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use twosafe_models::fuzzy_copy::primary::Phase;
use twosafe_models::fuzzy_copy::NodeState;
use twosafe_models::services::accounts::Accounts;
use twosafe_models::services::Service;

/// A peer's new replica: a Redis replica's full synchronisation (in memory, or with an
/// fsync'ed AOF) or a PostgreSQL standby built by `pg_basebackup` (its WAL always fsync'ed).
#[derive(Clone, Copy)]
enum Peer {
    Redis { aof: bool },
    Postgres,
}

/// The peers, in the order they run.
const PEERS: [Peer; 3] = [Peer::Redis { aof: false }, Peer::Redis { aof: true }, Peer::Postgres];

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Redis { aof: false } => "Redis new replica, memory",
            Peer::Redis { aof: true } => "Redis new replica, AOF always",
            Peer::Postgres => "PostgreSQL 15 new standby (pg_basebackup)",
        }
    }

    /// The durability mode of ours it stands beside.
    fn durability(self) -> Durability {
        match self {
            Peer::Redis { aof: false } => Durability::Memory,
            Peer::Redis { aof: true } | Peer::Postgres => Durability::Fsync,
        }
    }

    /// The report's `versions` key.
    fn software(self) -> &'static str {
        match self {
            Peer::Redis { .. } => "redis",
            Peer::Postgres => "postgresql",
        }
    }

    fn run(self, n: u32, rate: f64, after: f64) -> Result<peers::CatchupRun, BenchError> {
        match self {
            Peer::Redis { aof } => peers::redis_catchup(n, aof, rate, after),
            // pgbench's load runs for a fixed time: long enough for a new standby of a
            // cluster of a few tens of MB to be built and current, then `after` seconds more.
            Peer::Postgres => {
                peers::pg_catchup(n, rate, after, after + 6.0 + f64::from(n) / 25_000.0)
            }
        }
    }
}

/// Objects per copy message and log entries per replay message: 1 is the stop-and-wait the
/// patent describes; 256 sends a batch per round trip (checked in the model with 2).
const BATCHES: [usize; 2] = [1, 256];

/// Seconds of replay after which a backlog no smaller than at its start means the replay does
/// not converge.
const REPLAY_GRACE: f64 = 20.0;

/// Client sessions sharing the offered load.
const SESSIONS: usize = 4;
/// Log entries the primary's history table keeps: enough that the replay never finds its
/// start recycled (a recycled table would start the copy over).
const TABLE: usize = 1 << 22;

/// The primary's phase changes: (when, phase, next SSN).
type Phases = Arc<Mutex<Vec<(Instant, &'static str, u64)>>>;

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Copying { .. } => "copy",
        Phase::Done { .. } | Phase::Shipping { .. } => "replay",
        Phase::Paused { .. } => "pause",
        Phase::Current => "current",
    }
}

/// When `name` was first entered, in seconds since `t0`, and the next SSN then.
fn first(phases: &[(Instant, &'static str, u64)], t0: Instant, name: &str) -> Option<(f64, u64)> {
    phases
        .iter()
        .find(|(_, p, _)| *p == name)
        .map(|(t, _, ssn)| (t.saturating_duration_since(t0).as_secs_f64(), *ssn))
}

/// Every request's (completion time s, latency ms).
type Timeline = Vec<(f64, f64)>;
/// What one run measured: its metrics and its timeline.
type RunOut = (Metrics, Timeline);

/// One build of a new backup of `N` rows under `rate` requests/s, the load going on for
/// `after` seconds once the backup is current.
fn one_run<const N: u32>(
    o: &Options, durability: Durability, batch: usize, rate: f64, after: f64,
) -> Result<RunOut, BenchError> {
    let dir = o.work.join("catchup");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(BenchError::at(format!("create {}", dir.display())))?;
    let port = crate::runtime::chaos::free_port_pair()?;
    let servers = [
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        std::net::SocketAddr::from(([127, 0, 0, 1], port + 1)),
    ];
    let cfg = fuzzy::model_config(TABLE, batch);
    let phases: Phases = Arc::default();
    let seen = phases.clone();
    // While replaying: the log entries not yet acked by the backup.
    let backlog = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let behind = backlog.clone();
    let observer = Box::new(move |s: &NodeState<Accounts<N>>| {
        if let NodeState::Primary(p) = s {
            if let Phase::Shipping { acked } = p.phase {
                behind.store(p.next_ssn.saturating_sub(acked), Ordering::Relaxed);
            }
            let name = phase_name(p.phase);
            let mut v = seen.lock().unwrap_or_else(|e| e.into_inner());
            if v.last().map(|x| x.1) != Some(name) {
                v.push((Instant::now(), name, p.next_ssn));
            }
        }
    });
    // The new backup is up and empty. The run's clock starts as the primary starts: it loads
    // its table and sends the first batch of the copy in its first step (a small batch of a
    // small table can be current before the start returns). The load starts once it is up.
    let backup = Server::<Accounts<N>>::start(
        Role::Backup,
        fuzzy::placement(servers, 1, SESSIONS),
        cfg.clone(),
        &dir.join("backup"),
        durability,
        None,
    )?;
    let t0 = Instant::now();
    let primary = Server::<Accounts<N>>::start(
        Role::Primary,
        fuzzy::placement(servers, 0, SESSIONS),
        cfg.clone(),
        &dir,
        durability,
        Some(observer),
    )?;
    let up = Instant::now();
    let limit = if o.smoke { 60.0 } else { 300.0 };
    let rt = runtime()?;
    let done: Vec<(f64, f64)> = rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for k in 0..SESSIONS {
            let place = fuzzy::placement(servers, 2 + k, SESSIONS);
            let s = fuzzy::session::<Accounts<N>>(&place, cfg.clone())?;
            let stop = stop.clone();
            // Session k sends at up + (j·SESSIONS + k)/rate: together, `rate` requests a second.
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                let mut j = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let at = up + Duration::from_secs_f64((j * SESSIONS + k) as f64 / rate);
                    tokio::time::sleep_until(at.into()).await;
                    let sent = Instant::now();
                    s.submit(Accounts::<N>::workload(k, j)).await?;
                    out.push((t0.elapsed().as_secs_f64(), sent.elapsed().as_secs_f64() * 1000.0));
                    j += 1;
                }
                s.close().await;
                Ok::<_, BenchError>(out)
            }));
        }
        // Wait for the backup to be current, then let the load run on `after` seconds. A
        // replay whose backlog is no smaller after REPLAY_GRACE than when it began does not
        // converge (the load adds entries as fast as one batch per round trip and save ships
        // them).
        let current =
            wait_until_current::<N>(&phases, &backlog, t0, limit, batch, durability, rate).await;
        let current = match current {
            Ok(tc) => tc,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        let end = t0 + Duration::from_secs_f64(current + after);
        tokio::time::sleep_until(end.into()).await;
        stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        Ok(all)
    })?;
    let elapsed = t0.elapsed().as_secs_f64();
    let p = primary.stop()?;
    let b = backup.stop()?;
    let m = verify_and_measure::<N>(p, b, &phases, t0, up, &done, elapsed)?;
    Ok((m, done))
}

/// Checks how the run ended (primary current, nothing in flight, the backup's rows equal to
/// the primary's) and measures it from the primary's phases and the load's replies.
fn verify_and_measure<const N: u32>(
    p: NodeState<Accounts<N>>, b: NodeState<Accounts<N>>, phases: &Phases, t0: Instant,
    up: Instant, done: &[(f64, f64)], elapsed: f64,
) -> Result<Metrics, BenchError> {
    let (NodeState::Primary(p), NodeState::Backup(b)) = (p, b) else {
        return Err("the servers stopped in unexpected roles".into());
    };
    if p.phase != Phase::Current || p.pending.is_some() {
        return Err(BenchError::Run(format!(
            "the primary ended with phase {:?} and an update in flight: {}",
            p.phase,
            p.pending.is_some()
        )));
    }
    if p.service.digest() != b.service.digest() || b.service.len() != N as usize {
        return Err(BenchError::Run(format!(
            "after catch-up the backup's {} rows differ from the primary's {} (digests {:x} and \
             {:x}): a protocol or runtime bug",
            b.service.len(),
            p.service.len(),
            b.service.digest(),
            p.service.digest()
        )));
    }
    let v = phases.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (copied, _) = first(&v, t0, "replay")
        .or_else(|| first(&v, t0, "pause"))
        .or_else(|| first(&v, t0, "current"))
        .ok_or("no phase after the copy")?;
    let (current, ssn_current) = first(&v, t0, "current").ok_or("never current")?;
    let paused: f64 = v
        .windows(2)
        .filter(|w| w[0].1 == "pause")
        .map(|w| w[1].0.saturating_duration_since(w[0].0).as_secs_f64())
        .sum();
    let copies = v.iter().filter(|x| x.1 == "copy").count();
    let mut m = Metrics::new();
    m.insert("primary_start_ms".into(), up.duration_since(t0).as_secs_f64() * 1000.0);
    m.insert("copy_s".into(), copied);
    m.insert("catchup_s".into(), current - copied);
    m.insert("to_current_s".into(), current);
    m.insert("copy_objects_per_s".into(), f64::from(N) / copied.max(1e-9));
    m.insert("replayed_entries".into(), ssn_current.saturating_sub(1) as f64);
    m.insert("pause_ms".into(), paused * 1000.0);
    m.insert("copies".into(), copies as f64);
    m.insert("digests_equal".into(), 1.0);
    load_stats(done, current, elapsed, &mut m);
    Ok(m)
}

/// Polls the primary's phases until the backup is current: its time (s since `t0`), or why it
/// will not be (a replay whose backlog is no smaller after REPLAY_GRACE than when it began,
/// or `limit` seconds gone).
async fn wait_until_current<const N: u32>(
    phases: &Phases, backlog: &std::sync::atomic::AtomicU64, t0: Instant, limit: f64, batch: usize,
    durability: Durability, rate: f64,
) -> Result<f64, BenchError> {
    let mut replay_start: Option<(f64, u64)> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t = t0.elapsed().as_secs_f64();
        let v = phases.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((tc, _)) = first(&v, t0, "current") {
            return Ok(tc);
        }
        if v.last().map(|x| x.1) == Some("replay") {
            let now = backlog.load(Ordering::Relaxed);
            match replay_start {
                None => replay_start = Some((t, now)),
                Some((t1, b1)) if t - t1 > REPLAY_GRACE && now >= b1 => {
                    return Err(BenchError::Run(format!(
                        "the replay falls behind: its backlog went from {b1} to {now} log \
                         entries in {:.0} s (batch {batch}: one batch per round trip{}, \
                         while the load adds {rate:.0} entries a second)",
                        t - t1,
                        if durability == Durability::Fsync { " and save" } else { "" }
                    )));
                }
                Some(_) => {}
            }
        }
        if t > limit {
            let at: Vec<String> = v
                .iter()
                .map(|(when, p, _)| {
                    format!("{p} at {:.1} s", when.saturating_duration_since(t0).as_secs_f64())
                })
                .collect();
            return Err(BenchError::Run(format!(
                "the backup of {N} objects was not current after {limit} s ({}; replay \
                 backlog {} log entries, {} when the replay began)",
                at.join(", "),
                backlog.load(Ordering::Relaxed),
                replay_start.map_or("-".into(), |x| x.1.to_string())
            )));
        }
    }
}

/// The load's throughput and latency before `current` (s) and after it, to `elapsed`:
/// `tps_during`, `p50_during_ms`, `p99_during_ms`, `avg_during_ms` and the same `_after`.
fn load_stats(done: &[(f64, f64)], current: f64, elapsed: f64, m: &mut Metrics) {
    for (tag, lo, hi) in [("during", 0.0, current), ("after", current, elapsed)] {
        let mut lat: Vec<f64> =
            done.iter().filter(|(t, _)| *t > lo && *t <= hi).map(|x| x.1).collect();
        lat.sort_by(f64::total_cmp);
        m.insert(format!("tps_{tag}"), lat.len() as f64 / (hi - lo).max(1e-9));
        if !lat.is_empty() {
            let at = |q: f64| lat[(((lat.len() - 1) as f64) * q).round() as usize];
            m.insert(format!("p50_{tag}_ms"), at(0.5));
            m.insert(format!("p99_{tag}_ms"), at(0.99));
            m.insert(format!("avg_{tag}_ms"), lat.iter().sum::<f64>() / lat.len() as f64);
        }
    }
}

/// What one build runs with.
#[derive(Clone, Copy)]
struct Build {
    n: u32,
    durability: Durability,
    batch: usize,
    rate: f64,
    after: f64,
}

fn run_size(o: &Options, b: Build) -> Result<RunOut, BenchError> {
    let Build { durability: d, batch, rate, after, .. } = b;
    match b.n {
        1_000 => one_run::<1_000>(o, d, batch, rate, after),
        10_000 => one_run::<10_000>(o, d, batch, rate, after),
        100_000 => one_run::<100_000>(o, d, batch, rate, after),
        n => Err(BenchError::Run(format!("no build for {n} objects"))),
    }
}

/// Mean latency per `width`-second bucket of completion time.
fn buckets(done: &[(f64, f64)], width: f64) -> Vec<(f64, f64)> {
    let mut b: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
    for (t, l) in done {
        let e = b.entry((t / width) as u64).or_default();
        e.0 += l;
        e.1 += 1;
    }
    b.into_iter().map(|(k, (sum, n))| ((k as f64 + 0.5) * width, sum / n as f64)).collect()
}

/// The experiment: sizes × durability modes, `o.runs` times, alternating.
pub fn catchup(o: &Options) -> Result<(Report, Vec<&'static str>), BenchError> {
    let mut r = new_report(
        "catchup",
        "a new backup built by fuzzy copy + log replay of N objects while a load runs",
        "the logical-checkpointing patent \"new backup\" and Hvasshovd et al. (ClustRa) §4 describe the mechanism; neither publishes a \
         measurement (ClustRa §7: fuzzy replica production was being implemented)",
        o,
    )?;
    let plan = Plan::new(o);
    let mut measured = measure(o, &plan, &mut r);
    tabulate(o, &plan, &mut measured, &mut r);
    r.ratios.extend(copy_floor_ratios(&r));
    describe(o, &plan, &mut r);
    plot_latency(o, &measured.last, &mut r)?;
    Ok((
        r,
        vec![
            "to_current_s",
            "copy_s",
            "catchup_s",
            "copy_objects_per_s",
            "replayed_entries",
            "p99_during_ms",
            "p99_after_ms",
        ],
    ))
}

/// The sizes, the offered load and the seconds measured after the backup is current.
struct Plan {
    sizes: Vec<u32>,
    rate: f64,
    after: f64,
}

impl Plan {
    fn new(o: &Options) -> Self {
        if o.smoke {
            Plan { sizes: vec![1_000], rate: 200.0, after: 0.3 }
        } else {
            Plan { sizes: vec![10_000, 100_000], rate: 500.0, after: 2.0 }
        }
    }
}

const MODES: [Durability; 2] = [Durability::Memory, Durability::Fsync];

/// A setting of ours: (objects, durability index, batch index).
type Setting = (u32, usize, usize);

/// What the runs measured.
#[derive(Default)]
struct Measured {
    runs: BTreeMap<Setting, Vec<Metrics>>,
    peer_runs: BTreeMap<(u32, usize), Vec<Metrics>>,
    peer_skipped: [Option<String>; PEERS.len()],
    /// Each setting's last run: when it was current and its timeline (for the plot).
    last: BTreeMap<Setting, (f64, Timeline)>,
    failed: BTreeMap<Setting, String>,
}

/// Phase 1: every setting of ours, each followed by the peers of its durability, `o.runs`
/// times; a setting that fails once is not run again.
fn measure(o: &Options, plan: &Plan, r: &mut Report) -> Measured {
    let Plan { sizes, rate, after } = plan;
    let (rate, after) = (*rate, *after);
    let modes = MODES;
    let mut out = Measured::default();
    let Measured { runs, peer_runs, peer_skipped, last, failed } = &mut out;
    let per_run = modes.len() * BATCHES.len() + if o.peers { PEERS.len() } else { 0 };
    let mut progress = Progress::new((o.runs * sizes.len() * per_run) as u64);
    for _ in 0..o.runs {
        for &n in sizes {
            for (di, d) in modes.iter().enumerate() {
                for (bi, batch) in BATCHES.iter().enumerate() {
                    let build = Build { n, durability: *d, batch: *batch, rate, after };
                    if let Some(why) = failed.get(&(n, di, bi)) {
                        progress.step(format!(
                            "{n} objects, {}, batch {batch}: not run (an earlier run failed: \
                             {why})",
                            mode(*d)
                        ));
                        continue;
                    }
                    let (m, done) = match run_size(o, build) {
                        Ok(x) => x,
                        Err(why) => {
                            progress.step(format!(
                                "{n} objects, {}, batch {batch}: failed: {why}",
                                mode(*d)
                            ));
                            r.notes.push(format!(
                                "{n} objects, {}, batch {batch}: a run failed, later runs of \
                                 this setting were not made: {why}",
                                mode(*d)
                            ));
                            failed.insert((n, di, bi), why.to_string());
                            continue;
                        }
                    };
                    progress.step(format!(
                        "{n} objects, {}, batch {batch}: copy {:.2} s, current after {:.2} s, \
                         p99 during {:.2} ms, after {:.2} ms",
                        mode(*d),
                        m["copy_s"],
                        m["to_current_s"],
                        m.get("p99_during_ms").copied().unwrap_or(f64::NAN),
                        m.get("p99_after_ms").copied().unwrap_or(f64::NAN),
                    ));
                    last.insert((n, di, bi), (m["to_current_s"], done));
                    runs.entry((n, di, bi)).or_default().push(m);
                }
                // The peers right after ours, same size, same load, the matching durability.
                let beside = PEERS.iter().enumerate().filter(|p| p.1.durability() == *d);
                for (pi, peer) in beside.filter(|_| o.peers) {
                    let name = peer.name();
                    if peer_skipped[pi].is_some() {
                        progress.step(format!("{name} skipped"));
                        continue;
                    }
                    match peer.run(n, rate, after) {
                        Ok(run) => {
                            let mut m = Metrics::new();
                            m.insert("to_current_s".into(), run.current_s);
                            if let Some(mb) = run.copied_mb {
                                m.insert("copied_mb".into(), mb);
                            }
                            let end = run.timeline.last().map_or(run.current_s, |x| x.0);
                            load_stats(&run.timeline, run.current_s, end, &mut m);
                            progress.step(format!(
                                "{n} objects, {name}: in sync after {:.2} s",
                                run.current_s
                            ));
                            r.versions.insert(peer.software().into(), run.version);
                            peer_runs.entry((n, pi)).or_default().push(m);
                        }
                        Err(why) => {
                            progress.step(format!("{name} skipped: {why}"));
                            r.notes.push(format!("{name} skipped: {why}"));
                            peer_skipped[pi] = Some(why.to_string());
                        }
                    }
                }
            }
        }
    }
    progress.finish();
    out
}

/// Phase 2: the rows (ours, then the peers of the same durability) and the run-by-run ratios.
fn tabulate(o: &Options, plan: &Plan, m: &mut Measured, r: &mut Report) {
    let (sizes, rate) = (&plan.sizes, plan.rate);
    let modes = MODES;
    let Measured { runs, peer_runs, peer_skipped, failed, .. } = m;
    for &n in sizes {
        let setting = format!("{n} objects, {rate:.0} tx/s");
        for (di, d) in modes.iter().enumerate() {
            let ours: Vec<Row> = BATCHES
                .iter()
                .enumerate()
                .map(|(bi, batch)| {
                    let mut row = Row::measured(
                        Kind::Ours,
                        format!("twosafe fuzzy copy {}, batch {batch}", mode(*d)),
                        setting.clone(),
                        runs.remove(&(n, di, bi)).unwrap_or_default(),
                    );
                    if row.runs.is_empty() {
                        row.skipped = failed.get(&(n, di, bi)).map(|w| format!("failed: {w}"));
                    }
                    row
                })
                .collect();
            if !o.peers {
                r.rows.extend(ours);
                continue;
            }
            let mut others = Vec::new();
            for (pi, p) in PEERS.iter().enumerate().filter(|p| p.1.durability() == *d) {
                let mut peer = Row::measured(
                    Kind::Peer,
                    p.name().into(),
                    setting.clone(),
                    peer_runs.remove(&(n, pi)).unwrap_or_default(),
                );
                if peer.runs.is_empty() {
                    peer.skipped = peer_skipped[pi].clone();
                }
                // Run-by-run ratios (each peer run came right after ours).
                for row in &ours {
                    for metric in ["to_current_s", "p99_during_ms", "p99_after_ms"] {
                        let pairs: Vec<f64> = row
                            .runs
                            .iter()
                            .zip(&peer.runs)
                            .filter_map(|(a, b)| Some(a.get(metric)? / b.get(metric)?))
                            .collect();
                        let ratio = median(&pairs);
                        if ratio.is_finite() {
                            r.ratios.push(Ratio {
                                setting: setting.clone(),
                                metric: metric.into(),
                                ours: row.system.clone(),
                                other: peer.system.clone(),
                                ratio,
                            });
                        }
                    }
                }
                others.push(peer);
            }
            r.rows.extend(ours);
            r.rows.extend(others);
        }
    }
    if !o.peers {
        r.notes.push("peers not measured (--no-peers)".into());
    }
}

/// Phase 3: the copy's floor: one loopback round trip per batch of objects (stop-and-wait),
/// plus one forced write per batch at the backup in fsync mode.
fn copy_floor_ratios(r: &Report) -> Vec<Ratio> {
    let floors = &r.floors;
    let mut floor_ratios = Vec::new();
    for row in r.rows.iter().filter(|x| x.kind == Kind::Ours) {
        let number = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
        let n = number(row.setting.split(' ').next().unwrap_or(""));
        let batch = number(row.system.rsplit(' ').next().unwrap_or(""));
        let per = floors.loopback_rtt_p50_us
            + if row.system.contains("fsync") { floors.sync_p50_us } else { 0.0 };
        let n = (n / batch).ceil();
        if let Some(v) = row.metrics.get("copy_s") {
            floor_ratios.push(Ratio {
                setting: row.setting.clone(),
                metric: "copy_s".into(),
                ours: row.system.clone(),
                other: "floor".into(),
                ratio: v / (n * per / 1e6),
            });
        }
    }
    floor_ratios
}

/// Phase 4: the settings and the notes that say how to read the rows.
fn describe(o: &Options, plan: &Plan, r: &mut Report) {
    let (sizes, rate, after) = (&plan.sizes, plan.rate, plan.after);
    r.settings = serde_json::json!({
        "runs": o.runs, "objects": sizes, "row_bytes": 100, "offered_tx_per_s": rate,
        "client_sessions": SESSIONS, "seconds_after_current": after, "history_table": TABLE,
        "batches": BATCHES,
        "nodes": "primary and backup in one process, each on its own thread and event loop, \
                  over loopback TCP",
    });
    r.notes.push(
        "no paper row: neither seed measured the fuzzy copy; the reference is the copy's \
         floor, N / batch × (loopback round trip [+ fdatasync in fsync mode]), since the \
         protocol copies one batch per round trip"
            .into(),
    );
    r.notes.push(format!(
        "the load is paced ({rate:.0} requests/s over {SESSIONS} sessions, one deposit each; \
         the Redis load: the same rate on one connection; the PostgreSQL load: pgbench -R at \
         the same rate over 4 clients, one single-row update each): replay ships one batch of log \
         entries per round trip, so with batch 1 it converges only while updates arrive more \
         slowly than one per round trip and save (replayed_entries / catchup_s is the replay \
         rate measured)"
    ));
    r.notes.push(
        "the PostgreSQL standby is built by pg_basebackup -X stream -c fast, which copies the \
         whole cluster (every database and the WAL since its start; copied_mb is the cluster's \
         size) and not only the N rows (ours copies N rows of 100 bytes); it counts as current \
         when the primary reports it streaming and, once made synchronous, sync; its load \
         (pgbench) runs for a fixed time, so its after-window runs to that end"
            .into(),
    );
    r.notes.push(
        "during the build the primary commits alone (no current backup: 1-safe), so latency \
         *during* is lower than *after* (2-safe, one backup round trip and save per update)"
            .into(),
    );
}

/// Phase 5: the latency of each setting's last run over time, its catch-up point marked.
fn plot_latency(
    o: &Options, last: &BTreeMap<Setting, (f64, Timeline)>, r: &mut Report,
) -> Result<(), BenchError> {
    let modes = MODES;
    let path = o.out.join("catchup.svg");
    let mut series = Vec::new();
    let mut marks = Vec::new();
    for (&(n, di, bi), (tc, done)) in last {
        let points = buckets(done, if o.smoke { 0.1 } else { 0.25 });
        let label = format!("{n} objects, {}, batch {}", mode(modes[di]), BATCHES[bi]);
        if let Some(p) = points.iter().find(|(t, _)| *t >= *tc) {
            marks.push((format!("current: {label}"), (*tc, p.1)));
        }
        series.push(Series { label, points });
    }
    plot::write(
        &path,
        &Plot {
            title: "request latency while a new backup is built (mean per bucket)",
            x_label: "seconds since the backup joined",
            y_label: "ms per request (log)",
            log_y: true,
            series,
            marks,
        },
    )?;
    r.plot = Some(path.display().to_string());
    Ok(())
}
