//! The catalogue, checked: every configuration meets its expectation (each property holds in
//! the protocol; each seeded bug is caught by the property it targets), the state counts are
//! the ones proofs.md states, and the seeded bugs' counterexamples are the exact, shortest
//! traces below.

use std::collections::{BTreeMap, BTreeSet};
use twosafe::check::{self, Options, Row, Verdict};

/// The shallow configurations, or (`deep`) only the deep ones.
fn run_all(deep: bool) -> Vec<Row> {
    run_where(deep, |_| true)
}

/// The configurations (deep or not) whose "model/config" key `keep` accepts.
fn run_where(deep: bool, keep: impl Fn(&str) -> bool) -> Vec<Row> {
    let opts = Options::default();
    check::plan(&[], &[], deep)
        .expect("the catalogue's own parameters are valid")
        .iter()
        .filter(|(spec, config, _)| {
            spec.checks().iter().any(|c| c.config == config && c.deep) == deep
        })
        .filter(|(spec, config, _)| keep(&format!("{}/{config}", spec.name)))
        .flat_map(|(spec, config, params)| check::run(spec, config, params, &opts).expect("runs"))
        .collect()
}

/// (config → (states, unique)) from the table in proofs.md.
fn proofs_counts() -> BTreeMap<String, (usize, usize)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/proofs.md"))
        .expect("proofs.md is at the top of the repository");
    let begin = text.find("<!-- check-table:begin -->").expect("table start marker");
    let end = text.find("<!-- check-table:end -->").expect("table end marker");
    text[begin..end]
        .lines()
        .filter(|l| l.starts_with("| "))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            // | model | config | variant | verdicts | states | unique | depth | steps |
            let states = cells.get(5)?.parse().ok()?;
            let unique = cells.get(6)?.parse().ok()?;
            Some((format!("{}/{}", cells[1], cells[2]), (states, unique)))
        })
        .collect()
}

#[test]
fn every_configuration_meets_its_expectation_with_the_counts_in_proofs_md() {
    let rows = run_all(false);
    assert!(rows.len() >= 40, "only {} rows", rows.len());
    let unexpected: Vec<_> = rows.iter().filter(|r| !r.as_expected()).collect();
    assert!(unexpected.is_empty(), "verdicts differ from expectations: {unexpected:#?}");

    // At least four seeded bugs, caught by at least three different properties.
    let caught: Vec<_> = rows.iter().filter(|r| r.verdict == Verdict::Violated).collect();
    let props: std::collections::BTreeSet<_> = caught.iter().map(|r| &r.property).collect();
    assert!(caught.len() >= 4 && props.len() >= 3, "{caught:?}");
    // Every property of the model has a seeded bug that breaks it.
    for p in ["2-safety", "exactly-once", "atomicity", "linearizability", "liveness"] {
        assert!(caught.iter().any(|r| r.property == p), "no seeded bug breaks {p}");
        assert!(
            rows.iter().any(|r| r.property == p && r.verdict == Verdict::Holds),
            "{p} never holds"
        );
    }

    let pinned = proofs_counts();
    let mut checked = 0;
    for r in &rows {
        let key = format!("{}/{}", r.model, r.config);
        let Some(&(states, unique)) = pinned.get(&key) else {
            panic!("proofs.md has no row for {key}");
        };
        assert_eq!((r.states, r.unique_states), (states, unique), "{key}: proofs.md is stale");
        checked += 1;
    }
    assert_eq!(checked, rows.len());
}

fn counterexample(config: &str) -> Vec<String> {
    counterexample_of("linear-2pc", config)
}

/// The rows of `model`'s configuration `config`.
fn rows_of(model: &str, config: &str) -> Vec<Row> {
    let (spec, config, params) = check::plan(&[model.into()], &[], false)
        .unwrap()
        .into_iter()
        .find(|(_, c, _)| c == config)
        .expect("configuration exists");
    check::run(spec, &config, &params, &Options::default()).unwrap()
}

fn counterexample_of(model: &str, config: &str) -> Vec<String> {
    rows_of(model, config).into_iter().find_map(|r| r.counterexample).expect("a counterexample")
}

#[test]
fn one_safe_loses_an_acknowledged_update_in_two_steps() {
    assert_eq!(
        counterexample("bug/one-safe"),
        [
            "client 2 -> server 0: Request { session: 1, seq: 0, op: Put(0, 1) }",
            "server 0 -> client 2: Reply { session: 1, seq: 0, reply: PutOk }",
        ]
    );
}

#[test]
fn degrading_while_the_backup_may_take_over_makes_two_primaries_of_one_epoch() {
    assert_eq!(
        counterexample("bug/degrade-with-takeover"),
        [
            "client 2 -> server 0: Request { session: 1, seq: 0, op: Put(0, 1) }",
            "server 0: timer Degrade fires",
            "server 1: timer Takeover fires",
        ]
    );
    let volatile = counterexample("bug/volatile-degrade");
    assert_eq!(volatile[1], "server 0: timer Degrade fires", "{volatile:#?}");
}

#[test]
fn skipping_reconfiguration_lets_histories_diverge() {
    assert_eq!(
        counterexample("bug/skip-reconfiguration"),
        [
            "client 3 -> server 0: Request { session: 1, seq: 0, op: Add(1, 1) }",
            "server 0 -> server 1: ChangeBuffer { epoch: 0, index: 0, entry: Entry { client: Id(3), session: 1, seq: 0, op: Add(1, 1), reply: CounterReply(1) } }",
            "server 0 CRASHES",
            "server 0 restarts from its durable state",
            "client 2 -> server 0: Request { session: 1, seq: 0, op: Add(0, 1) }",
            "server 1 -> server 0: Ack { epoch: 0, index: 0 }",
        ]
    );
}

#[test]
fn a_learner_caught_up_in_the_same_epoch_lets_an_ack_of_its_lost_storage_count() {
    // The backup acks (step 2), loses its storage, is caught up without the change buffer,
    // and its old ack commits the update: acknowledged, and on one disk only.
    assert_eq!(
        counterexample("bug/join-in-same-epoch"),
        [
            "client 2 -> server 0: Request { session: 1, seq: 0, op: Put(0, 1) }",
            "server 0 -> server 1: ChangeBuffer { epoch: 0, index: 0, entry: Entry { client: Id(2), session: 1, seq: 0, op: Put(0, 1), reply: PutOk } }",
            "server 1: timer StorageLost fires",
            "server 1 -> server 0: Join { inc: 1 }",
            "server 0 -> server 1: CatchUp { epoch: 0, inc: 1, from: 0, entries: [], last: true }",
            "server 1 -> server 0: Ack { epoch: 0, index: 0 }",
            "server 0 -> client 2: Reply { session: 1, seq: 0, reply: PutOk }",
            "server 1 -> server 0: CaughtUp { epoch: 0, inc: 1, len: 0 }",
            "server 0 -> server 1: Welcome { epoch: 0, inc: 1 }",
        ]
    );
}

#[test]
fn a_wiped_node_that_starts_fresh_or_answers_the_inquiry_loses_an_acknowledged_update() {
    let fresh = counterexample("bug/wiped-starts-fresh");
    assert_eq!(fresh.len(), 5, "{fresh:#?}");
    assert_eq!(fresh[4], "server 0: timer StorageLost fires");
    let cut = counterexample("bug/trust-cut-journal");
    assert_eq!(cut[4], "server 1: timer StorageLost fires", "{cut:#?}");
    let answers = counterexample("bug/learner-answers-inquiry");
    assert_eq!(answers.len(), 9, "{answers:#?}");
    // Its answer starts at its own (empty) end: the inquirer cuts its history to it.
    assert_eq!(answers[7], "server 0 -> server 1: Inquire { epoch: 0, len: 1 }");
    assert_eq!(answers[8], "server 1 -> server 0: ProcessState { epoch: 0, from: 0, entries: [] }");
}

#[test]
fn local_reads_return_a_stale_value_after_a_false_suspicion() {
    let trace = counterexample("bug/local-reads");
    assert_eq!(trace.len(), 8, "{trace:#?}");
    assert_eq!(trace[1], "server 1: timer Takeover fires");
    assert_eq!(trace[7], "server 0 -> client 3: Reply { session: 1, seq: 1, reply: GetOk(None) }");
}

#[test]
fn logical_checkpointing_local_reads_go_stale_after_a_false_suspicion() {
    // A deposed primary that answers a read without confirming with its backup.
    let trace = counterexample_of("logical-checkpointing", "bug/local-reads");
    assert_eq!(trace.len(), 8, "{trace:#?}");
    assert_eq!(trace[1], "server 1: timer Takeover fires");
    assert_eq!(trace[4], "server 1 -> client 2: Reply { session: 1, seq: 0, reply: PutOk }");
    assert_eq!(trace[7], "server 0 -> client 3: Reply { session: 1, seq: 1, reply: GetOk(None) }");
}

#[test]
fn a_backup_committing_in_execution_order_breaks_ssn_order() {
    // Reference: the logical-checkpointing patent, Fig. 3D — execute in any order, commit in SSN order.
    assert_eq!(
        counterexample_of("logical-checkpointing", "bug/commit-in-execution-order"),
        [
            "client 2 -> server 0: Request { session: 1, seq: 1, op: Put(0, 2) }",
            "client 2 -> server 0: Request { session: 1, seq: 0, op: Put(0, 1) }",
            "server 0 -> server 1: Checkpoint { epoch: 0, ssn: 1, client: Id(2), session: 1, seq: 0, op: Put(0, 1) }",
            "server 1: timer Execute(1) fires",
        ]
    );
}

#[test]
fn a_new_primary_answering_a_pending_resend_executes_it_twice() {
    // Reference: the logical-checkpointing patent, Fig. 4B step 12 — wait until the commit completes.
    let trace = counterexample_of("logical-checkpointing", "bug/answer-before-commit");
    assert_eq!(trace.len(), 6, "{trace:#?}");
    assert_eq!(trace[2], "server 0 CRASHES");
    assert_eq!(trace[5], "client 2 -> server 1: Request { session: 1, seq: 1, op: Add(1, 1) }");
}

#[test]
fn a_server_that_takes_its_first_chunk_for_the_whole_catch_up_is_welcomed_lacking_a_step() {
    // The primary committed two steps alone; the deposed one reports itself current after the
    // first chunk (of one step) and is welcomed as backup while the second has been answered.
    let trace = counterexample_of("linear-2pc", "bug/caught-up-at-first-chunk");
    let chunk = trace.iter().position(|l| {
        l.starts_with("server 1 -> server 0: CatchUp { epoch: 1, inc: 0, from: 0")
            && l.ends_with("last: false }")
    });
    let caught_up = trace.iter().position(|l| l.starts_with("server 0 -> server 1: CaughtUp"));
    let welcome = trace.iter().position(|l| l.starts_with("server 1 -> server 0: Welcome"));
    assert!(chunk.is_some() && chunk < caught_up && caught_up < welcome, "{trace:#?}");
    assert_eq!(
        trace.last().map(String::as_str),
        Some("server 1 -> client 2: Reply { session: 1, seq: 1, reply: PutOk }"),
        "{trace:#?}"
    );
}

#[test]
fn a_spare_that_joins_without_its_catch_up_misses_what_the_new_primary_answered_alone() {
    // The new primary answers an update while the old one is away, then takes the restarted
    // spare as current: its new backup lacks the update.
    let trace = counterexample_of("logical-checkpointing", "bug/join-without-catch-up");
    assert_eq!(trace.len(), 8, "{trace:#?}");
    assert_eq!(trace[4], "server 1 -> client 2: Reply { session: 1, seq: 0, reply: PutOk }");
    assert_eq!(
        trace[6],
        "server 0 -> server 1: Join { epoch: 0, have: 0, inc: 0, learner: false }"
    );
    assert_eq!(
        trace[7],
        "server 1 -> server 0: CatchUp { epoch: 1, inc: 0, from: 0, entries: [], last: true }"
    );
    // A primary that does not save its new backup restarts alone beside it and answers.
    let trace = counterexample_of("logical-checkpointing", "bug/join-not-durable");
    let restart = trace.iter().position(|l| l == "server 1 restarts from its durable state");
    let catch_up = trace.iter().position(|l| l.contains("CatchUp { epoch: 1"));
    assert!(catch_up < restart && restart.is_some(), "{trace:#?}");
    assert!(
        trace.last().is_some_and(|l| l.starts_with("server 1 -> client 2: Reply")),
        "{trace:#?}"
    );
}

#[test]
fn logical_checkpointing_answers_a_reused_client_id_from_its_table_without_sessions() {
    // A second run of a client id starts its sequence numbers at 0 again: a table keyed by
    // (client, seq) alone answers its first update with the first run's stored response.
    let trace = counterexample_of("logical-checkpointing", "bug/session-blind");
    assert_eq!(
        trace.last().map(String::as_str),
        Some("server 0 -> client 2: Reply { session: 2, seq: 0, reply: CounterReply(1) }"),
        "{trace:#?}"
    );
    // And an expired session's late copy, executed, is a second execution.
    let trace = counterexample_of("logical-checkpointing", "bug/expired-session-executes");
    assert!(trace.iter().any(|l| l.contains("Request { session: 2, seq: 0")), "{trace:#?}");
}

#[test]
fn a_batch_whose_workspace_a_failure_lost_commits_nothing_with_the_partial_commit_bug() {
    // Reference: the logical-checkpointing patent, Fig. 5B — a failure before the checkpoint
    // aborts the transaction; the seeded bug commits what is left of it.
    let trace = counterexample_of("transactions", "bug/partial-commit");
    assert_eq!(trace[1], "server 0 CRASHES", "{trace:#?}");
    assert_eq!(
        trace.last().map(String::as_str),
        Some(
            "client 2 -> server 1: Request { session: 1, seq: 2, op: Commit { client: 0, txn: 0, \
             n: 2, batch: true } }"
        ),
        "{trace:#?}"
    );
    assert_eq!(trace.len(), 8);
}

#[test]
fn an_end_indicator_checkpointed_alone_and_committed_from_the_workspace_diverges() {
    // The transactions model's own finding: a batch's end indicator that overtook the last
    // request must abort at the primary too.
    let trace = counterexample_of("transactions", "bug/commit-unsealed");
    let alone = trace
        .iter()
        .position(|l| l.contains("Checkpoint") && l.contains("op: Commit {"))
        .expect("the end indicator is checkpointed alone");
    let completed = trace
        .iter()
        .position(|l| l.contains("-> server 1: Request") && l.contains("i: 0"))
        .expect("the overtaken request reaches the new primary");
    assert!(alone < completed, "{trace:#?}");
    assert_eq!(trace.len(), 19);
}

#[test]
fn replay_without_generation_filtering_applies_an_update_twice() {
    // Reference: the logical-checkpointing patent, "new backup": SSNs as generation labels filter the fuzzy copy.
    let trace = counterexample_of("fuzzy-copy", "bug/no-filter");
    assert_eq!(
        trace[5],
        "primary 0 -> backup 1: CopyObject { incarnation: 0, attempt: 1, objects: [(1, Some(1), 2)] }",
        "{trace:#?}"
    );
    assert_eq!(trace.last().map(String::as_str), Some("backup 1 -> primary 0: LogAck { next: 3 }"));
    assert_eq!(trace.len(), 13);
}

/// The deep configurations: about 45 minutes and 10 GB on two cores. `cargo test -- --ignored` runs
/// them (and [`deep_slice_holds`] again).
#[test]
#[ignore]
fn deep_configurations_hold() {
    assert_deep_rows(run_all(true));
}

/// The deep configurations that CI runs: those of at most [`SLICE_UNIQUE`] unique states in
/// proofs.md (a few minutes: eight configurations of six models, from 0.6 to 1 million states;
/// the others are 1.2-367 million).
/// `cargo test --release --test catalogue -- --ignored --exact deep_slice_holds`.
#[test]
#[ignore]
fn deep_slice_holds() {
    let pinned = proofs_counts();
    let rows = run_where(true, |key| pinned.get(key).is_some_and(|(_, u)| *u <= SLICE_UNIQUE));
    let configs: BTreeSet<_> = rows.iter().map(|r| (&r.model, &r.config)).collect();
    assert!(configs.len() >= 3, "the slice holds only {configs:?}");
    assert_deep_rows(rows);
}

/// The largest deep configuration CI runs, in unique states.
const SLICE_UNIQUE: usize = 1_000_000;

fn assert_deep_rows(rows: Vec<Row>) {
    let unexpected: Vec<_> = rows.iter().filter(|r| !r.as_expected()).collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    let pinned = proofs_counts();
    for r in rows.iter().filter(|r| r.config.starts_with("deep/")) {
        let key = format!("{}/{}", r.model, r.config);
        assert_eq!(
            pinned.get(&key),
            Some(&(r.states, r.unique_states)),
            "{key}: proofs.md is stale"
        );
    }
}

#[test]
fn a_livelock_is_found_as_a_lasso_whose_cycle_repeats_the_heartbeat_exchange() {
    let (spec, config, params) = check::plan(&["linear-2pc".into()], &[], false)
        .unwrap()
        .into_iter()
        .find(|(_, c, _)| c == "bug/busy-while-heartbeat")
        .expect("configuration exists");
    let rows = check::run(spec, &config, &params, &Options::default()).unwrap();
    let row = rows.iter().find(|r| r.property == "liveness").expect("a liveness row");
    assert_eq!(row.verdict, Verdict::Violated);
    let steps = row.counterexample.as_ref().expect("a counterexample");
    let cycle = &steps[row.cycle_from.expect("a lasso")..];
    assert!(!cycle.is_empty(), "a cycle, not a stuck state: {steps:#?}");
    for step in ["timer Heartbeat fires", "IAmAlive", "AliveAck"] {
        assert!(cycle.iter().any(|s| s.contains(step)), "{step} not in the cycle {cycle:#?}");
    }
    assert!(cycle.iter().all(|s| !s.contains("Request")), "the request is never taken");
}

/// The row of `property` in configuration `label` of `model`, checked.
fn row_of(model: &str, label: &str, property: &str) -> Row {
    let plan = check::plan(&[model.into()], &[], false).unwrap();
    let (spec, config, params) =
        plan.iter().find(|(_, c, _)| c == label).expect("configuration exists").clone();
    let rows = check::run(spec, &config, &params, &Options::default()).unwrap();
    rows.into_iter().find(|r| r.property == property).expect("a row of the property")
}

#[test]
fn on_a_lossy_network_a_lost_inquire_leaves_the_client_resending_for_ever_unless_it_is_resent() {
    let run = |label: &str| row_of("linear-2pc", label, "liveness");
    let bug = run("bug/inquire-once");
    assert_eq!(bug.verdict, Verdict::Violated);
    let steps = bug.counterexample.as_ref().expect("a counterexample");
    let from = bug.cycle_from.expect("a lasso");
    assert!(steps[..from].iter().any(|s| s.starts_with("LOST") && s.contains("Inquire")));
    assert!(steps[from..].iter().all(|s| !s.contains("Inquire")), "never asked again");
    // The protocol as specified resends `Inquire`: the same search finds no lasso.
    assert_eq!(run("hot/resend-forever/crash-primary").verdict, Verdict::Holds);
}

/// A leads-to judged after every trigger: the backup is behind from the start, and again after
/// its reboot. With `rejoin-once` the reboot's `Rejoin` is lost and the primary retransmits for
/// ever to the previous incarnation; the protocol as specified asks again.
#[test]
fn a_lost_rejoin_leaves_the_rebooted_backup_behind_for_ever_unless_it_is_asked_again() {
    let run = |label: &str| row_of("fuzzy-copy", label, "catch-up-terminates");
    let bug = run("bug/rejoin-once");
    assert_eq!(bug.verdict, Verdict::Violated);
    let steps = bug.counterexample.as_ref().expect("a counterexample");
    let from = bug.cycle_from.expect("a lasso");
    assert!(steps[..from].iter().any(|s| s.contains("restarts")), "{steps:?}");
    assert!(steps[..from].iter().any(|s| s.starts_with("LOST") && s.contains("Rejoin")));
    assert!(steps[from..].iter().all(|s| !s.contains("Rejoin")), "never asked again");
    assert_eq!(run("lossy/resend-forever/reboot").verdict, Verdict::Holds);
}

/// Each property's counterexample in `model`'s configuration `config`.
fn counterexamples_of(model: &str, config: &str) -> BTreeMap<String, Vec<String>> {
    let rows = rows_of(model, config);
    rows.into_iter().filter_map(|r| Some((r.property, r.counterexample?))).collect()
}

#[test]
fn lazy_primary_copy_gives_up_two_safety_and_a_takeover_loses_the_update() {
    let found = counterexamples_of("lazy-primary-copy", "primary-writer/takeover");
    let put = [
        "client 2 -> server 0: Request { seq: 0, op: Put(0, 1) }",
        "server 0 -> client 2: Reply { seq: 0, reply: PutOk }",
    ];
    assert_eq!(found["2-safety"], put);
    assert_eq!(found["no-lost-update"], [put[0], put[1], "server 1: timer Suspect fires"]);
    let stale = [
        "client 2 -> server 0: Request { seq: 0, op: Put(0, 1) }",
        "client 2: timer Resend fires",
        "server 0 -> client 2: Reply { seq: 0, reply: PutOk }",
        "client 2 -> server 1: Request { seq: 1, op: Get(0) }",
        "server 1 -> client 2: Reply { seq: 1, reply: GetOk(None) }",
    ];
    assert_eq!(found["read-your-writes"], stale);
    assert_eq!(found["linearizability"], stale);
    // What it keeps has no counterexample.
    for kept in ["prefix-consistency", "exactly-once", "convergence"] {
        assert!(!found.contains_key(kept), "{kept}: {:?}", found[kept]);
    }
}

#[test]
fn lazy_primary_copy_serves_a_stale_local_read_without_any_failure() {
    let found = counterexamples_of("lazy-primary-copy", "reader/stale-read");
    assert_eq!(
        found["linearizability"],
        [
            "client 2 -> server 0: Request { seq: 0, op: Put(0, 1) }",
            "server 0 -> client 2: Reply { seq: 0, reply: PutOk }",
            "client 3 -> server 1: Request { seq: 0, op: Get(0) }",
            "server 1 -> client 3: Reply { seq: 0, reply: GetOk(None) }",
            "client 3 -> server 1: Request { seq: 1, op: Get(0) }",
            "server 1 -> client 3: Reply { seq: 1, reply: GetOk(None) }",
        ]
    );
}

/// Online schema evolution's seeded bugs, with their exact shortest traces: the switch that
/// trusts the timing, and the recovery that replays a resent request twice.
#[test]
fn schema_evolution_loses_an_update_when_it_goes_live_undrained_and_replays_twice_without_the_table(
) {
    let undrained = counterexamples_of("schema-evolution", "bug/live-before-drain");
    assert_eq!(
        undrained["no-lost-update"],
        [
            "server 0: timer Copy fires",
            "client 2 -> server 0: Request { seq: 0, op: Insert(0) }",
            "server 0 -> client 2: Reply { seq: 0, reply: Some(1) }",
            "server 0: timer Copy fires",
            "server 0: timer Install fires",
        ]
    );
    let twice = counterexamples_of("schema-evolution", "bug/replays-duplicates");
    assert_eq!(
        twice["exactly-once"],
        [
            "server 0: timer Copy fires",
            "client 2 -> server 0: Request { seq: 0, op: Insert(0) }",
            "server 0: timer Install fires",
            "client 2: timer Resend fires",
            "client 2 -> server 0: Request { seq: 0, op: Insert(0) }",
            "server 0: timer Replay fires",
            "server 0: timer Replay fires",
            "server 0 -> client 2: Reply { seq: 0, reply: None }",
        ]
    );
    let dropped = counterexamples_of("schema-evolution", "bug/drops-insert-then-delete");
    let steps = &dropped["equivalence"];
    let copy = steps.iter().position(|s| s.contains("timer Copy")).expect("the bulk copy");
    let delete = steps.iter().position(|s| s.contains("Delete(0)")).expect("the delete");
    assert!(copy < delete, "the bulk copy copied the tuple before its delete: {steps:#?}");
}
