//! The client role of lazy primary copy (Ameling, Roy & Kemme §4.1.3: "a client is always
//! connected to one of the servers"): a client sends its requests, one at a time, to its
//! server; when no reply comes it resends, each time to the next server in turn (its server
//! may have failed: it connects to another). A writer puts into its own key and reads it back;
//! a reader reads key 0. The client keeps every reply: the client-visible history the
//! properties judge.

use super::msg::{Msg, Timer};
use super::{Config, Node};
use crate::services::RegisterReply;
use crate::trace::{listed, one_line, Field, Fields};
use stateright::actor::{model_timeout, Id, Out};

/// A client's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientState {
    /// The server it sends to.
    pub server: usize,
    /// Replies received, in request order; the outstanding request is number `replies.len()`.
    pub replies: Vec<RegisterReply>,
    /// Resends left for the outstanding request.
    pub resends_left: u8,
}

impl Fields for ClientState {
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "server" => one_line(&self.server),
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
    /// This client's number (0-based: the writers, then the readers).
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

    /// Sends the outstanding request (if any) to the client's server and arms the resend
    /// timer while resends are left.
    fn send(&self, s: &ClientState, o: &mut O) {
        if self.done(s) {
            return;
        }
        let seq = s.replies.len();
        let op = self.cfg.workload(self.index, seq);
        o.send(Id::from(s.server), Msg::Request { seq: seq as u32, op });
        if s.resends_left > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
    }

    /// Sends the first request to the client's server.
    pub fn on_start(&self, _: Id, _: &Option<super::server::Durable>, o: &mut O) -> ClientState {
        let s = ClientState {
            server: self.cfg.home(self.index),
            replies: Vec::new(),
            resends_left: self.cfg.resends,
        };
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

    /// No reply in time: resend to the next server, within the budget.
    pub fn on_timeout(&self, s: &ClientState, _: &Timer, o: &mut O) -> Option<ClientState> {
        if self.done(s) || s.resends_left == 0 {
            return None;
        }
        let n = ClientState {
            server: (s.server + 1) % self.cfg.servers,
            replies: s.replies.clone(),
            resends_left: s.resends_left - 1,
        };
        self.send(&n, o);
        Some(n)
    }
}
