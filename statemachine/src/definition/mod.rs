//! A state machine definition: the typed model the engine runs (`model`), and its loading from
//! the ASL JSON (`load`), which refuses everything this executor does not implement.

mod load;
mod model;

pub use model::Definition;
pub(crate) use model::{
    Condition, EnvReads, MapState, ParallelState, Payload, Reason, Seconds, State, StateKind, TaskState, Transition,
    WaitFor, WaitState, error_matches,
};
