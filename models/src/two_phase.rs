//! Two-phase commit as Gray and Lamport specify it ("Consensus on Transaction Commit", §3, and
//! its TLA+ module `TwoPhase`, published with the TLA+ examples): the calibration model. It is
//! not a protocol of the seeds; it is here so that the workbench's checker can be set against
//! an independent one. TLC has checked this very spec and published its state counts, so the
//! same spec checked here must give the same counts (proofs.md, "Calibration against TLC").
//!
//! The transcription is one to one: the state is the module's four variables, each action
//! is one of the module's actions with the same guard and the same effect, including the
//! steps that leave the state unchanged (a second `Prepared` received, a `Commit` received by a
//! resource manager that has committed already). So the checker generates exactly the states
//! TLC generates, and the distinct ones are TLC's distinct states.
//!
//! ```text
//!  resource manager rm                transaction manager
//!  working -> prepared: add Prepared(rm) to msgs
//!  working -> aborted (spontaneously, no message)
//!                                     init, Prepared(rm) in msgs: tmPrepared += rm
//!                                     init, tmPrepared = RM: committed, add Commit to msgs
//!                                     init: aborted (spontaneously), add Abort to msgs
//!  Commit in msgs: committed
//!  Abort in msgs: aborted
//! ```
//!
//! As in the TLA+ module, messages are a set that only grows (`msgs`): receiving a message
//! does not consume it, and a lost message is a message never received. Here the set is kept
//! as a bit set of the `Prepared` senders and two flags, a bijection with the module's set of
//! records.
//!
//! Counting by hand from the spec (each resource manager independently, given the
//! transaction manager's state): with the transaction manager in `init`, a resource manager is
//! working, aborted, or prepared with its `Prepared` received or not (4 cases); `committed`,
//! prepared or committed (2); `aborted`, working or aborted with no `Prepared` sent, or
//! prepared or aborted with it sent, received or not (6). So `6^n + 4^n + 2^n` distinct states
//! for `n` resource managers: 288 for 3 and 50,816 for 6, TLC's published counts.
//!
//! One file, not a protocol folder: there are no roles. Here the state, the actions, the
//! transitions, then the catalogue's part (parameters, properties, seeded bugs,
//! configurations `rms/3` … `rms/11`, the builder).

use crate::fairness::{fingerprint, ActionClass, Fairness};
use crate::params::{ParamError, ParamSpec, Params};
use crate::spec::{ModelSpec, ModelVisitor, PropertySpec};
use crate::trace::Checkable;
use stateright::{Model, Property};
use std::fmt;

crate::variants! {
    /// The protocol, or one seeded bug.
    pub enum Variant {
        /// As specified (the TLA+ module `TwoPhase`).
        Correct = "correct": "the specification as published";
        /// The transaction manager commits once any resource manager has prepared.
        CommitUnprepared = "commit-unprepared":
            "the transaction manager commits once one resource manager has prepared, not all",
            breaks ["consistency"], check [rms = "2"];
        /// The transaction manager never commits: every transaction aborts.
        NeverCommit = "never-commit": "the transaction manager never commits",
            breaks ["can-commit"], check [rms = "2"];
    }
}

/// The most resource managers a model may have (the `Prepared` senders are a bit set).
pub const MAX_RMS: usize = 16;

/// A resource manager's state (`rmState[rm]`).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum RmState {
    /// Working on the transaction.
    Working,
    /// Prepared to commit: it can no longer abort on its own.
    Prepared,
    /// Committed.
    Committed,
    /// Aborted.
    Aborted,
}

/// The transaction manager's state (`tmState`).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum TmState {
    /// Undecided.
    Init,
    /// Decided to commit.
    Committed,
    /// Decided to abort.
    Aborted,
}

/// A set of resource managers, as a bit set.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub struct RmSet(u16);

impl RmSet {
    /// Whether `rm` is in the set.
    pub fn contains(self, rm: usize) -> bool {
        self.0 & (1 << rm) != 0
    }

    /// The set with `rm` added.
    pub fn with(self, rm: usize) -> RmSet {
        RmSet(self.0 | (1 << rm))
    }

    /// Whether the set holds every one of `n` resource managers.
    pub fn is_all(self, n: usize) -> bool {
        self.0 == (1u32 << n).wrapping_sub(1) as u16
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The state: the TLA+ module's variables.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct State {
    /// `rmState`.
    pub rm_state: Vec<RmState>,
    /// `tmState`.
    pub tm_state: TmState,
    /// `tmPrepared`: the resource managers whose `Prepared` the transaction manager received.
    pub tm_prepared: RmSet,
    /// `msgs`, its `Prepared` records: the resource managers that sent one.
    pub prepared_sent: RmSet,
    /// `msgs` holds `Commit`.
    pub commit_sent: bool,
    /// `msgs` holds `Abort`.
    pub abort_sent: bool,
}

/// An action of the module's next-state relation, with its resource manager.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Action {
    /// `TMRcvPrepared(rm)`.
    TmRcvPrepared(usize),
    /// `TMCommit`.
    TmCommit,
    /// `TMAbort`.
    TmAbort,
    /// `RMPrepare(rm)`.
    RmPrepare(usize),
    /// `RMChooseToAbort(rm)`.
    RmChooseToAbort(usize),
    /// `RMRcvCommitMsg(rm)`.
    RmRcvCommitMsg(usize),
    /// `RMRcvAbortMsg(rm)`.
    RmRcvAbortMsg(usize),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::TmRcvPrepared(rm) => write!(f, "rm {rm} -> tm: Prepared"),
            Action::TmCommit => write!(f, "tm commits: Commit to every rm"),
            Action::TmAbort => write!(f, "tm aborts: Abort to every rm"),
            Action::RmPrepare(rm) => write!(f, "rm {rm} prepares: Prepared to tm"),
            Action::RmChooseToAbort(rm) => write!(f, "rm {rm} chooses to abort"),
            Action::RmRcvCommitMsg(rm) => write!(f, "tm -> rm {rm}: Commit"),
            Action::RmRcvAbortMsg(rm) => write!(f, "tm -> rm {rm}: Abort"),
        }
    }
}

/// The model: `rms` resource managers and one transaction manager.
#[derive(Clone, Debug)]
pub struct TwoPhase {
    /// The number of resource managers (`RM`).
    pub rms: usize,
    /// The protocol or a seeded bug.
    pub variant: Variant,
}

impl TwoPhase {
    /// `TPInit`.
    pub fn init(&self) -> State {
        State {
            rm_state: vec![RmState::Working; self.rms],
            tm_state: TmState::Init,
            tm_prepared: RmSet::default(),
            prepared_sent: RmSet::default(),
            commit_sent: false,
            abort_sent: false,
        }
    }

    /// The actions enabled in `s` (their guards hold), in the module's order.
    pub fn enabled(&self, s: &State, out: &mut Vec<Action>) {
        let init = s.tm_state == TmState::Init;
        let ready = match self.variant {
            Variant::CommitUnprepared => !s.tm_prepared.is_empty(),
            Variant::NeverCommit => false,
            Variant::Correct => s.tm_prepared.is_all(self.rms),
        };
        if init && ready {
            out.push(Action::TmCommit);
        }
        if init {
            out.push(Action::TmAbort);
        }
        for rm in 0..self.rms {
            if init && s.prepared_sent.contains(rm) {
                out.push(Action::TmRcvPrepared(rm));
            }
            if s.rm_state[rm] == RmState::Working {
                out.push(Action::RmPrepare(rm));
                out.push(Action::RmChooseToAbort(rm));
            }
            if s.commit_sent {
                out.push(Action::RmRcvCommitMsg(rm));
            }
            if s.abort_sent {
                out.push(Action::RmRcvAbortMsg(rm));
            }
        }
    }

    /// The state after enabled action `a` in `s`.
    pub fn step(&self, s: &State, a: Action) -> State {
        let mut n = s.clone();
        match a {
            Action::TmRcvPrepared(rm) => n.tm_prepared = s.tm_prepared.with(rm),
            Action::TmCommit => {
                n.tm_state = TmState::Committed;
                n.commit_sent = true;
            }
            Action::TmAbort => {
                n.tm_state = TmState::Aborted;
                n.abort_sent = true;
            }
            Action::RmPrepare(rm) => {
                n.rm_state[rm] = RmState::Prepared;
                n.prepared_sent = s.prepared_sent.with(rm);
            }
            Action::RmChooseToAbort(rm) | Action::RmRcvAbortMsg(rm) => {
                n.rm_state[rm] = RmState::Aborted
            }
            Action::RmRcvCommitMsg(rm) => n.rm_state[rm] = RmState::Committed,
        }
        n
    }
}

/// `TCConsistent`: no resource manager has committed while another has aborted.
pub fn consistent(s: &State) -> bool {
    let has = |x| s.rm_state.contains(&x);
    !(has(RmState::Committed) && has(RmState::Aborted))
}

/// Every resource manager has committed.
pub fn all_committed(s: &State) -> bool {
    s.rm_state.iter().all(|r| *r == RmState::Committed)
}

// The catalogue's part.

/// The model's name in the catalogue.
pub const NAME: &str = "two-phase";

/// The properties.
pub const PROPERTIES: &[PropertySpec] = &[
    PropertySpec {
        name: "consistency",
        about: "no resource manager has committed while another has aborted (TCConsistent)",
    },
    PropertySpec {
        name: "can-commit",
        about: "some behaviour commits the transaction at every resource manager",
    },
];

/// The parameters.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec::uint("rms", (1, MAX_RMS as u64), "3", "resource managers (the constant RM)"),
    VARIANT,
];

/// The model's entry in the catalogue.
pub const SPEC: ModelSpec = ModelSpec {
    name: NAME,
    about: "Gray & Lamport's two-phase commit (TLA+ TwoPhase): the calibration against TLC",
    seed: "Gray & Lamport, \"Consensus on Transaction Commit\", §3 and its TLA+ module TwoPhase",
    params: PARAMS,
    properties: PROPERTIES,
    given_up: &[],
    variants: VARIANTS,
    configurations: crate::checks![
        "rms/3": rms = "3";
        "rms/4": rms = "4";
        "rms/5": rms = "5";
        "rms/6": rms = "6";
        "rms/7": rms = "7";
        deep "deep/rms/8": rms = "8";
        deep "deep/rms/9": rms = "9";
        // 61.5 million distinct states, then 367 million (the safety search's fingerprints:
        // about 1.9 and 11 GB; proofs.md, "The checker's engine").
        deep "deep/rms/10": rms = "10";
        deep "deep/rms/11": rms = "11";
    ],
};

impl TwoPhase {
    /// The model `params` describe.
    pub fn from_params(params: &Params) -> Result<TwoPhase, ParamError> {
        let rms = params.uint("rms")? as usize;
        Ok(TwoPhase { rms, variant: Variant::from_params(params)? })
    }
}

/// Builds the model that `params` describes and hands it to `visitor`.
pub fn visit<V: ModelVisitor>(params: &Params, visitor: V) -> Result<V::Output, ParamError> {
    Ok(visitor.visit(TwoPhase::from_params(params)?))
}

impl Model for TwoPhase {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.init()]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.enabled(state, actions);
    }

    fn next_state(&self, state: &State, action: Action) -> Option<State> {
        Some(self.step(state, action))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("consistency", |_, s| consistent(s)),
            Property::sometimes("can-commit", |_, s| all_committed(s)),
        ]
    }

    fn format_action(&self, action: &Action) -> String {
        action.to_string()
    }
}

impl Fairness for TwoPhase {
    /// The module states safety only; every action counts as owed.
    fn action_class(&self, action: &Action) -> ActionClass {
        ActionClass { key: fingerprint(action), fair: true }
    }
}

impl Checkable for TwoPhase {
    fn step(&self, action: &Action) -> String {
        action.to_string()
    }
}
