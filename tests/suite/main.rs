//! The integration suite: one test binary, a module per concern.

mod support;

mod checks;
mod cli;
mod demo;
mod engine;
mod forge_conformance;
mod github;
mod github_action;
mod gitlab;
mod haproxy_prometheus;
mod kubernetes;
mod live_reports;
mod manual;
mod prometheus_conformance;
mod reports;
mod spec_errors;
