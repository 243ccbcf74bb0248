//! The UDP media, with the sockets heartbeat 3.0.6 makes (wire spec §4.1–4.3): one socket to
//! send, never bound (datagrams leave from an ephemeral port), and one to receive, both
//! non-blocking and close-on-exec.
//!
//! Socket options come from `socket2` (the rust-lang project's socket crate, which tokio
//! builds on), which has every option used here but `SO_DONTROUTE`, taken from `nix`; `nix`
//! alone lacks `IP_MULTICAST_IF` and `IP_MULTICAST_ALL`.
//!
//! One deviation, on the receive side of `mcast`: the socket sets `IP_MULTICAST_ALL` to 0.
//! 3.0.6 binds the socket to the group and joins it on one interface, but Linux's default
//! (`IP_MULTICAST_ALL` 1) hands it the group's datagrams from every interface on which *any*
//! socket joined the group: with `mcast eth0 225.0.0.1 694 1 0` and `mcast eth1 225.0.0.1 694
//! 1 0`, each medium would also get the other's packets and report its link up while its own
//! interface is dead. With 0 a medium receives only from the interface it joined on, as the
//! ha.cf line says. Nothing changes on the wire.

use super::steady::SteadySocket;
use super::{plugin_info, plugin_warn, MediumError, MediumErrorKind};
use crate::log::LogLine;
use nix::sys::socket::{recvmsg, sockopt, MsgFlags, SockaddrIn};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{ErrorKind, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

/// `IPTOS_LOWDELAY`, the type of service of ucast packets.
pub const IPTOS_LOWDELAY: u32 = 0x10;

/// The two sockets of a UDP medium.
#[derive(Debug)]
struct UdpLink {
    /// `bcast eth1`, for messages.
    label: String,
    iface: String,
    tx: Socket,
    dest: SocketAddrV4,
    rx: Socket,
    /// The steady statuses' socket ([`steady`]), when the medium has one.
    steady: Option<SteadySocket>,
}

impl UdpLink {
    fn new(label: String, iface: &str, tx: Socket, dest: SocketAddrV4, rx: Socket) -> UdpLink {
        UdpLink {
            label,
            iface: iface.to_string(),
            tx,
            dest,
            rx,
            steady: None,
        }
    }

    /// Gives the medium its steady socket ([`steady`]), made by `make` as the first was.
    fn add_steady(
        &mut self,
        unicast: bool,
        make: impl FnOnce() -> Result<Socket, MediumError>,
        log: &mut Vec<LogLine>,
    ) {
        self.steady = SteadySocket::open(&self.label, &self.rx, unicast, make, log);
    }

    fn send(&self, bytes: &[u8]) -> Result<(), MediumError> {
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

    fn recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, SocketAddrV4)>, MediumError> {
        let room = buf.len();
        let mut iov = [IoSliceMut::new(buf)];
        loop {
            let msg = match recvmsg::<SockaddrIn>(
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
            let from = msg
                .address
                .map_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), |a| {
                    SocketAddrV4::new(a.ip(), a.port())
                });
            return Ok(Some((msg.bytes, from)));
        }
    }

    fn err(&self, kind: MediumErrorKind) -> MediumError {
        MediumError::new(self.label.clone(), kind)
    }
}

/// Builds sockets for one medium, naming it in every error (the IPv6 media's opener is this
/// one too, with its own methods in `udp6`).
pub(super) struct Opener<'a> {
    pub(super) label: &'a str,
}

impl Opener<'_> {
    pub(super) fn err(&self, kind: MediumErrorKind) -> MediumError {
        MediumError::new(self.label, kind)
    }

    pub(super) fn sock(&self, op: &'static str, r: std::io::Result<()>) -> Result<(), MediumError> {
        r.map_err(|source| self.err(MediumErrorKind::Socket { op, source }))
    }

    /// `SO_REUSEPORT` on a unicast medium's receive socket, said as 3.0.6's `kind` plugin
    /// says it; a kernel without it is only warned about. Whether the socket has it.
    pub(super) fn join_port_group(
        &self,
        rx: &Socket,
        kind: &str,
        log: &mut Vec<LogLine>,
    ) -> Result<bool, MediumError> {
        match rx.set_reuse_port(true) {
            Ok(()) => {
                log.push(plugin_info(format_args!("{kind}: set SO_REUSEPORT")));
                Ok(true)
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {
                log.push(plugin_warn(format_args!(
                    "{kind}: error setting option SO_REUSEPORT: {}",
                    crate::errno_text(&e)
                )));
                Ok(false)
            }
            Err(source) => Err(self.err(MediumErrorKind::Socket {
                op: "set SO_REUSEPORT",
                source,
            })),
        }
    }

    /// A second receive socket, made as the first was (`made`: it and whether it joined the
    /// port's SO_REUSEPORT group): it must have joined, as the first did, or the group's
    /// steering cannot reach it.
    pub(super) fn in_group(
        &self,
        made: Result<(Socket, bool), MediumError>,
    ) -> Result<Socket, MediumError> {
        match made? {
            (sock, true) => Ok(sock),
            (_, false) => Err(self.err(MediumErrorKind::Socket {
                op: "set SO_REUSEPORT",
                source: std::io::Error::from_raw_os_error(libc::ENOPROTOOPT),
            })),
        }
    }

    fn udp_socket(&self) -> Result<Socket, MediumError> {
        // socket2 creates it close-on-exec.
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(|source| {
            self.err(MediumErrorKind::Socket {
                op: "create a UDP socket",
                source,
            })
        })?;
        self.sock("make the socket non-blocking", s.set_nonblocking(true))?;
        Ok(s)
    }

    fn bind_device(&self, s: &Socket, iface: &str) -> Result<(), MediumError> {
        self.sock("set SO_BINDTODEVICE", s.bind_device(Some(iface.as_bytes())))
    }

    fn bind(&self, s: &Socket, addr: SocketAddrV4) -> Result<(), MediumError> {
        self.sock("bind the receive socket", s.bind(&SockAddr::from(addr)))
    }

    fn require_interface(&self, iface: &str) -> Result<(), MediumError> {
        nix::net::if_::if_nametoindex(iface)
            .map(drop)
            .map_err(|_| self.err(MediumErrorKind::NoSuchInterface))
    }

    /// The interface's IPv4 addresses, primary first, each with its broadcast address.
    fn ipv4_addresses(
        &self,
        iface: &str,
    ) -> Result<Vec<(Ipv4Addr, Option<Ipv4Addr>)>, MediumError> {
        let all = nix::ifaddrs::getifaddrs()
            .map_err(|e| self.err(MediumErrorKind::Interfaces(e.into())))?;
        let v4 = |a: Option<nix::sys::socket::SockaddrStorage>| {
            a.and_then(|a| a.as_sockaddr_in().map(|s| s.ip()))
        };
        Ok(all
            .filter(|a| a.interface_name == iface)
            .filter_map(|a| Some((v4(a.address)?, v4(a.broadcast))))
            .collect())
    }

    fn interface_address(&self, iface: &str) -> Result<Ipv4Addr, MediumError> {
        self.require_interface(iface)?;
        self.ipv4_addresses(iface)?
            .first()
            .map(|(a, _)| *a)
            .ok_or_else(|| self.err(MediumErrorKind::NoIpv4Address))
    }
}

/// `bcast <iface>`: UDP broadcast to the interface's IPv4 broadcast address.
#[derive(Debug)]
pub struct Bcast {
    link: UdpLink,
}

impl Bcast {
    /// Send socket: `SO_BROADCAST`, `SO_DONTROUTE`, `SO_BINDTODEVICE`; destination the
    /// interface's broadcast address (from the kernel's address list). Receive socket:
    /// `SO_REUSEADDR`, `SO_BINDTODEVICE`, bound to `0.0.0.0:port`.
    pub fn open(iface: &str, port: u16, defer: bool) -> Result<(Bcast, Vec<LogLine>), MediumError> {
        let label = format!("bcast {iface}");
        let o = Opener { label: &label };
        o.require_interface(iface)?;
        // glibc's getifaddrs() reports an address's own value as its "broadcast" when the
        // kernel has none (`ip addr add` without `brd +`), where 3.0.6's SIOCGIFBRDADDR sees
        // 0.0.0.0: neither is a broadcast address.
        let broadcast = o
            .ipv4_addresses(iface)?
            .into_iter()
            .find_map(|(a, b)| b.filter(|b| !b.is_unspecified() && *b != a))
            .ok_or_else(|| o.err(MediumErrorKind::NoBroadcastAddress))?;

        let tx = o.udp_socket()?;
        o.sock("set SO_BROADCAST", tx.set_broadcast(true))?;
        o.sock(
            "set SO_DONTROUTE",
            nix::sys::socket::setsockopt(&tx, sockopt::DontRoute, &true).map_err(Into::into),
        )?;
        o.bind_device(&tx, iface)?;

        // With a steady socket, both are in the port's SO_REUSEPORT group: a broadcast
        // reaches every socket bound to the port, but a datagram sent to our own address
        // (a `ucast` peer, a probe) reaches one, which the group steers ([`steady`]).
        let make_rx = |reuse_port: bool| -> Result<Socket, MediumError> {
            let rx = o.udp_socket()?;
            o.sock("set SO_REUSEADDR", rx.set_reuse_address(true))?;
            if reuse_port {
                o.sock("set SO_REUSEPORT", rx.set_reuse_port(true))?;
            }
            o.bind_device(&rx, iface)?;
            o.bind(&rx, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))?;
            Ok(rx)
        };
        let (rx, defer) = match make_rx(defer) {
            Ok(rx) => (rx, defer),
            Err(_) if defer => (make_rx(false)?, false),
            Err(e) => return Err(e),
        };

        let mut log = vec![plugin_info(format_args!(
            "UDP Broadcast heartbeat started on port {port} ({port}) interface {iface}"
        ))];
        let mut link = UdpLink::new(
            label.clone(),
            iface,
            tx,
            SocketAddrV4::new(broadcast, port),
            rx,
        );
        if defer {
            link.add_steady(true, || make_rx(true), &mut log);
        }
        Ok((Bcast { link }, log))
    }

    pub fn link_name(&self) -> &str {
        &self.link.iface
    }

    /// Where packets go: the broadcast address and port.
    pub fn destination(&self) -> SocketAddrV4 {
        self.link.dest
    }

    pub fn send(&self, bytes: &[u8]) -> Result<(), MediumError> {
        self.link.send(bytes)
    }

    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, MediumError> {
        Ok(self.link.recv_from(buf)?.map(|(n, _)| n))
    }

    /// Like [`Bcast::recv`], with the sender's address (for debug logs).
    pub fn recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, SocketAddrV4)>, MediumError> {
        self.link.recv_from(buf)
    }

    /// The medium's label and steady socket ([`steady`]), if it has one.
    pub(super) fn steady(&mut self) -> (&str, Option<&mut SteadySocket>) {
        (&self.link.label, self.link.steady.as_mut())
    }

    pub(super) fn steady_ref(&self) -> Option<&SteadySocket> {
        self.link.steady.as_ref()
    }
}

impl AsFd for Bcast {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.link.rx.as_fd()
    }
}

/// `mcast <iface> <group> <port> <ttl> <loop>`: UDP multicast.
#[derive(Debug)]
pub struct Mcast {
    link: UdpLink,
    /// `IP_MULTICAST_LOOP`: our own packets come back to our receive socket.
    loopback: bool,
}

impl Mcast {
    /// Send socket: `IP_MULTICAST_IF` = the interface's IPv4 address, `IP_MULTICAST_LOOP`,
    /// `IP_MULTICAST_TTL`; destination group:port. Receive socket: `SO_REUSEADDR`, bound to
    /// group:port, `IP_ADD_MEMBERSHIP` on the interface's address, `IP_MULTICAST_ALL` 0
    /// (module docs).
    pub fn open(
        iface: &str,
        group: Ipv4Addr,
        port: u16,
        ttl: u8,
        loopback: bool,
        defer: bool,
    ) -> Result<(Mcast, Vec<LogLine>), MediumError> {
        let label = format!("mcast {iface} {group} {port}");
        let o = Opener { label: &label };
        if !group.is_multicast() {
            return Err(o.err(MediumErrorKind::NotMulticast(group)));
        }
        let local = o.interface_address(iface)?;

        let tx = o.udp_socket()?;
        o.sock("set IP_MULTICAST_IF", tx.set_multicast_if_v4(&local))?;
        o.sock("set IP_MULTICAST_LOOP", tx.set_multicast_loop_v4(loopback))?;
        o.sock("set IP_MULTICAST_TTL", tx.set_multicast_ttl_v4(ttl.into()))?;

        let make_rx = || -> Result<Socket, MediumError> {
            let rx = o.udp_socket()?;
            o.sock("set SO_REUSEADDR", rx.set_reuse_address(true))?;
            o.sock("set IP_MULTICAST_ALL", rx.set_multicast_all_v4(false))?;
            o.bind(&rx, SocketAddrV4::new(group, port))?;
            o.sock(
                "join the multicast group",
                rx.join_multicast_v4(&group, &local),
            )?;
            Ok(rx)
        };
        let rx = make_rx()?;

        let mut log = vec![plugin_info(format_args!(
            "UDP multicast heartbeat started for group {group} port {port} interface {iface} \
             (ttl={ttl} loop={})",
            u8::from(loopback)
        ))];
        let mut link = UdpLink::new(label.clone(), iface, tx, SocketAddrV4::new(group, port), rx);
        if defer {
            link.add_steady(false, make_rx, &mut log);
        }
        Ok((Mcast { link, loopback }, log))
    }

    pub fn link_name(&self) -> &str {
        &self.link.iface
    }

    /// Whether what we send comes back to our receive socket (multicast loopback on).
    pub fn echoes(&self) -> bool {
        self.loopback
    }

    pub fn destination(&self) -> SocketAddrV4 {
        self.link.dest
    }

    pub fn send(&self, bytes: &[u8]) -> Result<(), MediumError> {
        self.link.send(bytes)
    }

    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, MediumError> {
        Ok(self.link.recv_from(buf)?.map(|(n, _)| n))
    }

    pub fn recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, SocketAddrV4)>, MediumError> {
        self.link.recv_from(buf)
    }

    /// The medium's label and steady socket ([`steady`]), if it has one.
    pub(super) fn steady(&mut self) -> (&str, Option<&mut SteadySocket>) {
        (&self.link.label, self.link.steady.as_mut())
    }

    pub(super) fn steady_ref(&self) -> Option<&SteadySocket> {
        self.link.steady.as_ref()
    }
}

impl AsFd for Mcast {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.link.rx.as_fd()
    }
}

/// `ucast <iface> <peer>`: UDP unicast to one peer.
#[derive(Debug)]
pub struct Ucast {
    link: UdpLink,
}

impl Ucast {
    /// The peer is resolved once, here (an address literal without any lookup). Send socket:
    /// `IP_TOS` lowdelay, `SO_BINDTODEVICE`, `SO_REUSEPORT`. Receive socket: `SO_REUSEADDR`,
    /// `SO_BINDTODEVICE`, `SO_REUSEPORT` (a kernel without it is only warned about), bound to
    /// `0.0.0.0:port`. The log lines are 3.0.6's, one per option.
    pub fn open(
        iface: &str,
        peer: &str,
        port: u16,
        defer: bool,
    ) -> Result<(Ucast, Vec<LogLine>), MediumError> {
        let label = format!("ucast {iface} {peer}");
        let o = Opener { label: &label };
        let peer_ip = resolve(peer, port).map_err(|reason| {
            o.err(MediumErrorKind::Resolve {
                host: peer.to_string(),
                reason,
            })
        })?;
        o.require_interface(iface)?;
        let mut log = Vec::new();

        let tx = o.udp_socket()?;
        o.sock("set IP_TOS", tx.set_tos_v4(IPTOS_LOWDELAY))?;
        log.push(plugin_info(format_args!(
            "ucast: write socket priority set to IPTOS_LOWDELAY on {iface}"
        )));
        o.bind_device(&tx, iface)?;
        log.push(plugin_info(format_args!(
            "ucast: bound send socket to device: {iface}"
        )));
        o.sock("set SO_REUSEPORT", tx.set_reuse_port(true))?;
        log.push(plugin_info("ucast: set SO_REUSEPORT(w)"));

        // The receive socket, saying what 3.0.6 says of each option in `log`; and whether
        // it is in the port's SO_REUSEPORT group (a kernel without it is only warned about).
        let make_rx = |log: &mut Vec<LogLine>| -> Result<(Socket, bool), MediumError> {
            let rx = o.udp_socket()?;
            o.sock("set SO_REUSEADDR", rx.set_reuse_address(true))?;
            log.push(plugin_info("ucast: set SO_REUSEADDR"));
            o.bind_device(&rx, iface)?;
            log.push(plugin_info(format_args!(
                "ucast: bound receive socket to device: {iface}"
            )));
            let reuse_port = o.join_port_group(&rx, "ucast", log)?;
            o.bind(&rx, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))?;
            Ok((rx, reuse_port))
        };
        let (rx, reuse_port) = make_rx(&mut log)?;

        log.push(plugin_info(format_args!(
            "ucast: started on port {port} interface {iface} to {peer_ip}"
        )));
        let mut link = UdpLink::new(
            label.clone(),
            iface,
            tx,
            SocketAddrV4::new(peer_ip, port),
            rx,
        );
        // Unicast reaches one socket of the port's group: without SO_REUSEPORT there is no
        // group to steer.
        if defer && reuse_port {
            link.add_steady(true, || o.in_group(make_rx(&mut Vec::new())), &mut log);
        }
        Ok((Ucast { link }, log))
    }

    pub fn link_name(&self) -> &str {
        &self.link.iface
    }

    /// The peer's address and port.
    pub fn destination(&self) -> SocketAddrV4 {
        self.link.dest
    }

    pub fn send(&self, bytes: &[u8]) -> Result<(), MediumError> {
        self.link.send(bytes)
    }

    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, MediumError> {
        Ok(self.link.recv_from(buf)?.map(|(n, _)| n))
    }

    pub fn recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, SocketAddrV4)>, MediumError> {
        self.link.recv_from(buf)
    }

    /// The medium's label and steady socket ([`steady`]), if it has one.
    pub(super) fn steady(&mut self) -> (&str, Option<&mut SteadySocket>) {
        (&self.link.label, self.link.steady.as_mut())
    }

    pub(super) fn steady_ref(&self) -> Option<&SteadySocket> {
        self.link.steady.as_ref()
    }
}

impl AsFd for Ucast {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.link.rx.as_fd()
    }
}

/// The IPv4 address of `host`: parsed if it is an address (no lookup at all), else the first
/// IPv4 address the resolver gives (3.0.6's `gethostbyname`).
fn resolve(host: &str, port: u16) -> Result<Ipv4Addr, String> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(ip);
    }
    let addrs = (host, port).to_socket_addrs().map_err(|e| e.to_string())?;
    addrs
        .filter_map(|a| match a {
            std::net::SocketAddr::V4(a) => Some(*a.ip()),
            std::net::SocketAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(|| "no IPv4 address".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_peer_needs_no_lookup() {
        assert_eq!(
            resolve("198.51.100.12", 694),
            Ok(Ipv4Addr::new(198, 51, 100, 12))
        );
    }

    #[test]
    fn unknown_interface_is_named() {
        let e = Bcast::open("hbnosuch0", 694, true).unwrap_err();
        assert_eq!(e.to_string(), "bcast hbnosuch0: interface does not exist");
        let e = Mcast::open(
            "hbnosuch0",
            Ipv4Addr::new(225, 0, 0, 1),
            694,
            1,
            false,
            true,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "mcast hbnosuch0 225.0.0.1 694: interface does not exist"
        );
        let e = Ucast::open("hbnosuch0", "198.51.100.12", 694, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ucast hbnosuch0 198.51.100.12: interface does not exist"
        );
    }

    #[test]
    fn loopback_has_no_broadcast_address() {
        let e = Bcast::open("lo", 694, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bcast lo: interface has no IPv4 broadcast address (an address added without \
             `brd +`?)"
        );
    }

    #[test]
    fn group_must_be_multicast() {
        let e = Mcast::open("lo", Ipv4Addr::new(198, 51, 100, 1), 694, 1, false, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "mcast lo 198.51.100.1 694: 198.51.100.1 is not a multicast group"
        );
    }
}
