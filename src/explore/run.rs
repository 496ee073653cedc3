//! A recorded run of real nodes beside the model, for `twosafe explore --trace`: the steps the
//! nodes recorded (`twosafe node --trace`, or a `twosafe chaos` run's directory), merged in
//! the order of their wall clocks and drawn as the same message sequence chart as a model's
//! path, each step marked as the model takes it or not (`twosafe conform`'s verdict, step by
//! step), and the model's state of the node after any step, replayed through the model's own
//! actor.

use crate::runtime::binding::{Binding, NodeOf};
use crate::runtime::config::ClusterConfig;
use crate::runtime::conform::{self, read_trace, Departure, Replayer, TraceCommand, TraceEvent};
use serde::Serialize;
use std::path::{Path, PathBuf};
use twosafe_models::services::Service;
use twosafe_models::stateright::actor::Actor;
use twosafe_models::trace::{ChartStep, Fields, PartView};

/// What `--trace` names: a chaos run's directory (its `cluster.toml` and `trace-*.jsonl`), or
/// trace files (with the cluster file beside them, or given).
pub fn sources(
    paths: &[PathBuf], config: Option<&Path>,
) -> Result<(PathBuf, Vec<PathBuf>), String> {
    let mut traces = Vec::new();
    let mut found_config = None;
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let mut here: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("trace-") && n.ends_with(".jsonl"))
                })
                .collect();
            if here.is_empty() {
                return Err(format!(
                    "{}: no trace-*.jsonl in this directory (a `twosafe chaos` run's \
                     directory, or trace files written by `twosafe node --trace`)",
                    p.display()
                ));
            }
            here.sort();
            traces.extend(here);
            found_config.get_or_insert(p.join("cluster.toml"));
        } else if p.is_file() {
            traces.push(p.clone());
            let beside = p.parent().unwrap_or(Path::new(".")).join("cluster.toml");
            found_config.get_or_insert(beside);
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    let config = match config {
        Some(c) => c.to_owned(),
        None => match found_config {
            Some(c) if c.is_file() => c,
            _ => {
                return Err("no cluster.toml beside the traces: name the cluster file the nodes \
                            ran with (--config)"
                    .into())
            }
        },
    };
    Ok((config, traces))
}

/// The verdict on one recorded step.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The model takes it: the same commands for the same event.
    Conforms,
    /// The model would not take it (the first departure of the node's trace).
    Departs {
        /// How.
        why: String,
    },
    /// After the node's trace departed: not judged.
    Unchecked,
}

/// One recorded step as the page lists it.
#[derive(Clone, Debug, Serialize)]
pub struct RunStep {
    /// The node that took it.
    pub node: usize,
    /// Its line in the node's trace.
    pub line: usize,
    /// Its wall clock, µs since the Unix epoch (0: not recorded).
    pub at_us: u64,
    /// The event, in the protocol's words.
    pub event: String,
    /// What the node did, one command a line.
    pub commands: Vec<String>,
    /// Whether the model takes it.
    pub verdict: Verdict,
    /// Its rows of the chart: the event, then each message sent to a lane that recorded no
    /// trace (a client).
    pub chart: Vec<ChartStep>,
}

/// One node's trace.
#[derive(Clone, Debug, Serialize)]
pub struct NodeTrace {
    /// The node.
    pub node: usize,
    /// The trace file.
    pub file: String,
    /// Its steps.
    pub steps: usize,
    /// `None` when every step conforms; otherwise the first departure, as `conform` says it.
    pub departure: Option<String>,
}

/// A recorded run, as the page shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RunView {
    /// The cluster file.
    pub config: String,
    /// The protocol and the service.
    pub protocol: String,
    /// The replicated service.
    pub service: String,
    /// Each node's trace.
    pub nodes: Vec<NodeTrace>,
    /// The chart's lanes: the servers, then every client seen.
    pub lanes: Vec<String>,
    /// Every step, in wall-clock order.
    pub steps: Vec<RunStep>,
}

/// The model's state of a node after a step (and before it, for the diff).
#[derive(Debug, Serialize)]
pub struct RunState {
    /// The step.
    pub step: usize,
    /// The node's state after it, as its role tables it.
    pub after: Option<PartView>,
    /// Before it.
    pub before: Option<PartView>,
}

/// A loaded run: its view, and the model's state after any of its steps.
pub struct Run {
    /// The view.
    pub view: RunView,
    states: Box<dyn Fn(usize) -> Result<RunState, String> + Send + Sync>,
}

impl Run {
    /// Loads the traces of `paths` (see [`sources`]).
    pub fn load(paths: &[PathBuf], config: Option<&Path>) -> Result<Run, String> {
        let (config, traces) = sources(paths, config)?;
        let cfg = ClusterConfig::load(&config).map_err(|e| e.to_string())?;
        crate::with_hosted!(cfg.protocol, cfg.service, P, S => load::<P, S>(&cfg, &config, &traces))
    }

    /// The model's state of the node of step `step` after it.
    pub fn state(&self, step: usize) -> Result<RunState, String> {
        (self.states)(step)
    }
}

/// Beyond this many clients, the chart draws them on one lane.
const MAX_CLIENT_LANES: usize = 4;

/// A node's recorded steps, each with its line.
type Numbered<P, S> = conform::Numbered<
    <NodeOf<P, S> as Actor>::Msg,
    <NodeOf<P, S> as Actor>::Timer,
    <NodeOf<P, S> as Actor>::Storage,
>;

fn load<P: Binding, S: Service>(
    cfg: &ClusterConfig, config: &Path, traces: &[PathBuf],
) -> Result<Run, String> {
    let cfg = cfg.clone();
    // Each node's recorded steps; a trace names its node in its first step.
    let mut recorded: Vec<(usize, PathBuf, Numbered<P, S>)> = Vec::new();
    for t in traces {
        let steps = read_trace(t).map_err(|e| e.to_string())?;
        let node = steps
            .iter()
            .find_map(|(_, s)| match &s.event {
                TraceEvent::Start { id, .. } => Some(*id),
                _ => None,
            })
            .ok_or_else(|| format!("{}: the trace records no start of a node", t.display()))?;
        if node >= cfg.servers() {
            return Err(format!(
                "{}: node {node} is not in {} ({} nodes)",
                t.display(),
                config.display(),
                cfg.servers()
            ));
        }
        recorded.push((node, t.clone(), steps));
    }
    let traced: Vec<usize> = recorded.iter().map(|(n, _, _)| *n).collect();
    // Lanes: the servers, then each other id seen, in order.
    let mut ids: Vec<usize> = (0..cfg.servers()).collect();
    for (_, _, steps) in &recorded {
        for (_, s) in steps {
            if let TraceEvent::Msg { src, .. } = &s.event {
                ids.push(*src);
            }
            for c in &s.commands {
                if let TraceCommand::Send(dst, _) = c {
                    ids.push(*dst);
                }
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let name = |id: usize| {
        if id < cfg.servers() {
            format!("{} {id}", P::server::<S>(&cfg, id).name())
        } else {
            format!("client {id}")
        }
    };
    // A lane per client while they are few; a load's many sessions share one lane, and each
    // message drawn on it names its client.
    let clients = ids.len() - cfg.servers();
    let shared = clients > MAX_CLIENT_LANES;
    let lane = |id: usize| {
        if shared && id >= cfg.servers() {
            cfg.servers()
        } else {
            ids.iter().position(|i| *i == id).unwrap_or(0)
        }
    };
    let tag = |id: usize| {
        if shared && id >= cfg.servers() {
            format!("c{id} ")
        } else {
            String::new()
        }
    };
    let mut lanes: Vec<String> = ids.iter().map(|i| name(*i)).collect();
    if shared {
        lanes.truncate(cfg.servers());
        lanes.push(format!("{clients} clients"));
    }
    let mut nodes = Vec::new();
    let mut steps = Vec::new();
    for (node, file, trace) in &recorded {
        let mut replayer = Replayer::new(|id| P::server::<S>(&cfg, id));
        let mut departure = None;
        for (line, step) in trace {
            let verdict = if departure.is_some() {
                Verdict::Unchecked
            } else {
                match replayer.step(step.clone()) {
                    Ok(()) => Verdict::Conforms,
                    Err(d) => {
                        let why = match d {
                            Departure::NoStart => "a step before the node's start".to_string(),
                            Departure::Diverged { got, want, .. } => {
                                format!("the node did {got} but the model does {want}")
                            }
                        };
                        departure = Some(format!("{}:{line}: {why}", file.display()));
                        Verdict::Departs { why }
                    }
                }
            };
            let me = name(*node);
            let (event, first) = match &step.event {
                TraceEvent::Start { storage, .. } => {
                    let from = storage
                        .as_ref()
                        .map_or("fresh".to_string(), |s| format!("from {}", P::describe::<S>(s)));
                    (
                        format!("{me} starts ({from})"),
                        ChartStep {
                            kind: "restart",
                            from: None,
                            to: lane(*node),
                            label: "start".into(),
                        },
                    )
                }
                TraceEvent::Msg { src, msg } => (
                    format!("{} -> {me}: {msg:?}", name(*src)),
                    ChartStep {
                        kind: "deliver",
                        from: Some(lane(*src)),
                        to: lane(*node),
                        label: format!("{}{msg:?}", tag(*src)),
                    },
                ),
                TraceEvent::Timer { timer } => (
                    format!("{me}: timer {timer:?} fires"),
                    ChartStep {
                        kind: "timer",
                        from: None,
                        to: lane(*node),
                        label: format!("{timer:?}"),
                    },
                ),
            };
            let mut chart = vec![first];
            let commands = step
                .commands
                .iter()
                .map(|c| match c {
                    TraceCommand::Save(h) => format!("save (hash {h:016x})"),
                    TraceCommand::Send(dst, m) => {
                        if !traced.contains(dst) {
                            chart.push(ChartStep {
                                kind: "send",
                                from: Some(lane(*node)),
                                to: lane(*dst),
                                label: format!("{}{m:?}", tag(*dst)),
                            });
                        }
                        format!("-> {}: {m:?}", name(*dst))
                    }
                    TraceCommand::SetTimer(t) => format!("set timer {t:?}"),
                    TraceCommand::CancelTimer(t) => format!("cancel timer {t:?}"),
                })
                .collect();
            steps.push(RunStep {
                node: *node,
                line: *line,
                at_us: step.at_us,
                event,
                commands,
                verdict,
                chart,
            });
        }
        nodes.push(NodeTrace {
            node: *node,
            file: file.display().to_string(),
            steps: trace.len(),
            departure,
        });
    }
    // One order for all: the wall clock (the nodes ran on one machine or synchronised ones),
    // then the node, then the line.
    steps.sort_by_key(|s| (s.at_us, s.node, s.line));
    let view = RunView {
        config: config.display().to_string(),
        protocol: P::NAME.to_string(),
        service: S::NAME.to_string(),
        nodes,
        lanes,
        steps,
    };
    // The state after step k: the node's trace replayed up to that line.
    let order: Vec<(usize, usize)> = view.steps.iter().map(|s| (s.node, s.line)).collect();
    // Each node's departing line, if any: its steps were judged above.
    let departures: std::collections::BTreeMap<usize, usize> = view
        .steps
        .iter()
        .filter(|s| matches!(s.verdict, Verdict::Departs { .. }))
        .map(|s| (s.node, s.line))
        .collect();
    // Behind a lock: the messages' types need not be shareable between the server's threads.
    let recorded = std::sync::Mutex::new(recorded);
    let states = move |k: usize| -> Result<RunState, String> {
        let &(node, line) =
            order.get(k).ok_or(format!("no step {k} (the run has {})", order.len()))?;
        let recorded = recorded.lock().map_err(|_| "a request panicked".to_string())?;
        let (_, _, trace) = recorded
            .iter()
            .find(|(n, _, _)| *n == node)
            .ok_or(format!("no trace of node {node}"))?;
        let mut replayer = Replayer::new(|id| P::server::<S>(&cfg, id));
        let mut before = None;
        let part = |r: &Replayer<NodeOf<P, S>, _>| {
            r.state().map(|(a, s)| PartView {
                title: format!("{} {node}", a.name()),
                notes: vec![format!("the model's state of node {node} (replayed from its trace)")],
                fields: s.fields(),
                body: String::new(),
            })
        };
        let departs = departures.get(&node).copied();
        for (l, step) in trace {
            if *l == line {
                before = part(&replayer);
            }
            if Some(*l) == departs {
                // The model's state ends where the node's trace departs from it (on the
                // departing step itself, the state before it is shown).
                break;
            }
            replayer.advance(step.event.clone());
            if *l == line {
                return Ok(RunState { step: k, after: part(&replayer), before });
            }
        }
        Ok(RunState { step: k, after: None, before })
    };
    Ok(Run { view, states: Box::new(states) })
}
