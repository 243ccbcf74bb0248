//! hb's system tests. Today: the deterministic simulator ([`sim`]) behind `hbsim`.
//!
//! A seed makes a [`Scenario`] (2–8 nodes, 1–3 media, groups, `auto_failback` mode, STONITH or
//! not, ping nodes and ipfail, resource monitoring, network faults, crashes, stalled daemons,
//! lost ping nodes, failing services, key rotation, commands, attacks); [`sim::run`] plays it on one virtual clock
//! with hb-core's [`Heartbeat`](hb_core::heartbeat::Heartbeat) as every node and checks, after
//! every step:
//!
//! 1. **One owner with fencing.** With STONITH configured, no two nodes hold a group at the
//!    same time. A node holds a group from the moment it starts acquiring it until its release
//!    completes; a crashed, reset or exited node holds nothing. Two nodes with `env
//!    HB_FENCE_DELAY` (half of the two-node STONITH seeds draw it) never reset each other.
//! 2. **Two owners only across a split, and not for long.** Without STONITH, two nodes may
//!    hold a group only while one of them has the other as dead, or within
//!    `deadtime + 2 s + (groups + 2) × longest action + 5 keepalives` after that ended
//!    (heartbeat's answer to a partition: the node that hears a peer it buried gives
//!    everything up and restarts 2 s later; two hb nodes settle it group by group, within the
//!    1 s heal report deadline + `(groups + 2) × (longest action + 100 ms) + 5 keepalives`).
//!    Heartbeat cannot tell a partition from enough
//!    packet loss, so a split is defined by what the nodes concluded; check 3's lower bound
//!    makes sure they only conclude it after a dead time of silence.
//! 3. **Deaths detected in time.** A node declares a peer dead no earlier than `deadtime` after
//!    the newest status it took from it, and a node that stopped, or whose daemon stalled, is
//!    declared dead by every live peer that had it alive no later than its dead time (the `dt`
//!    of the last status taken from it; `initdead` while the peer's comm was not up) plus one
//!    keepalive after the last status that peer took from it (or when that peer runs again,
//!    if it was stalled itself). A stalled daemon whose comm was up, and whose stall outlasted
//!    the longest dead time it advertises, says `No local heartbeat` at its first timeout after
//!    the stall (unless it said so before or is already leaving).
//! 4. **No flapping.** A group's holders change only within a bounded time after a cause: a
//!    node starting, stopping, stalling or being declared dead, a connectivity change, a
//!    command, a fence, a failed action (the failed-start hand-over comes 30 s later), or an
//!    ipfail give-up (`giveup() called` after a `Giving up …` decision; a ping node's death or
//!    return alone is no cause). auto_failback and heals act through these.
//! 5. **ipfail gives everything away only for a difference.** When a node's ipfail decides to
//!    give up `all` (`Giving up because we have less visible ping nodes.` or `… we were told
//!    that we have less ping nodes.`), that node reaches fewer ping nodes than its peer, unless
//!    some node's reachability changed or a daemon stalled within `deadtime + 2 keepalives +
//!    5 s` (counts lag by `deadping` and the messages carrying them). With equal counts nothing
//!    moves for ipfail, but for `auto_failback on`'s hand-back of foreign groups.
//! 6. **Attacks change nothing.** A recent packet re-signed with a wrong key, or a packet of an
//!    earlier generation of a node whose current generation the receiver knows, is refused
//!    and leaves the receiver's state (every accessor), its packets and its events (but a
//!    `ReplayRejected` notice) as they were.
//! 7. **Monitoring does what ha.cf says.** In a quarter of the seeds ha.cf turns resource
//!    monitoring on (`env HB_MONITOR_INTERVAL`, `_FAILURES`, `_RESTARTS`) and services die or
//!    break on their nodes; the fake daemon runs the checks and restarts the nodes ask for. A
//!    node restarts a group only while it holds it, after `HB_MONITOR_FAILURES` failed checks
//!    in a row (one after a failed restart), at most `HB_MONITOR_RESTARTS` times while it holds
//!    it, then gives it away with `hb_standby` (refused with three or more nodes); restarts
//!    are in place, so checks 1 and 2 see a group on one node throughout. After settling, a
//!    group's service runs on its holder, except where no standby can move it (`auto_failback
//!    legacy`, three or more nodes: counted as left down).
//!
//! 8. **Never both reset (fence races, issue 12).** Two nodes with `HB_FENCE_DELAY`: a fence
//!    never completes after its requester was reset by its target. Two nodes with STONITH
//!    through the relay board (the fence-race family, [`Scenario::fence_race`], `hbsim
//!    --fence-race`): the relay never resets a node on the request of a peer that it reset on
//!    that node's request less than `FENCE_WINDOW` before; the loser's request is refused
//!    (a failed fence) by hb-core's `FenceArbiter`, which the simulator plays the relay with.
//!
//! Also checked: no intact packet refused as malformed or unauthenticated (during a key rotation
//! too: every node lists both keys before any signs with the new one, so none is declared dead
//! for it), no corrupted one taken, no events or resource messages lost, no node exits while it holds a group, and after
//! the settle time (faults over, everything healed and started) every group has exactly one
//! holder with no action in flight.

pub mod digest;
pub mod rng;
pub mod scenario;
pub mod sim;

pub use scenario::Scenario;
pub use sim::{run, Outcome};
