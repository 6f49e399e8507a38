//! Per-epoch training curves (loss, accuracy) of one or more runs on one chart.

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::placement::{place_legend, Corner};
use super::{
    chart, colour, legend, padded, render, Axes, Chart, DrawResult, Figure, FONT, PALETTE,
};

/// The best-epoch line's colour: dark grey, apart from every series colour.
const BEST: RGBColor = RGBColor(70, 70, 70);
use crate::eval::EvalError;

/// Draws each series in `series` (legend label, one value per epoch) as a line against
/// epoch 1, 2, ..., all on one chart titled `title` with `y_label` on the y axis, as
/// the seed paper's train/validation loss and accuracy figures. Series may differ in
/// length. A NaN or infinite value (a diverged epoch) leaves a gap in its line rather
/// than failing the whole plot. `best`, an epoch counted from 1 as on the x axis, is
/// marked by a vertical dashed line labelled "best epoch N". The legend goes where the lines
/// leave room, never over the last epochs unless they leave none elsewhere. Writes PNG or
/// SVG by the extension of `path`.
///
/// # Errors
/// [`EvalError::NothingToPlot`] when no series has a finite value, and the format,
/// drawing and writing errors of [`EvalError`].
pub fn plot_curves(
    path: &Path,
    title: &str,
    series: &[(&str, &[f64])],
    y_label: &str,
    best: Option<usize>,
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
    // Half an epoch either side keeps the end points off the axes.
    let x = 0.5..(epochs as f64 + 0.5);
    let data_y = padded(lo, hi, 0.05);
    let best = best.filter(|b| (1..=epochs).contains(b));
    let best_label = best.map(|b| format!("best epoch {b}"));
    let (corner, y) = if side_panel(series).is_some() {
        (Corner::UpperRight, data_y.clone())
    } else {
        let mut labels: Vec<&str> = series.iter().map(|(l, _)| *l).collect();
        labels.extend(best_label.as_deref());
        let mut lines: Vec<Vec<(f64, f64)>> =
            series.iter().flat_map(|(_, v)| segments(v)).collect();
        lines.extend(best.map(|b| vec![(b as f64, data_y.start), (b as f64, data_y.end)]));
        place_legend(&labels, &lines, &x, &data_y)
    };
    render(
        path,
        &CurvesFigure {
            title,
            y_label,
            series,
            x,
            y,
            data_top: data_y.end,
            best: best.zip(best_label),
            corner,
        },
    )
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
    /// The top of the data's own range: the best-epoch line ends there, below a legend
    /// given room above the lines.
    data_top: f64,
    /// The best epoch (from 1) and its legend label.
    best: Option<(usize, String)>,
    /// Where an inside legend goes.
    corner: Corner,
}

/// Up to this many series the legend sits inside the chart; more get a panel of their own
/// on the right (a sweep's curves across 20-30 runs would hide the chart otherwise).
const LEGEND_INSIDE_MAX: usize = 8;
/// Legend rows per column of the side panel (22 rows of 19 px fill the 500 px figure below
/// the caption), their height, and pixels per label character (an estimate for Noto Sans
/// at [`PANEL_FONT`] px).
const PANEL_ROWS: usize = 22;
const PANEL_ROW: i32 = 19;
const PANEL_FONT: u32 = 14;
const PANEL_CHAR: u32 = 8;
/// The first legend row's centre, level with the chart's top edge (below its caption).
const PANEL_TOP: i32 = 64;
/// The sample line drawn before each label in the side panel, and the gaps around it.
const SAMPLE: i32 = 24;
const GAP: i32 = 8;

/// How the `i`-th series is marked: the palette has 10 colours, so series 11-20 add
/// triangles and series 21-30 crosses to their points to stay distinguishable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    Circle,
    Triangle,
    Cross,
}

impl Marker {
    fn of(i: usize) -> Self {
        match (i / PALETTE.len()) % 3 {
            0 => Self::Circle,
            1 => Self::Triangle,
            _ => Self::Cross,
        }
    }

    /// Draws this marker at each of `points` on `chart`.
    fn draw_on_chart<DB: DrawingBackend>(
        self,
        chart: &mut Chart<'_, DB>,
        points: &[(f64, f64)],
        colour: RGBColor,
    ) -> DrawResult<DB> {
        let points = points.iter().copied();
        match self {
            Self::Circle => {
                chart.draw_series(points.map(|p| Circle::new(p, 3, colour.filled())))?
            }
            Self::Triangle => {
                chart.draw_series(points.map(|p| TriangleMarker::new(p, 5, colour.filled())))?
            }
            Self::Cross => {
                chart.draw_series(points.map(|p| Cross::new(p, 4, colour.stroke_width(2))))?
            }
        };
        Ok(())
    }

    /// Draws this marker at pixel `at` in `colour` on `area`.
    fn draw<DB: DrawingBackend>(
        self,
        area: &DrawingArea<DB, Shift>,
        at: (i32, i32),
        colour: RGBColor,
    ) -> DrawResult<DB> {
        match self {
            Self::Circle => area.draw(&Circle::new(at, 3, colour.filled())),
            Self::Triangle => area.draw(&TriangleMarker::new(at, 5, colour.filled())),
            Self::Cross => area.draw(&Cross::new(at, 4, colour.stroke_width(2))),
        }
    }
}

/// The side panel's columns and width for `series`, or `None` when the legend fits inside.
fn side_panel(series: &[(&str, &[f64])]) -> Option<(usize, u32)> {
    if series.len() <= LEGEND_INSIDE_MAX {
        return None;
    }
    let columns = series.len().div_ceil(PANEL_ROWS);
    let longest = series
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0) as u32;
    let column = (SAMPLE + 2 * GAP) as u32 + longest * PANEL_CHAR;
    Some((columns, columns as u32 * column + GAP as u32))
}

impl Figure for CurvesFigure<'_> {
    const SIZE: (u32, u32) = (800, 500);

    fn size(&self) -> (u32, u32) {
        let (w, h) = Self::SIZE;
        match side_panel(self.series) {
            Some((_, panel)) => (w + panel, h),
            None => (w, h),
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let panel = side_panel(self.series);
        let (plot_area, legend_area) = root.split_horizontally(Self::SIZE.0);
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
            // Room raised above the lines for the legend is not data: no labels there.
            y_labels_to: Some(self.data_top),
        };
        let mut chart = chart(&plot_area, self.title, axes, Some(&epoch_label))?;
        for (i, (label, values)) in self.series.iter().enumerate() {
            let style = colour(i).stroke_width(2);
            let marker = Marker::of(i);
            let mut drawn = None;
            for segment in segments(values) {
                marker.draw_on_chart(&mut chart, &segment, colour(i))?;
                drawn = Some(chart.draw_series(LineSeries::new(segment, style))?);
            }
            if let (Some(series), None) = (drawn, panel) {
                series
                    .label(*label)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style));
            }
        }
        if let Some((epoch, label)) = &self.best {
            let x = *epoch as f64;
            let style = BEST.stroke_width(2);
            let line = chart.draw_series(DashedLineSeries::new(
                [(x, self.y.start), (x, self.data_top)],
                8,
                5,
                style,
            ))?;
            if panel.is_none() {
                line.label(label.as_str()).legend(move |(x, y)| {
                    DashedPathElement::new([(x, y), (x + 24, y)], 6, 4, style)
                });
            }
        }
        match panel {
            None => legend(&mut chart, self.corner.position()),
            Some((columns, width)) => {
                let column = (width as i32 - GAP) / columns as i32;
                let font = (FONT, PANEL_FONT)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center));
                for (i, (label, _)) in self.series.iter().enumerate() {
                    let x = GAP + (i / PANEL_ROWS) as i32 * column;
                    let y = PANEL_TOP + (i % PANEL_ROWS) as i32 * PANEL_ROW;
                    let style = colour(i).stroke_width(2);
                    legend_area.draw(&PathElement::new([(x, y), (x + SAMPLE, y)], style))?;
                    Marker::of(i).draw(&legend_area, (x + SAMPLE / 2, y), colour(i))?;
                    legend_area.draw(&Text::new(
                        label.to_string(),
                        (x + SAMPLE + GAP, y),
                        font.clone(),
                    ))?;
                }
                Ok(())
            }
        }
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
        plot_curves(&png, "Loss per epoch", &series, "loss", Some(12)).unwrap();
        check_png(&png, CurvesFigure::SIZE);
        let svg = dir.path().join("loss.svg");
        plot_curves(&svg, "Loss per epoch", &series[..1], "loss", Some(3)).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("Loss per epoch") && text.contains("run A train"));
        assert!(text.contains("best epoch 3"), "the best epoch is marked");
        // A single epoch still gets an axis.
        plot_curves(
            &png,
            "One epoch",
            &[("only", &[0.5][..])],
            "accuracy",
            Some(1),
        )
        .unwrap();
    }

    #[test]
    fn many_series_get_a_legend_panel_and_distinct_markers() {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<Vec<f64>> = (0..25)
            .map(|r| {
                (0..5)
                    .map(|e| 0.5 + 0.01 * r as f64 + 0.02 * e as f64)
                    .collect()
            })
            .collect();
        let labels: Vec<String> = (0..25).map(|r| format!("exp{r:02}.1")).collect();
        let series: Vec<(&str, &[f64])> = labels
            .iter()
            .zip(&values)
            .map(|(l, v)| (l.as_str(), &v[..]))
            .collect();
        let (columns, width) = side_panel(&series).unwrap();
        assert_eq!(columns, 2);
        // A full column ends above the bottom edge.
        let last = PANEL_TOP + (PANEL_ROWS as i32 - 1) * PANEL_ROW + PANEL_ROW / 2;
        assert!(
            last < CurvesFigure::SIZE.1 as i32,
            "legend column clipped at {last}"
        );
        let png = dir.path().join("val.png");
        plot_curves(&png, "validation accuracy", &series, "accuracy", None).unwrap();
        check_png(&png, (CurvesFigure::SIZE.0 + width, CurvesFigure::SIZE.1));
        // The panel holds drawn labels: dark pixels right of the chart.
        let image = image::open(&png).unwrap().to_rgb8();
        let dark = (CurvesFigure::SIZE.0..image.width())
            .flat_map(|x| (0..image.height()).map(move |y| (x, y)))
            .filter(|&(x, y)| image.get_pixel(x, y).0.iter().all(|&c| c < 80))
            .count();
        assert!(dark > 500, "only {dark} dark pixels in the legend panel");
        assert!(side_panel(&series[..LEGEND_INSIDE_MAX]).is_none());
        assert_eq!(
            [Marker::of(0), Marker::of(9), Marker::of(10), Marker::of(20)],
            [
                Marker::Circle,
                Marker::Circle,
                Marker::Triangle,
                Marker::Cross
            ]
        );
    }

    #[test]
    fn refuses_nothing_finite() {
        let p = Path::new("never-written.png");
        assert!(matches!(
            plot_curves(p, "t", &[], "y", None),
            Err(EvalError::NothingToPlot { .. })
        ));
        assert!(matches!(
            plot_curves(p, "t", &[("a", &[f64::NAN][..])], "y", None),
            Err(EvalError::NothingToPlot { .. })
        ));
    }
}
