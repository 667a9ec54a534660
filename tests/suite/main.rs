//! The integration suite: one test binary, a module per concern.

mod support;

mod cli;
mod demo;
mod engine;
mod haproxy_prometheus;
mod prometheus_conformance;
mod reports;
mod spec_errors;
