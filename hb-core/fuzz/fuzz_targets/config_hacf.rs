//! Any text: the parser reports problems with positions inside the text, and never panics.
#![no_main]

use hb_core::config::HaCf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let lines = text.bytes().filter(|&b| b == b'\n' || b == b'\r').count() as u32 + 1;
    let _ = HaCf::parse(text, &mut |e| {
        assert!(
            e.line() >= 1 && e.line() <= lines.max(1),
            "line {} of {lines}: {e}",
            e.line()
        );
        assert!(e.column() >= 1, "{e}");
    });
});
