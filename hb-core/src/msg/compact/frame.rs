//! The frame around a compact body: header, MAC, CRC-32C, COBS stuffing and the delimiter; and
//! the collecting of frames from a byte stream.

use super::body::decode_body;
use super::{CompactError, CompactPacket};
use crate::auth::{AuthError, Hasher, Keyring, Method, MAX_RAW_DIGEST};
use crate::msg::{EncodeError, Scratch, Sink};
use crc::{Crc, CRC_32_ISCSI};

/// The frame CRC: CRC-32C (Castagnoli).
pub(super) static CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

pub(super) const CRC_LEN: usize = 4;
/// Header bit 7: not a message of this format (a relay frame, or a later format).
pub(super) const FUTURE_FORMAT: u8 = 0x80;
/// Header bit 7 on the relay's own frames ([`crate::relay`]), which share this framing.
pub(crate) const RELAY_CLASS: u8 = FUTURE_FORMAT;

/// Seals what `body` writes as one frame of class `class` (header bit 7; [`RELAY_CLASS`] for
/// the relay's own frames, see [`crate::relay`]), signed by the active key of `keys`: header,
/// body, MAC, CRC, COBS and the trailing 0x00, exactly as [`encode`](super::encode) frames a message. The body
/// goes straight through the stuffing into `out`: no buffer of its own on the stack.
pub(crate) fn seal<const K: usize>(
    class: u8,
    keys: &Keyring<K>,
    out: &mut [u8],
    body: impl FnOnce(&mut Writer<'_, '_>) -> Result<(), EncodeError>,
) -> Result<usize, EncodeError> {
    write_frame(class & RELAY_CLASS, Some(keys), out, body)
}

/// Writes one frame: the header (`class`, method and key index), what `body` puts, the MAC
/// when `keys` sign, the CRC, the COBS stuffing and the delimiter; returns the wire length.
pub(super) fn write_frame<const K: usize>(
    class: u8,
    keys: Option<&Keyring<K>>,
    out: &mut [u8],
    body: impl FnOnce(&mut Writer<'_, '_>) -> Result<(), EncodeError>,
) -> Result<usize, EncodeError> {
    // The signing state (up to ≈ 150 bytes) stays in this one place: the writer borrows it
    // and the MAC is read from it, where moving it into and out of the writer made a copy on
    // the stack at each step.
    let mut signer = match keys {
        None => None,
        Some(keys) => Some(keys.signer()?),
    };
    let method = match (keys, &signer) {
        (Some(keys), Some(h)) => Some(keys.method(h.index()).ok_or(EncodeError::NoKey)?),
        _ => None,
    };
    let header = match (&signer, method) {
        (Some(h), Some(method)) => class | method_code(method) << 4 | h.index(),
        _ => class,
    };
    // The delimiter goes after what the COBS encoder writes.
    let stuffed_room = out.len().checked_sub(1).ok_or(EncodeError::BufferFull)?;
    let (stuffed, _) = out.split_at_mut(stuffed_room);
    let mut w = Writer {
        cobs: cobs::CobsEncoder::new(stuffed),
        crc: CRC32C.digest(),
        mac: signer.as_mut(),
    };
    w.put(&[header])?;
    body(&mut w)?;
    let Writer {
        mut cobs, mut crc, ..
    } = w;
    if let (Some(h), Some(method)) = (&mut signer, method) {
        let mut buf = [0u8; MAX_RAW_DIGEST];
        let tag = truncated_mac(h, method, &mut buf);
        crc.update(tag);
        cobs.push(tag).map_err(|_| EncodeError::BufferFull)?;
    }
    cobs.push(&crc.finalize().to_le_bytes())
        .map_err(|_| EncodeError::BufferFull)?;
    let len = cobs.finalize();
    // `finalize` skips a code byte that does not fit and still counts it.
    if len > stuffed_room {
        return Err(EncodeError::BufferFull);
    }
    *out.get_mut(len).ok_or(EncodeError::BufferFull)? = 0;
    Ok(len + 1)
}

/// Whether `bytes` are exactly one compact frame (optionally followed by its 0x00) whose CRC
/// checks. A classic or netstring packet passes by chance with probability 2⁻³²; nothing is
/// modified.
pub fn looks_like_frame(bytes: &[u8]) -> bool {
    let stuffed = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if stuffed.is_empty() || stuffed.contains(&0) {
        return false;
    }
    let mut state = cobs::DecoderState::Idle;
    let mut crc = CRC32C.digest();
    // The last four decoded bytes are the CRC; everything before goes into the digest.
    let mut tail = [0u8; CRC_LEN];
    let mut decoded = 0usize;
    let mut header = 0u8;
    for &b in stuffed.iter().chain(&[0]) {
        match state.feed(b) {
            Err(_) => return false,
            Ok(cobs::DecodeResult::NoData) => {}
            Ok(cobs::DecodeResult::DataContinue(x)) => {
                if decoded >= CRC_LEN {
                    crc.update(&tail[..1]);
                }
                if decoded == 0 {
                    header = x;
                }
                tail.rotate_left(1);
                tail[CRC_LEN - 1] = x;
                decoded += 1;
            }
            Ok(cobs::DecodeResult::DataComplete) => {
                return decoded > CRC_LEN
                    && header & FUTURE_FORMAT == 0
                    && crc.finalize() == u32::from_le_bytes(tail);
            }
        }
    }
    false
}

/// A frame whose stuffing and CRC have been checked: the header, body and MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    content: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Removes the COBS stuffing of one frame in place and checks its CRC. `wire` may end with
    /// the 0x00 delimiter; no other 0x00 may appear.
    pub fn unstuff(wire: &'a mut [u8]) -> Result<Frame<'a>, CompactError> {
        let end = wire.len() - usize::from(wire.last() == Some(&0));
        let stuffed = &mut wire[..end];
        if stuffed.is_empty() {
            return Err(CompactError::Short);
        }
        if stuffed.contains(&0) {
            return Err(CompactError::Cobs);
        }
        let len = unstuff_in_place(stuffed)?;
        let content: &'a [u8] = stuffed;
        let split = len.checked_sub(CRC_LEN).ok_or(CompactError::Short)?;
        let (content, crc) = content
            .get(..len)
            .ok_or(CompactError::Cobs)?
            .split_at(split);
        if content.is_empty() {
            return Err(CompactError::Short);
        }
        let mut sent = [0u8; CRC_LEN];
        sent.copy_from_slice(crc);
        if CRC32C.checksum(content) != u32::from_le_bytes(sent) {
            return Err(CompactError::Crc);
        }
        Ok(Frame { content })
    }

    /// Header, body and MAC, without the CRC.
    pub fn content(&self) -> &'a [u8] {
        self.content
    }

    /// The authentication the header announces, with the MAC and the bytes it covers; `None`
    /// for an unauthenticated frame.
    pub fn auth(&self) -> Result<Option<FrameAuth<'a>>, CompactError> {
        self.class_auth(0)
    }

    /// [`Frame::auth`] for a frame of class `class` (header bit 7): a frame of the other class
    /// is [`CompactError::Unsupported`].
    pub(crate) fn class_auth(&self, class: u8) -> Result<Option<FrameAuth<'a>>, CompactError> {
        let header = *self.content.first().ok_or(CompactError::Short)?;
        if header & FUTURE_FORMAT != class & FUTURE_FORMAT {
            return Err(CompactError::Unsupported);
        }
        let index = header & 0x0f;
        let method = match header >> 4 & 0x07 {
            0 if index == 0 => return Ok(None),
            0 => return Err(CompactError::Unsupported),
            code => method_from_code(code).ok_or(CompactError::Unsupported)?,
        };
        let body_end = self
            .content
            .len()
            .checked_sub(mac_len(method))
            .filter(|&end| end >= 1)
            .ok_or(CompactError::Truncated { at: 1 })?;
        let (signed, mac) = self.content.split_at(body_end);
        Ok(Some(FrameAuth {
            method,
            index,
            mac,
            signed,
        }))
    }

    /// Decodes the fields; `scratch` receives the text of numeric fields (20 bytes per field
    /// are always enough).
    pub fn decode<const N: usize>(
        &self,
        scratch: &'a mut [u8],
    ) -> Result<CompactPacket<'a, N>, CompactError> {
        let auth = self.auth()?;
        let body_end = auth.map_or(self.content.len(), |a| a.signed.len());
        let msg = decode_body(self.content, body_end, &mut Scratch::new(scratch))?;
        Ok(CompactPacket { msg, auth })
    }
}

/// The authentication of a frame, as its header announces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameAuth<'a> {
    pub method: Method,
    pub index: u8,
    /// The truncated MAC as received.
    pub mac: &'a [u8],
    /// Header and body: the bytes the MAC covers.
    pub signed: &'a [u8],
}

impl FrameAuth<'_> {
    /// Checks the MAC with our key at the frame's index. The key must exist
    /// ([`AuthError::UnknownKey`]) and use the method the header names, and the MAC must match
    /// (otherwise [`AuthError::Mismatch`]). The comparison takes the same time wherever the
    /// first difference is.
    // Not inlined: its hasher (≈ 150 bytes) would otherwise stay in the caller's frame — on a
    // relay board the main loop's — under the answer that is then signed with a second one.
    #[inline(never)]
    pub fn verify<const K: usize>(&self, keys: &Keyring<K>) -> Result<u8, AuthError> {
        let index = self.index;
        let method = keys.method(index).ok_or(AuthError::UnknownKey { index })?;
        if method != self.method {
            return Err(AuthError::Mismatch { index });
        }
        let mut h = keys.hasher(index).ok_or(AuthError::UnknownKey { index })?;
        h.update(self.signed);
        let mut buf = [0u8; MAX_RAW_DIGEST];
        let mine = truncated_mac(&mut h, method, &mut buf);
        let same = mine.len() == self.mac.len()
            && mine
                .iter()
                .zip(self.mac)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(index)
        } else {
            Err(AuthError::Mismatch { index })
        }
    }
}

/// Collects the stuffed bytes of one frame up to its 0x00 delimiter: the one rule of every
/// compact-framed byte stream (a serial line, a relay port). A delimiter ends the frame; an
/// empty frame (0x00 0x00, a sender's flush) is nothing; a frame longer than the `N`-byte
/// buffer is dropped whole, up to the next delimiter, so the reader is in step again from the
/// frame after it. The bytes stay stuffed, so a frame can be forwarded byte for byte (the relay
/// board) or unstuffed in place ([`Deframer`]).
pub struct FrameCollector<const N: usize> {
    buf: [u8; N],
    len: usize,
    overflow: bool,
}

/// What a byte completed in a [`FrameCollector`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Collected {
    /// A frame of this many stuffed bytes (without the delimiter) is in the buffer.
    Frame(usize),
    /// A frame longer than the buffer ended; it was dropped.
    Oversize,
}

impl<const N: usize> core::fmt::Debug for FrameCollector<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameCollector")
            .field("capacity", &N)
            .field("len", &self.len)
            .field("overflow", &self.overflow)
            .finish()
    }
}

impl<const N: usize> Default for FrameCollector<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FrameCollector<N> {
    pub const fn new() -> Self {
        FrameCollector {
            buf: [0; N],
            len: 0,
            overflow: false,
        }
    }

    /// Forgets a partly received frame (e.g. after reopening the line).
    pub fn reset(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// Takes one byte; a delimiter ending a non-empty frame says so. The frame's bytes stay in
    /// [`FrameCollector::frame`] until the next call.
    pub fn push(&mut self, byte: u8) -> Option<Collected> {
        if byte != 0 {
            match self.buf.get_mut(self.len) {
                Some(slot) if !self.overflow => {
                    *slot = byte;
                    self.len += 1;
                }
                _ => self.overflow = true,
            }
            return None;
        }
        let len = core::mem::take(&mut self.len);
        if core::mem::take(&mut self.overflow) {
            return Some(Collected::Oversize);
        }
        // 0x00 0x00: an empty frame, a sender's flush.
        (len > 0).then_some(Collected::Frame(len))
    }

    /// The stuffed bytes of the frame [`FrameCollector::push`] just completed (empty for a
    /// length it cannot have given).
    pub fn frame(&self, len: usize) -> &[u8] {
        self.buf.get(..len).unwrap_or_default()
    }

    /// The same bytes, to unstuff in place.
    pub fn frame_mut(&mut self, len: usize) -> &mut [u8] {
        self.buf.get_mut(..len).unwrap_or_default()
    }
}

/// Counters of a [`Deframer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeframerStats {
    /// Frames that passed COBS and CRC.
    pub frames: u32,
    /// Frames dropped for bad stuffing, bad CRC or too few bytes: line noise, or the tail of a
    /// frame whose start was missed.
    pub bad: u32,
    /// Frames dropped for not fitting the buffer.
    pub oversize: u32,
}

/// Splits a byte stream (a serial line) into frames: feed it bytes as they arrive; each 0x00
/// completes a frame, which comes out checked (COBS and CRC) or as a counted error. Memory is
/// the `N`-byte buffer, the longest stuffed frame it accepts; a longer one is dropped up to the
/// next 0x00 and counted in [`DeframerStats::oversize`]. After garbage it is in step again from
/// the first frame after the next 0x00 (the rules of [`FrameCollector`]).
pub struct Deframer<const N: usize> {
    line: FrameCollector<N>,
    stats: DeframerStats,
}

impl<const N: usize> core::fmt::Debug for Deframer<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Deframer")
            .field("capacity", &N)
            .field("len", &self.line.len)
            .field("overflow", &self.line.overflow)
            .field("stats", &self.stats)
            .finish()
    }
}

impl<const N: usize> Default for Deframer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Deframer<N> {
    pub const fn new() -> Self {
        Deframer {
            line: FrameCollector::new(),
            stats: DeframerStats {
                frames: 0,
                bad: 0,
                oversize: 0,
            },
        }
    }

    pub fn stats(&self) -> DeframerStats {
        self.stats
    }

    /// Forgets a partly received frame (e.g. after reopening the line).
    pub fn reset(&mut self) {
        self.line.reset();
    }

    /// Takes one byte; on a delimiter that ends a non-empty frame, returns the frame or why it
    /// was dropped. The frame borrows the buffer until the next call.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame<'_>, CompactError>> {
        let end = self.line.push(byte)?;
        Some(self.finish(end))
    }

    /// Takes bytes up to and including the first delimiter that completes a frame; returns how
    /// many were consumed and, if a frame completed, the frame or why it was dropped. Call again
    /// with the rest.
    pub fn feed(&mut self, bytes: &[u8]) -> (usize, Option<Result<Frame<'_>, CompactError>>) {
        for (i, &b) in bytes.iter().enumerate() {
            if let Some(end) = self.line.push(b) {
                return (i + 1, Some(self.finish(end)));
            }
        }
        (bytes.len(), None)
    }

    fn finish(&mut self, end: Collected) -> Result<Frame<'_>, CompactError> {
        let stats = &mut self.stats;
        let result = match end {
            Collected::Oversize => Err(CompactError::Oversize),
            Collected::Frame(len) => Frame::unstuff(self.line.frame_mut(len)),
        };
        match result {
            Ok(_) => stats.frames = stats.frames.wrapping_add(1),
            Err(CompactError::Oversize) => stats.oversize = stats.oversize.wrapping_add(1),
            Err(_) => stats.bad = stats.bad.wrapping_add(1),
        }
        result
    }
}

/// Where [`encode`](super::encode) writes: COBS stuffing on the way out, the CRC and the MAC alongside.
pub(crate) struct Writer<'o, 'h> {
    cobs: cobs::CobsEncoder<'o>,
    crc: crc::Digest<'static, u32>,
    mac: Option<&'h mut Hasher>,
}

impl Sink for Writer<'_, '_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.crc.update(bytes);
        if let Some(h) = &mut self.mac {
            h.update(bytes);
        }
        self.cobs.push(bytes).map_err(|_| EncodeError::BufferFull)
    }
}

/// Removes COBS stuffing in place (`stuffed` holds no 0x00); returns the decoded length.
pub(super) fn unstuff_in_place(stuffed: &mut [u8]) -> Result<usize, CompactError> {
    let mut state = cobs::DecoderState::Idle;
    let mut n = 0;
    // The delimiter the caller stripped ends the frame.
    for i in 0..=stuffed.len() {
        let b = stuffed.get(i).copied().unwrap_or(0);
        match state.feed(b).map_err(|_| CompactError::Cobs)? {
            cobs::DecodeResult::NoData => {}
            // The first byte is a code byte and yields nothing, so the write position `n` stays
            // behind the read position `i`.
            cobs::DecodeResult::DataContinue(x) => {
                *stuffed.get_mut(n).ok_or(CompactError::Cobs)? = x;
                n += 1;
            }
            cobs::DecodeResult::DataComplete => {
                return if i == stuffed.len() {
                    Ok(n)
                } else {
                    Err(CompactError::Cobs)
                };
            }
        }
    }
    Err(CompactError::Cobs)
}

pub(super) const fn method_code(m: Method) -> u8 {
    match m {
        Method::Crc => 1,
        Method::Md5 => 2,
        Method::Sha1 => 3,
        Method::Sha256 => 4,
    }
}

pub(super) const fn method_from_code(code: u8) -> Option<Method> {
    Some(match code {
        1 => Method::Crc,
        2 => Method::Md5,
        3 => Method::Sha1,
        4 => Method::Sha256,
        _ => return None,
    })
}

/// Bytes of the MAC a frame signed with `method` carries.
pub const fn mac_len(method: Method) -> usize {
    match method {
        Method::Crc => 4,
        Method::Md5 | Method::Sha1 => 12,
        Method::Sha256 => 16,
    }
}

/// Finishes `h` and gives the frame's MAC: `crc` as a 32-bit little-endian number, the HMACs'
/// first bytes.
pub(super) fn truncated_mac<'b>(
    h: &mut Hasher,
    method: Method,
    buf: &'b mut [u8; MAX_RAW_DIGEST],
) -> &'b [u8] {
    let n = h.finish_raw(buf);
    buf.get(..mac_len(method).min(n)).unwrap_or_default()
}
