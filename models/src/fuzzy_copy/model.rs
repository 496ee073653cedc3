//! The fuzzy-copy model: configuration, seeded bugs, the logical-equivalence property, and the
//! model builder. Server 0 is the primary (it does not crash here), server 1 the new backup
//! (which may crash and reboot: a soft failure), then the clients.

use super::backup::Backup;
use super::client::Client;
use super::primary::{Phase, Primary};
use super::{Config, Node, NodeState, Variant, FOREVER, SERVERS, VARIANT, VARIANTS};
use crate::history::{self, within_crash_budget, Environment, Seen};
use crate::params::{self, ParamError, ParamSpec, Params, NETWORK};
use crate::services::Service;
use crate::spec::{ModelSpec, PropertySpec};
use stateright::actor::{ActorModel, ActorModelState, Id};
use stateright::Expectation;

/// The model's name in the catalogue.
pub const NAME: &str = "fuzzy-copy";

/// The properties.
pub const PROPERTIES: &[PropertySpec] = &[
    PropertySpec {
        name: "logical-equivalence",
        about: "whenever the backup is current and no update is in flight, its logical state \
                (service digest) equals the primary's",
    },
    PropertySpec {
        name: "catch-up-terminates",
        about: "whenever the backup is not current (being copied, catching up, rebooted), it \
                becomes current again, the primary serving its incarnation (under weak \
                fairness; on reliable networks, and on lossy ones with resends=forever)",
    },
];

/// The bounds the rolling upgrade shares with this model (the same roles).
pub(crate) const CLIENTS: ParamSpec = params::clients(3, "1");
pub(crate) const REQUESTS: ParamSpec = params::requests(4, "3");
pub(crate) const RESENDS: ParamSpec = params::resends_or_forever(3, "0");
pub(crate) const CRASHES: ParamSpec =
    params::crashes(2, "1").with_help("backup crashes (soft failures) in all");
pub(crate) const TABLE: ParamSpec =
    ParamSpec::uint("table", (1, 8), "4", "log entries the primary's history table retains");
pub(crate) const LOSSY: ParamSpec = params::lossy(false);

const BATCH: ParamSpec = ParamSpec::uint(
    "batch",
    (1, 4),
    "1",
    "objects per copy message and log entries per replay message",
);

/// The parameters.
pub const PARAMS: &[ParamSpec] = &[
    params::service(&["counter", "register", "accounts"], "counter").with_help(
        "replicated application (accounts: three TPC-B account rows, so that a copy in \
               batches of two is still fuzzy)",
    ),
    CLIENTS,
    REQUESTS,
    RESENDS,
    CRASHES,
    TABLE,
    BATCH,
    NETWORK,
    LOSSY,
    VARIANT,
];

/// The protocol's entry in the catalogue.
pub const SPEC: ModelSpec = ModelSpec {
    name: NAME,
    about:
        "a new backup by fuzzy copy and filtered log replay; intake pause; soft-failure catch-up",
    seed: "Patent, \"Fault tolerance using logical checkpointing in computing systems\" (\"new \
           backup\", \"soft failure\"); Hvasshovd et al., \"The ClustRa Telecom Database\", §4 \
           (fuzzy replica production)",
    params: PARAMS,
    properties: PROPERTIES,
    given_up: &[],
    variants: VARIANTS,
    configurations: crate::checks![
        "soft-failure":;
        "recycled-table": table = "1";
        "two-reboots": crashes = "2", table = "2";
        "two-clients": clients = "2", requests = "2";
        "lossy": lossy = "true", resends = "1", requests = "2";
        "lossy/resend-forever": lossy = "true", resends = "forever", crashes = "0", requests = "1";
        "lossy/resend-forever/reboot": lossy = "true", resends = "forever", requests = "0";
        "lossy/resend-forever/batched": lossy = "true", resends = "forever", crashes = "0", requests = "2", service = "accounts", batch = "2";
        "register": service = "register";
        "batched": service = "accounts", batch = "2";
        "batched/two-clients": service = "accounts", batch = "2", clients = "2", requests = "2";
        "batched/recycled-table": service = "accounts", batch = "2", table = "1", crashes = "2";
        "bug/no-filter/batched": variant = "no-filter", crashes = "0", service = "accounts", batch = "2";
        "bug/no-intake-pause/batched": variant = "no-intake-pause", crashes = "0", service = "accounts", batch = "2";
        deep "deep/lossy/resend-forever/reboot": lossy = "true", resends = "forever", requests = "1";
    ],
};

impl Config {
    /// The fuzzy-copy configuration `p` describes.
    pub fn from_params(p: &Params) -> Result<Config, ParamError> {
        Config::read(p, false)
    }

    /// The rolling-upgrade configuration `p` describes: the spare runs version 2 and is
    /// handed the process once current; one object per copy message.
    pub fn upgrade_from_params(p: &Params) -> Result<Config, ParamError> {
        Config::read(p, true)
    }

    fn read(p: &Params, upgrade: bool) -> Result<Config, ParamError> {
        Ok(Config {
            variant: Variant::from_params(p)?,
            clients: p.uint("clients")? as usize,
            requests: p.uint("requests")? as usize,
            resends: p.resends()?,
            crashes: p.uint("crashes")? as usize,
            table: p.uint("table")? as usize,
            // The rolling upgrade copies one object at a time.
            batch: if upgrade { 1 } else { p.uint("batch")? as usize },
            ordered: p.choice("network")? == "ordered",
            lossy: p.bool("lossy")?,
            upgrade,
            resend: stateright::actor::model_timeout(),
        })
    }
}

/// The client-visible history (recorded in the rolling upgrade only).
pub type History<S> = crate::history::History<Id, S>;
/// The model's state.
pub type State<S> = ActorModelState<Node<S>, History<S>>;
/// The model.
pub type Model<S> = ActorModel<Node<S>, Config, History<S>>;

fn within_boundary<S: Service>(cfg: &Config, state: &State<S>) -> bool {
    let restarts = history::saved(state, 1).map(|d| d.restarts);
    within_crash_budget(
        &state.crashed,
        SERVERS,
        restarts.into_iter().map(|r| u8::try_from(r).unwrap_or(u8::MAX)),
        |i| i == 1,
        cfg.crashes,
    )
}

fn logical_equivalence<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    let (NodeState::Primary(p), NodeState::Backup(b)) =
        (&*state.actor_states[0], &*state.actor_states[1])
    else {
        return true;
    };
    if p.phase != Phase::Current || p.pending.is_some() || p.retired || state.crashed[1] {
        return true;
    }
    p.service.digest() == b.service.digest()
}

fn linearizability<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    state.history.is_linearizable()
}

/// The backup is current: up, its copy complete, and the primary in normal checkpointing
/// for this incarnation of it (it has heard of its last reboot).
fn backup_current<S: Service>(_: &Model<S>, state: &State<S>) -> bool {
    let (NodeState::Primary(p), NodeState::Backup(b)) =
        (&*state.actor_states[0], &*state.actor_states[1])
    else {
        return false;
    };
    p.phase == Phase::Current
        && !state.crashed[1]
        && b.next.is_some()
        && p.incarnation == b.restarts
}

/// The trigger of `catch-up-terminates`: the backup is not current.
fn backup_behind<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    !backup_current(m, state)
}

/// The upgrade is done without unavailability: every client got all its replies, and the
/// new version serves the process.
fn upgrade_liveness<S: Service>(m: &Model<S>, state: &State<S>) -> bool {
    let served = matches!(&*state.actor_states[1], NodeState::Backup(b) if b.serving.is_some());
    let clients = state.actor_states[SERVERS..]
        .iter()
        .all(|c| matches!(&**c, NodeState::Client(c) if c.replies.len() == m.cfg.requests));
    served && clients
}

/// Builds the model of `cfg` over service `S`.
pub fn build<S: Service>(cfg: Config) -> Model<S> {
    let upgrade = cfg.upgrade;
    let reliable = !cfg.lossy;
    let model = ActorModel::new(cfg.clone(), History::<S>::new())
        .actor(Node::Primary(Primary::new(cfg.clone())))
        .actor(Node::Backup(Backup::new(cfg.clone())))
        .actors((0..cfg.clients).map(|k| Node::Client(Client::new(cfg.clone(), k))))
        .environment(cfg.ordered, cfg.lossy, cfg.crashes.min(1))
        .within_boundary(within_boundary::<S>)
        .record_msg_out(|cfg, h, env| {
            cfg.upgrade.then(|| history::record(h, env, Seen::Sent, SERVERS, |c, _| c)).flatten()
        })
        .record_msg_in(|cfg, h, env| {
            cfg.upgrade
                .then(|| history::record(h, env, Seen::Delivered, SERVERS, |c, _| c))
                .flatten()
        })
        .property(Expectation::Always, "logical-equivalence", logical_equivalence::<S>);
    match (upgrade, reliable) {
        (false, _) if reliable || cfg.resends == FOREVER => model
            .property(Expectation::Eventually, "catch-up-terminates", backup_current::<S>)
            .property(Expectation::Sometimes, "catch-up-terminates/when", backup_behind::<S>),
        (false, _) => model,
        (true, false) if cfg.resends != FOREVER => {
            model.property(Expectation::Always, "linearizability", linearizability::<S>)
        }
        (true, _) => model
            .property(Expectation::Always, "linearizability", linearizability::<S>)
            .property(Expectation::Eventually, "upgrade-liveness", upgrade_liveness::<S>),
    }
}

crate::visit_over_service!(in_flight_once if cfg => cfg.resends == FOREVER);
