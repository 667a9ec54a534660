//! Where each field of a YAML document is, so an error found after parsing
//! (by serde or by validation) can still point at `file:line:column`.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::path::FieldPath;

/// A 1-based position in the spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    fn from_marker(marker: Marker) -> Self {
        Self {
            line: marker.line(),
            column: marker.col() + 1,
        }
    }
}

/// Positions of every key and value in a document, by field path.
#[derive(Debug, Default)]
pub struct SourceMap {
    keys: HashMap<FieldPath, Location>,
    values: HashMap<FieldPath, Location>,
}

impl SourceMap {
    /// Indexes `text`; a syntax error comes back with its position.
    pub fn index(text: &str) -> Result<Self, (Location, String)> {
        let mut builder = Builder::default();
        Parser::new_from_str(text)
            .load(&mut builder, false)
            .map_err(|error| {
                (
                    Location::from_marker(*error.marker()),
                    error.info().to_owned(),
                )
            })?;
        Ok(builder.map)
    }

    /// Where the value at `path` starts.
    pub fn value(&self, path: &FieldPath) -> Option<Location> {
        self.values.get(path).copied()
    }

    /// Where the key of the field at `path` is written.
    pub fn key(&self, path: &FieldPath) -> Option<Location> {
        self.keys.get(path).copied()
    }

    /// The closest position we know for `path`: the value itself, or the
    /// nearest ancestor that exists in the file (for fields left out).
    pub fn nearest(&self, path: &FieldPath) -> Option<Location> {
        let mut candidate = Some(path.clone());
        while let Some(current) = candidate {
            if let Some(location) = self.value(&current) {
                return Some(location);
            }
            candidate = current.parent();
        }
        None
    }
}

enum Frame {
    Mapping {
        path: FieldPath,
        key: Option<String>,
        empty: bool,
    },
    Sequence {
        path: FieldPath,
        next: usize,
    },
}

#[derive(Default)]
struct Builder {
    map: SourceMap,
    stack: Vec<Frame>,
}

impl Builder {
    /// The path of the value about to be read, or `None` when the next scalar is a key.
    fn next_value_path(&self) -> Option<FieldPath> {
        match self.stack.last() {
            None => Some(FieldPath::root()),
            Some(Frame::Mapping { key: None, .. }) => None,
            Some(Frame::Mapping {
                path,
                key: Some(key),
                ..
            }) => Some(path.key(key.clone())),
            Some(Frame::Sequence { path, next }) => Some(path.index(*next)),
        }
    }

    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Mapping { key, .. }) => *key = None,
            Some(Frame::Sequence { next, .. }) => *next += 1,
            None => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let location = Location::from_marker(marker);
        match event {
            Event::Scalar(text, ..) => match self.next_value_path() {
                None => {
                    if let Some(Frame::Mapping { path, key, empty }) = self.stack.last_mut() {
                        // A block mapping's own marker can trail its first key;
                        // the first key is where a reader sees it start.
                        if std::mem::take(empty) {
                            self.map.values.insert(path.clone(), location);
                        }
                        self.map.keys.insert(path.key(text.clone()), location);
                        *key = Some(text);
                    }
                }
                Some(path) => {
                    self.map.values.insert(path, location);
                    self.value_done();
                }
            },
            Event::Alias(_) => {
                if let Some(path) = self.next_value_path() {
                    self.map.values.insert(path, location);
                }
                self.value_done();
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                // A collection used as a mapping key has no field path of its own.
                let path = self
                    .next_value_path()
                    .unwrap_or_else(|| FieldPath::root().key("?"));
                self.map.values.insert(path.clone(), location);
                self.stack.push(match event {
                    Event::MappingStart(..) => Frame::Mapping {
                        path,
                        key: None,
                        empty: true,
                    },
                    _ => Frame::Sequence { path, next: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
a:
  b: 1
  list:
    - x: one
    - x: two
";

    #[test]
    fn finds_keys_and_values_with_one_based_positions() {
        let map = SourceMap::index(DOC).unwrap();
        let b = FieldPath::root().key("a").key("b");
        assert_eq!(map.key(&b), Some(Location { line: 2, column: 3 }));
        assert_eq!(map.value(&b), Some(Location { line: 2, column: 6 }));
        let second_x = FieldPath::root().key("a").key("list").index(1).key("x");
        assert_eq!(
            map.value(&second_x),
            Some(Location {
                line: 5,
                column: 10
            })
        );
    }

    #[test]
    fn nearest_falls_back_to_the_parent() {
        let map = SourceMap::index(DOC).unwrap();
        let missing = FieldPath::root().key("a").key("list").index(0).key("y");
        assert_eq!(map.nearest(&missing), Some(Location { line: 4, column: 7 }));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let (location, message) = SourceMap::index("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(location.line >= 1, "{location:?}");
        assert!(!message.is_empty());
    }
}
