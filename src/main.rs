//! The `twosafe` command line: check, list and explore the workbench's models.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use twosafe::check::{self, Options, Row};
use twosafe::explore;
use twosafe::models::catalogue::{self, MODELS};
use twosafe::models::params::ParamError;
use twosafe::runtime::config::{Durability, ServiceKind};

mod runtime_cli;

#[derive(Parser)]
#[command(
    name = "twosafe",
    version,
    about = "A formally checked workbench for primary-backup replication protocols"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `twosafe check`'s arguments.
#[derive(clap::Args)]
struct CheckArgs {
    /// Models to check (default: all). See `twosafe models`.
    models: Vec<String>,
    /// Override a parameter in every configuration checked, e.g. `--set clients=3`.
    #[arg(long = "set", value_name = "K=V")]
    set: Vec<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Checker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Only the configurations whose label contains this text (e.g. `bug/`).
    #[arg(long)]
    only: Option<String>,
    /// Also the deep configurations (minutes, not seconds).
    #[arg(long)]
    deep: bool,
    /// A markdown table, one line per configuration (as in proofs.md).
    #[arg(long, conflicts_with = "json")]
    markdown: bool,
    /// Check only part K of N of one configuration's safety search, for N independent
    /// workers (e.g. GNU parallel, Slurm); `twosafe merge` makes the verdicts. See README.
    #[arg(long, value_name = "K/N", value_parser = parse_part, requires = "fingerprints")]
    part: Option<twosafe::models::search::Part>,
    /// Where a part writes its fingerprints (8 bytes per state it saw), for `twosafe merge`.
    #[arg(long, value_name = "FILE", requires = "part")]
    fingerprints: Option<PathBuf>,
    /// Give up on a configuration after this many distinct states (its verdicts: unknown).
    #[arg(long, value_name = "N")]
    max_states: Option<usize>,
    /// Give up on a configuration after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_positive)]
    max_secs: Option<f64>,
    /// Give up on a configuration once the process holds this many GB of memory
    /// (default: three quarters of the memory available when the check starts).
    #[arg(long, value_name = "GB", value_parser = parse_positive)]
    max_memory: Option<f64>,
}

/// A number above zero.
fn parse_positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!("{s:?}: expected a number above 0")),
    }
}

/// `K/N` with 1 ≤ K ≤ N.
fn parse_part(s: &str) -> Result<twosafe::models::search::Part, String> {
    let bad = || format!("`{s}` is not K/N with 1 <= K <= N (e.g. 2/4)");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok(twosafe::models::search::Part { index: k - 1, of: n })
}

#[derive(Subcommand)]
enum Command {
    /// Model-check the catalogue (or the named models) and print a table of verdicts.
    ///
    /// Exits 1 if any verdict differs from its expectation, 2 on bad input.
    Check(CheckArgs),
    /// Merge the parts of a split check (`check --part K/N --json` outputs) into verdicts.
    ///
    /// An `always` property holds if no part broke it, a `sometimes` one if some part
    /// satisfied it; `eventually` stays unknown (it needs the whole graph). Distinct states are
    /// the union of the parts' fingerprint files. Exits 1 if a verdict differs from its
    /// expectation, 2 if the parts do not make a whole.
    Merge {
        /// The parts' JSON outputs (their fingerprint files where recorded, or beside them).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// A markdown table, one line per configuration (as in proofs.md).
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
    },
    /// List every model with its parameters, defaults, properties and seeded-bug variants.
    Models {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Explore the models in the browser, on localhost: every model and its configurations,
    /// states step by step, properties on each state, shortest counterexamples.
    Explore {
        /// Open this model directly (default: the home page, which lists them all).
        model: Option<String>,
        /// Set a parameter, e.g. `--set crashes=0`.
        #[arg(long = "set", value_name = "K=V")]
        set: Vec<String>,
        /// The port (0: a free one the system chooses; the URL printed names it).
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Show a recorded run of real nodes beside the model: a `twosafe chaos` run's
        /// directory (`--dir`), or trace files written by `twosafe node --trace`. Every step
        /// is marked as the model takes it or not, with the model's state of the node after it.
        #[arg(long, value_name = "DIR|FILE", num_args = 1..)]
        trace: Vec<PathBuf>,
        /// The cluster file the traced nodes ran with (default: cluster.toml beside the traces).
        #[arg(long, requires = "trace")]
        config: Option<PathBuf>,
    },
    /// Run one server of a cluster (the model's server role over TCP and a journal).
    Node {
        /// The cluster configuration (see `twosafe config`).
        #[arg(long)]
        config: PathBuf,
        /// This node's index in the configuration's `[[node]]` list.
        #[arg(long)]
        id: usize,
        /// Record every step (event and commands) here as JSON lines, for `twosafe conform`.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Rebuild this node's storage from its peer: its journal (damaged, or missing) is moved
        /// aside and the node starts as a learner, caught up by the primary in a new epoch.
        /// For a node that refused to start; the peer must hold the data. A healthy journal
        /// (it may hold the only copy of acknowledged updates) is refused without --force.
        #[arg(long)]
        rejoin: bool,
        /// With --rejoin: set the journal aside even if it is healthy.
        #[arg(long, requires = "rejoin")]
        force: bool,
    },
    /// Write the first journal of every node of a configuration (or of one, `--id`): what a
    /// node starts from the first time. A node never starts from an empty data directory, so
    /// that a wiped one is not taken for a new one; `twosafe cluster` formats a new cluster
    /// (no node has a journal) itself.
    Format {
        /// The cluster configuration.
        #[arg(long)]
        config: PathBuf,
        /// Only this node.
        #[arg(long)]
        id: Option<usize>,
    },
    /// Fault test: a local 2-node cluster under load; the backup is killed (-9) and restarted
    /// at seeded points, then the primary (takeover, then takeback), twice by default; the
    /// history and the traces are judged.
    ///
    /// Exits 0 when no acknowledged update was lost, none applied twice, the replies keep
    /// real-time order and every node step conforms to the model; 1 otherwise.
    Chaos(runtime_cli::ChaosArgs),
    /// Replay nodes' step traces through the model's server role; fail at the first step the
    /// model would not take.
    Conform {
        /// The cluster configuration the nodes ran with.
        #[arg(long)]
        config: PathBuf,
        /// Trace files written by `twosafe node --trace`.
        #[arg(required = true)]
        traces: Vec<PathBuf>,
    },
    /// Start every node of a configuration as local processes; Ctrl-C stops them.
    Cluster {
        /// The cluster configuration.
        #[arg(long)]
        config: PathBuf,
    },
    /// Print a two-node loopback configuration (hot standby) to start from.
    Config {
        /// Where the nodes keep their data (node0/, node1/ under it).
        #[arg(long, default_value = "twosafe-data")]
        dir: PathBuf,
        /// Node 0's port; node 1 gets the next one.
        #[arg(long, default_value_t = 7100)]
        port: u16,
        /// counter, register, tpcb (TPC-B-like: 3 updates + 1 insert per transaction),
        /// tpcb-rows (the same bank, one row per request: with --protocol transactions, a
        /// TPC-B transaction is 4 requests) or opera (OPERA's process images: INST, START,
        /// TERM).
        #[arg(long, default_value = "counter", value_parser = parse_service)]
        service: ServiceKind,
        /// memory or fsync.
        #[arg(long, default_value = "fsync", value_parser = parse_durability)]
        durability: Durability,
        /// The protocol the cluster runs: linear-2pc, logical-checkpointing, fuzzy-copy (with
        /// --service counter or register) or transactions (with --service counter or
        /// tpcb-rows); a modelled
        /// protocol the runtime does not host yet is refused with a message that says so.
        #[arg(long, default_value = "linear-2pc")]
        protocol: twosafe::runtime::binding::Protocol,
    },
    /// Send the service's workload to a cluster and print throughput and latency.
    Load(runtime_cli::LoadArgs),
    /// Reproduce a paper experiment beside the paper's figures, real peers and the physical
    /// floors; writes target/twosafe-bench/EXPERIMENT.json and a plot.
    ///
    /// Experiments: clustra-response (ClustRa Fig. 3/4), clustra-window (Fig. 5),
    /// clustra-takeover (Fig. 9), opera-overhead (OPERA Fig. 5-9), opera-recovery (Fig. 10),
    /// catchup (a new backup by fuzzy copy under load; no paper figure), or `all`.
    Bench(runtime_cli::BenchArgs),
}

pub(crate) fn parse_service(s: &str) -> Result<ServiceKind, String> {
    match s {
        "counter" => Ok(ServiceKind::Counter),
        "register" => Ok(ServiceKind::Register),
        "tpcb" => Ok(ServiceKind::Tpcb),
        "tpcb-rows" => Ok(ServiceKind::TpcbRows),
        "opera" => Ok(ServiceKind::Opera),
        _ => Err(format!("{s:?}: expected counter, register, tpcb, tpcb-rows or opera")),
    }
}

pub(crate) fn parse_durability(s: &str) -> Result<Durability, String> {
    match s {
        "memory" => Ok(Durability::Memory),
        "fsync" => Ok(Durability::Fsync),
        _ => Err(format!("{s:?}: expected memory or fsync")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // WARN and above unless RUST_LOG says otherwise: a cap reached or a refused peer shows.
    // A server node (`node`, and the nodes `cluster` starts) also says what it starts from and
    // each change of its role (a takeover, a degradation, a rejoin): an operator sees them
    // without asking. Not for `chaos`, whose own clients see the faults it injects (refused
    // connections while a node is down) and report them in its verdicts; its nodes log to
    // files beside their data.
    let level = match cli.command {
        Command::Chaos(_) => "error",
        Command::Node { .. } => "warn,twosafe::runtime::node=info,twosafe::runtime::binding=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("twosafe: {e}");
            let bad_input = matches!(
                e.downcast_ref::<check::CheckError>(),
                Some(
                    check::CheckError::Param(_)
                        | check::CheckError::NotAPart { .. }
                        | check::CheckError::Read { .. }
                        | check::CheckError::Incomplete { .. }
                        | check::CheckError::NotFingerprints(_)
                )
            );
            if bad_input
                || e.downcast_ref::<ParamError>().is_some()
                || matches!(
                    e.downcast_ref::<explore::ExploreError>(),
                    Some(explore::ExploreError::Param(_) | explore::ExploreError::Trace(_))
                )
            {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check_cmd(&args),
        Command::Merge { files, json, markdown } => merge_cmd(&files, json, markdown),
        Command::Models { json } => {
            models_cmd(json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Explore { model, set, port, trace, config } => {
            let params = match &model {
                Some(model) => {
                    let spec = catalogue::model(model)?;
                    let mut params = spec.defaults();
                    for pair in &set {
                        params.set_pair(spec.params, pair)?;
                    }
                    Some(params)
                }
                None if !set.is_empty() => {
                    return Err(ParamError::BadValue {
                        name: "set".into(),
                        value: set.join(" "),
                        expected: "a parameter of a model named before it".into(),
                    }
                    .into())
                }
                None => None,
            };
            let run = if trace.is_empty() {
                None
            } else {
                let run = explore::Run::load(&trace, config.as_deref())
                    .map_err(explore::ExploreError::Trace)?;
                let departed = run.view.nodes.iter().filter(|n| n.departure.is_some()).count();
                println!(
                    "Loaded {} recorded steps of {} node(s) ({}): {}",
                    run.view.steps.len(),
                    run.view.nodes.len(),
                    run.view.protocol,
                    if departed == 0 {
                        "every step is one the model takes".to_string()
                    } else {
                        format!("{departed} trace(s) depart from the model")
                    }
                );
                Some(run)
            };
            let what = match (&model, &run) {
                (Some(model), _) => model.as_str(),
                (None, Some(_)) => "the recorded run",
                (None, None) => "the models",
            };
            explore::serve(port, params.as_ref(), run, |url| {
                println!("Exploring {what} at {url} (Ctrl-C to stop)");
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Node { config, id, trace, rejoin, force } => {
            runtime_cli::node_cmd(&config, id, trace.as_deref(), rejoin, force)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Format { config, id } => {
            runtime_cli::format_cmd(&config, id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Chaos(args) => runtime_cli::chaos_cmd(args),
        Command::Conform { config, traces } => {
            runtime_cli::conform_cmd(&config, &traces)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cluster { config } => {
            runtime_cli::cluster_cmd(&config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { dir, port, service, durability, protocol } => {
            runtime_cli::config_cmd(&dir, port, service, durability, protocol)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => {
            runtime_cli::bench_cmd(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Load(args) => {
            runtime_cli::load_cmd(&args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check_cmd(args: &CheckArgs) -> Result<ExitCode> {
    let json = args.json;
    let mut opts =
        Options { progress: std::io::stderr().is_terminal() && !json, ..Options::default() };
    if let Some(t) = args.threads {
        opts.threads = t.max(1);
    }
    opts.limits = check::Limits {
        states: args.max_states,
        secs: args.max_secs,
        memory: args
            .max_memory
            .map(|gb| (gb * 1e9) as u64)
            .or_else(check::memory::three_quarters_available),
    };
    let only = args.only.as_deref();
    let whole = check::plan(&args.models, &args.set, args.deep)?;
    let plan: Vec<_> =
        whole.iter().filter(|(_, config, _)| only.is_none_or(|o| config.contains(o))).collect();
    if plan.is_empty() {
        let labels: Vec<&str> = whole.iter().map(|(_, c, _)| c.as_str()).collect();
        let which = match args.models.as_slice() {
            [_] => format!(": {}", labels.join(", ")),
            _ => " (`twosafe models` lists them)".into(),
        };
        let deep = if args.deep { "" } else { " (the deep ones need --deep)" };
        return Err(ParamError::BadValue {
            name: "only".into(),
            value: only.unwrap_or("").into(),
            expected: format!("text in a configuration's label{which}{deep}"),
        }
        .into());
    }
    if let (Some(part), Some(fingerprints)) = (args.part, &args.fingerprints) {
        if plan.len() != 1 {
            let names: Vec<String> =
                plan.iter().map(|(s, c, _)| format!("{} {c}", s.name)).collect();
            return Err(ParamError::BadValue {
                name: "part".into(),
                value: names.join(", "),
                expected: "one configuration (name the model, narrow with --only)".into(),
            }
            .into());
        }
        opts.part = Some(check::Split { part, fingerprints: fingerprints.clone() });
    }
    let markdown = args.markdown;
    let mut rows: Vec<Row> = Vec::new();
    for (spec, config, params) in plan {
        let new = check::run(spec, config, params, &opts)?;
        if json {
            for r in &new {
                print_out(&format!("{}\n", serde_json::to_string(r)?))?;
            }
        } else if !std::io::stdout().is_terminal() {
            // Non-interactive: say what finished, so long runs show life in logs.
            eprintln!(
                "checked {} {config} ({:.1}s)",
                spec.name,
                new.first().map_or(0.0, |r| r.secs)
            );
        }
        rows.extend(new);
    }
    // A part alone decides only what it found; the rest waits for `twosafe merge`.
    let failed = rows
        .iter()
        .filter(|r| !r.as_expected() && (r.part.is_none() || r.verdict != check::Verdict::Unknown))
        .count();
    if markdown {
        print_out(&check::markdown(&rows))?;
    } else if !json {
        print_out(&check::report(&rows))?;
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn merge_cmd(files: &[PathBuf], json: bool, markdown: bool) -> Result<ExitCode> {
    let (rows, summaries) = check::merge(files)?;
    for s in &summaries {
        let split = s
            .split_depth
            .map_or("not split (too narrow)".into(), |d| format!("split at depth {d}"));
        eprintln!(
            "{} {}: {} parts, {split}; {} distinct states, {} explored by the parts ({:.2}x)",
            s.model,
            s.config,
            s.parts,
            s.unique,
            s.explored,
            s.explored as f64 / s.unique.max(1) as f64
        );
    }
    if json {
        for r in &rows {
            print_out(&format!("{}\n", serde_json::to_string(r)?))?;
        }
    } else if markdown {
        print_out(&check::markdown(&rows))?;
    } else {
        print_out(&check::report(&rows))?;
    }
    let failed = rows.iter().filter(|r| !r.as_expected()).count();
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn models_cmd(json: bool) -> Result<()> {
    for m in MODELS {
        let view = check::ModelView::of(m);
        if json {
            print_out(&format!("{}\n", serde_json::to_string(&view)?))?;
        } else {
            print_out(&view.to_string())?;
        }
    }
    Ok(())
}

/// Writes to stdout; a closed pipe (`twosafe models | head`) ends the output quietly
/// instead of panicking.
fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => Ok(r?),
    }
}
