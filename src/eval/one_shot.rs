//! Koch et al.'s one-shot N-way identification: given one query image, pick which of N
//! support images (one per identity) shows the same person.

use std::collections::HashMap;
use std::hash::Hash;

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::EvalError;

/// Result of a one-shot run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneShot {
    /// Candidates per trial.
    pub n_way: usize,
    /// Trials run.
    pub trials: usize,
    /// Fraction of trials where the true support scored highest (ties share credit).
    pub accuracy: f64,
    /// 95% Wilson score interval of the accuracy, (lower, upper).
    pub ci95: (f64, f64),
}

/// Runs `trials` one-shot `n_way` trials over `items`, pairs of (identity, item).
///
/// Each trial picks an identity with at least two items, a query and a different
/// support item of it, and one item of each of `n_way - 1` other distinct identities.
/// `score(query, support)` (higher = more alike) is asked for every support; the trial
/// is right when the true support scores highest. When k supports tie for the highest
/// score and the true one is among them the trial earns 1/k, the expected value of a
/// random pick, so a constant scorer gets exactly 1/N. Items are grouped by identity in
/// order of first appearance, so a seed gives the same trials for the same list.
///
/// # Errors
/// [`EvalError`] for `n_way` < 2, no trials, fewer than `n_way` identities, no identity
/// with two items, or a non-finite score.
pub fn one_shot_accuracy<I, T, F>(
    n_way: usize,
    trials: usize,
    seed: u64,
    items: &[(I, T)],
    mut score: F,
) -> Result<OneShot, EvalError>
where
    I: Eq + Hash,
    F: FnMut(&T, &T) -> f64,
{
    let by_identity = group(items);
    let repeated = check(n_way, trials, &by_identity)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut total = 0.0;
    let mut scores = Vec::with_capacity(n_way);
    for trial in 0..trials {
        let (query, supports) = draw_trial(&mut rng, &by_identity, &repeated, n_way);
        scores.clear();
        for support in supports {
            let value = score(query, support);
            if !value.is_finite() {
                return Err(EvalError::ScorerNonFinite { trial, value });
            }
            scores.push(value);
        }
        total += credit(&scores);
    }
    let accuracy = total / trials as f64;
    Ok(OneShot {
        n_way,
        trials,
        accuracy,
        ci95: wilson_95(accuracy, trials),
    })
}

/// Draws one trial: the query, then the supports with the true one first.
fn draw_trial<'a, T>(
    rng: &mut ChaCha8Rng,
    by_identity: &[Vec<&'a T>],
    repeated: &[usize],
    n_way: usize,
) -> (&'a T, Vec<&'a T>) {
    let target = repeated[rng.gen_range(0..repeated.len())];
    let own = &by_identity[target];
    let pick = index::sample(rng, own.len(), 2);
    let mut supports = Vec::with_capacity(n_way);
    supports.push(own[pick.index(1)]);
    // Other identities: n_way - 1 distinct indices among the rest, skipping the target.
    for other in index::sample(rng, by_identity.len() - 1, n_way - 1) {
        let items = &by_identity[other + usize::from(other >= target)];
        supports.push(items[rng.gen_range(0..items.len())]);
    }
    (own[pick.index(0)], supports)
}

/// Credit of one trial whose true support scored `scores[0]`: 1/k when it ties k - 1
/// others for the top score, 0 when any other beats it.
fn credit(scores: &[f64]) -> f64 {
    let truth = scores[0];
    if scores[1..].iter().any(|&s| s > truth) {
        return 0.0;
    }
    1.0 / scores.iter().filter(|&&s| s == truth).count() as f64
}

/// Items grouped by identity, identities in order of first appearance.
fn group<I: Eq + Hash, T>(items: &[(I, T)]) -> Vec<Vec<&T>> {
    let mut index: HashMap<&I, usize> = HashMap::new();
    let mut groups: Vec<Vec<&T>> = Vec::new();
    for (id, item) in items {
        let g = *index.entry(id).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(item);
    }
    groups
}

/// Validates the request; returns the identities that can give a query and a support.
fn check<T>(n_way: usize, trials: usize, groups: &[Vec<&T>]) -> Result<Vec<usize>, EvalError> {
    if n_way < 2 {
        return Err(EvalError::TooFewWays { n_way });
    }
    if trials == 0 {
        return Err(EvalError::NoTrials);
    }
    if groups.len() < n_way {
        return Err(EvalError::TooFewIdentities {
            n_way,
            identities: groups.len(),
        });
    }
    let repeated: Vec<usize> = (0..groups.len())
        .filter(|&g| groups[g].len() >= 2)
        .collect();
    if repeated.is_empty() {
        return Err(EvalError::NoRepeatedIdentity {
            identities: groups.len(),
        });
    }
    Ok(repeated)
}

/// The 95% Wilson score interval of a proportion `p` over `n` trials: unlike the
/// normal approximation it stays inside [0, 1] and is not empty at p = 0 or 1.
fn wilson_95(p: f64, n: usize) -> (f64, f64) {
    const Z: f64 = 1.959_963_984_540_054;
    let n = n as f64;
    let z2 = Z * Z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 30 identities with 1..=4 items each; an item is a 2-D embedding near its
    /// identity's point on a circle of radius 10 (neighbours are ~2 apart, items lie
    /// within 0.3 of their centre).
    fn embedded() -> Vec<(usize, [f64; 2])> {
        let mut items = Vec::new();
        for id in 0..30 {
            let angle = id as f64 * std::f64::consts::TAU / 30.0;
            for k in 0..=(id % 4) {
                let offset = 0.1 * k as f64;
                items.push((
                    id,
                    [10.0 * angle.cos() + offset, 10.0 * angle.sin() - offset],
                ));
            }
        }
        items
    }

    fn negative_distance(a: &[f64; 2], b: &[f64; 2]) -> f64 {
        -((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
    }

    #[test]
    fn ties_share_credit() {
        assert_eq!(credit(&[0.9, 0.1, 0.5]), 1.0);
        assert_eq!(credit(&[0.5, 0.5, 0.1, 0.5]), 1.0 / 3.0);
        assert_eq!(credit(&[0.5, 0.6, 0.5]), 0.0);
    }

    #[test]
    fn perfect_scorer_is_always_right() {
        let r = one_shot_accuracy(20, 200, 1, &embedded(), negative_distance).unwrap();
        assert_eq!((r.n_way, r.trials, r.accuracy), (20, 200, 1.0));
        // Wilson at p = 1: lower = n / (n + z^2) = 200 / 203.8415.
        assert!((r.ci95.0 - 200.0 / (200.0 + 1.959_964f64.powi(2))).abs() < 1e-6);
        assert_eq!(r.ci95.1, 1.0);
    }

    #[test]
    fn constant_and_random_scorers_get_one_in_n() {
        // Every support ties: each trial earns exactly 1/5.
        let r = one_shot_accuracy(5, 300, 2, &embedded(), |_, _| 0.0).unwrap();
        assert!((r.accuracy - 0.2).abs() < 1e-12);
        // Random scores: right 1/5 of the time, sd sqrt(0.2 * 0.8 / 3000) ~ 0.007.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let r = one_shot_accuracy(5, 3000, 3, &embedded(), |_, _| rng.gen()).unwrap();
        assert!((0.17..0.23).contains(&r.accuracy), "{}", r.accuracy);
        assert!(r.ci95.0 < r.accuracy && r.accuracy < r.ci95.1);
    }

    #[test]
    fn trials_follow_the_seed_and_respect_the_rules() {
        let items = embedded();
        let run = |seed| {
            let mut calls: Vec<([f64; 2], [f64; 2])> = Vec::new();
            one_shot_accuracy(4, 50, seed, &items, |a, b| {
                calls.push((*a, *b));
                0.0
            })
            .unwrap();
            calls
        };
        let (a, b, c) = (run(5), run(5), run(6));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let id_of = |p: &[f64; 2]| items.iter().find(|(_, q)| q == p).unwrap().0;
        for trial in a.chunks(4) {
            let query = trial[0].0;
            // The first call is the true support: same identity, a different item.
            assert_eq!(id_of(&trial[0].1), id_of(&query));
            assert_ne!(trial[0].1, query);
            let mut ids: Vec<usize> = trial.iter().map(|(_, s)| id_of(s)).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), 4, "supports come from distinct identities");
        }
    }

    #[test]
    fn errors() {
        let items = embedded();
        let zero = |_: &[f64; 2], _: &[f64; 2]| 0.0;
        assert!(matches!(
            one_shot_accuracy(1, 10, 0, &items, zero),
            Err(EvalError::TooFewWays { n_way: 1 })
        ));
        assert!(matches!(
            one_shot_accuracy(5, 0, 0, &items, zero),
            Err(EvalError::NoTrials)
        ));
        assert!(matches!(
            one_shot_accuracy(31, 10, 0, &items, zero),
            Err(EvalError::TooFewIdentities {
                n_way: 31,
                identities: 30
            })
        ));
        let singles: Vec<(usize, [f64; 2])> = (0..5).map(|i| (i, [0.0, 0.0])).collect();
        assert!(matches!(
            one_shot_accuracy(3, 10, 0, &singles, zero),
            Err(EvalError::NoRepeatedIdentity { identities: 5 })
        ));
        assert!(matches!(
            one_shot_accuracy(3, 10, 0, &items, |_, _| f64::NAN),
            Err(EvalError::ScorerNonFinite { trial: 0, .. })
        ));
        let empty: [(usize, [f64; 2]); 0] = [];
        assert!(matches!(
            one_shot_accuracy(2, 10, 0, &empty, zero),
            Err(EvalError::TooFewIdentities { identities: 0, .. })
        ));
    }
}
