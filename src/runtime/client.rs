//! The client library: a session is one instance of the model's client role (seed 000 §3.1:
//! a client id, request sequence numbers, resends on a timer, redirection to a new primary)
//! hosted like any node, with `submit(op) -> reply` on top. A pipelined client is a window of
//! sessions with distinct client ids, each with one request outstanding.

use crate::runtime::config::ClusterConfig;
use crate::runtime::host::{Event, Host, Setup};
use crate::runtime::node::placement;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use twosafe_models::linear_2pc::client::Client;
use twosafe_models::linear_2pc::model::{Node, NodeState};
use twosafe_models::service::Service;

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

type Pending<R> = Arc<Mutex<Option<oneshot::Sender<R>>>>;

/// One client session (one request outstanding at a time).
pub struct Session<S: Service> {
    id: usize,
    events: mpsc::Sender<Event<Node<S>>>,
    pending: Pending<S::Reply>,
    deadline: Duration,
}

impl<S: Service> Session<S> {
    /// Opens session `id` (a client id of `cfg`) to the cluster; `index` is its number in the
    /// workload. Must be called inside a tokio runtime.
    pub fn open(cfg: &ClusterConfig, id: usize) -> Result<Session<S>, ClientError> {
        let place = placement(cfg, id);
        if !place.clients.contains(&id) {
            return Err(ClientError::UnknownId {
                id,
                first: place.clients.start,
                end: place.clients.end,
            });
        }
        let pending: Pending<S::Reply> = Arc::default();
        let seen = Arc::new(Mutex::new(0usize));
        let p = pending.clone();
        let observer = Box::new(move |s: &NodeState<S>| {
            if let NodeState::Client(c) = s {
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                if c.replies.len() > *seen {
                    *seen = c.replies.len();
                    let waiter = p.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let (Some(w), Some(r)) = (waiter, c.replies.back()) {
                        let _ = w.send(r.clone());
                    }
                }
            }
        });
        let actor = Node::<S>::Client(Client::new(cfg.model_config(), id - place.clients.start));
        let setup = Setup {
            observer: Some(observer),
            ..Setup::default()
        };
        let (host, events, rx) =
            Host::start(actor, &place, setup).map_err(|_| ClientError::Stopped)?;
        tokio::spawn(host.run(rx));
        Ok(Session {
            id,
            events,
            pending,
            deadline: Duration::from_millis(cfg.resend_ms.saturating_mul(100))
                .max(Duration::from_secs(10)),
        })
    }

    /// This session's client id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Sends `op` and waits for its reply (resent and redirected as the protocol says).
    pub async fn submit(&self, op: S::Op) -> Result<S::Reply, ClientError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if p.is_some() {
                return Err(ClientError::Busy);
            }
            *p = Some(tx);
        }
        let call = Box::new(
            move |a: &Node<S>, s: &NodeState<S>, o: &mut _| match (a, s) {
                (Node::Client(c), NodeState::Client(st)) => {
                    c.submit(st, op, o).map(NodeState::Client)
                }
                _ => None,
            },
        );
        self.events
            .send(Event::Call(call))
            .await
            .map_err(|_| ClientError::Stopped)?;
        match tokio::time::timeout(self.deadline, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(ClientError::Stopped),
            Err(_) => {
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                Err(ClientError::Timeout(self.deadline))
            }
        }
    }

    /// Stops the session.
    pub async fn close(self) {
        let _ = self.events.send(Event::Stop).await;
    }
}
