//! The kernel's watchdog (`/dev/watchdog`, `softdog` or a hardware driver), used as heartbeat
//! 3.0.6 uses it, and a file-descriptor serial port for the relay client.
//!
//! - Opening the device starts the watchdog with the driver's default timeout, so
//!   [`LinuxWatchdog::open`] is meant to be followed by [`Watchdog::arm`] at once. The daemon
//!   opens it before dropping privileges.
//! - [`Watchdog::arm`] sets the timeout with `WDIOC_SETTIMEOUT` in whole seconds, rounded up
//!   (heartbeat: ⌈deadtime + 10 ms⌉ s), and returns what the driver granted.
//! - [`Watchdog::pet`] is `WDIOC_KEEPALIVE` (heartbeat writes a NUL byte; the ioctl does the
//!   same without going through `write`).
//! - [`Watchdog::disarm`] is the magic close: write `V`, then close. A driver built with
//!   `nowayout` keeps running anyway. A later `arm` opens the device again.
//! - Dropping an armed [`LinuxWatchdog`] closes it *without* the `V`: the kernel keeps the
//!   countdown going, so a daemon that dies is caught.
//!
//! The ioctls are behind the small [`WatchdogDevice`] trait, so the policy above is tested
//! against a fake device; [`DevWatchdog`] is the real one.

use crate::{Duration, Watchdog};
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

/// `WDIOF_MAGICCLOSE`: the driver honours the magic close.
pub const WDIOF_MAGICCLOSE: u32 = 0x0100;
/// `WDIOF_SETTIMEOUT`: the timeout can be set.
pub const WDIOF_SETTIMEOUT: u32 = 0x0080;
/// `WDIOF_CARDRESET`: in the boot status, the last reboot was the watchdog's doing.
pub const WDIOF_CARDRESET: u32 = 0x0020;

/// What `WDIOC_GETSUPPORT` says about a driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Support {
    /// `WDIOF_*` bits.
    pub options: u32,
    pub firmware_version: u32,
    /// The driver's name, NUL-padded ("Software Watchdog" for softdog).
    pub identity: [u8; 32],
}

impl Support {
    /// The identity as text, without its padding.
    pub fn identity(&self) -> &str {
        let end = self.identity.iter().position(|&b| b == 0).unwrap_or(32);
        std::str::from_utf8(&self.identity[..end]).unwrap_or("")
    }
}

/// The operations of an open watchdog device.
pub trait WatchdogDevice {
    /// `WDIOC_SETTIMEOUT`: asks for `secs`, returns what the driver set.
    fn set_timeout(&mut self, secs: i32) -> io::Result<i32>;
    /// `WDIOC_GETTIMEOUT`.
    fn timeout(&mut self) -> io::Result<i32>;
    /// `WDIOC_KEEPALIVE`.
    fn keepalive(&mut self) -> io::Result<()>;
    /// `WDIOC_GETSUPPORT`.
    fn support(&mut self) -> io::Result<Support>;
    /// `WDIOC_GETBOOTSTATUS`: `WDIOF_*` bits about the last reboot.
    fn boot_status(&mut self) -> io::Result<u32>;
    /// Writes bytes to the device (the magic `V`).
    fn write(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Closes the device.
    fn close(self) -> io::Result<()>;
}

/// Why the Linux watchdog failed.
#[derive(Debug)]
pub enum LinuxError {
    /// Opening the device failed.
    Open(PathBuf, io::Error),
    /// An ioctl or write failed; `what` names it as heartbeat's log would.
    Device(&'static str, io::Error),
    /// `pet` on a watchdog that is not open.
    NotArmed,
}

impl std::fmt::Display for LinuxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinuxError::Open(p, e) => {
                write!(f, "Cannot open watchdog device: {}: {e}", p.display())
            }
            LinuxError::Device(what, e) => write!(f, "watchdog {what} failed: {e}"),
            LinuxError::NotArmed => f.write_str("watchdog is not armed"),
        }
    }
}

impl std::error::Error for LinuxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LinuxError::Open(_, e) | LinuxError::Device(_, e) => Some(e),
            LinuxError::NotArmed => None,
        }
    }
}

type Opener<D> = Box<dyn FnMut() -> io::Result<D> + Send>;

/// The kernel's watchdog, with heartbeat's policy (module docs).
pub struct LinuxWatchdog<D: WatchdogDevice = DevWatchdog> {
    path: PathBuf,
    open: Opener<D>,
    dev: Option<D>,
}

impl<D: WatchdogDevice> std::fmt::Debug for LinuxWatchdog<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxWatchdog")
            .field("path", &self.path)
            .field("open", &self.dev.is_some())
            .finish()
    }
}

impl LinuxWatchdog<DevWatchdog> {
    /// Opens `path` (usually `/dev/watchdog`): from now on the driver's default timeout runs.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LinuxError> {
        let path = path.as_ref().to_path_buf();
        let p = path.clone();
        Self::with_device(path, Box::new(move || DevWatchdog::open(&p)))
    }
}

impl<D: WatchdogDevice> LinuxWatchdog<D> {
    /// A watchdog over devices that `open` opens (the first one now); `path` is for messages.
    pub fn with_device(path: PathBuf, mut open: Opener<D>) -> Result<Self, LinuxError> {
        let dev = open().map_err(|e| LinuxError::Open(path.clone(), e))?;
        Ok(LinuxWatchdog {
            path,
            open,
            dev: Some(dev),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the device is open (and so counting down).
    pub fn is_open(&self) -> bool {
        self.dev.is_some()
    }

    /// The timeout the driver runs with now.
    pub fn timeout(&mut self) -> Result<Duration, LinuxError> {
        let dev = self.dev.as_mut().ok_or(LinuxError::NotArmed)?;
        let secs = dev
            .timeout()
            .map_err(|e| LinuxError::Device("WDIOC_GETTIMEOUT", e))?;
        Ok(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
    }

    /// What the driver supports (`WDIOC_GETSUPPORT`).
    pub fn support(&mut self) -> Result<Support, LinuxError> {
        let dev = self.dev.as_mut().ok_or(LinuxError::NotArmed)?;
        dev.support()
            .map_err(|e| LinuxError::Device("WDIOC_GETSUPPORT", e))
    }

    /// Whether the last reboot was the watchdog's (`WDIOC_GETBOOTSTATUS` has
    /// [`WDIOF_CARDRESET`]).
    pub fn last_boot_was_watchdog(&mut self) -> Result<bool, LinuxError> {
        let dev = self.dev.as_mut().ok_or(LinuxError::NotArmed)?;
        let status = dev
            .boot_status()
            .map_err(|e| LinuxError::Device("WDIOC_GETBOOTSTATUS", e))?;
        Ok(status & WDIOF_CARDRESET != 0)
    }

    fn device(&mut self) -> Result<&mut D, LinuxError> {
        if self.dev.is_none() {
            let dev = (self.open)().map_err(|e| LinuxError::Open(self.path.clone(), e))?;
            self.dev = Some(dev);
        }
        self.dev.as_mut().ok_or(LinuxError::NotArmed)
    }
}

/// Whole seconds for `WDIOC_SETTIMEOUT`: rounded up, at least 1.
pub fn timeout_secs(timeout: Duration) -> i32 {
    let secs = timeout.as_millis().div_ceil(1000).max(1);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

impl<D: WatchdogDevice> Watchdog for LinuxWatchdog<D> {
    type Error = LinuxError;

    fn arm(&mut self, timeout: Duration) -> Result<Duration, LinuxError> {
        let dev = self.device()?;
        let granted = dev
            .set_timeout(timeout_secs(timeout))
            .map_err(|e| LinuxError::Device("WDIOC_SETTIMEOUT", e))?;
        dev.keepalive()
            .map_err(|e| LinuxError::Device("WDIOC_KEEPALIVE", e))?;
        Ok(Duration::from_secs(u64::try_from(granted).unwrap_or(0)))
    }

    fn pet(&mut self) -> Result<(), LinuxError> {
        let dev = self.dev.as_mut().ok_or(LinuxError::NotArmed)?;
        dev.keepalive()
            .map_err(|e| LinuxError::Device("WDIOC_KEEPALIVE", e))
    }

    /// The magic close: `V`, then close. The device is closed even if the write fails (and the
    /// error returned), as heartbeat closes it on a write failure.
    fn disarm(&mut self) -> Result<(), LinuxError> {
        let Some(mut dev) = self.dev.take() else {
            return Ok(());
        };
        let wrote = dev.write(b"V");
        let closed = dev.close();
        wrote.map_err(|e| LinuxError::Device("magic close write", e))?;
        closed.map_err(|e| LinuxError::Device("close", e))
    }
}

/// An open watchdog device file.
#[derive(Debug)]
pub struct DevWatchdog {
    file: File,
}

/// `struct watchdog_info` of `<linux/watchdog.h>`.
#[repr(C)]
#[derive(Clone, Copy)]
struct WatchdogInfo {
    options: u32,
    firmware_version: u32,
    identity: [u8; 32],
}

#[allow(unsafe_code)]
mod sys {
    use super::WatchdogInfo;
    use nix::libc::c_int;
    // <linux/watchdog.h>: WATCHDOG_IOCTL_BASE 'W'.
    nix::ioctl_read!(wdioc_getsupport, b'W', 0, WatchdogInfo);
    nix::ioctl_read!(wdioc_getbootstatus, b'W', 2, c_int);
    nix::ioctl_read!(wdioc_keepalive, b'W', 5, c_int);
    nix::ioctl_readwrite!(wdioc_settimeout, b'W', 6, c_int);
    nix::ioctl_read!(wdioc_gettimeout, b'W', 7, c_int);
}

impl DevWatchdog {
    /// Opens the device write-only (close-on-exec, as std always does), as heartbeat does.
    pub fn open(path: &Path) -> io::Result<DevWatchdog> {
        let file = OpenOptions::new().write(true).open(path)?;
        Ok(DevWatchdog { file })
    }

    fn fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}

#[allow(unsafe_code)]
impl WatchdogDevice for DevWatchdog {
    fn set_timeout(&mut self, secs: i32) -> io::Result<i32> {
        let mut v = secs;
        // SAFETY: `fd` is an open descriptor owned by `self.file`; WDIOC_SETTIMEOUT reads and
        // writes one int through the pointer, which points at `v` for the whole call.
        unsafe { sys::wdioc_settimeout(self.fd(), &mut v) }.map_err(io::Error::from)?;
        Ok(v)
    }

    fn timeout(&mut self) -> io::Result<i32> {
        let mut v = 0;
        // SAFETY: as above; WDIOC_GETTIMEOUT writes one int into `v`.
        unsafe { sys::wdioc_gettimeout(self.fd(), &mut v) }.map_err(io::Error::from)?;
        Ok(v)
    }

    fn keepalive(&mut self) -> io::Result<()> {
        let mut dummy = 0;
        // SAFETY: as above; WDIOC_KEEPALIVE ignores its argument, which points at `dummy`.
        unsafe { sys::wdioc_keepalive(self.fd(), &mut dummy) }.map_err(io::Error::from)?;
        Ok(())
    }

    fn support(&mut self) -> io::Result<Support> {
        let mut info = WatchdogInfo {
            options: 0,
            firmware_version: 0,
            identity: [0; 32],
        };
        // SAFETY: as above; WDIOC_GETSUPPORT writes one `struct watchdog_info`, which
        // `WatchdogInfo` lays out identically (`repr(C)`: two u32 and 32 bytes).
        unsafe { sys::wdioc_getsupport(self.fd(), &mut info) }.map_err(io::Error::from)?;
        Ok(Support {
            options: info.options,
            firmware_version: info.firmware_version,
            identity: info.identity,
        })
    }

    fn boot_status(&mut self) -> io::Result<u32> {
        let mut v = 0;
        // SAFETY: as above; WDIOC_GETBOOTSTATUS writes one int into `v`.
        unsafe { sys::wdioc_getbootstatus(self.fd(), &mut v) }.map_err(io::Error::from)?;
        Ok(v as u32)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    fn close(self) -> io::Result<()> {
        // `File` closes on drop and ignores close's error; watchdog drivers report nothing
        // there that we could act on.
        drop(self.file);
        Ok(())
    }
}

/// A serial line (a tty, a pty, a socket) as an `embedded-io` port for the relay client:
/// reads and writes go to the descriptor, readiness is `poll` with a zero timeout.
#[derive(Debug)]
pub struct FdPort {
    file: File,
}

impl FdPort {
    pub fn new(file: File) -> Self {
        FdPort { file }
    }

    pub fn into_inner(self) -> File {
        self.file
    }

    fn ready(&self, flags: nix::poll::PollFlags) -> io::Result<bool> {
        use nix::poll::{poll, PollFd, PollTimeout};
        let mut fds = [PollFd::new(self.file.as_fd(), flags)];
        loop {
            match poll(&mut fds, PollTimeout::ZERO) {
                Ok(0) => return Ok(false),
                Ok(_) => {
                    let got = fds[0].revents().unwrap_or(nix::poll::PollFlags::empty());
                    // An error or hang-up is "ready": the read or write reports it.
                    return Ok(!got.is_empty());
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl embedded_io::ErrorType for FdPort {
    type Error = io::Error;
}

impl embedded_io::Read for FdPort {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::Error> {
        loop {
            match self.file.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

impl embedded_io::Write for FdPort {
    fn write(&mut self, buf: &[u8]) -> Result<usize, io::Error> {
        loop {
            match self.file.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> Result<(), io::Error> {
        self.file.flush()
    }
}

impl embedded_io::ReadReady for FdPort {
    fn read_ready(&mut self) -> Result<bool, io::Error> {
        self.ready(nix::poll::PollFlags::POLLIN)
    }
}

impl embedded_io::WriteReady for FdPort {
    fn write_ready(&mut self) -> Result<bool, io::Error> {
        self.ready(nix::poll::PollFlags::POLLOUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Call {
        Open,
        SetTimeout(i32),
        GetTimeout,
        Keepalive,
        Write(Vec<u8>),
        Close,
    }

    type Log = Arc<Mutex<Vec<Call>>>;

    /// A device that records what is done to it; the driver grants at most `max` seconds.
    struct Fake {
        log: Log,
        timeout: i32,
        max: i32,
        fail_write: bool,
    }

    impl WatchdogDevice for Fake {
        fn set_timeout(&mut self, secs: i32) -> io::Result<i32> {
            self.log.lock().unwrap().push(Call::SetTimeout(secs));
            if secs < 1 {
                return Err(io::Error::from_raw_os_error(nix::libc::EINVAL));
            }
            self.timeout = secs.min(self.max);
            Ok(self.timeout)
        }
        fn timeout(&mut self) -> io::Result<i32> {
            self.log.lock().unwrap().push(Call::GetTimeout);
            Ok(self.timeout)
        }
        fn keepalive(&mut self) -> io::Result<()> {
            self.log.lock().unwrap().push(Call::Keepalive);
            Ok(())
        }
        fn support(&mut self) -> io::Result<Support> {
            let mut identity = [0u8; 32];
            identity[..17].copy_from_slice(b"Software Watchdog");
            Ok(Support {
                options: WDIOF_MAGICCLOSE | WDIOF_SETTIMEOUT,
                firmware_version: 0,
                identity,
            })
        }
        fn boot_status(&mut self) -> io::Result<u32> {
            Ok(WDIOF_CARDRESET)
        }
        fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.log.lock().unwrap().push(Call::Write(bytes.to_vec()));
            if self.fail_write {
                Err(io::Error::from_raw_os_error(nix::libc::EIO))
            } else {
                Ok(())
            }
        }
        fn close(self) -> io::Result<()> {
            // Dropping logs the close.
            Ok(())
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            // `close` consumes the device; a plain drop is a close without the magic `V`.
            self.log.lock().unwrap().push(Call::Close);
        }
    }

    fn fake(fail_write: bool) -> (LinuxWatchdog<Fake>, Log) {
        let log: Log = Arc::default();
        let l = log.clone();
        let wd = LinuxWatchdog::with_device(
            PathBuf::from("/dev/fake"),
            Box::new(move || {
                l.lock().unwrap().push(Call::Open);
                Ok(Fake {
                    log: l.clone(),
                    timeout: 60,
                    max: 255,
                    fail_write,
                })
            }),
        )
        .unwrap();
        (wd, log)
    }

    fn take(log: &Log) -> Vec<Call> {
        std::mem::take(&mut *log.lock().unwrap())
    }

    #[test]
    fn arm_sets_whole_seconds_rounded_up_and_pets() {
        let (mut wd, log) = fake(false);
        assert_eq!(take(&log), [Call::Open]);
        assert_eq!(
            wd.arm(Duration::from_millis(30_010)).unwrap(),
            Duration::from_secs(31)
        );
        assert_eq!(take(&log), [Call::SetTimeout(31), Call::Keepalive]);
        assert_eq!(
            wd.arm(Duration::from_millis(1)).unwrap(),
            Duration::from_secs(1)
        );
        // The driver's cap is what arm reports.
        assert_eq!(
            wd.arm(Duration::from_secs(1000)).unwrap(),
            Duration::from_secs(255)
        );
        take(&log);
        assert_eq!(wd.timeout().unwrap(), Duration::from_secs(255));
        wd.pet().unwrap();
        assert_eq!(take(&log), [Call::GetTimeout, Call::Keepalive]);
        assert_eq!(wd.support().unwrap().identity(), "Software Watchdog");
        assert!(wd.last_boot_was_watchdog().unwrap());
        assert_eq!(timeout_secs(Duration::ZERO), 1);
        assert_eq!(timeout_secs(Duration::MAX), i32::MAX);
    }

    #[test]
    fn disarm_is_the_magic_close_and_arm_reopens() {
        let (mut wd, log) = fake(false);
        wd.arm(Duration::from_secs(10)).unwrap();
        take(&log);
        wd.disarm().unwrap();
        assert_eq!(take(&log), [Call::Write(b"V".to_vec()), Call::Close]);
        assert!(!wd.is_open());
        assert!(matches!(wd.pet(), Err(LinuxError::NotArmed)));
        // Disarming twice does nothing more.
        wd.disarm().unwrap();
        assert!(take(&log).is_empty());
        wd.arm(Duration::from_secs(10)).unwrap();
        assert_eq!(
            take(&log),
            [Call::Open, Call::SetTimeout(10), Call::Keepalive]
        );
    }

    #[test]
    fn dropping_an_armed_watchdog_leaves_it_running() {
        let (mut wd, log) = fake(false);
        wd.arm(Duration::from_secs(10)).unwrap();
        take(&log);
        drop(wd);
        // Closed, but no `V`: the kernel keeps counting down.
        assert_eq!(take(&log), [Call::Close]);
    }

    #[test]
    fn a_failed_magic_close_still_closes_and_reports() {
        let (mut wd, log) = fake(true);
        take(&log);
        let err = wd.disarm().unwrap_err();
        assert!(err.to_string().contains("magic close"), "{err}");
        assert_eq!(take(&log), [Call::Write(b"V".to_vec()), Call::Close]);
        assert!(!wd.is_open());
    }

    #[test]
    fn the_real_device_path_reports_errors() {
        let err = LinuxWatchdog::open("/nonexistent/watchdog").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Cannot open watchdog device: /nonexistent/watchdog"),
            "{err}"
        );
        // A file that is not a watchdog: every ioctl fails with ENOTTY, none panics.
        let dir = std::env::temp_dir().join(format!("hb-wd-{}", std::process::id()));
        std::fs::write(&dir, b"").unwrap();
        let mut wd = LinuxWatchdog::open(&dir).unwrap();
        match wd.arm(Duration::from_secs(5)) {
            Err(LinuxError::Device("WDIOC_SETTIMEOUT", e)) => {
                assert_eq!(e.raw_os_error(), Some(nix::libc::ENOTTY));
            }
            other => panic!("{other:?}"),
        }
        assert!(wd.pet().is_err());
        assert!(wd.timeout().is_err());
        assert!(wd.support().is_err());
        wd.disarm().unwrap();
        assert_eq!(std::fs::read(&dir).unwrap(), b"V");
        std::fs::remove_file(&dir).unwrap();
    }
}
