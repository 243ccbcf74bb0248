//! Healing a split (hb's own, two nodes): who keeps each group once a partition heals.
//!
//! 3.0.6 answers a peer "returning after partition" by giving up every group on both nodes
//! and restarting, 2 s later: the service is down for the restart, `initdead` and the
//! negotiation (about 15 s with short timers), and the node that finally holds the address
//! never announces it again. Here the two nodes exchange what they run and settle every group
//! that both run without stopping the copy that stays:
//!
//! * Each node sends `t=hb_heal info=report hb_groups=<run> hb_kept=<run since before the
//!   split>` as soon as it sees the return (or the peer's report, if the peer saw it first).
//!   "Since before the split": running when this node last declared the peer dead.
//! * From the two reports — the same two on both nodes — a group both run is **kept** by:
//!   `auto_failback on`: its preferred node (haresources); `off` and `legacy`: the node that
//!   ran it before the split (it has held it longest; the other took it over while the split
//!   lasted), and when both or neither did, its preferred node.
//! * The other node releases it, then reports again (`info=released`). The keeper announces
//!   the group's addresses ([`Resources::poll_announce`]) at once (so clients move to it while
//!   the other copy stops) and again when the release is reported (so a client that the other
//!   node answered meanwhile moves back). A kept group never stops: no time without an owner.
//! * A group neither runs goes to its preferred node (a start of it may have been waiting
//!   when the split healed: the reports drop waiting starts, so that they cannot change; or a
//!   node was stopping it, as a standby's give-up that the split cancelled: a report names
//!   only what runs or starts). The preferred node starts it once the other node has said
//!   `info=released`, which each node sends when its stops are done whenever such a group
//!   exists: never while the other copy still runs.
//! * A peer that sends no report within [`HEAL_REPORT_TIMEOUT`](super::HEAL_REPORT_TIMEOUT)
//!   (1 s; 3.0.6 starts giving up 2 s after it sees the return) is heartbeat 3.0.6: it gives everything up and restarts on its own. We keep what we run,
//!   announce it at once and again on its `shutdone`; its restart then goes as any restart
//!   (legacy pulls its groups back, `on` fails back, `off` leaves them). A report that comes
//!   later is still answered. A 3.0.6 peer that has not begun to give up
//!   [`CLASSIC_GIVEUP_WAIT`](super::CLASSIC_GIVEUP_WAIT) after the deadline (and has not said
//!   since the return that it runs none of ours) is stuck: 3.0.6 delays its give-up while a
//!   resource action of its own runs, for ever when it lost one of its own messages. That is
//!   logged as an error naming the way out; we keep our copies (not with `legacy`, whose
//!   give-up shows only at its end).
//!
//! With three or more nodes the old rule stands (everything given up, restart).

use super::jobs::JobKind;
use super::log::LogMsg;
use super::msg::{HealKind, RscSet};
use super::timer::Timer;
use super::types::{GroupId, GroupState, NodeId, RscState, StandbyState};
use super::{Out, Resources, Status};
use crate::config::AutoFailback;

/// What one node said it runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Report {
    pub(super) held: u32,
    pub(super) kept: u32,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Heal {
    /// Groups we ran when we last declared the peer dead.
    pub(super) before_split: u32,
    /// A heal is under way: our report went out (what it said, and when).
    pub(super) ours: Option<Report>,
    pub(super) ours_at: Option<crate::time::Instant>,
    /// The peer's report of this heal.
    pub(super) theirs: Option<Report>,
    /// This heal is decided (the release, if any, under way or done).
    pub(super) decided: bool,
    /// Groups we keep that the peer still ran at its report: announced again once it reports
    /// them released.
    pub(super) awaiting: u32,
    /// No report came by the deadline: a 3.0.6 peer, which gives up and restarts.
    pub(super) classic_peer: bool,
    /// Since the return, the peer said it gives up or restarted.
    pub(super) peer_leaving: bool,
    /// What the peer last said it holds (`t=resource`), if it said it since the return.
    pub(super) peer_holds: Option<RscSet>,
    /// We owe the peer `info=released` once no group of ours is stopping any more (we yield
    /// groups, or some group neither report names waits for it).
    pub(super) release_due: bool,
    /// Our preferred groups that neither report names: started once the peer's
    /// `info=released` says its copies (a stop in flight at the split, as of a cancelled
    /// standby) are gone.
    pub(super) take_on_release: u32,
    /// Groups a standby's give-up began to stop after our report went out: the report still
    /// names them as ours (see `heal_decide`).
    pub(super) standby_stops: u32,
}

/// Which of two nodes keeps a group both run, from the two reports (the same on both nodes,
/// so both reach the same answer). `mine`/`theirs`: whether each ran it before the split;
/// `preferred_is_me`: the group's haresources node is this one.
pub fn keeps_group(mode: AutoFailback, mine: bool, theirs: bool, preferred_is_me: bool) -> bool {
    match mode {
        AutoFailback::On => preferred_is_me,
        AutoFailback::Off | AutoFailback::Legacy if mine != theirs => mine,
        AutoFailback::Off | AutoFailback::Legacy => preferred_is_me,
    }
}

impl<const NODES: usize, const GROUPS: usize> Resources<NODES, GROUPS> {
    /// The groups we run or are starting, as a mask.
    pub(super) fn running_mask(&self) -> u32 {
        (0..self.table.groups.len())
            .filter(|&g| {
                matches!(
                    self.groups[g].state,
                    GroupState::Running | GroupState::Starting
                )
            })
            .fold(0, |m, g| m | 1 << g)
    }

    /// Our heal report went out and the peer's has not settled it yet (nor is it overdue):
    /// a standby asked for now would be cancelled by the decision on our side only, and the
    /// peer, which may have decided already, would wait for its `done` for the whole
    /// exchange timeout (hbsim seed 35583: an auto-failback's `me` crossed the reports).
    /// Bounded by the report deadline: a peer that reports nothing (3.0.6, or one shutting
    /// down) must not hold a failback back for good.
    pub(super) fn heal_undecided(&self) -> bool {
        self.heal.ours.is_some()
            && !self.heal.decided
            && !self.heal.classic_peer
            && self
                .heal
                .ours_at
                .is_some_and(|t| self.now <= t + self.timing.heal_report)
    }

    /// We declared the peer dead: remember what we ran then. True if this ends a heal that
    /// was not decided (see [`heal_retake_dropped`](Self::heal_retake_dropped)).
    pub(super) fn heal_note_death(&mut self) -> bool {
        let abandoned = self.heal.ours.is_some() && !self.heal.decided;
        self.heal.before_split = self.running_mask();
        // A new split: whatever an earlier heal said is over, the releases it asked of us
        // too: the keeper is gone, and the takeover that follows keeps what still runs (a stop
        // in flight finishes; the takeover starts that group again). Left to go on, they
        // stopped groups the takeover had just found running (hbsim seed 92079).
        self.jobs
            .retain(|j| !matches!(j.kind, JobKind::HealRelease(_)));
        self.heal_forget();
        abandoned
    }

    /// The peer died again before the heal was decided: the starts our report dropped (a
    /// takeover's, waiting in the queue) were left to the decision, which never came, and the
    /// death's takeover may see them as held already (the bookkeeping is by set). Each group
    /// of a set we hold that is stopped is started (hbsim seed 92459: a group of ours left
    /// down for good). Not while a reset is pending: its takeover asks again; nor in legacy
    /// mode, whose takeover after a death always asks for everything.
    pub(super) fn heal_retake_dropped(&mut self) {
        if self.shutdown_in_progress || self.reset_pending() || !self.nice_failback() {
            return;
        }
        for g in 0..self.table.groups.len() {
            let set = if self.is_local_group(g) {
                RscSet::LOCAL
            } else {
                RscSet::FOREIGN
            };
            let id = GroupId(g as u8);
            if self.groups[g].state == GroupState::Stopped
                && self.i_hold.intersects(set)
                && !self.queued_take(id)
            {
                self.queue_remote(JobKind::TakeGroup(id));
            }
        }
    }

    /// The peer is back with the same generation (two nodes).
    pub(super) fn heal_returned(&mut self, peer: NodeId) {
        if self.shutdown_in_progress {
            // Our `shutdone` settles it.
            return;
        }
        if self.rsc_needs_shutdown {
            self.heal_leave_now();
            return;
        }
        self.heal_forget();
        self.heal_classic_done();
        self.heal.peer_leaving = false;
        self.heal.peer_holds = None;
        self.heal_make_report();
        self.heal_send(HealKind::Report);
        self.timers
            .set(Timer::HealReport, self.now + self.timing.heal_report);
        let _ = peer;
    }

    /// Whatever an earlier heal said and owed is over.
    fn heal_forget(&mut self) {
        self.heal.ours = None;
        self.heal.theirs = None;
        self.heal.decided = false;
        self.heal.release_due = false;
        self.heal.take_on_release = 0;
        self.heal.standby_stops = 0;
    }

    /// A shutdown waits for the cluster to look stable, which a split may never let it do:
    /// no heal then, the give-up starts at once (acquisitions not yet started and a standby
    /// exchange dropped, actions in flight finished first); our `shutdone` tells the peer to
    /// take everything.
    fn heal_leave_now(&mut self) {
        if self.going != StandbyState::Not {
            self.cancel_standby();
        }
        self.jobs
            .retain(|j| !j.kind.acquires() || j.issued.is_some());
        self.remote.retain(|k| !k.acquires());
        self.give_up_now();
    }

    fn heal_make_report(&mut self) {
        // Nothing more is taken on the strength of the split: a start in flight finishes and
        // is reported (as held), the rest of its job and whatever waits is dropped (the
        // decision says who runs what).
        let owed = self
            .jobs
            .iter()
            .map(|j| &j.kind)
            .chain(self.remote.iter())
            .any(|k| matches!(k, JobKind::ReqOur { .. }));
        self.jobs.retain(|j| !j.kind.acquires());
        self.remote.retain(|k| !k.acquires());
        // Legacy's request for our groups, still waiting (for the peer to say `active`), was
        // not taken on the strength of the split: it is made again (see `req_owed`).
        self.req_owed |= owed && !self.nice_failback();
        let held = self.running_mask();
        let report = Report {
            held,
            kept: held & self.heal.before_split,
        };
        self.heal.ours = Some(report);
        self.heal.ours_at = Some(self.now);
    }

    fn heal_send(&mut self, kind: HealKind) {
        if let Some(r) = self.heal.ours {
            self.emit(Out::Heal {
                held: r.held,
                kept: r.kept,
                kind,
            });
        }
    }

    /// The peer's `hb_heal` message.
    pub(super) fn heal_message(&mut self, from: NodeId, held: u32, kept: u32, kind: HealKind) {
        if self.shutdown_in_progress || !self.comm_up {
            return;
        }
        if self.rsc_needs_shutdown {
            self.heal_leave_now();
            return;
        }
        match kind {
            HealKind::Released => {
                // Its copies are gone: announce ours again for clients it answered meanwhile.
                let gone = self.heal.awaiting & !held;
                self.heal.awaiting &= !gone;
                self.announce_mask(gone);
                // Ours that nobody runs can start now: its stops are over.
                let take = core::mem::take(&mut self.heal.take_on_release) & !held;
                self.heal_take(take);
                if take != 0 {
                    // Say we hold them: the peer's bookkeeping has us holding nothing of
                    // them, and would take nothing if we died (hbsim seed 49029: node2 ran
                    // its group after the heal, died, and node1 left it down).
                    self.i_hold = self.i_hold.union(self.rsc_set_of(take, self.table.local));
                    self.send_resources_held(true, None);
                }
                return;
            }
            HealKind::Reply if self.heal.decided => return,
            HealKind::Report
                if self.heal.theirs.is_some()
                    || self
                        .heal
                        .ours_at
                        .is_some_and(|t| self.now > t + self.timing.heal_report) =>
            {
                // A heal we did not see as such (its side lost us, ours did not lose it), after
                // an earlier one: a new round, with what we run now.
                self.heal_forget();
            }
            _ => {}
        }
        let p = &mut self.peers[from.ix()];
        p.status = Status::Active;
        p.heard = true;
        if self.heal.ours.is_none() {
            self.heal_make_report();
        }
        if kind == HealKind::Report {
            // It has not seen ours (it may have reached us while we still thought it dead,
            // and been dropped): once more, as the answer.
            self.heal_send(HealKind::Reply);
        }
        self.heal.theirs = Some(Report { held, kept });
        self.heal_decide(from);
    }

    fn heal_decide(&mut self, peer: NodeId) {
        let (Some(ours), Some(theirs)) = (self.heal.ours, self.heal.theirs) else {
            return;
        };
        if core::mem::replace(&mut self.heal.decided, true) {
            return;
        }
        self.timers.stop(Timer::HealReport);
        self.heal_classic_done();
        let standby_stopped = self.heal.standby_stops;
        if self.going != StandbyState::Not {
            self.cancel_standby();
        }
        let both = ours.held & theirs.held;
        let mut keep = 0u32;
        let mut give = 0u32;
        for g in 0..self.table.groups.len() {
            let bit = 1u32 << g;
            if both & bit == 0 {
                continue;
            }
            let mine = keeps_group(
                self.mode,
                ours.kept & bit != 0,
                theirs.kept & bit != 0,
                self.is_local_group(g),
            );
            if mine {
                keep |= bit;
                self.log(LogMsg::HealKeeping {
                    group: GroupId(g as u8),
                    peer,
                });
            } else {
                give |= bit;
                self.log(LogMsg::HealYielding {
                    group: GroupId(g as u8),
                    peer,
                });
            }
        }
        self.heal.awaiting = keep;
        self.announce_mask(keep);
        // The two-node bookkeeping, as after a settled start: both stable, each holding what
        // it keeps.
        // Our groups whose start failed here, and that the peer does not run, still await
        // their hand-over, which is offered again only for what we announce as ours
        // (`rearm_failed_handovers`): we go on announcing them, as after a failed start
        // (hbsim seed 6700 with HB_FENCE_DELAY, whose heal made it forget one).
        let failed = (0..self.table.groups.len())
            .filter(|&g| self.groups[g].state == GroupState::Failed && theirs.held & (1 << g) == 0)
            .fold(0u32, |m, g| m | 1 << g);
        let after_me = (ours.held & !give) | failed;
        let after_them = theirs.held & !keep;
        // A group our report named as running that a standby's give-up, cancelled above, has
        // stopped since or is stopping: both sides decided from the report, so the peer
        // counts on us for it and nobody else will start it. Started again once the stop is
        // over (hbsim seed 4295 with beating in step: a standby asked during the split was
        // answered as the reports crossed). Not a group given away on the peer's
        // `ip-request` meanwhile: the peer takes that one.
        self.heal_take(ours.held & !give & standby_stopped & !self.running_mask());
        self.i_hold = self.rsc_set_of(after_me, self.table.local);
        self.other_holds = self.rsc_set_of(after_them, peer);
        self.other_is_stable = true;
        // Their hand-over may already have been spent on a standby that the split cancelled
        // (which rearmed nothing: the give-up had taken them out of what we hold); now that
        // we announce them again, offer them again (hbsim seed 43736: left down for good).
        self.rearm_failed_handovers();
        self.takeover_in_progress = false;
        if self.nice_failback() && self.rstate != RscState::Shutdown {
            self.rstate = RscState::Stable;
        }
        // A group neither runs (its start was still waiting when the split healed, and was
        // dropped; or a node was stopping it, as a standby's give-up that the split
        // cancelled) goes to its preferred node, as at a start — once the other node says
        // `released`: a stop in flight is not in its report, and its copy runs until the stop
        // is done.
        let nobody = (0..self.table.groups.len())
            .filter(|&g| (ours.held | theirs.held) & (1 << g) == 0)
            .fold(0u32, |m, g| m | 1 << g);
        self.heal.take_on_release = (0..self.table.groups.len())
            .filter(|&g| nobody & (1 << g) != 0 && self.is_local_group(g))
            .fold(0, |m, g| m | 1 << g);
        self.heal.release_due = give != 0 || nobody != 0;
        if give != 0 {
            self.start_job(JobKind::HealRelease(give));
        } else if self.heal.release_due {
            self.heal_poll_released();
        } else {
            // Settled here: say so (auto_failback on|off), as after a start, for the peer may
            // have seen us unstable meanwhile (it refuses standbys until it sees us stable).
            self.send_resources_held(true, None);
        }
    }

    /// Starts those of `mask` that we do not run (nor are starting).
    fn heal_take(&mut self, mask: u32) {
        for g in 0..self.table.groups.len() {
            if mask & (1 << g) != 0
                && matches!(
                    self.groups[g].state,
                    GroupState::Stopped | GroupState::Stopping
                )
                && !self.queued_take(GroupId(g as u8))
            {
                self.queue_remote(JobKind::TakeGroup(GroupId(g as u8)));
            }
        }
    }

    /// Sends the `released` this heal owes once our releases (the heal's own, and any stop in
    /// flight when the split healed) are done.
    pub(super) fn heal_poll_released(&mut self) {
        if !self.heal.release_due
            || self
                .groups
                .iter()
                .take(self.table.groups.len())
                .any(|g| g.state == GroupState::Stopping)
            || self
                .jobs
                .iter()
                .any(|j| matches!(j.kind, JobKind::HealRelease(_)))
        {
            return;
        }
        self.heal.release_due = false;
        self.heal_released();
    }

    /// A mask of groups as a set seen from `node` (its local groups, the others).
    fn rsc_set_of(&self, mask: u32, node: NodeId) -> RscSet {
        let mut set = RscSet::NONE;
        for g in 0..self.table.groups.len() {
            if mask & (1 << g) != 0 {
                set = set.union(if self.table.groups[g].node == node {
                    RscSet::LOCAL
                } else {
                    RscSet::FOREIGN
                });
            }
        }
        set
    }

    /// Our heal release is done: tell the keeper.
    fn heal_released(&mut self) {
        let held = self.running_mask();
        self.emit(Out::Heal {
            held,
            kept: held,
            kind: HealKind::Released,
        });
        self.send_resources_held(true, None);
    }

    /// No report by the deadline: the peer is heartbeat 3.0.6 and gives up everything.
    pub(super) fn heal_no_report(&mut self) {
        if self.heal.theirs.is_some() || self.shutdown_in_progress {
            return;
        }
        let peer = (0..self.table.nodes.len())
            .map(|i| NodeId(i as u8))
            .find(|&n| n != self.table.local)
            .unwrap_or(self.table.local);
        self.log(LogMsg::HealClassicPeer(peer));
        self.heal.classic_peer = true;
        if self.nice_failback() && !self.heal.peer_leaving {
            // Legacy says nothing until its stops are done (`shutdone`): no telling a slow
            // stop from none.
            self.timers
                .set(Timer::ClassicGiveUp, self.now + self.timing.classic_giveup);
        }
        let mine = self.running_mask();
        self.announce_mask(mine);
    }

    /// The heal is over, or decided.
    pub(super) fn heal_classic_done(&mut self) {
        self.heal.classic_peer = false;
        self.timers.stop(Timer::ClassicGiveUp);
    }

    /// The peer gives up or restarts (`info=shutdown`, `shutdone`, a new generation), before
    /// or after the report deadline made it a 3.0.6 peer: nothing to wait for (a peer that
    /// began before the deadline is not waited for at all: hbsim seed 64, where it restarted
    /// after a stall).
    pub(super) fn heal_peer_leaving(&mut self) {
        self.heal.peer_leaving = true;
        self.timers.stop(Timer::ClassicGiveUp);
    }

    /// A 3.0.6 peer that has not begun to give up since the heal: both nodes may run the
    /// groups we kept, and only an admin can end it (hb keeps its copies: stopping them
    /// would leave the groups to a node whose resource handling is stuck). Not when it said
    /// since the return that it holds none of them (a node that came up during the split,
    /// never having run anything: hbsim seed 1806).
    pub(super) fn heal_classic_overdue(&mut self) {
        if !self.heal.classic_peer || self.heal.peer_leaving || self.shutdown_in_progress {
            return;
        }
        let Some(peer) = (0..self.table.nodes.len())
            .map(|i| NodeId(i as u8))
            .find(|&n| n != self.table.local && self.peers[n.ix()].alive())
        else {
            return;
        };
        let ours = self.rsc_set_of(self.running_mask(), peer);
        if self.heal.peer_holds.is_some_and(|s| !s.intersects(ours)) {
            return;
        }

        let waited = self.timing.heal_report + self.timing.classic_giveup;
        self.log(LogMsg::HealClassicPeerStuck {
            peer,
            secs: (waited.as_millis() / 1000) as u32,
        });
    }

    /// The peer's `shutdone` after a heal with a 3.0.6 peer: its copies are gone.
    pub(super) fn heal_peer_gone(&mut self) {
        if core::mem::take(&mut self.heal.classic_peer) {
            let mine = self.running_mask();
            self.announce_mask(mine);
        }
        self.heal_peer_leaving();
        self.heal.awaiting = 0;
    }

    fn announce_mask(&mut self, mask: u32) {
        for g in 0..self.table.groups.len() {
            if mask & (1 << g) != 0 && self.announce.push_back(GroupId(g as u8)).is_err() {
                self.dropped = self.dropped.saturating_add(1);
            }
        }
    }

    /// The next group whose addresses the daemon should announce again (gratuitous ARP,
    /// unsolicited neighbour advertisements: the burst of a takeover), because the other
    /// copy of it is stopping or gone after a split (see `heal.rs`). Nothing to answer.
    pub fn poll_announce(&mut self) -> Option<GroupId> {
        self.announce.pop_front()
    }
}
