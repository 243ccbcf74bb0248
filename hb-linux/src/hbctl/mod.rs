//! `hbctl`: the admin's tool. `decode` and `check-config` work without a daemon; `status`,
//! `standby`, `takeover` and `cl_status` talk to the running one. Called as `cl_status`,
//! `hb_standby` or `hb_takeover` (a symlink), it is that classic tool.

mod check_config;
pub(crate) mod client;
mod decode;
pub mod demo;
pub mod hexdump;
mod relay;
pub mod tune;

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
    /// Write a Corosync + Pacemaker configuration from ha.cf, haresources and authkeys.
    Export(crate::export::Args),
    /// Show the running daemon's view: nodes, links, resource groups (exit 3: no daemon).
    Status {
        /// Machine-readable output (stable field names; see the README).
        #[arg(long)]
        json: bool,
        #[arg(long, env = crate::control::SOCKET_ENV, default_value = crate::control::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// Give resources to the other node (hb_standby): all, local, foreign or failback.
    Standby {
        what: Option<String>,
        #[arg(long, env = crate::control::SOCKET_ENV, default_value = crate::control::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// Ask the other node for resources (hb_takeover): all, local, foreign or failback.
    Takeover {
        what: Option<String>,
        #[arg(long, env = crate::control::SOCKET_ENV, default_value = crate::control::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// A two-node cluster and a client in network namespaces on this machine (root): the
    /// service moves when the active node loses power, and the client's wait is measured.
    Demo {
        /// KEEPALIVE/WARNTIME/DEADTIME in ms.
        #[arg(long, default_value = "100/300/500")]
        timing: demo::Timing,
        /// Measure this many failovers (each in a new cluster) and print their median.
        #[arg(long, default_value_t = 1)]
        runs: u32,
        /// Print only the measurements.
        #[arg(long)]
        quiet: bool,
        /// The service address: native (IPaddr shorthand), ipaddr2 (native), stock-wrapper
        /// (3.0.6's resource.d/IPaddr2 installed, still native) or edited-wrapper (run as a
        /// script, with resource-agents' OCF IPaddr2).
        #[arg(long, default_value = "native")]
        address: demo::Address,
        /// Also measure an hb_standby hand-over before the power failure.
        #[arg(long)]
        handover: bool,
    },
    /// Set up a relay board: flash its image, provision its key, show it, rehearse a fence.
    #[command(subcommand)]
    Relay(relay::RelayCommand),
    /// The demo's HTTP service (answers every request with NAME).
    #[command(name = "demo-http", hide = true)]
    DemoHttp {
        #[arg(long)]
        name: String,
        #[arg(long)]
        listen: String,
    },
    /// heartbeat's cl_status: hbstatus, listnodes, nodestatus, rscstatus, … (see cl_status -h).
    #[command(name = "cl_status", disable_help_flag = true)]
    ClStatus {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// STONITH devices, as cluster-glue's stonith(8): -L, -t TYPE -h, -t TYPE -p PARAMS
    /// -S|-l|-T reset|on|off NODE (also as `stonith`).
    #[command(name = "stonith", disable_help_flag = true)]
    Stonith {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Recommend keepalive, warntime and deadtime from the heartbeat gaps seen (the FAQ's
    /// procedure: deadtime at least twice the worst late heartbeat).
    Tune {
        /// An ha-log with `Late heartbeat` lines (repeatable).
        #[arg(long = "log", value_name = "FILE")]
        logs: Vec<PathBuf>,
        /// The configuration directory (its ha.cf gives the timing in force and the peers).
        #[arg(short = 'c', long = "config-dir", default_value = "/etc/ha.d")]
        dir: PathBuf,
        /// The local node name (default: `uname -n`, or the first line of DIR/nodeinfo).
        #[arg(long)]
        node: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// The daemon asked when no log is given.
        #[arg(long, env = crate::control::SOCKET_ENV, default_value = crate::control::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// Confirm a meatware reset: -c NODE [-w] (also as `meatclient`).
    #[command(name = "meatclient", disable_help_flag = true)]
    Meatclient {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// hbctl's command line as clap sees it, for its man page and shell completion.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// `hbctl` by its own name (the other names are [`crate::multicall`]'s).
#[inline(never)]
pub fn main() -> ExitCode {
    let socket = crate::control::socket_path();
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
        Command::Export(args) => crate::export::run(&args, &mut stdout),
        Command::Status { json, socket } => client::status(&socket, json, &mut stdout),
        Command::Standby { what, socket } => client::standby(&socket, "standby", what.as_deref()),
        Command::Takeover { what, socket } => client::standby(&socket, "takeover", what.as_deref()),
        Command::ClStatus { args } => client::cl_status(&socket, &args),
        Command::Demo {
            timing,
            runs,
            quiet,
            address,
            handover,
        } => demo::run(
            &mut stdout,
            demo::Options {
                timing,
                runs,
                quiet,
                address,
                handover,
            },
        ),
        Command::DemoHttp { name, listen } => demo::http(&name, &listen),
        Command::Tune {
            logs,
            dir,
            node,
            json,
            socket,
        } => tune::run(
            &tune::Options {
                logs,
                socket,
                config_dir: dir,
                node,
                json,
            },
            &mut stdout,
        ),
        Command::Relay(cmd) => relay::run(&cmd, &mut stdout),
    };
    ExitCode::from(code)
}
