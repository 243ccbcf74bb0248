//! The hb relay board on Arm MPS2 AN385 (Cortex-M3), the image CI runs under
//! `qemu-system-arm -M mps2-an385`.
//!
//! This crate only wires the machine to `hb_firmware::Relay` (design §1: no protocol logic in
//! a board crate):
//!
//! | relay | AN385 / QEMU |
//! |---|---|
//! | host ports 0..3 | CMSDK UART0..3 (`-serial` 1 to 4) |
//! | reset lines 0..3 | reported on UART4 as `RESET <port> ASSERT/RELEASE t=<ms>` (no GPIO to watch) |
//! | log | UART4 (`-serial` 5): boot banner, relay events, stack use |
//! | clock | SysTick, 1 kHz |
//! | chip watchdog | CMSDK APB watchdog (NMI, then reset) |
//! | `boot_id` | a boot counter in `.uninit` RAM |
//! | keys | the authkeys file named by `HB_RELAY_AUTHKEYS` at build time, or (unkeyed image) the key a host provisions, kept in the key store |
//! | key store | 8 KiB of SSRAM1 outside the image, kept across resets (QEMU's "flash" is RAM) |
//! | factory-reset jumper | a RAM word QEMU's `-device loader` sets before boot |
//!
//! The main loop polls the relay, logs its events, feeds the chip watchdog while the relay is
//! healthy, and sleeps in WFI until a byte arrives or the next millisecond tick.
#![no_std]
#![no_main]

mod events;
mod hw;

use core::mem::MaybeUninit;
use cortex_m::peripheral::NVIC;
use cortex_m_rt::{entry, exception};
use hb_firmware::keystore::KeyStore;
use hb_firmware::{Config, Event, Instant, Relay, Storage, CHIP_WATCHDOG_TIMEOUT};
use hw::{ChipWatchdog, Irq, KeyFlash, Log, ResetLine, Uart};
use watchdog::Watchdog as _;

include!(concat!(env!("OUT_DIR"), "/authkeys.rs"));

/// Hosts on this board: UART0..3.
const PORTS: usize = 4;
const HOST_UARTS: [usize; PORTS] = [hw::UART0, hw::UART1, hw::UART2, hw::UART3];
/// The host UARTs' receive interrupts on mps2-an385 (the transmit ones are each one above).
const HOST_RX_IRQS: [u16; PORTS] = [0, 2, 4, 18];
/// How often the stack's high-water mark is checked (and logged when it grew).
const STACK_CHECK_MS: u64 = 1000;

type BoardRelay = Relay<Uart, ResetLine, PORTS, &'static mut Storage<PORTS, KEYS>, KEYS>;

/// The relay's buffers and host state, in `.bss`: built in place at boot, never on the stack.
static mut STORAGE: MaybeUninit<Storage<PORTS, KEYS>> = MaybeUninit::uninit();

#[entry]
fn main() -> ! {
    let (boot_id, cause) = hw::record_boot();
    hw::paint_stack();
    Log::init();
    let mut log = Log::get();
    log.str("BOOT hb-relay board=mps2-an385 boot_id=")
        .hex(boot_id)
        .str(" cause=")
        .str(cause.name())
        .str(" ports=")
        .dec(PORTS as u32)
        .str(" test_hang=")
        .flag(cfg!(feature = "test-hang"))
        .str(" keyed=")
        .flag(KEYED)
        .end();

    let Some(mut cp) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    let mut chip = ChipWatchdog::new();
    let Ok(wd) = chip.arm(CHIP_WATCHDOG_TIMEOUT);
    hw::start_clock(&mut cp.SYST);

    let ports = HOST_UARTS.map(|base| Uart::new(base, true));
    let lines = [0, 1, 2, 3].map(ResetLine::new);
    let config = Config {
        boot_id,
        reset_active: hw::RESET_ACTIVE,
    };
    // SAFETY: the only reference ever made to STORAGE; main runs once and never returns.
    let storage = Storage::init(unsafe { &mut *core::ptr::addr_of_mut!(STORAGE) });
    load_keys(storage.keys_mut());
    let mut relay: BoardRelay = Relay::with_storage(storage, config, ports, lines);
    relay.set_boot_cause(cause.code());
    if !KEYED {
        open_key_store(&mut relay);
    }
    for irq in HOST_RX_IRQS {
        // SAFETY: the handler (device_interrupt) only acknowledges the UARTs; no shared state.
        unsafe { NVIC::unmask(Irq(irq)) };
    }
    log.str("READY chip_watchdog_ms=")
        .dec(wd.as_millis() as u32)
        .end();

    let mut stack_reported = 0;
    let mut next_stack_check = 0;
    loop {
        let now = Instant::from_millis(hw::millis());
        relay.poll(now);
        if !KEYED && relay.key_pending() {
            store_key(&mut relay);
        }
        while let Some(event) = relay.next_event() {
            events::log(&mut log, now.as_millis() as u32, &event);
            if event == Event::Hang {
                hang();
            }
        }
        relay.feed_if_healthy(now, &mut chip);
        if now.as_millis() >= next_stack_check {
            next_stack_check = now.as_millis() + STACK_CHECK_MS;
            let peak = hw::stack_peak();
            if peak > stack_reported {
                stack_reported = peak;
                log.str("STACK peak=").dec(peak as u32).end();
            }
        }
        sleep();
    }
}

/// The unkeyed image's key store, over memory outside the image (see `hw::key_flash`).
fn key_store() -> Option<KeyStore<KeyFlash>> {
    let (flash, len) = hw::key_flash();
    KeyStore::new(flash, 0, len).ok()
}

/// Writes a key a host provisioned and lets the relay use it once it is there.
// Not inlined, nor is the store kept in `main`: the main loop's frame is under every frame the
// relay handles (its deepest stack); this runs once per provisioning.
#[inline(never)]
fn store_key(relay: &mut BoardRelay) {
    relay.commit_key(write_key);
}

/// Writes `key` to the key store; the store's buffers are on the stack only in here, not under
/// the relay's answer.
#[inline(never)]
fn write_key(key: &hb_firmware::keystore::StoredKey) -> bool {
    key_store().is_some_and(|mut s| s.store(key).is_ok())
}

/// The unkeyed image's key store at boot: the key kept there (if any) becomes the relay's; a
/// fitted factory-reset jumper erases it first. A keyed image has none (its key is in the image).
#[inline(never)]
fn open_key_store(relay: &mut BoardRelay) {
    let mut log = Log::get();
    let Some(mut store) = key_store() else {
        log.str("KEYSTORE layout refused").end();
        return;
    };
    if hw::factory_jumper_fitted() {
        let ok = store.erase_all().is_ok();
        log.str("FACTORY RESET jumper fitted: key store erased ok=")
            .flag(ok)
            .end();
    }
    match store.load() {
        Ok(Some(key)) if relay.load_key(&key) => {
            log.str("KEY index=")
                .dec(key.index.into())
                .str(" from flash")
                .end();
        }
        _ => {
            log.str("KEY none: unprovisioned, forwarding and fencing nothing")
                .end();
        }
    }
}

/// Waits for an interrupt unless a byte is already waiting. Interrupts are masked around the
/// check, so a byte that arrives between the check and the WFI still wakes the core (a pending
/// interrupt ends WFI even while masked; its handler runs once they are unmasked).
fn sleep() {
    cortex_m::interrupt::free(|_| {
        if !hw::any_rx_full(&HOST_UARTS) {
            cortex_m::asm::wfi();
        }
    });
}

/// The test image's answer to a `hang` frame (feature `test-hang`): stop the main loop, so the
/// chip watchdog is no longer fed and must reboot the relay.
fn hang() -> ! {
    Log::get()
        .str("HANG main loop stopped t=")
        .dec(hw::millis() as u32)
        .end();
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
fn SysTick() {
    hw::tick();
}

/// The device's interrupt vectors: mps2-an385 has 32 (cortex-m-rt's generic table has 240, a
/// kilobyte of flash). Only the host UARTs' receive interrupts are enabled; they just wake the
/// main loop from WFI, which reads the data itself.
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
static __INTERRUPTS: [unsafe extern "C" fn(); 32] = [device_interrupt; 32];

unsafe extern "C" fn device_interrupt() {
    hw::ack_uart_interrupts();
}

/// The chip watchdog expired once without a pet: the reset follows at the next expiry.
#[exception]
unsafe fn NonMaskableInt() {
    hw::record_watchdog_fired();
    Log::get()
        .str("WATCHDOG nmi t=")
        .dec(hw::millis() as u32)
        .end();
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut log = Log::get();
    match info.location() {
        Some(l) => {
            log.str("PANIC at ")
                .str(l.file())
                .str(":")
                .dec(l.line())
                .end();
        }
        None => {
            log.str("PANIC").end();
        }
    }
    // No more feeding: the chip watchdog restarts the relay within a second.
    loop {
        cortex_m::asm::wfi();
    }
}
