//! The invariants (listed in the crate documentation), checked after every step and at the
//! end.

use hb_core::config::AutoFailback;

use crate::scenario::{Scenario, MAX_NODES};

use super::world::{Pending, SimNode, World, HEAL_REPORT, PARTITION_RESTART};

impl World<'_> {
    pub(super) fn check(&mut self) {
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
    pub(super) fn check_pending(&mut self) {
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
    pub(super) fn check_owners(&mut self, g: usize, holders: u32) {
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
        // death needs a dead time of silence), and for a bounded time after. Two nodes heal
        // it (issue 12): once they hear each other again, the reports cross (or the second
        // waits for the first's deadline) and the one that yields stops its copies: one owner
        // within the report deadline and the releases. Three or more give everything up 2 s
        // after they hear each other again (or restart) and start again.
        let settle = (self.sc.groups.len() as u64 + 2) * (self.sc.max_action() + 100)
            + 5 * self.sc.keepalive;
        let bound = if self.sc.nodes == 2 {
            HEAL_REPORT + settle
        } else {
            self.sc.deadtime + PARTITION_RESTART + settle
        };
        let nodes: Vec<usize> = (0..self.sc.nodes)
            .filter(|i| holders & (1 << i) != 0)
            .collect();
        for (k, &a) in nodes.iter().enumerate() {
            for &b in &nodes[k + 1..] {
                // A holder whose daemon is stalled stops nothing, and without fencing nobody
                // else can stop its copy: the time allowed counts from when it runs again
                // (hbsim seed 73721: a node froze for 13.6 s just as it released the group
                // the heal gave the other node).
                let (na, nb) = (&self.nodes[a], &self.nodes[b]);
                let frozen = na.stalled_until.is_some() || nb.stalled_until.is_some();
                let ok = frozen
                    || self.split_at[a][b].is_some_and(|t| {
                        self.now <= t.max(na.resumed_at).max(nb.resumed_at) + bound
                    });
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
    pub(super) fn check_move(&mut self, g: usize, before: u32, after: u32) {
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

    pub(super) fn check_detection(&mut self, peer: usize, dead: usize) {
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
    pub(super) fn final_check(&mut self) {
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
        self.final_monitor_check();
    }

    /// Every node's state, for a violation's message.
    pub(super) fn states(&self) -> String {
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

/// When `p.peer` must have declared `p.dead` dead: a dead time after the last status it took
/// from it (`initdead` while its comm was not up), plus one keepalive.
pub(super) fn detection_deadline(sc: &Scenario, peer: &SimNode, p: &Pending) -> u64 {
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
