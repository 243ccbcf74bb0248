//! One machine driven by hand: configuration errors, log texts, timers, stray inputs.
//! Two-node scenarios are in `tests/resources_table.rs`, the captures in
//! `tests/resources_captures.rs`.

extern crate std;

use std::string::{String, ToString};
use std::vec::Vec;

use super::*;
use crate::config::{HaResources, NodeName};

const RES: &str = "node1 IPaddr2::10.0.0.1/24/eth0 httpd\nnode2 10.0.0.2\n";

fn names(n: &[&str]) -> Vec<NodeName> {
    n.iter().map(|s| NodeName::try_from(*s).unwrap()).collect()
}

fn res(text: &str) -> HaResources {
    HaResources::parse(text, &mut |e| panic!("{e}")).unwrap()
}

fn machine(local: &str, mode: AutoFailback, stonith: bool) -> Resources<4, 4> {
    let nodes = names(&["node1", "node2"]);
    let r = res(RES);
    Resources::new(&ResourcesConfig {
        local_node: local,
        nodes: &nodes,
        groups: r.groups(),
        auto_failback: mode,
        stonith,
        timing: Timing::default(),
    })
    .unwrap()
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn messages(m: &mut Resources<4, 4>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(msg) = m.poll_message() {
        out.push(msg.to_string());
    }
    out
}

fn actions(m: &mut Resources<4, 4>) -> Vec<Action> {
    let mut out = Vec::new();
    while let Some(a) = m.poll_action() {
        out.push(a);
    }
    out
}

fn logs(m: &mut Resources<4, 4>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(l) = m.poll_log() {
        out.push(std::format!("{}: {}", l.level().as_str(), l));
    }
    out
}

const NODE1: NodeId = NodeId(0);
const NODE2: NodeId = NodeId(1);
const G1: GroupId = GroupId(0);
const G2: GroupId = GroupId(1);

fn held(hold: RscSet, stable: bool) -> ResourceMsg<'static> {
    ResourceMsg::Resource(ResourceHeld {
        rsc_hold: hold,
        rtype_full: true,
        isstable: Some(stable),
        info: None,
        groups: None,
        reply_to: None,
    })
}

/// node1, both up, STABLE holding its local group (the peer stable holding its own).
fn stable_node1(mode: AutoFailback) -> Resources<4, 4> {
    let mut m = machine("node1", mode, false);
    m.node_event(at(0), NodeEvent::Up(NODE2));
    m.node_event(at(0), NodeEvent::Active(NODE2));
    m.comm_up(at(0));
    m.handle_message(at(1), NODE2, &held(RscSet::LOCAL, true));
    for a in actions(&mut m) {
        if let Action::Acquire(group) = a {
            m.handle_action_done(at(2), ActionDone::Acquired { group, ok: true });
        }
    }
    messages(&mut m);
    logs(&mut m);
    assert_eq!(m.resource_state(), RscState::Stable);
    assert_eq!(m.group_state(G1), GroupState::Running);
    m
}

#[test]
fn configuration_errors() {
    let nodes = names(&["node1", "node2"]);
    let r = res(RES);
    let cfg = |local: &'static str| ResourcesConfig {
        local_node: local,
        nodes: &nodes,
        groups: r.groups(),
        auto_failback: AutoFailback::On,
        stonith: false,
        timing: Timing::default(),
    };
    assert_eq!(
        Resources::<4, 4>::new(&cfg("node9")).err(),
        Some(ResourcesError::UnknownLocalNode)
    );
    assert_eq!(
        Resources::<1, 4>::new(&cfg("node1")).err(),
        Some(ResourcesError::TooManyNodes)
    );
    assert_eq!(
        Resources::<4, 1>::new(&cfg("node1")).err(),
        Some(ResourcesError::TooManyGroups)
    );
    let other = res("node3 10.0.0.3\n");
    let bad = ResourcesConfig {
        groups: other.groups(),
        ..cfg("node1")
    };
    assert_eq!(
        Resources::<4, 4>::new(&bad).err(),
        Some(ResourcesError::UnknownGroupNode(GroupId(0)))
    );
    let m = Resources::<4, 4>::new(&cfg("NODE2")).unwrap();
    assert_eq!(m.local_node(), NODE2);
    assert_eq!(m.group_id("10.0.0.2"), Some(G2));
    assert_eq!(m.group_node(G1), Some(NODE1));
    assert_eq!(m.node_id("node1"), Some(NODE1));
    assert_eq!(m.group_key(G1), "IPaddr2::10.0.0.1/24/eth0");
}

#[test]
fn from_config_reads_the_mode_and_stonith() {
    let hacf = crate::config::HaCf::parse(
        "bcast eth0\nnode node1 node2\nauto_failback off\nstonith_host * meatware node1 node2\n",
        &mut |e| {
            if e.is_error() {
                panic!("{e}")
            }
        },
    )
    .unwrap();
    let r = res(RES);
    let cfg = ResourcesConfig::from_config("node1", &hacf, &r);
    assert_eq!(cfg.auto_failback, AutoFailback::Off);
    assert!(cfg.stonith);
    assert_eq!(cfg.nodes.len(), 2);
    assert_eq!(cfg.groups.len(), 2);
}

#[test]
fn log_lines_are_heartbeats_text() {
    let mut m = machine("node1", AutoFailback::On, false);
    let cases = [
        (
            LogMsg::ResourcesBeingAcquired(NODE2),
            "info: Resources being acquired from node2.",
        ),
        (
            LogMsg::DeadNodeGaveUp(NODE2),
            "info: Dead node node2 gave up resources.",
        ),
        (
            LogMsg::NoStonithDevice,
            "WARN: No STONITH device configured.",
        ),
        (
            LogMsg::StonithFailedRetrying(NODE2),
            "ERROR: STONITH of node2 failed.  Retrying...",
        ),
        (
            LogMsg::WantsToGoStandby {
                from: NODE2,
                set: RscSet::ALL,
            },
            "info: node2 wants to go standby [all]",
        ),
        (
            LogMsg::NoStandbyReply,
            "WARN: No reply to standby request.  Standby request cancelled.",
        ),
        (
            LogMsg::StandbyIgnored {
                info: StandbyInfo::Done,
                from: NODE2,
                state: StandbyState::Other,
            },
            "ERROR: Ignored standby message 'done' from node2 in state 2",
        ),
        (
            LogMsg::StandbyInProgress {
                from: NODE1,
                secs_left: 7,
            },
            "WARN: Standby in progress- new request from node1 ignored [7 seconds left]",
        ),
        (
            LogMsg::StandbyIgnoredOtherInFlux {
                info: StandbyInfo::Me,
                from: NODE2,
            },
            "WARN: standby message [me] from node2 ignored.  Other side is in flux.",
        ),
        (
            LogMsg::NoLocalResources,
            "info: No local resources [/usr/share/heartbeat/ResourceManager listkeys node1] \
             to acquire.",
        ),
        (
            LogMsg::GoStandbyBegin {
                acquire: false,
                set: RscSet::FOREIGN,
            },
            "info: give up foreign HA resources (standby).",
        ),
        (
            LogMsg::GoStandbyEnd {
                acquire: true,
                set: RscSet::LOCAL,
            },
            "info: local HA resource acquisition completed (standby).",
        ),
        (
            LogMsg::InitialAcquisitionComplete("T_RESOURCES(us)"),
            "info: Initial resource acquisition complete (T_RESOURCES(us))",
        ),
        (
            LogMsg::ReceivedShutdownNotice(NODE2),
            "info: Received shutdown notice from 'node2'.",
        ),
        (
            LogMsg::TakingOverGroup(G1),
            "info: Taking over resource group IPaddr2::10.0.0.1/24/eth0",
        ),
        (
            LogMsg::StartingInState(RscState::Init),
            "ERROR: Received 'starting' message in state 0",
        ),
        (
            LogMsg::NoOneOwnsForeign,
            "ERROR: No one owns foreign resources!",
        ),
        (
            LogMsg::TakeoverCancelled,
            "info: Resource takeover cancelled - shutdown in progress.",
        ),
    ];
    for (msg, text) in cases {
        m.log(msg);
        assert_eq!(logs(&mut m), [text]);
    }
    assert_eq!(LogMsg::TakingOverGroup(G1).origin(), log::Origin::MachDown);
    assert_eq!(
        LogMsg::GoingStandby(RscSet::ALL).origin(),
        log::Origin::HbStandby
    );
}

#[test]
fn rqstdelay_runs_only_in_rscrcvd() {
    let mut m = machine("node1", AutoFailback::On, false);
    m.node_event(at(0), NodeEvent::Up(NODE2));
    assert_eq!(m.poll_timeout(), None);
    m.comm_up(at(100));
    assert_eq!(messages(&mut m), ["t=starting"]);
    assert_eq!(m.resource_state(), RscState::Starting);
    assert_eq!(
        m.poll_timeout(),
        None,
        "STARTING waits for a resource message"
    );
    m.handle_message(at(200), NODE2, &ResourceMsg::Starting);
    assert_eq!(
        messages(&mut m),
        ["t=resource rsc_hold=none rtype=full isstable=0"]
    );
    // Our own answer looped back: RSCRCVD, RQSTDELAY from now.
    assert_eq!(m.resource_state(), RscState::RscRcvd);
    assert_eq!(m.poll_timeout(), Some(at(10_200)));
    // Early and repeated timeouts do nothing.
    m.handle_timeout(at(5_000));
    m.handle_timeout(at(5_000));
    assert_eq!(m.resource_state(), RscState::RscRcvd);
    assert!(messages(&mut m).is_empty());
    m.handle_timeout(at(10_200));
    assert_eq!(m.resource_state(), RscState::Stable);
    assert_eq!(
        messages(&mut m),
        [
            "t=resource rsc_hold=local rtype=full isstable=1",
            "t=ip-request-resp dest=node1 ipaddr=IPaddr2::10.0.0.1/24/eth0 weown=yes ok=OK",
            "t=resource rsc_hold=local rtype=full isstable=1 info=req_our_resources()",
        ]
    );
    assert_eq!(actions(&mut m), [Action::Acquire(G1)]);
    assert_eq!(m.poll_timeout(), None);
    assert_eq!(m.rscstatus(), "transition");
    m.handle_action_done(
        at(10_300),
        ActionDone::Acquired {
            group: G1,
            ok: true,
        },
    );
    assert_eq!(m.holder(G1), Holder::Local);
}

#[test]
fn messages_before_comm_up_and_from_ourselves_are_ignored() {
    let mut m = machine("node1", AutoFailback::On, false);
    m.node_event(at(0), NodeEvent::Up(NODE2));
    m.handle_message(at(1), NODE2, &ResourceMsg::Starting);
    m.handle_message(at(1), NODE2, &held(RscSet::ALL, true));
    assert!(messages(&mut m).is_empty());
    assert_eq!(m.resource_state(), RscState::Init);
    m.comm_up(at(2));
    messages(&mut m);
    // Our own message, delivered back by an engine: already processed, ignored.
    m.handle_message(at(3), NODE1, &held(RscSet::ALL, true));
    assert_eq!(m.resource_state(), RscState::Starting);
    // Ping nodes and unknown ids are not ours.
    m.node_event(
        at(4),
        NodeEvent::Dead {
            node: NodeId(7),
            heard_from: true,
        },
    );
    m.handle_message(at(4), NodeId(7), &ResourceMsg::Shutdone);
    assert!(messages(&mut m).is_empty());
    assert!(actions(&mut m).is_empty());
}

#[test]
fn stray_action_results_are_ignored() {
    let mut m = stable_node1(AutoFailback::On);
    m.handle_action_done(
        at(5),
        ActionDone::Acquired {
            group: G2,
            ok: true,
        },
    );
    m.handle_action_done(
        at(5),
        ActionDone::Released {
            group: G1,
            ok: true,
        },
    );
    m.handle_action_done(
        at(5),
        ActionDone::Fenced {
            node: NODE2,
            result: FenceResult::Ok,
        },
    );
    m.handle_action_done(
        at(5),
        ActionDone::Acquired {
            group: GroupId(9),
            ok: true,
        },
    );
    assert_eq!(m.group_state(G1), GroupState::Running);
    assert_eq!(m.group_state(G2), GroupState::Stopped);
    assert!(messages(&mut m).is_empty());
}

#[test]
fn standby_reply_timer_cancels_at_its_deadline() {
    let mut m = stable_node1(AutoFailback::On);
    m.handle_command(at(1_000), Command::Standby(StandbySet::All))
        .unwrap();
    assert_eq!(
        messages(&mut m),
        ["t=ask_resources rsc_hold=all info=me hb_sbid=1"]
    );
    assert_eq!(m.standby_state(), StandbyState::Me);
    assert_eq!(m.poll_timeout(), Some(at(11_000)));
    assert!(!m.is_stable());
    m.handle_timeout(at(11_000));
    assert_eq!(m.standby_state(), StandbyState::Not);
    assert!(logs(&mut m)
        .iter()
        .any(|l| l == "WARN: No reply to standby request.  Standby request cancelled."));
    assert!(m.is_stable());
    assert_eq!(m.rscstatus(), "local");
}

#[test]
fn stonith_is_retried_every_5s_until_it_works() {
    let mut m = stable_node1(AutoFailback::On);
    let mut m2 = machine("node1", AutoFailback::On, true);
    core::mem::swap(&mut m.stonith, &mut m2.stonith);
    m.node_event(
        at(100),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: true,
        },
    );
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);
    assert!(messages(&mut m).is_empty(), "nothing before the reset");
    m.handle_action_done(
        at(200),
        ActionDone::Fenced {
            node: NODE2,
            result: FenceResult::Failed,
        },
    );
    assert_eq!(messages(&mut m), ["t=stonith node=node2 result=bad"]);
    assert_eq!(m.poll_timeout(), Some(at(5_200)));
    m.handle_timeout(at(5_200));
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);
    m.handle_action_done(
        at(5_300),
        ActionDone::Fenced {
            node: NODE2,
            result: FenceResult::Ok,
        },
    );
    assert_eq!(
        messages(&mut m),
        [
            "t=stonith node=node2 result=OK",
            "t=resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()",
        ]
    );
    assert_eq!(actions(&mut m), [Action::Acquire(G2)]);
}

#[test]
fn a_pending_stonith_is_dropped_when_the_node_restarts_and_its_groups_taken() {
    let mut m = machine("node1", AutoFailback::On, true);
    m.node_event(
        at(0),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: false,
        },
    );
    m.comm_up(at(0));
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);
    m.handle_action_done(
        at(10),
        ActionDone::Fenced {
            node: NODE2,
            result: FenceResult::BadHost,
        },
    );
    assert!(m.poll_timeout().is_some());
    // Nothing is taken while the reset is pending.
    assert!(actions(&mut m).is_empty());
    m.node_event(at(20), NodeEvent::Restarted(NODE2));
    m.node_event(at(20), NodeEvent::Up(NODE2));
    // The retry loop is dropped; the incarnation that may have run groups is gone, so they are
    // taken as after a reset.
    let taken = actions(&mut m);
    assert!(!taken.is_empty());
    assert!(
        taken.iter().all(|a| matches!(a, Action::Acquire(_))),
        "{taken:?}"
    );
    m.handle_timeout(at(10_000));
    assert!(!actions(&mut m)
        .iter()
        .any(|a| matches!(a, Action::Fence(_))));
}

#[test]
fn legacy_leaves_a_peer_that_restarts_while_its_reset_is_pending_to_ask_for_its_groups() {
    let mut m = machine("node1", AutoFailback::Legacy, true);
    m.node_event(
        at(0),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: true,
        },
    );
    m.comm_up(at(0));
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);
    m.handle_action_done(
        at(10),
        ActionDone::Fenced {
            node: NODE2,
            result: FenceResult::Failed,
        },
    );
    // Nothing is taken while the reset is pending, ours included.
    assert!(actions(&mut m).is_empty());
    messages(&mut m);
    m.node_event(at(20), NodeEvent::Restarted(NODE2));
    m.node_event(at(20), NodeEvent::Up(NODE2));
    // Its groups are left to its own ip-requests (taking them would race with those); ours,
    // held back, wait until it says `active` (its `up` may be stale by then: see
    // `legacy_start_waits_for_a_peer_that_says_up`).
    assert!(messages(&mut m).is_empty());
    assert!(actions(&mut m).is_empty());
    m.handle_timeout(at(10_000));
    assert!(!actions(&mut m)
        .iter()
        .any(|a| matches!(a, Action::Fence(_))));
    // Active: ours are asked for, and taken on its answer.
    m.node_event(at(10_500), NodeEvent::Active(NODE2));
    assert_eq!(
        messages(&mut m),
        ["t=ip-request ipaddr=IPaddr2::10.0.0.1/24/eth0"]
    );
    m.handle_message(
        at(10_510),
        NODE2,
        &ResourceMsg::IpRequestResp {
            dest: "node1",
            ipaddr: "IPaddr2::10.0.0.1/24/eth0",
            weown: false,
            ok: "OK",
        },
    );
    assert_eq!(actions(&mut m), [Action::Acquire(G1)]);
    m.handle_action_done(
        at(10_600),
        ActionDone::Acquired {
            group: G1,
            ok: true,
        },
    );
    messages(&mut m);
    // Its request for its group is answered as usual.
    m.handle_message(
        at(11_000),
        NODE2,
        &ResourceMsg::IpRequest { ipaddr: "10.0.0.2" },
    );
    let out = messages(&mut m);
    assert_eq!(
        out,
        ["t=ip-request-resp dest=node2 ipaddr=10.0.0.2 weown=no ok=OK"],
        "{out:?}"
    );
}

/// The legacy start-up race (hbsim seeds 48211 and 84445): node1 started first, never heard
/// node2 within its `initdead`, declared it dead and is taking node2's groups; the only status
/// of node1 that reached node2 is an `up` sent just before. 3.0.6's `req_resource` takes our
/// groups when no other node is `active`, so both ran them.
#[test]
fn legacy_start_waits_for_a_peer_that_says_up() {
    let mut m = machine("node2", AutoFailback::Legacy, false);
    m.node_event(at(0), NodeEvent::Up(NODE1));
    m.comm_up(at(40));
    assert!(messages(&mut m).is_empty());
    assert!(actions(&mut m).is_empty());
    // Its `active` arrives: our group is asked for (it gives it up after its takeover).
    m.node_event(at(120), NodeEvent::Active(NODE1));
    assert_eq!(messages(&mut m), ["t=ip-request ipaddr=10.0.0.2"]);
    assert!(actions(&mut m).is_empty());
    m.handle_message(
        at(400),
        NODE1,
        &ResourceMsg::IpRequestResp {
            dest: "node2",
            ipaddr: "10.0.0.2",
            weown: true,
            ok: "OK",
        },
    );
    assert_eq!(actions(&mut m), [Action::Acquire(G2)]);

    // The peer that said `up` dies instead: no one else runs anything, all is taken.
    let mut m = machine("node2", AutoFailback::Legacy, false);
    m.node_event(at(0), NodeEvent::Up(NODE1));
    m.comm_up(at(40));
    assert!(actions(&mut m).is_empty());
    m.node_event(
        at(2_500),
        NodeEvent::Dead {
            node: NODE1,
            heard_from: true,
        },
    );
    let mut got = Vec::new();
    for _ in 0..4 {
        let a = actions(&mut m);
        for x in &a {
            if let Action::Acquire(g) = x {
                m.handle_action_done(
                    at(2_600),
                    ActionDone::Acquired {
                        group: *g,
                        ok: true,
                    },
                );
            }
        }
        got.extend(a);
    }
    got.sort_by_key(|a| std::format!("{a:?}"));
    assert_eq!(got, [Action::Acquire(G1), Action::Acquire(G2)]);
}

/// Legacy: an ip-request that got no answer is sent again after RQSTDELAY (a message from a
/// peer we have no status of yet is not retransmitted when lost: hbsim seed 42352).
#[test]
fn legacy_asks_again_when_an_ip_request_goes_unanswered() {
    let mut m = machine("node2", AutoFailback::Legacy, false);
    m.node_event(at(0), NodeEvent::Up(NODE1));
    m.node_event(at(0), NodeEvent::Active(NODE1));
    m.comm_up(at(10));
    assert_eq!(messages(&mut m), ["t=ip-request ipaddr=10.0.0.2"]);
    assert_eq!(m.poll_timeout(), Some(at(10_010)));
    m.handle_timeout(at(10_009));
    assert!(messages(&mut m).is_empty());
    m.handle_timeout(at(10_010));
    assert_eq!(messages(&mut m), ["t=ip-request ipaddr=10.0.0.2"]);
    m.handle_message(
        at(10_100),
        NODE1,
        &ResourceMsg::IpRequestResp {
            dest: "node2",
            ipaddr: "10.0.0.2",
            weown: false,
            ok: "OK",
        },
    );
    assert_eq!(actions(&mut m), [Action::Acquire(G2)]);
    // Answered: no more asking.
    m.handle_timeout(at(30_000));
    assert!(messages(&mut m).is_empty());
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn legacy_drops_a_queued_takeover_of_a_peer_that_restarted() {
    let mut m = machine("node1", AutoFailback::Legacy, false);
    // Alone at comm-up: our group is taken at once, its start still running.
    m.comm_up(at(0));
    messages(&mut m);
    assert_eq!(actions(&mut m), [Action::Acquire(G1)]);
    m.node_event(at(10), NodeEvent::Up(NODE2));
    m.node_event(at(10), NodeEvent::Active(NODE2));
    // It dies while our start runs: its takeover waits behind it…
    m.node_event(
        at(20),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: true,
        },
    );
    assert!(actions(&mut m).is_empty());
    // …and it restarts before that: its new incarnation asks for its group itself.
    m.node_event(at(30), NodeEvent::Restarted(NODE2));
    m.node_event(at(30), NodeEvent::Up(NODE2));
    m.handle_action_done(
        at(40),
        ActionDone::Acquired {
            group: G1,
            ok: true,
        },
    );
    m.handle_timeout(at(20_000));
    let taken = actions(&mut m);
    assert!(!taken.contains(&Action::Acquire(G2)), "{taken:?}");
}

#[test]
fn a_standby_before_our_comm_up_is_not_sent() {
    let mut m = machine("node2", AutoFailback::On, false);
    m.node_event(at(0), NodeEvent::Up(NODE1));
    m.node_event(at(0), NodeEvent::Active(NODE1));
    m.handle_command(at(10), Command::Standby(StandbySet::All))
        .unwrap();
    // The peer would accept it and wait an hour for a `done` we never send.
    assert!(messages(&mut m).is_empty());
    assert_eq!(
        logs(&mut m),
        [
            "info: Going standby [all].",
            "WARN: standby message [me] from node2 ignored.  local resources in flux."
        ]
    );
}

#[test]
fn legacy_reports_no_resource_state() {
    let mut m = machine("node1", AutoFailback::Legacy, false);
    m.node_event(at(0), NodeEvent::Up(NODE2));
    m.node_event(at(0), NodeEvent::Active(NODE2));
    m.comm_up(at(0));
    assert_eq!(
        messages(&mut m),
        ["t=ip-request ipaddr=IPaddr2::10.0.0.1/24/eth0"]
    );
    assert_eq!(m.rscstatus(), "none");
    assert_eq!(m.holder(G2), Holder::Peer(NODE2));
    m.handle_message(
        at(5),
        NODE2,
        &ResourceMsg::IpRequestResp {
            dest: "node1",
            ipaddr: "IPaddr2::10.0.0.1/24/eth0",
            weown: false,
            ok: "OK",
        },
    );
    assert_eq!(actions(&mut m), [Action::Acquire(G1)]);
    // An answer to someone else, or not OK, is not acted on.
    for (dest, ok) in [("node2", "OK"), ("node1", "NO")] {
        m.handle_message(
            at(6),
            NODE2,
            &ResourceMsg::IpRequestResp {
                dest,
                ipaddr: "10.0.0.2",
                weown: true,
                ok,
            },
        );
        assert!(actions(&mut m).is_empty());
    }
}

#[test]
fn a_failed_stop_halts_everything() {
    let mut m = stable_node1(AutoFailback::On);
    m.handle_command(at(10), Command::Shutdown).unwrap();
    assert_eq!(
        messages(&mut m),
        ["t=resource rsc_hold=none rtype=full isstable=0 info=shutdown"]
    );
    assert_eq!(actions(&mut m), [Action::Release(G1)]);
    m.handle_action_done(
        at(20),
        ActionDone::Released {
            group: G1,
            ok: false,
        },
    );
    assert_eq!(actions(&mut m), [Action::Reboot]);
    assert!(m.halted());
    m.handle_message(at(30), NODE2, &ResourceMsg::Starting);
    m.handle_timeout(at(100_000));
    assert!(messages(&mut m).is_empty());
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn shutdown_waits_for_comm_up_and_for_stability() {
    let mut m = machine("node1", AutoFailback::On, false);
    m.node_event(at(0), NodeEvent::Up(NODE2));
    m.handle_command(at(0), Command::Shutdown).unwrap();
    assert_eq!(
        logs(&mut m),
        ["WARN: Shutdown delayed until Communication is up."]
    );
    m.comm_up(at(1));
    // STARTING is not stable: delayed again until the negotiation ends.
    assert!(m.shutting_down());
    assert!(logs(&mut m)
        .iter()
        .any(|l| l == "WARN: Shutdown delayed until current resource activity finishes."));
    m.handle_message(at(2), NODE2, &held(RscSet::LOCAL, true));
    // Stable now (nothing to start yet: the acquisition was queued), and then it gives up.
    let mut done = false;
    for _ in 0..10 {
        for a in actions(&mut m) {
            match a {
                Action::Acquire(group) => {
                    m.handle_action_done(at(3), ActionDone::Acquired { group, ok: true })
                }
                Action::Release(group) => {
                    m.handle_action_done(at(4), ActionDone::Released { group, ok: true })
                }
                Action::Exit { restart } => {
                    assert!(!restart);
                    done = true;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(done);
    assert!(m.exited());
    let sent = messages(&mut m);
    assert_eq!(sent.last().map(String::as_str), Some("t=shutdone st=dead"));
    assert_eq!(m.resource_state(), RscState::Shutdown);
}

#[test]
fn full_output_queues_count_instead_of_panicking() {
    let mut m = stable_node1(AutoFailback::On);
    for i in 0..300 {
        m.handle_message(at(10 + i), NODE2, &ResourceMsg::Starting);
    }
    assert!(m.dropped_outputs() > 0);
    assert_eq!(messages(&mut m).len(), OUT_CAP);
}

#[test]
fn holdings_view() {
    let mut m = stable_node1(AutoFailback::Off);
    let all: Vec<(GroupId, Holder)> = m.holdings().collect();
    assert_eq!(all, [(G1, Holder::Local), (G2, Holder::Peer(NODE2))]);
    // Dead with nobody taking over yet (a STONITH device that fails): nobody holds it.
    m.stonith = true;
    m.node_event(
        at(10),
        NodeEvent::Dead {
            node: NODE2,
            heard_from: true,
        },
    );
    assert_eq!(actions(&mut m), [Action::Fence(NODE2)]);
    assert_eq!(m.holder(G2), Holder::Nobody);
    m.handle_action_done(
        at(20),
        ActionDone::Fenced {
            node: NODE2,
            result: FenceResult::Ok,
        },
    );
    assert_eq!(actions(&mut m), [Action::Acquire(G2)]);
    assert_eq!(m.holder(G2), Holder::Local);
    assert_eq!(m.rscstatus().to_string(), "transition");
}

fn three(local: &str) -> Resources<4, 4> {
    let nodes = names(&["node1", "node2", "node3"]);
    let r = res("node1 10.0.0.1\nnode2 10.0.0.2\nnode3 10.0.0.3\n");
    Resources::new(&ResourcesConfig {
        local_node: local,
        nodes: &nodes,
        groups: r.groups(),
        auto_failback: AutoFailback::On,
        stonith: false,
        timing: Timing::default(),
    })
    .unwrap()
}

fn claims(groups: u32, reply_to: Option<&str>) -> ResourceMsg<'_> {
    ResourceMsg::Resource(ResourceHeld {
        rsc_hold: RscSet::NONE,
        rtype_full: true,
        isstable: Some(true),
        info: None,
        groups: Some(GroupMask::new(groups)),
        reply_to,
    })
}

/// With three or more nodes a report counts only once it answers our `starting` (or follows
/// the peer's own): a report sent before we started, and sent again for another node that
/// missed it, may say the peer runs nothing while it runs our group (found by hbsim).
#[test]
fn multi_node_waits_for_the_answer_to_its_starting() {
    let mut m = three("node1");
    let (n2, n3) = (NodeId(1), NodeId(2));
    for n in [n2, n3] {
        m.node_event(at(0), NodeEvent::Up(n));
        m.node_event(at(0), NodeEvent::Active(n));
    }
    m.comm_up(at(0));
    assert!(messages(&mut m).iter().any(|s| s == "t=starting"));
    // Stale reports (no hb_reply): node1 still does not know what they run.
    m.handle_message(at(10), n2, &claims(0, None));
    m.handle_message(at(10), n3, &claims(0, None));
    m.handle_timeout(at(10_001));
    assert!(
        actions(&mut m).is_empty(),
        "nothing started on stale reports"
    );
    // Nobody answered within RQSTDELAY: starting again.
    assert!(messages(&mut m).iter().any(|s| s == "t=starting"));
    // The answers.
    m.handle_message(at(10_100), n2, &claims(0, Some("node1")));
    m.handle_message(at(10_100), n3, &claims(0, Some("node1")));
    assert_eq!(actions(&mut m), [Action::Acquire(GroupId(0))]);
}

/// A peer's `starting` is answered with a report naming it; a peer that says `starting` runs
/// nothing, and what it says after that is current.
#[test]
fn multi_node_answers_a_starting_by_name() {
    let mut m = three("node1");
    let (n2, n3) = (NodeId(1), NodeId(2));
    for n in [n2, n3] {
        m.node_event(at(0), NodeEvent::Up(n));
        m.node_event(at(0), NodeEvent::Active(n));
    }
    m.comm_up(at(0));
    messages(&mut m);
    m.handle_message(at(5), n2, &ResourceMsg::Starting);
    let out = messages(&mut m);
    assert!(out.iter().any(|s| s.contains("hb_reply=node2")), "{out:?}");
    m.handle_message(at(6), n3, &ResourceMsg::Starting);
    m.handle_message(at(7), n2, &claims(0, None));
    m.handle_message(at(7), n3, &claims(0, None));
    // Both started after us, so their reports are current: node1 takes its group at once.
    assert_eq!(actions(&mut m), [Action::Acquire(GroupId(0))]);
}

mod heal;
mod monitor;
mod rejoin;
mod standby;
