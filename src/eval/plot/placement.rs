//! Where a chart's legend goes: the corner its lines leave empty, judged from the data, so
//! the legend never hides the epochs a reader looks at first (the last ones).
//!
//! Sizes are estimates in pixels of the house layout (an 800 x 500 figure with the axis
//! label areas of `chart`), turned into fractions of the plotting area; they need not be
//! exact, only a little generous.

use std::ops::Range;

use plotters::prelude::SeriesLabelPosition;

/// The plotting area inside an 800 x 500 figure, in pixels (after the caption, margins and
/// axis label areas).
const AREA: (f64, f64) = (684.0, 380.0);
/// Legend geometry at the legend font size: pixels per label character, per row, the
/// sample line and padding around the rows, and the gap between legend and axes.
const CHAR: f64 = 9.0;
const ROW: f64 = 22.0;
const SAMPLE: f64 = 54.0;
const PAD: f64 = 14.0;
const EDGE: f64 = 10.0;
/// Points sampled along each line segment between two epochs, so a legend is not placed
/// over a line that merely passes between its points.
const ALONG: usize = 8;

/// A legend position inside the chart, in order of preference: right first, where a
/// reader expects it, then left, then centred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Corner {
    UpperRight,
    LowerRight,
    UpperLeft,
    LowerLeft,
    UpperMiddle,
    LowerMiddle,
}

impl Corner {
    const ALL: [Self; 6] = [
        Self::UpperRight,
        Self::LowerRight,
        Self::UpperLeft,
        Self::LowerLeft,
        Self::UpperMiddle,
        Self::LowerMiddle,
    ];

    /// plotters' name for this position.
    pub(super) fn position(self) -> SeriesLabelPosition {
        match self {
            Self::UpperRight => SeriesLabelPosition::UpperRight,
            Self::LowerRight => SeriesLabelPosition::LowerRight,
            Self::UpperLeft => SeriesLabelPosition::UpperLeft,
            Self::LowerLeft => SeriesLabelPosition::LowerLeft,
            Self::UpperMiddle => SeriesLabelPosition::UpperMiddle,
            Self::LowerMiddle => SeriesLabelPosition::LowerMiddle,
        }
    }

    /// The legend's box as fractions of the plotting area, (x range, y range) with y up,
    /// for a legend `w` by `h` (also fractions).
    fn area(self, w: f64, h: f64) -> (Range<f64>, Range<f64>) {
        let (ex, ey) = (EDGE / AREA.0, EDGE / AREA.1);
        let x = match self {
            Self::UpperRight | Self::LowerRight => (1.0 - ex - w)..(1.0 - ex),
            Self::UpperLeft | Self::LowerLeft => ex..(ex + w),
            Self::UpperMiddle | Self::LowerMiddle => (0.5 - w / 2.0)..(0.5 + w / 2.0),
        };
        let y = match self {
            Self::UpperRight | Self::UpperLeft | Self::UpperMiddle => (1.0 - ey - h)..(1.0 - ey),
            _ => ey..(ey + h),
        };
        (x, y)
    }
}

/// The legend's width and height as fractions of the plotting area, for these labels.
fn legend_size(labels: &[&str]) -> (f64, f64) {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let w = SAMPLE + PAD + longest as f64 * CHAR;
    let h = PAD + labels.len() as f64 * ROW;
    (w / AREA.0, h / AREA.1)
}

/// Where the legend of `labels` goes on a chart over `x` by `y` whose lines pass through
/// `points` (data coordinates; a series' consecutive points are joined, so pass each
/// series' runs as separate slices), and the y range to draw: `y` itself when some
/// corner is empty, else `y` raised at the top so that the upper right one is.
pub(super) fn place_legend(
    labels: &[&str],
    lines: &[Vec<(f64, f64)>],
    x: &Range<f64>,
    y: &Range<f64>,
) -> (Corner, Range<f64>) {
    let (w, h) = legend_size(labels);
    let unit = |p: (f64, f64)| {
        (
            (p.0 - x.start) / (x.end - x.start),
            (p.1 - y.start) / (y.end - y.start),
        )
    };
    let mut samples = Vec::new();
    for line in lines {
        for (i, &p) in line.iter().enumerate() {
            samples.push(unit(p));
            if let Some(&next) = line.get(i + 1) {
                samples.extend((1..ALONG).map(|k| {
                    let t = k as f64 / ALONG as f64;
                    unit((p.0 + t * (next.0 - p.0), p.1 + t * (next.1 - p.1)))
                }));
            }
        }
    }
    let covered = |corner: Corner| {
        let (bx, by) = corner.area(w, h);
        samples
            .iter()
            .filter(|(px, py)| bx.contains(px) && by.contains(py))
            .count()
    };
    if let Some(free) = Corner::ALL.into_iter().find(|&c| covered(c) == 0) {
        return (free, y.clone());
    }
    // No corner is free: raise the top until the legend's band (and a small gap) lies
    // above every line.
    let top = samples.iter().map(|p| p.1).fold(0.0, f64::max);
    let room = (1.0 - h - 2.0 * EDGE / AREA.1).max(0.2);
    let span = (y.end - y.start) * top.max(1e-9) / room;
    (
        Corner::UpperRight,
        y.start..(y.start + span.max(y.end - y.start)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(values: &[f64]) -> Vec<(f64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| ((i + 1) as f64, v))
            .collect()
    }

    #[test]
    fn the_legend_takes_the_corner_the_lines_leave_empty() {
        let x = 0.5..10.5;
        let y = 0.0..1.0;
        // Falling loss: the upper right is empty.
        let falling = line(&[0.9, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2, 0.18, 0.16, 0.15]);
        let (corner, range) = place_legend(&["train"], &[falling], &x, &y);
        assert_eq!((corner, range), (Corner::UpperRight, y.clone()));
        // Rising accuracy: the lower right.
        let rising = line(&[0.1, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.92, 0.94, 0.95]);
        let (corner, _) = place_legend(&["train"], std::slice::from_ref(&rising), &x, &y);
        assert_eq!(corner, Corner::LowerRight);
        // One rising and one falling line end in both right corners: the legend goes left.
        let falling = line(&[0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]);
        let (corner, _) = place_legend(&["train", "validation"], &[rising, falling], &x, &y);
        assert!(
            !matches!(corner, Corner::UpperRight | Corner::LowerRight),
            "{corner:?}"
        );
    }

    #[test]
    fn with_no_empty_corner_the_chart_grows_room_on_top() {
        let x = 0.5..10.5;
        let y = 0.0..1.0;
        // Lines along the top, the bottom and the middle of the whole width.
        let lines: Vec<_> = [0.1, 0.5, 0.9].iter().map(|&v| line(&[v; 10])).collect();
        let labels = ["a", "b", "c", "d"];
        let (corner, range) = place_legend(&labels, &lines, &x, &y);
        assert_eq!(corner, Corner::UpperRight);
        assert!(range.start == 0.0 && range.end > 1.2, "{range:?}");
        // In the raised chart the upper right corner holds none of the lines.
        let (again, same) = place_legend(&labels, &lines, &x, &range);
        assert_eq!((again, same), (Corner::UpperRight, range));
    }
}
