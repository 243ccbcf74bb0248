//! The relay's key, provisioned over a serial line (issue 17; PROTOCOL.md §3.4).
//!
//! A relay built without a key has an empty keyring: it forwards nothing, fences nothing, and
//! verifies nothing but a key request signed with the key it carries, on link 0 — the first
//! provisioning, trusted on first use. A keyed relay takes a new key only on a host's fresh
//! link, signed with its current key. Either way the relay parks the key
//! ([`Relay::commit_key`]) for the board to write to flash, and uses it once the flash holds
//! it. An info request is answered whatever its MAC: what it reveals (firmware, boot cause,
//! key index and method, ports) is no secret, and a board without a key must still say so.

use super::{enqueue, Event, PendingKey, Relay, Storage};
use crate::buffers::TxQueue;
use crate::keystore::StoredKey;
use crate::TX_QUEUE_LEN;
use core::borrow::BorrowMut;
use embedded_hal::digital::OutputPin;
use embedded_io::{Read, ReadReady, Write, WriteReady};
use hb_core::auth::{Keyring, Method};
use hb_core::msg::compact::Frame;
use hb_core::relay::{
    self, Body, Info, RelayError, RelayFrame, KEY_FLASH_FAILED, KEY_IN_IMAGE, KEY_SOURCE_FLASH,
    KEY_SOURCE_IMAGE, KEY_STORED, VERSION,
};
use hb_core::time::Instant;

/// The firmware's version, as an info answer reports it.
pub const FIRMWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether a frame whose type byte is `kind` is one of provisioning's exceptions to "verify
/// with the relay's keys": an info request, or a key request to a relay without a key. Only
/// the type byte is looked at, so every other frame takes the main loop's usual path (and its
/// stack depth) unchanged.
pub(super) fn diverts<const K: usize>(kind: Option<u8>, keys: &Keyring<K>) -> bool {
    let info = Body::InfoRequest { session: 0 }.code();
    let key = Body::Key {
        session: 0,
        index: 0,
        method: Method::Crc,
        secret: &[],
    }
    .code();
    kind == Some(info) || (kind == Some(key) && keys.active().is_none())
}

/// Encodes `frame` into `tx` with `keys`, or — a relay without a key — unsigned (`crc`, key
/// 0), lending the empty keyring the `crc` entry for the time of the encoding: a keyring on the
/// stack here would make this path deeper than the main loop's usual one.
fn enqueue_or_unsigned<const K: usize>(
    tx: &mut TxQueue<TX_QUEUE_LEN>,
    keys: &mut Keyring<K>,
    frame: &RelayFrame<'_>,
) -> bool {
    if keys.active().is_some() {
        return enqueue(tx, keys, frame);
    }
    let lent = keys.insert(0, Method::Crc, b"").is_ok() && keys.set_active(0).is_ok();
    let sent = !lent || enqueue(tx, keys, frame);
    *keys = Keyring::empty();
    sent
}

impl<P, R, const N: usize, S, const K: usize> Relay<P, R, N, S, K>
where
    P: Read + Write + ReadReady + WriteReady,
    R: OutputPin,
    S: BorrowMut<Storage<N, K>>,
{
    /// Tells the relay why the board booted (one of `hb_core::relay`'s `BOOT_*`), for info
    /// answers.
    pub fn set_boot_cause(&mut self, cause: u8) {
        self.boot_cause = cause;
    }

    /// Uses `key`, found in flash at boot, as the relay's only key. False (and nothing
    /// changed) if the keyring cannot take it.
    pub fn load_key(&mut self, key: &StoredKey) -> bool {
        let ok = key.load_into(&mut self.storage.borrow_mut().keys).is_ok();
        if ok {
            self.key_source = KEY_SOURCE_FLASH;
        }
        ok
    }

    /// Where the relay's key comes from: one of `hb_core::relay`'s `KEY_SOURCE_*`.
    pub fn key_source(&self) -> u8 {
        self.key_source
    }

    /// Whether a key request waits for [`Relay::commit_key`].
    pub fn key_pending(&self) -> bool {
        self.storage.borrow().pending_key.is_some()
    }

    /// Finishes a key request taken by [`Relay::poll`]: `store` writes the key to flash and
    /// says whether it is there. Only then does the relay use it — forgetting every link (they
    /// were signed with the old key) and disarming every watchdog channel, as a reboot does, so
    /// no host is reset for pets it still signs with the old key — and it answers the
    /// requester. A board calls this after each poll; it does nothing without a request.
    pub fn commit_key(&mut self, store: impl FnOnce(&StoredKey) -> bool) {
        // The request stays in the storage (not on the stack) while the board writes the key.
        let (port, session, index, stored) = {
            let st = self.storage.borrow_mut();
            let Some(p) = st.pending_key.as_ref() else {
                return;
            };
            let stored = store(&p.key) && p.key.load_into(&mut st.keys).is_ok();
            (p.port, p.session, p.key.index, stored)
        };
        let st = self.storage.borrow_mut();
        st.pending_key = None;
        if stored {
            self.key_source = KEY_SOURCE_FLASH;
            for h in &mut st.hosts {
                h.link = None;
                h.pending = None;
                h.armed = None;
            }
        }
        self.push_event(Event::KeyStored {
            port,
            index,
            stored,
        });
        let outcome = if stored { KEY_STORED } else { KEY_FLASH_FAILED };
        self.answer_key(usize::from(port), session, index, outcome);
    }

    // Not inlined (nor is `answer_key`): the key and the keyring it signs with would otherwise
    // sit in the main loop's frame, under every frame the relay handles.
    #[inline(never)]
    pub(super) fn take_key(
        &mut self,
        i: usize,
        link: u64,
        counter: u32,
        session: u64,
        key: StoredKey,
    ) {
        if self.storage.borrow().keys.active().is_some() {
            // Re-keying: signed with the current key (checked), and fresh on the host's link.
            if let Err(e) = self.accept_on_link(i, link, counter) {
                return self.reject(i, e);
            }
            if self.key_source == KEY_SOURCE_IMAGE {
                return self.answer_key(i, session, key.index, KEY_IN_IMAGE);
            }
        } else if link != 0 || counter != 0 {
            return self.reject(i, RelayError::Malformed { at: 2 });
        }
        let st = self.storage.borrow_mut();
        // One request at a time; a second one in the same poll is dropped, its host asks again.
        if st.pending_key.is_none() {
            st.pending_key = Some(PendingKey {
                port: i as u8,
                session,
                key,
            });
        }
    }

    /// Answers a key request: signed with the relay's key — the new one once stored, else the
    /// one the host signed its request with — or, by a relay still without a key, unsigned
    /// (`crc`): a failure notice the host cannot authenticate, and needs not to.
    #[inline(never)]
    fn answer_key(&mut self, i: usize, session: u64, index: u8, outcome: u8) {
        let frame = RelayFrame {
            link: session,
            counter: 1,
            body: Body::KeyResult { outcome, index },
        };
        let st = self.storage.borrow_mut();
        let Some(tx) = st.tx.get_mut(i) else {
            return;
        };
        if !enqueue_or_unsigned(tx, &mut st.keys, &frame) {
            self.count(i, |s| &mut s.tx_dropped);
        }
    }

    /// Handles the frame of `len` stuffed bytes in port `i`'s receive buffer that [`diverts`]
    /// took: an info request (not verified: it reveals no secret), or a key request to a relay
    /// without a key (verified with the key it carries). Not inlined, and flat — no request
    /// copied out, the carried key put straight into the relay's storage — so that this path
    /// is no deeper than the main loop's usual one.
    #[inline(never)]
    pub(super) fn provisioning_frame(&mut self, i: usize, len: usize, now: Instant) {
        let st = self.storage.borrow_mut();
        let Some(rx) = st.rx.get_mut(i) else {
            return;
        };
        let Ok(frame) = Frame::unstuff(rx.frame_mut(len)) else {
            return self.count(i, |s| &mut s.garbage);
        };
        let f = match relay::open(&frame).and_then(|s| Ok((s.auth, s.parse_request()?))) {
            Ok((auth, f)) => (auth, f),
            Err(e) => return self.reject(i, e),
        };
        let (auth, f) = f;
        let (session, key) = match f.body {
            Body::InfoRequest { session } => return self.send_info(i, session, now),
            Body::Key {
                session,
                index,
                method,
                secret,
            } => (session, StoredKey::new(index, method, secret)),
            ref other => {
                let code = other.code();
                return self.reject(i, RelayError::UnknownType(code));
            }
        };
        if f.link != 0 || f.counter != 0 {
            return self.reject(i, RelayError::Malformed { at: 2 });
        }
        let Some(key) = key else {
            return self.reject(i, RelayError::Malformed { at: 0 });
        };
        if st.pending_key.is_some() {
            // One request at a time; its host asks again.
            return;
        }
        // The relay's own (empty) keyring checks the MAC with the carried key, then is emptied
        // again: the key is used once the flash holds it (`commit_key`).
        let verified = match key.load_into(&mut st.keys) {
            Ok(()) => auth.verify(&st.keys).map(|_| ()).map_err(RelayError::from),
            Err(_) => Err(RelayError::Malformed { at: 0 }),
        };
        st.keys = Keyring::empty();
        match verified {
            Ok(()) => {
                st.pending_key = Some(PendingKey {
                    port: i as u8,
                    session,
                    key,
                })
            }
            Err(e) => self.reject(i, e),
        }
    }

    // Not inlined: its frame is not under the provisioning frame's.
    #[inline(never)]
    pub(super) fn send_info(&mut self, i: usize, session: u64, now: Instant) {
        let uptime = self.uptime_s(now);
        let st = self.storage.borrow_mut();
        let active = st.keys.active();
        let frame = RelayFrame {
            link: session,
            counter: 1,
            body: Body::Info(Info {
                version: VERSION,
                firmware: FIRMWARE_VERSION.as_bytes(),
                boot_cause: self.boot_cause,
                key_source: self.key_source,
                key_index: active.unwrap_or(0),
                key_method: active.and_then(|a| st.keys.method(a)),
                ports: N as u8,
                uptime_s: uptime,
            }),
        };
        let Some(tx) = st.tx.get_mut(i) else {
            return;
        };
        if !enqueue_or_unsigned(tx, &mut st.keys, &frame) {
            self.count(i, |s| &mut s.tx_dropped);
        }
    }
}
