//! Helpers and API clients: `respawn`, `failfast`, `apiauth`, `env`.

use heapless::String;

use super::types::{
    Args, Name, ARGS_LEN, COMMAND_LEN, ID_LIST_LEN, MAX_APIAUTH, MAX_CLIENT_CHILDREN, MAX_ENV,
    NAME_LEN,
};
use super::Builder;
use crate::config::{bounded, Located, Pos, Reporter, Shown, Word, Words, WHITESPACE};

/// A `respawn` or `failfast` line: a helper started after comm-up as `user`, through
/// `/bin/sh -c "exec <command>"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientChild {
    pub user: Name,
    /// The whole command line; starts with an absolute path.
    pub command: String<COMMAND_LEN>,
    /// `failfast`: reboot the machine if the child dies abnormally.
    pub failfast: bool,
}

impl ClientChild {
    /// The program: the command's first word (the daemon checks it is executable).
    pub fn path(&self) -> &str {
        self.command.split(WHITESPACE).next().unwrap_or("")
    }
}

/// An `apiauth client [uid=u1,u2] [gid=g1,g2]` line (or a built-in one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiAuth {
    pub client: Name,
    /// Comma-separated user names as written (empty: none).
    pub uids: String<ID_LIST_LEN>,
    /// Comma-separated group names as written (empty: none).
    pub gids: String<ID_LIST_LEN>,
    /// Added by heartbeat's defaults rather than written in the file.
    pub builtin: bool,
}

impl ApiAuth {
    pub fn uids(&self) -> impl Iterator<Item = &str> {
        self.uids.split(',').filter(|s| !s.is_empty())
    }
    pub fn gids(&self) -> impl Iterator<Item = &str> {
        self.gids.split(',').filter(|s| !s.is_empty())
    }
}

/// `env NAME=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVar {
    /// Without the `HA_` prefix the children see.
    pub name: Name,
    pub value: Args,
}

impl Builder {
    pub(super) fn env(&mut self, r: &mut Reporter<'_>, w: Word<'_>) {
        let pair = w.text.split_once('=').filter(|(name, _)| !name.is_empty());
        let Some((name, value)) = pair else {
            return r.error(
                w.at,
                format_args!(
                    "env: invalid nvpair({}) (use NAME=value; children see it as HA_NAME)",
                    Shown(w.text)
                ),
            );
        };
        let (Some(name), Some(value)) = (bounded(name), bounded(value)) else {
            return r.error(
                w.at,
                format_args!(
                    "env: [{}] is too long (name at most {NAME_LEN} bytes, value at most \
                    {ARGS_LEN})",
                    Shown(w.text)
                ),
            );
        };
        if self.cf.env.push(EnvVar { name, value }).is_err() {
            r.error(
                w.at,
                format_args!("too many env entries (hb supports at most {MAX_ENV})"),
            );
        }
    }

    /// `apiauth client [uid=u1,u2] [gid=g1,g2]` [config.c: set_api_authorization].
    pub(super) fn apiauth(&mut self, r: &mut Reporter<'_>, name: Word<'_>, mut words: Words<'_>) {
        const SYNTAX: &str = "syntax: apiauth client [uid=uidlist] [gid=gidlist]";
        let line = words.rest().map_or("", |w| w.text);
        let Some(client) = words.next() else {
            return r.error(
                name.at,
                format_args!("Invalid apiauth directive [] ({SYNTAX})"),
            );
        };
        let Some(client_name) = bounded::<NAME_LEN>(client.text) else {
            return r.error(
                client.at,
                format_args!(
                    "client name [{}] too long (at most {NAME_LEN} bytes)",
                    Shown(client.text)
                ),
            );
        };
        let mut uids: Option<Word<'_>> = None;
        let mut gids: Option<Word<'_>> = None;
        for w in words {
            let (which, list) = if let Some(list) = w.text.strip_prefix("uid=") {
                ("uid", list)
            } else if let Some(list) = w.text.strip_prefix("gid=") {
                ("gid", list)
            } else {
                return r.error(
                    w.at,
                    format_args!(
                        "Invalid apiauth directive [{}]: missing uid or gid in [{}] ({SYNTAX})",
                        Shown(line),
                        Shown(w.text)
                    ),
                );
            };
            let slot = if which == "uid" { &mut uids } else { &mut gids };
            if slot.is_some() {
                return r.error(w.at, format_args!("Duplicate {which} list in apiauth"));
            }
            if list.is_empty() {
                return r.error(
                    w.at,
                    format_args!(
                        "Invalid apiauth directive [{}]: empty list in [{}] ({SYNTAX})",
                        Shown(line),
                        Shown(w.text)
                    ),
                );
            }
            *slot = Some(Word { text: list, ..w });
        }
        if uids.is_none() && gids.is_none() {
            return r.error(
                client.at,
                format_args!(
                    "Invalid apiauth directive [{}] (one of uid= or gid= must be given; {SYNTAX})",
                    Shown(line)
                ),
            );
        }
        let list = |w: Option<Word<'_>>| -> Result<String<ID_LIST_LEN>, Pos> {
            match w {
                None => Ok(String::new()),
                Some(w) => bounded(w.text).ok_or(w.at),
            }
        };
        let (uid_list, gid_list) = match (list(uids), list(gids)) {
            (Ok(u), Ok(g)) => (u, g),
            (Err(at), _) | (_, Err(at)) => {
                return r.error(
                    at,
                    format_args!("apiauth: id list too long (at most {ID_LIST_LEN} bytes)"),
                );
            }
        };
        if self.cf.apiauth.iter().any(|a| a.client == client_name) {
            return r.error(
                client.at,
                format_args!(
                    "Duplicate apiauth directive for API client {}: [{}]",
                    Shown(client.text),
                    Shown(line)
                ),
            );
        }
        if self.cf.apiauth.len() >= MAX_APIAUTH {
            return r.error(
                name.at,
                format_args!("too many apiauth lines (hb supports at most {MAX_APIAUTH})"),
            );
        }
        let entry = ApiAuth {
            client: client_name,
            uids: uid_list,
            gids: gid_list,
            builtin: false,
        };
        if self.cf.apiauth.push(entry).is_err() {
            r.error(
                name.at,
                format_args!("too many apiauth lines (hb supports at most {MAX_APIAUTH})"),
            );
        }
    }

    /// `respawn|failfast <user> </full/path> [args...]` [config.c: add_client_child].
    pub(super) fn client_child(
        &mut self,
        r: &mut Reporter<'_>,
        name: Word<'_>,
        mut words: Words<'_>,
        failfast: bool,
    ) {
        let directive = if failfast { "failfast" } else { "respawn" };
        let Some(user) = words.next() else {
            return r.error(
                name.at,
                format_args!(
                    "{directive}: missing user and command (syntax: {directive} <user> \
                    </full/path/to/command> [args...])"
                ),
            );
        };
        let Some(user_name) = bounded::<NAME_LEN>(user.text).filter(|u| u.len() < NAME_LEN) else {
            return r.error(
                user.at,
                format_args!("UID specified for client child is too long"),
            );
        };
        let Some(cmd) = words.rest() else {
            return r.error(
                name.at,
                format_args!(
                    "Client child command [] is not full pathname (syntax: {directive} \
                    <user> </full/path/to/command> [args...])"
                ),
            );
        };
        if !cmd.text.starts_with('/') {
            return r.error(
                cmd.at,
                format_args!(
                    "Client child command [{}] is not full pathname",
                    Shown(cmd.text)
                ),
            );
        }
        let Some(command) = bounded(cmd.text) else {
            return r.error(
                cmd.at,
                format_args!(
                    "Client child command is too long (hb supports at most {COMMAND_LEN} bytes)"
                ),
            );
        };
        let child = ClientChild {
            user: user_name,
            command,
            failfast,
        };
        if self
            .cf
            .client_children
            .push(Located {
                value: child,
                at: name.at,
            })
            .is_err()
        {
            r.error(
                name.at,
                format_args!(
                    "too many respawn/failfast lines (hb supports at most {MAX_CLIENT_CHILDREN})"
                ),
            );
        }
    }
}
