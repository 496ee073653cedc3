//! The actor host: runs one Actor of `twosafe-models` as a node of a real system. It owns the
//! Actor's state and interprets its commands — `Save` into the journal, `Send` over TCP,
//! `SetTimer`/`CancelTimer` with tokio's clock — and adds no protocol logic of its own.
//!
//! - **Write-ahead, group commit**: the events ready at once are handled as one batch; their
//!   saves are appended and (in `fsync` mode) forced once, and only then do the batch's
//!   messages leave the node.
//! - **Deliver later**: an event the Actor ignores (no state change, no command) is kept and
//!   offered again after the next step that changes the state, exactly as the model checker
//!   leaves such a message in its network (bounded; the oldest is dropped, which the protocol
//!   treats as a lost message).
//! - **Connections** are [`connections`](crate::runtime::connections)' business: the host
//!   hands each message to the route of its destination and takes what they deliver.
//!
//! The deterministic part — the Actor, its state, its journal, its armed timers, the deferred
//! messages, the write-ahead order — is [`Core`], which reaches the world only through
//! [`Effects`] (arm a timer, send a message). [`Host`] is the core with tokio's clock and the
//! connections as its effects; [`crate::runtime::replay`] drives the same core through the
//! model checker's paths, in one process, with the effects recorded.

use crate::runtime::config::Durability;
use crate::runtime::conform::{self, TraceEvent, TraceStep, TraceWriter};
use crate::runtime::connections::{self, lock, Admit, Placement, Routes, QUEUE};
use crate::runtime::journal::{Journal, JournalError};
use crate::runtime::wire::{self, Frame};
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, warn};
use twosafe_models::journaled::Journaled;
use twosafe_models::stateright::actor::{Actor, Command, Id, Out};

/// A call into the Actor from the process that hosts it (the client library's `submit`).
pub type Call<A> =
    Box<dyn FnOnce(&A, &<A as Actor>::State, &mut Out<A>) -> Option<<A as Actor>::State> + Send>;

/// Something for the Actor to handle.
pub enum Event<A: Actor> {
    /// A message from `src`.
    Msg(Id, A::Msg),
    /// A timer went off (`generation` tells a re-armed timer's old firing from the current).
    Timer(A::Timer, u64),
    /// A call from the hosting process.
    Call(Call<A>),
    /// Stop the node.
    Stop,
}

/// A failure that stops the node.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The journal failed; nothing of the failed step left the node.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The trace could not be written.
    #[error("trace: {0}")]
    Trace(std::io::Error),
}

/// A started host, the sender of its events and their receiver (for [`Host::run`]).
pub type Started<A> = (Host<A>, mpsc::Sender<Event<A>>, mpsc::Receiver<Event<A>>);

/// Observes the Actor's state after every step that changed it.
pub type Observer<A> = Box<dyn FnMut(&<A as Actor>::State) + Send>;

const DEFERRED: usize = 1024;

/// What a node's core did, counted: the benchmarks' requests per force come from it.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Events the Actor took (it changed its state or commanded something).
    pub steps: u64,
    /// Write-ahead points with something to do: each makes its batch's saves durable at once,
    /// then lets the batch's messages leave.
    pub batches: u64,
    /// Saves (journal records).
    pub saves: u64,
    /// Journal writes: one per batch with saves, carrying all of them.
    pub journal_writes: u64,
    /// Forces (`fdatasync`): the journal writes in `fsync` mode.
    pub forces: u64,
    /// Messages sent.
    pub sends: u64,
}

/// The deterministic part of a node: one Actor, its state, its journal, its armed timers and
/// the messages it put aside. It takes events one at a time ([`Core::step`]) and lets the
/// batch's messages leave only at [`Core::finish`], once the batch's saves are durable.
pub struct Core<A: Actor>
where
    A::Storage: Journaled,
{
    actor: A,
    id: Id,
    state: A::State,
    journal: Option<Journal<A::Storage>>,
    timers: HashMap<A::Timer, u64>,
    generation: u64,
    deferred: VecDeque<(Id, A::Msg)>,
    observer: Option<Observer<A>>,
    trace: Option<TraceWriter>,
    /// The messages of the steps since the last [`Core::finish`].
    sends: Vec<(Id, A::Msg)>,
    stats: Stats,
}

/// What a core's steps do to the world outside the node.
pub trait Effects<A: Actor> {
    /// Arms `timer`: after `after`, `Event::Timer(timer, generation)` is to be handled (an
    /// older generation of the same timer is then stale and ignored).
    fn arm(&mut self, timer: A::Timer, generation: u64, after: Duration);
    /// Sends `msg` to `dst`; the saves of the step that sent it are durable already.
    fn send(&mut self, dst: Id, msg: A::Msg);
}

/// A node: its [`Core`], with tokio's clock for timers and its routes for messages.
pub struct Host<A: Actor>
where
    A::Storage: Journaled,
{
    core: Core<A>,
    net: Net<A>,
}

/// A host's effects: timers on tokio's clock, messages to the routes.
struct Net<A: Actor> {
    routes: Routes,
    events: mpsc::Sender<Event<A>>,
}

impl<A> Effects<A> for Net<A>
where
    A: Actor + Send + 'static,
    A::Msg: Serialize + Send + 'static,
    A::Timer: Send + 'static,
{
    fn arm(&mut self, timer: A::Timer, generation: u64, after: Duration) {
        let events = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = events.send(Event::Timer(timer, generation)).await;
        });
    }

    fn send(&mut self, dst: Id, msg: A::Msg) {
        match lock(&self.routes).get(&dst) {
            Some(tx) => {
                let bytes = Bytes::from(wire::encode(&Frame::Msg(msg)));
                if tx.try_send(bytes).is_err() {
                    debug!("to {dst:?}: queue full or closed, message dropped");
                }
            }
            None => debug!("to {dst:?}: not connected, message dropped"),
        }
    }
}

/// What a host starts with besides its Actor.
pub struct Setup<A: Actor>
where
    A::Storage: Journaled,
{
    /// The journal (servers); `None` for a client, whose saves are ignored.
    pub journal: Option<Journal<A::Storage>>,
    /// What the journal held at open.
    pub storage: Option<A::Storage>,
    /// Called with the state the Actor started in, then after every step that changed it.
    pub observer: Option<Observer<A>>,
    /// Where to record every step for `twosafe conform`.
    pub trace: Option<TraceWriter>,
}

impl<A: Actor> Default for Setup<A>
where
    A::Storage: Journaled,
{
    fn default() -> Self {
        Setup { journal: None, storage: None, observer: None, trace: None }
    }
}

impl<A> Host<A>
where
    A: Actor + Send + 'static,
    A::Msg: Serialize + DeserializeOwned + Send + 'static,
    A::Timer: Serialize + Send + 'static,
    A::State: Send,
    A::Storage: Journaled + Send,
{
    /// Starts the Actor from `storage` (a restart) or fresh, connecting to every other server.
    /// Returns the host and the sender of its events.
    pub fn start(
        actor: A, placement: &Placement, setup: Setup<A>,
    ) -> Result<Started<A>, HostError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let routes: Routes = Arc::default();
        for (peer, addr) in placement.servers.iter().enumerate() {
            if peer != placement.id {
                let (out_tx, out_rx) = mpsc::channel(QUEUE);
                lock(&routes).insert(Id::from(peer), out_tx);
                tokio::spawn(connections::outbound::<A>(
                    placement.clone(),
                    peer,
                    *addr,
                    out_rx,
                    tx.clone(),
                ));
            }
        }
        let mut net = Net { routes, events: tx.clone() };
        let core = Core::start(actor, Id::from(placement.id), setup, &mut net)?;
        Ok((Host { core, net }, tx, rx))
    }

    /// The Actor's current state.
    pub fn state(&self) -> &A::State {
        self.core.state()
    }

    /// Accepts connections on `listener` for this node (servers only).
    pub fn listen(&self, listener: TcpListener, placement: Placement, admit: Admit<A::Msg>) {
        let link = connections::Link {
            placement,
            routes: self.net.routes.clone(),
            events: self.net.events.clone(),
            admit,
        };
        tokio::spawn(link.accept(listener));
    }

    /// Runs the event loop until `Stop` or until every event sender is gone; returns the
    /// Actor's last state and what the node did.
    pub async fn run(
        mut self, mut rx: mpsc::Receiver<Event<A>>,
    ) -> Result<(A::State, Stats), HostError> {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < 256 {
                match rx.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(_) => break,
                }
            }
            let mut stop = false;
            for ev in batch {
                match ev {
                    Event::Stop => stop = true,
                    ev => self.core.step(ev, &mut self.net),
                }
            }
            self.core.finish(&mut self.net)?;
            if stop {
                break;
            }
        }
        Ok((self.core.state, self.core.stats))
    }
}

impl<A> Core<A>
where
    A: Actor,
    A::Msg: Serialize,
    A::Timer: Serialize,
    A::Storage: Journaled,
{
    /// Starts the Actor `id` from `setup`'s storage (a restart) or fresh; the start's saves are
    /// durable and its messages sent when it returns.
    pub fn start(
        actor: A, id: Id, setup: Setup<A>, fx: &mut impl Effects<A>,
    ) -> Result<Core<A>, HostError> {
        let Setup { journal, storage, observer, trace } = setup;
        let mut out = Out::new();
        let state = actor.on_start(id, &storage, &mut out);
        let mut trace = trace;
        if let Some(t) = &mut trace {
            let step = TraceStep {
                event: TraceEvent::Start { id: usize::from(id), storage },
                commands: conform::record(&out),
                at_us: conform::now_us(),
            };
            t.write(&step).map_err(HostError::Trace)?;
        }
        let mut core = Core {
            actor,
            id,
            state,
            journal,
            timers: HashMap::new(),
            generation: 0,
            deferred: VecDeque::new(),
            observer,
            trace,
            sends: Vec::new(),
            stats: Stats::default(),
        };
        core.interpret(out, fx);
        // The start's saves must be durable before its messages leave, as for any step.
        core.finish(fx)?;
        if let Some(obs) = &mut core.observer {
            obs(&core.state);
        }
        Ok(core)
    }

    /// The Actor's current state.
    pub fn state(&self) -> &A::State {
        &self.state
    }

    /// What the core did so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The timers armed now, each with the generation its firing must carry.
    pub fn armed(&self) -> impl Iterator<Item = (&A::Timer, u64)> {
        self.timers.iter().map(|(t, g)| (t, *g))
    }

    /// Makes the saves of the steps since the last call durable, then sends their messages:
    /// the write-ahead rule.
    pub fn finish(&mut self, fx: &mut impl Effects<A>) -> Result<(), HostError> {
        let dirty = self.journal.as_ref().is_some_and(|j| j.dirty());
        self.stats.batches += u64::from(dirty || !self.sends.is_empty());
        if let Some(j) = self.journal.as_mut().filter(|_| dirty) {
            j.commit()?;
            self.stats.journal_writes += 1;
            self.stats.forces += u64::from(j.durability() == Durability::Fsync);
        }
        if let Some(t) = &mut self.trace {
            t.flush().map_err(HostError::Trace)?;
        }
        for (dst, msg) in self.sends.drain(..) {
            fx.send(dst, msg);
        }
        Ok(())
    }

    /// Handles one event; its messages leave at the next [`Core::finish`].
    pub fn step(&mut self, ev: Event<A>, fx: &mut impl Effects<A>) {
        let mut out = Out::new();
        let mut state = Cow::Borrowed(&self.state);
        let mut deferrable = None;
        let mut fired = None;
        match ev {
            Event::Msg(src, msg) => {
                self.actor.on_msg(self.id, &mut state, src, msg.clone(), &mut out);
                deferrable = Some((src, msg));
            }
            Event::Timer(t, generation) => {
                if self.timers.get(&t) != Some(&generation) {
                    return; // cancelled or re-armed since
                }
                self.timers.remove(&t);
                self.actor.on_timeout(self.id, &mut state, &t, &mut out);
                fired = Some(t);
            }
            Event::Call(f) => {
                if let Some(n) = f(&self.actor, &self.state, &mut out) {
                    state = Cow::Owned(n);
                }
            }
            Event::Stop => return,
        }
        let changed = matches!(state, Cow::Owned(_));
        if !changed && out.is_empty() {
            if let Some(m) = deferrable {
                if self.deferred.len() == DEFERRED {
                    self.deferred.pop_front();
                }
                self.deferred.push_back(m);
            }
            return;
        }
        if let Cow::Owned(n) = state {
            self.state = n;
        }
        self.stats.steps += 1;
        if let Some(t) = &mut self.trace {
            let event = match (&deferrable, fired) {
                (Some((src, msg)), _) => {
                    Some(TraceEvent::Msg { src: usize::from(*src), msg: msg.clone() })
                }
                (None, Some(timer)) => Some(TraceEvent::Timer { timer }),
                _ => None, // a call from the hosting process (clients only)
            };
            if let Some(event) = event {
                let step: TraceStep<_, _, A::Storage> =
                    TraceStep { event, commands: conform::record(&out), at_us: conform::now_us() };
                if let Err(e) = t.write(&step) {
                    warn!("trace: {e}; recording stops");
                    self.trace = None;
                }
            }
        }
        self.interpret(out, fx);
        if changed {
            if let Some(obs) = &mut self.observer {
                obs(&self.state);
            }
            // The state moved on: what was ignored before may be taken now.
            let waiting: Vec<_> = self.deferred.drain(..).collect();
            for (src, msg) in waiting {
                self.step(Event::Msg(src, msg), fx);
            }
        }
    }

    fn interpret(&mut self, out: Out<A>, fx: &mut impl Effects<A>) {
        for cmd in out {
            match cmd {
                Command::Save(d) => match &mut self.journal {
                    Some(j) => {
                        j.save(&d);
                        self.stats.saves += 1;
                    }
                    None => debug!("save without a journal ignored (a client)"),
                },
                Command::Send(dst, msg) => {
                    self.stats.sends += 1;
                    self.sends.push((dst, msg));
                }
                Command::SetTimer(t, range) => {
                    self.generation += 1;
                    self.timers.insert(t.clone(), self.generation);
                    fx.arm(t, self.generation, range.start);
                }
                Command::CancelTimer(t) => {
                    self.timers.remove(&t);
                }
                Command::ChooseRandom(..) => {}
            }
        }
    }
}
