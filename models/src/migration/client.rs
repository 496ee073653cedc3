//! The client role of the migration model: client k uses process k mod P, sends its workload
//! one request at a time to the server it believes runs the process (server 0 at first),
//! resends on a timer, and follows a `Moved` forwarding address.

use super::msg::{Msg, Timer};
use super::{Config, Node, ProcessId};
use crate::services::Service;
use crate::trace::{listed, one_line, Field, Fields};
use stateright::actor::{model_timeout, Id, Out};
use std::marker::PhantomData;

/// A client's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientState<Op, Reply: Clone> {
    /// The server the client believes runs its process.
    pub server: Id,
    /// Resends left for the outstanding request.
    pub resends_left: u8,
    /// Replies received, in request order.
    pub replies: Vec<Reply>,
    /// The outstanding request's operation: request number `replies.len()` while `Some`.
    pub current: Option<Op>,
}

impl<Op: std::fmt::Debug, Reply: Clone + std::fmt::Debug> Fields for ClientState<Op, Reply> {
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "server" => format!("server {}", usize::from(self.server)),
            "outstanding" => one_line(&self.current),
            "replies" => listed(self.replies.iter()),
            "resends left" => one_line(&self.resends_left),
        ]
    }
}

/// The client actor.
#[derive(Clone, Debug)]
pub struct Client<S> {
    /// The model's configuration.
    pub cfg: Config,
    /// This client's number (0-based).
    pub index: usize,
    _service: PhantomData<S>,
}

type O<S> = Out<Node<S>>;
type St<S> = ClientState<<S as Service>::Op, <S as Service>::Reply>;

impl<S: Service> Client<S> {
    /// Client number `index` of configuration `cfg`.
    pub fn new(cfg: Config, index: usize) -> Self {
        Client { cfg, index, _service: PhantomData }
    }

    /// The process this client uses.
    pub fn process(&self) -> ProcessId {
        (self.index % self.cfg.processes) as ProcessId
    }

    fn next_op(&self, done: usize) -> Option<S::Op> {
        (done < self.cfg.requests).then(|| S::workload(self.index, done))
    }

    fn send(&self, s: &St<S>, o: &mut O<S>) {
        if let Some(op) = &s.current {
            let req =
                Msg::Request { p: self.process(), seq: s.replies.len() as u32, op: op.clone() };
            o.send(s.server, req);
        }
    }

    /// Sends the first request to server 0.
    pub fn on_start(
        &self, _id: Id, _storage: &Option<super::server::Durable<S::Op, S::Reply>>, o: &mut O<S>,
    ) -> St<S> {
        let s = ClientState {
            server: Id::from(0),
            resends_left: self.cfg.resends,
            replies: Vec::new(),
            current: self.next_op(0),
        };
        self.send(&s, o);
        if s.current.is_some() && self.cfg.resends > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
        s
    }

    /// Handles a reply or a forwarding address.
    pub fn on_msg(
        &self, s: &St<S>, src: Id, msg: Msg<S::Op, S::Reply>, o: &mut O<S>,
    ) -> Option<St<S>> {
        match msg {
            Msg::Reply { p, seq, reply }
                if p == self.process()
                    && s.current.is_some()
                    && seq as usize == s.replies.len() =>
            {
                let mut n = s.clone();
                n.replies.push(reply);
                n.resends_left = self.cfg.resends;
                n.current = self.next_op(n.replies.len());
                self.send(&n, o);
                if n.current.is_some() && self.cfg.resends > 0 {
                    o.set_timer(Timer::Resend, model_timeout());
                } else {
                    o.cancel_timer(Timer::Resend);
                }
                Some(n)
            }
            Msg::Moved { p, to } if p == self.process() && src == s.server && to != s.server => {
                let mut n = s.clone();
                n.server = to;
                self.send(&n, o);
                Some(n)
            }
            _ => None,
        }
    }

    /// Resends the outstanding request, within the budget.
    pub fn on_timeout(&self, s: &St<S>, _timer: &Timer, o: &mut O<S>) -> Option<St<S>> {
        if s.current.is_none() || s.resends_left == 0 {
            return None;
        }
        let mut n = s.clone();
        n.resends_left = crate::history::spend(n.resends_left);
        self.send(&n, o);
        if n.resends_left > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
        Some(n)
    }
}
