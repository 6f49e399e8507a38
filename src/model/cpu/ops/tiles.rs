//! Register tiles on generic operands: the safe bodies that `microkernel` compiles once per
//! instruction-set path (AVX-512F, AVX2+FMA, portable).
//!
//! Both tiles take their `LANES`-wide rows through `PanelRows`, so a row can live in a
//! copied panel or in place in the input (or output gradient) when a panel's positions are
//! consecutive there; the loops are monomorphised per source and sink, without branches.

use super::im2col::Runs;
use super::operands::{Gathered, PanelRows, LANES, ROWS};
use super::Real;

/// Rows of a [`panel_dots`] tile (taken from `a`).
const DOT_A: usize = 4;
/// Columns of a [`panel_dots`] tile (taken from `b`).
const DOT_B: usize = 2;
/// Lanes of one dot-tile accumulator on AVX2: half a panel row (one 256-bit vector of f32).
pub(crate) const HALF: usize = LANES / 2;

/// Where finished [`rows_times`] tiles go.
pub(crate) trait TileSink<E> {
    /// Takes the tile of row block `block`.
    fn store(&mut self, block: usize, acc: &[[E; LANES]; ROWS]);
}

/// Tiles written one after another, `[row][LANES]`.
pub(crate) struct Blocks<'a, E>(pub &'a mut [E]);

impl<E: Real> TileSink<E> for Blocks<'_, E> {
    #[inline(always)]
    fn store(&mut self, block: usize, acc: &[[E; LANES]; ROWS]) {
        let dst = &mut self.0[block * ROWS * LANES..][..ROWS * LANES];
        for (d, row) in dst.chunks_exact_mut(LANES).zip(acc) {
            let d: &mut [E; LANES] = d.try_into().expect("LANES elements");
            *d = *row;
        }
    }
}

/// Row `i` added onto `dst[run.src + offsets[i]..][..run.len]` for each column run; rows
/// past `offsets` (padding) are dropped.
pub(crate) struct AddStrided<'a, E> {
    pub dst: &'a mut [E],
    pub runs: &'a Runs,
    pub offsets: &'a [usize],
}

impl<E: Real> TileSink<E> for AddStrided<'_, E> {
    #[inline(always)]
    fn store(&mut self, block: usize, acc: &[[E; LANES]; ROWS]) {
        // A copy by value: looping over `acc` itself for a run-dependent number of rows or
        // columns keeps the accumulators in memory in the tile loop (target-cpu=native).
        let acc: [[E; LANES]; ROWS] = *acc;
        let offsets = self.offsets.iter().skip(block * ROWS);
        if let Some(base) = self.runs.whole() {
            for (row, &off) in acc.iter().zip(offsets) {
                let d: &mut [E; LANES] = (&mut self.dst[base + off..][..LANES])
                    .try_into()
                    .expect("LANES elements");
                // Added as whole arrays (by value): element by element through the
                // references it is not vectorised.
                let (sum, v) = (*d, *row);
                *d = std::array::from_fn(|l| sum[l] + v[l]);
            }
            return;
        }
        for (row, &off) in acc.iter().zip(offsets) {
            for r in self.runs.iter() {
                let d = &mut self.dst[r.src + off..][..r.len];
                d.iter_mut()
                    .zip(&row[r.col..r.col + r.len])
                    .for_each(|(d, &v)| *d += v);
            }
        }
    }
}

/// A weight-gradient tile, `[tap][out]`, added transposed onto `dw` (`[out][tap]`) at
/// `(t0, o0)`, dropping the padding past `taps` and `outs`.
pub(crate) struct AddTransposed<'a, E> {
    pub dw: &'a mut [E],
    pub t0: usize,
    pub o0: usize,
    pub taps: usize,
    pub outs: usize,
}

impl<E: Real> AddTransposed<'_, E> {
    /// Adds the tile (once per block of positions, so scalar stores are fine).
    #[inline(always)]
    fn add(&mut self, acc: &[[E; LANES]; ROWS]) {
        // A copy by value, so the loop bounds below do not pin the accumulators to memory.
        let acc: [[E; LANES]; ROWS] = *acc;
        for (r, row) in acc
            .iter()
            .enumerate()
            .take(self.taps.saturating_sub(self.t0))
        {
            for (l, &v) in row
                .iter()
                .enumerate()
                .take(self.outs.saturating_sub(self.o0))
            {
                self.dw[(self.o0 + l) * self.taps + self.t0 + r] += v;
            }
        }
    }
}

/// `acc[r][l] = sum_t a.row(t)[r] * b.row(t)[l]` over all positions `t`, added onto the
/// weight gradient: the [`rows_times`] tile with its broadcast operand gathered in place
/// from the input instead of packed.
#[inline(always)]
pub(crate) fn gathered_times<E: Real, const FMA: bool>(
    a: Gathered<'_, E>,
    b: PanelRows<'_, E>,
    mut out: AddTransposed<'_, E>,
) {
    let mut acc = [[E::default(); LANES]; ROWS];
    for t in 0..a.len() {
        fma_tile::<E, FMA>(&mut acc, &a.row(t), b.row(t));
    }
    out.add(&acc);
}

/// `acc[r][j] += a[r] * b[j]`: one step of a 6x16 tile. Constant index loops over fixed
/// arrays, which LLVM fully unrolls into 12 vector FMAs under every tuning; loops over
/// zipped iterators stayed scalar with `target-cpu=native`.
#[inline(always)]
fn fma_tile<E: Real, const FMA: bool>(acc: &mut [[E; LANES]; ROWS], a: &[E; ROWS], b: &[E; LANES]) {
    for r in 0..ROWS {
        for j in 0..LANES {
            acc[r][j] = if FMA {
                a[r].mul_add(b[j], acc[r][j])
            } else {
                acc[r][j] + a[r] * b[j]
            };
        }
    }
}

/// One block's 6x16 tile: `acc[r][j] = sum_t block[t][r] * b.row(t)[j]`.
#[inline(always)]
fn block_tile<E: Real, const FMA: bool>(block: &[E], b: PanelRows<'_, E>) -> [[E; LANES]; ROWS] {
    let mut acc = [[E::default(); LANES]; ROWS];
    for (t, ar) in block.chunks_exact(ROWS).enumerate() {
        let ar: &[E; ROWS] = ar.try_into().expect("ROWS elements");
        fma_tile::<E, FMA>(&mut acc, ar, b.row(t));
    }
    acc
}

/// For every block of `ROWS` rows packed in `a` (each `[inner][ROWS]`), hands
/// `acc[r][j] = sum_t a[t][r] * b.row(t)[j]` to `out`. `FMA` selects fused multiply-adds,
/// which are only fast where the CPU has them (elsewhere `mul_add` is a library call).
#[inline(always)]
pub(crate) fn rows_times<E: Real, S: TileSink<E>, const FMA: bool>(
    a: &[E],
    b: PanelRows<'_, E>,
    mut out: S,
) {
    let inner = b.rows();
    for (i, block) in a.chunks_exact(inner * ROWS).enumerate() {
        out.store(i, &block_tile::<E, FMA>(block, b));
    }
}

/// Adds onto `out[i][j]` (`a_rows x b_rows`, the rows `a[0].offsets` and `b[0].offsets`
/// list) the dot product of row `i` of `a` with row `j` of `b`, summed over all panels
/// (`a[pn]` pairs with `b[pn]`). Tiles of 4x2 keep 8 accumulators in registers across all
/// panels and sum their lanes once; `b`'s rows are outermost so they stay in L1. Each
/// accumulator holds `W` lanes: [`HALF`] (8) for 16 AVX2 registers, `LANES` (16) for AVX-512.
#[inline(always)]
pub(crate) fn panel_dots<E: Real, const FMA: bool, const W: usize>(
    a: &[PanelRows<'_, E>],
    b: &[PanelRows<'_, E>],
    out: &mut [E],
) {
    let (ar, br) = (a[0].rows(), b[0].rows());
    for j0 in (0..br).step_by(DOT_B) {
        for i0 in (0..ar).step_by(DOT_A) {
            // Full tiles nearly always; the edge tiles of odd sizes get their own loops.
            match ((ar - i0).min(DOT_A), (br - j0).min(DOT_B)) {
                (4, 2) => dot_tile::<E, FMA, W, 4, 2>(a, b, (i0, j0), out, br),
                (4, _) => dot_tile::<E, FMA, W, 4, 1>(a, b, (i0, j0), out, br),
                (3, 2) => dot_tile::<E, FMA, W, 3, 2>(a, b, (i0, j0), out, br),
                (3, _) => dot_tile::<E, FMA, W, 3, 1>(a, b, (i0, j0), out, br),
                (2, 2) => dot_tile::<E, FMA, W, 2, 2>(a, b, (i0, j0), out, br),
                (2, _) => dot_tile::<E, FMA, W, 2, 1>(a, b, (i0, j0), out, br),
                (_, 2) => dot_tile::<E, FMA, W, 1, 2>(a, b, (i0, j0), out, br),
                _ => dot_tile::<E, FMA, W, 1, 1>(a, b, (i0, j0), out, br),
            }
        }
    }
}

/// One `NA x NB` tile of [`panel_dots`] at rows `(i0, j0)`, `W` lanes per accumulator.
#[inline(always)]
fn dot_tile<E: Real, const FMA: bool, const W: usize, const NA: usize, const NB: usize>(
    a: &[PanelRows<'_, E>],
    b: &[PanelRows<'_, E>],
    (i0, j0): (usize, usize),
    out: &mut [E],
    br: usize,
) {
    let mut acc = [[[E::default(); W]; NB]; NA];
    for (pa, pb) in a.iter().zip(b) {
        let arows: [&[E; LANES]; NA] = std::array::from_fn(|i| pa.row(i0 + i));
        let brows: [&[E; LANES]; NB] = std::array::from_fn(|j| pb.row(j0 + j));
        for h in 0..LANES / W {
            // Row parts copied into locals (on AVX2, 8 accumulators + 6 values fit the 16
            // registers): through references LLVM neither unrolls nor vectorises this nest.
            let part = |r: &[E; LANES]| -> [E; W] { std::array::from_fn(|l| r[h * W + l]) };
            let av: [[E; W]; NA] = std::array::from_fn(|i| part(arows[i]));
            let bv: [[E; W]; NB] = std::array::from_fn(|j| part(brows[j]));
            for i in 0..NA {
                for j in 0..NB {
                    for l in 0..W {
                        let (x, y, c) = (av[i][l], bv[j][l], acc[i][j][l]);
                        acc[i][j][l] = if FMA { x.mul_add(y, c) } else { c + x * y };
                    }
                }
            }
        }
    }
    for (i, acc_i) in acc.iter().enumerate() {
        for (j, acc_ij) in acc_i.iter().enumerate() {
            out[(i0 + i) * br + j0 + j] += acc_ij.iter().fold(E::default(), |s, &v| s + v);
        }
    }
}
