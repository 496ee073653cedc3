//! What a protocol declares about itself, once, next to its code: its parameters, properties,
//! seeded-bug variants (each with the properties it must break and the configuration that
//! checks it) and its checked configurations. These types sit below the protocols — a
//! protocol imports them, the [`crate::catalogue`] lists the protocols, nothing imports
//! upward.
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

/// A property the protocol itself does not keep, stated so that the checker shows why: lazy
/// primary copy is 1-safe, so it gives up 2-safety. The protocol (variant `correct`) is
/// expected to violate it in the configurations listed; elsewhere the verdict is not asserted
/// (a configuration may leave no room for the violation: no second replica to read from, say).
/// The protocol is its own seeded bug.
#[derive(Clone, Copy, Debug)]
pub struct GivenUp {
    /// The property's name (one of the model's properties).
    pub property: &'static str,
    /// The configurations whose check must find it violated.
    pub shown_by: &'static [&'static str],
}

/// A variant of a protocol: the protocol itself (`correct`) or a seeded bug. Declared by
/// [`variants!`](crate::variants), which also derives the bug's checked configuration.
#[derive(Clone, Copy, Debug)]
pub struct VariantSpec {
    /// The value of the `variant` parameter.
    pub name: &'static str,
    /// What it changes.
    pub about: &'static str,
    /// The properties the checker must find violated.
    pub breaks: &'static [&'static str],
    /// The configuration that checks it (`bug/<name>`; none for `correct`).
    pub check: Option<CheckSpec>,
    /// The one model it belongs to, where several models share a protocol's roles (`None`:
    /// every model built from these roles).
    pub only: Option<&'static str>,
}

impl VariantSpec {
    /// Whether the variant is offered by model `model`.
    pub fn in_model(&self, model: &str) -> bool {
        self.only.is_none_or(|m| m == model)
    }
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

impl CheckSpec {
    /// A configuration `cargo test` checks: the defaults with `set` applied.
    pub const fn new(config: &'static str, set: &'static [(&'static str, &'static str)]) -> Self {
        CheckSpec { config, set, deep: false }
    }

    /// A configuration too large for `cargo test` (`check --deep`, the ignored deep test).
    pub const fn deep(config: &'static str, set: &'static [(&'static str, &'static str)]) -> Self {
        CheckSpec { config, set, deep: true }
    }
}

/// A model of the catalogue: a protocol's declaration of itself.
#[derive(Clone, Copy, Debug)]
pub struct ModelSpec {
    /// Its name on the command line.
    pub name: &'static str,
    /// One line about it.
    pub about: &'static str,
    /// The source document and section it follows (author, title, section).
    pub seed: &'static str,
    /// Its parameters.
    pub params: &'static [ParamSpec],
    /// Its properties.
    pub properties: &'static [PropertySpec],
    /// The properties among them that the protocol itself does not keep (see [`GivenUp`]).
    pub given_up: &'static [GivenUp],
    /// The variants of its roles (`correct` first); [`ModelSpec::variants`] keeps this model's.
    pub variants: &'static [VariantSpec],
    /// Its configurations besides each seeded bug's own (which its variant declares); all of
    /// them: [`ModelSpec::checks`].
    pub configurations: &'static [CheckSpec],
}

impl ModelSpec {
    /// The default parameters.
    pub fn defaults(&self) -> Params {
        Params::defaults(self.name, self.params)
    }

    /// This model's variants, `correct` first.
    pub fn variants(&self) -> impl Iterator<Item = &'static VariantSpec> + '_ {
        self.variants.iter().filter(|v| v.in_model(self.name))
    }

    /// Every configuration checked: the listed ones that are not deep, then each seeded bug's,
    /// then the deep ones.
    pub fn checks(&self) -> Vec<CheckSpec> {
        let listed = self.configurations.iter();
        let shallow = listed.clone().filter(|c| !c.deep).copied();
        let bugs = self.variants().filter_map(|v| v.check);
        let deep = listed.filter(|c| c.deep).copied();
        shallow.chain(bugs).chain(deep).collect()
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
        self.variants().find(|v| v.name == name)
    }
}

/// What a check expects of a property.
#[derive(Clone, Copy, Debug, Eq, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// No counterexample exists within the bounds.
    Holds,
    /// The checker must find a counterexample.
    Violated,
}

/// What configuration `config` of `model`, a check of `variant`, expects of `property`; `None`
/// if it is not asserted.
pub fn expect(
    model: &ModelSpec, variant: &VariantSpec, config: &str, property: &str,
) -> Option<Expect> {
    if let Some(g) = model.given_up.iter().find(|g| g.property == property) {
        let shown = variant.breaks.is_empty() && g.shown_by.contains(&config);
        return shown.then_some(Expect::Violated);
    }
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

/// A table of checked configurations, one a line: `"name": key = "value", …;` over the
/// model's defaults; `deep "name": …;` for one too large for `cargo test`.
#[macro_export]
macro_rules! checks {
    ($($($deep:ident)? $name:literal : $($k:ident = $v:literal),* ;)*) => {
        &[$($crate::checks!(@one $($deep)? $name, &[$((stringify!($k), $v)),*])),*]
    };
    (@one deep $name:literal, $set:expr) => {
        $crate::spec::CheckSpec::deep($name, $set)
    };
    (@one $name:literal, $set:expr) => {
        $crate::spec::CheckSpec::new($name, $set)
    };
}

/// Declares a protocol's `Variant` enum from one table, and derives from the same rows the
/// catalogue's [`VariantSpec`]s (`VARIANTS`), the `variant` parameter (`VARIANT`, its choice
/// list) and its parser (`Variant::from_params`). Each seeded bug's row carries the parameters
/// of its checked configuration, `bug/<name>`:
///
/// ```ignore
/// twosafe_models::variants! {
///     /// The protocol, or one seeded bug.
///     pub enum Variant {
///         /// As specified.
///         Correct = "correct": "the protocol as specified";
///         /// The primary replies before the backup has the update.
///         OneSafe = "one-safe": "reply before the backup acks",
///             breaks ["2-safety"], check [crashes = "0"];
///     }
/// }
/// ```
///
/// A row may end in `only "model-name"` where two models share the roles (fuzzy copy and
/// rolling upgrade).
#[macro_export]
macro_rules! variants {
    (
        $(#[$meta:meta])*
        pub enum $enum:ident {
            $(#[$cmeta:meta])*
            $correct:ident = $cname:literal : $cabout:literal;
            $(
                $(#[$vmeta:meta])*
                $var:ident = $name:literal : $about:literal,
                    breaks [$($breaks:literal),+ $(,)?],
                    check [$($k:ident = $v:literal),* $(,)?]
                    $(, only $only:literal)?;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
        pub enum $enum {
            $(#[$cmeta])*
            $correct,
            $( $(#[$vmeta])* $var, )*
        }

        /// The variants with the properties each must break and the configuration that
        /// checks it.
        pub const VARIANTS: &[$crate::spec::VariantSpec] = &[
            $crate::spec::VariantSpec {
                name: $cname,
                about: $cabout,
                breaks: &[],
                check: None,
                only: None,
            },
            $(
                $crate::spec::VariantSpec {
                    name: $name,
                    about: $about,
                    breaks: &[$($breaks),+],
                    check: Some($crate::spec::CheckSpec::new(
                        concat!("bug/", $name),
                        &[("variant", $name) $(, (stringify!($k), $v))*],
                    )),
                    only: $crate::variants!(@only $($only)?),
                },
            )*
        ];

        /// The `variant` parameter: the protocol or one of its seeded bugs.
        pub const VARIANT: $crate::params::ParamSpec = $crate::params::ParamSpec {
            name: "variant",
            kind: $crate::params::ParamKind::Variant(VARIANTS),
            default: $cname,
            help: "the protocol or a seeded bug",
        };

        impl $enum {
            /// The variant named by `p`'s `variant` parameter.
            pub fn from_params(
                p: &$crate::params::Params,
            ) -> Result<$enum, $crate::params::ParamError> {
                match p.choice("variant")? {
                    $cname => Ok($enum::$correct),
                    $( $name => Ok($enum::$var), )*
                    other => Err($crate::params::ParamError::BadValue {
                        name: "variant".into(),
                        value: other.into(),
                        expected: VARIANT.expected(p.model()),
                    }),
                }
            }
        }
    };
    (@only) => { None };
    (@only $only:literal) => { Some($only) };
}
