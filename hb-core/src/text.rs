//! Byte sinks and the number text of heartbeat's wire: what both the codecs (`msg`) and the
//! signatures (`auth`) need. A leaf: it imports nothing of ours, so `auth` and the codecs can
//! both use it without importing each other.

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The output buffer is too small.
    BufferFull,
    /// A field name that cannot be written unambiguously (empty, or containing `=`, LF or NUL,
    /// or starting with `(`).
    BadName,
    /// A value that this encoding cannot carry (a NUL in classic text, a malformed list, a
    /// nested value that is not a netstring message).
    BadValue,
    /// Structs nested deeper than [`MAX_DEPTH`](crate::msg::MAX_DEPTH).
    TooDeep,
    /// A nested message has more fields than [`DEFAULT_FIELDS`](crate::msg::DEFAULT_FIELDS).
    TooManyFields,
    /// The signing key index is not configured.
    NoKey,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            EncodeError::BufferFull => "the output buffer is too small",
            EncodeError::BadName => "a field name that cannot be encoded",
            EncodeError::BadValue => "a field value this encoding cannot carry",
            EncodeError::TooDeep => "messages nested too deeply",
            EncodeError::TooManyFields => "a nested message with too many fields",
            EncodeError::NoKey => "no signing key configured",
        })
    }
}

/// Parses 1–16 hex digits.
pub fn parse_hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| {
        let d = (c as char).to_digit(16)?;
        Some(acc << 4 | u64::from(d))
    })
}

/// Parses 1–19 decimal digits.
pub fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| {
        let d = (c as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Formats `v` as lowercase hex without leading zeros (`%lx`) into `buf`; returns the text.
pub fn format_hex(v: u64, buf: &mut [u8; 16]) -> &str {
    let digits = if v == 0 {
        1
    } else {
        (64 - v.leading_zeros() as usize).div_ceil(4)
    };
    let out = &mut buf[16 - digits..];
    for (i, b) in out.iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - i);
        *b = b"0123456789abcdef"[((v >> shift) & 0xf) as usize];
    }
    // Only ASCII hex digits were written.
    core::str::from_utf8(&buf[16 - digits..]).unwrap_or("0")
}

/// Formats `v` in decimal (`%lu`) into `buf`; returns the text.
pub fn format_decimal(mut v: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    core::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// Where an encoder writes: a byte buffer, or a digest being computed over the same bytes.
pub trait Sink {
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError>;
}

/// A [`Sink`] over a caller-owned buffer.
#[derive(Debug)]
pub struct SliceSink<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> SliceSink<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        SliceSink { buf, len: 0 }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Sink for SliceSink<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self
            .len
            .checked_add(bytes.len())
            .ok_or(EncodeError::BufferFull)?;
        let dst = self
            .buf
            .get_mut(self.len..end)
            .ok_or(EncodeError::BufferFull)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

/// Counts bytes without storing them (to size a netstring before writing it).
#[derive(Debug, Default)]
pub(crate) struct CountSink(pub usize);

impl Sink for CountSink {
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.0 += bytes.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_printed_like_percent_lx() {
        let mut b = [0u8; 16];
        assert_eq!(format_hex(0, &mut b), "0");
        assert_eq!(format_hex(0x1f, &mut b), "1f");
        assert_eq!(format_hex(0x6b0214a9, &mut b), "6b0214a9");
        assert_eq!(format_hex(u64::MAX, &mut b), "ffffffffffffffff");
        assert_eq!(parse_hex(b"6B0214a9"), Some(0x6b0214a9));
        assert_eq!(parse_hex(b""), None);
        assert_eq!(parse_hex(b"0x1"), None);
        assert_eq!(parse_decimal(b"250"), Some(250));
        let mut d = [0u8; 20];
        assert_eq!(format_decimal(0, &mut d), "0");
        assert_eq!(format_decimal(u64::MAX, &mut d), "18446744073709551615");
        assert_eq!(parse_decimal(b"99999999999999999999"), None);
    }
}
