//! The `stonith(8)` and `meatclient(8)` commands (cluster-glue `lib/stonith/main.c` and
//! `meatclient.c`), as far as our plugins go: `hbctl stonith …` / `hbctl meatclient …`, or this
//! program called `stonith` / `meatclient`.
//!
//! `stonith` options: `-L` list types; `-t TYPE` with `-h` (help), `-n` (parameter names),
//! `-m` (metadata), and, given parameters by `-p STRING`, `-F FILE`, `-E` (environment) or
//! `name=value` words: `-S` status, `-l` list hosts, `-T reset|on|off NODE`, `-c COUNT`
//! repeats; `-s` silent, `-v`, `-d` accepted. Messages go to stderr as `prio: text`, as glue
//! does on a terminal. Exit status: glue's codes (0 OK, 1 bad config, 3 invalid, 4 bad host,
//! 5 reset failed, 6 time-out, 8 oops).

use super::{
    compat_params, config_file_params, meatclient, new_plugin, parse_pairs, types, InfoKind,
    Plugin, PluginEnv, ResetAction, StonithError,
};
use crate::log::{LogLine, Priority};
use hb_core::resources::FenceResult;
use std::io::Write;

const OPTIONS_WITH_ARG: &str = "cFptT";
const OPTIONS_FLAGS: &str = "EsnSlLmvhVd";

/// `stonith ARGS…` (without the program name).
pub fn stonith_main(
    cmd: &str,
    args: &[String],
    env: &PluginEnv,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut opts: Vec<(char, Option<String>)> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut errors = 0;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            words.extend(args[i..].iter().cloned());
            break;
        }
        // Not in glue's getopt string, but what people type (and clap's habit in hbctl).
        if a == "--help" {
            opts.push(('h', None));
            continue;
        }
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            words.push(a.clone());
            continue;
        };
        for (k, c) in flags.char_indices() {
            if OPTIONS_WITH_ARG.contains(c) {
                let rest = &flags[k + c.len_utf8()..];
                let value = if !rest.is_empty() {
                    Some(rest.to_string())
                } else if i < args.len() {
                    i += 1;
                    Some(args[i - 1].clone())
                } else {
                    let _ = writeln!(err, "{cmd}: option requires an argument -- '{c}'");
                    errors += 1;
                    None
                };
                opts.push((c, value));
                break;
            } else if OPTIONS_FLAGS.contains(c) {
                opts.push((c, None));
            } else {
                let _ = writeln!(err, "{cmd}: invalid option -- '{c}'");
                errors += 1;
            }
        }
    }
    let flag = |c: char| opts.iter().any(|(o, _)| *o == c);
    let value = |c: char| {
        opts.iter()
            .rev()
            .find(|(o, _)| *o == c)
            .and_then(|(_, v)| v.clone())
    };
    let silent = flag('s');
    let mut log = |l: LogLine| {
        if l.priority != Priority::Debug {
            let _ = writeln!(err, "{}: {}", l.priority.name(), l.text);
        }
    };
    let count = match value('c').map(|c| c.parse::<u32>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            let _ = writeln!(err, "bad count [{}]", value('c').unwrap_or_default());
            return usage(cmd, 1, None, env, out, err);
        }
    };
    let action = match value('T').as_deref() {
        None | Some("reset") => ResetAction::Reset,
        Some("on") => ResetAction::On,
        Some("off") => ResetAction::Off,
        Some(other) => {
            let _ = writeln!(err, "bad reset type [{other}]");
            return usage(cmd, 1, None, env, out, err);
        }
    };
    if flag('V') {
        let _ = writeln!(out, "stonith: hb {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let kind = value('t');
    if flag('h') && errors == 0 {
        return usage(cmd, 0, kind.as_deref(), env, out, err);
    }
    let (file, params, from_env) = (value('F'), value('p'), flag('E'));
    if [file.is_some(), params.is_some(), from_env]
        .iter()
        .filter(|b| **b)
        .count()
        > 1
    {
        let _ = writeln!(err, "Please use just one of -F, -p, and -E options");
        return usage(cmd, 1, None, env, out, err);
    }
    // name=value words come before the node name.
    let mut nv: Vec<(String, String)> = Vec::new();
    while let Some((n, v)) = words.first().and_then(|w| w.split_once('=')) {
        if file.is_some() || params.is_some() || from_env {
            let _ = writeln!(
                err,
                "Cannot mix name=value and -p, -F, or -E style arguments"
            );
            return usage(cmd, 1, None, env, out, err);
        }
        nv.push((n.to_string(), v.to_string()));
        words.remove(0);
    }
    let (status, list_hosts, list_types, list_names, metadata) =
        (flag('S'), flag('l'), flag('L'), flag('n'), flag('m'));
    if !(words.len() == 1
        || (words.is_empty() && (status || list_hosts || list_types || list_names || metadata)))
    {
        errors += 1;
    }
    if errors > 0 {
        return usage(cmd, 1, None, env, out, err);
    }
    if list_types {
        for t in types(env) {
            let _ = writeln!(out, "{t}");
        }
        return 0;
    }
    let Some(kind) = kind else {
        log(LogLine::error("Must specify device type (-t option)"));
        return usage(cmd, 1, None, env, out, err);
    };
    let Some(mut plugin) = new_plugin(&kind, env) else {
        log(LogLine::error(format!("Invalid device type: '{kind}'")));
        return 8;
    };
    let names = match plugin.config_names() {
        Ok(n) => n,
        Err(e) => {
            log(LogLine::error(e.to_string()));
            return e.code();
        }
    };
    if list_names {
        let line: String = names.iter().map(|n| format!("{n}  ")).collect();
        let _ = writeln!(out, "{line}");
        return 0;
    }
    if metadata {
        print_metadata(&kind, &mut *plugin, out);
        return 0;
    }
    // fence agents take name=value words where glue's plugins take values in order.
    let pairs_of = |text: &str| {
        if plugin.takes_pairs() {
            parse_pairs(text)
        } else {
            compat_params(&names, text)
        }
    };
    let pairs = if let Some(f) = &file {
        match config_file_params(std::path::Path::new(f)).and_then(|p| pairs_of(&p)) {
            Ok(p) => p,
            Err(e) => {
                log(LogLine::error(format!(
                    "Invalid config file for {kind} device. ({e})"
                )));
                return 1;
            }
        }
    } else if let Some(p) = &params {
        match pairs_of(p) {
            Ok(p) => p,
            Err(_) => {
                let _ = writeln!(err, "Invalid STONITH -p parameter [{p}]");
                return 1;
            }
        }
    } else if from_env {
        names
            .iter()
            .filter_map(|n| std::env::var(n).ok().map(|v| (n.clone(), v)))
            .collect()
    } else {
        if nv.is_empty() && !names.is_empty() && !plugin.takes_pairs() {
            let _ = writeln!(
                err,
                "Must specify either -p option, -F option, -E option, or name=value style \
                 arguments"
            );
            return usage(cmd, 1, None, env, out, err);
        }
        nv
    };
    if let Err(e) = plugin.configure(&pairs) {
        let _ = writeln!(err, "Invalid config info for {kind} device ({e})");
        if params.is_none() && file.is_none() && !from_env {
            let _ = writeln!(err, "Valid config names are:");
            for n in &names {
                let _ = writeln!(err, "\t{n}");
            }
        }
        return e.code();
    }
    let timeout = plugin.default_timeout();
    let mut rc = 0u8;
    for _ in 0..count {
        rc = 0;
        if status {
            let r = plugin.status(timeout, &mut log);
            rc = r.as_ref().map_or_else(StonithError::code, |_| 0);
            if !silent {
                match r {
                    Ok(()) => log(LogLine::info(format!("{kind} device OK."))),
                    Err(_) => log(LogLine::error(format!("{kind} device not accessible."))),
                }
            }
        }
        if list_hosts {
            match plugin.hosts(timeout, &mut log) {
                Ok(hosts) => {
                    for h in hosts {
                        let _ = writeln!(out, "{h}");
                    }
                }
                Err(_) => {
                    log(LogLine::error(format!("Could not list hosts for {kind}.")));
                    rc = 255;
                }
            }
        }
        if let Some(node) = words.first() {
            rc = match plugin.reset(&node.to_ascii_lowercase(), action, timeout, &mut log) {
                FenceResult::Ok => 0,
                FenceResult::BadHost => 4,
                FenceResult::Failed => 5,
            };
        }
    }
    rc
}

fn usage(
    cmd: &str,
    code: u8,
    kind: Option<&str>,
    env: &PluginEnv,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let stream: &mut dyn Write = if code == 0 { out } else { err };
    if kind.is_none() {
        let p = "-p stonith-device-parameters | -F stonith-device-parameters-file | -E | \
                 name=value...";
        let _ = write!(
            stream,
            "usage:\n\
             \t {cmd} [-svh] -L\n\
             \t {cmd} [-svh] -t stonith-device-type -n\n\
             \t {cmd} [-svh] -t stonith-device-type -m\n\
             \t {cmd} [-svh] -t stonith-device-type {{{p}}} [-c count] -lS\n\
             \t {cmd} [-svh] -t stonith-device-type {{{p}}} [-c count] -T {{reset|on|off}} nodename\n\
             \nwhere:\n\
             \t-L\tlist supported stonith device types\n\
             \t-l\tlist hosts controlled by this stonith device\n\
             \t-S\treport stonith device status\n\
             \t-s\tsilent\n\
             \t-v\tverbose\n\
             \t-n\toutput the config names of stonith-device-parameters\n\
             \t-m\tdisplay meta-data of the stonith device type\n\
             \t-h\tdisplay detailed help message with stonith device description(s)\n"
        );
    }
    if code == 0 {
        confhelp(stream, kind, env);
    }
    code
}

/// Per-type help (glue's `confhelp`).
fn confhelp(stream: &mut dyn Write, kind: Option<&str>, env: &PluginEnv) {
    if kind.is_none() {
        let _ = writeln!(
            stream,
            "\nSTONITH -t device types and associated configuration details:"
        );
    }
    let list = types(env);
    let mut found = false;
    for t in &list {
        if kind.is_some_and(|k| k != t) {
            continue;
        }
        let Some(mut plugin) = new_plugin(t, env) else {
            continue;
        };
        found = true;
        let _ = write!(stream, "\n\nSTONITH Device: {t} - ");
        if let Some(d) = plugin.info(InfoKind::Description) {
            let _ = writeln!(stream, "{d}");
        }
        if let Some(u) = plugin.info(InfoKind::Url) {
            let _ = writeln!(stream, "For more information see {u}");
        }
        let Ok(names) = plugin.config_names() else {
            continue;
        };
        let _ = writeln!(
            stream,
            "List of valid parameter names for {t} STONITH device:"
        );
        for n in names {
            let _ = writeln!(stream, "\t{n}");
        }
        let _ = write!(
            stream,
            "For Config info [-p] syntax, give each of the above parameters in order as\n\
             the -p value.\nArguments are separated by white space.\
             \nConfig file [-F] syntax is the same as -p, except # at the start of a line\n\
             denotes a comment\n"
        );
    }
    if let Some(k) = kind {
        if !found {
            let _ = writeln!(stream, "Invalid device type: '{k}'");
        }
    }
}

fn print_metadata(kind: &str, plugin: &mut dyn Plugin, out: &mut dyn Write) {
    let esc = |s: String| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let long = esc(plugin
        .info(InfoKind::Description)
        .unwrap_or_else(|| "<!-- no value -->".into()));
    let short = esc(plugin
        .info(InfoKind::DeviceId)
        .unwrap_or_else(|| "<!-- no value -->".into()));
    let params = plugin
        .info(InfoKind::Xml)
        .unwrap_or_else(|| "<!-- no value -->".into());
    let _ = write!(
        out,
        "<?xml version=\"1.0\"?>\n\
         <!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n\
         <resource-agent name=\"{kind}\">\n<version>1.0</version>\n\
         <longdesc lang=\"en\">\n{long}\n</longdesc>\n\
         <shortdesc lang=\"en\">{short}</shortdesc>\n{params}\n<actions>\n\
         <action name=\"start\"   timeout=\"20\" />\n\
         <action name=\"stop\"    timeout=\"15\" />\n\
         <action name=\"status\"  timeout=\"20\" />\n\
         <action name=\"monitor\" timeout=\"20\" interval=\"3600\" />\n\
         <action name=\"meta-data\"  timeout=\"15\" />\n</actions>\n\
         <special tag=\"heartbeat\">\n<version>2.0</version>\n</special>\n\
         </resource-agent>\n"
    );
}

/// `meatclient ARGS…` (without the program name): `-c NODE [-w]`.
pub fn meatclient_main(
    cmd: &str,
    args: &[String],
    env: &PluginEnv,
    input: &mut dyn std::io::BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut node = None;
    let mut wait = false;
    let mut ok = true;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-w" => wait = true,
            "-c" if i + 1 < args.len() => {
                node = Some(args[i + 1].clone());
                i += 1;
            }
            a if a.starts_with("-c") && a.len() > 2 => node = Some(a[2..].to_string()),
            _ => ok = false,
        }
        i += 1;
    }
    let Some(node) = node.filter(|_| ok) else {
        let _ = writeln!(err, "usage: {cmd} -c node [-w]");
        return 3;
    };
    meatclient(&env.meatware_dir, &node, wait, input, out, err)
}

/// `stonith` as this program's name or `hbctl stonith`.
#[inline(never)]
pub fn run_stonith(cmd: &str, args: &[String]) -> u8 {
    let env = PluginEnv::default();
    stonith_main(
        cmd,
        args,
        &env,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// `meatclient` as this program's name or `hbctl meatclient`.
#[inline(never)]
pub fn run_meatclient(cmd: &str, args: &[String]) -> u8 {
    let env = PluginEnv::default();
    meatclient_main(
        cmd,
        args,
        &env,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}
