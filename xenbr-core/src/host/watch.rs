//! `Host::watch`: hotplug without udev or a shell. It follows a stream of
//! link events, attaches each new guest interface, and forgets each one
//! that goes away.
//!
//! Bursts are batched. After the first new interface, the events that follow
//! within a short window (until a quiet gap of [`WatchOptions::settle`], or
//! [`WatchOptions::max_wait`] at most) join it, and the batch goes through
//! [`Host::vif_online_best_effort`]: one transaction for the lot. An
//! interface that vanishes first, or that cannot be attached, does not hold
//! up the others.
//!
//! When XenStore is given and a new interface is named as Xen names them
//! (`vif<domid>.<devid>`, `vif<domid>.<devid>-emu`), its backend directory
//! `backend/vif/<domid>/<devid>` is read as `vif-bridge` reads it (bridge,
//! MTU, vifname). When the directory exists, the outcome is reported there
//! as `vif-bridge` does, which is what libxl waits for when it leaves
//! hotplug to others (`run_hotplug_scripts=0`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::{FutureExt, Stream, StreamExt};
use serde::Serialize;

use super::Host;
use crate::error::Result;
use crate::names::{IfName, Mtu, NamePattern};
use crate::netlink::{LinkEvent, LinkState};
use crate::plan::vif::VifRequest;
use crate::state::LinkKind;
use crate::xen::hotplug::{
    write_connected, write_error, BackendEntries, BackendPath, IfType, VifAction, VifBridgeCall,
};
use crate::xen::xenstore::XenStore;

/// How `xenbr watch` picks and attaches interfaces.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// New interfaces whose names match one of these are attached
    /// (default `vif*.*`). `vif0.N`, dom0's own end of a classic takeover,
    /// never is.
    pub patterns: Vec<NamePattern>,
    /// The bridge (default: chosen as `vif online` does); XenStore's
    /// `bridge` wins for an interface that has a backend directory.
    pub bridge: Option<IfName>,
    /// The MTU (default: the bridge's); XenStore's `mtu` wins.
    pub mtu: Option<Mtu>,
    /// At the start, also attach the matching interfaces that are already
    /// there and on no bridge (guests that came up while nothing watched).
    pub catch_up: bool,
    /// A batch closes after this long without a new event.
    pub settle: Duration,
    /// A batch closes at the latest this long after its first interface.
    pub max_wait: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            patterns: vec![NamePattern::new("vif*.*").expect("a valid pattern")],
            bridge: None,
            mtu: None,
            catch_up: true,
            settle: Duration::from_millis(3),
            max_wait: Duration::from_millis(50),
        }
    }
}

/// One thing `watch` did or saw, for the caller to show or log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchReport {
    /// An interface was attached.
    Attached {
        /// As it appeared.
        interface: IfName,
        /// Its name now, when `vifname` renamed it.
        renamed: Option<IfName>,
        /// The bridge.
        bridge: IfName,
        /// Its backend directory, when one was read.
        backend: Option<String>,
    },
    /// An interface was already attached as asked.
    AlreadyAttached {
        /// The interface.
        interface: IfName,
    },
    /// An interface could not be attached; nothing was changed for it.
    Failed {
        /// The interface.
        interface: IfName,
        /// Why.
        error: String,
    },
    /// An interface went away before it could be attached.
    Vanished {
        /// The interface.
        interface: IfName,
    },
    /// An attached interface went away; watch no longer follows it.
    Forgotten {
        /// The interface.
        interface: IfName,
    },
    /// A new interface matches a pattern but is left alone.
    Skipped {
        /// The interface.
        interface: IfName,
        /// Why.
        reason: String,
    },
    /// The kernel dropped events; the link list was read again.
    Resynced,
    /// Something went wrong that does not stop watching (a XenStore write).
    Warning {
        /// What.
        message: String,
    },
    /// A batch was done.
    Batch {
        /// Interfaces in it.
        interfaces: usize,
        /// Transactions tried for it.
        attempts: usize,
        /// How long it took, in microseconds.
        micros: u64,
    },
}

/// Totals of a `watch` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WatchSummary {
    /// Interfaces attached.
    pub attached: usize,
    /// Interfaces that could not be attached.
    pub failed: usize,
    /// Attached interfaces that went away.
    pub forgotten: usize,
    /// Batches run.
    pub batches: usize,
}

/// A new interface waiting for its batch.
struct Pending {
    index: u32,
    name: IfName,
}

/// What watch knows of the backend of an interface it attaches.
struct Backend {
    path: BackendPath,
    type_if: IfType,
}

struct Watch<'a> {
    opts: &'a WatchOptions,
    xs: Option<&'a mut XenStore>,
    report: &'a mut dyn FnMut(WatchReport),
    /// Attached interfaces by index, with their names now.
    tracked: HashMap<u32, IfName>,
    /// Interfaces that could not be attached, by index: tried once, as Xen
    /// runs a hotplug script once, however often the link is seen again
    /// (the catch-up snapshot and the stream both show one made meanwhile).
    failed: HashSet<u32>,
    pending: Vec<Pending>,
    summary: WatchSummary,
}

/// dom0's own end of a classic takeover (`vif0.N`), never a guest's.
fn is_dom0s(name: &IfName) -> bool {
    BackendPath::of_interface(name).is_some_and(|(p, _)| p.domid() == 0)
}

impl Watch<'_> {
    fn matches(&self, name: &IfName) -> bool {
        self.opts.patterns.iter().any(|p| p.matches(name.as_str()))
    }

    /// Queues `name` when it is a guest interface to attach.
    fn consider(&mut self, index: u32, name: &IfName, kind: LinkKind, has_master: bool) {
        if !self.matches(name)
            || kind == LinkKind::Bridge
            || self.tracked.contains_key(&index)
            || self.failed.contains(&index)
        {
            return;
        }
        if is_dom0s(name) {
            (self.report)(WatchReport::Skipped {
                interface: name.clone(),
                reason: "vif0.N is dom0's own end of a takeover".into(),
            });
            return;
        }
        if has_master {
            (self.report)(WatchReport::Skipped {
                interface: name.clone(),
                reason: "it is already a port of a bridge".into(),
            });
            return;
        }
        if self.pending.iter().all(|p| p.index != index) {
            self.pending.push(Pending {
                index,
                name: name.clone(),
            });
        }
    }

    fn on_event(&mut self, e: LinkEvent) {
        match e {
            LinkEvent::Added(l) => self.consider(l.index, &l.name, l.kind, l.master.is_some()),
            LinkEvent::Changed(LinkState { index, name, .. }) => {
                if let Some(n) = self.tracked.get_mut(&index) {
                    *n = name.clone();
                }
                if let Some(p) = self.pending.iter_mut().find(|p| p.index == index) {
                    p.name = name;
                }
            }
            LinkEvent::Removed(l) => {
                self.failed.remove(&l.index);
                if let Some(i) = self.pending.iter().position(|p| p.index == l.index) {
                    let p = self.pending.remove(i);
                    (self.report)(WatchReport::Vanished { interface: p.name });
                }
                if let Some(name) = self.tracked.remove(&l.index) {
                    self.summary.forgotten += 1;
                    (self.report)(WatchReport::Forgotten { interface: name });
                }
            }
            LinkEvent::Overrun => (self.report)(WatchReport::Resynced),
        }
    }

    /// The request for one new interface, reading its backend when there is
    /// XenStore; `None` (reported) when the backend's keys are bad.
    fn request(&mut self, name: &IfName) -> Option<(VifRequest, Option<Backend>)> {
        let plain = VifRequest {
            bridge: self.opts.bridge.clone(),
            mtu: self.opts.mtu,
            ..VifRequest::new(name.clone())
        };
        let (Some(xs), Some((path, type_if))) =
            (self.xs.as_deref_mut(), BackendPath::of_interface(name))
        else {
            return Some((plain, None));
        };
        let call = VifBridgeCall {
            action: match type_if {
                IfType::Vif => VifAction::Online,
                IfType::Tap => VifAction::Add,
            },
            type_if,
            dev: name.clone(),
            backend: path.clone(),
            bridge: self.opts.bridge.clone(),
            ip: None,
        };
        let built = BackendEntries::read(xs, &path).and_then(|e| {
            if !e.exists {
                return Ok(None);
            }
            call.request(&e).map(Some)
        });
        match built {
            Ok(None) => Some((plain, None)),
            Ok(Some(mut req)) => {
                req.mtu = req.mtu.or(self.opts.mtu);
                Some((req, Some(Backend { path, type_if })))
            }
            Err(e) => {
                let message = e.to_string();
                if let Err(w) = write_error(xs, &path, &message) {
                    (self.report)(WatchReport::Warning {
                        message: format!("write {}: {w}", path.key("hotplug-error")),
                    });
                }
                self.summary.failed += 1;
                (self.report)(WatchReport::Failed {
                    interface: name.clone(),
                    error: message,
                });
                None
            }
        }
    }

    fn connected(&mut self, b: &Option<Backend>) {
        let (Some(xs), Some(b)) = (self.xs.as_deref_mut(), b) else {
            return;
        };
        // As vif-bridge: only a PV interface's online reports success.
        if b.type_if != IfType::Vif {
            return;
        }
        if let Err(e) = write_connected(xs, &b.path) {
            (self.report)(WatchReport::Warning {
                message: e.to_string(),
            });
        }
    }

    /// Attaches the pending interfaces.
    fn flush(&mut self, host: &mut Host) {
        if self.pending.is_empty() {
            return;
        }
        let started = Instant::now();
        let batch = std::mem::take(&mut self.pending);
        let mut reqs = Vec::with_capacity(batch.len());
        let mut meta: HashMap<IfName, (u32, Option<Backend>)> = HashMap::new();
        for p in batch {
            if let Some((req, backend)) = self.request(&p.name) {
                meta.insert(p.name.clone(), (p.index, backend));
                reqs.push(req);
            }
        }
        if reqs.is_empty() {
            return;
        }
        let out = host.vif_online_best_effort(&reqs);
        for (asked, now, bridge) in out.attached {
            let (index, backend) = meta.remove(&asked).unwrap_or((0, None));
            self.tracked.insert(index, now.clone());
            self.connected(&backend);
            self.summary.attached += 1;
            (self.report)(WatchReport::Attached {
                renamed: (now != asked).then_some(now),
                interface: asked,
                bridge,
                backend: backend.map(|b| b.path.to_string()),
            });
        }
        for name in out.unchanged {
            let (index, backend) = meta.remove(&name).unwrap_or((0, None));
            self.tracked.insert(index, name.clone());
            self.connected(&backend);
            (self.report)(WatchReport::AlreadyAttached { interface: name });
        }
        for name in out.vanished {
            (self.report)(WatchReport::Vanished { interface: name });
        }
        for (name, e) in out.failed {
            if let Some((index, _)) = meta.get(&name) {
                self.failed.insert(*index);
            }
            let message = e.to_string();
            if let Some((_, Some(b))) = meta.get(&name) {
                if let Some(xs) = self.xs.as_deref_mut() {
                    if let Err(w) = write_error(xs, &b.path, &message) {
                        (self.report)(WatchReport::Warning {
                            message: w.to_string(),
                        });
                    }
                }
            }
            self.summary.failed += 1;
            (self.report)(WatchReport::Failed {
                interface: name,
                error: message,
            });
        }
        self.summary.batches += 1;
        (self.report)(WatchReport::Batch {
            interfaces: reqs.len(),
            attempts: out.attempts,
            micros: started.elapsed().as_micros().min(u64::MAX as u128) as u64,
        });
    }
}

impl Host {
    /// Follows `events` (a [`LinkEventStream`](crate::netlink::LinkEventStream)
    /// opened in this host's namespace, before this call) until it ends, and
    /// attaches each new interface that matches [`WatchOptions::patterns`],
    /// in batches. `xs`, when given, supplies backend keys and takes
    /// `hotplug-status` as [`Host::vif_bridge`] does. Every action is
    /// passed to `report` as it happens.
    ///
    /// To stop, end the stream ([`Stopper::stop`](crate::netlink::Stopper::stop)):
    /// the events already received are handled, the batch in hand is
    /// finished (never cut half-way), and this returns. An error of the
    /// stream ends the watch with that error, after the same.
    pub fn watch<S>(
        &mut self,
        mut events: S,
        opts: &WatchOptions,
        xs: Option<&mut XenStore>,
        mut report: impl FnMut(WatchReport),
    ) -> Result<WatchSummary>
    where
        S: Stream<Item = Result<LinkEvent>> + Unpin,
    {
        let mut w = Watch {
            opts,
            xs,
            report: &mut report,
            tracked: HashMap::new(),
            failed: HashSet::new(),
            pending: Vec::new(),
            summary: WatchSummary::default(),
        };
        if opts.catch_up {
            // The stream was opened first, so an interface made since is
            // either here, or in the stream, or both (then it is unchanged).
            let snap = self.snapshot()?;
            for l in &snap.links {
                w.consider(l.index, &l.name, l.kind, l.master.is_some());
            }
            w.flush(self);
        }
        while let Some(first) = block_on(events.next()) {
            let mut failure = None;
            let mut ended = false;
            match first {
                Ok(e) => w.on_event(e),
                Err(e) => failure = Some(e),
            }
            // The rest of the burst.
            let started = Instant::now();
            let mut last = started;
            while failure.is_none() {
                match events.next().now_or_never() {
                    Some(Some(Ok(e))) => {
                        w.on_event(e);
                        last = Instant::now();
                    }
                    Some(Some(Err(e))) => failure = Some(e),
                    Some(None) => {
                        ended = true;
                        break;
                    }
                    None => {
                        if w.pending.is_empty()
                            || last.elapsed() >= opts.settle
                            || started.elapsed() >= opts.max_wait
                        {
                            break;
                        }
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            }
            w.flush(self);
            if let Some(e) = failure {
                return Err(e);
            }
            if ended {
                break;
            }
        }
        Ok(w.summary)
    }
}
