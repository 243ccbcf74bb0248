//! The figures that need no cluster: bytes per keepalive on a serial line (the engine's own
//! status message, classic text as 3.0.6 sends it vs our compact frame), the core's
//! throughput (criterion's estimate, from `cargo bench -p hb-core --bench feed`), and the
//! relay images' flash and RAM (from `tests/boards.sh --build-only`'s size table).

use hb_core::auth::{Keyring, Method};
use hb_core::config::HaCf;
use hb_core::engine::{Encoding, Membership, MembershipConfig};
use hb_core::time::Instant;

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Statics {
    /// (encoding, bytes of one status message on the line).
    pub serial: Vec<(String, usize)>,
    /// (benchmark, ns per message) from criterion.
    pub throughput: Vec<(String, f64)>,
    /// (image, text, data, bss) in bytes.
    pub relay: Vec<(String, u64, u64, u64)>,
    /// Stack peaks the relay image reported under QEMU, if boards.sh ran in full.
    pub relay_stack: Vec<String>,
    /// (binary, bytes) of the appliance builds in target/appliance-bin (tests/appliance.sh).
    #[serde(default)]
    pub appliance: Vec<(String, u64)>,
}

pub fn measure() -> Result<Statics, String> {
    Ok(Statics {
        serial: serial_bytes()?,
        throughput: criterion()?,
        // The board images are optional here: where tests/boards.sh did not run, BENCHMARKS.md
        // says so instead of giving their size.
        relay: relay_sizes().unwrap_or_else(|e| {
            eprintln!("bench: relay sizes: {e}");
            Vec::new()
        }),
        relay_stack: relay_stack(),
        appliance: appliance_sizes(),
    })
}

/// The stripped appliance binaries tests/appliance.sh left, if it ran.
fn appliance_sizes() -> Vec<(String, u64)> {
    ["hb-x86_64-musl", "hb-armv7"]
        .iter()
        .filter_map(|n| {
            let m = std::fs::metadata(format!("target/appliance-bin/{n}")).ok()?;
            Some((n.to_string(), m.len()))
        })
        .collect()
}

/// One status message as the engine sends it on each kind of medium.
fn serial_bytes() -> Result<Vec<(String, usize)>, String> {
    let text = "keepalive 1\ndeadtime 10\nudpport 694\nbcast eth1\nserial /dev/ttyS0\n\
                serial /dev/ttyS1\nnode node1 node2\n";
    let cf = HaCf::parse(text, &mut |_| {}).map_err(|e| e.to_string())?;
    let mut keys = Keyring::new();
    keys.insert(1, Method::Sha1, b"hb-bench-cluster")
        .map_err(|e| format!("{e:?}"))?;
    keys.set_active(1).map_err(|e| format!("{e:?}"))?;
    let mut cfg = MembershipConfig::from_hacf(&cf, "node1", [0x5a; 16], 1_764_800_000, keys, 1)
        .map_err(|e| e.to_string())?;
    // A realistic load average (3.0.6 sends /proc/loadavg).
    cfg.load_average = "0.26 0.12 0.10 6/102 11977"
        .try_into()
        .map_err(|_| "load average too long")?;
    // The second serial line carries our compact frames instead of classic text.
    cfg.media[2].encoding = Encoding::Compact;
    let wall = 1_764_800_000;
    let t0 = Instant::from_millis(0);
    let mut e: Membership<4, 4> = Membership::new(&cfg, t0, wall).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 2048];
    let mut out: Vec<(String, usize)> = Vec::new();
    // The first keepalives after start-up are plain status messages.
    for ms in (0..=3000).step_by(1000) {
        let now = Instant::from_millis(ms);
        e.handle_timeout(now, wall);
        while e.poll_event().is_some() {}
        while let Some(t) = e.poll_transmit(now, &mut buf) {
            let text = String::from_utf8_lossy(&buf[..t.len]);
            if t.encoding != Encoding::Compact && !text.contains("t=status") {
                continue;
            }
            let name = match t.encoding {
                Encoding::Netstring => "netstring (UDP media)",
                Encoding::Classic => "classic text (serial, as 3.0.6)",
                Encoding::Compact => "compact frame (serial between hb nodes, relay)",
            };
            if !out.iter().any(|(n, _)| n == name) {
                out.push((name.to_string(), t.len));
            }
        }
    }
    if out.len() < 3 {
        return Err(format!(
            "expected a status message in each encoding, got {out:?}"
        ));
    }
    out.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    Ok(out)
}

fn criterion() -> Result<Vec<(String, f64)>, String> {
    let root = std::path::Path::new("target/criterion");
    let mut out = Vec::new();
    let Ok(groups) = std::fs::read_dir(root) else {
        return Err("no target/criterion: run `cargo bench -p hb-core --bench feed` first (tests/benchmarks.sh does)".into());
    };
    for g in groups.flatten() {
        for b in std::fs::read_dir(g.path()).into_iter().flatten().flatten() {
            let est = b.path().join("new/estimates.json");
            let bench = b.path().join("new/benchmark.json");
            let (Ok(est), Ok(bench)) = (
                std::fs::read_to_string(&est),
                std::fs::read_to_string(&bench),
            ) else {
                continue;
            };
            let est: serde_json::Value = serde_json::from_str(&est).map_err(|e| e.to_string())?;
            let bench: serde_json::Value =
                serde_json::from_str(&bench).map_err(|e| e.to_string())?;
            let ns = est["median"]["point_estimate"].as_f64().unwrap_or(f64::NAN);
            let id = bench["full_id"].as_str().unwrap_or("?").to_string();
            out.push((id, ns));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn relay_sizes() -> Result<Vec<(String, u64, u64, u64)>, String> {
    let p = "target/bench/boards.txt";
    let text = std::fs::read_to_string(p)
        .map_err(|e| format!("{p}: {e} (tests/benchmarks.sh writes it with tests/boards.sh)"))?;
    let mut out = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 6 && f[0].parse::<u64>().is_ok() {
            let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
            let name = std::path::Path::new(f[5])
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, n(0), n(1), n(2)));
        }
    }
    if out.is_empty() {
        return Err(format!("{p}: no size table"));
    }
    Ok(out)
}

fn relay_stack() -> Vec<String> {
    std::fs::read_to_string("target/bench/boards.txt")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("stack peak") || l.contains("RAM of"))
        .map(str::to_string)
        .collect()
}
