//! `Host::vif_bridge` and `Host::network_bridge`: Xen's hotplug scripts as
//! calls, with their XenStore side. The parsing is in
//! [`crate::xen::hotplug`]. Also `Host::vif_online_best_effort`, the batch
//! attach that `xenbr watch` uses, where one bad interface does not hold up
//! the others.

use serde::Serialize;

use super::{Host, StartOutcome, StopOutcome, VifOutcome};
use crate::error::{Error, Result};
use crate::names::IfName;
use crate::plan::takeover::{Pair, StartRequest, StopRequest};
use crate::plan::vif::VifRequest;
use crate::status::Status;
use crate::xen::hotplug::{
    write_connected, write_error, BackendEntries, IfType, NetworkBridgeCall, NetworkBridgeCommand,
    VifAction, VifBridgeCall,
};
use crate::xen::xenstore::XenStore;

/// What [`Host::vif_bridge`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VifBridgeOutcome {
    /// The command.
    pub action: VifAction,
    /// The interface, by the name it has now.
    pub interface: IfName,
    /// The bridge it was attached to (when `online`/`add` changed something).
    pub bridge: Option<IfName>,
    /// What the transaction did.
    pub vif: VifOutcome,
    /// The `hotplug-status` written, if any.
    pub status: Option<String>,
    /// Things read and not acted on, and other remarks.
    pub notes: Vec<String>,
}

/// What [`Host::network_bridge`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkBridgeOutcome {
    /// Nothing to do (`bridge=null`, or nothing to stop); why.
    Nothing(String),
    /// `start` ran.
    Started(StartOutcome),
    /// `stop` ran.
    Stopped(StopOutcome),
    /// `status`.
    Status(Box<Status>),
}

/// What [`Host::vif_online_best_effort`] did, by request.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// `(request's interface, name now, bridge)` for each interface attached now.
    pub attached: Vec<(IfName, IfName, IfName)>,
    /// Interfaces already attached as asked.
    pub unchanged: Vec<IfName>,
    /// Interfaces gone before they could be attached.
    pub vanished: Vec<IfName>,
    /// Interfaces that could not be attached, with why; each was refused or
    /// rolled back on its own.
    pub failed: Vec<(IfName, Error)>,
    /// Transactions tried (a plan refused before any change counts).
    pub attempts: usize,
}

impl BatchOutcome {
    fn merge(&mut self, reqs: &[VifRequest], out: VifOutcome) {
        for (name, bridge) in out.attached {
            let asked = reqs
                .iter()
                .find(|r| r.vifname.as_ref().unwrap_or(&r.name) == &name)
                .map(|r| r.name.clone())
                .unwrap_or_else(|| name.clone());
            self.attached.push((asked, name, bridge));
        }
        self.unchanged.extend(out.unchanged);
    }
}

impl Host {
    /// Runs a `vif-bridge` call as the toolstack made it: reads the backend
    /// keys from `xs` under the call's `XENBUS_PATH` only, attaches or
    /// detaches the interface in one transaction, and reports to XenStore.
    ///
    /// `online`: `hotplug-status` = `connected` on success. Any failure
    /// (after the transaction rolled back): `hotplug-error` and
    /// `hotplug-status` = `error`, and the error is returned. `offline`
    /// succeeds when the interface is already gone, and needs XenStore only
    /// for `vifname` (without it, `xs` may be `None`). A failure to write
    /// `hotplug-error` itself is not reported beyond the original error.
    pub fn vif_bridge(
        &mut self,
        call: &VifBridgeCall,
        mut xs: Option<&mut XenStore>,
    ) -> Result<VifBridgeOutcome> {
        let what = format!("vif-bridge {} {}", call.action, call.dev);
        let mut notes = Vec::new();
        let entries = match xs.as_deref_mut() {
            Some(x) => match BackendEntries::read(x, &call.backend) {
                Ok(e) => e,
                Err(e) if !call.action.attaches() => {
                    notes.push(format!(
                        "the backend keys could not be read ({e}); acting on {} as named",
                        call.dev
                    ));
                    BackendEntries::default()
                }
                Err(e) => return Err(report(Some(x), call, e.context(&what))),
            },
            None if call.action.attaches() => {
                return Err(Error::not_found(
                    &what,
                    format!("XenStore, to read {}", call.backend),
                ))
            }
            None => {
                notes.push(format!(
                    "no XenStore: vifname unknown, acting on {} as named",
                    call.dev
                ));
                BackendEntries::default()
            }
        };
        if call.action.attaches() && !entries.exists {
            notes.push(format!(
                "{} does not exist; using the defaults",
                call.backend
            ));
        }
        notes.extend(call.notes(&entries));

        if call.action.attaches() {
            let done = call.request(&entries).and_then(|req| {
                self.vif_online(std::slice::from_ref(&req))
                    .map(|o| (req, o))
            });
            let (req, vif) = match done {
                Ok(v) => v,
                Err(e) => return Err(report(xs, call, e)),
            };
            let interface = req.vifname.clone().unwrap_or(req.name);
            let bridge = vif.attached.first().map(|(_, b)| b.clone());
            let mut status = None;
            if call.type_if == IfType::Vif && call.action == VifAction::Online {
                let x = xs.expect("online has a XenStore");
                write_connected(x, &call.backend).map_err(|e| e.context(&what))?;
                status = Some("connected".to_string());
            }
            return Ok(VifBridgeOutcome {
                action: call.action,
                interface,
                bridge,
                vif,
                status,
                notes,
            });
        }

        // offline / remove: the renamed interface, and the original name in
        // case the rename never happened; whichever is gone is fine.
        let target = call
            .final_name(&entries)
            .unwrap_or_else(|_| call.dev.clone());
        let mut names = vec![target.clone()];
        if target != call.dev {
            names.push(call.dev.clone());
        }
        match self.vif_offline(&names) {
            Ok(vif) => {
                let interface = vif
                    .detached
                    .first()
                    .or(vif.unchanged.first())
                    .cloned()
                    .unwrap_or(target);
                Ok(VifBridgeOutcome {
                    action: call.action,
                    interface,
                    bridge: None,
                    vif,
                    status: None,
                    notes,
                })
            }
            Err(e) => Err(report(xs, call, e)),
        }
    }

    /// Runs a `network-bridge` call: `start` and `stop` are xenbr's
    /// takeover for the one pair the arguments describe, `status` the host's
    /// status. `bridge=null` does nothing, as in Xen. `stop` with neither
    /// `bridge=` nor `netdev=` stops every takeover xenbr made; `stop` of a
    /// bridge that does not exist does nothing (as Xen's script), and of one
    /// xenbr did not start is refused.
    pub fn network_bridge(&mut self, call: &NetworkBridgeCall) -> Result<NetworkBridgeOutcome> {
        let op = format!("network-bridge {}", call.command);
        if call.command == NetworkBridgeCommand::Status {
            return Ok(NetworkBridgeOutcome::Status(Box::new(self.status()?)));
        }
        let Some(pair) = Pair::from_xen(&call.args).map_err(|e| e.context(&op))? else {
            return Ok(NetworkBridgeOutcome::Nothing(
                "bridge=null: no bridge, nothing to do".into(),
            ));
        };
        if call.command == NetworkBridgeCommand::Start {
            let req = StartRequest {
                mode: call.mode,
                pairs: vec![pair],
            };
            return self.start(&req).map(NetworkBridgeOutcome::Started);
        }
        let records = self.records()?;
        let bridge = match (&pair.bridge, &pair.netdev) {
            (Some(b), _) => Some(b.clone()),
            (None, Some(n)) => match records.takeovers.iter().find(|t| &t.netdev == n) {
                Some(t) => Some(t.bridge.clone()),
                None => {
                    return Ok(NetworkBridgeOutcome::Nothing(format!(
                        "xenbr has not taken over {n}: nothing to stop"
                    )))
                }
            },
            (None, None) => None,
        };
        let bridges = match bridge {
            None if records.takeovers.is_empty() => {
                return Ok(NetworkBridgeOutcome::Nothing(
                    "xenbr has started no bridge here: nothing to stop".into(),
                ))
            }
            None => Vec::new(),
            Some(b) if records.by_bridge(&b).is_none() => {
                if self.snapshot()?.has_link(&b) {
                    return Err(Error::conflict(
                        op,
                        format!("{b} was not set up by xenbr; xenbr stops only what it started"),
                    ));
                }
                return Ok(NetworkBridgeOutcome::Nothing(format!(
                    "there is no bridge {b}: nothing to stop"
                )));
            }
            Some(b) => vec![b],
        };
        self.stop(&StopRequest {
            bridges,
            force: false,
        })
        .map(NetworkBridgeOutcome::Stopped)
    }

    /// Attaches guest interfaces in as few transactions as it can, without
    /// letting one of them hold up the others: the whole batch first; if
    /// that fails, again without the interfaces that have vanished; if it
    /// still fails, one at a time. Each transaction is all or nothing, so an
    /// interface that fails leaves no change behind. Never fails as a whole:
    /// every interface ends up attached, unchanged, vanished or failed.
    pub fn vif_online_best_effort(&mut self, reqs: &[VifRequest]) -> BatchOutcome {
        let mut out = BatchOutcome::default();
        let mut pending: Vec<VifRequest> = reqs.to_vec();
        let mut retried = false;
        while !pending.is_empty() {
            out.attempts += 1;
            let e = match self.vif_online(&pending) {
                Ok(o) => {
                    out.merge(&pending, o);
                    break;
                }
                Err(e) => e,
            };
            // Which interfaces are gone? When even that cannot be read,
            // assume none is, and let each fail on its own.
            let snap = self.snapshot().ok();
            let gone = |r: &VifRequest| snap.as_ref().is_some_and(|s| !s.has_link(&r.name));
            if pending.len() == 1 {
                let r = pending.remove(0);
                if gone(&r) {
                    out.vanished.push(r.name);
                } else {
                    out.failed.push((r.name, e));
                }
                break;
            }
            let (vanished, here): (Vec<_>, Vec<_>) = pending.into_iter().partition(|r| gone(r));
            out.vanished.extend(vanished.iter().map(|r| r.name.clone()));
            pending = here;
            if vanished.is_empty() || retried {
                // Not (only) vanished interfaces: one at a time.
                for r in std::mem::take(&mut pending) {
                    let one = self.vif_online_best_effort(std::slice::from_ref(&r));
                    out.attempts += one.attempts;
                    out.attached.extend(one.attached);
                    out.unchanged.extend(one.unchanged);
                    out.vanished.extend(one.vanished);
                    out.failed.extend(one.failed);
                }
            }
            retried = true;
        }
        out
    }
}

/// Writes a failure to XenStore when there is one, and gives the error back.
fn report(xs: Option<&mut XenStore>, call: &VifBridgeCall, e: Error) -> Error {
    if let Some(x) = xs {
        let _ = write_error(x, &call.backend, &e.to_string());
    }
    e
}
