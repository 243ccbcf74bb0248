//! The multi-node extension (three or more nodes): per-group claims (`hb_groups`) and the
//! responsible node (preferred node if live, else the first live node in ha.cf order).

mod resources_support;

use hb_core::config::AutoFailback::{self, Legacy, Off, On};
use hb_core::resources::{Action, Command, CommandError, FenceResult, StandbySet};
use proptest::prelude::*;
use resources_support::Cluster;

const THREE: [&str; 3] = ["node1", "node2", "node3"];
const HARESOURCES: &str = "\
node1 10.0.0.1
node2 10.0.0.2
node3 10.0.0.3
node1 10.0.0.11
";

fn settled(mode: AutoFailback) -> Cluster {
    let mut c = Cluster::new(&THREE, HARESOURCES, mode);
    c.start(&THREE);
    c.settle();
    expect(
        &c,
        &[
            ("10.0.0.1", "node1"),
            ("10.0.0.2", "node2"),
            ("10.0.0.3", "node3"),
            ("10.0.0.11", "node1"),
        ],
    );
    c
}

#[track_caller]
fn expect(c: &Cluster, want: &[(&str, &str)]) {
    let got = c.placement();
    let got: Vec<(&str, &str)> = got.iter().map(|(k, o)| (k.as_str(), o.as_str())).collect();
    assert_eq!(got, want, "\n{}", c.transcript(0).join("\n"));
}

#[test]
fn start_together_each_takes_its_own_without_waiting_for_rqstdelay() {
    for mode in [Legacy, Off, On] {
        let c = settled(mode);
        // Every node has answered every `starting`: no 10 s wait.
        assert!(c.now < 10_000 || c.sent.iter().all(|s| s.at < 1_000));
        for n in THREE {
            assert!(c.m(n).is_stable(), "{mode:?} {n}");
        }
        // Claims on the wire: node1 claims groups 0 and 3.
        assert!(c
            .transcript(0)
            .iter()
            .any(|l| l == "node1: t=resource rsc_hold=local rtype=full isstable=1 hb_groups=9"));
    }
}

#[test]
fn a_dead_nodes_groups_go_to_the_first_live_node() {
    for mode in [Legacy, Off, On] {
        let mut c = settled(mode);
        c.crash("node1");
        c.settle();
        expect(
            &c,
            &[
                ("10.0.0.1", "node2"),
                ("10.0.0.2", "node2"),
                ("10.0.0.3", "node3"),
                ("10.0.0.11", "node2"),
            ],
        );
        // Both survivors report the missing STONITH device, as 3.0.6 would.
        let stonith: Vec<String> = c
            .transcript(0)
            .into_iter()
            .filter(|l| l.contains("t=stonith"))
            .collect();
        assert_eq!(
            stonith,
            [
                "node2: t=stonith node=node1 result=n_stnth",
                "node3: t=stonith node=node1 result=n_stnth",
            ]
        );
        // Then node2 dies too: node3 runs everything.
        c.crash("node2");
        c.settle();
        expect(
            &c,
            &[
                ("10.0.0.1", "node3"),
                ("10.0.0.2", "node3"),
                ("10.0.0.3", "node3"),
                ("10.0.0.11", "node3"),
            ],
        );
    }
}

#[test]
fn a_returning_node_gets_its_groups_back_per_mode() {
    for (mode, back) in [(Legacy, true), (Off, false), (On, true)] {
        let mut c = settled(mode);
        c.crash("node1");
        c.settle();
        c.start(&["node1"]);
        c.settle();
        let owner = if back { "node1" } else { "node2" };
        expect(
            &c,
            &[
                ("10.0.0.1", owner),
                ("10.0.0.2", "node2"),
                ("10.0.0.3", "node3"),
                ("10.0.0.11", owner),
            ],
        );
    }
}

#[test]
fn graceful_shutdown_hands_groups_over_one_by_one() {
    let mut c = settled(Off);
    c.crash("node1");
    c.settle();
    c.start(&["node1"]);
    c.settle();
    // node2 holds 10.0.0.1, 10.0.0.2 and 10.0.0.11; it leaves.
    c.command("node2", Command::Shutdown);
    c.run_for(500);
    expect(
        &c,
        &[
            ("10.0.0.1", "node1"),
            ("10.0.0.2", "node1"),
            ("10.0.0.3", "node3"),
            ("10.0.0.11", "node1"),
        ],
    );
    let from_node2: Vec<String> = c
        .transcript(0)
        .into_iter()
        .filter(|l| l.starts_with("node2:") && l.contains("info=shutdown"))
        .collect();
    assert_eq!(
        from_node2,
        [
            // Still claiming everything it runs, but leaving; then one group fewer each time.
            "node2: t=resource rsc_hold=all rtype=full isstable=0 info=shutdown hb_groups=b",
            "node2: t=resource rsc_hold=all rtype=full isstable=0 info=shutdown hb_groups=a",
            "node2: t=resource rsc_hold=foreign rtype=full isstable=0 info=shutdown hb_groups=8",
        ]
    );
    assert_eq!(c.nodes[1].exited, Some(false));
    c.settle();
    assert!(c
        .transcript(0)
        .contains(&"node1: t=stonith node=node2 result=unneeded".to_string()));
}

#[test]
fn stonith_blocks_the_dead_nodes_groups_until_it_succeeds() {
    let mut c = Cluster::new(&THREE, HARESOURCES, On);
    c.stonith = true;
    c.start(&THREE);
    c.settle();
    c.fence_results = vec![FenceResult::Failed, FenceResult::Failed];
    c.crash("node1");
    c.run_for(1_000 + 4_000);
    // Both survivors fence (each needs it before anyone may take node1's groups).
    expect(
        &c,
        &[
            ("10.0.0.1", "-"),
            ("10.0.0.2", "node2"),
            ("10.0.0.3", "node3"),
            ("10.0.0.11", "-"),
        ],
    );
    c.settle();
    expect(
        &c,
        &[
            ("10.0.0.1", "node2"),
            ("10.0.0.2", "node2"),
            ("10.0.0.3", "node3"),
            ("10.0.0.11", "node2"),
        ],
    );
    assert!(c.nodes[1]
        .actions
        .iter()
        .any(|a| matches!(a, Action::Fence(_))));
}

#[test]
fn alone_at_start_takes_everything() {
    let mut c = Cluster::new(&THREE, HARESOURCES, On);
    c.start(&["node3"]);
    c.settle();
    expect(
        &c,
        &[
            ("10.0.0.1", "node3"),
            ("10.0.0.2", "node3"),
            ("10.0.0.3", "node3"),
            ("10.0.0.11", "node3"),
        ],
    );
    c.start(&["node1", "node2"]);
    c.settle();
    expect(
        &c,
        &[
            ("10.0.0.1", "node1"),
            ("10.0.0.2", "node2"),
            ("10.0.0.3", "node3"),
            ("10.0.0.11", "node1"),
        ],
    );
}

#[test]
fn a_failed_start_is_retried_after_30s() {
    let mut c = Cluster::new(&THREE, HARESOURCES, On);
    let g = c.group("10.0.0.2");
    c.fail_start.insert((1, g));
    c.start(&THREE);
    c.run_for(1_000);
    assert_eq!(c.owners("10.0.0.2"), Vec::<String>::new());
    c.fail_start.clear();
    c.run_for(30_000);
    assert_eq!(c.owners("10.0.0.2"), ["node2"]);
}

#[test]
fn standby_and_takeover_are_two_node_only() {
    let mut c = settled(On);
    let now = c.at();
    let n = c.id("node1");
    let m = c.nodes[n].machine.as_mut().unwrap();
    assert_eq!(
        m.handle_command(now, Command::Standby(StandbySet::All)),
        Err(CommandError::NotSupported)
    );
    assert_eq!(
        m.handle_command(now, Command::Takeover(StandbySet::All)),
        Err(CommandError::NotSupported)
    );
}

#[test]
fn partition_heals_into_a_restart_and_one_owner() {
    let mut c = settled(On);
    c.partition("node1", "node2");
    c.partition("node1", "node3");
    c.settle();
    c.heal("node1", "node2");
    c.heal("node1", "node3");
    c.settle();
    for (n, name) in THREE.iter().enumerate() {
        if !c.is_up(n) {
            c.start(&[name]);
        }
    }
    c.settle();
    for (key, owner) in c.placement() {
        assert!(!owner.contains('+') && owner != "-", "{key}: {owner}");
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Op {
    Crash(usize, u64),
    FastRestart(usize),
    Shutdown(usize, u64),
    Wait(u64),
}

fn op(nodes: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..nodes, 0..20_000u64).prop_map(|(n, t)| Op::Crash(n, t)),
        (0..nodes).prop_map(Op::FastRestart),
        (0..nodes, 0..20_000u64).prop_map(|(n, t)| Op::Shutdown(n, t)),
        (0..20_000u64).prop_map(Op::Wait),
    ]
}

const NAMES: [&str; 8] = [
    "node1", "node2", "node3", "node4", "node5", "node6", "node7", "node8",
];

fn haresources(groups: &[usize]) -> String {
    groups
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{} 10.0.1.{}\n", NAMES[*n], i + 1))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn multi_node_one_owner_per_group_once_settled(
        (nodes, groups, ops) in (3..=8usize).prop_flat_map(|n| (
            Just(n),
            proptest::collection::vec(0..n, 1..8),
            proptest::collection::vec((0..10_000u64, op(n)), 0..8),
        )),
        mode in prop_oneof![Just(Legacy), Just(Off), Just(On)],
        stagger in proptest::collection::vec(0..3_000u64, 8),
        msg_jitter in 0..200u64,
        action_jitter in 0..2_000u64,
        seed in any::<u64>(),
    ) {
        let names = &NAMES[..nodes];
        let mut c = Cluster::new(names, &haresources(&groups), mode);
        c.msg_jitter = msg_jitter;
        c.action_jitter = action_jitter;
        c.rng = seed | 1;
        // Nodes come up one after another, each within initdead of the first.
        c.power_on(names);
        for (i, n) in names.iter().enumerate() {
            c.run_for(stagger[i]);
            c.comm_up(n);
        }
        let mut history = format!("{mode:?} {nodes} nodes, groups {groups:?}");
        for &(gap, op) in &ops {
            c.run_for(gap);
            history.push_str(&format!(", +{gap} {op:?}"));
            match op {
                Op::Crash(n, t) if c.is_up(n) => {
                    c.crash(names[n]);
                    c.run_for(c.deadtime + 1 + t);
                    c.start(&[names[n]]);
                }
                Op::FastRestart(n) if c.is_up(n) => c.fast_restart(names[n]),
                Op::Shutdown(n, t) if c.is_up(n) => {
                    c.command(names[n], Command::Shutdown);
                    c.settle();
                    c.run_for(t);
                    c.start(&[names[n]]);
                }
                Op::Wait(t) => c.run_for(t),
                _ => {}
            }
        }
        for (n, name) in names.iter().enumerate() {
            if !c.is_up(n) {
                c.start(&[name]);
            }
        }
        c.settle();
        for (key, owner) in c.placement() {
            prop_assert!(
                !owner.contains('+') && owner != "-",
                "{key} runs on {owner} after {history}\n{}",
                c.transcript(0).join("\n")
            );
        }
        for name in names {
            prop_assert!(c.m(name).is_stable(), "{name} not stable after {history}");
        }
    }
}
