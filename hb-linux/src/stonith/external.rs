//! `external/NAME`: any executable following cluster-glue's external plugin convention
//! (cluster-glue `lib/plugins/stonith/external.c`, scripts in `external/`).
//!
//! The program is `DIR/NAME` for the first of the plugin directories that has it; it must be a
//! regular executable file not writable by group or others (glue refuses to run it otherwise).
//! It is called as `NAME OP [HOST]` with the device's parameters in its environment under their
//! own names:
//!
//! | call | meaning |
//! |---|---|
//! | `getconfignames` | parameter names, whitespace-separated, in `-p` order |
//! | `gethosts` | the hosts it can reset, whitespace-separated |
//! | `reset HOST`, `off HOST`, `on HOST` | do it; exit 0 = done |
//! | `status` | exit 0 = device works |
//! | `getinfo-devid`, `-devname`, `-devdescr`, `-devurl`, `-xml` | texts for `stonith -h` and the logs |
//!
//! Any non-zero exit (or death by a signal) is a failure. glue runs the program through
//! `popen("DIR/NAME OP HOST")`; we exec it directly with the same argv, so a node name can never
//! be read as shell syntax. Each call is bounded: on time-out the program's process group is
//! killed.

use super::{InfoKind, Log, Plugin, ResetAction, StonithError};
use crate::log::LogLine;
use hb_core::resources::FenceResult;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bound on the calls that only describe the plugin (`getconfignames`, `getinfo-*`).
const INFO_TIMEOUT: Duration = Duration::from_secs(10);

/// An external plugin.
#[derive(Debug)]
pub struct External {
    name: String,
    kind: String,
    path: PathBuf,
    names: Option<Vec<String>>,
    params: Option<Vec<(String, String)>>,
}

/// Names of the usable external plugins in `dirs` (`stonith -L`).
pub(super) fn list(dirs: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if runnable(&e.path()).is_ok() && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

/// glue's `exec_select` / `external_run_cmd` checks.
fn runnable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "stat(2) of {} failed: {}",
            path.display(),
            crate::errno_text(&e)
        )
    })?;
    let mode = meta.permissions().mode();
    if !meta.is_file() || mode & 0o111 == 0 {
        return Err(format!("{} found NOT to be executable.", path.display()));
    }
    if mode & 0o022 != 0 {
        return Err(format!(
            "{} found to be writable by group/others, NOT executing for security purposes.",
            path.display()
        ));
    }
    Ok(())
}

impl External {
    /// The plugin `name` from the first directory that has it; `None` when none does.
    pub fn find(name: &str, dirs: &[PathBuf]) -> Option<External> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return None;
        }
        let path = dirs.iter().map(|d| d.join(name)).find(|p| p.exists())?;
        Some(External {
            name: name.to_string(),
            kind: format!("external/{name}"),
            path,
            names: None,
            params: None,
        })
    }

    /// Runs `NAME args…` with the parameters in the environment; its exit code (128 + signal
    /// for a signal) and standard output.
    fn run(&self, args: &[&str], timeout: Duration) -> Result<(i32, String), StonithError> {
        runnable(&self.path).map_err(StonithError::Oops)?;
        let mut cmd = Command::new(&self.path);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        for (k, v) in self.params.iter().flatten() {
            cmd.env(k, v);
        }
        crate::unblock_signals_in_child(&mut cmd);
        let call = format!("{} {}", self.name, args.join(" "));
        let mut child = spawn_retrying(&mut cmd)
            .map_err(|e| StonithError::Oops(format!("Calling '{call}' failed: {e}")))?;
        let pid = child.id() as i32;
        let mut stdout = child.stdout.take().expect("stdout was piped");
        set_nonblocking(&stdout);
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let mut eof = false;
        loop {
            if !eof {
                let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(20u8));
                loop {
                    match stdout.read(&mut buf) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) => out.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
            // A plugin that leaves a background process holding its stdout is done when the
            // plugin itself exits.
            if let Ok(Some(status)) = child.try_wait() {
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
                let code = status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                return Ok((code, String::from_utf8_lossy(&out).into_owned()));
            }
            if Instant::now() >= deadline {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(-pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = child.wait();
                return Err(StonithError::Timeout(format!(
                    "'{call}' timed out after {} ms; killed",
                    timeout.as_millis()
                )));
            }
        }
    }

    fn info_call(&self, op: &str) -> Option<String> {
        match self.run(&[op], INFO_TIMEOUT) {
            Ok((0, out)) => Some(out),
            _ => None,
        }
    }
}

/// A freshly written script can be "busy" for a moment while another thread's fork still holds
/// it open for writing (ETXTBSY): try again briefly.
fn spawn_retrying(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn set_nonblocking(f: &impl AsFd) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    if let Ok(flags) = fcntl(f.as_fd(), FcntlArg::F_GETFL) {
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        let _ = fcntl(f.as_fd(), FcntlArg::F_SETFL(flags));
    }
}

impl Plugin for External {
    fn kind(&self) -> &str {
        &self.kind
    }

    fn info(&mut self, what: InfoKind) -> Option<String> {
        let op = match what {
            InfoKind::DeviceId => "getinfo-devid",
            InfoKind::DeviceName => "getinfo-devname",
            InfoKind::Description => "getinfo-devdescr",
            InfoKind::Url => "getinfo-devurl",
            InfoKind::Xml => "getinfo-xml",
        };
        // As the plugin printed it, line end included: glue prints it so (`stonith -h`).
        self.info_call(op)
    }

    fn config_names(&mut self) -> Result<Vec<String>, StonithError> {
        if let Some(n) = &self.names {
            return Ok(n.clone());
        }
        let (rc, out) = self.run(&["getconfignames"], INFO_TIMEOUT)?;
        if rc != 0 {
            return Err(StonithError::Oops(format!(
                "external_get_confignames: '{} getconfignames' failed with rc {rc}",
                self.name
            )));
        }
        let names: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        self.names = Some(names.clone());
        Ok(names)
    }

    fn configure(&mut self, params: &[(String, String)]) -> Result<(), StonithError> {
        if self.params.is_some() {
            return Err(StonithError::Oops("already configured".into()));
        }
        self.params = Some(params.to_vec());
        Ok(())
    }

    fn status(&mut self, timeout: Duration, log: Log<'_>) -> Result<(), StonithError> {
        let (rc, _) = self.run(&["status"], timeout)?;
        if rc != 0 {
            let m = format!(
                "external_status: '{} status' failed with rc {rc}",
                self.name
            );
            log(LogLine::new(crate::log::Priority::Crit, m.clone()));
            return Err(StonithError::Access(m));
        }
        Ok(())
    }

    fn hosts(&mut self, timeout: Duration, log: Log<'_>) -> Result<Vec<String>, StonithError> {
        let (rc, out) = self.run(&["gethosts"], timeout)?;
        let fail = |m: String, log: Log<'_>| {
            log(LogLine::new(crate::log::Priority::Crit, m.clone()));
            Err(StonithError::Oops(m))
        };
        if rc != 0 {
            return fail(
                format!(
                    "external_hostlist: '{} gethosts' failed with rc {rc}",
                    self.name
                ),
                log,
            );
        }
        let hosts: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        if hosts.is_empty() {
            return fail(
                format!(
                    "external_hostlist: '{} gethosts' returned an empty hostlist",
                    self.name
                ),
                log,
            );
        }
        Ok(hosts)
    }

    fn reset(
        &mut self,
        node: &str,
        action: ResetAction,
        timeout: Duration,
        log: Log<'_>,
    ) -> FenceResult {
        let op = action.as_str();
        match self.run(&[op, node], timeout) {
            Ok((0, _)) => FenceResult::Ok,
            Ok((rc, _)) => {
                log(LogLine::new(
                    crate::log::Priority::Crit,
                    format!(
                        "external_reset_req: '{} {op}' for host {node} failed with rc {rc}",
                        self.name
                    ),
                ));
                FenceResult::Failed
            }
            Err(e) => {
                log(LogLine::new(crate::log::Priority::Crit, e.to_string()));
                FenceResult::Failed
            }
        }
    }
}
