//! ClustRa's measurements (Hvasshovd et al. (ClustRa), §6): response time (Fig. 3/4), the effect of the client
//! window (Fig. 5) and takeover time (Fig. 9), reproduced with linear 2PC and a hot standby on
//! the TPC-B-like bank (3 updates + 1 insert per transaction), 2-safe; response time and window
//! also with logical checkpointing (the logical-checkpointing patent, Fig. 3-4).

use super::plot::{self, Plot, Series};
use super::report::{Kind, Metrics, Report, Row};
use super::target::{mode, runtime, Ours, Target, BUFFERS};
use super::{grid, new_report, paper, peers, Options};
use crate::bench::BenchError;
use crate::runtime::binding::linear_2pc::Linear2pc;
use crate::runtime::binding::Protocol;
use crate::runtime::chaos::LocalCluster;
use crate::runtime::config::{Durability, ServiceKind};
use crate::runtime::load::{self, LoadSpec};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use twosafe_models::services::Bank;

const PAPER: &str = "ClustRa (paper)";

/// Linear 2PC and logical checkpointing (rows "twosafe LC …": the patent's window of requests
/// with SSN-order commit, against OPERA's one change buffer at a time), in both modes.
fn ours(o: &Options) -> Vec<Box<dyn Target>> {
    let mut t = Vec::new();
    for p in [Protocol::Linear2pc, Protocol::LogicalCheckpointing] {
        for d in [Durability::Memory, Durability::Fsync] {
            t.push(Box::new(Ours::running(o.exe.clone(), o.work.clone(), d, p)) as Box<dyn Target>);
        }
    }
    t
}

fn targets(o: &Options, r: &mut Report) -> Vec<Box<dyn Target>> {
    let mut t = ours(o);
    if o.peers {
        t.extend(peers::targets(o, r));
    } else {
        r.notes.push("peers not measured (--no-peers)".into());
    }
    for x in &t {
        if let (Kind::Peer, Some(v)) = (x.kind(), x.version()) {
            r.versions.insert(x.system(), v);
        }
    }
    t
}

/// Puts each setting's paper row before the measured rows of that setting.
fn with_paper(measured: Vec<Row>, papers: Vec<Row>) -> Vec<Row> {
    let mut out = Vec::new();
    let mut settings: Vec<String> = Vec::new();
    for r in papers.iter().chain(&measured) {
        if !settings.contains(&r.setting) {
            settings.push(r.setting.clone());
        }
    }
    for s in settings {
        out.extend(papers.iter().filter(|r| r.setting == s).cloned());
        out.extend(measured.iter().filter(|r| r.setting == s).cloned());
    }
    out
}

fn latency_floor(r: &Report) -> impl Fn(&Row, &str) -> Option<f64> {
    let floors = r.floors.clone();
    // The floor is that of one request alone; with more outstanding, queueing is the cost.
    move |row, metric| {
        // On disk: our fsync mode, PostgreSQL (WAL flushed at both), Redis with an AOF.
        let disk = ["fsync", "PostgreSQL", "AOF"].iter().any(|k| row.system.contains(k));
        (metric.ends_with("_ms") && row.setting == "window 1").then(|| floors.two_safe_ms(disk))
    }
}

/// Fig. 3/4: window 1; latency statistics and their distribution.
pub fn response(o: &Options) -> Result<(Report, Vec<&'static str>), BenchError> {
    let mut r = new_report(
        "clustra-response",
        "2-safe TPC-B-like transactions, primary + hot standby, window 1 (ClustRa Fig. 3/4)",
        "Hvasshovd et al. (ClustRa) §6, Fig. 3 and 4: avg 9.77 ms, min 8.81, max 73.6, 99.5 % under 15 ms, 83.3 TPS",
        o,
    )?;
    let mut t = targets(o, &mut r);
    let settings = vec![("window 1".to_string(), 1)];
    let (rows, last) = grid(&mut t, &settings, o.runs, o.seconds);
    r.rows = with_paper(
        rows,
        vec![paper(
            PAPER,
            "window 1",
            &[
                ("tps", 83.3),
                ("avg_ms", 9.77),
                ("min_ms", 8.81),
                ("max_ms", 73.6),
                ("under_15ms", 0.995),
            ],
        )],
    );
    r.settings = serde_json::json!({
        "runs": o.runs, "seconds": o.seconds, "window": 1, "service": "tpcb",
        "level": "critical (hot standby)", "servers": 2,
    });
    let floor = latency_floor(&r);
    r.compute_ratios(&["avg_ms", "p50_ms", "p99_ms", "tps"], floor);
    let path = o.out.join("clustra-response.svg");
    let xmax = 20.0;
    let series = last
        .iter()
        .map(|((system, _), s)| Series {
            label: system.clone(),
            points: plot::cdf(&s.latencies_us).into_iter().filter(|(x, _)| *x <= xmax).collect(),
        })
        .collect();
    plot::write(
        &path,
        &Plot {
            title: "TPC-B-like 2-safe latency, window 1: share of transactions under x ms",
            x_label: "latency (ms)",
            y_label: "share of transactions",
            log_y: false,
            series,
            marks: vec![
                ("ClustRa: 99.5 % under 15 ms".into(), (15.0, 0.995)),
                ("ClustRa: min 8.81 ms".into(), (8.81, 0.0)),
            ],
        },
    )?;
    r.plot = Some(path.display().to_string());
    Ok((
        r,
        vec![
            "tps",
            "avg_ms",
            "min_ms",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "max_ms",
            "under_15ms",
            "req_per_force_primary",
            "req_per_force_backup",
            "frames_per_write",
        ],
    ))
}

/// Fig. 5: windows 1, 2, 5, 10; throughput and mean latency.
pub fn window(o: &Options) -> Result<(Report, Vec<&'static str>), BenchError> {
    let mut r = new_report(
        "clustra-window",
        "throughput and latency against the client window (ClustRa Fig. 5)",
        "Hvasshovd et al. (ClustRa) §6, Fig. 5: 83.3 / 102.3 / 104.5 / 104.9 TPS at window 1 / 2 / 5 / 10 \
         (avg 9.43 / 16.58 / 38.4 / 77.7 ms)",
        o,
    )?;
    let mut t = targets(o, &mut r);
    let windows = [1usize, 2, 5, 10];
    let settings: Vec<(String, usize)> =
        windows.iter().map(|w| (format!("window {w}"), *w)).collect();
    let (rows, _) = grid(&mut t, &settings, o.runs, o.seconds);
    let published = [(1, 83.3, 9.43), (2, 102.3, 16.58), (5, 104.5, 38.4), (10, 104.9, 77.7)];
    let papers = published
        .iter()
        .map(|(w, tps, ms)| paper(PAPER, &format!("window {w}"), &[("tps", *tps), ("avg_ms", *ms)]))
        .collect();
    r.rows = with_paper(rows, papers);
    r.settings = serde_json::json!({
        "runs": o.runs, "seconds": o.seconds, "windows": windows, "service": "tpcb",
        "level": "critical (hot standby)", "servers": 2, "linear_2pc_buffers": BUFFERS,
    });
    let floor = latency_floor(&r);
    r.compute_ratios(&["tps", "avg_ms"], floor);
    // TPS against window, a line per system.
    let mut by_system: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for row in r.rows.iter().filter(|x| x.skipped.is_none()) {
        let w: f64 = row.setting.trim_start_matches("window ").parse().unwrap_or(f64::NAN);
        if let Some(tps) = row.metrics.get("tps") {
            by_system.entry(row.system.clone()).or_default().push((w, *tps));
        }
    }
    let path = o.out.join("clustra-window.svg");
    plot::write(
        &path,
        &Plot {
            title: "TPC-B-like 2-safe throughput against the client window",
            x_label: "window (transactions outstanding)",
            y_label: "transactions per second (log)",
            log_y: true,
            series: by_system.into_iter().map(|(label, points)| Series { label, points }).collect(),
            marks: vec![],
        },
    )?;
    r.plot = Some(path.display().to_string());
    Ok((
        r,
        vec![
            "tps",
            "avg_ms",
            "p50_ms",
            "p99_ms",
            "req_per_force_primary",
            "req_per_force_backup",
            "frames_per_write",
        ],
    ))
}

/// One takeover: what the client saw and what the backup's trace says.
struct Takeover {
    /// Last reply before the kill to first reply after, ms.
    unavailable_ms: f64,
    /// Kill to the backup's takeover step, ms.
    detection_ms: f64,
    /// Takeover step to the first reply after, ms.
    promotion_ms: f64,
}

fn now_us() -> u64 {
    crate::runtime::conform::now_us()
}

/// Starts a cluster with the given I-am-alive period and suspicion timeout, runs a window-1
/// client back to back, kills the primary (node 0) with SIGKILL after `before`, keeps the
/// client going for `after`, and measures.
fn one_takeover(
    o: &Options, durability: Durability, heartbeat_ms: u64, suspect_ms: u64, before: Duration,
    after: Duration,
) -> Result<Takeover, BenchError> {
    let dir = o.work.join("takeover");
    let mut cluster =
        LocalCluster::launch(&o.exe, &dir, durability, ServiceKind::Tpcb, true, |c| {
            c.heartbeat_ms = heartbeat_ms;
            c.suspect_ms = suspect_ms;
            // The client turns to the other server when the new primary announces itself;
            // its resend timer only matters if that announcement is lost.
            c.resend_ms = suspect_ms.max(50);
        })?;
    let cfg = cluster.cfg.clone();
    let rt = runtime()?;
    let warm = LoadSpec {
        per_session: 1,
        window: 1,
        duration: Duration::from_millis(300),
        first_client: cfg.servers(),
    };
    rt.block_on(load::run::<Linear2pc, Bank>(&cfg, &warm, Arc::new(AtomicU64::new(0))))?;
    let spec = LoadSpec {
        per_session: 1,
        window: 1,
        duration: before + after,
        first_client: cfg.servers() + 1,
    };
    let load_cfg = cfg.clone();
    let client = std::thread::spawn(move || {
        rt.block_on(load::run::<Linear2pc, Bank>(&load_cfg, &spec, Arc::new(AtomicU64::new(0))))
    });
    std::thread::sleep(before);
    let killed_wall = now_us();
    cluster.kill(0);
    let report = client.join().map_err(|_| "the client thread panicked".to_string())??;
    let trace = cluster.trace(1);
    drop(cluster);
    let takeover_wall = crate::runtime::chaos::takeovers_in(&trace)?
        .into_iter()
        .find(|t| *t >= killed_wall)
        .ok_or("the backup's trace has no takeover after the kill")?;
    // The gap the client saw: its last reply before the takeover (possibly one the old
    // primary sent just before it died) to its first reply after it (from the new primary).
    let takeover_at = takeover_wall.saturating_sub(report.started_us);
    let answered = || report.history.iter().filter(|c| c.reply.is_some());
    let last_before = answered()
        .map(|c| c.return_us)
        .filter(|t| *t <= takeover_at)
        .max()
        .ok_or("no reply before the takeover")?;
    let first_after = answered()
        .map(|c| c.return_us)
        .filter(|t| *t > takeover_at)
        .min()
        .ok_or("no reply after the takeover")?;
    let first_after_wall = report.started_us + first_after;
    Ok(Takeover {
        unavailable_ms: (first_after - last_before) as f64 / 1000.0,
        detection_ms: takeover_wall.saturating_sub(killed_wall) as f64 / 1000.0,
        promotion_ms: first_after_wall.saturating_sub(takeover_wall) as f64 / 1000.0,
    })
}

/// Fig. 9: unavailability after the primary is killed, with the paper's 50 ms I-am-alive and
/// 100 ms timeout, and with the tightest setting we defend.
pub fn takeover(o: &Options) -> Result<(Report, Vec<&'static str>), BenchError> {
    let mut r = new_report(
        "clustra-takeover",
        "unavailability seen by a back-to-back client when the primary is killed (ClustRa Fig. 9)",
        "Hvasshovd et al. (ClustRa) §6, Fig. 9: takeover avg 330 ms (min 265, max 379) with a 50 ms I-am-alive \
         period and a 100 ms timeout",
        o,
    )?;
    let runs = if o.smoke { 1 } else { o.runs.max(5) };
    let settings = SETTINGS;
    let cases: Vec<(usize, Durability)> =
        (0..settings.len()).flat_map(|i| TAKEOVER_MODES.iter().map(move |d| (i, *d))).collect();
    let (mut results, failures) = measure_takeovers(o, runs, &cases);
    r.rows = takeover_rows(&cases, &mut results, &failures, &mut r.notes);
    r.settings = serde_json::json!({
        "runs": runs, "service": "tpcb", "window": 1, "durability": ["fsync", "memory"],
        "kill": "SIGKILL of node 0 (the primary)",
        "settings": settings.iter().map(|(l, h, s)| serde_json::json!({"label": l, "heartbeat_ms": h, "suspect_ms": s})).collect::<Vec<_>>(),
    });
    r.notes.push(
        "detection = kill to the backup's takeover step (its trace's wall clock); promotion = \
         that step to the client's first reply from the new primary"
            .into(),
    );
    r.compute_ratios(&["unavailable_ms"], |_, _| None);
    plot_takeovers(o, &mut r)?;
    Ok((
        r,
        vec![
            "unavailable_ms",
            "unavailable_min_ms",
            "unavailable_max_ms",
            "detection_ms",
            "promotion_ms",
        ],
    ))
}

// (label, I-am-alive period, suspicion timeout). The tight setting: a 5 ms period and a
// 20 ms timeout, four periods, so one late heartbeat on this noisy 2-core machine does not
// make a false suspicion (which would be safe — fencing — but costs a takeover).
const SETTINGS: [(&str, u64, u64); 2] = [("50 ms / 100 ms", 50, 100), ("5 ms / 20 ms", 5, 20)];
const TAKEOVER_MODES: [Durability; 2] = [Durability::Fsync, Durability::Memory];

/// Phase 1: `runs` takeovers of every (setting, durability) case: each run's metrics and
/// each case's first failure.
fn measure_takeovers(
    o: &Options, runs: usize, cases: &[(usize, Durability)],
) -> (Vec<Vec<Metrics>>, Vec<Option<String>>) {
    let settings = SETTINGS;
    let before = Duration::from_millis(if o.smoke { 300 } else { 700 });
    let after = Duration::from_millis(if o.smoke { 700 } else { 1300 });
    let mut results: Vec<Vec<Metrics>> = vec![Vec::new(); cases.len()];
    let mut failures: Vec<Option<String>> = vec![None; cases.len()];
    let mut progress = super::Progress::new((runs * cases.len()) as u64);
    for _ in 0..runs {
        for (i, (si, d)) in cases.iter().enumerate() {
            let (label, hb, suspect) = settings[*si];
            // Smoke mode checks the pipeline, not the figures: on a loaded machine (a debug
            // build beside other jobs) a run can miss its window, so it gets three tries.
            let mut outcome = one_takeover(o, *d, hb, suspect, before, after);
            for _ in 1..if o.smoke { 3 } else { 1 } {
                if outcome.is_ok() {
                    break;
                }
                outcome = one_takeover(o, *d, hb, suspect, before, after);
            }
            match outcome {
                Ok(t) => {
                    progress.step(format!(
                        "{label} {}: unavailable {:.1} ms (detection {:.1}, promotion {:.1})",
                        mode(*d),
                        t.unavailable_ms,
                        t.detection_ms,
                        t.promotion_ms
                    ));
                    results[i].push(Metrics::from([
                        ("unavailable_ms".to_string(), t.unavailable_ms),
                        ("detection_ms".to_string(), t.detection_ms),
                        ("promotion_ms".to_string(), t.promotion_ms),
                    ]));
                }
                Err(e) => {
                    progress.step(format!("{label}: failed: {e}"));
                    failures[i].get_or_insert(e.to_string());
                }
            }
        }
    }
    progress.finish();
    (results, failures)
}

/// Phase 2: the paper's row, then a row per case (min and max beside the medians); a case's
/// failure becomes a note.
fn takeover_rows(
    cases: &[(usize, Durability)], results: &mut [Vec<Metrics>], failures: &[Option<String>],
    notes: &mut Vec<String>,
) -> Vec<Row> {
    let settings = SETTINGS;
    let mut rows = vec![paper(
        PAPER,
        "50 ms / 100 ms",
        &[("unavailable_ms", 330.0), ("unavailable_min_ms", 265.0), ("unavailable_max_ms", 379.0)],
    )];
    for (i, (si, d)) in cases.iter().enumerate() {
        let label = settings[*si].0;
        let runs = std::mem::take(&mut results[i]);
        let mut metrics = super::report::medians(&runs);
        let un: Vec<f64> = runs.iter().filter_map(|m| m.get("unavailable_ms").copied()).collect();
        if !un.is_empty() {
            metrics
                .insert("unavailable_min_ms".into(), un.iter().copied().fold(f64::MAX, f64::min));
            metrics
                .insert("unavailable_max_ms".into(), un.iter().copied().fold(f64::MIN, f64::max));
        }
        if let Some(e) = &failures[i] {
            notes.push(format!("{label}: a run failed: {e}"));
        }
        rows.push(Row {
            kind: Kind::Ours,
            system: format!("twosafe {}", mode(*d)),
            setting: label.to_string(),
            metrics,
            skipped: if runs.is_empty() { failures[i].clone() } else { None },
            runs,
        });
    }
    rows
}

/// Phase 3: unavailability run by run, ClustRa's average, minimum and maximum marked.
fn plot_takeovers(o: &Options, r: &mut Report) -> Result<(), BenchError> {
    let path = o.out.join("clustra-takeover.svg");
    let series =
        plot::run_by_run(&r.rows, "unavailable_ms", |x| format!("{}, {}", x.system, x.setting));
    plot::write(
        &path,
        &Plot {
            title: "Unavailability after kill -9 of the primary, run by run",
            x_label: "run",
            y_label: "ms without a reply (log)",
            log_y: true,
            series,
            marks: vec![
                ("ClustRa avg 330 ms".into(), (1.0, 330.0)),
                ("ClustRa min 265 ms".into(), (1.0, 265.0)),
                ("ClustRa max 379 ms".into(), (1.0, 379.0)),
            ],
        },
    )?;
    r.plot = Some(path.display().to_string());
    Ok(())
}
