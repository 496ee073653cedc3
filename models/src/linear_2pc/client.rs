//! The client role: issues its workload one request at a time, each with its client id (the
//! actor id), its session and a request sequence number; resends on a timer (a path failure:
//! the connection broke and was remade) and follows `NewPrimary` announcements (redirection
//! after takeover).
//!
//! A session is one run of a client id: its sequence numbers start at 0 and its number is
//! larger than any earlier session's of the same id (the model's client runs sessions 1, 2, …
//! one after another; the runtime's client library takes the wall clock in microseconds when it
//! opens one). A request of a session that a later one has expired is answered `Expired`: the
//! client stops (the runtime reports it).
//!
//! The client keeps every reply it received: the client-visible history that the properties
//! judge (what a client saw committed must survive; a resend must get the original reply).

use super::msg::Msg;
use super::msg::Timer;
use super::{Config, Epoch, Node};
use crate::history::other_server;
use crate::services::Service;
use crate::trace::{listed, one_line, Field, Fields};
use stateright::actor::{Id, Out};
use std::marker::PhantomData;

/// A client's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientState<Op, Reply: Clone> {
    /// The server the client believes is the primary.
    pub primary: Id,
    /// The epoch in which `primary` announced itself.
    pub primary_epoch: Epoch,
    /// Resends left for the outstanding request.
    pub resends_left: u8,
    /// Replies received, in request order, across sessions (persistent: the runtime copies
    /// the state at every step, so a long-running session must not copy all its replies each
    /// time).
    pub replies: imbl::Vector<Reply>,
    /// The outstanding request's operation: request number `replies.len() - first` of the
    /// session while `Some`.
    pub current: Option<Op>,
    /// The current session.
    pub session: u64,
    /// Replies received before the current session started.
    pub first: u32,
    /// Whether the server said the session expired (a later session of this client id has
    /// committed a step): the client sends nothing more.
    pub expired: bool,
}

impl<Op: std::fmt::Debug, Reply: Clone + std::fmt::Debug> Fields for ClientState<Op, Reply> {
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "primary (epoch)" => format!("server {} ({:?})", usize::from(self.primary), self.primary_epoch),
            "session" => format!("{} (replies before it: {})", self.session, self.first),
            "outstanding" => one_line(&self.current),
            "replies" => listed(self.replies.iter()),
            "resends left" => one_line(&self.resends_left),
            "expired" => one_line(&self.expired),
        ]
    }
}

impl<Op, Reply: Clone> ClientState<Op, Reply> {
    /// The sequence number of the session's next (or outstanding) request.
    pub fn seq(&self) -> u32 {
        self.replies.len() as u32 - self.first
    }
}

/// The client actor's fixed configuration.
#[derive(Clone, Debug)]
pub struct Client<S> {
    /// The model's configuration.
    pub cfg: Config,
    /// This client's number in the workload (0-based).
    pub index: usize,
    /// The first session's number.
    pub session: u64,
    _service: PhantomData<S>,
}

type O<S> = Out<Node<S>>;

impl<S: Service> Client<S> {
    /// Client number `index` of configuration `cfg`, starting with session 1.
    pub fn new(cfg: Config, index: usize) -> Self {
        Self::in_session(cfg, index, 1)
    }

    /// Client number `index` of configuration `cfg`, starting with session `session`.
    pub fn in_session(cfg: Config, index: usize, session: u64) -> Self {
        Client { cfg, index, session, _service: PhantomData }
    }

    /// The outstanding request (number and operation), if any.
    fn outstanding(s: &ClientState<S::Op, S::Reply>) -> Option<Msg<S::Op, S::Reply>> {
        let (session, seq) = (s.session, s.seq());
        s.current.as_ref().map(|op| Msg::Request { session, seq, op: op.clone() })
    }

    /// The workload's next operation after `done` replies, if the workload has one.
    fn next_op(&self, done: usize) -> Option<S::Op> {
        let all = self.cfg.requests * usize::from(self.cfg.sessions);
        (done < all).then(|| S::workload(self.index, done))
    }

    /// Sends the outstanding request to the believed primary and arms the resend timer.
    fn send(&self, s: &ClientState<S::Op, S::Reply>, o: &mut O<S>) {
        if let Some(req) = Self::outstanding(s) {
            o.send(s.primary, req);
            if self.cfg.resends > 0 {
                o.set_timer(Timer::Resend, self.cfg.timing.resend.clone());
            }
        }
    }

    /// Submits `op` as the next request (the runtime's client library; the model's clients
    /// take their operations from the workload instead). `None` while a request is outstanding.
    pub fn submit(
        &self, s: &ClientState<S::Op, S::Reply>, op: S::Op, o: &mut O<S>,
    ) -> Option<ClientState<S::Op, S::Reply>> {
        if s.current.is_some() || s.expired {
            return None;
        }
        let mut n = s.clone();
        n.current = Some(op);
        n.resends_left = self.cfg.resends;
        self.send(&n, o);
        Some(n)
    }

    /// Sends the first request to server 0, the initial primary.
    pub fn on_start(
        &self, _id: Id, _storage: &Option<super::server::Durable<S::Op, S::Reply>>, o: &mut O<S>,
    ) -> ClientState<S::Op, S::Reply> {
        let s = ClientState {
            primary: Id::from(0),
            primary_epoch: 0,
            resends_left: self.cfg.resends,
            replies: imbl::Vector::new(),
            current: self.next_op(0),
            session: self.session,
            first: 0,
            expired: false,
        };
        self.send(&s, o);
        s
    }

    /// Handles a reply or an announcement.
    pub fn on_msg(
        &self, s: &ClientState<S::Op, S::Reply>, src: Id, msg: Msg<S::Op, S::Reply>, o: &mut O<S>,
    ) -> Option<ClientState<S::Op, S::Reply>> {
        match msg {
            Msg::Reply { session, seq, reply }
                if s.current.is_some() && session == s.session && seq == s.seq() =>
            {
                let mut n = s.clone();
                n.replies.push_back(reply);
                n.resends_left = self.cfg.resends;
                if n.seq() as usize == self.cfg.requests {
                    // The session's last request: the next one starts a new session.
                    n.session += 1;
                    n.first = n.replies.len() as u32;
                }
                n.current = self.next_op(n.replies.len());
                if n.current.is_some() {
                    self.send(&n, o);
                } else {
                    o.cancel_timer(Timer::Resend);
                }
                Some(n)
            }
            Msg::NotPrimary { epoch } if epoch > s.primary_epoch && src == s.primary => {
                // The server we were sending to is not the primary of `epoch`: the other is.
                let mut n = s.clone();
                n.primary = other_server(src);
                n.primary_epoch = epoch;
                if let Some(req) = Self::outstanding(s) {
                    o.send(n.primary, req);
                }
                Some(n)
            }
            Msg::Expired { session, seq }
                if s.current.is_some() && session == s.session && seq == s.seq() =>
            {
                let mut n = s.clone();
                n.current = None;
                n.expired = true;
                o.cancel_timer(Timer::Resend);
                Some(n)
            }
            Msg::NewPrimary { epoch } if epoch >= s.primary_epoch => {
                let mut n = s.clone();
                n.primary = src;
                n.primary_epoch = epoch;
                if let Some(req) = Self::outstanding(s) {
                    o.send(src, req);
                }
                Some(n)
            }
            _ => None,
        }
    }

    /// Resends the outstanding request to the believed primary, within the resend budget (with
    /// `probe`, also asks the other server whether it is the primary).
    pub fn on_timeout(
        &self, s: &ClientState<S::Op, S::Reply>, timer: &Timer, o: &mut O<S>,
    ) -> Option<ClientState<S::Op, S::Reply>> {
        let req = Self::outstanding(s)?;
        if *timer != Timer::Resend || s.resends_left == 0 {
            return None;
        }
        let mut n = s.clone();
        n.resends_left = super::spend(s.resends_left);
        o.send(s.primary, req);
        if self.cfg.probe {
            // Our primary may be down for good and its successor's announcement lost (or sent
            // before we opened): ask the other server; a primary answers.
            o.send(other_server(s.primary), Msg::Probe);
        }
        if n.resends_left > 0 {
            o.set_timer(Timer::Resend, self.cfg.timing.resend.clone());
        }
        Some(n)
    }
}
