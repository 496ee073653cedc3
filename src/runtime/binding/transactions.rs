//! Transactions bound to the runtime (the logical-checkpointing patent, Fig. 5A-5C): logical
//! checkpointing's own roles ([`super::logical_checkpointing`]) replicating the transactional
//! service [`Txn`], exactly as the checked model `transactions` composes them. The binding
//! adds nothing to the roles; it names the protocol, restricts the service to the two whose
//! updates make transactions (`counter`, whose history `chaos` judges, and `tpcb-rows`, whose
//! TPC-B transaction is four requests), and wraps the cluster file's service in [`Txn`]
//! ([`with_hosted!`](crate::with_hosted)).
//!
//! Whether a transaction is checkpointed as a batch (Fig. 5B) or entry by entry (Fig. 5C) is
//! carried by every request ([`TxnOp`]), so one cluster serves both; `twosafe load
//! --txn-mode` chooses ([`crate::runtime::load::run_transactions`]).

use super::logical_checkpointing::LogicalCheckpointing;
use super::{Binding, MsgOf, StorageOf};
use crate::runtime::config::{ClusterConfig, ServiceKind};
use crate::runtime::host::Observer;
use twosafe_models::logical_checkpointing::server::Durable;
use twosafe_models::logical_checkpointing::transactions::NAME;
use twosafe_models::logical_checkpointing::Node;
use twosafe_models::services::transactional::{self, Transactional};
use twosafe_models::services::Service;

/// The transactional service over `S` as the runtime replicates it: transactions of any
/// length, either mode per transaction, no seeded bug (`OPS` and `BATCH` shape only the
/// model's workload, which the runtime's load replaces).
pub type Txn<S> = Transactional<S, 0, false, { transactional::NONE }>;

/// An operation of [`Txn`] over `S`.
pub type TxnOp<S> = transactional::TxnOp<<S as Service>::Op>;
/// Its reply.
pub type TxnReply<S> = transactional::TxnReply<<S as Service>::Reply>;

/// The binding of transactions. Its `Node<S>` is instantiated with `S` = [`Txn`] of the
/// cluster file's service ([`with_hosted!`](crate::with_hosted)).
#[derive(Clone, Copy, Debug)]
pub struct Transactions;

impl Binding for Transactions {
    const NAME: &'static str = NAME;
    type Node<S: Service> = Node<S>;

    fn validate(cfg: &ClusterConfig) -> Result<(), String> {
        LogicalCheckpointing::validate(cfg)
            .map_err(|e| e.replacen("logical-checkpointing", NAME, 1))?;
        if !matches!(cfg.service, ServiceKind::Counter | ServiceKind::TpcbRows) {
            return Err(format!(
                "transactions run over service = \"counter\" or \"tpcb-rows\" (updates that \
                 a transaction groups), not \"{}\"",
                format!("{:?}", cfg.service).to_lowercase()
            ));
        }
        Ok(())
    }

    fn server<S: Service>(cfg: &ClusterConfig, id: usize) -> Node<S> {
        LogicalCheckpointing::server::<S>(cfg, id)
    }

    /// One request at a time: a transaction's requests follow each other, and the transactions
    /// model checks clients of window 1.
    fn client<S: Service>(cfg: &ClusterConfig, index: usize, session: u64, _: usize) -> Node<S> {
        LogicalCheckpointing::client::<S>(cfg, index, session, 1)
    }

    fn admit<S: Service>(from_server: bool, m: &MsgOf<Self, S>) -> bool {
        LogicalCheckpointing::admit::<S>(from_server, m)
    }

    fn report<S: Service>(id: usize) -> Option<Observer<Node<S>>> {
        LogicalCheckpointing::report::<S>(id)
    }

    /// Logical checkpointing's learner (the transactions model checks storage loss with
    /// `wipes`, over these roles).
    fn learner<S: Service>(cfg: &ClusterConfig, incarnation: u64) -> Option<StorageOf<Self, S>> {
        LogicalCheckpointing::learner::<S>(cfg, incarnation)
    }

    fn torn_tail_rejoins<S: Service>(d: &Durable<S::Op, S::Reply>) -> bool {
        d.peer_holds_all()
    }

    fn describe<S: Service>(d: &Durable<S::Op, S::Reply>) -> String {
        LogicalCheckpointing::describe::<S>(d)
    }
}
