//! hb-core's in-memory cluster of joined nodes (`hb-core/tests/cluster`), shared with this
//! crate through `#[path]`, with more than two nodes: what the two-node tests in hb-core cannot
//! show.

#[path = "../../hb-core/tests/cluster/mod.rs"]
mod cluster;

use cluster::Cluster;
use hb_core::engine::{Event as EngineEvent, NodeId};
use hb_core::heartbeat::{Event, Heartbeat};

type Net = Cluster<Heartbeat<3, 1, 4>>;

fn three() -> Net {
    let hacf = "keepalive 200ms\nwarntime 750ms\ndeadtime 1000ms\ninitdead 3000ms\n\
                udpport 694\nbcast eth0\nauto_failback on\nnode node1 node2 node3\ncrm off\n";
    let hares = "node1 10.0.0.1\nnode2 10.0.0.2\nnode3 10.0.0.3\n";
    Net::new(&["node1", "node2", "node3"], &[], hacf, hares, b"three")
}

#[test]
fn three_nodes_each_run_their_own_group() {
    let mut n = three();
    n.start_all(20_000);
    for i in 0..3 {
        assert_eq!(n.holds(i), [i as u8], "node{}", i + 1);
        assert!(n.hb(i).is_comm_up());
    }
    assert_eq!(n.overlap, None);
}

#[test]
fn a_crashed_nodes_group_goes_to_exactly_one_survivor() {
    let mut n = three();
    n.start_all(20_000);
    let t = n.now;
    n.crash(2);
    n.run_ms(10_000);
    for i in 0..2 {
        let dead = n.first(i, t, |e| {
            matches!(
                e,
                Event::Membership(EngineEvent::NodeDead {
                    node: NodeId(2),
                    ..
                })
            )
        });
        assert!(dead.is_some(), "node{} saw node3 die", i + 1);
    }
    let holders: Vec<usize> = (0..2).filter(|&i| n.holds(i).contains(&2)).collect();
    assert_eq!(holders.len(), 1, "node3's group held by {holders:?}");
    assert!(n.holds(0).contains(&0) && n.holds(1).contains(&1));
    assert_eq!(n.overlap, None);
}
