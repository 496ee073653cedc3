//! Peer authentication: in the handshake, a server proves that it holds the cluster's secret,
//! and so does the server it calls — an HMAC-SHA256 challenge and response each way over both
//! sides' fresh nonces, bound to the cluster, the caller's and the callee's ids. Without the
//! secret, a process can connect only as a client, and a client may send only requests (the
//! binding's `admit`): no one else can pose as a peer and depose the primary (issue 17's
//! "spoofed peer"). Clients do not hold the secret and do not authenticate the servers; that
//! would take TLS with a cluster CA.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A handshake nonce.
pub type Nonce = [u8; 16];
/// An HMAC-SHA256 tag.
pub type Tag = [u8; 32];

/// The least secret accepted, in bytes.
pub const MIN_SECRET: usize = 16;

/// Which side of the handshake a tag proves (so that one side's tag is never the other's).
#[derive(Clone, Copy, Debug)]
pub enum Side {
    /// The server that accepted the connection.
    Listener,
    /// The server that connected.
    Caller,
}

/// What a tag is about: the connection between `caller` and `callee` of `cluster`, with both
/// sides' nonces.
pub struct Exchange<'a> {
    /// The cluster's name.
    pub cluster: &'a str,
    /// The id of the server that connected.
    pub caller: u64,
    /// The id of the server it connected to.
    pub callee: u64,
    /// The caller's nonce (in its hello).
    pub caller_nonce: Nonce,
    /// The listener's nonce (in its challenge).
    pub listener_nonce: Nonce,
}

impl Exchange<'_> {
    fn mac(&self, secret: &[u8], side: Side) -> Hmac<Sha256> {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        };
        m.update(match side {
            Side::Listener => b"twosafe listener\0",
            Side::Caller => b"twosafe caller\0\0\0",
        });
        m.update(&(self.cluster.len() as u64).to_le_bytes());
        m.update(self.cluster.as_bytes());
        m.update(&self.caller.to_le_bytes());
        m.update(&self.callee.to_le_bytes());
        m.update(&self.caller_nonce);
        m.update(&self.listener_nonce);
        m
    }

    /// `side`'s proof that it holds `secret`.
    pub fn tag(&self, secret: &[u8], side: Side) -> Tag {
        self.mac(secret, side).finalize().into_bytes().into()
    }

    /// Whether `tag` is `side`'s proof (compared in constant time).
    pub fn verify(&self, secret: &[u8], side: Side, tag: &Tag) -> bool {
        self.mac(secret, side).verify_slice(tag).is_ok()
    }
}

/// A fresh random nonce (the operating system's generator).
pub fn nonce() -> Result<Nonce, getrandom::Error> {
    let mut n = [0; 16];
    getrandom::fill(&mut n)?;
    Ok(n)
}

/// A new random secret of 32 bytes, as the hex the cluster file holds.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut s = [0u8; 32];
    getrandom::fill(&mut s)?;
    Ok(s.iter().map(|b| format!("{b:02x}")).collect())
}

/// A random secret for a cluster that lives in one process (a benchmark's), never written.
pub fn process_secret() -> std::sync::Arc<[u8]> {
    static SECRET: std::sync::OnceLock<std::sync::Arc<[u8]>> = std::sync::OnceLock::new();
    SECRET
        .get_or_init(|| {
            let mut s = [0u8; 32];
            // Without the OS generator, the process's hash keys (themselves random) will do.
            if getrandom::fill(&mut s).is_err() {
                use std::hash::{BuildHasher, Hasher};
                for chunk in s.chunks_mut(8) {
                    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                    h.write_u32(std::process::id());
                    chunk.copy_from_slice(&h.finish().to_le_bytes());
                }
            }
            std::sync::Arc::from(s.as_slice())
        })
        .clone()
}

/// The secret's bytes from the cluster file's hex; an error says what is wrong.
pub fn parse_secret(hex: &str) -> Result<Vec<u8>, String> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("secret must be hexadecimal digits (an even number of them)".into());
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    if bytes.len() < MIN_SECRET {
        return Err(format!(
            "secret has {} bytes, at least {MIN_SECRET} are needed (`twosafe config` writes a \
             random one of 32)",
            bytes.len()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange() -> Exchange<'static> {
        Exchange {
            cluster: "c",
            caller: 1,
            callee: 0,
            caller_nonce: [1; 16],
            listener_nonce: [2; 16],
        }
    }

    #[test]
    fn a_tag_verifies_only_with_the_secret_the_side_and_the_exchange_it_was_made_for() {
        let e = exchange();
        let t = e.tag(b"0123456789abcdef", Side::Caller);
        assert!(e.verify(b"0123456789abcdef", Side::Caller, &t));
        assert!(!e.verify(b"0123456789abcdeX", Side::Caller, &t), "another secret");
        assert!(!e.verify(b"0123456789abcdef", Side::Listener, &t), "the other side");
        let replayed = Exchange { listener_nonce: [3; 16], ..exchange() };
        assert!(!replayed.verify(b"0123456789abcdef", Side::Caller, &t), "another nonce");
        let posing = Exchange { caller: 2, ..exchange() };
        assert!(!posing.verify(b"0123456789abcdef", Side::Caller, &t), "another caller");
    }

    #[test]
    fn secrets_are_hex_of_at_least_16_bytes() {
        let s = new_secret().unwrap();
        assert_eq!(parse_secret(&s).unwrap().len(), 32);
        assert!(parse_secret("abc").is_err());
        assert!(parse_secret("zz").is_err());
        assert!(parse_secret(&"ab".repeat(15)).unwrap_err().contains("at least 16"));
        assert_ne!(nonce().unwrap(), nonce().unwrap());
    }
}
