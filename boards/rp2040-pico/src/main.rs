//! The hb relay board on a Raspberry Pi Pico (RP2040): two hosts on UART0 and UART1, two reset
//! outputs, the RP2040 watchdog as the relay's own, the log over defmt-rtt. See README.md for
//! the wiring and the limits. This crate only wires the board to `hb_firmware::Relay`.
#![no_std]
#![no_main]

mod keyflash;

use core::mem::MaybeUninit;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use defmt_rtt as _;
use embedded_hal::digital::{InputPin, OutputPin};
use hb_firmware::keystore::KeyStore;
use hb_firmware::{Config, Event, Instant, Level, Relay, Storage, CHIP_WATCHDOG_TIMEOUT};
use keyflash::KeyFlash;
use panic_probe as _;
use rp2040_hal as hal;

use hal::clocks::{init_clocks_and_plls, Clock};
use hal::fugit::{ExtU32, RateExtU32};
use hal::gpio::bank0::{Gpio0, Gpio1, Gpio4, Gpio5};
use hal::gpio::{DynPinId, FunctionSio, FunctionUart, Pin, PullDown, SioOutput};
use hal::pac;
use hal::rosc::RingOscillator;
use hal::uart::{DataBits, Enabled, StopBits, UartConfig, UartPeripheral};
use hal::watchdog::ScratchRegister;
use hal::{Sio, Timer, Watchdog};

include!(concat!(env!("OUT_DIR"), "/authkeys.rs"));

/// The second-stage bootloader for the Pico's W25Q080-compatible flash.
#[link_section = ".boot2"]
#[used]
pub static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

const XTAL_FREQ_HZ: u32 = 12_000_000;
const PORTS: usize = 2;
/// The reset outputs drive optocouplers (README.md): high asserts.
const RESET_ACTIVE: Level = Level::High;
const BAUD: u32 = 115_200;
/// Watchdog scratch register holding the previous boot_id (kept across watchdog resets).
const LAST_BOOT_ID: ScratchRegister = ScratchRegister::Scratch0;

type Uart0 = UartPeripheral<
    Enabled,
    pac::UART0,
    (
        Pin<Gpio0, FunctionUart, PullDown>,
        Pin<Gpio1, FunctionUart, PullDown>,
    ),
>;
type Uart1 = UartPeripheral<
    Enabled,
    pac::UART1,
    (
        Pin<Gpio4, FunctionUart, PullDown>,
        Pin<Gpio5, FunctionUart, PullDown>,
    ),
>;
type ResetPin = Pin<DynPinId, FunctionSio<SioOutput>, PullDown>;
type BoardRelay = Relay<HostUart, ResetPin, PORTS, &'static mut Storage<PORTS, KEYS>, KEYS>;

/// The relay's buffers and host state, in `.bss`: built in place at boot, never on the stack.
static mut STORAGE: MaybeUninit<Storage<PORTS, KEYS>> = MaybeUninit::uninit();

#[hal::entry]
fn main() -> ! {
    let (Some(mut pac), Some(mut cp)) = (pac::Peripherals::take(), cortex_m::Peripherals::take())
    else {
        panic!("peripherals taken twice");
    };
    let (cause, boot_cause) = if pac.WATCHDOG.reason().read().timer().bit_is_set() {
        ("watchdog", hb_core::relay::BOOT_WATCHDOG)
    } else {
        ("power-on/other", hb_core::relay::BOOT_UNKNOWN)
    };
    let mut chip = Watchdog::new(pac.WATCHDOG);
    let Ok(clocks) = init_clocks_and_plls(
        XTAL_FREQ_HZ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut chip,
    ) else {
        panic!("clock setup");
    };
    let boot_id = boot_id(&mut chip, RingOscillator::new(pac.ROSC).initialize());
    defmt::info!(
        "hb-relay pico boot_id={=u32:#010x} cause={=str}",
        boot_id,
        cause
    );
    chip.pause_on_debug(true);
    let mut chip = ChipWatchdog(chip);
    let _ = watchdog::Watchdog::arm(&mut chip, CHIP_WATCHDOG_TIMEOUT);

    let timer = Timer::new(pac.TIMER, &mut pac.RESETS, &clocks);
    // SysTick only wakes the loop every millisecond (the UART FIFOs hold 32 bytes, 2.7 ms at
    // 115200 baud); the clock is the 64-bit microsecond timer.
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST
        .set_reload(clocks.system_clock.freq().to_Hz() / 1000 - 1);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();
    cp.SYST.enable_counter();

    let sio = Sio::new(pac.SIO);
    let pins = hal::gpio::Pins::new(
        pac.IO_BANK0,
        pac.PADS_BANK0,
        sio.gpio_bank0,
        &mut pac.RESETS,
    );
    let mut line0 = pins.gpio2.into_push_pull_output().into_dyn_pin();
    let mut line1 = pins.gpio3.into_push_pull_output().into_dyn_pin();
    // Inactive from the first instant (the relay drives them again at its first poll).
    let _ = line0.set_low();
    let _ = line1.set_low();

    let config = || UartConfig::new(BAUD.Hz(), DataBits::Eight, None, StopBits::One);
    let freq = clocks.peripheral_clock.freq();
    let u0_pins = (
        pins.gpio0.into_function::<FunctionUart>(),
        pins.gpio1.into_function::<FunctionUart>(),
    );
    let u1_pins = (
        pins.gpio4.into_function::<FunctionUart>(),
        pins.gpio5.into_function::<FunctionUart>(),
    );
    let Ok(u0) = UartPeripheral::new(pac.UART0, u0_pins, &mut pac.RESETS).enable(config(), freq)
    else {
        panic!("UART0 config");
    };
    let Ok(u1) = UartPeripheral::new(pac.UART1, u1_pins, &mut pac.RESETS).enable(config(), freq)
    else {
        panic!("UART1 config");
    };

    let relay_config = Config {
        boot_id,
        reset_active: RESET_ACTIVE,
    };
    let ports = [HostUart::U0(u0), HostUart::U1(u1)];
    // SAFETY: the only reference ever made to STORAGE; main runs once and never returns.
    let storage = Storage::init(unsafe { &mut *core::ptr::addr_of_mut!(STORAGE) });
    load_keys(storage.keys_mut());
    let mut relay: BoardRelay = Relay::with_storage(storage, relay_config, ports, [line0, line1]);
    relay.set_boot_cause(boot_cause);
    // The unkeyed image keeps its key in flash; GP15 jumpered to ground at power-up erases it.
    let mut jumper = pins.gpio15.into_pull_up_input();
    let mut keystore = if KEYED {
        None
    } else {
        KeyStore::<_, 256>::new(KeyFlash, keyflash::OFFSET, keyflash::LEN).ok()
    };
    if let Some(store) = keystore.as_mut() {
        if jumper.is_low().unwrap_or(false) {
            // Physical presence: the factory reset.
            let ok = store.erase_all().is_ok();
            defmt::warn!(
                "factory reset (GP15 jumpered at power-up): key store erased ok={=bool}",
                ok
            );
        }
        match store.load() {
            Ok(Some(key)) if relay.load_key(&key) => {
                defmt::info!("key {=u8} from flash", key.index)
            }
            _ => defmt::warn!("no key: unprovisioned, forwarding and fencing nothing"),
        }
    }
    loop {
        let now = Instant::from_millis(timer.get_counter().ticks() / 1000);
        relay.poll(now);
        if let (false, Some(store)) = (KEYED, keystore.as_mut()) {
            relay.commit_key(|key| store.store(key).is_ok());
        }
        // The relay logs its events over defmt itself (feature `defmt`); drain the queue.
        while let Some(event) = relay.next_event() {
            if event == Event::Hang {
                defmt::error!("hang asked for, but this is not a test build");
            }
        }
        relay.feed_if_healthy(now, &mut chip);
        cortex_m::interrupt::free(|_| {
            if !(0..PORTS).any(|i| relay.port(i).is_some_and(HostUart::readable)) {
                cortex_m::asm::wfi();
            }
        });
    }
}

/// 32 bits from the ring oscillator's jitter, made different from the previous boot's id (kept
/// in a watchdog scratch register across watchdog resets).
fn boot_id(chip: &mut Watchdog, rosc: RingOscillator<hal::rosc::Enabled>) -> u32 {
    let mut id = 0u32;
    for _ in 0..32 {
        // Each bit from several samples, XORed: the raw bit is biased.
        let mut bit = false;
        for _ in 0..8 {
            bit ^= rosc.get_random_bit();
        }
        id = (id << 1) | u32::from(bit);
    }
    if id == chip.read_scratch(LAST_BOOT_ID) {
        id = id.wrapping_add(1);
    }
    chip.write_scratch(LAST_BOOT_ID, id);
    id
}

/// A host's serial port: one type over both UARTs (the relay's ports share a type).
enum HostUart {
    U0(Uart0),
    U1(Uart1),
}

impl HostUart {
    fn readable(&self) -> bool {
        match self {
            HostUart::U0(u) => u.uart_is_readable(),
            HostUart::U1(u) => u.uart_is_readable(),
        }
    }

    fn writable(&self) -> bool {
        match self {
            HostUart::U0(u) => u.uart_is_writable(),
            HostUart::U1(u) => u.uart_is_writable(),
        }
    }

    /// Reads what the FIFO holds (at least one byte, waiting for it).
    fn read_some(&mut self, buf: &mut [u8]) -> usize {
        loop {
            let r = match self {
                HostUart::U0(u) => u.read_raw(buf),
                HostUart::U1(u) => u.read_raw(buf),
            };
            match r {
                Ok(n) => return n,
                Err(nb::Error::WouldBlock) => continue,
                // Overrun, break, parity, framing: the byte is gone; the frame's CRC fails.
                Err(nb::Error::Other(_)) => continue,
            }
        }
    }

    /// Writes what the FIFO takes (at least one byte, waiting for room).
    fn write_some(&mut self, buf: &[u8]) -> usize {
        loop {
            let r = match self {
                HostUart::U0(u) => u.write_raw(buf),
                HostUart::U1(u) => u.write_raw(buf),
            };
            if let Ok(rest) = r {
                return buf.len() - rest.len();
            }
        }
    }
}

impl embedded_io::ErrorType for HostUart {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for HostUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        Ok(self.read_some(buf))
    }
}

impl embedded_io::ReadReady for HostUart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.readable())
    }
}

impl embedded_io::Write for HostUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        Ok(self.write_some(buf))
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl embedded_io::WriteReady for HostUart {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.writable())
    }
}

/// The RP2040 watchdog as the relay's own.
struct ChipWatchdog(Watchdog);

impl watchdog::Watchdog for ChipWatchdog {
    type Error = core::convert::Infallible;

    fn arm(
        &mut self,
        timeout: hb_firmware::Duration,
    ) -> Result<hb_firmware::Duration, Self::Error> {
        // The counter takes at most 0x7fffff µs (8.3 s, erratum RP2040-E1 halves the field).
        let ms = timeout.as_millis().min(8_000) as u32;
        self.0.start(ms.millis());
        Ok(hb_firmware::Duration::from_millis(u64::from(ms)))
    }

    fn pet(&mut self) -> Result<(), Self::Error> {
        self.0.feed();
        Ok(())
    }

    fn disarm(&mut self) -> Result<(), Self::Error> {
        self.0.disable();
        Ok(())
    }
}

#[exception]
fn SysTick() {}
