//! The client of logical checkpointing: a stream of requests (the logical-checkpointing patent: "a client is a sequence
//! of logically related requests") with up to `window` outstanding. Request `s` is issued when
//! request `s - window` has its response, so each of the `window` slots is sequential. On a
//! path failure (its resend timer) the client resends every outstanding request; told of a new
//! primary, it resends them there (Fig. 4A, 4B: "the client must resend the requests").

use super::msg::Msg;
use super::msg::Timer;
use super::{Config, Node};
use crate::services::Service;
use stateright::actor::{model_timeout, Id, Out};
use std::collections::BTreeMap;
use std::marker::PhantomData;

/// A client's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientState<Reply> {
    /// The server the client sends to.
    pub primary: Id,
    /// The epoch of the last announcement followed.
    pub primary_epoch: u8,
    /// Resends left (each resends every outstanding request).
    pub resends_left: u8,
    /// Responses received, by request sequence number.
    pub replies: BTreeMap<u8, Reply>,
}

/// The client actor's configuration.
#[derive(Clone, Debug)]
pub struct Client<S> {
    /// The model's configuration.
    pub cfg: Config,
    /// This client's number in the workload.
    pub index: usize,
    _s: PhantomData<S>,
}

type O<S> = Out<Node<S>>;

impl<S: Service> Client<S> {
    /// Client number `index`.
    pub fn new(cfg: Config, index: usize) -> Self {
        Client { cfg, index, _s: PhantomData }
    }

    fn request(&self, seq: u8) -> Msg<S::Op, S::Reply> {
        Msg::Request { seq, op: S::workload(self.index, usize::from(seq)) }
    }

    /// The requests issued and not answered.
    pub fn outstanding(&self, s: &ClientState<S::Reply>) -> Vec<u8> {
        (0..self.cfg.requests as u8)
            .filter(|seq| !s.replies.contains_key(seq))
            .filter(|seq| {
                usize::from(*seq) < self.cfg.window
                    || s.replies.contains_key(&(seq - self.cfg.window as u8))
            })
            .collect()
    }

    fn send_outstanding(&self, s: &ClientState<S::Reply>, to: Id, o: &mut O<S>) {
        for seq in self.outstanding(s) {
            o.send(to, self.request(seq));
        }
    }

    /// Issues the first `window` requests to server 0.
    pub fn on_start(
        &self, _id: Id, _storage: &Option<super::server::Durable<S::Op, S::Reply>>, o: &mut O<S>,
    ) -> ClientState<S::Reply> {
        let s = ClientState {
            primary: Id::from(0),
            primary_epoch: 0,
            resends_left: self.cfg.resends,
            replies: BTreeMap::new(),
        };
        self.send_outstanding(&s, s.primary, o);
        if self.cfg.resends > 0 && self.cfg.requests > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
        s
    }

    /// Takes a response (issuing the next request of its slot) or an announcement.
    pub fn on_msg(
        &self, s: &ClientState<S::Reply>, src: Id, msg: Msg<S::Op, S::Reply>, o: &mut O<S>,
    ) -> Option<ClientState<S::Reply>> {
        match msg {
            Msg::Reply { seq, reply } if self.outstanding(s).contains(&seq) => {
                let mut n = s.clone();
                n.replies.insert(seq, reply);
                let next = usize::from(seq) + self.cfg.window;
                if next < self.cfg.requests {
                    o.send(n.primary, self.request(next as u8));
                }
                if n.replies.len() == self.cfg.requests {
                    o.cancel_timer(Timer::Resend);
                }
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
    pub fn on_timeout(
        &self, s: &ClientState<S::Reply>, timer: &Timer, o: &mut O<S>,
    ) -> Option<ClientState<S::Reply>> {
        if *timer != Timer::Resend || s.resends_left == 0 || self.outstanding(s).is_empty() {
            return None;
        }
        let mut n = s.clone();
        n.resends_left -= 1;
        self.send_outstanding(&n, n.primary, o);
        if n.resends_left > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
        Some(n)
    }
}
