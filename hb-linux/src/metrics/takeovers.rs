//! Takeover records: the last [`KEPT`] times resource groups moved to this node, each with
//! its cause and when it was detected, the peer fenced, the first address up and the groups
//! running, as the daemon itself saw them (`hbctl status`, key `takeovers` of `--json`).
//!
//! The daemon reports a cause as it sees one ([`Takeovers::cause`]: a peer declared dead, a
//! standby or takeover request, …), then the fence, then the acquisitions that follow
//! ([`Takeovers::acquiring`] opens the record with the cause pending then), the first
//! address resource started, and the groups running. Acquisitions with no cause before them
//! (the start-up's) make no record.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Records kept.
pub const KEPT: usize = 10;

/// Why groups moved here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The peer holding them was declared dead.
    Death,
    /// The peer gave them up (its `hb_standby`, or auto_failback).
    Standby,
    /// We asked for them (`hb_takeover` here).
    Takeover,
    /// ipfail judged this node better connected.
    Ipfail,
    /// A partition healed and the groups were sorted out again.
    Heal,
    /// The peer is shutting down.
    Stop,
}

impl Cause {
    pub const fn as_str(self) -> &'static str {
        match self {
            Cause::Death => "death",
            Cause::Standby => "standby",
            Cause::Takeover => "takeover",
            Cause::Ipfail => "ipfail",
            Cause::Heal => "heal",
            Cause::Stop => "stop",
        }
    }
}

/// A moment on both clocks: monotonic for durations, wall for showing and comparing.
#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    pub mono: Instant,
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

impl Stamp {
    pub fn now() -> Stamp {
        Stamp {
            mono: Instant::now(),
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }

    fn after(&self, earlier: &Stamp) -> u64 {
        self.mono
            .saturating_duration_since(earlier.mono)
            .as_millis() as u64
    }
}

/// One takeover.
#[derive(Clone, Debug)]
pub struct Record {
    pub cause: Cause,
    /// Keys of the groups taken, in the order they were started.
    pub groups: Vec<String>,
    pub detected: Stamp,
    pub fenced: Option<Stamp>,
    pub address_up: Option<Stamp>,
    /// When the last group was running (all started).
    pub running: Option<Stamp>,
    /// A group failed to start.
    pub failed: bool,
    /// Groups being started.
    pending: usize,
}

impl Record {
    /// Time from detection to the groups running, when they are.
    pub fn seconds(&self) -> Option<f64> {
        self.running.map(|r| {
            r.mono
                .saturating_duration_since(self.detected.mono)
                .as_secs_f64()
        })
    }

    pub fn to_json(&self) -> Value {
        let at = |s: &Option<Stamp>| s.map(|s| s.unix_ms);
        let after = |s: &Option<Stamp>| s.map(|s| s.after(&self.detected));
        let state = if self.failed {
            "failed"
        } else if self.running.is_some() {
            "running"
        } else {
            "starting"
        };
        json!({
            "cause": self.cause.as_str(),
            "groups": self.groups,
            "state": state,
            "detected_at_ms": self.detected.unix_ms,
            "fenced_at_ms": at(&self.fenced),
            "address_up_at_ms": at(&self.address_up),
            "running_at_ms": at(&self.running),
            "fenced_after_ms": after(&self.fenced),
            "address_up_after_ms": after(&self.address_up),
            "running_after_ms": after(&self.running),
        })
    }
}

/// A cause seen, waiting for the acquisitions it leads to.
#[derive(Clone, Copy, Debug)]
struct Pending {
    cause: Cause,
    detected: Stamp,
    fenced: Option<Stamp>,
}

/// The records, newest last.
#[derive(Debug, Default)]
pub struct Takeovers {
    records: VecDeque<Record>,
    /// The newest record is still collecting stamps.
    open: bool,
    pending: Option<Pending>,
}

impl Takeovers {
    /// A cause for groups to move here; a later one replaces it until groups are acquired,
    /// except that the peer's standby after ipfail told it we see more ping nodes is ipfail's.
    pub fn cause(&mut self, cause: Cause, at: Stamp) {
        if cause == Cause::Standby && self.pending.is_some_and(|p| p.cause == Cause::Ipfail) {
            return;
        }
        self.pending = Some(Pending {
            cause,
            detected: at,
            fenced: None,
        });
    }

    /// A cause waits for its acquisitions.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The dead peer was reset (the fence that gates the takeover).
    pub fn fenced(&mut self, at: Stamp) {
        if let Some(p) = &mut self.pending {
            p.fenced.get_or_insert(at);
        } else if let Some(r) = self.open_record() {
            r.fenced.get_or_insert(at);
        }
    }

    /// A group is being started; opens a record if a cause is pending.
    pub fn acquiring(&mut self, group: &str) {
        if let Some(p) = self.pending.take() {
            if self.records.len() == KEPT {
                self.records.pop_front();
            }
            self.records.push_back(Record {
                cause: p.cause,
                groups: Vec::new(),
                detected: p.detected,
                fenced: p.fenced,
                address_up: None,
                running: None,
                failed: false,
                pending: 0,
            });
            self.open = true;
        }
        if let Some(r) = self.open_record() {
            r.groups.push(group.to_string());
            r.pending += 1;
        }
    }

    /// An address resource came up (the first one counts).
    pub fn address_up(&mut self, at: Stamp) {
        if let Some(r) = self.open_record() {
            r.address_up.get_or_insert(at);
        }
    }

    /// A group's start ended; returns the finished record when it was the last one.
    pub fn acquired(&mut self, ok: bool, at: Stamp) -> Option<Record> {
        let r = self.open_record()?;
        r.pending = r.pending.saturating_sub(1);
        r.failed |= !ok;
        if r.pending > 0 {
            return None;
        }
        if !r.failed {
            r.running = Some(at);
        }
        let done = r.clone();
        self.open = false;
        Some(done)
    }

    fn open_record(&mut self) -> Option<&mut Record> {
        if self.open {
            self.records.back_mut()
        } else {
            None
        }
    }

    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.iter()
    }

    pub fn to_json(&self) -> Value {
        Value::Array(self.records.iter().map(Record::to_json).collect())
    }
}

/// The `takeovers` part of `hbctl status`: one line per record, newest last.
pub fn write_table(takeovers: &[Value], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    if takeovers.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<9} {:<23} {:>8} {:>11} {:>9} {:<8} GROUPS",
        "TAKEOVER", "DETECTED", "FENCED", "ADDRESS UP", "RUNNING", "STATE"
    )?;
    for t in takeovers {
        let after = |k: &str| {
            t.get(k)
                .and_then(Value::as_u64)
                .map_or("-".to_string(), |ms| format!("+{ms} ms"))
        };
        let detected =
            t.get("detected_at_ms")
                .and_then(Value::as_u64)
                .map_or("-".to_string(), |ms| {
                    format!(
                        "{}.{:03}",
                        crate::log::LocalTime::from_unix((ms / 1000) as i64).ha_timestamp(),
                        ms % 1000
                    )
                });
        let groups: Vec<&str> = t
            .get("groups")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        writeln!(
            out,
            "{:<9} {:<23} {:>8} {:>11} {:>9} {:<8} {}",
            t.get("cause").and_then(Value::as_str).unwrap_or("?"),
            detected,
            after("fenced_after_ms"),
            after("address_up_after_ms"),
            after("running_after_ms"),
            t.get("state").and_then(Value::as_str).unwrap_or("?"),
            groups.join(" ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(base: &Stamp, ms: u64) -> Stamp {
        Stamp {
            mono: base.mono + Duration::from_millis(ms),
            unix_ms: base.unix_ms + ms,
        }
    }

    #[test]
    fn a_death_records_detection_fence_address_and_running() {
        let t0 = Stamp::now();
        let mut t = Takeovers::default();
        // The start-up's acquisition has no cause: no record.
        t.acquiring("g0");
        assert!(t.acquired(true, at(&t0, 1)).is_none());
        t.cause(Cause::Death, at(&t0, 100));
        t.fenced(at(&t0, 180));
        t.acquiring("198.51.100.80");
        t.acquiring("10.0.0.1");
        t.address_up(at(&t0, 200));
        t.address_up(at(&t0, 260));
        assert!(t.acquired(true, at(&t0, 300)).is_none());
        let r = t.acquired(true, at(&t0, 350)).expect("last group done");
        assert_eq!(r.cause, Cause::Death);
        assert_eq!(r.seconds(), Some(0.25));
        let j = t.to_json();
        assert_eq!(j.as_array().unwrap().len(), 1);
        let j = &j[0];
        assert_eq!(j["cause"], "death");
        assert_eq!(j["state"], "running");
        assert_eq!(j["groups"], json!(["198.51.100.80", "10.0.0.1"]));
        assert_eq!(j["detected_at_ms"], t0.unix_ms + 100);
        assert_eq!(j["fenced_after_ms"], 80);
        assert_eq!(j["address_up_after_ms"], 100);
        assert_eq!(j["running_after_ms"], 250);
        assert_eq!(j["running_at_ms"], t0.unix_ms + 350);
        let mut out = Vec::new();
        write_table(t.to_json().as_array().unwrap(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let row: Vec<&str> = text.lines().nth(2).unwrap().split_whitespace().collect();
        assert_eq!(row[0], "death");
        assert_eq!(
            &row[2..],
            [
                "+80",
                "ms",
                "+100",
                "ms",
                "+250",
                "ms",
                "running",
                "198.51.100.80",
                "10.0.0.1"
            ]
        );
    }

    #[test]
    fn only_the_last_ten_are_kept_and_a_failed_start_shows() {
        let t0 = Stamp::now();
        let mut t = Takeovers::default();
        for i in 0..12 {
            t.cause(Cause::Standby, at(&t0, i * 10));
            t.acquiring(&format!("g{i}"));
            t.acquired(i != 11, at(&t0, i * 10 + 5));
        }
        let j = t.to_json();
        let a = j.as_array().unwrap();
        assert_eq!(a.len(), KEPT);
        assert_eq!(a[0]["groups"], json!(["g2"]));
        assert_eq!(a[9]["state"], "failed");
        assert_eq!(a[9]["running_at_ms"], Value::Null);
        assert_eq!(a[8]["state"], "running");
    }
}
