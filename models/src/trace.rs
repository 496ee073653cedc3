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
    > + Send
    + Sync
    + 'static
{
    /// The steps of `path`, one line each.
    fn narrate(&self, path: &Path<Self::State, Self::Action>) -> Vec<String>;
}

impl<A, C, H> Checkable for ActorModel<A, C, H>
where
    A: Actor + Send + Sync + 'static,
    A::Msg: Ord + Send + Sync + 'static,
    A::Timer: Ord + Send + Sync + 'static,
    A::State: Eq + Send + Sync + 'static,
    A::Storage: Send + Sync + 'static,
    A::Random: Send + Sync + 'static,
    C: Send + Sync + 'static,
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
                ActorModelAction::Timeout(id, timer) => format!("{}: timer {timer:?} fires", who(id)),
                ActorModelAction::Crash(id) => format!("{} CRASHES", who(id)),
                ActorModelAction::Recover(id) => format!("{} restarts from its durable state", who(id)),
                ActorModelAction::SelectRandom { actor, random, .. } => {
                    format!("{} chooses {random:?}", who(actor))
                }
            })
            .collect()
    }
}
