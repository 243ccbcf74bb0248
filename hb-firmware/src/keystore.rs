//! The cluster key kept in the board's flash, for images built without one (issue 17).
//!
//! Flash is written through [`embedded_storage::nor_flash::NorFlash`]: a board implements it
//! over its chip's flash (or, on the QEMU board, over memory that survives a reset), host tests
//! over a byte array that can be cut at any byte.
//!
//! **Layout.** Two banks, each a whole number of erase units. A bank holds fixed-size slots,
//! each one [record](RECORD_LEN) or still erased:
//!
//! ```text
//! record = magic "HBK1" ‖ seq u32 ‖ index u8 ‖ method u8 ‖ len u8 ‖ 0xff ‖ secret[64] ‖ crc u32
//! ```
//!
//! (little-endian; `crc` is CRC-32C over everything before it; bytes of the secret past `len`
//! are 0xff; the slot's rest up to the flash's write size is left erased).
//!
//! **Wear.** A new key goes into the next erased slot of the bank that holds the newest record;
//! a bank is erased only when the other one is full, so each slot is written once per erase.
//!
//! **Atomicity.** The newest record whose magic and CRC check wins ([`KeyStore::load`]). A write
//! cut short leaves a slot that fails its CRC, and the record it was replacing is still in
//! place; the only erase ever done is of the bank that does *not* hold the newest record. So a
//! power cut at any moment leaves the old key or the new one, never neither
//! (`tests/keystore.rs` cuts a store at every byte).

use embedded_storage::nor_flash::{NorFlash, NorFlashErrorKind, ReadNorFlash};
use hb_core::auth::{KeyError, Keyring, Method};
use hb_core::relay::{method_code, method_from_code};

/// Longest key secret kept: what a key request carries (a longer `authkeys` key is sent as its
/// hash, which HMAC takes in its place).
pub use hb_core::relay::MAX_SECRET_LEN;

/// Bytes of a record before the flash's write-size padding.
pub const RECORD_LEN: usize = 4 + 4 + 4 + MAX_SECRET_LEN + 4;

const MAGIC: [u8; 4] = *b"HBK1";

static CRC32C: crc::Crc<u32, crc::NoTable> = crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISCSI);

/// A key as kept: its `authkeys` index, method and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub index: u8,
    pub method: Method,
    len: u8,
    secret: [u8; MAX_SECRET_LEN],
}

impl core::fmt::Debug for StoredKey {
    // The secret stays out of logs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "StoredKey({} {})", self.index, self.method.name())
    }
}

impl StoredKey {
    /// A key for `authkeys` index `index`; `None` when the index is past 15, the secret is
    /// longer than [`MAX_SECRET_LEN`], or the method and the secret disagree (`crc` takes none,
    /// the others one).
    pub fn new(index: u8, method: Method, secret: &[u8]) -> Option<StoredKey> {
        if index > 15 || secret.len() > MAX_SECRET_LEN || method.takes_key() == secret.is_empty() {
            return None;
        }
        let mut s = [0xff; MAX_SECRET_LEN];
        s.get_mut(..secret.len())?.copy_from_slice(secret);
        Some(StoredKey {
            index,
            method,
            len: secret.len() as u8,
            secret: s,
        })
    }

    pub fn secret(&self) -> &[u8] {
        self.secret.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Puts the key in `keys` as their only, active key.
    pub fn load_into<const K: usize>(&self, keys: &mut Keyring<K>) -> Result<(), KeyError> {
        *keys = Keyring::empty();
        keys.insert(self.index, self.method, self.secret())?;
        keys.set_active(self.index)
    }

    fn to_record(&self, seq: u32) -> [u8; RECORD_LEN] {
        let mut r = [0xff; RECORD_LEN];
        let head = [
            MAGIC[0],
            MAGIC[1],
            MAGIC[2],
            MAGIC[3],
            seq as u8,
            (seq >> 8) as u8,
            (seq >> 16) as u8,
            (seq >> 24) as u8,
            self.index,
            method_code(self.method),
            self.len,
            0xff,
        ];
        let (h, rest) = r.split_at_mut(head.len());
        h.copy_from_slice(&head);
        let (secret, crc) = rest.split_at_mut(MAX_SECRET_LEN);
        secret.copy_from_slice(&self.secret);
        let sum = {
            let mut d = CRC32C.digest();
            d.update(&head);
            d.update(&self.secret);
            d.finalize()
        };
        crc.copy_from_slice(&sum.to_le_bytes());
        r
    }

    /// The key and sequence number of a slot's bytes, if they hold a whole, intact record.
    fn from_record(r: &[u8; RECORD_LEN]) -> Option<(u32, StoredKey)> {
        let (body, crc) = r.split_at(RECORD_LEN - 4);
        if body.get(..4)? != MAGIC || CRC32C.checksum(body).to_le_bytes() != *crc {
            return None;
        }
        let u = |i: usize| body.get(i).copied().unwrap_or(0);
        let seq = u32::from_le_bytes([u(4), u(5), u(6), u(7)]);
        let method = method_from_code(u(9))?;
        let len = usize::from(u(10));
        let key = StoredKey::new(u(8), method, body.get(12..12 + len)?)?;
        Some((seq, key))
    }
}

/// Why the key store could not do what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The region is not two banks of whole erase units, or the flash's write size does not
    /// divide the store's `CHUNK`: a board's mistake.
    Layout,
    /// The flash refused a read, write or erase.
    Flash(NorFlashErrorKind),
    /// The record read back is not the one written.
    Verify,
}

/// Where a slot is: bank 0 or 1, slot number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    bank: u32,
    slot: u32,
}

/// What a scan of both banks found.
#[derive(Clone, Debug)]
struct Scan {
    newest: Option<(u32, Place, StoredKey)>,
    /// Per bank, the number of slots up to and including the last one not erased.
    used: [u32; 2],
}

/// The key store over `len` bytes of `flash` from `offset`: two banks of `len / 2` bytes.
/// Records are written `CHUNK` bytes at a time from a buffer on the stack: a multiple of the
/// flash's write size (the RP2040 programs 256-byte pages; 16 suits the others).
#[derive(Debug)]
pub struct KeyStore<F, const CHUNK: usize = 16> {
    flash: F,
    offset: u32,
    bank_len: u32,
    stride: u32,
}

impl<F: NorFlash, const CHUNK: usize> KeyStore<F, CHUNK> {
    /// `offset` and `len / 2` must be whole erase units of `flash`.
    pub fn new(flash: F, offset: u32, len: u32) -> Result<Self, StoreError> {
        let write = F::WRITE_SIZE.max(F::READ_SIZE).max(1);
        let stride = RECORD_LEN.div_ceil(write) * write;
        let bank_len = len / 2;
        let erase = F::ERASE_SIZE as u32;
        let ok = CHUNK > 0
            && CHUNK % F::WRITE_SIZE.max(1) == 0
            && RECORD_LEN % F::READ_SIZE.max(1) == 0
            && erase > 0
            && offset % erase == 0
            && bank_len % erase == 0
            && bank_len >= stride as u32
            && (offset as usize).saturating_add(len as usize) <= flash.capacity();
        if !ok {
            return Err(StoreError::Layout);
        }
        Ok(KeyStore {
            flash,
            offset,
            bank_len,
            stride: stride as u32,
        })
    }

    pub fn into_inner(self) -> F {
        self.flash
    }

    /// Slots per bank.
    pub fn slots(&self) -> u32 {
        self.bank_len / self.stride
    }

    fn addr(&self, p: Place) -> u32 {
        self.offset + p.bank * self.bank_len + p.slot * self.stride
    }

    fn scan(&mut self) -> Result<Scan, StoreError> {
        let mut s = Scan {
            newest: None,
            used: [0; 2],
        };
        for bank in 0..2u32 {
            for slot in 0..self.slots() {
                let place = Place { bank, slot };
                let mut r = [0u8; RECORD_LEN];
                let at = self.addr(place);
                self.flash.read(at, &mut r).map_err(flash)?;
                if !self.erased(at, &r)? {
                    if let Some(u) = s.used.get_mut(bank as usize) {
                        *u = slot + 1;
                    }
                }
                if let Some((seq, key)) = StoredKey::from_record(&r) {
                    if s.newest.as_ref().is_none_or(|(best, _, _)| seq > *best) {
                        s.newest = Some((seq, place, key));
                    }
                }
            }
        }
        Ok(s)
    }

    /// Whether the slot at `at`, whose first bytes are `head`, is still erased (its write
    /// padding included).
    fn erased(&mut self, at: u32, head: &[u8; RECORD_LEN]) -> Result<bool, StoreError> {
        if head.iter().any(|&b| b != 0xff) {
            return Ok(false);
        }
        let mut pad = [0u8; 16];
        let mut pos = RECORD_LEN as u32;
        while pos < self.stride {
            let n = (self.stride - pos).min(pad.len() as u32);
            let chunk = pad.get_mut(..n as usize).unwrap_or_default();
            self.flash.read(at + pos, chunk).map_err(flash)?;
            if chunk.iter().any(|&b| b != 0xff) {
                return Ok(false);
            }
            pos += n;
        }
        Ok(true)
    }

    /// The newest intact key, if any: the board is provisioned with it.
    pub fn load(&mut self) -> Result<Option<StoredKey>, StoreError> {
        Ok(self.scan()?.newest.map(|(_, _, k)| k))
    }

    /// Keeps `key` as the newest. On `Ok` it is what [`KeyStore::load`] returns from now on;
    /// on an error (or a power cut) either it or the key before it is.
    pub fn store(&mut self, key: &StoredKey) -> Result<(), StoreError> {
        let scan = self.scan()?;
        let (seq, bank) = match &scan.newest {
            Some((seq, p, _)) => (seq.wrapping_add(1), p.bank),
            None => (1, 0),
        };
        let used = scan.used.get(bank as usize).copied().unwrap_or(u32::MAX);
        let place = if used < self.slots() {
            Place { bank, slot: used }
        } else {
            // The other bank holds nothing newer than what `bank` keeps: erasing it loses
            // nothing.
            let other = 1 - bank;
            let from = self.offset + other * self.bank_len;
            self.flash
                .erase(from, from + self.bank_len)
                .map_err(flash)?;
            Place {
                bank: other,
                slot: 0,
            }
        };
        self.write_record(place, &key.to_record(seq))?;
        let mut back = [0u8; RECORD_LEN];
        self.flash
            .read(self.addr(place), &mut back)
            .map_err(flash)?;
        match StoredKey::from_record(&back) {
            Some((s, k)) if s == seq && k == *key => Ok(()),
            _ => Err(StoreError::Verify),
        }
    }

    /// Writes the record front to back in write-size chunks, so its CRC lands last.
    fn write_record(&mut self, place: Place, record: &[u8; RECORD_LEN]) -> Result<(), StoreError> {
        let mut buf = [0xffu8; CHUNK];
        let at = self.addr(place);
        let mut pos = 0usize;
        while pos < self.stride as usize {
            let n = CHUNK.min(self.stride as usize - pos);
            let chunk = buf.get_mut(..n).ok_or(StoreError::Layout)?;
            chunk.fill(0xff);
            for (i, b) in chunk.iter_mut().enumerate() {
                if let Some(&v) = record.get(pos + i) {
                    *b = v;
                }
            }
            if chunk.iter().any(|&b| b != 0xff) {
                self.flash.write(at + pos as u32, chunk).map_err(flash)?;
            }
            pos += n;
        }
        Ok(())
    }

    /// Erases both banks: the factory reset, which a board does only on physical presence.
    pub fn erase_all(&mut self) -> Result<(), StoreError> {
        self.flash
            .erase(self.offset, self.offset + 2 * self.bank_len)
            .map_err(flash)
    }
}

fn flash<E: embedded_storage::nor_flash::NorFlashError>(e: E) -> StoreError {
    StoreError::Flash(e.kind())
}

/// NOR flash emulated in memory: an erase sets bytes to 0xff, a write can only clear bits.
/// The QEMU board keeps its key this way in RAM the emulator does not clear on a reset; host
/// tests use it as the board's flash.
#[derive(Debug)]
pub struct RamFlash<'a, const ERASE: usize = 1024, const WRITE: usize = 4> {
    mem: &'a mut [u8],
}

impl<'a, const ERASE: usize, const WRITE: usize> RamFlash<'a, ERASE, WRITE> {
    pub fn new(mem: &'a mut [u8]) -> Self {
        RamFlash { mem }
    }

    pub fn mem(&self) -> &[u8] {
        self.mem
    }
}

impl<const ERASE: usize, const WRITE: usize> embedded_storage::nor_flash::ErrorType
    for RamFlash<'_, ERASE, WRITE>
{
    type Error = NorFlashErrorKind;
}

impl<const ERASE: usize, const WRITE: usize> ReadNorFlash for RamFlash<'_, ERASE, WRITE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let from = offset as usize;
        let src = self
            .mem
            .get(from..from.saturating_add(bytes.len()))
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl<const ERASE: usize, const WRITE: usize> NorFlash for RamFlash<'_, ERASE, WRITE> {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_erase(self, from, to)?;
        self.mem
            .get_mut(from as usize..to as usize)
            .ok_or(NorFlashErrorKind::OutOfBounds)?
            .fill(0xff);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_write(self, offset, bytes.len())?;
        let from = offset as usize;
        let dst = self
            .mem
            .get_mut(from..from + bytes.len())
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        for (d, s) in dst.iter_mut().zip(bytes) {
            *d &= *s;
        }
        Ok(())
    }
}
