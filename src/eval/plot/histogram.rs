//! Overlaid histograms of same-pair and different-pair scores, with the threshold.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{chart, colour, legend, padded, render, Axes, DrawResult, Figure};
use crate::eval::scores::check_finite;
use crate::eval::EvalError;

/// Bars per histogram: enough to show shape on a few hundred pairs (LFW folds have 300
/// of each), few enough that bars stay wider than a couple of pixels.
const BINS: usize = 40;

/// Draws the distributions of `same` and `different` scores as overlaid translucent
/// histograms on shared bins, each normalised to fractions of its own class so unequal
/// class sizes compare fairly, with `threshold` as a vertical line when given. Either
/// list may be empty, not both. Writes PNG or SVG by the extension of `path`.
///
/// # Errors
/// [`EvalError::NothingToPlot`] when both lists are empty, [`EvalError::NonFinite`]
/// for a NaN or infinite score, [`EvalError::BadThreshold`] for a non-finite
/// threshold, and the format, drawing and writing errors of [`EvalError`].
pub fn plot_score_histograms(
    path: &Path,
    same: &[f64],
    different: &[f64],
    threshold: Option<f64>,
) -> Result<(), EvalError> {
    if same.is_empty() && different.is_empty() {
        return Err(EvalError::NothingToPlot {
            path: path.to_path_buf(),
            reason: "no scores",
        });
    }
    for (what, scores) in [("same scores", same), ("different scores", different)] {
        if !scores.is_empty() {
            check_finite(what, scores)?;
        }
    }
    if let Some(value) = threshold.filter(|t| !t.is_finite()) {
        return Err(EvalError::BadThreshold { value });
    }
    let all = same.iter().chain(different).chain(&threshold);
    let lo = all.clone().copied().fold(f64::INFINITY, f64::min);
    let hi = all.copied().fold(f64::NEG_INFINITY, f64::max);
    let range = padded(lo, hi, 0.0);
    let bins = [("same", same), ("different", different)]
        .map(|(name, scores)| (name, scores.len(), fractions(scores, &range)));
    render(
        path,
        &HistogramFigure {
            range,
            bins,
            threshold,
        },
    )
}

/// Fraction of `scores` in each of [`BINS`] equal bins over `range` (the last bin
/// includes the upper end).
fn fractions(scores: &[f64], range: &std::ops::Range<f64>) -> Vec<f64> {
    let mut counts = vec![0usize; BINS];
    let width = (range.end - range.start) / BINS as f64;
    for &s in scores {
        let bin = ((s - range.start) / width) as usize;
        counts[bin.min(BINS - 1)] += 1;
    }
    let n = scores.len().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / n).collect()
}

/// The chart [`plot_score_histograms`] draws.
struct HistogramFigure {
    range: std::ops::Range<f64>,
    /// (class name, pairs, fraction per bin) for same then different pairs.
    bins: [(&'static str, usize, Vec<f64>); 2],
    threshold: Option<f64>,
}

impl Figure for HistogramFigure {
    const SIZE: (u32, u32) = (800, 500);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let top = self
            .bins
            .iter()
            .flat_map(|(_, _, f)| f.iter().copied())
            .fold(0.0, f64::max);
        let axes = Axes {
            x: padded(self.range.start, self.range.end, 0.02),
            y: 0.0..top * 1.25,
            x_desc: "score (higher = more alike)",
            y_desc: "fraction of pairs",
            y_labels_to: None,
        };
        let mut chart = chart(root, "Score distributions", axes, None)?;
        let width = (self.range.end - self.range.start) / BINS as f64;
        // Same pairs green-ish and different pairs red would clash for colour-blind
        // readers; blue and orange (the first two palette colours) do not.
        for (i, (name, n, fractions)) in self.bins.iter().enumerate() {
            let fill = colour(i).mix(0.45).filled();
            let bars = fractions
                .iter()
                .enumerate()
                .filter(|(_, &f)| f > 0.0)
                .map(|(b, &f)| {
                    let x0 = self.range.start + b as f64 * width;
                    Rectangle::new([(x0, 0.0), (x0 + width, f)], fill)
                });
            chart
                .draw_series(bars)?
                .label(format!("{name} pairs ({n})"))
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], fill));
        }
        if let Some(t) = self.threshold {
            chart
                .draw_series(DashedLineSeries::new(
                    [(t, 0.0), (t, top * 1.25)],
                    8,
                    5,
                    BLACK.stroke_width(2),
                ))?
                .label(format!("threshold {t:.3}"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLACK.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::plot::tests::check_png;

    #[test]
    fn fractions_fill_shared_bins() {
        // 4 bins would be clearer, but BINS is fixed: over 0..40 each bin is 1 wide.
        let f = fractions(&[0.5, 0.7, 39.9, 40.0], &(0.0..40.0));
        assert_eq!((f[0], f[39]), (0.5, 0.5));
        assert_eq!(f.iter().sum::<f64>(), 1.0);
    }

    #[test]
    fn writes_png() {
        let dir = tempfile::tempdir().unwrap();
        let same: Vec<f64> = (0..300)
            .map(|i| 0.6 + 0.3 * ((i * 37 % 100) as f64 / 100.0))
            .collect();
        let different: Vec<f64> = (0..300)
            .map(|i| 0.1 + 0.5 * ((i * 53 % 100) as f64 / 100.0))
            .collect();
        let png = dir.path().join("hist.png");
        plot_score_histograms(&png, &same, &different, Some(0.58)).unwrap();
        check_png(&png, HistogramFigure::SIZE);
        // One class alone, and one repeated score, still draw.
        plot_score_histograms(&png, &[0.3, 0.3], &[], None).unwrap();
        check_png(&png, HistogramFigure::SIZE);
    }

    #[test]
    fn errors() {
        let p = Path::new("never-written.png");
        assert!(matches!(
            plot_score_histograms(p, &[], &[], None),
            Err(EvalError::NothingToPlot { .. })
        ));
        assert!(matches!(
            plot_score_histograms(p, &[0.1], &[f64::NAN], None),
            Err(EvalError::NonFinite {
                what: "different scores",
                index: 0,
                ..
            })
        ));
        assert!(matches!(
            plot_score_histograms(p, &[0.1], &[0.2], Some(f64::INFINITY)),
            Err(EvalError::BadThreshold { .. })
        ));
    }
}
