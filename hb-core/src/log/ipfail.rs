//! ipfail's lines ([`LogMsg`]): the words of 3.0.6's `contrib/ipfail/ipfail.c`, and ours for
//! what it cannot do.

use core::fmt;

use super::{Level, Names, Text};
use crate::engine::NodeId;
use crate::ipfail::{Link, LogMsg};

impl Text for LogMsg {
    fn level(&self) -> Level {
        LogMsg::level(self)
    }

    fn write_text(&self, names: &dyn Names, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |id: NodeId| names.node(id);
        match *self {
            LogMsg::NoManagedResources => f.write_str("No managed resources"),
            LogMsg::LegacyAutoFailback => {
                f.write_str("auto_failback set to incompatible legacy option.")
            }
            LogMsg::NotTwoNodes { nodes } => write!(
                f,
                "ipfail supports two-node clusters only ({nodes} nodes); not started."
            ),
            LogMsg::StatusUpdate { node, status } => write!(
                f,
                "Status update: Node {} now has status {}",
                n(node),
                status.as_str()
            ),
            LogMsg::StillAlive => f.write_str("NS: We are still alive!"),
            LogMsg::NsWeAreDead => f.write_str("NS: We are dead. :<"),
            LogMsg::PingNodeCameUp => f.write_str("A ping node just came up."),
            LogMsg::LinkStatus { node, link, up } => write!(
                f,
                "Link Status update: Link {}/{} now has status {}",
                n(node),
                match link {
                    Link::Medium(m) => names.link(m),
                    Link::PingNode => n(node),
                },
                if up { "up" } else { "dead" }
            ),
            LogMsg::CheckingRemoteCount => f.write_str("Checking remote count of ping nodes."),
            LogMsg::WeAreDead => f.write_str("We are dead. :<"),
            LogMsg::AskingPingCount => f.write_str("Asking other side for ping node count."),
            LogMsg::TellingWeHaveMore => {
                f.write_str("Telling other node that we have more visible ping nodes.")
            }
            LogMsg::GivingUpFewer => {
                f.write_str("Giving up because we have less visible ping nodes.")
            }
            LogMsg::Balanced => f.write_str("Ping node count is balanced."),
            LogMsg::GivingUpForeign => f.write_str("Giving up foreign resources (auto_failback)."),
            LogMsg::GivingUpTold => {
                f.write_str("Giving up because we were told that we have less ping nodes.")
            }
            LogMsg::DelayedGiveup { secs } => write!(f, "Delayed giveup in {secs} seconds."),
            LogMsg::GiveupCalled => f.write_str("giveup() called (timeout worked)"),
            LogMsg::AbortedGiveup { tag } => write!(f, "Aborted delayed giveup ({tag})"),
            LogMsg::NoGiveupTimer => f.write_str("No giveup timer to abort."),
        }
    }
}
