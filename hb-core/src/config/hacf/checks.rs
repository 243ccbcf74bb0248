//! Defaults that depend on other directives, and the cross-checks of heartbeat's `init_config`.

use super::clients::ApiAuth;
use super::types::{
    AutoFailback, AutoJoin, Pacemaker, BUILTIN_APIAUTH, INITDEAD_FOR_SHORT_DEADTIME,
    INITDEAD_LONG_DEADTIME, INITDEAD_RECOMMENDED_MIN, INITDEAD_SHORT_DEADTIME,
};
use super::{Builder, HaCf};
use crate::config::{bounded, Invalid, Pos, Reporter};
use crate::time::Duration;

impl Builder {
    /// Defaults and the cross-checks of heartbeat's `init_config`, in its order.
    pub(super) fn finish(mut self, r: &mut Reporter<'_>) -> Result<HaCf, Invalid> {
        let cf = &mut self.cf;
        if cf.media.is_empty() {
            r.error(
                Pos::FILE,
                format_args!(
                    "No heartbeat media defined (add a bcast, mcast, ucast or serial line)"
                ),
            );
        }
        cf.warntime = self
            .warntime
            .unwrap_or(Duration::from_millis(cf.deadtime.as_millis() / 2));
        // heartbeat's node count includes ping nodes.
        let ping_nodes = cf.media.iter().any(|m| m.value.is_ping());
        if cf.nodes.is_empty() && !ping_nodes && cf.autojoin != AutoJoin::Any {
            r.error(
                Pos::FILE,
                format_args!("no nodes defined (declare the cluster members with a 'node' line)"),
            );
        }
        let (ka, dt) = (cf.keepalive.as_millis(), cf.deadtime.as_millis());
        if cf.deadtime <= cf.keepalive.saturating_mul(2) {
            r.error(
                self.deadtime_at.or(self.keepalive_at).unwrap_or(Pos::FILE),
                format_args!(
                    "Dead time [{dt}] is too small compared to keeplive [{ka}] \
                     (deadtime must be more than twice keepalive; values in ms)"
                ),
            );
        }
        let (initdead, initdead_at) = match self.initdead {
            Some((d, at)) => (d, at),
            None if cf.deadtime > INITDEAD_LONG_DEADTIME => (cf.deadtime, Pos::FILE),
            None if cf.deadtime < INITDEAD_SHORT_DEADTIME => {
                (INITDEAD_FOR_SHORT_DEADTIME, Pos::FILE)
            }
            None => (cf.deadtime.saturating_mul(2), Pos::FILE),
        };
        cf.initdead = initdead;
        let id = initdead.as_millis();
        if initdead < cf.deadtime {
            r.error(
                initdead_at,
                format_args!("Initial dead time [{id}] is smaller than deadtime [{dt}]"),
            );
        } else if initdead < INITDEAD_RECOMMENDED_MIN {
            r.warning(
                initdead_at,
                format_args!(
                    "Initial dead time [{id} ms] may be too small! Initial dead time accounts \
                     for slow network startup time. It should be >= deadtime and >= 10 seconds"
                ),
            );
        }
        cf.deadping = match self.deadping {
            None => cf.deadtime,
            Some((d, at)) => {
                if d <= cf.keepalive.saturating_mul(2) {
                    r.error(
                        at,
                        format_args!(
                            "Ping dead time [{}] is too small compared to keeplive [{ka}] \
                             (deadping must be more than twice keepalive; values in ms)",
                            d.as_millis()
                        ),
                    );
                }
                d
            }
        };
        let (mode, mode_at) = self
            .auto_failback
            .unwrap_or((AutoFailback::Legacy, Pos::FILE));
        cf.auto_failback = mode;
        if mode == AutoFailback::Legacy && cf.pacemaker == Pacemaker::Off {
            r.warning(
                mode_at,
                format_args!(
                    "Deprecated 'legacy' auto_failback option selected. Please convert to \
                     'auto_failback on'. See documentation for conversion details."
                ),
            );
        }
        self.logging(r);
        let cf = &mut self.cf;
        if cf.pacemaker == Pacemaker::Off && cf.autojoin != AutoJoin::None {
            r.error(
                self.autojoin_at.unwrap_or(Pos::FILE),
                format_args!(
                    "R1 style resource management conflicts with  autojoin set. \
                     You need either unset autojoin or enable crm"
                ),
            );
        }
        for (client, uids, gids) in BUILTIN_APIAUTH {
            if cf.apiauth.iter().any(|a| a.client.as_str() == client) {
                continue;
            }
            let entry = ApiAuth {
                client: bounded(client).unwrap_or_default(),
                uids: bounded(uids).unwrap_or_default(),
                gids: bounded(gids).unwrap_or_default(),
                builtin: true,
            };
            // Capacity is reserved for the built-ins, so this cannot fail.
            let _ = cf.apiauth.push(entry);
        }
        r.verdict(self.cf)
    }
}
