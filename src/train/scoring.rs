//! Scoring with a network outside the training loop: pairs (with the optional mirrored
//! second view, `eval_flip`) and embeddings of store rows, in batches without gradients.

use crate::cache::ImageStore;
use crate::data::ImageKey;
use crate::engine::Phase;
use crate::model::{ModelError, Network, Weights};
use crate::stages::pair_batch::{gather, Labels};

/// Scores `pairs` with `net`, `batch` pairs per forward pass: the scores, the labels and the
/// mean loss (without L2). Pairs whose images are not in the store are left out.
///
/// # Errors
/// Model errors.
pub fn score_pairs(
    net: &mut dyn Network,
    store: &dyn ImageStore,
    pairs: &[(ImageKey, ImageKey)],
    batch: usize,
) -> Result<(Vec<f64>, Vec<bool>, f64), ModelError> {
    score_pairs_with(net, store, pairs, batch, false)
}

/// Mirrors every `width`-wide row of a batch of images in place.
pub fn mirror_rows(pixels: &mut [f32], width: usize) {
    for row in pixels.chunks_exact_mut(width.max(1)) {
        row.reverse();
    }
}

/// [`score_pairs`], and with `flip` each score (and loss) is the mean of the pair as given
/// and the pair with both images mirrored.
///
/// # Errors
/// Model errors.
pub fn score_pairs_with(
    net: &mut dyn Network,
    store: &dyn ImageStore,
    pairs: &[(ImageKey, ImageKey)],
    batch: usize,
    flip: bool,
) -> Result<(Vec<f64>, Vec<bool>, f64), ModelError> {
    let rows: Vec<(u32, u32)> = pairs
        .iter()
        .filter_map(|(a, b)| Some((store.row_of(a)? as u32, store.row_of(b)? as u32)))
        .collect();
    let (mut scores, mut labels, mut loss) = (Vec::new(), Vec::new(), 0.0);
    for chunk in rows.chunks(batch.max(1)) {
        let b = gather(store, Phase::Validation, 0, 0, chunk, Labels::ByName);
        let (l, s) = evaluate_flipped(net, b.left, b.right, &b.labels, b.width, flip)?;
        loss += f64::from(l) * chunk.len() as f64;
        scores.extend(s.iter().map(|&v| f64::from(v)));
        labels.extend(b.labels.iter().map(|&l| l > 0.5));
    }
    Ok((scores, labels, loss / rows.len().max(1) as f64))
}

/// The loss and scores of pairs of `width`-wide images; with `flip`, the mean of the pairs
/// as given and with both images mirrored (how a run with `eval_flip` scores everything).
///
/// # Errors
/// Model errors.
pub fn evaluate_flipped(
    net: &mut dyn Network,
    mut left: Vec<f32>,
    mut right: Vec<f32>,
    labels: &[f32],
    width: usize,
    flip: bool,
) -> Result<(f32, Vec<f32>), ModelError> {
    let (mut loss, mut scores) = net.evaluate(Weights::Live, &left, &right, labels)?;
    if flip {
        mirror_rows(&mut left, width);
        mirror_rows(&mut right, width);
        let (l2, s2) = net.evaluate(Weights::Live, &left, &right, labels)?;
        loss = (loss + l2) / 2.0;
        scores
            .iter_mut()
            .zip(&s2)
            .for_each(|(a, b)| *a = (*a + b) / 2.0);
    }
    Ok((loss, scores))
}

/// The twin's embedding of each store row, `batch` images per forward pass (inference:
/// no dropout, batch norm's running statistics).
///
/// # Errors
/// Model errors.
pub fn embed_rows(
    net: &mut dyn Network,
    store: &dyn ImageStore,
    rows: &[u32],
    batch: usize,
) -> Result<Vec<Vec<f32>>, ModelError> {
    let per = store.height() * store.width();
    let mut out = Vec::with_capacity(rows.len());
    let mut pixels = Vec::new();
    for chunk in rows.chunks(batch.max(1)) {
        pixels.clear();
        pixels.resize(chunk.len() * per, 0.0);
        for (i, &row) in chunk.iter().enumerate() {
            store.copy_f32(row as usize, &mut pixels[i * per..(i + 1) * per]);
        }
        out.extend(net.embed(Weights::Live, &pixels)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_rows_reverses_each_row_and_twice_is_identity() {
        let mut px = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        mirror_rows(&mut px, 3);
        assert_eq!(px, [3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
        mirror_rows(&mut px, 3);
        assert_eq!(px, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }
}
