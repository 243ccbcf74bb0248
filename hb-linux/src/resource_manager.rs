//! `ResourceManager` (`/usr/share/heartbeat/ResourceManager`, a link to `hbctl`): the
//! commands admin scripts call on 3.0.6's shell script, answered as it answers them.
//!
//! - `listkeys NODE`, `allkeys`, `ourkeys`, `otherkeys`: read `/etc/ha.d/haresources` the way
//!   the script's `ipres` does (comments cut, `\` continuations joined, blank space squeezed,
//!   the node name lowercased, every line ending in one blank) and print the same words:
//!   the first resource of each matching line (`listkeys`, `allkeys`), or the whole rest of
//!   the line (`ourkeys`/`otherkeys`, split on `$HA_CURHOST` as the script does). NODE is an
//!   extended regular expression, matched case-insensitively, as the script's `egrep -i`.
//!   No haresources file: nothing, exit 0.
//! - `status RESOURCE`: exit 0 when the resource's `status` says it runs, 3 otherwise
//!   (nothing printed) — through hb's own runner, so the native IPaddr/IPaddr2/IPv6addr and
//!   the stock-wrapper rule apply as in the daemon.
//! - `takegroup KEY`, `givegroup KEY`: acquire or release the haresources group that holds
//!   KEY, right here, as the script does (it never asks the daemon either); exit 0, or 1 when
//!   a resource failed. `statgroup KEY` writes `NONE`, `SOME` or `ALL` to `$HA_DEBUGLOG`.
//! - `verifyallidle`: each group's first resource must not be running; the script's
//!   CRITICAL lines on standard error and in the log, exit the number running.
//! - Anything else (`verify-args` too: 3.0.6 has no such command): the usage on standard
//!   error and exit 1.
//!
//! Log lines go where ha.cf's logging says, tagged `ResourceManager`.

use crate::config::Loaded;
use crate::log::{LogConfig, LogLine, Logger, Priority};
use crate::rsc::{GroupOutcome, Runner};
use hb_core::config::HaResources;
use std::io::Write;
use std::path::Path;

/// 3.0.6's HA_DIR (its ResourceManager has it built in).
pub const HA_DIR: &str = "/etc/ha.d";

/// The lines of haresources as the script's `ipres` leaves them.
pub fn ipres_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.split('\n');
    while let Some(first) = lines.next() {
        // sed cuts the comment of the first physical line only, then joins `\` lines.
        let mut line = match first.find('#') {
            Some(i) => first[..i].to_string(),
            None => first.to_string(),
        };
        while line.ends_with('\\') {
            line.pop();
            match lines.next() {
                Some(next) => line.push_str(next),
                None => break,
            }
        }
        let words: Vec<&str> = line.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            continue;
        }
        // awk's `$1 = tolower($1); print $0, ""`: fields joined by one blank, one at the end.
        let mut l = words[0].to_lowercase();
        for w in &words[1..] {
            l.push(' ');
            l.push_str(w);
        }
        l.push(' ');
        out.push(l);
    }
    out
}

/// Lines that match `^PATTERN ` case-insensitively (`invert`: that do not). A pattern that
/// is not a valid expression matches nothing, as egrep then prints nothing on stdout.
fn matching(lines: &[String], pattern: &str, invert: bool) -> Vec<String> {
    let Ok(re) = regex_lite::RegexBuilder::new(&format!("^(?:{pattern}) "))
        .case_insensitive(true)
        .build()
    else {
        return Vec::new();
    };
    lines
        .iter()
        .filter(|l| re.is_match(l) != invert)
        .cloned()
        .collect()
}

/// `cut -d' ' -f2` and `-f2-`.
fn field2(line: &str, rest: bool) -> &str {
    let after = line.split_once(' ').map_or("", |(_, r)| r);
    if rest {
        after
    } else {
        after.split(' ').next().unwrap_or("")
    }
}

fn haresources_lines(dir: &Path) -> Vec<String> {
    std::fs::read(dir.join("haresources"))
        .map(|b| ipres_lines(&String::from_utf8_lossy(&b)))
        .unwrap_or_default()
}

/// The listing commands: the words the script prints.
pub fn listing(dir: &Path, cmd: &str, arg: &str, curhost: &str) -> String {
    let lines = haresources_lines(dir);
    let (pattern, invert, rest) = match cmd {
        "listkeys" => (arg, false, false),
        "allkeys" => (".*", false, false),
        "ourkeys" => (curhost, false, true),
        _ => (curhost, true, true),
    };
    let mut out = String::new();
    for l in matching(&lines, pattern, invert) {
        out.push_str(field2(&l, rest));
        out.push('\n');
    }
    out
}

/// The script's usage line (with the name it was called by) and a blank line.
fn usage(argv0: &str) -> String {
    format!("usage: {argv0} listkeys machine | takegroup key | givegroup key|status resource\n\n")
}

/// `ResourceManager ARGS…` with the configuration in `dir`; the exit code.
#[inline(never)]
pub fn run(argv0: &str, args: &[String], dir: &Path) -> u8 {
    let cmd = args.first().map_or("", String::as_str);
    let arg = args.get(1).map_or("", String::as_str);
    match cmd {
        "listkeys" | "allkeys" | "ourkeys" | "otherkeys" => {
            let curhost = std::env::var("HA_CURHOST").unwrap_or_default();
            let _ = std::io::stdout().write_all(listing(dir, cmd, arg, &curhost).as_bytes());
            0
        }
        "status" | "takegroup" | "givegroup" | "statgroup" | "verifyallidle" => {
            with_config(dir, |cfg, runner, log| match cmd {
                "status" => status(runner, arg, log),
                "takegroup" | "givegroup" | "statgroup" => group_cmd(cfg, runner, cmd, arg, log),
                _ => verify_all_idle(argv0, cfg, runner, log),
            })
        }
        _ => {
            let _ = std::io::stderr().write_all(usage(argv0).as_bytes());
            1
        }
    }
}

/// Loads the configuration as the daemon does and runs `f` with a runner and a logger; a
/// configuration that does not load is reported on standard error (exit 6, as the daemon).
fn with_config(dir: &Path, f: impl FnOnce(&Loaded, &Runner, &mut dyn FnMut(LogLine)) -> u8) -> u8 {
    let cfg = match crate::config::load(dir, None, &mut |_| {}) {
        Ok(c) => c,
        Err(r) => {
            for l in &r.lines {
                eprintln!("ResourceManager: {l}");
            }
            return r.exit;
        }
    };
    let (mut log_cfg, _) = LogConfig::from_hacf(&cfg.hacf, &cfg.hostname, false);
    log_cfg.entity = "ResourceManager".into();
    let logger = Logger::new(log_cfg);
    let runner = Runner::new(crate::daemon::actions::runner_options(&cfg));
    f(&cfg, &runner, &mut |l: LogLine| logger.log_line(&l))
}

fn status(runner: &Runner, spec: &str, log: &mut dyn FnMut(LogLine)) -> u8 {
    // One resource as haresources would hold it (the IP shorthand included).
    let one = HaResources::parse(&format!("x {spec}\n"), &mut |_| {});
    let owned = one.ok().is_some_and(|h| {
        h.groups()
            .first()
            .and_then(|g| g.resources().next())
            .is_some_and(|r| runner.resource_status(&r, log))
    });
    if owned {
        0
    } else {
        3
    }
}

fn group_cmd(
    cfg: &Loaded,
    runner: &Runner,
    cmd: &str,
    key: &str,
    log: &mut dyn FnMut(LogLine),
) -> u8 {
    // The script takes the line holding KEY anywhere among its resources.
    let Some(group) = cfg
        .haresources
        .groups()
        .iter()
        .find(|g| g.resources().any(|r| r.spec() == key))
    else {
        if cmd == "statgroup" {
            debug_line(cfg, "NONE");
        }
        return 0;
    };
    match cmd {
        "takegroup" => match runner.acquire_group(group, log) {
            GroupOutcome::Done => 0,
            _ => 1,
        },
        "givegroup" => match runner.release_group(group, log) {
            GroupOutcome::Done => 0,
            _ => 1,
        },
        _ => {
            let held: Vec<bool> = group
                .resources()
                .map(|r| runner.resource_status(&r, log))
                .collect();
            let word = if held.iter().all(|h| *h) {
                "ALL"
            } else if held.iter().any(|h| *h) {
                "SOME"
            } else {
                "NONE"
            };
            debug_line(cfg, word);
            0
        }
    }
}

/// `statgroup`'s answer goes where the script's does: `$HA_DEBUGLOG` (else ha.cf's debugfile).
fn debug_line(cfg: &Loaded, word: &str) {
    let path = std::env::var_os("HA_DEBUGLOG")
        .map(std::path::PathBuf::from)
        .or_else(|| cfg.hacf.debugfile.as_deref().map(std::path::PathBuf::from));
    if let Some(p) = path {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(p)
        {
            let _ = writeln!(f, "{word}");
        }
    }
}

fn verify_all_idle(argv0: &str, cfg: &Loaded, runner: &Runner, log: &mut dyn FnMut(LogLine)) -> u8 {
    let mut running = 0u8;
    for g in cfg.haresources.groups() {
        let Some(first) = g.resources().next() else {
            continue;
        };
        if !runner.resource_status(&first, log) {
            continue;
        }
        let rsc = first.spec();
        log(LogLine::new(
            Priority::Crit,
            format!("Resource {rsc} is active, and should not be!"),
        ));
        log(LogLine::new(
            Priority::Crit,
            "Non-idle resources can affect data integrity!",
        ));
        log(LogLine::info(
            "If you don't know what this means, then get help!",
        ));
        log(LogLine::info(format!(
            "Read the docs and/or source to {argv0} for more details."
        )));
        eprint!(
            "CRITICAL: Resource {rsc} is active, and should not be!\n\
             CRITICAL: Non-idle resources can affect data integrity!\n\
             info: If you don't know what this means, then get help!\n\
             info: Read the docs and/or the source to {argv0} for more details.\n"
        );
        running = running.saturating_add(1);
    }
    if running > 0 {
        log(LogLine::new(
            Priority::Crit,
            "Non-idle resources will affect resource takeback!",
        ));
        log(LogLine::new(
            Priority::Crit,
            "Non-idle resources may affect data integrity!",
        ));
    }
    running
}

#[cfg(test)]
mod tests {
    use super::*;

    const HARESOURCES: &str = "\
# the web group
Node1 198.51.100.80 httpd   # comment\n\
node2\tIPaddr2::198.51.100.81/24/eth0 \\\n  Filesystem::/dev/sdb1::/data::ext4 mysql\n\
\n\
   \n\
node1 drbddisk::r0\n";

    #[test]
    fn ipres_squeezes_lowercases_and_joins() {
        assert_eq!(
            ipres_lines(HARESOURCES),
            [
                "node1 198.51.100.80 httpd ",
                "node2 IPaddr2::198.51.100.81/24/eth0 Filesystem::/dev/sdb1::/data::ext4 mysql ",
                "node1 drbddisk::r0 ",
            ]
        );
    }

    #[test]
    fn listings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("haresources"), HARESOURCES).unwrap();
        let d = dir.path();
        assert_eq!(
            listing(d, "listkeys", "NODE1", ""),
            "198.51.100.80\ndrbddisk::r0\n"
        );
        assert_eq!(
            listing(d, "allkeys", "", ""),
            "198.51.100.80\nIPaddr2::198.51.100.81/24/eth0\ndrbddisk::r0\n"
        );
        assert_eq!(listing(d, "listkeys", "node3", ""), "");
        assert_eq!(listing(d, "ourkeys", "", ""), "");
        assert_eq!(
            listing(d, "ourkeys", "", "node1"),
            "198.51.100.80 httpd \ndrbddisk::r0 \n"
        );
        assert_eq!(
            listing(d, "otherkeys", "", "node1"),
            "IPaddr2::198.51.100.81/24/eth0 Filesystem::/dev/sdb1::/data::ext4 mysql \n"
        );
        assert_eq!(listing(d, "listkeys", "node(", ""), "");
        assert_eq!(listing(&d.join("none"), "allkeys", "", ""), "");
    }
}
