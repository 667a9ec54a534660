//! Loading a spec: parse, apply `--set`, render templates, deserialize, validate.
//! Any failure becomes one `SpecError` that points at the file, line and column.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::error::{Origin, SpecError};
use super::locate::{Location, SourceMap};
use super::overrides::SetOverride;
use super::path::FieldPath;
use super::template::{CiFacts, Servers, TemplateContext, render_document};
use super::types::RolloutSpec;
use super::validate::validate;
use crate::pool::Pool;

/// What the command line adds to the file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub version: String,
    pub stable_version: String,
    pub sets: Vec<SetOverride>,
    /// `--var NAME=VALUE` flags, as written.
    pub vars: Vec<String>,
    pub ci: CiFacts,
    /// The pool the stable version runs in, for routers with fixed pools
    /// (`crate::pool`); the state record knows it.
    pub stable_pool: Pool,
}

/// A spec ready to run, and the context its templates were rendered with.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    pub spec: RolloutSpec,
    pub context: TemplateContext,
}

/// The bytes of a spec file, read no further than one byte past the size limit
/// (so a huge file costs nothing; `load_bytes` says it is too big).
pub fn read_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(super::yaml::MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Loads the spec file `file` from its bytes: checked to be UTF-8 text within
/// the size limit first.
pub fn load_bytes(
    file: &str,
    bytes: &[u8],
    options: &LoadOptions,
) -> Result<LoadedSpec, SpecError> {
    let text = super::yaml::text_of(bytes).map_err(|error| yaml_error(file, error))?;
    load(file, text, options)
}

fn yaml_error(file: &str, error: super::yaml::YamlError) -> SpecError {
    SpecError::new(
        Origin::File {
            file: file.to_owned(),
            location: Some(error.location),
        },
        error.message,
    )
    .with_hint(error.hint)
}

/// Where an error that no field explains is reported: the top of the file.
const TOP: Location = Location { line: 1, column: 1 };

/// Loads the spec in `text`, read from `file` (used in messages).
pub fn load(file: &str, text: &str, options: &LoadOptions) -> Result<LoadedSpec, SpecError> {
    // Every error in the file has a place: the field's, else the top.
    let at = |location: Option<Location>| Origin::File {
        file: file.to_owned(),
        location: Some(location.unwrap_or(TOP)),
    };
    let text = super::yaml::text_of(text.as_bytes()).map_err(|error| yaml_error(file, error))?;
    let mut document = super::yaml::parse(text).map_err(|error| yaml_error(file, error))?;
    if document.is_null() {
        return Err(SpecError::new(
            at(None),
            "the file is empty: a spec starts with `apiVersion: greenlight.dev/v1alpha1` and `kind: Rollout`",
        )
        .with_hint(Some(
            "`greenlight schema` lists the fields a spec has; examples/ has complete specs"
                .to_owned(),
        )));
    }
    // Within the budgets now: indexing cannot blow up.
    let source = SourceMap::index(text).map_err(|(location, message)| {
        SpecError::new(at(Some(location)), format!("invalid YAML: {message}"))
    })?;

    for set in &options.sets {
        set.apply(&mut document)
            .map_err(|message| SpecError::new(Origin::SetFlag(set.raw.clone()), message))?;
    }
    // Which flag, if any, wrote the field an error is about.
    let origin_of = |field: &FieldPath, location| {
        options
            .sets
            .iter()
            .rev()
            .find(|set| field.starts_with(&set.path))
            .map(|set| Origin::SetFlag(set.raw.clone()))
            .unwrap_or_else(|| at(location))
    };

    crate::pool::assign(&mut document, options.stable_pool);
    let context = template_context(&document, options)?;
    render_document(&mut document, &context).map_err(|error| {
        let location = source.value(&error.field);
        SpecError::new(origin_of(&error.field, location), error.message)
            .at_field(error.field)
            .with_hint(error.hint)
    })?;
    // Fields rendered per task at run time must render now for a sample one,
    // so a typo is refused here with its place rather than halfway through.
    if let Some(deferred) = locate_value(&document, &super::template::task_templates()) {
        let sample = crate::traffic::Task {
            id: "example.instance-1".to_owned(),
            host: "10.0.0.1".to_owned(),
            port: Some(31000),
        };
        super::template::render_for_task(deferred, &context, &sample).map_err(|error| {
            let location = source.value(&error.field);
            SpecError::new(origin_of(&error.field, location), error.message)
                .at_field(error.field)
                .with_hint(error.hint)
        })?;
    }

    // serde_yaml's Value wants `!tags` for enums; as JSON the single-key form
    // users write (`router: {command: …}`) deserializes naturally.
    let document = serde_json::to_value(&document).map_err(|error| {
        SpecError::new(
            at(None),
            format!("the spec cannot be read as data: {error}"),
        )
        .with_hint(Some("mapping keys must be strings".to_owned()))
    })?;
    let spec: RolloutSpec = serde_path_to_error::deserialize(document).map_err(|error| {
        let field = FieldPath::from(error.path());
        let message = error.inner().to_string();
        let (field, location) = locate_serde_error(&source, field, &message);
        let hint = hint_for(&message);
        SpecError::new(origin_of(&field, location), message)
            .at_field(field)
            .with_hint(hint)
    })?;

    if let Some(problem) = validate(&spec).into_iter().next() {
        let location = source.nearest(&problem.field);
        return Err(
            SpecError::new(origin_of(&problem.field, location), problem.message)
                .at_field(problem.field)
                .with_hint(problem.hint),
        );
    }
    Ok(LoadedSpec { spec, context })
}

/// Unknown fields are reported at their key; everything else at its value.
fn locate_serde_error(
    source: &SourceMap,
    field: FieldPath,
    message: &str,
) -> (FieldPath, Option<Location>) {
    if let Some(name) = backticked_after(message, "unknown field ") {
        let unknown = match field.segments().last() {
            Some(super::path::Segment::Key(last)) if last == name => field.clone(),
            _ => field.key(name),
        };
        if let Some(location) = source.key(&unknown) {
            return (unknown, Some(location));
        }
    }
    if let Some(name) = backticked_after(message, "unknown variant ") {
        let variant = field.key(name);
        if let Some(location) = source.key(&variant) {
            return (variant, Some(location));
        }
    }
    let location = source.value(&field).or_else(|| source.nearest(&field));
    (field, location)
}

fn backticked_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

fn hint_for(message: &str) -> Option<String> {
    if message.starts_with("unknown field") || message.starts_with("unknown variant") {
        Some("check the spelling; `greenlight schema` lists every field".to_owned())
    } else if message.starts_with("missing field") {
        Some("`greenlight schema` shows what each section needs".to_owned())
    } else {
        None
    }
}

/// The node at `path` (keys only), if the document has it.
fn locate_value<'d>(document: &'d Value, path: &FieldPath) -> Option<&'d Value> {
    path.segments()
        .iter()
        .try_fold(document, |node, segment| match segment {
            crate::field::Segment::Key(key) => node.get(key.as_str()),
            crate::field::Segment::Index(index) => node.get(*index),
        })
}

fn template_context(document: &Value, options: &LoadOptions) -> Result<TemplateContext, SpecError> {
    let name = document["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut vars: BTreeMap<String, serde_json::Value> = match document.get("vars") {
        Some(Value::Mapping(mapping)) => mapping
            .iter()
            .filter_map(|(key, value)| {
                let value = serde_json::to_value(value).ok()?;
                Some((key.as_str()?.to_owned(), value))
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    for raw in &options.vars {
        let (key, value) = raw.split_once('=').ok_or_else(|| {
            SpecError::new(
                Origin::VarFlag(raw.clone()),
                "expected NAME=VALUE, e.g. --var image=registry/app",
            )
        })?;
        if super::template::BUILT_IN.contains(&key) {
            return Err(SpecError::new(
                Origin::VarFlag(raw.clone()),
                format!("`{key}` is set by greenlight itself and cannot be a variable"),
            ));
        }
        vars.insert(key.to_owned(), serde_json::Value::String(value.to_owned()));
    }
    Ok(TemplateContext {
        name,
        version: options.version.clone(),
        stable_version: options.stable_version.clone(),
        ci: options.ci.clone(),
        servers: servers(document, options.stable_pool),
        task: None,
        vars,
    })
}

/// The router's server lists as written (names, not templates); a malformed list
/// is left to deserialization and validation to report at its field.
fn servers(document: &Value, stable_pool: Pool) -> Option<Servers> {
    let haproxy = document.get("router")?.get("haproxy")?;
    let names = |key: &str| -> Vec<String> {
        haproxy
            .get(key)
            .and_then(Value::as_sequence)
            .map(|list| {
                list.iter()
                    .filter_map(|name| name.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(Servers {
        stable: names("stableServers"),
        new: names("newServers"),
        pool: stable_pool.other(),
    })
}
