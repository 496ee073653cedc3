//! OPERA's measurements (Hagen & Alonso (OPERA) §5): the cost of a navigation step with no backup, a cold
//! standby and a hot standby (Fig. 5-9), and the time to recover processes after a server
//! failure (Fig. 10), with linear 2PC hosting OPERA's process images ([`ProcessDb`]):
//! ~50 KB images of 10 activities, ~300-byte change buffers for START and TERM.

use super::plot::{self, Plot, Series};
use super::report::{Kind, Metrics, Ratio, Report, Row};
use super::target::{mode, runtime};
use super::{new_report, paper, Options, Progress};
use crate::bench::BenchError;
use crate::runtime::chaos::LocalCluster;
use crate::runtime::client::Session;
use crate::runtime::config::{Durability, LevelKind, ServiceKind};
use std::collections::BTreeMap;
use std::time::Instant;
use twosafe_models::services::process::{ProcessDb, ProcessOp, ProcessReply};
use twosafe_models::services::Service;

const IMAGE: usize = 50 * 1024;
const ACTIVITIES: u8 = 10;
const RECORD: usize = 300;

fn level_name(l: LevelKind) -> &'static str {
    match l {
        LevelKind::Normal => "no backup",
        LevelKind::Important => "cold standby",
        LevelKind::Critical => "hot standby",
    }
}

fn inst(pid: u32) -> ProcessOp {
    ProcessOp::Inst {
        pid,
        activities: ACTIVITIES,
        image: (0..IMAGE).map(|i| (i as u32 ^ pid) as u8).collect(),
    }
}

/// A small deterministic generator for which process steps next.
fn pick(seed: &mut u64, n: u32) -> u32 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    (*seed % u64::from(n.max(1))) as u32
}

/// Mean latencies, ms, of the three transaction types in one fresh cluster: `processes`
/// instantiations, then `steps` START + TERM pairs on processes picked at random.
fn one_overhead_run(
    o: &Options, level: LevelKind, durability: Durability, processes: u32, steps: usize,
) -> Result<Metrics, BenchError> {
    let dir = o.work.join("opera");
    let cluster = LocalCluster::launch(&o.exe, &dir, durability, ServiceKind::Opera, false, |c| {
        c.level = level;
        if level == LevelKind::Normal {
            c.node.truncate(1);
        }
    })?;
    let cfg = cluster.cfg.clone();
    let rt = runtime()?;
    let m = rt.block_on(async {
        let s = Session::<ProcessDb>::open(&cfg, cfg.servers())?;
        // Warm-up: the connection is made and the nodes are up.
        s.submit(ProcessOp::State { pid: 0, activity: 0 }).await?;
        let mut inst_us = Vec::new();
        for pid in 0..processes {
            let op = inst(pid);
            let t = Instant::now();
            s.submit(op).await?;
            inst_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let mut next = vec![0u8; processes as usize];
        let (mut start_us, mut term_us) = (Vec::new(), Vec::new());
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for k in 0..steps {
            let pid = pick(&mut seed, processes);
            let activity = next[pid as usize] % ACTIVITIES;
            next[pid as usize] = next[pid as usize].wrapping_add(1);
            let record = vec![k as u8; RECORD];
            let t = Instant::now();
            let r = s.submit(ProcessOp::Start { pid, activity, record: record.clone() }).await?;
            start_us.push(t.elapsed().as_secs_f64() * 1e6);
            if r == ProcessReply::Executable(None) {
                return Err(BenchError::Run(format!("process {pid} is missing")));
            }
            let t = Instant::now();
            s.submit(ProcessOp::Term { pid, activity, record }).await?;
            term_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        s.close().await;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64 / 1000.0;
        Ok::<_, BenchError>(Metrics::from([
            ("inst_ms".to_string(), mean(&inst_us)),
            ("start_ms".to_string(), mean(&start_us)),
            ("term_ms".to_string(), mean(&term_us)),
        ]))
    })?;
    drop(cluster);
    Ok(m)
}

/// Fig. 5-9: step times without backup, with a cold and with a hot standby, at two database
/// sizes, and the overhead over no backup.
pub fn overhead(o: &Options) -> Result<(Report, Vec<&'static str>), BenchError> {
    let mut r = new_report(
        "opera-overhead",
        "navigation steps (INST, START, TERM) with no backup, cold standby and hot standby (OPERA Fig. 5-9)",
        "Hagen & Alonso (OPERA) §5.3-5.5: cold standby +65 % (small database) to +40 % (large) over no backup; \
         hot standby about +90 % for START/TERM at 1000 processes (about 0.6 s a step); \
         navigation under 0.2 s without backup",
        o,
    )?;
    let sizes: Vec<u32> = if o.smoke { vec![5, 10] } else { vec![100, 1000] };
    let steps = if o.smoke { 10 } else { 300 };
    let mut runs = measure_overhead(o, &sizes, steps)?;
    r.rows = overhead_rows(&sizes, &mut runs);
    r.settings = serde_json::json!({
        "runs": o.runs, "processes": sizes, "image_bytes": IMAGE, "activities": ACTIVITIES,
        "record_bytes": RECORD, "start_term_pairs_per_run": steps, "window": 1,
    });
    r.ratios = overhead_ratios(&r);
    r.notes.push(
        "OPERA ran on Oracle 8 with its process images in database tables; here the image is \
         in memory and the change buffer is the step itself, so absolute times are not \
         comparable, only the overheads' shape"
            .into(),
    );
    r.notes.push(format!(
        "the paper's small database is mapped to {} processes, its large one to {}",
        sizes[0],
        sizes[sizes.len() - 1]
    ));
    plot_overhead(o, &sizes, &mut r)?;
    Ok((
        r,
        vec![
            "inst_ms",
            "start_ms",
            "term_ms",
            "inst_overhead",
            "start_overhead",
            "term_overhead",
            "nav_overhead",
        ],
    ))
}

const OVERHEAD_LEVELS: [LevelKind; 3] =
    [LevelKind::Normal, LevelKind::Important, LevelKind::Critical];
const OVERHEAD_MODES: [Durability; 2] = [Durability::Fsync, Durability::Memory];

/// Each run's metrics by (processes, durability index, level index).
type OverheadRuns = BTreeMap<(u32, usize, usize), Vec<Metrics>>;

/// Phase 1: every (size, durability) `o.runs` times, its three levels one after the other
/// (so drift hits all three); each level's overhead over no backup in the same round.
fn measure_overhead(o: &Options, sizes: &[u32], steps: usize) -> Result<OverheadRuns, BenchError> {
    let (levels, modes) = (OVERHEAD_LEVELS, OVERHEAD_MODES);
    let mut runs: BTreeMap<(u32, usize, usize), Vec<Metrics>> = BTreeMap::new();
    let mut progress = Progress::new((o.runs * sizes.len() * levels.len() * modes.len()) as u64);
    for _ in 0..o.runs {
        for &n in sizes {
            for (di, d) in modes.iter().enumerate() {
                // Alternate the levels within each (size, mode), so drift hits all three.
                let mut base: Option<Metrics> = None;
                for (li, l) in levels.iter().enumerate() {
                    let mut m = one_overhead_run(o, *l, *d, n, steps)?;
                    if let Some(b) = &base {
                        for k in ["inst", "start", "term"] {
                            let v = m[&format!("{k}_ms")] / b[&format!("{k}_ms")] - 1.0;
                            m.insert(format!("{k}_overhead"), v);
                        }
                        let nav = (m["start_overhead"] + m["term_overhead"]) / 2.0;
                        m.insert("nav_overhead".into(), nav);
                    } else {
                        base = Some(m.clone());
                    }
                    progress.step(format!(
                        "{n} processes, {} {}: INST {:.2} ms, START {:.2} ms, TERM {:.2} ms",
                        level_name(*l),
                        mode(*d),
                        m["inst_ms"],
                        m["start_ms"],
                        m["term_ms"]
                    ));
                    runs.entry((n, di, li)).or_default().push(m);
                }
            }
        }
    }
    progress.finish();
    Ok(runs)
}

/// Phase 2: the paper's rows beside ours, size by size.
fn overhead_rows(sizes: &[u32], runs: &mut OverheadRuns) -> Vec<Row> {
    let (levels, modes) = (OVERHEAD_LEVELS, OVERHEAD_MODES);
    let mut rows = Vec::new();
    for &n in sizes {
        let setting = format!("{n} processes");
        let large = n == *sizes.last().unwrap_or(&n);
        rows.push(paper(
            "OPERA cold standby (paper)",
            &setting,
            &[("nav_overhead", if large { 0.40 } else { 0.65 })],
        ));
        if large {
            rows.push(paper(
                "OPERA hot standby (paper)",
                &setting,
                &[("nav_overhead", 0.90), ("start_ms", 600.0), ("term_ms", 600.0)],
            ));
        }
        for (di, d) in modes.iter().enumerate() {
            for (li, l) in levels.iter().enumerate() {
                rows.push(Row::measured(
                    Kind::Ours,
                    format!("twosafe {} {}", level_name(*l), mode(*d)),
                    setting.clone(),
                    runs.remove(&(n, di, li)).unwrap_or_default(),
                ));
            }
        }
    }
    rows
}

/// Phase 3: our overheads to the paper's, level by level; our step times to their floor.
fn overhead_ratios(r: &Report) -> Vec<Ratio> {
    let floors = &r.floors;
    let mut ratios = Vec::new();
    for ours in r.rows.iter().filter(|x| x.kind == Kind::Ours) {
        for p in r.rows.iter().filter(|x| x.kind == Kind::Paper && x.setting == ours.setting) {
            let same_level = (p.system.contains("cold") && ours.system.contains("cold"))
                || (p.system.contains("hot") && ours.system.contains("hot"));
            if !same_level {
                continue;
            }
            for metric in ["nav_overhead", "start_ms", "term_ms"] {
                if let (Some(a), Some(b)) = (ours.metrics.get(metric), p.metrics.get(metric)) {
                    ratios.push(Ratio {
                        setting: ours.setting.clone(),
                        metric: metric.into(),
                        ours: ours.system.clone(),
                        other: p.system.clone(),
                        ratio: a / b,
                    });
                }
            }
        }
        let disk = ours.system.ends_with("fsync");
        let floor = if ours.system.contains("no backup") {
            // client → primary → client, and the primary's own forced write
            (floors.loopback_rtt_p50_us + if disk { floors.sync_p50_us } else { 0.0 }) / 1000.0
        } else {
            floors.two_safe_ms(disk)
        };
        if let Some(v) = ours.metrics.get("start_ms") {
            ratios.push(Ratio {
                setting: ours.setting.clone(),
                metric: "start_ms".into(),
                ours: ours.system.clone(),
                other: "floor".into(),
                ratio: v / floor,
            });
        }
    }
    ratios
}

/// Phase 4: TERM time against database size, the paper's hot standby marked.
fn plot_overhead(o: &Options, sizes: &[u32], r: &mut Report) -> Result<(), BenchError> {
    let path = o.out.join("opera-overhead.svg");
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for row in r.rows.iter().filter(|x| x.kind == Kind::Ours) {
        let n: f64 = row.setting.trim_end_matches(" processes").parse().unwrap_or(f64::NAN);
        if let Some(v) = row.metrics.get("term_ms") {
            series.entry(row.system.clone()).or_default().push((n, *v));
        }
    }
    plot::write(
        &path,
        &Plot {
            title: "TERM (activity termination + navigation) time against database size",
            x_label: "process instances in the database",
            y_label: "ms per TERM step (log)",
            log_y: true,
            series: series.into_iter().map(|(label, points)| Series { label, points }).collect(),
            marks: vec![(
                "OPERA hot standby ≈ 600 ms".into(),
                (f64::from(sizes[sizes.len() - 1]), 600.0),
            )],
        },
    )?;
    r.plot = Some(path.display().to_string());
    Ok(())
}

/// One recovery: `processes` instances with a few steps each on a cluster at `level`; the
/// primary killed; the backup takes over (installing the stored change buffers when it is a
/// cold standby) and a client then reads one activity of every process, serially.
fn one_recovery(
    o: &Options, level: LevelKind, durability: Durability, processes: u32,
) -> Result<Metrics, BenchError> {
    let dir = o.work.join("opera-recovery");
    // No step traces: a trace records a hash of each saved value, which is O(state) per step
    // with 50 MB of images. The takeover instant is read off the backup's journal instead.
    let mut cluster =
        LocalCluster::launch(&o.exe, &dir, durability, ServiceKind::Opera, false, |c| {
            c.level = level;
            c.heartbeat_ms = 50;
            c.suspect_ms = 200;
        })?;
    let cfg = cluster.cfg.clone();
    let rt = runtime()?;
    let first = cfg.servers();
    rt.block_on(async {
        let s = Session::<ProcessDb>::open(&cfg, first)?;
        for pid in 0..processes {
            s.submit(inst(pid)).await?;
            for a in 0..2u8 {
                let record = vec![a; RECORD];
                s.submit(ProcessOp::Start { pid, activity: a, record: record.clone() }).await?;
                s.submit(ProcessOp::Term { pid, activity: a, record }).await?;
            }
        }
        s.close().await;
        Ok::<_, BenchError>(())
    })?;
    let killed = crate::runtime::conform::now_us();
    cluster.kill(0);
    let readers = rt.block_on(async {
        let s = Session::<ProcessDb>::open(&cfg, first + 1)?;
        let mut first_reply = None;
        for pid in 0..processes {
            let r = s.submit(ProcessOp::State { pid, activity: 2 }).await?;
            first_reply.get_or_insert(crate::runtime::conform::now_us());
            if r != ProcessReply::State(Some(
                twosafe_models::services::process::ActivityState::Executable,
            )) {
                return Err(BenchError::Run(format!("process {pid} recovered wrong: {r:?}")));
            }
        }
        let all = crate::runtime::conform::now_us();
        s.close().await;
        Ok::<_, BenchError>((first_reply.unwrap_or(all), all))
    })?;
    // The takeover (epoch bump, and the install of a cold standby) is the new primary's last
    // save: the reads that follow are not checkpointed. So its journal's modification time is
    // the takeover's instant (the end of its save).
    let journal = cfg.node[1].data.join("journal.log");
    drop(cluster);
    let takeover = std::fs::metadata(&journal)
        .and_then(|m| m.modified())
        .map_err(BenchError::at(format!("{}", journal.display())))?
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as u64;
    if takeover < killed {
        return Err("the backup's journal was not written after the kill: no takeover".into());
    }
    let ms = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1000.0;
    Ok(Metrics::from([
        ("takeover_ms".to_string(), ms(killed, takeover)),
        // From the takeover's save to the client's first reply (the client learns the new
        // primary and resends); the install itself is inside the takeover step, before its
        // save, so it counts in takeover_ms.
        ("promotion_ms".to_string(), ms(takeover, readers.0)),
        ("all_available_ms".to_string(), ms(killed, readers.1)),
        ("per_process_ms".to_string(), ms(killed, readers.1) / f64::from(processes.max(1))),
    ]))
}

/// Installing process images from their change buffers, serially and in parallel over the
/// machine's cores (processes are independent: no data conflicts between images), checking
/// that both give the same logical state.
fn replay(processes: u32, threads: usize) -> Result<(f64, f64), BenchError> {
    let mut ops = Vec::new();
    for pid in 0..processes {
        ops.push(inst(pid));
        for a in 0..2u8 {
            for done in [false, true] {
                let record = vec![a; RECORD];
                ops.push(if done {
                    ProcessOp::Term { pid, activity: a, record }
                } else {
                    ProcessOp::Start { pid, activity: a, record }
                });
            }
        }
    }
    let t = Instant::now();
    let serial = ProcessDb::from_ops(&ops);
    let serial_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let parts: Vec<ProcessDb> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|k| {
                let ops = &ops;
                sc.spawn(move || {
                    ProcessDb::from_ops(
                        ops.iter().filter(|op| ProcessDb::key(op) as usize % threads == k),
                    )
                })
            })
            .collect();
        hs.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut merged = ProcessDb::default();
    for p in &parts {
        for pid in 0..processes {
            if let Some(img) = p.object(&pid) {
                merged.set_object(&pid, Some(img));
            }
        }
    }
    let parallel_ms = t.elapsed().as_secs_f64() * 1000.0;
    if merged.digest() != serial.digest() {
        return Err("parallel installation differs from the serial one".into());
    }
    Ok((serial_ms, parallel_ms))
}

/// Fig. 10: recovering processes after a server failure.
pub fn recovery(o: &Options) -> Result<(Report, Vec<&'static str>), BenchError> {
    let mut r = new_report(
        "opera-recovery",
        "time to recover process instances after the primary server fails (OPERA Fig. 10)",
        "Hagen & Alonso (OPERA) §5.6: 1.2-1.3 s to recover one process (serially: 1000 processes ≈ 19 min); \
         faster with degradation; parallel recovery suggested, not measured",
        o,
    )?;
    let processes: u32 = if o.smoke { 10 } else { 1000 };
    let runs = if o.smoke { 1 } else { o.runs };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let levels: Vec<(LevelKind, Durability)> = [LevelKind::Critical, LevelKind::Important]
        .into_iter()
        .flat_map(|l| [Durability::Fsync, Durability::Memory].map(|d| (l, d)))
        .collect();
    let mut results = measure_recoveries(o, &levels, processes, runs, threads)?;
    r.rows = recovery_rows(&levels, processes, threads, &mut results);
    r.settings = serde_json::json!({
        "runs": runs, "processes": processes, "image_bytes": IMAGE, "activities": ACTIVITIES,
        "steps_per_process": 4, "heartbeat_ms": 50, "suspect_ms": 200,
        "durability": ["fsync", "memory"],
        "threads": threads,
    });
    r.compute_ratios(&["per_process_ms", "all_available_ms"], |_, _| None);
    r.notes.push(
        "takeover_ms = kill to the end of the backup's takeover save (detection after a 200 ms \
         suspicion timeout, plus the install of every stored change buffer for a cold standby, \
         serially, in that one step); promotion_ms = then to the first reply; \
         all_available_ms = kill until a client has read one activity of every process, one \
         after another; per_process_ms = all_available_ms / processes (the paper's figure is \
         per process, recovered one after another). The replay rows rebuild the same images \
         from their change buffers in-process, serially and partitioned by process over \
         threads, and check that both give the same digest"
            .into(),
    );
    let path = o.out.join("opera-recovery.svg");
    plot::write(
        &path,
        &Plot {
            title: "Time to recover one process, run by run",
            x_label: "run",
            y_label: "ms per process (log)",
            log_y: true,
            series: plot::run_by_run(&r.rows, "per_process_ms", |x| x.system.clone()),
            marks: vec![("OPERA: 1.2-1.3 s per process".into(), (1.0, 1250.0))],
        },
    )?;
    r.plot = Some(path.display().to_string());
    Ok((r, vec!["per_process_ms", "all_available_ms", "takeover_ms", "promotion_ms", "install_ms"]))
}

/// Phase 1: `runs` rounds of a takeover at every (level, durability), then the in-process
/// replay of the same images, serially and over `threads`.
fn measure_recoveries(
    o: &Options, levels: &[(LevelKind, Durability)], processes: u32, runs: usize, threads: usize,
) -> Result<Vec<Vec<Metrics>>, BenchError> {
    let mut results: Vec<Vec<Metrics>> = vec![Vec::new(); levels.len() + 2];
    let mut progress = Progress::new((runs * (levels.len() + 1)) as u64);
    for _ in 0..runs {
        for (i, (l, d)) in levels.iter().enumerate() {
            let m = one_recovery(o, *l, *d, processes)?;
            progress.step(format!(
                "{} {} {}: takeover saved after {:.1} ms, first reply {:.1} ms later, all {} read after {:.1} ms",
                processes,
                level_name(*l),
                mode(*d),
                m["takeover_ms"],
                m["promotion_ms"],
                processes,
                m["all_available_ms"]
            ));
            results[i].push(m);
        }
        let (serial, parallel) = replay(processes, threads)?;
        progress.step(format!(
            "replay of {processes} images: serial {serial:.1} ms, {threads} threads {parallel:.1} ms"
        ));
        results[levels.len()].push(Metrics::from([
            ("install_ms".to_string(), serial),
            ("per_process_ms".to_string(), serial / f64::from(processes)),
        ]));
        results[levels.len() + 1].push(Metrics::from([
            ("install_ms".to_string(), parallel),
            ("per_process_ms".to_string(), parallel / f64::from(processes)),
        ]));
    }
    progress.finish();
    Ok(results)
}

/// Phase 2: the paper's row, a row per (level, durability), and the two replay rows.
fn recovery_rows(
    levels: &[(LevelKind, Durability)], processes: u32, threads: usize,
    results: &mut [Vec<Metrics>],
) -> Vec<Row> {
    let setting = format!("{processes} processes");
    let mut rows = vec![paper(
        "OPERA (paper), serial",
        &setting,
        &[("per_process_ms", 1250.0), ("all_available_ms", 1250.0 * f64::from(processes))],
    )];
    let mut names: Vec<String> = levels
        .iter()
        .map(|(l, d)| format!("twosafe takeover, {} {}", level_name(*l), mode(*d)))
        .collect();
    names.push("replay of change buffers, serial".to_string());
    names.push(format!("replay of change buffers, {threads} threads"));
    for (i, name) in names.iter().enumerate() {
        rows.push(Row::measured(
            Kind::Ours,
            name.clone(),
            setting.clone(),
            std::mem::take(&mut results[i]),
        ));
    }
    rows
}
