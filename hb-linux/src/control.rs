//! The control socket between the daemon and `hbctl` (design §3): a Unix stream socket,
//! `/var/run/heartbeat/hbctl.sock`, mode 0660, group `haclient`. One request per connection:
//! the client writes one JSON object and a newline, the daemon answers one JSON object and a
//! newline and closes.
//!
//! Requests: `{"cmd": "status"}`, `{"cmd": "standby", "what": "all"}`,
//! `{"cmd": "takeover", "what": "foreign"}` (`what`: `local`, `foreign`, `all`, `failback`;
//! default `all`), `{"cmd": "shutdown"}`. Answers: `{"ok": true, ...}` or
//! `{"ok": false, "error": "..."}`.
//!
//! The status answer (`hbctl status --json` prints it as it is; keep it stable):
//! `{"ok", "node", "status", "generation", "comm_up", "resources", "nodes": [{"name", "type",
//! "state", "generation", "last_heard_ms", "worst_gap_ms", "late_heartbeats"}], "links":
//! [{"node", "medium", "kind", "state", "worst_gap_ms"}], "groups": [{"key", "preferred",
//! "resources": [...], "owner", "state"}], "takeovers": [{"cause", "groups", "state",
//! "detected_at_ms", "fenced_at_ms", "address_up_at_ms", "running_at_ms", "fenced_after_ms",
//! "address_up_after_ms", "running_after_ms"}], "parameters": {...}}` with heartbeat's words
//! for states (`up`, `active`, `dead`, …).

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the daemon listens by default.
pub const DEFAULT_SOCKET: &str = "/var/run/heartbeat/hbctl.sock";
/// The environment variable that overrides [`DEFAULT_SOCKET`] for hbctl.
pub const SOCKET_ENV: &str = "HB_CONTROL_SOCKET";
/// The group whose members may use the socket (besides root).
pub const GROUP: &str = "haclient";
/// Longest request the daemon reads.
pub const MAX_REQUEST: usize = 4096;
/// How long a client waits for the daemon (cl_status's alarm is 5 s).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The socket hbctl talks to: `$HB_CONTROL_SOCKET` or [`DEFAULT_SOCKET`].
pub fn socket_path() -> PathBuf {
    std::env::var_os(SOCKET_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No daemon listens (or we may not talk to it).
    #[error("cannot connect to the heartbeat daemon at {}: {}", .path.display(), crate::errno_text(.source))]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the heartbeat daemon did not answer: {}", crate::errno_text(.0))]
    Io(std::io::Error),
    #[error("the heartbeat daemon sent an answer that is not JSON: {0}")]
    Garbled(String),
    /// The daemon refused the request.
    #[error("{0}")]
    Refused(String),
}

/// Sends `request` and returns the daemon's answer (an `ok: false` answer is an error).
pub fn request(path: &Path, request: &Value) -> Result<Value, ControlError> {
    let mut s = UnixStream::connect(path).map_err(|source| ControlError::Connect {
        path: path.to_path_buf(),
        source,
    })?;
    s.set_read_timeout(Some(CLIENT_TIMEOUT))
        .map_err(ControlError::Io)?;
    s.set_write_timeout(Some(CLIENT_TIMEOUT))
        .map_err(ControlError::Io)?;
    let mut line = request.to_string();
    line.push('\n');
    s.write_all(line.as_bytes()).map_err(ControlError::Io)?;
    let mut answer = String::new();
    BufReader::new(s)
        .read_line(&mut answer)
        .map_err(ControlError::Io)?;
    let v: Value = serde_json::from_str(answer.trim_end())
        .map_err(|e| ControlError::Garbled(e.to_string()))?;
    if v.get("ok") == Some(&Value::Bool(true)) {
        Ok(v)
    } else {
        let msg = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("request refused")
            .to_string();
        Err(ControlError::Refused(msg))
    }
}
