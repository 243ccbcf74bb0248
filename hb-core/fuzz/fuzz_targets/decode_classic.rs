#![no_main]

use hb_core::msg::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hb_core_fuzz::wire_round_trip(Format::Classic, data));
