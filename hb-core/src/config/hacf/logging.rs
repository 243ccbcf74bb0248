//! `logfacility` names and heartbeat's rules for where logs go when some are left out.

use super::types::DEV_NULL;
use super::Builder;
use crate::config::{bounded, Reporter};

/// `logfacility` names heartbeat accepts (`cl_syslogfac_str2int`, exact lowercase).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LogFacility {
    Auth,
    Authpriv,
    Cron,
    Daemon,
    Ftp,
    Kern,
    Lpr,
    Mail,
    News,
    Security,
    Syslog,
    User,
    Uucp,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl LogFacility {
    const ALL: [LogFacility; 21] = [
        LogFacility::Auth,
        LogFacility::Authpriv,
        LogFacility::Cron,
        LogFacility::Daemon,
        LogFacility::Ftp,
        LogFacility::Kern,
        LogFacility::Lpr,
        LogFacility::Mail,
        LogFacility::News,
        LogFacility::Security,
        LogFacility::Syslog,
        LogFacility::User,
        LogFacility::Uucp,
        LogFacility::Local0,
        LogFacility::Local1,
        LogFacility::Local2,
        LogFacility::Local3,
        LogFacility::Local4,
        LogFacility::Local5,
        LogFacility::Local6,
        LogFacility::Local7,
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.name() == name)
    }

    pub const fn name(self) -> &'static str {
        match self {
            LogFacility::Auth => "auth",
            LogFacility::Authpriv => "authpriv",
            LogFacility::Cron => "cron",
            LogFacility::Daemon => "daemon",
            LogFacility::Ftp => "ftp",
            LogFacility::Kern => "kern",
            LogFacility::Lpr => "lpr",
            LogFacility::Mail => "mail",
            LogFacility::News => "news",
            LogFacility::Security => "security",
            LogFacility::Syslog => "syslog",
            LogFacility::User => "user",
            LogFacility::Uucp => "uucp",
            LogFacility::Local0 => "local0",
            LogFacility::Local1 => "local1",
            LogFacility::Local2 => "local2",
            LogFacility::Local3 => "local3",
            LogFacility::Local4 => "local4",
            LogFacility::Local5 => "local5",
            LogFacility::Local6 => "local6",
            LogFacility::Local7 => "local7",
        }
    }

    /// The syslog facility code (`LOG_*`, already shifted left by 3), as glibc defines them.
    pub const fn code(self) -> u32 {
        let n = match self {
            LogFacility::Kern => 0,
            LogFacility::User => 1,
            LogFacility::Mail => 2,
            LogFacility::Daemon => 3,
            LogFacility::Auth | LogFacility::Security => 4,
            LogFacility::Syslog => 5,
            LogFacility::Lpr => 6,
            LogFacility::News => 7,
            LogFacility::Uucp => 8,
            LogFacility::Cron => 9,
            LogFacility::Authpriv => 10,
            LogFacility::Ftp => 11,
            LogFacility::Local0 => 16,
            LogFacility::Local1 => 17,
            LogFacility::Local2 => 18,
            LogFacility::Local3 => 19,
            LogFacility::Local4 => 20,
            LogFacility::Local5 => 21,
            LogFacility::Local6 => 22,
            LogFacility::Local7 => 23,
        };
        n << 3
    }
}

impl Builder {
    /// heartbeat's logging rules [config.c: init_config, check_logd_usage]. heartbeat also
    /// warns `Logging daemon is disabled --enabling logging daemon is recommended` whenever
    /// files or syslog are configured without logd; hb has no ha_logd, so we do not recommend
    /// one.
    pub(super) fn logging(&mut self, r: &mut Reporter<'_>) {
        let cf = &mut self.cf;
        let syslog = cf.syslog_facility().is_some();
        if syslog {
            if cf.logfile.is_none() {
                cf.logfile = bounded(DEV_NULL);
            }
            if cf.debugfile.is_none() {
                cf.debugfile = bounded(DEV_NULL);
            }
        }
        let no_logging = cf.logfile.is_none() && cf.debugfile.is_none() && !syslog;
        cf.use_logd = match self.use_logd {
            None => no_logging,
            Some((on, at)) => {
                if no_logging && !on {
                    r.error(
                        at,
                        format_args!(
                            "No log entry found in ha.cf and use_logd is set to off \
                             (add a logfile, debugfile or logfacility line)"
                        ),
                    );
                }
                on
            }
        };
    }
}
