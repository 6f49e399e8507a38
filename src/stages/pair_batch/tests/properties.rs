//! Property tests of the samplers on random identity sets, batch sizes, ratios and seeds:
//! exact same-pair counts, no different pair of one identity, no validation or test
//! identity in a train batch, determinism, `PairsFile` epochs that permute the pairs, and
//! `PairsFilePlus` epochs that add their made pairs to them.

use proptest::prelude::*;

use super::*;

/// Train identities (1-5 images each, at least two identities), and 1-3 validation and
/// test identities.
fn identity_sets() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (
        prop::collection::vec(1usize..6, 2..7),
        prop::collection::vec(1usize..4, 1..4),
    )
}

fn modes() -> impl Strategy<Value = MiningMode> {
    prop_oneof![Just(MiningMode::Hardest), Just(MiningMode::SemiHard)]
}

/// Checks every train batch of an identity-protocol sampler.
fn check_batches(
    fixture: &Fixture,
    got: &[Vec<(u32, u32)>],
    batch_size: usize,
    pairs_per_epoch: usize,
    same_ratio: f64,
) -> Result<(), TestCaseError> {
    let per_epoch = pairs_per_epoch.div_ceil(batch_size);
    for (b, batch) in got.iter().enumerate() {
        let want_len = if b % per_epoch == per_epoch - 1 {
            pairs_per_epoch - (per_epoch - 1) * batch_size
        } else {
            batch_size
        };
        prop_assert_eq!(batch.len(), want_len);
        let mut same = 0;
        for &(a, c) in batch {
            let (na, nc) = (fixture.name(a), fixture.name(c));
            prop_assert!(
                fixture.train_identities.contains(na) && fixture.train_identities.contains(nc),
                "{} / {} is not a train pair",
                na,
                nc
            );
            if na == nc {
                prop_assert_ne!(a, c, "a same pair of one image");
                same += 1;
            }
        }
        // A different pair of one identity would show as one same pair too many.
        let want = (batch.len() as f64 * same_ratio).round() as usize;
        prop_assert_eq!(same, want, "batch {} of {}", b, batch.len());
    }
    Ok(())
}

proptest! {
    // Each case samples a few small epochs; 32 cases per property keep the suite fast.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn balanced_batches_hold_their_ratio_and_train_identities(
        (train, others) in identity_sets(),
        batch_size in 1usize..12,
        pairs_per_epoch in 1usize..40,
        same_ratio in 0.0f64..=1.0,
        seed in any::<u64>(),
    ) {
        let fixture = Fixture::new(&train, &others);
        let sampler = Sampler::Balanced { same_ratio, pairs_per_epoch };
        // Refused up front (e.g. no identity with two images): nothing to draw.
        let source = fixture.try_source(sampler, batch_size, seed)
            .map_err(|e| TestCaseError::reject(e.to_string()))?;
        let got = batches(&source, 2, &mut NoRefreshes);
        check_batches(&fixture, &got, batch_size, pairs_per_epoch, same_ratio)?;
        let again = fixture.source(sampler, batch_size, seed);
        prop_assert_eq!(got, batches(&again, 2, &mut NoRefreshes));
    }

    #[test]
    fn hard_negative_batches_hold_their_ratio_and_train_identities(
        (train, others) in identity_sets(),
        batch_size in 1usize..12,
        pairs_per_epoch in 1usize..40,
        same_ratio in 0.0f64..=1.0,
        random_negatives in 0.0f64..=1.0,
        refresh_every in 1usize..5,
        pool in 2usize..12,
        mode in modes(),
        seed in any::<u64>(),
    ) {
        let fixture = Fixture::new(&train, &others);
        let sampler = Sampler::HardNegative {
            same_ratio, pairs_per_epoch, refresh_every, pool, mode, random_negatives,
        };
        let source = fixture.try_source(sampler, batch_size, seed)
            .map_err(|e| TestCaseError::reject(e.to_string()))?;
        let mut trainer = FakeTrainer::new(&source, &fixture.store, true);
        let got = batches(&source, 3, &mut trainer);
        check_batches(&fixture, &got, batch_size, pairs_per_epoch, same_ratio)?;
        // Refreshes are asked for in order, each once per epoch at most.
        prop_assert!(trainer.asked.windows(2).all(|w| w[0] <= w[1]));
        let again = fixture.source(sampler, batch_size, seed);
        let mut trainer = FakeTrainer::new(&again, &fixture.store, true);
        prop_assert_eq!(got, batches(&again, 3, &mut trainer));
    }

    #[test]
    fn pairs_file_epochs_permute_the_pairs(
        (train, others) in identity_sets(),
        batch_size in 1usize..12,
        shuffle in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let fixture = Fixture::new(&train, &others);
        let source = fixture.source(Sampler::PairsFile { shuffle }, batch_size, seed);
        let rows = |(a, b): &(ImageKey, ImageKey)| {
            let row = |k| fixture.store.row_of(k).expect("stored") as u32;
            (row(a), row(b))
        };
        let fixed: Vec<(u32, u32)> = fixture.train_pairs.iter().map(rows).collect();
        let mut want = fixed.clone();
        want.sort_unstable();
        for epoch in 0..3 {
            let mut got = Vec::new();
            source.train_epoch(epoch, &mut NoRefreshes, &mut |_, chunk| {
                got.extend_from_slice(chunk);
                Ok(())
            }).expect("epoch");
            if !shuffle {
                prop_assert_eq!(&got, &fixed);
            }
            got.sort_unstable();
            prop_assert_eq!(&got, &want);
        }
    }

    #[test]
    fn pairs_file_plus_epochs_hold_the_fixed_pairs_and_the_made_ones(
        (train, others) in identity_sets(),
        batch_size in 1usize..12,
        self_same in 0.0f64..3.0,
        random_different in 0.0f64..3.0,
        seed in any::<u64>(),
    ) {
        let fixture = Fixture::new(&train, &others);
        let sampler = Sampler::PairsFilePlus { self_same, random_different };
        let source = fixture.source(sampler, batch_size, seed);
        let row = |k| fixture.store.row_of(k).expect("stored") as u32;
        let fixed: Vec<(u32, u32)> =
            fixture.train_pairs.iter().map(|(a, b)| (row(a), row(b))).collect();
        let images: BTreeSet<u32> = fixed.iter().flat_map(|&(a, b)| [a, b]).collect();
        let n = fixed.len();
        let times = |k: f64| (n as f64 * k).round() as usize;
        let got = batches(&source, 2, &mut NoRefreshes);
        let per_epoch = n + times(self_same) + times(random_different);
        prop_assert_eq!(got.iter().map(Vec::len).sum::<usize>(), 2 * per_epoch);
        let all: Vec<(u32, u32)> = got.concat();
        for epoch in all.chunks(per_epoch) {
            let mut rest = epoch.to_vec();
            for pair in &fixed {
                let at = rest.iter().position(|p| p == pair);
                prop_assert!(at.is_some(), "fixed pair {:?} missing", pair);
                rest.swap_remove(at.unwrap_or_default());
            }
            let selves = rest.iter().filter(|(a, b)| a == b).count();
            prop_assert_eq!(selves, times(self_same));
            prop_assert!(rest.iter().all(|(a, b)| images.contains(a) && images.contains(b)));
        }
        prop_assert_eq!(got, batches(&fixture.source(sampler, batch_size, seed), 2, &mut NoRefreshes));
    }
}
