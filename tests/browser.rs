//! The explorer in a real browser: Debian's Chromium, headless, driven through chromedriver's
//! WebDriver protocol (plain JSON over HTTP, spoken here with a few lines of std). It walks what
//! a user does: the home page, linear 2PC's one-safe bug, its counterexample, back one step;
//! a parameter changed in the form; a chaos run's traces, intact and with one step altered.
//! Screenshots go to target/tmp/explorer-screenshots/.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`;
//! .ci/run installs them). Without them the test says so on one line and passes, unless
//! TWOSAFE_BROWSER=required (CI sets it where the install worked), when it fails.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the page gets to show what a step should show.
const WAIT: Duration = Duration::from_secs(20);

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

/// One HTTP/1.1 request to 127.0.0.1:`port` (the connection closed after it; chromedriver sends
/// a length, not chunks): the status and the JSON body.
fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    // chromedriver may keep the connection open after its answer: read the head, then as many
    // bytes as it says.
    let mut answer = Vec::new();
    let mut byte = [0u8];
    while !answer.ends_with(b"\r\n\r\n") {
        (s.read(&mut byte).ok()? == 1).then_some(())?;
        answer.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).ok()?;
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// A WebDriver session.
struct Browser {
    port: u16,
    session: String,
}

impl Browser {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let (status, v) = request(self.port, method, &path, body.as_ref())
            .unwrap_or_else(|| panic!("chromedriver does not answer {method} {path}"));
        assert_eq!(status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The elements that `css` selects now.
    fn all(&self, css: &str) -> Vec<String> {
        let v =
            self.call("POST", "/elements", Some(json!({"using": "css selector", "value": css})));
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_object()?.values().next()?.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element `css` selects, once there is one.
    fn find(&self, css: &str) -> String {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.all(css).into_iter().next() {
                return e;
            }
            assert!(Instant::now() < until, "nothing matches {css:?} after {WAIT:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn text(&self, element: &str) -> String {
        self.call("GET", &format!("/element/{element}/text"), None).as_str().unwrap_or("").into()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    /// Waits until the text of the first element `css` selects is `want`.
    fn wait_text(&self, css: &str, want: &str) {
        let until = Instant::now() + WAIT;
        loop {
            let got = self.all(css).first().map(|e| self.text(e));
            if got.as_deref() == Some(want) {
                return;
            }
            assert!(Instant::now() < until, "{css:?} reads {got:?}, not {want:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the text of the first element `css` selects contains `want` (in any case).
    fn wait_contains(&self, css: &str, want: &str) {
        let until = Instant::now() + WAIT;
        loop {
            let got = self.all(css).first().map(|e| self.text(e));
            // As rendered: headings are in capitals.
            if got.as_deref().is_some_and(|g| g.to_lowercase().contains(&want.to_lowercase())) {
                return;
            }
            assert!(Instant::now() < until, "{css:?} reads {got:?}, without {want:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn attribute(&self, element: &str, name: &str) -> String {
        self.call("GET", &format!("/element/{element}/attribute/{name}"), None)
            .as_str()
            .unwrap_or("")
            .into()
    }

    fn script(&self, code: &str) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": code, "args": [] })))
    }

    /// Saves a screenshot as a PNG (decoded by coreutils' `base64`).
    fn screenshot(&self, name: &str) {
        let png = self.call("GET", "/screenshot", None);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explorer-screenshots");
        let _ = std::fs::create_dir_all(&dir);
        let encoded = dir.join(format!("{name}.b64"));
        if std::fs::write(&encoded, png.as_str().unwrap_or("")).is_ok() {
            let out = std::fs::File::create(dir.join(name));
            if let Ok(out) = out {
                let _ = Command::new("base64").arg("-d").arg(&encoded).stdout(out).status();
            }
            let _ = std::fs::remove_file(encoded);
        }
    }
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

#[test]
fn the_explorer_in_chromium_opens_a_bug_plays_its_counterexample_and_follows_the_form() {
    if !(installed("chromium") && installed("chromedriver")) {
        let required = std::env::var("TWOSAFE_BROWSER").is_ok_and(|v| v == "required");
        assert!(!required, "TWOSAFE_BROWSER=required, but chromium or chromedriver is missing");
        println!("browser test skipped: chromium and chromedriver are not installed");
        return;
    }
    let explorer_port = free_port();
    let _explorer = Killed(
        Command::new(env!("CARGO_BIN_EXE_twosafe"))
            .args(["explore", "--port", &explorer_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary runs"),
    );
    let driver_port = free_port();
    let _driver = Killed(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs"),
    );
    let until = Instant::now() + WAIT;
    let capabilities = json!({ "capabilities": { "alwaysMatch": { "goog:chromeOptions": {
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                 "--disable-dev-shm-usage"] } } } });
    let session = loop {
        if let Some((200, v)) = request(driver_port, "POST", "/session", Some(&capabilities)) {
            break v["value"]["sessionId"].as_str().expect("a session id").to_string();
        }
        assert!(Instant::now() < until, "chromedriver gives no session");
        std::thread::sleep(Duration::from_millis(200));
    };
    let b = Browser { port: driver_port, session };
    let base = format!("http://127.0.0.1:{explorer_port}/");

    // The home page lists every model.
    b.go(&base);
    b.find(r#".card[data-model="linear-2pc"]"#);
    let cards = b.all(".card").len();
    assert_eq!(cards, twosafe::models::catalogue::MODELS.len());
    b.screenshot("home.png");

    // Choose linear 2PC, then its one-safe bug in the form.
    b.click(r#".card[data-model="linear-2pc"] a"#);
    b.click(r#"select[name="variant"] option[value="one-safe"]"#);
    b.click("#open");
    b.wait_text(r#"div[data-property="2-safety"] .badge"#, "holds here");
    // The bug's counterexample, as `check` finds it: the badge turns to violated.
    b.click(r#"button[data-property="2-safety"]"#);
    b.wait_text(r#"div[data-property="2-safety"] .badge"#, "VIOLATED here");
    let steps = b.all("#steps li").len() - 1;
    assert!(steps >= 2, "{steps} steps");
    // The chart draws the path's messages: the client's request and the primary's reply.
    let chart = b.script("return document.querySelector('#chart svg')?.outerHTML ?? ''");
    let chart = chart.as_str().unwrap_or("");
    assert!(chart.contains("Request"), "{chart}");
    assert!(chart.contains("Reply"), "{chart}");
    // The last step changed something, and it is marked.
    assert!(!b.all("#state .changed").is_empty());
    b.screenshot("counterexample.png");
    b.script("document.querySelector('#chart').scrollIntoView()");
    b.screenshot("counterexample-chart.png");

    // One step back: the property holds again.
    b.click("#back");
    b.wait_text(r#"div[data-property="2-safety"] .badge"#, "holds here");
    b.screenshot("state-with-diff.png");

    // A lasso that `check` printed opens with its cycle marked.
    let out = Command::new(env!("CARGO_BIN_EXE_twosafe"))
        .args(["check", "migration", "--only", "bug/no-resume", "--json"])
        .output()
        .expect("check runs");
    let rows: Vec<twosafe::check::Row> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a row"))
        .collect();
    let lasso = rows.iter().find(|r| r.cycle_from.is_some()).expect("a lasso");
    let fragment = lasso.explore_fragment().expect("its URL");
    b.go(&format!("{base}{fragment}"));
    b.find("#cycle");
    let marked = b.all("#steps li.cycle").len();
    let steps = lasso.counterexample.as_ref().map_or(0, Vec::len);
    assert_eq!(marked, steps - lasso.cycle_from.unwrap_or(0), "{fragment}");
    b.screenshot("lasso.png");

    // A parameter changed in the form changes what can happen: a second client acts too.
    b.go(&format!("{base}#m=linear-2pc&p=0"));
    b.find("#actions button");
    let one = b.all("#actions button").len();
    b.click(r#"select[name="variant"] option[value="correct"]"#);
    let clients = b.find(r#"input[name="clients"]"#);
    b.call("POST", &format!("/element/{clients}/clear"), Some(json!({})));
    b.call("POST", &format!("/element/{clients}/value"), Some(json!({ "text": "2" })));
    b.click("#open");
    let until = Instant::now() + WAIT;
    while b.all("#actions button").len() == one {
        assert!(Instant::now() < until, "two clients offer as many actions as one ({one})");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(b.all("#actions button").len() > one);

    // A real run beside the model: a short chaos run's traces, every step marked.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("explorer-chaos-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_twosafe"))
        .args(["chaos", "--seconds", "1", "--backup-kills", "1", "--primary-kills", "1"])
        .args(["--partitions", "0", "--json", "--dir"])
        .arg(&dir)
        .output()
        .expect("chaos runs");
    let report: Value = serde_json::from_slice(&out.stdout).expect("chaos's JSON report");
    let conformed = report["steps_conformed"].as_u64().expect("steps conformed");
    assert!(conformed > 0, "{report}");
    let run = Explorer::start(&["--trace".as_ref(), dir.as_os_str()]);
    b.go(&format!("http://127.0.0.1:{}/", run.port));
    b.find("#run-card");
    b.click("#run-card a");
    let summary = b.find("#run-summary");
    let steps: u64 = b.attribute(&summary, "data-steps").parse().expect("a count");
    assert_eq!(steps, conformed, "the page shows every step chaos's conformance judged");
    let marks = b.all("#run-steps li");
    assert!(marks.len() > 10, "{} steps listed", marks.len());
    for m in &marks {
        assert_eq!(b.attribute(m, "data-verdict"), "conforms");
    }
    assert!(b.text(&b.find("#run-nodes")).contains("every step conforms"));
    b.find("#run-state table.fields");
    // A later step: its node's state is the model's, with what the step changed marked.
    b.go(&format!("http://127.0.0.1:{}/#run&k={}", run.port, steps / 2));
    b.wait_contains("#run-step h3", &format!("Step {} of {steps} ", steps / 2 + 1));
    b.find("#run-state table.fields");
    b.find("#chart svg");
    b.screenshot("real-run.png");
    drop(run);

    // The same run with one recorded save altered: the page marks the step the model would
    // not take, and judges none of its node's steps after it.
    let trace = dir.join("trace-1.jsonl");
    let text = std::fs::read_to_string(&trace).expect("node 1's trace");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = lines.iter().skip(1).position(|l| l.contains("\"Save\":")).expect("a save") + 1;
    let start = lines[at].find("\"Save\":").expect("a save") + 7;
    let end = start + lines[at][start..].find(|c: char| !c.is_ascii_digit()).expect("its hash");
    lines[at].replace_range(start..end, "1");
    std::fs::write(&trace, lines.join("\n") + "\n").expect("written");
    let run = Explorer::start(&["--trace".as_ref(), dir.as_os_str()]);
    b.go(&format!("http://127.0.0.1:{}/#run", run.port));
    b.click("#first-departure");
    b.wait_contains("#run-step h3", &format!("node 1, line {}", at + 1));
    let verdict = b.find("#run-step [data-verdict]");
    assert_eq!(b.attribute(&verdict, "data-verdict"), "departs");
    assert!(b.text(&b.find("#run-nodes")).contains("departs"));
    let after: Vec<String> = b
        .all("#run-steps li")
        .iter()
        .map(|li| b.attribute(li, "data-verdict"))
        .skip_while(|v| v != "departs")
        .collect();
    assert!(after.len() > 1 && after[1..].iter().all(|v| v == "conforms" || v == "unchecked"));
    b.screenshot("real-run-departure.png");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = request(driver_port, "DELETE", &format!("/session/{}", b.session), None);
}

/// A `twosafe explore` process on a free port, killed when dropped.
struct Explorer {
    port: u16,
    _child: Killed,
}

impl Explorer {
    fn start(args: &[&std::ffi::OsStr]) -> Explorer {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_twosafe"))
            .args(["explore", "--port", &port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary runs");
        let until = Instant::now() + WAIT;
        while request(port, "GET", "/api/models", None).is_none() {
            assert!(Instant::now() < until, "the explorer does not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        Explorer { port, _child: Killed(child) }
    }
}
