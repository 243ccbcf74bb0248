//! Any text: the parser reports problems with positions inside the text, and never panics.
#![no_main]

use hb_core::config::{HaCf, HaResources};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let lines = text.bytes().filter(|&b| b == b'\n' || b == b'\r').count() as u32 + 1;
    let mut check = |e: hb_core::config::ConfigError| {
        assert!(
            e.line() >= 1 && e.line() <= lines.max(1),
            "line {} of {lines}: {e}",
            e.line()
        );
        assert!(e.column() >= 1, "{e}");
    };
    if let Ok(res) = HaResources::parse(text, &mut check) {
        let hacf =
            HaCf::parse("node node1 node2\nbcast eth0\n", &mut |_| {}).expect("a valid ha.cf");
        let _ = res.check_nodes(hacf.node_names(), &mut check);
    }
});
