//! The compact encoding: our own binary form of the same `ha_msg` messages, for serial lines and
//! the relay board (design §2, "Wire formats"). A status heartbeat signed with HMAC-SHA1 takes
//! 59 bytes on the wire, framing included, where heartbeat sends the same fields as 177 bytes
//! of classic text or a 276-byte netstring packet.
//! heartbeat 3.0.6 does not understand it; [`msg::Format`](super::Format) does not detect it,
//! because compact frames only travel on links where both ends are ours.
//!
//! The encoding is lossless: any [`Message`] the model holds (any field order, duplicate and
//! unknown names, all six field types) decodes to the same fields — names, types, values and
//! order. Well-known names, values and numbers get short codes; everything else travels
//! verbatim. Field values obey the same rules as in the netstring encoding (names non-empty,
//! without `=`, LF or NUL, not starting with `(`; lists packed `len:item,` with non-empty items;
//! struct values complete netstring messages), so a compact message can always be re-sent in
//! heartbeat's own formats.
//!
//! # Frame
//!
//! ```text
//! wire    = COBS(content ‖ crc) ‖ 0x00
//! content = header ‖ body ‖ mac
//! crc     = CRC-32C(content), 4 bytes little-endian
//! ```
//!
//! - **COBS** (Consistent Overhead Byte Stuffing, Cheshire & Baker 1999, as in the `cobs` crate
//!   that postcard uses): the stuffed bytes contain no 0x00, so a single 0x00 ends every frame.
//!   Overhead: one byte per started 254 bytes. A receiver that loses sync (line noise, a
//!   partial frame at start-up) discards up to the next 0x00 and is in step again from the next
//!   frame; see [`Deframer`]. Empty frames (0x00 0x00) are ignored, so a sender may put a 0x00
//!   before a frame to flush the receiver after a pause; [`encode`] does not.
//! - **CRC**: CRC-32C (Castagnoli, "CRC-32/ISCSI": width 32, poly 0x1EDC6F41, init 0xFFFFFFFF,
//!   reflected in and out, xorout 0xFFFFFFFF, check("123456789") = 0xE3069283), over the whole
//!   content including the MAC. 32 bits rather than 16: it is the only integrity check of
//!   unauthenticated and `crc`-method frames, and at one status a second with 1 % of frames hit
//!   by noise, a 16-bit CRC would pass a mangled frame every two or three months (2⁻¹⁶ of 864 a
//!   day); a 32-bit one, never in practice. Castagnoli's polynomial rather than IEEE 802.3's:
//!   Hamming distance 6 up to 5 243 data bits (655 bytes), against 268 bits for IEEE's
//!   (Koopman, "32-bit cyclic redundancy codes for Internet applications", 2002). A mangled
//!   frame is told apart from a forged one: it fails the CRC and never reaches the MAC.
//! - **header**, one byte:
//!
//!   | bits | meaning |
//!   |---|---|
//!   | 7 | 0: a message in this format. Frames with bit 7 set are not messages — the relay board's own frames ([`crate::relay`]) share this framing with bit 7 set — and are rejected here ([`CompactError::Unsupported`]) |
//!   | 6–4 | auth method: 0 none, 1 `crc`, 2 `md5`, 3 `sha1`, 4 `sha256`; 5–7 rejected |
//!   | 3–0 | key index 0–15 of `authkeys` (0 when the method is none) |
//!
//! - **mac**: the method's digest over header ‖ body, truncated as IPsec does: `crc` 4 bytes
//!   (heartbeat's CRC-32/CKSUM value, little-endian; like heartbeat's `crc` it ignores the key
//!   and only detects accidents), `md5` 12 bytes (HMAC-MD5-96, RFC 2403), `sha1` 12 bytes
//!   (HMAC-SHA1-96, RFC 2404), `sha256` 16 bytes (HMAC-SHA-256-128, RFC 4868). Truncation keeps
//!   at least half the hash and at least 80 bits, as RFC 2104 §5 allows: a forger must guess
//!   2⁹⁶ tags online, a few hundred per second on a serial line. Replays are not the MAC's
//!   business here either: `hg` and `seq` catch them, as in heartbeat. A receiver verifies with
//!   its own key at that index and only if its method is the one in the header, so a frame
//!   cannot downgrade `sha1` to `crc`.
//!
//! # Body: fields in order
//!
//! Each field starts with one byte `kind << 5 | tag`. `tag` is an index in [`NAMES`]; tag 31
//! ([`LITERAL_NAME`]) means the name follows as a varint length and the bytes. Varints are
//! postcard's (unsigned LEB128: 7 bits per byte, low group first, high bit set on all but the
//! last byte, at most 10 bytes for a `u64`). Then, by kind:
//!
//! | kind | name | field type | payload | value text |
//! |---|---|---|---|---|
//! | 0 | raw | any | varint `len << 3 \| type` (type digit 0–5 of [`FieldType`]), then `len` bytes | the bytes as they are |
//! | 1 | hex | string | varint `v` | `v` in lowercase hex without leading zeros (`%lx`) |
//! | 2 | dec | string | varint `v` | `v` in decimal without leading zeros (`%lu`) |
//! | 3 | hex32 | string | `v` as 4 bytes little-endian | as hex |
//! | 4 | delta | string | varint `zigzag(v − prev)` (wrapping 64-bit) | as hex |
//! | 5 | uuid | binary | 16 bytes | the bytes |
//! | 6 | word | string | one byte: index in [`WORDS`] | the word |
//! | 7 | pair | string | none: the 5 low bits index [`PAIRS`], which gives name **and** value | the pair's value |
//!
//! `prev` is the number carried by the previous hex, dec, hex32 or delta field of the same
//! message, 0 before the first; `zigzag(d) = (d << 1) ^ (d >> 63)` (arithmetic shift) maps
//! small negative and positive differences to small varints (`ts` one second before `hg` is one
//! byte). The numeric kinds are used only when the text is exactly what the kind prints back
//! (`1f`, not `1F` or `01f`), so decoding reproduces it byte for byte. An encoder writes a pair
//! when name and value are one, else the smallest of the kinds that reproduce the value, raw
//! when none does (decoders do not depend on the choice). A binary field of
//! exactly 16 bytes is a uuid; nested messages, lists and compressed values are raw. Tables only
//! ever grow: a decoder rejects an index it does not know ([`CompactError::BadCode`]).
//!
//! The body ends where the MAC begins (its length follows from the header).
//!
//! Field names ([`NAMES`], tag → name):
//!
//! | tag | name | tag | name | tag | name | tag | name |
//! |---|---|---|---|---|---|---|---|
//! | 0 | `t` | 8 | `ts` | 16 | `lastseq` | 24 | `delnodelist` |
//! | 1 | `st` | 9 | `ld` | 17 | `rsc_hold` | 25 | `ipaddr` |
//! | 2 | `dt` | 10 | `ttl` | 18 | `rtype` | 26 | `weown` |
//! | 3 | `protocol` | 11 | `auth` | 19 | `isstable` | 27 | `ok` |
//! | 4 | `src` | 12 | `dest` | 20 | `info` | 28 | `weight` |
//! | 5 | `srcuuid` | 13 | `destuuid` | 21 | `node` | 29 | `site` |
//! | 6 | `seq` | 14 | `ackseq` | 22 | `result` | 30 | `_compressed_payload` |
//! | 7 | `hg` | 15 | `firstseq` | 23 | `nodelist` | 31 | *(literal name)* |
//!
//! Pairs ([`PAIRS`], kind 7; index → `name=value`):
//!
//! | index | pair | index | pair | index | pair | index | pair |
//! |---|---|---|---|---|---|---|---|
//! | 0 | `t=status` | 8 | `t=NS_nak_rexmit` | 16 | `st=active` | 24 | `rsc_hold=foreign` |
//! | 1 | `t=NS_ackmsg` | 9 | `t=stonith` | 17 | `st=dead` | 25 | `rsc_hold=all` |
//! | 2 | `t=resource` | 10 | `t=shutdone` | 18 | `protocol=1` | 26 | `rtype=full` |
//! | 3 | `t=ask_resources` | 11 | `t=hb_takeover` | 19 | `ttl=2` | 27 | `isstable=0` |
//! | 4 | `t=starting` | 12 | `t=ip-request` | 20 | `ttl=3` | 28 | `isstable=1` |
//! | 5 | `t=reqnodes` | 13 | `t=ip-request-resp` | 21 | `ttl=4` | 29 | `info=me` |
//! | 6 | `t=repnodes` | 14 | `st=init` | 22 | `rsc_hold=none` | 30 | `info=other` |
//! | 7 | `t=NS_rexmit` | 15 | `st=up` | 23 | `rsc_hold=local` | 31 | `info=done` |
//!
//! Words ([`WORDS`], kind 6; index → value):
//!
//! | index | word | index | word | index | word | index | word |
//! |---|---|---|---|---|---|---|---|
//! | 0 | `status` | 12 | `ip-request` | 24 | `foreign` | 36 | `no` |
//! | 1 | `NS_ackmsg` | 13 | `ip-request-resp` | 25 | `all` | 37 | `OK` |
//! | 2 | `resource` | 14 | `addnode` | 26 | `failback` | 38 | `badhost` |
//! | 3 | `ask_resources` | 15 | `delnode` | 27 | `full` | 39 | `bad` |
//! | 4 | `starting` | 16 | `setweight` | 28 | `me` | 40 | `n_stnth` |
//! | 5 | `reqnodes` | 17 | `setsite` | 29 | `other` | 41 | `unneeded` |
//! | 6 | `repnodes` | 18 | `init` | 30 | `done` | 42 | `n/a` |
//! | 7 | `NS_rexmit` | 19 | `up` | 31 | `standby` | 43 | `zlib` |
//! | 8 | `NS_nak_rexmit` | 20 | `active` | 32 | `shutdown` | 44 | `seqno too low` |
//! | 9 | `stonith` | 21 | `dead` | 33 | `mach_down` | 45 | `seqno not found` |
//! | 10 | `shutdone` | 22 | `none` | 34 | `req_our_resources()` | 46 | `ping` |
//! | 11 | `hb_takeover` | 23 | `local` | 35 | `yes` | 47 | `normal` |
//!
//! # Example: the status heartbeat
//!
//! `t=status st=active dt=7530 protocol=1 src=node1 srcuuid=<16 bytes> seq=1f hg=6b0214a9
//! ts=6b0214a8 ttl=3`, key 1 `sha1`:
//!
//! ```text
//! 31                          header: sha1, key 1
//! e0 f0                       pair t=status, pair st=active
//! 42 ea 3a                    dt: the text "7530" read as decimal 7530 (2-byte varint; as
//!                             hex 0x7530 it would take 3)
//! f2                          pair protocol=1
//! 04 28 6e 6f 64 65 31        src: raw, len 5 type 0, "node1"
//! a5 <16 bytes>               srcuuid: uuid
//! 26 1f                       seq: hex 0x1f
//! 67 a9 14 02 6b              hg: hex32 0x6b0214a9
//! 88 01                       ts: delta −1 from hg
//! f4                          pair ttl=3
//! <12 bytes>                  HMAC-SHA1-96 over the 41 bytes above
//! <4 bytes>                   CRC-32C over the 53 bytes above
//! ```
//!
//! 57 bytes, 58 after COBS, 59 with the delimiter (crc: 51, md5: 59, sha256: 63,
//! unauthenticated: 47).

mod body;
mod frame;
mod tables;

#[cfg(test)]
mod tests;

pub use frame::{
    looks_like_frame, mac_len, Collected, Deframer, DeframerStats, Frame, FrameAuth, FrameCollector,
};
pub(crate) use frame::{seal, RELAY_CLASS};
pub use tables::{LITERAL_NAME, NAMES, PAIRS, WORDS};

use super::{EncodeError, Field, Message, DEFAULT_FIELDS};
use crate::auth::{AuthError, Keyring};
use body::write_field;
use frame::write_frame;

/// Why bytes are not a compact frame. Positions (`at`) are offsets into the frame content (the
/// bytes after COBS decoding, starting with the header byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CompactError {
    /// Not valid COBS: a 0x00 inside the frame, or a code byte that runs past its end.
    Cobs,
    /// Too short to hold a header and a CRC.
    Short,
    /// The CRC does not match: the frame was mangled on the way.
    Crc,
    /// A header from a later format version, or an unknown auth method.
    Unsupported,
    /// The frame did not fit the [`Deframer`]'s buffer; it was dropped.
    Oversize,
    /// A field runs past the end of the body.
    Truncated { at: usize },
    /// An unknown code: raw type 6 or 7, a word or pair index not in the tables, a varint
    /// longer than 64 bits.
    BadCode { at: usize },
    /// A literal name the model does not allow (empty, containing `=`, LF or NUL, or starting
    /// with `(`).
    BadName { at: usize },
    /// A list that is not packed `len:item,`, or a struct value that is not a complete netstring
    /// message.
    BadValue { at: usize },
    /// More fields than the message's capacity.
    TooManyFields,
    /// The caller's scratch buffer is too small for the numbers' text.
    ScratchFull,
}

impl core::fmt::Display for CompactError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            CompactError::Cobs => f.write_str("compact frame: invalid COBS stuffing"),
            CompactError::Short => f.write_str("compact frame: too short"),
            CompactError::Crc => f.write_str("compact frame: CRC mismatch"),
            CompactError::Unsupported => {
                f.write_str("compact frame: unknown format version or auth method")
            }
            CompactError::Oversize => f.write_str("compact frame: longer than the receive buffer"),
            CompactError::Truncated { at } => {
                write!(f, "compact frame: field at byte {at} runs past the end")
            }
            CompactError::BadCode { at } => write!(f, "compact frame: unknown code at byte {at}"),
            CompactError::BadName { at } => {
                write!(f, "compact frame: invalid field name at byte {at}")
            }
            CompactError::BadValue { at } => {
                write!(
                    f,
                    "compact frame: malformed list or nested message at byte {at}"
                )
            }
            CompactError::TooManyFields => f.write_str("more fields than this decoder holds"),
            CompactError::ScratchFull => {
                f.write_str("decoded values do not fit the scratch buffer")
            }
        }
    }
}

/// Encodes `fields` as one complete compact frame (COBS-stuffed, CRC, trailing 0x00) into
/// `out`; returns its length. With `keys`, the active key signs (method and index go in the
/// header, the truncated MAC after the body); any `auth` field among `fields` is carried as an
/// ordinary field, neither checked nor replaced.
pub fn encode(
    fields: &[Field<'_>],
    keys: Option<&Keyring>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    write_frame(0, keys, out, |w| {
        let mut prev = 0;
        fields.iter().try_for_each(|f| write_field(f, &mut prev, w))
    })
}

/// Decodes one wire frame (the stuffed bytes, with or without the trailing 0x00) in place.
/// `scratch` receives the text of numeric fields: 20 bytes per field are always enough.
pub fn decode<'a, const N: usize>(
    wire: &'a mut [u8],
    scratch: &'a mut [u8],
) -> Result<CompactPacket<'a, N>, CompactError> {
    Frame::unstuff(wire)?.decode(scratch)
}

/// A decoded frame: the message and, if the frame is signed, its authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactPacket<'a, const N: usize = DEFAULT_FIELDS> {
    pub msg: Message<'a, N>,
    pub auth: Option<FrameAuth<'a>>,
}

impl<const N: usize> CompactPacket<'_, N> {
    /// Authenticates the frame; returns the key index that verified (see [`FrameAuth::verify`]).
    pub fn verify<const K: usize>(&self, keys: &Keyring<K>) -> Result<u8, AuthError> {
        self.auth.ok_or(AuthError::Missing)?.verify(keys)
    }
}
