//! Resource monitoring (`env HB_MONITOR_*`): the fake daemon runs the status checks and the
//! restarts in place the node asks for (`poll_monitor`) and answers them
//! (`handle_monitor_result`), with services that die or cannot run as the scenario says; and
//! the checks that the node's monitoring does what ha.cf says:
//!
//! * a group is restarted only after `HB_MONITOR_FAILURES` failed checks in a row (one after a
//!   failed restart), and only while the node holds it;
//! * at most `HB_MONITOR_RESTARTS` times while the node holds it; the next time it fails that
//!   often it is given away, and the give-away is `hb_standby` of its set (two nodes) or
//!   refused (more nodes: standby is for two-node clusters);
//! * never on two nodes: a restart is in place (the group is held throughout, and the node's
//!   other actions on it wait for the restart, as the daemon's one worker runs them in order),
//!   and a give-away moves the group as a standby does, under the ownership checks.

use hb_core::config::AutoFailback;
use hb_core::resources::{GroupId, LogMsg, MonitorRequest, MonitorResult};

use crate::scenario::{Scenario, ServiceFault};

use super::world::{Ev, Sabotage, Watch, World};

impl World<'_> {
    /// A service fails (before the faults end).
    pub(super) fn service_fault(&mut self, f: ServiceFault) {
        let bit = 1u32 << f.group;
        let n = &mut self.nodes[f.node];
        if f.broken {
            n.svc_broken |= bit;
        } else if n.held & bit != 0 && n.hb.is_some() {
            n.svc_dead |= bit;
        } else {
            return;
        }
        self.log(Some(f.node), || {
            format!(
                "service of group {} {}",
                f.group,
                if f.broken { "broken" } else { "dies" }
            )
        });
    }

    /// The node starts or stops group `g`: a fresh start (or none) of its service, and a new
    /// count of restarts.
    pub(super) fn monitor_action(&mut self, i: usize, g: GroupId) {
        let n = &mut self.nodes[i];
        n.svc_dead &= !(1 << g.0);
        n.watch[usize::from(g.0)] = Watch::default();
    }

    /// The node stopped (crash, reset, reboot, exit): what ran stopped with it.
    pub(super) fn monitor_stop(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.svc_dead = 0;
        n.restarting = 0;
        n.restart_until = Default::default();
        n.watch = Default::default();
        n.giving_away = None;
    }

    /// How long the node's next action on `g` waits for a restart of `g` in flight.
    pub(super) fn restart_wait(&self, i: usize, g: GroupId) -> u64 {
        self.nodes[i].restart_until[usize::from(g.0)].saturating_sub(self.now)
    }

    /// Takes what the node's monitoring asks for.
    pub(super) fn drain_monitor(&mut self, i: usize) {
        while let Some(req) = self.nodes[i].hb.as_mut().and_then(|hb| hb.poll_monitor()) {
            self.record_monitor(i, req, None);
            let epoch = self.nodes[i].epoch;
            let delay = match req {
                MonitorRequest::Check(_) => {
                    let m = self.sc.monitoring.as_ref().expect("monitoring is on");
                    1 + self.mon_rng.below(m.check_delay)
                }
                MonitorRequest::Restart(g) => {
                    self.check_restart(i, g);
                    // Stopped, then started: two actions.
                    let d = self.sc.action_delay[i];
                    let jitter = self.sc.action_jitter + 1;
                    let delay = 2 * d + self.mon_rng.below(jitter) + self.mon_rng.below(jitter);
                    let n = &mut self.nodes[i];
                    n.busy |= 1 << g.0;
                    n.restarting |= 1 << g.0;
                    n.restart_until[usize::from(g.0)] = self.now + delay;
                    self.out.stats.monitor_restarts += 1;
                    self.log(Some(i), || format!("restarts group {} in place", g.0));
                    delay
                }
            };
            self.schedule(
                self.now + delay,
                Ev::MonitorDone {
                    node: i,
                    epoch,
                    request: req,
                },
            );
        }
    }

    /// A check or restart is done: its outcome goes to the node.
    pub(super) fn monitor_done(&mut self, i: usize, epoch: u32, request: MonitorRequest) {
        if self.nodes[i].epoch != epoch || self.nodes[i].hb.is_none() {
            return;
        }
        let m = self.sc.monitoring.clone().expect("monitoring is on");
        let before_end = !self.faults_over;
        let result = match request {
            MonitorRequest::Check(g) => {
                let bit = 1u32 << g.0;
                let n = &self.nodes[i];
                let runs = n.held & bit != 0 && (n.svc_dead | n.svc_broken) & bit == 0;
                let running = (runs && !(before_end && self.mon_rng.chance(m.flaky)))
                    || self.opts.sabotage == Some(Sabotage::ChecksAlwaysPass);
                let w = &mut self.nodes[i].watch[usize::from(g.0)];
                w.streak = if running { 0 } else { w.streak + 1 };
                MonitorResult::Checked { group: g, running }
            }
            MonitorRequest::Restart(g) => {
                let bit = 1u32 << g.0;
                let n = &mut self.nodes[i];
                n.busy &= !bit;
                n.restarting &= !bit;
                n.restart_until[usize::from(g.0)] = 0;
                // The daemon's worker stops the group first; a stop that fails reboots the
                // machine at once, as after any failed stop. As often as a release fails.
                if before_end && self.mon_rng.chance(self.sc.release_fail) {
                    self.log(Some(i), || {
                        format!("reboots (the stop of group {}'s restart failed)", g.0)
                    });
                    self.record_monitor(i, request, Some(false));
                    self.cause(self.settle_window(), "failed stop");
                    self.stop(i);
                    self.schedule_start(i, self.now + self.sc.restart_delay);
                    return;
                }
                let fails = before_end && self.mon_rng.chance(m.restart_fail);
                let n = &mut self.nodes[i];
                let running = n.svc_broken & bit == 0 && !fails;
                if running {
                    n.svc_dead &= !bit;
                } else {
                    n.svc_dead |= bit;
                }
                let w = &mut n.watch[usize::from(g.0)];
                w.streak = 0;
                w.restart_failed = !running;
                MonitorResult::Restarted { group: g, running }
            }
        };
        let (MonitorResult::Checked { group, running }
        | MonitorResult::Restarted { group, running }) = result;
        // A passing check is the usual case: the timeline shows the others.
        if !running || matches!(request, MonitorRequest::Restart(_)) {
            self.log(Some(i), || {
                format!("monitoring of group {} done: running={running}", group.0)
            });
        }
        self.record_monitor(i, request, Some(running));
        let now = self.instant();
        if let Some(hb) = self.nodes[i].hb.as_mut() {
            hb.handle_monitor_result(now, result);
        }
        self.after(i);
    }

    /// The node asks to restart group `g`: it holds it, its checks failed often enough, and
    /// it has restarts left.
    fn check_restart(&mut self, i: usize, g: GroupId) {
        let m = self.sc.monitoring.as_ref().expect("monitoring is on");
        let (failures, restarts) = (m.failures(), m.restarts());
        let bit = 1u32 << g.0;
        let n = &self.nodes[i];
        let name = Scenario::node_name(i);
        if n.held & bit == 0 || n.busy & bit != 0 {
            self.violation(format!(
                "{name} restarts group {} that it does not hold, or with an action in flight",
                g.0
            ));
        }
        let w = self.nodes[i].watch[usize::from(g.0)];
        if !failed_enough(w, failures) {
            self.violation(format!(
                "{name} restarts group {} after {} failed checks (HB_MONITOR_FAILURES {failures}, \
                 last restart failed: {})",
                g.0, w.streak, w.restart_failed
            ));
        }
        if w.restarts >= restarts {
            self.violation(format!(
                "{name} restarts group {} again after {} restarts (HB_MONITOR_RESTARTS \
                 {restarts})",
                g.0, w.restarts
            ));
        }
        let w = &mut self.nodes[i].watch[usize::from(g.0)];
        w.restarts += 1;
        w.streak = 0;
        w.restart_failed = false;
    }

    /// A line of the node's resource log, as far as monitoring is concerned.
    pub(super) fn monitor_log(&mut self, i: usize, l: LogMsg) {
        let Some(m) = self.sc.monitoring.as_ref() else {
            return;
        };
        let (failures, restarts) = (m.failures(), m.restarts());
        let name = Scenario::node_name(i);
        match l {
            LogMsg::MonitorCheckFailed { of, .. } if of != failures => self.violation(format!(
                "{name} counts failed checks to {of} (HB_MONITOR_FAILURES {failures})"
            )),
            LogMsg::MonitorRestarting { group, restart, of } => {
                let done = self.nodes[i].watch[usize::from(group.0)].restarts;
                if of != restarts || restart != done + 1 {
                    self.violation(format!(
                        "{name} announces restart {restart}/{of} of group {} after {done} \
                         (HB_MONITOR_RESTARTS {restarts})",
                        group.0
                    ));
                }
            }
            LogMsg::MonitorGivingAway {
                group,
                restarts: said,
            } => {
                let w = self.nodes[i].watch[usize::from(group.0)];
                if said != restarts || w.restarts != restarts || !failed_enough(w, failures) {
                    self.violation(format!(
                        "{name} gives group {} away after {said} restarts ({} seen) and {} \
                         failed checks (HB_MONITOR_RESTARTS {restarts}, HB_MONITOR_FAILURES \
                         {failures})",
                        group.0, w.restarts, w.streak
                    ));
                }
                let w = &mut self.nodes[i].watch[usize::from(group.0)];
                w.streak = 0;
                w.restart_failed = false;
                self.nodes[i].giving_away = Some(usize::from(group.0));
                self.out.stats.monitor_giveaways += 1;
                // The standby it starts moves groups, as an operator's does (where there is
                // one: a refused give-away, repeated at every failed streak, is no cause).
                if self.give_away_can_move() {
                    self.cause(self.settle_window() + 10_000, "monitor give-away");
                }
            }
            // The give-away's standby: `hb_standby` with two nodes, refused with more.
            LogMsg::GoingStandby(_) if self.sc.nodes == 2 => self.nodes[i].giving_away = None,
            LogMsg::MonitorStandbyRefused(g) if self.sc.nodes == 2 => self.violation(format!(
                "{name} was refused the standby that gives group {} away in a two-node cluster",
                g.0
            )),
            LogMsg::MonitorStandbyRefused(g)
                if self.nodes[i].giving_away == Some(usize::from(g.0)) =>
            {
                self.nodes[i].giving_away = None
            }
            _ => {}
        }
    }

    /// After settling: a group's service runs on its holder, unless monitoring has no way to
    /// move it (counted: with `auto_failback legacy` 3.0.6's standby refuses, `Standby mode
    /// only implemented when nice_failback on`, and with three or more nodes there is no
    /// standby; the group then stays down where it is once its restarts are spent).
    pub(super) fn final_monitor_check(&mut self) {
        if self.sc.monitoring.is_none() {
            return;
        }
        let can_move = self.give_away_can_move();
        for g in 0..self.sc.groups.len() {
            let bit = 1u32 << g;
            let down: Vec<usize> = (0..self.sc.nodes)
                .filter(|&i| {
                    let n = &self.nodes[i];
                    n.hb.is_some() && n.held & bit != 0 && n.svc_dead & bit != 0
                })
                .collect();
            if down.is_empty() {
                continue;
            }
            if can_move {
                let states = self.states();
                self.violation(format!(
                    "after settling, group {g}'s service is down on {:?}: monitoring neither \
                     restarted it nor gave it away ({states})",
                    down.iter()
                        .map(|&i| Scenario::node_name(i))
                        .collect::<Vec<_>>()
                ));
            } else {
                self.out.stats.monitor_left_down += 1;
            }
        }
    }

    /// Whether monitoring's give-away (a standby) can move a group: two nodes, and not
    /// `auto_failback legacy`, where 3.0.6 has no standby.
    fn give_away_can_move(&self) -> bool {
        self.sc.nodes == 2 && self.sc.auto_failback != AutoFailback::Legacy
    }

    /// After a node's events: a give-away it logged was followed by its standby.
    pub(super) fn check_give_away(&mut self, i: usize) {
        if let Some(g) = self.nodes[i].giving_away.take() {
            if self.nodes[i].hb.is_some() {
                self.violation(format!(
                    "{} gave group {g} away without a standby ({} nodes)",
                    Scenario::node_name(i),
                    self.sc.nodes
                ));
            }
        }
    }
}

/// Whether the checks since the last restart (or passing check) call for the next step.
fn failed_enough(w: Watch, failures: u32) -> bool {
    w.streak >= failures || (w.restart_failed && w.streak >= 1)
}

#[cfg(test)]
mod tests {
    use hb_core::auth::Method;
    use hb_core::config::AutoFailback;
    use hb_core::resources::GroupId;

    use super::super::world::{Watch, World};
    use super::super::{run_with, Options, Outcome, Sabotage};
    use crate::scenario::{LinkParams, MediumKind, Monitoring, Scenario, ServiceFault};

    /// A quiet cluster of `nodes` (clean network, quick actions, no random failures), group
    /// `g` preferring node `g % nodes`, monitored every second, a restart after two failed
    /// checks, at most one restart; node1's service of group 0 fails at 20 s.
    fn monitored(nodes: usize, auto_failback: AutoFailback, broken: bool) -> Scenario {
        let mut sc = Scenario::generate(1);
        sc.nodes = nodes;
        sc.media = vec![MediumKind::Bcast];
        sc.auto_failback = auto_failback;
        sc.stonith = false;
        sc.groups = (0..nodes).collect();
        sc.keepalive = 200;
        sc.deadtime = 1000;
        sc.warntime = 750;
        sc.initdead = 2000;
        sc.auth = Method::Sha1;
        sc.key_rotation = None;
        sc.ping_nodes = 0;
        sc.ipfail = false;
        let quiet = LinkParams {
            loss: 0,
            delay: 2,
            jitter: 1,
            dup: 0,
            corrupt: 0,
        };
        sc.links = vec![quiet; nodes * nodes];
        sc.start_at = (0..nodes as u64).map(|i| i * 100).collect();
        sc.faults = Vec::new();
        sc.fault_end = 50_000;
        sc.end = 80_000;
        sc.action_delay = vec![50; nodes];
        sc.action_jitter = 10;
        sc.slow_permille = 0;
        sc.acquire_fail = 0;
        sc.release_fail = 0;
        sc.fence_delay = 300;
        sc.fence_fail = 0;
        let fault = ServiceFault {
            node: 0,
            group: 0,
            broken,
        };
        sc.monitoring = Some(Monitoring {
            interval: 1000,
            failures: Some(2),
            restarts: Some(1),
            check_delay: 20,
            flaky: 0,
            restart_fail: 0,
            faults: vec![(20_000, fault)],
        });
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

    fn lines(out: &Outcome, pat: &str) -> usize {
        out.timeline.iter().filter(|l| l.contains(pat)).count()
    }

    #[test]
    fn a_service_that_died_is_restarted_in_place_once() {
        let out = run_it(&monitored(2, AutoFailback::On, false), None);
        assert!(out.passed(), "{:?}", out.violations);
        assert_eq!(out.stats.monitor_restarts, 1, "{:#?}", out.timeline);
        assert_eq!(out.stats.monitor_giveaways, 0);
        assert_eq!(
            lines(
                &out,
                "node1: log: Resource group 10.0.1.1 failed its status check"
            ),
            2
        );
        assert_eq!(
            lines(
                &out,
                "node1: log: Restarting resource group 10.0.1.1 in place (restart 1/1)."
            ),
            1
        );
        assert_eq!(
            lines(
                &out,
                "node1: log: Resource group 10.0.1.1 restarted in place."
            ),
            1
        );
        // It stays where it is.
        assert_eq!(lines(&out, "node2: acquires group 0"), 0);
    }

    #[test]
    fn a_broken_service_is_restarted_then_given_to_the_other_node() {
        let out = run_it(&monitored(2, AutoFailback::Off, true), None);
        assert!(out.passed(), "{:?}", out.violations);
        assert_eq!(out.stats.monitor_restarts, 1, "{:#?}", out.timeline);
        assert_eq!(out.stats.monitor_giveaways, 1);
        assert_eq!(
            lines(
                &out,
                "node1: log: Restart of resource group 10.0.1.1 failed."
            ),
            1
        );
        assert_eq!(
            lines(
                &out,
                "node1: log: Resource group 10.0.1.1 still fails after 1 restarts: giving it \
                 to the other node."
            ),
            1
        );
        assert_eq!(lines(&out, "node1: log: Going standby [local]."), 1);
        assert_eq!(lines(&out, "node1: releases group 0"), 1);
        assert_eq!(lines(&out, "node2: acquires group 0"), 1);
        assert_eq!(out.stats.monitor_left_down, 0);
    }

    #[test]
    fn where_no_standby_can_move_it_a_broken_group_stays_down() {
        // 3.0.6 has no standby with auto_failback legacy, and hb none for three nodes.
        for sc in [
            monitored(2, AutoFailback::Legacy, true),
            monitored(3, AutoFailback::On, true),
        ] {
            let out = run_it(&sc, None);
            assert!(out.passed(), "{:?}", out.violations);
            assert_eq!(out.stats.monitor_restarts, 1, "{:#?}", out.timeline);
            assert!(out.stats.monitor_giveaways >= 1);
            assert_eq!(out.stats.monitor_left_down, 1, "{:#?}", out.timeline);
            assert_eq!(lines(&out, "acquires group 0"), 1, "{:#?}", out.timeline);
        }
    }

    #[test]
    fn checks_that_never_fail_leave_a_dead_service_down_and_are_caught() {
        let sc = monitored(2, AutoFailback::On, false);
        let out = run_it(&sc, Some(Sabotage::ChecksAlwaysPass));
        assert_eq!(out.stats.monitor_restarts, 0);
        assert!(
            out.violations
                .iter()
                .any(|v| v.contains("group 0's service is down on [\"node1\"]")),
            "{:?}",
            out.violations
        );
    }

    #[test]
    fn a_restart_too_early_or_too_often_is_caught() {
        let sc = monitored(2, AutoFailback::On, false);
        let mut w = World::new(&sc, Options::default());
        w.nodes[0].held = 1;
        let g = GroupId(0);
        // One failed check where two make a restart.
        w.nodes[0].watch[0] = Watch {
            streak: 1,
            restarts: 0,
            restart_failed: false,
        };
        w.check_restart(0, g);
        assert!(
            w.out.violations[0].contains("after 1 failed checks"),
            "{:?}",
            w.out.violations
        );
        // Enough failed checks, but the one restart allowed is spent.
        w.out.violations.clear();
        w.nodes[0].watch[0] = Watch {
            streak: 2,
            restarts: 1,
            restart_failed: false,
        };
        w.check_restart(0, g);
        assert!(
            w.out.violations[0].contains("again after 1 restarts"),
            "{:?}",
            w.out.violations
        );
        // After a failed restart one failed check is enough, for a group it holds.
        w.out.violations.clear();
        w.nodes[0].watch[0] = Watch {
            streak: 1,
            restarts: 0,
            restart_failed: true,
        };
        w.check_restart(0, g);
        assert!(w.out.violations.is_empty(), "{:?}", w.out.violations);
        w.nodes[0].held = 0;
        w.check_restart(0, g);
        assert!(w.out.violations.iter().any(|v| v.contains("does not hold")));
    }
}
