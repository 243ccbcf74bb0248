//! `meatware`: a person resets the node and says so with `meatclient -c NODE` (cluster-glue
//! `meatware.c` and `meatclient.c`; the FIFO convention is theirs, so glue's own `meatclient`
//! works with our plugin and ours with theirs).
//!
//! A reset makes the FIFO `DIR/meatware.<node>` (mode 0600; `DIR` is `/var/run`), logs
//! `OPERATOR INTERVENTION REQUIRED to reset <node>.` and
//! `Run "meatclient -c <node>" AFTER power-cycling the machine.` (CRIT), and waits for
//! `meatware reply <node>` on it: then `node Meatware-reset: <node>` and success, anything else
//! `failed to Meatware-reset node <node>`. glue blocks in `open()` without limit and then reads
//! with a 600 s alarm; we open without blocking and wait for the writer at most the reset's
//! time-out ([`MEATWARE_TIMEOUT`] by default), after which heartbeat's retry loop asks again.
//! glue accepts a reply naming any prefix of the node (`strncasecmp` on the reply's length);
//! we require the whole name.

use super::null::HOSTLIST_XML;
use super::{host_list, InfoKind, Log, Plugin, ResetAction, StonithError};
use crate::log::{LogLine, Priority};
use hb_core::resources::FenceResult;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use std::io::{BufRead, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long one meatware reset waits for the operator (glue's `alarm(600)` on the read).
pub const MEATWARE_TIMEOUT: Duration = Duration::from_secs(600);
/// glue's messages are 256-byte records.
const RECORD: usize = 256;

/// The FIFO for `node` in `dir`.
pub fn fifo_path(dir: &Path, node: &str) -> PathBuf {
    dir.join(format!("meatware.{}", node.to_ascii_lowercase()))
}

/// The meatware device.
#[derive(Debug)]
pub struct Meatware {
    dir: PathBuf,
    hosts: Option<Vec<String>>,
}

impl Meatware {
    pub fn new(dir: &Path) -> Meatware {
        Meatware {
            dir: dir.to_path_buf(),
            hosts: None,
        }
    }

    fn wait_for_reply(
        &self,
        fifo: &Path,
        node: &str,
        timeout: Duration,
        log: Log<'_>,
    ) -> FenceResult {
        let crit = |m: String| LogLine::new(Priority::Crit, m);
        // Non-blocking, so that nobody coming is not a hang; a FIFO reader that never had a
        // writer sees neither data nor a hang-up, so polling simply waits for the operator.
        let mut f = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
        {
            Ok(f) => f,
            Err(_) => {
                log(crit("cannot open FIFO for Meatware_reset_host".into()));
                return FenceResult::Failed;
            }
        };
        let deadline = Instant::now() + timeout;
        let mut line = Vec::new();
        let mut buf = [0u8; RECORD];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log(crit(format!(
                    "no reply from meatclient for node {node} within {} s",
                    timeout.as_secs()
                )));
                return FenceResult::Failed;
            }
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX).max(1);
            let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(_) => {
                    log(crit("read error on FIFO for Meatware_reset_host".into()));
                    return FenceResult::Failed;
                }
            }
            let revents = fds[0].revents().unwrap_or(PollFlags::empty());
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    // One read is the whole reply, as in glue (a record is far below PIPE_BUF,
                    // so it arrives in one piece).
                    line.extend_from_slice(&buf[..n]);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if revents.contains(PollFlags::POLLHUP) {
                        break;
                    }
                    // Spurious wake-up; avoid spinning.
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => {
                    log(crit("read error on FIFO for Meatware_reset_host".into()));
                    return FenceResult::Failed;
                }
            }
            if revents.contains(PollFlags::POLLHUP) && !revents.contains(PollFlags::POLLIN) {
                break;
            }
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.split('\0').next().unwrap_or("");
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.len() < 3 {
            log(crit(format!(
                "Format error - failed to Meatware-reset node {node}"
            )));
            return FenceResult::Failed;
        }
        if !words[0].starts_with("meatware")
            || !words[1].starts_with("reply")
            || !words[2].eq_ignore_ascii_case(node)
        {
            log(crit(format!("failed to Meatware-reset node {node}")));
            return FenceResult::Failed;
        }
        log(LogLine::info(format!("node Meatware-reset: {node}")));
        let _ = std::fs::remove_file(fifo);
        FenceResult::Ok
    }
}

impl Plugin for Meatware {
    fn kind(&self) -> &str {
        "meatware"
    }

    fn info(&mut self, what: InfoKind) -> Option<String> {
        Some(
            match what {
                InfoKind::DeviceId => "Meatware STONITH device",
                InfoKind::DeviceName => "Your Name Here",
                InfoKind::Description => {
                    "Human (meatware) intervention STONITH device.\n\
                     This STONITH agent prompts a human to reset a machine.\n\
                     The human tells it when the reset was completed."
                }
                InfoKind::Url => return None,
                InfoKind::Xml => HOSTLIST_XML,
            }
            .to_string(),
        )
    }

    fn config_names(&mut self) -> Result<Vec<String>, StonithError> {
        Ok(vec!["hostlist".to_string()])
    }

    fn configure(&mut self, params: &[(String, String)]) -> Result<(), StonithError> {
        if self.hosts.is_some() {
            return Err(StonithError::Oops("already configured".into()));
        }
        let value = params
            .iter()
            .find(|(n, _)| n == "hostlist")
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| StonithError::BadConfig("hostlist missing".into()))?;
        self.hosts = Some(host_list(value));
        Ok(())
    }

    fn status(&mut self, _timeout: Duration, _log: Log<'_>) -> Result<(), StonithError> {
        Ok(())
    }

    fn hosts(&mut self, _timeout: Duration, _log: Log<'_>) -> Result<Vec<String>, StonithError> {
        self.hosts
            .clone()
            .ok_or_else(|| StonithError::Invalid("unconfigured stonith object".into()))
    }

    fn reset(
        &mut self,
        node: &str,
        _action: ResetAction,
        timeout: Duration,
        log: Log<'_>,
    ) -> FenceResult {
        let fifo = fifo_path(&self.dir, node);
        let _ = std::fs::remove_file(&fifo);
        if nix::unistd::mkfifo(&fifo, Mode::S_IRUSR | Mode::S_IWUSR).is_err() {
            log(LogLine::new(
                Priority::Crit,
                "cannot create FIFO for Meatware_reset_host",
            ));
            return FenceResult::Failed;
        }
        // mkfifo applies the umask; glue clears it first. 0600 either way.
        let _ =
            std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o600));
        log(LogLine::new(
            Priority::Crit,
            format!("OPERATOR INTERVENTION REQUIRED to reset {node}."),
        ));
        log(LogLine::new(
            Priority::Crit,
            format!("Run \"meatclient -c {node}\" AFTER power-cycling the machine."),
        ));
        let r = self.wait_for_reply(&fifo, node, timeout, log);
        if r != FenceResult::Ok {
            // A later attempt makes a new one; do not leave a stale FIFO behind.
            let _ = std::fs::remove_file(&fifo);
        }
        r
    }

    fn default_timeout(&self) -> Duration {
        MEATWARE_TIMEOUT
    }
}

/// `meatclient -c NODE [-w]` (cluster-glue `meatclient.c`): asks the operator to confirm, then
/// tells the waiting meatware plugin. `input` is the terminal (a word starting with `y`
/// confirms, as in glue, where `Y` cancels); returns glue's exit code: 0 confirmed, 3
/// cancelled, 4 no waiting plugin, 8 write failed.
pub fn meatclient(
    dir: &Path,
    node: &str,
    wait: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let node = node.to_ascii_lowercase();
    let fifo = fifo_path(dir, &node);
    let mut waited = false;
    let mut f = loop {
        match nix::fcntl::open(
            &fifo,
            OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => break std::fs::File::from(fd),
            Err(e) => {
                if !wait || !matches!(e, nix::errno::Errno::ENOENT | nix::errno::Errno::ENXIO) {
                    if waited {
                        let _ = writeln!(out);
                    }
                    let _ = writeln!(err, "Meatware_IPC failed: {}: {}", fifo.display(), e.desc());
                    return 4;
                }
                let _ = write!(out, ".");
                let _ = out.flush();
                waited = true;
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    };
    if waited {
        let _ = writeln!(out);
    }
    let _ = write!(
        out,
        "\nWARNING!\n\nIf node \"{node}\" has not been manually power-cycled or disconnected \
         from all shared resources and networks, data on shared disks may become corrupted and \
         migrated services might not work as expected.\nPlease verify that the name or address \
         above corresponds to the node you just rebooted.\n\nPROCEED? [yN] "
    );
    let _ = out.flush();
    let mut answer = String::new();
    let _ = input.read_line(&mut answer);
    if !answer.trim_start().starts_with('y') {
        let _ = writeln!(out, "Meatware_client: operation canceled.");
        return 3;
    }
    let mut record = format!("meatware reply {node}").into_bytes();
    record.resize(RECORD, 0);
    if let Err(e) = f.write_all(&record) {
        let _ = writeln!(
            err,
            "Meatware_IPC failed: {}: {}",
            fifo.display(),
            crate::errno_text(&e)
        );
        return 8;
    }
    let _ = writeln!(out, "Meatware_client: reset confirmed.");
    0
}
