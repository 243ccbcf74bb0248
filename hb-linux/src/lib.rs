//! hb's Linux side: the `heartbeat` daemon and the `hbctl` tool.

pub mod hbctl;
