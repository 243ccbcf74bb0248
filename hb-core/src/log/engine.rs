//! The membership engine's lines ([`Event`]): heartbeat 3.0.6's words for node and link status,
//! late heartbeats, lost packets and the rest of what `heartbeat.c` logs (behaviour spec §9.2).

use core::fmt;

use super::{Level, Line, Names, Text};
use crate::engine::Event;

/// The log line of an engine event, or `None` for events heartbeat does not log (a cluster
/// message, the end of shutdown, which the daemon words itself).
pub fn event_line<'a>(ev: &'a Event, names: &'a dyn Names) -> Option<Line<'a, &'a Event>> {
    match ev {
        Event::ShutdownComplete | Event::Message(_) => None,
        _ => Some(Line::new(ev, names)),
    }
}

impl Text for &Event {
    fn level(&self) -> Level {
        use Event::*;
        match self {
            NodeDead { .. } | UuidChanged { .. } => Level::Warn,
            LateHeartbeat {
                beyond_deadtime, ..
            } => {
                if *beyond_deadtime {
                    Level::Crit
                } else {
                    Level::Warn
                }
            }
            ReturnedAfterPartition { .. } => Level::Crit,
            ReplayRejected { .. }
            | LostManyPackets { .. }
            | NoLocalHeartbeat
            | MessageTooLarge { .. }
            | TransmitFailed { .. }
            | EventsDropped { .. } => Level::Err,
            LocalStatus { .. }
            | NodeStatus { .. }
            | LinkUp { .. }
            | LinkDead { .. }
            | Restarted { .. }
            | CommUp
            | LostPackets { .. }
            | NoPacketsMissing { .. }
            | FlowControlDisabled { .. }
            | ShutdownDelayed
            | ShutdownStarted
            | ShutdownComplete
            | Message(_) => Level::Info,
        }
    }

    fn write_text(&self, names: &dyn Names, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Event::*;
        match self {
            LocalStatus { status } => {
                write!(f, "Local status now set to: '{}'", status.as_str())
            }
            NodeStatus { node, status } => write!(
                f,
                "Status update for node {}: status {}",
                names.node(*node),
                status.as_str()
            ),
            NodeDead { node, .. } => write!(f, "node {}: is dead", names.node(*node)),
            LinkUp { node, medium } => {
                write!(f, "Link {}:{} up.", names.node(*node), names.link(*medium))
            }
            LinkDead { node, medium } => {
                write!(f, "Link {}:{} dead.", names.node(*node), names.link(*medium))
            }
            LateHeartbeat {
                node,
                gap,
                beyond_deadtime,
            } => {
                write!(
                    f,
                    "Late heartbeat: Node {}: interval {} ms",
                    names.node(*node),
                    gap.as_millis()
                )?;
                if *beyond_deadtime {
                    f.write_str(" (> deadtime)")?;
                }
                Ok(())
            }
            Restarted { node, .. } => write!(f, "Heartbeat restart on node {}", names.node(*node)),
            ReturnedAfterPartition { node } => write!(
                f,
                "Cluster node {} returning after partition.",
                names.node(*node)
            ),
            CommUp => f.write_str("Comm_now_up(): updating status to active"),
            ReplayRejected {
                node,
                generation,
                current,
            } => write!(
                f,
                "should_drop_message: attempted replay attack [{}]? [gen = {generation}, curgen = {current}]",
                names.node(*node)
            ),
            LostPackets {
                node,
                count,
                last,
                seq,
            } => write!(
                f,
                "{count} lost packet(s) for [{}] [{last}:{seq}]",
                names.node(*node)
            ),
            LostManyPackets { .. } => f.write_str("lost a lot of packets!"),
            NoPacketsMissing { node } => {
                write!(f, "No pkts missing from {}!", names.node(*node))
            }
            UuidChanged { node } => write!(f, "node {} changed its uuid", names.node(*node)),
            FlowControlDisabled { .. } => {
                f.write_str("flow control disabled due to different version heartbeat")
            }
            NoLocalHeartbeat => f.write_str("No local heartbeat. Forcing restart."),
            MessageTooLarge { from, kind } => write!(
                f,
                "message of type {kind:?} from {} too large to handle; ignored",
                names.node(*from)
            ),
            ShutdownDelayed => f.write_str("Shutdown delayed until Communication is up."),
            ShutdownStarted => f.write_str("Heartbeat shutdown in progress."),
            TransmitFailed { encoding } => write!(
                f,
                "a {encoding:?} packet could not be encoded and was not sent"
            ),
            EventsDropped { count } => {
                write!(f, "{count} events were lost (the loop fell behind)")
            }
            // Not logged (`event_line` says None); the value, should a caller print it anyway.
            ShutdownComplete | Message(_) => write!(f, "{self:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MediumId, NodeId};
    use crate::time::Duration;
    use core::fmt::Write;

    struct N;
    impl Names for N {
        fn node(&self, id: NodeId) -> &str {
            ["alpha", "beta"][id.index()]
        }
        fn link(&self, _: MediumId) -> &str {
            "eth1"
        }
    }

    fn line(e: &Event) -> Option<(Level, heapless::String<128>)> {
        event_line(e, &N).map(|l| {
            let mut s = heapless::String::new();
            write!(s, "{l}").unwrap();
            (l.level(), s)
        })
    }

    fn text(s: &str) -> heapless::String<128> {
        heapless::String::try_from(s).unwrap()
    }

    #[test]
    fn heartbeat_words() {
        assert_eq!(
            line(&Event::NodeDead {
                node: NodeId(1),
                heard_from: true
            }),
            Some((Level::Warn, text("node beta: is dead")))
        );
        assert_eq!(
            line(&Event::LinkUp {
                node: NodeId(1),
                medium: MediumId(0)
            }),
            Some((Level::Info, text("Link beta:eth1 up.")))
        );
        assert_eq!(
            line(&Event::LateHeartbeat {
                node: NodeId(1),
                gap: Duration::from_millis(2510),
                beyond_deadtime: false
            }),
            Some((
                Level::Warn,
                text("Late heartbeat: Node beta: interval 2510 ms")
            ))
        );
        assert_eq!(
            line(&Event::LateHeartbeat {
                node: NodeId(0),
                gap: Duration::from_millis(12_000),
                beyond_deadtime: true
            }),
            Some((
                Level::Crit,
                text("Late heartbeat: Node alpha: interval 12000 ms (> deadtime)")
            ))
        );
        assert_eq!(
            line(&Event::ReturnedAfterPartition { node: NodeId(1) }),
            Some((
                Level::Crit,
                text("Cluster node beta returning after partition.")
            ))
        );
        assert_eq!(line(&Event::ShutdownComplete), None);
    }
}
