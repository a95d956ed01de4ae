//! Reading the host: link, address and route dumps turned into a
//! [`Snapshot`]. Kernel indices are resolved to names once, at the end.

use crate::fasthash::FastMap;
use std::borrow::Cow;
use std::net::IpAddr;

use netlink_packet_core::{DecodeError, Nla, Parseable};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkHeader, LinkMessage};
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
/// An attribute's type without `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`.
const NLA_TYPE_MASK: u16 = 0x3fff;
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
        let names: FastMap<u32, IfName> = raw
            .iter()
            .map(|r| (r.link.index, r.link.name.clone()))
            .collect();
        let name_of = |i: u32| names.get(&i).cloned();
        let addresses = self.addresses_named(AddressMessage::default(), &name_of)?;
        let routes = self.routes_named(&name_of)?;
        let links = raw.into_iter().map(|r| resolve(r, &names)).collect();
        Ok(Snapshot::new(links, addresses, routes))
    }

    /// The addresses answering `msg` (every one, or one link's when its
    /// header names an index), on the links `name_of` knows.
    pub(super) fn addresses_named(
        &mut self,
        msg: AddressMessage,
        name_of: &dyn Fn(u32) -> Option<IfName>,
    ) -> Result<Vec<Address>> {
        self.dump(
            RouteNetlinkMessage::GetAddress(msg),
            "addresses",
            |ty, payload| {
                if ty != RTM_NEWADDR {
                    return Ok(None);
                }
                let a = match AddressMessage::parse(payload) {
                    Ok(a) => a,
                    Err(e) => match whole_labels(payload) {
                        Some(p) => AddressMessage::parse(&p)?,
                        None => return Err(e),
                    },
                };
                Ok(name_of(a.header.index).and_then(|name| parse_address(&a, name)))
            },
        )
    }

    /// The routes of every table, IPv4 and IPv6, through links `name_of`
    /// knows (`ip route show table all`).
    pub(super) fn routes_named(
        &mut self,
        name_of: &dyn Fn(u32) -> Option<IfName>,
    ) -> Result<Vec<Route>> {
        self.dump(
            RouteNetlinkMessage::GetRoute(RouteMessage::default()),
            "routes",
            |ty, payload| {
                if ty != RTM_NEWROUTE {
                    return Ok(None);
                }
                Ok(parse_route(&RouteMessage::parse(payload)?, name_of))
            },
        )
    }

    /// True when the kernel holds `route` as the model keys it (see
    /// [`crate::state::apply::same_route`]), its link and its hops' links
    /// given by index: one dump filtered by family, table and link, as
    /// `ip route show table T dev D` reads. A delete names "any" where a
    /// route has no gateway, metric 0 or protocol 0, so only this tells a
    /// route that is gone from another of the same prefix.
    pub(crate) fn holds_route(
        &mut self,
        route: &Route,
        oif: Option<u32>,
        hops: &[u32],
    ) -> Result<bool> {
        let mut m = RouteMessage::default();
        m.header.address_family = match route.destination.is_ipv4() {
            true => AddressFamily::Inet,
            false => AddressFamily::Inet6,
        };
        m.header.table = u8::try_from(route.table).unwrap_or(0);
        m.attributes.push(RouteAttribute::Table(route.table));
        if let Some(i) = oif {
            m.attributes.push(RouteAttribute::Oif(i));
        }
        // Links by index on both sides: a name stands for each index.
        let tag = |i: u32| format!("#{i}").parse::<IfName>().ok();
        let mut want = route.clone();
        want.oif = oif.and_then(tag);
        for (hop, i) in want.multipath.iter_mut().zip(hops) {
            hop.oif = tag(*i);
        }
        let held = self.dump(RouteNetlinkMessage::GetRoute(m), "routes", |ty, payload| {
            if ty != RTM_NEWROUTE {
                return Ok(None);
            }
            Ok(parse_route(&RouteMessage::parse(payload)?, &tag))
        })?;
        Ok(held
            .iter()
            .any(|r| crate::state::apply::same_route(&want, r)))
    }

    /// The routes of every table, as the kernel's messages.
    pub(super) fn route_messages(&mut self) -> Result<Vec<RouteMessage>> {
        self.dump(
            RouteNetlinkMessage::GetRoute(RouteMessage::default()),
            "routes",
            |ty, payload| match ty {
                RTM_NEWROUTE => RouteMessage::parse(payload).map(Some),
                _ => Ok(None),
            },
        )
    }

    /// True when a link with kernel index `index` exists (`ip link show` by index).
    pub fn link_exists(&mut self, index: u32) -> Result<bool> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        let found = self.gets(
            vec![RouteNetlinkMessage::GetLink(m)],
            "read link",
            |ty, _| Ok((ty == RTM_NEWLINK).then_some(())),
        )?;
        Ok(found.into_iter().flatten().next().is_some())
    }

    /// The MAC of the link with kernel index `index`, `None` when it has
    /// none or is gone.
    pub fn link_mac(&mut self, index: u32) -> Result<Option<MacAddr>> {
        Ok(self.link_raw(index)?.and_then(|r| r.link.mac))
    }

    /// The link with kernel index `index` as parsed (its master and peer as
    /// indices), `None` when it is gone.
    pub(crate) fn link_raw(&mut self, index: u32) -> Result<Option<RawLink>> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        let found = self.gets(
            vec![RouteNetlinkMessage::GetLink(m)],
            "read link",
            |ty, payload| match ty {
                RTM_NEWLINK => parse_link(payload),
                _ => Ok(None),
            },
        )?;
        Ok(found.into_iter().flatten().next())
    }

    /// Every link of this namespace as parsed, indices unresolved (one
    /// `RTM_GETLINK` dump, `ip link show`).
    pub(crate) fn raw_links(&mut self) -> Result<Vec<RawLink>> {
        self.dump(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            "links",
            |ty, payload| match ty {
                RTM_NEWLINK => parse_link(payload),
                _ => Ok(None),
            },
        )
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
            })
            .map_err(|e| e.about(name))?;
        reply
            .into_iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })
            .ok_or_else(|| Error::not_found(op, format!("interface {name}")).about(name))
    }
}

pub(super) fn resolve(r: RawLink, names: &FastMap<u32, IfName>) -> Link {
    let mut l = r.link;
    // All zeros is only ever the kernel's choice for a bridge without ports.
    l.mac_follows_ports = l.kind == LinkKind::Bridge && l.mac.is_some_and(|m| m.is_zero());
    l.master = r.master.and_then(|i| names.get(&i).cloned());
    if l.kind == LinkKind::Veth && !l.peer_elsewhere {
        l.peer = r.peer.and_then(|i| names.get(&i).cloned());
    }
    l
}

/// The attributes in `buf`, as `(type, value)`, flags masked off; a
/// malformed length is an error.
fn attributes(buf: &[u8]) -> impl Iterator<Item = std::result::Result<(u16, &[u8]), DecodeError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > rest.len() {
            rest = &[];
            return Some(Err(DecodeError::from(format!(
                "malformed netlink attribute of length {len}"
            ))));
        }
        let value = &rest[4..len];
        rest = &rest[((len + 3) & !3).min(rest.len())..];
        Some(Ok((kind, value)))
    })
}

fn u32_of(v: &[u8]) -> std::result::Result<u32, DecodeError> {
    v.get(..4)
        .map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")))
        .ok_or_else(|| DecodeError::from("a 4-byte attribute is too short"))
}

fn u64_at(v: &[u8], at: usize) -> u64 {
    v.get(at..at + 8)
        .map(|b| u64::from_ne_bytes(b.try_into().expect("8 bytes")))
        .unwrap_or(0)
}

/// `IF_OPER_*` as `ip` and netlink-packet-route's names spell them.
fn oper_state(v: u8) -> Cow<'static, str> {
    Cow::Borrowed(match v {
        0 => "unknown",
        1 => "notpresent",
        2 => "down",
        3 => "lowerlayerdown",
        4 => "testing",
        5 => "dormant",
        6 => "up",
        v => return Cow::Owned(format!("other({v})")),
    })
}

/// Parses the payload of an `RTM_NEWLINK` message; `None` for a link
/// without a name. Only the attributes a [`Link`] keeps are decoded, in
/// place and without allocating; the rest, which make up most of a link
/// message (IPv6 settings and statistics, bridge port details, ...), are
/// skipped unread. Decoding them through netlink-packet-route's typed
/// attributes cost a third of reading a host of 1000 links.
pub(crate) fn parse_link(payload: &[u8]) -> std::result::Result<Option<RawLink>, DecodeError> {
    let header = LinkHeader::parse(payload)?;
    let mut name = None;
    let mut link = Link {
        mtu: 0,
        up: header.flags.contains(LinkFlags::Up),
        ..Link::new(header.index, IfName::from_kernel(""), LinkKind::Other)
    };
    let mut oper = None;
    let (mut master, mut peer) = (None, None);
    for a in attributes(&payload[payload.len().min(LINK_HEADER_LEN)..]) {
        let (kind, v) = a?;
        match kind {
            IFLA_LINKINFO => parse_info(v, &mut link)?,
            IFLA_IFNAME => {
                // As netlink-packet-core's parse_string: one trailing NUL off.
                let v = v.strip_suffix(&[0]).unwrap_or(v);
                name = Some(std::str::from_utf8(v).map_err(|e| DecodeError::from(e.to_string()))?);
            }
            IFLA_ADDRESS if v.len() == 6 => {
                link.mac = Some(MacAddr(v.try_into().expect("6 bytes")));
            }
            IFLA_MTU => link.mtu = u32_of(v)?,
            IFLA_MIN_MTU => link.min_mtu = Some(u32_of(v)?),
            IFLA_MAX_MTU => link.max_mtu = Some(u32_of(v)?).filter(|m| *m > 0),
            IFLA_OPERSTATE => oper = v.first().copied(),
            IFLA_MASTER => master = Some(u32_of(v)?).filter(|i| *i > 0),
            IFLA_LINK => peer = Some(u32_of(v)?).filter(|i| *i > 0),
            IFLA_LINK_NETNSID => link.peer_elsewhere = true,
            IFLA_STATS64 => {
                // struct rtnl_link_stats64 begins rx/tx packets, rx/tx bytes.
                link.stats = Counters {
                    rx_packets: u64_at(v, 0),
                    tx_packets: u64_at(v, 8),
                    rx_bytes: u64_at(v, 16),
                    tx_bytes: u64_at(v, 24),
                }
            }
            _ => {}
        }
    }
    let Some(name) = name else {
        return Ok(None);
    };
    link.name = IfName::from_kernel(name);
    link.oper = oper_state(oper.unwrap_or(0));
    if link.kind != LinkKind::Veth {
        link.peer_elsewhere = false;
    }
    Ok(Some(RawLink { link, master, peer }))
}

/// `IFLA_LINKINFO`'s nested attributes: the driver's kind and, for a
/// bridge, the settings xenbr manages. The port's data (`IFLA_INFO_SLAVE_*`,
/// some forty bridge-port attributes on every port) is not decoded.
fn parse_info(nested: &[u8], link: &mut Link) -> std::result::Result<(), DecodeError> {
    for a in attributes(nested) {
        let (kind, v) = a?;
        match kind {
            IFLA_INFO_KIND => {
                let v = v.strip_suffix(&[0]).unwrap_or(v);
                let k = std::str::from_utf8(v).map_err(|e| DecodeError::from(e.to_string()))?;
                link.kind = match k {
                    "bridge" => LinkKind::Bridge,
                    "veth" => LinkKind::Veth,
                    "tun" => LinkKind::Tun,
                    _ => LinkKind::Other,
                };
                // The kinds a host is made of are not copied.
                link.info_kind = Some(
                    match ["bridge", "veth", "tun"].into_iter().find(|c| *c == k) {
                        Some(c) => Cow::Borrowed(c),
                        None => Cow::Owned(k.to_string()),
                    },
                );
            }
            IFLA_INFO_DATA if link.kind == LinkKind::Bridge => {
                let mut b = BridgeInfo {
                    stp: false,
                    forward_delay: 0,
                };
                for a in attributes(v) {
                    let (kind, v) = a?;
                    match kind {
                        IFLA_BR_STP_STATE => b.stp = u32_of(v)? != 0,
                        IFLA_BR_FORWARD_DELAY => b.forward_delay = u32_of(v)?,
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

fn parse_address(m: &AddressMessage, ifname: IfName) -> Option<Address> {
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
        proto: proto.or(kernel_marks_its_addresses().then_some(0)),
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

/// An address message with its IPv4 label made valid UTF-8, or `None` when
/// it was. Renaming a link relabels its IPv4 addresses with the new name
/// cut by bytes to leave room for a suffix (inetdev_changename), which can
/// cut a character in two; the piece is dropped, as the model drops the
/// character (see `state::apply`).
fn whole_labels(payload: &[u8]) -> Option<Vec<u8>> {
    const IFADDRMSG: usize = 8;
    const IFA_LABEL: u16 = 3;
    let mut out = payload.get(..IFADDRMSG)?.to_vec();
    let mut rest = &payload[IFADDRMSG..];
    let mut changed = false;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]);
        if len < 4 || len > rest.len() {
            return None;
        }
        let padded = len.next_multiple_of(4).min(rest.len());
        let value = &rest[4..len];
        let text = value.split(|b| *b == 0).next().unwrap_or_default();
        if kind == IFA_LABEL && std::str::from_utf8(text).is_err() {
            let whole: Vec<u8> = text
                .utf8_chunks()
                .flat_map(|c| c.valid().as_bytes().to_vec())
                .chain([0])
                .collect();
            let n = 4 + whole.len();
            out.extend((n as u16).to_ne_bytes());
            out.extend(kind.to_ne_bytes());
            out.extend(&whole);
            out.resize(out.len().next_multiple_of(4), 0);
            changed = true;
        } else {
            out.extend(&rest[..padded]);
        }
        rest = &rest[padded..];
    }
    changed.then_some(out)
}

/// The indices of the links a route sends through: its output link and
/// the links of its hops.
pub(super) fn route_links(m: &RouteMessage) -> Vec<u32> {
    let mut v = Vec::new();
    for a in &m.attributes {
        match a {
            RouteAttribute::Oif(i) => v.push(*i),
            RouteAttribute::MultiPath(hops) => v.extend(hops.iter().map(|h| h.interface_index)),
            _ => {}
        }
    }
    v
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
    // IPv6 gives a route that sends nowhere (blackhole, unreachable,
    // prohibit) loopback as its link; IPv4 none. It has none.
    if matches!(r.kind, RTN_BLACKHOLE | RTN_UNREACHABLE | RTN_PROHIBIT) {
        r.oif = None;
    }
    Some(r)
}

const RTN_BLACKHOLE: u8 = 6;
const RTN_UNREACHABLE: u8 = 7;
const RTN_PROHIBIT: u8 = 8;

/// True when the running kernel tags the addresses it makes itself with
/// `IFA_PROTO` (Linux 5.18 and later): an address without one was then put
/// there by hand, even a link-local one, and is recorded as such (protocol 0)
/// so that it is compared and carried over like any other.
fn kernel_marks_its_addresses() -> bool {
    static MARKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MARKS.get_or_init(|| {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut parts = release
            .trim()
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|p| p.parse::<u32>().ok());
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        (major, minor) >= (5, 18)
    })
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::Emitable;
    use netlink_packet_route::link::{InfoBridge, InfoData, InfoKind, LinkInfo, State, Stats64};

    use super::*;

    fn emit(m: &LinkMessage) -> Vec<u8> {
        let mut b = vec![0; m.buffer_len()];
        m.emit(&mut b);
        b
    }

    /// The hand-written decoder reads what netlink-packet-route writes, and
    /// skips what a Link does not keep.
    #[test]
    fn parse_link_reads_what_netlink_packet_route_writes() {
        let mut m = LinkMessage::default();
        m.header.index = 7;
        m.header.flags = LinkFlags::Up;
        let mut stats = Stats64::default();
        stats.rx_packets = 1;
        stats.tx_packets = 2;
        stats.rx_bytes = 3;
        stats.tx_bytes = 4;
        m.attributes = vec![
            LinkAttribute::IfName("xenbr0".into()),
            LinkAttribute::Address(vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff]),
            LinkAttribute::Mtu(9000),
            LinkAttribute::MinMtu(68),
            LinkAttribute::MaxMtu(65535),
            LinkAttribute::OperState(State::LowerLayerDown),
            LinkAttribute::Controller(3),
            LinkAttribute::Stats64(stats),
            LinkAttribute::TxQueueLen(1000),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Bridge),
                LinkInfo::Data(InfoData::Bridge(vec![
                    InfoBridge::HelloTime(200),
                    InfoBridge::StpState(1u32.into()),
                    InfoBridge::ForwardDelay(1500),
                ])),
            ]),
        ];
        let r = parse_link(&emit(&m)).unwrap().unwrap();
        let l = &r.link;
        assert_eq!((l.index, l.name.as_str(), l.up), (7, "xenbr0", true));
        assert_eq!(l.mac, Some(MacAddr::BRIDGE_PORT));
        assert_eq!((l.mtu, l.min_mtu, l.max_mtu), (9000, Some(68), Some(65535)));
        assert_eq!(l.oper, "lowerlayerdown");
        assert_eq!(
            (l.kind, l.info_kind.as_deref()),
            (LinkKind::Bridge, Some("bridge"))
        );
        assert_eq!(
            l.bridge,
            Some(BridgeInfo {
                stp: true,
                forward_delay: 1500
            })
        );
        assert_eq!(
            (
                l.stats.rx_packets,
                l.stats.tx_packets,
                l.stats.rx_bytes,
                l.stats.tx_bytes
            ),
            (1, 2, 3, 4)
        );
        assert_eq!((r.master, r.peer), (Some(3), None));

        let mut v = LinkMessage::default();
        v.header.index = 9;
        v.attributes = vec![
            LinkAttribute::IfName("vif1.0".into()),
            LinkAttribute::Link(10),
            LinkAttribute::LinkNetNsId(0),
            LinkAttribute::MaxMtu(0),
            LinkAttribute::OperState(State::Other(42)),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Veth)]),
        ];
        let r = parse_link(&emit(&v)).unwrap().unwrap();
        assert_eq!(
            (r.link.kind, r.link.peer_elsewhere, r.peer),
            (LinkKind::Veth, true, Some(10))
        );
        assert_eq!(
            (r.link.max_mtu, &*r.link.oper, r.link.up),
            (None, "other(42)", false)
        );

        let mut nameless = LinkMessage::default();
        nameless.attributes = vec![LinkAttribute::Mtu(1500)];
        assert!(parse_link(&emit(&nameless)).unwrap().is_none());
        // A truncated attribute is an error, not a guess.
        let mut bad = emit(&m);
        bad.truncate(LINK_HEADER_LEN + 6);
        bad[LINK_HEADER_LEN..LINK_HEADER_LEN + 2].copy_from_slice(&40u16.to_ne_bytes());
        assert!(parse_link(&bad).is_err());
    }
}
