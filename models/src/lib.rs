//! twosafe-models: the protocols of the twosafe workbench as pure stateright Actors.
//!
//! No IO, no tokio, no wall clock: every role is a state machine whose handlers take a state
//! and an event and emit commands (send, set/cancel timer, save) as data. The model checker
//! interprets those commands exhaustively; the twosafe runtime interprets the same commands
//! over TCP and disk.
//!
//! - [`service`]: the replicated application behind the [`service::Service`] trait;
//! - [`process`]: OPERA's process images (INST, START, TERM) as a service;
//! - [`accounts`]: TPC-B's account table as N objects (the fuzzy copy's runtime service);
//! - [`linear_2pc`]: OPERA's semantic backup with linear 2PC (seed 000 §3.1);
//! - [`migration`]: process migration by the backup mechanism and `migrate_all` (seed 000 §4);
//! - [`fragments`]: ClustRa's fragments on a circle of nodes, node sets, takeover and self-repair
//!   (seed 003 §3.3-§4);
//! - [`rolling_upgrade`]: a spare running version 2 caught up and handed over to (seed 002
//!   Fig. 2A);
//! - [`journaled`]: saves as changes, for the runtime's journal;
//! - [`catalogue`]: every model, its parameters, properties, variants and checked
//!   configurations; [`params`]: their validation; [`trace`]: readable counterexamples.

#![warn(missing_docs)]

pub mod accounts;
pub mod catalogue;
pub mod fragments;
pub mod fuzzy_copy;
pub mod history;
pub mod journaled;
pub mod linear_2pc;
pub mod logical_checkpointing;
pub mod migration;
pub mod node;
pub mod params;
pub mod process;
pub mod rolling_upgrade;
pub mod service;
pub mod trace;
pub mod transactions;

pub use stateright;
