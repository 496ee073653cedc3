//! Model parameters: every bound and knob of a model has a small default and can be set from
//! the command line (`--set clients=3`) without recompiling.

use crate::spec::VariantSpec;
use thiserror::Error;

/// The type of a parameter's value.
#[derive(Clone, Copy, Debug)]
pub enum ParamKind {
    /// An unsigned integer in `min..=max`.
    UInt {
        /// Smallest value allowed.
        min: u64,
        /// Largest value allowed.
        max: u64,
    },
    /// A budget: an unsigned integer in `0..=max`, or `forever` (never spent).
    Budget {
        /// Largest finite value allowed.
        max: u64,
    },
    /// One of a fixed set of names.
    Choice(&'static [&'static str]),
    /// `true` or `false`.
    Bool,
    /// The protocol or one of its seeded bugs: the names of the variants offered by the model.
    Variant(&'static [VariantSpec]),
}

impl std::fmt::Display for ParamKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamKind::UInt { min, max } => write!(f, "integer {min}..={max}"),
            ParamKind::Budget { max } => write!(f, "integer 0..={max} or forever"),
            ParamKind::Choice(names) => write!(f, "one of {}", names.join("|")),
            ParamKind::Bool => write!(f, "true|false"),
            ParamKind::Variant(vs) => {
                let names: Vec<_> = vs.iter().map(|v| v.name).collect();
                write!(f, "one of {}", names.join("|"))
            }
        }
    }
}

/// A parameter of a model.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// The name used with `--set`.
    pub name: &'static str,
    /// The type of its value.
    pub kind: ParamKind,
    /// The default value.
    pub default: &'static str,
    /// One line of help.
    pub help: &'static str,
}

impl ParamSpec {
    /// An integer parameter in `min..=max`.
    pub const fn uint(
        name: &'static str, (min, max): (u64, u64), default: &'static str, help: &'static str,
    ) -> ParamSpec {
        ParamSpec { name, kind: ParamKind::UInt { min, max }, default, help }
    }

    /// A parameter that takes one of `names`.
    pub const fn choice(
        name: &'static str, names: &'static [&'static str], default: &'static str,
        help: &'static str,
    ) -> ParamSpec {
        ParamSpec { name, kind: ParamKind::Choice(names), default, help }
    }

    /// A `true`/`false` parameter.
    pub const fn flag(name: &'static str, default: bool, help: &'static str) -> ParamSpec {
        ParamSpec {
            name,
            kind: ParamKind::Bool,
            default: if default { "true" } else { "false" },
            help,
        }
    }

    /// The same parameter with another line of help (what it means in one protocol).
    pub const fn with_help(self, help: &'static str) -> ParamSpec {
        ParamSpec { help, ..self }
    }

    /// Whether `value` fits the parameter in model `model`.
    pub fn accepts(&self, model: &str, value: &str) -> bool {
        match self.kind {
            ParamKind::UInt { min, max } => {
                value.parse::<u64>().is_ok_and(|v| (min..=max).contains(&v))
            }
            ParamKind::Budget { max } => {
                value == FOREVER_WORD || value.parse::<u64>().is_ok_and(|v| v <= max)
            }
            ParamKind::Choice(names) => names.contains(&value),
            ParamKind::Bool => value == "true" || value == "false",
            ParamKind::Variant(vs) => vs.iter().any(|v| v.name == value && v.in_model(model)),
        }
    }

    /// What values the parameter takes in model `model`, in words.
    pub fn expected(&self, model: &str) -> String {
        match self.kind {
            ParamKind::Variant(vs) => {
                let names: Vec<_> =
                    vs.iter().filter(|v| v.in_model(model)).map(|v| v.name).collect();
                format!("one of {}", names.join("|"))
            }
            kind => kind.to_string(),
        }
    }
}

/// A parameter that could not be set or read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParamError {
    /// The model has no parameter of that name.
    #[error("model {model} has no parameter `{name}` (it has: {known})")]
    Unknown {
        /// The model.
        model: String,
        /// The name given.
        name: String,
        /// The model's parameters.
        known: String,
    },
    /// The value does not fit the parameter's type.
    #[error("parameter `{name}`: `{value}` is not {expected}")]
    BadValue {
        /// The parameter.
        name: String,
        /// The value given.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// Not of the form `key=value`.
    #[error("`{0}` is not of the form key=value")]
    Malformed(String),
    /// No model of that name.
    #[error("no model named `{name}` (models: {known})")]
    UnknownModel {
        /// The name given.
        name: String,
        /// The catalogue's models.
        known: String,
    },
}

// ---- The parameters several protocols share: one definition each, with each protocol's
// bounds and default (and, where it means something more there, its own help line).

/// `network`: message ordering, shared by every model.
pub const NETWORK: ParamSpec = ParamSpec {
    name: "network",
    kind: ParamKind::Choice(&["unordered", "ordered"]),
    default: "unordered",
    help: "message ordering",
};

/// `crash`: which servers may crash, shared by the two-server models.
pub const CRASH: ParamSpec = ParamSpec {
    name: "crash",
    kind: ParamKind::Choice(&["primary", "backup", "any"]),
    default: "any",
    help: "which servers may crash",
};

/// `probe`: whether a client whose resend timer fires also asks the other server whether it is
/// the primary, shared by the primary-backup pairs the runtime hosts.
pub const PROBE: ParamSpec = ParamSpec::flag(
    "probe",
    false,
    "a client whose resend timer fires also asks the other server whether it is the primary \
     (a client whose primary is down for good, and that missed the announcement, finds the \
     new one); off: it learns only from NewPrimary and NotPrimary",
);

/// `lossy`: whether messages can be lost, on by `default` or not.
pub const fn lossy(default: bool) -> ParamSpec {
    ParamSpec {
        name: "lossy",
        kind: ParamKind::Bool,
        default: if default { "true" } else { "false" },
        help: "whether messages can be lost",
    }
}

/// `clients`: how many clients, 1 to `max`.
pub const fn clients(max: u64, default: &'static str) -> ParamSpec {
    ParamSpec {
        name: "clients",
        kind: ParamKind::UInt { min: 1, max },
        default,
        help: "number of clients",
    }
}

/// `requests`: requests per client, 0 to `max`.
pub const fn requests(max: u64, default: &'static str) -> ParamSpec {
    ParamSpec {
        name: "requests",
        kind: ParamKind::UInt { min: 0, max },
        default,
        help: "requests per client (one outstanding at a time)",
    }
}

/// `sessions`: sessions per client, one after another (a client id used again), 1 to `max`.
pub const fn sessions(max: u64) -> ParamSpec {
    ParamSpec {
        name: "sessions",
        kind: ParamKind::UInt { min: 1, max },
        default: "1",
        help: "sessions per client, one after another, each with `requests` requests: the \
               client id is used again, with sequence numbers from 0 and a larger session number",
    }
}

/// `resends`: how often a client resends, 0 to `max`.
pub const fn resends(max: u64, default: &'static str) -> ParamSpec {
    ParamSpec {
        name: "resends",
        kind: ParamKind::UInt { min: 0, max },
        default,
        help: "timer-driven resends per request",
    }
}

/// `resends` where a client may also resend for ever: 0 to `max`, or `forever` (which needs a
/// lossy network: copies in flight are merged, see [`crate::in_flight_once`]).
pub const fn resends_or_forever(max: u64, default: &'static str) -> ParamSpec {
    ParamSpec {
        name: "resends",
        kind: ParamKind::Budget { max },
        default,
        help: "timer-driven resends per request, or forever (lossy networks only: a copy sent \
               while an identical one is in flight is merged into it)",
    }
}

/// The word a budget parameter takes for "never spent".
pub const FOREVER_WORD: &str = "forever";

/// `crashes`: server crashes in all, 0 to `max`.
pub const fn crashes(max: u64, default: &'static str) -> ParamSpec {
    ParamSpec {
        name: "crashes",
        kind: ParamKind::UInt { min: 0, max },
        default,
        help: "server crashes in all (one server down at a time)",
    }
}

/// `service`: the replicated application, one of `choices` (names that
/// [`with_service!`](crate::with_service) knows).
pub const fn service(choices: &'static [&'static str], default: &'static str) -> ParamSpec {
    ParamSpec {
        name: "service",
        kind: ParamKind::Choice(choices),
        default,
        help: "replicated application",
    }
}

/// Validated parameter values of one model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Params {
    model: &'static str,
    specs: Vec<(&'static str, String)>,
}

impl Params {
    /// The defaults of `specs`, for model `model`.
    pub fn defaults(model: &'static str, specs: &[ParamSpec]) -> Params {
        Params { model, specs: specs.iter().map(|s| (s.name, s.default.to_string())).collect() }
    }

    /// The model these parameters belong to.
    pub fn model(&self) -> &'static str {
        self.model
    }

    /// Sets `name` to `value` after checking it against `specs`.
    pub fn set(&mut self, specs: &[ParamSpec], name: &str, value: &str) -> Result<(), ParamError> {
        let Some(spec) = specs.iter().find(|s| s.name == name) else {
            return Err(ParamError::Unknown {
                model: self.model.to_string(),
                name: name.to_string(),
                known: specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
            });
        };
        if !spec.accepts(self.model, value) {
            return Err(ParamError::BadValue {
                name: name.to_string(),
                value: value.to_string(),
                expected: spec.expected(self.model),
            });
        }
        if let Some(slot) = self.specs.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = value.to_string();
        }
        Ok(())
    }

    /// Sets `key=value`.
    pub fn set_pair(&mut self, specs: &[ParamSpec], pair: &str) -> Result<(), ParamError> {
        let (k, v) = pair.split_once('=').ok_or_else(|| ParamError::Malformed(pair.to_string()))?;
        self.set(specs, k.trim(), v.trim())
    }

    fn raw(&self, name: &str) -> Result<&str, ParamError> {
        self.specs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).ok_or_else(|| {
            ParamError::Unknown {
                model: self.model.to_string(),
                name: name.to_string(),
                known: self.specs.iter().map(|s| s.0).collect::<Vec<_>>().join(", "),
            }
        })
    }

    fn bad(name: &str, value: &str, expected: &str) -> ParamError {
        ParamError::BadValue {
            name: name.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// An integer parameter.
    pub fn uint(&self, name: &str) -> Result<u64, ParamError> {
        let v = self.raw(name)?;
        v.parse().map_err(|_| Self::bad(name, v, "an integer"))
    }

    /// A budget parameter: its integer, or [`crate::history::FOREVER`] for `forever`.
    pub fn budget(&self, name: &str) -> Result<u8, ParamError> {
        match self.raw(name)? {
            FOREVER_WORD => Ok(crate::history::FOREVER),
            v => match v.parse::<u8>() {
                Ok(n) if n < crate::history::FOREVER => Ok(n),
                _ => Err(Self::bad(name, v, "an integer or forever")),
            },
        }
    }

    /// The `resends` parameter of a model whose clients may resend for ever:
    /// [`crate::history::FOREVER`] needs `lossy = true` (copies of a resent message are
    /// merged, as a lossy network may lose them: [`crate::in_flight_once`]).
    pub fn resends(&self) -> Result<u8, ParamError> {
        let resends = self.budget("resends")?;
        if resends == crate::history::FOREVER && !self.bool("lossy")? {
            return Err(ParamError::BadValue {
                name: "resends".into(),
                value: FOREVER_WORD.into(),
                expected: "an integer unless lossy = true (copies of a resent message are \
                           merged, as a lossy network may lose them)"
                    .into(),
            });
        }
        Ok(resends)
    }

    /// A choice parameter.
    pub fn choice(&self, name: &str) -> Result<&str, ParamError> {
        self.raw(name)
    }

    /// A boolean parameter.
    pub fn bool(&self, name: &str) -> Result<bool, ParamError> {
        match self.raw(name)? {
            "true" => Ok(true),
            "false" => Ok(false),
            v => Err(Self::bad(name, v, "true|false")),
        }
    }

    /// `k=v` pairs, in the specs' order.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.specs.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// The pairs that differ from `defaults`, as `k=v,k=v` (empty when all are defaults).
    pub fn diff(&self, defaults: &Params) -> String {
        self.pairs()
            .zip(defaults.pairs())
            .filter(|(a, b)| a.1 != b.1)
            .map(|((k, v), _)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ParamSpec] = &[
        ParamSpec { name: "n", kind: ParamKind::UInt { min: 1, max: 3 }, default: "2", help: "" },
        ParamSpec { name: "mode", kind: ParamKind::Choice(&["a", "b"]), default: "a", help: "" },
        ParamSpec { name: "flag", kind: ParamKind::Bool, default: "true", help: "" },
    ];

    #[test]
    fn defaults_and_valid_sets() {
        let mut p = Params::defaults("m", SPECS);
        assert_eq!(p.uint("n"), Ok(2));
        p.set_pair(SPECS, "n=3").unwrap();
        p.set_pair(SPECS, "mode=b").unwrap();
        p.set_pair(SPECS, "flag=false").unwrap();
        assert_eq!((p.uint("n"), p.choice("mode"), p.bool("flag")), (Ok(3), Ok("b"), Ok(false)));
        assert_eq!(p.diff(&Params::defaults("m", SPECS)), "n=3,mode=b,flag=false");
    }

    #[test]
    fn bad_input_is_named() {
        let mut p = Params::defaults("m", SPECS);
        assert!(
            matches!(p.set_pair(SPECS, "x=1"), Err(ParamError::Unknown { name, .. }) if name == "x")
        );
        assert!(
            matches!(p.set_pair(SPECS, "n=9"), Err(ParamError::BadValue { name, .. }) if name == "n")
        );
        assert!(matches!(p.set_pair(SPECS, "n=two"), Err(ParamError::BadValue { .. })));
        assert!(matches!(p.set_pair(SPECS, "mode=c"), Err(ParamError::BadValue { .. })));
        assert!(matches!(p.set_pair(SPECS, "flag=1"), Err(ParamError::BadValue { .. })));
        assert!(matches!(p.set_pair(SPECS, "n"), Err(ParamError::Malformed(_))));
        assert_eq!(p, Params::defaults("m", SPECS), "a failed set changes nothing");
    }
}
