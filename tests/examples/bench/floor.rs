//! The floor under a heartbeat node's idle cost: a process that sends, on the same media, the
//! frames an idle hb node sends (a 288-byte status every keepalive, and every tenth keepalive
//! two 286-byte ACKs, as `bcast` broadcasts) and reads what comes in the way hb does at rest
//! (one `poll` that only the timer ends, then one `recvmmsg` per medium), and does nothing
//! else: no encoding, no HMAC, no parsing, no state. What it costs is what the kernel and the
//! wake-ups cost for hb's frames; hb's CPU over the floor's is what hb's own work adds.
//!
//! Started by the bench in each node's namespace as `hb-floor` (a link to the bench binary)
//! with `--floor-node KEEPALIVE_MS MEDIA`; it writes `/run/hb-floor.pid` as the lab expects.

use nix::libc;
use socket2::{Domain, Socket, Type};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// The command name the lab finds the process by.
pub const COMM: &str = "hb-floor";

/// Each medium's interface and broadcast address, as the cluster's `bcast` lines.
const MEDIA: [(&str, Ipv4Addr); 2] = [
    ("eth1", Ipv4Addr::new(203, 0, 113, 255)),
    ("eth0", Ipv4Addr::new(198, 51, 100, 255)),
];

/// How many datagrams one `recvmmsg` takes, as hb's steady reads.
const BATCH: usize = 8;

/// Runs until killed: only a failure to set up returns.
pub fn run(keepalive_ms: u64, media: usize) -> Result<std::convert::Infallible, String> {
    if keepalive_ms == 0 || !(1..=MEDIA.len()).contains(&media) {
        return Err(format!(
            "--floor-node {keepalive_ms} {media}: keepalive ≥ 1 ms, 1 or 2 media"
        ));
    }
    let mut socks = Vec::new();
    for (dev, bcast) in &MEDIA[..media] {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, None).map_err(|e| e.to_string())?;
        s.set_reuse_address(true).map_err(|e| e.to_string())?;
        s.set_broadcast(true).map_err(|e| e.to_string())?;
        s.bind_device(Some(dev.as_bytes()))
            .map_err(|e| format!("{dev}: {e}"))?;
        s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 694).into())
            .map_err(|e| format!("{dev}: bind: {e}"))?;
        // hb asks the kernel for each datagram's arrival time; so does the floor.
        let on: libc::c_int = 1;
        // SAFETY: a valid socket and a c_int option value of the right size.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(format!(
                "{dev}: SO_TIMESTAMPNS: {}",
                std::io::Error::last_os_error()
            ));
        }
        socks.push((s, SocketAddrV4::new(*bcast, 694).into()));
    }
    std::fs::write(
        format!("/run/{COMM}.pid"),
        format!("{}\n", std::process::id()),
    )
    .map_err(|e| format!("/run/{COMM}.pid: {e}"))?;

    let status = [b's'; 288];
    let ack = [b'a'; 286];
    let mut bufs = [[0u8; 2048]; BATCH];
    let mut cmsgs = [[0u8; 64]; BATCH];
    let keepalive = Duration::from_millis(keepalive_ms);
    let mut next = Instant::now();
    let mut beat = 0u64;
    loop {
        // The timer is the only thing that wakes an idle hb node: a poll nothing else ends.
        let wait = next.saturating_duration_since(Instant::now());
        let mut none: [libc::pollfd; 0] = [];
        // SAFETY: an empty set of descriptors.
        unsafe {
            libc::poll(
                none.as_mut_ptr(),
                0,
                wait.as_micros().div_ceil(1000) as libc::c_int,
            )
        };
        if Instant::now() < next {
            continue;
        }
        for (s, _) in &socks {
            drain(s.as_raw_fd(), &mut bufs, &mut cmsgs);
        }
        beat += 1;
        for (s, to) in &socks {
            if beat % 10 == 0 {
                // The ACK to the peer and the one to ourselves.
                let _ = s.send_to(&ack, to);
                let _ = s.send_to(&ack, to);
            }
            let _ = s.send_to(&status, to);
        }
        next += keepalive;
        if next <= Instant::now() {
            next = Instant::now() + keepalive;
        }
    }
}

/// One `recvmmsg` that takes whatever is queued (the peer's frames and our own copies).
fn drain(fd: i32, bufs: &mut [[u8; 2048]; BATCH], cmsgs: &mut [[u8; 64]; BATCH]) {
    // SAFETY: zeroed iovec/mmsghdr are valid "empty" values; each is then pointed at a buffer
    // that outlives the call.
    let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..BATCH {
        iov[i].iov_base = bufs[i].as_mut_ptr().cast();
        iov[i].iov_len = bufs[i].len();
        hdrs[i].msg_hdr.msg_iov = &mut iov[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
        hdrs[i].msg_hdr.msg_control = cmsgs[i].as_mut_ptr().cast();
        hdrs[i].msg_hdr.msg_controllen = cmsgs[i].len() as _;
    }
    // SAFETY: every header points at live buffers of the lengths given.
    unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            BATCH as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
}
