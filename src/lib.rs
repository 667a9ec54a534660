//! greenlight: progressive delivery from CI.
//!
//! A functional core (the [`engine`], a pure state machine) inside an
//! imperative shell (the [`runner`] and the providers: [`deploy`], [`router`],
//! [`metrics`], [`state`]). Reports consume the engine's events.

pub mod annotation;
pub mod checks;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod compose;
pub mod dcos;
pub mod deploy;
pub mod duration;
pub mod engine;
pub mod error;
pub mod field;
pub mod forge;
pub mod judge;
pub mod kubernetes;
pub mod metrics;
pub mod plan_text;
pub mod pool;
pub mod process;
pub mod provider;
pub mod release;
pub mod report;
pub mod resolve;
pub mod resume;
pub mod router;
pub mod runner;
pub mod sandbox;
pub mod secrets;
pub mod spec;
pub mod state;
pub mod template;
pub mod text;
pub mod traffic;
