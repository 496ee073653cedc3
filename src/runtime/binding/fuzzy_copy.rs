//! Fuzzy copy bound to the runtime (the logical-checkpointing patent, "new backup" and "soft
//! failure"; Hvasshovd et al. (ClustRa) §4, fuzzy replica production and catch-up from the
//! log): node 0 is the primary, which serves from its first step; node 1 is the new backup,
//! which joins under load by a fuzzy copy of every object with its generation and a
//! generation-filtered replay of the log, with the intake pause at the end, and from then on
//! acknowledges every update before the primary answers it. The backup journals everything it
//! installs (write-ahead, group commit); killed and restarted, it reports the next SSN it
//! needs and catches up from there (a soft failure), or by a new full copy when the primary's
//! history table no longer holds it.
//!
//! The model's primary does not fail: it keeps its state in memory only. So node 0 starts
//! once ([`Binding::volatile`]: a restart is refused, as it would serve from nothing) and
//! `chaos` kills and damages only the backup. A backup whose storage is lost or damaged
//! rejoins (`twosafe node --rejoin`) as a new backup and gets a full copy ([`Binding::learner`]). A client session numbers its
//! requests from its session number, so a later session of a client id is served
//! ([`Client::in_session`]); clients resend for ever after `resend_ms`, as the primary drops
//! a request that arrives while an update awaits the backup's ack or intake is paused.
//!
//! Only services whose state is their objects can be copied object by object: counter and
//! register.

use super::{Binding, Faults, MsgOf, StorageOf};
use crate::runtime::config::{ClusterConfig, ServiceKind, SilentBackup};
use crate::runtime::host::Observer;
use std::time::Duration;
use tracing::{info, warn};
use twosafe_models::fuzzy_copy::backup::{Backup, BackupState};
use twosafe_models::fuzzy_copy::client::Client;
use twosafe_models::fuzzy_copy::msg::Msg;
use twosafe_models::fuzzy_copy::primary::{Phase, Primary};
use twosafe_models::fuzzy_copy::replay::Generations;
use twosafe_models::fuzzy_copy::{Config, Node, NodeState, Variant, NAME, SERVERS};
use twosafe_models::history::FOREVER;
use twosafe_models::services::Service;

/// The binding of fuzzy copy.
#[derive(Clone, Copy, Debug)]
pub struct FuzzyCopy;

/// Log entries the primary's history table retains: a backup that was down for fewer updates
/// catches up from the log, one that missed more gets a new full copy.
pub const HISTORY_TABLE: usize = 1 << 16;

/// Objects per copy message and log entries per replay message.
pub const BATCH: usize = 256;

/// The model configuration the actors of cluster `cfg` run with: the correct protocol, a
/// history table of [`HISTORY_TABLE`] entries, batches of [`BATCH`], clients that resend for
/// ever after `resend_ms`, budgets that never run out.
pub fn model_config(cfg: &ClusterConfig) -> Config {
    model_config_with(cfg.clients, HISTORY_TABLE, BATCH, Duration::from_millis(cfg.resend_ms))
}

/// The model configuration with an explicit table, batch and resend delay (the catch-up
/// benchmark sizes its own).
pub fn model_config_with(clients: usize, table: usize, batch: usize, resend: Duration) -> Config {
    Config {
        variant: Variant::Correct,
        clients,
        requests: 0,
        resends: FOREVER,
        crashes: usize::MAX,
        table,
        batch,
        ordered: true,
        lossy: true,
        upgrade: false,
        resend: resend..resend + Duration::from_millis(1),
    }
}

crate::runtime::client::client_role!(Node, NodeState);

impl Binding for FuzzyCopy {
    const NAME: &'static str = NAME;
    type Node<S: Service> = Node<S>;

    /// The primary does not fail in the model: backup kills, damage to the backup's storage,
    /// and partitions (either node cut off: what was in flight is lost, and the primary
    /// retransmits it, the backup its `Rejoin`; proofs.md, "Catch-up terminates").
    const FAULTS: Faults =
        Faults { storage_faults: true, partitions: true, ..Faults::BACKUP_KILLS };

    fn validate(cfg: &ClusterConfig) -> Result<(), String> {
        if cfg.node.len() != SERVERS {
            return Err(format!(
                "fuzzy-copy needs exactly {SERVERS} [[node]] entries (primary, new backup), \
                 found {}",
                cfg.node.len()
            ));
        }
        if !matches!(cfg.service, ServiceKind::Counter | ServiceKind::Register) {
            return Err(format!(
                "fuzzy-copy copies the service object by object, so it runs services whose \
                 state is their objects: counter or register, not {}",
                crate::with_service!(cfg.service, S => S::NAME)
            ));
        }
        if cfg.silent_backup == SilentBackup::Degrade {
            return Err("fuzzy-copy has no degraded mode: the primary waits for its current \
                        backup's acknowledgement (silent_backup = \"block\")"
                .into());
        }
        Ok(())
    }

    fn server<S: Service>(cfg: &ClusterConfig, id: usize) -> Node<S> {
        match id {
            0 => Node::Primary(Primary::new(model_config(cfg))),
            _ => Node::Backup(Backup::new(model_config(cfg))),
        }
    }

    fn client<S: Service>(cfg: &ClusterConfig, index: usize, session: u64, _: usize) -> Node<S> {
        Node::Client(Client::in_session(model_config(cfg), index, session))
    }

    /// Requests only, from a client.
    fn admit<S: Service>(from_server: bool, m: &MsgOf<Self, S>) -> bool {
        from_server || matches!(m, Msg::Request { .. })
    }

    /// The primary, node 0, keeps its state in memory only.
    fn volatile(id: usize) -> bool {
        id == 0
    }

    /// A backup that lost its storage (or whose journal is damaged) rejoins as a new backup:
    /// empty, its copy incomplete, so the primary copies every object again. Its incarnation is
    /// the wall clock in µs, above every earlier one while clocks move forward (the primary
    /// ignores a `Rejoin` whose incarnation is not above the last it served; the random
    /// `incarnation` offered is not ordered). To the primary this is a backup that rebooted
    /// before its first copy arrived, its restarts counted from a larger number: a behaviour
    /// the model covers (it compares incarnations only by order).
    fn learner<S: Service>(_: &ClusterConfig, _incarnation: u64) -> Option<BackupState<S>> {
        Some(BackupState {
            service: S::spare(),
            gens: Generations::new(),
            next: None,
            attempt: 0,
            restarts: crate::runtime::conform::now_us().max(1),
            serving: None,
            rejoining: false,
        })
    }

    /// The primary logs each phase of building its backup: copying, replaying the log, the
    /// intake pause, current (INFO), and a backup that rejoined (WARN).
    fn report<S: Service>(id: usize) -> Option<Observer<Node<S>>> {
        let mut last: Option<(u8, u64)> = None;
        Some(Box::new(move |state: &NodeState<S>| {
            let NodeState::Primary(p) = state else {
                return;
            };
            let phase = match p.phase {
                Phase::Copying { .. } => 0,
                Phase::Done { .. } | Phase::Shipping { .. } => 1,
                Phase::Paused { .. } => 2,
                Phase::Current => 3,
            };
            let now = (phase, p.incarnation);
            if last != Some(now) {
                if last.is_some_and(|(_, inc)| inc != p.incarnation) {
                    warn!("node {id}: the backup restarted (incarnation {})", p.incarnation);
                }
                match p.phase {
                    Phase::Copying { noted, .. } => {
                        info!(
                            "node {id}: copying the backup (copy {}, log from SSN {noted})",
                            p.attempt
                        )
                    }
                    Phase::Done { .. } | Phase::Shipping { .. } => {
                        info!("node {id}: replaying the log to the backup")
                    }
                    Phase::Paused { upto, .. } => {
                        info!("node {id}: intake paused until SSN {upto}")
                    }
                    Phase::Current => {
                        info!("node {id}: the backup is current at SSN {}", p.next_ssn)
                    }
                }
            }
            last = Some(now);
        }))
    }

    fn describe<S: Service>(d: &StorageOf<Self, S>) -> String {
        describe_backup(d)
    }
}

fn describe_backup<S: Service>(d: &BackupState<S>) -> String {
    match d.next {
        Some(next) => {
            format!("a backup needing SSN {next} (copy {}, incarnation {})", d.attempt, d.restarts)
        }
        None => format!("a backup with copy {} incomplete (incarnation {})", d.attempt, d.restarts),
    }
}
