//! The world: the simulation's state (nodes, queue, clock, partitions, what the checks
//! remember), its set-up from the scenario, and the main loop that takes the next timer or
//! queued input and hands it to the room that handles it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;

use hb_core::auth::{Keyring, Method};
use hb_core::config::{HaCf, HaResources};
use hb_core::engine::{MediumId, NodeId, DEFAULT_HISTORY_BYTES, MAXMSGHIST};
use hb_core::heartbeat::Heartbeat;
use hb_core::ipfail;
use hb_core::relay::FenceArbiter;
use hb_core::resources::{ActionDone, FenceResult, MonitorConfig, MonitorRequest, RQSTDELAY};
use hb_core::time::Instant;

use crate::digest::Digest;
use crate::rng::Rng;
use crate::scenario::{Fault, Scenario, MAX_GROUPS, MAX_MEDIA, MAX_NODES, MAX_PING_NODES};

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
pub(super) const WALL_START: u64 = 0x6b02_14a8;
pub(super) const KEY: &[u8] = b"simulated cluster key";
/// The key a rotation switches to (index 2).
pub(super) const NEW_KEY: &[u8] = b"the next cluster key";
pub(super) const WRONG_KEY: &[u8] = b"an attacker's guess";
/// Packets of earlier incarnations kept per node for replay attacks.
pub(super) const OLD_PACKETS: usize = 16;
/// `ResourceManager` runs `hb_standby` this long after a failed start (30 s, hb-core's
/// `FAILED_START_STANDBY_DELAY`).
pub(super) const FAILED_START_STANDBY: u64 = 30_000;
/// Loss per mille at most once the faults are over.
pub(super) const SETTLED_LOSS: u64 = 20;
/// A node returning after a partition makes both sides give up and restart 2 s later.
pub(super) const PARTITION_RESTART: u64 = 2000;
/// hb-core's `HEAL_REPORT_TIMEOUT` (ms): two nodes settle a healed split without a restart.
pub(super) const HEAL_REPORT: u64 = 1000;
/// A ping node answers an echo this long after it was sent.
pub(super) const PING_RTT: u64 = 3;
/// ipfail learns of a ping change within `deadping` and a keepalive, and the counts travel
/// (with retransmissions) within this much more.
pub(super) const IPFAIL_MESSAGES: u64 = 5000;

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
    /// Resource monitoring: groups restarted in place, and given away.
    pub monitor_restarts: u64,
    pub monitor_giveaways: u64,
    /// Groups whose service was still down at the end on the node holding them, where the
    /// give-away cannot move them (`auto_failback legacy`, three or more nodes).
    pub monitor_left_down: u64,
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
    /// The network loses every `hb_heal` message (two nodes then each take the other for
    /// heartbeat 3.0.6 after a split, and both keep what they run).
    HealReportsLost,
    /// ha.cf without `env HB_FENCE_DELAY`: the two nodes of a split reset each other.
    NoFenceDelay,
    /// Resource monitoring's status checks say a group runs even when its service is down.
    ChecksAlwaysPass,
    /// The relay board resets whatever it is asked to: its fence arbitration is off (issue 12;
    /// the test-only switch that shows the fence-race invariant can fail).
    NoRelayArbitration,
}

// ---------------------------------------------------------------------------------------------
// The world.

/// What the simulator learnt about a packet when it was sent.
#[derive(Clone, Debug)]
pub(super) struct Meta {
    pub(super) from: usize,
    pub(super) status: bool,
    pub(super) hg: u64,
    pub(super) seq: u64,
    /// A status's `dt` (ms).
    pub(super) dt: u64,
    /// For the timeline: `t` and the interesting fields.
    pub(super) text: String,
}

#[derive(Debug)]
pub(super) enum Ev {
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
    /// `node`'s fence request for `target` reaches the relay board (it left the node, so
    /// the relay takes it whatever the node does meanwhile).
    RelayFence {
        node: usize,
        epoch: u32,
        target: usize,
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
    /// The fake daemon finished a monitoring check or restart of `node`'s.
    MonitorDone {
        node: usize,
        epoch: u32,
        request: MonitorRequest,
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
    pub(super) fn taker(&self) -> Option<usize> {
        match self {
            Ev::Deliver { to, .. } => Some(*to),
            Ev::ActionDone { node, .. }
            | Ev::FenceDone { node, .. }
            | Ev::MonitorDone { node, .. }
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

pub(super) struct Queued {
    pub(super) at: u64,
    pub(super) seq: u64,
    pub(super) ev: Ev,
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
pub(super) struct Rx {
    /// Arrival of the newest status (highest generation and sequence number) taken.
    pub(super) newest: Option<(u64, u64, u64)>,
    /// Arrival of the last status taken, of any age, and its `dt`.
    pub(super) last: Option<(u64, u64)>,
}

#[derive(Clone, Debug)]
pub(super) struct Captured {
    pub(super) medium: usize,
    pub(super) hg: u64,
    pub(super) bytes: Rc<[u8]>,
}

pub(super) struct SimNode {
    pub(super) hb: Option<Box<Hb>>,
    /// Generation of the running (or last) incarnation; the next start uses one more.
    pub(super) generation: u64,
    /// Bumped at every start and stop: results for an older life are dropped.
    pub(super) epoch: u32,
    pub(super) started_at: u64,
    /// Groups this node holds: from the start of their acquisition until their release
    /// completes (the fake daemon's truth).
    pub(super) held: u32,
    /// Groups with an action in flight.
    pub(super) busy: u32,
    pub(super) next_timeout: Option<u64>,
    /// Per sender.
    pub(super) rx: Vec<Rx>,
    /// Comm-up of the running incarnation.
    pub(super) comm_up_at: Option<u64>,
    /// Per peer: whether this node has that peer as dead (engine status).
    pub(super) considers_dead: u32,
    /// A start is scheduled.
    pub(super) start_pending: bool,
    /// The relay board reset the machine: it is held in reset and then boots until this
    /// time, so its daemon cannot start before, whatever start was due (a staggered first
    /// start, a restart after a crash).
    pub(super) down_until: u64,
    /// The next start or stop of these groups fails.
    pub(super) fail_start: u32,
    pub(super) fail_stop: u32,
    pub(super) recent: VecDeque<Captured>,
    pub(super) old: VecDeque<Captured>,
    /// Ping nodes that do not answer this node (its uplink to them failed).
    pub(super) ping_lost: u32,
    /// Its daemon is stalled until then.
    pub(super) stalled_until: Option<u64>,
    /// When it last ran again after a stall (it notices deaths then at the earliest).
    pub(super) resumed_at: u64,
    /// This incarnation reported `No local heartbeat`.
    pub(super) no_local_heartbeat: bool,
    /// It ran again after a stall and must say `No local heartbeat` at its first timeout.
    pub(super) owes_no_local_heartbeat: bool,
    /// Its current stall is long enough for that.
    pub(super) stall_must_show: bool,
    /// The give-up ipfail decided last (`Giving up …`), until it is carried out.
    pub(super) ipfail_giveup: Option<bool>,
    /// It signs with the rotated key.
    pub(super) rotated: bool,
    /// Resource monitoring (see `monitor`): groups whose service died here, or cannot run
    /// here; restarts in flight, and until when a group's actions wait for its restart.
    pub(super) svc_dead: u32,
    pub(super) svc_broken: u32,
    pub(super) restarting: u32,
    pub(super) restart_until: [u64; MAX_GROUPS],
    /// What the node's monitoring has done to each group it holds.
    pub(super) watch: [Watch; MAX_GROUPS],
    /// A give-away it logged, waiting for its standby line.
    pub(super) giving_away: Option<usize>,
}

/// Monitoring of one group on one node, as the checks see it: failed checks in a row (since
/// the last passing check or restart), restarts since the node took the group, and whether
/// the last restart failed.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Watch {
    pub(super) streak: u32,
    pub(super) restarts: u32,
    pub(super) restart_failed: bool,
}

/// A death a live peer has to notice.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pending {
    pub(super) peer: usize,
    pub(super) peer_epoch: u32,
    pub(super) dead: usize,
    pub(super) crash_at: u64,
    pub(super) peer_comm_up: bool,
}

pub(super) struct World<'s> {
    pub(super) sc: &'s Scenario,
    pub(super) hacf: HaCf,
    pub(super) hares: HaResources,
    pub(super) keys: Keyring,
    pub(super) wrong_keys: Keyring,
    pub(super) rng: Rng,
    pub(super) now: u64,
    pub(super) seq: u64,
    pub(super) queue: BinaryHeap<Reverse<Queued>>,
    pub(super) nodes: Vec<SimNode>,
    /// Active partitions: (id, side, media, one_way).
    pub(super) partitions: Vec<(usize, u32, u32, bool)>,
    /// `cut[from][to]`: media currently cut.
    pub(super) cut: Vec<Vec<u32>>,
    pub(super) faults_over: bool,
    /// Per pair (a < b): the last time one of them had the other as dead while both ran.
    pub(super) split_at: Vec<Vec<Option<u64>>>,
    /// Who reset each node last (STONITH), and the node's epoch (incarnation) it ended: a
    /// reset of an older incarnation says nothing about a fence asked for by a newer one.
    pub(super) reset_by: Vec<Option<(usize, u32)>>,
    /// When the relay board last reset each node on a peer's request.
    pub(super) relay_reset_at: Vec<Option<u64>>,
    /// The relay board's fence arbitration (scenarios with `relay_fence`).
    pub(super) relay: FenceArbiter<MAX_NODES>,
    /// Times of events that may move a group, and how long each may take to have its effect.
    pub(super) causes: Vec<(u64, u64, &'static str)>,
    /// Holders per group at the last check.
    pub(super) holders: Vec<u32>,
    /// What ownership and splits were computed from at the last check.
    pub(super) last_sig: [u64; MAX_NODES],
    /// A split was seen at the last check.
    pub(super) splits: bool,
    /// A group had two holders at the last check.
    pub(super) shared: bool,
    /// The last start of the group failed (legacy mode leaves such a group stopped).
    pub(super) start_failed: Vec<bool>,
    pub(super) pending: Vec<Pending>,
    /// Ping nodes down for everyone.
    pub(super) ping_down: u32,
    /// The last change of any node's ping reachability, and the last stall.
    pub(super) ping_changed_at: Option<u64>,
    pub(super) stalled_at: Option<u64>,
    /// Every node lists the rotated key.
    pub(super) new_keys: Option<Keyring>,
    pub(super) verbose: bool,
    pub(super) opts: Options,
    pub(super) out: Outcome,
    pub(super) buf: Vec<u8>,
    pub(super) digest: Digest,
    /// Monitoring's own randomness, so that it does not shift the network's.
    pub(super) mon_rng: Rng,
}

impl<'s> World<'s> {
    pub(super) fn new(sc: &'s Scenario, opts: Options) -> World<'s> {
        let verbose = opts.timeline;
        let mut text = sc.hacf();
        if opts.sabotage == Some(Sabotage::NoFenceDelay) {
            text = text
                .lines()
                .filter(|l| !l.starts_with("env HB_FENCE_DELAY="))
                .map(|l| format!("{l}\n"))
                .collect();
        }
        let hacf = HaCf::parse(&text, &mut |e| {
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
                down_until: 0,
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
                svc_dead: 0,
                svc_broken: 0,
                restarting: 0,
                restart_until: [0; MAX_GROUPS],
                watch: [Watch::default(); MAX_GROUPS],
                giving_away: None,
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
            reset_by: vec![None; n],
            relay_reset_at: vec![None; n],
            relay: FenceArbiter::new(),
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
            mon_rng: Rng::new(sc.seed ^ 0x6d6f_6e5f_726e_6700),
        };
        // hb-core must read ha.cf's monitoring lines as the scenario wrote them.
        let want = sc
            .monitoring
            .as_ref()
            .map(|m| (m.interval, m.failures(), m.restarts()));
        let got = MonitorConfig::from_hacf(&w.hacf)
            .map(|m| (m.interval.as_millis(), m.failures, m.restarts));
        if got != want {
            w.violation(format!(
                "ha.cf's monitoring reads as {got:?}, written as {want:?}"
            ));
        }

        for (i, &at) in sc.start_at.iter().enumerate() {
            w.nodes[i].start_pending = true;
            w.schedule(at, Ev::Start { node: i });
        }
        for (at, f) in &sc.faults {
            w.schedule(*at, Ev::Fault(*f));
        }
        if let Some(m) = &sc.monitoring {
            for (at, f) in &m.faults {
                w.schedule(*at, Ev::Fault(Fault::Service(*f)));
            }
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
    pub(super) fn keys_for(&self, i: usize) -> Keyring {
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
    pub(super) fn reaches_ping(&self, i: usize, p: usize) -> bool {
        (self.ping_down | self.nodes[i].ping_lost) & (1 << p) == 0
    }

    /// Ping nodes node `i` hears.
    pub(super) fn ping_count(&self, i: usize) -> u32 {
        (0..self.sc.ping_nodes)
            .filter(|&p| self.reaches_ping(i, p))
            .count() as u32
    }

    pub(super) fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at,
            seq: self.seq,
            ev,
        }));
    }

    pub(super) fn wall(&self) -> u64 {
        WALL_START + self.now / 1000
    }

    pub(super) fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    pub(super) fn log(&mut self, node: Option<usize>, text: impl FnOnce() -> String) {
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

    pub(super) fn violation(&mut self, text: String) {
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

    pub(super) fn cause(&mut self, window: u64, what: &'static str) {
        self.causes.push((self.now, window, what));
    }

    /// How long any single cause may take to move groups: the dead time (`initdead` at
    /// start), the start-up negotiation (`RQSTDELAY`), a STONITH, and a hand-over of every
    /// group (each group an action on each side, plus messages).
    pub(super) fn settle_window(&self) -> u64 {
        let sc = self.sc;
        sc.initdead.max(sc.deadtime)
            + 2 * sc.keepalive
            + RQSTDELAY.as_millis()
            + 2 * sc.fence_delay
            + (2 * sc.groups.len() as u64 + 4) * (sc.max_action() + 2 * sc.max_latency() + 300)
    }

    // -----------------------------------------------------------------------------------------
    // The main loop.

    pub(super) fn run(&mut self) {
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

    pub(super) fn process(&mut self, ev: Ev) {
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
                // The device acts whether or not the node that asked still runs. The relay
                // board reset its target when it took the request (`Ev::RelayFence`).
                let resets = self.opts.sabotage != Some(Sabotage::FenceResetsNothing)
                    && !self.sc.relay_fence;
                if result == FenceResult::Ok && resets && self.nodes[target].hb.is_some() {
                    // Two nodes with HB_FENCE_DELAY never both reset: the node that asked was
                    // itself reset by its target since it asked (issue 12's fence race; more
                    // nodes are left to the relay board's arbitration). The reset must have
                    // ended the very incarnation that asked: one that exited on its own after
                    // asking (a shutdown, a restart) was not reset, whoever reset an earlier
                    // one (hbsim seeds 36355 and 54846 took that for a race).
                    if self.sc.nodes == 2
                        && self.sc.fence_delay_env
                        && self.reset_by[node] == Some((target, epoch))
                    {
                        self.violation(format!(
                            "{} and {} reset each other (a fence race)",
                            Scenario::node_name(node),
                            Scenario::node_name(target)
                        ));
                    }
                    self.reset_by[target] = Some((node, self.nodes[target].epoch));
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
            Ev::RelayFence {
                node,
                epoch,
                target,
            } => self.relay_fence(node, epoch, target),
            Ev::Start { node } => {
                let down_until = self.nodes[node].down_until;
                if self.now < down_until {
                    self.log(Some(node), || {
                        "start waits: the machine is held in reset, then boots".into()
                    });
                    self.schedule(down_until, Ev::Start { node });
                    return;
                }
                self.nodes[node].start_pending = false;
                if self.nodes[node].hb.is_none() {
                    self.start(node);
                }
            }
            Ev::Fault(f) => self.fault(f),
            Ev::MonitorDone {
                node,
                epoch,
                request,
            } => self.monitor_done(node, epoch, request),
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
                    // Broken services are mended; one that died stays down until restarted.
                    n.svc_broken = 0;
                }
                for i in 0..self.sc.nodes {
                    if self.nodes[i].hb.is_none() && !self.nodes[i].start_pending {
                        if self.now < self.nodes[i].down_until {
                            self.schedule_start(i, self.nodes[i].down_until);
                        } else {
                            self.start(i);
                        }
                    }
                }
            }
        }
    }
}

/// Names of the simulated nodes, ping nodes and media, for log lines.
pub(super) struct SimNames(Vec<String>);

impl SimNames {
    pub(super) fn new(sc: &Scenario) -> SimNames {
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
