//! Interoperation with the real heartbeat 3.0.6 (Debian's `heartbeat` package): a mixed
//! cluster (node1 runs 3.0.6, node2 runs hb) over a crossover bcast link and a serial line
//! (classic format), sha1 authentication, a LAN with a client probing the service IP; and the
//! package's own resource script `IPaddr2` (resource-agents' OCF IPaddr2) as a resource of an
//! hb-only cluster. Root and the packages are needed; the tests fail, never skip, without them.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const GROUP1: &str = "node1 198.51.100.80 hbsvc::198.51.100.80\n";
const GROUP2: &str = "node2 198.51.100.80 hbsvc::198.51.100.80\n";

/// The real daemon's path (Debian 12 installs it in /usr/libexec, older ones in /usr/lib).
fn real_heartbeat() -> &'static str {
    const PATHS: [&str; 2] = [
        "/usr/lib/heartbeat/heartbeat",
        "/usr/libexec/heartbeat/heartbeat",
    ];
    let found = PATHS.into_iter().find(|p| Path::new(p).exists());
    let need = [
        "/etc/ha.d/resource.d/IPaddr",
        "/etc/ha.d/resource.d/IPaddr2",
        "/etc/ha.d/shellfuncs",
        "/usr/lib/ocf/resource.d/heartbeat/IPaddr",
        "/usr/lib/ocf/resource.d/heartbeat/IPaddr2",
        "/usr/bin/cl_status",
        "/usr/share/heartbeat/hb_standby",
    ];
    let mut missing: Vec<&str> = need
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    // resource-agents' IPaddr (3.0.6's default address resource) runs ifconfig.
    if !["/usr/sbin/ifconfig", "/sbin/ifconfig"]
        .iter()
        .any(|p| Path::new(p).exists())
    {
        missing.push("ifconfig (net-tools)");
    }
    match found {
        Some(p) if missing.is_empty() => p,
        _ => panic!(
            "heartbeat 3.0.6 is not installed (no {} or missing {missing:?}): install heartbeat \
             resource-agents (apt-get install heartbeat resource-agents net-tools)",
            PATHS.join(" or ")
        ),
    }
}

/// Copies the package's `/etc/ha.d` (resource scripts, shellfuncs, harc, rc.d) into a node's
/// own `/etc/ha.d`, keeping the files the test wrote.
fn install_package_ha_d(dest: &Path) {
    fn copy_missing(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let (src, dst) = (e.path(), to.join(e.file_name()));
            if src.is_dir() {
                copy_missing(&src, &dst);
            } else if !dst.exists() {
                std::fs::copy(&src, &dst)
                    .unwrap_or_else(|err| panic!("{} -> {}: {err}", src.display(), dst.display()));
            }
        }
    }
    copy_missing(Path::new("/etc/ha.d"), dest);
}

/// What 3.0.6 expects under its private /run and /var/lib/heartbeat (the package's
/// tmpfiles.d and directories).
const PRELUDE: &str = "mkdir -p /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd \
     /run/heartbeat/rsctmp /run/resource-agents /run/crm \
     /var/lib/heartbeat/cores/root /var/lib/heartbeat/cores/hacluster \
     /var/lib/heartbeat/cores/nobody; \
     chown -R hacluster:haclient /run/heartbeat /run/crm /var/lib/heartbeat/cores/hacluster; \
     chmod 750 /run/heartbeat; chmod 1777 /run/heartbeat/rsctmp; ";

fn mixed_setup(haresources: &str) -> Setup {
    Setup {
        serial: true,
        lan: true,
        media: ["bcast eth1".into(), "bcast eth1".into()],
        extra: [
            "logfile /var/log/ha-log\nauto_failback on".into(),
            "logfile /var/log/ha-log\nauto_failback on".into(),
        ],
        haresources: haresources.into(),
        scripts: vec![("hbsvc".into(), service_script())],
        timing: (100, 300, 500),
        ..Setup::default()
    }
}

/// Builds the mixed cluster and starts both daemons: 3.0.6 on node1, hb on node2.
fn mixed(tag: &str, haresources: &str) -> Cluster {
    mixed_with(tag, &mixed_setup(haresources))
}

/// The reload tests' mixed cluster: 3.0.6 has no real-time priority here, and a reload is
/// about what survives the re-exec, not about detection time, so a dead time that a loaded
/// machine's scheduling cannot reach (3.0.6's own loop was seen 660 ms late at load 11).
fn mixed_for_reload(tag: &str, haresources: &str) -> Cluster {
    let mut setup = mixed_setup(haresources);
    setup.timing = (200, 800, 1500);
    mixed_with(tag, &setup)
}

fn mixed_with(tag: &str, setup: &Setup) -> Cluster {
    let hb306 = real_heartbeat();
    let mut c = Cluster::build(tag, setup);
    install_package_ha_d(&c.nodes[0].etc().join("ha.d"));
    start_306(&mut c, hb306);
    c.start(1);
    c
}

/// Starts (or starts again) 3.0.6 on node1.
/// Returns once it sends heartbeats (`Local status now set to: 'up'`): under load its start
/// was seen to take 4 s, past hb's initdead, and hb then took node1's group as from a dead
/// node before 3.0.6 was there to keep it.
fn start_306(c: &mut Cluster, hb306: &str) {
    let from = c.nodes[0].log().len();
    let mut n = std::mem::replace(&mut c.nodes[0], c.lab.node("spare", "a").unwrap());
    let r = c.lab.start_foreign(
        &mut n,
        PRELUDE,
        &[hb306],
        "heartbeat",
        Duration::from_secs(20),
        |_| true,
    );
    c.nodes[0] = n;
    r.unwrap_or_else(|e| panic!("3.0.6 on node1: {e}\nlog:\n{}", c.nodes[0].log()));
    let start = Instant::now();
    loop {
        let log = c.nodes[0].log();
        if log
            .get(from..)
            .is_some_and(|l| l.contains("Local status now set to: 'up'"))
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "3.0.6 on node1 sent no heartbeat within 30 s:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `cl_status ARGS…` on the 3.0.6 node: its standard output.
fn cl_status_of(c: &Cluster, args: &[&str]) -> String {
    let mut argv = vec!["cl_status"];
    argv.extend_from_slice(args);
    let out = c.nodes[0].exec(&argv).unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `cl_status nodestatus NODE` on the 3.0.6 node.
fn cl_status(c: &Cluster, node: &str) -> String {
    cl_status_of(c, &["nodestatus", node])
}

/// Both implementations see each other: hb says node1 active with every link up, 3.0.6 logs
/// node2 active and its API says so.
fn see_each_other(c: &Cluster) {
    let v = c.wait_status(
        1,
        "seeing 3.0.6's node1 active on both links",
        Duration::from_secs(20),
        |v| {
            let l = links(v, "node1");
            peer_state(v, "node1") == "active" && l.len() == 2 && l.iter().all(|(_, s)| s == "up")
        },
    );
    eprintln!("hb sees node1: {:?}", links(&v, "node1"));
    c.wait_log(
        0,
        "Status update for node node2: status active",
        Duration::from_secs(20),
    );
    let start = Instant::now();
    loop {
        let s = cl_status(c, "node2");
        if s == "active" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "3.0.6's cl_status nodestatus node2: {s:?}\nlog:\n{}",
            c.nodes[0].log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // 3.0.6 hears hb on both media: the bcast link and the serial line (classic format).
    let start = Instant::now();
    loop {
        let listed = cl_status_of(c, &["listhblinks", "node2"]);
        let names: Vec<&str> = listed.split_whitespace().collect();
        let states: Vec<String> = names
            .iter()
            .map(|l| cl_status_of(c, &["hblinkstatus", "node2", l]))
            .collect();
        if names.len() == 2 && states.iter().all(|s| s == "up") {
            eprintln!("3.0.6 sees node2 on {names:?}: {states:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "3.0.6's links to node2: {names:?} {states:?}\nlog:\n{}",
            c.nodes[0].log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// 3.0.6's and hb's complaints (ERROR/WARN lines), shown with the test's output.
fn show_complaints(c: &Cluster) {
    if std::env::var_os("HB_SHOW_LOGS").is_some() {
        eprintln!("{}", logs(c));
    }
    for (i, who) in [(0, "3.0.6 node1"), (1, "hb node2")] {
        for l in c.nodes[i].log().lines() {
            if l.contains("ERROR") || l.contains("WARN") || l.contains("CRIT") {
                eprintln!("{who}: {l}");
            }
        }
    }
}

fn logs(c: &Cluster) -> String {
    format!(
        "--- node1 (3.0.6) log:\n{}\n--- node2 (hb) log:\n{}",
        c.nodes[0].log(),
        c.nodes[1].log()
    )
}

/// Who has the service address on eth0.
fn holders(c: &Cluster) -> Vec<&'static str> {
    [(0, "node1"), (1, "node2")]
        .into_iter()
        .filter(|(i, _)| eth0_addrs(c, *i).contains(&format!("{VIP}/")))
        .map(|(_, n)| n)
        .collect()
}

/// 3.0.6 (node1, serving, `auto_failback off`) and hb (node2) on one `bcast` medium, a
/// client probing the service. `slow_mach_down`: node1's `ha_clustermsg` writes `mach_down`'s
/// message in two pieces 1.3 s apart, which makes 3.0.6's FIFO reader (it reads under a 1 s
/// alarm) lose it, as a loaded machine does now and then.
fn mixed_heal_cluster(hb306: &str, slow_mach_down: bool) -> (Cluster, Prober) {
    let mut setup = mixed_setup(GROUP1);
    setup.serial = false;
    setup.extra = [
        "logfile /var/log/ha-log\nauto_failback off".into(),
        "logfile /var/log/ha-log\nauto_failback off".into(),
    ];
    let name = if slow_mach_down {
        "stuck-306"
    } else {
        "heal-306"
    };
    let mut c = Cluster::build(name, &setup);
    let ha_d = c.nodes[0].etc().join("ha.d");
    install_package_ha_d(&ha_d);
    if slow_mach_down {
        let f = ha_d.join("shellfuncs");
        let text = std::fs::read_to_string(&f).unwrap();
        let stock = r#"(echo ">>>"; cat -; echo "<<<")"#;
        assert!(
            text.contains(stock),
            "the package's ha_clustermsg changed:\n{text}"
        );
        let slow = r#"m=$(cat -); (echo ">>>"; case "$m" in *mach_down*) sleep 1.3;; esac; echo "$m"; echo "<<<")"#;
        std::fs::write(&f, text.replace(stock, slow)).unwrap();
    }
    start_306(&mut c, hb306);
    c.start(1);
    let p = Prober::start(&c);
    p.wait_for("node1", Instant::now(), Duration::from_secs(60))
        .unwrap_or_else(|| panic!("3.0.6 never served:\n{}", logs(&c)));
    c.wait_status(1, "hb sees 3.0.6 active", Duration::from_secs(30), |v| {
        peer_state(v, "node1") == "active" && v["stable"] == true
    });
    (c, p)
}

/// Pulls node2's eth1 until hb has taken the service over and 3 s have passed, then puts it
/// back: when it was pulled, and when it was back.
fn split_for_3s(c: &Cluster) -> (Instant, Instant) {
    let pulled = Instant::now();
    c.lab.link("b", "eth1", false).unwrap();
    while holders(c).len() < 2 {
        assert!(
            pulled.elapsed() < Duration::from_secs(10),
            "hb never took over during the split:\n{}",
            logs(c)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(3).saturating_sub(pulled.elapsed()));
    c.lab.link("b", "eth1", true).unwrap();
    (pulled, Instant::now())
}

/// The stuck 3.0.6 of the test above, made on purpose: it lost `mach_down`'s message, so it
/// never finishes its takeover and delays its give-up at the heal for ever. Both nodes then
/// run the service; hb keeps its copy (3.0.6's resource handling is stuck: a copy it kept
/// alone could not fail over) and says, once, as an error, what is wrong and what ends it.
#[test]
fn a_306_peer_stuck_after_a_heal_is_reported() {
    let (c, _p) = mixed_heal_cluster(real_heartbeat(), true);
    let (_, healed) = split_for_3s(&c);
    c.wait_log(
        0,
        "Shutdown delayed until current resource activity finishes",
        Duration::from_secs(10),
    );
    assert!(
        !c.nodes[0]
            .log()
            .contains("info: mach_down takeover complete."),
        "3.0.6 read mach_down's message after all:\n{}",
        logs(&c)
    );
    c.wait_log(
        1,
        "has not begun to give up its resource groups",
        Duration::from_secs(20),
    );
    let said = healed.elapsed();
    let hb = c.nodes[1].log();
    let line = hb
        .lines()
        .find(|l| l.contains("has not begun to give up"))
        .unwrap();
    assert!(
        line.contains("ERROR: Partition healed 11 s ago and node1 has not begun"),
        "{line}"
    );
    assert!(line.contains("reboot node1"), "{line}");
    assert_eq!(holders(&c), ["node1", "node2"], "{}", logs(&c));
    // Said once.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        c.nodes[1].log().matches("has not begun to give up").count(),
        1,
        "{}",
        logs(&c)
    );
    eprintln!("reported {said:?} after the heal");
}

/// Issue 12, mixed: the only medium (bcast eth1) pulled for 3 s between 3.0.6 (node1, serving)
/// and hb (node2), then put back. During the split both run the service. 3.0.6 answers the
/// heal by giving everything up and restarting; hb, hearing no heal report from it, keeps the
/// service (it does not restart as 3.0.6 would) and announces the address at once and again
/// when 3.0.6 has stopped its copy: the client is never left unanswered for long (3.0.6 alone:
/// 14.5-15.5 s), and hb ends as the only owner.
///
/// 3.0.6's FIFO reader reads under a 1 s alarm: when a loaded machine makes `mach_down`'s
/// `ha_clustermsg` write its message in pieces a second apart, the reader drops it
/// (at times saying "msg2string: Message with zero fields"), 3.0.6 never finishes its takeover and never gives
/// up at the heal ("Shutdown delayed until current resource activity finishes", for ever).
/// That run says nothing about hb, so it is run again, at most twice.
#[test]
fn a_healed_split_with_heartbeat_306_keeps_the_service_up() {
    let hb306 = real_heartbeat();
    for attempt in 1..=3 {
        match healed_split_with_306(hb306) {
            Ok(()) => return,
            Err(why) if attempt < 3 => eprintln!("attempt {attempt} void: {why}; again"),
            Err(why) => panic!("three attempts void: {why}"),
        }
    }
}

/// One run of the healed split with 3.0.6; `Err` when 3.0.6 lost its own takeover message.
fn healed_split_with_306(hb306: &str) -> Result<(), String> {
    let (c, p) = mixed_heal_cluster(hb306, false);
    let (pulled, healed) = split_for_3s(&c);
    eprintln!(
        "during the split the client saw {:?}",
        p.answers(pulled, healed)
    );
    let holders = |c: &Cluster| holders(c);

    let one = loop {
        if holders(&c) == ["node2"] {
            break Instant::now();
        }
        if healed.elapsed() > Duration::from_secs(15) {
            // 3.0.6's own line when it has read mach_down's message; its script's line goes
            // on "for node".
            let log306 = c.nodes[0].log();
            if log306.contains("mach_down takeover complete for node")
                && !log306.contains("info: mach_down takeover complete.")
            {
                return Err(format!(
                    "3.0.6 lost mach_down's message in its FIFO:\n{}",
                    logs(&c)
                ));
            }
            panic!(
                "still held by {:?} 15 s after the heal:\n{}",
                holders(&c),
                logs(&c)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // 3.0.6 restarts (deadtime + 1 s asleep, then initdead) and, auto_failback off, takes
    // nothing: the window covers its whole restart.
    c.wait_log(0, "Heartbeat restart", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(6));
    let end = Instant::now();
    let owner_after = one.duration_since(healed);
    let gap = p.longest_silence(healed, end);
    eprintln!(
        "with 3.0.6: one owner {owner_after:?} after the heal (3.0.6 gives up 2 s after it \
         hears the peer again), longest client gap after it {gap:?}; client saw {:?}",
        p.answers(healed, end)
    );
    eprintln!("runs after the heal: {:?}", p.runs(healed, end));
    show_complaints(&c);
    assert!(
        gap <= Duration::from_secs(1),
        "the client went unanswered for {gap:?} after the heal: {:?}\n{}",
        p.answers(healed, end),
        logs(&c)
    );
    // 3.0.6 alone takes about 2 s before it even starts to give up; hb adds nothing to that.
    assert!(
        owner_after <= Duration::from_secs(5),
        "one owner only after {owner_after:?}"
    );
    assert_eq!(holders(&c), ["node2"]);
    c.wait_log(
        1,
        "Partition healed: no heal report from node1",
        Duration::from_secs(1),
    );
    Ok(())
}

/// 3.0.6 is active (preferred), hb stands by; 3.0.6's node loses power; hb takes over; 3.0.6
/// comes back (a new generation) and, with auto_failback on, gets its service back from hb.
#[test]
fn hb_takes_over_from_heartbeat_306() {
    let mut c = mixed("interop-306", GROUP1);
    see_each_other(&c);
    let p = Prober::start(&c);
    // 3.0.6 negotiates about 10 s before it acquires its resources.
    let t0 = Instant::now();
    p.wait_for("node1", t0, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("3.0.6's node1 never served:\n{}", logs(&c)));
    eprintln!("3.0.6's node1 serves after {:?}", t0.elapsed());
    c.wait_status(
        1,
        "seeing node1 own the group",
        Duration::from_secs(10),
        |v| v["groups"][0]["owner"] == "node1",
    );

    std::thread::sleep(Duration::from_millis(500 + jitter(100)));
    let cut = c.lab.power_off("a", &["eth0", "eth1"]).unwrap();
    c.serial.as_ref().unwrap().set(false);
    let back = p
        .wait_for("node2", cut, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("hb's node2 never took over:\n{}", logs(&c)));
    let gap = back.duration_since(cut).as_millis();
    eprintln!(
        "power-off of 3.0.6's node1 -> hb's node2 serving: {gap} ms (deadtime 500 ms); client \
         saw {:?}",
        p.answers(cut, back)
    );
    // How long it took is the benchmarks' business (BENCHMARKS.md); here only that it did,
    // within the wait above.
    c.wait_status(1, "owning the group", Duration::from_secs(10), |v| {
        v["groups"][0]["owner"] == "node2" && v["groups"][0]["state"] == "running"
    });

    // 3.0.6's node powers up again: links up, daemon started; the service comes home. A real
    // power cycle loses the addresses; the lab's power-off keeps them: drop the service IP.
    let _ = c.lab.exec(
        "a",
        &["ip", "addr", "del", &format!("{VIP}/24"), "dev", "eth0"],
    );
    c.lab.link("a", "eth0", true).unwrap();
    c.lab.link("a", "eth1", true).unwrap();
    c.serial.as_ref().unwrap().set(true);
    let log_before = c.nodes[0].log().len();
    start_306(&mut c, real_heartbeat());
    let returned = Instant::now();
    let home = p
        .wait_for("node1", returned, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("never failed back to 3.0.6:\n{}", logs(&c)));
    eprintln!(
        "3.0.6 restarted -> serving again after {:?} (auto_failback on); client saw {:?}",
        home.duration_since(returned),
        p.answers(returned, home)
    );
    c.wait_status(
        1,
        "seeing node1 own the group",
        Duration::from_secs(10),
        |v| {
            v["groups"][0]["owner"] == "node1"
                && peer_state(v, "node1") == "active"
                && links(v, "node1").iter().all(|(_, s)| s == "up")
        },
    );
    let again = c.nodes[0].log()[log_before..].to_string();
    assert!(
        again.contains("Status update for node node2: status active"),
        "3.0.6 after its restart:\n{again}"
    );
    show_complaints(&c);
}

/// hb is active (preferred); hb_standby on hb hands the service to 3.0.6, 3.0.6's hb_standby
/// hands it back, and when hb's node loses power 3.0.6 takes over.
#[test]
fn heartbeat_306_and_hb_hand_over_both_ways() {
    let c = mixed("interop-hb", GROUP2);
    see_each_other(&c);
    let p = Prober::start(&c);
    let t0 = Instant::now();
    p.wait_for("node2", t0, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("hb's node2 never served:\n{}", logs(&c)));
    eprintln!("hb's node2 serves after {:?}", t0.elapsed());
    // 3.0.6 must have settled its own resource negotiation before a standby.
    std::thread::sleep(Duration::from_secs(2));

    // hb_standby on hb: 3.0.6 takes the service.
    let out = c.hbctl(1, "hb_standby", &[]);
    assert!(out.status.success(), "hb_standby on hb: {out:?}");
    let asked = Instant::now();
    let at = p
        .wait_for("node1", asked, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("hb's hb_standby moved nothing to 3.0.6:\n{}", logs(&c)));
    eprintln!(
        "hb_standby on hb -> 3.0.6 serving: {} ms; client saw {:?}",
        at.duration_since(asked).as_millis(),
        p.answers(asked, at)
    );
    std::thread::sleep(Duration::from_secs(2));

    // 3.0.6's hb_standby: hb takes it back.
    let out = c.nodes[0]
        .exec(&["/usr/share/heartbeat/hb_standby"])
        .unwrap();
    assert!(out.status.success(), "3.0.6's hb_standby: {out:?}");
    let asked = Instant::now();
    let at = p
        .wait_for("node2", asked, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("3.0.6's hb_standby moved nothing to hb:\n{}", logs(&c)));
    eprintln!(
        "hb_standby on 3.0.6 -> hb serving: {} ms; client saw {:?}",
        at.duration_since(asked).as_millis(),
        p.answers(asked, at)
    );
    std::thread::sleep(Duration::from_secs(2));

    // hb's node loses power: 3.0.6 takes over.
    let cut = c.lab.power_off("b", &["eth0", "eth1"]).unwrap();
    c.serial.as_ref().unwrap().set(false);
    let back = p
        .wait_for("node1", cut, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("3.0.6 never took over from hb:\n{}", logs(&c)));
    let gap = back.duration_since(cut).as_millis();
    eprintln!(
        "power-off of hb's node2 -> 3.0.6's node1 serving: {gap} ms (deadtime 500 ms); client \
         saw {:?}",
        p.answers(cut, back)
    );
    // The takeover within 15 s is the test; how soon is BENCHMARKS.md's (a bound here is one a
    // loaded machine breaks).
    show_complaints(&c);
}

/// The addresses on `eth0` of node `i`.
fn eth0_addrs(c: &Cluster, i: usize) -> String {
    let out = c.nodes[i]
        .exec(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_addr(c: &Cluster, i: usize, present: bool, within: Duration) {
    let start = Instant::now();
    loop {
        let a = eth0_addrs(c, i);
        if a.contains(&format!("{VIP}/24")) == present {
            return;
        }
        assert!(
            start.elapsed() < within,
            "{}: {VIP} {} within {within:?}: {a}\nlog:\n{}",
            c.nodes[i].name,
            if present {
                "never appeared"
            } else {
                "still there"
            },
            c.nodes[i].log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The package's `resource.d/IPaddr2` as a resource of hb: on node1 the stock wrapper, which
/// hb runs natively (and says so), on node2 the same wrapper with an admin's edit, which runs
/// as a script (resource-agents' OCF IPaddr2). The address comes and goes with the group, on
/// start, failover and hb_standby, either way.
#[test]
fn package_ipaddr2_script_as_hb_resource() {
    real_heartbeat();
    let setup = Setup {
        serial: true,
        lan: true,
        haresources: format!("node1 IPaddr2::{VIP}/24/eth0 hbsvc::{VIP}\n"),
        scripts: vec![("hbsvc".into(), service_script())],
        timing: (100, 300, 500),
        ..Setup::default()
    };
    let mut c = Cluster::build("interop-ra", &setup);
    for n in &c.nodes {
        let d = n.etc().join("ha.d");
        for f in [
            "resource.d/IPaddr2",
            "resource.d/hto-mapfuncs",
            "shellfuncs",
        ] {
            std::fs::copy(Path::new("/etc/ha.d").join(f), d.join(f)).unwrap();
        }
    }
    // node2's admin edited the wrapper: one command added; it is theirs now.
    let wrapper = c.nodes[1].etc().join("ha.d/resource.d/IPaddr2");
    let text = std::fs::read_to_string(&wrapper).unwrap();
    let edited = text.replacen(
        "\nusage()",
        "\n: site edit, checked by the network team\nusage()",
        1,
    );
    assert_ne!(text, edited, "the wrapper's usage() not found");
    std::fs::write(&wrapper, edited).unwrap();
    c.start(0);
    c.start(1);
    // Paths the OCF agent uses for its state.
    for i in 0..2 {
        c.nodes[i]
            .exec(&[
                "mkdir",
                "-p",
                "/run/resource-agents",
                "/run/heartbeat/rsctmp",
            ])
            .unwrap();
    }
    let p = Prober::start(&c);
    p.wait_for("node1", Instant::now(), Duration::from_secs(30))
        .unwrap_or_else(|| panic!("node1 never served:\n{}", c.nodes[0].log()));
    wait_addr(&c, 0, true, Duration::from_secs(5));
    eprintln!("node1 eth0: {}", eth0_addrs(&c, 0));
    assert!(
        !eth0_addrs(&c, 1).contains(VIP),
        "node2 holds the address too"
    );

    // hb_standby on node1: IPaddr2 stop removes the address; node2 takes it.
    let out = c.hbctl(0, "hb_standby", &[]);
    assert!(out.status.success(), "{out:?}");
    let asked = Instant::now();
    let at = p
        .wait_for("node2", asked, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("hb_standby moved nothing:\n{}", c.nodes[0].log()));
    eprintln!(
        "hb_standby with IPaddr2: node2 serving after {} ms",
        at.duration_since(asked).as_millis()
    );
    wait_addr(&c, 0, false, Duration::from_secs(5));
    wait_addr(&c, 1, true, Duration::from_secs(5));

    // Back to node1 (hb_takeover there), then power it off: node2's IPaddr2 takes over.
    let out = c.hbctl(0, "hb_takeover", &[]);
    assert!(out.status.success(), "{out:?}");
    let asked = Instant::now();
    p.wait_for("node1", asked, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("hb_takeover moved nothing:\n{}", c.nodes[0].log()));
    wait_addr(&c, 1, false, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300 + jitter(100)));
    let cut = c.lab.power_off("a", &["eth0", "eth1"]).unwrap();
    c.serial.as_ref().unwrap().set(false);
    let back = p
        .wait_for("node2", cut, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("node2 never took over:\n{}", c.nodes[1].log()));
    eprintln!(
        "power-off failover with IPaddr2: {} ms",
        back.duration_since(cut).as_millis()
    );
    wait_addr(&c, 1, true, Duration::from_secs(5));
    // node1: the stock wrapper, run natively; node2: the edited one, run as a script.
    let script = format!("Running /etc/ha.d/resource.d/IPaddr2 {VIP}/24/eth0 start");
    let native = format!(
        "Running IPaddr2 (built-in, for the stock wrapper /etc/ha.d/resource.d/IPaddr2) \
         {VIP}/24/eth0 start"
    );
    let (log1, log2) = (c.nodes[0].log(), c.nodes[1].log());
    assert!(log1.contains(&native), "node1:\n{log1}");
    assert!(!log1.contains(&script), "node1:\n{log1}");
    assert!(log2.contains(&script), "node2:\n{log2}");
    assert!(!log2.contains("(built-in"), "node2:\n{log2}");
}

/// The crossover cable gets 2001:db8::1 and ::2 (no duplicate address detection); waits
/// until the link-local addresses are usable too (mcast6 sends from them).
fn add_ipv6(c: &Cluster) {
    for (ns, a) in [("a", "2001:db8::1/64"), ("b", "2001:db8::2/64")] {
        let out = c
            .lab
            .exec(ns, &["ip", "addr", "add", a, "dev", "eth1", "nodad"])
            .unwrap();
        assert!(out.status.success(), "{ns}: {out:?}");
    }
    let start = Instant::now();
    for ns in ["a", "b"] {
        loop {
            let out = c
                .lab
                .exec(ns, &["ip", "-6", "addr", "show", "dev", "eth1"])
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if text.contains("fe80::") && !text.contains("tentative") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{ns}: IPv6 addresses still tentative:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A mixed pair (3.0.6 on node1, hb on node2) whose only medium is the IPv6 one given per
/// node: each sees the other active over it, and both logged the same start-up line for it.
fn mixed_over_ipv6(tag: &str, media: [&str; 2], started: [&str; 2]) {
    let hb306 = real_heartbeat();
    let setup = Setup {
        media: [media[0].into(), media[1].into()],
        extra: [
            "logfile /var/log/ha-log".into(),
            "logfile /var/log/ha-log".into(),
        ],
        timing: (100, 300, 500),
        ..Setup::default()
    };
    let mut c = Cluster::build(tag, &setup);
    add_ipv6(&c);
    install_package_ha_d(&c.nodes[0].etc().join("ha.d"));
    start_306(&mut c, hb306);
    c.start(1);
    let v = c.wait_status(
        1,
        "seeing 3.0.6's node1 active over the IPv6 medium",
        Duration::from_secs(30),
        |v| {
            let l = links(v, "node1");
            peer_state(v, "node1") == "active" && l.len() == 1 && l[0].1 == "up"
        },
    );
    eprintln!("hb sees node1: {:?}", links(&v, "node1"));
    let start = Instant::now();
    loop {
        let st = cl_status(&c, "node2");
        let link = cl_status_of(&c, &["hblinkstatus", "node2", "eth1"]);
        if st == "active" && link == "up" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "3.0.6 sees node2 {st:?}, link eth1 {link:?}\n{}",
            logs(&c)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The same words from both plugins, e.g. the group, port, interface, hops and loop.
    for (i, line) in started.iter().enumerate() {
        assert!(c.nodes[i].log().contains(line), "{line:?}\n{}", logs(&c));
    }
    show_complaints(&c);
    // Still together a little later: no late heartbeats, nobody declared dead.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(cl_status(&c, "node2"), "active", "{}", logs(&c));
    for n in &c.nodes {
        assert!(!n.log().contains("is dead"), "{}", logs(&c));
    }
}

/// `mcast6` with a 3.0.6 peer: the link-local-scope group of 3.0.6's own example.
#[test]
fn mcast6_with_heartbeat_306() {
    let line = "mcast6 eth1 ff12::1:2:3:4 694 1 0";
    let started =
        "UDP multicast heartbeat started for [ff12::1:2:3:4]:694 on interface eth1 (hops=1 loop=0)";
    mixed_over_ipv6("interop-mc6", [line, line], [started, started]);
}

/// `ucast6` with a 3.0.6 peer, over 2001:db8:: addresses.
#[test]
fn ucast6_with_heartbeat_306() {
    mixed_over_ipv6(
        "interop-uc6",
        ["ucast6 eth1 2001:db8::2", "ucast6 eth1 2001:db8::1"],
        [
            "ucast6: heartbeat started for [2001:db8::2]:694 on interface eth1",
            "ucast6: heartbeat started for [2001:db8::1]:694 on interface eth1",
        ],
    );
}

/// Issue 11: 3.0.6 (node1, serving) re-reads a changed ha.cf on SIGHUP: it re-executes itself
/// keeping its resources (`-R -C`); hb (node2) sees an announced restart (3.0.6 asked for
/// deadtime + 30 s first), takes nothing and ends stable with 3.0.6 still the owner.
#[test]
fn heartbeat_306_reload_keeps_its_service_beside_hb() {
    let c = mixed_for_reload("interop-rl306", GROUP1);
    see_each_other(&c);
    let p = Prober::start(&c);
    let t0 = Instant::now();
    p.wait_for("node1", t0, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("3.0.6's node1 never served:\n{}", logs(&c)));
    c.wait_status(
        1,
        "seeing node1 own the group",
        Duration::from_secs(10),
        |v| v["groups"][0]["owner"] == "node1" && v["stable"] == true,
    );
    // 3.0.6 compares ha.cf's modification time in whole seconds.
    std::thread::sleep(Duration::from_millis(1100));
    let generation = c.status(1)["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "node1")
        .and_then(|n| n["generation"].as_u64())
        .unwrap();
    let cf = c.nodes[0].etc().join("ha.d/ha.cf");
    let text = std::fs::read_to_string(&cf).unwrap();
    std::fs::write(&cf, text.replace("warntime 800ms", "warntime 900ms")).unwrap();
    let at = (c.nodes[0].log().len(), c.nodes[1].log().len());
    let sent = Instant::now();
    c.nodes[0].signal(nix::sys::signal::Signal::SIGHUP).unwrap();
    c.wait_log(
        0,
        "Performing heartbeat restart exec.",
        Duration::from_secs(10),
    );
    c.wait_status(
        1,
        "seeing 3.0.6's new incarnation settle",
        Duration::from_secs(20),
        |v| {
            v["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|n| n["name"] == "node1" && n["generation"].as_u64() > Some(generation))
                && peer_state(v, "node1") == "active"
                && v["stable"] == true
                && v["groups"][0]["owner"] == "node1"
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let to = Instant::now();
    let log306 = c.nodes[0].log()[at.0..].to_string();
    let loghb = c.nodes[1].log()[at.1..].to_string();
    if std::env::var_os("HB_SHOW_LOGS").is_some() {
        eprintln!("--- 3.0.6 after SIGHUP:\n{log306}\n--- hb:\n{loghb}");
    }
    eprintln!(
        "3.0.6 reload: client saw {:?}, longest silence {:?} (under load)",
        p.runs(sent, to),
        p.longest_silence(sent, to)
    );
    for line in [
        "Heartbeat restart triggered.",
        "Performing heartbeat restart exec.",
    ] {
        assert!(
            log306.contains(line),
            "3.0.6 did not log {line:?}:\n{log306}"
        );
    }
    assert!(loghb.contains("Heartbeat restart on node node1"), "{loghb}");
    for bad in [
        "Resources being acquired",
        "Taking over",
        "Acquiring resource group",
        "Running ",
    ] {
        assert!(!loghb.contains(bad), "hb logged {bad:?}:\n{loghb}");
    }
    let answers = p.answers(sent, to);
    assert!(
        !answers.iter().any(|a| a == "node2"),
        "hb answered for the address: {answers:?}\n{}",
        logs(&c)
    );
    show_complaints(&c);
}

/// Issue 11: hb (node2, serving) reloads a changed ha.cf (SIGHUP) beside 3.0.6 (node1): it
/// re-executes keeping the service; 3.0.6 logs the restart and takes nothing, as it does
/// when a 3.0.6 peer reloads.
#[test]
fn hb_reload_keeps_its_service_beside_heartbeat_306() {
    let c = mixed_for_reload("interop-rlhb", GROUP2);
    see_each_other(&c);
    let p = Prober::start(&c);
    p.wait_for("node2", Instant::now(), Duration::from_secs(60))
        .unwrap_or_else(|| panic!("hb's node2 never served:\n{}", logs(&c)));
    // 3.0.6 must have settled its own resource negotiation.
    c.wait_status(
        1,
        "stable, owning the group",
        Duration::from_secs(30),
        |v| v["groups"][0]["owner"] == "node2" && v["stable"] == true,
    );
    std::thread::sleep(Duration::from_secs(2));
    let before = c.status(1);
    let svc = c.nodes[1].exec(&["cat", "/run/hbsvc.pid"]).unwrap().stdout;
    let cf = c.nodes[1].etc().join("ha.d/ha.cf");
    let text = std::fs::read_to_string(&cf).unwrap();
    std::fs::write(&cf, text.replace("warntime 800ms", "warntime 900ms")).unwrap();
    let at = (c.nodes[0].log().len(), c.nodes[1].log().len());
    let sent = Instant::now();
    c.nodes[1].signal(nix::sys::signal::Signal::SIGHUP).unwrap();
    c.wait_log(
        1,
        "Performing heartbeat restart exec.",
        Duration::from_secs(10),
    );
    c.wait_log(
        0,
        "Heartbeat restart on node node2",
        Duration::from_secs(10),
    );
    // The control socket is away while hb re-executes.
    let start = Instant::now();
    loop {
        let out = c.hbctl(1, "hbctl", &["status", "--json"]);
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if v["generation"].as_u64() > before["generation"].as_u64()
                && v["stable"] == true
                && peer_state(&v, "node1") == "active"
            {
                assert_eq!(v["groups"][0]["owner"], "node2", "{v:#}");
                assert_eq!(v["pid"], before["pid"], "{v:#}");
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "hb not running again: {out:?}\n{}",
            logs(&c)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // 3.0.6 answers the new incarnation's `starting` and takes its report.
    c.wait_log(
        0,
        "remote resource transition completed.",
        Duration::from_secs(10),
    );
    std::thread::sleep(Duration::from_secs(3));
    let to = Instant::now();
    let log306 = c.nodes[0].log()[at.0..].to_string();
    let loghb = c.nodes[1].log()[at.1..].to_string();
    if std::env::var_os("HB_SHOW_LOGS").is_some() {
        eprintln!("--- 3.0.6:\n{log306}\n--- hb after SIGHUP:\n{loghb}");
    }
    eprintln!(
        "hb reload beside 3.0.6: client saw {:?}, longest silence {:?} (under load)",
        p.runs(sent, to),
        p.longest_silence(sent, to)
    );
    assert_eq!(
        c.nodes[1].exec(&["cat", "/run/hbsvc.pid"]).unwrap().stdout,
        svc,
        "the service was restarted"
    );
    for bad in [
        "Taking over",
        "Acquiring resource group",
        "acquire",
        "Both machines own",
        "node node2: status dead",
    ] {
        assert!(!log306.contains(bad), "3.0.6 logged {bad:?}:\n{log306}");
    }
    for bad in [
        "Running ",
        "Releasing resource group",
        "Acquiring resource group",
    ] {
        assert!(!loghb.contains(bad), "hb logged {bad:?}:\n{loghb}");
    }
    assert!(loghb.contains("Current resources: -R -C local"), "{loghb}");
    let answers = p.answers(sent, to);
    assert!(
        !answers.iter().any(|a| a == "node1"),
        "3.0.6 answered for the address: {answers:?}\n{}",
        logs(&c)
    );
    show_complaints(&c);
}
