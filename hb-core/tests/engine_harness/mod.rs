//! A tiny cluster for the engine tests: engines on one virtual clock, packets passed between
//! them with a fixed latency, links that can be cut, packets that can be lost.
//!
//! Media, as in the captured test cluster: medium 0 is `bcast eth1` (every member gets every
//! packet, the sender too, as Linux loops broadcasts back), medium 1 is `ucast eth0 <peer>`
//! (the other members only).
#![allow(dead_code)]

use std::collections::HashSet;

use hb_core::auth::{Keyring, Method};
use hb_core::config::HaCf;
use hb_core::engine::{
    Encoding, Engine, EngineConfig, Event, MediumId, NodeId, NodeStatus, RxError, Transmit,
};
use hb_core::msg::{self, Field, FieldType, Message};
use hb_core::time::{Duration, Instant};

pub type Eng = Engine<4, 4>;

pub const KEY: &[u8] = b"hbh-test-key-not-secret";
pub const BCAST: MediumId = MediumId(0);
pub const UCAST: MediumId = MediumId(1);
pub const KEEPALIVE: Duration = Duration::from_millis(200);
pub const WARNTIME: Duration = Duration::from_millis(600);
pub const DEADTIME: Duration = Duration::from_millis(1000);
pub const INITDEAD: Duration = Duration::from_millis(3000);
/// 2026-11-21T22:01:12Z, the captures' start.
pub const WALL_START: u64 = 0x6b02_14a8;

pub fn keys() -> Keyring {
    keys_with(KEY)
}

pub fn keys_with(key: &[u8]) -> Keyring {
    let mut k = Keyring::new();
    k.insert(1, Method::Sha1, key).unwrap();
    k.set_active(1).unwrap();
    k
}

pub fn hacf(nodes: &[&str]) -> HaCf {
    let text = format!(
        "keepalive 200ms\nwarntime 600ms\ndeadtime 1\ninitdead 3\nudpport 694\n\
         bcast eth1\nucast eth0 198.51.100.99\nauto_failback on\nnode {}\ncrm off\n",
        nodes.join(" ")
    );
    HaCf::parse(&text, &mut |e| {
        assert!(e.to_string().contains("warning"), "ha.cf problem: {e}")
    })
    .unwrap()
}

pub fn uuid_of(i: usize) -> [u8; 16] {
    let mut u = [0x5a; 16];
    u[0] = i as u8 + 1;
    u
}

pub fn config(nodes: &[&str], i: usize, generation: u64, seed: u64) -> EngineConfig {
    let mut c =
        EngineConfig::from_hacf(&hacf(nodes), nodes[i], uuid_of(i), generation, keys(), seed)
            .unwrap();
    c.load_average = "0.26 0.12 0.10 6/102 11977".try_into().unwrap();
    c
}

pub struct Member {
    pub name: String,
    pub engine: Box<Eng>,
    pub generation: u64,
    pub alive: bool,
    /// No timeouts are run before this (a stalled process); packets still arrive.
    pub stalled_until: Option<Instant>,
    pub events: Vec<(Instant, Event)>,
    pub rx_errors: Vec<(Instant, RxError)>,
    pub sent: Vec<Sent>,
}

#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    pub transmit: Transmit,
    pub bytes: Vec<u8>,
}

/// A packet on its way (or lost on the way).
#[derive(Clone, Debug)]
pub struct Wire {
    pub at: Instant,
    pub from: usize,
    pub to: usize,
    pub medium: MediumId,
    pub bytes: Vec<u8>,
}

impl Wire {
    pub fn fields(&self) -> Fields {
        Fields::decode(&self.bytes)
    }
}

pub type LossFn = Box<dyn FnMut(&Wire) -> bool>;

pub struct Cluster {
    pub now: Instant,
    pub names: Vec<String>,
    pub members: Vec<Member>,
    pub latency: Duration,
    /// (from, to, medium) pairs whose packets are lost.
    pub cut: HashSet<(usize, usize, u8)>,
    /// Loses the packets it returns `true` for.
    pub loss: Option<LossFn>,
    /// Every packet delivered.
    pub delivered: Vec<Wire>,
    /// Every packet lost.
    pub lost: Vec<Wire>,
    inflight: Vec<Wire>,
    pub seed: u64,
}

impl Cluster {
    pub fn new(names: &[&str]) -> Cluster {
        Self::with_generations(names, &vec![1000; names.len()])
    }

    pub fn with_generations(names: &[&str], generations: &[u64]) -> Cluster {
        let mut c = Cluster {
            now: Instant::from_millis(1_000),
            names: names.iter().map(|s| s.to_string()).collect(),
            members: Vec::new(),
            latency: Duration::from_millis(1),
            cut: HashSet::new(),
            loss: None,
            delivered: Vec::new(),
            lost: Vec::new(),
            inflight: Vec::new(),
            seed: 7,
        };
        for (i, &g) in generations.iter().enumerate() {
            let engine = c.start_engine(i, g);
            c.members.push(Member {
                name: names[i].to_string(),
                engine,
                generation: g,
                alive: true,
                stalled_until: None,
                events: Vec::new(),
                rx_errors: Vec::new(),
                sent: Vec::new(),
            });
        }
        // Everyone is there before the first packets go out.
        for i in 0..c.members.len() {
            c.flush(i);
        }
        c
    }

    fn start_engine(&mut self, i: usize, generation: u64) -> Box<Eng> {
        let names: Vec<&str> = self.names.iter().map(|s| s.as_str()).collect();
        self.seed += 1;
        let cfg = config(&names, i, generation, self.seed);
        Box::new(Eng::new(&cfg, self.now, self.wall()).unwrap())
    }

    pub fn wall(&self) -> u64 {
        WALL_START + self.now.as_millis() / 1000
    }

    pub fn engine(&self, i: usize) -> &Eng {
        &self.members[i].engine
    }

    /// Stops member `i` dead: no timers, no packets in or out.
    pub fn crash(&mut self, i: usize) {
        self.members[i].alive = false;
        self.inflight.retain(|w| w.from != i);
    }

    /// Starts member `i` again with a new generation.
    pub fn restart(&mut self, i: usize, generation: u64) {
        let engine = self.start_engine(i, generation);
        let m = &mut self.members[i];
        m.engine = engine;
        m.generation = generation;
        m.alive = true;
        m.stalled_until = None;
        self.flush(i);
    }

    pub fn cut_medium(&mut self, medium: MediumId) {
        for a in 0..self.members.len() {
            for b in 0..self.members.len() {
                if a != b {
                    self.cut.insert((a, b, medium.0));
                }
            }
        }
    }

    pub fn partition(&mut self) {
        self.cut_medium(BCAST);
        self.cut_medium(UCAST);
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Runs the cluster until `self.now + d`.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    pub fn run_until(&mut self, until: Instant) {
        let mut guard = 0u32;
        loop {
            guard += 1;
            assert!(guard < 2_000_000, "the cluster does not make progress");
            let next_timer = self
                .members
                .iter()
                .filter(|m| m.alive)
                .filter_map(|m| {
                    let t = m.engine.poll_timeout()?;
                    Some(m.stalled_until.map_or(t, |s| t.max(s)))
                })
                .min();
            let next_rx = self.inflight.iter().map(|w| w.at).min();
            let next = [next_timer, next_rx].into_iter().flatten().min();
            match next {
                Some(n) if n <= until => self.now = self.now.max(n),
                _ => {
                    self.now = until;
                    return;
                }
            }
            let now = self.now;
            // Deliver in time order, then in sending order.
            let mut due: Vec<Wire> = Vec::new();
            let mut i = 0;
            while i < self.inflight.len() {
                if self.inflight[i].at <= now {
                    due.push(self.inflight.remove(i));
                } else {
                    i += 1;
                }
            }
            due.sort_by_key(|w| w.at);
            for w in due {
                self.deliver(w);
            }
            for i in 0..self.members.len() {
                let m = &self.members[i];
                if !m.alive || m.stalled_until.is_some_and(|s| s > now) {
                    continue;
                }
                if m.engine.poll_timeout().is_some_and(|t| t <= now) {
                    let wall = self.wall();
                    self.members[i].engine.handle_timeout(now, wall);
                    self.flush(i);
                }
            }
        }
    }

    fn deliver(&mut self, w: Wire) {
        let to = w.to;
        if !self.members[to].alive {
            self.lost.push(w);
            return;
        }
        let wall = self.wall();
        let now = self.now;
        if let Err(e) = self.members[to]
            .engine
            .handle_packet(now, wall, w.medium, &w.bytes)
        {
            self.members[to].rx_errors.push((now, e));
        }
        self.delivered.push(w);
        self.flush(to);
    }

    /// Feeds bytes to member `to` as if read from `medium`.
    pub fn inject(&mut self, to: usize, medium: MediumId, bytes: &[u8]) -> Result<(), RxError> {
        let (now, wall) = (self.now, self.wall());
        let r = self.members[to]
            .engine
            .handle_packet(now, wall, medium, bytes);
        self.flush(to);
        r
    }

    /// Collects member `i`'s events and packets and puts the packets on the wire.
    pub fn flush(&mut self, i: usize) {
        let now = self.now;
        let mut buf = vec![0u8; 4096];
        while let Some(ev) = self.members[i].engine.poll_event() {
            self.members[i].events.push((now, ev));
        }
        while let Some(tx) = self.members[i].engine.poll_transmit(now, &mut buf) {
            let bytes = buf[..tx.len].to_vec();
            self.members[i].sent.push(Sent {
                at: now,
                transmit: tx,
                bytes: bytes.clone(),
            });
            if !self.members[i].alive {
                continue;
            }
            for medium in tx.media.iter() {
                for to in 0..self.members.len() {
                    if to == i && medium != BCAST {
                        continue;
                    }
                    let w = Wire {
                        at: now + self.latency,
                        from: i,
                        to,
                        medium,
                        bytes: bytes.clone(),
                    };
                    let cut = self.cut.contains(&(i, to, medium.0));
                    let lose = cut || self.loss.as_mut().is_some_and(|f| f(&w));
                    if lose {
                        self.lost.push(w);
                    } else {
                        self.inflight.push(w);
                    }
                }
            }
        }
        // Sending may have produced events (our own messages loop back).
        while let Some(ev) = self.members[i].engine.poll_event() {
            self.members[i].events.push((now, ev));
        }
    }

    pub fn events(&self, i: usize) -> &[(Instant, Event)] {
        &self.members[i].events
    }

    /// When member `i` first reported an event matching `f`.
    pub fn first_event(&self, i: usize, f: impl Fn(&Event) -> bool) -> Option<Instant> {
        self.members[i]
            .events
            .iter()
            .find(|(_, e)| f(e))
            .map(|(t, _)| *t)
    }

    pub fn count_events(&self, i: usize, f: impl Fn(&Event) -> bool) -> usize {
        self.members[i].events.iter().filter(|(_, e)| f(e)).count()
    }

    pub fn status_of(&self, i: usize, of: usize) -> NodeStatus {
        self.engine(i).node(NodeId(of as u8)).unwrap().status()
    }

    /// The packets member `i` sent in netstring form, decoded.
    pub fn sent_fields(&self, i: usize) -> Vec<(Instant, Fields)> {
        self.members[i]
            .sent
            .iter()
            .filter(|s| s.transmit.encoding == Encoding::Netstring)
            .map(|s| (s.at, Fields::decode(&s.bytes)))
            .collect()
    }

    /// The packets delivered from `from` to `to` (any medium), decoded.
    pub fn delivered_from(&self, from: usize, to: usize) -> Vec<(Instant, Fields)> {
        self.delivered
            .iter()
            .filter(|w| w.from == from && w.to == to)
            .map(|w| (w.at, w.fields()))
            .collect()
    }
}

/// A decoded message, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fields(pub Vec<(String, FieldType, Vec<u8>)>);

impl Fields {
    pub fn decode(bytes: &[u8]) -> Fields {
        let mut scratch = [0u8; 2048];
        let p = msg::decode::<64>(bytes, &mut scratch).expect("a heartbeat message");
        Fields::of(&p.msg)
    }

    pub fn of<const N: usize>(m: &Message<'_, N>) -> Fields {
        Fields(
            m.fields()
                .iter()
                .map(|f| {
                    (
                        String::from_utf8(f.name.to_vec()).unwrap(),
                        f.ty,
                        f.value.to_vec(),
                    )
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| std::str::from_utf8(v).unwrap_or("<binary>"))
    }

    pub fn t(&self) -> &str {
        self.get("t").unwrap_or("")
    }

    pub fn seq(&self) -> Option<u64> {
        self.get("seq").map(|s| u64::from_str_radix(s, 16).unwrap())
    }

    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(n, _, _)| n.as_str()).collect()
    }
}

/// Signs `fields` as a 3.0.6 node would send them on UDP.
pub fn sign(fields: &[Field<'_>], keys: &Keyring) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = msg::encode(fields, msg::Format::Netstring, Some(keys), &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// A message as `src` (index `i` of the cluster) would send it, with our control fields.
pub fn forge(
    src: &str,
    i: usize,
    generation: u64,
    seq: Option<u64>,
    ts: u64,
    body: &[(&str, &str)],
    keys: &Keyring,
) -> Vec<u8> {
    let uuid = uuid_of(i);
    let seq_s = seq.map(|s| format!("{s:x}"));
    let hg = format!("{generation:x}");
    let ts = format!("{ts:x}");
    let mut fields: Vec<Field<'_>> = body.iter().map(|(n, v)| Field::string(n, v)).collect();
    fields.push(Field::string("src", src));
    fields.push(Field::binary("srcuuid", &uuid));
    if let Some(s) = &seq_s {
        fields.push(Field::string("seq", s));
    }
    fields.push(Field::string("hg", &hg));
    fields.push(Field::string("ts", &ts));
    if seq_s.is_some() {
        fields.push(Field::string("ld", "0.00 0.00 0.00 1/1 1"));
    }
    fields.push(Field::string("ttl", "3"));
    sign(&fields, keys)
}
