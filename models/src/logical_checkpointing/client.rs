//! The client of logical checkpointing: a stream of requests (the logical-checkpointing patent:
//! "a client is a sequence of logically related requests") with up to `window` outstanding. In
//! the model, request `s` of a session is issued when request `s - window` has its response, so
//! each of the `window` slots is sequential; the runtime's client library hands it operations
//! instead ([`Client::submit`], with `requests = 0`). On a path failure (its resend timer) the
//! client resends every outstanding request (with `probe`, it also asks the other server
//! whether it is the primary: its own may be down for good and the announcement missed); told
//! of a new primary, it resends them there (Fig. 4A, 4B: "the client must resend the
//! requests").
//!
//! A *session* is one run of a client id: its sequence numbers start at 0 and its number is
//! larger than any earlier session's of the id (the model runs sessions 1, 2, … one after
//! another; the runtime takes the wall clock in microseconds). A request of a session that a
//! later one has expired is answered `Expired`, and the client stops.

use super::msg::{Epoch, Msg, Seq, Timer};
use super::{spend, Config, Node};
use crate::history::other_server;
use crate::services::Service;
use crate::trace::{listed, one_line, Field, Fields};
use stateright::actor::{Id, Out};
use std::collections::BTreeMap;
use std::marker::PhantomData;

/// A client's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientState<Op, Reply: Clone> {
    /// The server the client sends to.
    pub primary: Id,
    /// The epoch of the last announcement followed.
    pub primary_epoch: Epoch,
    /// Resends left (each resends every outstanding request).
    pub resends_left: u8,
    /// The current session.
    pub session: u64,
    /// The session's next sequence number (one past the highest issued).
    pub next: Seq,
    /// The session's requests issued and not answered, with their operations.
    pub outstanding: BTreeMap<Seq, Op>,
    /// Responses received, by (session, sequence number) (persistent: the runtime copies the
    /// state at every step).
    pub replies: imbl::OrdMap<(u64, Seq), Reply>,
    /// Whether the server said the session expired: the client sends nothing more.
    pub expired: bool,
}

impl<Op: std::fmt::Debug, Reply: Clone + std::fmt::Debug> Fields for ClientState<Op, Reply> {
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "primary (epoch)" => format!("server {} ({:?})", usize::from(self.primary), self.primary_epoch),
            "session / next seq" => format!("{} / {:?}", self.session, self.next),
            "outstanding" => listed(self.outstanding.iter()),
            "replies" => listed(self.replies.iter()),
            "resends left" => one_line(&self.resends_left),
            "expired" => one_line(&self.expired),
        ]
    }
}

/// The client actor's configuration.
#[derive(Clone, Debug)]
pub struct Client<S> {
    /// The model's configuration.
    pub cfg: Config,
    /// This client's number in the workload.
    pub index: usize,
    /// The first session's number.
    pub session: u64,
    _s: PhantomData<S>,
}

type O<S> = Out<Node<S>>;
type St<S> = ClientState<<S as Service>::Op, <S as Service>::Reply>;

impl<S: Service> Client<S> {
    /// Client number `index`, starting with session 1.
    pub fn new(cfg: Config, index: usize) -> Self {
        Self::in_session(cfg, index, 1)
    }

    /// Client number `index`, starting with session `session`.
    pub fn in_session(cfg: Config, index: usize, session: u64) -> Self {
        Client { cfg, index, session, _s: PhantomData }
    }

    /// The workload's operation for request `seq` of `session`.
    fn op(&self, session: u64, seq: Seq) -> S::Op {
        let done = (session - self.session) as usize * self.cfg.requests;
        S::workload(self.index, done + seq as usize)
    }

    /// Issues request `seq` of the current session: sends it to the believed primary.
    fn issue(&self, n: &mut St<S>, seq: Seq, op: S::Op, o: &mut O<S>) {
        o.send(n.primary, Msg::Request { session: n.session, seq, op: op.clone() });
        n.outstanding.insert(seq, op);
        n.next = n.next.max(seq + 1);
    }

    /// Starts the model's session `session`: its first `window` requests.
    fn start_session(&self, n: &mut St<S>, session: u64, o: &mut O<S>) {
        n.session = session;
        n.next = 0;
        for seq in 0..self.cfg.window.min(self.cfg.requests) as Seq {
            self.issue(n, seq, self.op(session, seq), o);
        }
    }

    fn send_outstanding(&self, s: &St<S>, to: Id, o: &mut O<S>) {
        for (seq, op) in &s.outstanding {
            o.send(to, Msg::Request { session: s.session, seq: *seq, op: op.clone() });
        }
    }

    fn arm_resend(&self, o: &mut O<S>) {
        if self.cfg.resends > 0 {
            o.set_timer(Timer::Resend, self.cfg.timing.resend.clone());
        }
    }

    /// Submits `op` as the session's next request (the runtime's client library; the model's
    /// clients take their operations from the workload). `None` while `window` requests are
    /// outstanding or once the session expired.
    pub fn submit(&self, s: &St<S>, op: S::Op, o: &mut O<S>) -> Option<St<S>> {
        if s.outstanding.len() >= self.cfg.window || s.expired {
            return None;
        }
        let mut n = s.clone();
        if n.outstanding.is_empty() {
            n.resends_left = self.cfg.resends;
        }
        let seq = n.next;
        self.issue(&mut n, seq, op, o);
        self.arm_resend(o);
        Some(n)
    }

    /// Issues the first session's first `window` requests to server 0.
    pub fn on_start(
        &self, _id: Id, _storage: &Option<super::server::Durable<S::Op, S::Reply>>, o: &mut O<S>,
    ) -> St<S> {
        let mut s = ClientState {
            primary: Id::from(0),
            primary_epoch: 0,
            resends_left: self.cfg.resends,
            session: self.session,
            next: 0,
            outstanding: BTreeMap::new(),
            replies: imbl::OrdMap::new(),
            expired: false,
        };
        self.start_session(&mut s, self.session, o);
        if self.cfg.requests > 0 {
            self.arm_resend(o);
        }
        s
    }

    /// Takes a response (issuing the next request of its slot, or the next session),
    /// an expiry or an announcement.
    pub fn on_msg(
        &self, s: &St<S>, src: Id, msg: Msg<S::Op, S::Reply>, o: &mut O<S>,
    ) -> Option<St<S>> {
        match msg {
            Msg::Reply { session, seq, reply }
                if session == s.session && s.outstanding.contains_key(&seq) =>
            {
                let mut n = s.clone();
                n.outstanding.remove(&seq);
                n.replies.insert((session, seq), reply);
                let requests = self.cfg.requests as Seq;
                if requests > 0 {
                    let next = seq + self.cfg.window as Seq;
                    if next < requests {
                        self.issue(&mut n, next, self.op(session, next), o);
                    } else if n.outstanding.is_empty()
                        && session + 1 < self.session + u64::from(self.cfg.sessions)
                    {
                        self.start_session(&mut n, session + 1, o);
                    }
                }
                if n.outstanding.is_empty() {
                    o.cancel_timer(Timer::Resend);
                }
                Some(n)
            }
            Msg::Expired { session, seq }
                if session == s.session && s.outstanding.contains_key(&seq) =>
            {
                let mut n = s.clone();
                n.outstanding.clear();
                n.expired = true;
                o.cancel_timer(Timer::Resend);
                Some(n)
            }
            Msg::NotPrimary { epoch }
                if src == s.primary && epoch > s.primary_epoch && !s.outstanding.is_empty() =>
            {
                // The server we were sending to is a spare or the backup: the other one serves
                // (or will, once it has taken over and finds us among its clients).
                let mut n = s.clone();
                n.primary = other_server(src);
                n.primary_epoch = epoch;
                self.send_outstanding(&n, n.primary, o);
                Some(n)
            }
            Msg::NewPrimary { epoch } if epoch > s.primary_epoch => {
                let mut n = s.clone();
                n.primary = src;
                n.primary_epoch = epoch;
                self.send_outstanding(&n, src, o);
                Some(n)
            }
            _ => None,
        }
    }

    /// A path failure: reconnect and resend every outstanding request.
    pub fn on_timeout(&self, s: &St<S>, timer: &Timer, o: &mut O<S>) -> Option<St<S>> {
        if *timer != Timer::Resend || s.resends_left == 0 || s.outstanding.is_empty() {
            return None;
        }
        let mut n = s.clone();
        n.resends_left = spend(s.resends_left);
        self.send_outstanding(&n, n.primary, o);
        if self.cfg.probe {
            // Our primary may be down for good and its successor's announcement lost (or sent
            // before we opened): ask the other server; a primary of a newer epoch answers.
            o.send(other_server(n.primary), Msg::Probe);
        }
        if n.resends_left > 0 {
            self.arm_resend(o);
        }
        Some(n)
    }
}
