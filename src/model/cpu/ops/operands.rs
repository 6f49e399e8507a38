//! The operands of the conv microkernels: `LANES`-wide rows of a panel or of the input in
//! place ([`PanelRows`]), a broadcast operand gathered in place ([`Gathered`]), and the
//! row offsets that let a whole panel be bounds-checked once ([`RowTable`]).

/// Rows of a `rows_times` tile (output channels or kernel taps).
pub(crate) const ROWS: usize = 6;
/// Columns of a tile and of a panel (output positions or kernel taps).
pub(crate) const LANES: usize = 16;
/// `LANES`-wide rows of one operand: row `i` is `data[base + offsets[i]..][..LANES]`.
///
/// The rows are bounds-checked once, when made, so the tiles' inner loops fetch them
/// without checks (a check per row cost as much as the multiply in the dot tile).
pub(crate) struct PanelRows<'a, E> {
    data: &'a [E],
    base: usize,
    offsets: &'a [usize],
}

impl<E> Clone for PanelRows<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for PanelRows<'_, E> {}

/// A broadcast operand read in place: element `(t, r)` is `data[pos[t] + taps[r]]`, for the
/// weight gradient, where `t` runs over output positions (`pos` holds their patch corners)
/// and `r` over a block of `ROWS` kernel taps.
pub(crate) struct Gathered<'a, E> {
    data: &'a [E],
    pos: &'a [usize],
    taps: [usize; ROWS],
}

impl<'a, E: Copy> Gathered<'a, E> {
    /// Elements `data[pos[t] + taps[r]]`.
    ///
    /// # Panics
    /// If an element lies past `data`.
    pub(crate) fn new(data: &'a [E], pos: &'a RowTable, taps: [usize; ROWS]) -> Self {
        let max_tap = taps.iter().copied().max().unwrap_or(0);
        assert!(
            pos.max + max_tap < data.len(),
            "gathered elements reach past their data"
        );
        Self {
            data,
            pos: &pos.offsets,
            taps,
        }
    }

    /// Positions (rows of the inner dimension).
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.pos.len()
    }

    /// The `ROWS` elements of position `t`.
    ///
    /// # Panics
    /// If `t` is not below [`Self::len`].
    #[inline(always)]
    pub(crate) fn row(&self, t: usize) -> [E; ROWS] {
        let p = self.pos[t];
        // SAFETY: `new` checked `max(pos) + max(taps) < data.len()`, and `pos[t]` is one of
        // the positions (indexed with a check above).
        std::array::from_fn(|r| unsafe { *self.data.get_unchecked(p + self.taps[r]) })
    }
}

/// The row offsets of an operand layout, with their maximum, so that [`PanelRows`] can
/// check a whole panel's rows with one comparison.
#[derive(Debug, Clone)]
pub(crate) struct RowTable {
    offsets: Vec<usize>,
    max: usize,
}

impl RowTable {
    /// A table of the given offsets.
    pub(crate) fn new(offsets: Vec<usize>) -> Self {
        let max = offsets.iter().copied().max().unwrap_or(0);
        Self { offsets, max }
    }

    /// Offsets `0, step, 2 * step, ...` of `rows` rows.
    pub(crate) fn strided(rows: usize, step: usize) -> Self {
        Self::new((0..rows).map(|r| r * step).collect())
    }

    /// The offsets.
    pub(crate) fn as_slice(&self) -> &[usize] {
        &self.offsets
    }

    /// The largest offset (0 for an empty table).
    pub(crate) fn max(&self) -> usize {
        self.max
    }
}

impl<'a, E> PanelRows<'a, E> {
    /// Rows at `data[base + table[i]..][..LANES]`.
    ///
    /// # Panics
    /// If the last row reaches past `data`.
    pub(crate) fn new(data: &'a [E], base: usize, table: &'a RowTable) -> Self {
        assert!(
            base + table.max + LANES <= data.len(),
            "panel rows reach past their data"
        );
        Self {
            data,
            base,
            offsets: &table.offsets,
        }
    }

    /// Rows of the operand.
    #[inline(always)]
    pub(crate) fn rows(&self) -> usize {
        self.offsets.len()
    }

    /// Row `i`.
    ///
    /// # Panics
    /// If `i` is not below [`Self::rows`].
    #[inline(always)]
    pub(crate) fn row(&self, i: usize) -> &'a [E; LANES] {
        let start = self.base + self.offsets[i];
        // SAFETY: `new` checked `base + max + LANES <= data.len()` where `max` is the largest
        // offset of the table, and `offsets[i]` is one of them (indexed with a check above).
        unsafe { &*(self.data.as_ptr().add(start) as *const [E; LANES]) }
    }
}
