//! `hbctl relay`: puts a relay board in a user's hands (issue 17) — writes its image
//! (`flash`), gives it the cluster's key over its serial line (`provision`), shows what it runs
//! and sees (`status`) and rehearses a fence on a port nothing is wired to (`test`).
//!
//! The serial side speaks the relay protocol (`hb-firmware/PROTOCOL.md`) itself, with hb-core's
//! codec: an info request (answered by any board, keyed or not), then a hello and the request.
//! The device is a tty (set to 115 200 8N1, raw) or a Unix socket (an emulated board's line).

use clap::{Subcommand, ValueEnum};
use hb_core::auth::{Keyring, Method};
use hb_core::config::authkeys::AuthKeys;
use hb_core::msg::compact::{Deframer, Frame};
use hb_core::relay::{
    self, Body, FenceAction, FenceOutcome, Info, RelayFrame, ReplayGuard, KEY_FLASH_FAILED,
    KEY_IN_IMAGE, KEY_SOURCE_FLASH, KEY_SOURCE_IMAGE, KEY_SOURCE_NONE, KEY_STORED, MAX_FRAME_LEN,
    MAX_SECRET_LEN, VERSION,
};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a board has to answer a request: a frame takes ≈ 5 ms at 115 200 baud and the relay
/// answers in its next loop turn, so two seconds mean nobody is there.
const ANSWER_WAIT: Duration = Duration::from_secs(2);
/// How long a fence rehearsal may take: the relay answers at the end of its 500 ms pulse.
const FENCE_WAIT: Duration = Duration::from_secs(3);
/// Where the Debian package puts the prebuilt images (`tests/boards.sh --build-only` writes
/// them to `target/relay-images/`).
pub const DEFAULT_IMAGES: &str = "/usr/share/hb/relay";

#[derive(Subcommand, Debug)]
pub enum RelayCommand {
    /// Write the relay image onto a board: a Pico through its RPI-RP2 drive (or picotool), a
    /// Black Pill through its ROM's DFU mode (dfu-util), either through a debug probe (--probe).
    Flash {
        #[arg(long, value_enum)]
        board: Board,
        /// The image (default: the unkeyed image for the board from --images).
        #[arg(long)]
        image: Option<PathBuf>,
        /// The directory of the prebuilt images.
        #[arg(long, env = "HB_RELAY_IMAGES", default_value = DEFAULT_IMAGES)]
        images: PathBuf,
        /// Write through an attached debug probe with `probe-rs download` (takes the ELF).
        #[arg(long)]
        probe: bool,
        /// The Pico's mounted RPI-RP2 drive (default: found among the mounted file systems).
        #[arg(long)]
        drive: Option<PathBuf>,
        /// The mount table to search for the drive.
        #[arg(long, default_value = "/proc/mounts", hide = true)]
        mounts: PathBuf,
    },
    /// Give the board the cluster's key (the active key of DIR/authkeys); a keyed board is
    /// re-keyed with a request signed with its current key, which DIR/authkeys must list too.
    Provision {
        tty: PathBuf,
        #[arg(short = 'c', long = "config-dir", default_value = "/etc/ha.d")]
        dir: PathBuf,
    },
    /// Show the board: firmware, boot cause, key, and (with the key) its ports, hosts and
    /// watchdogs.
    Status {
        tty: PathBuf,
        #[arg(short = 'c', long = "config-dir", default_value = "/etc/ha.d")]
        dir: PathBuf,
    },
    /// A fence rehearsal: pulse the reset line of a port no host is linked on, and wait for the
    /// board to say it was done.
    Test {
        tty: PathBuf,
        /// The port to pulse (default: the last port with no host linked).
        #[arg(long)]
        port: Option<u8>,
        #[arg(short = 'c', long = "config-dir", default_value = "/etc/ha.d")]
        dir: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Board {
    Pico,
    Blackpill,
}

impl Board {
    fn image_stem(self) -> &'static str {
        match self {
            Board::Pico => "pico",
            Board::Blackpill => "blackpill-f411",
        }
    }

    fn chip(self) -> &'static str {
        match self {
            Board::Pico => "RP2040",
            Board::Blackpill => "STM32F411CEUx",
        }
    }
}

/// Runs a `relay` subcommand; returns the exit status (0 done, 1 failed, 2 bad arguments or
/// configuration).
pub fn run(cmd: &RelayCommand, out: &mut impl Write) -> u8 {
    let r = match cmd {
        RelayCommand::Flash {
            board,
            image,
            images,
            probe,
            drive,
            mounts,
        } => flash(
            *board,
            image.as_deref(),
            images,
            *probe,
            drive.as_deref(),
            mounts,
            out,
        ),
        RelayCommand::Provision { tty, dir } => provision(tty, dir, out),
        RelayCommand::Status { tty, dir } => status(tty, dir, out),
        RelayCommand::Test { tty, port, dir } => rehearse(tty, *port, dir, out),
    };
    match r {
        Ok(()) => 0,
        Err(Failure::Usage(m)) => {
            eprintln!("hbctl relay: {m}");
            2
        }
        Err(Failure::Failed(m)) => {
            eprintln!("hbctl relay: {m}");
            1
        }
    }
}

enum Failure {
    /// Bad arguments or configuration.
    Usage(String),
    /// The board, the tool or the line failed.
    Failed(String),
}

type Res<T> = Result<T, Failure>;

fn failed(m: impl Into<String>) -> Failure {
    Failure::Failed(m.into())
}

// ---- flash ----

fn flash(
    board: Board,
    image: Option<&Path>,
    images: &Path,
    probe: bool,
    drive: Option<&Path>,
    mounts: &Path,
    out: &mut impl Write,
) -> Res<()> {
    let ext = match (probe, board) {
        (true, _) => "elf",
        (false, Board::Pico) => "uf2",
        (false, Board::Blackpill) => "bin",
    };
    let image = match image {
        Some(p) => p.to_path_buf(),
        None => images.join(format!("{}.{ext}", board.image_stem())),
    };
    if !image.is_file() {
        return Err(Failure::Usage(format!(
            "{}: no such image (the prebuilt images are in {DEFAULT_IMAGES}; give one with --image)",
            image.display()
        )));
    }
    let found_ext = image.extension().and_then(|e| e.to_str()).unwrap_or("");
    if found_ext != ext {
        return Err(Failure::Usage(format!(
            "{}: a .{ext} image is needed here (got .{found_ext})",
            image.display()
        )));
    }
    if probe {
        run_tool(
            "probe-rs",
            &[
                "download",
                "--chip",
                board.chip(),
                "--binary-format",
                "elf",
                &image.display().to_string(),
            ],
            "is a debug probe attached to the board's SWD pins (probe-rs list)?",
        )?;
        run_tool(
            "probe-rs",
            &["reset", "--chip", board.chip()],
            "the image is written; reset the board by hand",
        )?;
        let _ = writeln!(out, "{}: written through the probe", image.display());
        return Ok(());
    }
    match board {
        Board::Blackpill => {
            run_tool(
                "dfu-util",
                &[
                    "-a",
                    "0",
                    "-s",
                    "0x08000000:leave",
                    "-D",
                    &image.display().to_string(),
                ],
                "is the Black Pill in DFU mode? Hold BOOT0, tap NRST, release BOOT0 (lsusb then \
                 shows 0483:df11 \"STM Device in DFU Mode\")",
            )?;
            let _ = writeln!(
                out,
                "{}: written by dfu-util; the board restarts",
                image.display()
            );
        }
        Board::Pico => {
            let drive = match drive {
                Some(d) => Some(d.to_path_buf()),
                None => find_rp2_drive(mounts),
            };
            match drive {
                Some(d) => {
                    if !is_rp2_drive(&d) {
                        return Err(failed(format!(
                            "{}: not a Pico's RPI-RP2 drive (no INFO_UF2.TXT naming RPI-RP2)",
                            d.display()
                        )));
                    }
                    let dest = d.join("hb-relay.uf2");
                    copy_synced(&image, &dest)
                        .map_err(|e| failed(format!("cannot write {}: {e}", dest.display())))?;
                    let _ = writeln!(
                        out,
                        "{}: copied to {}; the Pico restarts into the relay",
                        image.display(),
                        d.display()
                    );
                }
                None => {
                    run_tool(
                        "picotool",
                        &["load", "-x", "-t", "uf2", &image.display().to_string()],
                        "no RPI-RP2 drive is mounted: hold BOOTSEL while plugging the Pico in, \
                         then mount its drive (or let picotool find it)",
                    )?;
                    let _ = writeln!(out, "{}: loaded by picotool", image.display());
                }
            }
        }
    }
    Ok(())
}

/// Runs `tool` with `args`; a missing tool or a failure says what to check.
fn run_tool(tool: &str, args: &[&str], hint: &str) -> Res<()> {
    let output = Command::new(tool).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            failed(format!("{tool} is not installed (apt install {tool})"))
        } else {
            failed(format!("cannot run {tool}: {e}"))
        }
    })?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let said = said.trim();
    Err(failed(format!(
        "{tool} {} failed ({}){}{said}\n{hint}",
        args.join(" "),
        output.status,
        if said.is_empty() { "" } else { ": " }
    )))
}

/// The mount point of a Pico's bootloader drive, if one is mounted.
fn find_rp2_drive(mounts: &Path) -> Option<PathBuf> {
    let table = std::fs::read_to_string(mounts).ok()?;
    table
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|m| PathBuf::from(unescape_mount(m)))
        .find(|m| is_rp2_drive(m))
}

/// The RP2040's boot ROM drive holds INFO_UF2.TXT with `Board-ID: RPI-RP2`.
fn is_rp2_drive(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("INFO_UF2.TXT")).is_ok_and(|t| t.contains("RPI-RP2"))
}

/// /proc/mounts writes a space in a path as `\040` (and tab, newline, backslash likewise).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (b.get(i), oct) {
            (Some(b'\\'), Some(v)) => {
                out.push(v);
                i += 4;
            }
            (Some(&c), _) => {
                out.push(c);
                i += 1;
            }
            (None, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn copy_synced(from: &Path, to: &Path) -> std::io::Result<()> {
    let data = std::fs::read(from)?;
    let mut f = std::fs::File::create(to)?;
    f.write_all(&data)?;
    // The Pico starts the image once the last block is in: make it get there now.
    f.sync_all()
}

// ---- the serial line ----

enum Io {
    Tty(std::fs::File),
    Socket(UnixStream),
}

/// A relay board's serial line: frames out, frames in with a deadline.
struct Line {
    io: Io,
    name: String,
    deframer: Box<Deframer<MAX_FRAME_LEN>>,
}

impl Line {
    fn open(path: &Path) -> Res<Line> {
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| Failure::Usage(format!("{name}: {e}")))?;
        let io = if meta.file_type().is_socket() {
            Io::Socket(UnixStream::connect(path).map_err(|e| failed(format!("{name}: {e}")))?)
        } else if meta.file_type().is_char_device() {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(nix::libc::O_NOCTTY)
                .open(path)
                .map_err(|e| failed(format!("{name}: {e}")))?;
            set_raw(&f).map_err(|e| failed(format!("{name}: not a serial port: {e}")))?;
            Io::Tty(f)
        } else {
            return Err(Failure::Usage(format!(
                "{name}: not a serial port (a relay board is on a tty such as /dev/ttyUSB0)"
            )));
        };
        Ok(Line {
            io,
            name,
            deframer: Box::new(Deframer::new()),
        })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match &self.io {
            Io::Tty(f) => f.as_fd(),
            Io::Socket(s) => s.as_fd(),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Res<()> {
        let r = match &mut self.io {
            Io::Tty(f) => f.write_all(bytes),
            Io::Socket(s) => s.write_all(bytes),
        };
        r.map_err(|e| failed(format!("{}: {e}", self.name)))
    }

    /// Reads until `take` returns something for a frame, or `wait` passes.
    fn recv<T>(
        &mut self,
        wait: Duration,
        mut take: impl FnMut(&Frame<'_>) -> Option<T>,
    ) -> Res<Option<T>> {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 256];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
            let mut fds = [nix::poll::PollFd::new(
                self.fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            match nix::poll::poll(&mut fds, ms) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(failed(format!("{}: {e}", self.name))),
            }
            let n = match &mut self.io {
                Io::Tty(f) => f.read(&mut buf),
                Io::Socket(s) => s.read(&mut buf),
            }
            .map_err(|e| failed(format!("{}: {e}", self.name)))?;
            if n == 0 {
                return Err(failed(format!("{}: the line hung up", self.name)));
            }
            let mut rest = buf.get(..n).unwrap_or_default();
            while !rest.is_empty() {
                let (used, got) = self.deframer.feed(rest);
                rest = rest.get(used..).unwrap_or_default();
                if let Some(Ok(frame)) = got {
                    if let Some(t) = take(&frame) {
                        return Ok(Some(t));
                    }
                }
            }
        }
    }
}

/// 115 200 baud, 8N1, raw, no flow control: the relay's line settings.
fn set_raw(f: &std::fs::File) -> nix::Result<()> {
    use nix::sys::termios::{self, BaudRate, ControlFlags, SetArg};
    let mut t = termios::tcgetattr(f)?;
    termios::cfmakeraw(&mut t);
    t.control_flags |= ControlFlags::CLOCAL | ControlFlags::CREAD;
    t.control_flags &= !(ControlFlags::CRTSCTS | ControlFlags::CSTOPB | ControlFlags::PARENB);
    termios::cfsetspeed(&mut t, BaudRate::B115200)?;
    termios::tcsetattr(f, SetArg::TCSANOW, &t)?;
    termios::tcflush(f, termios::FlushArg::TCIOFLUSH)
}

/// A fresh 64-bit number for a session.
fn session_id() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        b = (t ^ u64::from(std::process::id()) << 32).to_le_bytes();
    }
    u64::from_le_bytes(b) | 1
}

/// What an info answer says, owned.
#[derive(Clone, Debug)]
struct BoardInfo {
    firmware: String,
    boot_cause: u8,
    key_source: u8,
    key_index: u8,
    key_method: Option<Method>,
    ports: u8,
    uptime_s: u32,
}

impl BoardInfo {
    fn from(i: &Info<'_>) -> Self {
        BoardInfo {
            firmware: String::from_utf8_lossy(i.firmware).into_owned(),
            boot_cause: i.boot_cause,
            key_source: i.key_source,
            key_index: i.key_index,
            key_method: i.key_method,
            ports: i.ports,
            uptime_s: i.uptime_s,
        }
    }

    fn key_text(&self) -> String {
        let method = self.key_method.map_or("?", Method::name);
        match self.key_source {
            KEY_SOURCE_NONE => "none: the board is unprovisioned and forwards and fences nothing \
                 (hbctl relay provision gives it the cluster's key)"
                .to_string(),
            KEY_SOURCE_IMAGE => format!("{} {method}, compiled into the image", self.key_index),
            KEY_SOURCE_FLASH => format!("{} {method}, provisioned (kept in flash)", self.key_index),
            other => format!("{} {method}, unknown source {other}", self.key_index),
        }
    }
}

/// The keyring an unkeyed board's info answers verify with: `crc` at index 0.
fn crc_keys() -> Keyring {
    let mut k = Keyring::new();
    let _ = k.insert(0, Method::Crc, b"");
    let _ = k.set_active(0);
    k
}

fn encode(frame: &RelayFrame<'_>, keys: &Keyring) -> Res<Vec<u8>> {
    let mut out = vec![0u8; MAX_FRAME_LEN];
    let n = relay::encode(frame, keys, &mut out)
        .map_err(|e| failed(format!("cannot encode a {}: {e:?}", frame.body.name())))?;
    out.truncate(n);
    Ok(out)
}

/// Asks the board what it is. `Ok(None)` when nothing answered in time.
fn ask_info(line: &mut Line, keys: Option<&Keyring>) -> Res<BoardInfo> {
    let session = session_id();
    let req = RelayFrame {
        link: 0,
        counter: 0,
        body: Body::InfoRequest { session },
    };
    // Any board answers an info request whatever its MAC, so `crc` will do.
    let wire = encode(&req, &crc_keys())?;
    // A 0x00 first ends whatever half frame the board may hold.
    line.send(&[0])?;
    line.send(&wire)?;
    let unsigned = crc_keys();
    let got = line.recv(ANSWER_WAIT, |frame| {
        let sealed = relay::open(frame).ok()?;
        // What an info answer says is no secret: one signed with a key we do not have (a
        // board keyed with another key) is still shown, and provisioning then says why.
        let f = match keys {
            Some(k) if sealed.verify(k).is_ok() => sealed.verify(k).ok()?,
            _ if sealed.auth.index == 0 => sealed.verify(&unsigned).ok()?,
            _ => sealed.parse_unverified().ok()?,
        };
        match f.body {
            Body::Info(i) if f.link == session => Some(BoardInfo::from(&i)),
            _ => None,
        }
    })?;
    got.ok_or_else(|| {
        failed(format!(
            "{}: no answer from a relay board within {} s: is it the board's tty (115 200 8N1), \
             is the board powered and running the hb relay image (not its bootloader)?",
            line.name,
            ANSWER_WAIT.as_secs()
        ))
    })
}

/// A link to the board opened with `keys`: the ids to put on frames and to expect on answers.
struct Link {
    link: u64,
    tx: u32,
    rx: ReplayGuard,
    port: u8,
    ports: u8,
}

impl Link {
    fn next(&mut self) -> u32 {
        self.tx += 1;
        self.tx
    }
}

/// Says hello with `keys`; `None` when the board did not answer (it does not hold that key).
fn hello(line: &mut Line, keys: &Keyring) -> Res<Option<Link>> {
    let session = session_id();
    let name = crate::config::local_node_name(Path::new("/etc/ha.d")).unwrap_or_default();
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(relay::MAX_NAME_LEN)
        .collect();
    let wire = encode(
        &RelayFrame {
            link: 0,
            counter: 0,
            body: Body::Hello {
                version: VERSION,
                session,
                name: name.as_bytes(),
            },
        },
        keys,
    )?;
    line.send(&wire)?;
    let mut rx = ReplayGuard::new(session);
    let got = line.recv(ANSWER_WAIT, |frame| {
        let f = relay::decode(frame, keys).ok()?;
        match f.body {
            Body::Identify {
                link, port, ports, ..
            } if rx.accept(f.link, f.counter).is_ok() => Some((link, port, ports)),
            _ => None,
        }
    })?;
    Ok(got.map(|(link, port, ports)| Link {
        link,
        tx: 0,
        rx,
        port,
        ports,
    }))
}

fn read_authkeys(dir: &Path) -> Res<AuthKeys> {
    let path = dir.join("authkeys");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    let mut problems = Vec::new();
    let keys = AuthKeys::parse(&text, &mut |e| {
        problems.push(format!("{}:{e}", path.display()))
    });
    keys.map_err(|e| {
        Failure::Usage(format!(
            "{}: {e}{}{}",
            path.display(),
            if problems.is_empty() { "" } else { "\n" },
            problems.join("\n")
        ))
    })
}

/// A keyring of one `authkeys` entry, active.
fn one_key(index: u8, method: Method, secret: &[u8]) -> Res<Keyring> {
    let mut k = Keyring::new();
    k.insert(index, method, secret)
        .and_then(|()| k.set_active(index))
        .map_err(|e| Failure::Usage(format!("key {index}: {e:?}")))?;
    Ok(k)
}

/// The secret a board is given for an `authkeys` key: the key itself, up to
/// [`MAX_SECRET_LEN`] bytes. (A longer key could go as its hash, which HMAC uses in its
/// place; not done yet.)
fn board_secret(method: Method, key: &[u8]) -> Res<Vec<u8>> {
    if key.len() <= MAX_SECRET_LEN {
        return Ok(key.to_vec());
    }
    Err(Failure::Usage(format!(
        "a {} key longer than {MAX_SECRET_LEN} bytes cannot be given to a relay board yet \
         (a shorter key in authkeys will do)",
        method.name()
    )))
}

// ---- provision ----

fn provision(tty: &Path, dir: &Path, out: &mut impl Write) -> Res<()> {
    let auth = read_authkeys(dir)?;
    let active = auth.active();
    let (index, method) = (active.index(), active.method());
    let secret = board_secret(method, active.key())?;
    let new_keys = one_key(index, method, &secret)?;
    let mut line = Line::open(tty)?;
    let info = ask_info(&mut line, Some(&auth.keyring()))?;
    let session = session_id();
    // The keys the board may sign its answer with: the new one, or the one it had.
    let mut answer_keys = vec![new_keys.clone(), crc_keys()];
    let body = Body::Key {
        session,
        index,
        method,
        secret: &secret,
    };
    let request = match info.key_source {
        KEY_SOURCE_IMAGE => {
            return Err(failed(format!(
                "{}: the board's key ({}) is compiled into its image and cannot be changed: flash \
                 the unkeyed image (hbctl relay flash) to provision it",
                line.name,
                info.key_text()
            )))
        }
        KEY_SOURCE_NONE => encode(
            &RelayFrame {
                link: 0,
                counter: 0,
                body,
            },
            &new_keys,
        )?,
        _ => {
            // Re-keying: signed with the board's current key, which authkeys must list.
            let Some(current) = auth.get(info.key_index) else {
                return Err(failed(format!(
                    "{}: the board holds key {}, which {}/authkeys does not list: re-keying \
                     needs the current key (list it there too), or a factory reset (hold the \
                     board's reset jumper at power-up) to provision anew",
                    line.name,
                    info.key_index,
                    dir.display()
                )));
            };
            let current_keys = one_key(
                current.index(),
                current.method(),
                &board_secret(current.method(), current.key())?,
            )?;
            answer_keys.push(current_keys.clone());
            let Some(mut link) = hello(&mut line, &current_keys)? else {
                return Err(failed(format!(
                    "{}: the board does not accept key {} of {}/authkeys (its key {} has \
                     another secret): a key the board does not accept; re-key with the key it \
                     holds, or factory-reset it",
                    line.name,
                    info.key_index,
                    dir.display(),
                    info.key_index
                )));
            };
            if info.key_index == index && info.key_method == Some(method) {
                let _ = writeln!(
                    out,
                    "{}: already provisioned with key {index} ({})",
                    line.name,
                    method.name()
                );
                return Ok(());
            }
            let counter = link.next();
            encode(
                &RelayFrame {
                    link: link.link,
                    counter,
                    body,
                },
                &current_keys,
            )?
        }
    };
    line.send(&request)?;
    let answer = line.recv(ANSWER_WAIT, |frame| {
        let f = answer_keys
            .iter()
            .find_map(|k| relay::decode(frame, k).ok())?;
        match f.body {
            Body::KeyResult { outcome, index } if f.link == session => Some((outcome, index)),
            _ => None,
        }
    })?;
    match answer {
        Some((KEY_STORED, _)) => {
            let _ = writeln!(
                out,
                "{}: provisioned with key {index} ({}); the hosts link again with it",
                line.name,
                method.name()
            );
            Ok(())
        }
        Some((KEY_FLASH_FAILED, _)) => Err(failed(format!(
            "{}: the board could not write the key to its flash; it keeps its old key",
            line.name
        ))),
        Some((KEY_IN_IMAGE, _)) => Err(failed(format!(
            "{}: the board's key is compiled into its image",
            line.name
        ))),
        Some((other, _)) => Err(failed(format!(
            "{}: the board refused the key (outcome {other})",
            line.name
        ))),
        None => Err(failed(format!(
            "{}: the board did not take the key within {} s: it does not accept it (a keyed \
             board takes a new key only signed with its current one)",
            line.name,
            ANSWER_WAIT.as_secs()
        ))),
    }
}

// ---- status and test ----

/// One port's report, owned.
struct PortLine {
    flags: u8,
    timeout_ms: u32,
    age: Option<u32>,
    resets: u32,
    fences: u32,
    rejected: u32,
    garbage: u32,
    name: String,
}

/// Opens a link with the board's key from authkeys and asks for its status.
fn board_status(line: &mut Line, auth: &AuthKeys, info: &BoardInfo) -> Res<(Link, Vec<PortLine>)> {
    let Some(entry) = auth.get(info.key_index) else {
        return Err(failed(format!(
            "{}: the board holds key {}, which authkeys does not list",
            line.name, info.key_index
        )));
    };
    let keys = one_key(
        entry.index(),
        entry.method(),
        &board_secret(entry.method(), entry.key())?,
    )?;
    let Some(mut link) = hello(line, &keys)? else {
        return Err(failed(format!(
            "{}: the board does not accept key {} of authkeys: a key the board does not accept",
            line.name, info.key_index
        )));
    };
    let counter = link.next();
    let wire = encode(
        &RelayFrame {
            link: link.link,
            counter,
            body: Body::StatusRequest,
        },
        &keys,
    )?;
    line.send(&wire)?;
    let rx = &mut link.rx;
    let ports = line.recv(ANSWER_WAIT, |frame| {
        let f = relay::decode(frame, &keys).ok()?;
        let Body::Status(s) = f.body else {
            return None;
        };
        rx.accept(f.link, f.counter).ok()?;
        Some(
            s.ports()
                .map(|p| PortLine {
                    flags: p.flags.0,
                    timeout_ms: p.timeout_ms,
                    age: p.last_pet_age_ms,
                    resets: p.resets,
                    fences: p.fences,
                    rejected: p.rejected,
                    garbage: p.garbage,
                    name: String::from_utf8_lossy(p.name).into_owned(),
                })
                .collect::<Vec<_>>(),
        )
    })?;
    let ports = ports.ok_or_else(|| failed(format!("{}: no status answer", line.name)))?;
    Ok((link, ports))
}

fn status(tty: &Path, dir: &Path, out: &mut impl Write) -> Res<()> {
    let auth = read_authkeys(dir).ok();
    let mut line = Line::open(tty)?;
    let info = ask_info(&mut line, auth.as_ref().map(AuthKeys::keyring).as_ref())?;
    let _ = writeln!(
        out,
        "relay {}: hb-firmware {}, {} ports, up {} s, boot cause: {}",
        line.name,
        info.firmware,
        info.ports,
        info.uptime_s,
        relay::boot_cause_name(info.boot_cause)
    );
    let _ = writeln!(out, "key: {}", info.key_text());
    if info.key_source == KEY_SOURCE_NONE {
        return Ok(());
    }
    let Some(auth) = auth else {
        let _ = writeln!(
            out,
            "ports: not shown ({}/authkeys unreadable)",
            dir.display()
        );
        return Ok(());
    };
    let (link, ports) = board_status(&mut line, &auth, &info)?;
    for (i, p) in ports.iter().enumerate() {
        let host = if p.name.is_empty() {
            "-"
        } else {
            p.name.as_str()
        };
        let mut state = Vec::new();
        if p.flags & relay::PortFlags::LINKED != 0 {
            state.push("linked".to_string());
        }
        if p.flags & relay::PortFlags::ARMED != 0 {
            state.push(format!("watchdog {} ms", p.timeout_ms));
        }
        if p.flags & relay::PortFlags::HELD != 0 {
            state.push("held off".to_string());
        } else if p.flags & relay::PortFlags::ASSERTED != 0 {
            state.push("reset asserted".to_string());
        }
        if p.flags & relay::PortFlags::WATCHDOG_FIRED != 0 {
            state.push("reset by its watchdog".to_string());
        }
        if usize::from(link.port) == i {
            state.push("this tool".to_string());
        }
        let pet = p.age.map_or("never".to_string(), |a| format!("{a} ms ago"));
        let _ = writeln!(
            out,
            "port {i}: host {host} [{}] last pet {pet}, resets {}, fences {}, rejected {}, garbage {}",
            state.join(", "),
            p.resets,
            p.fences,
            p.rejected,
            p.garbage
        );
    }
    Ok(())
}

fn rehearse(tty: &Path, port: Option<u8>, dir: &Path, out: &mut impl Write) -> Res<()> {
    let auth = read_authkeys(dir)?;
    let mut line = Line::open(tty)?;
    let info = ask_info(&mut line, Some(&auth.keyring()))?;
    if info.key_source == KEY_SOURCE_NONE {
        return Err(failed(format!(
            "{}: the board is unprovisioned and fences nothing: run hbctl relay provision first",
            line.name
        )));
    }
    let (mut link, ports) = board_status(&mut line, &auth, &info)?;
    let free = |i: usize| {
        i != usize::from(link.port)
            && ports
                .get(i)
                .is_some_and(|p| p.flags & relay::PortFlags::LINKED == 0 && p.name.is_empty())
    };
    let target = match port {
        Some(p) if usize::from(p) >= usize::from(link.ports) => {
            return Err(Failure::Usage(format!(
                "port {p}: the board has ports 0 to {}",
                link.ports.saturating_sub(1)
            )))
        }
        Some(p) if !free(usize::from(p)) => {
            return Err(failed(format!(
                "port {p} has a host on it (or is this tool's): a rehearsal needs a port with \
                 nothing wired to it"
            )))
        }
        Some(p) => p,
        None => (0..usize::from(link.ports))
            .rev()
            .find(|&i| free(i))
            .and_then(|i| u8::try_from(i).ok())
            .ok_or_else(|| failed("every port has a host on it: give one to pulse with --port"))?,
    };
    let entry = auth
        .get(info.key_index)
        .ok_or_else(|| failed("the board's key is not in authkeys"))?;
    let keys = one_key(
        entry.index(),
        entry.method(),
        &board_secret(entry.method(), entry.key())?,
    )?;
    let counter = link.next();
    let wire = encode(
        &RelayFrame {
            link: link.link,
            counter,
            body: Body::Fence {
                target,
                action: FenceAction::Reset,
                name: b"",
            },
        },
        &keys,
    )?;
    let started = Instant::now();
    line.send(&wire)?;
    let rx = &mut link.rx;
    let outcome = line.recv(FENCE_WAIT, |frame| {
        let f = relay::decode(frame, &keys).ok()?;
        match f.body {
            Body::FenceResult {
                counter: c,
                outcome,
                ..
            } if c == counter && rx.accept(f.link, f.counter).is_ok() => Some(outcome),
            _ => None,
        }
    })?;
    match outcome {
        Some(FenceOutcome::Done) => {
            let _ = writeln!(
                out,
                "{}: fence rehearsal on port {target}: reset line pulsed, done after {} ms",
                line.name,
                started.elapsed().as_millis()
            );
            Ok(())
        }
        Some(o) => Err(failed(format!(
            "{}: fence rehearsal on port {target}: the board answered {}",
            line.name,
            o.name()
        ))),
        None => Err(failed(format!(
            "{}: fence rehearsal on port {target}: no answer within {} s",
            line.name,
            FENCE_WAIT.as_secs()
        ))),
    }
}
