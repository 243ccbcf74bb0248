//! Wire exactness: an engine set up as the captured node2 (its ha.cf, uuid, generation, key,
//! clock and load average), fed node1's packets of `01-startup`, sends what the real node2
//! sent, byte for byte: status init/up/up, reqnodes, repnodes, status active, the starting and
//! resource messages the resource side hands it, and the ACKs.

mod support;

use std::net::Ipv4Addr;

use hb_core::config::HaCf;
use hb_core::engine::{Event, MediumId, Membership, MembershipConfig, MessageKind, NodeId};
use hb_core::msg::{self, Field, FieldType, Format};
use hb_core::time::Instant;
use support::{heartbeat_datagrams_timed, read_vector, vector_keys, Datagram};

type Eng = Membership<2, 4>;

const NODE1_ETH1: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const NODE2_ETH1: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
const GENERATION: u64 = 0x6b02_14a9;
const WALL: u64 = 0x6b02_14a8;

fn node2_config(seed: u64, ld: &str) -> MembershipConfig {
    let text = String::from_utf8(read_vector("ha.cf.node2")).unwrap();
    let cf = HaCf::parse(&text, &mut |_| {}).unwrap();
    let uuid: [u8; 16] = read_vector("hb_uuid.node2").try_into().unwrap();
    let mut cfg =
        MembershipConfig::from_hacf(&cf, "node2", uuid, GENERATION, vector_keys(), seed).unwrap();
    cfg.load_average = ld.try_into().unwrap();
    cfg
}

/// A seed that draws the ACK triggers the real nodes had: 6 for node1, 8 for node2.
fn seed_with_captured_triggers() -> u64 {
    (0..10_000u64)
        .find(|&seed| {
            let e = Eng::new(&node2_config(seed, "x"), Instant::ZERO, WALL).unwrap();
            e.node(NodeId(0)).unwrap().ack_trigger() == 6
                && e.node(NodeId(1)).unwrap().ack_trigger() == 8
        })
        .expect("a seed")
}

fn ld_of(packet: &[u8]) -> String {
    let mut scratch = [0u8; 1024];
    let p = msg::decode::<32>(packet, &mut scratch).unwrap();
    p.msg.get_str("ld").unwrap().to_string()
}

fn t_of(packet: &[u8]) -> String {
    let mut scratch = [0u8; 1024];
    let p = msg::decode::<32>(packet, &mut scratch).unwrap();
    p.msg.get_str("t").unwrap().to_string()
}

fn startup() -> Vec<Datagram> {
    heartbeat_datagrams_timed(&read_vector("01-startup.eth1.pcap"))
}

fn at(d: &Datagram, t0: u64) -> Instant {
    Instant::from_millis((d.time_us - t0) / 1000)
}

/// Everything the engine wants to send now.
fn drain(e: &mut Eng, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(tx) = e.poll_transmit(now, &mut buf) {
        assert_eq!(
            tx.media.0, 0b11,
            "every packet on bcast eth1 and ucast eth0"
        );
        out.push(buf[..tx.len].to_vec());
    }
    out
}

fn events(e: &mut Eng) -> Vec<Event> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

#[test]
fn our_first_packets_are_the_captured_node2_packets_byte_for_byte() {
    let captured = startup();
    let t0 = captured[0].time_us;
    let theirs: Vec<&Datagram> = captured.iter().filter(|d| d.src == NODE2_ETH1).collect();
    let node1: Vec<&Datagram> = captured.iter().filter(|d| d.src == NODE1_ETH1).collect();
    let seed = seed_with_captured_triggers();

    // node2 starts: status init, up, up (#4, #5, #6). They share one `ld` here; #4's differs.
    let start = at(theirs[0], t0);
    let mut e = Eng::new(&node2_config(seed, &ld_of(&theirs[1].payload)), start, WALL).unwrap();
    let mut ours = drain(&mut e, start);
    assert_eq!(ours.len(), 3);
    assert_same_but_ld(&ours[0], &theirs[0].payload);
    assert_eq!(ours[1], theirs[1].payload);
    assert_eq!(ours[2], theirs[2].payload);

    // node1's three statuses were waiting: everyone heard, reqnodes to node1 (#7). (3.0.6
    // read all three before it looked; we ask at the first, with the same bytes.)
    let feed = |e: &mut Eng, d: &Datagram, ld: Option<&[u8]>| {
        if let Some(ld) = ld {
            e.set_load_average(&ld_of(ld));
        }
        e.handle_packet(at(d, t0).max(start), WALL, MediumId(0), &d.payload)
            .unwrap();
        drain(e, at(d, t0).max(start))
    };
    ours.extend(feed(&mut e, node1[0], Some(&theirs[3].payload)));
    for d in &node1[1..3] {
        assert!(feed(&mut e, d, None).is_empty());
    }
    assert_eq!(ours[3], theirs[3].payload, "reqnodes");
    assert_eq!(t_of(&ours[3]), "reqnodes");

    // node1's reqnodes (#8): our repnodes (#10).
    ours.extend(feed(&mut e, node1[3], Some(&theirs[4].payload)));
    assert_eq!(t_of(&ours[4]), "repnodes");
    assert_eq!(ours[4], theirs[4].payload, "repnodes");

    // node1's repnodes (#9): comm up, status active (#11).
    ours.extend(feed(&mut e, node1[4], Some(&theirs[5].payload)));
    assert_eq!(ours[5], theirs[5].payload, "status active");
    let ev = events(&mut e);
    assert!(ev.contains(&Event::CommUp));

    // The resource side says `starting` (#12).
    e.set_load_average(&ld_of(&theirs[6].payload));
    e.send_cluster_message(at(node1[4], t0), WALL, &[Field::string("t", "starting")])
        .unwrap();
    ours.extend(drain(&mut e, at(node1[4], t0)));
    assert_eq!(ours[6], theirs[6].payload, "starting");

    // node1: its ACK to itself (#13, not for us), status active seq 6 (#14) which we ACK
    // (#17), `starting` (#15) and `resource` (#16) for the resource side.
    for d in &node1[5..9] {
        ours.extend(feed(&mut e, d, None));
    }
    assert_eq!(ours[7], theirs[7].payload, "NS_ackmsg to node1");
    let got: Vec<MessageKind> = events(&mut e)
        .into_iter()
        .filter_map(|ev| match ev {
            Event::Message(m) => Some(m.kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [
            MessageKind::Starting,
            MessageKind::Starting,
            MessageKind::Resource
        ],
        "ours looped back, then node1's"
    );

    // The resource side answers: our ACK of our own seq 8 goes out first (#18), then the
    // message (#19).
    e.set_load_average(&ld_of(&theirs[9].payload));
    let seq = e
        .send_cluster_message(
            at(node1[8], t0),
            WALL,
            &[
                Field::string("t", "resource"),
                Field::string("rsc_hold", "none"),
                Field::string("rtype", "full"),
                Field::string("isstable", "0"),
            ],
        )
        .unwrap();
    assert_eq!(seq, 8);
    ours.extend(drain(&mut e, at(node1[8], t0)));
    assert_eq!(ours[8], theirs[8].payload, "NS_ackmsg to ourselves");
    assert_eq!(ours[9], theirs[9].payload, "resource");
    assert_eq!(ours.len(), 10);
}

/// Same fields in the same order with the same types and values, `ld` and the digests aside;
/// and with their `ld`, the same bytes.
fn assert_same_but_ld(ours: &[u8], theirs: &[u8]) {
    let (mut s1, mut s2) = ([0u8; 1024], [0u8; 1024]);
    let a = msg::decode::<32>(ours, &mut s1).unwrap();
    let b = msg::decode::<32>(theirs, &mut s2).unwrap();
    assert_eq!(a.format, Format::Netstring);
    let (fa, fb) = (a.msg.fields(), b.msg.fields());
    assert_eq!(fa.len(), fb.len());
    for (x, y) in fa.iter().zip(fb) {
        assert_eq!((x.name, x.ty), (y.name, y.ty));
        if x.name != b"ld" && x.name != b"auth" {
            assert_eq!(x.value, y.value, "{}", String::from_utf8_lossy(x.name));
        }
    }
    let with_their_ld: Vec<Field<'_>> = fa
        .iter()
        .filter(|f| f.name != b"auth")
        .map(|f| {
            if f.name == b"ld" {
                *b.msg.get("ld").unwrap()
            } else {
                *f
            }
        })
        .collect();
    assert!(with_their_ld
        .iter()
        .all(|f| f.ty == FieldType::String || f.name.ends_with(b"uuid")));
    let mut buf = [0u8; 2048];
    let n = msg::encode(
        &with_their_ld,
        Format::Netstring,
        Some(&vector_keys()),
        &mut buf,
    )
    .unwrap();
    assert_eq!(&buf[..n], theirs);
}

#[test]
fn the_serial_and_compact_encodings_carry_the_same_fields() {
    let seed = 1;
    let mut cfg = node2_config(seed, "0.00 0.00 0.00 1/1 1");
    cfg.media[0].encoding = hb_core::engine::Encoding::Classic;
    cfg.media[1].encoding = hb_core::engine::Encoding::Compact;
    let mut e = Eng::new(&cfg, Instant::ZERO, WALL).unwrap();
    let mut buf = [0u8; 2048];
    let classic = e.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    assert_eq!(classic.encoding, hb_core::engine::Encoding::Classic);
    assert_eq!(classic.media.0, 0b01);
    let text = buf[..classic.len].to_vec();
    assert!(text.starts_with(b">>>\nt=status\nst=init\ndt=bb8\nprotocol=1\nsrc=node2\n(1)srcuuid="));
    assert!(text.ends_with(b"<<<\n"));
    let mut scratch = [0u8; 1024];
    let p = msg::decode::<32>(&text, &mut scratch).unwrap();
    p.verify(&vector_keys()).unwrap();
    let compact = e.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    assert_eq!(compact.encoding, hb_core::engine::Encoding::Compact);
    assert_eq!(compact.media.0, 0b10);
    assert!(compact.len < 100, "{}", compact.len);
    let mut wire = buf[..compact.len].to_vec();
    let mut scratch2 = [0u8; 1024];
    let c = msg::compact::decode::<32>(&mut wire, &mut scratch2).unwrap();
    c.verify(&vector_keys()).unwrap();
    let names = |m: &msg::Message<'_, 32>| -> Vec<Vec<u8>> {
        m.fields()
            .iter()
            .filter(|f| f.name != b"auth")
            .map(|f| f.name.to_vec())
            .collect()
    };
    assert_eq!(names(&p.msg), names(&c.msg));

    // A second engine reading both media takes them.
    let mut cfg1 = cfg.clone();
    cfg1.local_node = "node1".try_into().unwrap();
    cfg1.uuid = read_vector("hb_uuid.node1").try_into().unwrap();
    let mut peer = Eng::new(&cfg1, Instant::ZERO, WALL).unwrap();
    peer.handle_packet(Instant::ZERO, WALL, MediumId(0), &text)
        .unwrap();
    peer.handle_packet(Instant::ZERO, WALL, MediumId(1), &buf[..compact.len])
        .unwrap();
    assert!(peer.link_up(NodeId(1), MediumId(0)) && peer.link_up(NodeId(1), MediumId(1)));
}
