//! A host's serial port: USART interrupts move bytes between the data register and two ring
//! buffers, so no byte is lost while the main loop is busy (the F411's USARTs have no FIFO: at
//! 115200 baud a byte must be taken within 87 µs). The main loop sees the buffers through the
//! `embedded-io` traits the relay drives.

use core::cell::RefCell;
use core::convert::Infallible;
use cortex_m::interrupt::Mutex;
use cortex_m::peripheral::NVIC;
use embedded_hal_nb::serial::{Read as _, Write as _};
use heapless::spsc::{Consumer, Producer, Queue};
use stm32f4xx_hal::pac::Interrupt;
use stm32f4xx_hal::serial::{Instance, Rx, RxISR, RxListen, Tx, TxISR, TxListen};

/// Bytes buffered each way per port: a little more than one maximal frame.
pub const BUFFER: usize = 1024;
pub type Buffer = Queue<u8, BUFFER>;

/// The main loop's end of a port.
pub struct HostPort {
    to_host: Producer<'static, u8>,
    from_host: Consumer<'static, u8>,
    irq: Interrupt,
}

/// The interrupt handler's end of a port.
pub struct IsrPort<U: Instance> {
    tx: Tx<U>,
    rx: Rx<U>,
    to_host: Consumer<'static, u8>,
    from_host: Producer<'static, u8>,
}

/// Where a USART's interrupt handler finds its end of the port.
pub type IsrSlot<U> = Mutex<RefCell<Option<IsrPort<U>>>>;

/// Splits a USART into the two ends of a port; `slot` is where its interrupt handler looks.
pub fn split<U: Instance>(
    tx: Tx<U>,
    mut rx: Rx<U>,
    irq: Interrupt,
    to_host: &'static mut Buffer,
    from_host: &'static mut Buffer,
    slot: &IsrSlot<U>,
) -> HostPort {
    let (to_p, to_c) = to_host.split();
    let (from_p, from_c) = from_host.split();
    rx.listen();
    cortex_m::interrupt::free(|cs| {
        slot.borrow(cs).replace(Some(IsrPort {
            tx,
            rx,
            to_host: to_c,
            from_host: from_p,
        }));
    });
    // SAFETY: the handler only touches its own slot, under a critical section.
    unsafe { NVIC::unmask(irq) };
    HostPort {
        to_host: to_p,
        from_host: from_c,
        irq,
    }
}

/// The USART interrupt: drain the receiver, refill the transmitter.
pub fn service<U: Instance>(slot: &IsrSlot<U>) {
    cortex_m::interrupt::free(|cs| {
        let mut slot = slot.borrow(cs).borrow_mut();
        let Some(p) = slot.as_mut() else {
            return;
        };
        while p.rx.is_rx_not_empty() {
            // A full buffer drops the byte; an error (overrun, noise, framing) was cleared by
            // the read. Either way the frame fails its CRC and is counted.
            if let Ok(b) = p.rx.read() {
                let _ = p.from_host.enqueue(b);
            }
        }
        while p.tx.is_tx_empty() {
            match p.to_host.dequeue() {
                Some(b) => {
                    let _ = p.tx.write(b);
                }
                None => break,
            }
        }
        if p.to_host.ready() {
            p.tx.listen();
        } else {
            p.tx.unlisten();
        }
    });
}

impl HostPort {
    /// Whether a byte waits (for the sleep check).
    pub fn rx_ready(&self) -> bool {
        self.from_host.ready()
    }
}

impl embedded_io::ErrorType for HostPort {
    type Error = Infallible;
}

impl embedded_io::Read for HostPort {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Blocks for the first byte, as the trait asks; the relay reads only when ready.
        while !self.from_host.ready() {}
        let mut n = 0;
        for slot in buf.iter_mut() {
            let Some(b) = self.from_host.dequeue() else {
                break;
            };
            *slot = b;
            n += 1;
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for HostPort {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.from_host.ready())
    }
}

impl embedded_io::Write for HostPort {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        let mut n = 0;
        for &b in buf {
            if self.to_host.enqueue(b).is_err() {
                if n > 0 {
                    break;
                }
                // Full: wait for the interrupt to make room (the trait blocks for one byte).
                NVIC::pend(self.irq);
                while !self.to_host.ready() {}
                continue;
            }
            n += 1;
        }
        // The handler starts the transmitter.
        NVIC::pend(self.irq);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl embedded_io::WriteReady for HostPort {
    fn write_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.to_host.ready())
    }
}
