//! The outcome fingerprint's records (see [`crate::digest`]): what a run did, in words that
//! do not depend on how hb-core's types are named or printed.

use hb_core::engine::{self, NodeId, RxError};
use hb_core::heartbeat::Event;
use hb_core::resources::MonitorRequest;

use crate::digest::Digest;

use super::node::fingerprint;
use super::world::{SimNames, World};

const REC_SEND: u64 = 1;
const REC_RECEIVE: u64 = 2;
const REC_COMMAND: u64 = 3;
const REC_EVENT: u64 = 4;
const REC_LOG: u64 = 5;
const REC_END: u64 = 6;
const REC_MONITOR: u64 = 7;

impl World<'_> {
    /// Records a packet sent: when, by whom, on which media, its bytes.
    pub(super) fn record_send(&mut self, from: usize, media: &[usize], bytes: &[u8]) {
        let mask = media.iter().fold(0u64, |m, &l| m | 1 << l);
        self.digest.words(&[REC_SEND, self.now, from as u64, mask]);
        self.digest.bytes(bytes);
    }

    /// Records an operator's command and whether the node took it.
    pub(super) fn record_command(&mut self, node: usize, ok: bool) {
        self.digest
            .words(&[REC_COMMAND, self.now, node as u64, ok as u64]);
    }

    /// Records whether a node took a packet, or why not.
    pub(super) fn record_receive(&mut self, to: usize, medium: usize, r: &Result<(), RxError>) {
        let code = match r {
            Ok(()) => 0,
            Err(RxError::Malformed) => 1,
            Err(RxError::BadAuth) => 2,
            Err(RxError::UnknownNode) => 3,
            Err(RxError::UnknownMedium) => 4,
            Err(RxError::Replay) => 5,
            Err(RxError::Stale) => 6,
        };
        let rec = [REC_RECEIVE, self.now, to as u64, medium as u64, code];
        self.digest.words(&rec);
    }

    /// Records what a node asked for, in words that do not depend on how hb-core's types are
    /// named or printed.
    pub(super) fn record_event(&mut self, i: usize, e: &Event) {
        use engine::Event as E;
        let node = |n: &NodeId| n.index() as u64;
        let words: &[u64] = match e {
            Event::Acquire(g) => &[1, g.0 as u64],
            Event::Release(g) => &[2, g.0 as u64],
            Event::Fence(t) => &[3, node(t)],
            Event::Reboot => &[4],
            Event::Exit { restart } => &[5, *restart as u64],
            Event::OutOfOrder { .. } => &[6],
            Event::Log(l) => {
                let text = self.nodes[i].hb.as_ref().unwrap().log_line(*l).to_string();
                self.digest.words(&[REC_LOG, self.now, i as u64]);
                self.digest.bytes(text.as_bytes());
                return;
            }
            Event::Ipfail(l) => {
                let text = l.line(&SimNames::new(self.sc)).to_string();
                self.digest.words(&[REC_LOG, self.now, i as u64]);
                self.digest.bytes(text.as_bytes());
                return;
            }
            Event::Membership(m) => match m {
                E::NodeDead {
                    node: n,
                    heard_from,
                } => &[10, node(n), *heard_from as u64],
                E::NodeStatus { node: n, .. } => &[11, node(n)],
                E::Restarted {
                    node: n,
                    generation,
                    ..
                } => &[12, node(n), *generation],
                E::ReturnedAfterPartition { node: n } => &[13, node(n)],
                E::CommUp => &[14],
                E::NoLocalHeartbeat => &[15],
                E::ShutdownStarted => &[16],
                E::ShutdownComplete => &[17],
                E::LinkDead { node: n, medium } => &[18, node(n), medium.index() as u64],
                E::LinkUp { node: n, medium } => &[19, node(n), medium.index() as u64],
                // The rest shows in the log lines and the packets.
                _ => &[9],
            },
            // Violations, counted at the end.
            _ => &[0],
        };
        self.digest.words(&[REC_EVENT, self.now, i as u64]);
        self.digest.words(words);
    }

    /// Records a monitoring request a node made (`done` None) or its outcome. Only runs with
    /// monitoring on have these, so the fingerprints of the others stay as they were.
    pub(super) fn record_monitor(&mut self, i: usize, req: MonitorRequest, done: Option<bool>) {
        let (kind, g) = match req {
            MonitorRequest::Check(g) => (1, g),
            MonitorRequest::Restart(g) => (2, g),
        };
        let outcome = done.map_or(0, |running| 1 + running as u64);
        let rec = [REC_MONITOR, self.now, i as u64, kind, g.0 as u64, outcome];
        self.digest.words(&rec);
    }

    /// The end of the run: the counts, and every node's state.
    pub(super) fn finish_digest(&mut self) {
        let s = self.out.stats;
        self.digest.words(&[
            REC_END,
            self.now,
            s.steps,
            s.packets,
            s.moves,
            s.deaths,
            s.injected,
            s.unsettled as u64,
            s.out_of_order,
            s.ipfail_giveups,
            s.stalls,
            self.out.violations.len() as u64,
        ]);
        for n in &self.nodes {
            self.digest
                .words(&[n.generation, n.held as u64, n.hb.is_some() as u64]);
            if let Some(hb) = &n.hb {
                self.digest.words(&fingerprint(hb));
            }
        }
        let digest = std::mem::replace(&mut self.digest, Digest::new());
        self.out.fingerprint = digest.finish();
    }
}
