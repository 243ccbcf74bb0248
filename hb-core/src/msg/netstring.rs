//! The netstring encoding: `###\n`, one `L:(t)name=value,` netstring per field, `%%%\n`, then
//! on authenticated messages an auth netstring `L:<N> <digest>,` (wire spec §1.3, §2.3). This is
//! what heartbeat 3.0.6 sends on every UDP medium.

// netstring ↔ classic is inherent to 3.0.6's format: see the note in `classic.rs`.
use super::{
    check_name, classic, list_is_valid, CountSink, DecodeError, EncodeError, Field, FieldType,
    Message, Sink, MAX_DEPTH,
};
use crate::auth::Keyring;

pub const START: &[u8] = b"###\n";
pub const END: &[u8] = b"%%%\n";

/// Splits one netstring `L:payload,` off the start of `bytes`: the payload and the bytes used.
/// Stricter than GLUE's `peel_netstring` (which counts any byte below `'0'` as a digit): the
/// length is 1–7 decimal digits, enough for `MAXMSG`.
pub fn peel(bytes: &[u8]) -> Result<(&[u8], usize), DecodeError> {
    let digits = bytes.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 7 || bytes.get(digits) != Some(&b':') {
        return Err(DecodeError::BadLength { at: 0 });
    }
    let len =
        super::parse_decimal(&bytes[..digits]).ok_or(DecodeError::BadLength { at: 0 })? as usize;
    let start = digits + 1;
    let payload = bytes
        .get(start..start + len)
        .ok_or(DecodeError::BadLength { at: 0 })?;
    if bytes.get(start + len) != Some(&b',') {
        return Err(DecodeError::MissingComma { at: start + len });
    }
    Ok((payload, start + len + 1))
}

/// Visits every field of the netstring message at the start of `input`; returns the offset just
/// past `%%%\n`. Nested messages are checked recursively (they must be complete messages).
fn walk<'a>(
    input: &'a [u8],
    depth: usize,
    visit: &mut dyn FnMut(Field<'a>) -> Result<(), DecodeError>,
) -> Result<usize, DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    if !input.starts_with(START) {
        return Err(DecodeError::UnknownFormat);
    }
    let mut pos = START.len();
    loop {
        let rest = input.get(pos..).unwrap_or_default();
        if rest.starts_with(END) {
            return Ok(pos + END.len());
        }
        if rest.is_empty() {
            return Err(DecodeError::Truncated);
        }
        let (payload, used) = peel(rest).map_err(|e| shift(e, pos))?;
        let payload_at = pos + (used - payload.len() - 1);
        visit(field(payload, payload_at, depth)?)?;
        pos += used;
    }
}

fn shift(e: DecodeError, by: usize) -> DecodeError {
    match e {
        DecodeError::BadLength { at } => DecodeError::BadLength { at: at + by },
        DecodeError::MissingComma { at } => DecodeError::MissingComma { at: at + by },
        e => e,
    }
}

fn field(payload: &[u8], at: usize, depth: usize) -> Result<Field<'_>, DecodeError> {
    let [b'(', d, b')', body @ ..] = payload else {
        return Err(DecodeError::BadType { at });
    };
    let ty = FieldType::from_digit(*d).ok_or(DecodeError::BadType { at })?;
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
    let (name, value) = (&body[..eq], &body[eq + 1..]);
    let value_at = at + 3 + eq + 1;
    match ty {
        FieldType::List if !list_is_valid(value) => {
            return Err(DecodeError::BadList { at: value_at })
        }
        FieldType::Struct | FieldType::Uncompress => {
            let used = walk(value, depth + 1, &mut |_| Ok(()))?;
            if used != value.len() {
                return Err(DecodeError::BadType { at: value_at });
            }
        }
        _ => {}
    }
    Ok(Field { name, ty, value })
}

/// Decodes the netstring message at the start of `input` (no trailer handling); returns it and
/// the offset just past `%%%\n`. Values borrow `input`: nothing needs unescaping.
pub fn decode<'a, const N: usize>(input: &'a [u8]) -> Result<(Message<'a, N>, usize), DecodeError> {
    decode_nested(input, 0)
}

pub(crate) fn decode_nested<'a, const N: usize>(
    input: &'a [u8],
    depth: usize,
) -> Result<(Message<'a, N>, usize), DecodeError> {
    let mut msg = Message::new();
    let used = walk(input, depth, &mut |f| {
        msg.push(f).map_err(|_| DecodeError::TooManyFields)
    })?;
    Ok((msg, used))
}

/// The auth netstring after `%%%\n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer<'a> {
    /// `###\n` … `%%%\n`: the bytes the trailer digest covers.
    pub signed: &'a [u8],
    /// `"<N> <digest>"`.
    pub auth: &'a [u8],
}

/// Reads the auth trailer that follows a message which ended at `end`.
pub fn trailer(input: &[u8], end: usize) -> Result<Option<Trailer<'_>>, DecodeError> {
    let rest = input.get(end..).unwrap_or_default();
    // A classic-era receiver appends a NUL to what it read; treat that as "nothing follows".
    if rest.iter().all(|&c| c == 0) {
        return Ok(None);
    }
    let (auth, _) = peel(rest).map_err(|_| DecodeError::BadTrailer { at: end })?;
    Ok(Some(Trailer {
        signed: &input[..end],
        auth,
    }))
}

/// Writes `###\n`, the fields, `%%%\n` (a nested value or the signed part of a packet).
pub fn write_message<S: Sink>(fields: &[Field<'_>], out: &mut S) -> Result<(), EncodeError> {
    out.put(START)?;
    for f in fields {
        write_field(f, out)?;
    }
    out.put(END)
}

fn write_field<S: Sink>(f: &Field<'_>, out: &mut S) -> Result<(), EncodeError> {
    check_name(f.name)?;
    match f.ty {
        FieldType::List if !list_is_valid(f.value) => return Err(EncodeError::BadValue),
        FieldType::Struct | FieldType::Uncompress => {
            let used = walk(f.value, 1, &mut |_| Ok(())).map_err(|_| EncodeError::BadValue)?;
            if used != f.value.len() {
                return Err(EncodeError::BadValue);
            }
        }
        _ => {}
    }
    let len = 3 + f.name.len() + 1 + f.value.len();
    write_len(len, out)?;
    out.put(&[b':', b'(', f.ty.digit(), b')'])?;
    out.put(f.name)?;
    out.put(b"=")?;
    out.put(f.value)?;
    out.put(b",")
}

fn write_len<S: Sink>(len: usize, out: &mut S) -> Result<(), EncodeError> {
    let mut buf = [0u8; 20];
    out.put(super::format_decimal(len as u64, &mut buf).as_bytes())
}

/// How a netstring packet is signed.
#[derive(Clone, Copy, Debug)]
pub enum Signing<'k> {
    /// No `auth` field, no trailer: nested messages and tests.
    Unsigned,
    /// Trailer only: `msgfmt netstring`.
    Trailer(&'k Keyring),
    /// The classic `auth` field inside, then the trailer: what 3.0.6 sends with the default
    /// `msgfmt classic`.
    AuthFieldAndTrailer(&'k Keyring),
}

/// Writes a complete netstring packet into `out`; returns its length.
pub fn encode(
    fields: &[Field<'_>],
    signing: Signing<'_>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut sink = super::SliceSink::new(out);
    let keys = match signing {
        Signing::Unsigned => {
            write_message(fields, &mut sink)?;
            return Ok(sink.len());
        }
        Signing::Trailer(keys) => {
            write_message(fields, &mut sink)?;
            keys
        }
        Signing::AuthFieldAndTrailer(keys) => {
            let mut text = [0u8; 3 + crate::auth::MAX_DIGEST_HEX];
            let auth = classic::auth_value(fields, keys, &mut text)?;
            let auth_field = Field {
                name: b"auth",
                ty: FieldType::String,
                value: auth,
            };
            sink.put(START)?;
            let mut placed = false;
            for f in fields {
                if f.name == b"auth" && !placed {
                    write_field(&auth_field, &mut sink)?;
                    placed = true;
                } else {
                    write_field(f, &mut sink)?;
                }
            }
            if !placed {
                write_field(&auth_field, &mut sink)?;
            }
            sink.put(END)?;
            keys
        }
    };
    let signed_len = sink.len();
    let mut h = keys.signer()?;
    h.update(sink.written());
    let digest = h.finish();
    let mut text = [0u8; 3 + crate::auth::MAX_DIGEST_HEX];
    let auth = digest.auth_text(&mut text);
    write_len(auth.len(), &mut sink)?;
    sink.put(b":")?;
    sink.put(auth)?;
    sink.put(b",")?;
    debug_assert!(sink.len() > signed_len);
    Ok(sink.len())
}

/// The length `write_message` would produce.
pub fn encoded_len(fields: &[Field<'_>]) -> Result<usize, EncodeError> {
    let mut c = CountSink::default();
    write_message(fields, &mut c)?;
    Ok(c.0)
}
