//! Storage faults on a real cluster: `twosafe node` processes under a counter load, each
//! fault kills a node, damages its data (a torn final record, a flipped byte, garbage
//! appended, an emptied journal, a deleted data directory) and restarts it — the backup, then
//! the primary (the backup takes over), then each again after that takeover — in both
//! durability modes. A damaged node must refuse to start and say how to rejoin; it is then
//! started with `--rejoin` and comes back as a learner. A torn tail must be cut and the node
//! must start. Judged as `chaos` judges: no acknowledged update lost, none applied twice,
//! real-time order, every request answered (no permanent outage), every node step a step of
//! the model.

use std::path::Path;
use twosafe::runtime::binding::Protocol;
use twosafe::runtime::chaos::{self, ChaosSpec, StorageFault};
use twosafe::runtime::config::{Durability, SilentBackup};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_twosafe"))
}

/// Four faults of one kind (backup, primary, backup, primary), in one durability mode, on a
/// linear-2PC cluster.
fn storage_round(fault: StorageFault, durability: Durability, seed: u64) {
    storage_round_of(Protocol::Linear2pc, fault, durability, seed)
}

/// Four faults of one kind (backup, primary, backup, primary) on a cluster of `protocol`.
fn storage_round_of(protocol: Protocol, fault: StorageFault, durability: Durability, seed: u64) {
    let dir = std::env::temp_dir().join(format!(
        "twosafe-storage-{}-{}-{}-{durability:?}",
        std::process::id(),
        protocol.name(),
        fault.name()
    ));
    let spec = ChaosSpec {
        seconds: 11.0,
        seed,
        durability,
        backup_kills: 0,
        primary_kills: 0,
        partitions: 0,
        window: 3,
        per_session: 1,
        storage_faults: vec![fault; 4],
        silent_backup: SilentBackup::Block,
        protocol,
        buffers: 1,
        txn: Default::default(),
    };
    let r = chaos::run(exe(), &dir, &spec).unwrap();
    let context = format!("{} in {durability:?} mode, seed {seed}: {r:#?}", fault.name());
    assert_eq!(r.history_violation, None, "{context}");
    assert_eq!(r.storage_violation, None, "{context}");
    assert_eq!(r.conformance_violation, None, "{context}");
    assert_eq!(r.unanswered, 0, "every request answered: {context}");
    assert!(r.answered > 50, "the load made progress: {context}");
    assert!(r.takeovers >= 2, "a takeover per damaged primary: {context}");
    let rejoins = r.faults.iter().filter(|f| f.what.starts_with("restart node")).count();
    let logs: String = (0..2)
        .map(|id| std::fs::read_to_string(dir.join(format!("node{id}.log"))).unwrap_or_default())
        .collect();
    if fault.refused() {
        assert_eq!(rejoins, 4, "each damaged node refused and rejoined: {context}");
        assert_eq!(logs.matches("rejoins as a learner").count(), 4, "{context}\n{logs}");
    } else {
        assert_eq!(rejoins, 0, "a torn tail is not refused: {context}");
        assert_eq!(logs.matches("a torn final record of").count(), 4, "{context}\n{logs}");
        // The backup's torn record may have been acknowledged: it restarts as a learner.
        assert_eq!(logs.matches("restarts as a learner").count(), 2, "{context}\n{logs}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Both durability modes at once (the rounds mostly wait for takeovers and joins).
fn both_modes(fault: StorageFault, seed: u64) {
    let memory = std::thread::spawn(move || storage_round(fault, Durability::Memory, seed));
    storage_round(fault, Durability::Fsync, seed + 1);
    if let Err(panic) = memory.join() {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn a_torn_tail_is_cut_and_a_backup_restarts_as_a_learner() {
    both_modes(StorageFault::TornTail, 11);
}

#[test]
fn a_flipped_byte_is_refused_and_the_node_rejoins_losing_nothing() {
    both_modes(StorageFault::FlippedByte, 21);
}

#[test]
fn garbage_after_the_journal_is_refused_and_the_node_rejoins_losing_nothing() {
    both_modes(StorageFault::Garbage, 31);
}

#[test]
fn an_empty_journal_is_refused_and_the_node_rejoins_losing_nothing() {
    both_modes(StorageFault::EmptyJournal, 41);
}

#[test]
fn a_deleted_data_directory_is_refused_and_the_node_rejoins_losing_nothing() {
    both_modes(StorageFault::DeletedDir, 51);
}

/// Logical checkpointing's storage loss (proofs.md, "Storage loss"): a node whose journal is
/// damaged refuses to start and rejoins with `--rejoin` as a learner, caught up in a new epoch;
/// a torn tail is cut, and a backup restarts as a learner. A flipped byte in memory mode, a torn
/// tail in fsync mode, four faults each, nothing lost.
#[test]
fn logical_checkpointing_nodes_rejoin_as_learners_after_storage_faults() {
    let lc = Protocol::LogicalCheckpointing;
    let memory = std::thread::spawn(move || {
        storage_round_of(lc, StorageFault::FlippedByte, Durability::Memory, 21)
    });
    storage_round_of(lc, StorageFault::TornTail, Durability::Fsync, 22);
    if let Err(panic) = memory.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Transactions over logical checkpointing's roles: a node whose journal was emptied refuses
/// to start and rejoins as a learner; the history is judged as transactions (all or none).
#[test]
fn a_transactions_node_rejoins_as_a_learner_after_its_journal_is_emptied() {
    storage_round_of(Protocol::Transactions, StorageFault::EmptyJournal, Durability::Memory, 31);
}
