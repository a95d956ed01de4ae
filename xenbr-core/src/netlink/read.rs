//! Reading the host: link, address and route dumps turned into a
//! [`Snapshot`]. Kernel indices are resolved to names once, at the end.

use std::collections::HashMap;
use std::net::IpAddr;

use netlink_packet_core::{DecodeError, Nla, NlasIterator, Parseable, ParseableParametrized};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridge, InfoKind, LinkAttribute, LinkFlags, LinkHeader, LinkMessage,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::Socket;
use crate::error::{Error, Result};
use crate::names::{IfName, IpNet, MacAddr};
use crate::state::{Address, BridgeInfo, Counters, Link, LinkKind, NextHop, Route, Snapshot};

/// `RTM_F_CLONED`: a cache entry, not a configured route.
const RTM_F_CLONED: u32 = 0x200;

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

/// `struct ifinfomsg`, before a link message's attributes.
const LINK_HEADER_LEN: usize = 16;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKINFO: u16 = 18;
const IFLA_STATS64: u16 = 23;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_MIN_MTU: u16 = 50;
const IFLA_MAX_MTU: u16 = 51;
/// The link attributes [`parse_link`] decodes (besides `IFLA_LINKINFO`).
const LINK_ATTRIBUTES_READ: [u16; 10] = [
    IFLA_ADDRESS,
    IFLA_IFNAME,
    IFLA_MTU,
    IFLA_LINK,
    IFLA_MASTER,
    IFLA_OPERSTATE,
    IFLA_STATS64,
    IFLA_LINK_NETNSID,
    IFLA_MIN_MTU,
    IFLA_MAX_MTU,
];
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_BR_FORWARD_DELAY: u16 = 1;
const IFLA_BR_STP_STATE: u16 = 5;

/// A link as parsed, before indices become names.
pub(crate) struct RawLink {
    pub link: Link,
    pub master: Option<u32>,
    pub peer: Option<u32>,
}

impl Socket {
    /// Reads links, addresses and routes of this namespace.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        let raw = self.dump(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            "links",
            |ty, payload| match ty {
                RTM_NEWLINK => parse_link(payload),
                _ => Ok(None),
            },
        )?;
        let names: HashMap<u32, IfName> = raw
            .iter()
            .map(|r| (r.link.index, r.link.name.clone()))
            .collect();
        let name_of = |i: u32| names.get(&i).cloned();
        let addresses = self.dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            "addresses",
            |ty, payload| {
                if ty != RTM_NEWADDR {
                    return Ok(None);
                }
                let a = AddressMessage::parse(payload)?;
                Ok(name_of(a.header.index).and_then(|name| parse_address(&a, name)))
            },
        )?;
        let routes = self.dump(
            RouteNetlinkMessage::GetRoute(RouteMessage::default()),
            "routes",
            |ty, payload| {
                if ty != RTM_NEWROUTE {
                    return Ok(None);
                }
                Ok(parse_route(&RouteMessage::parse(payload)?, &name_of))
            },
        )?;
        let links = raw.into_iter().map(|r| resolve(r, &names)).collect();
        Ok(Snapshot::new(links, addresses, routes))
    }

    /// The kernel index of the link called `name` (one `RTM_GETLINK`, as
    /// `ip link show dev NAME` does).
    pub fn link_index(&mut self, name: &IfName) -> Result<u32> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        let op = format!("read interface {name}");
        let reply = self
            .request(RouteNetlinkMessage::GetLink(msg), 0, &op, None)
            .map_err(|e| match e.kind() {
                crate::ErrorKind::NotFound => Error::not_found(&op, format!("interface {name}")),
                _ => e,
            })?;
        reply
            .into_iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })
            .ok_or_else(|| Error::not_found(op, format!("interface {name}")))
    }
}

pub(super) fn resolve(r: RawLink, names: &HashMap<u32, IfName>) -> Link {
    let mut l = r.link;
    l.master = r.master.and_then(|i| names.get(&i).cloned());
    if l.kind == LinkKind::Veth && !l.peer_elsewhere {
        l.peer = r.peer.and_then(|i| names.get(&i).cloned());
    }
    l
}

/// Parses the payload of an `RTM_NEWLINK` message; `None` for a link
/// without a name. Only the attributes a [`Link`] keeps are decoded (each
/// with netlink-packet-route's own parser); the rest, which make up most of
/// a link message (IPv6 settings and statistics, bridge port details, ...),
/// are skipped unread.
pub(crate) fn parse_link(payload: &[u8]) -> std::result::Result<Option<RawLink>, DecodeError> {
    let header = LinkHeader::parse(payload)?;
    let family = header.interface_family;
    let mut name = None;
    let mut link = Link {
        index: header.index,
        name: IfName::from_kernel(""),
        kind: LinkKind::Other,
        info_kind: None,
        mac: None,
        mtu: 0,
        min_mtu: None,
        max_mtu: None,
        up: header.flags.contains(LinkFlags::Up),
        oper: "unknown".into(),
        master: None,
        peer: None,
        peer_elsewhere: false,
        bridge: None,
        stats: Counters::default(),
    };
    let (mut master, mut peer) = (None, None);
    for nla in NlasIterator::new(&payload[payload.len().min(LINK_HEADER_LEN)..]) {
        let nla = nla?;
        if nla.kind() == IFLA_LINKINFO {
            parse_info(nla.value(), &mut link)?;
            continue;
        }
        if !LINK_ATTRIBUTES_READ.contains(&nla.kind()) {
            continue;
        }
        match LinkAttribute::parse_with_param(&nla, family)? {
            LinkAttribute::IfName(n) => name = Some(n),
            LinkAttribute::Address(b) if b.len() == 6 => {
                link.mac = Some(MacAddr(b.as_slice().try_into().expect("6 bytes")));
            }
            LinkAttribute::Mtu(v) => link.mtu = v,
            LinkAttribute::MinMtu(v) => link.min_mtu = Some(v),
            LinkAttribute::MaxMtu(v) if v > 0 => link.max_mtu = Some(v),
            LinkAttribute::OperState(s) => link.oper = format!("{s:?}").to_lowercase(),
            LinkAttribute::Controller(i) if i > 0 => master = Some(i),
            LinkAttribute::Link(i) if i > 0 => peer = Some(i),
            LinkAttribute::LinkNetNsId(_) => link.peer_elsewhere = true,
            LinkAttribute::Stats64(s) => {
                link.stats = Counters {
                    rx_packets: s.rx_packets,
                    tx_packets: s.tx_packets,
                    rx_bytes: s.rx_bytes,
                    tx_bytes: s.tx_bytes,
                }
            }
            _ => {}
        }
    }
    let Some(name) = name else {
        return Ok(None);
    };
    link.name = IfName::from_kernel(&name);
    if link.kind != LinkKind::Veth {
        link.peer_elsewhere = false;
    }
    Ok(Some(RawLink { link, master, peer }))
}

/// `IFLA_LINKINFO`'s nested attributes: the driver's kind and, for a
/// bridge, the settings xenbr manages. The port's data (`IFLA_INFO_SLAVE_*`,
/// some forty bridge-port attributes on every port) is not decoded.
fn parse_info(nested: &[u8], link: &mut Link) -> std::result::Result<(), DecodeError> {
    for nla in NlasIterator::new(nested) {
        let nla = nla?;
        match nla.kind() {
            IFLA_INFO_KIND => {
                let k = InfoKind::parse(&nla)?;
                link.kind = match k {
                    InfoKind::Bridge => LinkKind::Bridge,
                    InfoKind::Veth => LinkKind::Veth,
                    InfoKind::Tun => LinkKind::Tun,
                    _ => LinkKind::Other,
                };
                link.info_kind = Some(k.to_string());
            }
            IFLA_INFO_DATA if link.kind == LinkKind::Bridge => {
                let mut b = BridgeInfo {
                    stp: false,
                    forward_delay: 0,
                };
                for nla in NlasIterator::new(nla.value()) {
                    let nla = nla?;
                    if !matches!(nla.kind(), IFLA_BR_FORWARD_DELAY | IFLA_BR_STP_STATE) {
                        continue;
                    }
                    match InfoBridge::parse(&nla)? {
                        InfoBridge::StpState(s) => b.stp = u32::from(s) != 0,
                        InfoBridge::ForwardDelay(d) => b.forward_delay = d,
                        _ => {}
                    }
                }
                link.bridge = Some(b);
            }
            _ => {}
        }
    }
    Ok(())
}

pub(super) fn parse_address(m: &AddressMessage, ifname: IfName) -> Option<Address> {
    let (mut address, mut local, mut label, mut broadcast) = (None, None, None, None);
    let mut flags = u32::from(m.header.flags.bits());
    let (mut proto, mut metric, mut valid, mut preferred) = (None, None, None, None);
    for a in &m.attributes {
        match a {
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Broadcast(b) => broadcast = Some(*b),
            AddressAttribute::Flags(f) => flags = f.bits(),
            AddressAttribute::Protocol(p) => proto = Some(u8::from(*p)),
            AddressAttribute::RoutePriority(p) => metric = Some(*p),
            AddressAttribute::CacheInfo(c) if c.ifa_valid != u32::MAX => {
                valid = Some(c.ifa_valid);
                preferred = Some(c.ifa_preferred);
            }
            _ => {}
        }
    }
    // IFA_LOCAL is the address itself; IFA_ADDRESS is the peer when they differ.
    let mine = local.or(address)?;
    let peer = match (local, address) {
        (Some(l), Some(a)) if l != a => Some(a),
        _ => None,
    };
    Some(Address {
        ifname,
        address: IpNet::new(mine, m.header.prefix_len).ok()?,
        peer,
        broadcast,
        label,
        scope: u8::from(m.header.scope),
        flags,
        proto,
        metric,
        valid_lft: valid,
        preferred_lft: preferred,
    })
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

pub(super) fn parse_route(
    m: &RouteMessage,
    name_of: &dyn Fn(u32) -> Option<IfName>,
) -> Option<Route> {
    let h = &m.header;
    let v4 = match h.address_family {
        AddressFamily::Inet => true,
        AddressFamily::Inet6 => false,
        _ => return None,
    };
    if h.flags.bits() & RTM_F_CLONED != 0 {
        return None;
    }
    let unspecified: IpAddr = if v4 {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let mut r = Route {
        table: u32::from(h.table),
        destination: IpNet::new(unspecified, h.destination_prefix_length).ok()?,
        source: None,
        gateway: None,
        oif: None,
        priority: None,
        protocol: u8::from(h.protocol),
        scope: u8::from(h.scope),
        kind: u8::from(h.kind),
        tos: h.tos,
        flags: h.flags.bits(),
        prefsrc: None,
        metrics: Vec::new(),
        multipath: Vec::new(),
        pref: None,
        expires: None,
    };
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => {
                r.destination = IpNet::new(route_ip(d)?, h.destination_prefix_length).ok()?
            }
            RouteAttribute::Source(s) => {
                r.source = Some(IpNet::new(route_ip(s)?, h.source_prefix_length).ok()?)
            }
            RouteAttribute::Gateway(g) => r.gateway = route_ip(g),
            RouteAttribute::Oif(i) => r.oif = Some(name_of(*i)?),
            RouteAttribute::Priority(p) => r.priority = Some(*p),
            RouteAttribute::PrefSource(s) => r.prefsrc = route_ip(s),
            RouteAttribute::Table(t) => r.table = *t,
            RouteAttribute::Preference(p) => r.pref = Some(u8::from(*p)),
            RouteAttribute::CacheInfo(c) if c.expires > 0 => r.expires = Some(c.expires / 100),
            RouteAttribute::Metrics(ms) => {
                for metric in ms {
                    if metric.value_len() == 4 {
                        let mut v = [0u8; 4];
                        metric.emit_value(&mut v);
                        r.metrics.push((metric.kind(), u32::from_ne_bytes(v)));
                    }
                }
            }
            RouteAttribute::MultiPath(hops) => {
                for hop in hops {
                    let mut nh = NextHop {
                        gateway: None,
                        oif: name_of(hop.interface_index),
                        weight: u16::from(hop.hops) + 1,
                        flags: hop.flags.bits(),
                    };
                    for ha in &hop.attributes {
                        if let RouteAttribute::Gateway(g) = ha {
                            nh.gateway = route_ip(g);
                        }
                    }
                    r.multipath.push(nh);
                }
            }
            _ => {}
        }
    }
    r.metrics.sort();
    Some(r)
}
