//! Writes the man pages of `heartbeat` and `hbctl` (from their clap definitions, so a flag
//! cannot be added without its documentation) and their bash completions, for the Debian
//! package. `cargo deb` packs what this wrote: run it with the same profile first
//! (`cargo run --release -p hb-linux --bin hb-docgen`). Without an argument it writes to
//! `hb-docs/` beside its own executable, which is where `[package.metadata.deb]` looks.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = match std::env::args_os().nth(1) {
        Some(d) => PathBuf::from(d),
        None => match std::env::current_exe() {
            Ok(exe) => exe.with_file_name("hb-docs"),
            Err(e) => {
                eprintln!("hb-docgen: cannot find my own executable: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match hb_linux::docgen::write_all(&dir) {
        Ok(written) => {
            for f in written {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hb-docgen: {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}
