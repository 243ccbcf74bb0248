//! The core's own clock types. The core never reads a clock: callers pass `Instant`s in
//! (the daemon from `CLOCK_MONOTONIC`, the firmware from its timer).
//!
//! Resolution is one millisecond, the unit of every heartbeat timing directive.

use core::ops::{Add, AddAssign, Sub};

/// A span of time in whole milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Duration(u64);

impl Duration {
    pub const ZERO: Duration = Duration(0);
    pub const MAX: Duration = Duration(u64::MAX);

    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms)
    }
    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(1000))
    }
    pub const fn as_millis(self) -> u64 {
        self.0
    }
    pub const fn saturating_mul(self, n: u64) -> Self {
        Duration(self.0.saturating_mul(n))
    }
    pub const fn checked_sub(self, other: Duration) -> Option<Duration> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Duration(v)),
            None => None,
        }
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}

/// A point on a monotonic clock, in milliseconds since an arbitrary origin chosen by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }
    pub const fn as_millis(self) -> u64 {
        self.0
    }
    /// Time since `earlier`, or zero if `earlier` is in the future (clocks never go back here,
    /// but a caller mixing two clocks must not make the core panic).
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
    pub const fn checked_add(self, d: Duration) -> Option<Instant> {
        match self.0.checked_add(d.0) {
            Some(v) => Some(Instant(v)),
            None => None,
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

/// A timer's slot in a [`TimerTable`]: a fieldless enum whose discriminants are `0..N`.
pub(crate) trait TimerId: Copy {
    fn index(self) -> usize;
}

/// Timers as a fixed array indexed by an enum, as quinn-proto keeps them (design §2). A timer
/// that stands for many deadlines holds the earliest one. Used by the engine
/// ([`crate::engine`]'s `Timer`) and the resource manager ([`crate::resources`]'s).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimerTable<T, const N: usize> {
    data: [Option<Instant>; N],
    ids: core::marker::PhantomData<T>,
}

impl<T, const N: usize> Default for TimerTable<T, N> {
    fn default() -> Self {
        TimerTable {
            data: [None; N],
            ids: core::marker::PhantomData,
        }
    }
}

impl<T: TimerId, const N: usize> TimerTable<T, N> {
    pub(crate) fn set(&mut self, timer: T, at: Instant) {
        self.data[timer.index()] = Some(at);
    }

    pub(crate) fn set_or_stop(&mut self, timer: T, at: Option<Instant>) {
        self.data[timer.index()] = at;
    }

    pub(crate) fn get(&self, timer: T) -> Option<Instant> {
        self.data[timer.index()]
    }

    pub(crate) fn is_armed(&self, timer: T) -> bool {
        self.get(timer).is_some()
    }

    pub(crate) fn stop(&mut self, timer: T) {
        self.data[timer.index()] = None;
    }

    /// Whether `timer` is armed and due at `now`.
    pub(crate) fn is_due(&self, timer: T, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// Stops `timer` if it is due at `now`, and says whether it was.
    pub(crate) fn expire(&mut self, timer: T, now: Instant) -> bool {
        let due = self.is_due(timer, now);
        if due {
            self.stop(timer);
        }
        due
    }

    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }

    /// The earliest armed timer but `skip` (one that only counts in some states).
    pub(crate) fn next_timeout_without(&self, skip: T) -> Option<Instant> {
        let skip = skip.index();
        self.data
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != skip)
            .filter_map(|(_, t)| *t)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let t = Instant::from_millis(5);
        assert_eq!(t - Instant::from_millis(9), Duration::ZERO);
        assert_eq!(
            Instant::from_millis(u64::MAX) + Duration::from_millis(1),
            Instant::from_millis(u64::MAX)
        );
        assert_eq!((t + Duration::from_secs(2)).as_millis(), 2005);
    }
}
