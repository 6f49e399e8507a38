//! Index maps between output positions and input patches, and the copies they drive.
//!
//! A thread's group of samples is one range of output positions `q = sample * oh * ow +
//! oi * ow + oj`, crossing sample boundaries so that small late-layer feature maps still fill
//! whole panels. Position `q` reads the patch whose top-left input element is at
//! `sample * in_sample + oi * width + oj`; tap `kk = (c * k + ki) * k + kj` (the weights' own
//! order) adds `c * plane + ki * width + kj` to that. Consecutive positions in one output row
//! read consecutive inputs, so panels are filled by runs of slice copies.
//!
//! A panel holds [`LANES`] positions; `[tap][LANES]` panels are the patches (im2col) and
//! `[out][LANES]` panels the output gradients of those positions.

use super::conv::Conv2dShape;
use super::operands::LANES;
use super::Real;

/// Panel columns `col..col + len` whose sources start at `src` and are consecutive.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub col: usize,
    pub len: usize,
    pub src: usize,
}

/// The runs of one panel of at most [`LANES`] positions.
#[derive(Debug)]
pub(crate) struct Runs {
    n: usize,
    items: [Run; LANES],
}

impl Runs {
    /// The source offset when all `LANES` columns form one run, so the panel can be read in
    /// place instead of copied.
    #[inline]
    pub(crate) fn whole(&self) -> Option<usize> {
        let first = self.items[0];
        (self.n == 1 && first.len == LANES).then_some(first.src)
    }

    /// One run of all `LANES` columns from `src`.
    #[cfg(test)]
    pub(crate) fn single(src: usize) -> Self {
        let mut runs = Runs {
            n: 1,
            items: [Run::default(); LANES],
        };
        runs.items[0] = Run {
            col: 0,
            len: LANES,
            src,
        };
        runs
    }

    /// The runs in column order.
    #[inline]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Run> {
        self.items[..self.n].iter()
    }
}

/// The runs of patch corners in the input and of channel-0 elements in the output for the
/// `len <= LANES` positions starting at `q0`, offsets relative to the group's first sample.
/// Input runs end with each output row, output runs with each sample.
pub(crate) fn panel_runs(g: &Conv2dShape, q0: usize, len: usize) -> (Runs, Runs) {
    let (p, ow) = (g.pixels(), g.out_width());
    let mut input = Runs {
        n: 0,
        items: [Run::default(); LANES],
    };
    let mut output = Runs {
        n: 0,
        items: [Run::default(); LANES],
    };
    let mut col = 0;
    while col < len {
        let (s, pix) = ((q0 + col) / p, (q0 + col) % p);
        let seg = (p - pix).min(len - col);
        output.items[output.n] = Run {
            col,
            len: seg,
            src: s * g.out_sample() + pix,
        };
        output.n += 1;
        let mut c = col;
        while c < col + seg {
            let (oi, oj) = ((pix + c - col) / ow, (pix + c - col) % ow);
            let run = (ow - oj).min(col + seg - c);
            let src = s * g.in_sample() + oi * g.width + oj;
            input.items[input.n] = Run {
                col: c,
                len: run,
                src,
            };
            input.n += 1;
            c += run;
        }
        col += seg;
    }
    (input, output)
}

/// Offset of every tap from its patch's top-left input element, in weight order.
pub(crate) fn tap_offsets(g: &Conv2dShape) -> Vec<usize> {
    let k = g.kernel;
    (0..g.taps())
        .map(|kk| (kk / (k * k)) * g.plane() + (kk / k % k) * g.width + kk % k)
        .collect()
}

/// Fills a `[tap][LANES]` panel with the patches of the positions in `runs` (zero past
/// `len`).
pub(crate) fn fill_patch_panel<E: Real>(
    x: &[E],
    taps: &[usize],
    runs: &Runs,
    len: usize,
    panel: &mut [E],
) {
    for (row, &tap) in panel.chunks_exact_mut(LANES).zip(taps) {
        for r in runs.iter() {
            copy_run(&mut row[r.col..r.col + r.len], &x[r.src + tap..][..r.len]);
        }
        row[len..].fill(E::default());
    }
}

/// Copies a run of at most [`LANES`] elements; a whole-panel run is a fixed-size copy that
/// compiles to a few vector moves instead of a `memcpy` call.
#[inline(always)]
pub(crate) fn copy_run<E: Real>(dst: &mut [E], src: &[E]) {
    match (
        <&mut [E; LANES]>::try_from(&mut *dst),
        <&[E; LANES]>::try_from(src),
    ) {
        (Ok(d), Ok(s)) => *d = *s,
        _ => dst.copy_from_slice(src),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Panel runs split where a position wraps to the next output row or sample.
    #[test]
    fn runs_break_at_rows_and_samples() {
        // 2 samples of 1x4x5 input, two 2x2 filters: 3x4 = 12 positions per sample.
        let g = Conv2dShape::new((2, 1, 4, 5), (2, 1, 2, 2), 2).unwrap();
        let (input, output) = panel_runs(&g, 6, 10);
        let input: Vec<_> = input.iter().copied().collect();
        // q 6..8 is row 1 (cols 2, 3), q 8..12 row 2, q 12..16 sample 1 row 0.
        assert_eq!(
            input,
            [
                Run {
                    col: 0,
                    len: 2,
                    src: 7
                },
                Run {
                    col: 2,
                    len: 4,
                    src: 10
                },
                Run {
                    col: 6,
                    len: 4,
                    src: 20
                },
            ]
        );
        let output: Vec<_> = output.iter().copied().collect();
        // Outputs only break between samples (2 channels of 12 per sample).
        assert_eq!(
            output,
            [
                Run {
                    col: 0,
                    len: 6,
                    src: 6
                },
                Run {
                    col: 6,
                    len: 4,
                    src: 24
                }
            ]
        );
    }

    /// Filling a panel that spans two output rows copies each position's patch and zeroes
    /// the columns past its length.
    #[test]
    fn fill_copies_patches_and_zeroes_the_tail() {
        let g = Conv2dShape::new((1, 1, 3, 4), (1, 1, 2, 2), 1).unwrap();
        let taps = tap_offsets(&g);
        assert_eq!(taps, [0, 1, 4, 5]);
        let x: Vec<f64> = (0..12).map(f64::from).collect();
        let (runs, _) = panel_runs(&g, 1, 4);
        let mut panel = vec![f64::NAN; 4 * LANES];
        fill_patch_panel(&x, &taps, &runs, 4, &mut panel);
        // Positions 1..5 are (0, 1), (0, 2), (1, 0), (1, 1): corners 1, 2, 4, 5.
        for (row, tap) in panel.chunks(LANES).zip(taps) {
            let want: Vec<f64> = [1, 2, 4, 5].iter().map(|&c| (c + tap) as f64).collect();
            assert_eq!(&row[..4], &want[..]);
            assert!(row[4..].iter().all(|&v| v == 0.0));
        }
    }
}
