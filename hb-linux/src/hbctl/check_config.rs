//! `hbctl check-config`: every problem of ha.cf, haresources and authkeys, one per line as
//! `FILE:LINE:COL: message`, including what only this machine can tell (interfaces, serial
//! devices, users, executables, the key file's mode).

use hb_core::auth::Keyring;
use hb_core::config::{AuthKeys, ConfigError, FileKind, HaCf, HaResources, Medium, Pos};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_PROBLEMS: u8 = 1;
pub const EXIT_UNREADABLE: u8 = 2;

/// Problems found in one directory, with the path each one is about.
#[derive(Default)]
struct Findings {
    /// (file order, line, column, text): printed sorted, so problems read top to bottom.
    lines: Vec<(FileKind, u32, u32, String)>,
    errors: usize,
    warnings: usize,
}

impl Findings {
    fn add(&mut self, path: &Path, e: &ConfigError) {
        if e.is_warning() {
            self.warnings += 1;
        } else {
            self.errors += 1;
        }
        let rank = e.file();
        self.lines.push((
            rank,
            e.line(),
            e.column(),
            format!("{}:{e}", path.display()),
        ));
    }
}

pub fn run(dir: &Path, node: Option<&str>, syntax_only: bool, out: &mut dyn Write) -> u8 {
    let paths =
        [FileKind::HaCf, FileKind::HaResources, FileKind::AuthKeys].map(|k| dir.join(k.name()));
    let [hacf_path, haresources_path, authkeys_path] = &paths;
    let mut f = Findings::default();

    let Some(hacf_text) = read(hacf_path) else {
        return EXIT_UNREADABLE;
    };
    let hacf = HaCf::parse(&hacf_text, &mut |e| f.add(hacf_path, &e)).ok();

    let Some(auth_text) = read(authkeys_path) else {
        return EXIT_UNREADABLE;
    };
    if let Err(e) = check_key_mode(authkeys_path) {
        f.add(authkeys_path, &e);
    }
    let _ = AuthKeys::parse(&auth_text, &mut |e| f.add(authkeys_path, &e));

    if let Some(hacf) = &hacf {
        let local = match node {
            Some(n) => n.to_lowercase(),
            None => match local_node_name(dir) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("hbctl check-config: cannot tell this node's name: {e} (use --node)");
                    return EXIT_UNREADABLE;
                }
            },
        };
        if let Err(e) = hacf.check_local_node(&local) {
            f.add(hacf_path, &e);
        }
        if !syntax_only {
            for e in machine_checks(hacf) {
                f.add(hacf_path, &e);
            }
        }
    }
    // haresources is read unless ha.cf turns resource management off, also when ha.cf has
    // errors, so that one run lists every problem.
    if hacf.as_ref().is_none_or(HaCf::manages_resources) {
        let Some(text) = read(haresources_path) else {
            return EXIT_UNREADABLE;
        };
        if let Ok(res) = HaResources::parse(&text, &mut |e| f.add(haresources_path, &e)) {
            if let Some(hacf) = &hacf {
                let _ = res.check_nodes(hacf.node_names(), &mut |e| f.add(haresources_path, &e));
            }
        }
    }

    let written: std::io::Result<()> = (|| {
        f.lines
            .sort_by_key(|(file, line, column, _)| (*file as u8, *line, *column));
        for (.., l) in &f.lines {
            writeln!(out, "{l}")?;
        }
        writeln!(
            out,
            "{}: {} error(s), {} warning(s)",
            dir.display(),
            f.errors,
            f.warnings
        )
    })();
    if written.is_err() {
        return EXIT_UNREADABLE;
    }
    if f.errors > 0 {
        EXIT_PROBLEMS
    } else {
        EXIT_CLEAN
    }
}

fn read(path: &Path) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                eprintln!(
                    "{}: not UTF-8 text (invalid byte at offset {at})",
                    path.display()
                );
                None
            }
        },
        Err(e) => {
            eprintln!("{}: cannot read: {e}", path.display());
            None
        }
    }
}

#[allow(clippy::result_large_err)] // one per run
fn check_key_mode(path: &Path) -> Result<(), ConfigError> {
    match std::fs::metadata(path) {
        Ok(m) => AuthKeys::check_mode(m.permissions().mode(), &path.display().to_string()),
        Err(_) => Ok(()), // reading it already failed and said so
    }
}

/// `uname -n`, unless `DIR/nodeinfo` names the node (heartbeat's `get_localnodeinfo`: its first
/// line, if it ends in a newline); lowercased.
pub fn local_node_name(dir: &Path) -> std::io::Result<String> {
    if let Ok(text) = std::fs::read_to_string(dir.join("nodeinfo")) {
        if let Some((first, _)) = text.split_once('\n') {
            return Ok(first.trim().to_lowercase());
        }
    }
    let name = nix::unistd::gethostname().map_err(std::io::Error::from)?;
    Ok(name.to_string_lossy().to_lowercase())
}

/// What heartbeat checks against the running system when it reads ha.cf, with its messages.
fn machine_checks(hacf: &HaCf) -> Vec<ConfigError> {
    let mut out = Vec::new();
    let err = |at: Pos, msg: String| ConfigError::error(FileKind::HaCf, at, format_args!("{msg}"));
    for m in &hacf.media {
        match &m.value {
            Medium::Bcast { iface, .. }
            | Medium::Ucast { iface, .. }
            | Medium::Mcast { iface, .. }
                if nix::net::if_::if_nametoindex(iface.as_str()).is_err() =>
            {
                out.push(err(m.at, format!("IP interface [{iface}] does not exist")));
            }
            Medium::Serial { device, .. } => match std::fs::metadata(device.as_str()) {
                Err(_) => out.push(err(
                    m.at,
                    format!("Nonexistent serial port [{device}] in config file"),
                )),
                Ok(md) if !md.file_type().is_char_device() => out.push(err(
                    m.at,
                    format!("Serial port [{device}] not a char device in config file"),
                )),
                Ok(_) => {}
            },
            Medium::Relay { device, .. } => match std::fs::metadata(device.as_str()) {
                Err(_) => out.push(err(
                    m.at,
                    format!("Nonexistent relay device [{device}] in config file"),
                )),
                Ok(md) if !md.file_type().is_char_device() => out.push(err(
                    m.at,
                    format!("Relay device [{device}] not a char device in config file"),
                )),
                Ok(_) => {}
            },
            _ => {}
        }
    }
    for c in &hacf.client_children {
        let child = &c.value;
        if matches!(
            nix::unistd::User::from_name(child.user.as_str()),
            Ok(None) | Err(_)
        ) {
            out.push(err(
                c.at,
                format!("Invalid uid [{}] specified for client child", child.user),
            ));
        }
        let executable = std::fs::metadata(child.path())
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        if !executable {
            out.push(err(
                c.at,
                format!("Client child command [{}] is not executable", child.path()),
            ));
        }
    }
    out
}

/// Reads an authkeys file for `hbctl decode`. A group- or world-readable file still loads (it may
/// be a copy made to inspect packets), with heartbeat's warning on standard error.
pub fn load_keyring(path: &PathBuf) -> Result<Keyring, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if let Err(e) = check_key_mode(path) {
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
