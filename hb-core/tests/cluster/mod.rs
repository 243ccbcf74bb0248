//! One in-memory cluster for the integration tests, in the spirit of quinn-proto's `Pair` but
//! for N nodes: one virtual clock, packets passed between the nodes with a fixed latency on
//! every medium they were sent on (and back to the sender on the media that loop back, as
//! Linux does broadcasts), directed links that can be cut per medium, packets lost on demand,
//! nodes that crash, stall and restart. Everything a node said is kept: its events, the
//! packets it sent, the packets it refused, every packet delivered and lost.
//!
//! The nodes are membership engines ([`Membership`]) or joined nodes ([`Heartbeat`]); for joined
//! nodes the cluster is also their fake daemon: it runs their actions and fences after a delay
//! (fence results on demand), answers their pings as each node's reachability says, and keeps
//! ipfail's log lines.
//!
//! It only uses hb-core's public API and std, so another crate's tests can include it with
//! `#[path]` (as `mod cluster;`) and get the same types as their own `hb_core`.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashSet};

use hb_core::auth::{Keyring, Method};
use hb_core::config::{HaCf, HaResources};
use hb_core::engine::{MediumId, Membership, NodeId, RxError, Transmit};
use hb_core::heartbeat::{Command, CommandError, Event, Heartbeat, HeartbeatConfig};
use hb_core::ipfail;
use hb_core::resources::{ActionDone, FenceResult, GroupId};
use hb_core::time::{Duration, Instant};

/// 2026-11-21T22:01:12Z, the captures' start: the wall clock at virtual time 0.
pub const WALL: u64 = 0x6b02_14a8;

/// What the fake daemon is asked to do.
pub enum Work {
    None,
    Acquire(GroupId),
    Release(GroupId),
    Fence(NodeId),
    Exit { restart: bool },
}

/// A node of the cluster: hb-core's sans-IO surface.
pub trait Node {
    type Event: Clone + std::fmt::Debug;
    fn handle_packet(
        &mut self,
        now: Instant,
        wall: u64,
        medium: MediumId,
        bytes: &[u8],
    ) -> Result<(), RxError>;
    fn handle_timeout(&mut self, now: Instant, wall: u64);
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit>;
    fn poll_event(&mut self) -> Option<Self::Event>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_ping(&mut self) -> Option<NodeId>;
    fn handle_ping_reply(&mut self, now: Instant, node: NodeId);
    /// The daemon's part of an event.
    fn work(_e: &Self::Event) -> Work {
        Work::None
    }
    fn handle_action_done(&mut self, _now: Instant, _done: ActionDone) {}
    /// A group whose addresses to announce again (after a healed split).
    fn poll_announce(&mut self) -> Option<GroupId> {
        None
    }
    /// An ipfail log line, with `names`.
    fn ipfail_line(_e: &Self::Event, _names: &dyn ipfail::Names) -> Option<String> {
        None
    }
}

impl<const N: usize, const M: usize> Node for Membership<N, M> {
    type Event = hb_core::engine::Event;
    fn handle_packet(
        &mut self,
        now: Instant,
        wall: u64,
        medium: MediumId,
        bytes: &[u8],
    ) -> Result<(), RxError> {
        Membership::handle_packet(self, now, wall, medium, bytes)
    }
    fn handle_timeout(&mut self, now: Instant, wall: u64) {
        Membership::handle_timeout(self, now, wall)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        Membership::poll_transmit(self, now, buf)
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        Membership::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Membership::poll_timeout(self)
    }
    fn poll_ping(&mut self) -> Option<NodeId> {
        Membership::poll_ping(self)
    }
    fn handle_ping_reply(&mut self, now: Instant, node: NodeId) {
        Membership::handle_ping_reply(self, now, node).unwrap()
    }
}

impl<const N: usize, const M: usize, const G: usize> Node for Heartbeat<N, M, G> {
    type Event = Event;
    fn handle_packet(
        &mut self,
        now: Instant,
        wall: u64,
        medium: MediumId,
        bytes: &[u8],
    ) -> Result<(), RxError> {
        Heartbeat::handle_packet(self, now, wall, medium, bytes)
    }
    fn handle_timeout(&mut self, now: Instant, wall: u64) {
        Heartbeat::handle_timeout(self, now, wall)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        Heartbeat::poll_transmit(self, now, buf)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Heartbeat::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Heartbeat::poll_timeout(self)
    }
    fn poll_ping(&mut self) -> Option<NodeId> {
        Heartbeat::poll_ping(self)
    }
    fn handle_ping_reply(&mut self, now: Instant, node: NodeId) {
        Heartbeat::handle_ping_reply(self, now, node).unwrap()
    }
    fn work(e: &Event) -> Work {
        match *e {
            Event::Acquire(g) => Work::Acquire(g),
            Event::Release(g) => Work::Release(g),
            Event::Fence(n) => Work::Fence(n),
            Event::Exit { restart } => Work::Exit { restart },
            Event::IpfailMessageNotSent { .. }
            | Event::ResourceMessageNotSent { .. }
            | Event::BadResourceMessage { .. } => panic!("{e:?}"),
            _ => Work::None,
        }
    }
    fn handle_action_done(&mut self, now: Instant, done: ActionDone) {
        Heartbeat::handle_action_done(self, now, done)
    }
    fn poll_announce(&mut self) -> Option<GroupId> {
        Heartbeat::poll_announce(self)
    }
    fn ipfail_line(e: &Event, names: &dyn ipfail::Names) -> Option<String> {
        match e {
            Event::Ipfail(l) => Some(l.line(names).to_string()),
            _ => None,
        }
    }
}

/// How a node is started: its index, name, generation and random seed, and the clocks.
pub struct Start<'a> {
    pub index: usize,
    pub name: &'a str,
    pub generation: u64,
    pub seed: u64,
    pub now: Instant,
    pub wall: u64,
    /// Re-executed keeping these groups (a mask; `HeartbeatConfig::resume`).
    pub resume: Option<u32>,
}

pub type MakeNode<T> = Box<dyn FnMut(&Start<'_>) -> T>;

/// A packet on its way (or lost on the way).
#[derive(Clone, Debug)]
pub struct Wire {
    pub at: Instant,
    pub from: usize,
    pub to: usize,
    pub medium: MediumId,
    pub bytes: Vec<u8>,
}

pub type LossFn = Box<dyn FnMut(&Wire) -> bool>;

#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    pub transmit: Transmit,
    pub bytes: Vec<u8>,
}

/// An action (or fence) the fake daemon reports done at `at`.
struct Pending {
    at: Instant,
    node: usize,
    epoch: u32,
    done: ActionDone,
}

pub struct Member<T: Node> {
    pub name: String,
    /// Started (and kept after a crash, for its state to be looked at).
    pub node: Option<Box<T>>,
    pub generation: u64,
    pub alive: bool,
    /// Bumped at every start and stop: the daemon's results for an older life are dropped.
    epoch: u32,
    /// No timeouts are run before this (a stalled process); packets still arrive.
    pub stalled_until: Option<Instant>,
    /// The stall holds the packets too (a whole process stopped): what arrives meanwhile
    /// waits in flight until `stalled_until`.
    pub stall_reads: bool,
    pub events: Vec<(Instant, T::Event)>,
    pub rx_errors: Vec<(Instant, RxError)>,
    pub sent: Vec<Sent>,
    /// What the fake daemon runs here (from the start of an acquisition to the end of a
    /// release).
    pub holds: BTreeSet<u8>,
    /// The ping nodes answer this node (at once).
    pub reaches_ping: bool,
    /// ipfail's log lines, with their time.
    pub ipfail_log: Vec<(Instant, String)>,
    /// It exited, asking to be restarted or not.
    pub exited: Option<bool>,
    /// Groups it asked to announce again, with the time.
    pub announced: Vec<(Instant, u8)>,
}

pub struct Cluster<T: Node> {
    make: MakeNode<T>,
    pub now: Instant,
    /// The nodes, then the ping nodes, by node id: for log lines.
    pub names: Vec<String>,
    pub members: Vec<Member<T>>,
    pub latency: Duration,
    /// Media whose packets come back to their sender too.
    pub loopback: Vec<MediumId>,
    /// (from, to, medium) whose packets are lost.
    pub cut: HashSet<(usize, usize, u8)>,
    /// Loses the packets it returns `true` for.
    pub loss: Option<LossFn>,
    /// Every packet delivered.
    pub delivered: Vec<Wire>,
    /// Every packet lost.
    pub lost: Vec<Wire>,
    inflight: Vec<Wire>,
    /// Seeds handed to the nodes: one more at every start.
    pub seed: u64,
    pending: Vec<Pending>,
    pub action_ms: u64,
    pub fence_ms: u64,
    /// Fence results handed out in order, then `Ok`.
    pub fence_results: Vec<FenceResult>,
    /// Actions are reported done only when this is false.
    pub hold_actions: bool,
    /// The first time two nodes ran a group at once (checked at every step), and the group.
    pub overlap: Option<(Instant, u8)>,
}

impl<T: Node> Cluster<T> {
    /// The nodes `nodes` (none started) and the ping nodes `pings`, made by `make`.
    pub fn with_nodes(nodes: &[&str], pings: &[&str], make: MakeNode<T>) -> Self {
        let members = nodes
            .iter()
            .map(|name| Member {
                name: name.to_string(),
                node: None,
                generation: 0,
                alive: false,
                epoch: 0,
                stalled_until: None,
                stall_reads: false,
                events: Vec::new(),
                rx_errors: Vec::new(),
                sent: Vec::new(),
                holds: BTreeSet::new(),
                reaches_ping: true,
                ipfail_log: Vec::new(),
                exited: None,
                announced: Vec::new(),
            })
            .collect();
        Cluster {
            make,
            now: Instant::ZERO,
            names: nodes.iter().chain(pings).map(|s| s.to_string()).collect(),
            members,
            latency: Duration::from_millis(2),
            loopback: Vec::new(),
            cut: HashSet::new(),
            loss: None,
            delivered: Vec::new(),
            lost: Vec::new(),
            inflight: Vec::new(),
            seed: 0,
            pending: Vec::new(),
            action_ms: 50,
            fence_ms: 300,
            fence_results: Vec::new(),
            hold_actions: false,
            overlap: None,
        }
    }

    pub fn wall(&self) -> u64 {
        WALL + self.now.as_millis() / 1000
    }

    /// Starts (or restarts) node `i` with `generation`, without flushing it.
    pub fn boot(&mut self, i: usize, generation: u64) {
        self.boot_with(i, generation, None);
    }

    /// [`Cluster::boot`]; with `resume`, as a daemon re-executed keeping what it runs.
    pub fn boot_with(&mut self, i: usize, generation: u64, resume: Option<u32>) {
        self.seed += 1;
        let start = Start {
            index: i,
            name: &self.members[i].name,
            generation,
            seed: self.seed,
            now: self.now,
            wall: WALL + self.now.as_millis() / 1000,
            resume,
        };
        let node = (self.make)(&start);
        let m = &mut self.members[i];
        m.node = Some(Box::new(node));
        m.generation = generation;
        m.alive = true;
        m.epoch += 1;
        m.stalled_until = None;
        if resume.is_none() {
            m.holds.clear();
        }
        m.exited = None;
    }

    /// Starts node `i` with `generation` and sends what it has to say.
    pub fn restart(&mut self, i: usize, generation: u64) {
        self.boot(i, generation);
        self.flush(i);
    }

    /// Starts node `i` with the next generation.
    pub fn start(&mut self, i: usize) {
        let g = self.members[i].generation.max(10) + 1;
        self.restart(i, g);
    }

    /// Starts every node with the next generation, then runs `ms`.
    pub fn start_all(&mut self, ms: u64) {
        for i in 0..self.members.len() {
            self.start(i);
        }
        self.run_ms(ms);
    }

    /// Stops node `i` dead: no timers, no packets in or out (those on the wire are lost with
    /// it), everything it ran stops.
    pub fn crash(&mut self, i: usize) {
        self.stop(i);
        self.inflight.retain(|w| w.from != i);
    }

    /// Node `i` has exited: what it sent before is still on its way.
    fn stop(&mut self, i: usize) {
        let m = &mut self.members[i];
        m.alive = false;
        m.epoch += 1;
        m.holds.clear();
    }

    pub fn node(&self, i: usize) -> &T {
        self.members[i]
            .node
            .as_deref()
            .expect("the node was started")
    }

    pub fn node_mut(&mut self, i: usize) -> &mut T {
        self.members[i]
            .node
            .as_deref_mut()
            .expect("the node was started")
    }

    /// Cuts every link of `medium` between two different nodes.
    pub fn cut_medium(&mut self, medium: MediumId) {
        let n = self.members.len();
        for a in 0..n {
            for b in (0..n).filter(|&b| b != a) {
                self.cut.insert((a, b, medium.0));
            }
        }
    }

    /// Cuts every link between two different nodes on the media of the first `media`.
    pub fn partition_media(&mut self, media: u8) {
        for m in 0..media {
            self.cut_medium(MediumId(m));
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn run_ms(&mut self, ms: u64) {
        self.run_for(Duration::from_millis(ms));
    }

    /// Runs the cluster until `self.now + d`.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Runs the cluster until `until`: at each step the packets due first (in time, then
    /// sending order), then the daemon's results due, then the nodes' timers due.
    pub fn run_until(&mut self, until: Instant) {
        let mut guard = 0u32;
        loop {
            guard += 1;
            assert!(guard < 2_000_000, "the cluster does not make progress");
            let next_timer = self
                .members
                .iter()
                .filter(|m| m.alive)
                .filter_map(|m| {
                    let t = m.node.as_ref()?.poll_timeout()?;
                    Some(m.stalled_until.map_or(t, |s| t.max(s)))
                })
                .min();
            let next_rx = self.inflight.iter().map(|w| w.at).min();
            let next_action = (!self.hold_actions)
                .then(|| self.pending.iter().map(|p| p.at).min())
                .flatten();
            let next = [next_timer, next_rx, next_action]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(n) if n <= until => self.now = self.now.max(n),
                _ => {
                    self.now = until;
                    return;
                }
            }
            let now = self.now;
            let mut due: Vec<Wire> = Vec::new();
            let mut i = 0;
            while i < self.inflight.len() {
                let to = &self.members[self.inflight[i].to];
                let frozen = to.stall_reads && to.stalled_until.is_some_and(|s| s > now);
                if frozen {
                    // It reads its socket when it runs again.
                    self.inflight[i].at = self.inflight[i].at.max(to.stalled_until.unwrap());
                    i += 1;
                } else if self.inflight[i].at <= now {
                    due.push(self.inflight.remove(i));
                } else {
                    i += 1;
                }
            }
            due.sort_by_key(|w| w.at);
            for w in due {
                self.deliver(w);
            }
            while let Some(k) = (!self.hold_actions)
                .then(|| self.pending.iter().position(|p| p.at <= now))
                .flatten()
            {
                let p = self.pending.remove(k);
                self.action_done(p);
            }
            for i in 0..self.members.len() {
                let m = &self.members[i];
                if !m.alive || m.stalled_until.is_some_and(|s| s > now) {
                    continue;
                }
                if m.node
                    .as_ref()
                    .and_then(|n| n.poll_timeout())
                    .is_some_and(|t| t <= now)
                {
                    let wall = self.wall();
                    self.node_mut(i).handle_timeout(now, wall);
                    self.flush(i);
                }
            }
            self.check_overlap();
        }
    }

    fn action_done(&mut self, p: Pending) {
        if let ActionDone::Fenced {
            node,
            result: FenceResult::Ok,
        } = p.done
        {
            self.crash(node.index());
        }
        if self.members[p.node].epoch != p.epoch || !self.members[p.node].alive {
            return;
        }
        if let ActionDone::Released { group, .. } = p.done {
            self.members[p.node].holds.remove(&group.0);
        }
        let now = self.now;
        self.node_mut(p.node).handle_action_done(now, p.done);
        self.flush(p.node);
    }

    fn deliver(&mut self, w: Wire) {
        let to = w.to;
        if !self.members[to].alive {
            self.lost.push(w);
            return;
        }
        let (now, wall) = (self.now, self.wall());
        if let Err(e) = self
            .node_mut(to)
            .handle_packet(now, wall, w.medium, &w.bytes)
        {
            self.members[to].rx_errors.push((now, e));
        }
        self.delivered.push(w);
        self.flush(to);
    }

    /// Feeds bytes to node `to` as if read from `medium`.
    pub fn inject(&mut self, to: usize, medium: MediumId, bytes: &[u8]) -> Result<(), RxError> {
        let (now, wall) = (self.now, self.wall());
        let r = self.node_mut(to).handle_packet(now, wall, medium, bytes);
        self.flush(to);
        r
    }

    /// Answers node `i`'s pings, puts its packets on the wire and acts on its events.
    pub fn flush(&mut self, i: usize) {
        let now = self.now;
        if self.members[i].node.is_none() {
            return;
        }
        let reaches = self.members[i].reaches_ping;
        while let Some(p) = self.node_mut(i).poll_ping() {
            if reaches {
                self.node_mut(i).handle_ping_reply(now, p);
            }
        }
        let mut exit = self.take_events(i);
        while let Some(g) = self.node_mut(i).poll_announce() {
            self.members[i].announced.push((now, g.0));
        }
        let mut buf = vec![0u8; 4096];
        while let Some(tx) = self.node_mut(i).poll_transmit(now, &mut buf) {
            let bytes = buf[..tx.len].to_vec();
            self.members[i].sent.push(Sent {
                at: now,
                transmit: tx,
                bytes: bytes.clone(),
            });
            if !self.members[i].alive {
                continue;
            }
            for medium in tx.media.iter() {
                for to in 0..self.members.len() {
                    if to == i && !self.loopback.contains(&medium) {
                        continue;
                    }
                    let w = Wire {
                        at: now + self.latency,
                        from: i,
                        to,
                        medium,
                        bytes: bytes.clone(),
                    };
                    let cut = self.cut.contains(&(i, to, medium.0));
                    if cut || self.loss.as_mut().is_some_and(|f| f(&w)) {
                        self.lost.push(w);
                    } else {
                        self.inflight.push(w);
                    }
                }
            }
        }
        // Sending may have produced events (our own messages loop back).
        exit = exit.or(self.take_events(i));
        if let Some(restart) = exit {
            assert!(self.members[i].holds.is_empty(), "exits holding groups");
            self.members[i].exited = Some(restart);
            self.stop(i);
        }
    }

    /// Records node `i`'s events and gives the daemon its work; whether it exits.
    fn take_events(&mut self, i: usize) -> Option<bool> {
        let now = self.now;
        let mut exit = None;
        while let Some(e) = self.node_mut(i).poll_event() {
            let (ms, done) = match T::work(&e) {
                Work::None => (0, None),
                Work::Acquire(group) => {
                    self.members[i].holds.insert(group.0);
                    let done = ActionDone::Acquired { group, ok: true };
                    (self.action_ms, Some(done))
                }
                Work::Release(group) => {
                    let done = ActionDone::Released { group, ok: true };
                    (self.action_ms, Some(done))
                }
                Work::Fence(node) => {
                    let result = if self.fence_results.is_empty() {
                        FenceResult::Ok
                    } else {
                        self.fence_results.remove(0)
                    };
                    (self.fence_ms, Some(ActionDone::Fenced { node, result }))
                }
                Work::Exit { restart } => {
                    exit = Some(restart);
                    (0, None)
                }
            };
            if let Some(done) = done {
                let epoch = self.members[i].epoch;
                self.pending.push(Pending {
                    at: now + Duration::from_millis(ms),
                    node: i,
                    epoch,
                    done,
                });
            }
            if let Some(line) = T::ipfail_line(&e, &Names(&self.names)) {
                self.members[i].ipfail_log.push((now, line));
            }
            self.members[i].events.push((now, e));
        }
        exit
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

    pub fn events(&self, i: usize) -> &[(Instant, T::Event)] {
        &self.members[i].events
    }

    /// When node `i` was first told something matching `what` at or after `from`.
    pub fn first(
        &self,
        i: usize,
        from: Instant,
        what: impl Fn(&T::Event) -> bool,
    ) -> Option<Instant> {
        self.members[i]
            .events
            .iter()
            .find(|(t, e)| *t >= from && what(e))
            .map(|(t, _)| *t)
    }

    /// When node `i` first reported an event matching `f`.
    pub fn first_event(&self, i: usize, f: impl Fn(&T::Event) -> bool) -> Option<Instant> {
        self.first(i, Instant::ZERO, f)
    }

    pub fn count_events(&self, i: usize, f: impl Fn(&T::Event) -> bool) -> usize {
        self.members[i].events.iter().filter(|(_, e)| f(e)).count()
    }

    /// The groups the fake daemon runs on node `i`.
    pub fn holds(&self, i: usize) -> Vec<u8> {
        self.members[i].holds.iter().copied().collect()
    }

    /// ipfail's lines of node `i` from `from` on.
    pub fn ipfail_log_since(&self, i: usize, from: Instant) -> Vec<&str> {
        self.members[i]
            .ipfail_log
            .iter()
            .filter(|(t, _)| *t >= from)
            .map(|(_, l)| l.as_str())
            .collect()
    }
}

impl<const N: usize, const M: usize, const G: usize> Cluster<Heartbeat<N, M, G>> {
    /// Joined nodes `nodes` (none started) and the ping nodes `pings` of `ha.cf` text `hacf`,
    /// with `haresources` text `hares`, signing with sha1 and `key`.
    pub fn new(nodes: &[&str], pings: &[&str], hacf: &str, hares: &str, key: &[u8]) -> Self {
        let hacf = HaCf::parse(hacf, &mut |e| {
            assert!(e.to_string().contains("warning"), "ha.cf: {e}")
        })
        .unwrap();
        let hares = HaResources::parse(hares, &mut |e| panic!("haresources: {e}")).unwrap();
        let mut keys = Keyring::new();
        keys.insert(1, Method::Sha1, key).unwrap();
        keys.set_active(1).unwrap();
        let make = move |s: &Start<'_>| {
            let mut uuid = [7; 16];
            uuid[0] = s.index as u8;
            let mut cfg = HeartbeatConfig::from_files(
                &hacf,
                &hares,
                s.name,
                uuid,
                s.generation,
                keys.clone(),
                s.index as u64 + s.generation,
            )
            .unwrap();
            cfg.resume = s.resume;
            Heartbeat::new(&cfg, s.now, s.wall).unwrap()
        };
        Cluster::with_nodes(nodes, pings, Box::new(make))
    }

    pub fn hb(&self, i: usize) -> &Heartbeat<N, M, G> {
        self.node(i)
    }

    /// A reload of node `i`, as the daemon does it: the restart announced, a second of
    /// keepalives, then the node again with `generation`, keeping the groups it runs (its
    /// actions in flight are lost with the old image: call it when none are).
    pub fn reexec(&mut self, i: usize, generation: u64) {
        let (now, wall) = (self.now, self.wall());
        self.members[i]
            .node
            .as_mut()
            .expect("the node runs")
            .announce_restart(now, wall);
        self.flush(i);
        self.run_ms(1000);
        let mask = self.members[i].holds.iter().fold(0u32, |m, g| m | 1 << g);
        self.boot_with(i, generation, Some(mask));
        self.flush(i);
    }

    pub fn command(&mut self, i: usize, cmd: Command) -> Result<(), CommandError> {
        let (now, wall) = (self.now, self.wall());
        let r = self.members[i]
            .node
            .as_mut()
            .expect("the node runs")
            .handle_command(now, wall, cmd);
        self.flush(i);
        r
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
