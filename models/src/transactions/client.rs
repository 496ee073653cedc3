//! The transactions model's client role: one transaction, request by request, then its commit;
//! restarted at a new primary (the patent's Fig. 5A).

use super::msg::{Epoch, Msg, Timer};
use super::server::Durable;
use super::{Config, Node};
use crate::services::Service;
use stateright::actor::{model_timeout, Id, Out};
use std::marker::PhantomData;

/// A client: one transaction, request by request, then the commit.
#[derive(Clone, Debug)]
pub struct Client<S> {
    cfg: Config,
    index: usize,
    _s: PhantomData<S>,
}

impl<S> Client<S> {
    /// Client number `index` of configuration `cfg`.
    pub fn new(cfg: Config, index: usize) -> Self {
        Client { cfg, index, _s: PhantomData }
    }
}

/// A client's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientState<Reply> {
    /// The next request to send: `0..ops` are updates, `ops` the commit.
    pub next: u8,
    /// The transaction's response, once committed.
    pub committed: Option<Vec<Reply>>,
    /// Where requests go.
    pub primary: Id,
    /// The epoch of the last announcement followed.
    pub epoch: Epoch,
    /// Resends left for the current request.
    pub resends_left: u8,
}

impl<S: Service> Client<S> {
    fn current(&self, s: &ClientState<S::Reply>) -> Msg<S::Op, S::Reply> {
        if usize::from(s.next) < self.cfg.ops {
            Msg::Op { i: s.next, op: S::workload(self.index, usize::from(s.next)) }
        } else {
            Msg::Commit
        }
    }

    fn send(&self, s: &ClientState<S::Reply>, o: &mut Out<Node<S>>) {
        o.send(s.primary, self.current(s));
        if s.resends_left > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
    }
}

impl<S: Service> Client<S> {
    /// Sends the first request of the transaction to server 0.
    pub fn on_start(
        &self, _: Id, _: &Option<Durable<S::Op, S::Reply>>, o: &mut Out<Node<S>>,
    ) -> ClientState<S::Reply> {
        let s = ClientState {
            next: 0,
            committed: None,
            primary: Id::from(0),
            epoch: 0,
            resends_left: self.cfg.resends,
        };
        self.send(&s, o);
        s
    }

    /// Moves through the transaction; restarts it at a new primary.
    pub fn on_msg(
        &self, s: &ClientState<S::Reply>, src: Id, msg: Msg<S::Op, S::Reply>, o: &mut Out<Node<S>>,
    ) -> Option<ClientState<S::Reply>> {
        if s.committed.is_some() {
            return None;
        }
        let mut n = s.clone();
        match msg {
            Msg::Executed { i } if i == s.next && usize::from(i) < self.cfg.ops => {
                n.next += 1;
                n.resends_left = self.cfg.resends;
                self.send(&n, o);
            }
            Msg::Committed { replies } => {
                n.committed = Some(replies);
                o.cancel_timer(Timer::Resend);
            }
            Msg::NewPrimary { epoch } if epoch > s.epoch => {
                // The transaction was aborted or committed by the failure: restart it.
                n.primary = src;
                n.epoch = epoch;
                n.next = 0;
                self.send(&n, o);
            }
            _ => return None,
        }
        Some(n)
    }

    /// Resends the current request, within the budget.
    pub fn on_timeout(
        &self, s: &ClientState<S::Reply>, _: &Timer, o: &mut Out<Node<S>>,
    ) -> Option<ClientState<S::Reply>> {
        if s.committed.is_some() || s.resends_left == 0 {
            return None;
        }
        let mut n = s.clone();
        n.resends_left -= 1;
        o.send(n.primary, self.current(&n));
        if n.resends_left > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
        Some(n)
    }
}
