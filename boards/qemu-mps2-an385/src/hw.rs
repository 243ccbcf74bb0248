//! The MPS2 AN385 peripherals the relay uses, as QEMU 7.2 models them: CMSDK APB UARTs, the
//! CMSDK APB watchdog, SysTick, and a few words of RAM that survive a reset. Register maps are
//! those of Arm's CMSDK (DDI 0479) and hw/char/cmsdk-apb-uart.c, hw/watchdog/cmsdk-apb-watchdog.c.

use core::cell::Cell;
use core::convert::Infallible;
use core::mem::MaybeUninit;
use core::ptr::{addr_of_mut, read_volatile, write_volatile};
use cortex_m::interrupt::Mutex;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use hb_firmware::keystore::RamFlash;
use hb_firmware::{Duration, Level};

/// The FPGA's system clock: the core, SysTick, the UARTs' PCLK and WDOGCLK.
pub const SYSCLK_HZ: u32 = 25_000_000;

// ---- UARTs ----

pub const UART0: usize = 0x4000_4000;
pub const UART1: usize = 0x4000_5000;
pub const UART2: usize = 0x4000_6000;
pub const UART3: usize = 0x4000_7000;
pub const UART4: usize = 0x4000_9000;
/// Every UART, for the interrupt handler that acknowledges them.
const ALL_UARTS: [usize; 5] = [UART0, UART1, UART2, UART3, UART4];

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const INTSTATUS: usize = 0x0C;
const BAUDDIV: usize = 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const STATE_OVERRUNS: u32 = 0b1100;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_RX_INTEN: u32 = 1 << 3;
/// 115200 baud from PCLK. QEMU ignores the rate but refuses a divider below 16.
const BAUD_DIVIDER: u32 = SYSCLK_HZ / 115_200;

fn reg(base: usize, offset: usize) -> *mut u32 {
    (base + offset) as *mut u32
}

fn read_reg(base: usize, offset: usize) -> u32 {
    // SAFETY: `base` is one of the UART or watchdog blocks above, `offset` one of its
    // registers: a valid, aligned MMIO word on this machine.
    unsafe { read_volatile(reg(base, offset)) }
}

fn write_reg(base: usize, offset: usize, value: u32) {
    // SAFETY: as in `read_reg`.
    unsafe { write_volatile(reg(base, offset), value) }
}

/// A CMSDK APB UART: a one-byte receive buffer and a one-byte transmit buffer, readiness in
/// the STATE register. Implements the `embedded-io` traits the relay drives its ports with.
#[derive(Debug)]
pub struct Uart {
    base: usize,
}

impl Uart {
    /// Enables transmit and receive; with `rx_interrupt` a received byte raises the UART's RX
    /// interrupt, which wakes the main loop from WFI.
    pub fn new(base: usize, rx_interrupt: bool) -> Self {
        write_reg(base, BAUDDIV, BAUD_DIVIDER);
        let irq = if rx_interrupt { CTRL_RX_INTEN } else { 0 };
        write_reg(base, CTRL, CTRL_TX_EN | CTRL_RX_EN | irq);
        Uart { base }
    }

    fn state(&self) -> u32 {
        read_reg(self.base, STATE)
    }

    pub fn rx_full(&self) -> bool {
        self.state() & STATE_RX_FULL != 0
    }

    fn tx_full(&self) -> bool {
        self.state() & STATE_TX_FULL != 0
    }

    fn write_byte(&mut self, b: u8) {
        while self.tx_full() {}
        write_reg(self.base, DATA, u32::from(b));
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Blocks for the first byte, as the trait asks; the relay only reads when ready.
        while !self.rx_full() {}
        let mut n = 0;
        for slot in buf.iter_mut() {
            if !self.rx_full() {
                break;
            }
            *slot = read_reg(self.base, DATA) as u8;
            n += 1;
        }
        // An overrun (real hardware only: QEMU holds bytes back while the buffer is full) lost
        // a byte; the frame's CRC catches it. Clear the sticky flags.
        if self.state() & STATE_OVERRUNS != 0 {
            write_reg(self.base, STATE, STATE_OVERRUNS);
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.rx_full())
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        let mut n = 0;
        for &b in buf {
            // The first byte waits for room, as the trait asks; later ones only if there is.
            if n > 0 && self.tx_full() {
                break;
            }
            self.write_byte(b);
            n += 1;
        }
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        while self.tx_full() {}
        Ok(())
    }
}

impl embedded_io::WriteReady for Uart {
    fn write_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.tx_full())
    }
}

/// The log on UART4: text lines, written synchronously (the reader must keep up).
#[derive(Debug)]
pub struct Log(Uart);

impl Log {
    /// Sets UART4 up (receive disabled: nothing comes in on the log).
    pub fn init() {
        write_reg(UART4, BAUDDIV, BAUD_DIVIDER);
        write_reg(UART4, CTRL, CTRL_TX_EN);
    }

    /// A handle on the log UART; set up by [`Log::init`].
    pub fn get() -> Log {
        Log(Uart { base: UART4 })
    }
}

// The log writes its few kinds of values itself rather than through `core::fmt`, which costs
// ≈ 5 KiB of flash (formatter, padding, 64-bit division, the derived `Debug`s): the room the
// key store and provisioning needed under the 32 KiB goal.
impl Log {
    #[inline(never)]
    pub fn str(&mut self, s: &str) -> &mut Self {
        for b in s.bytes() {
            self.0.write_byte(b);
        }
        self
    }

    /// `v` in decimal.
    #[inline(never)]
    pub fn dec(&mut self, v: u32) -> &mut Self {
        let mut digits = [0u8; 10];
        let mut n = v;
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        for &d in digits.get(i..).unwrap_or_default() {
            self.0.write_byte(d);
        }
        self
    }

    /// `v` as `0x` and eight hex digits.
    #[inline(never)]
    pub fn hex(&mut self, v: u32) -> &mut Self {
        self.str("0x");
        for shift in (0..8).rev() {
            let d = (v >> (shift * 4) & 0xf) as u8;
            self.0
                .write_byte(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        }
        self
    }

    pub fn flag(&mut self, v: bool) -> &mut Self {
        self.str(if v { "true" } else { "false" })
    }

    /// Ends the line.
    pub fn end(&mut self) {
        self.0.write_byte(b'\n');
    }
}

/// Whether any of `uarts` holds a received byte.
pub fn any_rx_full(uarts: &[usize]) -> bool {
    uarts
        .iter()
        .any(|&b| read_reg(b, STATE) & STATE_RX_FULL != 0)
}

/// Acknowledges every UART interrupt (the handler's whole job: the main loop reads the data).
pub fn ack_uart_interrupts() {
    for base in ALL_UARTS {
        write_reg(base, INTSTATUS, 0xF);
    }
}

/// An NVIC interrupt line of this machine.
#[derive(Clone, Copy, Debug)]
pub struct Irq(pub u16);

// SAFETY: the numbers used are mps2-an385 device interrupts (below 32).
unsafe impl cortex_m::interrupt::InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

// ---- reset lines ----

/// The level that asserts a host's reset line (open-drain, active low, like a reset header).
pub const RESET_ACTIVE: Level = Level::Low;

/// A host's reset line. QEMU has no GPIO to watch, so each edge is reported on the log as
/// `RESET <port> ASSERT t=<ms>` or `RESET <port> RELEASE t=<ms>`.
#[derive(Debug)]
pub struct ResetLine {
    port: u8,
}

impl ResetLine {
    pub const fn new(port: u8) -> Self {
        ResetLine { port }
    }

    fn report(&self, level: Level) {
        let what = if level == RESET_ACTIVE {
            " ASSERT t="
        } else {
            " RELEASE t="
        };
        Log::get()
            .str("RESET ")
            .dec(self.port.into())
            .str(what)
            .dec(millis() as u32)
            .end();
    }
}

impl embedded_hal::digital::ErrorType for ResetLine {
    type Error = Infallible;
}

impl embedded_hal::digital::OutputPin for ResetLine {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.report(Level::Low);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.report(Level::High);
        Ok(())
    }
}

// ---- the chip watchdog ----

const WDOG: usize = 0x4000_8000;
const WDOG_LOAD: usize = 0x00;
const WDOG_CONTROL: usize = 0x08;
const WDOG_INTCLR: usize = 0x0C;
const WDOG_LOCK: usize = 0xC00;
const WDOG_UNLOCK_KEY: u32 = 0x1ACC_E551;
const WDOG_INTEN: u32 = 1 << 0;
const WDOG_RESEN: u32 = 1 << 1;

/// The CMSDK APB watchdog. It counts LOAD cycles of WDOGCLK; the first time it reaches zero it
/// raises its interrupt (the NMI on MPS2) and reloads, and if that interrupt is still pending
/// at the second zero it resets the machine. So the reset comes `2 × LOAD` cycles after the
/// last pet, and only a pet (INTCLR) clears the interrupt.
#[derive(Debug)]
pub struct ChipWatchdog(());

impl ChipWatchdog {
    pub fn new() -> Self {
        ChipWatchdog(())
    }

    fn unlocked(&mut self, f: impl FnOnce()) {
        write_reg(WDOG, WDOG_LOCK, WDOG_UNLOCK_KEY);
        f();
        write_reg(WDOG, WDOG_LOCK, 0);
    }
}

impl watchdog::Watchdog for ChipWatchdog {
    type Error = Infallible;

    fn arm(&mut self, timeout: Duration) -> Result<Duration, Infallible> {
        let per_ms = u64::from(SYSCLK_HZ / 1000);
        let load = (timeout.as_millis().saturating_mul(per_ms) / 2).clamp(1, u64::from(u32::MAX));
        self.unlocked(|| {
            write_reg(WDOG, WDOG_LOAD, load as u32);
            write_reg(WDOG, WDOG_INTCLR, 1);
            write_reg(WDOG, WDOG_CONTROL, WDOG_INTEN | WDOG_RESEN);
        });
        Ok(Duration::from_millis(load * 2 / per_ms))
    }

    fn pet(&mut self) -> Result<(), Infallible> {
        self.unlocked(|| write_reg(WDOG, WDOG_INTCLR, 1));
        Ok(())
    }

    fn disarm(&mut self) -> Result<(), Infallible> {
        self.unlocked(|| write_reg(WDOG, WDOG_CONTROL, 0));
        Ok(())
    }
}

// ---- the millisecond clock ----

static TICKS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Starts SysTick at 1 kHz from the core clock.
pub fn start_clock(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYSCLK_HZ / 1000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Called by the SysTick handler.
pub fn tick() {
    cortex_m::interrupt::free(|cs| {
        let t = TICKS.borrow(cs);
        t.set(t.get().wrapping_add(1));
    });
}

/// Milliseconds since boot.
pub fn millis() -> u64 {
    cortex_m::interrupt::free(|cs| TICKS.borrow(cs).get())
}

// ---- what survives a reset ----

// ---- the key store and the factory-reset jumper ----

/// The key store's memory: the last 8 KiB of SSRAM1, which memory.x keeps out of the image.
/// QEMU models no flash controller on mps2-an385 (its "flash" is RAM), so the store is
/// `RamFlash` over it: it keeps its contents across resets (QEMU reloads only the image's
/// own segments) but not across a QEMU restart, which starts it zeroed, unprovisioned.
const KEY_STORE: usize = 0x003F_E000;
const KEY_STORE_LEN: usize = 8 * 1024;

pub type KeyFlash = RamFlash<'static, 1024, 4>;

/// The key store's "flash"; call once.
pub fn key_flash() -> (KeyFlash, u32) {
    // SAFETY: KEY_STORE..+KEY_STORE_LEN is SSRAM1 outside every section of the image
    // (memory.x), and this is the only reference made to it.
    let mem = unsafe { core::slice::from_raw_parts_mut(KEY_STORE as *mut u8, KEY_STORE_LEN) };
    (RamFlash::new(mem), KEY_STORE_LEN as u32)
}

/// The factory-reset jumper: a word a board would read from a pin strapped at boot. QEMU has
/// no button it lets a test press on mps2-an385, so the emulator's jumper is a RAM word above
/// everything the image uses, which `-device loader,addr=0x203f0000,data=0x46414354,data-len=4`
/// sets before every boot ("jumper fitted").
const JUMPER: usize = 0x203F_0000;
const JUMPER_FITTED: u32 = 0x4641_4354; // "FACT"

pub fn factory_jumper_fitted() -> bool {
    // SAFETY: an aligned RAM word nothing else uses.
    unsafe { read_volatile(JUMPER as *const u32) == JUMPER_FITTED }
}

/// Why this boot happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// RAM held no record: the machine was switched on (QEMU started).
    PowerOn,
    /// The chip watchdog's NMI ran before this reset.
    Watchdog,
    /// Any other reset.
    Reset,
}

impl Cause {
    /// The cause as an info answer reports it.
    pub fn code(self) -> u8 {
        match self {
            Cause::PowerOn => hb_core::relay::BOOT_POWER_ON,
            Cause::Watchdog => hb_core::relay::BOOT_WATCHDOG,
            // No reset-cause register: some reset the watchdog's NMI did not announce.
            Cause::Reset => hb_core::relay::BOOT_UNKNOWN,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cause::PowerOn => "power-on",
            Cause::Watchdog => "watchdog",
            Cause::Reset => "reset",
        }
    }
}

/// Three words in `.uninit`, which cortex-m-rt neither zeroes nor loads and QEMU does not clear
/// on a reset: a magic, the boot count, and a flag the watchdog NMI sets.
#[link_section = ".uninit.hb_boot"]
static mut BOOT_RECORD: MaybeUninit<[u32; 3]> = MaybeUninit::uninit();
const BOOT_MAGIC: u32 = 0x4842_5254; // "HBRT"
const FLAG_WATCHDOG: u32 = 1;

fn boot_word(i: usize) -> *mut u32 {
    // In bounds: i < 3. Only raw pointers and volatile access: LLVM treats an uninit static
    // as undef and would fold a plain read of the magic away (firmware-qemu.md §9.1).
    (addr_of_mut!(BOOT_RECORD) as *mut u32).wrapping_add(i)
}

/// Counts this boot and says why it happened. The count is the relay's `boot_id`: different at
/// every boot since power-on (a power cycle starts it again at 1; see README.md).
pub fn record_boot() -> (u32, Cause) {
    // SAFETY: the three words of BOOT_RECORD, aligned; nothing else runs yet.
    unsafe {
        let magic = read_volatile(boot_word(0));
        let count = read_volatile(boot_word(1));
        let flags = read_volatile(boot_word(2));
        let (count, cause) = if magic == BOOT_MAGIC {
            let cause = if flags & FLAG_WATCHDOG != 0 {
                Cause::Watchdog
            } else {
                Cause::Reset
            };
            (count.wrapping_add(1).max(1), cause)
        } else {
            (1, Cause::PowerOn)
        };
        write_volatile(boot_word(0), BOOT_MAGIC);
        write_volatile(boot_word(1), count);
        write_volatile(boot_word(2), 0);
        (count, cause)
    }
}

/// Called from the NMI: the watchdog fired once, the reset follows.
pub fn record_watchdog_fired() {
    // SAFETY: one aligned word of BOOT_RECORD; a single volatile store.
    unsafe { write_volatile(boot_word(2), FLAG_WATCHDOG) }
}

// ---- stack use ----

const STACK_PAINT: u32 = 0x5AC4_5AC4;
/// How far below the top of RAM the stack is painted and watched.
const STACK_WINDOW: usize = 32 * 1024;

extern "C" {
    static _stack_start: u32;
}

fn stack_top() -> usize {
    // Only the address of the linker symbol is taken.
    core::ptr::addr_of!(_stack_start) as usize
}

/// Paints the stack window below the current stack pointer, so [`stack_peak`] can tell how
/// deep the stack ever went.
pub fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = stack_top() - STACK_WINDOW;
    while p < sp - 64 {
        // SAFETY: RAM below the live stack, inside the window: nothing uses it yet.
        unsafe { write_volatile(p as *mut u32, STACK_PAINT) };
        p += 4;
    }
}

/// The deepest the stack has been since [`paint_stack`], in bytes.
pub fn stack_peak() -> usize {
    let top = stack_top();
    let mut p = top - STACK_WINDOW;
    // SAFETY: reads of RAM words inside the window.
    while p < top && unsafe { read_volatile(p as *const u32) } == STACK_PAINT {
        p += 4;
    }
    top - p
}
