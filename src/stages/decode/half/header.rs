//! The markers before a JPEG's scan: size, quantisation and Huffman tables, and where the
//! entropy-coded data starts.

use super::huffman::Table;
use super::{corrupt, unsupported, HalfError, Tables};

/// What the headers before the scan say.
pub(super) struct Header<'a> {
    pub(super) width: usize,
    pub(super) height: usize,
    /// Quantisation table of the component, zigzag order.
    pub(super) quant: [u16; 64],
    /// The bodies of the `DHT` segments, in file order.
    pub(super) huffman: [&'a [u8]; MAX_DHT],
    pub(super) huffman_count: usize,
    /// The scan's DC and AC table numbers.
    pub(super) tables: (usize, usize),
    /// The entropy-coded data (up to the end of the file).
    pub(super) scan: &'a [u8],
}

/// The most `DHT` segments a file may have here (LFW-a files have one or two).
const MAX_DHT: usize = 8;

/// The largest source image decoded here (64 megapixels).
const MAX_PIXELS: usize = 1 << 26;

/// A big-endian u16 at `pos`.
fn u16_at(data: &[u8], pos: usize) -> Result<usize, HalfError> {
    data.get(pos..pos + 2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or(corrupt("truncated header"))
}

/// Reads the markers up to the start of the scan.
pub(super) fn parse(data: &[u8]) -> Result<Header<'_>, HalfError> {
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
pub(super) fn build_tables(header: &Header<'_>, source: Vec<u8>) -> Result<Tables, HalfError> {
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
        let (dc_class, index) = (class_id >> 4, usize::from(class_id & 15));
        let table = Table::new(counts, symbols, dc_class == 0)?;
        let slot = match (dc_class, index) {
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
