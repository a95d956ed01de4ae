//! Requests: an [`Op`](crate::op::Op) bound to kernel indices, ready to
//! encode. This is also the form the journal keeps undo steps in, so that
//! recovery addresses links by index and cannot mistake one for another after
//! a rename.

use netlink_packet_core::{DefaultNla, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, CacheInfo,
};
use netlink_packet_route::link::{
    InfoBridge, InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteMetric, RouteNextHop,
    RouteNextHopFlags, RoutePreference,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use serde::{Deserialize, Serialize};

use super::Socket;
use crate::names::{IfName, MacAddr};
use crate::state::{Address, Route};

/// How a request names its link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// By kernel index: immune to renames.
    Index(u32),
    /// By name: only for a link whose creation was journaled before its index
    /// was known.
    Name(IfName),
}

/// Attribute changes of one link, sent as one `RTM_NEWLINK`. The kernel
/// applies them in this order: MAC, MTU, name, down, master, up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetLink {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<IfName>,
    /// New MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// New MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// New master index, 0 for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<u32>,
    /// Up or down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<bool>,
}

impl SetLink {
    /// Positions of the set fields in the kernel's order.
    fn positions(&self) -> impl Iterator<Item = u8> + '_ {
        [
            self.mac.map(|_| 0),
            self.mtu.map(|_| 1),
            self.name.as_ref().map(|_| 2),
            (self.up == Some(false)).then_some(3),
            self.master.map(|_| 4),
            (self.up == Some(true)).then_some(5),
        ]
        .into_iter()
        .flatten()
    }

    /// Folds `next` into `self` when doing both in one message (in the
    /// kernel's order) is the same as doing `self` then `next`: every field of
    /// `next` comes after every field of `self` in that order.
    pub fn absorb(&mut self, next: &SetLink) -> bool {
        let last = self.positions().max();
        let first = next.positions().min();
        match (last, first) {
            (Some(l), Some(f)) if l < f => {}
            _ => return false,
        }
        // One message holds one value of each: down then up (positions 3
        // and 5) is two messages.
        let both = (self.name.is_some() && next.name.is_some())
            || (self.mac.is_some() && next.mac.is_some())
            || (self.mtu.is_some() && next.mtu.is_some())
            || (self.master.is_some() && next.master.is_some())
            || (self.up.is_some() && next.up.is_some());
        if both {
            return false;
        }
        self.name = self.name.take().or(next.name.clone());
        self.mac = self.mac.or(next.mac);
        self.mtu = self.mtu.or(next.mtu);
        self.master = self.master.or(next.master);
        self.up = self.up.or(next.up);
        true
    }
}

/// One rtnetlink request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "req", rename_all = "snake_case")]
pub enum Request {
    /// `RTM_NEWLINK` of a bridge.
    NewBridge {
        /// Name.
        name: IfName,
        /// Fixed MAC.
        mac: Option<MacAddr>,
        /// STP on.
        stp: bool,
        /// Forward delay, centiseconds.
        forward_delay: u32,
    },
    /// `RTM_NEWLINK` of a veth pair.
    NewVeth {
        /// First end.
        name: IfName,
        /// Other end.
        peer: IfName,
    },
    /// `RTM_NEWLINK` of a veth pair whose other end is created directly in
    /// another network namespace (for building sandboxes; never journaled).
    NewVethAcross {
        /// The end in this namespace.
        name: IfName,
        /// The end in the other namespace.
        peer: IfName,
        /// A file descriptor of the other namespace.
        #[serde(skip)]
        peer_netns_fd: i32,
    },
    /// `RTM_DELLINK`.
    DelLink {
        /// The link.
        target: Target,
    },
    /// `RTM_NEWLINK` changing an existing link.
    SetLink {
        /// The link.
        target: Target,
        /// The changes.
        set: SetLink,
    },
    /// `RTM_NEWADDR`.
    NewAddr {
        /// Link index.
        index: u32,
        /// The address.
        addr: Box<Address>,
    },
    /// `RTM_DELADDR`.
    DelAddr {
        /// Link index.
        index: u32,
        /// The address.
        addr: Box<Address>,
    },
    /// `RTM_NEWROUTE`.
    NewRoute {
        /// The route.
        route: Box<Route>,
        /// Output link index.
        oif: Option<u32>,
        /// Output link index of each next hop.
        hops: Vec<u32>,
    },
    /// `RTM_DELROUTE`.
    DelRoute {
        /// The route.
        route: Box<Route>,
        /// Output link index.
        oif: Option<u32>,
        /// Output link index of each next hop.
        hops: Vec<u32>,
    },
}

/// Address flags user space may ask for (`ip addr add ... nodad` etc.).
const USER_ADDR_FLAGS: u32 = 0x02 | 0x10 | 0x100 | 0x200 | 0x400;
/// Route flags user space may ask for (`onlink`).
const USER_ROUTE_FLAGS: u32 = 0x04;

impl Request {
    /// Encodes the request with `NLM_F_ACK` onto `out`; returns its sequence number.
    pub(crate) fn encode(&self, sock: &mut Socket, out: &mut Vec<u8>) -> u32 {
        let (msg, flags) = self.message();
        sock.encode(msg, flags | NLM_F_ACK, out)
    }

    /// The text for `EEXIST` on a create, naming what exists.
    pub(crate) fn exists_note(&self) -> Option<String> {
        match self {
            Request::NewBridge { name, .. } => Some(format!("interface {name} already exists")),
            Request::NewVeth { name, peer } | Request::NewVethAcross { name, peer, .. } => {
                Some(format!("interface {name} or {peer} already exists"))
            }
            Request::NewAddr { addr, .. } => {
                Some(format!("{} is already on {}", addr.address, addr.ifname))
            }
            Request::NewRoute { route, .. } => {
                Some(format!("a route to {} exists already", route.destination))
            }
            Request::SetLink { set, .. } => set
                .name
                .as_ref()
                .map(|n| format!("interface {n} already exists")),
            _ => None,
        }
    }

    fn message(&self) -> (RouteNetlinkMessage, u16) {
        let create = NLM_F_CREATE | NLM_F_EXCL;
        match self {
            Request::NewBridge {
                name,
                mac,
                stp,
                forward_delay,
            } => {
                let mut m = LinkMessage::default();
                m.attributes.push(LinkAttribute::IfName(name.to_string()));
                if let Some(mac) = mac {
                    m.attributes
                        .push(LinkAttribute::Address(mac.octets().to_vec()));
                }
                m.attributes.push(LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Bridge),
                    LinkInfo::Data(InfoData::Bridge(vec![
                        InfoBridge::StpState(u32::from(*stp).into()),
                        InfoBridge::ForwardDelay(*forward_delay),
                    ])),
                ]));
                (RouteNetlinkMessage::NewLink(m), create)
            }
            Request::NewVeth { name, peer } => (
                RouteNetlinkMessage::NewLink(veth_msg(name, peer, None)),
                create,
            ),
            Request::NewVethAcross {
                name,
                peer,
                peer_netns_fd,
            } => (
                RouteNetlinkMessage::NewLink(veth_msg(name, peer, Some(*peer_netns_fd))),
                create,
            ),
            Request::DelLink { target } => (RouteNetlinkMessage::DelLink(target_msg(target)), 0),
            Request::SetLink { target, set } => {
                let mut m = target_msg(target);
                if let Some(n) = &set.name {
                    m.attributes.push(LinkAttribute::IfName(n.to_string()));
                }
                if let Some(mac) = set.mac {
                    m.attributes
                        .push(LinkAttribute::Address(mac.octets().to_vec()));
                }
                if let Some(mtu) = set.mtu {
                    m.attributes.push(LinkAttribute::Mtu(mtu));
                }
                if let Some(master) = set.master {
                    m.attributes.push(LinkAttribute::Controller(master));
                }
                if let Some(up) = set.up {
                    m.header.change_mask = LinkFlags::Up;
                    m.header.flags = if up {
                        LinkFlags::Up
                    } else {
                        LinkFlags::empty()
                    };
                }
                (RouteNetlinkMessage::NewLink(m), 0)
            }
            Request::NewAddr { index, addr } => (
                RouteNetlinkMessage::NewAddress(addr_msg(*index, addr, true)),
                create,
            ),
            Request::DelAddr { index, addr } => (
                RouteNetlinkMessage::DelAddress(addr_msg(*index, addr, false)),
                0,
            ),
            Request::NewRoute { route, oif, hops } => (
                RouteNetlinkMessage::NewRoute(route_msg(route, *oif, hops)),
                create,
            ),
            Request::DelRoute { route, oif, hops } => {
                let mut m = route_msg(route, *oif, hops);
                // A scope is no part of a route's identity: the kernel
                // matches it unless told RT_SCOPE_NOWHERE, as `ip route del`
                // tells it, so a route named by its key alone (scope 0)
                // would not match one of scope link or host.
                m.header.scope = RT_SCOPE_NOWHERE.into();
                (RouteNetlinkMessage::DelRoute(m), 0)
            }
        }
    }
}

/// `RT_SCOPE_NOWHERE`: in a delete, any scope.
const RT_SCOPE_NOWHERE: u8 = 255;

/// `ip link add NAME type veth peer name PEER [netns FD]`.
fn veth_msg(name: &IfName, peer: &IfName, peer_netns_fd: Option<i32>) -> LinkMessage {
    let mut p = LinkMessage::default();
    p.attributes.push(LinkAttribute::IfName(peer.to_string()));
    if let Some(fd) = peer_netns_fd {
        p.attributes.push(LinkAttribute::NetNsFd(fd));
    }
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
    ]));
    m
}

fn target_msg(target: &Target) -> LinkMessage {
    let mut m = LinkMessage::default();
    match target {
        Target::Index(i) => m.header.index = *i,
        Target::Name(n) => m.attributes.push(LinkAttribute::IfName(n.to_string())),
    }
    m
}

fn addr_msg(index: u32, a: &Address, add: bool) -> AddressMessage {
    let mut m = AddressMessage::default();
    let v4 = a.address.is_ipv4();
    m.header.family = if v4 {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.prefix_len = a.address.prefix();
    m.header.index = index;
    m.header.scope = a.scope.into();
    let ip = a.address.addr();
    if v4 || a.peer.is_some() {
        m.attributes.push(AddressAttribute::Local(ip));
    }
    m.attributes
        .push(AddressAttribute::Address(a.peer.unwrap_or(ip)));
    if !add {
        return m;
    }
    let flags = a.flags & USER_ADDR_FLAGS;
    m.header.flags = AddressHeaderFlags::from_bits_retain((flags & 0xff) as u8);
    m.attributes
        .push(AddressAttribute::Flags(AddressFlags::from_bits_retain(
            flags,
        )));
    if let Some(l) = a.label.as_ref().filter(|_| v4) {
        m.attributes.push(AddressAttribute::Label(l.clone()));
    }
    if let Some(b) = a.broadcast {
        m.attributes.push(AddressAttribute::Broadcast(b));
    }
    if let Some(p) = a.proto.filter(|p| *p != 0) {
        m.attributes.push(AddressAttribute::Protocol(p.into()));
    }
    if let Some(metric) = a.metric {
        m.attributes.push(AddressAttribute::RoutePriority(metric));
    }
    if let Some(valid) = a.valid_lft {
        let mut ci = CacheInfo::default();
        ci.ifa_valid = valid;
        ci.ifa_preferred = a.preferred_lft.unwrap_or(valid).min(valid);
        m.attributes.push(AddressAttribute::CacheInfo(ci));
    }
    m
}

fn route_addr(ip: std::net::IpAddr) -> RouteAddress {
    ip.into()
}

fn route_msg(r: &Route, oif: Option<u32>, hops: &[u32]) -> RouteMessage {
    let mut m = RouteMessage::default();
    let h: &mut RouteHeader = &mut m.header;
    h.address_family = if r.destination.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    h.destination_prefix_length = r.destination.prefix();
    h.source_prefix_length = r.source.map(|s| s.prefix()).unwrap_or(0);
    h.tos = r.tos;
    h.table = if r.table < 256 { r.table as u8 } else { 0 };
    h.protocol = r.protocol.into();
    h.scope = r.scope.into();
    h.kind = r.kind.into();
    h.flags = RouteFlags::from_bits_retain(r.flags & USER_ROUTE_FLAGS);
    let a = &mut m.attributes;
    a.push(RouteAttribute::Table(r.table));
    if r.destination.prefix() > 0 {
        a.push(RouteAttribute::Destination(route_addr(
            r.destination.addr(),
        )));
    }
    if let Some(s) = r.source {
        a.push(RouteAttribute::Source(route_addr(s.addr())));
    }
    if let Some(g) = r.gateway {
        a.push(RouteAttribute::Gateway(route_addr(g)));
    }
    if let Some(i) = oif {
        a.push(RouteAttribute::Oif(i));
    }
    // An IPv6 route without a metric gets the kernel's 1024 (ip6_route_add),
    // but a delete without one matches any: the undo of adding such a route
    // would delete the first of that prefix, one of a lower metric. Said
    // explicitly, add and delete name the same route.
    if r.priority.is_some() || !r.destination.is_ipv4() {
        a.push(RouteAttribute::Priority(
            crate::state::apply::effective_priority(r),
        ));
    }
    if let Some(s) = r.prefsrc {
        a.push(RouteAttribute::PrefSource(route_addr(s)));
    }
    if let Some(p) = r.pref {
        a.push(RouteAttribute::Preference(RoutePreference::from(p)));
    }
    if let Some(e) = r.expires {
        a.push(RouteAttribute::Expires(e));
    }
    if !r.metrics.is_empty() {
        a.push(RouteAttribute::Metrics(
            r.metrics
                .iter()
                .map(|(k, v)| RouteMetric::Other(DefaultNla::new(*k, v.to_ne_bytes().to_vec())))
                .collect(),
        ));
    }
    if !r.multipath.is_empty() {
        let nhs = r
            .multipath
            .iter()
            .zip(hops.iter().copied().chain(std::iter::repeat(0)))
            .map(|(hop, index)| {
                let mut nh = RouteNextHop::default();
                nh.flags = RouteNextHopFlags::from_bits_retain(hop.flags & USER_ROUTE_FLAGS as u8);
                nh.hops = hop.weight.saturating_sub(1).min(255) as u8;
                nh.interface_index = index;
                if let Some(g) = hop.gateway {
                    nh.attributes.push(RouteAttribute::Gateway(route_addr(g)));
                }
                nh
            })
            .collect();
        a.push(RouteAttribute::MultiPath(nhs));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_then_up_is_two_messages() {
        let mut down = SetLink {
            up: Some(false),
            ..Default::default()
        };
        let up = SetLink {
            up: Some(true),
            ..Default::default()
        };
        assert!(!down.absorb(&up));
        assert_eq!(down.up, Some(false));
    }

    #[test]
    fn absorb_follows_the_kernel_order() {
        let mut a = SetLink {
            mac: Some(MacAddr::BRIDGE_PORT),
            ..Default::default()
        };
        assert!(a.absorb(&SetLink {
            mtu: Some(1500),
            ..Default::default()
        }));
        assert!(a.absorb(&SetLink {
            master: Some(7),
            ..Default::default()
        }));
        assert!(a.absorb(&SetLink {
            up: Some(true),
            ..Default::default()
        }));
        // down after up would need a second message.
        assert!(!a.absorb(&SetLink {
            up: Some(false),
            ..Default::default()
        }));
        // a MAC after a down must not ride before it.
        let mut d = SetLink {
            up: Some(false),
            ..Default::default()
        };
        assert!(!d.absorb(&SetLink {
            mac: Some(MacAddr::BRIDGE_PORT),
            ..Default::default()
        }));
        assert!(d.absorb(&SetLink {
            master: Some(0),
            ..Default::default()
        }));
    }
}
