//! `twosafe bench` in smoke mode (as CI runs it): every experiment runs to completion and
//! writes a well-formed report and plot. Figures are never asserted: benchmarks are not tests.
//! Peers are included when `TWOSAFE_BENCH_PEERS=1` (CI installs them first).

use std::process::Command;

#[test]
fn every_experiment_writes_a_well_formed_report_in_smoke_mode() {
    let out = std::env::temp_dir().join(format!("twosafe-bench-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let peers = std::env::var("TWOSAFE_BENCH_PEERS").is_ok_and(|v| v == "1");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_twosafe"));
    cmd.args(["bench", "all", "--smoke", "--out"]).arg(&out);
    if !peers {
        cmd.arg("--no-peers");
    }
    let run = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    for (name, metric) in [
        ("clustra-response", "p99_ms"),
        ("clustra-window", "tps"),
        ("clustra-takeover", "unavailable_ms"),
        ("opera-overhead", "term_ms"),
        ("opera-recovery", "per_process_ms"),
        ("catchup", "to_current_s"),
    ] {
        let text = std::fs::read_to_string(out.join(format!("{name}.json"))).unwrap();
        let r: twosafe::bench::report::Report = serde_json::from_str(&text).unwrap();
        assert_eq!(r.experiment, name);
        assert!(r.smoke);
        assert!(r.floors.loopback_rtt_p50_us > 0.0 && r.floors.sync_p50_us > 0.0);
        let paper = r.rows.iter().filter(|x| x.kind == twosafe::bench::report::Kind::Paper).count();
        // The seeds publish no catch-up figure: that report is measured against its floor.
        let has_paper = name != "catchup";
        assert_eq!(paper >= 1, has_paper, "{name}: paper rows: {paper}");
        let ours: Vec<_> =
            r.rows.iter().filter(|x| x.kind == twosafe::bench::report::Kind::Ours).collect();
        assert!(!ours.is_empty(), "{name}: no row of ours");
        for row in &ours {
            assert!(row.skipped.is_none(), "{name}: {row:?}");
            let v = row.metrics.get(metric).copied().unwrap_or(f64::NAN);
            assert!(v.is_finite() && v > 0.0, "{name}: {} {metric} = {v}", row.system);
            assert_eq!(row.runs.len(), 1, "{name}: smoke mode runs once");
        }
        // Every peer row is either measured or says why not.
        let peer_metric = if has_paper { "tps" } else { "to_current_s" };
        for row in r.rows.iter().filter(|x| x.kind == twosafe::bench::report::Kind::Peer) {
            assert!(
                row.skipped.is_some() || row.metrics.get(peer_metric).is_some_and(|v| *v > 0.0),
                "{name}: {row:?}"
            );
        }
        if peers && ["clustra-response", "clustra-window", "catchup"].contains(&name) {
            assert!(
                r.rows
                    .iter()
                    .any(|x| x.kind == twosafe::bench::report::Kind::Peer && x.skipped.is_none()),
                "{name}: TWOSAFE_BENCH_PEERS=1 but no peer was measured: {:?}",
                r.notes
            );
        }
        if has_paper {
            assert!(
                r.ratios.iter().any(|x| x.other.contains("paper")),
                "{name}: no ratio to the paper"
            );
        } else {
            assert!(r.ratios.iter().any(|x| x.other == "floor"), "{name}: no ratio to the floor");
            // The build ended with the backup's state equal to the primary's.
            assert!(ours.iter().all(|x| x.metrics.get("digests_equal") == Some(&1.0)));
        }
        let plot = r.plot.as_deref().unwrap();
        let svg = std::fs::read_to_string(plot).unwrap();
        assert!(svg.starts_with("<svg"), "{plot}");
        assert!(stdout.contains(name));
    }
    let _ = std::fs::remove_dir_all(&out);
}
