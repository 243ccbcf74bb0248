//! haresources → Pacemaker resources: each line a group in order, with a location preference
//! for its node; heartbeat's resource.d scripts → the OCF agents they wrap (the scripts in
//! resource-agents' `heartbeat/` directory set `OCF_RESKEY_*` from their `::` arguments, and
//! the table below passes the same arguments under the same names); `drbddisk` → a
//! promotable `ocf:linbit:drbd` clone the group is colocated with and ordered after; other
//! names without arguments → the init script (`lsb:`), as heartbeat falls back to
//! `/etc/init.d`.

use super::cib::{xml_id, Cib, Constraint, Op, Primitive, Resource, PREFER_SCORE};
use super::report::Report;
use hb_core::config::{FileKind, HaResources};
use std::path::Path;

/// What a resource.d script becomes: OCF type, then the names its `::` arguments are passed
/// as, in order (the last one takes what is left, joined by blanks, where the script does).
struct Agent {
    script: &'static str,
    kind: &'static str,
    params: &'static [&'static str],
    /// The last parameter takes all remaining arguments (AudibleAlarm's node list).
    rest: bool,
    start_stop_timeout: &'static str,
}

const fn agent(script: &'static str, kind: &'static str, params: &'static [&'static str]) -> Agent {
    Agent {
        script,
        kind,
        params,
        rest: false,
        start_stop_timeout: "20s",
    }
}

/// resource-agents 4.12's `heartbeat/` wrappers and the OCF agents they call.
const AGENTS: &[Agent] = &[
    Agent {
        start_stop_timeout: "60s",
        ..agent(
            "Filesystem",
            "Filesystem",
            &["device", "directory", "fstype", "options"],
        )
    },
    Agent {
        start_stop_timeout: "60s",
        ..agent("apache", "apache", &["configfile"])
    },
    agent("MailTo", "MailTo", &["email", "subject"]),
    agent("Delay", "Delay", &["startdelay", "stopdelay"]),
    agent("IPsrcaddr", "IPsrcaddr", &["ipaddress"]),
    agent("Xinetd", "Xinetd", &["service"]),
    agent("LinuxSCSI", "LinuxSCSI", &["scsi"]),
    agent("LVM", "LVM", &["volgrpname"]),
    agent("Raid1", "Raid1", &["raidconf", "raiddev"]),
    agent("ServeRAID", "ServeRAID", &["serveraid", "mergegroup"]),
    agent("ICP", "ICP", &["driveid", "device"]),
    agent("portblock", "portblock", &["protocol", "portno", "action"]),
    agent("db2", "db2", &["instance"]),
    agent("WinPopup", "WinPopup", &["hostfile"]),
    agent("ids", "ids", &["informixdir", "informixserver", "onconfig"]),
    Agent {
        rest: true,
        ..agent("AudibleAlarm", "AudibleAlarm", &["nodelist"])
    },
];

/// Scripts heartbeat ships that have no OCF agent, with what to do instead.
const NO_AGENT: &[(&str, &str)] = &[
    (
        "OCF",
        "heartbeat's OCF wrapper reads its parameters from a file: write the primitive by hand",
    ),
    (
        "hto-mapfuncs",
        "a helper library of heartbeat, not a resource",
    ),
];

/// Adds every group of `res` to `cib`; what cannot be mapped goes to `report`.
pub fn map(res: &HaResources, conf_dir: &Path, cib: &mut Cib, ids: &mut Ids, report: &mut Report) {
    for g in res.groups() {
        let mut members: Vec<Primitive> = Vec::new();
        let mut drbd: Vec<String> = Vec::new();
        for r in g.resources() {
            let at = Some(r.at());
            let script = r.script();
            let args: Vec<&str> = r.args().collect();
            let lost = |report: &mut Report, why: String| {
                report.lost(FileKind::HaResources, at, format!("{}: {why}", r.spec()));
            };
            if let Some(ip) = r.ip_spec() {
                let ip = match ip {
                    Ok(ip) => ip,
                    Err(e) => {
                        lost(report, format!("{e}"));
                        continue;
                    }
                };
                let [a, b, c, d] = ip.addr;
                let addr = format!("{a}.{b}.{c}.{d}");
                let mut params = vec![("ip".to_string(), addr.clone())];
                if let Some(bits) = ip.bits {
                    params.push(("cidr_netmask".into(), bits.to_string()));
                }
                if let Some(nic) = ip.interface() {
                    params.push(("nic".into(), nic.into()));
                }
                if let Some(label) = ip.label() {
                    params.push(("iflabel".into(), label.into()));
                }
                if let Some([a, b, c, d]) = ip.broadcast {
                    params.push(("broadcast".into(), format!("{a}.{b}.{c}.{d}")));
                }
                if script == "IPaddr" {
                    report.note(
                        FileKind::HaResources,
                        at,
                        format!(
                            "{}: IPaddr → ocf:heartbeat:IPaddr2, which adds the address to the \
                             interface instead of an alias interface (eth0:0); `ip addr` shows it",
                            r.spec()
                        ),
                    );
                }
                members.push(ocf(ids.take("ip", &addr), "IPaddr2", params, "20s"));
                continue;
            }
            if script == "IPv6addr" {
                // The address has `::` in it, which haresources splits on: put it back.
                let whole = r.spec().split_once("::").map_or("", |(_, a)| a);
                let mut f = whole.split('/');
                let addr = f.next().unwrap_or("");
                if addr.parse::<std::net::Ipv6Addr>().is_err() {
                    lost(report, format!("`{addr}` is not an IPv6 address"));
                    continue;
                }
                let mut params = vec![("ipv6addr".to_string(), addr.to_string())];
                if let Some(bits) = f.next().filter(|b| !b.is_empty()) {
                    params.push(("cidr_netmask".into(), bits.into()));
                }
                if let Some(nic) = f.next().filter(|n| !n.is_empty()) {
                    params.push(("nic".into(), nic.into()));
                }
                members.push(ocf(ids.take("ip6", addr), "IPv6addr", params, "20s"));
                continue;
            }
            if script == "SendArp" {
                // `SendArp::ip/nic`.
                let arg = args.first().copied().unwrap_or("");
                let Some((ip, nic)) = arg.split_once('/') else {
                    lost(report, "SendArp needs ip/nic".into());
                    continue;
                };
                let params = vec![("ip".to_string(), ip.into()), ("nic".into(), nic.into())];
                members.push(ocf(ids.take("sendarp", ip), "SendArp", params, "20s"));
                continue;
            }
            if script == "drbddisk" {
                match args.first().filter(|a| !a.is_empty()) {
                    Some(name) => drbd.push((*name).to_string()),
                    None => lost(
                        report,
                        "drbddisk without a resource name manages every DRBD resource; \
                         name them (drbddisk::r0) so each becomes an ocf:linbit:drbd clone"
                            .into(),
                    ),
                }
                continue;
            }
            if let Some(a) = AGENTS.iter().find(|a| a.script == script) {
                if args.len() > a.params.len() && !a.rest {
                    lost(
                        report,
                        format!(
                            "{script} takes at most {} argument(s) ({})",
                            a.params.len(),
                            a.params.join(", ")
                        ),
                    );
                    continue;
                }
                let mut params = Vec::new();
                for (i, name) in a.params.iter().enumerate() {
                    let value = if a.rest && i + 1 == a.params.len() {
                        args.get(i..).map(|r| r.join(" ")).unwrap_or_default()
                    } else {
                        args.get(i).map(|s| s.to_string()).unwrap_or_default()
                    };
                    if !value.is_empty() {
                        params.push((name.to_string(), value));
                    }
                }
                let label = args.first().copied().unwrap_or(script);
                let id = ids.take(&script.to_lowercase(), label);
                members.push(ocf(id, a.kind, params, a.start_stop_timeout));
                continue;
            }
            if let Some((_, why)) = NO_AGENT.iter().find(|(s, _)| *s == script) {
                lost(report, (*why).to_string());
                continue;
            }
            if !args.is_empty() {
                lost(
                    report,
                    format!(
                        "`{script}` has arguments and no OCF agent is known for it; init \
                         scripts take none (write an OCF agent, or an init script that \
                         needs no arguments)"
                    ),
                );
                continue;
            }
            if conf_dir.join("resource.d").join(script).exists() {
                report.note(
                    FileKind::HaResources,
                    at,
                    format!(
                        "{script}: a resource.d script of this site; mapped as lsb:{script}, \
                         so copy it to /etc/init.d/{script} on every node (it must answer \
                         `status`)"
                    ),
                );
            }
            members.push(Primitive {
                id: ids.take("lsb", script),
                class: "lsb",
                provider: None,
                kind: script.to_string(),
                params: Vec::new(),
                ops: vec![
                    Op::new("start", "0s", "60s"),
                    Op::new("stop", "0s", "60s"),
                    Op::new("monitor", "15s", "30s"),
                ],
            });
        }
        let group_id = match members.first() {
            Some(p) => ids.take("group", &p.id),
            None => {
                if drbd.is_empty() {
                    report.lost(
                        FileKind::HaResources,
                        Some(g.node_at()),
                        format!("group `{}`: none of its resources could be mapped", g.key()),
                    );
                }
                String::new()
            }
        };
        for name in drbd {
            let prim = Primitive {
                id: ids.take("drbd", &name),
                class: "ocf",
                provider: Some("linbit"),
                kind: "drbd".into(),
                params: vec![("drbd_resource".into(), name.clone())],
                ops: vec![
                    Op::new("start", "0s", "240s"),
                    Op::new("stop", "0s", "100s"),
                    Op {
                        role: Some("Promoted"),
                        ..Op::new("monitor", "29s", "20s")
                    },
                    Op {
                        role: Some("Unpromoted"),
                        ..Op::new("monitor", "31s", "20s")
                    },
                ],
            };
            let clone = format!("{}-clone", prim.id);
            if group_id.is_empty() {
                cib.constraints.push(Constraint::Location {
                    id: format!("prefer-{clone}"),
                    rsc: clone.clone(),
                    node: g.node().to_string(),
                    score: PREFER_SCORE.to_string(),
                });
            } else {
                cib.constraints.push(Constraint::Colocation {
                    id: format!("{group_id}-with-{clone}"),
                    rsc: group_id.clone(),
                    with: clone.clone(),
                    with_role: Some("Promoted"),
                });
                cib.constraints.push(Constraint::Order {
                    id: format!("{clone}-before-{group_id}"),
                    first: clone.clone(),
                    first_action: "promote",
                    then: group_id.clone(),
                });
            }
            cib.resources.push(Resource::Clone {
                id: clone,
                meta: vec![
                    ("promotable", "true".into()),
                    ("promoted-max", "1".into()),
                    ("promoted-node-max", "1".into()),
                    ("clone-node-max", "1".into()),
                    ("notify", "true".into()),
                ],
                inner: prim,
            });
        }
        if group_id.is_empty() {
            continue;
        }
        cib.constraints.push(Constraint::Location {
            id: format!("prefer-{group_id}"),
            rsc: group_id.clone(),
            node: g.node().to_string(),
            score: PREFER_SCORE.to_string(),
        });
        cib.resources.push(Resource::Group {
            id: group_id,
            members,
        });
    }
}

fn ocf(
    id: String,
    kind: &str,
    params: Vec<(String, String)>,
    start_stop: &'static str,
) -> Primitive {
    Primitive {
        id,
        class: "ocf",
        provider: Some("heartbeat"),
        kind: kind.to_string(),
        params,
        ops: vec![
            Op::new("start", "0s", start_stop),
            Op::new("stop", "0s", start_stop),
            Op::new("monitor", "10s", "20s"),
        ],
    }
}

/// Unique XML IDs: a second `lsb_httpd` becomes `lsb_httpd-2`.
#[derive(Default)]
pub struct Ids(Vec<String>);

impl Ids {
    pub fn take(&mut self, prefix: &str, text: &str) -> String {
        let base = xml_id(prefix, text);
        let mut id = base.clone();
        let mut n = 2;
        while self.0.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        self.0.push(id.clone());
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(text: &str) -> (Cib, Report) {
        let res = HaResources::parse(text, &mut |e| panic!("{e}")).unwrap();
        let mut cib = Cib::default();
        let mut r = Report::default();
        map(
            &res,
            Path::new("/nonexistent"),
            &mut cib,
            &mut Ids::default(),
            &mut r,
        );
        (cib, r)
    }

    #[test]
    fn ip_shorthand_filesystem_and_init_script_make_one_group_in_order() {
        let (cib, r) = export(
            "node1 198.51.100.10/24/eth0/198.51.100.255 Filesystem::/dev/sdb1::/data::ext4 httpd\n",
        );
        assert_eq!(r.lost_count(), 0);
        let Resource::Group { id, members } = &cib.resources[0] else {
            panic!("{cib:?}")
        };
        assert_eq!(id, "group_ip_198.51.100.10");
        let kinds: Vec<&str> = members.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["IPaddr2", "Filesystem", "httpd"]);
        assert_eq!(
            members[0].params,
            [
                ("ip".to_string(), "198.51.100.10".to_string()),
                ("cidr_netmask".into(), "24".into()),
                ("nic".into(), "eth0".into()),
                ("broadcast".into(), "198.51.100.255".into())
            ]
        );
        assert_eq!(members[1].params[2], ("fstype".into(), "ext4".into()));
        assert_eq!(members[2].class, "lsb");
        assert!(members
            .iter()
            .all(|p| p.ops.iter().any(|o| o.name == "monitor")));
        assert!(cib.constraints.contains(&Constraint::Location {
            id: "prefer-group_ip_198.51.100.10".into(),
            rsc: "group_ip_198.51.100.10".into(),
            node: "node1".into(),
            score: "100".into()
        }));
    }

    #[test]
    fn drbddisk_becomes_a_promotable_clone_the_group_follows() {
        let (cib, r) = export("node1 drbddisk::r0 Filesystem::/dev/drbd0::/srv::ext4\n");
        assert_eq!(r.lost_count(), 0);
        assert!(cib.resources.iter().any(|x| matches!(x,
            Resource::Clone { id, inner, .. } if id == "drbd_r0-clone" && inner.provider == Some("linbit"))));
        assert!(cib.constraints.iter().any(|c| matches!(c,
            Constraint::Order { first, first_action: "promote", .. } if first == "drbd_r0-clone")));
        assert!(cib.constraints.iter().any(|c| matches!(
            c,
            Constraint::Colocation {
                with_role: Some("Promoted"),
                ..
            }
        )));
    }

    #[test]
    fn unknown_scripts_with_arguments_are_reported_with_their_line() {
        let (cib, r) = export("node1 198.51.100.10\nnode2 frobnicate::x::y\n");
        let lost: Vec<_> = r
            .entries()
            .iter()
            .filter(|e| e.kind == crate::export::report::Kind::Lost)
            .collect();
        assert_eq!(lost.len(), 2, "{:?}", r.entries());
        assert_eq!(lost[0].at.unwrap().line, 2);
        assert!(lost[0].text.contains("frobnicate::x::y"));
        assert!(lost[1].text.contains("none of its resources"));
        assert_eq!(cib.resources.len(), 1);
    }

    #[test]
    fn ipv6_addresses_keep_their_double_colons() {
        let (cib, r) = export("node1 IPv6addr::2001:db8::10/64/eth0\n");
        assert_eq!(r.lost_count(), 0);
        let Resource::Group { members, .. } = &cib.resources[0] else {
            panic!()
        };
        assert_eq!(members[0].params[0].1, "2001:db8::10");
        assert_eq!(members[0].params[2].1, "eth0");
    }
}
