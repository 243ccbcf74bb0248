//! hb-core: the sans-IO, allocation-free heart of hb.
//!
//! Everything here is a pure function or a state machine over caller-owned buffers: no clock,
//! no socket, no file, no allocator. The Linux daemon and the relay firmware drive it.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

pub mod auth;
pub mod config;
pub mod engine;
pub mod heartbeat;
pub mod ipfail;
pub mod log;
pub mod msg;
pub mod relay;
pub mod resources;
pub mod text;
pub mod time;
