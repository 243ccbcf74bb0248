//! A cluster on one machine, for the namespace tests and `hbctl demo`: network namespaces
//! joined by veth pairs, and `heartbeat` daemons each in its own network, UTS (`uname -n`),
//! mount (its own `/etc/ha.d`, `/var/lib/heartbeat`, `/var/log`, `/run`) and PID namespace
//! (a `reboot` from a daemon ends only its namespace).
//!
//! `/etc` and `/var` are overlays whose upper layers are in the lab's directory, so a node's
//! files are ordinary files the test reads and writes (`node.etc()`, `node.var()`), and the
//! machine's own `/etc` and `/var` are never touched. `/etc/ha.d` and `/var/lib/heartbeat`
//! are the node's own alone: a heartbeat package installed on the machine (its resource
//! scripts, its generation file) must not leak into a node. Everything is undone on drop: the
//! processes started here are killed by PID (and whatever else lives in the lab's
//! namespaces, which only the lab created), the namespaces deleted. Only root can do this.
//!
//! Use only documentation addresses (198.51.100.0/24, 203.0.113.0/24) inside.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest one `ip` (or other helper) command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Prefix of every namespace a lab creates: `hblab-<pid>-…`.
pub const PREFIX: &str = "hblab-";

/// Why a lab step failed.
pub type LabResult<T> = Result<T, String>;

/// Runs a command with a bounded wait ([`COMMAND_TIMEOUT`]); its output, or why it failed.
pub fn run(cmd: &mut Command) -> LabResult<Output> {
    run_with_timeout(cmd, COMMAND_TIMEOUT)
}

/// Runs a command, killing it after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> LabResult<Output> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{shown}: cannot run: {e}"))?;
    let deadline = Instant::now() + timeout;
    // Read as we go: a chatty command must not block on a full pipe.
    let mut out_pipe = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = &mut out_pipe {
            let _ = s.read_to_end(&mut out);
        }
        out
    });
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let mut out = Vec::new();
            let mut err = Vec::new();
            if let Ok(o) = reader.join() {
                out = o;
            }
            if let Some(mut s) = child.stderr.take() {
                let _ = s.read_to_end(&mut err);
            }
            return Ok(Output {
                status,
                stdout: out,
                stderr: err,
            });
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{shown}: still running after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs a command that must succeed.
pub fn check(cmd: &mut Command) -> LabResult<Output> {
    let shown = format!("{cmd:?}");
    let out = run(cmd)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{shown}: {} ({})",
            String::from_utf8_lossy(&out.stderr).trim(),
            out.status
        ))
    }
}

/// `ip ARGS…`, which must succeed.
pub fn ip(args: &[&str]) -> LabResult<()> {
    check(Command::new("ip").args(args)).map(|_| ())
}

/// Root and iproute2 are needed; say so plainly.
pub fn prerequisites() -> LabResult<()> {
    if !nix::unistd::geteuid().is_root() {
        return Err("this needs root: it creates network namespaces, veth pairs and mounts".into());
    }
    for tool in ["ip", "unshare", "nsenter"] {
        let ok = run(Command::new(tool).arg("--version")).is_ok_and(|o| o.status.success())
            || run(Command::new(tool).arg("-V")).is_ok_and(|o| o.status.success());
        if !ok {
            return Err(format!(
                "`{tool}` is missing (apt-get install iproute2 util-linux)"
            ));
        }
    }
    Ok(())
}

/// Deletes namespaces of labs whose process is gone (a run killed before its cleanup).
pub fn remove_stale() {
    let Ok(dir) = fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            kill_all_in(&name);
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

/// SIGKILLs every process in namespace `ns` (all of them the lab's), rescanning until none
/// is left (bounded); when the first ones were killed.
fn kill_all_in(ns: &str) -> Instant {
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let mut first = None;
    while Instant::now() < deadline {
        let Ok(out) = run(Command::new("ip").args(["netns", "pids", ns])) else {
            break;
        };
        let pids: Vec<i32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        // Zombies stay listed until reaped; they are dead already.
        let live: Vec<i32> = pids.into_iter().filter(|&p| !is_zombie(p)).collect();
        if live.is_empty() {
            break;
        }
        first.get_or_insert_with(Instant::now);
        for p in live {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    first.unwrap_or_else(Instant::now)
}

/// Whether `pid` is gone or a zombie.
pub fn is_zombie(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|st| st == "Z" || st == "X"),
        Err(_) => true,
    }
}

/// A set of namespaces and the daemons in them.
pub struct Lab {
    tag: String,
    dir: tempfile::TempDir,
    namespaces: Vec<String>,
    children: Vec<Child>,
    /// The addresses [`Lab::addr`] configured (namespace, interface, cidr): what a node
    /// comes back with after [`Lab::power_on`].
    addrs: std::sync::Mutex<Vec<(String, String, String)>>,
}

impl Lab {
    /// A new, empty lab; `tag` names it (`hblab-<pid>-<tag>-<ns>`).
    pub fn new(tag: &str) -> LabResult<Lab> {
        prerequisites()?;
        remove_stale();
        let dir = tempfile::Builder::new()
            .prefix("hblab-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        Ok(Lab {
            tag: format!("{PREFIX}{}-{tag}", std::process::id()),
            dir,
            namespaces: Vec::new(),
            children: Vec::new(),
            addrs: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The lab's directory on the host.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The full name of the lab's namespace `short`.
    pub fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.tag)
    }

    /// Creates namespace `short` with its loopback up.
    pub fn add_ns(&mut self, short: &str) -> LabResult<String> {
        let ns = self.ns(short);
        ip(&["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A veth pair `a_if` in `a` ↔ `b_if` in `b`, both up.
    pub fn veth(&self, a: &str, a_if: &str, b: &str, b_if: &str) -> LabResult<()> {
        let (na, nb) = (self.ns(a), self.ns(b));
        ip(&[
            "-n", &na, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &nb,
        ])?;
        ip(&["-n", &na, "link", "set", a_if, "up"])?;
        ip(&["-n", &nb, "link", "set", b_if, "up"])
    }

    /// A bridge `br` in namespace `ns`, up.
    pub fn bridge(&self, ns: &str, br: &str) -> LabResult<()> {
        let n = self.ns(ns);
        ip(&["-n", &n, "link", "add", br, "type", "bridge"])?;
        ip(&["-n", &n, "link", "set", br, "up"])
    }

    /// Puts `iface` of namespace `ns` on bridge `br` (same namespace).
    pub fn enslave(&self, ns: &str, iface: &str, br: &str) -> LabResult<()> {
        ip(&["-n", &self.ns(ns), "link", "set", iface, "master", br])
    }

    /// Adds `cidr` to `iface` with the broadcast address set (`brd +`: a bcast medium needs it).
    pub fn addr(&self, ns: &str, iface: &str, cidr: &str) -> LabResult<()> {
        if let Ok(mut a) = self.addrs.lock() {
            a.push((ns.to_string(), iface.to_string(), cidr.to_string()));
        }
        ip(&[
            "-n",
            &self.ns(ns),
            "addr",
            "add",
            cidr,
            "brd",
            "+",
            "dev",
            iface,
        ])
    }

    /// Sets a link up or down.
    pub fn link(&self, ns: &str, iface: &str, up: bool) -> LabResult<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns(ns), "link", "set", iface, state])
    }

    /// Pulls the plug on namespace `ns`: every process in it is killed at once (SIGKILL, as
    /// the lab started them all) and its interfaces go down, as when a machine loses power.
    /// Returns when the processes were killed (the moment of the failure).
    pub fn power_off(&self, ns: &str, ifaces: &[&str]) -> LabResult<Instant> {
        let n = self.ns(ns);
        let at = kill_all_in(&n);
        for i in ifaces {
            ip(&["-n", &n, "link", "set", i, "down"])?;
        }
        Ok(at)
    }

    /// Powers namespace `ns` back on after [`Lab::power_off`]: its interfaces come up with
    /// the addresses the lab gave them and nothing else (a service address held before the
    /// failure is gone, as after a real power cycle).
    pub fn power_on(&self, ns: &str, ifaces: &[&str]) -> LabResult<()> {
        let n = self.ns(ns);
        let addrs = self.addrs.lock().map(|a| a.clone()).unwrap_or_default();
        for i in ifaces {
            ip(&["-n", &n, "addr", "flush", "dev", i])?;
            for (_, _, cidr) in addrs.iter().filter(|(a, b, _)| a == ns && b == i) {
                ip(&["-n", &n, "addr", "add", cidr, "brd", "+", "dev", i])?;
            }
            ip(&["-n", &n, "link", "set", i, "up"])?;
        }
        Ok(())
    }

    /// Runs `f` on a thread that has entered namespace `ns`'s network (a socket made there
    /// stays in that namespace).
    pub fn within<T: Send>(&self, ns: &str, f: impl FnOnce() -> T + Send) -> LabResult<T> {
        let path = format!("/run/netns/{}", self.ns(ns));
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
                nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("setns {path}: {e}"))?;
                Ok(f())
            })
            .join()
            .map_err(|_| "the namespace thread panicked".to_string())?
        })
    }

    /// Runs a command inside namespace `ns` (network only).
    pub fn exec(&self, ns: &str, argv: &[&str]) -> LabResult<Output> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns(ns)])
            .args(argv))
    }

    /// Prepares a node's private `/etc` and `/var` (overlay upper layers) in the lab
    /// directory; write its files under `node.etc()` before [`Lab::start`].
    pub fn node(&self, name: &str, ns: &str) -> LabResult<Node> {
        let root = self.dir.path().join(name);
        for d in [
            "etc/ha.d",
            "etc-work",
            "var/lib/heartbeat",
            "var/log",
            "var-work",
        ] {
            fs::create_dir_all(root.join(d)).map_err(|e| format!("{}: {e}", root.display()))?;
        }
        Ok(Node {
            name: name.to_string(),
            ns: self.ns(ns),
            root,
            pid: None,
            init: None,
        })
    }

    /// Starts `node`'s daemon (`heartbeat ARGS…`, foreground) and waits until it has written
    /// its pid file or died. Returns the daemon's pid as the host sees it.
    pub fn start(&mut self, node: &mut Node, heartbeat: &Path, args: &[&str]) -> LabResult<i32> {
        self.start_with_env(node, heartbeat, args, &[])
    }

    /// [`Lab::start`] with extra environment variables for the daemon.
    pub fn start_with_env(
        &mut self,
        node: &mut Node,
        heartbeat: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> LabResult<i32> {
        let mut script = format!(
            "{boot}{wd}{hb} -f",
            boot = boot_script(node),
            // systemd names the process its watchdog is for; emulate it for a daemon started
            // with WATCHDOG_USEC (its PID inside the namespace is known only once forked).
            wd = if env.iter().any(|(k, _)| *k == "WATCHDOG_USEC") {
                "sh -c 'WATCHDOG_PID=$$ exec \"$0\" \"$@\"' "
            } else {
                ""
            },
            hb = heartbeat.display()
        );
        for a in args {
            script.push(' ');
            script.push_str(&shell_quote(a));
        }
        // Not `exec`: the shell stays PID 1 of the namespace, as init on a real machine: it
        // reaps orphans, outlives the daemon (whose stop must not end the machine and every
        // process in it), and the daemon gets signals the ordinary way (PID 1 ignores those
        // it has no handler for). The daemon is the shell's first child: PID 2 inside.
        script.push_str(" & set +e; while :; do wait; sleep 0.2; done");
        let top = self.spawn_node(node, &script, env)?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            if let Some(pid) = find_descendant(top, "heartbeat") {
                if pid_file_written(pid) {
                    node.pid = Some(pid);
                    // The daemon is the first child of the namespace's init.
                    node.init = parent_of(pid);
                    return Ok(pid);
                }
            }
            let child = self.children.last_mut().expect("just pushed");
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!(
                    "{}'s daemon exited ({st}): {}",
                    node.name,
                    fs::read_to_string(node.root.join("stderr")).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{}'s daemon did not start within {COMMAND_TIMEOUT:?}",
                    node.name
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Lab {
    /// Starts a foreign daemon on `node` (one that daemonizes itself, as heartbeat 3.0.6
    /// does): `argv` runs inside the node's namespaces, prepared as for [`Lab::start`], after
    /// `prelude` (shell commands, e.g. directories the daemon expects under the private
    /// `/run`). Waits until a process named `comm` below the node's init has the pid written
    /// in `/run/<comm>.pid` (a pid inside the node's PID namespace) and `ready(pid)` holds of
    /// it (bounded: `within`). Returns the daemon's pid as the host sees it.
    pub fn start_foreign(
        &mut self,
        node: &mut Node,
        prelude: &str,
        argv: &[&str],
        comm: &str,
        within: Duration,
        ready: impl Fn(i32) -> bool,
    ) -> LabResult<i32> {
        let mut script = format!("{}{prelude}\n", boot_script(node));
        let cmd: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        script.push_str(&cmd.join(" "));
        // The shell stays PID 1 (init): the daemon's first process forks and exits, and the
        // daemon proper is reparented to it.
        script.push_str(" & set +e; while :; do wait; sleep 0.2; done");
        let top = self.spawn_node(node, &script, &[])?;
        let deadline = Instant::now() + within;
        loop {
            // The namespace's init: the first process below us that is PID 1 inside.
            let init = find_ns_init(top);
            if let Some(init) = init {
                node.init = Some(init);
                let pidfile = format!("/proc/{init}/root/run/{comm}.pid");
                let inner: Option<i32> = fs::read_to_string(&pidfile)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                if let Some(host) = inner.and_then(|inner| find_descendant_nspid(init, comm, inner))
                {
                    if ready(host) {
                        node.pid = Some(host);
                        return Ok(host);
                    }
                }
            }
            let child = self.children.last_mut().expect("just pushed");
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!(
                    "{}'s namespace exited ({st}): {}",
                    node.name,
                    fs::read_to_string(node.root.join("stderr")).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{}'s {comm} did not start within {within:?} (no process named {comm} \
                     with the pid in /run/{comm}.pid, or not ready); stderr: {}",
                    node.name,
                    fs::read_to_string(node.root.join("stderr")).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The innermost pid of `pid` (the last field of the `NSpid` line of its status).
fn ns_pid(pid: i32) -> Option<i32> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|x| x.parse::<i32>().ok())
        })
}

/// The first process below `top` that is PID 1 of its own PID namespace.
fn find_ns_init(top: i32) -> Option<i32> {
    let mut frontier = vec![top];
    for _ in 0..4 {
        let mut next = Vec::new();
        for p in &frontier {
            for c in children_of(*p) {
                if ns_pid(c) == Some(1) {
                    return Some(c);
                }
                next.push(c);
            }
        }
        frontier = next;
    }
    None
}

/// The process below `top` named `comm` whose pid in its innermost PID namespace is `inner`
/// (the `NSpid` line of its status); its pid on the host.
pub fn find_descendant_nspid(top: i32, comm: &str, inner: i32) -> Option<i32> {
    let mut frontier = vec![top];
    for _ in 0..6 {
        let mut next = Vec::new();
        for p in &frontier {
            for c in children_of(*p) {
                let named =
                    fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|s| s.trim() == comm);
                if named && !is_zombie(c) && ns_pid(c) == Some(inner) {
                    return Some(c);
                }
                next.push(c);
            }
        }
        frontier = next;
    }
    None
}

impl Lab {
    /// Runs `script` as PID 1 of new mount, UTS and PID namespaces inside `node`'s network
    /// namespace, its standard error to the node's `stderr` file; the pid of the process we
    /// started (the namespace's init is its child).
    fn spawn_node(&mut self, node: &Node, script: &str, env: &[(&str, &str)]) -> LabResult<i32> {
        let stderr = fs::File::create(node.root.join("stderr"))
            .map_err(|e| format!("{}: {e}", node.root.display()))?;
        let child = Command::new("ip")
            .envs(env.iter().copied())
            .args(["netns", "exec", &node.ns])
            .args([
                "unshare",
                "--mount",
                "--uts",
                "--pid",
                "--fork",
                "--mount-proc",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                script,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", node.name))?;
        let top = child.id() as i32;
        self.children.push(child);
        Ok(top)
    }
}

/// The start of a node's init script: its private `/etc` and `/var` overlays, its own
/// `/etc/ha.d` and `/var/lib/heartbeat`, a fresh `/run`, its host name. A heartbeat log the
/// host has (`/var/log/ha-log` from a daemon run outside a lab, or Debian's heartbeat) is
/// hidden from the node, not appended to: the node's log is its own from the first line (a
/// host log full of another cluster's `is dead` lines failed a whole CI run). The node's own
/// log, in its upper layer, survives its restarts.
fn boot_script(node: &Node) -> String {
    let r = node.root.display().to_string();
    format!(
        "set -e; \
         mount -t overlay overlay -o lowerdir=/etc,upperdir={r}/etc,workdir={r}/etc-work /etc; \
         mount -t overlay overlay -o lowerdir=/var,upperdir={r}/var,workdir={r}/var-work /var; \
         for f in ha-log ha-debug; do [ -e {r}/var/log/$f ] || rm -f /var/log/$f; done; \
         mount --bind {r}/etc/ha.d /etc/ha.d; \
         mount --bind {r}/var/lib/heartbeat /var/lib/heartbeat; \
         mount -t tmpfs tmpfs /run; mkdir -p /run/lock /run/heartbeat; \
         hostname {name}; ",
        name = node.name
    )
}

/// Whether the daemon `pid` has taken its pid file (it is then past start-up).
fn pid_file_written(pid: i32) -> bool {
    // The daemon's /run is private: look through its root.
    fs::read_to_string(format!("/proc/{pid}/root/run/heartbeat.pid"))
        .is_ok_and(|s| !s.trim().is_empty())
        && fs::metadata(format!("/proc/{pid}/root/run/heartbeat/hbctl.sock")).is_ok()
}

/// The first process below `top` (children, grandchildren…) whose command is `comm`.
pub fn find_descendant(top: i32, comm: &str) -> Option<i32> {
    let mut frontier = vec![top];
    for _ in 0..6 {
        let mut next = Vec::new();
        for p in &frontier {
            for c in children_of(*p) {
                if fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|s| s.trim() == comm) {
                    return Some(c);
                }
                next.push(c);
            }
        }
        frontier = next;
    }
    None
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|x| x.parse::<i32>().ok()));
            }
        }
    }
    out
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
        }
        for ns in &self.namespaces {
            kill_all_in(ns);
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
        for ns in &self.namespaces {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("lab cleanup: {e}");
            }
        }
    }
}

/// One cluster node of a lab.
pub struct Node {
    pub name: String,
    /// Its network namespace (full name).
    pub ns: String,
    root: PathBuf,
    /// The daemon's pid on the host, once started.
    pub pid: Option<i32>,
    /// The node's init (PID 1 of its PID namespace), which outlives the daemon.
    init: Option<i32>,
}

impl Node {
    /// The node's `/etc` upper layer: write `ha.d/ha.cf` etc. here.
    pub fn etc(&self) -> PathBuf {
        self.root.join("etc")
    }

    /// The node's `/var` upper layer (`log/ha-log`, `lib/heartbeat/…`).
    pub fn var(&self) -> PathBuf {
        self.root.join("var")
    }

    /// Writes `/etc/ha.d/<name>` with `mode`.
    pub fn write_config(&self, name: &str, text: &str, mode: u32) -> LabResult<()> {
        use std::os::unix::fs::PermissionsExt;
        let p = self.etc().join("ha.d").join(name);
        fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", p.display()))
    }

    /// What the daemon wrote on standard error.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.root.join("stderr")).unwrap_or_default()
    }

    /// The log file `/var/log/ha-log` (the default when ha.cf names none).
    pub fn log(&self) -> String {
        fs::read_to_string(self.var().join("log/ha-log")).unwrap_or_default()
    }

    /// Runs `argv` inside the node's namespaces (network, UTS, mount, PID), as an admin on
    /// that node would.
    pub fn exec(&self, argv: &[&str]) -> LabResult<Output> {
        let pid = self
            .init
            .ok_or_else(|| format!("{} was never started", self.name))?;
        let t = pid.to_string();
        run(Command::new("nsenter")
            .args(["--target", &t, "--net", "--uts", "--mount", "--pid", "--"])
            .args(argv))
    }

    /// Sends `sig` to the daemon.
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> LabResult<()> {
        let pid = self
            .pid
            .ok_or_else(|| format!("{} is not running", self.name))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig)
            .map_err(|e| format!("kill {pid}: {e}"))
    }

    /// Whether the daemon has exited (zombies count as exited).
    pub fn exited(&self) -> bool {
        self.pid.is_none_or(is_zombie)
    }
}
