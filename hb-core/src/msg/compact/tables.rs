//! The code tables of the compact body: names, pairs, words, and the field kinds.

/// Field names with a one-byte tag; the index is the tag.
pub const NAMES: [&str; 31] = [
    "t",
    "st",
    "dt",
    "protocol",
    "src",
    "srcuuid",
    "seq",
    "hg",
    "ts",
    "ld",
    "ttl",
    "auth",
    "dest",
    "destuuid",
    "ackseq",
    "firstseq",
    "lastseq",
    "rsc_hold",
    "rtype",
    "isstable",
    "info",
    "node",
    "result",
    "nodelist",
    "delnodelist",
    "ipaddr",
    "weown",
    "ok",
    "weight",
    "site",
    "_compressed_payload",
];

/// The tag meaning "the name follows literally".
pub const LITERAL_NAME: u8 = 31;

/// Whole string fields coded in the field byte alone (kind 7); the index is the low 5 bits.
pub const PAIRS: [(&str, &str); 32] = [
    ("t", "status"),
    ("t", "NS_ackmsg"),
    ("t", "resource"),
    ("t", "ask_resources"),
    ("t", "starting"),
    ("t", "reqnodes"),
    ("t", "repnodes"),
    ("t", "NS_rexmit"),
    ("t", "NS_nak_rexmit"),
    ("t", "stonith"),
    ("t", "shutdone"),
    ("t", "hb_takeover"),
    ("t", "ip-request"),
    ("t", "ip-request-resp"),
    ("st", "init"),
    ("st", "up"),
    ("st", "active"),
    ("st", "dead"),
    ("protocol", "1"),
    ("ttl", "2"),
    ("ttl", "3"),
    ("ttl", "4"),
    ("rsc_hold", "none"),
    ("rsc_hold", "local"),
    ("rsc_hold", "foreign"),
    ("rsc_hold", "all"),
    ("rtype", "full"),
    ("isstable", "0"),
    ("isstable", "1"),
    ("info", "me"),
    ("info", "other"),
    ("info", "done"),
];

/// String values coded as one byte after any name (kind 6); the index is that byte.
pub const WORDS: [&str; 48] = [
    "status",
    "NS_ackmsg",
    "resource",
    "ask_resources",
    "starting",
    "reqnodes",
    "repnodes",
    "NS_rexmit",
    "NS_nak_rexmit",
    "stonith",
    "shutdone",
    "hb_takeover",
    "ip-request",
    "ip-request-resp",
    "addnode",
    "delnode",
    "setweight",
    "setsite",
    "init",
    "up",
    "active",
    "dead",
    "none",
    "local",
    "foreign",
    "all",
    "failback",
    "full",
    "me",
    "other",
    "done",
    "standby",
    "shutdown",
    "mach_down",
    "req_our_resources()",
    "yes",
    "no",
    "OK",
    "badhost",
    "bad",
    "n_stnth",
    "unneeded",
    "n/a",
    "zlib",
    "seqno too low",
    "seqno not found",
    "ping",
    "normal",
];

pub(super) const UUID_LEN: usize = 16;

// Field kinds (the 3 high bits of a field byte).
pub(super) const RAW: u8 = 0;
pub(super) const HEX: u8 = 1;
pub(super) const DEC: u8 = 2;
pub(super) const HEX32: u8 = 3;
pub(super) const DELTA: u8 = 4;
pub(super) const UUID: u8 = 5;
pub(super) const WORD: u8 = 6;
pub(super) const PAIR: u8 = 7;
