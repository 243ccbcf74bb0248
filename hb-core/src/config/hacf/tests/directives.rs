//! Directives and the values they take, as heartbeat applies them.

use super::*;

// --- classic examples ----------------------------------------------------------------

#[test]
fn respawn_line() {
    let (cf, diags) = ok(&with(
        "respawn hacluster /usr/lib/heartbeat/ipfail\nfailfast root /usr/bin/check -x, y\n",
    ));
    assert!(diags.is_empty(), "{diags:?}");
    let c = &cf.client_children;
    assert_eq!(c[0].value.user.as_str(), "hacluster");
    assert_eq!(c[0].value.command.as_str(), "/usr/lib/heartbeat/ipfail");
    assert_eq!(c[0].value.path(), "/usr/lib/heartbeat/ipfail");
    assert!(!c[0].value.failfast);
    assert_eq!(c[0].at, Pos::new(8, 1));
    // Whole-line: commas are not separators.
    assert_eq!(c[1].value.command.as_str(), "/usr/bin/check -x, y");
    assert_eq!(c[1].value.path(), "/usr/bin/check");
    assert!(c[1].value.failfast);
}

#[test]
fn time_values() {
    let (cf, diags) = ok("node a\nbcast eth0\nkeepalive 500ms\ndeadtime 1.5\nwarntime 10\n");
    assert_eq!(
        (cf.keepalive, cf.deadtime, cf.warntime),
        (ms(500), ms(1500), ms(10_000))
    );
    // deadtime < 6 s: initdead 12 s.
    assert_eq!(cf.initdead, ms(12_000));
    assert_eq!(diags.len(), 1); // legacy
    let (cf, _) = ok("node a\nbcast eth0\ndeadtime 8\n");
    assert_eq!(
        (cf.initdead, cf.warntime, cf.deadping),
        (ms(16_000), ms(4000), ms(8000))
    );
    let (cf, _) = ok("node a\nbcast eth0\n");
    assert_eq!(
        (cf.keepalive, cf.deadtime, cf.initdead, cf.warntime),
        (
            DEFAULT_KEEPALIVE,
            DEFAULT_DEADTIME,
            DEFAULT_DEADTIME,
            ms(15_000)
        )
    );
}

#[test]
fn option_words_are_applied_one_by_one() {
    let (cf, diags) = ok(&with("node a b,c\nkeepalive 1 2\ndeadtime 10,20\n"));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(
        cf.node_names().collect::<StdVec<_>>(),
        ["alpha", "beta", "a", "b", "c"]
    );
    assert_eq!((cf.keepalive, cf.deadtime), (ms(2000), ms(20_000)));
}

#[test]
fn node_names_are_lowercased_and_repeats_ignored() {
    let (cf, diags) = ok(&with("node Gamma ALPHA\n"));
    assert_eq!(
        cf.node_names().collect::<StdVec<_>>(),
        ["alpha", "beta", "gamma"]
    );
    assert_eq!(
        diags,
        ["8:12: warning: node [alpha] is declared more than once; the repeat is ignored"]
    );
    assert!(cf.has_node("GAMMA"));
}

#[test]
fn udp_is_bcast_with_a_warning() {
    let (cf, diags) = ok("node a\nudp eth0\nauto_failback off\nlogfile /dev/null\n");
    assert_eq!(
        media(&cf),
        [Medium::Bcast {
            iface: s("eth0"),
            port: 694
        }]
    );
    assert_eq!(diags, ["2:1: warning: directive 'udp' replaced by 'bcast'"]);
    assert_eq!(cf.auto_failback, AutoFailback::Off);
}

#[test]
fn nice_failback_alone_means_legacy() {
    let (cf, diags) = ok(&BASE.replace("auto_failback on\n", "nice_failback on\n"));
    assert_eq!(cf.auto_failback, AutoFailback::Legacy);
    assert_eq!(
        diags,
        [
            "6:15: warning: nice_failback flag is obsolete.. Use auto_failback {on, off, legacy} instead. \
             nice_failback on has been strictly interpreted as 'auto_failback legacy'. Consider converting to \
             'auto_failback on'.",
            "6:15: warning: Deprecated 'legacy' auto_failback option selected. Please convert to 'auto_failback on'. \
             See documentation for conversion details.",
        ]
    );
    // Its value does not matter either.
    let (cf, _) = ok(&BASE.replace("auto_failback on\n", "nice_failback off\n"));
    assert_eq!(cf.auto_failback, AutoFailback::Legacy);
}

#[test]
fn nice_failback_after_auto_failback_means_off() {
    let (cf, diags) = ok(&with("nice_failback on\n"));
    assert_eq!(cf.auto_failback, AutoFailback::Off);
    assert_eq!(
        diags,
        ["8:15: warning: nice_failback flag is obsolete.. Use auto_failback {on, off, legacy} instead. \
          'nice_failback on' has been changed to 'auto_failback off'"]
    );
    // A later auto_failback wins again.
    let (cf, _) = ok(&with("nice_failback on\nauto_failback on\n"));
    assert_eq!(cf.auto_failback, AutoFailback::On);
}

#[test]
fn comments_blank_lines_and_crlf() {
    let text = "#\n# whole-line comment\n\n   \t\nnode a b # trailing\r\nbcast eth0#glued\r\n\
                keepalive 1#2\r\ndeadtime 10\r\ninitdead 20\r\nauto_failback on\r\nlogfile /l\r\n#";
    let (cf, diags) = ok(text);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(cf.node_names().collect::<StdVec<_>>(), ["a", "b"]);
    assert_eq!(
        media(&cf),
        [Medium::Bcast {
            iface: s("eth0"),
            port: 694
        }]
    );
    assert_eq!(cf.keepalive, ms(1000));
    assert_eq!(cf.logfile.as_deref(), Some("/l"));
}

#[test]
fn a_directive_without_value_is_ignored_with_a_warning() {
    let (cf, diags) = ok(&with("keepalive\nbcast ,\n"));
    assert_eq!(cf.keepalive, ms(1000));
    assert_eq!(cf.media.len(), 1);
    assert_eq!(
        diags,
        [
            "8:1: warning: keepalive has no value; line ignored",
            "9:1: warning: bcast has no value; line ignored"
        ]
    );
}

#[test]
fn ping_media_and_other_directives() {
    let text = with(
        "ping 10.0.0.254 GW.example\nping_group Routers 10.0.0.1 10.0.0.2\nmcast6 eth0 ff02::1:2 694 1 1\n\
         ping6 fe80::1\nhbaping fc0\nrds whatever it takes\n\
         apiauth ipfail gid=haclient uid=alice,bob\napiauth mon uid=root\nenv FOO=bar=baz\n\
         stonith baytech /etc/ha.d/conf/stonith.baytech\nstonith_host * apcsmart /dev/ttyS1 x,y\n\
         stonith_host NODE2 null a\nwatchdog /dev/watchdog\nlogfacility local3\ndebugfile /d\ncrm respawn\n\
         msgfmt netstring\nhbgenmethod time\nuuidfrom nodename\nrtprio 5\nrealtime off\ncluster c1\n\
         compression bz2\ncompression_threshold 4\ntraditional_compression yes\nmax_rexmit_delay 500\n\
         hopfudge 3\ndebug 2\nmemreserve 100\ncoredumps n\ncoreroot /tmp\nconn_logd_time 10\nsyslogmsgfmt false\n\
         log_badpack 0\nuse_apphbd y\nrecord_config_changes off\nrecord_pengine_inputs no\nenable_config_writes 0\n\
         use_logd yes\ndeadping 30\nautojoin none\n",
    );
    let (cf, diags) = ok(&text);
    assert!(diags.is_empty(), "{diags:?}");
    let m = media(&cf);
    assert_eq!(
        m[1],
        Medium::Ping {
            host: s("10.0.0.254")
        }
    );
    assert_eq!(
        m[2],
        Medium::Ping {
            host: s("gw.example")
        }
    );
    let Medium::PingGroup { name, hosts } = &m[3] else {
        panic!("{:?}", m[3])
    };
    assert_eq!(name.as_str(), "routers");
    assert_eq!(
        (hosts.iter().collect::<StdVec<_>>(), hosts.len()),
        (std::vec!["10.0.0.1", "10.0.0.2"], 2)
    );
    let mut group = [0u8; 16];
    group[0] = 0xff;
    group[1] = 0x02;
    group[13] = 1;
    group[15] = 2;
    assert_eq!(
        m[4],
        Medium::Mcast6 {
            iface: s("eth0"),
            group,
            port: 694,
            hops: 1,
            loopback: true
        }
    );
    assert_eq!(m[5], Medium::Ping6 { host: s("fe80::1") });
    let (cf6, _) = ok(&with(
        "udpport 700\nucast6 eth0 2001:db8::2\nucast6 eth1 fe80::2%eth1\n",
    ));
    let m6 = media(&cf6);
    assert_eq!(
        &m6[m6.len() - 2..],
        [
            Medium::Ucast6 {
                iface: s("eth0"),
                peer: s("2001:db8::2"),
                port: 700
            },
            Medium::Ucast6 {
                iface: s("eth1"),
                peer: s("fe80::2%eth1"),
                port: 700
            }
        ]
    );
    assert_eq!(
        m[6],
        Medium::Other {
            kind: OtherMedium::Hbaping,
            args: s("fc0")
        }
    );
    assert_eq!(
        m[7],
        Medium::Other {
            kind: OtherMedium::Rds,
            args: s("whatever it takes")
        }
    );
    assert!(m[1].is_ping() && m[3].is_ping() && !m[0].is_ping());
    let ipfail = cf.apiauth_for("ipfail").unwrap();
    assert_eq!(
        (
            ipfail.uids().collect::<StdVec<_>>(),
            ipfail.gids.as_str(),
            ipfail.builtin
        ),
        (std::vec!["alice", "bob"], "haclient", false)
    );
    assert_eq!(cf.apiauth_for("mon").map(|a| a.uids.as_str()), Some("root"));
    assert_eq!(cf.apiauth.len(), 2 + 4);
    assert_eq!(
        (cf.env[0].name.as_str(), cf.env[0].value.as_str()),
        ("FOO", "bar=baz")
    );
    let st = cf.stonith.as_ref().unwrap();
    assert_eq!(
        (st.value.kind.as_str(), st.value.config_file.as_str()),
        ("baytech", "/etc/ha.d/conf/stonith.baytech")
    );
    assert_eq!(cf.stonith_hosts[0].value.params.as_str(), "/dev/ttyS1 x,y");
    assert_eq!(cf.stonith_hosts_for("node1").count(), 1);
    assert_eq!(cf.stonith_hosts_for("node2").count(), 2);
    assert_eq!(cf.watchdog.as_deref(), Some("/dev/watchdog"));
    assert_eq!(cf.syslog_facility(), Some(LogFacility::Local3));
    assert_eq!(LogFacility::Local3.code(), 19 << 3);
    assert_eq!(cf.pacemaker, Pacemaker::Respawn);
    assert!(!cf.manages_resources());
    assert_eq!(
        (cf.msgfmt, cf.hbgenmethod, cf.uuidfrom),
        (MsgFmt::Netstring, GenMethod::Time, UuidFrom::NodeName)
    );
    assert_eq!(
        (cf.rtprio, cf.realtime, cf.cluster.as_str()),
        (Some(5), false, "c1")
    );
    assert_eq!(
        (
            cf.compression,
            cf.compression_threshold_kib,
            cf.traditional_compression
        ),
        (Compression::Bz2, 4, true)
    );
    assert_eq!(
        (
            cf.max_rexmit_delay,
            cf.hopfudge,
            cf.debug,
            cf.memreserve_kib
        ),
        (ms(500), 3, 2, 100)
    );
    assert_eq!(
        (
            cf.coredumps,
            cf.coreroot.as_str(),
            cf.conn_logd_time,
            cf.syslogmsgfmt
        ),
        (false, "/tmp", ms(10_000), false)
    );
    assert!(
        !cf.log_badpack && cf.use_apphbd && !cf.record_config_changes && !cf.record_pengine_inputs
    );
    assert!(!cf.enable_config_writes && cf.use_logd);
    assert_eq!(cf.deadping, ms(30_000));
}

#[test]
fn syslog_only_points_files_at_dev_null() {
    let (cf, diags) = ok("node a\nbcast eth0\nauto_failback on\nlogfacility daemon\n");
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(
        (cf.logfile.as_deref(), cf.debugfile.as_deref(), cf.use_logd),
        (Some("/dev/null"), Some("/dev/null"), false)
    );
    // `kern` counts as no facility in heartbeat.
    let (cf, _) = ok("node a\nbcast eth0\nauto_failback on\nlogfacility kern\n");
    assert_eq!(
        (cf.logfile.as_deref(), cf.use_logd, cf.syslog_facility()),
        (None, true, None)
    );
}

#[test]
fn quorum_server_overwrites_cluster() {
    let (cf, _) = ok(&with("cluster one\nquorum_server q.example\n"));
    assert_eq!(
        (cf.cluster.as_str(), cf.quorum_server.as_deref()),
        ("q.example", Some("q.example"))
    );
}

#[test]
fn autojoin_any_needs_no_nodes_with_crm() {
    let (cf, _) = ok("bcast eth0\nautojoin any\ncrm on\n");
    assert!(cf.nodes.is_empty());
    assert_eq!(cf.check_local_node("whoever"), Ok(()));
}

#[test]
fn every_listed_directive_is_legal() {
    for d in DIRECTIVES {
        let (_, diags) = run(&with(&format!("{d} x\n")));
        assert!(
            !diags.iter().any(|m| m.contains("Illegal directive")),
            "{d}: {diags:?}"
        );
    }
}

#[test]
fn many_problems_are_all_reported() {
    let diags = refused("bogus\nkeepalive 2s x\nnode a\nmcast eth0 10.0.0.1 694 1 0\nbaud 1\n");
    assert_eq!(diags.len(), 7, "{diags:#?}");
}
