//! Xen's `network-bridge start|stop`, as pure planners: a snapshot and the
//! records in, a plan out.
//!
//! Unlike the script, a takeover moves everything dom0 had on the NIC:
//! every IPv4 and IPv6 address (secondaries and labels too) and every route
//! that goes through it or takes one of its addresses as source, in all
//! tables. Routes leave before addresses, secondaries before primaries, and
//! come back in the reverse order, so the kernel never drops anything on its
//! own along the way.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::names::{IfName, MacAddr};
use crate::op::Op;
use crate::plan::Plan;
use crate::records::{Mode, Records, Takeover};
use crate::state::{Address, LinkKind, Route, Snapshot, RT_TABLE_MAIN};
use crate::xen::xend_config::{BridgeArg, NetworkBridgeArgs};

/// One NIC to put on one bridge; what is left out takes Xen's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pair {
    /// The NIC (default: the device of the IPv4 default route).
    pub netdev: Option<IfName>,
    /// The bridge (default: `xenbrN` in classic mode, the NIC's name in bridge mode).
    pub bridge: Option<IfName>,
}

impl Pair {
    /// The pair Xen's `network-bridge` arguments describe, or `None` for
    /// `bridge=null` (Xen's way of saying "no bridge"). `vifnum=N` stands for
    /// `netdev=ethN bridge=xenbrN`; `antispoof=yes` is refused, since xenbr
    /// does not manage iptables.
    pub fn from_xen(a: &NetworkBridgeArgs) -> Result<Option<Pair>> {
        let op = "read network-bridge arguments";
        if a.antispoof == Some(true) {
            return Err(Error::invalid(
                op,
                "antispoof=yes is not supported: xenbr changes links, not iptables rules; use antispoof=no",
            ));
        }
        let from_vifnum = |prefix: &str| {
            a.vifnum
                .map(|n| name(format!("{prefix}{n}"), op))
                .transpose()
        };
        let bridge = match &a.bridge {
            Some(BridgeArg::Null) => return Ok(None),
            Some(BridgeArg::Named(b)) => Some(b.clone()),
            None => from_vifnum("xenbr")?,
        };
        let netdev = match &a.netdev {
            Some(n) => Some(n.clone()),
            None => from_vifnum("eth")?,
        };
        Ok(Some(Pair { netdev, bridge }))
    }

    /// Parses Xen-style words, pairs separated by a lone `,`:
    /// `netdev=eth0 bridge=xenbr0 , netdev=eth1 bridge=xenbr1`.
    /// Groups that say `bridge=null` are left out.
    pub fn parse_xen_words<S: AsRef<str>>(words: &[S]) -> Result<Vec<Pair>> {
        let mut pairs = Vec::new();
        for group in words.split(|w| w.as_ref() == ",") {
            if group.is_empty() {
                continue;
            }
            let args = NetworkBridgeArgs::parse_words(group.iter().map(|w| w.as_ref()))?;
            pairs.extend(Pair::from_xen(&args)?);
        }
        Ok(pairs)
    }
}

/// `network-bridge start`, for one or several NICs at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartRequest {
    /// The layout.
    pub mode: Mode,
    /// The NICs and their bridges; empty means one pair with all defaults.
    pub pairs: Vec<Pair>,
}

/// `network-bridge stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopRequest {
    /// The bridges to take down; empty means every one xenbr started.
    pub bridges: Vec<IfName>,
    /// Detach guests' interfaces still on the bridge instead of refusing.
    pub force: bool,
}

/// A start plan and what it will record.
#[derive(Debug, Clone)]
pub struct StartPlan {
    /// The steps.
    pub plan: Plan,
    /// The takeovers this plan makes.
    pub started: Vec<Takeover>,
    /// The pairs that were already in place (nothing to do for them).
    pub already: Vec<Takeover>,
    /// The records to store when the plan succeeds.
    pub records: Records,
}

/// A stop plan and what it leaves recorded.
#[derive(Debug, Clone)]
pub struct StopPlan {
    /// The steps.
    pub plan: Plan,
    /// The takeovers undone.
    pub stopped: Vec<Takeover>,
    /// Guests' interfaces detached (with `force`).
    pub detached: Vec<IfName>,
    /// The records to store when the plan succeeds.
    pub records: Records,
}

fn name(s: String, op: &str) -> Result<IfName> {
    IfName::new(&s).map_err(|e| Error::invalid(op, e))
}

/// The device of the IPv4 default route, or a clear error asking for `netdev=`.
pub fn default_netdev(snap: &Snapshot) -> Result<IfName> {
    let op = "find the NIC";
    let mut devs: Vec<&IfName> = snap
        .routes
        .iter()
        .filter(|r| r.is_default() && r.destination.is_ipv4() && r.table == RT_TABLE_MAIN)
        .filter_map(|r| r.oif.as_ref())
        .collect();
    devs.sort();
    devs.dedup();
    match devs.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::invalid(
            op,
            "there is no IPv4 default route to take the NIC from; say which with netdev=",
        )),
        many => Err(Error::invalid(
            op,
            format!(
                "IPv4 default routes go through {}; say which NIC with netdev=",
                many.iter()
                    .map(|d| d.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        )),
    }
}

/// The number at the end of a name (`eth1` gives 1).
fn trailing_number(n: &IfName) -> Option<u32> {
    let s = n.as_str();
    let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    s[s.len() - digits..].parse().ok()
}

/// What moves with dom0's identity: its non-kernel addresses (kernel order,
/// primaries before their secondaries) and the routes through it or sourced
/// from one of its addresses.
pub fn carried(snap: &Snapshot, dev: &IfName) -> (Vec<Address>, Vec<Route>) {
    let addrs: Vec<Address> = snap
        .addresses_of(dev)
        .filter(|a| !a.is_kernel_made())
        .cloned()
        .collect();
    let mine: HashSet<std::net::IpAddr> = addrs.iter().map(|a| a.address.addr()).collect();
    let routes = snap
        .routes
        .iter()
        .filter(|r| !r.is_kernel_made())
        .filter(|r| r.uses(dev) || r.prefsrc.is_some_and(|s| mine.contains(&s)))
        .cloned()
        .collect();
    (addrs, routes)
}

/// Ops that take the carried routes and addresses off (routes first, then
/// addresses, secondaries before primaries).
fn take_off(addrs: &[Address], routes: &[Route]) -> Vec<Op> {
    let mut ops: Vec<Op> = routes.iter().cloned().map(Op::del_route).collect();
    ops.extend(addrs.iter().rev().cloned().map(Op::del_address));
    ops
}

fn rename_ref(n: &mut IfName, from: &IfName, to: &IfName) {
    if n == from {
        *n = to.clone();
    }
}

/// Ops that put the addresses (then, separately, the routes) on `to`,
/// rewriting references to `from`.
fn put_on(addrs: &[Address], routes: &[Route], from: &IfName, to: &IfName) -> (Vec<Op>, Vec<Op>) {
    let a = addrs
        .iter()
        .map(|a| {
            let mut a = a.clone();
            a.ifname = to.clone();
            if let Some(l) = a.label.as_mut() {
                if let Some(rest) = l.strip_prefix(from.as_str()) {
                    let mut new = format!("{to}{rest}");
                    new.truncate(crate::names::IFNAME_MAX);
                    *l = new;
                }
            }
            Op::add_address(a)
        })
        .collect();
    let r = routes
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(o) = r.oif.as_mut() {
                rename_ref(o, from, to);
            }
            for h in &mut r.multipath {
                if let Some(o) = h.oif.as_mut() {
                    rename_ref(o, from, to);
                }
            }
            Op::add_route(r)
        })
        .collect();
    (a, r)
}

fn set_up(name: &IfName, up: bool) -> Op {
    Op::SetUp {
        name: name.clone(),
        up,
    }
}

/// True when `t`'s layout is in place in `snap`.
fn in_place(snap: &Snapshot, t: &Takeover) -> bool {
    let port = |n: &IfName| {
        snap.link(n)
            .is_some_and(|l| l.master.as_ref() == Some(&t.bridge))
    };
    let is_bridge = snap
        .link(&t.bridge)
        .is_some_and(|l| l.kind == LinkKind::Bridge);
    match t.mode {
        Mode::Classic => {
            is_bridge
                && port(&t.physical)
                && t.vif0.as_ref().is_some_and(port)
                && snap
                    .link(&t.netdev)
                    .is_some_and(|l| l.kind == LinkKind::Veth && l.peer == t.vif0)
        }
        Mode::Bridge => is_bridge && port(&t.physical),
    }
}

/// Plans `network-bridge start` for every pair of `req`.
pub fn plan_start(snap: &Snapshot, records: &Records, req: &StartRequest) -> Result<StartPlan> {
    let pairs = if req.pairs.is_empty() {
        vec![Pair::default()]
    } else {
        req.pairs.clone()
    };
    let mut ops = Vec::new();
    let mut started = Vec::new();
    let mut already = Vec::new();
    let mut records = records.clone();
    // Names this plan will create, so two pairs cannot pick the same one.
    let mut taken: HashSet<IfName> = HashSet::new();
    for (i, pair) in pairs.iter().enumerate() {
        let netdev = match &pair.netdev {
            Some(n) => n.clone(),
            None => default_netdev(snap)?,
        };
        let op = format!("start {netdev}");
        let number = trailing_number(&netdev).unwrap_or(i as u32);
        let bridge = match (&pair.bridge, req.mode) {
            (Some(b), _) => b.clone(),
            (None, Mode::Classic) => name(format!("xenbr{number}"), &op)?,
            (None, Mode::Bridge) => netdev.clone(),
        };
        let op = format!("start {netdev} on {bridge}");
        let physical = netdev.with_prefix("p").map_err(|e| {
            Error::invalid(
                &op,
                format!("the NIC would be renamed {:?}, {}", e.input, e.reason),
            )
            .about(&netdev)
        })?;

        // Already done (by xenbr, or by Xen's own script before it)?
        if let Some(t) = records
            .by_bridge(&bridge)
            .filter(|t| t.netdev == netdev && in_place(snap, t))
        {
            already.push(t.clone());
            continue;
        }
        if req.mode == Mode::Bridge {
            let t = Takeover {
                mode: Mode::Bridge,
                bridge: bridge.clone(),
                netdev: netdev.clone(),
                physical: physical.clone(),
                veth: None,
                vif0: None,
            };
            if in_place(snap, &t) {
                already.push(t);
                continue;
            }
        }

        let nic = snap
            .link(&netdev)
            .ok_or_else(|| Error::not_found(&op, format!("interface {netdev}")).about(&netdev))?;
        if nic.kind == LinkKind::Bridge {
            if snap.ports(&netdev).any(|p| p.name == physical) {
                return Err(Error::conflict(
                    &op,
                    format!("{netdev} is already a bridge with {physical} on it"),
                )
                .about(&netdev));
            }
            return Err(
                Error::invalid(&op, format!("{netdev} is a bridge, not a NIC")).about(&netdev),
            );
        }
        if let Some(m) = &nic.master {
            return Err(
                Error::conflict(&op, format!("{netdev} is already a port of bridge {m}"))
                    .about(&netdev),
            );
        }
        if records
            .takeovers
            .iter()
            .any(|t| t.netdev == netdev || t.bridge == bridge)
        {
            return Err(Error::conflict(
                &op,
                format!("xenbr already has {netdev} or {bridge} in another takeover; stop that one first"),
            )
            .about(&netdev));
        }
        let mtu = nic.mtu;
        let mac = nic.mac.filter(|m| !m.is_zero()).ok_or_else(|| {
            Error::invalid(
                &op,
                format!(
                    "{netdev} has no Ethernet address (is it the loopback or a tunnel?), \
                     so it cannot be a bridge port"
                ),
            )
            .about(&netdev)
        })?;
        let (addrs, routes) = carried(snap, &netdev);

        let free =
            |n: &IfName, taken: &mut HashSet<IfName>, freed: Option<&IfName>| -> Result<()> {
                if (snap.has_link(n) && Some(n) != freed) || !taken.insert(n.clone()) {
                    return Err(Error::exists(&op, format!("interface {n}")).about(n));
                }
                Ok(())
            };
        match req.mode {
            Mode::Classic => {
                let veth = name(format!("veth{number}"), &op)?;
                let vif0 = name(format!("vif0.{number}"), &op)?;
                free(&bridge, &mut taken, None)?;
                free(&physical, &mut taken, None)?;
                free(&veth, &mut taken, None)?;
                free(&vif0, &mut taken, None)?;
                // The bridge: fixed MAC and MTU, so ports never change them.
                ops.push(Op::CreateBridge {
                    name: bridge.clone(),
                    mac: Some(MacAddr::BRIDGE_PORT),
                    stp: false,
                    forward_delay: 0,
                });
                ops.push(Op::SetMtu {
                    name: bridge.clone(),
                    mtu,
                });
                ops.push(Op::CreateVeth {
                    name: veth.clone(),
                    peer: vif0.clone(),
                });
                // Dom0's identity leaves the NIC.
                ops.extend(take_off(&addrs, &routes));
                // The NIC becomes a bare bridge port (one message after the down).
                ops.push(set_up(&netdev, false));
                ops.push(Op::SetMac {
                    name: netdev.clone(),
                    mac: MacAddr::BRIDGE_PORT,
                });
                ops.push(Op::Rename {
                    name: netdev.clone(),
                    to: physical.clone(),
                });
                ops.push(Op::SetMaster {
                    name: physical.clone(),
                    master: Some(bridge.clone()),
                });
                ops.push(set_up(&physical, true));
                // The veth end takes the NIC's name, MAC and MTU (one message).
                ops.push(Op::SetMac {
                    name: veth.clone(),
                    mac,
                });
                ops.push(Op::SetMtu {
                    name: veth.clone(),
                    mtu,
                });
                ops.push(Op::Rename {
                    name: veth.clone(),
                    to: netdev.clone(),
                });
                // Dom0's side is up exactly when the NIC was.
                if nic.up {
                    ops.push(set_up(&netdev, true));
                }
                let (add_addrs, add_routes) = put_on(&addrs, &routes, &netdev, &netdev);
                ops.extend(add_addrs);
                // Its other end joins the bridge (one message).
                ops.push(Op::SetMac {
                    name: vif0.clone(),
                    mac: MacAddr::BRIDGE_PORT,
                });
                ops.push(Op::SetMtu {
                    name: vif0.clone(),
                    mtu,
                });
                ops.push(Op::SetMaster {
                    name: vif0.clone(),
                    master: Some(bridge.clone()),
                });
                ops.push(set_up(&vif0, true));
                ops.push(set_up(&bridge, true));
                ops.extend(add_routes);
                started.push(Takeover {
                    mode: Mode::Classic,
                    bridge,
                    netdev,
                    physical,
                    veth: Some(veth),
                    vif0: Some(vif0),
                });
            }
            Mode::Bridge => {
                free(&physical, &mut taken, None)?;
                free(&bridge, &mut taken, Some(&netdev))?;
                ops.extend(take_off(&addrs, &routes));
                ops.push(set_up(&netdev, false));
                ops.push(Op::Rename {
                    name: netdev.clone(),
                    to: physical.clone(),
                });
                // The bridge takes the NIC's name and MAC; the NIC keeps its MAC.
                ops.push(Op::CreateBridge {
                    name: bridge.clone(),
                    mac: Some(mac),
                    stp: false,
                    forward_delay: 0,
                });
                ops.push(Op::SetMtu {
                    name: bridge.clone(),
                    mtu,
                });
                ops.push(Op::SetMaster {
                    name: physical.clone(),
                    master: Some(bridge.clone()),
                });
                ops.push(set_up(&physical, true));
                // The bridge carries dom0's side: up exactly when the NIC was.
                if nic.up {
                    ops.push(set_up(&bridge, true));
                }
                let (add_addrs, add_routes) = put_on(&addrs, &routes, &netdev, &bridge);
                ops.extend(add_addrs);
                ops.extend(add_routes);
                started.push(Takeover {
                    mode: Mode::Bridge,
                    bridge,
                    netdev,
                    physical,
                    veth: None,
                    vif0: None,
                });
            }
        }
    }
    let plan = Plan::build(snap, ops).map_err(|e| e.context("start"))?;
    records.takeovers.extend(started.iter().cloned());
    Ok(StartPlan {
        plan,
        started,
        already,
        records,
    })
}

/// Plans `network-bridge stop`: the exact inverse of start, carrying back
/// whatever dom0's side has now (addresses, routes, MAC, MTU, up or down).
pub fn plan_stop(snap: &Snapshot, records: &Records, req: &StopRequest) -> Result<StopPlan> {
    let chosen: Vec<Takeover> = if req.bridges.is_empty() {
        records.takeovers.clone()
    } else {
        req.bridges
            .iter()
            .map(|b| {
                records.by_bridge(b).cloned().ok_or_else(|| {
                    Error::not_found(
                        format!("stop {b}"),
                        format!("a takeover of {b} in xenbr's records"),
                    )
                    .about(b)
                })
            })
            .collect::<Result<_>>()?
    };
    let mut ops = Vec::new();
    let mut detached = Vec::new();
    for t in &chosen {
        let op = format!("stop {}", t.bridge);
        let own = t.own_ports();
        let guests: Vec<IfName> = snap
            .ports(&t.bridge)
            .filter(|p| !own.contains(&&p.name))
            .map(|p| p.name.clone())
            .collect();
        if !guests.is_empty() && !req.force {
            return Err(Error::conflict(
                &op,
                format!(
                    "guests' interfaces are still on {}: {}; shut the guests down or use --force to detach them",
                    t.bridge,
                    guests.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
            .about(&t.bridge));
        }
        for g in guests {
            ops.push(set_up(&g, false));
            ops.push(Op::SetMaster {
                name: g.clone(),
                master: None,
            });
            detached.push(g);
        }
        let carrier = t.carrier();
        let c = snap
            .link(carrier)
            .ok_or_else(|| Error::not_found(&op, format!("interface {carrier}")).about(carrier))?;
        let nic = snap.link(&t.physical).ok_or_else(|| {
            Error::not_found(&op, format!("interface {}", t.physical)).about(&t.physical)
        })?;
        let (addrs, routes) = carried(snap, carrier);
        ops.extend(take_off(&addrs, &routes));
        match t.mode {
            Mode::Classic => {
                // Dom0's side carries its current MAC and MTU back to the NIC.
                let mac = c
                    .mac
                    .ok_or_else(|| Error::invalid(&op, format!("{carrier} has no MAC")))?;
                let (mtu, up) = (c.mtu, c.up);
                ops.push(Op::DeleteLink {
                    name: carrier.clone(),
                });
                ops.push(set_up(&t.physical, false));
                ops.push(Op::SetMaster {
                    name: t.physical.clone(),
                    master: None,
                });
                ops.push(Op::SetMac {
                    name: t.physical.clone(),
                    mac,
                });
                if nic.mtu != mtu {
                    ops.push(Op::SetMtu {
                        name: t.physical.clone(),
                        mtu,
                    });
                }
                ops.push(Op::Rename {
                    name: t.physical.clone(),
                    to: t.netdev.clone(),
                });
                ops.push(Op::DeleteLink {
                    name: t.bridge.clone(),
                });
                if up {
                    ops.push(set_up(&t.netdev, true));
                }
            }
            Mode::Bridge => {
                let up = c.up;
                ops.push(set_up(&t.physical, false));
                ops.push(Op::SetMaster {
                    name: t.physical.clone(),
                    master: None,
                });
                ops.push(Op::DeleteLink {
                    name: t.bridge.clone(),
                });
                ops.push(Op::Rename {
                    name: t.physical.clone(),
                    to: t.netdev.clone(),
                });
                if up {
                    ops.push(set_up(&t.netdev, true));
                }
            }
        }
        let (add_addrs, add_routes) = put_on(&addrs, &routes, carrier, &t.netdev);
        ops.extend(add_addrs);
        ops.extend(add_routes);
    }
    let plan = Plan::build(snap, ops).map_err(|e| e.context("stop"))?;
    let mut records = records.clone();
    records.takeovers.retain(|t| !chosen.contains(t));
    Ok(StopPlan {
        plan,
        stopped: chosen,
        detached,
        records,
    })
}
