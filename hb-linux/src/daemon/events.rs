//! The core's events in heartbeat's words (spec-behaviour §9.2), so that logs read as 3.0.6's
//! and the scripts and habits built on them keep working.

use crate::log::{LogLine, Priority};
use hb_core::engine::{Event, NodeId, NodeStatus};
use hb_core::resources::Level;

/// Names for ids: node names and link names of media.
pub trait Names {
    fn node(&self, id: NodeId) -> &str;
    /// The link name of a medium (interface or serial device).
    fn link(&self, medium: hb_core::engine::MediumId) -> &str;
}

/// The log line of an engine event, or `None` for events heartbeat does not log.
pub fn engine_line(ev: &Event, names: &dyn Names) -> Option<LogLine> {
    use Event::*;
    let (priority, text) = match ev {
        LocalStatus { status } => (
            Priority::Info,
            format!("Local status now set to: '{}'", status.as_str()),
        ),
        NodeStatus { node, status } => (
            Priority::Info,
            format!(
                "Status update for node {}: status {}",
                names.node(*node),
                status.as_str()
            ),
        ),
        NodeDead { node, .. } => (
            Priority::Warn,
            format!("node {}: is dead", names.node(*node)),
        ),
        LinkUp { node, medium } => (
            Priority::Info,
            format!("Link {}:{} up.", names.node(*node), names.link(*medium)),
        ),
        LinkDead { node, medium } => (
            Priority::Info,
            format!("Link {}:{} dead.", names.node(*node), names.link(*medium)),
        ),
        LateHeartbeat {
            node,
            gap,
            beyond_deadtime,
        } => {
            if *beyond_deadtime {
                (
                    Priority::Crit,
                    format!(
                        "Late heartbeat: Node {}: interval {} ms (> deadtime)",
                        names.node(*node),
                        gap.as_millis()
                    ),
                )
            } else {
                (
                    Priority::Warn,
                    format!(
                        "Late heartbeat: Node {}: interval {} ms",
                        names.node(*node),
                        gap.as_millis()
                    ),
                )
            }
        }
        Restarted { node, .. } => (
            Priority::Info,
            format!("Heartbeat restart on node {}", names.node(*node)),
        ),
        ReturnedAfterPartition { node } => (
            Priority::Crit,
            format!(
                "Cluster node {} returning after partition.",
                names.node(*node)
            ),
        ),
        CommUp => (
            Priority::Info,
            "Comm_now_up(): updating status to active".to_string(),
        ),
        ReplayRejected {
            node,
            generation,
            current,
        } => (
            Priority::Error,
            format!(
                "should_drop_message: attempted replay attack [{}]? [gen = {generation}, curgen = {current}]",
                names.node(*node)
            ),
        ),
        LostPackets {
            node,
            count,
            last,
            seq,
        } => (
            Priority::Info,
            format!(
                "{count} lost packet(s) for [{}] [{last}:{seq}]",
                names.node(*node)
            ),
        ),
        LostManyPackets { .. } => (Priority::Error, "lost a lot of packets!".to_string()),
        NoPacketsMissing { node } => (
            Priority::Info,
            format!("No pkts missing from {}!", names.node(*node)),
        ),
        UuidChanged { node } => (
            Priority::Warn,
            format!("node {} changed its uuid", names.node(*node)),
        ),
        FlowControlDisabled { .. } => (
            Priority::Info,
            "flow control disabled due to different version heartbeat".to_string(),
        ),
        NoLocalHeartbeat => (
            Priority::Error,
            "No local heartbeat. Forcing restart.".to_string(),
        ),
        MessageTooLarge { from, kind } => (
            Priority::Error,
            format!(
                "message of type {kind:?} from {} too large to handle; ignored",
                names.node(*from)
            ),
        ),
        ShutdownDelayed => (
            Priority::Info,
            "Shutdown delayed until Communication is up.".to_string(),
        ),
        ShutdownStarted => (
            Priority::Info,
            "Heartbeat shutdown in progress.".to_string(),
        ),
        ShutdownComplete => return None,
        TransmitFailed { encoding } => (
            Priority::Error,
            format!("a {encoding:?} packet could not be encoded and was not sent"),
        ),
        EventsDropped { count } => (
            Priority::Error,
            format!("{count} events were lost (the loop fell behind)"),
        ),
        Message(_) => return None,
        #[allow(unreachable_patterns)]
        _ => (Priority::Debug, format!("{ev:?}")),
    };
    Some(LogLine::new(priority, text))
}

/// A resource-logic level as a log priority.
pub fn level_priority(level: Level) -> Priority {
    match level {
        Level::Debug => Priority::Debug,
        Level::Info => Priority::Info,
        Level::Warn => Priority::Warn,
        Level::Err => Priority::Error,
        Level::Crit => Priority::Crit,
    }
}

/// heartbeat's word for a node state, as `cl_status nodestatus` prints it.
pub fn status_word(s: NodeStatus) -> &'static str {
    s.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hb_core::engine::MediumId;
    use hb_core::time::Duration;

    struct N;
    impl Names for N {
        fn node(&self, id: NodeId) -> &str {
            ["alpha", "beta"][id.index()]
        }
        fn link(&self, _: MediumId) -> &str {
            "eth1"
        }
    }

    #[test]
    fn heartbeat_words() {
        let l = |e| engine_line(&e, &N).map(|l| (l.priority, l.text));
        assert_eq!(
            l(Event::NodeDead {
                node: NodeId(1),
                heard_from: true
            }),
            Some((Priority::Warn, "node beta: is dead".into()))
        );
        assert_eq!(
            l(Event::LinkUp {
                node: NodeId(1),
                medium: MediumId(0)
            }),
            Some((Priority::Info, "Link beta:eth1 up.".into()))
        );
        assert_eq!(
            l(Event::LateHeartbeat {
                node: NodeId(1),
                gap: Duration::from_millis(2510),
                beyond_deadtime: false
            }),
            Some((
                Priority::Warn,
                "Late heartbeat: Node beta: interval 2510 ms".into()
            ))
        );
        assert_eq!(
            l(Event::ReturnedAfterPartition { node: NodeId(1) }),
            Some((
                Priority::Crit,
                "Cluster node beta returning after partition.".into()
            ))
        );
    }
}
