//! The wire: length-delimited frames (tokio-util's codec, a 4-byte length prefix and a frame
//! size limit) carrying postcard-encoded [`Frame`]s. Every connection starts with a
//! [`Hello`] from the side that connected; the listener answers `Welcome` or an `Error` frame
//! and closes. A caller that says it is a server is first challenged: the listener sends
//! `Challenge` (its nonce and its own proof), the caller checks it and answers `Proof`
//! ([`crate::runtime::auth`]).

use crate::runtime::auth::{Nonce, Tag};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use thiserror::Error;
use tokio_util::codec::LengthDelimitedCodec;

/// The wire format's version; a peer speaking another one is refused at the handshake.
pub const WIRE_VERSION: u32 = 3;

/// The largest frame accepted (a bigger one closes the connection). A takeback's catch-up
/// carries the whole committed history, so this bounds the history a node can rejoin with.
pub const MAX_FRAME: usize = 16 << 20;

/// The codec of every connection.
pub fn codec() -> LengthDelimitedCodec {
    codec_up_to(MAX_FRAME)
}

/// The codec of a connection whose frames may be at most `max` bytes (a longer one is an
/// error that closes the connection before its bytes are buffered).
pub fn codec_up_to(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(max.min(MAX_FRAME)).new_codec()
}

/// The first frame on a connection: who is calling, for which cluster and protocol.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The cluster's name.
    pub cluster: String,
    /// The caller's actor id (a server's index, or a client id).
    pub id: u64,
    /// The protocol's name.
    pub protocol: String,
    /// The caller's wire version.
    pub wire: u32,
    /// The caller's fresh nonce (what the listener's proof is about).
    pub nonce: Nonce,
}

/// One frame.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub enum Frame<M> {
    /// The handshake's first frame.
    Hello(Hello),
    /// The listener's challenge to a caller that says it is a server: its nonce, and its own
    /// proof that it holds the cluster's secret.
    Challenge {
        /// The listener's nonce.
        nonce: Nonce,
        /// The listener's proof.
        proof: Tag,
    },
    /// The caller's proof that it holds the cluster's secret.
    Proof(Tag),
    /// The handshake was accepted.
    Welcome,
    /// A protocol message from the connection's peer.
    Msg(M),
    /// The connection is being closed for this reason.
    Error(String),
}

/// A frame that could not be decoded.
#[derive(Debug, Error)]
#[error("malformed frame: {0}")]
pub struct DecodeError(#[from] postcard::Error);

/// Encodes a frame.
pub fn encode<M: Serialize>(frame: &Frame<M>) -> Vec<u8> {
    // postcard serialises these plain data types infallibly; an error would be a bug in a
    // Serialize impl of ours, so it is reported as an empty (refused) frame, not a panic.
    postcard::to_allocvec(frame).unwrap_or_default()
}

/// Decodes a frame.
pub fn decode<M: DeserializeOwned>(bytes: &[u8]) -> Result<Frame<M>, DecodeError> {
    Ok(postcard::from_bytes(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    quickcheck! {
        fn round_trip(id: u64, cluster: String, payload: Vec<u8>) -> bool {
            let hello: Frame<Vec<u8>> = Frame::Hello(Hello { cluster, id, protocol: "p".into(), wire: WIRE_VERSION, nonce: [7; 16] });
            let msg: Frame<Vec<u8>> = Frame::Msg(payload);
            decode::<Vec<u8>>(&encode(&hello)).ok() == Some(hello)
                && decode::<Vec<u8>>(&encode(&msg)).ok() == Some(msg)
        }

        fn a_truncated_frame_is_an_error_not_a_panic(payload: Vec<u8>, cut: usize) -> bool {
            let bytes = encode(&Frame::Msg(payload));
            let cut = cut % bytes.len();
            decode::<Vec<u8>>(&bytes[..cut]).is_err()
        }
    }
}
