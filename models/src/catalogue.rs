//! The catalogue: every model with its parameters, properties and seeded-bug variants, and the
//! configurations that `twosafe check` and `cargo test` run. Adding a model is one entry in
//! [`MODELS`] and one arm in [`visit`].
//!
//! Expectations are derived, not written twice: in a configuration of variant `correct` every
//! property of the model is expected to hold; in a seeded-bug variant, the properties the
//! variant `breaks` are expected to be violated (the others are not asserted: a bug may break
//! more than it was seeded for).

use crate::params::{ParamError, ParamSpec, Params};
use crate::trace::Checkable;

/// A property of a model.
#[derive(Clone, Copy, Debug)]
pub struct PropertySpec {
    /// Its name, as in the brief (`exactly-once`, `2-safety`, ...).
    pub name: &'static str,
    /// What it says.
    pub about: &'static str,
}

/// A variant of a protocol: the protocol itself (`correct`) or a seeded bug.
#[derive(Clone, Copy, Debug)]
pub struct VariantSpec {
    /// The value of the `variant` parameter.
    pub name: &'static str,
    /// What it changes.
    pub about: &'static str,
    /// The properties the checker must find violated.
    pub breaks: &'static [&'static str],
}

/// One configuration the catalogue checks.
#[derive(Clone, Copy, Debug)]
pub struct CheckSpec {
    /// A short label (`hot/crash-primary`).
    pub config: &'static str,
    /// Parameters that differ from the defaults.
    pub set: &'static [(&'static str, &'static str)],
    /// Too large for `cargo test`: run by `twosafe check --deep` and the ignored deep test.
    pub deep: bool,
}

/// A model of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct ModelSpec {
    /// Its name on the command line.
    pub name: &'static str,
    /// One line about it.
    pub about: &'static str,
    /// The seed document and section it follows.
    pub seed: &'static str,
    /// Its parameters.
    pub params: &'static [ParamSpec],
    /// Its properties.
    pub properties: &'static [PropertySpec],
    /// Its variants (`correct` first).
    pub variants: &'static [VariantSpec],
    /// The configurations checked by `twosafe check` and `cargo test`.
    pub checks: &'static [CheckSpec],
}

impl ModelSpec {
    /// The default parameters.
    pub fn defaults(&self) -> Params {
        Params::defaults(self.name, self.params)
    }

    /// The parameters of check `c`, with `overrides` (`k=v`) applied on top.
    pub fn params_of(&self, c: &CheckSpec, overrides: &[String]) -> Result<Params, ParamError> {
        let mut p = self.defaults();
        for (k, v) in c.set {
            p.set(self.params, k, v)?;
        }
        for o in overrides {
            p.set_pair(self.params, o)?;
        }
        Ok(p)
    }

    /// The variant named by `params`.
    pub fn variant(&self, params: &Params) -> Option<&'static VariantSpec> {
        let name = params.choice("variant").ok()?;
        self.variants.iter().find(|v| v.name == name)
    }
}

/// What a check expects of a property.
#[derive(Clone, Copy, Debug, Eq, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// No counterexample exists within the bounds.
    Holds,
    /// The checker must find a counterexample.
    Violated,
}

/// What check `variant` expects of `property`; `None` if it is not asserted.
pub fn expect(variant: &VariantSpec, property: &str) -> Option<Expect> {
    if variant.breaks.contains(&property) {
        Some(Expect::Violated)
    } else if variant.breaks.is_empty() {
        Some(Expect::Holds)
    } else {
        None
    }
}

/// Something to do with a model, whatever its concrete type.
pub trait ModelVisitor {
    /// The result.
    type Output;
    /// Does it.
    fn visit<M: Checkable>(self, model: M) -> Self::Output;
}

/// Every model of the workbench.
pub const MODELS: &[ModelSpec] = &[
    LINEAR_2PC,
    LOGICAL_CHECKPOINTING,
    TRANSACTIONS,
    FUZZY_COPY,
    MIGRATION,
    FRAGMENTS,
    ROLLING_UPGRADE,
];

/// The transactions model's catalogue entry.
const TRANSACTIONS: ModelSpec = ModelSpec {
    name: crate::transactions::NAME,
    about: "transactions under logical checkpointing: batch (5B) and entry by entry (5C)",
    seed: "002 (logical checkpointing patent) Fig. 5A-5C",
    params: crate::transactions::model::PARAMS,
    properties: crate::transactions::model::PROPERTIES,
    variants: crate::transactions::model::VARIANTS,
    checks: &[
        CheckSpec {
            config: "entry",
            set: &[("mode", "entry")],
            deep: false,
        },
        CheckSpec {
            config: "batch",
            set: &[("mode", "batch")],
            deep: false,
        },
        CheckSpec {
            config: "entry/two-clients",
            set: &[
                ("mode", "entry"),
                ("clients", "2"),
                ("ops", "1"),
                ("crashes", "0"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "deep/entry/two-clients-two-ops",
            set: &[("mode", "entry"), ("clients", "2"), ("crashes", "0")],
            deep: true,
        },
        CheckSpec {
            config: "batch/two-clients",
            set: &[("mode", "batch"), ("clients", "2"), ("crashes", "0")],
            deep: false,
        },
        CheckSpec {
            config: "bug/partial-commit",
            set: &[
                ("variant", "partial-commit"),
                ("mode", "entry"),
                ("crash", "primary"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/newer-first",
            set: &[
                ("variant", "newer-first"),
                ("mode", "batch"),
                ("clients", "2"),
                ("ops", "1"),
                ("crashes", "0"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/reply-before-ack",
            set: &[
                ("variant", "reply-before-ack"),
                ("mode", "batch"),
                ("crashes", "0"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-txn-dedup",
            set: &[("variant", "no-txn-dedup"), ("crash", "primary")],
            deep: false,
        },
    ],
};

/// The fuzzy-copy model's catalogue entry.
const FUZZY_COPY: ModelSpec = ModelSpec {
    name: crate::fuzzy_copy::NAME,
    about:
        "a new backup by fuzzy copy and filtered log replay; intake pause; soft-failure catch-up",
    seed: "002 (\"new backup\", \"soft failure\"); 003 (ClustRa) §4 fuzzy replica production",
    params: crate::fuzzy_copy::model::PARAMS,
    properties: crate::fuzzy_copy::model::PROPERTIES,
    variants: crate::fuzzy_copy::model::VARIANTS,
    checks: &[
        CheckSpec {
            config: "soft-failure",
            set: &[],
            deep: false,
        },
        CheckSpec {
            config: "recycled-table",
            set: &[("table", "1")],
            deep: false,
        },
        CheckSpec {
            config: "two-reboots",
            set: &[("crashes", "2"), ("table", "2")],
            deep: false,
        },
        CheckSpec {
            config: "two-clients",
            set: &[("clients", "2"), ("requests", "2")],
            deep: false,
        },
        CheckSpec {
            config: "lossy",
            set: &[("lossy", "true"), ("resends", "1"), ("requests", "2")],
            deep: false,
        },
        CheckSpec {
            config: "register",
            set: &[("service", "register")],
            deep: false,
        },
        CheckSpec {
            config: "batched",
            set: &[("service", "accounts"), ("batch", "2")],
            deep: false,
        },
        CheckSpec {
            config: "batched/two-clients",
            set: &[
                ("service", "accounts"),
                ("batch", "2"),
                ("clients", "2"),
                ("requests", "2"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "batched/recycled-table",
            set: &[
                ("service", "accounts"),
                ("batch", "2"),
                ("table", "1"),
                ("crashes", "2"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-filter",
            set: &[("variant", "no-filter"), ("crashes", "0")],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-filter/batched",
            set: &[
                ("variant", "no-filter"),
                ("crashes", "0"),
                ("service", "accounts"),
                ("batch", "2"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-intake-pause/batched",
            set: &[
                ("variant", "no-intake-pause"),
                ("crashes", "0"),
                ("service", "accounts"),
                ("batch", "2"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-intake-pause",
            set: &[("variant", "no-intake-pause"), ("crashes", "0")],
            deep: false,
        },
        CheckSpec {
            config: "bug/recycled-catch-up",
            set: &[("variant", "recycled-catch-up"), ("table", "1")],
            deep: false,
        },
    ],
};

/// The linear 2PC model's catalogue entry.
const LINEAR_2PC: ModelSpec = ModelSpec {
    name: crate::linear_2pc::NAME,
    about: "OPERA's semantic backup: degenerate linear 2PC, hot/cold standby, reconfiguration",
    seed: "000 (Hagen & Alonso) §2.3, §3.1, Fig. 1",
    params: crate::linear_2pc::model::PARAMS,
    properties: crate::linear_2pc::model::PROPERTIES,
    variants: crate::linear_2pc::model::VARIANTS,
    checks: &[
        CheckSpec {
            config: "hot/crash-primary",
            set: &[("level", "critical"), ("crash", "primary")],
            deep: false,
        },
        CheckSpec {
            config: "hot/crash-backup",
            set: &[("level", "critical"), ("crash", "backup")],
            deep: false,
        },
        CheckSpec {
            config: "cold/crash-primary",
            set: &[("level", "important"), ("crash", "primary")],
            deep: false,
        },
        CheckSpec {
            config: "cold/crash-backup",
            set: &[("level", "important"), ("crash", "backup")],
            deep: false,
        },
        CheckSpec {
            config: "normal/crash",
            set: &[("level", "normal"), ("crash", "primary")],
            deep: false,
        },
        CheckSpec {
            config: "hot/counter",
            set: &[("service", "counter")],
            deep: false,
        },
        CheckSpec {
            config: "hot/two-clients",
            set: &[("clients", "2"), ("requests", "1"), ("crashes", "0")],
            deep: false,
        },
        CheckSpec {
            config: "hot/two-clients-reliable",
            set: &[
                ("clients", "2"),
                ("requests", "1"),
                ("resends", "0"),
                ("lossy", "false"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "hot/reliable",
            set: &[("lossy", "false")],
            deep: false,
        },
        CheckSpec {
            config: "cold/reliable",
            set: &[("level", "important"), ("lossy", "false")],
            deep: false,
        },
        CheckSpec {
            config: "hot/heartbeats/crash-primary",
            set: &[("heartbeats", "true"), ("crash", "primary")],
            deep: false,
        },
        CheckSpec {
            config: "cold/heartbeats/crash-backup",
            set: &[
                ("heartbeats", "true"),
                ("level", "important"),
                ("crash", "backup"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "hot/heartbeats/reliable",
            set: &[("heartbeats", "true"), ("lossy", "false")],
            deep: false,
        },
        CheckSpec {
            config: "bug/one-safe",
            set: &[("variant", "one-safe")],
            deep: false,
        },
        CheckSpec {
            config: "bug/ack-before-durable",
            set: &[("variant", "ack-before-durable"), ("level", "important")],
            deep: false,
        },
        CheckSpec {
            config: "bug/skip-reconfiguration",
            set: &[
                ("variant", "skip-reconfiguration"),
                ("service", "counter"),
                ("clients", "2"),
                ("requests", "1"),
                ("crash", "primary"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-duplicate-detection",
            set: &[
                ("variant", "no-duplicate-detection"),
                ("service", "counter"),
                ("crashes", "0"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/local-reads",
            set: &[
                ("variant", "local-reads"),
                ("clients", "2"),
                ("crashes", "0"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-redirect",
            set: &[
                ("variant", "no-redirect"),
                ("lossy", "false"),
                ("crashes", "0"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "hot/takeback/crash-primary",
            set: &[("takeback", "true"), ("crash", "primary")],
            deep: false,
        },
        CheckSpec {
            config: "cold/takeback/crash-primary",
            set: &[
                ("takeback", "true"),
                ("level", "important"),
                ("crash", "primary"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "hot/takeback/two-takeovers",
            set: &[("takeback", "true"), ("crashes", "0"), ("takeovers", "2")],
            deep: false,
        },
        CheckSpec {
            config: "hot/takeback/two-takeovers-reliable",
            set: &[
                ("takeback", "true"),
                ("crashes", "0"),
                ("takeovers", "2"),
                ("lossy", "false"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-fencing",
            set: &[("variant", "no-fencing"), ("crashes", "0")],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-epoch-bump",
            set: &[("variant", "no-epoch-bump"), ("crashes", "0")],
            deep: false,
        },
        CheckSpec {
            config: "bug/takeback-without-catch-up",
            set: &[
                ("takeback", "true"),
                ("variant", "takeback-without-catch-up"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/promotion-without-pending-commits",
            set: &[
                ("level", "important"),
                ("variant", "promotion-without-pending-commits"),
                ("crashes", "0"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "deep/hot/takeback-heartbeats-crash-primary",
            set: &[
                ("takeback", "true"),
                ("heartbeats", "true"),
                ("crash", "primary"),
            ],
            deep: true,
        },
        CheckSpec {
            config: "deep/hot/two-clients-crash-primary",
            set: &[("clients", "2"), ("requests", "1"), ("crash", "primary")],
            deep: true,
        },
        CheckSpec {
            config: "deep/cold/two-clients-crash-backup",
            set: &[
                ("level", "important"),
                ("clients", "2"),
                ("requests", "1"),
                ("crash", "backup"),
            ],
            deep: true,
        },
    ],
};

/// The logical checkpointing model's catalogue entry.
const LOGICAL_CHECKPOINTING: ModelSpec = ModelSpec {
    name: crate::logical_checkpointing::NAME,
    about: "the patent's logical checkpointing: message table, SSNs, SSN-order commit, resends, takeover",
    seed: "002 (logical checkpointing patent) Fig. 3A-3D, 4A, 4B",
    params: crate::logical_checkpointing::model::PARAMS,
    properties: crate::logical_checkpointing::model::PROPERTIES,
    variants: crate::logical_checkpointing::model::VARIANTS,
    checks: &[
        CheckSpec { config: "crash-primary", set: &[("crash", "primary")], deep: false },
        CheckSpec { config: "crash-backup", set: &[("crash", "backup")], deep: false },
        CheckSpec { config: "counter", set: &[("service", "counter")], deep: false },
        CheckSpec { config: "two-clients", set: &[("clients", "2"), ("requests", "1"), ("window", "1")], deep: false },
        CheckSpec { config: "bug/no-table-lookup", set: &[("variant", "no-table-lookup"), ("service", "counter"), ("crashes", "0")], deep: false },
        CheckSpec { config: "bug/commit-in-execution-order", set: &[("variant", "commit-in-execution-order"), ("crashes", "0")], deep: false },
        CheckSpec { config: "bug/answer-before-commit", set: &[("variant", "answer-before-commit"), ("service", "counter"), ("crash", "primary")], deep: false },
        CheckSpec { config: "bug/ack-before-log", set: &[("variant", "ack-before-log"), ("crashes", "0")], deep: false },
        CheckSpec { config: "bug/read-before-pending", set: &[("variant", "read-before-pending"), ("clients", "2"), ("window", "1"), ("crash", "primary")], deep: false },
    ],
};

/// The migration model's catalogue entry.
const MIGRATION: ModelSpec = ModelSpec {
    name: crate::migration::NAME,
    about: "process migration by upgrade, switch and degrade; the planner's migrate_all",
    seed: "000 (Hagen & Alonso) §4, Fig. 2",
    params: crate::migration::model::PARAMS,
    properties: crate::migration::model::PROPERTIES,
    variants: crate::migration::model::VARIANTS,
    checks: &[
        CheckSpec {
            config: "migrate/crash-source",
            set: &[("crash", "source")],
            deep: false,
        },
        CheckSpec {
            config: "migrate/crash-target",
            set: &[("crash", "target")],
            deep: false,
        },
        CheckSpec {
            config: "migrate/register-reader",
            set: &[
                ("service", "register"),
                ("clients", "2"),
                ("requests", "1"),
                ("reorders", "0"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "migrate/reliable",
            set: &[("lossy", "false")],
            deep: false,
        },
        CheckSpec {
            config: "migrate-all/crash-source",
            set: &[
                ("servers", "3"),
                ("processes", "2"),
                ("requests", "1"),
                ("reorders", "0"),
                ("crash", "source"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "migrate-all/crash-target",
            set: &[
                ("servers", "3"),
                ("processes", "2"),
                ("requests", "1"),
                ("reorders", "0"),
                ("crash", "target"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "migrate-all/reliable",
            set: &[
                ("servers", "3"),
                ("processes", "2"),
                ("requests", "1"),
                ("reorders", "0"),
                ("lossy", "false"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/switch-before-current",
            set: &[("variant", "switch-before-current"), ("crashes", "0")],
            deep: false,
        },
        CheckSpec {
            config: "bug/degrade-before-switch",
            set: &[("variant", "degrade-before-switch"), ("crashes", "0")],
            deep: false,
        },
        CheckSpec {
            config: "bug/switch-without-stopping",
            set: &[("variant", "switch-without-stopping"), ("crashes", "0")],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-forwarding",
            set: &[
                ("variant", "no-forwarding"),
                ("lossy", "false"),
                ("crashes", "0"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "deep/migrate-all/two-clients-crash-source",
            set: &[
                ("servers", "3"),
                ("processes", "2"),
                ("clients", "2"),
                ("requests", "1"),
                ("reorders", "0"),
                ("crash", "source"),
            ],
            deep: true,
        },
    ],
};

/// The fragments model's catalogue entry.
const FRAGMENTS: ModelSpec = ModelSpec {
    name: crate::fragments::NAME,
    about: "ClustRa's fragments on a circle: node sets, takeover, self-repair by fuzzy copy",
    seed: "003 (ClustRa) §3.3-§4",
    params: crate::fragments::model::PARAMS,
    properties: crate::fragments::model::PROPERTIES,
    variants: crate::fragments::model::VARIANTS,
    checks: &[
        CheckSpec {
            config: "circle/crash-any",
            set: &[("suspicions", "0")],
            deep: false,
        },
        CheckSpec {
            config: "circle/four-nodes",
            set: &[("nodes", "4"), ("suspicions", "0")],
            deep: false,
        },
        CheckSpec {
            config: "circle/false-suspicion-and-crash/reliable",
            set: &[("lossy", "false")],
            deep: false,
        },
        CheckSpec {
            config: "circle/two-clients/reliable",
            set: &[("clients", "2"), ("lossy", "false"), ("suspicions", "0")],
            deep: false,
        },
        CheckSpec {
            config: "deep/circle/two-clients",
            set: &[("clients", "2"), ("suspicions", "0")],
            deep: true,
        },
        CheckSpec {
            config: "deep/circle/false-suspicion-and-crash",
            set: &[("crash", "node0")],
            deep: true,
        },
        CheckSpec {
            config: "bug/counter-only-ids",
            set: &[
                ("variant", "counter-only-ids"),
                ("crashes", "0"),
                ("suspicions", "2"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-majority",
            set: &[
                ("variant", "no-majority"),
                ("crashes", "0"),
                ("suspicions", "2"),
            ],
            deep: false,
        },
        CheckSpec {
            config: "bug/repair-without-log",
            set: &[("variant", "repair-without-log"), ("crash", "node0")],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-self-repair",
            set: &[
                ("variant", "no-self-repair"),
                ("lossy", "false"),
                ("crash", "node0"),
                ("suspicions", "0"),
            ],
            deep: false,
        },
    ],
};

/// The rolling-upgrade model's catalogue entry.
const ROLLING_UPGRADE: ModelSpec = ModelSpec {
    name: crate::rolling_upgrade::NAME,
    about: "a spare running version 2 caught up by fuzzy copy, handed over to, the old retired",
    seed: "002 (patent) Fig. 2A",
    params: crate::rolling_upgrade::PARAMS,
    properties: crate::rolling_upgrade::PROPERTIES,
    variants: crate::rolling_upgrade::VARIANTS,
    checks: &[
        CheckSpec {
            config: "upgrade/soft-failure",
            set: &[],
            deep: false,
        },
        CheckSpec {
            config: "upgrade/lossy",
            set: &[("lossy", "true"), ("resends", "1")],
            deep: false,
        },
        CheckSpec {
            config: "upgrade/two-clients",
            set: &[("clients", "2"), ("requests", "2")],
            deep: false,
        },
        CheckSpec {
            config: "bug/handover-before-current",
            set: &[("variant", "handover-before-current"), ("crashes", "0")],
            deep: false,
        },
        CheckSpec {
            config: "bug/retire-without-forwarding",
            set: &[("variant", "retire-without-forwarding"), ("crashes", "0")],
            deep: false,
        },
        CheckSpec {
            config: "bug/no-filter",
            set: &[("variant", "no-filter"), ("crashes", "0")],
            deep: false,
        },
    ],
};

/// The model called `name`.
pub fn model(name: &str) -> Result<&'static ModelSpec, ParamError> {
    MODELS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| ParamError::UnknownModel {
            name: name.to_string(),
            known: MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
        })
}

/// Builds the model that `params` describe and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    match params.model() {
        crate::linear_2pc::NAME => crate::linear_2pc::visit(params, visitor),
        crate::logical_checkpointing::NAME => crate::logical_checkpointing::visit(params, visitor),
        crate::fuzzy_copy::NAME => crate::fuzzy_copy::visit(params, visitor),
        crate::transactions::NAME => crate::transactions::visit(params, visitor),
        crate::migration::NAME => crate::migration::visit(params, visitor),
        crate::fragments::NAME => crate::fragments::visit(params, visitor),
        crate::rolling_upgrade::NAME => crate::rolling_upgrade::visit(params, visitor),
        other => Err(model(other).err().unwrap_or(ParamError::UnknownModel {
            name: other.to_string(),
            known: String::new(),
        })),
    }
}
