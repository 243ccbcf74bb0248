//! The `ha_msg` model: an ordered list of typed fields, and heartbeat's two encodings of it.
//!
//! A [`Message`] borrows everything: field names and values are slices of the received packet or
//! of a caller-owned scratch buffer, so decoding and encoding allocate nothing. Field order is
//! kept (the digests are computed over it) and duplicate names are allowed; lookups return the
//! first match, as `cl_get_value` does.
//!
//! Value representation, per type (wire spec §1.1):
//! - `String`: the text with real LFs (classic's 0x13 escape already undone).
//! - `Binary`, `Compress`: the raw bytes (classic's base64 already undone).
//! - `List`: the packed `len:item,` bytes, identical in both encodings.
//! - `Struct`, `Uncompress`: the nested message as a complete *netstring* message without an
//!   auth trailer. One canonical form keeps re-encoding in either format free of scratch space.

pub mod classic;
pub mod compact;
pub mod netstring;

use crate::auth::{AuthError, Keyring};
pub(crate) use crate::text::CountSink;
// The text helpers live in a leaf module so that `auth` (which signs with a `Sink` and prints
// key indexes) and the codecs (which sign with `auth`) do not import each other; they stay
// reachable here under their old paths.
pub use crate::text::{
    format_decimal, format_hex, parse_decimal, parse_hex, EncodeError, Sink, SliceSink,
};

/// Fields a message may hold unless the caller chooses another capacity. A 3.0.6 status message
/// has 12, the largest v1 resource messages about 16.
pub const DEFAULT_FIELDS: usize = 32;

/// Nesting limit of struct fields (GLUE's `MAXDEPTH`).
pub const MAX_DEPTH: usize = 16;

/// heartbeat's `MAXMSG`: no wire message may be this long or longer.
pub const MAX_MESSAGE: usize = 262_144;

/// How a steady status (`t=status` with `st=active`) and an ACK (`t=NS_ackmsg`) begin on the
/// wire, classic and netstring: heartbeat 3.0.6 and hb write `t` first and a status's `st`
/// second. A receiver that sets such routine datagrams aside by their first bytes (hb-linux's
/// steady sockets, with kernel socket filters) tests these (`tests/wire_vectors.rs` checks
/// them against 3.0.6's captured traffic).
pub const STEADY_PREFIXES: [&[u8]; 4] = [
    b">>>\nt=status\nst=active\n",
    b"###\n11:(0)t=status,12:(0)st=active,",
    b">>>\nt=NS_ackmsg\n",
    b"###\n14:(0)t=NS_ackmsg,",
];

/// Whether a datagram begins as a steady status or an ACK ([`STEADY_PREFIXES`]).
pub fn is_steady(datagram: &[u8]) -> bool {
    STEADY_PREFIXES.iter().any(|p| datagram.starts_with(p))
}

/// The field types of `enum cl_netstring_type`, with their on-wire digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FieldType {
    String = 0,
    Binary = 1,
    Struct = 2,
    List = 3,
    Compress = 4,
    Uncompress = 5,
}

impl FieldType {
    pub const fn digit(self) -> u8 {
        b'0' + self as u8
    }

    pub const fn from_digit(d: u8) -> Option<FieldType> {
        Some(match d {
            b'0' => FieldType::String,
            b'1' => FieldType::Binary,
            b'2' => FieldType::Struct,
            b'3' => FieldType::List,
            b'4' => FieldType::Compress,
            b'5' => FieldType::Uncompress,
            _ => return None,
        })
    }

    /// Types whose value is a nested message.
    pub const fn is_nested(self) -> bool {
        matches!(self, FieldType::Struct | FieldType::Uncompress)
    }
}

/// One field: name, type, value (see the module docs for what `value` holds per type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub ty: FieldType,
    pub value: &'a [u8],
}

impl<'a> Field<'a> {
    pub const fn string(name: &'a str, value: &'a str) -> Self {
        Field {
            name: name.as_bytes(),
            ty: FieldType::String,
            value: value.as_bytes(),
        }
    }
    pub const fn binary(name: &'a str, value: &'a [u8]) -> Self {
        Field {
            name: name.as_bytes(),
            ty: FieldType::Binary,
            value,
        }
    }
}

/// The wire encodings a receiver tells apart by the first four bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Format {
    /// `>>>\n` … `<<<\n` text: serial lines, old senders, the digest input.
    Classic,
    /// `###\n` … `%%%\n` + auth trailer: what 3.0.6 sends on every UDP medium.
    Netstring,
}

impl Format {
    /// Detects the encoding from the start marker, as `wirefmt2msg_ll` does.
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(classic::START) {
            Some(Format::Classic)
        } else if bytes.starts_with(netstring::START) {
            Some(Format::Netstring)
        } else {
            None
        }
    }
}

/// Why bytes are not a message. Positions are byte offsets into the decoded input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// The input starts with neither `>>>\n` nor `###\n`.
    UnknownFormat,
    /// The end marker (`<<<\n` or `%%%\n`) is missing.
    Truncated,
    /// A classic line has no `=`.
    MissingEquals { at: usize },
    /// An empty field name.
    EmptyName { at: usize },
    /// A field name that could not be written back unambiguously (it holds LF or NUL, or starts
    /// with `(`): refused so that every decoded message re-encodes.
    BadName { at: usize },
    /// A `(t)` prefix that is not one of the six types, or `(0)` in classic text.
    BadType { at: usize },
    /// A netstring length that is not a decimal number, or runs past the end.
    BadLength { at: usize },
    /// A netstring not closed by `,`.
    MissingComma { at: usize },
    /// Invalid base64 in a classic binary field.
    BadBase64 { at: usize },
    /// A packed list that is not `len:item,`…
    BadList { at: usize },
    /// A NUL byte inside classic text.
    Nul { at: usize },
    /// Structs nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// More fields than the message's capacity.
    TooManyFields,
    /// The caller's scratch buffer is too small for the decoded values.
    ScratchFull,
    /// The netstring auth trailer is malformed.
    BadTrailer { at: usize },
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            DecodeError::UnknownFormat => {
                f.write_str("not a heartbeat message (starts with neither >>> nor ###)")
            }
            DecodeError::Truncated => f.write_str("truncated: the end marker is missing"),
            DecodeError::MissingEquals { at } => write!(f, "field without '=' at byte {at}"),
            DecodeError::EmptyName { at } => write!(f, "field with an empty name at byte {at}"),
            DecodeError::BadName { at } => write!(f, "unusable field name at byte {at}"),
            DecodeError::BadType { at } => write!(f, "bad field type prefix at byte {at}"),
            DecodeError::BadLength { at } => write!(f, "bad netstring length at byte {at}"),
            DecodeError::MissingComma { at } => {
                write!(f, "netstring not closed by ',' at byte {at}")
            }
            DecodeError::BadBase64 { at } => write!(f, "invalid base64 at byte {at}"),
            DecodeError::BadList { at } => write!(f, "malformed list value at byte {at}"),
            DecodeError::Nul { at } => write!(f, "NUL byte inside the text at byte {at}"),
            DecodeError::TooDeep => write!(f, "messages nested deeper than {MAX_DEPTH} levels"),
            DecodeError::TooManyFields => f.write_str("more fields than this decoder holds"),
            DecodeError::ScratchFull => f.write_str("decoded values do not fit the scratch buffer"),
            DecodeError::BadTrailer { at } => write!(f, "malformed auth trailer at byte {at}"),
        }
    }
}

/// Full field table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TooManyFields;

/// An ordered list of fields with capacity `N`.
///
/// A plain array rather than `heapless::Vec`: a type without `Drop` lets a decoded message's
/// borrow of the caller's buffers end where it is last used.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a, const N: usize = DEFAULT_FIELDS> {
    fields: [Field<'a>; N],
    len: usize,
}

const EMPTY_FIELD: Field<'static> = Field {
    name: b"",
    ty: FieldType::String,
    value: b"",
};

impl<const N: usize> Default for Message<'_, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PartialEq for Message<'_, N> {
    fn eq(&self, other: &Self) -> bool {
        self.fields() == other.fields()
    }
}

impl<const N: usize> Eq for Message<'_, N> {}

impl<'a, const N: usize> Message<'a, N> {
    pub const fn new() -> Self {
        Message {
            fields: [EMPTY_FIELD; N],
            len: 0,
        }
    }

    pub fn fields(&self) -> &[Field<'a>] {
        &self.fields[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a field (duplicates allowed, as in `ha_msg_add`).
    pub fn push(&mut self, field: Field<'a>) -> Result<(), TooManyFields> {
        let slot = self.fields.get_mut(self.len).ok_or(TooManyFields)?;
        *slot = field;
        self.len += 1;
        Ok(())
    }

    pub fn push_str(&mut self, name: &'a str, value: &'a str) -> Result<(), TooManyFields> {
        self.push(Field::string(name, value))
    }

    /// Replaces the first field with this name in place, or appends it: how heartbeat sets its
    /// control fields, so their position in a forwarded message does not move.
    pub fn set(&mut self, field: Field<'a>) -> Result<(), TooManyFields> {
        match self.fields[..self.len]
            .iter_mut()
            .find(|f| f.name == field.name)
        {
            Some(f) => {
                *f = field;
                Ok(())
            }
            None => self.push(field),
        }
    }

    /// Removes every field with this name, keeping the order of the others.
    pub fn remove(&mut self, name: &str) {
        let mut kept = 0;
        for i in 0..self.len {
            if self.fields[i].name != name.as_bytes() {
                self.fields[kept] = self.fields[i];
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// The first field with this name.
    pub fn get(&self, name: &str) -> Option<&Field<'a>> {
        self.fields().iter().find(|f| f.name == name.as_bytes())
    }

    /// The value of the first string field with this name, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&'a str> {
        self.get(name)
            .filter(|f| f.ty == FieldType::String)
            .and_then(|f| core::str::from_utf8(f.value).ok())
    }

    /// The value of the first field with this name, any type.
    pub fn get_bytes(&self, name: &str) -> Option<&'a [u8]> {
        self.get(name).map(|f| f.value)
    }

    /// A field holding lowercase-or-uppercase hex without `0x` (`seq`, `hg`, `ts`, `dt`,
    /// `ackseq`): heartbeat writes them with `%lx` and reads them with `%lx`.
    pub fn get_hex(&self, name: &str) -> Option<u64> {
        self.get(name)
            .filter(|f| f.ty == FieldType::String)
            .and_then(|f| parse_hex(f.value))
    }

    /// A decimal field (`ttl`, `protocol`, and `NS_rexmit`'s `firstseq`/`lastseq`).
    pub fn get_decimal(&self, name: &str) -> Option<u64> {
        self.get(name)
            .filter(|f| f.ty == FieldType::String)
            .and_then(|f| parse_decimal(f.value))
    }

    /// Whether heartbeat would force this message to netstring (`must_use_netstring`).
    pub fn needs_netstring(&self) -> bool {
        self.fields().iter().any(|f| {
            matches!(
                f.ty,
                FieldType::Struct | FieldType::Compress | FieldType::Uncompress
            )
        })
    }
}

/// A decoded packet: the message, its encoding, and (netstring) its auth trailer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a, const N: usize = DEFAULT_FIELDS> {
    pub msg: Message<'a, N>,
    pub format: Format,
    pub trailer: Option<netstring::Trailer<'a>>,
}

/// Decodes a packet in either encoding, told apart by its first four bytes. `scratch` receives
/// the values classic text stores escaped (base64, 0x13); as long as the input is always enough.
pub fn decode<'a, const N: usize>(
    input: &'a [u8],
    scratch: &'a mut [u8],
) -> Result<Packet<'a, N>, DecodeError> {
    match Format::detect(input).ok_or(DecodeError::UnknownFormat)? {
        Format::Classic => {
            let (msg, _) = classic::decode(input, &mut Scratch::new(scratch))?;
            Ok(Packet {
                msg,
                format: Format::Classic,
                trailer: None,
            })
        }
        Format::Netstring => {
            let (msg, end) = netstring::decode(input)?;
            let trailer = netstring::trailer(input, end)?;
            Ok(Packet {
                msg,
                format: Format::Netstring,
                trailer,
            })
        }
    }
}

impl<const N: usize> Packet<'_, N> {
    /// Authenticates the packet the way a 3.0.6 receiver does for its format: the netstring
    /// trailer over the raw signed bytes, or the classic `auth` field over the re-serialised
    /// fields. Returns the key index that verified.
    pub fn verify(&self, keys: &Keyring) -> Result<u8, AuthError> {
        match self.format {
            Format::Netstring => {
                let t = self.trailer.ok_or(AuthError::Missing)?;
                keys.verify_with(t.auth, |h| h.put(t.signed))
            }
            Format::Classic => {
                let auth = self.msg.get("auth").ok_or(AuthError::Missing)?;
                keys.verify_with(auth.value, |h| {
                    classic::write_digest_input(self.msg.fields(), h)
                })
            }
        }
    }
}

/// Encodes a packet as heartbeat 3.0.6 would send it. With `keys`: classic gets its `auth`
/// field; netstring gets the `auth` field *and* the trailer (the default `msgfmt classic`).
/// Without: the bare message.
pub fn encode(
    fields: &[Field<'_>],
    format: Format,
    keys: Option<&Keyring>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    match format {
        Format::Classic => {
            let mut sink = SliceSink::new(out);
            classic::encode(fields, keys, &mut sink)?;
            Ok(sink.len())
        }
        Format::Netstring => {
            let signing = match keys {
                Some(k) => netstring::Signing::AuthFieldAndTrailer(k),
                None => netstring::Signing::Unsigned,
            };
            netstring::encode(fields, signing, out)
        }
    }
}

/// Checks a packed `len:item,` list as `string_list_unpack` does (no empty items).
pub fn list_items(packed: &[u8]) -> ListItems<'_> {
    ListItems {
        rest: packed,
        failed: false,
    }
}

/// Iterator over a packed list's items; yields `Err` once and stops on malformed input.
#[derive(Debug)]
pub struct ListItems<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for ListItems<'a> {
    type Item = Result<&'a [u8], ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        let item = netstring::peel(self.rest)
            .ok()
            .filter(|(item, _)| !item.is_empty());
        match item {
            Some((item, used)) => {
                self.rest = &self.rest[used..];
                Some(Ok(item))
            }
            None => {
                self.failed = true;
                Some(Err(()))
            }
        }
    }
}

pub(crate) fn list_is_valid(packed: &[u8]) -> bool {
    list_items(packed).all(|r| r.is_ok())
}

/// Hands out pieces of the caller's scratch buffer for decoded values (base64, unescaped text).
#[derive(Debug)]
pub struct Scratch<'a> {
    rest: &'a mut [u8],
}

impl<'a> Scratch<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Scratch { rest: buf }
    }

    /// Takes `len` bytes; the caller fills them and keeps the shared borrow.
    pub(crate) fn take(&mut self, len: usize) -> Result<&'a mut [u8], DecodeError> {
        if len > self.rest.len() {
            return Err(DecodeError::ScratchFull);
        }
        let rest = core::mem::take(&mut self.rest);
        let (head, tail) = rest.split_at_mut(len);
        self.rest = tail;
        Ok(head)
    }

    /// Gives back the unused end of the last `take` (a value decoded shorter than reserved).
    pub(crate) fn take_all(&mut self) -> &'a mut [u8] {
        core::mem::take(&mut self.rest)
    }

    pub(crate) fn restore(&mut self, rest: &'a mut [u8]) {
        self.rest = rest;
    }
}

pub(crate) fn check_name(name: &[u8]) -> Result<(), EncodeError> {
    let bad = name.is_empty()
        || name[0] == b'('
        || name.iter().any(|&c| c == b'=' || c == b'\n' || c == 0);
    if bad {
        Err(EncodeError::BadName)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_in_place_and_get_finds_the_first() {
        let mut m: Message<'_, 8> = Message::new();
        m.push_str("t", "status").unwrap();
        m.push_str("seq", "1").unwrap();
        m.push_str("seq", "2").unwrap();
        m.set(Field::string("t", "NS_ackmsg")).unwrap();
        assert_eq!(m.fields()[0].value, b"NS_ackmsg");
        assert_eq!(m.get_hex("seq"), Some(1));
        m.set(Field::string("ttl", "3")).unwrap();
        assert_eq!(m.fields().last().unwrap().name, b"ttl");
        m.remove("seq");
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn lists_are_checked_like_string_list_unpack() {
        assert!(list_is_valid(b"3:abc,4:defg,"));
        assert!(list_is_valid(b""));
        assert!(!list_is_valid(b"0:,"));
        assert!(!list_is_valid(b"3:ab,"));
        assert!(!list_is_valid(b"x"));
    }
}
