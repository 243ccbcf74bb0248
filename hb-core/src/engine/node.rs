//! What the engine knows about each node: heartbeat's `struct node_info` and its `seqtrack`.

use heapless::{String, Vec};

use crate::config::NodeName;
use crate::time::{Duration, Instant};

use super::event::{NodeKind, NodeStatus};

/// heartbeat's `FLOWCONTROL_LIMIT` (`MAXMSGHIST / 2`): a gap of more messages than this is not
/// asked for again; sequence tracking starts over.
pub const FLOWCONTROL_LIMIT: u64 = 250;

/// Missing messages tracked per node. heartbeat's list holds `MAXMISSING` (500) but a gap
/// above [`FLOWCONTROL_LIMIT`] resets it, so this many are enough for any single gap; when
/// several gaps add up beyond it the lowest missing number is given up, as heartbeat does.
pub const MAX_MISSING: usize = FLOWCONTROL_LIMIT as usize;

/// heartbeat copies `st` into a 32-byte buffer (`STATUSLENG`); we keep at most 31 bytes.
pub const STATUS_TEXT_LEN: usize = 31;

/// A message we have not received, and when to ask for it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Missing {
    pub seq: u64,
    pub due: Instant,
}

/// Which of a node's messages we got: heartbeat's `struct seqtrack`.
#[derive(Clone, Debug, Default)]
pub(crate) struct SeqTrack {
    /// The highest sequence number received (`last_seq`; `None` is heartbeat's `NOSEQUENCE`).
    pub last_seq: Option<u64>,
    pub missing: Vec<Missing, MAX_MISSING>,
}

impl SeqTrack {
    pub(crate) fn reset(&mut self) {
        self.last_seq = None;
        self.missing.clear();
    }

    /// Records `seq` as missing; when the list is full the lowest entry makes room.
    pub(crate) fn add_missing(&mut self, seq: u64, due: Instant) {
        if let Err(m) = self.missing.push(Missing { seq, due }) {
            if let Some(lowest) = self.missing.iter_mut().min_by_key(|m| m.seq) {
                *lowest = m;
            }
        }
    }

    /// Stops waiting for `seq`; whether it was missing.
    pub(crate) fn remove_missing(&mut self, seq: u64) -> bool {
        match self.missing.iter().position(|m| m.seq == seq) {
            Some(i) => {
                self.missing.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Whether a message below `seq` is still missing (then `seq` is not ACKed).
    pub(crate) fn missing_below(&self, seq: u64) -> bool {
        self.missing.iter().any(|m| m.seq < seq)
    }

    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.missing.iter().map(|m| m.due).min()
    }
}

/// One link (a medium name) to one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub up: bool,
    pub last_heard: Instant,
}

const LINK_DOWN: Link = Link {
    up: false,
    last_heard: Instant::ZERO,
};

/// A node as the engine sees it (read with [`Membership::node`](super::Membership::node)).
#[derive(Clone, Debug)]
pub struct Node<const LINKS: usize> {
    pub(crate) name: NodeName,
    pub(crate) kind: NodeKind,
    pub(crate) uuid: Option<[u8; 16]>,
    pub(crate) status: NodeStatus,
    pub(crate) status_text: String<STATUS_TEXT_LEN>,
    /// `generation`: the newest `hg` seen in its sequenced messages (0: none yet).
    pub(crate) generation: u64,
    /// `anypacketsyet`: heard since start or since declared dead.
    pub(crate) heard: bool,
    /// `local_lastupdate`: when its last status arrived, by our clock.
    pub(crate) last_status_at: Option<Instant>,
    /// `rmt_lastupdate`: the `ts` of its last status.
    pub(crate) last_status_ts: u64,
    /// `status_seqno`: the `seq` of its last status.
    pub(crate) last_status_seq: u64,
    /// The dead time it asks for (`dt`); ours until it says.
    pub(crate) dead_interval: Duration,
    /// Its `dt` grew by a restart's bump: it is re-executing itself (a reload).
    pub(crate) restart_announced: bool,
    /// We saw it restart while we held it dead, from a message other than its status (a
    /// `reqnodes` that overtook it): its first status, `init` or `up`, is part of that plain
    /// restart, not a return after a partition.
    pub(crate) restarted_while_dead: bool,
    pub(crate) track: SeqTrack,
    /// An ACK goes out for its messages whose `seq % 10` is this.
    pub(crate) ack_trigger: u8,
    /// The highest of our sequence numbers it has acknowledged.
    pub(crate) acked: u64,
    pub(crate) links: [Link; LINKS],
    /// A ping node waiting for [`Membership::poll_ping`](super::Membership::poll_ping).
    pub(crate) ping_due: bool,
}

impl<const LINKS: usize> Node<LINKS> {
    pub(crate) fn new(name: NodeName, kind: NodeKind, dead_interval: Duration) -> Self {
        Node {
            name,
            kind,
            uuid: None,
            status: NodeStatus::Init,
            status_text: String::new(),
            generation: 0,
            heard: false,
            last_status_at: None,
            last_status_ts: 0,
            last_status_seq: 0,
            dead_interval,
            restart_announced: false,
            restarted_while_dead: false,
            track: SeqTrack::default(),
            ack_trigger: 0,
            acked: 0,
            links: [LINK_DOWN; LINKS],
            ping_due: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> NodeKind {
        self.kind
    }

    pub fn status(&self) -> NodeStatus {
        self.status
    }

    /// The status word as the node sent it (the only way to see an [`NodeStatus::Other`]).
    pub fn status_text(&self) -> &str {
        if self.status == NodeStatus::Other {
            &self.status_text
        } else {
            self.status.as_str()
        }
    }

    /// Its UUID, once learnt from `srcuuid`.
    pub fn uuid(&self) -> Option<[u8; 16]> {
        self.uuid
    }

    /// The newest generation (`hg`) seen in its sequenced messages, 0 before the first.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The dead time it asked for in its last status (`dt`), or ours.
    pub fn dead_interval(&self) -> Duration {
        self.dead_interval
    }

    /// Whether the link with this index is up (see
    /// [`MediumConfig::link`](super::MediumConfig::link)).
    pub fn link_up(&self, link: usize) -> bool {
        self.links.get(link).is_some_and(|l| l.up)
    }

    /// When a packet from it last arrived on the link with this index (`None`: never).
    pub fn link_last_heard(&self, link: usize) -> Option<Instant> {
        self.links
            .get(link)
            .map(|l| l.last_heard)
            .filter(|&t| t != Instant::ZERO)
    }

    /// When its last status message arrived, by our clock.
    pub fn last_status_at(&self) -> Option<Instant> {
        self.last_status_at
    }

    /// The highest sequence number received from it.
    pub fn last_seq(&self) -> Option<u64> {
        self.track.last_seq
    }

    /// How many of its messages we are asking for again.
    pub fn missing_count(&self) -> usize {
        self.track.missing.len()
    }

    /// Whether one of its messages numbered below `seq` is still being asked for (a message
    /// `seq` that arrived has then overtaken it).
    pub fn is_missing_below(&self, seq: u64) -> bool {
        self.track.missing_below(seq)
    }

    /// The ACK trigger drawn for it: its messages with `seq % 10` equal to this are ACKed.
    pub fn ack_trigger(&self) -> u8 {
        self.ack_trigger
    }

    /// The highest of our sequence numbers it has acknowledged.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    pub(crate) fn set_status_text(&mut self, text: &str) {
        self.status_text.clear();
        let mut end = text.len().min(STATUS_TEXT_LEN);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let _ = self.status_text.push_str(&text[..end]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_missing_list_gives_up_its_lowest_entry() {
        let mut t = SeqTrack::default();
        let at = Instant::from_millis(1);
        for seq in 1..=MAX_MISSING as u64 {
            t.add_missing(seq, at);
        }
        t.add_missing(1000, at);
        assert_eq!(t.missing.len(), MAX_MISSING);
        assert!(!t.missing.iter().any(|m| m.seq == 1));
        assert!(t.remove_missing(1000));
        assert!(!t.remove_missing(1000));
        assert!(t.missing_below(3));
        assert!(!t.missing_below(2));
    }

    #[test]
    fn status_text_is_cut_like_statusleng() {
        let mut n: Node<1> = Node::new(
            NodeName::try_from("n").unwrap(),
            NodeKind::Normal,
            Duration::ZERO,
        );
        n.set_status_text("a-very-long-status-word-longer-than-thirty-two");
        n.status = NodeStatus::Other;
        assert_eq!(n.status_text().len(), STATUS_TEXT_LEN);
        n.status = NodeStatus::Up;
        assert_eq!(n.status_text(), "up");
    }
}
