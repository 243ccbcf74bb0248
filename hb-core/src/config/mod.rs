//! Parsers for heartbeat's three configuration files: `ha.cf` ([`hacf`]), `haresources`
//! ([`haresources`]) and `authkeys` ([`authkeys`]).
//!
//! Text comes in as `&str` (the daemon reads the file; an appliance without `std` may hold it in
//! flash) and fixed-capacity structs come out, so nothing here allocates. A full table is a
//! reported problem, never a panic.
//!
//! # Problems
//! Every problem is a [`ConfigError`] carrying the [`FileKind`], a 1-based line and column
//! (columns count characters, a tab counts as one) and a message a person can act on. Where
//! heartbeat 3.0.6 prints a specific message we print the same text (without the `heartbeat: `
//! program-name prefix some of them carry on stderr); where heartbeat fails silently we say what
//! is wrong and how to fix it. Messages that name a file, as some of heartbeat's do
//! (`Illegal directive [x] in /etc/ha.d/ha.cf`), name the path heartbeat has compiled in, since
//! that is what heartbeat prints.
//!
//! Parsers do not stop at the first problem: each one is handed to the caller's sink as soon as
//! it is found, so a CLI can list them all. Warnings ([`Severity::Warning`]) are reported the
//! same way but do not make the file invalid. A parser returns `Err(Invalid)` when at least one
//! error was reported. Problems that concern the whole file rather than a line (for example
//! `No heartbeat media defined`) are reported at line 1, column 1.
//!
//! [`ConfigError`]'s `Display` is `LINE:COL: message` (warnings: `LINE:COL: warning: message`);
//! the caller prefixes the path it read.

pub mod authkeys;
pub mod hacf;
pub mod haresources;

pub use authkeys::{AuthEntry, AuthKeys, AuthMethod};
pub use hacf::{AutoFailback, HaCf, Medium};
pub use haresources::{
    parse_ip_spec, HaResources, IpAgent, IpSpec, IpSpecError, Resource, ResourceGroup,
};

use core::fmt::{self, Write as _};

use heapless::{String, Vec};

use crate::time::Duration;

/// Capacity of a [`ConfigError`] message. Quoted words are shortened to [`SHOWN_LEN`] bytes, so
/// real messages fit; a longer one is cut and ends in `...`.
pub const MESSAGE_LEN: usize = 320;

/// Longest quoted word shown in a message, in bytes; longer words end in `...`.
pub const SHOWN_LEN: usize = 64;

/// heartbeat reads every configuration file with `fgets` into a 5120-byte buffer (`MAXLINE`),
/// which silently splits longer lines into several; we refuse them instead.
pub const MAX_LINE_LEN: usize = 5119;

/// Longest node name. Linux limits `uname -n` to 64 bytes (`HOST_NAME_MAX`); heartbeat's own
/// limit (`HOSTLENG`) is 100, which only a name set in `/etc/ha.d/nodeinfo` could reach.
pub const NODE_NAME_LEN: usize = 64;

/// A lowercased node name (heartbeat compares node names lowercased everywhere).
pub type NodeName = String<NODE_NAME_LEN>;

/// Which configuration file a problem was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FileKind {
    HaCf,
    HaResources,
    AuthKeys,
}

impl FileKind {
    /// The path heartbeat reads this file from. heartbeat's messages name these fixed paths
    /// (`Illegal directive [x] in /etc/ha.d/ha.cf`), and so do ours.
    pub const fn default_path(self) -> &'static str {
        match self {
            FileKind::HaCf => "/etc/ha.d/ha.cf",
            FileKind::HaResources => "/etc/ha.d/haresources",
            FileKind::AuthKeys => "/etc/ha.d/authkeys",
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            FileKind::HaCf => "ha.cf",
            FileKind::HaResources => "haresources",
            FileKind::AuthKeys => "authkeys",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Severity {
    /// The file is invalid; heartbeat would refuse to start.
    Error,
    /// Worth fixing, but the file is still accepted.
    Warning,
}

/// A place in a file: 1-based line and 1-based column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    /// Where problems about the file as a whole are reported.
    pub const FILE: Pos = Pos { line: 1, column: 1 };

    pub const fn new(line: u32, column: u32) -> Self {
        Pos { line, column }
    }
}

/// A value together with where it was written, so that the daemon can report problems it finds
/// later (an interface that does not exist, a command that is not executable) at the right line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub at: Pos,
}

/// One problem (error or warning) found in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    file: FileKind,
    severity: Severity,
    at: Pos,
    message: String<MESSAGE_LEN>,
}

impl ConfigError {
    /// Public so that the daemon can report what only it can check (does the interface exist?
    /// is the command executable?) in the same form, at the [`Located`] position.
    pub fn error(file: FileKind, at: Pos, message: fmt::Arguments<'_>) -> Self {
        Self::new(file, Severity::Error, at, message)
    }

    pub fn warning(file: FileKind, at: Pos, message: fmt::Arguments<'_>) -> Self {
        Self::new(file, Severity::Warning, at, message)
    }

    fn new(file: FileKind, severity: Severity, at: Pos, message: fmt::Arguments<'_>) -> Self {
        let mut text = String::new();
        let mut w = Bounded {
            buf: &mut text,
            full: false,
        };
        // Bounded never fails; a message that does not fit is cut and marked below.
        let _ = w.write_fmt(message);
        if w.full {
            while text.len() + 3 > MESSAGE_LEN {
                text.pop();
            }
            let _ = text.push_str("...");
        }
        ConfigError {
            file,
            severity,
            at,
            message: text,
        }
    }

    pub fn file(&self) -> FileKind {
        self.file
    }
    pub fn severity(&self) -> Severity {
        self.severity
    }
    pub fn is_warning(&self) -> bool {
        self.severity == Severity::Warning
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
    pub fn line(&self) -> u32 {
        self.at.line
    }
    pub fn column(&self) -> u32 {
        self.at.column
    }
    pub fn pos(&self) -> Pos {
        self.at
    }
    /// The message alone, without position or severity.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.at.line, self.at.column)?;
        if self.is_warning() {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}

/// A parser's verdict when it reported at least one error (the errors themselves went to the
/// caller's sink).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Invalid {
    errors: usize,
}

impl Invalid {
    pub fn errors(&self) -> usize {
        self.errors
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.errors == 1 { "" } else { "s" };
        write!(f, "configuration error: {} problem{s} found", self.errors)
    }
}

/// A ready-made sink that keeps the first `N` problems and counts the rest, for callers that
/// want a list rather than a callback: `HaCf::parse(text, &mut |e| diags.push(e))`.
#[derive(Debug, Default)]
pub struct Diagnostics<const N: usize> {
    list: Vec<ConfigError, N>,
    dropped: usize,
    errors: usize,
    warnings: usize,
}

impl<const N: usize> Diagnostics<N> {
    pub const fn new() -> Self {
        Diagnostics {
            list: Vec::new(),
            dropped: 0,
            errors: 0,
            warnings: 0,
        }
    }

    pub fn push(&mut self, e: ConfigError) {
        if e.is_warning() {
            self.warnings += 1;
        } else {
            self.errors += 1;
        }
        if self.list.push(e).is_err() {
            self.dropped += 1;
        }
    }

    /// The kept problems, in the order they were found.
    pub fn as_slice(&self) -> &[ConfigError] {
        &self.list
    }
    pub fn iter(&self) -> core::slice::Iter<'_, ConfigError> {
        self.list.iter()
    }
    /// All errors seen, including dropped ones.
    pub fn errors(&self) -> usize {
        self.errors
    }
    /// All warnings seen, including dropped ones.
    pub fn warnings(&self) -> usize {
        self.warnings
    }
    /// How many problems did not fit; a CLI should say "and N more".
    pub fn dropped(&self) -> usize {
        self.dropped
    }
}

// ---------------------------------------------------------------------------------------------
// Values shared by the three files.

/// Why a time value was refused (see [`parse_msec`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TimeError {
    Syntax,
    TooLarge,
}

/// What to tell a person whose time value was refused.
pub(crate) const TIME_HINT: &str =
    "use a number of seconds, or a number with an ms suffix such as 500ms";

/// A time value as heartbeat's `cl_get_msec` reads it: a bare number is seconds, `ms`/`msec`
/// milliseconds, `us`/`usec` microseconds (suffixes case-insensitive, glued to the number);
/// decimals allowed; rounded half-up to whole milliseconds (`1.5` is 1500 ms, `0.4ms` is 0).
///
/// Stricter than `cl_get_msec` where it accepts typos: a second decimal point (`1.2.3`, which
/// `atof` reads as 1.2), a number without digits (`.`) and suffixes that merely start with `ms`
/// or `us` (`msfoo`) are refused. Exact decimal arithmetic is used instead of `double`, so
/// halves always round up.
pub fn parse_msec(word: &str) -> Result<Duration, TimeError> {
    let numeric_len = word
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(word.len());
    let (number, unit) = word.split_at(numeric_len);
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return Err(TimeError::Syntax);
    }
    // Decimal exponent that turns the written unit into milliseconds.
    let exponent: i8 = if unit.is_empty() {
        3
    } else if unit.eq_ignore_ascii_case("ms") || unit.eq_ignore_ascii_case("msec") {
        0
    } else if unit.eq_ignore_ascii_case("us") || unit.eq_ignore_ascii_case("usec") {
        -3
    } else {
        return Err(TimeError::Syntax);
    };
    // The integer part holds only digits here, so the only way to fail is overflow.
    let int = if int_part.is_empty() {
        0
    } else {
        parse_decimal(int_part).ok_or(TimeError::TooLarge)?
    };
    let frac = frac_part.as_bytes();
    let digit = |i: usize| frac.get(i).map_or(0, |d| u64::from(d.wrapping_sub(b'0')));
    let (ms, round_up) = match exponent {
        3 => {
            let whole = int.checked_mul(1000).ok_or(TimeError::TooLarge)?;
            let frac_ms = digit(0) * 100 + digit(1) * 10 + digit(2);
            (
                whole.checked_add(frac_ms).ok_or(TimeError::TooLarge)?,
                digit(3) >= 5,
            )
        }
        0 => (int, digit(0) >= 5),
        // The fraction of a microsecond can never lift x.499 ms to x.5 ms.
        _ => (int / 1000, int % 1000 >= 500),
    };
    let ms = ms
        .checked_add(u64::from(round_up))
        .ok_or(TimeError::TooLarge)?;
    Ok(Duration::from_millis(ms))
}

/// A boolean as `cl_str_to_boolean` reads it (case-insensitive).
pub fn parse_bool(word: &str) -> Option<bool> {
    const TRUE: [&str; 5] = ["true", "on", "yes", "y", "1"];
    const FALSE: [&str; 5] = ["false", "off", "no", "n", "0"];
    if TRUE.iter().any(|t| word.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|t| word.eq_ignore_ascii_case(t)) {
        Some(false)
    } else {
        None
    }
}

/// What to tell a person whose boolean was refused.
pub(crate) const BOOL_HINT: &str = "use on or off (yes/no, true/false, y/n and 1/0 also work)";

/// An IPv4 address in dotted-quad form, as `inet_pton` accepts it: exactly four decimal parts,
/// each 0..=255, no leading zeros.
pub fn parse_ipv4(word: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = word.split('.');
    for slot in out.iter_mut() {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.starts_with('0')) {
            return None;
        }
        *slot = u8::try_from(parse_decimal(part)?).ok()?;
    }
    match parts.next() {
        Some(_) => None,
        None => Some(out),
    }
}

/// Plain decimal digits only (no sign, no blanks), checked for overflow. `atoi` would accept
/// `694abc` as 694; a typo like that deserves a message instead.
pub(crate) fn parse_decimal(word: &str) -> Option<u64> {
    if word.is_empty() {
        return None;
    }
    word.bytes().try_fold(0u64, |acc, b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Copy into a fixed-capacity string; `None` if it does not fit.
pub(crate) fn bounded<const N: usize>(s: &str) -> Option<String<N>> {
    let mut out = String::new();
    out.push_str(s).ok()?;
    Some(out)
}

/// ASCII-lowercased copy (heartbeat lowercases node names with `g_strdown`, ASCII only).
pub(crate) fn lowercase<const N: usize>(s: &str) -> Option<String<N>> {
    let mut out: String<N> = bounded(s)?;
    out.make_ascii_lowercase();
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Reporting.

/// Hands problems to the caller's sink and counts errors.
pub(crate) struct Reporter<'s> {
    file: FileKind,
    sink: &'s mut dyn FnMut(ConfigError),
    errors: usize,
}

impl<'s> Reporter<'s> {
    pub(crate) fn new(file: FileKind, sink: &'s mut dyn FnMut(ConfigError)) -> Self {
        Reporter {
            file,
            sink,
            errors: 0,
        }
    }

    pub(crate) fn error(&mut self, at: Pos, message: fmt::Arguments<'_>) {
        self.errors = self.errors.saturating_add(1);
        (self.sink)(ConfigError::error(self.file, at, message));
    }

    pub(crate) fn warning(&mut self, at: Pos, message: fmt::Arguments<'_>) {
        (self.sink)(ConfigError::warning(self.file, at, message));
    }

    /// For parsers that cannot build a value once an error was reported.
    pub(crate) fn invalid(&self) -> Invalid {
        Invalid {
            errors: self.errors.max(1),
        }
    }

    pub(crate) fn verdict<T>(&self, value: T) -> Result<T, Invalid> {
        if self.errors == 0 {
            Ok(value)
        } else {
            Err(Invalid {
                errors: self.errors,
            })
        }
    }
}

/// A word from the file as shown inside a message: at most [`SHOWN_LEN`] bytes, control
/// characters escaped, so that a hostile or binary file cannot flood or garble a terminal.
#[derive(Clone, Copy)]
pub(crate) struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut used = 0;
        for c in self.0.chars() {
            if used + c.len_utf8() > SHOWN_LEN {
                return f.write_str("...");
            }
            used += c.len_utf8();
            if c.is_control() {
                for e in c.escape_default() {
                    f.write_char(e)?;
                }
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// A `fmt::Write` into a fixed-capacity string that drops what does not fit instead of failing.
struct Bounded<'a, const N: usize> {
    buf: &'a mut String<N>,
    full: bool,
}

impl<const N: usize> fmt::Write for Bounded<'_, N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.full {
            return Ok(());
        }
        // Whole pieces at once: errors are formatted for every bad line of a file.
        if self.buf.push_str(s).is_ok() {
            return Ok(());
        }
        for c in s.chars() {
            if self.buf.push(c).is_err() {
                self.full = true;
                break;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Lexing.

/// heartbeat's `WHITESPACE`.
pub(crate) const WHITESPACE: &[char] = &[' ', '\t', '\n', '\r', '\x0c'];
/// heartbeat's `DELIMS`: option values are separated by commas too.
pub(crate) const DELIMS: &[char] = &[',', ' ', '\t', '\n', '\r', '\x0c'];

/// Physical lines with their 1-based numbers. A final line without `\n` counts too.
pub(crate) fn physical_lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    text.split('\n').enumerate().map(|(i, line)| {
        (
            u32::try_from(i).map_or(u32::MAX, |n| n.saturating_add(1)),
            line,
        )
    })
}

/// 1-based character column of a byte offset into a line.
pub(crate) fn column(line: &str, byte_offset: usize) -> u32 {
    let chars = line.get(..byte_offset).map_or(0, |p| p.chars().count());
    u32::try_from(chars).map_or(u32::MAX, |c| c.saturating_add(1))
}

/// The part of a line heartbeat looks at: a `#` anywhere starts a comment, and a CR ends the
/// line (which also makes CRLF files work).
pub(crate) fn strip_comment(line: &str) -> &str {
    let end = line.find(['#', '\r']).unwrap_or(line.len());
    line.get(..end).unwrap_or("")
}

/// A word of a line and where it starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Word<'a> {
    pub text: &'a str,
    pub at: Pos,
    /// Byte offset just past the word, within its line.
    pub end: usize,
}

/// The words of one physical line, split on a separator set, with their positions.
#[derive(Clone)]
pub(crate) struct Words<'a> {
    line: &'a str,
    line_no: u32,
    offset: usize,
    seps: &'static [char],
}

impl<'a> Words<'a> {
    pub(crate) fn new(line_no: u32, line: &'a str, offset: usize, seps: &'static [char]) -> Self {
        Words {
            line,
            line_no,
            offset,
            seps,
        }
    }

    /// Everything not yet consumed, from its first non-separator character (trailing blanks
    /// removed), with its position; `None` if nothing is left.
    pub(crate) fn rest(&self) -> Option<Word<'a>> {
        let tail = self.line.get(self.offset..)?;
        let skip = tail.find(|c: char| !self.seps.contains(&c))?;
        let start = self.offset + skip;
        let text = self.line.get(start..)?.trim_end_matches(WHITESPACE);
        Some(Word {
            text,
            at: Pos::new(self.line_no, column(self.line, start)),
            end: self.line.len(),
        })
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = Word<'a>;

    fn next(&mut self) -> Option<Word<'a>> {
        let tail = self.line.get(self.offset..)?;
        let Some(skip) = tail.find(|c: char| !self.seps.contains(&c)) else {
            self.offset = self.line.len();
            return None;
        };
        let start = self.offset + skip;
        let word_and_rest = self.line.get(start..)?;
        let len = word_and_rest
            .find(|c: char| self.seps.contains(&c))
            .unwrap_or(word_and_rest.len());
        let end = start + len;
        self.offset = end;
        Some(Word {
            text: word_and_rest.get(..len)?,
            at: Pos::new(self.line_no, column(self.line, start)),
            end,
        })
    }
}

/// A duration as hb's own `env` knobs take it (`HB_FENCE_DELAY`, `HB_MONITOR_INTERVAL`):
/// whole seconds (`5`) or milliseconds (`250ms`).
pub fn env_duration(value: &str) -> Option<Duration> {
    let v = value.trim();
    match v.strip_suffix("ms") {
        Some(ms) => ms.trim().parse().ok().map(Duration::from_millis),
        None => v.parse().ok().map(Duration::from_secs),
    }
}

/// The known name closest to a misspelt one (edit distance at most 2), for "did you mean".
pub fn closest<'n>(word: &str, names: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    let mut best: Option<(usize, &str)> = None;
    for name in names {
        if let Some(d) = typo_distance(word.as_bytes(), name.as_bytes()) {
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, name));
            }
        }
    }
    best.map(|(_, n)| n)
}

/// How many edits a typo may have.
const TYPO_EDITS: usize = 2;

/// The Levenshtein distance of two short words when it is at most [`TYPO_EDITS`], else `None`.
/// Only the cells within `TYPO_EDITS` of the diagonal can lead to such a distance, and a row
/// whose every cell is beyond it ends the search: about 5 cells a letter instead of the whole
/// table. A file of unknown words asks this of every directive name for every line, which was
/// most of what the config_hacf fuzz target spent its time on.
fn typo_distance(a: &[u8], b: &[u8]) -> Option<usize> {
    const MAX: usize = 32;
    const FAR: usize = TYPO_EDITS + 1;
    if a.len() >= MAX || b.len() >= MAX || a.len().abs_diff(b.len()) > TYPO_EDITS {
        return None;
    }
    let mut prev = [FAR; MAX];
    let mut cur = [FAR; MAX];
    for (j, slot) in prev
        .iter_mut()
        .enumerate()
        .take(b.len().min(TYPO_EDITS) + 1)
    {
        *slot = j;
    }
    for (i, &ca) in a.iter().enumerate() {
        let row = i + 1;
        let lo = row.saturating_sub(TYPO_EDITS);
        let hi = (row + TYPO_EDITS).min(b.len());
        cur.fill(FAR);
        cur[0] = row.min(FAR);
        let mut least = cur[0];
        for j in lo.max(1)..=hi {
            let substitute = prev[j - 1] + usize::from(ca != b[j - 1]);
            let v = substitute.min(prev[j] + 1).min(cur[j - 1] + 1).min(FAR);
            cur[j] = v;
            least = least.min(v);
        }
        if least > TYPO_EDITS {
            return None;
        }
        core::mem::swap(&mut prev, &mut cur);
    }
    prev.get(b.len()).copied().filter(|&d| d <= TYPO_EDITS)
}

/// What the three parsers' tests share.
#[cfg(test)]
pub(crate) mod testing {
    extern crate std;

    use super::{ConfigError, FileKind, Invalid};
    use std::string::{String, ToString};
    use std::vec::Vec;

    /// Parses `text`, collecting every problem as `LINE:COL: [warning: ]message`; each must
    /// name `kind` and a real position.
    pub(crate) fn run<T>(
        kind: FileKind,
        text: &str,
        parse: impl FnOnce(&str, &mut dyn FnMut(ConfigError)) -> Result<T, Invalid>,
    ) -> (Result<T, Invalid>, Vec<String>) {
        let mut out = Vec::new();
        let res = parse(text, &mut |e: ConfigError| {
            assert_eq!(e.file(), kind);
            assert!(e.line() >= 1 && e.column() >= 1, "{e}");
            out.push(e.to_string());
        });
        (res, out)
    }

    /// The problems of a file that must be refused; the error count must match them.
    pub(crate) fn refused<T>((res, diags): (Result<T, Invalid>, Vec<String>)) -> Vec<String> {
        let errors = diags.iter().filter(|d| !d.contains(": warning: ")).count();
        assert_eq!(res.err().map(|e| e.errors()), Some(errors), "{diags:#?}");
        diags
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    fn ms(word: &str) -> Result<u64, TimeError> {
        parse_msec(word).map(Duration::as_millis)
    }

    #[test]
    fn time_values_follow_cl_get_msec() {
        assert_eq!(ms("1"), Ok(1000));
        assert_eq!(ms("1.5"), Ok(1500));
        assert_eq!(ms(".5"), Ok(500));
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("500MSEC"), Ok(500));
        assert_eq!(ms("0.4ms"), Ok(0));
        assert_eq!(ms("0.5ms"), Ok(1));
        assert_eq!(ms("1000000us"), Ok(1000));
        assert_eq!(ms("499us"), Ok(0));
        assert_eq!(ms("500usec"), Ok(1));
        assert_eq!(ms("0.0005"), Ok(1));
        assert_eq!(ms("0.0004999"), Ok(0));
        assert_eq!(ms("2s"), Err(TimeError::Syntax));
        assert_eq!(ms("1m"), Err(TimeError::Syntax));
        assert_eq!(ms("ms"), Err(TimeError::Syntax));
        assert_eq!(ms("."), Err(TimeError::Syntax));
        assert_eq!(ms("1.2.3"), Err(TimeError::Syntax));
        assert_eq!(ms("-1"), Err(TimeError::Syntax));
        assert_eq!(ms(""), Err(TimeError::Syntax));
        assert_eq!(ms("99999999999999999999"), Err(TimeError::TooLarge));
        assert_eq!(ms("18446744073709552"), Err(TimeError::TooLarge));
        assert_eq!(ms("18446744073709551.615"), Ok(u64::MAX));
        assert_eq!(ms("18446744073709551.616"), Err(TimeError::TooLarge));
        assert_eq!(ms("18446744073709551615ms"), Ok(u64::MAX));
        assert_eq!(ms("18446744073709551615.5ms"), Err(TimeError::TooLarge));
    }

    #[test]
    fn booleans_follow_cl_str_to_boolean() {
        for t in ["true", "On", "YES", "y", "1"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "off", "No", "N", "0"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_bool(""), None);
    }

    #[test]
    fn ipv4_is_strict_dotted_quad() {
        assert_eq!(parse_ipv4("224.1.2.3"), Some([224, 1, 2, 3]));
        assert_eq!(parse_ipv4("0.0.0.0"), Some([0, 0, 0, 0]));
        for bad in [
            "10.0.0.300",
            "10.0.0",
            "10.0.0.1.2",
            "010.0.0.1",
            "1..2.3",
            "a.b.c.d",
            "",
            "1.2.3.4 ",
        ] {
            assert_eq!(parse_ipv4(bad), None, "{bad}");
        }
    }

    #[test]
    fn words_carry_columns_and_rest() {
        let line = "node\ta, b  c";
        let mut w = Words::new(3, line, 0, WHITESPACE);
        let name = w.next().unwrap();
        assert_eq!((name.text, name.at), ("node", Pos::new(3, 1)));
        let rest: std::vec::Vec<_> = Words::new(3, line, name.end, DELIMS)
            .map(|w| (w.text, w.at.column))
            .collect();
        assert_eq!(rest, [("a", 6), ("b", 9), ("c", 12)]);
        let r = Words::new(3, line, name.end, DELIMS).rest().unwrap();
        assert_eq!((r.text, r.at.column), ("a, b  c", 6));
        // Columns count characters, not bytes.
        let mut u = Words::new(1, "né x", 0, WHITESPACE);
        u.next();
        assert_eq!(u.next().unwrap().at.column, 4);
    }

    #[test]
    fn messages_are_bounded_and_escaped() {
        let long = "x".repeat(1000);
        let e = ConfigError::error(
            FileKind::HaCf,
            Pos::new(2, 5),
            format_args!("bad [{}]", Shown(&long)),
        );
        assert!(e.message().len() < 80, "{}", e.message());
        assert!(e.message().ends_with("...]"));
        let e = ConfigError::warning(
            FileKind::HaCf,
            Pos::new(2, 5),
            format_args!("bad [{}]", Shown("a\u{1b}[2J")),
        );
        assert_eq!(e.to_string(), "2:5: warning: bad [a\\u{1b}[2J]");
        let huge = ConfigError::error(FileKind::HaCf, Pos::FILE, format_args!("{long}"));
        assert_eq!(huge.message().len(), MESSAGE_LEN);
        assert!(huge.message().ends_with("..."));
    }

    #[test]
    fn diagnostics_keep_count_of_what_does_not_fit() {
        let mut d = Diagnostics::<2>::new();
        for i in 0..5 {
            d.push(ConfigError::error(
                FileKind::AuthKeys,
                Pos::new(i, 1),
                format_args!("e"),
            ));
        }
        d.push(ConfigError::warning(
            FileKind::AuthKeys,
            Pos::FILE,
            format_args!("w"),
        ));
        assert_eq!(
            (d.as_slice().len(), d.dropped(), d.errors(), d.warnings()),
            (2, 4, 5, 1)
        );
    }

    #[test]
    fn suggestions_for_typos() {
        let names = ["keepalive", "deadtime", "node"];
        assert_eq!(
            closest("keepalvie", names.iter().copied()),
            Some("keepalive")
        );
        assert_eq!(closest("nod", names.iter().copied()), Some("node"));
        assert_eq!(closest("frobnicate", names.iter().copied()), None);
    }

    /// The whole table, as the banded [`typo_distance`] must agree with where it answers.
    fn full_distance(a: &[u8], b: &[u8]) -> usize {
        let mut prev: std::vec::Vec<usize> = (0..=b.len()).collect();
        for (i, &ca) in a.iter().enumerate() {
            let mut cur = std::vec![i + 1; b.len() + 1];
            for (j, &cb) in b.iter().enumerate() {
                cur[j + 1] = (prev[j] + usize::from(ca != cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    }

    #[test]
    fn the_banded_typo_distance_agrees_with_the_whole_table() {
        // Every pair of words up to 6 letters over a 3-letter alphabet, and some real names.
        let mut words: std::vec::Vec<std::vec::Vec<u8>> = std::vec![std::vec![]];
        let mut frontier = words.clone();
        for _ in 0..6 {
            let mut next = std::vec::Vec::new();
            for w in &frontier {
                for c in [b'a', b'b', b'c'] {
                    let mut v = w.clone();
                    v.push(c);
                    next.push(v);
                }
            }
            words.extend(next.iter().cloned());
            frontier = next;
        }
        for w in [
            "keepalive",
            "keepalvie",
            "deadtime",
            "deadtiem",
            "node",
            "nod",
            "udpport",
        ] {
            words.push(w.as_bytes().to_vec());
        }
        let mut typos = 0;
        for a in words.iter().step_by(3) {
            for b in &words {
                let full = full_distance(a, b);
                let banded = typo_distance(a, b);
                let want = (full <= TYPO_EDITS).then_some(full);
                assert_eq!(banded, want, "{:?} {:?}", a, b);
                typos += usize::from(want.is_some());
            }
        }
        assert!(typos > 1000, "{typos}");
    }
}
