//! What the relay board's emulator tests share: QEMU's MPS2 AN385 running a relay image with its
//! five UARTs on Unix sockets (this crate's `relay-qemu` binary drives the firmware with the
//! host-side client; `tests/tests/relay_board.rs` joins real daemons to it).

pub mod uf2;

use std::io::ErrorKind;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The board's UARTs: four hosts and the log.
pub const UARTS: usize = 5;

/// QEMU running a relay image, killed by PID (and its socket directory removed) when dropped.
pub struct Qemu {
    child: Child,
    dir: PathBuf,
}

impl Qemu {
    /// Starts QEMU (`$QEMU`, else `qemu-system-arm`) on `elf` with every UART on a socket in a
    /// fresh directory, and returns it with the five connected lines (UART0..3, then the log,
    /// UART4). The test listens and QEMU connects as a client, so the guest cannot run before
    /// every line is connected and nothing it writes is lost (firmware-qemu.md §4). `verbose`
    /// lets QEMU's own stderr through. Connecting is bounded by `wait`.
    pub fn start(
        elf: &Path,
        verbose: bool,
        wait: Duration,
    ) -> Result<(Qemu, Vec<UnixStream>), String> {
        Self::start_with(elf, verbose, wait, &[])
    }

    /// [`Qemu::start`] with more QEMU options (e.g. a `-device loader` that sets a word of
    /// memory before every boot: the board's factory-reset jumper).
    pub fn start_with(
        elf: &Path,
        verbose: bool,
        wait: Duration,
        extra: &[&str],
    ) -> Result<(Qemu, Vec<UnixStream>), String> {
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("relay-qemu-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cmd = Command::new(std::env::var("QEMU").unwrap_or("qemu-system-arm".into()));
        cmd.args(["-M", "mps2-an385", "-cpu", "cortex-m3"]).args([
            "-display",
            "none",
            "-monitor",
            "none",
            "-nodefaults",
        ]);
        let mut listeners = Vec::new();
        for i in 0..UARTS {
            let path = dir.join(format!("uart{i}.sock"));
            let l = UnixListener::bind(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            listeners.push(l);
            cmd.arg("-chardev")
                .arg(format!("socket,id=u{i},path={}", path.display()))
                .arg("-serial")
                .arg(format!("chardev:u{i}"));
        }
        cmd.args(extra);
        cmd.arg("-kernel").arg(elf);
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        if !verbose {
            // "nic lan9118.0 has no peer" on every start.
            cmd.stderr(Stdio::null());
        }
        let child = cmd.spawn().map_err(|e| {
            format!("starting QEMU: {e} (qemu-system-arm: apt-get install qemu-system-arm)")
        })?;
        // From here on, dropping `qemu` kills it.
        let qemu = Qemu { child, dir };
        let mut streams = Vec::new();
        for (i, l) in listeners.iter().enumerate() {
            let deadline = Instant::now() + wait;
            let s = loop {
                match l.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => return Err(format!("QEMU did not connect UART{i}: {e}")),
                }
            };
            streams.push(s);
        }
        Ok((qemu, streams))
    }

    /// Whether QEMU still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
