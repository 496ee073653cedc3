//! A server as a process (`twosafe node`): the server actor of the cluster file's protocol (its
//! [`Binding`]) hosted on a TCP listener and a journal. This file says where the node listens
//! and what it starts from — its formatted journal, or, when that is damaged or lost and the
//! protocol has a way to rebuild it, the binding's learner (`--rejoin`; linear 2PC's storage
//! faults). Nothing here decides anything the protocol decides.

use crate::runtime::binding::{Binding, StorageOf};
use crate::runtime::config::ClusterConfig;
use crate::runtime::conform::{self, ConformError, TraceWriter};
use crate::runtime::connections::{BindError, Placement};
use crate::runtime::host::{Event, Host, Setup, Stats};
use crate::runtime::journal::{self, Journal, JournalError};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpListener;
use tracing::{info, warn};
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
    /// The node's storage is missing, damaged or another node's: it does not start from it.
    #[error(
        "node {id} will not start: {source}; to rebuild its storage from its peer, start it \
         once with --rejoin{hint}"
    )]
    Refused {
        /// The node.
        id: usize,
        /// What is wrong with its journal.
        source: JournalError,
        /// What else may be meant.
        hint: &'static str,
    },
    /// `--rejoin` of a node whose journal is healthy: it may hold the only copy of updates
    /// acknowledged to clients (a primary that ran alone), so it is not set aside unasked.
    #[error(
        "node {id}'s journal is healthy ({what}) and may hold the only copy of acknowledged \
         updates: start it without --rejoin (it recovers from its journal by itself), or add \
         --force to set the journal aside and rejoin as a learner anyway"
    )]
    Healthy {
        /// The node.
        id: usize,
        /// What its journal holds.
        what: String,
    },
    /// `--rejoin` for a protocol with no checked way to rebuild a node from its peer.
    #[error(
        "node {id} cannot rejoin: {protocol} has no checked way to rebuild a node's storage \
         from its peer yet; restore its journal, or start a new cluster"
    )]
    NoRejoin {
        /// The node.
        id: usize,
        /// The protocol.
        protocol: &'static str,
    },
    /// A restart of a node whose protocol keeps its state in memory only.
    #[error(
        "node {id} ran {protocol}'s primary, which keeps its state in memory only (the model \
         never fails it), and has started before ({marker}): a restart would serve from \
         nothing and lose every acknowledged update; start a new cluster in fresh data \
         directories"
    )]
    Volatile {
        /// The node.
        id: usize,
        /// The protocol.
        protocol: &'static str,
        /// The file that says it started.
        marker: String,
    },
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

/// Node `id`'s place in cluster `cfg`.
pub fn placement(cfg: &ClusterConfig, id: usize) -> Placement {
    let servers = cfg.servers();
    Placement {
        cluster: cfg.cluster.clone(),
        protocol: cfg.protocol.name().into(),
        id,
        servers: cfg.node.iter().map(|n| n.addr).collect(),
        clients: servers..servers + cfg.clients,
        isolated: None,
        limits: cfg.limits(),
        secret: cfg.secret().into(),
    }
}

/// Runs node `id` of `cfg` until `stop` completes (or the journal fails).
/// Records its steps to `trace` (JSON lines, appended) if given. Started with a rejoin, the
/// node's journal (damaged, or missing) is first moved aside and replaced by a learner's
/// ([`StartFrom`]).
pub async fn serve(
    cfg: &ClusterConfig, id: usize, trace: Option<&Path>, from: StartFrom,
    stop: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    crate::with_hosted!(cfg.protocol, cfg.service, P, S =>
        serve_service::<P, S>(cfg, id, trace, from, stop).await)
}

/// Writes the first journal of each node in `ids` (its identity only: a first start);
/// refuses a node whose journal exists. Returns the journals written.
pub fn format(
    cfg: &ClusterConfig, ids: impl IntoIterator<Item = usize>,
) -> Result<Vec<PathBuf>, NodeError> {
    let mut written = Vec::new();
    for id in ids {
        let node = cfg.node.get(id).ok_or(NodeError::UnknownId { id, count: cfg.servers() })?;
        journal::format(&node.data, &cfg.identity(id))?;
        written.push(journal::path(&node.data));
    }
    Ok(written)
}

/// A new incarnation for a node that lost its storage: random, never 0 (a node's first).
fn new_incarnation() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Without the OS generator: the process's random hash keys, the clock and the pid.
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        h.write_u128(now.map(|d| d.as_nanos()).unwrap_or(0));
        h.write_u32(std::process::id());
        bytes = h.finish().to_le_bytes();
    }
    u64::from_le_bytes(bytes).max(1)
}

/// What a node that lost its storage starts from: the binding's learner with a new
/// incarnation; an error if the protocol has none.
fn learner<P: Binding, S: Service>(
    cfg: &ClusterConfig, id: usize,
) -> Result<StorageOf<P, S>, NodeError> {
    P::learner::<S>(cfg, new_incarnation()).ok_or(NodeError::NoRejoin { id, protocol: P::NAME })
}

/// How a node starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartFrom {
    /// Its journal (a torn final record cut; anything else wrong and it refuses).
    Journal,
    /// `--rejoin`: as a learner, its journal set aside, if the journal is missing, damaged, or
    /// holds nothing saved yet; a healthy journal is refused ([`NodeError::Healthy`]).
    Rejoin,
    /// `--rejoin --force`: as a learner, whatever its journal holds.
    RejoinForced,
}

/// `--rejoin`: node `id`'s journal is moved aside (kept for a post mortem) and replaced by a
/// learner's, which asks the primary to catch it up in a new epoch; unless `forced`, only if
/// the journal could not be started from.
fn rejoin<P: Binding, S: Service>(
    cfg: &ClusterConfig, id: usize, data: &Path, forced: bool,
) -> Result<(), NodeError> {
    let first = learner::<P, S>(cfg, id)?;
    if !forced {
        if let Ok(bytes) = std::fs::read(journal::path(data)) {
            let found = journal::recover::<StorageOf<P, S>>(&bytes, &cfg.identity(id));
            if let Ok(journal::Recovered { value: Some(d), .. }) = found {
                return Err(NodeError::Healthy { id, what: P::describe::<S>(&d) });
            }
        }
    }
    let aside = journal::replace(data, &cfg.identity(id), &first)?;
    warn!(
        "node {id} rejoins as {}{}",
        P::describe::<S>(&first),
        match aside {
            Some(p) => format!("; its old journal is kept as {}", p.display()),
            None => String::new(),
        }
    );
    Ok(())
}

type Opened<P, S> = (Journal<StorageOf<P, S>>, Option<StorageOf<P, S>>);

/// Opens node `id`'s journal; a journal whose final record was torn restarts the node as a
/// learner when the binding says its peer holds everything it acknowledged
/// ([`Binding::torn_tail_rejoins`]), and from what is left otherwise.
fn open<P: Binding, S: Service>(
    cfg: &ClusterConfig, id: usize, data: &Path,
) -> Result<Opened<P, S>, NodeError> {
    let opened = Journal::<StorageOf<P, S>>::open(data, cfg.durability, &cfg.identity(id));
    let (mut journal, storage, rec) = opened.map_err(|source| match source {
        JournalError::Io { .. } => NodeError::Journal(source),
        JournalError::Missing { .. } => NodeError::Refused {
            id,
            source,
            hint: " (for a new cluster, run `twosafe format` first)",
        },
        source => NodeError::Refused { id, source, hint: "" },
    })?;
    info!("node {id}: {} journal records; durability {:?}", rec.records, cfg.durability);
    let storage = match storage {
        Some(d) if rec.cut > 0 && P::torn_tail_rejoins::<S>(&d) => {
            let l = learner::<P, S>(cfg, id)?;
            warn!(
                "node {id}: a torn final record of {} bytes cut; as {} it may have \
                 acknowledged it, so it restarts as {}",
                rec.cut,
                P::describe::<S>(&d),
                P::describe::<S>(&l)
            );
            journal.save(&l);
            journal.commit()?;
            Some(l)
        }
        s => {
            if rec.cut > 0 {
                warn!(
                    "node {id}: a torn final record of {} bytes cut (never acknowledged)",
                    rec.cut
                );
            }
            s
        }
    };
    Ok((journal, storage))
}

/// The file in a volatile node's data directory that says it has started.
pub const STARTED: &str = "started-in-memory";

/// Refuses a second start of volatile node `id` ([`Binding::volatile`]); marks its first.
fn started_once<P: Binding>(id: usize, data: &Path) -> Result<(), NodeError> {
    let marker = data.join(STARTED);
    if marker.exists() {
        return Err(NodeError::Volatile {
            id,
            protocol: P::NAME,
            marker: marker.display().to_string(),
        });
    }
    let text = format!(
        "node {id} ({}) keeps its state in memory only: it does not restart from this directory\n",
        P::NAME
    );
    std::fs::write(&marker, text)
        .map_err(|source| NodeError::Journal(JournalError::Io { path: marker, source }))
}

/// Checks that the traces recorded by nodes of `cfg` are steps of the model's server role.
/// Returns the steps checked per trace.
pub fn conform(cfg: &ClusterConfig, traces: &[PathBuf]) -> Result<Vec<usize>, ConformError> {
    fn each<P: Binding, S: Service>(
        cfg: &ClusterConfig, traces: &[PathBuf],
    ) -> Result<Vec<usize>, ConformError> {
        // Each trace starts with the node's id, which says which role it runs.
        traces.iter().map(|t| conform::conform(|id| P::server::<S>(cfg, id), t)).collect()
    }
    crate::with_hosted!(cfg.protocol, cfg.service, P, S => each::<P, S>(cfg, traces))
}

async fn serve_service<P: Binding, S: Service>(
    cfg: &ClusterConfig, id: usize, trace: Option<&Path>, from: StartFrom,
    stop: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let node = cfg.node.get(id).ok_or(NodeError::UnknownId { id, count: cfg.servers() })?;
    let listener = TcpListener::bind(node.addr).await.map_err(BindError::at(node.addr))?;
    if from != StartFrom::Journal {
        rejoin::<P, S>(cfg, id, &node.data, from == StartFrom::RejoinForced)?;
    }
    let (journal, storage) = open::<P, S>(cfg, id, &node.data)?;
    if P::volatile(id) {
        started_once::<P>(id, &node.data)?;
    }
    info!("node {id} on {}", node.addr);
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
    let actor = P::server::<S>(cfg, id);
    let trace = match trace {
        Some(p) => Some(
            TraceWriter::open(p)
                .map_err(|source| NodeError::Trace { path: p.to_owned(), source })?,
        ),
        None => None,
    };
    let setup = Setup { journal: Some(journal), storage, observer: P::report::<S>(id), trace };
    let (host, tx, rx) = Host::start(actor, &place, setup)?;
    host.listen(listener, place, P::admit::<S>);
    let run = host.run(rx);
    tokio::pin!(run);
    let (_, stats) = tokio::select! {
        r = &mut run => r?,
        _ = stop => {
            let _ = tx.send(Event::Stop).await;
            run.await?
        }
    };
    write_stats(id, &node.data, stats);
    Ok(())
}

/// What a stopped node did, as `stats.json` in its data directory: its core's counts and its
/// connections' frames and flushes (`twosafe bench` reads it after a graceful stop).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct NodeStats {
    /// The core's counts.
    #[serde(flatten)]
    pub core: Stats,
    /// Frames written to connections.
    pub frames_out: u64,
    /// Flushes of coalesced frames (each about one `write`).
    pub flushes: u64,
}

/// Where a node's [`NodeStats`] go.
pub fn stats_path(data: &Path) -> PathBuf {
    data.join("stats.json")
}

fn write_stats(id: usize, data: &Path, core: Stats) {
    let (frames_out, flushes) = crate::runtime::connections::written();
    let stats = NodeStats { core, frames_out, flushes };
    info!("node {id} stopped: {stats:?}");
    let text = serde_json::to_string(&stats).unwrap_or_default();
    if let Err(e) = std::fs::write(stats_path(data), text) {
        warn!("cannot write {}: {e}", stats_path(data).display());
    }
}
