//! Readers for the captures in `shared/vectors/heartbeat-3.0.6` (pcap files and the socat log of
//! the serial session), shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/heartbeat-3.0.6")
}

pub fn read_vector(name: &str) -> Vec<u8> {
    let p = vectors_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// The UDP payloads to or from port 694 in a little-endian Ethernet pcap.
pub fn heartbeat_datagrams(pcap: &[u8]) -> Vec<Vec<u8>> {
    assert_eq!(
        &pcap[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian microsecond pcap"
    );
    assert_eq!(
        u32::from_le_bytes(pcap[20..24].try_into().unwrap()),
        1,
        "Ethernet link type"
    );
    let mut out = Vec::new();
    let mut pos = 24;
    while pos + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[pos + 8..pos + 12].try_into().unwrap()) as usize;
        let frame = &pcap[pos + 16..pos + 16 + incl];
        pos += 16 + incl;
        if frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
            continue; // ARP and the like
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != 17 {
            continue;
        }
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let udp = &ip[ihl..total];
        let (sport, dport) = (
            u16::from_be_bytes([udp[0], udp[1]]),
            u16::from_be_bytes([udp[2], udp[3]]),
        );
        if sport == 694 || dport == 694 {
            out.push(udp[8..].to_vec());
        }
    }
    out
}

pub fn all_pcaps() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .expect("shared/vectors beside the checkout")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    names.sort();
    names
}

/// The byte streams each node wrote on the serial line: (node1→node2, node2→node1).
pub fn serial_streams() -> (Vec<u8>, Vec<u8>) {
    let text = String::from_utf8(read_vector("serial-capture.txt")).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut current: Option<bool> = None;
    for line in text.lines() {
        if line.starts_with("> ") {
            current = Some(true);
        } else if line.starts_with("< ") {
            current = Some(false);
        } else if let Some(dir) = current.filter(|_| line.starts_with(' ')) {
            // " 3e 3e 3e 0a        >>>." : hex bytes, then the ASCII column after two+ blanks.
            let hex = line.trim_start().split("  ").next().unwrap();
            let dst = if dir { &mut a } else { &mut b };
            dst.extend(hex.split(' ').map(|h| u8::from_str_radix(h, 16).unwrap()));
        } else {
            current = None;
        }
    }
    (a, b)
}

/// Splits a serial stream into `>>>\n`…`<<<\n` messages.
pub fn classic_messages(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(start) = find(&stream[pos..], b">>>\n") {
        let s = pos + start;
        let Some(e) = find(&stream[s..], b"<<<\n") else {
            break;
        };
        out.push(stream[s..s + e + 4].to_vec());
        pos = s + e + 4;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The test cluster's keyring: `auth 1` / `1 sha1 hbh-test-key-not-secret`.
pub fn vector_keys() -> hb_core::auth::Keyring {
    let text = String::from_utf8(read_vector("authkeys")).unwrap();
    let mut keys = hb_core::auth::Keyring::new();
    let mut active = None;
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["auth", n] => active = Some(n.parse().unwrap()),
            [i, m, k] => keys
                .insert(
                    i.parse().unwrap(),
                    hb_core::auth::Method::from_name(m).unwrap(),
                    k.as_bytes(),
                )
                .unwrap(),
            _ => {}
        }
    }
    keys.set_active(active.unwrap()).unwrap();
    keys
}

/// How many UDP payload blocks the capture's own `.decoded.txt` files list: a cross-check that
/// the pcap reader missed nothing.
pub fn decoded_block_count() -> usize {
    all_pcaps()
        .iter()
        .map(|p| {
            let txt = read_vector(&p.replace(".pcap", ".decoded.txt"));
            String::from_utf8_lossy(&txt)
                .matches("udp_payload=")
                .count()
        })
        .sum()
}

/// A UDP datagram of a capture with its record time and addresses.
#[derive(Clone, Debug)]
pub struct Datagram {
    /// pcap record time, microseconds since the epoch.
    pub time_us: u64,
    pub src: std::net::Ipv4Addr,
    pub dst: std::net::Ipv4Addr,
    pub payload: Vec<u8>,
}

/// Like [`heartbeat_datagrams`], with each payload's capture time and IP addresses.
pub fn heartbeat_datagrams_timed(pcap: &[u8]) -> Vec<Datagram> {
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    let mut out = Vec::new();
    let mut pos = 24;
    while pos + 16 <= pcap.len() {
        let word = |at: usize| u32::from_le_bytes(pcap[at..at + 4].try_into().unwrap());
        let (secs, usecs, incl) = (word(pos), word(pos + 4), word(pos + 8) as usize);
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
        let (sport, dport) = (
            u16::from_be_bytes([udp[0], udp[1]]),
            u16::from_be_bytes([udp[2], udp[3]]),
        );
        if sport == 694 || dport == 694 {
            let addr =
                |at: usize| std::net::Ipv4Addr::new(ip[at], ip[at + 1], ip[at + 2], ip[at + 3]);
            out.push(Datagram {
                time_us: u64::from(secs) * 1_000_000 + u64::from(usecs),
                src: addr(12),
                dst: addr(16),
                payload: udp[8..].to_vec(),
            });
        }
    }
    out
}
