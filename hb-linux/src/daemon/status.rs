//! The answer to `hbctl status` (and `cl_status`): the node as the loop sees it, in the JSON
//! the README documents. Built from a [`View`] of the loop's state, so this room does not
//! know the loop.

use super::Heartbeat;
use crate::config::Loaded;
use crate::media::relay::RelayLinkState;
use crate::media::Medium;
use hb_core::config::HaCf;
use hb_core::engine::{MediumId, NodeKind};
use hb_core::resources::{GroupState, Holder};
use hb_core::time::{Duration as CoreDuration, Instant as CoreInstant};
use serde_json::{json, Value};
use std::time::Instant;

/// Per node: when it was last heard and the longest silence seen.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Heard {
    last: Option<CoreInstant>,
    worst: CoreDuration,
}

/// Updates `heard` from the core's per-link last-heard times over `n_media` media.
pub(super) fn track_heard(heard: &mut [Heard], hb: &Heartbeat, n_media: usize) {
    for (id, node) in hb.nodes() {
        let Some(h) = heard.get_mut(id.index()) else {
            continue;
        };
        let last = (0..n_media).filter_map(|l| node.link_last_heard(l)).max();
        if let Some(t) = last {
            h.heard(t);
        }
    }
}

impl Heard {
    fn heard(&mut self, t: CoreInstant) {
        if let Some(prev) = self.last {
            if t > prev {
                self.worst = self.worst.max(t.saturating_since(prev));
            }
        }
        self.last = Some(t);
    }
}

/// What the status answer is made of.
pub(super) struct View<'a> {
    pub now: CoreInstant,
    pub hb: &'a Heartbeat,
    pub cfg: &'a Loaded,
    /// `-d` on the command line.
    pub debug: u8,
    pub heard: &'a [Heard],
    /// The core's media, then the relay lines that are only watchdog or STONITH device.
    pub media: &'a [Medium],
    pub core_media: usize,
    pub link_names: &'a [String],
    pub hung: &'a [Option<Instant>],
    /// The media index of the relay line that is the watchdog.
    pub watchdog_relay: Option<usize>,
    pub rx_errors: u64,
}

/// The status answer.
pub(super) fn status(v: &View<'_>) -> Value {
    let now = v.now;
    let hb = v.hb;
    let res = hb.resources();
    let node_name = |id| hb.node(id).map_or("?", |n| n.name());
    let mut nodes = Vec::new();
    let mut links = Vec::new();
    for (id, n) in hb.nodes() {
        let heard = v.heard.get(id.index()).copied().unwrap_or_default();
        let local = id == hb.local_node();
        let kind = match n.kind() {
            NodeKind::Normal => "normal",
            NodeKind::Ping => "ping",
        };
        let state = if local {
            hb.local_status().as_str()
        } else {
            n.status_text()
        };
        nodes.push(json!({
            "name": n.name(),
            "type": kind,
            "state": state,
            "local": local,
            "generation": if local { hb.membership().generation() } else { n.generation() },
            "last_heard_ms": heard.last.map(|t| now.saturating_since(t).as_millis()),
            "worst_gap_ms": heard.worst.as_millis(),
        }));
        if local || n.kind() == NodeKind::Ping {
            continue;
        }
        for (i, m) in v.media[..v.core_media].iter().enumerate() {
            let up = hb.link_up(id, MediumId(i as u8));
            links.push(json!({
                "node": n.name(),
                "medium": v.link_names[i],
                "kind": m.kind(),
                "state": if up { "up" } else { "dead" },
            }));
        }
    }
    let mut groups = Vec::new();
    for (gid, holder) in hb.holdings() {
        let g = &v.cfg.haresources.groups()[gid.0 as usize];
        let owner = match holder {
            Holder::Local => Some(v.cfg.node.clone()),
            Holder::Peer(p) => Some(node_name(p).to_string()),
            Holder::Nobody => None,
        };
        groups.push(json!({
            "key": g.key(),
            "preferred": g.node(),
            "resources": g.resources().map(|r| r.spec().to_string()).collect::<Vec<_>>(),
            "owner": owner,
            "state": group_state(holder, res.group_state(gid)),
        }));
    }
    let ipf = hb.ipfail();
    let ipfail = json!({
        "running": ipf.is_running(),
        "ping_nodes_up": hb.ping_count(),
        "our_count": ipf.our_count(),
        "peer_count": ipf.peer_count(),
        "giveup_pending": ipf.pending_giveup().is_some(),
    });
    json!({
        "ipfail": ipfail,
        "relays": relays(v),
        "ok": true,
        "node": v.cfg.node,
        "status": hb.local_status().as_str(),
        "generation": hb.membership().generation(),
        "comm_up": hb.is_comm_up(),
        "resources": hb.rscstatus(),
        "stable": hb.is_stable(),
        "pid": std::process::id(),
        "version": super::VERSION,
        "rx_errors": v.rx_errors,
        "nodes": nodes,
        "links": links,
        "groups": groups,
        "parameters": parameters(&v.cfg.hacf, v.debug),
    })
}

/// A group's state word: what is being done to it here, or who runs it.
fn group_state(holder: Holder, state: GroupState) -> &'static str {
    match (holder, state) {
        (Holder::Local, GroupState::Starting) => "starting",
        (Holder::Local, GroupState::Stopping) => "stopping",
        (Holder::Local, GroupState::Failed) => "failed",
        (Holder::Local, _) => "running",
        (Holder::Peer(_), _) => "running",
        (Holder::Nobody, GroupState::Failed) => "failed",
        (Holder::Nobody, _) => "stopped",
    }
}

/// The relay lines: link, roles, counters and the board as its last status described it.
fn relays(v: &View<'_>) -> Vec<Value> {
    let mut relays = Vec::new();
    for (i, m) in v.media.iter().enumerate() {
        let Some(ch) = m.relay() else { continue };
        let (port, ports) = match ch.link_state() {
            RelayLinkState::Linked { port, ports, .. } => (Some(port), Some(ports)),
            _ => (None, None),
        };
        let st = ch.stats();
        relays.push(json!({
            "device": ch.link_name(),
            "medium": i < v.core_media,
            "watchdog": v.watchdog_relay == Some(i),
            "linked": ch.is_linked() && v.hung[i].is_none(),
            "hung_up": v.hung[i].is_some(),
            "port": port,
            "ports": ports,
            "heartbeats_in": st.heartbeats_in,
            "heartbeats_out": st.heartbeats_out,
            "rejected": st.rejected,
            "board_age_ms": ch.ports_at().map(|t| t.elapsed().as_millis() as u64),
            "board": ch.ports().iter().map(|p| json!({
                "port": p.port,
                "host": p.name,
                "linked": p.flags.contains(hb_core::relay::PortFlags::LINKED),
                "armed": p.flags.contains(hb_core::relay::PortFlags::ARMED),
                "timeout_ms": p.timeout_ms,
                "resets": p.resets,
                "fences": p.fences,
            })).collect::<Vec<_>>(),
        }));
    }
    relays
}

/// ha.cf's timing and the other parameters `cl_status hbparameter` reports.
fn parameters(cf: &HaCf, debug: u8) -> Value {
    json!({
        "keepalive": format!("{}ms", cf.keepalive.as_millis()),
        "deadtime": format!("{}ms", cf.deadtime.as_millis()),
        "warntime": format!("{}ms", cf.warntime.as_millis()),
        "initdead": format!("{}ms", cf.initdead.as_millis()),
        "deadping": format!("{}ms", cf.deadping.as_millis()),
        "udpport": cf.udpport.to_string(),
        "baud": cf.baud.to_string(),
        "auto_failback": format!("{:?}", cf.auto_failback).to_lowercase(),
        "watchdog": cf.watchdog.as_deref().unwrap_or(""),
        "debug": cf.debug.max(debug).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_state_words() {
        use GroupState::*;
        assert_eq!(group_state(Holder::Local, Starting), "starting");
        assert_eq!(group_state(Holder::Local, Stopping), "stopping");
        assert_eq!(group_state(Holder::Local, Failed), "failed");
        assert_eq!(group_state(Holder::Local, Running), "running");
        assert_eq!(
            group_state(Holder::Peer(hb_core::engine::NodeId(1)), Stopped),
            "running"
        );
        assert_eq!(group_state(Holder::Nobody, Failed), "failed");
        assert_eq!(group_state(Holder::Nobody, Stopped), "stopped");
    }

    #[test]
    fn parameters_as_cl_status_shows_them() {
        let text = "keepalive 500ms\ndeadtime 5\nwarntime 2\ninitdead 10\nudpport 6940\nauto_failback off\nwatchdog /dev/watchdog\ndebug 1\nbcast lo\nnode alpha beta\n";
        let cf = HaCf::parse(text, &mut |_| {}).unwrap();
        let p = parameters(&cf, 3);
        assert_eq!(p["keepalive"], "500ms");
        assert_eq!(p["deadtime"], "5000ms");
        assert_eq!(p["warntime"], "2000ms");
        assert_eq!(p["initdead"], "10000ms");
        assert_eq!(p["udpport"], "6940");
        assert_eq!(p["auto_failback"], "off");
        assert_eq!(p["watchdog"], "/dev/watchdog");
        assert_eq!(p["debug"], "3");
        assert_eq!(parameters(&cf, 0)["debug"], "1");
    }

    #[test]
    fn the_worst_gap_is_the_longest_silence() {
        let mut h = Heard::default();
        let t = CoreInstant::from_millis;
        h.heard(t(1000));
        h.heard(t(1500));
        h.heard(t(4000));
        h.heard(t(4100));
        // An older time (another link's) changes nothing.
        h.heard(t(3000));
        assert_eq!(h.worst.as_millis(), 2500);
        assert_eq!(h.last, Some(t(3000)));
    }
}
