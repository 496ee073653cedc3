//! Model paths drive the real host (src/runtime/replay.rs): for every protocol the runtime
//! hosts, each seeded bug's counterexample and random walks through each correct configuration
//! are replayed against the host's core — its interpreter, its journal on disk, its timers, the
//! binding's admission rule — and after every step the hosts must be where the model is.
//!
//! `TWOSAFE_REPLAY_WALKS=N` sets the random walks per configuration (default 20; a user runs
//! thousands: `TWOSAFE_REPLAY_WALKS=2000 cargo test --release --test replay`).

use serde::Serialize;
use std::fmt::Debug;
use std::hash::Hash;
use twosafe::runtime::binding::transactions::Transactions;
use twosafe::runtime::binding::{fuzzy_copy::FuzzyCopy, linear_2pc::Linear2pc};
use twosafe::runtime::binding::{logical_checkpointing::LogicalCheckpointing, Binding, MsgOf};
use twosafe::runtime::replay::{random_walk, replay, Setting};
use twosafe_models::catalogue;
use twosafe_models::fairness::{self, Fairness};
use twosafe_models::history::FOREVER;
use twosafe_models::in_flight_once::InFlightOnce;
use twosafe_models::journaled::Journaled;
use twosafe_models::params::Params;
use twosafe_models::services::Service;
use twosafe_models::stateright::actor::{Actor, ActorModel, ActorModelAction};
use twosafe_models::stateright::Expectation;

use twosafe_models::trace::{self, Checkable};

/// Steps per random walk.
const WALK: usize = 60;

fn walks() -> usize {
    std::env::var("TWOSAFE_REPLAY_WALKS").ok().and_then(|v| v.parse().ok()).unwrap_or(20)
}

type Act<A> = ActorModelAction<<A as Actor>::Msg, <A as Actor>::Timer, <A as Actor>::Random>;

/// The paths of one configuration: its seeded bug's counterexample (a bug's configuration),
/// or random walks (a correct one).
fn paths<M>(model: &M, breaks: &[&'static str], seed: u64) -> Vec<Vec<M::Action>>
where
    M: Checkable + Fairness,
{
    if breaks.is_empty() {
        return (0..walks() as u64)
            .map(|k| random_walk(model, seed * 1_000_003 + k, WALK))
            .collect();
    }
    let mut found = Vec::new();
    for name in breaks {
        let prop = model.properties().into_iter().find(|p| p.name == *name);
        let Some(prop) = prop else { continue };
        if prop.expectation == Expectation::Eventually {
            let report = fairness::check(model, 4_000_000, &Default::default());
            if let Some((_, Some(lasso))) = report.verdicts.into_iter().find(|(n, _)| n == name) {
                // The stem, then the cycle twice: the loop is taken, and taken again.
                let mut p = lasso.stem.clone();
                p.extend(lasso.cycle.iter().cloned());
                p.extend(lasso.cycle.iter().cloned());
                found.push(p);
            }
        } else if let Some(path) = trace::shortest_counterexample(model, name, 80) {
            found.push(path.into_actions());
        }
    }
    assert!(!found.is_empty(), "no counterexample of {breaks:?} to replay");
    found
}

/// Replays the paths of the configurations of model `name` that `keep` (label, parameters)
/// accepts (never the deep ones), built by
/// `build` over service `S` (with whether its paths come from the in-flight-once network),
/// hosted as binding `P` says.
fn replay_model<P, S, A, C, H>(
    name: &str, keep: impl Fn(&str, &Params) -> bool,
    build: impl Fn(&Params) -> (ActorModel<A, C, H>, bool),
) -> usize
where
    P: Binding,
    S: Service,
    A: Actor<Msg = MsgOf<P, S>> + Clone + Send + Sync + 'static,
    A::Msg: Serialize + Hash + Eq + Ord + Clone + Debug + Send + Sync,
    A::Timer: Serialize + Hash + Eq + Ord + Clone + Debug + Send + Sync,
    A::Random: Hash + Eq + Debug + Send + Sync,
    A::State: PartialEq + Eq + Debug + twosafe::models::trace::Fields + Send + Sync,
    A::Storage: Journaled + PartialEq + Debug + Send + Sync,
    C: Clone + Send + Sync + 'static,
    H: Clone + Debug + Hash + Eq + Send + Sync + 'static,
{
    let spec = catalogue::model(name).expect("registered");
    let tmp = std::env::temp_dir().join(format!(
        "twosafe-replay-{}-{name}-{}",
        std::process::id(),
        S::NAME
    ));
    let (mut configs, mut steps) = (0, 0);
    for (k, c) in spec.checks().iter().filter(|c| !c.deep).enumerate() {
        let params = spec.params_of(c, &[]).expect("the catalogue's own parameters");
        if !keep(c.config, &params) {
            continue;
        }
        let breaks = spec.variant(&params).map_or(&[][..], |v| v.breaks);
        let (model, merged) = build(&params);
        let walks: Vec<Vec<Act<A>>> = if merged {
            paths(&InFlightOnce::new(model.clone()), breaks, k as u64)
        } else {
            paths(&model, breaks, k as u64)
        };
        let setting = Setting {
            servers: servers(&model),
            admit: P::admit::<S>,
            merged,
            protocol: P::NAME,
            dir: tmp.join(c.config.replace('/', "-")),
        };
        for (w, path) in walks.iter().enumerate() {
            match replay(&model, path, &setting) {
                Ok(n) => steps += n,
                Err(d) => panic!("{name} {} path {w}: {d}\nthe path: {path:#?}", c.config),
            }
        }
        configs += 1;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!("{name} over {}: {configs} configurations, {steps} steps replayed", S::NAME);
    configs
}

/// The servers of `model`: the actors before the first client.
fn servers<A: Actor, C, H>(model: &ActorModel<A, C, H>) -> usize
where
    A::Msg: Ord,
    A::Timer: Ord,
    H: Clone + Debug + Hash,
{
    let n = model.actors.iter().take_while(|a| a.name() != "client").count();
    assert!(model.actors[n..].iter().all(|a| a.name() == "client"), "clients come last");
    n
}

macro_rules! protocol {
    ($test:ident, $name:literal, $binding:ty, $module:ident, [$($service:ty),+]) => {
        #[test]
        fn $test() {
            use twosafe_models::$module::{build, Config};
            let mut configs = 0;
            $(
                configs += replay_model::<$binding, $service, _, _, _>(
                    $name,
                    |_, p| p.choice("service").ok() == Some(<$service as Service>::NAME),
                    |p| {
                        let cfg = Config::from_params(p).expect("the catalogue's own parameters");
                        let merged = cfg.resends == FOREVER;
                        (build::<$service>(cfg), merged)
                    },
                );
            )+
            let all = catalogue::model($name).expect("registered").checks();
            assert_eq!(configs, all.iter().filter(|c| !c.deep).count(), "every configuration");
        }
    };
}

protocol!(
    linear_2pc_paths_drive_the_host,
    "linear-2pc",
    Linear2pc,
    linear_2pc,
    [twosafe_models::services::Register, twosafe_models::services::Counter]
);
protocol!(
    logical_checkpointing_paths_drive_the_host,
    "logical-checkpointing",
    LogicalCheckpointing,
    logical_checkpointing,
    [twosafe_models::services::Register, twosafe_models::services::Counter]
);
protocol!(fuzzy_copy_paths_drive_the_host, "fuzzy-copy", FuzzyCopy, fuzzy_copy, [
    twosafe_models::services::Register,
    twosafe_models::services::Counter,
    twosafe_models::services::Accounts<3>
]);

#[test]
fn transactions_paths_drive_the_host() {
    use twosafe_models::logical_checkpointing::transactions::{build, Config};
    use twosafe_models::services::transactional::Transactional;
    use twosafe_models::services::Counter;
    use twosafe_models::with_transaction_shape;
    let spec = catalogue::model("transactions").expect("registered");
    let mut configs = 0;
    for c in spec.checks().iter().filter(|c| !c.deep) {
        let params = spec.params_of(c, &[]).expect("the catalogue's own parameters");
        let cfg = Config::from_params(&params).expect("the catalogue's own parameters");
        // The model's shape is in its types, as in the catalogue's `visit`.
        configs += with_transaction_shape!(&cfg, OPS, BATCH, BUG => {
            type S = Transactional<Counter, OPS, BATCH, BUG>;
            replay_model::<Transactions, S, _, _, _>(
                "transactions",
                |label, _| label == c.config,
                |_| (build::<Counter, OPS, BATCH, BUG>(cfg.clone()), false),
            )
        })
        .expect("a shape the catalogue builds");
    }
    assert_eq!(configs, spec.checks().iter().filter(|c| !c.deep).count(), "every configuration");
}
