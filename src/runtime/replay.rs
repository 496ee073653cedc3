//! Model paths drive the real host: a path of the model checker — a seeded bug's
//! counterexample, a random walk — is replayed step by step against the runtime's own
//! [`Core`] (its interpreter, its journal on disk, its armed timers, the binding's admission
//! rule), in one process and deterministically: messages and timers are handled in the path's
//! order, a crash drops the node's core, and a restart reopens its journal. After every step
//! the hosts must be where the model is — each actor's state, armed timers and durable storage,
//! and the messages in flight — and every message must leave a node only once the journal on
//! disk holds its step's saves (the write-ahead rule). The first difference is a
//! [`Divergence`] naming the step.
//!
//! This is `conform` the other way round: `conform` checks that what the host did is a
//! behaviour of the model; a replay checks that what the model does, the host does.

use crate::runtime::chaos::Rng;
use crate::runtime::config::Durability;
use crate::runtime::connections::Admit;
use crate::runtime::host::{Core, Effects, Event, HostError, Setup};
use crate::runtime::journal::{self, Identity, Journal, JournalError, FORMAT};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::time::Duration;
use twosafe_models::in_flight_once::merge_copies;
use twosafe_models::journaled::Journaled;
use twosafe_models::stateright::actor::{
    Actor, ActorModel, ActorModelAction, ActorModelState, Id, Network,
};
use twosafe_models::stateright::Model;

/// The first step at which the hosts and the model part.
#[derive(Debug, thiserror::Error)]
#[error("step {step} ({action}): {what}")]
pub struct Divergence {
    /// The step's index in the path (0: the start).
    pub step: usize,
    /// The step.
    pub action: String,
    /// What differs.
    pub what: String,
}

/// How the hosts are set up for a model's actors.
pub struct Setting<M> {
    /// Actors `0..servers` are servers: a journal each, messages from clients admitted by
    /// `admit`. The others are clients (no journal).
    pub servers: usize,
    /// The binding's admission rule.
    pub admit: Admit<M>,
    /// The path comes from the model on a network where identical copies in flight are one
    /// ([`twosafe_models::in_flight_once`]): a copy sent while one is in flight is lost.
    pub merged: bool,
    /// The protocol's name (in the journals' identity).
    pub protocol: &'static str,
    /// Where the journals go (a directory per server, created).
    pub dir: PathBuf,
}

type Action<A> = ActorModelAction<<A as Actor>::Msg, <A as Actor>::Timer, <A as Actor>::Random>;
type Wire<M> = HashMap<(usize, usize, M), usize>;

/// A node's effects during a replay: timers armed are the core's business (it keeps their
/// generations); messages are put on the wire, each checked against the journal on disk.
struct Recorder<'a, A: Actor> {
    id: usize,
    wire: &'a mut Wire<A::Msg>,
    /// The sender's journal and the storage it must hold once a message of the step leaves.
    durable: Durable<'a, A::Storage>,
    early: Option<String>,
}

impl<A> Effects<A> for Recorder<'_, A>
where
    A: Actor,
    A::Msg: Hash + Eq,
    A::Storage: Journaled + PartialEq + Debug,
{
    fn arm(&mut self, _timer: A::Timer, _generation: u64, _after: Duration) {}

    fn send(&mut self, dst: Id, msg: A::Msg) {
        if let (None, Some((dir, identity, expected))) = (&self.early, self.durable) {
            let on_disk = std::fs::read(journal::path(dir))
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    journal::recover::<A::Storage>(&b, identity).map_err(|e| format!("{e:?}"))
                })
                .map(|r| r.value);
            match on_disk {
                Ok(v) if v.as_ref() == expected => {}
                Ok(v) => {
                    self.early = Some(format!(
                        "a message left node {} before its save was durable: on disk {v:?}, \
                         saved {expected:?}",
                        self.id
                    ))
                }
                Err(e) => self.early = Some(format!("node {}'s journal: {e}", self.id)),
            }
        }
        *self.wire.entry((self.id, usize::from(dst), msg)).or_default() += 1;
    }
}

/// Replays `actions` from `model`'s initial state against hosts set up as `setting` says.
/// Returns the number of steps replayed.
pub fn replay<A, C, H>(
    model: &ActorModel<A, C, H>, actions: &[Action<A>], setting: &Setting<A::Msg>,
) -> Result<usize, Divergence>
where
    A: Actor + Clone,
    A::Msg: Serialize + Hash + Eq + Ord + Clone + Debug,
    A::Timer: Serialize + Hash + Eq + Ord + Clone + Debug,
    A::Random: Hash + Eq + Debug,
    A::State: PartialEq + Debug,
    A::Storage: Journaled + PartialEq + Debug,
    H: Clone + Debug + Hash,
{
    let n = model.actors.len();
    let identity = |id: usize| Identity {
        format: FORMAT,
        cluster: "replay".into(),
        protocol: setting.protocol.into(),
        service: "model".into(),
        node: id as u32,
    };
    let identities: Vec<Identity> = (0..n).map(identity).collect();
    let dirs: Vec<PathBuf> = (0..n).map(|id| setting.dir.join(format!("node-{id}"))).collect();
    let diverge = |step: usize, action: &str, what: String| Divergence {
        step,
        action: action.to_string(),
        what,
    };
    let host_err = |step: usize, e: HostError| diverge(step, "start", e.to_string());

    let mut state = model
        .init_states()
        .into_iter()
        .next()
        .ok_or_else(|| diverge(0, "start", "the model has no initial state".into()))?;
    if setting.merged {
        merge_copies(&mut state);
    }
    let mut wire: Wire<A::Msg> = HashMap::new();
    let mut cores: Vec<Option<Core<A>>> = Vec::with_capacity(n);
    for id in 0..n {
        let journal = if id < setting.servers {
            let _ = std::fs::remove_dir_all(&dirs[id]);
            std::fs::create_dir_all(&dirs[id])
                .map_err(|e| diverge(0, "start", format!("{}: {e}", dirs[id].display())))?;
            journal::format(&dirs[id], &identities[id]).map_err(|e| host_err(0, e.into()))?;
            Some(open(&dirs[id], &identities[id]).map_err(|e| host_err(0, e.into()))?.0)
        } else {
            None
        };
        let mut rec = Recorder::<A> { id, wire: &mut wire, durable: None, early: None };
        let setup = Setup { journal, storage: None, observer: None, trace: None };
        let core = Core::start(model.actors[id].clone(), Id::from(id), setup, &mut rec)
            .map_err(|e| host_err(0, e))?;
        cores.push(Some(core));
    }
    if setting.merged {
        merge(&mut wire);
    }
    compare(&cores, &wire, &state, &dirs, &identities, setting.servers)
        .map_err(|what| diverge(0, "start", what))?;

    for (k, action) in actions.iter().enumerate() {
        let step = k + 1;
        let label = format!("{action:?}");
        let next = model
            .next_state(&state, action.clone())
            .ok_or_else(|| diverge(step, &label, "the model has no such step".into()))?;
        let mut next = next;
        if setting.merged {
            merge_copies(&mut next);
        }
        let fail = |what: String| diverge(step, &label, what);
        let durable = |i: usize| {
            (i < setting.servers)
                .then(|| (dirs[i].as_path(), &identities[i], next.actor_storages[i].as_ref()))
        };
        match action {
            ActorModelAction::Deliver { src, dst, msg } => {
                let (s, d) = (usize::from(*src), usize::from(*dst));
                if d < setting.servers && !(setting.admit)(s < setting.servers, msg) {
                    return Err(fail("the host's admission refuses it".into()));
                }
                take(&mut wire, (s, d, msg.clone())).map_err(fail)?;
                let core = cores[d].as_mut().ok_or_else(|| fail(format!("node {d} is down")))?;
                handle(core, d, Event::Msg(*src, msg.clone()), &mut wire, durable(d))
                    .map_err(fail)?;
            }
            ActorModelAction::Timeout(id, timer) => {
                let i = usize::from(*id);
                let core = cores[i].as_mut().ok_or_else(|| fail(format!("node {i} is down")))?;
                let generation = core
                    .armed()
                    .find(|(t, _)| *t == timer)
                    .map(|(_, g)| g)
                    .ok_or_else(|| fail("the timer is not armed at the host".into()))?;
                let ev = Event::Timer(timer.clone(), generation);
                handle(core, i, ev, &mut wire, durable(i)).map_err(fail)?;
            }
            ActorModelAction::Drop(env) => {
                let key = (usize::from(env.src), usize::from(env.dst), env.msg.clone());
                take(&mut wire, key).map_err(fail)?;
            }
            ActorModelAction::Crash(id) => {
                // kill -9: the process and its memory are gone; what it committed is on disk.
                cores[usize::from(*id)] = None;
            }
            ActorModelAction::Recover(id) => {
                let i = usize::from(*id);
                let (journal, storage) = if i < setting.servers {
                    let (j, s) = open(&dirs[i], &identities[i]).map_err(|e| fail(e.to_string()))?;
                    (Some(j), s)
                } else {
                    (None, None)
                };
                let mut rec =
                    Recorder::<A> { id: i, wire: &mut wire, durable: durable(i), early: None };
                let setup = Setup { journal, storage, observer: None, trace: None };
                let core = Core::start(model.actors[i].clone(), *id, setup, &mut rec)
                    .map_err(|e| fail(e.to_string()))?;
                if let Some(what) = rec.early {
                    return Err(fail(what));
                }
                cores[i] = Some(core);
            }
            ActorModelAction::SelectRandom { .. } => {
                return Err(fail("random choices are not replayed".into()));
            }
        }
        if setting.merged {
            merge(&mut wire);
        }
        compare(&cores, &wire, &next, &dirs, &identities, setting.servers)
            .map_err(|what| diverge(step, &label, what))?;
        state = next;
    }
    Ok(actions.len())
}

/// Takes one copy of `key` off the wire.
fn take<M: Hash + Eq>(wire: &mut Wire<M>, key: (usize, usize, M)) -> Result<(), String> {
    match wire.get_mut(&key) {
        Some(c) if *c > 1 => {
            *c -= 1;
            Ok(())
        }
        Some(_) => {
            wire.remove(&key);
            Ok(())
        }
        None => Err("no host sent this message, or it was taken already".into()),
    }
}

/// What a server's journal must hold when a message of the current step leaves it.
type Durable<'a, D> = Option<(&'a Path, &'a Identity, Option<&'a D>)>;

/// Node `id`'s core handles `ev`, then finishes the step (saves durable, messages sent).
fn handle<A>(
    core: &mut Core<A>, id: usize, ev: Event<A>, wire: &mut Wire<A::Msg>,
    durable: Durable<'_, A::Storage>,
) -> Result<(), String>
where
    A: Actor,
    A::Msg: Serialize + Hash + Eq,
    A::Timer: Serialize,
    A::Storage: Journaled + PartialEq + Debug,
{
    let mut rec = Recorder::<A> { id, wire, durable, early: None };
    core.step(ev, &mut rec);
    core.finish(&mut rec).map_err(|e| e.to_string())?;
    rec.early.map_or(Ok(()), Err)
}

fn open<D: Journaled>(
    dir: &Path, identity: &Identity,
) -> Result<(Journal<D>, Option<D>), JournalError> {
    let (j, storage, _) = Journal::open(dir, Durability::Memory, identity)?;
    Ok((j, storage))
}

fn merge<M>(wire: &mut Wire<M>) {
    for c in wire.values_mut() {
        *c = (*c).min(1);
    }
}

/// The messages in flight in `network`, as a multiset.
fn in_flight<M: Hash + Eq + Clone>(network: &Network<M>) -> Wire<M> {
    let mut w = HashMap::new();
    let mut add = |s: Id, d: Id, m: &M, k: usize| {
        *w.entry((usize::from(s), usize::from(d), m.clone())).or_default() += k;
    };
    match network {
        Network::UnorderedDuplicating(set, _) => {
            set.iter().for_each(|e| add(e.src, e.dst, &e.msg, 1))
        }
        Network::UnorderedNonDuplicating(map) => {
            map.iter().for_each(|(e, k)| add(e.src, e.dst, &e.msg, *k))
        }
        Network::Ordered(map) => {
            map.iter().for_each(|((s, d), q)| q.iter().for_each(|m| add(*s, *d, m, 1)))
        }
    }
    w
}

fn compare<A, H>(
    cores: &[Option<Core<A>>], wire: &Wire<A::Msg>, model: &ActorModelState<A, H>,
    dirs: &[PathBuf], identities: &[Identity], servers: usize,
) -> Result<(), String>
where
    A: Actor,
    A::Msg: Serialize + Hash + Eq + Clone + Debug,
    A::Timer: Serialize + Hash + Eq + Debug,
    A::State: PartialEq + Debug,
    A::Storage: Journaled + PartialEq + Debug,
{
    for (id, core) in cores.iter().enumerate() {
        match (core, model.crashed[id]) {
            (None, true) => {}
            (None, false) => return Err(format!("node {id} is down at the host, up in the model")),
            (Some(_), true) => {
                return Err(format!("node {id} is up at the host, down in the model"))
            }
            (Some(core), false) => {
                if core.state() != &*model.actor_states[id] {
                    return Err(format!(
                        "node {id}'s state: host {:?}, model {:?}",
                        core.state(),
                        model.actor_states[id]
                    ));
                }
                let mut host: Vec<_> = core.armed().map(|(t, _)| format!("{t:?}")).collect();
                let mut want: Vec<_> =
                    model.timers_set[id].iter().map(|t| format!("{t:?}")).collect();
                host.sort();
                want.sort();
                if host != want {
                    return Err(format!("node {id}'s armed timers: host {host:?}, model {want:?}"));
                }
            }
        }
        if id < servers {
            let bytes = std::fs::read(journal::path(&dirs[id])).map_err(|e| e.to_string())?;
            let on_disk = journal::recover::<A::Storage>(&bytes, &identities[id])
                .map_err(|e| format!("node {id}'s journal: {e:?}"))?
                .value;
            if on_disk.as_ref() != model.actor_storages[id].as_ref() {
                return Err(format!(
                    "node {id}'s journal holds {on_disk:?}, the model saved {:?}",
                    model.actor_storages[id]
                ));
            }
        }
    }
    let want = in_flight(&model.network);
    if wire != &want {
        let extra: Vec<_> = wire.iter().filter(|(k, c)| want.get(*k) != Some(c)).collect();
        let missing: Vec<_> = want.iter().filter(|(k, c)| wire.get(*k) != Some(c)).collect();
        return Err(format!(
            "messages in flight differ: the hosts' {extra:?}, the model's {missing:?}"
        ));
    }
    Ok(())
}

/// A random walk of at most `len` steps through `model` (any model whose actions are an actor
/// model's), from its first initial state: the actions taken.
pub fn random_walk<M: Model>(model: &M, seed: u64, len: usize) -> Vec<M::Action> {
    let mut rng = Rng::new(seed);
    let mut walk = Vec::new();
    let Some(mut state) = model.init_states().into_iter().next() else {
        return walk;
    };
    for _ in 0..len {
        let mut steps: Vec<_> = model
            .next_steps(&state)
            .into_iter()
            .filter(|(_, s)| model.within_boundary(s))
            .collect();
        if steps.is_empty() {
            break;
        }
        let (a, s) = steps.swap_remove(rng.below(steps.len() as u64) as usize);
        walk.push(a);
        state = s;
    }
    walk
}
