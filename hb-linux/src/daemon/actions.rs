//! The worker's [`Executor`]: resource groups through [`crate::rsc`] (ResourceManager's rules,
//! native IPaddr/IPaddr2), fencing through the configured STONITH device.

use super::worker::{Executor, Released};
use crate::config::Loaded;
use crate::log::{LogLine, Logger};
use crate::media::relay::FenceHandle;
use crate::rsc::{self, GroupOutcome, Runner, RunnerOptions, ScriptEnv};
use crate::stonith::{PluginEnv, Stonith};
use hb_core::config::HaResources;
use hb_core::resources::{FenceResult, GroupId};
use std::path::PathBuf;
use std::sync::Arc;

/// Runs haresources groups with the resource scripts and native IP takeover, and fences with
/// the configured STONITH device. (Not "Resources": that is the core's resource manager.)
pub struct ActionRunner {
    runner: Runner,
    groups: HaResources,
    /// The STONITH device heartbeat would use on this node (`stonith`/`stonith_host`).
    stonith: Option<Stonith>,
}

impl ActionRunner {
    /// Errors name the ha.cf line of a STONITH device that cannot be set up.
    pub fn new(
        cfg: &Loaded,
        relays: &[FenceHandle],
        logger: Arc<Logger>,
    ) -> Result<ActionRunner, String> {
        let opts = runner_options(cfg);
        let t = &opts.timeouts;
        logger.info(&format!(
            "Resource script timeouts: start {} s, stop {} s, status {} s",
            t.start.as_secs(),
            t.stop.as_secs(),
            t.status.as_secs()
        ));
        let env = PluginEnv {
            relays: relays.to_vec(),
            ..PluginEnv::default()
        };
        let stonith = Stonith::from_config_with(&cfg.hacf, &cfg.node, &env)?;
        Ok(ActionRunner {
            runner: Runner::new(opts),
            groups: cfg.haresources.clone(),
            stonith,
        })
    }

    fn group(&self, g: GroupId) -> Option<&hb_core::config::ResourceGroup> {
        self.groups.groups().get(usize::from(g.0))
    }
}

/// How the daemon runs resource scripts with this configuration (environment, debug output,
/// stop retries, timeouts); also what `ResourceManager` run by hand uses.
pub fn runner_options(cfg: &Loaded) -> RunnerOptions {
    let cf = &cfg.hacf;
    let mut env = ScriptEnv::new(&cfg.dir, cfg.node.clone());
    let file = |p: &Option<hb_core::config::hacf::Path>| {
        p.as_deref()
            .filter(|p| !p.eq_ignore_ascii_case("/dev/null"))
            .map(PathBuf::from)
    };
    env.logfile = file(&cf.logfile);
    env.debuglog = file(&cf.debugfile);
    env.logfacility = cf.syslog_facility().map(|f| f.name().to_string());
    env.debug = u32::from(cf.debug);
    env.logd = cf.use_logd;
    for v in &cf.env {
        // ha.cf's `env NAME=value` reaches children as HA_NAME.
        env.extra
            .push((format!("HA_{}", v.name.as_str()), v.value.to_string()));
    }
    let mut opts = RunnerOptions::new(&cfg.dir);
    opts.output = env.debuglog.clone();
    let retry = cf
        .env
        .iter()
        .find(|v| v.name.as_str() == "STOPRETRYMAX")
        .map(|v| v.value.to_string())
        .or_else(|| std::env::var("HA_STOPRETRYMAX").ok());
    if let Some(r) = retry {
        opts.stop_retry_max = rsc::parse_stop_retry_max(&r);
    }
    // hb's own knobs ride on ha.cf's `env` directive, which 3.0.6 also accepts:
    // `env HB_START_TIMEOUT=<s>` (and STOP, STATUS) bound every script call.
    let secs = |name: &str| {
        cf.env
            .iter()
            .find(|v| v.name.as_str() == name)
            .and_then(|v| v.value.to_string().trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs)
    };
    if let Some(t) = secs("HB_START_TIMEOUT") {
        opts.timeouts.start = t;
    }
    if let Some(t) = secs("HB_STOP_TIMEOUT") {
        opts.timeouts.stop = t;
    }
    if let Some(t) = secs("HB_STATUS_TIMEOUT") {
        opts.timeouts.status = t;
    }
    opts.env = env;
    opts
}

impl Executor for ActionRunner {
    fn acquire(&mut self, group: GroupId, log: &mut dyn FnMut(LogLine)) -> bool {
        let Some(g) = self.group(group) else {
            log(LogLine::error(format!("no resource group {}", group.0)));
            return false;
        };
        matches!(self.runner.acquire_group(g, log), GroupOutcome::Done)
    }

    fn release(&mut self, group: GroupId, log: &mut dyn FnMut(LogLine)) -> Released {
        let Some(g) = self.group(group) else {
            return Released::Ok;
        };
        match self.runner.release_group(g, log) {
            GroupOutcome::RebootRequired { .. } => Released::RebootRequired,
            _ => Released::Ok,
        }
    }

    fn monitor(&mut self, group: GroupId, log: &mut dyn FnMut(LogLine)) -> bool {
        let Some(g) = self.group(group) else {
            return false;
        };
        // Every resource is asked (no short cut), so the log shows each one's answer.
        let mut all = true;
        for r in g.resources() {
            all &= self.runner.resource_status(&r, log);
        }
        all
    }

    fn announce(&mut self, group: GroupId, log: &mut dyn FnMut(LogLine)) {
        if let Some(g) = self.group(group) {
            self.runner.announce_group(g, log);
        }
    }

    fn fence(&mut self, node: &str, log: &mut dyn FnMut(LogLine)) -> FenceResult {
        match &mut self.stonith {
            Some(s) => s.fence(node, log),
            None => {
                // The core asks only when a device is configured.
                log(LogLine::error(format!(
                    "cannot reset node {node}: no STONITH device configured"
                )));
                FenceResult::Failed
            }
        }
    }
}
