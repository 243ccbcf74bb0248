//! The IPv6 UDP media, `mcast6` and `ucast6`, with the sockets heartbeat 3.0.6's plugins
//! make [HBcomm/mcast6.c, ucast6.c]: one socket to send (never bound), one to receive bound
//! to `[::]:port`, both with 1 MiB buffers, close-on-exec and (hb) non-blocking.
//!
//! - `mcast6 <iface> <group> <port> <hops> <loop>`: send socket `IPV6_MULTICAST_IF` (the
//!   interface's index), `IPV6_MULTICAST_LOOP`, `IPV6_MULTICAST_HOPS`, to `[group]:port`;
//!   receive socket `SO_REUSEADDR`, bound to `[::]:port`, `IPV6_JOIN_GROUP` on the interface.
//! - `ucast6 <iface> <peer>`: both sockets `SO_BINDTODEVICE`; receive socket `SO_REUSEADDR`,
//!   `SO_REUSEPORT`, bound to `[::]:udpport`; to `[peer]:udpport`, a link-local peer scoped to
//!   the interface (`%iface` may be written; another interface's scope is refused).
//!
//! Deliberate differences, on the receive side only (nothing changes on the wire): the
//! sockets are `IPV6_V6ONLY`, so an IPv6 medium never takes IPv4 heartbeats sent to the same
//! port (3.0.6's dual-stack `[::]` socket can, and with `SO_REUSEPORT` even steal a `ucast`
//! medium's share), and the mcast6 socket has `IPV6_MULTICAST_ALL` 0, so it hears the group
//! only on the interface it joined on (as hb's `mcast`, see [`super::udp`]).

use super::steady::SteadySocket;
use super::udp::Opener;
use super::{plugin_info, plugin_warn, MediumError, MediumErrorKind};
use crate::log::LogLine;
use nix::sys::socket::{recvmsg, MsgFlags, SockaddrIn6};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{ErrorKind, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

/// 3.0.6's `adjust_socket_bufs(sockfd, 1024*1024)`.
const SOCKET_BUFFER: usize = 1024 * 1024;

/// An open `mcast6` or `ucast6` medium.
#[derive(Debug)]
pub struct Udp6 {
    label: String,
    iface: String,
    tx: Socket,
    dest: SocketAddrV6,
    rx: Socket,
    /// The steady statuses' socket ([`steady`]), when the medium has one.
    steady: Option<SteadySocket>,
}

impl Opener<'_> {
    fn socket(&self) -> Result<Socket, MediumError> {
        let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).map_err(|source| {
            self.err(MediumErrorKind::Socket {
                op: "create a UDP/IPv6 socket",
                source,
            })
        })?;
        self.sock("make the socket non-blocking", s.set_nonblocking(true))?;
        self.sock("set IPV6_V6ONLY", s.set_only_v6(true))?;
        // 3.0.6 ignores a failure here too.
        let _ = s.set_send_buffer_size(SOCKET_BUFFER);
        let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
        Ok(s)
    }

    fn ifindex(&self, iface: &str) -> Result<u32, MediumError> {
        nix::net::if_::if_nametoindex(iface).map_err(|_| self.err(MediumErrorKind::NoSuchInterface))
    }

    fn bind_any(&self, s: &Socket, port: u16) -> Result<(), MediumError> {
        let any = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0);
        self.sock("bind the receive socket", s.bind(&SockAddr::from(any)))
    }
}

impl Udp6 {
    /// `mcast6 <iface> <group> <port> <hops> <loop>` (module docs).
    pub fn open_mcast6(
        iface: &str,
        group: Ipv6Addr,
        port: u16,
        hops: u8,
        loopback: bool,
        defer: bool,
    ) -> Result<(Udp6, Vec<LogLine>), MediumError> {
        let label = format!("mcast6 {iface} {group} {port}");
        let o = Opener { label: &label };
        let index = o.ifindex(iface)?;
        let mut log = Vec::new();

        let tx = o.socket()?;
        // 3.0.6 only warns about these three.
        if let Err(e) = tx.set_multicast_if_v6(index) {
            log.push(plugin_warn(format_args!(
                "Error setting outbound mcast6 interface: {}",
                crate::errno_text(&e)
            )));
        }
        if let Err(e) = tx.set_multicast_loop_v6(loopback) {
            log.push(plugin_warn(format_args!(
                "Error setting outbound mcast6 loopback value: {}",
                crate::errno_text(&e)
            )));
        }
        if let Err(e) = tx.set_multicast_hops_v6(hops.into()) {
            log.push(plugin_warn(format_args!(
                "Error setting outbound mcast6 hops: {}",
                crate::errno_text(&e)
            )));
        }

        // Bound to `[::]:port`, it also takes unicast to our addresses: with a steady socket
        // both are in the port's SO_REUSEPORT group, which steers those ([`steady`]).
        let make_rx = |reuse_port: bool| -> Result<Socket, MediumError> {
            let rx = o.socket()?;
            o.sock("set SO_REUSEADDR", rx.set_reuse_address(true))?;
            if reuse_port {
                o.sock("set SO_REUSEPORT", rx.set_reuse_port(true))?;
            }
            o.sock("set IPV6_MULTICAST_ALL", rx.set_multicast_all_v6(false))?;
            o.bind_any(&rx, port)?;
            o.sock(
                "join the multicast group",
                rx.join_multicast_v6(&group, index),
            )?;
            Ok(rx)
        };
        let (rx, defer) = match make_rx(defer) {
            Ok(rx) => (rx, defer),
            Err(_) if defer => (make_rx(false)?, false),
            Err(e) => return Err(e),
        };
        log.push(plugin_info(format_args!(
            "UDP multicast heartbeat started for [{group}]:{port} on interface {iface} \
             (hops={hops} loop={})",
            u8::from(loopback)
        )));
        let dest = SocketAddrV6::new(group, port, 0, 0);
        let mut m = Udp6 {
            label: label.clone(),
            iface: iface.to_string(),
            tx,
            dest,
            rx,
            steady: None,
        };
        if defer {
            // Bound to `[::]:port`: unicast to our addresses is steered too.
            m.steady = SteadySocket::open(&m.label, &m.rx, true, || make_rx(true), &mut log);
        }
        Ok((m, log))
    }

    /// `ucast6 <iface> <peer>` (module docs); `peer` as written, `%scope` included.
    pub fn open_ucast6(
        iface: &str,
        peer: &str,
        port: u16,
        defer: bool,
    ) -> Result<(Udp6, Vec<LogLine>), MediumError> {
        let label = format!("ucast6 {iface} {peer}");
        let o = Opener { label: &label };
        let index = o.ifindex(iface)?;
        let bad = |reason: String| {
            o.err(MediumErrorKind::Resolve {
                host: peer.to_string(),
                reason,
            })
        };
        let (literal, scope) = match peer.split_once('%') {
            Some((a, s)) => (a, Some(s)),
            None => (peer, None),
        };
        let addr: Ipv6Addr = literal
            .parse()
            .map_err(|_| bad("not an IPv6 address".into()))?;
        let link_local = addr.segments()[0] & 0xffc0 == 0xfe80;
        let mut shown = addr.to_string();
        let scope_id = if link_local {
            let given = match scope {
                None => None,
                Some(s) => Some(
                    s.parse::<u32>()
                        .ok()
                        .or_else(|| nix::net::if_::if_nametoindex(s).ok())
                        .ok_or_else(|| bad(format!("unknown scope {s}")))?,
                ),
            };
            if given.is_some_and(|g| g != index) {
                return Err(bad(format!(
                    "index {index} does not match scope id {} for device {iface}",
                    given.unwrap_or(0)
                )));
            }
            shown.push('%');
            shown.push_str(iface);
            index
        } else {
            0
        };
        let mut log = Vec::new();

        let tx = o.socket()?;
        o.sock(
            "set SO_BINDTODEVICE",
            tx.bind_device(Some(iface.as_bytes())),
        )?;
        log.push(plugin_info(format_args!(
            "ucast6: bound send socket to device: {iface}"
        )));

        // The receive socket, saying what 3.0.6 says of each option in `log`; and whether
        // it is in the port's SO_REUSEPORT group (a kernel without it is only warned about).
        let make_rx = |log: &mut Vec<LogLine>| -> Result<(Socket, bool), MediumError> {
            let rx = o.socket()?;
            o.sock("set SO_REUSEADDR", rx.set_reuse_address(true))?;
            o.sock(
                "set SO_BINDTODEVICE",
                rx.bind_device(Some(iface.as_bytes())),
            )?;
            log.push(plugin_info(format_args!(
                "ucast6: bound receive socket to device: {iface}"
            )));
            let reuse_port = o.join_port_group(&rx, "ucast6", log)?;
            o.bind_any(&rx, port)?;
            Ok((rx, reuse_port))
        };
        let (rx, reuse_port) = make_rx(&mut log)?;
        log.push(plugin_info(format_args!(
            "ucast6: heartbeat started for [{shown}]:{port} on interface {iface}"
        )));
        let mut m = Udp6 {
            label: label.clone(),
            iface: iface.to_string(),
            tx,
            dest: SocketAddrV6::new(addr, port, 0, scope_id),
            rx,
            steady: None,
        };
        if defer && reuse_port {
            m.steady = SteadySocket::open(
                &m.label,
                &m.rx,
                true,
                || o.in_group(make_rx(&mut Vec::new())),
                &mut log,
            );
        }
        Ok((m, log))
    }

    /// The medium's label and steady socket ([`steady`]), if it has one.
    pub(super) fn steady(&mut self) -> (&str, Option<&mut SteadySocket>) {
        (&self.label, self.steady.as_mut())
    }

    pub(super) fn steady_ref(&self) -> Option<&SteadySocket> {
        self.steady.as_ref()
    }

    pub fn link_name(&self) -> &str {
        &self.iface
    }

    pub fn destination(&self) -> SocketAddrV6 {
        self.dest
    }

    fn err(&self, kind: MediumErrorKind) -> MediumError {
        MediumError::new(self.label.clone(), kind)
    }

    pub fn send(&self, bytes: &[u8]) -> Result<(), MediumError> {
        match self.tx.send_to(bytes, &SockAddr::from(self.dest)) {
            Ok(n) if n == bytes.len() => Ok(()),
            Ok(_) => Err(self.err(MediumErrorKind::Send {
                to: self.dest.into(),
                source: std::io::Error::new(ErrorKind::WriteZero, "short send"),
            })),
            Err(source) => Err(self.err(MediumErrorKind::Send {
                to: self.dest.into(),
                source,
            })),
        }
    }

    /// The next datagram, or `None` when none is waiting; a datagram larger than `buf` is
    /// dropped with an error rather than cut.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, MediumError> {
        let room = buf.len();
        let mut iov = [IoSliceMut::new(buf)];
        loop {
            let msg = match recvmsg::<SockaddrIn6>(
                self.rx.as_raw_fd(),
                &mut iov,
                None,
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(msg) => msg,
                Err(nix::errno::Errno::EAGAIN) => return Ok(None),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(self.err(MediumErrorKind::Recv(e.into()))),
            };
            if msg.flags.contains(MsgFlags::MSG_TRUNC) {
                return Err(self.err(MediumErrorKind::TooBig {
                    len: msg.bytes,
                    room,
                }));
            }
            return Ok(Some(msg.bytes));
        }
    }
}

impl AsFd for Udp6 {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_interface_is_named() {
        let g: Ipv6Addr = "ff12::1:2:3:4".parse().unwrap();
        let e = Udp6::open_mcast6("hbnosuch0", g, 694, 1, false, true).unwrap_err();
        assert!(e.to_string().contains("hbnosuch0"), "{e}");
        let e = Udp6::open_ucast6("hbnosuch0", "2001:db8::2", 694, true).unwrap_err();
        assert!(e.to_string().contains("hbnosuch0"), "{e}");
    }

    #[test]
    fn a_link_local_peer_takes_the_interface_as_scope() {
        let (m, log) = Udp6::open_ucast6("lo", "fe80::2", 0, true).unwrap();
        assert_eq!(
            m.destination().scope_id(),
            nix::net::if_::if_nametoindex("lo").unwrap()
        );
        assert!(
            log.iter()
                .any(|l| l.text.contains("[fe80::2%lo]:0 on interface lo")),
            "{log:?}"
        );
        let e = Udp6::open_ucast6("lo", "fe80::2%999999", 0, true).unwrap_err();
        assert!(e.to_string().contains("does not match scope id"), "{e}");
    }
}
