//! One in-memory cluster of joined nodes ([`Heartbeat`]) for the integration tests, in the
//! spirit of quinn-proto's `Pair` but for N nodes: one virtual clock (ms), packets passed
//! between the nodes with a fixed latency on every medium they were sent on (not back to the
//! sender), directed links that can be cut, ping nodes that answer each node as told, and a
//! fake daemon that runs the nodes' actions and fences after a delay (results on demand).
//! Everything a node said is kept: events, ipfail's log lines, the packets it sent.
//!
//! It only uses hb-core's public API and std, so another crate's tests can include it with
//! `#[path]` (as `mod cluster;`) and get the same types as their own `hb_core`.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashSet};

use hb_core::auth::{Keyring, Method};
use hb_core::config::{HaCf, HaResources};
use hb_core::engine::{MediumId, NodeId};
use hb_core::heartbeat::{Command, CommandError, Event, Heartbeat, HeartbeatConfig};
use hb_core::ipfail;
use hb_core::resources::{ActionDone, FenceResult};
use hb_core::time::Instant;

/// 2026-11-21T22:01:12Z, the captures' start: the wall clock at virtual time 0.
pub const WALL: u64 = 0x6b02_14a8;

/// An action (or fence) the fake daemon reports done at `at`.
struct Pending {
    at: u64,
    node: usize,
    epoch: u32,
    done: ActionDone,
}

/// A packet on its way.
struct Packet {
    at: u64,
    to: usize,
    medium: MediumId,
    bytes: Vec<u8>,
}

pub struct Member<const N: usize, const M: usize, const G: usize> {
    pub name: String,
    pub hb: Option<Box<Heartbeat<N, M, G>>>,
    /// Of the running (or last) incarnation; every start uses one more.
    pub generation: u64,
    /// Bumped at every start and stop: results for an older life are dropped.
    epoch: u32,
    /// What the fake daemon runs here (from the start of an acquisition to the end of a
    /// release).
    pub holds: BTreeSet<u8>,
    /// The ping nodes answer this node (at once).
    pub reaches_ping: bool,
    pub events: Vec<(u64, Event)>,
    /// ipfail's log lines, with their time.
    pub ipfail_log: Vec<(u64, String)>,
    /// Every packet it sent, as it went on the wire.
    pub sent: Vec<(u64, Vec<u8>)>,
    /// It exited (`Event::Exit`), asking to be restarted or not.
    pub exited: Option<bool>,
}

pub struct Cluster<const N: usize, const M: usize, const G: usize> {
    hacf: HaCf,
    hares: HaResources,
    keys: Keyring,
    /// The cluster nodes, then the ping nodes, by node id: for log lines.
    names: Vec<String>,
    pub now: u64,
    pub members: Vec<Member<N, M, G>>,
    inflight: Vec<Packet>,
    pending: Vec<Pending>,
    pub latency: u64,
    /// (from, to) links whose packets are lost.
    pub cut: HashSet<(usize, usize)>,
    pub action_ms: u64,
    pub fence_ms: u64,
    /// Fence results handed out in order, then `Ok`.
    pub fence_results: Vec<FenceResult>,
    /// Actions are reported done only when this is false.
    pub hold_actions: bool,
    /// The first time two nodes ran a group at once (checked at every step), and the group.
    pub overlap: Option<(u64, u8)>,
}

impl<const N: usize, const M: usize, const G: usize> Cluster<N, M, G> {
    /// The nodes `nodes` (none running yet) and the ping nodes `pings` of `ha.cf` text
    /// `hacf`, with `haresources` text `hares`, signing with sha1 and `key`.
    pub fn new(nodes: &[&str], pings: &[&str], hacf: &str, hares: &str, key: &[u8]) -> Self {
        let hacf = HaCf::parse(hacf, &mut |e| {
            assert!(e.to_string().contains("warning"), "ha.cf: {e}")
        })
        .unwrap();
        let hares = HaResources::parse(hares, &mut |e| panic!("haresources: {e}")).unwrap();
        let mut keys = Keyring::new();
        keys.insert(1, Method::Sha1, key).unwrap();
        keys.set_active(1).unwrap();
        let members = nodes
            .iter()
            .map(|name| Member {
                name: name.to_string(),
                hb: None,
                generation: 10,
                epoch: 0,
                holds: BTreeSet::new(),
                reaches_ping: true,
                events: Vec::new(),
                ipfail_log: Vec::new(),
                sent: Vec::new(),
                exited: None,
            })
            .collect();
        Cluster {
            hacf,
            hares,
            keys,
            names: nodes.iter().chain(pings).map(|s| s.to_string()).collect(),
            now: 0,
            members,
            inflight: Vec::new(),
            pending: Vec::new(),
            latency: 2,
            cut: HashSet::new(),
            action_ms: 50,
            fence_ms: 300,
            fence_results: Vec::new(),
            hold_actions: false,
            overlap: None,
        }
    }

    /// Starts node `i` with the next generation.
    pub fn start(&mut self, i: usize) {
        let m = &mut self.members[i];
        m.generation += 1;
        m.epoch += 1;
        m.holds.clear();
        m.exited = None;
        let mut uuid = [7; 16];
        uuid[0] = i as u8;
        let cfg = HeartbeatConfig::from_files(
            &self.hacf,
            &self.hares,
            &m.name,
            uuid,
            m.generation,
            self.keys.clone(),
            i as u64 + m.generation,
        )
        .unwrap();
        let now = Instant::from_millis(self.now);
        let hb = Heartbeat::new(&cfg, now, WALL + self.now / 1000).unwrap();
        self.members[i].hb = Some(Box::new(hb));
        self.flush(i);
    }

    /// Starts every node, then runs `ms`.
    pub fn start_all(&mut self, ms: u64) {
        for i in 0..self.members.len() {
            self.start(i);
        }
        self.run_for(ms);
    }

    /// Stops node `i` dead: everything it ran stops with it.
    pub fn crash(&mut self, i: usize) {
        let m = &mut self.members[i];
        m.hb = None;
        m.epoch += 1;
        m.holds.clear();
    }

    /// Cuts every link between two different nodes, or (`cut` false) heals them all.
    pub fn cut_all(&mut self, cut: bool) {
        self.cut.clear();
        if cut {
            let n = self.members.len();
            for a in 0..n {
                for b in (0..n).filter(|&b| b != a) {
                    self.cut.insert((a, b));
                }
            }
        }
    }

    pub fn hb(&self, i: usize) -> &Heartbeat<N, M, G> {
        self.members[i].hb.as_deref().expect("the node runs")
    }

    pub fn wall(&self) -> u64 {
        WALL + self.now / 1000
    }

    pub fn command(&mut self, i: usize, cmd: Command) -> Result<(), CommandError> {
        let (now, wall) = (Instant::from_millis(self.now), self.wall());
        let hb = self.members[i].hb.as_mut().expect("the node runs");
        let r = hb.handle_command(now, wall, cmd);
        self.flush(i);
        r
    }

    /// Sends node `i`'s packets, answers its pings and acts on its events.
    pub fn flush(&mut self, i: usize) {
        let now = Instant::from_millis(self.now);
        let mut buf = [0u8; 4096];
        let nodes = self.members.len();
        let m = &mut self.members[i];
        let Some(hb) = m.hb.as_mut() else {
            return;
        };
        while let Some(p) = hb.poll_ping() {
            if m.reaches_ping {
                hb.handle_ping_reply(now, p).unwrap();
            }
        }
        while let Some(tx) = hb.poll_transmit(now, &mut buf) {
            let bytes = buf[..tx.len].to_vec();
            for medium in tx.media.iter() {
                for to in (0..nodes).filter(|&to| to != i && !self.cut.contains(&(i, to))) {
                    self.inflight.push(Packet {
                        at: self.now + self.latency,
                        to,
                        medium,
                        bytes: bytes.clone(),
                    });
                }
            }
            m.sent.push((self.now, bytes));
        }
        let events: Vec<Event> = std::iter::from_fn(|| hb.poll_event()).collect();
        let mut exit = None;
        for e in events {
            let done = match e {
                Event::Acquire(group) => {
                    self.members[i].holds.insert(group.0);
                    Some((self.action_ms, ActionDone::Acquired { group, ok: true }))
                }
                Event::Release(group) => {
                    Some((self.action_ms, ActionDone::Released { group, ok: true }))
                }
                Event::Fence(node) => {
                    let result = if self.fence_results.is_empty() {
                        FenceResult::Ok
                    } else {
                        self.fence_results.remove(0)
                    };
                    Some((self.fence_ms, ActionDone::Fenced { node, result }))
                }
                Event::Exit { restart } => {
                    exit = Some(restart);
                    None
                }
                Event::Ipfail(l) => {
                    let line = l.line(&Names(&self.names)).to_string();
                    self.members[i].ipfail_log.push((self.now, line));
                    None
                }
                Event::IpfailMessageNotSent { .. }
                | Event::ResourceMessageNotSent { .. }
                | Event::BadResourceMessage { .. } => panic!("node {i}: {e:?}"),
                _ => None,
            };
            if let Some((delay, done)) = done {
                let epoch = self.members[i].epoch;
                self.pending.push(Pending {
                    at: self.now + delay,
                    node: i,
                    epoch,
                    done,
                });
            }
            self.members[i].events.push((self.now, e));
        }
        if let Some(restart) = exit {
            assert!(self.members[i].holds.is_empty(), "exits holding groups");
            self.members[i].exited = Some(restart);
            self.crash(i);
        }
    }

    /// Runs the cluster for `ms`: packets first, then the daemon's results, then timers.
    pub fn run_for(&mut self, ms: u64) {
        let until = self.now + ms;
        loop {
            let timer = (0..self.members.len())
                .filter_map(|i| {
                    let t = self.members[i].hb.as_ref()?.poll_timeout()?;
                    Some((t.as_millis(), i))
                })
                .min();
            let packet = self.inflight.iter().map(|p| p.at).min();
            let action = (!self.hold_actions)
                .then(|| self.pending.iter().map(|p| p.at).min())
                .flatten();
            let next = [timer.map(|t| t.0), packet, action]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next.filter(|&t| t <= until) else {
                self.now = until;
                return;
            };
            self.now = self.now.max(next);
            let (now, wall) = (Instant::from_millis(self.now), self.wall());
            if let Some(k) = self.inflight.iter().position(|p| p.at <= self.now) {
                let p = self.inflight.remove(k);
                if let Some(hb) = self.members[p.to].hb.as_mut() {
                    hb.handle_packet(now, wall, p.medium, &p.bytes).unwrap();
                    self.flush(p.to);
                }
            } else if let Some(k) = (!self.hold_actions)
                .then(|| self.pending.iter().position(|p| p.at <= self.now))
                .flatten()
            {
                let p = self.pending.remove(k);
                if let ActionDone::Fenced {
                    node,
                    result: FenceResult::Ok,
                } = p.done
                {
                    self.crash(node.index());
                }
                if self.members[p.node].epoch == p.epoch {
                    if let ActionDone::Released { group, .. } = p.done {
                        self.members[p.node].holds.remove(&group.0);
                    }
                    if let Some(hb) = self.members[p.node].hb.as_mut() {
                        hb.handle_action_done(now, p.done);
                        self.flush(p.node);
                    }
                }
            } else if let Some((_, i)) = timer {
                let hb = self.members[i].hb.as_mut().unwrap();
                hb.handle_timeout(now, wall);
                self.flush(i);
            }
            self.check_overlap();
        }
    }

    fn check_overlap(&mut self) {
        if self.overlap.is_some() {
            return;
        }
        for (a, ma) in self.members.iter().enumerate() {
            for mb in &self.members[a + 1..] {
                if let Some(g) = ma.holds.intersection(&mb.holds).next() {
                    self.overlap = Some((self.now, *g));
                    return;
                }
            }
        }
    }

    /// The groups the fake daemon runs on node `i`.
    pub fn holds(&self, i: usize) -> Vec<u8> {
        self.members[i].holds.iter().copied().collect()
    }

    /// When node `i` was first told something matching `what` at or after `from`.
    pub fn first(&self, i: usize, from: u64, what: impl Fn(&Event) -> bool) -> Option<u64> {
        self.members[i]
            .events
            .iter()
            .find(|(t, e)| *t >= from && what(e))
            .map(|(t, _)| *t)
    }

    /// ipfail's lines of node `i` from `from` on.
    pub fn ipfail_log_since(&self, i: usize, from: u64) -> Vec<&str> {
        self.members[i]
            .ipfail_log
            .iter()
            .filter(|(t, _)| *t >= from)
            .map(|(_, l)| l.as_str())
            .collect()
    }
}

/// Node and link names for ipfail's log lines.
struct Names<'a>(&'a [String]);

impl ipfail::Names for Names<'_> {
    fn node(&self, id: NodeId) -> &str {
        self.0.get(id.index()).map_or("?", String::as_str)
    }
    fn link(&self, _: MediumId) -> &str {
        "eth0"
    }
}
