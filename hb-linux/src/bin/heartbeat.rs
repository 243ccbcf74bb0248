fn main() -> std::process::ExitCode {
    hb_linux::daemon::cli::main()
}
