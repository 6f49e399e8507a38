//! Threads and processes sharing one cache path: readers, racing writers, the build lock and
//! abandoned builds.

use std::sync::{Arc, Barrier};
use std::thread;

use super::*;

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
