//! A blocking rtnetlink client with just what native IP takeover needs: list links, IPv4
//! routes and addresses; add and delete an address; set a link up.
//!
//! Messages are built and parsed by `netlink-packet-route`; the socket is `netlink-sys`'s
//! plain blocking one. A socket is opened per operation (the worker is not in a hurry at the
//! scale of a socket call, and a fresh socket always lives in the calling thread's network
//! namespace, which is what the namespace tests rely on).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::time::Duration;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// The longest wait for a netlink answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// `RT_TABLE_MAIN`: the table `/proc/net/route` shows, which is what findif reads.
const RT_TABLE_MAIN: u32 = 254;

/// A network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The hardware address, when it is an Ethernet-style 6-byte one.
    pub mac: Option<[u8; 6]>,
    pub up: bool,
    pub noarp: bool,
    pub loopback: bool,
}

/// An IPv4 route of the main table, the fields findif looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route4 {
    pub dest: Ipv4Addr,
    pub prefix: u8,
    pub oif: Option<u32>,
    pub metric: u32,
    /// `scope link`: a directly connected network (findif.sh considers only these).
    pub link_scope: bool,
}

/// An address on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub ip: IpAddr,
    pub prefix: u8,
    pub label: Option<String>,
    pub broadcast: Option<Ipv4Addr>,
    /// Scope global (not link- or host-local).
    pub global: bool,
}

pub struct Rtnl {
    sock: Socket,
    seq: u32,
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl { sock, seq: 0 })
    }

    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let replies = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(l)),
                _ => None,
            })
            .collect())
    }

    pub fn routes4(&mut self) -> io::Result<Vec<Route4>> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let replies = self.request(RouteNetlinkMessage::GetRoute(req), NLM_F_DUMP)?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => route_of(&r),
                _ => None,
            })
            .collect())
    }

    pub fn addrs(&mut self) -> io::Result<Vec<Addr>> {
        let replies = self.request(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => addr_of(a),
                _ => None,
            })
            .collect())
    }

    pub fn add_addr4(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix: u8,
        broadcast: Ipv4Addr,
        label: Option<&str>,
    ) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.scope = AddressScope::Universe;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        m.attributes.push(AddressAttribute::Address(IpAddr::V4(ip)));
        m.attributes.push(AddressAttribute::Broadcast(broadcast));
        if let Some(label) = label {
            m.attributes
                .push(AddressAttribute::Label(label.to_string()));
        }
        self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    /// Adds an IPv6 address without duplicate address detection, so that it is usable (and
    /// can be announced) at once: a takeover must not wait a second for DAD.
    pub fn add_addr6(&mut self, index: u32, ip: Ipv6Addr, prefix: u8) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.header.prefix_len = prefix;
        m.header.scope = AddressScope::Universe;
        m.header.index = index;
        m.header.flags = AddressHeaderFlags::Nodad;
        m.attributes.push(AddressAttribute::Address(IpAddr::V6(ip)));
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
        self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    pub fn del_addr(&mut self, addr: &Addr) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = match addr.ip {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        m.header.prefix_len = addr.prefix;
        m.header.index = addr.index;
        m.attributes.push(AddressAttribute::Local(addr.ip));
        if addr.ip.is_ipv6() {
            m.attributes.push(AddressAttribute::Address(addr.ip));
        }
        self.request(RouteNetlinkMessage::DelAddress(m), NLM_F_ACK)
            .map(drop)
    }

    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(m), NLM_F_ACK)
            .map(drop)
    }

    /// Sends one request and collects the answers: a dump's messages until `NLMSG_DONE`, or
    /// nothing for an acknowledged change; a kernel error becomes its errno.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        req.finalize();
        let mut buf = vec![0; req.header.length as usize];
        req.serialize(&mut buf);
        self.sock.send(&buf, 0)?;

        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        loop {
            self.wait_readable()?;
            let (bytes, _) = self.sock.recv_from_full()?;
            let mut offset = 0;
            while offset < bytes.len() {
                let msg: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&bytes[offset..])
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number == seq {
                    match msg.payload {
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(out),
                                Some(_) => Err(e.to_io()),
                            }
                        }
                        NetlinkPayload::InnerMessage(m) => {
                            out.push(m);
                            if !dump {
                                return Ok(out);
                            }
                        }
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }
}

impl Rtnl {
    /// The kernel answers at once; a bound keeps a worker from hanging if it ever does not.
    fn wait_readable(&self) -> io::Result<()> {
        let fd = self.sock.as_fd();
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        let ms = u16::try_from(REPLY_TIMEOUT.as_millis()).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no answer from the kernel",
            )),
            Ok(_) => Ok(()),
            Err(e) => Err(io::Error::from(e)),
        }
    }
}

fn link_of(l: LinkMessage) -> Link {
    let mut link = Link {
        index: l.header.index,
        name: String::new(),
        mac: None,
        up: l.header.flags.contains(LinkFlags::Up),
        noarp: l.header.flags.contains(LinkFlags::Noarp),
        loopback: l.header.flags.contains(LinkFlags::Loopback),
    };
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::Address(mac) => link.mac = <[u8; 6]>::try_from(mac.as_slice()).ok(),
            _ => {}
        }
    }
    link
}

fn route_of(r: &RouteMessage) -> Option<Route4> {
    if r.header.address_family != AddressFamily::Inet || r.header.kind != RouteType::Unicast {
        return None;
    }
    let mut table = u32::from(r.header.table);
    let mut route = Route4 {
        dest: Ipv4Addr::UNSPECIFIED,
        prefix: r.header.destination_prefix_length,
        oif: None,
        metric: 0,
        link_scope: r.header.scope == RouteScope::Link,
    };
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => route.dest = *d,
            RouteAttribute::Oif(i) => route.oif = Some(*i),
            RouteAttribute::Priority(p) => route.metric = *p,
            RouteAttribute::Table(t) => table = *t,
            _ => {}
        }
    }
    (table == RT_TABLE_MAIN).then_some(route)
}

fn addr_of(a: AddressMessage) -> Option<Addr> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut broadcast = None;
    for attr in a.attributes {
        match attr {
            AddressAttribute::Local(ip) => local = Some(ip),
            AddressAttribute::Address(ip) => address = Some(ip),
            AddressAttribute::Label(l) => label = Some(l),
            AddressAttribute::Broadcast(b) => broadcast = Some(b),
            _ => {}
        }
    }
    Some(Addr {
        global: a.header.scope == AddressScope::Universe,
        index: a.header.index,
        // IPv4 gives IFA_LOCAL (IFA_ADDRESS is the peer on point-to-point links); IPv6 only
        // IFA_ADDRESS.
        ip: local.or(address)?,
        prefix: a.header.prefix_len,
        label,
        broadcast,
    })
}
