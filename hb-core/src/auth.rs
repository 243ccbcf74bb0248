//! Message authentication as heartbeat does it (`crc`, `md5`, `sha1`) plus our own `sha256`.
//!
//! - `crc`: CRC-32/CKSUM (poly 0x04C11DB7, MSB-first, init 0, final complement, no length
//!   suffix), printed with `%lx`: lowercase and *not* zero-padded. It ignores the key and only
//!   protects against corruption, never against an attacker.
//! - `md5`, `sha1`: RFC 2104 HMACs with the authkeys key, lowercase hex.
//! - `sha256`: HMAC-SHA256, lowercase hex. Our own method: a real heartbeat does not know it.
//!
//! A [`Keyring`] holds every key of `authkeys`: all of them verify, the active one signs. Unlike
//! 3.0.6 (whose `hb_compute_authentication` verifies with the *active* key whatever the index),
//! each index verifies with its own key, so a key rotation with two listed keys works.

use crate::text::{EncodeError, Sink};
use hmac::digest::block_api::{Buffer, CoreProxy, FixedOutputCore, UpdateCore};
use hmac::digest::Output;
use hmac::{Hmac, KeyInit};

/// Key indexes 0..=15 (heartbeat's `MAXAUTH`).
pub const MAX_KEYS: usize = 16;

/// Longest digest text: HMAC-SHA256 in hex.
pub const MAX_DIGEST_HEX: usize = 64;

// Bitwise rather than with a 1 KiB table: the `crc` method signs short frames, and on a relay
// board (issue 17) the table was the kilobyte that kept its image over 32 KiB.
static CKSUM: crc::Crc<u32, crc::NoTable> = crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_CKSUM);

/// An authentication method of `authkeys`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Method {
    Crc,
    Md5,
    Sha1,
    Sha256,
}

impl Method {
    pub const fn name(self) -> &'static str {
        match self {
            Method::Crc => "crc",
            Method::Md5 => "md5",
            Method::Sha1 => "sha1",
            Method::Sha256 => "sha256",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Some(match name {
            "crc" => Method::Crc,
            "md5" => Method::Md5,
            "sha1" => Method::Sha1,
            "sha256" => Method::Sha256,
            _ => return None,
        })
    }

    /// Whether `authkeys` must give a key for this method (`crc` must not).
    pub const fn takes_key(self) -> bool {
        !matches!(self, Method::Crc)
    }
}

/// Why a keyring could not take a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeyError {
    IndexOutOfRange,
    NotConfigured,
    /// `crc` with a key, or an HMAC method without one.
    KeyMismatch,
    /// Every slot of a keyring sized for fewer than 16 keys holds another key.
    Full,
}

/// Why a message failed authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AuthError {
    /// No `auth` field (classic) or no trailer (netstring).
    Missing,
    /// The auth text is not `<index> <digest>`.
    Malformed,
    /// The index is not in our authkeys.
    UnknownKey { index: u8 },
    /// The digest does not match.
    Mismatch { index: u8 },
}

impl core::fmt::Display for AuthError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            AuthError::Missing => f.write_str("no authentication (auth field or trailer missing)"),
            AuthError::Malformed => f.write_str("malformed authentication text"),
            AuthError::UnknownKey { index } => write!(f, "key index {index} is not in authkeys"),
            AuthError::Mismatch { index } => write!(f, "digest does not match key {index}"),
        }
    }
}

// The HMAC states are keyed once here and cloned per message: re-keying costs two compression
// rounds per message, a third of the work for a status packet. A slot keeps only the keyed
// core (the inner and outer hash states), not the wrapper's 64-byte block buffer, which is
// always empty after keying: 80 bytes rather than 144 for SHA-256, times 16 slots.
#[derive(Clone)]
enum Slot {
    Crc,
    Md5(HmacCore<md5::Md5>),
    Sha1(HmacCore<sha1::Sha1>),
    Sha256(HmacCore<sha2::Sha256>),
}

type HmacCore<D> = <Hmac<D> as CoreProxy>::Core;

/// Keys `D`'s HMAC with `key` and keeps its core.
// Not inlined: inlined into `Keyring::insert` for the three methods at once, the keying
// temporaries added up to a 972-byte frame on a relay board (issue 17), its deepest.
#[inline(never)]
fn keyed<D>(key: &[u8]) -> Result<HmacCore<D>, KeyError>
where
    D: hmac::EagerHash,
    Hmac<D>: CoreProxy,
    HmacCore<D>: KeyInit,
{
    // The core alone: a whole `Hmac` carries a block buffer only to be dropped here.
    HmacCore::<D>::new_from_slice(key).map_err(|_| KeyError::KeyMismatch)
}

/// An HMAC under way: the keyed core and its block buffer, as `Hmac` keeps them, but apart, so
/// that it can be finished in place. `Hmac` finishes only by value, and a hasher kept in place
/// (the compact framing's) then needs a copy of the whole state (≈ 150 bytes) to finish.
struct Running<D: hmac::EagerHash> {
    core: HmacCore<D>,
    buffer: Buffer<HmacCore<D>>,
}

impl<D> Running<D>
where
    D: hmac::EagerHash,
    Hmac<D>: CoreProxy<Core = hmac::block_api::HmacCore<D>>,
{
    /// A hasher from a keyed core, with an empty block buffer.
    fn resume(core: &HmacCore<D>) -> Self {
        Running {
            core: core.clone(),
            buffer: Default::default(),
        }
    }

    fn update(&mut self, data: &[u8]) {
        let Running { core, buffer } = self;
        buffer.digest_blocks(data, |blocks| core.update_blocks(blocks));
    }
}

impl Slot {
    fn method(&self) -> Method {
        match self {
            Slot::Crc => Method::Crc,
            Slot::Md5(_) => Method::Md5,
            Slot::Sha1(_) => Method::Sha1,
            Slot::Sha256(_) => Method::Sha256,
        }
    }
}

/// The keys of `authkeys`, ready to sign and verify: room for `K` of them, any of the key
/// indexes 0..=15 each. The default holds every index `authkeys` allows; a relay board built
/// with one key keeps one slot (88 bytes rather than 1.4 KiB).
#[derive(Clone)]
pub struct Keyring<const K: usize = MAX_KEYS> {
    slots: [Option<Slot>; K],
    /// The key index each slot holds.
    indexes: [u8; K],
    active: Option<u8>,
}

impl<const K: usize> core::fmt::Debug for Keyring<K> {
    // Key material stays out of logs: show only which indexes use which method.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut l = f.debug_map();
        for i in 0..MAX_KEYS as u8 {
            if let Some(m) = self.method(i) {
                l.entry(&usize::from(i), &m);
            }
        }
        l.finish()?;
        write!(f, " active={:?}", self.active)
    }
}

impl Default for Keyring {
    fn default() -> Self {
        Self::new()
    }
}

impl Keyring {
    /// No keys, room for all 16 indexes. A `const fn`, so a keyring can live in a `static`
    /// and be filled in place.
    pub const fn new() -> Self {
        Self::empty()
    }
}

impl<const K: usize> Keyring<K> {
    /// No keys, room for `K` (`Keyring::<1>::empty()` for a relay built with one key).
    pub const fn empty() -> Self {
        Keyring {
            slots: [const { None }; K],
            indexes: [0; K],
            active: None,
        }
    }

    /// The slot that holds key `index`.
    fn position(&self, index: u8) -> Option<usize> {
        self.slots
            .iter()
            .zip(&self.indexes)
            .position(|(s, &i)| s.is_some() && i == index)
    }

    fn slot(&self, index: u8) -> Option<&Slot> {
        self.slots.get(self.position(index)?)?.as_ref()
    }

    /// Adds (or replaces) key `index`; [`KeyError::Full`] when all `K` slots hold other keys.
    pub fn insert(&mut self, index: u8, method: Method, key: &[u8]) -> Result<(), KeyError> {
        if usize::from(index) >= MAX_KEYS {
            return Err(KeyError::IndexOutOfRange);
        }
        if method.takes_key() == key.is_empty() {
            return Err(KeyError::KeyMismatch);
        }
        let at = self
            .position(index)
            .or_else(|| self.slots.iter().position(Option::is_none))
            .ok_or(KeyError::Full)?;
        // HMAC accepts keys of any length (longer than a block they are hashed first).
        let keyed = match method {
            Method::Crc => Slot::Crc,
            Method::Md5 => Slot::Md5(keyed(key)?),
            Method::Sha1 => Slot::Sha1(keyed(key)?),
            Method::Sha256 => Slot::Sha256(keyed(key)?),
        };
        if let (Some(slot), Some(i)) = (self.slots.get_mut(at), self.indexes.get_mut(at)) {
            *slot = Some(keyed);
            *i = index;
        }
        Ok(())
    }

    /// Chooses the signing key (`auth N`).
    pub fn set_active(&mut self, index: u8) -> Result<(), KeyError> {
        if usize::from(index) >= MAX_KEYS {
            Err(KeyError::IndexOutOfRange)
        } else if self.position(index).is_none() {
            Err(KeyError::NotConfigured)
        } else {
            self.active = Some(index);
            Ok(())
        }
    }

    pub fn active(&self) -> Option<u8> {
        self.active
    }

    pub fn method(&self, index: u8) -> Option<Method> {
        self.slot(index).map(Slot::method)
    }

    /// A digest computation with key `index`; feed it bytes through [`Sink`].
    pub fn hasher(&self, index: u8) -> Option<Hasher> {
        let state = match self.slot(index)? {
            Slot::Crc => State::Crc(CKSUM.digest()),
            Slot::Md5(m) => State::Md5(Running::resume(m)),
            Slot::Sha1(m) => State::Sha1(Running::resume(m)),
            Slot::Sha256(m) => State::Sha256(Running::resume(m)),
        };
        Some(Hasher { index, state })
    }

    /// The active key's hasher, or `EncodeError::NoKey`.
    pub fn signer(&self) -> Result<Hasher, EncodeError> {
        self.active
            .and_then(|i| self.hasher(i))
            .ok_or(EncodeError::NoKey)
    }

    /// Computes the digest of `data` with key `index`.
    pub fn digest(&self, index: u8, data: &[u8]) -> Option<Digest> {
        let mut h = self.hasher(index)?;
        h.update(data);
        Some(h.finish())
    }

    /// Checks an `"<index> <digest>"` auth text against the bytes fed to `compute`.
    pub fn verify_with(
        &self,
        auth_text: &[u8],
        compute: impl FnOnce(&mut Hasher) -> Result<(), EncodeError>,
    ) -> Result<u8, AuthError> {
        let (index, claimed) = parse_auth_text(auth_text)?;
        let mut h = self.hasher(index).ok_or(AuthError::UnknownKey { index })?;
        compute(&mut h).map_err(|_| AuthError::Malformed)?;
        if h.finish().matches(claimed) {
            Ok(index)
        } else {
            Err(AuthError::Mismatch { index })
        }
    }
}

/// Splits `"<index> <digest>"` as heartbeat's `sscanf("%d %s")` would, but strictly: one
/// decimal index 0..=15, one space, a non-empty token and nothing after it.
pub fn parse_auth_text(text: &[u8]) -> Result<(u8, &[u8]), AuthError> {
    let sp = text
        .iter()
        .position(|&c| c == b' ')
        .ok_or(AuthError::Malformed)?;
    let (idx, digest) = (&text[..sp], &text[sp + 1..]);
    let index = crate::text::parse_decimal(idx)
        .filter(|&i| i < MAX_KEYS as u64)
        .ok_or(AuthError::Malformed)? as u8;
    if digest.is_empty() || digest.iter().any(|c| c.is_ascii_whitespace() || *c == 0) {
        return Err(AuthError::Malformed);
    }
    Ok((index, digest))
}

enum State {
    Crc(crc::Digest<'static, u32, crc::NoTable>),
    Md5(Running<md5::Md5>),
    Sha1(Running<sha1::Sha1>),
    Sha256(Running<sha2::Sha256>),
}

/// The longest raw digest: SHA-256's.
pub(crate) const MAX_RAW_DIGEST: usize = 32;

/// A digest being computed with one key of a [`Keyring`].
pub struct Hasher {
    index: u8,
    state: State,
}

impl core::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Hasher(key {})", self.index)
    }
}

impl Hasher {
    pub fn index(&self) -> u8 {
        self.index
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc(d) => d.update(data),
            State::Md5(m) => m.update(data),
            State::Sha1(m) => m.update(data),
            State::Sha256(m) => m.update(data),
        }
    }

    pub fn finish(mut self) -> Digest {
        let mut raw = [0u8; MAX_RAW_DIGEST];
        let n = self.finish_raw(&mut raw);
        let mut out = Digest {
            index: self.index,
            hex: [0; MAX_DIGEST_HEX],
            len: 0,
        };
        match (&self.state, raw.get(..n)) {
            (State::Crc(_), Some(&[a, b, c, d])) => {
                // heartbeat prints the CRC as a number (`%lx`), not as bytes.
                let mut text = [0u8; 16];
                let v = u32::from_le_bytes([a, b, c, d]);
                out.set(crate::text::format_hex(u64::from(v), &mut text).as_bytes());
            }
            (_, raw) => out.set_hex(raw.unwrap_or_default()),
        }
        out
    }

    /// Finishes the computation in place and writes the raw digest into `out` (`crc`: the
    /// CRC-32/CKSUM value, 4 bytes little-endian); returns its length. The hasher is spent:
    /// feed it nothing more. Kept in place, its state is never copied (the compact framing
    /// signs and verifies with this).
    pub(crate) fn finish_raw(&mut self, out: &mut [u8; MAX_RAW_DIGEST]) -> usize {
        match &mut self.state {
            State::Crc(d) => {
                let v = d.clone().finalize().to_le_bytes();
                out[..4].copy_from_slice(&v);
                4
            }
            State::Md5(m) => finish_hmac(m, out),
            State::Sha1(m) => finish_hmac(m, out),
            State::Sha256(m) => finish_hmac(m, out),
        }
    }
}

/// Finalises one HMAC in place into `out`; returns the digest's length. Not inlined: otherwise
/// the three methods' finalisations (padding blocks, inner digest, outer state) each took their
/// own stack in the caller, 0.7 KiB together on a Cortex-M3, where only one ever runs.
#[inline(never)]
fn finish_hmac<D>(m: &mut Running<D>, out: &mut [u8; MAX_RAW_DIGEST]) -> usize
where
    D: hmac::EagerHash,
{
    let mut digest = Output::<HmacCore<D>>::default();
    let Running { core, buffer } = m;
    core.finalize_fixed_core(buffer, &mut digest);
    let n = digest.len().min(MAX_RAW_DIGEST);
    out[..n].copy_from_slice(&digest[..n]);
    n
}

impl Sink for Hasher {
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.update(bytes);
        Ok(())
    }
}

/// A finished digest as heartbeat prints it, with the key index that made it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    index: u8,
    hex: [u8; MAX_DIGEST_HEX],
    len: u8,
}

impl Digest {
    fn set(&mut self, text: &[u8]) {
        self.hex[..text.len()].copy_from_slice(text);
        self.len = text.len() as u8;
    }

    fn set_hex(&mut self, raw: &[u8]) {
        for (i, b) in raw.iter().enumerate() {
            self.hex[2 * i] = b"0123456789abcdef"[usize::from(b >> 4)];
            self.hex[2 * i + 1] = b"0123456789abcdef"[usize::from(b & 0xf)];
        }
        self.len = (2 * raw.len()) as u8;
    }

    pub fn index(&self) -> u8 {
        self.index
    }

    /// The lowercase hex text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.hex[..usize::from(self.len)]
    }

    /// Case-sensitive comparison (heartbeat uses `strcmp`) that does not stop at the first
    /// differing byte, so timing tells an attacker nothing about how close a forgery is.
    pub fn matches(&self, claimed: &[u8]) -> bool {
        let mine = self.as_bytes();
        if mine.len() != claimed.len() {
            return false;
        }
        mine.iter()
            .zip(claimed)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// `"<index> <digest>"`, the value of the classic `auth` field and of the netstring trailer.
    pub fn auth_text<'b>(&self, buf: &'b mut [u8; 3 + MAX_DIGEST_HEX]) -> &'b [u8] {
        let mut n = 0;
        if self.index >= 10 {
            buf[n] = b'1';
            n += 1;
        }
        buf[n] = b'0' + self.index % 10;
        buf[n + 1] = b' ';
        n += 2;
        let d = self.as_bytes();
        buf[n..n + d.len()].copy_from_slice(d);
        &buf[..n + d.len()]
    }
}

impl core::fmt::Debug for Digest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} {}", self.index, self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(method: Method, key: &[u8]) -> Keyring {
        let mut k = Keyring::new();
        k.insert(1, method, key).unwrap();
        k.set_active(1).unwrap();
        k
    }

    #[test]
    fn crc_is_cksum_without_length_and_unpadded() {
        let k = ring(Method::Crc, b"");
        assert_eq!(k.digest(1, b"123456789").unwrap().as_str(), "765e7680");
        // The spec's zero-padding example: 7 digits, not 8.
        assert_eq!(
            k.digest(1, b"t=status\nseq=0\n").unwrap().as_str(),
            "1ed7b4f"
        );
    }

    #[test]
    fn hmacs_match_rfc_2202_and_4231() {
        // RFC 2202 test case 2 and RFC 4231 test case 2: key "Jefe".
        let data = b"what do ya want for nothing?";
        let md5 = ring(Method::Md5, b"Jefe").digest(1, data).unwrap();
        assert_eq!(md5.as_str(), "750c783e6ab0b503eaa86e310a5db738");
        let sha1 = ring(Method::Sha1, b"Jefe").digest(1, data).unwrap();
        assert_eq!(sha1.as_str(), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        let sha256 = ring(Method::Sha256, b"Jefe").digest(1, data).unwrap();
        assert_eq!(
            sha256.as_str(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn every_listed_key_verifies_and_the_active_one_signs() {
        let mut k = Keyring::new();
        k.insert(1, Method::Sha1, b"old").unwrap();
        k.insert(2, Method::Sha256, b"new").unwrap();
        k.set_active(2).unwrap();
        assert_eq!(k.signer().unwrap().index(), 2);
        let old = ring(Method::Sha1, b"old").digest(1, b"x").unwrap();
        let mut text = [0u8; 67];
        let t = old.auth_text(&mut text);
        assert_eq!(k.verify_with(t, |h| h.put(b"x")), Ok(1));
        assert_eq!(
            k.verify_with(t, |h| h.put(b"y")),
            Err(AuthError::Mismatch { index: 1 })
        );
        assert_eq!(
            k.verify_with(b"3 abc", |h| h.put(b"x")),
            Err(AuthError::UnknownKey { index: 3 })
        );
        assert_eq!(
            k.verify_with(b"1abc", |h| h.put(b"x")),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            k.verify_with(b"16 abc", |h| h.put(b"x")),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn key_rules_follow_authkeys() {
        let mut k = Keyring::new();
        assert_eq!(k.insert(1, Method::Crc, b"k"), Err(KeyError::KeyMismatch));
        assert_eq!(k.insert(1, Method::Sha1, b""), Err(KeyError::KeyMismatch));
        assert_eq!(
            k.insert(16, Method::Crc, b""),
            Err(KeyError::IndexOutOfRange)
        );
        assert_eq!(k.set_active(3), Err(KeyError::NotConfigured));
        assert!(k.signer().is_err());
    }

    #[test]
    fn a_small_keyring_holds_any_indexes_up_to_its_size() {
        let mut k: Keyring<2> = Keyring::empty();
        k.insert(9, Method::Sha1, b"old").unwrap();
        k.insert(14, Method::Sha256, b"new").unwrap();
        assert_eq!(k.insert(3, Method::Crc, b""), Err(KeyError::Full));
        assert_eq!(
            k.insert(16, Method::Crc, b""),
            Err(KeyError::IndexOutOfRange)
        );
        // Replacing a key it holds needs no free slot.
        k.insert(9, Method::Md5, b"old").unwrap();
        assert_eq!(k.method(9), Some(Method::Md5));
        assert_eq!(k.method(3), None);
        assert_eq!(k.set_active(3), Err(KeyError::NotConfigured));
        k.set_active(14).unwrap();
        let mut big = Keyring::new();
        big.insert(14, Method::Sha256, b"new").unwrap();
        big.set_active(14).unwrap();
        assert_eq!(k.digest(14, b"x"), big.digest(14, b"x"));
        assert_eq!(k.signer().unwrap().index(), 14);
        let mut s = heapless::String::<128>::new();
        core::fmt::write(&mut s, format_args!("{k:?}")).unwrap();
        assert_eq!(s, "{9: Md5, 14: Sha256} active=Some(14)");
    }

    #[test]
    fn debug_never_shows_keys() {
        let k = ring(Method::Sha1, b"topsecret");
        let mut s = heapless::String::<128>::new();
        core::fmt::write(&mut s, format_args!("{k:?}")).unwrap();
        assert!(!s.contains("topsecret"));
        assert!(s.contains("Sha1"));
    }
}
