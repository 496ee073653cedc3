//! twosafe: the real world around the pure protocol models of `twosafe-models`: the check
//! runner behind `twosafe check` (and `cargo test`), the explorer behind `twosafe explore`, and
//! the [`runtime`] that runs the same Actors over TCP and disk (`twosafe node`, `cluster`,
//! `load`), and the paper experiments behind `twosafe bench` ([`bench`]).

#![warn(missing_docs)]

pub mod bench;
pub mod check;
pub mod explore;
pub mod runtime;

pub use twosafe_models as models;
