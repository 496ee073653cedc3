//! The connections of a node (the host's network side): a connection to every other server,
//! kept open with backoff, and the connections servers accept from peers and clients. Every
//! connection starts with a [`Hello`]; a wrong cluster, protocol, wire version or an unknown
//! id is refused with an `Error` frame, and a caller that says it is a server must prove that
//! it holds the cluster's secret, as must the server it calls ([`crate::runtime::auth`]). A
//! malformed or oversize frame, or a message the sender may not send, closes that connection
//! only. Clients are answered on their own connection,
//! servers on ours to them. What comes in is handed to the host as [`Event::Msg`]; nothing here
//! looks at protocol state. The [`Limits`] (connections at once, a client's frame size, a
//! client's silence) keep one caller from taking the node's memory or descriptors from others.

use crate::runtime::auth::{self, Nonce, Side};
use crate::runtime::host::Event;
use crate::runtime::wire::{self, Frame, Hello, WIRE_VERSION};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tracing::{debug, info, warn};
use twosafe_models::stateright::actor::{Actor, Id};

/// A server's address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

impl BindError {
    /// The error of binding `addr`.
    pub fn at(addr: SocketAddr) -> impl Fn(std::io::Error) -> BindError {
        move |source| BindError { addr, source }
    }
}

/// Messages queued per connection.
pub(crate) const QUEUE: usize = 4096;

/// Who may send what: the protocol binding's check of an inbound message (a client may only
/// send client requests). It judges message *kinds*, never protocol state.
pub type Admit<M> = fn(from_server: bool, msg: &M) -> bool;

/// What a server's connections may hold, so that no one peer or client can take the node's
/// memory or file descriptors from the others. A cap reached is a WARN line, and refuses or
/// closes only the connection that reached it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Limits {
    /// Connections accepted and not yet closed (handshaking or established, the peers'
    /// included); one more is answered "too many connections" and closed.
    pub max_connections: usize,
    /// A client connection with nothing received for this long is closed (the client
    /// library reconnects when it next sends).
    pub client_idle: Duration,
    /// The largest frame before the handshake and from a client (a server's may be up to
    /// [`wire::MAX_FRAME`]): what a half-sent frame can hold of the node's memory.
    pub client_frame: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            client_idle: Duration::from_secs(60),
            client_frame: 64 << 10,
        }
    }
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
    /// What the node's accepted connections may hold.
    pub limits: Limits,
    /// The cluster's secret, which servers prove they hold in the handshake.
    pub secret: Arc<[u8]>,
}

impl Placement {
    /// Whether `id` is a server's.
    fn is_server(&self, id: u64) -> bool {
        usize::try_from(id).is_ok_and(|id| id < self.servers.len())
    }
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

/// Where to send to each node: the queue of its connection.
pub(crate) type Routes = Arc<Mutex<HashMap<Id, mpsc::Sender<Bytes>>>>;

/// Frames this process wrote to its connections, and the flushes (each one write of the
/// coalesced frames, or a few when the socket's buffer is full) that carried them: the
/// benchmarks' frames per write.
static FRAMES_OUT: AtomicU64 = AtomicU64::new(0);
static FLUSHES: AtomicU64 = AtomicU64::new(0);

/// (frames written, flushes) by this process's connections so far.
pub fn written() -> (u64, u64) {
    (FRAMES_OUT.load(Ordering::Relaxed), FLUSHES.load(Ordering::Relaxed))
}

/// Coalesced writes: feeds `first` and everything else queued, then flushes once. `false` if
/// the connection failed.
async fn write_batch<W>(sink: &mut W, first: Bytes, queue: &mut mpsc::Receiver<Bytes>) -> bool
where
    W: futures_util::Sink<Bytes> + Unpin,
{
    let mut frames = 1;
    let mut ok = sink.feed(first).await.is_ok();
    while ok {
        match queue.try_recv() {
            Ok(more) => {
                frames += 1;
                ok = sink.feed(more).await.is_ok();
            }
            Err(_) => break,
        }
    }
    FRAMES_OUT.fetch_add(frames, Ordering::Relaxed);
    FLUSHES.fetch_add(1, Ordering::Relaxed);
    ok && sink.flush().await.is_ok()
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The caller's side of the handshake on `framed`, to server `peer`: the hello, then (a server
/// calling) the listener's challenge checked and answered, then the welcome. `Err` says why the
/// connection is not used.
async fn handshake_out(
    framed: &mut Framed<TcpStream, LengthDelimitedCodec>, p: &Placement, peer: usize,
) -> Result<(), String> {
    let caller_nonce = auth::nonce().map_err(|e| format!("no random nonce: {e}"))?;
    let hello = Frame::<()>::Hello(Hello {
        cluster: p.cluster.clone(),
        id: p.id as u64,
        protocol: p.protocol.clone(),
        wire: WIRE_VERSION,
        nonce: caller_nonce,
    });
    framed.send(Bytes::from(wire::encode(&hello))).await.map_err(|e| e.to_string())?;
    let i_am_server = p.is_server(p.id as u64);
    // Whether the listener has proved that it holds the secret (a server calls only one that has).
    let mut proven = !i_am_server;
    loop {
        let answer = match tokio::time::timeout(Duration::from_secs(2), framed.next()).await {
            Ok(Some(Ok(b))) => wire::decode::<()>(&b).map_err(|e| e.to_string())?,
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(None) | Err(_) => return Err("no answer to the hello".into()),
        };
        match answer {
            Frame::Welcome if proven => return Ok(()),
            Frame::Welcome => {
                return Err("it did not prove that it holds the cluster's secret".into())
            }
            Frame::Challenge { nonce, proof } if !proven => {
                let exchange = auth::Exchange {
                    cluster: &p.cluster,
                    caller: p.id as u64,
                    callee: peer as u64,
                    caller_nonce,
                    listener_nonce: nonce,
                };
                if !exchange.verify(&p.secret, Side::Listener, &proof) {
                    return Err("its proof of the cluster's secret is wrong".into());
                }
                proven = true;
                let mine = Frame::<()>::Proof(exchange.tag(&p.secret, Side::Caller));
                framed.send(Bytes::from(wire::encode(&mine))).await.map_err(|e| e.to_string())?;
            }
            Frame::Error(reason) => return Err(format!("it refused the handshake: {reason}")),
            _ => return Err("unexpected handshake answer".into()),
        }
    }
}

/// The listener's side of the handshake with server `caller` (whose hello carried
/// `caller_nonce`): the challenge, with our proof, and the caller's proof checked.
async fn challenge(
    framed: &mut Framed<TcpStream, LengthDelimitedCodec>, p: &Placement, caller: u64,
    caller_nonce: Nonce,
) -> Result<(), String> {
    let listener_nonce = auth::nonce().map_err(|e| format!("no random nonce: {e}"))?;
    let exchange = auth::Exchange {
        cluster: &p.cluster,
        caller,
        callee: p.id as u64,
        caller_nonce,
        listener_nonce,
    };
    let ours = Frame::<()>::Challenge {
        nonce: listener_nonce,
        proof: exchange.tag(&p.secret, Side::Listener),
    };
    framed.send(Bytes::from(wire::encode(&ours))).await.map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(2), framed.next()).await {
        Ok(Some(Ok(b))) => match wire::decode::<()>(&b) {
            Ok(Frame::Proof(tag)) if exchange.verify(&p.secret, Side::Caller, &tag) => Ok(()),
            Ok(Frame::Proof(_)) => {
                Err("authentication failed: wrong proof of the cluster's secret".into())
            }
            _ => Err("authentication failed: expected a proof".into()),
        },
        _ => Err("authentication failed: no proof within 2 s".into()),
    }
}

/// Keeps a connection to server `peer` open, sending what is queued for it and handing what
/// comes back (replies to a client) to the event loop.
pub(crate) async fn outbound<A>(
    placement: Placement, peer: usize, addr: SocketAddr, mut queue: mpsc::Receiver<Bytes>,
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
        if let Err(reason) = handshake_out(&mut framed, &placement, peer).await {
            warn!("server {peer} at {addr}: not connected: {reason}");
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
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

/// Resolves after `idle` (never, without one).
async fn silence(idle: Option<Duration>) {
    match idle {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Answers a connection it will not serve with an `Error` frame (within a second), then
/// closes it.
async fn refuse(stream: TcpStream, reason: String) {
    let mut framed = Framed::new(stream, wire::codec());
    let frame = Bytes::from(wire::encode(&Frame::<()>::Error(reason)));
    let _ = tokio::time::timeout(Duration::from_secs(1), framed.send(frame)).await;
}

/// Why a handshake was refused (`Err`), or `Ok` if node `p` takes a connection that starts
/// with `h` (a server's must then prove it holds the secret).
pub fn check_hello(p: &Placement, h: &Hello) -> Result<(), String> {
    if h.wire != WIRE_VERSION {
        return Err(format!("wire version {} (this node speaks {WIRE_VERSION})", h.wire));
    }
    if h.cluster != p.cluster {
        return Err(format!("cluster {:?} (this is {:?})", h.cluster, p.cluster));
    }
    if h.protocol != p.protocol {
        return Err(format!("protocol {:?} (this node runs {:?})", h.protocol, p.protocol));
    }
    let id = usize::try_from(h.id).unwrap_or(usize::MAX);
    let server = id < p.servers.len() && id != p.id;
    if !server && !p.clients.contains(&id) {
        return Err(format!("unknown node id {}", h.id));
    }
    Ok(())
}

/// What an accepted connection needs of its node.
pub(crate) struct Link<A: Actor> {
    /// Where the node is.
    pub placement: Placement,
    /// The node's routes (a client's connection is its route).
    pub routes: Routes,
    /// Where to hand what arrives.
    pub events: mpsc::Sender<Event<A>>,
    /// Who may send what.
    pub admit: Admit<A::Msg>,
}

impl<A: Actor> Clone for Link<A> {
    fn clone(&self) -> Self {
        Link {
            placement: self.placement.clone(),
            routes: self.routes.clone(),
            events: self.events.clone(),
            admit: self.admit,
        }
    }
}

impl<A> Link<A>
where
    A: Actor + 'static,
    A::Msg: DeserializeOwned + Send + 'static,
    A::Timer: Send + 'static,
{
    /// Accepts connections on `listener` until the node stops, at most
    /// `limits.max_connections` at once: one more is answered "too many connections" and
    /// closed, and the cap reached is one WARN line (and one when it clears).
    pub async fn accept(self, listener: TcpListener) {
        let max = self.placement.limits.max_connections;
        let slots = Arc::new(Semaphore::new(max));
        let mut full = false;
        loop {
            match listener.accept().await {
                Ok((stream, from)) => {
                    if isolated_now(&self.placement.isolated) {
                        drop(stream); // cut off: refuse everyone
                        continue;
                    }
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        if !full {
                            warn!("{max} connections open (max_connections): refusing new ones");
                            full = true;
                        }
                        tokio::spawn(refuse(stream, "too many connections".into()));
                        continue;
                    };
                    if full {
                        warn!("below max_connections ({max}) again: accepting");
                        full = false;
                    }
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(self.clone().inbound(stream, from, slot));
                }
                Err(e) => {
                    warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Serves one accepted connection: the handshake, then its messages.
    async fn inbound(self, stream: TcpStream, from: SocketAddr, _slot: OwnedSemaphorePermit) {
        let limits = self.placement.limits;
        // Small frames until the caller is known to be a server.
        let mut framed = Framed::new(stream, wire::codec_up_to(limits.client_frame));
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
        if let Err(reason) = check_hello(&self.placement, &hello) {
            warn!("{from}: handshake refused: {reason}");
            let _ = framed.send(refuse(reason)).await;
            return;
        }
        let from_server = self.placement.is_server(hello.id);
        if from_server {
            if let Err(reason) =
                challenge(&mut framed, &self.placement, hello.id, hello.nonce).await
            {
                warn!("{from}: says it is server {} but {reason}", hello.id);
                let _ = framed.send(refuse(reason)).await;
                return;
            }
        }
        if framed.send(Bytes::from(wire::encode(&Frame::<()>::Welcome))).await.is_err() {
            return;
        }
        let id = Id::from(hello.id as usize);
        if from_server {
            framed.codec_mut().set_max_frame_length(wire::MAX_FRAME);
        }
        // A client silent this long is closed; a server's silence is the protocol's business.
        let idle = (!from_server).then_some(limits.client_idle);
        info!("{from}: node {} connected", hello.id);
        let (mut sink, mut stream) = framed.split();
        // A client is answered on its own connection; a server on ours to it.
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        if !from_server {
            lock(&self.routes).insert(id, tx.clone());
        }
        let writer = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                if !write_batch(&mut sink, first, &mut rx).await {
                    break;
                }
            }
        });
        let iso = self.placement.isolated.clone();
        let reason = loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = isolation_is(&iso, true) => break None,
                _ = silence(idle) => {
                    break Some(format!("idle for {} ms", limits.client_idle.as_millis()))
                }
            };
            match next {
                None => break None,
                Some(Err(e)) => break Some(e.to_string()),
                Some(Ok(b)) => match wire::decode::<A::Msg>(&b) {
                    Ok(Frame::Msg(m)) if (self.admit)(from_server, &m) => {
                        if self.events.send(Event::Msg(id, m)).await.is_err() {
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
            let mut r = lock(&self.routes);
            // Unless a newer connection of this client has replaced ours.
            if r.get(&id).is_some_and(|t| t.same_channel(&tx)) {
                r.remove(&id);
            }
        }
        drop(tx);
        let _ = tokio::time::timeout(Duration::from_millis(200), writer).await;
    }
}
