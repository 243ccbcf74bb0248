//! The hb relay board on a WeAct STM32F411 "Black Pill": three hosts on USART1, USART2 and
//! USART6, three reset outputs, the IWDG as the relay's own watchdog, the log over defmt-rtt.
//! See README.md for the wiring. This crate only wires the board to `hb_firmware::Relay`.
#![no_std]
#![no_main]

mod keyflash;
mod port;

use core::mem::MaybeUninit;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use defmt_rtt as _;
use hb_firmware::keystore::KeyStore;
use hb_firmware::{Config, Event, Instant, Level, Relay, Storage, CHIP_WATCHDOG_TIMEOUT};
use keyflash::KeyFlash;
use panic_probe as _;
use port::{Buffer, HostPort, IsrSlot};
use stm32f4xx_hal::adc::{config::AdcConfig, config::SampleTime, Adc, Temperature};
use stm32f4xx_hal::flash::LockedFlash;
use stm32f4xx_hal::gpio::{AnyPin, Output, PushPull};
use stm32f4xx_hal::pac::{self, interrupt, Interrupt};
use stm32f4xx_hal::prelude::*;
use stm32f4xx_hal::rcc::Config as ClockConfig;
use stm32f4xx_hal::watchdog::IndependentWatchdog;

include!(concat!(env!("OUT_DIR"), "/authkeys.rs"));

/// A ring buffer for a port in a static of its own (each expansion is a separate static).
macro_rules! buffer {
    () => {
        match cortex_m::singleton!(: Buffer = Buffer::new()) {
            Some(b) => b,
            None => panic!("buffer taken twice"),
        }
    };
}

const PORTS: usize = 3;
/// The reset outputs drive optocouplers (README.md): high asserts.
const RESET_ACTIVE: Level = Level::High;
const SYSCLK_HZ: u32 = 100_000_000;
const BAUD: u32 = 115_200;

type ResetPin = AnyPin<Output<PushPull>>;
type BoardRelay = Relay<HostPort, ResetPin, PORTS, &'static mut Storage<PORTS, KEYS>, KEYS>;

/// The relay's buffers and host state, in `.bss`: built in place at boot, never on the stack.
static mut STORAGE: MaybeUninit<Storage<PORTS, KEYS>> = MaybeUninit::uninit();

static USART1_PORT: IsrSlot<pac::USART1> = IsrSlot::new(core::cell::RefCell::new(None));
static USART2_PORT: IsrSlot<pac::USART2> = IsrSlot::new(core::cell::RefCell::new(None));
static USART6_PORT: IsrSlot<pac::USART6> = IsrSlot::new(core::cell::RefCell::new(None));

/// Milliseconds since boot, counted by SysTick.
static MILLIS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

#[entry]
fn main() -> ! {
    let (Some(dp), Some(mut cp)) = (pac::Peripherals::take(), cortex_m::Peripherals::take()) else {
        panic!("peripherals taken twice");
    };
    let csr = dp.RCC.csr().read();
    let (cause, boot_cause) = if csr.wdgrstf().bit_is_set() {
        ("watchdog", hb_core::relay::BOOT_WATCHDOG)
    } else if csr.porrstf().bit_is_set() {
        ("power-on", hb_core::relay::BOOT_POWER_ON)
    } else if csr.sftrstf().bit_is_set() {
        ("software", hb_core::relay::BOOT_SOFTWARE)
    } else if csr.padrstf().bit_is_set() {
        ("reset pin", hb_core::relay::BOOT_RESET_PIN)
    } else {
        ("other", hb_core::relay::BOOT_UNKNOWN)
    };
    dp.RCC.csr().modify(|_, w| w.rmvf().set_bit());
    let boot_count = count_boot(&dp);

    let mut rcc = dp
        .RCC
        .freeze(ClockConfig::hse(25.MHz()).sysclk(SYSCLK_HZ.Hz()));
    let boot_id = boot_id(boot_count, adc_noise(dp.ADC1, &mut rcc));
    defmt::info!(
        "hb-relay blackpill-f411 boot_id={=u32:#010x} boots={=u32} cause={=str}",
        boot_id,
        boot_count,
        cause
    );

    let mut chip = ChipWatchdog(IndependentWatchdog::new(dp.IWDG));
    chip.0.stop_on_debug(&dp.DBGMCU, true);
    let _ = watchdog::Watchdog::arm(&mut chip, CHIP_WATCHDOG_TIMEOUT);

    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(SYSCLK_HZ / 1000 - 1);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();
    cp.SYST.enable_counter();

    let gpioa = dp.GPIOA.split(&mut rcc);
    let gpiob = dp.GPIOB.split(&mut rcc);
    let idle = !matches!(RESET_ACTIVE, Level::High);
    let lines: [ResetPin; PORTS] = [
        gpiob
            .pb12
            .into_push_pull_output_in_state(idle.into())
            .erase(),
        gpiob
            .pb13
            .into_push_pull_output_in_state(idle.into())
            .erase(),
        gpiob
            .pb14
            .into_push_pull_output_in_state(idle.into())
            .erase(),
    ];

    let Ok(s1) = dp
        .USART1
        .serial((gpioa.pa9, gpioa.pa10), BAUD.bps(), &mut rcc)
    else {
        panic!("USART1 config");
    };
    let Ok(s2) = dp
        .USART2
        .serial((gpioa.pa2, gpioa.pa3), BAUD.bps(), &mut rcc)
    else {
        panic!("USART2 config");
    };
    let Ok(s6) = dp
        .USART6
        .serial((gpioa.pa11, gpioa.pa12), BAUD.bps(), &mut rcc)
    else {
        panic!("USART6 config");
    };
    let (t1, r1) = s1.split();
    let (t2, r2) = s2.split();
    let (t6, r6) = s6.split();
    let ports = [
        port::split(
            t1,
            r1,
            Interrupt::USART1,
            buffer!(),
            buffer!(),
            &USART1_PORT,
        ),
        port::split(
            t2,
            r2,
            Interrupt::USART2,
            buffer!(),
            buffer!(),
            &USART2_PORT,
        ),
        port::split(
            t6,
            r6,
            Interrupt::USART6,
            buffer!(),
            buffer!(),
            &USART6_PORT,
        ),
    ];

    let config = Config {
        boot_id,
        reset_active: RESET_ACTIVE,
    };
    // SAFETY: the only reference ever made to STORAGE; main runs once and never returns.
    let storage = Storage::init(unsafe { &mut *core::ptr::addr_of_mut!(STORAGE) });
    load_keys(storage.keys_mut());
    let mut relay: BoardRelay = Relay::with_storage(storage, config, ports, lines);
    relay.set_boot_cause(boot_cause);
    // The unkeyed image keeps its key in flash; KEY (PA0, to ground) held at power-up erases it.
    let key_button = gpioa.pa0.into_pull_up_input();
    let mut keystore = if KEYED {
        None
    } else {
        KeyStore::<_>::new(
            KeyFlash(LockedFlash::new(dp.FLASH)),
            keyflash::OFFSET,
            keyflash::LEN,
        )
        .ok()
    };
    if let Some(store) = keystore.as_mut() {
        if key_button.is_low() {
            // Physical presence: the factory reset.
            chip.0.start(10_000.millis());
            let ok = store.erase_all().is_ok();
            defmt::warn!(
                "factory reset (KEY held at power-up): key store erased ok={=bool}",
                ok
            );
            let _ = watchdog::Watchdog::arm(&mut chip, CHIP_WATCHDOG_TIMEOUT);
        }
        match store.load() {
            Ok(Some(key)) if relay.load_key(&key) => {
                defmt::info!("key {=u8} from flash", key.index)
            }
            _ => defmt::warn!("no key: unprovisioned, forwarding and fencing nothing"),
        }
    }
    let mut clock = Clock::default();
    loop {
        let now = clock.now();
        relay.poll(now);
        if let (false, Some(store)) = (KEYED, keystore.as_mut()) {
            if relay.key_pending() {
                // A sector erase outlasts the IWDG's second: stretch it around the store.
                chip.0.start(10_000.millis());
                relay.commit_key(|key| store.store(key).is_ok());
                let _ = watchdog::Watchdog::arm(&mut chip, CHIP_WATCHDOG_TIMEOUT);
            }
        }
        // The relay logs its events over defmt itself (feature `defmt`); drain the queue.
        while let Some(event) = relay.next_event() {
            if event == Event::Hang {
                defmt::error!("hang asked for, but this is not a test build");
            }
        }
        relay.feed_if_healthy(now, &mut chip);
        cortex_m::interrupt::free(|_| {
            if !(0..PORTS).any(|i| relay.port(i).is_some_and(HostPort::rx_ready)) {
                cortex_m::asm::wfi();
            }
        });
    }
}

/// The relay's clock: SysTick's 32-bit millisecond count, extended to 64 bits (it wraps after
/// 49 days; a clock that ran backwards would stop the relay feeding its watchdog).
#[derive(Default)]
struct Clock {
    high: u64,
    last: u32,
}

impl Clock {
    fn now(&mut self) -> Instant {
        let t = MILLIS.load(core::sync::atomic::Ordering::Relaxed);
        if t < self.last {
            self.high += 1 << 32;
        }
        self.last = t;
        Instant::from_millis(self.high | u64::from(t))
    }
}

/// A boot counter in RTC backup register 0: kept across resets, and across power-off while a
/// coin cell on VBAT powers the backup domain.
fn count_boot(dp: &pac::Peripherals) -> u32 {
    dp.RCC.apb1enr().modify(|_, w| w.pwren().set_bit());
    dp.PWR.cr().modify(|_, w| w.dbp().set_bit());
    let n = dp.RTC.bkpr(0).read().bits().wrapping_add(1);
    // SAFETY: a backup register holds any 32-bit value.
    dp.RTC.bkpr(0).write(|w| unsafe { w.bits(n) });
    n
}

/// Noise from the low bits of the temperature sensor, for boots the counter cannot tell apart
/// (a power cycle without VBAT resets it). Not a cryptographic source; it only has to make a
/// repeated `boot_id` unlikely.
fn adc_noise(adc1: pac::ADC1, rcc: &mut stm32f4xx_hal::rcc::Rcc) -> u32 {
    let mut adc = Adc::new(adc1, true, AdcConfig::default(), rcc);
    adc.enable_temperature_and_vref();
    let mut acc: u32 = 0;
    for _ in 0..64 {
        let sample = adc.convert(&Temperature, SampleTime::Cycles_3);
        acc = acc.rotate_left(3) ^ u32::from(sample & 0x7);
    }
    acc
}

/// Mixes the counter and the noise (murmur3's finaliser), so consecutive ids look unrelated.
fn boot_id(count: u32, noise: u32) -> u32 {
    let mut h = count ^ noise.rotate_left(16);
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The IWDG as the relay's own watchdog. Once started it cannot be stopped.
struct ChipWatchdog(IndependentWatchdog);

#[derive(Debug)]
struct CannotStop;

impl watchdog::Watchdog for ChipWatchdog {
    type Error = CannotStop;

    fn arm(&mut self, timeout: hb_firmware::Duration) -> Result<hb_firmware::Duration, CannotStop> {
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        self.0.start(ms.millis());
        Ok(hb_firmware::Duration::from_millis(u64::from(
            self.0.interval().ticks(),
        )))
    }

    fn pet(&mut self) -> Result<(), CannotStop> {
        self.0.feed();
        Ok(())
    }

    fn disarm(&mut self) -> Result<(), CannotStop> {
        Err(CannotStop)
    }
}

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
}

#[interrupt]
fn USART1() {
    port::service(&USART1_PORT);
}

#[interrupt]
fn USART2() {
    port::service(&USART2_PORT);
}

#[interrupt]
fn USART6() {
    port::service(&USART6_PORT);
}
