//! The relay on the host: mock serial lines and reset pins on a virtual millisecond clock.

mod common;

use common::*;
use hb_core::relay::{
    self, Body, FenceAction, PortFlags, RelayError, MIN_PET_TIMEOUT, RESET_PULSE,
};
use hb_firmware::{Event, Instant, MAX_LOOP_GAP};
use watchdog::relay::LinkState;
use watchdog::{Duration, Watchdog};

const PULSE: u64 = RESET_PULSE.as_millis();

/// Says hello on `port` by hand and takes the relay's identify; returns (session, link).
fn link_by_hand<const N: usize>(rig: &mut Rig<N>, port: usize, name: &str, session: u64) -> u64 {
    rig.send(
        port,
        &frame(
            0,
            0,
            Body::Hello {
                version: relay::VERSION,
                session,
                name: name.as_bytes(),
            },
            &keys(),
        ),
    );
    rig.tick();
    let out = rig.take_output(port);
    let got = relay_frames(&out, &keys());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].0, got[0].1), (session, 1));
    with_relay_frame(&out, &keys(), |f| match f.body {
        Body::Identify { link, port: p, .. } => {
            assert_eq!(usize::from(p), port);
            link
        }
        other => panic!("{other:?}"),
    })
}

#[test]
fn heartbeats_go_to_every_other_port_in_the_same_loop_iteration() {
    let mut rig: Rig<3> = Rig::new();
    let hb = heartbeat("node1", 1);
    // Arrives whole: out on ports 1 and 2 in the very poll that read it, not on port 0.
    rig.send(0, &hb);
    rig.tick();
    assert_eq!(rig.take_output(1), hb);
    assert_eq!(rig.take_output(2), hb);
    assert!(rig.take_output(0).is_empty());

    // Arrives a byte per iteration, as a slow UART delivers it: the frame leaves in the
    // iteration that reads its delimiter. Added latency, measured in loop iterations.
    let hb2 = heartbeat("node2", 7);
    let mut latency = None;
    for (k, &b) in hb2.iter().enumerate() {
        rig.send(1, &[b]);
        rig.tick();
        let out0 = rig.take_output(0);
        if !out0.is_empty() {
            assert_eq!(out0, hb2, "forwarded whole and unchanged");
            latency = Some(k + 1 - hb2.len());
        }
        assert!(out0.is_empty() || k == hb2.len() - 1);
    }
    println!("added forwarding latency: {latency:?} loop iterations");
    assert_eq!(latency, Some(0));
    assert_eq!(rig.take_output(2), hb2);

    // A port whose UART is blocked gets the frame in the iteration it unblocks, whole; the
    // others are not held up.
    rig.wires[2].borrow_mut().writable = false;
    rig.wires[2].borrow_mut().max_write = 3;
    let hb3 = heartbeat("node1", 2);
    rig.send(0, &hb3);
    rig.tick();
    assert_eq!(rig.take_output(1), hb3);
    rig.run(5);
    assert!(rig.take_output(2).is_empty());
    rig.wires[2].borrow_mut().writable = true;
    let mut iterations = 0;
    let mut got = Vec::new();
    while got.len() < hb3.len() {
        rig.tick();
        iterations += 1;
        got.extend(rig.take_output(2));
    }
    assert_eq!(got, hb3);
    println!("a 3-byte-per-write UART drained the frame in {iterations} iteration(s)");
    assert_eq!(iterations, 1, "write keeps going while the port is ready");
    let s = rig.relay.port_stats(0).unwrap();
    assert_eq!((s.heartbeats, s.garbage, s.tx_dropped), (2, 0, 0));
}

#[test]
fn a_full_send_queue_drops_whole_frames_only() {
    let mut rig: Rig<2> = Rig::new();
    rig.wires[1].borrow_mut().writable = false;
    let hb = heartbeat("node1", 1);
    let fit = hb_firmware::TX_QUEUE_LEN / hb.len();
    for seq in 0..fit + 3 {
        rig.send(0, &heartbeat("node1", seq as u64 % 16));
        rig.tick();
    }
    assert_eq!(rig.relay.port_stats(1).unwrap().tx_dropped, 3);
    rig.wires[1].borrow_mut().writable = true;
    rig.tick();
    let out = rig.take_output(1);
    let frames = split_frames(&out);
    assert_eq!(frames.len(), fit);
    assert_eq!(frames.concat(), out, "nothing but whole frames");
}

#[test]
fn a_host_that_stops_petting_gets_exactly_one_pulse_and_is_marked() {
    let mut rig: Rig<3> = Rig::new();
    let mut host = Host::new(&rig, 1, "node2", 0xabc);
    // All lines are driven inactive (high) at start.
    for p in 0..3 {
        assert_eq!(*rig.pins[p].borrow(), [(0, true)]);
    }
    host.client.arm(Duration::from_secs(2)).unwrap();
    rig.tick();
    host.pump();
    rig.tick();
    host.pump();
    assert_eq!(
        host.events,
        [
            "Linked { port: 1, ports: 3, link: 1593638913 }"
                .replace("1593638913", &relay::link_id(BOOT_ID, 1).to_string()),
            "PetAck { timeout_ms: 2000 }".to_string()
        ]
    );
    assert!(rig
        .relay
        .port_flags(1)
        .contains(PortFlags::LINKED | PortFlags::ARMED));
    // Pets every 500 ms for 5 s: no pulse.
    for _ in 0..10 {
        rig.run(500);
        host.client.pet().unwrap();
        host.pump();
    }
    rig.tick();
    let last_pet = rig.now();
    assert!(rig.pulses(1).is_empty());
    // Silence: the pulse starts exactly at the timeout and lasts exactly RESET_PULSE.
    rig.run(10_000);
    assert_eq!(
        rig.pulses(1),
        [(last_pet + 2000, Some(last_pet + 2000 + PULSE))]
    );
    for p in [0, 2] {
        assert!(rig.pulses(p).is_empty());
    }
    let s = rig.relay.port_stats(1).unwrap();
    assert_eq!(s.resets, 1);
    let flags = rig.relay.port_flags(1);
    assert!(flags.contains(PortFlags::WATCHDOG_FIRED));
    assert!(!flags.contains(PortFlags::ARMED));
    assert_eq!(
        rig.events_of(|e| matches!(e, Event::WatchdogReset { .. } | Event::PulseDone { .. })),
        [
            (last_pet + 2000, Event::WatchdogReset { port: 1 }),
            (last_pet + 2000 + PULSE, Event::PulseDone { port: 1 })
        ]
    );
    // A host still petting on its old link (its reset did not take) re-arms, still marked.
    host.client.pet().unwrap();
    rig.tick();
    assert!(rig
        .relay
        .port_flags(1)
        .contains(PortFlags::ARMED | PortFlags::WATCHDOG_FIRED));
    // The rebooted host says hello again: linked anew, and the mark is cleared.
    let mut rebooted = Host::new(&rig, 1, "node2", 0xdef);
    rebooted.client.arm(Duration::from_secs(2)).unwrap();
    for _ in 0..2 {
        rig.tick();
        rebooted.pump();
    }
    assert!(matches!(rebooted.client.state(), LinkState::Linked { .. }));
    let flags = rig.relay.port_flags(1);
    assert!(flags.contains(PortFlags::LINKED | PortFlags::ARMED));
    assert!(!flags.contains(PortFlags::WATCHDOG_FIRED));
    assert_eq!(rig.pulses(1).len(), 1);
}

#[test]
fn pets_inside_a_pulse_do_not_rearm_and_disarm_stops_the_watchdog() {
    let mut rig: Rig<2> = Rig::new();
    let link = link_by_hand(&mut rig, 0, "node1", 77);
    let pet = |c: u32, t: u32| frame(link, c, Body::Pet { timeout_ms: t }, &keys());
    // A timeout below the minimum is raised to it.
    rig.send(0, &pet(1, 10));
    rig.tick();
    let acks = relay_frames(&rig.take_output(0), &keys());
    assert_eq!(acks[0].2, "PetAck { counter: 1, timeout_ms: 1000 }");
    let t0 = rig.now();
    rig.run(MIN_PET_TIMEOUT.as_millis());
    assert_eq!(rig.pulses(0), [(t0 + 1000, None)]);
    // A pet in flight during the pulse is acknowledged as not armed.
    rig.send(0, &pet(2, 5000));
    rig.tick();
    let acks = relay_frames(&rig.take_output(0), &keys());
    assert_eq!(acks[0].2, "PetAck { counter: 2, timeout_ms: 0 }");
    rig.run(20_000);
    assert_eq!(rig.pulses(0), [(t0 + 1000, Some(t0 + 1000 + PULSE))]);
    // Armed again, then disarmed: no pulse however long the silence.
    rig.send(0, &pet(3, 1000));
    rig.tick();
    let t3 = rig.now();
    rig.send(0, &pet(4, 0));
    rig.tick();
    rig.run(60_000);
    assert_eq!(rig.pulses(0).len(), 1);
    assert_eq!(
        rig.events_of(|e| matches!(e, Event::Armed { .. } | Event::Disarmed { .. })),
        [
            (
                t0,
                Event::Armed {
                    port: 0,
                    timeout_ms: 1000
                }
            ),
            (
                t3,
                Event::Armed {
                    port: 0,
                    timeout_ms: 1000
                }
            ),
            (t3 + 1, Event::Disarmed { port: 0 })
        ]
    );
}

#[test]
fn a_valid_fence_request_pulses_the_target_and_answers_done() {
    let mut rig: Rig<3> = Rig::new();
    let mut node1 = Host::new(&rig, 0, "node1", 100);
    let mut node2 = Host::new(&rig, 1, "node2", 200);
    for h in [&mut node1, &mut node2] {
        h.client.hello().unwrap();
    }
    rig.tick();
    node1.pump();
    node2.pump();
    // node2 arms its watchdog; node1 fences it.
    node2.client.arm(Duration::from_secs(30)).unwrap();
    rig.tick();
    node2.pump();
    let counter = node1.client.fence(1, FenceAction::Reset, b"node2").unwrap();
    rig.tick();
    let t = rig.now();
    node1.pump();
    assert!(
        node1.events.iter().all(|e| !e.contains("FenceResult")),
        "no answer before the pulse is done"
    );
    assert!(rig.relay.line_asserted(1));
    rig.run(PULSE - 1);
    node1.pump();
    assert!(node1.events.iter().all(|e| !e.contains("FenceResult")));
    rig.tick();
    node1.pump();
    assert_eq!(rig.pulses(1), [(t, Some(t + PULSE))]);
    assert_eq!(
        node1.events.last().unwrap(),
        &format!("FenceResult {{ counter: {counter}, target: 1, action: Reset, outcome: Done }}")
    );
    // The fenced host's watchdog was disarmed by the fence: no second pulse follows.
    rig.run(60_000);
    assert_eq!(rig.pulses(1).len(), 1);
    assert_eq!(rig.relay.port_stats(1).unwrap().fences, 1);
    assert_eq!(rig.relay.port_stats(1).unwrap().resets, 0);
    assert!(rig.pulses(0).is_empty() && rig.pulses(2).is_empty());
}

#[test]
fn off_holds_the_line_on_releases_it_and_refusals_answer_at_once() {
    let mut rig: Rig<3> = Rig::new();
    let link = link_by_hand(&mut rig, 0, "node1", 5);
    let link3 = link_by_hand(&mut rig, 2, "node3", 6);
    // A name counts once the host uses its link (a replayed hello names nobody).
    rig.send(2, &frame(link3, 1, Body::StatusRequest, &keys()));
    rig.tick();
    rig.take_output(2);
    let fence = |c: u32, target: u8, action: FenceAction, name: &str| {
        frame(
            link,
            c,
            Body::Fence {
                target,
                action,
                name: name.as_bytes(),
            },
            &keys(),
        )
    };
    let results = |rig: &mut Rig<3>| {
        relay_frames(&rig.take_output(0), &keys())
            .into_iter()
            .map(|f| f.2)
            .collect::<Vec<_>>()
    };
    rig.send(0, &fence(1, 2, FenceAction::Off, "node3"));
    rig.tick();
    let t = rig.now();
    rig.run(PULSE);
    assert_eq!(
        results(&mut rig),
        ["FenceResult { counter: 1, target: 2, action: Off, outcome: Done }"]
    );
    rig.run(5000);
    assert_eq!(rig.pulses(2), [(t, None)], "held");
    assert!(rig.relay.port_flags(2).contains(PortFlags::HELD));
    // Refusals: a wrong name, no such port, then a busy requester.
    rig.send(0, &fence(2, 2, FenceAction::On, "node9"));
    rig.send(0, &fence(3, 3, FenceAction::Reset, ""));
    rig.tick();
    assert_eq!(
        results(&mut rig),
        [
            "FenceResult { counter: 2, target: 2, action: On, outcome: NameMismatch }",
            "FenceResult { counter: 3, target: 3, action: Reset, outcome: BadTarget }"
        ]
    );
    // On: released at once, answered at once.
    rig.send(0, &fence(4, 2, FenceAction::On, "node3"));
    rig.tick();
    assert_eq!(
        results(&mut rig),
        ["FenceResult { counter: 4, target: 2, action: On, outcome: Done }"]
    );
    assert_eq!(rig.pulses(2), [(t, Some(rig.now()))]);
    // A reset of port 1 (no host there yet: no name to check), and while it pulses the same
    // requester asks again: busy. Then `off` during the pulse supersedes nothing of its own.
    rig.send(0, &fence(5, 1, FenceAction::Reset, "whoever"));
    rig.tick();
    rig.send(0, &fence(6, 1, FenceAction::Off, ""));
    rig.tick();
    assert_eq!(
        results(&mut rig),
        ["FenceResult { counter: 6, target: 1, action: Off, outcome: Busy }"]
    );
    rig.run(PULSE);
    assert_eq!(
        results(&mut rig),
        ["FenceResult { counter: 5, target: 1, action: Reset, outcome: Done }"]
    );
    // Another host's `off` during our reset's pulse wins; our reset is reported superseded.
    // (node3, held off by us above, may fence others only once the fence window is over.)
    rig.run(relay::FENCE_WINDOW.as_millis());
    rig.send(0, &fence(7, 1, FenceAction::Reset, ""));
    rig.tick();
    rig.send(
        2,
        &frame(
            link3,
            2,
            Body::Fence {
                target: 1,
                action: FenceAction::Off,
                name: b"",
            },
            &keys(),
        ),
    );
    rig.tick();
    rig.run(PULSE);
    assert_eq!(
        results(&mut rig),
        ["FenceResult { counter: 7, target: 1, action: Reset, outcome: Superseded }"]
    );
    let node3 = relay_frames(&rig.take_output(2), &keys());
    assert_eq!(
        node3.last().unwrap().2,
        "FenceResult { counter: 2, target: 1, action: Off, outcome: Done }"
    );
    assert!(rig.relay.port_flags(1).contains(PortFlags::HELD));
}

#[test]
fn forged_replayed_and_wrong_key_fence_requests_are_refused_without_a_pulse() {
    let mut rig: Rig<2> = Rig::new();
    let link = link_by_hand(&mut rig, 0, "node1", 42);
    let fence = |c: u32, link: u64, k: &hb_core::auth::Keyring| {
        frame(
            link,
            c,
            Body::Fence {
                target: 1,
                action: FenceAction::Reset,
                name: b"",
            },
            k,
        )
    };
    // Wrong key.
    rig.send(0, &fence(1, link, &wrong_keys()));
    // Forged: a valid request with its target changed, CRC recomputed (only the MAC can tell).
    let good = fence(1, link, &keys());
    let mut content = good.clone();
    let frame_ref = hb_core::msg::compact::Frame::unstuff(&mut content).unwrap();
    let mut bytes = frame_ref.content().to_vec();
    bytes[1 + 13] = 0; // target port 1 → 0
    let mut forged = bytes.clone();
    forged.extend(
        crc::Crc::<u32>::new(&crc::CRC_32_ISCSI)
            .checksum(&bytes)
            .to_le_bytes(),
    );
    let mut stuffed = vec![0u8; forged.len() + 4];
    let n = cobs::try_encode(&forged, &mut stuffed).unwrap();
    stuffed.truncate(n);
    stuffed.push(0);
    rig.send(0, &stuffed);
    // Unknown link (a frame from before a relay reboot), and a relay frame from the wrong
    // direction.
    rig.send(0, &fence(1, relay::link_id(BOOT_ID - 1, 1), &keys()));
    rig.send(
        0,
        &frame(
            link,
            1,
            Body::PetAck {
                counter: 1,
                timeout_ms: 1,
            },
            &keys(),
        ),
    );
    rig.tick();
    rig.run(2 * PULSE);
    assert!(rig.pulses(1).is_empty() && rig.pulses(0).is_empty());
    assert!(rig.take_output(0).is_empty(), "refusals are silent");
    let s = rig.relay.port_stats(0).unwrap();
    assert_eq!((s.bad_auth, s.replays, s.malformed), (2, 1, 1));
    // The genuine request works once...
    rig.send(0, &good);
    rig.tick();
    rig.run(PULSE);
    assert_eq!(rig.pulses(1).len(), 1);
    // ...and its replay, later, does nothing.
    rig.send(0, &good);
    rig.tick();
    rig.run(2 * PULSE);
    assert_eq!(rig.pulses(1).len(), 1);
    assert_eq!(rig.relay.port_stats(0).unwrap().replays, 2);
    // A replayed hello offers a new link but does not cut the host off: its next frame on
    // the old link still counts, and frames on the offered link from nobody never come.
    rig.send(
        0,
        &frame(
            0,
            0,
            Body::Hello {
                version: 1,
                session: 42,
                name: b"node1",
            },
            &keys(),
        ),
    );
    rig.tick();
    rig.take_output(0);
    rig.send(0, &frame(link, 2, Body::Pet { timeout_ms: 5000 }, &keys()));
    rig.tick();
    let acks = relay_frames(&rig.take_output(0), &keys());
    assert_eq!(acks.len(), 1);
    assert!(acks[0].2.starts_with("PetAck"));
    let rejected = rig.events_of(|e| matches!(e, Event::Rejected { .. }));
    assert_eq!(rejected.len(), 5);
    assert!(rejected.iter().any(|(_, e)| matches!(
        e,
        Event::Rejected {
            reason: RelayError::Replay,
            ..
        }
    )));
}

#[test]
fn garbage_is_counted_and_changes_nothing() {
    let mut rig: Rig<3> = Rig::new();
    let link = link_by_hand(&mut rig, 0, "node1", 9);
    rig.send(0, &frame(link, 1, Body::Pet { timeout_ms: 3000 }, &keys()));
    rig.tick();
    rig.take_output(0);
    let before = rig.relay.port_flags(0);
    rig.send(1, b"\x13\x37 noise \xff\xfe\x00");
    rig.send(1, &[0x55; 700]); // oversize
    rig.send(1, &[0]);
    rig.send(1, &[0, 0, 0]); // flushes
    let mut hb = heartbeat("node2", 1);
    hb[3] ^= 0x40; // a bit flipped on the line: bad CRC
    rig.send(1, &hb);
    rig.send(2, &[0x80, 0x81, 0x00]); // too short for a frame
    for _ in 0..5 {
        rig.tick();
    }
    let s = rig.relay.port_stats(1).unwrap();
    assert_eq!((s.garbage, s.oversize), (2, 1));
    assert_eq!(rig.relay.port_stats(2).unwrap().garbage, 1);
    for p in 0..3 {
        assert!(rig.take_output(p).is_empty(), "port {p}: nothing forwarded");
    }
    assert_eq!(rig.relay.port_flags(0), before);
    assert!(rig.pulses(0).is_empty() && rig.pulses(1).is_empty());
    // The line is in step again for the next good frame.
    let hb = heartbeat("node2", 2);
    rig.send(1, &hb);
    rig.tick();
    assert_eq!(rig.take_output(0), hb);
}

#[test]
fn status_reports_every_port() {
    let mut rig: Rig<3> = Rig::new();
    let l0 = link_by_hand(&mut rig, 0, "node1", 1);
    let l1 = link_by_hand(&mut rig, 1, "node2", 2);
    rig.send(0, &frame(l0, 1, Body::Pet { timeout_ms: 4000 }, &keys()));
    rig.send(1, &frame(l1, 1, Body::Pet { timeout_ms: 1000 }, &keys()));
    rig.tick();
    rig.run(1000 + PULSE + 10); // node2 is reset by its watchdog
    rig.send(2, b"junk\0");
    rig.send(0, &frame(l0, 1, Body::StatusRequest, &keys())); // a replay
    rig.send(0, &frame(l0, 2, Body::Pet { timeout_ms: 4000 }, &keys()));
    rig.tick();
    rig.run(250);
    rig.take_output(0);
    rig.send(0, &frame(l0, 3, Body::StatusRequest, &keys()));
    rig.tick();
    let out = rig.take_output(0);
    let frames = split_frames(&out);
    assert_eq!(frames.len(), 1);
    with_relay_frame(&frames[0], &keys(), |f| {
        assert_eq!((f.link, f.counter), (1, 4)); // identify, two acks, then this
        let Body::Status(s) = f.body else {
            panic!("{:?}", f.body)
        };
        assert_eq!(s.uptime_s, (rig.now() / 1000) as u32);
        let p: Vec<_> = s.ports().collect();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].name, b"node1");
        assert_eq!(p[0].flags, PortFlags(PortFlags::LINKED | PortFlags::ARMED));
        assert_eq!(p[0].timeout_ms, 4000);
        assert_eq!(p[0].last_pet_age_ms, Some(251));
        assert_eq!((p[0].rejected, p[0].garbage), (1, 0));
        assert_eq!(p[1].name, b"node2");
        assert_eq!(
            p[1].flags,
            PortFlags(PortFlags::LINKED | PortFlags::WATCHDOG_FIRED)
        );
        assert_eq!((p[1].timeout_ms, p[1].resets), (0, 1));
        assert_eq!(p[2].name, b"");
        assert_eq!(p[2].flags, PortFlags(0));
        assert_eq!((p[2].last_pet_age_ms, p[2].garbage), (None, 1));
    });
}

#[test]
fn the_chip_watchdog_is_fed_only_while_the_loop_is_healthy() {
    #[derive(Default)]
    struct Chip {
        pets: u32,
    }
    impl Watchdog for Chip {
        type Error = ();
        fn arm(&mut self, t: Duration) -> Result<Duration, ()> {
            Ok(t)
        }
        fn pet(&mut self) -> Result<(), ()> {
            self.pets += 1;
            Ok(())
        }
        fn disarm(&mut self) -> Result<(), ()> {
            Err(())
        }
    }
    let mut rig: Rig<2> = Rig::new();
    let mut chip = Chip::default();
    let now = rig.instant();
    assert!(rig.relay.healthy(now));
    assert!(rig.relay.feed_if_healthy(now, &mut chip));
    // The loop stalls: fine up to MAX_LOOP_GAP after the last poll, not after.
    let gap = MAX_LOOP_GAP.as_millis();
    let at = |ms: u64| Instant::from_millis(now.as_millis() + ms);
    assert!(rig.relay.healthy(at(gap)));
    assert!(!rig.relay.healthy(at(gap + 1)));
    assert!(!rig.relay.feed_if_healthy(at(gap + 1), &mut chip));
    assert_eq!(chip.pets, 1);
    rig.run(5);
    assert!(rig.relay.healthy(rig.instant()));
    // A reset line that cannot be released is unhealthy: a chip reset frees it.
    let link = link_by_hand(&mut rig, 0, "node1", 3);
    rig.send(0, &frame(link, 1, Body::Pet { timeout_ms: 1000 }, &keys()));
    rig.tick();
    rig.run(1000);
    assert!(rig.relay.line_asserted(0));
    rig.pin_fail[0].set(true);
    rig.run(PULSE);
    assert!(!rig.relay.line_asserted(0));
    assert!(!rig.relay.healthy(rig.instant()));
    assert!(rig.relay.port_stats(0).unwrap().pin_errors > 0);
    assert!(rig
        .events
        .iter()
        .any(|(_, e)| *e == Event::PinFault { port: 0 }));
    rig.pin_fail[0].set(false);
    rig.tick();
    assert!(rig.relay.healthy(rig.instant()));
    assert_eq!(rig.pulses(0).len(), 1);
    // A clock that runs backwards is unhealthy for good.
    let t = rig.now();
    rig.clock.set(t - 1);
    rig.poll();
    assert!(!rig.relay.healthy(rig.instant()));
    rig.clock.set(t + 1);
    rig.poll();
    assert!(!rig.relay.healthy(rig.instant()));
}

#[cfg(not(feature = "test-hang"))]
#[test]
fn hang_is_refused_outside_test_builds() {
    let mut rig: Rig<1> = Rig::new();
    let link = link_by_hand(&mut rig, 0, "node1", 3);
    rig.send(0, &frame(link, 1, Body::Hang, &keys()));
    rig.tick();
    assert!(rig.relay.healthy(rig.instant()));
    assert_eq!(rig.relay.port_stats(0).unwrap().malformed, 1);
}

#[cfg(feature = "test-hang")]
#[test]
fn hang_stops_feeding_the_chip_watchdog() {
    let mut rig: Rig<1> = Rig::new();
    let link = link_by_hand(&mut rig, 0, "node1", 3);
    // Unsigned by us: refused even in test builds.
    rig.send(0, &frame(link, 1, Body::Hang, &wrong_keys()));
    rig.tick();
    assert!(rig.relay.healthy(rig.instant()));
    rig.send(0, &frame(link, 1, Body::Hang, &keys()));
    rig.tick();
    assert!(!rig.relay.healthy(rig.instant()));
    assert!(rig.events.iter().any(|(_, e)| *e == Event::Hang));
    rig.run(10);
    assert!(!rig.relay.healthy(rig.instant()));
}

#[test]
fn io_errors_are_counted_and_the_port_keeps_working() {
    let mut rig: Rig<2> = Rig::new();
    rig.wires[0].borrow_mut().fail_io = true;
    rig.tick();
    assert_eq!(rig.relay.port_stats(0).unwrap().io_errors, 1);
    let hb = heartbeat("node1", 1);
    rig.send(0, &hb);
    rig.wires[1].borrow_mut().fail_io = true;
    rig.tick(); // the write to port 1 fails; the frame stays queued
    assert_eq!(rig.relay.port_stats(1).unwrap().io_errors, 1);
    rig.tick();
    assert_eq!(rig.take_output(1), hb);
}

#[test]
fn a_relay_reboot_is_noticed_by_the_client_which_links_again() {
    let mut rig: Rig<2> = Rig::new();
    let mut host = Host::new(&rig, 0, "node1", 1 << 40);
    host.client.arm(Duration::from_secs(5)).unwrap();
    for _ in 0..3 {
        rig.tick();
        host.pump();
    }
    let first = relay::link_id(BOOT_ID, 1);
    assert!(matches!(host.client.state(), LinkState::Linked { link, .. } if link == first));
    // The relay reboots (a new boot id) on the same wires.
    rig.reboot(BOOT_ID + 1);
    let mut relinked_after = None;
    for k in 1..=10 {
        host.client.pet().unwrap();
        rig.run(1000);
        host.pump();
        if matches!(host.client.state(), LinkState::Linked { link, .. } if link != first) {
            relinked_after = Some(k);
            break;
        }
    }
    // Pets on the old link go unanswered; after MAX_UNACKED_PETS the client says hello.
    assert_eq!(
        relinked_after,
        Some(usize::from(hb_core::relay::MAX_UNACKED_PETS) + 1)
    );
    assert_eq!(rig.relay.port_stats(0).unwrap().replays, 3);
    rig.tick();
    assert!(rig.relay.port_flags(0).contains(PortFlags::ARMED));
    assert!(rig.pulses(0).is_empty());
}

#[test]
fn a_fence_on_a_line_that_cannot_be_driven_reports_a_pin_fault() {
    let mut rig: Rig<2> = Rig::new();
    let link = link_by_hand(&mut rig, 0, "node1", 5);
    let reset = |c: u32| {
        frame(
            link,
            c,
            Body::Fence {
                target: 1,
                action: FenceAction::Reset,
                name: b"",
            },
            &keys(),
        )
    };
    rig.pin_fail[1].set(true);
    rig.send(0, &reset(1));
    rig.tick();
    rig.run(PULSE);
    let got = relay_frames(&rig.take_output(0), &keys());
    assert_eq!(
        got[0].2,
        "FenceResult { counter: 1, target: 1, action: Reset, outcome: PinFault }"
    );
    assert!(rig.pulses(1).is_empty());
    // Repaired: the next request works.
    rig.pin_fail[1].set(false);
    rig.send(0, &reset(2));
    rig.tick();
    rig.run(PULSE);
    let got = relay_frames(&rig.take_output(0), &keys());
    assert_eq!(
        got[0].2,
        "FenceResult { counter: 2, target: 1, action: Reset, outcome: Done }"
    );
    assert_eq!(rig.pulses(1).len(), 1);
}

#[test]
fn an_answer_fits_in_the_send_queue_behind_a_longest_frame() {
    use hb_core::auth::{Keyring, Method};
    use hb_core::relay::{FenceOutcome, RelayFrame, MAX_FRAME_LEN};
    // SHA-256 has the longest MAC; every field at its longest.
    let mut k = Keyring::new();
    k.insert(15, Method::Sha256, b"k").unwrap();
    k.set_active(15).unwrap();
    let answers = [
        Body::Identify {
            version: relay::VERSION,
            link: u64::MAX,
            port: 3,
            ports: 4,
            pulse_ms: u32::MAX,
            min_timeout_ms: u32::MAX,
            max_timeout_ms: u32::MAX,
        },
        Body::PetAck {
            counter: u32::MAX,
            timeout_ms: u32::MAX,
        },
        Body::FenceResult {
            counter: u32::MAX,
            target: 3,
            action: FenceAction::Off,
            outcome: FenceOutcome::Done,
        },
    ];
    for body in answers {
        let mut out = [0u8; MAX_FRAME_LEN];
        let frame = RelayFrame {
            link: u64::MAX,
            counter: u32::MAX,
            body,
        };
        let n = relay::encode(&frame, &k, &mut out).unwrap();
        // A forwarded frame is up to MAX_FRAME_LEN stuffed bytes and its delimiter.
        assert!(
            MAX_FRAME_LEN + 1 + n <= hb_firmware::TX_QUEUE_LEN,
            "{} takes {n} bytes",
            body.name()
        );
    }
}

/// Issue 12's fence race: in a split both hosts ask the relay to reset the other. The first
/// request wins; the other host, being reset, is refused at once (`LostRace`) and nothing
/// happens to the winner's line, also when the loser asks again after its reboot, until
/// `FENCE_WINDOW` has passed since its reset began.
#[test]
fn the_first_fence_request_wins_and_the_loser_cannot_fence_back_within_the_window() {
    let mut rig: Rig<2> = Rig::new();
    let mut node1 = Host::new(&rig, 0, "node1", 100);
    let mut node2 = Host::new(&rig, 1, "node2", 200);
    for h in [&mut node1, &mut node2] {
        h.client.hello().unwrap();
    }
    rig.tick();
    node1.pump();
    node2.pump();
    // node2 asks first (port 1, read after port 0 in a poll: the order is the requests', not
    // the ports'), node1 a millisecond later.
    node2.client.fence(0, FenceAction::Reset, b"node1").unwrap();
    rig.tick();
    let t = rig.now();
    let lost = node1.client.fence(1, FenceAction::Reset, b"node2").unwrap();
    rig.tick();
    node1.pump();
    assert_eq!(
        node1.events.last().unwrap(),
        &format!("FenceResult {{ counter: {lost}, target: 1, action: Reset, outcome: LostRace }}")
    );
    rig.run(PULSE);
    node2.pump();
    assert!(
        node2.events.last().unwrap().ends_with("outcome: Done }"),
        "{:?}",
        node2.events
    );
    assert_eq!(rig.pulses(0), [(t, Some(t + PULSE))]);
    assert!(rig.pulses(1).is_empty(), "the winner was reset too");
    // node1 boots again, links anew and, the split lasting, fences node2 again: refused until
    // the window has passed since its own reset began.
    let mut node1 = Host::new(&rig, 0, "node1", 300);
    node1.client.hello().unwrap();
    rig.tick();
    node1.pump();
    let window = relay::FENCE_WINDOW.as_millis();
    rig.run(window - (rig.now() - t) - 2);
    let again = node1.client.fence(1, FenceAction::Off, b"node2").unwrap();
    rig.tick();
    node1.pump();
    assert_eq!(
        node1.events.last().unwrap(),
        &format!("FenceResult {{ counter: {again}, target: 1, action: Off, outcome: LostRace }}")
    );
    assert!(rig.pulses(1).is_empty());
    let refused = rig.events_of(|e| {
        matches!(
            e,
            Event::FenceDone {
                requester: 0,
                outcome: hb_core::relay::FenceOutcome::LostRace,
                ..
            }
        )
    });
    assert_eq!(refused.len(), 2, "{refused:?}");
    // From the window's end on (kept in ticks of 1 024 ms: within 2 s of it), node1 may
    // fence: the relay makes no reset loop out of a lasting split, but one reset per window.
    rig.run(2048);
    node1.client.fence(1, FenceAction::Reset, b"node2").unwrap();
    rig.tick();
    assert_eq!(rig.pulses(1), [(rig.now(), None)]);
}
