//! The fuzzy-copy model's client role: its requests in order, one outstanding, resent within a
//! budget (for ever when hosted: [`crate::history::FOREVER`]); it follows `Moved` to the new version after a rolling upgrade's handover.

use super::backup::BackupState;
use super::msg::{Msg, Timer};
use super::{Config, Node};
use crate::history::spend;
use crate::services::Service;
use crate::trace::{listed, one_line, Field, Fields};
use stateright::actor::{Id, Out};
use std::marker::PhantomData;

/// A client: its requests in order, one outstanding, resent within a budget. In the models the
/// requests are the service's fixed workload; hosted by the runtime, they are the operations
/// submitted to it ([`Client::submit`]).
#[derive(Clone, Debug)]
pub struct Client<S> {
    cfg: Config,
    index: usize,
    /// The sequence number of its first request: 0 in the models; a hosted session's number,
    /// so that a later session of the same client id numbers its requests above every earlier
    /// session's (the primary's message table sees one client whose numbers jump forward, a
    /// behaviour the models cover: only the order of a client's numbers matters to it).
    first: u64,
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

impl<Op: Clone + std::fmt::Debug, Reply: Clone + std::fmt::Debug> Fields
    for ClientState<Op, Reply>
{
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "server" => one_line(&self.server),
            "submitted" => one_line(&self.submitted),
            "replies" => listed(self.replies.iter()),
            "resends left" => one_line(&self.resends_left),
        ]
    }
}

type Cs<S> = ClientState<<S as Service>::Op, <S as Service>::Reply>;

impl<S: Service> Client<S> {
    /// Client number `index` of configuration `cfg`.
    pub fn new(cfg: Config, index: usize) -> Self {
        Client { cfg, index, first: 0, _s: PhantomData }
    }

    /// Client number `index` hosted in session `session`: its requests are numbered from
    /// `session` on. Sessions are numbered by the wall clock in µs, so a session's numbers stay
    /// below the next session's as long as it sends fewer requests than µs pass before the
    /// next one opens, and the clock does not step back.
    pub fn in_session(cfg: Config, index: usize, session: u64) -> Self {
        Client { cfg, index, first: session, _s: PhantomData }
    }

    /// The outstanding request: the submitted operation, or the workload's next one.
    fn outstanding(&self, s: &Cs<S>) -> Option<(u64, S::Op)> {
        let i = s.replies.len();
        let seq = self.first.saturating_add(i as u64);
        match &s.submitted {
            Some(op) => Some((seq, op.clone())),
            None => (i < self.cfg.requests).then(|| (seq, S::workload(self.index, i))),
        }
    }

    /// Sends the outstanding request (if any) and arms the resend timer.
    fn send_next(&self, s: &Cs<S>, o: &mut Out<Node<S>>) {
        if let Some((seq, op)) = self.outstanding(s) {
            o.send(Id::from(usize::from(s.server)), Msg::Request { seq, op });
            if s.resends_left > 0 {
                o.set_timer(Timer::Resend, self.cfg.resend.clone());
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
        n.resends_left = spend(n.resends_left);
        o.send(Id::from(usize::from(n.server)), Msg::Request { seq, op });
        if n.resends_left > 0 {
            o.set_timer(Timer::Resend, self.cfg.resend.clone());
        }
        Some(n)
    }
}
