//! `/etc/ha.d/authkeys` [heartbeat/auth.c: parse_authfile]:
//!
//! ```text
//! auth <N>                 # the index that signs what we send
//! <i> <method> [<key>]     # i in 0..=15; crc (no key), md5, sha1, or our sha256 (key required)
//! ```
//!
//! `#` as the first non-blank character makes a comment; blank lines are ignored. The key is the
//! first blank-free word after the method; anything after it is ignored. The `auth N` line must
//! come *before* entry `N`: heartbeat selects the signing entry when it reads an entry whose
//! index is already named by an `auth` line. Every entry stays loaded: any listed index
//! verifies, the selected one signs (key rotation).
//!
//! Keys are secrets: [`AuthEntry`]'s `Debug` shows only their length, and messages never quote a
//! key line beyond its index and method.
//!
//! The file mode cannot be read here; the daemon passes it to [`AuthKeys::check_mode`].

use core::fmt;

use heapless::Vec;

use super::{ConfigError, FileKind, Invalid, Pos, Reporter, Shown, Words, MAX_LINE_LEN};

/// Longest key, in bytes. heartbeat bounds keys only by its 5120-byte line buffer; HMAC keys
/// longer than the hash block (64 bytes) are hashed first anyway, so 256 loses nothing real.
pub const MAX_KEY_LEN: usize = 256;
/// Highest key index (heartbeat's `MAXAUTH` is 16).
pub const MAX_AUTH_INDEX: u8 = 15;
const AUTH_SLOTS: usize = MAX_AUTH_INDEX as usize + 1;

/// `sscanf`'s `%d%s%s` splits on `isspace`.
const SPACE: &[char] = &[' ', '\t', '\n', '\r', '\x0b', '\x0c'];

/// The methods `authkeys` names are the ones [`crate::auth`] computes.
pub use crate::auth::Method as AuthMethod;

/// One `<i> <method> [<key>]` line.
#[derive(Clone)]
pub struct AuthEntry {
    index: u8,
    method: AuthMethod,
    key: Vec<u8, MAX_KEY_LEN>,
}

impl AuthEntry {
    pub fn index(&self) -> u8 {
        self.index
    }
    pub fn method(&self) -> AuthMethod {
        self.method
    }
    /// The key bytes (empty for `crc`).
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEntry")
            .field("index", &self.index)
            .field("method", &self.method)
            .field("key", &format_args!("<{} bytes redacted>", self.key.len()))
            .finish()
    }
}

/// The parsed key file.
#[derive(Clone, Debug)]
pub struct AuthKeys {
    entries: [Option<AuthEntry>; AUTH_SLOTS],
    active: AuthEntry,
}

impl AuthKeys {
    /// Parse `authkeys`. Every problem goes to `diag` as it is found; the result is `Err` if
    /// any was an error.
    pub fn parse(text: &str, diag: &mut impl FnMut(ConfigError)) -> Result<AuthKeys, Invalid> {
        let mut r = Reporter::new(FileKind::AuthKeys, diag);
        let path = FileKind::AuthKeys.default_path();
        let mut entries: [Option<AuthEntry>; AUTH_SLOTS] = Default::default();
        let mut defined_at: [Option<Pos>; AUTH_SLOTS] = [None; AUTH_SLOTS];
        // A key line whose index was readable but which was refused: its index is not then
        // reported as missing as well.
        let mut refused = [false; AUTH_SLOTS];
        let mut wanted: Option<(i64, Pos)> = None;
        let mut selected: Option<u8> = None;

        for (line_no, raw) in super::physical_lines(text) {
            if raw.len() > MAX_LINE_LEN {
                r.error(
                    Pos::new(line_no, 1),
                    format_args!(
                        "line is {} bytes long; heartbeat reads at most {MAX_LINE_LEN} \
                        bytes per line",
                        raw.len()
                    ),
                );
                continue;
            }
            let mut words = Words::new(line_no, raw, 0, SPACE);
            let Some(first) = words.next() else { continue };
            if first.text.starts_with('#') {
                continue;
            }
            let shown = Redacted(raw);

            if first.text.starts_with('a') {
                let number = if first.text == "auth" {
                    words.next()
                } else {
                    None
                };
                match number.and_then(|n| parse_int(n.text).map(|v| (v, n.at))) {
                    None => r.error(
                        first.at,
                        format_args!("Invalid auth line [{shown}] in {path} (use: auth <index>)"),
                    ),
                    Some((n, at)) => {
                        if wanted.is_some() {
                            r.warning(
                                first.at,
                                format_args!(
                                    "auth line repeated; keep a single \
                                auth line, before the key lines"
                                ),
                            );
                        }
                        wanted = Some((n, at));
                    }
                }
                continue;
            }

            let Some(index) = parse_int(first.text) else {
                r.error(
                    first.at,
                    format_args!("Auth line [{shown}] is invalid. Use: <index> <method> [<key>]"),
                );
                continue;
            };
            let Some(m) = words.next() else {
                r.error(
                    first.at,
                    format_args!("Auth line [{shown}] is invalid. Use: <index> <method> [<key>]"),
                );
                continue;
            };
            let Some(slot) = u8::try_from(index).ok().filter(|i| *i <= MAX_AUTH_INDEX) else {
                r.error(
                    first.at,
                    format_args!("Invalid authnum [{index}] in {path} (use 0 to {MAX_AUTH_INDEX})"),
                );
                continue;
            };
            let i = usize::from(slot);
            let Some(method) = AuthMethod::from_name(m.text) else {
                r.error(
                    m.at,
                    format_args!(
                        "Invalid authtype [{}] (use crc, md5, sha1 or sha256)",
                        Shown(m.text)
                    ),
                );
                mark(&mut refused, i);
                continue;
            };
            let key = match (method.takes_key(), words.next()) {
                (false, Some(k)) => {
                    r.error(
                        k.at,
                        format_args!("Auth method [{}] doesn't use a key", method.name()),
                    );
                    mark(&mut refused, i);
                    continue;
                }
                (true, None) => {
                    r.error(
                        m.at,
                        format_args!("Auth method [{}] requires a key", method.name()),
                    );
                    mark(&mut refused, i);
                    continue;
                }
                (false, None) => Vec::new(),
                (true, Some(k)) => match Vec::from_slice(k.text.as_bytes()) {
                    Ok(key) => key,
                    Err(_) => {
                        r.error(
                            k.at,
                            format_args!(
                                "Auth key [{slot}] is too long ({} bytes; hb supports at most \
                                    {MAX_KEY_LEN})",
                                k.text.len()
                            ),
                        );
                        mark(&mut refused, i);
                        continue;
                    }
                },
            };
            if let Some(Some(earlier)) = defined_at.get(i) {
                r.warning(
                    first.at,
                    format_args!(
                        "Auth key [{slot}] is defined again (first on line {}); this \
                        line replaces it",
                        earlier.line
                    ),
                );
            }
            if let (Some(e), Some(d)) = (entries.get_mut(i), defined_at.get_mut(i)) {
                *e = Some(AuthEntry {
                    index: slot,
                    method,
                    key,
                });
                *d = Some(first.at);
            }
            if wanted.is_some_and(|(n, _)| n == index) {
                selected = Some(slot);
            }
        }

        let Some((want, want_at)) = wanted else {
            r.error(
                Pos::FILE,
                format_args!(
                    "Missing auth directive in keyfile [{path}] (add a line: auth <index>)"
                ),
            );
            return Err(r.invalid());
        };
        let want_slot = usize::try_from(want).ok();
        let already_reported = want_slot
            .and_then(|i| refused.get(i))
            .copied()
            .unwrap_or(false);
        if selected.is_none() && !already_reported {
            let earlier = want_slot.and_then(|i| defined_at.get(i).copied().flatten());
            match earlier {
                Some(at) => r.error(
                    want_at,
                    format_args!(
                        "Auth Key [{want}] not found in keyfile [{path}] (the auth line \
                         must come before key line {want}, which is on line {})",
                        at.line
                    ),
                ),
                None => r.error(
                    want_at,
                    format_args!(
                        "Auth Key [{want}] not found in keyfile [{path}] (add a line: \
                        {want} <method> <key>)"
                    ),
                ),
            }
        }
        let active = selected.and_then(|i| entries.get(usize::from(i)).cloned().flatten());
        match active {
            Some(active) => r.verdict(AuthKeys { entries, active }),
            None => Err(r.invalid()),
        }
    }

    /// The entry that signs what we send (the `auth N` one).
    pub fn active(&self) -> &AuthEntry {
        &self.active
    }

    /// The entry with this index, if listed; any listed entry verifies.
    pub fn get(&self, index: u8) -> Option<&AuthEntry> {
        self.entries
            .get(usize::from(index))
            .and_then(Option::as_ref)
    }

    /// All listed entries, by index.
    pub fn entries(&self) -> impl Iterator<Item = &AuthEntry> {
        self.entries.iter().flatten()
    }

    /// The keys ready to sign and verify: every entry verifies, the active one signs.
    pub fn keyring(&self) -> crate::auth::Keyring {
        let mut ring = crate::auth::Keyring::new();
        for e in self.entries() {
            // The parser enforced what `insert` checks (index range, key present iff needed).
            let _ = ring.insert(e.index(), e.method(), e.key());
        }
        let _ = ring.set_active(self.active.index());
        ring
    }

    /// heartbeat refuses a key file that its group or others can read (`S_IRGRP|S_IROTH`);
    /// nothing else about the mode or owner is checked. `path` is the file the caller read,
    /// named in the message.
    #[allow(clippy::result_large_err)] // no allocator to box it; called once per read
    pub fn check_mode(mode: u32, path: &str) -> Result<(), ConfigError> {
        const GROUP_OR_OTHER_READ: u32 = 0o044;
        if mode & GROUP_OR_OTHER_READ == 0 {
            return Ok(());
        }
        Err(ConfigError::error(
            FileKind::AuthKeys,
            Pos::FILE,
            format_args!(
                "Bad permissions on keyfile [{}], 600 recommended.",
                Shown(path)
            ),
        ))
    }
}

/// `sscanf("%d")` minus its leniencies: an optional sign and digits, nothing after.
fn parse_int(word: &str) -> Option<i64> {
    let (negative, digits) = match word.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, word.strip_prefix('+').unwrap_or(word)),
    };
    let v = i64::try_from(super::parse_decimal(digits)?).ok()?;
    Some(if negative { -v } else { v })
}

/// A key line as shown in a message: its first two words (index and method) only, so that a
/// key never ends up in a log.
struct Redacted<'a>(&'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words = Words::new(0, self.0, 0, SPACE);
        for (i, w) in words.by_ref().take(2).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}", Shown(w.text))?;
        }
        if words.next().is_some() {
            f.write_str(" ...")?;
        }
        Ok(())
    }
}

fn mark(flags: &mut [bool], i: usize) {
    if let Some(f) = flags.get_mut(i) {
        *f = true;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;
    use std::format;
    use std::string::{String as StdString, ToString};
    use std::vec::Vec as StdVec;

    fn run(text: &str) -> (Result<AuthKeys, Invalid>, StdVec<StdString>) {
        crate::config::testing::run(FileKind::AuthKeys, text, |t, d| {
            AuthKeys::parse(t, &mut &mut *d)
        })
    }

    fn ok(text: &str) -> (AuthKeys, StdVec<StdString>) {
        let (res, diags) = run(text);
        match res {
            Ok(k) => (k, diags),
            Err(e) => panic!("{e}: {diags:#?}"),
        }
    }

    fn refused(text: &str) -> StdVec<StdString> {
        crate::config::testing::refused(run(text))
    }

    #[test]
    fn vector_authkeys() {
        let (keys, diags) = ok(include_str!(
            "../../../../shared/vectors/heartbeat-3.0.6/authkeys"
        ));
        assert!(diags.is_empty(), "{diags:?}");
        let a = keys.active();
        assert_eq!(
            (a.index(), a.method(), a.key()),
            (1, AuthMethod::Sha1, &b"hbh-test-key-not-secret"[..])
        );
        assert_eq!(keys.entries().count(), 1);
        assert!(keys.get(0).is_none());
    }

    #[test]
    fn classic_auth_1_sha1() {
        let (keys, _) = ok("auth 1\n1 sha1 key\n");
        assert_eq!(keys.active().key(), b"key");
    }

    #[test]
    fn all_entries_stay_loaded_and_the_named_one_signs() {
        let text = "# keys\r\n\r\n  auth\t2\r\n1 md5 old\r\n2 sha256 new and then some words\r\n3 crc\r\n\t# end\r\n";
        let (keys, diags) = ok(text);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            (
                keys.active().index(),
                keys.active().method(),
                keys.active().key()
            ),
            (2, AuthMethod::Sha256, &b"new"[..])
        );
        assert_eq!(
            keys.get(1).map(|e| (e.method(), e.key())),
            Some((AuthMethod::Md5, &b"old"[..]))
        );
        assert_eq!(
            keys.get(3).map(|e| (e.method(), e.key().len())),
            Some((AuthMethod::Crc, 0))
        );
        assert!(keys.get(4).is_none() && keys.get(200).is_none());
        assert_eq!(
            keys.entries().map(AuthEntry::index).collect::<StdVec<_>>(),
            [1, 2, 3]
        );
        assert!(AuthMethod::Sha256.takes_key() && !AuthMethod::Crc.takes_key());
        let ring = keys.keyring();
        assert_eq!(ring.active(), Some(2));
        let methods: StdVec<_> = (0..16).map(|i| ring.method(i)).collect();
        assert_eq!(
            &methods[..5],
            [
                None,
                Some(AuthMethod::Md5),
                Some(AuthMethod::Sha256),
                Some(AuthMethod::Crc),
                None
            ]
        );
    }

    #[test]
    fn debug_never_shows_a_key() {
        let (keys, _) = ok("auth 1\n1 sha1 sup3rs3cr3t\n2 md5 an0th3r\n");
        let shown = format!("{keys:?} {:?}", keys.active());
        assert!(
            !shown.contains("sup3rs3cr3t") && !shown.contains("an0th3r"),
            "{shown}"
        );
        assert!(shown.contains("<11 bytes redacted>"), "{shown}");
    }

    #[test]
    fn a_later_line_replaces_an_index() {
        let (keys, diags) = ok("auth 1\n1 md5 a\n1 sha1 b\n");
        assert_eq!(
            (keys.active().method(), keys.active().key()),
            (AuthMethod::Sha1, &b"b"[..])
        );
        assert_eq!(diags, ["3:1: warning: Auth key [1] is defined again (first on line 2); this line replaces it"]);
    }

    #[test]
    fn mode_check() {
        for mode in [0o600, 0o400, 0o700, 0o620, 0o602, 0o622, 0o100600] {
            assert_eq!(
                AuthKeys::check_mode(mode, "/etc/ha.d/authkeys"),
                Ok(()),
                "{mode:o}"
            );
        }
        for mode in [0o640, 0o604, 0o644, 0o100644] {
            assert!(
                AuthKeys::check_mode(mode, "/etc/ha.d/authkeys").is_err(),
                "{mode:o}"
            );
        }
    }

    // --- broken files ----------------------------------------------------------------------

    #[test]
    fn broken_bad_permissions() {
        let e = AuthKeys::check_mode(0o644, "/srv/ha/authkeys").unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:1: Bad permissions on keyfile [/srv/ha/authkeys], 600 recommended."
        );
        assert_eq!(e.file(), FileKind::AuthKeys);
    }

    #[test]
    fn broken_auth_line_after_its_key() {
        assert_eq!(
            refused("1 sha1 key\nauth 1\n"),
            ["2:6: Auth Key [1] not found in keyfile [/etc/ha.d/authkeys] (the auth line must come before key line 1, which is on line 1)"]
        );
    }

    #[test]
    fn broken_auth_names_a_missing_key() {
        assert_eq!(
            refused("auth 2\n1 sha1 key\n"),
            ["1:6: Auth Key [2] not found in keyfile [/etc/ha.d/authkeys] (add a line: 2 <method> <key>)"]
        );
    }

    #[test]
    fn broken_crc_with_key() {
        assert_eq!(
            refused("auth 1\n1 crc key\n"),
            ["2:7: Auth method [crc] doesn't use a key"]
        );
    }

    #[test]
    fn broken_sha1_without_key() {
        assert_eq!(
            refused("auth 1\n1 sha1\n"),
            ["2:3: Auth method [sha1] requires a key"]
        );
    }

    #[test]
    fn broken_authnum_out_of_range() {
        assert_eq!(
            refused("auth 1\n16 md5 k\n1 md5 k\n"),
            ["2:1: Invalid authnum [16] in /etc/ha.d/authkeys (use 0 to 15)"]
        );
        assert_eq!(
            refused("auth 1\n1 md5 k\n-1 md5 k\n"),
            ["3:1: Invalid authnum [-1] in /etc/ha.d/authkeys (use 0 to 15)"]
        );
    }

    #[test]
    fn broken_unknown_method() {
        assert_eq!(
            refused("auth 1\n1 rot13 k\n"),
            ["2:3: Invalid authtype [rot13] (use crc, md5, sha1 or sha256)"]
        );
        assert_eq!(
            refused("auth 1\n1 SHA1 k\n"),
            ["2:3: Invalid authtype [SHA1] (use crc, md5, sha1 or sha256)"]
        );
    }

    #[test]
    fn broken_missing_auth_line() {
        assert_eq!(
            refused("1 md5 k\n"),
            ["1:1: Missing auth directive in keyfile [/etc/ha.d/authkeys] (add a line: auth <index>)"]
        );
        assert_eq!(refused("").len(), 1);
    }

    #[test]
    fn broken_garbage_line() {
        // The words after index and method are not shown: they may be a key.
        assert_eq!(
            refused("auth 1\n1 md5 k\nhello world secret\n"),
            ["3:1: Auth line [hello world ...] is invalid. Use: <index> <method> [<key>]"]
        );
        assert_eq!(
            refused("auth 1\n1 md5 k\n7\n"),
            ["3:1: Auth line [7] is invalid. Use: <index> <method> [<key>]"]
        );
    }

    #[test]
    fn broken_auth_line() {
        assert_eq!(
            refused("authenticate 1\n1 md5 k\n"),
            [
                "1:1: Invalid auth line [authenticate 1] in /etc/ha.d/authkeys (use: auth <index>)",
                "1:1: Missing auth directive in keyfile [/etc/ha.d/authkeys] (add a line: auth <index>)",
            ]
        );
        assert_eq!(refused("auth one\n1 md5 k\n").len(), 2);
    }

    #[test]
    fn broken_key_too_long() {
        let key = "k".repeat(MAX_KEY_LEN + 1);
        assert_eq!(
            refused(&format!("auth 3\n3 sha256 {key}\n")),
            ["2:10: Auth key [3] is too long (257 bytes; hb supports at most 256)"]
        );
        let (keys, _) = ok(&format!("auth 3\n3 sha256 {}\n", "k".repeat(MAX_KEY_LEN)));
        assert_eq!(keys.active().key().len(), MAX_KEY_LEN);
    }

    #[test]
    fn repeated_auth_line_warns() {
        let (keys, diags) = ok("auth 1\nauth 2\n2 md5 k\n");
        assert_eq!(keys.active().index(), 2);
        assert_eq!(
            diags,
            ["2:1: warning: auth line repeated; keep a single auth line, before the key lines"]
        );
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in any::<StdString>()) {
            let _ = run(&text);
        }

        #[test]
        fn never_panics_on_key_like_lines(
            lines in prop::collection::vec(
                prop::collection::vec("auth|-?[0-9]{1,22}|crc|md5|sha1|sha256|[ -~]{0,10}|#", 0..5),
                0..20,
            )
        ) {
            let text: StdVec<StdString> = lines.iter().map(|ws| ws.join(" ")).collect();
            let (res, _) = run(&text.join("\n"));
            if let Ok(keys) = res {
                let active = keys.active();
                prop_assert_eq!(keys.get(active.index()).map(|e| e.key()), Some(active.key()));
            }
        }
    }
}
