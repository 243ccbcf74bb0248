//! The compact body: fields in order, each coded as the shortest form that gives its value back.

use super::tables::{
    DEC, DELTA, HEX, HEX32, LITERAL_NAME, NAMES, PAIR, PAIRS, RAW, UUID, UUID_LEN, WORD, WORDS,
};
use super::CompactError;
use crate::msg::{
    check_name, format_hex, list_is_valid, netstring, EncodeError, Field, FieldType, Message,
    Scratch, Sink,
};

/// How one field's value is written, chosen by [`choose`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Coded {
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

pub(super) fn write_field<S: Sink>(
    f: &Field<'_>,
    prev: &mut u64,
    w: &mut S,
) -> Result<(), EncodeError> {
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
pub(super) fn choose(f: &Field<'_>, prev: u64) -> Coded {
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
pub(super) fn check_value(ty: FieldType, value: &[u8]) -> Result<(), ()> {
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

pub(super) fn decode_body<'a, const N: usize>(
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
pub(super) fn number_text<'a>(
    v: u64,
    hex: bool,
    scratch: &mut Scratch<'a>,
) -> Result<&'a [u8], CompactError> {
    let mut dec = [0u8; 20];
    let mut hex_buf = [0u8; 16];
    let text = if hex {
        format_hex(v, &mut hex_buf).as_bytes()
    } else {
        crate::text::format_decimal(v, &mut dec).as_bytes()
    };
    let out = scratch
        .take(text.len())
        .map_err(|_| CompactError::ScratchFull)?;
    out.copy_from_slice(text);
    Ok(out)
}

/// A cursor over the body.
pub(super) struct Reader<'a> {
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

pub(super) fn put_varint<S: Sink>(w: &mut S, v: u64) -> Result<(), EncodeError> {
    let mut buf = [0u8; 10];
    let bytes = postcard::to_slice(&v, &mut buf).map_err(|_| EncodeError::BufferFull)?;
    w.put(bytes)
}

/// Bytes of `v` as a postcard varint.
pub(super) fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

pub(super) fn zigzag(d: u64) -> u64 {
    let d = d as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

pub(super) fn unzigzag(z: u64) -> u64 {
    (z >> 1) ^ (z & 1).wrapping_neg()
}

/// The value of text that `%lx` prints back byte for byte: lowercase, no leading zeros.
pub(super) fn canonical_hex(text: &[u8]) -> Option<u64> {
    let v = crate::text::parse_hex(text)?;
    let mut b = [0u8; 16];
    (format_hex(v, &mut b).as_bytes() == text).then_some(v)
}

/// The value of text that `%lu` prints back byte for byte: digits, no leading zeros, ≤ u64::MAX.
pub(super) fn canonical_dec(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || (text.len() > 1 && text[0] == b'0') {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &c| {
        let d = (c as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}
