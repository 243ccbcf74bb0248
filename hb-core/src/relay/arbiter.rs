//! Fence arbitration (issue 12): the relay settles a two-node fence race.
//!
//! In a split (both hosts alive, no heartbeat medium between them) each host takes the other
//! for dead and asks the relay to reset it. A relay that did both would leave no host running.
//! The rule: a host whose line a fence of another host pulsed less than [`FENCE_WINDOW`] ago
//! may not reset or power off another host; it is answered
//! [`FenceOutcome::LostRace`](super::FenceOutcome::LostRace) at once. So the first
//! authenticated request wins: its target is being reset, and its counter-request — in flight
//! already, or sent after the target booted again while the split lasts — is refused. `on`
//! (which only releases a line) and a host fencing itself are never refused.
//!
//! Only fences count, not the relay's watchdog: a host the watchdog reset had hung, and once
//! back it may fence a peer that died meanwhile.

use super::FenceAction;
use crate::time::{Duration, Instant};

/// How long a host fenced by another may not fence in turn, from the start of its reset
/// pulse. It covers the pulse (0.5 s), the fenced host's boot up to a running heartbeat (a
/// server's firmware and OS take 30–90 s; heartbeat's `initdead` then passes before it
/// declares its peer dead) with margin. The price: if the winner itself dies within the
/// window, the rebooted loser cannot fence it (its STONITH fails and retries every 5 s)
/// until the window ends, so that double fault costs up to two minutes of service. A split
/// that outlasts the window lets the loser fence the winner then: one reset per window, not
/// a reset loop.
pub const FENCE_WINDOW: Duration = Duration::from_secs(120);

/// The window in [`FencedAt`]'s ticks of 1 024 ms (a shift of the millisecond clock: the
/// relay's Cortex-M has no 64-bit division), rounded so that a request less than
/// [`FENCE_WINDOW`] after the reset is always refused; one up to 1.9 s later may be too.
const WINDOW_TICKS: u32 = (FENCE_WINDOW.as_millis() / 1024) as u32 + 2;

/// When one port's host was last fenced by another host, in ticks of 1 024 ms plus one, 0
/// for never: 4 bytes, which the relay keeps in its reset line's record, where they fit in
/// padding (the Cortex-M3 image has 12 bytes left of its 8 KiB RAM goal).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FencedAt(u32);

impl FencedAt {
    pub const NEVER: FencedAt = FencedAt(0);

    /// The host was fenced at `now`.
    pub fn record(&mut self, now: Instant) {
        *self = FencedAt(tick(now));
    }

    /// Whether the host was ever fenced by another (since the relay booted).
    pub fn ever(self) -> bool {
        self.0 != 0
    }

    /// Whether the host is still inside its fence window at `now`, so it may not fence.
    pub fn within_window(self, now: Instant) -> bool {
        self.0 != 0 && tick(now).saturating_sub(self.0) < WINDOW_TICKS
    }
}

/// The arbitration rule: whether a host fenced as `requester_fenced` says, on port
/// `requester`, may have `action` done to port `target`'s line at `now`.
pub fn allows(
    requester: usize,
    target: usize,
    action: FenceAction,
    requester_fenced: FencedAt,
    now: Instant,
) -> bool {
    !marks(requester, target, action) || !requester_fenced.within_window(now)
}

/// Whether `requester`'s `action` on `target`'s line, done, fences the target (starts its
/// window): `on` releases a line and a host fencing itself fences nobody else.
pub fn marks(requester: usize, target: usize, action: FenceAction) -> bool {
    action != FenceAction::On && requester != target
}

/// `now` in ticks plus one (139 years of them before it saturates).
fn tick(now: Instant) -> u32 {
    u32::try_from(now.as_millis() >> 10)
        .unwrap_or(u32::MAX - 1)
        .saturating_add(1)
}

/// The rule over a relay's `N` ports ([`allows`], [`marks`]), for the simulator and tests;
/// the firmware keeps each port's [`FencedAt`] with its reset line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FenceArbiter<const N: usize> {
    fenced_at: [FencedAt; N],
}

impl<const N: usize> Default for FenceArbiter<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FenceArbiter<N> {
    /// Nobody fenced yet (a relay that boots forgets: its lines are all released then).
    pub const fn new() -> Self {
        FenceArbiter {
            fenced_at: [FencedAt::NEVER; N],
        }
    }

    /// Whether `requester` may have `action` done to `target`'s line at `now`.
    pub fn allows(
        &self,
        requester: usize,
        target: usize,
        action: FenceAction,
        now: Instant,
    ) -> bool {
        let fenced = self.fenced_at.get(requester).copied().unwrap_or_default();
        allows(requester, target, action, fenced, now)
    }

    /// `requester` had `target`'s line pulsed for `action` at `now`, as [`Self::allows`] let
    /// it: the target is fenced (unless it fenced itself, or the action releases the line).
    pub fn fenced(&mut self, requester: usize, target: usize, action: FenceAction, now: Instant) {
        if let (true, Some(t)) = (
            marks(requester, target, action),
            self.fenced_at.get_mut(target),
        ) {
            t.record(now);
        }
    }

    /// Whether `port`'s host was ever fenced by another host.
    pub fn ever_fenced(&self, port: usize) -> bool {
        self.fenced_at.get(port).is_some_and(|t| t.ever())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn the_first_request_wins_and_the_loser_cannot_fence_back_within_the_window() {
        let mut a = FenceArbiter::<2>::new();
        assert!(a.allows(0, 1, FenceAction::Reset, at(1000)));
        a.fenced(0, 1, FenceAction::Reset, at(1000));
        // The counter-request, a millisecond later or after the loser's reboot.
        for t in [1001, 1500, 60_000, 1000 + FENCE_WINDOW.as_millis() - 1] {
            assert!(!a.allows(1, 0, FenceAction::Reset, at(t)), "{t}");
            assert!(!a.allows(1, 0, FenceAction::Off, at(t)), "{t}");
            // Releasing a line and fencing itself stay allowed.
            assert!(a.allows(1, 0, FenceAction::On, at(t)), "{t}");
            assert!(a.allows(1, 1, FenceAction::Reset, at(t)), "{t}");
            // The winner may fence again (a retry after a pin fault, say).
            assert!(a.allows(0, 1, FenceAction::Reset, at(t)), "{t}");
        }
        // Kept in ticks of 1 024 ms: the window ends less than 2 s after its nominal end.
        assert!(a.allows(
            1,
            0,
            FenceAction::Reset,
            at(1000 + FENCE_WINDOW.as_millis() + 2048)
        ));
        assert!(a.ever_fenced(1));
        assert!(!a.ever_fenced(0));
        // Every phase of the tick: refused just inside the window, allowed 2 s past it.
        for f in (0..3000).step_by(97) {
            let mut a = FenceArbiter::<2>::new();
            a.fenced(0, 1, FenceAction::Reset, at(f));
            let end = f + FENCE_WINDOW.as_millis();
            assert!(!a.allows(1, 0, FenceAction::Reset, at(end - 1)), "{f}");
            assert!(a.allows(1, 0, FenceAction::Reset, at(end + 2048)), "{f}");
        }
    }

    #[test]
    fn releasing_a_line_or_fencing_oneself_wins_no_race() {
        let mut a = FenceArbiter::<3>::new();
        a.fenced(0, 1, FenceAction::On, at(10));
        a.fenced(2, 2, FenceAction::Reset, at(10));
        for (r, t) in [(1, 0), (2, 0), (1, 2)] {
            assert!(a.allows(r, t, FenceAction::Reset, at(20)));
        }
        // Unknown ports are neither fenced nor refused.
        a.fenced(0, 7, FenceAction::Reset, at(30));
        assert!(a.allows(7, 0, FenceAction::Reset, at(31)));
    }
}
