//! Fixed-size byte buffers of one serial port: the queue of whole frames to send. The frame
//! being received is collected by hb-core's [`hb_core::msg::compact::FrameCollector`], the
//! same rule the daemon's deframer follows (kept stuffed, so a heartbeat frame is forwarded
//! byte for byte).

/// A ring of bytes to send. Only whole frames go in, so the peer's deframer never sees a
/// frame cut short by a full queue: a frame that does not fit is refused whole.
#[derive(Debug)]
pub(crate) struct TxQueue<const CAP: usize> {
    buf: [u8; CAP],
    head: usize,
    len: usize,
}

impl<const CAP: usize> TxQueue<CAP> {
    pub(crate) const fn new() -> Self {
        TxQueue {
            buf: [0; CAP],
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn free(&self) -> usize {
        CAP - self.len
    }

    /// Queues `frame` and, if `delimit`, a 0x00 after it; all or nothing.
    pub(crate) fn push_frame(&mut self, frame: &[u8], delimit: bool) -> bool {
        let need = frame.len() + usize::from(delimit);
        if need > self.free() {
            return false;
        }
        for &b in frame.iter().chain(delimit.then_some(&0u8)) {
            let at = (self.head + self.len) % CAP;
            if let Some(slot) = self.buf.get_mut(at) {
                *slot = b;
            }
            self.len += 1;
        }
        true
    }

    /// All the free space as one slice, to encode a frame straight into; [`TxQueue::commit`]
    /// then queues what was written. When the free space wraps round the end of the ring, the
    /// queued bytes are first moved to the start.
    pub(crate) fn free_contiguous(&mut self) -> &mut [u8] {
        if self.len == CAP {
            return &mut [];
        }
        if self.head + self.len > CAP || self.head > 0 && self.head + self.len < CAP {
            // Free space on both sides of the queued bytes, or wrapped data: line them up.
            // Three reversals rotate the ring; `rotate_left` costs 2 KiB of flash.
            let (front, back) = self.buf.split_at_mut(self.head);
            front.reverse();
            back.reverse();
            self.buf.reverse();
            self.head = 0;
        }
        let start = (self.head + self.len) % CAP;
        let end = if self.head > start { self.head } else { CAP };
        self.buf.get_mut(start..end).unwrap_or_default()
    }

    /// Queues the first `n` bytes of what [`TxQueue::free_contiguous`] gave.
    pub(crate) fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(CAP);
    }

    /// The queued bytes that are contiguous in the ring, oldest first.
    pub(crate) fn front(&self) -> &[u8] {
        let end = (self.head + self.len).min(CAP);
        self.buf.get(self.head..end).unwrap_or_default()
    }

    /// Drops `n` sent bytes from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + n) % CAP
        };
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn queue_takes_whole_frames_and_wraps() {
        let mut q: TxQueue<8> = TxQueue::new();
        assert!(q.push_frame(&[1, 2, 3, 4, 5], true));
        assert!(!q.push_frame(&[6, 7], true));
        assert_eq!(q.free(), 2);
        assert_eq!(q.front(), [1, 2, 3, 4, 5, 0]);
        q.consume(4);
        assert!(q.push_frame(&[6, 7, 8, 9], true));
        assert_eq!(q.front(), [5, 0, 6, 7]);
        q.consume(4);
        assert_eq!(q.front(), [8, 9, 0]);
        q.consume(100);
        assert!(q.is_empty());
        assert_eq!(q.free(), 8);
        assert!(q.push_frame(&[1; 8], false));
        assert!(!q.push_frame(&[], true));
    }

    #[test]
    fn free_space_is_handed_out_whole_and_in_order() {
        let mut q: TxQueue<8> = TxQueue::new();
        assert_eq!(q.free_contiguous().len(), 8);
        assert!(q.push_frame(&[1, 2, 3, 4, 5], true));
        q.consume(3);
        // Queued [4, 5, 0] at 3..6, free 6..8 and 0..3: lined up first.
        let free = q.free_contiguous();
        assert_eq!(free.len(), 5);
        free[..2].copy_from_slice(&[6, 7]);
        q.commit(2);
        assert_eq!(q.front(), [4, 5, 0, 6, 7]);
        q.consume(4);
        assert!(q.push_frame(&[8, 9, 10, 11, 12], false));
        // Wrapped: [7, 8, 9, 10] then [11, 12] at the start, free in between, contiguous.
        assert_eq!(q.free_contiguous().len(), 2);
        q.commit(0);
        let mut all = Vec::new();
        while !q.is_empty() {
            let n = q.front().len();
            all.extend_from_slice(q.front());
            q.consume(n);
        }
        assert_eq!(all, [7, 8, 9, 10, 11, 12]);
    }
}
