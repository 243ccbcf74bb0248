//! What the resource logic logs, as values: [`LogMsg`] names the event, [`LogLine`] (from
//! [`Resources::poll_log`](super::Resources::poll_log)) prints heartbeat 3.0.6's exact text for
//! it (behaviour spec §4, §9.2), with the node names and group keys filled in.
//!
//! Lines that 3.0.6 prints from a shell script (`mach_down`, `hb_standby`) carry the script's
//! text; the daemon chooses the line format. Lines that need something only the daemon knows
//! (a pid, a STONITH device id) are left to the daemon.

use core::fmt;

use super::msg::{RscSet, StandbyInfo};
use super::{GroupId, NodeId, RscState, StandbyState};

/// The path 3.0.6 (Debian's package) prints in `No local resources [...] to acquire.`
pub const RESOURCE_MANAGER: &str = "/usr/share/heartbeat/ResourceManager";

/// A log line's priority, heartbeat's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Level {
    Debug,
    Info,
    Warn,
    Err,
    Crit,
}

impl Level {
    /// The word heartbeat prints: `debug`, `info`, `WARN`, `ERROR`, `CRIT`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "WARN",
            Level::Err => "ERROR",
            Level::Crit => "CRIT",
        }
    }
}

/// Which script or process a 3.0.6 line comes from, where it is not the daemon itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Origin {
    /// The heartbeat daemon (or one of its forked resource children).
    Heartbeat,
    /// The `mach_down` script.
    MachDown,
    /// The `hb_standby` script.
    HbStandby,
}

/// Something the resource logic logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LogMsg {
    // Node death, STONITH, takeover.
    NoStonithDevice,
    SharedDisksNotProtected,
    ResourcesBeingAcquired(NodeId),
    DeadNodeGaveUp(NodeId),
    NodeNowReset(NodeId),
    HostNotReset(NodeId),
    StonithFailedRetrying(NodeId),
    TakeoverCancelled,
    CancellingStandby,
    TakingOverGroup(GroupId),
    MachDownForeignAcquired,
    MachDownCompleteFor(NodeId),
    MachDownComplete,
    ReceivedShutdownNotice(NodeId),
    // Startup negotiation.
    StartingInState(RscState),
    ResourceInState(RscState),
    StartingDuringTakeover,
    RemoteTransitionCompleted,
    LocalTransitionCompleted,
    LocalAcquisitionNone,
    LocalAcquisitionCompleted,
    NoLocalResources,
    InitialAcquisitionComplete(&'static str),
    // Audits.
    BothOwnOurs,
    BothOwnForeign,
    NoOneOwnsLocal,
    NoOneOwnsForeign,
    // Standby.
    GoingStandby(RscSet),
    StandbyOnlyNiceFailback,
    StandbyInProgress {
        from: NodeId,
        secs_left: u64,
    },
    StandbyIgnoredOtherInFlux {
        info: StandbyInfo,
        from: NodeId,
    },
    StandbyIgnoredLocalInFlux {
        info: StandbyInfo,
        from: NodeId,
    },
    WantsToGoStandby {
        from: NodeId,
        set: RscSet,
    },
    StandbyCanTake {
        from: NodeId,
        set: RscSet,
    },
    StandbyAcquireFrom {
        from: NodeId,
        set: RscSet,
    },
    LocalStandbyCompleted(RscSet),
    StandbyAcquisitionDone(RscSet),
    OtherCompletedStandby(RscSet),
    StandbyIgnored {
        info: StandbyInfo,
        from: NodeId,
        state: StandbyState,
    },
    NoStandbyReply,
    /// `acquire|give up <set> HA resources (standby).`
    GoStandbyBegin {
        acquire: bool,
        set: RscSet,
    },
    /// `<set> HA resource acquisition|release completed (standby).`
    GoStandbyEnd {
        acquire: bool,
        set: RscSet,
    },
    // Shutdown.
    ShutdownDelayedComm,
    ShutdownDelayed,
    ShutdownUnderway,
    GivingUpAll,
    AllRelinquished,
    // Resource actions.
    AcquireFailed(GroupId),
    ReleaseFailed(GroupId),
    // Resource monitoring (hb's own).
    MonitorCheckFailed {
        group: GroupId,
        failures: u32,
        of: u32,
    },
    MonitorRestarting {
        group: GroupId,
        restart: u32,
        of: u32,
    },
    MonitorGivingAway {
        group: GroupId,
        restarts: u32,
    },
    MonitorStandbyRefused(GroupId),
    MonitorRestarted(GroupId),
    MonitorRestartFailed(GroupId),
}

impl LogMsg {
    pub const fn level(&self) -> Level {
        use LogMsg::*;
        match self {
            NoStonithDevice
            | SharedDisksNotProtected
            | StartingDuringTakeover
            | StandbyInProgress { .. }
            | StandbyIgnoredOtherInFlux { .. }
            | StandbyIgnoredLocalInFlux { .. }
            | NoStandbyReply
            | ShutdownDelayedComm
            | ShutdownDelayed
            | MonitorCheckFailed { .. }
            | MonitorRestarting { .. } => Level::Warn,
            HostNotReset(_)
            | StonithFailedRetrying(_)
            | StartingInState(_)
            | ResourceInState(_)
            | BothOwnOurs
            | BothOwnForeign
            | NoOneOwnsLocal
            | NoOneOwnsForeign
            | StandbyIgnored { .. }
            | MonitorStandbyRefused(_)
            | MonitorRestartFailed(_) => Level::Err,
            AcquireFailed(_) | ReleaseFailed(_) | MonitorGivingAway { .. } => Level::Crit,
            _ => Level::Info,
        }
    }

    /// Which 3.0.6 program prints this line.
    pub const fn origin(&self) -> Origin {
        match self {
            LogMsg::TakingOverGroup(_)
            | LogMsg::MachDownForeignAcquired
            | LogMsg::MachDownCompleteFor(_) => Origin::MachDown,
            LogMsg::GoingStandby(_) => Origin::HbStandby,
            _ => Origin::Heartbeat,
        }
    }
}

/// Node names and group keys, to print ids.
pub(super) trait Names {
    fn node_name(&self, id: NodeId) -> &str;
    fn group_key(&self, id: GroupId) -> &str;
    fn local_name(&self) -> &str;
}

/// A [`LogMsg`] with the names it needs; `Display` is heartbeat's text (without the
/// `info: ` priority prefix, which [`LogLine::level`] gives).
pub struct LogLine<'a> {
    pub msg: LogMsg,
    pub(super) names: &'a dyn Names,
}

impl LogLine<'_> {
    pub fn level(&self) -> Level {
        self.msg.level()
    }
}

impl fmt::Debug for LogLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.level().as_str(), self)
    }
}

impl fmt::Display for LogLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LogMsg::*;
        let n = |id: NodeId| self.names.node_name(id);
        let g = |id: GroupId| self.names.group_key(id);
        match self.msg {
            NoStonithDevice => f.write_str("No STONITH device configured."),
            SharedDisksNotProtected => f.write_str("Shared disks are not protected."),
            ResourcesBeingAcquired(x) => write!(f, "Resources being acquired from {}.", n(x)),
            DeadNodeGaveUp(x) => write!(f, "Dead node {} gave up resources.", n(x)),
            NodeNowReset(x) => write!(f, "node {} now reset.", n(x)),
            HostNotReset(x) => write!(f, "Host {} not reset!", n(x)),
            StonithFailedRetrying(x) => write!(f, "STONITH of {} failed.  Retrying...", n(x)),
            TakeoverCancelled => f.write_str("Resource takeover cancelled - shutdown in progress."),
            CancellingStandby => f.write_str("Cancelling pending standby operation"),
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
                self.names.local_name()
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
                super::CommandError::NotSupported
            ),
            MonitorRestarted(x) => write!(f, "Resource group {} restarted in place.", g(x)),
            MonitorRestartFailed(x) => write!(f, "Restart of resource group {} failed.", g(x)),
        }
    }
}
