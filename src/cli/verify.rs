//! `twinflow verify --run RUN a.jpg b.jpg`: are these two faces the same person?

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::eval::format::{auc, percent};
use crate::pipeline::trained::{load_trained, Trained};
use crate::stages::decode::Decoder;
use crate::stages::resize::Resize;
use crate::stages::Filter;
use crate::train::scoring::evaluate_flipped;

/// Arguments of `twinflow verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A finished training run (e.g. `runs/paper-1`).
    #[arg(long)]
    pub run: PathBuf,
    /// The backend to score on (`cpu` or `gpu`); overrides the run's own `device` without editing it.
    #[arg(long)]
    pub device: Option<crate::model::Device>,
    /// The first face image.
    pub first: PathBuf,
    /// The second face image.
    pub second: PathBuf,
}

/// A finished run, ready to take image files as its network expects them.
pub(crate) struct RunInput {
    /// The run's plan, network and threshold.
    pub trained: Trained,
    resize: Resize,
}

impl RunInput {
    /// Loads the run and the decode scale and resize its pipeline used.
    pub fn open(run: &Path, device: Option<crate::model::Device>) -> anyhow::Result<Self> {
        let trained =
            load_trained(run, device).with_context(|| format!("loading {}", run.display()))?;
        // The size the network was trained at (without a Resize stage, the dataset's).
        let (h, w) = trained.input;
        let (w, h) = (w as u32, h as u32);
        let resize = trained
            .plan
            .resize
            .as_ref()
            .map_or_else(|| Resize::new(w, h, Filter::Bilinear), |r| r.resizer());
        Ok(Self { resize, trained })
    }

    /// An image file as floats in [0, 1]: grayscale and resized like the training images.
    pub fn load(&self, path: &Path) -> anyhow::Result<Vec<f32>> {
        let (h, w) = self.trained.input;
        let (w, h) = (w as u32, h as u32);
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let (sw, sh, img) = Decoder::new(self.trained.plan.decode.scale)
            .decode(&bytes)
            .with_context(|| format!("cannot decode {}", path.display()))?;
        let pixels = self
            .resize
            .crop_and_apply(&img, sw, sh)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("cannot crop {}", path.display()))?;
        anyhow::ensure!(
            pixels.len() == (w * h) as usize,
            "cannot resize {} to {w}x{h}",
            path.display()
        );
        Ok(pixels.into_iter().map(|p| f32::from(p) / 255.0).collect())
    }
}

/// Scores the pair and prints same or different at the run's validation threshold.
///
/// # Errors
/// An unusable run or unreadable images.
pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut input = RunInput::open(&args.run, args.device)?;
    let a = input.load(&args.first)?;
    let b = input.load(&args.second)?;
    let trained = &mut input.trained;
    let w = trained.input.1;
    let flip = trained.eval_flip();
    let (_, scores) = evaluate_flipped(trained.net.as_mut(), a, b, &[0.0], w, flip)?;
    let score = f64::from(scores[0]);
    let same = score >= trained.threshold;
    println!(
        "score {score:.4} (threshold {:.4}, chosen on validation): {}",
        trained.threshold,
        if same {
            "same person"
        } else {
            "different people"
        }
    );
    let v = trained.validation;
    let mut figures = Vec::new();
    if let Some(a) = v.accuracy {
        figures.push(format!("accuracy {}", percent(a)));
    }
    if let Some(x) = v.auc {
        figures.push(format!("AUC {}", auc(x)));
    }
    if !figures.is_empty() {
        println!("the run's validation: {}", figures.join(", "));
    }
    if v.near_chance() {
        eprintln!(
            "warning: this model is near chance (validation AUC below {}): its verdicts mean \
             little; train it longer or on more data",
            crate::pipeline::trained::Validation::NEAR_CHANCE_AUC
        );
    }
    Ok(ExitCode::SUCCESS)
}
