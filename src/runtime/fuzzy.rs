//! The fuzzy-copy protocol hosted for real (the logical-checkpointing patent "new backup"; Hvasshovd et al. (ClustRa) §4, fuzzy replica
//! production and catch-up from the log): the model's primary, new backup and clients
//! (`twosafe_models::fuzzy_copy`) as nodes of the generic [`Host`] on loopback TCP. Each server
//! runs on its own thread with its own event loop (as a `twosafe node` process runs one); the
//! backup saves into a journal (write-ahead, group commit), the primary keeps its state in
//! memory as the model says. `twosafe bench catchup` drives it.
//!
//! The protocol's binding ([`FuzzyCopy`]) says which messages a client may send and how the
//! model is configured; this file runs its roles on threads of one process and lets the caller
//! observe the servers' states. It decides nothing the protocol decides.

use crate::runtime::binding::fuzzy_copy::{self, FuzzyCopy};
use crate::runtime::binding::Binding;
use crate::runtime::client::{ClientError, HostedSession};
use crate::runtime::config::Durability;
use crate::runtime::connections::{BindError, Limits, Placement};
use crate::runtime::host::{Event, Host, HostError, Observer, Setup};
use crate::runtime::journal::{self, Identity, Journal, JournalError};
use std::net::SocketAddr;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::oneshot;
use twosafe_models::fuzzy_copy::backup::Backup;
use twosafe_models::fuzzy_copy::client::Client;
use twosafe_models::fuzzy_copy::primary::Primary;
use twosafe_models::fuzzy_copy::{Config, Node, NodeState, NAME};
use twosafe_models::journaled::Journaled;
use twosafe_models::services::Service;

/// Why a fuzzy-copy server could not start or stopped on an error.
#[derive(Debug, Error)]
pub enum FuzzyError {
    /// The address could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The journal could not be opened or written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The event loop stopped on an error.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The server's thread could not be started or ended abnormally.
    #[error("server thread: {0}")]
    Thread(String),
}

/// The model configuration the hosted roles run with: the binding's
/// ([`fuzzy_copy::model_config_with`]), with a history table of `table` log entries and
/// `batch` objects per copy message and log entries per replay message.
pub fn model_config(table: usize, batch: usize) -> Config {
    fuzzy_copy::model_config_with(0, table, batch, RESEND)
}

/// How long a client waits before it resends (the primary drops a request while an update
/// awaits the backup's ack or intake is paused).
const RESEND: Duration = Duration::from_millis(100);

/// Node `id` of a fuzzy-copy cluster whose servers (primary, backup) listen on `servers` and
/// whose client ids are `2 .. 2 + clients`.
pub fn placement(servers: [SocketAddr; 2], id: usize, clients: usize) -> Placement {
    Placement {
        cluster: "catchup".into(),
        protocol: NAME.into(),
        id,
        servers: servers.to_vec(),
        clients: 2..2 + clients,
        isolated: None,
        limits: Limits::default(),
        secret: crate::runtime::auth::process_secret(),
    }
}

/// A server running on its own thread; [`Server::stop`] ends it and returns its last state.
pub struct Server<S: Service> {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<NodeState<S>, FuzzyError>>>,
}

/// Which server.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Role {
    /// Node 0: serves clients and builds the backup.
    Primary,
    /// Node 1: the new backup, with a journal.
    Backup,
}

impl<S> Server<S>
where
    S: Service + Journaled + Send,
    S::Key: serde::Serialize + serde::de::DeserializeOwned + Send,
    S::Object: serde::de::DeserializeOwned,
{
    /// Starts `role` of `place` (`place.id` is 0 for the primary, 1 for the backup) with
    /// model configuration `cfg`; the backup journals into `data` with `durability`.
    /// `observer` sees the state after every step that changed it. Returns once the server
    /// has taken its first step and accepts connections.
    pub fn start(
        role: Role, place: Placement, cfg: Config, data: &Path, durability: Durability,
        observer: Option<Observer<Node<S>>>,
    ) -> Result<Self, FuzzyError> {
        let addr = place.servers[place.id];
        let listener = std::net::TcpListener::bind(addr).map_err(BindError::at(addr))?;
        listener.set_nonblocking(true).map_err(BindError::at(addr))?;
        let (journal, storage) = match role {
            Role::Backup => {
                let me = Identity {
                    format: journal::FORMAT,
                    cluster: place.cluster.clone(),
                    protocol: place.protocol.clone(),
                    service: std::any::type_name::<S>().into(),
                    node: place.id as u32,
                };
                if !journal::exists(data) {
                    journal::format(data, &me)?;
                }
                let (j, storage, _) = Journal::open(data, durability, &me)?;
                (Some(j), storage)
            }
            Role::Primary => (None, None),
        };
        let actor = match role {
            Role::Primary => Node::Primary(Primary::new(cfg)),
            Role::Backup => Node::Backup(Backup::new(cfg)),
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let name = format!("fuzzy-{}", place.id);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| FuzzyError::Thread(e.to_string()))?;
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).map_err(BindError::at(addr))?;
                    let setup = Setup { journal, storage, observer, trace: None };
                    let (host, tx, rx) = Host::start(actor, &place, setup)?;
                    host.listen(listener, place, FuzzyCopy::admit::<S>);
                    let _ = ready_tx.send(());
                    let run = host.run(rx);
                    tokio::pin!(run);
                    tokio::select! {
                        r = &mut run => Ok(r?.0),
                        _ = stop_rx => {
                            let _ = tx.send(Event::Stop).await;
                            Ok(run.await?.0)
                        }
                    }
                })
            })
            .map_err(|e| FuzzyError::Thread(e.to_string()))?;
        let mut server = Server { stop: Some(stop_tx), thread: Some(thread) };
        // Started (the Actor's first step taken, its listener accepting) or failed.
        if ready_rx.recv().is_err() {
            return match server.halt() {
                Err(e) => Err(e),
                Ok(_) => Err(FuzzyError::Thread("stopped before it was ready".into())),
            };
        }
        Ok(server)
    }

    /// Stops the server and returns its last state.
    pub fn stop(mut self) -> Result<NodeState<S>, FuzzyError> {
        self.halt()
    }

    fn halt(&mut self) -> Result<NodeState<S>, FuzzyError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| FuzzyError::Thread("panicked".into()))?,
            None => Err(FuzzyError::Thread("already stopped".into())),
        }
    }
}

impl<S: Service> Drop for Server<S> {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A client session of a fuzzy-copy cluster.
pub type FuzzySession<S> = HostedSession<Node<S>>;

/// Opens client session `id` (one of `place.clients`) with model configuration `cfg`. Must be
/// called inside a tokio runtime.
pub fn session<S>(place: &Placement, cfg: Config) -> Result<FuzzySession<S>, ClientError>
where
    S: Service + Journaled + Send,
    S::Key: serde::Serialize + serde::de::DeserializeOwned + Send,
    S::Object: serde::de::DeserializeOwned,
{
    let index = place.id.saturating_sub(place.clients.start);
    let session = crate::runtime::conform::now_us();
    let client = Node::Client(Client::in_session(cfg, index, session));
    HostedSession::start(client, place, Duration::from_secs(60))
}
