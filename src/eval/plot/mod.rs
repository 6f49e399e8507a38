//! PNG and SVG plots of evaluation results: ROC curves, score histograms and training
//! curves. The file extension picks the format.
//!
//! Text uses Noto Sans embedded in the binary, so plots render the same on machines
//! without any system fonts: plotters measures it through its `ab_glyph` feature and a
//! small backend wrapper (`text.rs`) draws it into PNGs; SVGs carry it as text. PNGs
//! are rasterised into a buffer and encoded with the `image` crate the crate already
//! uses.

mod by_setting;
mod curves;
mod histogram;
mod placement;
mod roc;
mod text;

use std::fs;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::EvalError;
use text::CrispText;
pub(crate) use text::{text_width, write_on_image};

pub use by_setting::{plot_by_setting, SettingPoint};
pub use curves::plot_curves;
pub use histogram::plot_score_histograms;
pub use roc::plot_roc;

/// Family name the embedded font is registered under; plotters' own default labels
/// ask for "sans-serif", so registering under that name covers them too.
const FONT: &str = "sans-serif";
/// Font sizes in pixels: title, axis names, tick labels and legend.
const TITLE_SIZE: u32 = 28;
const AXIS_SIZE: u32 = 20;
const TICK_SIZE: u32 = 16;
const LEGEND_SIZE: u32 = 17;
/// Grid line colour: light enough to stay behind the data.
const GRID: RGBColor = RGBColor(225, 225, 225);

/// Line colours, distinguishable and print-friendly (the matplotlib "tab10" set);
/// series past the tenth reuse them.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour of the `i`-th series.
fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// What plotters' drawing calls return on a backend.
type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A plot that can be drawn on any plotters backend.
trait Figure {
    /// Width and height in pixels.
    const SIZE: (u32, u32);

    /// Width and height of this figure: [`Figure::SIZE`] unless its content needs more room.
    fn size(&self) -> (u32, u32) {
        Self::SIZE
    }

    /// Draws the whole figure on `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// A chart with plain `f64` axes.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// What a chart's axes show.
struct Axes<'a> {
    /// Data range along x.
    x: Range<f64>,
    /// Data range along y.
    y: Range<f64>,
    /// Name of the x axis.
    x_desc: &'a str,
    /// Name of the y axis.
    y_desc: &'a str,
    /// When set, y tick labels above this value stay blank (the range goes on only to make
    /// room, e.g. for a legend, so no value lives there).
    y_labels_to: Option<f64>,
}

/// Builds a chart titled `title` in the house layout and draws its grid and axes.
/// `x_labels` formats the x tick labels; `None` keeps plotters' numbers.
fn chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    axes: Axes<'_>,
    x_labels: Option<&dyn Fn(&f64) -> String>,
) -> Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    // One precision per axis: plotters' own labels drop trailing zeros, so 0.6250 next to
    // 0.6252 would read "0.625".
    let (x_ticks, y_ticks) = (TickFormat::of(&axes.x), TickFormat::of(&axes.y));
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, TITLE_SIZE))
        .margin(16)
        // Room for the half of the last x tick label that overhangs the plot.
        .margin_right(28)
        .x_label_area_size(52)
        .y_label_area_size(72)
        .build_cartesian_2d(axes.x, axes.y)?;
    let (x_default, y_format) = (
        |v: &f64| x_ticks.show(*v),
        |v: &f64| {
            if axes.y_labels_to.is_some_and(|top| *v > top) {
                String::new()
            } else {
                y_ticks.show(*v)
            }
        },
    );
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .axis_desc_style((FONT, AXIS_SIZE))
        .label_style((FONT, TICK_SIZE))
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .x_labels(TICKS)
        .y_labels(TICKS)
        .x_label_formatter(x_labels.unwrap_or(&x_default))
        .y_label_formatter(&y_format);
    mesh.draw()?;
    Ok(chart)
}

/// Tick labels asked of plotters per axis (its own default): it picks round values, at
/// most this many.
const TICKS: usize = 11;

/// How an axis writes its tick labels: every label with the same number of decimals, the
/// fewest that write each of the axis's ticks exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TickFormat {
    decimals: usize,
}

impl TickFormat {
    /// The format of the ticks plotters places on an axis over `range`.
    fn of(range: &Range<f64>) -> Self {
        use plotters::coord::ranged1d::{BoldPoints, Ranged};
        let coord: RangedCoordf64 = range.clone().into();
        let ticks = coord.key_points(BoldPoints(TICKS));
        let step = ticks
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        // A tick is written exactly when rounding moves it by a sliver of the step (ticks
        // are sums of steps, so carry float error far below that).
        let slack = if step.is_finite() { step * 1e-3 } else { 1e-9 };
        let decimals = (0..=8)
            .find(|&d| {
                let scale = 10f64.powi(d as i32);
                ticks
                    .iter()
                    .all(|t| ((t * scale).round() / scale - t).abs() <= slack)
            })
            .unwrap_or(8);
        Self { decimals }
    }

    /// `value` with this format's decimals; a value that rounds to zero is `0`, never `-0`.
    fn show(self, value: f64) -> String {
        let scale = 10f64.powi(self.decimals as i32);
        let value = if (value * scale).round() == 0.0 {
            0.0
        } else {
            value
        };
        format!("{value:.*}", self.decimals)
    }
}

/// Draws the legend of every labelled series at `position`.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    position: SeriesLabelPosition,
) -> DrawResult<DB> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, LEGEND_SIZE))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(160, 160, 160))
        .draw()
}

/// The formats a plot path can ask for.
enum Format {
    Png,
    Svg,
}

impl Format {
    fn of(path: &Path) -> Result<Self, EvalError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(Self::Png),
            Some("svg") => Ok(Self::Svg),
            _ => Err(EvalError::PlotFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Draws `figure` and writes it to `path` as PNG or SVG (by extension), creating parent
/// folders.
fn render<F: Figure>(path: &Path, figure: &F) -> Result<(), EvalError> {
    let format = Format::of(path)?;
    register_font()?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| EvalError::WritePlot {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let draw_error = |e: Box<dyn std::error::Error + Send + Sync>| EvalError::Draw {
        path: path.to_path_buf(),
        source: e,
    };
    let (w, h) = figure.size();
    match format {
        Format::Png => {
            let mut pixels = vec![0u8; w as usize * h as usize * 3];
            draw_on(
                CrispText(BitMapBackend::with_buffer(&mut pixels, (w, h))),
                figure,
            )
            .map_err(|e| draw_error(Box::new(e)))?;
            let image = image::RgbImage::from_raw(w, h, pixels)
                .expect("the buffer was sized for the image");
            image
                .save_with_format(path, image::ImageFormat::Png)
                .map_err(|source| EvalError::EncodePng {
                    path: path.to_path_buf(),
                    source,
                })
        }
        Format::Svg => {
            let mut svg = String::new();
            draw_on(SVGBackend::with_string(&mut svg, (w, h)), figure)
                .map_err(|e| draw_error(Box::new(e)))?;
            fs::write(path, svg).map_err(|source| EvalError::WritePlot {
                path: path.to_path_buf(),
                source,
            })
        }
    }
}

/// Fills a white background, draws the figure and flushes the backend.
fn draw_on<DB: DrawingBackend, F: Figure>(backend: DB, figure: &F) -> DrawResult<DB> {
    let root = backend.into_drawing_area();
    root.fill(&WHITE)?;
    figure.draw(&root)?;
    root.present()
}

/// Registers the embedded font with plotters, once per process.
fn register_font() -> Result<(), EvalError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        text::font().is_some()
            && plotters::style::register_font(FONT, FontStyle::Normal, ttf_noto_sans::REGULAR)
                .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(EvalError::Font)
    }
}

/// The range `lo..hi` padded by `pad` of its width on each side; a zero-width range
/// becomes one unit wide so a flat series still gets an axis.
fn padded(lo: f64, hi: f64, pad: f64) -> Range<f64> {
    if hi > lo {
        let p = (hi - lo) * pad;
        (lo - p)..(hi + p)
    } else {
        (lo - 0.5)..(hi + 0.5)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decodes the PNG at `path`, checks its size, and that it is not one flat colour.
    pub(crate) fn check_png(path: &Path, size: (u32, u32)) {
        let image = image::open(path).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), size);
        let first = image.get_pixel(0, 0);
        assert!(image.pixels().any(|p| p != first), "plot is one colour");
        // Some dark pixels: text and axes were drawn, not just pale fills.
        let dark = image
            .pixels()
            .filter(|p| p.0.iter().all(|&c| c < 80))
            .count();
        assert!(dark > 500, "only {dark} dark pixels");
    }

    #[test]
    fn format_comes_from_the_extension() {
        assert!(matches!(
            Format::of(Path::new("a/roc.PNG")),
            Ok(Format::Png)
        ));
        assert!(matches!(Format::of(Path::new("roc.svg")), Ok(Format::Svg)));
        for bad in ["roc.jpg", "roc", ".png"] {
            let err = Format::of(Path::new(bad));
            assert!(matches!(err, Err(EvalError::PlotFormat { .. })), "{bad}");
        }
    }

    #[test]
    fn ticks_of_an_axis_share_one_precision() {
        // plotters would write 0.6248, 0.625, 0.6252: one label a digit short.
        let f = TickFormat::of(&(0.6248..0.6256));
        assert_eq!(f.decimals, 4);
        assert_eq!(
            [0.6248, 0.625, 0.6252].map(|v| f.show(v)),
            ["0.6248", "0.6250", "0.6252"]
        );
        // Steps of 0.05 need two decimals for every tick, 0.0 and 0.1 included.
        let f = TickFormat::of(&(0.0..0.5));
        assert_eq!(f.decimals, 2, "{f:?}");
        assert_eq!(
            [0.0, 0.1, 0.15].map(|v| f.show(v)),
            ["0.00", "0.10", "0.15"]
        );
        assert_eq!(f.show(-1e-17), "0.00");
        // Whole-number ticks get no decimals.
        assert_eq!(TickFormat::of(&(0.0..40.0)).decimals, 0);
    }

    #[test]
    fn padding() {
        assert_eq!(padded(0.0, 1.0, 0.1), -0.1..1.1);
        assert_eq!(padded(2.0, 2.0, 0.1), 1.5..2.5);
    }
}
