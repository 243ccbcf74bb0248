//! What the resource logic logs, as values: [`LogMsg`] names the event, [`LogLine`] (from
//! [`Resources::poll_log`](super::Resources::poll_log)) prints heartbeat 3.0.6's exact text for
//! it (behaviour spec §4, §9.2; the words are in [`crate::log`]), with the node names and group
//! keys filled in.
//!
//! Lines that 3.0.6 prints from a shell script (`mach_down`, `hb_standby`) carry the script's
//! text; the daemon chooses the line format. Lines that need something only the daemon knows
//! (a pid, a STONITH device id) are left to the daemon.

use super::msg::{RscSet, StandbyInfo};
use super::{GroupId, NodeId, RscState, StandbyState};
pub use crate::log::Level;

/// The path 3.0.6 (Debian's package) prints in `No local resources [...] to acquire.`
pub const RESOURCE_MANAGER: &str = "/usr/share/heartbeat/ResourceManager";

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
    /// The peer dropped the standby request we answered (`hb_standby_cancel`).
    StandbyDroppedByPeer(NodeId),
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
    // Healing a split (hb's own).
    HealKeeping {
        group: GroupId,
        peer: NodeId,
    },
    HealYielding {
        group: GroupId,
        peer: NodeId,
    },
    HealClassicPeer(NodeId),
    /// A 3.0.6 peer has not begun to give up `secs` after the heal.
    HealClassicPeerStuck {
        peer: NodeId,
        secs: u32,
    },
    /// `HB_FENCE_DELAY`: the reset of `node` waits `ms`; `idle`: we run no group.
    /// (Logged only when there is a wait.)
    FenceDelayed {
        node: NodeId,
        ms: u32,
        idle: bool,
    },
    /// `HB_FENCE_DELAY`: `node` said (`hb_fence`) it resets us; ours of it waits `ms`.
    FenceYielding {
        node: NodeId,
        ms: u32,
    },
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
            | MonitorRestarting { .. }
            | HealYielding { .. }
            | HealClassicPeer(_) => Level::Warn,
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
            | MonitorRestartFailed(_)
            | HealClassicPeerStuck { .. } => Level::Err,
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

/// A [`LogMsg`] with the names it needs; `Display` is heartbeat's text
/// ([`crate::log`] has the words).
pub type LogLine<'a> = crate::log::Line<'a, LogMsg>;
