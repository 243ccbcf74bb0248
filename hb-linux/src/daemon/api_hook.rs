//! The loop's side of the client API ([`crate::api`]): the server is built at start and opened
//! at comm-up, as 3.0.6 opens its registration socket; this file shows it the core (the nodes,
//! their links, our resources) and carries its messages to the cluster and the cluster's
//! events to it.

use super::process::wall_secs;
use super::{Heartbeat, Options};
use crate::api::msg::Msg;
use crate::api::server::{Facts, KEEPIT};
use crate::api::{auth::ApiAuth, params::Parameters, ApiServer, Cluster, NodeView};
use crate::config::Loaded;
use hb_core::engine::{Event as CoreEvent, MediumId, NodeKind, NodeStatus};
use hb_core::time::Instant as CoreInstant;
use std::time::Instant;

/// The registration socket beside the control socket (`/var/run/heartbeat/register`).
pub(super) fn build(opts: &Options, cfg: &Loaded, warn: &mut Vec<String>) -> ApiServer {
    let path = opts.socket.parent().map_or_else(
        || crate::api::REGISTER_SOCKET.into(),
        |d| d.join("register"),
    );
    let auth = ApiAuth::from_hacf(&cfg.hacf, warn);
    let params = Parameters::new(&cfg.texts[0], &cfg.hacf, crate::api::HBVERSION);
    let facts = Facts {
        deadtime_ms: cfg.hacf.deadtime.as_millis(),
        keepalive_ms: cfg.hacf.keepalive.as_millis(),
        logfacility: cfg.hacf.logfacility.map_or(-1, |f| i64::from(f.code())),
        hbversion: crate::api::HBVERSION.to_string(),
        pacemaker: params.get("pacemaker").unwrap_or("false").to_string(),
    };
    let mut api = ApiServer::new(path, auth, params, facts);
    api.set_node_order(&cfg.texts[0]);
    if hb_core::ipfail::configured(&cfg.hacf) {
        api.add_builtin_client(hb_core::ipfail::CLIENT_ID);
    }
    api
}

/// What the server sees of the core during one call.
pub(super) struct Bridge<'a> {
    pub hb: &'a mut Heartbeat,
    pub link_names: &'a [String],
    pub core_media: usize,
    pub start: Instant,
}

impl Bridge<'_> {
    fn now(&self) -> CoreInstant {
        CoreInstant::from_millis(self.start.elapsed().as_millis() as u64)
    }
}

impl Cluster for Bridge<'_> {
    fn local(&self) -> String {
        let id = self.hb.local_node();
        self.hb
            .node(id)
            .map_or_else(String::new, |n| n.name().to_string())
    }

    fn nodes(&self) -> Vec<NodeView> {
        let local = self.hb.local_node();
        self.hb
            .nodes()
            .map(|(id, n)| {
                let ping = n.kind() == NodeKind::Ping;
                let status = if id == local {
                    self.hb.local_status().as_str().to_string()
                } else {
                    n.status_text().to_string()
                };
                let links = if ping {
                    let st = if n.status() == NodeStatus::Ping {
                        "up"
                    } else {
                        "dead"
                    };
                    vec![(n.name().to_string(), st.to_string())]
                } else {
                    (0..self.core_media)
                        .map(|i| {
                            // Our own links too: up once we heard ourselves on them (the
                            // engine's rule and 3.0.6's: our serial link stays dead).
                            let up = self.hb.link_up(id, MediumId(i as u8));
                            let name = self.link_names.get(i).cloned().unwrap_or_default();
                            (name, if up { "up" } else { "dead" }.to_string())
                        })
                        .collect()
                };
                let uuid = if id == local {
                    Some(self.hb.membership().local_uuid())
                } else {
                    n.uuid()
                };
                NodeView {
                    name: n.name().to_string(),
                    ping,
                    status,
                    links,
                    uuid,
                }
            })
            .collect()
    }

    fn resources(&self) -> String {
        self.hb.rscstatus().to_string()
    }

    fn standby(&mut self, set: &str) -> Result<(), String> {
        let set = hb_core::resources::StandbySet::from_wire(set)
            .ok_or_else(|| format!("no such resource set {set:?}"))?;
        let now = self.now();
        self.hb
            .handle_command(now, wall_secs(), hb_core::heartbeat::Command::Standby(set))
            .map_err(|e| format!("{e:?}"))
    }

    fn send(&mut self, msg: &Msg) -> Result<(), String> {
        let now = self.now();
        self.hb
            .send_client_message(now, wall_secs(), &msg.fields())
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }
}

/// The messages clients see for a membership event (node status, link status, a cluster
/// message), as 3.0.6's `heartbeat_monitor` hands them on; none for the rest. A ping node's
/// one link changes with it (3.0.6 reports it as a link too, and ipfail acts on that).
pub(super) fn client_messages(ev: &CoreEvent, hb: &Heartbeat, link_names: &[String]) -> Vec<Msg> {
    let name = |id: hb_core::engine::NodeId| hb.node(id).map(|n| n.name().to_string());
    let is_ping =
        |id: hb_core::engine::NodeId| hb.node(id).is_some_and(|n| n.kind() == NodeKind::Ping);
    let ping_link = |node: &str, st: &str| {
        Msg::of(&[
            ("t", "ifstat"),
            ("node", node),
            ("ifname", node),
            ("st", st),
        ])
    };
    let mut out = Vec::new();
    match ev {
        CoreEvent::NodeStatus { node, status } => {
            let (Some(n), Some(who)) = (hb.node(*node), name(*node)) else {
                return out;
            };
            let st = match status {
                NodeStatus::Other => n.status_text().to_string(),
                s => s.as_str().to_string(),
            };
            out.push(Msg::of(&[("t", "status"), ("st", &st), ("src", &who)]));
            if is_ping(*node) && *status == NodeStatus::Ping {
                out.push(ping_link(&who, "up"));
            }
        }
        CoreEvent::NodeDead { node, .. } => {
            if let Some(who) = name(*node) {
                out.push(Msg::of(&[("t", "status"), ("st", "dead"), ("src", &who)]));
                if is_ping(*node) {
                    out.push(ping_link(&who, "dead"));
                }
            }
        }
        CoreEvent::LinkUp { node, medium } | CoreEvent::LinkDead { node, medium } => {
            let st = if matches!(ev, CoreEvent::LinkUp { .. }) {
                "up"
            } else {
                "dead"
            };
            if let (Some(link), Some(who)) = (link_names.get(medium.index()), name(*node)) {
                out.push(Msg::of(&[
                    ("t", "ifstat"),
                    ("node", &who),
                    ("ifname", link),
                    ("st", st),
                ]));
            }
        }
        CoreEvent::Message(m) => {
            if let Some(who) = name(m.from) {
                let mut msg = Msg::from_fields(m.fields());
                msg.add("src", &who);
                out.push(msg);
            }
        }
        _ => {}
    }
    out
}

/// The treatment clients filter on (every message we pass is `KEEPIT`).
pub(super) const TREATMENT: u32 = KEEPIT;
