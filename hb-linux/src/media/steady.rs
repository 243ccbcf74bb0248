//! Steady statuses, read when the loop wakes anyway (hb's own; nothing changes on the wire).
//!
//! At rest almost every datagram is a peer's routine `t=status` with `st=active`, and reading
//! each the moment it arrives costs a wake-up per peer per keepalive on top of our own timer's.
//! A UDP medium therefore receives on two sockets bound alike: classic BPF socket filters
//! (`SO_ATTACH_FILTER`) hand the *steady* statuses to a second socket and everything else to
//! the first, and `ucast`, whose unicast datagrams go to one socket of the port's
//! `SO_REUSEPORT` group only, steers by the same test (`SO_ATTACH_REUSEPORT_CBPF`). The loop
//! polls the first always and the second only while the cluster is not steady (a node not
//! active, a link down); at rest it reads the second at every wake-up, before anything else —
//! its own timer's above all — and before any dead time is judged. The kernel stamps each
//! datagram as it arrives (`SO_TIMESTAMPNS`), and the core is given that time, not the time
//! it was read: dead times, late-heartbeat warnings and link states are what they would be
//! had the loop woken for every packet (and a loop that runs late under load reads packets
//! that arrived on time as on time).
//!
//! The test is the wire's fixed start of a steady status or an ACK, from heartbeat 3.0.6 and
//! from hb, in both message formats ([`hb_core::msg::STEADY_PREFIXES`]). A status with any
//! other `st`, and anything else, wakes the loop as before.

use super::{plugin_warn, MediumError, MediumErrorKind};
use crate::log::LogLine;
use hb_core::msg::STEADY_PREFIXES;
use nix::sys::socket::{recvmmsg, ControlMessageOwned, MsgFlags, MultiHeaders};
use socket2::Socket;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, SystemTime};

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_W_LEN: u16 = 0x80;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;

/// Where a socket filter on a UDP socket finds the payload: after the 8-byte UDP header
/// (a `SO_REUSEPORT` program is given the payload itself).
pub(super) const SOCKET_FILTER_BASE: u32 = 8;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// A program that returns `hit` for a datagram whose payload (at `base`) starts like a steady
/// status, `miss` for any other.
pub(super) fn program(base: u32, hit: u32, miss: u32) -> Vec<libc::sock_filter> {
    let mut prog = Vec::new();
    for pat in STEADY_PREFIXES {
        // One block per pattern; a failed test jumps just past the block's `ret hit`.
        let mut block = vec![
            insn(LD_W_LEN, 0, 0, 0),
            insn(JGE_K, 0, 0, base + pat.len() as u32),
        ];
        let mut off = 0;
        while off < pat.len() {
            let (code, n) = match pat.len() - off {
                4.. => (LD_W_ABS, 4),
                2 | 3 => (LD_H_ABS, 2),
                _ => (LD_B_ABS, 1),
            };
            let k = pat[off..off + n]
                .iter()
                .fold(0u32, |v, b| (v << 8) | u32::from(*b));
            block.push(insn(code, 0, 0, base + off as u32));
            block.push(insn(JEQ_K, 0, 0, k));
            off += n;
        }
        block.push(insn(RET_K, 0, 0, hit));
        let end = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JGE_K || ins.code == JEQ_K {
                ins.jf = (end - i - 1) as u8;
            }
        }
        prog.extend(block);
    }
    prog.push(insn(RET_K, 0, 0, miss));
    prog
}

fn attach(sock: &Socket, opt: libc::c_int, prog: &[libc::sock_filter]) -> std::io::Result<()> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `prog`, alive for the call; the kernel copies the program.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&raw const fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The medium's first socket takes everything but steady statuses.
fn filter_others(sock: &Socket) -> std::io::Result<()> {
    attach(
        sock,
        libc::SO_ATTACH_FILTER,
        &program(SOCKET_FILTER_BASE, 0, u32::MAX),
    )
}

/// The second socket takes steady statuses only, each stamped with its arrival.
fn filter_steady(sock: &Socket) -> std::io::Result<()> {
    attach(
        sock,
        libc::SO_ATTACH_FILTER,
        &program(SOCKET_FILTER_BASE, u32::MAX, 0),
    )?;
    nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::ReceiveTimestampns, &true)
        .map_err(Into::into)
}

/// `ucast`: the port's `SO_REUSEPORT` group, the first socket then the second, gives a
/// unicast datagram to the second when it is a steady status.
fn steer_unicast(first: &Socket) -> std::io::Result<()> {
    attach(first, libc::SO_ATTACH_REUSEPORT_CBPF, &program(0, 1, 0))
}

/// Datagrams read from a steady socket in one `recvmmsg`, at most this many: a wake-up at rest
/// finds the peers' statuses and our own copy, and one call reads them all and learns that
/// nothing more is there (one `recvmsg` each would end with one that says `EAGAIN`).
const SLOTS: usize = 8;
/// Room for one steady datagram: a status or an ACK is a few hundred bytes; one that does not
/// fit is not a steady status (it is dropped and said, as any datagram too big).
const SLOT: usize = 2048;

/// A steady socket's receive buffers, kept between reads (a read allocates nothing).
pub struct Batch {
    data: Box<[u8]>,
    headers: MultiHeaders<()>,
    /// What the last read got: slot, length, arrival stamp.
    got: Vec<(usize, usize, Option<SystemTime>)>,
}

// SAFETY: the raw pointers in `headers` point into buffers that `headers` itself owns (the
// control-message room) or, only while `recv` runs, into `data`, which `Batch` owns; nothing
// is shared with another thread, so moving the whole to one is sound.
unsafe impl Send for Batch {}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("got", &self.got).finish()
    }
}

impl Batch {
    /// The most datagrams one read returns: fewer means the socket is empty.
    pub const CAPACITY: usize = SLOTS;

    pub(super) fn new() -> Batch {
        Batch {
            data: vec![0; SLOTS * SLOT].into_boxed_slice(),
            headers: MultiHeaders::preallocate(
                SLOTS,
                Some(nix::cmsg_space!(nix::sys::time::TimeSpec)),
            ),
            got: Vec::with_capacity(SLOTS),
        }
    }

    /// Reads what is waiting (up to [`SLOTS`] datagrams), non-blocking. A datagram too big
    /// for its slot is left out of [`Batch::get`] and reported after the others are kept.
    pub(super) fn recv(&mut self, fd: RawFd) -> Result<(), MediumErrorKind> {
        self.got.clear();
        let mut chunks = self.data.chunks_mut(SLOT);
        let mut iovs: [[IoSliceMut<'_>; 1]; SLOTS] =
            std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
        let res = match recvmmsg(
            fd,
            &mut self.headers,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        ) {
            Ok(res) => res,
            // Non-blocking, it is not interrupted; if it were, the next wake-up reads.
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return Ok(()),
            Err(e) => return Err(MediumErrorKind::Recv(e.into())),
        };
        let mut too_big = None;
        for (slot, msg) in res.enumerate() {
            if msg.flags.contains(MsgFlags::MSG_TRUNC) {
                too_big = Some(msg.bytes);
                continue;
            }
            let mut at = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmTimestampns(ts) = c {
                        // `time_t` and `long` are 32 bits wide on 32-bit ARM.
                        #[allow(clippy::useless_conversion)]
                        let (secs, nanos) = (i64::from(ts.tv_sec()), i64::from(ts.tv_nsec()));
                        at = wall_time(secs, nanos);
                    }
                }
            }
            self.got.push((slot, msg.bytes, at));
        }
        match too_big {
            Some(len) => Err(MediumErrorKind::TooBig { len, room: SLOT }),
            None => Ok(()),
        }
    }

    /// How many datagrams the last read got.
    pub fn len(&self) -> usize {
        self.got.len()
    }

    /// Whether the last read got nothing.
    pub fn is_empty(&self) -> bool {
        self.got.is_empty()
    }

    /// The `k`th datagram of the last read, with its arrival stamp.
    pub fn get(&self, k: usize) -> Option<(&[u8], Option<SystemTime>)> {
        let &(slot, len, at) = self.got.get(k)?;
        Some((&self.data[slot * SLOT..slot * SLOT + len.min(SLOT)], at))
    }
}

/// A kernel stamp as wall-clock time (`None` if it is not one).
fn wall_time(secs: i64, nanos: i64) -> Option<SystemTime> {
    let secs = u64::try_from(secs).ok()?;
    let nanos = u32::try_from(nanos).ok().filter(|n| *n < 1_000_000_000)?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// A medium's steady socket and its buffers.
#[derive(Debug)]
pub struct SteadySocket {
    sock: Socket,
    batch: Box<Batch>,
}

impl SteadySocket {
    /// Gives a medium (`label`, receiving on `first`) its steady socket, made by `make` as the
    /// first was. For unicast (`unicast`: the port's `SO_REUSEPORT` group is told to steer
    /// before the second socket joins it, so that no datagram is handed to the wrong one). The
    /// first socket's filter goes on last: until then it takes everything, and if any step
    /// fails it keeps doing so; the failure is said in `log` and the medium goes on without.
    pub(super) fn open(
        label: &str,
        first: &Socket,
        unicast: bool,
        make: impl FnOnce() -> Result<Socket, MediumError>,
        log: &mut Vec<LogLine>,
    ) -> Option<SteadySocket> {
        let opened = (|| {
            if unicast {
                steer_unicast(first).map_err(|e| crate::errno_text(&e))?;
            }
            let second = make().map_err(|e| e.kind.to_string())?;
            filter_steady(&second).map_err(|e| crate::errno_text(&e))?;
            filter_others(first).map_err(|e| crate::errno_text(&e))?;
            Ok::<_, String>(second)
        })();
        match opened {
            Ok(sock) => Some(SteadySocket {
                sock,
                batch: Box::new(Batch::new()),
            }),
            Err(why) => {
                log.push(plugin_warn(format_args!(
                    "{label}: cannot set up the socket for steady statuses ({why}): every \
                     packet wakes the daemon"
                )));
                None
            }
        }
    }

    /// Reads the steady datagrams waiting (medium `label`'s).
    pub(super) fn recv(&mut self, label: &str) -> Result<&Batch, MediumError> {
        match self.batch.recv(self.sock.as_raw_fd()) {
            Ok(()) => Ok(&self.batch),
            Err(kind) => Err(MediumError::new(label, kind)),
        }
    }

    /// What the last read got.
    pub(super) fn batch(&self) -> &Batch {
        &self.batch
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hb_core::msg::is_steady;

    /// Runs a classic BPF program the way the kernel does for the instructions used here,
    /// over a datagram as a socket filter sees it (UDP header, payload).
    fn run(prog: &[libc::sock_filter], pkt: &[u8]) -> u32 {
        let mut a = 0u32;
        let mut pc = 0;
        loop {
            let i = prog[pc];
            let load = |n: usize| -> Option<u32> {
                let at = i.k as usize;
                pkt.get(at..at + n)
                    .map(|b| b.iter().fold(0, |v, x| (v << 8) | u32::from(*x)))
            };
            pc += 1;
            match i.code {
                LD_W_LEN => a = pkt.len() as u32,
                LD_W_ABS | LD_H_ABS | LD_B_ABS => {
                    let n = match i.code {
                        LD_W_ABS => 4,
                        LD_H_ABS => 2,
                        _ => 1,
                    };
                    // Out of bounds: the kernel ends the program and drops the datagram.
                    let Some(v) = load(n) else { return 0 };
                    a = v;
                }
                JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                JGE_K => pc += usize::from(if a >= i.k { i.jt } else { i.jf }),
                RET_K => return i.k,
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    fn udp(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 8];
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn only_steady_statuses_go_to_the_second_socket() {
        let to_steady = program(SOCKET_FILTER_BASE, u32::MAX, 0);
        let others = program(SOCKET_FILTER_BASE, 0, u32::MAX);
        let cases: [(&[u8], bool); 12] = [
            (b">>>\nt=NS_ackmsg\ndest=node1\nackseq=1f\n<<<\n", true),
            (b"###\n14:(0)t=NS_ackmsg,13:(0)dest=node1,%%%\n", true),
            (b">>>\nt=NS_rexmit\nfirstseq=1\n<<<\n", false),
            (b">>>\nt=status\nst=active\ndt=7530\nsrc=node1\n<<<\n", true),
            (
                b"###\n11:(0)t=status,12:(0)st=active,10:(0)dt=7530,%%%\n",
                true,
            ),
            (b">>>\nt=status\nst=up\ndt=7530\n<<<\n", false),
            (b">>>\nt=status\nst=activex\n<<<\n", false),
            (b">>>\nt=status\nst=active", false),
            (b">>>\nt=ip-request\nipaddr=198.51.100.10\n<<<\n", false),
            (b"###\n11:(0)t=status,10:(0)st=init,%%%\n", false),
            (b"", false),
            (b"x", false),
        ];
        for (payload, steady) in cases {
            let pkt = udp(payload);
            let text = String::from_utf8_lossy(payload);
            // Every datagram goes to exactly one of the two sockets.
            assert_eq!(run(&to_steady, &pkt) != 0, steady, "{text:?}");
            assert_eq!(run(&others, &pkt) != 0, !steady, "{text:?}");
            assert_eq!(is_steady(payload), steady, "{text:?}");
            // The unicast steering agrees, on the bare payload.
            assert_eq!(
                run(&program(0, 1, 0), payload),
                u32::from(steady),
                "{text:?}"
            );
        }
    }
}
