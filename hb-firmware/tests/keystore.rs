//! The key store on an emulated NOR flash that loses power at a chosen byte: whatever is cut,
//! the board comes back with the old key or the new one, never neither; and it erases only
//! when a bank is full.

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
use hb_core::auth::{Keyring, Method};
use hb_firmware::keystore::{KeyStore, RamFlash, StoreError, StoredKey, MAX_SECRET_LEN};

/// NOR flash in a vector that stops — as at a power cut — once `budget` bytes have been
/// written or erased; erases go front to back, as a partial sector erase would leave them.
#[derive(Clone, Debug)]
struct CutFlash<const ERASE: usize, const WRITE: usize> {
    mem: Vec<u8>,
    budget: usize,
    used: usize,
    erases: usize,
    writes: Vec<u32>,
}

impl<const ERASE: usize, const WRITE: usize> CutFlash<ERASE, WRITE> {
    fn new(len: usize, fill: u8) -> Self {
        CutFlash {
            mem: vec![fill; len],
            budget: usize::MAX,
            used: 0,
            erases: 0,
            writes: Vec::new(),
        }
    }

    /// The same flash after a power cycle: whatever bytes got there, full budget again.
    fn rebooted(&self) -> Self {
        CutFlash::from_mem(self.mem.clone())
    }

    fn from_mem(mem: Vec<u8>) -> Self {
        CutFlash {
            mem,
            budget: usize::MAX,
            used: 0,
            erases: 0,
            writes: Vec::new(),
        }
    }

    fn spend(&mut self) -> Result<(), NorFlashErrorKind> {
        if self.used >= self.budget {
            return Err(NorFlashErrorKind::Other);
        }
        self.used += 1;
        Ok(())
    }
}

impl<const ERASE: usize, const WRITE: usize> ErrorType for CutFlash<ERASE, WRITE> {
    type Error = NorFlashErrorKind;
}

impl<const ERASE: usize, const WRITE: usize> ReadNorFlash for CutFlash<ERASE, WRITE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let from = offset as usize;
        bytes.copy_from_slice(
            self.mem
                .get(from..from + bytes.len())
                .ok_or(NorFlashErrorKind::OutOfBounds)?,
        );
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl<const ERASE: usize, const WRITE: usize> NorFlash for CutFlash<ERASE, WRITE> {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_erase(self, from, to)?;
        self.erases += (to - from) as usize / ERASE;
        for i in from as usize..to as usize {
            self.spend()?;
            self.mem[i] = 0xff;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_write(self, offset, bytes.len())?;
        self.writes.push(offset);
        for (i, b) in bytes.iter().enumerate() {
            self.spend()?;
            self.mem[offset as usize + i] &= b;
        }
        Ok(())
    }
}

type Small = CutFlash<256, 4>;
const LEN: u32 = 512; // two banks of one 256-byte erase unit: three 80-byte slots each

fn key(n: u8) -> StoredKey {
    let secret = format!("secret-number-{n}");
    StoredKey::new(n % 16, Method::Sha1, secret.as_bytes()).unwrap()
}

fn load(flash: &Small) -> Option<StoredKey> {
    KeyStore::<_>::new(flash.rebooted(), 0, LEN)
        .unwrap()
        .load()
        .unwrap()
}

fn store(flash: Small, k: &StoredKey) -> (Result<(), StoreError>, Small) {
    let mut s = KeyStore::<_>::new(flash, 0, LEN).unwrap();
    let r = s.store(k);
    (r, s.into_inner())
}

#[test]
fn a_blank_or_zeroed_flash_holds_no_key() {
    // Erased chip flash, and the zeroed memory the QEMU board starts from.
    for fill in [0xff, 0x00] {
        assert_eq!(load(&Small::new(LEN as usize, fill)), None);
    }
}

#[test]
fn a_stored_key_is_there_after_a_reboot_and_the_newest_wins() {
    let mut flash = Small::new(LEN as usize, 0x00);
    for n in 1..=20 {
        let (r, f) = store(flash, &key(n));
        r.unwrap();
        flash = f;
        assert_eq!(load(&flash), Some(key(n)), "after store {n}");
    }
}

#[test]
fn a_key_loads_into_a_keyring_as_its_active_key() {
    let mut keys = Keyring::<1>::empty();
    let k = StoredKey::new(3, Method::Sha256, b"cluster secret").unwrap();
    k.load_into(&mut keys).unwrap();
    assert_eq!(keys.active(), Some(3));
    assert_eq!(keys.method(3), Some(Method::Sha256));
    // A second key replaces the first: the relay keeps one.
    StoredKey::new(4, Method::Crc, b"")
        .unwrap()
        .load_into(&mut keys)
        .unwrap();
    assert_eq!((keys.active(), keys.method(3)), (Some(4), None));
}

#[test]
fn keys_that_cannot_be_kept_are_refused() {
    assert!(StoredKey::new(16, Method::Sha1, b"x").is_none());
    assert!(StoredKey::new(1, Method::Sha1, b"").is_none());
    assert!(StoredKey::new(1, Method::Crc, b"x").is_none());
    assert!(StoredKey::new(1, Method::Md5, &[b'k'; MAX_SECRET_LEN + 1]).is_none());
    let longest = StoredKey::new(1, Method::Md5, &[b'k'; MAX_SECRET_LEN]).unwrap();
    let (r, flash) = store(Small::new(LEN as usize, 0xff), &longest);
    r.unwrap();
    assert_eq!(load(&flash).unwrap().secret(), &[b'k'; MAX_SECRET_LEN]);
}

/// Stores `new` over a flash that holds `before` (after `history` stores), cutting the power
/// at every byte of the operation: every cut leaves `before` or `new`, the uncut run `new`,
/// and the board can store again after any cut.
fn cut_everywhere(history: u8) {
    let mut flash = Small::new(LEN as usize, 0x00);
    for n in 1..=history {
        flash = store(flash, &key(n)).1;
    }
    let before = load(&flash);
    let new = key(history + 1);
    let (r, whole) = store(flash.rebooted(), &new);
    r.unwrap();
    let total = whole.used;
    assert!(total > 0);
    let mut saw_old = false;
    for cut in 0..total {
        let mut f = flash.rebooted();
        f.budget = cut;
        let (r, f) = store(f, &new);
        assert!(r.is_err(), "history {history}, cut at {cut} of {total}");
        let got = load(&f);
        assert!(
            got == before || got.as_ref() == Some(&new),
            "history {history}, cut at byte {cut} of {total}: {got:?}, before {before:?}"
        );
        saw_old |= got == before;
        // After the power comes back the store is tried again, and works.
        let (r, f) = store(f.rebooted(), &new);
        r.unwrap();
        assert_eq!(load(&f).as_ref(), Some(&new));
    }
    assert!(saw_old, "no cut left the old key: the cut never hit");
}

#[test]
fn a_first_key_cut_at_any_byte_leaves_no_key_or_the_key() {
    cut_everywhere(0);
}

#[test]
fn a_new_key_cut_at_any_byte_in_the_same_bank_leaves_old_or_new() {
    cut_everywhere(1);
}

#[test]
fn a_new_key_cut_at_any_byte_while_switching_banks_leaves_old_or_new() {
    // Three slots a bank: the fourth store erases bank 1 and writes there; the seventh erases
    // bank 0, which holds older keys, while bank 1's newest stays.
    cut_everywhere(3);
    cut_everywhere(6);
}

#[test]
fn a_bank_is_erased_only_when_the_other_is_full() {
    let mut flash = Small::new(LEN as usize, 0xff);
    let stores = 60usize;
    for n in 0..stores {
        let (r, f) = store(flash, &key(n as u8));
        r.unwrap();
        flash = f;
        let erases = flash.erases;
        flash = flash.rebooted();
        flash.erases = erases;
    }
    // Three slots per 256-byte bank: one erase per three keys, each slot written once per erase.
    assert_eq!(flash.erases, stores / 3 - 1);
}

#[test]
fn a_half_written_slot_is_skipped_not_written_over() {
    let mut flash = Small::new(LEN as usize, 0xff);
    flash = store(flash, &key(1)).1;
    // A store cut after a few bytes: slot 1 holds a fragment.
    let mut cut = flash.rebooted();
    cut.budget = 10;
    let (_, cut) = store(cut, &key(2));
    assert_eq!(load(&cut), Some(key(1)));
    let (r, f) = store(cut.rebooted(), &key(3));
    r.unwrap();
    assert_eq!(load(&f), Some(key(3)));
    // Slot 2 (offset 160) took it, and nothing ever wrote over the fragment at offset 80.
    assert!(
        f.writes.iter().all(|&w| (160..240).contains(&w)),
        "{:?}",
        f.writes
    );
}

#[test]
fn a_page_programmed_flash_writes_whole_pages() {
    // RP2040-like: 4 KiB sectors, 256-byte pages; the store writes with a 256-byte chunk.
    type Pico = CutFlash<4096, 256>;
    let mut s = KeyStore::<_, 256>::new(Pico::new(8192, 0xff), 0, 8192).unwrap();
    assert_eq!(s.slots(), 16);
    s.store(&key(1)).unwrap();
    s.store(&key(2)).unwrap();
    let f = s.into_inner();
    assert_eq!(f.writes, [0, 256]);
    let mut again = KeyStore::<_, 256>::new(f.rebooted(), 0, 8192).unwrap();
    assert_eq!(again.load().unwrap(), Some(key(2)));
    // A chunk smaller than the page cannot be written.
    assert_eq!(
        KeyStore::<_, 16>::new(Pico::new(8192, 0xff), 0, 8192).err(),
        Some(StoreError::Layout)
    );
}

#[test]
fn a_region_that_is_not_two_whole_banks_is_refused() {
    let bad = [(1, 512), (0, 300), (0, 2048), (512, 512)];
    for (offset, len) in bad {
        assert_eq!(
            KeyStore::<_>::new(Small::new(768, 0xff), offset, len).err(),
            Some(StoreError::Layout),
            "offset {offset} len {len}"
        );
    }
}

#[test]
fn a_factory_reset_forgets_the_key() {
    let mut s = KeyStore::<_>::new(Small::new(LEN as usize, 0xff), 0, LEN).unwrap();
    s.store(&key(1)).unwrap();
    s.erase_all().unwrap();
    assert_eq!(s.load().unwrap(), None);
}

#[test]
fn ram_flash_behaves_as_nor() {
    let mut mem = [0u8; 2048];
    let mut s = KeyStore::<_>::new(RamFlash::<1024, 4>::new(&mut mem), 0, 2048).unwrap();
    assert_eq!(s.load().unwrap(), None);
    s.store(&key(7)).unwrap();
    s.store(&key(8)).unwrap();
    let _ = s.into_inner();
    let mut s = KeyStore::<_>::new(RamFlash::<1024, 4>::new(&mut mem), 0, 2048).unwrap();
    assert_eq!(s.load().unwrap(), Some(key(8)));
    // Zeroed memory counts as written: the first key went to the erased bank 1. A write only
    // clears bits, so writing 0xff over a record changes nothing.
    let mut f = s.into_inner();
    assert_eq!(&f.mem()[1024..1028], b"HBK1");
    f.write(1024, &[0xff; 4]).unwrap();
    assert_eq!(&f.mem()[1024..1028], b"HBK1");
}
