//! Filled in with the examples.
