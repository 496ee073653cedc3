//! The client library: a session is one instance of a protocol's client role (the binding's,
//! [`Binding::client`]; linear 2PC's, Hagen & Alonso (OPERA) §3.1: a client id, request sequence
//! numbers, resends on a timer, redirection to a new primary; or the fuzzy copy's,
//! [`crate::runtime::fuzzy`]) hosted like any node, with `submit(op) -> reply` on top. A
//! session holds as many requests outstanding at once as its role allows (its *window*: one for
//! linear 2PC and fuzzy copy, whose clients send a request when the last is answered; up to the
//! window it was opened with for logical checkpointing, whose requests carry distinct sequence
//! numbers). A pipelined linear-2PC client is a window of sessions with distinct client ids.
//!
//! A linear-2PC session's number is the wall clock in microseconds when it opens, so a client
//! id used again (a second `twosafe load`) starts a later session: its requests are never
//! answered with the earlier session's stored replies. A session whose number is behind a
//! committed later one (a clock set back) has its requests refused ([`ClientError::Expired`]).
//! Two clients on one id *at once* are not supported: the servers answer a client id on its
//! latest connection, so the earlier session's requests go unanswered (and are not executed
//! once the later session has committed an update) until it times out.

use crate::runtime::binding::{Binding, NodeOf};
use crate::runtime::config::ClusterConfig;
use crate::runtime::connections::Placement;
use crate::runtime::host::{Call, Event, Host, Setup};
use crate::runtime::node::placement;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use twosafe_models::journaled::Journaled;
use twosafe_models::services::Service;
use twosafe_models::stateright::actor::{Actor, Out};

/// Why a request got no reply.
#[derive(Debug, Error)]
pub enum ClientError {
    /// No reply within the deadline (resends included).
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The session is gone.
    #[error("the client session has stopped")]
    Stopped,
    /// The session has as many requests outstanding as its window allows (one, for most
    /// protocols' clients).
    #[error("the session's window of outstanding requests is full")]
    Busy,
    /// A later session of the same client id has committed an update, which expired this
    /// one: the request was refused (an earlier copy of it may have taken effect).
    #[error(
        "client id {0}: a later session of this client id has committed an update, so this \
         session has expired and its request was refused (is another client using the same \
         ids? give each its own --first-client range); an earlier copy of the request may \
         have taken effect"
    )]
    Expired(usize),
    /// The client id is outside the configuration's client ids.
    #[error("client id {id} is not one of the cluster's client ids {first}..{end}")]
    UnknownId {
        /// The id.
        id: usize,
        /// The first client id.
        first: usize,
        /// One past the last.
        end: usize,
    },
}

/// The waiters of a session's outstanding requests, by ticket ([`ClientRole::submit`]).
type Pending<R> = Arc<Mutex<BTreeMap<usize, oneshot::Sender<Result<R, ClientError>>>>>;

/// A protocol's client role as the library hosts it: how an operation is handed to the role
/// (one step of the Actor), and what it has been answered so far.
pub trait ClientRole: Actor + Send + Sized + 'static {
    /// An operation of the replicated service.
    type Op: Send + 'static;
    /// Its reply.
    type Reply: Clone + Send + 'static;

    /// The reply to the request submitted with `ticket`, if it has come (`None` also if the
    /// state is not a client's).
    fn reply(state: &Self::State, ticket: usize) -> Option<&Self::Reply>;

    /// Whether the cluster said the client's session expired (it sends nothing more).
    fn expired(_state: &Self::State) -> bool {
        false
    }

    /// The step that sends `op` as the client's next request, with the request's ticket (the
    /// key [`ClientRole::reply`] finds its reply by); `None` if the role takes no request now
    /// (its window is full, or its session expired).
    fn submit(
        &self, state: &Self::State, op: Self::Op, o: &mut Out<Self>,
    ) -> Option<(Self::State, usize)>;
}

/// Implements [`ClientRole`] for a protocol's `Node<S>` (with its `NodeState<S>`) whose client
/// role has `submit(state, op, out)`, one request outstanding at a time, and keeps its `replies`
/// in order (so a request's ticket is the number of replies before it); optionally with how a
/// client state says its session expired.
macro_rules! client_role {
    ($node:ident, $state:ident) => {
        $crate::runtime::client::client_role!($node, $state, |_| false);
    };
    ($node:ident, $state:ident, $expired:expr) => {
        impl<S: $crate::models::services::Service> $crate::runtime::client::ClientRole
            for $node<S>
        {
            type Op = S::Op;
            type Reply = S::Reply;

            fn reply(state: &$state<S>, ticket: usize) -> Option<&S::Reply> {
                match state {
                    $state::Client(c) => c.replies.get(ticket),
                    _ => None,
                }
            }

            fn expired(state: &$state<S>) -> bool {
                match state {
                    $state::Client(c) => ($expired)(c),
                    _ => false,
                }
            }

            fn submit(
                &self, state: &$state<S>, op: S::Op,
                o: &mut $crate::models::stateright::actor::Out<Self>,
            ) -> Option<($state<S>, usize)> {
                match (self, state) {
                    ($node::Client(c), $state::Client(st)) => {
                        c.submit(st, op, o).map(|n| ($state::Client(n), st.replies.len()))
                    }
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use client_role;

/// One client session of a linear-2PC cluster.
pub type Session<S> = HostedSession<twosafe_models::linear_2pc::Node<S>>;

/// One client session of any protocol's client role: `submit` may be called again before an
/// earlier call has its reply, up to the role's window (beyond it: [`ClientError::Busy`]).
pub struct HostedSession<A: ClientRole> {
    id: usize,
    events: mpsc::Sender<Event<A>>,
    pending: Pending<A::Reply>,
    expired: Arc<AtomicBool>,
    deadline: Duration,
}

/// Opens a session of client id `id` (one of `cfg`'s) to the cluster, running protocol `P`'s
/// client role. Must be called inside a tokio runtime.
///
/// The session's number is the wall clock in microseconds: one no earlier session of this
/// client id has (clocks permitting: a session behind an earlier one's is refused with
/// [`ClientError::Expired`], never answered wrongly).
pub fn open<P: Binding, S: Service>(
    cfg: &ClusterConfig, id: usize,
) -> Result<HostedSession<NodeOf<P, S>>, ClientError> {
    open_windowed::<P, S>(cfg, id, 1)
}

/// Opens a session of client id `id` with up to `window` requests outstanding at once (capped
/// by the protocol's [`Binding::session_window`]; [`open`] opens one of window 1).
pub fn open_windowed<P: Binding, S: Service>(
    cfg: &ClusterConfig, id: usize, window: usize,
) -> Result<HostedSession<NodeOf<P, S>>, ClientError> {
    open_session::<P, S>(cfg, id, crate::runtime::conform::now_us(), window)
}

/// Opens session number `session` of client id `id` with up to `window` requests outstanding
/// ([`open`] takes the clock).
pub fn open_session<P: Binding, S: Service>(
    cfg: &ClusterConfig, id: usize, session: u64, window: usize,
) -> Result<HostedSession<NodeOf<P, S>>, ClientError> {
    let place = placement(cfg, id);
    let index = id.saturating_sub(place.clients.start);
    let deadline =
        Duration::from_millis(cfg.resend_ms.saturating_mul(100)).max(Duration::from_secs(10));
    let window = window.clamp(1, P::session_window());
    HostedSession::start(P::client::<S>(cfg, index, session, window), &place, deadline)
}

impl<S: Service> HostedSession<twosafe_models::linear_2pc::Node<S>> {
    /// Opens linear-2PC session `id` ([`open`]).
    pub fn open(cfg: &ClusterConfig, id: usize) -> Result<Session<S>, ClientError> {
        open::<crate::runtime::binding::linear_2pc::Linear2pc, S>(cfg, id)
    }

    /// Opens session number `session` of linear-2PC client id `id` ([`open_session`]).
    pub fn open_session(
        cfg: &ClusterConfig, id: usize, session: u64,
    ) -> Result<Session<S>, ClientError> {
        open_session::<crate::runtime::binding::linear_2pc::Linear2pc, S>(cfg, id, session, 1)
    }
}

impl<A> HostedSession<A>
where
    A: ClientRole,
    A::Msg: Serialize + DeserializeOwned + Send + 'static,
    A::Timer: Serialize + Send + 'static,
    A::State: Send,
    A::Storage: Journaled + Send,
{
    /// Starts the client role `actor` as node `place.id` (one of `place.clients`); a request
    /// without a reply after `deadline` fails. Must be called inside a tokio runtime.
    pub fn start(actor: A, place: &Placement, deadline: Duration) -> Result<Self, ClientError> {
        let id = place.id;
        if !place.clients.contains(&id) {
            return Err(ClientError::UnknownId {
                id,
                first: place.clients.start,
                end: place.clients.end,
            });
        }
        let pending: Pending<A::Reply> = Arc::default();
        let expired = Arc::new(AtomicBool::new(false));
        let (p, gone) = (pending.clone(), expired.clone());
        let observer = Box::new(move |s: &A::State| {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            let answered: Vec<usize> =
                p.keys().copied().filter(|k| A::reply(s, *k).is_some()).collect();
            for k in answered {
                if let (Some(w), Some(r)) = (p.remove(&k), A::reply(s, k)) {
                    let _ = w.send(Ok(r.clone()));
                }
            }
            if A::expired(s) {
                gone.store(true, Ordering::Relaxed);
                for (_, w) in std::mem::take(&mut *p) {
                    let _ = w.send(Err(ClientError::Expired(id)));
                }
            }
        });
        let setup = Setup { observer: Some(observer), ..Setup::default() };
        let (host, events, rx) =
            Host::start(actor, place, setup).map_err(|_| ClientError::Stopped)?;
        tokio::spawn(host.run(rx));
        Ok(HostedSession { id, events, pending, expired, deadline })
    }

    /// This session's client id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Sends `op` and waits for its reply (resent and redirected as the protocol says). May be
    /// called again before an earlier call returns, up to the session's window; beyond it, or
    /// while a request that timed out is still outstanding in a window of one,
    /// [`ClientError::Busy`].
    pub async fn submit(&self, op: A::Op) -> Result<A::Reply, ClientError> {
        if self.expired.load(Ordering::Relaxed) {
            return Err(ClientError::Expired(self.id));
        }
        let (tx, rx) = oneshot::channel();
        let (pending, id) = (self.pending.clone(), self.id);
        // The role numbers the request; its waiter is registered in the same step, before any
        // reply to it can be observed.
        let call: Call<A> =
            Box::new(move |a: &A, s: &A::State, o: &mut Out<A>| match a.submit(s, op, o) {
                Some((n, ticket)) => {
                    pending.lock().unwrap_or_else(|e| e.into_inner()).insert(ticket, tx);
                    Some(n)
                }
                None => {
                    let refused =
                        if A::expired(s) { ClientError::Expired(id) } else { ClientError::Busy };
                    let _ = tx.send(Err(refused));
                    None
                }
            });
        self.events.send(Event::Call(call)).await.map_err(|_| ClientError::Stopped)?;
        match tokio::time::timeout(self.deadline, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(ClientError::Stopped),
            Err(_) => {
                // Its receiver is gone: forget the waiter (the request stays outstanding in
                // the role, which may still resend it).
                let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                p.retain(|_, w| !w.is_closed());
                Err(ClientError::Timeout(self.deadline))
            }
        }
    }

    /// Stops the session.
    pub async fn close(&self) {
        let _ = self.events.send(Event::Stop).await;
    }
}
