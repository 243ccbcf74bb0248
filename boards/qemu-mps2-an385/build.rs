//! Puts memory.x on the linker's search path and compiles the cluster's authkeys in (if given).
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
    // With HB_RELAY_AUTHKEYS the key is compiled in; without, the image is unkeyed.
    generate_authkeys();
}
