//! Logical checkpointing bound to the runtime (the logical-checkpointing patent, Fig. 3A-3D,
//! 4A, 4B, with the I-am-alive failure detection of Hvasshovd et al. (ClustRa) §3.3): node 0
//! starts as the primary and node 1 as the backup; the primary keeps the message table and
//! assigns service sequence numbers, the backup logs each checkpoint durably, acknowledges,
//! executes and commits in SSN order, and takes over when it stops hearing the primary (fenced:
//! a deposed primary retires to the spare pool). Clients are the model's client role in a
//! session, with up to [`SESSION_WINDOW`] requests outstanding (distinct sequence numbers, the
//! patent's "sequence of logically related requests"). The cluster file's values become the model's [`Config`]: the correct protocol,
//! heartbeats on, clients that probe the other server when their resend timer fires, real
//! durations, budgets that never run out.
//!
//! A restarted or deposed primary goes to the spare pool and rejoins as the new backup: the
//! primary sends it the committed requests it lacks in frames of
//! [`CATCH_UP_CHUNK`](super::CATCH_UP_CHUNK), so the pair survives any number of takeovers.
//! A node that lost its storage (or whose journal is damaged) restarts with `--rejoin` as the
//! model's learner, and a node whose journal's last record was torn does so by itself when its
//! peer holds everything it acknowledged (proofs.md, "Storage loss").

use super::{Binding, MsgOf, StorageOf};
use crate::runtime::client::ClientRole;
use crate::runtime::config::{ClusterConfig, SilentBackup};
use crate::runtime::host::Observer;
use std::time::Duration;
use tracing::{info, warn};
use twosafe_models::history::PairFaults;
use twosafe_models::logical_checkpointing::msg::{Epoch, Msg, Seq};
use twosafe_models::logical_checkpointing::server::{Durable, Role, Server};
use twosafe_models::logical_checkpointing::{
    client::Client, Config, Node, NodeState, Timing, Variant, FOREVER, NAME, SERVERS,
};
use twosafe_models::services::Service;
use twosafe_models::stateright::actor::Out;

/// The binding of logical checkpointing.
#[derive(Clone, Copy, Debug)]
pub struct LogicalCheckpointing;

/// The model configuration the actors of cluster `cfg` run with.
pub fn model_config(cfg: &ClusterConfig) -> Config {
    let ms = Duration::from_millis;
    Config {
        variant: Variant::Correct,
        clients: cfg.clients,
        requests: 0,
        window: 1,
        sessions: 1,
        resends: FOREVER,
        heartbeats: true,
        rejoin: true,
        probe: true,
        catch_up_chunk: super::CATCH_UP_CHUNK,
        wipes: 0,
        takeovers: Epoch::MAX,
        faults: PairFaults {
            crashes: usize::MAX,
            may_crash: [true; 2],
            ordered: false,
            lossy: true,
        },
        timing: Timing {
            resend: ms(cfg.resend_ms)..ms(cfg.resend_ms + 1),
            heartbeat: ms(cfg.heartbeat_ms)..ms(cfg.heartbeat_ms + 1),
            suspect: ms(cfg.suspect_ms)..ms(cfg.suspect_ms + 1),
            execute: ms(0)..ms(1),
        },
    }
}

/// The most requests a client session may have outstanding at once.
pub const SESSION_WINDOW: usize = 64;

/// A request's ticket is its sequence number in the session.
impl<S: Service> ClientRole for Node<S> {
    type Op = S::Op;
    type Reply = S::Reply;

    fn reply(state: &NodeState<S>, ticket: usize) -> Option<&S::Reply> {
        match state {
            NodeState::Client(c) => c.replies.get(&(c.session, ticket as Seq)),
            _ => None,
        }
    }

    fn expired(state: &NodeState<S>) -> bool {
        matches!(state, NodeState::Client(c) if c.expired)
    }

    fn submit(
        &self, state: &NodeState<S>, op: S::Op, o: &mut Out<Self>,
    ) -> Option<(NodeState<S>, usize)> {
        match (self, state) {
            (Node::Client(c), NodeState::Client(st)) => {
                c.submit(st, op, o).map(|n| (NodeState::Client(n), st.next as usize))
            }
            _ => None,
        }
    }
}

impl Binding for LogicalCheckpointing {
    const NAME: &'static str = NAME;
    type Node<S: Service> = Node<S>;

    fn validate(cfg: &ClusterConfig) -> Result<(), String> {
        if cfg.node.len() != SERVERS {
            return Err(format!(
                "logical-checkpointing needs exactly {SERVERS} [[node]] entries (primary, \
                 backup), found {}",
                cfg.node.len()
            ));
        }
        super::validate_heartbeats(cfg)?;
        if cfg.silent_backup == SilentBackup::Degrade {
            return Err("logical-checkpointing has no degraded mode: the primary waits for its \
                        backup's acknowledgement (silent_backup = \"block\")"
                .into());
        }
        Ok(())
    }

    fn server<S: Service>(cfg: &ClusterConfig, _id: usize) -> Node<S> {
        Node::Server(Server::new(model_config(cfg)))
    }

    fn client<S: Service>(
        cfg: &ClusterConfig, index: usize, session: u64, window: usize,
    ) -> Node<S> {
        let model = Config { window: window.clamp(1, SESSION_WINDOW), ..model_config(cfg) };
        Node::Client(Client::in_session(model, index, session))
    }

    /// A client's requests carry distinct sequence numbers and the server answers each from
    /// its message table, whatever the window (the model checks windows of 2 by default).
    fn session_window() -> usize {
        SESSION_WINDOW
    }

    /// Requests and probes only, from a client.
    fn admit<S: Service>(from_server: bool, m: &MsgOf<Self, S>) -> bool {
        from_server || matches!(m, Msg::Request { .. } | Msg::Probe)
    }

    /// One line for the role it starts in, then one when the role or epoch changes (a
    /// takeover, a retirement): WARN when the node serves without a backup or has retired.
    fn report<S: Service>(id: usize) -> Option<Observer<Node<S>>> {
        let mut last = None;
        Some(Box::new(move |state: &NodeState<S>| {
            let NodeState::Server(s) = state else {
                return;
            };
            let now = (s.d.role, s.d.epoch, s.d.with_backup);
            if last.is_none() {
                let (role, epoch, committed) = (s.d.role, s.d.epoch, s.d.history.len());
                info!("node {id}: starts as {role:?} of epoch {epoch} ({committed} requests committed)");
            } else if last != Some(now) {
                let (role, epoch, with_backup) = now;
                match role {
                    Role::Primary if with_backup => info!(
                        "node {id}: primary of epoch {epoch} with a backup ({} requests \
                         committed)",
                        s.d.history.len()
                    ),
                    Role::Primary => warn!(
                        "node {id}: primary of epoch {epoch} without a backup ({} requests \
                         committed)",
                        s.d.history.len()
                    ),
                    Role::Spare => {
                        warn!("node {id}: in the spare pool (epoch {epoch}), asking to rejoin")
                    }
                    _ => info!("node {id}: {role:?} of epoch {epoch}"),
                }
            }
            last = Some(now);
        }))
    }

    /// A learner: a spare of epoch 0 that holds nothing and is caught up by its peer in a
    /// new epoch (the model's storage loss, `wipes`).
    fn learner<S: Service>(_cfg: &ClusterConfig, incarnation: u64) -> Option<StorageOf<Self, S>> {
        Some(Durable::learner(incarnation))
    }

    fn torn_tail_rejoins<S: Service>(d: &Durable<S::Op, S::Reply>) -> bool {
        d.peer_holds_all()
    }

    fn describe<S: Service>(d: &Durable<S::Op, S::Reply>) -> String {
        if d.learner {
            return format!("a learner (incarnation {})", d.inc);
        }
        format!(
            "{:?} of epoch {} with {} committed and {} logged requests",
            d.role,
            d.epoch,
            d.history.len(),
            d.log.len()
        )
    }
}
