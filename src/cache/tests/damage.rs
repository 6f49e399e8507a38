//! Damaged files: every truncation and flipped byte is caught, by open or by `verify_data`.

use std::fs;
use std::path::Path;

use super::*;

fn open_err(path: &Path) -> CacheError {
    TensorCache::open(path).expect_err("damaged file must not open")
}

/// Rewrites the file with `edit` applied to its bytes.
fn damage(path: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = fs::read(path).unwrap();
    edit(&mut bytes);
    fs::write(path, bytes).unwrap();
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
fn the_background_check_finds_a_flipped_data_byte_and_moves_the_file_aside() {
    use crate::cache::check::{damaged_name, DataCheck};
    use std::sync::Arc;
    let (_dir, path) = temp_cache();
    build(&path, Dtype::U8, 6, &[]);
    let good = DataCheck::spawn(Arc::new(TensorCache::open(&path).unwrap()));
    assert!(good.wait().is_ok());
    assert!(path.exists());
    damage(&path, |b| b[4096 + 64 * 2] ^= 1);
    let check = DataCheck::spawn(Arc::new(TensorCache::open(&path).unwrap()));
    let err = check.wait().unwrap_err();
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
    assert!(!path.exists() && damaged_name(&path).exists());
}
