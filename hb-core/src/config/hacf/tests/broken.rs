//! Broken files: the exact text and position of every problem.

use super::*;
use crate::config::MAX_LINE_LEN;
use proptest::prelude::*;

// --- broken files: exact text and position ------------------------------------------

#[test]
fn broken_unknown_directive() {
    assert_eq!(
        refused(&with("frobnicate 1\n")),
        ["8:1: Illegal directive [frobnicate] in /etc/ha.d/ha.cf"]
    );
    assert_eq!(
        refused(&with("  keepalvie 1\n")),
        ["8:3: Illegal directive [keepalvie] in /etc/ha.d/ha.cf (did you mean keepalive?)"]
    );
}

#[test]
fn broken_directive_case() {
    assert_eq!(
        refused(&with("Keepalive 2\n")),
        ["8:1: Illegal directive [Keepalive] in /etc/ha.d/ha.cf (directive names are case-sensitive: did you mean keepalive?)"]
    );
}

#[test]
fn broken_keepalive_unit() {
    assert_eq!(
        refused(&with("keepalive 2s\n")),
        ["8:11: keepalive: invalid time value [2s] (use a number of seconds, or a number with an ms suffix such as 500ms)"]
    );
    assert_eq!(
        refused(&with("keepalive 500 ms\n")),
        [
            "8:15: keepalive: invalid time value [ms] (use a number of seconds, or a number with an ms suffix such as 500ms)",
            // The 500 before it was taken as seconds.
            "4:10: Dead time [10000] is too small compared to keeplive [500000] (deadtime must be more than twice keepalive; values in ms)",
        ]
    );
    assert_eq!(
        refused(&with("keepalive 0.4ms\n")),
        ["8:11: keepalive: invalid time value [0.4ms] (keepalive must be more than 0 ms)"]
    );
    assert_eq!(refused(&with("deadtime 1m\n")).len(), 1);
    assert_eq!(
        refused(&with("initdead 99999999999999999999\n")),
        ["8:10: initdead: time value [99999999999999999999] is too large"]
    );
}

#[test]
fn broken_deadtime_vs_keepalive() {
    assert_eq!(
        refused(&with("deadtime 2\n")),
        ["8:10: Dead time [2000] is too small compared to keeplive [1000] (deadtime must be more than twice keepalive; values in ms)"]
    );
    // Pointing at keepalive when deadtime is the default.
    assert_eq!(
        refused("node a\nbcast eth0\nkeepalive 20\n"),
        [
            "3:11: Dead time [30000] is too small compared to keeplive [20000] (deadtime must be more than twice keepalive; values in ms)",
            "1:1: warning: Deprecated 'legacy' auto_failback option selected. Please convert to 'auto_failback on'. See documentation for conversion details.",
        ]
    );
}

#[test]
fn broken_initdead_below_deadtime() {
    assert_eq!(
        refused(&with("initdead 5\n")),
        ["8:10: Initial dead time [5000] is smaller than deadtime [10000]"]
    );
}

#[test]
fn broken_deadping() {
    assert_eq!(
        refused(&with("deadping 2\n")),
        ["8:10: Ping dead time [2000] is too small compared to keeplive [1000] (deadping must be more than twice keepalive; values in ms)"]
    );
}

#[test]
fn broken_warntime() {
    assert_eq!(
        refused(&with("warntime 0\n")),
        ["8:10: Warn time [0] is invalid. It must be more than 0 ms."]
    );
    assert_eq!(
        refused(&with("warntime 5x\n")),
        ["8:10: Warn time [5x] is invalid. Use a number of seconds, or a number with an ms suffix such as 500ms."]
    );
}

#[test]
fn broken_no_media() {
    assert_eq!(
        refused(&BASE.replace("bcast eth0\n", "")),
        ["1:1: No heartbeat media defined (add a bcast, mcast, ucast or serial line)"]
    );
}

#[test]
fn broken_no_nodes() {
    assert_eq!(
        refused(&BASE.replace("node alpha beta\n", "")),
        ["1:1: no nodes defined (declare the cluster members with a 'node' line)"]
    );
}

#[test]
fn broken_mcast_ttl() {
    assert_eq!(
        refused(&with("mcast eth0 224.1.2.3 694 9 0\n")),
        ["8:26: mcast [eth0] bad ttl [9] (use 0 to 4)"]
    );
}

#[test]
fn broken_mcast_addr() {
    assert_eq!(
        refused(&with("mcast eth0 10.0.0.1 694 1 0\n")),
        ["8:12: mcast [eth0] bad addr [10.0.0.1] (use an IPv4 multicast group, 224.0.0.0 to 239.255.255.255)"]
    );
}

#[test]
fn broken_mcast6_addr_as_3_0_6_checks_it() {
    // Global and interface-local scope, a flag other than transient, all zeros: 3.0.6 refuses.
    for g in [
        "ff0e::1:2",
        "ff01::1:2",
        "ff32::1:2",
        "ff02::",
        "2001:db8::1",
    ] {
        let line = std::format!("mcast6 eth0 {g} 694 1 0\n");
        let r = refused(&with(&line));
        assert_eq!(r.len(), 1, "{g}: {r:?}");
        assert!(
            r[0].starts_with(&std::format!("8:13: mcast6 [eth0] bad addr [{g}]")),
            "{g}: {r:?}"
        );
    }
    for g in ["ff02::1:2", "ff12::1:2:3:4", "ff05::99", "ff18::7"] {
        let line = std::format!("mcast6 eth0 {g} 694 1 0\n");
        ok(&with(&line));
    }
}

#[test]
fn broken_ucast6_addr() {
    for p in ["ff02::1", "::", "::1", "198.51.100.2", "node2"] {
        let line = std::format!("ucast6 eth0 {p}\n");
        assert_eq!(
            refused(&with(&line)),
            [std::format!(
                "8:13: ucast6 [eth0] bad addr [{p}] (use the peer's IPv6 address)"
            )],
            "{p}"
        );
    }
    assert_eq!(
        refused(&with("ucast6 eth0\n")),
        ["8:1: ucast6 [eth0] missing ucast6 address"]
    );
}

#[test]
fn broken_mcast_missing_fields() {
    assert_eq!(
        refused(&with("mcast eth0\n")),
        ["8:1: mcast [eth0] missing mcast address"]
    );
    assert_eq!(
        refused(&with("mcast eth0 239.0.0.1 694 1\n")),
        ["8:1: mcast [eth0] missing loop"]
    );
    assert_eq!(
        refused(&with("mcast eth0 239.0.0.1 0 1 0\n")),
        ["8:22: mcast [eth0] bad port [0] (use 1 to 65535)"]
    );
    assert_eq!(
        refused(&with("mcast eth0 239.0.0.1 694 1 2\n")),
        ["8:28: mcast [eth0] bad loop [2] (use 0 or 1)"]
    );
    assert_eq!(
        refused(&with("mcast\n")),
        ["8:1: mcast: missing interface (syntax: mcast <dev> <group> <port> <ttl> <loop>)"]
    );
}

#[test]
fn broken_ucast_without_peer() {
    assert_eq!(
        refused(&with("ucast eth1\n")),
        ["8:1: ucast: [eth1] missing target IP address/hostname"]
    );
}

#[test]
fn broken_baud_value() {
    assert_eq!(
        refused(&with("baud 1234\n")),
        ["8:6: invalid baudrate [1234] specified. Use one of 9600, 19200, 38400, 57600, 115200, 230400, 460800."]
    );
}

#[test]
fn broken_baud_twice() {
    assert_eq!(
        refused(&with("baud 19200\nbaud 38400\n")),
        ["9:6: Baudrate multiply specified."]
    );
    assert_eq!(
        refused(&with("baud 9600 19200\n")),
        ["8:11: Baudrate multiply specified."]
    );
}

#[test]
fn broken_serial_not_full_pathname() {
    assert_eq!(
        refused(&with("serial ttyS0\n")),
        ["8:8: Serial port not full pathname [ttyS0] in config file"]
    );
}

#[test]
fn broken_auto_failback_value() {
    assert_eq!(
        refused(&with("auto_failback maybe\n")),
        ["8:15: auto_failback: invalid value [maybe] (use on, off or legacy)"]
    );
}

#[test]
fn broken_logfacility() {
    assert_eq!(
        refused(&with("logfacility loca0\n")),
        ["8:13: Log facility(loca0) not valid (use none, auth, authpriv, cron, daemon, ftp, kern, lpr, mail, news, \
          security, syslog, user, uucp or local0 to local7)"]
    );
}

#[test]
fn broken_respawn_relative_command() {
    assert_eq!(
        refused(&with("respawn hacluster ipfail\n")),
        ["8:19: Client child command [ipfail] is not full pathname"]
    );
    assert_eq!(
        refused(&with("respawn\n")),
        ["8:1: respawn: missing user and command (syntax: respawn <user> </full/path/to/command> [args...])"]
    );
    let long_user = "u".repeat(64);
    assert_eq!(
        refused(&with(&format!("failfast {long_user} /bin/true\n"))),
        ["8:10: UID specified for client child is too long"]
    );
}

#[test]
fn broken_autojoin_with_haresources() {
    assert_eq!(
        refused(&with("autojoin any\n")),
        ["8:10: R1 style resource management conflicts with  autojoin set. You need either unset autojoin or enable crm"]
    );
    assert_eq!(
        refused(&with("autojoin sometimes\n")),
        ["8:10: Invalid autojoin directive [sometimes] (use none, other or any)"]
    );
}

#[test]
fn broken_hbgenmethod() {
    assert_eq!(
        refused(&with("hbgenmethod foo\n")),
        ["8:13: Illegal hb generation method [foo] (use file or time)"]
    );
    assert_eq!(
        refused(&with("uuidfrom File\n")),
        ["8:10: Invalid uuidfrom directive [File] (use file or nodename)"]
    );
}

#[test]
fn broken_use_logd_off_without_logging() {
    assert_eq!(
        refused(&BASE.replace("logfile /var/log/ha-log\n", "use_logd off\n")),
        ["7:10: No log entry found in ha.cf and use_logd is set to off (add a logfile, debugfile or logfacility line)"]
    );
}

#[test]
fn broken_udpport() {
    assert_eq!(
        refused(&with("udpport 0\n")),
        ["8:9: invalid port [0] specified. Use a UDP port from 1 to 65535."]
    );
    assert_eq!(refused(&with("udpport 70000\n")).len(), 1);
}

#[test]
fn broken_numbers_and_booleans() {
    assert_eq!(
        refused(&with("hopfudge 256\n")),
        ["8:10: hopfudge: invalid value [256] (use an integer from 0 to 255)"]
    );
    assert_eq!(
        refused(&with("debug -1\n")),
        ["8:7: debug: invalid level [-1] (use an integer from 0 to 255)"]
    );
    assert_eq!(
        refused(&with("rtprio 100\n")),
        ["8:8: Illegal realtime priority [100] (use an integer from 1 to 99)"]
    );
    assert_eq!(
        refused(&with("realtime sure\n")),
        ["8:10: realtime: invalid directive value [sure], expected a boolean (use on or off (yes/no, true/false, y/n and 1/0 also work))"]
    );
    assert_eq!(
        refused(&with("msgfmt xml\n")),
        ["8:8: msgfmt: invalid value [xml] (use classic or netstring)"]
    );
    assert_eq!(
        refused(&with("crm perhaps\n")),
        ["8:5: crm: invalid value [perhaps] (use on, off, respawn, manual, minimal or valgrind)"]
    );
    assert_eq!(
        refused(&with("watchdog /dev/a\nwatchdog /dev/b\n")),
        ["9:10: Watchdog device multiply specified."]
    );
    assert_eq!(
        refused(&with("env =x\n")),
        ["8:5: env: invalid nvpair(=x) (use NAME=value; children see it as HA_NAME)"]
    );
}

#[test]
fn broken_apiauth() {
    assert_eq!(
        refused(&with("apiauth ipfail\n")),
        ["8:9: Invalid apiauth directive [ipfail] (one of uid= or gid= must be given; syntax: apiauth client [uid=uidlist] [gid=gidlist])"]
    );
    assert_eq!(
        refused(&with("apiauth x uid=a\napiauth x gid=b\n")),
        ["9:9: Duplicate apiauth directive for API client x: [x gid=b]"]
    );
    assert_eq!(
        refused(&with("apiauth x uid=a uid=b\n")),
        ["8:17: Duplicate uid list in apiauth"]
    );
}

#[test]
fn broken_stonith() {
    assert_eq!(
        refused(&with("stonith\n")),
        ["8:1: No Stonith type given (syntax: stonith <type> <config-file>)"]
    );
    assert_eq!(
        refused(&with("stonith_host *\n")),
        ["8:1: No Stonith type given (syntax: stonith_host <from-host> <type> <params...>)"]
    );
}

#[test]
fn broken_ping_group_too_many_hosts() {
    let hosts: StdVec<StdString> = (0..=MAX_PING_GROUP_HOSTS)
        .map(|i| format!("10.0.0.{i}"))
        .collect();
    assert_eq!(
        refused(&with(&format!("ping_group g {}\n", hosts.join(" ")))),
        ["8:86: ping_group [g]: too many hosts (hb supports at most 8, 256 bytes in all)"]
    );
}

#[test]
fn broken_ping_group() {
    assert_eq!(
        refused(&with("ping_group grp\n")),
        ["8:12: ping_group [grp] has no hosts (syntax: ping_group <name> <host> [<host>...])"]
    );
}

#[test]
fn broken_capacities_are_errors() {
    let nodes: StdVec<StdString> = (0..1000)
        .map(|l| {
            format!(
                "node {}\n",
                (0..10)
                    .map(|i| format!("n{l}_{i}"))
                    .collect::<StdVec<_>>()
                    .join(" ")
            )
        })
        .collect();
    let diags = refused(&with(&nodes.concat()));
    assert_eq!(diags.len(), 10_000 + 2 - MAX_NODES);
    assert_eq!(
        diags[0],
        "9:26: too many nodes: hb supports at most 16 (heartbeat 100); node [n1_4] not added"
    );
    let bcasts: StdVec<StdString> = (0..MAX_MEDIA).map(|i| format!("eth{i}")).collect();
    assert_eq!(
        refused(&with(&format!("bcast {}\n", bcasts.join(",")))),
        ["8:87: Too many media specified (> 16)"]
    );
    assert_eq!(
        refused(&with("bcast averyveryverylongname\n")),
        ["8:7: bcast: interface name [averyveryverylongname] is too long (at most 15 bytes)"]
    );
    let long = "x".repeat(MAX_LINE_LEN + 1);
    assert_eq!(
        refused(&with(&long)),
        ["8:1: line is 5120 bytes long; heartbeat reads at most 5119 bytes per line"]
    );
}

#[test]
fn empty_and_odd_files_do_not_panic() {
    for text in ["", "\n", "#", "\r\n", "\u{feff}node a", "\0"] {
        let (res, diags) = run(text);
        assert!(res.is_err(), "{text:?}: {diags:?}");
    }
    // Odd but well-formed: heartbeat would accept it too (the daemon finds no such interface).
    assert!(run("node \u{1F600}\nbcast \u{0}").0.is_ok());
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in any::<StdString>()) {
        let _ = run(&text);
    }

    #[test]
    fn never_panics_on_directive_lines(
        lines in prop::collection::vec(
            (prop::sample::select(DIRECTIVES), prop::collection::vec("[ -~\t\r,#]{0,12}|[0-9.]{1,24}(ms|us)?", 0..7)),
            0..40,
        )
    ) {
        let text: StdVec<StdString> = lines.iter().map(|(d, ws)| format!("{d} {}", ws.join(" "))).collect();
        let _ = run(&text.join("\n"));
    }
}
