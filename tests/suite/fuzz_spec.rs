//! Property-based fuzzing of the spec loader, seeded with the example specs:
//! whatever the bytes, loading never panics, and every error says where in
//! the file it is and stays short.
//!
//! The suite runs a bounded number of cases; `benches/fuzz-spec` runs a
//! million (`GREENLIGHT_FUZZ_CASES`) on the release build and also counts slow
//! cases and peak memory.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use greenlight::spec::LoadOptions;
use greenlight::spec::error::Origin;
use greenlight::spec::load::load_bytes;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Cases the suite runs; `GREENLIGHT_FUZZ_CASES` overrides it.
const SUITE_CASES: u64 = 2_000;

/// A case slower than this counts as a timeout (in the benchmark's figures).
const SLOW: Duration = Duration::from_secs(1);

/// What YAML and templates are made of, and what breaks them.
const TOKENS: &[&str] = &[
    "&a ",
    "*a",
    "&b [",
    "*b, ",
    "---\n",
    "...\n",
    "\0",
    "\u{feff}",
    "{{ ",
    " }}",
    "{% ",
    " %}",
    "{{ [1]*99999999 }}",
    "{% for x in range(99999) %}",
    "{% endfor %}",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "!tag ",
    "!!str ",
    "<<: ",
    "\t",
    "\n",
    "'",
    "\"",
    "? ",
    "|\n",
    ">-\n",
    "#",
    "%YAML 1.2\n",
    "1e999",
    "-inf",
    ".nan",
    "0x",
    "~",
    "null",
    "true",
    "@",
    "`",
    "\\",
    "\r",
    "  ",
    "\u{85}",
];

#[derive(Debug, Clone)]
enum Mutation {
    InsertByte(usize, u8),
    InsertToken(usize, usize),
    Delete(usize, usize),
    Replace(usize, u8),
    /// Copies `len` bytes from one place to another (repeats structure).
    Splice(usize, usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::InsertByte(at, byte)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::InsertToken(at, token)),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Replace(at, byte)),
        (any::<usize>(), any::<usize>(), 1usize..200)
            .prop_map(|(from, to, len)| Mutation::Splice(from, to, len)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len().max(1);
        match *mutation {
            Mutation::InsertByte(at, byte) => bytes.insert(at % (bytes.len() + 1), byte),
            Mutation::InsertToken(at, token) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, TOKENS[token].bytes());
            }
            Mutation::Delete(at, count) => {
                let at = at % len;
                let end = (at + count).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            Mutation::Replace(at, byte) => {
                if !bytes.is_empty() {
                    bytes[at % len] = byte;
                }
            }
            Mutation::Splice(from, to, count) => {
                let from = from % len;
                let end = (from + count).min(bytes.len());
                let chunk: Vec<u8> = bytes.get(from..end).unwrap_or_default().to_vec();
                let to = to % (bytes.len() + 1);
                bytes.splice(to..to, chunk);
            }
            Mutation::Truncate(at) => bytes.truncate(at % len),
        }
    }
    bytes
}

/// The example specs: every `greenlight.yaml` under examples/.
fn seeds() -> Vec<Vec<u8>> {
    fn walk(dir: &Path, found: &mut Vec<Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<_> = entries.flatten().map(|entry| entry.path()).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                walk(&path, found);
            } else if path.file_name() == Some("greenlight.yaml".as_ref()) {
                found.push(std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    let mut found = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        &mut found,
    );
    assert!(found.len() >= 5, "the example specs are the seeds");
    found
}

#[derive(Debug, Default)]
struct Figures {
    cases: u64,
    accepted: u64,
    panics: u64,
    unlocated: u64,
    long_messages: u64,
    slow: u64,
    slowest: Duration,
    examples: Vec<String>,
}

impl Figures {
    fn add(&mut self, other: Figures) {
        self.cases += other.cases;
        self.accepted += other.accepted;
        self.panics += other.panics;
        self.unlocated += other.unlocated;
        self.long_messages += other.long_messages;
        self.slow += other.slow;
        self.slowest = self.slowest.max(other.slowest);
        self.examples.extend(other.examples);
    }
}

fn fuzz(cases: u64, seed: u64, seeds: &[Vec<u8>]) -> Figures {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = (0..seeds.len(), proptest::collection::vec(mutation(), 0..12));
    let options = LoadOptions {
        version: "v2".into(),
        stable_version: "v1".into(),
        ..LoadOptions::default()
    };
    let mut figures = Figures::default();
    for _ in 0..cases {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let (seed, mutations) = tree.current();
        let bytes = apply(seeds[seed].clone(), &mutations);
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            load_bytes("greenlight.yaml", &bytes, &options)
        }));
        let took = started.elapsed();
        figures.cases += 1;
        figures.slowest = figures.slowest.max(took);
        if took > SLOW {
            figures.slow += 1;
        }
        let mut example = |what: &str| {
            if figures.examples.len() < 5 {
                figures
                    .examples
                    .push(format!("{what}: {:?}", String::from_utf8_lossy(&bytes)));
            }
        };
        match outcome {
            Err(_) => {
                figures.panics += 1;
                example("panic");
            }
            Ok(Ok(_)) => figures.accepted += 1,
            Ok(Err(error)) => {
                let located = match &error.origin {
                    Origin::File { location, .. } => location.is_some(),
                    _ => true,
                };
                if !located {
                    figures.unlocated += 1;
                    example(&format!("no location ({error})"));
                }
                if error.to_string().len() > 3_000 {
                    figures.long_messages += 1;
                    example("long message");
                }
            }
        }
    }
    figures
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_spec_loader_survives_mutated_examples() {
    let cases: u64 = std::env::var("GREENLIGHT_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(SUITE_CASES);
    let seeds = seeds();
    // Panics are caught and counted; keep their messages out of the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let workers: u64 = 2;
    let started = Instant::now();
    let figures = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let seeds = &seeds;
                let share = cases / workers + u64::from(worker < cases % workers);
                scope.spawn(move || fuzz(share, 0x5eed + worker, seeds))
            })
            .collect();
        let mut total = Figures::default();
        for handle in handles {
            total.add(handle.join().unwrap_or_default());
        }
        total
    });
    std::panic::set_hook(hook);
    println!(
        "fuzz-spec: cases={} accepted={} panics={} errors_without_location={} long_messages={} timeouts={} slowest_ms={} peak_rss_kib={} seconds={:.1}",
        figures.cases,
        figures.accepted,
        figures.panics,
        figures.unlocated,
        figures.long_messages,
        figures.slow,
        figures.slowest.as_millis(),
        peak_rss_kib(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(figures.cases, cases);
    assert_eq!(
        (figures.panics, figures.unlocated, figures.long_messages),
        (0, 0, 0),
        "{:#?}",
        figures.examples
    );
}
