//! The simulation: the nodes of a [`Scenario`] (each a [`Heartbeat`] from hb-core, built from
//! generated `ha.cf`/`haresources` text), a network of lossy broadcast media, a fake daemon per
//! node that runs resource actions and fences, one virtual clock, and the invariants, checked
//! after every step.
//!
//! # The fault model
//! * Network: every medium is a broadcast domain. Each direction of each medium between two
//!   nodes loses, delays (latency plus jitter, so packets overtake each other), duplicates and
//!   corrupts (one byte flipped) packets at its own seeded rates. Partitions cut chosen media
//!   between two sides, both ways or one way, and heal.
//! * Nodes crash (everything they run stops with them) and restart with their persisted
//!   generation plus one; they shut down gracefully (SIGTERM) and start again; they exit with
//!   `restart` (`No local heartbeat`, return after a partition) and come back.
//! * The fake daemon: actions take their time (some are slow), starts and stops fail (a failed
//!   stop asks for a reboot, which the simulator performs), fencing takes its time and fails or
//!   resets its target.
//! * Ping nodes answer each node's pings as the node's reachability says: a node loses its
//!   ping node (its uplink fails), or a ping node stops answering everyone; both come back.
//!   With ipfail configured, the nodes run it built in.
//! * A daemon stalls (its loop stops: no timers, no packets read, no action results taken) for
//!   longer than the dead time, then goes on: its peers must see it dead, and it must notice
//!   (`No local heartbeat`) while they handle its return.
//! * Key rotation: a second key is added everywhere, then the nodes switch to signing with it
//!   one after the other.
//! * Operators: `hb_standby` and `hb_takeover` with every set (two nodes).
//! * An attacker: packets signed with a wrong key, packets of an earlier generation replayed.
//!
//! # The invariants
//! See [`crate`] (the crate documentation lists them with their precise conditions).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;

use hb_core::auth::{Keyring, Method};
use hb_core::config::AutoFailback;
use hb_core::config::{HaCf, HaResources};
use hb_core::engine::{
    self, Encoding, MediumId, NodeId, NodeStatus, RxError, DEFAULT_HISTORY_BYTES, MAXMSGHIST,
};
use hb_core::heartbeat::{Command, Event, Heartbeat, HeartbeatConfig};
use hb_core::ipfail;
use hb_core::msg::{self, compact, Field, Format, Message, DEFAULT_FIELDS};
use hb_core::resources::{ActionDone, FenceResult, GroupId, RQSTDELAY};
use hb_core::time::Instant;

use crate::digest::Digest;
use crate::rng::Rng;
use crate::scenario::{
    Fault, MediumKind, Scenario, MAX_GROUPS, MAX_MEDIA, MAX_NODES, MAX_PING_NODES,
};

/// Eight nodes on a medium that loses 30 % need 64 held messages to keep every resource
/// message in order (the default, 16, serves four). The engine's node table also holds the
/// ping nodes, and its event queue all of them dying at once with their links (ten nodes on
/// two media: 48).
pub type Hb = Heartbeat<
    { MAX_NODES + MAX_PING_NODES },
    MAX_MEDIA,
    MAX_GROUPS,
    MAXMSGHIST,
    DEFAULT_HISTORY_BYTES,
    64,
    64,
>;

/// The wall clock of the simulated machines at virtual time 0.
const WALL_START: u64 = 0x6b02_14a8;
const KEY: &[u8] = b"simulated cluster key";
/// The key a rotation switches to (index 2).
const NEW_KEY: &[u8] = b"the next cluster key";
const WRONG_KEY: &[u8] = b"an attacker's guess";
/// Packets of earlier incarnations kept per node for replay attacks.
const OLD_PACKETS: usize = 16;
/// `ResourceManager` runs `hb_standby` this long after a failed start (30 s, hb-core's
/// `FAILED_START_STANDBY_DELAY`).
const FAILED_START_STANDBY: u64 = 30_000;
/// Loss per mille at most once the faults are over.
const SETTLED_LOSS: u64 = 20;
/// A node returning after a partition makes both sides give up and restart 2 s later.
const PARTITION_RESTART: u64 = 2000;
/// A ping node answers an echo this long after it was sent.
const PING_RTT: u64 = 3;
/// ipfail learns of a ping change within `deadping` and a keepalive, and the counts travel
/// (with retransmissions) within this much more.
const IPFAIL_MESSAGES: u64 = 5000;

/// What one run found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub violations: Vec<String>,
    pub timeline: Vec<String>,
    pub stats: Stats,
    /// The outcome fingerprint (see [`crate::digest`]).
    pub fingerprint: String,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub steps: u64,
    pub packets: u64,
    pub moves: u64,
    pub deaths: u64,
    pub injected: u64,
    /// Something happened too close to the end to check that the cluster settled.
    pub unsettled: bool,
    /// Resource messages handled out of order (more overtook missing ones than are held).
    pub out_of_order: u64,
    /// ipfail give-ups carried out (`giveup() called` after a decision).
    pub ipfail_giveups: u64,
    /// Daemons stalled.
    pub stalls: u64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// How a run is watched (and, for the simulator's own tests, sabotaged).
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Record the timeline.
    pub timeline: bool,
    /// Also record every status message taken (long).
    pub statuses: bool,
    /// Break the fake daemon on purpose, to see the invariants catch it.
    pub sabotage: Option<Sabotage>,
}

/// Ways to break the world around the nodes, for tests of the invariants themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sabotage {
    /// Fencing reports success but resets nothing.
    FenceResetsNothing,
    /// A release reports success but leaves the group running.
    ReleaseLeavesRunning,
    /// The attacker signs with the cluster's key.
    AttackerHasTheKey,
    /// From 20 s on, the ping nodes stop answering the first node although the simulator
    /// still has them reachable (ipfail then acts on a difference that is not there).
    PingNodesIgnoreNode1,
}

/// Runs one scenario. With `timeline`, the timeline is recorded.
pub fn run(sc: &Scenario, timeline: bool) -> Outcome {
    run_with(
        sc,
        Options {
            timeline,
            ..Options::default()
        },
    )
}

pub fn run_with(sc: &Scenario, opts: Options) -> Outcome {
    let mut w = World::new(sc, opts);
    w.run();
    w.finish_digest();
    w.out
}

// ---------------------------------------------------------------------------------------------
// The world.

/// What the simulator learnt about a packet when it was sent.
#[derive(Clone, Debug)]
struct Meta {
    from: usize,
    status: bool,
    hg: u64,
    seq: u64,
    /// A status's `dt` (ms).
    dt: u64,
    /// For the timeline: `t` and the interesting fields.
    text: String,
}

#[derive(Debug)]
enum Ev {
    Deliver {
        to: usize,
        medium: usize,
        bytes: Rc<[u8]>,
        meta: Rc<Meta>,
        corrupted: bool,
    },
    ActionDone {
        node: usize,
        epoch: u32,
        done: ActionDone,
    },
    FenceDone {
        node: usize,
        epoch: u32,
        target: usize,
        result: FenceResult,
    },
    Start {
        node: usize,
    },
    Fault(Fault),
    Heal {
        id: usize,
    },
    FaultsEnd,
    /// Ping node `ping` answers `node`'s echo.
    PingReply {
        node: usize,
        epoch: u32,
        ping: usize,
    },
    /// A ping loss (of one node, or of everyone) ends.
    PingRestore {
        node: Option<usize>,
        ping: usize,
    },
    /// The stall of `node` that lasts until `until` ends (if it still does).
    StallEnd {
        node: usize,
        until: u64,
    },
    /// Key rotation: every node lists the new key (`node` None), or `node` signs with it.
    Rotate {
        node: Option<usize>,
    },
    /// An input that waited for a stalled daemon: lost if the node stopped meanwhile (a reset
    /// or reboot empties its socket buffers).
    Deferred {
        node: usize,
        epoch: u32,
        ev: Box<Ev>,
    },
}

impl Ev {
    /// The node whose daemon must be running to take this (deferred while it is stalled).
    fn taker(&self) -> Option<usize> {
        match self {
            Ev::Deliver { to, .. } => Some(*to),
            Ev::ActionDone { node, .. }
            | Ev::FenceDone { node, .. }
            | Ev::PingReply { node, .. } => Some(*node),
            Ev::Fault(
                Fault::Shutdown { node, .. }
                | Fault::Standby { node, .. }
                | Fault::Takeover { node, .. },
            ) => Some(*node),
            Ev::Fault(Fault::InjectWrongKey { to } | Fault::InjectReplay { to }) => Some(*to),
            Ev::Rotate { node } => *node,
            _ => None,
        }
    }
}

struct Queued {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// What a receiver got of a sender's status messages (for the detection bounds).
#[derive(Clone, Copy, Debug, Default)]
struct Rx {
    /// Arrival of the newest status (highest generation and sequence number) taken.
    newest: Option<(u64, u64, u64)>,
    /// Arrival of the last status taken, of any age, and its `dt`.
    last: Option<(u64, u64)>,
}

#[derive(Clone, Debug)]
struct Captured {
    medium: usize,
    hg: u64,
    bytes: Rc<[u8]>,
}

struct SimNode {
    hb: Option<Box<Hb>>,
    /// Generation of the running (or last) incarnation; the next start uses one more.
    generation: u64,
    /// Bumped at every start and stop: results for an older life are dropped.
    epoch: u32,
    started_at: u64,
    /// Groups this node holds: from the start of their acquisition until their release
    /// completes (the fake daemon's truth).
    held: u32,
    /// Groups with an action in flight.
    busy: u32,
    next_timeout: Option<u64>,
    /// Per sender.
    rx: Vec<Rx>,
    /// Comm-up of the running incarnation.
    comm_up_at: Option<u64>,
    /// Per peer: whether this node has that peer as dead (engine status).
    considers_dead: u32,
    /// A start is scheduled.
    start_pending: bool,
    /// The next start or stop of these groups fails.
    fail_start: u32,
    fail_stop: u32,
    recent: VecDeque<Captured>,
    old: VecDeque<Captured>,
    /// Ping nodes that do not answer this node (its uplink to them failed).
    ping_lost: u32,
    /// Its daemon is stalled until then.
    stalled_until: Option<u64>,
    /// When it last ran again after a stall (it notices deaths then at the earliest).
    resumed_at: u64,
    /// This incarnation reported `No local heartbeat`.
    no_local_heartbeat: bool,
    /// It ran again after a stall and must say `No local heartbeat` at its first timeout.
    owes_no_local_heartbeat: bool,
    /// Its current stall is long enough for that.
    stall_must_show: bool,
    /// The give-up ipfail decided last (`Giving up …`), until it is carried out.
    ipfail_giveup: Option<bool>,
    /// It signs with the rotated key.
    rotated: bool,
}

/// A death a live peer has to notice.
#[derive(Clone, Copy, Debug)]
struct Pending {
    peer: usize,
    peer_epoch: u32,
    dead: usize,
    crash_at: u64,
    peer_comm_up: bool,
}

struct World<'s> {
    sc: &'s Scenario,
    hacf: HaCf,
    hares: HaResources,
    keys: Keyring,
    wrong_keys: Keyring,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Queued>>,
    nodes: Vec<SimNode>,
    /// Active partitions: (id, side, media, one_way).
    partitions: Vec<(usize, u32, u32, bool)>,
    /// `cut[from][to]`: media currently cut.
    cut: Vec<Vec<u32>>,
    faults_over: bool,
    /// Per pair (a < b): the last time one of them had the other as dead while both ran.
    split_at: Vec<Vec<Option<u64>>>,
    /// Times of events that may move a group, and how long each may take to have its effect.
    causes: Vec<(u64, u64, &'static str)>,
    /// Holders per group at the last check.
    holders: Vec<u32>,
    /// What ownership and splits were computed from at the last check.
    last_sig: [u64; MAX_NODES],
    /// A split was seen at the last check.
    splits: bool,
    /// A group had two holders at the last check.
    shared: bool,
    /// The last start of the group failed (legacy mode leaves such a group stopped).
    start_failed: Vec<bool>,
    pending: Vec<Pending>,
    /// Ping nodes down for everyone.
    ping_down: u32,
    /// The last change of any node's ping reachability, and the last stall.
    ping_changed_at: Option<u64>,
    stalled_at: Option<u64>,
    /// Every node lists the rotated key.
    new_keys: Option<Keyring>,
    verbose: bool,
    opts: Options,
    out: Outcome,
    buf: Vec<u8>,
    digest: Digest,
}

impl<'s> World<'s> {
    fn new(sc: &'s Scenario, opts: Options) -> World<'s> {
        let verbose = opts.timeline;
        let hacf = HaCf::parse(&sc.hacf(), &mut |e| {
            assert!(
                e.to_string().contains("warning"),
                "generated ha.cf: {e}\n{}",
                sc.hacf()
            )
        })
        .expect("generated ha.cf parses");
        let hares = HaResources::parse(&sc.haresources(), &mut |e| {
            panic!("generated haresources: {e}")
        })
        .expect("generated haresources parses");
        let secret = |k: &'static [u8]| if sc.auth == Method::Crc { &[][..] } else { k };
        let mut keys = Keyring::new();
        keys.insert(1, sc.auth, secret(KEY)).unwrap();
        keys.set_active(1).unwrap();
        // The attacker signs with index 1 and a wrong secret; `crc` has no secret, so it gets
        // an index the cluster does not list.
        let mut wrong_keys = Keyring::new();
        let index = if sc.auth == Method::Crc { 2 } else { 1 };
        wrong_keys
            .insert(index, sc.auth, secret(WRONG_KEY))
            .unwrap();
        wrong_keys.set_active(index).unwrap();
        if opts.sabotage == Some(Sabotage::AttackerHasTheKey) {
            wrong_keys = keys.clone();
        }
        let n = sc.nodes;
        let nodes = (0..n)
            .map(|_| SimNode {
                hb: None,
                generation: 10,
                epoch: 0,
                started_at: 0,
                held: 0,
                busy: 0,
                next_timeout: None,
                rx: vec![Rx::default(); n],
                comm_up_at: None,
                considers_dead: 0,
                start_pending: false,
                fail_start: 0,
                fail_stop: 0,
                recent: VecDeque::new(),
                old: VecDeque::new(),
                ping_lost: 0,
                stalled_until: None,
                resumed_at: 0,
                no_local_heartbeat: false,
                owes_no_local_heartbeat: false,
                stall_must_show: false,
                ipfail_giveup: None,
                rotated: false,
            })
            .collect();
        let mut w = World {
            sc,
            hacf,
            hares,
            keys,
            wrong_keys,
            rng: Rng::new(sc.seed ^ 0x5157_0000),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            partitions: Vec::new(),
            cut: vec![vec![0; n]; n],
            faults_over: false,
            split_at: vec![vec![None; n]; n],
            causes: Vec::new(),
            holders: vec![0; sc.groups.len()],
            last_sig: [u64::MAX; MAX_NODES],
            splits: false,
            shared: false,
            start_failed: vec![false; sc.groups.len()],
            pending: Vec::new(),
            ping_down: 0,
            ping_changed_at: None,
            stalled_at: None,
            new_keys: None,
            verbose,
            opts,
            out: Outcome::default(),
            buf: vec![0; 4096],
            digest: Digest::new(),
        };
        for (i, &at) in sc.start_at.iter().enumerate() {
            w.nodes[i].start_pending = true;
            w.schedule(at, Ev::Start { node: i });
        }
        for (at, f) in &sc.faults {
            w.schedule(*at, Ev::Fault(*f));
        }
        w.schedule(sc.fault_end, Ev::FaultsEnd);
        if let Some((at, spacing, _)) = sc.key_rotation {
            w.schedule(at, Ev::Rotate { node: None });
            for i in 0..n {
                let node = Some(i);
                w.schedule(at + (i as u64 + 1) * spacing.max(1), Ev::Rotate { node });
            }
        }
        w
    }

    /// The keyring a node uses now: the cluster key, and after a rotation began the new one
    /// too (signing with it once the node switched).
    fn keys_for(&self, i: usize) -> Keyring {
        match &self.new_keys {
            None => self.keys.clone(),
            Some(k) => {
                let mut k = k.clone();
                k.set_active(if self.nodes[i].rotated { 2 } else { 1 })
                    .expect("both keys listed");
                k
            }
        }
    }

    /// Whether node `i` hears ping node `p`.
    fn reaches_ping(&self, i: usize, p: usize) -> bool {
        (self.ping_down | self.nodes[i].ping_lost) & (1 << p) == 0
    }

    /// Ping nodes node `i` hears.
    fn ping_count(&self, i: usize) -> u32 {
        (0..self.sc.ping_nodes)
            .filter(|&p| self.reaches_ping(i, p))
            .count() as u32
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at,
            seq: self.seq,
            ev,
        }));
    }

    fn wall(&self) -> u64 {
        WALL_START + self.now / 1000
    }

    fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    fn log(&mut self, node: Option<usize>, text: impl FnOnce() -> String) {
        if self.verbose {
            let who = node.map_or_else(|| "sim".to_string(), Scenario::node_name);
            let line = format!(
                "[{:>4}.{:03}] {who:>5}: {}",
                self.now / 1000,
                self.now % 1000,
                text()
            );
            self.out.timeline.push(line);
        }
    }

    fn violation(&mut self, text: String) {
        let line = format!(
            "[{:>4}.{:03}] VIOLATION: {text}",
            self.now / 1000,
            self.now % 1000
        );
        if self.verbose {
            self.out.timeline.push(line.clone());
        }
        if self.out.violations.len() < 20 {
            self.out.violations.push(line);
        }
    }

    fn cause(&mut self, window: u64, what: &'static str) {
        self.causes.push((self.now, window, what));
    }

    /// How long any single cause may take to move groups: the dead time (`initdead` at
    /// start), the start-up negotiation (`RQSTDELAY`), a STONITH, and a hand-over of every
    /// group (each group an action on each side, plus messages).
    fn settle_window(&self) -> u64 {
        let sc = self.sc;
        sc.initdead.max(sc.deadtime)
            + 2 * sc.keepalive
            + RQSTDELAY.as_millis()
            + 2 * sc.fence_delay
            + (2 * sc.groups.len() as u64 + 4) * (sc.max_action() + 2 * sc.max_latency() + 300)
    }

    // -----------------------------------------------------------------------------------------
    // The main loop.

    fn run(&mut self) {
        let end = self.sc.end;
        loop {
            let next_timer = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    let t = n.next_timeout?;
                    Some((t.max(n.stalled_until.unwrap_or(0)), i))
                })
                .min();
            let next_event = self.queue.peek().map(|Reverse(q)| q.at);
            let (at, timer) = match (next_timer, next_event) {
                (Some((t, i)), Some(e)) if t <= e => (t, Some(i)),
                (Some((t, i)), None) => (t, Some(i)),
                (_, Some(e)) => (e, None),
                (None, None) => break,
            };
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.out.stats.steps += 1;
            match timer {
                Some(i) => {
                    if self.nodes[i].stalled_until.is_some_and(|u| u <= self.now) {
                        self.stall_end(i);
                    }
                    let (now, wall) = (self.instant(), self.wall());
                    if let Some(hb) = self.nodes[i].hb.as_mut() {
                        hb.handle_timeout(now, wall);
                    }
                    self.after(i);
                    let n = &mut self.nodes[i];
                    if std::mem::take(&mut n.owes_no_local_heartbeat) && n.hb.is_some() {
                        self.violation(format!(
                            "{} ran again after a stall without noticing it (No local heartbeat)",
                            Scenario::node_name(i)
                        ));
                    }
                }
                None => {
                    let Reverse(q) = self.queue.pop().unwrap();
                    self.process(q.ev);
                }
            }
            self.check();
            if self.out.violations.len() >= 20 {
                break;
            }
        }
        self.final_check();
    }

    fn process(&mut self, ev: Ev) {
        // A stalled daemon takes nothing: its input waits (packets in the socket buffer).
        if let Some(node) = ev.taker() {
            if let Some(until) = self.nodes[node].stalled_until {
                let epoch = self.nodes[node].epoch;
                let ev = Box::new(ev);
                self.schedule(until, Ev::Deferred { node, epoch, ev });
                return;
            }
        }
        match ev {
            Ev::Deferred { node, epoch, ev } => {
                if self.nodes[node].epoch == epoch {
                    self.process(*ev);
                }
            }
            Ev::Deliver {
                to,
                medium,
                bytes,
                meta,
                corrupted,
            } => self.deliver(to, medium, &bytes, &meta, corrupted),
            Ev::ActionDone { node, epoch, done } => {
                if self.nodes[node].epoch != epoch || self.nodes[node].hb.is_none() {
                    return;
                }
                let bit = match done {
                    ActionDone::Acquired { group, ok } => {
                        self.log(Some(node), || {
                            format!("action done: acquire group {} ok={ok}", group.0)
                        });
                        // Legacy leaves a group stopped after its preferred node failed to
                        // start it: another node's start, lost with that node, changes nothing.
                        let g = group.0 as usize;
                        if !ok || self.sc.groups[g] == node {
                            self.start_failed[g] = !ok;
                        }
                        if !ok {
                            // The daemon stopped the group again.
                            self.nodes[node].held &= !(1 << group.0);
                            self.cause(FAILED_START_STANDBY + self.settle_window(), "failed start");
                        }
                        1 << group.0
                    }
                    ActionDone::Released { group, ok } => {
                        self.log(Some(node), || {
                            format!("action done: release group {} ok={ok}", group.0)
                        });
                        let stops = self.opts.sabotage != Some(Sabotage::ReleaseLeavesRunning);
                        if ok && stops {
                            self.nodes[node].held &= !(1 << group.0);
                        } else if !ok {
                            self.cause(self.settle_window(), "failed stop");
                        }
                        1 << group.0
                    }
                    ActionDone::Fenced { .. } => 0,
                };
                self.nodes[node].busy &= !bit;
                let now = self.instant();
                self.nodes[node]
                    .hb
                    .as_mut()
                    .unwrap()
                    .handle_action_done(now, done);
                self.after(node);
            }
            Ev::FenceDone {
                node,
                epoch,
                target,
                result,
            } => {
                self.log(Some(node), || {
                    format!("fence of {} done: {result:?}", Scenario::node_name(target))
                });
                self.cause(self.settle_window(), "fence");
                // The device acts whether or not the node that asked still runs.
                let resets = self.opts.sabotage != Some(Sabotage::FenceResetsNothing);
                if result == FenceResult::Ok && resets && self.nodes[target].hb.is_some() {
                    self.log(Some(target), || "reset by STONITH".into());
                    self.stop(target);
                    let at = self.now + self.sc.restart_delay;
                    self.schedule_start(target, at);
                }
                if self.nodes[node].epoch == epoch && self.nodes[node].hb.is_some() {
                    let now = self.instant();
                    self.nodes[node].hb.as_mut().unwrap().handle_action_done(
                        now,
                        ActionDone::Fenced {
                            node: NodeId(target as u8),
                            result,
                        },
                    );
                    self.after(node);
                }
            }
            Ev::Start { node } => {
                self.nodes[node].start_pending = false;
                if self.nodes[node].hb.is_none() {
                    self.start(node);
                }
            }
            Ev::Fault(f) => self.fault(f),
            Ev::Heal { id } => {
                self.partitions.retain(|p| p.0 != id);
                self.log(None, || format!("partition {id} heals"));
                self.recompute_cuts();
            }
            Ev::PingReply { node, epoch, ping } => {
                if self.nodes[node].epoch != epoch || !self.reaches_ping(node, ping) {
                    return;
                }
                let now = self.instant();
                let id = NodeId((self.sc.nodes + ping) as u8);
                if let Some(hb) = self.nodes[node].hb.as_mut() {
                    if hb.handle_ping_reply(now, id).is_err() {
                        self.violation(format!("{} is no ping node", Scenario::ping_name(ping)));
                    }
                    self.after(node);
                }
            }
            Ev::PingRestore { node, ping } => {
                match node {
                    Some(i) => self.nodes[i].ping_lost &= !(1 << ping),
                    None => self.ping_down &= !(1 << ping),
                }
                self.ping_changed_at = Some(self.now);
                self.log(node, || {
                    format!("hears {} again", Scenario::ping_name(ping))
                });
            }
            Ev::StallEnd { node, until } => {
                if self.nodes[node].stalled_until == Some(until) {
                    self.stall_end(node);
                }
            }
            Ev::Rotate { node: None } => {
                let (_, _, method) = self.sc.key_rotation.expect("a rotation");
                let mut k = self.keys.clone();
                k.insert(2, method, NEW_KEY).expect("key 2");
                self.new_keys = Some(k);
                self.log(None, || "key rotation: every node lists key 2".into());
                for i in 0..self.sc.nodes {
                    self.reload_keys(i);
                }
            }
            Ev::Rotate { node: Some(i) } => {
                self.nodes[i].rotated = true;
                self.log(Some(i), || "signs with key 2".into());
                self.reload_keys(i);
            }
            Ev::FaultsEnd => {
                self.faults_over = true;
                self.log(None, || {
                    "faults end: partitions heal, stopped nodes start, ping nodes answer".into()
                });
                self.partitions.clear();
                self.recompute_cuts();
                if self.ping_down != 0 || self.nodes.iter().any(|n| n.ping_lost != 0) {
                    self.ping_changed_at = Some(self.now);
                }
                self.ping_down = 0;
                for n in &mut self.nodes {
                    n.ping_lost = 0;
                }
                for i in 0..self.sc.nodes {
                    if self.nodes[i].hb.is_none() && !self.nodes[i].start_pending {
                        self.start(i);
                    }
                }
            }
        }
    }

    fn fault(&mut self, f: Fault) {
        if self.faults_over {
            return;
        }
        self.log(None, || format!("fault: {f:?}"));
        match f {
            Fault::Crash {
                node,
                restart_after,
            } => {
                if self.nodes[node].hb.is_some() {
                    self.log(Some(node), || "crashes".into());
                    self.stop(node);
                    if let Some(d) = restart_after {
                        self.schedule_start(node, self.now + d);
                    }
                }
            }
            Fault::Shutdown {
                node,
                restart_after,
            } => {
                if self.command(node, Command::Shutdown) {
                    if let Some(d) = restart_after {
                        // Started again once it has exited (if it has by then).
                        self.schedule(self.now + d, Ev::Start { node });
                    }
                }
            }
            Fault::Partition {
                side,
                media,
                one_way,
                heal_after,
            } => {
                let id = self.seq as usize;
                self.partitions.push((id, side, media, one_way));
                self.recompute_cuts();
                self.schedule(self.now + heal_after, Ev::Heal { id });
            }
            Fault::Standby { node, set } => {
                self.command(node, Command::Standby(set));
            }
            Fault::Takeover { node, set } => {
                self.command(node, Command::Takeover(set));
            }
            Fault::FailNext { node, group, stop } => {
                if stop {
                    self.nodes[node].fail_stop |= 1 << group;
                } else {
                    self.nodes[node].fail_start |= 1 << group;
                }
            }
            Fault::InjectWrongKey { to } => self.inject_wrong_key(to),
            Fault::InjectReplay { to } => self.inject_replay(to),
            Fault::PingLoss {
                node,
                ping,
                restore_after,
            } => {
                self.nodes[node].ping_lost |= 1 << ping;
                self.ping_changed_at = Some(self.now);
                let node = Some(node);
                self.schedule(self.now + restore_after, Ev::PingRestore { node, ping });
            }
            Fault::PingDown {
                ping,
                restore_after,
            } => {
                self.ping_down |= 1 << ping;
                self.ping_changed_at = Some(self.now);
                let node = None;
                self.schedule(self.now + restore_after, Ev::PingRestore { node, ping });
            }
            Fault::Stall { node, ms } => self.stall(node, ms),
        }
    }

    /// Node `i`'s daemon stops running for `ms`: every live peer must see it dead in time.
    fn stall(&mut self, i: usize, ms: u64) {
        if self.nodes[i].hb.is_none() || self.nodes[i].stalled_until.is_some() {
            return;
        }
        self.log(Some(i), || format!("stalls for {ms} ms"));
        self.out.stats.stalls += 1;
        self.nodes[i].stalled_until = Some(self.now + ms);
        // Its own status must look dead to it afterwards if its comm was up (before, the
        // dead time is `initdead`) and the stall outlasts the longest dead time it advertises
        // (deadtime + 2 s in its first 5 s).
        self.nodes[i].stall_must_show =
            self.nodes[i].comm_up_at.is_some() && ms > self.sc.deadtime + 2000 + self.sc.keepalive;
        self.stalled_at = Some(self.now);
        self.cause(ms + self.settle_window() + PARTITION_RESTART, "stall");
        self.expect_death(i);
        let until = self.now + ms;
        self.schedule(until, Ev::StallEnd { node: i, until });
    }

    fn stall_end(&mut self, i: usize) {
        if self.nodes[i].stalled_until.take().is_none() {
            return;
        }
        self.log(Some(i), || "runs again".into());
        self.stalled_at = Some(self.now);
        self.nodes[i].resumed_at = self.now;
        // Its own status did not come round for longer than a dead time: it must notice
        // (unless it said so before, or is on its way out already).
        let n = &mut self.nodes[i];
        let leaving =
            n.hb.as_ref()
                .is_some_and(|hb| hb.resources().shutting_down());
        n.owes_no_local_heartbeat = n.stall_must_show && !n.no_local_heartbeat && !leaving;
        // Peers whose time to notice has not run out yet need not have: it speaks again.
        let now = self.now;
        let sc = self.sc;
        let nodes = &self.nodes;
        self.pending
            .retain(|p| p.dead != i || detection_deadline(sc, &nodes[p.peer], p) < now);
        self.after(i);
    }

    /// Node `i`'s keys changed (authkeys re-read).
    fn reload_keys(&mut self, i: usize) {
        let keys = self.keys_for(i);
        if let Some(hb) = self.nodes[i].hb.as_mut() {
            if let Err(e) = hb.set_keys(keys) {
                self.violation(format!(
                    "{} refused its new keys: {e:?}",
                    Scenario::node_name(i)
                ));
            }
        }
    }

    fn command(&mut self, node: usize, cmd: Command) -> bool {
        let (now, wall) = (self.instant(), self.wall());
        let Some(hb) = self.nodes[node].hb.as_mut() else {
            return false;
        };
        let r = hb.handle_command(now, wall, cmd);
        self.digest
            .words(&[REC_COMMAND, self.now, node as u64, r.is_ok() as u64]);
        self.log(Some(node), || format!("command {cmd:?}: {r:?}"));
        self.cause(self.settle_window() + 10_000, "command");
        self.after(node);
        r.is_ok()
    }

    fn recompute_cuts(&mut self) {
        let n = self.sc.nodes;
        for row in &mut self.cut {
            row.iter_mut().for_each(|c| *c = 0);
        }
        for &(_, side, media, one_way) in &self.partitions {
            for a in 0..n {
                for b in 0..n {
                    let (sa, sb) = (side & (1 << a) != 0, side & (1 << b) != 0);
                    if sa && !sb {
                        self.cut[a][b] |= media;
                        if !one_way {
                            self.cut[b][a] |= media;
                        }
                    }
                }
            }
        }
        self.cause(self.settle_window(), "connectivity");
    }

    fn schedule_start(&mut self, node: usize, at: u64) {
        if !self.nodes[node].start_pending {
            self.nodes[node].start_pending = true;
            self.schedule(at, Ev::Start { node });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Node life.

    fn start(&mut self, i: usize) {
        let sc = self.sc;
        let n = &mut self.nodes[i];
        n.generation += 1;
        n.epoch += 1;
        n.started_at = self.now;
        n.held = 0;
        n.busy = 0;
        n.rx = vec![Rx::default(); sc.nodes];
        n.comm_up_at = None;
        n.considers_dead = 0;
        n.ipfail_giveup = None;
        n.no_local_heartbeat = false;
        n.owes_no_local_heartbeat = false;
        let old: Vec<Captured> = n.recent.drain(..).collect();
        for c in old {
            if n.old.len() == OLD_PACKETS {
                n.old.pop_front();
            }
            n.old.push_back(c);
        }
        let name = Scenario::node_name(i);
        let mut uuid = [0x5a; 16];
        uuid[0] = i as u8 + 1;
        let generation = n.generation;
        let seed = sc.seed ^ ((i as u64) << 56) ^ generation;
        let mut cfg = HeartbeatConfig::from_files(
            &self.hacf,
            &self.hares,
            &name,
            uuid,
            generation,
            self.keys_for(i),
            seed,
        )
        .expect("configuration");
        for (m, kind) in sc.media.iter().enumerate() {
            if *kind == MediumKind::Compact {
                cfg.engine.media[m].encoding = Encoding::Compact;
            }
        }
        let hb = Hb::new(&cfg, self.instant(), self.wall()).expect("node starts");
        self.nodes[i].hb = Some(Box::new(hb));
        self.log(Some(i), || format!("starts, generation {generation}"));
        self.cause(self.settle_window(), "start");
        // A node coming back is heard again: deaths pending for it are moot.
        self.pending.retain(|p| p.dead != i);
        self.after(i);
    }

    /// The node stops at once (crash, reset, reboot, exit): it holds nothing from now on.
    fn stop(&mut self, i: usize) {
        if self.nodes[i].hb.is_none() {
            return;
        }
        self.nodes[i].hb = None;
        self.nodes[i].epoch += 1;
        self.nodes[i].held = 0;
        self.nodes[i].busy = 0;
        self.nodes[i].next_timeout = None;
        self.nodes[i].stalled_until = None;
        self.cause(self.settle_window(), "stop");
        self.pending.retain(|p| p.peer != i);
        self.expect_death(i);
    }

    /// Every live peer that has node `i` alive must notice that it went silent, in time.
    fn expect_death(&mut self, i: usize) {
        self.pending.retain(|p| p.dead != i);
        for p in 0..self.sc.nodes {
            let Some(hb) = self.nodes[p].hb.as_ref() else {
                continue;
            };
            if p == i {
                continue;
            }
            let status = hb.node(NodeId(i as u8)).map(|n| n.status());
            if status != Some(NodeStatus::Dead) {
                self.pending.push(Pending {
                    peer: p,
                    peer_epoch: self.nodes[p].epoch,
                    dead: i,
                    crash_at: self.now,
                    peer_comm_up: hb.is_comm_up(),
                });
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // After every input to a node: its packets, its events.

    fn after(&mut self, i: usize) {
        let now = self.instant();
        loop {
            let Some(hb) = self.nodes[i].hb.as_mut() else {
                return;
            };
            let Some(tx) = hb.poll_transmit(now, &mut self.buf) else {
                break;
            };
            let bytes: Rc<[u8]> = Rc::from(&self.buf[..tx.len]);
            self.transmit(
                i,
                tx.media.iter().map(|m| m.index()).collect(),
                bytes,
                tx.encoding,
            );
        }
        // Echoes to the ping nodes this node reaches are answered.
        let epoch = self.nodes[i].epoch;
        while let Some(id) = self.nodes[i].hb.as_mut().and_then(|hb| hb.poll_ping()) {
            let ping = id.index() - self.sc.nodes;
            let ignored = self.opts.sabotage == Some(Sabotage::PingNodesIgnoreNode1)
                && i == 0
                && self.now >= 20_000;
            if self.reaches_ping(i, ping) && !ignored {
                self.schedule(
                    self.now + PING_RTT,
                    Ev::PingReply {
                        node: i,
                        epoch,
                        ping,
                    },
                );
            }
        }
        let mut reboot = false;
        let mut exit = None;
        loop {
            let Some(hb) = self.nodes[i].hb.as_mut() else {
                return;
            };
            let Some(e) = hb.poll_event() else {
                break;
            };
            self.record_event(i, &e);
            match e {
                Event::Membership(m) => self.membership(i, m),
                Event::Acquire(g) => self.acquire(i, g),
                Event::Release(g) => self.release(i, g),
                Event::Fence(t) => {
                    let target = t.index();
                    let delay = self.sc.fence_delay + self.rng.below(self.sc.fence_delay + 1);
                    let fails = !self.faults_over && self.rng.chance(self.sc.fence_fail);
                    let result = if !fails {
                        FenceResult::Ok
                    } else if self.rng.chance(300) {
                        FenceResult::BadHost
                    } else {
                        FenceResult::Failed
                    };
                    self.log(Some(i), || {
                        format!("fences {}", Scenario::node_name(target))
                    });
                    let epoch = self.nodes[i].epoch;
                    self.schedule(
                        self.now + delay,
                        Ev::FenceDone {
                            node: i,
                            epoch,
                            target,
                            result,
                        },
                    );
                }
                Event::Reboot => reboot = true,
                Event::Exit { restart } => exit = Some(restart),
                Event::Log(l) => {
                    if self.verbose {
                        let text = self.nodes[i].hb.as_ref().unwrap().log_line(l).to_string();
                        self.log(Some(i), || format!("log: {text}"));
                    }
                }
                Event::BadResourceMessage { from, error } => self.violation(format!(
                    "{} got a resource message from {} it cannot parse: {error:?}",
                    Scenario::node_name(i),
                    Scenario::node_name(from.index())
                )),
                Event::OutOfOrder { .. } => self.out.stats.out_of_order += 1,
                Event::Ipfail(l) => self.ipfail(i, l),
                Event::IpfailMessageNotSent { error } => self.violation(format!(
                    "{} could not send an ipfail message: {error:?}",
                    Scenario::node_name(i)
                )),
                Event::ResourceMessageNotSent { error } => self.violation(format!(
                    "{} could not send a resource message: {error:?}",
                    Scenario::node_name(i)
                )),
            }
        }
        let n = &mut self.nodes[i];
        if let Some(hb) = n.hb.as_ref() {
            n.next_timeout = hb.poll_timeout().map(|t| t.as_millis());
            // Who it has as dead, for the split rule.
            let mut dead = 0;
            for p in 0..self.sc.nodes {
                if hb.node(NodeId(p as u8)).map(|n| n.status()) == Some(NodeStatus::Dead) {
                    dead |= 1 << p;
                }
            }
            n.considers_dead = dead;
        }
        if reboot {
            self.log(Some(i), || "reboots (a stop failed)".into());
            self.stop(i);
            self.schedule_start(i, self.now + self.sc.restart_delay);
        } else if let Some(restart) = exit {
            if self.nodes[i].held != 0 {
                self.violation(format!(
                    "{} exits while it holds groups {:#b}",
                    Scenario::node_name(i),
                    self.nodes[i].held
                ));
            }
            self.log(Some(i), || format!("exits (restart: {restart})"));
            self.stop(i);
            // Once the faults are over, whatever stops comes back.
            if restart || self.faults_over {
                self.schedule_start(i, self.now + self.sc.restart_delay);
            }
        }
    }

    fn membership(&mut self, i: usize, e: engine::Event) {
        use engine::Event as E;
        match &e {
            E::CommUp => self.nodes[i].comm_up_at = Some(self.now),
            E::NoLocalHeartbeat => {
                self.nodes[i].no_local_heartbeat = true;
                self.nodes[i].owes_no_local_heartbeat = false;
            }
            // A ping node's death moves nothing by itself (ipfail's give-up is its own cause).
            E::NodeDead { node, .. } if node.index() >= self.sc.nodes => {}
            E::NodeDead { node, .. } => {
                self.out.stats.deaths += 1;
                self.cause(self.settle_window(), "death");
                self.check_detection(i, node.index());
            }
            E::Restarted { .. } | E::ReturnedAfterPartition { .. } => {
                self.cause(self.settle_window() + PARTITION_RESTART, "membership");
            }
            E::EventsDropped { count } => {
                self.violation(format!("{} dropped {count} events", Scenario::node_name(i)))
            }
            _ => {}
        }
        if self.verbose
            && !matches!(
                e,
                E::LinkUp { .. } | E::LostPackets { .. } | E::NoPacketsMissing { .. }
            )
        {
            self.log(Some(i), || format!("{e:?}"));
        }
    }

    /// ipfail's log: a give-up is a cause of moves, and gives everything away only for a
    /// difference in ping nodes (or a stall or ping change recent enough to explain a stale
    /// count).
    fn ipfail(&mut self, i: usize, l: ipfail::LogMsg) {
        use ipfail::LogMsg as L;
        if self.verbose {
            let line = l.line(&SimNames::new(self.sc)).to_string();
            self.log(Some(i), || format!("ipfail: {line}"));
        }
        match l {
            L::GivingUpFewer | L::GivingUpTold => {
                self.nodes[i].ipfail_giveup = Some(true);
                self.check_ipfail_giveup(i);
            }
            L::GivingUpForeign => self.nodes[i].ipfail_giveup = Some(false),
            L::AbortedGiveup { .. } => self.nodes[i].ipfail_giveup = None,
            L::GiveupCalled => {
                let decided = self.nodes[i].ipfail_giveup.take();
                if decided.is_some() {
                    self.out.stats.ipfail_giveups += 1;
                    self.cause(self.settle_window(), "ipfail");
                }
            }
            _ => {}
        }
    }

    /// ipfail decided to give everything away: its node must see fewer ping nodes than the
    /// peer, unless reachability changed or a daemon stalled recently (counts lag by up to
    /// `deadping` and the messages carrying them).
    fn check_ipfail_giveup(&mut self, i: usize) {
        let peer = 1 - i.min(1);
        let recent_window = self.sc.deadtime + 2 * self.sc.keepalive + IPFAIL_MESSAGES;
        let recent = |t: Option<u64>| t.is_some_and(|t| self.now <= t + recent_window);
        if recent(self.ping_changed_at) || recent(self.stalled_at) {
            return;
        }
        let (ours, theirs) = (self.ping_count(i), self.ping_count(peer));
        if ours >= theirs {
            self.violation(format!(
                "{}'s ipfail gives everything away while it sees {ours} ping node(s) and {}                  sees {theirs}",
                Scenario::node_name(i),
                Scenario::node_name(peer)
            ));
        }
    }

    fn acquire(&mut self, i: usize, g: GroupId) {
        let bit = 1u32 << g.0;
        let n = &mut self.nodes[i];
        n.held |= bit;
        n.busy |= bit;
        let fails =
            n.fail_start & bit != 0 || (!self.faults_over && self.rng.chance(self.sc.acquire_fail));
        n.fail_start &= !bit;
        let delay = self.action_delay(i);
        self.log(Some(i), || format!("acquires group {}", g.0));
        let epoch = self.nodes[i].epoch;
        self.schedule(
            self.now + delay,
            Ev::ActionDone {
                node: i,
                epoch,
                done: ActionDone::Acquired {
                    group: g,
                    ok: !fails,
                },
            },
        );
    }

    fn release(&mut self, i: usize, g: GroupId) {
        let bit = 1u32 << g.0;
        let n = &mut self.nodes[i];
        n.busy |= bit;
        let fails =
            n.fail_stop & bit != 0 || (!self.faults_over && self.rng.chance(self.sc.release_fail));
        n.fail_stop &= !bit;
        let delay = self.action_delay(i);
        self.log(Some(i), || format!("releases group {}", g.0));
        let epoch = self.nodes[i].epoch;
        self.schedule(
            self.now + delay,
            Ev::ActionDone {
                node: i,
                epoch,
                done: ActionDone::Released {
                    group: g,
                    ok: !fails,
                },
            },
        );
    }

    fn action_delay(&mut self, i: usize) -> u64 {
        let sc = self.sc;
        let mut d = sc.action_delay[i] + self.rng.below(sc.action_jitter + 1);
        if self.rng.chance(sc.slow_permille) {
            d += sc.slow_delay;
        }
        d
    }

    // -----------------------------------------------------------------------------------------
    // The network.

    fn transmit(&mut self, from: usize, media: Vec<usize>, bytes: Rc<[u8]>, enc: Encoding) {
        let mask = media.iter().fold(0u64, |m, &l| m | 1 << l);
        self.digest.words(&[REC_SEND, self.now, from as u64, mask]);
        self.digest.bytes(&bytes);
        let meta = Rc::new(self.meta(from, &bytes, enc));
        if self.verbose && !meta.status && !meta.text.starts_with("NS_") {
            let text = meta.text.clone();
            self.log(Some(from), || format!("sends {text}"));
        }
        for &m in &media {
            let n = &mut self.nodes[from];
            if n.recent.len() == OLD_PACKETS {
                n.recent.pop_front();
            }
            n.recent.push_back(Captured {
                medium: m,
                hg: meta.hg,
                bytes: bytes.clone(),
            });
            for to in 0..self.sc.nodes {
                if to == from {
                    continue;
                }
                self.out.stats.packets += 1;
                if self.cut[from][to] & (1 << m) != 0 {
                    continue;
                }
                let link = *self.sc.link(from, to, m);
                // The network calms down with the faults (a loss burst long enough to look
                // like a partition stays possible, only rarer).
                let loss = if self.faults_over {
                    link.loss.min(SETTLED_LOSS)
                } else {
                    link.loss
                };
                if self.rng.chance(loss) {
                    continue;
                }
                let copies = if self.rng.chance(link.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    let delay = link.delay + self.rng.below(link.jitter + 1);
                    let (bytes, corrupted) = if self.rng.chance(link.corrupt) {
                        let mut v = bytes.to_vec();
                        let at = self.rng.below(v.len() as u64) as usize;
                        v[at] ^= 1 << self.rng.below(8);
                        (Rc::from(v), true)
                    } else {
                        (bytes.clone(), false)
                    };
                    self.schedule(
                        self.now + delay,
                        Ev::Deliver {
                            to,
                            medium: m,
                            bytes,
                            meta: meta.clone(),
                            corrupted,
                        },
                    );
                }
            }
        }
    }

    fn meta(&self, from: usize, bytes: &[u8], enc: Encoding) -> Meta {
        let mut meta = Meta {
            from,
            status: false,
            hg: 0,
            seq: 0,
            dt: 0,
            text: String::new(),
        };
        let mut fill = |m: &Message<'_, DEFAULT_FIELDS>| {
            let t = m.get_str("t").unwrap_or("?");
            meta.status = t == "status";
            meta.hg = m.get_hex("hg").unwrap_or(0);
            meta.seq = m.get_hex("seq").unwrap_or(0);
            meta.dt = m.get_hex("dt").unwrap_or(0);
            if self.verbose {
                meta.text = m
                    .fields()
                    .iter()
                    .filter(|f| {
                        !matches!(
                            f.name,
                            b"src"
                                | b"srcuuid"
                                | b"hg"
                                | b"ts"
                                | b"ld"
                                | b"ttl"
                                | b"auth"
                                | b"destuuid"
                        )
                    })
                    .map(|f| {
                        format!(
                            "{}={}",
                            String::from_utf8_lossy(f.name),
                            String::from_utf8_lossy(f.value)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
            } else {
                meta.text = t.to_string();
            }
        };
        let mut scratch = [0u8; 2048];
        match enc {
            Encoding::Compact => {
                let mut wire = bytes.to_vec();
                if let Ok(p) = compact::decode::<DEFAULT_FIELDS>(&mut wire, &mut scratch) {
                    fill(&p.msg);
                }
            }
            _ => {
                if let Ok(p) = msg::decode::<DEFAULT_FIELDS>(bytes, &mut scratch) {
                    fill(&p.msg);
                }
            }
        }
        meta
    }

    fn deliver(&mut self, to: usize, medium: usize, bytes: &[u8], meta: &Meta, corrupted: bool) {
        let (now, wall) = (self.instant(), self.wall());
        let Some(hb) = self.nodes[to].hb.as_mut() else {
            return;
        };
        let r = hb.handle_packet(now, wall, MediumId(medium as u8), bytes);
        self.record_receive(to, medium, &r);
        match r {
            Ok(()) if corrupted => self.violation(format!(
                "{} took a corrupted packet from {} ({})",
                Scenario::node_name(to),
                Scenario::node_name(meta.from),
                meta.text
            )),
            Ok(()) => {
                if meta.status && self.verbose && self.opts.statuses {
                    let (from, hg, seq, dt) = (meta.from, meta.hg, meta.seq, meta.dt);
                    self.log(Some(to), || {
                        format!(
                            "took status of node{} hg={hg} seq={seq} dt={dt} on medium {medium}",
                            from + 1
                        )
                    });
                }
                if meta.status {
                    let rx = &mut self.nodes[to].rx[meta.from];
                    rx.last = Some((self.now, meta.dt));
                    if rx
                        .newest
                        .is_none_or(|(hg, seq, _)| (meta.hg, meta.seq) > (hg, seq))
                    {
                        rx.newest = Some((meta.hg, meta.seq, self.now));
                    }
                }
            }
            Err(RxError::BadAuth | RxError::Malformed) if !corrupted => self.violation(format!(
                "{} refused an intact packet from {} ({}): {r:?}",
                Scenario::node_name(to),
                Scenario::node_name(meta.from),
                meta.text
            )),
            Err(_) => {}
        }
        self.after(to);
    }

    // -----------------------------------------------------------------------------------------
    // Attacks.

    /// A recent packet of another node, signed with a wrong key.
    fn inject_wrong_key(&mut self, to: usize) {
        let candidates: Vec<Captured> = (0..self.sc.nodes)
            .filter(|&q| q != to)
            .flat_map(|q| self.nodes[q].recent.iter().cloned())
            .collect();
        if candidates.is_empty() {
            return;
        }
        let c = candidates[self.rng.below(candidates.len() as u64) as usize].clone();
        let kind = self.sc.media[c.medium];
        let mut scratch = [0u8; 2048];
        let mut wire = c.bytes.to_vec();
        let mut out = [0u8; 4096];
        let len = match kind {
            MediumKind::Compact => {
                let Ok(p) = compact::decode::<DEFAULT_FIELDS>(&mut wire, &mut scratch) else {
                    return;
                };
                let fields: Vec<Field<'_>> = p.msg.fields().to_vec();
                compact::encode(&fields, Some(&self.wrong_keys), &mut out)
            }
            _ => {
                let Ok(p) = msg::decode::<DEFAULT_FIELDS>(&c.bytes, &mut scratch) else {
                    return;
                };
                let fields: Vec<Field<'_>> = p
                    .msg
                    .fields()
                    .iter()
                    .filter(|f| f.name != b"auth")
                    .copied()
                    .collect();
                let format = if kind == MediumKind::Serial {
                    Format::Classic
                } else {
                    Format::Netstring
                };
                msg::encode(&fields, format, Some(&self.wrong_keys), &mut out)
            }
        };
        let Ok(len) = len else {
            return;
        };
        self.inject(
            to,
            c.medium,
            &out[..len],
            "a packet signed with a wrong key",
        );
    }

    /// A packet of an earlier generation of a node whose current generation `to` knows.
    fn inject_replay(&mut self, to: usize) {
        let Some(hb) = self.nodes[to].hb.as_ref() else {
            return;
        };
        let mut candidates = Vec::new();
        for q in 0..self.sc.nodes {
            if q == to {
                continue;
            }
            let known = hb.node(NodeId(q as u8)).map_or(0, |n| n.generation());
            candidates.extend(self.nodes[q].old.iter().filter(|c| c.hg < known).cloned());
        }
        if candidates.is_empty() {
            return;
        }
        let c = candidates[self.rng.below(candidates.len() as u64) as usize].clone();
        self.inject(to, c.medium, &c.bytes, "a packet of an old generation");
    }

    fn inject(&mut self, to: usize, medium: usize, bytes: &[u8], what: &str) {
        let (now, wall) = (self.instant(), self.wall());
        if self.nodes[to].hb.is_none() || self.nodes[to].stalled_until.is_some() {
            return;
        }
        self.out.stats.injected += 1;
        let enc = match self.sc.media[medium] {
            MediumKind::Bcast => Encoding::Netstring,
            MediumKind::Serial => Encoding::Classic,
            MediumKind::Compact => Encoding::Compact,
        };
        let what = format!("{what} ({})", self.meta(usize::MAX, bytes, enc).text);
        let Some(hb) = self.nodes[to].hb.as_mut() else {
            return;
        };
        let before = fingerprint(hb);
        let r = hb.handle_packet(now, wall, MediumId(medium as u8), bytes);
        let after = fingerprint(hb);
        let mut effects = Vec::new();
        while let Some(tx) = hb.poll_transmit(now, &mut self.buf) {
            effects.push(format!("a packet ({:?})", tx.encoding));
        }
        while let Some(e) = hb.poll_event() {
            if !matches!(e, Event::Membership(engine::Event::ReplayRejected { .. })) {
                effects.push(format!("{e:?}"));
            }
        }
        self.record_receive(to, medium, &r);
        self.log(Some(to), || format!("is sent {what}: {r:?}"));
        if r.is_ok() || before != after || !effects.is_empty() {
            self.violation(format!(
                "{} took {what}: {r:?}, state changed: {}, effects: {effects:?}",
                Scenario::node_name(to),
                before != after
            ));
        }
        self.after(to);
    }

    // -----------------------------------------------------------------------------------------
    // Invariants.

    fn check(&mut self) {
        let n = self.sc.nodes;
        // Ownership and splits change only with these.
        let mut sig = [0u64; MAX_NODES];
        for (i, node) in self.nodes.iter().enumerate() {
            sig[i] = u64::from(node.held)
                | u64::from(node.considers_dead) << 32
                | u64::from(node.hb.is_some()) << 63;
        }
        // While a split lasts its time is refreshed, so the scan runs as long as there is one.
        if sig == self.last_sig && !self.splits && !self.shared {
            self.check_pending();
            return;
        }
        self.last_sig = sig;
        self.splits = false;
        self.shared = false;
        // Splits: one of two running nodes has the other as dead.
        for a in 0..n {
            for b in a + 1..n {
                let (na, nb) = (&self.nodes[a], &self.nodes[b]);
                if na.hb.is_some()
                    && nb.hb.is_some()
                    && (na.considers_dead & (1 << b) != 0 || nb.considers_dead & (1 << a) != 0)
                {
                    self.split_at[a][b] = Some(self.now);
                    self.splits = true;
                }
            }
        }
        // Ownership.
        for g in 0..self.sc.groups.len() {
            let holders: u32 = (0..n)
                .filter(|&i| self.nodes[i].held & (1 << g) != 0)
                .fold(0, |m, i| m | (1 << i));
            if holders != self.holders[g] {
                self.out.stats.moves += 1;
                self.check_move(g, self.holders[g], holders);
                self.holders[g] = holders;
            }
            if holders.count_ones() > 1 {
                // Checked at every step while it lasts: the time allowed runs out.
                self.shared = true;
                self.check_owners(g, holders);
            }
        }
        self.check_pending();
    }

    /// Deaths not noticed in time.
    fn check_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut late = Vec::new();
        self.pending.retain(|p| {
            let peer = &self.nodes[p.peer];
            if peer.epoch != p.peer_epoch || peer.hb.is_none() {
                return false;
            }
            if peer.stalled_until.is_some() {
                // It notices nothing until it runs again.
                return true;
            }
            let by = detection_deadline(self.sc, peer, p);
            if self.now > by {
                late.push((*p, by));
                return false;
            }
            true
        });
        for (p, by) in late {
            self.violation(format!(
                "{} has not noticed that {} died at {} ms (due by {by} ms)",
                Scenario::node_name(p.peer),
                Scenario::node_name(p.dead),
                p.crash_at
            ));
        }
    }

    /// Two or more holders of group `g`.
    fn check_owners(&mut self, g: usize, holders: u32) {
        let names = || {
            (0..self.sc.nodes)
                .filter(|i| holders & (1 << i) != 0)
                .map(Scenario::node_name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.sc.stonith {
            let who = names();
            let states = self.states();
            self.violation(format!(
                "group {g} held by {who} at once, with STONITH ({states})"
            ));
            return;
        }
        // Without fencing two nodes may both hold a group while one has the other as dead
        // (a partition, or enough loss to look like one: the detection check makes sure a
        // death needs a dead time of silence), and for a bounded time after: the one that
        // hears the other again gives everything up 2 s later (or the other restarts).
        let bound = self.sc.deadtime
            + PARTITION_RESTART
            + (self.sc.groups.len() as u64 + 2) * (self.sc.max_action() + 100)
            + 5 * self.sc.keepalive;
        let nodes: Vec<usize> = (0..self.sc.nodes)
            .filter(|i| holders & (1 << i) != 0)
            .collect();
        for (k, &a) in nodes.iter().enumerate() {
            for &b in &nodes[k + 1..] {
                let ok = self.split_at[a][b].is_some_and(|t| self.now <= t + bound);
                if !ok {
                    let who = names();
                    let states = self.states();
                    self.violation(format!(
                        "group {g} held by {who} at once, and {} and {} have not been split \
                         within {bound} ms (last split: {:?}) ({states})",
                        Scenario::node_name(a),
                        Scenario::node_name(b),
                        self.split_at[a][b]
                    ));
                    return;
                }
            }
        }
    }

    /// A group's holders changed: something must have caused it.
    fn check_move(&mut self, g: usize, before: u32, after: u32) {
        let now = self.now;
        let explained = self
            .causes
            .iter()
            .rev()
            .any(|&(at, window, _)| at <= now && now <= at + window);
        if !explained {
            let last = self.causes.last().copied();
            self.violation(format!(
                "group {g} moved ({before:#b} -> {after:#b}) with nothing to cause it (last \
                 cause: {last:?})"
            ));
        }
        self.causes.retain(|&(at, window, _)| now <= at + window);
    }

    fn check_detection(&mut self, peer: usize, dead: usize) {
        let n = &self.nodes[peer];
        // No earlier than a dead time after the newest status taken.
        let base = n.rx[dead].newest.map_or(n.started_at, |(_, _, at)| at);
        if self.now <= base + self.sc.deadtime {
            self.violation(format!(
                "{} declared {} dead {} ms after its newest status (deadtime {} ms)",
                Scenario::node_name(peer),
                Scenario::node_name(dead),
                self.now - base,
                self.sc.deadtime
            ));
        }
        if let Some(k) = self
            .pending
            .iter()
            .position(|p| p.peer == peer && p.dead == dead)
        {
            let p = self.pending.remove(k);
            let by = detection_deadline(self.sc, &self.nodes[peer], &p);
            if self.now > by {
                self.violation(format!(
                    "{} declared {} dead at {} ms, due by {by} ms",
                    Scenario::node_name(peer),
                    Scenario::node_name(dead),
                    self.now
                ));
            }
        }
    }

    /// After the settle time: every group has exactly one holder, running (unless something
    /// happened too recently for the cluster to have settled: a loss burst taken for a death).
    fn final_check(&mut self) {
        self.now = self.sc.end;
        let window = self.settle_window();
        let end = self.now;
        if self
            .causes
            .iter()
            .any(|&(at, w, _)| at + w.min(window) > end)
        {
            self.out.stats.unsettled = true;
            return;
        }
        let running = (0..self.sc.nodes)
            .filter(|&i| self.nodes[i].hb.is_some())
            .count();
        if running == 0 {
            return;
        }
        for g in 0..self.sc.groups.len() {
            let holders: Vec<usize> = (0..self.sc.nodes)
                .filter(|&i| self.nodes[i].held & (1 << g) != 0)
                .collect();
            let busy = holders.iter().any(|&i| self.nodes[i].busy & (1 << g) != 0);
            // heartbeat's legacy mode leaves a group whose start failed stopped.
            let excused = holders.is_empty()
                && self.start_failed[g]
                && self.sc.auto_failback == AutoFailback::Legacy;
            if (holders.len() != 1 || busy) && !excused {
                let states = self.states();
                self.violation(format!(
                    "after settling, group {g} is held by {:?}{} ({states})",
                    holders
                        .iter()
                        .map(|&i| Scenario::node_name(i))
                        .collect::<Vec<_>>(),
                    if busy { " (action in flight)" } else { "" },
                ));
            }
        }
    }
}

// The outcome fingerprint's records (see [`crate::digest`]): a tag, then the words.
const REC_SEND: u64 = 1;
const REC_RECEIVE: u64 = 2;
const REC_COMMAND: u64 = 3;
const REC_EVENT: u64 = 4;
const REC_LOG: u64 = 5;
const REC_END: u64 = 6;

impl World<'_> {
    /// Records whether a node took a packet, or why not.
    fn record_receive(&mut self, to: usize, medium: usize, r: &Result<(), RxError>) {
        let code = match r {
            Ok(()) => 0,
            Err(RxError::Malformed) => 1,
            Err(RxError::BadAuth) => 2,
            Err(RxError::UnknownNode) => 3,
            Err(RxError::UnknownMedium) => 4,
            Err(RxError::Replay) => 5,
            Err(RxError::Stale) => 6,
        };
        let rec = [REC_RECEIVE, self.now, to as u64, medium as u64, code];
        self.digest.words(&rec);
    }

    /// Records what a node asked for, in words that do not depend on how hb-core's types are
    /// named or printed.
    fn record_event(&mut self, i: usize, e: &Event) {
        use engine::Event as E;
        let node = |n: &NodeId| n.index() as u64;
        let words: &[u64] = match e {
            Event::Acquire(g) => &[1, g.0 as u64],
            Event::Release(g) => &[2, g.0 as u64],
            Event::Fence(t) => &[3, node(t)],
            Event::Reboot => &[4],
            Event::Exit { restart } => &[5, *restart as u64],
            Event::OutOfOrder { .. } => &[6],
            Event::Log(l) => {
                let text = self.nodes[i].hb.as_ref().unwrap().log_line(*l).to_string();
                self.digest.words(&[REC_LOG, self.now, i as u64]);
                self.digest.bytes(text.as_bytes());
                return;
            }
            Event::Ipfail(l) => {
                let text = l.line(&SimNames::new(self.sc)).to_string();
                self.digest.words(&[REC_LOG, self.now, i as u64]);
                self.digest.bytes(text.as_bytes());
                return;
            }
            Event::Membership(m) => match m {
                E::NodeDead {
                    node: n,
                    heard_from,
                } => &[10, node(n), *heard_from as u64],
                E::NodeStatus { node: n, .. } => &[11, node(n)],
                E::Restarted {
                    node: n,
                    generation,
                } => &[12, node(n), *generation],
                E::ReturnedAfterPartition { node: n } => &[13, node(n)],
                E::CommUp => &[14],
                E::NoLocalHeartbeat => &[15],
                E::ShutdownStarted => &[16],
                E::ShutdownComplete => &[17],
                E::LinkDead { node: n, medium } => &[18, node(n), medium.index() as u64],
                E::LinkUp { node: n, medium } => &[19, node(n), medium.index() as u64],
                // The rest shows in the log lines and the packets.
                _ => &[9],
            },
            // Violations, counted at the end.
            _ => &[0],
        };
        self.digest.words(&[REC_EVENT, self.now, i as u64]);
        self.digest.words(words);
    }

    /// The end of the run: the counts, and every node's state.
    fn finish_digest(&mut self) {
        let s = self.out.stats;
        self.digest.words(&[
            REC_END,
            self.now,
            s.steps,
            s.packets,
            s.moves,
            s.deaths,
            s.injected,
            s.unsettled as u64,
            s.out_of_order,
            s.ipfail_giveups,
            s.stalls,
            self.out.violations.len() as u64,
        ]);
        for n in &self.nodes {
            self.digest
                .words(&[n.generation, n.held as u64, n.hb.is_some() as u64]);
            if let Some(hb) = &n.hb {
                self.digest.words(&fingerprint(hb));
            }
        }
        let digest = std::mem::replace(&mut self.digest, Digest::new());
        self.out.fingerprint = digest.finish();
    }
}

impl World<'_> {
    /// Every node's state, for a violation's message.
    fn states(&self) -> String {
        (0..self.sc.nodes)
            .map(|i| match &self.nodes[i].hb {
                None => format!("{}: down", Scenario::node_name(i)),
                Some(hb) => {
                    let r = hb.resources();
                    // Per peer: messages asked for again, the last seq, what it ACKed of ours.
                    let peers: Vec<String> = hb
                        .nodes()
                        .filter(|(id, _)| id.index() != i)
                        .map(|(id, n)| {
                            format!(
                                "node{} {:?} missing {} last {:?} acked {}",
                                id.index() + 1,
                                n.status(),
                                n.missing_count(),
                                n.last_seq(),
                                n.acked()
                            )
                        })
                        .collect();
                    format!(
                        "{}: {:?}, rscstatus {}, {:?}, i_hold {}, other_holds {}, other stable \
                         {}, standby {:?}, shutting down {}, peers [{}]",
                        Scenario::node_name(i),
                        hb.local_status(),
                        hb.rscstatus(),
                        hb.resource_state(),
                        r.i_hold(),
                        r.other_holds(),
                        r.other_is_stable(),
                        r.standby_state(),
                        r.shutting_down(),
                        peers.join(", ")
                    )
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Names of the simulated nodes, ping nodes and media, for log lines.
struct SimNames(Vec<String>);

impl SimNames {
    fn new(sc: &Scenario) -> SimNames {
        let nodes = (0..sc.nodes).map(Scenario::node_name);
        let pings = (0..sc.ping_nodes).map(Scenario::ping_name);
        SimNames(nodes.chain(pings).collect())
    }
}

impl ipfail::Names for SimNames {
    fn node(&self, id: NodeId) -> &str {
        self.0.get(id.index()).map_or("?", String::as_str)
    }
    fn link(&self, medium: MediumId) -> &str {
        ["m0", "m1", "m2", "m3"]
            .get(medium.index())
            .copied()
            .unwrap_or("?")
    }
}

/// When `p.peer` must have declared `p.dead` dead: a dead time after the last status it took
/// from it (`initdead` while its comm was not up), plus one keepalive.
fn detection_deadline(sc: &Scenario, peer: &SimNode, p: &Pending) -> u64 {
    let (base, dt) = peer.rx[p.dead]
        .last
        .unwrap_or((peer.started_at, sc.deadtime));
    let dt = if dt == 0 { sc.deadtime } else { dt };
    let interval = if p.peer_comm_up {
        dt
    } else {
        dt.max(sc.initdead)
    };
    let by = base.max(peer.started_at) + interval + sc.keepalive;
    // A peer stalled meanwhile notices when it runs again.
    if peer.resumed_at >= p.crash_at {
        by.max(peer.resumed_at)
    } else {
        by
    }
}

/// What a node's state looks like from outside: everything its accessors tell.
fn fingerprint(hb: &Hb) -> Vec<u64> {
    let mut f = vec![
        hb.local_status() as u64,
        hb.is_comm_up() as u64,
        hb.engine().next_seq(),
        hb.poll_timeout().map_or(0, |t| t.as_millis()),
        hb.resource_state() as u64,
        hb.i_hold().bits() as u64,
        hb.resources().other_holds().bits() as u64,
        hb.is_stable() as u64,
        hb.resources().standby_state() as u64,
        hb.engine().flow_control() as u64,
    ];
    for (id, n) in hb.nodes() {
        f.extend([
            id.0 as u64,
            n.status() as u64,
            n.generation(),
            n.last_seq().map_or(u64::MAX, |s| s),
            n.missing_count() as u64,
            n.acked(),
            n.dead_interval().as_millis(),
            (0..MAX_MEDIA).fold(0, |m, l| m | (n.link_up(l) as u64) << l),
            n.uuid()
                .map_or(0, |u| u64::from_le_bytes(u[..8].try_into().unwrap())),
        ]);
    }
    for (g, h) in hb.holdings() {
        f.push(g.0 as u64);
        f.push(match h {
            hb_core::resources::Holder::Local => 1000,
            hb_core::resources::Holder::Peer(n) => n.0 as u64,
            hb_core::resources::Holder::Nobody => 2000,
        });
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::LinkParams;

    /// A quiet two-node cluster with a ping node and ipfail (clean network, quick actions, no
    /// random failures), and the given faults.
    fn pair_with_ping(auto_failback: AutoFailback, faults: Vec<(u64, Fault)>) -> Scenario {
        let mut sc = Scenario::generate(1);
        sc.nodes = 2;
        sc.media = vec![MediumKind::Bcast];
        sc.auto_failback = auto_failback;
        sc.stonith = false;
        sc.groups = vec![0, 1];
        sc.keepalive = 200;
        sc.deadtime = 1000;
        sc.warntime = 750;
        sc.initdead = 2000;
        sc.key_rotation = None;
        sc.ping_nodes = 1;
        sc.ipfail = true;
        sc.links = vec![
            LinkParams {
                loss: 0,
                delay: 2,
                jitter: 1,
                dup: 0,
                corrupt: 0
            };
            4
        ];
        sc.start_at = vec![0, 100];
        sc.faults = faults;
        sc.fault_end = 50_000;
        sc.end = 70_000;
        sc.action_delay = vec![50, 50];
        sc.action_jitter = 10;
        sc.slow_permille = 0;
        sc.acquire_fail = 0;
        sc.release_fail = 0;
        sc.fence_delay = 300;
        sc.fence_fail = 0;
        sc
    }

    fn run_it(sc: &Scenario, sabotage: Option<Sabotage>) -> Outcome {
        run_with(
            sc,
            Options {
                timeline: true,
                statuses: false,
                sabotage,
            },
        )
    }

    #[test]
    fn the_node_that_loses_its_ping_node_hands_over_and_gets_its_group_back() {
        let loss = Fault::PingLoss {
            node: 0,
            ping: 0,
            restore_after: 10_000,
        };
        let out = run_it(
            &pair_with_ping(AutoFailback::On, vec![(20_000, loss)]),
            None,
        );
        assert!(out.passed(), "{:?}", out.violations);
        // node1 gives everything away, node2 gives node1's group back when the ping returns.
        assert_eq!(out.stats.ipfail_giveups, 2, "{:#?}", out.timeline);
        let lines = |pat: &str| out.timeline.iter().filter(|l| l.contains(pat)).count();
        assert_eq!(
            lines("node1: ipfail: Giving up because we were told that we have less ping nodes."),
            1
        );
        assert_eq!(
            lines("node2: ipfail: Giving up foreign resources (auto_failback)."),
            1
        );
        // With auto_failback off the group stays where ipfail put it.
        let out = run_it(
            &pair_with_ping(AutoFailback::Off, vec![(20_000, loss)]),
            None,
        );
        assert!(out.passed(), "{:?}", out.violations);
        assert_eq!(out.stats.ipfail_giveups, 1);
    }

    #[test]
    fn when_the_ping_node_dies_for_both_nothing_moves() {
        let quiet = run_it(&pair_with_ping(AutoFailback::On, vec![]), None);
        let down = Fault::PingDown {
            ping: 0,
            restore_after: 10_000,
        };
        let out = run_it(
            &pair_with_ping(AutoFailback::On, vec![(20_000, down)]),
            None,
        );
        assert!(out.passed(), "{:?}", out.violations);
        assert_eq!(out.stats.moves, quiet.stats.moves, "{:#?}", out.timeline);
        assert!(out
            .timeline
            .iter()
            .any(|l| l.contains("ipfail: Ping node count is balanced.")));
    }

    #[test]
    fn ipfail_acting_on_a_difference_that_is_not_there_is_caught() {
        let out = run_it(
            &pair_with_ping(AutoFailback::On, vec![]),
            Some(Sabotage::PingNodesIgnoreNode1),
        );
        assert!(
            out.violations
                .iter()
                .any(|v| v.contains("ipfail gives everything away")),
            "{:?}",
            out.violations
        );
    }

    #[test]
    fn a_stalled_daemon_is_seen_dead_notices_and_comes_back() {
        for stonith in [false, true] {
            let mut sc = pair_with_ping(
                AutoFailback::On,
                vec![(20_000, Fault::Stall { node: 0, ms: 4000 })],
            );
            sc.stonith = stonith;
            let out = run_it(&sc, None);
            assert!(out.passed(), "stonith {stonith}: {:?}", out.violations);
            assert_eq!(out.stats.stalls, 1);
            let seen = |pat: &str| out.timeline.iter().any(|l| l.contains(pat));
            assert!(
                seen("node2: NodeDead { node: NodeId(0)"),
                "stonith {stonith}"
            );
            if stonith {
                assert!(seen("node1: reset by STONITH"));
            } else {
                assert!(seen("node1: NoLocalHeartbeat"), "{:#?}", out.timeline);
            }
        }
    }

    #[test]
    fn a_key_rotation_kills_nobody() {
        let mut sc = pair_with_ping(AutoFailback::On, vec![]);
        sc.key_rotation = Some((15_000, 3000, Method::Sha256));
        let out = run_it(&sc, None);
        assert!(out.passed(), "{:?}", out.violations);
        assert_eq!(out.stats.deaths, 0, "{:#?}", out.timeline);
        assert!(out.timeline.iter().any(|l| l.contains("signs with key 2")));
    }
}
