//! Building the messages the engine sends, field for field as heartbeat 3.0.6 builds them
//! (wire spec §3.1, §3.2, §3.6, §3.7): the sender's fields first, then `destuuid` when there is
//! a `dest`, then the control fields `src, srcuuid, seq, hg, ts, ld, ttl` (`NS_` types: no
//! `seq`, no `ld`), each replacing a field of that name in place or appended.

use crate::msg::{format_decimal, format_hex, Field, FieldType, Message, TooManyFields};

use super::history::{RawFields, StatusBody};

/// heartbeat's `PROTOCOL_VERSION`, sent as `protocol=1` while flow control is on.
pub const PROTOCOL_VERSION: &str = "1";

/// Why a NAK (`NS_nak_rexmit`) is sent; the `info` text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NakReason {
    TooLow,
    NotFound,
}

impl NakReason {
    pub(crate) const fn info(self) -> &'static str {
        match self {
            NakReason::TooLow => "seqno too low",
            NakReason::NotFound => "seqno not found",
        }
    }
}

/// The sender's part of a message being built.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BodyRef<'a> {
    Status(StatusBody),
    /// Fields handed in by the caller.
    Fields(&'a [Field<'a>]),
    /// Fields read back from the send history.
    Raw(RawFields<'a>),
    /// `t=NS_ackmsg dest=<dest> ackseq=<hex>`.
    Ack {
        dest: &'a str,
        ackseq: u64,
    },
    /// `t=NS_rexmit dest=<dest> firstseq=<decimal> lastseq=<decimal>`: one message per seq.
    Rexmit {
        dest: &'a str,
        seq: u64,
    },
    /// `t=NS_nak_rexmit firstseq=<hex> dest=<dest> info=<reason>`.
    Nak {
        dest: &'a str,
        seq: u64,
        reason: NakReason,
    },
}

impl BodyRef<'_> {
    /// `NS_` types: unsequenced, no `ld`, control fields already present are kept.
    pub(crate) fn is_unsequenced(&self) -> bool {
        match self {
            BodyRef::Ack { .. } | BodyRef::Rexmit { .. } | BodyRef::Nak { .. } => true,
            BodyRef::Status(_) => false,
            BodyRef::Fields(f) => type_of(f.iter().copied()).is_some_and(is_unsequenced_type),
            BodyRef::Raw(r) => type_of(*r).is_some_and(is_unsequenced_type),
        }
    }
}

pub(crate) fn is_unsequenced_type(t: &[u8]) -> bool {
    t.starts_with(b"NS_")
}

fn type_of<'a>(mut fields: impl Iterator<Item = Field<'a>>) -> Option<&'a [u8]> {
    fields.find(|f| f.name == b"t").map(|f| f.value)
}

/// The value of the first `dest` string field.
pub(crate) fn dest_of<'a>(mut fields: impl Iterator<Item = Field<'a>>) -> Option<&'a [u8]> {
    fields
        .find(|f| f.name == b"dest")
        .filter(|f| f.ty == FieldType::String)
        .map(|f| f.value)
}

/// Who sends, and the values that are the same in every message of this run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Identity<'a> {
    pub src: &'a str,
    pub srcuuid: &'a [u8; 16],
    pub hg: u64,
    pub ttl: u64,
    /// `destuuid` for a `dest` naming a known node (zeros while its UUID is unknown); `None`
    /// for a `dest` naming no node, or no `dest`.
    pub dest_uuid: Option<&'a [u8; 16]>,
}

/// Room for the numbers a message carries as text.
#[derive(Debug, Default)]
pub(crate) struct Texts {
    seq: [u8; 16],
    hg: [u8; 16],
    ts: [u8; 16],
    dt: [u8; 16],
    /// `ackseq`, or a NAK's `firstseq`.
    aux: [u8; 16],
    ttl: [u8; 20],
    first: [u8; 20],
    last: [u8; 20],
}

/// The complete message: body, `destuuid`, control fields. `auth` is the encoder's business.
pub(crate) fn compose<'a, const N: usize>(
    texts: &'a mut Texts,
    body: BodyRef<'a>,
    id: &Identity<'a>,
    seq: Option<u64>,
    ts: u64,
    ld: &'a str,
) -> Result<Message<'a, N>, TooManyFields> {
    let Texts {
        seq: seq_buf,
        hg: hg_buf,
        ts: ts_buf,
        dt: dt_buf,
        aux: aux_buf,
        ttl: ttl_buf,
        first: first_buf,
        last: last_buf,
    } = texts;
    let unsequenced = body.is_unsequenced();
    let mut m: Message<'a, N> = Message::new();
    match body {
        BodyRef::Status(s) => {
            m.push_str("t", "status")?;
            m.push_str("st", s.st.as_str())?;
            m.push_str("dt", format_hex(s.dt_ms, dt_buf))?;
            if s.protocol {
                m.push_str("protocol", PROTOCOL_VERSION)?;
            }
        }
        BodyRef::Fields(fields) => {
            for f in fields {
                m.push(*f)?;
            }
        }
        BodyRef::Raw(raw) => {
            for f in raw {
                m.push(f)?;
            }
        }
        BodyRef::Ack { dest, ackseq } => {
            m.push_str("t", "NS_ackmsg")?;
            m.push_str("dest", dest)?;
            m.push_str("ackseq", format_hex(ackseq, aux_buf))?;
        }
        BodyRef::Rexmit { dest, seq } => {
            m.push_str("t", "NS_rexmit")?;
            m.push_str("dest", dest)?;
            m.push_str("firstseq", format_decimal(seq, first_buf))?;
            m.push_str("lastseq", format_decimal(seq, last_buf))?;
        }
        BodyRef::Nak { dest, seq, reason } => {
            m.push_str("t", "NS_nak_rexmit")?;
            m.push_str("firstseq", format_hex(seq, aux_buf))?;
            m.push_str("dest", dest)?;
            m.push_str("info", reason.info())?;
        }
    }
    let put = |m: &mut Message<'a, N>, f: Field<'a>| -> Result<(), TooManyFields> {
        if unsequenced && m.get(core::str::from_utf8(f.name).unwrap_or("")).is_some() {
            Ok(())
        } else {
            m.set(f)
        }
    };
    if m.get("dest").is_some() {
        if let Some(u) = id.dest_uuid {
            m.set(Field::binary("destuuid", u))?;
        }
    }
    put(&mut m, Field::string("src", id.src))?;
    put(&mut m, Field::binary("srcuuid", id.srcuuid))?;
    if !unsequenced {
        if let Some(seq) = seq {
            put(&mut m, Field::string("seq", format_hex(seq, seq_buf)))?;
        }
    }
    put(&mut m, Field::string("hg", format_hex(id.hg, hg_buf)))?;
    put(&mut m, Field::string("ts", format_hex(ts, ts_buf)))?;
    if !unsequenced {
        put(&mut m, Field::string("ld", ld))?;
    }
    put(
        &mut m,
        Field::string("ttl", format_decimal(id.ttl, ttl_buf)),
    )?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::NodeStatus;

    const NODE1: [u8; 16] = [1; 16];
    const NODE2: [u8; 16] = [2; 16];

    fn names<'a, const N: usize>(m: &Message<'a, N>) -> heapless::Vec<&'a str, N> {
        m.fields()
            .iter()
            .map(|f| core::str::from_utf8(f.name).unwrap())
            .collect()
    }

    fn id(dest_uuid: Option<&[u8; 16]>) -> Identity<'_> {
        Identity {
            src: "node2",
            srcuuid: &NODE2,
            hg: 0x6b0214a9,
            ttl: 3,
            dest_uuid,
        }
    }

    #[test]
    fn status_fields_in_3_0_6_order() {
        let mut t = Texts::default();
        let body = BodyRef::Status(StatusBody {
            st: NodeStatus::Init,
            dt_ms: 3000,
            protocol: true,
        });
        let m: Message<'_, 16> =
            compose(&mut t, body, &id(None), Some(1), 0x6b0214a8, "ld").unwrap();
        assert_eq!(
            names(&m),
            ["t", "st", "dt", "protocol", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl"]
        );
        assert_eq!(m.get_str("dt"), Some("bb8"));
        assert_eq!(m.get_str("seq"), Some("1"));
        assert_eq!(m.get_str("ttl"), Some("3"));
    }

    #[test]
    fn repnodes_keeps_dest_first_and_gets_destuuid_after_its_fields() {
        let fields = [
            Field::string("dest", "node1"),
            Field::string("t", "repnodes"),
            Field::string("nodelist", "node1 node2 "),
            Field::string("delnodelist", " "),
        ];
        let mut t = Texts::default();
        let m: Message<'_, 16> = compose(
            &mut t,
            BodyRef::Fields(&fields),
            &id(Some(&NODE1)),
            Some(5),
            1,
            "ld",
        )
        .unwrap();
        assert_eq!(
            names(&m),
            [
                "dest",
                "t",
                "nodelist",
                "delnodelist",
                "destuuid",
                "src",
                "srcuuid",
                "seq",
                "hg",
                "ts",
                "ld",
                "ttl"
            ]
        );
    }

    #[test]
    fn unsequenced_messages_have_no_seq_and_no_ld() {
        let mut t = Texts::default();
        let ack: Message<'_, 16> = compose(
            &mut t,
            BodyRef::Ack {
                dest: "node1",
                ackseq: 0x1a,
            },
            &id(Some(&NODE1)),
            None,
            1,
            "ld",
        )
        .unwrap();
        assert_eq!(
            names(&ack),
            ["t", "dest", "ackseq", "destuuid", "src", "srcuuid", "hg", "ts", "ttl"]
        );
        assert_eq!(ack.get_str("ackseq"), Some("1a"));
        let mut t = Texts::default();
        let rexmit: Message<'_, 16> = compose(
            &mut t,
            BodyRef::Rexmit {
                dest: "node1",
                seq: 0x1a,
            },
            &id(Some(&NODE1)),
            None,
            1,
            "ld",
        )
        .unwrap();
        assert_eq!(
            names(&rexmit),
            ["t", "dest", "firstseq", "lastseq", "destuuid", "src", "srcuuid", "hg", "ts", "ttl"]
        );
        assert_eq!(rexmit.get_str("firstseq"), Some("26"));
        let mut t = Texts::default();
        let nak: Message<'_, 16> = compose(
            &mut t,
            BodyRef::Nak {
                dest: "node1",
                seq: 0x1a,
                reason: NakReason::TooLow,
            },
            &id(Some(&NODE1)),
            None,
            1,
            "ld",
        )
        .unwrap();
        assert_eq!(
            names(&nak),
            ["t", "firstseq", "dest", "info", "destuuid", "src", "srcuuid", "hg", "ts", "ttl"]
        );
        assert_eq!(nak.get_str("firstseq"), Some("1a"));
        assert_eq!(nak.get_str("info"), Some("seqno too low"));
    }

    #[test]
    fn a_control_field_given_by_the_sender_is_replaced_in_place() {
        let fields = [
            Field::string("t", "resource"),
            Field::string("src", "someone"),
            Field::string("rsc_hold", "none"),
        ];
        let mut t = Texts::default();
        let m: Message<'_, 16> = compose(
            &mut t,
            BodyRef::Fields(&fields),
            &id(None),
            Some(8),
            1,
            "ld",
        )
        .unwrap();
        assert_eq!(
            names(&m),
            ["t", "src", "rsc_hold", "srcuuid", "seq", "hg", "ts", "ld", "ttl"]
        );
        assert_eq!(m.get_str("src"), Some("node2"));
    }
}
