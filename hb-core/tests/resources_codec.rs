//! Every resource message heartbeat 3.0.6 sent in the captures parses into a `ResourceMsg`
//! and writes back as the same fields in the same order (the control fields aside).

mod support;

use std::collections::BTreeMap;

use hb_core::msg::{self, Message};
use hb_core::resources::{
    ResourceHeld, ResourceInfo, ResourceMsg, RscSet, StandbyInfo, StandbySet, StonithResult,
};

/// What `add_control_msg_fields` (and the netstring auth) adds: not ours to write.
const CONTROL: &[&str] = &[
    "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl", "auth", "destuuid",
];

fn fields(m: &Message<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    m.fields()
        .iter()
        .filter(|f| !CONTROL.iter().any(|c| f.name == c.as_bytes()))
        .map(|f| (f.name.to_vec(), f.value.to_vec()))
        .collect()
}

/// Checks one captured message; returns its type if it is a resource message.
fn check(m: &Message<'_>, what: &str) -> Option<String> {
    let t = m.get_str("t")?;
    if !ResourceMsg::is_resource_type(t) {
        assert_eq!(
            ResourceMsg::parse(m),
            Err(hb_core::resources::ParseError::NotResource),
            "{what}"
        );
        return None;
    }
    let parsed = ResourceMsg::parse(m).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut out: Message<'_> = Message::new();
    parsed.write(&mut out).unwrap();
    assert_eq!(fields(&out), fields(m), "{what}: {parsed}");
    Some(t.to_string())
}

#[test]
fn every_captured_resource_message_round_trips_field_for_field() {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for pcap in support::all_pcaps() {
        for (i, dgram) in support::heartbeat_datagrams(&support::read_vector(&pcap))
            .iter()
            .enumerate()
        {
            let mut scratch = [0u8; 0];
            let p: msg::Packet = msg::decode(dgram, &mut scratch).unwrap();
            if let Some(t) = check(&p.msg, &format!("{pcap} #{i}")) {
                *seen.entry(t).or_default() += 1;
            }
        }
    }
    // The serial line carries classic text.
    let (a, b) = support::serial_streams();
    for (dir, stream) in [("node1", a), ("node2", b)] {
        for (i, raw) in support::classic_messages(&stream).iter().enumerate() {
            let mut scratch = [0u8; 2048];
            let p: msg::Packet = msg::decode(raw, &mut scratch).unwrap();
            if let Some(t) = check(&p.msg, &format!("serial {dir} #{i}")) {
                *seen.entry(format!("{t} (serial)")).or_default() += 1;
            }
        }
    }
    // Every type the captures hold was met.
    for t in [
        "starting",
        "resource",
        "ask_resources",
        "ip-request-resp",
        "hb_takeover",
        "shutdone",
        "stonith",
        "resource (serial)",
    ] {
        assert!(seen.contains_key(t), "no {t} in the captures: {seen:?}");
    }
}

/// The typed values of a few captured messages, by hand.
#[test]
fn captured_messages_have_the_expected_typed_values() {
    let mut typed = Vec::new();
    for pcap in ["04-return-failback.eth1.pcap", "07-shutdown.eth1.pcap"] {
        for dgram in support::heartbeat_datagrams(&support::read_vector(pcap)) {
            let mut scratch = [0u8; 0];
            let p: msg::Packet = msg::decode(&dgram, &mut scratch).unwrap();
            if let Ok(m) = ResourceMsg::parse(&p.msg) {
                typed.push(format!("{m:?}"));
            }
        }
    }
    let expect = |m: ResourceMsg<'_>| {
        let s = format!("{m:?}");
        assert!(typed.contains(&s), "{s} not among {typed:#?}");
    };
    expect(ResourceMsg::AskResources {
        rsc_hold: RscSet::FOREIGN,
        info: StandbyInfo::Me,
        xid: None,
    });
    expect(ResourceMsg::Resource(ResourceHeld {
        rsc_hold: RscSet::LOCAL,
        rtype_full: true,
        isstable: Some(false),
        info: Some(ResourceInfo::Standby),
        groups: None,
        reply_to: None,
    }));
    expect(ResourceMsg::Resource(ResourceHeld {
        rsc_hold: RscSet::FOREIGN,
        rtype_full: false,
        isstable: None,
        info: Some(ResourceInfo::MachDown),
        groups: None,
        reply_to: None,
    }));
    expect(ResourceMsg::Resource(ResourceHeld {
        rsc_hold: RscSet::NONE,
        rtype_full: true,
        isstable: Some(false),
        info: Some(ResourceInfo::Shutdown),
        groups: None,
        reply_to: None,
    }));
    expect(ResourceMsg::Shutdone);
    expect(ResourceMsg::Stonith {
        node: "node1",
        result: StonithResult::Unneeded,
    });
    let mut takeover = Vec::new();
    for dgram in support::heartbeat_datagrams(&support::read_vector("06-takeover.eth1.pcap")) {
        let mut scratch = [0u8; 0];
        let p: msg::Packet = msg::decode(&dgram, &mut scratch).unwrap();
        if let Ok(m @ ResourceMsg::HbTakeover { .. }) = ResourceMsg::parse(&p.msg) {
            takeover.push(format!("{m:?}"));
        }
    }
    assert_eq!(
        takeover,
        [format!(
            "{:?}",
            ResourceMsg::HbTakeover {
                rsc_hold: StandbySet::All
            }
        )]
    );
}
