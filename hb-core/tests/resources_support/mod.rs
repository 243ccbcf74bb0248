//! A small deterministic cluster for the resource machine: N `Resources` on one virtual clock,
//! messages passed through the real codec (written into an `ha_msg`, parsed back) with a
//! configurable delay, actions executed by a fake daemon (after a delay, failing on demand),
//! and a transcript of every message sent.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use hb_core::config::{AutoFailback, HaResources, NodeName, ResourceGroup};
use hb_core::msg::Message;
use hb_core::resources::{
    Action, ActionDone, Command, FenceResult, GroupId, NodeEvent, NodeId, ResourceMsg, Resources,
    ResourcesConfig, Timing,
};
use hb_core::time::{Duration, Instant};

pub type Machine = Resources<8, 8>;

pub fn nodes(names: &[&str]) -> Vec<NodeName> {
    names
        .iter()
        .map(|n| NodeName::try_from(*n).unwrap())
        .collect()
}

pub fn haresources(text: &str) -> HaResources {
    HaResources::parse(text, &mut |e| panic!("{e}")).unwrap()
}

/// A message as the fields it carries, in order (no control fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wire {
    pub fields: Vec<(String, String)>,
}

impl Wire {
    pub fn from_msg(m: &ResourceMsg<'_>) -> Wire {
        let mut msg: Message<'_, 16> = Message::new();
        m.write(&mut msg).unwrap();
        Wire {
            fields: msg
                .fields()
                .iter()
                .map(|f| {
                    (
                        String::from_utf8(f.name.to_vec()).unwrap(),
                        String::from_utf8(f.value.to_vec()).unwrap(),
                    )
                })
                .collect(),
        }
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn t(&self) -> &str {
        self.get("t").unwrap_or("")
    }
    /// `t=resource rsc_hold=all rtype=full isstable=1`
    pub fn text(&self) -> String {
        self.fields
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
    pub fn with<R>(&self, f: impl FnOnce(&ResourceMsg<'_>) -> R) -> R {
        let mut msg: Message<'_, 16> = Message::new();
        for (n, v) in &self.fields {
            msg.push_str(n, v).unwrap();
        }
        let parsed = ResourceMsg::parse(&msg).unwrap();
        f(&parsed)
    }
}

#[derive(Clone, Debug)]
pub struct Sent {
    pub at: u64,
    pub from: String,
    pub wire: Wire,
}

impl Sent {
    pub fn line(&self) -> String {
        format!("{}: {}", self.from, self.wire.text())
    }
}

#[derive(Clone, Debug)]
enum Ev {
    Deliver {
        to: usize,
        from: usize,
        wire: Wire,
        epoch: u32,
    },
    Done {
        node: usize,
        done: ActionDone,
        epoch: u32,
    },
    Node {
        node: usize,
        ev: NodeEvent,
        epoch: u32,
    },
    /// The daemon's final shutdown, 1 s after its `shutdone` (`hb_mcp_final_shutdown`).
    Stop { node: usize, epoch: u32 },
}

pub struct NodeSim {
    pub name: String,
    pub machine: Option<Machine>,
    /// Bumped at every (re)start and stop: events for an older life are dropped.
    epoch: u32,
    pub started_before: bool,
    /// What really runs here (the fake daemon's view).
    pub running: BTreeSet<usize>,
    pub logs: Vec<String>,
    pub actions: Vec<Action>,
    pub exited: Option<bool>,
    pub rebooted: bool,
    /// Groups whose addresses the machine asked to announce again, with the time.
    pub announced: Vec<(u64, usize)>,
}

pub struct Cluster {
    pub names: Vec<NodeName>,
    pub res: HaResources,
    pub mode: AutoFailback,
    pub stonith: bool,
    pub timing: Timing,
    pub now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Ev>,
    pub nodes: Vec<NodeSim>,
    pub sent: Vec<Sent>,
    /// Message delay per (from, to), default `delay`.
    pub delay: u64,
    pub link_delay: BTreeMap<(usize, usize), u64>,
    /// Links that lose everything (a partition).
    pub cut: BTreeSet<(usize, usize)>,
    /// Last delivery time per link, to keep each link FIFO.
    last_delivery: BTreeMap<(usize, usize), u64>,
    pub action_delay: u64,
    /// Groups whose start fails, per node.
    pub fail_start: BTreeSet<(usize, usize)>,
    /// Groups whose stop fails (they keep running), per node.
    pub fail_stop: BTreeSet<(usize, usize)>,
    /// Fence results to hand out, in order; then `Ok`.
    pub fence_results: Vec<FenceResult>,
    pub fence_delay: u64,
    pub deadtime: u64,
    /// Random extra delay per message (0..=jitter ms) and per action, from `rng`.
    pub msg_jitter: u64,
    pub action_jitter: u64,
    /// Deliver each link in order (the engine's sequence numbers do that, losses aside).
    pub fifo: bool,
    pub rng: u64,
}

impl Cluster {
    pub fn new(names: &[&str], haresources_text: &str, mode: AutoFailback) -> Cluster {
        Cluster {
            names: nodes(names),
            res: haresources(haresources_text),
            mode,
            stonith: false,
            timing: Timing::default(),
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            nodes: names
                .iter()
                .map(|n| NodeSim {
                    name: n.to_string(),
                    machine: None,
                    epoch: 0,
                    started_before: false,
                    running: BTreeSet::new(),
                    logs: Vec::new(),
                    actions: Vec::new(),
                    exited: None,
                    rebooted: false,
                    announced: Vec::new(),
                })
                .collect(),
            sent: Vec::new(),
            delay: 1,
            link_delay: BTreeMap::new(),
            cut: BTreeSet::new(),
            last_delivery: BTreeMap::new(),
            action_delay: 50,
            fail_start: BTreeSet::new(),
            fail_stop: BTreeSet::new(),
            fence_results: Vec::new(),
            fence_delay: 100,
            deadtime: 1000,
            msg_jitter: 0,
            action_jitter: 0,
            fifo: true,
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// xorshift64*: 0..=max.
    pub fn random(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % (max + 1)
    }

    pub fn id(&self, name: &str) -> usize {
        self.nodes.iter().position(|n| n.name == name).unwrap()
    }
    pub fn group(&self, key: &str) -> usize {
        self.res
            .groups()
            .iter()
            .position(|g| g.key() == key)
            .unwrap()
    }
    pub fn groups(&self) -> &[ResourceGroup] {
        self.res.groups()
    }
    pub fn m(&self, node: &str) -> &Machine {
        self.nodes[self.id(node)].machine.as_ref().unwrap()
    }
    pub fn is_up(&self, n: usize) -> bool {
        self.nodes[n].machine.is_some()
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }
    fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    /// Creates (or re-creates) a node's machine, without telling anyone.
    pub fn boot(&mut self, n: usize) {
        let cfg = ResourcesConfig {
            local_node: &self.nodes[n].name,
            nodes: &self.names,
            groups: self.res.groups(),
            auto_failback: self.mode,
            stonith: self.stonith,
            timing: self.timing,
        };
        let machine = Machine::new(&cfg).unwrap();
        let sim = &mut self.nodes[n];
        sim.machine = Some(machine);
        sim.epoch += 1;
        sim.exited = None;
        sim.running.clear();
    }

    /// Starts nodes together: each hears the others that are running (and those starting with
    /// it), peers not running are declared dead after `initdead` (0 here: the caller moves
    /// the clock), then comm-up.
    pub fn start(&mut self, names: &[&str]) {
        let ids: Vec<usize> = names.iter().map(|n| self.id(n)).collect();
        for &n in &ids {
            let restarted = self.nodes[n].started_before;
            self.boot(n);
            self.nodes[n].started_before = true;
            // Running peers learn about the newcomer.
            for p in 0..self.nodes.len() {
                if p == n || !self.is_up(p) || ids.contains(&p) {
                    continue;
                }
                if restarted {
                    self.node_event(p, NodeEvent::Restarted(NodeId(n as u8)));
                }
                self.node_event(p, NodeEvent::Up(NodeId(n as u8)));
            }
        }
        for &n in &ids {
            for p in 0..self.nodes.len() {
                if p == n {
                    continue;
                }
                if self.is_up(p) {
                    self.node_event(n, NodeEvent::Up(NodeId(p as u8)));
                    if !ids.contains(&p) {
                        self.node_event(n, NodeEvent::Active(NodeId(p as u8)));
                    }
                } else {
                    self.node_event(
                        n,
                        NodeEvent::Dead {
                            node: NodeId(p as u8),
                            heard_from: false,
                        },
                    );
                }
            }
        }
        for &n in &ids {
            let now = self.instant();
            self.nodes[n].machine.as_mut().unwrap().comm_up(now);
            self.drain(n);
        }
        // Everyone sees the newcomers' status go active.
        for &n in &ids {
            for p in 0..self.nodes.len() {
                if p != n && self.is_up(p) {
                    self.node_event(p, NodeEvent::Active(NodeId(n as u8)));
                }
            }
        }
    }

    /// Boots nodes that hear each other and the running ones, without their communication
    /// coming up yet (see [`Cluster::comm_up`]).
    pub fn power_on(&mut self, names: &[&str]) {
        let ids: Vec<usize> = names.iter().map(|n| self.id(n)).collect();
        for &n in &ids {
            let restarted = self.nodes[n].started_before;
            let running: Vec<usize> = (0..self.nodes.len())
                .filter(|&p| p != n && self.is_up(p) && !ids.contains(&p))
                .collect();
            self.boot(n);
            self.nodes[n].started_before = true;
            for p in running {
                if restarted {
                    self.node_event(p, NodeEvent::Restarted(NodeId(n as u8)));
                }
                self.node_event(p, NodeEvent::Up(NodeId(n as u8)));
                self.node_event(n, NodeEvent::Up(NodeId(p as u8)));
                self.node_event(n, NodeEvent::Active(NodeId(p as u8)));
            }
        }
        for &n in &ids {
            for &p in &ids {
                if p != n {
                    self.node_event(n, NodeEvent::Up(NodeId(p as u8)));
                }
            }
        }
    }

    /// A powered-on node's communication comes up: comm-up, and the others see it `active`.
    pub fn comm_up(&mut self, name: &str) {
        let n = self.id(name);
        let now = self.instant();
        self.nodes[n].machine.as_mut().unwrap().comm_up(now);
        self.drain(n);
        for p in 0..self.nodes.len() {
            if p != n && self.is_up(p) {
                self.node_event(p, NodeEvent::Active(NodeId(n as u8)));
            }
        }
    }

    /// Kills a node (SIGKILL + links down): the others declare it dead after `deadtime`.
    pub fn crash(&mut self, name: &str) {
        let n = self.id(name);
        self.stop_node(n);
        self.schedule_death(n);
    }

    fn stop_node(&mut self, n: usize) {
        let sim = &mut self.nodes[n];
        sim.machine = None;
        sim.epoch += 1;
        sim.running.clear();
    }

    fn schedule_death(&mut self, n: usize) {
        for p in 0..self.nodes.len() {
            if p != n && self.is_up(p) {
                let epoch = self.nodes[p].epoch;
                let at = self.now + self.deadtime;
                self.push(
                    at,
                    Ev::Node {
                        node: p,
                        ev: NodeEvent::Dead {
                            node: NodeId(n as u8),
                            heard_from: true,
                        },
                        epoch,
                    },
                );
            }
        }
    }

    /// Restarts a node faster than the others notice it died: they see a new generation.
    pub fn fast_restart(&mut self, name: &str) {
        let n = self.id(name);
        self.stop_node(n);
        self.start(&[name]);
    }

    /// Cuts every link between two nodes: each declares the other dead after `deadtime`.
    pub fn partition(&mut self, a: &str, b: &str) {
        let (a, b) = (self.id(a), self.id(b));
        self.cut.insert((a, b));
        self.cut.insert((b, a));
        for (p, n) in [(a, b), (b, a)] {
            let epoch = self.nodes[p].epoch;
            let at = self.now + self.deadtime;
            self.push(
                at,
                Ev::Node {
                    node: p,
                    ev: NodeEvent::Dead {
                        node: NodeId(n as u8),
                        heard_from: true,
                    },
                    epoch,
                },
            );
        }
    }

    /// Heals a partition: both hear the other again with its old generation.
    pub fn heal(&mut self, a: &str, b: &str) {
        let (a, b) = (self.id(a), self.id(b));
        self.cut.remove(&(a, b));
        self.cut.remove(&(b, a));
        self.node_event(a, NodeEvent::ReturnedAfterPartition(NodeId(b as u8)));
        self.node_event(b, NodeEvent::ReturnedAfterPartition(NodeId(a as u8)));
    }

    pub fn command(&mut self, name: &str, cmd: Command) {
        let n = self.id(name);
        let now = self.instant();
        self.nodes[n]
            .machine
            .as_mut()
            .unwrap()
            .handle_command(now, cmd)
            .unwrap();
        self.drain(n);
    }

    pub fn node_event(&mut self, n: usize, ev: NodeEvent) {
        let now = self.instant();
        if let Some(m) = self.nodes[n].machine.as_mut() {
            m.node_event(now, ev);
            self.drain(n);
        }
    }

    /// Collects a node's outputs: messages go on the wire, actions to the fake daemon.
    pub fn drain(&mut self, n: usize) {
        let Some(m) = self.nodes[n].machine.as_mut() else {
            return;
        };
        let mut wires = Vec::new();
        while let Some(msg) = m.poll_message() {
            wires.push(Wire::from_msg(&msg));
        }
        let mut actions = Vec::new();
        while let Some(a) = m.poll_action() {
            actions.push(a);
        }
        let mut announced = Vec::new();
        while let Some(g) = m.poll_announce() {
            announced.push((self.now, usize::from(g.0)));
        }
        let mut logs = Vec::new();
        while let Some(l) = m.poll_log() {
            logs.push(format!("{}: {}", l.level().as_str(), l));
        }
        assert_eq!(
            m.dropped_outputs(),
            0,
            "{}: outputs dropped",
            self.nodes[n].name
        );
        self.nodes[n].logs.extend(logs);
        self.nodes[n].announced.extend(announced);
        for w in wires {
            self.sent.push(Sent {
                at: self.now,
                from: self.nodes[n].name.clone(),
                wire: w.clone(),
            });
            for to in 0..self.nodes.len() {
                if to == n || self.cut.contains(&(n, to)) {
                    continue;
                }
                let jitter = self.msg_jitter;
                let d = *self.link_delay.get(&(n, to)).unwrap_or(&self.delay) + self.random(jitter);
                let last = *self.last_delivery.get(&(n, to)).unwrap_or(&0);
                let at = if self.fifo {
                    (self.now + d).max(last)
                } else {
                    self.now + d
                };
                self.last_delivery.insert((n, to), at);
                let epoch = self.nodes[to].epoch;
                self.push(
                    at,
                    Ev::Deliver {
                        to,
                        from: n,
                        wire: w.clone(),
                        epoch,
                    },
                );
            }
        }
        for a in actions {
            self.nodes[n].actions.push(a);
            let epoch = self.nodes[n].epoch;
            match a {
                Action::Acquire(g) => {
                    let ok = !self.fail_start.contains(&(n, g.0 as usize));
                    let jitter = self.action_jitter;
                    let at = self.now + self.action_delay + self.random(jitter);
                    self.push(
                        at,
                        Ev::Done {
                            node: n,
                            done: ActionDone::Acquired { group: g, ok },
                            epoch,
                        },
                    );
                }
                Action::Release(g) => {
                    let ok = !self.fail_stop.contains(&(n, g.0 as usize));
                    let jitter = self.action_jitter;
                    let at = self.now + self.action_delay + self.random(jitter);
                    self.push(
                        at,
                        Ev::Done {
                            node: n,
                            done: ActionDone::Released { group: g, ok },
                            epoch,
                        },
                    );
                }
                Action::Fence(node) => {
                    let result = if self.fence_results.is_empty() {
                        FenceResult::Ok
                    } else {
                        self.fence_results.remove(0)
                    };
                    let at = self.now + self.fence_delay;
                    self.push(
                        at,
                        Ev::Done {
                            node: n,
                            done: ActionDone::Fenced { node, result },
                            epoch,
                        },
                    );
                }
                Action::Reboot => self.nodes[n].rebooted = true,
                Action::Exit { restart } => {
                    self.nodes[n].exited = Some(restart);
                }
            }
        }
        // A node that exited leaves a second later: its status goes silent, the others
        // declare it dead.
        if self.nodes[n].exited.is_some()
            && self.nodes[n]
                .actions
                .last()
                .is_some_and(|a| matches!(a, Action::Exit { .. }))
        {
            let epoch = self.nodes[n].epoch;
            let at = self.now + 1000;
            self.push(at, Ev::Stop { node: n, epoch });
        }
    }

    fn deliver_time(&self) -> Option<u64> {
        self.queue.keys().next().map(|k| k.0)
    }

    /// Runs events and timers up to and including `until`.
    pub fn run_until(&mut self, until: u64) {
        loop {
            let next_ev = self.deliver_time();
            let next_timer = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    s.machine
                        .as_ref()
                        .and_then(|m| m.poll_timeout())
                        .map(|t| (t.as_millis().max(self.now), i))
                })
                .min();
            let next = match (next_ev, next_timer) {
                (Some(e), Some((t, _))) => e.min(t),
                (Some(e), None) => e,
                (None, Some((t, _))) => t,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = next;
            if next_ev == Some(next) {
                let (&key, _) = self.queue.iter().next().unwrap();
                let ev = self.queue.remove(&key).unwrap();
                self.run_event(ev);
            } else if let Some((_, i)) = next_timer {
                let now = self.instant();
                self.nodes[i].machine.as_mut().unwrap().handle_timeout(now);
                self.drain(i);
            }
        }
        self.now = self.now.max(until);
    }

    /// Runs until nothing is left to do (or `limit` ms pass).
    pub fn settle(&mut self) {
        let limit = self.now + 4 * 3_600_000;
        self.run_until(limit);
    }

    pub fn run_for(&mut self, ms: u64) {
        let until = self.now + ms;
        self.run_until(until);
    }

    fn run_event(&mut self, ev: Ev) {
        let now = self.instant();
        match ev {
            Ev::Deliver {
                to,
                from,
                wire,
                epoch,
            } => {
                if self.nodes[to].epoch != epoch {
                    return;
                }
                let me = self.nodes[to].name.clone();
                let Some(m) = self.nodes[to].machine.as_mut() else {
                    return;
                };
                // The engine drops messages addressed to another node.
                if wire.get("dest").is_some_and(|d| d != me) {
                    return;
                }
                wire.with(|msg| m.handle_message(now, NodeId(from as u8), msg));
                self.drain(to);
            }
            Ev::Done { node, done, epoch } => {
                if self.nodes[node].epoch != epoch {
                    return;
                }
                match done {
                    ActionDone::Acquired { group, ok: true } => {
                        self.nodes[node].running.insert(group.0 as usize);
                    }
                    ActionDone::Released { group, ok: true } => {
                        self.nodes[node].running.remove(&(group.0 as usize));
                    }
                    _ => {}
                }
                let Some(m) = self.nodes[node].machine.as_mut() else {
                    return;
                };
                m.handle_action_done(now, done);
                self.drain(node);
            }
            Ev::Node { node, ev, epoch } => {
                if self.nodes[node].epoch != epoch {
                    return;
                }
                self.node_event(node, ev);
            }
            Ev::Stop { node, epoch } => {
                if self.nodes[node].epoch != epoch {
                    return;
                }
                self.stop_node(node);
                self.schedule_death(node);
            }
        }
    }

    /// The nodes where a group really runs.
    pub fn owners(&self, key: &str) -> Vec<String> {
        let g = self.group(key);
        self.nodes
            .iter()
            .filter(|n| n.running.contains(&g))
            .map(|n| n.name.clone())
            .collect()
    }

    /// `(group key, the node running it)` for every group, `-` for none, `a+b` for several.
    pub fn placement(&self) -> Vec<(String, String)> {
        self.groups()
            .iter()
            .map(|g| {
                let o = self.owners(g.key());
                (
                    g.key().to_string(),
                    if o.is_empty() {
                        "-".to_string()
                    } else {
                        o.join("+")
                    },
                )
            })
            .collect()
    }

    /// The resource messages sent since `from` (an index into `sent`), as `node: text` lines,
    /// `stonith` included.
    pub fn transcript(&self, from: usize) -> Vec<String> {
        self.sent[from..].iter().map(|s| s.line()).collect()
    }

    pub fn logs(&self, name: &str) -> &[String] {
        &self.nodes[self.id(name)].logs
    }

    pub fn group_id(&self, key: &str) -> GroupId {
        GroupId(self.group(key) as u8)
    }

    pub fn at(&self) -> Instant {
        self.instant()
    }

    pub fn ms(d: Duration) -> u64 {
        d.as_millis()
    }
}
