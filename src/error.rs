//! What a command reports when it could not do what was asked, and the exit
//! code that goes with it.

use crate::spec::SpecError;

/// Why a command could not do what was asked (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Provider(String),
    /// Nothing was done because a person must decide first (exit code 3).
    #[error("halted: {0}")]
    Halted(String),
}
