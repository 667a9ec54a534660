//! The integration suite: one test binary, a module per concern.

mod support;

mod cli;
mod engine;
mod forge_conformance;
mod github;
mod github_action;
mod gitlab;
mod reports;
mod spec_errors;
