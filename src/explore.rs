//! `twosafe explore`: serves stateright's Explorer for one model on localhost: states,
//! actions, the message sequence chart, properties and their counterexamples.

use std::net::{SocketAddr, TcpListener};
use thiserror::Error;
use twosafe_models::catalogue;
use twosafe_models::params::{ParamError, Params};
use twosafe_models::spec::ModelVisitor;
use twosafe_models::trace::Checkable;

/// Why the explorer could not start.
#[derive(Debug, Error)]
pub enum ExploreError {
    /// The model or a parameter is unknown or malformed.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The port cannot be bound (in use, or not allowed).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

struct Serve(SocketAddr);

impl ModelVisitor for Serve {
    type Output = ();
    fn visit<M: Checkable>(self, model: M) {
        // Blocks: the Explorer serves until the process is stopped.
        let _ = model.checker().threads(1).serve(self.0);
    }
}

/// Serves the Explorer for the model `params` describe on 127.0.0.1:`port` (0: a free port the
/// system chooses); never returns unless the address cannot be bound. `on_ready` is called with
/// the URL, with the port in use, once it can be.
pub fn serve(params: &Params, port: u16, on_ready: impl FnOnce(&str)) -> Result<(), ExploreError> {
    let wanted = SocketAddr::from(([127, 0, 0, 1], port));
    // stateright's server panics on a bind error: try the address first for a clear error,
    // and learn which port the system chose for port 0.
    let probe =
        TcpListener::bind(wanted).map_err(|source| ExploreError::Bind { addr: wanted, source })?;
    let addr = probe.local_addr().map_err(|source| ExploreError::Bind { addr: wanted, source })?;
    drop(probe);
    // The model is built (and its parameters validated) before the URL is announced.
    catalogue::model(params.model())?;
    on_ready(&format!("http://{addr}/"));
    catalogue::visit(params, Serve(addr))?;
    Ok(())
}
