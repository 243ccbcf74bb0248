//! The send history: the sequenced messages we sent last, kept to answer `NS_rexmit` with the
//! very same message (same `seq`, same `ts`), as heartbeat's `msghist` does (wire spec §3.6).
//!
//! Without an allocator the messages cannot be kept as heartbeat keeps them (one `ha_msg`
//! each), and keeping the encoded packets would cost about 310 bytes per status. Instead each
//! message is kept as a *record* of what cannot be recomputed — the fields the sender chose,
//! `ts` and `ld` — in a byte ring (the arena); the control fields that never change during a
//! run (`src`, `srcuuid`, `hg`, `ttl`) and `seq` are added again when the message is sent.
//! Status messages, almost all of the traffic, get a record of their own: a status costs
//! 10 bytes plus its `ld` text, about 37 bytes in all. An index of `HIST` slots (16 bytes each)
//! finds a record by `seq`.
//!
//! A record leaves the history when `HIST` newer messages have been kept or when its bytes
//! are needed for a new record, whichever comes first; a request for it is then answered with
//! a NAK, as heartbeat answers a request for a message older than its 500.

use crate::msg::{Field, FieldType};
use crate::time::Instant;

use super::event::NodeStatus;

/// heartbeat's `MAXMSGHIST`: how many sent messages it keeps.
pub const MAXMSGHIST: usize = 500;

/// Arena size that holds [`MAXMSGHIST`] status records with a typical `ld`
/// (`0.26 0.12 0.10 6/102 11977`) and some room for larger messages.
pub const DEFAULT_HISTORY_BYTES: usize = 24_000;

const KIND_STATUS: u8 = 0;
const KIND_FIELDS: u8 = 1;

const NEVER: u64 = u64::MAX;

/// What a status message says besides the control fields: `st`, `dt`, whether `protocol=1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatusBody {
    pub st: NodeStatus,
    pub dt_ms: u64,
    pub protocol: bool,
}

/// The sender's part of a message, as handed to [`History::push`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum RecordBody<'a, 'f> {
    Status(StatusBody),
    Fields(&'a [Field<'f>]),
}

/// A kept message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Record<'a> {
    pub ts: u64,
    pub ld: &'a [u8],
    pub body: BodyView<'a>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum BodyView<'a> {
    Status(StatusBody),
    Fields(RawFields<'a>),
}

/// The fields of a kept message, borrowed from the arena.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawFields<'a> {
    rest: &'a [u8],
    left: u8,
}

impl<'a> Iterator for RawFields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (&ty, rest) = self.rest.split_first()?;
        let (&name_len, rest) = rest.split_first()?;
        let (value_len, rest) = read_varint(rest)?;
        let name_len = usize::from(name_len);
        let value_len = usize::try_from(value_len).ok()?;
        let name = rest.get(..name_len)?;
        let value = rest.get(name_len..name_len + value_len)?;
        self.rest = &rest[name_len + value_len..];
        Some(Field {
            name,
            ty: FieldType::from_digit(b'0' + ty)?,
            value,
        })
    }
}

/// Where a sequence number stands in the history.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lookup<'a> {
    Found(Record<'a>),
    /// Older than the oldest kept (`seqno too low`).
    TooLow,
    /// Not sent yet.
    TooHigh,
    /// In range but unreadable: cannot happen unless the arena was damaged.
    NotFound,
}

/// Why a message cannot be kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TooLarge;

#[derive(Clone, Copy, Debug)]
struct Slot {
    off: u32,
    len: u32,
    /// When it was last sent again, in ms of [`Instant`], or [`NEVER`].
    resent: u64,
}

const EMPTY_SLOT: Slot = Slot {
    off: 0,
    len: 0,
    resent: NEVER,
};

/// The last `HIST` sequenced messages sent, in a `BYTES`-byte arena.
#[derive(Clone)]
pub struct History<const HIST: usize, const BYTES: usize> {
    arena: [u8; BYTES],
    slots: [Slot; HIST],
    /// The kept messages are `oldest..=newest`; empty when `oldest > newest`.
    oldest: u64,
    newest: u64,
    /// Where the next record goes.
    head: usize,
}

impl<const HIST: usize, const BYTES: usize> core::fmt::Debug for History<HIST, BYTES> {
    // The arena is kilobytes of records: show what it holds, not its bytes.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("History")
            .field("oldest", &self.oldest())
            .field("newest", &self.newest())
            .field("arena_used_up_to", &self.head)
            .finish()
    }
}

impl<const HIST: usize, const BYTES: usize> Default for History<HIST, BYTES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const HIST: usize, const BYTES: usize> History<HIST, BYTES> {
    pub const fn new() -> Self {
        History {
            arena: [0; BYTES],
            slots: [EMPTY_SLOT; HIST],
            oldest: 1,
            newest: 0,
            head: 0,
        }
    }

    /// How many messages are kept.
    pub fn len(&self) -> usize {
        (self.newest + 1).saturating_sub(self.oldest) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The oldest sequence number kept.
    pub fn oldest(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.oldest)
    }

    /// The newest sequence number kept.
    pub fn newest(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.newest)
    }

    /// The largest record a message may need: one that big can still be kept next to others.
    pub(crate) const fn max_record() -> usize {
        BYTES / 2
    }

    /// Keeps message `seq`, which must follow the newest kept (or start the history).
    pub(crate) fn push(
        &mut self,
        seq: u64,
        ts: u64,
        ld: &[u8],
        body: RecordBody<'_, '_>,
    ) -> Result<(), TooLarge> {
        let len = record_len(ts, ld, &body).ok_or(TooLarge)?;
        if len > Self::max_record() || HIST == 0 || len > u32::MAX as usize {
            return Err(TooLarge);
        }
        if self.is_empty() || seq != self.newest + 1 {
            // A fresh start (or a jump the engine never makes): forget everything.
            self.oldest = seq;
            self.newest = seq.wrapping_sub(1);
            self.head = 0;
        }
        while self.len() >= HIST {
            self.evict_oldest();
        }
        let start = self.reserve(len);
        let out = &mut self.arena[start..start + len];
        write_record(out, ts, ld, &body);
        self.slots[Self::slot(seq)] = Slot {
            off: start as u32,
            len: len as u32,
            resent: NEVER,
        };
        self.newest = seq;
        Ok(())
    }

    pub(crate) fn get(&self, seq: u64) -> Lookup<'_> {
        if self.is_empty() || seq > self.newest {
            return if seq > self.newest {
                Lookup::TooHigh
            } else {
                Lookup::TooLow
            };
        }
        if seq < self.oldest {
            return Lookup::TooLow;
        }
        let s = self.slots[Self::slot(seq)];
        let bytes = &self.arena[s.off as usize..(s.off + s.len) as usize];
        match read_record(bytes) {
            Some(r) => Lookup::Found(r),
            None => Lookup::NotFound,
        }
    }

    /// When message `seq` was last sent again.
    pub(crate) fn resent_at(&self, seq: u64) -> Option<Instant> {
        if self.is_empty() || seq < self.oldest || seq > self.newest {
            return None;
        }
        let r = self.slots[Self::slot(seq)].resent;
        (r != NEVER).then(|| Instant::from_millis(r))
    }

    pub(crate) fn mark_resent(&mut self, seq: u64, now: Instant) {
        if !self.is_empty() && seq >= self.oldest && seq <= self.newest {
            self.slots[Self::slot(seq)].resent = now.as_millis().min(NEVER - 1);
        }
    }

    fn slot(seq: u64) -> usize {
        (seq % HIST as u64) as usize
    }

    fn evict_oldest(&mut self) {
        self.oldest += 1;
    }

    /// Finds `len` contiguous bytes after the newest record, dropping the oldest records that
    /// are in the way. Records are laid out in `seq` order, wrapping to the start of the arena
    /// when one does not fit at the end, so the records in the way are always the oldest.
    fn reserve(&mut self, len: usize) -> usize {
        let mut start = self.head;
        if start + len > BYTES {
            // What lies between here and the end is the previous lap: the oldest records.
            while !self.is_empty() && self.slots[Self::slot(self.oldest)].off as usize >= start {
                self.evict_oldest();
            }
            start = 0;
        }
        while !self.is_empty() {
            let s = self.slots[Self::slot(self.oldest)];
            let (off, end) = (s.off as usize, (s.off + s.len) as usize);
            if off < start + len && start < end {
                self.evict_oldest();
            } else {
                break;
            }
        }
        self.head = start + len;
        start
    }
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn write_varint(out: &mut [u8], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    i + 1
}

fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, &bytes[i + 1..]));
        }
    }
    None
}

fn status_code(st: NodeStatus) -> u8 {
    match st {
        NodeStatus::Init => 0,
        NodeStatus::Up => 1,
        _ => 2,
    }
}

fn status_from_code(c: u8) -> NodeStatus {
    match c {
        0 => NodeStatus::Init,
        1 => NodeStatus::Up,
        _ => NodeStatus::Active,
    }
}

/// The record's size, or `None` if a part does not fit its length byte.
fn record_len(ts: u64, ld: &[u8], body: &RecordBody<'_, '_>) -> Option<usize> {
    if ld.len() > usize::from(u8::MAX) {
        return None;
    }
    let head = 1 + varint_len(ts) + 1 + ld.len();
    Some(
        head + match body {
            RecordBody::Status(s) => 2 + varint_len(s.dt_ms),
            RecordBody::Fields(fields) => {
                if fields.len() > usize::from(u8::MAX) {
                    return None;
                }
                let mut n = 1;
                for f in fields.iter() {
                    if f.name.len() > usize::from(u8::MAX) {
                        return None;
                    }
                    n += 2 + varint_len(f.value.len() as u64) + f.name.len() + f.value.len();
                }
                n
            }
        },
    )
}

fn write_record(out: &mut [u8], ts: u64, ld: &[u8], body: &RecordBody<'_, '_>) {
    let mut i = 0;
    out[i] = match body {
        RecordBody::Status(_) => KIND_STATUS,
        RecordBody::Fields(_) => KIND_FIELDS,
    };
    i += 1;
    i += write_varint(&mut out[i..], ts);
    out[i] = ld.len() as u8;
    i += 1;
    out[i..i + ld.len()].copy_from_slice(ld);
    i += ld.len();
    match body {
        RecordBody::Status(s) => {
            out[i] = status_code(s.st);
            out[i + 1] = u8::from(s.protocol);
            write_varint(&mut out[i + 2..], s.dt_ms);
        }
        RecordBody::Fields(fields) => {
            out[i] = fields.len() as u8;
            i += 1;
            for f in fields.iter() {
                out[i] = f.ty as u8;
                out[i + 1] = f.name.len() as u8;
                i += 2;
                i += write_varint(&mut out[i..], f.value.len() as u64);
                out[i..i + f.name.len()].copy_from_slice(f.name);
                i += f.name.len();
                out[i..i + f.value.len()].copy_from_slice(f.value);
                i += f.value.len();
            }
        }
    }
}

fn read_record(bytes: &[u8]) -> Option<Record<'_>> {
    let (&kind, rest) = bytes.split_first()?;
    let (ts, rest) = read_varint(rest)?;
    let (&ld_len, rest) = rest.split_first()?;
    let ld = rest.get(..usize::from(ld_len))?;
    let rest = &rest[usize::from(ld_len)..];
    let body = match kind {
        KIND_STATUS => {
            let (&st, rest) = rest.split_first()?;
            let (&flags, rest) = rest.split_first()?;
            let (dt_ms, _) = read_varint(rest)?;
            BodyView::Status(StatusBody {
                st: status_from_code(st),
                dt_ms,
                protocol: flags & 1 != 0,
            })
        }
        KIND_FIELDS => {
            let (&left, rest) = rest.split_first()?;
            BodyView::Fields(RawFields { rest, left })
        }
        _ => return None,
    };
    Some(Record { ts, ld, body })
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    const LD: &[u8] = b"0.26 0.12 0.10 6/102 11977";

    fn status() -> RecordBody<'static, 'static> {
        RecordBody::Status(StatusBody {
            st: NodeStatus::Active,
            dt_ms: 1000,
            protocol: true,
        })
    }

    #[test]
    fn a_status_record_is_small_and_reads_back() {
        let len = record_len(0x6b0214a8, LD, &status()).unwrap();
        assert_eq!(len, 1 + 5 + 1 + LD.len() + 2 + 2);
        let mut h: History<4, 256> = History::new();
        h.push(1, 0x6b0214a8, LD, status()).unwrap();
        match h.get(1) {
            Lookup::Found(r) => {
                assert_eq!(r.ts, 0x6b0214a8);
                assert_eq!(r.ld, LD);
                assert!(matches!(r.body, BodyView::Status(s) if s.dt_ms == 1000 && s.protocol));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(h.get(2), Lookup::TooHigh));
    }

    #[test]
    fn fields_read_back_in_order_with_their_types() {
        let uuid = [7u8; 16];
        let fields = [
            Field::string("t", "resource"),
            Field::string("rsc_hold", "none"),
            Field::binary("x", &uuid),
        ];
        let mut h: History<4, 256> = History::new();
        h.push(9, 5, b"n/a", RecordBody::Fields(&fields)).unwrap();
        let Lookup::Found(r) = h.get(9) else { panic!() };
        let BodyView::Fields(raw) = r.body else {
            panic!()
        };
        let back: std::vec::Vec<Field<'_>> = raw.collect();
        assert_eq!(back, fields);
    }

    #[test]
    fn the_index_keeps_the_last_hist_messages() {
        let mut h: History<3, 1024> = History::new();
        for seq in 1..=5 {
            h.push(seq, seq, LD, status()).unwrap();
        }
        assert_eq!((h.oldest(), h.newest()), (Some(3), Some(5)));
        assert!(matches!(h.get(2), Lookup::TooLow));
        assert!(matches!(h.get(3), Lookup::Found(r) if r.ts == 3));
        assert!(matches!(h.get(5), Lookup::Found(r) if r.ts == 5));
    }

    #[test]
    fn the_arena_drops_the_oldest_records_it_needs_room_for() {
        let len = record_len(1, LD, &status()).unwrap();
        // Room for three and a bit: the fourth wraps to the start and evicts the first.
        let mut h: History<100, 128> = History::new();
        assert!(3 * len < 128 && 4 * len > 128);
        for seq in 1..=4 {
            h.push(seq, seq, LD, status()).unwrap();
        }
        assert_eq!(h.oldest(), Some(2));
        for seq in 2..=4 {
            assert!(
                matches!(h.get(seq), Lookup::Found(r) if r.ts == seq),
                "{seq}"
            );
        }
        // Keep going around many times: every kept record must read back intact.
        for seq in 5..=200 {
            h.push(seq, seq, LD, status()).unwrap();
            let oldest = h.oldest().unwrap();
            assert!(seq - oldest < 4);
            for s in oldest..=seq {
                assert!(matches!(h.get(s), Lookup::Found(r) if r.ts == s), "{s}");
            }
        }
    }

    #[test]
    fn mixed_sizes_wrap_without_overlap() {
        let big = [b'x'; 50];
        let value = core::str::from_utf8(&big).unwrap();
        let fields = [Field::string("t", "resource"), Field::string("info", value)];
        let mut h: History<500, 300> = History::new();
        for seq in 1..=300u64 {
            let body = if seq % 3 == 0 {
                RecordBody::Fields(&fields)
            } else {
                status()
            };
            h.push(seq, seq, LD, body).unwrap();
            for s in h.oldest().unwrap()..=seq {
                match h.get(s) {
                    Lookup::Found(r) => {
                        assert_eq!(r.ts, s);
                        if let BodyView::Fields(raw) = r.body {
                            assert_eq!(raw.count(), 2);
                        }
                    }
                    other => panic!("{s}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn too_large_records_are_refused() {
        let big = [b'x'; 200];
        let value = core::str::from_utf8(&big).unwrap();
        let fields = [Field::string("info", value)];
        let mut h: History<4, 256> = History::new();
        assert_eq!(h.push(1, 1, LD, RecordBody::Fields(&fields)), Err(TooLarge));
        assert!(h.is_empty());
    }

    #[test]
    fn resend_times_are_kept_per_message() {
        let mut h: History<4, 256> = History::new();
        h.push(1, 1, LD, status()).unwrap();
        assert_eq!(h.resent_at(1), None);
        h.mark_resent(1, Instant::from_millis(0));
        assert_eq!(h.resent_at(1), Some(Instant::from_millis(0)));
        assert_eq!(h.resent_at(2), None);
    }
}
