//! The engine's timers: a fixed array indexed by [`Timer`], as quinn-proto keeps them. Timers
//! that stand for many deadlines (every node's death, every missing packet) hold the earliest
//! one and are recomputed after each change.

use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Send our status (`keepalive`).
    Keepalive = 0,
    /// Take back the start-up bump of the advertised dead time (`hb_pop_deadtime`).
    DeadtimePop = 1,
    /// Ask for the node list again (`send_reqnodes_msg`, every second until `repnodes`).
    ReqNodes = 2,
    /// The earliest moment a node can be declared dead.
    NodeDead = 3,
    /// The earliest moment a link can be declared dead.
    LinkDead = 4,
    /// The earliest retransmission request due.
    Rexmit = 5,
}

impl Timer {
    pub(crate) const COUNT: usize = 6;
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimerTable {
    data: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.data[timer as usize] = Some(at);
    }

    pub(crate) fn set_or_stop(&mut self, timer: Timer, at: Option<Instant>) {
        self.data[timer as usize] = at;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.data[timer as usize]
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.data[timer as usize] = None;
    }

    /// Whether `timer` is armed and due at `now`.
    pub(crate) fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_armed_timer_wins() {
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.set(Timer::Keepalive, Instant::from_millis(200));
        t.set(Timer::NodeDead, Instant::from_millis(100));
        assert_eq!(t.next_timeout(), Some(Instant::from_millis(100)));
        assert!(t.is_due(Timer::NodeDead, Instant::from_millis(100)));
        assert!(!t.is_due(Timer::Keepalive, Instant::from_millis(100)));
        t.stop(Timer::NodeDead);
        assert_eq!(t.next_timeout(), Some(Instant::from_millis(200)));
    }
}
