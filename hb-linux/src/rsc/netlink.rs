//! A blocking rtnetlink client with just what native IP takeover needs: list links, IPv4
//! routes and addresses; add and delete an address; set a link up.
//!
//! The messages are coded here, by hand: the few headers and attributes that IP takeover reads
//! or writes, nothing else (a general rtnetlink library parses every kind of message and
//! attribute into types, which was a sixth of the static appliance binary). Anything else in
//! an answer is skipped; a truncated or malformed answer is an error, never a panic.
//! A socket is opened per operation (the worker is not in a hurry at the scale of a socket
//! call, and a fresh socket always lives in the calling thread's network namespace, which is
//! what the namespace tests rely on).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// The longest wait for a netlink answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// `RT_TABLE_MAIN`: the table `/proc/net/route` shows, which is what findif reads.
const RT_TABLE_MAIN: u32 = 254;

// <linux/netlink.h>
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
// <linux/rtnetlink.h>
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTN_UNICAST: u8 = 1;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_PRIORITY: u16 = 6;
const RTA_TABLE: u16 = 15;
// <linux/if_link.h>, <linux/if.h>
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_NOARP: u32 = 0x80;
// <linux/if_addr.h>
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_NODAD: u8 = 0x02;

const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;

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
    fd: OwnedFd,
    seq: u32,
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: an all-zero sockaddr_nl is the kernel's address (pid 0, no groups); bound
        // the same way, the kernel picks this socket's port id.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        let p = &sa as *const libc::sockaddr_nl as *const libc::sockaddr;
        // SAFETY: `p` points at a sockaddr_nl of `len` bytes that outlives both calls.
        if unsafe { libc::bind(fd.as_raw_fd(), p, len) } < 0
            || unsafe { libc::connect(fd.as_raw_fd(), p, len) } < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(Rtnl { fd, seq: 0 })
    }

    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        // struct ifinfomsg, all zero: every family.
        let mut out = Vec::new();
        self.request(RTM_GETLINK, NLM_F_DUMP, &[0; 16], |kind, body| {
            if kind == RTM_NEWLINK {
                out.push(link_of(body)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    pub fn routes4(&mut self) -> io::Result<Vec<Route4>> {
        // struct rtmsg: rtm_family AF_INET, the rest zero.
        let mut req = [0; 12];
        req[0] = AF_INET;
        let mut out = Vec::new();
        self.request(RTM_GETROUTE, NLM_F_DUMP, &req, |kind, body| {
            if kind == RTM_NEWROUTE {
                out.extend(route_of(body)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    pub fn addrs(&mut self) -> io::Result<Vec<Addr>> {
        // struct ifaddrmsg, all zero: every family.
        let mut out = Vec::new();
        self.request(RTM_GETADDR, NLM_F_DUMP, &[0; 8], |kind, body| {
            if kind == RTM_NEWADDR {
                out.extend(addr_of(body)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    pub fn add_addr4(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix: u8,
        broadcast: Ipv4Addr,
        label: Option<&str>,
    ) -> io::Result<()> {
        let mut m = ifaddrmsg(AF_INET, prefix, 0, RT_SCOPE_UNIVERSE, index);
        attr(&mut m, IFA_LOCAL, &ip.octets());
        attr(&mut m, IFA_ADDRESS, &ip.octets());
        attr(&mut m, IFA_BROADCAST, &broadcast.octets());
        if let Some(label) = label {
            let mut z = label.as_bytes().to_vec();
            z.push(0);
            attr(&mut m, IFA_LABEL, &z);
        }
        self.change(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &m)
    }

    /// Adds an IPv6 address without duplicate address detection, so that it is usable (and
    /// can be announced) at once: a takeover must not wait a second for DAD.
    pub fn add_addr6(&mut self, index: u32, ip: Ipv6Addr, prefix: u8) -> io::Result<()> {
        let mut m = ifaddrmsg(AF_INET6, prefix, IFA_F_NODAD, RT_SCOPE_UNIVERSE, index);
        attr(&mut m, IFA_ADDRESS, &ip.octets());
        attr(&mut m, IFA_FLAGS, &u32::from(IFA_F_NODAD).to_ne_bytes());
        self.change(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &m)
    }

    pub fn del_addr(&mut self, addr: &Addr) -> io::Result<()> {
        let m = match addr.ip {
            IpAddr::V4(ip) => {
                let mut m = ifaddrmsg(AF_INET, addr.prefix, 0, RT_SCOPE_UNIVERSE, addr.index);
                attr(&mut m, IFA_LOCAL, &ip.octets());
                m
            }
            IpAddr::V6(ip) => {
                let mut m = ifaddrmsg(AF_INET6, addr.prefix, 0, RT_SCOPE_UNIVERSE, addr.index);
                attr(&mut m, IFA_LOCAL, &ip.octets());
                attr(&mut m, IFA_ADDRESS, &ip.octets());
                m
            }
        };
        self.change(RTM_DELADDR, 0, &m)
    }

    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        // struct ifinfomsg: family, pad, type, index, flags, change.
        let mut m = vec![0; 16];
        m[4..8].copy_from_slice(&index.to_ne_bytes());
        m[8..12].copy_from_slice(&IFF_UP.to_ne_bytes());
        m[12..16].copy_from_slice(&IFF_UP.to_ne_bytes());
        self.change(RTM_SETLINK, 0, &m)
    }

    /// An acknowledged change: success, or the kernel's errno.
    fn change(&mut self, kind: u16, flags: u16, body: &[u8]) -> io::Result<()> {
        self.request(kind, NLM_F_ACK | flags, body, |_, _| Ok(()))
    }

    /// Sends one request and hands each answer of this sequence number (its type and the
    /// bytes after the netlink header) to `each`, until `NLMSG_DONE` for a dump or the
    /// acknowledgement of a change; a kernel error becomes its errno.
    fn request(
        &mut self,
        kind: u16,
        flags: u16,
        body: &[u8],
        mut each: impl FnMut(u16, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let len = NLMSG_HDRLEN + body.len();
        let mut req = Vec::with_capacity(len);
        req.extend_from_slice(&(len as u32).to_ne_bytes());
        req.extend_from_slice(&kind.to_ne_bytes());
        req.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        req.extend_from_slice(&seq.to_ne_bytes());
        req.extend_from_slice(&0u32.to_ne_bytes());
        req.extend_from_slice(body);
        // SAFETY: `req` is a live buffer of `req.len()` bytes.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }

        let mut buf = Vec::new();
        loop {
            self.recv(&mut buf)?;
            let mut rest = &buf[..];
            while rest.len() >= NLMSG_HDRLEN {
                let mlen = u32_at(rest, 0) as usize;
                if mlen < NLMSG_HDRLEN || mlen > rest.len() {
                    return Err(bad("a truncated message"));
                }
                let mtype = u16::from_ne_bytes([rest[4], rest[5]]);
                let mseq = u32_at(rest, 8);
                let payload = &rest[NLMSG_HDRLEN..mlen];
                rest = rest.get(align(mlen)..).unwrap_or(&[]);
                if mseq != seq {
                    continue;
                }
                match mtype {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        if payload.len() < 4 {
                            return Err(bad("a truncated error"));
                        }
                        return match i32::from_ne_bytes([
                            payload[0], payload[1], payload[2], payload[3],
                        ]) {
                            0 => Ok(()),
                            e => Err(io::Error::from_raw_os_error(e.saturating_neg())),
                        };
                    }
                    _ => each(mtype, payload)?,
                }
            }
        }
    }

    /// Reads one datagram whole, however long (a dump's part can exceed a page).
    fn recv(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        self.wait_readable()?;
        let fd = self.fd.as_raw_fd();
        // SAFETY: a zero-length peek; MSG_TRUNC makes it return the datagram's length.
        let n = unsafe {
            libc::recv(
                fd,
                std::ptr::null_mut(),
                0,
                libc::MSG_PEEK | libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.clear();
        buf.resize(n as usize, 0);
        // SAFETY: `buf` has `buf.len()` writable bytes.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(n as usize);
        Ok(())
    }

    /// The kernel answers at once; a bound keeps a worker from hanging if it ever does not.
    fn wait_readable(&self) -> io::Result<()> {
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
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

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the kernel's netlink answer has {what}"),
    )
}

/// NLMSG_ALIGN and RTA_ALIGN: 4 bytes.
fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// A native-endian u32 at `at`; the caller has checked the length.
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// struct ifaddrmsg: family, prefix length, flags, scope, index.
fn ifaddrmsg(family: u8, prefix: u8, flags: u8, scope: u8, index: u32) -> Vec<u8> {
    let mut m = vec![family, prefix, flags, scope];
    m.extend_from_slice(&index.to_ne_bytes());
    m
}

/// Appends one route attribute (struct rtattr and its value, padded).
fn attr(m: &mut Vec<u8>, kind: u16, value: &[u8]) {
    m.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(value);
    m.resize(align(m.len()), 0);
}

/// The attributes after a fixed header of `fixed` bytes: (type, value) for each; an attribute
/// that runs past the message is an error.
fn attrs(body: &[u8], fixed: usize) -> io::Result<Vec<(u16, &[u8])>> {
    let mut rest = body.get(fixed..).ok_or_else(|| bad("a short header"))?;
    let mut out = Vec::new();
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        // NLA_TYPE_MASK: the two high bits are the nested and byte-order flags.
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return Err(bad("a truncated attribute"));
        }
        out.push((kind, &rest[4..len]));
        rest = rest.get(align(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

/// A NUL-terminated string attribute.
fn text(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

fn ip_of(family: u8, v: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => <[u8; 4]>::try_from(v).ok().map(IpAddr::from),
        AF_INET6 => <[u8; 16]>::try_from(v).ok().map(IpAddr::from),
        _ => None,
    }
}

fn u32_attr(v: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(v).ok().map(u32::from_ne_bytes)
}

/// RTM_NEWLINK: struct ifinfomsg (16 bytes) and its attributes.
fn link_of(body: &[u8]) -> io::Result<Link> {
    let list = attrs(body, 16)?;
    let flags = u32_at(body, 8);
    let mut link = Link {
        index: u32_at(body, 4),
        name: String::new(),
        mac: None,
        up: flags & IFF_UP != 0,
        noarp: flags & IFF_NOARP != 0,
        loopback: flags & IFF_LOOPBACK != 0,
    };
    for (kind, v) in list {
        match kind {
            IFLA_IFNAME => link.name = text(v),
            IFLA_ADDRESS => link.mac = <[u8; 6]>::try_from(v).ok(),
            _ => {}
        }
    }
    Ok(link)
}

/// RTM_NEWROUTE: struct rtmsg (12 bytes) and its attributes; the IPv4 unicast routes of the
/// main table only.
fn route_of(body: &[u8]) -> io::Result<Option<Route4>> {
    let list = attrs(body, 12)?;
    let (family, prefix, table, scope, kind) = (body[0], body[1], body[4], body[6], body[7]);
    if family != AF_INET || kind != RTN_UNICAST {
        return Ok(None);
    }
    let mut table = u32::from(table);
    let mut route = Route4 {
        dest: Ipv4Addr::UNSPECIFIED,
        prefix,
        oif: None,
        metric: 0,
        link_scope: scope == RT_SCOPE_LINK,
    };
    for (kind, v) in list {
        match kind {
            RTA_DST => {
                if let Ok(o) = <[u8; 4]>::try_from(v) {
                    route.dest = Ipv4Addr::from(o);
                }
            }
            RTA_OIF => route.oif = u32_attr(v).or(route.oif),
            RTA_PRIORITY => route.metric = u32_attr(v).unwrap_or(route.metric),
            RTA_TABLE => table = u32_attr(v).unwrap_or(table),
            _ => {}
        }
    }
    Ok((table == RT_TABLE_MAIN).then_some(route))
}

/// RTM_NEWADDR: struct ifaddrmsg (8 bytes) and its attributes.
fn addr_of(body: &[u8]) -> io::Result<Option<Addr>> {
    let list = attrs(body, 8)?;
    let (family, prefix, scope) = (body[0], body[1], body[3]);
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut broadcast = None;
    for (kind, v) in list {
        match kind {
            IFA_LOCAL => local = ip_of(family, v),
            IFA_ADDRESS => address = ip_of(family, v),
            IFA_LABEL => label = Some(text(v)),
            IFA_BROADCAST => {
                if let Ok(o) = <[u8; 4]>::try_from(v) {
                    broadcast = Some(Ipv4Addr::from(o));
                }
            }
            _ => {}
        }
    }
    // IPv4 gives IFA_LOCAL (IFA_ADDRESS is the peer on point-to-point links); IPv6 only
    // IFA_ADDRESS.
    let Some(ip) = local.or(address) else {
        return Ok(None);
    };
    Ok(Some(Addr {
        global: scope == RT_SCOPE_UNIVERSE,
        index: u32_at(body, 4),
        ip,
        prefix,
        label,
        broadcast,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newaddr4(label: &[u8]) -> Vec<u8> {
        let mut m = ifaddrmsg(AF_INET, 24, 0, RT_SCOPE_UNIVERSE, 7);
        attr(&mut m, IFA_ADDRESS, &[198, 51, 100, 9]);
        attr(&mut m, IFA_LOCAL, &[198, 51, 100, 10]);
        attr(&mut m, IFA_BROADCAST, &[198, 51, 100, 255]);
        attr(&mut m, IFA_LABEL, label);
        m
    }

    #[test]
    fn an_address_answer_gives_local_label_and_broadcast() {
        let a = addr_of(&newaddr4(b"eth0:1\0")).unwrap().unwrap();
        assert_eq!(
            a,
            Addr {
                index: 7,
                ip: "198.51.100.10".parse().unwrap(),
                prefix: 24,
                label: Some("eth0:1".into()),
                broadcast: Some("198.51.100.255".parse().unwrap()),
                global: true,
            }
        );
    }

    #[test]
    fn a_route_answer_outside_the_main_table_is_left_out() {
        let mut m = vec![
            AF_INET,
            24,
            0,
            0,
            254,
            2,
            RT_SCOPE_LINK,
            RTN_UNICAST,
            0,
            0,
            0,
            0,
        ];
        attr(&mut m, RTA_DST, &[203, 0, 113, 0]);
        attr(&mut m, RTA_OIF, &3u32.to_ne_bytes());
        attr(&mut m, RTA_PRIORITY, &100u32.to_ne_bytes());
        let r = route_of(&m).unwrap().unwrap();
        assert_eq!(
            (r.dest, r.prefix, r.oif, r.metric, r.link_scope),
            ("203.0.113.0".parse().unwrap(), 24, Some(3), 100, true)
        );
        attr(&mut m, RTA_TABLE, &255u32.to_ne_bytes());
        assert_eq!(route_of(&m).unwrap(), None);
    }

    #[test]
    fn truncated_answers_are_errors_not_panics() {
        let whole = newaddr4(b"eth0\0");
        for cut in 0..whole.len() {
            // Every prefix either parses (it ends on an attribute boundary) or is refused.
            let _ = addr_of(&whole[..cut]);
            let _ = link_of(&whole[..cut]);
            let _ = route_of(&whole[..cut]);
        }
        assert!(addr_of(&whole[..14]).is_err());
        let mut long = whole.clone();
        long[8] = 200; // the first attribute's length, past the end
        assert!(addr_of(&long).is_err());
    }
}
