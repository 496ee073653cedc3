//! The replicated application, behind the [`Service`] trait.
//!
//! Every protocol of the workbench replicates *some* deterministic service: the primary executes
//! an operation, the change it makes travels to the backup as a change buffer (OPERA's semantic
//! backup, Hagen & Alonso (OPERA) §2.3 and §3.1), and the backup applies it. The trait states what the
//! protocols need from the application and nothing more:
//! - [`Service::apply`] is deterministic: the same state and operation give the same reply and
//!   the same next state, so replaying a change buffer at the backup reproduces the primary;
//! - [`Service::changes_state`] tells updates from reads; reads are not replicated (the logical-checkpointing patent);
//! - [`Service::digest`] is a *logical* digest: two replicas holding the same logical state in
//!   different physical layouts have equal digests (the logical-checkpointing patent, Fig. 2A/2B).
//!
//! - the state is a set of *objects* by key ([`Service::object`], [`Service::set_object`]), so
//!   that a new backup can be given a copy object by object while updates go on (the fuzzy copy
//!   of the logical-checkpointing patent and ClustRa's fuzzy replica production, Hvasshovd et al. (ClustRa) §4).
//!
//! Two services to start with: a key-value [`Register`] (reads and writes; its writes are
//! idempotent) and a keyed [`Counter`] whose increments are not idempotent, so that applying one
//! change twice is visible in the state and in the replies.

/// `object`, `set_object` and `key_space` of a service whose objects are the values of one
/// `BTreeMap` field, over the keys `keys`.
macro_rules! map_objects {
    ($field:ident: $k:ty => $v:ty, keys $keys:expr) => {
        fn object(&self, key: &$k) -> Option<$v> {
            self.$field.get(key).cloned()
        }

        fn set_object(&mut self, key: &$k, object: Option<$v>) {
            match object {
                Some(v) => self.$field.insert(*key, v),
                None => self.$field.remove(key),
            };
        }

        fn key_space() -> Vec<$k> {
            $keys
        }
    };
}

pub mod accounts;
pub mod process;
pub mod transactional;

pub use accounts::Accounts;

/// Runs `$body` with `$S` the [`Service`] type that the model parameter value `$name` names
/// — the one place a service name maps to a type: `register`, `counter`, `accounts` (three
/// TPC-B account rows, so that a copy in batches of two is still fuzzy). Evaluates to
/// `Result<_, ParamError>`: a name it does not know is an error, never a default. Which names a
/// protocol offers is its `service` parameter's choice list.
#[macro_export]
macro_rules! for_service {
    ($name:expr, $S:ident => $body:expr) => {
        match $name {
            "register" => {
                type $S = $crate::services::Register;
                Ok($body)
            }
            "counter" => {
                type $S = $crate::services::Counter;
                Ok($body)
            }
            "accounts" => {
                type $S = $crate::services::Accounts<3>;
                Ok($body)
            }
            other => Err($crate::params::ParamError::BadValue {
                name: "service".into(),
                value: other.into(),
                expected: "one of register|counter|accounts".into(),
            }),
        }
    };
}

/// Declares a protocol's `visit` (see [`crate::spec::ModelSpec`]): reads its `Config` from the
/// parameters, builds the model over the service the `service` parameter names with the
/// protocol's `build`, and hands it to the visitor. `(in_flight_once if cfg => cond)`: the
/// model runs on [`InFlightOnce`](crate::in_flight_once::InFlightOnce)'s network where `cond`
/// holds of the configuration `cfg` (clients that resend for ever).
#[macro_export]
macro_rules! visit_over_service {
    () => {
        /// Builds the model that `params` describes and hands it to `visitor`.
        pub fn visit<V: $crate::spec::ModelVisitor>(
            params: &$crate::params::Params,
            visitor: V,
        ) -> Result<V::Output, $crate::params::ParamError> {
            let cfg = Config::from_params(params)?;
            $crate::for_service!(params.choice("service")?, S => visitor.visit(build::<S>(cfg)))
        }
    };
    (in_flight_once if $cfg:ident => $merged:expr) => {
        /// Builds the model that `params` describes and hands it to `visitor`; where clients
        /// resend for ever, on a network where a message is in flight at most once
        /// ([`InFlightOnce`](crate::in_flight_once::InFlightOnce)).
        pub fn visit<V: $crate::spec::ModelVisitor>(
            params: &$crate::params::Params,
            visitor: V,
        ) -> Result<V::Output, $crate::params::ParamError> {
            let $cfg = Config::from_params(params)?;
            let merged = $merged;
            $crate::for_service!(params.choice("service")?, S => if merged {
                visitor.visit($crate::in_flight_once::InFlightOnce::new(build::<S>($cfg)))
            } else {
                visitor.visit(build::<S>($cfg))
            })
        }
    };
}

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;

/// What travels in a message and is kept in a model's state: an operation or a reply.
pub trait Value:
    Clone + Debug + Eq + Hash + Ord + Send + Sync + Serialize + serde::de::DeserializeOwned + 'static
{
}

impl<T> Value for T where
    T: Clone
        + Debug
        + Eq
        + Hash
        + Ord
        + Send
        + Sync
        + Serialize
        + serde::de::DeserializeOwned
        + 'static
{
}

/// A deterministic replicated application.
pub trait Service:
    Clone + Debug + Default + Eq + Hash + Send + Sync + Serialize + DeserializeOwned + 'static
{
    /// An operation a client asks for.
    type Op: Value;
    /// What the service answers.
    type Reply: Value;

    /// The name of an object (a key).
    type Key: Value + Copy;
    /// An object's logical value.
    type Object: Value;

    /// The service's name in the catalogue (`--set service=NAME`).
    const NAME: &'static str;

    /// Executes `op`, changing the state if it is an update, and returns the reply.
    fn apply(&mut self, op: &Self::Op) -> Self::Reply;

    /// Whether `op` changes the state. Reads (`false`) are not checkpointed to the backup.
    fn changes_state(op: &Self::Op) -> bool;

    /// A digest of the logical state, independent of the physical representation.
    fn digest(&self) -> u64;

    /// The object `op` reads or changes.
    fn key(op: &Self::Op) -> Self::Key;

    /// The value of object `key` (`None`: absent).
    fn object(&self, key: &Self::Key) -> Option<Self::Object>;

    /// Installs object `key` (`None`: removes it), as a copy from another replica does.
    fn set_object(&mut self, key: &Self::Key, object: Option<Self::Object>);

    /// The keys the models' workload can touch: what a full copy goes through.
    fn key_space() -> Vec<Self::Key>;

    /// Object number `i` of the key space (`None` past its end): a full copy walks the key
    /// space with this, one object at a time. A large service overrides it so that a copy
    /// step costs O(1), not O(key space).
    fn nth_key(i: usize) -> Option<Self::Key> {
        Self::key_space().get(i).copied()
    }

    /// The objects of the key space whose values differ between `prev` and `self` (`None`:
    /// absent in `self`): what a save of a copied replica journals (the fuzzy-copy backup's).
    /// The default compares the key space object by object (O(key space): the small
    /// services); a large service overrides it with a diff of persistent maps (O(change)).
    /// Only a service whose state is its objects (the ones a fuzzy copy carries) is rebuilt
    /// exactly from these.
    fn changed_objects(&self, prev: &Self) -> Vec<(Self::Key, Option<Self::Object>)> {
        (0..)
            .map_while(Self::nth_key)
            .filter_map(|k| {
                let now = self.object(&k);
                (now != prev.object(&k)).then_some((k, now))
            })
            .collect()
    }

    /// The state reached from the initial one by applying `ops` in order: how a replica
    /// reinstalls its image from a committed history after a restart.
    fn from_ops<'a>(ops: impl IntoIterator<Item = &'a Self::Op>) -> Self
    where
        Self::Op: 'a,
    {
        let mut s = Self::default();
        for op in ops {
            s.apply(op);
        }
        s
    }

    /// The state a spare starts from when it is brought up to join as a new backup: empty, in
    /// the newest implementation of the service (a rolling upgrade, the logical-checkpointing patent Fig. 2A, brings up
    /// the spare with the new version).
    fn spare() -> Self {
        Self::default()
    }

    /// The `index`-th operation of client number `client` in the models' workload: a small,
    /// fixed workload so that model checking stays finite and counterexamples are readable.
    fn workload(client: usize, index: usize) -> Self::Op;

    /// Whether the primary executes `op` at once into its volatile *workspace*, without a
    /// message-table entry or a checkpoint: a request of a transaction checkpointed as a batch
    /// (the logical-checkpointing patent, Fig. 5B). A failure of the primary loses the
    /// workspace, which aborts the transaction. Logical checkpointing asks; `false` for every
    /// service without transactions.
    fn in_workspace(_op: &Self::Op) -> bool {
        false
    }

    /// What the primary checkpoints for the state-changing request `op`: `op` itself, or, for
    /// the end indicator of a transaction checkpointed as a batch (Fig. 5B), the whole
    /// transaction taken from the workspace. Logical checkpointing asks.
    fn to_checkpoint(&self, op: &Self::Op) -> Self::Op {
        op.clone()
    }
}

/// FNV-1a over a byte string: a digest that is stable across processes, platforms and Rust
/// versions (unlike `std`'s `DefaultHasher`), so digests can be compared between nodes.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Operations of the key-value [`Register`].
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum RegisterOp {
    /// Sets `key` to `value`.
    Put(u8, u8),
    /// Reads `key`.
    Get(u8),
}

/// Replies of the key-value [`Register`].
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum RegisterReply {
    /// The put took effect.
    PutOk,
    /// The value read, `None` if the key was never written.
    GetOk(Option<u8>),
}

/// A key-value register: reads and last-writer-wins writes per key.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Register {
    values: BTreeMap<u8, u8>,
}

impl Register {
    /// The logical content: every key with its value, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (u8, u8)> + '_ {
        self.values.iter().map(|(k, v)| (*k, *v))
    }
}

impl Service for Register {
    type Op = RegisterOp;
    type Reply = RegisterReply;
    type Key = u8;
    type Object = u8;
    const NAME: &'static str = "register";

    fn key(op: &RegisterOp) -> u8 {
        match *op {
            RegisterOp::Put(k, _) | RegisterOp::Get(k) => k,
        }
    }

    map_objects!(values: u8 => u8, keys vec![0, 1]);

    fn apply(&mut self, op: &RegisterOp) -> RegisterReply {
        match *op {
            RegisterOp::Put(k, v) => {
                self.values.insert(k, v);
                RegisterReply::PutOk
            }
            RegisterOp::Get(k) => RegisterReply::GetOk(self.values.get(&k).copied()),
        }
    }

    fn changes_state(op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Put(..))
    }

    fn digest(&self) -> u64 {
        fnv1a(self.entries().flat_map(|(k, v)| [k, v]))
    }

    /// Even-numbered clients write their own value to key 0; odd-numbered clients read key 0.
    fn workload(client: usize, index: usize) -> RegisterOp {
        if client.is_multiple_of(2) {
            // Values are distinct per (client, index) so that a stale read is visible.
            RegisterOp::Put(0, (client * 8 + index + 1) as u8)
        } else {
            RegisterOp::Get(0)
        }
    }
}

/// Operations of the [`Counter`].
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum CounterOp {
    /// Adds to counter `key`; not idempotent.
    Add(u8, u8),
    /// Reads counter `key`.
    Get(u8),
}

impl CounterOp {
    /// Applies the operation: a read returns `value` (the counter's value now); an add adds
    /// to the counter `slot(key)` gives (created at 0 if need be), which a read never creates.
    fn apply<'a>(&self, value: u32, slot: impl FnOnce(u8) -> &'a mut u32) -> CounterReply {
        match *self {
            CounterOp::Add(k, n) => {
                let v = slot(k);
                *v = v.wrapping_add(u32::from(n));
                CounterReply(*v)
            }
            CounterOp::Get(_) => CounterReply(value),
        }
    }
}

/// The digest of counters given as (key, value) by key: absent and zero are the same logical
/// value, so only nonzero counters count.
fn counter_digest(counters: impl Iterator<Item = (u8, u32)>) -> u64 {
    fnv1a(
        counters
            .filter(|(_, v)| *v != 0)
            .flat_map(|(k, v)| std::iter::once(k).chain(v.to_le_bytes())),
    )
}

/// The [`Counter`]'s reply: the counter's value after the operation.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct CounterReply(pub u32);

/// Counters by key whose increments are not idempotent: a change buffer applied twice shows.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    values: BTreeMap<u8, u32>,
}

impl Counter {
    /// Counter `key`'s value (0 if never added to).
    pub fn value(&self, key: u8) -> u32 {
        self.values.get(&key).copied().unwrap_or(0)
    }
}

impl Service for Counter {
    type Op = CounterOp;
    type Reply = CounterReply;
    type Key = u8;
    type Object = u32;
    const NAME: &'static str = "counter";

    fn apply(&mut self, op: &CounterOp) -> CounterReply {
        op.apply(self.value(Self::key(op)), |k| self.values.entry(k).or_insert(0))
    }

    fn changes_state(op: &CounterOp) -> bool {
        matches!(op, CounterOp::Add(..))
    }

    fn digest(&self) -> u64 {
        counter_digest(self.values.iter().map(|(k, v)| (*k, *v)))
    }

    fn key(op: &CounterOp) -> u8 {
        match *op {
            CounterOp::Add(k, _) | CounterOp::Get(k) => k,
        }
    }

    map_objects!(values: u8 => u32, keys vec![0, 1]);

    /// Request `i` of client `c` adds 1 to counter `(c + i) % 2`: the objects alternate, so a
    /// copy taken while they are updated is fuzzy.
    fn workload(client: usize, index: usize) -> CounterOp {
        CounterOp::Add(((client + index) % 2) as u8, 1)
    }
}

/// Version 2 of the [`Counter`]: the same logical counters in another physical layout (a
/// dense array indexed by key instead of a map, zeros included). Logically equal to version 1
/// — same replies, same digest, same objects — which is what a rolling upgrade relies on.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct CounterArray {
    slots: Vec<u32>,
}

impl CounterArray {
    fn slot(&mut self, key: u8) -> &mut u32 {
        let i = usize::from(key);
        if self.slots.len() <= i {
            self.slots.resize(i + 1, 0);
        }
        &mut self.slots[i]
    }

    fn value(&self, key: u8) -> u32 {
        self.slots.get(usize::from(key)).copied().unwrap_or(0)
    }
}

impl Service for CounterArray {
    type Op = CounterOp;
    type Reply = CounterReply;
    type Key = u8;
    type Object = u32;
    const NAME: &'static str = "counter-v2";

    fn apply(&mut self, op: &CounterOp) -> CounterReply {
        op.apply(self.value(Self::key(op)), |k| self.slot(k))
    }

    fn changes_state(op: &CounterOp) -> bool {
        Counter::changes_state(op)
    }

    fn digest(&self) -> u64 {
        // The same bytes as version 1.
        counter_digest(self.slots.iter().enumerate().map(|(k, v)| (k as u8, *v)))
    }

    fn key(op: &CounterOp) -> u8 {
        Counter::key(op)
    }

    fn object(&self, key: &u8) -> Option<u32> {
        Some(self.value(*key)).filter(|v| *v != 0)
    }

    fn set_object(&mut self, key: &u8, object: Option<u32>) {
        *self.slot(*key) = object.unwrap_or(0);
    }

    fn key_space() -> Vec<u8> {
        Counter::key_space()
    }

    fn workload(client: usize, index: usize) -> CounterOp {
        Counter::workload(client, index)
    }
}

/// A service running in version 1 (`A`) or version 2 (`B`) of its implementation: the two
/// share operations, replies and logical objects and differ in representation. A replica
/// starts in version 1; a [`Service::spare`] starts in version 2.
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub enum Versions<A, B> {
    /// Version 1.
    V1(A),
    /// Version 2.
    V2(B),
}

impl<A: Default, B> Default for Versions<A, B> {
    fn default() -> Self {
        Versions::V1(A::default())
    }
}

impl<A, B> Service for Versions<A, B>
where
    A: Service,
    B: Service<Op = A::Op, Reply = A::Reply, Key = A::Key, Object = A::Object>,
{
    type Op = A::Op;
    type Reply = A::Reply;
    type Key = A::Key;
    type Object = A::Object;
    const NAME: &'static str = A::NAME;

    fn apply(&mut self, op: &A::Op) -> A::Reply {
        match self {
            Versions::V1(a) => a.apply(op),
            Versions::V2(b) => b.apply(op),
        }
    }

    fn changes_state(op: &A::Op) -> bool {
        A::changes_state(op)
    }

    fn digest(&self) -> u64 {
        match self {
            Versions::V1(a) => a.digest(),
            Versions::V2(b) => b.digest(),
        }
    }

    fn key(op: &A::Op) -> A::Key {
        A::key(op)
    }

    fn object(&self, key: &A::Key) -> Option<A::Object> {
        match self {
            Versions::V1(a) => a.object(key),
            Versions::V2(b) => b.object(key),
        }
    }

    fn set_object(&mut self, key: &A::Key, object: Option<A::Object>) {
        match self {
            Versions::V1(a) => a.set_object(key, object),
            Versions::V2(b) => b.set_object(key, object),
        }
    }

    fn key_space() -> Vec<A::Key> {
        A::key_space()
    }

    fn nth_key(i: usize) -> Option<A::Key> {
        A::nth_key(i)
    }

    fn spare() -> Self {
        Versions::V2(B::default())
    }

    fn workload(client: usize, index: usize) -> A::Op {
        A::workload(client, index)
    }
}

/// Operations of the TPC-B-like [`Bank`].
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum BankOp {
    /// TPC-B's transaction: add `delta` to an account, its teller and its branch (3 updates)
    /// and insert a history row (1 insert); returns the account's new balance.
    Transfer {
        /// The account.
        account: u32,
        /// The teller.
        teller: u16,
        /// The branch.
        branch: u16,
        /// The amount.
        delta: i32,
    },
    /// Reads an account's balance.
    Balance(u32),
}

/// The [`Bank`]'s reply: an account's balance.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct BankReply(pub i64);

/// A TPC-B-like bank (the workload of Hvasshovd et al. (ClustRa) §6, Fig. 3-5): accounts, tellers, branches and
/// a history table that each transaction inserts into. Scale: 1 branch, 10 tellers, 100,000
/// accounts. The history is kept as a row count and a digest of the rows.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Bank {
    /// Persistent maps (`imbl`): a replica's state is copied at every protocol step (a
    /// stateright handler returns a new state), so a copy must share, not duplicate, the
    /// 100,000 accounts.
    accounts: imbl::OrdMap<u32, i64>,
    tellers: imbl::OrdMap<u16, i64>,
    branches: imbl::OrdMap<u16, i64>,
    history_rows: u64,
    history_digest: u64,
}

/// The balances that are not zero (absent and zero are the same logical value), as bytes.
fn nonzero_balances<K: Copy + Ord + Into<u64>>(
    m: &imbl::OrdMap<K, i64>,
) -> impl Iterator<Item = u8> + '_ {
    m.iter()
        .filter(|(_, v)| **v != 0)
        .flat_map(|(k, v)| (*k).into().to_le_bytes().into_iter().chain(v.to_le_bytes()))
}

/// TPC-B's scale for one branch.
pub const BANK_ACCOUNTS: u32 = 100_000;

impl Bank {
    /// Rows inserted into the history table.
    pub fn history_rows(&self) -> u64 {
        self.history_rows
    }

    /// The sum of all branch balances (TPC-B's consistency condition: equal to the sums of
    /// tellers and of accounts).
    pub fn totals(&self) -> (i64, i64, i64) {
        (self.accounts.values().sum(), self.tellers.values().sum(), self.branches.values().sum())
    }
}

/// One row update of TPC-B's transaction: a [`BankOp::Transfer`] is these four, in this order
/// ([`Bank::rows`]), which a transaction can send as four requests ([`TpcbRows`]).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum RowOp {
    /// Adds `delta` to an account's balance; returns the new balance.
    Account {
        /// The account.
        account: u32,
        /// The amount.
        delta: i32,
    },
    /// Adds `delta` to a teller's balance; returns the new balance.
    Teller {
        /// The teller.
        teller: u16,
        /// The amount.
        delta: i32,
    },
    /// Adds `delta` to a branch's balance; returns the new balance.
    Branch {
        /// The branch.
        branch: u16,
        /// The amount.
        delta: i32,
    },
    /// Inserts a history row; returns the history's row count.
    History {
        /// The account.
        account: u32,
        /// The amount.
        delta: i32,
    },
    /// Reads an account's balance.
    Balance(u32),
}

impl Bank {
    /// The four row updates that make up a `Transfer` (`None` for a read).
    pub fn rows(op: &BankOp) -> Option<[RowOp; 4]> {
        match *op {
            BankOp::Transfer { account, teller, branch, delta } => Some([
                RowOp::Account { account, delta },
                RowOp::Teller { teller, delta },
                RowOp::Branch { branch, delta },
                RowOp::History { account, delta },
            ]),
            BankOp::Balance(_) => None,
        }
    }

    /// Applies one row update.
    fn apply_row(&mut self, op: &RowOp) -> i64 {
        fn add<K: Ord + Clone>(m: &mut imbl::OrdMap<K, i64>, k: K, delta: i32) -> i64 {
            let v = m.entry(k).or_insert(0);
            *v += i64::from(delta);
            *v
        }
        match *op {
            RowOp::Account { account, delta } => add(&mut self.accounts, account, delta),
            RowOp::Teller { teller, delta } => add(&mut self.tellers, teller, delta),
            RowOp::Branch { branch, delta } => add(&mut self.branches, branch, delta),
            RowOp::History { account, delta } => {
                self.history_rows += 1;
                self.history_digest = fnv1a(
                    self.history_digest
                        .to_le_bytes()
                        .into_iter()
                        .chain(account.to_le_bytes())
                        .chain(delta.to_le_bytes()),
                );
                self.history_rows as i64
            }
            RowOp::Balance(a) => self.accounts.get(&a).copied().unwrap_or(0),
        }
    }
}

/// The TPC-B-like [`Bank`] updated row by row: each request is one of a transfer's four row
/// updates, so that a TPC-B transaction is a transaction of four requests (the
/// logical-checkpointing patent, Fig. 5A-5C; `twosafe load --txn-ops 4` over `service =
/// "tpcb-rows"`). Requests `4t .. 4t + 4` of a client's workload are the rows of transfer `t`
/// of [`Bank`]'s, so four row requests leave the bank as one transfer does.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct TpcbRows(pub Bank);

impl Service for TpcbRows {
    type Op = RowOp;
    /// The row's new value (a balance, or the history's row count).
    type Reply = i64;
    type Key = u32;
    type Object = i64;
    const NAME: &'static str = "tpcb-rows";

    fn apply(&mut self, op: &RowOp) -> i64 {
        self.0.apply_row(op)
    }

    fn changes_state(op: &RowOp) -> bool {
        !matches!(op, RowOp::Balance(_))
    }

    fn digest(&self) -> u64 {
        self.0.digest()
    }

    /// The account a row names (tellers, branches and the history are not objects of their
    /// own: this service is not copied object by object).
    fn key(op: &RowOp) -> u32 {
        match *op {
            RowOp::Account { account, .. }
            | RowOp::History { account, .. }
            | RowOp::Balance(account) => account,
            RowOp::Teller { .. } | RowOp::Branch { .. } => u32::MAX,
        }
    }

    fn object(&self, key: &u32) -> Option<i64> {
        self.0.object(key)
    }

    fn set_object(&mut self, key: &u32, object: Option<i64>) {
        self.0.set_object(key, object)
    }

    fn key_space() -> Vec<u32> {
        Bank::key_space()
    }

    fn workload(client: usize, index: usize) -> RowOp {
        Bank::rows(&Bank::workload(client, index / 4))
            .map_or(RowOp::Balance(0), |rows| rows[index % 4])
    }
}

impl Service for Bank {
    type Op = BankOp;
    type Reply = BankReply;
    type Key = u32;
    type Object = i64;
    const NAME: &'static str = "tpcb";

    fn apply(&mut self, op: &BankOp) -> BankReply {
        match *op {
            BankOp::Transfer { account, teller, branch, delta } => {
                let balance = self.apply_row(&RowOp::Account { account, delta });
                self.apply_row(&RowOp::Teller { teller, delta });
                self.apply_row(&RowOp::Branch { branch, delta });
                self.apply_row(&RowOp::History { account, delta });
                BankReply(balance)
            }
            BankOp::Balance(a) => BankReply(self.accounts.get(&a).copied().unwrap_or(0)),
        }
    }

    fn changes_state(op: &BankOp) -> bool {
        matches!(op, BankOp::Transfer { .. })
    }

    fn digest(&self) -> u64 {
        fnv1a(
            nonzero_balances(&self.accounts)
                .chain(nonzero_balances(&self.tellers))
                .chain(nonzero_balances(&self.branches))
                .chain(self.history_rows.to_le_bytes())
                .chain(self.history_digest.to_le_bytes()),
        )
    }

    fn key(op: &BankOp) -> u32 {
        match *op {
            BankOp::Transfer { account, .. } | BankOp::Balance(account) => account,
        }
    }

    map_objects!(accounts: u32 => i64, keys vec![0, 1]);

    /// A uniformly spread account (a hash of client and index), its teller, branch 0, and an
    /// amount in -999..=999, as TPC-B draws them.
    fn workload(client: usize, index: usize) -> BankOp {
        let h =
            fnv1a((client as u64).to_le_bytes().into_iter().chain((index as u64).to_le_bytes()));
        let account = (h % u64::from(BANK_ACCOUNTS)) as u32;
        BankOp::Transfer {
            account,
            teller: (account / (BANK_ACCOUNTS / 10)) as u16,
            branch: 0,
            delta: ((h >> 32) % 1999) as i32 - 999,
        }
    }
}

/// A service seen as stateright's sequential specification, so that the client-visible
/// history of any protocol can be checked for linearizability against the service itself.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
pub struct SequentialService<S>(pub S);

impl<S: Service> stateright::semantics::SequentialSpec for SequentialService<S> {
    type Op = S::Op;
    type Ret = S::Reply;

    fn invoke(&mut self, op: &S::Op) -> S::Reply {
        self.0.apply(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A transfer and its four rows applied one by one leave the bank in the same state,
        /// and the workload's requests `4t .. 4t + 4` are the rows of transfer `t`.
        #[test]
        fn four_row_requests_are_one_transfer(client in 0usize..8, transfers in 1usize..30) {
            let (mut whole, mut rows) = (Bank::default(), TpcbRows::default());
            for t in 0..transfers {
                let op = Bank::workload(client, t);
                let BankReply(balance) = whole.apply(&op);
                let replies: Vec<i64> =
                    (4 * t..4 * t + 4).map(|i| rows.apply(&TpcbRows::workload(client, i))).collect();
                prop_assert_eq!(replies[0], balance);
                prop_assert_eq!(replies[3], t as i64 + 1, "the history's row count");
                prop_assert_eq!(whole.digest(), rows.digest());
            }
            prop_assert_eq!(&whole, &rows.0);
            let (a, t, b) = rows.0.totals();
            prop_assert!(a == t && t == b, "TPC-B's consistency condition");
        }

        /// The two versions of the counter are logically equal: the same operations give the
        /// same replies, digests and objects, and an object copied from one into the other
        /// (a fuzzy copy across versions) is the same object.
        #[test]
        fn counter_versions_are_logically_equal(ops in proptest::collection::vec((0u8..3, 0u8..4, any::<bool>()), 0..40)) {
            let mut v1 = Counter::default();
            let mut v2 = CounterArray::default();
            for (k, n, read) in ops {
                let op = if read { CounterOp::Get(k) } else { CounterOp::Add(k, n) };
                prop_assert_eq!(v1.apply(&op), v2.apply(&op));
                prop_assert_eq!(v1.digest(), v2.digest());
            }
            let mut copied = CounterArray::default();
            for k in 0u8..3 {
                prop_assert_eq!(v1.object(&k).filter(|v| *v != 0), v2.object(&k));
                copied.set_object(&k, v1.object(&k));
            }
            prop_assert_eq!(copied.digest(), v1.digest());
        }

        /// TPC-B's consistency: the sums of accounts, tellers and branches agree, one history
        /// row per transaction, and replaying the operations rebuilds the same state.
        #[test]
        fn bank_transfers_keep_tpcb_consistency(client in 0usize..8, n in 0usize..200) {
            let ops: Vec<BankOp> = (0..n).map(|i| Bank::workload(client, i)).collect();
            let mut b = Bank::default();
            let mut sum = 0i64;
            for op in &ops {
                if let BankOp::Transfer { delta, .. } = op { sum += i64::from(*delta); }
                b.apply(op);
            }
            prop_assert_eq!(b.totals(), (sum, sum, sum));
            prop_assert_eq!(b.history_rows(), n as u64);
            prop_assert_eq!(Bank::from_ops(&ops).digest(), b.digest());
        }
    }

    /// The same register kept in another physical layout: an unsorted association list.
    #[derive(Default)]
    struct ListRegister(Vec<(u8, u8)>);

    impl ListRegister {
        fn apply(&mut self, op: &RegisterOp) -> RegisterReply {
            match *op {
                RegisterOp::Put(k, v) => {
                    self.0.retain(|(key, _)| *key != k);
                    self.0.push((k, v));
                    RegisterReply::PutOk
                }
                RegisterOp::Get(k) => {
                    RegisterReply::GetOk(self.0.iter().find(|(key, _)| *key == k).map(|p| p.1))
                }
            }
        }
        fn digest(&self) -> u64 {
            let mut sorted = self.0.clone();
            sorted.sort();
            fnv1a(sorted.into_iter().flat_map(|(k, v)| [k, v]))
        }
    }

    fn register_op() -> impl Strategy<Value = RegisterOp> {
        prop_oneof![
            (0u8..4, any::<u8>()).prop_map(|(k, v)| RegisterOp::Put(k, v)),
            (0u8..4).prop_map(RegisterOp::Get),
        ]
    }

    fn counter_op() -> impl Strategy<Value = CounterOp> {
        prop_oneof![
            (0u8..2, 0u8..5).prop_map(|(k, n)| CounterOp::Add(k, n)),
            (0u8..2).prop_map(CounterOp::Get)
        ]
    }

    fn run<S: Service>(ops: &[S::Op]) -> (S, Vec<S::Reply>) {
        let mut s = S::default();
        let replies = ops.iter().map(|op| s.apply(op)).collect();
        (s, replies)
    }

    proptest! {
        #[test]
        fn register_apply_is_deterministic(ops in prop::collection::vec(register_op(), 0..40)) {
            prop_assert_eq!(run::<Register>(&ops), run::<Register>(&ops));
        }

        #[test]
        fn counter_apply_is_deterministic(ops in prop::collection::vec(counter_op(), 0..40)) {
            prop_assert_eq!(run::<Counter>(&ops), run::<Counter>(&ops));
        }

        /// The register behaves as its sequential spec (a map) and its digest is logical: the
        /// list layout gives the same replies and the same digest.
        #[test]
        fn register_matches_another_layout(ops in prop::collection::vec(register_op(), 0..40)) {
            let mut map = Register::default();
            let mut list = ListRegister::default();
            for op in &ops {
                prop_assert_eq!(map.apply(op), list.apply(op));
            }
            prop_assert_eq!(map.digest(), list.digest());
        }

        /// Equal digests iff equal logical state (over small states, where collisions of a
        /// 64-bit digest are not a concern).
        #[test]
        fn register_digest_iff_equal(a in prop::collection::vec(register_op(), 0..12),
                                     b in prop::collection::vec(register_op(), 0..12)) {
            let (x, _) = run::<Register>(&a);
            let (y, _) = run::<Register>(&b);
            prop_assert_eq!(x == y, x.digest() == y.digest());
        }

        /// Each counter is the sum of its adds, and a double apply of an add is visible.
        #[test]
        fn counter_is_a_sum_and_double_apply_shows(ops in prop::collection::vec(counter_op(), 0..40), n in 1u8..5) {
            let (c, replies) = run::<Counter>(&ops);
            for key in 0..2 {
                let sum: u32 = ops.iter().map(|op| match op { CounterOp::Add(k, x) if *k == key => u32::from(*x), _ => 0 }).sum();
                prop_assert_eq!(c.value(key), sum);
            }
            if let (Some(op), Some(reply)) = (ops.last(), replies.last()) {
                prop_assert_eq!(*reply, CounterReply(c.value(Counter::key(op))));
            }
            let mut once = c.clone();
            once.apply(&CounterOp::Add(0, n));
            let mut twice = once.clone();
            twice.apply(&CounterOp::Add(0, n));
            prop_assert_ne!(once.digest(), twice.digest());
        }

        /// Copying every object of the key space reproduces the logical state.
        #[test]
        fn object_copy_reproduces_the_state(r in prop::collection::vec(register_op(), 0..30),
                                            c in prop::collection::vec(counter_op(), 0..30)) {
            fn copy<S: Service>(from: &S) -> S {
                let mut to = S::default();
                for k in S::key_space() {
                    to.set_object(&k, from.object(&k));
                }
                to
            }
            let r: Vec<_> = r.into_iter().map(|op| match op { RegisterOp::Put(k, v) => RegisterOp::Put(k % 2, v), RegisterOp::Get(k) => RegisterOp::Get(k % 2) }).collect();
            let (reg, _) = run::<Register>(&r);
            prop_assert_eq!(copy(&reg).digest(), reg.digest());
            let (ctr, _) = run::<Counter>(&c);
            prop_assert_eq!(copy(&ctr).digest(), ctr.digest());
        }
    }

    /// quickcheck: reads never change the state, for either service.
    #[test]
    fn reads_do_not_change_state() {
        fn register(puts: Vec<(u8, u8)>, k: u8) -> bool {
            let mut r = Register::default();
            for (k, v) in puts {
                r.apply(&RegisterOp::Put(k, v));
            }
            let before = r.clone();
            r.apply(&RegisterOp::Get(k));
            r == before && !Register::changes_state(&RegisterOp::Get(k))
        }
        fn counter(adds: Vec<(u8, u8)>, k: u8) -> bool {
            let mut c = Counter::default();
            for (key, a) in adds {
                c.apply(&CounterOp::Add(key, a));
            }
            let before = c.clone();
            c.apply(&CounterOp::Get(k));
            c == before && !Counter::changes_state(&CounterOp::Get(k))
        }
        quickcheck::quickcheck(register as fn(Vec<(u8, u8)>, u8) -> bool);
        quickcheck::quickcheck(counter as fn(Vec<(u8, u8)>, u8) -> bool);
    }
}
