//! Xen's `vif-bridge online|offline` (and `add|remove` for tap devices), as
//! pure planners over many interfaces at once.
//!
//! Each interface's changes are ordered as the kernel applies the attributes
//! of one `RTM_NEWLINK` (MAC, MTU, name, master, up), so the transaction sends
//! a fresh tap's whole attach as a single message. The bridge is chosen as
//! Xen does, minus its guess: a host with several bridges and none named is
//! an error that lists them.

use crate::fasthash::FastMap;

use crate::error::{Error, Result};
use crate::names::{IfName, MacAddr, Mtu};
use crate::op::Op;
use crate::plan::Plan;
use crate::records::Records;
use crate::state::{Address, LinkKind, Snapshot};

/// One guest interface to put on a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VifRequest {
    /// The backend interface as it exists now (`vif5.0`, `vif5.0-emu`).
    pub name: IfName,
    /// The bridge; when absent, chosen as Xen does (see [`choose_bridge`]).
    pub bridge: Option<IfName>,
    /// The MTU; the bridge's when absent.
    pub mtu: Option<Mtu>,
    /// Rename the interface to this first (xl's `vifname=`).
    pub vifname: Option<IfName>,
}

impl VifRequest {
    /// A request for `name` with every default.
    pub fn new(name: IfName) -> VifRequest {
        VifRequest {
            name,
            bridge: None,
            mtu: None,
            vifname: None,
        }
    }
}

/// A plan for `vif online` and what it does.
#[derive(Debug, Clone)]
pub struct OnlinePlan {
    /// The steps.
    pub plan: Plan,
    /// `(interface, bridge)` for each interface the plan attaches (final names).
    pub attached: Vec<(IfName, IfName)>,
    /// Interfaces already attached as asked: nothing to do.
    pub unchanged: Vec<IfName>,
}

/// A plan for `vif offline` and what it does.
#[derive(Debug, Clone)]
pub struct OfflinePlan {
    /// The steps.
    pub plan: Plan,
    /// Interfaces the plan takes down and off their bridge.
    pub detached: Vec<IfName>,
    /// Interfaces already down and on no bridge.
    pub unchanged: Vec<IfName>,
    /// Interfaces that no longer exist (the guest's backend removed them).
    pub gone: Vec<IfName>,
}

/// The bridge for a guest interface when the request names none, or when it
/// names a missing `xenbrN`:
/// 1. the bridge `start` set up on this host, when there is exactly one;
/// 2. Xen's fallback: `xenbrN` asked for and missing, but `ethN` is a bridge;
/// 3. the only bridge there is.
///
/// Several candidates, or none, is an error that names them.
pub fn choose_bridge(
    snap: &Snapshot,
    records: &Records,
    asked: Option<&IfName>,
    op: &str,
) -> Result<IfName> {
    let is_bridge = |n: &IfName| snap.link(n).is_some_and(|l| l.kind == LinkKind::Bridge);
    if let Some(b) = asked {
        if is_bridge(b) {
            return Ok(b.clone());
        }
        if let Some(n) = b
            .as_str()
            .strip_prefix("xenbr")
            .filter(|n| n.bytes().all(|c| c.is_ascii_digit()))
        {
            if let Ok(eth) = IfName::new(&format!("eth{n}")) {
                if is_bridge(&eth) {
                    return Ok(eth);
                }
            }
        }
        return Err(match snap.link(b) {
            Some(_) => Error::invalid(op, format!("{b} is not a bridge")),
            None => Error::not_found(op, format!("bridge {b}")),
        });
    }
    let recorded: Vec<&IfName> = records
        .takeovers
        .iter()
        .map(|t| &t.bridge)
        .filter(|b| is_bridge(b))
        .collect();
    if let [one] = recorded.as_slice() {
        return Ok((*one).clone());
    }
    let all: Vec<&IfName> = if recorded.is_empty() {
        snap.bridges().map(|l| &l.name).collect()
    } else {
        recorded
    };
    match all.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::not_found(
            op,
            "a bridge to attach to (run `xenbr start` first, or name one)",
        )),
        many => Err(Error::invalid(
            op,
            format!(
                "there are several bridges ({}); say which with --bridge or bridge=",
                many.iter()
                    .map(|b| b.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Plans `vif online` for every request, all or nothing: one bad request
/// (a missing interface or bridge, a name taken, an MTU out of range, a port
/// of another bridge) refuses the whole batch, naming it.
pub fn plan_online(snap: &Snapshot, records: &Records, reqs: &[VifRequest]) -> Result<OnlinePlan> {
    let mut addrs: FastMap<&IfName, Vec<&Address>> = FastMap::default();
    for a in snap.addresses.iter().filter(|a| !a.is_kernel_made()) {
        addrs.entry(&a.ifname).or_default().push(a);
    }
    let mut ops = Vec::with_capacity(reqs.len() * 4);
    let mut attached = Vec::with_capacity(reqs.len());
    let mut unchanged = Vec::new();
    let mut renamed_to: FastMap<IfName, &IfName> = FastMap::default();
    let mut chosen: Vec<(Option<&IfName>, IfName)> = Vec::new();
    for r in reqs {
        // The error context, written only for an error: a batch names a
        // thousand interfaces.
        let op = || format!("vif online {}", r.name);
        let l = snap.link(&r.name).ok_or_else(|| {
            Error::not_found(op(), format!("interface {}", r.name)).about(&r.name)
        })?;
        if l.kind == LinkKind::Bridge {
            return Err(Error::invalid(
                op(),
                format!("{} is a bridge, not a guest's interface", r.name),
            )
            .about(&r.name));
        }
        // The choice depends only on the bridge asked for: made once per
        // bridge named, for the first request naming it, whose error it
        // would be.
        let bridge = match chosen.iter().find(|(asked, _)| *asked == r.bridge.as_ref()) {
            Some((_, b)) => b.clone(),
            None => {
                let b = choose_bridge(snap, records, r.bridge.as_ref(), &op())
                    .map_err(|e| e.about(&r.name))?;
                chosen.push((r.bridge.as_ref(), b.clone()));
                b
            }
        };
        let br = snap.link(&bridge).expect("chosen bridges exist");
        if let Some(m) = l.master.as_ref().filter(|m| **m != bridge) {
            return Err(
                Error::conflict(op(), format!("{} is already a port of {m}", r.name))
                    .about(&r.name),
            );
        }
        let mtu = r.mtu.map(Mtu::get).unwrap_or(br.mtu);
        let name = r.vifname.clone().unwrap_or_else(|| r.name.clone());
        if name != r.name {
            if snap.has_link(&name) {
                return Err(Error::exists(
                    op(),
                    format!("interface {name} (asked for as vifname)"),
                )
                .about(&r.name));
            }
            if let Some(other) = renamed_to.insert(name.clone(), &r.name) {
                return Err(Error::invalid(
                    op(),
                    format!("{other} and {} would both be renamed {name}", r.name),
                )
                .about(&r.name));
            }
        }
        let mine = addrs.remove(&r.name).unwrap_or_default();
        let done = l.master.as_ref() == Some(&bridge)
            && l.up
            && l.mtu == mtu
            && l.mac == Some(MacAddr::BRIDGE_PORT)
            && name == r.name
            && mine.is_empty();
        if done {
            unchanged.push(r.name.clone());
            continue;
        }
        // Down first for a MAC change, an address flush, or a rename (kernels
        // before 6.2 refuse to rename a link that is up).
        if l.up && (l.mac != Some(MacAddr::BRIDGE_PORT) || !mine.is_empty() || name != r.name) {
            ops.push(Op::SetUp {
                name: r.name.clone(),
                up: false,
            });
        }
        ops.extend(mine.into_iter().rev().cloned().map(Op::del_address));
        if l.mac != Some(MacAddr::BRIDGE_PORT) {
            ops.push(Op::SetMac {
                name: r.name.clone(),
                mac: MacAddr::BRIDGE_PORT,
            });
        }
        if l.mtu != mtu {
            ops.push(Op::SetMtu {
                name: r.name.clone(),
                mtu,
            });
        }
        if name != r.name {
            ops.push(Op::Rename {
                name: r.name.clone(),
                to: name.clone(),
            });
        }
        if l.master.as_ref() != Some(&bridge) {
            ops.push(Op::SetMaster {
                name: name.clone(),
                master: Some(bridge.clone()),
            });
        }
        ops.push(Op::SetUp {
            name: name.clone(),
            up: true,
        });
        attached.push((name, bridge));
    }
    let plan = Plan::build(snap, ops).map_err(|e| e.context("vif online"))?;
    Ok(OnlinePlan {
        plan,
        attached,
        unchanged,
    })
}

/// Plans `vif offline`: each interface down and off its bridge. An interface
/// that no longer exists is not an error (the backend may have gone first).
pub fn plan_offline(snap: &Snapshot, names: &[IfName]) -> Result<OfflinePlan> {
    let mut ops = Vec::with_capacity(names.len() * 2);
    let (mut detached, mut unchanged, mut gone) = (Vec::new(), Vec::new(), Vec::new());
    for name in names {
        let Some(l) = snap.link(name) else {
            gone.push(name.clone());
            continue;
        };
        if l.kind == LinkKind::Bridge {
            return Err(Error::invalid(
                format!("vif offline {name}"),
                format!("{name} is a bridge, not a guest's interface"),
            )
            .about(name));
        }
        if !l.up && l.master.is_none() {
            unchanged.push(name.clone());
            continue;
        }
        if l.up {
            ops.push(Op::SetUp {
                name: name.clone(),
                up: false,
            });
        }
        if l.master.is_some() {
            ops.push(Op::SetMaster {
                name: name.clone(),
                master: None,
            });
        }
        detached.push(name.clone());
    }
    let plan = Plan::build(snap, ops).map_err(|e| e.context("vif offline"))?;
    Ok(OfflinePlan {
        plan,
        detached,
        unchanged,
        gone,
    })
}
