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
mod huffman;

use basis::Pattern;
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

/// What the headers before the scan say.
struct Header<'a> {
    width: usize,
    height: usize,
    /// Quantisation table of the component, zigzag order.
    quant: [u16; 64],
    /// The bodies of the `DHT` segments, in file order.
    huffman: [&'a [u8]; MAX_DHT],
    huffman_count: usize,
    /// The scan's DC and AC table numbers.
    tables: (usize, usize),
    /// The entropy-coded data (up to the end of the file).
    scan: &'a [u8],
}

/// The most `DHT` segments a file may have here (LFW-a files have one or two).
const MAX_DHT: usize = 8;

/// The largest source image decoded here (64 megapixels).
const MAX_PIXELS: usize = 1 << 26;

fn corrupt(reason: &'static str) -> HalfError {
    HalfError::Corrupt { reason }
}

fn unsupported(feature: &'static str) -> HalfError {
    HalfError::Unsupported { feature }
}

/// One block's non-zero coefficients, as (zigzag index, value), DC first.
struct Coefficients {
    index: [u8; 64],
    value: [i32; 64],
    len: usize,
}

impl Coefficients {
    #[inline(always)]
    fn push(&mut self, k: usize, value: i32) -> Result<(), HalfError> {
        // k only grows within a block, so at most 64 entries fit; a run past 63 is corrupt.
        if k > 63 || self.len > 63 {
            return Err(corrupt("AC run past the end of the block"));
        }
        self.index[self.len] = k as u8;
        self.value[self.len] = value;
        self.len += 1;
        Ok(())
    }
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
        let (bw, total) = (
            header.width.div_ceil(8),
            header.width.div_ceil(8) * header.height.div_ceil(8),
        );
        let mut bits = Bits::new(header.scan);
        let mut coefs = Coefficients {
            index: [0; 64],
            value: [0; 64],
            len: 0,
        };
        let mut pred = 0i32;
        let mut block = 0;
        while block < total {
            coefs.len = 0;
            decode_block(dc, ac, &mut bits, &mut pred, &mut coefs)?;
            out.store(&self.block(&coefs), block % bw, block / bw);
            block += 1;
            if bits.overran() {
                // libjpeg's rule for a scan that ends early: the rest is mid-gray.
                break;
            }
        }
        for b in block..total {
            out.store(&[0.0; 16], b % bw, b / bw);
        }
        self.tables = Some(tables);
        Ok(Gray {
            width: width as u32,
            height: height as u32,
            pixels: out.pixels,
        })
    }

    /// The 4x4 output of one block, before the level shift.
    #[inline(always)]
    fn block(&self, coefs: &Coefficients) -> Pattern {
        // The DC pattern is flat; most blocks of a smooth face have few AC coefficients.
        let mut acc = [self.patterns[0][0] * coefs.value[0] as f32; 16];
        for (&k, &v) in coefs.index[1..coefs.len]
            .iter()
            .zip(&coefs.value[1..coefs.len])
        {
            basis::add(&mut acc, &self.patterns[usize::from(k)], v);
        }
        acc
    }
}

/// Huffman-decodes one block's coefficients; the DC one is always first.
#[inline(always)]
fn decode_block(
    dc: &Table,
    ac: &Table,
    bits: &mut Bits<'_>,
    pred: &mut i32,
    coefs: &mut Coefficients,
) -> Result<(), HalfError> {
    bits.ensure();
    let size = u32::from(dc.decode(bits)?);
    if size > 11 {
        return Err(corrupt("DC difference too large"));
    }
    *pred = pred.wrapping_add(extend(bits.take(size), size));
    coefs.push(0, *pred)?;
    let mut k = 1usize;
    while k < 64 {
        bits.ensure();
        if let Some((value, run, len)) = ac.fast_ac(bits) {
            bits.consume(len);
            k += run;
            coefs.push(k, value)?;
            k += 1;
            continue;
        }
        let symbol = ac.decode(bits)?;
        let (run, size) = (usize::from(symbol >> 4), u32::from(symbol & 15));
        if size == 0 {
            if run != 15 {
                break; // end of block
            }
            k += 16;
            continue;
        }
        k += run;
        coefs.push(k, extend(bits.take(size), size))?;
        k += 1;
    }
    Ok(())
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

/// A big-endian u16 at `pos`.
fn u16_at(data: &[u8], pos: usize) -> Result<usize, HalfError> {
    data.get(pos..pos + 2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or(corrupt("truncated header"))
}

/// Reads the markers up to the start of the scan.
fn parse(data: &[u8]) -> Result<Header<'_>, HalfError> {
    if data.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(unsupported("not a JPEG"));
    }
    let mut quant: [Option<[u16; 64]>; 4] = [None; 4];
    let mut huffman: [&[u8]; MAX_DHT] = [&[]; MAX_DHT];
    let mut huffman_count = 0;
    let mut frame: Option<(usize, usize, usize)> = None; // width, height, quant table
    let mut pos = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let marker = match data.get(pos..pos + 2) {
            Some([0xFF, m]) => *m,
            _ => return Err(corrupt("expected a marker")),
        };
        pos += 2;
        if matches!(marker, 0x01 | 0xD0..=0xD7) {
            continue;
        }
        let len = u16_at(data, pos)?;
        let body = data
            .get(pos + 2..pos + len.max(2))
            .ok_or(corrupt("truncated segment"))?;
        match marker {
            0xC0 | 0xC1 => frame = Some(parse_frame(body)?),
            0xC2 | 0xC6 | 0xCA | 0xCE => return Err(unsupported("progressive")),
            0xC3 | 0xC5 | 0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(unsupported("lossless, hierarchical or arithmetic coding"))
            }
            0xC4 => {
                *huffman
                    .get_mut(huffman_count)
                    .ok_or(unsupported("many Huffman table segments"))? = body;
                huffman_count += 1;
            }
            0xDB => parse_quant(body, &mut quant)?,
            0xDD if u16_at(body, 0)? != 0 => return Err(unsupported("restart markers")),
            0xDA => {
                let (width, height, q) = frame.ok_or(corrupt("scan before frame"))?;
                return Ok(Header {
                    width,
                    height,
                    quant: quant[q].ok_or(corrupt("missing quantisation table"))?,
                    huffman,
                    huffman_count,
                    tables: parse_scan(body)?,
                    scan: &data[pos + len..],
                });
            }
            0xD9 => return Err(corrupt("no scan")),
            _ => {} // APPn, COM and the like
        }
        pos += len;
    }
}

/// `SOF0`/`SOF1`: the size, and the one component's quantisation table.
fn parse_frame(body: &[u8]) -> Result<(usize, usize, usize), HalfError> {
    let [precision, h0, h1, w0, w1, components, ..] = *body else {
        return Err(corrupt("short frame header"));
    };
    if precision != 8 {
        return Err(unsupported("12-bit samples"));
    }
    if components != 1 {
        return Err(unsupported("more than one component"));
    }
    let (height, width) = (
        usize::from(u16::from_be_bytes([h0, h1])),
        usize::from(u16::from_be_bytes([w0, w1])),
    );
    if height == 0 {
        return Err(unsupported("height defined later (DNL)"));
    }
    if width == 0 {
        return Err(corrupt("zero width"));
    }
    if width * height > MAX_PIXELS {
        // Left to the full decoder, whose own limits then apply.
        return Err(unsupported("very large image"));
    }
    let q = usize::from(*body.get(8).ok_or(corrupt("short frame header"))?);
    if q > 3 {
        return Err(corrupt("bad quantisation table index"));
    }
    Ok((width, height, q))
}

/// `SOS`: the component's DC and AC table indices; the scan must be the whole block.
fn parse_scan(body: &[u8]) -> Result<(usize, usize), HalfError> {
    let [count, _id, tables, start, end, approx, ..] = *body else {
        return Err(corrupt("short scan header"));
    };
    if count != 1 || start != 0 || end != 63 || approx != 0 {
        return Err(unsupported("partial scan"));
    }
    let (td, ta) = (usize::from(tables >> 4), usize::from(tables & 15));
    if td > 3 || ta > 3 {
        return Err(corrupt("bad Huffman table index"));
    }
    Ok((td, ta))
}

/// Builds the scan's two Huffman tables from the `DHT` segments.
fn build_tables(header: &Header<'_>, source: Vec<u8>) -> Result<Tables, HalfError> {
    let (mut dc, mut ac): ([Option<Table>; 4], [Option<Table>; 4]) = Default::default();
    for body in &header.huffman[..header.huffman_count] {
        parse_huffman(body, &mut dc, &mut ac)?;
    }
    let (td, ta) = header.tables;
    let missing = || corrupt("missing Huffman table");
    Ok(Tables {
        source,
        dc: Box::new(dc[td].take().ok_or_else(missing)?),
        ac: Box::new(ac[ta].take().ok_or_else(missing)?),
    })
}

/// `DHT`: one or more tables.
fn parse_huffman(
    mut body: &[u8],
    dc: &mut [Option<Table>; 4],
    ac: &mut [Option<Table>; 4],
) -> Result<(), HalfError> {
    while let Some((&class_id, rest)) = body.split_first() {
        let counts: &[u8; 16] = rest.first_chunk().ok_or(corrupt("short Huffman table"))?;
        let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let symbols = rest.get(16..16 + n).ok_or(corrupt("short Huffman table"))?;
        let table = Table::new(counts, symbols)?;
        let slot = match (class_id >> 4, usize::from(class_id & 15)) {
            (0, i @ 0..=3) => &mut dc[i],
            (1, i @ 0..=3) => &mut ac[i],
            _ => return Err(corrupt("bad Huffman table class or index")),
        };
        *slot = Some(table);
        body = &rest[16 + n..];
    }
    Ok(())
}

/// `DQT`: one or more tables, 8- or 16-bit, kept in zigzag order.
fn parse_quant(mut body: &[u8], quant: &mut [Option<[u16; 64]>; 4]) -> Result<(), HalfError> {
    while let Some((&pq_tq, rest)) = body.split_first() {
        let (wide, index) = (pq_tq >> 4, usize::from(pq_tq & 15));
        if index > 3 || wide > 1 {
            return Err(corrupt("bad quantisation table"));
        }
        let size = if wide == 1 { 128 } else { 64 };
        let raw = rest
            .get(..size)
            .ok_or(corrupt("short quantisation table"))?;
        let mut table = [0u16; 64];
        for (k, q) in table.iter_mut().enumerate() {
            *q = if wide == 1 {
                u16::from_be_bytes([raw[2 * k], raw[2 * k + 1]])
            } else {
                u16::from(raw[k])
            };
        }
        quant[index] = Some(table);
        body = &rest[size..];
    }
    Ok(())
}
