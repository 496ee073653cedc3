//! The workload driver behind `twosafe load` and the fault tests: a window of client sessions,
//! each sending the service's workload back to back for a duration; latencies go into an HDR
//! histogram, and every request into the client-visible history (one record per request:
//! client id, sequence number, operation, reply, invoke and return times in microseconds),
//! and the stretches in which no request was answered into its pauses: what a client sees of a
//! takeover, a degradation (the primary waiting out its silent backup) or an outage.

use crate::runtime::binding::transactions::{Txn, TxnOp, TxnReply};
use crate::runtime::binding::Binding;
use crate::runtime::client::ClientError;
use crate::runtime::config::ClusterConfig;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use twosafe_models::services::{transactional, Service};

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Sessions (client ids).
    pub window: usize,
    /// Requests each session keeps outstanding at once (capped by the protocol's
    /// [`Binding::session_window`]): `window × per_session` in flight in all.
    pub per_session: usize,
    /// How long to send.
    pub duration: Duration,
    /// The first session's client id (sessions use `first_client ..`). A client id may be used
    /// again by a later run: each session has its own number, larger than the earlier one's.
    pub first_client: usize,
}

/// One request of the client-visible history.
#[derive(Clone, Debug, Serialize)]
pub struct Call<Op, Reply> {
    /// The client id.
    pub client: usize,
    /// The client's request number (in the order its requests were sent).
    pub seq: u64,
    /// The operation.
    pub op: Op,
    /// The reply, or `None` if none came (timeout: it may or may not have taken effect).
    pub reply: Option<Reply>,
    /// When it was sent, µs since the load started.
    pub invoke_us: u64,
    /// When the reply came (or the client gave up), µs since the load started.
    pub return_us: u64,
}

/// What a load run measured.
#[derive(Debug)]
pub struct LoadReport<Op, Reply> {
    /// Requests answered.
    pub answered: u64,
    /// Requests without a reply.
    pub unanswered: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency of answered requests, µs.
    pub latency: Histogram<u64>,
    /// The client-visible history, every session's calls in order.
    pub history: Vec<Call<Op, Reply>>,
    /// When the load started (the origin of the history's times), µs since the Unix epoch.
    pub started_us: u64,
    /// The stretches in which no request was answered.
    pub pauses: Pauses,
}

/// The shortest stretch without any reply that counts as a pause: far above a request's
/// latency here (a fraction of a millisecond, a few with fsync), below every failure-detection
/// time (a takeover's suspicion, a degradation's wait).
pub const PAUSE: Duration = Duration::from_millis(100);

/// The stretches of a load in which no request was answered, each at least [`PAUSE`] long.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Pauses {
    /// How many.
    pub count: usize,
    /// The longest, in milliseconds.
    pub longest_ms: f64,
    /// All together, in milliseconds.
    pub total_ms: f64,
    /// Each as (start, length) in milliseconds since the load started.
    pub each_ms: Vec<(f64, f64)>,
}

impl Pauses {
    /// The pauses of a closed-loop history (each session sends its next request as soon as
    /// the last is answered, so some request is outstanding all along): the gaps of at least
    /// [`PAUSE`] between the load's start and consecutive replies.
    pub fn of<Op, Reply>(history: &[Call<Op, Reply>]) -> Pauses {
        let mut replies: Vec<u64> =
            history.iter().filter(|c| c.reply.is_some()).map(|c| c.return_us).collect();
        replies.sort_unstable();
        let mut p = Pauses::default();
        let mut last = 0;
        for r in replies {
            if r - last >= PAUSE.as_micros() as u64 {
                let (at, len) = (last as f64 / 1000.0, (r - last) as f64 / 1000.0);
                p.count += 1;
                p.longest_ms = p.longest_ms.max(len);
                p.total_ms += len;
                p.each_ms.push((at, len));
            }
            last = r;
        }
        p
    }
}

/// What a transaction load's clients saw of their transactions.
#[derive(Clone, Debug, Serialize)]
pub struct TxnSummary {
    /// Transactions committed.
    pub committed: u64,
    /// Transactions aborted (each restarted under a new number).
    pub aborted: u64,
    /// A committed transaction's latency (its first request sent to its commit answered; a
    /// restarted one counts from its restart), ms: median.
    pub p50_ms: f64,
    /// The same, 99th percentile.
    pub p99_ms: f64,
}

impl<Op, Reply> LoadReport<transactional::TxnOp<Op>, transactional::TxnReply<Reply>> {
    /// The transactions committed and aborted, and the committed ones' latency.
    pub fn transactions(&self) -> TxnSummary {
        let (mut committed, mut aborted) = (0, 0);
        let mut started = std::collections::HashMap::new();
        let mut latency = Histogram::<u64>::new(3).ok();
        for c in &self.history {
            let (client, txn) = match &c.op {
                transactional::TxnOp::Request { client, txn, .. }
                | transactional::TxnOp::Commit { client, txn, .. }
                | transactional::TxnOp::Batch { client, txn, .. } => (*client, *txn),
            };
            let first = *started.entry((client, txn)).or_insert(c.invoke_us);
            match c.reply {
                Some(transactional::TxnReply::Committed { .. }) => {
                    committed += 1;
                    if let Some(h) = latency.as_mut() {
                        let _ = h.record((c.return_us - first).max(1));
                    }
                }
                Some(transactional::TxnReply::Aborted) => aborted += 1,
                _ => {}
            }
        }
        let ms = |q| latency.as_ref().map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0);
        TxnSummary { committed, aborted, p50_ms: ms(0.5), p99_ms: ms(0.99) }
    }
}

impl<Op, Reply> LoadReport<Op, Reply> {
    /// Answered requests per second.
    pub fn throughput(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q`, in milliseconds.
    pub fn latency_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Runs `spec` against the cluster, each session sending the service's workload
/// ([`Service::workload`]); `progress` is bumped on every answer (for a progress bar).
pub async fn run<P: Binding, S: Service>(
    cfg: &ClusterConfig, spec: &LoadSpec, progress: Arc<AtomicU64>,
) -> Result<LoadReport<S::Op, S::Reply>, ClientError> {
    run_with::<P, S, _>(cfg, spec, progress, |client| {
        let mut i = 0;
        move |_: Option<&S::Reply>| {
            i += 1;
            S::workload(client, i - 1)
        }
    })
    .await
}

/// How transactions are checkpointed (the logical-checkpointing patent, Fig. 5B/5C).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TxnMode {
    /// Each request is checkpointed as it comes (Fig. 5C): a takeover keeps the transaction.
    #[default]
    Entry,
    /// The primary executes the requests into its workspace and checkpoints the transaction
    /// at its end indicator (Fig. 5B): a takeover before it aborts the transaction.
    Batch,
}

/// What a transaction load sends: transactions of `ops` requests of the inner service's
/// workload, each followed by its end indicator.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TxnSpec {
    /// Requests per transaction (1..=255).
    pub ops: u8,
    /// Batch or entry by entry.
    pub mode: TxnMode,
}

impl From<TxnMode> for TxnSpec {
    /// Two-request transactions checkpointed as `mode`.
    fn from(mode: TxnMode) -> Self {
        TxnSpec { mode, ..TxnSpec::default() }
    }
}

impl Default for TxnSpec {
    /// Transactions of two requests (over the counter: one add to each counter), entry by
    /// entry.
    fn default() -> Self {
        TxnSpec { ops: 2, mode: TxnMode::Entry }
    }
}

/// Runs `spec` against a transactions cluster (`S` is the inner service, the nodes replicate
/// [`Txn<S>`]): each session runs transactions of `txn.ops` requests one after another. A
/// transaction answered `Aborted` (its primary failed before a batch was checkpointed, or a
/// request found the transaction gone) is restarted with the same requests under a new
/// transaction number. A transaction's number is the wall clock in microseconds when it
/// starts, above the session's last, so a client id used again (a later load) never reuses
/// one — the same assumption as session numbers ([`crate::runtime::client::open`]).
pub async fn run_transactions<P: Binding, S: Service>(
    cfg: &ClusterConfig, spec: &LoadSpec, txn: TxnSpec, progress: Arc<AtomicU64>,
) -> Result<LoadReport<TxnOp<S>, TxnReply<S>>, ClientError> {
    let (n, batch) = (txn.ops.max(1), txn.mode == TxnMode::Batch);
    // A transaction's requests follow each other: one outstanding per session.
    let spec = LoadSpec { per_session: 1, ..spec.clone() };
    run_with::<P, Txn<S>, _>(cfg, &spec, progress, move |client| {
        let (mut number, mut started, mut at) = (0u64, 0usize, 0u8);
        let mut ops: Vec<S::Op> = Vec::new();
        move |last: Option<&TxnReply<S>>| {
            let restart = match last {
                None | Some(transactional::TxnReply::Committed { .. }) => {
                    let first = started * usize::from(n);
                    ops = (0..usize::from(n)).map(|j| S::workload(client, first + j)).collect();
                    started += 1;
                    true
                }
                Some(transactional::TxnReply::Aborted) => true,
                Some(transactional::TxnReply::Executed { .. }) => false,
            };
            if restart {
                number = crate::runtime::conform::now_us().max(number + 1);
                at = 0;
            } else {
                at += 1;
            }
            let (client, txn) = (client as u32, number);
            match ops.get(usize::from(at)) {
                Some(op) => TxnOp::<S>::Request { client, txn, i: at, op: op.clone(), batch },
                None => TxnOp::<S>::Commit { client, txn, n, batch },
            }
        }
    })
    .await
}

/// Runs `spec` with each session's operations from `driver(client id)`: a function from the
/// reply to the last request of one of the session's slots (`None` before the slot's first) to
/// the session's next operation. Each of a session's `per_session` slots sends its next request
/// when its last is answered.
async fn run_with<P: Binding, S: Service, D>(
    cfg: &ClusterConfig, spec: &LoadSpec, progress: Arc<AtomicU64>, driver: impl Fn(usize) -> D,
) -> Result<LoadReport<S::Op, S::Reply>, ClientError>
where
    D: FnMut(Option<&S::Reply>) -> S::Op + Send + 'static,
{
    let started_us = crate::runtime::conform::now_us();
    let start = Instant::now();
    let until = start + spec.duration;
    let per_session = spec.per_session.clamp(1, P::session_window());
    let mut tasks = Vec::new();
    for k in 0..spec.window {
        let session = Arc::new(crate::runtime::client::open_windowed::<P, S>(
            cfg,
            spec.first_client + k,
            per_session,
        )?);
        let next = Arc::new(std::sync::Mutex::new(driver(session.id())));
        let sent = Arc::new(AtomicU64::new(0));
        let mut slots = Vec::new();
        for _ in 0..per_session {
            let (session, next, sent) = (session.clone(), next.clone(), sent.clone());
            let progress = progress.clone();
            slots.push(tokio::spawn(async move {
                let mut calls: Vec<Call<S::Op, S::Reply>> = Vec::new();
                while Instant::now() < until {
                    let op = {
                        let mut next = next.lock().unwrap_or_else(|e| e.into_inner());
                        next(calls.last().and_then(|c| c.reply.as_ref()))
                    };
                    let seq = sent.fetch_add(1, Ordering::Relaxed);
                    let invoke = start.elapsed();
                    let reply = session.submit(op.clone()).await;
                    let ret = start.elapsed();
                    let failed = reply.is_err();
                    calls.push(Call {
                        client: session.id(),
                        seq,
                        op,
                        reply: reply.ok(),
                        invoke_us: invoke.as_micros() as u64,
                        return_us: ret.as_micros() as u64,
                    });
                    if failed {
                        // The request is still outstanding: it holds this slot.
                        break;
                    }
                    progress.fetch_add(1, Ordering::Relaxed);
                }
                calls
            }));
        }
        tasks.push(tokio::spawn(async move {
            let mut calls = Vec::new();
            for slot in slots {
                if let Ok(c) = slot.await {
                    calls.extend(c);
                }
            }
            session.close().await;
            calls.sort_by_key(|c: &Call<S::Op, S::Reply>| c.seq);
            calls
        }));
    }
    let mut history = Vec::new();
    for t in tasks {
        if let Ok(calls) = t.await {
            history.extend(calls);
        }
    }
    let elapsed = start.elapsed();
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|_| ClientError::Stopped)?;
    let mut answered = 0;
    for c in &history {
        if c.reply.is_some() {
            answered += 1;
            let _ = latency.record((c.return_us - c.invoke_us).max(1));
        }
    }
    let pauses = Pauses::of(&history);
    Ok(LoadReport {
        pauses,
        answered,
        unanswered: history.len() as u64 - answered,
        elapsed,
        latency,
        history,
        started_us,
    })
}
