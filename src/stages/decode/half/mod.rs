//! Decoding grayscale baseline JPEGs straight to half size, in the DCT domain.
//!
//! Each 8x8 block becomes the 4x4 box average of its inverse DCT, computed from the
//! coefficients as they are Huffman-decoded (see `basis`): no coefficient buffer, no 8x8
//! IDCT, no full-size image. The result equals full decoding followed by a 2x2 box average
//! (TensorFlow's bilinear for an exact halving) up to one rounding step.
//!
//! Only what LFW-a is made of is handled: baseline or extended sequential Huffman coding,
//! 8-bit samples, one component, no restart markers. Anything else (colour, progressive,
//! arithmetic coding, 12-bit, restart intervals) is [`HalfError::Unsupported`], so the caller
//! can fall back to a full decoder.

mod basis;
mod header;
mod huffman;

use basis::Pattern;
use header::{build_tables, parse};
use huffman::{extend, Bits, Table};

/// Why a JPEG could not be decoded at half size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HalfError {
    /// Valid, perhaps, but not a kind this decoder handles.
    #[error("unsupported JPEG: {feature}")]
    Unsupported {
        /// What it uses.
        feature: &'static str,
    },
    /// Not a well-formed JPEG.
    #[error("corrupt JPEG: {reason}")]
    Corrupt {
        /// What is wrong.
        reason: &'static str,
    },
}

/// A decoded grayscale image, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gray {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` bytes.
    pub pixels: Vec<u8>,
}

fn corrupt(reason: &'static str) -> HalfError {
    HalfError::Corrupt { reason }
}

fn unsupported(feature: &'static str) -> HalfError {
    HalfError::Unsupported { feature }
}

/// A half-size decoder. It keeps the coefficient patterns of the last quantisation table and
/// the last Huffman tables, which every image of a dataset usually shares.
pub struct Decoder {
    quant: Option<[u16; 64]>,
    patterns: Box<[Pattern; 64]>,
    tables: Option<Tables>,
}

/// Huffman tables ready to decode, and the header bytes they were built from.
struct Tables {
    /// The `DHT` bodies, then the scan's DC and AC table numbers.
    source: Vec<u8>,
    dc: Box<Table>,
    ac: Box<Table>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            quant: None,
            patterns: Box::new([[0.0; 16]; 64]),
            tables: None,
        }
    }
}

impl Decoder {
    /// Decodes a JPEG to `ceil(width / 2) x ceil(height / 2)` pixels.
    ///
    /// # Errors
    /// [`HalfError::Unsupported`] for JPEGs this decoder does not handle (and non-JPEG data),
    /// [`HalfError::Corrupt`] for malformed ones.
    pub fn decode(&mut self, data: &[u8]) -> Result<Gray, HalfError> {
        let header = parse(data)?;
        if self.quant != Some(header.quant) {
            basis::patterns(&header.quant, &mut self.patterns);
            self.quant = Some(header.quant);
        }
        let source = || {
            let bodies = &header.huffman[..header.huffman_count];
            let (td, ta) = header.tables;
            bodies
                .iter()
                .flat_map(|b| b.iter().copied())
                .chain([td as u8, ta as u8])
        };
        let tables = match self.tables.take() {
            Some(t) if t.source.iter().copied().eq(source()) => t,
            _ => build_tables(&header, source().collect())?,
        };
        let (dc, ac) = (&*tables.dc, &*tables.ac);
        let (width, height) = (header.width.div_ceil(2), header.height.div_ceil(2));
        let mut out = Output {
            pixels: vec![0; width * height],
            width,
            height,
        };
        let (bw, bh) = (header.width.div_ceil(8), header.height.div_ceil(8));
        let mut bits = Bits::new(header.scan);
        let (mut index, mut value) = ([0u8; 64], [0i32; 64]);
        let (mut pred, mut overran) = (0i32, false);
        for by in 0..bh {
            for bx in 0..bw {
                if overran {
                    // libjpeg's rule for a scan that ends early: the rest is mid-gray.
                    out.store(&[0.0; 16], bx, by);
                    continue;
                }
                let n = decode_block(dc, ac, &mut bits, &mut pred, &mut index, &mut value)?;
                out.store(&self.block(&index[..n], &value[..n]), bx, by);
                overran = bits.overran();
            }
        }
        self.tables = Some(tables);
        Ok(Gray {
            width: width as u32,
            height: height as u32,
            pixels: out.pixels,
        })
    }

    /// The 4x4 output of one block from its non-zero coefficients (zigzag index and value,
    /// DC first), before the level shift.
    #[inline(always)]
    fn block(&self, index: &[u8], value: &[i32]) -> Pattern {
        // The DC pattern is flat; most blocks of a smooth face have few AC coefficients.
        let mut acc = [self.patterns[0][0] * value[0] as f32; 16];
        for (&k, &v) in index.iter().zip(value).skip(1) {
            basis::add(&mut acc, &self.patterns[usize::from(k)], v);
        }
        acc
    }
}

/// Huffman-decodes one block's non-zero coefficients into `index` and `value`, DC first, and
/// returns how many there are. The count and the reader are locals of this (inlined) loop so
/// that they stay in registers.
#[inline(always)]
fn decode_block(
    dc: &Table,
    ac: &Table,
    bits: &mut Bits<'_>,
    pred: &mut i32,
    index: &mut [u8; 64],
    value: &mut [i32; 64],
) -> Result<usize, HalfError> {
    let mut reader = *bits;
    reader.ensure();
    let difference = match dc.fast(&reader) {
        Some((value, _, len)) => {
            reader.consume(len);
            value
        }
        None => {
            let size = u32::from(dc.decode(&mut reader)?);
            if size > 11 {
                return Err(corrupt("DC difference too large"));
            }
            extend(reader.take(size), size)
        }
    };
    *pred = pred.wrapping_add(difference);
    value[0] = *pred;
    let (mut n, mut k) = (1usize, 1usize);
    while k < 64 {
        reader.ensure();
        let (run, coefficient) = match ac.fast(&reader) {
            Some((v, run, len)) => {
                reader.consume(len);
                (run, v)
            }
            None => {
                let symbol = ac.decode(&mut reader)?;
                let (run, size) = (usize::from(symbol >> 4), u32::from(symbol & 15));
                (run, extend(reader.take(size), size))
            }
        };
        if coefficient == 0 {
            // A zero value codes no coefficient: a run of 16 zeros, or the end of the block.
            if run != 15 {
                break;
            }
            k += 16;
            continue;
        }
        k += run;
        // k only grows, so at most 64 coefficients fit; a run past 63 is corrupt.
        if k > 63 || n > 63 {
            return Err(corrupt("AC run past the end of the block"));
        }
        (index[n], value[n]) = (k as u8, coefficient);
        (n, k) = (n + 1, k + 1);
    }
    *bits = reader;
    Ok(n)
}

/// The half-size image being written, block by block.
struct Output {
    pixels: Vec<u8>,
    width: usize,
    height: usize,
}

impl Output {
    /// Writes block `(bx, by)`, level-shifted, rounded and clamped, cropped at the edges.
    #[inline(always)]
    fn store(&mut self, acc: &Pattern, bx: usize, by: usize) {
        let (x0, y0) = (4 * bx, 4 * by);
        let w = self.width.saturating_sub(x0).min(4);
        for (dy, values) in acc
            .chunks_exact(4)
            .enumerate()
            .take(self.height.saturating_sub(y0))
        {
            let start = (y0 + dy) * self.width + x0;
            for (o, v) in self.pixels[start..start + w].iter_mut().zip(values) {
                // `as u8` saturates, so this rounds half up and clamps to 0..=255 in one step.
                *o = (v + 128.5) as u8;
            }
        }
    }
}
