//! The two-phase commit calibration model's parameters, properties, configurations and
//! builder. Its configurations are `rms/3` … `rms/9`: the state counts proofs.md sets against
//! TLC's.

use super::{
    all_committed, consistent, Action, State, TwoPhase, Variant, MAX_RMS, VARIANT, VARIANTS,
};
use crate::fairness::{fingerprint, ActionClass, Fairness};
use crate::params::{ParamError, ParamSpec, Params};
use crate::spec::{ModelSpec, ModelVisitor, PropertySpec};
use crate::trace::Checkable;
use stateright::{Model, Path, Property};

/// The model's name in the catalogue.
pub const NAME: &str = "two-phase";

/// The properties.
pub const PROPERTIES: &[PropertySpec] = &[
    PropertySpec {
        name: "consistency",
        about: "no resource manager has committed while another has aborted (TCConsistent)",
    },
    PropertySpec {
        name: "can-commit",
        about: "some behaviour commits the transaction at every resource manager",
    },
];

/// The parameters.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec::uint("rms", (1, MAX_RMS as u64), "3", "resource managers (the constant RM)"),
    VARIANT,
];

/// The model's entry in the catalogue.
pub const SPEC: ModelSpec = ModelSpec {
    name: NAME,
    about: "Gray & Lamport's two-phase commit (TLA+ TwoPhase): the calibration against TLC",
    seed: "Gray & Lamport, \"Consensus on Transaction Commit\", §3 and its TLA+ module TwoPhase",
    params: PARAMS,
    properties: PROPERTIES,
    variants: VARIANTS,
    configurations: crate::checks![
        "rms/3": rms = "3";
        "rms/4": rms = "4";
        "rms/5": rms = "5";
        "rms/6": rms = "6";
        "rms/7": rms = "7";
        deep "deep/rms/8": rms = "8";
        deep "deep/rms/9": rms = "9";
    ],
};

impl TwoPhase {
    /// The model `params` describe.
    pub fn from_params(params: &Params) -> Result<TwoPhase, ParamError> {
        let rms = params.uint("rms")? as usize;
        Ok(TwoPhase { rms, variant: Variant::from_params(params)? })
    }
}

/// Builds the model that `params` describes and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    Ok(visitor.visit(TwoPhase::from_params(params)?))
}

impl Model for TwoPhase {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.init()]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.enabled(state, actions);
    }

    fn next_state(&self, state: &State, action: Action) -> Option<State> {
        Some(self.step(state, action))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("consistency", |_, s| consistent(s)),
            Property::sometimes("can-commit", |_, s| all_committed(s)),
        ]
    }

    fn format_action(&self, action: &Action) -> String {
        action.to_string()
    }
}

impl Fairness for TwoPhase {
    /// The module states safety only; every action counts as owed.
    fn action_class(&self, action: &Action) -> ActionClass {
        ActionClass { key: fingerprint(action), fair: true }
    }
}

impl Checkable for TwoPhase {
    fn narrate(&self, path: &Path<State, Action>) -> Vec<String> {
        path.clone().into_actions().iter().map(Action::to_string).collect()
    }
}
