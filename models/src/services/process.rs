//! OPERA's process support as a replicated [`Service`] (Hagen & Alonso (OPERA) §2 and §5.2): a database of
//! *process instances*, each an image of activities, changed by the three navigation
//! transactions the paper measures:
//! - **INST** (process instantiation): a new copy of the process template; the change buffer
//!   carries the whole new image, as the objects inserted at the backup did in OPERA;
//! - **START** (activity start): the activity's state record changes (a ~300-byte change
//!   buffer);
//! - **TERM** (activity termination): the terminating activity's record changes and
//!   navigation makes its successor executable.
//!
//! The image is persistent (`imbl`): a replica's state is copied at every protocol step, and a
//! database of 1,000 images of 50 KB must not be.

use crate::services::{fnv1a, Service};
use serde::{Deserialize, Serialize};

/// An activity's state in a process image.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum ActivityState {
    /// Not yet executable.
    Waiting,
    /// Executable (navigation has enabled it).
    Executable,
    /// Started.
    Running,
    /// Terminated.
    Done,
}

/// One activity of a process image: its state, its part of the image, and its latest
/// state record (what START and TERM write).
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Activity {
    /// Its state.
    pub state: ActivityState,
    /// Its part of the image (the template's copy).
    pub data: Vec<u8>,
    /// The last state record written by START or TERM.
    pub record: Vec<u8>,
}

/// A process instance's image.
#[derive(Clone, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Process {
    /// Its activities, in navigation order.
    pub activities: imbl::Vector<Activity>,
}

/// The navigation transactions.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum ProcessOp {
    /// INST: a new instance `pid` whose image is `image`, split into `activities` equal parts;
    /// the first activity is executable. Replaces an instance of the same id.
    Inst {
        /// The instance.
        pid: u32,
        /// How many activities.
        activities: u8,
        /// The image.
        image: Vec<u8>,
    },
    /// START: activity `activity` of `pid` starts; `record` is its new state record.
    Start {
        /// The instance.
        pid: u32,
        /// The activity.
        activity: u8,
        /// The state record.
        record: Vec<u8>,
    },
    /// TERM: activity `activity` of `pid` terminates with `record`; its successor becomes
    /// executable.
    Term {
        /// The instance.
        pid: u32,
        /// The activity.
        activity: u8,
        /// The state record.
        record: Vec<u8>,
    },
    /// Reads the state of activity `activity` of `pid` (not checkpointed).
    State {
        /// The instance.
        pid: u32,
        /// The activity.
        activity: u8,
    },
}

/// The reply: how many activities of the instance are executable after the step (`None`: no
/// such instance or activity), or an activity's state for a read.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum ProcessReply {
    /// Executable activities after the step.
    Executable(Option<u8>),
    /// An activity's state.
    State(Option<ActivityState>),
}

/// The process database: instance id → image.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct ProcessDb {
    processes: imbl::OrdMap<u32, Process>,
}

impl ProcessDb {
    /// How many instances.
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    /// Instance `pid`'s image.
    pub fn process(&self, pid: u32) -> Option<&Process> {
        self.processes.get(&pid)
    }

    fn record(&mut self, pid: u32, activity: u8, record: &[u8], done: bool) -> Option<u8> {
        let mut p = self.processes.get(&pid)?.clone();
        let i = usize::from(activity);
        let mut a = p.activities.get(i)?.clone();
        a.state = if done { ActivityState::Done } else { ActivityState::Running };
        a.record = record.to_vec();
        p.activities.set(i, a);
        if done {
            // Navigation: the successor becomes executable.
            if let Some(mut next) = p.activities.get(i + 1).cloned() {
                if next.state == ActivityState::Waiting {
                    next.state = ActivityState::Executable;
                    p.activities.set(i + 1, next);
                }
            }
        }
        let executable =
            p.activities.iter().filter(|a| a.state == ActivityState::Executable).count() as u8;
        self.processes.insert(pid, p);
        Some(executable)
    }
}

impl Service for ProcessDb {
    type Op = ProcessOp;
    type Reply = ProcessReply;
    type Key = u32;
    type Object = Process;
    const NAME: &'static str = "opera";

    fn apply(&mut self, op: &ProcessOp) -> ProcessReply {
        match op {
            ProcessOp::Inst { pid, activities, image } => {
                let n = usize::from((*activities).max(1));
                let part = image.len().div_ceil(n).max(1);
                let mut acts: imbl::Vector<Activity> = image
                    .chunks(part)
                    .map(|c| Activity {
                        state: ActivityState::Waiting,
                        data: c.to_vec(),
                        record: Vec::new(),
                    })
                    .collect();
                while acts.len() < n {
                    acts.push_back(Activity {
                        state: ActivityState::Waiting,
                        data: Vec::new(),
                        record: Vec::new(),
                    });
                }
                if let Some(first) = acts.get_mut(0) {
                    first.state = ActivityState::Executable;
                }
                self.processes.insert(*pid, Process { activities: acts });
                ProcessReply::Executable(Some(1))
            }
            ProcessOp::Start { pid, activity, record } => {
                ProcessReply::Executable(self.record(*pid, *activity, record, false))
            }
            ProcessOp::Term { pid, activity, record } => {
                ProcessReply::Executable(self.record(*pid, *activity, record, true))
            }
            ProcessOp::State { pid, activity } => ProcessReply::State(
                self.processes
                    .get(pid)
                    .and_then(|p| p.activities.get(usize::from(*activity)))
                    .map(|a| a.state),
            ),
        }
    }

    fn changes_state(op: &ProcessOp) -> bool {
        !matches!(op, ProcessOp::State { .. })
    }

    fn digest(&self) -> u64 {
        fnv1a(self.processes.iter().flat_map(|(pid, p)| {
            pid.to_le_bytes().into_iter().chain(p.activities.iter().flat_map(|a| {
                [a.state as u8]
                    .into_iter()
                    .chain((a.data.len() as u64).to_le_bytes())
                    .chain(a.data.iter().copied())
                    .chain((a.record.len() as u64).to_le_bytes())
                    .chain(a.record.iter().copied())
            }))
        }))
    }

    fn key(op: &ProcessOp) -> u32 {
        match op {
            ProcessOp::Inst { pid, .. }
            | ProcessOp::Start { pid, .. }
            | ProcessOp::Term { pid, .. }
            | ProcessOp::State { pid, .. } => *pid,
        }
    }

    map_objects!(processes: u32 => Process, keys vec![0, 1]);

    /// A small process per client: instantiate it, then start and terminate its activities in
    /// order (small images, so that model checking stays readable).
    fn workload(client: usize, index: usize) -> ProcessOp {
        let pid = client as u32;
        let activity = ((index.saturating_sub(1) / 2) % 4) as u8;
        match index {
            0 => ProcessOp::Inst { pid, activities: 4, image: vec![client as u8; 8] },
            i if i % 2 == 1 => ProcessOp::Start { pid, activity, record: vec![index as u8; 4] },
            _ => ProcessOp::Term { pid, activity, record: vec![index as u8; 4] },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(pid: u32) -> ProcessOp {
        ProcessOp::Inst { pid, activities: 10, image: vec![7; 50_000] }
    }

    #[test]
    fn navigation_enables_the_successor_and_copies_share_the_image() {
        let mut db = ProcessDb::default();
        assert_eq!(db.apply(&inst(3)), ProcessReply::Executable(Some(1)));
        let p = db.process(3).unwrap();
        assert_eq!(p.activities.len(), 10);
        assert_eq!(p.activities[0].data.len(), 5_000);
        let before = db.clone();
        let start = ProcessOp::Start { pid: 3, activity: 0, record: vec![1; 300] };
        assert_eq!(db.apply(&start), ProcessReply::Executable(Some(0)));
        let term = ProcessOp::Term { pid: 3, activity: 0, record: vec![2; 300] };
        assert_eq!(db.apply(&term), ProcessReply::Executable(Some(1)));
        assert_eq!(
            db.apply(&ProcessOp::State { pid: 3, activity: 1 }),
            ProcessReply::State(Some(ActivityState::Executable))
        );
        assert_ne!(db.digest(), before.digest());
        assert_eq!(before.process(3).unwrap().activities[0].state, ActivityState::Executable);
        // A missing instance or activity changes nothing.
        let d = db.digest();
        assert_eq!(
            db.apply(&ProcessOp::Start { pid: 9, activity: 0, record: vec![] }),
            ProcessReply::Executable(None)
        );
        assert_eq!(db.digest(), d);
    }

    #[test]
    fn replay_of_the_change_buffers_reproduces_the_image() {
        let ops: Vec<ProcessOp> = (0..30).map(|i| ProcessDb::workload(i % 3, i / 3)).collect();
        let a = ProcessDb::from_ops(&ops);
        let mut b = ProcessDb::default();
        for op in &ops {
            b.apply(op);
        }
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a, b);
    }
}
