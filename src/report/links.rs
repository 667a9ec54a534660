//! What a person on call follows from a report: the CI run, each gate's
//! query in its metric source, and the commands that finish a halted or
//! failed rollout by hand. No link ever carries a credential.

use std::collections::BTreeMap;

use reqwest::Url;
use serde::Serialize;

use crate::spec::types::{AnalysisSpec, QuerySpec, RolloutSpec};

/// The links and commands a report shows; empty when nothing is known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Links {
    /// The CI run (a GitHub Actions run, a GitLab job).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Per gate (its metric name), its query in the metric source.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub queries: BTreeMap<String, String>,
    /// How to finish the rollout by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<Handoff>,
}

impl Links {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// The flags that name this rollout again, for `greenlight promote` and
/// `greenlight rollback`, and the manual workflow that runs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handoff {
    /// Shell-quoted, e.g. `-f deploy/greenlight.yaml --version v2`.
    pub flags: String,
    /// The page that starts the manual workflow (`workflow_dispatch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<String>,
}

impl Handoff {
    /// `config` and `version` first, then `--set`/`--var` as they were given,
    /// so the command loads the same spec.
    pub fn new(config: &str, version: &str, sets: &[String], vars: &[String]) -> Self {
        let mut words = vec![
            "-f".to_owned(),
            shell_quote(config),
            "--version".to_owned(),
            shell_quote(version),
        ];
        for (flag, values) in [("--set", sets), ("--var", vars)] {
            for value in values {
                words.push(flag.to_owned());
                words.push(shell_quote(value));
            }
        }
        Self {
            flags: words.join(" "),
            dispatch: None,
        }
    }

    /// The command line for `verb` (`promote`, `rollback`).
    pub fn command(&self, verb: &str) -> String {
        format!("greenlight {verb} {}", self.flags)
    }
}

/// A word the shell reads back unchanged: bare when it is plain, else in
/// single quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Query parameters that carry credentials in the URLs people paste.
fn is_credential_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace(['-', '_'], "");
    [
        "token",
        "accesstoken",
        "apikey",
        "key",
        "secret",
        "password",
        "passwd",
        "auth",
        "authorization",
        "signature",
        "sig",
        "jwt",
        "session",
    ]
    .iter()
    .any(|credential| name == *credential || name.ends_with(credential))
}

/// `url` without `user:password@` or a credential in its query string;
/// `None` when it is not an http(s) URL.
pub fn public_url(url: &str) -> Option<String> {
    let mut url = Url::parse(url.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| !is_credential_parameter(name))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Some(url.to_string())
}

/// The query in Prometheus's own UI: `<base>/graph?g0.expr=…&g0.tab=0`.
/// The base loses its credentials and its query string (a token there).
pub fn prometheus_graph(address: &str, expr: &str) -> Option<String> {
    let mut url = Url::parse(&public_url(address)?).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    let path = format!("{}/graph", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.query_pairs_mut()
        .append_pair("g0.expr", expr)
        .append_pair("g0.tab", "0");
    Some(url.to_string())
}

/// Each gate's link: its `queryLink` when the spec gives one, else its
/// PromQL in Prometheus (a `counts` query links the new version's errors).
pub fn query_links(spec: &RolloutSpec) -> BTreeMap<String, String> {
    let Some(analysis) = &spec.analysis else {
        return BTreeMap::new();
    };
    analysis
        .metrics
        .iter()
        .filter_map(|metric| {
            let link = match &metric.query_link {
                Some(link) => public_url(link),
                None => prometheus_link(analysis, &metric.query),
            }?;
            Some((metric.name.clone(), link))
        })
        .collect()
}

fn prometheus_link(analysis: &AnalysisSpec, query: &QuerySpec) -> Option<String> {
    let address = &analysis.prometheus.as_ref()?.address;
    match query {
        QuerySpec::Prometheus(expr) => prometheus_graph(address, expr),
        QuerySpec::Counts(counts) => prometheus_link(analysis, &counts.new.errors),
        QuerySpec::Command(_) | QuerySpec::Http(_) | QuerySpec::Sandbox(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_links_encode_the_query_and_drop_credentials() {
        assert_eq!(
            prometheus_graph(
                "https://ops:s3cret@prom.example/prometheus/?token=abc",
                r#"sum(rate(http_requests_total{code=~"5.."}[1m])) / 2"#
            )
            .as_deref(),
            Some(
                "https://prom.example/prometheus/graph?g0.expr=sum%28rate%28http_requests_total%7Bcode%3D%7E%225..%22%7D%5B1m%5D%29%29+%2F+2&g0.tab=0"
            )
        );
        assert_eq!(
            prometheus_graph("http://prometheus:9090", "up").as_deref(),
            Some("http://prometheus:9090/graph?g0.expr=up&g0.tab=0")
        );
        assert_eq!(prometheus_graph("not a url", "up"), None);
    }

    #[test]
    fn public_urls_keep_the_query_but_not_its_credentials() {
        assert_eq!(
            public_url("https://u:p@grafana.example/d/x?var-svc=checkout&api_key=k&X-Auth-Token=t")
                .as_deref(),
            Some("https://grafana.example/d/x?var-svc=checkout")
        );
        assert_eq!(public_url("file:///etc/passwd"), None);
    }

    #[test]
    fn handoff_commands_quote_what_the_shell_would_split() {
        let handoff = Handoff::new(
            "deploy/green light.yaml",
            "v2",
            &["analysis.interval=5s".to_owned()],
            &["image=it's".to_owned()],
        );
        assert_eq!(
            handoff.command("promote"),
            r"greenlight promote -f 'deploy/green light.yaml' --version v2 --set analysis.interval=5s --var 'image=it'\''s'"
        );
    }
}
