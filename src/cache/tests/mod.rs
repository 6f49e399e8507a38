//! Tests across the cache's files: round trips, staleness and writer misuse here, damage and
//! concurrency in the submodules. Fixtures are synthetic images written into temp dirs.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::data::ImageKey;

mod concurrency;
mod damage;

const W: u32 = 5;
const H: u32 = 3;

fn image_key(i: usize) -> ImageKey {
    ImageKey {
        name: format!("Person_{}", i / 3),
        number: (i % 3) as u32 + 1,
    }
}

fn stamps(n: usize) -> Vec<SourceStamp> {
    (0..n)
        .map(|i| SourceStamp {
            key: image_key(i),
            rel_path: format!("{0}/{0}_{1:04}.jpg", image_key(i).name, image_key(i).number),
            size: 1000 + i as u64,
            mtime_ns: 1_700_000_000_000_000_000 + i as u64,
        })
        .collect()
}

/// The pixels of image `i`: distinct per image and per position.
fn pixels(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|p| (i * 7 + p * 13) as u8).collect()
}

/// Builds a cache of `n` images, pushed in reverse order, skipping those in `skip`.
fn build(path: &Path, dtype: Dtype, n: usize, skip: &[usize]) -> CacheKey {
    let key = CacheKey::new(W, H, "triangle", dtype, stamps(n));
    let mut writer = CacheWriter::create(path, key.clone()).unwrap();
    for i in (0..n).rev() {
        if skip.contains(&i) {
            writer.skip(&image_key(i), "corrupt jpeg").unwrap();
        } else {
            writer
                .push(&image_key(i), &pixels(i, (W * H) as usize))
                .unwrap();
        }
    }
    let summary = writer.finish().unwrap();
    assert_eq!(summary.rows + summary.skipped, n);
    key
}

fn temp_cache() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache").join("faces.tfc");
    (dir, path)
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn u8_round_trip_keeps_push_order_index_and_skips() {
    let (_dir, path) = temp_cache();
    let key = build(&path, Dtype::U8, 7, &[2, 5]);
    let cache = TensorCache::open_checked(&path, &key).unwrap();
    assert_eq!((cache.len(), cache.width(), cache.height()), (5, W, H));
    assert_eq!(cache.dtype(), Dtype::U8);
    assert_eq!(cache.row_stride(), 64);
    // Rows were pushed in reverse order: 6, 4, 3, 1, 0.
    assert_eq!(cache.image_key(0), Some(&image_key(6)));
    for i in [0, 1, 3, 4, 6] {
        let row = cache.index_of(&image_key(i)).unwrap();
        assert_eq!(cache.image_key(row), Some(&image_key(i)));
        assert_eq!(cache.row_u8(row).unwrap(), pixels(i, 15).as_slice());
    }
    assert_eq!(cache.index_of(&image_key(2)), None);
    assert_eq!(cache.index_of(&image_key(99)), None);
    assert_eq!(cache.row_u8(5), None);
    assert_eq!(cache.row_f32(0), None);
    let skipped: Vec<_> = cache.skipped().iter().map(|s| s.key.clone()).collect();
    assert_eq!(skipped, [image_key(5), image_key(2)]);
    assert_eq!(cache.skipped()[0].reason, "corrupt jpeg");
    assert_eq!(cache.cache_key(), &key);
    cache.verify_data().unwrap();
}

#[test]
fn f32_round_trip_stores_pixels_over_255() {
    let (_dir, path) = temp_cache();
    build(&path, Dtype::F32, 4, &[]);
    let cache = OpenOptions::new().verify_data(true).open(&path).unwrap();
    assert_eq!(cache.row_stride(), 64); // 15 floats are 60 bytes, padded to 64.
    for i in 0..4 {
        let row = cache
            .row_f32(cache.index_of(&image_key(i)).unwrap())
            .unwrap();
        let want: Vec<f32> = pixels(i, 15)
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        assert_eq!(row, want.as_slice());
    }
    assert_eq!(cache.row_u8(0), None);
}

#[test]
fn stale_keys_name_their_first_difference() {
    let (_dir, path) = temp_cache();
    let key = build(&path, Dtype::U8, 6, &[]);
    let stale = |edit: &dyn Fn(&mut CacheKey)| {
        let mut wanted = key.clone();
        edit(&mut wanted);
        let err = TensorCache::open_checked(&path, &wanted).unwrap_err();
        assert_eq!(err.kind(), CacheErrorKind::Stale);
        err.to_string()
    };
    assert!(stale(&|k| k.width = 100).ends_with("resize size changed 5x3 -> 100x3"));
    assert!(stale(&|k| k.filter = "lanczos3".into()).contains("filter changed"));
    assert!(stale(&|k| k.dtype = Dtype::F32).ends_with("dtype changed u8 -> f32"));
    assert!(stale(&|k| k.format_version = 9).contains("format version"));
    let resized = |k: &mut CacheKey| {
        k.sources.truncate(5);
        k.sources.extend(stamps(9).into_iter().skip(6));
    };
    assert!(stale(&resized).ends_with("3 sources added, 1 removed"));
    let touched = stale(&|k| k.sources[3].mtime_ns += 1);
    assert!(
        touched.ends_with("source Person_1_0001 changed (mtime)"),
        "{touched}"
    );
}

#[test]
fn writer_misuse_is_an_error_and_writes_nothing() {
    let (dir, path) = temp_cache();
    let key = CacheKey::new(W, H, "triangle", Dtype::U8, stamps(3));
    let mut writer = CacheWriter::create(&path, key.clone()).unwrap();
    let err = writer.push(&image_key(0), &[0; 14]).unwrap_err();
    assert!(
        matches!(
            err,
            CacheError::RowSize {
                expected: 15,
                actual: 14,
                ..
            }
        ),
        "{err}"
    );
    let err = writer.push(&image_key(7), &[0; 15]).unwrap_err();
    assert!(matches!(err, CacheError::UnknownSource { .. }), "{err}");
    writer.push(&image_key(0), &[0; 15]).unwrap();
    let err = writer.skip(&image_key(0), "late").unwrap_err();
    assert!(matches!(err, CacheError::Duplicate { .. }), "{err}");
    writer.skip(&image_key(1), "bad").unwrap();
    let err = writer.finish().unwrap_err();
    assert!(
        matches!(err, CacheError::Incomplete { missing: 1, .. }),
        "{err}"
    );
    assert!(!err.should_rebuild());
    assert!(dir_entries(&dir.path().join("cache")).is_empty());
    let mut twice = key;
    twice.sources.push(twice.sources[0].clone());
    let err = CacheWriter::create(&path, twice).unwrap_err();
    assert!(matches!(err, CacheError::InvalidKey { .. }), "{err}");
}

proptest! {
    // Each case writes and syncs a file, so keep the count modest.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_image_sets_round_trip(
        width in 1u32..9,
        height in 1u32..9,
        f32_rows in any::<bool>(),
        images in prop::collection::vec((any::<u8>(), any::<bool>()), 0..12),
    ) {
        let dtype = if f32_rows { Dtype::F32 } else { Dtype::U8 };
        let (_dir, path) = temp_cache();
        let len = (width * height) as usize;
        let key = CacheKey::new(width, height, "nearest", dtype, stamps(images.len()));
        let mut writer = CacheWriter::create(&path, key.clone()).unwrap();
        for (i, &(seed, skip)) in images.iter().enumerate() {
            if skip {
                writer.skip(&image_key(i), "x").unwrap();
            } else {
                writer.push(&image_key(i), &pixels(seed as usize, len)).unwrap();
            }
        }
        writer.finish().unwrap();
        let cache = OpenOptions::new().verify_data(true).expect_key(&key).open(&path).unwrap();
        prop_assert_eq!(cache.len() + cache.skipped().len(), images.len());
        for (i, &(seed, skip)) in images.iter().enumerate() {
            let row = cache.index_of(&image_key(i));
            prop_assert_eq!(row.is_none(), skip);
            let Some(row) = row else { continue };
            let want = pixels(seed as usize, len);
            match dtype {
                Dtype::U8 => prop_assert_eq!(cache.row_u8(row).unwrap(), want.as_slice()),
                Dtype::F32 => {
                    let got: Vec<u8> =
                        cache.row_f32(row).unwrap().iter().map(|v| (v * 255.0).round() as u8).collect();
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}
