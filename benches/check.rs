//! How fast the model checker explores the linear 2PC configurations: one full BFS per
//! iteration, single-threaded so that the figure is per core. Run: `cargo bench --bench check`.
//! Quote medians from one run; this is a speed measurement, never a test.

use criterion::{criterion_group, criterion_main, Criterion};
use twosafe::check::{self, Options};

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

criterion_group!(benches, bench_check);
criterion_main!(benches);
