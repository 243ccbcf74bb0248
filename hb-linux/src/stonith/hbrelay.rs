//! `hbrelay`: the relay board as a STONITH device ([`crate::media::relay`] has the board's
//! protocol and the line). In the daemon the plugin asks through the loop's channel
//! ([`HbRelay::with_handle`], [`HbRelay::in_env`]); the `stonith` command opens the tty itself
//! for each call.
//!
//! `stonith_host * hbrelay /dev/ttyUSB0 [node=port ...]`, cluster-glue style: one parameter,
//! `ttydev`, which as the last (only) parameter takes the rest of the line. Its first word is
//! the tty; optional `node=port` words pin a host to a relay port, for a host that has not
//! said hello since the relay booted (without them, the relay's status names the ports).

use super::{InfoKind, Log, Plugin, ResetAction, StonithError};
use crate::log::LogLine;
use crate::media::relay::{self, FenceHandle, FenceReply, FenceTarget, RelayChannel, Reply};
use hb_core::auth::Keyring;
use hb_core::config::hacf::HbRelayParams;
use hb_core::relay::{FenceAction, FenceOutcome};
use hb_core::resources::FenceResult;
use std::time::Duration;

/// Where the `stonith` command's `hbrelay` reads the cluster's keys ([`HbRelay::from_system`]).
pub const AUTHKEYS: &str = "/etc/ha.d/authkeys";

/// How the `hbrelay` plugin reaches the relay.
#[derive(Debug)]
enum Reach {
    /// Through the daemon loop's channel.
    Handle(FenceHandle),
    /// By opening the tty itself (the `stonith` command), signing with `keys` as `name`.
    Open { keys: Box<Keyring>, name: String },
    /// Like `Open`, with the keys read from this `authkeys` file and this node's name from
    /// `uname -n` at the first call.
    System { authkeys: std::path::PathBuf },
}

/// The `hbrelay` STONITH plugin (module docs). In the daemon it is made with
/// [`HbRelay::with_handle`]; the `stonith` command makes it with [`HbRelay::standalone`] and it
/// opens the tty for each call.
#[derive(Debug)]
pub struct HbRelay {
    reach: Reach,
    params: Option<HbRelayParams>,
    /// Channels a daemon holds: the one on the configured tty replaces `reach`.
    handles: Vec<FenceHandle>,
}

impl HbRelay {
    pub fn with_handle(handle: FenceHandle) -> HbRelay {
        HbRelay {
            reach: Reach::Handle(handle),
            params: None,
            handles: Vec::new(),
        }
    }

    pub fn standalone(keys: Keyring, name: &str) -> HbRelay {
        HbRelay {
            reach: Reach::Open {
                keys: Box::new(keys),
                name: name.to_string(),
            },
            params: None,
            handles: Vec::new(),
        }
    }

    /// The plugin the `stonith` command makes by type name (`stonith -t hbrelay`): it signs
    /// with the keys of `authkeys` (`/etc/ha.d/authkeys`, [`AUTHKEYS`]) as this node
    /// (`uname -n`), read when it is first used.
    pub fn from_system(authkeys: impl Into<std::path::PathBuf>) -> HbRelay {
        HbRelay {
            reach: Reach::System {
                authkeys: authkeys.into(),
            },
            params: None,
            handles: Vec::new(),
        }
    }

    /// The plugin made by type name ([`crate::stonith::new_plugin`]): through the daemon's
    /// channel when one of `handles` is on the tty it is configured with, else as
    /// [`HbRelay::from_system`].
    pub fn in_env(authkeys: impl Into<std::path::PathBuf>, handles: Vec<FenceHandle>) -> HbRelay {
        HbRelay {
            handles,
            ..HbRelay::from_system(authkeys)
        }
    }

    fn call(
        &mut self,
        what: Option<(FenceTarget, FenceAction)>,
        timeout: Duration,
    ) -> Result<Reply, StonithError> {
        let params = self
            .params
            .as_ref()
            .ok_or_else(|| StonithError::Invalid("unconfigured hbrelay device".into()))?;
        if let Reach::System { authkeys } = &self.reach {
            let text = std::fs::read_to_string(authkeys).map_err(|e| {
                StonithError::Access(format!("{}: {}", authkeys.display(), crate::errno_text(&e)))
            })?;
            let keys = hb_core::config::authkeys::AuthKeys::parse(&text, &mut |_| {})
                .map_err(|_| {
                    StonithError::BadConfig(format!(
                        "{}: not a valid authkeys file",
                        authkeys.display()
                    ))
                })?
                .keyring();
            let name = nix::unistd::gethostname()
                .map_err(|e| StonithError::Oops(format!("uname: {e}")))?
                .to_string_lossy()
                .into_owned();
            self.reach = Reach::Open {
                keys: Box::new(keys),
                name,
            };
        }
        match &self.reach {
            Reach::System { .. } => Err(StonithError::Oops("no keys".into())),
            Reach::Handle(h) => Ok(match what {
                Some((t, a)) => Reply::Fence(h.fence(t, a, timeout)),
                None => h.status(timeout).map_or(Reply::Timeout, Reply::Status),
            }),
            Reach::Open { keys, name } => {
                let mut ch = RelayChannel::open(
                    params.device.as_str(),
                    relay::DEFAULT_BAUD,
                    (**keys).clone(),
                    name,
                )
                .map_err(|e| StonithError::Access(e.to_string()))?;
                Ok(ch.call_blocking(what, timeout))
            }
        }
    }
}

impl Plugin for HbRelay {
    fn kind(&self) -> &str {
        "hbrelay"
    }

    fn info(&mut self, what: InfoKind) -> Option<String> {
        Some(match what {
            InfoKind::DeviceId => "hb relay board".to_string(),
            InfoKind::DeviceName => self.params.as_ref().map_or_else(String::new, |p| p.device.to_string()),
            InfoKind::Description => {
                "hb's relay board: resets a host by its reset line, on an authenticated request over the serial line".to_string()
            }
            InfoKind::Url => return None,
            InfoKind::Xml => TTYDEV_XML.to_string(),
        })
    }

    fn config_names(&mut self) -> Result<Vec<String>, StonithError> {
        Ok(vec!["ttydev".to_string()])
    }

    fn configure(&mut self, params: &[(String, String)]) -> Result<(), StonithError> {
        if self.params.is_some() {
            return Err(StonithError::Oops("already configured".into()));
        }
        let value = params
            .iter()
            .find(|(n, _)| n == "ttydev")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        let p = HbRelayParams::parse(value).map_err(|e| StonithError::BadConfig(e.to_string()))?;
        if let Some(h) = self
            .handles
            .iter()
            .find(|h| h.device() == p.device.as_str())
        {
            self.reach = Reach::Handle(h.clone());
        }
        if let Reach::Handle(h) = &self.reach {
            if h.device() != p.device.as_str() {
                return Err(StonithError::BadConfig(format!(
                    "hbrelay {}: the daemon's relay channel is on {}",
                    p.device,
                    h.device()
                )));
            }
        }
        self.params = Some(p);
        Ok(())
    }

    fn status(&mut self, timeout: Duration, _log: Log<'_>) -> Result<(), StonithError> {
        match self.call(None, timeout)? {
            Reply::Status(_) => Ok(()),
            _ => Err(StonithError::Timeout("the relay did not answer".into())),
        }
    }

    fn hosts(&mut self, timeout: Duration, _log: Log<'_>) -> Result<Vec<String>, StonithError> {
        let mut hosts: Vec<String> = self
            .params
            .iter()
            .flat_map(|p| p.pinned.iter().map(|pin| pin.node.to_string()))
            .collect();
        match self.call(None, timeout)? {
            Reply::Status(ports) => {
                for p in ports {
                    let n = p.name.to_ascii_lowercase();
                    if !n.is_empty() && !hosts.contains(&n) {
                        hosts.push(n);
                    }
                }
            }
            // The pinned hosts are known without the relay; nothing else is.
            _ if !hosts.is_empty() => {}
            _ => return Err(StonithError::Timeout("the relay did not answer".into())),
        }
        Ok(hosts)
    }

    fn reset(
        &mut self,
        node: &str,
        action: ResetAction,
        timeout: Duration,
        log: Log<'_>,
    ) -> FenceResult {
        let action = match action {
            ResetAction::Reset => FenceAction::Reset,
            ResetAction::Off => FenceAction::Off,
            ResetAction::On => FenceAction::On,
        };
        let pinned = self.params.as_ref().and_then(|p| p.port_of(node));
        let target = match pinned {
            Some(port) => FenceTarget::Port {
                port,
                name: node.to_string(),
            },
            None => FenceTarget::Host(node.to_string()),
        };
        let reply = match self.call(Some((target, action)), timeout) {
            Ok(Reply::Fence(r)) => r,
            Ok(Reply::Timeout) => FenceReply::Timeout,
            Ok(Reply::Status(_)) => FenceReply::Failed,
            Err(e) => {
                log(LogLine::error(format!("hbrelay: {e}")));
                return FenceResult::Failed;
            }
        };
        if reply == FenceReply::Relay(FenceOutcome::LostRace) {
            // Issue 12's arbitration: the peer won a fence race and is alive. The fence
            // fails, so the core takes nothing over and retries; this line says why.
            log(LogLine::error(format!(
                "hbrelay: {} of {node} refused: this node lost the fence race ({node} had the \
                 relay reset this node less than {} s ago, or it is doing so now); {node} is \
                 alive and keeps its resources, none is taken over",
                action.name(),
                hb_core::relay::FENCE_WINDOW.as_millis() / 1000
            )));
        } else if reply != FenceReply::Relay(FenceOutcome::Done) {
            log(LogLine::warn(format!(
                "hbrelay: {} of {node}: {}",
                action.name(),
                match reply {
                    FenceReply::Relay(o) => o.name(),
                    FenceReply::NoSuchHost => "no relay port has this host",
                    FenceReply::Timeout => "no answer from the relay",
                    FenceReply::Failed => "the relay channel is gone",
                }
            )));
        }
        reply.result()
    }

    fn default_timeout(&self) -> Duration {
        relay::FENCE_TIMEOUT
    }
}

const TTYDEV_XML: &str = "<parameters>\n\
<parameter name=\"ttydev\" unique=\"1\" required=\"1\">\n\
<content type=\"string\" />\n\
<shortdesc lang=\"en\">\nRelay tty\n</shortdesc>\n\
<longdesc lang=\"en\">\nThe relay board's serial device, then optional node=port pairs\n</longdesc>\n\
</parameter>\n\
</parameters>";

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(ttydev: &str) -> Result<HbRelay, StonithError> {
        let mut p = HbRelay::standalone(Keyring::new(), "alpha");
        p.configure(&[("ttydev".to_string(), ttydev.to_string())])?;
        Ok(p)
    }

    #[test]
    fn ttydev_is_the_tty_and_pinned_ports() {
        let mut p = configured("/dev/ttyUSB0 Node1=0,node2=1").unwrap();
        assert_eq!(
            p.info(InfoKind::DeviceName).as_deref(),
            Some("/dev/ttyUSB0")
        );
        let params = p.params.as_ref().unwrap();
        assert_eq!(params.port_of("NODE1"), Some(0));
        assert_eq!(params.port_of("node2"), Some(1));
        assert_eq!(params.port_of("node3"), None);
        // A second configuration is refused, as cluster-glue's plugins do.
        assert!(p
            .configure(&[("ttydev".to_string(), "/dev/ttyUSB1".to_string())])
            .is_err());
    }

    #[test]
    fn a_bad_ttydev_is_a_config_error_saying_why() {
        for (ttydev, why) in [
            ("", "hbrelay: needs the relay's tty"),
            ("ttyUSB0", "`ttyUSB0` is not a device path (/dev/ttyUSB0)"),
            ("/dev/ttyUSB0 node1", "hbrelay: `node1` is not node=port"),
        ] {
            match configured(ttydev) {
                Err(StonithError::BadConfig(e)) => assert_eq!(e, why),
                other => panic!("{ttydev:?}: {other:?}"),
            }
        }
        assert!(matches!(
            configured("/dev/ttyUSB0 node1=9"),
            Err(StonithError::BadConfig(e)) if e.starts_with("hbrelay: `9` is not a relay port")
        ));
    }
}
