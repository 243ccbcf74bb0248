//! What the engine needs to start: the node list, the media, the timings of `ha.cf`, the keys
//! of `authkeys`, and the facts the daemon keeps in files (our UUID, our generation) or reads
//! from the system (the load average, a random seed). The engine itself never reads any of it.

use heapless::{String, Vec};

use crate::auth::Keyring;
use crate::config::hacf::{HaCf, Medium, MsgFmt, MAX_MEDIA, MAX_NODES};
use crate::config::NodeName;
use crate::time::Duration;

/// Longest `ld` text kept. `/proc/loadavg`'s first line is about 30 bytes.
pub const LOAD_AVERAGE_LEN: usize = 64;

/// The `ld` value heartbeat sends when `/proc/loadavg` cannot be read.
pub const LOAD_AVERAGE_UNKNOWN: &str = "n/a";

/// How a medium's packets are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Encoding {
    /// heartbeat's netstring packets with auth trailer: what 3.0.6 sends on every UDP medium.
    Netstring,
    /// heartbeat's classic text with an `auth` field: what 3.0.6 writes on serial lines.
    Classic,
    /// Our compact frames (`msg::compact`): serial lines and relays where both ends are ours.
    Compact,
}

/// One medium the engine sends on and hears from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediumConfig {
    pub encoding: Encoding,
    /// Media with the same link name (two `ucast` lines on one interface) are one link in
    /// heartbeat (`Link node1:eth0 up.` is keyed by interface name): the links are numbered
    /// 0, 1, … in order of first appearance, and link state is kept per link, not per medium.
    pub link: u8,
    /// Where this medium is in `HaCf::media`, for the daemon to find its directive.
    pub hacf_index: u8,
}

/// Everything [`Membership::new`](super::Membership::new) needs.
#[derive(Clone, Debug)]
pub struct MembershipConfig {
    /// Our node name, lowercased, as in the `node` lines.
    pub local_node: NodeName,
    /// The 16 bytes of `/var/lib/heartbeat/hb_uuid`.
    pub uuid: [u8; 16],
    /// heartbeat generation (`hg`) for this run: the daemon increments and persists it before
    /// starting the engine, as `IncrGeneration` does. It must grow at every start.
    pub generation: u64,
    pub keys: Keyring,
    /// Cluster members (`node` lines), in file order. Must include `local_node`.
    pub nodes: Vec<NodeName, MAX_NODES>,
    /// Ping nodes (`ping`, `ping6`, `ping_group`), in file order: pseudo-members whose
    /// liveness the daemon reports with [`Membership::handle_ping_reply`](super::Membership::handle_ping_reply).
    pub ping_nodes: Vec<NodeName, MAX_MEDIA>,
    /// The media that carry heartbeats; [`MediumId`](super::MediumId) `n` is entry `n`.
    pub media: Vec<MediumConfig, MAX_MEDIA>,
    pub keepalive: Duration,
    pub deadtime: Duration,
    pub warntime: Duration,
    pub initdead: Duration,
    pub deadping: Duration,
    pub max_rexmit_delay: Duration,
    pub hopfudge: u8,
    /// `msgfmt classic` (heartbeat's default): netstring packets also carry the classic `auth`
    /// field. `msgfmt netstring`: the trailer only.
    pub auth_field: bool,
    /// Seed of the engine's random numbers (ACK triggers, retransmission-request delays). The
    /// daemon takes it from the OS; tests fix it. The engine never derives randomness from time.
    pub seed: u64,
    /// The first `ld` text; see [`Membership::set_load_average`](super::Membership::set_load_average).
    pub load_average: String<LOAD_AVERAGE_LEN>,
    /// With one peer, beat in step with it (hb's own, opt-in: `env HB_BEAT_IN_STEP=yes`; see
    /// `answer_status`): one node of the pair then wakes once a period instead of twice.
    pub beat_in_step: bool,
}

/// Why an engine could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SetupError {
    /// `local_node` is not one of `nodes`.
    LocalNodeMissing,
    /// More nodes (cluster plus ping nodes) than the engine's `NODES`, or more than 255, or
    /// than its `EVENTS` can report dead at once (with all their links).
    TooManyNodes,
    /// More media than the engine's `MEDIA`, or more than 64.
    TooManyMedia,
    /// The keyring has no active (signing) key.
    NoSigningKey,
    /// A timing heartbeat would refuse: keepalive zero, or deadtime not above keepalive.
    BadTiming,
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SetupError::LocalNodeMissing => "the local node is not among the configured nodes",
            SetupError::TooManyNodes => "more nodes than the engine was built for",
            SetupError::TooManyMedia => "more media than the engine was built for",
            SetupError::NoSigningKey => "no active key to sign with",
            SetupError::BadTiming => "keepalive must be above zero and below deadtime",
        })
    }
}

impl MembershipConfig {
    /// The configuration `ha.cf` describes, for the node `local_node` (`uname -n`, lowercased
    /// here). Media: every `bcast`, `mcast`, `mcast6`, `ucast` (netstring) and `serial`
    /// (classic) line, in file order; ping media become ping nodes; media hb does not model
    /// (`hbaping`, `openais`, …) are left out. Change [`MediumConfig::encoding`] afterwards to
    /// run a serial line with compact frames.
    pub fn from_hacf(
        cf: &HaCf,
        local_node: &str,
        uuid: [u8; 16],
        generation: u64,
        keys: Keyring,
        seed: u64,
    ) -> Result<MembershipConfig, SetupError> {
        let mut local = NodeName::new();
        for c in local_node.chars() {
            local
                .push(c.to_ascii_lowercase())
                .map_err(|_| SetupError::LocalNodeMissing)?;
        }
        let mut media: Vec<MediumConfig, MAX_MEDIA> = Vec::new();
        let mut ping_nodes = Vec::new();
        let mut link_names: Vec<&str, MAX_MEDIA> = Vec::new();
        for (i, m) in cf.media.iter().enumerate() {
            let encoding = match &m.value {
                Medium::Bcast { .. }
                | Medium::Mcast { .. }
                | Medium::Ucast { .. }
                | Medium::Mcast6 { .. }
                | Medium::Ucast6 { .. } => Encoding::Netstring,
                Medium::Serial { .. } => Encoding::Classic,
                // The relay board speaks only compact frames (hb-firmware/PROTOCOL.md).
                Medium::Relay { .. } => Encoding::Compact,
                Medium::Ping { host } | Medium::Ping6 { host } => {
                    let name =
                        NodeName::try_from(host.as_str()).map_err(|_| SetupError::TooManyNodes)?;
                    ping_nodes
                        .push(name)
                        .map_err(|_| SetupError::TooManyNodes)?;
                    continue;
                }
                Medium::PingGroup { name, .. } => {
                    ping_nodes
                        .push(name.clone())
                        .map_err(|_| SetupError::TooManyNodes)?;
                    continue;
                }
                Medium::Other { .. } => continue,
            };
            let name = m.value.link_name();
            let link = match link_names.iter().position(|n| *n == name) {
                Some(l) => l,
                None => {
                    link_names
                        .push(name)
                        .map_err(|_| SetupError::TooManyMedia)?;
                    link_names.len() - 1
                }
            };
            media
                .push(MediumConfig {
                    encoding,
                    link: link as u8,
                    hacf_index: i as u8,
                })
                .map_err(|_| SetupError::TooManyMedia)?;
        }
        let mut load_average = String::new();
        let _ = load_average.push_str(LOAD_AVERAGE_UNKNOWN);
        Ok(MembershipConfig {
            local_node: local,
            uuid,
            generation,
            keys,
            nodes: cf.nodes.clone(),
            ping_nodes,
            media,
            keepalive: cf.keepalive,
            deadtime: cf.deadtime,
            warntime: cf.warntime,
            initdead: cf.initdead,
            deadping: cf.deadping,
            max_rexmit_delay: cf.max_rexmit_delay,
            hopfudge: cf.hopfudge,
            auth_field: cf.msgfmt == MsgFmt::Classic,
            seed,
            load_average,
            beat_in_step: cf.env.iter().any(|v| {
                v.name.as_str() == "HB_BEAT_IN_STEP"
                    && ["1", "yes", "on", "true"]
                        .iter()
                        .any(|on| v.value.trim().eq_ignore_ascii_case(on))
            }),
        })
    }
}
