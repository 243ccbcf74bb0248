//! The outcome fingerprint of a run: a short hash of what the simulated cluster did, so a
//! change of behaviour anywhere in hb-core shows as a changed fingerprint for some seed
//! (`hbsim --fingerprint`, and the recorded list `tests/data/hbsim-fingerprints.txt` that
//! `tests/tests/fingerprints.rs` and `hbsim --check` compare against).
//!
//! What goes in is what a user of the cluster could observe, never how the simulator formats
//! it for the timeline (`{:?}` of a type would change with a rename): every packet sent (time,
//! sender, media, bytes), every action, fence, reboot and exit the nodes asked for, every log
//! line they wrote (heartbeat's and ipfail's text), the deaths and returns they saw, and at the
//! end the counts and every node's state as its accessors tell it. Each seed is one
//! single-threaded run, so the fingerprint does not depend on how many threads hbsim uses.

use sha2::{Digest as _, Sha256};

/// Accumulates a run's observations.
pub(crate) struct Digest(Sha256);

impl Digest {
    pub(crate) fn new() -> Digest {
        Digest(Sha256::new())
    }

    pub(crate) fn words(&mut self, words: &[u64]) {
        for w in words {
            self.0.update(w.to_le_bytes());
        }
    }

    /// Length-prefixed, so two records cannot run into each other.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.words(&[bytes.len() as u64]);
        self.0.update(bytes);
    }

    /// The first 64 bits, as 16 hex digits.
    pub(crate) fn finish(self) -> String {
        let h = self.0.finalize();
        h[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The recorded fingerprints: `seed fingerprint` per line; `#` starts a comment.
pub fn parse_fingerprints(text: &str) -> Result<Vec<(u64, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(seed), Some(fp), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("line {}: expected `seed fingerprint`", n + 1));
        };
        let seed = seed
            .parse()
            .map_err(|_| format!("line {}: bad seed {seed:?}", n + 1))?;
        if fp.len() != 16 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("line {}: bad fingerprint {fp:?}", n + 1));
        }
        out.push((seed, fp.to_string()));
    }
    Ok(out)
}

/// The recorded list, relative to the tests crate.
pub const FINGERPRINTS: &str = "data/hbsim-fingerprints.txt";
