//! What the daemon tells the operator's tools about itself (issue 16): the Prometheus
//! metrics ([`crate::metrics`], served when ha.cf says `env HB_METRICS=ADDR:PORT`), the gaps
//! between each peer's heartbeats per medium, and the takeover records.
//!
//! The loop calls in at the points it already passes (a packet taken, an event, an action's
//! outcome, a control request); everything here is counting and comparing, no I/O: the
//! metrics server runs on its own thread ([`crate::metrics::server`]).

use super::worker::Outcome;
use super::Heartbeat;
use crate::config::Loaded;
use crate::log::Logger;
use crate::metrics::takeovers::{Cause, Stamp};
use crate::metrics::{self, server::Server, Metrics, Shared};
use hb_core::engine::{Event as EngineEvent, NodeId, NodeKind, NodeStatus, RxError};
use hb_core::heartbeat::Event;
use hb_core::resources::{ActionDone, FenceResult, Holder, LogMsg};
use hb_core::time::Instant as CoreInstant;
use serde_json::Value;

/// Per peer: when each link last heard it, and the worst gap per link and overall.
#[derive(Clone, Debug, Default)]
struct Peer {
    links: Vec<Option<CoreInstant>>,
    link_worst_ms: Vec<u64>,
    last: Option<CoreInstant>,
    late: u64,
}

pub(super) struct Observer {
    shared: &'static Shared,
    _server: Option<Server>,
    peers: Vec<Peer>,
    link_names: Vec<String>,
    pets: u64,
}

impl Observer {
    /// Installs the shared state and, when ha.cf asks for it, starts the metrics server. A bad
    /// `HB_METRICS` value or an address that cannot be bound stops the start: the admin asked
    /// for metrics and would otherwise look for them in vain.
    pub(super) fn start(
        cfg: &Loaded,
        link_names: &[String],
        logger: &Logger,
    ) -> Result<Observer, String> {
        let want = cfg
            .hacf
            .env
            .iter()
            .find(|v| v.name.as_str() == metrics::ENV_NAME)
            .map(|v| v.value.to_string());
        let peers: Vec<String> = cfg
            .hacf
            .node_names()
            .filter(|n| !n.eq_ignore_ascii_case(&cfg.node))
            .map(str::to_string)
            .collect();
        let (m, server) = match want {
            None => (None, None),
            Some(value) => {
                let hacf = cfg.dir.join("ha.cf");
                let addr = metrics::parse_listen(&value)
                    .map_err(|e| format!("{}: {e}", hacf.display()))?;
                let p: Vec<&str> = peers.iter().map(String::as_str).collect();
                let l: Vec<&str> = link_names.iter().map(String::as_str).collect();
                let g: Vec<&str> = cfg.haresources.groups().iter().map(|g| g.key()).collect();
                let m = Metrics::new(&p, &l, &g);
                let server = Server::start(addr, m.clone()).map_err(|e| {
                    format!(
                        "{}: env {}={value}: cannot serve metrics there: {e}",
                        hacf.display(),
                        metrics::ENV_NAME
                    )
                })?;
                logger.info(&format!(
                    "Serving Prometheus metrics at http://{}/metrics",
                    server.local_addr()
                ));
                (Some(m), Some(server))
            }
        };
        Ok(Observer {
            shared: metrics::install(m),
            _server: server,
            peers: Vec::new(),
            link_names: link_names.to_vec(),
            pets: 0,
        })
    }

    fn metrics(&self) -> Option<&Metrics> {
        self.shared.metrics.as_ref()
    }

    fn peer(&mut self, id: NodeId) -> &mut Peer {
        peer_of(&mut self.peers, self.link_names.len(), id)
    }

    /// After a packet was handed to the core: which links heard whom, and the gaps.
    pub(super) fn packet(&mut self, hb: &Heartbeat, result: Result<(), RxError>) {
        if let (Err(e), Some(m)) = (result, self.metrics()) {
            match e {
                RxError::BadAuth => m.auth_failures.inc(),
                RxError::Replay | RxError::Stale => m.replays_refused.inc(),
                _ => {}
            }
        }
        let local = hb.local_node();
        let n_links = self.link_names.len();
        // Every packet comes here, status or not: nothing is allocated on the way.
        for (id, node) in hb.nodes() {
            if id == local || node.kind() != NodeKind::Normal {
                continue;
            }
            let name = node.name();
            let m = self.shared.metrics.as_ref();
            let names = &self.link_names;
            let p = peer_of(&mut self.peers, n_links, id);
            let mut newest = None;
            for (l, link) in names.iter().enumerate() {
                let Some(t) = node.link_last_heard(l) else {
                    continue;
                };
                if p.links[l].is_some_and(|prev| prev >= t) {
                    continue;
                }
                if let Some(prev) = p.links[l] {
                    let gap = t.saturating_since(prev).as_millis();
                    p.link_worst_ms[l] = p.link_worst_ms[l].max(gap);
                    if let Some(m) = m {
                        m.gap(name, Some(link), gap as f64 / 1000.0);
                    }
                }
                if let Some(m) = m {
                    m.heartbeats_received.with_label_values(&[name, link]).inc();
                }
                p.links[l] = Some(t);
                newest = newest.max(Some(t));
            }
            if let Some(t) = newest {
                if let (Some(prev), Some(m)) = (p.last, m) {
                    if t > prev {
                        m.gap(
                            name,
                            None,
                            t.saturating_since(prev).as_millis() as f64 / 1000.0,
                        );
                    }
                }
                p.last = Some(t);
            }
        }
    }

    /// An event of the core, before the loop carries it out.
    pub(super) fn event(&mut self, ev: &Event, hb: &Heartbeat, group_key: impl Fn(u8) -> String) {
        let name = |id: NodeId| hb.node(id).map(|n| n.name().to_string());
        // Peers only: the core also reports our own links, which say nothing of the cluster.
        let normal = |id: NodeId| {
            id != hb.local_node() && hb.node(id).is_some_and(|n| n.kind() == NodeKind::Normal)
        };
        match ev {
            Event::Membership(e) => match *e {
                EngineEvent::NodeStatus { node, status } if normal(node) => {
                    if let (Some(m), Some(n)) = (self.metrics(), name(node)) {
                        let up = matches!(status, NodeStatus::Up | NodeStatus::Active);
                        m.node_up.with_label_values(&[&n]).set(i64::from(up));
                    }
                }
                EngineEvent::NodeDead { node, .. } if normal(node) => {
                    if let (Some(m), Some(n)) = (self.metrics(), name(node)) {
                        m.node_up.with_label_values(&[&n]).set(0);
                    }
                    self.cause(Cause::Death);
                }
                EngineEvent::LinkUp { node, medium } | EngineEvent::LinkDead { node, medium }
                    if normal(node) =>
                {
                    let up = matches!(e, EngineEvent::LinkUp { .. });
                    let link = self.link_names.get(medium.index()).cloned();
                    if let (Some(m), Some(n), Some(l)) = (self.metrics(), name(node), link) {
                        m.link_up.with_label_values(&[&n, &l]).set(i64::from(up));
                    }
                }
                EngineEvent::LateHeartbeat { node, .. } => {
                    self.peer(node).late += 1;
                    if let (Some(m), Some(n)) = (self.metrics(), name(node)) {
                        m.heartbeats_late.with_label_values(&[&n]).inc();
                    }
                }
                EngineEvent::ReplayRejected { .. } => {
                    if let Some(m) = self.metrics() {
                        m.replays_refused.inc();
                    }
                }
                EngineEvent::ReturnedAfterPartition { .. } => self.cause(Cause::Heal),
                _ => {}
            },
            Event::Log(msg) => match msg {
                LogMsg::ResourcesBeingAcquired(_) => self.cause_if_none(Cause::Death),
                LogMsg::WantsToGoStandby { .. } | LogMsg::StandbyAcquireFrom { .. } => {
                    self.cause_if_none(Cause::Standby)
                }
                LogMsg::ReceivedShutdownNotice(_) => self.cause(Cause::Stop),
                _ => {}
            },
            Event::Ipfail(hb_core::ipfail::LogMsg::TellingWeHaveMore) => self.cause(Cause::Ipfail),
            Event::Acquire(g) => self.shared.takeovers().acquiring(&group_key(g.0)),
            _ => {}
        }
    }

    fn cause(&self, cause: Cause) {
        self.shared.takeovers().cause(cause, Stamp::now());
    }

    /// A later sign of a cause already seen (the resource side's words after the membership
    /// event) keeps the first one's time.
    fn cause_if_none(&self, cause: Cause) {
        let mut t = self.shared.takeovers();
        if !t.has_pending() {
            t.cause(cause, Stamp::now());
        }
    }

    /// `hbctl takeover` (or hb_takeover) here.
    pub(super) fn takeover_requested(&self) {
        self.cause(Cause::Takeover);
    }

    /// An action's outcome, as the worker reported it.
    pub(super) fn outcome(&mut self, o: &Outcome) {
        let Outcome::Done(done) = o else { return };
        match *done {
            ActionDone::Fenced { result, .. } => {
                if let Some(m) = self.metrics() {
                    let r = match result {
                        FenceResult::Ok => "ok",
                        FenceResult::BadHost => "badhost",
                        FenceResult::Failed => "failed",
                    };
                    m.stonith.with_label_values(&[r]).inc();
                }
                if result == FenceResult::Ok {
                    self.shared.takeovers().fenced(Stamp::now());
                }
            }
            ActionDone::Acquired { ok, .. } => {
                let done = self.shared.takeovers().acquired(ok, Stamp::now());
                if let (Some(r), Some(m)) = (done, self.metrics()) {
                    if !r.failed {
                        m.takeover(r.cause.as_str(), r.seconds());
                    }
                }
            }
            ActionDone::Released { .. } => {}
        }
    }

    /// Which groups run here now (after every outcome and request).
    pub(super) fn groups(&self, hb: &Heartbeat, group_key: impl Fn(u8) -> String) {
        let Some(m) = self.metrics() else { return };
        for (g, holder) in hb.holdings() {
            m.group_owned
                .with_label_values(&[&group_key(g.0)])
                .set(i64::from(holder == Holder::Local));
        }
    }

    /// The watchdog's pet count so far.
    pub(super) fn pets(&mut self, total: u64) {
        if let Some(m) = self.metrics() {
            m.watchdog_pets.inc_by(total.saturating_sub(self.pets));
        }
        self.pets = total;
    }

    /// Adds what is measured here to the status answer: `late_heartbeats` per node,
    /// `worst_gap_ms` per link, and `takeovers`.
    pub(super) fn annotate(&self, hb: &Heartbeat, status: &mut Value) {
        let index = |name: &str| {
            hb.nodes()
                .find(|(_, n)| n.name() == name)
                .map(|(id, _)| id.index())
        };
        if let Some(nodes) = status.get_mut("nodes").and_then(Value::as_array_mut) {
            for n in nodes {
                let i = n.get("name").and_then(Value::as_str).and_then(index);
                let late = i.and_then(|i| self.peers.get(i)).map_or(0, |p| p.late);
                n["late_heartbeats"] = late.into();
            }
        }
        if let Some(links) = status.get_mut("links").and_then(Value::as_array_mut) {
            for l in links {
                let i = l.get("node").and_then(Value::as_str).and_then(index);
                let medium = l.get("medium").and_then(Value::as_str).unwrap_or("");
                let m = self.link_names.iter().position(|n| n == medium);
                let worst = match (i.and_then(|i| self.peers.get(i)), m) {
                    (Some(p), Some(m)) => p.link_worst_ms.get(m).copied().unwrap_or(0),
                    _ => 0,
                };
                l["worst_gap_ms"] = worst.into();
            }
        }
        status["takeovers"] = self.shared.takeovers().to_json();
    }
}

fn peer_of(peers: &mut Vec<Peer>, n_links: usize, id: NodeId) -> &mut Peer {
    let i = id.index();
    if peers.len() <= i {
        peers.resize_with(i + 1, Peer::default);
    }
    let p = &mut peers[i];
    if p.links.len() < n_links {
        p.links.resize(n_links, None);
        p.link_worst_ms.resize(n_links, 0);
    }
    p
}
