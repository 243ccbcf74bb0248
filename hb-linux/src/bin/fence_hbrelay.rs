//! The relay board's fence agent for Pacemaker (see `hb_linux::export::fence`).
fn main() -> std::process::ExitCode {
    hb_linux::export::fence::main()
}
