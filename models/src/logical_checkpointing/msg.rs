//! Messages of logical checkpointing (the logical-checkpointing patent, Fig. 3A-3D).

use serde::{Deserialize, Serialize};
use stateright::actor::Id;

/// A server's epoch: bumped by each takeover.
pub type Epoch = u64;
/// A service sequence number: the position of a request in the process's commit order.
pub type Ssn = u64;
/// A client's request sequence number within one of its sessions.
pub type Seq = u32;

/// A committed request: an entry of the message table with its response.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Committed<Op, Reply> {
    /// The service sequence number it was committed under.
    pub ssn: Ssn,
    /// The client.
    pub client: Id,
    /// The client's session.
    pub session: u64,
    /// The client's request sequence number in that session.
    pub seq: Seq,
    /// The request's data.
    pub op: Op,
    /// The response stored in the message table.
    pub reply: Reply,
}

/// A message of logical checkpointing.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Msg<Op, Reply> {
    /// Request `seq` of the sending client's session `session` (Fig. 3B: client id, sequence
    /// number, data; the session tells a client id used again from its earlier use).
    Request {
        /// The client's session.
        session: u64,
        /// The client's request sequence number in that session.
        seq: Seq,
        /// The data.
        op: Op,
    },
    /// The response to request `seq` of session `session`.
    Reply {
        /// The request's session.
        session: u64,
        /// The request answered.
        seq: Seq,
        /// The response.
        reply: Reply,
    },
    /// A later session of the client id has committed a request: request `seq` of this
    /// earlier session is refused, neither executed nor answered from the table.
    Expired {
        /// The expired session.
        session: u64,
        /// The request refused.
        seq: Seq,
    },
    /// The primary checkpoints a state-changing request under service sequence number `ssn`.
    Checkpoint {
        /// The primary's epoch.
        epoch: Epoch,
        /// The service sequence number.
        ssn: Ssn,
        /// The client.
        client: Id,
        /// The client's session.
        session: u64,
        /// The client's sequence number.
        seq: Seq,
        /// The data.
        op: Op,
    },
    /// The backup has the checkpoint `ssn` in its durable intention log.
    Ack {
        /// The backup's epoch.
        epoch: Epoch,
        /// The SSN acknowledged.
        ssn: Ssn,
    },
    /// The sender is a spare (a failed or deposed primary) or the backup: the client tries
    /// the other server. What a client that missed the announcement, or opened after it, or
    /// started at the server that is now the backup, learns it from.
    NotPrimary {
        /// The other server's epoch as a primary is at least this (a backup's own epoch; a
        /// spare's plus one): the client follows only news newer than what it knows, so it
        /// never bounces between a spare and a backup that has not taken over yet.
        epoch: Epoch,
    },
    /// The sender is the primary now (the independent mechanism of Fig. 4B tells clients).
    NewPrimary {
        /// The new primary's epoch.
        epoch: Epoch,
    },
    /// With `heartbeats`: the primary lives (Hvasshovd et al. (ClustRa) §3.3, I-am-alive).
    IAmAlive {
        /// The primary's epoch.
        epoch: Epoch,
    },
    /// The backup heard an I-am-alive (the primary then sends the next one).
    AliveAck {
        /// The backup's epoch.
        epoch: Epoch,
    },
    /// With `heartbeats`: a primary that has a backup asks it whether it is still the primary
    /// before it answers read `seq` of `client` with `reply` (computed on arrival).
    Confirm {
        /// The primary's epoch.
        epoch: Epoch,
        /// The client.
        client: Id,
        /// The client's session.
        session: u64,
        /// The client's sequence number.
        seq: Seq,
        /// The response, as of the read's arrival.
        reply: Reply,
    },
    /// The backup has not taken over: the read may be answered.
    Confirmed {
        /// The backup's epoch.
        epoch: Epoch,
        /// The client.
        client: Id,
        /// The client's session.
        session: u64,
        /// The client's sequence number.
        seq: Seq,
        /// The response.
        reply: Reply,
    },
    /// The sender took over in `epoch`: a deposed primary that hears it retires to the spare
    /// pool (fencing).
    TakenOver {
        /// The new primary's epoch.
        epoch: Epoch,
    },
    /// A spare asks the primary to make it the backup, holding the first `have` committed
    /// requests (a spare's history is a prefix of the primary's: it committed only what its
    /// backup had acknowledged, and the backup kept all of that when it took over).
    Join {
        /// The spare's epoch.
        epoch: Epoch,
        /// The length of the spare's history.
        have: Ssn,
        /// The spare's incarnation: new at every loss of its storage (the model counts them;
        /// the runtime draws one at random), echoed by the `CatchUp`, so that a chunk sent to
        /// an earlier incarnation never reaches a later one.
        inc: u64,
        /// The spare lost its storage and holds nothing yet (a learner): a spare peer of the
        /// same epoch that holds the history catches it up too.
        learner: bool,
    },
    /// The primary's committed requests from SSN `from` on, at most a chunk of them (no one
    /// message carries the whole history); with `last`, they reach the end of the primary's
    /// history and the spare is its backup from then on.
    CatchUp {
        /// The primary's epoch.
        epoch: Epoch,
        /// The incarnation of the spare it answers.
        inc: u64,
        /// The SSN of the first entry.
        from: Ssn,
        /// Committed requests `from..from + entries.len()`.
        entries: Vec<Committed<Op, Reply>>,
        /// The entries reach the end of the primary's history.
        last: bool,
    },
    /// With `probe`: a client whose resend timer fired asks the server it does not send to
    /// whether that one is the primary (its own may be down for good, and the announcement
    /// lost or sent before the client opened); a primary answers `NewPrimary`.
    Probe,
}

/// Timers.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Timer {
    /// A client's path failure: resend every outstanding request.
    Resend,
    /// The backup executes the logged request with this SSN (in any order).
    Execute(Ssn),
    /// The backup suspects the primary failed and takes over (with `heartbeats`, at any
    /// moment: the suspicion may be false).
    Takeover,
    /// With `heartbeats`: the primary's I-am-alive period.
    Heartbeat,
    /// A spare asks the primary again to make it the backup (the `Join` or a `CatchUp` may
    /// have been lost).
    Join,
    /// Model only, armed only when the model explores storage faults (`wipes`): the server
    /// crashes and comes back with its storage lost, as a learner. The runtime never arms it;
    /// there, a node whose journal is lost or damaged is started as a learner (`twosafe node
    /// --rejoin`).
    StorageLost,
}

crate::client_message! {
    impl[Op, Reply] for Msg<Op, Reply>;
    Msg::Request { session, seq, op } => (0, crate::history::history_seq(*session, *seq), op);
    Msg::Reply { session, seq, reply } => (0, crate::history::history_seq(*session, *seq), reply);
}
