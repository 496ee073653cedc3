//! Unit tests of the linear 2PC roles: a state and an event in, the exact commands out
//! (Hagen & Alonso (OPERA) §3.1). Command order matters: a `Save` must come before any `Send` of the step.

use stateright::actor::{Command, Id, Out};
use twosafe_models::catalogue;
use twosafe_models::linear_2pc::client::Client;
use twosafe_models::linear_2pc::msg::Timer;
use twosafe_models::linear_2pc::msg::{Entry, Msg};
use twosafe_models::linear_2pc::server::{Durable, Role, Server, ServerState};
use twosafe_models::linear_2pc::Node;
use twosafe_models::linear_2pc::{Config, Level};
use twosafe_models::services::{Register, RegisterOp, RegisterReply};

type M = Msg<RegisterOp, RegisterReply>;
type D = Durable<RegisterOp, RegisterReply>;
type Cmd = Command<M, Timer, (), D>;

const PRIMARY: usize = 0;
const BACKUP: usize = 1;
const CLIENT: usize = 2;

/// The model's configuration with its defaults and `settings` (parameter, value) on top.
fn config_with(settings: &[(&str, &str)]) -> Config {
    let spec = catalogue::model("linear-2pc").unwrap();
    let mut p = spec.defaults();
    for (name, value) in settings {
        p.set(spec.params, name, value).unwrap();
    }
    Config::from_params(&p).unwrap()
}

fn cfg(level: &str) -> Config {
    config_with(&[("level", level)])
}

/// A server in degraded mode (with takeback, which it needs).
fn degrade_server() -> Server<Register> {
    Server::new(config_with(&[("takeback", "true"), ("degrade", "true")]))
}

fn server(level: &str) -> Server<Register> {
    Server::new(cfg(level))
}

fn start(s: &Server<Register>, id: usize, storage: Option<D>) -> (ServerState<Register>, Vec<Cmd>) {
    let mut o = Out::<Node<Register>>::new();
    let st = s.on_start(Id::from(id), &storage, &mut o);
    (st, o.into_iter().collect())
}

fn deliver(
    s: &Server<Register>, st: &ServerState<Register>, src: usize, msg: M,
) -> (Option<ServerState<Register>>, Vec<Cmd>) {
    let mut o = Out::<Node<Register>>::new();
    let next = s.on_msg(st, Id::from(src), msg, &mut o);
    (next, o.into_iter().collect())
}

fn entry(seq: u32, v: u8) -> Entry<RegisterOp, RegisterReply> {
    Entry {
        client: Id::from(CLIENT),
        session: 1,
        seq,
        op: RegisterOp::Put(0, v),
        reply: RegisterReply::PutOk,
    }
}

fn put(seq: u32, v: u8) -> M {
    Msg::Request { session: 1, seq, op: RegisterOp::Put(0, v) }
}

/// What a hot-standby server of `role` in `epoch` has saved with an empty history.
fn saved(role: Role, epoch: u64) -> D {
    D {
        role,
        epoch,
        level: Level::Critical,
        log: Default::default(),
        applied: 0,
        restarts: 0,
        wipes: 0,
        reconfigured: 0,
        incarnation: 0,
        joined: 0,
        caught_up: false,
    }
}

fn sends(cmds: &[Cmd]) -> Vec<String> {
    cmds.iter()
        .map(|c| match c {
            Command::Send(id, m) => format!("send {} {m:?}", usize::from(*id)),
            Command::Save(d) => {
                format!("save {:?} e{} log{} applied{}", d.role, d.epoch, d.log.len(), d.applied)
            }
            Command::SetTimer(t, _) => format!("set {t:?}"),
            Command::CancelTimer(t) => format!("cancel {t:?}"),
            Command::ChooseRandom(..) => "random".into(),
        })
        .collect()
}

#[test]
fn primary_ships_the_change_buffer_and_does_not_reply_yet() {
    let s = server("critical");
    let (p, _) = start(&s, PRIMARY, None);
    let (next, cmds) = deliver(&s, &p, CLIENT, put(0, 1));
    assert!(matches!(
        cmds.as_slice(),
        [Command::Send(to, Msg::ChangeBuffer { epoch: 0, index: 0, entry: e })]
            if *to == Id::from(BACKUP) && *e == entry(0, 1)
    ));
    let next = next.expect("the step is pending");
    assert!(next.log.is_empty(), "nothing is committed before the backup's ack");
}

#[test]
fn primary_commits_on_ack_durably_before_replying() {
    let s = server("critical");
    let (p, _) = start(&s, PRIMARY, None);
    let (p, _) = deliver(&s, &p, CLIENT, put(0, 1));
    let (p, cmds) = deliver(&s, &p.unwrap(), BACKUP, Msg::Ack { epoch: 0, index: 0 });
    assert_eq!(
        sends(&cmds),
        vec!["save Primary e0 log1 applied1", "send 2 Reply { session: 1, seq: 0, reply: PutOk }"]
    );
    let p = p.unwrap();
    // A resend of the committed request is answered from the history, not executed again.
    let (again, cmds) = deliver(&s, &p, CLIENT, put(0, 1));
    assert!(again.is_none());
    assert_eq!(sends(&cmds), vec!["send 2 Reply { session: 1, seq: 0, reply: PutOk }"]);
    // A stale ack changes nothing.
    let (stale, cmds) = deliver(&s, &p, BACKUP, Msg::Ack { epoch: 0, index: 0 });
    assert!(stale.is_none() && cmds.is_empty());
}

#[test]
fn busy_primary_leaves_other_requests_in_the_network() {
    let s = server("critical");
    let (p, _) = start(&s, PRIMARY, None);
    let (p, _) = deliver(&s, &p, CLIENT, put(0, 1));
    let (next, cmds) = deliver(&s, &p.unwrap(), 3, put(0, 9));
    assert!(next.is_none() && cmds.is_empty(), "a no-op step: the message stays queued");
}

#[test]
fn hot_backup_applies_saves_then_acks_and_cold_backup_only_stores() {
    for (level, applied) in [("critical", 1), ("important", 0)] {
        let s = server(level);
        let (b, start_cmds) = start(&s, BACKUP, None);
        assert_eq!(sends(&start_cmds), vec!["save Backup e0 log0 applied0", "set Takeover"]);
        let cb = Msg::ChangeBuffer { epoch: 0, index: 0, entry: entry(0, 1) };
        let (b, cmds) = deliver(&s, &b, PRIMARY, cb.clone());
        assert_eq!(
            sends(&cmds),
            vec![
                format!("save Backup e0 log1 applied{applied}"),
                "send 0 Ack { epoch: 0, index: 0 }".to_string()
            ],
            "{level}"
        );
        // A retransmitted change buffer is acked again and not stored twice.
        let (again, cmds) = deliver(&s, &b.unwrap(), PRIMARY, cb);
        assert!(again.is_none());
        assert_eq!(sends(&cmds), vec!["send 0 Ack { epoch: 0, index: 0 }"]);
    }
}

#[test]
fn takeover_installs_buffers_degrades_and_fences_the_old_epoch() {
    let s = server("important");
    let (b, _) = start(&s, BACKUP, None);
    let (b, _) =
        deliver(&s, &b, PRIMARY, Msg::ChangeBuffer { epoch: 0, index: 0, entry: entry(0, 7) });
    let b = b.unwrap();
    let mut o = Out::<Node<Register>>::new();
    let p = s.on_timeout(&b, &Timer::Takeover, &mut o).expect("takes over");
    assert_eq!(
        sends(&o.into_iter().collect::<Vec<_>>()),
        vec!["save Primary e1 log1 applied1", "send 2 NewPrimary { epoch: 1 }"]
    );
    assert_eq!((p.role, p.epoch, p.level), (Role::Primary, 1, Level::Normal));
    assert_eq!(p.service.entries().collect::<Vec<_>>(), vec![(0, 7)], "cold buffers installed");
    let (_, cmds) =
        deliver(&s, &p, PRIMARY, Msg::ChangeBuffer { epoch: 0, index: 1, entry: entry(1, 2) });
    assert_eq!(sends(&cmds), vec!["send 0 TakenOver { epoch: 1 }"]);
}

#[test]
fn restarted_primary_runs_the_reconfiguration_protocol() {
    let s = server("critical");
    let durable = saved(Role::Primary, 0);
    let (r, cmds) = start(&s, PRIMARY, Some(durable));
    assert_eq!(r.role, Role::Reconfiguring);
    assert_eq!(
        sends(&cmds),
        vec!["save Primary e0 log0 applied0", "send 1 Inquire { epoch: 0, len: 0 }"]
    );
    // Requests wait until the process state is known.
    let (n, cmds) = deliver(&s, &r, CLIENT, put(0, 1));
    assert!(n.is_none() && cmds.is_empty());
    // The backup committed a step the primary crashed before committing: adopt it.
    let state = Msg::ProcessState { epoch: 0, from: 0, entries: vec![entry(0, 1)] };
    let (p, cmds) = deliver(&s, &r, BACKUP, state);
    let p = p.unwrap();
    assert_eq!((p.role, p.log.len()), (Role::Primary, 1));
    assert_eq!(
        sends(&cmds),
        vec!["save Primary e0 log1 applied1", "send 2 NewPrimary { epoch: 0 }"]
    );
    // Or the backup has taken over: retire, and drop the process.
    let (gone, cmds) = deliver(&s, &r, BACKUP, Msg::TakenOver { epoch: 1 });
    assert_eq!(gone.unwrap().role, Role::Retired);
    assert_eq!(sends(&cmds), vec!["save Retired e1 log0 applied0"]);
}

#[test]
fn reads_are_confirmed_not_checkpointed() {
    let s = server("critical");
    let (p, _) = start(&s, PRIMARY, None);
    let (p, cmds) = deliver(&s, &p, 3, Msg::Request { session: 1, seq: 0, op: RegisterOp::Get(0) });
    assert_eq!(sends(&cmds), vec!["send 1 Confirm { epoch: 0, index: 0 }"]);
    let (_, cmds) = deliver(&s, &p.unwrap(), BACKUP, Msg::Confirmed { epoch: 0, index: 0 });
    assert_eq!(sends(&cmds), vec!["send 3 Reply { session: 1, seq: 0, reply: GetOk(None) }"]);
}

#[test]
fn client_follows_the_new_primary_and_resends_within_budget() {
    let c = Client::<Register>::new(cfg("critical"), 0);
    let mut o = Out::<Node<Register>>::new();
    let st = c.on_start(Id::from(CLIENT), &None, &mut o);
    assert_eq!(
        sends(&o.into_iter().collect::<Vec<_>>()),
        vec!["send 0 Request { session: 1, seq: 0, op: Put(0, 1) }", "set Resend"]
    );
    let mut o = Out::<Node<Register>>::new();
    let st = c.on_msg(&st, Id::from(BACKUP), Msg::NewPrimary { epoch: 1 }, &mut o).unwrap();
    assert_eq!(
        sends(&o.into_iter().collect::<Vec<_>>()),
        vec!["send 1 Request { session: 1, seq: 0, op: Put(0, 1) }"]
    );
    let mut o = Out::<Node<Register>>::new();
    let st = c.on_timeout(&st, &Timer::Resend, &mut o).unwrap();
    assert_eq!(
        sends(&o.into_iter().collect::<Vec<_>>()),
        vec!["send 1 Request { session: 1, seq: 0, op: Put(0, 1) }"]
    );
    let mut o = Out::<Node<Register>>::new();
    assert!(c.on_timeout(&st, &Timer::Resend, &mut o).is_none(), "budget spent");
    // An older epoch's announcement is ignored.
    let mut o = Out::<Node<Register>>::new();
    assert!(c.on_msg(&st, Id::from(PRIMARY), Msg::NewPrimary { epoch: 0 }, &mut o).is_none());
}

#[test]
fn a_restarted_primary_asks_again_while_it_reconfigures_when_clients_resend_for_ever() {
    let s = Server::new(config_with(&[("resends", "forever")]));
    let (r, cmds) = start(&s, PRIMARY, Some(saved(Role::Primary, 0)));
    assert_eq!(
        sends(&cmds),
        vec!["save Primary e0 log0 applied0", "send 1 Inquire { epoch: 0, len: 0 }", "set Inquire"]
    );
    // The question or its answer was lost: ask again, and again.
    let (again, cmds) = fire(&s, &r, Timer::Inquire);
    let again = again.expect("asks again");
    assert_eq!(sends(&cmds), vec!["send 1 Inquire { epoch: 0, len: 0 }", "set Inquire"]);
    assert_eq!(again.role, Role::Reconfiguring);
    // Once the process state is known, the timer is stale.
    let state = Msg::ProcessState { epoch: 0, from: 0, entries: vec![] };
    let (p, _) = deliver(&s, &again, BACKUP, state);
    let (stale, cmds) = fire(&s, &p.expect("primary again"), Timer::Inquire);
    assert!(stale.is_none() && cmds.is_empty());
    // With a finite budget (the model's bound) it asks once.
    let (_, cmds) = start(&server("critical"), PRIMARY, Some(saved(Role::Primary, 0)));
    assert!(!sends(&cmds).contains(&"set Inquire".to_string()));
}

fn with_heartbeats(level: &str) -> Server<Register> {
    let mut c = cfg(level);
    c.heartbeats = true;
    Server::new(c)
}

fn fire(
    s: &Server<Register>, st: &ServerState<Register>, t: Timer,
) -> (Option<ServerState<Register>>, Vec<Cmd>) {
    let mut o = Out::<Node<Register>>::new();
    let next = s.on_timeout(st, &t, &mut o);
    (next, o.into_iter().collect())
}

#[test]
fn primary_sends_one_i_am_alive_at_a_time_and_the_backup_rearms_its_suspicion() {
    let s = with_heartbeats("critical");
    let (p, cmds) = start(&s, PRIMARY, None);
    assert_eq!(sends(&cmds), vec!["save Primary e0 log0 applied0", "set Heartbeat"]);
    let (p, cmds) = fire(&s, &p, Timer::Heartbeat);
    assert_eq!(sends(&cmds), vec!["send 1 IAmAlive { epoch: 0 }", "set Heartbeat"]);
    let p = p.expect("now awaiting the answer");
    // Unanswered: the next period sends nothing (one in flight keeps the model finite).
    let (silent, cmds) = fire(&s, &p, Timer::Heartbeat);
    assert!(silent.is_none() && cmds.is_empty());
    let (b, _) = start(&s, BACKUP, None);
    let (same, cmds) = deliver(&s, &b, PRIMARY, Msg::IAmAlive { epoch: 0 });
    assert!(same.is_none());
    assert_eq!(sends(&cmds), vec!["set Takeover", "send 0 AliveAck { epoch: 0 }"]);
    let (p, cmds) = deliver(&s, &p, BACKUP, Msg::AliveAck { epoch: 0 });
    assert!(p.is_some_and(|p| !p.awaiting_alive));
    assert_eq!(sends(&cmds), vec!["set Heartbeat"]);
    // Without heartbeats nothing of this happens.
    let plain = server("critical");
    let (p, cmds) = start(&plain, PRIMARY, None);
    assert_eq!(sends(&cmds), vec!["save Primary e0 log0 applied0"]);
    assert!(fire(&plain, &p, Timer::Heartbeat).1.is_empty());
}

#[test]
fn restarted_backup_tells_the_primary_it_is_back() {
    let s = with_heartbeats("critical");
    let (b, _) = start(&s, BACKUP, None);
    let (_, cmds) = start(&s, BACKUP, Some(b.durable()));
    assert_eq!(
        sends(&cmds),
        vec!["save Backup e0 log0 applied0", "set Takeover", "send 0 AliveAck { epoch: 0 }"]
    );
}

mod journaled {
    use super::*;
    use proptest::prelude::*;
    use twosafe_models::journaled::Journaled;

    /// How a server's durable state can change between two saves.
    #[derive(Clone, Debug)]
    enum Step {
        Append(u8),
        Retire,
        Adopt(u8),
        Epoch,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => any::<u8>().prop_map(Step::Append),
            1 => Just(Step::Retire),
            1 => (0u8..3).prop_map(Step::Adopt),
            1 => Just(Step::Epoch),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        /// Replaying the changes of any sequence of saves rebuilds every saved value.
        #[test]
        fn changes_rebuild_every_save(steps in proptest::collection::vec(step(), 0..40)) {
            let s = server("critical");
            let (st, _) = start(&s, BACKUP, None);
            let mut saved: D = st.durable();
            let mut replayed = saved.clone();
            for (i, st) in steps.into_iter().enumerate() {
                let mut next = saved.clone();
                match st {
                    Step::Append(v) => next.log.push(entry(i as u32, v)),
                    Step::Retire => { next.log.clear(); next.role = Role::Retired; }
                    Step::Adopt(k) => {
                        // The backup's history extends ours by a few steps.
                        for j in 0..k { next.log.push(entry(1000 + i as u32 + u32::from(j), j)); }
                    }
                    Step::Epoch => next.epoch = next.epoch.wrapping_add(1),
                }
                next.applied = next.log.len() as u32;
                let change = next.change_from(&saved);
                replayed.apply(change);
                prop_assert_eq!(&replayed, &next);
                saved = next;
            }
        }
    }
}

fn takeback_server() -> Server<Register> {
    Server::new(config_with(&[("takeback", "true")]))
}

#[test]
fn a_learner_joins_in_a_new_epoch_and_never_answers_an_inquiry_it_cannot() {
    let s = takeback_server();
    // A server started from a learner's storage asks to join, with its incarnation.
    let (l, cmds) = start(&s, BACKUP, Some(D::learner(Level::Critical, 7)));
    assert_eq!(l.role, Role::Learner);
    assert_eq!(
        sends(&cmds),
        vec!["save Learner e0 log0 applied0", "send 0 Join { inc: 7 }", "set Join"]
    );
    // Not caught up: a restarted primary's inquiry gets "I hold nothing", not a history.
    let (n, cmds) = deliver(&s, &l, PRIMARY, Msg::Inquire { epoch: 0, len: 0 });
    assert!(n.is_none());
    assert_eq!(sends(&cmds), vec!["send 0 Empty { epoch: 0 }"]);
    // It does not serve clients.
    let (n, cmds) = deliver(&s, &l, CLIENT, put(0, 1));
    assert!(n.is_none() && cmds.is_empty());

    // The primary answers the join in a new epoch, saved before the catch-up leaves.
    let (p, _) = start(&s, PRIMARY, None);
    let (p, cmds) = deliver(&s, &p, BACKUP, Msg::Join { inc: 7 });
    let p = p.unwrap();
    assert_eq!((p.epoch, p.joined), (1, 7));
    assert_eq!(
        sends(&cmds),
        vec![
            "save Primary e1 log0 applied0",
            "send 1 CatchUp { epoch: 1, inc: 7, from: 0, entries: [], last: true }"
        ]
    );
    // A resent join of the same incarnation: the catch-up again, no new epoch.
    let (n, cmds) = deliver(&s, &p, BACKUP, Msg::Join { inc: 7 });
    assert!(n.is_none());
    assert_eq!(
        sends(&cmds),
        vec!["send 1 CatchUp { epoch: 1, inc: 7, from: 0, entries: [], last: true }"]
    );

    // A catch-up meant for another incarnation is ignored; its own is adopted with the epoch.
    let stale = Msg::CatchUp { epoch: 1, inc: 0, from: 0, entries: vec![], last: true };
    assert!(deliver(&s, &l, PRIMARY, stale).0.is_none());
    let own = Msg::CatchUp { epoch: 1, inc: 7, from: 0, entries: vec![entry(0, 1)], last: true };
    let (l, cmds) = deliver(&s, &l, PRIMARY, own);
    let l = l.unwrap();
    assert_eq!(
        sends(&cmds),
        vec!["save Learner e1 log1 applied1", "send 0 CaughtUp { epoch: 1, inc: 7, len: 1 }"]
    );
    // Caught up in epoch 1, it holds the commit decisions of that epoch.
    let (_, cmds) = deliver(&s, &l, PRIMARY, Msg::Inquire { epoch: 1, len: 0 });
    assert_eq!(sends(&cmds).len(), 1);
    assert!(sends(&cmds)[0].starts_with("send 0 ProcessState { epoch: 1"), "{cmds:?}");
    // Welcomed: the backup again.
    let (b, _) = deliver(&s, &l, PRIMARY, Msg::Welcome { epoch: 1, inc: 7 });
    assert_eq!(b.unwrap().role, Role::Backup);
}

/// The catch-up comes a chunk at a time, each asked for from where the rejoining server's
/// history ends; with part of it, a learner holds a bare prefix and answers no inquiry; a
/// delayed chunk adds nothing. The reconfiguration, likewise, ships only what the restarted
/// primary lacks.
#[test]
fn a_catch_up_comes_in_chunks_and_only_the_last_makes_the_server_current() {
    let s = takeback_server();
    let (p, _) = start(&s, PRIMARY, None);
    let mut p = p;
    for seq in 0..3 {
        p.log.push(entry(seq, seq as u8 + 1));
    }
    let (p, _) = deliver(&s, &p, BACKUP, Msg::Join { inc: 7 });
    let p = p.unwrap();
    let (l, _) = start(&s, BACKUP, Some(D::learner(Level::Critical, 7)));
    // The model's chunk is one step: the first, then the learner asks for the next.
    let (_, cmds) = deliver(&s, &p, BACKUP, Msg::Join { inc: 7 });
    let first = match &cmds[..] {
        [Command::Send(_, m @ Msg::CatchUp { from: 0, last: false, .. })] => m.clone(),
        other => panic!("{other:?}"),
    };
    let (l, cmds) = deliver(&s, &l, PRIMARY, first.clone());
    let l = l.unwrap();
    assert_eq!(
        sends(&cmds),
        vec!["save Learner e1 log1 applied1", "send 0 Rejoin { epoch: 1, len: 1, inc: 7 }"]
    );
    // A bare prefix: an inquiry gets "I hold nothing", and the same chunk again brings nothing.
    let (_, cmds) = deliver(&s, &l, PRIMARY, Msg::Inquire { epoch: 1, len: 0 });
    assert_eq!(sends(&cmds), vec!["send 0 Empty { epoch: 1 }"]);
    assert!(deliver(&s, &l, PRIMARY, first).0.is_none());
    // The primary answers each Rejoin with the chunk after the length it names.
    let mut l = l;
    for have in 1..3u32 {
        let (_, cmds) = deliver(&s, &p, BACKUP, Msg::Rejoin { epoch: 1, len: have, inc: 7 });
        let chunk = match &cmds[..] {
            [Command::Send(_, m @ Msg::CatchUp { from, entries, last, .. })]
                if *from == have && entries.len() == 1 && *last == (have == 2) =>
            {
                m.clone()
            }
            other => panic!("{other:?}"),
        };
        let (n, _) = deliver(&s, &l, PRIMARY, chunk);
        l = n.unwrap();
    }
    assert!(l.caught_up && l.log == p.log, "{l:?}");
    let (_, cmds) = deliver(&s, &l, PRIMARY, Msg::Inquire { epoch: 1, len: 2 });
    assert_eq!(
        sends(&cmds),
        vec![format!("send 0 ProcessState {{ epoch: 1, from: 2, entries: [{:?}] }}", entry(2, 3))]
    );
}

/// Epochs do not run out: a backup restarted at epoch 255 (what a u8 could hold) takes over
/// into 256, and the deposed primary of 255 is fenced by it.
#[test]
fn a_takeover_after_255_epochs_still_starts_a_new_one() {
    let s = server("critical");
    let durable = saved(Role::Backup, 255);
    let (b, _) = start(&s, BACKUP, Some(durable));
    let mut o = Out::<Node<Register>>::new();
    let p = s.on_timeout(&b, &Timer::Takeover, &mut o).expect("takes over");
    assert_eq!((p.role, p.epoch), (Role::Primary, 256));
    let (_, cmds) =
        deliver(&s, &p, PRIMARY, Msg::ChangeBuffer { epoch: 255, index: 0, entry: entry(0, 2) });
    assert_eq!(sends(&cmds), vec!["send 0 TakenOver { epoch: 256 }"]);
}

/// A later session of the client id starts its sequence numbers at 0 again and is executed,
/// not answered from the earlier session's entry; once it has committed, a resend of the
/// earlier session is refused with `Expired`, neither executed nor answered.
#[test]
fn a_later_session_is_executed_and_expires_the_earlier_one() {
    let s = server("normal");
    let (p, _) = start(&s, PRIMARY, None);
    let (p, _) = deliver(&s, &p, CLIENT, put(0, 1));
    let p = p.expect("committed at once (no backup)");
    let later = Msg::Request { session: 2, seq: 0, op: RegisterOp::Put(0, 2) };
    let (p, cmds) = deliver(&s, &p, CLIENT, later);
    assert_eq!(
        sends(&cmds),
        vec!["save Primary e0 log2 applied2", "send 2 Reply { session: 2, seq: 0, reply: PutOk }"]
    );
    let p = p.expect("executed");
    assert_eq!(p.log.session(Id::from(CLIENT)), Some(2));
    let (next, cmds) = deliver(&s, &p, CLIENT, put(0, 1));
    assert!(next.is_none(), "not executed");
    assert_eq!(sends(&cmds), vec!["send 2 Expired { session: 1, seq: 0 }"]);
}

/// The client's sessions in the model: after its `requests` replies it starts the next session
/// at sequence number 0; a reply of the earlier session is ignored, and `Expired` for the
/// current request stops it.
#[test]
fn a_client_starts_its_next_session_at_seq_0_and_stops_when_expired() {
    let c = Client::<Register>::new(config_with(&[("sessions", "2"), ("requests", "1")]), 0);
    let mut o = Out::<Node<Register>>::new();
    let st = c.on_start(Id::from(CLIENT), &None, &mut o);
    assert_eq!((st.session, st.seq()), (1, 0));
    let reply = |session, seq| Msg::Reply { session, seq, reply: RegisterReply::PutOk };
    let mut o = Out::<Node<Register>>::new();
    let st = c.on_msg(&st, Id::from(PRIMARY), reply(1, 0), &mut o).expect("answered");
    assert_eq!((st.session, st.seq()), (2, 0));
    let sent: Vec<String> = o.into_iter().map(|c| format!("{c:?}")).collect();
    assert!(sent[0].contains("Request { session: 2, seq: 0, op: Put(0, 2) }"), "{sent:?}");
    let mut o = Out::<Node<Register>>::new();
    assert!(c.on_msg(&st, Id::from(PRIMARY), reply(1, 0), &mut o).is_none(), "stale reply");
    let expired = Msg::Expired { session: 2, seq: 0 };
    let st = c.on_msg(&st, Id::from(PRIMARY), expired, &mut o).expect("stops");
    assert!(st.expired && st.current.is_none());
    assert!(c.submit(&st, RegisterOp::Put(0, 9), &mut o).is_none(), "sends nothing more");
}

/// Degraded mode: the primary whose backup does not answer a step saves its new epoch and
/// level normal before anything of the step leaves, commits the step alone, answers it, and
/// fences the backup; the backup, fenced, retires and asks to rejoin; a late ack of the old
/// epoch is answered with the fence again, and so is the silence of a backup that never heard
/// it (within the resend budget; restarted, the primary fences again). The backup never arms
/// a takeover.
#[test]
fn a_degrading_primary_saves_its_new_epoch_first_and_fences_the_backup() {
    let s = degrade_server();
    let (b, cmds) = start(&s, BACKUP, None);
    assert!(!sends(&cmds).contains(&"set Takeover".to_string()), "{cmds:?}");
    let (pr, _) = start(&s, PRIMARY, None);
    let (pr, cmds) = deliver(&s, &pr, CLIENT, put(0, 1));
    assert_eq!(sends(&cmds)[1], "set Degrade");
    let (pr, cmds) = fire(&s, &pr.unwrap(), Timer::Degrade);
    assert_eq!(
        sends(&cmds),
        vec![
            "save Primary e1 log1 applied1",
            "cancel Heartbeat",
            "send 1 TakenOver { epoch: 1 }",
            "set Degrade",
            "send 2 Reply { session: 1, seq: 0, reply: PutOk }",
        ]
    );
    let pr = pr.unwrap();
    assert_eq!(pr.level, Level::Normal);
    // The fence again on the timer, within the budget (the default: one resend).
    let (again, cmds) = fire(&s, &pr, Timer::Degrade);
    assert_eq!(sends(&cmds), vec!["send 1 TakenOver { epoch: 1 }"]);
    let (spent, cmds) = fire(&s, &again.unwrap(), Timer::Degrade);
    assert!(spent.is_none() && cmds.is_empty(), "{cmds:?}");
    // Restarted from its durable state, it fences again.
    let (_, cmds) = start(&s, PRIMARY, Some(pr.durable()));
    assert!(
        sends(&cmds).ends_with(&["send 1 TakenOver { epoch: 1 }".into(), "set Degrade".into()]),
        "{cmds:?}"
    );
    let (late, cmds) = deliver(&s, &pr, BACKUP, Msg::Ack { epoch: 0, index: 0 });
    assert!(late.is_none());
    assert_eq!(sends(&cmds), vec!["send 1 TakenOver { epoch: 1 }"]);
    let (b, cmds) = deliver(&s, &b, PRIMARY, Msg::TakenOver { epoch: 1 });
    assert_eq!(b.map(|b| b.role), Some(Role::Retired));
    assert_eq!(
        sends(&cmds),
        vec!["save Retired e1 log0 applied0", "send 0 Rejoin { epoch: 1, len: 0, inc: 0 }"]
    );
}

/// A retired server whose rejoin a degradation cut: the primary upgraded for its `Rejoin`, the
/// next step was not acked in time (the catch-up still going), and the primary degraded into a
/// new epoch. The retired server adopts that epoch, keeps the prefix it holds, and asks again
/// from where it ends; a fence of its own epoch (its `Rejoin` lost) makes it ask again too.
/// (Ignoring the fence, as before, left it retired for good.)
#[test]
fn a_retired_server_whose_rejoin_a_degradation_cut_rejoins_in_the_new_epoch() {
    let s = degrade_server();
    let mut held = saved(Role::Retired, 1);
    held.log.push(entry(0, 1));
    held.applied = 1;
    let (r, cmds) = start(&s, BACKUP, Some(held));
    assert_eq!(
        sends(&cmds),
        vec!["save Retired e1 log1 applied1", "send 0 Rejoin { epoch: 1, len: 1, inc: 0 }"]
    );
    let (n, cmds) = deliver(&s, &r, PRIMARY, Msg::TakenOver { epoch: 2 });
    let n = n.expect("adopts the new epoch");
    assert_eq!((n.role, n.epoch, n.log.len()), (Role::Retired, 2, 1));
    assert_eq!(
        sends(&cmds),
        vec!["save Retired e2 log1 applied1", "send 0 Rejoin { epoch: 2, len: 1, inc: 0 }"]
    );
    // The fence again (its Rejoin was lost): asked again, nothing to save.
    let (same, cmds) = deliver(&s, &n, PRIMARY, Msg::TakenOver { epoch: 2 });
    assert!(same.is_none());
    assert_eq!(sends(&cmds), vec!["send 0 Rejoin { epoch: 2, len: 1, inc: 0 }"]);
    // A fence of an older epoch is stale.
    let (stale, cmds) = deliver(&s, &n, PRIMARY, Msg::TakenOver { epoch: 1 });
    assert!(stale.is_none() && cmds.is_empty(), "{cmds:?}");
    // The primary restarted and asks for the commit decisions: mid-catch-up it holds none.
    let (_, cmds) = deliver(&s, &n, PRIMARY, Msg::Inquire { epoch: 2, len: 1 });
    assert_eq!(sends(&cmds), vec!["send 0 Empty { epoch: 2 }"]);
    let (_, cmds) = deliver(&s, &n, PRIMARY, Msg::Inquire { epoch: 1, len: 1 });
    assert!(cmds.is_empty(), "not its epoch: {cmds:?}");
    // With the last chunk it holds them.
    let last = Msg::CatchUp { epoch: 2, inc: 0, from: 1, entries: vec![entry(1, 2)], last: true };
    let (n, cmds) = deliver(&s, &n, PRIMARY, last);
    let n = n.unwrap();
    assert!(n.caught_up);
    assert_eq!(
        sends(&cmds),
        vec!["save Retired e2 log2 applied2", "send 0 CaughtUp { epoch: 2, inc: 0, len: 2 }"]
    );
    let (_, cmds) = deliver(&s, &n, PRIMARY, Msg::Inquire { epoch: 2, len: 1 });
    assert_eq!(
        sends(&cmds),
        vec![format!("send 0 ProcessState {{ epoch: 2, from: 1, entries: [{:?}] }}", entry(1, 2))]
    );
    // Without takeback there is nothing to rejoin: a retired server stays retired.
    let plain = server("critical");
    let (r, _) = start(&plain, BACKUP, Some(saved(Role::Retired, 1)));
    let (n, cmds) = deliver(&plain, &r, PRIMARY, Msg::TakenOver { epoch: 2 });
    assert!(n.is_none() && cmds.is_empty(), "{cmds:?}");
}

/// Degraded mode while a learner joins: the primary upgraded for the learner's `Join`, the
/// learner did not ack the next step in time, and the primary degraded. The learner's resent
/// `Join` (same incarnation) upgrades the primary again, in the degradation's epoch, so that
/// the `CaughtUp` it answers is welcomed. (Answering it with a catch-up alone, as for a resend
/// before the degradation, left the learner asking forever: a live chaos run found it.)
#[test]
fn a_learner_whose_join_was_cut_by_a_degradation_is_welcomed_after_its_resent_join() {
    let s = degrade_server();
    let (pr, _) = start(&s, PRIMARY, None);
    let (pr, _) = deliver(&s, &pr, BACKUP, Msg::Join { inc: 7 });
    let pr = pr.unwrap();
    assert_eq!((pr.epoch, pr.level), (1, Level::Critical));
    let (pr, _) = deliver(&s, &pr, CLIENT, put(0, 1));
    let (pr, _) = fire(&s, &pr.unwrap(), Timer::Degrade);
    let pr = pr.unwrap();
    assert_eq!((pr.epoch, pr.level, pr.joined), (2, Level::Normal, 7));
    let (pr, cmds) = deliver(&s, &pr, BACKUP, Msg::Join { inc: 7 });
    let pr = pr.expect("upgraded again");
    assert_eq!((pr.epoch, pr.level), (2, Level::Critical));
    assert_eq!(
        sends(&cmds),
        vec![
            "save Primary e2 log1 applied1",
            "send 1 CatchUp { epoch: 2, inc: 7, from: 0, entries: [Entry { client: Id(2), session: 1, seq: 0, op: Put(0, 1), reply: PutOk }], last: true }",
        ]
    );
    let (_, cmds) = deliver(&s, &pr, BACKUP, Msg::CaughtUp { epoch: 2, inc: 7, len: 1 });
    assert_eq!(sends(&cmds), vec!["send 1 Welcome { epoch: 2, inc: 7 }"]);
}

/// The runtime's resend budget, `FOREVER`, never runs out: a degraded primary keeps fencing a
/// silent backup, and a learner keeps asking to join.
#[test]
fn a_forever_budget_never_runs_out() {
    use twosafe_models::linear_2pc::FOREVER;
    let mut c = config_with(&[("takeback", "true"), ("degrade", "true")]);
    c.resends = FOREVER;
    let s = Server::<Register>::new(c.clone());
    let (pr, _) = start(&s, PRIMARY, None);
    let (pr, _) = deliver(&s, &pr, CLIENT, put(0, 1));
    let (mut pr, _) = fire(&s, &pr.unwrap(), Timer::Degrade);
    for _ in 0..300 {
        let (next, cmds) = fire(&s, pr.as_ref().unwrap(), Timer::Degrade);
        assert_eq!(sends(&cmds), vec!["send 1 TakenOver { epoch: 1 }", "set Degrade"]);
        assert_eq!(next.as_ref().map(|n| n.fences_left), Some(FOREVER));
        pr = next;
    }
    let (mut l, _) = start(&s, BACKUP, Some(D::learner(Level::Critical, 7)));
    for _ in 0..300 {
        let (next, cmds) = fire(&s, &l, Timer::Join);
        assert_eq!(sends(&cmds), vec!["send 0 Join { inc: 7 }", "set Join"]);
        l = next.unwrap();
    }
}

/// A client whose server 0 is down for good, and that missed server 1's announcement, finds
/// the new primary: its resend timer resends to server 0 and probes server 1, which answers
/// `NewPrimary` as a primary (a backup answers nothing); without `probe` it only resends.
#[test]
fn a_client_probes_the_other_server_and_follows_a_newer_primary() {
    let probing = config_with(&[("probe", "true")]);
    let c = Client::<Register>::new(probing.clone(), 0);
    let mut o = Out::<Node<Register>>::new();
    let st = c.on_start(Id::from(CLIENT), &None, &mut o);
    let mut o = Out::<Node<Register>>::new();
    let st = c.on_timeout(&st, &Timer::Resend, &mut o).unwrap();
    assert_eq!(
        sends(&o.into_iter().collect::<Vec<_>>()),
        vec!["send 0 Request { session: 1, seq: 0, op: Put(0, 1) }", "send 1 Probe"]
    );
    let s = Server::<Register>::new(probing);
    let (mut primary, _) = start(&s, BACKUP, None);
    let backup = primary.clone();
    primary.role = Role::Primary;
    primary.epoch = 1;
    let (next, cmds) = deliver(&s, &primary, CLIENT, Msg::Probe);
    assert!(next.is_none());
    assert_eq!(sends(&cmds), vec!["send 2 NewPrimary { epoch: 1 }"]);
    let (next, cmds) = deliver(&s, &backup, CLIENT, Msg::Probe);
    assert!(next.is_none() && cmds.is_empty(), "a backup is not the primary: {cmds:?}");
    let mut o = Out::<Node<Register>>::new();
    let st = c.on_msg(&st, Id::from(BACKUP), Msg::NewPrimary { epoch: 1 }, &mut o).unwrap();
    assert_eq!(st.primary, Id::from(BACKUP));
    assert_eq!(
        sends(&o.into_iter().collect::<Vec<_>>()),
        vec!["send 1 Request { session: 1, seq: 0, op: Put(0, 1) }"]
    );
    // Without the probe the timer only resends.
    let plain = Client::<Register>::new(cfg("critical"), 0);
    let mut o = Out::<Node<Register>>::new();
    let st = plain.on_start(Id::from(CLIENT), &None, &mut o);
    let mut o = Out::<Node<Register>>::new();
    plain.on_timeout(&st, &Timer::Resend, &mut o).unwrap();
    assert_eq!(
        sends(&o.into_iter().collect::<Vec<_>>()),
        vec!["send 0 Request { session: 1, seq: 0, op: Put(0, 1) }"]
    );
}

#[test]
fn a_backup_answers_a_restarted_primarys_inquiry_in_a_new_epoch_which_fences_stale_buffers() {
    let s = server("critical");
    let (b, _) = start(&s, BACKUP, None);
    let (b, cmds) = deliver(&s, &b, PRIMARY, Msg::Inquire { epoch: 0, len: 0 });
    assert_eq!(
        sends(&cmds),
        vec![
            "save Backup e1 log0 applied0",
            "send 0 ProcessState { epoch: 1, from: 0, entries: [] }"
        ]
    );
    let b = b.expect("a new epoch");
    // The previous incarnation's change buffer, still on its way, is not stored or acked.
    let (stale, cmds) =
        deliver(&s, &b, PRIMARY, Msg::ChangeBuffer { epoch: 0, index: 0, entry: entry(0, 1) });
    assert!(stale.is_none() && cmds.is_empty(), "{cmds:?}");
    // The same question again (the answer was lost): the same answer, no second epoch.
    let (again, cmds) = deliver(&s, &b, PRIMARY, Msg::Inquire { epoch: 0, len: 0 });
    assert!(again.is_none());
    assert_eq!(sends(&cmds), vec!["send 0 ProcessState { epoch: 1, from: 0, entries: [] }"]);
}

#[test]
fn pipelined_steps_ship_at_once_and_commit_in_order_on_a_cumulative_ack() {
    let s = Server::<Register>::new(config_with(&[("buffers", "2")]));
    let (p, _) = start(&s, PRIMARY, None);
    let (p, cmds) = deliver(&s, &p, CLIENT, put(0, 1));
    assert_eq!(sends(&cmds).len(), 1);
    let other = Msg::Request { session: 1, seq: 0, op: RegisterOp::Put(0, 7) };
    let (p, cmds) = deliver(&s, &p.unwrap(), 3, other.clone());
    let p = p.expect("two steps in flight");
    assert!(matches!(cmds.as_slice(), [Command::Send(_, Msg::ChangeBuffer { index: 1, .. })]));
    // A third waits: two buffers are in flight.
    let (busy, cmds) =
        deliver(&s, &p, 4, Msg::Request { session: 1, seq: 0, op: RegisterOp::Get(0) });
    assert!(busy.is_none() && cmds.is_empty());
    // The ack of the second (the first's is still on its way) commits both, in order: one
    // save, then the replies.
    let (done, cmds) = deliver(&s, &p, BACKUP, Msg::Ack { epoch: 0, index: 1 });
    assert_eq!(
        sends(&cmds),
        vec![
            "save Primary e0 log2 applied2",
            "send 2 Reply { session: 1, seq: 0, reply: PutOk }",
            "send 3 Reply { session: 1, seq: 0, reply: PutOk }",
        ]
    );
    assert_eq!(done.expect("committed").log.len(), 2);
    // The first's ack alone commits the first only; the second stays in flight.
    let (first, cmds) = deliver(&s, &p, BACKUP, Msg::Ack { epoch: 0, index: 0 });
    assert_eq!(
        sends(&cmds),
        vec!["save Primary e0 log1 applied1", "send 2 Reply { session: 1, seq: 0, reply: PutOk }"]
    );
    assert_eq!(first.expect("one committed").pending.len(), 1);
}
