//! The key store's flash on the STM32F411CE: sectors 6 and 7 (128 KiB each, 0x0804_0000 up),
//! which memory.x keeps out of the image. stm32f4xx-hal unlocks the flash per write or erase.
//!
//! Not tried on hardware (issue 17): a 128 KiB sector erase takes 1–2 s (RM0383 §3.5,
//! t_ERASE128KB), longer than the IWDG's 1 s, so the board stretches its watchdog around a store
//! (`main.rs`); an erase is only needed once per 1 600 keys, or over a sector an older firmware
//! left written.

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use stm32f4xx_hal::flash::{Error, FlashExt, LockedFlash};

/// Offset of the key store in the flash, and its length: two 128 KiB banks.
pub const OFFSET: u32 = 0x4_0000;
pub const LEN: u32 = 0x4_0000;

pub struct KeyFlash(pub LockedFlash);

impl ErrorType for KeyFlash {
    type Error = Error;
}

impl ReadNorFlash for KeyFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Error> {
        ReadNorFlash::read(&mut self.0, offset, bytes)
    }

    fn capacity(&self) -> usize {
        ReadNorFlash::capacity(&self.0)
    }
}

impl NorFlash for KeyFlash {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 128 * 1024;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Error> {
        NorFlash::erase(&mut self.0.unlocked(), from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        NorFlash::write(&mut self.0.unlocked(), offset, bytes)
    }
}
