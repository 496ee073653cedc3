//! The runtime's hot paths: encoding and decoding a change-buffer frame, one primary step
//! (a request in, the change buffer out), one journal save (change + record + write, memory
//! mode) against histories of 10,000 and 1,000,000 entries — which must cost the same, O(change) — and the whole
//! commit path: a client's request through an in-process primary and backup over loopback TCP
//! (both durability modes), reply included.
//! Run: `cargo bench --bench runtime`. Speed is measured here, never asserted in tests.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;
use twosafe::models::linear_2pc::msg::{Entry, Msg};
use twosafe::models::linear_2pc::server::{Durable, Role, Server};
use twosafe::models::linear_2pc::Level;
use twosafe::models::linear_2pc::Node;
use twosafe::models::services::{Counter, CounterOp, CounterReply};
use twosafe::models::stateright::actor::{Id, Out};
use twosafe::runtime::config::{ClusterConfig, Durability, ServiceKind};
use twosafe::runtime::journal::{self, Identity, Journal};
use twosafe::runtime::wire::{self, Frame};

type M = Msg<CounterOp, CounterReply>;

fn entry(seq: u32) -> Entry<CounterOp, CounterReply> {
    Entry {
        client: Id::from(2),
        session: 1,
        seq,
        op: CounterOp::Add(0, 1),
        reply: CounterReply(seq + 1),
    }
}

fn bench(c: &mut Criterion) {
    let frame: Frame<M> = Frame::Msg(Msg::ChangeBuffer { epoch: 0, index: 41, entry: entry(41) });
    let bytes = wire::encode(&frame);
    c.bench_function("wire/encode change buffer", |b| b.iter(|| wire::encode(black_box(&frame))));
    c.bench_function("wire/decode change buffer", |b| {
        b.iter(|| wire::decode::<M>(black_box(&bytes)))
    });

    let dir = std::env::temp_dir().join(format!("twosafe-bench-{}", std::process::id()));
    let cfg = ClusterConfig::local(&dir, 1, ServiceKind::Counter, Durability::Memory);
    let server = Server::<Counter>::new(twosafe::runtime::binding::linear_2pc::model_config(&cfg));
    let mut o = Out::<Node<Counter>>::new();
    let primary = server.on_start(Id::from(0), &None, &mut o);
    c.bench_function("primary step/request to change buffer", |b| {
        b.iter(|| {
            let mut o = Out::<Node<Counter>>::new();
            let req = Msg::Request { session: 1, seq: 0, op: CounterOp::Add(0, 1) };
            server.on_msg(black_box(&primary), Id::from(2), req, &mut o)
        })
    });

    // The same save against 10,000 and 1,000,000 entries: equal times say O(change).
    for len in [10_000u32, 1_000_000] {
        let mut d: Durable<CounterOp, CounterReply> = Durable {
            role: Role::Backup,
            epoch: 0,
            level: Level::Critical,
            log: (0..len).map(entry).collect(),
            applied: len,
            restarts: 0,
            wipes: 0,
            reconfigured: 0,
            incarnation: 0,
            joined: 0,
            caught_up: false,
        };
        let _ = std::fs::remove_dir_all(&dir);
        let me = Identity {
            format: journal::FORMAT,
            cluster: "bench".into(),
            protocol: "linear-2pc".into(),
            service: "counter".into(),
            node: 1,
        };
        let opened =
            journal::format(&dir, &me).and_then(|()| Journal::open(&dir, Durability::Memory, &me));
        if let Ok((mut j, _, _)) = opened {
            j.save(&d);
            let _ = j.commit();
            let mut n = d.log.len() as u32;
            c.bench_function(&format!("journal/save one entry onto {len} (memory)"), |b| {
                b.iter_batched_ref(
                    || {
                        d.log.push(entry(n));
                        n += 1;
                        d.applied = n;
                        d.clone()
                    },
                    |next| {
                        j.save(next);
                        j.commit()
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    commit_path(c);
}

/// Two nodes in this process (a thread and a runtime each), a client session, and one
/// request per iteration: client → primary → backup (save) → primary (save) → client.
fn commit_path(c: &mut Criterion) {
    for durability in [Durability::Memory, Durability::Fsync] {
        let dir = std::env::temp_dir()
            .join(format!("twosafe-bench-commit-{}-{durability:?}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let port = match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l.local_addr().map(|a| a.port()).unwrap_or(7900),
            Err(_) => 7900,
        };
        let cfg = ClusterConfig::local(&dir, port, ServiceKind::Counter, durability);
        if let Err(e) = twosafe::runtime::node::format(&cfg, 0..2) {
            eprintln!("commit path: cannot format the journals: {e}");
            return;
        }
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let stop_rx = std::sync::Arc::new(std::sync::Mutex::new(stop_rx));
        let nodes: Vec<_> = (0..2)
            .map(|id| {
                let cfg = cfg.clone();
                let stop_rx = stop_rx.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime");
                    let stop = async move {
                        loop {
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            let stopped =
                                stop_rx.lock().map(|r| r.try_recv().is_ok()).unwrap_or(true);
                            if stopped {
                                return;
                            }
                        }
                    };
                    let _ = rt.block_on(twosafe::runtime::node::serve(
                        &cfg,
                        id,
                        None,
                        twosafe::runtime::node::StartFrom::Journal,
                        stop,
                    ));
                })
            })
            .collect();
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let session = rt.block_on(async {
            let s = twosafe::runtime::client::Session::<Counter>::open(&cfg, 2).expect("a session");
            // The first request waits for the connections.
            let _ = s.submit(CounterOp::Add(0, 1)).await;
            s
        });
        c.bench_function(&format!("commit path/loopback pair ({durability:?})"), |b| {
            b.iter(|| rt.block_on(session.submit(CounterOp::Add(0, 1))))
        });
        rt.block_on(session.close());
        for _ in 0..2 {
            let _ = stop_tx.send(());
        }
        for n in nodes {
            let _ = n.join();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
