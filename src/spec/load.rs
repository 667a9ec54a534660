//! Loading a spec: parse, apply `--set`, render templates, deserialize, validate.
//! Any failure becomes one `SpecError` that points at the file, line and column.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::error::{Origin, SpecError};
use super::locate::{Location, SourceMap};
use super::overrides::SetOverride;
use super::path::FieldPath;
use super::template::{
    CiFacts, RenderError, Servers, TemplateContext, render_document, render_without,
};
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
    /// The pool the stable version runs in, for specs with fixed pools
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
    Parsed::parse(file, bytes, &options.sets)?.load(options)
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
    Parsed::parse(file, text.as_bytes(), &options.sets)?.load(options)
}

/// A spec file parsed once, with `--set` applied: what finding the state
/// record and loading the spec for its versions both start from.
pub struct Parsed {
    file: String,
    document: Value,
    source: SourceMap,
    sets: Vec<SetOverride>,
}

/// The template variables whose values the state record gives: a spec
/// located before the record is read leaves the fields that use them as written.
const FROM_THE_RECORD: [&str; 4] = ["version", "stable_version", "servers", "pool"];

impl Parsed {
    /// Parses the file `file` from its bytes (checked to be UTF-8 text
    /// within the size limit first) and applies `sets`.
    pub fn parse(file: &str, bytes: &[u8], sets: &[SetOverride]) -> Result<Self, SpecError> {
        let text = super::yaml::text_of(bytes).map_err(|error| yaml_error(file, error))?;
        let mut document = super::yaml::parse(text).map_err(|error| yaml_error(file, error))?;
        if document.is_null() {
            return Err(SpecError::new(
                top(file, None),
                "the file is empty: a spec starts with `apiVersion: greenlight.dev/v1alpha1` and `kind: Rollout`",
            )
            .with_hint(Some(
                "`greenlight schema` lists the fields a spec has; examples/ has complete specs"
                    .to_owned(),
            )));
        }
        // Within the budgets now: indexing cannot blow up.
        let source = SourceMap::index(text).map_err(|(location, message)| {
            SpecError::new(
                top(file, Some(location)),
                format!("invalid YAML: {message}"),
            )
        })?;
        for set in sets {
            set.apply(&mut document)
                .map_err(|message| SpecError::new(Origin::SetFlag(set.raw.clone()), message))?;
        }
        Ok(Self {
            file: file.to_owned(),
            document,
            source,
            sets: sets.to_vec(),
        })
    }

    /// Whether releases alternate between fixed pools (`pools:`, or a router
    /// that lists its two sides): the state record says which one is live.
    pub fn alternates(&self) -> bool {
        alternates(&self.document)
    }

    /// The names `pools:` gives the two pools, if it gives two.
    pub fn pool_names(&self) -> Option<[&str; 2]> {
        crate::pool::declared(&self.document)
    }

    /// Renders, deserializes and validates the spec for the versions in
    /// `options` (its `sets` were applied by `parse`).
    pub fn load(&self, options: &LoadOptions) -> Result<LoadedSpec, SpecError> {
        let mut document = self.document.clone();
        if document.get("pools").is_some() && crate::pool::declared(&document).is_none() {
            let names = FieldPath::root().key("pools");
            return Err(self.problem_error(
                crate::field::problem(names, "`pools` names two pools")
                    .hint("e.g. `pools: [blue, green]`"),
            ));
        }
        if let Some((router, keys)) = fixed_sides_mut(&mut document) {
            crate::pool::assign(router, keys, options.stable_pool);
        }
        let context = template_context(&document, options)?;
        render_document(&mut document, &context).map_err(|error| self.render_error(error))?;
        // Fields rendered per task at run time must render now for a sample
        // one, so a typo is refused here with its place, not halfway through.
        if let Some(deferred) = locate_value(&document, &super::template::task_templates()) {
            let sample = crate::traffic::Task {
                id: "example.instance-1".to_owned(),
                host: "10.0.0.1".to_owned(),
                port: Some(31000),
            };
            super::template::render_for_task(deferred, &context, &sample)
                .map_err(|error| self.render_error(error))?;
        }
        let spec = self.deserialize(document)?;
        if let Some(problem) = validate(&spec).into_iter().next() {
            return Err(self.problem_error(problem));
        }
        Ok(LoadedSpec { spec, context })
    }

    /// The spec as far as it is known before the state record is read: for
    /// finding where that record is kept, nothing else. The fields whose
    /// templates use the versions or the servers' pools keep their template
    /// text and are left out of validation, which `load` does in full.
    pub fn locate(&self, vars: &[String], ci: &CiFacts) -> Result<Located, SpecError> {
        let mut document = self.document.clone();
        // The versions in these options never reach a template: `render_without` withholds them.
        let options = LoadOptions {
            vars: vars.to_vec(),
            ci: ci.clone(),
            ..LoadOptions::default()
        };
        let context = template_context(&document, &options)?;
        let unrendered = render_without(&mut document, &context, &FROM_THE_RECORD)
            .map_err(|error| self.render_error(error))?;
        let spec = self.deserialize(document)?;
        let depends = |field: &FieldPath| {
            unrendered
                .iter()
                .any(|left| field.starts_with(left) || left.starts_with(field))
        };
        if let Some(problem) = validate(&spec)
            .into_iter()
            .find(|problem| !depends(&problem.field))
        {
            return Err(self.problem_error(problem));
        }
        Ok(Located { spec, unrendered })
    }

    /// Which flag, if any, wrote the field an error is about; else its place in the file.
    fn origin_of(&self, field: &FieldPath, location: Option<Location>) -> Origin {
        self.sets
            .iter()
            .rev()
            .find(|set| field.starts_with(&set.path))
            .map(|set| Origin::SetFlag(set.raw.clone()))
            .unwrap_or_else(|| top(&self.file, location))
    }

    fn render_error(&self, error: RenderError) -> SpecError {
        let location = self.source.value(&error.field);
        SpecError::new(self.origin_of(&error.field, location), error.message)
            .at_field(error.field)
            .with_hint(error.hint)
    }

    fn problem_error(&self, problem: crate::field::Problem) -> SpecError {
        let location = self.source.nearest(&problem.field);
        SpecError::new(self.origin_of(&problem.field, location), problem.message)
            .at_field(problem.field)
            .with_hint(problem.hint)
    }

    fn deserialize(&self, document: Value) -> Result<RolloutSpec, SpecError> {
        // serde_yaml's Value wants `!tags` for enums; as JSON the single-key form
        // users write (`router: {command: …}`) deserializes naturally.
        let document = serde_json::to_value(&document).map_err(|error| {
            SpecError::new(
                top(&self.file, None),
                format!("the spec cannot be read as data: {error}"),
            )
            .with_hint(Some("mapping keys must be strings".to_owned()))
        })?;
        serde_path_to_error::deserialize(document).map_err(|error| {
            let field = FieldPath::from(error.path());
            let message = error.inner().to_string();
            let (field, location) = locate_serde_error(&self.source, field, &message);
            let hint = hint_for(&message);
            SpecError::new(self.origin_of(&field, location), message)
                .at_field(field)
                .with_hint(hint)
        })
    }
}

/// A spec located before its versions are known (`Parsed::locate`).
pub struct Located {
    pub spec: RolloutSpec,
    /// The fields that still hold their templates.
    pub unrendered: Vec<FieldPath>,
}

/// Every error in the file has a place: the field's, else the top.
fn top(file: &str, location: Option<Location>) -> Origin {
    Origin::File {
        file: file.to_owned(),
        location: Some(location.unwrap_or(TOP)),
    }
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
        pool: alternates(document)
            .then(|| crate::pool::sides(crate::pool::declared(document), options.stable_pool)),
        task: None,
        vars,
    })
}

fn alternates(document: &Value) -> bool {
    crate::pool::declared(document).is_some() || fixed_sides(document).is_some()
}

/// The section of a router that lists its two sides as fixed places
/// (`crate::router::fixed_sides`), and the keys of those lists.
fn fixed_sides(document: &Value) -> Option<(&Value, [&'static str; 2])> {
    let (kind, section) = document.get("router")?.as_mapping()?.iter().next()?;
    Some((section, crate::router::fixed_sides(kind.as_str()?)?))
}

fn fixed_sides_mut(document: &mut Value) -> Option<(&mut serde_yaml::Mapping, [&'static str; 2])> {
    let (kind, section) = document
        .get_mut("router")?
        .as_mapping_mut()?
        .iter_mut()
        .next()?;
    let keys = crate::router::fixed_sides(kind.as_str()?)?;
    Some((section.as_mapping_mut()?, keys))
}

/// The router's lists of its two sides as written (names, not templates); a malformed
/// list is left to deserialization and validation to report at its field.
fn servers(document: &Value, stable_pool: Pool) -> Option<Servers> {
    let (router, [stable_key, new_key]) = fixed_sides(document)?;
    let names = |key: &str| -> Vec<String> {
        router
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
        stable: names(stable_key),
        new: names(new_key),
        pool: stable_pool.other(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(state: &str) -> String {
        format!(
            "apiVersion: greenlight.dev/v1alpha1
kind: Rollout
metadata:
  name: web
vars:
  dir: /srv/state
target:
  command:
    deploy: 'deploy {{{{ version }}}} beside {{{{ stable_version }}}}'
router:
  command:
    set: 'true'
    get: echo 0
strategy:
  canary:
    steps:
      - {{weight: 50, hold: 1s}}
state: {{file: '{state}'}}
"
        )
    }

    fn parsed(state: &str) -> Parsed {
        Parsed::parse("greenlight.yaml", spec(state).as_bytes(), &[])
            .ok()
            .unwrap()
    }

    #[test]
    fn the_record_is_located_without_the_versions() {
        let located = parsed("{{ dir }}/web.json")
            .locate(&[], &CiFacts::default())
            .unwrap_or_else(|error| panic!("{error}"));
        assert!(matches!(
            located.spec.state,
            Some(super::super::types::StateSpec::File(ref path)) if &**path == "/srv/state/web.json"
        ));
        let deploy = FieldPath::root().key("target").key("command").key("deploy");
        assert_eq!(located.unrendered, vec![deploy]);
    }

    #[test]
    fn a_place_that_uses_a_version_stays_a_template_until_loaded() {
        let located = parsed("/srv/{{ stable_version }}.json")
            .locate(&[], &CiFacts::default())
            .unwrap_or_else(|error| panic!("{error}"));
        assert!(matches!(
            located.spec.state,
            Some(super::super::types::StateSpec::File(ref path)) if path.contains("{{")
        ));
    }

    #[test]
    fn one_parse_loads_for_any_versions() {
        let parsed = parsed("/srv/web.json");
        for (new, stable) in [("v2", "v1"), ("v3", "v2")] {
            let options = LoadOptions {
                version: new.to_owned(),
                stable_version: stable.to_owned(),
                ..LoadOptions::default()
            };
            let loaded = parsed
                .load(&options)
                .unwrap_or_else(|error| panic!("{error}"));
            let target = serde_json::to_string(&loaded.spec.target).unwrap_or_default();
            assert!(
                target.contains(&format!("deploy {new} beside {stable}")),
                "{target}"
            );
        }
    }
}
