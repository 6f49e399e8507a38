//! Decode at both scales: sizes, agreement with full decode + 2x box, fallbacks, corrupt
//! input, the stage's error policy, and the validation rules of `scale`.

use std::io::Cursor;
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::{GrayImage, ImageFormat, Luma, RgbImage};
use proptest::prelude::*;

use super::*;
use crate::data::{ImageEntry, ImageKey};
use crate::engine::{run, Chain, RunOptions, SourceStage};
use crate::pipeline::validate::{parse, plan};
use crate::stages::resize::halve;
use crate::stages::source::FileSource;
use crate::stages::{Build, BuildContext, SinkConfig};

/// A face-like test card: gradients, a disc, sharp bars and some texture.
fn card(width: u32, height: u32) -> GrayImage {
    GrayImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let (dx, dy) = (fx - 0.5, fy - 0.45);
        let mut v = 60.0 + 120.0 * fx + 40.0 * fy;
        if dx * dx + dy * dy < 0.09 {
            v = 200.0 - 80.0 * dy;
        }
        if (x / 7) % 5 == 0 && y > height / 2 {
            v = 20.0;
        }
        v += ((x * 31 + y * 17) % 13) as f32;
        Luma([v.clamp(0.0, 255.0) as u8])
    })
}

fn jpeg(img: &GrayImage, quality: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(img)
        .expect("encode");
    bytes
}

/// Mean and largest absolute difference of two equally long images.
fn diff(a: &[u8], b: &[u8]) -> (f64, u8) {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    let max = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max();
    (sum as f64 / a.len() as f64, max.unwrap_or(0))
}

/// Full decode by the image crate, then the 2x2 box: what `Half` promises to equal.
fn full_then_halved(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let full = decode_gray(bytes).expect("full decode");
    let (w, h) = full.dimensions();
    let half = halve(full.as_raw(), w as usize, h as usize);
    (w.div_ceil(2), h.div_ceil(2), half)
}

#[test]
fn half_scale_decodes_gray_jpegs_in_the_dct_domain_close_to_full_decode_and_box() {
    // 250x250 like LFW-a, and odd sizes whose last block is partly padding.
    for (w, h) in [(250, 250), (37, 23), (64, 8), (9, 17)] {
        for quality in [50, 90] {
            let bytes = jpeg(&card(w, h), quality);
            let half = half::Decoder::default()
                .decode(&bytes)
                .expect("a grayscale baseline JPEG takes the DCT path");
            assert_eq!((half.width, half.height), (w.div_ceil(2), h.div_ceil(2)));
            let (_, _, reference) = full_then_halved(&bytes);
            let (mean, max) = diff(&half.pixels, &reference);
            // One rounding step apart (the box rounds decoded pixels, the DCT path does not),
            // plus clipping where the full decode saturates; LFW-a measured 0.18 mean.
            assert!(
                mean < 0.6 && max <= 12,
                "{w}x{h} q{quality}: mean {mean}, max {max}"
            );
        }
    }
}

#[test]
fn the_scaled_decoder_sizes_and_a_repeated_decode_agree() {
    let bytes = jpeg(&card(250, 250), 75);
    let mut decoder = Decoder::new(Scale::Half);
    let first = decoder.decode(&bytes).expect("decode");
    assert_eq!((first.0, first.1, first.2.len()), (125, 125, 125 * 125));
    // The second image reuses the cached coefficient patterns.
    assert_eq!(decoder.decode(&bytes).expect("decode"), first);
    let full = Decoder::new(Scale::Full).decode(&bytes).expect("decode");
    assert_eq!((full.0, full.1), (250, 250));
}

#[test]
fn what_the_dct_path_refuses_is_decoded_in_full_and_halved() {
    let rgb = RgbImage::from_fn(30, 20, |x, y| {
        image::Rgb([(x * 8) as u8, (y * 12) as u8, 99])
    });
    let mut colour = Vec::new();
    rgb.write_to(&mut Cursor::new(&mut colour), ImageFormat::Jpeg)
        .expect("encode");
    let mut png = Vec::new();
    card(31, 12)
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .expect("encode");
    for (name, bytes) in [("colour JPEG", colour), ("PNG", png)] {
        let refused = half::Decoder::default().decode(&bytes);
        assert!(
            matches!(refused, Err(half::HalfError::Unsupported { .. })),
            "{name}: {refused:?}"
        );
        let got = Decoder::new(Scale::Half).decode(&bytes).expect(name);
        assert_eq!(got, full_then_halved(&bytes), "{name}");
    }
}

#[test]
fn corrupt_bytes_are_a_clear_error_at_both_scales() {
    let good = jpeg(&card(40, 40), 75);
    let cut_in_header = &good[..60];
    for bytes in [
        &b""[..],
        b"\xff\xd8\xff\xe0 definitely not a jpeg",
        cut_in_header,
    ] {
        for scale in [Scale::Full, Scale::Half] {
            let err = Decoder::new(scale).decode(bytes).expect_err("corrupt");
            assert!(!err.to_string().is_empty());
        }
    }
    assert_eq!(
        half::Decoder::default().decode(cut_in_header).err(),
        Some(half::HalfError::Corrupt {
            reason: "truncated segment"
        })
    );
}

#[test]
fn a_jpeg_cut_short_is_an_error_at_both_scales_and_padding_after_its_end_is_not() {
    let good = jpeg(&card(64, 64), 75);
    for cut in [good.len() / 2, good.len() - 2, 400.min(good.len() - 3)] {
        for scale in [Scale::Full, Scale::Half] {
            let err = Decoder::new(scale).decode(&good[..cut]).expect_err("cut");
            assert!(err.to_string().contains("truncated"), "{cut}: {err}");
        }
        assert!(decode_gray(&good[..cut]).is_err());
    }
    let mut padded = good.clone();
    padded.extend_from_slice(&[0u8; 40]);
    for scale in [Scale::Full, Scale::Half] {
        assert_eq!(
            Decoder::new(scale).decode(&padded).expect("padded").2,
            Decoder::new(scale).decode(&good).expect("good").2
        );
    }
}

#[test]
fn a_scan_cut_short_ends_in_mid_gray_like_libjpeg() {
    let bytes = jpeg(&card(64, 64), 75);
    let cut = &bytes[..bytes.len() * 2 / 3];
    let img = half::Decoder::default().decode(cut).expect("tolerated");
    assert_eq!((img.width, img.height), (32, 32));
    assert_eq!(
        img.pixels[32 * 32 - 1],
        128,
        "the missing blocks are mid-gray"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Damaged JPEGs give an image or an error, never a panic or a wrong-sized image.
    #[test]
    fn damaged_jpegs_never_panic(
        edits in prop::collection::vec((0usize..2000, any::<u8>()), 1..8),
        cut in 0usize..2000,
    ) {
        let mut bytes = jpeg(&card(48, 40), 60);
        for (at, byte) in edits {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        bytes.truncate(cut.max(2));
        if let Ok(img) = half::Decoder::default().decode(&bytes) {
            prop_assert_eq!(img.pixels.len() as u64, u64::from(img.width) * u64::from(img.height));
        }
    }
}

#[test]
fn the_stage_reports_a_corrupt_file_with_its_path_counts_it_and_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    let good = write("a.jpg", &jpeg(&card(50, 50), 75));
    let bad = write("b.jpg", b"\xff\xd8\xff\xe0 cut short");
    let entries = [good, bad.clone()]
        .into_iter()
        .enumerate()
        .map(|(i, path)| ImageEntry {
            key: ImageKey {
                name: "A".into(),
                number: i as u32 + 1,
            },
            path,
        })
        .collect();
    let config = DecodeConfig {
        scale: Scale::Half,
        ..DecodeConfig::default()
    };
    let ctx = BuildContext::default();
    let chain = Chain::start(SourceStage {
        name: "files".into(),
        capacity: 2,
        source: Box::new(FileSource::new(entries)),
    })
    .then(config.build(&ctx).expect("builds"))
    .end("sink", SinkConfig::Count.build(&ctx).expect("builds"));
    let (sink, report) = run(chain, &RunOptions::default()).expect("the run goes on");
    assert_eq!(sink.counts.images, 1);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].item, bad.display().to_string());
    assert!(report.skipped[0].reason.starts_with("cannot decode"));
}

fn problems(stages: &str) -> Vec<String> {
    let text = format!("Pipeline(stages: [{stages}, Sink(Count)])");
    let pipeline = parse(&text, Path::new("t.ron")).expect("parses");
    match plan(pipeline) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn half_scale_is_checked_against_the_resize_after_it() {
    assert!(problems("Decode((scale: Half)), Resize((width: 125, height: 125))").is_empty());
    assert!(problems("Decode((scale: Half)), Resize((width: 105, height: 105))").is_empty());
    assert!(problems("Decode((scale: Half))").is_empty());
    let up = problems("Decode((scale: Half)), Resize((width: 250, height: 250))");
    assert!(
        up.len() == 1 && up[0].starts_with("stages[0].scale: Half decodes"),
        "{up:?}"
    );
    let filter = problems("Decode((scale: Half)), Resize((filter: Lanczos3))");
    assert!(
        filter.len() == 1
            && filter[0].starts_with("stages[1].filter: ")
            && filter[0].contains("Lanczos3"),
        "{filter:?}"
    );
    let crop = problems(
        "Decode((scale: Half)), Resize((width: 64, height: 64, \
         crop: Some((x: 61, y: 61, width: 128, height: 128))))",
    );
    // (The default network does not fit 64x64 either; only the crop matters here.)
    assert!(
        crop.iter().any(|p| p.starts_with("stages[1].crop: ")),
        "{crop:?}"
    );
    // Full scale keeps every combination it had.
    assert!(problems("Decode(()), Resize((width: 250, height: 250, filter: Lanczos3))").is_empty());
}

#[test]
fn a_half_scale_plan_without_resize_works_on_125_pixel_images() {
    let text = "Pipeline(stages: [Decode((scale: Half)), Sink(Count)])";
    let plan = plan(parse(text, Path::new("t.ron")).expect("parses")).expect("valid");
    assert_eq!(plan.image_size(), (125, 125));
}
