//! The action worker (design §3): resource actions and fencing run here, one at a time, in
//! the order the core asked for them, so the heartbeat loop never waits for a script. Each
//! result goes back through a channel, and a byte on a socket wakes the loop.

use crate::log::{LogLine, Logger};
use hb_core::engine::NodeId;
use hb_core::resources::{ActionDone, FenceResult, GroupId};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the worker is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    Acquire(GroupId),
    Release(GroupId),
    Fence {
        node: NodeId,
        name: String,
    },
    /// Resource monitoring (hb's addition): ask every resource of a running group for its
    /// status.
    Monitor(GroupId),
    /// Resource monitoring: stop and start a group in place.
    Restart(GroupId),
    /// After a healed split: announce the group's addresses again.
    Announce(GroupId),
}

/// How a release ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Released {
    Ok,
    /// A resource would not stop and still runs: the machine must be rebooted.
    RebootRequired,
}

/// What carries the jobs out.
pub trait Executor: Send {
    /// Starts group `group` (haresources line order); whether it runs now.
    fn acquire(&mut self, group: GroupId, log: &mut dyn FnMut(LogLine)) -> bool;
    fn release(&mut self, group: GroupId, log: &mut dyn FnMut(LogLine)) -> Released;
    fn fence(&mut self, node: &str, log: &mut dyn FnMut(LogLine)) -> FenceResult;
    /// Whether every resource of the group says it runs.
    fn monitor(&mut self, group: GroupId, log: &mut dyn FnMut(LogLine)) -> bool;
    /// Announces the group's addresses again (gratuitous ARP / unsolicited NA).
    fn announce(&mut self, group: GroupId, log: &mut dyn FnMut(LogLine));
}

/// A finished job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done(ActionDone),
    Reboot,
    /// A monitoring check: whether the group runs.
    Monitored {
        group: GroupId,
        running: bool,
    },
    /// A restart in place: whether the group runs again.
    Restarted {
        group: GroupId,
        running: bool,
    },
    /// An announcement went out (nothing to report to the core).
    Announced,
}

/// The worker thread and its two channels.
pub struct Worker {
    jobs: Option<Sender<Job>>,
    pub results: Receiver<Outcome>,
    /// Readable when a result is waiting (drain it, then read `results`).
    pub wake: UnixStream,
    thread: Option<JoinHandle<()>>,
}

/// The action worker's stack (see [`Worker::start`]). Its deepest paths (a script run, a
/// netlink request, a STONITH plugin) use a few tens of KiB in a release build; unoptimised
/// builds (the tests' daemons) have much larger frames.
const WORKER_STACK: usize = if cfg!(debug_assertions) {
    1024 * 1024
} else {
    128 * 1024
};

impl Worker {
    pub fn start(mut exec: Box<dyn Executor>, logger: Arc<Logger>) -> std::io::Result<Worker> {
        let (job_tx, job_rx) = std::sync::mpsc::channel::<Job>();
        let (res_tx, res_rx) = std::sync::mpsc::channel::<Outcome>();
        let (wake_rx, mut wake_tx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        let thread = std::thread::Builder::new()
            .name("hb-actions".into())
            // heartbeat locks its memory (mlockall, MCL_FUTURE): every page of this stack is
            // resident for the daemon's life, and std's default is 2 MiB. The worker runs
            // scripts and netlink requests, nothing deep.
            .stack_size(WORKER_STACK)
            .spawn(move || {
                let mut log = |l: LogLine| logger.log_line(&l);
                for job in job_rx {
                    let outcome = match job {
                        Job::Acquire(group) => Outcome::Done(ActionDone::Acquired {
                            group,
                            ok: exec.acquire(group, &mut log),
                        }),
                        Job::Release(group) => match exec.release(group, &mut log) {
                            Released::Ok => Outcome::Done(ActionDone::Released { group, ok: true }),
                            Released::RebootRequired => Outcome::Reboot,
                        },
                        Job::Fence { node, name } => Outcome::Done(ActionDone::Fenced {
                            node,
                            result: exec.fence(&name, &mut log),
                        }),
                        Job::Monitor(group) => Outcome::Monitored {
                            group,
                            running: exec.monitor(group, &mut log),
                        },
                        Job::Announce(group) => {
                            exec.announce(group, &mut log);
                            Outcome::Announced
                        }
                        Job::Restart(group) => match exec.release(group, &mut log) {
                            Released::RebootRequired => Outcome::Reboot,
                            Released::Ok => Outcome::Restarted {
                                group,
                                running: exec.acquire(group, &mut log),
                            },
                        },
                    };
                    if res_tx.send(outcome).is_err() {
                        return;
                    }
                    // A full socket buffer already means "results are waiting".
                    let _ = wake_tx.write(&[1]);
                }
            })?;
        Ok(Worker {
            jobs: Some(job_tx),
            results: res_rx,
            wake: wake_rx,
            thread: Some(thread),
        })
    }

    pub fn submit(&self, job: Job) {
        if let Some(tx) = &self.jobs {
            // The worker only ends when we drop the sender.
            let _ = tx.send(job);
        }
    }

    /// Lets the current job finish and ends the thread.
    pub fn stop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
