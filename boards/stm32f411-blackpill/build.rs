//! Puts memory.x on the linker's search path and compiles the cluster's authkeys in.
use std::path::PathBuf;

include!("../common/authkeys_build.rs");

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=../common/authkeys_build.rs");
    // A real relay: no default key, HB_RELAY_AUTHKEYS must name the cluster's authkeys.
    generate_authkeys(None);
}
