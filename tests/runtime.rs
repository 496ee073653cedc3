//! The runtime with real processes on loopback: `twosafe node` processes are killed with
//! SIGKILL at seeded random points during a load, restarted, and the client-visible history
//! is checked: no acknowledged update lost, every request applied at most once, and the
//! counter's replies linearizable. In both durability modes. Bounded: each round stops itself.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use twosafe::models::service::{Counter, CounterOp, CounterReply};
use twosafe::runtime::client::Session;
use twosafe::runtime::config::{ClusterConfig, Durability, ServiceKind};
use twosafe::runtime::load::{self, Call, LoadSpec};

/// A local cluster of `twosafe node` processes; dropped → every process killed.
struct Cluster {
    config: PathBuf,
    cfg: ClusterConfig,
    nodes: Vec<Option<Child>>,
}

fn free_port_pair() -> u16 {
    loop {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < 65000 && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

impl Cluster {
    fn start(dir: &Path, durability: Durability) -> Cluster {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let mut cfg = ClusterConfig::local(dir, free_port_pair(), ServiceKind::Counter, durability);
        cfg.suspect_ms = 500;
        let config = dir.join("cluster.toml");
        std::fs::write(&config, toml::to_string(&cfg).unwrap()).unwrap();
        let mut c = Cluster {
            config,
            cfg,
            nodes: vec![None, None],
        };
        c.restart(0);
        c.restart(1);
        c
    }

    fn restart(&mut self, id: usize) {
        let trace = self.config.with_file_name(format!("trace-{id}.jsonl"));
        let child = Command::new(env!("CARGO_BIN_EXE_twosafe"))
            .args(["node", "--config"])
            .arg(&self.config)
            .args(["--id", &id.to_string()])
            .arg("--trace")
            .arg(trace)
            .spawn()
            .unwrap();
        self.nodes[id] = Some(child);
    }

    fn kill(&mut self, id: usize) {
        if let Some(mut c) = self.nodes[id].take() {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 0..self.nodes.len() {
            self.kill(id);
        }
    }
}

/// A small seeded generator (xorshift64*), so a failing round can be replayed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

type History = Vec<Call<CounterOp, CounterReply>>;

/// Judges a counter history against the counters' final values.
/// - no acknowledged update lost: each key's final value is at least its acknowledged adds;
/// - at most once: it is at most the acknowledged plus the unanswered adds (a double apply of
///   any request would push it over), and no two acknowledged adds saw the same value;
/// - linearizable: if add a returned before add b was invoked (same key), a saw a smaller value.
fn judge(history: &History, finals: &BTreeMap<u8, u32>) -> Result<(), String> {
    let mut by_key: BTreeMap<u8, Vec<&Call<CounterOp, CounterReply>>> = BTreeMap::new();
    for c in history {
        if let CounterOp::Add(k, 1) = c.op {
            by_key.entry(k).or_default().push(c);
        } else {
            return Err(format!("unexpected op {:?}", c.op));
        }
    }
    for (k, calls) in by_key {
        let acked: Vec<_> = calls.iter().filter(|c| c.reply.is_some()).collect();
        let unanswered = calls.len() - acked.len();
        let fin = u64::from(finals.get(&k).copied().unwrap_or(0));
        let a = acked.len() as u64;
        if fin < a {
            return Err(format!(
                "key {k}: {a} adds acknowledged but the counter is {fin}: lost"
            ));
        }
        if fin > a + unanswered as u64 {
            return Err(format!(
                "key {k}: counter {fin} > {a} acknowledged + {unanswered} unanswered: applied twice"
            ));
        }
        let mut values: Vec<u32> = acked.iter().map(|c| c.reply.unwrap().0).collect();
        values.sort_unstable();
        if values.windows(2).any(|w| w[0] == w[1])
            || values.last().is_some_and(|v| u64::from(*v) > fin)
        {
            return Err(format!(
                "key {k}: acknowledged values repeat or exceed the final value"
            ));
        }
        // Real-time order: sort by return; the largest value returned before b's invocation
        // must be below b's value.
        let mut by_ret: Vec<(u64, u32)> = acked
            .iter()
            .map(|c| (c.return_us, c.reply.unwrap().0))
            .collect();
        by_ret.sort_unstable();
        let mut prefix_max = Vec::with_capacity(by_ret.len());
        let mut m = 0;
        for (_, v) in &by_ret {
            m = m.max(*v);
            prefix_max.push(m);
        }
        for b in &acked {
            let before = by_ret.partition_point(|(r, _)| *r < b.invoke_us);
            if before > 0 && prefix_max[before - 1] >= b.reply.unwrap().0 {
                return Err(format!(
                    "key {k}: client {} seq {} saw {} although {} was returned before it was sent",
                    b.client,
                    b.seq,
                    b.reply.unwrap().0,
                    prefix_max[before - 1]
                ));
            }
        }
    }
    Ok(())
}

/// One round, its directory (with the nodes' traces) removed afterwards.
fn round(durability: Durability, seed: u64, backup_kills: usize) -> usize {
    let (kills, dir) = round_in(durability, seed, backup_kills);
    let _ = std::fs::remove_dir_all(&dir);
    kills
}

/// One round: load with `window` sessions; kill the backup `backup_kills` times (restarting
/// it each time), then kill the primary (the backup takes over) and restart it (it is fenced
/// and retires); then read the counters and judge the history. Returns the kill points.
fn round_in(durability: Durability, seed: u64, backup_kills: usize) -> (usize, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "twosafe-runtime-{}-{durability:?}-{seed}",
        std::process::id()
    ));
    let mut cluster = Cluster::start(&dir, durability);
    let cfg = cluster.cfg.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let window = 3;
    let spec = LoadSpec {
        window,
        duration: Duration::from_millis(600 * (backup_kills as u64 + 2)),
        first_client: cfg.servers(),
    };
    let load_cfg = cfg.clone();
    let load = std::thread::spawn(move || {
        rt.block_on(load::run::<Counter>(
            &load_cfg,
            &spec,
            Arc::new(AtomicU64::new(0)),
        ))
        .unwrap()
    });
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut kills = 0;
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..backup_kills {
        std::thread::sleep(Duration::from_millis(50 + rng.below(250)));
        cluster.kill(1);
        kills += 1;
        std::thread::sleep(Duration::from_millis(20 + rng.below(200)));
        cluster.restart(1);
    }
    std::thread::sleep(Duration::from_millis(100 + rng.below(300)));
    cluster.kill(0);
    kills += 1;
    std::thread::sleep(Duration::from_millis(800));
    cluster.restart(0);
    let report = load.join().unwrap();
    // Read the final counters through a fresh session (it follows the new primary).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let finals: BTreeMap<u8, u32> = rt.block_on(async {
        let s = Session::<Counter>::open(&cfg, cfg.servers() + window).unwrap();
        let mut m = BTreeMap::new();
        for k in 0..2u8 {
            m.insert(k, s.submit(CounterOp::Get(k)).await.unwrap().0);
        }
        m
    });
    drop(cluster);
    let verdict = judge(&report.history, &finals);
    assert!(
        verdict.is_ok(),
        "durability {durability:?}, seed {seed}: {}",
        verdict.unwrap_err()
    );
    assert!(
        report.answered > 50,
        "the load made progress: {}",
        report.answered
    );
    assert_eq!(
        report.unanswered, 0,
        "every request answered (takeover, redirect)"
    );
    (kills, dir)
}

/// The nodes' traces of a real run with kills and a takeover replay step by step through the
/// model's server role; a trace edited to hold a step the model forbids is rejected, by line.
#[test]
fn conform_accepts_a_real_run_with_a_takeover_and_rejects_an_edited_trace() {
    let (_, dir) = round_in(Durability::Memory, 7, 1);
    let config = dir.join("cluster.toml");
    let traces = [dir.join("trace-0.jsonl"), dir.join("trace-1.jsonl")];
    let conform = |traces: &[PathBuf]| {
        Command::new(env!("CARGO_BIN_EXE_twosafe"))
            .args(["conform", "--config"])
            .arg(&config)
            .args(traces)
            .output()
            .unwrap()
    };
    let ok = conform(&traces);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // The backup's trace holds its takeover (a Takeover timer step).
    let backup = std::fs::read_to_string(&traces[1]).unwrap();
    assert!(
        backup.contains(r#"{"Timer":{"timer":"Takeover"}}"#),
        "no takeover recorded"
    );
    assert!(
        stdout.lines().count() == 2 && stdout.contains("steps"),
        "{stdout}"
    );
    // Edit the primary's trace: the first reply it sent now carries another value.
    let primary = std::fs::read_to_string(&traces[0]).unwrap();
    let (n, line) = primary
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(r#""Reply":{"seq":0,"reply":"#))
        .expect("the primary replied");
    let edited_line = line.replacen(
        r#""Reply":{"seq":0,"reply":"#,
        r#""Reply":{"seq":0,"reply":9"#,
        1,
    );
    let mut lines: Vec<&str> = primary.lines().collect();
    lines[n] = &edited_line;
    let edited = dir.join("trace-0-edited.jsonl");
    std::fs::write(&edited, lines.join("\n") + "\n").unwrap();
    let bad = conform(std::slice::from_ref(&edited));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        err.contains(&format!(
            "trace-0-edited.jsonl:{}: the model would not take this step",
            n + 1
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_in_memory_mode_loses_nothing_and_applies_once() {
    let kills: usize = (1..=2).map(|seed| round(Durability::Memory, seed, 4)).sum();
    assert_eq!(kills, 10);
}

#[test]
fn kill_9_in_fsync_mode_loses_nothing_and_applies_once() {
    let kills: usize = (1..=2).map(|seed| round(Durability::Fsync, seed, 4)).sum();
    assert_eq!(kills, 10);
}

#[test]
fn the_judge_catches_a_lost_update_a_double_apply_and_a_stale_value() {
    let add = |client, seq, reply: Option<u32>, inv, ret| Call {
        client,
        seq,
        op: CounterOp::Add(0, 1),
        reply: reply.map(CounterReply),
        invoke_us: inv,
        return_us: ret,
    };
    let good = vec![
        add(2, 0, Some(1), 0, 10),
        add(3, 0, Some(2), 5, 20),
        add(2, 1, None, 30, 40),
    ];
    let fin = |v| BTreeMap::from([(0u8, v)]);
    assert!(judge(&good, &fin(2)).is_ok());
    assert!(
        judge(&good, &fin(3)).is_ok(),
        "the unanswered add may have taken effect"
    );
    assert!(judge(&good, &fin(1)).unwrap_err().contains("lost"));
    assert!(judge(&good, &fin(4)).unwrap_err().contains("applied twice"));
    let stale = vec![add(2, 0, Some(2), 0, 10), add(3, 0, Some(1), 15, 20)];
    assert!(judge(&stale, &fin(2))
        .unwrap_err()
        .contains("returned before"));
}

/// Every kind of bad input at a live primary: each is refused on its own connection, with an
/// `Error` frame where the peer can read one, and the node keeps serving correct replies.
#[test]
fn bad_input_closes_only_that_connection_and_the_node_keeps_serving() {
    use bytes::Bytes;
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    use tokio_util::codec::Framed;
    use twosafe::models::linear_2pc::msg::{Entry, Msg};
    use twosafe::models::stateright::actor::Id;
    use twosafe::runtime::wire::{self, Frame, Hello, WIRE_VERSION};

    let dir = std::env::temp_dir().join(format!("twosafe-bad-input-{}", std::process::id()));
    let cluster = Cluster::start(&dir, Durability::Memory);
    let cfg = cluster.cfg.clone();
    let addr = cfg.node[0].addr;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let session = Session::<Counter>::open(&cfg, 2).unwrap();
        assert_eq!(
            session.submit(CounterOp::Add(0, 1)).await.unwrap(),
            CounterReply(1)
        );
        let hello = |cluster: &str, id: u64, protocol: &str, wire: u32| {
            Bytes::from(wire::encode(&Frame::<()>::Hello(Hello {
                cluster: cluster.into(),
                id,
                protocol: protocol.into(),
                wire,
            })))
        };
        // The reason in the Error frame the node answers with, or None if it just closed.
        async fn answer(
            f: &mut Framed<TcpStream, tokio_util::codec::LengthDelimitedCodec>,
        ) -> Option<String> {
            loop {
                match tokio::time::timeout(Duration::from_secs(5), f.next()).await {
                    Ok(Some(Ok(b))) => match wire::decode::<()>(&b) {
                        Ok(Frame::Error(reason)) => return Some(reason),
                        Ok(Frame::Welcome) => continue,
                        _ => continue,
                    },
                    _ => return None,
                }
            }
        }
        let connect =
            || async { Framed::new(TcpStream::connect(addr).await.unwrap(), wire::codec()) };
        let mut refused = Vec::new();
        // Handshakes: wrong cluster, protocol, wire version; an unknown node id.
        for h in [
            hello("other", 2, "linear-2pc", WIRE_VERSION),
            hello("local", 2, "tla", WIRE_VERSION),
            hello("local", 2, "linear-2pc", WIRE_VERSION + 1),
            hello("local", 9_999, "linear-2pc", WIRE_VERSION),
        ] {
            let mut f = connect().await;
            f.send(h).await.unwrap();
            refused.push(answer(&mut f).await);
        }
        // Garbage in place of a hello.
        let mut f = connect().await;
        f.send(Bytes::from_static(&[0xff, 0x13, 0x37, 0x00, 0x42]))
            .await
            .unwrap();
        refused.push(answer(&mut f).await);
        // An oversize frame (the length prefix alone says 256 MiB).
        let mut raw = TcpStream::connect(addr).await.unwrap();
        raw.write_all(&(256u32 << 20).to_be_bytes()).await.unwrap();
        raw.write_all(&[0; 64]).await.unwrap();
        let mut f = Framed::new(raw, wire::codec());
        refused.push(answer(&mut f).await);
        // A valid client handshake, then a message a client may not send (a change buffer).
        let mut f = connect().await;
        f.send(hello("local", 3, "linear-2pc", WIRE_VERSION))
            .await
            .unwrap();
        let forged: Msg<CounterOp, CounterReply> = Msg::ChangeBuffer {
            epoch: 0,
            index: 1,
            entry: Entry {
                client: Id::from(3),
                seq: 0,
                op: CounterOp::Add(0, 100),
                reply: CounterReply(100),
            },
        };
        f.send(Bytes::from(wire::encode(&Frame::Msg(forged))))
            .await
            .unwrap();
        refused.push(answer(&mut f).await);
        // A valid handshake, then bytes that are not a frame of this protocol.
        let mut f = connect().await;
        f.send(hello("local", 4, "linear-2pc", WIRE_VERSION))
            .await
            .unwrap();
        f.send(Bytes::from_static(&[0x07, 0xff, 0xff, 0xff, 0xff, 0xff]))
            .await
            .unwrap();
        refused.push(answer(&mut f).await);
        let expected = [
            "cluster",
            "protocol",
            "wire version",
            "unknown node id",
            "",
            "",
            "does not take",
            "",
        ];
        for (got, want) in refused.iter().zip(expected) {
            let got = got.as_deref().unwrap_or("");
            assert!(
                got.contains(want),
                "refusal {got:?} should mention {want:?}"
            );
        }
        assert!(
            refused.iter().skip(4).all(|r| r.is_some()),
            "every refusal is explained: {refused:?}"
        );
        // Still serving, with the forged change buffer ignored: exactly one add so far.
        assert_eq!(
            session.submit(CounterOp::Add(0, 1)).await.unwrap(),
            CounterReply(2)
        );
        let other = Session::<Counter>::open(&cfg, 5).unwrap();
        assert_eq!(
            other.submit(CounterOp::Get(0)).await.unwrap(),
            CounterReply(2)
        );
    });
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
