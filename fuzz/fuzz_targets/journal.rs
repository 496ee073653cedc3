//! Journal recovery from arbitrary bytes (`journal::recover`, what a node does with its data
//! directory at start). The first byte picks how the rest is read: as a journal file as is
//! (checksums and all: what a damaged disk gives), or as a list of record payloads that the
//! target frames with valid checksums (what a bug in an encoder would give, reaching the
//! decoder and the replay of changes past the checksums). Whatever it reads, recovery returns
//! a value or an error, never panics; and what it keeps (the bytes before a torn tail)
//! recovers to the same value with nothing more to cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twosafe::models::linear_2pc::server::Durable;
use twosafe::models::services::{CounterOp, CounterReply};
use twosafe::runtime::journal::{self, recover, Identity};

type D = Durable<CounterOp, CounterReply>;

fn identity() -> Identity {
    Identity {
        format: journal::FORMAT,
        cluster: "fuzz".into(),
        protocol: "linear-2pc".into(),
        service: "counter".into(),
        node: 1,
    }
}

/// `data` as payloads, each preceded by its length (one byte), framed as records after the
/// identity record.
fn framed(data: &[u8], id: &Identity) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(first) = postcard::to_allocvec(&IdentityRecord::Identity(id.clone())) {
        journal::frame(&first, &mut out);
    }
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let (payload, tail) = tail.split_at(usize::from(len).min(tail.len()));
        journal::frame(payload, &mut out);
        rest = tail;
    }
    out
}

/// The identity record as the journal encodes it (its first variant).
#[derive(serde::Serialize)]
enum IdentityRecord {
    Identity(Identity),
}

fuzz_target!(|data: &[u8]| {
    let id = identity();
    let bytes = match data.split_first() {
        Some((mode, rest)) if mode % 2 == 1 => framed(rest, &id),
        Some((_, rest)) => rest.to_vec(),
        None => return,
    };
    if let Ok(found) = recover::<D>(&bytes, &id) {
        assert!(found.end <= bytes.len());
        let again = recover::<D>(&bytes[..found.end], &id).expect("the kept records recover");
        assert_eq!(again.end, found.end, "nothing more to cut");
        assert_eq!(again.value, found.value, "the same value");
    }
});
