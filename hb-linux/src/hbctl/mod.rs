//! `hbctl`: the admin's tool. Each subcommand is useful on its own, without a running daemon.

mod check_config;
mod decode;
pub mod hexdump;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "hbctl",
    version,
    about = "Inspect and control an hb (heartbeat) cluster"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode one heartbeat packet and show its fields (exit 0 valid, 1 bad auth, 2 malformed).
    Decode(decode::Args),
    /// Check ha.cf, haresources and authkeys (exit 0 clean, 1 problems, 2 unreadable).
    CheckConfig {
        /// The configuration directory.
        #[arg(short = 'c', long = "config-dir", default_value = "/etc/ha.d")]
        dir: PathBuf,
        /// The local node name (default: `uname -n`, or the first line of DIR/nodeinfo).
        #[arg(long)]
        node: Option<String>,
        /// Check the files only, not this machine's interfaces, serial ports, users and programs
        /// (to check a configuration meant for another machine).
        #[arg(long)]
        syntax_only: bool,
    },
    /// STONITH devices, as cluster-glue's stonith(8): -L, -t TYPE -h, -t TYPE -p PARAMS
    /// -S|-l|-T reset|on|off NODE (also as `stonith`).
    #[command(name = "stonith", disable_help_flag = true)]
    Stonith {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Confirm a meatware reset: -c NODE [-w] (also as `meatclient`).
    #[command(name = "meatclient", disable_help_flag = true)]
    Meatclient {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

pub fn main() -> ExitCode {
    // `stonith` and `meatclient` are this program under those names (symlinks).
    if let Some(code) = crate::stonith::cli::dispatch_argv0() {
        return ExitCode::from(code);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap exits 2 on usage errors; --help and --version are not errors.
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let mut stdout = std::io::stdout().lock();
    let code = match cli.command {
        Command::Stonith { args } => crate::stonith::cli::run_stonith("stonith", &args),
        Command::Meatclient { args } => crate::stonith::cli::run_meatclient("meatclient", &args),
        Command::Decode(args) => decode::run(&args, &mut stdout),
        Command::CheckConfig {
            dir,
            node,
            syntax_only,
        } => check_config::run(&dir, node.as_deref(), syntax_only, &mut stdout),
    };
    ExitCode::from(code)
}
