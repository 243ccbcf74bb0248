//! The resource machine's lines ([`LogMsg`]): 3.0.6's words for takeover, standby, shutdown
//! and the resource actions, with node names and group keys filled in. Lines that 3.0.6 prints
//! from a shell script (`mach_down`, `hb_standby`) carry the script's text
//! ([`LogMsg::origin`] says which); the daemon chooses the line format.

use core::fmt;

use super::{Level, Names, Text};
use crate::resources::{CommandError, GroupId, LogMsg, NodeId, RESOURCE_MANAGER};

impl Text for LogMsg {
    fn level(&self) -> Level {
        LogMsg::level(self)
    }

    fn write_text(&self, names: &dyn Names, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LogMsg::*;
        let n = |id: NodeId| names.node(id);
        let g = |id: GroupId| names.group(id);
        match *self {
            NoStonithDevice => f.write_str("No STONITH device configured."),
            SharedDisksNotProtected => f.write_str("Shared disks are not protected."),
            ResourcesBeingAcquired(x) => write!(f, "Resources being acquired from {}.", n(x)),
            DeadNodeGaveUp(x) => write!(f, "Dead node {} gave up resources.", n(x)),
            NodeNowReset(x) => write!(f, "node {} now reset.", n(x)),
            HostNotReset(x) => write!(f, "Host {} not reset!", n(x)),
            StonithFailedRetrying(x) => write!(f, "STONITH of {} failed.  Retrying...", n(x)),
            TakeoverCancelled => f.write_str("Resource takeover cancelled - shutdown in progress."),
            CancellingStandby => f.write_str("Cancelling pending standby operation"),
            StandbyDroppedByPeer(x) => write!(f, "{} dropped its standby request.", n(x)),
            TakingOverGroup(x) => write!(f, "Taking over resource group {}", g(x)),
            MachDownForeignAcquired => write!(
                f,
                "/usr/share/heartbeat/mach_down: nice_failback: foreign resources acquired"
            ),
            MachDownCompleteFor(x) => write!(f, "mach_down takeover complete for node {}.", n(x)),
            MachDownComplete => f.write_str("mach_down takeover complete."),
            ReceivedShutdownNotice(x) => write!(f, "Received shutdown notice from '{}'.", n(x)),
            StartingInState(s) => write!(f, "Received 'starting' message in state {}", s as u8),
            ResourceInState(s) => write!(f, "resource message received in state {}", s as u8),
            StartingDuringTakeover => f.write_str("T_STARTING received during takeover."),
            RemoteTransitionCompleted => f.write_str("remote resource transition completed."),
            LocalTransitionCompleted => f.write_str("local resource transition completed."),
            LocalAcquisitionNone => f.write_str("Local Resource acquisition completed. (none)"),
            LocalAcquisitionCompleted => f.write_str("Local Resource acquisition completed."),
            NoLocalResources => write!(
                f,
                "No local resources [{RESOURCE_MANAGER} listkeys {}] to acquire.",
                names.local()
            ),
            InitialAcquisitionComplete(r) => {
                write!(f, "Initial resource acquisition complete ({r})")
            }
            BothOwnOurs => f.write_str("Both machines own our resources!"),
            BothOwnForeign => f.write_str("Both machines own foreign resources!"),
            NoOneOwnsLocal => f.write_str("No one owns our local resources!"),
            NoOneOwnsForeign => f.write_str("No one owns foreign resources!"),
            GoingStandby(s) => write!(f, "Going standby [{s}]."),
            StandbyOnlyNiceFailback => {
                f.write_str("Standby mode only implemented when nice_failback on")
            }
            StandbyInProgress { from, secs_left } => write!(
                f,
                "Standby in progress- new request from {} ignored [{secs_left} seconds left]",
                n(from)
            ),
            StandbyIgnoredOtherInFlux { info, from } => write!(
                f,
                "standby message [{}] from {} ignored.  Other side is in flux.",
                info.as_str(),
                n(from)
            ),
            StandbyIgnoredLocalInFlux { info, from } => write!(
                f,
                "standby message [{}] from {} ignored.  local resources in flux.",
                info.as_str(),
                n(from)
            ),
            WantsToGoStandby { from, set } => write!(f, "{} wants to go standby [{set}]", n(from)),
            StandbyCanTake { from, set } => {
                write!(f, "standby: {} can take our {set} resources", n(from))
            }
            StandbyAcquireFrom { from, set } => {
                write!(f, "standby: acquire [{set}] resources from {}", n(from))
            }
            LocalStandbyCompleted(s) => write!(f, "Local standby process completed [{s}]."),
            StandbyAcquisitionDone(s) => write!(f, "Standby resource acquisition done [{s}]."),
            OtherCompletedStandby(s) => {
                write!(f, "Other node completed standby takeover of {s} resources.")
            }
            StandbyIgnored { info, from, state } => write!(
                f,
                "Ignored standby message '{}' from {} in state {}",
                info.as_str(),
                n(from),
                state as u8
            ),
            NoStandbyReply => {
                f.write_str("No reply to standby request.  Standby request cancelled.")
            }
            GoStandbyBegin { acquire, set } => write!(
                f,
                "{} {set} HA resources (standby).",
                if acquire { "acquire" } else { "give up" }
            ),
            GoStandbyEnd { acquire, set } => write!(
                f,
                "{set} HA resource {} completed (standby).",
                if acquire { "acquisition" } else { "release" }
            ),
            ShutdownDelayedComm => f.write_str("Shutdown delayed until Communication is up."),
            ShutdownDelayed => {
                f.write_str("Shutdown delayed until current resource activity finishes.")
            }
            ShutdownUnderway => f.write_str("Heartbeat shutdown already underway."),
            GivingUpAll => f.write_str("Giving up all HA resources."),
            AllRelinquished => f.write_str("All HA resources relinquished."),
            AcquireFailed(x) => write!(f, "Giving up resources due to failure of {}", g(x)),
            ReleaseFailed(x) => write!(f, "Resource STOP failure. Reboot required! ({})", g(x)),
            MonitorCheckFailed {
                group,
                failures,
                of,
            } => write!(
                f,
                "Resource group {} failed its status check ({failures}/{of}).",
                g(group)
            ),
            MonitorRestarting { group, restart, of } => write!(
                f,
                "Restarting resource group {} in place (restart {restart}/{of}).",
                g(group)
            ),
            MonitorGivingAway { group, restarts } => write!(
                f,
                "Resource group {} still fails after {restarts} restarts: giving it to the other node.",
                g(group)
            ),
            // The one way a standby is refused (multi-node clusters).
            MonitorStandbyRefused(x) => write!(
                f,
                "standby for resource group {} refused: {}",
                g(x),
                CommandError::NotSupported
            ),
            MonitorRestarted(x) => write!(f, "Resource group {} restarted in place.", g(x)),
            MonitorRestartFailed(x) => write!(f, "Restart of resource group {} failed.", g(x)),
            HealKeeping { group, peer } => write!(
                f,
                "Partition healed: keeping resource group {} (run by {} too).",
                g(group),
                n(peer)
            ),
            HealYielding { group, peer } => write!(
                f,
                "Partition healed: {} keeps resource group {}; releasing it here.",
                n(peer),
                g(group)
            ),
            FenceDelayed { node, ms, idle } => write!(
                f,
                "Delaying STONITH of {} by {ms} ms (HB_FENCE_DELAY: {}).",
                n(node),
                if idle {
                    "we run no resources"
                } else {
                    "both may run resources; the first node of ha.cf goes first"
                }
            ),
            FenceYielding { node, ms } => write!(
                f,
                "Delaying STONITH of {} by {ms} ms: it announced that it resets us \
                 (HB_FENCE_DELAY).",
                n(node)
            ),
            HealClassicPeerStuck { peer, secs } => write!(
                f,
                "Partition healed {secs} s ago and {p} has not begun to give up its resource \
                 groups: both nodes may run them. heartbeat 3.0.6 waits for its own resource \
                 actions to end first, for ever if it lost one of its messages (its log: \
                 \"Shutdown delayed until current resource activity finishes.\"), and cannot \
                 be stopped then: reboot {p}, or stop its resources by hand and kill its \
                 heartbeat.",
                p = n(peer)
            ),
            HealClassicPeer(x) => write!(
                f,
                "Partition healed: no heal report from {} (heartbeat 3.0.6?): keeping our \
                 resource groups while it gives up its own.",
                n(x)
            ),
        }
    }
}
