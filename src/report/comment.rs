//! The body of the sticky PR/MR comment: the summary with a hidden marker
//! (how a later run finds it again), the plan or the charts, within the size
//! GitHub accepts.

use minijinja::context;

use super::Report;
use super::chart::render_charts;
use super::markdown::{self, Template, View};

/// GitHub refuses a comment body above 65,536 characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// One comment per service and environment: `<!-- greenlight:NAME:ENV -->`.
pub fn marker(name: &str, environment: &str) -> String {
    // `--` would end the HTML comment early.
    let clean = |text: &str| {
        let mut text = text.to_owned();
        while text.contains("--") {
            text = text.replace("--", "-");
        }
        text
    };
    format!("<!-- greenlight:{}:{} -->", clean(name), clean(environment))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Updated at every step while the rollout runs.
    Live,
    Final,
}

/// A Markdown code fence longer than any run of backticks in `text`.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

pub fn render(
    report: &Report,
    title: Option<&str>,
    marker: &str,
    stage: Stage,
    plan: Option<&str>,
) -> Result<String, minijinja::Error> {
    let chart = match stage {
        Stage::Final => render_charts(report),
        Stage::Live => None,
    };
    let plan = plan.map(|text| {
        let fence = fence_for(text);
        format!("{fence}text\n{}\n{fence}", text.trim_end())
    });
    let attempt = |without_timeline: bool, with_chart: bool| {
        markdown::render_view(
            Template::Comment,
            report,
            &View {
                title,
                live: stage == Stage::Live,
                without_timeline,
                extra: Some(context! {
                    marker => marker,
                    chart => if with_chart { chart.clone() } else { None },
                    plan => plan.clone(),
                }),
            },
        )
    };
    let chars = |text: &str| text.chars().count();
    // What goes first when it is too long: the timeline, then the charts.
    for (without_timeline, with_chart) in [(false, true), (true, true), (true, false)] {
        let body = attempt(without_timeline, with_chart)?;
        if chars(&body) <= COMMENT_LIMIT {
            return Ok(body);
        }
    }
    Ok(markdown::truncate(
        attempt(true, false)?,
        COMMENT_LIMIT,
        chars,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_cannot_close_the_html_comment() {
        assert_eq!(
            marker("checkout", "prod"),
            "<!-- greenlight:checkout:prod -->"
        );
        assert_eq!(marker("a---b", "c"), "<!-- greenlight:a-b:c -->");
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("has ```` inside"), "`````");
    }
}
