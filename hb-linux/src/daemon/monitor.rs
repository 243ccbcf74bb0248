//! hb's resource monitoring (heartbeat v1 had none), off unless ha.cf says
//! `env HB_MONITOR_INTERVAL=<s>` (or `<n>ms`): every running group of ours is asked for its
//! status that often; after `HB_MONITOR_FAILURES` (3) failed checks in a row it is restarted in
//! place, and after `HB_MONITOR_RESTARTS` (2) restarts it is given to the other node
//! (`hb_standby`). ha.cf's `env` directive is 3.0.6's, so the file stays valid for it.
//!
//! This room decides; the loop submits the checks and restarts to the worker and logs the
//! lines. (A decision that may move into hb-core's resources, as timers and events.)

use crate::log::Priority;
use hb_core::resources::GroupId;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct MonitorCfg {
    interval: Duration,
    failures: u32,
    restarts: u32,
}

impl MonitorCfg {
    pub(super) fn from_hacf(cf: &hb_core::config::HaCf) -> Option<MonitorCfg> {
        let get = |name: &str| {
            cf.env
                .iter()
                .find(|v| v.name.as_str() == name)
                .map(|v| v.value.trim().to_string())
        };
        let interval = get("HB_MONITOR_INTERVAL").and_then(|v| match v.strip_suffix("ms") {
            Some(ms) => ms.trim().parse().ok().map(Duration::from_millis),
            None => v.parse().ok().map(Duration::from_secs),
        })?;
        if interval.is_zero() {
            return None;
        }
        let num =
            |name: &str, default: u32| get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
        Some(MonitorCfg {
            interval,
            failures: num("HB_MONITOR_FAILURES", 3).max(1),
            restarts: num("HB_MONITOR_RESTARTS", 2),
        })
    }
}

/// Monitoring of one group while it runs here.
#[derive(Clone, Copy, Debug, Default)]
struct Watch {
    next: Option<Instant>,
    failures: u32,
    restarts: u32,
    /// A check or restart is with the worker.
    busy: bool,
}

/// What to do after a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Nothing (it runs, or has not failed often enough yet).
    Keep,
    /// Restart the group in place (the loop submits it; the group is busy until it is done).
    Restart,
    /// Give the group away: hb_standby of the set it belongs to, from our side.
    GiveAway,
}

/// The monitoring of every group.
#[derive(Debug)]
pub(super) struct Monitoring {
    cfg: Option<MonitorCfg>,
    watches: Vec<Watch>,
}

impl Monitoring {
    /// `groups` is the capacity of groups watched.
    pub(super) fn new(cfg: Option<MonitorCfg>, groups: usize) -> Monitoring {
        Monitoring {
            cfg,
            watches: vec![Watch::default(); groups],
        }
    }

    /// The start-up line, when monitoring is on.
    pub(super) fn start_line(&self) -> Option<String> {
        self.cfg.map(|m| {
            format!(
                "Resource monitoring: every {} ms; restart after {} failed checks, at most {} restarts before standby",
                m.interval.as_millis(),
                m.failures,
                m.restarts
            )
        })
    }

    /// When the next check is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.watches
            .iter()
            .filter(|w| !w.busy)
            .filter_map(|w| w.next)
            .min()
    }

    /// The groups (of the first `groups`) to check now; they are busy until
    /// [`Monitoring::checked`]. A group that does not run here (`runs_here`) is forgotten;
    /// nothing is checked while the cluster is not `stable`.
    pub(super) fn due(
        &mut self,
        now: Instant,
        stable: bool,
        groups: usize,
        runs_here: impl Fn(GroupId) -> bool,
    ) -> Vec<GroupId> {
        let Some(m) = self.cfg else {
            return Vec::new();
        };
        let mut due = Vec::new();
        for i in 0..groups.min(self.watches.len()) {
            let g = GroupId(i as u8);
            if !runs_here(g) {
                if !self.watches[i].busy {
                    self.watches[i] = Watch::default();
                }
                continue;
            }
            let w = &mut self.watches[i];
            match w.next {
                None => w.next = Some(now + m.interval),
                Some(t) if t <= now && !w.busy && stable => {
                    w.next = Some(now + m.interval);
                    w.busy = true;
                    due.push(g);
                }
                Some(_) => {}
            }
        }
        due
    }

    /// A check of group `g` (`key` in the log) came back: whether it runs, and whether it
    /// still runs here. Returns the lines to log and what to do.
    pub(super) fn checked(
        &mut self,
        g: GroupId,
        key: &str,
        running: bool,
        here: bool,
    ) -> (Vec<(Priority, String)>, Verdict) {
        let mut lines = Vec::new();
        let Some(m) = self.cfg else {
            return (lines, Verdict::Keep);
        };
        let Some(w) = self.watches.get_mut(usize::from(g.0)) else {
            return (lines, Verdict::Keep);
        };
        w.busy = false;
        if !here || running {
            w.failures = 0;
            return (lines, Verdict::Keep);
        }
        w.failures += 1;
        let (failures, restarts) = (w.failures, w.restarts);
        lines.push((
            Priority::Warn,
            format!(
                "Resource group {key} failed its status check ({failures}/{}).",
                m.failures
            ),
        ));
        if failures < m.failures {
            return (lines, Verdict::Keep);
        }
        w.failures = 0;
        if restarts < m.restarts {
            w.restarts += 1;
            w.busy = true;
            lines.push((
                Priority::Warn,
                format!(
                    "Restarting resource group {key} in place (restart {}/{}).",
                    restarts + 1,
                    m.restarts
                ),
            ));
            return (lines, Verdict::Restart);
        }
        lines.push((
            Priority::Crit,
            format!(
                "Resource group {key} still fails after {restarts} restarts: giving it to the other node."
            ),
        ));
        (lines, Verdict::GiveAway)
    }

    /// A restart in place of group `g` finished: whether it runs again. The line to log.
    pub(super) fn restarted(&mut self, g: GroupId, key: &str, running: bool) -> (Priority, String) {
        let failures = self.cfg.map_or(0, |m| m.failures - 1);
        if let Some(w) = self.watches.get_mut(usize::from(g.0)) {
            w.busy = false;
            if !running {
                // Counts as failed checks: the next failure goes on to the next step.
                w.failures = failures;
            }
        }
        if running {
            (
                Priority::Info,
                format!("Resource group {key} restarted in place."),
            )
        } else {
            (
                Priority::Error,
                format!("Restart of resource group {key} failed."),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(env: &str) -> Option<MonitorCfg> {
        let text = format!("bcast lo\nnode alpha beta\n{env}");
        MonitorCfg::from_hacf(&hb_core::config::HaCf::parse(&text, &mut |_| {}).unwrap())
    }

    #[test]
    fn knobs_come_from_env_lines() {
        assert_eq!(cfg(""), None);
        assert_eq!(cfg("env HB_MONITOR_INTERVAL=0\n"), None);
        assert_eq!(
            cfg("env HB_MONITOR_INTERVAL=5\n"),
            Some(MonitorCfg {
                interval: Duration::from_secs(5),
                failures: 3,
                restarts: 2
            })
        );
        assert_eq!(
            cfg("env HB_MONITOR_INTERVAL=250ms\nenv HB_MONITOR_FAILURES=0\nenv HB_MONITOR_RESTARTS=0\n"),
            Some(MonitorCfg {
                interval: Duration::from_millis(250),
                failures: 1,
                restarts: 0
            })
        );
    }

    #[test]
    fn failures_lead_to_restarts_then_standby() {
        let m = MonitorCfg {
            interval: Duration::from_secs(1),
            failures: 2,
            restarts: 1,
        };
        let mut mon = Monitoring::new(Some(m), 4);
        let g = GroupId(1);
        let t0 = Instant::now();
        let here = |x: GroupId| x == g;
        // The first look only starts the clock; then a check each interval, when stable.
        assert!(mon.due(t0, true, 4, here).is_empty());
        assert_eq!(mon.next_due(), Some(t0 + m.interval));
        assert!(mon.due(t0 + m.interval, false, 4, here).is_empty());
        assert_eq!(mon.due(t0 + m.interval, true, 4, here), vec![g]);
        // Busy until it comes back.
        assert!(mon.due(t0 + m.interval * 3, true, 4, here).is_empty());
        let (lines, v) = mon.checked(g, "web", false, true);
        assert_eq!(v, Verdict::Keep);
        assert_eq!(
            lines,
            vec![(
                Priority::Warn,
                "Resource group web failed its status check (1/2).".to_string()
            )]
        );
        let (lines, v) = mon.checked(g, "web", false, true);
        assert_eq!(v, Verdict::Restart);
        assert_eq!(
            lines[1].1,
            "Restarting resource group web in place (restart 1/1)."
        );
        assert_eq!(
            mon.restarted(g, "web", false),
            (
                Priority::Error,
                "Restart of resource group web failed.".to_string()
            )
        );
        // A failed restart counts as failed checks: the next failure gives the group away.
        let (lines, v) = mon.checked(g, "web", false, true);
        assert_eq!(v, Verdict::GiveAway);
        assert_eq!(
            lines.last().unwrap(),
            &(
                Priority::Crit,
                "Resource group web still fails after 1 restarts: giving it to the other node."
                    .to_string()
            )
        );
        // A group that runs, or no longer runs here, resets the count.
        let (lines, v) = mon.checked(g, "web", true, true);
        assert_eq!((lines.len(), v), (0, Verdict::Keep));
    }

    #[test]
    fn off_means_nothing_is_checked() {
        let mut mon = Monitoring::new(None, 4);
        assert_eq!(mon.start_line(), None);
        assert!(mon.due(Instant::now(), true, 4, |_| true).is_empty());
        assert_eq!(mon.next_due(), None);
        assert_eq!(
            mon.checked(GroupId(0), "web", false, true),
            (vec![], Verdict::Keep)
        );
    }
}
