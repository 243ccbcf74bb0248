//! The `null` device: resets nothing, for tests (cluster-glue `null.c`).

use super::{host_list, InfoKind, Log, Plugin, ResetAction, StonithError};
use crate::log::LogLine;
use hb_core::resources::FenceResult;
use std::time::Duration;

/// cluster-glue's `null` plugin: parameter `hostlist`; a reset only logs
/// `Host null-reset: NODE`. One difference, on purpose: glue's null "resets" any host, ours
/// only the hosts it was given and answers `S_BADHOST` for others, so that a test can make a
/// fence fail with nothing but `stonith_host * null <other-host>`.
#[derive(Debug, Default)]
pub struct Null {
    hosts: Option<Vec<String>>,
}

impl Null {
    pub fn new() -> Null {
        Null::default()
    }
}

impl Plugin for Null {
    fn kind(&self) -> &str {
        "null"
    }

    fn info(&mut self, what: InfoKind) -> Option<String> {
        Some(
            match what {
                InfoKind::DeviceId => "NULL STONITH device",
                InfoKind::DeviceName => "(nil)",
                InfoKind::Description => "Dummy (do-nothing) STONITH device\nFOR TESTING ONLY!",
                InfoKind::Url => return None,
                InfoKind::Xml => HOSTLIST_XML,
            }
            .to_string(),
        )
    }

    fn config_names(&mut self) -> Result<Vec<String>, StonithError> {
        Ok(vec!["hostlist".to_string()])
    }

    fn configure(&mut self, params: &[(String, String)]) -> Result<(), StonithError> {
        if self.hosts.is_some() {
            return Err(StonithError::Oops("already configured".into()));
        }
        let list = params
            .iter()
            .find(|(n, _)| n == "hostlist")
            .map(|(_, v)| host_list(v))
            .unwrap_or_default();
        if list.is_empty() {
            return Err(StonithError::BadConfig("hostlist is empty".into()));
        }
        self.hosts = Some(list);
        Ok(())
    }

    fn status(&mut self, _timeout: Duration, _log: Log<'_>) -> Result<(), StonithError> {
        Ok(())
    }

    fn hosts(&mut self, _timeout: Duration, _log: Log<'_>) -> Result<Vec<String>, StonithError> {
        self.hosts
            .clone()
            .ok_or_else(|| StonithError::Invalid("unconfigured null device".into()))
    }

    fn reset(
        &mut self,
        node: &str,
        _action: ResetAction,
        _timeout: Duration,
        log: Log<'_>,
    ) -> FenceResult {
        let Some(hosts) = &self.hosts else {
            return FenceResult::Failed;
        };
        if !hosts.iter().any(|h| h.eq_ignore_ascii_case(node)) {
            return FenceResult::BadHost;
        }
        log(LogLine::info(format!("Host null-reset: {node}")));
        FenceResult::Ok
    }

    fn default_timeout(&self) -> Duration {
        Duration::from_secs(10)
    }
}

/// The parameter description of plugins whose only parameter is `hostlist`
/// (cluster-glue `XML_HOSTLIST_PARM`).
pub(super) const HOSTLIST_XML: &str = "<parameters>\n\
<parameter name=\"hostlist\" unique=\"1\" required=\"1\">\n\
<content type=\"string\" />\n\
<shortdesc lang=\"en\">\nHostlist\n</shortdesc>\n\
<longdesc lang=\"en\">\nThe list of hosts that the STONITH device controls\n</longdesc>\n\
</parameter>\n\
</parameters>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_its_hosts_and_refuses_others() {
        let mut n = Null::new();
        n.configure(&[("hostlist".into(), "Node1,node2".into())])
            .unwrap();
        let mut lines = Vec::new();
        let t = Duration::from_secs(1);
        assert_eq!(
            n.reset("node1", ResetAction::Reset, t, &mut |l| lines.push(l)),
            FenceResult::Ok
        );
        assert_eq!(lines, [LogLine::info("Host null-reset: node1")]);
        assert_eq!(
            n.reset("node3", ResetAction::Reset, t, &mut |l| lines.push(l)),
            FenceResult::BadHost
        );
        assert_eq!(n.hosts(t, &mut |_| {}).unwrap(), ["node1", "node2"]);
        assert!(n.status(t, &mut |_| {}).is_ok());
    }
}
