//! The real runtime: the Actors of `twosafe-models` over TCP and disk.
//!
//! - [`host`]: the generic actor host (event loop, timers, write-ahead saves);
//! - [`connections`]: a node's TCP connections, the handshake and who may send what;
//! - [`journal`]: checksummed append-only journal of saves as changes, group commit, snapshot;
//! - [`wire`]: length-delimited postcard frames and the handshake;
//! - [`config`]: the cluster configuration file;
//! - [`binding`]: what the runtime needs from a protocol, and the protocols it hosts;
//! - [`node`]: a server process (`twosafe node`) of any bound protocol;
//! - [`chaos`]: a local cluster under load and kill -9, its history judged (`twosafe chaos`);
//! - [`client`]: the client library, driving a model's client role;
//! - [`fuzzy`]: the fuzzy-copy protocol's primary, new backup and clients hosted on loopback;
//! - [`conform`]: step traces and their replay through the model (`twosafe conform`);
//! - [`replay`]: the model checker's paths replayed against the host's core (the other way);
//! - [`load`]: the workload driver behind `twosafe load` and the fault tests.

pub mod auth;
pub mod binding;
pub mod chaos;
pub mod client;
pub mod config;
pub mod conform;
pub mod connections;
pub mod fuzzy;
pub mod host;
pub mod journal;
pub mod load;
pub mod node;
pub mod replay;
#[cfg(test)]
mod ssn_commit;
pub mod wire;
