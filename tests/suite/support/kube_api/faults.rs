//! Faults the next requests to a path meet: a conflict, a server error, or
//! a slow answer.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 409 Conflict, as if someone wrote first.
    Conflict,
    /// 500 InternalError.
    ServerError,
    /// Answer normally, after this long.
    Slow(Duration),
}

#[derive(Debug, Clone)]
pub struct Armed {
    pub method: String,
    /// Matches paths ending with it.
    pub path_suffix: String,
    pub remaining: usize,
    pub fault: Fault,
}

/// Takes one matching fault, if any is left.
pub fn take(armed: &mut [Armed], method: &str, path: &str) -> Option<Fault> {
    let slot = armed.iter_mut().find(|armed| {
        armed.remaining > 0 && armed.method == method && path.ends_with(&armed.path_suffix)
    })?;
    slot.remaining -= 1;
    Some(slot.fault)
}
