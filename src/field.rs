//! A path to a field in the spec, printed the way users navigate YAML:
//! `strategy.canary.steps[2].weight`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FieldPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

impl FieldPath {
    pub fn root() -> Self {
        Self::default()
    }

    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut child = self.clone();
        child.0.push(Segment::Key(key.into()));
        child
    }

    pub fn index(&self, index: usize) -> Self {
        let mut child = self.clone();
        child.0.push(Segment::Index(index));
        child
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub fn parent(&self) -> Option<Self> {
        let (_, rest) = self.0.split_last()?;
        Some(Self(rest.to_vec()))
    }

    pub fn starts_with(&self, prefix: &FieldPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// Parses the `a.b.0.c` form used by `--set`; numeric segments are list indices.
    pub fn parse_dotted(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("the path is empty".to_owned());
        }
        text.split('.')
            .map(|part| match part {
                "" => Err(format!("`{text}` has an empty segment")),
                _ => Ok(match part.parse::<usize>() {
                    Ok(index) => Segment::Index(index),
                    Err(_) => Segment::Key(part.to_owned()),
                }),
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl From<&serde_path_to_error::Path> for FieldPath {
    fn from(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        Self(
            path.iter()
                .filter_map(|segment| match segment {
                    S::Seq { index } => Some(Segment::Index(*index)),
                    S::Map { key } => Some(Segment::Key(key.clone())),
                    S::Enum { variant } => Some(Segment::Key(variant.clone())),
                    S::Unknown => None,
                })
                .collect(),
        )
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if position == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// What is wrong with one field of the spec, found after it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: FieldPath,
    pub message: String,
    pub hint: Option<String>,
}

pub fn problem(field: FieldPath, message: impl Into<String>) -> Problem {
    Problem {
        field,
        message: message.into(),
        hint: None,
    }
}

/// A text field the types accept empty but a provider cannot use empty.
pub fn require_text(text: &str, field: FieldPath, problems: &mut Vec<Problem>) {
    if text.trim().is_empty() {
        problems.push(problem(field, "must not be empty"));
    }
}

/// Both names of a stable/new pair are needed; whether they differ depends on
/// the versions, which validation may not know, so routers check that when they run.
pub fn require_pair(
    (stable, new): (&str, &str),
    path: &FieldPath,
    (stable_key, new_key): (&str, &str),
    problems: &mut Vec<Problem>,
) {
    require_text(stable, path.key(stable_key), problems);
    require_text(new, path.key(new_key), problems);
}

impl Problem {
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_yaml_navigation() {
        let path = FieldPath::root()
            .key("strategy")
            .key("canary")
            .key("steps")
            .index(2)
            .key("weight");
        assert_eq!(path.to_string(), "strategy.canary.steps[2].weight");
    }

    #[test]
    fn parses_dotted_set_paths() {
        let path = FieldPath::parse_dotted("strategy.canary.steps.0.weight");
        assert_eq!(
            path.map(|p| p.to_string()),
            Ok("strategy.canary.steps[0].weight".to_owned())
        );
        assert!(FieldPath::parse_dotted("a..b").is_err());
    }
}
