//! The daemon's files that outlive it (behaviour spec §10.4–10.5): the generation counter
//! `hb_generation`, the node UUID `hb_uuid`, both in the state directory
//! (`/var/lib/heartbeat`, another one for tests), and the pid file.
//!
//! # Generation (`hb_generation`)
//!
//! 16 bytes: the number right-aligned in 15 characters and `\n`. Each start reads it, adds one
//! and writes it back before any packet leaves, so every start sends a higher `hg` than the
//! last and peers accept the restart. The file is replaced atomically (temporary file, `fsync`,
//! `rename`, `fsync` of the directory): a crash leaves the old or the new number, never a torn
//! one. heartbeat 3.0.6 rewrites it in place with `O_SYNC`.
//!
//! - Missing or empty: start at `time() + 1`, logged as 3.0.6 does
//!   (`No Previous generation - starting at <n>`, WARN).
//! - Unparseable (anything but digits between blanks): **deviation.** 3.0.6 logs
//!   `BROKEN previous generation - starting at <time+1>` but really restarts at **1**, lower
//!   than what peers remember, so they drop every packet as a replay attack until they are
//!   restarted themselves. hb never goes back: it starts at `time() + 1`, or one past the
//!   digits the file begins with if that is higher, and logs the number it really uses, plus
//!   a line saying what the file held.
//! - `hbgenmethod time`: `time()`, file untouched, as 3.0.6 (two starts within one second get
//!   the same generation there too).
//!
//! # Node UUID (`hb_uuid`)
//!
//! 16 raw bytes, read at start. Missing or shorter than 16 bytes: a random (version 4) UUID from
//! `/dev/urandom` is written (mode 0644, atomically, `fsync`ed) with 3.0.6's
//! `No uuid found for current node - generating a new uuid.`. A longer file gives its first 16
//! bytes, as in 3.0.6. (`uuidfrom nodename` derives the UUID from libc's `rand()` in 3.0.6 and
//! is not offered here.)
//!
//! # Pid file
//!
//! `/var/run/heartbeat.pid`, holding the pid as cluster-glue writes it (`%10lu\n`), so init
//! scripts and `heartbeat -s`/`-k` of either implementation read it. A running daemon holds an
//! exclusive `flock` on it for its whole life: a second start finds the lock taken and refuses
//! (`heartbeat: already running [pid <n>].`); a file left by a crash has no lock and is taken
//! over, whatever pid it names (a reused pid cannot fool it, unlike 3.0.6's `kill(pid, 0)`
//! test). The lock is released by the kernel when the daemon dies; it is not inherited across
//! `exec` (close-on-exec), so the restart exec takes it again.
//!
//! A heartbeat 3.0.6 does not `flock` its pid file: a file whose lock is free but whose pid is
//! alive and runs a program called `heartbeat` (not us) is taken as a running 3.0.6 and also
//! refused.

use crate::log::LogLine;
use hb_core::config::hacf::GenMethod;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// heartbeat's state directory (`HA_VARLIBHBDIR`).
pub const STATE_DIR: &str = "/var/lib/heartbeat";
/// The generation counter's file name in the state directory.
pub const GENERATION_FILE: &str = "hb_generation";
/// The node UUID's file name in the state directory.
pub const UUID_FILE: &str = "hb_uuid";
/// heartbeat's pid file.
pub const PID_FILE: &str = "/var/run/heartbeat.pid";
/// Bytes of the generation file: 15 digits (right-aligned) and `\n` (`GENLEN`).
pub const GENERATION_LEN: usize = 16;
/// Mode of the files written here, as heartbeat creates them.
pub const FILE_MODE: u32 = 0o644;

/// Why a state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {}: {}", .path.display(), crate::errno_text(.source))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {}", .path.display(), crate::errno_text(.source))]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: generation counter exhausted", .path.display())]
    Exhausted { path: PathBuf },
    #[error("cannot read random bytes from /dev/urandom: {}", crate::errno_text(.0))]
    Random(std::io::Error),
}

/// The generation this start uses, and what to log about how it was found (the caller also
/// logs `Heartbeat generation: <n>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    pub value: u64,
    pub log: Vec<LogLine>,
}

/// The node's UUID, and what to log about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeUuid {
    pub bytes: [u8; 16],
    pub log: Vec<LogLine>,
}

/// The state directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateDir {
    dir: PathBuf,
}

impl Default for StateDir {
    fn default() -> Self {
        StateDir::new(STATE_DIR)
    }
}

impl StateDir {
    pub fn new(dir: impl Into<PathBuf>) -> StateDir {
        StateDir { dir: dir.into() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn generation_path(&self) -> PathBuf {
        self.dir.join(GENERATION_FILE)
    }

    pub fn uuid_path(&self) -> PathBuf {
        self.dir.join(UUID_FILE)
    }

    /// The generation for this start (module docs), with the file updated for `File`.
    /// `now` is `time()`, seconds since the epoch.
    pub fn next_generation(&self, method: GenMethod, now: u64) -> Result<Generation, StateError> {
        if method == GenMethod::Time {
            return Ok(Generation {
                value: now,
                log: Vec::new(),
            });
        }
        let path = self.generation_path();
        let mut log = Vec::new();
        let by_clock = now.saturating_add(1);
        let value = match read_prefix(&path, 64)? {
            None => {
                log.push(LogLine::warn(format!(
                    "No Previous generation - starting at {by_clock}"
                )));
                by_clock
            }
            Some(bytes) => match parse_generation(&bytes) {
                Ok(previous) => previous
                    .checked_add(1)
                    .ok_or_else(|| StateError::Exhausted { path: path.clone() })?,
                Err(leading) => {
                    let value = leading
                        .and_then(|n| n.checked_add(1))
                        .map_or(by_clock, |n| n.max(by_clock));
                    log.push(LogLine::warn(format!(
                        "BROKEN previous generation - starting at {value}"
                    )));
                    log.push(LogLine::warn(format!(
                        "{} held {:?}, not a generation number; starting above both the clock \
                         and any number it began with, so that peers never see a generation \
                         go back",
                        path.display(),
                        String::from_utf8_lossy(&bytes)
                    )));
                    value
                }
            },
        };
        write_atomically(&path, format!("{value:>15}\n").as_bytes())?;
        Ok(Generation { value, log })
    }

    /// The node UUID, created if missing or short (module docs).
    pub fn uuid(&self) -> Result<NodeUuid, StateError> {
        let path = self.uuid_path();
        if let Some(bytes) = read_prefix(&path, 16)? {
            if let Ok(bytes) = <[u8; 16]>::try_from(bytes.as_slice()) {
                return Ok(NodeUuid {
                    bytes,
                    log: Vec::new(),
                });
            }
        }
        let mut bytes = [0u8; 16];
        File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(StateError::Random)?;
        // Version 4 (random), RFC 4122 variant, as libuuid's uuid_generate_random.
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        write_atomically(&path, &bytes)?;
        Ok(NodeUuid {
            bytes,
            log: vec![LogLine::info(
                "No uuid found for current node - generating a new uuid.",
            )],
        })
    }
}

/// What the generation file holds: `Ok(n)` for blanks, digits, blanks; else `Err` with the
/// number its leading digits make, if any (what 3.0.6's `sscanf("%lu")` would have read).
fn parse_generation(bytes: &[u8]) -> Result<u64, Option<u64>> {
    let text = bytes.trim_ascii();
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let leading = std::str::from_utf8(&text[..digits])
        .ok()
        .and_then(|d| d.parse::<u64>().ok());
    match leading {
        Some(n) if digits == text.len() => Ok(n),
        _ => Err(leading),
    }
}

/// Up to `max` bytes of the file; `None` if it is missing or empty.
fn read_prefix(path: &Path, max: u64) -> Result<Option<Vec<u8>>, StateError> {
    let err = |source| StateError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).map_err(err)?;
    Ok((!bytes.is_empty()).then_some(bytes))
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let err = |source| StateError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(&tmp)?;
        // The mode given to open() is cut by the umask; heartbeat's files are 0644 whatever
        // umask it was started with.
        f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// Why the pid file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// heartbeat's message (`heartbeat: already running [pid 1234].`).
    #[error("heartbeat: already running [pid {pid}].")]
    AlreadyRunning { pid: i32 },
    #[error("cannot lock {}: {}", .path.display(), crate::errno_text(.source))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The daemon's pid file, locked for as long as this value lives (module docs). Dropping it
/// removes the file.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    /// Held, never read: the lock lives as long as this descriptor.
    _lock: Flock<File>,
}

impl PidFile {
    /// Takes the pid file for this process, or says which daemon holds it.
    pub fn acquire(path: impl Into<PathBuf>) -> Result<PidFile, PidFileError> {
        let path = path.into();
        let io = |source| PidFileError::Io {
            path: path.clone(),
            source,
        };
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(FILE_MODE)
                .open(&path)
                .map_err(io)?;
            let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => lock,
                Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                    let pid = read_pid(&mut file).unwrap_or(0);
                    return Err(PidFileError::AlreadyRunning { pid });
                }
                Err((_, e)) => return Err(io(e.into())),
            };
            // Between our open() and flock() the previous owner may have removed the file (its
            // last act) and another daemon created a new one: then our lock is on a dead inode.
            let ours = lock.metadata().map_err(io)?;
            match std::fs::metadata(&path) {
                Ok(now) if (now.dev(), now.ino()) == (ours.dev(), ours.ino()) => {}
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(io(e)),
            }
            if let Some(pid) = read_pid(&mut lock).filter(|&p| foreign_heartbeat(p)) {
                return Err(PidFileError::AlreadyRunning { pid });
            }
            let text = format!("{:>10}\n", std::process::id());
            lock.set_len(0).map_err(io)?;
            FileExt::write_all_at(&*lock, text.as_bytes(), 0).map_err(io)?;
            return Ok(PidFile { path, _lock: lock });
        }
    }

    /// The pid of the daemon holding the pid file at `path`, if one runs (`heartbeat -s`,
    /// `-k`): the lock is held, or the pid is a running 3.0.6.
    pub fn running(path: &Path) -> Result<Option<i32>, PidFileError> {
        let io = |source| PidFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        match Flock::lock(file, FlockArg::LockSharedNonblock) {
            Ok(mut free) => Ok(read_pid(&mut free).filter(|&p| foreign_heartbeat(p))),
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => Ok(read_pid(&mut file)),
            Err((_, e)) => Err(io(e.into())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves the file in place for this process's next image (a re-exec): the lock goes
    /// with the descriptor at exec, and the new image takes the file again (it names us).
    pub fn keep_for_exec(self) {
        std::mem::forget(self);
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Removed while still locked; the lock goes with the descriptor right after.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The pid a pid file names (`sscanf("%lu")` of its start).
fn read_pid(file: &mut File) -> Option<i32> {
    let mut buf = [0u8; 32];
    let n = FileExt::read_at(&*file, &mut buf, 0).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?.trim_start();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    text[..digits].parse().ok().filter(|&p: &i32| p > 0)
}

/// Whether `pid` is a live process called `heartbeat` other than this one: a 3.0.6 daemon,
/// which keeps its pid file without a lock.
fn foreign_heartbeat(pid: i32) -> bool {
    if u32::try_from(pid).ok() == Some(std::process::id()) {
        return false;
    }
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| comm.trim_end() == "heartbeat")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Priority;

    const NOW: u64 = 1_425_906_309;

    fn gen(dir: &StateDir) -> Generation {
        dir.next_generation(GenMethod::File, NOW).unwrap()
    }

    fn file(dir: &StateDir) -> Vec<u8> {
        std::fs::read(dir.generation_path()).unwrap()
    }

    #[test]
    fn missing_generation_starts_from_the_clock() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        let g = gen(&dir);
        assert_eq!(g.value, NOW + 1);
        assert_eq!(
            g.log,
            [LogLine::warn(
                "No Previous generation - starting at 1425906310"
            )]
        );
        assert_eq!(file(&dir), b"     1425906310\n");
        let mode = std::fs::metadata(dir.generation_path()).unwrap().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn generation_round_trips_and_only_goes_up() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        std::fs::write(dir.generation_path(), b"              7\n").unwrap();
        let mut last = 7;
        for _ in 0..5 {
            let g = gen(&dir);
            assert_eq!(g.value, last + 1);
            assert!(g.log.is_empty());
            assert_eq!(file(&dir).len(), GENERATION_LEN);
            last = g.value;
        }
        assert_eq!(file(&dir), b"             12\n");
        // The clock going back changes nothing.
        let g = dir.next_generation(GenMethod::File, 5).unwrap();
        assert_eq!(g.value, 13);
    }

    #[test]
    fn generation_written_by_heartbeat_is_read() {
        // 3.0.6 writes "%15lu\n"; a hand-edited file without padding is fine too.
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        std::fs::write(dir.generation_path(), b"1425900000").unwrap();
        assert_eq!(gen(&dir).value, 1_425_900_001);
    }

    #[test]
    fn empty_generation_file_counts_as_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        std::fs::write(dir.generation_path(), b"").unwrap();
        let g = gen(&dir);
        assert_eq!(g.value, NOW + 1);
        assert_eq!(g.log[0].priority, Priority::Warn);
    }

    #[test]
    fn corrupt_generation_never_goes_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        // Garbage: the clock.
        std::fs::write(dir.generation_path(), b"garbage\n").unwrap();
        let g = gen(&dir);
        assert_eq!(g.value, NOW + 1);
        assert_eq!(
            g.log[0],
            LogLine::warn("BROKEN previous generation - starting at 1425906310")
        );
        assert!(g.log[1].text.contains("\"garbage\\n\""), "{:?}", g.log);
        assert_eq!(file(&dir), b"     1425906310\n");
        // A torn number above the clock: one past it.
        std::fs::write(dir.generation_path(), b"   9999999999x\n").unwrap();
        assert_eq!(gen(&dir).value, 10_000_000_000);
        // A torn number below the clock: the clock.
        std::fs::write(dir.generation_path(), b"12 34\n").unwrap();
        assert_eq!(gen(&dir).value, NOW + 1);
        // Too big for u64: the clock, and the file is sane again.
        std::fs::write(dir.generation_path(), b"99999999999999999999999\n").unwrap();
        assert_eq!(gen(&dir).value, NOW + 1);
        assert_eq!(gen(&dir).value, NOW + 2);
    }

    #[test]
    fn time_method_leaves_the_file_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        let g = dir.next_generation(GenMethod::Time, NOW).unwrap();
        assert_eq!(g.value, NOW);
        assert!(!dir.generation_path().exists());
    }

    #[test]
    fn unwritable_state_dir_is_an_error() {
        let dir = StateDir::new("/nonexistent/hb-state");
        let e = dir.next_generation(GenMethod::File, NOW).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot write /nonexistent/hb-state/hb_generation: No such file or directory"
        );
    }

    #[test]
    fn uuid_is_created_once_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        let first = dir.uuid().unwrap();
        assert_eq!(
            first.log,
            [LogLine::info(
                "No uuid found for current node - generating a new uuid."
            )]
        );
        assert_eq!(first.bytes[6] >> 4, 4, "version 4");
        assert_eq!(first.bytes[8] >> 6, 0b10, "RFC 4122 variant");
        let on_disk = std::fs::read(dir.uuid_path()).unwrap();
        assert_eq!(on_disk, first.bytes);
        let mode = std::fs::metadata(dir.uuid_path()).unwrap().mode();
        assert_eq!(mode & 0o777, 0o644);
        let again = dir.uuid().unwrap();
        assert_eq!(again.bytes, first.bytes);
        assert!(again.log.is_empty());
    }

    #[test]
    fn short_uuid_is_replaced_and_long_one_truncated() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        std::fs::write(dir.uuid_path(), [1u8; 5]).unwrap();
        let u = dir.uuid().unwrap();
        assert_eq!(u.log.len(), 1);
        assert_eq!(std::fs::read(dir.uuid_path()).unwrap().len(), 16);

        let mut long: Vec<u8> = (0..16).collect();
        long.extend_from_slice(b"trailing");
        std::fs::write(dir.uuid_path(), &long).unwrap();
        let u = dir.uuid().unwrap();
        assert_eq!(u.bytes.as_slice(), &long[..16]);
        assert!(u.log.is_empty());
    }

    #[test]
    fn pid_file_refuses_a_second_instance() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("heartbeat.pid");
        let held = PidFile::acquire(&path).unwrap();
        let me = std::process::id();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{me:>10}\n")
        );
        // flock locks belong to the open file description: a second open in this very
        // process conflicts exactly as another process would.
        let e = PidFile::acquire(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("heartbeat: already running [pid {me}].")
        );
        assert_eq!(PidFile::running(&path).unwrap(), Some(me as i32));
        drop(held);
        assert!(!path.exists());
        assert_eq!(PidFile::running(&path).unwrap(), None);
    }

    #[test]
    fn stale_pid_file_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("heartbeat.pid");
        // Left by a crash, naming a live process (pid 1) that holds no lock.
        std::fs::write(&path, "         1\n").unwrap();
        assert_eq!(PidFile::running(&path).unwrap(), None);
        let held = PidFile::acquire(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{:>10}\n", std::process::id())
        );
        drop(held);
        // Garbage is stale too.
        std::fs::write(&path, "not a pid at all, and longer than before\n").unwrap();
        let _held = PidFile::acquire(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{:>10}\n", std::process::id())
        );
    }

    #[test]
    fn lock_held_by_another_process_is_seen() {
        // util-linux's flock(1) holds the lock the way a running daemon does (`--no-fork`: the
        // process we kill is the one holding it).
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("heartbeat.pid");
        std::fs::write(&path, "      4242\n").unwrap();
        let mut holder = std::process::Command::new("flock")
            .args(["--exclusive", "--no-fork"])
            .arg(&path)
            .args(["sleep", "10"])
            .spawn()
            .expect("flock(1) from util-linux");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while PidFile::running(&path).unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "flock(1) never locked"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(PidFile::running(&path).unwrap(), Some(4242));
        let e = PidFile::acquire(&path).unwrap_err();
        assert_eq!(e.to_string(), "heartbeat: already running [pid 4242].");
        let _ = holder.kill();
        let _ = holder.wait();
        // The holder is gone: the file is stale and taken over.
        let _held = PidFile::acquire(&path).unwrap();
    }
}
