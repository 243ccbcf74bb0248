//! The joined node (`Heartbeat`): two of them over an in-memory network, a fake daemon that
//! runs their actions, one virtual clock.

mod cluster;

use cluster::Cluster;
use hb_core::engine::{Event as EngineEvent, MediumId, NodeId, NodeStatus};
use hb_core::heartbeat::{Command, CommandError, Event, Heartbeat};
use hb_core::resources::{FenceResult, GroupId, Holder, StandbySet};
use hb_core::time::{Duration, Instant};

const N1: usize = 0;
const N2: usize = 1;
/// node1's group and node2's.
const G1: GroupId = GroupId(0);
const G2: GroupId = GroupId(1);
const KEEPALIVE: u64 = 200;
const DEADTIME: u64 = 1000;
const LATENCY: u64 = 2;

type Net = Cluster<Heartbeat<2, 2, 4>>;

/// Two nodes on `bcast eth0`, each with its group, none started.
fn net(auto_failback: &str, stonith: bool) -> Net {
    let hacf = format!(
        "keepalive {KEEPALIVE}ms\nwarntime 750ms\ndeadtime {DEADTIME}ms\ninitdead 3000ms\n\
         udpport 694\nbcast eth0\nauto_failback {auto_failback}\n{}node node1 node2\n\
         crm off\n",
        if stonith {
            "stonith null /etc/ha.d/stonith.cfg\n"
        } else {
            ""
        }
    );
    let hares = "node1 10.0.0.1\nnode2 10.0.0.2\n";
    let mut n = Net::new(&["node1", "node2"], &[], &hacf, hares, b"joined");
    n.latency = Duration::from_millis(LATENCY);
    n
}

/// When node `i` was first told something matching `what` at or after `from` (ms).
fn first(n: &Net, i: usize, from: u64, what: impl Fn(&Event) -> bool) -> Option<u64> {
    n.first(i, Instant::from_millis(from), what)
        .map(|t| t.as_millis())
}

fn started_pair(mode: &str, stonith: bool) -> Net {
    let mut n = net(mode, stonith);
    // Both start together: the 10 s RQSTDELAY, then each takes its own group.
    n.start_all(15_000);
    for m in &n.members {
        assert!(m.rx_errors.is_empty(), "{}: {:?}", m.name, m.rx_errors);
    }
    n
}

#[test]
fn startup_gives_each_group_one_owner() {
    for mode in ["on", "off", "legacy"] {
        let n = started_pair(mode, false);
        assert_eq!(n.holds(N1), [G1.0], "{mode}");
        assert_eq!(n.holds(N2), [G2.0], "{mode}");
        assert_eq!(n.overlap, None, "{mode}");
        for i in [N1, N2] {
            assert!(n.hb(i).is_comm_up());
            assert_eq!(n.hb(i).local_status(), NodeStatus::Active);
            assert!(n.hb(i).is_stable(), "{mode}");
        }
        assert_eq!(n.hb(N1).holder(G1), Holder::Local);
        if mode != "legacy" {
            assert_eq!(n.hb(N1).holder(G2), Holder::Peer(NodeId(1)));
            assert_eq!(n.hb(N1).rscstatus(), "local");
        }
        assert!(n.hb(N1).link_up(NodeId(1), MediumId(0)));
    }
}

#[test]
fn a_dead_node_is_taken_over_from_after_deadtime() {
    let mut n = started_pair("on", false);
    let t = n.now.as_millis();
    n.crash(N2);
    n.run_ms(5000);
    let dead = first(&n, N1, t, |e| {
        matches!(
            e,
            Event::Membership(EngineEvent::NodeDead {
                node: NodeId(1),
                ..
            })
        )
    })
    .unwrap();
    // node2's last status left at most a keepalive before it died.
    assert!(dead >= t + DEADTIME - KEEPALIVE && dead <= t + DEADTIME + KEEPALIVE + 10);
    let acquired = first(&n, N1, t, |e| *e == Event::Acquire(G2)).unwrap();
    assert_eq!(acquired, dead, "taken at once without STONITH");
    assert_eq!(n.holds(N1), [G1.0, G2.0]);
}

#[test]
fn with_stonith_a_dead_node_is_taken_over_from_only_after_its_reset() {
    let mut n = started_pair("on", true);
    n.fence_results = vec![FenceResult::Failed];
    let t = n.now.as_millis();
    n.crash(N2);
    n.run_ms(3000);
    let fence = first(&n, N1, t, |e| *e == Event::Fence(NodeId(1))).expect("fenced");
    assert_eq!(n.holds(N1), [G1.0], "nothing taken while the reset failed");
    n.run_ms(5000);
    // Retried 5 s after the failure; the group follows the successful reset.
    let fences: Vec<u64> = n.members[N1]
        .events
        .iter()
        .filter(|(at, e)| at.as_millis() >= t && *e == Event::Fence(NodeId(1)))
        .map(|(at, _)| at.as_millis())
        .collect();
    assert_eq!(fences.len(), 2);
    assert!(fences[1] >= fence + n.fence_ms + 5000);
    let acquired = first(&n, N1, t, |e| *e == Event::Acquire(G2)).unwrap();
    assert_eq!(acquired, fences[1] + n.fence_ms);
    assert_eq!(n.holds(N1), [G1.0, G2.0]);
}

#[test]
fn shutdown_hands_everything_over_before_the_deadtime() {
    for mode in ["on", "off", "legacy"] {
        let mut n = started_pair(mode, false);
        let t = n.now.as_millis();
        n.command(N2, Command::Shutdown).unwrap();
        assert_eq!(
            n.command(N2, Command::Shutdown),
            Err(CommandError::AlreadyShuttingDown)
        );
        n.run_ms(500);
        assert_eq!(n.members[N2].exited, Some(false), "{mode}");
        assert_eq!(n.holds(N1), [G1.0, G2.0], "{mode}");
        assert_eq!(n.overlap, None, "{mode}");
        let acquired = first(&n, N1, t, |e| *e == Event::Acquire(G2)).unwrap();
        assert!(acquired < t + DEADTIME, "{mode}: on shutdone, not on death");
    }
}

#[test]
fn standby_moves_the_groups_without_overlap() {
    for mode in ["on", "off"] {
        let mut n = started_pair(mode, false);
        n.action_ms = 400;
        n.command(N1, Command::Standby(StandbySet::All)).unwrap();
        n.run_ms(5000);
        assert_eq!(n.holds(N1), Vec::<u8>::new(), "{mode}");
        assert_eq!(n.holds(N2), [G1.0, G2.0], "{mode}");
        assert_eq!(n.overlap, None, "{mode}");
        assert_eq!(n.hb(N1).rscstatus(), "none");
        assert_eq!(n.hb(N2).rscstatus(), "all");
    }
    // Standby is refused with more than two nodes only; legacy logs that it cannot.
    let mut n = started_pair("legacy", false);
    n.command(N1, Command::Standby(StandbySet::All)).unwrap();
    n.run_ms(5000);
    assert_eq!(n.holds(N1), [G1.0]);
}

#[test]
fn auto_failback_on_brings_a_returning_nodes_groups_back() {
    for (mode, back) in [("on", true), ("off", false), ("legacy", true)] {
        let mut n = started_pair(mode, false);
        n.crash(N1);
        n.run_ms(5000);
        assert_eq!(n.holds(N2), [G1.0, G2.0], "{mode}");
        n.start(N1);
        n.run_ms(20_000);
        if back {
            assert_eq!(n.holds(N1), [G1.0], "{mode}");
            assert_eq!(n.holds(N2), [G2.0], "{mode}");
        } else {
            assert_eq!(n.holds(N1), Vec::<u8>::new(), "{mode}");
            assert_eq!(n.holds(N2), [G1.0, G2.0], "{mode}");
        }
        assert_eq!(n.overlap, None, "{mode}");
    }
}

#[test]
fn keepalives_go_on_while_actions_are_outstanding() {
    let mut n = net("on", false);
    n.hold_actions = true;
    n.start(N1);
    n.start(N2);
    n.run_ms(30_000);
    // Both started their group and were never told it is done...
    assert_eq!(n.holds(N1), [G1.0]);
    assert!(!n.hb(N1).is_stable());
    // ...and neither took the other for dead meanwhile.
    for i in [N1, N2] {
        assert!(!n.members[i]
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::Membership(EngineEvent::NodeDead { .. }))));
    }
    n.hold_actions = false;
    n.run_ms(1000);
    assert!(n.hb(N1).is_stable());
}

#[test]
fn a_partition_without_stonith_heals_into_one_owner_per_group() {
    let mut n = started_pair("on", false);
    n.partition_media(2);
    n.run_ms(5000);
    // Split brain: each runs both groups.
    assert_eq!(n.holds(N1), [G1.0, G2.0]);
    let healed = n.now;
    n.heal();
    n.run_ms(30_000);
    // Healed without a restart (3.0.6 gives everything up and restarts both): each keeps
    // the group it prefers (auto_failback on), the other copy is stopped, and each announces
    // the address it kept, at once and again once the other copy is gone.
    assert_eq!(n.members[N1].exited, None);
    assert_eq!(n.members[N2].exited, None);
    assert_eq!(n.holds(N1), [G1.0]);
    assert_eq!(n.holds(N2), [G2.0]);
    for (m, g) in [(N1, G1.0), (N2, G2.0)] {
        let announced = &n.members[m].announced;
        let times: Vec<Instant> = announced
            .iter()
            .filter(|(_, x)| *x == g)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(times.len(), 2, "{announced:?}");
        assert!(
            times[0] >= healed && times[0] < healed + Duration::from_secs(2),
            "{times:?}"
        );
        assert!(announced.iter().all(|(_, x)| *x == g));
    }
    assert!(n.hb(N1).is_stable() && n.hb(N2).is_stable());
}

#[test]
fn log_lines_have_heartbeats_text() {
    let mut n = started_pair("on", false);
    n.crash(N2);
    n.run_ms(3000);
    let lines: Vec<String> = n.members[N1]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Log(l) => Some(n.hb(N1).log_line(*l).to_string()),
            _ => None,
        })
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l == "Resources being acquired from node2."),
        "{lines:?}"
    );
}

/// A reload (issue 11): node1 re-executes itself keeping its group, as 3.0.6's restart exec.
/// node2 sees an announced restart (`dt` grew by 30 s first), never declares node1 dead and
/// takes nothing; neither node starts or stops anything; both end stable with the same
/// owners, in every `auto_failback` mode.
#[test]
fn a_reload_reexec_keeps_the_groups_and_the_peer_takes_nothing() {
    for mode in ["on", "off", "legacy"] {
        let mut n = started_pair(mode, false);
        let t = n.now.as_millis();
        let generation = n.members[N1].generation + 1;
        n.reexec(N1, generation);
        n.run_ms(5000);
        let restarted = first(&n, N2, t, |e| {
            matches!(
                e,
                Event::Membership(EngineEvent::Restarted {
                    node: NodeId(0),
                    announced: true,
                    ..
                })
            )
        });
        assert!(restarted.is_some(), "{mode}: no announced restart");
        for i in [N1, N2] {
            assert_eq!(
                first(&n, i, t, |e| matches!(
                    e,
                    Event::Acquire(_)
                        | Event::Release(_)
                        | Event::Membership(EngineEvent::NodeDead { .. })
                )),
                None,
                "{mode}: node{} moved something",
                i + 1
            );
            assert!(n.hb(i).is_stable(), "{mode}: node{} unstable", i + 1);
        }
        assert_eq!(n.holds(N1), [G1.0], "{mode}");
        assert_eq!(n.holds(N2), [G2.0], "{mode}");
        assert_eq!(n.overlap, None, "{mode}");
        assert_eq!(n.hb(N1).holder(G1), Holder::Local, "{mode}");
        if mode != "legacy" {
            assert_eq!(n.hb(N1).holder(G2), Holder::Peer(NodeId(1)), "{mode}");
            assert_eq!(n.hb(N2).holder(G1), Holder::Peer(NodeId(0)), "{mode}");
            assert_eq!(n.hb(N1).rscstatus(), "local", "{mode}");
        }
    }
}

/// The same restart unannounced (a crash and a quick start within the dead time, our
/// deviation): node2 takes it as the death it missed, and the new node1 stops nothing it
/// does not run. The announcement is what tells a reload apart.
#[test]
fn an_unannounced_quick_restart_is_taken_as_a_missed_death() {
    let mut n = started_pair("on", false);
    let t = n.now.as_millis();
    n.crash(N1);
    n.run_ms(300);
    n.start(N1);
    n.run_ms(15_000);
    let restarted = first(&n, N2, t, |e| {
        matches!(
            e,
            Event::Membership(EngineEvent::Restarted {
                node: NodeId(0),
                announced: false,
                ..
            })
        )
    });
    assert!(restarted.is_some());
    assert!(first(&n, N2, t, |e| *e == Event::Acquire(G1)).is_some());
}
