//! `stonith` / `stonith_host` → fencing resources. A cluster-glue device type that a
//! fence-agents agent drives is mapped to that agent (cluster-glue is deprecated, fence-agents
//! is what Pacemaker ships with); hb's relay board to the `fence_hbrelay` agent hb ships;
//! test-only and manual devices are reported, not mapped, and fencing stays off unless at
//! least one real device was mapped.

use super::cib::{Cib, Constraint, Op, Primitive, Resource};
use super::report::Report;
use super::resources::Ids;
use hb_core::config::{FileKind, HaCf, Pos};

/// A cluster-glue device type and its fence-agents mapping: cluster-glue's parameter names in
/// `stonith_host` order, and for each the fence agent's parameter it becomes.
struct Device {
    glue: &'static str,
    agent: &'static str,
    /// (cluster-glue name, fence agent name; `""` drops it, `pcmk_host_list` names the target)
    params: &'static [(&'static str, &'static str)],
    /// The device can list the hosts it fences (outlet names), so Pacemaker asks it.
    dynamic_list: bool,
}

const DEVICES: &[Device] = &[
    Device {
        glue: "external/ipmi",
        agent: "fence_ipmilan",
        params: &[
            ("hostname", "pcmk_host_list"),
            ("ipaddr", "ip"),
            ("userid", "username"),
            ("passwd", "password"),
            ("interface", "lanplus"),
        ],
        dynamic_list: false,
    },
    Device {
        glue: "ipmilan",
        agent: "fence_ipmilan",
        params: &[
            ("hostname", "pcmk_host_list"),
            ("ipaddr", "ip"),
            ("port", "ipport"),
            ("auth", "auth"),
            ("priv", "privlvl"),
            ("login", "username"),
            ("password", "password"),
        ],
        dynamic_list: false,
    },
    Device {
        glue: "apcmaster",
        agent: "fence_apc",
        params: &[
            ("ipaddr", "ip"),
            ("login", "username"),
            ("password", "password"),
        ],
        dynamic_list: true,
    },
    Device {
        glue: "apcmastersnmp",
        agent: "fence_apc_snmp",
        params: &[
            ("ipaddr", "ip"),
            ("port", "ipport"),
            ("community", "community"),
        ],
        dynamic_list: true,
    },
    Device {
        glue: "wti_nps",
        agent: "fence_wti",
        params: &[("ipaddr", "ip"), ("password", "password")],
        dynamic_list: true,
    },
];

/// Devices that do not fence a failed node.
const NOT_FENCING: &[(&str, &str)] = &[
    ("null", "the null device fences nothing (a test device)"),
    (
        "ssh",
        "ssh fencing needs the failed node to be up and answering: it is a test device, not fencing",
    ),
    (
        "external/ssh",
        "ssh fencing needs the failed node to be up and answering: it is a test device, not fencing",
    ),
    (
        "meatware",
        "a person resets the node: with Pacemaker, they confirm it with `stonith_admin --confirm NODE`",
    ),
    (
        "suicide",
        "a node cannot fence itself once it has failed; use sbd with a watchdog",
    ),
];

/// Adds a fencing resource for every device that maps; returns whether any did.
pub fn map(hacf: &HaCf, cib: &mut Cib, ids: &mut Ids, report: &mut Report) -> bool {
    let mut devices: Vec<(Pos, String, String, Option<String>)> = Vec::new();
    if let Some(s) = &hacf.stonith {
        let path = std::path::Path::new(s.value.config_file.as_str());
        match crate::stonith::config_file_params(path) {
            Ok(params) => devices.push((s.at, s.value.kind.to_string(), params, None)),
            Err(e) => report.lost(
                FileKind::HaCf,
                Some(s.at),
                format!(
                    "stonith {}: {e} (read on this machine; export where the file is)",
                    s.value.kind
                ),
            ),
        }
    }
    for h in &hacf.stonith_hosts {
        let from = Some(h.value.from_host.to_string()).filter(|f| f != "*");
        devices.push((
            h.at,
            h.value.kind.to_string(),
            h.value.params.to_string(),
            from,
        ));
    }
    let nodes: Vec<String> = hacf.node_names().map(str::to_string).collect();
    let mut mapped = false;
    for (at, kind, params, from) in devices {
        let words: Vec<&str> = params.split_whitespace().collect();
        let (agent, mut prim_params, target): (&str, Vec<(String, String)>, Option<String>) =
            if kind == "hbrelay" {
                if words.is_empty() {
                    report.lost(
                        FileKind::HaCf,
                        Some(at),
                        "hbrelay: no relay tty given".to_string(),
                    );
                    continue;
                }
                // The same parameter as hb's hbrelay plugin: the tty, then node=port pins.
                let pinned: Vec<&str> = words
                    .iter()
                    .skip(1)
                    .filter_map(|w| w.split_once('=').map(|(n, _)| n))
                    .collect();
                let hosts = if pinned.is_empty() {
                    nodes.join(" ")
                } else {
                    pinned.join(" ").to_lowercase()
                };
                (
                    "fence_hbrelay",
                    vec![
                        ("ttydev".into(), words.join(" ")),
                        ("pcmk_host_list".into(), hosts),
                    ],
                    None,
                )
            } else if let Some(d) = DEVICES.iter().find(|d| d.glue == kind) {
                if words.len() > d.params.len() {
                    report.lost(
                        FileKind::HaCf,
                        Some(at),
                        format!(
                            "{kind}: more parameters than cluster-glue's {} ({})",
                            d.params.len(),
                            d.params
                                .iter()
                                .map(|(g, _)| *g)
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                    );
                    continue;
                }
                let mut p = Vec::new();
                let mut target = None;
                for ((glue, name), value) in d.params.iter().zip(&words) {
                    match *name {
                        "" => {}
                        "lanplus" => {
                            if *value == "lanplus" {
                                p.push(("lanplus".into(), "1".into()));
                            }
                        }
                        "pcmk_host_list" => {
                            target = Some(value.to_lowercase());
                            p.push((name.to_string(), value.to_lowercase()));
                        }
                        _ => {
                            let _ = glue;
                            p.push((name.to_string(), value.to_string()));
                        }
                    }
                }
                if d.dynamic_list {
                    p.push(("pcmk_host_check".into(), "dynamic-list".into()));
                }
                (d.agent, p, target)
            } else {
                let why = NOT_FENCING
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map(|(_, w)| (*w).to_string())
                    .unwrap_or_else(|| {
                        format!(
                            "no fence agent is known for cluster-glue's `{kind}`; pick one from \
                             `stonith_admin --list-installed` and configure it by hand"
                        )
                    });
                report.lost(FileKind::HaCf, Some(at), format!("STONITH {kind}: {why}"));
                continue;
            };
        let id = ids.take(agent, target.as_deref().unwrap_or(""));
        prim_params.sort();
        cib.resources.push(Resource::Primitive(Primitive {
            id: id.clone(),
            class: "stonith",
            provider: None,
            kind: agent.to_string(),
            params: prim_params,
            ops: vec![Op::new("monitor", "60s", "30s")],
        }));
        // A node does not run the device that fences it (it could not, once failed).
        if let Some(t) = &target {
            cib.constraints.push(Constraint::Location {
                id: format!("{id}-not-on-target"),
                rsc: id.clone(),
                node: t.clone(),
                score: "-INFINITY".into(),
            });
        }
        // `stonith_host NODE …`: heartbeat used the device from NODE only.
        if let Some(f) = from {
            for n in nodes.iter().filter(|n| **n != f) {
                cib.constraints.push(Constraint::Location {
                    id: format!("{id}-only-on-{f}-not-{n}"),
                    rsc: id.clone(),
                    node: n.clone(),
                    score: "-INFINITY".into(),
                });
            }
        }
        let install = if agent == "fence_hbrelay" {
            "; install hb's fence_hbrelay as /usr/sbin/fence_hbrelay on every node and keep \
             /etc/ha.d/authkeys there (the relay checks requests against its key)"
        } else {
            ""
        };
        report.note(
            FileKind::HaCf,
            Some(at),
            format!("STONITH {kind} → stonith:{agent} ({id}){install}"),
        );
        mapped = true;
    }
    mapped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Cib, Report, bool) {
        let cf = HaCf::parse(text, &mut |e| assert!(e.is_warning(), "{e}")).unwrap();
        let mut cib = Cib::default();
        let mut r = Report::default();
        let mut ids = Ids::default();
        let on = map(&cf, &mut cib, &mut ids, &mut r);
        (cib, r, on)
    }

    #[test]
    fn ipmi_maps_to_fence_ipmilan_away_from_its_target() {
        let (cib, r, on) = run(
            "node a\nnode b\nbcast eth0\nstonith_host a external/ipmi b 198.51.100.99 admin secret lanplus\n",
        );
        assert!(on);
        assert_eq!(r.lost_count(), 0);
        let Resource::Primitive(p) = &cib.resources[0] else {
            panic!()
        };
        assert_eq!(p.kind, "fence_ipmilan");
        assert!(p.params.contains(&("lanplus".into(), "1".into())));
        assert!(p.params.contains(&("pcmk_host_list".into(), "b".into())));
        assert!(cib.constraints.iter().any(|c| matches!(c,
            Constraint::Location { node, score, .. } if node == "b" && score == "-INFINITY")));
    }

    #[test]
    fn test_devices_are_reported_and_leave_fencing_off() {
        let (cib, r, on) = run("node a\nnode b\nbcast eth0\nstonith_host * null a b\n");
        assert!(!on);
        assert!(cib.resources.is_empty());
        assert_eq!(r.lost_count(), 1);
        assert_eq!(r.entries()[0].at.unwrap().line, 4);
    }

    #[test]
    fn hbrelay_maps_to_fence_hbrelay_for_every_node() {
        let (cib, _, on) = run("node a\nnode b\nbcast eth0\nstonith_host * hbrelay /dev/ttyS1\n");
        assert!(on);
        let Resource::Primitive(p) = &cib.resources[0] else {
            panic!()
        };
        assert_eq!(p.kind, "fence_hbrelay");
        assert!(p.params.contains(&("pcmk_host_list".into(), "a b".into())));
    }
}
