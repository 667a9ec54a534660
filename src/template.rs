//! Every string field of the spec is a minijinja template, rendered with strict
//! undefined so a typo in a variable name is an error, never an empty string.

use std::collections::BTreeMap;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_yaml::Value;

use crate::field::FieldPath;

/// Facts about the CI run, when there is one.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CiFacts {
    /// `github`, `gitlab` or `local`.
    pub provider: String,
    pub sha: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The pull- or merge-request number.
    pub pr: Option<u64>,
    pub run_url: Option<String>,
    /// The inputs of a manual run (GitHub `workflow_dispatch`), as strings.
    pub inputs: BTreeMap<String, String>,
}

/// What templates can see.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateContext {
    pub name: String,
    pub version: String,
    pub stable_version: String,
    pub ci: CiFacts,
    /// The router's stable and new servers, for queries that select them
    /// (`server=~"{{ servers.new | join('|') }}"`); only with `router: haproxy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servers: Option<Servers>,
    /// `vars:` from the spec, then `--var` flags (which win).
    #[serde(flatten)]
    pub vars: BTreeMap<String, serde_json::Value>,
}

/// Server names per side, as the router section lists them.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Servers {
    pub stable: Vec<String>,
    pub new: Vec<String>,
}

/// Names templates get from greenlight itself; a variable may not shadow them.
pub const BUILT_IN: [&str; 5] = ["name", "version", "stable_version", "ci", "servers"];

/// Fields that are data, not templates.
fn is_literal(path: &FieldPath) -> bool {
    let root = FieldPath::root();
    path.starts_with(&root.key("vars")) || *path == root.key("metadata").key("name")
}

pub struct RenderError {
    pub field: FieldPath,
    pub message: String,
    pub hint: Option<String>,
}

/// Renders every templated string in `document` in place.
pub fn render_document(document: &mut Value, context: &TemplateContext) -> Result<(), RenderError> {
    let environment = environment();
    let context = minijinja::Value::from(Serde(context));
    render_node(&environment, &context, FieldPath::root(), document)
}

/// Renders a whole text (a manifest file) with the same strict rules.
/// The error is a message and, where one helps, a hint.
pub fn render_text(
    source: &str,
    context: &TemplateContext,
) -> Result<String, (String, Option<String>)> {
    let environment = environment();
    let context = minijinja::Value::from(Serde(context));
    render_one(&environment, &context, source)
}

fn environment() -> Environment<'static> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    // Block scalars end in a newline that must survive rendering.
    if let Ok(syntax) = SyntaxConfig::builder().keep_trailing_newline(true).build() {
        environment.set_syntax(syntax);
    }
    environment
}

fn render_node(
    environment: &Environment<'_>,
    context: &minijinja::Value,
    path: FieldPath,
    node: &mut Value,
) -> Result<(), RenderError> {
    if is_literal(&path) {
        return Ok(());
    }
    match node {
        Value::String(text) if text.contains("{{") || text.contains("{%") => {
            *text =
                render_one(environment, context, text).map_err(|(message, hint)| RenderError {
                    field: path,
                    message,
                    hint,
                })?;
        }
        Value::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                render_node(environment, context, path.index(index), item)?;
            }
        }
        Value::Mapping(mapping) => {
            for (key, value) in mapping.iter_mut() {
                let key = key
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{key:?}"));
                render_node(environment, context, path.key(key), value)?;
            }
        }
        Value::Tagged(tagged) => render_node(environment, context, path, &mut tagged.value)?,
        _ => {}
    }
    Ok(())
}

fn render_one(
    environment: &Environment<'_>,
    context: &minijinja::Value,
    source: &str,
) -> Result<String, (String, Option<String>)> {
    let template = environment
        .template_from_str(source)
        .map_err(|error| (format!("template syntax error: {}", describe(&error)), None))?;
    template.render(context).map_err(|error| {
        let undefined: Vec<String> = {
            let mut names: Vec<String> = template
                .undeclared_variables(false)
                .into_iter()
                .filter(|name| {
                    context
                        .get_attr(name)
                        .map(|v| v.is_undefined())
                        .unwrap_or(true)
                })
                .collect();
            names.sort();
            names
        };
        if error.kind() == minijinja::ErrorKind::UndefinedError && !undefined.is_empty() {
            let available = defined_names(context);
            (
                format!(
                    "template uses undefined variable `{}`",
                    undefined.join("`, `")
                ),
                Some(format!(
                    "defined are: {}; add others with `vars:` in the spec or `--var NAME=VALUE`",
                    available.join(", ")
                )),
            )
        } else {
            (format!("template error: {}", describe(&error)), None)
        }
    })
}

fn defined_names(context: &minijinja::Value) -> Vec<String> {
    context
        .try_iter()
        .map(|keys| {
            keys.filter_map(|key| key.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// minijinja's message without the "(in <string>:1)" suffix, which means nothing to users.
fn describe(error: &minijinja::Error) -> String {
    error
        .detail()
        .map(str::to_owned)
        .unwrap_or_else(|| error.kind().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> TemplateContext {
        TemplateContext {
            name: "checkout".into(),
            version: "v2".into(),
            stable_version: "v1".into(),
            ci: CiFacts {
                provider: "local".into(),
                ..CiFacts::default()
            },
            servers: Some(Servers {
                stable: vec!["blue1".into(), "blue2".into()],
                new: vec!["green1".into()],
            }),
            vars: BTreeMap::from([("image".into(), serde_json::json!("registry/checkout"))]),
        }
    }

    #[test]
    fn server_lists_render_into_promql() {
        let mut document: Value = serde_yaml::from_str(
            "q: 'x{server=~\"{{ servers.stable | join(\"|\") }}\"} / {{ servers.new[0] }}'\n",
        )
        .unwrap();
        render_document(&mut document, &context()).ok().unwrap();
        assert_eq!(
            document["q"],
            Value::from("x{server=~\"blue1|blue2\"} / green1")
        );
    }

    #[test]
    fn renders_strings_but_not_vars_or_the_name() {
        let mut document: Value = serde_yaml::from_str(
            "metadata: {name: '{{ raw }}'}\nvars: {x: '{{ raw }}'}\nimage: '{{ image }}:{{ version }}'\nlist: ['{{ stable_version }}']\n",
        )
        .unwrap();
        render_document(&mut document, &context()).ok().unwrap();
        assert_eq!(document["image"], Value::from("registry/checkout:v2"));
        assert_eq!(document["list"][0], Value::from("v1"));
        assert_eq!(document["vars"]["x"], Value::from("{{ raw }}"));
    }

    #[test]
    fn an_undefined_variable_names_itself_and_the_field() {
        let mut document: Value = serde_yaml::from_str("a:\n  b: 'x{{ verison }}'\n").unwrap();
        let error = render_document(&mut document, &context()).err().unwrap();
        assert_eq!(error.field.to_string(), "a.b");
        assert_eq!(error.message, "template uses undefined variable `verison`");
        assert!(error.hint.unwrap().contains("version"));
    }
}
