//! Liveness under weak fairness: whether every fair behaviour of a model reaches a goal
//! (an `eventually` property), decided on the explored state graph by strongly connected
//! components, as TLC decides its liveness properties (Lamport, "Specifying Systems", §8 and
//! §14.3).
//!
//! stateright judges `eventually` at terminal states only, so a behaviour that loops for ever
//! without reaching the goal escapes it. Here the whole reachable graph (within the model's
//! boundary) is built, and a counterexample is a *lasso*: a stem from an initial state and a
//! cycle, every state of both outside the goal, the cycle *fair*.
//!
//! - **Action classes.** An action's class is the action itself: the delivery of a given
//!   message to a given actor, a given timer of a given actor, the restart of a given crashed
//!   actor. Faults — a crash, a message lost — have no class: they are never owed, and they
//!   are never part of a cycle (a behaviour has finitely many faults: the network loses
//!   messages for a while, not for ever, and crashes are bounded by the model's budget).
//! - **Enabled.** A class is enabled in a state if its action leads to a state inside the
//!   model's boundary (stateright's `next_state` is `Some` and `within_boundary` holds): the
//!   behaviours judged are the bounded model's, as stateright's own search sees them. An
//!   action the bound cuts off is not owed, so a behaviour that could only finish beyond a
//!   bound (one more takeover than allowed, say) is a counterexample of the bounded model;
//!   widen the bound to tell such an artefact from a bug.
//! - **Weak fairness.** A cycle is fair if every class enabled in all of its states is taken
//!   on it. A strongly connected component of non-goal states contains a fair cycle iff every
//!   class enabled in all of its states labels one of its internal edges (then a cycle through
//!   the whole component is fair; otherwise every cycle inside it leaves that class enabled
//!   and untaken). No recursion into sub-components is needed: that is for strong fairness.
//! - **Stuttering.** A non-goal state in which no class is enabled (nothing but faults can
//!   happen) is a counterexample too: the behaviour stops there, with a stem and no cycle.
//!
//! - **Leads-to.** A property `P ~> Q` (whenever `P` holds, `Q` holds then or later; TLA+'s
//!   `[](P => <>Q)`) is stated as two stateright properties: an `eventually` one named `N`
//!   whose condition is `Q`, and a `sometimes` one named `N` + [`WHEN`] whose condition is
//!   `P` (stateright's own search then also says whether `P` is reachable at all). Its
//!   counterexample's stem may pass anything until it reaches a state where `P` holds and `Q`
//!   does not; from there on (the rest of the stem and the cycle) `Q` never holds. A plain
//!   `eventually` is the case where `P` holds of the initial states only.
//!
//! The printed cycle is short rather than the whole component: it starts with detours that
//! take each class enabled throughout the component, then adds detours until every class
//! enabled in all of *its* states is taken on it, so it is fair on its own.

use crate::search::{self, Fingerprints, Outcome};
use stateright::{Model, Path};
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::Ordering;

/// An action's class, as [`Fairness::action_class`] says.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ActionClass {
    /// Identifies the action (equal actions, equal keys).
    pub key: u64,
    /// Whether it is owed under weak fairness (false: a fault).
    pub fair: bool,
}

/// The suffix of the name of a leads-to property's trigger (see the module's doc): the
/// `sometimes` property `N/when` makes the `eventually` property `N` mean `P ~> Q`.
pub const WHEN: &str = "/when";

/// Whether property `name` is the trigger of a leads-to property (not a property of its own).
pub fn is_trigger(name: &str) -> bool {
    name.ends_with(WHEN)
}

/// What the liveness check needs of a model: which actions are faults.
pub trait Fairness: Model {
    /// The class of `action`.
    fn action_class(&self, action: &Self::Action) -> ActionClass;
}

/// A counterexample to an `eventually` property under weak fairness: the stem's actions from
/// `init`, then the cycle's (empty: the behaviour stutters at the stem's end, where nothing
/// but faults can happen).
pub struct Lasso<M: Model> {
    /// The initial state.
    pub init: M::State,
    /// From `init` to the cycle's first state.
    pub stem: Vec<M::Action>,
    /// From the cycle's first state back to it.
    pub cycle: Vec<M::Action>,
    /// Whether the cycle (or the state where it stops) has an action that the model's bound
    /// cuts off enabled all along: the counterexample may be an artefact of the bound (there
    /// is no counterexample without such an action).
    pub at_bound: bool,
}

impl<M: Model> Lasso<M> {
    /// The stem followed by one round of the cycle, as a path of `model`.
    pub fn path(&self, model: &M) -> Option<Path<M::State, M::Action>>
    where
        M::State: Clone + PartialEq,
        M::Action: PartialEq,
    {
        let actions: Vec<&M::Action> = self.stem.iter().chain(&self.cycle).collect();
        Path::from_actions(model, self.init.clone(), actions)
    }
}

/// The verdicts on a model's `eventually` properties (leads-to ones included).
pub struct Report<M: Model> {
    /// Distinct states explored.
    pub states: usize,
    /// Whether the graph was explored whole (false: `limit` was reached, nothing is decided).
    pub complete: bool,
    /// Per property (name): `None` if it holds, else a counterexample.
    pub verdicts: Vec<(&'static str, Option<Lasso<M>>)>,
    /// What the safety search would find on the same states (its `always` and `sometimes`
    /// properties judged on every state explored, the counts and depth as it counts them):
    /// the graph's exploration is breadth first, so a complete one is that search.
    pub safety: Outcome,
}

const NONE: u32 = u32::MAX;

/// The explored graph.
struct Graph<M: Model> {
    inits: Vec<M::State>,
    /// Interned actions: class id → action, and whether it is fair.
    actions: Vec<(M::Action, bool)>,
    /// Edges inside the boundary: (target, class id).
    edges: Vec<Vec<(u32, u32)>>,
    /// Fair classes enabled in each state (sorted).
    enabled: Vec<Vec<u32>>,
    /// Fair classes whose action the boundary cuts off, in each state (sorted).
    cut: Vec<Vec<u32>>,
    /// Which properties' goals hold in each state (bit i: property i).
    goals: Vec<u64>,
    /// Which leads-to properties' triggers hold in each state (bit i: property i).
    triggers: Vec<u64>,
}

/// A key for an action class: the hash of what identifies it.
pub use crate::search::fingerprint;

/// Checks every `eventually` property of `model` under weak fairness (as a leads-to where a
/// `sometimes` property names it with [`WHEN`]), exploring at most
/// `limit` distinct states; `progress` follows the exploration, and stops it (then the report
/// is not complete and decides nothing).
pub fn check<M>(model: &M, limit: usize, progress: &search::Progress) -> Report<M>
where
    M: Fairness,
    M::State: Hash + Clone + PartialEq,
    M::Action: Clone + PartialEq,
{
    let all = model.properties();
    let props: Vec<_> = all
        .iter()
        .filter(|p| p.expectation == stateright::Expectation::Eventually)
        .take(64)
        .map(|p| {
            let trigger = all.iter().find(|t| {
                t.expectation == stateright::Expectation::Sometimes
                    && is_trigger(t.name)
                    && t.name[..t.name.len() - WHEN.len()] == *p.name
            });
            (p.clone(), trigger.cloned())
        })
        .collect();
    let (g, complete, safety) = explore(model, &props, limit, progress);
    let verdicts = props
        .iter()
        .enumerate()
        .map(|(i, (p, t))| (p.name, if complete { lasso(&g, 1 << i, t.is_some()) } else { None }))
        .collect();
    Report { states: g.edges.len(), complete, verdicts, safety }
}

/// An `eventually` property and, for a leads-to, its trigger.
type Liveness<M> = (stateright::Property<M>, Option<stateright::Property<M>>);

fn explore<M>(
    model: &M, props: &[Liveness<M>], limit: usize, progress: &search::Progress,
) -> (Graph<M>, bool, Outcome)
where
    M: Fairness,
    M::State: Hash + Clone,
    M::Action: Clone,
{
    let mut g = Graph {
        inits: Vec::new(),
        actions: Vec::new(),
        edges: Vec::new(),
        enabled: Vec::new(),
        cut: Vec::new(),
        goals: Vec::new(),
        triggers: Vec::new(),
    };
    let mut ids: HashMap<u64, u32, Fingerprints> = HashMap::default();
    let mut classes: HashMap<u64, u32, Fingerprints> = HashMap::default();
    let mut queue: VecDeque<(u32, M::State, usize)> = VecDeque::new();
    let safety_props = model.properties();
    let mut found = vec![false; safety_props.len()];
    let mut safety =
        Outcome { states: 0, unique: 0, max_depth: 0, discovered: Vec::new(), stopped: false };
    for s in model.init_states() {
        if !model.within_boundary(&s) {
            continue;
        }
        safety.states += 1;
        let fp = fingerprint(&s);
        if ids.contains_key(&fp) {
            continue;
        }
        let id = g.inits.len() as u32;
        ids.insert(fp, id);
        g.inits.push(s.clone());
        queue.push_back((id, s, 1));
    }
    g.edges.resize(g.inits.len(), Vec::new());
    let mut acts = Vec::new();
    let outcome = |g: &Graph<M>, mut safety: Outcome, found: &[bool]| {
        safety.unique = g.edges.len();
        safety.discovered = search::discovered(&safety_props, found.iter().copied());
        safety
    };
    while let Some((i, s, depth)) = queue.pop_front() {
        let i = i as usize;
        safety.max_depth = safety.max_depth.max(depth);
        if i.is_multiple_of(1024) || progress.state_limit.is_some_and(|n| g.edges.len() >= n) {
            progress.states.store(safety.states, Ordering::Relaxed);
            progress.unique.store(g.edges.len(), Ordering::Relaxed);
            progress.depth.store(depth, Ordering::Relaxed);
            if progress.should_stop() {
                let mut safety = outcome(&g, safety, &found);
                safety.stopped = true;
                return (g, false, safety);
            }
        }
        search::judge(model, &safety_props, &mut found, &s);
        if g.goals.len() <= i {
            g.goals.resize(i + 1, 0);
            g.triggers.resize(i + 1, 0);
            g.enabled.resize(i + 1, Vec::new());
            g.cut.resize(i + 1, Vec::new());
        }
        g.goals[i] = props
            .iter()
            .enumerate()
            .filter(|(_, (p, _))| (p.condition)(model, &s))
            .fold(0, |bits, (k, _)| bits | 1 << k);
        g.triggers[i] = props
            .iter()
            .enumerate()
            .filter(|(_, (_, t))| t.as_ref().is_some_and(|t| (t.condition)(model, &s)))
            .fold(0, |bits, (k, _)| bits | 1 << k);
        acts.clear();
        model.actions(&s, &mut acts);
        for a in acts.drain(..) {
            let Some(next) = model.next_state(&s, a.clone()) else { continue };
            let class = model.action_class(&a);
            let c = *classes.entry(class.key).or_insert_with(|| {
                g.actions.push((a, class.fair));
                (g.actions.len() - 1) as u32
            });
            if !model.within_boundary(&next) {
                if class.fair {
                    g.cut[i].push(c);
                }
                continue;
            }
            if class.fair {
                g.enabled[i].push(c);
            }
            safety.states += 1;
            let fp = fingerprint(&next);
            let j = match ids.get(&fp) {
                Some(j) => *j,
                None => {
                    if g.edges.len() >= limit {
                        let mut safety = outcome(&g, safety, &found);
                        safety.stopped = true;
                        return (g, false, safety);
                    }
                    let j = g.edges.len() as u32;
                    ids.insert(fp, j);
                    g.edges.push(Vec::new());
                    queue.push_back((j, next, depth + 1));
                    j
                }
            };
            g.edges[i].push((j, c));
        }
        for set in [&mut g.enabled[i], &mut g.cut[i]] {
            set.sort_unstable();
            set.dedup();
        }
    }
    let safety = outcome(&g, safety, &found);
    (g, true, safety)
}

/// A fair lasso avoiding goal `bit` (from a state where its trigger holds, if `leads_to`;
/// else from an initial state), with the shortest stem found, if any.
fn lasso<M: Model>(g: &Graph<M>, bit: u64, leads_to: bool) -> Option<Lasso<M>>
where
    M::State: Clone,
    M::Action: Clone,
{
    let n = g.edges.len();
    let bad = |i: usize| g.goals[i] & bit == 0;
    let triggered = |i: usize| bad(i) && g.triggers[i] & bit != 0;
    // Stems: breadth first over pairs (state, after the trigger): node `i` is state `i` after
    // it, node `n + i` state `i` before it (leads-to only: anything goes until the trigger).
    // Reaching a triggered state before it reaches it after at no cost (0-1 BFS); after it,
    // only non-goal states. `dist` and `parent` of the nodes after it serve the SCC search.
    let mut parent = vec![(NONE, NONE); 2 * n];
    let mut dist = vec![NONE; 2 * n];
    let mut queue = VecDeque::new();
    for i in 0..g.inits.len() {
        let node = if leads_to {
            n + i
        } else if bad(i) {
            i
        } else {
            continue;
        };
        dist[node] = 0;
        queue.push_back((node, 0));
    }
    let mut order = Vec::new();
    while let Some((node, d)) = queue.pop_front() {
        if d > dist[node] {
            continue; // reached again at a smaller distance
        }
        let (i, after) = if node < n { (node, true) } else { (node - n, false) };
        if after {
            order.push(i);
        } else if triggered(i) && d < dist[i] {
            dist[i] = d;
            parent[i] = (node as u32, NONE);
            queue.push_front((i, d));
        }
        for &(j, c) in &g.edges[i] {
            let j = j as usize;
            let next = if after {
                if !bad(j) {
                    continue;
                }
                j
            } else {
                n + j
            };
            if d + 1 < dist[next] {
                dist[next] = d + 1;
                parent[next] = (node as u32, c);
                queue.push_back((next, d + 1));
            }
        }
    }
    order.sort_by_key(|i| dist[*i]);
    let reach = |i: usize| dist[i] != NONE;
    // Candidates, the ones clear of the bound first: (at bound, stem length, first state,
    // cycle). `order` is breadth first: the first stuttering state has the shortest stem.
    let stutter = |at_bound: bool| {
        let found =
            order.iter().find(|i| g.enabled[**i].is_empty() && g.cut[**i].is_empty() != at_bound);
        found.map(|&i| (at_bound, dist[i], i, Vec::new()))
    };
    let mut best: Option<(bool, u32, usize, Vec<u32>)> = stutter(false).or_else(|| stutter(true));
    let fair_edge = |_: usize, j: u32, c: u32| g.actions[c as usize].1 && reach(j as usize);
    for scc in components(n, &order, |i| {
        g.edges[i].iter().filter(move |(j, c)| fair_edge(i, *j, *c)).map(|(j, _)| *j as usize)
    }) {
        let member: std::collections::HashSet<usize> = scc.iter().copied().collect();
        let inside =
            |i: usize, j: u32, c: u32| fair_edge(i, j, c) && member.contains(&(j as usize));
        let taken: std::collections::BTreeSet<u32> = scc
            .iter()
            .flat_map(|&i| {
                g.edges[i].iter().filter(move |(j, c)| inside(i, *j, *c)).map(|(_, c)| *c)
            })
            .collect();
        if taken.is_empty() {
            continue; // a single state without a fair self-loop
        }
        let always = always_enabled(g, &scc);
        if always.iter().any(|c| !taken.contains(c)) {
            continue; // every cycle in it leaves that class enabled and never takes it
        }
        let at_bound = !always_in(&g.cut, &scc).is_empty();
        let start = *scc.iter().min_by_key(|s| dist[**s]).unwrap_or(&scc[0]);
        if best.as_ref().is_some_and(|b| (b.0, b.1) <= (at_bound, dist[start])) {
            continue;
        }
        let cycle = fair_cycle(g, start, &inside, &always, !at_bound);
        best = Some((at_bound, dist[start], start, cycle));
    }
    let (at_bound, _, end, cycle) = best?;
    let mut stem = Vec::new();
    let mut at = end;
    while parent[at].0 != NONE {
        if parent[at].1 != NONE {
            stem.push(parent[at].1);
        }
        at = parent[at].0 as usize;
    }
    stem.reverse();
    let at = at % n;
    let action = |c: &u32| g.actions[*c as usize].0.clone();
    Some(Lasso {
        init: g.inits[at].clone(),
        stem: stem.iter().map(action).collect(),
        cycle: cycle.iter().map(action).collect(),
        at_bound,
    })
}

/// The classes enabled in every state of `states`.
fn always_enabled<M: Model>(g: &Graph<M>, states: &[usize]) -> Vec<u32> {
    always_in(&g.enabled, states)
}

/// The classes that `sets` holds for every state of `states`.
fn always_in(sets: &[Vec<u32>], states: &[usize]) -> Vec<u32> {
    let mut always = sets[states[0]].clone();
    for &s in &states[1..] {
        always.retain(|c| sets[s].binary_search(c).is_ok());
    }
    always
}

/// A fair cycle from `start` inside the component (`inside`: its fair edges): detours that take each class in
/// `owed`, then more until the classes enabled all along the cycle are all taken on it (and,
/// if `clear`, until no class is cut off by the bound all along it).
fn fair_cycle<M: Model>(
    g: &Graph<M>, start: usize, inside: &dyn Fn(usize, u32, u32) -> bool, owed: &[u32], clear: bool,
) -> Vec<u32> {
    let mut at = start;
    let mut states = vec![start];
    let mut classes: Vec<u32> = Vec::new();
    let mut todo: Vec<u32> = owed.to_vec();
    loop {
        for c in std::mem::take(&mut todo) {
            if classes.contains(&c) {
                continue;
            }
            // A detour that takes class `c`, or, if no edge of the component has it, that
            // visits a state where `c` is not enabled.
            let path = walk(g, at, inside, |i, edge| match edge {
                Some(ec) => ec == c,
                None => g.enabled[i].binary_search(&c).is_err(),
            });
            for (s, ec) in path {
                classes.push(ec);
                states.push(s);
                at = s;
            }
        }
        let always = always_enabled(g, &states);
        todo = always.into_iter().filter(|c| !classes.contains(c)).collect();
        if clear {
            for c in always_in(&g.cut, &states) {
                // A detour through a state where the bound does not cut `c` off.
                let uncut =
                    |i: usize, e: Option<u32>| e.is_none() && g.cut[i].binary_search(&c).is_err();
                for (s, ec) in walk(g, at, inside, uncut) {
                    classes.push(ec);
                    states.push(s);
                    at = s;
                }
            }
            if !always_in(&g.cut, &states).is_empty() {
                continue;
            }
        }
        if todo.is_empty() {
            break;
        }
    }
    if at == start && !classes.is_empty() {
        return classes; // the detours came back to the start
    }
    for (s, ec) in walk(g, at, inside, |i, edge| edge.is_none() && i == start) {
        classes.push(ec);
        states.push(s);
    }
    classes
}

/// The shortest walk inside the component from `from` (at least one step) that ends by
/// taking an edge of a class for which `goal(source, Some(class))` holds, or at a state for
/// which `goal(state, None)` holds. Steps: (state reached, class taken).
fn walk<M: Model>(
    g: &Graph<M>, from: usize, inside: &dyn Fn(usize, u32, u32) -> bool,
    goal: impl Fn(usize, Option<u32>) -> bool,
) -> Vec<(usize, u32)> {
    let mut prev: HashMap<usize, (usize, u32)> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = std::collections::HashSet::from([from]);
    let path_to = |prev: &HashMap<usize, (usize, u32)>, mut at: usize| {
        let mut path = Vec::new();
        while let (false, Some(&(p, c))) = (at == from, prev.get(&at)) {
            path.push((at, c));
            at = p;
        }
        path.reverse();
        path
    };
    while let Some(i) = queue.pop_front() {
        for &(j, c) in &g.edges[i] {
            if !inside(i, j, c) {
                continue;
            }
            let j = j as usize;
            if goal(i, Some(c)) || goal(j, None) {
                let mut path = path_to(&prev, i);
                path.push((j, c));
                return path;
            }
            if seen.insert(j) {
                prev.insert(j, (i, c));
                queue.push_back(j);
            }
        }
    }
    Vec::new()
}

/// Tarjan's strongly connected components of the states in `nodes`, iteratively.
fn components<I: Iterator<Item = usize>>(
    n: usize, nodes: &[usize], succ: impl Fn(usize) -> I,
) -> Vec<Vec<usize>> {
    let mut index = vec![NONE; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0u32;
    let mut out = Vec::new();
    for &root in nodes {
        if index[root] != NONE {
            continue;
        }
        let mut call: Vec<(usize, Vec<usize>, usize)> = Vec::new();
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        call.push((root, succ(root).collect(), 0));
        while let Some((v, succs, k)) = call.last_mut() {
            let v = *v;
            if *k < succs.len() {
                let w = succs[*k];
                *k += 1;
                if index[w] == NONE {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, succ(w).collect(), 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some((u, _, _)) = call.last() {
                    low[*u] = low[*u].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut scc = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        scc.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(scc);
                }
            }
        }
    }
    out
}

impl<A, C, H> Fairness for stateright::actor::ActorModel<A, C, H>
where
    A: stateright::actor::Actor,
    A::Msg: Hash + Ord,
    A::Timer: Hash + Ord,
    A::Random: Hash,
    H: Clone + std::fmt::Debug + Hash,
{
    /// Crashes and losses are faults; deliveries, timers, restarts and random choices are
    /// owed.
    fn action_class(&self, action: &Self::Action) -> ActionClass {
        use stateright::actor::ActorModelAction::{Crash, Drop};
        ActionClass { key: fingerprint(action), fair: !matches!(action, Crash(_) | Drop(_)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::{Expectation, Property};

    /// A toy: a phase that toggles for ever, unless `Finish` (which sets `done`) is taken.
    #[derive(Clone)]
    struct Toy {
        /// `Finish` is enabled in phase 0 only.
        finish_in_phase_0_only: bool,
        /// `Finish` is a fault (never owed).
        finish_is_fault: bool,
        /// The phase does not toggle.
        no_toggle: bool,
        /// `Finish` leads outside the boundary.
        finish_out_of_bounds: bool,
    }

    #[derive(Clone, Debug, Hash, PartialEq)]
    enum Act {
        Toggle,
        Finish,
    }

    impl Model for Toy {
        type State = (u8, bool);
        type Action = Act;
        fn init_states(&self) -> Vec<(u8, bool)> {
            vec![(0, false)]
        }
        fn actions(&self, s: &(u8, bool), out: &mut Vec<Act>) {
            if !s.1 {
                if !self.no_toggle {
                    out.push(Act::Toggle);
                }
                if !self.finish_in_phase_0_only || s.0 == 0 {
                    out.push(Act::Finish);
                }
            }
        }
        fn next_state(&self, s: &(u8, bool), a: Act) -> Option<(u8, bool)> {
            Some(match a {
                Act::Toggle => (1 - s.0, s.1),
                Act::Finish => (s.0, true),
            })
        }
        fn within_boundary(&self, s: &(u8, bool)) -> bool {
            !(self.finish_out_of_bounds && s.1)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![Property {
                expectation: Expectation::Eventually,
                name: "done",
                condition: |_, s| s.1,
            }]
        }
    }

    impl Fairness for Toy {
        fn action_class(&self, a: &Act) -> ActionClass {
            ActionClass { key: fingerprint(a), fair: !(self.finish_is_fault && *a == Act::Finish) }
        }
    }

    const TOY: Toy = Toy {
        finish_in_phase_0_only: false,
        finish_is_fault: false,
        no_toggle: false,
        finish_out_of_bounds: false,
    };

    fn verdict(toy: Toy) -> Option<(Vec<Act>, Vec<Act>)> {
        let r = check(&toy, 100, &Default::default());
        assert!(r.complete);
        r.verdicts.into_iter().next().and_then(|(_, l)| l).map(|l| (l.stem, l.cycle))
    }

    #[test]
    fn a_cycle_that_never_takes_an_always_enabled_action_is_not_fair() {
        // Toggle for ever while Finish stays enabled: weak fairness forces Finish.
        assert!(verdict(TOY).is_none());
    }

    #[test]
    fn a_cycle_through_a_state_where_the_action_is_disabled_is_fair() {
        // Finish is enabled in phase 0 only: toggling for ever is weakly fair.
        let (stem, cycle) = verdict(Toy { finish_in_phase_0_only: true, ..TOY }).unwrap();
        assert!(stem.is_empty());
        assert_eq!(cycle, vec![Act::Toggle, Act::Toggle]);
    }

    #[test]
    fn faults_are_never_owed() {
        let (_, cycle) = verdict(Toy { finish_is_fault: true, ..TOY }).unwrap();
        assert_eq!(cycle, vec![Act::Toggle, Act::Toggle]);
    }

    #[test]
    fn a_state_where_only_faults_can_happen_stutters() {
        let toy = Toy { finish_is_fault: true, no_toggle: true, ..TOY };
        assert_eq!(verdict(toy), Some((vec![], vec![])));
        // With Finish owed there is no counterexample.
        assert!(verdict(Toy { no_toggle: true, ..TOY }).is_none());
    }

    #[test]
    fn an_action_the_bound_cuts_off_is_not_owed_but_marks_the_lasso() {
        // Finish leads outside the bound: the bounded model toggles for ever, and the lasso
        // says that an action the bound cut off was enabled all along.
        let r = check(&Toy { finish_out_of_bounds: true, ..TOY }, 100, &Default::default());
        let lasso = r.verdicts.into_iter().next().and_then(|(_, l)| l).unwrap();
        assert!(lasso.at_bound);
        assert_eq!(lasso.cycle, vec![Act::Toggle, Act::Toggle]);
        let clear = check(&Toy { finish_in_phase_0_only: true, ..TOY }, 100, &Default::default());
        assert!(clear.verdicts.into_iter().all(|(_, l)| l.is_some_and(|l| !l.at_bound)));
        assert_eq!(
            check(&Toy { finish_out_of_bounds: true, ..TOY }, 100, &Default::default()).states,
            2
        );
    }

    /// A second toy: a counter that steps 0 → 1 → 2 → 0, or (`stuck`) spins at 2 for ever;
    /// the goal is 0, and (`leads_to`) the trigger 1.
    #[derive(Clone)]
    struct Ring {
        stuck: bool,
        leads_to: bool,
    }

    impl Model for Ring {
        type State = u8;
        type Action = Act;
        fn init_states(&self) -> Vec<u8> {
            vec![0]
        }
        fn actions(&self, s: &u8, out: &mut Vec<Act>) {
            out.push(if *s == 2 && self.stuck { Act::Finish } else { Act::Toggle });
        }
        fn next_state(&self, s: &u8, a: Act) -> Option<u8> {
            Some(if a == Act::Finish { *s } else { (*s + 1) % 3 })
        }
        fn properties(&self) -> Vec<Property<Self>> {
            let mut props = vec![Property {
                expectation: Expectation::Eventually,
                name: "zero",
                condition: |_, s| *s == 0,
            }];
            if self.leads_to {
                props.push(Property {
                    expectation: Expectation::Sometimes,
                    name: "zero/when",
                    condition: |_, s| *s == 1,
                });
            }
            props
        }
    }

    impl Fairness for Ring {
        fn action_class(&self, a: &Act) -> ActionClass {
            ActionClass { key: fingerprint(a), fair: true }
        }
    }

    #[test]
    fn leads_to_is_judged_after_every_trigger_not_once_from_the_start() {
        let lasso = |ring: Ring| {
            let r = check(&ring, 100, &Default::default());
            assert!(r.complete);
            r.verdicts.into_iter().next().and_then(|(_, l)| l).map(|l| (l.stem, l.cycle))
        };
        // The initial state is the goal: `eventually` holds, stuck at 2 or not.
        assert!(lasso(Ring { stuck: true, leads_to: false }).is_none());
        // 1 ~> 0 does not: the stem passes the goal (0), reaches the trigger (1) and spins at
        // 2 for ever.
        let (stem, cycle) = lasso(Ring { stuck: true, leads_to: true }).unwrap();
        assert_eq!(stem, vec![Act::Toggle, Act::Toggle]);
        assert_eq!(cycle, vec![Act::Finish]);
        // Round and round, 0 comes back after every 1.
        assert!(lasso(Ring { stuck: false, leads_to: true }).is_none());
    }

    #[test]
    fn the_exploration_stops_at_its_limit_and_decides_nothing() {
        let r = check(&Toy { finish_in_phase_0_only: true, ..TOY }, 2, &Default::default());
        assert!(!r.complete);
        assert!(r.verdicts.iter().all(|(_, l)| l.is_none()));
    }

    #[test]
    fn a_stopped_exploration_decides_nothing() {
        let toy = Toy { finish_in_phase_0_only: true, ..TOY };
        assert!(check(&toy, 100, &Default::default()).complete);
        let stop = search::Progress::default();
        stop.stop.store(true, Ordering::Relaxed);
        let r = check(&toy, 100, &stop);
        assert!(!r.complete && r.safety.stopped);
        assert!(r.verdicts.iter().all(|(_, l)| l.is_none()));
    }
}
