//! ROC curves of one or more runs on one chart, with the chance diagonal.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{chart, colour, legend, render, Axes, DrawResult, Figure};
use crate::eval::{EvalError, Roc};

/// Draws the ROC curves in `curves` (legend label, curve) on one chart, with the chance
/// diagonal; each legend entry shows the curve's AUC. Writes PNG or SVG by the
/// extension of `path`.
///
/// # Errors
/// [`EvalError::NothingToPlot`] for no curves, [`EvalError::PlotFormat`] for an
/// unknown extension, and the drawing and writing errors of [`EvalError`].
pub fn plot_roc(path: &Path, curves: &[(&str, &Roc)]) -> Result<(), EvalError> {
    if curves.is_empty() {
        return Err(EvalError::NothingToPlot {
            path: path.to_path_buf(),
            reason: "no ROC curves",
        });
    }
    render(path, &RocFigure { curves })
}

/// The chart [`plot_roc`] draws.
struct RocFigure<'a> {
    curves: &'a [(&'a str, &'a Roc)],
}

impl Figure for RocFigure<'_> {
    const SIZE: (u32, u32) = (700, 640);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let axes = Axes {
            x: 0.0..1.0,
            y: 0.0..1.0,
            x_desc: "false positive rate",
            y_desc: "true positive rate",
            y_labels_to: None,
        };
        let mut chart = chart(root, "ROC", axes, None)?;
        let grey = RGBColor(120, 120, 120);
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                6,
                4,
                grey.stroke_width(1),
            ))?
            .label("chance (AUC 0.500)")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], grey));
        for (i, (label, roc)) in self.curves.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(roc.points(), c.stroke_width(2)))?
                .label(format!("{label} (AUC {:.3})", roc.auc()))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], c.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::plot::tests::check_png;

    #[test]
    fn writes_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let good = Roc::compute(
            &[0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
            &[true, true, false, true, false, false],
        )
        .unwrap();
        let poor = Roc::compute(&[0.9, 0.8, 0.7, 0.6], &[false, true, true, false]).unwrap();
        let png = dir.path().join("nested/roc.png");
        plot_roc(&png, &[("good run", &good), ("poor run", &poor)]).unwrap();
        check_png(&png, RocFigure::SIZE);
        let svg = dir.path().join("roc.svg");
        plot_roc(&svg, &[("good run", &good)]).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("good run (AUC 0.889)"), "legend text missing");
        assert!(text.contains("false positive rate"));
    }

    #[test]
    fn refuses_nothing_and_unknown_formats() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            plot_roc(&dir.path().join("roc.png"), &[]),
            Err(EvalError::NothingToPlot { .. })
        ));
        let roc = Roc::compute(&[0.9, 0.1], &[true, false]).unwrap();
        assert!(matches!(
            plot_roc(&dir.path().join("roc.gif"), &[("a", &roc)]),
            Err(EvalError::PlotFormat { .. })
        ));
    }
}
