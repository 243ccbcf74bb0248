extern crate std;

use super::*;
use heapless::String;

mod broken;
mod directives;
mod hbrelay;
mod media;
use std::format;
use std::string::{String as StdString, ToString};
use std::vec::Vec as StdVec;

fn run(text: &str) -> (Result<HaCf, Invalid>, StdVec<StdString>) {
    crate::config::testing::run(FileKind::HaCf, text, |t, d| HaCf::parse(t, &mut &mut *d))
}

fn ok(text: &str) -> (HaCf, StdVec<StdString>) {
    let (res, diags) = run(text);
    match res {
        Ok(cf) => (cf, diags),
        Err(e) => panic!("{e}: {diags:#?}"),
    }
}

fn refused(text: &str) -> StdVec<StdString> {
    crate::config::testing::refused(run(text))
}

/// A valid file that draws no warning; tests append a line 8.
const BASE: &str = "node alpha beta\n\
                    bcast eth0\n\
                    keepalive 1\n\
                    deadtime 10\n\
                    initdead 20\n\
                    auto_failback on\n\
                    logfile /var/log/ha-log\n";

fn with(extra: &str) -> StdString {
    format!("{BASE}{extra}")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn media(cf: &HaCf) -> StdVec<Medium> {
    cf.media.iter().map(|m| m.value.clone()).collect()
}

fn s<const N: usize>(text: &str) -> String<N> {
    bounded(text).unwrap()
}

#[test]
fn base_is_clean() {
    let (cf, diags) = ok(BASE);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(cf.node_names().collect::<StdVec<_>>(), ["alpha", "beta"]);
}

// --- the recorded vectors ------------------------------------------------------------

#[test]
fn vector_ha_cf_node1() {
    let (cf, diags) = ok(include_str!(
        "../../../../../../shared/vectors/heartbeat-3.0.6/ha.cf.node1"
    ));
    assert_eq!(
        diags,
        ["9:10: warning: Initial dead time [3000 ms] may be too small! Initial dead time accounts for slow \
          network startup time. It should be >= deadtime and >= 10 seconds"]
    );
    assert_eq!(cf.logfile.as_deref(), Some("/var/log/ha-log"));
    assert_eq!(cf.debugfile.as_deref(), Some("/var/log/ha-debug"));
    assert_eq!(cf.logfacility, None);
    assert!(!cf.use_logd);
    assert_eq!(cf.debug, 0);
    assert_eq!(cf.keepalive, ms(200));
    assert_eq!(cf.warntime, ms(600));
    assert_eq!(cf.deadtime, ms(1000));
    assert_eq!(cf.initdead, ms(3000));
    assert_eq!(cf.deadping, ms(1000));
    assert_eq!(cf.udpport, 694);
    assert_eq!(
        media(&cf),
        [
            Medium::Bcast {
                iface: s("eth1"),
                port: 694
            },
            Medium::Ucast {
                iface: s("eth0"),
                peer: s("198.51.100.12"),
                port: 694
            },
        ]
    );
    assert_eq!(cf.media[0].at, Pos::new(11, 7));
    assert_eq!(cf.media[1].at, Pos::new(12, 7));
    assert_eq!(cf.media[1].value.link_name(), "eth0");
    assert_eq!(cf.auto_failback, AutoFailback::On);
    assert_eq!(cf.node_names().collect::<StdVec<_>>(), ["node1", "node2"]);
    assert_eq!(cf.pacemaker, Pacemaker::Off);
    assert!(cf.manages_resources());
    assert_eq!(cf.check_local_node("node1"), Ok(()));
    assert_eq!(cf.check_local_node("NODE2"), Ok(()));
    let e = cf.check_local_node("Node3").unwrap_err();
    assert_eq!(
        e.to_string(),
        "14:6: Current node [node3] not in configuration! By default, cluster nodes are named by `uname -n` \
         and must be declared with a 'node' directive in the ha.cf file."
    );
    // Defaults for what the file does not say.
    assert_eq!(cf.hopfudge, DEFAULT_HOPFUDGE);
    assert_eq!(cf.baud, DEFAULT_BAUD);
    assert_eq!(cf.msgfmt, MsgFmt::Classic);
    assert_eq!(cf.hbgenmethod, GenMethod::File);
    assert_eq!(cf.uuidfrom, UuidFrom::File);
    assert_eq!(cf.autojoin, AutoJoin::None);
    assert!(cf.realtime && cf.coredumps && cf.syslogmsgfmt && cf.log_badpack);
    assert_eq!(cf.coreroot.as_str(), DEFAULT_COREROOT);
    assert_eq!(cf.cluster.as_str(), DEFAULT_CLUSTER);
    assert_eq!(cf.conn_logd_time, DEFAULT_CONN_LOGD_TIME);
    assert_eq!(cf.max_rexmit_delay, DEFAULT_MAX_REXMIT_DELAY);
    assert_eq!(cf.memreserve_kib, DEFAULT_MEMRESERVE_KIB);
    assert_eq!(cf.compression, Compression::Zlib);
    assert_eq!(
        cf.compression_threshold_kib,
        DEFAULT_COMPRESSION_THRESHOLD_KIB
    );
    assert_eq!(
        cf.apiauth_for("ipfail")
            .map(|a| (a.uids.as_str(), a.builtin)),
        Some(("hacluster", true))
    );
    assert_eq!(
        cf.apiauth_for("anon")
            .map(|a| a.gids().collect::<StdVec<_>>()),
        Some(std::vec!["haclient"])
    );
}

#[test]
fn vector_ha_cf_node2() {
    let (cf, diags) = ok(include_str!(
        "../../../../../../shared/vectors/heartbeat-3.0.6/ha.cf.node2"
    ));
    assert_eq!(diags.len(), 1);
    assert_eq!(
        media(&cf)[1],
        Medium::Ucast {
            iface: s("eth0"),
            peer: s("198.51.100.11"),
            port: 694
        }
    );
    assert_eq!(cf.check_local_node("node2"), Ok(()));
}

#[test]
fn vector_ha_cf_serial_node1() {
    let (cf, diags) = ok(include_str!(
        "../../../../../../shared/vectors/heartbeat-3.0.6/ha.cf.serial.node1"
    ));
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(cf.baud, 115_200);
    assert_eq!(
        media(&cf),
        [Medium::Serial {
            device: s("/dev/pts/0"),
            baud: 115_200
        }]
    );
    assert_eq!(cf.media[0].value.link_name(), "/dev/pts/0");
}
