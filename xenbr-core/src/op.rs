//! `Op`: the closed set of changes xenbr makes to a host, each one a value
//! that can be shown (`ip` equivalent), applied in memory
//! ([`Snapshot::apply`]), sent to the kernel (by the transaction) and undone
//! ([`Op::inverse`] computed from the state before it).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names::{IfName, MacAddr};
use crate::state::apply::{same_address, same_route, Removed, RTNH_F_DEAD};
use crate::state::{Address, LinkKind, Route, Snapshot};

/// One change to the host's network configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Create a bridge, down, with spanning tree and forward delay as given.
    /// `ip link add NAME [address MAC] type bridge stp_state 0 forward_delay 0`
    CreateBridge {
        /// The bridge's name.
        name: IfName,
        /// Its MAC; fixed, so the kernel never re-derives it from the ports.
        mac: Option<MacAddr>,
        /// Spanning tree on.
        stp: bool,
        /// Forward delay in centiseconds.
        forward_delay: u32,
    },
    /// Create a veth pair, both ends down.
    /// `ip link add NAME type veth peer name PEER`
    CreateVeth {
        /// The first end.
        name: IfName,
        /// The other end.
        peer: IfName,
    },
    /// Delete a link (for a veth, both ends go).
    /// `ip link del dev NAME`
    DeleteLink {
        /// The link.
        name: IfName,
    },
    /// Rename a link. `ip link set dev NAME name TO`
    Rename {
        /// The current name.
        name: IfName,
        /// The new name.
        to: IfName,
    },
    /// Set a link's MAC. `ip link set dev NAME address MAC`
    SetMac {
        /// The link.
        name: IfName,
        /// The address.
        mac: MacAddr,
    },
    /// Set a link's MTU. `ip link set dev NAME mtu MTU`
    SetMtu {
        /// The link.
        name: IfName,
        /// The MTU.
        mtu: u32,
    },
    /// Make a link a port of a bridge, or free it.
    /// `ip link set dev NAME master BRIDGE` / `ip link set dev NAME nomaster`
    SetMaster {
        /// The link.
        name: IfName,
        /// The bridge, or `None` to leave it.
        master: Option<IfName>,
    },
    /// Bring a link up or down. `ip link set dev NAME up|down`
    SetUp {
        /// The link.
        name: IfName,
        /// Up (true) or down.
        up: bool,
    },
    /// Add an address with all its attributes.
    /// `ip addr add ADDR [brd B] [scope S] [label L] dev NAME`
    /// (Addresses and routes are boxed: they are several times the size of
    /// the link ops, which a batch of guests is made of.)
    AddAddress(Box<Address>),
    /// Delete an address. `ip addr del ADDR dev NAME`
    DelAddress(Box<Address>),
    /// Add a route with all its attributes. `ip route add ...`
    AddRoute(Box<Route>),
    /// Delete a route. `ip route del ...`
    DelRoute(Box<Route>),
}

impl Op {
    /// [`Op::AddAddress`] of `a`.
    pub fn add_address(a: Address) -> Op {
        Op::AddAddress(Box::new(a))
    }

    /// [`Op::DelAddress`] of `a`.
    pub fn del_address(a: Address) -> Op {
        Op::DelAddress(Box::new(a))
    }

    /// [`Op::AddRoute`] of `r`.
    pub fn add_route(r: Route) -> Op {
        Op::AddRoute(Box::new(r))
    }

    /// [`Op::DelRoute`] of `r`.
    pub fn del_route(r: Route) -> Op {
        Op::DelRoute(Box::new(r))
    }

    /// The link this op changes (for a route, its output link).
    pub fn subject(&self) -> Option<&IfName> {
        match self {
            Op::CreateBridge { name, .. }
            | Op::CreateVeth { name, .. }
            | Op::DeleteLink { name }
            | Op::Rename { name, .. }
            | Op::SetMac { name, .. }
            | Op::SetMtu { name, .. }
            | Op::SetMaster { name, .. }
            | Op::SetUp { name, .. } => Some(name),
            Op::AddAddress(a) | Op::DelAddress(a) => Some(&a.ifname),
            Op::AddRoute(r) | Op::DelRoute(r) => r
                .oif
                .as_ref()
                .or(r.multipath.iter().find_map(|h| h.oif.as_ref())),
        }
    }

    /// Every link this op names: its subject, a master, a route's output links.
    pub fn links(&self) -> impl Iterator<Item = &IfName> + '_ {
        let (first, second) = match self {
            Op::CreateVeth { name, peer } => (Some(name), Some(peer)),
            Op::Rename { name, .. } => (Some(name), None),
            Op::SetMaster { name, master } => (Some(name), master.as_ref()),
            Op::AddRoute(r) | Op::DelRoute(r) => (r.oif.as_ref(), None),
            _ => (self.subject(), None),
        };
        let hops = match self {
            Op::AddRoute(r) | Op::DelRoute(r) => r.multipath.as_slice(),
            _ => &[],
        };
        first
            .into_iter()
            .chain(second)
            .chain(hops.iter().filter_map(|h| h.oif.as_ref()))
    }

    /// True for the ops that create a link.
    pub fn is_create(&self) -> bool {
        matches!(self, Op::CreateBridge { .. } | Op::CreateVeth { .. })
    }

    /// The equivalent `ip` command line.
    pub fn ip_command(&self) -> String {
        match self {
            Op::CreateBridge {
                name,
                mac,
                stp,
                forward_delay,
            } => format!(
                "ip link add {name}{} type bridge stp_state {} forward_delay {forward_delay}",
                mac.map(|m| format!(" address {m}")).unwrap_or_default(),
                u8::from(*stp)
            ),
            Op::CreateVeth { name, peer } => {
                format!("ip link add {name} type veth peer name {peer}")
            }
            Op::DeleteLink { name } => format!("ip link del dev {name}"),
            Op::Rename { name, to } => format!("ip link set dev {name} name {to}"),
            Op::SetMac { name, mac } => format!("ip link set dev {name} address {mac}"),
            Op::SetMtu { name, mtu } => format!("ip link set dev {name} mtu {mtu}"),
            Op::SetMaster {
                name,
                master: Some(m),
            } => format!("ip link set dev {name} master {m}"),
            Op::SetMaster { name, master: None } => format!("ip link set dev {name} nomaster"),
            Op::SetUp { name, up } => {
                format!("ip link set dev {name} {}", if *up { "up" } else { "down" })
            }
            Op::AddAddress(a) => format!("ip addr add {}", ip_addr_args(a)),
            Op::DelAddress(a) => format!("ip addr del {} dev {}", a.address, a.ifname),
            Op::AddRoute(r) => format!("ip {}route add {}", family_flag(r), ip_route_args(r)),
            Op::DelRoute(r) => format!("ip {}route del {}", family_flag(r), ip_route_args(r)),
        }
    }

    /// A short description naming the interfaces, used in error messages:
    /// "set master of vif1.0 to xenbr0".
    pub fn describe(&self) -> String {
        self.to_string()
    }

    /// True for the ops that change one link's attributes and can ride in one
    /// `RTM_NEWLINK` with their neighbours.
    pub fn is_link_attr(&self) -> bool {
        matches!(
            self,
            Op::Rename { .. }
                | Op::SetMac { .. }
                | Op::SetMtu { .. }
                | Op::SetMaster { .. }
                | Op::SetUp { .. }
        )
    }

    /// The ops that undo this one, computed from `before`, the state just
    /// before it. Applying `self` and then these, in order, gives back `before`
    /// (up to what the kernel regenerates on its own).
    ///
    /// This is the same computation a plan does for each of its steps; see
    /// [`crate::plan::Plan::build`].
    pub fn inverse(&self, before: &Snapshot) -> Result<Vec<Op>> {
        let mut state = before.clone();
        apply_with_inverse(&mut state, self)
    }
}

/// Applies `op` to `state` in memory and returns the ops that undo it: the
/// direct inverse, then whatever the kernel removed as a side effect
/// (addresses and routes of a link taken down, ports of a deleted bridge),
/// then whatever the undo itself removes as a side effect and must put back.
///
/// The undo ops have side effects too: bringing a link back down drops the
/// IPv6 addresses it had while down, and deleting the first IPv4 address a
/// step gave a link drops the IPv4 routes the link had before. So the undo is
/// tried on the state after `op`, and what it drops that was there before
/// `op` is added back at its end. An undo that does not even apply is
/// refused here, before anything is done, rather than in a rollback.
pub fn apply_with_inverse(state: &mut Snapshot, op: &Op) -> Result<Vec<Op>> {
    apply_with_inverse_for(state, op, Undone::Maybe)
}

/// Whether the op whose undo is computed may itself be undone: a step of a
/// plan may (a rollback, a recover); a step of a plan's inverse, which is
/// built only to show or predict the way back, never is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undone {
    Maybe,
    Never,
}

/// [`apply_with_inverse`], for an op that may or may not be undone itself.
pub(crate) fn apply_with_inverse_for(
    state: &mut Snapshot,
    op: &Op,
    undone: Undone,
) -> Result<Vec<Op>> {
    match plain_bridges(state, op) {
        Some(bridges_back) => {
            // Nothing the op or its undo could drop or refuse: the undo is
            // the direct inverse and the bridges' MTU and MAC, as the full
            // path below gives, without trying it on a copy of the host
            // (a copy per op made a batch of a thousand guests quadratic).
            let mut undo = direct_inverse(state, op)?;
            let removed = state.apply(op)?;
            debug_assert!(removed.is_empty(), "{op}: {removed:?}");
            undo.extend(bridges_back);
            Ok(undo)
        }
        None => tried(state, op, undone),
    }
}

/// [`apply_with_inverse`] the long way, for every op: the undo tried on a
/// copy of the state after `op`. Public for the law that the short way
/// gives the same (`tests/model_laws.rs`).
#[doc(hidden)]
pub fn apply_with_inverse_tried(state: &mut Snapshot, op: &Op) -> Result<Vec<Op>> {
    tried(state, op, Undone::Maybe)
}

fn tried(state: &mut Snapshot, op: &Op, undone: Undone) -> Result<Vec<Op>> {
    let mut undo = direct_inverse(state, op)?;
    let before = state.clone();
    let mut removed = state.apply(op)?;
    // Deleting what is left of an IPv6 multipath route that lost a hop, to
    // add it whole again, would take the other hops when replayed for a
    // step that never ran; replay knows a delete never ran (the link is
    // there), but nothing tells it of an MTU below 1280.
    if !removed.reduced.is_empty() && !matches!(op, Op::DeleteLink { .. }) {
        let r = &removed.reduced[0].1;
        *state = before;
        return Err(Error::invalid(
            op.describe(),
            format!(
                "it would take a hop off the IPv6 multipath route {r}, which xenbr could not \
                 undo safely, so it will not do it"
            ),
        ));
    }
    // The ports it freed first, then the MTU of each bridge whose ports (or
    // their MACs or MTUs) the op changes, which the kernel recomputes when
    // it chose it (see `state::apply`), and of a deleted bridge: set back
    // before the addresses and routes, which may need it (IPv6 does). Setting
    // an MTU to what it is does nothing, so a bridge whose MTU the kernel
    // chose, and which its ports brought back, keeps following them; one
    // whose MTU was set, which the undo re-created, or which the undo of a
    // later step that never ran set, gets it set again.
    let ports = std::mem::take(&mut removed.ports);
    undo.extend(restore(Removed {
        ports,
        ..Removed::default()
    }));
    let mut bridges = before.bridges_changed_by(op);
    if let Op::DeleteLink { name } = op {
        bridges.push(name.clone());
    }
    let bridges: Vec<&crate::state::Link> = bridges
        .iter()
        .filter_map(|n| before.link(n).filter(|l| l.kind == LinkKind::Bridge))
        .collect();
    undo.extend(bridge_mtus(&bridges));
    undo.extend(restore(removed));
    let mut trial = state.clone();
    let mut dropped = Removed::default();
    for u in &undo {
        match trial.apply(u) {
            Ok(r) => {
                dropped.addresses.extend(r.addresses);
                dropped.routes.extend(r.routes);
                dropped.ports.extend(r.ports);
                dropped.reduced.extend(r.reduced);
                dropped.changed.extend(r.changed);
            }
            Err(e) => {
                *state = before;
                return Err(Error::invalid(
                    op.describe(),
                    format!("xenbr could not undo it ({e}), so it will not do it"),
                ));
            }
        }
    }
    // Their MAC, set back last, after their ports; replay skips setting a
    // MAC a link has, so one the kernel chose and brought back stays its
    // choice.
    let macs: Vec<Op> = bridge_macs(&bridges).collect();
    // Put back each as it was before `op`.
    let again = Removed {
        addresses: dropped
            .addresses
            .iter()
            .filter_map(|a| before.addresses.iter().find(|b| same_address(a, b)))
            .cloned()
            .collect(),
        routes: dropped
            .routes
            .iter()
            .filter_map(|r| before.routes.iter().find(|b| same_route(r, b)))
            .cloned()
            .collect(),
        ports: dropped
            .ports
            .into_iter()
            .filter(|(p, b)| before.link(p).is_some_and(|l| l.master.as_ref() == Some(b)))
            .collect(),
        reduced: dropped
            .reduced
            .into_iter()
            .filter_map(|(now, full)| {
                let was = before.routes.iter().find(|b| same_route(&full, b))?;
                Some((now, was.clone()))
            })
            .collect(),
        changed: dropped
            .changed
            .into_iter()
            .filter_map(|(now, then)| {
                let was = before.routes.iter().find(|b| same_route(&then, b))?;
                (was != &now).then(|| (now, was.clone()))
            })
            .collect(),
    };
    let again: Vec<Op> = restore(again).collect();
    for u in &again {
        if let Err(e) = trial.apply(u) {
            *state = before;
            return Err(Error::invalid(
                op.describe(),
                format!("xenbr could not undo it ({e}), so it will not do it"),
            ));
        }
    }
    // A hop the undo leaves dead that was alive before the op: nothing in
    // an undo brings it back (the kernel revives a hop only when its link
    // comes up or gets an IPv4 address), and the undo of an earlier step
    // that takes the route's last live hop would then flush the route with
    // nothing to add it back (law seed 5081730437875172653: an address
    // added to a bridge and taken away again left the bridge's hops dead,
    // and recover lost the route).
    let killed = match undone {
        Undone::Maybe => hops_left_dead(&before, &trial),
        Undone::Never => None,
    };
    if let Some(r) = killed {
        let text = format!(
            "its undo would leave hops of the multipath route {r} dead, which xenbr could \
             not bring back, so it will not do it"
        );
        *state = before;
        return Err(Error::invalid(op.describe(), text));
    }
    undo.extend(again);
    // The MAC of those bridges, set back last, after their ports.
    for m in macs {
        if trial.apply(&m).is_ok() {
            undo.push(m);
        }
    }
    Ok(undo)
}

/// A multipath route of `before` with a hop that was alive there and is
/// dead in `after`.
fn hops_left_dead<'a>(before: &'a Snapshot, after: &Snapshot) -> Option<&'a Route> {
    let dead = |h: &crate::state::NextHop| h.flags & RTNH_F_DEAD != 0;
    before.routes.iter().find(|b| {
        let Some(a) = after.routes.iter().find(|a| same_route(a, b)) else {
            return false;
        };
        b.multipath.iter().filter(|h| !dead(h)).any(|hb| {
            a.multipath
                .iter()
                .any(|ha| ha.oif == hb.oif && ha.gateway == hb.gateway && dead(ha))
        })
    })
}

/// The MTU of each of `bridges` as it was.
fn bridge_mtus<'a>(bridges: &'a [&'a crate::state::Link]) -> impl Iterator<Item = Op> + 'a {
    bridges.iter().map(|b| Op::SetMtu {
        name: b.name.clone(),
        mtu: b.mtu,
    })
}

/// The MAC of each of `bridges` that has one of its own, as it was.
fn bridge_macs<'a>(bridges: &'a [&'a crate::state::Link]) -> impl Iterator<Item = Op> + 'a {
    bridges
        .iter()
        .filter(|b| !b.mac_follows_ports)
        .filter_map(|b| {
            Some(Op::SetMac {
                name: b.name.clone(),
                mac: b.mac.filter(|m| m.is_valid_unicast())?,
            })
        })
}

/// When neither `op` nor its undo can drop or change anything but the
/// settings they name, the ops that set back the MTU and MAC of the bridges
/// whose ports it changes (as they are in `s`, before `op`: MTUs first, as
/// [`bridge_mtus`] and [`bridge_macs`] give them); `None` otherwise. That is: `op` sets
/// the MAC, MTU, state or master of an Ethernet link (a unicast MAC) that
/// is no bridge and carries no address and no route, and every bridge whose ports it changes keeps
/// an MTU of 1280 or more whatever its ports do (none has one below) and
/// carries no route whose MTU would follow. What attaching and detaching
/// guests does.
fn plain_bridges(s: &Snapshot, op: &Op) -> Option<Vec<Op>> {
    let (name, mtu) = match op {
        Op::SetMac { name, .. } | Op::SetUp { name, .. } | Op::SetMaster { name, .. } => {
            (name, None)
        }
        Op::SetMtu { name, mtu } => (name, Some(*mtu)),
        _ => return None,
    };
    let l = s.link(name)?;
    let carries = |n: &IfName| {
        s.addresses.iter().any(|a| &a.ifname == n)
            || s.routes.iter().any(|r| {
                r.oif.as_ref() == Some(n) || r.multipath.iter().any(|h| h.oif.as_ref() == Some(n))
            })
    };
    // An Ethernet device: not loopback, where IPv6 routes that send
    // nowhere hang without naming it, and with a MAC to set back.
    let ethernet = l.mac.is_some_and(|m| m.is_valid_unicast());
    if l.kind == LinkKind::Bridge || !ethernet || carries(name) {
        return None;
    }
    let low = |m: u32| m < crate::state::apply::IPV6_MIN_MTU;
    if low(l.mtu) || mtu.is_some_and(low) {
        return None;
    }
    let mut bridges: Vec<&crate::state::Link> = Vec::new();
    for b in s.bridges_changed_by(op) {
        let b = s.link(&b).filter(|b| b.kind == LinkKind::Bridge)?;
        let routes_follow = s.routes.iter().any(|r| {
            !r.metrics.is_empty()
                && (r.oif.as_ref() == Some(&b.name)
                    || r.multipath.iter().any(|h| h.oif.as_ref() == Some(&b.name)))
        });
        // A bridge that carries nothing loses nothing below 1280: its
        // ports need not be read.
        let ports_low = || s.ports(&b.name).any(|p| low(p.mtu));
        if routes_follow || low(b.mtu) || (carries(&b.name) && ports_low()) {
            return None;
        }
        bridges.push(b);
    }
    Some(bridge_mtus(&bridges).chain(bridge_macs(&bridges)).collect())
}

/// The ops that put back what an op removed as a side effect. An IPv6
/// multipath route that lost hops is deleted as it is left and added whole
/// again (adding beside it a route of its key is refused).
fn restore(removed: Removed) -> impl Iterator<Item = Op> {
    let addresses = removed.addresses.into_iter().map(Op::add_address);
    let routes = removed.routes.into_iter().map(Op::add_route).chain(
        removed
            .reduced
            .into_iter()
            .chain(removed.changed)
            .flat_map(|(now, before)| [Op::del_route(now), Op::add_route(before)]),
    );
    let ports = removed
        .ports
        .into_iter()
        .map(|(port, bridge)| Op::SetMaster {
            name: port,
            master: Some(bridge),
        });
    addresses.chain(routes).chain(ports)
}

/// The inverse of `op` itself, read from the state before it.
fn direct_inverse(before: &Snapshot, op: &Op) -> Result<Vec<Op>> {
    let link = |name: &IfName| {
        before
            .link(name)
            .ok_or_else(|| Error::not_found(op.describe(), format!("interface {name}")))
    };
    Ok(match op {
        Op::CreateBridge { name, .. } | Op::CreateVeth { name, .. } => {
            vec![Op::DeleteLink { name: name.clone() }]
        }
        Op::DeleteLink { name } => {
            let l = link(name)?;
            let mut ends = vec![l];
            let mut ops = match l.kind {
                LinkKind::Bridge
                    if l.mac_follows_ports
                        && !before.links.iter().any(|p| p.master.as_ref() == Some(name)) =>
                {
                    // The kernel gives a bridge that lost its last port the
                    // MAC 00:00:00:00:00:00, which no one can set; one made
                    // again gets a random MAC instead.
                    return Err(Error::invalid(
                        op.describe(),
                        format!(
                            "{name} has no ports and so the kernel's placeholder MAC \
                             00:00:00:00:00:00, which a bridge made again cannot be given: \
                             xenbr could not undo the delete, so it will not do it \
                             (give {name} a port or a MAC first)"
                        ),
                    )
                    .about(name));
                }
                LinkKind::Bridge => {
                    let b = l.bridge.unwrap_or(crate::state::BridgeInfo {
                        stp: false,
                        forward_delay: 0,
                    });
                    // A MAC the kernel's choice (see `state::apply`) is left
                    // to it: it gives the same when the ports come back, and
                    // the bridge keeps following them.
                    vec![Op::CreateBridge {
                        name: name.clone(),
                        mac: l.mac.filter(|_| !l.mac_follows_ports),
                        stp: b.stp,
                        forward_delay: b.forward_delay,
                    }]
                }
                LinkKind::Veth if l.peer.is_some() => {
                    let peer = l.peer.clone().expect("checked");
                    ends.push(link(&peer)?);
                    vec![Op::CreateVeth {
                        name: name.clone(),
                        peer,
                    }]
                }
                _ => {
                    return Err(Error::invalid(
                        op.describe(),
                        format!(
                            "xenbr cannot recreate {name} afterwards, so it will not delete it"
                        ),
                    ))
                }
            };
            for end in &ends {
                if let (Some(mac), LinkKind::Veth) = (end.mac, end.kind) {
                    ops.push(Op::SetMac {
                        name: end.name.clone(),
                        mac,
                    });
                }
                // A bridge that follows its ports' MTU, as far as the model
                // can tell, is left to: setting its MTU would make it stop.
                let follows = end.kind == LinkKind::Bridge
                    && !end.mtu_set
                    && before.auto_mtu(&end.name) == Some(end.mtu);
                if !follows {
                    ops.push(Op::SetMtu {
                        name: end.name.clone(),
                        mtu: end.mtu,
                    });
                }
                if end.master.is_some() {
                    ops.push(Op::SetMaster {
                        name: end.name.clone(),
                        master: end.master.clone(),
                    });
                }
            }
            for end in &ends {
                if end.up {
                    ops.push(Op::SetUp {
                        name: end.name.clone(),
                        up: true,
                    });
                }
            }
            ops
        }
        Op::Rename { name, to } => {
            // The kernel rewrites the IPv4 labels of a renamed link
            // (inetdev_changename): the first address in its list takes the
            // bare name, the n-th keeps its ":suffix" or gets ":n". Renaming
            // back restores them when the first is labelled with the link's
            // name and each other one has a suffix, and when the first stays
            // first: a primary precedes its secondaries, which go with it,
            // but two primaries may come back in another order when the undo
            // of later steps re-adds them. Nothing but deleting and
            // re-adding an address sets its label.
            let mut back = before.clone();
            back.apply(op)?;
            back.apply(&Op::Rename {
                name: to.clone(),
                to: name.clone(),
            })?;
            let labels = |s: &Snapshot| {
                let mut v: Vec<(crate::names::IpNet, Option<String>)> = s
                    .addresses_of(name)
                    .filter(|a| a.address.is_ipv4())
                    .map(|a| (a.address, a.label.clone().filter(|l| l != name.as_str())))
                    .collect();
                v.sort();
                v
            };
            let primaries = before
                .addresses_of(name)
                .filter(|a| a.address.is_ipv4() && !a.is_secondary())
                .count();
            let why = if primaries > 1 {
                Some("it has more than one primary IPv4 address")
            } else if labels(before) != labels(&back) {
                Some("renaming it back would not restore the labels of its IPv4 addresses")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(Error::invalid(
                    op.describe(),
                    format!(
                        "the kernel relabels the IPv4 addresses of a renamed link and {why}; \
                         move them off {name} first"
                    ),
                ));
            }
            vec![Op::Rename {
                name: to.clone(),
                to: name.clone(),
            }]
        }
        // A bridge whose MAC the model knows to be the kernel's choice
        // follows its ports; once set it would not, and nothing undoes that.
        // (Putting back a MAC the model computed would also set it wrongly
        // when replayed for a step that never ran.) A bridge the plan
        // created goes with its undo.
        Op::SetMac { name, .. } if link(name)?.mac_follows_ports && link(name)?.index != 0 => {
            return Err(Error::invalid(
                op.describe(),
                format!(
                    "the MAC of {name} is the kernel's choice, which follows its ports and \
                     would no longer once set: xenbr could not undo that"
                ),
            ))
        }
        // A link this plan created has no known MAC to go back to, and
        // needs none: undoing its creation deletes it.
        Op::SetMac { name, .. } => match link(name)?.mac {
            Some(mac) => vec![Op::SetMac {
                name: name.clone(),
                mac,
            }],
            None => vec![],
        },
        Op::SetMtu { name, .. } => vec![Op::SetMtu {
            name: name.clone(),
            mtu: link(name)?.mtu,
        }],
        Op::SetMaster { name, .. } => vec![Op::SetMaster {
            name: name.clone(),
            master: link(name)?.master.clone(),
        }],
        Op::SetUp { name, .. } => vec![Op::SetUp {
            name: name.clone(),
            up: link(name)?.up,
        }],
        Op::AddAddress(a) => vec![Op::DelAddress(a.clone())],
        // Put back the address the kernel deletes, as it was.
        Op::DelAddress(a) => vec![Op::add_address(
            before
                .addresses
                .iter()
                .find(|b| same_address(a, b))
                .cloned()
                .unwrap_or_else(|| (**a).clone()),
        )],
        Op::AddRoute(r) => vec![Op::DelRoute(r.clone())],
        // `ip route del` names a route by what the kernel matches on; put
        // back the route that is there, with all its attributes.
        Op::DelRoute(r) => vec![Op::add_route(
            before
                .routes
                .iter()
                .find(|b| same_route(r, b))
                .cloned()
                .unwrap_or_else(|| (**r).clone()),
        )],
    })
}

fn family_flag(r: &Route) -> &'static str {
    if r.destination.is_ipv4() {
        ""
    } else {
        "-6 "
    }
}

fn ip_addr_args(a: &Address) -> String {
    let mut s = a.address.to_string();
    if let Some(p) = a.peer {
        s += &format!(" peer {p}");
    }
    if let Some(b) = a.broadcast {
        s += &format!(" broadcast {b}");
    }
    if a.scope != 0 {
        s += &format!(" scope {}", crate::state::route_scope_name(a.scope));
    }
    if let Some(l) = a.label.as_deref().filter(|l| *l != a.ifname.as_str()) {
        s += &format!(" label {l}");
    }
    for f in crate::state::addr_flag_names(a.flags) {
        if matches!(
            f,
            "nodad" | "noprefixroute" | "home" | "mngtmpaddr" | "autojoin"
        ) {
            s += &format!(" {f}");
        }
    }
    if let Some(m) = a.metric {
        s += &format!(" metric {m}");
    }
    if let Some(v) = a.valid_lft {
        s += &format!(
            " valid_lft {v} preferred_lft {}",
            a.preferred_lft.unwrap_or(v)
        );
    }
    s + &format!(" dev {}", a.ifname)
}

fn ip_route_args(r: &Route) -> String {
    // Route's Display is already in `ip route` word order.
    r.to_string()
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateBridge { name, .. } => write!(f, "create bridge {name}"),
            Op::CreateVeth { name, peer } => write!(f, "create veth pair {name}/{peer}"),
            Op::DeleteLink { name } => write!(f, "delete {name}"),
            Op::Rename { name, to } => write!(f, "rename {name} to {to}"),
            Op::SetMac { name, mac } => write!(f, "set MAC of {name} to {mac}"),
            Op::SetMtu { name, mtu } => write!(f, "set MTU of {name} to {mtu}"),
            Op::SetMaster {
                name,
                master: Some(m),
            } => write!(f, "set master of {name} to {m}"),
            Op::SetMaster { name, master: None } => write!(f, "detach {name} from its bridge"),
            Op::SetUp { name, up } => write!(f, "bring {name} {}", if *up { "up" } else { "down" }),
            Op::AddAddress(a) => write!(f, "add address {} to {}", a.address, a.ifname),
            Op::DelAddress(a) => write!(f, "delete address {} from {}", a.address, a.ifname),
            Op::AddRoute(r) => write!(f, "add route {r}"),
            Op::DelRoute(r) => write!(f, "delete route {r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{address, hop, route};
    use crate::state::compare::diff;

    fn n(s: &str) -> IfName {
        s.parse().expect("a valid name")
    }

    fn host(setup: &[Op]) -> Snapshot {
        let mut s = Snapshot::default();
        for op in setup {
            s.apply(op).unwrap_or_else(|e| panic!("setup {op}: {e}"));
        }
        s
    }

    fn bridge(name: &str) -> Op {
        Op::CreateBridge {
            name: n(name),
            mac: Some("02:00:00:00:00:0b".parse().unwrap()),
            stp: false,
            forward_delay: 0,
        }
    }

    fn up(name: &str, up: bool) -> Op {
        Op::SetUp { name: n(name), up }
    }

    /// Applies `op` and its undo to `before`; the result must be `before`.
    fn round_trip(before: &Snapshot, op: &Op) -> Vec<Op> {
        let mut s = before.clone();
        let undo = apply_with_inverse(&mut s, op).unwrap();
        for u in &undo {
            s.apply(u).unwrap_or_else(|e| panic!("undo {u}: {e}"));
        }
        assert_eq!(diff(before, &s), Vec::<String>::new(), "undo: {undo:?}");
        undo
    }

    /// Adding the first IPv4 address to a link whose multipath hops are
    /// alive: its undo takes that address away again and leaves the hops
    /// dead, which nothing brings back, so the op is refused (law seed
    /// 5081730437875172653, where recover then lost the route). A link
    /// that carries no hop takes the address as before.
    #[test]
    fn an_undo_that_would_leave_multipath_hops_dead_is_refused() {
        let mut before = host(&[bridge("a"), up("a", true), bridge("b"), up("b", true)]);
        let mut r = route("203.0.113.2/32", None, "a", None, 254);
        r.oif = None;
        r.multipath = vec![hop("192.0.2.1", "a"), hop("192.0.2.2", "b")];
        before.routes.push(r);
        let mut s = before.clone();
        let e = apply_with_inverse(&mut s, &Op::add_address(address("a", "192.0.2.4/28", None)))
            .unwrap_err();
        assert!(e.to_string().contains("multipath route"), "{e}");
        assert_eq!(diff(&before, &s), Vec::<String>::new());
        let mut c = host(&[bridge("c"), up("c", true)]);
        c.routes = before.routes.clone();
        round_trip(&c, &Op::add_address(address("c", "192.0.2.4/28", None)));
    }

    #[test]
    fn undo_of_bringing_a_link_up_puts_back_the_ipv6_it_had_while_down() {
        // A link that is down can carry IPv6 addresses; bringing it up and
        // down again (the undo) drops them.
        let v6 = address("a", "2001:db8::1/64", None);
        let before = host(&[bridge("a"), Op::add_address(v6.clone())]);
        let undo = round_trip(&before, &up("a", true));
        assert_eq!(undo, vec![up("a", false), Op::add_address(v6)]);
    }

    #[test]
    fn undo_of_a_links_first_ipv4_address_puts_back_its_ipv4_routes() {
        // Deleting a link's last IPv4 address drops its IPv4 routes,
        // including those it had before it had any address.
        let r = route("10.0.0.0/8", None, "a", None, 254);
        let before = host(&[bridge("a"), up("a", true), Op::add_route(r.clone())]);
        let undo = round_trip(
            &before,
            &Op::add_address(address("a", "192.0.2.1/24", None)),
        );
        assert_eq!(undo.last(), Some(&Op::add_route(r)));
    }

    #[test]
    fn undo_of_a_route_deletion_puts_back_the_route_as_it_was() {
        let mut r = route("198.51.100.0/24", Some("192.0.2.1"), "a", Some(50), 254);
        r.metrics = vec![(2, 1400)];
        let before = host(&[
            bridge("a"),
            up("a", true),
            Op::add_address(address("a", "192.0.2.10/24", None)),
            Op::add_route(r.clone()),
        ]);
        // As `ip route del 198.51.100.0/24 via 192.0.2.1 dev a metric 50`
        // names it: no protocol, no metrics.
        let key = Route {
            protocol: 0,
            metrics: vec![],
            ..r.clone()
        };
        let undo = round_trip(&before, &Op::del_route(key));
        assert_eq!(undo, vec![Op::add_route(r)]);
    }

    #[test]
    fn undo_of_an_address_deletion_puts_back_the_one_deleted() {
        // Two addresses with the same local address and different peers.
        let mut p1 = address("a", "10.0.0.1/32", None);
        p1.peer = Some("10.0.0.2".parse().unwrap());
        let mut p2 = p1.clone();
        p2.peer = Some("10.0.0.3".parse().unwrap());
        let before = host(&[
            bridge("a"),
            Op::add_address(p1),
            Op::add_address(p2.clone()),
        ]);
        let undo = round_trip(&before, &Op::del_address(p2));
        assert_eq!(undo, vec![Op::add_address(before.addresses[1].clone())]);
    }

    fn rename(from: &str, to: &str) -> Op {
        Op::Rename {
            name: n(from),
            to: n(to),
        }
    }

    #[test]
    fn rename_is_refused_when_renaming_back_would_relabel() {
        let a = |addr: &str, label: Option<&str>| Op::add_address(address("a", addr, label));
        let refused = |setup: &[Op]| {
            let e = rename("a", "b").inverse(&host(setup)).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{e}");
        };
        // One address labelled with the link's name, and its secondaries
        // labelled with suffixes, come back as they were.
        let ok = [
            bridge("a"),
            a("192.0.2.1/24", None),
            a("192.0.2.2/24", Some("a:1")),
            a("192.0.2.3/24", Some("a:x")),
        ];
        round_trip(&host(&ok), &rename("a", "b"));
        // Two labelled `a` come back as `a` and `a:2`.
        refused(&[
            bridge("a"),
            a("192.0.2.1/24", None),
            a("192.0.2.2/24", None),
        ]);
        // A single address labelled `a:x` comes back as `a`.
        refused(&[bridge("a"), a("192.0.2.1/24", Some("a:x"))]);
        // Two primaries may come back in another order, and so with each
        // other's label.
        refused(&[
            bridge("a"),
            a("192.0.2.1/24", None),
            a("198.51.100.1/24", Some("a:2")),
        ]);
    }

    #[test]
    fn loopback_gets_its_mtu_of_65536_back() {
        // Loopback's MTU is 65536, and the kernel reports no maximum.
        let mut before = host(&[bridge("lo")]);
        let lo = before.link_mut(&n("lo")).unwrap();
        lo.index = 1;
        lo.mtu = 65536;
        lo.min_mtu = Some(0);
        round_trip(
            &before,
            &Op::SetMtu {
                name: n("lo"),
                mtu: 1500,
            },
        );
    }

    #[test]
    fn an_op_whose_undo_cannot_apply_is_refused_before_anything_is_done() {
        // A link whose MTU is above what it reports it accepts: the undo
        // could not set it back.
        let mut before = host(&[bridge("a")]);
        let a = before.link_mut(&n("a")).unwrap();
        a.mtu = 9000;
        a.max_mtu = Some(1500);
        let mut s = before.clone();
        let op = Op::SetMtu {
            name: n("a"),
            mtu: 1500,
        };
        let e = apply_with_inverse(&mut s, &op).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{e}");
        assert_eq!(e.op(), op.describe());
        assert_eq!(s.link(&n("a")).unwrap().mtu, 9000, "the state is unchanged");
    }
}
