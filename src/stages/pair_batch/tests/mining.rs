//! The mining board's schedule and waits, the pools it chooses, and the miner's choice of
//! negatives: hand-made snapshots for the rules, fake embeddings for "harder than random".

use std::time::{Duration, Instant};

use super::*;
use crate::stages::pair_batch::mining::Miner;

fn line(points: &[(u32, f32)]) -> Snapshot {
    // Pool image i has identity points[i].0 and the 1-D embedding points[i].1.
    let images = points
        .iter()
        .enumerate()
        .map(|(i, &(identity, _))| PoolImage {
            row: i as u32,
            identity,
        })
        .collect();
    let embeddings = points.iter().map(|&(_, x)| vec![x]).collect();
    let comparator = Comparator::NegativeDistance {
        distance: Distance::Euclidean,
    };
    Snapshot::new(0, images, embeddings, comparator).expect("fits")
}

#[test]
fn the_schedule_maps_batches_to_the_refresh_after_their_last_multiple_of_k() {
    let board = MiningBoard::new(vec![vec![0, 1]], 2, 3, 0);
    let used: Vec<Option<usize>> = (0..10).map(|b| board.refresh_for(b)).collect();
    assert_eq!(
        used,
        [
            None,
            None,
            None,
            Some(0),
            Some(0),
            Some(0),
            Some(1),
            Some(1),
            Some(1),
            Some(2)
        ]
    );
    let due: Vec<Option<usize>> = (0..10).map(|s| board.refresh_after(s)).collect();
    assert_eq!(
        due,
        [
            None,
            None,
            None,
            Some(0),
            None,
            None,
            Some(1),
            None,
            None,
            Some(2)
        ]
    );
    // Batch b's refresh is due after step floor(b / K) * K <= b: an earlier batch.
    for b in 0..100 {
        if let Some(r) = board.refresh_for(b) {
            let step = (0..=b).find(|&s| board.refresh_after(s) == Some(r));
            assert!(step.is_some_and(|s| s <= b), "batch {b}, refresh {r}");
        }
    }
}

#[test]
fn pools_follow_the_seed_and_take_at_most_two_images_per_identity() {
    let identities: Vec<Vec<u32>> = (0..20u32)
        .map(|i| (0..=(i % 4)).map(|k| i * 10 + k).collect())
        .collect();
    let board = MiningBoard::new(identities.clone(), 15, 1, 9);
    let pool = board.pool(3);
    assert_eq!(pool.len(), 15);
    assert_eq!(pool, board.pool(3));
    assert_ne!(pool, board.pool(4));
    assert_ne!(
        pool,
        MiningBoard::new(identities.clone(), 15, 1, 10).pool(3)
    );
    for image in &pool {
        assert!(identities[image.identity as usize].contains(&image.row));
        let count = pool.iter().filter(|i| i.identity == image.identity).count();
        assert!(count <= 2);
    }
    let rows: BTreeSet<u32> = pool.iter().map(|i| i.row).collect();
    assert_eq!(rows.len(), 15, "no image twice");
    // A pool bigger than the identities hold takes what there is.
    let small = MiningBoard::new(vec![vec![1, 2, 3], vec![4]], 50, 1, 0);
    assert_eq!(small.pool(0).len(), 3);
}

#[test]
fn a_snapshot_must_fit_its_pool() {
    let images = vec![
        PoolImage {
            row: 0,
            identity: 0
        };
        2
    ];
    let comparator = Comparator::NegativeDistance {
        distance: Distance::L1,
    };
    let short = Snapshot::new(0, images.clone(), vec![vec![0.0]], comparator.clone());
    assert!(matches!(
        short,
        Err(BoardError::Shape { embeddings: 1, .. })
    ));
    let ragged = Snapshot::new(0, images, vec![vec![0.0], vec![0.0, 1.0]], comparator);
    assert!(matches!(ragged, Err(BoardError::Shape { .. })));
}

#[test]
fn a_waiter_wakes_for_its_refresh_for_a_closed_board_and_for_a_cancelled_run() {
    let board = Arc::new(MiningBoard::new(vec![vec![0], vec![1]], 2, 1, 0));
    let publisher = {
        let board = Arc::clone(&board);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            board.publish(line(&[(0, 0.0), (1, 1.0)]));
        })
    };
    let got = board.wait_for(0, || false).expect("published");
    assert_eq!(got.refresh(), 0);
    publisher.join().expect("joins");
    assert!(matches!(
        board.wait_for(1, || true),
        Err(BoardError::Cancelled { refresh: 1 })
    ));
    let closer = {
        let board = Arc::clone(&board);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            board.close();
        })
    };
    let t = Instant::now();
    assert!(matches!(
        board.wait_for(1, || false),
        Err(BoardError::Closed { refresh: 1 })
    ));
    assert!(t.elapsed() < Duration::from_secs(5));
    closer.join().expect("joins");
    // Still published refreshes are still handed out; an overtaken one is an error.
    assert!(board.wait_for(0, || false).is_ok());
    let mut later = line(&[(0, 0.0), (1, 1.0)]);
    later = Snapshot::new(2, later.images().to_vec(), vec![vec![0.0]; 2], {
        Comparator::NegativeDistance {
            distance: Distance::L1,
        }
    })
    .expect("fits");
    board.publish(later);
    assert!(matches!(
        board.wait_for(1, || false),
        Err(BoardError::Overtaken {
            wanted: 1,
            latest: 2
        })
    ));
}

#[test]
fn hardest_takes_the_closest_other_identity_and_semi_hard_the_closest_beyond_the_partner() {
    // Anchor 0 at 0.0 with its partner at 1.0; negatives at 0.3 (closer than the partner:
    // too hard for SemiHard), 1.5 and 3.0. Identity 3 has no partner, so is no anchor.
    let snapshot = Arc::new(line(&[
        (0, 0.0),
        (0, 1.0),
        (1, 0.3),
        (1, 0.35),
        (2, 1.5),
        (2, 3.0),
        (3, 9.0),
    ]));
    let mut miner = Miner::new(Arc::clone(&snapshot));
    assert_eq!(miner.anchors(), &[0, 1, 2, 3, 4, 5]);
    assert_eq!(miner.negative(0, MiningMode::Hardest), Some(2));
    let mut miner = Miner::new(Arc::clone(&snapshot));
    assert_eq!(miner.negative(0, MiningMode::SemiHard), Some(4));
    // Anchor 2 (0.3) has its partner at 0.35: every negative is beyond it, the nearest
    // (0.0) is the semi-hard one.
    assert_eq!(miner.negative(2, MiningMode::SemiHard), Some(0));
    // A partner farther than every negative leaves none beyond it: SemiHard falls back to
    // the least alike negative.
    let mut far = Miner::new(Arc::new(line(&[(0, 0.0), (0, 5.0), (1, 1.0), (2, 2.0)])));
    assert_eq!(far.negative(0, MiningMode::SemiHard), Some(3));
    assert_eq!(far.negative(0, MiningMode::SemiHard), Some(3), "memoised");
    // One identity in the pool: nothing to mine.
    let mut alone = Miner::new(Arc::new(line(&[(0, 0.0), (0, 1.0)])));
    assert_eq!(alone.negative(0, MiningMode::Hardest), None);
    // Non-finite similarities are skipped, not chosen.
    let mut odd = Miner::new(Arc::new(line(&[
        (0, 0.0),
        (0, 1.0),
        (1, f32::NAN),
        (2, 2.0),
    ])));
    assert_eq!(odd.negative(0, MiningMode::Hardest), Some(3));
}

/// Mean fake-embedding distance of the different pairs of `got`.
fn mean_negative_distance(fixture: &Fixture, got: &[Vec<(u32, u32)>]) -> f64 {
    let (mut sum, mut n) = (0.0, 0);
    for &(a, b) in got.iter().flatten() {
        let (na, nb) = (fixture.name(a), fixture.name(b));
        if na != nb {
            let (ea, eb) = (embedding(na, a, 0), embedding(nb, b, 0));
            let d: f32 = ea.iter().zip(&eb).map(|(x, y)| (x - y) * (x - y)).sum();
            sum += f64::from(d.sqrt());
            n += 1;
        }
    }
    sum / f64::from(n)
}

#[test]
fn mined_negatives_are_closer_than_random_ones() {
    // 40 identities of 4 images; the fake trainer's embeddings do not drift, so distances
    // can be measured afterwards with the same function.
    let fixture = Fixture::new(&[4; 40], &[2]);
    let sampler = |mode, random_negatives| Sampler::HardNegative {
        same_ratio: 0.25,
        pairs_per_epoch: 256,
        refresh_every: 1,
        pool: 80,
        mode,
        random_negatives,
    };
    let run = |mode, random| {
        let source = fixture.source(sampler(mode, random), 32, 5);
        let mut trainer = FakeTrainer::new(&source, &fixture.store, false);
        // Epoch 1 onwards: every batch mines.
        let mut got = Vec::new();
        source
            .train_epoch(1, &mut trainer, &mut |_, rows| {
                got.push(rows.to_vec());
                Ok(())
            })
            .expect("epoch");
        mean_negative_distance(&fixture, &got)
    };
    let random = run(MiningMode::Hardest, 1.0);
    let hardest = run(MiningMode::Hardest, 0.0);
    let semi_hard = run(MiningMode::SemiHard, 0.0);
    assert!(
        hardest < semi_hard && semi_hard < random,
        "mean different-pair distance: hardest {hardest:.3}, semi-hard {semi_hard:.3}, \
         random {random:.3}"
    );
    // Hardest negatives from 80 images of 40 identities are far nearer than random ones.
    assert!(hardest < 0.6 * random, "{hardest:.3} vs {random:.3}");
}

#[test]
fn an_empty_pool_mines_nothing_and_draws_at_random() {
    // Validation keeps pools at two images or more; a hand-built config may still ask for
    // none, and gets random different pairs rather than a panic.
    let fixture = Fixture::new(&[3, 2, 4], &[2]);
    let source = fixture.source(hard(MiningMode::Hardest, 1, 0), 8, 1);
    let mut trainer = FakeTrainer::new(&source, &fixture.store, false);
    let got = batches(&source, 2, &mut trainer);
    assert_eq!(got.len(), 10);
    let empty = Miner::new(trainer.get(0).expect("a snapshot"));
    assert!(empty.anchors().is_empty());
}
