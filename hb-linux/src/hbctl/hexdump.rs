//! Reads the hex dumps admins paste: plain hex, `xxd`, `od -An -tx1`, `tcpdump -X` and
//! `hexdump -C` output. Offsets before a `:` and the ASCII column after a double space are
//! skipped.

/// A line of the dump that is not hex.
#[derive(Debug, PartialEq, Eq)]
pub struct HexError {
    pub line: usize,
    pub text: String,
}

impl std::fmt::Display for HexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: not a hex dump: {:?}", self.line, self.text)
    }
}

pub fn parse(text: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let err = || HexError {
            line: i + 1,
            text: raw.trim().chars().take(60).collect(),
        };
        let mut line = raw.trim();
        // `hexdump -C` puts the ASCII column between bars.
        if let Some(bar) = line.find('|') {
            line = line[..bar].trim_end();
        }
        // An offset ends with ':' (xxd, tcpdump) or is the first of several words (od, hexdump).
        if let Some((offset, rest)) = line.split_once(':') {
            if offset
                .trim()
                .trim_start_matches("0x")
                .chars()
                .all(|c| c.is_ascii_hexdigit())
            {
                line = rest;
            }
        }
        // od and hexdump start with a bare offset word, wider than any byte group.
        let trimmed = line.trim_start();
        if let Some((first, rest)) = trimmed.split_once(char::is_whitespace) {
            if first.len() >= 6 && first.chars().all(|c| c.is_ascii_hexdigit()) {
                line = rest;
            }
        }
        // The ASCII column follows two or more blanks.
        let hex_part = line.trim_start().split("  ").next().unwrap_or("");
        let words: Vec<&str> = hex_part.split_whitespace().collect();
        let digits: String = words.concat();
        if digits.len() % 2 != 0 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(err());
        }
        for pair in digits.as_bytes().chunks(2) {
            let s = std::str::from_utf8(pair).map_err(|_| err())?;
            out.push(u8::from_str_radix(s, 16).map_err(|_| err())?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_the_common_dump_formats() {
        assert_eq!(parse("3e3e3e0a\n74 3d\n").unwrap(), b">>>\nt=");
        assert_eq!(
            parse("00000000: 3e3e 3e0a 743d  >>>.t=\n").unwrap(),
            b">>>\nt="
        );
        assert_eq!(
            parse("\t0x0000:  3e3e 3e0a 743d                 >>>.t=").unwrap(),
            b">>>\nt="
        );
        assert_eq!(
            parse("00000000  3e 3e 3e 0a 74 3d  |>>>.t=|\n").unwrap(),
            b">>>\nt="
        );
        assert_eq!(parse("0000000 3e 3e 3e 0a\n").unwrap(), b">>>\n");
        assert_eq!(parse("").unwrap(), b"");
        let e = parse("3e3e\nhello world\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse("3e3").is_err());
    }
}
