//! The network: every medium a lossy broadcast domain (loss, delay and jitter, duplicates,
//! corruption, cuts), delivery to a node, and the attacker's packets.

use std::rc::Rc;

use hb_core::engine::{self, Encoding, MediumId, NodeId, RxError};
use hb_core::heartbeat::Event;
use hb_core::msg::{self, compact, Field, Format, Message, DEFAULT_FIELDS};

use crate::scenario::{MediumKind, Scenario};

use super::node::fingerprint;
use super::world::{Captured, Ev, Meta, World, OLD_PACKETS, SETTLED_LOSS};

impl World<'_> {
    pub(super) fn transmit(
        &mut self,
        from: usize,
        media: Vec<usize>,
        bytes: Rc<[u8]>,
        enc: Encoding,
    ) {
        self.record_send(from, &media, &bytes);
        let meta = Rc::new(self.meta(from, &bytes, enc));
        if self.verbose && !meta.status && !meta.text.starts_with("NS_") {
            let text = meta.text.clone();
            self.log(Some(from), || format!("sends {text}"));
        }
        let heal = meta.text == "hb_heal" || meta.text.starts_with("t=hb_heal");
        if heal && self.opts.sabotage == Some(super::world::Sabotage::HealReportsLost) {
            return;
        }
        for &m in &media {
            let n = &mut self.nodes[from];
            if n.recent.len() == OLD_PACKETS {
                n.recent.pop_front();
            }
            n.recent.push_back(Captured {
                medium: m,
                hg: meta.hg,
                bytes: bytes.clone(),
            });
            for to in 0..self.sc.nodes {
                if to == from {
                    continue;
                }
                self.out.stats.packets += 1;
                if self.cut[from][to] & (1 << m) != 0 {
                    continue;
                }
                let link = *self.sc.link(from, to, m);
                // The network calms down with the faults (a loss burst long enough to look
                // like a partition stays possible, only rarer).
                let loss = if self.faults_over {
                    link.loss.min(SETTLED_LOSS)
                } else {
                    link.loss
                };
                if self.rng.chance(loss) {
                    continue;
                }
                let copies = if self.rng.chance(link.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    let delay = link.delay + self.rng.below(link.jitter + 1);
                    let (bytes, corrupted) = if self.rng.chance(link.corrupt) {
                        let mut v = bytes.to_vec();
                        let at = self.rng.below(v.len() as u64) as usize;
                        v[at] ^= 1 << self.rng.below(8);
                        (Rc::from(v), true)
                    } else {
                        (bytes.clone(), false)
                    };
                    self.schedule(
                        self.now + delay,
                        Ev::Deliver {
                            to,
                            medium: m,
                            bytes,
                            meta: meta.clone(),
                            corrupted,
                        },
                    );
                }
            }
        }
    }

    pub(super) fn meta(&self, from: usize, bytes: &[u8], enc: Encoding) -> Meta {
        let mut meta = Meta {
            from,
            status: false,
            hg: 0,
            seq: 0,
            dt: 0,
            text: String::new(),
        };
        let mut fill = |m: &Message<'_, DEFAULT_FIELDS>| {
            let t = m.get_str("t").unwrap_or("?");
            meta.status = t == "status";
            meta.hg = m.get_hex("hg").unwrap_or(0);
            meta.seq = m.get_hex("seq").unwrap_or(0);
            meta.dt = m.get_hex("dt").unwrap_or(0);
            if self.verbose {
                meta.text = m
                    .fields()
                    .iter()
                    .filter(|f| {
                        !matches!(
                            f.name,
                            b"src"
                                | b"srcuuid"
                                | b"hg"
                                | b"ts"
                                | b"ld"
                                | b"ttl"
                                | b"auth"
                                | b"destuuid"
                        )
                    })
                    .map(|f| {
                        format!(
                            "{}={}",
                            String::from_utf8_lossy(f.name),
                            String::from_utf8_lossy(f.value)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
            } else {
                meta.text = t.to_string();
            }
        };
        let mut scratch = [0u8; 2048];
        match enc {
            Encoding::Compact => {
                let mut wire = bytes.to_vec();
                if let Ok(p) = compact::decode::<DEFAULT_FIELDS>(&mut wire, &mut scratch) {
                    fill(&p.msg);
                }
            }
            _ => {
                if let Ok(p) = msg::decode::<DEFAULT_FIELDS>(bytes, &mut scratch) {
                    fill(&p.msg);
                }
            }
        }
        meta
    }

    pub(super) fn deliver(
        &mut self,
        to: usize,
        medium: usize,
        bytes: &[u8],
        meta: &Meta,
        corrupted: bool,
    ) {
        let (now, wall) = (self.instant(), self.wall());
        let Some(hb) = self.nodes[to].hb.as_mut() else {
            return;
        };
        let r = hb.handle_packet(now, wall, MediumId(medium as u8), bytes);
        self.record_receive(to, medium, &r);
        match r {
            Ok(()) if corrupted => self.violation(format!(
                "{} took a corrupted packet from {} ({})",
                Scenario::node_name(to),
                Scenario::node_name(meta.from),
                meta.text
            )),
            Ok(()) => {
                if meta.status && self.verbose && self.opts.statuses {
                    let (from, hg, seq, dt) = (meta.from, meta.hg, meta.seq, meta.dt);
                    self.log(Some(to), || {
                        format!(
                            "took status of node{} hg={hg} seq={seq} dt={dt} on medium {medium}",
                            from + 1
                        )
                    });
                }
                if meta.status {
                    let rx = &mut self.nodes[to].rx[meta.from];
                    rx.last = Some((self.now, meta.dt));
                    if rx
                        .newest
                        .is_none_or(|(hg, seq, _)| (meta.hg, meta.seq) > (hg, seq))
                    {
                        rx.newest = Some((meta.hg, meta.seq, self.now));
                    }
                }
            }
            Err(RxError::BadAuth | RxError::Malformed) if !corrupted => self.violation(format!(
                "{} refused an intact packet from {} ({}): {r:?}",
                Scenario::node_name(to),
                Scenario::node_name(meta.from),
                meta.text
            )),
            Err(_) => {}
        }
        self.after(to);
    }

    // -----------------------------------------------------------------------------------------
    // Attacks.

    /// A recent packet of another node, signed with a wrong key.
    pub(super) fn inject_wrong_key(&mut self, to: usize) {
        let candidates: Vec<Captured> = (0..self.sc.nodes)
            .filter(|&q| q != to)
            .flat_map(|q| self.nodes[q].recent.iter().cloned())
            .collect();
        if candidates.is_empty() {
            return;
        }
        let c = candidates[self.rng.below(candidates.len() as u64) as usize].clone();
        let kind = self.sc.media[c.medium];
        let mut scratch = [0u8; 2048];
        let mut wire = c.bytes.to_vec();
        let mut out = [0u8; 4096];
        let len = match kind {
            MediumKind::Compact => {
                let Ok(p) = compact::decode::<DEFAULT_FIELDS>(&mut wire, &mut scratch) else {
                    return;
                };
                let fields: Vec<Field<'_>> = p.msg.fields().to_vec();
                compact::encode(&fields, Some(&self.wrong_keys), &mut out)
            }
            _ => {
                let Ok(p) = msg::decode::<DEFAULT_FIELDS>(&c.bytes, &mut scratch) else {
                    return;
                };
                let fields: Vec<Field<'_>> = p
                    .msg
                    .fields()
                    .iter()
                    .filter(|f| f.name != b"auth")
                    .copied()
                    .collect();
                let format = if kind == MediumKind::Serial {
                    Format::Classic
                } else {
                    Format::Netstring
                };
                msg::encode(&fields, format, Some(&self.wrong_keys), &mut out)
            }
        };
        let Ok(len) = len else {
            return;
        };
        self.inject(
            to,
            c.medium,
            &out[..len],
            "a packet signed with a wrong key",
        );
    }

    /// A packet of an earlier generation of a node whose current generation `to` knows.
    pub(super) fn inject_replay(&mut self, to: usize) {
        let Some(hb) = self.nodes[to].hb.as_ref() else {
            return;
        };
        let mut candidates = Vec::new();
        for q in 0..self.sc.nodes {
            if q == to {
                continue;
            }
            let known = hb.node(NodeId(q as u8)).map_or(0, |n| n.generation());
            candidates.extend(self.nodes[q].old.iter().filter(|c| c.hg < known).cloned());
        }
        if candidates.is_empty() {
            return;
        }
        let c = candidates[self.rng.below(candidates.len() as u64) as usize].clone();
        self.inject(to, c.medium, &c.bytes, "a packet of an old generation");
    }

    pub(super) fn inject(&mut self, to: usize, medium: usize, bytes: &[u8], what: &str) {
        let (now, wall) = (self.instant(), self.wall());
        if self.nodes[to].hb.is_none() || self.nodes[to].stalled_until.is_some() {
            return;
        }
        self.out.stats.injected += 1;
        let enc = match self.sc.media[medium] {
            MediumKind::Bcast => Encoding::Netstring,
            MediumKind::Serial => Encoding::Classic,
            MediumKind::Compact => Encoding::Compact,
        };
        let what = format!("{what} ({})", self.meta(usize::MAX, bytes, enc).text);
        let Some(hb) = self.nodes[to].hb.as_mut() else {
            return;
        };
        let before = fingerprint(hb);
        let r = hb.handle_packet(now, wall, MediumId(medium as u8), bytes);
        let after = fingerprint(hb);
        let mut effects = Vec::new();
        while let Some(tx) = hb.poll_transmit(now, &mut self.buf) {
            effects.push(format!("a packet ({:?})", tx.encoding));
        }
        while let Some(e) = hb.poll_event() {
            if !matches!(e, Event::Membership(engine::Event::ReplayRejected { .. })) {
                effects.push(format!("{e:?}"));
            }
        }
        self.record_receive(to, medium, &r);
        self.log(Some(to), || format!("is sent {what}: {r:?}"));
        if r.is_ok() || before != after || !effects.is_empty() {
            self.violation(format!(
                "{} took {what}: {r:?}, state changed: {}, effects: {effects:?}",
                Scenario::node_name(to),
                before != after
            ));
        }
        self.after(to);
    }
}
