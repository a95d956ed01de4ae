//! Scoped snapshots: only the links an operation names (and their
//! addresses, routes and bridges), read with one `RTM_GETLINK` each,
//! pipelined, as `ip link set` reads its one device. Attaching one guest
//! interface on a host with thousands must not dump them all, twice.

use crate::fasthash::{FastMap, FastSet};

use netlink_packet_core::DecodeError;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkExtentMask, LinkInfo, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::read::{parse_link, parse_route, resolve, route_links, RawLink};
use super::Socket;
use crate::error::Result;
use crate::names::IfName;
use crate::state::{Route, Snapshot};

const RTM_NEWLINK: u16 = 16;
/// Up to this many links are read one by one; beyond, one dump is cheaper.
pub(crate) const BY_NAME_MAX: usize = 64;

/// Which part of the host a scoped snapshot holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// These links (those that do not exist are simply absent), and the
    /// bridges they are ports of.
    pub links: Vec<IfName>,
    /// Every bridge too (a dump filtered by kind).
    pub bridges: bool,
    /// The addresses of the links held.
    pub addresses: bool,
    /// The routes through the links held.
    pub routes: bool,
}

fn link_parser(ty: u16, payload: &[u8]) -> std::result::Result<Option<RawLink>, DecodeError> {
    match ty {
        RTM_NEWLINK => parse_link(payload),
        _ => Ok(None),
    }
}

fn no_stats(m: &mut LinkMessage) {
    m.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
}

impl Socket {
    /// Every bridge port of the namespace as its bridge reports it (`bridge
    /// link show`, a dump of family `AF_BRIDGE`): index, name, up, MTU, MAC,
    /// the master's index and a veth's peer index, and nothing of the rest
    /// of a link (no kind, no IPv4/IPv6 settings, no port options decoded).
    /// The kernel writes about a quarter of a link message's bytes for each
    /// port (420 against 1526 for a tap) and only for ports, which makes it
    /// the cheap way to re-read a batch of links that all end as ports.
    pub(crate) fn bridge_ports(&mut self) -> Result<Vec<RawLink>> {
        let mut m = LinkMessage::default();
        m.header.interface_family = AddressFamily::Bridge;
        self.dump(RouteNetlinkMessage::GetLink(m), "bridge ports", link_parser)
    }

    /// Reads the part of the host `scope` names. Counters are left at zero.
    pub fn snapshot_of(&mut self, scope: &Scope) -> Result<Snapshot> {
        let mut raw: Vec<RawLink> = if scope.links.len() > BY_NAME_MAX {
            let wanted: FastSet<&IfName> = scope.links.iter().collect();
            let mut m = LinkMessage::default();
            no_stats(&mut m);
            self.dump(RouteNetlinkMessage::GetLink(m), "links", link_parser)?
                .into_iter()
                .filter(|r| wanted.contains(&r.link.name))
                .collect()
        } else {
            let reqs = scope
                .links
                .iter()
                .map(|n| {
                    let mut m = LinkMessage::default();
                    m.attributes.push(LinkAttribute::IfName(n.to_string()));
                    no_stats(&mut m);
                    RouteNetlinkMessage::GetLink(m)
                })
                .collect();
            self.gets(reqs, "read links", link_parser)?
                .into_iter()
                .flatten()
                .collect()
        };
        if scope.bridges {
            let mut m = LinkMessage::default();
            m.attributes
                .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                    InfoKind::Bridge,
                )]));
            no_stats(&mut m);
            raw.extend(self.dump(RouteNetlinkMessage::GetLink(m), "bridges", link_parser)?);
        }
        let mut seen: FastSet<u32> = FastSet::default();
        raw.retain(|r| seen.insert(r.link.index));
        // The bridges the links held are ports of, and the other ends of
        // their veths, so masters and peers have names as in a full snapshot.
        let masters: Vec<u32> = raw
            .iter()
            .flat_map(|r| {
                r.master
                    .into_iter()
                    .chain(r.peer.filter(|_| !r.link.peer_elsewhere))
            })
            .filter(|m| !seen.contains(m))
            .collect::<FastSet<_>>()
            .into_iter()
            .collect();
        raw.extend(self.links_by_index(&masters, "read bridges")?);
        let names: FastMap<u32, IfName> = raw
            .iter()
            .map(|r| (r.link.index, r.link.name.clone()))
            .collect();
        let name_of = |i: u32| names.get(&i).cloned();
        let held: Vec<u32> = raw.iter().map(|r| r.link.index).collect();
        let mut addresses = Vec::new();
        if scope.addresses && held.len() <= BY_NAME_MAX {
            for i in &held {
                let mut m = AddressMessage::default();
                m.header.index = *i;
                addresses.extend(self.addresses_named(m, &name_of)?);
            }
        } else if scope.addresses {
            addresses = self.addresses_named(AddressMessage::default(), &name_of)?;
        }
        let routes = match scope.routes {
            true => self.routes_through(&held, &names)?,
            false => Vec::new(),
        };
        let links = raw.into_iter().map(|r| resolve(r, &names)).collect();
        Ok(Snapshot::new(links, addresses, routes))
    }

    /// The links with kernel indices `indices` (those gone are absent), one
    /// pipelined `RTM_GETLINK` each without counters, as `ip link show dev`
    /// reads one.
    fn links_by_index(&mut self, indices: &[u32], what: &str) -> Result<Vec<RawLink>> {
        if indices.is_empty() {
            return Ok(Vec::new());
        }
        let reqs = indices
            .iter()
            .map(|i| {
                let mut m = LinkMessage::default();
                m.header.index = *i;
                no_stats(&mut m);
                RouteNetlinkMessage::GetLink(m)
            })
            .collect();
        Ok(self
            .gets(reqs, what, link_parser)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// The routes through the links `held` (and those through no link),
    /// each hop named even when its link is not held, as in a full snapshot.
    fn routes_through(&mut self, held: &[u32], names: &FastMap<u32, IfName>) -> Result<Vec<Route>> {
        let held: FastSet<u32> = held.iter().copied().collect();
        let msgs: Vec<_> = self
            .route_messages()?
            .into_iter()
            .filter(|m| {
                let via = route_links(m);
                via.is_empty() || via.iter().any(|i| held.contains(i))
            })
            .collect();
        // The other links of multipath routes through a held one.
        let others: FastSet<u32> = msgs
            .iter()
            .flat_map(route_links)
            .filter(|i| !names.contains_key(i))
            .collect();
        let mut names = names.clone();
        let others: Vec<u32> = others.into_iter().collect();
        names.extend(
            self.links_by_index(&others, "read the links of routes")?
                .into_iter()
                .map(|r| (r.link.index, r.link.name)),
        );
        let name_of = |i: u32| names.get(&i).cloned();
        Ok(msgs
            .iter()
            .filter_map(|m| parse_route(m, &name_of))
            .collect())
    }
}
