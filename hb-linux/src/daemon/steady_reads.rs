//! The loop's side of the steady sockets (hb-linux's `media::steady`): when they are polled,
//! and how what they hold reaches the core — first thing at every wake-up, each datagram at
//! the time the kernel stamped it on arrival.

use super::event_loop::{Daemon, RECV_BUDGET};
use crate::log::Priority;
use hb_core::engine::{NodeKind, NodeStatus};
use std::time::{Duration, Instant, SystemTime};

/// More steady datagrams than this in one read is no longer rest (each peer's status and
/// ACK, our own copies): the steady sockets are polled for a dead time.
const STEADY_BURST: usize = 16;

impl Daemon {
    /// Whether every cluster node (ourselves too) is active and every link to each is up:
    /// then steady statuses need not wake the loop. While anything is otherwise (a start, a
    /// death, a link down, a node back from a split, a burst) every status is read as it
    /// arrives.
    pub(super) fn cluster_steady(&self) -> bool {
        if self.steady_busy_until.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        let n_links = self.core_media;
        self.hb.nodes().all(|(_, n)| {
            n.kind() == NodeKind::Ping
                || (n.status() == NodeStatus::Active && (0..n_links).all(|l| n.link_up(l)))
        })
    }

    /// Reads every steady socket until it is empty (within [`RECV_BUDGET`] each).
    pub(super) fn read_steady(&mut self) {
        for i in 0..self.core_media {
            if self.hung[i].is_none() {
                self.receive_steady(i);
            }
        }
    }

    /// The copies of the steady statuses we just sent: in a steady cluster they wait for the
    /// next wake-up, which reads them with their arrival time; otherwise they would wake the
    /// next poll, so they are read now.
    pub(super) fn read_steady_echoes(&mut self) {
        let steady = self.cluster_steady();
        for i in 0..self.steady_echo_due.len() {
            if std::mem::take(&mut self.steady_echo_due[i]) && !steady && self.hung[i].is_none() {
                self.receive_steady(i);
            }
        }
    }

    /// Reads medium `i`'s steady socket until it is empty, giving the core each datagram at
    /// the time the kernel stamped it on arrival (no earlier than what the core was last told).
    pub(super) fn receive_steady(&mut self, i: usize) {
        let (mono, wall) = (Instant::now(), SystemTime::now());
        let floor = self.steady_floor.min(mono);
        let mut read = 0;
        for _ in 0..RECV_BUDGET.div_ceil(crate::media::Batch::CAPACITY) {
            let n = match self.media[i].recv_steady() {
                Ok(Some(batch)) => batch.len(),
                Ok(None) => return,
                Err(e) => {
                    self.rx_errors += 1;
                    let what = format!("{e}");
                    self.complain(i * 2, Priority::Warn, &what);
                    // What fitted of the read is still fed.
                    self.media[i].steady_batch().map_or(0, |b| b.len())
                }
            };
            read += n;
            if read > STEADY_BURST {
                let hold = Duration::from_millis(self.cfg.hacf.deadtime.as_millis());
                self.steady_busy_until = Some(mono + hold);
            }
            for k in 0..n {
                let Some((p, stamp)) = self.media[i].steady_batch().and_then(|b| b.get(k)) else {
                    continue;
                };
                let len = p.len();
                self.rx[..len].copy_from_slice(p);
                self.feed(i, len, arrival(stamp, mono, wall, floor));
            }
            if n < crate::media::Batch::CAPACITY {
                return;
            }
        }
    }
}

/// When a steady datagram stamped `stamp` (wall-clock) arrived, on the loop's clock: `mono`
/// and `wall` are the two clocks read together now, and `floor` is the earliest time the core
/// may still be given. A stamp the wall clock cannot account for (it was stepped meanwhile,
/// or the kernel gave none) counts as arriving now: late rather than early, so that no dead
/// time ever runs out sooner than it would have.
fn arrival(stamp: Option<SystemTime>, mono: Instant, wall: SystemTime, floor: Instant) -> Instant {
    let Some(ago) = stamp.and_then(|at| wall.duration_since(at).ok()) else {
        return mono;
    };
    match mono.checked_sub(ago) {
        // Before the floor by more than a second: the stamp predates the last read, which it
        // cannot, so the wall clock moved.
        Some(at) if at + Duration::from_secs(1) >= floor => at.clamp(floor, mono),
        _ => mono,
    }
}

#[cfg(test)]
mod tests {
    use super::arrival;
    use std::time::{Duration, Instant, SystemTime};

    #[test]
    fn a_steady_datagram_is_given_its_arrival_never_earlier_than_possible() {
        let (mono, wall) = (Instant::now(), SystemTime::now());
        let ms = Duration::from_millis;
        let floor = mono.checked_sub(ms(300)).unwrap();
        // Stamped 120 ms ago, after the last read: that is when it arrived.
        assert_eq!(
            arrival(Some(wall - ms(120)), mono, wall, floor),
            mono - ms(120)
        );
        // Stamped a little before the floor (it arrived while the last round ran, after
        // that round's read): the floor, the core having been told of later times.
        assert_eq!(arrival(Some(wall - ms(310)), mono, wall, floor), floor);
        // Far before the floor, or after now: the wall clock was stepped; counted as now
        // (late, so that no dead time ends early).
        assert_eq!(arrival(Some(wall - ms(5_000)), mono, wall, floor), mono);
        assert_eq!(arrival(Some(wall + ms(50)), mono, wall, floor), mono);
        // No stamp: now.
        assert_eq!(arrival(None, mono, wall, floor), mono);
    }
}
