//! `yaml-parsers PARSER CASE`: parses one hostile input, prints the outcome,
//! the time and the peak RSS (VmHWM).

use std::time::Instant;

fn bomb(uses: usize) -> String {
    let scalars = vec!["x"; 100_000].join(",");
    let aliases = vec!["*a"; uses].join(",");
    format!("big: &a [{scalars}]\nuses: [{aliases}]\n")
}

fn input(case: &str) -> String {
    match case {
        "bomb100" => bomb(100),
        "bomb1000" => bomb(1000),
        "two-docs" => "a: 1\n---\nb: 2\n".to_owned(),
        "int-key" => "a:\n  7: x\n".to_owned(),
        "nul" => "a: 1\nb: x\0y\n".to_owned(),
        "unclosed" => "a: [1, 2\nb: 3\n".to_owned(),
        other => panic!("unknown case {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (parser, case) = (args[1].as_str(), args[2].as_str());
    let text = input(case);
    let start = Instant::now();
    let outcome = match parser {
        "serde_yaml" => match serde_yaml::from_str::<serde_yaml::Value>(&text) {
            Ok(_) => "accepted".to_owned(),
            Err(e) => format!("error: {e}"),
        },
        "yaml-rust2" => match yaml_rust2::YamlLoader::load_from_str(&text) {
            Ok(docs) => format!("accepted ({} documents)", docs.len()),
            Err(e) => format!("error: {e}"),
        },
        "serde-saphyr" => match serde_saphyr::from_str::<serde_json::Value>(&text) {
            Ok(_) => "accepted".to_owned(),
            Err(e) => format!("error: {}", e.to_string().lines().next().unwrap_or("")),
        },
        other => panic!("unknown parser {other}"),
    };
    let hwm = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
        .unwrap_or_default();
    let outcome: String = outcome.chars().take(140).collect();
    println!(
        "{parser:12} {case:9} {:>8.3}s {:>8} KiB  {outcome}",
        start.elapsed().as_secs_f64(),
        hwm
    );
}
