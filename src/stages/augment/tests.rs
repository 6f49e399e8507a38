//! `Augment`: identity at zero strength, geometry, determinism across workers, ranges, checks.

use std::path::Path;

use proptest::prelude::*;

use super::runtime::{draw, flip_rows, image_rng, warp, Distortion};
use super::{Augment, AugmentConfig};
use crate::engine::{run, Chain, RunOptions, Sink, Source, SourceStage};
use crate::engine::{Emitter, Flow, PairBatch, Phase, StageContext, StageError};
use crate::pipeline::validate::{parse, plan};
use crate::stages::Build;

/// A batch of `len` pairs of `w` x `h` images with distinct, varied pixels in [0, 1].
fn batch(phase: Phase, epoch: usize, index: usize, len: usize, w: usize, h: usize) -> PairBatch {
    let n = len * w * h;
    let pixel = |i: usize, salt: usize| ((i * 37 + salt * 11 + index) % 256) as f32 / 255.0;
    PairBatch {
        phase,
        epoch,
        index,
        height: h,
        width: w,
        rows: (0..len as u32).map(|i| (i, i + 1)).collect(),
        left: (0..n).map(|i| pixel(i, 1)).collect(),
        right: (0..n).map(|i| pixel(i, 2)).collect(),
        labels: (0..len).map(|i| (i % 2) as f32).collect(),
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn augmented(config: &AugmentConfig, mut b: PairBatch) -> PairBatch {
    Augment::new(config.clone(), 7)
        .augment(&mut b)
        .expect("augment");
    b
}

const NONE: Distortion = Distortion {
    theta: 0.0,
    shear_x: 0.0,
    shear_y: 0.0,
    scale_x: 1.0,
    scale_y: 1.0,
    tx: 0.0,
    ty: 0.0,
};

/// Warps a `w`-wide image through a distortion.
fn warped(src: &[f32], w: usize, d: Distortion) -> Vec<f32> {
    let map = d.inverse_map(w, src.len() / w).expect("not the identity");
    let mut dst = vec![f32::NAN; src.len()];
    warp(src, &mut dst, w, &map);
    dst
}

#[test]
fn shapes_labels_and_bookkeeping_are_kept() {
    let before = batch(Phase::Train, 2, 5, 6, 13, 9);
    let after = augmented(&AugmentConfig::default(), before.clone());
    assert_eq!(after.left.len(), before.left.len());
    assert_eq!(after.right.len(), before.right.len());
    assert_eq!(
        (&after.labels, &after.rows, after.epoch, after.index),
        (&before.labels, &before.rows, 2, 5)
    );
    assert_eq!(
        (after.width, after.height, after.phase),
        (13, 9, Phase::Train)
    );
    assert_ne!(
        after.left, before.left,
        "default settings should change something"
    );
}

#[test]
fn zero_strength_or_disabled_is_exactly_the_identity() {
    let before = batch(Phase::Train, 0, 3, 8, 12, 11);
    let always = AugmentConfig {
        p: 1.0,
        ..AugmentConfig::identity()
    };
    let off = AugmentConfig {
        enabled: false,
        ..AugmentConfig::default()
    };
    for config in [AugmentConfig::identity(), always, off] {
        let after = augmented(&config, before.clone());
        assert_eq!(bits(&after.left), bits(&before.left), "{config:?}");
        assert_eq!(bits(&after.right), bits(&before.right), "{config:?}");
    }
}

#[test]
fn validation_batches_pass_untouched() {
    let before = batch(Phase::Validation, 1, 0, 4, 10, 10);
    let strong = AugmentConfig {
        p: 1.0,
        flip: 1.0,
        ..AugmentConfig::default()
    };
    assert_eq!(augmented(&strong, before.clone()), before);
}

#[test]
fn a_one_pixel_translation_moves_the_pattern_one_pixel() {
    let (w, h) = (8, 6);
    let src: Vec<f32> = (0..w * h)
        .map(|i| (i % w + 10 * (i / w)) as f32 / 100.0)
        .collect();
    let dst = warped(
        &src,
        w,
        Distortion {
            tx: 1.0,
            ty: 1.0,
            ..NONE
        },
    );
    for y in 0..h {
        for x in 0..w {
            // Content moves right and down; the first row and column repeat the edge.
            let (sx, sy) = (x.saturating_sub(1), y.saturating_sub(1));
            assert_eq!(dst[y * w + x], src[sy * w + sx], "at ({x}, {y})");
        }
    }
}

#[test]
fn a_half_turn_about_the_centre_reverses_the_image() {
    let (w, h) = (7, 4);
    let src: Vec<f32> = (0..w * h).map(|i| i as f32 / 30.0).collect();
    let theta = std::f64::consts::PI;
    let dst = warped(&src, w, Distortion { theta, ..NONE });
    for (a, b) in dst.iter().zip(src.iter().rev()) {
        assert!((a - b).abs() < 1e-5, "{dst:?}");
    }
}

#[test]
fn a_constant_image_stays_constant_under_any_distortion() {
    let src = vec![0.25f32; 9 * 7];
    let d = Distortion {
        theta: 0.3,
        shear_x: 0.3,
        shear_y: -0.2,
        scale_x: 0.8,
        scale_y: 1.2,
        tx: 2.0,
        ty: -1.5,
    };
    assert!(warped(&src, 9, d).iter().all(|&v| (v - 0.25).abs() < 1e-6));
}

#[test]
fn flipping_twice_is_the_identity() {
    let src: Vec<f32> = (0..35).map(|i| i as f32 / 35.0).collect();
    let mut img = src.clone();
    flip_rows(&mut img, 7);
    assert_eq!(
        &img[..7],
        &[6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0].map(|v| v / 35.0)
    );
    flip_rows(&mut img, 7);
    assert_eq!(bits(&img), bits(&src));
}

#[test]
fn draws_depend_on_the_image_and_not_on_its_strengths() {
    let config = AugmentConfig::default();
    let once = draw(&config, &mut image_rng(1, 2, 3, 4, 0));
    assert_eq!(once, draw(&config, &mut image_rng(1, 2, 3, 4, 0)));
    assert_ne!(once, draw(&config, &mut image_rng(1, 2, 3, 4, 1)));
    assert_ne!(once, draw(&config, &mut image_rng(1, 2, 3, 5, 0)));
    // Switching the flip off changes only the flip.
    let no_flip = AugmentConfig {
        flip: 0.0,
        ..config.clone()
    };
    let other = draw(&no_flip, &mut image_rng(1, 2, 3, 4, 0));
    assert_eq!(
        (other.distortion, other.shift),
        (once.distortion, once.shift)
    );
}

#[test]
fn strong_settings_keep_pixels_in_range() {
    let strong = AugmentConfig {
        p: 1.0,
        rotation_deg: 180.0,
        shear: 0.9,
        scale_min: 0.25,
        scale_max: 4.0,
        translate_px: 50.0,
        flip: 0.5,
        brightness: 1.0,
        contrast: 1.0,
        ..AugmentConfig::default()
    };
    let after = augmented(&strong, batch(Phase::Train, 0, 0, 16, 11, 9));
    for v in after.left.iter().chain(&after.right) {
        assert!((0.0..=1.0).contains(v), "{v}");
    }
}

#[test]
fn a_wrongly_sized_tensor_is_an_error() {
    let mut b = batch(Phase::Train, 0, 0, 2, 5, 5);
    b.right.pop();
    let err = Augment::new(AugmentConfig::default(), 0)
        .augment(&mut b)
        .expect_err("short tensor");
    assert!(err.to_string().contains("right tensor holds 49"), "{err}");
}

/// Emits the given batches in order.
struct Batches(Vec<PairBatch>);

impl Source<PairBatch> for Batches {
    fn run(
        &mut self,
        _ctx: &StageContext,
        out: &mut Emitter<'_, PairBatch>,
    ) -> Result<(), StageError> {
        for b in self.0.drain(..) {
            out.emit(b)?;
        }
        Ok(())
    }
}

/// Keeps every batch that arrives.
struct Keep(Vec<PairBatch>);

impl Sink<PairBatch> for Keep {
    fn consume(&mut self, b: PairBatch, _ctx: &StageContext) -> Result<Flow, StageError> {
        self.0.push(b);
        Ok(Flow::Continue)
    }
}

fn through_engine(input: &[PairBatch], workers: usize, seed: u64) -> Vec<PairBatch> {
    let config = AugmentConfig {
        workers,
        ..AugmentConfig::default()
    };
    let ctx = crate::stages::BuildContext {
        seed,
        ..Default::default()
    };
    let chain = Chain::start(SourceStage {
        name: "batches".into(),
        capacity: 2,
        source: Box::new(Batches(input.to_vec())),
    })
    .then(config.build(&ctx).expect("builds"))
    .end("keep", Keep(Vec::new()));
    run(chain, &RunOptions::default()).expect("run").0 .0
}

#[test]
fn output_depends_on_seed_epoch_and_index_not_on_the_worker_count() {
    let mut input: Vec<PairBatch> = (0..7)
        .map(|i| batch(Phase::Train, i / 4, i % 4, 3, 10, 8))
        .collect();
    input.push(batch(Phase::Validation, 1, 0, 3, 10, 8));
    let one = through_engine(&input, 1, 42);
    let three = through_engine(&input, 3, 42);
    assert_eq!(one.len(), input.len());
    for (a, b) in one.iter().zip(&three) {
        assert_eq!(bits(&a.left), bits(&b.left), "batch {}", a.index);
        assert_eq!(bits(&a.right), bits(&b.right), "batch {}", a.index);
    }
    assert_ne!(one[0].left, input[0].left);
    assert_eq!(one[7], input[7], "validation changed");
    let reseeded = through_engine(&input, 2, 43);
    assert_ne!(reseeded[0].left, one[0].left, "the seed must matter");
}

#[test]
fn bad_settings_are_reported_with_their_ron_path() {
    let ron = "Pipeline(stages: [Decode(()), PairBatch(()), Augment((p: 1.5, \
               rotation_deg: -5.0, scale_min: 1.3, scale_max: 1.1, workers: 0)), Sink(Count)])";
    let problems = plan(parse(ron, Path::new("bad.ron")).expect("parses")).expect_err("bad");
    let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
    for want in [
        "stages[2].p: must be in [0, 1], got 1.5",
        "stages[2].rotation_deg: must be in [0, 180], got -5",
        "stages[2].scale_min: must be <= scale_max (1.1), got 1.3",
        "stages[2].workers: must be in 1..=64, got 0",
    ] {
        assert!(all.iter().any(|p| p == want), "{want} missing from {all:?}");
    }
}

#[test]
fn augment_comes_once_after_pair_batch() {
    let ron =
        "Pipeline(stages: [Decode(()), Augment(()), PairBatch(()), Augment(()), Sink(Count)])";
    let problems = plan(parse(ron, Path::new("order.ron")).expect("parses")).expect_err("bad");
    let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(all.contains(&"stages[1]: Augment must come after PairBatch".to_string()));
    assert!(all.contains(&"stages[3]: Augment may appear once".to_string()));
    let ron = "Pipeline(stages: [Decode(()), PairBatch(()), Augment((flip: 0.0)), Sink(Count)])";
    let ok = plan(parse(ron, Path::new("ok.ron")).expect("parses")).expect("valid");
    let flips: Vec<f64> = ok
        .batch
        .iter()
        .filter_map(|s| match s {
            crate::pipeline::StageConfig::Augment(a) => Some(a.flip),
            _ => None,
        })
        .collect();
    assert_eq!(flips, [0.0]);
}

/// Any valid settings: each field within the range `problems` accepts.
fn valid_config() -> impl Strategy<Value = AugmentConfig> {
    let geometry = (0.0..=1.0f64, 0.0..=180.0f64, 0.0..0.999f64, 0.0..=50.0f64);
    let scales = (0.25..=4.0f64, 0.25..=4.0f64);
    let photometric = (0.0..=1.0f64, 0.0..=1.0f64, 0.0..=1.0f64);
    (geometry, scales, photometric).prop_map(|((p, r, s, t), (a, b), (flip, br, c))| {
        AugmentConfig {
            p,
            rotation_deg: r,
            shear: s,
            scale_min: a.min(b),
            scale_max: a.max(b),
            translate_px: t,
            flip,
            brightness: br,
            contrast: c,
            ..AugmentConfig::default()
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn valid_settings_never_make_nan_or_out_of_range_pixels(
        config in valid_config(),
        (w, h) in (1..12usize, 1..12usize),
        seed in any::<u64>(),
        index in 0..1000usize,
    ) {
        let mut problems = Vec::new();
        config.problems("augment", &mut problems);
        prop_assert!(problems.is_empty(), "{:?}", problems);
        let mut b = batch(Phase::Train, 0, index, 3, w, h);
        Augment::new(config, seed).augment(&mut b).expect("augment");
        for v in b.left.iter().chain(&b.right) {
            prop_assert!((0.0..=1.0).contains(v), "{}", v);
        }
    }
}
