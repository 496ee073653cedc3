//! twosafe: the real world around the pure protocol models of `twosafe-models` — for now the
//! check runner behind `twosafe check` (and `cargo test`) and the explorer behind
//! `twosafe explore`. The TCP runtime, storage, client library and experiment harness come
//! with later issues and will interpret the same Actors.

#![warn(missing_docs)]

pub mod check;
pub mod explore;
pub mod ssn_commit;

pub use twosafe_models as models;
