//! `REPORT.txt`: what the export could not carry over, and what it carried over differently.
//!
//! Two kinds of entries. A **lost** line is behaviour the Pacemaker cluster will not have
//! (a serial link, a watchdog, a resource with no agent): the export exits 1 while there is
//! one, unless `--force`, so that nobody cuts over without reading it. A **note** is a line
//! that needs nothing in Corosync/Pacemaker (heartbeat's own tuning: `keepalive`, `udpport`)
//! or was mapped in a way worth knowing; notes never change the exit code.

use hb_core::config::{FileKind, Pos};
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Lost,
    Note,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub file: FileKind,
    /// `None` for what concerns the whole cluster rather than one line.
    pub at: Option<Pos>,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Report {
    entries: Vec<Entry>,
}

impl Report {
    pub fn lost(&mut self, file: FileKind, at: Option<Pos>, text: impl Into<String>) {
        self.push(Kind::Lost, file, at, text.into());
    }

    pub fn note(&mut self, file: FileKind, at: Option<Pos>, text: impl Into<String>) {
        self.push(Kind::Note, file, at, text.into());
    }

    fn push(&mut self, kind: Kind, file: FileKind, at: Option<Pos>, text: String) {
        self.entries.push(Entry {
            kind,
            file,
            at,
            text,
        });
    }

    pub fn lost_count(&self) -> usize {
        self.entries.iter().filter(|e| e.kind == Kind::Lost).count()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The file's text: lost lines first, then notes, each sorted by file and line, every
    /// line `FILE:LINE: text` so an editor can jump to it.
    pub fn render(&self, dir: &std::path::Path) -> String {
        let mut out = String::new();
        let lost = self.lost_count();
        let _ = writeln!(
            out,
            "hbctl export pacemaker: {} from {}\n",
            if lost == 0 {
                "every line was mapped".to_string()
            } else {
                format!("{lost} line(s) could NOT be mapped")
            },
            dir.display()
        );
        for (kind, title) in [
            (
                Kind::Lost,
                "NOT MAPPED: the Pacemaker cluster will not do what these lines did",
            ),
            (
                Kind::Note,
                "NOTES: lines Corosync/Pacemaker need no equivalent for, or mapped with a difference",
            ),
        ] {
            let mut these: Vec<&Entry> = self.entries.iter().filter(|e| e.kind == kind).collect();
            if these.is_empty() {
                continue;
            }
            these.sort_by_key(|e| (e.file as u8, e.at.map(|p| (p.line, p.column))));
            let _ = writeln!(out, "{title}:");
            for e in these {
                let path = dir.join(e.file.name());
                match e.at {
                    Some(p) => {
                        let _ = writeln!(out, "  {}:{}: {}", path.display(), p.line, e.text);
                    }
                    None => {
                        let _ = writeln!(out, "  {}: {}", path.display(), e.text);
                    }
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_lines_come_first_in_line_order_and_only_they_count() {
        let mut r = Report::default();
        r.note(FileKind::HaCf, Some(Pos::new(2, 1)), "keepalive: token");
        r.lost(FileKind::HaResources, Some(Pos::new(3, 7)), "foo: no agent");
        r.lost(
            FileKind::HaCf,
            Some(Pos::new(9, 1)),
            "serial: no serial links",
        );
        assert_eq!(r.lost_count(), 2);
        let text = r.render(std::path::Path::new("/etc/ha.d"));
        let serial = text.find("/etc/ha.d/ha.cf:9: serial").unwrap();
        let foo = text.find("/etc/ha.d/haresources:3: foo").unwrap();
        let keep = text.find("/etc/ha.d/ha.cf:2: keepalive").unwrap();
        assert!(serial < foo && foo < keep, "{text}");
        assert!(text.contains("2 line(s) could NOT be mapped"));
    }
}
