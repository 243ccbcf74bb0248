//! heartbeat 3.0.6's stock `resource.d` wrappers (`IPaddr`, `IPaddr2`, `IPv6addr`): the
//! package's thin shells that turn `ADDR/BITS/IF/BCAST` into `OCF_RESKEY_*` variables and
//! exec the OCF agent. When `resource.d` holds one of them unchanged, the daemon does the
//! same work natively instead of paying a shell, sed and the OCF agent on every takeover.
//!
//! A wrapper is recognised by its content, never its name alone: comment lines, blank lines
//! and runs of blank space are dropped (they change nothing a shell does) and the rest is
//! compared by SHA-256 with the packaged wrapper *of that name*. Any other edit — a changed
//! or added command — makes it the admin's script, which runs as written. The digests are of
//! Debian's heartbeat 1:3.0.6 (bookworm's 3.0.6-13); the unit tests check them against the
//! files the installed package ships.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// The wrappers are about 2 KiB; anything far larger is not one (and is not read whole).
const MAX_WRAPPER: u64 = 64 * 1024;

/// (script name, SHA-256 of the normalised body of the packaged wrapper).
const KNOWN: [(&str, &str); 3] = [
    (
        "IPaddr",
        "e2f0957603ef267a5d5e1fd05d91a6f2816ff4842370a87977655cac3061adaa",
    ),
    (
        "IPaddr2",
        "df590ad3403b1a673f9879ff715bd56d0b01625e8006ae97bae9cab754421317",
    ),
    (
        "IPv6addr",
        "0e831450b35d6f7dbb6f899d582da3922bba01c99a20c392729410d32cef4508",
    ),
];

/// The shell-relevant text of a script: no comments (the `#!` line stays), no blank lines,
/// each line's blank space collapsed to one space.
fn normalise(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let s = line.trim();
        if s.is_empty() || (s.starts_with('#') && !(i == 0 && s.starts_with("#!"))) {
            continue;
        }
        out.push(s.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    out.join("\n")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `text` is the packaged wrapper called `name`.
pub fn is_stock_text(name: &str, text: &str) -> bool {
    let digest = hex(&Sha256::digest(normalise(text).as_bytes()));
    KNOWN.iter().any(|(n, d)| *n == name && *d == digest)
}

/// Whether the file at `path` is the packaged wrapper called `name`. Unreadable, oversized
/// or non-UTF-8 files are not.
pub fn is_stock_wrapper(name: &str, path: &Path) -> bool {
    if !KNOWN.iter().any(|(n, _)| *n == name) {
        return false;
    }
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut text = String::new();
    match f.take(MAX_WRAPPER + 1).read_to_string(&mut text) {
        Ok(n) if (n as u64) <= MAX_WRAPPER => is_stock_text(name, &text),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The package's wrapper; the tests need Debian's heartbeat installed (as CI does).
    fn packaged(name: &str) -> String {
        let p = Path::new("/etc/ha.d/resource.d").join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (apt-get install heartbeat: the stock wrappers are compared with it)",
                p.display()
            )
        })
    }

    #[test]
    fn the_packaged_wrappers_are_recognised() {
        for (name, _) in KNOWN {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join(name);
            std::fs::write(&p, packaged(name)).unwrap();
            assert!(is_stock_wrapper(name, &p), "{name}");
        }
    }

    #[test]
    fn comments_and_indentation_do_not_make_it_the_admins() {
        let text = packaged("IPaddr2");
        let edited = format!(
            "{}\n# site note: do not touch\n\n",
            text.replace("\n    ", "\n\t").replace("\t", "        ")
        );
        assert!(is_stock_text("IPaddr2", &edited));
    }

    #[test]
    fn an_edited_command_makes_it_the_admins() {
        for (name, _) in KNOWN {
            let text = packaged(name);
            assert!(is_stock_text(name, &text), "{name}");
            let added = text.replacen("\n", "\nlogger site-hook\n", 1);
            assert!(!is_stock_text(name, &added), "{name} with a line added");
            let changed = text.replace("ra_execocf $2", "ra_execocf \"$2\"");
            assert!(!is_stock_text(name, &changed), "{name} with a changed line");
        }
    }

    #[test]
    fn the_content_must_match_the_name() {
        assert!(!is_stock_text("IPaddr2", &packaged("IPaddr")));
        assert!(!is_stock_text("IPaddr", &packaged("IPaddr2")));
        assert!(!is_stock_text("hbsvc", &packaged("IPaddr2")));
    }

    #[test]
    fn a_missing_or_huge_file_is_not_a_wrapper() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_stock_wrapper("IPaddr2", &dir.path().join("IPaddr2")));
        let big = dir.path().join("IPaddr2");
        let mut text = packaged("IPaddr2");
        text.push_str(&"#".repeat(MAX_WRAPPER as usize));
        std::fs::write(&big, text).unwrap();
        assert!(!is_stock_wrapper("IPaddr2", &big));
    }
}
