//! Prometheus metrics of the daemon (issue 16): off by default; ha.cf `env HB_METRICS=ADDR:PORT`
//! serves them at `http://ADDR:PORT/metrics` ([`server`]).
//!
//! The daemon's loop only touches atomics here (the `prometheus` crate's counters, gauges and
//! histograms are lock-free once a label set's child exists, and [`Metrics`] makes every
//! child it can foresee at start-up); the server's own thread gathers and encodes. So a scrape
//! never waits on the loop and the loop never waits on a scrape.
//!
//! Names and labels:
//!
//! | name | labels | what |
//! |---|---|---|
//! | `hb_node_up` | node | 1 up or active, 0 dead |
//! | `hb_link_up` | node, medium | 1 up, 0 dead |
//! | `hb_heartbeats_received_total` | node, medium | heartbeats accepted |
//! | `hb_heartbeats_late_total` | node | `Late heartbeat` warnings |
//! | `hb_heartbeat_gap_seconds` | node | histogram of the time between a node's heartbeats |
//! | `hb_heartbeat_gap_max_seconds` | node, medium | the longest gap seen (`all`: any medium; for `hbctl tune`) |
//! | `hb_auth_failures_total` | | packets refused for their signature |
//! | `hb_replays_refused_total` | | packets refused as replays |
//! | `hb_group_owned` | group | 1 on the node running the group |
//! | `hb_takeovers_total` | cause | death, standby, takeover, ipfail, heal, stop |
//! | `hb_takeover_seconds` | | histogram: detection to the group running |
//! | `hb_resource_actions_total` | action, result | resource script calls |
//! | `hb_stonith_total` | result | fence attempts (ok, badhost, failed) |
//! | `hb_watchdog_pets_total` | | watchdog pets |
//! | `hb_build_info` | version | always 1 |

pub mod server;
pub mod takeovers;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::net::SocketAddr;

/// The ha.cf `env` name that turns the server on (children see it as `HA_HB_METRICS`).
pub const ENV_NAME: &str = "HB_METRICS";

/// Gap buckets, seconds: from the smallest keepalive people run (10 ms) to minutes.
const GAP_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0,
    60.0,
];
/// Takeover buckets, seconds.
const TAKEOVER_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Why a group moved (the `cause` label and takeover records' cause).
pub const CAUSES: &[&str] = &["death", "standby", "takeover", "ipfail", "heal", "stop"];

/// The daemon's metrics. Cheap to clone (every metric is an `Arc` inside).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub node_up: IntGaugeVec,
    pub link_up: IntGaugeVec,
    pub heartbeats_received: IntCounterVec,
    pub heartbeats_late: IntCounterVec,
    pub heartbeat_gap: HistogramVec,
    gap_max: GaugeVec,
    pub auth_failures: IntCounter,
    pub replays_refused: IntCounter,
    pub group_owned: IntGaugeVec,
    pub takeovers: IntCounterVec,
    pub takeover_seconds: Histogram,
    pub resource_actions: IntCounterVec,
    pub stonith: IntCounterVec,
    pub watchdog_pets: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

impl Metrics {
    /// Every metric, registered; label sets made for the nodes and media given, so that the
    /// exposition shows them (at 0) from the start and the loop never inserts one.
    pub fn new(peers: &[&str], media: &[&str], groups: &[&str]) -> Metrics {
        let registry = Registry::new();
        let m = Metrics {
            node_up: IntGaugeVec::new(
                opts(
                    "hb_node_up",
                    "1 when the node is up or active, 0 when dead.",
                ),
                &["node"],
            )
            .expect("valid"),
            link_up: IntGaugeVec::new(
                opts(
                    "hb_link_up",
                    "1 when the node's link on the medium is up, 0 when dead.",
                ),
                &["node", "medium"],
            )
            .expect("valid"),
            heartbeats_received: IntCounterVec::new(
                opts(
                    "hb_heartbeats_received_total",
                    "Heartbeats accepted from the node on the medium.",
                ),
                &["node", "medium"],
            )
            .expect("valid"),
            heartbeats_late: IntCounterVec::new(
                opts(
                    "hb_heartbeats_late_total",
                    "Late heartbeat warnings about the node (a gap above warntime).",
                ),
                &["node"],
            )
            .expect("valid"),
            heartbeat_gap: HistogramVec::new(
                HistogramOpts::new(
                    "hb_heartbeat_gap_seconds",
                    "Time between two heartbeats of the node (any medium).",
                )
                .buckets(GAP_BUCKETS.to_vec()),
                &["node"],
            )
            .expect("valid"),
            gap_max: GaugeVec::new(
                opts(
                    "hb_heartbeat_gap_max_seconds",
                    "The longest time between two heartbeats of the node on the medium (all \
                     for any medium), since start.",
                ),
                &["node", "medium"],
            )
            .expect("valid"),
            auth_failures: IntCounter::with_opts(opts(
                "hb_auth_failures_total",
                "Packets refused for a bad or missing signature.",
            ))
            .expect("valid"),
            replays_refused: IntCounter::with_opts(opts(
                "hb_replays_refused_total",
                "Packets refused as replays (sequence number seen or too old).",
            ))
            .expect("valid"),
            group_owned: IntGaugeVec::new(
                opts(
                    "hb_group_owned",
                    "1 when this node runs the resource group, 0 otherwise.",
                ),
                &["group"],
            )
            .expect("valid"),
            takeovers: IntCounterVec::new(
                opts(
                    "hb_takeovers_total",
                    "Resource groups this node took over, by cause.",
                ),
                &["cause"],
            )
            .expect("valid"),
            takeover_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "hb_takeover_seconds",
                    "Time from detecting the cause to the group running here.",
                )
                .buckets(TAKEOVER_BUCKETS.to_vec()),
            )
            .expect("valid"),
            resource_actions: IntCounterVec::new(
                opts(
                    "hb_resource_actions_total",
                    "Resource script calls by action (start, stop, status) and result.",
                ),
                &["action", "result"],
            )
            .expect("valid"),
            stonith: IntCounterVec::new(
                opts(
                    "hb_stonith_total",
                    "STONITH resets by result (ok, badhost, failed).",
                ),
                &["result"],
            )
            .expect("valid"),
            watchdog_pets: IntCounter::with_opts(opts(
                "hb_watchdog_pets_total",
                "Times the watchdog device was petted.",
            ))
            .expect("valid"),
            registry,
        };
        let build = IntGaugeVec::new(
            opts("hb_build_info", "The hb version running (always 1)."),
            &["version"],
        )
        .expect("valid");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.node_up.clone()),
            Box::new(m.link_up.clone()),
            Box::new(m.heartbeats_received.clone()),
            Box::new(m.heartbeats_late.clone()),
            Box::new(m.heartbeat_gap.clone()),
            Box::new(m.gap_max.clone()),
            Box::new(m.auth_failures.clone()),
            Box::new(m.replays_refused.clone()),
            Box::new(m.group_owned.clone()),
            Box::new(m.takeovers.clone()),
            Box::new(m.takeover_seconds.clone()),
            Box::new(m.resource_actions.clone()),
            Box::new(m.stonith.clone()),
            Box::new(m.watchdog_pets.clone()),
            Box::new(build),
        ];
        for c in collectors {
            m.registry.register(c).expect("names are distinct");
        }
        for p in peers {
            m.node_up.with_label_values(&[p]);
            m.heartbeats_late.with_label_values(&[p]);
            m.heartbeat_gap.with_label_values(&[p]);
            m.gap_max.with_label_values(&[p, "all"]);
            for medium in media {
                m.link_up.with_label_values(&[p, medium]);
                m.heartbeats_received.with_label_values(&[p, medium]);
                m.gap_max.with_label_values(&[p, medium]);
            }
        }
        for g in groups {
            m.group_owned.with_label_values(&[g]);
        }
        for c in CAUSES {
            m.takeovers.with_label_values(&[c]);
        }
        for r in ["ok", "badhost", "failed"] {
            m.stonith.with_label_values(&[r]);
        }
        m
    }

    /// A gap between two heartbeats of `node`: on `medium` (its own gap there) or, with
    /// `None`, on any medium (the node's gap, also into the histogram).
    pub fn gap(&self, node: &str, medium: Option<&str>, seconds: f64) {
        if medium.is_none() {
            self.heartbeat_gap
                .with_label_values(&[node])
                .observe(seconds);
        }
        let g = self
            .gap_max
            .with_label_values(&[node, medium.unwrap_or("all")]);
        // One writer (the daemon's loop): get-then-set cannot lose a larger value.
        if seconds > g.get() {
            g.set(seconds);
        }
    }

    /// A group moved here: its cause, and the time from detection to running when known.
    pub fn takeover(&self, cause: &str, seconds: Option<f64>) {
        self.takeovers.with_label_values(&[cause]).inc();
        if let Some(s) = seconds {
            self.takeover_seconds.observe(s);
        }
    }

    /// The exposition in Prometheus's text format (0.0.4).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Only fails on a writer error, which a Vec has not.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// What the daemon's threads share: the metrics (when on) and the takeover records. One per
/// process, installed by the daemon at start-up ([`install`]); the resource runner reports to
/// it from the action worker ([`resource_op`]) without the daemon having to hand it down.
#[derive(Debug)]
pub struct Shared {
    pub metrics: Option<Metrics>,
    pub takeovers: std::sync::Mutex<takeovers::Takeovers>,
}

static SHARED: std::sync::OnceLock<Shared> = std::sync::OnceLock::new();

/// Installs the process's [`Shared`] (the first call wins; a re-exec starts a new process).
pub fn install(metrics: Option<Metrics>) -> &'static Shared {
    SHARED.get_or_init(|| Shared {
        metrics,
        takeovers: std::sync::Mutex::new(takeovers::Takeovers::default()),
    })
}

pub fn shared() -> Option<&'static Shared> {
    SHARED.get()
}

impl Shared {
    /// The records, even if a thread panicked while holding them (they stay usable).
    pub fn takeovers(&self) -> std::sync::MutexGuard<'_, takeovers::Takeovers> {
        self.takeovers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A resource script call ended (`action`: start, stop, status): counted, and an address
/// resource's start stamps the open takeover record. Nothing without a daemon.
pub fn resource_op(action: &str, ok: bool, is_address: bool) {
    let Some(s) = shared() else {
        return;
    };
    if let Some(m) = &s.metrics {
        m.resource_actions
            .with_label_values(&[action, if ok { "ok" } else { "failed" }])
            .inc();
    }
    if is_address && ok && action == "start" {
        s.takeovers().address_up(takeovers::Stamp::now());
    }
}

/// The content type of [`Metrics::encode`].
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// `ADDR:PORT` (`[V6]:PORT` for IPv6) of `env HB_METRICS=…`.
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    value.parse().map_err(|_| {
        format!(
            "env {ENV_NAME}={value}: not ADDR:PORT (e.g. 203.0.113.1:9110 or [2001:db8::1]:9110)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &Metrics) -> String {
        String::from_utf8(m.encode()).unwrap()
    }

    #[test]
    fn every_name_of_the_issue_is_exposed_with_its_labels() {
        let m = Metrics::new(&["node2"], &["eth1"], &["198.51.100.80"]);
        m.node_up.with_label_values(&["node2"]).set(1);
        m.heartbeats_received
            .with_label_values(&["node2", "eth1"])
            .inc_by(3);
        m.gap("node2", None, 0.12);
        m.gap("node2", Some("eth1"), 0.25);
        m.takeover("death", Some(0.8));
        m.resource_actions.with_label_values(&["start", "ok"]).inc();
        m.stonith.with_label_values(&["ok"]).inc();
        m.watchdog_pets.inc();
        m.auth_failures.inc();
        let t = text(&m);
        for line in [
            "hb_node_up{node=\"node2\"} 1",
            "hb_link_up{medium=\"eth1\",node=\"node2\"} 0",
            "hb_heartbeats_received_total{medium=\"eth1\",node=\"node2\"} 3",
            "hb_heartbeats_late_total{node=\"node2\"} 0",
            "hb_heartbeat_gap_seconds_bucket{node=\"node2\",le=\"0.1\"} 0",
            "hb_heartbeat_gap_seconds_bucket{node=\"node2\",le=\"0.15\"} 1",
            "hb_heartbeat_gap_seconds_count{node=\"node2\"} 1",
            "hb_heartbeat_gap_max_seconds{medium=\"all\",node=\"node2\"} 0.12",
            "hb_heartbeat_gap_max_seconds{medium=\"eth1\",node=\"node2\"} 0.25",
            "hb_auth_failures_total 1",
            "hb_replays_refused_total 0",
            "hb_group_owned{group=\"198.51.100.80\"} 0",
            "hb_takeovers_total{cause=\"death\"} 1",
            "hb_takeovers_total{cause=\"heal\"} 0",
            "hb_takeover_seconds_bucket{le=\"1\"} 1",
            "hb_takeover_seconds_count 1",
            "hb_resource_actions_total{action=\"start\",result=\"ok\"} 1",
            "hb_stonith_total{result=\"ok\"} 1",
            "hb_stonith_total{result=\"failed\"} 0",
            "hb_watchdog_pets_total 1",
            &format!(
                "hb_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
        ] {
            assert!(t.lines().any(|l| l == line), "no line {line:?} in:\n{t}");
        }
        // A shorter gap leaves the maximum alone.
        m.gap("node2", None, 0.05);
        assert!(
            text(&m).contains("hb_heartbeat_gap_max_seconds{medium=\"all\",node=\"node2\"} 0.12")
        );
    }

    #[test]
    fn promtool_finds_the_exposition_clean() {
        let m = Metrics::new(&["node2", "node3"], &["eth1", "ttyS0"], &["g1"]);
        m.gap("node2", None, 0.2);
        m.takeover("standby", Some(1.5));
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool (Debian package prometheus) installed");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&m.encode()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen("203.0.113.1:9110").unwrap(),
            "203.0.113.1:9110".parse::<SocketAddr>().unwrap()
        );
        assert!(parse_listen("[2001:db8::1]:9110").is_ok());
        assert!(parse_listen("9110")
            .unwrap_err()
            .starts_with("env HB_METRICS=9110: not ADDR:PORT"));
    }
}
