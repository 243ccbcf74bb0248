//! Puts memory.x on the linker's search path and compiles the cluster's authkeys in.
use std::path::PathBuf;

include!("../common/authkeys_build.rs");

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    // cortex-m-rt's `device` feature includes device.x for the interrupt handlers' names;
    // this board names none (src/main.rs fills its table directly).
    std::fs::write(out.join("device.x"), "/* no named device interrupts */\n").expect("device.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=../common/authkeys_build.rs");
    // The emulator image may use the test key; real boards must be given the cluster's.
    generate_authkeys(Some("../authkeys.test"));
}
