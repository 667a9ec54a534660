//! Every string field of the spec is a minijinja template, rendered with strict
//! undefined so a typo in a variable name is an error, never an empty string.

use std::collections::BTreeMap;
use std::time::Duration;

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
    /// The one CI job this process runs as (the run URL with its attempt and
    /// job): it names the lock's holder. Not a template value.
    #[serde(skip)]
    pub job: Option<String>,
    /// The same job across its attempts: a re-run takes the lock of an
    /// earlier attempt over at once. Not a template value.
    #[serde(skip)]
    pub job_attempt: Option<CiJob>,
}

/// One CI job across its re-runs: GitHub's run and job with the run attempt,
/// GitLab's pipeline and job name with the job id (a retried job gets a new,
/// larger id in the same pipeline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CiJob {
    /// The same for every attempt of the job.
    pub job: String,
    /// Larger for a later attempt.
    pub attempt: u64,
}

impl CiJob {
    /// Whether `self` is a later attempt of `earlier`'s job.
    pub fn reruns(&self, earlier: &CiJob) -> bool {
        self.job == earlier.job && self.attempt > earlier.attempt
    }
}

/// What templates can see.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateContext {
    pub name: String,
    pub version: String,
    pub stable_version: String,
    pub ci: CiFacts,
    /// The router's stable and new servers, for queries that select them
    /// (`server=~"{{ servers.new | join('|') }}"`); only with a router that lists
    /// its two sides (`router: haproxy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servers: Option<Servers>,
    /// The fixed pools of a release (`pools: [blue, green]`, else `a` and
    /// `b`): `pool.stable` where the stable version runs, `pool.new` where the
    /// new one goes; only when releases alternate (`crate::pool`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<crate::pool::Sides>,
    /// The task a migration's drain gate measures (`{{ task.id }}`, `task.host`,
    /// `task.port`); only while that query is rendered, once per task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<crate::traffic::Task>,
    /// `vars:` from the spec, then `--var` flags (which win).
    #[serde(flatten)]
    pub vars: BTreeMap<String, serde_json::Value>,
}

impl TemplateContext {
    /// The context a target renders the objects of `version` with: `version`
    /// is that version and, on fixed pools, `pool.new` is the pool it runs in.
    /// The stable version's own objects are in `pool.stable`, so rendering
    /// them (to remove them) swaps the pools; with the release's pools they
    /// would name the new version's objects.
    pub fn for_version(&self, version: &str) -> Self {
        let mut context = self.clone();
        if version != context.version && version == context.stable_version {
            context.pool = context.pool.map(|pool| pool.swapped());
        }
        context.version = version.to_owned();
        context
    }
}

/// Server names per side, as the router section lists them.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Servers {
    pub stable: Vec<String>,
    pub new: Vec<String>,
    /// The pool the new version goes to (`a` or `b`, see `crate::pool`), for
    /// the deploy command.
    pub pool: crate::pool::Pool,
}

/// Work one template may do (instructions, and bytes it builds or writes):
/// a field's template takes a few hundred; a loop or a repetition that would
/// take seconds or gigabytes stops here.
pub const FUEL: u64 = 100_000;

/// Characters one rendered string may have, and all of a document's together.
pub const MAX_RENDERED: usize = 256 * 1024;

/// Names templates get from greenlight itself; a variable may not shadow them.
pub const BUILT_IN: [&str; 7] = [
    "name",
    "version",
    "stable_version",
    "ci",
    "servers",
    "pool",
    "task",
];

/// Fields that are data, not templates.
fn is_literal(path: &FieldPath) -> bool {
    let root = FieldPath::root();
    path.starts_with(&root.key("vars"))
        || path.starts_with(&root.key("pools"))
        || *path == root.key("metadata").key("name")
        || path.starts_with(&task_templates())
}

/// The fields rendered once per task, at run time, with `task` in the context:
/// a migration's drain gate. Loading only checks they render for a sample task.
pub fn task_templates() -> FieldPath {
    FieldPath::root()
        .key("strategy")
        .key("migrate")
        .key("drain")
        .key("query")
}

/// Renders `node`, a copy of the fields at [`task_templates`], for `task`.
pub fn render_for_task(
    node: &Value,
    context: &TemplateContext,
    task: &crate::traffic::Task,
) -> Result<Value, RenderError> {
    let mut work = node.clone();
    let mut context = context.clone();
    context.task = Some(task.clone());
    let rendered = within_deadline(move || {
        let environment = environment();
        let context = minijinja::Value::from(Serde(&context));
        let mut walk = Walk {
            environment: &environment,
            context: &context,
            withheld: &[],
            room: MAX_RENDERED,
            left: Vec::new(),
            literals: false,
        };
        walk.node(task_templates(), &mut work).map(|()| work)
    })
    .unwrap_or_else(|| {
        Err(RenderError {
            field: task_templates(),
            message: out_of_time(),
            hint: None,
        })
    })?;
    Ok(rendered)
}

pub struct RenderError {
    pub field: FieldPath,
    pub message: String,
    pub hint: Option<String>,
}

/// Renders every templated string in `document` in place.
pub fn render_document(document: &mut Value, context: &TemplateContext) -> Result<(), RenderError> {
    render_without(document, context, &[]).map(|_| ())
}

/// Renders `document` in place without the variables named in `withheld`
/// (their values are not known yet): a string whose template uses one is left
/// as written. Returns the fields left so.
pub fn render_without(
    document: &mut Value,
    context: &TemplateContext,
    withheld: &[&'static str],
) -> Result<Vec<FieldPath>, RenderError> {
    let mut work = document.clone();
    let context = context.clone();
    let withheld = withheld.to_vec();
    let (rendered, left) = within_deadline(move || {
        let environment = environment();
        let mut context = serde_json::to_value(&context).unwrap_or_default();
        if let Some(names) = context.as_object_mut() {
            names.retain(|name, _| !withheld.contains(&name.as_str()));
        }
        let context = minijinja::Value::from(Serde(&context));
        let mut walk = Walk {
            environment: &environment,
            context: &context,
            withheld: &withheld,
            room: MAX_RENDERED,
            left: Vec::new(),
            literals: true,
        };
        walk.node(FieldPath::root(), &mut work)
            .map(|()| (work, walk.left))
    })
    .unwrap_or_else(|| {
        Err(RenderError {
            field: FieldPath::root(),
            message: out_of_time(),
            hint: None,
        })
    })?;
    *document = rendered;
    Ok(left)
}

/// How much work rendering a document's (or a file's) templates may take,
/// counted in the rendering thread's own CPU time: a spec's templates render
/// in milliseconds, and fuel stops most runaway templates sooner. CPU time,
/// not wall time, so that a loaded CI runner never refuses a good spec.
pub const CPU_LIMIT: Duration = Duration::from_millis(500);

/// Wall time after which rendering is given up whatever it cost: a thread
/// that only waits (for the CPU, or where its CPU time cannot be read) is
/// refused after this instead.
const WALL_LIMIT: Duration = Duration::from_secs(20);

/// How often the rendering thread's CPU time is read while it runs.
const POLL: Duration = Duration::from_millis(10);

fn out_of_time() -> String {
    format!(
        "the templates did not finish rendering within {} ms of CPU time",
        CPU_LIMIT.as_millis()
    )
}

/// Runs `work` on its own thread and gives up on it once it has used
/// [`CPU_LIMIT`] (or after [`WALL_LIMIT`]): some of minijinja's operations on
/// a lazy repetition (`x in [1]*99999999`) walk it without charging fuel.
/// A spec that hits this is refused, so greenlight exits soon after and the
/// abandoned thread with it.
fn within_deadline<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    within(CPU_LIMIT, WALL_LIMIT, work)
}

fn within<T: Send + 'static>(
    cpu_limit: Duration,
    wall_limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (clock_sent, clock) = std::sync::mpsc::channel();
    let (done, result) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("templates".to_owned())
        .spawn(move || {
            let _ = clock_sent.send(ThreadClock::of_this_thread());
            let _ = done.send(work());
        })
        .ok()?;
    let clock = clock.recv().ok()?;
    let started = std::time::Instant::now();
    loop {
        match result.recv_timeout(POLL) {
            Ok(value) => return Some(value),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        let elapsed = started.elapsed();
        let spent = clock
            .as_ref()
            .and_then(ThreadClock::spent)
            .unwrap_or(elapsed);
        if spent >= cpu_limit || elapsed >= wall_limit {
            return None;
        }
    }
}

/// The CPU time a thread has used, readable from another thread: its
/// `/proc/thread-self/schedstat` opened by the thread itself (the open file
/// keeps pointing at that thread). `None` where there is no such file.
struct ThreadClock(std::fs::File);

impl ThreadClock {
    fn of_this_thread() -> Option<Self> {
        std::fs::File::open("/proc/thread-self/schedstat")
            .ok()
            .map(Self)
    }

    /// The first field of schedstat: nanoseconds spent on a CPU.
    fn spent(&self) -> Option<Duration> {
        use std::os::unix::fs::FileExt;
        let mut buffer = [0u8; 128];
        let read = self.0.read_at(&mut buffer, 0).ok()?;
        let text = std::str::from_utf8(buffer.get(..read)?).ok()?;
        let nanoseconds = text.split_whitespace().next()?.parse().ok()?;
        Some(Duration::from_nanos(nanoseconds))
    }
}

/// Renders a whole text (a manifest file) with the same strict rules.
/// The error is a message and, where one helps, a hint.
pub fn render_text(
    source: &str,
    context: &TemplateContext,
) -> Result<String, (String, Option<String>)> {
    let source = source.to_owned();
    let context = context.clone();
    within_deadline(move || {
        let environment = environment();
        let context = minijinja::Value::from(Serde(&context));
        render_one(&environment, &context, &source)
    })
    .unwrap_or_else(|| Err((out_of_time(), None)))
}

fn environment() -> Environment<'static> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_fuel(Some(FUEL));
    environment.set_formatter(format_bounded);
    environment.add_filter("tojson", bounded_tojson);
    // Block scalars end in a newline that must survive rendering.
    if let Ok(syntax) = SyntaxConfig::builder().keep_trailing_newline(true).build() {
        environment.set_syntax(syntax);
    }
    environment
}

/// Items a value printed by a template may hold. Fuel is charged as output is
/// written, but a lazy repetition (`[1]*99999999`) is walked whole first.
const MAX_PRINTED_ITEMS: usize = 10_000;

/// Prints a value the way minijinja does, refusing an undefined one (strict
/// mode) and one with more items than [`MAX_PRINTED_ITEMS`].
fn format_bounded(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    if value.is_undefined() {
        return Err(minijinja::Error::from(minijinja::ErrorKind::UndefinedError));
    }
    let mut room = MAX_PRINTED_ITEMS;
    if !fits(value, &mut room) {
        return Err(too_big());
    }
    minijinja::escape_formatter(out, state, value)
}

/// `tojson`, refusing what [`format_bounded`] refuses (it walks the value whole).
fn bounded_tojson(
    value: &minijinja::Value,
    indent: Option<minijinja::Value>,
    args: minijinja::value::Kwargs,
) -> Result<minijinja::Value, minijinja::Error> {
    let mut room = MAX_PRINTED_ITEMS;
    if !fits(value, &mut room) {
        return Err(too_big());
    }
    minijinja::filters::tojson(value, indent, args)
}

fn too_big() -> minijinja::Error {
    minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        format!("a value of more than {MAX_PRINTED_ITEMS} items is too big to print"),
    )
}

/// Whether `value` and everything in it holds at most `room` items, counted
/// without walking anything bigger.
fn fits(value: &minijinja::Value, room: &mut usize) -> bool {
    if value.as_object().is_none() {
        return true;
    }
    let Some(len) = value.len() else {
        return false;
    };
    if len > *room {
        return false;
    }
    *room -= len;
    let Ok(items) = value.try_iter() else {
        return true;
    };
    let is_map = value.kind() == minijinja::value::ValueKind::Map;
    for item in items {
        let inner = if is_map {
            value.get_item(&item).unwrap_or_default()
        } else {
            item
        };
        if !fits(&inner, room) {
            return false;
        }
    }
    true
}

/// One rendering of a document: what it renders with, and what it has left.
struct Walk<'a> {
    environment: &'a Environment<'a>,
    context: &'a minijinja::Value,
    withheld: &'a [&'static str],
    /// Characters the rendered strings may still take.
    room: usize,
    /// Fields left as written: they use a withheld variable.
    left: Vec<FieldPath>,
    /// Whether the fields that are data, or rendered later, are left alone
    /// (not when a task's own templates are rendered).
    literals: bool,
}

impl Walk<'_> {
    fn node(&mut self, path: FieldPath, node: &mut Value) -> Result<(), RenderError> {
        if self.literals && is_literal(&path) {
            return Ok(());
        }
        match node {
            Value::String(text) if text.contains("{{") || text.contains("{%") => {
                if self.uses_withheld(text) {
                    self.left.push(path);
                    return Ok(());
                }
                let room = self.room;
                let rendered = render_one(self.environment, self.context, text)
                    .and_then(|rendered| {
                        if rendered.len() > room {
                            Err((
                                format!("the rendered templates exceed {MAX_RENDERED} characters"),
                                Some("a field is a name, a URL or a query: render less".to_owned()),
                            ))
                        } else {
                            Ok(rendered)
                        }
                    })
                    .map_err(|(message, hint)| RenderError {
                        field: path,
                        message,
                        hint,
                    })?;
                self.room -= rendered.len();
                *text = rendered;
            }
            Value::Sequence(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    self.node(path.index(index), item)?;
                }
            }
            Value::Mapping(mapping) => {
                for (key, value) in mapping.iter_mut() {
                    let key = key
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("{key:?}"));
                    self.node(path.key(key), value)?;
                }
            }
            Value::Tagged(tagged) => self.node(path, &mut tagged.value)?,
            _ => {}
        }
        Ok(())
    }

    /// Whether the template in `text` names a withheld variable; a template
    /// that does not compile is rendered, to report its error.
    fn uses_withheld(&self, text: &str) -> bool {
        !self.withheld.is_empty()
            && self
                .environment
                .template_from_str(text)
                .is_ok_and(|template| {
                    template
                        .undeclared_variables(false)
                        .iter()
                        .any(|name| self.withheld.contains(&name.as_str()))
                })
    }
}

fn render_one(
    environment: &Environment<'_>,
    context: &minijinja::Value,
    source: &str,
) -> Result<String, (String, Option<String>)> {
    let template = environment
        .template_from_str(source)
        .map_err(|error| (format!("template syntax error: {}", describe(&error)), None))?;
    let rendered = template.render(context).map_err(|error| {
        if error.kind() == minijinja::ErrorKind::OutOfFuel {
            return (
                format!("the template does more than {FUEL} steps of work"),
                Some("a template picks and joins values; loops and repetitions that big are not what a spec needs".to_owned()),
            );
        }
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
            let hint = if undefined.iter().any(|name| name == "pool") {
                "`pool` is there when releases alternate between fixed pools: name them at the top level, e.g. `pools: [blue, green]`".to_owned()
            } else {
                format!(
                    "defined are: {}; add others with `vars:` in the spec or `--var NAME=VALUE`",
                    available.join(", ")
                )
            };
            (
                format!(
                    "template uses undefined variable `{}`",
                    undefined.join("`, `")
                ),
                Some(hint),
            )
        } else {
            (format!("template error: {}", describe(&error)), None)
        }
    })?;
    if rendered.len() > MAX_RENDERED {
        return Err((
            format!("the template renders more than {MAX_RENDERED} characters"),
            None,
        ));
    }
    Ok(rendered)
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
            task: None,
            servers: Some(Servers {
                stable: vec!["blue1".into(), "blue2".into()],
                new: vec!["green1".into()],
                pool: crate::pool::Pool::B,
            }),
            pool: None,
            vars: BTreeMap::from([("image".into(), serde_json::json!("registry/checkout"))]),
        }
    }

    #[test]
    fn each_version_renders_in_its_own_pool() {
        let release = TemplateContext {
            pool: Some(crate::pool::sides(
                Some(["blue", "green"]),
                crate::pool::Pool::A,
            )),
            ..context()
        };
        let app = "/svc-{{ pool.new }}:{{ version }}";
        let render = |version: &str| render_text(app, &release.for_version(version)).ok();
        assert_eq!(render("v2").as_deref(), Some("/svc-green:v2"));
        assert_eq!(render("v1").as_deref(), Some("/svc-blue:v1"));
        // Any other version is rendered as the release is: in the idle pool.
        assert_eq!(render("v0").as_deref(), Some("/svc-green:v0"));
    }

    #[test]
    fn withheld_variables_leave_their_fields_as_written() {
        let mut document: Value = serde_yaml::from_str(
            "image: '{{ image }}:{{ version }}'\npath: '{{ image }}/state'\nnew: '{{ servers.new[0] }}'\n",
        )
        .unwrap();
        let left = render_without(&mut document, &context(), &["version", "servers"])
            .ok()
            .unwrap();
        assert_eq!(document["image"], Value::from("{{ image }}:{{ version }}"));
        assert_eq!(document["new"], Value::from("{{ servers.new[0] }}"));
        assert_eq!(document["path"], Value::from("registry/checkout/state"));
        let root = FieldPath::root();
        assert_eq!(left, vec![root.key("image"), root.key("new")]);
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

    /// Regression: `[1]*99999999` took 13 s and 1.2 GB; nested loops never ended.
    #[test]
    fn template_bombs_run_out_of_fuel() {
        for bomb in [
            "{{ [1]*99999999 }}",
            "{{ [[1]*99999999] }}",
            "{{ ([1]*99999999)|tojson }}",
            "{{ ([1]*99999999)|join(',') }}",
            "{{ 'x'*99999999 }}",
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "{% for a in range(100000) %}{{ a }}{% endfor %}",
        ] {
            let mut document = Value::from(bomb);
            let error = render_document(&mut document, &context()).err().unwrap();
            assert!(
                ["steps of work", "too big", "did not finish"]
                    .iter()
                    .any(|reason| error.message.contains(reason)),
                "{bomb}: {}",
                error.message
            );
            assert!(error.message.len() < 200, "{}", error.message);
        }
    }

    #[test]
    fn rendering_that_burns_its_cpu_time_is_given_up() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let spinning = Arc::clone(&stop);
        let spin = within(
            Duration::from_millis(50),
            Duration::from_secs(20),
            move || {
                while !spinning.load(Ordering::Relaxed) {
                    std::hint::black_box(0u64);
                }
            },
        );
        stop.store(true, Ordering::Relaxed);
        assert!(spin.is_none());
        assert_eq!(within_deadline(|| 7), Some(7));
    }

    /// A thread that waits (as one does on a loaded machine) uses no CPU
    /// time: only the wall limit stops it.
    #[cfg(target_os = "linux")]
    #[test]
    fn rendering_that_only_waits_is_not_charged_for_the_wait() {
        let limits = (Duration::from_millis(50), Duration::from_secs(20));
        let waited = within(limits.0, limits.1, || {
            std::thread::sleep(Duration::from_millis(200));
            7
        });
        assert_eq!(waited, Some(7));
        let stuck = within(limits.0, Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(2))
        });
        assert!(stuck.is_none());
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
