//! The packaged documentation generated from the code: `heartbeat(8)` and `hbctl(8)` from
//! their clap definitions (clap_mangen) and their bash completions (clap_complete). The
//! configuration pages (ha.cf(5), haresources(5), authkeys(5)) are hand-written roff in
//! `dist/man/`, one source file each, shipped as they are.

use std::io;
use std::path::{Path, PathBuf};

/// Sections clap cannot know: where things live and what to read next.
const HEARTBEAT_EXTRA: &str = r#".SH FILES
.TP
\fI/etc/ha.d/ha.cf\fR, \fI/etc/ha.d/haresources\fR, \fI/etc/ha.d/authkeys\fR
The configuration, read unchanged from heartbeat 3.0.6 (see \fBha.cf\fR(5),
\fBharesources\fR(5), \fBauthkeys\fR(5)); samples in \fI/usr/share/doc/hb/examples\fR.
.TP
\fI/etc/ha.d/resource.d/\fR
Resource scripts named in haresources (heartbeat style); OCF and LSB scripts are found
in their usual places.
.TP
\fI/var/lib/heartbeat/\fR
The generation counter and the node's UUID.
.TP
\fI/run/heartbeat/hbctl.sock\fR
The control socket \fBhbctl\fR(8), \fBcl_status\fR, \fBhb_standby\fR and \fBhb_takeover\fR use.
.TP
\fI/var/run/heartbeat.pid\fR
The daemon's pid, as 3.0.6 writes it.
.SH RELOAD
\fBheartbeat \-r\fR (or SIGHUP) re-reads the files, as heartbeat 3.0.6 does. A changed
\fIha.cf\fR makes the daemon re-execute itself keeping its resources: the same pid, a new
generation, no resource script run, the service address left in place; peers are asked to
wait (deadtime + 30 s) and take nothing. A changed \fIauthkeys\fR alone applies at once.
Invalid files are refused with \fIFILE:LINE:COL: message\fR lines and the daemon runs on
unchanged. A changed \fIharesources\fR, or three or more nodes, is reported and applies at
the next start. \fB\-R\fR, \fB\-C\fR and \fB\-\-held\fR are the re-executed daemon's
own flags.
.SH EXIT STATUS
0 on success; 6 for a configuration error, with one \fIFILE:LINE:COL: message\fR line per
problem; with \fB\-s\fR, 0 running, 3 stopped, 1 a stale pid file.
.SH SEE ALSO
\fBhbctl\fR(8), \fBha.cf\fR(5), \fBharesources\fR(5), \fBauthkeys\fR(5),
\fI/usr/share/doc/hb/README.Debian\fR (installing beside or instead of heartbeat 3.0.6, and
the rolling upgrade).
"#;

const HBCTL_EXTRA: &str = r#".SH CLASSIC NAMES
Called as \fBcl_status\fR, \fBhb_standby\fR, \fBhb_takeover\fR, \fBstonith\fR or
\fBmeatclient\fR (the package installs these names as links to \fBhbctl\fR where heartbeat
3.0.6 and cluster-glue put them), it is that tool with its classic arguments.
.SH EXIT STATUS
\fBdecode\fR: 0 valid, 1 bad authentication, 2 malformed. \fBcheck\-config\fR: 0 clean,
1 problems, 2 unreadable. \fBstatus\fR: 3 when no daemon runs.
.SH EXAMPLES
Check the shipped samples, which is what a new node starts from:
.PP
.nf
    hbctl check-config -c /usr/share/doc/hb/examples --syntax-only
.fi
.SH SEE ALSO
\fBheartbeat\fR(8), \fBha.cf\fR(5), \fBharesources\fR(5), \fBauthkeys\fR(5)
"#;

/// Writes `heartbeat.8`, `hbctl.8` and the bash completions `heartbeat` and `hbctl` into
/// `dir` (created if missing); the files written.
pub fn write_all(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (cmd, extra) in [
        (crate::daemon::cli::command(), HEARTBEAT_EXTRA),
        (crate::hbctl::command(), HBCTL_EXTRA),
    ] {
        let name = cmd.get_name().to_string();
        let page = dir.join(format!("{name}.8"));
        std::fs::write(&page, man_page(cmd.clone(), extra)?)?;
        written.push(page);
        let mut completion = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut cmd.clone(),
            name.as_str(),
            &mut completion,
        );
        let file = dir.join(format!("{name}.bash"));
        std::fs::write(&file, completion)?;
        written.push(file);
    }
    // clap_mangen's hbctl(8) names a page per subcommand (hbctl-decode(8), …): write them.
    let hbctl = crate::hbctl::command();
    for sub in hbctl.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("hbctl-{}", sub.get_name());
        let page = dir.join(format!("{name}.8"));
        let see_also = ".SH SEE ALSO\n\\fBhbctl\\fR(8)\n";
        let cmd = sub
            .clone()
            .name(&name)
            .bin_name(format!("hbctl {}", sub.get_name()));
        std::fs::write(&page, man_page(cmd, see_also)?)?;
        written.push(page);
    }
    Ok(written)
}

/// One command's page in section 8, with `extra` roff after clap's sections.
pub fn man_page(cmd: clap::Command, extra: &str) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .manual("hb")
        .render(&mut out)?;
    out.extend_from_slice(extra.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_of_the_daemon_is_on_its_page() {
        let page =
            String::from_utf8(man_page(crate::daemon::cli::command(), HEARTBEAT_EXTRA).unwrap())
                .unwrap();
        for arg in crate::daemon::cli::command().get_arguments() {
            if let Some(short) = arg.get_short() {
                assert!(
                    page.contains(&format!("\\-{short}")),
                    "-{short} is not on heartbeat(8)"
                );
            }
        }
        assert!(page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH heartbeat 8"));
        assert!(page.contains(".SH FILES"));
    }

    #[test]
    fn every_subcommand_of_hbctl_is_on_its_page_and_in_its_completion() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path()).unwrap();
        let page = std::fs::read_to_string(dir.path().join("hbctl.8")).unwrap();
        let completion = std::fs::read_to_string(dir.path().join("hbctl.bash")).unwrap();
        for sub in crate::hbctl::command().get_subcommands() {
            if sub.is_hide_set() {
                continue;
            }
            let name = sub.get_name();
            assert!(
                page.contains(&name.replace('-', "\\-")),
                "{name} is not on hbctl(8)"
            );
            assert!(completion.contains(name), "{name} is not completed");
        }
        assert!(dir.path().join("heartbeat.bash").exists());
        let decode = std::fs::read_to_string(dir.path().join("hbctl-decode.8")).unwrap();
        assert!(decode.contains("\\-\\-authkeys"), "{decode}");
    }

    /// Every directive hb-core's ha.cf parser knows (its match arms) is in the shipped
    /// sample (as a line, commented or not) and on ha.cf(5).
    #[test]
    fn every_ha_cf_directive_is_in_the_sample_and_on_the_page() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        // The parser is a folder by topic: every room's match arms count.
        let mut parser = String::new();
        for entry in std::fs::read_dir(root.join("../hb-core/src/config/hacf")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                parser += &std::fs::read_to_string(path).unwrap();
            }
        }
        let sample = std::fs::read_to_string(root.join("dist/examples/ha.cf")).unwrap();
        let page = std::fs::read_to_string(root.join("dist/man/ha.cf.5")).unwrap();
        let mut directives = Vec::new();
        for line in parser.lines() {
            let t = line.trim_start();
            let Some((names, arm)) = t.split_once(" => ") else {
                continue;
            };
            if !(arm.starts_with("Opt::")
                || arm.starts_with("return self.")
                || arm.starts_with("Some(WordMedium::"))
            {
                continue;
            }
            for n in names.split(" | ") {
                if let Some(n) = n.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
                    directives.push(n.to_string());
                }
            }
        }
        assert!(
            directives.len() > 50,
            "parser arms not found: {directives:?}"
        );
        for d in &directives {
            let in_sample = sample.lines().any(|l| {
                let l = l.trim_start_matches('#');
                l.split_whitespace().next() == Some(d.as_str())
            });
            assert!(in_sample, "{d} is not in dist/examples/ha.cf");
            // `crm` and `pacemaker` are one directive, documented under crm.
            if d != "pacemaker" {
                assert!(page.contains(&format!(".B {d}")), "{d} is not on ha.cf(5)");
            }
        }
    }
}
