//! A bounds-checked cursor over a byte slice: Druid's `ByteBuffer` reads (big-endian by
//! default) without panics. Each cursor carries the name of the structure it reads, so a
//! truncated or overlong field turns into an error that says where.

use crate::error::{Result, SegmentError};

#[derive(Clone)]
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'a str,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8], what: &'a str) -> Self {
        Cursor {
            bytes,
            pos: 0,
            what,
        }
    }

    pub fn what(&self) -> &'a str {
        self.what
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn has_remaining(&self) -> bool {
        self.pos < self.bytes.len()
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    pub fn error(&self, message: impl Into<String>) -> SegmentError {
        SegmentError::corrupt(self.what, message)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "needs {n} bytes at offset {}, only {} left",
                self.pos,
                self.remaining()
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes `n` bytes where `n` is a length read from the data (so may be negative).
    pub fn take_len(&mut self, n: i32, field: &str) -> Result<&'a [u8]> {
        let n = usize::try_from(n).map_err(|_| self.error(format!("negative {field} [{n}]")))?;
        self.take(n)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn i32_be(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub fn i64_be(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A count or size that must not be negative.
    pub fn count(&mut self, field: &str) -> Result<usize> {
        let v = self.i32_be()?;
        usize::try_from(v).map_err(|_| self.error(format!("negative {field} [{v}]")))
    }

    /// Druid's `SerializerUtils.readString`: an int length, then UTF-8.
    pub fn string(&mut self) -> Result<&'a str> {
        let len = self.i32_be()?;
        let bytes = self.take_len(len, "string length")?;
        std::str::from_utf8(bytes).map_err(|_| self.error("string is not UTF-8"))
    }
}

/// Druid's `SerializerUtils.writeString`.
pub(crate) fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as i32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Byte order as named in column descriptors (`"LITTLE_ENDIAN"` / `"BIG_ENDIAN"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOrder {
    LittleEndian,
    BigEndian,
}

impl ByteOrder {
    pub fn from_json(name: &str) -> Result<Self> {
        match name {
            "LITTLE_ENDIAN" => Ok(ByteOrder::LittleEndian),
            "BIG_ENDIAN" => Ok(ByteOrder::BigEndian),
            other => Err(SegmentError::corrupt(
                "column descriptor",
                format!("unknown byteOrder [{other}]"),
            )),
        }
    }

    pub fn json_name(self) -> &'static str {
        match self {
            ByteOrder::LittleEndian => "LITTLE_ENDIAN",
            ByteOrder::BigEndian => "BIG_ENDIAN",
        }
    }

    pub fn u64(self, b: [u8; 8]) -> u64 {
        match self {
            ByteOrder::LittleEndian => u64::from_le_bytes(b),
            ByteOrder::BigEndian => u64::from_be_bytes(b),
        }
    }

    pub fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            ByteOrder::LittleEndian => u32::from_le_bytes(b),
            ByteOrder::BigEndian => u32::from_be_bytes(b),
        }
    }
}
