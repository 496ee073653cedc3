//! Transactions live (the logical-checkpointing patent, Fig. 5A-5C): `twosafe node` processes
//! running logical checkpointing's roles over the transactional counter, under a load of
//! two-request transactions, with kills, a partition and takeovers; the client-visible
//! history judged all or none, and every node's trace replayed through the model. Both ways
//! to checkpoint: entry by entry and as a batch.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use twosafe::models::services::transactional::{TxnOp, TxnReply};
use twosafe::models::services::Counter;
use twosafe::models::services::{CounterOp, CounterReply};
use twosafe::runtime::binding::transactions::{Transactions, Txn};
use twosafe::runtime::binding::Protocol;
use twosafe::runtime::chaos::{
    self, judge_transactions, takeovers_in, ChaosSpec, LocalCluster, TxnHistory,
};
use twosafe::runtime::client;
use twosafe::runtime::config::{Durability, ServiceKind, SilentBackup};
use twosafe::runtime::load::{Call, TxnMode, TxnSpec};
use twosafe::runtime::node;

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_twosafe"))
}

/// The requests and end indicator of client 2's transaction `txn` (an add to each counter),
/// timed `at..at + 3`, answered as `end` says (`None`: the end indicator unanswered).
fn txn(txn: u64, at: u64, end: Option<TxnReply<CounterReply>>) -> TxnHistory {
    let call = |i: u64, op, reply| Call {
        client: 2,
        seq: i,
        op,
        reply,
        invoke_us: at + i,
        return_us: at + i + 1,
    };
    let request =
        |i: u8, k: u8| TxnOp::Request { client: 2, txn, i, op: CounterOp::Add(k, 1), batch: false };
    vec![
        call(0, request(0, 0), Some(TxnReply::Executed { i: 0 })),
        call(1, request(1, 1), Some(TxnReply::Executed { i: 1 })),
        call(2, TxnOp::Commit { client: 2, txn, n: 2, batch: false }, end),
    ]
}

fn committed(a: u32, b: u32) -> Option<TxnReply<CounterReply>> {
    Some(TxnReply::Committed { replies: vec![CounterReply(a), CounterReply(b)] })
}

#[test]
fn the_transaction_judge_catches_a_partial_a_lost_and_an_aborted_transaction() {
    let fin = |a, b| BTreeMap::from([(0u8, a), (1u8, b)]);
    let mut h = txn(1, 0, committed(1, 1));
    h.extend(txn(2, 10, Some(TxnReply::Aborted)));
    h.extend(txn(3, 20, None));
    let counts = judge_transactions(&h, &fin(1, 1)).unwrap();
    assert_eq!((counts.committed, counts.aborted, counts.uncertain), (1, 1, 1));
    assert!(judge_transactions(&h, &fin(2, 2)).is_ok(), "the unanswered one may have committed");
    let partial = judge_transactions(&h, &fin(2, 1)).unwrap_err();
    assert!(partial.contains("took effect in part"), "{partial}");
    let lost = judge_transactions(&h, &fin(0, 1)).unwrap_err();
    assert!(lost.contains("lost"), "{lost}");
    // The aborted transaction took effect too: more than committed + unanswered.
    let aborted = judge_transactions(&h, &fin(3, 3)).unwrap_err();
    assert!(aborted.contains("applied twice"), "{aborted}");
    // A commit answered with fewer replies than requests.
    let short = txn(1, 0, Some(TxnReply::Committed { replies: vec![CounterReply(1)] }));
    let e = judge_transactions(&short, &fin(1, 0)).unwrap_err();
    assert!(e.contains("not all or none"), "{e}");
    // Two transactions, the second begun after the first committed, saw an older value.
    let mut stale = txn(1, 0, committed(2, 2));
    stale.extend(txn(2, 10, committed(1, 1)));
    let e = judge_transactions(&stale, &fin(2, 2)).unwrap_err();
    assert!(e.contains("returned before"), "{e}");
}

/// A chaos run of `txn` with `durability`: eight backup kills (each with its restart), a
/// partition, two primary kills (takeovers), a load of three sessions for 8 s; asserts every
/// verdict and that all ten kills were made (the two runs below: 20 kill points).
fn chaos_run(txn: TxnSpec, durability: Durability, seed: u64) -> chaos::ChaosReport {
    let mode = txn.mode;
    let dir =
        std::env::temp_dir().join(format!("twosafe-txn-{mode:?}-{seed}-{}", std::process::id()));
    let spec = ChaosSpec {
        seconds: 8.0,
        seed,
        durability,
        backup_kills: 8,
        primary_kills: 2,
        partitions: 1,
        window: 3,
        per_session: 1,
        storage_faults: Vec::new(),
        silent_backup: SilentBackup::Block,
        protocol: Protocol::Transactions,
        buffers: 1,
        txn,
    };
    let r = chaos::run(exe(), &dir, &spec).unwrap();
    let context = format!("{mode:?}, seed {seed}: {r:?}");
    assert_eq!(r.history_violation, None, "{context}");
    assert_eq!(r.conformance_violation, None, "{context}");
    assert_eq!(r.unanswered, 0, "{context}");
    assert!(r.takeovers >= 1, "{context}");
    let kills = r.faults.iter().filter(|f| f.what.starts_with("kill -9")).count();
    assert_eq!(kills, 10, "{context}");
    let t = r.transactions.clone().expect("transaction counts");
    assert!(t.committed > 50, "{context}");
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// Entry by entry (Fig. 5C) every request a client was answered is at the backup, so a
/// takeover finds every open transaction whole: none is ever aborted.
#[test]
fn entry_by_entry_transactions_survive_kills_and_takeovers_without_an_abort() {
    let r = chaos_run(TxnMode::Entry.into(), Durability::Fsync, 3);
    assert_eq!(r.transactions.map(|t| t.aborted), Some(0), "{:?}", r.faults);
}

/// As a batch (Fig. 5B) the history is all or none too, with the transactions a takeover
/// aborted restarted (how many depends on where the kills fall: in five runs of
/// `twosafe chaos --protocol transactions --txn-mode batch --seconds 6`, seeds 4-8, 0 to 5).
#[test]
fn batch_transactions_survive_kills_and_takeovers_all_or_none() {
    let r = chaos_run(TxnMode::Batch.into(), Durability::Memory, 4);
    assert!(r.transactions.is_some_and(|t| t.committed > 50));
}

/// One transaction, request 0 answered by node 0, which is then killed; the rest of the
/// transaction goes to node 1 after its takeover. Returns the replies to request 1 and to the
/// end indicator.
fn across_a_takeover(mode: TxnMode) -> (TxnReply<CounterReply>, TxnReply<CounterReply>) {
    let dir =
        std::env::temp_dir().join(format!("twosafe-txn-takeover-{mode:?}-{}", std::process::id()));
    let mut cluster =
        LocalCluster::launch(exe(), &dir, Durability::Memory, ServiceKind::Counter, true, |c| {
            c.protocol = Protocol::Transactions;
            c.suspect_ms = 300;
        })
        .unwrap();
    let cfg = cluster.cfg.clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let batch = mode == TxnMode::Batch;
    let (client, txn) = (cfg.servers() as u32, 1);
    let request = |i: u8| TxnOp::Request { client, txn, i, op: CounterOp::Add(i, 1), batch };
    let replies = rt.block_on(async {
        let s = client::open::<Transactions, Txn<Counter>>(&cfg, client as usize).unwrap();
        assert_eq!(s.submit(request(0)).await.unwrap(), TxnReply::Executed { i: 0 });
        cluster.kill(0);
        tokio::time::sleep(Duration::from_millis(cfg.suspect_ms + 700)).await;
        let second = s.submit(request(1)).await.unwrap();
        let end = s.submit(TxnOp::Commit { client, txn, n: 2, batch }).await.unwrap();
        s.close().await;
        (second, end)
    });
    let traces = [cluster.trace(0), cluster.trace(1)];
    drop(cluster);
    assert!(takeovers_in(&traces[1]).unwrap().len() == 1, "node 1 took over");
    node::conform(&cfg, &traces).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    replies
}

/// The patent's difference between the two, on real processes: entry by entry (Fig. 5C) the
/// new primary has the transaction's first request in its internal state, so the transaction
/// goes on and commits both; as a batch (Fig. 5B) the first request was in the dead primary's
/// workspace only, so the new primary aborts the transaction (and its end indicator too).
#[test]
fn a_takeover_keeps_an_entry_by_entry_transaction_and_aborts_a_batch() {
    let (second, end) = across_a_takeover(TxnMode::Entry);
    assert_eq!(second, TxnReply::Executed { i: 1 });
    assert_eq!(end, TxnReply::Committed { replies: vec![CounterReply(1), CounterReply(1)] });
    let (second, end) = across_a_takeover(TxnMode::Batch);
    assert_eq!(second, TxnReply::Aborted);
    assert_eq!(end, TxnReply::Aborted);
}

/// TPC-B's transaction as four row requests (`service = "tpcb-rows"`), in both modes, one
/// client: every transaction commits with four replies, the history row's reply counts the
/// committed transactions one by one (each transaction's insert applied once, none lost
/// between them), and both nodes' traces conform.
#[test]
fn tpcb_transactions_of_four_row_requests_commit_whole_in_both_modes() {
    use twosafe::models::services::TpcbRows;
    use twosafe::runtime::load::{self, LoadSpec};
    for mode in [TxnMode::Entry, TxnMode::Batch] {
        let dir =
            std::env::temp_dir().join(format!("twosafe-txn-tpcb-{mode:?}-{}", std::process::id()));
        let cluster = LocalCluster::launch(
            exe(),
            &dir,
            Durability::Memory,
            ServiceKind::TpcbRows,
            true,
            |c| {
                c.protocol = Protocol::Transactions;
            },
        )
        .unwrap();
        let cfg = cluster.cfg.clone();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let spec = LoadSpec {
            per_session: 1,
            window: 1,
            duration: Duration::from_secs(1),
            first_client: 2,
        };
        let r = rt
            .block_on(load::run_transactions::<Transactions, TpcbRows>(
                &cfg,
                &spec,
                TxnSpec { ops: 4, mode },
                Default::default(),
            ))
            .unwrap();
        let rows: Vec<i64> = r
            .history
            .iter()
            .filter_map(|c| match &c.reply {
                Some(TxnReply::Committed { replies }) => {
                    assert_eq!(replies.len(), 4, "{mode:?}: {replies:?}");
                    Some(replies[3])
                }
                _ => None,
            })
            .collect();
        assert!(rows.len() > 20, "{mode:?}: {} committed", rows.len());
        assert_eq!(rows, (1..=rows.len() as i64).collect::<Vec<_>>(), "{mode:?}");
        let t = r.transactions();
        assert_eq!((r.unanswered, t.aborted, t.committed), (0, 0, rows.len() as u64), "{mode:?}");
        assert!(t.p50_ms > 0.0 && t.p99_ms >= t.p50_ms, "{mode:?}: {t:?}");
        let traces = [cluster.trace(0), cluster.trace(1)];
        drop(cluster);
        node::conform(&cfg, &traces).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
