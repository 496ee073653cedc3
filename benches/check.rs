//! How fast the model checker explores the linear 2PC configurations: one full BFS per
//! iteration, single-threaded so that the figure is per core; and how fast the explorer answers
//! a step (`POST /api/state` without the HTTP) at the end of a long path of each model's
//! default configuration. Run: `cargo bench --bench check`. Quote medians from one run; this
//! is a speed measurement, never a test.

use criterion::{criterion_group, criterion_main, Criterion};
use twosafe::check::{self, Options};
use twosafe::explore::StateRequest;

fn bench_check(c: &mut Criterion) {
    let opts = Options { threads: 1, ..Options::default() };
    let plan = check::plan(&["linear-2pc".into()], &[], false).expect("catalogue is valid");
    let mut group = c.benchmark_group("check linear-2pc");
    group.sample_size(10);
    for config in ["normal/crash", "hot/crash-backup", "hot/reliable", "bug/local-reads"] {
        let Some((spec, label, params)) = plan.iter().find(|(_, l, _)| l == config) else {
            continue;
        };
        group.bench_function(config, |b| {
            b.iter(|| check::run(spec, label, params, &opts).expect("runs"))
        });
    }
    group.finish();
}

/// A path of `steps` steps of `model`'s defaults that takes, at each state, the first action
/// that neither loses a message nor crashes a node (the first action if there is none).
fn long_path(model: &str, steps: usize) -> Vec<usize> {
    let mut path = vec![0];
    for _ in 0..steps {
        let req = StateRequest { model: model.into(), set: Vec::new(), path: path.clone() };
        let state = req.answer().expect("the explorer answers");
        let actions: Vec<String> =
            serde_json::from_value(state["actions"].clone()).expect("a list of actions");
        if actions.is_empty() {
            break;
        }
        let quiet = actions.iter().position(|a| !a.contains("LOST") && !a.contains("CRASH"));
        path.push(quiet.unwrap_or(0));
    }
    path
}

fn bench_explore(c: &mut Criterion) {
    let mut group = c.benchmark_group("explore step");
    for m in twosafe::models::catalogue::MODELS {
        let path = long_path(m.name, 30);
        let req = StateRequest { model: m.name.into(), set: Vec::new(), path };
        group.bench_function(format!("{} at step {}", m.name, req.path.len() - 1), |b| {
            b.iter(|| req.answer().expect("the explorer answers"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_check, bench_explore);
criterion_main!(benches);
