//! The subcommands that talk to a running daemon over its control socket
//! ([`crate::control`]): `status`, `standby`, `takeover`, and the classic entry points
//! `hb_standby`, `hb_takeover` and `cl_status` (spec-behaviour §4.6, §10.6).

use crate::control::{self, ControlError};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

/// Exit code when the daemon cannot be reached.
pub const EXIT_NO_DAEMON: u8 = 3;

fn fail(e: &ControlError) -> u8 {
    eprintln!("hbctl: {e}");
    match e {
        ControlError::Connect { .. } => EXIT_NO_DAEMON,
        _ => 1,
    }
}

/// `hbctl status [--json]`.
pub fn status(socket: &Path, as_json: bool, out: &mut dyn Write) -> u8 {
    let v = match control::request(socket, &json!({"cmd": "status"})) {
        Ok(v) => v,
        Err(e) => return fail(&e),
    };
    let r = if as_json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        )
    } else {
        write_table(&v, out)
    };
    u8::from(r.is_err())
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("-")
}

fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

fn write_table(v: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "node {}: {} (generation {}), resources: {}{}",
        s(v, "node"),
        s(v, "status"),
        v.get("generation").and_then(Value::as_u64).unwrap_or(0),
        s(v, "resources"),
        if v.get("stable") == Some(&Value::Bool(true)) {
            ""
        } else {
            " (in transition)"
        }
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<20} {:<7} {:<8} {:>12} {:>14} {:>13}",
        "NODE", "TYPE", "STATE", "GENERATION", "LAST HEARD", "WORST GAP"
    )?;
    for n in arr(v, "nodes") {
        let ms = |k: &str| {
            n.get(k)
                .and_then(Value::as_u64)
                .map_or("-".to_string(), |x| format!("{x} ms"))
        };
        let name = if n.get("local") == Some(&Value::Bool(true)) {
            format!("{} (us)", s(n, "name"))
        } else {
            s(n, "name").to_string()
        };
        writeln!(
            out,
            "{:<20} {:<7} {:<8} {:>12} {:>14} {:>13}",
            name,
            s(n, "type"),
            s(n, "state"),
            n.get("generation").and_then(Value::as_u64).unwrap_or(0),
            ms("last_heard_ms"),
            ms("worst_gap_ms"),
        )?;
    }
    let links = arr(v, "links");
    if !links.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:<20} {:<24} {:<7} {:<5}",
            "LINK TO", "MEDIUM", "KIND", "STATE"
        )?;
        for l in links {
            writeln!(
                out,
                "{:<20} {:<24} {:<7} {:<5}",
                s(l, "node"),
                s(l, "medium"),
                s(l, "kind"),
                s(l, "state")
            )?;
        }
    }
    let groups = arr(v, "groups");
    writeln!(out)?;
    if groups.is_empty() {
        writeln!(out, "no resource groups")?;
    } else {
        writeln!(
            out,
            "{:<28} {:<12} {:<12} {:<9} RESOURCES",
            "GROUP", "PREFERRED", "OWNER", "STATE"
        )?;
        for g in groups {
            let res: Vec<&str> = arr(g, "resources")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            writeln!(
                out,
                "{:<28} {:<12} {:<12} {:<9} {}",
                s(g, "key"),
                s(g, "preferred"),
                g.get("owner").and_then(Value::as_str).unwrap_or("(none)"),
                s(g, "state"),
                res.join(" ")
            )?;
        }
    }
    crate::metrics::takeovers::write_table(arr(v, "takeovers"), out)?;
    write_relays(v, out)
}

/// The relay boards this node is wired to: our link, then each port as the board last said.
fn write_relays(v: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    for r in arr(v, "relays") {
        let roles: Vec<&str> = [("medium", "medium"), ("watchdog", "watchdog")]
            .into_iter()
            .filter(|(k, _)| r.get(*k) == Some(&Value::Bool(true)))
            .map(|(_, name)| name)
            .collect();
        let link = match (r.get("port").and_then(Value::as_u64), r.get("linked")) {
            (Some(p), Some(Value::Bool(true))) => format!("linked on port {p}"),
            _ => "not linked".to_string(),
        };
        writeln!(out)?;
        writeln!(
            out,
            "relay {}: {link}{}",
            s(r, "device"),
            if roles.is_empty() {
                String::new()
            } else {
                format!(" ({})", roles.join(", "))
            }
        )?;
        let board = arr(r, "board");
        if board.is_empty() {
            continue;
        }
        writeln!(
            out,
            "{:<6} {:<20} {:<7} {:>12} {:>7} {:>7}",
            "PORT", "HOST", "LINKED", "WATCHDOG", "RESETS", "FENCES"
        )?;
        for p in board {
            let n = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0);
            let yes = |k: &str| p.get(k) == Some(&Value::Bool(true));
            let host = p
                .get("host")
                .and_then(Value::as_str)
                .filter(|h| !h.is_empty());
            writeln!(
                out,
                "{:<6} {:<20} {:<7} {:>12} {:>7} {:>7}",
                n("port"),
                host.unwrap_or("-"),
                if yes("linked") { "yes" } else { "no" },
                if yes("armed") {
                    format!("{} ms", n("timeout_ms"))
                } else {
                    "off".to_string()
                },
                n("resets"),
                n("fences")
            )?;
        }
    }
    Ok(())
}

/// `hbctl standby [SET]` / `hb_standby [SET]` and `hbctl takeover [SET]` / `hb_takeover`.
#[inline(never)]
pub fn standby(socket: &Path, cmd: &str, what: Option<&str>) -> u8 {
    let what = what.unwrap_or("all");
    if !matches!(what, "all" | "local" | "foreign" | "failback") {
        eprintln!("usage: hb_{cmd} [all|foreign|local|failback]");
        return 1;
    }
    match control::request(socket, &json!({"cmd": cmd, "what": what})) {
        Ok(_) => {
            if cmd == "standby" {
                println!("Going standby [{what}].");
            } else {
                println!("Taking over [{what}].");
            }
            0
        }
        Err(e) => fail(&e),
    }
}

const CL_HELP: &str = "\
Usage: cl_status <sub-command> [<options>] [<parameters>]
Sub-commands:
  hbstatus                 Is heartbeat running on this machine?
  listnodes [-p|-n]        List the nodes (-p ping nodes only, -n normal nodes only)
  nodestatus <node>        The node's status: active, up, ping, dead, init
  nodetype <node>          normal or ping
  nodeweight <node>        The node's weight
  nodesite <node>          The node's site
  listhblinks <node>       The heartbeat links to a node
  hblinkstatus <node> <link>  up or dead
  clientstatus <node> <client> [<timeout>]  An API client's status
  rscstatus                This node's resources: none, local, foreign, all, transition
  hbparameter -p <name>    A ha.cf parameter as the daemon uses it
";

/// `cl_status` (spec-behaviour §10.6): same sub-commands, output and exit codes.
#[inline(never)]
pub fn cl_status(socket: &Path, args: &[String]) -> u8 {
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    // -m ("human readable") changes no output we produce.
    args.retain(|a| *a != "-m");
    let Some((&sub, rest)) = args.split_first() else {
        print!("{CL_HELP}");
        return 0;
    };
    if sub == "-h" || sub == "--help" {
        print!("{CL_HELP}");
        return 0;
    }
    let known = [
        "hbstatus",
        "listnodes",
        "nodestatus",
        "nodetype",
        "nodeweight",
        "nodesite",
        "listhblinks",
        "hblinkstatus",
        "clientstatus",
        "rscstatus",
        "hbparameter",
    ];
    if !known.contains(&sub) {
        eprintln!("{sub}: invalid sub-command.");
        return 11;
    }
    let status = control::request(socket, &json!({"cmd": "status"}));
    if sub == "hbstatus" {
        return match status {
            Ok(_) => {
                println!("Heartbeat is running on this machine.");
                0
            }
            Err(_) => {
                println!("Heartbeat is stopped on this machine.");
                1
            }
        };
    }
    let v = match status {
        Ok(v) => v,
        Err(e) => {
            eprintln!("Cannot signon with heartbeat");
            eprintln!("REASON: {e}");
            return 1;
        }
    };
    let nodes = arr(&v, "nodes");
    let find = |name: &str| {
        let name = name.to_lowercase();
        nodes.iter().find(|n| s(n, "name") == name)
    };
    let need_node = |rest: &[&str]| -> Result<&Value, u8> {
        let Some(name) = rest.first() else {
            eprintln!("{sub}: missing node name");
            return Err(11);
        };
        find(name).ok_or_else(|| {
            eprintln!("{name}: no such node");
            11
        })
    };
    match sub {
        "listnodes" => {
            let only = rest.first().copied();
            for n in nodes {
                let t = s(n, "type");
                let keep = match only {
                    Some("-p") => t == "ping",
                    Some("-n") => t == "normal",
                    _ => true,
                };
                if keep {
                    println!("{}", s(n, "name"));
                }
            }
            0
        }
        "nodestatus" => match need_node(rest) {
            Ok(n) => {
                let st = s(n, "state");
                println!("{st}");
                u8::from(!matches!(st, "active" | "up" | "ping"))
            }
            Err(c) => c,
        },
        "nodetype" => match need_node(rest) {
            Ok(n) => {
                println!("{}", s(n, "type"));
                0
            }
            Err(c) => c,
        },
        "nodeweight" => match need_node(rest) {
            Ok(_) => {
                println!("100");
                0
            }
            Err(c) => c,
        },
        "nodesite" => match need_node(rest) {
            Ok(_) => {
                println!();
                0
            }
            Err(c) => c,
        },
        "listhblinks" => match need_node(rest) {
            Ok(n) => {
                let name = s(n, "name");
                let mut seen = Vec::new();
                for l in arr(&v, "links").iter().filter(|l| s(l, "node") == name) {
                    let m = s(l, "medium");
                    if !seen.contains(&m) {
                        seen.push(m);
                        println!("\t{m}");
                    }
                }
                0
            }
            Err(c) => c,
        },
        "hblinkstatus" => match need_node(rest) {
            Ok(n) => {
                let name = s(n, "name");
                let Some(link) = rest.get(1) else {
                    eprintln!("hblinkstatus: missing link name");
                    return 11;
                };
                match arr(&v, "links")
                    .iter()
                    .find(|l| s(l, "node") == name && s(l, "medium") == *link)
                {
                    Some(l) => {
                        let st = s(l, "state");
                        println!("{st}");
                        u8::from(st != "up")
                    }
                    None => {
                        eprintln!("{link}: no such link to {name}");
                        1
                    }
                }
            }
            Err(c) => c,
        },
        "clientstatus" => match need_node(rest) {
            // hb has no API clients: every client is offline.
            Ok(_) => {
                println!("offline");
                1
            }
            Err(c) => c,
        },
        "rscstatus" => {
            println!("{}", s(&v, "resources"));
            0
        }
        "hbparameter" => {
            let name = match rest {
                ["-p", name, ..] => *name,
                _ => {
                    eprintln!("hbparameter: usage: hbparameter -p <name>");
                    return 11;
                }
            };
            match v.get("parameters").and_then(|p| p.get(name)) {
                Some(Value::String(x)) => {
                    println!("{x}");
                    0
                }
                _ => {
                    eprintln!("{name}: no such parameter");
                    1
                }
            }
        }
        _ => 11,
    }
}
