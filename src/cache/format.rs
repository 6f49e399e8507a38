//! The fixed part of the on-disk layout: constants, the element type and the 128-byte header.
//!
//! `docs/cache-format.md` describes the same bytes for humans; keep the two in step and bump
//! [`FORMAT_VERSION`] whenever a byte moves or changes meaning. All integers are little-endian.

use std::path::Path;

pub use super::dtype::Dtype;
use super::error::{CacheError, Section};

/// The first eight bytes of every cache file.
pub const MAGIC: [u8; 8] = *b"TWFLOWTC";

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Length of the fixed header at offset 0.
pub(crate) const HEADER_LEN: usize = 128;

/// Where the rows start: one page in, so the first row is page-aligned in the mapping.
pub(crate) const DATA_OFFSET: u64 = 4096;

/// Rows are padded to a multiple of this, so every row starts on a cache line.
pub(crate) const ROW_ALIGN: u64 = 64;

/// Offset of the header checksum, which covers every header byte before it.
const HEADER_CRC_AT: usize = HEADER_LEN - 4;

/// Bytes per row: `width * height * dtype.size()` rounded up to [`ROW_ALIGN`], or `None` on
/// overflow.
pub(crate) fn row_stride(width: u32, height: u32, dtype: Dtype) -> Option<u64> {
    let bytes = u64::from(width)
        .checked_mul(u64::from(height))?
        .checked_mul(dtype.size() as u64)?;
    bytes.checked_next_multiple_of(ROW_ALIGN)
}

/// The decoded fixed header; see `docs/cache-format.md` for the byte offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub dtype: Dtype,
    pub height: u32,
    pub width: u32,
    pub rows: u64,
    pub row_stride: u64,
    pub data_offset: u64,
    pub meta_offset: u64,
    pub meta_len: u64,
    pub file_len: u64,
    pub data_crc: u32,
    pub meta_crc: u32,
}

impl Header {
    /// The header bytes, header checksum included.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.dtype.code().to_le_bytes());
        b[16..20].copy_from_slice(&self.height.to_le_bytes());
        b[20..24].copy_from_slice(&self.width.to_le_bytes());
        b[24..32].copy_from_slice(&self.rows.to_le_bytes());
        b[32..40].copy_from_slice(&self.row_stride.to_le_bytes());
        b[40..48].copy_from_slice(&self.data_offset.to_le_bytes());
        b[48..56].copy_from_slice(&self.meta_offset.to_le_bytes());
        b[56..64].copy_from_slice(&self.meta_len.to_le_bytes());
        b[64..72].copy_from_slice(&self.file_len.to_le_bytes());
        b[72..76].copy_from_slice(&self.data_crc.to_le_bytes());
        b[76..80].copy_from_slice(&self.meta_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[..HEADER_CRC_AT]);
        b[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks the header at the start of `file`, the whole file as mapped.
    ///
    /// Checks, in this order: magic, version, minimum length, header checksum, field
    /// consistency, exact file length, zero padding up to the data. Only the metadata and data
    /// checksums are left to the caller.
    pub fn decode(file: &[u8], path: &Path) -> Result<Header, CacheError> {
        let magic_len = file.len().min(MAGIC.len());
        if file[..magic_len] != MAGIC[..magic_len] {
            return Err(CacheError::BadMagic { path: path.into() });
        }
        if file.len() < HEADER_LEN {
            return Err(too_short(file, path));
        }
        let version = u32_at(file, 8);
        if version != FORMAT_VERSION {
            return Err(CacheError::UnsupportedVersion {
                path: path.into(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let stored = u32_at(file, HEADER_CRC_AT);
        let computed = crc32fast::hash(&file[..HEADER_CRC_AT]);
        if stored != computed {
            return Err(CacheError::Checksum {
                path: path.into(),
                section: Section::Header,
                stored,
                computed,
            });
        }
        let header = Header::from_checked_bytes(file, path)?;
        header.check_layout(path)?;
        if header.file_len != file.len() as u64 {
            return Err(CacheError::SizeMismatch {
                path: path.into(),
                expected: header.file_len,
                actual: file.len() as u64,
            });
        }
        if file[HEADER_LEN..header.data_offset as usize]
            .iter()
            .any(|&b| b != 0)
        {
            return Err(CacheError::corrupt(
                path,
                "non-zero bytes in the header padding",
            ));
        }
        Ok(header)
    }

    /// Reads the fields of a header whose checksum has passed.
    fn from_checked_bytes(b: &[u8], path: &Path) -> Result<Header, CacheError> {
        let code = u32_at(b, 12);
        let dtype = Dtype::from_code(code)
            .ok_or_else(|| CacheError::corrupt(path, format!("unknown dtype code {code}")))?;
        if b[80..HEADER_CRC_AT].iter().any(|&x| x != 0) {
            return Err(CacheError::corrupt(path, "non-zero reserved header bytes"));
        }
        Ok(Header {
            dtype,
            height: u32_at(b, 16),
            width: u32_at(b, 20),
            rows: u64_at(b, 24),
            row_stride: u64_at(b, 32),
            data_offset: u64_at(b, 40),
            meta_offset: u64_at(b, 48),
            meta_len: u64_at(b, 56),
            file_len: u64_at(b, 64),
            data_crc: u32_at(b, 72),
            meta_crc: u32_at(b, 76),
        })
    }

    /// Checks that the fields describe one consistent layout, so the caller may slice by them.
    fn check_layout(&self, path: &Path) -> Result<(), CacheError> {
        let bad = |problem: String| Err(CacheError::corrupt(path, problem));
        if self.width == 0 || self.height == 0 {
            return bad(format!("empty image size {}x{}", self.width, self.height));
        }
        if row_stride(self.width, self.height, self.dtype) != Some(self.row_stride) {
            return bad(format!(
                "row stride {} does not fit the image size",
                self.row_stride
            ));
        }
        if self.data_offset != DATA_OFFSET {
            return bad(format!(
                "data offset {} is not {DATA_OFFSET}",
                self.data_offset
            ));
        }
        let data_end = self
            .rows
            .checked_mul(self.row_stride)
            .and_then(|len| len.checked_add(self.data_offset));
        if data_end != Some(self.meta_offset) {
            return bad(format!(
                "metadata offset {} is not after the rows",
                self.meta_offset
            ));
        }
        if self.meta_offset.checked_add(self.meta_len) != Some(self.file_len) {
            return bad(format!(
                "file length {} is not the end of the metadata",
                self.file_len
            ));
        }
        if usize::try_from(self.file_len).is_err() {
            return bad(format!(
                "file length {} exceeds the address space",
                self.file_len
            ));
        }
        Ok(())
    }
}

/// The error for a file cut off inside its header.
fn too_short(file: &[u8], path: &Path) -> CacheError {
    CacheError::TooShort {
        path: path.into(),
        actual: file.len() as u64,
        minimum: DATA_OFFSET,
    }
}

/// The little-endian `u32` at `at`; callers have checked the length.
fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(word)
}

/// The little-endian `u64` at `at`; callers have checked the length.
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            dtype: Dtype::U8,
            height: 3,
            width: 5,
            rows: 2,
            row_stride: 64,
            data_offset: DATA_OFFSET,
            meta_offset: DATA_OFFSET + 128,
            meta_len: 10,
            file_len: DATA_OFFSET + 138,
            data_crc: 7,
            meta_crc: 9,
        }
    }

    fn file_of(header: &Header) -> Vec<u8> {
        let mut file = vec![0u8; header.file_len as usize];
        file[..HEADER_LEN].copy_from_slice(&header.encode());
        file
    }

    #[test]
    fn header_round_trips() {
        let header = sample();
        let decoded = Header::decode(&file_of(&header), Path::new("x")).unwrap();
        assert_eq!(decoded, header);
    }

    #[test]
    fn row_stride_rounds_up_to_a_cache_line() {
        // 125 * 125 = 15625 bytes, the next multiple of 64 is 15680.
        assert_eq!(row_stride(125, 125, Dtype::U8), Some(15_680));
        assert_eq!(row_stride(125, 125, Dtype::F32), Some(62_528));
        assert_eq!(row_stride(u32::MAX, u32::MAX, Dtype::F32), None);
    }

    #[test]
    fn inconsistent_layout_is_corrupt_even_with_a_good_checksum() {
        let mut header = sample();
        header.row_stride = 60;
        let err = Header::decode(&file_of(&header), Path::new("x")).unwrap_err();
        assert!(matches!(err, CacheError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn short_prefix_of_magic_is_too_short_not_bad_magic() {
        let err = Header::decode(b"TWF", Path::new("x")).unwrap_err();
        assert!(
            matches!(err, CacheError::TooShort { actual: 3, .. }),
            "{err}"
        );
        let err = Header::decode(b"PK\x03\x04", Path::new("x")).unwrap_err();
        assert!(matches!(err, CacheError::BadMagic { .. }), "{err}");
    }
}
