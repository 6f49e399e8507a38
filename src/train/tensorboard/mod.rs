//! TensorBoard event files beside `metrics.csv`, so that `tensorboard --logdir runs/` shows
//! every run, and every sweep's runs one folder deeper, side by side.
//!
//! A run folder holds two event files with fixed names (TensorBoard reads every file whose
//! name contains `tfevents`, in name order):
//!
//! - [`EPOCHS_FILE`]: one event per finished epoch, at its number (from 1) as its step,
//!   holding every column of `metrics.csv` as a scalar. Its bytes are a function of the loop
//!   state's history alone (wall times included: each epoch records when it ended), so
//!   [`write_epochs`] brings it up to date at every checkpoint by comparing: when the file on
//!   disk is a prefix of what the history gives (the usual case, and also a write cut short
//!   by a crash) the rest is appended, which a TensorBoard watching the run reads as new
//!   events; anything else is replaced atomically. A crash or a resume therefore never
//!   duplicates nor loses a point, and the file never runs ahead of `state.json`.
//! - [`PLOTS_FILE`]: the ROC curves and the test score histogram as images at the last
//!   epoch's step, replaced atomically at the end of a run ([`write_plots`]); a resumed
//!   run's end replaces the earlier end's.

pub mod record;

use std::path::{Path, PathBuf};

use record::{event, frame, Image, Payload, Value};

use super::state::EpochMetrics;

/// The per-epoch scalars' file in a run folder.
pub const EPOCHS_FILE: &str = "events.out.tfevents.0.twinflow-epochs";
/// The end-of-run images' file in a run folder (after [`EPOCHS_FILE`] in name order).
pub const PLOTS_FILE: &str = "events.out.tfevents.1.twinflow-plots";

/// Why an event file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TensorBoardError {
    /// File I/O failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A plot is not a readable PNG.
    #[error("cannot read {} as a PNG image", path.display())]
    Png {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },
}

fn io<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> TensorBoardError + 'a {
    move |source| TensorBoardError::Io {
        path: path.into(),
        action,
        source,
    }
}

/// One scalar of an epoch: TensorBoard's tag and its value (`None`: not written).
type Scalar = (&'static str, fn(&EpochMetrics) -> Option<f64>);

/// The scalars of an epoch, one per column of `metrics.csv` but the epoch. Tags share a
/// prefix where TensorBoard should show them next to each other.
const SCALARS: [Scalar; 13] = [
    ("loss/train", |m| Some(m.train_loss)),
    ("loss/validation", |m| Some(m.val_loss)),
    ("accuracy/train", |m| Some(m.train.accuracy)),
    ("accuracy/validation", |m| Some(m.val.accuracy)),
    // A validation set of one class has no AUC: no point rather than a made-up one.
    ("auc/validation", |m| m.val.auc),
    ("precision/validation", |m| Some(m.val.precision)),
    ("recall/validation", |m| Some(m.val.recall)),
    ("learning_rate", |m| Some(m.lr)),
    ("speed/epoch_seconds", |m| Some(m.seconds)),
    ("speed/pairs_per_s", |m| Some(m.pairs_per_s)),
    ("same_ratio/min", |m| Some(m.same_ratio.0)),
    ("same_ratio/max", |m| Some(m.same_ratio.1)),
    ("accuracy/validation_best_threshold", |m| {
        m.val_best_threshold_accuracy
    }),
];

/// When each epoch ended, in seconds since the Unix epoch. States written before epochs
/// recorded it are filled in from the epochs' durations around the nearest epoch that has
/// it (or from time zero when none has): the same history always gives the same times.
fn wall_times(history: &[EpochMetrics]) -> Vec<f64> {
    let mut end = 0.0;
    let mut times: Vec<f64> = history
        .iter()
        .map(|m| {
            end = m.ended_at.unwrap_or(end + m.seconds);
            end
        })
        .collect();
    // Before the first recorded end, backwards from it.
    if let Some(a) = history.iter().position(|m| m.ended_at.is_some()) {
        for i in (0..a).rev() {
            times[i] = times[i + 1] - history[i + 1].seconds;
        }
    }
    times
}

/// The bytes of [`EPOCHS_FILE`] for `history`.
pub fn epoch_events(history: &[EpochMetrics]) -> Vec<u8> {
    // To the millisecond, as epochs record their ends: a time computed from durations
    // then comes out the same from a history read back from JSON, whose last bit may differ.
    let ms = |t: f64| (t * 1000.0).round() / 1000.0;
    let times: Vec<f64> = wall_times(history).into_iter().map(ms).collect();
    // The file starts when the first epoch did.
    let start = history.first().map_or(0.0, |m| ms(times[0] - m.seconds));
    let mut out = Vec::new();
    frame(&mut out, &event(start, 0, Payload::FileVersion));
    for (m, &t) in history.iter().zip(&times) {
        let values: Vec<(&str, Value<'_>)> = SCALARS
            .iter()
            .filter_map(|(tag, get)| get(m).map(|v| (*tag, Value::Scalar(v as f32))))
            .collect();
        frame(
            &mut out,
            &event(t, m.epoch as i64, Payload::Summary(&values)),
        );
    }
    out
}

/// Brings [`EPOCHS_FILE`] in `dir` up to `history`: appends what is missing when the file
/// is a prefix of it, else replaces the file (see the module's note).
///
/// # Errors
/// I/O failures.
pub fn write_epochs(dir: &Path, history: &[EpochMetrics]) -> Result<(), TensorBoardError> {
    let path = dir.join(EPOCHS_FILE);
    let want = epoch_events(history);
    let have = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(&path, "read")(e)),
    };
    if !want.starts_with(&have) {
        return replace(dir, &path, &want);
    }
    if have.len() < want.len() {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&want[have.len()..]))
            .map_err(io(&path, "append to"))?;
    }
    Ok(())
}

/// Writes [`PLOTS_FILE`] in `dir`: the PNG files `plots` (TensorBoard tag, file) as images
/// at `step`, replacing an earlier end's.
///
/// # Errors
/// I/O failures; a plot that is not a PNG.
pub fn write_plots(
    dir: &Path,
    step: usize,
    plots: &[(&str, &Path)],
) -> Result<PathBuf, TensorBoardError> {
    use image::ImageDecoder;
    let mut files = Vec::with_capacity(plots.len());
    for (tag, png) in plots {
        let bytes = std::fs::read(png).map_err(io(png, "read"))?;
        let decoder = image::codecs::png::PngDecoder::new(std::io::Cursor::new(&bytes)).map_err(
            |source| TensorBoardError::Png {
                path: png.to_path_buf(),
                source,
            },
        )?;
        let (width, height) = decoder.dimensions();
        let colorspace = u32::from(decoder.color_type().channel_count());
        files.push((*tag, width, height, colorspace, bytes));
    }
    let values: Vec<(&str, Value<'_>)> = files
        .iter()
        .map(|(tag, width, height, colorspace, bytes)| {
            let image = Image {
                height: *height,
                width: *width,
                colorspace: *colorspace,
                encoded: bytes,
            };
            (*tag, Value::Image(image))
        })
        .collect();
    let now = super::state::unix_now();
    let mut out = Vec::new();
    frame(&mut out, &event(now, 0, Payload::FileVersion));
    frame(
        &mut out,
        &event(now, step as i64, Payload::Summary(&values)),
    );
    let path = dir.join(PLOTS_FILE);
    replace(dir, &path, &out)?;
    Ok(path)
}

/// Replaces `path` with `bytes` atomically. The temp file's name lacks `tfevents`, so a
/// TensorBoard reading the folder meanwhile never takes it for a second event file; it
/// ends in `.tmp`, so a resume's recovery removes it after a crash.
fn replace(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), TensorBoardError> {
    let name = path.file_name().map_or_else(String::new, |n| {
        n.to_string_lossy()
            .replace("events.out.tfevents.", "tensorboard-")
    });
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(io(&tmp, "write"))?;
    std::fs::rename(&tmp, path).map_err(io(path, "rename onto"))
}

#[cfg(test)]
mod tests {
    use super::record::unframe;
    use super::*;
    use crate::train::metrics::Summary;

    fn epoch(epoch: usize, ended_at: Option<f64>) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss: 0.5 + epoch as f64,
            train: Summary::default(),
            val_loss: 0.25,
            val: Summary {
                auc: (epoch != 2).then_some(0.75),
                ..Summary::default()
            },
            val_best_threshold_accuracy: Some(0.8),
            lr: 1e-3,
            seconds: 10.0,
            pairs_per_s: 6.4,
            same_ratio: (0.5, 0.5),
            ended_at,
        }
    }

    /// The step of a serialised event: field 2 right after the 9 bytes of the wall time.
    fn step_of(event: &[u8]) -> u8 {
        if event[9] == 0x10 {
            event[10]
        } else {
            0
        }
    }

    #[test]
    fn each_epoch_is_one_event_at_its_step_counted_from_one() {
        let history: Vec<_> = (1..=3).map(|e| epoch(e, Some(100.0 + e as f64))).collect();
        let records = unframe(&epoch_events(&history));
        let steps: Vec<u8> = records.iter().map(|r| step_of(r)).collect();
        assert_eq!(steps, [0, 1, 2, 3], "the version event, then the epochs");
        // The epoch without an AUC has one scalar fewer.
        assert!(records[2].len() < records[1].len());
    }

    #[test]
    fn missing_end_times_are_filled_in_from_the_durations() {
        let mut h: Vec<_> = (1..=4).map(|e| epoch(e, None)).collect();
        assert_eq!(wall_times(&h), [10.0, 20.0, 30.0, 40.0]);
        h[2].ended_at = Some(1000.0);
        assert_eq!(wall_times(&h), [980.0, 990.0, 1000.0, 1010.0]);
    }

    #[test]
    fn a_growing_history_appends_and_anything_else_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EPOCHS_FILE);
        let mut history = vec![epoch(1, Some(100.0))];
        write_epochs(dir.path(), &history).unwrap();
        let first = std::fs::read(&path).unwrap();
        history.push(epoch(2, Some(110.0)));
        write_epochs(dir.path(), &history).unwrap();
        let second = std::fs::read(&path).unwrap();
        assert!(second.starts_with(&first) && second.len() > first.len());
        assert_eq!(second, epoch_events(&history));
        // A write cut short by a crash is completed.
        std::fs::write(&path, &second[..second.len() - 5]).unwrap();
        write_epochs(dir.path(), &history).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), second);
        // A file from another history (a damaged one, say) is replaced, never appended to.
        history[0].train_loss = 9.0;
        write_epochs(dir.path(), &history).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), epoch_events(&history));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left: {names:?}");
    }

    #[test]
    fn plots_are_images_with_their_size_and_channels_at_the_last_step() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("roc.png");
        image::RgbImage::new(3, 2).save(&png).unwrap();
        let path = write_plots(dir.path(), 7, &[("plots/roc", &png)]).unwrap();
        let records = unframe(&std::fs::read(path).unwrap());
        assert_eq!(records.len(), 2);
        assert_eq!(step_of(&records[1]), 7);
        let bytes = std::fs::read(&png).unwrap();
        let values = [(
            "plots/roc",
            Value::Image(Image {
                height: 2,
                width: 3,
                colorspace: 3,
                encoded: &bytes,
            }),
        )];
        // Same event but the wall time, which is the time of writing.
        assert_eq!(
            records[1][9..],
            event(0.0, 7, Payload::Summary(&values))[9..]
        );
        let not_png = dir.path().join("plain.png");
        std::fs::write(&not_png, "text").unwrap();
        let e = write_plots(dir.path(), 7, &[("x", &not_png)]).unwrap_err();
        assert!(e.to_string().contains("plain.png"), "{e}");
    }
}
