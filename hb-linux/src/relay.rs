//! The relay board's paths as they were before the channel moved under [`crate::media`] and
//! the `hbrelay` plugin beside the other STONITH plugins: `hb_linux::relay::RelayChannel` and
//! friends stay valid for code outside the crate. Nothing inside the crate uses this module.

pub use crate::media::relay::*;
pub use crate::stonith::hbrelay::{HbRelay, AUTHKEYS};
