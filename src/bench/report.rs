//! What an experiment writes: `target/twosafe-bench/EXPERIMENT.json`, with the paper's figures,
//! ours and the peers' under the same metric names, the physical floors, and the ratios pair
//! by pair; and the table printed beside it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Metric name → value (milliseconds, transactions per second or a share, as the name says).
pub type Metrics = BTreeMap<String, f64>;

/// Who a row is.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The figure published in the seed document.
    Paper,
    /// twosafe, measured now.
    Ours,
    /// A real system, measured now on the same machine.
    Peer,
}

/// One system at one setting.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    /// Paper, ours or a peer.
    pub kind: Kind,
    /// The system ("twosafe fsync", "PostgreSQL 15 remote_apply", "ClustRa (paper)").
    pub system: String,
    /// The setting ("window 5", "50 ms / 100 ms").
    pub setting: String,
    /// The median over runs of each metric (the paper's values for a paper row).
    pub metrics: Metrics,
    /// Every run's metrics, in run order (empty for a paper row).
    pub runs: Vec<Metrics>,
    /// Why the system was not measured, if it was not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub skipped: Option<String>,
}

impl Row {
    /// The row's system, marked "(k of m runs)" when it has fewer runs than `most` (a run that
    /// failed, and the ones not made after it): its medians are over fewer runs.
    pub fn labelled(&self, most: usize) -> String {
        let k = self.runs.len();
        if self.kind == Kind::Paper || self.skipped.is_some() || k >= most {
            self.system.clone()
        } else {
            format!("{} ({k} of {most} runs)", self.system)
        }
    }

    /// A measured row: the per-metric medians of `runs`.
    pub fn measured(kind: Kind, system: String, setting: String, runs: Vec<Metrics>) -> Row {
        Row { kind, system, setting, metrics: medians(&runs), runs, skipped: None }
    }
}

/// Ours against another row, at one setting and metric.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ratio {
    /// The setting.
    pub setting: String,
    /// The metric.
    pub metric: String,
    /// Our system.
    pub ours: String,
    /// The other system (a peer, the paper, or "floor").
    pub other: String,
    /// ours / other: the median of the run-by-run ratios for a peer (runs alternate, so
    /// drift hits both), median over median for the paper and the floor.
    pub ratio: f64,
}

/// The physical floors measured in the same run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Floors {
    /// Loopback TCP round trip of 64 bytes, median, µs.
    pub loopback_rtt_p50_us: f64,
    /// Its 99th percentile, µs.
    pub loopback_rtt_p99_us: f64,
    /// One 8 KiB write + fdatasync in the bench directory, median, µs.
    pub sync_p50_us: f64,
    /// Its 99th percentile, µs.
    pub sync_p99_us: f64,
}

impl Floors {
    /// The floor of a 2-safe request (client → primary → backup → primary → client: two
    /// round trips, plus one forced write at the backup when the log is on disk), in ms.
    pub fn two_safe_ms(&self, on_disk: bool) -> f64 {
        (2.0 * self.loopback_rtt_p50_us + if on_disk { self.sync_p50_us } else { 0.0 }) / 1000.0
    }
}

/// The whole output of one experiment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// The experiment's name.
    pub experiment: String,
    /// What it reproduces.
    pub title: String,
    /// Where the paper's figures come from.
    pub source: String,
    /// Smoke mode (seconds, not minutes; figures not meaningful).
    pub smoke: bool,
    /// Seconds since the Unix epoch when it ended.
    pub finished_unix: u64,
    /// The machine.
    pub machine: BTreeMap<String, String>,
    /// Versions of twosafe and of each peer.
    pub versions: BTreeMap<String, String>,
    /// The settings the experiment ran with.
    pub settings: serde_json::Value,
    /// The floors.
    pub floors: Floors,
    /// Paper, ours and peers.
    pub rows: Vec<Row>,
    /// Ours against each of the others.
    pub ratios: Vec<Ratio>,
    /// The plot written beside the JSON, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub plot: Option<String>,
    /// Remarks: what differs from the paper's setup, what was skipped and why.
    pub notes: Vec<String>,
    /// The headline metrics, in table order.
    #[serde(default)]
    pub columns: Vec<String>,
}

/// The median of `xs` (NaN when empty).
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The per-metric medians of `runs`.
pub fn medians(runs: &[Metrics]) -> Metrics {
    let mut names: Vec<&String> = runs.iter().flat_map(|m| m.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|k| {
            let xs: Vec<f64> = runs.iter().filter_map(|m| m.get(k).copied()).collect();
            (k.clone(), median(&xs))
        })
        .collect()
}

impl Report {
    /// The most runs any row has: the runs each setting was meant to get.
    pub fn most_runs(&self) -> usize {
        self.rows.iter().map(|r| r.runs.len()).max().unwrap_or(0)
    }

    /// Computes the ratios of every `Ours` row to every other row at the same setting, for
    /// `metrics`; `floor` gives a metric's floor at a row, if it has one.
    pub fn compute_ratios(&mut self, metrics: &[&str], floor: impl Fn(&Row, &str) -> Option<f64>) {
        let mut out = Vec::new();
        // Peers against their floor too (`ours` then names the peer).
        for peer in self.rows.iter().filter(|r| r.kind == Kind::Peer) {
            for metric in metrics {
                if let (Some(v), Some(f)) = (peer.metrics.get(*metric), floor(peer, metric)) {
                    if f > 0.0 && v.is_finite() {
                        out.push(Ratio {
                            setting: peer.setting.clone(),
                            metric: metric.to_string(),
                            ours: peer.system.clone(),
                            other: "floor".into(),
                            ratio: v / f,
                        });
                    }
                }
            }
        }
        for ours in self.rows.iter().filter(|r| r.kind == Kind::Ours) {
            for metric in metrics {
                let Some(&mine) = ours.metrics.get(*metric) else {
                    continue;
                };
                for other in &self.rows {
                    if other.kind == Kind::Ours || other.setting != ours.setting {
                        continue;
                    }
                    let ratio = if other.kind == Kind::Peer {
                        let pairs: Vec<f64> = ours
                            .runs
                            .iter()
                            .zip(&other.runs)
                            .filter_map(|(a, b)| Some(a.get(*metric)? / b.get(*metric)?))
                            .collect();
                        median(&pairs)
                    } else {
                        other.metrics.get(*metric).map_or(f64::NAN, |p| mine / p)
                    };
                    if ratio.is_finite() {
                        out.push(Ratio {
                            setting: ours.setting.clone(),
                            metric: metric.to_string(),
                            ours: ours.system.clone(),
                            other: other.system.clone(),
                            ratio,
                        });
                    }
                }
                if let Some(f) = floor(ours, metric).filter(|f| *f > 0.0) {
                    out.push(Ratio {
                        setting: ours.setting.clone(),
                        metric: metric.to_string(),
                        ours: ours.system.clone(),
                        other: "floor".into(),
                        ratio: mine / f,
                    });
                }
            }
        }
        self.ratios = out;
    }

    /// The report as a text table: one block per setting, a line per system, the `columns`
    /// metrics; then the floors and the ratios.
    pub fn table(&self, columns: &[&str]) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{} — {}", self.experiment, self.title);
        if self.smoke {
            let _ = writeln!(s, "(smoke mode: a few seconds per run; figures not meaningful)");
        }
        let mut settings: Vec<&String> = Vec::new();
        for r in &self.rows {
            if !settings.contains(&&r.setting) {
                settings.push(&r.setting);
            }
        }
        let most = self.most_runs();
        let width =
            self.rows.iter().map(|r| r.labelled(most).chars().count()).max().unwrap_or(6).max(6);
        for setting in settings {
            let _ = write!(s, "\n{setting:<width$}");
            for c in columns {
                let _ = write!(s, " {c:>12}");
            }
            s.push('\n');
            for r in self.rows.iter().filter(|r| &r.setting == setting) {
                let _ = write!(s, "{:<width$}", r.labelled(most));
                if let Some(why) = &r.skipped {
                    let _ = writeln!(s, " skipped: {why}");
                    continue;
                }
                for c in columns {
                    match r.metrics.get(*c) {
                        Some(v) => {
                            let _ = write!(s, " {:>12}", fmt_num(*v));
                        }
                        None => {
                            let _ = write!(s, " {:>12}", "-");
                        }
                    }
                }
                s.push('\n');
            }
        }
        let f = &self.floors;
        let _ = writeln!(
            s,
            "\nfloors: loopback round trip p50 {:.1} µs (p99 {:.1}); 8 KiB write + fdatasync p50 {:.1} µs (p99 {:.1})",
            f.loopback_rtt_p50_us, f.loopback_rtt_p99_us, f.sync_p50_us, f.sync_p99_us
        );
        if !self.ratios.is_empty() {
            let _ = writeln!(s, "ratios, ours / other (peers: median of the run-by-run ratios):");
            let mut i = 0;
            while i < self.ratios.len() {
                let r = &self.ratios[i];
                let same =
                    |x: &Ratio| x.setting == r.setting && x.metric == r.metric && x.ours == r.ours;
                let group: Vec<String> = self.ratios[i..]
                    .iter()
                    .take_while(|x| same(x))
                    .map(|x| format!("{} {}", x.other, sig3(x.ratio)))
                    .collect();
                let _ =
                    writeln!(s, "  {} {} {}: {}", r.setting, r.metric, r.ours, group.join(" · "));
                i += group.len();
            }
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }
}

/// The README's table: for each report, a markdown table of its rows (paper, peers, ours)
/// with its headline columns and each of our rows' multiple of its floor.
pub fn markdown(reports: &[Report]) -> String {
    let mut s = String::new();
    for r in reports {
        // Reports written before `columns` existed: every metric, by name.
        let mut fallback: Vec<String> =
            r.rows.iter().flat_map(|x| x.metrics.keys().cloned()).collect();
        fallback.sort();
        fallback.dedup();
        let columns = if r.columns.is_empty() { &fallback } else { &r.columns };
        let _ = writeln!(
            s,
            "**{}** — {}{}",
            r.experiment,
            r.title,
            if r.smoke { " (smoke)" } else { "" }
        );
        let _ = writeln!(
            s,
            "floors: loopback round trip {:.0} µs, 8 KiB fdatasync {:.0} µs (p50)\n",
            r.floors.loopback_rtt_p50_us, r.floors.sync_p50_us
        );
        let _ = write!(s, "| setting | system |");
        for c in columns {
            let _ = write!(s, " {c} |");
        }
        let _ = writeln!(s, " × floor |");
        let _ = write!(s, "|---|---|");
        for _ in columns {
            let _ = write!(s, "---:|");
        }
        let _ = writeln!(s, "---:|");
        let most = r.most_runs();
        for row in &r.rows {
            let _ = write!(s, "| {} | {} |", row.setting, row.labelled(most));
            if let Some(why) = &row.skipped {
                let _ = write!(s, " skipped: {} |", why.replace('|', "/"));
                for _ in 1..columns.len() {
                    let _ = write!(s, " |");
                }
                let _ = writeln!(s, " |");
                continue;
            }
            for c in columns {
                let v = row.metrics.get(c).map_or("".to_string(), |v| fmt_num(*v));
                let _ = write!(s, " {v} |");
            }
            let floor = r
                .ratios
                .iter()
                .find(|x| x.ours == row.system && x.setting == row.setting && x.other == "floor")
                .map_or(String::new(), |x| format!("{} ({})", sig3(x.ratio), x.metric));
            let _ = writeln!(s, " {floor} |");
        }
        s.push('\n');
    }
    s
}

/// Three significant digits (ratios span orders of magnitude: 0.00123 and 59.1).
pub fn sig3(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return format!("{v}");
    }
    let decimals = (2 - v.abs().log10().floor() as i32).clamp(0, 8) as usize;
    format!("{v:.decimals$}")
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn peer_ratios_are_paired_run_by_run() {
        let run = |v: f64| Metrics::from([("tps".to_string(), v)]);
        let row = |kind, system: &str, runs: Vec<Metrics>| Row {
            kind,
            system: system.into(),
            setting: "w1".into(),
            metrics: medians(&runs),
            runs,
            skipped: None,
        };
        let mut r = Report {
            experiment: "x".into(),
            title: String::new(),
            source: String::new(),
            smoke: true,
            finished_unix: 0,
            machine: BTreeMap::new(),
            versions: BTreeMap::new(),
            settings: serde_json::Value::Null,
            floors: Floors::default(),
            rows: vec![
                row(Kind::Ours, "us", vec![run(10.0), run(40.0), run(30.0)]),
                row(Kind::Peer, "them", vec![run(5.0), run(10.0), run(30.0)]),
                row(Kind::Paper, "paper", vec![]),
            ],
            ratios: vec![],
            plot: None,
            notes: vec![],
            columns: vec!["tps".into()],
        };
        r.rows[2].metrics = run(100.0);
        r.compute_ratios(&["tps"], |_, _| Some(15.0));
        let get = |who: &str, other: &str| {
            r.ratios
                .iter()
                .find(|x| x.ours == who && x.other == other)
                .map(|x| x.ratio)
                .unwrap_or(f64::NAN)
        };
        // pairs 2, 4, 1 → median 2 (a ratio of medians would be 30/10 = 3).
        assert_eq!(get("us", "them"), 2.0);
        assert_eq!(get("us", "paper"), 0.3);
        assert_eq!(get("us", "floor"), 2.0);
        // A peer is set against its floor too; the paper is not.
        assert_eq!(get("them", "floor"), 10.0 / 15.0);
        assert!(get("paper", "floor").is_nan());
        let md = markdown(std::slice::from_ref(&r));
        assert!(md.contains("| w1 | us | 30.00 | 2.00 (tps) |"), "{md}");
        assert!(md.contains("| w1 | them | 10.00 |"), "{md}");
        // A row with fewer runs than the others says so (its median is over fewer).
        r.rows[1].runs.pop();
        let md = markdown(std::slice::from_ref(&r));
        assert!(md.contains("| w1 | them (2 of 3 runs) |"), "{md}");
        assert!(md.contains("| w1 | us | 30.00 |"), "{md}");
        assert!(md.contains("| w1 | paper | 100 |"), "{md}");
        assert_eq!(
            (sig3(0.001234), sig3(59.06), sig3(1234.6)),
            ("0.00123".into(), "59.1".into(), "1235".into())
        );
    }
}
