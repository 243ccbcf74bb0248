//! ipfail built into the joined node (`Heartbeat`): two nodes and a ping node over an
//! in-memory network, a fake daemon that runs actions and answers pings as each node's
//! reachability says, one virtual clock. The messages the nodes exchange and ipfail's log lines
//! are checked word for word.

mod cluster;

use cluster::{Cluster, WALL};
use hb_core::auth::{Keyring, Method};
use hb_core::config::{HaCf, HaResources};
use hb_core::engine::{MediumId, NodeId};
use hb_core::heartbeat::{Event, Heartbeat, HeartbeatConfig};
use hb_core::ipfail::{self, Disabled};
use hb_core::msg::{self, DEFAULT_FIELDS};
use hb_core::resources::GroupId;
use hb_core::time::{Duration, Instant};

type Hb = Heartbeat<3, 1, 4>;

const N1: usize = 0;
const N2: usize = 1;
const G1: GroupId = GroupId(0);
const G2: GroupId = GroupId(1);
const LATENCY: u64 = 2;
const ACTION_MS: u64 = 50;

struct Names;

impl ipfail::Names for Names {
    fn node(&self, id: NodeId) -> &str {
        ["node1", "node2", "10.0.0.254"][id.index()]
    }
    fn link(&self, _: MediumId) -> &str {
        "eth0"
    }
}

fn keys() -> Keyring {
    let mut k = Keyring::new();
    k.insert(1, Method::Sha1, b"ipfail").unwrap();
    k.set_active(1).unwrap();
    k
}

/// The fields of a message, control fields left out unless `all`.
fn fields(bytes: &[u8], all: bool) -> Vec<String> {
    let mut scratch = [0u8; 2048];
    let p = msg::decode::<DEFAULT_FIELDS>(bytes, &mut scratch).unwrap();
    p.msg
        .fields()
        .iter()
        .filter(|f| {
            all || !matches!(
                f.name,
                b"src"
                    | b"srcuuid"
                    | b"seq"
                    | b"hg"
                    | b"ts"
                    | b"ld"
                    | b"ttl"
                    | b"auth"
                    | b"destuuid"
            )
        })
        .map(|f| {
            let name = String::from_utf8_lossy(f.name);
            if all {
                name.into_owned()
            } else {
                format!("{name}={}", String::from_utf8_lossy(f.value))
            }
        })
        .collect()
}

type Net = Cluster<Heartbeat<3, 1, 4>>;

/// Two nodes on `bcast eth0` with a ping node, each with its group, none started; `extra`
/// goes into ha.cf.
fn net(extra: &str) -> Net {
    let hacf = format!(
        "keepalive 200ms\nwarntime 750ms\ndeadtime 1000ms\ninitdead 3000ms\nudpport 694\n\
         bcast eth0\nping 10.0.0.254\n{extra}node node1 node2\ncrm off\n"
    );
    let hares = "node1 10.0.0.1\nnode2 10.0.0.2\n";
    let mut n = Net::new(
        &["node1", "node2"],
        &["10.0.0.254"],
        &hacf,
        hares,
        b"ipfail",
    );
    n.latency = Duration::from_millis(LATENCY);
    n.action_ms = ACTION_MS;
    n
}

fn with_ipfail(auto_failback: &str) -> Net {
    net(&format!(
        "auto_failback {auto_failback}\nrespawn hacluster /usr/lib/heartbeat/ipfail\n"
    ))
}

fn started_pair(auto_failback: &str) -> Net {
    let mut n = with_ipfail(auto_failback);
    n.start_all(15_000);
    for m in &n.members {
        assert!(m.rx_errors.is_empty(), "{}: {:?}", m.name, m.rx_errors);
    }
    assert_eq!(n.holds(N1), [G1.0]);
    assert_eq!(n.holds(N2), [G2.0]);
    n
}

/// The messages node `i` sent from `from` on whose type is one of `types`, as their fields
/// (control fields left out).
fn sent_since(n: &Net, i: usize, from: Instant, types: &[&str]) -> Vec<Vec<String>> {
    n.members[i]
        .sent
        .iter()
        .filter(|s| s.at >= from)
        .map(|s| fields(&s.bytes, false))
        .filter(|f| types.iter().any(|ty| f[0] == format!("t={ty}")))
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const IPFAIL_TYPES: &[&str] = &[
    "hbapi-clstat",
    "num_ping_nodes",
    "you_are_dead",
    "abort_giveup",
    "ask_resources",
];

#[test]
fn both_ipfails_join_at_comm_up_and_ask_each_other() {
    let n = started_pair("on");
    for i in [N1, N2] {
        let ip = n.hb(i).ipfail();
        assert!(ip.is_running());
        assert_eq!(ip.peer(), Some(NodeId(1 - i as u8)));
        assert_eq!(n.hb(i).ping_count(), 1);
        let joins = sent_since(&n, i, Instant::ZERO, &["hbapi-clstat"]);
        assert_eq!(
            joins,
            [strings(&[
                "t=hbapi-clstat",
                "st=join",
                "from_id=ipfail",
                "to_id=ipfail",
                "client_gen=0"
            ])]
        );
    }
    // Whoever heard the other's join asked for its count; counts are equal, nothing moved.
    let asked: usize = [N1, N2]
        .iter()
        .map(|&i| sent_since(&n, i, Instant::ZERO, &["num_ping_nodes"]).len())
        .sum();
    assert!(asked >= 1);
    assert!(n.hb(N1).ipfail().pending_giveup().is_none());
    assert!(n.hb(N2).ipfail().pending_giveup().is_none());
}

#[test]
fn the_node_that_loses_its_ping_node_gives_everything_away() {
    let mut n = started_pair("on");
    let t = n.now;
    n.members[N1].reaches_ping = false;
    n.run_ms(6000);
    assert_eq!(n.holds(N1), Vec::<u8>::new());
    assert_eq!(n.holds(N2), [G1.0, G2.0]);
    assert_eq!(n.overlap, None);
    // node1: the ping node dies (deadping = deadtime), it asks, is told, gives up.
    assert_eq!(
        n.ipfail_log_since(N1, t),
        [
            "Status update: Node 10.0.0.254 now has status dead",
            "NS: We are dead. :<",
            "Link Status update: Link 10.0.0.254/10.0.0.254 now has status dead",
            "We are dead. :<",
            "Asking other side for ping node count.",
            "Giving up because we were told that we have less ping nodes.",
            "Delayed giveup in 0 seconds.",
            "giveup() called (timeout worked)",
        ]
    );
    assert_eq!(
        n.ipfail_log_since(N2, t),
        ["Telling other node that we have more visible ping nodes."]
    );
    assert_eq!(
        sent_since(&n, N1, t, IPFAIL_TYPES),
        [
            strings(&[
                "t=num_ping_nodes",
                "num_ping=0",
                "dest=node2",
                "from_id=ipfail",
                "to_id=ipfail",
                "client_gen=0"
            ]),
            // (`hb_sbid`: hb numbers its standby requests; 3.0.6 ignores the field.)
            strings(&["t=ask_resources", "rsc_hold=all", "info=me", "hb_sbid=1"]),
            strings(&["t=ask_resources", "rsc_hold=all", "info=done", "hb_sbid=1"]),
        ]
    );
    assert_eq!(
        sent_since(&n, N2, t, IPFAIL_TYPES),
        [
            strings(&[
                "t=you_are_dead",
                "dest=node1",
                "from_id=ipfail",
                "to_id=ipfail",
                "client_gen=0"
            ]),
            strings(&["t=ask_resources", "rsc_hold=all", "info=other", "hb_sbid=1"]),
            strings(&["t=ask_resources", "rsc_hold=all", "info=done", "hb_sbid=1"]),
        ]
    );
    // The give-up went out 2 × keepalive after the decision.
    let told = n.members[N1]
        .ipfail_log
        .iter()
        .find(|(at, l)| *at >= t && l.starts_with("Delayed giveup"))
        .unwrap()
        .0;
    let called = n.members[N1]
        .ipfail_log
        .iter()
        .find(|(at, l)| *at >= t && l.starts_with("giveup()"))
        .unwrap()
        .0;
    assert_eq!(called, told + Duration::from_millis(400));
    assert_eq!(n.hb(N1).ipfail().our_count(), Some(0));
    assert_eq!(n.hb(N2).ipfail().peer_count(), Some(0));
}

#[test]
fn ipfail_messages_carry_the_control_fields_in_3_0_6_order() {
    let mut n = started_pair("on");
    n.members[N1].reaches_ping = false;
    n.run_ms(6000);
    let sent = n.members[N1]
        .sent
        .iter()
        .find(|s| fields(&s.bytes, false)[0] == "t=num_ping_nodes")
        .expect("num_ping_nodes sent");
    assert_eq!(
        fields(&sent.bytes, true),
        [
            "t",
            "src",
            "num_ping",
            "dest",
            "from_id",
            "to_id",
            "client_gen",
            "destuuid",
            "srcuuid",
            "seq",
            "hg",
            "ts",
            "ld",
            "ttl",
            "auth"
        ]
    );
}

#[test]
fn a_returning_ping_node_balances_the_counts_and_auto_failback_brings_the_groups_home() {
    for (mode, home) in [("on", true), ("off", false)] {
        let mut n = started_pair(mode);
        n.members[N1].reaches_ping = false;
        n.run_ms(6000);
        assert_eq!(n.holds(N2), [G1.0, G2.0], "{mode}");
        let t = n.now;
        n.members[N1].reaches_ping = true;
        n.run_ms(8000);
        assert_eq!(
            n.ipfail_log_since(N1, t),
            [
                "Status update: Node 10.0.0.254 now has status ping",
                "A ping node just came up.",
                "Asking other side for ping node count.",
                "No giveup timer to abort.",
            ],
            "{mode}"
        );
        let mut expected = vec!["Ping node count is balanced."];
        if home {
            expected.extend([
                "Giving up foreign resources (auto_failback).",
                "Delayed giveup in 0 seconds.",
                "giveup() called (timeout worked)",
            ]);
        }
        assert_eq!(n.ipfail_log_since(N2, t), expected, "{mode}");
        assert_eq!(
            sent_since(&n, N2, t, &["abort_giveup"]),
            [strings(&[
                "t=abort_giveup",
                "dest=node1",
                "from_id=ipfail",
                "to_id=ipfail",
                "client_gen=0"
            ])],
            "{mode}"
        );
        if home {
            assert_eq!(n.holds(N1), [G1.0], "{mode}");
            assert_eq!(n.holds(N2), [G2.0], "{mode}");
        } else {
            assert_eq!(n.holds(N2), [G1.0, G2.0], "{mode}");
        }
        assert_eq!(n.overlap, None, "{mode}");
    }
}

#[test]
fn when_both_lose_the_ping_node_nothing_moves() {
    for mode in ["on", "off"] {
        let mut n = started_pair(mode);
        let t = n.now;
        n.members[N1].reaches_ping = false;
        n.members[N2].reaches_ping = false;
        n.run_ms(30_000);
        assert_eq!(n.holds(N1), [G1.0], "{mode}");
        assert_eq!(n.holds(N2), [G2.0], "{mode}");
        for i in [N1, N2] {
            let log = n.ipfail_log_since(i, t);
            assert!(
                log.contains(&"Ping node count is balanced."),
                "{mode}: {log:?}"
            );
            assert!(
                !log.iter().any(|l| l.starts_with("Giving up because")),
                "{mode}: {log:?}"
            );
            assert!(
                !n.members[i]
                    .events
                    .iter()
                    .any(|(at, e)| *at >= t && matches!(e, Event::Release(_))),
                "{mode}"
            );
        }
    }
}

#[test]
fn ipfail_does_not_run_where_3_0_6_exits() {
    // legacy auto_failback: the program exits 100 after one line.
    let mut n = net("auto_failback legacy\nrespawn hacluster /usr/lib/heartbeat/ipfail\n");
    n.start(N1);
    n.start(N2);
    n.run_ms(15_000);
    assert_eq!(
        n.hb(N1).ipfail().disabled(),
        Some(Disabled::LegacyAutoFailback)
    );
    assert_eq!(
        n.ipfail_log_since(N1, Instant::ZERO),
        ["auto_failback set to incompatible legacy option."]
    );
    n.members[N1].reaches_ping = false;
    n.run_ms(10_000);
    assert_eq!(n.ipfail_log_since(N1, Instant::ZERO).len(), 1);
    assert!(sent_since(&n, N1, Instant::ZERO, IPFAIL_TYPES).is_empty());
    assert_eq!(n.holds(N1), [G1.0]);

    // No respawn line: nothing at all.
    let mut n = net("auto_failback on\n");
    n.start(N1);
    n.start(N2);
    n.run_ms(15_000);
    n.members[N1].reaches_ping = false;
    n.run_ms(10_000);
    assert_eq!(n.hb(N1).ipfail().disabled(), Some(Disabled::NotConfigured));
    assert!(n.members[N1].ipfail_log.is_empty());
    assert!(sent_since(&n, N1, Instant::ZERO, IPFAIL_TYPES).is_empty());
    assert_eq!(n.holds(N1), [G1.0]);
}

#[test]
fn no_managed_resources_is_said_once() {
    let text = "keepalive 200ms\ndeadtime 1000ms\ninitdead 3000ms\nbcast eth0\n\
                ping 10.0.0.254\nauto_failback on\nrespawn hacluster /usr/lib/heartbeat/ipfail\n\
                node node1 node2\ncrm off\n";
    let hacf = HaCf::parse(text, &mut |e| assert!(e.to_string().contains("warning"))).unwrap();
    let hares = HaResources::parse("", &mut |e| panic!("{e}")).unwrap();
    let cfg = HeartbeatConfig::from_files(&hacf, &hares, "node1", [1; 16], 5, keys(), 1).unwrap();
    assert!(cfg.ipfail);
    let mut hb = Hb::new(&cfg, Instant::ZERO, WALL).unwrap();
    let mut lines = Vec::new();
    let mut t = 0;
    while t < 8000 {
        t = hb.poll_timeout().unwrap().as_millis();
        hb.handle_timeout(Instant::from_millis(t), WALL);
        while let Some(p) = hb.poll_ping() {
            hb.handle_ping_reply(Instant::from_millis(t), p).unwrap();
        }
        while let Some(e) = hb.poll_event() {
            if let Event::Ipfail(l) = e {
                lines.push(l.line(&Names).to_string());
            }
        }
        let mut buf = [0u8; 2048];
        while hb
            .poll_transmit(Instant::from_millis(t), &mut buf)
            .is_some()
        {}
    }
    assert!(hb.is_comm_up());
    assert_eq!(lines, ["No managed resources"]);
    assert_eq!(hb.ipfail().disabled(), Some(Disabled::NoManagedResources));
}
