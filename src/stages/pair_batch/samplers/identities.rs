//! The train identities as store rows, and the random pairs the identity samplers
//! (`Balanced`, `HardNegative`) draw from them.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::seam::{cannot, Inputs};
use crate::engine::StageError;

/// The store rows of each train identity, in name order.
pub(crate) struct Identities {
    /// Each identity's rows, in store order.
    pub rows: Vec<Vec<u32>>,
    /// Indices into `rows` of the identities with two or more images (same-pair
    /// candidates).
    multi: Vec<usize>,
}

impl Identities {
    /// Groups the store's images of the train identities by name.
    pub(crate) fn of(inputs: &Inputs<'_>) -> Self {
        let store = inputs.store;
        let mut by_name: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for row in 0..store.len() {
            let name = store.key(row).name.as_str();
            if inputs.train_identities.contains(name) {
                by_name.entry(name).or_default().push(row as u32);
            }
        }
        let rows: Vec<Vec<u32>> = by_name.into_values().collect();
        let multi = (0..rows.len()).filter(|&i| rows[i].len() >= 2).collect();
        Self { rows, multi }
    }

    /// Refuses a same-pair fraction these identities cannot draw.
    ///
    /// # Errors
    /// [`StageError::Sampling`] when same pairs are asked for and no identity has two
    /// images, or different pairs are asked for and there are fewer than two identities.
    pub(crate) fn check(&self, same_ratio: f64) -> Result<(), StageError> {
        if same_ratio > 0.0 && self.multi.is_empty() {
            Err(cannot("same pairs need an identity with two images"))
        } else if same_ratio < 1.0 && self.rows.len() < 2 {
            Err(cannot(format!(
                "different pairs need two identities, found {}",
                self.rows.len()
            )))
        } else {
            Ok(())
        }
    }

    /// Draws one pair: two different images of one identity, or images of two identities.
    pub(crate) fn draw(&self, rng: &mut ChaCha8Rng, same: bool) -> (u32, u32) {
        if same {
            let rows = &self.rows[self.multi[rng.gen_range(0..self.multi.len())]];
            let i = rng.gen_range(0..rows.len());
            let j = (i + rng.gen_range(1..rows.len())) % rows.len();
            (rows[i], rows[j])
        } else {
            let n = self.rows.len();
            let a = rng.gen_range(0..n);
            let b = (a + rng.gen_range(1..n)) % n;
            let pick = |rows: &Vec<u32>, rng: &mut ChaCha8Rng| rows[rng.gen_range(0..rows.len())];
            (pick(&self.rows[a], rng), pick(&self.rows[b], rng))
        }
    }
}
