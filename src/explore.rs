//! `twosafe explore`: the workbench's own explorer, served on localhost by the binary (the
//! page is embedded; nothing is fetched from elsewhere). A home page lists every model of the
//! catalogue with its seed sections, parameters, properties, variants and configurations; a
//! model opens with a parameter form, and its states are walked step by step: the steps and
//! the next actions in the protocol's words (as `check` prints them), the state part by part
//! (each actor, the network, the history) with what the last step changed marked, each
//! property evaluated on the state shown, exactly the checker's actions offered, the message
//! sequence chart, and a property's shortest counterexample found as `check` finds it. With
//! `--trace`, a recorded run of real nodes is shown beside the models ([`Run`]): the same
//! chart, each step judged as `conform` judges it, the model's state of the node after it.
//!
//! The page talks to a small JSON API: `GET /api/models`, `POST /api/state`,
//! `POST /api/counterexample` (see [`StateRequest`] and [`CounterexampleRequest`]), and for a
//! recorded run `GET /api/run` and `POST /api/run/state` ([`RunStateRequest`]).

mod run;

pub use run::Run;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use thiserror::Error;
use twosafe_models::catalogue;
use twosafe_models::params::{ParamError, Params};
use twosafe_models::spec::{ModelSpec, ModelVisitor};
use twosafe_models::trace::{shortest_of, ChartStep, Checkable, PartView};

/// Why the explorer could not start.
#[derive(Debug, Error)]
pub enum ExploreError {
    /// The model or a parameter is unknown or malformed.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The recorded run cannot be read.
    #[error("{0}")]
    Trace(String),
    /// The port cannot be bound (in use, or not allowed).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The page: HTML, style and script in one file, embedded in the binary.
const PAGE: &str = include_str!("explore/index.html");

/// Serves the explorer on 127.0.0.1:`port` (0: a free port the system chooses) until the
/// process is stopped. `open`, if given, is a model and its parameters, checked before the
/// server starts: the URL given to `on_ready` opens it directly; otherwise it is the home page,
/// or the recorded `run` if one is given (it is also listed on the home page).
pub fn serve(
    port: u16, open: Option<&Params>, run: Option<Run>, on_ready: impl FnOnce(&str),
) -> Result<(), ExploreError> {
    let wanted = SocketAddr::from(([127, 0, 0, 1], port));
    let bind = |source| ExploreError::Bind { addr: wanted, source };
    let listener = TcpListener::bind(wanted).map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    let fragment = match open {
        Some(params) => {
            let spec = catalogue::model(params.model())?;
            catalogue::visit(params, Build)?;
            let set = params.diff(&spec.defaults());
            format!("#m={}&s={}", spec.name, set.replace(',', ";"))
        }
        None if run.is_some() => "#run".to_string(),
        None => String::new(),
    };
    let run = run.map(Arc::new);
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| bind(std::io::Error::other(e.to_string())))?;
    on_ready(&format!("http://{addr}/{fragment}"));
    for request in server.incoming_requests() {
        // A counterexample search may take seconds: one thread per request keeps the page
        // answering meanwhile.
        let run = run.clone();
        std::thread::spawn(move || answer(request, run.as_deref()));
    }
    Ok(())
}

/// Builds a model (to check its parameters).
struct Build;

impl ModelVisitor for Build {
    type Output = ();
    fn visit<M: Checkable>(self, _: M) {}
}

/// Answers one request; a failure to write the answer (the page went away) is ignored.
fn answer(mut request: tiny_http::Request, run: Option<&Run>) {
    let json = |status: u16, body: String| {
        tiny_http::Response::from_string(body)
            .with_status_code(status)
            .with_header(header("Content-Type", "application/json"))
    };
    let response = match (request.method().clone(), request.url()) {
        (tiny_http::Method::Get, "/") | (tiny_http::Method::Get, "/index.html") => {
            tiny_http::Response::from_string(PAGE)
                .with_header(header("Content-Type", "text/html; charset=utf-8"))
        }
        (tiny_http::Method::Get, "/api/models") => json(200, models_json()),
        (tiny_http::Method::Get, "/api/run") => match run {
            Some(run) => json(200, serde_json::to_string(&run.view).unwrap_or_default()),
            None => json(
                404,
                serde_json::json!({ "error": "no recorded run: start the explorer with \
                    `twosafe explore --trace DIR` (a `twosafe chaos` run's directory, or \
                    trace files written by `twosafe node --trace`)" })
                .to_string(),
            ),
        },
        (
            tiny_http::Method::Post,
            url @ ("/api/state" | "/api/counterexample" | "/api/run/state"),
        ) => {
            let url = url.to_string();
            let mut body = String::new();
            let result = match request.as_reader().take(1 << 20).read_to_string(&mut body) {
                Err(e) => Err(format!("cannot read the request: {e}")),
                Ok(_) if url == "/api/state" => serde_json::from_str::<StateRequest>(&body)
                    .map_err(|e| format!("not a state request: {e}"))
                    .and_then(|r| r.answer()),
                Ok(_) if url == "/api/run/state" => serde_json::from_str::<RunStateRequest>(&body)
                    .map_err(|e| format!("not a run state request: {e}"))
                    .and_then(|r| run.ok_or("no recorded run".to_string())?.state(r.step))
                    .and_then(|v| serde_json::to_value(v).map_err(|e| e.to_string())),
                Ok(_) => serde_json::from_str::<CounterexampleRequest>(&body)
                    .map_err(|e| format!("not a counterexample request: {e}"))
                    .and_then(|r| r.answer()),
            };
            match result {
                Ok(value) => json(200, value.to_string()),
                Err(error) => json(400, serde_json::json!({ "error": error }).to_string()),
            }
        }
        _ => json(404, serde_json::json!({ "error": "no such page" }).to_string()),
    };
    let _ = request.respond(response);
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    // Both are ASCII constants of this file.
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
        .unwrap_or_else(|()| unreachable!("a valid header"))
}

/// The catalogue as the home page lists it: `twosafe models --json`'s view of each model,
/// plus each configuration's parameters (as `--set` pairs).
pub fn models_json() -> String {
    let models: Vec<serde_json::Value> = catalogue::MODELS
        .iter()
        .map(|m| {
            let mut view = serde_json::to_value(crate::check::ModelView::of(m))
                .unwrap_or(serde_json::Value::Null);
            if let Some(obj) = view.as_object_mut() {
                obj.insert("configs".into(), serde_json::Value::Array(configs(m)));
            }
            view
        })
        .collect();
    serde_json::Value::Array(models).to_string()
}

/// A model's configurations: label, whether deep, and its parameters that differ from the
/// defaults.
fn configs(m: &ModelSpec) -> Vec<serde_json::Value> {
    let defaults = m.defaults();
    m.checks()
        .iter()
        .filter_map(|c| {
            let params = m.params_of(c, &[]).ok()?;
            let set: Vec<String> = params
                .diff(&defaults)
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            Some(serde_json::json!({ "label": c.config, "deep": c.deep, "set": set }))
        })
        .collect()
}

/// The model and parameters a request names.
fn params_of(model: &str, set: &[String]) -> Result<Params, String> {
    let spec = catalogue::model(model).map_err(|e| e.to_string())?;
    let mut params = spec.defaults();
    for pair in set.iter().filter(|p| !p.trim().is_empty()) {
        params.set_pair(spec.params, pair).map_err(|e| e.to_string())?;
    }
    Ok(params)
}

/// `POST /api/run/state`: the model's state of a recorded step's node after the step.
#[derive(Debug, Deserialize)]
pub struct RunStateRequest {
    /// The step's index in the run (wall-clock order).
    pub step: usize,
}

/// `POST /api/state`: the state at the end of a path, and what can happen next.
#[derive(Debug, Deserialize)]
pub struct StateRequest {
    /// The model.
    pub model: String,
    /// Parameters, as `--set` pairs.
    #[serde(default)]
    pub set: Vec<String>,
    /// The initial state's index, then the index of each step among the actions offered.
    #[serde(default)]
    pub path: Vec<usize>,
}

impl StateRequest {
    /// The answer, as JSON (see [`StateView`]).
    pub fn answer(&self) -> Result<serde_json::Value, String> {
        let params = params_of(&self.model, &self.set)?;
        catalogue::visit(&params, Walk { path: &self.path }).map_err(|e| e.to_string())?
    }
}

/// What the page shows of a state.
#[derive(Debug, Serialize)]
pub struct StateView {
    /// The steps taken, one line each.
    pub steps: Vec<String>,
    /// The state, part by part.
    pub parts: Vec<PartView>,
    /// The state before the last step, for the diff (none at an initial state).
    pub before: Option<Vec<PartView>>,
    /// The actions the checker would take from here, as lines (their order is the path's index).
    pub actions: Vec<String>,
    /// How many initial states there are (the path's first index chooses one).
    pub inits: usize,
    /// Every property, evaluated on this state.
    pub properties: Vec<PropertyView>,
    /// The message sequence chart's lanes (none: the model draws no chart).
    pub lanes: Vec<String>,
    /// The chart's rows: one per step.
    pub chart: Vec<ChartStep>,
}

/// A property and its value on the state shown.
#[derive(Debug, Serialize)]
pub struct PropertyView {
    /// Its name.
    pub name: &'static str,
    /// always, sometimes or eventually.
    pub kind: &'static str,
    /// Its condition on this state (for `always`: false is a violation here).
    pub here: bool,
}

/// The checker's actions from `state`: those whose step changes something and stays within
/// the model's boundary, each with the state it leads to, in the model's order.
fn offered<M: Checkable>(model: &M, state: &M::State) -> Vec<(M::Action, M::State)> {
    let mut actions = Vec::new();
    model.actions(state, &mut actions);
    actions
        .into_iter()
        .filter_map(|a| {
            let next = model.next_state(state, a.clone())?;
            model.within_boundary(&next).then_some((a, next))
        })
        .collect()
}

/// The initial states within the boundary.
fn inits<M: Checkable>(model: &M) -> Vec<M::State> {
    model.init_states().into_iter().filter(|s| model.within_boundary(s)).collect()
}

fn kind(x: &stateright::Expectation) -> &'static str {
    match x {
        stateright::Expectation::Always => "always",
        stateright::Expectation::Sometimes => "sometimes",
        stateright::Expectation::Eventually => "eventually",
    }
}

/// Follows a path and describes where it ends.
struct Walk<'a> {
    path: &'a [usize],
}

impl ModelVisitor for Walk<'_> {
    type Output = Result<serde_json::Value, String>;

    fn visit<M: Checkable>(self, model: M) -> Self::Output {
        let starts = inits(&model);
        let first = self.path.first().copied().unwrap_or(0);
        let init = starts.get(first).ok_or(format!("no initial state {first}"))?.clone();
        let mut state = init.clone();
        let mut before = None;
        let mut taken = Vec::new();
        for (n, k) in self.path.iter().skip(1).enumerate() {
            let mut choices = offered(&model, &state);
            if *k >= choices.len() {
                return Err(format!("step {}: no action {k} (there are {})", n + 1, choices.len()));
            }
            let (action, next) = choices.swap_remove(*k);
            taken.push(action);
            before = Some(std::mem::replace(&mut state, next));
        }
        let view = StateView {
            steps: taken.iter().map(|a| model.step(a)).collect(),
            parts: model.view(&state),
            before: before.map(|b| model.view(&b)),
            actions: offered(&model, &state).iter().map(|(a, _)| model.step(a)).collect(),
            inits: starts.len(),
            properties: model
                .properties()
                .iter()
                .map(|p| PropertyView {
                    name: p.name,
                    kind: kind(&p.expectation),
                    here: (p.condition)(&model, &state),
                })
                .collect(),
            lanes: model.lanes(),
            chart: taken.iter().filter_map(|a| model.chart(a)).collect(),
        };
        serde_json::to_value(view).map_err(|e| e.to_string())
    }
}

/// `POST /api/counterexample`: the shortest path to a state that breaks an `always` property
/// or satisfies a `sometimes` one, as `check` finds it (breadth first on one thread, then cut
/// and shortened), as a path for [`StateRequest`].
#[derive(Debug, Deserialize)]
pub struct CounterexampleRequest {
    /// The model.
    pub model: String,
    /// Parameters, as `--set` pairs.
    #[serde(default)]
    pub set: Vec<String>,
    /// The property.
    pub property: String,
}

/// The most states a counterexample search explores before it gives up.
pub const SEARCH_LIMIT: usize = 3_000_000;

impl CounterexampleRequest {
    /// The answer: `{"path": [...], "steps": n}` or, if there is none, `{"none": why}`.
    pub fn answer(&self) -> Result<serde_json::Value, String> {
        let params = params_of(&self.model, &self.set)?;
        catalogue::visit(&params, Find { property: &self.property }).map_err(|e| e.to_string())?
    }
}

struct Find<'a> {
    property: &'a str,
}

impl ModelVisitor for Find<'_> {
    type Output = Result<serde_json::Value, String>;

    fn visit<M: Checkable>(self, model: M) -> Self::Output {
        use stateright::{Checker, Expectation, HasDiscoveries};
        let props = model.properties();
        let Some(p) = props.iter().find(|p| p.name == self.property) else {
            return Err(format!("no property named `{}`", self.property));
        };
        if p.expectation == Expectation::Eventually {
            return Ok(serde_json::json!({ "none": "a liveness property's counterexample is a \
                cycle: `twosafe check` finds it under fairness and prints it" }));
        }
        let name = p.name;
        let checker = model
            .clone()
            .checker()
            .threads(1)
            .target_state_count(SEARCH_LIMIT)
            .finish_when(HasDiscoveries::AnyOf([name].into_iter().collect()))
            .spawn_bfs()
            .join();
        let Some(found) = checker.discovery(name) else {
            let why = if checker.state_count() >= SEARCH_LIMIT {
                format!("none within {SEARCH_LIMIT} states (`twosafe check` explores further)")
            } else if p.expectation == Expectation::Always {
                format!("none: it holds in all {} distinct states", checker.unique_state_count())
            } else {
                format!("none: no state of {} satisfies it", checker.unique_state_count())
            };
            return Ok(serde_json::json!({ "none": why }));
        };
        let path = shortest_of(&model, name, found);
        let indices = indices(&model, path).ok_or("the counterexample could not be replayed")?;
        Ok(serde_json::json!({ "path": indices }))
    }
}

/// A path as the explorer's indices: the initial state's, then each action's among those
/// offered.
pub fn indices<M: Checkable>(
    model: &M, path: stateright::Path<M::State, M::Action>,
) -> Option<Vec<usize>> {
    let steps = path.into_vec();
    let first = &steps.first()?.0;
    let mut out = vec![inits(model).iter().position(|s| s == first)?];
    for (state, action) in &steps {
        let Some(action) = action else { break };
        out.push(offered(model, state).iter().position(|(a, _)| a == action)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(model: &str, set: &[&str], path: &[usize]) -> serde_json::Value {
        let set = set.iter().map(|s| s.to_string()).collect();
        StateRequest { model: model.into(), set, path: path.to_vec() }.answer().expect("a state")
    }

    #[test]
    fn a_counterexample_ends_where_its_property_is_violated_and_check_agrees_on_its_length() {
        let set = ["variant=one-safe"];
        let found = CounterexampleRequest {
            model: "linear-2pc".into(),
            set: set.iter().map(|s| s.to_string()).collect(),
            property: "2-safety".into(),
        }
        .answer()
        .expect("an answer");
        let path: Vec<usize> = serde_json::from_value(found["path"].clone()).expect("a path");
        let end = state("linear-2pc", &set, &path);
        let here = |v: &serde_json::Value| {
            v["properties"]
                .as_array()
                .expect("properties")
                .iter()
                .find(|p| p["name"] == "2-safety")
                .expect("2-safety")["here"]
                .clone()
        };
        assert_eq!(here(&end), false, "violated at the end");
        let one_before = state("linear-2pc", &set, &path[..path.len() - 1]);
        assert_eq!(here(&one_before), true, "and not before");
        // The steps are told as `check` tells them.
        let steps = end["steps"].as_array().expect("steps");
        assert_eq!(steps.len(), path.len() - 1);
        assert!(steps.iter().any(|s| s.as_str().is_some_and(|s| s.contains(" -> "))), "{steps:?}");
    }

    #[test]
    fn every_counterexample_check_prints_opens_in_the_explorer_at_its_violation() {
        // A safety counterexample and a liveness lasso: the explorer replays the path check
        // gives, step for step, to a state where the property is as check says.
        for (model, only, property) in [
            ("linear-2pc", "bug/one-safe", "2-safety"),
            ("fuzzy-copy", "bug/no-filter", "logical-equivalence"),
            ("migration", "bug/no-resume", "liveness"),
        ] {
            let plan = crate::check::plan(&[model.to_string()], &[], false).expect("a plan");
            let (spec, config, params) =
                plan.iter().find(|(_, c, _)| c == only).expect("the configuration");
            let opts = crate::check::Options { threads: 1, ..Default::default() };
            let rows = crate::check::run(spec, config, params, &opts).expect("it runs");
            let row = rows.iter().find(|r| r.property == property).expect("the property's row");
            let path = row.path.clone().unwrap_or_else(|| panic!("{model} {only}: no path"));
            let fragment = row.explore_fragment().expect("a fragment");
            assert!(fragment.starts_with(&format!("#m={model}&s=")), "{fragment}");
            let set: Vec<String> = row.params.split(',').map(str::to_string).collect();
            let req = StateRequest { model: model.into(), set, path };
            let end = req.answer().expect("the explorer replays it");
            let steps: Vec<String> = serde_json::from_value(end["steps"].clone()).expect("steps");
            assert_eq!(Some(&steps), row.counterexample.as_ref(), "{model} {only}");
            let here = end["properties"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == property))
                .map(|p| p["here"].clone());
            match row.cycle_from {
                None => assert_eq!(here, Some(serde_json::Value::Bool(false)), "{model} {only}"),
                Some(c) => assert!(fragment.ends_with(&format!("&c={c}")), "{fragment}"),
            }
        }
    }

    #[test]
    fn a_correct_protocol_has_no_counterexample_and_a_bad_path_is_refused() {
        let none = CounterexampleRequest {
            model: "two-phase".into(),
            set: Vec::new(),
            property: "consistency".into(),
        }
        .answer()
        .expect("an answer");
        assert!(none["none"].as_str().is_some_and(|s| s.contains("holds in all 288")), "{none}");
        let bad = StateRequest { model: "two-phase".into(), set: Vec::new(), path: vec![0, 99] };
        assert!(bad.answer().is_err_and(|e| e.contains("no action 99")));
        let bad = StateRequest { model: "nope".into(), set: Vec::new(), path: Vec::new() };
        assert!(bad.answer().is_err_and(|e| e.contains("no model named")));
    }

    #[test]
    fn every_actor_is_shown_as_its_roles_table_and_every_step_as_a_chart_row() {
        // Each model of actors: every actor part has fields, each on one line; the chart has
        // a lane per actor and a row per step, on lanes that exist.
        for m in catalogue::MODELS {
            let start = state(m.name, &[], &[0]);
            let lanes = start["lanes"].as_array().expect("lanes").len();
            if lanes == 0 {
                continue;
            }
            let actors: Vec<&serde_json::Value> = start["parts"]
                .as_array()
                .expect("parts")
                .iter()
                .filter(|p| p["title"] != "network" && p["title"] != "history")
                .collect();
            assert_eq!(actors.len(), lanes, "{}", m.name);
            for a in actors {
                let fields = a["fields"].as_array().expect("fields");
                assert!(!fields.is_empty(), "{}: {a}", m.name);
                for f in fields {
                    assert!(!f["value"].as_str().expect("a value").contains('\n'), "{f}");
                }
            }
            // Two steps in: two chart rows, each on a lane of the chart.
            let walked = state(m.name, &[], &[0, 0, 0]);
            let rows = walked["chart"].as_array().expect("rows");
            assert_eq!(rows.len(), 2, "{}", m.name);
            for r in rows {
                assert!(r["to"].as_u64().is_some_and(|t| (t as usize) < lanes), "{r}");
            }
        }
    }

    #[test]
    fn a_step_changes_the_fields_it_changes_and_no_others() {
        // Linear 2PC: the client's request delivered to the primary puts a change buffer in
        // flight: the primary's "steps in flight" changes, its epoch does not.
        let s = state("linear-2pc", &["lossy=false"], &[0]);
        let actions: Vec<String> = serde_json::from_value(s["actions"].clone()).expect("lines");
        let k = actions.iter().position(|a| a.contains("-> server 0: Request")).expect("a request");
        let after = state("linear-2pc", &["lossy=false"], &[0, k]);
        let field = |parts: &serde_json::Value, name: &str| {
            parts[0]["fields"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["name"] == name))
                .map(|f| f["value"].clone())
                .unwrap_or_else(|| panic!("no field {name}"))
        };
        let (now, before) = (&after["parts"], &after["before"]);
        assert_ne!(field(now, "steps in flight"), field(before, "steps in flight"));
        assert_eq!(field(now, "epoch"), field(before, "epoch"));
    }

    #[test]
    fn only_the_checkers_actions_are_offered() {
        // fuzzy copy: only the backup may crash; the initial state offers no crash of the
        // primary.
        let s = state("fuzzy-copy", &[], &[0]);
        let actions = s["actions"].as_array().expect("actions");
        assert!(!actions.is_empty());
        for a in actions {
            let a = a.as_str().expect("a line");
            assert!(!(a.contains("CRASHES") && a.starts_with("primary")), "{a}");
        }
    }
}
