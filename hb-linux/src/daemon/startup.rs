//! Reading and checking the configuration before anything is opened (spec-behaviour §1.7):
//! every problem is one line naming the file, the line and the column, and the daemon does not
//! start. Nothing here changes the machine.

use hb_core::auth::Keyring;
use hb_core::config::{AuthKeys, ConfigError, FileKind, HaCf, HaResources};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// LSB "program is not configured": any configuration error (heartbeat's exit code).
pub const EXIT_NOT_CONFIGURED: u8 = 6;
/// LSB "user had insufficient privilege": a file we may not read.
pub const EXIT_NO_PRIVILEGE: u8 = 4;

/// The three files, parsed and cross-checked, and who we are.
#[derive(Debug)]
pub struct Loaded {
    pub dir: PathBuf,
    pub hacf: HaCf,
    /// Empty when ha.cf says resources are not ours to manage.
    pub haresources: HaResources,
    pub keys: Keyring,
    /// Our node name, lowercased (`uname -n`, or DIR/nodeinfo, or `--node`).
    pub node: String,
    /// `uname -n` as it is, for the `syslogmsgfmt` log lines.
    pub hostname: String,
    /// The files as read (ha.cf, authkeys, haresources), to tell whether a reload changes
    /// anything.
    pub texts: [String; 3],
}

/// Why the daemon will not start: the lines to print (each names its file) and the exit code.
#[derive(Debug)]
pub struct Refused {
    pub lines: Vec<String>,
    pub exit: u8,
}

impl Refused {
    fn one(line: String, exit: u8) -> Refused {
        Refused {
            lines: vec![line],
            exit,
        }
    }
}

/// Reads DIR/ha.cf, DIR/authkeys and (when resources are managed) DIR/haresources.
/// Warnings go to `warn`; any error refuses.
pub fn load(
    dir: &Path,
    node: Option<&str>,
    warn: &mut dyn FnMut(String),
) -> Result<Loaded, Refused> {
    let hacf_path = dir.join(FileKind::HaCf.name());
    let auth_path = dir.join(FileKind::AuthKeys.name());
    let res_path = dir.join(FileKind::HaResources.name());
    let mut errors = Vec::new();
    let mut diag = |path: &Path, e: ConfigError| {
        let line = format!("{}:{e}", path.display());
        if e.is_warning() {
            warn(line);
        } else {
            errors.push(line);
        }
    };

    let hacf_text = read(&hacf_path)?;
    let hacf = HaCf::parse(&hacf_text, &mut |e| diag(&hacf_path, e));

    let auth_text = read(&auth_path)?;
    if let Ok(meta) = std::fs::metadata(&auth_path) {
        let shown = auth_path.display().to_string();
        if let Err(e) = AuthKeys::check_mode(meta.permissions().mode(), &shown) {
            diag(&auth_path, e);
        }
    }
    let keys = AuthKeys::parse(&auth_text, &mut |e| diag(&auth_path, e));

    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let node = match node {
        Some(n) => n.to_lowercase(),
        None => crate::hbctl::local_node_name(dir).map_err(|e| {
            Refused::one(
                format!("cannot tell this node's name: {}", crate::errno_text(&e)),
                EXIT_NOT_CONFIGURED,
            )
        })?,
    };

    let mut haresources = None;
    let mut res_text = String::new();
    if let Ok(hacf) = &hacf {
        if let Err(e) = hacf.check_local_node(&node) {
            diag(&hacf_path, e);
        }
        if hacf.manages_resources() {
            res_text = read(&res_path)?;
            if let Ok(res) = HaResources::parse(&res_text, &mut |e| diag(&res_path, e)) {
                let _ = res.check_nodes(hacf.node_names(), &mut |e| diag(&res_path, e));
                haresources = Some(res);
            }
        } else {
            errors.push(format!(
                "{}: crm/pacemaker mode is not supported by hb: manage resources with haresources",
                hacf_path.display()
            ));
        }
    }
    match (hacf, keys, haresources) {
        (Ok(hacf), Ok(keys), Some(haresources)) if errors.is_empty() => Ok(Loaded {
            dir: dir.to_path_buf(),
            hacf,
            haresources,
            keys: keys.keyring(),
            node,
            hostname,
            texts: [hacf_text, auth_text, res_text],
        }),
        _ => {
            if errors.is_empty() {
                errors.push(format!("{}: configuration error", dir.display()));
            }
            Err(Refused {
                lines: errors,
                exit: EXIT_NOT_CONFIGURED,
            })
        }
    }
}

/// A file's text, or heartbeat's refusal.
fn read(path: &Path) -> Result<String, Refused> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            Refused::one(
                format!(
                    "{}: not UTF-8 text (invalid byte at offset {at})",
                    path.display()
                ),
                EXIT_NOT_CONFIGURED,
            )
        }),
        Err(e) => {
            let exit = match e.kind() {
                std::io::ErrorKind::PermissionDenied => EXIT_NO_PRIVILEGE,
                _ => EXIT_NOT_CONFIGURED,
            };
            let mut lines = vec![format!(
                "Cannot open config file [{}]: {}",
                path.display(),
                crate::errno_text(&e)
            )];
            if path.ends_with(FileKind::HaCf.name()) && e.kind() == std::io::ErrorKind::NotFound {
                lines.push(
                    "An annotated sample ha.cf file is provided in the documentation.".into(),
                );
                lines.push(format!(
                    "Please copy it to {}, read it, customize it, and try again.",
                    path.display()
                ));
            }
            Err(Refused { lines, exit })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn good(dir: &Path) {
        write(
            dir,
            "ha.cf",
            "keepalive 1\ndeadtime 10\nudpport 694\nbcast lo\nnode alpha\nnode beta\n",
            0o644,
        );
        write(dir, "authkeys", "auth 1\n1 sha1 secret\n", 0o600);
        write(dir, "haresources", "alpha 198.51.100.80\n", 0o644);
    }

    #[test]
    fn loads_a_good_directory() {
        let d = tempfile::tempdir().unwrap();
        good(d.path());
        let l = load(d.path(), Some("Alpha"), &mut |_| {}).unwrap();
        assert_eq!(l.node, "alpha");
        assert_eq!(l.haresources.groups().len(), 1);
    }

    #[test]
    fn readable_authkeys_is_refused_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        good(d.path());
        write(d.path(), "authkeys", "auth 1\n1 sha1 secret\n", 0o644);
        let r = load(d.path(), Some("alpha"), &mut |_| {}).unwrap_err();
        assert_eq!(r.exit, EXIT_NOT_CONFIGURED);
        assert_eq!(r.lines.len(), 1, "{:?}", r.lines);
        assert!(r.lines[0].contains("authkeys"), "{:?}", r.lines);
        assert!(r.lines[0].contains("Bad permissions"), "{:?}", r.lines);
    }

    #[test]
    fn bad_hacf_line_is_refused_with_its_position() {
        let d = tempfile::tempdir().unwrap();
        good(d.path());
        write(
            d.path(),
            "ha.cf",
            "keepalive 1\nfrobnicate yes\nbcast lo\nnode alpha\n",
            0o644,
        );
        let r = load(d.path(), Some("alpha"), &mut |_| {}).unwrap_err();
        let want = format!("{}:2:1:", d.path().join("ha.cf").display());
        assert!(
            r.lines.iter().any(|l| l.starts_with(&want)),
            "{:?}",
            r.lines
        );
    }

    #[test]
    fn unknown_local_node_and_missing_file() {
        let d = tempfile::tempdir().unwrap();
        good(d.path());
        let r = load(d.path(), Some("gamma"), &mut |_| {}).unwrap_err();
        assert!(r.lines[0].contains("gamma"), "{:?}", r.lines);
        fs::remove_file(d.path().join("ha.cf")).unwrap();
        let r = load(d.path(), Some("alpha"), &mut |_| {}).unwrap_err();
        assert!(
            r.lines[0].starts_with("Cannot open config file ["),
            "{:?}",
            r.lines
        );
        assert_eq!(r.exit, EXIT_NOT_CONFIGURED);
    }
}
