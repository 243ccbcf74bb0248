//! A relay built without a key (issue 17): it forwards and fences nothing and answers only
//! info requests until a host provisions the cluster's key over its serial line; re-keying
//! needs the current key; a cut-off request changes nothing.

mod common;

use common::*;
use hb_core::auth::{Keyring, Method};
use hb_core::relay::{
    Body, FenceAction, BOOT_WATCHDOG, KEY_FLASH_FAILED, KEY_IN_IMAGE, KEY_SOURCE_FLASH,
    KEY_SOURCE_IMAGE, KEY_SOURCE_NONE, KEY_STORED, VERSION,
};
use hb_firmware::keystore::StoredKey;
use hb_firmware::{Event, FIRMWARE_VERSION};

/// What an unkeyed relay signs its info answers with: `crc` at index 0.
fn crc_keys() -> Keyring {
    let mut k = Keyring::new();
    k.insert(0, Method::Crc, b"").unwrap();
    k.set_active(0).unwrap();
    k
}

fn new_keys() -> Keyring {
    let mut k = Keyring::new();
    k.insert(2, Method::Sha256, b"the next cluster secret")
        .unwrap();
    k.set_active(2).unwrap();
    k
}

fn unkeyed() -> Rig<3> {
    Rig::with(BOOT_ID, Keyring::new())
}

/// A key request for the cluster key `keys()` (index 1, sha1), signed with `signer`.
fn key_request(
    link: u64,
    counter: u32,
    signer: &Keyring,
    index: u8,
    method: Method,
    secret: &[u8],
) -> Vec<u8> {
    frame(
        link,
        counter,
        Body::Key {
            session: 0xabc,
            index,
            method,
            secret,
        },
        signer,
    )
}

fn provision_request() -> Vec<u8> {
    key_request(0, 0, &keys(), 1, Method::Sha1, b"cluster secret")
}

fn hello(keys: &Keyring) -> Vec<u8> {
    frame(
        0,
        0,
        Body::Hello {
            version: VERSION,
            session: 77,
            name: b"node1",
        },
        keys,
    )
}

/// Says hello with `keys` on `port`; returns the link id the relay offered.
fn link(rig: &mut Rig<3>, port: usize, keys: &Keyring) -> u64 {
    rig.send(port, &hello(keys));
    rig.poll();
    let out = rig.take_output(port);
    let frames = split_frames(&out);
    assert_eq!(frames.len(), 1, "no identify");
    with_relay_frame(&frames[0], keys, |f| match f.body {
        Body::Identify { link, .. } => link,
        other => panic!("{other:?}"),
    })
}

fn info(rig: &mut Rig<3>, port: usize, keys: &Keyring) -> (u8, u8, u8, Option<Method>) {
    rig.send(port, &frame(0, 0, Body::InfoRequest { session: 5 }, keys));
    rig.poll();
    let out = rig.take_output(port);
    let frames = split_frames(&out);
    assert_eq!(frames.len(), 1);
    let (answer_keys, _) = match rig.relay.key_source() {
        KEY_SOURCE_NONE => (crc_keys(), ()),
        _ => (keys.clone(), ()),
    };
    with_relay_frame(&frames[0], &answer_keys, |f| match f.body {
        Body::Info(i) => {
            assert_eq!(
                (f.link, i.firmware, i.ports),
                (5, FIRMWARE_VERSION.as_bytes(), 3)
            );
            (i.key_source, i.boot_cause, i.key_index, i.key_method)
        }
        other => panic!("{other:?}"),
    })
}

/// The key result the relay sends at the poll after `commit_key`.
fn key_result(rig: &mut Rig<3>, port: usize, keys: &Keyring) -> Option<(u8, u8)> {
    rig.poll();
    let out = rig.take_output(port);
    let frames = split_frames(&out);
    let f = frames.first()?;
    Some(with_relay_frame(f, keys, |f| match f.body {
        Body::KeyResult { outcome, index } => {
            assert_eq!(f.link, 0xabc);
            (outcome, index)
        }
        other => panic!("{other:?}"),
    }))
}

fn fence(link: u64, counter: u32, keys: &Keyring) -> Vec<u8> {
    frame(
        link,
        counter,
        Body::Fence {
            target: 2,
            action: FenceAction::Reset,
            name: b"",
        },
        keys,
    )
}

#[test]
fn an_unkeyed_relay_forwards_nothing_fences_nothing_and_says_so() {
    let mut rig = unkeyed();
    rig.relay.set_boot_cause(BOOT_WATCHDOG);
    rig.send(0, &heartbeat("node1", 1));
    rig.run(5);
    assert!(rig.take_output(1).is_empty() && rig.take_output(2).is_empty());
    // A hello and a fence signed with the cluster's key: refused, unanswered.
    rig.send(0, &hello(&keys()));
    rig.send(0, &fence(1, 1, &keys()));
    rig.run(600);
    assert!(rig.take_output(0).is_empty());
    assert!(rig.pulses(2).is_empty());
    assert_eq!(rig.relay.port_stats(0).unwrap().bad_auth, 2);
    assert_eq!(
        info(&mut rig, 0, &keys()),
        (KEY_SOURCE_NONE, BOOT_WATCHDOG, 0, None)
    );
}

#[test]
fn provisioning_keys_the_relay_which_then_relays_and_fences() {
    let mut rig = unkeyed();
    rig.send(1, &provision_request());
    rig.poll();
    assert!(rig.relay.key_pending());
    // Nothing is used before the flash holds it.
    assert!(rig.take_output(1).is_empty());
    let mut written = None;
    rig.relay.commit_key(|k| {
        written = Some(k.clone());
        true
    });
    assert_eq!(written, StoredKey::new(1, Method::Sha1, b"cluster secret"));
    assert_eq!(key_result(&mut rig, 1, &keys()), Some((KEY_STORED, 1)));
    rig.poll();
    assert!(rig
        .events_of(|e| matches!(e, Event::KeyStored { .. }))
        .iter()
        .any(|(_, e)| *e
            == Event::KeyStored {
                port: 1,
                index: 1,
                stored: true
            }));
    assert_eq!(info(&mut rig, 0, &keys()).0, KEY_SOURCE_FLASH);

    rig.send(0, &heartbeat("node1", 1));
    rig.poll();
    assert_eq!(rig.take_output(1), heartbeat("node1", 1));
    let l = link(&mut rig, 0, &keys());
    rig.send(0, &fence(l, 1, &keys()));
    rig.run(600);
    assert_eq!(rig.pulses(2).len(), 1);
}

#[test]
fn a_first_key_request_must_be_signed_with_the_key_it_carries() {
    let mut rig = unkeyed();
    // Signed with another key than the one inside: line noise that passed the CRC, or a
    // spliced frame.
    rig.send(
        0,
        &key_request(0, 0, &wrong_keys(), 1, Method::Sha1, b"cluster secret"),
    );
    // On a link rather than link 0.
    rig.send(
        0,
        &key_request(9, 1, &keys(), 1, Method::Sha1, b"cluster secret"),
    );
    rig.poll();
    assert!(!rig.relay.key_pending());
    let s = rig.relay.port_stats(0).unwrap();
    assert_eq!((s.bad_auth, s.malformed), (1, 1));
}

#[test]
fn a_flash_that_refuses_the_key_leaves_the_relay_unkeyed() {
    let mut rig = unkeyed();
    rig.send(0, &provision_request());
    rig.poll();
    rig.relay.commit_key(|_| false);
    // A relay still without a key says so unsigned.
    assert_eq!(
        key_result(&mut rig, 0, &crc_keys()),
        Some((KEY_FLASH_FAILED, 1))
    );
    assert_eq!(rig.relay.key_source(), KEY_SOURCE_NONE);
    rig.send(0, &heartbeat("node1", 1));
    rig.run(2);
    assert!(rig.take_output(1).is_empty());
}

#[test]
fn a_provisioning_request_cut_off_half_way_changes_nothing() {
    let mut rig = unkeyed();
    let req = provision_request();
    // Half a frame, then the line drops and a new frame starts after a delimiter.
    rig.send(0, &req[..req.len() / 2]);
    rig.send(0, &[0]);
    rig.run(3);
    assert!(!rig.relay.key_pending());
    assert_eq!(rig.relay.key_source(), KEY_SOURCE_NONE);
    // Keyed, then a re-key cut off: the old key keeps working.
    rig.send(0, &req);
    rig.poll();
    rig.relay.commit_key(|_| true);
    assert_eq!(key_result(&mut rig, 0, &keys()), Some((KEY_STORED, 1)));
    let l = link(&mut rig, 0, &keys());
    let rekey = key_request(l, 1, &keys(), 2, Method::Sha256, b"the next cluster secret");
    rig.send(0, &rekey[..rekey.len() - 7]);
    rig.send(0, &[0]);
    rig.poll();
    assert!(!rig.relay.key_pending());
    link(&mut rig, 1, &keys());
    assert!(rig.relay.port_stats(0).unwrap().garbage >= 1);
}

#[test]
fn re_keying_needs_the_current_key_on_a_fresh_link() {
    let mut rig = unkeyed();
    assert!(rig
        .relay
        .load_key(&StoredKey::new(1, Method::Sha1, b"cluster secret").unwrap()));
    let l = link(&mut rig, 0, &keys());
    // Signed with a wrong key; then with the right key but on link 0 (replayable).
    rig.send(
        0,
        &key_request(
            l,
            1,
            &wrong_keys(),
            2,
            Method::Sha256,
            b"the next cluster secret",
        ),
    );
    rig.send(
        0,
        &key_request(0, 0, &keys(), 2, Method::Sha256, b"the next cluster secret"),
    );
    rig.poll();
    assert!(!rig.relay.key_pending());
    assert!(rig.take_output(0).is_empty());
    // Armed by a pet: after the re-key it is disarmed, so no reset follows.
    rig.send(0, &frame(l, 1, Body::Pet { timeout_ms: 1000 }, &keys()));
    rig.send(
        0,
        &key_request(l, 2, &keys(), 2, Method::Sha256, b"the next cluster secret"),
    );
    rig.poll();
    assert!(rig.relay.key_pending());
    rig.relay.commit_key(|_| true);
    rig.poll();
    let out = rig.take_output(0);
    let frames = split_frames(&out);
    assert_eq!(frames.len(), 2, "pet ack and key result");
    with_relay_frame(&frames[1], &new_keys(), |f| {
        assert_eq!(
            f.body,
            Body::KeyResult {
                outcome: KEY_STORED,
                index: 2
            }
        )
    });
    rig.run(2000);
    assert!(rig.pulses(0).is_empty(), "a re-key must not reset a host");
    // The old key opens nothing any more; the new one does.
    rig.send(1, &hello(&keys()));
    rig.poll();
    assert!(rig.take_output(1).is_empty());
    link(&mut rig, 1, &new_keys());
    assert_eq!(
        info(&mut rig, 2, &new_keys()),
        (KEY_SOURCE_FLASH, 0, 2, Some(Method::Sha256))
    );
}

#[test]
fn a_relay_with_its_key_in_the_image_keeps_it() {
    let mut rig: Rig<3> = Rig::new();
    assert_eq!(rig.relay.key_source(), KEY_SOURCE_IMAGE);
    let l = link(&mut rig, 0, &keys());
    rig.send(
        0,
        &key_request(l, 1, &keys(), 2, Method::Sha256, b"the next cluster secret"),
    );
    rig.poll();
    // Signed with the image's key, which the host signed its request with.
    assert!(!rig.relay.key_pending());
    assert_eq!(key_result(&mut rig, 0, &keys()), Some((KEY_IN_IMAGE, 2)));
    link(&mut rig, 1, &keys());
}
