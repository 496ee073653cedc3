//! Linear 2PC bound to the runtime (Hagen & Alonso (OPERA) §3.1, with the I-am-alive failure
//! detection of Hvasshovd et al. (ClustRa) §3.3): node 0 starts as the primary and node 1 as the
//! backup (one node at level normal), clients are the model's client role in a session, and a
//! node that lost its storage restarts as the model's learner (proofs.md, "Storage faults").
//! The cluster file's values become the model's [`Config`]: the correct protocol, heartbeats and
//! takeback on, real durations, budgets that never run out.

use super::{Binding, MsgOf, StorageOf};
use crate::runtime::config::{ClusterConfig, LevelKind, SilentBackup};
use crate::runtime::host::Observer;
use std::time::Duration;
use tracing::{info, warn};
use twosafe_models::linear_2pc::client::{Client, ClientState};
use twosafe_models::linear_2pc::msg::Msg;
use twosafe_models::linear_2pc::server::{Durable, Role, Server};
use twosafe_models::linear_2pc::{
    Config, CrashTarget, Level, NetworkKind, Node, NodeState, Timing, Variant, FOREVER, NAME,
};
use twosafe_models::services::Service;

crate::runtime::client::client_role!(Node, NodeState, |c: &ClientState<_, _>| c.expired);

/// The binding of linear 2PC.
#[derive(Clone, Copy, Debug)]
pub struct Linear2pc;

/// The model configuration the actors of cluster `cfg` run with.
pub fn model_config(cfg: &ClusterConfig) -> Config {
    let ms = Duration::from_millis;
    Config {
        variant: Variant::Correct,
        level: level(cfg.level),
        servers: cfg.servers(),
        clients: cfg.clients,
        requests: 0,
        sessions: 1,
        buffers: cfg.buffers,
        resends: FOREVER,
        crashes: usize::MAX,
        crash: CrashTarget::Any,
        network: NetworkKind::Unordered,
        lossy: true,
        heartbeats: true,
        takeback: true,
        probe: true,
        degrade: cfg.silent_backup == SilentBackup::Degrade,
        takeovers: u64::MAX,
        catch_up_chunk: super::CATCH_UP_CHUNK,
        wipes: 0,
        timing: Timing {
            resend: ms(cfg.resend_ms)..ms(cfg.resend_ms + 1),
            heartbeat: ms(cfg.heartbeat_ms)..ms(cfg.heartbeat_ms + 1),
            suspect: ms(cfg.suspect_ms)..ms(cfg.suspect_ms + 1),
            degrade: ms(cfg.degrade_after_ms)..ms(cfg.degrade_after_ms + 1),
        },
    }
}

fn level(l: LevelKind) -> Level {
    match l {
        LevelKind::Critical => Level::Critical,
        LevelKind::Important => Level::Important,
        LevelKind::Normal => Level::Normal,
    }
}

impl Binding for Linear2pc {
    const NAME: &'static str = NAME;
    type Node<S: Service> = Node<S>;

    fn validate(cfg: &ClusterConfig) -> Result<(), String> {
        let want = if cfg.level == LevelKind::Normal { 1 } else { 2 };
        if cfg.node.len() != want {
            return Err(format!(
                "linear-2pc at level {:?} needs exactly {want} [[node]] entries ({}), found {}",
                cfg.level,
                if want == 1 { "a primary: normal has no backup" } else { "primary, backup" },
                cfg.node.len()
            ));
        }
        super::validate_heartbeats(cfg)?;
        if cfg.silent_backup == SilentBackup::Degrade && cfg.degrade_after_ms == 0 {
            return Err("degrade_after_ms must be positive".into());
        }
        Ok(())
    }

    fn server<S: Service>(cfg: &ClusterConfig, _id: usize) -> Node<S> {
        Node::Server(Server::new(model_config(cfg)))
    }

    fn client<S: Service>(cfg: &ClusterConfig, index: usize, session: u64, _: usize) -> Node<S> {
        Node::Client(Client::in_session(model_config(cfg), index, session))
    }

    /// Requests and probes only, from a client.
    fn admit<S: Service>(from_server: bool, m: &MsgOf<Self, S>) -> bool {
        from_server || matches!(m, Msg::Request { .. } | Msg::Probe)
    }

    /// One line for the role it starts in, then one when the role, epoch or level changes (a
    /// takeover, a degradation, a takeback): WARN when the node runs without a backup.
    fn report<S: Service>(id: usize) -> Option<Observer<Node<S>>> {
        let mut last = None;
        Some(Box::new(move |state: &NodeState<S>| {
            let NodeState::Server(s) = state else {
                return;
            };
            let now = (s.role, s.epoch, s.level);
            if last.is_none() {
                let (role, epoch, level) = now;
                let steps = s.log.len();
                info!("node {id}: starts as {role:?} of epoch {epoch}, level {level:?} ({steps} steps)");
            } else if last != Some(now) {
                let (role, epoch, level) = now;
                if role == Role::Primary && level == Level::Normal && s.epoch > 0 {
                    warn!(
                        "node {id}: primary of epoch {epoch} without a backup (degraded; {} steps)",
                        s.log.len()
                    );
                } else {
                    info!("node {id}: {role:?} of epoch {epoch}, level {level:?}");
                }
            }
            last = Some(now);
        }))
    }

    fn learner<S: Service>(cfg: &ClusterConfig, incarnation: u64) -> Option<StorageOf<Self, S>> {
        Some(Durable::learner(level(cfg.level), incarnation))
    }

    fn torn_tail_rejoins<S: Service>(d: &Durable<S::Op, S::Reply>) -> bool {
        d.peer_holds_all()
    }

    fn describe<S: Service>(d: &Durable<S::Op, S::Reply>) -> String {
        match d.role {
            Role::Learner => format!("a learner (incarnation {})", d.incarnation),
            role => format!("{role:?} of epoch {} with {} updates", d.epoch, d.log.len()),
        }
    }
}
