//! The relay board as watchdog and as the `hbrelay` STONITH device, read from `ha.cf`.

use super::*;

fn pins(p: &HbRelayParams) -> StdVec<(&str, u8)> {
    p.pinned.iter().map(|p| (p.node.as_str(), p.port)).collect()
}

#[test]
fn relay_watchdog_names_the_tty() {
    let (cf, _) = ok(&with("watchdog relay:/dev/ttyUSB0\n"));
    assert_eq!(cf.relay_watchdog(), Some("/dev/ttyUSB0"));
    // The whole value stays as written: the daemon logs `Using watchdog device: relay:...`.
    assert_eq!(cf.watchdog.as_deref(), Some("relay:/dev/ttyUSB0"));
    let (cf, _) = ok(&with("watchdog /dev/watchdog\n"));
    assert_eq!(cf.relay_watchdog(), None);
    let (cf, _) = ok(BASE);
    assert_eq!(cf.relay_watchdog(), None);
}

#[test]
fn hbrelay_devices_apply_per_node_with_their_lines() {
    let (cf, diags) = ok(&with(
        "stonith_host * hbrelay /dev/ttyUSB0 Node1=0,node2=1\n\
         stonith_host beta hbrelay /dev/ttyACM0\n\
         stonith_host * apcsmart /dev/ttyS1 x,y\n",
    ));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(cf.stonith_hosts[2].value.hbrelay(), None);

    let alpha: StdVec<_> = cf.hbrelays_for("alpha").collect();
    assert_eq!(alpha.len(), 1);
    let (at, p) = &alpha[0];
    assert_eq!(at.line, 8);
    let p = p.as_ref().unwrap();
    assert_eq!(p.device.as_str(), "/dev/ttyUSB0");
    assert_eq!(pins(p), [("node1", 0), ("node2", 1)]);
    assert_eq!(p.port_of("NODE2"), Some(1));
    assert_eq!(p.port_of("node3"), None);

    let beta: StdVec<_> = cf.hbrelays_for("BETA").collect();
    assert_eq!(
        beta.iter().map(|(at, _)| at.line).collect::<StdVec<_>>(),
        [8, 9]
    );
    let p = beta[1].1.as_ref().unwrap();
    assert_eq!(p.device.as_str(), "/dev/ttyACM0");
    assert!(p.pinned.is_empty());
}

#[test]
fn broken_hbrelay_parameters_are_refused_where_they_apply() {
    // heartbeat reads a stonith_host line only on the node it names: a broken one for
    // another node leaves the file valid, and the node it names learns why.
    let (cf, diags) = ok(&with("stonith_host beta hbrelay /dev/ttyUSB0 node1=9\n"));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(cf.hbrelays_for("alpha").count(), 0);
    let (at, res) = cf.hbrelays_for("beta").next().unwrap();
    assert_eq!(at.line, 8);
    assert_eq!(
        res.unwrap_err().to_string(),
        "hbrelay: `9` is not a relay port (0-3)"
    );

    let cases = [
        ("", "hbrelay: needs the relay's tty"),
        (" , ", "hbrelay: needs the relay's tty"),
        ("ttyUSB0", "`ttyUSB0` is not a device path (/dev/ttyUSB0)"),
        ("/dev/ttyUSB0 node1", "hbrelay: `node1` is not node=port"),
        (
            "/dev/ttyUSB0 node1=x",
            "hbrelay: `x` is not a relay port (0-3)",
        ),
        (
            "/dev/ttyUSB0 node1=",
            "hbrelay: `` is not a relay port (0-3)",
        ),
        ("/dev/ttyUSB0 =1", "hbrelay: `` is not a host name"),
    ];
    for (value, msg) in cases {
        assert_eq!(
            HbRelayParams::parse(value).unwrap_err().to_string(),
            msg,
            "{value:?}"
        );
    }
}

#[test]
fn hbrelay_ttydev_from_a_command_line() {
    // `stonith -t hbrelay -p '/dev/ttyUSB0 a=0 b=3'`: the same parser, blanks and commas alike.
    let p = HbRelayParams::parse("/dev/ttyUSB0\ta=0, B=3").unwrap();
    assert_eq!(pins(&p), [("a", 0), ("b", 3)]);
    // A line of ARGS_LEN bytes holds at most MAX_HBRELAY_PINS pairs; a command line may not.
    let mut value = StdString::from("/dev/ttyUSB0");
    for _ in 0..MAX_HBRELAY_PINS {
        value.push_str(" a=0");
    }
    assert_eq!(
        HbRelayParams::parse(&value).unwrap().pinned.len(),
        MAX_HBRELAY_PINS
    );
    value.push_str(" b=1");
    assert_eq!(
        HbRelayParams::parse(&value).unwrap_err().to_string(),
        format!("hbrelay: more than {MAX_HBRELAY_PINS} node=port pairs")
    );
}
