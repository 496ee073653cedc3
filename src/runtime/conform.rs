//! Trace conformance: a node can record every step it takes — the event (its start with the
//! recovered storage, a message, a timer) and the commands the Actor answered with — as JSON
//! lines; [`conform`] replays such traces through the model's own Actor and fails at the first
//! step the model would not take, naming it. This is how a run of the real system is shown to
//! be a behaviour of the checked model (saves are compared by a hash of the saved value).

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::borrow::Cow;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufWriter, Write};
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
    /// Opens `path` for appending (a restarted node continues its trace). A node killed
    /// mid-write leaves a torn last line; it is cut off first, so that the restart's steps
    /// begin on a line of their own (the torn step's effects are what the restart recovers).
    pub fn open(path: &Path) -> std::io::Result<TraceWriter> {
        let mut file =
            std::fs::OpenOptions::new().create(true).append(true).read(true).open(path)?;
        cut_torn_line(&mut file)?;
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

/// Cuts `file` back to just after its last newline.
fn cut_torn_line(file: &mut File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    // Look back in blocks for the last newline; a trace line is a few hundred bytes.
    let mut end = len;
    let mut block = vec![0u8; 4096];
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(block.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block[..n])?;
        if let Some(i) = block[..n].iter().rposition(|&b| b == b'\n') {
            break start + i as u64 + 1;
        }
        end = start;
    };
    if keep < len {
        file.set_len(keep)?;
    }
    Ok(())
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

/// A trace's steps, each with its line number.
pub type Numbered<M, T, D> = Vec<(usize, TraceStep<M, T, D>)>;

/// Reads the recorded steps of the trace at `path`, each with its line number. A torn last
/// line (a node killed mid-write leaves it without its newline) ends the trace.
pub fn read_trace<M, T, D>(path: &Path) -> Result<Numbered<M, T, D>, ConformError>
where
    M: DeserializeOwned,
    T: DeserializeOwned,
    D: DeserializeOwned,
{
    let io = |source| ConformError::Io { path: path.to_owned(), source };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let torn_tail = !text.is_empty() && !text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut steps = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(s) => steps.push((i + 1, s)),
            Err(_) if i + 1 == lines.len() && torn_tail => break,
            Err(e) => {
                return Err(ConformError::Parse {
                    path: path.to_owned(),
                    line: i + 1,
                    message: e.to_string(),
                })
            }
        }
    }
    Ok(steps)
}

/// Why the model would not take a recorded step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Departure {
    /// The step came before the node's start.
    NoStart,
    /// The model answers the event with other commands.
    Diverged {
        /// The event.
        event: String,
        /// What the node did.
        got: String,
        /// What the model does.
        want: String,
    },
}

/// A node's recorded steps replayed one by one through the model's actor: the actor's state
/// after each step is the model's state of the node.
pub struct Replayer<A: Actor, F> {
    actor_for: F,
    at: Option<(A, Id, A::State)>,
}

impl<A: Actor, F: Fn(usize) -> A> Replayer<A, F> {
    /// A replayer that takes the actor `actor_for` gives for the node id each start names.
    pub fn new(actor_for: F) -> Self {
        Replayer { actor_for, at: None }
    }

    /// The actor and its state after the steps so far (none before the node's start).
    pub fn state(&self) -> Option<(&A, &A::State)> {
        self.at.as_ref().map(|(a, _, s)| (a, s))
    }

    /// Takes one recorded step: the model's commands must be the recorded ones.
    pub fn step(&mut self, step: TraceStep<A::Msg, A::Timer, A::Storage>) -> Result<(), Departure> {
        let event = format!("{:?}", step.event);
        let out = self.take(step.event)?;
        let want = record(&out);
        if want != step.commands {
            return Err(Departure::Diverged {
                event,
                got: format!("{:?}", step.commands),
                want: format!("{want:?}"),
            });
        }
        Ok(())
    }

    /// Takes one event already judged (see [`Replayer::step`]) without comparing the
    /// commands again: the hash of each save costs O(state).
    pub fn advance(&mut self, event: TraceEvent<A::Msg, A::Timer, A::Storage>) {
        let _ = self.take(event);
    }

    fn take(
        &mut self, event: TraceEvent<A::Msg, A::Timer, A::Storage>,
    ) -> Result<Out<A>, Departure> {
        let mut out = Out::new();
        match event {
            TraceEvent::Start { id, storage } => {
                let actor = (self.actor_for)(id);
                let id = Id::from(id);
                let s = actor.on_start(id, &storage, &mut out);
                self.at = Some((actor, id, s));
            }
            TraceEvent::Msg { src, msg } => {
                let Some((actor, id, s)) = &mut self.at else { return Err(Departure::NoStart) };
                let mut cow = Cow::Borrowed(&*s);
                actor.on_msg(*id, &mut cow, Id::from(src), msg, &mut out);
                if let Cow::Owned(n) = cow {
                    *s = n;
                }
            }
            TraceEvent::Timer { timer } => {
                let Some((actor, id, s)) = &mut self.at else { return Err(Departure::NoStart) };
                let mut cow = Cow::Borrowed(&*s);
                actor.on_timeout(*id, &mut cow, &timer, &mut out);
                if let Cow::Owned(n) = cow {
                    *s = n;
                }
            }
        }
        Ok(out)
    }
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
    let steps = read_trace::<A::Msg, A::Timer, A::Storage>(path)?;
    let mut replayer = Replayer::new(actor_for);
    let count = steps.len();
    for (line, step) in steps {
        replayer.step(step).map_err(|d| match d {
            Departure::NoStart => ConformError::NoStart { path: path.to_owned(), line },
            Departure::Diverged { event, got, want } => {
                ConformError::Diverged { path: path.to_owned(), line, event, got, want }
            }
        })?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_cuts_the_torn_line_a_kill_left_and_continues_on_a_line_of_its_own() {
        let dir = std::env::temp_dir().join(format!("twosafe-trace-torn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trace.jsonl");
        // Two whole lines, then half of a third, as a kill -9 between two writes leaves it;
        // the whole lines are longer than the look-back block, to cross its edge.
        let whole = format!("{{\"a\":\"{}\"}}\n", "x".repeat(5000));
        std::fs::write(&path, format!("{whole}{whole}{{\"torn\":")).unwrap();
        let mut w = TraceWriter::open(&path).unwrap();
        w.file.write_all(b"{\"next\":1}\n").unwrap();
        w.flush().unwrap();
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{whole}{whole}{{\"next\":1}}\n"));
        // A file without any newline is cut to nothing; an intact one is left alone.
        std::fs::write(&path, "{\"torn\":").unwrap();
        drop(TraceWriter::open(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap().len(), 0);
        std::fs::write(&path, &whole).unwrap();
        drop(TraceWriter::open(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_an_unterminated_last_line_is_read_as_torn() {
        use crate::runtime::binding::{linear_2pc::Linear2pc, Binding};
        use crate::runtime::config::{ClusterConfig, Durability, ServiceKind};
        use twosafe_models::linear_2pc::Node;
        use twosafe_models::services::Counter;
        let dir = std::env::temp_dir().join(format!("twosafe-trace-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = ClusterConfig::local(&dir, 1, ServiceKind::Counter, Durability::Memory);
        let actor = || Linear2pc::server::<Counter>(&cfg, 0);
        let mut out = Out::new();
        let a = actor();
        let _ = a.on_start(Id::from(0), &None, &mut out);
        let step = TraceStep {
            event: TraceEvent::<_, _, <Node<Counter> as Actor>::Storage>::Start {
                id: 0,
                storage: None,
            },
            commands: record(&out),
            at_us: 0,
        };
        let line = serde_json::to_string(&step).unwrap();
        // A torn copy that happens to end in a closing brace, as a cut between two writes can.
        let cut = line[..line.len() - 1].rfind('}').unwrap() + 1;
        let path = dir.join("trace.jsonl");
        std::fs::write(&path, format!("{line}\n{line}\n{}", &line[..cut])).unwrap();
        assert_eq!(conform(|_| actor(), &path).unwrap(), 2);
        // The same fragment with its newline is a damaged step, not a torn tail.
        std::fs::write(&path, format!("{line}\n{}\n{line}\n", &line[..cut])).unwrap();
        let e = conform(|_| actor(), &path).unwrap_err();
        assert!(matches!(e, ConformError::Parse { line: 2, .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
