//! Helpers shared by the model-level tests: breadth-first reachability and the write-ahead
//! rule (every save of a step precedes its first send), for any protocol's actor model.

use stateright::actor::{Actor, ActorModel, ActorModelAction, ActorModelState, Command, Out};
use stateright::Model;
use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::fmt::Debug;
use std::hash::{Hash, Hasher};

/// The actor ids of a primary-backup model: the primary, the backup, the first client.
#[allow(dead_code)]
pub const PRIMARY: usize = 0;
#[allow(dead_code)]
pub const BACKUP: usize = 1;
#[allow(dead_code)]
pub const CLIENT: usize = 2;

fn digest<T: Hash>(s: &T) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Model `name`'s default parameters with `set` applied (test inputs: a bad one panics).
#[allow(dead_code)] // not every test crate uses every helper
pub fn params(name: &str, set: &[(&str, &str)]) -> twosafe_models::params::Params {
    let spec = twosafe_models::catalogue::model(name).unwrap();
    let mut p = spec.defaults();
    for (k, v) in set {
        p.set(spec.params, k, v).unwrap();
    }
    p
}

/// Asserts that every `Sometimes` property named in `names` is reachable in `model` (the
/// paths a test is about exist: its properties are not vacuous), searching until all are found.
#[allow(dead_code)]
pub fn assert_reachable<M>(model: M, names: &[&'static str])
where
    M: stateright::Model + Send + Sync + 'static,
    M::State: Hash + Debug + Clone + PartialEq + Send + Sync,
    M::Action: Debug + Clone + PartialEq + Send + Sync,
{
    use stateright::{Checker, HasDiscoveries};
    let checker = model
        .checker()
        .finish_when(HasDiscoveries::AllOf(names.iter().copied().collect()))
        .spawn_bfs()
        .join();
    for name in names {
        assert!(checker.discovery(name).is_some(), "{name} is not reachable");
    }
}

/// Every state reachable within `limit` states, breadth first.
#[allow(dead_code)]
pub fn reachable<A, C, H>(model: &ActorModel<A, C, H>, limit: usize) -> Vec<ActorModelState<A, H>>
where
    A: Actor + Clone,
    A::Msg: Ord,
    A::Timer: Ord,
    A::State: Eq,
    H: Clone + Debug + Hash + Eq,
{
    let mut seen = HashSet::new();
    let mut queue: VecDeque<_> = model.init_states().into();
    let mut out = Vec::new();
    while let Some(s) = queue.pop_front() {
        if out.len() >= limit {
            break;
        }
        if !seen.insert(digest(&s)) {
            continue;
        }
        for (_, next) in model.next_steps(&s) {
            if model.within_boundary(&next) {
                queue.push_back(next);
            }
        }
        out.push(s);
    }
    out
}

/// Replays every action enabled in the first `limit` reachable states and asserts that no
/// step sends before its last save. Returns how many steps were examined.
#[allow(dead_code)]
pub fn assert_saves_before_sends<A, C, H>(
    label: &str, model: &ActorModel<A, C, H>, limit: usize,
) -> usize
where
    A: Actor + Clone,
    A::Msg: Ord,
    A::Timer: Ord,
    A::State: Eq,
    H: Clone + Debug + Hash + Eq,
{
    let mut steps = 0;
    for s in reachable(model, limit) {
        let mut actions = Vec::new();
        model.actions(&s, &mut actions);
        for a in actions {
            let mut o = Out::<A>::new();
            match &a {
                ActorModelAction::Deliver { src, dst, msg } => {
                    let i = usize::from(*dst);
                    if s.crashed[i] {
                        continue;
                    }
                    let mut st = Cow::Borrowed(&*s.actor_states[i]);
                    model.actors[i].on_msg(*dst, &mut st, *src, msg.clone(), &mut o);
                }
                ActorModelAction::Timeout(id, t) => {
                    let i = usize::from(*id);
                    let mut st = Cow::Borrowed(&*s.actor_states[i]);
                    model.actors[i].on_timeout(*id, &mut st, t, &mut o);
                }
                ActorModelAction::Recover(id) => {
                    let i = usize::from(*id);
                    model.actors[i].on_start(*id, &s.actor_storages[i], &mut o);
                }
                _ => continue,
            }
            let first_send = o.iter().position(|c| matches!(c, Command::Send(..)));
            let last_save = o.iter().rposition(|c| matches!(c, Command::Save(..)));
            if let (Some(send), Some(save)) = (first_send, last_save) {
                assert!(save < send, "{label}: a send precedes a save in {a:?}: {o:?}");
            }
            steps += 1;
        }
    }
    steps
}

/// Runs one handler call with a fresh `Out` and returns its result with the commands it
/// emitted, in order (the role tests: a state and an event in, the exact commands out).
#[allow(dead_code, clippy::type_complexity)]
pub fn run<A: Actor, R>(
    f: impl FnOnce(&mut Out<A>) -> R,
) -> (R, Vec<Command<A::Msg, A::Timer, A::Random, A::Storage>>) {
    let mut o = Out::<A>::new();
    let r = f(&mut o);
    (r, o.into_iter().collect())
}

/// The commands as short lines: `save`, `send N {msg:?}`, `set {timer:?}`, `cancel {timer:?}`.
#[allow(dead_code)]
pub fn lines<M: Debug, T: Debug, R, D>(cmds: &[Command<M, T, R, D>]) -> Vec<String> {
    cmds.iter()
        .map(|c| match c {
            Command::Send(id, m) => format!("send {} {m:?}", usize::from(*id)),
            Command::Save(_) => "save".to_string(),
            Command::SetTimer(t, _) => format!("set {t:?}"),
            Command::CancelTimer(t) => format!("cancel {t:?}"),
            Command::ChooseRandom(..) => "random".into(),
        })
        .collect()
}

/// Declares `start`, `deliver` and `fire` for a role of type `$role` (state `$state`, actor
/// `$node`, message `$msg`, timer `$timer`): a fresh role state, then one message delivered or
/// one timer fired, each returning the next state (if any) and the commands as [`lines`].
#[allow(unused_macros)] // not every test crate has role tests
macro_rules! role_steps {
    ($role:ty, $state:ty, $node:ty, $msg:ty, $timer:ty) => {
        #[allow(dead_code)]
        fn start(r: &$role, id: usize) -> $state {
            common::run::<$node, _>(|o| r.on_start(stateright::actor::Id::from(id), &None, o)).0
        }

        #[allow(dead_code)]
        fn deliver(r: &$role, s: &$state, src: usize, m: $msg) -> (Option<$state>, Vec<String>) {
            let (n, c) =
                common::run::<$node, _>(|o| r.on_msg(s, stateright::actor::Id::from(src), m, o));
            (n, common::lines(&c))
        }

        /// Delivers `m` and asserts that the state stays as it is; the commands emitted.
        #[allow(dead_code)]
        fn answer(r: &$role, s: &$state, src: usize, m: $msg) -> Vec<String> {
            let (n, c) = deliver(r, s, src, m);
            assert!(n.is_none(), "the state changed: {n:?}");
            c
        }

        /// Asserts that delivering `m` does nothing: no state change, no command (the
        /// message waits in the network, or is dropped).
        #[allow(dead_code)]
        fn ignored(r: &$role, s: &$state, src: usize, m: $msg, why: &str) {
            let (n, c) = deliver(r, s, src, m);
            assert!(n.is_none() && c.is_empty(), "{why}: {n:?} {c:?}");
        }

        #[allow(dead_code)]
        fn fire(r: &$role, s: &$state, t: $timer) -> (Option<$state>, Vec<String>) {
            let (n, c) = common::run::<$node, _>(|o| r.on_timeout(s, &t, o));
            (n, common::lines(&c))
        }
    };
}
