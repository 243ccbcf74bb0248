//! Property tests: whatever the hosts send, the relay never panics, and a reset line moves only
//! when a pet timeout expired.

mod common;

use common::*;
use hb_core::relay::{Body, FenceAction, RESET_PULSE};
use hb_firmware::Event;
use proptest::prelude::*;
use watchdog::{Duration, Watchdog};

/// Something a hostile or broken host puts on its line.
#[derive(Clone, Debug)]
enum Noise {
    Bytes(Vec<u8>),
    /// Bytes, then a delimiter.
    Terminated(Vec<u8>),
    /// A heartbeat message (forwarded as it is).
    Heartbeat(u64),
    /// A relay frame signed with our key, with one byte changed.
    Flipped(u8, usize, u8),
    /// A relay frame signed with our key on a link the relay never gave out.
    Stale(u8, u64, u32),
    /// A relay frame signed with the wrong key.
    WrongKey(u8, u32),
}

fn body(kind: u8) -> Body<'static> {
    match kind % 4 {
        0 => Body::Pet { timeout_ms: 1000 },
        1 => Body::Fence {
            target: kind % 5,
            action: FenceAction::Reset,
            name: b"",
        },
        2 => Body::StatusRequest,
        _ => Body::Hang,
    }
}

impl Noise {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Noise::Bytes(b) => b.clone(),
            Noise::Terminated(b) => {
                let mut b = b.clone();
                b.push(0);
                b
            }
            Noise::Heartbeat(seq) => heartbeat("nodeX", *seq),
            Noise::Flipped(kind, at, x) => {
                let mut f = frame(1, 1, body(*kind), &keys());
                let i = at % (f.len() - 1);
                f[i] ^= x | 1;
                f
            }
            Noise::Stale(kind, link, counter) => frame(link | 1, *counter, body(*kind), &keys()),
            Noise::WrongKey(kind, counter) => frame(1, *counter, body(*kind), &wrong_keys()),
        }
    }
}

fn noise() -> impl Strategy<Value = Noise> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..120).prop_map(Noise::Bytes),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Noise::Terminated),
        (0u64..64).prop_map(Noise::Heartbeat),
        (any::<u8>(), any::<usize>(), any::<u8>()).prop_map(|(k, a, x)| Noise::Flipped(k, a, x)),
        (any::<u8>(), any::<u64>(), any::<u32>()).prop_map(|(k, l, c)| Noise::Stale(k, l, c)),
        (any::<u8>(), any::<u32>()).prop_map(|(k, c)| Noise::WrongKey(k, c)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn anything_on_any_port_never_panics_and_never_pulses(
        steps in proptest::collection::vec((0usize..4, noise(), 0u64..400), 1..40)
    ) {
        let mut rig: Rig<4> = Rig::new();
        let mut sent_heartbeats = Vec::new();
        for (port, n, advance) in &steps {
            let bytes = n.bytes();
            if let Noise::Heartbeat(_) = n {
                sent_heartbeats.push(bytes.clone());
            }
            rig.send(*port, &bytes);
            for _ in 0..=*advance {
                rig.tick();
                prop_assert!(rig.relay.healthy(rig.instant()));
            }
        }
        // Flush whatever partial frame is left on each line.
        for p in 0..4 {
            rig.send(p, &[0]);
        }
        rig.run(2);
        for p in 0..4 {
            // Driven inactive at start, never asserted.
            prop_assert_eq!(rig.pins[p].borrow().clone(), vec![(0, true)]);
            // Out came heartbeats (whole and unchanged, or glued to noise before them and
            // then lost) and nothing else: no relay frame answers a stranger.
            for f in split_frames(&rig.take_output(p)) {
                prop_assert!(sent_heartbeats.contains(&f), "unexpected frame {:02x?}", f);
            }
        }
        let only_rejections = rig.events.iter().all(|(_, e)| matches!(e, Event::Rejected { .. }));
        prop_assert!(only_rejections, "events: {:?}", rig.events);
    }

    #[test]
    fn a_line_pulses_only_when_a_pet_timeout_expired(
        timeout_ms in 1000u64..3000,
        pets in proptest::collection::vec((1u64..4000, proptest::collection::vec((0usize..4, noise()), 0..3)), 1..12),
    ) {
        let mut rig: Rig<4> = Rig::new();
        let mut host = Host::new(&rig, 0, "node1", 7);
        host.client.arm(Duration::from_millis(timeout_ms)).unwrap();
        for _ in 0..3 {
            rig.tick();
            host.pump();
        }
        // The relay takes each pet in the tick after it is written.
        let mut pet_times = vec![rig.now() - 1];
        for (gap, noise) in &pets {
            for (port, n) in noise {
                // Always delimited, so noise never swallows the host's next frame.
                let mut b = n.bytes();
                b.push(0);
                rig.send(*port, &b);
            }
            rig.run(*gap);
            host.client.pet().unwrap();
            rig.tick();
            host.pump();
            pet_times.push(rig.now());
        }
        rig.run(timeout_ms + RESET_PULSE.as_millis() + 10);
        for p in 1..4 {
            prop_assert!(rig.pulses(p).is_empty(), "port {} pulsed", p);
        }
        let pulses = rig.pulses(0);
        // The rule, restated: a pulse starts when a deadline passes with no pet; a pet taken
        // while the line is asserted does not arm (the relay reads before it runs timers, so a
        // pet in the deadline's own tick still counts, and one in the release tick does not).
        let pulse = RESET_PULSE.as_millis();
        let mut expected = Vec::new();
        let mut deadline = None;
        let mut pulse_end = None;
        for &p in &pet_times {
            if let Some(d) = deadline.filter(|&d| d < p) {
                expected.push(d);
                pulse_end = Some(d + pulse);
            }
            let asserted = pulse_end.is_some_and(|e| p <= e);
            deadline = (!asserted).then_some(p + timeout_ms);
        }
        expected.extend(deadline);
        let starts: Vec<u64> = pulses.iter().map(|p| p.0).collect();
        prop_assert_eq!(starts, expected);
        for (s, e) in &pulses {
            prop_assert_eq!(*e, Some(s + RESET_PULSE.as_millis()));
        }
    }
}

/// `content ‖ CRC-32C(content)`, COBS-stuffed, without the delimiter: a frame with a good CRC.
fn stuffed_frame(content: &[u8]) -> Vec<u8> {
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(content);
    let mut raw = content.to_vec();
    raw.extend_from_slice(&crc.to_le_bytes());
    let mut out = vec![0u8; cobs::max_encoding_length(raw.len())];
    let n = cobs::encode(&raw, &mut out);
    out.truncate(n);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// The relay forwards what `looks_like_frame` accepts without unstuffing it, and unstuffs
    /// everything else in place as a relay frame: the two must agree on every input, or a
    /// heartbeat would be lost (or a relay frame forwarded).
    #[test]
    fn looks_like_frame_is_unstuff_ok_and_class_0(
        content in proptest::collection::vec(any::<u8>(), 0..300),
        flip in proptest::option::of((any::<usize>(), 1u8..=255)),
        noise in any::<bool>(),
    ) {
        use hb_core::msg::compact::{looks_like_frame, Frame};
        let mut wire = if noise {
            content.iter().map(|&b| b.max(1)).collect()
        } else {
            stuffed_frame(&content)
        };
        if let Some((at, x)) = flip {
            if !wire.is_empty() {
                let i = at % wire.len();
                wire[i] = (wire[i] ^ x).max(1);
            }
        }
        let looks = looks_like_frame(&wire);
        let mut copy = wire.clone();
        let unstuffed = Frame::unstuff(&mut copy)
            .is_ok_and(|f| !hb_core::relay::is_relay_frame(&f));
        prop_assert_eq!(looks, unstuffed, "{:02x?}", wire);
    }
}
