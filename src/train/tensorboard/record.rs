//! The bytes of a TensorBoard event file: `Event` protocol buffers, each framed as a TFRecord.
//!
//! A TFRecord is the data's length (u64, little-endian), the masked CRC-32C of those 8 bytes,
//! the data, and the masked CRC-32C of the data. TensorBoard's readers check both sums and
//! silently stop at the first record that fails one, so a wrong polynomial (the IEEE CRC-32
//! of `crc32fast`, say) would show an empty run rather than an error: hence CRC-32C
//! (Castagnoli) here, computed by a small table of our own.
//!
//! The protocol buffers are encoded by hand: four messages with a handful of fields each
//! (`tensorboard/compat/proto/event.proto` and `summary.proto`) do not warrant a code
//! generator.

/// The reflected Castagnoli polynomial.
const CASTAGNOLI: u32 = 0x82F6_3B78;

/// The byte-at-a-time lookup table of CRC-32C, built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ CASTAGNOLI
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// The CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &b| {
        TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8)
    })
}

/// The CRC-32C of `data` masked as TFRecord stores it: a sum over data that itself holds
/// sums is weak, so the stored value is rotated and offset.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    crc.rotate_right(15).wrapping_add(0xA282_EAD8)
}

/// Appends `data` to `out` as one TFRecord.
pub fn frame(out: &mut Vec<u8>, data: &[u8]) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

/// An image as `Summary.Image` holds it.
#[derive(Debug, Clone, Copy)]
pub struct Image<'a> {
    /// Pixels high.
    pub height: u32,
    /// Pixels wide.
    pub width: u32,
    /// Channels: 1 grey, 2 grey and alpha, 3 RGB, 4 RGBA.
    pub colorspace: u32,
    /// The encoded file (PNG).
    pub encoded: &'a [u8],
}

/// What one `Summary.Value` holds.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// A scalar (`simple_value`: TensorBoard stores scalars as 32-bit floats).
    Scalar(f32),
    /// An image.
    Image(Image<'a>),
}

/// What an event carries besides its time and step.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The version marker every event file starts with.
    FileVersion,
    /// A summary of tagged values.
    Summary(&'a [(&'a str, Value<'a>)]),
}

/// The file version TensorBoard expects of the first event: version 2 means restarts are
/// marked by explicit session logs (never written here), not guessed from steps.
pub const FILE_VERSION: &str = "brain.Event:2";

// Protocol buffer wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const BYTES: u32 = 2;
const FIXED32: u32 = 5;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from(field << 3 | wire));
}

fn bytes_field(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    key(out, field, BYTES);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// A varint field, left out at zero as proto3 leaves out defaults.
fn varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(out, field, VARINT);
        varint(out, v);
    }
}

/// The serialised `Event` (wall_time = 1, step = 2, file_version = 3, summary = 5).
pub fn event(wall_time: f64, step: i64, payload: Payload<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    key(&mut out, 1, FIXED64);
    out.extend_from_slice(&wall_time.to_le_bytes());
    // int64 is encoded as its two's complement bits; steps here are never negative.
    varint_field(&mut out, 2, step as u64);
    match payload {
        Payload::FileVersion => bytes_field(&mut out, 3, FILE_VERSION.as_bytes()),
        Payload::Summary(values) => bytes_field(&mut out, 5, &summary(values)),
    }
    out
}

/// The serialised `Summary` (value = 1, repeated `Summary.Value`: tag = 1,
/// simple_value = 2, image = 4).
fn summary(values: &[(&str, Value<'_>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (tag, value) in values {
        let mut v = Vec::new();
        bytes_field(&mut v, 1, tag.as_bytes());
        match value {
            Value::Scalar(x) => {
                key(&mut v, 2, FIXED32);
                v.extend_from_slice(&x.to_le_bytes());
            }
            Value::Image(image) => {
                // Summary.Image: height = 1, width = 2, colorspace = 3, encoded = 4.
                let mut m = Vec::new();
                varint_field(&mut m, 1, u64::from(image.height));
                varint_field(&mut m, 2, u64::from(image.width));
                varint_field(&mut m, 3, u64::from(image.colorspace));
                bytes_field(&mut m, 4, image.encoded);
                bytes_field(&mut v, 4, &m);
            }
        }
        bytes_field(&mut out, 1, &v);
    }
    out
}

/// Splits TFRecords back into their data, checking lengths and both sums: the reader side
/// of [`frame`], as TensorBoard's record reader does it, for tests.
#[cfg(test)]
pub(super) fn unframe(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    while !bytes.is_empty() {
        let len: [u8; 8] = bytes[..8].try_into().expect("8 length bytes");
        let crc = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        assert_eq!(crc, masked_crc32c(&len), "length sum");
        let n = u64::from_le_bytes(len) as usize;
        let data = &bytes[12..12 + n];
        let crc = u32::from_le_bytes(bytes[12 + n..16 + n].try_into().expect("4 bytes"));
        assert_eq!(crc, masked_crc32c(data), "data sum");
        records.push(data.to_vec());
        bytes = &bytes[16 + n..];
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn crc32c_gives_the_castagnoli_check_value() {
        // The standard check input of every CRC catalogue.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        // The IEEE CRC-32 of the same input is 0xCBF43926: the polynomial is not that one.
        assert_ne!(crc32c(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn masked_sums_are_those_of_tensorboards_reader() {
        // Its `masked_crc32c` gives these: of the check input, and of the length field of a
        // 24-byte record.
        assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
        assert_eq!(masked_crc32c(&24u64.to_le_bytes()), 0x224B_7FA3);
    }

    #[test]
    fn records_frame_and_unframe_to_the_same_data() {
        let data: [&[u8]; 3] = [b"", b"one", &[7u8; 300]];
        let mut file = Vec::new();
        for d in data {
            frame(&mut file, d);
        }
        assert_eq!(file.len(), data.iter().map(|d| 16 + d.len()).sum::<usize>());
        assert_eq!(unframe(&file), data.map(<[u8]>::to_vec));
    }

    // The expected bytes below are what TensorBoard's own `event_pb2.Event(...)
    // .SerializeToString()` gives for the same events.

    #[test]
    fn the_file_version_event_is_encoded_as_protobuf_does() {
        let e = event(1.5, 0, Payload::FileVersion);
        assert_eq!(hex(&e), "09000000000000f83f1a0d627261696e2e4576656e743a32");
    }

    #[test]
    fn a_scalar_event_is_encoded_as_protobuf_does() {
        let values = [("loss/train", Value::Scalar(0.25))];
        let e = event(1.5, 3, Payload::Summary(&values));
        assert_eq!(
            hex(&e),
            "09000000000000f83f10032a130a110a0a6c6f73732f747261696e150000803e"
        );
    }

    #[test]
    fn an_image_event_is_encoded_as_protobuf_does() {
        let image = Image {
            height: 2,
            width: 300,
            colorspace: 4,
            encoded: b"PNG",
        };
        let values = [("roc", Value::Image(image))];
        let e = event(2.0, 7, Payload::Summary(&values));
        assert_eq!(
            hex(&e),
            "09000000000000004010072a150a130a03726f63220c080210ac0218042203504e47"
        );
    }
}
