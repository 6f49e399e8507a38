//! Huffman tables and the bit reader of a JPEG scan.

use super::HalfError;

/// Bits looked up at once; codes up to this long decode with one table read.
const LOOKUP_BITS: u32 = 9;
const LOOKUP_SIZE: usize = 1 << LOOKUP_BITS;

/// One Huffman table, ready to decode.
#[derive(Clone)]
pub(super) struct Table {
    /// `(length << 8) | symbol` for every code of at most `LOOKUP_BITS` bits, 0 otherwise.
    lookup: [u16; LOOKUP_SIZE],
    /// `(value << 16) | (run << 8) | bits` when a code and its value bits fit in
    /// `LOOKUP_BITS` together, 0 otherwise: most coefficients of a photo, and the end-of-block
    /// code, decode with this one read. Value 0 is a DC difference of 0, or for AC the end of
    /// the block (run 0) or a run of 16 zeros (run 15).
    fast: [i32; LOOKUP_SIZE],
    /// Largest code of each length (index 1..=16), -1 when there is none.
    max_code: [i32; 17],
    /// Added to a code of each length to index `values`.
    value_offset: [i32; 17],
    values: [u8; 256],
}

impl Table {
    /// Builds a table from the `DHT` segment's 16 code counts and its symbols; `dc` says
    /// whether it codes DC differences (symbol = bit count) or AC run/size pairs.
    ///
    /// # Errors
    /// [`HalfError::Corrupt`] when the counts do not make a prefix code.
    pub(super) fn new(counts: &[u8; 16], symbols: &[u8], dc: bool) -> Result<Table, HalfError> {
        let bad = HalfError::Corrupt {
            reason: "bad Huffman table",
        };
        let mut table = Table {
            lookup: [0; LOOKUP_SIZE],
            fast: [0; LOOKUP_SIZE],
            max_code: [-1; 17],
            value_offset: [0; 17],
            values: [0; 256],
        };
        if symbols.len() > 256 {
            return Err(bad);
        }
        table.values[..symbols.len()].copy_from_slice(symbols);
        let (mut code, mut index) = (0i32, 0usize);
        for len in 1..=16u32 {
            let count = usize::from(counts[len as usize - 1]);
            table.value_offset[len as usize] = index as i32 - code;
            for _ in 0..count {
                if code >= 1 << len || index >= symbols.len() {
                    return Err(bad);
                }
                if len <= LOOKUP_BITS {
                    let shift = LOOKUP_BITS - len;
                    let first = (code as usize) << shift;
                    let entry = ((len as u16) << 8) | u16::from(symbols[index]);
                    table.lookup[first..first + (1 << shift)].fill(entry);
                }
                code += 1;
                index += 1;
            }
            if count > 0 {
                table.max_code[len as usize] = code - 1;
            }
            code <<= 1;
        }
        table.fill_fast(dc);
        Ok(table)
    }

    fn fill_fast(&mut self, dc: bool) {
        for (peek, entry) in self.lookup.iter().enumerate() {
            let (len, symbol) = (u32::from(entry >> 8), u32::from(entry & 0xff));
            let (run, size) = match (dc, symbol) {
                // A DC difference has at most 11 bits; larger symbols are corrupt and are
                // left to `decode`, which reports them.
                (true, 0..=11) => (0, symbol),
                (true, _) => continue,
                (false, _) => (symbol >> 4, symbol & 15),
            };
            if len == 0 || len + size > LOOKUP_BITS {
                continue;
            }
            let bits = (peek as u32 >> (LOOKUP_BITS - len - size)) & ((1 << size) - 1);
            let value = extend(bits, size);
            self.fast[peek] = (value << 16) | ((run as i32) << 8) | (len + size) as i32;
        }
    }

    /// Decodes one symbol; the reader must hold at least 16 bits.
    #[inline(always)]
    pub(super) fn decode(&self, bits: &mut Bits<'_>) -> Result<u8, HalfError> {
        let entry = self.lookup[bits.peek(LOOKUP_BITS) as usize];
        if entry != 0 {
            bits.consume(u32::from(entry >> 8));
            return Ok(entry as u8);
        }
        let (symbol, len) = self.decode_long(bits.peek(16))?;
        bits.consume(len);
        Ok(symbol)
    }

    /// A code longer than `LOOKUP_BITS` at the top of `next` (the next 16 bits): its symbol
    /// and length. It takes the bits by value, not the reader, so that the reader's state
    /// can live in registers in the hot loop.
    #[cold]
    #[inline(never)]
    fn decode_long(&self, next: u32) -> Result<(u8, u32), HalfError> {
        for len in LOOKUP_BITS + 1..=16 {
            let code = (next >> (16 - len)) as i32;
            if code <= self.max_code[len as usize] {
                let index = code + self.value_offset[len as usize];
                return usize::try_from(index)
                    .ok()
                    .and_then(|i| self.values.get(i).copied())
                    .map(|symbol| (symbol, len))
                    .ok_or(HalfError::Corrupt {
                        reason: "bad Huffman code",
                    });
            }
        }
        Err(HalfError::Corrupt {
            reason: "bad Huffman code",
        })
    }

    /// The fast entry for the next bits: `(value, run, bits to consume)`, or `None`.
    #[inline(always)]
    pub(super) fn fast(&self, bits: &Bits<'_>) -> Option<(i32, usize, u32)> {
        let e = self.fast[bits.peek(LOOKUP_BITS) as usize];
        (e != 0).then_some((e >> 16, ((e >> 8) & 0xff) as usize, (e & 0xff) as u32))
    }
}

/// A `size`-bit magnitude as the signed value it codes (JPEG's EXTEND).
#[inline(always)]
pub(super) fn extend(bits: u32, size: u32) -> i32 {
    if size == 0 {
        return 0;
    }
    let bits = bits as i32;
    if bits < 1 << (size - 1) {
        bits - (1 << size) + 1
    } else {
        bits
    }
}

/// Reads a scan's entropy-coded bits, most significant first, undoing `FF 00` stuffing.
///
/// At a marker (or the end of the data) it feeds zero bits, as libjpeg does, and remembers
/// how many it fed: a decode that eats into them ran past the end of the scan.
#[derive(Clone, Copy)]
pub(super) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    /// Valid bits are the top `count` bits.
    acc: u64,
    count: u32,
    /// How many of the lowest valid bits are zero padding, not data.
    padding: u32,
}

impl<'a> Bits<'a> {
    /// A reader at the start of the entropy-coded data.
    pub(super) fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            pos: 0,
            acc: 0,
            count: 0,
            padding: 0,
        }
    }

    /// Makes sure at least 32 bits are buffered.
    #[inline(always)]
    pub(super) fn ensure(&mut self) {
        if self.count < 32 {
            self.refill();
        }
    }

    #[inline(always)]
    fn refill(&mut self) {
        let word = self.data.get(self.pos..).and_then(|s| s.first_chunk::<8>());
        if let (Some(word), 0) = (word, self.padding) {
            let word = u64::from_be_bytes(*word);
            let inverted = !word;
            // A zero byte in `!word` is an 0xFF byte in `word`: stuffing or a marker.
            let has_ff =
                inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080;
            if has_ff == 0 {
                let bytes = (63 - self.count) / 8;
                self.acc |= (word >> (64 - 8 * bytes)) << (64 - 8 * bytes - self.count);
                self.pos += bytes as usize;
                self.count += 8 * bytes;
                return;
            }
        }
        *self = self.refill_slow();
    }

    /// Byte by byte, near stuffing, markers and the end. By value, like `decode_long`, so the
    /// reader never has its address taken.
    #[cold]
    #[inline(never)]
    fn refill_slow(mut self) -> Self {
        while self.count <= 56 {
            let byte = match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
                (Some(0xFF), Some(0x00)) => {
                    self.pos += 2;
                    0xFF
                }
                // A marker, or the end: stay there and pad with zeros.
                (Some(0xFF), _) | (None, _) => {
                    self.padding += 8;
                    0
                }
                (Some(&b), _) => {
                    self.pos += 1;
                    b
                }
            };
            self.acc |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
        self
    }

    /// The next `n` (1..=32) bits, without consuming them.
    #[inline(always)]
    pub(super) fn peek(&self, n: u32) -> u32 {
        (self.acc >> (64 - n)) as u32
    }

    /// Drops `n` bits; `n` must not exceed the buffered count.
    #[inline(always)]
    pub(super) fn consume(&mut self, n: u32) {
        self.acc <<= n;
        self.count -= n;
    }

    /// Reads `n` (0..=16) bits as a number.
    #[inline(always)]
    pub(super) fn take(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.consume(n);
        v
    }

    /// True once the decoder has used padding bits: the scan ended early.
    pub(super) fn overran(&self) -> bool {
        self.count < self.padding
    }
}
