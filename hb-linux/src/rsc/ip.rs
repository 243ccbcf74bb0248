//! Native `IPaddr` and `IPaddr2` (spec §5): the address added and removed by netlink, the
//! interface, netmask and broadcast chosen from the routing table as findif does, and a
//! gratuitous ARP burst from a packet socket. No shell, no fork.
//!
//! What differs from the shell agents, on purpose:
//! - `status` tells the truth: the address is held when it is configured on the named
//!   interface (or, with no interface named, on any interface), with or without a label.
//!   OCF IPaddr only looked at `IF:N` aliases and missed an address added by `ip addr`.
//! - The alias number `N` of `IF:N` is the lowest one no address on this host uses as its
//!   label; there are no lock files to go stale.
//! - IPaddr2's broadcast, when not given, is the highest address of the subnet (what
//!   `brd +` gives), not read back from the route's source address.

use std::net::{IpAddr, Ipv4Addr};

use hb_core::config::haresources::{IpAgent, IpSpec};

use super::arp::{self, ArpBurst, ArpSender};
use super::netlink::{Addr, Link, Route4, Rtnl};
use crate::errno_text;
use crate::log::LogLine;

/// Linux's longest interface name or label (`IFNAMSIZ` − 1).
const LABEL_MAX: usize = 15;
/// IPaddr's alias numbers go up to 511 (spec §5.3).
const MAX_ALIAS: u32 = 512;

/// Where the address goes: findif's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub iface: String,
    pub prefix: u8,
    pub broadcast: Ipv4Addr,
}

/// The route findif would use for `ip` (spec §5.2, §5.5), or why there is none.
///
/// - `IPaddr` (C findif as in heartbeat 1.2/2.x and resource-agents ≤ 3.9.2): every main-table
///   route containing `ip`, the default route included; the strictly lowest metric wins, the
///   first one on a tie.
/// - `IPaddr2` (findif.sh): only directly connected (`scope link`) routes containing
///   `ip/bits`; the longest prefix wins, the last one on a tie.
pub fn choose_route(
    routes: &[Route4],
    ip: Ipv4Addr,
    bits: Option<u8>,
    agent: IpAgent,
) -> Option<Route4> {
    let contains = |r: &Route4| {
        let mask = mask_of(r.prefix);
        u32::from(ip) & mask == u32::from(r.dest) & mask
    };
    match agent {
        IpAgent::IPaddr => {
            routes
                .iter()
                .filter(|r| contains(r))
                .fold(None, |best: Option<Route4>, r| match best {
                    Some(b) if b.metric <= r.metric => Some(b),
                    _ => Some(*r),
                })
        }
        IpAgent::IPaddr2 => routes
            .iter()
            .filter(|r| r.link_scope && contains(r) && bits.is_none_or(|b| r.prefix <= b))
            .fold(None, |best: Option<Route4>, r| match best {
                Some(b) if b.prefix > r.prefix => Some(b),
                _ => Some(*r),
            }),
    }
}

/// The netmask of a prefix length, as a host-order `u32`.
pub fn mask_of(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

/// findif: the interface, prefix and broadcast for `spec`, with the lines IPaddr logs about
/// what it calculated.
pub fn findif(
    spec: &IpSpec,
    agent: IpAgent,
    links: &[Link],
    routes: &[Route4],
    log: &mut dyn FnMut(LogLine),
) -> Result<Placement, String> {
    let ip = Ipv4Addr::from(spec.addr);
    let (iface, prefix) = match spec.interface() {
        Some(name) => {
            if !links.iter().any(|l| l.name == name) {
                return Err(format!("{name}: unknown interface"));
            }
            // With an interface given findif does no route lookup.
            (name.to_string(), spec.bits.unwrap_or(32))
        }
        None => {
            let route = choose_route(routes, ip, spec.bits, agent).ok_or_else(|| match agent {
                IpAgent::IPaddr => format!("No route to {ip}"),
                IpAgent::IPaddr2 => format!("Unable to find nic or netmask for {ip}"),
            })?;
            if route.prefix == 0 && spec.bits.is_none() {
                return Err(format!("Cannot use default route w/o netmask [{ip}]"));
            }
            let link = route
                .oif
                .and_then(|i| links.iter().find(|l| l.index == i))
                .ok_or_else(|| format!("No route to {ip} (its route has no interface)"))?;
            let prefix = spec.bits.unwrap_or(route.prefix);
            log(LogLine::info(format!(
                "{}: Using calculated nic for {ip}: {}",
                agent.script(),
                link.name
            )));
            log(LogLine::info(format!(
                "{}: Using calculated netmask for {ip}: {}",
                agent.script(),
                Ipv4Addr::from(mask_of(prefix))
            )));
            (link.name.clone(), prefix)
        }
    };
    let broadcast = spec
        .broadcast
        .map(Ipv4Addr::from)
        .unwrap_or_else(|| Ipv4Addr::from(u32::from(ip) | !mask_of(prefix)));
    Ok(Placement {
        iface,
        prefix,
        broadcast,
    })
}

/// IPaddr's `IF:N` with the lowest `N` that no address uses as its label.
pub fn free_alias(iface: &str, addrs: &[Addr]) -> Option<String> {
    (0..MAX_ALIAS)
        .map(|n| format!("{iface}:{n}"))
        .find(|l| !addrs.iter().any(|a| a.label.as_deref() == Some(l)))
}

/// The addresses that are `ip`, restricted to the spec's interface when it names one.
fn held<'a>(spec: &IpSpec, links: &[Link], addrs: &'a [Addr]) -> Vec<&'a Addr> {
    let ip = IpAddr::V4(Ipv4Addr::from(spec.addr));
    let index = spec
        .interface()
        .map(|name| links.iter().find(|l| l.name == name).map(|l| l.index));
    addrs
        .iter()
        .filter(|a| a.ip == ip)
        .filter(|a| match index {
            None => true,
            Some(Some(i)) => a.index == i,
            Some(None) => false,
        })
        .collect()
}

fn rtnl_err(what: &str, e: &std::io::Error) -> String {
    format!("cannot {what} by netlink: {}", errno_text(e))
}

/// `status`: the text the IPaddr wrapper prints, judged like any script's output.
pub fn status(spec: &IpSpec) -> Result<&'static str, String> {
    let mut nl = Rtnl::open().map_err(|e| rtnl_err("open a socket", &e))?;
    let links = nl.links().map_err(|e| rtnl_err("list interfaces", &e))?;
    let addrs = nl.addrs().map_err(|e| rtnl_err("list addresses", &e))?;
    Ok(if held(spec, &links, &addrs).is_empty() {
        "INFO:  Resource is stopped"
    } else {
        "INFO:  Running OK"
    })
}

/// `start`: add the address (if it is not already there) and begin the ARP burst.
pub fn start(
    spec: &IpSpec,
    agent: IpAgent,
    burst: ArpBurst,
    log: &mut dyn FnMut(LogLine),
) -> Result<Option<arp::Running>, String> {
    let ip = Ipv4Addr::from(spec.addr);
    let mut nl = Rtnl::open().map_err(|e| rtnl_err("open a socket", &e))?;
    let links = nl.links().map_err(|e| rtnl_err("list interfaces", &e))?;
    let addrs = nl.addrs().map_err(|e| rtnl_err("list addresses", &e))?;
    if !held(spec, &links, &addrs).is_empty() {
        log(LogLine::info(format!(
            "{}: {ip} is already configured; nothing to do",
            agent.script()
        )));
        return Ok(None);
    }
    let routes = nl.routes4().map_err(|e| rtnl_err("list routes", &e))?;
    let place = findif(spec, agent, &links, &routes, log)?;
    let link = links
        .iter()
        .find(|l| l.name == place.iface)
        .ok_or_else(|| format!("{}: unknown interface", place.iface))?;
    let label = match (agent, spec.label()) {
        (IpAgent::IPaddr2, None) => None,
        (IpAgent::IPaddr2, Some(l)) => Some(format!("{}:{l}", place.iface)),
        (IpAgent::IPaddr, _) => Some(
            free_alias(&place.iface, &addrs)
                .ok_or_else(|| format!("no free alias of {} below :{MAX_ALIAS}", place.iface))?,
        ),
    };
    if let Some(l) = &label {
        if l.len() > LABEL_MAX {
            return Err(format!(
                "Interface label [{l}] exceeds maximum character limit of {LABEL_MAX}"
            ));
        }
    }
    if !link.up {
        nl.set_up(link.index)
            .map_err(|e| format!("cannot bring {} up: {}", link.name, errno_text(&e)))?;
    }
    nl.add_addr4(
        link.index,
        ip,
        place.prefix,
        place.broadcast,
        label.as_deref(),
    )
    .map_err(|e| format!("Could not add {ip} to {}: {}", link.name, errno_text(&e)))?;
    log(LogLine::info(format!(
        "{}: added {ip}/{} brd {} on {}{}",
        agent.script(),
        place.prefix,
        place.broadcast,
        link.name,
        label
            .as_deref()
            .map(|l| format!(" as {l}"))
            .unwrap_or_default()
    )));
    let mac = match link.mac {
        Some(mac) if !link.noarp && !link.loopback => mac,
        _ => {
            log(LogLine::warn(format!(
                "{}: no gratuitous ARP: interface \"{}\" is not ARPable",
                agent.script(),
                link.name
            )));
            return Ok(None);
        }
    };
    let sent = ArpSender::open(link.index, mac, ip).and_then(|s| arp::start_burst(s, burst));
    match sent {
        Ok(running) => Ok(running),
        Err(e) => {
            // The address is up; the peers learn it on their next ARP query. send_arp's
            // failure did not fail IPaddr's start either.
            log(LogLine::warn(format!(
                "{}: cannot send gratuitous ARP for {ip} on {}: {}",
                agent.script(),
                link.name,
                errno_text(&e)
            )));
            Ok(None)
        }
    }
}

/// Announces an address this host holds again (the start's ARP burst, nothing added): after
/// a healed split, clients may still send to the node that released it. Not held here:
/// nothing to announce (`Ok(None)`, logged).
pub fn announce(
    spec: &IpSpec,
    agent: IpAgent,
    burst: ArpBurst,
    log: &mut dyn FnMut(LogLine),
) -> Result<Option<arp::Running>, String> {
    let ip = Ipv4Addr::from(spec.addr);
    let mut nl = Rtnl::open().map_err(|e| rtnl_err("open a socket", &e))?;
    let links = nl.links().map_err(|e| rtnl_err("list interfaces", &e))?;
    let addrs = nl.addrs().map_err(|e| rtnl_err("list addresses", &e))?;
    let Some(link) = held(spec, &links, &addrs)
        .first()
        .and_then(|a| links.iter().find(|l| l.index == a.index))
    else {
        log(LogLine::warn(format!(
            "{}: {ip} is not configured here; nothing to announce",
            agent.script()
        )));
        return Ok(None);
    };
    let Some(mac) = link.mac.filter(|_| !link.noarp && !link.loopback) else {
        return Ok(None);
    };
    log(LogLine::info(format!(
        "{}: announcing {ip} on {} again (gratuitous ARP)",
        agent.script(),
        link.name
    )));
    ArpSender::open(link.index, mac, ip)
        .and_then(|s| arp::start_burst(s, burst))
        .map_err(|e| {
            format!(
                "cannot send gratuitous ARP for {ip} on {}: {}",
                link.name,
                errno_text(&e)
            )
        })
}

/// `stop`: remove the address wherever it is held; not held is success.
pub fn stop(spec: &IpSpec, agent: IpAgent, log: &mut dyn FnMut(LogLine)) -> Result<(), String> {
    let ip = Ipv4Addr::from(spec.addr);
    let mut nl = Rtnl::open().map_err(|e| rtnl_err("open a socket", &e))?;
    let links = nl.links().map_err(|e| rtnl_err("list interfaces", &e))?;
    let addrs = nl.addrs().map_err(|e| rtnl_err("list addresses", &e))?;
    for a in held(spec, &links, &addrs) {
        nl.del_addr(a)
            .map_err(|e| format!("IP Address {ip} NOT released: {}", errno_text(&e)))?;
        let name = links
            .iter()
            .find(|l| l.index == a.index)
            .map_or("?", |l| l.name.as_str());
        log(LogLine::info(format!(
            "{}: removed {ip}/{} from {name}",
            agent.script(),
            a.prefix
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hb_core::config::haresources::parse_ip_spec;

    fn route(dest: [u8; 4], prefix: u8, oif: u32, metric: u32, link_scope: bool) -> Route4 {
        Route4 {
            dest: Ipv4Addr::from(dest),
            prefix,
            oif: Some(oif),
            metric,
            link_scope,
        }
    }

    fn link(index: u32, name: &str) -> Link {
        Link {
            index,
            name: name.into(),
            mac: Some([2, 0, 0, 0, 0, index as u8]),
            up: true,
            noarp: false,
            loopback: false,
        }
    }

    const IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 80);

    #[test]
    fn ipaddr_takes_lowest_metric_first_on_tie() {
        let routes = [
            route([198, 51, 100, 0], 24, 1, 100, true),
            route([198, 51, 100, 0], 25, 2, 10, true),
            route([198, 51, 100, 0], 24, 3, 10, true),
            route([203, 0, 113, 0], 24, 4, 0, true),
        ];
        let r = choose_route(&routes, IP, None, IpAgent::IPaddr).unwrap();
        assert_eq!(r.oif, Some(2));
    }

    #[test]
    fn ipaddr_may_pick_the_default_route_and_then_needs_a_netmask() {
        let routes = [
            route([0, 0, 0, 0], 0, 1, 0, false),
            route([198, 51, 100, 0], 24, 2, 0, true),
        ];
        let links = [link(1, "eth0"), link(2, "eth1")];
        let spec = parse_ip_spec("198.51.100.80", IpAgent::IPaddr).unwrap();
        let err = findif(&spec, IpAgent::IPaddr, &links, &routes, &mut |_| {}).unwrap_err();
        assert_eq!(err, "Cannot use default route w/o netmask [198.51.100.80]");
        let spec = parse_ip_spec("198.51.100.80/24", IpAgent::IPaddr).unwrap();
        let p = findif(&spec, IpAgent::IPaddr, &links, &routes, &mut |_| {}).unwrap();
        assert_eq!(p.iface, "eth0");
    }

    #[test]
    fn ipaddr2_takes_longest_connected_prefix_last_on_tie() {
        let routes = [
            route([0, 0, 0, 0], 0, 1, 0, false),
            route([198, 51, 100, 0], 24, 2, 0, true),
            route([198, 51, 100, 0], 24, 3, 5, true),
            route([198, 51, 100, 0], 23, 4, 0, true),
        ];
        let r = choose_route(&routes, IP, None, IpAgent::IPaddr2).unwrap();
        assert_eq!(r.oif, Some(3));
        // ip/bits must lie inside the route.
        assert_eq!(
            choose_route(&routes, IP, Some(23), IpAgent::IPaddr2).map(|r| r.oif),
            Some(Some(4))
        );
        assert!(choose_route(&routes[..1], IP, None, IpAgent::IPaddr2).is_none());
    }

    #[test]
    fn findif_fills_netmask_and_broadcast() {
        let routes = [route([198, 51, 100, 0], 24, 2, 0, true)];
        let links = [link(1, "lo"), link(2, "veth0")];
        let mut lines = Vec::new();
        let spec = parse_ip_spec("198.51.100.80", IpAgent::IPaddr).unwrap();
        let p = findif(&spec, IpAgent::IPaddr, &links, &routes, &mut |l| {
            lines.push(l.text)
        })
        .unwrap();
        assert_eq!(
            p,
            Placement {
                iface: "veth0".into(),
                prefix: 24,
                broadcast: Ipv4Addr::new(198, 51, 100, 255)
            }
        );
        assert_eq!(
            lines,
            [
                "IPaddr: Using calculated nic for 198.51.100.80: veth0",
                "IPaddr: Using calculated netmask for 198.51.100.80: 255.255.255.0"
            ]
        );
        let spec = parse_ip_spec("198.51.100.80/26/veth0/198.51.100.90", IpAgent::IPaddr).unwrap();
        let p = findif(&spec, IpAgent::IPaddr, &links, &[], &mut |_| {}).unwrap();
        assert_eq!(
            (p.prefix, p.broadcast),
            (26, Ipv4Addr::new(198, 51, 100, 90))
        );
        let spec = parse_ip_spec("198.51.100.80/26/veth0", IpAgent::IPaddr).unwrap();
        let p = findif(&spec, IpAgent::IPaddr, &links, &[], &mut |_| {}).unwrap();
        assert_eq!(p.broadcast, Ipv4Addr::new(198, 51, 100, 127));
        let spec = parse_ip_spec("198.51.100.80/24/nosuch0", IpAgent::IPaddr).unwrap();
        assert_eq!(
            findif(&spec, IpAgent::IPaddr, &links, &routes, &mut |_| {}).unwrap_err(),
            "nosuch0: unknown interface"
        );
        let spec = parse_ip_spec("203.0.113.9", IpAgent::IPaddr).unwrap();
        assert_eq!(
            findif(&spec, IpAgent::IPaddr, &links, &routes, &mut |_| {}).unwrap_err(),
            "No route to 203.0.113.9"
        );
    }

    #[test]
    fn alias_numbers_skip_used_labels() {
        let a = |label: &str| Addr {
            index: 2,
            ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
            prefix: 24,
            label: Some(label.into()),
            broadcast: None,
            global: true,
        };
        assert_eq!(free_alias("eth0", &[]).unwrap(), "eth0:0");
        let addrs = [a("eth0"), a("eth0:0"), a("eth0:2")];
        assert_eq!(free_alias("eth0", &addrs).unwrap(), "eth0:1");
    }

    #[test]
    fn masks() {
        assert_eq!(mask_of(0), 0);
        assert_eq!(mask_of(24), 0xffff_ff00);
        assert_eq!(mask_of(32), u32::MAX);
    }
}
