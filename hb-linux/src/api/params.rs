//! `getparm`: the value of an ha.cf directive as 3.0.6's `GetParameterValue` has it — the text
//! as written for the directives 3.0.6 records, its fixed defaults for those not written, and
//! the values it computes (`warntime`, `initdead`, `deadping`, `udpport`, `debug`).

use hb_core::config::HaCf;
use std::collections::HashMap;

/// Directives whose written value 3.0.6 records (`Directives[].record_value`), with its fixed
/// default when there is one.
const RECORDED: [(&str, Option<&str>); 39] = [
    ("cluster", Some("linux-ha")),
    ("hopfudge", Some("1")),
    ("keepalive", Some("1000ms")),
    ("deadtime", Some("30000ms")),
    ("deadping", None),
    ("initdead", None),
    ("warntime", None),
    ("watchdog", None),
    ("baud", Some("19200")),
    ("udpport", None),
    ("logfacility", None),
    ("logfile", None),
    ("debugfile", None),
    ("auto_failback", Some("legacy")),
    ("rtprio", None),
    ("hbgenmethod", Some("file")),
    ("realtime", Some("true")),
    ("debug", None),
    ("msgfmt", Some("classic")),
    ("use_logd", None),
    ("conn_logd_time", Some("60")),
    ("log_badpack", Some("true")),
    ("syslogmsgfmt", Some("true")),
    ("coredumps", Some("true")),
    ("coreroot", None),
    ("crm_daemon_dir", None),
    ("crmd_spawns_pengine", None),
    ("pacemaker", Some("false")),
    ("autojoin", Some("none")),
    ("uuidfrom", Some("file")),
    ("compression", Some("zlib")),
    ("compression_threshold", Some("2")),
    ("traditional_compression", Some("no")),
    ("max_rexmit_delay", Some("250")),
    ("record_config_changes", Some("on")),
    ("record_pengine_inputs", Some("on")),
    ("enable_config_writes", Some("on")),
    ("memreserve", Some("6500")),
    ("quorum_server", None),
];

/// The parameter table of a running daemon.
#[derive(Debug, Clone, Default)]
pub struct Parameters {
    values: HashMap<String, String>,
}

impl Parameters {
    /// From ha.cf's text (already checked) and its parsed form (for computed values).
    pub fn new(hacf_text: &str, cf: &HaCf, version: &str) -> Parameters {
        let mut values = HashMap::new();
        for line in hacf_text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, rest)) = line.split_once(|c: char| c.is_whitespace()) else {
                continue;
            };
            // `crm` is the old name of `pacemaker`.
            let key = if key == "crm" { "pacemaker" } else { key };
            if RECORDED.iter().any(|(k, _)| *k == key) {
                values.insert(key.to_string(), rest.trim().to_string());
            }
        }
        for (k, default) in RECORDED {
            if let (Some(d), false) = (default, values.contains_key(k)) {
                values.insert(k.to_string(), d.to_string());
            }
        }
        let ms = |d: hb_core::time::Duration| format!("{}ms", d.as_millis());
        values
            .entry("debug".into())
            .or_insert_with(|| cf.debug.to_string());
        values
            .entry("warntime".into())
            .or_insert_with(|| ms(cf.warntime));
        values
            .entry("initdead".into())
            .or_insert_with(|| ms(cf.initdead));
        values
            .entry("deadping".into())
            .or_insert_with(|| ms(cf.deadping));
        values
            .entry("udpport".into())
            .or_insert_with(|| cf.udpport.to_string());
        if cf.logfacility.is_some() {
            for k in ["logfile", "debugfile"] {
                values.entry(k.into()).or_insert_with(|| "/dev/null".into());
            }
        }
        values.insert("hbversion".into(), version.to_string());
        Parameters { values }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        let name = if name == "crm" { "pacemaker" } else { name };
        self.values.get(name).map(String::as_str)
    }
}
