//! Gratuitous ARP as heartbeat's libnet `send_arp` sends it (spec §5.4): `repeat` times an ARP
//! request, half the interval, an ARP reply, half the interval (none after the last reply).
//! Both frames go to the Ethernet broadcast address from the interface's MAC, with sender and
//! target IP both the service address; the request's target MAC is zero, the reply's our own.
//!
//! The first request is sent by the caller, so that it is on the wire before `start` returns;
//! the rest of the burst runs on its own thread (IPaddr's `ARP_BACKGROUND=yes`), which `stop`
//! cancels and joins: a late ARP after a release would pull traffic back from the peer that
//! has just taken the address over.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Socket, Type};

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IP: u16 = 0x0800;
const ARPHRD_ETHER: u16 = 1;
const ARPOP_REQUEST: u16 = 1;
const ARPOP_REPLY: u16 = 2;
/// Ethernet header (14) + ARP for IPv4 over Ethernet (28), padded to the 60-byte minimum.
const FRAME_LEN: usize = 60;
const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// How many request/reply pairs to send and how far apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpBurst {
    pub repeat: u32,
    pub interval: Duration,
}

/// OCF IPaddr's defaults: `ARP_REPEAT=10`, `ARP_INTERVAL_MS=500` (spec §5.3).
pub const IPADDR_ARP: ArpBurst = ArpBurst {
    repeat: 10,
    interval: Duration::from_millis(500),
};
/// OCF IPaddr2's defaults: `arp_count=5`, `arp_interval=200` (spec §5.5).
pub const IPADDR2_ARP: ArpBurst = ArpBurst {
    repeat: 5,
    interval: Duration::from_millis(200),
};

/// An ARP frame: `op` 1 request or 2 reply, announcing `ip` at `mac`.
pub fn frame(op: u16, mac: [u8; 6], ip: Ipv4Addr) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    let target_mac = if op == ARPOP_REPLY { mac } else { [0; 6] };
    let parts: [&[u8]; 11] = [
        &BROADCAST_MAC,
        &mac,
        &ETH_P_ARP.to_be_bytes(),
        &ARPHRD_ETHER.to_be_bytes(),
        &ETH_P_IP.to_be_bytes(),
        &[6, 4],
        &op.to_be_bytes(),
        &mac,
        &ip.octets(),
        &target_mac,
        &ip.octets(),
    ];
    let mut at = 0;
    for p in parts {
        f[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    f
}

/// A packet socket and the two frames of a burst for one interface.
///
/// The socket has protocol 0 and is never bound: it receives nothing, and registering or
/// re-registering a receive hook (a protocol, or `bind`) waits for an RCU grace period in the
/// kernel, which cost tens of milliseconds of takeover time. Frames are addressed per send.
pub struct ArpSender {
    sock: Socket,
    to: libc::sockaddr_ll,
    request: [u8; FRAME_LEN],
    reply: [u8; FRAME_LEN],
}

impl ArpSender {
    pub fn open(ifindex: u32, mac: [u8; 6], ip: Ipv4Addr) -> io::Result<ArpSender> {
        let sock = Socket::new(Domain::PACKET, Type::RAW, None)?;
        let ifindex = i32::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index"))?;
        // SAFETY: sockaddr_ll is plain old data, all zeros is a valid value.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = ETH_P_ARP.to_be();
        to.sll_ifindex = ifindex;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&BROADCAST_MAC);
        Ok(ArpSender {
            sock,
            to,
            request: frame(ARPOP_REQUEST, mac, ip),
            reply: frame(ARPOP_REPLY, mac, ip),
        })
    }

    pub fn send_request(&self) -> io::Result<()> {
        self.send(&self.request)
    }

    pub fn send_reply(&self) -> io::Result<()> {
        self.send(&self.reply)
    }

    fn send(&self, frame: &[u8; FRAME_LEN]) -> io::Result<()> {
        // SAFETY: the buffer and the address are valid for the lengths given, and the fd is
        // owned by `self.sock` and open.
        let n = unsafe {
            libc::sendto(
                self.sock.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                std::ptr::from_ref(&self.to).cast::<libc::sockaddr>(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// The rest of a burst running on its thread; [`Running::cancel`] stops it at once.
pub struct Running {
    cancel: Sender<()>,
    thread: JoinHandle<()>,
}

impl Running {
    /// Stops the burst and waits for its thread (which wakes at once).
    pub fn cancel(self) {
        drop(self.cancel);
        let _ = self.thread.join();
    }
}

/// Sends the first request now and the rest of the burst from a new thread. Errors after the
/// first frame are not reported: the address is up, and send_arp's background errors went
/// nowhere either.
pub fn start_burst(sender: ArpSender, burst: ArpBurst) -> io::Result<Option<Running>> {
    if burst.repeat == 0 {
        return Ok(None);
    }
    sender.send_request()?;
    // Frame k: even ones requests, odd ones replies, half an interval apart.
    repeat_in_background(burst.repeat * 2, burst.interval / 2, move |k| {
        let _ = if k % 2 == 0 {
            sender.send_request()
        } else {
            sender.send_reply()
        };
    })
}

/// Calls `send(k)` for `k` in `1..count`, `gap` apart (the caller has done `k = 0`), on a
/// thread of its own.
pub fn repeat_in_background(
    count: u32,
    gap: Duration,
    mut send: impl FnMut(u32) + Send + 'static,
) -> io::Result<Option<Running>> {
    if count <= 1 {
        return Ok(None);
    }
    let (cancel, cancelled) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("hb-announce".into())
        // It only sleeps and sends a frame; std's 2 MiB default would stay resident (the
        // daemon locks its memory) until the resource is released and the thread joined.
        .stack_size(64 * 1024)
        .spawn(move || {
            for k in 1..count {
                // A message or a hang-up on the channel both mean: stop now.
                if !matches!(cancelled.recv_timeout(gap), Err(RecvTimeoutError::Timeout)) {
                    return;
                }
                send(k);
            }
        })?;
    Ok(Some(Running { cancel, thread }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_gratuitous_request_and_reply() {
        let mac = [2, 0, 0, 0, 0, 1];
        let ip = Ipv4Addr::new(198, 51, 100, 80);
        let req = frame(ARPOP_REQUEST, mac, ip);
        assert_eq!(&req[0..6], &[0xff; 6]);
        assert_eq!(&req[6..12], &mac);
        assert_eq!(&req[12..14], &[0x08, 0x06]);
        assert_eq!(&req[14..22], &[0, 1, 0x08, 0, 6, 4, 0, 1]);
        assert_eq!(&req[22..28], &mac);
        assert_eq!(&req[28..32], &[198, 51, 100, 80]);
        assert_eq!(&req[32..38], &[0; 6]);
        assert_eq!(&req[38..42], &[198, 51, 100, 80]);
        assert!(req[42..].iter().all(|&b| b == 0));
        let rep = frame(ARPOP_REPLY, mac, ip);
        assert_eq!(&rep[20..22], &[0, 2]);
        assert_eq!(&rep[32..38], &mac);
    }
}
