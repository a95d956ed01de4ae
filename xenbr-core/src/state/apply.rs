//! The in-memory model of the kernel: [`Snapshot::apply`] changes a snapshot
//! as the kernel would change the host for one [`Op`], including the side
//! effects measured on Linux 6.18 that plans must account for:
//!
//! - taking a link down removes its IPv6 addresses and every route through
//!   it, but a multipath route only once all its hops are down (the kernel
//!   marks a hop dead); an IPv4 multipath route goes with any of its links,
//!   an IPv6 one (a set of siblings) loses only the hop through it;
//! - an MTU below 1280 removes its IPv6 addresses and IPv6 routes, and IPv6
//!   cannot be added to it;
//! - deleting an IPv4 address removes the routes that use it as preferred
//!   source once no other address has it, and deleting a link's last IPv4
//!   address removes its IPv4 routes;
//! - deleting a primary IPv4 address removes its secondaries
//!   (`promote_secondaries` off; planners delete secondaries first anyway);
//! - renaming a link rewrites its IPv4 labels (`eth0:1` becomes `peth0:1`);
//! - deleting a bridge frees its ports, deleting a veth end deletes the other;
//!   deleting a link deletes its addresses, with what that removes;
//! - an address with a finite lifetime is not `permanent`; a route or address
//!   metric of 0 is no metric, except that an IPv6 route's is 1024;
//! - a route is refused (`NLM_F_EXCL`) when one with the same table,
//!   destination, source, TOS and metric exists, whatever its next hops;
//! - a route's gateway must be reachable through its link (inside a prefix
//!   of an address there, or a route through it without a gateway) unless
//!   `onlink`, and no local address (IPv4 with `onlink`, IPv6 always); an
//!   IPv4 preferred source must be a local address. Routes are not checked
//!   again when addresses go, so a route the kernel keeps may be one it
//!   would refuse to add back: its delete cannot be undone;
//! - an IPv6 address is refused on a link that has it with any prefix, an
//!   IPv4 one that would be a secondary of an address of another scope;
//! - a bridge with spanning tree on keeps its forward delay within 2 to 30
//!   seconds; only a link with a valid Ethernet address can be a port, and
//!   no link can be given an address that is zero or a group address;
//! - a bridge whose MAC was never set (given at creation or by `ip link set
//!   address`) takes the smallest of its ports' MACs, and 00:00:00:00:00:00
//!   when it has none, whenever its ports or their MACs change
//!   (`br_stp_recalculate_bridge_id`). Whether a MAC was set is nowhere to
//!   be read, so after such a change a bridge's MAC is unknown (`None`),
//!   unless it was 00:00:00:00:00:00, which only a kernel-chosen MAC is;
//! - likewise a bridge whose MTU was never set takes the smallest of its
//!   ports' MTUs, 1500 when it has none (`br_mtu_auto_adjust`), and below
//!   1280 loses its IPv6 addresses and routes. Such a bridge's MTU always is
//!   that value, so one whose MTU is that value is taken to follow its ports,
//!   unless a plan set it (`Link::mtu_set`); one read from the kernel whose
//!   MTU was set to exactly that is mispredicted, which verification
//!   catches (undoing a predicted loss that did not happen only meets
//!   "exists"). Nothing in netlink tells them apart.
//!
//! What the kernel derives on its own (`proto kernel` routes, link-local
//! addresses, a bridge's automatic MAC and MTU) is not modelled: it is not
//! compared either (see [`super::compare`]).

use super::{
    Address, BridgeInfo, Link, LinkKind, NextHop, Route, Snapshot, IFA_F_SECONDARY, IFA_F_TRANSIENT,
};
use crate::error::{Error, Result};
use crate::fasthash::FastMap;
use std::net::IpAddr;

use crate::names::{IfName, IpNet, MacAddr};
use crate::op::Op;

/// What an op removed besides its own target: the addresses and routes the
/// kernel dropped and the ports a deleted bridge freed. Kernel-made entries are
/// left out, since the kernel makes them again.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    /// Addresses removed as a side effect, in the order they were on the host.
    pub addresses: Vec<Address>,
    /// Routes removed as a side effect, in the order they were on the host.
    pub routes: Vec<Route>,
    /// `(port, bridge)` for each port freed by deleting its bridge.
    pub ports: Vec<(IfName, IfName)>,
    /// `(now, before)` for each IPv6 multipath route that lost the hops
    /// through a link that went away, and kept the others.
    pub reduced: Vec<(Route, Route)>,
    /// `(now, before)` for each route the kernel changed: the `mtu` of an
    /// IPv6 route follows its link's.
    pub changed: Vec<(Route, Route)>,
}

impl Removed {
    /// True when nothing was removed or changed.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
            && self.routes.is_empty()
            && self.ports.is_empty()
            && self.reduced.is_empty()
            && self.changed.is_empty()
    }
}

/// How an op changes the MACs of a bridge's ports (see
/// [`Snapshot::port_macs_change`]).
enum PortMacs {
    /// Not at all.
    Same,
    /// They are another multiset after it.
    Changed,
    /// Not known from the op: the sorted MACs before it, to compare.
    Before(Vec<Option<MacAddr>>),
}

/// The MTU the kernel gives a bridge that chose it, from its ports'
/// smallest (`None`: no ports): that, or 1500 (`br_mtu_min`).
fn auto_of(ports_mtu: Option<u32>) -> u32 {
    ports_mtu.unwrap_or(1500)
}

/// A port joining a bridge, as the bridge takes it (see
/// [`Snapshot::apply`]).
struct Join {
    /// The bridge's automatic MTU with the port: the smallest of its ports'.
    mtu: u32,
    /// The port's MAC.
    mac: Option<MacAddr>,
    /// The bridge had no port before.
    first: bool,
}

/// The smallest MTU of a link that carries IPv6 (`IPV6_MIN_MTU`).
pub(crate) const IPV6_MIN_MTU: u32 = 1280;

fn kernel_errno(op: &Op, errno: i32, note: String) -> Error {
    Error::Kernel {
        op: op.describe(),
        errno,
        ext_ack: None,
        note: Some(note),
        ifname: op.subject().map(|n| n.to_string()),
    }
}

/// True when `a` and `b` are the same address as the kernel keys it: on one
/// link, an IPv6 address whatever its prefix (`ipv6_chk_same_addr`); an IPv4
/// local address with its prefix length and the subnet of its peer, or of
/// itself when it has none (`find_matching_ifa`).
pub fn same_address(a: &Address, b: &Address) -> bool {
    if a.ifname != b.ifname || a.address.addr() != b.address.addr() {
        return false;
    }
    if !a.address.is_ipv4() {
        return !b.address.is_ipv4();
    }
    a.address.prefix() == b.address.prefix() && same_subnet(a, b)
}

/// True when the IPv4 addresses `a` and `b`, of one prefix length, are in
/// one subnet as the kernel compares them (`inet_ifa_match` on the peer, or
/// the local address when there is no peer).
fn same_subnet(a: &Address, b: &Address) -> bool {
    let net = |x: &Address| {
        IpNet::new(x.peer.unwrap_or(x.address.addr()), a.address.prefix()).map(|n| n.network())
    };
    matches!((net(a), net(b)), (Ok(x), Ok(y)) if x == y)
}

/// A route's metric as the kernel keeps it: IPv4 0 when none, IPv6 1024
/// when none or 0 (`IP6_RT_PRIO_USER`).
pub fn effective_priority(r: &Route) -> u32 {
    match (r.destination.is_ipv4(), r.priority.unwrap_or(0)) {
        (false, 0) => IP6_RT_PRIO_USER,
        (_, p) => p,
    }
}

/// True when the kernel refuses to add `a` (with `NLM_F_EXCL`, as xenbr
/// adds routes) because of `b`: same table, destination, source, TOS and
/// metric, whatever their next hops (`fib_table_insert`,
/// `fib6_add_rt2node`).
pub fn same_route_key(a: &Route, b: &Route) -> bool {
    a.table == b.table
        && a.destination == b.destination
        && a.source == b.source
        && a.tos == b.tos
        && effective_priority(a) == effective_priority(b)
}

/// True when `a` and `b` are the same route as the kernel keys it.
pub fn same_route(a: &Route, b: &Route) -> bool {
    same_route_key(a, b)
        && a.gateway == b.gateway
        && a.oif == b.oif
        && a.kind == b.kind
        && a.multipath.len() == b.multipath.len()
        && a.multipath.iter().zip(&b.multipath).all(|(x, y)| {
            // RTNH_F_DEAD and RTNH_F_LINKDOWN (1, 16) are the state of the
            // hop's link, not part of the route.
            let (x_flags, y_flags) = (x.flags & !(1 | 16), y.flags & !(1 | 16));
            x.gateway == y.gateway && x.oif == y.oif && x.weight == y.weight && x_flags == y_flags
        })
}

/// True when route `r` goes with the IPv4 addresses `gone`, no longer local
/// anywhere: it prefers one as source and is in the main table
/// (fib_sync_down_addr looks at no other).
fn prefers_gone(r: &Route, gone: &[IpAddr]) -> bool {
    r.destination.is_ipv4()
        && r.table == super::RT_TABLE_MAIN
        && r.prefsrc.is_some_and(|p| gone.contains(&p))
}

/// True when the kernel refuses a gateway that is a local address: with
/// `onlink` for IPv4 (fib_check_nh_v4_gw), always for IPv6 (ip6_validate_gw).
fn local_gateway_refused(gw: IpAddr, onlink: bool) -> bool {
    onlink || !gw.is_ipv4()
}

impl Route {
    /// Its gateways, each with whether it is on-link.
    fn gateways(&self) -> impl Iterator<Item = (IpAddr, bool)> + '_ {
        self.gateway
            .map(|g| (g, self.flags & 4 != 0))
            .into_iter()
            .chain(
                self.multipath
                    .iter()
                    .filter_map(|h| h.gateway.map(|g| (g, h.flags & 4 != 0))),
            )
    }
}

/// `IP6_RT_PRIO_USER`: the metric of an IPv6 route added without one.
const IP6_RT_PRIO_USER: u32 = 1024;

/// `IFA_F_NOPREFIXROUTE`: an address the kernel makes no prefix route for.
const IFA_F_NOPREFIXROUTE: u32 = 0x200;

/// `RTNH_F_DEAD`: a hop the kernel no longer uses (see
/// [`Snapshot::cut_routes`]).
pub(crate) const RTNH_F_DEAD: u8 = 1;

/// `IFA_F_PERMANENT`.
const IFA_F_PERMANENT: u32 = 0x80;

impl Snapshot {
    /// Changes this snapshot as the kernel would change the host for `op`,
    /// or fails as the kernel would (no such link, name taken, ...), leaving
    /// the snapshot unchanged on failure.
    pub fn apply(&mut self, op: &Op) -> Result<Removed> {
        // The bridges whose ports this op may change, and whether their MTU
        // follows them, as it stands before.
        let follows: Vec<(IfName, bool, PortMacs, Option<Join>)> = self
            .bridges_changed_by(op)
            .into_iter()
            .map(|b| {
                let ports_mtu = self.min_port_mtu(&b);
                let auto = self.link(&b).is_some_and(|l| {
                    l.kind == LinkKind::Bridge && !l.mtu_set && l.mtu == auto_of(ports_mtu)
                });
                let macs = self.port_macs_change(op, &b);
                // A port joining: what the bridge makes of it is known
                // without reading every port again (a thousand guests
                // attached to one bridge read a thousand ports each).
                let join = match op {
                    Op::SetMaster {
                        name: p,
                        master: Some(m),
                    } if m == &b => {
                        self.link(p)
                            .filter(|l| l.master.as_ref() != Some(&b))
                            .map(|l| Join {
                                mtu: ports_mtu.map_or(l.mtu, |m| m.min(l.mtu)),
                                mac: l.mac,
                                first: ports_mtu.is_none(),
                            })
                    }
                    _ => None,
                };
                (b, auto, macs, join)
            })
            .collect();
        let mut removed = self.apply_only(op)?;
        self.port_mtus_after(op, &follows);
        for (b, auto, macs, join) in follows {
            self.ports_changed(&b, auto, macs, join, &mut removed);
        }
        Ok(removed)
    }

    /// Keeps [`Snapshot::min_port_mtu`]'s memory, when it is kept, true
    /// after `op` (applied): a port that joined lowers its bridge's smallest,
    /// the other bridges `op` changed the ports of are read again when
    /// asked, and a rename or delete (names then stand for other links)
    /// forgets them all.
    fn port_mtus_after(&self, op: &Op, changed: &[(IfName, bool, PortMacs, Option<Join>)]) {
        let mut cache = self.port_mtus.borrow_mut();
        let Some(map) = cache.as_mut() else {
            return;
        };
        match op {
            Op::SetMac { .. }
            | Op::SetUp { .. }
            | Op::AddAddress(_)
            | Op::DelAddress(_)
            | Op::AddRoute(_)
            | Op::DelRoute(_)
            | Op::CreateBridge { .. }
            | Op::CreateVeth { .. } => {}
            Op::SetMaster { .. } | Op::SetMtu { .. } => {
                for (b, _, _, join) in changed {
                    match join {
                        Some(j) => map.insert(b.clone(), Some(j.mtu)),
                        None => map.remove(b),
                    };
                }
            }
            _ => map.clear(),
        }
    }

    /// Starts keeping the smallest MTU of each bridge's ports as
    /// [`Snapshot::apply`] changes them, for a plan built op by op on this
    /// snapshot; nothing else may change its links meanwhile.
    /// [`Snapshot::untrack_port_mtus`] stops it.
    pub(crate) fn track_port_mtus(&mut self) {
        *self.port_mtus.get_mut() = Some(FastMap::default());
    }

    /// Stops what [`Snapshot::track_port_mtus`] started.
    pub(crate) fn untrack_port_mtus(&mut self) {
        *self.port_mtus.get_mut() = None;
    }

    /// The smallest MTU of bridge `name`'s ports, `None` when it has none.
    fn min_port_mtu(&self, name: &IfName) -> Option<u32> {
        if let Some(known) = self
            .port_mtus
            .borrow()
            .as_ref()
            .and_then(|m| m.get(name).copied())
        {
            debug_assert_eq!(known, self.ports(name).map(|p| p.mtu).min(), "{name}");
            return known;
        }
        let min = self.ports(name).map(|p| p.mtu).min();
        if let Some(m) = self.port_mtus.borrow_mut().as_mut() {
            m.insert(name.clone(), min);
        }
        min
    }

    /// Whether `op` changes the MACs of bridge `name`'s ports (as a
    /// multiset), when that follows from the op alone (a port joins or
    /// leaves, or changes its MAC or not), or else the MACs before, sorted.
    /// Sorting a thousand ports' MACs twice per port attached made attaching
    /// a thousand guests quadratic.
    fn port_macs_change(&self, op: &Op, name: &IfName) -> PortMacs {
        let link = |n: &IfName| self.link(n);
        match op {
            Op::SetMaster { name: p, master } => match link(p) {
                Some(l) if &l.master == master => PortMacs::Same,
                Some(_) => PortMacs::Changed,
                None => PortMacs::Before(self.port_macs(name)),
            },
            Op::SetMac { name: p, mac } => match link(p) {
                Some(l) if l.master.as_ref() == Some(name) => match l.mac == Some(*mac) {
                    true => PortMacs::Same,
                    false => PortMacs::Changed,
                },
                _ => PortMacs::Before(self.port_macs(name)),
            },
            Op::SetMtu { .. } => PortMacs::Same,
            _ => PortMacs::Before(self.port_macs(name)),
        }
    }

    /// The MACs of the ports of bridge `name`, sorted.
    fn port_macs(&self, name: &IfName) -> Vec<Option<MacAddr>> {
        let mut v: Vec<Option<MacAddr>> = self.ports(name).map(|p| p.mac).collect();
        v.sort();
        v
    }

    /// The bridges `op` may change the ports of (or their MACs or MTUs),
    /// whose own MAC and MTU the kernel may then recompute.
    pub fn bridges_changed_by(&self, op: &Op) -> Vec<IfName> {
        let master = |n: &IfName| self.link(n).and_then(|l| l.master.clone());
        let mut v: Vec<IfName> = match op {
            Op::SetMaster { name, master: m } => {
                master(name).into_iter().chain(m.clone()).collect()
            }
            Op::SetMac { name, .. } | Op::SetMtu { name, .. } => master(name).into_iter().collect(),
            Op::DeleteLink { name } => {
                let peer = self.link(name).and_then(|l| l.peer.clone());
                master(name)
                    .into_iter()
                    .chain(peer.as_ref().and_then(master))
                    .collect()
            }
            _ => Vec::new(),
        };
        v.dedup();
        v
    }

    /// Refuses to delete links `gone` when a route elsewhere in the main
    /// table prefers one of their secondary IPv4 addresses, found on no other
    /// link, as source: the kernel keeps such a route when the link goes
    /// (only a primary flushes them, Linux 6.18), and a route whose source
    /// is no local address can be neither added back nor kept by an undo
    /// that deletes the address again.
    fn refuse_dangling_sources(&self, op: &Op, gone: &[IfName]) -> Result<()> {
        let kept = |ip: IpAddr| {
            self.addresses
                .iter()
                .any(|a| a.address.addr() == ip && !gone.contains(&a.ifname))
        };
        for a in self
            .addresses
            .iter()
            .filter(|a| gone.contains(&a.ifname) && a.address.is_ipv4() && a.is_secondary())
        {
            let ip = a.address.addr();
            let through_gone = |r: &Route| {
                r.oif.as_ref().is_some_and(|o| gone.contains(o))
                    || r.multipath
                        .iter()
                        .any(|h| h.oif.as_ref().is_some_and(|o| gone.contains(o)))
            };
            if let Some(r) = self.routes.iter().find(|r| {
                r.table == super::RT_TABLE_MAIN && r.prefsrc == Some(ip) && !through_gone(r)
            }) {
                if !kept(ip) {
                    return Err(Error::invalid(
                        op.describe(),
                        format!(
                            "the kernel would keep the route {r}, whose source {ip} is a \
                             secondary address of {}, which no one could add back; delete \
                             the route or the address first",
                            a.ifname
                        ),
                    )
                    .about(&a.ifname));
                }
            }
        }
        Ok(())
    }

    /// The MTU the kernel gives bridge `name` when it chose it: the smallest
    /// of its ports', 1500 without ports (`br_mtu_min`); `None` when it is
    /// no bridge.
    pub(crate) fn auto_mtu(&self, name: &IfName) -> Option<u32> {
        self.link(name).filter(|l| l.kind == LinkKind::Bridge)?;
        Some(auto_of(self.min_port_mtu(name)))
    }

    fn apply_only(&mut self, op: &Op) -> Result<Removed> {
        let missing = |name: &IfName| Error::not_found(op.describe(), format!("interface {name}"));
        let mut removed = Removed::default();
        match op {
            Op::CreateBridge {
                name,
                mac,
                stp,
                forward_delay,
            } => {
                self.check_free(op, name)?;
                if let Some(m) = mac.filter(|m| !m.is_valid_unicast()) {
                    return Err(invalid_mac(op, m));
                }
                self.links.push(new_link(name, LinkKind::Bridge, "bridge"));
                let l = self.links.last_mut().expect("pushed");
                l.mac = *mac;
                // With spanning tree on, the kernel keeps the forward delay
                // within BR_MIN_FORWARD_DELAY and BR_MAX_FORWARD_DELAY.
                let forward_delay = match stp {
                    true => (*forward_delay).clamp(200, 3000),
                    false => *forward_delay,
                };
                l.bridge = Some(BridgeInfo {
                    stp: *stp,
                    forward_delay,
                });
            }
            Op::CreateVeth { name, peer } => {
                self.check_free(op, name)?;
                self.check_free(op, peer)?;
                if name == peer {
                    return Err(Error::invalid(
                        op.describe(),
                        "both ends have the same name",
                    ));
                }
                let mut a = new_link(name, LinkKind::Veth, "veth");
                let mut b = new_link(peer, LinkKind::Veth, "veth");
                a.peer = Some(peer.clone());
                b.peer = Some(name.clone());
                self.links.push(a);
                self.links.push(b);
            }
            Op::DeleteLink { name } => {
                let l = self.link(name).ok_or_else(|| missing(name))?;
                let mut gone = vec![name.clone()];
                if let (LinkKind::Veth, Some(p)) = (l.kind, &l.peer) {
                    gone.push(p.clone());
                }
                self.refuse_dangling_sources(op, &gone)?;
                for g in &gone {
                    removed
                        .addresses
                        .extend(self.take_addresses(|a| &a.ifname == g));
                    self.cut_routes(g, None, Cut::Gone, &mut removed);
                }
                // Its addresses go with it, and so do the routes preferring
                // one of its primaries as source that is no longer local
                // anywhere, as when they are deleted one by one. A route
                // preferring a secondary stays (Linux 6.18: a secondary of
                // a link being unregistered flushes nothing; see
                // primitives.rs a_deleted_links_secondary_keeps_its_routes).
                let mut locals: Vec<IpAddr> = removed
                    .addresses
                    .iter()
                    .filter(|a| a.address.is_ipv4() && !a.is_secondary())
                    .map(|a| a.address.addr())
                    .collect();
                locals.retain(|l| !self.is_local_source(*l));
                removed
                    .routes
                    .extend(self.take_routes(|r| prefers_gone(r, &locals)));
                for l in self.links.iter_mut() {
                    if let Some(m) = l.master.as_ref().filter(|m| gone.contains(m)) {
                        if !gone.contains(&l.name) {
                            removed.ports.push((l.name.clone(), m.clone()));
                        }
                        l.master = None;
                    }
                }
                self.links.retain(|l| !gone.contains(&l.name));
            }
            Op::Rename { name, to } => {
                self.link(name).ok_or_else(|| missing(name))?;
                if name == to {
                    return Ok(removed);
                }
                self.check_free(op, to)?;
                self.rename(name, to);
            }
            Op::SetMac { name, mac } => {
                if !mac.is_valid_unicast() {
                    return Err(invalid_mac(op, *mac));
                }
                let l = self.link_mut(name).ok_or_else(|| missing(name))?;
                // A link the kernel reported without a six-byte address (a
                // tun device, an IP tunnel) takes none; only a link a plan
                // creates (index 0) has no MAC because none is known yet.
                if l.mac.is_none() && l.index != 0 && l.kind != LinkKind::Bridge {
                    return Err(kernel_errno(
                        op,
                        libc::EOPNOTSUPP,
                        format!("{name} has no Ethernet address to set"),
                    ));
                }
                l.mac = Some(*mac);
                l.mac_follows_ports = false;
            }
            Op::SetMtu { name, mtu } => {
                let l = self.link_mut(name).ok_or_else(|| missing(name))?;
                // No maximum from the kernel (IFLA_MAX_MTU 0) means there is
                // none, as for loopback at 65536; a link a plan creates
                // (index 0) is a bridge or a veth, whose maximum is 65535.
                let none = if l.index == 0 { 65535 } else { i32::MAX as u32 };
                let (lo, hi) = (l.min_mtu.unwrap_or(68), l.max_mtu.unwrap_or(none));
                if *mtu < lo || *mtu > hi {
                    return Err(kernel_errno(
                        op,
                        libc::EINVAL,
                        format!("MTU {mtu} is outside what {name} accepts ({lo} to {hi})"),
                    ));
                }
                let old = std::mem::replace(&mut l.mtu, *mtu);
                // Setting it to what it is does not count (dev_set_mtu).
                l.mtu_set |= l.kind == LinkKind::Bridge && old != *mtu;
                self.follow_mtu(name, old, *mtu, &mut removed);
                // Below 1280 a link cannot carry IPv6 (addrconf_notify): its
                // IPv6 addresses and the IPv6 routes through it go.
                if *mtu < IPV6_MIN_MTU {
                    if self.is_loopback(name) {
                        self.take_rejects(&mut removed);
                    }
                    removed.addresses =
                        self.take_addresses(|a| &a.ifname == name && !a.address.is_ipv4());
                    self.cut_routes(name, Some(false), Cut::Gone, &mut removed);
                }
            }
            Op::SetMaster { name, master } => {
                let l = self.link(name).ok_or_else(|| missing(name))?;
                let current = l.master.clone();
                // A port must be an Ethernet device with a valid address
                // (br_add_if): not loopback, not a layer-3 tunnel. A link a
                // plan creates (index 0, MAC not known yet) is a bridge or
                // a veth, which has one.
                let ethernet = l.index == 0 || l.mac.is_some_and(|m| m.is_valid_unicast());
                if master.is_some() && !ethernet {
                    return Err(kernel_errno(
                        op,
                        libc::EINVAL,
                        format!("{name} has no Ethernet address, so it cannot be a port"),
                    ));
                }
                if let Some(m) = master {
                    let b = self.link(m).ok_or_else(|| missing(m))?;
                    if b.kind != LinkKind::Bridge {
                        return Err(Error::invalid(
                            op.describe(),
                            format!("{m} is not a bridge"),
                        ));
                    }
                    if m == name {
                        return Err(Error::invalid(
                            op.describe(),
                            "a bridge cannot be its own port",
                        ));
                    }
                    if let Some(c) = current.as_ref().filter(|c| *c != m) {
                        return Err(Error::conflict(
                            op.describe(),
                            format!("{name} is already a port of {c}"),
                        ));
                    }
                }
                self.link_mut(name).expect("checked").master = master.clone();
            }
            Op::SetUp { name, up } => {
                let l = self.link_mut(name).ok_or_else(|| missing(name))?;
                let was_up = std::mem::replace(&mut l.up, *up);
                l.oper = if *up { "unknown" } else { "down" }.into();
                if was_up && !*up {
                    removed.addresses = self
                        .take_addresses(|a| &a.ifname == name && !a.address.is_ipv4())
                        .into_iter()
                        .collect();
                    if self.is_loopback(name) {
                        self.take_rejects(&mut removed);
                    }
                    self.cut_routes(name, None, Cut::Down, &mut removed);
                }
                if !was_up && *up {
                    self.revive_hops(name, None);
                }
            }
            Op::AddAddress(a) => {
                let l = self.link(&a.ifname).ok_or_else(|| missing(&a.ifname))?;
                if !a.address.is_ipv4() && l.mtu < IPV6_MIN_MTU {
                    return Err(kernel_errno(
                        op,
                        libc::EINVAL,
                        format!("{} has no IPv6: its MTU is below 1280", a.ifname),
                    ));
                }
                if self.addresses.iter().any(|b| same_address(a, b)) {
                    return Err(kernel_errno(
                        op,
                        libc::EEXIST,
                        format!("{} is already on {}", a.address, a.ifname),
                    ));
                }
                // The kernel keeps a route whose gateway becomes local, but
                // would refuse to add it back (see check_route): nothing
                // that removes it could be undone.
                let mut probe = self.clone();
                probe.addresses.push((**a).clone());
                let spoils = |r: &&Route| {
                    r.gateways().any(|(g, onlink)| {
                        probe.bad_gateway(g, onlink) && !self.bad_gateway(g, onlink)
                    })
                };
                if let Some(r) = self.routes.iter().find(spoils) {
                    return Err(Error::invalid(
                        op.describe(),
                        format!(
                            "{} would make a gateway of route {r} local or a broadcast \
                             address, and the kernel could not add the route back",
                            a.address
                        ),
                    ));
                }
                let mut a = a.clone();
                a.flags &= !(IFA_F_SECONDARY | IFA_F_TRANSIENT | IFA_F_PERMANENT);
                // Permanent means no lifetime (set_ifa_lifetime), whatever
                // was asked.
                if a.valid_lft.is_none() {
                    a.flags |= IFA_F_PERMANENT;
                }
                if a.metric == Some(0) {
                    a.metric = None;
                }
                // An IPv4 address in the subnet of another of the link's, of
                // its prefix length, is a secondary, and must have its scope
                // (__inet_insert_ifa).
                if a.address.is_ipv4() {
                    let new = a.clone();
                    let others = self.addresses.iter().filter(|b| {
                        b.ifname == new.ifname
                            && b.address.is_ipv4()
                            && b.address.prefix() == new.address.prefix()
                            && same_subnet(&new, b)
                    });
                    for b in others {
                        if b.scope != a.scope {
                            return Err(kernel_errno(
                                op,
                                libc::EINVAL,
                                format!(
                                    "{} would be a secondary of {}, which has another scope",
                                    a.address, b.address
                                ),
                            ));
                        }
                        a.flags |= IFA_F_SECONDARY;
                    }
                }
                let ipv4 = a.address.is_ipv4();
                let name = a.ifname.clone();
                let at = self.insertion_point(&a);
                self.addresses.insert(at, *a);
                if ipv4 && self.link(&name).is_some_and(|l| l.up) {
                    self.revive_hops(&name, Some(true));
                }
            }
            Op::DelAddress(a) => {
                let pos = self
                    .addresses
                    .iter()
                    .position(|b| same_address(a, b) && b.address.prefix() == a.address.prefix())
                    .ok_or_else(|| {
                        kernel_errno(
                            op,
                            libc::EADDRNOTAVAIL,
                            format!("{} is not on {}", a.address, a.ifname),
                        )
                    })?;
                let gone = self.addresses.remove(pos);
                if gone.address.is_ipv4() {
                    let mut locals = vec![gone.address.addr()];
                    // A primary takes its secondaries with it: those of its
                    // prefix length in its subnet, a peer's for a peer
                    // address, as they were made (__inet_del_ifa).
                    if !gone.is_secondary() {
                        removed.addresses = self.take_addresses(|b| {
                            b.ifname == gone.ifname
                                && b.is_secondary()
                                && b.address.prefix() == gone.address.prefix()
                                && same_subnet(b, &gone)
                        });
                        locals.extend(removed.addresses.iter().map(|b| b.address.addr()));
                    }
                    // Routes preferring a source go when that address is no
                    // longer local (fib_del_ifaddr): not while another
                    // address, on this link or another, still has it, nor
                    // while loopback's prefix covers it, unless a closer
                    // prefix does (the same lookup as a new route's source).
                    locals.retain(|l| !self.is_local_source(*l));
                    let last = !self
                        .addresses
                        .iter()
                        .any(|b| b.ifname == gone.ifname && b.address.is_ipv4());
                    removed.routes = self.take_routes(|r| prefers_gone(r, &locals));
                    // The last one takes IPv4 off the link (fib_disable_ip).
                    if last {
                        self.cut_routes(&gone.ifname, Some(true), Cut::Down, &mut removed);
                    }
                }
            }
            Op::AddRoute(r) => {
                for hop in r
                    .oif
                    .iter()
                    .chain(r.multipath.iter().filter_map(|h| h.oif.as_ref()))
                {
                    let l = self.link(hop).ok_or_else(|| missing(hop))?;
                    if !l.up {
                        return Err(kernel_errno(op, libc::ENETDOWN, format!("{hop} is down")));
                    }
                    if !r.destination.is_ipv4() && l.mtu < IPV6_MIN_MTU {
                        return Err(kernel_errno(
                            op,
                            libc::ENODEV,
                            format!("{hop} has no IPv6: its MTU is below 1280"),
                        ));
                    }
                }
                self.check_route(op, r)?;
                if self.routes.iter().any(|b| same_route_key(r, b))
                    || self.has_local_route(r)
                    || self.has_prefix_route(r)
                {
                    return Err(kernel_errno(
                        op,
                        libc::EEXIST,
                        "a route to that destination with that metric exists already".into(),
                    ));
                }
                let mut r = r.clone();
                r.priority = match (r.destination.is_ipv4(), effective_priority(&r)) {
                    (true, 0) => None,
                    (_, p) => Some(p),
                };
                self.routes.push(*r);
            }
            Op::DelRoute(r) => {
                let pos = self
                    .routes
                    .iter()
                    .position(|b| same_route(r, b))
                    .ok_or_else(|| kernel_errno(op, libc::ESRCH, "no such route".into()))?;
                self.routes.remove(pos);
            }
        }
        Ok(removed)
    }

    /// The ports of bridge `name`, or their MACs or MTUs, may have changed:
    /// the kernel recomputes its MAC and MTU if it chose them (see the
    /// module documentation). `follows` says whether its MTU followed its
    /// ports before, `macs_before` how its ports' MACs changed, `join` the
    /// port that joined it, when that is the change. What a
    /// fall of its MTU below 1280 removes goes to `removed`. A MAC not known
    /// to be the kernel's choice becomes unknown.
    fn ports_changed(
        &mut self,
        name: &IfName,
        follows: bool,
        macs_before: PortMacs,
        join: Option<Join>,
        removed: &mut Removed,
    ) {
        let Some(b) = self.link(name).filter(|b| b.kind == LinkKind::Bridge) else {
            return;
        };
        let old_mtu = b.mtu;
        let same = match macs_before {
            PortMacs::Same => true,
            PortMacs::Changed => false,
            PortMacs::Before(v) => self.port_macs(name) == v,
        };
        let mac = match &join {
            _ if same => b.mac,
            _ if !b.mac_follows_ports => None,
            // The kernel's choice, the smallest of its ports' (unknown when
            // one is): a joining port's against the smallest so far.
            Some(j) if j.first => j.mac,
            Some(j) => b.mac.zip(j.mac).map(|(a, b)| a.min(b)),
            None => self.smallest_port_mac(name),
        };
        debug_assert!(
            join.is_none() || same || !b.mac_follows_ports || mac == self.smallest_port_mac(name),
            "{name}: a joining port's MAC against the smallest so far"
        );
        // An MTU the bridge does not accept, dev_set_mtu refuses: it stays.
        let none = if b.index == 0 { 65535 } else { i32::MAX as u32 };
        let (lo, hi) = (b.min_mtu.unwrap_or(68), b.max_mtu.unwrap_or(none));
        let auto_after = join.map(|j| j.mtu);
        let mtu = match follows.then(|| auto_after.or_else(|| self.auto_mtu(name))) {
            Some(Some(m)) if (lo..=hi).contains(&m) => m,
            _ => old_mtu,
        };
        let l = self.link_mut(name).expect("found");
        l.mac = mac;
        l.mtu = mtu;
        self.follow_mtu(name, old_mtu, mtu, removed);
        if mtu < IPV6_MIN_MTU && old_mtu >= IPV6_MIN_MTU {
            removed
                .addresses
                .extend(self.take_addresses(|a| &a.ifname == name && !a.address.is_ipv4()));
            self.cut_routes(name, Some(false), Cut::Gone, removed);
        }
    }

    /// The MAC the kernel gives bridge `name` when it chooses: the smallest
    /// of its ports', all zeros without ports; unknown when a port's is.
    fn smallest_port_mac(&self, name: &IfName) -> Option<MacAddr> {
        self.ports(name)
            .map(|p| p.mac)
            .try_fold(None, |min: Option<MacAddr>, m| {
                m.map(|m| Some(min.map_or(m, |x| x.min(m))))
            })
            .map(|min| min.unwrap_or(MacAddr([0; 6])))
    }

    /// What the kernel checks of a route's gateways and preferred source
    /// against the addresses and routes of the moment (fib_check_nh,
    /// fib_valid_prefsrc, ip6_validate_gw).
    fn check_route(&self, op: &Op, r: &Route) -> Result<()> {
        const RTNH_F_ONLINK: u32 = 4;
        let hops = r
            .oif
            .iter()
            .map(|o| (o, r.gateway, r.flags & RTNH_F_ONLINK != 0))
            .chain(r.multipath.iter().filter_map(|h| {
                let onlink = u32::from(h.flags) & RTNH_F_ONLINK != 0;
                h.oif.as_ref().map(|o| (o, h.gateway, onlink))
            }));
        for (oif, gw, onlink) in hops {
            let Some(gw) = gw else { continue };
            let link_local = matches!(gw, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80);
            if self.bad_gateway(gw, onlink) {
                return Err(kernel_errno(
                    op,
                    libc::EINVAL,
                    format!("the gateway {gw} is a local or broadcast address"),
                ));
            }
            if !onlink && !link_local && !self.reaches(oif, gw, r.table) {
                return Err(kernel_errno(
                    op,
                    if gw.is_ipv4() {
                        libc::EINVAL
                    } else {
                        libc::EHOSTUNREACH
                    },
                    format!("the gateway {gw} is not reachable through {oif}"),
                ));
            }
        }
        if let Some(src) = r
            .prefsrc
            .filter(|s| s.is_ipv4() && !self.is_local_source(*s))
        {
            return Err(kernel_errno(
                op,
                libc::EINVAL,
                format!("the preferred source {src} is no local address"),
            ));
        }
        Ok(())
    }

    /// True for loopback: the link whose MAC is all zeros and which is no
    /// bridge.
    fn is_loopback(&self, name: &IfName) -> bool {
        self.link(name)
            .is_some_and(|l| l.kind != LinkKind::Bridge && l.mac.is_some_and(|m| m.is_zero()))
    }

    /// IPv6 routes that send nowhere (blackhole, unreachable, prohibit)
    /// hang on loopback: they go when it goes down or loses IPv6.
    fn take_rejects(&mut self, removed: &mut Removed) {
        removed.routes.extend(self.take_routes(|r| {
            !r.destination.is_ipv4() && matches!(r.kind, 6..=8) && r.oif.is_none()
        }));
    }

    /// The `mtu` of the IPv6 routes through link `name` follows its MTU
    /// going from `old` to `new` (rt6_mtu_change): down to it when above
    /// it, up with it when it was the link's.
    fn follow_mtu(&mut self, name: &IfName, old: u32, new: u32, removed: &mut Removed) {
        const RTAX_MTU: u16 = 2;
        for r in self.routes.iter_mut() {
            if r.destination.is_ipv4() || !r.uses(name) || r.is_kernel_made() {
                continue;
            }
            let Some(i) = r.metrics.iter().position(|(k, _)| *k == RTAX_MTU) else {
                continue;
            };
            let m = r.metrics[i].1;
            if !(new < m || (new > old && m == old)) {
                continue;
            }
            let before = r.clone();
            r.metrics[i].1 = new;
            removed.changed.push((r.clone(), before));
        }
    }

    /// True when `ip` is a local address: one of the host's, or inside the
    /// prefix of an IPv4 address on loopback, whose prefix route the kernel
    /// makes of type local (fib_add_ifaddr). Loopback is the link whose MAC
    /// is all zeros and which is no bridge. What gateways are checked
    /// against; a source is checked more closely ([`Snapshot::is_local_source`]).
    fn is_local(&self, ip: IpAddr) -> bool {
        self.addresses.iter().any(|a| {
            a.address.addr() == ip
                || (ip.is_ipv4()
                    && a.address.is_ipv4()
                    && !a.is_secondary()
                    && a.address.contains(ip)
                    && self.link(&a.ifname).is_some_and(|l| {
                        l.kind != LinkKind::Bridge && l.mac.is_some_and(|m| m.is_zero())
                    }))
        })
    }

    /// True when the kernel takes IPv4 `ip` for a local source: as a new
    /// route's preferred source (fib_valid_prefsrc), and when an address
    /// with it goes, to keep the routes preferring it (fib_del_ifaddr).
    /// That is no broadcast address of a link that is up, and one of the
    /// host's addresses, or inside the prefix of a loopback primary (a route
    /// of type local) when no more specific route of the main or local table
    /// covers it. Without custom rules the kernel looks the source
    /// up in the main and local tables together (one trie), so a prefix of
    /// another link's address inside loopback's makes the source remote;
    /// with them it looks in the local table only and would accept it. The
    /// model cannot read the rules and takes the stricter answer: at worst
    /// it refuses a plan the kernel would have carried out, never one whose
    /// undo the kernel refuses.
    fn is_local_source(&self, ip: IpAddr) -> bool {
        // An address that is also a broadcast address has two routes of
        // its key in the local table, and the lookup takes whichever was
        // added first: the broadcast route of an address added before it
        // makes it no local source (law seed 2028506109906796379: "Invalid
        // prefsrc address"). The model does not keep that order and takes
        // the stricter answer.
        if self.broadcasts().contains(&ip) {
            return false;
        }
        if self.addresses.iter().any(|a| a.address.addr() == ip) {
            return true;
        }
        let up = |n: &IfName| self.link(n).is_some_and(|l| l.up);
        // The prefix routes of primaries on links that are up (fib_add_ifaddr).
        let prefixes = || {
            self.addresses.iter().filter(|a| {
                a.address.is_ipv4()
                    && !a.is_secondary()
                    && a.address.prefix() < 32
                    && a.flags & IFA_F_NOPREFIXROUTE == 0
                    && up(&a.ifname)
                    && a.address.contains(ip)
            })
        };
        let Some(local) = prefixes()
            .filter(|a| self.is_loopback(&a.ifname))
            .map(|a| a.address.prefix())
            .max()
        else {
            return false;
        };
        let closer_prefix = prefixes().any(|a| a.address.prefix() > local);
        let closer_route = self.routes.iter().any(|r| {
            !r.is_kernel_made()
                && (r.table == super::RT_TABLE_MAIN || r.table == super::RT_TABLE_LOCAL)
                && r.destination.is_ipv4()
                && r.destination.prefix() > local
                && r.destination.contains(ip)
        });
        !closer_prefix && !closer_route
    }

    /// True when the kernel holds a route of its own under the key of `r`
    /// in the local table, which the model does not keep for addresses a
    /// plan adds (fib_add_ifaddr): the local route of an IPv4 address, and
    /// on a link that is up a broadcast route or the local route of a
    /// loopback primary's prefix, each with metric 0 and no TOS.
    fn has_local_route(&self, r: &Route) -> bool {
        if r.table != super::RT_TABLE_LOCAL
            || !r.destination.is_ipv4()
            || r.source.is_some()
            || r.tos != 0
            || effective_priority(r) != 0
        {
            return false;
        }
        let dest = r.destination;
        let up = |n: &IfName| self.link(n).is_some_and(|l| l.up);
        // The local route of an address stays while its link is down; its
        // prefix's and broadcast routes come and go with the link.
        let of_address = self.addresses.iter().any(|a| {
            a.address.is_ipv4()
                && ((dest.prefix() == 32 && a.address.addr() == dest.addr())
                    || (up(&a.ifname)
                        && self.is_loopback(&a.ifname)
                        && !a.is_secondary()
                        && a.address.network() == dest))
        });
        of_address || (dest.prefix() == 32 && self.broadcasts().contains(&dest.addr()))
    }

    /// True when the kernel holds the prefix route of an IPv4 primary under
    /// the key of `r` in the main table, which the model does not keep for
    /// addresses a plan adds (fib_add_ifaddr): on a link that is up and no
    /// loopback, of a primary without noprefixroute whose prefix is more than
    /// its own address (a peer's, for a peer address), with the address's
    /// metric and no TOS (law seed 7190092097876389113: EEXIST half-way).
    fn has_prefix_route(&self, r: &Route) -> bool {
        if r.table != super::RT_TABLE_MAIN
            || !r.destination.is_ipv4()
            || r.source.is_some()
            || r.tos != 0
        {
            return false;
        }
        let priority = effective_priority(r);
        self.addresses.iter().any(|a| {
            let on = a.peer.unwrap_or(a.address.addr());
            a.address.is_ipv4()
                && !a.is_secondary()
                && a.flags & IFA_F_NOPREFIXROUTE == 0
                && (on != a.address.addr() || a.address.prefix() < 32)
                && a.metric.unwrap_or(0) == priority
                && IpNet::new(on, a.address.prefix()).is_ok_and(|n| n.network() == r.destination)
                && self.link(&a.ifname).is_some_and(|l| l.up)
                && !self.is_loopback(&a.ifname)
        })
    }

    /// True when the kernel refuses `gw` as a gateway for what it is: a
    /// local address (IPv4 on-link, IPv6 always; fib_check_nh_v4_gw,
    /// ip6_validate_gw) or, on-link, a broadcast address (an IPv4 on-link
    /// gateway must be unicast, inet_addr_type_dev_table).
    fn bad_gateway(&self, gw: IpAddr, onlink: bool) -> bool {
        (local_gateway_refused(gw, onlink) && self.is_local(gw))
            || (onlink && gw.is_ipv4() && self.broadcasts().contains(&gw))
    }

    /// The IPv4 broadcast addresses the kernel has (fib_add_ifaddr): of
    /// each address on a link that is up, the one it was given, and that of
    /// its prefix for a primary shorter than /31.
    fn broadcasts(&self) -> Vec<IpAddr> {
        let mut v = Vec::new();
        for a in self.addresses.iter().filter(|a| a.address.is_ipv4()) {
            if !self.link(&a.ifname).is_some_and(|l| l.up) {
                continue;
            }
            if let Some(b) = a.broadcast.filter(|b| !b.is_broadcast()) {
                v.push(IpAddr::V4(b));
            }
            if let (false, true, IpAddr::V4(n)) = (
                a.is_secondary(),
                a.address.prefix() < 31,
                a.address.network().addr(),
            ) {
                let host = u32::MAX >> a.address.prefix();
                v.push(IpAddr::V4(std::net::Ipv4Addr::from(u32::from(n) | host)));
            }
        }
        v
    }

    /// True when `gw` is inside a prefix connected through `oif`: of an
    /// address there, or of a static route through it without a gateway (in
    /// table `table` or one the kernel's rules look up).
    fn reaches(&self, oif: &IfName, gw: IpAddr, table: u32) -> bool {
        let by_address = self.addresses_of(oif).any(|a| {
            let max = if a.address.is_ipv4() { 32 } else { 128 };
            a.address.is_ipv4() == gw.is_ipv4()
                && a.address.prefix() < max
                && a.flags & IFA_F_NOPREFIXROUTE == 0
                && IpNet::new(a.peer.unwrap_or(a.address.addr()), a.address.prefix())
                    .is_ok_and(|n| n.contains(gw))
        });
        // Not the kernel's own prefix routes, which go with their address
        // in the kernel and which the model does not follow: the address
        // says it.
        let by_route = self.routes.iter().any(|r| {
            !r.is_kernel_made()
                && r.oif.as_ref() == Some(oif)
                && r.gateway.is_none()
                && r.multipath.is_empty()
                && r.kind == 1
                && r.destination.is_ipv4() == gw.is_ipv4()
                && (r.table == table || (253..=255).contains(&r.table))
                && r.destination.contains(gw)
        });
        by_address || by_route
    }

    fn check_free(&self, op: &Op, name: &IfName) -> Result<()> {
        if self.has_link(name) {
            return Err(Error::exists(op.describe(), format!("interface {name}")));
        }
        Ok(())
    }

    /// Where the kernel puts a new address in its link's list
    /// (`__inet_insert_ifa`), which decides the labels a rename gives: an
    /// IPv4 primary goes after the last primary of a scope at least as
    /// narrow (host 254, link 253, global 0), or first when there is none;
    /// a secondary, and any IPv6 address, goes last.
    fn insertion_point(&self, a: &Address) -> usize {
        if !a.address.is_ipv4() || a.is_secondary() {
            return self.addresses.len();
        }
        let mut first = None;
        let mut after = None;
        for (i, b) in self.addresses.iter().enumerate() {
            if b.ifname != a.ifname || !b.address.is_ipv4() {
                continue;
            }
            first.get_or_insert(i);
            if !b.is_secondary() && a.scope <= b.scope {
                after = Some(i + 1);
            }
        }
        after.or(first).unwrap_or(self.addresses.len())
    }

    fn take_addresses(&mut self, pred: impl Fn(&Address) -> bool) -> Vec<Address> {
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.addresses)
            .into_iter()
            .partition(|a| pred(a));
        self.addresses = kept;
        gone.into_iter().filter(|a| !a.is_kernel_made()).collect()
    }

    /// Takes from the routes through link `name` (of one family, if
    /// `ipv4` says) what the kernel takes when it stops sending through it:
    /// a single-path route goes; a multipath route goes when the link went
    /// down (or lost IPv4) and all its hops are now down, or when the link
    /// went away (deleted, or IPv6 off) for IPv4; an IPv6 multipath route
    /// is a set of siblings and loses only the hops through a link that
    /// went away, unless none is left.
    fn cut_routes(&mut self, name: &IfName, ipv4: Option<bool>, how: Cut, removed: &mut Removed) {
        let mut kept = Vec::with_capacity(self.routes.len());
        for r in std::mem::take(&mut self.routes) {
            if !r.uses(name) || ipv4.is_some_and(|v4| r.destination.is_ipv4() != v4) {
                kept.push(r);
                continue;
            }
            // A hop is dead when its link went down or, for IPv4, lost its
            // last address (fib_sync_down_dev marks it RTNH_F_DEAD), until
            // the link comes up or gets an IPv4 address again (fib_sync_up):
            // the kernel flushes a route all of whose hops are dead.
            let dead = |h: &NextHop| {
                h.flags & RTNH_F_DEAD != 0
                    || h.oif
                        .as_ref()
                        .is_none_or(|o| o == name || !self.link(o).is_some_and(|l| l.up))
            };
            let stays = match how {
                _ if r.multipath.is_empty() => None,
                Cut::Down if r.multipath.iter().all(dead) => None,
                Cut::Down => Some(Route {
                    multipath: r
                        .multipath
                        .iter()
                        .map(|h| match h.oif.as_ref() == Some(name) {
                            true => NextHop {
                                flags: h.flags | RTNH_F_DEAD,
                                ..h.clone()
                            },
                            false => h.clone(),
                        })
                        .collect(),
                    ..r.clone()
                }),
                Cut::Gone if r.destination.is_ipv4() => None,
                Cut::Gone => {
                    let hops: Vec<NextHop> = r
                        .multipath
                        .iter()
                        .filter(|h| h.oif.as_ref() != Some(name))
                        .cloned()
                        .collect();
                    reduced(&r, hops)
                }
            };
            match stays {
                Some(now) => {
                    if !same_route(&now, &r) && !r.is_kernel_made() {
                        removed.reduced.push((now.clone(), r));
                    }
                    kept.push(now);
                }
                None if r.is_kernel_made() => {}
                None => removed.routes.push(r),
            }
        }
        self.routes = kept;
    }

    /// Link `name` came up, or got an IPv4 address while up: the hops
    /// through it (of one family, if `ipv4` says) are alive again
    /// (fib_sync_up, rt6_sync_up).
    fn revive_hops(&mut self, name: &IfName, ipv4: Option<bool>) {
        for r in self.routes.iter_mut() {
            if ipv4.is_some_and(|v4| r.destination.is_ipv4() != v4) {
                continue;
            }
            for h in r.multipath.iter_mut() {
                if h.oif.as_ref() == Some(name) {
                    h.flags &= !RTNH_F_DEAD;
                }
            }
        }
    }

    fn take_routes(&mut self, pred: impl Fn(&Route) -> bool) -> Vec<Route> {
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.routes)
            .into_iter()
            .partition(|r| pred(r));
        self.routes = kept;
        gone.into_iter().filter(|r| !r.is_kernel_made()).collect()
    }

    fn rename(&mut self, from: &IfName, to: &IfName) {
        let re = |n: &mut IfName| {
            if n == from {
                *n = to.clone();
            }
        };
        for l in &mut self.links {
            re(&mut l.name);
            l.master.as_mut().map(re);
            l.peer.as_mut().map(re);
        }
        // The kernel relabels IPv4 addresses (inetdev_changename), in the
        // order of its list: the first takes the new name; the n-th (counting
        // from 1, so the second is n = 2) the new name plus its old
        // ":suffix", or ":n" when it had none, the name shortened so that the
        // label fits in 15 bytes. (The kernel shortens by bytes; a label here
        // is text, so a multi-byte character that would be cut goes whole.)
        let mut n = 0usize;
        for a in &mut self.addresses {
            if &a.ifname != from {
                continue;
            }
            a.ifname = to.clone();
            if !a.address.is_ipv4() {
                continue;
            }
            n += 1;
            let label = if n == 1 {
                to.to_string()
            } else {
                let old = a.label.clone().unwrap_or_else(|| from.to_string());
                let suffix = old
                    .find(':')
                    .map(|i| old[i..].to_string())
                    .unwrap_or_else(|| format!(":{n}"));
                let room = crate::names::IFNAME_MAX.saturating_sub(suffix.len());
                let mut base = to.to_string();
                while base.len() > room {
                    base.pop();
                }
                base + &suffix
            };
            a.label = Some(label);
        }
        for r in &mut self.routes {
            r.oif.as_mut().map(re);
            for h in &mut r.multipath {
                h.oif.as_mut().map(re);
            }
        }
    }
}

/// How a link stops carrying routes (see [`Snapshot::cut_routes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// It went down, or lost its last IPv4 address.
    Down,
    /// It went away, or lost IPv6.
    Gone,
}

/// IPv6 multipath route `r` with only `hops` left: none, or one, which the
/// kernel then shows as a plain route.
fn reduced(r: &Route, hops: Vec<NextHop>) -> Option<Route> {
    match hops.as_slice() {
        [] => None,
        [h] => Some(Route {
            gateway: h.gateway,
            oif: h.oif.clone(),
            flags: r.flags | u32::from(h.flags),
            multipath: Vec::new(),
            ..r.clone()
        }),
        _ => Some(Route {
            multipath: hops,
            ..r.clone()
        }),
    }
}

fn invalid_mac(op: &Op, mac: crate::names::MacAddr) -> Error {
    kernel_errno(
        op,
        libc::EADDRNOTAVAIL,
        format!("{mac} is no Ethernet address a device can have"),
    )
}

fn new_link(name: &IfName, kind: LinkKind, info_kind: &'static str) -> Link {
    Link {
        info_kind: Some(info_kind.into()),
        oper: "down".into(),
        ..Link::new(0, name.clone(), kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::address;

    fn n(s: &str) -> IfName {
        s.parse().expect("a valid name")
    }

    fn bridge(name: &str) -> Op {
        Op::CreateBridge {
            name: n(name),
            mac: None,
            stp: false,
            forward_delay: 0,
        }
    }

    fn labels(s: &Snapshot, dev: &str) -> Vec<(String, String)> {
        s.addresses_of(&n(dev))
            .filter(|a| a.address.is_ipv4())
            .map(|a| (a.address.to_string(), a.label.clone().unwrap_or_default()))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, l)| (a.to_string(), l.to_string()))
            .collect()
    }

    /// Measured on Linux 6.18: `ip addr add` 10.0.0.1/24, 10.0.0.2/24,
    /// 10.0.1.1/24, `10.0.2.1/24 label A:x`, then `127.0.0.5/8 scope host`
    /// lists the host-scope primary first, the primaries in order and the
    /// secondary last; `ip link set A name B` then labels them B, B:2, B:3,
    /// B:x and B:5.
    #[test]
    fn rename_relabels_in_the_kernels_order_and_numbering() {
        let mut s = Snapshot::default();
        s.apply(&bridge("A")).unwrap();
        for (a, l) in [
            ("10.0.0.1/24", None),
            ("10.0.0.2/24", None),
            ("10.0.1.1/24", None),
            ("10.0.2.1/24", Some("A:x")),
        ] {
            s.apply(&Op::add_address(address("A", a, l))).unwrap();
        }
        let mut lo = address("A", "127.0.0.5/8", None);
        lo.scope = 254;
        s.apply(&Op::add_address(lo)).unwrap();
        s.apply(&Op::Rename {
            name: n("A"),
            to: n("B"),
        })
        .unwrap();
        assert_eq!(
            labels(&s, "B"),
            pairs(&[
                ("127.0.0.5/8", "B"),
                ("10.0.0.1/24", "B:2"),
                ("10.0.1.1/24", "B:3"),
                ("10.0.2.1/24", "B:x"),
                ("10.0.0.2/24", "B:5"),
            ])
        );
    }

    /// A new name whose last character would be cut to make room for a
    /// label's suffix loses that character whole (this panicked).
    #[test]
    fn rename_to_a_long_multibyte_name_shortens_labels_by_characters() {
        let mut s = Snapshot::default();
        s.apply(&bridge("A")).unwrap();
        s.apply(&Op::add_address(address("A", "192.0.2.1/24", None)))
            .unwrap();
        s.apply(&Op::add_address(address("A", "198.51.100.1/24", None)))
            .unwrap();
        // 15 bytes; "B:2" must fit in 15, so the name is cut to 13 bytes,
        // inside the seventh 'é': six are kept.
        s.apply(&Op::Rename {
            name: n("A"),
            to: n("éééééééa"),
        })
        .unwrap();
        assert_eq!(
            labels(&s, "éééééééa"),
            pairs(&[
                ("192.0.2.1/24", "éééééééa"),
                ("198.51.100.1/24", "éééééé:2"),
            ])
        );
    }

    fn up(name: &str) -> Op {
        Op::SetUp {
            name: n(name),
            up: true,
        }
    }

    fn static_routes(s: &Snapshot) -> Vec<String> {
        s.routes.iter().map(|r| r.to_string()).collect()
    }

    /// Measured on Linux 6.18: a route whose `src` is still local elsewhere
    /// stays when one address with that IP goes; it goes with the last one,
    /// and with a secondary that goes because its primary went.
    #[test]
    fn routes_preferring_a_source_go_with_its_last_address() {
        let mut s = Snapshot::default();
        for l in ["A", "B", "C"] {
            s.apply(&bridge(l)).unwrap();
            s.apply(&up(l)).unwrap();
        }
        for (dev, a) in [
            ("A", "10.0.0.1/24"),
            ("A", "10.9.0.1/24"),
            ("A", "10.9.0.2/24"),
            ("B", "10.0.0.1/32"),
            ("C", "10.1.0.1/24"),
        ] {
            s.apply(&Op::add_address(address(dev, a, None))).unwrap();
        }
        let mut via_c = crate::sandbox::route("192.0.2.0/24", None, "C", None, 254);
        via_c.prefsrc = Some("10.0.0.1".parse().unwrap());
        let mut via_c2 = crate::sandbox::route("198.51.100.0/24", None, "C", None, 254);
        via_c2.prefsrc = Some("10.9.0.2".parse().unwrap());
        s.apply(&Op::add_route(via_c.clone())).unwrap();
        s.apply(&Op::add_route(via_c2.clone())).unwrap();

        let r = s
            .apply(&Op::del_address(address("A", "10.0.0.1/24", None)))
            .unwrap();
        assert!(r.routes.is_empty(), "10.0.0.1 is still on B: {r:?}");
        assert_eq!(s.routes.len(), 2);

        let r = s
            .apply(&Op::del_address(address("B", "10.0.0.1/32", None)))
            .unwrap();
        assert_eq!(r.routes, vec![via_c]);

        // 10.9.0.2 is a secondary of 10.9.0.1: it goes with it, and so does
        // the route preferring it.
        let r = s
            .apply(&Op::del_address(address("A", "10.9.0.1/24", None)))
            .unwrap();
        assert_eq!(r.addresses.len(), 1);
        assert_eq!(r.routes, vec![via_c2]);
        assert!(static_routes(&s).is_empty());
    }

    /// Measured on Linux 6.18: a tun device in layer-3 mode has no MAC and
    /// refuses one (EOPNOTSUPP); a bridge the plan creates takes one.
    /// Found by the recovery law (seed 4453649924940048482) on Linux 6.18:
    /// after `ip addr add 203.0.113.5/24 dev lo`, `ip route add
    /// 203.0.113.5/32 dev lo table local` meets the kernel's own local
    /// route: EEXIST, as do its prefix and broadcast; an address on a link
    /// that is down keeps its local route, not its broadcast. The model keeps no such routes for addresses a plan
    /// adds, so it must know them.
    /// Peer addresses with the same peer are primary and secondary, and
    /// deleting the primary takes the secondary with it; one with another
    /// peer stays (measured on 6.18 with promote_secondaries off, the
    /// default). The model swept secondaries by address alone and kept it
    /// (model law: plan then undo swapped primary and secondary).
    #[test]
    fn a_peer_primary_takes_its_secondaries_with_it() {
        let peer = |a: &str, p: &str| {
            let mut x = address("A", a, None);
            x.peer = Some(p.parse().unwrap());
            x
        };
        let mut s = Snapshot::default();
        s.apply(&bridge("A")).unwrap();
        for a in [
            peer("192.0.2.4/32", "192.0.2.200"),
            peer("192.0.2.3/32", "192.0.2.200"),
            peer("192.0.2.5/32", "192.0.2.201"),
        ] {
            s.apply(&Op::add_address(a)).unwrap();
        }
        let secondary = |s: &Snapshot, a: &str| {
            s.addresses
                .iter()
                .find(|x| x.address.to_string() == a)
                .map(|x| x.is_secondary())
        };
        assert_eq!(secondary(&s, "192.0.2.3/32"), Some(true));
        assert_eq!(secondary(&s, "192.0.2.5/32"), Some(false));
        let removed = s
            .apply(&Op::del_address(peer("192.0.2.4/32", "192.0.2.200")))
            .unwrap();
        assert_eq!(removed.addresses.len(), 1);
        assert_eq!(secondary(&s, "192.0.2.3/32"), None);
        assert_eq!(secondary(&s, "192.0.2.5/32"), Some(false));
    }

    /// An IPv4 primary added on a link that is up brings a prefix route in
    /// the main table with the address's metric: a route of that key added
    /// after it gets EEXIST (law seed 7190092097876389113), one with another
    /// metric does not, nor one of a link that is down.
    #[test]
    fn a_route_in_the_main_table_meets_an_addresss_prefix_route() {
        let mut s = Snapshot::default();
        for b in ["A", "B", "C"] {
            s.apply(&bridge(b)).unwrap();
        }
        s.apply(&up("A")).unwrap();
        s.apply(&up("B")).unwrap();
        s.apply(&Op::add_address(address("A", "198.51.100.3/24", None)))
            .unwrap();
        s.apply(&Op::add_address(address("C", "203.0.113.3/24", None)))
            .unwrap();
        let route = |dest: &str, dev: &str, metric: Option<u32>| {
            let mut r = crate::sandbox::route(dest, None, dev, metric, 254);
            r.scope = 253;
            Op::add_route(r)
        };
        let e = s
            .clone()
            .apply(&route("198.51.100.0/24", "B", None))
            .unwrap_err();
        assert!(e.to_string().contains("exists already"), "{e}");
        s.clone()
            .apply(&route("198.51.100.0/24", "B", Some(100)))
            .unwrap();
        s.clone()
            .apply(&route("203.0.113.0/24", "B", None))
            .unwrap();
    }

    #[test]
    fn a_route_in_the_local_table_meets_an_addresss_own() {
        let mut s = Snapshot::default();
        s.apply(&bridge("lo0")).unwrap();
        let lo = s.link_mut(&n("lo0")).unwrap();
        lo.kind = LinkKind::Other;
        lo.mac = Some(MacAddr([0; 6]));
        lo.up = true;
        s.apply(&Op::add_address(address("lo0", "203.0.113.5/24", None)))
            .unwrap();
        let route = |dest: &str| {
            let mut r = crate::sandbox::route(dest, None, "lo0", None, 255);
            r.scope = 253;
            Op::add_route(r)
        };
        for dest in ["203.0.113.5/32", "203.0.113.0/24", "203.0.113.255/32"] {
            let e = s.clone().apply(&route(dest)).unwrap_err();
            assert!(e.to_string().contains("exists already"), "{dest}: {e}");
        }
        s.apply(&route("203.0.113.6/32")).unwrap();
        // An address's own local route stays while its link is down.
        s.apply(&bridge("d0")).unwrap();
        s.apply(&Op::add_address(address("d0", "198.18.9.1/24", None)))
            .unwrap();
        let e = s.clone().apply(&route("198.18.9.1/32")).unwrap_err();
        assert!(e.to_string().contains("exists already"), "{e}");
        s.apply(&route("198.18.9.255/32")).unwrap();
    }

    #[test]
    fn only_links_with_a_mac_take_one() {
        let mut s = Snapshot::default();
        s.apply(&bridge("br")).unwrap();
        let mut tun = new_link(&n("tn0"), LinkKind::Tun, "tun");
        tun.index = 7;
        s.links.push(tun);
        let mac = "02:00:00:00:00:01".parse().unwrap();
        let e = s
            .apply(&Op::SetMac {
                name: n("tn0"),
                mac,
            })
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EOPNOTSUPP));
        assert_eq!(s.link(&n("tn0")).unwrap().mac, None);
        s.apply(&Op::SetMac { name: n("br"), mac }).unwrap();
    }

    /// Measured on Linux 6.18: `ip link set A mtu 1200` removes A's IPv6
    /// addresses and IPv6 routes, keeps its IPv4 ones; then `ip -6 addr add`
    /// fails with EINVAL and `ip -6 route add ... dev A` with ENODEV.
    /// Loopback (maxmtu 0) takes an MTU above 65535.
    #[test]
    fn an_mtu_below_1280_turns_ipv6_off() {
        let mut s = Snapshot::default();
        s.apply(&bridge("A")).unwrap();
        s.apply(&up("A")).unwrap();
        let v6 = address("A", "2001:db8::1/64", None);
        let v4 = address("A", "10.0.0.1/24", None);
        let r6 = crate::sandbox::route("2001:db8:5::/48", None, "A", None, 254);
        let r4 = crate::sandbox::route("192.0.2.0/24", None, "A", None, 254);
        for op in [
            Op::add_address(v6.clone()),
            Op::add_address(v4),
            Op::add_route(r6.clone()),
            Op::add_route(r4),
        ] {
            s.apply(&op).unwrap();
        }
        let mtu = |mtu| Op::SetMtu { name: n("A"), mtu };
        let r = s.apply(&mtu(1200)).unwrap();
        assert_eq!(r.addresses, vec![v6.clone()]);
        assert_eq!(r.routes, vec![r6.clone()]);
        assert_eq!((s.addresses.len(), s.routes.len()), (1, 1));
        let e = s.apply(&Op::add_address(v6.clone())).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL));
        let e = s.apply(&Op::add_route(r6.clone())).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV));
        s.apply(&mtu(1280)).unwrap();
        s.apply(&Op::add_address(v6)).unwrap();
        s.apply(&Op::add_route(r6)).unwrap();

        let mut lo = new_link(&n("lo"), LinkKind::Other, "");
        lo.index = 1;
        lo.mtu = 65536;
        lo.min_mtu = Some(0);
        s.links.push(lo);
        s.apply(&Op::SetMtu {
            name: n("lo"),
            mtu: 70000,
        })
        .unwrap();
        // A bridge the plan creates has the kernel's maximum, 65535.
        assert!(s.apply(&mtu(65536)).is_err());
    }
}
