//! node2 of the captures, re-enacted: one `Resources` playing node2 is fed node1's real packets
//! from every phase (startup, death, return with auto_failback, standby, takeover, shutdown) at
//! their capture times, with the membership events node2's daemon derived from them; its
//! resource actions complete at once. What it sends must be what the real node2 sent (every
//! field but the control fields, in order), and it must end each phase holding what the real
//! node2 held.

mod support;

use hb_core::config::{AutoFailback, HaResources, NodeName};
use hb_core::msg::{self, Message};
use hb_core::resources::{
    Action, ActionDone, GroupId, GroupState, NodeEvent, NodeId, ResourceMsg, Resources,
    ResourcesConfig, RscState, Timing,
};
use hb_core::time::Instant;

/// One captured datagram: time (ms since the first capture) and its fields.
struct Packet {
    at: u64,
    fields: Vec<(String, String)>,
}

impl Packet {
    fn get(&self, n: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    }
    fn message(&self) -> Message<'_> {
        let mut m = Message::new();
        for (k, v) in &self.fields {
            m.push_str(k, v).unwrap();
        }
        m
    }
}

/// The UDP payloads to/from port 694 with their pcap timestamps (µs).
fn timed_datagrams(pcap: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 24;
    while pos + 16 <= pcap.len() {
        let sec = u64::from(u32::from_le_bytes(pcap[pos..pos + 4].try_into().unwrap()));
        let usec = u64::from(u32::from_le_bytes(
            pcap[pos + 4..pos + 8].try_into().unwrap(),
        ));
        let incl = u32::from_le_bytes(pcap[pos + 8..pos + 12].try_into().unwrap()) as usize;
        let frame = &pcap[pos + 16..pos + 16 + incl];
        pos += 16 + incl;
        if frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != 17 {
            continue;
        }
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let udp = &ip[ihl..total];
        let dport = u16::from_be_bytes([udp[2], udp[3]]);
        let sport = u16::from_be_bytes([udp[0], udp[1]]);
        if sport == 694 || dport == 694 {
            out.push((sec * 1_000_000 + usec, udp[8..].to_vec()));
        }
    }
    out
}

/// A phase's packets from both media (bcast and ucast carry the same messages, and in phase
/// 03 only ucast is left), in time order, deduplicated by (src, hg, seq).
fn phase(name: &str, t0: &mut Option<u64>) -> Vec<Packet> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    let mut all = timed_datagrams(&support::read_vector(&format!("{name}.eth1.pcap")));
    all.extend(timed_datagrams(&support::read_vector(&format!(
        "{name}.eth0.pcap"
    ))));
    all.sort_by_key(|(us, _)| *us);
    for (us, dgram) in all {
        let mut scratch = [0u8; 0];
        let p: msg::Packet = msg::decode(&dgram, &mut scratch).unwrap();
        let fields: Vec<(String, String)> = p
            .msg
            .fields()
            .iter()
            .filter(|f| f.ty == msg::FieldType::String)
            .map(|f| {
                (
                    String::from_utf8(f.name.to_vec()).unwrap(),
                    String::from_utf8(f.value.to_vec()).unwrap(),
                )
            })
            .collect();
        let base = *t0.get_or_insert(us);
        let pkt = Packet {
            at: (us - base) / 1000,
            fields,
        };
        let key = (
            pkt.get("src").unwrap_or("").to_string(),
            pkt.get("hg").unwrap_or("").to_string(),
            pkt.get("seq").unwrap_or("").to_string(),
        );
        if pkt.get("seq").is_some() && !seen.insert(key) {
            continue;
        }
        out.push(pkt);
    }
    out
}

fn text(m: &ResourceMsg<'_>) -> String {
    m.to_string()
}

struct Node2 {
    m: Resources<4, 4>,
    node1: NodeId,
    sent: Vec<String>,
    log: Vec<String>,
}

impl Node2 {
    fn drain(&mut self, now: Instant) {
        loop {
            while let Some(msg) = self.m.poll_message() {
                let t = text(&msg);
                self.sent.push(t);
            }
            while let Some(l) = self.m.poll_log() {
                self.log.push(l.to_string());
            }
            let mut done = Vec::new();
            while let Some(a) = self.m.poll_action() {
                match a {
                    Action::Acquire(group) => done.push(ActionDone::Acquired { group, ok: true }),
                    Action::Release(group) => done.push(ActionDone::Released { group, ok: true }),
                    other => panic!("unexpected action {other:?}"),
                }
            }
            if done.is_empty() {
                break;
            }
            for d in done {
                self.m.handle_action_done(now, d);
            }
        }
    }

    fn timers_until(&mut self, t: u64) {
        while let Some(due) = self.m.poll_timeout() {
            if due.as_millis() > t {
                break;
            }
            self.m.handle_timeout(due);
            self.drain(due);
        }
    }
}

#[test]
fn node2_says_and_holds_what_the_real_node2_did() {
    let names: Vec<NodeName> = ["node1", "node2"]
        .iter()
        .map(|n| NodeName::try_from(*n).unwrap())
        .collect();
    let text_res = String::from_utf8(support::read_vector("haresources")).unwrap();
    let res = HaResources::parse(&text_res, &mut |e| panic!("{e}")).unwrap();
    let cfg = ResourcesConfig {
        local_node: "node2",
        nodes: &names,
        groups: res.groups(),
        auto_failback: AutoFailback::On,
        stonith: false,
        timing: Timing::default(),
    };
    let mut n2 = Node2 {
        m: Resources::new(&cfg).unwrap(),
        node1: NodeId(0),
        sent: Vec::new(),
        log: Vec::new(),
    };
    let vip = GroupId(0);
    let mut t0 = None;
    let mut node1_hg: Option<u64> = None;
    let mut comm_up = false;
    // (phase, node2 holds the VIP at its end)
    let phases = [
        ("01-startup", false),
        ("02-steady", false),
        ("03-death-takeover", true),
        ("04-return-failback", false),
        ("05-standby", true),
        ("06-takeover", false),
        ("07-shutdown", true),
    ];
    for (name, holds) in phases {
        let packets = phase(name, &mut t0);
        let mut expected = Vec::new();
        let first_sent = n2.sent.len();
        for p in &packets {
            n2.timers_until(p.at);
            let now = Instant::from_millis(p.at);
            let t = p.get("t").unwrap_or("");
            match p.get("src") {
                Some("node2") => {
                    if t == "status" && p.get("st") == Some("active") && !comm_up {
                        comm_up = true;
                        n2.m.comm_up(now);
                        n2.drain(now);
                    }
                    if t == "stonith" {
                        // node2's daemon declared node1 dead just before it sent this.
                        n2.m.node_event(
                            now,
                            NodeEvent::Dead {
                                node: n2.node1,
                                heard_from: true,
                            },
                        );
                        n2.drain(now);
                    }
                    if ResourceMsg::is_resource_type(t) {
                        let m = p.message();
                        let seq = msg::parse_hex(p.get("seq").unwrap().as_bytes()).unwrap();
                        expected.push((seq, text(&ResourceMsg::parse(&m).unwrap())));
                    }
                }
                Some("node1") => {
                    if t == "status" {
                        let hg = msg::parse_hex(p.get("hg").unwrap().as_bytes()).unwrap();
                        if node1_hg.is_some_and(|old| hg > old) {
                            n2.m.node_event(now, NodeEvent::Restarted(n2.node1));
                        }
                        if node1_hg != Some(hg) {
                            node1_hg = Some(hg);
                            n2.m.node_event(now, NodeEvent::Up(n2.node1));
                        }
                        if p.get("st") == Some("active") {
                            n2.m.node_event(now, NodeEvent::Active(n2.node1));
                        }
                        n2.drain(now);
                    } else if ResourceMsg::is_resource_type(t)
                        && p.get("dest").is_none_or(|d| d == "node2")
                        && comm_up
                    {
                        let m = p.message();
                        let msg = ResourceMsg::parse(&m).unwrap();
                        n2.m.handle_message(now, n2.node1, &msg);
                        n2.drain(now);
                    }
                }
                _ => {}
            }
        }
        if let Some(last) = packets.last() {
            n2.timers_until(last.at);
        }
        // In sequence-number order, the order node2 generated them: 3.0.6 sends a message
        // produced while processing its own looped-back message before the one that caused
        // it, so the wire order differs (phase 05: seq 83 goes out before 82).
        expected.sort_by_key(|(seq, _)| *seq);
        let expected: Vec<String> = expected.into_iter().map(|(_, t)| t).collect();
        // Less `hb_sbid`, our number on standby messages (3.0.6 ignores the field): the rest
        // is 3.0.6's exactly.
        let sent: Vec<String> = n2.sent[first_sent..]
            .iter()
            .map(|m| match m.split_once(" hb_sbid=") {
                Some((head, _)) => head.to_string(),
                None => m.clone(),
            })
            .collect();
        assert_eq!(sent, expected, "phase {name}");
        let running = n2.m.group_state(vip) == GroupState::Running;
        assert_eq!(running, holds, "phase {name}: node2 holds the VIP");
        assert_eq!(n2.m.resource_state(), RscState::Stable, "phase {name}");
    }
    // And it logged what the real node2 logged about resources (ha-log.node2.txt), in order.
    let real = String::from_utf8(support::read_vector("ha-log.node2.txt")).unwrap();
    let ours: Vec<&str> = n2.log.iter().map(|s| s.as_str()).collect();
    let mut i = 0;
    let mut matched = 0;
    for line in real.lines() {
        let Some(msg) = line.split("]: ").nth(1).and_then(|r| r.split_once(": ")) else {
            continue;
        };
        let msg = msg.1.trim_start();
        if let Some(pos) = ours[i..].iter().position(|o| *o == msg) {
            i += pos + 1;
            matched += 1;
        }
    }
    let real_resource_lines = [
        "local resource transition completed.",
        "Initial resource acquisition complete (T_RESOURCES(us))",
        "No STONITH device configured.",
        "Resources being acquired from node1.",
        "mach_down takeover complete.",
        "node2 wants to go standby [foreign]",
        "standby: node1 can take our foreign resources",
        "Local standby process completed [foreign].",
        "Other node completed standby takeover of foreign resources.",
        "standby: acquire [all] resources from node1",
        "Standby resource acquisition done [all].",
        "Received shutdown notice from 'node1'.",
        "Dead node node1 gave up resources.",
    ];
    for l in real_resource_lines {
        assert!(ours.contains(&l), "we never logged {l:?}: {ours:#?}");
    }
    eprintln!("{matched} of the real log lines matched in order");
    assert!(
        matched >= 30,
        "only {matched} of the real log lines matched in order"
    );
}
