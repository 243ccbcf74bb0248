//! One scenario per row of the decision table (behaviour spec §4.9) and per mode, on two
//! nodes: node1 (X) and node2 (Y), each the preferred node of one group. Each test checks where
//! the groups end up (what the fake daemons really run) and the exact resource messages both
//! nodes sent, in order (wire spec §5.4).

mod resources_support;

use hb_core::config::AutoFailback::{self, Legacy, Off, On};
use hb_core::resources::{Action, Command, FenceResult, StandbySet};
use resources_support::Cluster;

const HARESOURCES: &str = "\
node1 IPaddr2::10.0.0.1/24/eth0 httpd
node2 IPaddr2::10.0.0.2/24/eth0
";
const G1: &str = "IPaddr2::10.0.0.1/24/eth0";
const G2: &str = "IPaddr2::10.0.0.2/24/eth0";

fn cluster(mode: AutoFailback) -> Cluster {
    Cluster::new(&["node1", "node2"], HARESOURCES, mode)
}

/// Both up and settled: each runs its own group.
fn settled(mode: AutoFailback) -> Cluster {
    let mut c = cluster(mode);
    c.start(&["node1", "node2"]);
    c.settle();
    expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
    c
}

fn placement(c: &Cluster) -> Vec<(&'static str, String)> {
    c.placement()
        .into_iter()
        .map(|(k, o)| (if k == G1 { G1 } else { G2 }, o))
        .collect::<Vec<_>>()
}

fn show(c: &Cluster, from: usize) -> String {
    c.transcript(from).join("\n")
}

#[track_caller]
fn expect_transcript(c: &Cluster, from: usize, expected: &[&str]) {
    let got = c.transcript(from);
    let got: Vec<&str> = got.iter().map(|s| s.as_str()).collect();
    assert_eq!(got, expected, "\n--- got:\n{}\n", show(c, from));
}

#[track_caller]
fn expect_placement(c: &Cluster, expected: [(&str, &str); 2]) {
    let got = placement(c);
    let got: Vec<(&str, &str)> = got.iter().map(|(k, o)| (*k, o.as_str())).collect();
    assert_eq!(got, expected);
}

#[track_caller]
fn logged(c: &Cluster, node: &str, line: &str) {
    assert!(
        c.logs(node).iter().any(|l| l.ends_with(line)),
        "{node} did not log {line:?}: {:#?}",
        c.logs(node)
    );
}

const NICE: [AutoFailback; 2] = [Off, On];

// The messages of a normal simultaneous start in auto_failback on/off (§5.4 a): both send
// `starting`, both answer "none, unstable", and after RQSTDELAY each takes its own group.
const NICE_START: &[&str] = &[
    "node1: t=starting",
    "node2: t=starting",
    "node2: t=resource rsc_hold=none rtype=full isstable=0",
    "node1: t=resource rsc_hold=none rtype=full isstable=0",
    "node1: t=resource rsc_hold=local rtype=full isstable=1",
    "node1: t=ip-request-resp dest=node1 ipaddr=IPaddr2::10.0.0.1/24/eth0 weown=yes ok=OK",
    "node1: t=resource rsc_hold=local rtype=full isstable=1 info=req_our_resources()",
    "node2: t=resource rsc_hold=local rtype=full isstable=1",
    "node2: t=ip-request-resp dest=node2 ipaddr=IPaddr2::10.0.0.2/24/eth0 weown=yes ok=OK",
    "node2: t=resource rsc_hold=local rtype=full isstable=1 info=req_our_resources()",
    "node2: t=resource rsc_hold=local rtype=full isstable=1",
    "node1: t=resource rsc_hold=local rtype=full isstable=1",
];

// ---------------------------------------------------------------------------------------------
// Row 1: X starts, Y never heard within initdead.

#[test]
fn row1_alone_legacy_takes_everything() {
    let mut c = cluster(Legacy);
    c.start(&["node1"]);
    c.settle();
    expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
    expect_transcript(
        &c,
        0,
        &[
            "node1: t=stonith node=node2 result=n_stnth",
            "node1: t=ip-request-resp dest=node1 ipaddr=IPaddr2::10.0.0.1/24/eth0 weown=yes ok=OK",
        ],
    );
    logged(&c, "node1", "No STONITH device configured.");
    logged(&c, "node1", "Shared disks are not protected.");
    logged(&c, "node1", "Resources being acquired from node2.");
    logged(
        &c,
        "node1",
        "Taking over resource group IPaddr2::10.0.0.2/24/eth0",
    );
}

#[test]
fn row1_alone_nice_takes_everything() {
    for mode in NICE {
        let mut c = cluster(mode);
        c.start(&["node1"]);
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
        expect_transcript(
            &c,
            0,
            &[
                "node1: t=stonith node=node2 result=n_stnth",
                "node1: t=starting",
                "node1: t=ip-request-resp dest=node1 ipaddr=IPaddr2::10.0.0.1/24/eth0 weown=yes ok=OK",
                "node1: t=resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()",
                "node1: t=resource rsc_hold=foreign info=mach_down",
                // RQSTDELAY later: STABLE.
                "node1: t=resource rsc_hold=all rtype=full isstable=1",
            ],
        );
        logged(&c, "node1", "mach_down takeover complete.");
        logged(&c, "node1", "local resource transition completed.");
        assert_eq!(c.m("node1").rscstatus(), "all");
    }
}

/// With a STONITH device, nothing of Y's is taken before a reset succeeds; failures are
/// retried every 5 s. (In legacy mode, as in 3.0.6, X's own groups are requested at comm-up
/// regardless: legacy `req_our_resources` does not wait.)
#[test]
fn row1_alone_with_stonith_fences_first_and_retries() {
    for mode in [Legacy, Off, On] {
        let mut c = cluster(mode);
        c.stonith = true;
        c.fence_results = vec![FenceResult::Failed, FenceResult::BadHost, FenceResult::Ok];
        c.start(&["node1"]);
        // Two failures, 5 s apart: still nothing of node2's.
        c.run_for(9_000);
        assert_eq!(c.owners(G2), Vec::<String>::new(), "{mode:?}");
        let fences = c.nodes[0]
            .actions
            .iter()
            .filter(|a| matches!(a, Action::Fence(_)))
            .count();
        assert_eq!(fences, 2, "{mode:?}");
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
        let stonith: Vec<String> = c
            .transcript(0)
            .into_iter()
            .filter(|l| l.contains("t=stonith"))
            .collect();
        assert_eq!(
            stonith,
            [
                "node1: t=stonith node=node2 result=bad",
                "node1: t=stonith node=node2 result=badhost",
                "node1: t=stonith node=node2 result=OK",
            ],
            "{mode:?}"
        );
        logged(&c, "node1", "Host node2 not reset!");
        logged(&c, "node1", "STONITH of node2 failed.  Retrying...");
        logged(&c, "node1", "node node2 now reset.");
        if mode != Legacy {
            expect_transcript(
                &c,
                0,
                &[
                    "node1: t=starting",
                    "node1: t=stonith node=node2 result=bad",
                    "node1: t=stonith node=node2 result=badhost",
                    "node1: t=stonith node=node2 result=OK",
                    "node1: t=ip-request-resp dest=node1 ipaddr=IPaddr2::10.0.0.1/24/eth0 weown=yes ok=OK",
                    "node1: t=resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()",
                    "node1: t=resource rsc_hold=foreign info=mach_down",
                    "node1: t=resource rsc_hold=all rtype=full isstable=1",
                ],
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Row 2: X starts, Y up and holding X's groups.

fn y_holds_everything(mode: AutoFailback) -> (Cluster, usize) {
    let mut c = cluster(mode);
    c.start(&["node2"]);
    c.settle();
    expect_placement(&c, [(G1, "node2"), (G2, "node2")]);
    let from = c.sent.len();
    c.start(&["node1"]);
    c.settle();
    (c, from)
}

#[test]
fn row2_legacy_x_asks_and_y_releases() {
    let (c, from) = y_holds_everything(Legacy);
    expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
    expect_transcript(
        &c,
        from,
        &[
            "node1: t=ip-request ipaddr=IPaddr2::10.0.0.1/24/eth0",
            "node2: t=ip-request-resp dest=node1 ipaddr=IPaddr2::10.0.0.1/24/eth0 weown=yes ok=OK",
        ],
    );
}

#[test]
fn row2_off_x_takes_nothing() {
    let (c, from) = y_holds_everything(Off);
    expect_placement(&c, [(G1, "node2"), (G2, "node2")]);
    expect_transcript(
        &c,
        from,
        &[
            "node1: t=starting",
            "node2: t=resource rsc_hold=all rtype=full isstable=1",
            "node1: t=resource rsc_hold=none rtype=full isstable=0",
            "node1: t=resource rsc_hold=none rtype=full isstable=1",
            "node2: t=resource rsc_hold=all rtype=full isstable=1",
        ],
    );
    logged(&c, "node1", "Local Resource acquisition completed. (none)");
    assert_eq!(c.m("node1").rscstatus(), "none");
    assert_eq!(c.m("node2").rscstatus(), "all");
}

/// The capture's phase 04, with our two groups.
#[test]
fn row2_on_y_hands_back_through_standby() {
    let (c, from) = y_holds_everything(On);
    expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
    expect_transcript(
        &c,
        from,
        &[
            "node1: t=starting",
            "node2: t=resource rsc_hold=all rtype=full isstable=1",
            "node1: t=resource rsc_hold=none rtype=full isstable=0",
            "node1: t=resource rsc_hold=none rtype=full isstable=1",
            "node2: t=resource rsc_hold=all rtype=full isstable=1",
            "node2: t=ask_resources rsc_hold=foreign info=me hb_sbid=1",
            "node1: t=ask_resources rsc_hold=foreign info=other hb_sbid=1",
            "node2: t=resource rsc_hold=local rtype=full isstable=0 info=standby",
            "node2: t=ask_resources rsc_hold=foreign info=done hb_sbid=1",
            "node1: t=ask_resources rsc_hold=foreign info=done hb_sbid=1",
            "node1: t=resource rsc_hold=local rtype=full isstable=1",
            "node2: t=resource rsc_hold=local rtype=full isstable=1",
            "node2: t=resource rsc_hold=local rtype=full isstable=1",
            "node1: t=resource rsc_hold=local rtype=full isstable=1",
        ],
    );
    logged(&c, "node2", "node2 wants to go standby [foreign]");
    logged(&c, "node2", "standby: node1 can take our foreign resources");
    logged(
        &c,
        "node1",
        "standby: acquire [foreign] resources from node2",
    );
    logged(
        &c,
        "node1",
        "Initial resource acquisition complete (auto_failback)",
    );
    logged(
        &c,
        "node2",
        "Other node completed standby takeover of foreign resources.",
    );
}

// ---------------------------------------------------------------------------------------------
// Row 3: X starts, Y up, X's groups unowned. This is what happens when X's communication comes
// up only after Y's RQSTDELAY: Y heard X (so X is not dead) but got no answer, and took only its
// own groups.

fn x_late(mode: AutoFailback) -> (Cluster, usize) {
    let mut c = cluster(mode);
    c.power_on(&["node1", "node2"]);
    c.comm_up("node2");
    c.run_for(12_000);
    let from = c.sent.len();
    c.comm_up("node1");
    c.settle();
    (c, from)
}

#[test]
fn row3_legacy_x_asks_y_answers_and_x_takes() {
    let (c, from) = x_late(Legacy);
    expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
    // Unlike 3.0.6, node2 did not take its group at its comm-up: node1 said `up`, which may be
    // stale (issue 12's start-up race), so node2 waited for node1's `active` and then asked.
    expect_transcript(
        &c,
        from,
        &[
            "node1: t=ip-request ipaddr=IPaddr2::10.0.0.1/24/eth0",
            "node2: t=ip-request ipaddr=IPaddr2::10.0.0.2/24/eth0",
            "node2: t=ip-request-resp dest=node1 ipaddr=IPaddr2::10.0.0.1/24/eth0 weown=no ok=OK",
            "node1: t=ip-request-resp dest=node2 ipaddr=IPaddr2::10.0.0.2/24/eth0 weown=no ok=OK",
        ],
    );
}

/// In auto_failback on/off a node whose peer is heard but silent waits in STARTING (RQSTDELAY
/// only starts with a `resource` message), so Y has not taken even its own group; when X comes
/// up it is the simultaneous start of row 4: each takes its own after RQSTDELAY.
#[test]
fn row3_nice_x_takes_its_local_groups() {
    for mode in NICE {
        let mut c = cluster(mode);
        c.power_on(&["node1", "node2"]);
        c.comm_up("node2");
        c.run_for(12_000);
        expect_placement(&c, [(G1, "-"), (G2, "-")]);
        assert_eq!(
            c.m("node2").resource_state(),
            hb_core::resources::RscState::Starting
        );
        c.comm_up("node1");
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
        // node2's `starting` went out before node1 listened; node1's finds node2 STARTING.
        expect_transcript(
            &c,
            0,
            &[
                "node2: t=starting",
                "node1: t=starting",
                "node2: t=resource rsc_hold=none rtype=full isstable=0",
                // node2's RQSTDELAY (it entered RSCRCVD first).
                "node2: t=resource rsc_hold=local rtype=full isstable=1",
                "node2: t=ip-request-resp dest=node2 ipaddr=IPaddr2::10.0.0.2/24/eth0 weown=yes ok=OK",
                "node2: t=resource rsc_hold=local rtype=full isstable=1 info=req_our_resources()",
                // node1 sees node2 stable, not holding node1's group: takes its own.
                "node1: t=resource rsc_hold=none rtype=full isstable=0",
                "node1: t=resource rsc_hold=local rtype=full isstable=1",
                "node1: t=ip-request-resp dest=node1 ipaddr=IPaddr2::10.0.0.1/24/eth0 weown=yes ok=OK",
                "node1: t=resource rsc_hold=local rtype=full isstable=1 info=req_our_resources()",
                "node2: t=resource rsc_hold=local rtype=full isstable=1",
            ],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Row 4: X and Y start together.

#[test]
fn row4_legacy_each_takes_its_own_once_the_other_is_active() {
    let mut c = cluster(Legacy);
    c.start(&["node1", "node2"]);
    c.run_for(1_000);
    expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
    // 3.0.6 grants each its own at comm-up (the other is only `up`); here each waits for the
    // other's `active` (its `up` may be stale: issue 12's start-up race) and asks it.
    expect_transcript(
        &c,
        0,
        &[
            "node2: t=ip-request ipaddr=IPaddr2::10.0.0.2/24/eth0",
            "node1: t=ip-request ipaddr=IPaddr2::10.0.0.1/24/eth0",
            "node1: t=ip-request-resp dest=node2 ipaddr=IPaddr2::10.0.0.2/24/eth0 weown=no ok=OK",
            "node2: t=ip-request-resp dest=node1 ipaddr=IPaddr2::10.0.0.1/24/eth0 weown=no ok=OK",
        ],
    );
}

#[test]
fn row4_nice_each_takes_its_own_after_rqstdelay() {
    for mode in NICE {
        let mut c = cluster(mode);
        c.start(&["node1", "node2"]);
        c.run_for(9_900);
        expect_placement(&c, [(G1, "-"), (G2, "-")]);
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
        expect_transcript(&c, 0, NICE_START);
        for n in ["node1", "node2"] {
            logged(&c, n, "local resource transition completed.");
            logged(
                &c,
                n,
                "Initial resource acquisition complete (T_RESOURCES(us))",
            );
            assert_eq!(c.m(n).rscstatus(), "local");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Row 5: Y dies holding resources.

#[test]
fn row5_y_dies_without_stonith_device() {
    for mode in [Legacy, Off, On] {
        let mut c = settled(mode);
        let from = c.sent.len();
        c.crash("node2");
        c.run_for(999);
        expect_placement(&c, [(G1, "node1"), (G2, "-")]);
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
        let mut expected = vec!["node1: t=stonith node=node2 result=n_stnth"];
        if mode != Legacy {
            // The capture's phase 03.
            expected.extend([
                "node1: t=resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()",
                "node1: t=resource rsc_hold=foreign info=mach_down",
            ]);
        }
        expect_transcript(&c, from, &expected);
        logged(&c, "node1", "No STONITH device configured.");
        logged(&c, "node1", "Resources being acquired from node2.");
    }
}

#[test]
fn row5_y_dies_with_stonith_device_fenced_before_takeover() {
    for mode in [Legacy, Off, On] {
        let mut c = cluster(mode);
        c.stonith = true;
        c.start(&["node1", "node2"]);
        c.settle();
        c.fence_results = vec![FenceResult::Failed, FenceResult::Ok];
        let from = c.sent.len();
        c.crash("node2");
        c.run_for(5_000);
        expect_placement(&c, [(G1, "node1"), (G2, "-")]);
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
        let mut expected = vec![
            "node1: t=stonith node=node2 result=bad",
            "node1: t=stonith node=node2 result=OK",
        ];
        if mode != Legacy {
            expected.extend([
                "node1: t=resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()",
                "node1: t=resource rsc_hold=foreign info=mach_down",
            ]);
        }
        expect_transcript(&c, from, &expected);
        logged(&c, "node1", "STONITH of node2 failed.  Retrying...");
    }
}

// ---------------------------------------------------------------------------------------------
// Row 6: Y dies after saying it holds nothing / after shutdone: no STONITH.

#[test]
fn row6_nice_y_dies_after_giving_everything_away() {
    for mode in NICE {
        let mut c = cluster(mode);
        c.start(&["node1", "node2"]);
        c.settle();
        c.command("node2", Command::Standby(StandbySet::All));
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
        let from = c.sent.len();
        c.crash("node2");
        c.settle();
        expect_transcript(&c, from, &["node1: t=stonith node=node2 result=unneeded"]);
        logged(&c, "node1", "Dead node node2 gave up resources.");
    }
}

/// Our deviation (resources module docs): with a STONITH device, `rsc_hold=none` does not
/// spare the reset, since a peer announces its holdings only as it starts acquiring (found by
/// hbsim: a peer cut off just after it began taking its groups died "holding nothing").
#[test]
fn row6_nice_with_stonith_y_is_reset_even_after_giving_everything_away() {
    for mode in NICE {
        let mut c = cluster(mode);
        c.stonith = true;
        c.start(&["node1", "node2"]);
        c.settle();
        c.command("node2", Command::Standby(StandbySet::All));
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
        let from = c.sent.len();
        c.crash("node2");
        c.settle();
        assert!(c.nodes[0]
            .actions
            .iter()
            .any(|a| matches!(a, Action::Fence(_))));
        assert_eq!(
            c.transcript(from).first().map(String::as_str),
            Some("node1: t=stonith node=node2 result=OK")
        );
        logged(&c, "node1", "node node2 now reset.");
        expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
    }
}

#[test]
fn row6_y_dies_after_shutdone_is_not_fenced() {
    for mode in [Legacy, Off, On] {
        let mut c = cluster(mode);
        c.stonith = true;
        c.start(&["node1", "node2"]);
        c.settle();
        c.command("node2", Command::Shutdown);
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
        assert!(!c.nodes[0]
            .actions
            .iter()
            .any(|a| matches!(a, Action::Fence(_))));
        assert!(c
            .transcript(0)
            .contains(&"node1: t=stonith node=node2 result=unneeded".to_string()));
        logged(&c, "node1", "Dead node node2 gave up resources.");
    }
}

// ---------------------------------------------------------------------------------------------
// Row 7: Y shuts down gracefully: X takes its groups on `shutdone`, before any deadtime.

#[test]
fn row7_legacy_takeover_on_shutdone() {
    let mut c = settled(Legacy);
    let from = c.sent.len();
    c.command("node2", Command::Shutdown);
    c.run_for(500);
    expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
    expect_transcript(&c, from, &["node2: t=shutdone st=dead"]);
    logged(&c, "node2", "Giving up all HA resources.");
    logged(&c, "node2", "All HA resources relinquished.");
    logged(&c, "node1", "Received shutdown notice from 'node2'.");
    assert_eq!(c.nodes[1].exited, Some(false));
    c.settle();
    expect_transcript(
        &c,
        from,
        &[
            "node2: t=shutdone st=dead",
            "node1: t=stonith node=node2 result=unneeded",
        ],
    );
}

/// The capture's phase 07 (from the survivor's side), with our two groups.
#[test]
fn row7_nice_takeover_on_shutdone() {
    for mode in NICE {
        let mut c = settled(mode);
        let from = c.sent.len();
        c.command("node2", Command::Shutdown);
        c.run_for(500);
        expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
        c.settle();
        expect_transcript(
            &c,
            from,
            &[
                "node2: t=resource rsc_hold=none rtype=full isstable=0 info=shutdown",
                "node2: t=shutdone st=dead",
                "node1: t=ask_resources rsc_hold=all info=done",
                "node1: t=resource rsc_hold=all rtype=full isstable=1",
                "node1: t=resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()",
                "node1: t=resource rsc_hold=foreign info=mach_down",
                "node1: t=stonith node=node2 result=unneeded",
            ],
        );
        logged(&c, "node1", "Received shutdown notice from 'node2'.");
        logged(&c, "node1", "Standby resource acquisition done [all].");
        logged(&c, "node1", "Dead node node2 gave up resources.");
        assert_eq!(c.m("node1").rscstatus(), "all");
    }
}

// ---------------------------------------------------------------------------------------------
// Row 8: Y returns (restart).

fn y_returns(mode: AutoFailback) -> (Cluster, usize) {
    let mut c = settled(mode);
    c.crash("node2");
    c.settle();
    expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
    let from = c.sent.len();
    c.start(&["node2"]);
    c.settle();
    (c, from)
}

#[test]
fn row8_legacy_y_pulls_its_groups_back() {
    let (c, from) = y_returns(Legacy);
    expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
    expect_transcript(
        &c,
        from,
        &[
            "node2: t=ip-request ipaddr=IPaddr2::10.0.0.2/24/eth0",
            "node1: t=ip-request-resp dest=node2 ipaddr=IPaddr2::10.0.0.2/24/eth0 weown=yes ok=OK",
        ],
    );
}

#[test]
fn row8_off_y_gets_nothing_back() {
    let (c, from) = y_returns(Off);
    expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
    expect_transcript(
        &c,
        from,
        &[
            "node2: t=starting",
            "node1: t=resource rsc_hold=all rtype=full isstable=1",
            "node2: t=resource rsc_hold=none rtype=full isstable=0",
            "node2: t=resource rsc_hold=none rtype=full isstable=1",
            "node1: t=resource rsc_hold=all rtype=full isstable=1",
        ],
    );
}

#[test]
fn row8_on_y_gets_its_groups_back() {
    let (c, from) = y_returns(On);
    expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
    expect_transcript(
        &c,
        from,
        &[
            "node2: t=starting",
            "node1: t=resource rsc_hold=all rtype=full isstable=1",
            "node2: t=resource rsc_hold=none rtype=full isstable=0",
            "node2: t=resource rsc_hold=none rtype=full isstable=1",
            "node1: t=resource rsc_hold=all rtype=full isstable=1",
            "node1: t=ask_resources rsc_hold=foreign info=me hb_sbid=1",
            "node2: t=ask_resources rsc_hold=foreign info=other hb_sbid=1",
            "node1: t=resource rsc_hold=local rtype=full isstable=0 info=standby",
            "node1: t=ask_resources rsc_hold=foreign info=done hb_sbid=1",
            "node2: t=ask_resources rsc_hold=foreign info=done hb_sbid=1",
            "node2: t=resource rsc_hold=local rtype=full isstable=1",
            "node1: t=resource rsc_hold=local rtype=full isstable=1",
            "node1: t=resource rsc_hold=local rtype=full isstable=1",
            "node2: t=resource rsc_hold=local rtype=full isstable=1",
        ],
    );
}

/// Y restarts faster than X notices (a new generation, never declared dead). 3.0.6 does
/// nothing and loses what Y held; we handle it as the death X missed (no STONITH: Y demonstrably
/// restarted), then Y returns as in row 8. In legacy mode Y's new incarnation asks for its
/// groups itself, and X takes nothing meanwhile (a takeover would race with Y's requests; found
/// by hbsim).
#[test]
fn row8_unnoticed_restart_is_the_missed_death() {
    for (mode, y_gets_back) in [(Legacy, true), (Off, false), (On, true)] {
        let mut c = settled(mode);
        c.command("node1", Command::Standby(StandbySet::All));
        c.settle();
        let g1_owner = if mode == Legacy { "node1" } else { "node2" };
        expect_placement(&c, [(G1, g1_owner), (G2, "node2")]);
        c.fast_restart("node2");
        c.settle();
        let g2_owner = if y_gets_back { "node2" } else { "node1" };
        expect_placement(&c, [(G1, "node1"), (G2, g2_owner)]);
        if mode != Legacy {
            logged(&c, "node1", "Resources being acquired from node2.");
        }
        assert!(!c.transcript(0).iter().any(|l| l.contains("t=stonith")));
    }
}

// ---------------------------------------------------------------------------------------------
// Row 9: Y reappears after a partition (no restart). 3.0.6: both give up everything and
// restart. hb (two nodes): each group both ran goes to one of them by a rule both compute from
// the two `hb_heal` reports; the other stops its copy; the keeper never stops (module
// `resources::heal`).

#[test]
fn row9_partition_heals_into_one_owner_per_group_without_a_restart() {
    for mode in [Legacy, Off, On] {
        let mut c = settled(mode);
        c.partition("node1", "node2");
        c.settle();
        // Split brain, as in 3.0.6 without STONITH.
        expect_placement(&c, [(G1, "node1+node2"), (G2, "node1+node2")]);
        let from = c.sent.len();
        let acts = [c.nodes[0].actions.len(), c.nodes[1].actions.len()];
        c.heal("node1", "node2");
        c.settle();
        // Each ran its own group before the split, and prefers it: it keeps it.
        expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
        assert_eq!(c.nodes[0].exited, None, "{mode:?}");
        assert_eq!(c.nodes[1].exited, None, "{mode:?}");
        // Only the other copies were stopped.
        assert_eq!(
            c.nodes[0].actions[acts[0]..],
            [Action::Release(c.group_id(G2))]
        );
        assert_eq!(
            c.nodes[1].actions[acts[1]..],
            [Action::Release(c.group_id(G1))]
        );
        let mut expected = vec![
            "node1: t=hb_heal info=report hb_groups=3 hb_kept=1",
            "node2: t=hb_heal info=report hb_groups=3 hb_kept=2",
            // The reports crossed: each answers the one it got (the first may have been
            // dropped by an engine that still took its sender for dead).
            "node2: t=hb_heal info=reply hb_groups=3 hb_kept=2",
            "node1: t=hb_heal info=reply hb_groups=3 hb_kept=1",
            "node2: t=hb_heal info=released hb_groups=2 hb_kept=2",
        ];
        // Settled: said as after a start (auto_failback on|off only).
        if mode != Legacy {
            expected.push("node2: t=resource rsc_hold=local rtype=full isstable=1");
        }
        expected.push("node1: t=hb_heal info=released hb_groups=1 hb_kept=1");
        if mode != Legacy {
            expected.push("node1: t=resource rsc_hold=local rtype=full isstable=1");
        }
        expect_transcript(&c, from, &expected);
        // The keeper announces its address at the decision and again after the release.
        let g1 = c.group(G1);
        let g2 = c.group(G2);
        let a1: Vec<usize> = c.nodes[0].announced.iter().map(|(_, g)| *g).collect();
        let a2: Vec<usize> = c.nodes[1].announced.iter().map(|(_, g)| *g).collect();
        assert_eq!(a1, [g1, g1], "{mode:?}");
        assert_eq!(a2, [g2, g2], "{mode:?}");
        logged(&c, "node2", "Partition healed: node1 keeps resource group IPaddr2::10.0.0.1/24/eth0; releasing it here.");
        // Settled: a later death is handled as usual.
        c.crash("node2");
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
    }
}

/// `auto_failback off`: the node that ran a group before the split keeps it, even when it is
/// not the group's preferred node (it has held it longest); `on`: the preferred node.
#[test]
fn row9_off_keeps_the_holder_from_before_the_split_on_the_preferred_node() {
    for mode in [Off, On] {
        let mut c = cluster(mode);
        // node2 alone first: it runs both; node1 joins (off: gets nothing; on: gets G1 back).
        c.start(&["node2"]);
        c.settle();
        c.start(&["node1"]);
        c.settle();
        let before = if mode == Off { "node2" } else { "node1" };
        expect_placement(&c, [(G1, before), (G2, "node2")]);
        c.partition("node1", "node2");
        c.settle();
        expect_placement(&c, [(G1, "node1+node2"), (G2, "node1+node2")]);
        c.heal("node1", "node2");
        c.settle();
        expect_placement(&c, [(G1, before), (G2, "node2")]);
        assert_eq!(c.nodes[0].exited, None);
        assert_eq!(c.nodes[1].exited, None);
    }
}

// ---------------------------------------------------------------------------------------------
// Row 10: hb_standby S on X.

#[test]
fn row10_legacy_standby_is_ignored() {
    for set in [StandbySet::All, StandbySet::Foreign] {
        let mut c = settled(Legacy);
        let from = c.sent.len();
        c.command("node1", Command::Standby(set));
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
        assert_eq!(c.transcript(from).len(), 1);
        for n in ["node1", "node2"] {
            logged(&c, n, "Standby mode only implemented when nice_failback on");
        }
    }
}

fn standby_transcript(set: &str, x_after_release: &str, y_after: &str) -> Vec<String> {
    vec![
        format!("node1: t=ask_resources rsc_hold={set} info=me hb_sbid=1"),
        format!("node2: t=ask_resources rsc_hold={set} info=other hb_sbid=1"),
        format!("node1: t=resource rsc_hold={x_after_release} rtype=full isstable=0 info=standby"),
        format!("node1: t=ask_resources rsc_hold={set} info=done hb_sbid=1"),
        format!("node2: t=ask_resources rsc_hold={set} info=done hb_sbid=1"),
        format!("node2: t=resource rsc_hold={y_after} rtype=full isstable=1"),
        format!("node1: t=resource rsc_hold={x_after_release} rtype=full isstable=1"),
        format!("node1: t=resource rsc_hold={x_after_release} rtype=full isstable=1"),
        format!("node2: t=resource rsc_hold={y_after} rtype=full isstable=1"),
    ]
}

#[test]
fn row10_nice_standby_gives_the_set_to_the_peer() {
    for mode in NICE {
        for (set, word, x_after, y_after, placement) in [
            (
                StandbySet::All,
                "all",
                "none",
                "all",
                [(G1, "node2"), (G2, "node2")],
            ),
            (
                StandbySet::Local,
                "local",
                "none",
                "all",
                [(G1, "node2"), (G2, "node2")],
            ),
            // node1 holds no foreign group: nothing moves, but the protocol runs.
            (
                StandbySet::Foreign,
                "foreign",
                "local",
                "local",
                [(G1, "node1"), (G2, "node2")],
            ),
            (
                StandbySet::Failback,
                "foreign",
                "local",
                "local",
                [(G1, "node1"), (G2, "node2")],
            ),
        ] {
            let mut c = settled(mode);
            let from = c.sent.len();
            c.command("node1", Command::Standby(set));
            c.settle();
            expect_placement(&c, placement);
            let expected = standby_transcript(word, x_after, y_after);
            let expected: Vec<&str> = expected.iter().map(|s| s.as_str()).collect();
            expect_transcript(&c, from, &expected);
            logged(&c, "node1", &format!("Going standby [{word}]."));
            logged(&c, "node1", &format!("node1 wants to go standby [{word}]"));
            logged(
                &c,
                "node1",
                &format!("Local standby process completed [{word}]."),
            );
            logged(
                &c,
                "node2",
                &format!("standby: acquire [{word}] resources from node1"),
            );
            logged(
                &c,
                "node2",
                &format!("Standby resource acquisition done [{word}]."),
            );
            logged(
                &c,
                "node1",
                &format!("Other node completed standby takeover of {word} resources."),
            );
        }
    }
}

/// `hb_standby foreign` hands another node's groups back (here after node1 took everything).
#[test]
fn row10_nice_standby_foreign_returns_the_peers_groups() {
    for mode in NICE {
        let mut c = settled(mode);
        c.command("node2", Command::Standby(StandbySet::All));
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
        c.command("node1", Command::Standby(StandbySet::Failback));
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
    }
}

#[test]
fn row10_standby_refused_while_in_flux_and_timed_out_without_reply() {
    let mut c = settled(On);
    // node2 is gone without anyone noticing yet: no reply comes.
    c.cut.insert((0, 1));
    c.cut.insert((1, 0));
    c.command("node1", Command::Standby(StandbySet::All));
    c.run_for(9_999);
    assert_eq!(
        c.m("node1").standby_state(),
        hb_core::resources::StandbyState::Me
    );
    // A second request meanwhile is refused.
    c.command("node1", Command::Standby(StandbySet::All));
    logged(
        &c,
        "node1",
        "Standby in progress- new request from node1 ignored [1 seconds left]",
    );
    c.run_for(1);
    logged(
        &c,
        "node1",
        "No reply to standby request.  Standby request cancelled.",
    );
    expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
    assert!(c.m("node1").is_stable());
}

// ---------------------------------------------------------------------------------------------
// Row 11: hb_takeover S on X: Y runs hb_standby mirror(S).

#[test]
fn row11_legacy_takeover_is_ignored_at_y() {
    let mut c = settled(Legacy);
    let from = c.sent.len();
    c.command("node1", Command::Takeover(StandbySet::All));
    c.settle();
    expect_placement(&c, [(G1, "node1"), (G2, "node2")]);
    expect_transcript(
        &c,
        from,
        &[
            "node1: t=hb_takeover rsc_hold=all",
            "node2: t=ask_resources rsc_hold=all info=me hb_sbid=1",
        ],
    );
    logged(
        &c,
        "node2",
        "Standby mode only implemented when nice_failback on",
    );
}

#[test]
fn row11_nice_takeover_runs_the_mirror_standby_on_y() {
    for mode in NICE {
        // (takeover arg, what node2 gives up, node2 after, node1 after, placement)
        for (set, mirror, y_after, x_after, placement) in [
            (
                StandbySet::All,
                "all",
                "none",
                "all",
                [(G1, "node1"), (G2, "node1")],
            ),
            (
                StandbySet::Local,
                "foreign",
                "local",
                "local",
                [(G1, "node1"), (G2, "node2")],
            ),
            (
                StandbySet::Foreign,
                "local",
                "none",
                "all",
                [(G1, "node1"), (G2, "node1")],
            ),
            // Quirk: rc.d/hb_takeover has no case for failback and runs plain hb_standby.
            (
                StandbySet::Failback,
                "all",
                "none",
                "all",
                [(G1, "node1"), (G2, "node1")],
            ),
        ] {
            let mut c = settled(mode);
            let from = c.sent.len();
            c.command("node1", Command::Takeover(set));
            c.settle();
            expect_placement(&c, placement);
            let mut expected = vec![format!("node1: t=hb_takeover rsc_hold={set}")];
            expected.extend(
                standby_transcript(mirror, y_after, x_after)
                    .into_iter()
                    .map(|l| {
                        l.replacen("node1:", "nodeX:", 1)
                            .replacen("node2:", "node1:", 1)
                            .replacen("nodeX:", "node2:", 1)
                    }),
            );
            let expected: Vec<&str> = expected.iter().map(|s| s.as_str()).collect();
            expect_transcript(&c, from, &expected);
            logged(&c, "node2", &format!("Going standby [{mirror}]."));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Row 12: a resource fails to start on X.

fn start_fails(mode: AutoFailback) -> Cluster {
    let mut c = cluster(mode);
    let g2 = c.group(G2);
    c.fail_start.insert((1, g2));
    c.start(&["node1", "node2"]);
    c
}

#[test]
fn row12_legacy_failed_group_stays_stopped() {
    let mut c = start_fails(Legacy);
    c.settle();
    expect_placement(&c, [(G1, "node1"), (G2, "-")]);
    logged(
        &c,
        "node2",
        "Giving up resources due to failure of IPaddr2::10.0.0.2/24/eth0",
    );
    logged(&c, "node2", "Going standby [local].");
    logged(
        &c,
        "node2",
        "Standby mode only implemented when nice_failback on",
    );
}

#[test]
fn row12_nice_failed_group_is_handed_over_30s_later() {
    for mode in NICE {
        let mut c = start_fails(mode);
        // RQSTDELAY, the failed start, then 30 s.
        c.run_for(10_000 + 30_000);
        expect_placement(&c, [(G1, "node1"), (G2, "-")]);
        let from = c.sent.len();
        c.settle();
        expect_placement(&c, [(G1, "node1"), (G2, "node1")]);
        let expected = standby_transcript("local", "none", "all");
        let expected: Vec<String> = expected
            .into_iter()
            .map(|l| {
                l.replacen("node1:", "nodeX:", 1)
                    .replacen("node2:", "node1:", 1)
                    .replacen("nodeX:", "node2:", 1)
            })
            .collect();
        let expected: Vec<&str> = expected.iter().map(|s| s.as_str()).collect();
        expect_transcript(&c, from, &expected);
    }
}

/// ResourceManager's quirk: a failed multi-resource group of ours is "foreign", so the
/// hand-over asks the peer for the wrong set and the group stays stopped.
#[test]
fn row12_nice_failed_multi_resource_group_quirk() {
    let mut c = cluster(On);
    let g1 = c.group(G1);
    c.fail_start.insert((0, g1));
    c.start(&["node1", "node2"]);
    c.settle();
    expect_placement(&c, [(G1, "-"), (G2, "node2")]);
    logged(&c, "node1", "Going standby [foreign].");
}

// ---------------------------------------------------------------------------------------------
// Row 13: a resource fails to stop on X: X reboots (and says nothing more).

#[test]
fn row13_stop_failure_reboots() {
    for mode in [Legacy, Off, On] {
        let mut c = settled(mode);
        let g1 = c.group(G1);
        c.fail_stop.insert((0, g1));
        c.command("node1", Command::Shutdown);
        c.run_for(500);
        assert!(c.nodes[0].rebooted, "{mode:?}");
        assert!(c.m("node1").halted());
        assert!(!c
            .transcript(0)
            .iter()
            .any(|l| l.starts_with("node1: t=shutdone")));
        logged(
            &c,
            "node1",
            "Resource STOP failure. Reboot required! (IPaddr2::10.0.0.1/24/eth0)",
        );
    }
}
