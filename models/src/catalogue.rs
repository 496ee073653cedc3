//! The catalogue: the list of registered protocols. Each protocol declares itself once, next
//! to its code (its `model::SPEC`: parameters, properties, variants with their seeded-bug
//! configurations, checked configurations; and its `model::visit`, the builder); registering
//! it is one line in [`registry!`]'s list below.

use crate::params::{ParamError, Params};
pub use crate::spec::{
    expect, CheckSpec, Expect, GivenUp, ModelSpec, ModelVisitor, PropertySpec, VariantSpec,
};

/// Declares [`MODELS`] and [`visit`] from the list of protocol models (each a module with
/// `SPEC` and `visit`).
macro_rules! registry {
    ($($model:path),+ $(,)?) => {
        /// Every model of the workbench, in the order the main job runs them.
        pub const MODELS: &[ModelSpec] = &[$({ use $model as m; m::SPEC }),+];

        /// Builds the model that `params` describe and hands it to `visitor`.
        pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
            $(
                {
                    use $model as m;
                    if params.model() == m::SPEC.name {
                        return m::visit(params, visitor);
                    }
                }
            )+
            Err(unknown(params.model()))
        }
    };
}

registry! {
    crate::linear_2pc::model,
    crate::logical_checkpointing::model,
    crate::logical_checkpointing::transactions,
    crate::fuzzy_copy::model,
    crate::migration::model,
    crate::fragments::model,
    crate::fuzzy_copy::rolling_upgrade,
    crate::lazy_primary_copy::model,
    crate::schema_evolution::model,
    crate::two_phase,
}

fn unknown(name: &str) -> ParamError {
    ParamError::UnknownModel {
        name: name.to_string(),
        known: MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
    }
}

/// The model called `name`.
pub fn model(name: &str) -> Result<&'static ModelSpec, ParamError> {
    MODELS.iter().find(|m| m.name == name).ok_or_else(|| unknown(name))
}
