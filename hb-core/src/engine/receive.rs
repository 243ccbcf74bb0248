//! The receive pipeline: heartbeat's `process_clustermsg`, `should_drop_message` and the
//! handlers of the messages membership and reliable delivery need (status, `NS_rexmit`,
//! `NS_ackmsg`, `NS_nak_rexmit`, `reqnodes`, `repnodes`); everything else goes to the resource
//! side.

use super::*;

impl<
        const NODES: usize,
        const MEDIA: usize,
        const HIST: usize,
        const HIST_BYTES: usize,
        const EVENTS: usize,
    > Membership<NODES, MEDIA, HIST, HIST_BYTES, EVENTS>
{
    pub(super) fn receive<const N: usize>(
        &mut self,
        now: Instant,
        wall_secs: u64,
        link: Option<MediumId>,
        msg: &Message<'_, N>,
    ) -> Result<(), RxError> {
        let t = msg.get_str("t").ok_or(RxError::Malformed)?;
        let src = msg.get_str("src").ok_or(RxError::Malformed)?;
        let ts = msg
            .get_hex("ts")
            .filter(|&ts| ts != 0)
            .ok_or(RxError::Malformed)?;
        let unsequenced = wire::is_unsequenced_type(t.as_bytes());
        let seq = if unsequenced {
            None
        } else {
            Some(
                msg.get_hex("seq")
                    .filter(|&s| s > 0)
                    .ok_or(RxError::Malformed)?,
            )
        };
        let hg = match msg.get("hg") {
            None => 0,
            Some(_) => msg.get_hex("hg").ok_or(RxError::Malformed)?,
        };
        let srcuuid: Option<[u8; 16]> = msg
            .get("srcuuid")
            .filter(|f| f.ty == FieldType::Binary && f.value.iter().any(|&b| b != 0))
            .and_then(|f| f.value.try_into().ok());
        let node = self.lookup(src, srcuuid)?;
        if node != self.local {
            // A sender the caller should have let us time out already is dead before its
            // packet is looked at, as `handle_timeout` would have found it: the packet is then
            // a return (after a partition, or a restart), never a silent resurrection that the
            // resource side would see as a death and a recovery in one breath.
            self.expire_if_overdue(now, node);
        }
        let verdict = self.should_drop(now, wall_secs, node, msg, t, seq, hg, link.is_some())?;
        if let Some(uuid) = srcuuid {
            self.learn_uuid(node, uuid);
        }
        self.nodes[node.index()].heard = true;
        if verdict != Verdict::Drop {
            if let Some(m) = link {
                self.refresh_link(now, node, m);
            }
        }
        if verdict == Verdict::Keep {
            self.dispatch(now, wall_secs, node, t, seq.unwrap_or(0), ts, msg);
        }
        self.check_comm_isup(now, wall_secs);
        self.update_timers();
        Ok(())
    }

    /// By `srcuuid` first, then by exact name. Packets naming a ping node, or our name with
    /// another UUID, come from no node we know.
    pub(super) fn lookup(&self, src: &str, srcuuid: Option<[u8; 16]>) -> Result<NodeId, RxError> {
        if let Some(u) = srcuuid {
            if let Some(i) = self
                .nodes
                .iter()
                .position(|n| n.kind == NodeKind::Normal && n.uuid == Some(u))
            {
                return Ok(NodeId(i as u8));
            }
        }
        let i = self
            .nodes
            .iter()
            .position(|n| n.kind == NodeKind::Normal && n.name == src)
            .ok_or(RxError::UnknownNode)?;
        if i == self.local.index() && srcuuid.is_some_and(|u| u != self.uuid) {
            return Err(RxError::UnknownNode);
        }
        Ok(NodeId(i as u8))
    }

    pub(super) fn learn_uuid(&mut self, node: NodeId, uuid: [u8; 16]) {
        let n = &mut self.nodes[node.index()];
        match n.uuid {
            Some(u) if u == uuid => {}
            Some(_) => {
                n.uuid = Some(uuid);
                self.push_event(Event::UuidChanged { node });
            }
            None => n.uuid = Some(uuid),
        }
    }

    /// `IsToUs`: `destuuid` if present and non-null, else `dest` absent or our name.
    pub(super) fn is_to_us<const N: usize>(&self, msg: &Message<'_, N>) -> bool {
        if let Some(f) = msg
            .get("destuuid")
            .filter(|f| f.ty == FieldType::Binary && f.value.iter().any(|&b| b != 0))
        {
            return f.value == self.uuid;
        }
        self.dest_is_us(msg)
    }

    pub(super) fn dest_is_us<const N: usize>(&self, msg: &Message<'_, N>) -> bool {
        match msg.get_str("dest") {
            None => true,
            Some(d) => d == self.nodes[self.local.index()].name.as_str(),
        }
    }

    /// heartbeat's `should_drop_message`: generation and sequence rules.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn should_drop<const N: usize>(
        &mut self,
        now: Instant,
        wall_secs: u64,
        node: NodeId,
        msg: &Message<'_, N>,
        t: &str,
        seq: Option<u64>,
        hg: u64,
        from_network: bool,
    ) -> Result<Verdict, RxError> {
        let i = node.index();
        // Every message carries its sender's generation, the unsequenced ones (`NS_ackmsg`,
        // `NS_rexmit`, `NS_nak_rexmit`) too: one from an older generation is a replay, whatever
        // its type (an old ACK taken would stop us sending a restarted node what it asks for).
        let stored = self.nodes[i].generation;
        if hg < stored {
            self.push_event(Event::ReplayRejected {
                node,
                generation: hg,
                current: stored,
            });
            return Err(RxError::Replay);
        }
        let Some(seq) = seq else {
            if t == "NS_nak_rexmit" {
                // The sender cannot send it again: stop asking.
                if let Some(first) = msg.get_hex("firstseq") {
                    self.nodes[node.index()].track.remove_missing(first);
                }
                return Ok(Verdict::Drop);
            }
            return Ok(if self.dest_is_us(msg) {
                Verdict::Keep
            } else {
                Verdict::Drop
            });
        };
        if node == self.local && from_network {
            // Our own packets coming back: the one just sent is a duplicate (it marks the link
            // up), anything else is old.
            let n = &self.nodes[i];
            return Ok(if hg == n.generation && n.track.last_seq == Some(seq) {
                Verdict::Duplicate
            } else {
                Verdict::Drop
            });
        }
        // Any sequenced message tells the sender's generation, not only its status: a node
        // whose messages were tracked before its first status would otherwise have that
        // tracking (and what we ACKed of it) thrown away when the status comes, and ask again
        // for messages it ACKed, which the sender then skips for good. And a new incarnation is
        // reported before anything it says is delivered.
        let n = &mut self.nodes[i];
        let was_dead = n.status == NodeStatus::Dead;
        if hg > stored {
            n.generation = hg;
            if stored > 0 {
                // A new incarnation: its numbers start over, and what its predecessor ACKed
                // it does not have (skipping that would leave its requests unanswered). It is
                // alive now; its status will say how.
                n.track.reset();
                n.acked = 0;
                n.last_status_at = Some(now);
                n.last_status_ts = 0;
                n.last_status_seq = 0;
            }
            // A node we declared dead that speaks up `active` (or with a resource message,
            // which only follows comm-up) has been running on its own all along (its resource
            // logic ran), whether it restarted meanwhile or we had never heard it before (we
            // started during a partition): a return after a partition, as 3.0.6 only says for
            // the same generation. In `init` or `up` (or asking for the node list) it has run
            // nothing yet: a plain (re)start.
            let active = was_dead
                && if t == "status" {
                    msg.get_str("st") == Some("active")
                } else {
                    !matches!(t, "reqnodes" | "repnodes")
                };
            self.nodes[i].restarted_while_dead = was_dead && stored > 0 && !active && t != "status";
            if active {
                self.push_event(Event::ReturnedAfterPartition { node });
            } else if stored > 0 {
                let announced = core::mem::take(&mut self.nodes[i].restart_announced);
                self.push_event(Event::Restarted {
                    node,
                    generation: hg,
                    announced,
                });
            }
        } else if hg > 0 && was_dead {
            if t != "status" {
                // Its status brings it back (a return after a partition); what it says
                // before that is not for a dead node's peers.
                return Ok(Verdict::Drop);
            }
            if seq <= n.last_status_seq {
                return Err(RxError::Stale);
            }
            // The restart we reported when its `reqnodes` came first: its `init` or `up` now
            // is the same plain start (it has run nothing yet), not a return after a
            // partition. Taken as one, it made us heal with a node that had just started: the
            // heal dropped the takeover the restart had queued, and a group stayed down for
            // good (hbsim seed 17459).
            let fresh =
                core::mem::take(&mut n.restarted_while_dead) && msg.get_str("st") != Some("active");
            if !fresh {
                self.push_event(Event::ReturnedAfterPartition { node });
            }
        }
        let to_us = self.is_to_us(msg);
        let kept = if to_us { Verdict::Keep } else { Verdict::Drop };
        let track = &mut self.nodes[i].track;
        match track.last_seq {
            None => {
                track.last_seq = Some(seq);
                self.ack_if_needed(node, seq, wall_secs);
                Ok(kept)
            }
            Some(last) if seq == last.wrapping_add(1) => {
                track.last_seq = Some(seq);
                self.ack_if_needed(node, seq, wall_secs);
                Ok(kept)
            }
            Some(last) if seq == last => Ok(Verdict::Duplicate),
            Some(last) if seq > last => {
                let count = seq - last - 1;
                self.push_event(Event::LostPackets {
                    node,
                    count,
                    last,
                    seq,
                });
                if count > FLOWCONTROL_LIMIT {
                    let track = &mut self.nodes[i].track;
                    track.reset();
                    track.last_seq = Some(seq);
                    self.push_event(Event::LostManyPackets { node });
                    self.ack_if_needed(node, seq, wall_secs);
                } else {
                    for missing in last + 1..seq {
                        let due = now + self.first_rexmit_delay();
                        self.nodes[i].track.add_missing(missing, due);
                    }
                    self.nodes[i].track.last_seq = Some(seq);
                }
                Ok(kept)
            }
            Some(_) => {
                if track.remove_missing(seq) {
                    if track.missing.is_empty() {
                        self.push_event(Event::NoPacketsMissing { node });
                    }
                    self.ack_if_needed(node, seq, wall_secs);
                    Ok(kept)
                } else if t == "status" && seq > self.nodes[i].last_status_seq {
                    // Older than the message its tracking started with (reordered on the
                    // way), but newer than any status of it we took: still news of its life.
                    Ok(kept)
                } else {
                    Ok(Verdict::Drop)
                }
            }
        }
    }

    /// `send_ack_if_needed`: every tenth message, when nothing before it is missing.
    pub(super) fn ack_if_needed(&mut self, node: NodeId, seq: u64, wall_secs: u64) {
        let n = &self.nodes[node.index()];
        if self.flow_control
            && seq % ACK_MSG_DIV == u64::from(n.ack_trigger)
            && !n.track.missing_below(seq)
        {
            self.queue(Pending::Ack {
                dest: node,
                ackseq: seq,
                ts: wall_secs,
            });
        }
    }

    pub(super) fn first_rexmit_delay(&mut self) -> Duration {
        let max = self.max_rexmit_delay.as_millis();
        let ms = if self.max_rexmit_delay < REXMIT_SMALL_MAX {
            self.rng.up_to(max)
        } else {
            let min = MIN_REXMIT_DELAY.as_millis();
            min + self.rng.up_to(max - min)
        };
        Duration::from_millis(ms)
    }

    pub(super) fn refresh_link(&mut self, now: Instant, node: NodeId, medium: MediumId) {
        let Some(m) = self.media.get(medium.index()) else {
            return;
        };
        let link = usize::from(m.link);
        let Some(l) = self.nodes[node.index()].links.get_mut(link) else {
            return;
        };
        l.last_heard = now;
        if !l.up {
            l.up = true;
            let medium = self.link_medium[link];
            self.push_event(Event::LinkUp { node, medium });
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn dispatch<const N: usize>(
        &mut self,
        now: Instant,
        wall_secs: u64,
        node: NodeId,
        t: &str,
        seq: u64,
        ts: u64,
        msg: &Message<'_, N>,
    ) {
        match t {
            "status" => {
                self.on_status(now, node, seq, ts, msg);
                self.answer_status(now, wall_secs, node);
            }
            "NS_rexmit" => self.on_rexmit_request(now, wall_secs, node, msg),
            "NS_ackmsg" => {
                // An ACK beyond what we sent is from before our restart (or nonsense): taking
                // it would stop us serving that node's requests.
                let newest = self.history.newest().unwrap_or(0);
                if let Some(ackseq) = msg.get_hex("ackseq").filter(|&a| a <= newest) {
                    if self.flow_control {
                        let n = &mut self.nodes[node.index()];
                        n.acked = n.acked.max(ackseq);
                    }
                }
            }
            "reqnodes" => {
                if node != self.local {
                    self.send_repnodes(now, wall_secs, node);
                }
            }
            "repnodes" => {
                // The node list is ha.cf's; the answer only tells us the peer is there.
                if node != self.local && self.comm == CommState::LinksUp {
                    self.comm_now_up(now, wall_secs);
                }
            }
            // `query-cstatus` goes on to the caller: the daemon answers it from its API clients.
            "addnode" | "delnode" | "setweight" | "setsite" => {}
            t if wire::is_unsequenced_type(t.as_bytes()) => {}
            t => self.deliver(node, t, seq, msg),
        }
    }

    /// Hands a message to the resource side (for now: the caller, through an event).
    pub(super) fn deliver<const N: usize>(
        &mut self,
        from: NodeId,
        t: &str,
        seq: u64,
        msg: &Message<'_, N>,
    ) {
        let kind = MessageKind::from_type(t);
        // 3.0.6 registers `shutdone` at start and the rest only at comm-up; before that a
        // `starting` is shown to API clients and nothing else.
        if kind != MessageKind::Shutdone && self.comm != CommState::Up {
            return;
        }
        match ClusterMessage::copy_from(from, kind, seq, msg) {
            Some(m) => self.push_event(Event::Message(m)),
            None => self.push_event(Event::MessageTooLarge { from, kind }),
        }
        if kind == MessageKind::Shutdone && from == self.local {
            self.push_event(Event::ShutdownComplete);
        }
    }

    /// `HBDoMsg_T_STATUS`.
    pub(super) fn on_status<const N: usize>(
        &mut self,
        now: Instant,
        node: NodeId,
        seq: u64,
        ts: u64,
        msg: &Message<'_, N>,
    ) {
        let Some(st) = msg.get_str("st") else {
            return;
        };
        let i = node.index();
        let n = &self.nodes[i];
        // A status older than the newest taken (reordered on the way, or sent again) says
        // nothing current: its `dt` and `st` would undo the newer ones. 3.0.6 also requires an
        // older `ts`, in whole seconds, so a status overtaken within the same second passes
        // (and a starting node's `dt` = deadtime + 2 s comes back after it was taken back).
        if seq < n.last_status_seq {
            return;
        }
        if n.kind == NodeKind::Normal && self.flow_control && msg.get_decimal("protocol").is_none()
        {
            self.flow_control = false;
            self.push_event(Event::FlowControlDisabled { node });
        }
        if let Some(prev) = self.nodes[i].last_status_at {
            let gap = now.saturating_since(prev);
            // Past its dead time it was declared dead before this status was looked at
            // (`expire_if_overdue`); a gap between `deadtime` and the longer dead time it asks
            // for (`dt`, deadtime + 2 s while it starts) is only late.
            if gap > self.deadtime {
                self.push_event(Event::LateHeartbeat {
                    node,
                    gap,
                    beyond_deadtime: true,
                });
            } else if gap > self.warntime {
                self.push_event(Event::LateHeartbeat {
                    node,
                    gap,
                    beyond_deadtime: false,
                });
            }
        }
        let n = &mut self.nodes[i];
        if let Some(dt) = msg.get_hex("dt") {
            let dt = Duration::from_millis(dt);
            if dt >= n.dead_interval + RESTART_ANNOUNCED_GROWTH {
                n.restart_announced = true;
            }
            n.dead_interval = dt;
        }
        n.last_status_at = Some(now);
        // Its first status of this incarnation is news even when it says `init` (which is
        // also what we call a node not heard yet): the resource side learns it is there.
        let first = n.last_status_seq == 0 && node != self.local;
        n.last_status_ts = ts;
        n.last_status_seq = seq;
        let status = NodeStatus::from_wire(st);
        if status == NodeStatus::Dead {
            return;
        }
        let changed = first
            || status != n.status
            || (status == NodeStatus::Other && n.status_text.as_str() != st);
        if changed {
            n.status = status;
            n.set_status_text(st);
            self.push_event(Event::NodeStatus { node, status });
        }
    }

    /// Two nodes beat in step: a status from the peer that finds ours due within half a
    /// keepalive is answered at once with ours, and our next is put a little after the
    /// peer's next. The follower's loop then wakes once a period (for the peer's status) where
    /// it woke twice (for its own timer, and for the peer's status), a quarter of a two-node
    /// cluster's wake-ups at rest. Two nodes that happen to send at the same moment never
    /// find the other's status ahead of their own; the one with the greater name then steps
    /// back once, by the time the peer's status took and a margin, and follows from the next
    /// period. Never more than one status per half keepalive (an early one moves the next a
    /// whole keepalive on); if the peer falls silent, ours comes from our own timer, at most a
    /// margin (1/16 keepalive) late. Only with exactly one peer: with more, each would pull us
    /// its own way. A 3.0.6 peer sees a status every keepalive, as before. Opt-in
    /// ([`MembershipConfig::beat_in_step`]): hbsim found a standby asked during a partition
    /// that, healing at a moment this timing makes possible, leaves a group down (seed 4295 of
    /// a 100 000 run with it on); the default keeps the timing the simulator has proven.
    pub(super) fn answer_status(&mut self, now: Instant, wall_secs: u64, node: NodeId) {
        if !self.beat_in_step {
            return;
        }
        let normal = self
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Normal)
            .count();
        if node == self.local
            || self.nodes[node.index()].kind != NodeKind::Normal
            || normal != 2
            || !self.started_up
            || self.shutdown != Shutdown::No
        {
            return;
        }
        let Some(due) = self.timers.get(Timer::Keepalive) else {
            return;
        };
        let margin = follow_margin(self.keepalive);
        let half = Duration::from_millis(self.keepalive.as_millis() / 2);
        if due <= now + half {
            self.send_status(now, wall_secs);
            self.timers
                .set(Timer::Keepalive, now + self.keepalive + margin);
        } else if now.saturating_since(self.status_sent_at) <= margin + margin
            && self.nodes[self.local.index()].name.as_str() > self.nodes[node.index()].name.as_str()
        {
            self.timers
                .set(Timer::Keepalive, now + self.keepalive + margin);
        }
    }

    /// `process_rexmit`: send again what a node missed, or say we cannot.
    pub(super) fn on_rexmit_request<const N: usize>(
        &mut self,
        now: Instant,
        wall_secs: u64,
        from: NodeId,
        msg: &Message<'_, N>,
    ) {
        if from == self.local {
            return;
        }
        let (Some(first), Some(last)) = (msg.get_decimal("firstseq"), msg.get_decimal("lastseq"))
        else {
            return;
        };
        // What the requester has ACKed it has: skip it.
        let from_seq = first.max(self.nodes[from.index()].acked.saturating_add(1));
        let to_seq = last.min(self.history.newest().unwrap_or(0));
        let mut answered = 0;
        for seq in from_seq..=to_seq {
            if answered >= MAX_REXMIT_BATCH {
                break;
            }
            let answer = match self.history.get(seq) {
                Lookup::Found(_) => {
                    let recent = self
                        .history
                        .resent_at(seq)
                        .is_some_and(|at| now.saturating_since(at) < REXMIT_GUARD);
                    (!recent).then_some(Pending::Sequenced { seq })
                }
                Lookup::TooLow => Some(Pending::Nak {
                    dest: from,
                    seq,
                    reason: NakReason::TooLow,
                    ts: wall_secs,
                }),
                Lookup::NotFound => Some(Pending::Nak {
                    dest: from,
                    seq,
                    reason: NakReason::NotFound,
                    ts: wall_secs,
                }),
                Lookup::TooHigh => None,
            };
            if let Some(p) = answer {
                if matches!(p, Pending::Sequenced { .. }) {
                    self.history.mark_resent(seq, now);
                }
                self.queue(p);
                answered += 1;
            }
        }
    }
}

/// How long after a keepalive a follower's own timer fires (see `answer_status`): enough for
/// the peer's next status to come first despite its jitter, small enough that a follower
/// whose peer fell silent is barely late (1/16 of the keepalive, at least 1 ms).
fn follow_margin(keepalive: Duration) -> Duration {
    Duration::from_millis((keepalive.as_millis() / 16).max(1))
}
