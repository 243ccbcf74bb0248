//! The standby exchange's numbers (`hb_sbid`): an answer to a request its asker has dropped
//! is recognised, and the peer waiting on it is told (hbsim seeds 14444, 46657, 57792, 59362,
//! 65536, 71741, 94058: a heal cancelled a request the peer accepted afterwards, and the peer
//! then refused every standby, the failed groups' hand-overs too, for an hour).

use super::*;

fn ask(info: StandbyInfo, xid: Option<u32>) -> ResourceMsg<'static> {
    ResourceMsg::AskResources {
        rsc_hold: RscSet::ALL,
        info,
        xid: xid.map(GroupMask::new),
    }
}

#[test]
fn an_answer_to_a_dropped_request_is_refused_and_cancelled() {
    let mut m = stable_node1(AutoFailback::On);
    m.handle_command(at(1_000), Command::Standby(StandbySet::All))
        .unwrap();
    assert_eq!(
        messages(&mut m),
        ["t=ask_resources rsc_hold=all info=me hb_sbid=1"]
    );
    m.handle_timeout(at(11_000));
    assert_eq!(m.standby_state(), StandbyState::Not);
    logs(&mut m);
    // The peer took request 1 all the same and waits for our `done`.
    m.handle_message(at(11_500), NODE2, &ask(StandbyInfo::Other, Some(1)));
    assert_eq!(messages(&mut m), ["t=hb_standby_cancel hb_sbid=1"]);
    assert!(actions(&mut m).is_empty());
    assert_eq!(m.standby_state(), StandbyState::Not);
    assert_eq!(m.rscstatus(), "local");
    // 3.0.6 numbers nothing and knows no cancel: as before, only ignored.
    m.handle_message(at(11_600), NODE2, &ask(StandbyInfo::Other, None));
    assert!(messages(&mut m).is_empty());

    // A new request: a late answer to the old one gives nothing up.
    m.handle_command(at(12_000), Command::Standby(StandbySet::All))
        .unwrap();
    assert_eq!(
        messages(&mut m),
        ["t=ask_resources rsc_hold=all info=me hb_sbid=2"]
    );
    m.handle_message(at(12_100), NODE2, &ask(StandbyInfo::Other, Some(1)));
    assert_eq!(messages(&mut m), ["t=hb_standby_cancel hb_sbid=1"]);
    assert!(actions(&mut m).is_empty());
    assert_eq!(m.standby_state(), StandbyState::Me);
    // The answer to the new one does.
    m.handle_message(at(12_200), NODE2, &ask(StandbyInfo::Other, Some(2)));
    assert_eq!(actions(&mut m), [Action::Release(G1)]);
}

#[test]
fn a_cancel_from_the_asker_ends_our_wait_for_its_done() {
    let mut m = stable_node1(AutoFailback::On);
    m.handle_message(at(1_000), NODE2, &ask(StandbyInfo::Me, Some(4)));
    assert_eq!(
        messages(&mut m),
        ["t=ask_resources rsc_hold=all info=other hb_sbid=4"]
    );
    assert_eq!(m.standby_state(), StandbyState::Other);
    logs(&mut m);
    // A cancel of another request changes nothing.
    m.handle_message(
        at(1_100),
        NODE2,
        &ResourceMsg::StandbyCancel {
            xid: GroupMask::new(3),
        },
    );
    assert_eq!(m.standby_state(), StandbyState::Other);
    m.handle_message(
        at(1_200),
        NODE2,
        &ResourceMsg::StandbyCancel {
            xid: GroupMask::new(4),
        },
    );
    assert_eq!(m.standby_state(), StandbyState::Not);
    assert_eq!(
        logs(&mut m),
        [
            "info: node2 dropped its standby request.",
            "info: Cancelling pending standby operation"
        ]
    );
    assert!(m.other_is_stable());
    // Its next request is taken, not refused for the rest of the hour.
    m.handle_message(at(2_000), NODE2, &ask(StandbyInfo::Me, Some(5)));
    assert_eq!(
        messages(&mut m),
        ["t=ask_resources rsc_hold=all info=other hb_sbid=5"]
    );
    assert_eq!(m.standby_state(), StandbyState::Other);
}

#[test]
fn a_request_our_side_refuses_is_not_sent() {
    let mut m = stable_node1(AutoFailback::On);
    m.handle_command(at(1_000), Command::Standby(StandbySet::All))
        .unwrap();
    assert_eq!(
        messages(&mut m),
        ["t=ask_resources rsc_hold=all info=me hb_sbid=1"]
    );
    // A second one while the first runs: refused here, so the peer must not take it (it
    // would answer it, and that answer would be for a request we never ran).
    m.handle_command(at(2_000), Command::Standby(StandbySet::Local))
        .unwrap();
    assert!(messages(&mut m).is_empty());
    assert!(logs(&mut m)
        .iter()
        .any(|l| l.starts_with("WARN: Standby in progress- new request from node1 ignored")));
    // The answer to the first is still taken.
    m.handle_message(at(2_100), NODE2, &ask(StandbyInfo::Other, Some(1)));
    assert_eq!(actions(&mut m), [Action::Release(G1)]);
}
