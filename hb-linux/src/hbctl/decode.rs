//! `hbctl decode`: one packet, its fields, and whether it authenticates.

use super::hexdump;
use hb_core::auth::{AuthError, Keyring};
use hb_core::msg::{self, compact, Field, FieldType, Format, Message};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::PathBuf;

pub const EXIT_VALID: u8 = 0;
pub const EXIT_BAD_AUTH: u8 = 1;
pub const EXIT_MALFORMED: u8 = 2;

/// Fields one packet may have here: far more than any heartbeat message carries.
const FIELDS: usize = 256;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Verify the packet with the keys of this authkeys file.
    #[arg(long, value_name = "FILE")]
    authkeys: Option<PathBuf>,
    /// The packet's encoding.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    format: FormatArg,
    /// The input is a hex dump (plain, xxd, od, hexdump -C or tcpdump -X), not raw bytes.
    #[arg(long)]
    hex: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The packet file; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    input: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum FormatArg {
    Auto,
    Classic,
    Netstring,
    Compact,
}

pub fn run(args: &Args, out: &mut dyn Write) -> u8 {
    match decode(args, out) {
        Ok(code) => code,
        Err((code, message)) => {
            eprintln!("hbctl decode: {message}");
            code
        }
    }
}

type Failure = (u8, String);

fn decode(args: &Args, out: &mut dyn Write) -> Result<u8, Failure> {
    let source = match &args.input {
        Some(p) if p.as_os_str() != "-" => p.display().to_string(),
        _ => "standard input".to_string(),
    };
    let raw = read_input(args.input.as_ref())
        .map_err(|e| (EXIT_MALFORMED, format!("cannot read {source}: {e}")))?;
    let bytes = if args.hex {
        let text = String::from_utf8(raw)
            .map_err(|_| (EXIT_MALFORMED, format!("{source}: a hex dump must be text")))?;
        hexdump::parse(&text).map_err(|e| (EXIT_MALFORMED, format!("{source}: {e}")))?
    } else {
        raw
    };
    let keys = match &args.authkeys {
        Some(path) => {
            Some(super::check_config::load_keyring(path).map_err(|e| (EXIT_MALFORMED, e))?)
        }
        None => None,
    };

    let detected = if let Some(f) = Format::detect(&bytes) {
        Some(Kind::Wire(f))
    } else if compact::looks_like_frame(&bytes) {
        Some(Kind::Compact)
    } else {
        None
    };
    let kind = match args.format {
        FormatArg::Auto => detected.ok_or_else(|| {
            (
                EXIT_MALFORMED,
                format!(
                    "{source}: not a heartbeat packet ({})",
                    describe_start(&bytes)
                ),
            )
        })?,
        FormatArg::Classic => Kind::Wire(Format::Classic),
        FormatArg::Netstring => Kind::Wire(Format::Netstring),
        FormatArg::Compact => Kind::Compact,
    };
    let malformed = |e: &dyn std::fmt::Display| {
        (
            EXIT_MALFORMED,
            format!("{source}: malformed {} packet: {e}", kind.name()),
        )
    };
    let length = bytes.len();
    let mut wire = bytes.clone();
    let mut scratch = vec![0u8; bytes.len() + 64];
    let (msg, trailer, verified) = match kind {
        Kind::Wire(format) => {
            if Format::detect(&bytes) != Some(format) {
                return Err(malformed(&describe_start(&bytes)));
            }
            let p: msg::Packet<'_, FIELDS> =
                msg::decode(&bytes, &mut scratch).map_err(|e| malformed(&e))?;
            let trailer = p
                .trailer
                .map(|t| String::from_utf8_lossy(t.auth).into_owned());
            (p.msg, trailer, keys.as_ref().map(|k| p.verify(k)))
        }
        Kind::Compact => {
            let p: compact::CompactPacket<'_, FIELDS> =
                compact::decode(&mut wire, &mut scratch).map_err(|e| malformed(&e))?;
            let trailer = p
                .auth
                .map(|a| format!("{} {} {}", a.index, a.method.name(), hex(a.mac)));
            (p.msg, trailer, keys.as_ref().map(|k| p.verify(k)))
        }
    };
    let auth = keys.as_ref().zip(verified);
    let report = Report {
        kind,
        length,
        msg: &msg,
        trailer,
        auth,
    };
    let written = if args.json {
        report.write_json(out)
    } else {
        report.write_table(out)
    };
    written.map_err(|e| (EXIT_MALFORMED, format!("cannot write the output: {e}")))?;
    Ok(match report.auth {
        Some((_, Err(_))) => EXIT_BAD_AUTH,
        _ => EXIT_VALID,
    })
}

fn read_input(path: Option<&PathBuf>) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    match path {
        Some(p) if p.as_os_str() != "-" => buf = std::fs::read(p)?,
        _ => {
            std::io::stdin().read_to_end(&mut buf)?;
        }
    }
    Ok(buf)
}

fn describe_start(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "it is empty".into();
    }
    format!(
        "it starts with \"{}\"",
        escape(&bytes[..bytes.len().min(8)])
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Wire(Format),
    Compact,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Wire(Format::Classic) => "classic",
            Kind::Wire(Format::Netstring) => "netstring",
            Kind::Compact => "compact",
        }
    }
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::String => "string",
        FieldType::Binary => "binary",
        FieldType::Struct => "struct",
        FieldType::List => "list",
        FieldType::Compress => "compress",
        FieldType::Uncompress => "uncompress",
    }
}

struct Report<'r, 'a> {
    kind: Kind,
    length: usize,
    msg: &'r Message<'a, FIELDS>,
    trailer: Option<String>,
    auth: Option<(&'r Keyring, Result<u8, AuthError>)>,
}

impl Report<'_, '_> {
    fn auth_line(&self) -> String {
        match &self.auth {
            None => "not checked (give --authkeys FILE)".into(),
            Some((keys, Ok(i))) => format!("valid, key {i} ({})", method_name(keys, *i)),
            Some((_, Err(e))) => format!("INVALID: {e}"),
        }
    }

    fn write_table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "format:  {}, {} bytes", self.kind.name(), self.length)?;
        writeln!(out, "auth:    {}", self.auth_line())?;
        if let Some(t) = &self.trailer {
            writeln!(out, "trailer: {t}")?;
        }
        writeln!(out)?;
        let width = self
            .msg
            .fields()
            .iter()
            .map(|f| f.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(out, "{:>3}  {:<width$}  {:<8}  value", "#", "name", "type")?;
        write_rows(out, self.msg.fields(), width, "")
    }

    fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let auth = match &self.auth {
            None => json!({ "checked": false }),
            Some((keys, Ok(i))) => {
                json!({ "checked": true, "valid": true, "key": i, "method": method_name(keys, *i) })
            }
            Some((_, Err(e))) => json!({ "checked": true, "valid": false, "error": e.to_string() }),
        };
        let doc = json!({
            "format": self.kind.name(),
            "length": self.length,
            "auth": auth,
            "trailer": self.trailer,
            "fields": json_fields(self.msg.fields()),
        });
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)
    }
}

fn method_name(keys: &Keyring, index: u8) -> &'static str {
    keys.method(index).map_or("?", |m| m.name())
}

fn write_rows(
    out: &mut dyn Write,
    fields: &[Field<'_>],
    width: usize,
    indent: &str,
) -> std::io::Result<()> {
    for (i, f) in fields.iter().enumerate() {
        let name = format!("{indent}{}", String::from_utf8_lossy(f.name));
        let value = match f.ty {
            FieldType::String => {
                let note = annotate(f).map(|n| format!("  ({n})")).unwrap_or_default();
                format!("{}{note}", escape(f.value))
            }
            FieldType::Binary | FieldType::Compress => {
                format!("{} ({} bytes)", hex(f.value), f.value.len())
            }
            FieldType::List => list(f.value).join(", "),
            FieldType::Struct | FieldType::Uncompress => format!("{} bytes:", f.value.len()),
        };
        writeln!(
            out,
            "{:>3}  {:<width$}  {:<8}  {value}",
            i + 1,
            name,
            type_name(f.ty)
        )?;
        if f.ty.is_nested() {
            if let Ok((inner, _)) = msg::netstring::decode::<FIELDS>(f.value) {
                write_rows(out, inner.fields(), width, &format!("{indent}  "))?;
            }
        }
    }
    Ok(())
}

fn json_fields(fields: &[Field<'_>]) -> Value {
    let rows: Vec<Value> = fields
        .iter()
        .map(|f| {
            let name = String::from_utf8_lossy(f.name);
            let ty = type_name(f.ty);
            match f.ty {
                FieldType::String => {
                    json!({ "name": name, "type": ty, "value": String::from_utf8_lossy(f.value) })
                }
                FieldType::Binary | FieldType::Compress => {
                    json!({ "name": name, "type": ty, "hex": hex(f.value) })
                }
                FieldType::List => json!({ "name": name, "type": ty, "items": list(f.value) }),
                FieldType::Struct | FieldType::Uncompress => {
                    let inner = msg::netstring::decode::<FIELDS>(f.value)
                        .map(|(m, _)| json_fields(m.fields()))
                        .unwrap_or(Value::Null);
                    json!({ "name": name, "type": ty, "fields": inner })
                }
            }
        })
        .collect();
    Value::Array(rows)
}

/// What a well-known numeric field means, for people reading hex.
fn annotate(f: &Field<'_>) -> Option<String> {
    let name = std::str::from_utf8(f.name).ok()?;
    let hex_value = || msg::parse_hex(f.value);
    match name {
        "seq" | "hg" | "ackseq" => Some(format!("{}", hex_value()?)),
        "dt" => Some(format!("{} ms", hex_value()?)),
        "ts" => Some(utc(hex_value()?)),
        "firstseq" | "lastseq" => None,
        _ => None,
    }
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC` (civil-from-days, proleptic Gregorian).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn list(packed: &[u8]) -> Vec<String> {
    msg::list_items(packed)
        .filter_map(Result::ok)
        .map(|i| String::from_utf8_lossy(i).into_owned())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Printable ASCII as is; LF as `\n`, everything else as `\xNN`.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(0x6553f100), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn escaping_keeps_text_readable() {
        assert_eq!(escape(b"a b\n\x00\\"), "a b\\n\\x00\\\\");
    }
}
