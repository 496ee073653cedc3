//! What the command line and the tests need of any model: the checker's bounds on its types,
//! and a counterexample told as a readable message sequence (who sent what to whom, losses,
//! timeouts, crashes and restarts).

use stateright::actor::{Actor, ActorModel, ActorModelAction};
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
    /// The steps of `path`, one line each.
    fn narrate(&self, path: &Path<Self::State, Self::Action>) -> Vec<String>;
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
    A::State: Eq + Send + Sync + 'static,
    A::Storage: Send + Sync + 'static,
    A::Random: Send + Sync + 'static,
    C: Clone + Send + Sync + 'static,
    H: Clone + Debug + Hash + Eq + Send + Sync + 'static,
{
    fn narrate(&self, path: &Path<Self::State, Self::Action>) -> Vec<String> {
        let who = |id: stateright::actor::Id| {
            let i = usize::from(id);
            let name = self.actors.get(i).map(Actor::name).unwrap_or_default();
            format!("{name} {i}")
        };
        path.clone()
            .into_vec()
            .into_iter()
            .filter_map(|(_, action)| action)
            .map(|action| match action {
                ActorModelAction::Deliver { src, dst, msg } => {
                    format!("{} -> {}: {msg:?}", who(src), who(dst))
                }
                ActorModelAction::Drop(env) => {
                    format!("LOST {} -> {}: {:?}", who(env.src), who(env.dst), env.msg)
                }
                ActorModelAction::Timeout(id, timer) => {
                    format!("{}: timer {timer:?} fires", who(id))
                }
                ActorModelAction::Crash(id) => format!("{} CRASHES", who(id)),
                ActorModelAction::Recover(id) => {
                    format!("{} restarts from its durable state", who(id))
                }
                ActorModelAction::SelectRandom { actor, random, .. } => {
                    format!("{} chooses {random:?}", who(actor))
                }
            })
            .collect()
    }
}
