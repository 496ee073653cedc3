//! Unit tests of lazy primary copy's roles (Ameling, Roy & Kemme §3.2.3): a state and an event
//! in, the exact commands out — the primary's commit before its reply and its lazy
//! propagation after it, the message table on resends (direct and forwarded), a secondary's
//! in-order application and its answer to a forwarded update, epochs, and the client's turn
//! to the next server.

mod common;

use common::{lines, run};
use stateright::actor::Id;
use twosafe_models::commit_log::Entry;
use twosafe_models::lazy_primary_copy::client::{Client, ClientState};
use twosafe_models::lazy_primary_copy::msg::{Msg, Timer};
use twosafe_models::lazy_primary_copy::server::{Durable, Server, ServerState};
use twosafe_models::lazy_primary_copy::{Config, Node};
use twosafe_models::services::{RegisterOp, RegisterReply};

fn config(set: &[(&str, &str)]) -> Config {
    Config::from_params(&common::params("lazy-primary-copy", set)).unwrap()
}

fn start(s: &Server) -> ServerState {
    run::<Node, _>(|o| s.on_start(Id::from(s.me), &None, o)).0
}

fn deliver(
    s: &Server, st: &ServerState, src: usize, msg: Msg,
) -> (Option<ServerState>, Vec<String>) {
    let (n, c) = run::<Node, _>(|o| s.on_msg(st, Id::from(src), msg, o));
    (n, lines(&c))
}

fn fire(s: &Server, st: &ServerState, t: Timer) -> (Option<ServerState>, Vec<String>) {
    let (n, c) = run::<Node, _>(|o| s.on_timeout(st, &t, o));
    (n, lines(&c))
}

fn put(seq: u32, v: u8) -> Msg {
    Msg::Request { seq, op: RegisterOp::Put(0, v) }
}

fn entry(client: usize, seq: u32, v: u8) -> Entry<RegisterOp, RegisterReply> {
    Entry {
        client: Id::from(client),
        session: 1,
        seq,
        op: RegisterOp::Put(0, v),
        reply: RegisterReply::PutOk,
    }
}

const CLIENT: usize = 2;

#[test]
fn the_primary_commits_and_saves_before_it_replies_and_propagates_only_later() {
    let p = Server::new(config(&[]), 0);
    let s = start(&p);
    let (n, cmds) = deliver(&p, &s, CLIENT, put(0, 1));
    assert_eq!(cmds, ["save", "set Ship", "send 2 Reply { seq: 0, reply: PutOk }"]);
    let n = n.unwrap();
    assert_eq!(n.d.log.len(), 1);
    // Nothing went to the secondary yet; the Ship timer sends it.
    let (n2, cmds) = fire(&p, &n, Timer::Ship);
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert!(
        cmds[0].starts_with("send 1 Propagate { epoch: 0, from: 0, entries: [Entry"),
        "{cmds:?}"
    );
    assert_eq!(cmds[1], "set Ship");
    assert_eq!(n2.unwrap().shipped, [0, 1]);
}

#[test]
fn a_resent_update_gets_its_recorded_reply_and_a_read_is_served_from_the_local_copy() {
    let p = Server::new(config(&[]), 0);
    let s = deliver(&p, &start(&p), CLIENT, put(0, 7)).0.unwrap();
    let (n, cmds) = deliver(&p, &s, CLIENT, put(0, 7));
    assert!(n.is_none());
    assert_eq!(cmds, ["send 2 Reply { seq: 0, reply: PutOk }"]);
    let (n, cmds) = deliver(&p, &s, CLIENT, Msg::Request { seq: 1, op: RegisterOp::Get(0) });
    assert!(n.is_none());
    assert_eq!(cmds, ["send 2 Reply { seq: 1, reply: GetOk(Some(7)) }"]);
    // A secondary reads its own copy: it has not seen the update.
    let b = Server::new(config(&[]), 1);
    let (_, cmds) =
        deliver(&b, &start(&b), CLIENT, Msg::Request { seq: 1, op: RegisterOp::Get(0) });
    assert_eq!(cmds, ["send 2 Reply { seq: 1, reply: GetOk(None) }"]);
}

#[test]
fn a_secondary_forwards_an_update_and_answers_once_it_has_applied_it() {
    let b = Server::new(config(&[]), 1);
    let s = start(&b);
    let (n, cmds) = deliver(&b, &s, CLIENT, put(0, 1));
    assert_eq!(cmds, ["send 0 Forward { client: Id(2), seq: 0, op: Put(0, 1) }"]);
    let n = n.unwrap();
    assert!(n.forwarded.contains(&(Id::from(CLIENT), 0)));
    // A resend is forwarded again; nothing else changes.
    let (again, cmds) = deliver(&b, &n, CLIENT, put(0, 1));
    assert!(again.is_none());
    assert_eq!(cmds, ["send 0 Forward { client: Id(2), seq: 0, op: Put(0, 1) }"]);
    // The primary's change: saved, confirmed, and the client answered.
    let change = Msg::Propagate { epoch: 0, from: 0, entries: vec![entry(CLIENT, 0, 1)] };
    let (n, cmds) = deliver(&b, &n, 0, change);
    assert_eq!(
        cmds,
        ["save", "send 0 Applied { epoch: 0, len: 1 }", "send 2 Reply { seq: 0, reply: PutOk }"]
    );
    assert!(n.unwrap().forwarded.is_empty());
}

#[test]
fn the_primary_executes_a_forwarded_update_once_and_sends_the_secondary_what_it_lacks() {
    let p = Server::new(config(&[]), 0);
    let s = start(&p);
    let fwd = Msg::Forward { client: Id::from(CLIENT), seq: 0, op: RegisterOp::Put(0, 1) };
    let (n, cmds) = deliver(&p, &s, 1, fwd.clone());
    assert_eq!(cmds[..2], ["save", "set Ship"]);
    assert!(
        cmds[2].starts_with("send 1 Propagate { epoch: 0, from: 0, entries: [Entry"),
        "{cmds:?}"
    );
    let n = n.unwrap();
    // Forwarded again (the client resent): the table has it, it is not executed again.
    let (again, cmds) = deliver(&p, &n, 1, fwd.clone());
    assert!(again.is_none(), "{again:?}");
    assert_eq!(cmds.len(), 1);
    assert!(cmds[0].starts_with("send 1 Propagate"));
    // The seeded bug executes it twice.
    let bug = Server::new(config(&[("variant", "forward-unfiltered")]), 0);
    let twice = deliver(&bug, &n, 1, fwd).0.unwrap();
    assert!(twice.d.log.has_duplicates());
}

#[test]
fn a_secondary_applies_only_what_continues_its_copy() {
    let b = Server::new(config(&[]), 1);
    let s = start(&b);
    // A gap (position 1 before 0): nothing applied; the secondary says where it is.
    let late = Msg::Propagate { epoch: 0, from: 1, entries: vec![entry(3, 0, 2)] };
    let (n, cmds) = deliver(&b, &s, 0, late.clone());
    assert!(n.is_none());
    assert_eq!(cmds, ["send 0 Applied { epoch: 0, len: 0 }"]);
    // An overlap: only the new entry is appended.
    let s = deliver(&b, &s, 0, Msg::Propagate { epoch: 0, from: 0, entries: vec![entry(2, 0, 1)] })
        .0
        .unwrap();
    let both = Msg::Propagate { epoch: 0, from: 0, entries: vec![entry(2, 0, 1), entry(3, 0, 2)] };
    let n = deliver(&b, &s, 0, both).0.unwrap();
    assert_eq!(n.d.log.iter().cloned().collect::<Vec<_>>(), [entry(2, 0, 1), entry(3, 0, 2)]);
    // The seeded bug appends the gap's entries where its copy ends.
    let bug = Server::new(config(&[("variant", "arrival-order")]), 1);
    let wrong = deliver(&bug, &start(&bug), 0, late).0.unwrap();
    assert_eq!(wrong.d.log.iter().cloned().collect::<Vec<_>>(), [entry(3, 0, 2)]);
}

#[test]
fn a_newer_epoch_replaces_the_copy_and_an_older_one_is_ignored() {
    let p = Server::new(config(&[]), 0);
    let old = deliver(&p, &start(&p), CLIENT, put(0, 1)).0.unwrap();
    let (n, cmds) = deliver(&p, &old, 1, Msg::Propagate { epoch: 1, from: 0, entries: vec![] });
    assert_eq!(cmds, ["save", "send 1 Applied { epoch: 1, len: 0 }"]);
    let n = n.unwrap();
    assert_eq!((n.d.epoch, n.d.primary, n.d.log.len()), (1, 1, 0));
    assert!(!p.is_primary(&n));
    // The deposed primary hears of the old epoch again: nothing.
    let stale = Msg::Propagate { epoch: 0, from: 0, entries: vec![entry(CLIENT, 0, 1)] };
    let (none, cmds) = deliver(&p, &n, 1, stale);
    assert!(none.is_none() && cmds.is_empty());
    // The seeded bug keeps the old copy.
    let bug = Server::new(config(&[("variant", "keeps-divergent-copy")]), 0);
    let kept =
        deliver(&bug, &old, 1, Msg::Propagate { epoch: 1, from: 0, entries: vec![] }).0.unwrap();
    assert_eq!(kept.d.log.len(), 1);
}

#[test]
fn server_one_takes_over_once_and_announces_its_epoch() {
    let b = Server::new(config(&[]), 1);
    let (s, cmds) = run::<Node, _>(|o| b.on_start(Id::from(1), &None, o));
    assert_eq!(lines(&cmds), ["save", "set Suspect"]);
    let (n, cmds) = fire(&b, &s, Timer::Suspect);
    assert_eq!(cmds, ["save", "set Ship"]);
    let n = n.unwrap();
    assert_eq!((n.d.epoch, n.d.primary), (1, 1));
    let (none, _) = fire(&b, &n, Timer::Suspect);
    assert!(none.is_none(), "a primary does not suspect");
    let (_, cmds) = fire(&b, &n, Timer::Ship);
    assert_eq!(cmds, ["send 0 Propagate { epoch: 1, from: 0, entries: [] }", "set Ship"]);
    // Server 0 never suspects; takeovers = 0: nobody does.
    let p = Server::new(config(&[]), 0);
    assert!(fire(&p, &start(&p), Timer::Suspect).0.is_none());
    let quiet = Server::new(config(&[("takeovers", "0")]), 1);
    assert_eq!(lines(&run::<Node, _>(|o| quiet.on_start(Id::from(1), &None, o)).1), ["save"]);
}

#[test]
fn the_primary_ships_until_every_server_confirmed_and_the_seeded_bug_ships_once() {
    let p = Server::new(config(&[]), 0);
    let s = deliver(&p, &start(&p), CLIENT, put(0, 1)).0.unwrap();
    let shipped = fire(&p, &s, Timer::Ship).0.unwrap();
    // Not confirmed: sent again from what the secondary confirmed.
    let (_, cmds) = fire(&p, &shipped, Timer::Ship);
    assert!(cmds[0].starts_with("send 1 Propagate { epoch: 0, from: 0"), "{cmds:?}");
    let confirmed = deliver(&p, &shipped, 1, Msg::Applied { epoch: 0, len: 1 }).0.unwrap();
    assert_eq!(confirmed.acked[1], Some(1));
    let (_, cmds) = fire(&p, &confirmed, Timer::Ship);
    assert!(cmds.is_empty(), "{cmds:?}");
    let bug = Server::new(config(&[("variant", "ship-once")]), 0);
    let (_, cmds) = fire(&bug, &shipped, Timer::Ship);
    assert!(cmds.is_empty(), "{cmds:?}");
}

#[test]
fn a_restarted_primary_keeps_its_copy_and_propagates_it_again() {
    let p = Server::new(config(&[]), 0);
    let s = deliver(&p, &start(&p), CLIENT, put(0, 1)).0.unwrap();
    let saved: Option<Durable> = Some(s.d.clone());
    let (r, cmds) = run::<Node, _>(|o| p.on_start(Id::from(0), &saved, o));
    assert_eq!(lines(&cmds), ["save", "set Ship"]);
    assert_eq!((r.d.log.len(), r.d.restarts), (1, 1));
}

#[test]
fn a_client_resends_to_the_next_server_within_its_budget() {
    let c = Client::new(config(&[("resends", "1")]), 0);
    let (s, cmds) = run::<Node, _>(|o| c.on_start(Id::from(CLIENT), &None, o));
    assert_eq!(lines(&cmds), ["send 0 Request { seq: 0, op: Put(0, 1) }", "set Resend"]);
    let (n, cmds) = run::<Node, _>(|o| c.on_timeout(&s, &Timer::Resend, o));
    assert_eq!(lines(&cmds), ["send 1 Request { seq: 0, op: Put(0, 1) }"]);
    let n: ClientState = n.unwrap();
    assert!(run::<Node, _>(|o| c.on_timeout(&n, &Timer::Resend, o)).0.is_none());
    // The reply: on to reading the key back, at the server it reached.
    let (m, cmds) = run::<Node, _>(|o| {
        c.on_msg(&n, Id::from(1), Msg::Reply { seq: 0, reply: RegisterReply::PutOk }, o)
    });
    assert_eq!(
        lines(&cmds),
        ["cancel Resend", "send 1 Request { seq: 1, op: Get(0) }", "set Resend"]
    );
    assert_eq!(m.unwrap().replies, [RegisterReply::PutOk]);
}
