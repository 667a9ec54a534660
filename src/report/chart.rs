//! Mermaid `xychart-beta` charts of the traffic weight and of each gate's
//! values over time, for the final PR/MR comment. The step table above them
//! carries the same numbers where Mermaid does not render.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use super::Report;
use crate::duration::display;
use crate::engine::EventKind;
use crate::judge::format_value;

/// More points than this make an unreadable chart: keep every n-th.
const MAX_POINTS: usize = 40;

struct Series {
    title: String,
    labels: Vec<String>,
    lines: Vec<Vec<f64>>,
    y_range: Option<(f64, f64)>,
}

fn label(start: SystemTime, at: SystemTime) -> String {
    display(at.duration_since(start).unwrap_or(Duration::ZERO))
}

/// Keeps at most `MAX_POINTS` indices, always the first and the last.
fn thin(count: usize) -> Vec<usize> {
    if count <= MAX_POINTS {
        return (0..count).collect();
    }
    let mut picked: Vec<usize> = (0..MAX_POINTS - 1)
        .map(|index| index * (count - 1) / (MAX_POINTS - 1))
        .collect();
    picked.push(count - 1);
    picked.dedup();
    picked
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "'"))
}

fn render(series: &Series) -> String {
    let keep = thin(series.labels.len());
    let mut chart = String::from("```mermaid\nxychart-beta\n");
    let _ = writeln!(chart, "    title {}", quoted(&series.title));
    let labels: Vec<String> = keep
        .iter()
        .map(|&index| quoted(&series.labels[index]))
        .collect();
    let _ = writeln!(chart, "    x-axis [{}]", labels.join(", "));
    if let Some((low, high)) = series.y_range {
        let _ = writeln!(
            chart,
            "    y-axis {} --> {}",
            format_value(low),
            format_value(high)
        );
    }
    for line in &series.lines {
        let values: Vec<String> = keep
            .iter()
            .map(|&index| format_value(line[index]))
            .collect();
        let _ = writeln!(chart, "    line [{}]", values.join(", "));
    }
    chart.push_str("```");
    chart
}

/// The weight on the new version at every change, then one chart per gate
/// with its threshold as a second line. `None` when nothing was measured.
pub fn render_charts(report: &Report) -> Option<String> {
    let start = report.started_at?;
    let mut charts = Vec::new();

    let weights: Vec<(String, f64)> = report
        .timeline
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::WeightSet { weight, .. } | EventKind::RollbackCompleted { weight } => {
                Some((label(start, event.at), f64::from(weight.percent())))
            }
            _ => None,
        })
        .collect();
    if weights.len() > 1 {
        charts.push(render(&Series {
            title: format!("Traffic on {} (%)", report.new_version),
            labels: weights.iter().map(|(at, _)| at.clone()).collect(),
            lines: vec![weights.iter().map(|(_, weight)| *weight).collect()],
            y_range: Some((0.0, 100.0)),
        }));
    }

    for metric in report.metrics() {
        let mut labels = Vec::new();
        let mut values = Vec::new();
        let mut limits = Vec::new();
        for event in &report.timeline {
            if let EventKind::Gate {
                metric: name,
                value: Some(value),
                min,
                max,
                ..
            } = &event.kind
                && name == metric
            {
                labels.push(label(start, event.at));
                values.push(*value);
                limits.push(max.or(*min));
            }
        }
        if values.is_empty() {
            continue;
        }
        let mut lines = vec![values];
        // A constant second line shows the threshold the values must respect.
        if let Some(limit) = limits.first().copied().flatten() {
            lines.push(vec![limit; labels.len()]);
        }
        charts.push(render(&Series {
            title: match lines.len() {
                2 => format!("{metric} (line 2: threshold)"),
                _ => metric.to_owned(),
            },
            labels,
            lines,
            y_range: None,
        }));
    }
    (!charts.is_empty()).then(|| charts.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_series_are_thinned_but_keep_both_ends() {
        assert_eq!(thin(3), vec![0, 1, 2]);
        let picked = thin(1000);
        assert!(picked.len() <= MAX_POINTS);
        assert_eq!((picked[0], picked[picked.len() - 1]), (0, 999));
    }
}
