//! The actor of a protocol model, declared once per protocol by [`protocol_node!`]: an enum of
//! its roles (`Node`), an enum of their states (`NodeState`), and the stateright `Actor` impl
//! that hands each event to the role's handler. The roles themselves stay plain structs with
//! three handlers of one shape:
//!
//! ```text
//! fn on_start(&self, id: Id, storage: &Option<Storage>, o: &mut Out<Node<S>>) -> State
//! fn on_msg(&self, s: &State, src: Id, msg: Msg, o: &mut Out<Node<S>>) -> Option<State>
//! fn on_timeout(&self, s: &State, timer: &Timer, o: &mut Out<Node<S>>) -> Option<State>
//! ```
//!
//! A handler returns `None` when the state does not change; if it also emits nothing, the
//! event is a no-op, which the checker (and the runtime) treat as "deliver later".

/// Declares `Node`, `NodeState` and their `Actor` impl for the roles listed, each as
/// `Variant(RoleType, StateType, "name")`. A protocol generic over the replicated service
/// starts with `<S>` (then `Node<S>`, `NodeState<S: Service>`); one that replicates no service
/// (ClustRa's fragments) leaves it out.
#[macro_export]
macro_rules! protocol_node {
    (
        $(<$S:ident>)?
        msg = $msg:ty, timer = $timer:ty, storage = $storage:ty;
        $( $var:ident ( $role:ty, $state:ty, $name:literal ) ),+ $(,)?
    ) => {
        /// An actor of the model: one of the protocol's roles.
        #[derive(Clone, Debug)]
        pub enum Node $(<$S>)? {
            $(
                #[doc = concat!("The ", $name, " role.")]
                $var($role),
            )+
        }

        /// An actor's state.
        #[derive(Clone, Debug, Eq, Hash, PartialEq)]
        pub enum NodeState $(<$S: $crate::services::Service>)? {
            $(
                #[doc = concat!("The ", $name, "'s state.")]
                $var($state),
            )+
        }

        impl $(<$S: $crate::services::Service>)? $crate::trace::Fields for NodeState $(<$S>)? {
            fn fields(&self) -> Vec<$crate::trace::Field> {
                match self {
                    $( NodeState::$var(s) => $crate::trace::Fields::fields(s), )+
                }
            }
        }

        impl $(<$S: $crate::services::Service>)? stateright::actor::Actor for Node $(<$S>)? {
            type Msg = $msg;
            type State = NodeState $(<$S>)?;
            type Timer = $timer;
            type Random = ();
            type Storage = $storage;

            fn on_start(
                &self,
                id: stateright::actor::Id,
                storage: &Option<Self::Storage>,
                o: &mut stateright::actor::Out<Self>,
            ) -> Self::State {
                match self {
                    $( Node::$var(a) => NodeState::$var(a.on_start(id, storage, o)), )+
                }
            }

            fn on_msg(
                &self,
                _id: stateright::actor::Id,
                state: &mut std::borrow::Cow<Self::State>,
                src: stateright::actor::Id,
                msg: Self::Msg,
                o: &mut stateright::actor::Out<Self>,
            ) {
                #[allow(unreachable_patterns)]
                let next = match (self, state.as_ref()) {
                    $( (Node::$var(a), NodeState::$var(s)) => a.on_msg(s, src, msg, o).map(NodeState::$var), )+
                    _ => None,
                };
                if let Some(n) = next {
                    *state = std::borrow::Cow::Owned(n);
                }
            }

            fn on_timeout(
                &self,
                _id: stateright::actor::Id,
                state: &mut std::borrow::Cow<Self::State>,
                timer: &Self::Timer,
                o: &mut stateright::actor::Out<Self>,
            ) {
                #[allow(unreachable_patterns)]
                let next = match (self, state.as_ref()) {
                    $( (Node::$var(a), NodeState::$var(s)) => a.on_timeout(s, timer, o).map(NodeState::$var), )+
                    _ => None,
                };
                if let Some(n) = next {
                    *state = std::borrow::Cow::Owned(n);
                }
            }

            fn name(&self) -> String {
                match self {
                    $( Node::$var(_) => $name.into(), )+
                }
            }
        }
    };
}

/// Declares a role that holds nothing but the model's configuration (its state lives in the
/// role's state type): `pub struct $name<S> { pub cfg: Config, .. }` and `$name::new(cfg)`.
/// `Config` is the protocol's, in scope where the macro is used.
#[macro_export]
macro_rules! role {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        pub struct $name<S> {
            /// The model's configuration.
            pub cfg: Config,
            _service: std::marker::PhantomData<S>,
        }

        impl<S> $name<S> {
            /// The role of configuration `cfg`.
            pub fn new(cfg: Config) -> Self {
                $name { cfg, _service: std::marker::PhantomData }
            }
        }
    };
}
