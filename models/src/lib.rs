//! twosafe-models: the protocols of the twosafe workbench as pure stateright Actors.
//!
//! No IO, no tokio, no wall clock: every role is a state machine whose handlers take a state
//! and an event and emit commands (send, set/cancel timer, save) as data. The model checker
//! interprets those commands exhaustively; the twosafe runtime interprets the same commands
//! over TCP and disk.
//!
//! The protocols, each in its own folder laid out the same way (`mod.rs`: the essay and the
//! shared types — variants, configuration, the actor enum; `msg.rs`: messages and timers; a
//! file per role; `model.rs`: parameters, properties, configurations and the builder):
//! - [`linear_2pc`]: OPERA's semantic backup with linear 2PC (Hagen & Alonso §3.1);
//! - [`logical_checkpointing`]: the patent's message table and SSN-ordered commit (Fig. 3-4),
//!   and the second model of its roles, transactions (Fig. 5);
//! - [`fuzzy_copy`]: a new backup by fuzzy copy and filtered log replay (the patent's "new
//!   backup"; ClustRa §4), and the rolling upgrade built from the same roles (Fig. 2A);
//! - [`migration`]: process migration by the backup mechanism and `migrate_all` (Hagen &
//!   Alonso §4);
//! - [`fragments`]: ClustRa's fragments on a circle of nodes, node sets, takeover and
//!   self-repair (Hvasshovd et al. §3.3-§4);
//! - [`lazy_primary_copy`]: lazy primary copy, the 1-safe comparison point (Ameling, Roy &
//!   Kemme §3.2): commit at the primary, reply, propagate later; reads served locally;
//! - [`schema_evolution`]: online schema evolution (Chen, Jeng, Huang & Lin §III): capture and
//!   coalescing into a Temp Table, a converter that may crash, the switch when N·X < T, trap and
//!   recover;
//! - [`two_phase`]: Gray & Lamport's two-phase commit, transcribed from its TLA+ module: not a
//!   seed's protocol but the calibration of the checker against TLC's published counts.
//!
//! Below them, shared by all: [`spec`] (what a protocol declares about itself: parameters,
//! properties, variants, configurations), [`params`] (parameter values and the shared
//! parameters), [`services`] (the replicated applications behind the
//! [`services::Service`] trait), [`commit_log`] (the history with its message table),
//! [`history`] (client histories and crash budgets), [`node`] (the actor enum of a protocol),
//! [`journaled`] (saves as changes, for the runtime's journal), [`trace`] (readable
//! counterexamples). Above them: [`catalogue`], the list of registered protocols.

#![warn(missing_docs)]

pub mod catalogue;
pub mod commit_log;
pub mod fairness;
pub mod fragments;
pub mod fuzzy_copy;
pub mod history;
pub mod in_flight_once;
pub mod journaled;
pub mod lazy_primary_copy;
pub mod linear_2pc;
pub mod logical_checkpointing;
pub mod migration;
pub mod node;
pub mod params;
pub mod schema_evolution;
pub mod search;
pub mod services;
pub mod spec;
pub mod trace;
pub mod two_phase;

pub use stateright;
