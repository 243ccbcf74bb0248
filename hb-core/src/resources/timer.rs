//! The resource manager's timers: a [`TimerTable`](crate::time::TimerTable) indexed by
//! [`Timer`], as the engine keeps its own.

use crate::time::TimerId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// `RQSTDELAY`: a starting node takes its local groups anyway (counts only while
    /// `RscRcvd`; 3.0.6 arms it once and never clears it).
    RqstDelay = 0,
    /// The standby exchange: the reply to our request, or the whole exchange.
    Standby = 1,
    /// `PerformAutoFailback` again, while the cluster is not stable.
    FailbackRetry = 2,
    /// Multi-node: `starting` again, while a live peer has not answered it.
    StartingAgain = 3,
    /// Give everything up and restart, after a partition healed.
    Restart = 4,
}

impl Timer {
    pub(super) const COUNT: usize = 5;
}

impl TimerId for Timer {
    fn index(self) -> usize {
        self as usize
    }
}

pub(super) type TimerTable = crate::time::TimerTable<Timer, { Timer::COUNT }>;
