fn main() -> std::process::ExitCode {
    hb_linux::multicall::main()
}
