//! The API server: the registration socket, its clients, and 3.0.6's requests
//! (`heartbeat/hb_api.c`). Every client is served a bounded amount per round of the loop
//! ([`MSGS_PER_ROUND`], [`ipc::READ_BUDGET`]), and a client that breaks the protocol — garbage,
//! a message cut off, a full queue because it stopped reading — is dropped with one log line.

use super::auth::{ApiAuth, Refusal};
use super::ipc::{Broken, Conn};
use super::msg::Msg;
use super::params::Parameters;
use super::{Cluster, NodeView};
use crate::log::Priority;
use nix::poll::PollFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::Pid;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

/// Requests served per client per round of the loop.
pub const MSGS_PER_ROUND: usize = 32;
/// Connections accepted per round.
const ACCEPTS_PER_ROUND: usize = 16;
/// Clients at once (3.0.6 has no limit; a bound keeps a fork bomb from costing heartbeats).
pub const MAX_CLIENTS: usize = 256;

/// Message treatments (`hb_api_core.h`): what a client's filter selects.
pub const KEEPIT: u32 = 0x01;
const ALLTREATMENTS: u32 = 0x3f;
const DEBUGTREATMENTS: u32 = 0x3e;

const T_APIREQ: &str = "hbapi-req";
const T_APIRESP: &str = "hbapi-resp";
const T_APICLISTAT: &str = "hbapi-clstat";
const T_RCSTATUS: &str = "respond-cstatus";
const T_QCSTATUS: &str = "query-cstatus";
const API_OK: &str = "OK";
/// What heartbeat writes into every cluster message itself.
const CONTROL_FIELDS: [&str; 9] = [
    "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl", "auth", "destuuid",
];
const API_MORE: &str = "ok/more";
const API_BADREQ: &str = "badreq";

/// Static facts the sign-on answer and `getparm` give.
#[derive(Debug, Clone)]
pub struct Facts {
    pub deadtime_ms: u64,
    pub keepalive_ms: u64,
    /// syslog facility code, -1 for none.
    pub logfacility: i64,
    /// What the sign-on answer's `hbversion` says.
    pub hbversion: String,
    pub pacemaker: String,
}

#[derive(Debug)]
struct Client {
    conn: Conn,
    /// 0 until signed on.
    pid: i32,
    id: String,
    casual: bool,
    desired: u32,
    signal: i32,
    generation: u64,
    /// Why it is to go (`None`: it stays).
    remove: Option<String>,
    /// Whether its going is worth a log line (a protocol breach, not a sign-off).
    complain: bool,
}

pub struct ApiServer {
    path: PathBuf,
    listener: Option<UnixListener>,
    clients: Vec<Client>,
    auth: ApiAuth,
    params: Parameters,
    facts: Facts,
    generation: u64,
    logs: Vec<(Priority, String)>,
    /// Node names in ha.cf's order of `node` and `ping` lines (3.0.6's node table order).
    order: Vec<String>,
    /// Clients hb runs built in (ipfail): online to `clientstatus` as 3.0.6's would be.
    builtin: Vec<String>,
}

impl ApiServer {
    pub fn new(path: PathBuf, auth: ApiAuth, params: Parameters, facts: Facts) -> ApiServer {
        ApiServer {
            path,
            listener: None,
            clients: Vec::new(),
            auth,
            params,
            facts,
            generation: 0,
            logs: Vec::new(),
            order: Vec::new(),
            builtin: Vec::new(),
        }
    }

    /// A client hb runs built in, which `clientstatus` reports online.
    pub fn add_builtin_client(&mut self, id: &str) {
        self.builtin.push(id.to_string());
    }

    /// The order `nodelist` answers in: 3.0.6 keeps ha.cf's order of `node`, `ping` and
    /// `ping_group` lines.
    pub fn set_node_order(&mut self, hacf_text: &str) {
        self.order.clear();
        for line in hacf_text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("node") | Some("ping") => self.order.extend(words.map(str::to_string)),
                Some("ping_group") => self.order.extend(words.next().map(str::to_string)),
                _ => {}
            }
        }
    }

    fn nodes(&self, cluster: &dyn Cluster) -> Vec<NodeView> {
        let mut v = cluster.nodes();
        let rank = |n: &NodeView| {
            self.order
                .iter()
                .position(|o| o.eq_ignore_ascii_case(&n.name))
                .unwrap_or(usize::MAX)
        };
        v.sort_by_key(rank);
        v
    }

    /// Opens the registration socket (3.0.6 does it at comm-up: before, clients are told
    /// heartbeat is not running). Mode 0777 as cluster-glue's default; the directory
    /// (`/var/run/heartbeat`, 0750 hacluster:haclient) guards it.
    pub fn open(&mut self) -> std::io::Result<()> {
        if self.listener.is_some() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(&self.path);
        let l = UnixListener::bind(&self.path)?;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o777))?;
        l.set_nonblocking(true)?;
        self.listener = Some(l);
        Ok(())
    }

    pub fn close(&mut self) {
        if self.listener.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
        self.clients.clear();
    }

    /// Log lines to write (drained).
    pub fn take_logs(&mut self) -> Vec<(Priority, String)> {
        std::mem::take(&mut self.logs)
    }

    /// Whether a signed-on client has this id (`clientstatus`, `query-cstatus`).
    pub fn has_client(&self, id: &str) -> bool {
        self.builtin.iter().any(|b| b == id)
            || self
                .clients
                .iter()
                .any(|c| c.pid != 0 && c.remove.is_none() && c.id == id)
    }

    /// Whether the registration socket is open.
    pub fn is_open(&self) -> bool {
        self.listener.is_some()
    }

    /// The registration socket, if open.
    pub fn listener_fd(&self) -> Option<BorrowedFd<'_>> {
        self.listener.as_ref().map(|l| l.as_fd())
    }

    /// The descriptors to poll: the listener (if open), then each client. An iterator: the
    /// loop builds its poll set every round and keeps it allocation-free.
    pub fn poll_fds(&self) -> impl Iterator<Item = (BorrowedFd<'_>, PollFlags)> + '_ {
        let listener = self.listener.iter().map(|l| (l.as_fd(), PollFlags::POLLIN));
        let clients = self.clients.iter().map(|c| {
            let mut f = PollFlags::POLLIN;
            if c.conn.wants_write() {
                f |= PollFlags::POLLOUT;
            }
            (c.conn.stream.as_fd(), f)
        });
        listener.chain(clients)
    }

    /// Whether a client has whole requests buffered that the budget left for the next round.
    pub fn has_backlog(&self) -> bool {
        self.clients.iter().any(|c| c.conn.has_buffered())
    }

    /// Serves what `poll_fds` reported ready (`ready` in the same order).
    pub fn handle_ready(&mut self, ready: &[PollFlags], cluster: &mut dyn Cluster) {
        let mut k = 0;
        let mut accept = false;
        if self.listener.is_some() {
            accept = ready.first().is_some_and(|f| !f.is_empty());
            k = 1;
        }
        let n = self.clients.len();
        for i in 0..n {
            let f = ready.get(k + i).copied().unwrap_or(PollFlags::empty());
            let buffered = self.clients[i].conn.has_buffered();
            if f.is_empty() && !buffered {
                continue;
            }
            if f.contains(PollFlags::POLLOUT) {
                if let Err(e) = self.clients[i].conn.flush() {
                    self.drop_client(i, &e);
                    continue;
                }
            }
            if f.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) || buffered
            {
                let mut bodies = Vec::new();
                let r = self.clients[i].conn.read(&mut bodies, MSGS_PER_ROUND);
                for b in bodies {
                    if self.clients[i].remove.is_some() {
                        break;
                    }
                    self.handle_body(i, &b, cluster);
                }
                if let Err(e) = r {
                    if self.clients[i].remove.is_none() {
                        self.drop_client(i, &e);
                    }
                }
            }
        }
        self.reap(cluster);
        if accept {
            self.accept();
        }
        self.flush_all(cluster);
    }

    /// Hands a message to the clients that want it (`api_heartbeat_monitor`): one addressed
    /// with `to_id` goes to that client only.
    pub fn deliver(&mut self, msg: &Msg, treatment: u32, cluster: &mut dyn Cluster) {
        if self.clients.is_empty() {
            return;
        }
        let Some(body) = msg.encode() else {
            return;
        };
        let to = msg.get("to_id").map(str::to_string);
        for i in 0..self.clients.len() {
            let c = &self.clients[i];
            if c.pid == 0 || c.remove.is_some() {
                continue;
            }
            if to.as_deref().is_some_and(|t| t != c.id) {
                continue;
            }
            if c.desired & treatment != 0 {
                self.send(i, &body);
            }
            if to.is_some() {
                break;
            }
        }
        self.reap(cluster);
    }

    /// A peer asks whether one of our clients is there (`HBDoMsg_T_QCSTATUS`).
    pub fn answer_query(&mut self, from: &str, msg: &Msg, cluster: &mut dyn Cluster) {
        let (Some(name), Some(asker)) = (msg.get("cn"), msg.get("from_id")) else {
            self.log(Priority::Error, "HBDoMsg_T_QCSTATUS ha_msg_value failed");
            return;
        };
        let online = if self.has_client(name) {
            "online"
        } else {
            "offline"
        };
        let reply = Msg::of(&[
            ("t", T_RCSTATUS),
            ("dest", from),
            ("result", API_OK),
            ("cn", name),
            ("to_id", asker),
            ("cs", online),
        ]);
        if let Err(e) = cluster.send(&reply) {
            self.log(
                Priority::Error,
                &format!("client status answer not sent: {e}"),
            );
        }
    }

    /// Whether this message type is a peer's client-status query for us.
    pub fn is_query(t: &str) -> bool {
        t == T_QCSTATUS
    }

    // ---- clients ----

    fn accept(&mut self) {
        for _ in 0..ACCEPTS_PER_ROUND {
            let Some(l) = &self.listener else { return };
            match l.accept() {
                Ok((s, _)) => {
                    if self.clients.len() >= MAX_CLIENTS {
                        self.log(
                            Priority::Warn,
                            &format!("API: {MAX_CLIENTS} clients already: connection refused"),
                        );
                        continue;
                    }
                    match Conn::new(s) {
                        Ok(conn) => self.clients.push(Client {
                            conn,
                            pid: 0,
                            id: String::new(),
                            casual: true,
                            desired: KEEPIT,
                            signal: 0,
                            generation: 0,
                            remove: None,
                            complain: false,
                        }),
                        Err(e) => self.log(Priority::Error, &format!("API: {e}")),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.log(Priority::Error, &format!("API: accept: {e}"));
                    return;
                }
            }
        }
    }

    fn drop_client(&mut self, i: usize, why: &Broken) {
        let c = &mut self.clients[i];
        c.complain = !matches!(why, Broken::Eof { mid_message: false });
        c.remove = Some(why.to_string());
    }

    fn send(&mut self, i: usize, body: &[u8]) {
        let c = &mut self.clients[i];
        if let Err(e) = c.conn.queue(body) {
            self.drop_client(i, &e);
            return;
        }
        if c.signal > 0 {
            if let Ok(sig) = Signal::try_from(c.signal) {
                let _ = kill(Pid::from_raw(c.pid), sig);
            }
        }
    }

    fn send_msg(&mut self, i: usize, m: &Msg) {
        if let Some(b) = m.encode() {
            self.send(i, &b);
        }
    }

    fn flush_all(&mut self, cluster: &mut dyn Cluster) {
        for i in 0..self.clients.len() {
            if self.clients[i].conn.wants_write() {
                if let Err(e) = self.clients[i].conn.flush() {
                    self.drop_client(i, &e);
                }
            }
        }
        self.reap(cluster);
    }

    /// Removes the clients marked to go; a named client's leaving is told to the cluster.
    fn reap(&mut self, cluster: &mut dyn Cluster) {
        let mut i = 0;
        while i < self.clients.len() {
            if self.clients[i].remove.is_none() {
                i += 1;
                continue;
            }
            let c = self.clients.remove(i);
            let reason = c.remove.clone().unwrap_or_default();
            if c.complain {
                let who = if c.pid == 0 {
                    "an unsigned client".to_string()
                } else if c.casual {
                    format!("casual client pid {}", c.pid)
                } else {
                    format!("client {} pid {}", c.id, c.pid)
                };
                self.log(Priority::Warn, &format!("API: dropped {who}: {reason}"));
            }
            if c.pid != 0 && !c.casual {
                let m = self.client_status(&c.id, c.generation, "leave", &reason);
                if let Err(e) = cluster.send(&m) {
                    self.log(
                        Priority::Error,
                        &format!("api_send_client_status: cannot send message to cluster ({e})"),
                    );
                }
            }
        }
    }

    fn client_status(&self, id: &str, generation: u64, status: &str, reason: &str) -> Msg {
        let g = generation.to_string();
        let mut m = Msg::of(&[
            ("t", T_APICLISTAT),
            ("st", status),
            ("from_id", id),
            ("to_id", id),
        ]);
        if !reason.is_empty() {
            m.add("info", reason);
        }
        m.add("client_gen", &g);
        m
    }

    fn log(&mut self, p: Priority, text: &str) {
        self.logs.push((p, text.to_string()));
    }

    fn handle_body(&mut self, i: usize, body: &[u8], cluster: &mut dyn Cluster) {
        let msg = match Msg::decode(body) {
            Ok(m) => m,
            Err(e) => {
                self.clients[i].complain = true;
                self.clients[i].remove = Some(format!("not an ha_msg ({})", e.0));
                return;
            }
        };
        if self.clients[i].pid == 0 {
            self.signon(i, &msg, cluster);
        } else {
            self.request(i, msg, cluster);
        }
    }

    // ---- sign-on (api_process_registration_msg, api_add_client) ----

    fn signon(&mut self, i: usize, msg: &Msg, cluster: &mut dyn Cluster) {
        self.generation += 1;
        let generation = self.generation - 1;
        if msg.get("t") != Some(T_APIREQ) || msg.get("reqtype") != Some("signon") {
            self.log(Priority::Error, "api_process_registration_msg: bad message");
            self.clients[i].complain = false;
            self.clients[i].remove = Some("bad registration message".into());
            return;
        }
        let fromid = msg.get("from_id");
        let cpid = msg.get("pid");
        if fromid.is_none() && cpid.is_none() {
            self.log(
                Priority::Error,
                "api_process_registration_msg: no fromid in msg",
            );
            self.clients[i].remove = Some("no fromid".into());
            return;
        }
        let mut resp = Msg::of(&[("t", T_APIRESP), ("reqtype", "signon")]);
        let failure = self.add_client(i, msg, generation);
        let id = self.clients[i].id.clone();
        match &failure {
            Some(reason) => {
                self.log(
                    Priority::Error,
                    &format!("api_process_registration_msg: cannot add client({id})"),
                );
                resp.add("info", reason);
                resp.set("result", API_BADREQ);
            }
            None => resp.set("result", API_OK),
        }
        resp.add("deadtime", &format!("{:x}", self.facts.deadtime_ms));
        resp.add("keepalive", &format!("{:x}", self.facts.keepalive_ms));
        resp.set("node", &cluster.local());
        resp.set("hbversion", &self.facts.hbversion.clone());
        resp.set("pacemaker", &self.facts.pacemaker.clone());
        resp.add("logfacility", &self.facts.logfacility.to_string());
        self.send_msg(i, &resp);
        match failure {
            // 3.0.6 keeps a refused client's channel until it goes; we end it once the
            // answer is out (the library gives up on a refusal anyway).
            Some(reason) => {
                let c = &mut self.clients[i];
                let _ = c.conn.flush();
                c.pid = 0;
                c.remove = Some(reason);
            }
            None => {
                let c = &self.clients[i];
                if !c.casual {
                    let m = self.client_status(&c.id, c.generation, "join", "signon");
                    if let Err(e) = cluster.send(&m) {
                        self.log(
                            Priority::Error,
                            &format!(
                                "api_send_client_status: cannot send message to cluster ({e})"
                            ),
                        );
                    }
                }
            }
        }
    }

    /// Checks and records the client; `Some(reason)` on refusal (3.0.6's `removereason`).
    fn add_client(&mut self, i: usize, msg: &Msg, generation: u64) -> Option<String> {
        let pid: i32 = msg
            .get("pid")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        let alive =
            pid > 0 && kill(Pid::from_raw(pid), None::<Signal>) != Err(nix::errno::Errno::ESRCH);
        if !alive {
            self.log(Priority::Warn, &format!("api_add_client: bad pid [{pid}]"));
            return Some("bad pid".into());
        }
        let fromid = msg.get("from_id");
        if let Some(f) = fromid {
            if self.has_client(f) {
                self.log(
                    Priority::Warn,
                    &format!(
                        "duplicate client add request [{f}] [{}]",
                        msg.get("pid").unwrap_or("(nullcpid)")
                    ),
                );
                return Some("duplicate add request".into());
            }
        }
        let (id, casual) = match fromid {
            // 3.0.6 keeps 31 bytes of the id.
            Some(f) => {
                let id: String = f.chars().take(31).collect();
                let casual = id.trim().parse::<i32>().ok() == Some(pid);
                (id, casual)
            }
            None => (pid.to_string(), true),
        };
        {
            let c = &mut self.clients[i];
            c.id = id.clone();
            c.casual = casual;
        }
        let ids = (
            msg.get("uid").and_then(|u| u.trim().parse::<i64>().ok()),
            msg.get("gid").and_then(|g| g.trim().parse::<i64>().ok()),
        );
        let (Some(uid), Some(gid)) = ids else {
            self.log(
                Priority::Error,
                &format!(
                    "Client user/group id is incorrect [{}] => -1 [{}] => -1",
                    msg.get("uid").unwrap_or("<null>"),
                    msg.get("gid").unwrap_or("<null>")
                ),
            );
            return Some("invalid id info".into());
        };
        // What the kernel says of the other end of the socket.
        let cred = getsockopt(&self.clients[i].conn.stream, PeerCredentials);
        let Ok(cred) = cred else {
            return Some("incorrect/false credentials".into());
        };
        if i64::from(cred.uid()) != uid || i64::from(cred.gid()) != gid {
            return Some("incorrect/false credentials".into());
        }
        let verdict = self.auth.check(&id, casual, cred.uid(), cred.gid());
        let verdict = verdict.and_then(|()| {
            if cred.pid() > 0 && cred.pid() != pid {
                self.log(
                    Priority::Info,
                    &format!("PID mismatch: {pid} vs farside_pid: {}", cred.pid()),
                );
                Err(Refusal::NotAuthorized)
            } else {
                Ok(())
            }
        });
        if let Err(refusal) = verdict {
            let reason = if cred.pid() > 0 && cred.pid() != pid {
                "pid mismatch"
            } else {
                refusal.reason()
            };
            if refusal == Refusal::AnonMissing {
                self.log(Priority::Error, "NO auth found for anonymous");
            }
            self.log(
                Priority::Warn,
                &format!("Client [{id}] pid {pid} failed authorization [{reason}]"),
            );
            return Some(reason.into());
        }
        let c = &mut self.clients[i];
        c.pid = pid;
        c.generation = generation;
        None
    }

    // ---- requests (api_process_request) ----

    fn request(&mut self, i: usize, mut msg: Msg, cluster: &mut dyn Cluster) {
        let Some(t) = msg.get("t").map(str::to_string) else {
            self.log(Priority::Error, "api_process_request: bad message type");
            return;
        };
        if t != T_APIREQ {
            if self.clients[i].casual {
                self.log(
                    Priority::Info,
                    "api_process_request: general message from casual client!",
                );
                self.clients[i].remove = Some("badclient".into());
                return;
            }
            if t == "ask_resources" && msg.get("info") == Some("me") {
                let set = msg.get("rsc_hold").unwrap_or("all").to_string();
                let id = self.clients[i].id.clone();
                self.log(
                    Priority::Info,
                    &format!("API client {id} asks to give up {set} resources"),
                );
                if let Err(e) = cluster.standby(&set) {
                    self.log(Priority::Warn, &format!("standby for {id}: {e}"));
                }
                return;
            }
            // A message for the cluster: it leaves under the client's own id, to the
            // clients of the same name (3.0.6's rule, for safety).
            let c = &self.clients[i];
            let (id, g) = (c.id.clone(), c.generation.to_string());
            // The daemon's own fields are the engine's to write (ipfail puts a `src` in).
            for f in CONTROL_FIELDS {
                msg.remove(f);
            }
            msg.set("from_id", &id);
            msg.set("to_id", &id);
            msg.set("client_gen", &g);
            if let Err(e) = cluster.send(&msg) {
                self.log(
                    Priority::Error,
                    &format!("api_process_request: cannot forward message to cluster ({e})"),
                );
            }
            return;
        }
        let (fromid, pid) = (msg.get("from_id"), msg.get("pid"));
        let Some(reqtype) = msg.get("reqtype").map(str::to_string) else {
            self.log(
                Priority::Error,
                "api_process_request: no fromid/pid/reqtype in message.",
            );
            return;
        };
        if fromid.is_none() && pid.is_none() {
            self.log(
                Priority::Error,
                "api_process_request: no fromid/pid/reqtype in message.",
            );
            return;
        }
        let c = &self.clients[i];
        let matches = pid.and_then(|p| p.trim().parse::<i32>().ok()) == Some(c.pid)
            || fromid == Some(c.id.as_str());
        if !matches {
            self.log(Priority::Error, "Client mismatch! (impersonation?)");
            return;
        }
        let mut resp = Msg::of(&[("t", T_APIRESP), ("reqtype", &reqtype)]);
        match self.handle_request(i, &reqtype, &msg, &mut resp, cluster) {
            Answer::Ok => {
                resp.set("result", API_OK);
                self.send_msg(i, &resp);
            }
            Answer::Sent => {}
            Answer::Bad(reason) => {
                if reason == Some("unknown") {
                    self.log(Priority::Error, "Unknown API request");
                }
                self.log(
                    Priority::Error,
                    &format!("api_process_request: bad request [{reqtype}]"),
                );
                resp.add("result", API_BADREQ);
                if let Some(r) = reason.filter(|r| *r != "unknown") {
                    resp.add("info", r);
                }
                self.send_msg(i, &resp);
            }
        }
    }

    fn handle_request(
        &mut self,
        i: usize,
        reqtype: &str,
        msg: &Msg,
        resp: &mut Msg,
        cluster: &mut dyn Cluster,
    ) -> Answer {
        let node_named = |nodes: &[NodeView]| -> Option<NodeView> {
            let n = msg.get("node")?;
            nodes
                .iter()
                .find(|v| v.name.eq_ignore_ascii_case(n))
                .cloned()
        };
        match reqtype {
            "signoff" => {
                self.clients[i].remove = Some("signoff".into());
                Answer::Sent
            }
            "setfilter" => {
                let mask = msg
                    .get("fmask")
                    .and_then(|m| u32::from_str_radix(m.trim(), 16).ok())
                    .filter(|m| m & ALLTREATMENTS != 0);
                let Some(mask) = mask else {
                    return Answer::Bad(Some("EINVAL"));
                };
                if mask & DEBUGTREATMENTS != 0 && !self.privileged(i) {
                    return Answer::Bad(Some("EPERM"));
                }
                self.clients[i].desired = mask;
                Answer::Ok
            }
            "setsignal" => {
                let sig = msg.get("signal").and_then(|s| s.trim().parse::<i32>().ok());
                match sig {
                    None => Answer::Bad(None),
                    Some(s) if !(0..32).contains(&s) || s == 9 || s == 19 => {
                        Answer::Bad(Some("EINVAL"))
                    }
                    Some(s) => {
                        self.clients[i].signal = s;
                        Answer::Ok
                    }
                }
            }
            "nodelist" => {
                let nodes = self.nodes(cluster);
                let last = nodes.len().saturating_sub(1);
                for (j, n) in nodes.iter().enumerate() {
                    resp.set("node", &n.name);
                    resp.set("nodetype", if n.ping { "ping" } else { "normal" });
                    resp.set("st", &n.status);
                    resp.set("result", if j == last { API_OK } else { API_MORE });
                    self.send_msg(i, resp);
                }
                Answer::Sent
            }
            "nodestatus" => match node_named(&cluster.nodes()) {
                Some(n) => {
                    resp.set("st", &n.status);
                    Answer::Ok
                }
                None => Answer::Bad(Some("EINVAL")),
            },
            "nodeweight" => match node_named(&cluster.nodes()) {
                // hb has no `setweight`: every node weighs 3.0.6's default.
                Some(_) => {
                    resp.add("weight", "100");
                    Answer::Ok
                }
                None => Answer::Bad(Some("EINVAL")),
            },
            "nodesite" => match node_named(&cluster.nodes()) {
                Some(_) => {
                    resp.add("site", "");
                    Answer::Ok
                }
                None => Answer::Bad(Some("EINVAL")),
            },
            "nodetype" => match node_named(&cluster.nodes()) {
                Some(n) => {
                    resp.set("nodetype", if n.ping { "ping" } else { "normal" });
                    Answer::Ok
                }
                None => Answer::Bad(Some("EINVAL")),
            },
            "numnodes" => {
                let n = cluster.nodes().iter().filter(|n| !n.ping).count();
                resp.add("numnodes", &n.to_string());
                Answer::Ok
            }
            "iflist" => {
                let Some(n) = node_named(&cluster.nodes()) else {
                    return Answer::Bad(Some("EINVAL"));
                };
                if n.ping {
                    let st = n.links.first().map_or("dead", |l| l.1.as_str());
                    resp.set("ifname", &n.name);
                    resp.set("st", st);
                    resp.set("result", API_OK);
                    return Answer::Ok;
                }
                let last = n.links.len().saturating_sub(1);
                for (j, (name, st)) in n.links.iter().enumerate() {
                    resp.set("ifname", name);
                    resp.set("st", st);
                    resp.set("result", if j == last { API_OK } else { API_MORE });
                    self.send_msg(i, resp);
                }
                Answer::Sent
            }
            "ifstatus" => {
                let n = node_named(&cluster.nodes());
                let link = n.and_then(|n| {
                    let want = msg.get("ifname")?;
                    if n.ping {
                        return (want == n.name)
                            .then(|| n.links.first().map_or("dead".into(), |l| l.1.clone()));
                    }
                    n.links.iter().find(|l| l.0 == want).map(|l| l.1.clone())
                });
                match link {
                    Some(st) => {
                        resp.set("st", &st);
                        Answer::Ok
                    }
                    None => Answer::Bad(Some("EINVAL")),
                }
            }
            "clientstatus" => self.clientstatus(i, msg, resp, cluster),
            "getparm" => {
                let Some(p) = msg.get("pname") else {
                    return Answer::Bad(Some("EINVAL"));
                };
                if let Some(v) = self.params.get(p) {
                    resp.set("pvalue", v);
                }
                Answer::Ok
            }
            "getrsc" => {
                if self.facts.pacemaker != "false" && self.facts.pacemaker != "off" {
                    return Answer::Bad(Some(
                        "Resource is managed by crm. Use crm tool to query resource",
                    ));
                }
                resp.set("rsc_hold", &cluster.resources());
                Answer::Ok
            }
            "set_sendqlen" => {
                if let Some(l) = msg.get("sendqlen") {
                    let id = self.clients[i].id.clone();
                    self.log(
                        Priority::Info,
                        &format!(
                            "the send queue length from heartbeat to client {id} is set to {l}"
                        ),
                    );
                }
                Answer::Sent
            }
            "getnodename" => {
                let Some(uuid) = msg.get_bytes("queryuuid").map(<[u8]>::to_vec) else {
                    return Answer::Bad(Some("no query node name found"));
                };
                let found = cluster
                    .nodes()
                    .into_iter()
                    .find(|n| n.uuid.is_some_and(|u| u[..] == uuid[..]));
                match found {
                    Some(n) => resp.set("queryname", &n.name),
                    None => self.log(
                        Priority::Error,
                        "api_get_nodename: nodename not found in map table",
                    ),
                }
                Answer::Ok
            }
            "getuuid" => {
                let Some(name) = msg.get("queryname") else {
                    return Answer::Bad(Some("no query node name found"));
                };
                let uuid = cluster
                    .nodes()
                    .into_iter()
                    .find(|n| n.name.eq_ignore_ascii_case(name))
                    .and_then(|n| n.uuid);
                if let Some(u) = uuid {
                    resp.set_bytes("queryuuid", &u);
                }
                Answer::Ok
            }
            _ => Answer::Bad(Some("unknown")),
        }
    }

    /// `api_clientstatus`: ours at once; a live peer's by asking it (its answer comes back
    /// as a cluster message addressed to the asking client).
    fn clientstatus(
        &mut self,
        i: usize,
        msg: &Msg,
        resp: &mut Msg,
        cluster: &mut dyn Cluster,
    ) -> Answer {
        let (Some(node), Some(name), Some(asker)) =
            (msg.get("node"), msg.get("cn"), msg.get("from_id"))
        else {
            return Answer::Bad(Some("EINVAL"));
        };
        let nodes = cluster.nodes();
        let Some(n) = nodes.iter().find(|v| v.name.eq_ignore_ascii_case(node)) else {
            return Answer::Bad(Some("EINVAL"));
        };
        resp.add("subt", T_RCSTATUS);
        if n.name == cluster.local() {
            let st = if self.has_client(name) {
                "online"
            } else {
                "offline"
            };
            resp.add("cs", st);
            return Answer::Ok;
        }
        if n.status != "active" {
            resp.add("cs", "offline");
            return Answer::Ok;
        }
        let q = Msg::of(&[
            ("t", T_QCSTATUS),
            ("dest", &n.name),
            ("cn", name),
            ("from_id", asker),
        ]);
        let _ = i;
        match cluster.send(&q) {
            Ok(()) => Answer::Sent,
            Err(e) => {
                self.log(
                    Priority::Error,
                    &format!("api_clientstatus: send_cluster_msg failed ({e})"),
                );
                Answer::Bad(Some("ECOMM"))
            }
        }
    }

    /// Root or our own uid (the debug treatments).
    fn privileged(&self, i: usize) -> bool {
        let cred = getsockopt(&self.clients[i].conn.stream, PeerCredentials);
        cred.is_ok_and(|c| c.uid() == 0 || c.uid() == nix::unistd::getuid().as_raw())
    }
}

enum Answer {
    /// Answer with `result=OK`.
    Ok,
    /// Answered already (or no answer is due).
    Sent,
    /// `result=badreq`, with `info` when there is a reason.
    Bad(Option<&'static str>),
}
