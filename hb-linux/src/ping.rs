//! ICMP echo to ping nodes (`ping`, `ping_group`, `ping6`; behaviour spec §1.5 and §6).
//!
//! heartbeat's ping media send one echo request per ping node each time the daemon sends its
//! own status (once per keepalive), and an echo reply counts as a heartbeat *from the ping
//! node*; a `ping_group` node is alive while any of its hosts answers. The core decides when
//! (`Heartbeat::poll_ping() -> Option<NodeId>`) and keeps the node alive
//! (`Heartbeat::handle_ping_reply(now, node)`); this module only sends and recognises echoes.
//!
//! Ping nodes follow the cluster nodes: the ping node of [`PingTarget`] number `i` (in
//! [`PingTarget::from_hacf`]'s order, which is ha.cf's and `MembershipConfig::from_hacf`'s) is
//! `NodeId(cf.nodes.len() + i)`.
//!
//! # Sockets
//!
//! An unprivileged ICMP datagram socket (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`, allowed
//! when the group is in `net.ipv4.ping_group_range`) is tried first; the kernel then picks the
//! echo identifier and hands this socket only the replies to it. Otherwise a raw socket (root),
//! which sees every ICMP packet: replies are matched on our identifier. Either way a reply is
//! accepted only when its sequence number is one we sent recently *to the address it comes
//! from*; anything else (other programs' pings, late or forged replies) is ignored. IPv6 uses
//! the same scheme with ICMPv6. Sockets are non-blocking, for the daemon's poll loop
//! ([`Pinger::fds`]).
//!
//! heartbeat puts a signed `NS_st` message in the echo payload and checks it in the reply. The
//! payload only proves that the host echoed what we sent, which the sequence number and source
//! address check already do, so we send a short fixed marker instead.

use crate::log::LogLine;
use hb_core::config::hacf::Medium;
use hb_core::config::HaCf;
use hb_core::engine::NodeId;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};

/// How many recent echo requests are remembered for matching replies (sequence numbers modulo
/// this). At one request per ping host per keepalive this is minutes of history.
const SENT_SLOTS: usize = 256;
/// Echo payload marker.
const PAYLOAD: &[u8] = b"hb ping";
/// Stop draining a socket after this many datagrams in one [`Pinger::recv`] call, so a flood of
/// foreign ICMP cannot keep the loop here.
const MAX_DRAIN: usize = 256;

const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;

/// One ping node: its name (as the core knows it) and the addresses to echo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingTarget {
    pub name: String,
    pub addrs: Vec<IpAddr>,
}

impl PingTarget {
    /// The ping nodes of ha.cf in node-id order, with their hosts resolved (`ping` and
    /// `ping_group` hosts to IPv4, `ping6` hosts to IPv6).
    pub fn from_hacf(cf: &HaCf) -> Result<Vec<PingTarget>, String> {
        let mut out = Vec::new();
        for m in &cf.media {
            match &m.value {
                Medium::Ping { host } => out.push(PingTarget {
                    name: host.to_string(),
                    addrs: vec![resolve(host, false, "ping")?],
                }),
                Medium::Ping6 { host } => out.push(PingTarget {
                    name: host.to_string(),
                    addrs: vec![resolve(host, true, "ping6")?],
                }),
                Medium::PingGroup { name, hosts } => out.push(PingTarget {
                    name: name.to_string(),
                    addrs: hosts
                        .iter()
                        .map(|h| resolve(h, false, "ping_group"))
                        .collect::<Result<_, _>>()?,
                }),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// heartbeat's start-up line for each ping medium, in ha.cf order (`ping heartbeat started.`,
/// `ping group heartbeat started.`; for `ping6` the same words as `ping`, the spec having none).
pub fn start_lines(cf: &HaCf) -> Vec<LogLine> {
    cf.media
        .iter()
        .filter_map(|m| match m.value {
            Medium::Ping { .. } | Medium::Ping6 { .. } => {
                Some(LogLine::info("ping heartbeat started."))
            }
            Medium::PingGroup { .. } => Some(LogLine::info("ping group heartbeat started.")),
            _ => None,
        })
        .collect()
}

/// The core's node id of ping target `index` (ping nodes follow the cluster nodes).
pub fn ping_node_id(cf: &HaCf, index: usize) -> Option<NodeId> {
    u8::try_from(cf.nodes.len() + index).ok().map(NodeId)
}

/// The ping target of the core's node `node`, if it is a ping node.
pub fn ping_target_index(cf: &HaCf, node: NodeId) -> Option<usize> {
    node.index().checked_sub(cf.nodes.len())
}

fn resolve(host: &str, v6: bool, directive: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_ipv6() == v6 {
            return Ok(ip);
        }
    }
    let found = (host, 0)
        .to_socket_addrs()
        .map_err(|e| format!("{directive}: cannot resolve hostname [{host}]: {e}"))?
        .map(|a| a.ip())
        .find(|ip| ip.is_ipv6() == v6);
    found.ok_or_else(|| {
        format!(
            "{directive}: hostname [{host}] has no {} address",
            if v6 { "IPv6" } else { "IPv4" }
        )
    })
}

/// Which ICMP socket to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// Datagram if the kernel allows it, else raw.
    Auto,
    Datagram,
    Raw,
}

struct IcmpSocket {
    sock: UdpSocket,
    raw: bool,
    v6: bool,
}

impl IcmpSocket {
    fn open(v6: bool, kind: SocketKind) -> io::Result<IcmpSocket> {
        let (domain, proto) = if v6 {
            (Domain::IPV6, Protocol::ICMPV6)
        } else {
            (Domain::IPV4, Protocol::ICMPV4)
        };
        let dgram = || Socket::new(domain, Type::DGRAM, Some(proto));
        let raw = || Socket::new(domain, Type::RAW, Some(proto));
        let (s, is_raw) = match kind {
            SocketKind::Datagram => (dgram()?, false),
            SocketKind::Raw => (raw()?, true),
            SocketKind::Auto => match dgram() {
                Ok(s) => (s, false),
                Err(dgram_err) => match raw() {
                    Ok(s) => (s, true),
                    Err(_) => return Err(dgram_err),
                },
            },
        };
        s.set_nonblocking(true)?;
        s.set_cloexec(true)?;
        // A UdpSocket is only a typed handle for sendto/recvfrom on the same fd; the port in
        // its addresses is ignored for ICMP.
        Ok(IcmpSocket {
            sock: UdpSocket::from(OwnedFd::from(s)),
            raw: is_raw,
            v6,
        })
    }
}

/// The ping sender and reply matcher of one daemon.
pub struct Pinger {
    targets: Vec<PingTarget>,
    v4: Option<IcmpSocket>,
    v6: Option<IcmpSocket>,
    ident: u16,
    seq: u16,
    /// `sent[seq % SENT_SLOTS]` = (seq, target index, address) of a recent request.
    sent: Vec<Option<(u16, usize, IpAddr)>>,
}

impl std::fmt::Debug for Pinger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pinger")
            .field("targets", &self.targets)
            .field("v4_raw", &self.v4.as_ref().map(|s| s.raw))
            .field("v6_raw", &self.v6.as_ref().map(|s| s.raw))
            .field("ident", &self.ident)
            .finish()
    }
}

impl Pinger {
    /// Opens the sockets the targets need (IPv4, IPv6 or both); the one-line error says why a
    /// socket could not be had (typically: not root and `ping_group_range` excludes us).
    pub fn open(targets: Vec<PingTarget>) -> Result<Pinger, String> {
        Self::open_with(targets, SocketKind::Auto)
    }

    pub fn open_with(targets: Vec<PingTarget>, kind: SocketKind) -> Result<Pinger, String> {
        let need = |v6: bool| {
            targets
                .iter()
                .flat_map(|t| &t.addrs)
                .any(|a| a.is_ipv6() == v6)
        };
        let open = |v6: bool| {
            IcmpSocket::open(v6, kind).map_err(|e| {
                format!(
                    "ping: cannot open an ICMP{} socket: {} (needs root, or the group in \
                     net.ipv4.ping_group_range)",
                    if v6 { "v6" } else { "" },
                    crate::errno_text(&e)
                )
            })
        };
        let v4 = if need(false) {
            Some(open(false)?)
        } else {
            None
        };
        let v6 = if need(true) { Some(open(true)?) } else { None };
        // Raw sockets see every echo reply on the machine: the identifier tells ours. Two
        // Pingers in one process (tests) must not share it.
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let ident = (std::process::id() as u16) ^ NEXT.fetch_add(0x9e37, Ordering::Relaxed);
        Ok(Pinger {
            targets,
            v4,
            v6,
            ident,
            seq: 0,
            sent: vec![None; SENT_SLOTS],
        })
    }

    pub fn targets(&self) -> &[PingTarget] {
        &self.targets
    }

    /// Whether the IPv4 socket is a raw one (for the start-up log).
    pub fn is_raw(&self) -> bool {
        self.v4.as_ref().or(self.v6.as_ref()).is_some_and(|s| s.raw)
    }

    /// The sockets to poll for readability (an iterator: the loop's poll set is rebuilt every
    /// round without allocating).
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> + '_ {
        self.v4.iter().chain(self.v6.iter()).map(|s| s.sock.as_fd())
    }

    /// Sends an echo request to every address of target `index`. An error (no route, target
    /// index out of range) is returned after trying every address; the node then simply gets
    /// no answer.
    pub fn send(&mut self, index: usize) -> io::Result<()> {
        let Some(target) = self.targets.get(index) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no ping target {index}"),
            ));
        };
        let addrs = target.addrs.clone();
        let mut result = Ok(());
        for addr in addrs {
            self.seq = self.seq.wrapping_add(1);
            let seq = self.seq;
            self.sent[usize::from(seq) % SENT_SLOTS] = Some((seq, index, addr));
            let sock = if addr.is_ipv6() { &self.v6 } else { &self.v4 };
            let Some(sock) = sock else { continue };
            let packet = echo_request(sock.v6, self.ident, seq);
            if let Err(e) = sock.sock.send_to(&packet, SocketAddr::new(addr, 0)) {
                result = Err(e);
            }
        }
        result
    }

    /// The target whose echo reply arrived, if one did; stray packets are skipped. Call until
    /// `None` when a socket is readable.
    pub fn recv(&mut self) -> Option<usize> {
        let mut buf = [0u8; 1500];
        for v6 in [false, true] {
            for _ in 0..MAX_DRAIN {
                let sock = if v6 { &self.v6 } else { &self.v4 };
                let Some(sock) = sock else { break };
                let (n, from) = match sock.sock.recv_from(&mut buf) {
                    Ok(x) => x,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // A queued ICMP error (unreachable) is reported once; keep draining.
                    Err(_) => continue,
                };
                let raw = sock.raw;
                if let Some(index) = self.match_reply(&buf[..n], from.ip(), v6, raw) {
                    return Some(index);
                }
            }
        }
        None
    }

    fn match_reply(&mut self, packet: &[u8], from: IpAddr, v6: bool, raw: bool) -> Option<usize> {
        // Raw IPv4 sockets deliver the IP header too; ICMPv6 and datagram sockets do not.
        let icmp = if raw && !v6 {
            let ihl = usize::from(packet.first()? & 0x0f) * 4;
            packet.get(ihl..)?
        } else {
            packet
        };
        if icmp.len() < 8 {
            return None;
        }
        let reply_type = if v6 {
            ICMP6_ECHO_REPLY
        } else {
            ICMP_ECHO_REPLY
        };
        if icmp[0] != reply_type || icmp[1] != 0 {
            return None;
        }
        let ident = u16::from_be_bytes([icmp[4], icmp[5]]);
        let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
        // A datagram socket's identifier is chosen by the kernel, which already filters on it.
        if raw && ident != self.ident {
            return None;
        }
        let slot = &mut self.sent[usize::from(seq) % SENT_SLOTS];
        match *slot {
            Some((s, index, addr)) if s == seq && addr == from => {
                // One answer per request: a duplicate does not count twice.
                *slot = None;
                Some(index)
            }
            _ => None,
        }
    }
}

/// An ICMP (or ICMPv6) echo request with our marker as payload. The ICMPv6 checksum is the
/// kernel's; the ICMP one we compute (the kernel recomputes it for datagram sockets).
fn echo_request(v6: bool, ident: u16, seq: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + PAYLOAD.len());
    p.push(if v6 {
        ICMP6_ECHO_REQUEST
    } else {
        ICMP_ECHO_REQUEST
    });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    if !v6 {
        let sum = internet_checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// RFC 1071.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_request_verifies() {
        let p = echo_request(false, 0x1234, 7);
        assert_eq!(
            internet_checksum(&p),
            0,
            "a packet with its checksum sums to zero"
        );
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn targets_follow_hacf_order() {
        let cf = HaCf::parse(
            "node a\nnode b\nbcast lo\nping 198.51.100.7\nping_group grp 203.0.113.1 \
             203.0.113.2\nping6 2001:db8::1\n",
            &mut |_| {},
        )
        .unwrap();
        let t = PingTarget::from_hacf(&cf).unwrap();
        let names: Vec<_> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["198.51.100.7", "grp", "2001:db8::1"]);
        assert_eq!(t[1].addrs.len(), 2);
        assert!(t[2].addrs[0].is_ipv6());
        assert_eq!(ping_node_id(&cf, 1), Some(NodeId(3)));
        assert_eq!(ping_target_index(&cf, NodeId(3)), Some(1));
        assert_eq!(ping_target_index(&cf, NodeId(1)), None);
        let lines: Vec<_> = start_lines(&cf).into_iter().map(|l| l.text).collect();
        assert_eq!(
            lines,
            [
                "ping heartbeat started.",
                "ping group heartbeat started.",
                "ping heartbeat started."
            ]
        );
    }

    fn pinger_without_sockets() -> Pinger {
        Pinger {
            targets: vec![PingTarget {
                name: "x".into(),
                addrs: vec!["198.51.100.2".parse().unwrap()],
            }],
            v4: None,
            v6: None,
            ident: 0x4242,
            seq: 0,
            sent: vec![None; SENT_SLOTS],
        }
    }

    fn reply(ident: u16, seq: u16) -> Vec<u8> {
        let mut p = echo_request(false, ident, seq);
        p[0] = ICMP_ECHO_REPLY;
        p
    }

    #[test]
    fn replies_match_on_ident_sequence_and_source() {
        let mut p = pinger_without_sockets();
        let peer: IpAddr = "198.51.100.2".parse().unwrap();
        let other: IpAddr = "198.51.100.3".parse().unwrap();
        p.sent[5] = Some((5, 0, peer));
        assert_eq!(p.match_reply(&reply(0x4242, 5), other, false, false), None);
        assert_eq!(p.match_reply(&reply(0x4243, 5), peer, false, true), None);
        assert_eq!(p.match_reply(&reply(0x4242, 6), peer, false, false), None);
        let mut req = reply(0x4242, 5);
        req[0] = ICMP_ECHO_REQUEST;
        assert_eq!(p.match_reply(&req, peer, false, false), None);
        assert_eq!(
            p.match_reply(&reply(0x4242, 5), peer, false, false),
            Some(0)
        );
        assert_eq!(
            p.match_reply(&reply(0x4242, 5), peer, false, false),
            None,
            "a duplicate reply does not count twice"
        );
        // Raw IPv4 comes with the IP header.
        p.sent[5] = Some((5, 0, peer));
        let mut with_header = vec![0x45; 1];
        with_header.extend_from_slice(&[0; 19]);
        with_header.extend_from_slice(&reply(0x4242, 5));
        assert_eq!(p.match_reply(&with_header, peer, false, true), Some(0));
        assert_eq!(p.match_reply(&[0x4f], peer, false, true), None, "short");
    }
}
