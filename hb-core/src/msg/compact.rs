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

use super::{
    check_name, format_hex, list_is_valid, netstring, EncodeError, Field, FieldType, Message,
    Scratch, Sink, DEFAULT_FIELDS,
};
use crate::auth::{AuthError, Hasher, Keyring, Method, MAX_RAW_DIGEST};
use crc::{Crc, CRC_32_ISCSI};

/// Field names with a one-byte tag; the index is the tag.
pub const NAMES: [&str; 31] = [
    "t",
    "st",
    "dt",
    "protocol",
    "src",
    "srcuuid",
    "seq",
    "hg",
    "ts",
    "ld",
    "ttl",
    "auth",
    "dest",
    "destuuid",
    "ackseq",
    "firstseq",
    "lastseq",
    "rsc_hold",
    "rtype",
    "isstable",
    "info",
    "node",
    "result",
    "nodelist",
    "delnodelist",
    "ipaddr",
    "weown",
    "ok",
    "weight",
    "site",
    "_compressed_payload",
];

/// The tag meaning "the name follows literally".
pub const LITERAL_NAME: u8 = 31;

/// Whole string fields coded in the field byte alone (kind 7); the index is the low 5 bits.
pub const PAIRS: [(&str, &str); 32] = [
    ("t", "status"),
    ("t", "NS_ackmsg"),
    ("t", "resource"),
    ("t", "ask_resources"),
    ("t", "starting"),
    ("t", "reqnodes"),
    ("t", "repnodes"),
    ("t", "NS_rexmit"),
    ("t", "NS_nak_rexmit"),
    ("t", "stonith"),
    ("t", "shutdone"),
    ("t", "hb_takeover"),
    ("t", "ip-request"),
    ("t", "ip-request-resp"),
    ("st", "init"),
    ("st", "up"),
    ("st", "active"),
    ("st", "dead"),
    ("protocol", "1"),
    ("ttl", "2"),
    ("ttl", "3"),
    ("ttl", "4"),
    ("rsc_hold", "none"),
    ("rsc_hold", "local"),
    ("rsc_hold", "foreign"),
    ("rsc_hold", "all"),
    ("rtype", "full"),
    ("isstable", "0"),
    ("isstable", "1"),
    ("info", "me"),
    ("info", "other"),
    ("info", "done"),
];

/// String values coded as one byte after any name (kind 6); the index is that byte.
pub const WORDS: [&str; 48] = [
    "status",
    "NS_ackmsg",
    "resource",
    "ask_resources",
    "starting",
    "reqnodes",
    "repnodes",
    "NS_rexmit",
    "NS_nak_rexmit",
    "stonith",
    "shutdone",
    "hb_takeover",
    "ip-request",
    "ip-request-resp",
    "addnode",
    "delnode",
    "setweight",
    "setsite",
    "init",
    "up",
    "active",
    "dead",
    "none",
    "local",
    "foreign",
    "all",
    "failback",
    "full",
    "me",
    "other",
    "done",
    "standby",
    "shutdown",
    "mach_down",
    "req_our_resources()",
    "yes",
    "no",
    "OK",
    "badhost",
    "bad",
    "n_stnth",
    "unneeded",
    "n/a",
    "zlib",
    "seqno too low",
    "seqno not found",
    "ping",
    "normal",
];

/// The frame CRC: CRC-32C (Castagnoli).
static CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

const CRC_LEN: usize = 4;
const UUID_LEN: usize = 16;
/// Header bit 7: not a message of this format (a relay frame, or a later format).
const FUTURE_FORMAT: u8 = 0x80;
/// Header bit 7 on the relay's own frames ([`crate::relay`]), which share this framing.
pub(crate) const RELAY_CLASS: u8 = FUTURE_FORMAT;

// Field kinds (the 3 high bits of a field byte).
const RAW: u8 = 0;
const HEX: u8 = 1;
const DEC: u8 = 2;
const HEX32: u8 = 3;
const DELTA: u8 = 4;
const UUID: u8 = 5;
const WORD: u8 = 6;
const PAIR: u8 = 7;

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

/// Seals what `body` writes as one frame of class `class` (header bit 7; [`RELAY_CLASS`] for
/// the relay's own frames, see [`crate::relay`]), signed by the active key of `keys`: header,
/// body, MAC, CRC, COBS and the trailing 0x00, exactly as [`encode`] frames a message. The body
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
fn write_frame<const K: usize>(
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

/// Decodes one wire frame (the stuffed bytes, with or without the trailing 0x00) in place.
/// `scratch` receives the text of numeric fields: 20 bytes per field are always enough.
pub fn decode<'a, const N: usize>(
    wire: &'a mut [u8],
    scratch: &'a mut [u8],
) -> Result<CompactPacket<'a, N>, CompactError> {
    Frame::unstuff(wire)?.decode(scratch)
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
/// the first frame after the next 0x00.
pub struct Deframer<const N: usize> {
    buf: [u8; N],
    len: usize,
    overflow: bool,
    stats: DeframerStats,
}

impl<const N: usize> core::fmt::Debug for Deframer<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Deframer")
            .field("capacity", &N)
            .field("len", &self.len)
            .field("overflow", &self.overflow)
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
            buf: [0; N],
            len: 0,
            overflow: false,
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
        self.len = 0;
        self.overflow = false;
    }

    /// Takes one byte; on a delimiter that ends a non-empty frame, returns the frame or why it
    /// was dropped. The frame borrows the buffer until the next call.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame<'_>, CompactError>> {
        let end = self.take(byte)?;
        Some(self.finish(end))
    }

    /// Takes bytes up to and including the first delimiter that completes a frame; returns how
    /// many were consumed and, if a frame completed, the frame or why it was dropped. Call again
    /// with the rest.
    pub fn feed(&mut self, bytes: &[u8]) -> (usize, Option<Result<Frame<'_>, CompactError>>) {
        for (i, &b) in bytes.iter().enumerate() {
            if let Some(end) = self.take(b) {
                return (i + 1, Some(self.finish(end)));
            }
        }
        (bytes.len(), None)
    }

    /// Stores a byte; on a delimiter, returns the frame's length or that it overflowed.
    fn take(&mut self, byte: u8) -> Option<Result<usize, CompactError>> {
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
            return Some(Err(CompactError::Oversize));
        }
        // 0x00 0x00: an empty frame, a sender's flush.
        (len > 0).then_some(Ok(len))
    }

    fn finish(&mut self, end: Result<usize, CompactError>) -> Result<Frame<'_>, CompactError> {
        let stats = &mut self.stats;
        let buf = &mut self.buf;
        let result = end.and_then(|len| {
            let wire = buf.get_mut(..len).ok_or(CompactError::Oversize)?;
            Frame::unstuff(wire)
        });
        match result {
            Ok(_) => stats.frames = stats.frames.wrapping_add(1),
            Err(CompactError::Oversize) => stats.oversize = stats.oversize.wrapping_add(1),
            Err(_) => stats.bad = stats.bad.wrapping_add(1),
        }
        result
    }
}

/// Where [`encode`] writes: COBS stuffing on the way out, the CRC and the MAC alongside.
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

/// How one field's value is written, chosen by [`choose`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coded {
    Raw,
    Hex(u64),
    Dec(u64),
    Hex32(u32),
    /// The zigzagged difference, and the value (the next field's `prev`).
    Delta(u64, u64),
    Uuid,
    Word(u8),
}

impl Coded {
    fn kind(self) -> u8 {
        match self {
            Coded::Raw => RAW,
            Coded::Hex(_) => HEX,
            Coded::Dec(_) => DEC,
            Coded::Hex32(_) => HEX32,
            Coded::Delta(..) => DELTA,
            Coded::Uuid => UUID,
            Coded::Word(_) => WORD,
        }
    }

    /// The number the field carries, for the next delta.
    fn number(self) -> Option<u64> {
        match self {
            Coded::Hex(v) | Coded::Dec(v) | Coded::Delta(_, v) => Some(v),
            Coded::Hex32(v) => Some(u64::from(v)),
            _ => None,
        }
    }
}

fn write_field<S: Sink>(f: &Field<'_>, prev: &mut u64, w: &mut S) -> Result<(), EncodeError> {
    check_name(f.name)?;
    check_value(f.ty, f.value).map_err(|()| EncodeError::BadValue)?;
    if f.ty == FieldType::String {
        if let Some(i) = PAIRS
            .iter()
            .position(|(n, v)| n.as_bytes() == f.name && v.as_bytes() == f.value)
        {
            return w.put(&[PAIR << 5 | i as u8]);
        }
    }
    let coded = choose(f, *prev);
    let tag = NAMES
        .iter()
        .position(|n| n.as_bytes() == f.name)
        .map_or(LITERAL_NAME, |i| i as u8);
    w.put(&[coded.kind() << 5 | tag])?;
    if tag == LITERAL_NAME {
        put_varint(w, f.name.len() as u64)?;
        w.put(f.name)?;
    }
    match coded {
        Coded::Raw => {
            put_varint(w, (f.value.len() as u64) << 3 | f.ty as u64)?;
            w.put(f.value)?;
        }
        Coded::Hex(v) | Coded::Dec(v) | Coded::Delta(v, _) => put_varint(w, v)?,
        Coded::Hex32(v) => w.put(&v.to_le_bytes())?,
        Coded::Uuid => w.put(f.value)?,
        Coded::Word(i) => w.put(&[i])?,
    }
    if let Some(v) = coded.number() {
        *prev = v;
    }
    Ok(())
}

/// The smallest coding that gives back exactly this value: raw unless another is strictly
/// shorter; among equals, the first of word, hex, dec, hex32, delta.
fn choose(f: &Field<'_>, prev: u64) -> Coded {
    let raw_cost = varint_len((f.value.len() as u64) << 3) + f.value.len();
    match f.ty {
        FieldType::Binary if f.value.len() == UUID_LEN => return Coded::Uuid,
        FieldType::String => {}
        _ => return Coded::Raw,
    }
    let mut best = (raw_cost, Coded::Raw);
    let mut consider = |cost: usize, c: Coded| {
        if cost < best.0 {
            best = (cost, c);
        }
    };
    if let Some(i) = WORDS.iter().position(|w| w.as_bytes() == f.value) {
        consider(1, Coded::Word(i as u8));
    }
    let hex = canonical_hex(f.value);
    if let Some(v) = hex {
        consider(varint_len(v), Coded::Hex(v));
    }
    if let Some(v) = canonical_dec(f.value) {
        consider(varint_len(v), Coded::Dec(v));
    }
    if let Some(v) = hex {
        if let Ok(v32) = u32::try_from(v) {
            consider(4, Coded::Hex32(v32));
        }
        let z = zigzag(v.wrapping_sub(prev));
        consider(varint_len(z), Coded::Delta(z, v));
    }
    best.1
}

/// Checks what the netstring encoder checks: lists packed `len:item,`, struct values complete
/// netstring messages (not nested too deeply).
fn check_value(ty: FieldType, value: &[u8]) -> Result<(), ()> {
    match ty {
        FieldType::List if !list_is_valid(value) => Err(()),
        FieldType::Struct | FieldType::Uncompress => {
            // Sizing a one-field netstring message validates the nested value exactly as the
            // netstring encoder does, without writing anything.
            let probe = Field {
                name: b"v",
                ty,
                value,
            };
            netstring::encoded_len(&[probe]).map(|_| ()).map_err(|_| ())
        }
        _ => Ok(()),
    }
}

fn decode_body<'a, const N: usize>(
    content: &'a [u8],
    body_end: usize,
    scratch: &mut Scratch<'a>,
) -> Result<Message<'a, N>, CompactError> {
    let mut r = Reader {
        bytes: content.get(..body_end).unwrap_or_default(),
        pos: 1,
    };
    let mut msg = Message::new();
    let mut prev = 0u64;
    while r.pos < r.bytes.len() {
        let at = r.pos;
        let byte = r.byte()?;
        let (kind, tag) = (byte >> 5, byte & 0x1f);
        let field = if kind == PAIR {
            let (name, value) = PAIRS[usize::from(tag)];
            Field::string(name, value)
        } else {
            let name = if tag == LITERAL_NAME {
                let name_at = r.pos;
                let len = r.len()?;
                let name = r.take(len)?;
                check_name(name).map_err(|_| CompactError::BadName { at: name_at })?;
                name
            } else {
                NAMES
                    .get(usize::from(tag))
                    .ok_or(CompactError::BadCode { at })?
                    .as_bytes()
            };
            let value_at = r.pos;
            let (ty, value, number) = match kind {
                RAW => {
                    let code = r.varint()?;
                    let ty = u8::try_from(code & 7)
                        .ok()
                        .and_then(|d| FieldType::from_digit(b'0' + d))
                        .ok_or(CompactError::BadCode { at: value_at })?;
                    let len = usize::try_from(code >> 3)
                        .map_err(|_| CompactError::Truncated { at: value_at })?;
                    let value = r.take(len)?;
                    check_value(ty, value).map_err(|()| CompactError::BadValue { at: value_at })?;
                    (ty, value, None)
                }
                HEX | DEC | HEX32 | DELTA => {
                    let v = match kind {
                        HEX | DEC => r.varint()?,
                        HEX32 => {
                            let mut b = [0u8; 4];
                            b.copy_from_slice(r.take(4)?);
                            u64::from(u32::from_le_bytes(b))
                        }
                        _ => prev.wrapping_add(unzigzag(r.varint()?)),
                    };
                    let text = number_text(v, kind != DEC, scratch)?;
                    (FieldType::String, text, Some(v))
                }
                UUID => (FieldType::Binary, r.take(UUID_LEN)?, None),
                _ => {
                    // WORD: the only kind left below PAIR.
                    let i = r.byte()?;
                    let word = WORDS
                        .get(usize::from(i))
                        .ok_or(CompactError::BadCode { at: value_at })?;
                    (FieldType::String, word.as_bytes(), None)
                }
            };
            if let Some(v) = number {
                prev = v;
            }
            Field { name, ty, value }
        };
        msg.push(field).map_err(|_| CompactError::TooManyFields)?;
    }
    Ok(msg)
}

/// Writes a number's text (`%lx` or `%lu`) into the scratch buffer.
fn number_text<'a>(v: u64, hex: bool, scratch: &mut Scratch<'a>) -> Result<&'a [u8], CompactError> {
    let mut dec = [0u8; 20];
    let mut hex_buf = [0u8; 16];
    let text = if hex {
        format_hex(v, &mut hex_buf).as_bytes()
    } else {
        super::format_decimal(v, &mut dec).as_bytes()
    };
    let out = scratch
        .take(text.len())
        .map_err(|_| CompactError::ScratchFull)?;
    out.copy_from_slice(text);
    Ok(out)
}

/// A cursor over the body.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, CompactError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or(CompactError::Truncated { at: self.pos })?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], CompactError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(CompactError::Truncated { at: self.pos })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// A postcard varint (unsigned LEB128) `u64`.
    fn varint(&mut self) -> Result<u64, CompactError> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        match postcard::take_from_bytes::<u64>(rest) {
            Ok((v, left)) => {
                self.pos += rest.len() - left.len();
                Ok(v)
            }
            Err(postcard::Error::DeserializeUnexpectedEnd) => {
                Err(CompactError::Truncated { at: self.pos })
            }
            Err(_) => Err(CompactError::BadCode { at: self.pos }),
        }
    }

    fn len(&mut self) -> Result<usize, CompactError> {
        let at = self.pos;
        usize::try_from(self.varint()?).map_err(|_| CompactError::Truncated { at })
    }
}

fn put_varint<S: Sink>(w: &mut S, v: u64) -> Result<(), EncodeError> {
    let mut buf = [0u8; 10];
    let bytes = postcard::to_slice(&v, &mut buf).map_err(|_| EncodeError::BufferFull)?;
    w.put(bytes)
}

/// Bytes of `v` as a postcard varint.
fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

fn zigzag(d: u64) -> u64 {
    let d = d as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> u64 {
    (z >> 1) ^ (z & 1).wrapping_neg()
}

/// The value of text that `%lx` prints back byte for byte: lowercase, no leading zeros.
fn canonical_hex(text: &[u8]) -> Option<u64> {
    let v = super::parse_hex(text)?;
    let mut b = [0u8; 16];
    (format_hex(v, &mut b).as_bytes() == text).then_some(v)
}

/// The value of text that `%lu` prints back byte for byte: digits, no leading zeros, ≤ u64::MAX.
fn canonical_dec(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || (text.len() > 1 && text[0] == b'0') {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &c| {
        let d = (c as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Removes COBS stuffing in place (`stuffed` holds no 0x00); returns the decoded length.
fn unstuff_in_place(stuffed: &mut [u8]) -> Result<usize, CompactError> {
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

const fn method_code(m: Method) -> u8 {
    match m {
        Method::Crc => 1,
        Method::Md5 => 2,
        Method::Sha1 => 3,
        Method::Sha256 => 4,
    }
}

const fn method_from_code(code: u8) -> Option<Method> {
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
fn truncated_mac<'b>(
    h: &mut Hasher,
    method: Method,
    buf: &'b mut [u8; MAX_RAW_DIGEST],
) -> &'b [u8] {
    let n = h.finish_raw(buf);
    buf.get(..mac_len(method).min(n)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::auth::Method;
    use std::println;
    use std::vec::Vec;

    const UUID_BYTES: [u8; 16] = [
        0x9a, 0xb7, 0x14, 0xae, 0x5f, 0x52, 0x4c, 0x19, 0x82, 0x61, 0xad, 0x2d, 0xba, 0x38, 0x60,
        0x38,
    ];

    fn status() -> [Field<'static>; 10] {
        [
            Field::string("t", "status"),
            Field::string("st", "active"),
            Field::string("dt", "7530"),
            Field::string("protocol", "1"),
            Field::string("src", "node1"),
            Field::binary("srcuuid", &UUID_BYTES),
            Field::string("seq", "1f"),
            Field::string("hg", "6b0214a9"),
            Field::string("ts", "6b0214a8"),
            Field::string("ttl", "3"),
        ]
    }

    fn keys(method: Method) -> Keyring {
        let mut k = Keyring::new();
        let key: &[u8] = if method == Method::Crc {
            b""
        } else {
            b"mysecret"
        };
        k.insert(1, method, key).unwrap();
        k.set_active(1).unwrap();
        k
    }

    fn round_trip(fields: &[Field<'_>], keys: Option<&Keyring>) -> usize {
        let mut wire = [0u8; 1024];
        let n = encode(fields, keys, &mut wire).unwrap();
        assert_eq!(wire[n - 1], 0);
        assert!(!wire[..n - 1].contains(&0));
        assert!(looks_like_frame(&wire[..n]));
        let mut scratch = [0u8; 512];
        let p: CompactPacket<'_, 32> = decode(&mut wire[..n], &mut scratch).unwrap();
        assert_eq!(p.msg.fields(), fields);
        if let Some(k) = keys {
            assert_eq!(p.verify(k), Ok(1));
        } else {
            assert_eq!(p.verify(&Keyring::new()), Err(AuthError::Missing));
        }
        n
    }

    #[test]
    fn status_heartbeat_fits_in_64_bytes() {
        let fields = status();
        let unsigned = round_trip(&fields, None);
        println!("compact status, unsigned: {unsigned} bytes");
        let mut sizes = [0; 4];
        for (i, m) in [Method::Crc, Method::Md5, Method::Sha1, Method::Sha256]
            .into_iter()
            .enumerate()
        {
            sizes[i] = round_trip(&fields, Some(&keys(m)));
            println!(
                "compact status, {}: {} bytes on the wire",
                m.name(),
                sizes[i]
            );
        }
        assert_eq!(unsigned, 47);
        assert_eq!(sizes, [51, 59, 59, 63]);
        assert!(sizes[2] <= 64, "sha1 status is {} bytes", sizes[2]);
        // What heartbeat makes of the same message with the same key (module docs).
        let mut out = [0u8; 512];
        let sha1 = keys(Method::Sha1);
        let classic = super::super::encode(
            &fields,
            super::super::Format::Classic,
            Some(&sha1),
            &mut out,
        );
        let netstring = super::super::encode(
            &fields,
            super::super::Format::Netstring,
            Some(&sha1),
            &mut out,
        );
        println!(
            "the same status as heartbeat sends it: classic {classic:?}, netstring {netstring:?}"
        );
        assert_eq!((classic, netstring), (Ok(177), Ok(276)));
    }

    #[test]
    fn status_bytes_match_the_documented_example() {
        let mut wire = [0u8; 128];
        let n = encode(&status(), Some(&keys(Method::Sha1)), &mut wire).unwrap();
        let frame = Frame::unstuff(&mut wire[..n]).unwrap();
        let c = frame.content();
        assert_eq!(c.len(), 53);
        let mut expected: Vec<u8> = Vec::new();
        expected.extend([0x31, 0xe0, 0xf0, 0x42, 0xea, 0x3a, 0xf2]);
        expected.extend([0x04, 0x28]);
        expected.extend(b"node1");
        expected.push(0xa5);
        expected.extend(UUID_BYTES);
        expected.extend([0x26, 0x1f, 0x67, 0xa9, 0x14, 0x02, 0x6b, 0x88, 0x01, 0xf4]);
        assert_eq!(&c[..41], &expected[..]);
        let auth = frame.auth().unwrap().unwrap();
        assert_eq!(
            (auth.method, auth.index, auth.mac.len()),
            (Method::Sha1, 1, 12)
        );
        // The MAC is the first 12 bytes of the full HMAC-SHA1 over header and body.
        let full = keys(Method::Sha1).digest(1, &c[..41]).unwrap();
        let hex: std::string::String = auth.mac.iter().map(|b| std::format!("{b:02x}")).collect();
        assert_eq!(hex, full.as_str()[..24]);
        assert_eq!(&c[41..], auth.mac);
    }

    #[test]
    fn the_mac_is_the_digest_heartbeat_prints_truncated() {
        for method in [Method::Crc, Method::Md5, Method::Sha1, Method::Sha256] {
            let k = keys(method);
            let mut wire = [0u8; 256];
            let n = encode(&status(), Some(&k), &mut wire).unwrap();
            let frame = Frame::unstuff(&mut wire[..n]).unwrap();
            let auth = frame.auth().unwrap().unwrap();
            let text = k.digest(1, auth.signed).unwrap();
            let want: Vec<u8> = if method == Method::Crc {
                // `%lx` text of the CRC-32/CKSUM value, sent as 4 bytes little-endian.
                let v = u32::from_str_radix(text.as_str(), 16).unwrap();
                v.to_le_bytes().to_vec()
            } else {
                (0..mac_len(method))
                    .map(|i| u8::from_str_radix(&text.as_str()[2 * i..2 * i + 2], 16).unwrap())
                    .collect()
            };
            assert_eq!(auth.mac, &want[..], "{method:?}");
            assert_eq!(auth.verify(&k), Ok(1));
        }
    }

    #[test]
    fn crc_is_castagnoli() {
        assert_eq!(CRC32C.checksum(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn numbers_use_short_forms_only_when_they_print_back_exactly() {
        let cases: &[(&str, u8)] = &[
            ("0", HEX),
            ("1f", HEX),
            ("1F", RAW),
            ("01f", RAW),
            ("", RAW),
            ("0x1", RAW),
            ("ffffffffffffffff", DELTA), // −1 from the start value 0
            ("fffffffffffffff", HEX),
            ("10000000000000000", DEC),
            ("1000000000000000a", RAW),
            ("18446744073709551615", DEC),
            ("18446744073709551616", RAW),
            ("6b0214a9", HEX32),
            ("dead", WORD),
            ("007", RAW),
            ("-1", RAW),
        ];
        for &(text, kind) in cases {
            let f = [Field::string("x-num", text)];
            let mut wire = [0u8; 128];
            let n = encode(&f, None, &mut wire).unwrap();
            let frame = Frame::unstuff(&mut wire[..n]).unwrap();
            assert_eq!(frame.content()[1] >> 5, kind, "{text:?}");
            round_trip(&f, None);
        }
        // Deltas follow the previous number, forwards and backwards, across the 64-bit wrap.
        let f = [
            Field::string("seq", "ffffffffffffffff"),
            Field::string("ackseq", "1"),
            Field::string("hg", "fffffffffffffff0"),
            Field::string("ts", "ffffffffffffffe0"),
            Field::string("ttl", "12"),
            Field::string("x", "13"),
        ];
        round_trip(&f, None);
    }

    #[test]
    fn every_table_entry_round_trips_and_the_docs_list_it() {
        let doc = include_str!("compact.rs");
        for (i, name) in NAMES.iter().enumerate() {
            assert!(doc.contains(&std::format!("| {i} | `{name}` |")), "{name}");
            round_trip(&[Field::string(name, "v")], None);
        }
        for (i, (n, v)) in PAIRS.iter().enumerate() {
            assert!(
                doc.contains(&std::format!("| {i} | `{n}={v}` |")),
                "{n}={v}"
            );
            let mut wire = [0u8; 64];
            let len = encode(&[Field::string(n, v)], None, &mut wire).unwrap();
            // header, pair byte, CRC, COBS code, delimiter
            assert_eq!(len, 1 + 1 + 4 + 1 + 1);
        }
        for (i, w) in WORDS.iter().enumerate() {
            assert!(doc.contains(&std::format!("| {i} | `{w}` |")), "{w}");
            assert!(!WORDS[..i].contains(w), "{w} twice");
            round_trip(&[Field::string("x", w)], None);
        }
    }

    #[test]
    fn any_field_round_trips() {
        let nested = b"###\n8:(0)k=v 1,%%%\n";
        let long = [0x55u8; 700];
        let fields = [
            Field::string("x", "a\nb=c"),
            Field {
                name: b"lst",
                ty: FieldType::List,
                value: b"3:abc,1:d,",
            },
            Field {
                name: b"nest",
                ty: FieldType::Struct,
                value: nested,
            },
            Field {
                name: b"u",
                ty: FieldType::Uncompress,
                value: nested,
            },
            Field {
                name: b"z",
                ty: FieldType::Compress,
                value: &[0, 1, 2, 0, 0],
            },
            Field::binary("srcuuid", &[0; 15]),
            Field::binary("destuuid", &[0; 16]),
            Field::binary("big", &long[..254]),
            Field::binary("big", &long[..508]),
            Field::string("t", "status"),
            Field::string("t", "status"),
            Field::string("", "x").with_name(b"\xffname"),
        ];
        round_trip(&fields, Some(&keys(Method::Sha256)));
        round_trip(&[], None);
        round_trip(&[], Some(&keys(Method::Md5)));
        // Lengths around the 254-byte COBS block.
        for len in 240..520 {
            round_trip(&[Field::binary("b", &long[..len])], None);
        }
    }

    trait WithName<'a> {
        fn with_name(self, name: &'a [u8]) -> Self;
    }
    impl<'a> WithName<'a> for Field<'a> {
        fn with_name(mut self, name: &'a [u8]) -> Self {
            self.name = name;
            self
        }
    }

    #[test]
    fn what_heartbeat_cannot_carry_is_refused() {
        let mut out = [0u8; 256];
        for bad in [&b""[..], b"a=b", b"(x", b"a\nb", b"a\0"] {
            let f = [Field::string("x", "v").with_name(bad)];
            assert_eq!(encode(&f, None, &mut out), Err(EncodeError::BadName));
        }
        let list = [Field {
            name: b"l",
            ty: FieldType::List,
            value: b"0:,",
        }];
        assert_eq!(encode(&list, None, &mut out), Err(EncodeError::BadValue));
        let nest = [Field {
            name: b"n",
            ty: FieldType::Struct,
            value: b">>>\nk=v\n<<<\n",
        }];
        assert_eq!(encode(&nest, None, &mut out), Err(EncodeError::BadValue));
        assert_eq!(
            encode(&status(), Some(&Keyring::new()), &mut out),
            Err(EncodeError::NoKey)
        );
        // Every buffer too small is reported, never a panic.
        let full = encode(&status(), Some(&keys(Method::Sha1)), &mut out).unwrap();
        for len in 0..full {
            assert_eq!(
                encode(&status(), Some(&keys(Method::Sha1)), &mut out[..len]),
                Err(EncodeError::BufferFull),
                "{len}"
            );
        }
    }

    #[test]
    fn decoded_literal_names_and_values_are_checked() {
        // header, literal string field "a=b" = "v", no auth
        for (body, err) in [
            (
                &[0x1f, 3, b'a', b'=', b'b', 1 << 3, b'v'][..],
                CompactError::BadName { at: 2 },
            ),
            (&[0x1f, 0, 1 << 3, b'v'], CompactError::BadName { at: 2 }),
            (
                &[0x00, 3 << 3 | 3, b'0', b':', b','],
                CompactError::BadValue { at: 2 },
            ),
            (&[0x00, 6], CompactError::BadCode { at: 2 }),
            (&[0xc0, 200], CompactError::BadCode { at: 2 }),
            (&[0x00, 5 << 3], CompactError::Truncated { at: 3 }),
            (&[0xa5, 1, 2], CompactError::Truncated { at: 2 }),
            (&[0x20, 0x80], CompactError::Truncated { at: 2 }),
            (
                &[
                    0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
                ],
                CompactError::BadCode { at: 2 },
            ),
        ] {
            let wire = &mut [0u8; 64];
            let n = frame_of(0, body, wire);
            let mut scratch = [0u8; 64];
            let r: Result<CompactPacket<'_, 4>, _> = decode(&mut wire[..n], &mut scratch);
            assert_eq!(r.unwrap_err(), err, "{body:x?}");
        }
        // Capacity and scratch limits.
        let wire = &mut [0u8; 64];
        let n = frame_of(0, &[0xe0, 0xe0, 0xe0], wire);
        let r: Result<CompactPacket<'_, 2>, _> = decode(&mut wire[..n], &mut []);
        assert_eq!(r.unwrap_err(), CompactError::TooManyFields);
        let n = frame_of(0, &[0x26, 0x1f], wire);
        let mut one = [0u8; 1];
        let r: Result<CompactPacket<'_, 2>, _> = decode(&mut wire[..n], &mut one);
        assert_eq!(r.unwrap_err(), CompactError::ScratchFull);
        // Headers from the future, unknown methods, a key index without a method.
        for header in [0x80, 0x50, 0x70, 0x05] {
            let n = frame_of(header, &[0xe0; 20], wire);
            let r: Result<CompactPacket<'_, 32>, _> = decode(&mut wire[..n], &mut []);
            assert_eq!(r.unwrap_err(), CompactError::Unsupported, "{header:x}");
        }
        let n = frame_of(0x31, &[0xe0; 3], wire);
        let r: Result<CompactPacket<'_, 32>, _> = decode(&mut wire[..n], &mut []);
        assert_eq!(r.unwrap_err(), CompactError::Truncated { at: 1 });
    }

    /// A frame with any header and body, CRC and stuffing done right.
    fn frame_of(header: u8, body: &[u8], out: &mut [u8]) -> usize {
        let mut content = Vec::from([header]);
        content.extend_from_slice(body);
        content.extend_from_slice(&CRC32C.checksum(&content).to_le_bytes());
        let n = cobs::try_encode(&content, out).unwrap();
        out[n] = 0;
        n + 1
    }

    #[test]
    fn any_flipped_bit_is_caught_by_the_crc_or_the_mac() {
        let k = keys(Method::Sha1);
        let mut good = [0u8; 128];
        let n = encode(&status(), Some(&k), &mut good).unwrap();
        let mut by_crc = 0;
        for i in 0..n {
            for bit in 0..8 {
                let mut wire = good;
                wire[i] ^= 1 << bit;
                let mut scratch = [0u8; 256];
                match decode::<32>(&mut wire[..n], &mut scratch) {
                    Err(_) => by_crc += 1,
                    Ok(p) => assert!(p.verify(&k).is_err(), "byte {i} bit {bit}"),
                }
            }
        }
        println!("{by_crc} of {} bit flips stopped before the MAC", n * 8);
    }

    #[test]
    fn a_forged_frame_with_a_good_crc_fails_the_mac() {
        let k = keys(Method::Sha1);
        let mut wire = [0u8; 128];
        let n = encode(&status(), Some(&k), &mut wire).unwrap();
        let mut content = Vec::from(Frame::unstuff(&mut wire[..n]).unwrap().content());
        content[5] ^= 1; // inside dt
        let mut forged = [0u8; 128];
        let m = frame_of(content[0], &content[1..], &mut forged);
        let mut scratch = [0u8; 256];
        let p: CompactPacket<'_, 32> = decode(&mut forged[..m], &mut scratch).unwrap();
        assert_eq!(p.verify(&k), Err(AuthError::Mismatch { index: 1 }));
    }

    #[test]
    fn wrong_keys_are_refused() {
        let mut wire = [0u8; 128];
        let n = encode(&status(), Some(&keys(Method::Sha1)), &mut wire).unwrap();
        let mut scratch = [0u8; 256];
        let p: CompactPacket<'_, 32> = decode(&mut wire[..n], &mut scratch).unwrap();
        let mut other = Keyring::new();
        other.insert(1, Method::Sha1, b"not-my-secret").unwrap();
        assert_eq!(p.verify(&other), Err(AuthError::Mismatch { index: 1 }));
        let mut md5 = Keyring::new();
        md5.insert(1, Method::Md5, b"mysecret").unwrap();
        assert_eq!(p.verify(&md5), Err(AuthError::Mismatch { index: 1 }));
        let mut crc = Keyring::new();
        crc.insert(1, Method::Crc, b"").unwrap();
        assert_eq!(p.verify(&crc), Err(AuthError::Mismatch { index: 1 }));
        let mut elsewhere = Keyring::new();
        elsewhere.insert(2, Method::Sha1, b"mysecret").unwrap();
        assert_eq!(
            p.verify(&elsewhere),
            Err(AuthError::UnknownKey { index: 1 })
        );
        // Key rotation: every listed key verifies.
        let mut both = keys(Method::Sha1);
        both.insert(2, Method::Sha256, b"new").unwrap();
        both.set_active(2).unwrap();
        assert_eq!(p.verify(&both), Ok(1));
    }

    #[test]
    fn deframer_resynchronises_after_garbage_and_counts() {
        let k = keys(Method::Sha1);
        let mut frame = [0u8; 128];
        let n = encode(&status(), Some(&k), &mut frame).unwrap();
        let frame = &frame[..n];
        let mut stream: Vec<u8> = Vec::new();
        stream.extend([0x13, 0x37, 0xff]); // the tail of something missed
        stream.push(0);
        stream.extend(frame);
        stream.extend([0, 0]); // flushes: ignored
        stream.extend([1, 2, 3, 4, 5, 6, 7]); // noise, then the frame glued on: both lost
        stream.extend(frame);
        stream.extend([0xaa; 300]); // oversize
        stream.push(0);
        stream.extend(frame);
        let mut d: Deframer<128> = Deframer::new();
        let mut got = 0;
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let (used, event) = d.feed(rest);
            rest = &rest[used..];
            if let Some(Ok(f)) = event {
                let mut scratch = [0u8; 128];
                let p: CompactPacket<'_, 16> = f.decode(&mut scratch).unwrap();
                assert_eq!(p.msg.fields(), &status());
                assert_eq!(p.verify(&k), Ok(1));
                got += 1;
            }
        }
        assert_eq!(got, 2);
        assert_eq!(
            d.stats(),
            DeframerStats {
                frames: 2,
                bad: 2,
                oversize: 1
            }
        );
        // Byte by byte, the same.
        let mut d: Deframer<128> = Deframer::new();
        let mut frames = 0;
        for &b in &stream {
            if let Some(Ok(_)) = d.push(b) {
                frames += 1;
            }
        }
        assert_eq!(frames, 2);
        assert_eq!(d.stats().bad, 2);
    }

    #[test]
    fn deframer_limits_are_exact() {
        let mut frame = [0u8; 128];
        let n = encode(&status(), None, &mut frame).unwrap();
        // Exactly the stuffed length fits; one byte less is oversize.
        let mut fits: Deframer<46> = Deframer::new();
        assert_eq!(n - 1, 46);
        assert!(matches!(fits.feed(&frame[..n]), (_, Some(Ok(_)))));
        let mut short: Deframer<45> = Deframer::new();
        assert_eq!(
            short.feed(&frame[..n]).1.map(|r| r.map(|_| ())),
            Some(Err(CompactError::Oversize))
        );
        let mut none: Deframer<0> = Deframer::new();
        assert_eq!(
            none.feed(&frame[..n]).1.map(|r| r.map(|_| ())),
            Some(Err(CompactError::Oversize))
        );
        assert_eq!(none.push(0).map(|r| r.map(|_| ())), None);
    }

    #[test]
    fn heartbeat_packets_do_not_look_like_frames() {
        let classic = b">>>\nt=status\nst=active\n<<<\n";
        let netstring = b"###\n11:(0)t=status,%%%\n";
        assert!(!looks_like_frame(classic));
        assert!(!looks_like_frame(b">>>\nt=status\nst=active\n<<<\n\0"));
        assert!(!looks_like_frame(netstring));
        assert!(!looks_like_frame(b""));
        assert!(!looks_like_frame(b"\0"));
        let mut wire = [0u8; 128];
        let n = encode(&status(), None, &mut wire).unwrap();
        assert!(looks_like_frame(&wire[..n]));
        assert!(looks_like_frame(&wire[..n - 1]));
        wire[3] ^= 4;
        assert!(!looks_like_frame(&wire[..n]));
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic generator; the fuzz target does the real work.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut d: Deframer<64> = Deframer::new();
        for _ in 0..20_000 {
            let len = (next() % 48) as usize;
            let mut wire = [0u8; 48];
            for b in &mut wire[..len] {
                *b = next() as u8;
            }
            let _ = looks_like_frame(&wire[..len]);
            for &b in &wire[..len] {
                if let Some(Ok(f)) = d.push(b) {
                    let _ = f.decode::<8>(&mut [0u8; 64]);
                }
            }
            // Frames with a valid CRC and random content reach the field decoder.
            let body_len = len.min(40);
            let mut framed = [0u8; 64];
            let m = frame_of(wire[0] & 0x7f, &wire[1..body_len.max(1)], &mut framed);
            let mut scratch = [0u8; 64];
            if let Ok(p) = decode::<8>(&mut framed[..m], &mut scratch) {
                let _ = p.verify(&keys(Method::Sha1));
            }
            let _ = decode::<8>(&mut wire[..len], &mut [0u8; 16]);
        }
    }

    #[test]
    fn varint_len_matches_postcard() {
        for v in [0, 1, 127, 128, 16383, 16384, u64::from(u32::MAX), u64::MAX] {
            let mut buf = [0u8; 10];
            assert_eq!(
                postcard::to_slice(&v, &mut buf).unwrap().len(),
                varint_len(v)
            );
        }
        for d in [0u64, 1, u64::MAX, 5, 5u64.wrapping_neg(), 1 << 63] {
            assert_eq!(unzigzag(zigzag(d)), d);
        }
        assert_eq!(zigzag(1u64.wrapping_neg()), 1);
        assert_eq!(zigzag(1), 2);
    }
}
