//! Value parsers shared by the directives: times, booleans, numbers, names and paths.

use super::types::{Args, Host, Iface, Path, ARGS_LEN, HOST_LEN, IFACE_LEN, PATH_LEN};
use crate::config::{
    bounded, lowercase, parse_bool, parse_decimal, parse_msec, Reporter, Shown, TimeError, Word,
    Words, BOOL_HINT, TIME_HINT,
};
use crate::time::Duration;

pub(super) fn warn_extra_words(
    r: &mut Reporter<'_>,
    directive: &str,
    d: Shown<'_>,
    words: Words<'_>,
) {
    for w in words {
        r.warning(
            w.at,
            format_args!("{directive} [{d}]: extra word [{}] ignored", Shown(w.text)),
        );
    }
}

pub(super) fn time_value(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<Duration> {
    match parse_msec(w.text) {
        Ok(d) => Some(d),
        Err(TimeError::Syntax) => {
            r.error(
                w.at,
                format_args!(
                    "{directive}: invalid time value [{}] ({TIME_HINT})",
                    Shown(w.text)
                ),
            );
            None
        }
        Err(TimeError::TooLarge) => {
            r.error(
                w.at,
                format_args!("{directive}: time value [{}] is too large", Shown(w.text)),
            );
            None
        }
    }
}

pub(super) fn boolean(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<bool> {
    let b = parse_bool(w.text);
    if b.is_none() {
        r.error(
            w.at,
            format_args!(
                "{directive}: invalid directive value [{}], expected a boolean ({BOOL_HINT})",
                Shown(w.text)
            ),
        );
    }
    b
}

pub(super) fn set_bool(r: &mut Reporter<'_>, directive: &str, w: Word<'_>, slot: &mut bool) {
    if let Some(b) = boolean(r, directive, w) {
        *slot = b;
    }
}

pub(super) fn small_int(v: &str, min: u8, max: u8) -> Option<u8> {
    parse_decimal(v)
        .and_then(|n| u8::try_from(n).ok())
        .filter(|n| (min..=max).contains(n))
}

pub(super) fn positive_u32(v: &str) -> Option<u32> {
    parse_decimal(v)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
}

pub(super) fn port(v: &str) -> Option<u16> {
    parse_decimal(v)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&n| n > 0)
}

pub(super) fn iface(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<Iface> {
    let i = bounded(w.text);
    if i.is_none() {
        r.error(
            w.at,
            format_args!(
                "{directive}: interface name [{}] is too long (at most {IFACE_LEN} bytes)",
                Shown(w.text)
            ),
        );
    }
    i
}

pub(super) fn host(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<Host> {
    let h = bounded(w.text);
    if h.is_none() {
        r.error(
            w.at,
            format_args!(
                "{directive}: [{}] is too long (at most {HOST_LEN} bytes)",
                Shown(w.text)
            ),
        );
    }
    h
}

/// Ping media create nodes, whose names heartbeat lowercases.
pub(super) fn ping_host(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<Host> {
    let h = lowercase(w.text);
    if h.is_none() {
        r.error(
            w.at,
            format_args!(
                "{directive}: host [{}] is too long (at most {HOST_LEN} bytes)",
                Shown(w.text)
            ),
        );
    }
    h
}

pub(super) fn path(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<Path> {
    let p = bounded(w.text);
    if p.is_none() {
        r.error(
            w.at,
            format_args!(
                "{directive}: path [{}] is too long (at most {PATH_LEN} bytes)",
                Shown(w.text)
            ),
        );
    }
    p
}

pub(super) fn args(r: &mut Reporter<'_>, directive: &str, w: Word<'_>) -> Option<Args> {
    let a = bounded(w.text);
    if a.is_none() {
        r.error(
            w.at,
            format_args!("{directive}: arguments too long (at most {ARGS_LEN} bytes)"),
        );
    }
    a
}
