//! Mermaid `xychart-beta` charts of the traffic weight and of each gate's
//! values over time, for the final PR/MR comment. The step table above them
//! carries the same numbers where Mermaid does not render.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use super::Report;
use crate::duration::display;
use crate::engine::EventKind;
use crate::judge::format_value;

/// The lines' colours, in order: the measured values, then the threshold.
/// Mermaid's default palette draws the first line in its palest colour,
/// which vanishes on a white page. Both colours keep a contrast of at least
/// 3:1 (WCAG's minimum for graphics) on GitHub's light (#ffffff), dark
/// (#0d1117) and dark-dimmed (#22272e) backgrounds, and blue against red
/// stays distinct for red-green colour blindness.
pub const PALETTE: [&str; 2] = ["#1f77b4", "#dc2626"];

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
    let mut chart = String::from("```mermaid\n");
    let _ = writeln!(
        chart,
        "%%{{init: {{\"themeVariables\": {{\"xyChart\": {{\"plotColorPalette\": \"{}\"}}}}}}}}%%",
        PALETTE.join(", ")
    );
    chart.push_str("xychart-beta\n");
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

    /// WCAG 2 relative luminance of `#rrggbb`.
    fn luminance(colour: &str) -> f64 {
        let channel = |at: usize| {
            let value = f64::from(u8::from_str_radix(&colour[at..at + 2], 16).unwrap()) / 255.0;
            if value <= 0.039_28 {
                value / 12.92
            } else {
                ((value + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (a, b) = (luminance(a), luminance(b));
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    #[test]
    fn the_palette_is_readable_on_light_and_dark_pages() {
        for colour in PALETTE {
            for page in ["#ffffff", "#0d1117", "#22272e"] {
                let ratio = contrast(colour, page);
                assert!(ratio >= 3.0, "{colour} on {page}: {ratio:.2}");
            }
        }
        // Mermaid's palest default (#ECECFF-like) is what the lines must not be.
        assert!(contrast("#ececff", "#ffffff") < 3.0);
    }

    #[test]
    fn long_series_are_thinned_but_keep_both_ends() {
        assert_eq!(thin(3), vec![0, 1, 2]);
        let picked = thin(1000);
        assert!(picked.len() <= MAX_POINTS);
        assert_eq!((picked[0], picked[picked.len() - 1]), (0, 999));
    }
}
