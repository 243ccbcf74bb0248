//! Media lines and the latching of `udpport`/`baud`.

use super::*;

#[test]
fn mcast_line() {
    let (cf, diags) = ok("node a b\nmcast eth0 224.1.2.3 694 1 0\n");
    assert_eq!(
        media(&cf),
        [Medium::Mcast {
            iface: s("eth0"),
            group: [224, 1, 2, 3],
            port: 694,
            ttl: 1,
            loopback: false
        }]
    );
    // Legacy mode by default, and logd implied without any log line.
    assert_eq!(diags, ["1:1: warning: Deprecated 'legacy' auto_failback option selected. Please convert to 'auto_failback on'. See documentation for conversion details."]);
    assert!(cf.use_logd);
}

#[test]
fn media_latch_udpport_and_baud_when_created() {
    let text = "node a\nbcast eth0\nudpport 700\nbcast eth1\nucast eth2 10.0.0.2\nserial /dev/ttyS0\nbaud 38400\nserial /dev/ttyS1\nauto_failback on\nlogfile /l\n";
    let (cf, diags) = ok(text);
    assert_eq!(
        media(&cf),
        [
            Medium::Bcast {
                iface: s("eth0"),
                port: 694
            },
            Medium::Bcast {
                iface: s("eth1"),
                port: 694
            },
            Medium::Ucast {
                iface: s("eth2"),
                peer: s("10.0.0.2"),
                port: 700
            },
            Medium::Serial {
                device: s("/dev/ttyS0"),
                baud: 19_200
            },
            Medium::Serial {
                device: s("/dev/ttyS1"),
                baud: 19_200
            },
        ]
    );
    assert_eq!((cf.udpport, cf.baud), (700, 38_400));
    assert_eq!(
        diags,
        [
            "3:9: warning: udpport setting must precede media statements; the bcast media above keep port 694",
            "7:6: warning: baudrate setting must precede media statements; the serial media above keep 19200 baud",
        ]
    );
    // In the right order nothing is said.
    let (cf, diags) = ok(&with("udpport 1694\nucast eth1 peer.example\n"));
    assert_eq!(
        media(&cf)[1],
        Medium::Ucast {
            iface: s("eth1"),
            peer: s("peer.example"),
            port: 1694
        }
    );
    assert_eq!(diags, ["8:9: warning: udpport setting must precede media statements; the bcast media above keep port 694"]);
}

#[test]
fn relay_medium_default_and_given_speed() {
    let (cf, diags) = ok(&with(
        "baud 19200\nrelay /dev/ttyUSB0\nrelay /dev/ttyACM0 57600\nserial /dev/ttyS0\n",
    ));
    assert!(diags.is_empty(), "{diags:?}");
    let m = media(&cf);
    // The global baud is the peer serial lines' speed, not the relay's.
    assert_eq!(
        m[1..],
        [
            Medium::Relay {
                device: s("/dev/ttyUSB0"),
                baud: DEFAULT_RELAY_BAUD
            },
            Medium::Relay {
                device: s("/dev/ttyACM0"),
                baud: 57_600
            },
            Medium::Serial {
                device: s("/dev/ttyS0"),
                baud: 19_200
            },
        ]
    );
    assert_eq!(m[1].link_name(), "/dev/ttyUSB0");
    assert_eq!(m[1].directive(), "relay");
    assert!(!m[1].is_ping());
}

#[test]
fn broken_relay_lines() {
    assert_eq!(
        refused(&with("relay\n")),
        ["8:1: relay: missing device (syntax: relay <device> [baud])"]
    );
    assert_eq!(
        refused(&with("relay ttyUSB0\n")),
        ["8:7: relay: device [ttyUSB0] is not a full pathname (syntax: relay <device> [baud])"]
    );
    assert_eq!(
        refused(&with("relay /dev/ttyUSB0 fast\n")),
        ["8:20: relay [/dev/ttyUSB0]: invalid baudrate [fast]. Use one of 9600, 19200, 38400, 57600, 115200, 230400, 460800."]
    );
    assert_eq!(
        refused(&with("relay /dev/ttyUSB0\nrelay /dev/ttyUSB0\n")),
        ["9:7: relay [/dev/ttyUSB0]: the device is already a medium above (one line per device; a relay's line is `relay`, never also `serial`)"]
    );
    assert_eq!(
        refused(&with("serial /dev/ttyUSB0\nrelay /dev/ttyUSB0\n")),
        ["9:7: relay [/dev/ttyUSB0]: the device is already a medium above (one line per device; a relay's line is `relay`, never also `serial`)"]
    );
    assert_eq!(
        refused(&with("relay /dev/ttyUSB0\nserial /dev/ttyUSB0\n")),
        ["9:8: serial [/dev/ttyUSB0]: the device is a relay's (`relay /dev/ttyUSB0` above); a relay's line is never also `serial`"]
    );
    let (_, diags) = ok(&with("relay /dev/ttyUSB0 115200 extra\n"));
    assert_eq!(
        diags,
        ["8:27: warning: relay [/dev/ttyUSB0]: extra word [extra] ignored"]
    );
}

#[test]
fn relay_watchdog() {
    let (cf, diags) = ok(&with("watchdog relay:/dev/ttyUSB0\n"));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(cf.watchdog.as_deref(), Some("relay:/dev/ttyUSB0"));
    assert_eq!(
        refused(&with("watchdog relay:ttyUSB0\n")),
        ["8:10: watchdog [relay:ttyUSB0]: the relay's device is not a full pathname (watchdog relay:/dev/ttyUSB0)"]
    );
}
