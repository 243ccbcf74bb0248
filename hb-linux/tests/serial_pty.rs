//! The serial medium on a real tty: a pty pair, the medium on the slave side (opened by path,
//! set up by termios, locked in a private lock directory), the test playing the peer on the
//! master side. Every wait is bounded.

use hb_core::msg::{classic, compact, Field, Scratch, SliceSink};
use hb_linux::media::{fragment_delay, Serial, SerialEncoding, FRAGMENT_SIZE};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// The longest any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(3);

struct Pty {
    master: File,
    /// Kept open so that the line never hangs up under the medium.
    _slave: OwnedFd,
    path: String,
    lock_dir: tempfile::TempDir,
}

fn pty() -> Pty {
    let p = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&p.slave)
        .expect("ttyname")
        .to_str()
        .unwrap()
        .to_string();
    let master = File::from(p.master);
    nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    Pty {
        master,
        _slave: p.slave,
        path,
        lock_dir: tempfile::tempdir().unwrap(),
    }
}

impl Pty {
    fn open(&self, baud: u32, encoding: SerialEncoding) -> Serial {
        let (serial, log) =
            Serial::open(&self.path, baud, encoding, self.lock_dir.path()).expect("open");
        assert_eq!(
            log[0].text,
            format!(
                "glib: Starting serial heartbeat on tty {} ({baud} baud)",
                self.path
            )
        );
        serial
    }

    /// Whatever the master can read within `timeout`, waiting for the first byte.
    fn read_some(&mut self, timeout: Duration) -> Vec<u8> {
        if !readable(&self.master, timeout) {
            return Vec::new();
        }
        let mut buf = vec![0u8; 65536];
        match self.master.read(&mut buf) {
            Ok(n) => buf[..n].to_vec(),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Vec::new(),
            Err(e) => panic!("read from the pty master: {e}"),
        }
    }
}

fn readable(fd: &impl AsFd, timeout: Duration) -> bool {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    poll(&mut fds, PollTimeout::from(ms)).expect("poll") > 0
}

/// Receives `count` messages, waiting at most [`WAIT`] in all.
fn receive(serial: &mut Serial, count: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 300_000];
    while got.len() < count {
        match serial.recv(&mut buf) {
            Ok(Some(n)) => got.push(buf[..n].to_vec()),
            Ok(None) => {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(
                    !left.is_zero(),
                    "only {} of {count} messages arrived",
                    got.len()
                );
                readable(serial, left);
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
    got
}

fn classic_text(fields: &[Field<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let mut sink = SliceSink::new(&mut buf);
    classic::encode(fields, None, &mut sink).unwrap();
    sink.written().to_vec()
}

fn status(seq: &'static str) -> Vec<u8> {
    classic_text(&[
        Field::string("t", "status"),
        Field::string("st", "active"),
        Field::string("dt", "7530"),
        Field::string("protocol", "1"),
        Field::string("src", "node1"),
        Field::string("seq", seq),
        Field::string("hg", "3"),
        Field::string("ts", "6553f100"),
        Field::string("ttl", "3"),
    ])
}

#[test]
fn classic_messages_are_reassembled_from_a_noisy_line() {
    let mut p = pty();
    let mut serial = p.open(115_200, SerialEncoding::Classic);
    let (one, two) = (status("1f"), status("20"));
    let mut line = b"line noise\n\xff\xfe\n".to_vec();
    line.extend_from_slice(&one);
    line.extend_from_slice(b"half a message that never ends\nt=status\n");
    // CRs vanish (IGNCR) and bit 7 is stripped (ISTRIP): "\xbe\xbe\xbe" is ">>>".
    line.extend_from_slice(b"\r\n\xbe\xbe\xbe\r\n");
    line.extend_from_slice(&two[4..]);
    p.master.write_all(&line).unwrap();

    let got = receive(&mut serial, 2);
    assert_eq!(got, [one.clone(), two.clone()]);
    let stats = serial.stats().classic;
    assert_eq!(stats.messages, 2);
    assert_eq!(stats.garbage_lines, 5);

    // What comes out decodes as the classic message it was.
    let mut scratch = [0u8; 512];
    let (msg, _) = classic::decode::<16>(&got[1], &mut Scratch::new(&mut scratch)).expect("decode");
    assert_eq!(msg.get_str("seq"), Some("20"));

    // The medium writes classic text back unchanged (no output processing).
    serial.send(&one).unwrap();
    let mut echoed = Vec::new();
    while echoed.len() < one.len() {
        let part = p.read_some(WAIT);
        assert!(!part.is_empty(), "the pty master got {echoed:?}");
        echoed.extend_from_slice(&part);
    }
    assert_eq!(echoed, one);
}

#[test]
fn compact_frames_keep_all_eight_bits() {
    let mut p = pty();
    let mut serial = p.open(115_200, SerialEncoding::Compact);
    // Bytes a classic line would mangle: CR, bit 7, XON/XOFF.
    let payload: &[u8] = &[0x0d, 0x8d, 0xff, 0x11, 0x13, 0x0a, 0x80, 0x7f];
    let fields = [
        Field::string("t", "status"),
        Field::string("src", "node1"),
        Field::binary("payload", payload),
    ];
    let mut frame = [0u8; 256];
    let n = compact::encode(&fields, None, &mut frame).unwrap();
    let frame = &frame[..n];
    let mut line = b"\x00garbage\x0d\x8d".to_vec();
    line.push(0);
    line.extend_from_slice(frame);
    line.extend_from_slice(frame);
    p.master.write_all(&line).unwrap();

    let got = receive(&mut serial, 2);
    assert_eq!(got, [frame.to_vec(), frame.to_vec()]);
    assert_eq!(serial.stats().compact.frames, 2);
    assert_eq!(serial.stats().compact.bad, 1);
    let mut wire = got[0].clone();
    let mut scratch = [0u8; 256];
    let packet = compact::decode::<8>(&mut wire, &mut scratch).expect("decode");
    assert_eq!(packet.msg.get_bytes("payload"), Some(payload));

    // And out, unpaced and unchanged.
    serial.send(frame).unwrap();
    assert_eq!(p.read_some(WAIT), frame);

    // A classic-only line refuses frames.
    let classic = p_classic_refuses(frame);
    assert!(
        classic.contains("classic serial lines carry classic text"),
        "{classic}"
    );
}

fn p_classic_refuses(frame: &[u8]) -> String {
    let p = pty();
    let mut serial = p.open(19_200, SerialEncoding::Classic);
    serial.send(frame).unwrap_err().to_string()
}

#[test]
fn pacing_never_blocks_the_caller() {
    let baud = 115_200;
    let delay = fragment_delay(baud);
    let mut p = pty();
    let mut serial = p.open(baud, SerialEncoding::Classic);

    // A 2000-byte message: four fragments, three pauses.
    let mut msg = b">>>\n".to_vec();
    while msg.len() < 2000 - 4 {
        msg.extend_from_slice(b"x=0123456789abcdef0123456789abcdef\n");
    }
    msg.truncate(2000 - 4);
    msg.extend_from_slice(b"<<<\n");
    assert_eq!(msg.len(), 2000);

    // send() returns having written the first fragment only: the pauses are the loop's to
    // wait (through tx_deadline), never send()'s. Had it waited, the whole message would be
    // on the line by now.
    let t0 = Instant::now();
    serial.send(&msg).unwrap();
    let send_took = t0.elapsed();
    assert_eq!(serial.tx_queued(), 2000);
    let first_deadline = serial.tx_deadline().expect("a pause before fragment 2");
    assert!(first_deadline >= t0 + delay && first_deadline <= t0 + delay + send_took);
    let first = p.read_some(WAIT);
    let mut arrivals = vec![(Instant::now(), first.len())];
    let mut received = first;
    assert_eq!(
        received,
        msg[..FRAGMENT_SIZE],
        "send() wrote more than a fragment"
    );

    // Play the loop: sleep until the deadline (the test may; the loop polls), then poll_tx,
    // which writes the fragment due and leaves the next pause to a new deadline.
    let mut slowest_poll = Duration::ZERO;
    let end = t0 + WAIT;
    while received.len() < msg.len() {
        assert!(
            Instant::now() < end,
            "only {} bytes arrived",
            received.len()
        );
        let part = p.read_some(Duration::from_millis(5));
        if !part.is_empty() {
            arrivals.push((Instant::now(), part.len()));
            received.extend_from_slice(&part);
        }
        if let Some(d) = serial.tx_deadline() {
            if Instant::now() >= d {
                let t = Instant::now();
                serial.poll_tx(t).unwrap();
                slowest_poll = slowest_poll.max(t.elapsed());
                if let Some(next) = serial.tx_deadline() {
                    assert!(
                        next >= t + delay,
                        "poll_tx left no pause before the next fragment"
                    );
                }
            }
        }
    }
    assert_eq!(received, msg);
    assert_eq!(serial.tx_deadline(), None);
    assert_eq!(serial.tx_queued(), 0);

    // Four fragments of 512, 512, 512, 464 bytes, each at least a pause after the previous.
    let sizes: Vec<usize> = arrivals.iter().map(|a| a.1).collect();
    assert_eq!(sizes, [FRAGMENT_SIZE, FRAGMENT_SIZE, FRAGMENT_SIZE, 464]);
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1].0 - w[0].0).collect();
    for g in &gaps {
        // The reader polls every 5 ms, so an arrival is seen up to 5 ms late.
        assert!(
            *g + Duration::from_millis(6) >= delay,
            "gap {g:?} < {delay:?}"
        );
    }
    let total = arrivals.last().unwrap().0 - t0;
    eprintln!(
        "serial pacing at {baud} baud: send() {send_took:?}, slowest poll_tx() {slowest_poll:?}, \
         fragment gaps {gaps:?} (pause {delay:?}), whole message {total:?}"
    );

    // At 19200 baud the pause is 213 ms: the deadline says so, and send_at() has returned
    // with one fragment on the line and the rest queued, without anyone waiting.
    let mut p2 = pty();
    let mut slow = p2.open(19_200, SerialEncoding::Classic);
    let t = Instant::now();
    slow.send_at(&msg, t).unwrap();
    assert_eq!(slow.tx_deadline(), Some(t + Duration::from_micros(213_333)));
    assert_eq!(slow.tx_queued(), 2000);
    assert_eq!(p2.read_some(WAIT), msg[..FRAGMENT_SIZE]);
}

#[test]
fn a_locked_line_is_refused_and_released_on_drop() {
    let p = pty();
    let serial = p.open(19_200, SerialEncoding::Classic);
    let e = Serial::open(&p.path, 19_200, SerialEncoding::Classic, p.lock_dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "serial {}: line is locked by pid {}",
            p.path,
            std::process::id()
        )),
        "{e}"
    );
    drop(serial);
    let _again = p.open(19_200, SerialEncoding::Classic);
}

/// A pty behind a stable name (a symlink, as udev's `/dev/serial/by-id/…`), whose master can go
/// away (the adapter is pulled) and come back as a new pty under the same name.
fn replaceable_pty(link: &std::path::Path) -> File {
    use nix::fcntl::OFlag;
    // Close-on-exec from the start, so no child of a parallel test keeps the master open.
    let m = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).unwrap();
    nix::pty::grantpt(&m).unwrap();
    nix::pty::unlockpt(&m).unwrap();
    let path = nix::pty::ptsname_r(&m).unwrap();
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&path, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
    let master = File::from(OwnedFd::from(m));
    nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    master
}

#[test]
fn a_line_that_hung_up_is_reopened_by_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyUSB-test");
    let master = replaceable_pty(&link);
    let name = link.to_str().unwrap();
    let (mut serial, _) =
        Serial::open(name, 115_200, SerialEncoding::Compact, dir.path()).expect("open");
    let mut frame = [0u8; 64];
    let n = compact::encode(&[Field::string("t", "status")], None, &mut frame).unwrap();
    let frame = &frame[..n];

    // Pulled: the next read says so (and keeps saying so: nothing hides it).
    drop(master);
    assert!(readable(&serial, WAIT), "no readiness after the hang-up");
    let mut buf = vec![0u8; 4096];
    for _ in 0..2 {
        let e = serial.recv(&mut buf).expect_err("a hung-up line");
        assert!(e.is_hangup(), "{e}");
    }
    // Still gone: reopening fails with a clear error, the medium stays as it was.
    std::fs::remove_file(&link).unwrap();
    let e = serial.reopen().expect_err("no device");
    assert_eq!(e.to_string(), format!("serial {name}: no such device"));

    // Back (a new pty under the same name): reopened, frames flow both ways, same lock.
    let mut master = replaceable_pty(&link);
    serial.reopen().expect("reopen");
    master.write_all(frame).unwrap();
    assert_eq!(receive(&mut serial, 1), [frame.to_vec()]);
    serial.send(frame).unwrap();
    assert!(readable(&master, WAIT));
    let mut out = vec![0u8; 256];
    let got = master.read(&mut out).unwrap();
    assert_eq!(&out[..got], frame);
}
