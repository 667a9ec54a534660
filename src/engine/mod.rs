//! The rollout engine: a pure state machine. It never does I/O and never reads
//! the clock; the runner feeds it what happened and when, and does what it asks.

pub mod analysis;
mod checkpoint;
pub mod event;
pub mod machine;
mod migration;
pub mod plan;
mod retirement;

pub use event::{Event, EventKind, Outcome};
pub use machine::{Action, CheckKind, CheckResult, Engine, Input, Resume, State};
pub use plan::Plan;
