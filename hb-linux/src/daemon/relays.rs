//! The relay board lines the daemon holds besides its media: a relay that is only the
//! watchdog (`watchdog relay:<tty>`) or a STONITH device (`stonith_host … hbrelay <tty>`) still
//! needs its channel, read for the board's answers. Also what the loop logs about every relay
//! line's link.

use crate::config::Loaded;
use crate::log::{LogLine, Priority};
use crate::media::relay::{ChannelEvent, RelayChannel};
use crate::media::{Medium, MediumError};
use hb_core::config::HaCf;
use std::time::Instant;

/// Opens a relay line (`relay <tty>`, or a relay that is only watchdog or STONITH device),
/// saying hello as this node with the cluster's keys.
pub(super) fn open_relay(
    device: &str,
    baud: u32,
    cfg: &Loaded,
) -> Result<(Medium, Vec<LogLine>), MediumError> {
    let ch = RelayChannel::open(device, baud, cfg.keys.clone(), &cfg.node)?;
    let line = LogLine::info(format!(
        "Relay board line started on {device} at {baud} baud"
    ));
    Ok((Medium::Relay(Box::new(ch)), vec![line]))
}

/// The relay ttys this node needs for roles other than the medium: `watchdog relay:<tty>` and
/// the `stonith_host … hbrelay <tty>` lines that apply to it, each with where its ha.cf line
/// is: the line number, or ` watchdog relay:<tty>` for the watchdog (whose line is not
/// recorded). Errors start the same way, to follow the file name.
pub(super) fn role_devices(cf: &HaCf, node: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    if let Some(dev) = cf.relay_watchdog() {
        out.push((format!(" watchdog relay:{dev}"), dev.to_string()));
    }
    for (at, params) in cf.hbrelays_for(node) {
        let p = params.map_err(|e| format!("{}: {e}", at.line))?;
        out.push((at.line.to_string(), p.device.to_string()));
    }
    Ok(out)
}

/// Runs one relay channel's protocol (the worker's requests, hellos, link checks) and says
/// what changed on its link since the last look (`was_linked`, updated): the lines to log,
/// and the channel's error.
pub(super) fn service(
    ch: &mut RelayChannel,
    was_linked: &mut bool,
    now: Instant,
) -> (Vec<(Priority, String)>, Result<(), MediumError>) {
    let r = ch.service(now);
    let mut lines = Vec::new();
    while let Some(ev) = ch.next_event() {
        match ev {
            ChannelEvent::Linked { port, ports } => lines.push((
                Priority::Info,
                format!(
                    "Relay board on {}: linked as port {port} of {ports}",
                    ch.link_name()
                ),
            )),
            ChannelEvent::PetAck { .. } => {}
        }
    }
    let linked = ch.is_linked();
    if *was_linked && !linked {
        lines.push((
            Priority::Warn,
            format!(
                "Relay board on {}: link lost (relay restarted or not answering); saying hello again",
                ch.link_name()
            ),
        ));
    }
    *was_linked = linked;
    (lines, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hacf(extra: &str) -> HaCf {
        let text = format!("bcast lo\nnode alpha beta\n{extra}");
        HaCf::parse(&text, &mut |_| {}).unwrap()
    }

    #[test]
    fn roles_name_their_ttys_and_lines() {
        let cf = hacf(
            "watchdog relay:/dev/ttyUSB0\nstonith_host alpha hbrelay /dev/ttyUSB1 beta=1\nstonith_host beta hbrelay /dev/ttyUSB2\n",
        );
        assert_eq!(
            role_devices(&cf, "alpha").unwrap(),
            vec![
                (
                    " watchdog relay:/dev/ttyUSB0".to_string(),
                    "/dev/ttyUSB0".to_string()
                ),
                ("4".to_string(), "/dev/ttyUSB1".to_string()),
            ]
        );
        assert_eq!(role_devices(&hacf(""), "alpha").unwrap(), vec![]);
        assert_eq!(
            role_devices(&hacf("watchdog /dev/watchdog\n"), "alpha").unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_bad_role_line_is_named() {
        let e = role_devices(
            &hacf("stonith_host * hbrelay /dev/ttyUSB1 beta=99\n"),
            "alpha",
        )
        .unwrap_err();
        assert!(e.starts_with("3: hbrelay: `99` is not a relay port"), "{e}");
    }
}
