//! Resize: the filters against each other, crops, pass-through, upscaling, and the
//! deprecated thread settings.

use super::runtime::{bilinear, box2x};
use super::*;
use crate::engine::{ImageItem, StageContext, Transform};

#[test]
fn exact_halving_is_a_rounded_box_average() {
    let src = [
        10, 20, 30, 41, 50, 60, 70, 80, 0, 0, 255, 255, 0, 1, 255, 255,
    ];
    let out = Resize::new(2, 2, Filter::Bilinear).apply(&src, 4, 4);
    // (10+20+50+60)/4 = 35, (30+41+70+80)/4 = 55.25, (0+0+0+1)/4 = 0.25, 255.
    assert_eq!(out, vec![35, 55, 0, 255]);
}

#[test]
fn general_bilinear_matches_the_fast_path_on_halving_and_keeps_constants() {
    let src: Vec<u8> = (0..36u32).map(|i| (i * 7 % 251) as u8).collect();
    let fast = box2x(&src, 6, 3, 3);
    let slow = bilinear(&src, 6, 6, 3, 3);
    for (a, b) in fast.iter().zip(&slow) {
        assert!(a.abs_diff(*b) <= 1, "{fast:?} vs {slow:?}");
    }
    let flat = vec![77u8; 250 * 250];
    for filter in [
        Filter::Bilinear,
        Filter::Nearest,
        Filter::Triangle,
        Filter::Lanczos3,
    ] {
        let out = Resize::new(125, 100, filter).apply(&flat, 250, 250);
        assert_eq!(out.len(), 125 * 100);
        assert!(out.iter().all(|&p| p == 77), "{filter:?}");
    }
}

#[test]
fn crop_cuts_the_box_before_resizing_and_rejects_boxes_outside() {
    // A 6x4 ramp: pixel (x, y) = 10 * y + x.
    let src: Vec<u8> = (0..4u8)
        .flat_map(|y| (0..6u8).map(move |x| 10 * y + x))
        .collect();
    let crop = Crop {
        x: 2,
        y: 1,
        width: 2,
        height: 2,
    };
    let mut r = Resize::new(2, 2, Filter::Bilinear);
    r.crop = Some(crop);
    assert_eq!(r.crop_and_apply(&src, 6, 4).unwrap(), vec![12, 13, 22, 23]);
    r.width = 1;
    r.height = 1;
    // (12 + 13 + 22 + 23 + 2) / 4 = 18.
    assert_eq!(r.crop_and_apply(&src, 6, 4).unwrap(), vec![18]);
    let err = r.crop_and_apply(&src, 3, 8).unwrap_err();
    assert!(err.contains("does not fit"), "{err}");
    assert_eq!(crop.tag(), "crop2,1,2x2");
}

#[test]
fn a_zero_crop_is_a_problem_with_its_path() {
    let config = ResizeConfig {
        crop: Some(Crop {
            x: 0,
            y: 0,
            width: 0,
            height: 5,
        }),
        ..ResizeConfig::default()
    };
    let mut out = Vec::new();
    config.problems("stages[1]", &mut out);
    assert_eq!(out.len(), 1);
    assert!(
        out[0].to_string().contains("stages[1].crop.width"),
        "{}",
        out[0]
    );
}

#[test]
fn halve_pairs_an_odd_edge_with_itself_and_matches_the_box_on_even_sizes() {
    // 3x3 -> 2x2: the last column and row average with themselves.
    let src = [0, 4, 8, 12, 16, 20, 24, 28, 32];
    assert_eq!(halve(&src, 3, 3), vec![8, 14, 26, 32]);
    let even: Vec<u8> = (0..48u32).map(|i| (i * 11 % 256) as u8).collect();
    assert_eq!(halve(&even, 8, 6), box2x(&even, 8, 4, 3));
}

#[test]
fn an_image_already_at_the_target_size_passes_through() {
    let img = ImageItem {
        key: crate::data::ImageKey {
            name: "A".into(),
            number: 1,
        },
        width: 3,
        height: 2,
        pixels: vec![1, 2, 3, 4, 5, 6],
    };
    let ctx = StageContext::detached("resize");
    let mut out = Vec::new();
    Resize::new(3, 2, Filter::Lanczos3)
        .process(img.clone(), &ctx, &mut out)
        .unwrap();
    assert_eq!(out, vec![img]);
}

#[test]
fn upscaling_works_too() {
    let out = Resize::new(5, 3, Filter::Bilinear).apply(&[0, 100, 200, 50], 2, 2);
    assert_eq!(out.len(), 15);
}

#[test]
fn the_deprecated_thread_settings_still_parse_with_a_warning_each() {
    use crate::pipeline::validate::{parse, plan};
    let ron = "Pipeline(stages: [Decode(()), Resize((workers: 2, capacity: 8)), Sink(Count)])";
    let planned =
        plan(parse(ron, std::path::Path::new("old.ron")).expect("parses")).expect("still valid");
    let paths: Vec<&str> = planned.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["stages[1].workers", "stages[1].capacity"]);
    assert!(planned.warnings[0].message.contains("ignored"));
    // A run folder's copy of the pipeline is written without them.
    let resize = planned.resize.expect("a Resize stage");
    let text = ron::to_string(&resize).expect("ron");
    assert!(
        !text.contains("workers") && !text.contains("capacity"),
        "{text}"
    );
    let ron = "Pipeline(stages: [Decode(()), Resize(()), Sink(Count)])";
    let planned =
        plan(parse(ron, std::path::Path::new("new.ron")).expect("parses")).expect("valid");
    assert!(planned.warnings.is_empty());
}
