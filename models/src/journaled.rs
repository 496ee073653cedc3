//! What a role saves, as a *change* against what it saved before: the runtime appends the
//! change to its journal, so a save costs O(change), not O(state) (WORKBENCH: "a `save` …
//! costs O(change)"). The model checker keeps whole values; the runtime keeps changes.
//!
//! The law every implementation keeps (property-tested per type):
//! `prev.apply(next.change_from(prev)) == next`.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A durable state that can be saved as a change against the previous save.
pub trait Journaled: Clone + Serialize + DeserializeOwned {
    /// The change record appended to the journal.
    type Change: Serialize + DeserializeOwned;

    /// The change that turns `prev` into `self`.
    fn change_from(&self, prev: &Self) -> Self::Change;

    /// Applies a change made by [`Journaled::change_from`] against a value equal to `self`.
    fn apply(&mut self, change: Self::Change);

    /// Moves the journal's copy of the last save (`self`) on to `next`, whose change from
    /// `self` is `change`. The default applies the change. A state made of persistent
    /// structures takes a (cheap, shared) clone of `next` instead, so that the next
    /// [`Journaled::change_from`] finds the unchanged parts shared and stays O(change).
    fn advance(&mut self, change: Self::Change, next: &Self) {
        let _ = next;
        self.apply(change);
    }
}
