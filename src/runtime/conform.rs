//! Trace conformance: a node can record every step it takes — the event (its start with the
//! recovered storage, a message, a timer) and the commands the Actor answered with — as JSON
//! lines; [`conform`] replays such traces through the model's own Actor and fails at the first
//! step the model would not take, naming it. This is how a run of the real system is shown to
//! be a behaviour of the checked model (saves are compared by a hash of the saved value).

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::borrow::Cow;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;
use twosafe_models::stateright::actor::{Actor, Command, Id, Out};

/// The event of one recorded step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TraceEvent<M, T, D> {
    /// The node started (fresh, or from this recovered storage).
    Start {
        /// The node's id.
        id: usize,
        /// What the journal held.
        storage: Option<D>,
    },
    /// A message arrived.
    Msg {
        /// Its sender.
        src: usize,
        /// The message.
        msg: M,
    },
    /// A timer fired.
    Timer {
        /// Which.
        timer: T,
    },
}

/// A command, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TraceCommand<M, T> {
    /// Saved a value with this hash.
    Save(u64),
    /// Sent a message.
    Send(usize, M),
    /// Set a timer.
    SetTimer(T),
    /// Cancelled a timer.
    CancelTimer(T),
}

/// One recorded step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceStep<M, T, D> {
    /// What happened.
    pub event: TraceEvent<M, T, D>,
    /// What the Actor did.
    pub commands: Vec<TraceCommand<M, T>>,
    /// When, in µs since the Unix epoch (wall clock; for measurements such as the takeover
    /// experiment's detection time, never for conformance). 0 when not recorded.
    #[serde(default)]
    pub at_us: u64,
}

/// The wall clock in µs since the Unix epoch, as trace steps record it.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A value's hash as recorded for a save (deterministic: SipHash with fixed keys).
pub fn save_hash<D: Hash>(d: &D) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    d.hash(&mut h);
    h.finish()
}

/// The commands of `out` in recorded form.
pub fn record<A: Actor>(out: &Out<A>) -> Vec<TraceCommand<A::Msg, A::Timer>> {
    out.iter()
        .filter_map(|c| match c {
            Command::Save(d) => Some(TraceCommand::Save(save_hash(d))),
            Command::Send(dst, m) => Some(TraceCommand::Send(usize::from(*dst), m.clone())),
            Command::SetTimer(t, _) => Some(TraceCommand::SetTimer(t.clone())),
            Command::CancelTimer(t) => Some(TraceCommand::CancelTimer(t.clone())),
            Command::ChooseRandom(..) => None,
        })
        .collect()
}

/// Appends recorded steps to a file, one JSON object a line.
pub struct TraceWriter {
    file: BufWriter<File>,
}

impl TraceWriter {
    /// Opens `path` for appending (a restarted node continues its trace).
    pub fn open(path: &Path) -> std::io::Result<TraceWriter> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(TraceWriter { file: BufWriter::new(file) })
    }

    /// Records a step.
    pub fn write<M: Serialize, T: Serialize, D: Serialize>(
        &mut self, step: &TraceStep<M, T, D>,
    ) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.file, step)?;
        self.file.write_all(b"\n")
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Where a trace departs from the model.
#[derive(Debug, Error)]
pub enum ConformError {
    /// The trace could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a recorded step.
    #[error("{path}:{line}: not a trace step: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The trace does not begin with the node's start.
    #[error("{path}:{line}: a step before the node's start")]
    NoStart {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: usize,
    },
    /// The model would not take this step.
    #[error("{path}:{line}: the model would not take this step: on {event}, the node did {got} but the model does {want}")]
    Diverged {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: usize,
        /// The event.
        event: String,
        /// What the node did.
        got: String,
        /// What the model does.
        want: String,
    },
}

/// Replays the trace at `path` through the actor `actor_for` gives for the node id each
/// start names (a protocol whose roles differ by node); returns the number of steps checked.
pub fn conform<A>(actor_for: impl Fn(usize) -> A, path: &Path) -> Result<usize, ConformError>
where
    A: Actor,
    A::Msg: Serialize + DeserializeOwned,
    A::Timer: Serialize + DeserializeOwned,
    A::Storage: Serialize + DeserializeOwned,
{
    let io = |source| ConformError::Io { path: path.to_owned(), source };
    let reader = BufReader::new(File::open(path).map_err(io)?);
    let lines: Vec<String> = reader.lines().collect::<Result<_, _>>().map_err(io)?;
    let mut state: Option<(A, Id, A::State)> = None;
    let mut steps = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let step: TraceStep<A::Msg, A::Timer, A::Storage> = match serde_json::from_str(line) {
            Ok(s) => s,
            // A node killed mid-write leaves a torn last line: the trace ends before it.
            Err(_) if i + 1 == lines.len() && !line.ends_with('}') => break,
            Err(e) => {
                return Err(ConformError::Parse {
                    path: path.to_owned(),
                    line: i + 1,
                    message: e.to_string(),
                })
            }
        };
        let mut out = Out::new();
        let event = format!("{:?}", step.event);
        match step.event {
            TraceEvent::Start { id, storage } => {
                let actor = actor_for(id);
                let id = Id::from(id);
                let s = actor.on_start(id, &storage, &mut out);
                state = Some((actor, id, s));
            }
            TraceEvent::Msg { src, msg } => {
                let Some((actor, id, s)) = &mut state else {
                    return Err(ConformError::NoStart { path: path.to_owned(), line: i + 1 });
                };
                let mut cow = Cow::Borrowed(&*s);
                actor.on_msg(*id, &mut cow, Id::from(src), msg, &mut out);
                if let Cow::Owned(n) = cow {
                    *s = n;
                }
            }
            TraceEvent::Timer { timer } => {
                let Some((actor, id, s)) = &mut state else {
                    return Err(ConformError::NoStart { path: path.to_owned(), line: i + 1 });
                };
                let mut cow = Cow::Borrowed(&*s);
                actor.on_timeout(*id, &mut cow, &timer, &mut out);
                if let Cow::Owned(n) = cow {
                    *s = n;
                }
            }
        }
        let want = record(&out);
        if want != step.commands {
            return Err(ConformError::Diverged {
                path: path.to_owned(),
                line: i + 1,
                event,
                got: format!("{:?}", step.commands),
                want: format!("{want:?}"),
            });
        }
        steps += 1;
    }
    Ok(steps)
}
