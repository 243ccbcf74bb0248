//! The classic text encoding: `>>>\n`, one `[(t)]name=value\n` line per field, `<<<\n`
//! (wire spec §1.2). Serial lines carry it, old senders put it on UDP, and it is the input of
//! the classic `auth` digest even when the packet itself is a netstring.

// classic and netstring import each other, and must: 3.0.6's format ties them. A nested
// struct read from classic text is kept in netstring form (the one canonical in-memory form),
// and a netstring packet is signed over its classic text (3.0.6's `auth` digest is always
// computed on the classic encoding). This is the one accepted import circle in hb-core.
use super::netstring;
use super::{
    check_name, list_is_valid, DecodeError, EncodeError, Field, FieldType, Message, Scratch, Sink,
    DEFAULT_FIELDS, MAX_DEPTH,
};
use crate::auth::Keyring;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

pub const START: &[u8] = b">>>\n";
pub const END: &[u8] = b"<<<\n";

/// What an LF inside a string value becomes (`SPECIAL_SYM`).
const NEWLINE_SYM: u8 = 0x13;

/// What the LFs of a nested message at `depth` become (`SPECIAL_SYMS`).
fn depth_sym(depth: usize) -> u8 {
    const SYMS: [u8; MAX_DEPTH] = [
        0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x0f, 0x10, 0x11,
        0x12,
    ];
    SYMS[depth.min(MAX_DEPTH - 1)]
}

/// Decodes one classic message at the start of `input`. Values that need unescaping (0x13,
/// base64, nested messages) are written into `scratch`; the rest borrow `input`. Returns the
/// message and the number of bytes up to and including `<<<\n` (what follows is ignored, as
/// heartbeat ignores it).
pub fn decode<'a, const N: usize>(
    input: &'a [u8],
    scratch: &mut Scratch<'a>,
) -> Result<(Message<'a, N>, usize), DecodeError> {
    decode_at(input, scratch, 0)
}

fn decode_at<'a, const N: usize>(
    input: &'a [u8],
    scratch: &mut Scratch<'a>,
    depth: usize,
) -> Result<(Message<'a, N>, usize), DecodeError> {
    if !input.starts_with(START) {
        return Err(DecodeError::UnknownFormat);
    }
    let mut msg = Message::new();
    let mut pos = START.len();
    loop {
        while input.get(pos) == Some(&b'\n') {
            pos += 1;
        }
        let rest = input.get(pos..).unwrap_or_default();
        if rest.starts_with(END) {
            return Ok((msg, pos + END.len()));
        }
        let line_len = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or(DecodeError::Truncated)?;
        let field = decode_line(&rest[..line_len], pos, scratch, depth)?;
        msg.push(field).map_err(|_| DecodeError::TooManyFields)?;
        pos += line_len + 1;
    }
}

fn decode_line<'a>(
    line: &'a [u8],
    at: usize,
    scratch: &mut Scratch<'a>,
    depth: usize,
) -> Result<Field<'a>, DecodeError> {
    if let Some(nul) = line.iter().position(|&c| c == 0) {
        return Err(DecodeError::Nul { at: at + nul });
    }
    let (ty, body, body_at) = match line {
        [b'(', d, b')', body @ ..] => match FieldType::from_digit(*d) {
            // GLUE rejects a string field written with its prefix ("wrong type").
            Some(FieldType::String) | None => return Err(DecodeError::BadType { at }),
            Some(ty) => (ty, body, at + 3),
        },
        [b'(', ..] => return Err(DecodeError::BadType { at }),
        _ => (FieldType::String, line, at),
    };
    let eq = body
        .iter()
        .position(|&c| c == b'=')
        .ok_or(DecodeError::MissingEquals { at })?;
    if eq == 0 {
        return Err(DecodeError::EmptyName { at });
    }
    if check_name(&body[..eq]).is_err() {
        return Err(DecodeError::BadName { at });
    }
    let (name, text) = (&body[..eq], &body[eq + 1..]);
    let value_at = body_at + eq + 1;
    let value: &'a [u8] = match ty {
        FieldType::String => {
            if text.contains(&NEWLINE_SYM) {
                let out = scratch.take(text.len())?;
                for (o, &c) in out.iter_mut().zip(text) {
                    *o = if c == NEWLINE_SYM { b'\n' } else { c };
                }
                out
            } else {
                text
            }
        }
        FieldType::Binary | FieldType::Compress => {
            // GLUE's decoder wants whole quads; the base64 crate also insists on padding.
            if text.len() % 4 != 0 {
                return Err(DecodeError::BadBase64 { at: value_at });
            }
            let buf = scratch.take_all();
            let n = match BASE64.decode_slice(text, buf) {
                Ok(n) => n,
                Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                    return Err(DecodeError::ScratchFull)
                }
                Err(_) => return Err(DecodeError::BadBase64 { at: value_at }),
            };
            let (used, rest) = buf.split_at_mut(n);
            scratch.restore(rest);
            used
        }
        FieldType::List => {
            if !list_is_valid(text) {
                return Err(DecodeError::BadList { at: value_at });
            }
            text
        }
        FieldType::Struct | FieldType::Uncompress => decode_nested(text, scratch, depth)?,
    };
    Ok(Field { name, ty, value })
}

/// Turns a nested classic message into the canonical netstring form kept in memory.
fn decode_nested<'a>(
    text: &'a [u8],
    scratch: &mut Scratch<'a>,
    depth: usize,
) -> Result<&'a [u8], DecodeError> {
    if depth + 1 >= MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let sym = depth_sym(depth);
    let restored = scratch.take(text.len())?;
    for (o, &c) in restored.iter_mut().zip(text) {
        *o = if c == sym { b'\n' } else { c };
    }
    let restored: &'a [u8] = restored;
    let (inner, used): (Message<'a, DEFAULT_FIELDS>, usize) =
        decode_at(restored, scratch, depth + 1)?;
    if used != restored.len() {
        return Err(DecodeError::BadType { at: 0 });
    }
    let mut count = super::CountSink::default();
    netstring::write_message(inner.fields(), &mut count).map_err(|_| DecodeError::ScratchFull)?;
    let out = scratch.take(count.0)?;
    let mut sink = super::SliceSink::new(out);
    netstring::write_message(inner.fields(), &mut sink).map_err(|_| DecodeError::ScratchFull)?;
    Ok(out)
}

/// Writes the complete classic message. With `keys`, the `auth` field is (re)computed with the
/// active key and written in place of the first `auth` field, or last if there is none
/// (`add_msg_auth`).
pub fn encode<S: Sink>(
    fields: &[Field<'_>],
    keys: Option<&Keyring>,
    out: &mut S,
) -> Result<(), EncodeError> {
    out.put(START)?;
    match keys {
        None => write_fields(fields, 0, false, out)?,
        Some(keys) => {
            let mut text = [0u8; 3 + crate::auth::MAX_DIGEST_HEX];
            let auth = auth_value(fields, keys, &mut text)?;
            write_fields_with_auth(fields, auth, out)?;
        }
    }
    out.put(END)
}

/// Computes `"<N> <digest>"` for the classic `auth` field of these fields.
pub fn auth_value<'t>(
    fields: &[Field<'_>],
    keys: &Keyring,
    text: &'t mut [u8; 3 + crate::auth::MAX_DIGEST_HEX],
) -> Result<&'t [u8], EncodeError> {
    let mut h = keys.signer()?;
    write_digest_input(fields, &mut h)?;
    Ok(h.finish().auth_text(text))
}

/// The classic digest input: every field except those named `auth`, without the markers
/// (`msg2string_buf(..., NOHEAD)`).
pub fn write_digest_input<S: Sink>(fields: &[Field<'_>], out: &mut S) -> Result<(), EncodeError> {
    write_fields(fields, 0, true, out)
}

/// Writes fields, putting `auth` (a string field) in place of the first `auth` or at the end.
pub(crate) fn write_fields_with_auth<S: Sink>(
    fields: &[Field<'_>],
    auth: &[u8],
    out: &mut S,
) -> Result<(), EncodeError> {
    let auth_field = Field {
        name: b"auth",
        ty: FieldType::String,
        value: auth,
    };
    let mut placed = false;
    for f in fields {
        if f.name == b"auth" && !placed {
            write_field(&auth_field, 0, out)?;
            placed = true;
        } else {
            write_field(f, 0, out)?;
        }
    }
    if !placed {
        write_field(&auth_field, 0, out)?;
    }
    Ok(())
}

fn write_fields(
    fields: &[Field<'_>],
    depth: usize,
    skip_auth: bool,
    out: &mut dyn Sink,
) -> Result<(), EncodeError> {
    for f in fields.iter().filter(|f| !(skip_auth && f.name == b"auth")) {
        write_field(f, depth, out)?;
    }
    Ok(())
}

fn write_field(f: &Field<'_>, depth: usize, out: &mut dyn Sink) -> Result<(), EncodeError> {
    check_name(f.name)?;
    if f.ty != FieldType::String {
        out.put(&[b'(', f.ty.digit(), b')'])?;
    }
    out.put(f.name)?;
    out.put(b"=")?;
    match f.ty {
        FieldType::String => {
            // Inside a nested message the depth symbols stand for LF: a string holding one of
            // the enclosing levels' symbols could not be read back (GLUE would misread it too).
            let nested_clash = |c: &u8| (0..depth).any(|d| depth_sym(d) == *c);
            if f.value.contains(&0) || f.value.iter().any(nested_clash) {
                return Err(EncodeError::BadValue);
            }
            for (i, run) in f.value.split(|&c| c == b'\n').enumerate() {
                if i > 0 {
                    out.put(&[NEWLINE_SYM])?;
                }
                out.put(run)?;
            }
        }
        FieldType::Binary | FieldType::Compress => {
            let mut chunk = [0u8; 64];
            for part in f.value.chunks(48) {
                let n = BASE64
                    .encode_slice(part, &mut chunk)
                    .map_err(|_| EncodeError::BadValue)?;
                out.put(&chunk[..n])?;
            }
        }
        FieldType::List => {
            let ok = list_is_valid(f.value) && !f.value.iter().any(|&c| c == b'\n' || c == 0);
            if !ok {
                return Err(EncodeError::BadValue);
            }
            out.put(f.value)?;
        }
        FieldType::Struct | FieldType::Uncompress => {
            if depth + 1 >= MAX_DEPTH {
                return Err(EncodeError::TooDeep);
            }
            let (inner, used): (Message<'_, DEFAULT_FIELDS>, usize) =
                netstring::decode_nested(f.value, depth + 1).map_err(|e| match e {
                    DecodeError::TooManyFields => EncodeError::TooManyFields,
                    DecodeError::TooDeep => EncodeError::TooDeep,
                    _ => EncodeError::BadValue,
                })?;
            if used != f.value.len() {
                return Err(EncodeError::BadValue);
            }
            let mut nested = LfTo {
                inner: out,
                sym: depth_sym(depth),
            };
            nested.put(START)?;
            write_fields(inner.fields(), depth + 1, false, &mut nested)?;
            nested.put(END)?;
        }
    }
    out.put(b"\n")
}

/// Replaces LF by a nested message's depth symbol on the way to the real sink.
struct LfTo<'s> {
    inner: &'s mut dyn Sink,
    sym: u8,
}

impl Sink for LfTo<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        for (i, run) in bytes.split(|&c| c == b'\n').enumerate() {
            if i > 0 {
                self.inner.put(&[self.sym])?;
            }
            self.inner.put(run)?;
        }
        Ok(())
    }
}
