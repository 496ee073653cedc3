//! Logical checkpointing (seed 002, the patent "Fault tolerance using logical checkpointing in
//! computing systems": Fig. 3A-3D, 4A, 4B).
//!
//! Only the *external view* is checkpointed: every state-changing request, as (client id,
//! request sequence number, data). The primary puts a request in its **message table**, gives it
//! the next **service sequence number** (SSN) and checkpoints it to the backup; the backup puts
//! it in its durable intention log, acks, and only then executes it — in any order, on several
//! threads — but commits strictly in SSN order. The primary commits on the ack (also in SSN
//! order), stores the response in its table and replies. Reads are not checkpointed.
//!
//! ```text
//!  client           primary                              backup
//!    |--Request(c,s)->| table[(c,s)] = ssn n                |
//!    |                |------ Checkpoint(n, c, s, op) ----->| intention log (durable)
//!    |                |<------------- Ack(n) ---------------| then execute (any order)
//!    |                | commit n (SSN order), table.reply   | commit in SSN order
//!    |<--Reply(s)-----|                                     |
//! ```
//!
//! Failures. A *path failure* loses a reply: the client reconnects and resends, and the primary
//! answers from its table (Fig. 4A). A *primary failure*: the backup becomes the primary; a
//! resent request whose commit is still pending waits for it and then gets the response the old
//! primary gave or would have given (Fig. 4B). Failure detection is assumed accurate here (the
//! backup takes over only when the primary is down; the model's boundary enforces it): issue 5
//! drops that assumption.

pub mod client;
pub mod model;
pub mod msg;
pub mod server;

pub use model::{build, visit, Config, Variant, NAME};
