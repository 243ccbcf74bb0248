//! An owned ha_msg for the API side: decoded from a client's body with hb-core's codecs (classic
//! or netstring, as cluster-glue's `wirefmt2msg` accepts either), encoded back in classic text
//! with its trailing NUL, as libhbclient's `msg2wirefmt` writes it for IPC.

use hb_core::msg::{self, Field, FieldType, Format};

/// Fields a client message may have (ccm's membership messages are the largest clients send).
const FIELDS: usize = 64;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Msg {
    fields: Vec<(Vec<u8>, FieldType, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable(pub String);

impl Msg {
    pub fn new() -> Msg {
        Msg::default()
    }

    /// A message of string fields, in this order.
    pub fn of(pairs: &[(&str, &str)]) -> Msg {
        let mut m = Msg::new();
        for (k, v) in pairs {
            m.add(k, v);
        }
        m
    }

    pub fn decode(body: &[u8]) -> Result<Msg, Undecodable> {
        // The C library counts the terminating NUL in the length.
        let body = body.strip_suffix(b"\0").unwrap_or(body);
        let mut scratch = vec![0u8; body.len() * 2 + 64];
        let p =
            msg::decode::<FIELDS>(body, &mut scratch).map_err(|e| Undecodable(format!("{e:?}")))?;
        let fields = p
            .msg
            .fields()
            .iter()
            .map(|f| (f.name.to_vec(), f.ty, f.value.to_vec()))
            .collect();
        Ok(Msg { fields })
    }

    /// From the fields of a cluster message (hb-core's model).
    pub fn from_fields<'a>(fields: impl Iterator<Item = Field<'a>>) -> Msg {
        Msg {
            fields: fields
                .map(|f| (f.name.to_vec(), f.ty, f.value.to_vec()))
                .collect(),
        }
    }

    pub fn fields(&self) -> Vec<Field<'_>> {
        self.fields
            .iter()
            .map(|(n, ty, v)| Field {
                name: n,
                ty: *ty,
                value: v,
            })
            .collect()
    }

    pub fn encode(&self) -> Option<Vec<u8>> {
        let fields = self.fields();
        let mut out = vec![0u8; super::ipc::MAXMSG];
        let n = msg::encode(&fields, Format::Classic, None, &mut out).ok()?;
        out.truncate(n);
        out.push(0);
        Some(out)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, ty, _)| n == name.as_bytes() && *ty == FieldType::String)
            .and_then(|(_, _, v)| std::str::from_utf8(v).ok())
    }

    /// A binary field's value (a UUID).
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, ty, _)| n == name.as_bytes() && *ty == FieldType::Binary)
            .map(|(_, _, v)| v.as_slice())
    }

    /// Sets the first field of this name to binary bytes, or adds it (`cl_msg_moduuid`).
    pub fn set_bytes(&mut self, name: &str, value: &[u8]) {
        match self
            .fields
            .iter_mut()
            .find(|(n, _, _)| n == name.as_bytes())
        {
            Some(f) => {
                f.1 = FieldType::Binary;
                f.2 = value.to_vec();
            }
            None => self
                .fields
                .push((name.as_bytes().to_vec(), FieldType::Binary, value.to_vec())),
        }
    }

    pub fn add(&mut self, name: &str, value: &str) {
        self.fields.push((
            name.as_bytes().to_vec(),
            FieldType::String,
            value.as_bytes().to_vec(),
        ));
    }

    /// Sets the first field of this name, or adds it (`ha_msg_mod`).
    pub fn set(&mut self, name: &str, value: &str) {
        match self
            .fields
            .iter_mut()
            .find(|(n, _, _)| n == name.as_bytes())
        {
            Some(f) => {
                f.1 = FieldType::String;
                f.2 = value.as_bytes().to_vec();
            }
            None => self.add(name, value),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _, _)| n != name.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_as_libhbclient_writes_it_decodes() {
        let body = b">>>\nt=hbapi-req\nreqtype=signon\ndest=node1\npid=42\nfrom_id=42\nuid=0\ngid=0\n<<<\n\0";
        let m = Msg::decode(body).unwrap();
        assert_eq!(m.get("reqtype"), Some("signon"));
        assert_eq!(m.get("from_id"), Some("42"));
        let again = Msg::decode(&m.encode().unwrap()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn garbage_is_undecodable() {
        assert!(Msg::decode(b"\x01\x02garbage").is_err());
        assert!(Msg::decode(b">>>\nno end").is_err());
    }
}
