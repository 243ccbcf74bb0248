//! The relay's events on the log, in the same words as their derived `Debug` (the emulator
//! tests and `tests/tests/relay_board.rs` look for them), written without `core::fmt`.

use crate::hw::Log;
use hb_firmware::{Event, FenceAction, FenceOutcome, RelayError};

/// Writes `EVENT t=<ms> <event>` as one line.
pub fn log(log: &mut Log, t: u32, e: &Event) {
    log.str("EVENT t=").dec(t).str(" ");
    match *e {
        Event::Hello { port } => port_only(log, "Hello", port),
        Event::Linked { port } => port_only(log, "Linked", port),
        Event::Armed { port, timeout_ms } => {
            port_field(log, "Armed", port)
                .str(", timeout_ms: ")
                .dec(timeout_ms)
                .str(" }");
        }
        Event::Disarmed { port } => port_only(log, "Disarmed", port),
        Event::WatchdogReset { port } => port_only(log, "WatchdogReset", port),
        Event::FenceStarted {
            requester,
            target,
            action,
        } => {
            log.str("FenceStarted { requester: ")
                .dec(requester.into())
                .str(", target: ")
                .dec(target.into())
                .str(", action: ")
                .str(action_name(action))
                .str(" }");
        }
        Event::PulseDone { port } => port_only(log, "PulseDone", port),
        Event::FenceDone {
            requester,
            target,
            action,
            outcome,
        } => {
            log.str("FenceDone { requester: ")
                .dec(requester.into())
                .str(", target: ")
                .dec(target.into())
                .str(", action: ")
                .str(action_name(action))
                .str(", outcome: ")
                .str(outcome_name(outcome))
                .str(" }");
        }
        Event::Rejected { port, reason } => {
            port_field(log, "Rejected", port).str(", reason: ");
            match reason {
                RelayError::Frame(_) => log.str("Frame"),
                RelayError::NotRelay => log.str("NotRelay"),
                RelayError::Unsigned => log.str("Unsigned"),
                RelayError::Auth(_) => log.str("Auth"),
                RelayError::Malformed { at } => {
                    log.str("Malformed { at: ").dec(at as u32).str(" }")
                }
                RelayError::UnknownType(t) => log.str("UnknownType(").dec(t.into()).str(")"),
                RelayError::StaleLink => log.str("StaleLink"),
                RelayError::Replay => log.str("Replay"),
            };
            log.str(" }");
        }
        Event::PinFault { port } => port_only(log, "PinFault", port),
        Event::KeyStored {
            port,
            index,
            stored,
        } => {
            port_field(log, "KeyStored", port)
                .str(", index: ")
                .dec(index.into())
                .str(", stored: ")
                .flag(stored)
                .str(" }");
        }
        Event::Hang => {
            log.str("Hang");
        }
    }
    log.end();
}

fn port_field<'a>(log: &'a mut Log, name: &str, port: u8) -> &'a mut Log {
    log.str(name).str(" { port: ").dec(port.into())
}

fn port_only(log: &mut Log, name: &str, port: u8) {
    port_field(log, name, port).str(" }");
}

fn action_name(a: FenceAction) -> &'static str {
    match a {
        FenceAction::Reset => "Reset",
        FenceAction::Off => "Off",
        FenceAction::On => "On",
    }
}

fn outcome_name(o: FenceOutcome) -> &'static str {
    match o {
        FenceOutcome::Done => "Done",
        FenceOutcome::BadTarget => "BadTarget",
        FenceOutcome::NameMismatch => "NameMismatch",
        FenceOutcome::Busy => "Busy",
        FenceOutcome::Superseded => "Superseded",
        FenceOutcome::PinFault => "PinFault",
        FenceOutcome::LostRace => "LostRace",
    }
}
