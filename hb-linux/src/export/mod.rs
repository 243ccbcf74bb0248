//! `hbctl export pacemaker`: the bridge to Corosync + Pacemaker (issue 15). The user's ha.cf,
//! haresources and authkeys in (read with hb-core's parsers), and in OUTDIR:
//! - `corosync.conf` and a fresh `authkey` ([`corosync`]);
//! - `cib.xml` ([`cib`], [`resources`], [`fencing`]) for `cibadmin --replace --xml-file`;
//! - `REPORT.txt` ([`report`]): every line that could not be mapped, and why.
//!
//! Exit codes: 0 everything mapped (or `--force`), 1 some line could not be mapped (the files
//! are written all the same), 2 nothing written (unreadable or invalid input, bad OUTDIR).
//!
//! `fence_hbrelay` ([`fence`]), the fence agent for hb's relay board, is here too because it is
//! the one piece of hb a migrated cluster keeps.

pub mod cib;
pub mod corosync;
pub mod fence;
pub mod fencing;
pub mod report;
pub mod resources;

use cib::{Cib, Constraint, Op, Primitive, Resource, STAY_STICKINESS};
use corosync::NodeAddr;
use hb_core::config::{AuthKeys, AutoFailback, ConfigError, FileKind, HaCf, HaResources, Medium};
use report::Report;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const EXIT_OK: u8 = 0;
pub const EXIT_UNMAPPED: u8 = 1;
pub const EXIT_FAILED: u8 = 2;

/// `hbctl export pacemaker …`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to export to (only `pacemaker`).
    #[arg(value_parser = ["pacemaker"])]
    pub target: String,
    /// heartbeat's configuration directory.
    #[arg(short = 'c', long = "config-dir", default_value = "/etc/ha.d")]
    pub dir: PathBuf,
    /// Where to write corosync.conf, authkey, cib.xml and REPORT.txt (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// A node's address where no medium names one: NODE=IP (its next link without one, or the
    /// link whose ucast peer IP is) or NODE@IFACE=IP. Repeat for each.
    #[arg(long = "node-addr", value_name = "NODE[@IFACE]=IP")]
    pub node_addr: Vec<NodeAddr>,
    /// Exit 0 even when some lines could not be mapped, and overwrite files in OUTDIR.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args, out: &mut dyn Write) -> u8 {
    match export(args) {
        Ok(report) => {
            let lost = report.lost_count();
            let _ = writeln!(
                out,
                "wrote {}/{{corosync.conf,authkey,cib.xml,REPORT.txt}}: {}",
                args.out.display(),
                if lost == 0 {
                    "every line mapped".to_string()
                } else {
                    format!("{lost} line(s) NOT mapped, see REPORT.txt")
                }
            );
            if lost > 0 && !args.force {
                EXIT_UNMAPPED
            } else {
                EXIT_OK
            }
        }
        Err(e) => {
            eprintln!("hbctl export: {e}");
            EXIT_FAILED
        }
    }
}

/// Reads, maps and writes; `Err` when nothing was written.
fn export(args: &Args) -> Result<Report, String> {
    let path = |k: FileKind| args.dir.join(k.name());
    let hacf_text = read(&path(FileKind::HaCf))?;
    let hacf = HaCf::parse(&hacf_text, &mut printer(&path(FileKind::HaCf))).map_err(|_| {
        format!(
            "{}: invalid, nothing written",
            path(FileKind::HaCf).display()
        )
    })?;
    let mut report = Report::default();
    let mut ids = resources::Ids::default();
    let mut cib = Cib {
        nodes: hacf.node_names().map(str::to_string).collect(),
        ..Cib::default()
    };

    authkeys(&path(FileKind::AuthKeys), &mut report);
    if hacf.manages_resources() {
        let p = path(FileKind::HaResources);
        let text = read(&p)?;
        let res = HaResources::parse(&text, &mut printer(&p))
            .map_err(|_| format!("{}: invalid, nothing written", p.display()))?;
        res.check_nodes(hacf.node_names(), &mut printer(&p))
            .map_err(|_| format!("{}: invalid, nothing written", p.display()))?;
        resources::map(&res, &args.dir, &mut cib, &mut ids, &mut report);
    } else {
        report.lost(
            FileKind::HaCf,
            None,
            "crm/pacemaker is on: heartbeat ignores haresources and Pacemaker already holds \
             the resources; take them with `cibadmin --query` instead of this cib.xml",
        );
    }
    let fenced = fencing::map(&hacf, &mut cib, &mut ids, &mut report);
    ping(&hacf, &mut cib, &mut report);
    directives(&hacf_text, &mut report);

    let links = corosync::links(&hacf, &args.node_addr, &mut report);
    if links.is_empty() {
        return Err(format!(
            "no knet link: every node needs an address on at least one UDP medium's \
             interface (ucast peers, or --node-addr NODE=IP); nothing written\n{}",
            report.render(&args.dir)
        ));
    }

    cib.stickiness = match hacf.auto_failback {
        AutoFailback::On | AutoFailback::Legacy => 0,
        AutoFailback::Off => STAY_STICKINESS,
    };
    cib.properties = vec![
        ("stonith-enabled", fenced.to_string()),
        ("dc-deadtime", duration(hacf.initdead.as_millis().max(1000))),
    ];
    let (token, consensus) = corosync::timing(&hacf);
    if token + consensus > hacf.deadtime.as_millis() {
        report.note(
            FileKind::HaCf,
            None,
            format!(
                "deadtime {} ms is below what knet keeps links up with on a busy host: token \
                 {token} ms + consensus {consensus} ms, so a node is declared lost later than \
                 heartbeat did",
                hacf.deadtime.as_millis()
            ),
        );
    }
    if !fenced {
        report.note(
            FileKind::HaCf,
            None,
            "stonith-enabled=false: no STONITH device of ha.cf maps to a fence agent. Pacemaker \
             then cannot be sure a lost node released its resources; add a fence device \
             before production (see MIGRATING.md)",
        );
    }
    if hacf.auto_failback == AutoFailback::Legacy {
        report.note(
            FileKind::HaCf,
            None,
            "auto_failback legacy (heartbeat's default): mapped as `on` (resource-stickiness 0: \
             groups return to their node), which is what legacy does when every node runs it",
        );
    }

    write_all(args, &hacf, &links, &cib, &report)?;
    Ok(report)
}

fn write_all(
    args: &Args,
    hacf: &HaCf,
    links: &[corosync::Link],
    cib: &Cib,
    report: &Report,
) -> Result<(), String> {
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("{}: {}", args.out.display(), crate::errno_text(&e)))?;
    let key = corosync::new_authkey().map_err(|e| format!("/dev/urandom: {e}"))?;
    let files: [(&str, Vec<u8>, u32); 4] = [
        (
            "corosync.conf",
            corosync::render(hacf, links).into_bytes(),
            0o644,
        ),
        ("authkey", key, 0o400),
        // Fence device passwords may be in it.
        ("cib.xml", cib.render().into_bytes(), 0o600),
        ("REPORT.txt", report.render(&args.dir).into_bytes(), 0o644),
    ];
    if !args.force {
        for (name, ..) in &files {
            let p = args.out.join(name);
            if p.exists() {
                return Err(format!(
                    "{} exists; nothing written (--force overwrites)",
                    p.display()
                ));
            }
        }
    }
    for (name, bytes, mode) in files {
        let p = args.out.join(name);
        // A key must never be readable by others, not even for a moment.
        let _ = std::fs::remove_file(&p);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&p)
            .map_err(|e| format!("{}: {}", p.display(), crate::errno_text(&e)))?;
        f.write_all(&bytes)
            .map_err(|e| format!("{}: {}", p.display(), crate::errno_text(&e)))?;
    }
    Ok(())
}

/// Pacemaker's duration spelling: `120s`, or `1500ms`.
fn duration(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {}", path.display(), crate::errno_text(&e)))
}

/// Prints a parser's problems as `PATH:LINE:COL: message` (warnings too, on stderr).
fn printer(path: &Path) -> impl FnMut(ConfigError) + '_ {
    move |e| eprintln!("{}:{e}", path.display())
}

fn authkeys(path: &Path, report: &mut Report) {
    let why = "Corosync's knet encrypts and signs every packet with a binary key of its own \
               (aes256 + sha256 here); heartbeat's authkeys holds a text secret for its HMAC \
               signatures (a different algorithm and format), so a fresh `authkey` was written";
    match std::fs::read_to_string(path) {
        Ok(text) => match AuthKeys::parse(&text, &mut |_| {}) {
            Ok(keys) => report.note(
                FileKind::AuthKeys,
                None,
                format!(
                    "{} key not carried over: {why}",
                    keys.active().method().name()
                ),
            ),
            Err(_) => report.note(
                FileKind::AuthKeys,
                None,
                format!("invalid (ignored, see `hbctl check-config`): {why}"),
            ),
        },
        Err(_) => report.note(FileKind::AuthKeys, None, format!("not read: {why}")),
    }
}

/// `ping`/`ping_group` with ipfail → an `ocf:pacemaker:ping` clone and, for every group, a rule
/// preferring the node that reaches more of them (ipfail's decision).
fn ping(hacf: &HaCf, cib: &mut Cib, report: &mut Report) {
    let mut hosts: Vec<String> = Vec::new();
    let mut at = None;
    for m in &hacf.media {
        match &m.value {
            Medium::Ping { host } | Medium::Ping6 { host } => hosts.push(host.to_string()),
            Medium::PingGroup { hosts: h, .. } => hosts.extend(h.iter().map(str::to_string)),
            _ => continue,
        }
        at.get_or_insert(m.at);
    }
    let ipfail = hacf
        .client_children
        .iter()
        .find(|c| c.value.path().ends_with("/ipfail"));
    match (hosts.is_empty(), ipfail) {
        (true, None) => {}
        (true, Some(c)) => report.note(
            FileKind::HaCf,
            Some(c.at),
            "ipfail without ping nodes does nothing; nothing to map",
        ),
        (false, None) => report.note(
            FileKind::HaCf,
            at,
            "ping nodes without ipfail only showed their status in heartbeat; nothing moves on \
             them, so nothing is mapped",
        ),
        (false, Some(c)) => {
            let groups: Vec<String> = cib
                .resources
                .iter()
                .filter_map(|r| match r {
                    Resource::Group { id, .. } => Some(id.clone()),
                    _ => None,
                })
                .collect();
            cib.resources.push(Resource::Clone {
                id: "ping-clone".into(),
                meta: vec![("interleave", "true".into())],
                inner: Primitive {
                    id: "ping".into(),
                    class: "ocf",
                    provider: Some("pacemaker"),
                    kind: "ping".into(),
                    params: vec![
                        ("host_list".into(), hosts.join(" ")),
                        // Above any stickiness: ipfail moved resources on connectivity alone.
                        ("multiplier".into(), "1000".into()),
                        (
                            "dampen".into(),
                            format!("{}s", hacf.deadping.as_millis().div_ceil(1000)),
                        ),
                    ],
                    ops: vec![Op::new("monitor", "10s", "60s")],
                },
            });
            for g in groups {
                cib.constraints.push(Constraint::AttributeScore {
                    id: format!("{g}-on-connectivity"),
                    rsc: g,
                    attr: "pingd".into(),
                });
            }
            report.note(
                FileKind::HaCf,
                Some(c.at),
                "ipfail → ocf:pacemaker:ping clone (ping-clone); groups prefer the node that \
                 reaches more ping hosts (a ping_group counts each of its hosts)",
            );
        }
    }
}

/// What each ha.cf directive becomes, for the ones the other mappers do not report.
fn directives(text: &str, report: &mut Report) {
    const NOT_NEEDED: &[(&str, &str)] = &[
        ("keepalive", "Corosync's token rotation replaces heartbeats"),
        (
            "warntime",
            "Corosync logs token retransmits instead of late heartbeats",
        ),
        ("udpport", "knet uses UDP 5405 (open it in the firewall)"),
        ("hopfudge", "heartbeat's message TTL; no equivalent"),
        ("realtime", "Corosync runs at real-time priority itself"),
        ("rtprio", "Corosync runs at real-time priority itself"),
        ("memreserve", "heartbeat's memory tuning; no equivalent"),
        (
            "coredumps",
            "set with systemd (LimitCORE) for corosync/pacemaker",
        ),
        (
            "coreroot",
            "Pacemaker keeps cores in /var/lib/pacemaker/cores",
        ),
        (
            "hbgenmethod",
            "heartbeat's generation counter; no equivalent",
        ),
        ("uuidfrom", "Corosync names nodes by nodeid"),
        ("msgfmt", "heartbeat's wire format; no equivalent"),
        ("compression", "heartbeat's wire compression; no equivalent"),
        (
            "compression_threshold",
            "heartbeat's wire compression; no equivalent",
        ),
        (
            "traditional_compression",
            "heartbeat's wire compression; no equivalent",
        ),
        (
            "max_rexmit_delay",
            "heartbeat's retransmit tuning; no equivalent",
        ),
        ("log_badpack", "heartbeat's packet log; no equivalent"),
        (
            "use_logd",
            "Corosync and Pacemaker log to syslog and files themselves",
        ),
        ("conn_logd_time", "no logd with Corosync/Pacemaker"),
        (
            "syslogmsgfmt",
            "Corosync's log file has its own line format",
        ),
        (
            "apiauth",
            "heartbeat's client API; Pacemaker's tools use group haclient",
        ),
        (
            "record_config_changes",
            "Pacemaker keeps CIB history in /var/lib/pacemaker",
        ),
        (
            "record_pengine_inputs",
            "Pacemaker keeps scheduler inputs in /var/lib/pacemaker",
        ),
        ("enable_config_writes", "the CIB is always writable"),
        ("use_apphbd", "no apphbd with Corosync/Pacemaker"),
        (
            "debugfile",
            "Corosync has one log file; `debug` chooses its detail",
        ),
        ("baud", "serial links are not carried (see the serial line)"),
        ("deadping", "the ping resource's dampen"),
        ("initdead", "Pacemaker's dc-deadtime"),
    ];
    const LOST: &[(&str, &str)] = &[
        (
            "serial",
            "Corosync has no serial links: add a second network (ucast on another interface) as \
             a second knet link",
        ),
        (
            "relay",
            "the relay board carries no Corosync traffic; it remains a fence device \
             (fence_hbrelay)",
        ),
        (
            "watchdog",
            "Pacemaker's watchdog is sbd (stonith-watchdog-timeout), set up on its own",
        ),
        (
            "autojoin",
            "Corosync's nodelist is fixed: add nodes with corosync-cfgtool -R",
        ),
        ("quorum_server", "use corosync-qdevice with a qnetd server"),
        (
            "env",
            "resource scripts saw HA_ variables; OCF agents take instance parameters instead",
        ),
        ("hbaping", "no HBA ping in Pacemaker"),
        ("openais", "no openais medium in Corosync 3"),
        ("rds", "knet has no RDS transport"),
        ("tipc", "knet has no TIPC transport"),
        (
            "ucast6",
            "not mapped: give the IPv6 addresses with --node-addr on a link",
        ),
        (
            "failfast",
            "Pacemaker does not run programs: make it a resource (systemd: or ocf:) with \
             on-fail=fence",
        ),
    ];
    for (i, line) in text.split('\n').enumerate() {
        let line = line.split(['#', '\r']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(d) = words.next() else { continue };
        let d = d.to_lowercase();
        let at = Some(hb_core::config::Pos::new(
            u32::try_from(i + 1).unwrap_or(u32::MAX),
            1,
        ));
        if let Some((_, why)) = NOT_NEEDED.iter().find(|(n, _)| *n == d) {
            report.note(FileKind::HaCf, at, format!("{d}: {why}"));
        } else if let Some((_, why)) = LOST.iter().find(|(n, _)| *n == d) {
            let value = words.clone().next().unwrap_or("");
            if (d == "watchdog" && value.is_empty()) || (d == "autojoin" && value == "none") {
                continue;
            }
            report.lost(FileKind::HaCf, at, format!("{d}: {why}"));
        } else if d == "respawn" {
            let prog = words.nth(1).unwrap_or("");
            if !prog.ends_with("/ipfail") {
                report.lost(
                    FileKind::HaCf,
                    at,
                    format!(
                        "respawn {prog}: Pacemaker does not respawn programs: make it a \
                         resource (systemd:, ocf:) or a systemd service with Restart=always"
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_without_an_equivalent_are_lost_tuning_is_a_note() {
        let mut r = Report::default();
        directives(
            "keepalive 2 # comment\nautojoin none\nautojoin any\nrespawn hacluster /usr/lib/heartbeat/ipfail\n\
             respawn root /usr/sbin/mydaemon\nwatchdog /dev/watchdog\n# serial /dev/ttyS0\n",
            &mut r,
        );
        let lost: Vec<(u32, &str)> = r
            .entries()
            .iter()
            .filter(|e| e.kind == report::Kind::Lost)
            .map(|e| (e.at.unwrap().line, e.text.as_str()))
            .collect();
        assert_eq!(lost.len(), 3, "{lost:?}");
        assert_eq!(lost[0].0, 3);
        assert!(
            lost[1].1.starts_with("respawn /usr/sbin/mydaemon"),
            "{lost:?}"
        );
        assert_eq!(lost[2].0, 6);
        assert_eq!(r.entries().len(), 4, "keepalive is the one note");
    }

    #[test]
    fn durations_read_as_pacemaker_writes_them() {
        assert_eq!(duration(120_000), "120s");
        assert_eq!(duration(1500), "1500ms");
    }
}
