//! The host's network state as plain data: links, addresses and routes, read
//! in one call by [`Snapshot::read`] (the equivalent of `ip -d link show`,
//! `ip addr show` and `ip route show table all` together).
//!
//! A snapshot refers to links by name, as people do; kernel indices are kept
//! for information and for addressing requests, but two snapshots compare equal
//! when the same names carry the same state (see [`compare`]). A snapshot can
//! also apply an [`Op`](crate::op::Op) in memory ([`apply`]), which is how
//! plans are checked without a kernel.

pub mod apply;
pub mod compare;
mod display;

use std::borrow::Cow;
use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::fasthash::FastMap;
use crate::names::{IfName, IpNet, MacAddr};

pub use display::{addr_flag_names, route_protocol_name, route_scope_name, route_type_name};

/// What kind of device a link is, as far as xenbr cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// A Linux bridge (`ip link add type bridge`).
    Bridge,
    /// One end of a veth pair.
    Veth,
    /// A tun or tap device (how Xen's qemu backends appear).
    Tun,
    /// Anything else: a physical NIC, loopback, a tunnel.
    Other,
}

/// Traffic counters of a link (`ip -s link`). Never compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

/// Bridge settings xenbr manages (`ip -d link show type bridge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeInfo {
    /// Spanning tree on (`stp_state 1`).
    pub stp: bool,
    /// Forward delay in centiseconds (`forward_delay`, as the kernel reports it).
    pub forward_delay: u32,
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The kernel's interface index (0 for a link a plan will create).
    pub index: u32,
    /// Its name.
    pub name: IfName,
    /// Its kind.
    pub kind: LinkKind,
    /// The driver's kind string (`IFLA_INFO_KIND`), when the kernel gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_kind: Option<Cow<'static, str>>,
    /// Its hardware address, when it has one of six bytes.
    pub mac: Option<MacAddr>,
    /// Its MTU.
    pub mtu: u32,
    /// The smallest MTU the device accepts, when the kernel says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_mtu: Option<u32>,
    /// The largest MTU the device accepts, when the kernel says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mtu: Option<u32>,
    /// Administratively up (`ip link set up`).
    pub up: bool,
    /// Operational state (`up`, `down`, `lowerlayerdown`, `unknown`, ...). Never compared.
    pub oper: Cow<'static, str>,
    /// The bridge (or other master) this link is a port of.
    pub master: Option<IfName>,
    /// For a veth end: the other end's name when it is in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<IfName>,
    /// For a veth end whose other end lives in another namespace.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub peer_elsewhere: bool,
    /// For a bridge: its settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeInfo>,
    /// For a bridge: its MAC is known to be the kernel's choice (the
    /// smallest of its ports', all zeros without ports), which follows its
    /// ports until one is set: read as all zeros, or computed from its
    /// ports since. Nothing in netlink says so otherwise. Never compared.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mac_follows_ports: bool,
    /// For a bridge: its MTU is known to have been set (by an op of the
    /// plan), so the kernel keeps it whatever its ports. Nothing in netlink
    /// says so: for a bridge read from the kernel this is false, and the
    /// model takes one whose MTU is its ports' smallest to follow them.
    /// Never compared.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mtu_set: bool,
    /// Traffic counters. Never compared.
    pub stats: Counters,
}

/// One IPv4 or IPv6 address on a link (`ip addr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// The link that carries it.
    pub ifname: IfName,
    /// The local address with its prefix length, `192.0.2.10/24`.
    pub address: IpNet,
    /// The peer of a point-to-point address, when it differs from the local one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpAddr>,
    /// IPv4 broadcast address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<Ipv4Addr>,
    /// IPv4 label (`eth0:1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Scope (0 global, 253 link, 254 host).
    pub scope: u8,
    /// `IFA_F_*` flags (secondary, permanent, nodad, ...).
    pub flags: u32,
    /// Who made it (`IFA_PROTO`): 0 unknown or user, 1 loopback, 2 router
    /// advertisement, 3 link-local, others from user space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<u8>,
    /// Metric of its prefix route (`IFA_RT_PRIORITY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    /// Remaining valid lifetime in seconds, `None` for forever. Never compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_lft: Option<u32>,
    /// Remaining preferred lifetime in seconds, `None` for forever. Never compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_lft: Option<u32>,
}

/// One next hop of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
pub struct NextHop {
    /// Its gateway.
    pub gateway: Option<IpAddr>,
    /// Its output link.
    pub oif: Option<IfName>,
    /// Weight (`weight` in `ip route`, the kernel's `hops` + 1).
    pub weight: u16,
    /// `RTNH_F_*` flags (onlink, ...).
    pub flags: u8,
}

/// One route (`ip route show table all`, IPv4 and IPv6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Routing table (254 main, 255 local, ...).
    pub table: u32,
    /// Destination prefix; `0.0.0.0/0` or `::/0` for a default route.
    pub destination: IpNet,
    /// Source prefix (IPv6 source routing), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<IpNet>,
    /// Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Output link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<IfName>,
    /// Metric (`metric` in `ip route`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Who installed it (`RTPROT_*`: 2 kernel, 3 boot, 4 static, 9 ra, 16 dhcp, ...).
    pub protocol: u8,
    /// Scope (0 universe, 253 link, 254 host).
    pub scope: u8,
    /// Route type (1 unicast, 2 local, 3 broadcast, 6 blackhole, ...).
    pub kind: u8,
    /// Type of service.
    #[serde(default)]
    pub tos: u8,
    /// `RTM_F_*`/`RTNH_F_*` flags of the route (onlink, ...).
    #[serde(default)]
    pub flags: u32,
    /// Preferred source address (`src` in `ip route`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefsrc: Option<IpAddr>,
    /// Route metrics (`RTAX_*` number and value: mtu, advmss, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<(u16, u32)>,
    /// Next hops of a multipath route.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub multipath: Vec<NextHop>,
    /// IPv6 router preference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pref: Option<u8>,
    /// Seconds until it expires, for routes learnt from routers. Never compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u32>,
}

/// `RTPROT_KERNEL`: routes the kernel makes from addresses and link state.
pub const RTPROT_KERNEL: u8 = 2;
/// `IFAPROT_KERNEL_LL`: a link-local address the kernel generated.
pub const IFAPROT_KERNEL_LL: u8 = 3;
/// `IFAPROT_KERNEL_LO`: loopback's own address (::1/128; Linux 6.18 gives
/// 127.0.0.1/8 no protocol).
pub const IFAPROT_KERNEL_LO: u8 = 1;
/// `IFA_F_SECONDARY`.
pub const IFA_F_SECONDARY: u32 = 0x01;
/// Address flags that describe a passing state (DAD in progress, deprecated),
/// not configuration: never compared and never asked of the kernel.
pub const IFA_F_TRANSIENT: u32 = 0x04 | 0x08 | 0x20 | 0x40;
/// `RT_TABLE_MAIN`.
pub const RT_TABLE_MAIN: u32 = 254;

/// The local table (`ip route show table local`): the kernel's routes to
/// its own and broadcast addresses.
pub const RT_TABLE_LOCAL: u32 = 255;

impl Route {
    /// True when the kernel made this route itself (from an address, or for
    /// a link that came up) and will make it again.
    pub fn is_kernel_made(&self) -> bool {
        self.protocol == RTPROT_KERNEL
    }

    /// True when `name` is the output link of the route or of one of its hops.
    pub fn uses(&self, name: &IfName) -> bool {
        self.oif.as_ref() == Some(name)
            || self.multipath.iter().any(|h| h.oif.as_ref() == Some(name))
    }

    /// True for a default route (`0.0.0.0/0`, `::/0`).
    pub fn is_default(&self) -> bool {
        self.destination.prefix() == 0
    }
}

impl Address {
    /// True when the kernel generated this address itself and will generate
    /// it again: an IPv6 link-local on the link that carries the MAC, and
    /// loopback's ::1/128, which goes each time loopback goes down, and
    /// 127.0.0.1/8, and which both come back each time it comes up (Linux
    /// 6.18 gives the second no protocol: it is known by its value).
    pub fn is_kernel_made(&self) -> bool {
        let loopback4 = self.scope == 254
            && self.address.prefix() == 8
            && self.address.addr() == IpAddr::V4(Ipv4Addr::LOCALHOST);
        loopback4
            || matches!(self.proto, Some(IFAPROT_KERNEL_LL | IFAPROT_KERNEL_LO))
            || (self.proto.is_none()
                && matches!(self.address.addr(), IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80))
    }

    /// True for an IPv4 secondary address.
    pub fn is_secondary(&self) -> bool {
        self.flags & IFA_F_SECONDARY != 0
    }
}

/// The host's links, addresses and routes at one moment.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Every link, in the kernel's order.
    pub links: Vec<Link>,
    /// Every address, in the kernel's order (IPv4 primaries before their secondaries).
    pub addresses: Vec<Address>,
    /// Every route of every table, IPv4 then IPv6.
    pub routes: Vec<Route>,
    /// Where each name is in `links`: a cache, checked on every use and
    /// rebuilt when stale, so lookups stay O(1) on hosts with thousands of
    /// links.
    #[serde(skip)]
    positions: RefCell<FastMap<IfName, usize>>,
    /// The smallest MTU of each bridge's ports (`None`: it has none), kept
    /// only while a plan is built on this snapshot (see
    /// [`Snapshot::track_port_mtus`]), where nothing but [`Snapshot::apply`]
    /// changes it: attaching a thousand guests to one bridge would otherwise
    /// read its thousand ports for each.
    #[serde(skip)]
    port_mtus: RefCell<Option<FastMap<IfName, Option<u32>>>>,
}

impl Link {
    /// A link named `name` of kind `kind` with nothing else known: down,
    /// MTU 1500, no MAC, master, peer or driver kind, zero counters. The
    /// base the kernel reader and the model fill in.
    pub fn new(index: u32, name: IfName, kind: LinkKind) -> Link {
        Link {
            index,
            name,
            kind,
            info_kind: None,
            mac: None,
            mtu: 1500,
            min_mtu: None,
            max_mtu: None,
            up: false,
            oper: Cow::Borrowed(""),
            master: None,
            peer: None,
            peer_elsewhere: false,
            mac_follows_ports: false,
            mtu_set: false,
            bridge: None,
            stats: Counters::default(),
        }
    }
}

impl Snapshot {
    /// Reads the state of the current network namespace in one exchange of
    /// three dumps (links, addresses, routes).
    pub fn read() -> crate::Result<Snapshot> {
        crate::netlink::Socket::open()?.snapshot()
    }

    /// A snapshot of these links, addresses and routes.
    pub fn new(links: Vec<Link>, addresses: Vec<Address>, routes: Vec<Route>) -> Snapshot {
        Snapshot {
            links,
            addresses,
            routes,
            positions: RefCell::default(),
            port_mtus: RefCell::default(),
        }
    }

    fn position(&self, name: &IfName) -> Option<usize> {
        if self.links.len() < 16 {
            return self.links.iter().position(|l| &l.name == name);
        }
        let valid = |i: usize| self.links.get(i).is_some_and(|l| &l.name == name);
        let mut map = self.positions.borrow_mut();
        if let Some(&i) = map.get(name) {
            if valid(i) {
                return Some(i);
            }
        }
        // Missing or stale: the links changed since the cache was built.
        map.clear();
        map.extend(
            self.links
                .iter()
                .enumerate()
                .map(|(i, l)| (l.name.clone(), i)),
        );
        map.get(name).copied()
    }

    /// The link called `name`.
    pub fn link(&self, name: &IfName) -> Option<&Link> {
        self.position(name).map(|i| &self.links[i])
    }

    /// The link called `name`, as a mutable reference.
    pub fn link_mut(&mut self, name: &IfName) -> Option<&mut Link> {
        self.position(name).map(|i| &mut self.links[i])
    }

    /// The link whose kernel index is `index`.
    pub fn link_by_index(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    /// True when a link called `name` exists.
    pub fn has_link(&self, name: &IfName) -> bool {
        self.link(name).is_some()
    }

    /// The ports of bridge `name`, in the kernel's order.
    pub fn ports<'a>(&'a self, name: &'a IfName) -> impl Iterator<Item = &'a Link> + 'a {
        self.links
            .iter()
            .filter(move |l| l.master.as_ref() == Some(name))
    }

    /// The bridges, in the kernel's order.
    pub fn bridges(&self) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(|l| l.kind == LinkKind::Bridge)
    }

    /// The addresses on link `name`, in the kernel's order.
    pub fn addresses_of<'a>(&'a self, name: &'a IfName) -> impl Iterator<Item = &'a Address> + 'a {
        self.addresses.iter().filter(move |a| &a.ifname == name)
    }

    /// The routes that send through link `name` (as output or as a next hop).
    pub fn routes_via<'a>(&'a self, name: &'a IfName) -> impl Iterator<Item = &'a Route> + 'a {
        self.routes.iter().filter(move |r| r.uses(name))
    }

    /// The snapshot as pretty JSON (what `xenbr status --json` prints).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a snapshot always serialises")
    }
}

impl std::fmt::Debug for Snapshot {
    /// The links, addresses and routes; the lookup cache is not state.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("links", &self.links)
            .field("addresses", &self.addresses)
            .field("routes", &self.routes)
            .finish()
    }
}
