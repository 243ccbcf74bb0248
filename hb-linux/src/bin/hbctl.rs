fn main() -> std::process::ExitCode {
    hb_linux::hbctl::main()
}
