//! The frame decoder and the handshake, from arbitrary bytes off a socket: the length-delimited
//! codec cuts frames (at a client's frame cap), each is decoded as a linear-2PC frame; what
//! decodes must encode back to the same frame, a `Hello` goes through the listener's checks
//! (an accepted one is of this cluster, protocol and version), proofs through the HMAC check,
//! messages through client admission. Nothing may panic.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;
use tokio_util::codec::Decoder;
use twosafe::models::linear_2pc::msg::Msg;
use twosafe::models::services::{Counter, CounterOp, CounterReply};
use twosafe::runtime::auth::{Exchange, Side};
use twosafe::runtime::binding::{linear_2pc::Linear2pc, Binding};
use twosafe::runtime::config::{ClusterConfig, Durability, ServiceKind};
use twosafe::runtime::connections::{check_hello, Placement};
use twosafe::runtime::node::placement;
use twosafe::runtime::wire::{self, Frame};

type M = Msg<CounterOp, CounterReply>;

fn node() -> &'static Placement {
    static NODE: OnceLock<Placement> = OnceLock::new();
    NODE.get_or_init(|| {
        let cfg = ClusterConfig::local(
            Path::new("/nonexistent"),
            7000,
            ServiceKind::Counter,
            Durability::Memory,
        );
        placement(&cfg, 0)
    })
}

fn check(bytes: &[u8]) {
    let Ok(frame) = wire::decode::<M>(bytes) else {
        return;
    };
    let again = wire::decode::<M>(&wire::encode(&frame)).ok();
    assert_eq!(again.as_ref(), Some(&frame), "a decoded frame encodes back to itself");
    let p = node();
    match &frame {
        Frame::Hello(h) => {
            if check_hello(p, h).is_ok() {
                let ours = h.wire == wire::WIRE_VERSION
                    && h.cluster == p.cluster
                    && h.protocol == p.protocol;
                assert!(ours, "accepted a hello of another cluster or version: {h:?}");
            }
        }
        Frame::Proof(tag) | Frame::Challenge { proof: tag, .. } => {
            let e = Exchange {
                cluster: &p.cluster,
                caller: 1,
                callee: 0,
                caller_nonce: [0; 16],
                listener_nonce: [1; 16],
            };
            // The check a listener makes of a caller's proof, on a tag the fuzzer made up.
            let _ = e.verify(b"0123456789abcdef0123456789abcdef", Side::Caller, tag);
        }
        Frame::Msg(m) => {
            let _ = Linear2pc::admit::<Counter>(false, m);
        }
        Frame::Welcome | Frame::Error(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    // The bytes as one frame's payload, then as a stream the codec cuts into frames.
    check(data);
    let mut codec = wire::codec_up_to(64 << 10);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        check(&frame);
    }
});
