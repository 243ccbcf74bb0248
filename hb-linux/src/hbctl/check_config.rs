//! `hbctl check-config`: every problem of ha.cf, haresources and authkeys, one per line as
//! `FILE:LINE:COL: message`, including what only this machine can tell (interfaces, serial
//! devices, users, executables, the key file's mode).

use crate::config::{self, ReadError, Stop};
use hb_core::auth::Keyring;
use hb_core::config::AuthKeys;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_PROBLEMS: u8 = 1;
pub const EXIT_UNREADABLE: u8 = 2;

/// Runs the one configuration check ([`crate::config::check`]) and prints every finding sorted
/// by file, line and column, then the count.
pub fn run(dir: &Path, node: Option<&str>, syntax_only: bool, out: &mut dyn Write) -> u8 {
    let mut findings = Vec::new();
    let checked = config::check(dir, node, !syntax_only, &mut |f| findings.push(f));
    match checked {
        Ok(_) => {}
        Err(Stop::Unreadable {
            path,
            error: ReadError::NotUtf8 { at },
        }) => {
            eprintln!(
                "{}: not UTF-8 text (invalid byte at offset {at})",
                path.display()
            );
            return EXIT_UNREADABLE;
        }
        Err(Stop::Unreadable {
            path,
            error: ReadError::Io(e),
        }) => {
            eprintln!("{}: cannot read: {e}", path.display());
            return EXIT_UNREADABLE;
        }
        Err(Stop::NodeName(e)) => {
            eprintln!("hbctl check-config: cannot tell this node's name: {e} (use --node)");
            return EXIT_UNREADABLE;
        }
    }
    let errors = findings.iter().filter(|f| !f.warning).count();
    let warnings = findings.len() - errors;
    let written: std::io::Result<()> = (|| {
        findings.sort_by_key(|f| (f.file as u8, f.line, f.column));
        for f in &findings {
            writeln!(out, "{}", f.text)?;
        }
        writeln!(
            out,
            "{}: {} error(s), {} warning(s)",
            dir.display(),
            errors,
            warnings
        )
    })();
    if written.is_err() {
        return EXIT_UNREADABLE;
    }
    if errors > 0 {
        EXIT_PROBLEMS
    } else {
        EXIT_CLEAN
    }
}

/// Reads an authkeys file for `hbctl decode`. A group- or world-readable file still loads (it may
/// be a copy made to inspect packets), with heartbeat's warning on standard error.
pub fn load_keyring(path: &PathBuf) -> Result<Keyring, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if let Err(e) = config::authkeys_mode(path) {
        eprintln!("warning: {}: {}", path.display(), e.message());
    }
    let mut problems = Vec::new();
    match AuthKeys::parse(&text, &mut |e| {
        if !e.is_warning() {
            problems.push(format!("{}:{e}", path.display()));
        }
    }) {
        Ok(keys) => Ok(keys.keyring()),
        Err(_) => Err(problems.join("\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir_with(hacf: &str, haresources: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("ha.cf"), hacf).unwrap();
        std::fs::write(d.path().join("haresources"), haresources).unwrap();
        let keys = d.path().join("authkeys");
        std::fs::write(&keys, "auth 1\n1 sha1 secret\n").unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
        d
    }

    /// The daemon and check-config run one load: a problem reads the same in both, whichever
    /// file it is in, and both refuse or accept together.
    #[test]
    fn a_config_error_reads_the_same_from_the_daemon_and_check_config() {
        for (hacf, haresources) in [
            (
                "keepalive 1\nfrobnicate yes\nbcast lo\nnode alpha beta\n",
                "alpha httpd\n",
            ),
            ("bcast lo\nnode alpha beta\n", "alpha httpd\ndelta smb\n"),
            ("bcast lo\nnode beta\n", "beta httpd\n"),
            ("bcast lo\nnode alpha beta\ncrm respawn\n", "alpha httpd\n"),
        ] {
            let d = dir_with(hacf, haresources);
            let mut warned = Vec::new();
            let refused =
                crate::config::load(d.path(), Some("alpha"), &mut |w| warned.push(w)).unwrap_err();
            assert_eq!(refused.exit, crate::config::EXIT_NOT_CONFIGURED);
            let mut out = Vec::new();
            let code = run(d.path(), Some("alpha"), true, &mut out);
            assert_eq!(code, EXIT_PROBLEMS, "{hacf:?}");
            let out = String::from_utf8(out).unwrap();
            let (count, problems) = out
                .lines()
                .collect::<Vec<_>>()
                .split_last()
                .map(|(c, p)| (c.to_string(), p.to_vec()))
                .unwrap();
            let (errors, warnings) = (refused.lines.len(), warned.len());
            assert!(
                count.ends_with(&format!("{errors} error(s), {warnings} warning(s)")),
                "{out}\n{refused:?}"
            );
            let mut daemon: Vec<String> = refused.lines.iter().chain(&warned).cloned().collect();
            daemon.sort();
            let mut hbctl: Vec<String> = problems.iter().map(|l| l.to_string()).collect();
            hbctl.sort();
            assert_eq!(daemon, hbctl, "{hacf:?}");
        }
        // A clean directory passes both.
        let d = dir_with("bcast lo\nnode alpha beta\n", "alpha httpd\n");
        assert!(crate::config::load(d.path(), Some("alpha"), &mut |_| {}).is_ok());
        assert_eq!(
            run(d.path(), Some("alpha"), true, &mut Vec::new()),
            EXIT_CLEAN
        );
    }
}
