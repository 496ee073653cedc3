//! The runtime's hot paths: encoding and decoding a change-buffer frame, one primary step
//! (a request in, the change buffer out), and one journal save (change + record + write,
//! memory mode) against a history of 10,000 entries — which must cost O(change).
//! Run: `cargo bench --bench runtime`. Speed is measured here, never asserted in tests.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;
use twosafe::models::linear_2pc::model::Node;
use twosafe::models::linear_2pc::msg::{Entry, Msg};
use twosafe::models::linear_2pc::server::{Durable, Role, Server};
use twosafe::models::linear_2pc::Level;
use twosafe::models::service::{Counter, CounterOp, CounterReply};
use twosafe::models::stateright::actor::{Id, Out};
use twosafe::runtime::config::{ClusterConfig, Durability, ServiceKind};
use twosafe::runtime::journal::Journal;
use twosafe::runtime::wire::{self, Frame};

type M = Msg<CounterOp, CounterReply>;

fn entry(seq: u32) -> Entry<CounterOp, CounterReply> {
    Entry {
        client: Id::from(2),
        seq,
        op: CounterOp::Add(0, 1),
        reply: CounterReply(seq + 1),
    }
}

fn bench(c: &mut Criterion) {
    let frame: Frame<M> = Frame::Msg(Msg::ChangeBuffer {
        epoch: 0,
        index: 41,
        entry: entry(41),
    });
    let bytes = wire::encode(&frame);
    c.bench_function("wire/encode change buffer", |b| {
        b.iter(|| wire::encode(black_box(&frame)))
    });
    c.bench_function("wire/decode change buffer", |b| {
        b.iter(|| wire::decode::<M>(black_box(&bytes)))
    });

    let dir = std::env::temp_dir().join(format!("twosafe-bench-{}", std::process::id()));
    let cfg = ClusterConfig::local(&dir, 1, ServiceKind::Counter, Durability::Memory);
    let server = Server::<Counter>::new(cfg.model_config());
    let mut o = Out::<Node<Counter>>::new();
    let primary = server.on_start(Id::from(0), &None, &mut o);
    c.bench_function("primary step/request to change buffer", |b| {
        b.iter(|| {
            let mut o = Out::<Node<Counter>>::new();
            let req = Msg::Request {
                seq: 0,
                op: CounterOp::Add(0, 1),
            };
            server.on_msg(black_box(&primary), Id::from(2), req, &mut o)
        })
    });

    let mut d: Durable<CounterOp, CounterReply> = Durable {
        role: Role::Backup,
        epoch: 0,
        level: Level::Critical,
        log: (0..10_000).map(entry).collect(),
        applied: 10_000,
        restarts: 0,
    };
    let _ = std::fs::remove_dir_all(&dir);
    if let Ok((mut j, _, _)) = Journal::open(&dir, Durability::Memory) {
        j.save(&d);
        let _ = j.commit();
        let mut n = d.log.len() as u32;
        c.bench_function("journal/save one entry onto 10k (memory)", |b| {
            b.iter_batched(
                || {
                    d.log.push(entry(n));
                    n += 1;
                    d.applied = n;
                    d.clone()
                },
                |next| {
                    j.save(&next);
                    j.commit()
                },
                BatchSize::LargeInput,
            )
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
