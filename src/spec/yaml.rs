//! Reading YAML under budgets. One parser, yaml-rust2's event parser, builds the
//! document: it reports an alias as an alias instead of expanding it, so every
//! expansion is counted (and refused past the budget) before it costs memory,
//! and every event carries its position, so every error has one.
//!
//! A spec is a few hundred lines: the budgets are far above that and far below
//! what could hurt a CI runner.

use std::collections::HashMap;

use serde_yaml::{Mapping, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::locate::Location;

/// Bytes a spec file may have.
pub const MAX_BYTES: usize = 512 * 1024;
/// Nodes (scalars, lists, mappings) a document may have, aliases expanded.
pub const MAX_NODES: usize = 20_000;
/// How deeply lists and mappings may nest.
pub const MAX_DEPTH: usize = 32;

/// A YAML error, at a position in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub location: Location,
    pub message: String,
    pub hint: Option<String>,
}

impl YamlError {
    fn at(location: Location, message: impl Into<String>) -> Self {
        Self {
            location,
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

const START: Location = Location { line: 1, column: 1 };

/// The text of a spec file: UTF-8, without NUL or other control bytes, within
/// [`MAX_BYTES`].
pub fn text_of(bytes: &[u8]) -> Result<&str, YamlError> {
    if bytes.len() > MAX_BYTES {
        return Err(YamlError::at(
            START,
            format!(
                "the file has {} bytes; a spec has at most {MAX_BYTES}",
                bytes.len()
            ),
        )
        .hint("is this the right file? a spec is a few hundred lines"));
    }
    let text = std::str::from_utf8(bytes).map_err(|error| {
        YamlError::at(
            location_of(bytes, error.valid_up_to()),
            "invalid UTF-8: a spec is UTF-8 text",
        )
        .hint("save the file as UTF-8")
    })?;
    if let Some((offset, byte)) = text
        .bytes()
        .enumerate()
        .find(|(_, byte)| byte.is_ascii_control() && !matches!(byte, b'\t' | b'\n' | b'\r'))
    {
        let name = if byte == 0 {
            "a NUL byte".to_owned()
        } else {
            format!("the control character 0x{byte:02X}")
        };
        return Err(YamlError::at(
            location_of(bytes, offset),
            format!("{name} is not allowed in YAML"),
        ));
    }
    Ok(text)
}

/// Line and column (in characters) of byte `offset`.
fn location_of(bytes: &[u8], offset: usize) -> Location {
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline + 1);
    let line = before.iter().filter(|&&byte| byte == b'\n').count() + 1;
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    Location { line, column }
}

/// Parses one YAML document. An empty stream is `Value::Null`.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut builder = Builder::default();
    let scanned = Parser::new_from_str(text).load(&mut builder, true);
    if let Some(mut error) = builder.error {
        if let Some(anchor) = builder.bomb_anchor {
            let (at, name) = anchor_before(text, anchor);
            error.location = at;
            error.message = format!(
                "aliases of the anchor `&{name}` (line {}, column {}) expand the document beyond {MAX_NODES} nodes",
                at.line, at.column
            );
        }
        return Err(error);
    }
    scanned.map_err(|error| {
        YamlError::at(
            Location {
                line: error.marker().line(),
                column: error.marker().col() + 1,
            },
            format!("invalid YAML: {}", error.info()),
        )
    })?;
    Ok(builder.document.unwrap_or(Value::Null))
}

/// A node being built: a list, or a mapping waiting for a key or its value.
enum Open {
    List {
        items: Vec<Value>,
        anchor: usize,
        at: Location,
        nodes: usize,
    },
    Mapping {
        entries: Mapping,
        key: Option<(String, Location)>,
        anchor: usize,
        at: Location,
        nodes: usize,
    },
}

/// A finished anchored node: what an alias to it expands to.
struct Anchored {
    value: Value,
    nodes: usize,
    at: Location,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Anchored>,
    /// Nodes so far, aliases expanded.
    nodes: usize,
    documents: usize,
    document: Option<Value>,
    error: Option<YamlError>,
    /// Where the value whose aliases broke the budget starts.
    bomb_anchor: Option<Location>,
}

impl Builder {
    fn fail(&mut self, error: YamlError) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    /// Counts `count` more nodes; past the budget, says which anchor (if any) did it.
    fn count(&mut self, count: usize, at: Location, anchor: Option<Location>) -> bool {
        self.nodes = self.nodes.saturating_add(count);
        if self.nodes <= MAX_NODES {
            return true;
        }
        let error = match anchor {
            Some(anchor) => {
                self.bomb_anchor = Some(anchor);
                YamlError::at(
                    anchor,
                    format!("aliases expand the document beyond {MAX_NODES} nodes"),
                )
                .hint("a spec is a few hundred lines: write the value out, or use fewer aliases")
            }
            None => YamlError::at(at, format!("the document has more than {MAX_NODES} nodes"))
                .hint("a spec is a few hundred lines: is this the right file?"),
        };
        self.fail(error);
        false
    }

    /// Keeps what an alias to `anchor` (0: none) expands to.
    fn remember_anchor(&mut self, anchor: usize, value: &Value, nodes: usize, at: Location) {
        if anchor != 0 {
            self.anchors.insert(
                anchor,
                Anchored {
                    value: value.clone(),
                    nodes,
                    at,
                },
            );
        }
    }

    /// Puts a finished node where it belongs: in its parent, or as the document.
    fn place(&mut self, value: Value, nodes: usize, anchor: usize, at: Location) {
        self.remember_anchor(anchor, &value, nodes, at);
        match self.stack.last_mut() {
            None => self.document = Some(value),
            Some(Open::List {
                items, nodes: n, ..
            }) => {
                items.push(value);
                *n += nodes;
            }
            Some(Open::Mapping {
                entries,
                key,
                nodes: n,
                ..
            }) => match key.take() {
                Some((name, _)) => {
                    entries.insert(Value::String(name), value);
                    *n += nodes;
                }
                None => {
                    let error = match value {
                        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
                            YamlError::at(at, "a mapping key must be a string")
                                .hint("quote it, e.g. '1': …")
                        }
                        _ => YamlError::at(
                            at,
                            "a mapping key must be a string, not a list or a mapping",
                        ),
                    };
                    self.fail(error);
                }
            },
        }
    }

    /// Starts a list (or a mapping).
    fn open(
        &mut self,
        list: bool,
        anchor: usize,
        tag: Option<yaml_rust2::parser::Tag>,
        at: Location,
    ) {
        if !self.count(1, at, None) {
            return;
        }
        if let Some(tag) = tag {
            self.fail(YamlError::at(
                at,
                format!(
                    "the tag `{}{}` is not supported in a spec",
                    tag.handle, tag.suffix
                ),
            ));
            return;
        }
        if self.stack.len() >= MAX_DEPTH {
            self.fail(YamlError::at(
                at,
                format!("lists and mappings nest more than {MAX_DEPTH} deep"),
            ));
            return;
        }
        self.stack.push(if list {
            Open::List {
                items: Vec::new(),
                anchor,
                at,
                nodes: 1,
            }
        } else {
            Open::Mapping {
                entries: Mapping::new(),
                key: None,
                anchor,
                at,
                nodes: 1,
            }
        });
    }

    /// Whether the next node is a mapping's key.
    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Open::Mapping { key: None, .. }))
    }

    /// A string in key position becomes the pending key; a duplicate is an error.
    fn key(&mut self, name: String, at: Location) {
        if let Some(Open::Mapping { entries, key, .. }) = self.stack.last_mut() {
            if entries.contains_key(Value::String(name.clone())) {
                self.fail(YamlError::at(at, format!("duplicate key `{name}`")));
            } else {
                *key = Some((name, at));
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        if self.error.is_some() {
            return;
        }
        let at = Location {
            line: marker.line(),
            column: marker.col() + 1,
        };
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        YamlError::at(at, "a second YAML document: a spec file holds one")
                            .hint("remove the `---` and what follows, or split the file"),
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                if !self.count(1, at, None) {
                    return;
                }
                if let Some(tag) = &tag
                    && !(tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:")
                {
                    self.fail(YamlError::at(
                        at,
                        format!(
                            "the tag `{}{}` is not supported in a spec",
                            tag.handle, tag.suffix
                        ),
                    ));
                    return;
                }
                let value = if style == TScalarStyle::Plain
                    && tag.as_ref().is_none_or(|tag| tag.suffix != "str")
                {
                    resolve(&text)
                } else {
                    Value::String(text)
                };
                if let (true, Value::String(name)) = (self.expects_key(), &value) {
                    self.remember_anchor(anchor, &value, 1, at);
                    self.key(name.clone(), at);
                    return;
                }
                self.place(value, 1, anchor, at);
            }
            Event::Alias(id) => {
                let Some(anchored) = self.anchors.get(&id) else {
                    self.fail(YamlError::at(at, "an alias to an unknown anchor"));
                    return;
                };
                let (value, nodes, anchor_at) =
                    (anchored.value.clone(), anchored.nodes, anchored.at);
                if !self.count(nodes, at, Some(anchor_at)) {
                    return;
                }
                if let (true, Value::String(name)) = (self.expects_key(), &value) {
                    self.key(name.clone(), at);
                    return;
                }
                self.place(value, nodes, 0, at);
            }
            Event::SequenceStart(anchor, tag) => self.open(true, anchor, tag, at),
            Event::MappingStart(anchor, tag) => self.open(false, anchor, tag, at),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Open::List {
                    items,
                    anchor,
                    at,
                    nodes,
                }) => self.place(Value::Sequence(items), nodes, anchor, at),
                Some(Open::Mapping {
                    entries,
                    anchor,
                    at,
                    nodes,
                    ..
                }) => self.place(Value::Mapping(entries), nodes, anchor, at),
                None => {}
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
}

/// The `&name` written before the value that starts at `value` (an anchor
/// precedes its value, on the same line or the one before), and where it is.
fn anchor_before(text: &str, value: Location) -> (Location, String) {
    let lines: Vec<&str> = text.lines().collect();
    for line in (value.line.saturating_sub(2)..value.line).rev() {
        let Some(content) = lines.get(line) else {
            continue;
        };
        let end = if line + 1 == value.line {
            content
                .char_indices()
                .nth(value.column.saturating_sub(1))
                .map_or(content.len(), |(index, _)| index)
        } else {
            content.len()
        };
        if let Some(start) = content[..end].rfind('&') {
            let name: String = content[start + 1..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
                .collect();
            let column = content[..start].chars().count() + 1;
            return (
                Location {
                    line: line + 1,
                    column,
                },
                name,
            );
        }
    }
    (value, String::new())
}

/// A plain scalar as YAML 1.2's core schema reads it.
fn resolve(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Number(Number::from(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Number(Number::from(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Value::Number(Number::from(f64::NAN)),
        _ => {}
    }
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    let radix = |prefix: &str, radix| {
        unsigned
            .strip_prefix(prefix)
            .and_then(|digits| i64::from_str_radix(digits, radix).ok())
    };
    if let Some(integer) = radix("0x", 16).or_else(|| radix("0o", 8)) {
        return Value::Number(Number::from(integer));
    }
    let numeric = text
        .strip_prefix(['-', '+'])
        .unwrap_or(text)
        .starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if numeric && let Ok(integer) = text.parse::<i64>() {
        return Value::Number(Number::from(integer));
    }
    // Rust also reads "inf" and "nan"; YAML spells them `.inf` and `.nan`.
    if numeric
        && text.chars().any(|c| c.is_ascii_digit())
        && let Ok(real) = text.parse::<f64>()
    {
        return Value::Number(Number::from(real));
    }
    Value::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> YamlError {
        parse(text).unwrap_err()
    }

    #[test]
    fn scalars_resolve_like_yaml_1_2() {
        let value =
            parse("a: 1\nb: 2.5\nc: true\nd: ~\ne: '1'\nf: 0x10\ng: v1.2\nh: 10s\ni: -3\nj: 1e3\n")
                .unwrap();
        assert_eq!(value["a"], Value::from(1));
        assert_eq!(value["b"], Value::from(2.5));
        assert_eq!(value["c"], Value::from(true));
        assert_eq!(value["d"], Value::Null);
        assert_eq!(value["e"], Value::from("1"));
        assert_eq!(value["f"], Value::from(16));
        assert_eq!(value["g"], Value::from("v1.2"));
        assert_eq!(value["h"], Value::from("10s"));
        assert_eq!(value["i"], Value::from(-3));
        assert_eq!(value["j"], Value::from(1000.0));
        assert_eq!(parse("").unwrap(), Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap(), Value::Null);
    }

    #[test]
    fn aliases_expand_within_the_budget() {
        let value = parse("base: &b {x: 1}\ncopy: *b\nlist: [&s one, *s]\n").unwrap();
        assert_eq!(value["copy"]["x"], Value::from(1));
        assert_eq!(value["list"][1], Value::from("one"));
    }

    /// One anchor of many scalars, used many times: refused at the anchor,
    /// long before it costs memory.
    #[test]
    fn an_alias_bomb_is_refused_at_its_anchor() {
        let scalars = vec!["x"; 1000].join(", ");
        let aliases = vec!["*a"; 1000].join(", ");
        let text = format!("vars:\n  big: &a [{scalars}]\n  uses: [{aliases}]\n");
        let error = error(&text);
        assert_eq!(error.location, Location { line: 2, column: 8 });
        assert!(
            error.message.contains("`&a` (line 2, column 8)"),
            "{error:?}"
        );
    }

    #[test]
    fn every_error_has_its_place() {
        assert_eq!(
            error("a: 1\n---\nb: 2\n").location,
            Location { line: 2, column: 1 }
        );
        let key = error("a:\n  1: x\n");
        assert_eq!(key.location, Location { line: 2, column: 3 });
        assert!(key.message.contains("must be a string"));
        assert_eq!(
            error("a:\n  [1]: x\n").location,
            Location { line: 2, column: 3 }
        );
        let duplicate = error("a: 1\nb: 2\na: 3\n");
        assert_eq!(duplicate.location, Location { line: 3, column: 1 });
        assert!(error("a: !custom x\n").message.contains("tag"));
        let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
        assert!(error(&deep).message.contains("nest"));
    }

    #[test]
    fn bytes_are_checked_before_parsing() {
        let bad = text_of(b"a: 1\nb: x\xff\n").unwrap_err();
        assert_eq!(bad.location, Location { line: 2, column: 5 });
        assert!(bad.message.contains("UTF-8"));
        let nul = text_of("a: 1\nbé: \0\n".as_bytes()).unwrap_err();
        assert_eq!(nul.location, Location { line: 2, column: 5 });
        assert!(nul.message.contains("NUL"));
        assert!(text_of(&vec![b' '; MAX_BYTES + 1]).is_err());
        assert_eq!(text_of(b"a: \t1\r\n").unwrap(), "a: \t1\r\n");
    }
}
