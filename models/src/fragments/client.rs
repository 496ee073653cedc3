//! The client role of ClustRa's many-node form: client k updates fragment k mod N, one update at
//! a time, first at the fragment's initial primary; a resend goes to the next node on the
//! circle (where the stand-by, and after it the repaired stand-by, live), so a client needs no
//! copy of the distribution dictionary to find a primary after a takeover.

use super::msg::{Msg, Timer};
use super::{Config, FragmentId, Node};
use crate::trace::{one_line, Field, Fields};
use stateright::actor::{model_timeout, Id, Out};

/// A client's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientState {
    /// Updates committed so far; the outstanding one (if any) has this sequence number.
    pub done: u8,
    /// Which node on the circle, counted from the fragment's first node, gets the update.
    pub attempt: u8,
    /// Resends left for the outstanding update.
    pub resends_left: u8,
}

impl Fields for ClientState {
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "updates committed" => one_line(&self.done),
            "attempt (node on the circle)" => one_line(&self.attempt),
            "resends left" => one_line(&self.resends_left),
        ]
    }
}

/// The client actor.
#[derive(Clone, Debug)]
pub struct Client {
    /// The model's configuration.
    pub cfg: Config,
    /// This client's number (0-based).
    pub index: u8,
}

type O = Out<Node>;

impl Client {
    /// Client number `index` of configuration `cfg`.
    pub fn new(cfg: Config, index: u8) -> Self {
        Client { cfg, index }
    }

    /// The fragment this client updates.
    pub fn fragment(&self) -> FragmentId {
        self.index % self.cfg.nodes
    }

    fn send(&self, s: &ClientState, o: &mut O) {
        if s.done < self.cfg.requests {
            let node = (self.fragment() + s.attempt) % self.cfg.nodes;
            let update = Msg::Update { f: self.fragment(), seq: s.done };
            o.send(Id::from(usize::from(node)), update);
            if s.resends_left > 0 {
                o.set_timer(Timer::Resend, model_timeout());
            }
        }
    }

    /// Sends the first update to the fragment's initial primary.
    pub fn on_start(&self, _: Id, _: &Option<()>, o: &mut O) -> ClientState {
        let s = ClientState { done: 0, attempt: 0, resends_left: self.cfg.resends };
        self.send(&s, o);
        s
    }

    /// A commit of the outstanding update: on to the next one.
    pub fn on_msg(&self, s: &ClientState, _: Id, msg: Msg, o: &mut O) -> Option<ClientState> {
        match msg {
            Msg::Committed { f, seq } if f == self.fragment() && seq == s.done => {
                let n = ClientState {
                    done: s.done + 1,
                    attempt: s.attempt,
                    resends_left: self.cfg.resends,
                };
                o.cancel_timer(Timer::Resend);
                self.send(&n, o);
                Some(n)
            }
            _ => None,
        }
    }

    /// Resends the outstanding update to the next node on the circle, within the budget.
    pub fn on_timeout(&self, s: &ClientState, _: &Timer, o: &mut O) -> Option<ClientState> {
        if s.done >= self.cfg.requests || s.resends_left == 0 {
            return None;
        }
        let n = ClientState {
            done: s.done,
            attempt: (s.attempt + 1) % self.cfg.nodes,
            resends_left: s.resends_left - 1,
        };
        self.send(&n, o);
        Some(n)
    }
}
