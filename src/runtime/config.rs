//! The cluster configuration (`cluster.toml`): which protocol and service, the servers'
//! addresses and data directories, the durability mode and the timers' durations.
//!
//! ```toml
//! cluster = "demo"
//! protocol = "linear-2pc"     # the protocols the runtime hosts: runtime::binding::Protocol
//! service = "counter"         # or "register", "tpcb"
//! level = "critical"          # hot standby; "important" = cold standby
//! durability = "fsync"        # or "memory"
//! clients = 64                # client ids 2..66 may connect
//! heartbeat_ms = 20
//! suspect_ms = 300
//! resend_ms = 200
//! partition_ms = 1000         # how long SIGUSR1 cuts a node off (fault injection)
//! buffers = 1                 # linear 2PC: change buffers in flight (1 = one step at a time)
//! silent_backup = "block"     # or "degrade": continue alone after degrade_after_ms
//! degrade_after_ms = 1000     # (proofs.md, "Degraded mode"; the backup then never takes over)
//! max_connections = 1024      # connections a server holds at once (more are refused)
//! client_idle_ms = 60000      # a client connection silent this long is closed
//! client_frame_bytes = 65536  # the largest frame a client may send
//! secret = "9f3c…"            # 64 hex digits: servers prove they hold it (`twosafe config`)
//!
//! [[node]]
//! addr = "127.0.0.1:7100"
//! data = "data/0"
//!
//! [[node]]
//! addr = "127.0.0.1:7101"
//! data = "data/1"
//! ```

pub use crate::runtime::binding::Protocol;
use crate::runtime::connections::Limits;
use crate::runtime::wire;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// A configuration that cannot be used, with the reason.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a cluster configuration.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
}

/// How a save is made durable (Hvasshovd et al. (ClustRa) §3: ClustRa logs to the neighbour's main memory).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Written to the operating system (survives the process, kill -9 included, not the
    /// machine): 2-safe because the change is in two nodes' memories before the reply.
    Memory,
    /// Forced to disk (`fdatasync`) before any message of the step leaves the node.
    Fsync,
}

/// The replicated application.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    /// A keyed counter: `Add(k, n)` returns the new value.
    Counter,
    /// A register: `Put(k, v)`, `Get(k)`.
    Register,
    /// TPC-B-like transactions: 3 updates and 1 insert each.
    Tpcb,
    /// The same bank updated row by row, one of a transaction's 4 rows per request (for
    /// protocol = "transactions", whose transactions group them).
    TpcbRows,
    /// OPERA's process images: INST, START, TERM.
    Opera,
}

/// Runs `$body` with `$S` the [`Service`](twosafe_models::services::Service) type that
/// `$kind` (a [`ServiceKind`]) names: the one place the runtime maps names to types.
#[macro_export]
macro_rules! with_service {
    ($kind:expr, $S:ident => $body:expr) => {
        match $kind {
            $crate::runtime::config::ServiceKind::Counter => {
                type $S = $crate::models::services::Counter;
                $body
            }
            $crate::runtime::config::ServiceKind::Register => {
                type $S = $crate::models::services::Register;
                $body
            }
            $crate::runtime::config::ServiceKind::Tpcb => {
                type $S = $crate::models::services::Bank;
                $body
            }
            $crate::runtime::config::ServiceKind::TpcbRows => {
                type $S = $crate::models::services::TpcbRows;
                $body
            }
            $crate::runtime::config::ServiceKind::Opera => {
                type $S = $crate::models::services::process::ProcessDb;
                $body
            }
        }
    };
}

/// One server of the cluster.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory (relative paths are relative to the configuration file).
    pub data: PathBuf,
}

/// The availability level of the process (Hagen & Alonso (OPERA) §3.1: critical, important, normal).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LevelKind {
    /// Hot standby.
    Critical,
    /// Cold standby.
    Important,
    /// No backup: one node.
    Normal,
}

fn default_heartbeat() -> u64 {
    20
}
fn default_suspect() -> u64 {
    300
}
fn default_resend() -> u64 {
    200
}
fn default_partition() -> u64 {
    1000
}
fn default_degrade_after() -> u64 {
    1000
}

/// What a primary does when its backup does not answer a step.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilentBackup {
    /// Wait for the backup (PostgreSQL's synchronous replication); the backup may take over
    /// when the primary falls silent.
    #[default]
    Block,
    /// After `degrade_after_ms`, fence the backup out with a durable new epoch and continue
    /// alone until it rejoins by catch-up (OPERA's degradation); the backup never takes over
    /// on its own, so a primary that is down stops the service until it restarts.
    Degrade,
}

impl std::str::FromStr for SilentBackup {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "block" => Ok(SilentBackup::Block),
            "degrade" => Ok(SilentBackup::Degrade),
            _ => Err(format!("{s:?}: expected block or degrade")),
        }
    }
}

fn default_clients() -> usize {
    64
}
fn default_buffers() -> usize {
    1
}
fn default_max_connections() -> usize {
    Limits::default().max_connections
}
fn default_client_idle() -> u64 {
    Limits::default().client_idle.as_millis() as u64
}
fn default_client_frame() -> usize {
    Limits::default().client_frame
}

/// The most change buffers a linear 2PC primary may keep in flight (`buffers`).
pub const MAX_BUFFERS: usize = 1024;

/// A cluster configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The cluster's name (checked in every handshake).
    pub cluster: String,
    /// The protocol (one the runtime hosts).
    pub protocol: Protocol,
    /// The replicated application.
    pub service: ServiceKind,
    /// Hot or cold standby.
    pub level: LevelKind,
    /// How saves are made durable.
    pub durability: Durability,
    /// How many client ids exist (ids `servers .. servers + clients`).
    #[serde(default = "default_clients")]
    pub clients: usize,
    /// The primary's I-am-alive period.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_ms: u64,
    /// How long the backup waits without an I-am-alive before it takes over.
    #[serde(default = "default_suspect")]
    pub suspect_ms: u64,
    /// How long a client waits before resending.
    #[serde(default = "default_resend")]
    pub resend_ms: u64,
    /// How long a node stays cut off after SIGUSR1 (fault injection: a partition).
    #[serde(default = "default_partition")]
    pub partition_ms: u64,
    /// Linear 2PC: how many change buffers (steps of different clients) the primary keeps in
    /// flight to its backup at once, committed and answered in order. 1 is OPERA's one step at
    /// a time; more pipelines the clients' requests, and one journal force and one ack carry
    /// as many as are waiting (the model is checked with 1, 2 and 3).
    #[serde(default = "default_buffers")]
    pub buffers: usize,
    /// What the primary does when its backup does not answer a step.
    #[serde(default)]
    pub silent_backup: SilentBackup,
    /// With `silent_backup = "degrade"`: how long the primary waits for the backup's answer to
    /// a step before it degrades.
    #[serde(default = "default_degrade_after")]
    pub degrade_after_ms: u64,
    /// Connections a server holds at once, its peers' included; more are refused.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A client connection with nothing received for this long is closed.
    #[serde(default = "default_client_idle")]
    pub client_idle_ms: u64,
    /// The largest frame a client may send (a server's may be up to the wire's limit).
    #[serde(default = "default_client_frame")]
    pub client_frame_bytes: usize,
    /// The cluster's secret (hex, at least 16 bytes): a server proves it holds it in every
    /// handshake with another server, so no one without it can pose as one. Clients do not
    /// need it. `twosafe config` writes a random one; keep the file private.
    #[serde(default)]
    pub secret: String,
    /// The servers: node 0 starts as primary, node 1 as backup.
    pub node: Vec<NodeConfig>,
}

impl ClusterConfig {
    /// Reads and validates `path`; relative data directories become relative to its folder.
    pub fn load(path: &Path) -> Result<ClusterConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// Parses and validates the text of cluster file `path` (named in errors; relative data
    /// directories become relative to its folder).
    pub fn parse(text: &str, path: &Path) -> Result<ClusterConfig, ConfigError> {
        let mut cfg: ClusterConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().and_then(|r| text.get(..r.start)).map(|t| t.lines().count().max(1));
            let what = e.message().trim().replace('\n', "; ");
            ConfigError::Parse {
                path: path.to_owned(),
                message: match line {
                    Some(l) => format!("line {l}: {what}"),
                    None => what,
                },
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for n in &mut cfg.node {
            if n.data.is_relative() {
                n.data = base.join(&n.data);
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Whose journal node `id`'s is: written by `twosafe format`, checked at every start.
    pub fn identity(&self, id: usize) -> crate::runtime::journal::Identity {
        crate::runtime::journal::Identity {
            format: crate::runtime::journal::FORMAT,
            cluster: self.cluster.clone(),
            protocol: self.protocol.name().into(),
            service: format!("{:?}", self.service).to_lowercase(),
            node: id as u32,
        }
    }

    /// The secret's bytes (empty if the configuration has none; `validate` refuses that).
    pub fn secret(&self) -> Vec<u8> {
        crate::runtime::auth::parse_secret(&self.secret).unwrap_or_default()
    }

    /// Checks the values against what the runtime supports.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.secret.is_empty() {
            return bad("no `secret`: servers authenticate each other with it; add `secret = \
                        \"<64 hex digits>\"` (`twosafe config` writes a random one)"
                .into());
        }
        if let Err(m) = crate::runtime::auth::parse_secret(&self.secret) {
            return bad(m);
        }
        crate::with_protocol!(self.protocol, P => {
            use crate::runtime::binding::Binding;
            P::validate(self).map_err(ConfigError::Invalid)?
        });
        if self.clients == 0 || self.clients > 100_000 {
            return bad(format!("clients = {} must be in 1..=100000", self.clients));
        }
        if self.resend_ms == 0 {
            return bad("resend_ms must be positive".into());
        }
        if !(1..=MAX_BUFFERS).contains(&self.buffers) {
            return bad(format!("buffers = {} must be in 1..={MAX_BUFFERS}", self.buffers));
        }
        if self.buffers != 1 && self.protocol != Protocol::Linear2pc {
            return bad(format!(
                "buffers = {} is linear 2PC's pipelining; {} takes 1 (its window is the \
                 clients' own)",
                self.buffers,
                self.protocol.name()
            ));
        }
        if self.max_connections < self.node.len() {
            return bad(format!(
                "max_connections = {} must hold at least the servers ({})",
                self.max_connections,
                self.node.len()
            ));
        }
        if self.client_idle_ms == 0 {
            return bad("client_idle_ms must be positive".into());
        }
        if !(1024..=wire::MAX_FRAME).contains(&self.client_frame_bytes) {
            return bad(format!(
                "client_frame_bytes = {} must be in 1024..={}",
                self.client_frame_bytes,
                wire::MAX_FRAME
            ));
        }
        Ok(())
    }

    /// What a server's connections may hold.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            client_idle: Duration::from_millis(self.client_idle_ms),
            client_frame: self.client_frame_bytes,
        }
    }

    /// Number of servers.
    pub fn servers(&self) -> usize {
        self.node.len()
    }

    /// A configuration for `n` local... the two servers on loopback ports `base`, `base + 1`
    /// with data directories under `dir`.
    pub fn local(dir: &Path, base_port: u16, service: ServiceKind, durability: Durability) -> Self {
        ClusterConfig {
            cluster: "local".into(),
            protocol: Protocol::Linear2pc,
            service,
            level: LevelKind::Critical,
            durability,
            clients: default_clients(),
            heartbeat_ms: default_heartbeat(),
            suspect_ms: default_suspect(),
            resend_ms: default_resend(),
            partition_ms: default_partition(),
            buffers: default_buffers(),
            silent_backup: SilentBackup::Block,
            degrade_after_ms: default_degrade_after(),
            max_connections: default_max_connections(),
            client_idle_ms: default_client_idle(),
            client_frame_bytes: default_client_frame(),
            secret: crate::runtime::auth::new_secret().unwrap_or_else(|_| {
                crate::runtime::auth::process_secret().iter().map(|b| format!("{b:02x}")).collect()
            }),
            node: (0..2)
                .map(|i| NodeConfig {
                    addr: SocketAddr::from(([127, 0, 0, 1], base_port + i)),
                    data: dir.join(format!("node{i}")),
                })
                .collect(),
        }
    }
}
