//! Tests across the cache's files: round trips, every kind of damage, staleness, threads and
//! concurrent builders. Fixtures are synthetic images written into temp dirs.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;

use proptest::prelude::*;

use super::*;
use crate::data::ImageKey;

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

/// Rewrites the file with `edit` applied to its bytes.
fn damage(path: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = fs::read(path).unwrap();
    edit(&mut bytes);
    fs::write(path, bytes).unwrap();
}

fn open_err(path: &Path) -> CacheError {
    TensorCache::open(path).expect_err("damaged file must not open")
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
fn every_truncation_is_detected() {
    let (_dir, path) = temp_cache();
    build(&path, Dtype::U8, 6, &[1]);
    let good = fs::read(&path).unwrap();
    let meta_offset = 4096 + 5 * 64;
    // Inside magic, header, padding, the first and last row, the key, the index, last byte.
    for len in [
        0,
        5,
        100,
        127,
        128,
        4000,
        4096,
        4100,
        meta_offset - 1,
        meta_offset + 10,
    ] {
        fs::write(&path, &good[..len]).unwrap();
        let err = open_err(&path);
        assert_eq!(err.kind(), CacheErrorKind::Invalid, "length {len}: {err}");
    }
    fs::write(&path, &good[..good.len() - 1]).unwrap();
    assert!(matches!(open_err(&path), CacheError::SizeMismatch { .. }));
    damage(&path, |b| b.extend_from_slice(&[0, 0]));
    assert!(matches!(open_err(&path), CacheError::SizeMismatch { .. }));
}

#[test]
fn flipped_header_and_metadata_bytes_are_detected_on_open() {
    let (_dir, path) = temp_cache();
    build(&path, Dtype::U8, 6, &[1]);
    let good = fs::read(&path).unwrap();
    let meta_offset = 4096 + 5 * 64;
    let header_bytes = [12, 16, 20, 24, 32, 40, 48, 56, 64, 72, 76, 100, 124, 127];
    let meta_bytes = (meta_offset..good.len()).step_by(7);
    for at in header_bytes
        .into_iter()
        .chain([200, 4095])
        .chain(meta_bytes)
    {
        fs::write(&path, &good).unwrap();
        damage(&path, |b| b[at] ^= 0x10);
        let err = open_err(&path);
        assert_eq!(err.kind(), CacheErrorKind::Invalid, "byte {at}: {err}");
        if at >= meta_offset {
            let metadata = Section::Metadata;
            assert!(matches!(err, CacheError::Checksum { section, .. } if section == metadata));
        }
    }
}

#[test]
fn flipped_data_byte_is_caught_by_verify_only() {
    let (_dir, path) = temp_cache();
    build(&path, Dtype::U8, 6, &[]);
    // The padding after a row's pixels is checksummed too.
    for at in [4096, 4096 + 64 * 3 + 20, 4096 + 63] {
        let (_d, copy) = temp_cache();
        fs::create_dir_all(copy.parent().unwrap()).unwrap();
        fs::copy(&path, &copy).unwrap();
        damage(&copy, |b| b[at] ^= 1);
        let cache = TensorCache::open(&copy).unwrap();
        let err = cache.verify_data().unwrap_err();
        assert!(
            matches!(
                err,
                CacheError::Checksum {
                    section: Section::Data,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("faces.tfc"), "{err}");
        let err = OpenOptions::new()
            .verify_data(true)
            .open(&copy)
            .unwrap_err();
        assert!(err.should_rebuild());
    }
}

#[test]
fn wrong_magic_version_and_missing_file_are_told_apart() {
    let (_dir, path) = temp_cache();
    let err = open_err(&path);
    assert!(
        matches!(err, CacheError::Missing { .. }) && err.should_rebuild(),
        "{err}"
    );
    build(&path, Dtype::U8, 2, &[]);
    let good = fs::read(&path).unwrap();
    damage(&path, |b| b[0] = b'X');
    assert!(matches!(open_err(&path), CacheError::BadMagic { .. }));
    fs::write(&path, &good).unwrap();
    damage(&path, |b| b[8] = 2);
    let err = open_err(&path);
    assert!(
        matches!(err, CacheError::UnsupportedVersion { found: 2, .. }),
        "{err}"
    );
    assert!(err.should_rebuild());
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
fn readers_on_many_threads_share_one_mapping() {
    let (_dir, path) = temp_cache();
    build(&path, Dtype::U8, 30, &[]);
    let cache = Arc::new(TensorCache::open(&path).unwrap());
    let readers: Vec<_> = (0..4)
        .map(|t| {
            let cache = Arc::clone(&cache);
            thread::spawn(move || {
                for round in 0..50 {
                    let i = (t * 7 + round * 11) % 30;
                    let row = cache.index_of(&image_key(i)).unwrap();
                    assert_eq!(cache.row_u8(row).unwrap(), pixels(i, 15).as_slice());
                }
            })
        })
        .collect();
    for reader in readers {
        reader.join().unwrap();
    }
}

#[test]
fn two_concurrent_writers_leave_one_valid_file() {
    let (dir, path) = temp_cache();
    let start = Arc::new(Barrier::new(2));
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (path, start) = (path.clone(), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                build(&path, Dtype::U8, 20, &[3])
            })
        })
        .collect();
    let keys: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let cache = OpenOptions::new()
        .verify_data(true)
        .expect_key(&keys[0])
        .open(&path)
        .unwrap();
    assert_eq!(cache.len(), 19);
    assert_eq!(dir_entries(&dir.path().join("cache")), ["faces.tfc"]);
}

#[test]
fn builders_that_take_the_lock_build_once() {
    let (_dir, path) = temp_cache();
    let key = CacheKey::new(W, H, "triangle", Dtype::U8, stamps(10));
    let start = Arc::new(Barrier::new(3));
    let builders: Vec<_> = (0..3)
        .map(|_| {
            let (path, key, start) = (path.clone(), key.clone(), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let _lock = BuildLock::acquire(&path).unwrap();
                match TensorCache::open_checked(&path, &key) {
                    Ok(_) => false,
                    Err(err) if err.should_rebuild() => {
                        build(&path, Dtype::U8, 10, &[]);
                        true
                    }
                    Err(err) => panic!("{err}"),
                }
            })
        })
        .collect();
    let built = builders
        .into_iter()
        .map(|b| b.join().unwrap())
        .filter(|&b| b)
        .count();
    assert_eq!(built, 1);
}

#[test]
fn dropped_writer_leaves_no_file_and_keeps_the_old_one() {
    let (dir, path) = temp_cache();
    let key = CacheKey::new(W, H, "triangle", Dtype::U8, stamps(3));
    let mut writer = CacheWriter::create(&path, key.clone()).unwrap();
    writer.push(&image_key(0), &pixels(0, 15)).unwrap();
    drop(writer);
    assert!(dir_entries(&dir.path().join("cache")).is_empty());
    build(&path, Dtype::U8, 3, &[]);
    let mut writer = CacheWriter::create(&path, key).unwrap();
    writer.push(&image_key(1), &pixels(9, 15)).unwrap();
    drop(writer);
    assert_eq!(dir_entries(&dir.path().join("cache")), ["faces.tfc"]);
    let cache = OpenOptions::new().verify_data(true).open(&path).unwrap();
    assert_eq!(
        cache
            .row_u8(cache.index_of(&image_key(1)).unwrap())
            .unwrap(),
        pixels(1, 15)
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
