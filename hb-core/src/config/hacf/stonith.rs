//! `stonith` and `stonith_host`.

use super::types::{Args, Name, Path, MAX_STONITH_HOSTS, NAME_LEN};
use super::values::{args, path};
use super::Builder;
use crate::config::{bounded, lowercase, Located, NodeName, Reporter, Word, Words, NODE_NAME_LEN};

/// `stonith <type> <config-file>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stonith {
    pub kind: Name,
    pub config_file: Path,
}

/// `stonith_host <from-host> <type> <params...>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StonithHost {
    /// The node that may use this device (lowercased), or `*` for any.
    pub from_host: NodeName,
    pub kind: Name,
    /// Plugin parameters, as written.
    pub params: Args,
}

impl Builder {
    /// `stonith <type> <config-file>` [config.c: set_stonith_info].
    pub(super) fn stonith(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        let Some(t) = words.next() else {
            return r.error(
                name.at,
                format_args!("No Stonith type given (syntax: stonith <type> <config-file>)"),
            );
        };
        let Some(kind) = bounded(t.text) else {
            return r.error(
                t.at,
                format_args!("Stonith type too long (at most {NAME_LEN} bytes)"),
            );
        };
        let Some(file) = words.rest() else {
            return r.error(
                name.at,
                format_args!("stonith: missing config file (syntax: stonith <type> <config-file>)"),
            );
        };
        let Some(config_file) = path(r, "stonith", file) else {
            return;
        };
        self.cf.stonith = Some(Located {
            value: Stonith { kind, config_file },
            at: name.at,
        });
    }

    /// `stonith_host <from-host> <type> <params...>` [config.c: set_stonith_host_info].
    /// heartbeat looks at a line only on the node it names; we check every line's syntax.
    pub(super) fn stonith_host(
        &mut self,
        r: &mut Reporter<'_>,
        name: Word<'_>,
        mut words: Words<'_>,
    ) {
        let Some(h) = words.next() else {
            return r.error(
                name.at,
                format_args!(
                    "No Stonith hostname argument given (syntax: \
                stonith_host <from-host> <type> <params...>)"
                ),
            );
        };
        let Some(from_host) = lowercase::<NODE_NAME_LEN>(h.text) else {
            return r.error(
                h.at,
                format_args!("Stonith hostname too long (at most {NODE_NAME_LEN} bytes)"),
            );
        };
        let Some(t) = words.next() else {
            return r.error(
                name.at,
                format_args!(
                    "No Stonith type given (syntax: stonith_host <from-host> <type> <params...>)"
                ),
            );
        };
        let Some(kind) = bounded(t.text) else {
            return r.error(
                t.at,
                format_args!("Stonith type too long (at most {NAME_LEN} bytes)"),
            );
        };
        let params = match words.rest() {
            Some(p) => match args(r, "stonith_host", p) {
                Some(a) => a,
                None => return,
            },
            None => Args::new(),
        };
        let entry = Located {
            value: StonithHost {
                from_host,
                kind,
                params,
            },
            at: name.at,
        };
        if self.cf.stonith_hosts.push(entry).is_err() {
            r.error(
                name.at,
                format_args!(
                    "too many stonith_host lines (hb supports at most {MAX_STONITH_HOSTS})"
                ),
            );
        }
    }
}
