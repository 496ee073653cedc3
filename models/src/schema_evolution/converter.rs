//! The converter of online schema evolution: the paper's Map and Convert Module (Chen, Jeng,
//! Huang & Lin §III-C), a process of its own. It asks the server for the pending Temp Table
//! records (the Status Check Unit), converts each to the new schema by the policy (the Policy
//! Transfer Unit's rule, applied by the Map and Convert Unit: a delete stays a delete) and
//! sends them back to be written. It keeps nothing: a crashed converter starts over by asking
//! again, and the records stay pending until written.

use super::msg::{Msg, Timer};
use super::{convert, Config, Node, OpType, Saved, Variant, SERVER};
use crate::trace::{one_line, Field, Fields};
use stateright::actor::{model_timeout, Id, Out};

/// The converter's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ConverterState {
    /// The server said the new version serves: the conversion is over.
    pub done: bool,
}

impl Fields for ConverterState {
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "done" => one_line(&self.done),
        ]
    }
}

/// The converter actor.
#[derive(Clone, Debug)]
pub struct Converter {
    /// The model's configuration.
    pub cfg: Config,
}

type O = Out<Node>;

impl Converter {
    /// The converter of configuration `cfg`.
    pub fn new(cfg: Config) -> Self {
        Converter { cfg }
    }

    /// Starts (or restarts) polling; saves only its count of restarts (the crash budget's).
    pub fn on_start(&self, _: Id, storage: &Option<Saved>, o: &mut O) -> ConverterState {
        let restarts = storage.as_ref().map_or(0, |s| s.restarts() + 1);
        o.save(Saved::Converter { restarts });
        o.set_timer(Timer::Poll, model_timeout());
        ConverterState { done: false }
    }

    /// A batch: converted and sent back; or the news that the conversion is over.
    pub fn on_msg(&self, s: &ConverterState, _: Id, msg: Msg, o: &mut O) -> Option<ConverterState> {
        let Msg::Batch { records, live } = msg else {
            return None;
        };
        if s.done {
            return None;
        }
        if live {
            o.cancel_timer(Timer::Poll);
            return Some(ConverterState { done: true });
        }
        if !records.is_empty() {
            let rows = records
                .into_iter()
                .map(|(k, r)| (k, r, r.row.filter(|_| r.op != OpType::Delete).map(convert)))
                .collect();
            o.send(Id::from(SERVER), Msg::Apply { rows });
        }
        if self.cfg.variant == Variant::PollOnce {
            o.set_timer(Timer::Poll, model_timeout());
        }
        None
    }

    /// `Poll`: ask for the pending records, and again later.
    pub fn on_timeout(&self, s: &ConverterState, _: &Timer, o: &mut O) -> Option<ConverterState> {
        if s.done {
            return None;
        }
        o.send(Id::from(SERVER), Msg::Fetch);
        if self.cfg.variant != Variant::PollOnce {
            o.set_timer(Timer::Poll, model_timeout());
        }
        None
    }
}
