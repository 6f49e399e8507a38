//! Per-epoch training curves (loss, accuracy) of one or more runs on one chart.

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{chart, colour, legend, padded, render, Axes, DrawResult, Figure};
use crate::eval::EvalError;

/// Draws each series in `series` (legend label, one value per epoch) as a line against
/// epoch 1, 2, ..., all on one chart titled `title` with `y_label` on the y axis, as
/// the seed paper's train/validation loss and accuracy figures. Series may differ in
/// length. A NaN or infinite value (a diverged epoch) leaves a gap in its line rather
/// than failing the whole plot. Writes PNG or SVG by the extension of `path`.
///
/// # Errors
/// [`EvalError::NothingToPlot`] when no series has a finite value, and the format,
/// drawing and writing errors of [`EvalError`].
pub fn plot_curves(
    path: &Path,
    title: &str,
    series: &[(&str, &[f64])],
    y_label: &str,
) -> Result<(), EvalError> {
    let finite = || {
        series
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|v| v.is_finite())
    };
    if finite().next().is_none() {
        return Err(EvalError::NothingToPlot {
            path: path.to_path_buf(),
            reason: "no finite values in any series",
        });
    }
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let epochs = series.iter().map(|(_, v)| v.len()).max().unwrap_or(1);
    render(
        path,
        &CurvesFigure {
            title,
            y_label,
            series,
            // Half an epoch either side keeps the end points off the axes.
            x: 0.5..(epochs as f64 + 0.5),
            y: padded(lo, hi, 0.05),
        },
    )
}

/// Where the legend covers least: curves are read left to right and the legend sits on
/// the right, so it goes below the curves when their last values are mostly in the top
/// half (rising accuracy) and above them otherwise (falling loss).
fn legend_corner(series: &[(&str, &[f64])], y: &Range<f64>) -> SeriesLabelPosition {
    let middle = (y.start + y.end) / 2.0;
    let last = series
        .iter()
        .filter_map(|(_, v)| v.iter().rev().find(|x| x.is_finite()));
    let (high, low) = last.fold(
        (0, 0),
        |(h, l), &v| if v > middle { (h + 1, l) } else { (h, l + 1) },
    );
    if high > low {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    }
}

/// Runs of consecutive finite values as (epoch, value) points; non-finite values split
/// the runs.
fn segments(values: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for (i, &v) in values.iter().enumerate() {
        if v.is_finite() {
            out.last_mut()
                .expect("never empty")
                .push(((i + 1) as f64, v));
        } else if !out.last().expect("never empty").is_empty() {
            out.push(Vec::new());
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The chart [`plot_curves`] draws.
struct CurvesFigure<'a> {
    title: &'a str,
    y_label: &'a str,
    series: &'a [(&'a str, &'a [f64])],
    x: Range<f64>,
    y: Range<f64>,
}

impl Figure for CurvesFigure<'_> {
    const SIZE: (u32, u32) = (800, 500);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        // Epochs are whole numbers: label only those.
        let epoch_label = |x: &f64| {
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        };
        let axes = Axes {
            x: self.x.clone(),
            y: self.y.clone(),
            x_desc: "epoch",
            y_desc: self.y_label,
        };
        let mut chart = chart(root, self.title, axes, Some(&epoch_label))?;
        for (i, (label, values)) in self.series.iter().enumerate() {
            let style = colour(i).stroke_width(2);
            let mut drawn = None;
            for segment in segments(values) {
                drawn = Some(chart.draw_series(LineSeries::new(segment, style).point_size(3))?);
            }
            if let Some(series) = drawn {
                series
                    .label(*label)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style));
            }
        }
        legend(&mut chart, legend_corner(self.series, &self.y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::plot::tests::check_png;

    #[test]
    fn segments_split_at_gaps() {
        let s = segments(&[1.0, f64::NAN, f64::NAN, 2.0, 3.0, f64::INFINITY]);
        assert_eq!(s, vec![vec![(1.0, 1.0)], vec![(4.0, 2.0), (5.0, 3.0)]]);
        assert!(segments(&[f64::NAN]).is_empty());
    }

    #[test]
    fn legend_avoids_the_curve_ends() {
        let rising = [0.5, 0.9];
        let falling = [0.9, 0.5, f64::NAN];
        let y = 0.5..0.9;
        assert!(matches!(
            legend_corner(&[("acc", &rising[..])], &y),
            SeriesLabelPosition::LowerRight
        ));
        assert!(matches!(
            legend_corner(&[("loss", &falling[..])], &y),
            SeriesLabelPosition::UpperRight
        ));
    }

    #[test]
    fn writes_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let train: Vec<f64> = (0..30)
            .map(|e| 0.7 * (-(e as f64) / 8.0).exp() + 0.1)
            .collect();
        let val: Vec<f64> = (0..30)
            .map(|e| 0.6 * (-(e as f64) / 10.0).exp() + 0.2)
            .collect();
        let short = [0.9, 0.6, f64::NAN, 0.4];
        let series = [
            ("run A train", &train[..]),
            ("run A val", &val[..]),
            ("run B val", &short[..]),
        ];
        let png = dir.path().join("loss.png");
        plot_curves(&png, "Loss per epoch", &series, "loss").unwrap();
        check_png(&png, CurvesFigure::SIZE);
        let svg = dir.path().join("loss.svg");
        plot_curves(&svg, "Loss per epoch", &series[..1], "loss").unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("Loss per epoch") && text.contains("run A train"));
        // A single epoch still gets an axis.
        plot_curves(&png, "One epoch", &[("only", &[0.5][..])], "accuracy").unwrap();
    }

    #[test]
    fn refuses_nothing_finite() {
        let p = Path::new("never-written.png");
        assert!(matches!(
            plot_curves(p, "t", &[], "y"),
            Err(EvalError::NothingToPlot { .. })
        ));
        assert!(matches!(
            plot_curves(p, "t", &[("a", &[f64::NAN][..])], "y"),
            Err(EvalError::NothingToPlot { .. })
        ));
    }
}
