//! One program, many names (3.0.6 installs separate tools; hb installs symlinks to `hbctl`):
//! the name it was called by picks the tool. Kept out of both the daemon and `hbctl` so that
//! neither imports the other.

use std::path::Path;
use std::process::ExitCode;

/// The tool a program name stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// The daemon (`/usr/lib/heartbeat/heartbeat`).
    Heartbeat,
    ClStatus,
    HbStandby,
    HbTakeover,
    /// cluster-glue's `stonith(8)`.
    Stonith,
    Meatclient,
    /// heartbeat's `/usr/share/heartbeat/ResourceManager`.
    ResourceManager,
    /// Any other name: `hbctl` and its subcommands.
    Hbctl,
}

impl Tool {
    /// The tool `argv[0]` names (its file name; a path's directories do not matter).
    pub fn from_argv0(argv0: &str) -> Tool {
        match Path::new(argv0).file_name().and_then(|n| n.to_str()) {
            Some("heartbeat") => Tool::Heartbeat,
            Some("cl_status") => Tool::ClStatus,
            Some("hb_standby") => Tool::HbStandby,
            Some("hb_takeover") => Tool::HbTakeover,
            Some("stonith") => Tool::Stonith,
            Some("meatclient") => Tool::Meatclient,
            Some("ResourceManager") => Tool::ResourceManager,
            _ => Tool::Hbctl,
        }
    }
}

/// The `hbctl` binary's `main`: runs the tool this program was called as.
///
/// Every tool's entry point is `#[inline(never)]`: this frame lies under the daemon's loop for
/// its whole life, so the stack space of tools inlined into it (96 KiB in the appliance
/// build) stayed resident, and locked, in every running daemon.
pub fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let tool = argv.first().map_or(Tool::Hbctl, |a| Tool::from_argv0(a));
    let name = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("hbctl");
    let args = argv.get(1..).unwrap_or_default();
    let socket = crate::control::socket_path();
    let code = match tool {
        Tool::Heartbeat => return crate::daemon::cli::main(),
        Tool::Hbctl => return crate::hbctl::main(),
        Tool::Stonith => crate::stonith::cli::run_stonith(name, args),
        Tool::Meatclient => crate::stonith::cli::run_meatclient(name, args),
        Tool::ResourceManager => crate::resource_manager::run(
            argv.first().map_or("ResourceManager", String::as_str),
            args,
            Path::new(crate::resource_manager::HA_DIR),
        ),
        Tool::ClStatus => crate::hbctl::client::cl_status(&socket, args),
        Tool::HbStandby => {
            crate::hbctl::client::standby(&socket, "standby", args.first().map(String::as_str))
        }
        Tool::HbTakeover => {
            crate::hbctl::client::standby(&socket, "takeover", args.first().map(String::as_str))
        }
    };
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_picks_the_tool() {
        assert_eq!(
            Tool::from_argv0("/usr/lib/heartbeat/heartbeat"),
            Tool::Heartbeat
        );
        assert_eq!(Tool::from_argv0("cl_status"), Tool::ClStatus);
        assert_eq!(Tool::from_argv0("/usr/bin/hb_standby"), Tool::HbStandby);
        assert_eq!(Tool::from_argv0("./hb_takeover"), Tool::HbTakeover);
        assert_eq!(Tool::from_argv0("/usr/sbin/stonith"), Tool::Stonith);
        assert_eq!(Tool::from_argv0("meatclient"), Tool::Meatclient);
        assert_eq!(
            Tool::from_argv0("/usr/share/heartbeat/ResourceManager"),
            Tool::ResourceManager
        );
        assert_eq!(Tool::from_argv0("/usr/sbin/hbctl"), Tool::Hbctl);
        assert_eq!(Tool::from_argv0("heartbeat-old"), Tool::Hbctl);
        assert_eq!(Tool::from_argv0(""), Tool::Hbctl);
    }
}
