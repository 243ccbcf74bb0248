//! heartbeat's client API (issue 11): what libhbclient — and through it `cl_status`, `ipfail`,
//! `ccm`, `dopd`, `api_test` — talks to on `/var/run/heartbeat/register`.
//!
//! - [`ipc`]: cluster-glue's socket framing, non-blocking and bounded per client;
//! - [`msg`]: the ha_msg of a request or an answer (hb-core's codecs);
//! - [`auth`]: `apiauth` (ha.cf lines and 3.0.6's built-in defaults);
//! - [`params`]: the parameter table `getparm` answers from;
//! - [`server`]: sign-on, the requests, the callbacks and client-to-client messages.
//!
//! The server does not know the loop: the loop hands it a [`Cluster`] (what the core says of
//! the nodes, and a way to send a cluster message) and drains its log lines.

pub mod auth;
pub mod ipc;
pub mod msg;
pub mod params;
pub mod server;

pub use server::ApiServer;

/// The version clients are told (`getparm hbversion`, the sign-on answer): hb speaks the
/// protocol of this 3.0.6 release, and scripts compare what `cl_status hbstatus -v` prints.
pub const HBVERSION: &str = "3.0.6 (node: 958e11be8686759f1b99204c17812f2c2633b169)";

/// 3.0.6's registration socket (`API_REGSOCK`).
pub const REGISTER_SOCKET: &str = "/var/run/heartbeat/register";

/// One node as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub ping: bool,
    /// heartbeat's status word (`active`, `dead`, `ping`, …).
    pub status: String,
    /// Its links (name, `up`/`dead`), in ha.cf's media order.
    pub links: Vec<(String, String)>,
    /// Its UUID once known (ours always).
    pub uuid: Option<[u8; 16]>,
}

/// What the server needs of the running daemon.
pub trait Cluster {
    fn local(&self) -> String;
    fn nodes(&self) -> Vec<NodeView>;
    /// `rsc_hold` for `getrsc` (`all`, `local`, `foreign`, `none`, `transition`).
    fn resources(&self) -> String;
    /// Sends a message to the cluster (it comes back to us too, as in 3.0.6).
    fn send(&mut self, msg: &msg::Msg) -> Result<(), String>;
    /// A client asks to give up resources (`ask_resources` `info=me`, what ipfail and
    /// hb_standby send): the standby protocol, as the resource logic runs it for us.
    fn standby(&mut self, set: &str) -> Result<(), String>;
}
