//! Sending: heartbeat's `send_local_status`, `send_cluster_msg` and `process_outbound_packet`
//! (number, keep, loop back, queue), and the encoding of queued packets for `poll_transmit`.

use super::*;

impl<
        const NODES: usize,
        const MEDIA: usize,
        const HIST: usize,
        const HIST_BYTES: usize,
        const EVENTS: usize,
    > Membership<NODES, MEDIA, HIST, HIST_BYTES, EVENTS>
{
    pub(super) fn set_local_status(&mut self, now: Instant, wall_secs: u64, status: NodeStatus) {
        if self.local_status == status {
            return;
        }
        self.local_status = status;
        self.nodes[self.local.index()].status = status;
        self.push_event(Event::LocalStatus { status });
        self.send_status(now, wall_secs);
    }

    /// The dead time we ask peers to use for us, rounded down to clock ticks as 3.0.6 does.
    pub(super) fn advertised_deadtime(&self) -> u64 {
        let mut ms = self.deadtime.as_millis();
        if self.restart_bumped {
            // 3.0.6 raises its dead time to this, whatever bump it carried.
            ms += RESTART_DEADTIME_BUMP.as_millis();
        } else if self.deadtime_bumped {
            ms += STARTUP_DEADTIME_BUMP.as_millis();
        }
        ms / CLOCK_TICK.as_millis() * CLOCK_TICK.as_millis()
    }

    pub(super) fn send_status(&mut self, now: Instant, wall_secs: u64) {
        let body = StatusBody {
            st: self.local_status,
            dt_ms: self.advertised_deadtime(),
            protocol: self.flow_control,
        };
        let _ = self.send_sequenced(now, wall_secs, RecordBody::Status(body));
        self.status_sent_at = now;
        // Ping media write an echo for every status message.
        for n in self.nodes.iter_mut().filter(|n| n.kind == NodeKind::Ping) {
            n.ping_due = true;
        }
    }

    /// Numbers, keeps, loops back and queues a sequenced message.
    pub(super) fn send_sequenced(
        &mut self,
        now: Instant,
        wall_secs: u64,
        body: RecordBody<'_, '_>,
    ) -> Result<u64, SendError> {
        if self.pending.is_full() {
            return Err(SendError::QueueFull);
        }
        let seq = self.next_seq;
        let name = self.nodes[self.local.index()].name.clone();
        let uuid = self.uuid;
        let ld = self.ld.clone();
        let body_ref = match body {
            RecordBody::Status(s) => BodyRef::Status(s),
            RecordBody::Fields(f) => BodyRef::Fields(f),
        };
        let dest_uuid = match body {
            RecordBody::Fields(f) => self.dest_uuid(wire::dest_of(f.iter().copied())),
            RecordBody::Status(_) => None,
        };
        let id = Identity {
            src: &name,
            srcuuid: &uuid,
            hg: self.generation,
            ttl: self.ttl,
            dest_uuid: dest_uuid.as_ref(),
        };
        let mut texts = Texts::default();
        let msg: Message<'_, DEFAULT_FIELDS> =
            wire::compose(&mut texts, body_ref, &id, Some(seq), wall_secs, &ld)
                .map_err(|_| SendError::TooLarge)?;
        self.history
            .push(seq, wall_secs, ld.as_bytes(), body)
            .map_err(|_| SendError::TooLarge)?;
        self.next_seq += 1;
        // process_outbound_packet: our own receive path first (our ACK of it goes out before
        // it, as in the captures), then the media.
        let _ = self.receive(now, wall_secs, None, &msg);
        self.queue(Pending::Sequenced { seq });
        Ok(seq)
    }

    /// `destuuid` for a `dest` naming a known node (zeros while its UUID is unknown).
    pub(super) fn dest_uuid(&self, dest: Option<&[u8]>) -> Option<[u8; 16]> {
        let dest = dest?;
        let n = self.nodes.iter().find(|n| n.name.as_bytes() == dest)?;
        Some(n.uuid.unwrap_or([0; 16]))
    }

    pub(super) fn queue(&mut self, p: Pending) {
        // A full queue means the caller is not sending: what is lost here is asked for again
        // (sequenced messages are in the history) or sent again (ACKs, requests).
        let _ = self.pending.push_back(p);
    }

    pub(super) fn media_using(&self, encoding: Encoding) -> MediaSet {
        self.media
            .iter()
            .enumerate()
            .filter(|(_, m)| m.encoding == encoding)
            .fold(MediaSet::EMPTY, |s, (i, _)| s.with(MediumId(i as u8)))
    }

    pub(super) fn encode_pending(
        &self,
        item: Pending,
        encoding: Encoding,
        buf: &mut [u8],
    ) -> Result<usize, Unsendable> {
        let local = &self.nodes[self.local.index()];
        let mut texts = Texts::default();
        let node_dest = |n: NodeId| {
            let d = &self.nodes[n.index()];
            (d.name.as_str(), d.uuid.unwrap_or([0; 16]))
        };
        let (body, seq, ts, ld, dest_uuid) = match item {
            Pending::Sequenced { seq } => {
                let Lookup::Found(rec) = self.history.get(seq) else {
                    return Err(Unsendable::Gone);
                };
                let ld = core::str::from_utf8(rec.ld).unwrap_or(LOAD_AVERAGE_UNKNOWN);
                match rec.body {
                    BodyView::Status(s) => (BodyRef::Status(s), Some(seq), rec.ts, ld, None),
                    BodyView::Fields(raw) => (
                        BodyRef::Raw(raw),
                        Some(seq),
                        rec.ts,
                        ld,
                        self.dest_uuid(wire::dest_of(raw)),
                    ),
                }
            }
            Pending::Ack { dest, ackseq, ts } => {
                let (name, uuid) = node_dest(dest);
                (
                    BodyRef::Ack { dest: name, ackseq },
                    None,
                    ts,
                    "",
                    Some(uuid),
                )
            }
            Pending::Rexmit { dest, seq, ts } => {
                let (name, uuid) = node_dest(dest);
                (
                    BodyRef::Rexmit { dest: name, seq },
                    None,
                    ts,
                    "",
                    Some(uuid),
                )
            }
            Pending::Nak {
                dest,
                seq,
                reason,
                ts,
            } => {
                let (name, uuid) = node_dest(dest);
                (
                    BodyRef::Nak {
                        dest: name,
                        seq,
                        reason,
                    },
                    None,
                    ts,
                    "",
                    Some(uuid),
                )
            }
        };
        let id = Identity {
            src: &local.name,
            srcuuid: &self.uuid,
            hg: self.generation,
            ttl: self.ttl,
            dest_uuid: dest_uuid.as_ref(),
        };
        let msg: Message<'_, DEFAULT_FIELDS> =
            wire::compose(&mut texts, body, &id, seq, ts, ld).map_err(|_| Unsendable::Encode)?;
        let keys = &self.keys;
        let written = match encoding {
            Encoding::Netstring => {
                let signing = if self.auth_field {
                    netstring::Signing::AuthFieldAndTrailer(keys)
                } else {
                    netstring::Signing::Trailer(keys)
                };
                netstring::encode(msg.fields(), signing, buf)
            }
            Encoding::Classic => {
                let mut sink = msg::SliceSink::new(buf);
                msg::classic::encode(msg.fields(), Some(keys), &mut sink).map(|()| sink.len())
            }
            Encoding::Compact => compact::encode(msg.fields(), Some(keys), buf),
        };
        written.map_err(|_| Unsendable::Encode)
    }
}

/// Why a pending packet was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unsendable {
    /// Its message left the history before it was sent.
    Gone,
    /// It did not fit the caller's buffer.
    Encode,
}
