//! The simulation: the nodes of a [`Scenario`] (each a
//! [`Heartbeat`](hb_core::heartbeat::Heartbeat) from hb-core, built from generated
//! `ha.cf`/`haresources` text), a network of lossy broadcast media, a fake daemon per node that
//! runs resource actions and fences, one virtual clock, and the invariants, checked after every
//! step. One room each: `world` (state, set-up, main loop), `node` (a node's life and what
//! follows each input to it), `network`, `faults` (and operators), `monitor` (resource
//! monitoring's checks and restarts, and its invariants), `invariants`, `record` (the outcome
//! fingerprint).
//!
//! # The fault model
//! * Network: every medium is a broadcast domain. Each direction of each medium between two
//!   nodes loses, delays (latency plus jitter, so packets overtake each other), duplicates and
//!   corrupts (one byte flipped) packets at its own seeded rates. Partitions cut chosen media
//!   between two sides, both ways or one way, and heal.
//! * Nodes crash (everything they run stops with them) and restart with their persisted
//!   generation plus one; they shut down gracefully (SIGTERM) and start again; they exit with
//!   `restart` (`No local heartbeat`, return after a partition) and come back.
//! * The fake daemon: actions take their time (some are slow), starts and stops fail (a failed
//!   stop asks for a reboot, which the simulator performs), fencing takes its time and fails or
//!   resets its target.
//! * Ping nodes answer each node's pings as the node's reachability says: a node loses its
//!   ping node (its uplink fails), or a ping node stops answering everyone; both come back.
//!   With ipfail configured, the nodes run it built in.
//! * A daemon stalls (its loop stops: no timers, no packets read, no action results taken) for
//!   longer than the dead time, then goes on: its peers must see it dead, and it must notice
//!   (`No local heartbeat`) while they handle its return.
//! * Key rotation: a second key is added everywhere, then the nodes switch to signing with it
//!   one after the other.
//! * Services, with resource monitoring on: a group's service dies on the node running it (a
//!   restart brings it back) or cannot run on a node until the faults end; status checks fail
//!   by chance, restarts fail (the stop of one as often as a release, which reboots).
//! * Operators: `hb_standby` and `hb_takeover` with every set (two nodes).
//! * An attacker: packets signed with a wrong key, packets of an earlier generation replayed.
//!
//! # The invariants
//! See [`crate`] (the crate documentation lists them with their precise conditions).

mod faults;
mod invariants;
mod monitor;
mod network;
mod node;
mod record;
#[cfg(test)]
mod tests;
mod world;

use crate::scenario::Scenario;
use world::World;
pub use world::{Hb, Options, Outcome, Sabotage, Stats};

/// Runs one scenario. With `timeline`, the timeline is recorded.
pub fn run(sc: &Scenario, timeline: bool) -> Outcome {
    run_with(
        sc,
        Options {
            timeline,
            ..Options::default()
        },
    )
}

pub fn run_with(sc: &Scenario, opts: Options) -> Outcome {
    let mut w = World::new(sc, opts);
    w.run();
    w.finish_digest();
    w.out
}
