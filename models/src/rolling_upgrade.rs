//! Rolling upgrade (seed 002 Fig. 2A, steps 210-215): a spare running version 2 of the service
//! — a different internal representation, logically equal ([`crate::service::CounterArray`]
//! against [`crate::service::Counter`]) — is brought current by the fuzzy copy and log
//! catch-up, the primary (version 1) hands the process over to it once it is current, and the
//! old version retires, pointing clients to the new one: no request goes unanswered.
//!
//! The roles are the fuzzy-copy model's ([`crate::fuzzy_copy`]), one definition each: the
//! handover and the retired primary's redirection are part of them, enabled by this model. The
//! logical equivalence of the two versions is checked by digest at every step at which the
//! backup is current and no update is in flight (`logical-equivalence`); that the handover
//! loses and repeats nothing, by the client-visible history (`linearizability`: with counters,
//! every reply shows whether an update was lost or applied twice).

use crate::catalogue::{ModelVisitor, PropertySpec, VariantSpec};
use crate::fuzzy_copy::model::{build, Config, SHARED_PARAMS};
use crate::params::{ParamError, ParamKind, ParamSpec, Params};
use crate::service::{Counter, CounterArray, Versions};

/// The model's name in the catalogue.
pub const NAME: &str = "rolling-upgrade";

/// The service: the counter, version 1 at the primary and version 2 at the spare.
pub type Upgraded = Versions<Counter, CounterArray>;

/// The variants.
pub const VARIANTS: &[VariantSpec] = &[
    VariantSpec {
        name: "correct",
        about: "the upgrade as specified",
        breaks: &[],
    },
    VariantSpec {
        name: "handover-before-current",
        about: "the primary hands over while the spare is still being copied or catching up",
        breaks: &["linearizability"],
    },
    VariantSpec {
        name: "retire-without-forwarding",
        about: "the retired primary drops requests instead of pointing clients to the new one",
        breaks: &["upgrade-liveness"],
    },
    VariantSpec {
        name: "no-filter",
        about: "the spare replays the log without generation filtering",
        breaks: &["logical-equivalence"],
    },
];

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
                (checked on reliable networks)",
    },
];

/// The parameters: the fuzzy-copy model's bounds, and the variants of this model.
pub const PARAMS: &[ParamSpec] = &[
    SHARED_PARAMS[0],
    SHARED_PARAMS[1],
    SHARED_PARAMS[2],
    SHARED_PARAMS[3],
    SHARED_PARAMS[4],
    SHARED_PARAMS[5],
    SHARED_PARAMS[6],
    ParamSpec {
        name: "variant",
        kind: ParamKind::Choice(&[
            "correct",
            "handover-before-current",
            "retire-without-forwarding",
            "no-filter",
        ]),
        default: "correct",
        help: "the upgrade or a seeded bug",
    },
];

/// Builds the model that `params` describes and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    Ok(visitor.visit(build::<Upgraded>(Config::from_params(params)?)))
}
