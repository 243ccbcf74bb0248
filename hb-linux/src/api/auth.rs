//! `apiauth`: who may sign on as which client (3.0.6's `api_check_client_authorization`). The
//! table is ha.cf's lines plus 3.0.6's built-in defaults (hb-core's parser adds those); names
//! are looked up once, at start. A client passes when the uid or the primary gid its socket
//! carries (`SO_PEERCRED`) is listed; casual clients (client id = pid) use `anon`, a named
//! client without a line uses `default`, and none at all refuses it.

use hb_core::config::HaCf;
use nix::unistd::{Group, User};

#[derive(Debug, Clone, Default)]
struct Entry {
    client: String,
    uids: Vec<u32>,
    gids: Vec<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct ApiAuth {
    entries: Vec<Entry>,
}

/// Why a client may not sign on; the text is 3.0.6's `removereason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    AnonMissing,
    NoDefault,
    NotAuthorized,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::AnonMissing => "apiauth anon missing",
            Refusal::NoDefault => "no default client auth",
            Refusal::NotAuthorized => "client failed authorization",
        }
    }
}

impl ApiAuth {
    /// The table from ha.cf; a name that is neither a user/group nor a number matches nobody
    /// (and is reported in `unknown`).
    pub fn from_hacf(cf: &HaCf, unknown: &mut Vec<String>) -> ApiAuth {
        let mut entries = Vec::new();
        for a in cf.apiauth.iter() {
            let mut e = Entry {
                client: a.client.to_string(),
                ..Entry::default()
            };
            for u in a.uids() {
                match User::from_name(u).ok().flatten() {
                    Some(user) => e.uids.push(user.uid.as_raw()),
                    None => match u.parse() {
                        Ok(n) => e.uids.push(n),
                        Err(_) => unknown.push(format!("apiauth {}: no user {u}", a.client)),
                    },
                }
            }
            for g in a.gids() {
                match Group::from_name(g).ok().flatten() {
                    Some(group) => e.gids.push(group.gid.as_raw()),
                    None => match g.parse() {
                        Ok(n) => e.gids.push(n),
                        Err(_) => unknown.push(format!("apiauth {}: no group {g}", a.client)),
                    },
                }
            }
            entries.push(e);
        }
        ApiAuth { entries }
    }

    /// Whether a client of this id, casual or not, whose socket says `uid`/`gid`, may sign on.
    pub fn check(&self, client: &str, casual: bool, uid: u32, gid: u32) -> Result<(), Refusal> {
        let find = |name: &str| self.entries.iter().find(|e| e.client == name);
        let entry = if casual {
            find("anon").ok_or(Refusal::AnonMissing)?
        } else {
            match find(client) {
                Some(e) => e,
                None => find("default").ok_or(Refusal::NoDefault)?,
            }
        };
        if entry.uids.contains(&uid) || entry.gids.contains(&gid) {
            Ok(())
        } else {
            Err(Refusal::NotAuthorized)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(hacf: &str) -> ApiAuth {
        let cf = hb_core::config::HaCf::parse(hacf, &mut |_| {}).expect("valid ha.cf");
        let mut unknown = Vec::new();
        ApiAuth::from_hacf(&cf, &mut unknown)
    }

    const BASE: &str = "keepalive 1\ndeadtime 10\nbcast eth0\nnode a\nnode b\n";

    #[test]
    fn built_in_defaults_and_lines_decide() {
        let t = table(&format!("{BASE}apiauth dopd uid=0 gid=4242\n"));
        assert_eq!(t.check("dopd", false, 0, 1), Ok(()));
        assert_eq!(t.check("dopd", false, 7, 4242), Ok(()));
        assert_eq!(t.check("dopd", false, 7, 7), Err(Refusal::NotAuthorized));
        // No `default` line: an unknown client is refused.
        assert_eq!(t.check("someone", false, 0, 0), Err(Refusal::NoDefault));
        // Casual clients use the built-in `anon` (uid=root gid=haclient).
        assert_eq!(t.check("123", true, 0, 0), Ok(()));
        assert_eq!(t.check("123", true, 7, 7), Err(Refusal::NotAuthorized));
        let t = table(&format!("{BASE}apiauth default uid=7\n"));
        assert_eq!(t.check("someone", false, 7, 7), Ok(()));
    }
}
