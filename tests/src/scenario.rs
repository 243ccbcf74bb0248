//! A scenario: everything one seed decides before the simulation starts — the cluster (nodes,
//! media, groups, `auto_failback`, STONITH, timings, authentication), the network (per link and
//! medium: loss, delay, jitter, duplication, corruption), the fake daemon (action times and
//! failures, fencing) and a schedule of faults. After `fault_end` every partition heals,
//! every stopped node starts again, every ping node answers everyone, actions and fences stop
//! failing, and the cluster has `end - fault_end` to settle.
//!
//! Resource monitoring ([`Monitoring`]) is drawn from a stream of its own, so that the seeds
//! without it make exactly the scenarios they made before it existed.

use std::fmt;

use hb_core::auth::Method;
use hb_core::config::AutoFailback;
use hb_core::resources::{StandbySet, DEFAULT_MONITOR_FAILURES, DEFAULT_MONITOR_RESTARTS};

use crate::rng::Rng;

/// Capacities of the simulated nodes' engines.
pub const MAX_NODES: usize = 8;
/// Ping nodes (`ping` lines) at most.
pub const MAX_PING_NODES: usize = 2;
pub const MAX_MEDIA: usize = 4;
pub const MAX_GROUPS: usize = 8;

/// How long after the faults the cluster is watched settling (and kept quiet).
pub const SETTLE: u64 = 90_000;

/// Seeds the stream [`Monitoring`] is drawn from (with the scenario's seed).
const MONITOR_STREAM: u64 = 0x6d6f_6e69_746f_7200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediumKind {
    /// `bcast ethN`: netstring packets.
    Bcast,
    /// `serial /dev/ttySN`: classic packets (every node on one shared line, as the simulator
    /// treats every medium as a broadcast domain).
    Serial,
    /// A serial line switched to our compact frames.
    Compact,
}

/// One direction of one medium between two nodes.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkParams {
    /// Packets lost, per mille (0–300).
    pub loss: u64,
    /// Latency in ms, plus 0..=jitter ms (so packets overtake each other).
    pub delay: u64,
    pub jitter: u64,
    /// Packets delivered twice, per mille.
    pub dup: u64,
    /// Packets with one byte flipped, per mille.
    pub corrupt: u64,
}

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// The node dies at once (power cut): everything it runs stops with it.
    Crash {
        node: usize,
        restart_after: Option<u64>,
    },
    /// SIGTERM: graceful shutdown (hand everything over, `shutdone`, exit).
    Shutdown {
        node: usize,
        restart_after: Option<u64>,
    },
    /// Cuts the nodes in `side` from the others on the media in `media`, both ways or (with
    /// `one_way`) only from `side` to the others, for `heal_after` ms.
    Partition {
        side: u32,
        media: u32,
        one_way: bool,
        heal_after: u64,
    },
    Standby {
        node: usize,
        set: StandbySet,
    },
    Takeover {
        node: usize,
        set: StandbySet,
    },
    /// The node's next start (or stop) of the group fails.
    FailNext {
        node: usize,
        group: usize,
        stop: bool,
    },
    /// A copy of a recent packet, signed with a wrong key, sent to `to`.
    InjectWrongKey {
        to: usize,
    },
    /// A packet from an earlier generation of some node, replayed to `to`.
    InjectReplay {
        to: usize,
    },
    /// The node stops hearing ping node `ping` (its own uplink fails) for `restore_after` ms.
    PingLoss {
        node: usize,
        ping: usize,
        restore_after: u64,
    },
    /// Ping node `ping` stops answering anyone for `restore_after` ms.
    PingDown {
        ping: usize,
        restore_after: u64,
    },
    /// The node's daemon stops running (its loop is stalled: no timers, no packets read, no
    /// action results taken) for `ms`, longer than the dead time, then goes on.
    Stall {
        node: usize,
        ms: u64,
    },
    /// A monitored group's service fails on a node ([`Monitoring::faults`]).
    Service(ServiceFault),
}

/// A service of a group failing on a node, for resource monitoring to catch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceFault {
    pub node: usize,
    pub group: usize,
    /// The service cannot run on that node at all until the faults end: its status checks and
    /// its restarts there fail (a broken disk, a bad configuration). Otherwise it died once,
    /// if the node ran it then, and a restart brings it back.
    pub broken: bool,
}

/// Resource monitoring: ha.cf's `env HB_MONITOR_*` lines, how the fake daemon's checks and
/// restarts behave, and the services failing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Monitoring {
    /// `HB_MONITOR_INTERVAL`, in ms (written in seconds when it is whole seconds).
    pub interval: u64,
    /// `HB_MONITOR_FAILURES`, `HB_MONITOR_RESTARTS`; `None`: not written (hb-core's defaults).
    pub failures: Option<u32>,
    pub restarts: Option<u32>,
    /// A status check takes 1..=check_delay ms.
    pub check_delay: u64,
    /// Status checks that fail by chance before `fault_end`, per mille (a check timing out).
    pub flaky: u64,
    /// Restarts whose start fails before `fault_end`, per mille.
    pub restart_fail: u64,
    /// Services failing, by time (before `fault_end`).
    pub faults: Vec<(u64, ServiceFault)>,
}

impl Monitoring {
    /// Failed checks in a row that make a restart, as hb-core is to read them from ha.cf.
    pub fn failures(&self) -> u32 {
        self.failures.unwrap_or(DEFAULT_MONITOR_FAILURES).max(1)
    }

    /// Restarts in place before the group is given away.
    pub fn restarts(&self) -> u32 {
        self.restarts.unwrap_or(DEFAULT_MONITOR_RESTARTS)
    }

    /// Drawn from its own stream (seeded by `seed`), a quarter of the time.
    fn generate(seed: u64, nodes: usize, groups: usize, fault_end: u64) -> Option<Monitoring> {
        let mut r = Rng::new(seed ^ MONITOR_STREAM);
        if !r.chance(250) {
            return None;
        }
        let interval = *r.pick(&[500, 750, 1000, 2000, 3000, 5000]);
        let failures = r.chance(700).then(|| r.range(1, 3) as u32);
        let restarts = r.chance(700).then(|| r.range(0, 2) as u32);
        let check_delay = r.range(5, 200);
        let flaky = if r.chance(300) { r.range(5, 100) } else { 0 };
        let restart_fail = if r.chance(300) { r.range(50, 500) } else { 0 };
        let mut faults: Vec<(u64, ServiceFault)> = (0..r.range(0, 4))
            .map(|_| {
                let at = r.range(2000, fault_end);
                let node = r.below(nodes as u64) as usize;
                let group = r.below(groups as u64) as usize;
                let broken = r.chance(350);
                (
                    at,
                    ServiceFault {
                        node,
                        group,
                        broken,
                    },
                )
            })
            .collect();
        faults.sort_by_key(|(at, _)| *at);
        Some(Monitoring {
            interval,
            failures,
            restarts,
            check_delay,
            flaky,
            restart_fail,
            faults,
        })
    }

    /// The `env` lines of ha.cf.
    fn hacf(&self) -> String {
        let mut s = if self.interval % 1000 == 0 {
            format!("env HB_MONITOR_INTERVAL={}\n", self.interval / 1000)
        } else {
            format!("env HB_MONITOR_INTERVAL={}ms\n", self.interval)
        };
        if let Some(n) = self.failures {
            s += &format!("env HB_MONITOR_FAILURES={n}\n");
        }
        if let Some(n) = self.restarts {
            s += &format!("env HB_MONITOR_RESTARTS={n}\n");
        }
        s
    }
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub nodes: usize,
    pub media: Vec<MediumKind>,
    pub auto_failback: AutoFailback,
    pub stonith: bool,
    /// The preferred node of each group, in haresources order.
    pub groups: Vec<usize>,
    pub keepalive: u64,
    pub deadtime: u64,
    pub warntime: u64,
    pub initdead: u64,
    pub auth: Method,
    /// Key rotation: at `.0` ms every node has a second key (index 2, method `.2`) and signs
    /// with it, node `i` switching at `.0 + i × .1` ms (authkeys rewritten and re-read on each
    /// in turn). Nodes started after `.0` list both keys and sign with the new one.
    pub key_rotation: Option<(u64, u64, Method)>,
    /// `ping` lines.
    pub ping_nodes: usize,
    /// `respawn hacluster /usr/lib/heartbeat/ipfail`: ipfail runs built in.
    pub ipfail: bool,
    /// `links[(from * nodes + to) * media + m]`.
    pub links: Vec<LinkParams>,
    /// When each node first starts (ms).
    pub start_at: Vec<u64>,
    /// Faults, by time.
    pub faults: Vec<(u64, Fault)>,
    pub fault_end: u64,
    pub end: u64,
    /// Each node's usual action time (ms), plus 0..=action_jitter.
    pub action_delay: Vec<u64>,
    pub action_jitter: u64,
    /// Actions that take `slow_delay` more, per mille.
    pub slow_permille: u64,
    pub slow_delay: u64,
    /// Random failures of starts and stops before `fault_end`, per mille.
    pub acquire_fail: u64,
    pub release_fail: u64,
    /// Fencing takes fence_delay..=2*fence_delay ms and fails (before `fault_end`) this often.
    pub fence_delay: u64,
    pub fence_fail: u64,
    /// `env HB_FENCE_DELAY` in ha.cf (two nodes with STONITH; issue 12): half of the random
    /// two-node STONITH scenarios draw it, and the hand-made fence-race scenarios set it.
    pub fence_delay_env: bool,
    /// STONITH through the relay board on every node (`stonith_host * hbrelay`, issue 12):
    /// the simulator plays the relay with hb-core's [`FenceArbiter`](hb_core::relay::FenceArbiter),
    /// which resets the target the moment it takes a request and answers when the pulse is
    /// over, or refuses a node it reset on a peer's request within the fence window. Only the
    /// fence-race scenarios ([`Scenario::fence_race`]) set it.
    pub relay_fence: bool,
    /// A daemon that exits with `restart`, or a node that rebooted, is back after this.
    pub restart_delay: u64,
    /// Resource monitoring, when ha.cf turns it on.
    pub monitoring: Option<Monitoring>,
}

impl Scenario {
    pub fn link(&self, from: usize, to: usize, medium: usize) -> &LinkParams {
        &self.links[(from * self.nodes + to) * self.media.len() + medium]
    }

    /// The longest one action can take.
    pub fn max_action(&self) -> u64 {
        self.action_delay.iter().max().copied().unwrap_or(0)
            + self.action_jitter
            + if self.slow_permille > 0 {
                self.slow_delay
            } else {
                0
            }
    }

    /// The longest a packet travels.
    pub fn max_latency(&self) -> u64 {
        self.links
            .iter()
            .map(|l| l.delay + l.jitter)
            .max()
            .unwrap_or(0)
    }

    pub fn generate(seed: u64) -> Scenario {
        let mut r = Rng::new(seed);
        let mut net = r.fork();
        let mut sched = r.fork();
        // Two nodes, the supported production case, most of the time.
        let nodes = if r.chance(600) {
            2
        } else {
            r.range(3, MAX_NODES as u64) as usize
        };
        let media_count = match nodes {
            2 => r.range(1, 3),
            3 | 4 => r.range(1, 2),
            _ => 1 + r.below(4) / 3,
        } as usize;
        let mut media = vec![MediumKind::Bcast];
        for _ in 1..media_count {
            media.push(*r.pick(&[MediumKind::Bcast, MediumKind::Serial, MediumKind::Compact]));
        }
        let auto_failback = *r.pick(&[AutoFailback::On, AutoFailback::Off, AutoFailback::Legacy]);
        let stonith = r.chance(500);
        let group_count = if nodes == 2 {
            r.range(1, 4)
        } else {
            r.range(1, (nodes as u64 + 2).min(MAX_GROUPS as u64))
        } as usize;
        let groups = (0..group_count)
            .map(|_| r.below(nodes as u64) as usize)
            .collect();
        // (Bigger clusters, which cost the simulator the square of their size, beat slower.)
        let keepalive = if nodes <= 4 {
            *r.pick(&[100, 200, 250, 500, 1000])
        } else {
            *r.pick(&[500, 750, 1000])
        };
        let deadtime = (keepalive * r.range(4, 10)).max(500);
        let warntime = deadtime * 3 / 4;
        let initdead = deadtime * r.range(2, 3);
        let auth = *r.pick(&[Method::Crc, Method::Md5, Method::Sha1, Method::Sha256]);
        let ping_nodes = if r.chance(if nodes == 2 { 500 } else { 150 }) {
            r.range(1, MAX_PING_NODES as u64) as usize
        } else {
            0
        };
        let ipfail = ping_nodes > 0 && r.chance(800);
        let key_rotation = r.chance(150).then(|| {
            let method = *r.pick(&[Method::Md5, Method::Sha1, Method::Sha256]);
            (r.range(5_000, 40_000), r.range(0, 3 * deadtime), method)
        });
        // Drawn last of `r`'s, so that every other draw (and every scenario without STONITH
        // on two nodes) stays as it was before the delay was drawn.
        let fence_delay_env = nodes == 2 && stonith && r.chance(500);

        // Each medium has a character (clean, lossy, bad); each direction of it varies a little.
        let mut links = Vec::with_capacity(nodes * nodes * media_count);
        let quality: Vec<u64> = (0..media_count).map(|_| net.below(3)).collect();
        for _from in 0..nodes {
            for _to in 0..nodes {
                for q in &quality {
                    let loss = match q {
                        0 => 0,
                        1 => net.range(1, 50),
                        _ => net.range(50, 300),
                    };
                    links.push(LinkParams {
                        loss,
                        delay: net.range(1, 10),
                        jitter: net.range(0, 30),
                        dup: if net.chance(300) { net.range(1, 30) } else { 0 },
                        corrupt: if net.chance(200) { net.range(1, 10) } else { 0 },
                    });
                }
            }
        }

        let start_at = (0..nodes)
            .map(|_| {
                if sched.chance(150) {
                    sched.range(initdead, initdead + 20_000)
                } else {
                    sched.range(0, 3000)
                }
            })
            .collect();
        let fault_end = sched.range(40_000, 80_000);
        let mut faults = Vec::new();
        for _ in 0..sched.range(0, 8) {
            let at = sched.range(2000, fault_end);
            let node = sched.below(nodes as u64) as usize;
            let restart_after = (!sched.chance(200)).then(|| sched.range(1000, 20_000));
            let roll = sched.below(if ping_nodes > 0 { 130 } else { 108 });
            let fault = match roll {
                0..=19 => Fault::Crash {
                    node,
                    restart_after,
                },
                20..=29 => Fault::Shutdown {
                    node,
                    restart_after,
                },
                30..=49 => {
                    let side = loop {
                        let s = sched.below(1 << nodes) as u32;
                        if s != 0 && s != (1 << nodes) - 1 {
                            break s;
                        }
                    };
                    let all = (1u32 << media_count) - 1;
                    let media = if sched.chance(700) {
                        all
                    } else {
                        (sched.below(all as u64) as u32 + 1) & all
                    };
                    Fault::Partition {
                        side,
                        media,
                        one_way: sched.chance(200),
                        heal_after: sched.range(500, 3 * deadtime + 5000),
                    }
                }
                50..=59 if nodes == 2 => Fault::Standby {
                    node,
                    set: *sched.pick(&[
                        StandbySet::All,
                        StandbySet::Local,
                        StandbySet::Foreign,
                        StandbySet::Failback,
                    ]),
                },
                60..=64 if nodes == 2 => Fault::Takeover {
                    node,
                    set: *sched.pick(&[
                        StandbySet::All,
                        StandbySet::Local,
                        StandbySet::Foreign,
                        StandbySet::Failback,
                    ]),
                },
                65..=79 => Fault::FailNext {
                    node,
                    group: sched.below(group_count as u64) as usize,
                    stop: sched.chance(250),
                },
                80..=89 => Fault::InjectWrongKey { to: node },
                90..=99 => Fault::InjectReplay { to: node },
                100..=107 => Fault::Stall {
                    node,
                    // Past the dead time and a keepalive (so peers must have seen it dead),
                    // up to three dead times.
                    ms: sched.range(deadtime + 2 * keepalive + 100, 3 * deadtime + 2000),
                },
                108..=121 => Fault::PingLoss {
                    node,
                    ping: sched.below(ping_nodes as u64) as usize,
                    restore_after: sched.range(500, 4 * deadtime + 10_000),
                },
                _ => Fault::PingDown {
                    ping: sched.below(ping_nodes as u64) as usize,
                    restore_after: sched.range(500, 4 * deadtime + 10_000),
                },
            };
            faults.push((at, fault));
        }
        faults.sort_by_key(|(at, _)| *at);

        let action_delay = (0..nodes).map(|_| sched.range(10, 300)).collect();
        let slow = sched.chance(300);
        Scenario {
            seed,
            nodes,
            media,
            auto_failback,
            stonith,
            groups,
            keepalive,
            deadtime,
            warntime,
            initdead,
            auth,
            key_rotation,
            ping_nodes,
            ipfail,
            links,
            start_at,
            faults,
            fault_end,
            end: fault_end + SETTLE,
            action_delay,
            action_jitter: sched.range(0, 200),
            slow_permille: if slow { sched.range(10, 100) } else { 0 },
            slow_delay: sched.range(1000, 4000),
            acquire_fail: if sched.chance(300) {
                sched.range(10, 150)
            } else {
                0
            },
            release_fail: if sched.chance(150) {
                sched.range(5, 50)
            } else {
                0
            },
            fence_delay: sched.range(100, 2000),
            fence_fail: *sched.pick(&[0, 0, 200, 500]),
            fence_delay_env,
            relay_fence: false,
            restart_delay: sched.range(1000, 5000),
            monitoring: Monitoring::generate(seed, nodes, group_count, fault_end),
        }
    }

    /// Issue 12's fence race, the `fence-race` family of seeds (`hbsim --fence-race`): two
    /// nodes with STONITH through the relay board ([`Scenario::relay_fence`]) split — every
    /// medium cut both ways, both nodes alive — once or twice, from a few seconds (both
    /// declare the other dead and ask the relay at about the same time) to long enough for
    /// the reset node to boot and, the split lasting, ask again. The rest (groups, timings,
    /// media, start-up) is drawn as for [`Scenario::generate`]; the network is clean but for
    /// latency, actions and fences do not fail, so what the seed tests is the race.
    pub fn fence_race(seed: u64) -> Scenario {
        let mut sc = Scenario::generate(seed);
        let mut r = Rng::new(seed ^ 0x6665_6e63_655f_7261);
        sc.nodes = 2;
        sc.stonith = true;
        sc.relay_fence = true;
        sc.fence_delay_env = false;
        sc.ping_nodes = 0;
        sc.ipfail = false;
        sc.key_rotation = None;
        sc.monitoring = None;
        sc.acquire_fail = 0;
        sc.release_fail = 0;
        sc.fence_fail = 0;
        sc.groups = (0..r.range(1, 3)).map(|_| r.below(2) as usize).collect();
        let links = 2 * 2 * sc.media.len();
        sc.links = (0..links)
            .map(|_| LinkParams {
                loss: 0,
                delay: r.range(1, 5),
                jitter: r.below(4),
                dup: 0,
                corrupt: 0,
            })
            .collect();
        sc.start_at = vec![0, r.below(3000)];
        let all_media = (1u32 << sc.media.len()) - 1;
        let first = r.range(15_000, 25_000);
        let mut faults = vec![(
            first,
            Fault::Partition {
                side: 1,
                media: all_media,
                one_way: false,
                heal_after: r.range(2_000, 40_000),
            },
        )];
        if r.chance(300) {
            faults.push((
                first + 70_000,
                Fault::Partition {
                    side: 1 << r.below(2),
                    media: all_media,
                    one_way: false,
                    heal_after: r.range(2_000, 20_000),
                },
            ));
        }
        sc.faults = faults;
        sc.fault_end = 120_000;
        sc.end = sc.fault_end + SETTLE;
        sc
    }

    pub fn node_name(i: usize) -> String {
        format!("node{}", i + 1)
    }

    /// Ping node `p`'s address (its node name).
    pub fn ping_name(p: usize) -> String {
        format!("10.255.0.{}", p + 1)
    }

    /// `env HB_FENCE_DELAY` (ms) in ha.cf, if any. Issue 12: no fence race. Three times (the
    /// longest reset + deadtime + 2 s, the most the two can differ in noticing the split: a
    /// node advertises a dead time 2 s longer around client starts), so that the node that
    /// goes first has reset the other before it fences back.
    pub fn hb_fence_delay(&self) -> Option<u64> {
        (self.stonith && self.nodes == 2 && self.fence_delay_env)
            .then(|| 3 * (2 * self.fence_delay + self.deadtime + 2000) + 500)
    }

    /// `ha.cf` for this scenario.
    pub fn hacf(&self) -> String {
        let mut s = format!(
            "keepalive {}ms\nwarntime {}ms\ndeadtime {}ms\ninitdead {}ms\nudpport 694\n",
            self.keepalive, self.warntime, self.deadtime, self.initdead
        );
        let mut serial = 0;
        for (i, m) in self.media.iter().enumerate() {
            match m {
                MediumKind::Bcast => s += &format!("bcast eth{i}\n"),
                MediumKind::Serial | MediumKind::Compact => {
                    s += &format!("serial /dev/ttyS{serial}\n");
                    serial += 1;
                }
            }
        }
        s += &format!(
            "auto_failback {}\n",
            match self.auto_failback {
                AutoFailback::On => "on",
                AutoFailback::Off => "off",
                AutoFailback::Legacy => "legacy",
            }
        );
        if self.stonith && self.relay_fence {
            s += "stonith_host * hbrelay /dev/ttyRELAY0\n";
        } else if self.stonith {
            s += "stonith null /etc/ha.d/stonith.cfg\n";
            if let Some(d) = self.hb_fence_delay() {
                s += &format!("env HB_FENCE_DELAY={d}ms\n");
            }
        }
        for p in 0..self.ping_nodes {
            s += &format!("ping {}\n", Scenario::ping_name(p));
        }
        if self.ipfail {
            s += "respawn hacluster /usr/lib/heartbeat/ipfail\n";
        }
        if let Some(m) = &self.monitoring {
            s += &m.hacf();
        }
        let names: Vec<String> = (0..self.nodes).map(Scenario::node_name).collect();
        s += &format!("node {}\ncrm off\n", names.join(" "));
        s
    }

    /// `haresources`: group `g` is `<node> 10.0.<g>.1`.
    pub fn haresources(&self) -> String {
        self.groups
            .iter()
            .enumerate()
            .map(|(g, n)| format!("{} 10.0.{}.1\n", Scenario::node_name(*n), g + 1))
            .collect()
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {}: {} nodes, media {:?}, auto_failback {:?}, stonith {}, groups (preferred \
             node) {:?}",
            self.seed,
            self.nodes,
            self.media,
            self.auto_failback,
            match (self.stonith, self.relay_fence, self.hb_fence_delay()) {
                (false, _, _) => "no".to_string(),
                (true, true, _) => "through the relay board".to_string(),
                (true, false, None) => "yes".to_string(),
                (true, false, Some(d)) => format!("yes (HB_FENCE_DELAY {d} ms)"),
            },
            self.groups
                .iter()
                .map(|n| Scenario::node_name(*n))
                .collect::<Vec<_>>(),
        )?;
        writeln!(
            f,
            "  keepalive {} ms, warntime {} ms, deadtime {} ms, initdead {} ms, auth {:?}",
            self.keepalive, self.warntime, self.deadtime, self.initdead, self.auth
        )?;
        if let Some((at, spacing, method)) = self.key_rotation {
            writeln!(
                f,
                "  key rotation to index 2 ({method:?}) from {at} ms, {spacing} ms apart"
            )?;
        }
        if self.ping_nodes > 0 {
            writeln!(
                f,
                "  {} ping node(s), ipfail {}",
                self.ping_nodes,
                if self.ipfail { "on" } else { "off" }
            )?;
        }
        let worst = self.links.iter().map(|l| l.loss).max().unwrap_or(0);
        writeln!(
            f,
            "  network: loss up to {} ‰, latency up to {} ms, duplication up to {} ‰, corruption \
             up to {} ‰",
            worst,
            self.max_latency(),
            self.links.iter().map(|l| l.dup).max().unwrap_or(0),
            self.links.iter().map(|l| l.corrupt).max().unwrap_or(0),
        )?;
        writeln!(
            f,
            "  actions {:?} ms + 0..{} ms (slow {} ‰ +{} ms), start fails {} ‰, stop fails {} ‰; \
             fence {}..{} ms, fails {} ‰; restart after {} ms",
            self.action_delay,
            self.action_jitter,
            self.slow_permille,
            self.slow_delay,
            self.acquire_fail,
            self.release_fail,
            self.fence_delay,
            2 * self.fence_delay,
            self.fence_fail,
            self.restart_delay
        )?;
        if let Some(m) = &self.monitoring {
            writeln!(
                f,
                "  monitoring every {} ms, restart after {} failed checks, {} restarts before \
                 standby; checks take up to {} ms, fail by chance {} ‰, restarts fail {} ‰",
                m.interval,
                m.failures(),
                m.restarts(),
                m.check_delay,
                m.flaky,
                m.restart_fail
            )?;
            for (at, fault) in &m.faults {
                writeln!(f, "  at {at} ms: {fault:?}")?;
            }
        }
        writeln!(f, "  starts at {:?} ms", self.start_at)?;
        for (at, fault) in &self.faults {
            writeln!(f, "  at {at} ms: {fault:?}")?;
        }
        write!(
            f,
            "  faults end at {} ms, run ends at {} ms",
            self.fault_end, self.end
        )
    }
}
