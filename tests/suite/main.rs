//! The integration suite: one test binary, a module per concern.

mod support;

mod cli;
mod engine;
mod kubernetes;
mod reports;
mod spec_errors;
