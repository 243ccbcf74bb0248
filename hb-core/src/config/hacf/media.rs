//! Media lines: `bcast`, `serial`, `ping`, `mcast`, `mcast6`, `ucast`, `ping_group`, `relay` and
//! the ones hb keeps as text.

use core::net::Ipv6Addr;
use core::str::FromStr;

use super::types::{
    Args, Host, Iface, Path, ARGS_LEN, BAUD_RATES, DEFAULT_RELAY_BAUD, MAX_MEDIA,
    MAX_PING_GROUP_HOSTS,
};
use super::values::{args, host, iface, path, ping_host, port, small_int, warn_extra_words};
use super::Builder;
use crate::config::{
    lowercase, parse_decimal, parse_ipv4, Located, NodeName, Pos, Reporter, Shown, Word, Words,
    NODE_NAME_LEN,
};

/// A heartbeat medium. The link name (`Link node1:eth0 up`) is [`Medium::link_name`].
#[derive(Clone, Debug, PartialEq, Eq)]
// No allocator, so the big variants cannot be boxed; the media table is fixed-size anyway.
#[allow(clippy::large_enum_variant)]
pub enum Medium {
    /// `bcast <iface>`: UDP broadcast on the interface's broadcast address.
    Bcast { iface: Iface, port: u16 },
    /// `mcast <iface> <group> <port> <ttl> <loop>`.
    Mcast {
        iface: Iface,
        group: [u8; 4],
        port: u16,
        ttl: u8,
        loopback: bool,
    },
    /// `ucast <iface> <peer>`; `peer` as written (address or name, resolved by the daemon).
    Ucast { iface: Iface, peer: Host, port: u16 },
    /// `serial <device>` at the baud rate latched when the first serial line was read.
    Serial { device: Path, baud: u32 },
    /// `ping <host>`: a ping node named after the host, lowercased.
    Ping { host: Host },
    /// `ping_group <name> <host>...`: one ping node alive while any host answers.
    PingGroup { name: NodeName, hosts: HostList },
    /// `mcast6 <iface> <group> <port> <hops> <loop>`.
    Mcast6 {
        iface: Iface,
        group: [u8; 16],
        port: u16,
        hops: u8,
        loopback: bool,
    },
    /// `ucast6 <iface> <peer>`: the peer an IPv6 address literal (a link-local one may carry
    /// `%iface`), kept as written; `port` is `udpport` as ucast's.
    Ucast6 { iface: Iface, peer: Host, port: u16 },
    /// `ping6 <host>`.
    Ping6 { host: Host },
    /// `relay <device> [baud]`: hb's own medium, a serial line to the relay board
    /// (`hb-firmware/PROTOCOL.md`), which forwards compact heartbeat frames to the other hosts
    /// wired to it. Not a heartbeat 3.0.6 directive (3.0.6 refuses the line), so only hb
    /// nodes' ha.cf may carry it.
    Relay { device: Path, baud: u32 },
    /// Media hb does not model, kept as written for the daemon to accept or refuse.
    Other { kind: OtherMedium, args: Args },
}

/// The hosts of a `ping_group`, as written. Kept in one string rather than a table of
/// [`Host`]s so that every [`Medium`] stays small.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostList {
    text: Args,
    count: u8,
}

impl HostList {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.text.split(' ').filter(|h| !h.is_empty())
    }
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn push(&mut self, host: &str) -> Result<(), ()> {
        if self.len() >= MAX_PING_GROUP_HOSTS {
            return Err(());
        }
        let mark = self.text.len();
        let sep = if self.text.is_empty() { "" } else { " " };
        if self
            .text
            .push_str(sep)
            .and_then(|()| self.text.push_str(host))
            .is_err()
        {
            self.text.truncate(mark);
            return Err(());
        }
        self.count += 1;
        Ok(())
    }
}

/// Media directives heartbeat knows but hb keeps only as raw text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OtherMedium {
    Hbaping,
    Openais,
    Rds,
    Tipc,
}

impl OtherMedium {
    pub const fn directive(self) -> &'static str {
        match self {
            OtherMedium::Hbaping => "hbaping",
            OtherMedium::Openais => "openais",
            OtherMedium::Rds => "rds",
            OtherMedium::Tipc => "tipc",
        }
    }
}

impl Medium {
    /// The directive that declares this medium.
    pub fn directive(&self) -> &'static str {
        match self {
            Medium::Bcast { .. } => "bcast",
            Medium::Mcast { .. } => "mcast",
            Medium::Ucast { .. } => "ucast",
            Medium::Serial { .. } => "serial",
            Medium::Ping { .. } => "ping",
            Medium::PingGroup { .. } => "ping_group",
            Medium::Mcast6 { .. } => "mcast6",
            Medium::Ucast6 { .. } => "ucast6",
            Medium::Ping6 { .. } => "ping6",
            Medium::Relay { .. } => "relay",
            Medium::Other { kind, .. } => kind.directive(),
        }
    }

    /// The link name heartbeat shows (`cl_status listhblinks`): the interface for IP media
    /// (two ucast lines on one interface share it), the device path for serial, the node name
    /// for ping media.
    pub fn link_name(&self) -> &str {
        match self {
            Medium::Bcast { iface, .. }
            | Medium::Mcast { iface, .. }
            | Medium::Ucast { iface, .. }
            | Medium::Mcast6 { iface, .. }
            | Medium::Ucast6 { iface, .. } => iface,
            Medium::Serial { device, .. } | Medium::Relay { device, .. } => device,
            Medium::Ping { host } | Medium::Ping6 { host } => host,
            Medium::PingGroup { name, .. } => name,
            Medium::Other { args, .. } => args,
        }
    }

    /// Ping media create ping nodes instead of carrying heartbeats between cluster nodes.
    pub fn is_ping(&self) -> bool {
        matches!(
            self,
            Medium::Ping { .. }
                | Medium::Ping6 { .. }
                | Medium::PingGroup { .. }
                | Medium::Other {
                    kind: OtherMedium::Hbaping,
                    ..
                }
        )
    }
}

/// Media declared one per word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WordMedium {
    Bcast,
    Serial,
    Ping,
    Ping6,
    Other(OtherMedium),
}

impl Builder {
    pub(super) fn push_medium(&mut self, r: &mut Reporter<'_>, at: Pos, medium: Medium) {
        if self.cf.media.push(Located { value: medium, at }).is_err() {
            r.error(at, format_args!("Too many media specified (> {MAX_MEDIA})"));
        }
    }

    pub(super) fn word_medium(&mut self, r: &mut Reporter<'_>, kind: WordMedium, w: Word<'_>) {
        let medium = match kind {
            WordMedium::Bcast => {
                let Some(iface) = iface(r, "bcast", w) else {
                    return;
                };
                let port = *self.bcast_port.get_or_insert(self.cf.udpport);
                Medium::Bcast { iface, port }
            }
            WordMedium::Serial => {
                if !w.text.starts_with('/') {
                    return r.error(
                        w.at,
                        format_args!(
                            "Serial port not full pathname [{}] in config file",
                            Shown(w.text)
                        ),
                    );
                }
                let Some(device) = path(r, "serial", w) else {
                    return;
                };
                let relay =
                    self.cf.media.iter().any(
                        |m| matches!(&m.value, Medium::Relay { device: d, .. } if *d == device),
                    );
                if relay {
                    return r.error(
                        w.at,
                        format_args!(
                            "serial [{device}]: the device is a relay's (`relay {device}` above); \
                            a relay's line is never also `serial`"
                        ),
                    );
                }
                let baud = *self.serial_baud.get_or_insert(self.cf.baud);
                Medium::Serial { device, baud }
            }
            WordMedium::Ping => {
                let Some(host) = ping_host(r, "ping", w) else {
                    return;
                };
                Medium::Ping { host }
            }
            WordMedium::Ping6 => {
                let Some(host) = ping_host(r, "ping6", w) else {
                    return;
                };
                Medium::Ping6 { host }
            }
            WordMedium::Other(kind) => {
                let Some(args) = args(r, kind.directive(), w) else {
                    return;
                };
                Medium::Other { kind, args }
            }
        };
        self.push_medium(r, w.at, medium);
    }

    /// `mcast <dev> <group> <port> <ttl> <loop>` [HBcomm/mcast.c: mcast_parse]; all five
    /// are required, and like heartbeat we stop at the first bad one.
    pub(super) fn mcast(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        let Some(dev) = words.next() else {
            return r.error(
                name.at,
                format_args!(
                    "mcast: missing interface (syntax: mcast <dev> <group> <port> <ttl> <loop>)"
                ),
            );
        };
        let Some(iface) = iface(r, "mcast", dev) else {
            return;
        };
        let d = Shown(dev.text);
        let Some(g) = words.next() else {
            return r.error(name.at, format_args!("mcast [{d}] missing mcast address"));
        };
        let Some(group) = parse_ipv4(g.text).filter(|a| a[0] & 0xf0 == 0xe0) else {
            return r.error(
                g.at,
                format_args!(
                    "mcast [{d}] bad addr [{}] (use an IPv4 multicast group, 224.0.0.0 \
                    to 239.255.255.255)",
                    Shown(g.text)
                ),
            );
        };
        let Some((port, ttl, loopback)) = port_ttl_loop(r, "mcast", "ttl", name, d, &mut words)
        else {
            return;
        };
        warn_extra_words(r, "mcast", d, words);
        self.push_medium(
            r,
            dev.at,
            Medium::Mcast {
                iface,
                group,
                port,
                ttl,
                loopback,
            },
        );
    }

    pub(super) fn mcast6(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        let Some(dev) = words.next() else {
            return r.error(
                name.at,
                format_args!(
                    "mcast6: missing interface (syntax: mcast6 <dev> <group> <port> <hops> <loop>)"
                ),
            );
        };
        let Some(iface) = iface(r, "mcast6", dev) else {
            return;
        };
        let d = Shown(dev.text);
        let Some(g) = words.next() else {
            return r.error(name.at, format_args!("mcast6 [{d}] missing mcast address"));
        };
        let Some(group) = Ipv6Addr::from_str(g.text)
            .ok()
            .filter(heartbeat_mcast6_group)
        else {
            return r.error(
                g.at,
                format_args!(
                    "mcast6 [{d}] bad addr [{}] (use an IPv6 multicast group of link, admin, \
                     site or organization scope, e.g. ff12::1:2:3:4)",
                    Shown(g.text)
                ),
            );
        };
        let Some((port, hops, loopback)) = port_ttl_loop(r, "mcast6", "hops", name, d, &mut words)
        else {
            return;
        };
        warn_extra_words(r, "mcast6", d, words);
        self.push_medium(
            r,
            dev.at,
            Medium::Mcast6 {
                iface,
                group: group.octets(),
                port,
                hops,
                loopback,
            },
        );
    }

    /// `ucast6 <dev> <peer>` [HBcomm/ucast6.c: ucast6_parse]: the peer an IPv6 literal, not
    /// multicast, unspecified or loopback (a `%scope` suffix is allowed).
    pub(super) fn ucast6(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        let Some(dev) = words.next() else {
            return r.error(
                name.at,
                format_args!("ucast6: missing interface (syntax: ucast6 <dev> <peer>)"),
            );
        };
        let Some(iface) = iface(r, "ucast6", dev) else {
            return;
        };
        let d = Shown(dev.text);
        let Some(p) = words.next() else {
            return r.error(name.at, format_args!("ucast6 [{d}] missing ucast6 address"));
        };
        let literal = p.text.split('%').next().unwrap_or("");
        let ok = Ipv6Addr::from_str(literal)
            .is_ok_and(|a| !a.is_multicast() && !a.is_unspecified() && !a.is_loopback());
        if !ok {
            return r.error(
                p.at,
                format_args!(
                    "ucast6 [{d}] bad addr [{}] (use the peer's IPv6 address)",
                    Shown(p.text)
                ),
            );
        }
        let Some(peer) = host(r, "ucast6", p) else {
            return;
        };
        warn_extra_words(r, "ucast6", d, words);
        let port = *self.ucast_port.get_or_insert(self.cf.udpport);
        self.push_medium(r, dev.at, Medium::Ucast6 { iface, peer, port });
    }

    /// `ucast <dev> <peer>` [HBcomm/ucast.c: ucast_parse]: only the first two words count.
    pub(super) fn ucast(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        let Some(dev) = words.next() else {
            return r.error(
                name.at,
                format_args!("ucast: missing interface (syntax: ucast <dev> <peer>)"),
            );
        };
        let Some(iface) = iface(r, "ucast", dev) else {
            return;
        };
        let d = Shown(dev.text);
        let Some(p) = words.next() else {
            return r.error(
                name.at,
                format_args!("ucast: [{d}] missing target IP address/hostname"),
            );
        };
        let Some(peer) = host(r, "ucast", p) else {
            return;
        };
        warn_extra_words(r, "ucast", d, words);
        let port = *self.ucast_port.get_or_insert(self.cf.udpport);
        self.push_medium(r, dev.at, Medium::Ucast { iface, peer, port });
    }

    /// `relay <device> [baud]`: the device must be a full path (as `serial`'s), the speed one
    /// of `baud`'s, [`DEFAULT_RELAY_BAUD`] when left out (the boards' speed, whatever the
    /// global `baud` says: that one is the speed of the peer-to-peer serial lines).
    pub(super) fn relay(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        const SYNTAX: &str = "syntax: relay <device> [baud]";
        let Some(dev) = words.next() else {
            return r.error(name.at, format_args!("relay: missing device ({SYNTAX})"));
        };
        if !dev.text.starts_with('/') {
            return r.error(
                dev.at,
                format_args!(
                    "relay: device [{}] is not a full pathname ({SYNTAX})",
                    Shown(dev.text)
                ),
            );
        }
        let Some(device) = path(r, "relay", dev) else {
            return;
        };
        let baud = match words.next() {
            None => DEFAULT_RELAY_BAUD,
            Some(b) => {
                let rate = parse_decimal(b.text)
                    .and_then(|v| u32::try_from(v).ok())
                    .filter(|v| BAUD_RATES.contains(v));
                let Some(rate) = rate else {
                    return r.error(
                        b.at,
                        format_args!(
                            "relay [{device}]: invalid baudrate [{}]. Use one of 9600, 19200, \
                            38400, 57600, 115200, 230400, 460800.",
                            Shown(b.text)
                        ),
                    );
                };
                rate
            }
        };
        warn_extra_words(r, "relay", Shown(dev.text), words);
        let taken = self.cf.media.iter().any(|m| {
            matches!(&m.value, Medium::Relay { device: d, .. } | Medium::Serial { device: d, .. } if *d == device)
        });
        if taken {
            return r.error(
                dev.at,
                format_args!(
                    "relay [{device}]: the device is already a medium above (one line per device; \
                    a relay's line is `relay`, never also `serial`)"
                ),
            );
        }
        self.push_medium(r, dev.at, Medium::Relay { device, baud });
    }

    pub(super) fn ping_group(
        &mut self,
        r: &mut Reporter<'_>,
        name: Word<'_>,
        mut words: Words<'_>,
    ) {
        const SYNTAX: &str = "syntax: ping_group <name> <host> [<host>...]";
        let Some(group) = words.next() else {
            return r.error(
                name.at,
                format_args!("ping_group: missing group name ({SYNTAX})"),
            );
        };
        let Some(group_name) = lowercase::<NODE_NAME_LEN>(group.text) else {
            return r.error(
                group.at,
                format_args!(
                    "ping_group: name [{}] is too long (at most {NODE_NAME_LEN} bytes)",
                    Shown(group.text)
                ),
            );
        };
        let mut hosts = HostList::default();
        for w in words {
            if hosts.push(w.text).is_err() {
                return r.error(
                    w.at,
                    format_args!(
                        "ping_group [{group_name}]: too many hosts (hb supports at most \
                        {MAX_PING_GROUP_HOSTS}, {ARGS_LEN} bytes in all)"
                    ),
                );
            }
        }
        if hosts.is_empty() {
            return r.error(
                group.at,
                format_args!("ping_group [{group_name}] has no hosts ({SYNTAX})"),
            );
        }
        self.push_medium(
            r,
            group.at,
            Medium::PingGroup {
                name: group_name,
                hosts,
            },
        );
    }

    pub(super) fn other_line_medium(
        &mut self,
        r: &mut Reporter<'_>,
        name: Word<'_>,
        kind: OtherMedium,
        words: Words<'_>,
    ) {
        let Some(rest) = words.rest() else {
            return r.error(
                name.at,
                format_args!("{}: missing arguments", kind.directive()),
            );
        };
        let Some(args) = args(r, kind.directive(), rest) else {
            return;
        };
        self.push_medium(r, rest.at, Medium::Other { kind, args });
    }
}

/// 3.0.6's plausibility check of an mcast6 group [HBcomm/mcast6.c: is_valid_mcast6_addr]:
/// multicast, no flag but "transient", link (2), admin (4), site (5) or organization (8)
/// scope, and not all zeros after the first two bytes.
fn heartbeat_mcast6_group(a: &Ipv6Addr) -> bool {
    let o = a.octets();
    o[0] == 0xff && o[1] & 0xe0 == 0 && matches!(o[1] & 0x0f, 2 | 4 | 5 | 8) && o[2..] != [0; 14]
}

/// The numeric fields shared by `mcast` and `mcast6`: port, ttl (hops), loop.
fn port_ttl_loop(
    r: &mut Reporter<'_>,
    directive: &str,
    ttl_name: &str,
    name: Word<'_>,
    d: Shown<'_>,
    words: &mut Words<'_>,
) -> Option<(u16, u8, bool)> {
    let Some(p) = words.next() else {
        r.error(name.at, format_args!("{directive} [{d}] missing port"));
        return None;
    };
    let Some(port) = port(p.text) else {
        r.error(
            p.at,
            format_args!(
                "{directive} [{d}] bad port [{}] (use 1 to 65535)",
                Shown(p.text)
            ),
        );
        return None;
    };
    let Some(t) = words.next() else {
        r.error(
            name.at,
            format_args!("{directive} [{d}] missing {ttl_name}"),
        );
        return None;
    };
    let Some(ttl) = small_int(t.text, 0, 4) else {
        // heartbeat's parser rejects more than 4 although its sample file says 0-255.
        r.error(
            t.at,
            format_args!(
                "{directive} [{d}] bad {ttl_name} [{}] (use 0 to 4)",
                Shown(t.text)
            ),
        );
        return None;
    };
    let Some(l) = words.next() else {
        r.error(name.at, format_args!("{directive} [{d}] missing loop"));
        return None;
    };
    let Some(loopback) = small_int(l.text, 0, 1) else {
        r.error(
            l.at,
            format_args!(
                "{directive} [{d}] bad loop [{}] (use 0 or 1)",
                Shown(l.text)
            ),
        );
        return None;
    };
    Some((port, ttl, loopback == 1))
}
