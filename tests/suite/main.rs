//! The integration suite: one test binary, a module per concern.

mod support;

mod checks;
mod cli;
mod demo;
mod engine;
mod reports;
mod spec_errors;
