//! The relay's key, provisioned over a serial line (issue 17; PROTOCOL.md §3.4).
//!
//! A relay built without a key has an empty keyring: it forwards nothing, fences nothing, and
//! verifies nothing but a key request signed with the key it carries, on link 0 — the first
//! provisioning, trusted on first use. A keyed relay takes a new key only on a host's fresh
//! link, signed with its current key. Either way the relay parks the key
//! ([`Relay::commit_key`]) for the board to write to flash, and uses it once the flash holds
//! it. An info request is answered whatever its MAC: what it reveals (firmware, boot cause,
//! key index and method, ports) is no secret, and a board without a key must still say so.

use super::{enqueue, Event, PendingKey, Relay, Request, Storage};
use crate::keystore::StoredKey;
use core::borrow::BorrowMut;
use embedded_hal::digital::OutputPin;
use embedded_io::{Read, ReadReady, Write, WriteReady};
use hb_core::auth::{Keyring, Method};
use hb_core::msg::compact::{Frame, FrameAuth};
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

/// Verifies and parses a frame [`diverts`] took: an info request (not verified: it reveals no
/// secret) or a key request to a relay without a key (verified with the key it carries).
/// Returns its link, counter and request.
#[inline(never)]
pub(super) fn verify<const K: usize>(
    frame: &Frame<'_>,
    keys: &mut Keyring<K>,
) -> Result<(u64, u32, Request), RelayError> {
    let sealed = relay::open(frame)?;
    let f = sealed.parse_request()?;
    match f.body {
        Body::InfoRequest { session } => Ok((f.link, f.counter, Request::Info { session })),
        Body::Key { .. } => first_key(keys, &sealed.auth, &f),
        _ => Err(RelayError::UnknownType(f.body.code())),
    }
}

/// A key request to a relay without a key (`keys` is empty): verified with the key it carries,
/// which is put in `keys` for the check only — the relay uses it once the flash holds it
/// ([`Relay::commit_key`]). The relay's own keyring rather than one on the stack: this path
/// must not be deeper than a keyed relay's.
#[inline(never)]
fn first_key<const K: usize>(
    keys: &mut Keyring<K>,
    auth: &FrameAuth<'_>,
    f: &RelayFrame<'_>,
) -> Result<(u64, u32, Request), RelayError> {
    let Body::Key {
        session,
        index,
        method,
        secret,
    } = f.body
    else {
        return Err(RelayError::Malformed { at: 1 });
    };
    let key = StoredKey::new(index, method, secret).ok_or(RelayError::Malformed { at: 0 })?;
    let verified = match key.load_into(keys) {
        Ok(()) => auth.verify(keys).map(|_| ()).map_err(RelayError::from),
        Err(_) => Err(RelayError::Malformed { at: 0 }),
    };
    *keys = Keyring::empty();
    verified?;
    Ok((f.link, f.counter, Request::Key { session, key }))
}

/// The "keyring" of a relay without a key: `crc` (integrity only) at index 0, which is what
/// its info answers carry.
fn unsigned() -> Keyring<1> {
    let mut k = Keyring::<1>::empty();
    let _ = k.insert(0, Method::Crc, b"");
    let _ = k.set_active(0);
    k
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
        let Some(p) = self.storage.borrow_mut().pending_key.take() else {
            return;
        };
        let stored = store(&p.key) && self.load_key(&p.key);
        if stored {
            for h in &mut self.storage.borrow_mut().hosts {
                h.link = None;
                h.pending = None;
                h.armed = None;
            }
        }
        self.push_event(Event::KeyStored {
            port: p.port,
            index: p.key.index,
            stored,
        });
        let outcome = if stored { KEY_STORED } else { KEY_FLASH_FAILED };
        self.answer_key(usize::from(p.port), p.session, &p.key, outcome);
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
                return self.answer_key(i, session, &key, KEY_IN_IMAGE);
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

    /// Answers a key request, signed with the key it carried (which the host has).
    #[inline(never)]
    fn answer_key(&mut self, i: usize, session: u64, key: &StoredKey, outcome: u8) {
        let mut keys = Keyring::<1>::empty();
        if key.load_into(&mut keys).is_err() {
            return;
        }
        let frame = RelayFrame {
            link: session,
            counter: 1,
            body: Body::KeyResult {
                outcome,
                index: key.index,
            },
        };
        let sent = match self.storage.borrow_mut().tx.get_mut(i) {
            Some(tx) => enqueue(tx, &keys, &frame),
            None => return,
        };
        if !sent {
            self.count(i, |s| &mut s.tx_dropped);
        }
    }

    /// Handles the frame of `len` stuffed bytes in port `i`'s receive buffer that [`diverts`]
    /// took. Not inlined: its frame is not under the main loop's usual path.
    #[inline(never)]
    pub(super) fn provisioning_frame(&mut self, i: usize, len: usize, now: Instant) {
        let st = self.storage.borrow_mut();
        let Some(rx) = st.rx.get_mut(i) else {
            return;
        };
        let parsed = match Frame::unstuff(rx.frame_mut(len)) {
            Ok(frame) => verify(&frame, &mut st.keys),
            Err(_) => return self.count(i, |s| &mut s.garbage),
        };
        match parsed {
            Ok((_, _, Request::Info { session })) => self.send_info(i, session, now),
            Ok((link, counter, Request::Key { session, key })) => {
                self.take_key(i, link, counter, session, key)
            }
            Ok(_) => {}
            Err(e) => self.reject(i, e),
        }
    }

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
        let sent = if active.is_some() {
            enqueue(tx, &st.keys, &frame)
        } else {
            enqueue(tx, &unsigned(), &frame)
        };
        if !sent {
            self.count(i, |s| &mut s.tx_dropped);
        }
    }
}
