//! The codec's tests: round trips, the documented bytes, and malformed input.

extern crate std;

use super::codec::parse;
use super::*;
use crate::auth::{AuthError, Keyring, Method};
use crate::msg::compact::{self, CompactError, Frame, RELAY_CLASS};
use crate::msg::{EncodeError, Sink};
use std::vec::Vec;

fn keys() -> Keyring {
    let mut k = Keyring::new();
    k.insert(1, Method::Sha1, b"mysecret").unwrap();
    k.set_active(1).unwrap();
    k
}

fn round_trip(f: &RelayFrame<'_>) -> usize {
    let k = keys();
    let mut wire = [0u8; MAX_FRAME_LEN];
    let n = encode(f, &k, &mut wire).unwrap();
    assert_eq!(wire[n - 1], 0);
    assert!(!wire[..n - 1].contains(&0));
    let frame = Frame::unstuff(&mut wire[..n]).unwrap();
    assert!(is_relay_frame(&frame));
    // A heartbeat decoder refuses it instead of misreading it.
    assert_eq!(frame.auth(), Err(CompactError::Unsupported));
    let got = decode(&frame, &k).unwrap();
    assert_eq!(&got, f);
    n
}

fn reports() -> [PortReport<'static>; 3] {
    [
        PortReport {
            flags: PortFlags(PortFlags::LINKED | PortFlags::ARMED),
            timeout_ms: 30_000,
            last_pet_age_ms: Some(812),
            resets: 0,
            fences: 1,
            rejected: 2,
            garbage: 3,
            name: b"node1",
        },
        PortReport {
            flags: PortFlags(PortFlags::WATCHDOG_FIRED),
            timeout_ms: 0,
            last_pet_age_ms: None,
            resets: 1,
            name: b"node2",
            ..PortReport::default()
        },
        PortReport::default(),
    ]
}

#[test]
fn every_type_round_trips() {
    let name = [b'n'; MAX_NAME_LEN];
    let r = reports();
    let bodies = [
        Body::Hello {
            version: VERSION,
            session: 0x0123_4567_89ab_cdef,
            name: b"node1",
        },
        Body::Hello {
            version: 9,
            session: 0,
            name: &name,
        },
        Body::Pet { timeout_ms: 30_000 },
        Body::Fence {
            target: 2,
            action: FenceAction::Reset,
            name: b"node2",
        },
        Body::Fence {
            target: 255,
            action: FenceAction::On,
            name: b"",
        },
        Body::StatusRequest,
        Body::Hang,
        Body::Identify {
            version: VERSION,
            link: link_id(7, 1),
            port: 0,
            ports: 4,
            pulse_ms: 500,
            min_timeout_ms: 1000,
            max_timeout_ms: 3_600_000,
        },
        Body::PetAck {
            counter: 5,
            timeout_ms: 0,
        },
        Body::FenceResult {
            counter: 9,
            target: 1,
            action: FenceAction::Off,
            outcome: FenceOutcome::Superseded,
        },
        Body::Status(Status::new(77, &r)),
        Body::Status(Status::new(0, &[])),
    ];
    for body in bodies {
        round_trip(&RelayFrame {
            link: 42,
            counter: 3,
            body,
        });
    }
    // The biggest frame there is: four ports with the longest names.
    let big = [PortReport {
        name: &name,
        last_pet_age_ms: Some(u32::MAX - 1),
        ..PortReport::default()
    }; MAX_PORTS];
    let n = round_trip(&RelayFrame {
        link: u64::MAX,
        counter: u32::MAX,
        body: Body::Status(Status::new(u32::MAX, &big)),
    });
    assert!(n <= MAX_FRAME_LEN, "{n}");
    // Its body is the longest: header, body, a sha1 MAC (12), the CRC, at least one COBS
    // code byte, the delimiter.
    let least = 1 + MAX_BODY + 12 + 4 + 1 + 1;
    assert!(n >= least, "{n}");
    // An age of u32::MAX would read as "never": it saturates one below.
    let aged = [PortReport {
        last_pet_age_ms: Some(u32::MAX),
        ..PortReport::default()
    }];
    let mut wire = [0u8; 128];
    let k = keys();
    let f = RelayFrame {
        link: 1,
        counter: 1,
        body: Body::Status(Status::new(1, &aged)),
    };
    let n = encode(&f, &k, &mut wire).unwrap();
    let frame = Frame::unstuff(&mut wire[..n]).unwrap();
    let Body::Status(s) = decode(&frame, &k).unwrap().body else {
        panic!("not a status");
    };
    let age = s.ports().next().unwrap().last_pet_age_ms;
    assert_eq!(age, Some(u32::MAX - 1));
}

#[test]
fn unsigned_heartbeat_and_forged_frames_are_refused() {
    let k = keys();
    let f = RelayFrame {
        link: 1,
        counter: 1,
        body: Body::Pet { timeout_ms: 1000 },
    };
    let mut wire = [0u8; 128];
    let n = encode(&f, &k, &mut wire).unwrap();
    let good = wire;
    // A heartbeat message is not a relay frame.
    let mut hb = [0u8; 64];
    let m = compact::encode(&[crate::msg::Field::string("t", "status")], None, &mut hb).unwrap();
    let frame = Frame::unstuff(&mut hb[..m]).unwrap();
    assert!(!is_relay_frame(&frame));
    assert_eq!(decode(&frame, &k), Err(RelayError::NotRelay));
    // The same body without a MAC.
    let content = Vec::from(Frame::unstuff(&mut wire[..n]).unwrap().content());
    let body = &content[1..content.len() - 12];
    let mut unsigned = [0u8; 128];
    let m = reframe(0x80, body, &mut unsigned);
    let frame = Frame::unstuff(&mut unsigned[..m]).unwrap();
    assert_eq!(decode(&frame, &k), Err(RelayError::Unsigned));
    // A flipped body bit with a good CRC: the MAC catches it.
    let mut forged = content.clone();
    forged[3] ^= 1;
    let mut out = [0u8; 128];
    let m = reframe(forged[0], &forged[1..], &mut out);
    let frame = Frame::unstuff(&mut out[..m]).unwrap();
    assert_eq!(
        decode(&frame, &k),
        Err(RelayError::Auth(AuthError::Mismatch { index: 1 }))
    );
    // The right frame with someone else's key.
    let mut other = Keyring::new();
    other.insert(1, Method::Sha1, b"not-mine").unwrap();
    let mut w = good;
    let frame = Frame::unstuff(&mut w[..n]).unwrap();
    assert_eq!(
        decode(&frame, &other),
        Err(RelayError::Auth(AuthError::Mismatch { index: 1 }))
    );
    let mut w = good;
    let frame = Frame::unstuff(&mut w[..n]).unwrap();
    assert_eq!(decode(&frame, &k), Ok(f));
}

/// Frames `header ‖ body` with a good CRC and stuffing and no MAC of its own.
fn reframe(header: u8, body: &[u8], out: &mut [u8]) -> usize {
    let mut content = Vec::from([header]);
    content.extend_from_slice(body);
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&content);
    content.extend_from_slice(&crc.to_le_bytes());
    let n = cobs::try_encode(&content, out).unwrap();
    out[n] = 0;
    n + 1
}

#[test]
fn malformed_bodies_are_refused_with_their_offset() {
    let k = keys();
    let sign = |body: &[u8]| {
        let mut out = [0u8; 256];
        let n = compact::seal(RELAY_CLASS, &k, &mut out, |w| w.put(body)).unwrap();
        let mut frame = Vec::from(&out[..n]);
        let f = Frame::unstuff(&mut frame).unwrap();
        decode(&f, &k).map(|_| ())
    };
    let prefix = |t: u8| {
        let mut v = Vec::from([t]);
        v.extend([0u8; 12]);
        v
    };
    assert_eq!(sign(&[]), Err(RelayError::Malformed { at: 1 }));
    assert_eq!(sign(&prefix(0x55)), Err(RelayError::UnknownType(0x55)));
    let mut pet = prefix(PET);
    assert_eq!(sign(&pet), Err(RelayError::Malformed { at: 14 }));
    pet.extend([1, 0, 0, 0, 9]);
    assert_eq!(sign(&pet), Err(RelayError::Malformed { at: 18 }));
    let mut fence = prefix(FENCE);
    fence.extend([0, 7, 0]);
    assert_eq!(sign(&fence), Err(RelayError::Malformed { at: 15 }));
    let mut fence = prefix(FENCE);
    fence.extend([0, 1, 3, b'a', b' ', b'b']);
    assert_eq!(sign(&fence), Err(RelayError::Malformed { at: 16 }));
    let mut status = prefix(STATUS);
    status.extend([0, 0, 0, 0, 5]);
    assert_eq!(sign(&status), Err(RelayError::Malformed { at: 18 }));
    let mut hello = prefix(HELLO);
    hello.extend([1; 9]);
    hello.push(65);
    hello.extend([b'a'; 65]);
    assert_eq!(sign(&hello), Err(RelayError::Malformed { at: 23 }));
}

#[test]
fn names_must_be_printable_and_short() {
    assert!(name_is_valid(b""));
    assert!(name_is_valid(b"node-1.example"));
    assert!(!name_is_valid(b"a b"));
    assert!(!name_is_valid(b"\xff"));
    assert!(!name_is_valid(&[b'a'; MAX_NAME_LEN + 1]));
    let f = RelayFrame {
        link: 0,
        counter: 0,
        body: Body::Hello {
            version: 1,
            session: 1,
            name: b"bad name",
        },
    };
    assert_eq!(
        encode(&f, &keys(), &mut [0u8; 128]),
        Err(EncodeError::BadValue)
    );
    assert_eq!(
        encode(&f, &Keyring::new(), &mut [0u8; 128]),
        Err(EncodeError::BadValue)
    );
}

#[test]
fn replay_guard_takes_each_counter_once_and_only_on_its_link() {
    let mut g = ReplayGuard::new(link_id(3, 1));
    assert_eq!(g.accept(link_id(3, 1), 1), Ok(()));
    assert_eq!(g.accept(link_id(3, 1), 1), Err(RelayError::Replay));
    assert_eq!(g.accept(link_id(3, 1), 0), Err(RelayError::Replay));
    assert_eq!(g.accept(link_id(3, 1), 5), Ok(()));
    assert_eq!(g.accept(link_id(3, 1), 4), Err(RelayError::Replay));
    assert_eq!(g.accept(link_id(3, 2), 6), Err(RelayError::StaleLink));
    assert_eq!(g.accept(link_id(2, 1), 6), Err(RelayError::StaleLink));
    assert_eq!(g.check(link_id(3, 1), 6), Ok(()));
    assert_eq!(g.last(), 5);
    let mut c = Counter::new();
    assert_eq!((c.advance(), c.advance(), c.last()), (Some(1), Some(2), 2));
    let mut spent = Counter(u32::MAX - 1);
    assert_eq!((spent.advance(), spent.advance()), (Some(u32::MAX), None));
}

#[test]
fn buffers_too_small_are_errors() {
    let f = RelayFrame {
        link: 1,
        counter: 1,
        body: Body::Pet { timeout_ms: 1 },
    };
    let k = keys();
    let full = encode(&f, &k, &mut [0u8; 128]).unwrap();
    for len in 0..full {
        assert_eq!(
            encode(&f, &k, &mut vec_of(len)),
            Err(EncodeError::BufferFull)
        );
    }
    assert_eq!(
        encode(&f, &Keyring::new(), &mut [0u8; 128]),
        Err(EncodeError::NoKey)
    );
}

fn vec_of(len: usize) -> Vec<u8> {
    std::vec![0u8; len]
}

#[test]
fn garbage_never_panics() {
    let k = keys();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let len = (next() % 120) as usize;
        let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Mostly well-typed prefixes, so the payload parsers are reached.
        if let Some(t) = body.first_mut() {
            let types = [
                HELLO,
                PET,
                FENCE,
                STATUS_REQUEST,
                HANG,
                IDENTIFY,
                PET_ACK,
                FENCE_RESULT,
                STATUS,
            ];
            if *t & 1 == 0 {
                *t = types[usize::from(*t >> 1) % types.len()];
            }
        }
        let _ = parse(&body);
        let mut out = [0u8; 512];
        let n = compact::seal(RELAY_CLASS, &k, &mut out, |w| w.put(&body)).unwrap();
        let f = Frame::unstuff(&mut out[..n]).unwrap();
        if let Ok(RelayFrame {
            body: Body::Status(s),
            ..
        }) = decode(&f, &k)
        {
            assert_eq!(s.ports().count(), s.len());
        }
    }
}

#[test]
fn provisioning_frames_round_trip() {
    let secret = [0xa5u8; MAX_SECRET_LEN];
    let bodies = [
        Body::Key {
            session: 7,
            index: 2,
            method: Method::Sha256,
            secret: b"cluster secret",
        },
        Body::Key {
            session: u64::MAX,
            index: 15,
            method: Method::Md5,
            secret: &secret,
        },
        Body::Key {
            session: 1,
            index: 0,
            method: Method::Crc,
            secret: b"",
        },
        Body::InfoRequest { session: 42 },
        Body::KeyResult {
            outcome: KEY_STORED,
            index: 2,
        },
        Body::Info(Info {
            version: VERSION,
            firmware: b"0.1.0",
            boot_cause: BOOT_WATCHDOG,
            key_source: KEY_SOURCE_FLASH,
            key_index: 2,
            key_method: Some(Method::Sha1),
            ports: 4,
            uptime_s: 3725,
        }),
        Body::Info(Info {
            version: VERSION,
            firmware: b"0.1.0",
            boot_cause: BOOT_POWER_ON,
            key_source: KEY_SOURCE_NONE,
            key_index: 0,
            key_method: None,
            ports: 2,
            uptime_s: 0,
        }),
    ];
    for body in bodies {
        round_trip(&RelayFrame {
            link: 0,
            counter: 0,
            body,
        });
    }
    assert_eq!(boot_cause_name(BOOT_WATCHDOG), "watchdog");
    assert_eq!(boot_cause_name(200), "unknown");
}

#[test]
fn a_key_too_long_or_of_no_method_is_refused() {
    let k = keys();
    let mut wire = [0u8; MAX_FRAME_LEN];
    let long = [1u8; MAX_SECRET_LEN + 1];
    let frame = RelayFrame {
        link: 0,
        counter: 0,
        body: Body::Key {
            session: 1,
            index: 1,
            method: Method::Sha1,
            secret: &long,
        },
    };
    assert_eq!(encode(&frame, &k, &mut wire), Err(EncodeError::BadValue));
    // Forged bodies with a good MAC: a 65-byte secret, and method code 0 and 9.
    let prefix = |method: u8, len: u8| {
        let mut b = std::vec![KEY];
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&[1, method, len]);
        b.extend(std::iter::repeat_n(b'k', usize::from(len)));
        b
    };
    for (body, at) in [(prefix(3, 65), 24), (prefix(0, 4), 23), (prefix(9, 4), 23)] {
        let mut out = [0u8; MAX_FRAME_LEN];
        let n = compact::seal(RELAY_CLASS, &k, &mut out, |w| w.put(&body)).unwrap();
        let frame = Frame::unstuff(&mut out[..n]).unwrap();
        assert_eq!(decode(&frame, &k), Err(RelayError::Malformed { at }));
    }
    // A firmware version that is not a name cannot be sent.
    let info = RelayFrame {
        link: 0,
        counter: 0,
        body: Body::Info(Info {
            version: 1,
            firmware: b"0.1 beta",
            boot_cause: 0,
            key_source: 0,
            key_index: 0,
            key_method: None,
            ports: 1,
            uptime_s: 0,
        }),
    };
    assert_eq!(encode(&info, &k, &mut wire), Err(EncodeError::BadValue));
}

#[test]
fn a_relay_parses_only_requests() {
    let k = keys();
    let r = reports();
    for (body, code) in [
        (Body::Status(Status::new(1, &r)), 0x84),
        (
            Body::KeyResult {
                outcome: KEY_STORED,
                index: 1,
            },
            0x85,
        ),
    ] {
        let mut wire = [0u8; MAX_FRAME_LEN];
        let f = RelayFrame {
            link: 3,
            counter: 4,
            body,
        };
        let n = encode(&f, &k, &mut wire).unwrap();
        let frame = Frame::unstuff(&mut wire[..n]).unwrap();
        let sealed = open(&frame).unwrap();
        assert_eq!(sealed.parse_unverified().unwrap(), f);
        assert_eq!(sealed.parse_request(), Err(RelayError::UnknownType(code)));
    }
    let pet = RelayFrame {
        link: 3,
        counter: 4,
        body: Body::Pet { timeout_ms: 5 },
    };
    let mut wire = [0u8; MAX_FRAME_LEN];
    let n = encode(&pet, &k, &mut wire).unwrap();
    let frame = Frame::unstuff(&mut wire[..n]).unwrap();
    assert_eq!(open(&frame).unwrap().parse_request(), Ok(pet));
}
