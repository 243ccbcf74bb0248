//! Native `IPv6addr` (resource-agents' `IPv6addr.c`): an IPv6 service address added by
//! netlink and announced with unsolicited neighbour advertisements.
//!
//! - Argument: `address[/prefix[/interface]]`. haresources splits resource arguments on `::`,
//!   which also occurs in compressed IPv6 addresses, so the arguments are joined back with
//!   `::` before parsing: `IPv6addr::2001:db8::80/64` means `2001:db8::80/64`.
//! - Interface (IPv6addr.c `find_if`): the first global address whose prefix contains the
//!   service address (with the given prefix length, if any); its prefix length is used when
//!   none is given. A named interface skips the search (the later `nic` parameter).
//! - The address is added without DAD (IPv6addr.c instead waited up to 5 s for the address to
//!   answer a ping), then `UA_REPEAT_COUNT` = 5 unsolicited advertisements, 1 s apart, go to
//!   ff02::1 from the service address, hop limit 255, Override flag set, with the target
//!   link-layer address option.
//! - `status`: the address is configured (on the named interface, with the given prefix).

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::arp::{self, ArpBurst};
use super::netlink::{Addr, Link, Rtnl};
use crate::errno_text;
use crate::log::LogLine;

/// IPv6addr.c: `UA_REPEAT_COUNT` advertisements with `sleep(1)` between them.
pub const IPV6ADDR_NA: ArpBurst = ArpBurst {
    repeat: 5,
    interval: Duration::from_secs(1),
};
const ND_NEIGHBOR_ADVERT: u8 = 136;
/// The Override flag: replace what neighbours have cached.
const NA_FLAG_OVERRIDE: u8 = 0x20;
const ND_OPT_TARGET_LINKADDR: u8 = 2;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// An `IPv6addr` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ip6Spec {
    pub addr: Ipv6Addr,
    pub prefix: Option<u8>,
    pub iface: Option<String>,
}

/// Reads `address[/prefix[/interface]]` from the resource's arguments (joined with `::`).
pub fn parse_ip6_spec(args: &[&str]) -> Result<Ip6Spec, String> {
    let arg = args.join("::");
    let mut fields = arg.split('/');
    let addr_text = fields.next().unwrap_or("");
    let addr: Ipv6Addr = addr_text
        .parse()
        .map_err(|_| format!("Invalid IPv6 address [{addr_text}]"))?;
    let prefix = match fields.next() {
        None => None,
        Some(p) => match p.parse::<u8>() {
            // IPv6addr.c reads 0 as "not given".
            Ok(0) => None,
            Ok(n) if n <= 128 => Some(n),
            _ => {
                return Err(format!(
                    "Invalid prefix_len [{p}], should be an integer in [0, 128]"
                ))
            }
        },
    };
    let iface = match fields.next() {
        None => None,
        Some("") => return Err("empty interface name".into()),
        Some(i) if i.len() > 15 => return Err(format!("interface name [{i}] too long")),
        Some(i) => Some(i.to_string()),
    };
    if fields.next().is_some() {
        return Err("too many fields (use address[/prefix[/interface]])".into());
    }
    Ok(Ip6Spec {
        addr,
        prefix,
        iface,
    })
}

fn in_prefix(a: Ipv6Addr, b: Ipv6Addr, prefix: u8) -> bool {
    let mask = match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p.min(128))),
    };
    u128::from(a) & mask == u128::from(b) & mask
}

/// IPv6addr.c `find_if`: the interface and prefix length for the new address.
pub fn find_if(spec: &Ip6Spec, links: &[Link], addrs: &[Addr]) -> Result<(u32, u8), String> {
    if let Some(name) = &spec.iface {
        let link = links
            .iter()
            .find(|l| &l.name == name)
            .ok_or_else(|| format!("{name}: unknown interface"))?;
        return Ok((link.index, spec.prefix.unwrap_or(64)));
    }
    addrs
        .iter()
        .filter(|a| a.global)
        .filter_map(|a| match a.ip {
            IpAddr::V6(ip) => Some((a, ip)),
            IpAddr::V4(_) => None,
        })
        .find(|(a, ip)| {
            spec.prefix.is_none_or(|p| p == a.prefix) && in_prefix(*ip, spec.addr, a.prefix)
        })
        .map(|(a, _)| (a.index, a.prefix))
        .ok_or_else(|| {
            format!(
                "no interface has a global address in the prefix of {}",
                spec.addr
            )
        })
}

fn held<'a>(spec: &Ip6Spec, links: &[Link], addrs: &'a [Addr]) -> Vec<&'a Addr> {
    let index = spec
        .iface
        .as_ref()
        .map(|name| links.iter().find(|l| &l.name == name).map(|l| l.index));
    addrs
        .iter()
        .filter(|a| a.ip == IpAddr::V6(spec.addr))
        .filter(|a| spec.prefix.is_none_or(|p| p == a.prefix))
        .filter(|a| match index {
            None => true,
            Some(Some(i)) => a.index == i,
            Some(None) => false,
        })
        .collect()
}

fn rtnl_err(what: &str, e: &io::Error) -> String {
    format!("cannot {what} by netlink: {}", errno_text(e))
}

fn snapshot() -> Result<(Rtnl, Vec<Link>, Vec<Addr>), String> {
    let mut nl = Rtnl::open().map_err(|e| rtnl_err("open a socket", &e))?;
    let links = nl.links().map_err(|e| rtnl_err("list interfaces", &e))?;
    let addrs = nl.addrs().map_err(|e| rtnl_err("list addresses", &e))?;
    Ok((nl, links, addrs))
}

/// `status`, as text judged like a script's.
pub fn status(spec: &Ip6Spec) -> Result<&'static str, String> {
    let (_, links, addrs) = snapshot()?;
    Ok(if held(spec, &links, &addrs).is_empty() {
        "INFO:  Resource is stopped"
    } else {
        "INFO:  Running OK"
    })
}

/// The unsolicited neighbour advertisement for `target` at `mac` (ICMPv6 part; the kernel
/// fills in the checksum of a raw ICMPv6 socket).
pub fn advertisement(target: Ipv6Addr, mac: [u8; 6]) -> [u8; 32] {
    let mut m = [0u8; 32];
    m[0] = ND_NEIGHBOR_ADVERT;
    m[4] = NA_FLAG_OVERRIDE;
    m[8..24].copy_from_slice(&target.octets());
    m[24] = ND_OPT_TARGET_LINKADDR;
    m[25] = 1;
    m[26..32].copy_from_slice(&mac);
    m
}

fn na_socket(ip: Ipv6Addr, ifindex: u32) -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    // Neighbour discovery messages must arrive with hop limit 255 (RFC 4861 §7.1.2).
    s.set_multicast_hops_v6(255)?;
    s.set_unicast_hops_v6(255)?;
    s.set_multicast_if_v6(ifindex)?;
    s.bind(&SocketAddr::V6(SocketAddrV6::new(ip, 0, 0, 0)).into())?;
    Ok(s)
}

/// `start`: add the address (unless held) and begin the advertisements.
pub fn start(
    spec: &Ip6Spec,
    burst: ArpBurst,
    log: &mut dyn FnMut(LogLine),
) -> Result<Option<arp::Running>, String> {
    let (mut nl, links, addrs) = snapshot()?;
    let ip = spec.addr;
    if !held(spec, &links, &addrs).is_empty() {
        log(LogLine::info(format!(
            "IPv6addr: {ip} is already configured; nothing to do"
        )));
        return Ok(None);
    }
    let (index, prefix) = find_if(spec, &links, &addrs)?;
    let link = links
        .iter()
        .find(|l| l.index == index)
        .ok_or_else(|| format!("interface {index} vanished"))?;
    if !link.up {
        nl.set_up(index)
            .map_err(|e| format!("cannot bring {} up: {}", link.name, errno_text(&e)))?;
    }
    nl.add_addr6(index, ip, prefix)
        .map_err(|e| format!("failed to assign {ip} to {}: {}", link.name, errno_text(&e)))?;
    log(LogLine::info(format!(
        "IPv6addr: added {ip}/{prefix} on {}",
        link.name
    )));
    let Some(mac) = link.mac.filter(|_| !link.noarp && !link.loopback) else {
        return Ok(None);
    };
    match advertise(ip, index, mac, burst) {
        Ok(r) => Ok(r),
        Err(e) => {
            log(LogLine::warn(format!(
                "IPv6addr: cannot send unsolicited neighbour advertisements for {ip} on {}: {}",
                link.name,
                errno_text(&e)
            )));
            Ok(None)
        }
    }
}

/// The first unsolicited advertisement now, the rest of the burst in the background.
fn advertise(
    ip: Ipv6Addr,
    index: u32,
    mac: [u8; 6],
    burst: ArpBurst,
) -> io::Result<Option<arp::Running>> {
    if burst.repeat == 0 {
        return Ok(None);
    }
    let sock = na_socket(ip, index)?;
    let msg = advertisement(ip, mac);
    let to: socket2::SockAddr = SocketAddr::V6(SocketAddrV6::new(ALL_NODES, 0, 0, index)).into();
    sock.send_to(&msg, &to)?;
    arp::repeat_in_background(burst.repeat, burst.interval, move |_| {
        let _ = sock.send_to(&msg, &to);
    })
}

/// Announces an address this host holds again (the start's advertisements, nothing added);
/// see [`super::ip::announce`].
pub fn announce(
    spec: &Ip6Spec,
    burst: ArpBurst,
    log: &mut dyn FnMut(LogLine),
) -> Result<Option<arp::Running>, String> {
    let (_, links, addrs) = snapshot()?;
    let ip = spec.addr;
    let Some(link) = held(spec, &links, &addrs)
        .first()
        .and_then(|a| links.iter().find(|l| l.index == a.index))
    else {
        log(LogLine::warn(format!(
            "IPv6addr: {ip} is not configured here; nothing to announce"
        )));
        return Ok(None);
    };
    let Some(mac) = link.mac.filter(|_| !link.noarp && !link.loopback) else {
        return Ok(None);
    };
    log(LogLine::info(format!(
        "IPv6addr: announcing {ip} on {} again (unsolicited neighbour advertisements)",
        link.name
    )));
    advertise(ip, link.index, mac, burst).map_err(|e| {
        format!(
            "cannot send unsolicited neighbour advertisements for {ip} on {}: {}",
            link.name,
            errno_text(&e)
        )
    })
}

/// `stop`: remove the address wherever it is held; not held is success.
pub fn stop(spec: &Ip6Spec, log: &mut dyn FnMut(LogLine)) -> Result<(), String> {
    let (mut nl, links, addrs) = snapshot()?;
    for a in held(spec, &links, &addrs) {
        nl.del_addr(a).map_err(|e| {
            format!(
                "failed to remove {} from interface {}: {}",
                spec.addr,
                a.index,
                errno_text(&e)
            )
        })?;
        let name = links
            .iter()
            .find(|l| l.index == a.index)
            .map_or("?", |l| l.name.as_str());
        log(LogLine::info(format!(
            "IPv6addr: removed {}/{} from {name}",
            spec.addr, a.prefix
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x80);

    #[test]
    fn arguments_split_by_haresources_are_joined_back() {
        let s = parse_ip6_spec(&["2001:db8", "80/64"]).unwrap();
        assert_eq!((s.addr, s.prefix, s.iface), (VIP, Some(64), None));
        let s = parse_ip6_spec(&["2001:db8:0:0:0:0:0:80/64/eth0"]).unwrap();
        assert_eq!(
            (s.addr, s.prefix, s.iface.as_deref()),
            (VIP, Some(64), Some("eth0"))
        );
        let s = parse_ip6_spec(&["2001:db8", "80"]).unwrap();
        assert_eq!(s.prefix, None);
        assert_eq!(
            parse_ip6_spec(&["2001:db8", "80/129"]).unwrap_err(),
            "Invalid prefix_len [129], should be an integer in [0, 128]"
        );
        assert_eq!(
            parse_ip6_spec(&["198.51.100.1"]).unwrap_err(),
            "Invalid IPv6 address [198.51.100.1]"
        );
        assert!(parse_ip6_spec(&["2001:db8", "80/64/eth0/x"]).is_err());
    }

    #[test]
    fn find_if_takes_the_first_global_address_in_the_prefix() {
        let a = |index: u32, ip: &str, prefix: u8, global: bool| Addr {
            index,
            ip: IpAddr::V6(ip.parse().unwrap()),
            prefix,
            label: None,
            broadcast: None,
            global,
        };
        let addrs = [
            a(1, "fe80::1", 64, false),
            a(2, "2001:db8:1::1", 64, true),
            a(3, "2001:db8::1", 64, true),
            a(4, "2001:db8::2", 64, true),
        ];
        let spec = parse_ip6_spec(&["2001:db8", "80"]).unwrap();
        assert_eq!(find_if(&spec, &[], &addrs), Ok((3, 64)));
        let spec = parse_ip6_spec(&["2001:db8", "80/48"]).unwrap();
        assert!(find_if(&spec, &[], &addrs).is_err());
    }

    #[test]
    fn advertisement_layout() {
        let m = advertisement(VIP, [2, 0, 0, 0, 0, 1]);
        assert_eq!(m[0], 136);
        assert_eq!(&m[4..8], &[0x20, 0, 0, 0]);
        assert_eq!(&m[8..24], &VIP.octets());
        assert_eq!(&m[24..32], &[2, 1, 2, 0, 0, 0, 0, 1]);
    }
}
