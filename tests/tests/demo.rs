//! README's first command, `hbctl demo`, as a test: it must build its cluster, fail over when
//! the active node loses power, report the client's wait, and leave nothing behind.

mod common;

use common::bin;

#[test]
fn demo_fails_over_and_cleans_up() {
    let out = hb_linux::lab::run_with_timeout(
        std::process::Command::new(bin("hbctl")).arg("demo"),
        std::time::Duration::from_secs(120),
    )
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("FAILOVER: "))
        .unwrap_or_else(|| panic!("no FAILOVER line:\n{text}"));
    let ms: u64 = line["FAILOVER: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    eprintln!("{line}");
    // deadtime is 500 ms; the takeover itself must not add more than a second on top.
    assert!((400..1500).contains(&ms), "{line}");
    assert!(
        text.contains("client: the service answers \"node1\""),
        "{text}"
    );
    let pid = out_pid_namespaces();
    assert!(pid.is_empty(), "namespaces left behind: {pid:?}");
}

/// Lab namespaces whose creating process is gone (the demo's, after it ended).
fn out_pid_namespaces() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.strip_prefix(hb_linux::lab::PREFIX)
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
        })
        .collect()
}
