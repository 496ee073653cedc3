//! A linear-2PC server as a process (`twosafe node`): the model's `Server` role (Hagen & Alonso (OPERA)
//! §3.1, with the I-am-alive failure detection of Hvasshovd et al. (ClustRa) §3.3) hosted on a TCP listener and a
//! journal. This file binds the protocol to the host: which actor, which messages a client may
//! send, where it listens. Nothing here decides anything the protocol decides.

use crate::runtime::config::ClusterConfig;
use crate::runtime::conform::{self, ConformError, TraceWriter};
use crate::runtime::connections::{BindError, Placement};
use crate::runtime::host::{Event, Host, Setup};
use crate::runtime::journal::{Journal, JournalError};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpListener;
use tracing::info;
use twosafe_models::linear_2pc::msg::Msg;
use twosafe_models::linear_2pc::server::Server;
use twosafe_models::linear_2pc::Node;
use twosafe_models::services::Service;

/// Why a node could not start or had to stop.
#[derive(Debug, Error)]
pub enum NodeError {
    /// `--id` names no node of the configuration.
    #[error("node id {id} is not in the configuration (it has nodes 0..{count})")]
    UnknownId {
        /// The id asked for.
        id: usize,
        /// How many nodes the configuration has.
        count: usize,
    },
    /// The node's address could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The journal could not be opened or written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The trace file could not be opened.
    #[error("cannot write the trace {path}: {source}")]
    Trace {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The event loop stopped on an error.
    #[error(transparent)]
    Host(#[from] crate::runtime::host::HostError),
}

/// Which messages a node takes from a client: requests only.
pub fn admit<S: Service>(from_server: bool, m: &Msg<S::Op, S::Reply>) -> bool {
    from_server || matches!(m, Msg::Request { .. })
}

/// Node `id`'s place in cluster `cfg`.
pub fn placement(cfg: &ClusterConfig, id: usize) -> Placement {
    let servers = cfg.servers();
    Placement {
        cluster: cfg.cluster.clone(),
        protocol: cfg.protocol.clone(),
        id,
        servers: cfg.node.iter().map(|n| n.addr).collect(),
        clients: servers..servers + cfg.clients,
        isolated: None,
        limits: cfg.limits(),
    }
}

/// Runs node `id` of `cfg` until `stop` completes (or the journal fails).
/// Records its steps to `trace` (JSON lines, appended) if given.
pub async fn serve(
    cfg: &ClusterConfig, id: usize, trace: Option<&Path>, stop: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    crate::with_service!(cfg.service, S => serve_service::<S>(cfg, id, trace, stop).await)
}

/// Checks that the traces recorded by nodes of `cfg` are steps of the model's server role.
/// Returns the steps checked per trace.
pub fn conform(cfg: &ClusterConfig, traces: &[PathBuf]) -> Result<Vec<usize>, ConformError> {
    fn each<S: Service>(
        cfg: &ClusterConfig, traces: &[PathBuf],
    ) -> Result<Vec<usize>, ConformError> {
        let actor = Node::<S>::Server(Server::new(cfg.model_config()));
        traces.iter().map(|t| conform::conform(&actor, t)).collect()
    }
    crate::with_service!(cfg.service, S => each::<S>(cfg, traces))
}

async fn serve_service<S: Service>(
    cfg: &ClusterConfig, id: usize, trace: Option<&Path>, stop: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let node = cfg.node.get(id).ok_or(NodeError::UnknownId { id, count: cfg.servers() })?;
    let listener = TcpListener::bind(node.addr).await.map_err(BindError::at(node.addr))?;
    let (journal, storage, rec) = Journal::open(&node.data, cfg.durability)?;
    info!(
        "node {id} on {} ({} journal records{}; durability {:?})",
        node.addr,
        rec.records,
        if rec.cut > 0 { format!(", torn tail of {} bytes cut", rec.cut) } else { String::new() },
        cfg.durability
    );
    let mut place = placement(cfg, id);
    // SIGUSR1 cuts the node off for `partition_ms` (fault injection for `twosafe chaos`).
    let (iso_tx, iso_rx) = tokio::sync::watch::channel(false);
    place.isolated = Some(iso_rx);
    let partition = Duration::from_millis(cfg.partition_ms);
    if let Ok(mut usr1) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
    {
        tokio::spawn(async move {
            while usr1.recv().await.is_some() {
                info!("SIGUSR1: cut off for {partition:?}");
                let _ = iso_tx.send(true);
                tokio::time::sleep(partition).await;
                let _ = iso_tx.send(false);
                info!("reconnecting");
            }
        });
    }
    let actor = Node::<S>::Server(Server::new(cfg.model_config()));
    let trace = match trace {
        Some(p) => Some(
            TraceWriter::open(p)
                .map_err(|source| NodeError::Trace { path: p.to_owned(), source })?,
        ),
        None => None,
    };
    let setup = Setup { journal: Some(journal), storage, observer: None, trace };
    let (host, tx, rx) = Host::start(actor, &place, setup)?;
    host.listen(listener, place, admit::<S>);
    let run = host.run(rx);
    tokio::pin!(run);
    tokio::select! {
        r = &mut run => { r?; }
        _ = stop => {
            let _ = tx.send(Event::Stop).await;
            run.await?;
        }
    }
    Ok(())
}
