//! ipfail built into the joined node ([`Heartbeat`]): two nodes and a ping node over an
//! in-memory network, a fake daemon that runs actions and answers pings as each node's
//! reachability says, one virtual clock. The messages the nodes exchange and ipfail's log lines
//! are checked word for word.

use std::collections::BTreeSet;

use hb_core::auth::{Keyring, Method};
use hb_core::config::{HaCf, HaResources};
use hb_core::engine::{MediumId, NodeId};
use hb_core::heartbeat::{Event, Heartbeat, HeartbeatConfig};
use hb_core::ipfail::{self, Disabled};
use hb_core::msg::{self, DEFAULT_FIELDS};
use hb_core::resources::{ActionDone, GroupId};
use hb_core::time::Instant;

type Hb = Heartbeat<3, 1, 4>;

const N1: usize = 0;
const N2: usize = 1;
const G1: GroupId = GroupId(0);
const G2: GroupId = GroupId(1);
const WALL: u64 = 0x6b02_14a8;
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

struct Member {
    hb: Option<Box<Hb>>,
    holds: BTreeSet<u8>,
    /// The ping node answers this node.
    reaches_ping: bool,
    /// ipfail's log lines, with their time.
    ipfail_log: Vec<(u64, String)>,
    /// Every message this node sent but status and `NS_` ones: its fields as `name=value`.
    sent: Vec<(u64, Vec<String>)>,
    /// The same messages as they went on the wire.
    sent_raw: Vec<Vec<u8>>,
    /// Other events (the fake daemon's view).
    events: Vec<(u64, Event)>,
}

struct Net {
    hacf: HaCf,
    hares: HaResources,
    now: u64,
    members: Vec<Member>,
    inflight: Vec<(u64, usize, Vec<u8>)>,
    pending: Vec<(u64, usize, ActionDone)>,
    /// Both nodes ran a group at the same time.
    overlap: bool,
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

impl Net {
    fn new(extra: &str) -> Net {
        let text = format!(
            "keepalive 200ms\nwarntime 750ms\ndeadtime 1000ms\ninitdead 3000ms\nudpport 694\n\
             bcast eth0\nping 10.0.0.254\n{extra}node node1 node2\ncrm off\n"
        );
        let hacf = HaCf::parse(&text, &mut |e| {
            assert!(e.to_string().contains("warning"), "{e}")
        })
        .unwrap();
        let hares =
            HaResources::parse("node1 10.0.0.1\nnode2 10.0.0.2\n", &mut |e| panic!("{e}")).unwrap();
        let member = || Member {
            hb: None,
            holds: BTreeSet::new(),
            reaches_ping: true,
            ipfail_log: Vec::new(),
            sent: Vec::new(),
            sent_raw: Vec::new(),
            events: Vec::new(),
        };
        Net {
            hacf,
            hares,
            now: 0,
            members: vec![member(), member()],
            inflight: Vec::new(),
            pending: Vec::new(),
            overlap: false,
        }
    }

    fn with_ipfail(auto_failback: &str) -> Net {
        Net::new(&format!(
            "auto_failback {auto_failback}\nrespawn hacluster /usr/lib/heartbeat/ipfail\n"
        ))
    }

    fn start(&mut self, i: usize) {
        let name = format!("node{}", i + 1);
        let mut uuid = [7; 16];
        uuid[0] = i as u8;
        let cfg = HeartbeatConfig::from_files(
            &self.hacf,
            &self.hares,
            &name,
            uuid,
            10,
            keys(),
            i as u64 + 1,
        )
        .unwrap();
        let hb = Hb::new(&cfg, Instant::from_millis(self.now), WALL).unwrap();
        self.members[i].hb = Some(Box::new(hb));
        self.flush(i);
    }

    fn hb(&self, i: usize) -> &Hb {
        self.members[i].hb.as_deref().unwrap()
    }

    fn flush(&mut self, i: usize) {
        let now = Instant::from_millis(self.now);
        let mut buf = [0u8; 2048];
        let m = &mut self.members[i];
        let Some(hb) = m.hb.as_mut() else {
            return;
        };
        while let Some(p) = hb.poll_ping() {
            if m.reaches_ping {
                // The answer comes back at once.
                hb.handle_ping_reply(now, p).unwrap();
            }
        }
        while let Some(tx) = hb.poll_transmit(now, &mut buf) {
            let bytes = buf[..tx.len].to_vec();
            let f = fields(&bytes, false);
            if !f[0].starts_with("t=status") && !f[0].starts_with("t=NS_") {
                m.sent.push((self.now, f));
                m.sent_raw.push(bytes.clone());
            }
            self.inflight.push((self.now + LATENCY, 1 - i, bytes));
        }
        let events: Vec<Event> = std::iter::from_fn(|| hb.poll_event()).collect();
        for e in events {
            match e {
                Event::Acquire(g) => {
                    m.holds.insert(g.0);
                    let done = ActionDone::Acquired { group: g, ok: true };
                    self.pending.push((self.now + ACTION_MS, i, done));
                }
                Event::Release(g) => {
                    let done = ActionDone::Released { group: g, ok: true };
                    self.pending.push((self.now + ACTION_MS, i, done));
                }
                Event::Ipfail(l) => {
                    m.ipfail_log.push((self.now, l.line(&Names).to_string()));
                    continue;
                }
                Event::IpfailMessageNotSent { .. } => panic!("{e:?}"),
                _ => {}
            }
            m.events.push((self.now, e));
        }
    }

    fn run_for(&mut self, ms: u64) {
        let until = self.now + ms;
        loop {
            let timer = (0..2)
                .filter_map(|i| {
                    let t = self.members[i].hb.as_ref()?.poll_timeout()?;
                    Some((t.as_millis(), i))
                })
                .min();
            let packet = self.inflight.iter().map(|p| p.0).min();
            let action = self.pending.iter().map(|p| p.0).min();
            let next = [timer.map(|t| t.0), packet, action]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next.filter(|&t| t <= until) else {
                self.now = until;
                return;
            };
            self.now = self.now.max(next);
            let (now, wall) = (Instant::from_millis(self.now), WALL + self.now / 1000);
            if let Some(k) = self.inflight.iter().position(|p| p.0 <= self.now) {
                let (_, to, bytes) = self.inflight.remove(k);
                if let Some(hb) = self.members[to].hb.as_mut() {
                    hb.handle_packet(now, wall, MediumId(0), &bytes).unwrap();
                    self.flush(to);
                }
            } else if let Some(k) = self.pending.iter().position(|p| p.0 <= self.now) {
                let (_, i, done) = self.pending.remove(k);
                if let ActionDone::Released { group, .. } = done {
                    self.members[i].holds.remove(&group.0);
                }
                self.members[i]
                    .hb
                    .as_mut()
                    .unwrap()
                    .handle_action_done(now, done);
                self.flush(i);
            } else if let Some((_, i)) = timer {
                self.members[i]
                    .hb
                    .as_mut()
                    .unwrap()
                    .handle_timeout(now, wall);
                self.flush(i);
            }
            if self.members[0]
                .holds
                .intersection(&self.members[1].holds)
                .next()
                .is_some()
            {
                self.overlap = true;
            }
        }
    }

    fn holds(&self, i: usize) -> Vec<u8> {
        self.members[i].holds.iter().copied().collect()
    }

    fn started_pair(auto_failback: &str) -> Net {
        let mut n = Net::with_ipfail(auto_failback);
        n.start(N1);
        n.start(N2);
        n.run_for(15_000);
        assert_eq!(n.holds(N1), [G1.0]);
        assert_eq!(n.holds(N2), [G2.0]);
        n
    }

    /// ipfail's lines of member `i` from `from` on.
    fn log_since(&self, i: usize, from: u64) -> Vec<&str> {
        self.members[i]
            .ipfail_log
            .iter()
            .filter(|(t, _)| *t >= from)
            .map(|(_, l)| l.as_str())
            .collect()
    }

    /// The messages member `i` sent from `from` on whose type is one of `types`.
    fn sent_since(&self, i: usize, from: u64, types: &[&str]) -> Vec<Vec<String>> {
        self.members[i]
            .sent
            .iter()
            .filter(|(t, f)| *t >= from && types.iter().any(|ty| f[0] == format!("t={ty}")))
            .map(|(_, f)| f.clone())
            .collect()
    }
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
    let n = Net::started_pair("on");
    for i in [N1, N2] {
        let ip = n.hb(i).ipfail();
        assert!(ip.is_running());
        assert_eq!(ip.peer(), Some(NodeId(1 - i as u8)));
        assert_eq!(n.hb(i).ping_count(), 1);
        let joins = n.sent_since(i, 0, &["hbapi-clstat"]);
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
        .map(|&i| n.sent_since(i, 0, &["num_ping_nodes"]).len())
        .sum();
    assert!(asked >= 1);
    assert!(n.hb(N1).ipfail().pending_giveup().is_none());
    assert!(n.hb(N2).ipfail().pending_giveup().is_none());
}

#[test]
fn the_node_that_loses_its_ping_node_gives_everything_away() {
    let mut n = Net::started_pair("on");
    let t = n.now;
    n.members[N1].reaches_ping = false;
    n.run_for(6000);
    assert_eq!(n.holds(N1), Vec::<u8>::new());
    assert_eq!(n.holds(N2), [G1.0, G2.0]);
    assert!(!n.overlap);
    // node1: the ping node dies (deadping = deadtime), it asks, is told, gives up.
    assert_eq!(
        n.log_since(N1, t),
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
        n.log_since(N2, t),
        ["Telling other node that we have more visible ping nodes."]
    );
    assert_eq!(
        n.sent_since(N1, t, IPFAIL_TYPES),
        [
            strings(&[
                "t=num_ping_nodes",
                "num_ping=0",
                "dest=node2",
                "from_id=ipfail",
                "to_id=ipfail",
                "client_gen=0"
            ]),
            strings(&["t=ask_resources", "rsc_hold=all", "info=me"]),
            strings(&["t=ask_resources", "rsc_hold=all", "info=done"]),
        ]
    );
    assert_eq!(
        n.sent_since(N2, t, IPFAIL_TYPES),
        [
            strings(&[
                "t=you_are_dead",
                "dest=node1",
                "from_id=ipfail",
                "to_id=ipfail",
                "client_gen=0"
            ]),
            strings(&["t=ask_resources", "rsc_hold=all", "info=other"]),
            strings(&["t=ask_resources", "rsc_hold=all", "info=done"]),
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
    assert_eq!(called, told + 400);
    assert_eq!(n.hb(N1).ipfail().our_count(), Some(0));
    assert_eq!(n.hb(N2).ipfail().peer_count(), Some(0));
}

#[test]
fn ipfail_messages_carry_the_control_fields_in_3_0_6_order() {
    let mut n = Net::started_pair("on");
    n.members[N1].reaches_ping = false;
    n.run_for(6000);
    let bytes = n.members[N1]
        .sent_raw
        .iter()
        .find(|b| fields(b, false)[0] == "t=num_ping_nodes")
        .expect("num_ping_nodes sent");
    assert_eq!(
        fields(bytes, true),
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
        let mut n = Net::started_pair(mode);
        n.members[N1].reaches_ping = false;
        n.run_for(6000);
        assert_eq!(n.holds(N2), [G1.0, G2.0], "{mode}");
        let t = n.now;
        n.members[N1].reaches_ping = true;
        n.run_for(8000);
        assert_eq!(
            n.log_since(N1, t),
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
        assert_eq!(n.log_since(N2, t), expected, "{mode}");
        assert_eq!(
            n.sent_since(N2, t, &["abort_giveup"]),
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
        assert!(!n.overlap, "{mode}");
    }
}

#[test]
fn when_both_lose_the_ping_node_nothing_moves() {
    for mode in ["on", "off"] {
        let mut n = Net::started_pair(mode);
        let t = n.now;
        n.members[N1].reaches_ping = false;
        n.members[N2].reaches_ping = false;
        n.run_for(30_000);
        assert_eq!(n.holds(N1), [G1.0], "{mode}");
        assert_eq!(n.holds(N2), [G2.0], "{mode}");
        for i in [N1, N2] {
            let log = n.log_since(i, t);
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
    let mut n = Net::new("auto_failback legacy\nrespawn hacluster /usr/lib/heartbeat/ipfail\n");
    n.start(N1);
    n.start(N2);
    n.run_for(15_000);
    assert_eq!(
        n.hb(N1).ipfail().disabled(),
        Some(Disabled::LegacyAutoFailback)
    );
    assert_eq!(
        n.log_since(N1, 0),
        ["auto_failback set to incompatible legacy option."]
    );
    n.members[N1].reaches_ping = false;
    n.run_for(10_000);
    assert_eq!(n.log_since(N1, 0).len(), 1);
    assert!(n.sent_since(N1, 0, IPFAIL_TYPES).is_empty());
    assert_eq!(n.holds(N1), [G1.0]);

    // No respawn line: nothing at all.
    let mut n = Net::new("auto_failback on\n");
    n.start(N1);
    n.start(N2);
    n.run_for(15_000);
    n.members[N1].reaches_ping = false;
    n.run_for(10_000);
    assert_eq!(n.hb(N1).ipfail().disabled(), Some(Disabled::NotConfigured));
    assert!(n.members[N1].ipfail_log.is_empty());
    assert!(n.sent_since(N1, 0, IPFAIL_TYPES).is_empty());
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
