//! Resource monitoring, hb's own (heartbeat v1 had none): off unless `ha.cf` says
//! `env HB_MONITOR_INTERVAL=<s>` (or `<n>ms`). Every group running here is checked that often
//! while the cluster is stable; after `HB_MONITOR_FAILURES` (3) failed checks in a row it is
//! restarted in place, and after `HB_MONITOR_RESTARTS` (2) restarts it is given to the other
//! node (`hb_standby` of the set it belongs to). ha.cf's `env` directive is 3.0.6's, so the
//! file stays valid for it.
//!
//! The core decides, the daemon does: a due check or a restart comes out of
//! [`Resources::poll_monitor`] as a [`MonitorRequest`], and its outcome goes back in through
//! [`Resources::handle_monitor_result`]. The checks' deadlines are part of
//! [`Resources::poll_timeout`].

use core::fmt;

use heapless::Deque;

use super::log::LogMsg;
use super::msg::StandbySet;
use super::types::{Command, GroupId, GroupState, Holder};
use super::Resources;
use crate::config::HaCf;
use crate::time::{Duration, Instant};

/// `HB_MONITOR_FAILURES` when not given: failed checks in a row before a restart.
pub const DEFAULT_MONITOR_FAILURES: u32 = 3;
/// `HB_MONITOR_RESTARTS` when not given: restarts in place before the group is given away.
pub const DEFAULT_MONITOR_RESTARTS: u32 = 2;

/// Requests waiting for the caller: at most one per group (a group with a request out waits
/// for its result), and there are at most 32 groups.
pub(super) const MONITOR_CAP: usize = 32;

/// The monitoring settings: see [`Resources::poll_monitor`] and
/// [`Resources::handle_monitor_result`] for what they drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MonitorConfig {
    /// How often a running group is checked.
    pub interval: Duration,
    /// Failed checks in a row that make a restart (at least 1).
    pub failures: u32,
    /// Restarts in place before the group is given to the other node.
    pub restarts: u32,
}

impl MonitorConfig {
    /// The settings `ha.cf`'s `env HB_MONITOR_*` lines give, or `None` when monitoring is off
    /// (no interval, or 0). A value that does not parse is off or the default here; the daemon
    /// refuses such an ha.cf (hb-linux's config checks).
    pub fn from_hacf(cf: &HaCf) -> Option<MonitorConfig> {
        let get = |name: &str| {
            cf.env
                .iter()
                .find(|v| v.name.as_str() == name)
                .map(|v| v.value.trim())
        };
        let interval = get("HB_MONITOR_INTERVAL").and_then(crate::config::env_duration)?;
        if interval == Duration::ZERO {
            return None;
        }
        let num =
            |name: &str, default: u32| get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
        Some(MonitorConfig {
            interval,
            failures: num("HB_MONITOR_FAILURES", DEFAULT_MONITOR_FAILURES).max(1),
            restarts: num("HB_MONITOR_RESTARTS", DEFAULT_MONITOR_RESTARTS),
        })
    }
}

/// The daemon's start-up line.
impl fmt::Display for MonitorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Resource monitoring: every {} ms; restart after {} failed checks, at most {} restarts before standby",
            self.interval.as_millis(),
            self.failures,
            self.restarts
        )
    }
}

/// Something monitoring wants done; answer with the matching [`MonitorResult`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MonitorRequest {
    /// Ask the group's resources for their status.
    Check(GroupId),
    /// Stop the group's resources and start them again, in place.
    Restart(GroupId),
}

/// The outcome of a [`MonitorRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MonitorResult {
    /// A [`MonitorRequest::Check`]: whether every resource of the group says it runs.
    Checked { group: GroupId, running: bool },
    /// A [`MonitorRequest::Restart`]: whether the group runs again.
    Restarted { group: GroupId, running: bool },
}

/// Monitoring of one group while it runs here.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Watch {
    /// When the next check is due.
    next: Option<Instant>,
    failures: u32,
    restarts: u32,
    /// A check or a restart is with the caller.
    busy: bool,
}

impl Watch {
    pub(super) const NEW: Watch = Watch {
        next: None,
        failures: 0,
        restarts: 0,
        busy: false,
    };
}

pub(super) type MonitorQueue = Deque<MonitorRequest, MONITOR_CAP>;

impl<const NODES: usize, const GROUPS: usize> Resources<NODES, GROUPS> {
    /// Turns monitoring on (or off with `None`); see [`MonitorConfig::from_hacf`].
    pub fn set_monitor(&mut self, cfg: Option<MonitorConfig>) {
        self.monitor = cfg;
        self.watches = [Watch::NEW; GROUPS];
        self.monitor_out.clear();
    }

    /// The monitoring settings in force.
    pub fn monitor(&self) -> Option<MonitorConfig> {
        self.monitor
    }

    /// The next check or restart to do.
    pub fn poll_monitor(&mut self) -> Option<MonitorRequest> {
        self.monitor_out.pop_front()
    }

    /// A [`MonitorRequest`] is done: a failed check counts towards a restart, a failed
    /// restart towards the next step; after the last restart the group goes to the other node.
    pub fn handle_monitor_result(&mut self, now: Instant, result: MonitorResult) {
        self.now = now;
        match result {
            MonitorResult::Checked { group, running } => {
                let Some(m) = self.monitor else {
                    return;
                };
                self.checked(m, group, running);
            }
            MonitorResult::Restarted { group, running } => {
                let failures = self.monitor.map_or(0, |m| m.failures - 1);
                if let Some(w) = self.watches.get_mut(group.ix()) {
                    w.busy = false;
                    if !running {
                        // Counts as failed checks: the next failure goes on to the next step.
                        w.failures = failures;
                    }
                }
                self.log(if running {
                    LogMsg::MonitorRestarted(group)
                } else {
                    LogMsg::MonitorRestartFailed(group)
                });
            }
        }
        self.settle();
    }

    fn checked(&mut self, m: MonitorConfig, g: GroupId, running: bool) {
        let here = self.runs_here(g);
        let Some(w) = self.watches.get_mut(g.ix()) else {
            return;
        };
        w.busy = false;
        if !here || running {
            w.failures = 0;
            return;
        }
        w.failures += 1;
        let (failures, restarts) = (w.failures, w.restarts);
        self.log(LogMsg::MonitorCheckFailed {
            group: g,
            failures,
            of: m.failures,
        });
        if failures < m.failures {
            return;
        }
        let w = &mut self.watches[g.ix()];
        w.failures = 0;
        if restarts < m.restarts {
            w.restarts += 1;
            w.busy = true;
            self.log(LogMsg::MonitorRestarting {
                group: g,
                restart: restarts + 1,
                of: m.restarts,
            });
            self.monitor_request(MonitorRequest::Restart(g));
            return;
        }
        // Given away as heartbeat gives away a group that failed to start: hb_standby of the
        // set it belongs to, from our side.
        self.log(LogMsg::MonitorGivingAway { group: g, restarts });
        let set = if self.is_local_group(g.ix()) {
            StandbySet::Local
        } else {
            StandbySet::Foreign
        };
        if self
            .handle_command(self.now, Command::Standby(set))
            .is_err()
        {
            self.log(LogMsg::MonitorStandbyRefused(g));
        }
    }

    /// After every input and at every timeout: start the watch of a group that came to run
    /// here, forget the watch of one that stopped, and ask for the checks that are due.
    pub(super) fn service_monitor(&mut self) {
        let Some(m) = self.monitor else {
            return;
        };
        let now = self.now;
        let stable = self.is_stable();
        for i in 0..self.table.groups.len() {
            let g = GroupId(i as u8);
            if !self.runs_here(g) {
                if !self.watches[i].busy {
                    self.watches[i] = Watch::NEW;
                }
                continue;
            }
            let w = &mut self.watches[i];
            match w.next {
                None => w.next = Some(now + m.interval),
                Some(t) if t <= now && !w.busy && stable => {
                    w.next = Some(now + m.interval);
                    w.busy = true;
                    self.monitor_request(MonitorRequest::Check(g));
                }
                Some(_) => {}
            }
        }
    }

    /// A check or a restart is asked for or with the caller (a reload waits for it: the new
    /// image would never hear its result).
    pub fn monitor_busy(&self) -> bool {
        !self.monitor_out.is_empty() || self.watches.iter().any(|w| w.busy)
    }

    /// The earliest check due. A check waits while the cluster is unstable; it is then asked
    /// for by the input that makes it stable again, so it is no deadline meanwhile.
    pub(super) fn monitor_deadline(&self) -> Option<Instant> {
        self.monitor?;
        if !self.is_stable() {
            return None;
        }
        (0..self.table.groups.len())
            .filter(|&i| !self.watches[i].busy && self.runs_here(GroupId(i as u8)))
            .filter_map(|i| self.watches[i].next)
            .min()
    }

    /// Whether group `g` runs here and nothing is being done to it.
    fn runs_here(&self, g: GroupId) -> bool {
        self.holder(g) == Holder::Local && self.group_state(g) == GroupState::Running
    }

    fn monitor_request(&mut self, r: MonitorRequest) {
        if self.monitor_out.push_back(r).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }
}
