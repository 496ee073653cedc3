//! The planner (Hagen & Alonso (OPERA) §4): it knows where the processes run and how loaded each server is,
//! and, to shut server 0 down, sends it one `migrate_all` that names a target per process —
//! the least loaded of the remaining servers, counting the processes it has placed so far, so
//! that the terminating server's load is spread evenly. It resends the order until the server
//! reports it holds nothing any more.

use super::msg::{Msg, Timer};
use super::{Config, Node, ProcessId};
use crate::services::Service;
use crate::trace::{one_line, Field, Fields};
use stateright::actor::{model_timeout, Id, Out};

/// The planner's state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct PlannerState {
    /// Whether server 0 reported it is drained.
    pub drained: bool,
    /// Resends of the order left.
    pub resends_left: u8,
}

impl Fields for PlannerState {
    fn fields(&self) -> Vec<Field> {
        crate::fields![
            "server 0 drained" => one_line(&self.drained),
            "resends left" => one_line(&self.resends_left),
        ]
    }
}

crate::role! {
    /// The planner actor.
    Planner
}

type O<S> = Out<Node<S>>;

impl<S: Service> Planner<S> {
    /// Per process on server 0, the least loaded other server (ties: the lowest id).
    pub fn targets(cfg: &Config) -> Vec<(ProcessId, Id)> {
        let mut load = vec![0usize; cfg.servers];
        (0..cfg.processes as ProcessId)
            .map(|p| {
                let t = (1..cfg.servers).min_by_key(|i| (load[*i], *i)).unwrap_or(0);
                load[t] += 1;
                (p, Id::from(t))
            })
            .collect()
    }

    fn order(&self, o: &mut O<S>) {
        o.send(Id::from(0), Msg::MigrateAll { targets: Self::targets(&self.cfg) });
    }

    /// Orders server 0 drained.
    pub fn on_start(
        &self, _id: Id, _storage: &Option<super::server::Durable<S::Op, S::Reply>>, o: &mut O<S>,
    ) -> PlannerState {
        self.order(o);
        if self.cfg.reorders > 0 {
            o.set_timer(Timer::Resend, model_timeout());
        }
        PlannerState { drained: false, resends_left: self.cfg.reorders }
    }

    /// Server 0 is drained.
    pub fn on_msg(
        &self, s: &PlannerState, _src: Id, msg: Msg<S::Op, S::Reply>, o: &mut O<S>,
    ) -> Option<PlannerState> {
        if msg != Msg::Drained || s.drained {
            return None;
        }
        o.cancel_timer(Timer::Resend);
        Some(PlannerState { drained: true, resends_left: s.resends_left })
    }

    /// Resends the order, within the budget.
    pub fn on_timeout(
        &self, s: &PlannerState, _timer: &Timer, o: &mut O<S>,
    ) -> Option<PlannerState> {
        if s.drained || s.resends_left == 0 {
            return None;
        }
        self.order(o);
        if s.resends_left > 1 {
            o.set_timer(Timer::Resend, model_timeout());
        }
        Some(PlannerState { drained: false, resends_left: crate::history::spend(s.resends_left) })
    }
}
