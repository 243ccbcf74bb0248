//! Who is alive: heartbeat's `check_for_timeouts`, `mark_node_dead`, the retransmission-request
//! timers, and the way to comm-up (`check_comm_isup`, `send_reqnodes_msg`, `comm_now_up`).

use super::*;

impl<
        const NODES: usize,
        const MEDIA: usize,
        const HIST: usize,
        const HIST_BYTES: usize,
        const EVENTS: usize,
    > Membership<NODES, MEDIA, HIST, HIST_BYTES, EVENTS>
{
    /// The dead time that applies to node `i` now.
    pub(super) fn dead_interval_of(&self, i: usize) -> Duration {
        if self.comm == CommState::Starting {
            self.initdead
        } else {
            self.nodes[i].dead_interval
        }
    }

    /// Links time out after the dead time of the *last* node in the table (a 3.0.6 quirk:
    /// `check_for_timeouts` leaves its loop variable there).
    pub(super) fn link_interval(&self) -> Duration {
        self.dead_interval_of(self.nodes.len() - 1)
    }

    pub(super) fn check_for_timeouts(&mut self, now: Instant) {
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            if n.status == NodeStatus::Dead {
                continue;
            }
            let since = n.last_status_at.unwrap_or(self.started);
            if now.saturating_since(since) > self.dead_interval_of(i) {
                self.mark_node_dead(NodeId(i as u8));
            }
        }
        let interval = self.link_interval();
        for i in 0..self.nodes.len() {
            if i == self.local.index() || self.nodes[i].kind != NodeKind::Normal {
                continue;
            }
            for l in 0..self.link_count {
                let link = &mut self.nodes[i].links[l];
                if link.up && now.saturating_since(link.last_heard) > interval {
                    link.up = false;
                    let medium = self.link_medium[l];
                    self.push_event(Event::LinkDead {
                        node: NodeId(i as u8),
                        medium,
                    });
                }
            }
        }
    }

    /// Declares `node` dead if its dead time has run out (what `check_for_timeouts` does for
    /// every node).
    pub(super) fn expire_if_overdue(&mut self, now: Instant, node: NodeId) {
        let i = node.index();
        let n = &self.nodes[i];
        if n.status == NodeStatus::Dead {
            return;
        }
        let since = n.last_status_at.unwrap_or(self.started);
        if now.saturating_since(since) > self.dead_interval_of(i) {
            self.mark_node_dead(node);
        }
    }

    /// `mark_node_dead`.
    pub(super) fn mark_node_dead(&mut self, node: NodeId) {
        let i = node.index();
        if node == self.local {
            // Our own status did not come round: we were stalled. Look again a dead time
            // later rather than at every call.
            self.nodes[i].last_status_at = Some(
                self.nodes[i]
                    .last_status_at
                    .unwrap_or(self.started)
                    .max(self.started)
                    + self.dead_interval_of(i),
            );
            if !self.no_local_heartbeat_told && self.shutdown == Shutdown::No {
                self.no_local_heartbeat_told = true;
                self.push_event(Event::NoLocalHeartbeat);
            }
            return;
        }
        let n = &mut self.nodes[i];
        let heard_from = n.heard;
        n.status = NodeStatus::Dead;
        n.last_status_ts = 0;
        n.heard = false;
        n.track.reset();
        self.push_event(Event::NodeDead { node, heard_from });
    }

    /// Asks again for every missing message whose time has come (`send_rexmit_request`).
    pub(super) fn request_missing(&mut self, now: Instant, wall_secs: u64) {
        for i in 0..self.nodes.len() {
            if !matches!(self.nodes[i].status, NodeStatus::Up | NodeStatus::Active) {
                self.nodes[i].track.missing.clear();
                continue;
            }
            for k in 0..self.nodes[i].track.missing.len() {
                let m = self.nodes[i].track.missing[k];
                if m.due > now {
                    continue;
                }
                self.queue(Pending::Rexmit {
                    dest: NodeId(i as u8),
                    seq: m.seq,
                    ts: wall_secs,
                });
                let mut due = m.due + self.max_rexmit_delay;
                if due <= now {
                    due = now + self.max_rexmit_delay;
                }
                self.nodes[i].track.missing[k].due = due;
            }
        }
    }

    pub(super) fn update_timers(&mut self) {
        let mut node_dead: Option<Instant> = None;
        let mut rexmit: Option<Instant> = None;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.status != NodeStatus::Dead {
                let at = n.last_status_at.unwrap_or(self.started)
                    + self.dead_interval_of(i)
                    + Duration::from_millis(1);
                node_dead = Some(node_dead.map_or(at, |d| d.min(at)));
            }
            if let Some(due) = n.track.next_due() {
                rexmit = Some(rexmit.map_or(due, |d| d.min(due)));
            }
        }
        let interval = self.link_interval() + Duration::from_millis(1);
        let link_dead = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| *i != self.local.index() && n.kind == NodeKind::Normal)
            .flat_map(|(_, n)| n.links[..self.link_count].iter())
            .filter(|l| l.up)
            .map(|l| l.last_heard + interval)
            .min();
        self.timers.set_or_stop(Timer::NodeDead, node_dead);
        self.timers.set_or_stop(Timer::LinkDead, link_dead);
        self.timers.set_or_stop(Timer::Rexmit, rexmit);
    }

    // -----------------------------------------------------------------------------------------
    // Comm-up: check_comm_isup, send_reqnodes_msg, comm_now_up.

    pub(super) fn check_comm_isup(&mut self, now: Instant, wall_secs: u64) {
        if self.comm != CommState::Starting || !self.started_up {
            return;
        }
        // Every node declared dead or its status known. 3.0.6 is content with any packet
        // (`anypacketsyet`), but the resource logic starts at comm-up and asks who is `active`:
        // a peer heard only through an ACK is not, and legacy mode would then take its groups
        // back without asking the peer that runs them.
        if !self
            .nodes
            .iter()
            .all(|n| n.last_status_at.is_some() || n.status == NodeStatus::Dead)
        {
            return;
        }
        self.comm = CommState::LinksUp;
        self.request_node_list(now, wall_secs);
    }

    /// `reqnodes` to the first live peer, again a second later; comm-up at once when flow
    /// control is off or nobody else is alive.
    pub(super) fn request_node_list(&mut self, now: Instant, wall_secs: u64) {
        let peer = self.nodes.iter().enumerate().position(|(i, n)| {
            i != self.local.index() && n.kind == NodeKind::Normal && n.status != NodeStatus::Dead
        });
        match peer {
            Some(p) if self.flow_control => {
                let dest = self.nodes[p].name.clone();
                let _ = self.send_sequenced(
                    now,
                    wall_secs,
                    RecordBody::Fields(&[
                        Field::string("t", "reqnodes"),
                        Field::string("dest", &dest),
                    ]),
                );
                self.timers.set(Timer::ReqNodes, now + REQNODES_INTERVAL);
            }
            _ => self.comm_now_up(now, wall_secs),
        }
    }

    pub(super) fn send_repnodes(&mut self, now: Instant, wall_secs: u64, to: NodeId) {
        let dest = self.nodes[to.index()].name.clone();
        let mut list: String<NODELIST_LEN> = String::new();
        for n in self.nodes.iter().filter(|n| n.kind == NodeKind::Normal) {
            let _ = list.push_str(&n.name);
            let _ = list.push(' ');
        }
        let _ = self.send_sequenced(
            now,
            wall_secs,
            RecordBody::Fields(&[
                Field::string("dest", &dest),
                Field::string("t", "repnodes"),
                Field::string("nodelist", &list),
                // No deleted nodes: heartbeat then sends a single space.
                Field::string("delnodelist", " "),
            ]),
        );
    }

    pub(super) fn comm_now_up(&mut self, now: Instant, wall_secs: u64) {
        self.comm = CommState::Up;
        self.timers.stop(Timer::ReqNodes);
        self.push_event(Event::CommUp);
        self.set_local_status(now, wall_secs, NodeStatus::Active);
        if self.shutdown == Shutdown::Delayed {
            self.shutdown = Shutdown::Started;
            self.push_event(Event::ShutdownStarted);
        }
    }
}
