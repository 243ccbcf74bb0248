//! The worker's [`Executor`]: resource groups through [`crate::rsc`] (ResourceManager's rules,
//! native IPaddr/IPaddr2), fencing through the configured STONITH device.

use super::startup::Loaded;
use super::worker::{Executor, Released};
use crate::log::{LogLine, Logger};
use crate::rsc::{self, GroupOutcome, Runner, RunnerOptions, ScriptEnv};
use hb_core::config::HaResources;
use hb_core::resources::{FenceResult, GroupId};
use std::path::PathBuf;
use std::sync::Arc;

/// Runs haresources groups with the resource scripts and native IP takeover.
pub struct Resources {
    runner: Runner,
    groups: HaResources,
}

impl Resources {
    pub fn new(cfg: &Loaded, _logger: Arc<Logger>) -> Resources {
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
        opts.env = env;
        Resources {
            runner: Runner::new(opts),
            groups: cfg.haresources.clone(),
        }
    }

    fn group(&self, g: GroupId) -> Option<&hb_core::config::ResourceGroup> {
        self.groups.groups().get(usize::from(g.0))
    }
}

impl Executor for Resources {
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

    fn fence(&mut self, node: &str, log: &mut dyn FnMut(LogLine)) -> FenceResult {
        log(LogLine::error(format!(
            "cannot reset node {node}: this build has no STONITH plugin for the configured device"
        )));
        FenceResult::Failed
    }
}
