//! The client role: issues its workload one request at a time, each with its client id (the
//! actor id) and a request sequence number; resends on a timer (a path failure: the connection
//! broke and was remade) and follows `NewPrimary` announcements (redirection after takeover).
//!
//! The client keeps every reply it received: the client-visible history that the properties
//! judge (what a client saw committed must survive; a resend must get the original reply).

use super::model::{Config, Node, Timer};
use super::msg::Msg;
use crate::service::Service;
use stateright::actor::{model_timeout, Id, Out};
use std::marker::PhantomData;

/// A client's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientState<Reply> {
    /// The server the client believes is the primary.
    pub primary: Id,
    /// The epoch in which `primary` announced itself.
    pub primary_epoch: u8,
    /// Resends left for the outstanding request.
    pub resends_left: u8,
    /// Replies received, in request order: request `i` is outstanding while `replies.len() == i`.
    pub replies: Vec<Reply>,
}

/// The client actor's fixed configuration.
#[derive(Clone, Debug)]
pub struct Client<S> {
    /// The model's configuration.
    pub cfg: Config,
    /// This client's number in the workload (0-based).
    pub index: usize,
    _service: PhantomData<S>,
}

type O<S> = Out<Node<S>>;

impl<S: Service> Client<S> {
    /// Client number `index` of configuration `cfg`.
    pub fn new(cfg: Config, index: usize) -> Self {
        Client {
            cfg,
            index,
            _service: PhantomData,
        }
    }

    fn request(&self, seq: usize) -> Msg<S::Op, S::Reply> {
        Msg::Request {
            seq: seq as u8,
            op: S::workload(self.index, seq),
        }
    }

    fn outstanding(&self, s: &ClientState<S::Reply>) -> Option<usize> {
        (s.replies.len() < self.cfg.requests).then_some(s.replies.len())
    }

    /// Sends the first request to server 0, the initial primary.
    pub fn on_start(
        &self,
        _id: Id,
        _storage: &Option<super::server::Durable<S::Op, S::Reply>>,
        o: &mut O<S>,
    ) -> ClientState<S::Reply> {
        let s = ClientState {
            primary: Id::from(0),
            primary_epoch: 0,
            resends_left: self.cfg.resends,
            replies: Vec::new(),
        };
        if let Some(seq) = self.outstanding(&s) {
            o.send(s.primary, self.request(seq));
            if self.cfg.resends > 0 {
                o.set_timer(Timer::Resend, model_timeout());
            }
        }
        s
    }

    /// Handles a reply or an announcement.
    pub fn on_msg(
        &self,
        s: &ClientState<S::Reply>,
        src: Id,
        msg: Msg<S::Op, S::Reply>,
        o: &mut O<S>,
    ) -> Option<ClientState<S::Reply>> {
        match msg {
            Msg::Reply { seq, reply } if self.outstanding(s) == Some(usize::from(seq)) => {
                let mut n = s.clone();
                n.replies.push(reply);
                n.resends_left = self.cfg.resends;
                match self.outstanding(&n) {
                    Some(next) => {
                        o.send(n.primary, self.request(next));
                        if self.cfg.resends > 0 {
                            o.set_timer(Timer::Resend, model_timeout());
                        }
                    }
                    None => o.cancel_timer(Timer::Resend),
                }
                Some(n)
            }
            Msg::NewPrimary { epoch } if epoch >= s.primary_epoch => {
                let mut n = s.clone();
                n.primary = src;
                n.primary_epoch = epoch;
                if let Some(seq) = self.outstanding(s) {
                    o.send(src, self.request(seq));
                }
                Some(n)
            }
            _ => None,
        }
    }

    /// Resends the outstanding request to the believed primary, within the resend budget.
    pub fn on_timeout(
        &self,
        s: &ClientState<S::Reply>,
        timer: &Timer,
        o: &mut O<S>,
    ) -> Option<ClientState<S::Reply>> {
        let seq = self.outstanding(s)?;
        if *timer != Timer::Resend || s.resends_left == 0 {
            return None;
        }
        let mut n = s.clone();
        n.resends_left -= 1;
        o.send(s.primary, self.request(seq));
        if n.resends_left > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
        Some(n)
    }
}
