//! The key store's flash on the Pico: the last 8 KiB of its 2 MiB QSPI flash (two 4 KiB
//! sectors), which memory.x keeps out of the image.
//!
//! The RP2040 runs its code from that same flash (XIP), so an erase or a program must run from
//! RAM with the flash out of XIP mode and interrupts off, through the boot ROM's flash
//! functions (RP2040 datasheet §2.8.3.1.3), and then put the fast XIP mode back by running a
//! RAM copy of the second-stage bootloader (as the Pico SDK's `flash_range_*` do). Not tried on
//! hardware (issue 17).

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
use rp2040_hal::rom_data;

const XIP_BASE: u32 = 0x1000_0000;
const FLASH_SIZE: u32 = 2 * 1024 * 1024;
/// Offset of the key store in the flash, and its length: two 4 KiB banks.
pub const OFFSET: u32 = FLASH_SIZE - LEN;
pub const LEN: u32 = 8 * 1024;
const SECTOR: u32 = 4096;
const PAGE: usize = 256;

pub struct KeyFlash;

impl ErrorType for KeyFlash {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for KeyFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_read(self, offset, bytes.len())?;
        for (i, b) in bytes.iter_mut().enumerate() {
            // SAFETY: inside the flash's XIP window (checked above), which is always readable.
            *b = unsafe { core::ptr::read_volatile((XIP_BASE + offset + i as u32) as *const u8) };
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        FLASH_SIZE as usize
    }
}

impl NorFlash for KeyFlash {
    const WRITE_SIZE: usize = PAGE;
    const ERASE_SIZE: usize = SECTOR as usize;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_erase(self, from, to)?;
        if from < OFFSET {
            // Never the image's own flash.
            return Err(NorFlashErrorKind::OutOfBounds);
        }
        // SAFETY: sectors of the key store, outside the image (memory.x).
        unsafe { run(Op::Erase, from, core::ptr::null(), (to - from) as usize) };
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        embedded_storage::nor_flash::check_write(self, offset, bytes.len())?;
        if offset < OFFSET {
            return Err(NorFlashErrorKind::OutOfBounds);
        }
        // SAFETY: pages of the key store, outside the image; `bytes` lives in RAM (the store's
        // chunk buffer on the stack), readable while XIP is off.
        unsafe { run(Op::Program, offset, bytes.as_ptr(), bytes.len()) };
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Erase,
    Program,
}

/// The boot ROM's flash functions, looked up before XIP goes off (the lookup runs from flash).
struct Rom {
    connect: unsafe extern "C" fn(),
    exit_xip: unsafe extern "C" fn(),
    erase: unsafe extern "C" fn(u32, usize, u32, u8),
    program: unsafe extern "C" fn(u32, *const u8, usize),
    flush: unsafe extern "C" fn(),
    enter_xip: unsafe extern "C" fn(),
}

/// Does `op` with interrupts off; afterwards the second-stage bootloader, copied to RAM first,
/// puts the flash back in its fast XIP mode.
unsafe fn run(op: Op, offset: u32, data: *const u8, len: usize) {
    let rom = Rom {
        connect: rom_data::connect_internal_flash::ptr(),
        exit_xip: rom_data::flash_exit_xip::ptr(),
        erase: rom_data::flash_range_erase::ptr(),
        program: rom_data::flash_range_program::ptr(),
        flush: rom_data::flash_flush_cache::ptr(),
        enter_xip: rom_data::flash_enter_cmd_xip::ptr(),
    };
    let mut boot2 = [0u32; 64];
    for (i, w) in boot2.iter_mut().enumerate() {
        *w = core::ptr::read_volatile((XIP_BASE as *const u32).add(i));
    }
    cortex_m::interrupt::free(|_| {
        in_ram(&rom, op, offset, data, len, boot2.as_ptr() as usize + 1);
    });
}

/// The part that runs with the flash out of XIP: in RAM (`.data`, copied there at boot), and
/// calling nothing in flash.
#[inline(never)]
#[link_section = ".data.ram_func"]
unsafe fn in_ram(rom: &Rom, op: Op, offset: u32, data: *const u8, len: usize, boot2: usize) {
    (rom.connect)();
    (rom.exit_xip)();
    if op == Op::Erase {
        // 4 KiB sectors, command 0x20 (sector erase).
        (rom.erase)(offset, len, SECTOR, 0x20);
    } else {
        (rom.program)(offset, data, len);
    }
    (rom.flush)();
    (rom.enter_xip)();
    // SAFETY: a Thumb entry (bit 0 set) into the RAM copy of boot2, which returns when XIP
    // is set up.
    let boot2: extern "C" fn() = core::mem::transmute(boot2);
    boot2();
}
