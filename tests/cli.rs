//! The command line as a user meets it: exit codes, one-line errors, the JSON contract of
//! `check --json`, `models --json`, and `explore` answering on localhost.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every command these tests run ends well within this; one that does not (a node that should
/// have refused to start, say) is killed and fails the test instead of hanging it.
const COMMAND_LIMIT: Duration = Duration::from_secs(300);

/// Runs `twosafe ARGS`: its exit code (-1 if killed), standard output and standard error.
fn twosafe(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twosafe"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let until = Instant::now() + COMMAND_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the binary") {
            break Some(status);
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    let Some(status) = status else {
        panic!(
            "`twosafe {}` ran past {COMMAND_LIMIT:?}; it printed:\n{out}\n{err}",
            args.join(" ")
        );
    };
    (status.code().unwrap_or(-1), out, err)
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    for (args, needle) in [
        (vec!["check", "no-such-model"], "no model named `no-such-model`"),
        (vec!["check", "--set", "clinets=3"], "no parameter `clinets`"),
        (vec!["check", "--set", "clients=many"], "parameter `clients`: `many` is not integer"),
        (vec!["check", "--set", "level=hot"], "is not one of critical|important|normal"),
        (vec!["check", "--set", "clients"], "not of the form key=value"),
        (vec!["explore", "nope"], "no model named `nope`"),
        (
            vec!["check", "linear-2pc", "--only", "nothing-here"],
            "`nothing-here` is not text in a configuration's label: hot/crash-primary,",
        ),
        (vec!["check", "--only", "nothing-here"], "(`twosafe models` lists them)"),
    ] {
        let (code, _, err) = twosafe(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn check_json_follows_the_contract() {
    let (code, out, err) = twosafe(&["check", "linear-2pc", "--only", "bug/", "--json"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    // One line per seeded bug: each bug configuration checks exactly the property it breaks.
    let bugs = twosafe::models::catalogue::model("linear-2pc")
        .map(|m| m.checks().iter().filter(|c| c.config.starts_with("bug/")).count())
        .unwrap_or(0);
    assert!(bugs >= 7);
    assert_eq!(lines.len(), bugs);
    for l in &lines {
        for key in [
            "model",
            "variant",
            "property",
            "expect",
            "verdict",
            "states",
            "unique_states",
            "max_depth",
            "secs",
            "unique_per_sec",
        ] {
            assert!(l.get(key).is_some(), "{key} missing in {l}");
        }
        let (unique, secs) = (l["unique_states"].as_f64(), l["secs"].as_f64());
        let rate = l["unique_per_sec"].as_f64().expect("a number");
        assert!((rate - unique.unwrap_or(0.0) / secs.unwrap_or(1.0)).abs() <= rate * 1e-6 + 1e-6);
        if cfg!(target_os = "linux") {
            assert!(l["bytes_per_state"].as_f64().is_some(), "bytes_per_state missing in {l}");
        }
        assert_eq!(l["expect"], "violated");
        assert_eq!(l["verdict"], l["expect"]);
    }
}

#[test]
fn a_verdict_that_differs_from_its_expectation_fails_the_run() {
    let (code, out, _) =
        twosafe(&["check", "linear-2pc", "--only", "normal/crash", "--set", "variant=one-safe"]);
    // At level normal there is no backup, so the 1-safe bug cannot show: expected violated,
    // found holds — the run must fail.
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("holds (!)"), "{out}");
}

/// The parts of a split check, each writing its rows and fingerprints to `dir`, then merged:
/// The rows of `check --json`.
fn json_rows(out: &str) -> Vec<serde_json::Value> {
    out.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect()
}

#[test]
fn a_check_stops_at_its_limits_with_unknown_verdicts_and_says_which() {
    // The fast search (every property expected to hold): over a million states whole.
    let wide = ["check", "linear-2pc", "--only", "hot/crash-primary", "--set", "clients=2"];
    let (code, out, err) = twosafe(&[&wide[..], &["--max-states", "20000", "--json"]].concat());
    assert_eq!(code, 1, "{err}");
    let rows = json_rows(&out);
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert_eq!(r["verdict"], "unknown", "{r}");
        let stopped = r["stopped"].as_str().expect("the limit is named");
        assert!(stopped.contains("state limit (20000 distinct states"), "{r}");
        let unique = r["unique_states"].as_u64().expect("a count");
        assert!((20_000..200_000).contains(&unique), "{r}");
    }
    // The table says it in words.
    let (code, out, _) = twosafe(&[&wide[..], &["--max-states", "20000"]].concat());
    assert_eq!(code, 1);
    assert!(out.contains("Stopped: linear-2pc hot/crash-primary reached the state limit"), "{out}");
    // A seeded bug's search (stateright's, which keeps paths) stops too, before its bug.
    // It counts 1,500 states at a time: this bug takes more.
    let bug = ["check", "linear-2pc", "--only", "bug/local-reads", "--json", "--max-states", "3"];
    let (code, out, err) = twosafe(&bug);
    assert_eq!(code, 1, "{err}");
    let rows = json_rows(&out);
    let broken = rows.iter().find(|r| r["property"] == "linearizability").expect("the bug's row");
    assert_eq!(broken["verdict"], "unknown", "{broken}");
    assert!(broken["stopped"].as_str().is_some_and(|s| s.contains("state limit")), "{broken}");
    // Without the limit the same search finds it.
    let (code, out, _) = twosafe(&bug[..5]);
    assert_eq!(code, 0);
    assert!(json_rows(&out).iter().all(|r| r.get("stopped").is_none()));
}

#[test]
fn check_json_into_a_closed_pipe_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twosafe"))
        .args(["check", "linear-2pc", "--json", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // As `| head -1` does: read one line, then close the pipe while it still has more to say.
    let mut out = child.stdout.take().expect("piped");
    let mut byte = [0u8];
    while out.read(&mut byte).expect("reads") == 1 && byte[0] != b'\n' {}
    drop(out);
    let mut err = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut err).expect("reads");
    let status = child.wait().expect("waits");
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `merge`'s exit code, output and standard error.
fn split_check(dir: &std::path::Path, config: &str, parts: usize) -> (i32, String, String) {
    let mut files = Vec::new();
    for k in 1..=parts {
        let fp = dir.join(format!("{k}.fp"));
        let (code, out, err) = twosafe(&[
            "check",
            "two-phase",
            "--only",
            config,
            "--json",
            "--part",
            &format!("{k}/{parts}"),
            "--fingerprints",
            fp.to_str().expect("a UTF-8 path"),
        ]);
        assert_eq!(code, 0, "part {k}/{parts}: {err}");
        let rows = dir.join(format!("{k}.json"));
        std::fs::write(&rows, out).expect("writes the part's rows");
        files.push(rows.to_str().expect("a UTF-8 path").to_string());
    }
    let mut args = vec!["merge", "--json"];
    args.extend(files.iter().map(String::as_str));
    twosafe(&args)
}

#[test]
fn the_parts_of_a_split_check_merge_into_the_whole_checks_verdicts_and_count() {
    let dir = std::env::temp_dir().join(format!("twosafe-cli-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let rows = |out: &str| -> Vec<serde_json::Value> {
        out.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect()
    };
    // A correct configuration wide enough to split: the union of the parts' fingerprints is
    // exactly the whole search's distinct states.
    let (code, whole, _) = twosafe(&["check", "two-phase", "--only", "rms/6", "--json"]);
    assert_eq!(code, 0);
    let whole = rows(&whole);
    let (code, merged, err) = split_check(&dir, "rms/6", 3);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("3 parts, split at depth"), "{err}");
    let merged = rows(&merged);
    assert_eq!(merged.len(), whole.len());
    for (m, w) in merged.iter().zip(&whole) {
        assert_eq!(m["property"], w["property"]);
        assert_eq!(m["verdict"], "holds");
        assert_eq!(m["unique_states"], w["unique_states"], "{m}");
    }
    // A seeded bug: some part finds the violation, and the merge reports it.
    let (code, merged, err) = split_check(&dir, "bug/commit-unprepared", 2);
    assert_eq!(code, 0, "{err}");
    let merged = rows(&merged);
    assert!(merged.iter().any(|r| r["property"] == "consistency" && r["verdict"] == "violated"));
    // A missing part is refused, by name, as bad input.
    let (code, _, err) = twosafe(&["merge", dir.join("1.json").to_str().expect("UTF-8")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing part(s) 2/2"), "{err}");
    // So is a part of more than one configuration.
    let (code, _, err) =
        twosafe(&["check", "two-phase", "--part", "1/2", "--fingerprints", "unused.fp"]);
    assert_eq!(code, 2, "{err}");
    // And a part that a limit stopped: its fingerprints are not its whole share.
    let mut files = Vec::new();
    for (k, limit) in [(1, "100"), (2, "1000000000")] {
        let fp = dir.join(format!("limited-{k}.fp"));
        let part = ["check", "two-phase", "--only", "rms/6", "--json", "--part", &format!("{k}/2")];
        let limits = ["--fingerprints", fp.to_str().expect("UTF-8"), "--max-states", limit];
        let (code, out, err) = twosafe(&[&part[..], &limits[..]].concat());
        assert_eq!(code, 0, "{err}");
        let rows = dir.join(format!("limited-{k}.json"));
        std::fs::write(&rows, out).expect("writes the part's rows");
        files.push(rows.to_str().expect("UTF-8").to_string());
    }
    let (code, _, err) = twosafe(&["merge", &files[0], &files[1]]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("part 1/2 stopped at the state limit"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn models_lists_parameters_properties_and_variants() {
    let (code, out, _) = twosafe(&["models", "--json"]);
    assert_eq!(code, 0);
    let m: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(m["name"], "linear-2pc");
    assert!(m["params"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "crashes" && p["default"] == "1"));
    let properties = m["properties"].as_array().unwrap();
    assert_eq!(properties.len(), twosafe::models::linear_2pc::model::PROPERTIES.len());
    assert!(properties.iter().any(|p| p[0] == "single-primary-per-epoch"));
    assert!(m["variants"].as_array().unwrap().iter().any(|v| v["name"] == "one-safe"));
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn http_post(port: u16, path: &str, body: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// The status code of an HTTP answer (0 if it has none).
fn status(answer: &str) -> u16 {
    answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// The JSON body of an HTTP answer.
fn body_json(answer: &str) -> serde_json::Value {
    let body = &answer[answer.find("\r\n\r\n").expect("a body") + 4..];
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

/// `explore` (no model: the home page) serves its page, the catalogue, and every model's
/// initial state part by part with the checker's next actions.
fn explore_answers() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_twosafe"))
        .args(["explore", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut page = None;
    while Instant::now() < deadline && page.is_none() {
        page = http_get(port, "/");
        std::thread::sleep(Duration::from_millis(100));
    }
    let models = http_get(port, "/api/models");
    let states: Vec<_> = twosafe::models::catalogue::MODELS
        .iter()
        .map(|m| {
            let body = format!(r#"{{"model":"{}","path":[0]}}"#, m.name);
            (m.name, http_post(port, "/api/state", &body))
        })
        .collect();
    let bad = http_post(port, "/api/state", r#"{"model":"linear-2pc","path":[0,999]}"#);
    let _ = child.kill();
    let _ = child.wait();
    let page = page.expect("the explorer answers");
    assert_eq!(status(&page), 200, "{page}");
    assert!(page.contains("<title>twosafe explorer</title>"), "{page}");
    let models = body_json(&models.expect("the catalogue answers"));
    let names: Vec<&str> =
        models.as_array().expect("a list").iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names.len(), twosafe::models::catalogue::MODELS.len(), "{names:?}");
    for m in models.as_array().expect("a list") {
        assert!(!m["configs"].as_array().expect("configurations").is_empty(), "{m}");
    }
    for (model, answer) in states {
        let answer = answer.unwrap_or_else(|| panic!("{model}: no answer"));
        assert_eq!(status(&answer), 200, "{model}: {answer}");
        let s = body_json(&answer);
        assert!(!s["parts"].as_array().expect("parts").is_empty(), "{model}: {s}");
        assert!(!s["actions"].as_array().expect("actions").is_empty(), "{model}: {s}");
        assert!(!s["properties"].as_array().expect("properties").is_empty(), "{model}: {s}");
    }
    let bad = bad.expect("an answer");
    assert_eq!(status(&bad), 400, "{bad}");
    assert!(
        body_json(&bad)["error"].as_str().is_some_and(|e| e.contains("no action 999")),
        "{bad}"
    );
}

#[test]
fn explore_serves_every_model() {
    explore_answers();
}

/// The port of the explorer's URL that `said` prints.
fn port_in(said: &str) -> u16 {
    said.split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no URL with a port in {said:?}"))
}

#[test]
fn explore_on_port_0_names_the_port_it_chose() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twosafe"))
        .args(["explore", "two-phase", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let mut line = Vec::new();
    let mut out = child.stdout.take().expect("piped");
    let mut byte = [0u8];
    while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&line).to_string();
    let port = port_in(&line);
    assert_ne!(port, 0, "{line}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut page = None;
    while Instant::now() < deadline && page.is_none() {
        page = http_get(port, "/");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(page.is_some_and(|p| status(&p) == 200), "{line}: nothing answers");
}

#[test]
fn explore_shows_a_recorded_run_each_step_judged_and_the_nodes_model_state_after_it() {
    let dir = std::env::temp_dir().join(format!("twosafe-cli-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.display().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_twosafe"))
        .args(["chaos", "--seconds", "1", "--backup-kills", "1", "--primary-kills", "1"])
        .args(["--partitions", "0", "--json", "--dir", &dir_s])
        .output()
        .expect("chaos runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a report");
    let conformed = report["steps_conformed"].as_u64().expect("steps conformed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_twosafe"))
        .args(["explore", "--port", "0", "--trace", &dir_s])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    // Lines until the URL: first the run's summary.
    let mut said = String::new();
    let mut out = child.stdout.take().expect("piped");
    let mut byte = [0u8];
    while !(said.contains("http://") && said.ends_with('\n'))
        && out.read(&mut byte).unwrap_or(0) == 1
    {
        said.push(byte[0] as char);
    }
    assert!(said.contains(&format!("Loaded {conformed} recorded steps of 2 node(s)")), "{said}");
    assert!(said.contains("every step is one the model takes"), "{said}");
    let port = port_in(&said);
    assert!(said.contains("/#run"), "{said}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut run = None;
    while Instant::now() < deadline && run.is_none() {
        run = http_get(port, "/api/run");
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = body_json(&run.expect("the explorer answers"));
    let steps = run["steps"].as_array().expect("steps");
    assert_eq!(steps.len() as u64, conformed);
    assert!(steps.iter().all(|s| s["verdict"] == "conforms"));
    assert!(run["nodes"].as_array().expect("nodes").iter().all(|n| n["departure"].is_null()));
    assert_eq!(run["lanes"][0], "server 0");
    // The wall clock orders the steps of both nodes.
    let at: Vec<u64> = steps.iter().map(|s| s["at_us"].as_u64().unwrap_or(0)).collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]));
    let last = http_post(port, "/api/run/state", &format!("{{\"step\":{}}}", steps.len() - 1));
    let last = body_json(&last.expect("an answer"));
    let fields = last["after"]["fields"].as_array().expect("the node's state after the step");
    assert!(fields.iter().any(|f| f["name"] == "role"), "{last}");
    let none = http_post(port, "/api/run/state", "{\"step\":999999999}").expect("an answer");
    assert_eq!(status(&none), 400, "{none}");
    let _ = child.kill();
    let _ = child.wait();
    // What --trace cannot read is bad input, said on one line.
    let empty = dir.join("node0");
    for (arg, needle) in [
        (dir.join("nothing-here").display().to_string(), "no such file or directory"),
        (empty.display().to_string(), "no trace-*.jsonl in this directory"),
    ] {
        let (code, _, err) = twosafe(&["explore", "--trace", &arg]);
        assert_eq!(code, 2, "{arg}: {err}");
        assert!(err.contains(needle), "{arg}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explore_on_a_port_in_use_is_a_clear_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let (code, _, err) = twosafe(&["explore", "linear-2pc", "--port", &port]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot listen on"), "{err}");
}

/// A node with a configuration it cannot use says why in one line and exits non-zero, without
/// touching anything: a missing file, bad TOML, an unsupported value, an unknown id, a port in
/// use, a data directory that cannot be created.
#[test]
fn node_config_errors_are_one_line_and_nonzero() {
    let dir = std::env::temp_dir().join(format!("twosafe-cli-node-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let (code, good, _) =
        twosafe(&["config", "--dir", dir.to_str().unwrap(), "--port", &port.to_string()]);
    assert_eq!(code, 0);
    let (code, _, err) = twosafe(&["config", "--protocol", "migration"]);
    assert_ne!(code, 0);
    assert!(err.contains("\"migration\" is modelled and checked"), "{err}");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let blocker = dir.join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let cases = [
        (dir.join("missing.toml").to_str().unwrap().to_owned(), "0", "cannot read"),
        (write("bad.toml", "cluster = [unclosed"), "0", "bad.toml"),
        (write("proto.toml", &good.replace("linear-2pc", "raft")), "0", "not supported"),
        (
            write("modelled.toml", &good.replace("linear-2pc", "fragments")),
            "0",
            "modelled and checked (`twosafe check fragments`) but not supported by the runtime",
        ),
        (
            write(
                "nosecret.toml",
                &good.lines().filter(|l| !l.starts_with("secret")).collect::<Vec<_>>().join("\n"),
            ),
            "0",
            "no `secret`",
        ),
        (write("odd.toml", &good.replace("secret = \"", "secret = \"0")), "0", "hexadecimal"),
        (
            write(
                "degrade.toml",
                &good
                    .replace("silent_backup = \"block\"", "silent_backup = \"degrade\"")
                    .replace("degrade_after_ms = 1000", "degrade_after_ms = 0"),
            ),
            "0",
            "degrade_after_ms must be positive",
        ),
        (
            write(
                "silent.toml",
                &good.replace("silent_backup = \"block\"", "silent_backup = \"maybe\""),
            ),
            "0",
            "expected `block` or `degrade`",
        ),
        (
            write(
                "fc-tpcb.toml",
                &good
                    .replace("linear-2pc", "fuzzy-copy")
                    .replace("service = \"counter\"", "service = \"tpcb\""),
            ),
            "0",
            "counter or register, not tpcb",
        ),
        (
            write(
                "txn-tpcb.toml",
                &good
                    .replace("linear-2pc", "transactions")
                    .replace("service = \"counter\"", "service = \"tpcb\""),
            ),
            "0",
            "transactions run over service = \"counter\" or \"tpcb-rows\"",
        ),
        (
            write(
                "lc-degrade.toml",
                &good
                    .replace("linear-2pc", "logical-checkpointing")
                    .replace("silent_backup = \"block\"", "silent_backup = \"degrade\""),
            ),
            "0",
            "no degraded mode: the primary waits for its backup's acknowledgement \
             (silent_backup = \"block\")",
        ),
        (write("good.toml", &good), "7", "node id 7 is not in the configuration"),
        (write("busy.toml", &good), "0", "cannot listen on"),
        (
            write(
                "data.toml",
                &good.replace(&port.to_string(), &(port + 2).to_string()).replace(
                    &format!("{}/node0", dir.display()),
                    &format!("{}/x", blocker.display()),
                ),
            ),
            "0",
            "journal",
        ),
    ];
    for (config, id, needle) in cases {
        let (code, _, err) = twosafe(&["node", "--config", &config, "--id", id]);
        assert_ne!(code, 0, "{config}");
        let line = err.lines().last().unwrap_or_default();
        assert!(line.contains(needle), "{config}: {err:?} should say {needle:?}");
    }
    // Transaction options on a cluster that does not run transactions.
    let config = write("l2pc.toml", &good);
    let (code, _, err) = twosafe(&["load", "--config", &config, "--txn-mode", "batch"]);
    assert_ne!(code, 0);
    assert!(err.contains("for a cluster with protocol = \"transactions\""), "{err}");
    drop(busy);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory `twosafe-cli-NAME-PID` holding `c.toml`, the local two-node configuration
/// `twosafe config` writes (on a free port): the directory, the file, and its text.
fn local_config(name: &str) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("twosafe-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, text, err) =
        twosafe(&["config", "--dir", dir.to_str().unwrap(), "--port", &port.to_string()]);
    assert_eq!(code, 0, "{err}");
    let config = dir.join("c.toml");
    std::fs::write(&config, &text).unwrap();
    (dir, config, text)
}

/// A node never starts from a data directory without a journal (a wiped node is not a new
/// one): it refuses in one line naming `--rejoin` and `twosafe format`. `format` writes the
/// first journals and never overwrites one; another cluster's journal is refused.
#[test]
fn a_node_starts_only_from_its_own_formatted_journal() {
    let (dir, config, good) = local_config("format");
    let config = config.to_str().unwrap();
    let (code, _, err) = twosafe(&["node", "--config", config, "--id", "0"]);
    assert_ne!(code, 0);
    let line = err.trim().lines().last().unwrap_or_default();
    for needle in ["no journal", "--rejoin", "twosafe format"] {
        assert!(line.contains(needle), "{line:?} should say {needle:?}");
    }
    let (code, _, err) = twosafe(&["format", "--config", config]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("formatted").count(), 2, "{err}");
    let (code, _, err) = twosafe(&["format", "--config", config, "--id", "1"]);
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");
    // Node 1's journal under another cluster's name is not node 1's.
    let other = dir.join("other.toml");
    std::fs::write(&other, good.replacen("cluster = \"local\"", "cluster = \"other\"", 1)).unwrap();
    let (code, _, err) = twosafe(&["node", "--config", other.to_str().unwrap(), "--id", "1"]);
    assert_ne!(code, 0);
    assert!(err.contains("belongs to node 1 of cluster \"local\""), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Fuzzy copy's primary keeps its state in memory (its model never fails it): its first start
/// marks its data directory, and a second start is refused in one line (it would serve from
/// nothing and lose what it acknowledged).
#[test]
fn a_fuzzy_copy_primary_starts_only_once() {
    use twosafe::runtime::config::ClusterConfig;
    let (dir, config, good) = local_config("volatile");
    std::fs::write(&config, good.replace("linear-2pc", "fuzzy-copy")).unwrap();
    let cfg = ClusterConfig::load(&config).unwrap();
    let config = config.to_str().unwrap();
    let (code, _, err) = twosafe(&["format", "--config", config]);
    assert_eq!(code, 0, "{err}");
    let mut first = Command::new(env!("CARGO_BIN_EXE_twosafe"))
        .args(["node", "--config", config, "--id", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let marker = cfg.node[0].data.join(twosafe::runtime::node::STARTED);
    let until = Instant::now() + COMMAND_LIMIT;
    while !marker.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = first.kill();
    let _ = first.wait();
    assert!(marker.exists(), "the first start marks the directory");
    let (code, _, err) = twosafe(&["node", "--config", config, "--id", "0"]);
    assert_ne!(code, 0);
    let line = err.trim().lines().last().unwrap_or_default();
    for needle in ["keeps its state in memory only", "fresh data directories"] {
        assert!(line.contains(needle), "{line:?} should say {needle:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--rejoin` sets aside only a journal that cannot be started from: a healthy one (it may
/// hold the only copy of acknowledged updates) is refused, untouched, with a line naming
/// `--force`; with `--force` it is set aside and the node starts as a learner.
#[test]
fn rejoin_refuses_a_healthy_journal_unless_forced() {
    use twosafe::models::linear_2pc::server::{Durable, Role};
    use twosafe::models::linear_2pc::Level;
    use twosafe::models::services::{CounterOp, CounterReply};
    use twosafe::runtime::config::ClusterConfig;
    use twosafe::runtime::journal;
    let (dir, config, _) = local_config("rejoin");
    let cfg = ClusterConfig::load(&config).unwrap();
    let config = config.to_str().unwrap();
    // Node 0's journal: a primary that ran alone in epoch 2 (what a degraded primary holds).
    let mut alone = Durable::<CounterOp, CounterReply>::learner(Level::Normal, 0);
    (alone.role, alone.epoch) = (Role::Primary, 2);
    journal::replace(&cfg.node[0].data, &cfg.identity(0), &alone).unwrap();
    let path = journal::path(&cfg.node[0].data);
    let before = std::fs::read(&path).unwrap();
    let (code, _, err) = twosafe(&["node", "--config", config, "--id", "0", "--rejoin"]);
    assert_ne!(code, 0);
    let line = err.trim().lines().last().unwrap_or_default();
    for needle in ["healthy", "Primary of epoch 2", "--force"] {
        assert!(line.contains(needle), "{line:?} should say {needle:?}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "the journal is untouched");
    let (code, _, err) = twosafe(&["node", "--config", config, "--id", "0", "--force"]);
    assert_ne!(code, 0, "--force needs --rejoin: {err}");
    // Forced: set aside, and the node starts as a learner (it runs until killed).
    let mut node = Command::new(env!("CARGO_BIN_EXE_twosafe"))
        .args(["node", "--config", config, "--id", "0", "--rejoin", "--force"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let aside = || {
        std::fs::read_dir(&cfg.node[0].data)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("journal.log.damaged-"))
    };
    while !aside() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let set_aside = aside();
    let _ = node.kill();
    let _ = node.wait();
    assert!(set_aside, "the healthy journal was set aside under --force");
    let bytes = std::fs::read(&path).unwrap();
    let now = journal::recover::<Durable<CounterOp, CounterReply>>(&bytes, &cfg.identity(0));
    assert_eq!(now.ok().and_then(|r| r.value).map(|d| d.role), Some(Role::Learner));
    let _ = std::fs::remove_dir_all(&dir);
}
