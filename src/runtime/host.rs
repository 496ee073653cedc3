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
//! - **Connections**: a node connects to every other server (reconnecting with backoff) and
//!   sends on that connection; clients connect to the servers, which answer on the client's
//!   connection. Every connection starts with a [`Hello`]; a wrong cluster, protocol, wire
//!   version or an unknown id is refused with an `Error` frame. A malformed or oversize frame,
//!   or a message the sender may not send, closes that connection only.

use crate::runtime::conform::{self, TraceEvent, TraceStep, TraceWriter};
use crate::runtime::journal::{Journal, JournalError};
use crate::runtime::wire::{self, Frame, Hello, WIRE_VERSION};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::{de::DeserializeOwned, Serialize};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};
use twosafe_models::journaled::Journaled;
use twosafe_models::stateright::actor::{Actor, Command, Id, Out};

/// Who may send what: the protocol binding's check of an inbound message (a client may only
/// send client requests). It judges message *kinds*, never protocol state.
pub type Admit<M> = fn(from_server: bool, msg: &M) -> bool;

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

/// Where a node is in the cluster.
#[derive(Clone, Debug)]
pub struct Placement {
    /// The cluster's name.
    pub cluster: String,
    /// The protocol's name.
    pub protocol: String,
    /// This node's actor id.
    pub id: usize,
    /// The servers' addresses, by id.
    pub servers: Vec<SocketAddr>,
    /// The client ids servers accept.
    pub clients: Range<usize>,
    /// Fault injection: while this is `true` the node is cut off (every connection closed,
    /// none made or accepted, what it sends dropped): a partition by disconnect.
    pub isolated: Option<watch::Receiver<bool>>,
}

/// Resolves when `iso` becomes `value` (never, without a switch).
async fn isolation_is(iso: &Option<watch::Receiver<bool>>, value: bool) {
    match iso {
        Some(rx) => {
            let mut rx = rx.clone();
            if rx.wait_for(|v| *v == value).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

fn isolated_now(iso: &Option<watch::Receiver<bool>>) -> bool {
    iso.as_ref().is_some_and(|rx| *rx.borrow())
}

type Routes = Arc<Mutex<HashMap<Id, mpsc::Sender<Bytes>>>>;

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
const QUEUE: usize = 4096;

/// A node: one Actor, its state, its journal and its routes.
pub struct Host<A: Actor>
where
    A::Storage: Journaled,
{
    actor: A,
    id: Id,
    state: A::State,
    journal: Option<Journal<A::Storage>>,
    routes: Routes,
    events: mpsc::Sender<Event<A>>,
    timers: HashMap<A::Timer, u64>,
    generation: u64,
    deferred: VecDeque<(Id, A::Msg)>,
    observer: Option<Observer<A>>,
    trace: Option<TraceWriter>,
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
    /// Called after every step that changed the state.
    pub observer: Option<Observer<A>>,
    /// Where to record every step for `twosafe conform`.
    pub trace: Option<TraceWriter>,
}

impl<A: Actor> Default for Setup<A>
where
    A::Storage: Journaled,
{
    fn default() -> Self {
        Setup {
            journal: None,
            storage: None,
            observer: None,
            trace: None,
        }
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
        actor: A,
        placement: &Placement,
        setup: Setup<A>,
    ) -> Result<Started<A>, HostError> {
        let Setup {
            journal,
            storage,
            observer,
            trace,
        } = setup;
        let (tx, rx) = mpsc::channel(QUEUE);
        let routes: Routes = Arc::default();
        for (peer, addr) in placement.servers.iter().enumerate() {
            if peer != placement.id {
                let (out_tx, out_rx) = mpsc::channel(QUEUE);
                lock(&routes).insert(Id::from(peer), out_tx);
                tokio::spawn(outbound::<A>(
                    placement.clone(),
                    peer,
                    *addr,
                    out_rx,
                    tx.clone(),
                ));
            }
        }
        let id = Id::from(placement.id);
        let mut out = Out::new();
        let state = actor.on_start(id, &storage, &mut out);
        let mut trace = trace;
        if let Some(t) = &mut trace {
            let step = TraceStep {
                event: TraceEvent::Start {
                    id: placement.id,
                    storage,
                },
                commands: conform::record(&out),
                at_us: conform::now_us(),
            };
            t.write(&step).map_err(HostError::Trace)?;
        }
        let mut host = Host {
            actor,
            id,
            state,
            journal,
            routes,
            events: tx.clone(),
            timers: HashMap::new(),
            generation: 0,
            deferred: VecDeque::new(),
            observer,
            trace,
        };
        let mut sends = Vec::new();
        host.interpret(out, &mut sends);
        // The start's saves must be durable before its messages leave, as for any step.
        host.commit()?;
        host.flush(sends);
        Ok((host, tx, rx))
    }

    /// The Actor's current state.
    pub fn state(&self) -> &A::State {
        &self.state
    }

    /// Accepts connections on `listener` for this node (servers only).
    pub fn listen(&self, listener: TcpListener, placement: Placement, admit: Admit<A::Msg>) {
        tokio::spawn(accept::<A>(
            listener,
            placement,
            self.routes.clone(),
            self.events.clone(),
            admit,
        ));
    }

    /// Runs the event loop until `Stop` or until every event sender is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Event<A>>) -> Result<A::State, HostError> {
        let mut sends = Vec::new();
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
                    ev => self.step(ev, &mut sends),
                }
            }
            self.commit()?;
            self.flush(std::mem::take(&mut sends));
            if stop {
                break;
            }
        }
        Ok(self.state)
    }

    fn commit(&mut self) -> Result<(), HostError> {
        if let Some(j) = &mut self.journal {
            j.commit()?;
        }
        if let Some(t) = &mut self.trace {
            t.flush().map_err(HostError::Trace)?;
        }
        Ok(())
    }

    fn step(&mut self, ev: Event<A>, sends: &mut Vec<(Id, A::Msg)>) {
        let mut out = Out::new();
        let mut state = Cow::Borrowed(&self.state);
        let mut deferrable = None;
        let mut fired = None;
        match ev {
            Event::Msg(src, msg) => {
                self.actor
                    .on_msg(self.id, &mut state, src, msg.clone(), &mut out);
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
        if let Some(t) = &mut self.trace {
            let event = match (&deferrable, fired) {
                (Some((src, msg)), _) => Some(TraceEvent::Msg {
                    src: usize::from(*src),
                    msg: msg.clone(),
                }),
                (None, Some(timer)) => Some(TraceEvent::Timer { timer }),
                _ => None, // a call from the hosting process (clients only)
            };
            if let Some(event) = event {
                let step: TraceStep<_, _, A::Storage> = TraceStep {
                    event,
                    commands: conform::record(&out),
                    at_us: conform::now_us(),
                };
                if let Err(e) = t.write(&step) {
                    warn!("trace: {e}; recording stops");
                    self.trace = None;
                }
            }
        }
        self.interpret(out, sends);
        if changed {
            if let Some(obs) = &mut self.observer {
                obs(&self.state);
            }
            // The state moved on: what was ignored before may be taken now.
            let waiting: Vec<_> = self.deferred.drain(..).collect();
            for (src, msg) in waiting {
                self.step(Event::Msg(src, msg), sends);
            }
        }
    }

    fn interpret(&mut self, out: Out<A>, sends: &mut Vec<(Id, A::Msg)>) {
        for cmd in out {
            match cmd {
                Command::Save(d) => match &mut self.journal {
                    Some(j) => j.save(&d),
                    None => debug!("save without a journal ignored (a client)"),
                },
                Command::Send(dst, msg) => sends.push((dst, msg)),
                Command::SetTimer(t, range) => {
                    self.generation += 1;
                    self.timers.insert(t.clone(), self.generation);
                    let (events, generation) = (self.events.clone(), self.generation);
                    let wait = range.start;
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let _ = events.send(Event::Timer(t, generation)).await;
                    });
                }
                Command::CancelTimer(t) => {
                    self.timers.remove(&t);
                }
                Command::ChooseRandom(..) => {}
            }
        }
    }

    fn flush(&self, sends: Vec<(Id, A::Msg)>) {
        if sends.is_empty() {
            return;
        }
        let routes = lock(&self.routes);
        for (dst, msg) in sends {
            match routes.get(&dst) {
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
}

/// Coalesced writes: feeds `first` and everything else queued, then flushes once. `false` if
/// the connection failed.
async fn write_batch<W>(sink: &mut W, first: Bytes, queue: &mut mpsc::Receiver<Bytes>) -> bool
where
    W: futures_util::Sink<Bytes> + Unpin,
{
    let mut ok = sink.feed(first).await.is_ok();
    while ok {
        match queue.try_recv() {
            Ok(more) => ok = sink.feed(more).await.is_ok(),
            Err(_) => break,
        }
    }
    ok && sink.flush().await.is_ok()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn hello(p: &Placement) -> Frame<()> {
    Frame::Hello(Hello {
        cluster: p.cluster.clone(),
        id: p.id as u64,
        protocol: p.protocol.clone(),
        wire: WIRE_VERSION,
    })
}

/// Keeps a connection to server `peer` open, sending what is queued for it and handing what
/// comes back (replies to a client) to the event loop.
async fn outbound<A>(
    placement: Placement,
    peer: usize,
    addr: SocketAddr,
    mut queue: mpsc::Receiver<Bytes>,
    events: mpsc::Sender<Event<A>>,
) where
    A: Actor + 'static,
    A::Msg: DeserializeOwned + Send,
    A::Timer: Send,
{
    let mut backoff = Duration::from_millis(10);
    let iso = placement.isolated.clone();
    loop {
        if isolated_now(&iso) {
            // Cut off: what is queued for the peer is lost, as on a broken link.
            loop {
                tokio::select! {
                    _ = isolation_is(&iso, false) => break,
                    m = queue.recv() => if m.is_none() { return },
                }
            }
        }
        let stream = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(e) => {
                debug!("connect to {peer} at {addr}: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(200));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let mut framed = Framed::new(stream, wire::codec());
        if framed
            .send(Bytes::from(wire::encode(&hello(&placement))))
            .await
            .is_err()
        {
            continue;
        }
        match tokio::time::timeout(Duration::from_secs(2), framed.next()).await {
            Ok(Some(Ok(b))) => match wire::decode::<()>(&b) {
                Ok(Frame::Welcome) => {}
                Ok(Frame::Error(reason)) => {
                    warn!("server {peer} refused the handshake: {reason}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                _ => {
                    warn!("server {peer}: unexpected handshake answer");
                    continue;
                }
            },
            _ => {
                tokio::time::sleep(backoff).await;
                continue;
            }
        }
        backoff = Duration::from_millis(10);
        debug!("connected to {peer} at {addr}");
        let (mut sink, mut stream) = framed.split();
        let src = Id::from(peer);
        let events2 = events.clone();
        let mut reader = tokio::spawn(async move {
            while let Some(Ok(b)) = stream.next().await {
                match wire::decode::<A::Msg>(&b) {
                    Ok(Frame::Msg(m)) => {
                        if events2.send(Event::Msg(src, m)).await.is_err() {
                            break;
                        }
                    }
                    Ok(Frame::Error(reason)) => {
                        warn!("server {peer} closed the connection: {reason}");
                        break;
                    }
                    _ => break,
                }
            }
        });
        loop {
            tokio::select! {
                _ = &mut reader => break,
                _ = isolation_is(&iso, true) => {
                    reader.abort();
                    break;
                }
                next = queue.recv() => {
                    let Some(first) = next else { return };
                    if !write_batch(&mut sink, first, &mut queue).await {
                        reader.abort();
                        break;
                    }
                }
            }
        }
        debug!("connection to {peer} lost; reconnecting");
    }
}

async fn accept<A>(
    listener: TcpListener,
    placement: Placement,
    routes: Routes,
    events: mpsc::Sender<Event<A>>,
    admit: Admit<A::Msg>,
) where
    A: Actor + 'static,
    A::Msg: DeserializeOwned + Send + 'static,
    A::Timer: Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                if isolated_now(&placement.isolated) {
                    drop(stream); // cut off: refuse everyone
                    continue;
                }
                let _ = stream.set_nodelay(true);
                tokio::spawn(inbound::<A>(
                    stream,
                    from,
                    placement.clone(),
                    routes.clone(),
                    events.clone(),
                    admit,
                ));
            }
            Err(e) => {
                warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Why a handshake was refused.
fn check_hello(p: &Placement, h: &Hello) -> Result<(), String> {
    if h.wire != WIRE_VERSION {
        return Err(format!(
            "wire version {} (this node speaks {WIRE_VERSION})",
            h.wire
        ));
    }
    if h.cluster != p.cluster {
        return Err(format!("cluster {:?} (this is {:?})", h.cluster, p.cluster));
    }
    if h.protocol != p.protocol {
        return Err(format!(
            "protocol {:?} (this node runs {:?})",
            h.protocol, p.protocol
        ));
    }
    let id = usize::try_from(h.id).unwrap_or(usize::MAX);
    let server = id < p.servers.len() && id != p.id;
    if !server && !p.clients.contains(&id) {
        return Err(format!("unknown node id {}", h.id));
    }
    Ok(())
}

async fn inbound<A>(
    stream: TcpStream,
    from: SocketAddr,
    placement: Placement,
    routes: Routes,
    events: mpsc::Sender<Event<A>>,
    admit: Admit<A::Msg>,
) where
    A: Actor + 'static,
    A::Msg: DeserializeOwned + Send + 'static,
    A::Timer: Send + 'static,
{
    let mut framed = Framed::new(stream, wire::codec());
    let refuse = |reason: String| Bytes::from(wire::encode(&Frame::<()>::Error(reason)));
    let first = tokio::time::timeout(Duration::from_secs(5), framed.next()).await;
    let hello = match first {
        Ok(Some(Ok(b))) => match wire::decode::<()>(&b) {
            Ok(Frame::Hello(h)) => h,
            Ok(_) => {
                warn!("{from}: closed: the first frame is not a hello");
                let _ = framed.send(refuse("expected a hello".into())).await;
                return;
            }
            Err(e) => {
                warn!("{from}: closed: {e}");
                let _ = framed.send(refuse(e.to_string())).await;
                return;
            }
        },
        Ok(Some(Err(e))) => {
            warn!("{from}: closed: {e}");
            let _ = framed.send(refuse(e.to_string())).await;
            return;
        }
        Ok(None) => return,
        Err(_) => {
            warn!("{from}: closed: no hello within 5 s");
            return;
        }
    };
    if let Err(reason) = check_hello(&placement, &hello) {
        warn!("{from}: handshake refused: {reason}");
        let _ = framed.send(refuse(reason)).await;
        return;
    }
    if framed
        .send(Bytes::from(wire::encode(&Frame::<()>::Welcome)))
        .await
        .is_err()
    {
        return;
    }
    let id = Id::from(hello.id as usize);
    let from_server = (hello.id as usize) < placement.servers.len();
    info!("{from}: node {} connected", hello.id);
    let (mut sink, mut stream) = framed.split();
    // A client is answered on its own connection; a server on ours to it.
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    if !from_server {
        lock(&routes).insert(id, tx.clone());
    }
    let writer = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            if !write_batch(&mut sink, first, &mut rx).await {
                break;
            }
        }
    });
    let iso = placement.isolated.clone();
    let reason = loop {
        let next = tokio::select! {
            n = stream.next() => n,
            _ = isolation_is(&iso, true) => break None,
        };
        match next {
            None => break None,
            Some(Err(e)) => break Some(e.to_string()),
            Some(Ok(b)) => match wire::decode::<A::Msg>(&b) {
                Ok(Frame::Msg(m)) if admit(from_server, &m) => {
                    if events.send(Event::Msg(id, m)).await.is_err() {
                        break None;
                    }
                }
                Ok(Frame::Msg(_)) => {
                    break Some("a message this node does not take from you".into())
                }
                Ok(_) => break Some("unexpected frame after the handshake".into()),
                Err(e) => break Some(e.to_string()),
            },
        }
    };
    if let Some(reason) = &reason {
        warn!("{from}: node {} closed: {reason}", hello.id);
        let _ = tx.try_send(refuse(reason.clone()));
    }
    if !from_server {
        let mut r = lock(&routes);
        // Unless a newer connection of this client has replaced ours.
        if r.get(&id).is_some_and(|t| t.same_channel(&tx)) {
            r.remove(&id);
        }
    }
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_millis(200), writer).await;
}
