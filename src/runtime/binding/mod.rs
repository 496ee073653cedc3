//! What the runtime needs from a protocol to host it — a [`Binding`] — and the registry of the
//! bound protocols ([`Protocol`], [`with_protocol!`](crate::with_protocol)).
//!
//! A binding names the model's actor type and says, for a cluster file: which actor node `id`
//! runs, which actor a client session runs, which messages a client may send (admission, by
//! message *kind*), and what a node that lost its storage starts from if the protocol has such
//! a path. It decides nothing the protocol decides: every step is the model's. The host
//! ([`crate::runtime::host`]), the client library, `node`, `load` and `conform` are generic over
//! it. Adding a protocol to the runtime is one file in this folder plus its line in
//! [`Protocol`] and in [`with_protocol!`](crate::with_protocol).

pub mod fuzzy_copy;
pub mod linear_2pc;
pub mod logical_checkpointing;
pub mod transactions;

use crate::runtime::client::ClientRole;
use crate::runtime::config::ClusterConfig;
use crate::runtime::host::Observer;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use twosafe_models::journaled::Journaled;
use twosafe_models::services::Service;
use twosafe_models::stateright::actor::Actor;
use twosafe_models::trace::Fields;

/// Committed steps per `CatchUp` frame (logical checkpointing's and linear 2PC's rejoins):
/// a rejoin ships the history in frames of this many entries, far below the frame cap
/// whatever the history's length.
pub const CATCH_UP_CHUNK: usize = 4096;

/// An actor the runtime can host: its messages go over the wire, its timers into traces, its
/// saves into a journal as changes, and a client session can submit operations to it.
pub trait Hosted:
    ClientRole
    + Actor<
        Msg: Serialize + DeserializeOwned + Send + 'static,
        Timer: Serialize + DeserializeOwned + Send + 'static,
        State: Send + Fields,
        Storage: Journaled + Send,
    >
{
}

impl<A> Hosted for A
where
    A: ClientRole,
    A::Msg: Serialize + DeserializeOwned + Send + 'static,
    A::Timer: Serialize + DeserializeOwned + Send + 'static,
    A::State: Send + Fields,
    A::Storage: Journaled + Send,
{
}

/// The actor of protocol `P` replicating service `S`.
pub type NodeOf<P, S> = <P as Binding>::Node<S>;
/// Its messages.
pub type MsgOf<P, S> = <NodeOf<P, S> as Actor>::Msg;
/// What it saves.
pub type StorageOf<P, S> = <NodeOf<P, S> as Actor>::Storage;

/// How the runtime hosts one protocol of the catalogue.
pub trait Binding: Sized + 'static {
    /// The protocol's name in the catalogue (and in cluster files, handshakes and journals).
    const NAME: &'static str;

    /// The model's actor (every role of the protocol, clients included) for service `S`.
    type Node<S: Service>: Hosted<Op = S::Op, Reply = S::Reply>;

    /// The faults its model covers, so the ones `chaos` may inject.
    const FAULTS: Faults = Faults::ALL;

    /// Checks the protocol's part of a cluster file (how many nodes, which values it needs).
    fn validate(cfg: &ClusterConfig) -> Result<(), String>;

    /// The actor server node `id` of `cfg` runs.
    fn server<S: Service>(cfg: &ClusterConfig, id: usize) -> Self::Node<S>;

    /// The actor of client session number `session` (a number no earlier session of the client
    /// id had) of client `index` (0 for the cluster's first client id), with up to `window`
    /// requests outstanding (at most [`Binding::session_window`]).
    fn client<S: Service>(
        cfg: &ClusterConfig, index: usize, session: u64, window: usize,
    ) -> Self::Node<S>;

    /// How many requests one client session may have outstanding at once: 1 unless the
    /// protocol's client numbers concurrent requests apart (and its model checks that).
    fn session_window() -> usize {
        1
    }

    /// Whether a server takes `msg` from its sender: any message from a server, only client
    /// requests from a client. Judges message kinds, never protocol state.
    fn admit<S: Service>(from_server: bool, msg: &MsgOf<Self, S>) -> bool;

    /// Whether node `id` keeps its state in memory only (its model never fails it): it
    /// starts once, and `node` refuses to restart it, as it would serve from nothing.
    fn volatile(_id: usize) -> bool {
        false
    }

    /// What node `id` logs when its role changes (a takeover, a degradation), if anything.
    fn report<S: Service>(_id: usize) -> Option<Observer<Self::Node<S>>> {
        None
    }

    /// What a node that lost its storage (or whose journal is damaged) starts from, with a new
    /// `incarnation`, if the protocol has a checked way to rebuild it from its peer
    /// (`twosafe node --rejoin`); `None` if it has none.
    fn learner<S: Service>(_cfg: &ClusterConfig, _incarnation: u64) -> Option<StorageOf<Self, S>> {
        None
    }

    /// Whether a node restarting from `storage` whose journal's final record was torn must
    /// restart as a learner instead: true when it may have acknowledged the lost record and its
    /// peer holds everything it acknowledged. Only asked of protocols with a
    /// [`Binding::learner`].
    fn torn_tail_rejoins<S: Service>(_storage: &StorageOf<Self, S>) -> bool {
        false
    }

    /// A one-line account of a saved state, for messages to the operator.
    fn describe<S: Service>(storage: &StorageOf<Self, S>) -> String;
}

/// The faults a protocol's model covers: `chaos` injects only these (backup kills, each
/// followed by a restart, always).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
pub struct Faults {
    /// The primary may be killed (a takeover, or an outage until it restarts).
    pub primary_kills: bool,
    /// A node may be cut off from the others for a while (messages lost without a crash).
    pub partitions: bool,
    /// A killed node's storage may be damaged or lost (the primary's too only if it may be
    /// killed).
    pub storage_faults: bool,
}

impl Faults {
    /// Every fault `chaos` knows.
    pub const ALL: Faults = Faults { primary_kills: true, partitions: true, storage_faults: true };
    /// Backup kills only.
    pub const BACKUP_KILLS: Faults =
        Faults { primary_kills: false, partitions: false, storage_faults: false };
}

/// The failure detector's part of a cluster file, for protocols with I-am-alive messages: a
/// positive period shorter than the suspicion timeout.
pub fn validate_heartbeats(cfg: &ClusterConfig) -> Result<(), String> {
    if cfg.heartbeat_ms == 0 || cfg.suspect_ms <= cfg.heartbeat_ms {
        return Err(format!(
            "need 0 < heartbeat_ms ({}) < suspect_ms ({})",
            cfg.heartbeat_ms, cfg.suspect_ms
        ));
    }
    Ok(())
}

/// The protocols the runtime hosts: the registry. Cluster files, `--protocol` options and
/// [`with_protocol!`](crate::with_protocol) name them.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Protocol {
    /// Linear 2PC (Hagen & Alonso (OPERA) §3.1): [`linear_2pc::Linear2pc`].
    Linear2pc,
    /// Logical checkpointing (the logical-checkpointing patent, Fig. 3A-3D, 4A, 4B):
    /// [`logical_checkpointing::LogicalCheckpointing`].
    LogicalCheckpointing,
    /// Fuzzy copy (the logical-checkpointing patent, "new backup"; Hvasshovd et al. (ClustRa)
    /// §4): [`fuzzy_copy::FuzzyCopy`].
    FuzzyCopy,
    /// Transactions over logical checkpointing (the logical-checkpointing patent, Fig. 5A-5C):
    /// [`transactions::Transactions`].
    Transactions,
}

impl Protocol {
    /// Every bound protocol.
    pub const ALL: [Protocol; 4] = [
        Protocol::Linear2pc,
        Protocol::LogicalCheckpointing,
        Protocol::FuzzyCopy,
        Protocol::Transactions,
    ];

    /// Its catalogue name.
    pub fn name(self) -> &'static str {
        crate::with_protocol!(self, P => P::NAME)
    }

    /// The faults its model covers ([`Binding::FAULTS`]).
    pub fn faults(self) -> Faults {
        crate::with_protocol!(self, P => P::FAULTS)
    }

    fn names() -> String {
        Self::ALL.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = Self::ALL.into_iter().find(|p| p.name() == s) {
            return Ok(p);
        }
        if twosafe_models::catalogue::model(s).is_ok() {
            Err(format!(
                "protocol {s:?} is modelled and checked (`twosafe check {s}`) but not supported \
                 by the runtime yet (it runs: {})",
                Self::names()
            ))
        } else {
            Err(format!(
                "protocol {s:?} is not supported by the runtime (it runs: {})",
                Self::names()
            ))
        }
    }
}

impl TryFrom<String> for Protocol {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Protocol> for String {
    fn from(p: Protocol) -> String {
        p.name().into()
    }
}

/// Runs `$body` with `$P` the [`Binding`] that `$protocol` (a [`Protocol`]) names: the one place
/// the runtime maps protocol names to bindings (as
/// [`with_service!`](crate::with_service) does for services).
#[macro_export]
macro_rules! with_protocol {
    ($protocol:expr, $P:ident => $body:expr) => {
        match $protocol {
            $crate::runtime::binding::Protocol::Linear2pc => {
                type $P = $crate::runtime::binding::linear_2pc::Linear2pc;
                $body
            }
            $crate::runtime::binding::Protocol::LogicalCheckpointing => {
                type $P = $crate::runtime::binding::logical_checkpointing::LogicalCheckpointing;
                $body
            }
            $crate::runtime::binding::Protocol::FuzzyCopy => {
                type $P = $crate::runtime::binding::fuzzy_copy::FuzzyCopy;
                $body
            }
            $crate::runtime::binding::Protocol::Transactions => {
                type $P = $crate::runtime::binding::transactions::Transactions;
                $body
            }
        }
    };
}

/// Runs `$body` with `$P` the [`Binding`] that `$protocol` names and `$S` the service its nodes
/// replicate for the cluster file's `$service` (a
/// [`ServiceKind`](crate::runtime::config::ServiceKind)): that service itself, or for
/// transactions the transactional service over it
/// ([`Txn`](crate::runtime::binding::transactions::Txn)). What a node, a trace or a journal of
/// a cluster holds is `NodeOf<$P, $S>`.
#[macro_export]
macro_rules! with_hosted {
    ($protocol:expr, $service:expr, $P:ident, $S:ident => $body:expr) => {
        match $protocol {
            $crate::runtime::binding::Protocol::Transactions => {
                type $P = $crate::runtime::binding::transactions::Transactions;
                $crate::with_service!($service, Inner => {
                    type $S = $crate::runtime::binding::transactions::Txn<Inner>;
                    $body
                })
            }
            protocol => $crate::with_protocol!(protocol, $P =>
                $crate::with_service!($service, $S => $body)),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bound_protocol_is_a_catalogue_model_and_parses_by_its_name() {
        for p in Protocol::ALL {
            assert!(twosafe_models::catalogue::model(p.name()).is_ok(), "{p} is not modelled");
            assert_eq!(p.name().parse::<Protocol>(), Ok(p));
            let back: Protocol = serde_json::from_str(&format!("{:?}", p.name())).unwrap();
            assert_eq!(back, p);
        }
    }

    #[test]
    fn an_unhosted_protocol_is_refused_saying_whether_it_is_modelled() {
        let modelled = "migration".parse::<Protocol>().unwrap_err();
        assert!(modelled.contains("modelled and checked"), "{modelled}");
        assert!(modelled.contains("linear-2pc"), "{modelled}");
        let unknown = "raft".parse::<Protocol>().unwrap_err();
        assert!(unknown.contains("not supported by the runtime"), "{unknown}");
        assert!(!unknown.contains("modelled"), "{unknown}");
    }
}
