//! The engine tests' cluster: membership engines in the one cluster harness (`tests/cluster`)
//! on one virtual clock, packets passed between them with a fixed latency, links that can be
//! cut, packets that can be lost; and the engine tests' helpers (configuration, decoding,
//! forging).
//!
//! Media, as in the captured test cluster: medium 0 is `bcast eth1` (every member gets every
//! packet, the sender too, as Linux loops broadcasts back), medium 1 is `ucast eth0 <peer>`
//! (the other members only).
#![allow(dead_code)]

#[path = "../cluster/mod.rs"]
mod cluster;

use hb_core::auth::{Keyring, Method};
use hb_core::config::HaCf;
use hb_core::engine::{Encoding, MediumId, Membership, MembershipConfig, NodeId, NodeStatus};
use hb_core::msg::{self, Field, FieldType, Message};
use hb_core::time::{Duration, Instant};

pub type Eng = Membership<4, 4>;

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

pub fn config(nodes: &[&str], i: usize, generation: u64, seed: u64) -> MembershipConfig {
    let mut c =
        MembershipConfig::from_hacf(&hacf(nodes), nodes[i], uuid_of(i), generation, keys(), seed)
            .unwrap();
    c.load_average = "0.26 0.12 0.10 6/102 11977".try_into().unwrap();
    c
}

#[allow(unused_imports)]
pub use cluster::{LossFn, Member, Sent, Wire};

/// Membership engines in the one cluster harness (`tests/cluster`): medium 0 loops back.
pub type Cluster = cluster::Cluster<Eng>;

impl Wire {
    pub fn fields(&self) -> Fields {
        Fields::decode(&self.bytes)
    }
}

impl cluster::Cluster<Eng> {
    /// `names`, all started at generation 1000 at 1 s, 1 ms apart on the wire.
    pub fn new(names: &[&str]) -> Cluster {
        Self::with_generations(names, &vec![1000; names.len()])
    }

    pub fn with_generations(names: &[&str], generations: &[u64]) -> Cluster {
        Self::built(names, generations, false)
    }

    /// `names` as [`Cluster::new`], beating in step (`env HB_BEAT_IN_STEP=yes`).
    #[allow(dead_code)]
    pub fn in_step(names: &[&str]) -> Cluster {
        Self::built(names, &vec![1000; names.len()], true)
    }

    fn built(names: &[&str], generations: &[u64], beat_in_step: bool) -> Cluster {
        let all: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let make = move |s: &cluster::Start<'_>| {
            let names: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
            let mut cfg = config(&names, s.index, s.generation, s.seed);
            cfg.beat_in_step = beat_in_step;
            Eng::new(&cfg, s.now, s.wall).unwrap()
        };
        let mut c = cluster::Cluster::with_nodes(names, &[], Box::new(make));
        c.now = Instant::from_millis(1_000);
        c.latency = Duration::from_millis(1);
        c.loopback = vec![BCAST];
        c.seed = 7;
        for (i, &g) in generations.iter().enumerate() {
            c.boot(i, g);
        }
        // Everyone is there before the first packets go out.
        for i in 0..c.members.len() {
            c.flush(i);
        }
        c
    }

    pub fn engine(&self, i: usize) -> &Eng {
        self.node(i)
    }

    pub fn engine_mut(&mut self, i: usize) -> &mut Eng {
        self.node_mut(i)
    }

    pub fn partition(&mut self) {
        self.cut_medium(BCAST);
        self.cut_medium(UCAST);
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
