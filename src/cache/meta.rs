//! The metadata section after the rows: the cache key, the row index and the skipped sources,
//! in a small length-prefixed binary encoding (see `docs/cache-format.md`).
//!
//! Binary rather than JSON because open must parse 13k source records in a few milliseconds,
//! and because a byte-by-byte spec is easier to state for it.

use std::path::Path;

use crate::cache::error::CacheError;
use crate::cache::format::{Dtype, Header, FORMAT_VERSION};
use crate::cache::key::{CacheKey, SourceStamp};
use crate::data::ImageKey;

/// The row index value of a source that has no row.
pub(crate) const NO_ROW: u32 = u32::MAX;

/// A source that failed to decode and so has no row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedSource {
    /// The image.
    pub key: ImageKey,
    /// Why it was skipped, as the pipeline reported it.
    pub reason: String,
}

/// The decoded and cross-checked metadata.
#[derive(Debug)]
pub(crate) struct Meta {
    /// The key the file was built with, sources sorted by image key.
    pub key: CacheKey,
    /// For each row, the index of its source in `key.sources`.
    pub rows: Vec<u32>,
    /// For each source, its row, or [`NO_ROW`] if it was skipped.
    pub row_of_source: Vec<u32>,
    /// The skipped sources, in the order they were skipped.
    pub skipped: Vec<SkippedSource>,
}

/// Encodes the metadata; `rows` and `skipped` refer to sources by index in `key.sources`.
///
/// The caller has checked that every string length fits in a `u32`.
pub(crate) fn encode(key: &CacheKey, rows: &[u32], skipped: &[(u32, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + key.sources.len() * 64 + rows.len() * 4);
    put_u32(&mut out, key.format_version);
    put_u32(&mut out, key.width);
    put_u32(&mut out, key.height);
    put_u32(&mut out, key.dtype.code());
    put_str(&mut out, &key.filter);
    put_u64(&mut out, key.sources.len() as u64);
    for source in &key.sources {
        put_str(&mut out, &source.key.name);
        put_u32(&mut out, source.key.number);
        put_str(&mut out, &source.rel_path);
        put_u64(&mut out, source.size);
        put_u64(&mut out, source.mtime_ns);
    }
    for &row in rows {
        put_u32(&mut out, row);
    }
    put_u64(&mut out, skipped.len() as u64);
    for (source, reason) in skipped {
        put_u32(&mut out, *source);
        put_str(&mut out, reason);
    }
    out
}

/// Decodes the metadata of a file whose header is `header`, and checks it against the header
/// and itself: every source has exactly one row or one skip record.
pub(crate) fn decode(bytes: &[u8], header: &Header, path: &Path) -> Result<Meta, CacheError> {
    decode_unchecked(bytes, header)
        .and_then(|(key, rows, skipped)| cross_check(key, rows, skipped, header))
        .map_err(|problem| CacheError::corrupt(path, problem))
}

/// The raw parse of the three parts, with no consistency checks beyond lengths.
type Parts = (CacheKey, Vec<u32>, Vec<(u32, String)>);

fn decode_unchecked(bytes: &[u8], header: &Header) -> Result<Parts, String> {
    let mut r = Reader { bytes, at: 0 };
    let format_version = r.u32()?;
    let (width, height) = (r.u32()?, r.u32()?);
    let code = r.u32()?;
    let dtype =
        Dtype::from_code(code).ok_or_else(|| format!("unknown dtype code {code} in the key"))?;
    let filter = r.string()?;
    // Smallest source record: two empty strings, number, size, mtime.
    let count = r.count(4 + 4 + 4 + 8 + 8)?;
    let mut sources = Vec::with_capacity(count);
    for _ in 0..count {
        let name = r.string()?;
        let number = r.u32()?;
        sources.push(SourceStamp {
            key: ImageKey { name, number },
            rel_path: r.string()?,
            size: r.u64()?,
            mtime_ns: r.u64()?,
        });
    }
    let row_count = usize::try_from(header.rows).map_err(|_| "row count overflows")?;
    let index = r.take(row_count.checked_mul(4).ok_or("row count overflows")?)?;
    let rows = index
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    let count = r.count(4 + 4)?;
    let mut skipped = Vec::with_capacity(count);
    for _ in 0..count {
        skipped.push((r.u32()?, r.string()?));
    }
    if r.at != bytes.len() {
        return Err(format!(
            "{} stray bytes after the metadata",
            bytes.len() - r.at
        ));
    }
    let key = CacheKey {
        format_version,
        width,
        height,
        filter,
        dtype,
        sources,
    };
    Ok((key, rows, skipped))
}

/// Checks the parsed parts against the header and each other, and builds the reverse index.
fn cross_check(
    key: CacheKey,
    rows: Vec<u32>,
    skipped: Vec<(u32, String)>,
    header: &Header,
) -> Result<Meta, String> {
    if key.format_version != FORMAT_VERSION
        || (key.width, key.height, key.dtype) != (header.width, header.height, header.dtype)
    {
        return Err("the key disagrees with the header".into());
    }
    if key.sources.len() >= (NO_ROW - 1) as usize {
        return Err("more sources than a u32 index can name".into());
    }
    if let Some(pair) = key.sources.windows(2).find(|w| w[0].key >= w[1].key) {
        return Err(format!("sources not sorted at {}", pair[1].key));
    }
    let row_of_source = reverse_index(key.sources.len(), &rows, &skipped)?;
    let skipped = skipped
        .into_iter()
        .map(|(source, reason)| SkippedSource {
            key: key.sources[source as usize].key.clone(),
            reason,
        })
        .collect();
    Ok(Meta {
        key,
        rows,
        row_of_source,
        skipped,
    })
}

/// For each of `sources`, its row or [`NO_ROW`]; fails unless every source has exactly one
/// entry in `rows` or `skipped`.
fn reverse_index(
    sources: usize,
    rows: &[u32],
    skipped: &[(u32, String)],
) -> Result<Vec<u32>, String> {
    // Skipped sources are first marked with a value no row can have, so a second entry for
    // them is caught like any other.
    const SKIPPED: u32 = NO_ROW - 1;
    let mut row_of_source = vec![NO_ROW; sources];
    let entries = rows
        .iter()
        .copied()
        .zip(0..)
        .chain(skipped.iter().map(|s| (s.0, SKIPPED)));
    for (source, row) in entries {
        let slot = row_of_source
            .get_mut(source as usize)
            .ok_or_else(|| format!("source index {source} out of range"))?;
        if *slot != NO_ROW {
            return Err(format!("source index {source} has two entries"));
        }
        *slot = row;
    }
    if rows.len() + skipped.len() != sources {
        return Err("some sources have neither a row nor a skip record".into());
    }
    for slot in &mut row_of_source {
        if *slot == SKIPPED {
            *slot = NO_ROW;
        }
    }
    Ok(row_of_source)
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, value: &str) {
    put_u32(out, value.len() as u32);
    out.extend_from_slice(value.as_bytes());
}

/// A bounds-checked cursor; every failure is a description of the corruption.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| format!("metadata ends inside a field at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(word))
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        let at = self.at;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("invalid UTF-8 at byte {at}"))
    }

    /// A `u64` record count, bounded by what the remaining bytes could hold so that a bad count
    /// cannot trigger a huge allocation.
    fn count(&mut self, min_record: usize) -> Result<usize, String> {
        let count = self.u64()?;
        let room = (self.bytes.len() - self.at) / min_record;
        usize::try_from(count)
            .ok()
            .filter(|&count| count <= room)
            .ok_or_else(|| format!("record count {count} exceeds the metadata"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::format::DATA_OFFSET;

    fn sample() -> (CacheKey, Header) {
        let sources = (1..=3)
            .map(|n| SourceStamp {
                key: ImageKey {
                    name: "Ann".into(),
                    number: n,
                },
                rel_path: format!("Ann/Ann_{n:04}.jpg"),
                size: 100 + u64::from(n),
                mtime_ns: 7,
            })
            .collect();
        let key = CacheKey::new(2, 2, "nearest", Dtype::U8, sources);
        let header = Header {
            dtype: Dtype::U8,
            height: 2,
            width: 2,
            rows: 2,
            row_stride: 64,
            data_offset: DATA_OFFSET,
            meta_offset: 0,
            meta_len: 0,
            file_len: 0,
            data_crc: 0,
            meta_crc: 0,
        };
        (key, header)
    }

    #[test]
    fn metadata_round_trips() {
        let (key, header) = sample();
        let bytes = encode(&key, &[2, 0], &[(1, "bad jpeg".into())]);
        let meta = decode(&bytes, &header, Path::new("x")).unwrap();
        assert_eq!(meta.key, key);
        assert_eq!(meta.rows, [2, 0]);
        assert_eq!(meta.row_of_source, [1, NO_ROW, 0]);
        assert_eq!(meta.skipped[0].key.number, 2);
        assert_eq!(meta.skipped[0].reason, "bad jpeg");
    }

    #[test]
    fn inconsistent_index_is_corrupt() {
        let (key, header) = sample();
        let skip_one = vec![(1, String::new())];
        // A source with two rows, a row naming no source, a source with neither.
        let cases = [
            (&[0, 0], &skip_one),
            (&[0, 9], &skip_one),
            (&[0, 1], &vec![]),
        ];
        for (rows, skipped) in cases {
            let bytes = encode(&key, rows, skipped);
            let err = decode(&bytes, &header, Path::new("x")).unwrap_err();
            assert!(matches!(err, CacheError::Corrupt { .. }), "{err}");
        }
    }

    #[test]
    fn every_truncation_of_the_metadata_is_an_error() {
        let (key, header) = sample();
        let bytes = encode(&key, &[2, 0], &[(1, "x".into())]);
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len], &header, Path::new("x")).is_err());
        }
    }
}
