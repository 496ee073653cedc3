//! TPC-B's account table as a service of `N` objects (the workload of Hvasshovd et al. (ClustRa) §6, accounts
//! only): the service a new backup is built for by fuzzy copy in the runtime's `catchup`
//! experiment. Every operation touches one account, so every update belongs to exactly one
//! object — what the fuzzy copy's per-object generations rely on (a whole TPC-B transaction
//! touches four objects: account, teller, branch and a history row).
//!
//! The table is a persistent map (`imbl`): a role's state is copied at every step, and the copy
//! shares the `N` rows; a save is the rows that changed ([`Journaled`]), found by a diff that
//! skips the shared parts.

use crate::journaled::Journaled;
use crate::services::{fnv1a, Service};
use imbl::ordmap::DiffItem;
use serde::{Deserialize, Serialize};

/// TPC-B's account row: 100 bytes with its key (id 4, branch 4, balance 8, filler 84).
#[derive(Clone, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Account {
    /// The branch the account belongs to.
    pub branch: u32,
    /// The balance.
    pub balance: i64,
    /// TPC-B's filler.
    pub filler: Vec<u8>,
}

/// Readable in counterexamples: the filler's length, not its bytes.
impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Account {{ balance: {}, branch: {}, filler: {} bytes }}",
            self.balance,
            self.branch,
            self.filler.len()
        )
    }
}

impl Account {
    /// Account `id`'s row as the table is loaded: balance 0.
    pub fn initial(id: u32) -> Account {
        Account { branch: id / 100_000, balance: 0, filler: vec![(id % 251) as u8; 84] }
    }
}

/// Operations on the accounts.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum AccountsOp {
    /// Adds `delta` to an account's balance; returns the new balance.
    Deposit {
        /// The account.
        account: u32,
        /// The amount.
        delta: i32,
    },
    /// Reads an account's balance.
    Balance(u32),
}

/// The reply: an account's balance.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct AccountsReply(pub i64);

/// `N` accounts, all present from the start (the loaded table).
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Accounts<const N: u32> {
    rows: imbl::OrdMap<u32, Account>,
}

impl<const N: u32> Default for Accounts<N> {
    fn default() -> Self {
        Accounts { rows: (0..N).map(|id| (id, Account::initial(id))).collect() }
    }
}

impl<const N: u32> Accounts<N> {
    /// How many rows the table holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl<const N: u32> Service for Accounts<N> {
    type Op = AccountsOp;
    type Reply = AccountsReply;
    type Key = u32;
    type Object = Account;
    const NAME: &'static str = "accounts";

    fn apply(&mut self, op: &AccountsOp) -> AccountsReply {
        match *op {
            AccountsOp::Deposit { account, delta } => {
                let row = self.rows.entry(account).or_insert_with(|| Account::initial(account));
                row.balance += i64::from(delta);
                AccountsReply(row.balance)
            }
            AccountsOp::Balance(a) => AccountsReply(self.rows.get(&a).map_or(0, |row| row.balance)),
        }
    }

    fn changes_state(op: &AccountsOp) -> bool {
        matches!(op, AccountsOp::Deposit { .. })
    }

    fn digest(&self) -> u64 {
        fnv1a(self.rows.iter().flat_map(|(id, row)| {
            id.to_le_bytes()
                .into_iter()
                .chain(row.branch.to_le_bytes())
                .chain(row.balance.to_le_bytes())
                .chain(row.filler.iter().copied())
        }))
    }

    fn key(op: &AccountsOp) -> u32 {
        match *op {
            AccountsOp::Deposit { account, .. } | AccountsOp::Balance(account) => account,
        }
    }

    map_objects!(rows: u32 => Account, keys (0..N).collect());

    /// The rows that changed, by a diff of the persistent maps: O(change), whatever `N`.
    fn changed_objects(&self, prev: &Self) -> Vec<(u32, Option<Account>)> {
        prev.rows
            .diff(&self.rows)
            .map(|d| match d {
                DiffItem::Add(k, row) | DiffItem::Update { new: (k, row), .. } => {
                    (*k, Some(row.clone()))
                }
                DiffItem::Remove(k, _) => (*k, None),
            })
            .collect()
    }

    /// A spare starts with an empty table: the fuzzy copy brings every row.
    fn spare() -> Self {
        Accounts { rows: imbl::OrdMap::new() }
    }

    fn nth_key(i: usize) -> Option<u32> {
        u32::try_from(i).ok().filter(|k| *k < N)
    }

    /// A uniformly spread account (a hash of client and index) and an amount in -999..=999.
    fn workload(client: usize, index: usize) -> AccountsOp {
        let h =
            fnv1a((client as u64).to_le_bytes().into_iter().chain((index as u64).to_le_bytes()));
        AccountsOp::Deposit {
            account: (h % u64::from(N.max(1))) as u32,
            delta: ((h >> 32) % 1999) as i32 - 999,
        }
    }
}

impl<const N: u32> Journaled for Accounts<N> {
    /// The rows that changed (`None`: removed).
    type Change = Vec<(u32, Option<Account>)>;

    fn change_from(&self, prev: &Self) -> Self::Change {
        self.changed_objects(prev)
    }

    fn apply(&mut self, change: Self::Change) {
        for (k, row) in change {
            self.set_object(&k, row);
        }
    }

    fn advance(&mut self, _: Self::Change, next: &Self) {
        *self = next.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Small = Accounts<16>;

    fn op() -> impl Strategy<Value = AccountsOp> {
        prop_oneof![
            (0u32..20, -999i32..1000)
                .prop_map(|(account, delta)| AccountsOp::Deposit { account, delta }),
            (0u32..20).prop_map(AccountsOp::Balance),
        ]
    }

    proptest! {
        /// The journal's law for the table: `prev.apply(next.change_from(prev)) == next`, and
        /// the change names only the rows that changed (the fuzzy-copy backup that holds the
        /// table is checked in `fuzzy_copy::backup`).
        #[test]
        fn a_save_is_the_change(before in prop::collection::vec(op(), 0..20),
                                after in prop::collection::vec(op(), 0..20)) {
            let mut prev = Small::default();
            for o in &before { Service::apply(&mut prev, o); }
            let mut next = prev.clone();
            for o in &after { Service::apply(&mut next, o); }
            let change = next.change_from(&prev);
            let touched: std::collections::BTreeSet<u32> = after
                .iter()
                .filter(|o| Small::changes_state(o))
                .map(Small::key)
                .collect();
            prop_assert!(change.len() <= touched.len());
            let mut replayed = prev.clone();
            Journaled::apply(&mut replayed, change);
            prop_assert_eq!(&replayed, &next);
        }
    }

    #[test]
    fn the_key_space_is_the_n_accounts() {
        assert_eq!(Small::nth_key(0), Some(0));
        assert_eq!(Small::nth_key(15), Some(15));
        assert_eq!(Small::nth_key(16), None);
        assert_eq!(Small::default().len(), 16);
        assert_eq!(Small::key_space().len(), 16);
    }
}
