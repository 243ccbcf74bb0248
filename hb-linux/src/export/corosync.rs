//! `corosync.conf` (Corosync 3, knet) from ha.cf: nodes, links, timing, crypto, logging.
//!
//! # Links
//! Every UDP medium's interface becomes one knet link (two media on one interface — a `bcast`
//! and a `ucast` on eth1 — are one network, so one link), in ha.cf order, at most
//! [`MAX_LINKS`]. knet speaks unicast between the nodes' addresses on each link, so every node
//! needs an address per link:
//! 1. `--node-addr NODE@IFACE=IP` names it;
//! 2. a plain `--node-addr NODE=IP` that is a `ucast` peer of a link belongs to that link;
//! 3. the other plain `--node-addr NODE=IP`s fill that node's links without an address, in
//!    link order;
//! 4. a `ucast` peer address nobody claimed goes to the one node still without an address on
//!    its link (node1's ha.cf names node2's address: give node1's own with `--node-addr`).
//!
//! A link some node has no address on is left out (REPORT says which `--node-addr` to add).
//!
//! # Timing
//! heartbeat declares a node dead `deadtime` after its last heartbeat. Corosync declares it
//! lost after `token` without the token, then spends up to `consensus` (which must be at least
//! `token`) agreeing on the new membership. So the two together are set to deadtime:
//! `token = deadtime / 2.2`, `consensus = deadtime - token` (1.2 × token, Corosync's own
//! default ratio).

use super::report::Report;
use hb_core::config::hacf::LogFacility;
use hb_core::config::{FileKind, HaCf, Medium, Pos};
use std::fmt::Write as _;

/// knet's limit on links per node pair.
pub const MAX_LINKS: usize = 8;
/// The shortest token written. knet pings every token / 4 and gives a link up after token / 2
/// without an answer: below this a scheduling hiccup of a loaded host drops every link at once.
pub const MIN_TOKEN_MS: u64 = 200;
/// Length of Corosync's `authkey` (`corosync-keygen` writes 256 bytes; knet accepts 1024 bits
/// to 4096 bytes).
pub const AUTHKEY_LEN: usize = 256;

/// One `--node-addr` value: `NODE=IP` or `NODE@IFACE=IP`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddr {
    pub node: String,
    pub iface: Option<String>,
    pub addr: String,
}

impl std::str::FromStr for NodeAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<NodeAddr, String> {
        let (who, addr) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: expected NODE=IP or NODE@IFACE=IP"))?;
        let (node, iface) = match who.split_once('@') {
            Some((n, i)) => (n, Some(i.to_string())),
            None => (who, None),
        };
        if node.is_empty() || addr.is_empty() || iface.as_deref() == Some("") {
            return Err(format!("`{s}`: expected NODE=IP or NODE@IFACE=IP"));
        }
        if addr.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("`{s}`: `{addr}` is not an IP address"));
        }
        Ok(NodeAddr {
            node: node.to_lowercase(),
            iface,
            addr: addr.to_string(),
        })
    }
}

/// One knet link: an interface of the nodes, and each node's address on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub iface: String,
    pub at: Pos,
    /// The media on this interface, for messages (`bcast`, `ucast`…).
    pub media: Vec<&'static str>,
    ucast_peers: Vec<String>,
    /// Indexed like `HaCf::nodes`.
    pub addrs: Vec<Option<String>>,
}

/// The links every node has an address on, in ha.cf order.
pub fn links(hacf: &HaCf, given: &[NodeAddr], report: &mut Report) -> Vec<Link> {
    let nodes: Vec<&str> = hacf.node_names().collect();
    let mut all: Vec<Link> = Vec::new();
    for m in &hacf.media {
        let (iface, peer) = match &m.value {
            Medium::Bcast { iface, .. }
            | Medium::Mcast { iface, .. }
            | Medium::Mcast6 { iface, .. } => (iface.as_str(), None),
            Medium::Ucast { iface, peer, .. } => (iface.as_str(), Some(peer.as_str())),
            _ => continue,
        };
        let link = match all.iter_mut().position(|l| l.iface == iface) {
            Some(i) => &mut all[i],
            None => {
                all.push(Link {
                    iface: iface.to_string(),
                    at: m.at,
                    media: Vec::new(),
                    ucast_peers: Vec::new(),
                    addrs: vec![None; nodes.len()],
                });
                all.last_mut().expect("just pushed")
            }
        };
        let d = m.value.directive();
        if !link.media.contains(&d) {
            link.media.push(d);
        }
        if let Some(p) = peer {
            link.ucast_peers.push(p.to_string());
        }
    }
    let node_index = |n: &str| nodes.iter().position(|x| x.eq_ignore_ascii_case(n));
    for g in given {
        if node_index(&g.node).is_none() {
            report.lost(
                FileKind::HaCf,
                None,
                format!(
                    "--node-addr {}: no `node {}` line in ha.cf; address ignored",
                    g.node, g.node
                ),
            );
        }
        if let Some(i) = &g.iface {
            if !all.iter().any(|l| &l.iface == i) {
                report.lost(
                    FileKind::HaCf,
                    None,
                    format!(
                        "--node-addr {}@{i}: no UDP medium on {i}; address ignored",
                        g.node
                    ),
                );
            }
        }
    }
    // Steps 1 and 2 of the module docs.
    let mut used = vec![false; given.len()];
    for (gi, g) in given.iter().enumerate() {
        let Some(n) = node_index(&g.node) else {
            continue;
        };
        let hit = all.iter_mut().find(|l| match &g.iface {
            Some(i) => &l.iface == i,
            None => l.ucast_peers.contains(&g.addr),
        });
        if let Some(l) = hit {
            if l.addrs[n].is_none() {
                l.addrs[n] = Some(g.addr.clone());
                used[gi] = true;
            }
        }
    }
    // Step 3.
    for (gi, g) in given.iter().enumerate() {
        if used[gi] || g.iface.is_some() {
            continue;
        }
        let Some(n) = node_index(&g.node) else {
            continue;
        };
        match all.iter_mut().find(|l| l.addrs[n].is_none()) {
            Some(l) => l.addrs[n] = Some(g.addr.clone()),
            None => report.lost(
                FileKind::HaCf,
                None,
                format!(
                    "--node-addr {}={}: {} already has an address on every link; ignored",
                    g.node, g.addr, g.node
                ),
            ),
        }
    }
    // Step 4.
    for l in &mut all {
        let claimed: Vec<String> = l.addrs.iter().flatten().cloned().collect();
        let free: Vec<&String> = l
            .ucast_peers
            .iter()
            .filter(|p| !claimed.contains(p))
            .collect();
        let missing: Vec<usize> = (0..nodes.len()).filter(|&n| l.addrs[n].is_none()).collect();
        if let ([p], [n]) = (free.as_slice(), missing.as_slice()) {
            l.addrs[*n] = Some((*p).clone());
        }
    }
    let mut out = Vec::new();
    for l in all {
        let missing: Vec<&str> = nodes
            .iter()
            .zip(&l.addrs)
            .filter(|(_, a)| a.is_none())
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            let hint: Vec<String> = missing
                .iter()
                .map(|n| format!("--node-addr {n}@{}=IP", l.iface))
                .collect();
            report.lost(
                FileKind::HaCf,
                Some(l.at),
                format!(
                    "{} {}: no address for {} on this interface, so no knet link for it \
                     (knet sends unicast between node addresses; add {})",
                    l.media.join("/"),
                    l.iface,
                    missing.join(", "),
                    hint.join(" ")
                ),
            );
            continue;
        }
        if out.len() == MAX_LINKS {
            report.lost(
                FileKind::HaCf,
                Some(l.at),
                format!(
                    "{} {}: knet carries at most {MAX_LINKS} links; this one is left out",
                    l.media.join("/"),
                    l.iface
                ),
            );
            continue;
        }
        if l.media.iter().any(|m| *m != "ucast") {
            report.note(
                FileKind::HaCf,
                Some(l.at),
                format!(
                    "{} {}: knet link {} sends unicast to the node addresses instead of \
                     broadcast/multicast",
                    l.media.join("/"),
                    l.iface,
                    out.len()
                ),
            );
        }
        out.push(l);
    }
    out
}

/// `token` and `consensus` in ms (module docs).
pub fn timing(hacf: &HaCf) -> (u64, u64) {
    let dead = hacf.deadtime.as_millis();
    let token = (dead * 10 / 22).max(MIN_TOKEN_MS);
    let consensus = dead.saturating_sub(token).max(token);
    (token, consensus)
}

/// The file's text. `links` must be non-empty.
pub fn render(hacf: &HaCf, links: &[Link]) -> String {
    let mut s = String::new();
    let (token, consensus) = timing(hacf);
    let _ = writeln!(
        s,
        "# Written by `hbctl export pacemaker` from heartbeat's ha.cf. See REPORT.txt.\n\
         totem {{\n    version: 2\n    cluster_name: {}\n    transport: knet\n\
         \x20   # ha.cf deadtime {} ms = token + consensus\n    token: {token}\n    consensus: {consensus}\n\
         \x20   # authkey (beside this file, mode 0400) is new: heartbeat's authkeys holds an\n\
         \x20   # HMAC secret for its own packet signatures; knet encrypts every packet with a\n\
         \x20   # binary key of its own format, so the old one cannot be reused.\n\
         \x20   crypto_cipher: aes256\n    crypto_hash: sha256",
        cluster_name(hacf),
        hacf.deadtime.as_millis()
    );
    for (i, l) in links.iter().enumerate() {
        let _ = writeln!(
            s,
            "    interface {{\n        # ha.cf: {} {}\n        linknumber: {i}\n    }}",
            l.media.join("/"),
            l.iface
        );
    }
    s.push_str("}\n\nnodelist {\n");
    for (n, name) in hacf.node_names().enumerate() {
        let _ = writeln!(
            s,
            "    node {{\n        name: {name}\n        nodeid: {}",
            n + 1
        );
        for (i, l) in links.iter().enumerate() {
            let _ = writeln!(
                s,
                "        ring{i}_addr: {}",
                l.addrs[n].as_deref().unwrap_or("")
            );
        }
        s.push_str("    }\n");
    }
    s.push_str("}\n\nquorum {\n    provider: corosync_votequorum\n");
    if hacf.nodes.len() == 2 {
        s.push_str(
            "    # Two nodes, as heartbeat: the survivor of a split keeps quorum (fencing decides)\n\
             \x20   two_node: 1\n",
        );
    }
    s.push_str("}\n\n");
    s.push_str(&logging(hacf));
    s
}

fn cluster_name(hacf: &HaCf) -> String {
    // Corosync takes the name as one word; heartbeat allowed any host-like text.
    let name: String = hacf
        .cluster
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "linux-ha".into()
    } else {
        name
    }
}

/// Corosync's log file beside heartbeat's (`/var/log/ha-log` → `/var/log/corosync.log`).
fn logfile(hacf: &HaCf) -> Option<String> {
    let f = hacf.logfile.as_deref().filter(|f| *f != "/dev/null")?;
    let dir = std::path::Path::new(f)
        .parent()
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/var/log".into());
    Some(format!("{dir}/corosync.log"))
}

fn logging(hacf: &HaCf) -> String {
    let mut s = String::from("logging {\n    timestamp: on\n    to_stderr: no\n");
    match logfile(hacf) {
        Some(f) => {
            let _ = writeln!(s, "    to_logfile: yes\n    logfile: {f}");
        }
        None => s.push_str("    to_logfile: no\n"),
    }
    match hacf.syslog_facility() {
        Some(f) => {
            let _ = writeln!(
                s,
                "    to_syslog: yes\n    syslog_facility: {}",
                facility(f)
            );
        }
        None => s.push_str("    to_syslog: no\n"),
    }
    let _ = writeln!(
        s,
        "    debug: {}\n}}",
        if hacf.debug > 0 { "on" } else { "off" }
    );
    s
}

fn facility(f: LogFacility) -> &'static str {
    // Corosync knows the same names (daemon, local0-7, user, …) as heartbeat.
    f.name()
}

/// A fresh key from the kernel's random source.
pub fn new_authkey() -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut key = vec![0u8; AUTHKEY_LEN];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hacf(text: &str) -> HaCf {
        HaCf::parse(text, &mut |e| assert!(e.is_warning(), "{e}")).expect("ha.cf")
    }

    #[test]
    fn node_addr_spellings() {
        let a: NodeAddr = "Node1@eth1=198.51.100.1".parse().unwrap();
        assert_eq!(
            a,
            NodeAddr {
                node: "node1".into(),
                iface: Some("eth1".into()),
                addr: "198.51.100.1".into()
            }
        );
        assert!("node1=foo".parse::<NodeAddr>().is_err());
        assert!("node1".parse::<NodeAddr>().is_err());
        assert!("@eth0=198.51.100.1".parse::<NodeAddr>().is_err());
        assert!("n@=198.51.100.1".parse::<NodeAddr>().is_err());
    }

    #[test]
    fn ucast_peer_and_own_address_make_a_link_bcast_needs_both() {
        let cf = hacf(
            "node node1\nnode node2\nbcast eth0\nucast eth1 203.0.113.2\nucast eth1 203.0.113.1\n",
        );
        let mut r = Report::default();
        let given: Vec<NodeAddr> = ["node1=203.0.113.1", "node1=198.51.100.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let l = links(&cf, &given, &mut r);
        // eth1: node1's address is a ucast peer (step 2), node2 gets the other peer (step 4);
        // eth0: node1 got its plain address (step 3), node2 has none, so the link is out.
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].iface, "eth1");
        assert_eq!(
            l[0].addrs,
            vec![Some("203.0.113.1".into()), Some("203.0.113.2".into())]
        );
        assert_eq!(r.lost_count(), 1);
        assert!(r.entries()[0].text.contains("--node-addr node2@eth0=IP"));
    }

    #[test]
    fn timing_splits_deadtime_into_token_and_consensus() {
        let cf = hacf("node a\nnode b\nbcast eth0\ndeadtime 10\n");
        assert_eq!(timing(&cf), (4545, 5455));
        let cf = hacf("node a\nnode b\nbcast eth0\nkeepalive 100ms\ndeadtime 300ms\n");
        assert_eq!(timing(&cf), (200, 200));
    }

    #[test]
    fn rendered_file_has_two_node_quorum_links_and_logging() {
        let cf = hacf(
            "logfile /var/log/ha-log\nlogfacility local0\ndebug 1\nnode a\nnode b\nucast eth0 198.51.100.2\n",
        );
        let mut r = Report::default();
        let l = links(&cf, &["a=198.51.100.1".parse().unwrap()], &mut r);
        let text = render(&cf, &l);
        for want in [
            "transport: knet",
            "two_node: 1",
            "ring0_addr: 198.51.100.1",
            "ring0_addr: 198.51.100.2",
            "nodeid: 2",
            "logfile: /var/log/corosync.log",
            "syslog_facility: local0",
            "debug: on",
            "crypto_cipher: aes256",
        ] {
            assert!(text.contains(want), "{want} missing in\n{text}");
        }
    }
}
