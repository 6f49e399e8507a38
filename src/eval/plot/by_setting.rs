//! Accuracy against one hyperparameter across many runs (the seed report's Figure 7): one
//! column per setting value, one dot per run, a line through the column means.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{chart, colour, legend, padded, render, Axes, DrawResult, Figure};
use crate::eval::EvalError;

/// One run's value of a setting and its measures (legend label, value per measure).
pub struct SettingPoint<'a> {
    /// The setting's value as text (`"1e-4"`, `"Adam"`).
    pub value: &'a str,
    /// One number per measure in [`plot_by_setting`]'s `measures`, NaN where unknown.
    pub measures: Vec<f64>,
}

/// Plots `measures` (legend names, e.g. validation and test accuracy) against the values of
/// `setting`. Values that all parse as numbers are ordered numerically, others keep their
/// first-seen order. Writes PNG or SVG by the extension of `path`.
///
/// # Errors
/// [`EvalError::NothingToPlot`] with no finite measure, and the drawing errors.
pub fn plot_by_setting(
    path: &Path,
    setting: &str,
    measures: &[&str],
    points: &[SettingPoint<'_>],
    y_label: &str,
) -> Result<(), EvalError> {
    let finite: Vec<f64> = points
        .iter()
        .flat_map(|p| p.measures.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    if finite.is_empty() {
        return Err(EvalError::NothingToPlot {
            path: path.to_path_buf(),
            reason: "no finite values at any setting",
        });
    }
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let categories = categories(points.iter().map(|p| p.value));
    render(
        path,
        &SettingFigure {
            setting,
            measures,
            points,
            categories,
            y: padded(lo, hi, 0.08),
            y_label,
        },
    )
}

/// The distinct values in display order: numeric when every value is a number.
fn categories<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.iter().any(|c| c == v) {
            out.push(v.to_string());
        }
    }
    let numbers: Option<Vec<f64>> = out.iter().map(|v| v.parse::<f64>().ok()).collect();
    if let Some(numbers) = numbers {
        let mut paired: Vec<(f64, String)> = numbers.into_iter().zip(out).collect();
        paired.sort_by(|a, b| a.0.total_cmp(&b.0));
        out = paired.into_iter().map(|(_, s)| s).collect();
    }
    out
}

struct SettingFigure<'a> {
    setting: &'a str,
    measures: &'a [&'a str],
    points: &'a [SettingPoint<'a>],
    categories: Vec<String>,
    y: std::ops::Range<f64>,
    y_label: &'a str,
}

impl Figure for SettingFigure<'_> {
    const SIZE: (u32, u32) = (800, 500);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let n = self.categories.len();
        let names = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < n {
                self.categories[i as usize].clone()
            } else {
                String::new()
            }
        };
        let axes = Axes {
            x: -0.5..(n as f64 - 0.5),
            y: self.y.clone(),
            x_desc: self.setting,
            y_desc: self.y_label,
            y_labels_to: None,
        };
        let title = format!("{} by {}", self.y_label, self.setting);
        let mut chart = chart(root, &title, axes, Some(&names))?;
        let column = |value: &str| self.categories.iter().position(|c| c == value);
        for (m, name) in self.measures.iter().enumerate() {
            let style = colour(m);
            // Spread the measures a little so their dots do not hide each other.
            let shift = (m as f64 - (self.measures.len() as f64 - 1.0) / 2.0) * 0.08;
            let dots: Vec<(f64, f64)> = self
                .points
                .iter()
                .filter_map(|p| {
                    let v = *p.measures.get(m)?;
                    (v.is_finite()).then_some((column(p.value)? as f64 + shift, v))
                })
                .collect();
            chart.draw_series(dots.iter().map(|&xy| Circle::new(xy, 5, style.filled())))?;
            let means: Vec<(f64, f64)> = (0..n)
                .filter_map(|c| {
                    let vals: Vec<f64> = dots
                        .iter()
                        .filter(|(x, _)| (x - shift).round() as usize == c)
                        .map(|&(_, y)| y)
                        .collect();
                    (!vals.is_empty()).then(|| {
                        (
                            c as f64 + shift,
                            vals.iter().sum::<f64>() / vals.len() as f64,
                        )
                    })
                })
                .collect();
            chart
                .draw_series(LineSeries::new(means, style.stroke_width(2)))?
                .label(format!("{name} (line: mean)"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 24, y)], style.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::plot::tests::check_png;

    #[test]
    fn numeric_settings_sort_as_numbers_and_others_keep_their_order() {
        let c = categories(["1e-3", "1e-4", "5e-4", "1e-4"].into_iter());
        assert_eq!(c, vec!["1e-4", "5e-4", "1e-3"]);
        let c = categories(["Sgd", "Adam", "Sgd"].into_iter());
        assert_eq!(c, vec!["Sgd", "Adam"]);
    }

    #[test]
    fn writes_png_and_svg_and_refuses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let points = [
            SettingPoint {
                value: "32",
                measures: vec![0.61, 0.6],
            },
            SettingPoint {
                value: "128",
                measures: vec![0.66, f64::NAN],
            },
            SettingPoint {
                value: "32",
                measures: vec![0.63, 0.62],
            },
        ];
        let png = dir.path().join("batch.png");
        plot_by_setting(&png, "batch", &["val", "test"], &points, "accuracy").unwrap();
        check_png(&png, SettingFigure::SIZE);
        let svg = dir.path().join("batch.svg");
        plot_by_setting(&svg, "batch", &["val", "test"], &points, "accuracy").unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("batch"));
        let none = [SettingPoint {
            value: "x",
            measures: vec![f64::NAN],
        }];
        assert!(matches!(
            plot_by_setting(&png, "x", &["a"], &none, "accuracy"),
            Err(EvalError::NothingToPlot { .. })
        ));
    }
}
