//! The fuzzy-copy model's client role: its requests in order, one outstanding, resent within a
//! budget; it follows `Moved` to the new version after a rolling upgrade's handover.

use super::backup::BackupState;
use super::msg::{Msg, Timer};
use super::{Config, Node};
use crate::services::Service;
use stateright::actor::{model_timeout, Id, Out};
use std::marker::PhantomData;

/// A client: its requests in order, one outstanding, resent within a budget. In the models the
/// requests are the service's fixed workload; hosted by the runtime, they are the operations
/// submitted to it ([`Client::submit`]).
#[derive(Clone, Debug)]
pub struct Client<S> {
    cfg: Config,
    index: usize,
    _s: PhantomData<S>,
}

/// A client's state: the replies received and the resends left.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientState<Op: Clone, Reply: Clone> {
    /// Replies, in request order (persistent: a hosted client answers thousands).
    pub replies: imbl::Vector<Reply>,
    /// Resends left for the outstanding request.
    pub resends_left: u8,
    /// The server it sends to: 0, or 1 once told `Moved` (rolling upgrade).
    pub server: u8,
    /// A submitted operation waiting for its reply (hosted clients; `None` in the models).
    pub submitted: Option<Op>,
}

type Cs<S> = ClientState<<S as Service>::Op, <S as Service>::Reply>;

impl<S: Service> Client<S> {
    /// Client number `index` of configuration `cfg`.
    pub fn new(cfg: Config, index: usize) -> Self {
        Client { cfg, index, _s: PhantomData }
    }

    /// The outstanding request: the submitted operation, or the workload's next one.
    fn outstanding(&self, s: &Cs<S>) -> Option<(u64, S::Op)> {
        let seq = s.replies.len();
        match &s.submitted {
            Some(op) => Some((seq as u64, op.clone())),
            None => (seq < self.cfg.requests).then(|| (seq as u64, S::workload(self.index, seq))),
        }
    }

    /// Sends the outstanding request (if any) and arms the resend timer.
    fn send_next(&self, s: &Cs<S>, o: &mut Out<Node<S>>) {
        if let Some((seq, op)) = self.outstanding(s) {
            o.send(Id::from(usize::from(s.server)), Msg::Request { seq, op });
            if s.resends_left > 0 {
                o.set_timer(Timer::Resend, model_timeout());
            }
        }
    }

    /// Sends the first request.
    pub fn on_start(&self, _: Id, _: &Option<BackupState<S>>, o: &mut Out<Node<S>>) -> Cs<S> {
        let s = ClientState {
            replies: imbl::Vector::new(),
            resends_left: self.cfg.resends,
            server: 0,
            submitted: None,
        };
        self.send_next(&s, o);
        s
    }

    /// A hosted client's request: `op` is sent as the next request unless one is outstanding.
    pub fn submit(&self, s: &Cs<S>, op: S::Op, o: &mut Out<Node<S>>) -> Option<Cs<S>> {
        if self.outstanding(s).is_some() {
            return None;
        }
        let n = ClientState { submitted: Some(op), resends_left: self.cfg.resends, ..s.clone() };
        self.send_next(&n, o);
        Some(n)
    }

    /// Takes the reply to the outstanding request and sends the next.
    pub fn on_msg(
        &self, s: &Cs<S>, _: Id, msg: Msg<S::Op, S::Reply, S::Key, S::Object>, o: &mut Out<Node<S>>,
    ) -> Option<Cs<S>> {
        let (seq, _) = self.outstanding(s)?;
        match msg {
            Msg::Reply { seq: r, reply } if r == seq => {
                let mut n = s.clone();
                n.replies.push_back(reply);
                n.resends_left = self.cfg.resends;
                n.submitted = None;
                self.send_next(&n, o);
                Some(n)
            }
            Msg::Moved if s.server == 0 => {
                let n = ClientState { server: 1, ..s.clone() };
                self.send_next(&n, o);
                Some(n)
            }
            _ => None,
        }
    }

    /// Resends the outstanding request, within the budget.
    pub fn on_timeout(&self, s: &Cs<S>, _: &Timer, o: &mut Out<Node<S>>) -> Option<Cs<S>> {
        if s.resends_left == 0 {
            return None;
        }
        let (seq, op) = self.outstanding(s)?;
        let mut n = s.clone();
        n.resends_left -= 1;
        o.send(Id::from(usize::from(n.server)), Msg::Request { seq, op });
        if n.resends_left > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
        Some(n)
    }
}
