//! Messages of logical checkpointing (the logical-checkpointing patent, Fig. 3A-3D).

use serde::{Deserialize, Serialize};
use stateright::actor::Id;

/// A committed request: an entry of the message table with its response.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Committed<Op, Reply> {
    /// The service sequence number it was committed under.
    pub ssn: u8,
    /// The client.
    pub client: Id,
    /// The client's request sequence number.
    pub seq: u8,
    /// The request's data.
    pub op: Op,
    /// The response stored in the message table.
    pub reply: Reply,
}

/// A message of logical checkpointing.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Msg<Op, Reply> {
    /// Request `seq` of the sending client (Fig. 3B: client id, sequence number, data).
    Request {
        /// The client's request sequence number.
        seq: u8,
        /// The data.
        op: Op,
    },
    /// The response to request `seq`.
    Reply {
        /// The request answered.
        seq: u8,
        /// The response.
        reply: Reply,
    },
    /// The primary checkpoints a state-changing request under service sequence number `ssn`.
    Checkpoint {
        /// The primary's epoch.
        epoch: u8,
        /// The service sequence number.
        ssn: u8,
        /// The client.
        client: Id,
        /// The client's sequence number.
        seq: u8,
        /// The data.
        op: Op,
    },
    /// The backup has the checkpoint `ssn` in its durable intention log.
    Ack {
        /// The backup's epoch.
        epoch: u8,
        /// The SSN acknowledged.
        ssn: u8,
    },
    /// The sender is the primary now (the independent mechanism of Fig. 4B tells clients).
    NewPrimary {
        /// The new primary's epoch.
        epoch: u8,
    },
    /// With `heartbeats`: the primary lives (Hvasshovd et al. (ClustRa) §3.3, I-am-alive).
    IAmAlive {
        /// The primary's epoch.
        epoch: u8,
    },
    /// The backup heard an I-am-alive (the primary then sends the next one).
    AliveAck {
        /// The backup's epoch.
        epoch: u8,
    },
    /// With `heartbeats`: a primary that has a backup asks it whether it is still the primary
    /// before it answers read `seq` of `client` with `reply` (computed on arrival).
    Confirm {
        /// The primary's epoch.
        epoch: u8,
        /// The client.
        client: Id,
        /// The client's sequence number.
        seq: u8,
        /// The response, as of the read's arrival.
        reply: Reply,
    },
    /// The backup has not taken over: the read may be answered.
    Confirmed {
        /// The backup's epoch.
        epoch: u8,
        /// The client.
        client: Id,
        /// The client's sequence number.
        seq: u8,
        /// The response.
        reply: Reply,
    },
    /// The sender took over in `epoch`: a deposed primary that hears it retires to the spare
    /// pool (fencing).
    TakenOver {
        /// The new primary's epoch.
        epoch: u8,
    },
}

/// Timers.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Timer {
    /// A client's path failure: resend every outstanding request.
    Resend,
    /// The backup executes the logged request with this SSN (in any order).
    Execute(u8),
    /// The backup suspects the primary failed and takes over (with `heartbeats`, at any
    /// moment: the suspicion may be false).
    Takeover,
    /// With `heartbeats`: the primary's I-am-alive period.
    Heartbeat,
}

crate::client_message! {
    impl[Op, Reply] for Msg<Op, Reply>;
    Msg::Request { seq, op } => (0, u32::from(*seq), op);
    Msg::Reply { seq, reply } => (0, u32::from(*seq), reply);
}
