//! A client of online schema evolution: a user session (Chen, Jeng, Huang & Lin §II-B) that
//! sends its requests one at a time to the server, inserting, adding to and deleting its own
//! tuple in turn, and resends a request that gets no answer. It keeps every reply; it never
//! learns that the schema changed.

use super::msg::{Msg, Timer};
use super::{Config, Node, Reply, Saved, SERVER};
use crate::trace::{listed, one_line, Field, Fields};
use stateright::actor::{model_timeout, Id, Out};

/// A client's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientState {
    /// Replies received, in request order; the outstanding request is number `replies.len()`.
    pub replies: Vec<Reply>,
    /// Resends left for the outstanding request.
    pub resends_left: u8,
}

impl Fields for ClientState {
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "replies" => listed(self.replies.iter()),
            "resends left" => one_line(&self.resends_left),
        ]
    }
}

/// The client actor.
#[derive(Clone, Debug)]
pub struct Client {
    /// The model's configuration.
    pub cfg: Config,
    /// This client's number (0-based); it works on key `index`.
    pub index: usize,
}

type O = Out<Node>;

impl Client {
    /// Client number `index` of configuration `cfg`.
    pub fn new(cfg: Config, index: usize) -> Self {
        Client { cfg, index }
    }

    /// Whether the client has had all its replies.
    pub fn done(&self, s: &ClientState) -> bool {
        s.replies.len() >= self.cfg.requests
    }

    /// Sends the outstanding request (if any) and arms the resend timer while resends are
    /// left.
    fn send(&self, s: &ClientState, o: &mut O) {
        if self.done(s) {
            return;
        }
        let seq = s.replies.len();
        let op = self.cfg.workload(self.index, seq);
        o.send(Id::from(SERVER), Msg::Request { seq: seq as u32, op });
        if s.resends_left > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
    }

    /// Sends the first request.
    pub fn on_start(&self, _: Id, _: &Option<Saved>, o: &mut O) -> ClientState {
        let s = ClientState { replies: Vec::new(), resends_left: self.cfg.resends };
        self.send(&s, o);
        s
    }

    /// The reply to the outstanding request: on to the next one.
    pub fn on_msg(&self, s: &ClientState, _: Id, msg: Msg, o: &mut O) -> Option<ClientState> {
        match msg {
            Msg::Reply { seq, reply } if !self.done(s) && seq as usize == s.replies.len() => {
                let mut n = s.clone();
                n.replies.push(reply);
                n.resends_left = self.cfg.resends;
                o.cancel_timer(Timer::Resend);
                self.send(&n, o);
                Some(n)
            }
            _ => None,
        }
    }

    /// No reply in time: resend, within the budget.
    pub fn on_timeout(&self, s: &ClientState, _: &Timer, o: &mut O) -> Option<ClientState> {
        if self.done(s) || s.resends_left == 0 {
            return None;
        }
        let n = ClientState { replies: s.replies.clone(), resends_left: s.resends_left - 1 };
        self.send(&n, o);
        Some(n)
    }
}
