//! A self-contained rollout playground for `greenlight demo`: two app versions,
//! a weighted proxy in front of them and steady load, all on 127.0.0.1.

pub mod stats;

pub use stats::{Clock, ManualClock, Retention, Side, SystemClock, TrafficStats, WindowStats};
