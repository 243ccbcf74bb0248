//! Issue 17 under QEMU: an unkeyed image refuses to forward and fence; `hbctl relay provision`
//! keys it over host 0's line; it then relays and fences (`hbctl relay test`); the key survives
//! a chip-watchdog reset; a re-key signed with a wrong key is refused; provisioning requests cut
//! off half way change nothing.
//!
//! `hbctl` runs as a program: it is given a Unix socket that this test proxies to host 0's
//! line (the rig owns the line's socket, QEMU being its client).

use crate::rig::{Rig, MAX_WAIT};
use crate::{
    check, heartbeat, relay_frame, stack_peak, Ctx, FAR_COUNTER, PET_EVERY, QUIET, SETTLE,
};
use hb_core::auth::Method;
use hb_core::relay::Body;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one `hbctl relay` command may take at most (it waits 2 s for an answer that does
/// not come, 3 s for a fence).
const HBCTL_WAIT: Duration = Duration::from_secs(20);

/// What a run of hbctl gave.
struct Run {
    ok: bool,
    out: String,
    err: String,
}

impl Run {
    fn text(&self) -> String {
        format!("stdout: {}\nstderr: {}", self.out.trim(), self.err.trim())
    }
}

/// A configuration directory with an authkeys file.
fn config_dir(base: &Path, name: &str, authkeys: &str) -> Result<PathBuf, String> {
    let dir = base.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let f = dir.join("authkeys");
    std::fs::write(&f, authkeys).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    Ok(dir)
}

/// Runs `hbctl relay ARGS…` with `SOCK` in them replaced by a socket proxied to host 0's line.
fn hbctl(ctx: &Ctx, rig: &Rig, dir: &Path, args: &[&str]) -> Result<Run, String> {
    let hbctl = ctx
        .hbctl
        .as_ref()
        .ok_or("the provision test needs --hbctl PATH (and --unkeyed-elf)")?;
    let sock = dir.join("relay0.sock");
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).map_err(|e| format!("{}: {e}", sock.display()))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            if *a == "SOCK" {
                sock.display().to_string()
            } else {
                a.to_string()
            }
        })
        .collect();
    let mut child = Command::new(hbctl)
        .arg("relay")
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", hbctl.display()))?;
    let line = rig.hosts[0].stream();
    let mut conn: Option<UnixStream> = None;
    let deadline = Instant::now() + HBCTL_WAIT;
    let mut buf = [0u8; 4096];
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "hbctl relay {} did not finish in {HBCTL_WAIT:?}",
                args.join(" ")
            ));
        }
        if conn.is_none() {
            if let Ok((c, _)) = listener.accept() {
                c.set_nonblocking(true).map_err(|e| e.to_string())?;
                conn = Some(c);
            }
        }
        {
            let mut fds = vec![PollFd::new(line.as_fd(), PollFlags::POLLIN)];
            if let Some(c) = &conn {
                fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
            }
            let _ = poll(&mut fds, PollTimeout::from(5u8));
        }
        // Relay → hbctl (dropped while hbctl is not connected yet).
        loop {
            match (&*line).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(c) = &mut conn {
                        let _ = c.write_all(&buf[..n]);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("host 0's line: {e}")),
            }
        }
        // hbctl → relay.
        if let Some(c) = &mut conn {
            loop {
                match c.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => write_line(line, &buf[..n])?,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
        }
    };
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    Ok(Run {
        ok: status.success(),
        out: String::from_utf8_lossy(&output.stdout).into_owned(),
        err: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

fn write_line(mut line: &UnixStream, mut bytes: &[u8]) -> Result<(), String> {
    let deadline = Instant::now() + MAX_WAIT;
    while !bytes.is_empty() {
        match line.write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(100));
            }
            Err(e) => return Err(format!("host 0's line: {e}")),
        }
    }
    Ok(())
}

/// A key request for `keys`'s key 1, on link 0 and signed with it: a first provisioning.
fn first_key_request(secret: &[u8]) -> Vec<u8> {
    let mut k = hb_core::auth::Keyring::new();
    k.insert(1, Method::Sha256, secret).expect("key");
    k.set_active(1).expect("active");
    relay_frame(
        &k,
        0,
        0,
        Body::Key {
            session: 9,
            index: 1,
            method: Method::Sha256,
            secret,
        },
    )
}

/// The factory-reset jumper of the emulated board: a RAM word QEMU's loader sets before every
/// boot (`boards/qemu-mps2-an385/src/hw.rs`).
const JUMPER: &[&str] = &[
    "-device",
    "loader,addr=0x203f0000,data=0x46414354,data-len=4",
];

/// With the jumper fitted, the board erases its key store at every boot: a key provisioned
/// meanwhile is gone after the next (watchdog) reset.
pub fn factory_reset(ctx: &Ctx) -> Result<String, String> {
    let elf = ctx
        .unkeyed_elf
        .as_ref()
        .ok_or("the factory_reset test needs --unkeyed-elf (the unkeyed test-hang image)")?;
    let authkeys = std::fs::read_to_string(&ctx.authkeys).map_err(|e| e.to_string())?;
    let tmp = std::env::temp_dir().join(format!("relay-qemu-factory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let good = config_dir(&tmp, "good", &authkeys)?;
    let result = (|| {
        let mut rig = Rig::start_with(elf, ctx.verbose, JUMPER)?;
        let fitted = |r: &Rig| {
            r.log_matching(|l| l.text.starts_with("FACTORY RESET"))
                .len()
        };
        check(fitted(&rig) == 1, || {
            "the jumper was not seen at boot".into()
        })?;
        let dir = good.display().to_string();
        let p = hbctl(ctx, &rig, &good, &["provision", "SOCK", "-c", &dir])?;
        check(p.ok, || format!("provision: {}", p.text()))?;
        let link = ctx.link(&mut rig, 1)?;
        rig.hosts[1].send_raw(&relay_frame(&ctx.keys, link, FAR_COUNTER, Body::Hang));
        rig.wait_log(Duration::from_secs(5), |l| l.text.starts_with("HANG"))
            .ok_or("the relay did not hang")?;
        rig.wait_log(Duration::from_secs(5), |l| l.text.starts_with("KEY none"))
            .ok_or("the key survived a boot with the jumper fitted")?;
        check(fitted(&rig) == 2, || {
            "the jumper was not seen at the second boot".into()
        })?;
        let st = hbctl(ctx, &rig, &good, &["status", "SOCK", "-c", &dir])?;
        check(st.out.contains("key: none"), || {
            format!("status: {}", st.text())
        })?;
        Ok("(provisioned, then erased at the next boot by the fitted jumper)".to_string())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

pub fn provision(ctx: &Ctx) -> Result<String, String> {
    let elf = ctx
        .unkeyed_elf
        .as_ref()
        .ok_or("the provision test needs --unkeyed-elf (the unkeyed test-hang image)")?;
    let authkeys = std::fs::read_to_string(&ctx.authkeys).map_err(|e| e.to_string())?;
    let secret = authkeys
        .lines()
        .find_map(|l| l.strip_prefix("1 sha256 "))
        .ok_or("the test authkeys has no `1 sha256 KEY` line")?
        .trim()
        .to_string();
    let tmp = std::env::temp_dir().join(format!("relay-qemu-provision-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let good = config_dir(&tmp, "good", &authkeys)?;
    let wrong = config_dir(&tmp, "wrong", "auth 1\n1 sha256 not-the-cluster-key\n")?;
    let result = run(ctx, elf, &good, &wrong, secret.as_bytes());
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn run(ctx: &Ctx, elf: &Path, good: &Path, wrong: &Path, secret: &[u8]) -> Result<String, String> {
    let mut rig = ctx.rig(elf)?;
    let boot = rig.log_matching(|l| l.text.starts_with("BOOT "));
    check(
        boot.iter().any(|l| l.field("keyed") == Some("false")),
        || format!("not an unkeyed image: {boot:?}"),
    )?;
    // Logged before READY, which the rig waited for.
    check(
        !rig.log_matching(|l| l.text.starts_with("KEY none"))
            .is_empty(),
        || "the unkeyed relay did not say it has no key".into(),
    )?;

    // Unprovisioned: no forwarding, no link, no fence.
    rig.hosts[1].send_raw(&heartbeat(&ctx.keys, "node2", 1));
    rig.hosts[1].attach_client(ctx.keys.clone(), "node2", 0x5e55_0001);
    rig.hosts[1]
        .client()
        .hello()
        .map_err(|e| format!("{e:?}"))?;
    rig.hosts[2].send_raw(&relay_frame(
        &ctx.keys,
        1,
        FAR_COUNTER,
        Body::Fence {
            target: 3,
            action: hb_core::relay::FenceAction::Reset,
            name: b"",
        },
    ));
    rig.run(QUIET, &[], PET_EVERY);
    check(rig.hosts[2].heartbeats.is_empty(), || {
        "an unkeyed relay forwarded a heartbeat".into()
    })?;
    check(rig.hosts[1].link().is_none(), || {
        "an unkeyed relay linked a host".into()
    })?;
    check(crate::any_asserts(&rig.log()).is_empty(), || {
        "an unkeyed relay fenced".into()
    })?;
    let st = hbctl(
        ctx,
        &rig,
        good,
        &["status", "SOCK", "-c", &good.display().to_string()],
    )?;
    check(st.ok && st.out.contains("key: none"), || {
        format!("status: {}", st.text())
    })?;

    // A first provisioning cut off half way: still unkeyed.
    let req = first_key_request(secret);
    rig.hosts[3].send_raw(&req[..req.len() / 2]);
    rig.hosts[3].send_raw(&[0]);
    rig.run(SETTLE * 10, &[], PET_EVERY);
    check(
        rig.log_matching(|l| l.text.contains("KeyStored"))
            .is_empty(),
        || "a cut-off key request was taken".into(),
    )?;

    // Provisioned by hbctl.
    let dir = good.display().to_string();
    let p = hbctl(ctx, &rig, good, &["provision", "SOCK", "-c", &dir])?;
    check(p.ok && p.out.contains("provisioned with key 1"), || {
        format!("provision: {}", p.text())
    })?;
    rig.wait_log(MAX_WAIT, |l| {
        l.text
            .contains("KeyStored { port: 0, index: 1, stored: true }")
    })
    .ok_or("no KeyStored event")?;

    // Now it relays and fences.
    let link1 = ctx.link(&mut rig, 1)?;
    ctx.link(&mut rig, 2)?;
    // Armed with a timeout longer than any hbctl run, during which nobody pets: a host's first
    // pet makes its link count (and its name show in the status).
    for i in [1, 2] {
        rig.hosts[i].arm(Duration::from_secs(60));
    }
    rig.hosts[1].send_raw(&heartbeat(&ctx.keys, "node2", 2));
    let got = rig.run_until(MAX_WAIT, &[1, 2], PET_EVERY, |r| {
        !r.hosts[2].heartbeats.is_empty()
    });
    check(got, || "a provisioned relay did not forward".into())?;
    let t = hbctl(ctx, &rig, good, &["test", "SOCK", "-c", &dir])?;
    check(
        t.ok && t.out.contains("port 3") && t.out.contains("done"),
        || format!("fence rehearsal: {}", t.text()),
    )?;
    check(!crate::asserts(&rig.log(), 3).is_empty(), || {
        "no pulse on port 3".into()
    })?;
    let st = hbctl(ctx, &rig, good, &["status", "SOCK", "-c", &dir])?;
    check(
        st.ok && st.out.contains("provisioned") && st.out.contains("host node2"),
        || format!("status: {}", st.text()),
    )?;

    // A re-key signed with a wrong key is refused; a re-key cut off half way changes nothing.
    let w = hbctl(
        ctx,
        &rig,
        wrong,
        &["provision", "SOCK", "-c", &wrong.display().to_string()],
    )?;
    check(!w.ok && w.err.contains("does not accept"), || {
        format!("wrong-key re-key: {}", w.text())
    })?;
    let rekey = relay_frame(
        &ctx.keys,
        link1,
        FAR_COUNTER,
        Body::Key {
            session: 11,
            index: 2,
            method: Method::Sha1,
            secret: b"next",
        },
    );
    rig.hosts[1].send_raw(&rekey[..rekey.len() - 9]);
    rig.hosts[1].send_raw(&[0]);
    rig.run(SETTLE * 10, &[1, 2], PET_EVERY);
    check(
        rig.log_matching(|l| l.text.contains("KeyStored")).len() == 1,
        || "a wrong or cut-off re-key was taken".into(),
    )?;
    let acks = rig.hosts[2].answers.len();
    rig.run(Duration::from_millis(600), &[1, 2], PET_EVERY);
    check(rig.hosts[2].answers.len() > acks, || {
        "the old key stopped working".into()
    })?;

    // The key survives the chip watchdog's reset.
    let hang = relay_frame(&ctx.keys, link1, FAR_COUNTER + 1, Body::Hang);
    rig.hosts[1].send_raw(&hang);
    rig.wait_log(Duration::from_secs(5), |l| l.text.starts_with("HANG"))
        .ok_or("the relay did not hang")?;
    let banner = rig
        .wait_log(Duration::from_secs(5), |l| l.text.starts_with("BOOT "))
        .ok_or("no reboot after the hang")?;
    check(banner.field("cause") == Some("watchdog"), || {
        banner.text.clone()
    })?;
    rig.wait_log(MAX_WAIT, |l| l.text.starts_with("KEY index=1 from flash"))
        .ok_or("the key did not survive the watchdog reset")?;
    rig.hosts[3].attach_client(ctx.keys.clone(), "node4", 0x5e55_0004);
    rig.hosts[3]
        .client()
        .hello()
        .map_err(|e| format!("{e:?}"))?;
    let relinked = rig.run_until(MAX_WAIT, &[], PET_EVERY, |r| r.hosts[3].link().is_some());
    check(relinked, || {
        "no link with the kept key after the reset".into()
    })?;
    let st = hbctl(ctx, &rig, good, &["status", "SOCK", "-c", &dir])?;
    check(st.out.contains("boot cause: watchdog"), || {
        format!("status: {}", st.text())
    })?;
    Ok(format!(
        "(unkeyed: refused; provisioned; relayed and fenced; wrong re-key refused; cut-off requests \
         ignored; key kept across a watchdog reset; stack peak {} bytes)",
        stack_peak(&rig).map_or("?".into(), |p| p.to_string())
    ))
}
