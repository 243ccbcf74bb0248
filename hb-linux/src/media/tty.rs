//! The tty steps a serial heartbeat line and a relay board line share: opening the device,
//! one read step, the baud rates, the exclusive lock, and the raw line set-up. Each line
//! keeps only what differs: its flow control, its input flags, its read timer, the BREAK.

use super::MediumErrorKind;
use nix::sys::termios::{self, BaudRate, ControlFlags, InputFlags, SetArg};
use std::fs::File;

/// Opens a tty for a line (serial or relay): read-write, non-blocking, never our controlling
/// terminal, close-on-exec. A missing device is [`MediumErrorKind::NoSuchDevice`].
pub(crate) fn open(device: &str) -> Result<File, MediumErrorKind> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(device)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                MediumErrorKind::NoSuchDevice
            } else {
                MediumErrorKind::Open(e)
            }
        })
}

/// One `read(2)` of a non-blocking tty into `buf`: `Some(n)` bytes, `None` when nothing is
/// waiting. End of file and `EIO` are [`MediumErrorKind::Hangup`]: the device went away (or
/// the other end of a pty closed) and stays so until reopened.
pub(crate) fn read_step(
    tty: &mut impl std::io::Read,
    buf: &mut [u8],
) -> Result<Option<usize>, MediumErrorKind> {
    loop {
        match tty.read(buf) {
            Ok(0) => return Err(MediumErrorKind::Hangup),
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error() == Some(libc::EIO) => return Err(MediumErrorKind::Hangup),
            Err(e) => return Err(MediumErrorKind::Read(e)),
        }
    }
}

/// The speeds a line may run at (heartbeat's `baud` values from 9600 up).
pub(crate) fn baud_rate(baud: u32) -> Option<BaudRate> {
    Some(match baud {
        9600 => BaudRate::B9600,
        19_200 => BaudRate::B19200,
        38_400 => BaudRate::B38400,
        57_600 => BaudRate::B57600,
        115_200 => BaudRate::B115200,
        230_400 => BaudRate::B230400,
        460_800 => BaudRate::B460800,
        _ => return None,
    })
}

/// Takes an exclusive `flock` on the line, so that a second hb process (the daemon and a
/// `stonith` command, two daemons) cannot interleave frames on one port.
pub(crate) fn lock(file: File) -> Result<nix::fcntl::Flock<File>, MediumErrorKind> {
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        MediumErrorKind::Open(std::io::Error::other(format!(
            "in use by another process (flock: {})",
            crate::errno_text(&std::io::Error::from(e))
        )))
    })
}

/// How a line differs from the raw 8N1 set-up both lines share.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineSetup {
    pub speed: BaudRate,
    /// The input flags, or `None` for what `cfmakeraw` leaves.
    pub input: Option<InputFlags>,
    /// RTS/CTS flow control (3.0.6's serial lines; the relay boards wire no handshake lines).
    pub hw_flow: bool,
    /// `VTIME`, in tenths of a second (`VMIN` is always 1).
    pub vtime: u8,
    /// Sends a BREAK after set-up: 3.0.6's "cause the other guy to flush his I/O".
    pub send_break: bool,
}

/// Raw 8 bits, no parity, one stop bit, receiver on, modem lines ignored, no output
/// processing (`cfmakeraw` also ends echo, canonical input and signals), then what `setup`
/// says; drops what was queued either way.
pub(crate) fn set_up(tty: &File, setup: &LineSetup) -> nix::Result<()> {
    let mut t = termios::tcgetattr(tty)?;
    termios::cfmakeraw(&mut t);
    if let Some(input) = setup.input {
        t.input_flags = input;
    }
    // With OPOST off (cfmakeraw) the other output flags do nothing; cleared for a clean state.
    t.output_flags = termios::OutputFlags::empty();
    t.control_flags &= !(ControlFlags::CSIZE
        | ControlFlags::PARENB
        | ControlFlags::CSTOPB
        | ControlFlags::CRTSCTS);
    t.control_flags |= ControlFlags::CS8 | ControlFlags::CREAD | ControlFlags::CLOCAL;
    if setup.hw_flow {
        t.control_flags |= ControlFlags::CRTSCTS;
    }
    t.control_chars[termios::SpecialCharacterIndices::VMIN as usize] = 1;
    t.control_chars[termios::SpecialCharacterIndices::VTIME as usize] = setup.vtime;
    termios::cfsetspeed(&mut t, setup.speed)?;
    termios::tcsetattr(tty, SetArg::TCSANOW, &t)?;
    termios::tcflush(tty, termios::FlushArg::TCIOFLUSH)?;
    if setup.send_break {
        termios::tcsendbreak(tty, 0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baud_rates_are_heartbeats_from_9600_up() {
        assert_eq!(baud_rate(19_200), Some(BaudRate::B19200));
        assert_eq!(baud_rate(115_200), Some(BaudRate::B115200));
        assert_eq!(baud_rate(4800), None);
        assert_eq!(baud_rate(12_345), None);
    }

    #[test]
    fn a_missing_device_is_no_such_device() {
        assert!(matches!(
            open("/dev/hb-no-such-tty"),
            Err(MediumErrorKind::NoSuchDevice)
        ));
    }

    /// The read step on a pty: data, then nothing waiting, then a hang-up once the other end
    /// closes; and both lines' set-ups are accepted by a real tty.
    #[test]
    fn read_step_tells_data_nothing_and_hangup_apart() {
        use std::io::Write;
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave_path = nix::unistd::ttyname(&pty.slave).unwrap();
        let mut master = File::from(pty.master);
        drop(pty.slave);
        let tty = open(slave_path.to_str().unwrap()).unwrap();
        for setup in [
            LineSetup {
                speed: BaudRate::B19200,
                input: Some(InputFlags::INPCK | InputFlags::BRKINT),
                hw_flow: true,
                vtime: 1,
                send_break: true,
            },
            LineSetup {
                speed: BaudRate::B115200,
                input: None,
                hw_flow: false,
                vtime: 0,
                send_break: false,
            },
        ] {
            set_up(&tty, &setup).unwrap();
            let t = termios::tcgetattr(&tty).unwrap();
            assert_eq!(
                t.control_flags.contains(ControlFlags::CRTSCTS),
                setup.hw_flow
            );
            assert!(t
                .control_flags
                .contains(ControlFlags::CS8 | ControlFlags::CLOCAL));
            assert_eq!(termios::cfgetispeed(&t), setup.speed);
        }
        let mut tty = tty;
        let mut buf = [0u8; 16];
        assert_eq!(read_step(&mut tty, &mut buf).unwrap(), None);
        master.write_all(b"abc").unwrap();
        let mut got = None;
        for _ in 0..10_000 {
            got = read_step(&mut tty, &mut buf).unwrap();
            if got.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(got, Some(3));
        assert_eq!(&buf[..3], b"abc");
        drop(master);
        assert!(matches!(
            read_step(&mut tty, &mut buf),
            Err(MediumErrorKind::Hangup)
        ));
    }
}
