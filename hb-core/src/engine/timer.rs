//! The engine's timers: a [`TimerTable`](crate::time::TimerTable) indexed by [`Timer`]. Timers
//! that stand for many deadlines (every node's death, every missing packet) hold the earliest
//! one and are recomputed after each change.

use crate::time::TimerId;

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

impl TimerId for Timer {
    fn index(self) -> usize {
        self as usize
    }
}

pub(crate) type TimerTable = crate::time::TimerTable<Timer, { Timer::COUNT }>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Instant;

    #[test]
    fn the_earliest_armed_timer_wins() {
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.set(Timer::Keepalive, Instant::from_millis(200));
        t.set(Timer::NodeDead, Instant::from_millis(100));
        assert_eq!(t.next_timeout(), Some(Instant::from_millis(100)));
        assert_eq!(
            t.next_timeout_without(Timer::NodeDead),
            Some(Instant::from_millis(200))
        );
        assert!(t.is_due(Timer::NodeDead, Instant::from_millis(100)));
        assert!(!t.is_due(Timer::Keepalive, Instant::from_millis(100)));
        assert!(!t.expire(Timer::Keepalive, Instant::from_millis(100)));
        assert!(t.expire(Timer::NodeDead, Instant::from_millis(100)));
        assert!(!t.is_armed(Timer::NodeDead));
        assert_eq!(t.next_timeout(), Some(Instant::from_millis(200)));
    }
}
