//! A lossy network on which a message is in flight at most once: the environment in which a
//! client that resends for ever (`resends = forever`) can be model-checked at all.
//!
//! stateright's unordered network is a multiset: every resend of a request still in flight adds
//! a copy, so a client that keeps resending makes the state space infinite. Here a copy sent
//! while an identical message (same sender, receiver and content) is still in flight is merged
//! into it, as if the network lost the copy — which a lossy network may do. On an ordered
//! network the later copy in the same link's queue is the one merged away. So every behaviour
//! explored is a behaviour of the lossy network; what is left out are the behaviours in which
//! two identical copies are both delivered (a reliable network's duplicates are explored
//! without `forever`). It is the set-of-messages network of many TLA+ specifications
//! (Lamport's Paxos, "Specifying Systems" §14), less the re-delivery.
//!
//! With the state space finite, liveness under weak fairness ([`crate::fairness`]) can be
//! judged on lossy networks: losses are faults, so a fair behaviour loses finitely many
//! messages, and a client that resends for ever gets a copy through.

use crate::fairness::{ActionClass, Fairness};
use crate::trace::Checkable;
use stateright::actor::{Actor, ActorModel, ActorModelState, Network};
use stateright::{Model, Path, Property};
use std::fmt::Debug;
use std::hash::Hash;

/// `model` (an actor model on a lossy network) with copies of a message in flight merged.
pub struct InFlightOnce<A, C, H>
where
    A: Actor,
    A::Msg: Ord,
    A::Timer: Ord,
    H: Clone + Debug + Hash,
{
    model: ActorModel<A, C, H>,
    /// The model's properties, read once (stateright's `properties` clones them per call).
    props: Vec<Property<ActorModel<A, C, H>>>,
}

impl<A, C, H> InFlightOnce<A, C, H>
where
    A: Actor,
    A::Msg: Ord,
    A::Timer: Ord,
    H: Clone + Debug + Hash,
{
    /// Wraps `model`, which has at most [`MAX_PROPERTIES`] properties (a model with more is a
    /// programming error: raise the bound and add trampolines).
    pub fn new(model: ActorModel<A, C, H>) -> Self {
        let props = model.properties();
        assert!(props.len() <= MAX_PROPERTIES, "{} properties: raise MAX_PROPERTIES", props.len());
        InFlightOnce { model, props }
    }

    /// The model wrapped.
    pub fn inner(&self) -> &ActorModel<A, C, H> {
        &self.model
    }
}

/// Merges the copies of each message in flight into one.
pub fn merge_copies<A: Actor, H>(state: &mut ActorModelState<A, H>)
where
    A::Msg: Ord,
{
    match &mut state.network {
        Network::UnorderedNonDuplicating(multiset) => {
            for copies in multiset.values_mut() {
                *copies = 1;
            }
        }
        Network::Ordered(links) => {
            for queue in links.values_mut() {
                let mut kept: std::collections::VecDeque<A::Msg> =
                    std::collections::VecDeque::with_capacity(queue.len());
                for m in queue.drain(..) {
                    if !kept.contains(&m) {
                        kept.push_back(m);
                    }
                }
                *queue = kept;
            }
        }
        Network::UnorderedDuplicating(..) => {}
    }
}

impl<A, C, H> Clone for InFlightOnce<A, C, H>
where
    A: Actor,
    A::Msg: Ord,
    A::Timer: Ord,
    H: Clone + Debug + Hash,
    ActorModel<A, C, H>: Clone,
{
    fn clone(&self) -> Self {
        InFlightOnce::new(self.model.clone())
    }
}

/// How many properties a wrapped model may have (one trampoline each).
pub const MAX_PROPERTIES: usize = 12;

/// Property `I` of the wrapped model, judged on the wrapped model.
fn nth<A, C, H, const I: usize>(w: &InFlightOnce<A, C, H>, s: &ActorModelState<A, H>) -> bool
where
    A: Actor,
    A::Msg: Ord,
    A::Timer: Ord,
    H: Clone + Debug + Hash,
{
    (w.props[I].condition)(&w.model, s)
}

impl<A, C, H> Model for InFlightOnce<A, C, H>
where
    A: Actor,
    A::Msg: Ord,
    A::Timer: Ord,
    H: Clone + Debug + Hash,
{
    type State = ActorModelState<A, H>;
    type Action = <ActorModel<A, C, H> as Model>::Action;

    fn init_states(&self) -> Vec<Self::State> {
        let mut inits = self.model.init_states();
        inits.iter_mut().for_each(merge_copies);
        inits
    }

    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>) {
        self.model.actions(state, actions)
    }

    fn next_state(&self, last: &Self::State, action: Self::Action) -> Option<Self::State> {
        let mut next = self.model.next_state(last, action)?;
        merge_copies(&mut next);
        Some(next)
    }

    fn format_action(&self, action: &Self::Action) -> String {
        self.model.format_action(action)
    }

    fn format_step(&self, last: &Self::State, action: Self::Action) -> Option<String>
    where
        Self::State: Debug,
    {
        self.model.format_step(last, action)
    }

    fn as_svg(&self, path: Path<Self::State, Self::Action>) -> Option<String> {
        self.model.as_svg(path)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let at: [fn(&Self, &Self::State) -> bool; MAX_PROPERTIES] = [
            nth::<A, C, H, 0>,
            nth::<A, C, H, 1>,
            nth::<A, C, H, 2>,
            nth::<A, C, H, 3>,
            nth::<A, C, H, 4>,
            nth::<A, C, H, 5>,
            nth::<A, C, H, 6>,
            nth::<A, C, H, 7>,
            nth::<A, C, H, 8>,
            nth::<A, C, H, 9>,
            nth::<A, C, H, 10>,
            nth::<A, C, H, 11>,
        ];
        self.props
            .iter()
            .zip(at)
            .map(|(p, condition)| Property {
                expectation: p.expectation.clone(),
                name: p.name,
                condition,
            })
            .collect()
    }

    fn within_boundary(&self, state: &Self::State) -> bool {
        Model::within_boundary(&self.model, state)
    }
}

impl<A, C, H> Fairness for InFlightOnce<A, C, H>
where
    A: Actor,
    A::Msg: Hash + Ord,
    A::Timer: Hash + Ord,
    A::Random: Hash,
    H: Clone + Debug + Hash,
{
    fn action_class(&self, action: &Self::Action) -> ActionClass {
        self.model.action_class(action)
    }
}

impl<A, C, H> Checkable for InFlightOnce<A, C, H>
where
    ActorModel<A, C, H>: Checkable<State = ActorModelState<A, H>>,
    A: Actor,
    A::Msg: Hash + Ord,
    A::Timer: Hash + Ord,
    A::Random: Hash,
    H: Clone + Debug + Hash,
    Self: Clone + Send + Sync + 'static,
    ActorModelState<A, H>: Debug + Hash + Send + Sync + Clone + PartialEq + 'static,
    <Self as Model>::Action: Debug + Clone + PartialEq + Send + Sync + 'static,
{
    fn step(&self, action: &Self::Action) -> String {
        self.model.step(action)
    }

    fn view(&self, state: &Self::State) -> Vec<crate::trace::PartView> {
        self.model.view(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::actor::{Envelope, Id, LossyNetwork, Out};
    use stateright::{Checker, Expectation};

    /// A client that sends `Ping` to a server and resends it on every timer, for ever; the
    /// server answers each `Ping` with `Pong`.
    #[derive(Clone)]
    enum Pinger {
        Client,
        Server,
    }

    #[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
    enum Msg {
        Ping,
        Pong,
    }

    impl crate::trace::Fields for bool {
        fn fields(&self) -> Vec<crate::trace::Field> {
            crate::fields!["answered" => self.to_string()]
        }
    }

    impl Actor for Pinger {
        type Msg = Msg;
        type State = bool;
        type Timer = ();
        type Random = ();
        type Storage = ();

        fn on_start(&self, _: Id, _: &Option<()>, o: &mut Out<Self>) -> bool {
            if let Pinger::Client = self {
                o.send(Id::from(1), Msg::Ping);
                o.set_timer((), std::time::Duration::ZERO..std::time::Duration::ZERO);
            }
            false
        }

        fn on_msg(
            &self, _: Id, state: &mut std::borrow::Cow<bool>, src: Id, msg: Msg, o: &mut Out<Self>,
        ) {
            match msg {
                Msg::Ping => o.send(src, Msg::Pong),
                Msg::Pong => *state.to_mut() = true,
            }
        }

        fn on_timeout(&self, _: Id, state: &mut std::borrow::Cow<bool>, _: &(), o: &mut Out<Self>) {
            if !**state {
                o.send(Id::from(1), Msg::Ping);
                o.set_timer((), std::time::Duration::ZERO..std::time::Duration::ZERO);
            }
        }
    }

    fn pinger(lossy: bool) -> ActorModel<Pinger, (), ()> {
        ActorModel::new((), ())
            .actor(Pinger::Client)
            .actor(Pinger::Server)
            .init_network(Network::new_unordered_nonduplicating([]))
            .lossy_network(if lossy { LossyNetwork::Yes } else { LossyNetwork::No })
            .property(Expectation::Eventually, "ponged", |_, s: &ActorModelState<Pinger>| {
                *s.actor_states[0]
            })
    }

    #[test]
    fn copies_in_flight_are_merged_so_a_client_resending_for_ever_has_finitely_many_states() {
        let model = InFlightOnce::new(pinger(true));
        let checker = model.checker().target_state_count(10_000).spawn_bfs().join();
        // Unmerged, every resend adds a copy and the count would reach the target.
        assert!(checker.unique_state_count() < 100, "{}", checker.unique_state_count());
        let unmerged = pinger(true).checker().target_state_count(10_000).spawn_bfs().join();
        assert!(unmerged.unique_state_count() >= 1_000, "{}", unmerged.unique_state_count());
    }

    #[test]
    fn a_client_resending_for_ever_on_a_lossy_network_is_answered_under_fairness() {
        let report =
            crate::fairness::check(&InFlightOnce::new(pinger(true)), 10_000, &Default::default());
        assert!(report.complete);
        assert!(report.verdicts[0].1.is_none());
    }

    #[test]
    fn the_first_copy_on_an_ordered_link_is_kept_and_the_later_merged() {
        let (a, b) = (Id::from(0), Id::from(1));
        let sent = [Msg::Ping, Msg::Pong, Msg::Ping].map(|msg| Envelope { src: a, dst: b, msg });
        let mut state: ActorModelState<Pinger> = ActorModelState {
            actor_states: vec![],
            network: Network::new_ordered(sent),
            timers_set: vec![],
            random_choices: vec![],
            crashed: vec![],
            history: (),
            actor_storages: vec![],
        };
        merge_copies(&mut state);
        let Network::Ordered(links) = &state.network else { unreachable!("built ordered") };
        let left: Vec<&Msg> = links.values().flatten().collect();
        assert_eq!(left, vec![&Msg::Ping, &Msg::Pong]);
    }
}
