//! The client library: a session is one instance of a protocol's client role (the binding's,
//! [`Binding::client`]; linear 2PC's, Hagen & Alonso (OPERA) §3.1: a client id, request sequence
//! numbers, resends on a timer, redirection to a new primary; or the fuzzy copy's,
//! [`crate::runtime::fuzzy`]) hosted like any node, with `submit(op) -> reply` on top. A pipelined client is a window of sessions with distinct
//! client ids, each with one request outstanding.
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
    /// A request is already outstanding on this session.
    #[error("a request is already outstanding on this session")]
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

type Pending<R> = Arc<Mutex<Option<oneshot::Sender<Result<R, ClientError>>>>>;

/// A protocol's client role as the library hosts it: how an operation is handed to the role
/// (one step of the Actor), and what it has been answered so far.
pub trait ClientRole: Actor + Send + Sized + 'static {
    /// An operation of the replicated service.
    type Op: Send + 'static;
    /// Its reply.
    type Reply: Clone + Send + 'static;

    /// How many requests the client has been answered, and the last reply (`None` if the
    /// state is not a client's).
    fn answered(state: &Self::State) -> Option<(usize, Option<&Self::Reply>)>;

    /// Whether the cluster said the client's session expired (it sends nothing more).
    fn expired(_state: &Self::State) -> bool {
        false
    }

    /// The step that sends `op` as the client's next request.
    fn submit(&self, state: &Self::State, op: Self::Op, o: &mut Out<Self>) -> Option<Self::State>;
}

/// Implements [`ClientRole`] for a protocol's `Node<S>` (with its `NodeState<S>`) whose client
/// role has `submit(state, op, out)` and whose client state keeps its `replies` in order;
/// optionally with how a client state says its session expired.
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

            fn answered(state: &$state<S>) -> Option<(usize, Option<&S::Reply>)> {
                match state {
                    $state::Client(c) => Some((c.replies.len(), c.replies.back())),
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
            ) -> Option<$state<S>> {
                match (self, state) {
                    ($node::Client(c), $state::Client(st)) => {
                        c.submit(st, op, o).map($state::Client)
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

/// One client session (one request outstanding at a time) of any protocol's client role.
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
    open_session::<P, S>(cfg, id, crate::runtime::conform::now_us())
}

/// Opens session number `session` of client id `id` ([`open`] takes the clock).
pub fn open_session<P: Binding, S: Service>(
    cfg: &ClusterConfig, id: usize, session: u64,
) -> Result<HostedSession<NodeOf<P, S>>, ClientError> {
    let place = placement(cfg, id);
    let index = id.saturating_sub(place.clients.start);
    let deadline =
        Duration::from_millis(cfg.resend_ms.saturating_mul(100)).max(Duration::from_secs(10));
    HostedSession::start(P::client::<S>(cfg, index, session), &place, deadline)
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
        open_session::<crate::runtime::binding::linear_2pc::Linear2pc, S>(cfg, id, session)
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
        let seen = Arc::new(Mutex::new(0usize));
        let expired = Arc::new(AtomicBool::new(false));
        let (p, gone) = (pending.clone(), expired.clone());
        let observer = Box::new(move |s: &A::State| {
            if let Some((count, last)) = A::answered(s) {
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                if count > *seen {
                    *seen = count;
                    let waiter = p.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let (Some(w), Some(r)) = (waiter, last) {
                        let _ = w.send(Ok(r.clone()));
                    }
                } else if A::expired(s) {
                    gone.store(true, Ordering::Relaxed);
                    let waiter = p.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(w) = waiter {
                        let _ = w.send(Err(ClientError::Expired(id)));
                    }
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

    /// Sends `op` and waits for its reply (resent and redirected as the protocol says).
    pub async fn submit(&self, op: A::Op) -> Result<A::Reply, ClientError> {
        if self.expired.load(Ordering::Relaxed) {
            return Err(ClientError::Expired(self.id));
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if p.is_some() {
                return Err(ClientError::Busy);
            }
            *p = Some(tx);
        }
        let call: Call<A> = Box::new(move |a: &A, s: &A::State, o: &mut Out<A>| a.submit(s, op, o));
        self.events.send(Event::Call(call)).await.map_err(|_| ClientError::Stopped)?;
        match tokio::time::timeout(self.deadline, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(ClientError::Stopped),
            Err(_) => {
                self.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
                Err(ClientError::Timeout(self.deadline))
            }
        }
    }

    /// Stops the session.
    pub async fn close(self) {
        let _ = self.events.send(Event::Stop).await;
    }
}
