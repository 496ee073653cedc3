//! What the command line, the explorer and the tests need of any model: the checker's bounds
//! on its types, a counterexample told as a readable message sequence (who sent what to whom,
//! losses, timeouts, crashes and restarts), and a state shown part by part.

use serde::Serialize;
use stateright::actor::{Actor, ActorModel, ActorModelAction, ActorModelState, Network};
use stateright::{Model, Path};
use std::fmt::Debug;
use std::hash::Hash;

/// A model the workbench can check, explore and narrate.
pub trait Checkable:
    Model<
        State: Debug + Hash + Send + Sync + Clone + PartialEq + 'static,
        Action: Debug + Clone + PartialEq + Send + Sync + 'static,
    > + crate::fairness::Fairness
    + Clone
    + Send
    + Sync
    + 'static
{
    /// One step, in a line.
    fn step(&self, action: &Self::Action) -> String;

    /// The steps of `path`, one line each.
    fn narrate(&self, path: &Path<Self::State, Self::Action>) -> Vec<String> {
        path.clone().into_actions().iter().map(|a| self.step(a)).collect()
    }

    /// The lanes of the message sequence chart: one per actor (none for a model without
    /// actors, which has no chart).
    fn lanes(&self) -> Vec<String> {
        Vec::new()
    }

    /// One step as a row of the message sequence chart (`None` without a chart).
    fn chart(&self, _action: &Self::Action) -> Option<ChartStep> {
        None
    }

    /// A state as the explorer shows it, part by part (by default: one part, all of it).
    fn view(&self, state: &Self::State) -> Vec<PartView> {
        vec![PartView {
            title: "state".into(),
            notes: Vec::new(),
            fields: Vec::new(),
            body: format!("{state:#?}"),
        }]
    }
}

/// One part of a state as the explorer shows it: an actor, the network, the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartView {
    /// What it is ("server 0", "network").
    pub title: String,
    /// Short facts shown beside the title (crashed, the timers set, messages in flight).
    pub notes: Vec<String>,
    /// An actor's state as its role tables it ([`Fields`]); empty for the other parts.
    pub fields: Vec<Field>,
    /// The rest, one item a line (an actor's durable state; the messages in flight).
    pub body: String,
}

/// One step as a row of the explorer's message sequence chart: a message delivered (an arrow
/// from its sender's lane to its receiver's), lost, a timer, a crash or a restart (a mark on
/// the actor's lane). The runtime's recorded steps are drawn the same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChartStep {
    /// deliver, lost, send (a message whose delivery is not recorded), timer, crash, restart
    /// or choose.
    pub kind: &'static str,
    /// The sender's lane (deliver, lost, send).
    pub from: Option<usize>,
    /// The lane the step happens on (the receiver's, for a message).
    pub to: usize,
    /// The message, the timer or the choice.
    pub label: String,
}

/// One row of a role's state in the explorer's table: a field in the protocol's words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Its name (role, epoch, log, message table, ...).
    pub name: String,
    /// Its value, on one line (a long sequence is cut in the middle, see [`listed`]).
    pub value: String,
}

/// How a role's state is shown in the explorer: its fields as rows of a table, each value on
/// one line, instead of the state's whole `Debug` dump. Each protocol implements it beside
/// the role (with [`fields!`](crate::fields)); [`protocol_node!`](crate::protocol_node) makes
/// the actor's state dispatch to its role's.
pub trait Fields {
    /// The rows.
    fn fields(&self) -> Vec<Field>;
}

/// `fields!["role" => format!(..), ...]`: the rows of a [`Fields`] table.
#[macro_export]
macro_rules! fields {
    ($($name:literal => $value:expr),* $(,)?) => {
        vec![$($crate::trace::Field { name: $name.into(), value: $value }),*]
    };
}

/// A value on one line (its compact `Debug`).
pub fn one_line<T: Debug>(value: &T) -> String {
    format!("{value:?}")
}

/// A sequence on one line: every item when there are at most eight, otherwise its length, the
/// first two and the last four (a log's tail is where a protocol works).
/// Formats only what it shows, so a long log costs no more than a short one.
pub fn listed<T: Debug, I>(items: I) -> String
where
    I: IntoIterator<Item = T>,
    I::IntoIter: ExactSizeIterator + DoubleEndedIterator,
{
    let mut items = items.into_iter();
    let n = items.len();
    let show =
        |it: &mut dyn Iterator<Item = T>| -> Vec<String> { it.map(|i| format!("{i:?}")).collect() };
    if n <= 8 {
        return format!("[{}]", show(&mut items).join(", "));
    }
    let first = show(&mut items.by_ref().take(2));
    let mut last = show(&mut items.rev().take(4));
    last.reverse();
    format!("{n} items: [{}, … {} more …, {}]", first.join(", "), n - 6, last.join(", "))
}

/// A shortest counterexample to property `name`, no longer than `known` (one found already):
/// breadth-first search bounded at depth 1, 2, ... until a discovery appears, single-threaded,
/// so the same model always yields the same path. Cheap for seeded bugs, whose
/// counterexamples are short; `None` if none is found within `known.len()` steps.
pub fn shortest_counterexample<M: Checkable>(
    model: &M, name: &'static str, known: usize,
) -> Option<Path<M::State, M::Action>> {
    use stateright::{Checker, HasDiscoveries};
    // stateright counts the initial state as depth 1 and skips states at the target depth.
    for target in 2..=known + 2 {
        let checker = model
            .clone()
            .checker()
            .threads(1)
            .target_max_depth(target)
            .finish_when(HasDiscoveries::AnyOf([name].into_iter().collect()))
            .spawn_bfs()
            .join();
        if let Some(path) = checker.discovery(name) {
            return Some(shortest_prefix(model, name, path));
        }
    }
    None
}

/// The counterexample `check` prints for property `name`, from a discovery `found`: cut at
/// its first violating state ([`shortest_prefix`]), then replaced by a shortest one if a
/// shorter exists ([`shortest_counterexample`]).
pub fn shortest_of<M: Checkable>(
    model: &M, name: &'static str, found: Path<M::State, M::Action>,
) -> Path<M::State, M::Action> {
    let found = shortest_prefix(model, name, found);
    shortest_counterexample(model, name, found.clone().into_actions().len()).unwrap_or(found)
}

/// The counterexample `path` for property `name`, cut at its first state that violates it.
///
/// stateright 0.31 keeps re-recording an `always` property's discovery until the checker
/// stops, so the path it returns may run past the violation; cutting it restores a short,
/// deterministic counterexample. Other expectations are returned whole.
pub fn shortest_prefix<M: Model>(
    model: &M, name: &str, path: Path<M::State, M::Action>,
) -> Path<M::State, M::Action>
where
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
{
    let Some(p) = model.properties().into_iter().find(|p| p.name == name) else {
        return path;
    };
    if p.expectation != stateright::Expectation::Always {
        return path;
    }
    let steps = path.clone().into_vec();
    let Some(cut) = steps.iter().position(|(s, _)| !(p.condition)(model, s)) else {
        return path;
    };
    let init = steps[0].0.clone();
    let actions: Vec<M::Action> = steps[..cut].iter().filter_map(|(_, a)| a.clone()).collect();
    Path::from_actions(model, init, actions.iter()).unwrap_or(path)
}

impl<A, C, H> Checkable for ActorModel<A, C, H>
where
    A: Actor + Clone + Send + Sync + 'static,
    A::Msg: Ord + Send + Sync + 'static,
    A::Timer: Ord + Send + Sync + 'static,
    A::State: Eq + Fields + Send + Sync + 'static,
    A::Storage: Send + Sync + 'static,
    A::Random: Send + Sync + 'static,
    C: Clone + Send + Sync + 'static,
    H: Clone + Debug + Hash + Eq + Send + Sync + 'static,
{
    fn step(&self, action: &Self::Action) -> String {
        let who = |id| who(&self.actors, id);
        match action {
            ActorModelAction::Deliver { src, dst, msg } => {
                format!("{} -> {}: {msg:?}", who(*src), who(*dst))
            }
            ActorModelAction::Drop(env) => {
                format!("LOST {} -> {}: {:?}", who(env.src), who(env.dst), env.msg)
            }
            ActorModelAction::Timeout(id, timer) => format!("{}: timer {timer:?} fires", who(*id)),
            ActorModelAction::Crash(id) => format!("{} CRASHES", who(*id)),
            ActorModelAction::Recover(id) => {
                format!("{} restarts from its durable state", who(*id))
            }
            ActorModelAction::SelectRandom { actor, random, .. } => {
                format!("{} chooses {random:?}", who(*actor))
            }
        }
    }

    fn lanes(&self) -> Vec<String> {
        (0..self.actors.len()).map(|i| who(&self.actors, i.into())).collect()
    }

    fn chart(&self, action: &Self::Action) -> Option<ChartStep> {
        let (kind, from, to, label) = match action {
            ActorModelAction::Deliver { src, dst, msg } => {
                ("deliver", Some(*src), *dst, format!("{msg:?}"))
            }
            ActorModelAction::Drop(env) => {
                ("lost", Some(env.src), env.dst, format!("{:?}", env.msg))
            }
            ActorModelAction::Timeout(id, timer) => ("timer", None, *id, format!("{timer:?}")),
            ActorModelAction::Crash(id) => ("crash", None, *id, "crash".into()),
            ActorModelAction::Recover(id) => ("restart", None, *id, "restart".into()),
            ActorModelAction::SelectRandom { actor, random, .. } => {
                ("choose", None, *actor, format!("{random:?}"))
            }
        };
        Some(ChartStep { kind, from: from.map(usize::from), to: usize::from(to), label })
    }

    fn view(&self, s: &ActorModelState<A, H>) -> Vec<PartView> {
        let mut parts: Vec<PartView> = s
            .actor_states
            .iter()
            .enumerate()
            .map(|(i, state)| {
                let mut notes = Vec::new();
                if s.crashed.get(i).copied().unwrap_or(false) {
                    notes.push("crashed".to_string());
                }
                let mut timers: Vec<String> = s
                    .timers_set
                    .get(i)
                    .map(|t| t.iter().map(|t| format!("{t:?}")).collect())
                    .unwrap_or_default();
                timers.sort();
                if !timers.is_empty() {
                    notes.push(format!("timers set: {}", timers.join(", ")));
                }
                let body = match s.actor_storages.get(i) {
                    Some(Some(storage)) => format!("durable: {storage:#?}"),
                    _ => String::new(),
                };
                PartView { title: who(&self.actors, i.into()), notes, fields: state.fields(), body }
            })
            .collect();
        let mut flight: Vec<String> = match &s.network {
            Network::UnorderedNonDuplicating(multiset) => multiset
                .iter()
                .map(|(e, n)| {
                    let times = if *n > 1 { format!(" (x{n})") } else { String::new() };
                    format!(
                        "{} -> {}: {:?}{times}",
                        who(&self.actors, e.src),
                        who(&self.actors, e.dst),
                        e.msg
                    )
                })
                .collect(),
            Network::UnorderedDuplicating(set, _) => set
                .iter()
                .map(|e| {
                    format!(
                        "{} -> {}: {:?}",
                        who(&self.actors, e.src),
                        who(&self.actors, e.dst),
                        e.msg
                    )
                })
                .collect(),
            Network::Ordered(links) => links
                .iter()
                .flat_map(|((src, dst), queue)| {
                    queue.iter().enumerate().map(move |(k, m)| (*src, *dst, k, m))
                })
                .map(|(src, dst, k, m)| {
                    format!(
                        "{} -> {} #{}: {m:?}",
                        who(&self.actors, src),
                        who(&self.actors, dst),
                        k + 1
                    )
                })
                .collect(),
        };
        flight.sort();
        parts.push(PartView {
            title: "network".into(),
            notes: vec![format!("{} in flight", flight.len())],
            fields: Vec::new(),
            body: flight.join("\n"),
        });
        parts.push(PartView {
            title: "history".into(),
            notes: Vec::new(),
            fields: Vec::new(),
            body: format!("{:#?}", s.history),
        });
        parts
    }
}

/// An actor's name in narration: its role and index ("server 0").
fn who<A: Actor>(actors: &[A], id: stateright::actor::Id) -> String {
    let i = usize::from(id);
    let name = actors.get(i).map(Actor::name).unwrap_or_default();
    format!("{name} {i}")
}
