//! What the relay sends: answers on a host's link, status reports, and the send queues'
//! draining into the ports.

use super::{enqueue, flags, millis, Relay, Storage};
use core::borrow::BorrowMut;
use embedded_hal::digital::OutputPin;
use embedded_io::{Read, ReadReady, Write, WriteReady};
use hb_core::relay::{Body, PortReport, RelayFrame, Status, MAX_PORTS};
use hb_core::time::Instant;

#[cfg(feature = "test-hang")]
use super::Event;
#[cfg(not(feature = "test-hang"))]
use hb_core::relay::RelayError;

impl<P, R, const N: usize, S, const K: usize> Relay<P, R, N, S, K>
where
    P: Read + Write + ReadReady + WriteReady,
    R: OutputPin,
    S: BorrowMut<Storage<N, K>>,
{
    /// Whole seconds since the first poll, saturated at `u32::MAX`.
    pub(super) fn uptime_s(&self, now: Instant) -> u32 {
        let ms = self
            .booted
            .map_or(0, |b| now.saturating_since(b).as_millis());
        secs(ms)
    }

    pub(super) fn send_status(&mut self, i: usize, now: Instant) {
        let uptime = self.uptime_s(now);
        let st = self.storage.borrow_mut();
        let Some(link) = st.hosts.get_mut(i).and_then(|h| h.link.as_mut()) else {
            return;
        };
        let session = link.session;
        let Some(counter) = link.tx.advance() else {
            return;
        };
        let mut reports = [PortReport::default(); MAX_PORTS];
        for ((r, h), l) in reports.iter_mut().zip(&st.hosts).zip(&self.lines) {
            *r = PortReport {
                flags: flags(h, l.state),
                timeout_ms: h.armed.map_or(0, |a| millis(a.timeout)),
                last_pet_age_ms: h.last_pet.map(|t| millis(now.saturating_since(t))),
                resets: h.stats.resets,
                fences: h.stats.fences,
                rejected: h.stats.rejected(),
                garbage: h.stats.lost(),
                name: &h.name,
            };
        }
        let frame = RelayFrame {
            link: session,
            counter,
            body: Body::Status(Status::new(uptime, reports.get(..N).unwrap_or_default())),
        };
        let Some(tx) = st.tx.get_mut(i) else {
            return;
        };
        if !enqueue(tx, &st.keys, &frame) {
            self.count(i, |s| &mut s.tx_dropped);
        }
    }

    #[cfg(feature = "test-hang")]
    pub(super) fn hang(&mut self, _i: usize) {
        self.hung = true;
        self.push_event(Event::Hang);
    }

    #[cfg(not(feature = "test-hang"))]
    pub(super) fn hang(&mut self, i: usize) {
        self.reject(i, RelayError::UnknownType(Body::Hang.code()));
    }

    // ---- sending ----

    /// Sends `body` to port `i`'s host on its link (nothing without one).
    pub(super) fn reply(&mut self, i: usize, body: Body<'_>) {
        let Some(link) = self
            .storage
            .borrow_mut()
            .hosts
            .get_mut(i)
            .and_then(|h| h.link.as_mut())
        else {
            return;
        };
        let Some(counter) = link.tx.advance() else {
            // 2³² frames on this link: drop it, the host will say hello again.
            if let Some(h) = self.storage.borrow_mut().hosts.get_mut(i) {
                h.link = None;
            }
            return;
        };
        let frame = RelayFrame {
            link: link.session,
            counter,
            body,
        };
        self.send_frame(i, &frame);
    }

    /// Encodes `frame` straight into port `i`'s send queue; a frame that does not fit is
    /// dropped whole and counted, as a forwarded one is.
    pub(super) fn send_frame(&mut self, i: usize, frame: &RelayFrame<'_>) {
        let st = self.storage.borrow_mut();
        let Some(tx) = st.tx.get_mut(i) else {
            return;
        };
        if !enqueue(tx, &st.keys, frame) {
            self.count(i, |s| &mut s.tx_dropped);
        }
    }

    pub(super) fn transmit(&mut self, i: usize) {
        let (Some(port), Some(tx)) = (
            self.ports.get_mut(i),
            self.storage.borrow_mut().tx.get_mut(i),
        ) else {
            return;
        };
        let mut failed = false;
        while !tx.is_empty() {
            match port.write_ready() {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
            match port.write(tx.front()) {
                Ok(0) => break,
                Ok(n) => tx.consume(n),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            self.count_io_error(i);
        }
    }
}

/// `ms / 1000`, saturated to `u32::MAX`, by long division in 16-bit steps: a 64-bit division
/// would link the runtime's (≈ 0.9 KiB) into a board's flash for this alone.
pub(super) fn secs(ms: u64) -> u32 {
    let mut q: u64 = 0;
    let mut rem: u32 = 0;
    for shift in [48u32, 32, 16, 0] {
        // rem < 1000, so this fits: 1000 · 2¹⁶ < 2³².
        let cur = rem << 16 | (ms >> shift & 0xffff) as u32;
        q = q << 16 | u64::from(cur / 1000);
        rem = cur % 1000;
    }
    u32::try_from(q).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn secs_divides_by_1000_and_saturates() {
        for ms in [0, 999, 1000, 1999, 3_725_000, u64::from(u32::MAX), 1 << 40] {
            assert_eq!(u64::from(super::secs(ms)), ms / 1000, "{ms}");
        }
        assert_eq!(super::secs(u64::MAX), u32::MAX);
        assert_eq!(super::secs(4_294_967_295_999), u32::MAX);
        assert_eq!(super::secs(4_294_967_296_000), u32::MAX);
    }
}
