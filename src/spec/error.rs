//! A spec error points at the exact place to fix: `file:line:column`, the field
//! path, what is wrong, and a hint where one helps.

use std::fmt;

use super::locate::Location;
use super::path::FieldPath;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The spec file, at a position when one is known.
    File {
        file: String,
        location: Option<Location>,
    },
    /// A `--set KEY=VALUE` flag.
    SetFlag(String),
    /// A `--var NAME=VALUE` flag.
    VarFlag(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub origin: Origin,
    pub field: Option<FieldPath>,
    pub message: String,
    pub hint: Option<String>,
}

/// Characters an error message (and a hint) may have: text from the file or a
/// template can be long, a message that says what is wrong is not.
pub const MAX_MESSAGE: usize = 1000;

impl SpecError {
    pub fn new(origin: Origin, message: impl Into<String>) -> Self {
        Self {
            origin,
            field: None,
            message: crate::text::shorten(&message.into(), MAX_MESSAGE),
            hint: None,
        }
    }

    pub fn at_field(mut self, field: FieldPath) -> Self {
        if !field.segments().is_empty() {
            self.field = Some(field);
        }
        self
    }

    pub fn with_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint.map(|hint| crate::text::shorten(&hint, MAX_MESSAGE));
        self
    }

    /// The file and position, for CI annotations (`::error file=…,line=…`).
    pub fn file_location(&self) -> Option<(&str, Option<Location>)> {
        match &self.origin {
            Origin::File { file, location } => Some((file, *location)),
            _ => None,
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File {
                file,
                location: Some(at),
            } => write!(f, "{file}:{}:{}: ", at.line, at.column)?,
            Origin::File {
                file,
                location: None,
            } => write!(f, "{file}: ")?,
            Origin::SetFlag(flag) => write!(f, "--set {}: ", crate::text::shorten(flag, 200))?,
            Origin::VarFlag(flag) => write!(f, "--var {}: ", crate::text::shorten(flag, 200))?,
        }
        if let Some(field) = &self.field {
            write!(f, "{}: ", crate::text::shorten(&field.to_string(), 200))?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}
