//! The integration suite: one test binary, a module per concern.

mod support;

mod cancel;
mod checks;
mod cli;
mod crash;
mod crash_haproxy;
mod dcos;
mod dcos_conformance;
mod dcos_migrate;
mod dcos_migrate_colours;
mod dcos_pools;
mod demo;
mod engine;
mod forge_conformance;
mod fuzz_spec;
mod github;
mod github_action;
mod gitlab;
mod haproxy_prometheus;
mod hostile;
mod kubernetes;
mod live_reports;
mod lock;
mod manual;
mod on_call;
mod pools;
mod prometheus_conformance;
mod reports;
mod spec_errors;
mod webhook;
