//! Relay frames to and from the wire: the body layout inside the compact framing.

use super::frames::{read_report, Ports, Reader};
use super::*;
use crate::auth::Keyring;
use crate::msg::compact::{self, Frame, FrameAuth, RELAY_CLASS};
use crate::msg::{EncodeError, Sink};

/// Encodes `frame` as one complete wire frame (COBS, trailing 0x00), signed with the active key
/// of `keys`; returns its length. At most [`MAX_FRAME_LEN`] bytes.
pub fn encode<const K: usize>(
    frame: &RelayFrame<'_>,
    keys: &Keyring<K>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    // A bad name is refused before the key is looked for or anything is written, as when
    // the body was built apart first.
    let names_ok = match frame.body {
        Body::Hello { name, .. } | Body::Fence { name, .. } => name_is_valid(name),
        Body::Info(i) => name_is_valid(i.firmware),
        Body::Key { secret, .. } => secret.len() <= MAX_SECRET_LEN,
        Body::Status(s) => s.ports().all(|p| name_is_valid(p.name)),
        _ => true,
    };
    if !names_ok {
        return Err(EncodeError::BadValue);
    }
    let cap = out.len().min(MAX_FRAME_LEN);
    let out = out.get_mut(..cap).unwrap_or_default();
    // The body is written straight into the framing (MAC, CRC, stuffing): a body buffer would
    // be 378 bytes of a relay board's stack.
    compact::seal(RELAY_CLASS, keys, out, |w| put_body(frame, w))
}

fn put_body<S: Sink>(frame: &RelayFrame<'_>, w: &mut S) -> Result<(), EncodeError> {
    w.put(&[frame.body.code()])?;
    w.put(&frame.link.to_le_bytes())?;
    w.put(&frame.counter.to_le_bytes())?;
    match frame.body {
        Body::Hello {
            version,
            session,
            name,
        } => {
            w.put(&[version])?;
            w.put(&session.to_le_bytes())?;
            put_name(w, name)?;
        }
        Body::Pet { timeout_ms } => w.put(&timeout_ms.to_le_bytes())?,
        Body::Fence {
            target,
            action,
            name,
        } => {
            w.put(&[target, action.code()])?;
            put_name(w, name)?;
        }
        Body::StatusRequest | Body::Hang => {}
        Body::Identify {
            version,
            link,
            port,
            ports,
            pulse_ms,
            min_timeout_ms,
            max_timeout_ms,
        } => {
            w.put(&[version])?;
            w.put(&link.to_le_bytes())?;
            w.put(&[port, ports])?;
            for v in [pulse_ms, min_timeout_ms, max_timeout_ms] {
                w.put(&v.to_le_bytes())?;
            }
        }
        Body::PetAck {
            counter,
            timeout_ms,
        } => {
            w.put(&counter.to_le_bytes())?;
            w.put(&timeout_ms.to_le_bytes())?;
        }
        Body::FenceResult {
            counter,
            target,
            action,
            outcome,
        } => {
            w.put(&counter.to_le_bytes())?;
            w.put(&[target, action.code(), outcome.code()])?;
        }
        Body::Status(s) => {
            w.put(&s.uptime_s.to_le_bytes())?;
            let count = u8::try_from(s.len()).map_err(|_| EncodeError::BufferFull)?;
            w.put(&[count])?;
            for p in s.ports() {
                w.put(&[p.flags.0])?;
                let age = p.last_pet_age_ms.map_or(NEVER, |a| a.min(NEVER - 1));
                for v in [p.timeout_ms, age, p.resets, p.fences, p.rejected, p.garbage] {
                    w.put(&v.to_le_bytes())?;
                }
                put_name(w, p.name)?;
            }
        }
        Body::Key {
            session,
            index,
            method,
            secret,
        } => {
            w.put(&session.to_le_bytes())?;
            w.put(&[index, method_code(method), secret.len() as u8])?;
            w.put(secret)?;
        }
        Body::InfoRequest { session } => w.put(&session.to_le_bytes())?,
        Body::KeyResult { outcome, index } => w.put(&[outcome, index])?,
        Body::Info(i) => {
            w.put(&[i.version])?;
            put_name(w, i.firmware)?;
            let method = i.key_method.map_or(0, method_code);
            w.put(&[i.boot_cause, i.key_source, i.key_index, method, i.ports])?;
            w.put(&i.uptime_s.to_le_bytes())?;
        }
    }
    Ok(())
}

/// Writes a name [`encode`] has checked.
fn put_name<S: Sink>(w: &mut S, name: &[u8]) -> Result<(), EncodeError> {
    w.put(&[name.len() as u8])?;
    w.put(name)
}

/// Whether a host name can travel in a relay frame: at most [`MAX_NAME_LEN`] printable ASCII
/// characters without spaces (what `uname -n` gives; empty is allowed).
pub fn name_is_valid(name: &[u8]) -> bool {
    name.len() <= MAX_NAME_LEN && name.iter().all(|c| c.is_ascii_graphic())
}

/// Whether a checked frame is a relay frame (header bit 7) rather than a heartbeat message.
pub fn is_relay_frame(frame: &Frame<'_>) -> bool {
    frame
        .content()
        .first()
        .is_some_and(|h| h & RELAY_CLASS != 0)
}

/// Takes a checked frame as a relay frame: its class and signature header, not yet verified.
pub fn open<'a>(frame: &Frame<'a>) -> Result<Sealed<'a>, RelayError> {
    if !is_relay_frame(frame) {
        return Err(RelayError::NotRelay);
    }
    let auth = frame.class_auth(RELAY_CLASS)?.ok_or(RelayError::Unsigned)?;
    let body = auth.signed.get(1..).unwrap_or_default();
    Ok(Sealed { auth, body })
}

/// Verifies and parses a checked frame: [`open`] then [`Sealed::verify`].
pub fn decode<'a, const K: usize>(
    frame: &Frame<'a>,
    keys: &Keyring<K>,
) -> Result<RelayFrame<'a>, RelayError> {
    open(frame)?.verify(keys)
}

/// A relay frame whose signature has not been checked yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed<'a> {
    pub auth: FrameAuth<'a>,
    body: &'a [u8],
}

impl<'a> Sealed<'a> {
    /// Checks the MAC with `keys` (see [`FrameAuth::verify`]), then parses the fields.
    pub fn verify<const K: usize>(&self, keys: &Keyring<K>) -> Result<RelayFrame<'a>, RelayError> {
        self.auth.verify(keys)?;
        self.parse_unverified()
    }

    /// Parses the fields without checking the MAC: for tools that show frames, never for
    /// acting on them.
    pub fn parse_unverified(&self) -> Result<RelayFrame<'a>, RelayError> {
        parse(self.body)
    }

    /// [`Sealed::parse_unverified`] for a relay, which takes only host → relay types: any other
    /// is [`RelayError::UnknownType`] before its payload is read, and a relay's image carries
    /// no parser for the relay → host payloads (status, identify, …).
    pub fn parse_request(&self) -> Result<RelayFrame<'a>, RelayError> {
        parse_as::<true>(self.body)
    }
}

pub(super) fn parse(bytes: &[u8]) -> Result<RelayFrame<'_>, RelayError> {
    parse_as::<false>(bytes)
}

fn parse_as<const REQUESTS: bool>(bytes: &[u8]) -> Result<RelayFrame<'_>, RelayError> {
    // Offsets in errors count from the start of the content: the header byte is 1 before.
    let mut r = Reader {
        bytes,
        pos: 0,
        base: 1,
    };
    let code = r.u8()?;
    if REQUESTS && code & 0x80 != 0 {
        return Err(RelayError::UnknownType(code));
    }
    let link = r.u64()?;
    let counter = r.u32()?;
    let body = match code {
        HELLO => Body::Hello {
            version: r.u8()?,
            session: r.u64()?,
            name: r.name()?,
        },
        PET => Body::Pet {
            timeout_ms: r.u32()?,
        },
        FENCE => Body::Fence {
            target: r.u8()?,
            action: r.action()?,
            name: r.name()?,
        },
        STATUS_REQUEST => Body::StatusRequest,
        HANG => Body::Hang,
        IDENTIFY => Body::Identify {
            version: r.u8()?,
            link: r.u64()?,
            port: r.u8()?,
            ports: r.u8()?,
            pulse_ms: r.u32()?,
            min_timeout_ms: r.u32()?,
            max_timeout_ms: r.u32()?,
        },
        PET_ACK => Body::PetAck {
            counter: r.u32()?,
            timeout_ms: r.u32()?,
        },
        FENCE_RESULT => Body::FenceResult {
            counter: r.u32()?,
            target: r.u8()?,
            action: r.action()?,
            outcome: {
                let at = r.at();
                FenceOutcome::from_code(r.u8()?).ok_or(RelayError::Malformed { at })?
            },
        },
        STATUS => {
            let uptime_s = r.u32()?;
            let count_at = r.at();
            let count = r.u8()?;
            if usize::from(count) > MAX_PORTS {
                return Err(RelayError::Malformed { at: count_at });
            }
            let start = r.pos;
            for _ in 0..count {
                read_report(&mut r)?;
            }
            let reports = bytes.get(start..r.pos).unwrap_or_default();
            Body::Status(Status {
                uptime_s,
                ports: Ports::Wire {
                    bytes: reports,
                    count,
                },
            })
        }
        KEY => Body::Key {
            session: r.u64()?,
            index: r.u8()?,
            method: {
                let at = r.at();
                r.method()?.ok_or(RelayError::Malformed { at })?
            },
            secret: r.secret()?,
        },
        INFO_REQUEST => Body::InfoRequest { session: r.u64()? },
        KEY_RESULT => Body::KeyResult {
            outcome: r.u8()?,
            index: r.u8()?,
        },
        INFO => Body::Info(Info {
            version: r.u8()?,
            firmware: r.name()?,
            boot_cause: r.u8()?,
            key_source: r.u8()?,
            key_index: r.u8()?,
            key_method: r.method()?,
            ports: r.u8()?,
            uptime_s: r.u32()?,
        }),
        other => return Err(RelayError::UnknownType(other)),
    };
    if r.pos != bytes.len() {
        return Err(RelayError::Malformed { at: r.at() });
    }
    Ok(RelayFrame {
        link,
        counter,
        body,
    })
}
