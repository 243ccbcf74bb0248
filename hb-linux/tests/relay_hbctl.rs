//! `hbctl relay flash` against fake `dfu-util`, `probe-rs` and `picotool` scripts first on PATH
//! that record their arguments, and a fake mounted RPI-RP2 drive; and the usual mistakes of
//! `hbctl relay provision|status` (a file that is no tty, a tty nothing answers on).
//! The relay protocol itself is tested under QEMU (`tests/relay-qemu`, test `provision`).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

struct Fakes {
    dir: tempfile::TempDir,
}

impl Fakes {
    /// Fake tools in `bin/` that append their arguments to `calls` and exit with `status`
    /// (and print `stderr` on stderr).
    fn new(status: i32, stderr: &str) -> Fakes {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let calls = dir.path().join("calls");
        for tool in ["dfu-util", "probe-rs", "picotool"] {
            let script = format!(
                "#!/bin/sh\necho \"{tool} $*\" >> '{}'\necho '{stderr}' >&2\nexit {status}\n",
                calls.display()
            );
            let p = bin.join(tool);
            std::fs::write(&p, script).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let images = dir.path().join("images");
        std::fs::create_dir(&images).unwrap();
        for f in [
            "pico.uf2",
            "pico.elf",
            "blackpill-f411.bin",
            "blackpill-f411.elf",
        ] {
            std::fs::write(images.join(f), format!("image {f}")).unwrap();
        }
        std::fs::write(dir.path().join("mounts"), "proc /proc proc rw 0 0\n").unwrap();
        Fakes { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn hbctl(&self, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(env!("CARGO_BIN_EXE_hbctl"))
            .arg("relay")
            .args(args)
            .env("PATH", path)
            .env("HB_RELAY_IMAGES", self.path("images"))
            .output()
            .unwrap()
    }

    /// A directory that looks like the Pico's boot drive, listed in the fake mount table.
    fn mount_rp2_drive(&self, name: &str) -> PathBuf {
        let drive = self.path(name);
        std::fs::create_dir_all(&drive).unwrap();
        std::fs::write(
            drive.join("INFO_UF2.TXT"),
            "UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n",
        )
        .unwrap();
        // /proc/mounts escapes a space in a path as \040.
        let escaped = drive.display().to_string().replace(' ', "\\040");
        std::fs::write(
            self.path("mounts"),
            format!("proc /proc proc rw 0 0\n/dev/sdb1 {escaped} vfat rw 0 0\n"),
        )
        .unwrap();
        drive
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_black_pill_is_flashed_with_dfu_util_from_its_rom_bootloader() {
    let f = Fakes::new(0, "");
    let o = f.hbctl(&["flash", "--board", "blackpill"]);
    assert!(o.status.success(), "{}", text(&o));
    let image = f.path("images/blackpill-f411.bin");
    assert_eq!(
        f.calls(),
        [format!(
            "dfu-util -a 0 -s 0x08000000:leave -D {}",
            image.display()
        )]
    );
}

#[test]
fn a_black_pill_not_in_dfu_mode_gets_told_how_to_get_there() {
    let f = Fakes::new(74, "dfu-util: No DFU capable USB device available");
    let o = f.hbctl(&["flash", "--board", "blackpill"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("No DFU capable USB device"), "{err}");
    assert!(err.contains("Hold BOOT0"), "{err}");
}

#[test]
fn a_pico_gets_the_uf2_copied_onto_its_mounted_drive() {
    let f = Fakes::new(0, "");
    let drive = f.mount_rp2_drive("media/RPI RP2");
    let o = f.hbctl(&[
        "flash",
        "--board",
        "pico",
        "--mounts",
        &f.path("mounts").display().to_string(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(drive.join("hb-relay.uf2")).unwrap(),
        "image pico.uf2"
    );
    assert!(f.calls().is_empty(), "{:?}", f.calls());
}

#[test]
fn a_pico_without_its_drive_mounted_is_loaded_by_picotool() {
    let f = Fakes::new(0, "");
    let o = f.hbctl(&[
        "flash",
        "--board",
        "pico",
        "--mounts",
        &f.path("mounts").display().to_string(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        f.calls(),
        [format!(
            "picotool load -x -t uf2 {}",
            f.path("images/pico.uf2").display()
        )]
    );
    // Not in BOOTSEL mode: picotool fails, and the user learns what to do.
    let f = Fakes::new(
        1,
        "No accessible RP2040 devices in BOOTSEL mode were found.",
    );
    let o = f.hbctl(&[
        "flash",
        "--board",
        "pico",
        "--mounts",
        &f.path("mounts").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("hold BOOTSEL"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_directory_that_is_not_the_pico_drive_is_refused() {
    let f = Fakes::new(0, "");
    let not_drive = f.path("usbstick");
    std::fs::create_dir(&not_drive).unwrap();
    let o = f.hbctl(&[
        "flash",
        "--board",
        "pico",
        "--drive",
        &not_drive.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a Pico's RPI-RP2 drive"));
    assert!(!not_drive.join("hb-relay.uf2").exists());
}

#[test]
fn a_probe_writes_the_elf_and_resets_the_chip() {
    let f = Fakes::new(0, "");
    let o = f.hbctl(&["flash", "--board", "pico", "--probe"]);
    assert!(o.status.success(), "{}", text(&o));
    let elf = f.path("images/pico.elf");
    assert_eq!(
        f.calls(),
        [
            format!(
                "probe-rs download --chip RP2040 --binary-format elf {}",
                elf.display()
            ),
            "probe-rs reset --chip RP2040".to_string()
        ]
    );
}

#[test]
fn a_missing_image_or_one_of_the_wrong_kind_is_a_usage_error() {
    let f = Fakes::new(0, "");
    let o = f.hbctl(&[
        "flash",
        "--board",
        "blackpill",
        "--image",
        "/nonexistent/x.bin",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such image"));
    let elf = f.path("images/blackpill-f411.elf").display().to_string();
    let o = f.hbctl(&["flash", "--board", "blackpill", "--image", &elf]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("a .bin image is needed"));
    assert!(f.calls().is_empty());
}

#[test]
fn a_path_that_is_no_serial_port_is_refused() {
    let f = Fakes::new(0, "");
    let conf = f.path("ha.d");
    std::fs::create_dir(&conf).unwrap();
    let auth = conf.join("authkeys");
    std::fs::write(&auth, "auth 1\n1 sha1 secret\n").unwrap();
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = f.path("images/pico.uf2").display().to_string();
    let o = f.hbctl(&["status", &file, "-c", &conf.display().to_string()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a serial port"));
}

/// The wrong tty: a line nobody answers on (a pseudo-terminal whose other end stays silent).
#[test]
fn a_tty_without_a_relay_says_no_answer_in_time() {
    let pty = nix::pty::openpty(None, None).unwrap();
    let name = nix::unistd::ttyname(&pty.slave).unwrap();
    let f = Fakes::new(0, "");
    let conf = f.path("ha.d");
    std::fs::create_dir(&conf).unwrap();
    let auth = conf.join("authkeys");
    std::fs::write(&auth, "auth 1\n1 sha1 secret\n").unwrap();
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = f.hbctl(&[
        "provision",
        &name.display().to_string(),
        "-c",
        &conf.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no answer from a relay board"), "{err}");
    drop(pty);
}
