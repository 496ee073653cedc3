//! Rolling upgrade (the patent "Fault tolerance using logical checkpointing in computing
//! systems", Fig. 2A, steps 210-215), the second model built from the fuzzy-copy roles: a spare
//! running version 2 of the service — a different internal representation, logically equal
//! ([`CounterArray`] against [`Counter`]) — is brought current by the fuzzy copy and log
//! catch-up, the primary (version 1) hands the process over to it once it is current, and the
//! old version retires, pointing clients to the new one: no request goes unanswered.
//!
//! The roles are the fuzzy-copy model's, one definition each: the handover and the retired
//! primary's redirection are part of them, enabled by `Config::upgrade`. The logical
//! equivalence of the two versions is checked by digest at every step at which the backup is
//! current and no update is in flight (`logical-equivalence`); that the handover loses and
//! repeats nothing, by the client-visible history (`linearizability`: with counters, every
//! reply shows whether an update was lost or applied twice). Its seeded bugs are the rows of
//! the fuzzy copy's variant table marked `only "rolling-upgrade"`, and `no-filter`.

use super::model::{build, CLIENTS, CRASHES, LOSSY, REQUESTS, RESENDS, TABLE};
use super::{Config, VARIANT, VARIANTS};
use crate::params::{ParamError, ParamSpec, Params, NETWORK};
use crate::services::{Counter, CounterArray, Versions};
use crate::spec::{ModelSpec, ModelVisitor, PropertySpec};

/// The model's name in the catalogue.
pub const NAME: &str = "rolling-upgrade";

/// The service: the counter, version 1 at the primary and version 2 at the spare.
pub type Upgraded = Versions<Counter, CounterArray>;

/// The properties.
pub const PROPERTIES: &[PropertySpec] = &[
    PropertySpec {
        name: "logical-equivalence",
        about: "whenever the spare (version 2) is current and no update is in flight, its \
                service digest equals the primary's (version 1)",
    },
    PropertySpec {
        name: "linearizability",
        about: "the clients' history across the handover is linearizable: no update is lost \
                or applied twice",
    },
    PropertySpec {
        name: "upgrade-liveness",
        about: "the new version ends up serving and every client gets all its replies \
                (under weak fairness; on reliable networks, and on lossy ones with \
                resends=forever)",
    },
];

/// The parameters: the fuzzy-copy model's bounds, and the variants of this model.
pub const PARAMS: &[ParamSpec] =
    &[CLIENTS, REQUESTS, RESENDS, CRASHES, TABLE, NETWORK, LOSSY, VARIANT];

/// The model's entry in the catalogue.
pub const SPEC: ModelSpec = ModelSpec {
    name: NAME,
    about: "a spare running version 2 caught up by fuzzy copy, handed over to, the old retired",
    seed: "Patent, \"Fault tolerance using logical checkpointing in computing systems\", Fig. 2A",
    params: PARAMS,
    properties: PROPERTIES,
    given_up: &[],
    variants: VARIANTS,
    configurations: crate::checks![
        "upgrade/soft-failure":;
        "upgrade/lossy": lossy = "true", resends = "1";
        "upgrade/lossy/resend-forever": lossy = "true", resends = "forever", crashes = "0", requests = "1";
        "upgrade/two-clients": clients = "2", requests = "2";
    ],
};

/// Builds the model that `params` describes and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    let cfg = Config::upgrade_from_params(params)?;
    if cfg.resends == super::FOREVER {
        // Clients resend for ever: on a network where a message is in flight at most once.
        return Ok(visitor.visit(crate::in_flight_once::InFlightOnce::new(build::<Upgraded>(cfg))));
    }
    Ok(visitor.visit(build::<Upgraded>(cfg)))
}
