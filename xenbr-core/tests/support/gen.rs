//! Generators for the model-law property tests: consistent random hosts
//! (links, addresses, routes) and op sequences realised against the state
//! they will apply to, mostly valid, sometimes deliberately not.
//!
//! Everything random is drawn up front as plain seeds, which proptest can
//! shrink; turning a seed into an op looks at the current state, so a shrunk
//! sequence still names links, addresses and routes that exist.
//!
//! Hosts are consistent by construction: links are built directly (the model
//! cannot create tun devices, physical NICs or veths whose peer lives
//! elsewhere), then ports, addresses and routes are added with
//! [`Snapshot::apply`], which refuses what the kernel refuses (as far as the
//! model knows), so secondaries carry the flag the model gives them and
//! routes only go through links that are up. Kernel-made entries (link-locals, `proto kernel`
//! routes) are sprinkled on top, as a snapshot read from a kernel has them.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use proptest::sample::{select, Index};

use xenbr_core::names::{IfName, IpNet, MacAddr, IFNAME_MAX};
use xenbr_core::op::{apply_with_inverse, Op};
use xenbr_core::state::apply::same_route;
use xenbr_core::state::{
    Address, BridgeInfo, Link, LinkKind, NextHop, Route, Snapshot, IFAPROT_KERNEL_LL,
    RTPROT_KERNEL, RT_TABLE_MAIN,
};

// ---------------------------------------------------------------- values

fn name_char() -> impl Strategy<Value = char> {
    prop_oneof![
        12 => select(('a'..='z').collect::<Vec<_>>()),
        3 => select(('0'..='9').collect::<Vec<_>>()),
        1 => select(('A'..='Z').collect::<Vec<_>>()),
        2 => select(vec!['.', '_', '-', '@', '+', '=', '#', '!', '~', ',']),
        // Multi-byte characters: the kernel counts bytes, not characters.
        1 => select(vec!['é', 'ß', '€']),
    ]
}

/// Builds a name from characters, keeping as many as fit in 15 bytes.
fn name_from(chars: &[char]) -> IfName {
    let mut s = String::new();
    for c in chars {
        if s.len() + c.len_utf8() > IFNAME_MAX {
            break;
        }
        s.push(*c);
    }
    if s == "." || s == ".." {
        s.push('x');
    }
    IfName::new(&s).expect("generated names follow the kernel's rules")
}

/// A random interface name the kernel accepts: 1 to 15 bytes, no `/`, `:`,
/// white space or `%`, never `.` or `..`; often short, sometimes the full
/// 15 bytes, sometimes with multi-byte characters.
pub fn ifname() -> impl Strategy<Value = IfName> {
    prop_oneof![
        3 => vec(name_char(), 1..=6),
        1 => vec(name_char(), 7..=16),
    ]
    .prop_map(|cs| name_from(&cs))
}

/// A unicast, non-zero MAC address; sometimes Xen's OUI or the bridge-port
/// address Xen gives vifs.
pub fn unicast_mac() -> impl Strategy<Value = MacAddr> {
    prop_oneof![
        6 => any::<[u8; 6]>(),
        1 => any::<[u8; 3]>().prop_map(|t| {
            let o = MacAddr::XEN_OUI;
            [o[0], o[1], o[2], t[0], t[1], t[2]]
        }),
        1 => Just(MacAddr::BRIDGE_PORT.octets()),
    ]
    .prop_map(|mut b| {
        b[0] &= 0xfe;
        if b == [0; 6] {
            b[5] = 1;
        }
        MacAddr(b)
    })
}

/// An MTU someone might set: the usual ones, the IPv6 minimum and just
/// below it, small ones, the maximum, and anything in between.
fn mtu_value() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => select(vec![1500u32, 9000, 1280, 1279, 1492, 576, 68, 65535]),
        1 => 68u32..=65535,
    ]
}

/// The name `base` if no link has it and it is not in `avoid`, or else a
/// variant of it (`base` shortened, plus `_` and a number) that is free.
pub fn fresh_name(state: &Snapshot, base: &IfName, avoid: &[&IfName]) -> IfName {
    let free = |n: &IfName| !state.has_link(n) && !avoid.contains(&n);
    if free(base) {
        return base.clone();
    }
    for i in 0u32.. {
        let suffix = format!("_{i}");
        let mut stem = base.as_str().to_string();
        while stem.len() + suffix.len() > IFNAME_MAX {
            stem.pop();
        }
        let n = IfName::new(&(stem + &suffix)).expect("a valid variant");
        if free(&n) {
            return n;
        }
    }
    unreachable!("some variant is free")
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn net(addr: IpAddr, prefix: u8) -> IpNet {
    IpNet::new(addr, prefix).expect("a valid prefix length")
}

fn broadcast_of(a: IpNet) -> Option<Ipv4Addr> {
    match a.addr() {
        IpAddr::V4(v) if a.prefix() < 31 => {
            Some(Ipv4Addr::from(u32::from(v) | (u32::MAX >> a.prefix())))
        }
        _ => None,
    }
}

/// An IPv4 label as the kernel would take it: `base` shortened so that
/// `base` + `suffix` fits in 15 bytes.
fn label_with(base: &str, suffix: &str) -> String {
    let mut stem = base.to_string();
    while stem.len() + suffix.len() > IFNAME_MAX {
        stem.pop();
    }
    stem + suffix
}

// ---------------------------------------------------------------- address seeds

/// The random material of one address; [`AddrSeed::on`] makes it an address
/// on a given link.
#[derive(Debug, Clone)]
pub struct AddrSeed {
    /// IPv6 rather than IPv4.
    pub v6: bool,
    /// Which network of the small pool (so that addresses meet in subnets).
    pub net: u8,
    /// Host part: small, so that addresses collide and become secondaries.
    pub host: u8,
    /// Which prefix length of the pool.
    pub prefix: u8,
    /// 0: no label, 1: the link's name, 2: the link's name with a suffix.
    pub label: u8,
    /// The label suffix.
    pub suffix: &'static str,
    /// Scope choice (global, link, host).
    pub scope: u8,
    /// A point-to-point peer.
    pub peer: bool,
    /// Set the broadcast address.
    pub broadcast: bool,
    /// Prefix-route metric.
    pub metric: Option<u32>,
    /// Finite lifetimes (valid, preferred).
    pub lifetimes: Option<(u32, u32)>,
    /// An IPv6 link-local address (made by the kernel when `kernel`).
    pub link_local: bool,
    /// Marked as the kernel's own (`IFAPROT_KERNEL_LL`).
    pub kernel: bool,
    /// Carries a passing state flag (tentative, deprecated).
    pub transient: bool,
}

/// A random [`AddrSeed`].
pub fn addr_seed() -> impl Strategy<Value = AddrSeed> {
    (
        (
            prop::bool::weighted(0.35),
            prop_oneof![3 => Just(0u8), 2 => 0u8..4],
            prop_oneof![6 => 1u8..=6, 1 => any::<u8>()],
            prop_oneof![3 => Just(0u8), 2 => 0u8..5],
            0u8..3,
            select(vec![":0", ":1", ":2", ":x", ":web", ":backup"]),
        ),
        (
            prop_oneof![8 => Just(0u8), 1 => Just(1), 1 => Just(2)],
            prop::bool::weighted(0.05),
            prop::bool::weighted(0.6),
            prop::option::weighted(0.15, select(vec![0u32, 100, 1024])),
            prop::option::weighted(0.1, (60u32..3600, 0u32..60)),
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.5),
            prop::bool::weighted(0.1),
        ),
    )
        .prop_map(
            |(
                (v6, net, host, prefix, label, suffix),
                (scope, peer, broadcast, metric, lifetimes, link_local, kernel, transient),
            )| AddrSeed {
                v6,
                net,
                host,
                prefix,
                label,
                suffix,
                scope,
                peer,
                broadcast,
                metric,
                lifetimes,
                link_local,
                kernel,
                transient,
            },
        )
}

impl AddrSeed {
    /// The address this seed describes, on link `ifname`.
    pub fn on(&self, ifname: &IfName) -> Address {
        let host = self.host.max(1);
        if !self.v6 {
            let nets = [[192, 0, 2], [198, 51, 100], [203, 0, 113], [10, 1, 1]];
            let [a, b, c] = nets[self.net as usize % nets.len()];
            let prefix = [24u8, 24, 25, 28, 32][self.prefix as usize % 5];
            let address = net(v4(a, b, c, host), prefix);
            let peer = self.peer.then(|| v4(a, b, c, 200));
            let label = match self.label {
                0 => None,
                1 => Some(ifname.to_string()),
                _ => Some(label_with(ifname.as_str(), self.suffix)),
            };
            return Address {
                ifname: ifname.clone(),
                address,
                peer,
                broadcast: if self.broadcast && peer.is_none() {
                    broadcast_of(address)
                } else {
                    None
                },
                label,
                scope: [0u8, 253, 254][self.scope as usize % 3],
                flags: 0x80 | if self.transient { 0x20 } else { 0 },
                proto: None,
                metric: self.metric,
                valid_lft: self.lifetimes.map(|l| l.0),
                preferred_lft: self.lifetimes.map(|l| l.1),
            };
        }
        let (address, scope, proto) = if self.link_local {
            let a = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(host));
            let proto = self.kernel.then_some(IFAPROT_KERNEL_LL);
            (net(IpAddr::V6(a), 64), 253, proto)
        } else {
            let a = Ipv6Addr::new(
                0x2001,
                0xdb8,
                u16::from(self.net),
                0,
                0,
                0,
                0,
                u16::from(host),
            );
            let prefix = [64u8, 64, 64, 48, 128][self.prefix as usize % 5];
            (net(IpAddr::V6(a), prefix), 0, None)
        };
        Address {
            ifname: ifname.clone(),
            address,
            peer: None,
            broadcast: None,
            label: None,
            scope,
            flags: 0x80 | 0x02 | if self.transient { 0x40 } else { 0 },
            proto,
            metric: self.metric,
            valid_lft: self.lifetimes.map(|l| l.0),
            preferred_lft: self.lifetimes.map(|l| l.1),
        }
    }
}

// ---------------------------------------------------------------- route seeds

/// The random material of one route; [`RouteSeed::realise`] makes it a route
/// through links that are up in a given state.
#[derive(Debug, Clone)]
pub struct RouteSeed {
    /// IPv6 rather than IPv4.
    pub v6: bool,
    /// Routing table choice.
    pub table: u8,
    /// Destination choice.
    pub dest: u8,
    /// Destination variation.
    pub dest_n: u8,
    /// Gateway, by host number.
    pub gateway: Option<u8>,
    /// Metric choice.
    pub priority: u8,
    /// `proto` choice.
    pub protocol: u8,
    /// A blackhole route (no output link).
    pub blackhole: bool,
    /// A multipath route with this many extra hops.
    pub multipath: Option<u8>,
    /// The output link (among links that are up).
    pub oif: Index,
    /// Output links of the other hops.
    pub hop_oifs: [Index; 3],
    /// Weights of the hops.
    pub weights: [u16; 3],
    /// A preferred source (among IPv4 addresses on the host).
    pub prefsrc: Option<Index>,
    /// An `mtu` route metric.
    pub mtu_metric: bool,
    /// Type of service.
    pub tos: bool,
    /// `onlink`.
    pub onlink: bool,
}

/// A random [`RouteSeed`].
pub fn route_seed() -> impl Strategy<Value = RouteSeed> {
    (
        (
            prop::bool::weighted(0.35),
            0u8..8,
            0u8..5,
            any::<u8>(),
            prop::option::weighted(0.5, 1u8..=4),
            0u8..6,
            0u8..8,
            prop::bool::weighted(0.05),
        ),
        (
            prop::option::weighted(0.12, 1u8..=2),
            any::<Index>(),
            any::<[Index; 3]>(),
            [1u16..=3, 1u16..=3, 1u16..=3],
            prop::option::weighted(0.15, any::<Index>()),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.05),
            prop::bool::weighted(0.05),
        ),
    )
        .prop_map(
            |(
                (v6, table, dest, dest_n, gateway, priority, protocol, blackhole),
                (multipath, oif, hop_oifs, weights, prefsrc, mtu_metric, tos, onlink),
            )| RouteSeed {
                v6,
                table,
                dest,
                dest_n,
                gateway,
                priority,
                protocol,
                blackhole,
                multipath,
                oif,
                hop_oifs,
                weights,
                prefsrc,
                mtu_metric,
                tos,
                onlink,
            },
        )
}

impl RouteSeed {
    fn gateway_ip(&self, n: u8) -> IpAddr {
        if self.v6 {
            if n == 4 {
                IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1))
            } else {
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)))
            }
        } else {
            v4(192, 0, 2, n)
        }
    }

    fn destination(&self) -> IpNet {
        let n = self.dest_n;
        let d = if self.v6 {
            let (a, p) = match self.dest % 5 {
                0 => (Ipv6Addr::UNSPECIFIED, 0),
                1 => (
                    Ipv6Addr::new(0x2001, 0xdb8, u16::from(n % 8), 0, 0, 0, 0, 0),
                    48,
                ),
                2 => (
                    Ipv6Addr::new(0x2001, 0xdb8, 1, u16::from(n % 8), 0, 0, 0, 0),
                    64,
                ),
                3 => (Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(n)), 128),
                _ => (
                    Ipv6Addr::new(0xfd00, u16::from(n), 0, 0, 0, 0, 0, 0),
                    16 + n % 100,
                ),
            };
            net(IpAddr::V6(a), p)
        } else {
            let (a, p) = match self.dest % 5 {
                0 => (v4(0, 0, 0, 0), 0),
                1 => (v4(10, n % 8, 0, 0), 16),
                2 => (v4(198, 51, 100, 0), 24 + n % 3),
                3 => (v4(203, 0, 113, n % 8), 32),
                _ => (v4(172, 16, n, 0), 8 + n % 25),
            };
            net(a, p)
        };
        d.network()
    }

    /// A route as this seed describes it through links that are up in
    /// `state`, or `None` when it needs an up link and there is none.
    pub fn realise(&self, state: &Snapshot) -> Option<Route> {
        let up: Vec<&Link> = state.links.iter().filter(|l| l.up).collect();
        self.realise_via(state, &up)
    }

    /// The same through `links`, up or not (for routes meant to be refused).
    pub fn realise_via(&self, state: &Snapshot, links: &[&Link]) -> Option<Route> {
        let v6 = self.v6;
        let destination = self.destination();
        let table = [
            RT_TABLE_MAIN,
            RT_TABLE_MAIN,
            RT_TABLE_MAIN,
            RT_TABLE_MAIN,
            255,
            100,
            1000,
            70000,
        ][self.table as usize % 8];
        let priority = match self.priority % 6 {
            0 => v6.then_some(1024),
            1 => Some(0),
            2 => Some(50),
            3 => Some(100),
            4 => Some(1024),
            _ => None,
        };
        // Never `proto kernel`: those are the kernel's own (see `valid_ops`).
        let protocol = [4u8, 4, 4, 3, 16, 4, 9, 186][self.protocol as usize % 8];
        let mut r = Route {
            table,
            destination,
            source: None,
            gateway: None,
            oif: None,
            priority,
            protocol,
            scope: 0,
            kind: 1,
            tos: if self.tos && !v6 { 0x10 } else { 0 },
            flags: 0,
            prefsrc: None,
            metrics: if self.mtu_metric {
                vec![(2, 1400)]
            } else {
                vec![]
            },
            multipath: vec![],
            pref: v6.then_some(0),
            expires: (protocol == 9).then_some(1800),
        };
        if self.blackhole {
            r.kind = 6;
            return Some(r);
        }
        if links.is_empty() {
            return None;
        }
        if let Some(extra) = self.multipath {
            let mut hops: Vec<NextHop> = Vec::new();
            for k in 0..=usize::from(extra) {
                let l = self.hop_oifs[k].get(links);
                hops.push(NextHop {
                    gateway: Some(self.gateway_ip(k as u8 + 1)),
                    oif: Some(l.name.clone()),
                    weight: self.weights[k],
                    flags: 0,
                });
            }
            r.multipath = hops;
        } else {
            r.oif = Some(self.oif.get(links).name.clone());
            r.gateway = self.gateway.map(|g| self.gateway_ip(g));
            if r.gateway.is_some() && self.onlink {
                r.flags = 4;
            }
            if !v6 && r.gateway.is_none() {
                r.scope = 253;
            }
        }
        if !v6 {
            if let Some(i) = &self.prefsrc {
                let locals: Vec<IpAddr> = state
                    .addresses
                    .iter()
                    .filter(|a| a.address.is_ipv4())
                    .map(|a| a.address.addr())
                    .collect();
                if !locals.is_empty() {
                    r.prefsrc = Some(*i.get(&locals));
                }
            }
        }
        Some(r)
    }
}

// ---------------------------------------------------------------- op seeds

/// Which op a seed asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// [`Op::CreateBridge`]
    CreateBridge,
    /// [`Op::CreateVeth`]
    CreateVeth,
    /// [`Op::DeleteLink`]
    DeleteLink,
    /// [`Op::Rename`]
    Rename,
    /// [`Op::SetMac`]
    SetMac,
    /// [`Op::SetMtu`]
    SetMtu,
    /// [`Op::SetMaster`]
    SetMaster,
    /// [`Op::SetUp`]
    SetUp,
    /// [`Op::AddAddress`]
    AddAddress,
    /// [`Op::DelAddress`]
    DelAddress,
    /// [`Op::AddRoute`]
    AddRoute,
    /// [`Op::DelRoute`]
    DelRoute,
}

/// The kind of `op`.
pub fn kind_of(op: &Op) -> OpKind {
    match op {
        Op::CreateBridge { .. } => OpKind::CreateBridge,
        Op::CreateVeth { .. } => OpKind::CreateVeth,
        Op::DeleteLink { .. } => OpKind::DeleteLink,
        Op::Rename { .. } => OpKind::Rename,
        Op::SetMac { .. } => OpKind::SetMac,
        Op::SetMtu { .. } => OpKind::SetMtu,
        Op::SetMaster { .. } => OpKind::SetMaster,
        Op::SetUp { .. } => OpKind::SetUp,
        Op::AddAddress(_) => OpKind::AddAddress,
        Op::DelAddress(_) => OpKind::DelAddress,
        Op::AddRoute(_) => OpKind::AddRoute,
        Op::DelRoute(_) => OpKind::DelRoute,
    }
}

/// The random material of one op; [`realise_valid`] and [`realise_invalid`]
/// turn it into an op against a state.
#[derive(Debug, Clone)]
pub struct OpSeed {
    /// Which op.
    pub kind: OpKind,
    /// Picks the link, address or route it is about.
    pub a: Index,
    /// Picks a second one (a bridge to join, a hop).
    pub b: Index,
    /// A name for a new link or a rename.
    pub name: IfName,
    /// A second new name (a veth's peer).
    pub name2: IfName,
    /// Reuse a name the host had earlier (renamed away or deleted), as
    /// `network-bridge` reuses `eth0` for the bridge.
    pub reuse: Option<Index>,
    /// A MAC to set, or to create a bridge with.
    pub mac: Option<MacAddr>,
    /// An MTU to set.
    pub mtu: u32,
    /// An on/off choice (up or down, stp, key-only delete, ...).
    pub bit: bool,
    /// A second choice.
    pub bit2: bool,
    /// The address of an address op.
    pub addr: AddrSeed,
    /// The route of a route op.
    pub route: RouteSeed,
}

fn op_kind() -> impl Strategy<Value = OpKind> {
    use OpKind::*;
    prop_oneof![
        3 => Just(CreateBridge),
        2 => Just(CreateVeth),
        3 => Just(DeleteLink),
        3 => Just(Rename),
        2 => Just(SetMac),
        2 => Just(SetMtu),
        4 => Just(SetMaster),
        5 => Just(SetUp),
        5 => Just(AddAddress),
        4 => Just(DelAddress),
        4 => Just(AddRoute),
        3 => Just(DelRoute),
    ]
}

/// A random [`OpSeed`].
pub fn op_seed() -> impl Strategy<Value = OpSeed> {
    (
        (
            op_kind(),
            any::<Index>(),
            any::<Index>(),
            ifname(),
            ifname(),
            prop::option::weighted(0.3, any::<Index>()),
        ),
        (
            prop::option::weighted(0.8, unicast_mac()),
            mtu_value(),
            any::<bool>(),
            any::<bool>(),
            addr_seed(),
            route_seed(),
        ),
    )
        .prop_map(
            |((kind, a, b, name, name2, reuse), (mac, mtu, bit, bit2, addr, route))| OpSeed {
                kind,
                a,
                b,
                name,
                name2,
                reuse,
                mac,
                mtu,
                bit,
                bit2,
                addr,
                route,
            },
        )
}

/// `len` random op seeds.
pub fn op_seeds(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<OpSeed>> {
    vec(op_seed(), len)
}

fn pick<'a, T>(i: &Index, items: &'a [T]) -> Option<&'a T> {
    (!items.is_empty()).then(|| i.get(items))
}

/// A name for a new link: one the host used to have and is free now (when the
/// seed asks for reuse and there is one), or else the seed's name made free.
fn new_name(state: &Snapshot, seen: &BTreeSet<IfName>, s: &OpSeed, base: &IfName) -> IfName {
    if let Some(i) = &s.reuse {
        let free: Vec<&IfName> = seen.iter().filter(|n| !state.has_link(n)).collect();
        if let Some(n) = pick(i, &free) {
            return (*n).clone();
        }
    }
    fresh_name(state, base, &[])
}

/// The route as `ip route del` would name it: only what the kernel matches
/// on, everything else left at its default.
pub fn route_key_only(r: &Route) -> Route {
    Route {
        protocol: 0,
        scope: 0,
        flags: 0,
        prefsrc: None,
        metrics: vec![],
        pref: None,
        expires: None,
        // No metric and metric 0 are the same to the kernel.
        priority: r.priority.or(Some(0)),
        ..r.clone()
    }
}

/// The address as `ip addr del ADDR dev NAME` names it.
pub fn address_key_only(a: &Address) -> Address {
    Address {
        broadcast: None,
        label: None,
        scope: 0,
        flags: 0,
        proto: None,
        metric: None,
        valid_lft: None,
        preferred_lft: None,
        ..a.clone()
    }
}

/// An op for seed `s` that should apply to `state`, or `None` when there is
/// nothing of the kind to act on. `seen` holds every name the host has had.
/// The model may still refuse it (a bridge joining a bridge, an address
/// already there); callers drop those.
pub fn realise_valid(state: &Snapshot, seen: &BTreeSet<IfName>, s: &OpSeed) -> Option<Op> {
    let links: Vec<&Link> = state.links.iter().collect();
    let link = pick(&s.a, &links).copied();
    Some(match s.kind {
        OpKind::CreateBridge => Op::CreateBridge {
            name: new_name(state, seen, s, &s.name),
            mac: s.mac,
            stp: s.bit,
            forward_delay: if s.bit2 { 1500 } else { 0 },
        },
        OpKind::CreateVeth => {
            let name = new_name(state, seen, s, &s.name);
            let peer = fresh_name(state, &s.name2, &[&name]);
            Op::CreateVeth { name, peer }
        }
        OpKind::DeleteLink => {
            let gone: Vec<&Link> = links
                .iter()
                .copied()
                .filter(|l| {
                    l.kind == LinkKind::Bridge || (l.kind == LinkKind::Veth && l.peer.is_some())
                })
                .collect();
            Op::DeleteLink {
                name: pick(&s.a, &gone)?.name.clone(),
            }
        }
        OpKind::Rename => {
            let l = link?;
            Op::Rename {
                name: l.name.clone(),
                to: new_name(state, seen, s, &s.name),
            }
        }
        OpKind::SetMac => Op::SetMac {
            name: link?.name.clone(),
            mac: s.mac.unwrap_or(MacAddr::BRIDGE_PORT),
        },
        OpKind::SetMtu => {
            let l = link?;
            let lo = l.min_mtu.unwrap_or(68).max(68);
            let hi = l.max_mtu.unwrap_or(65535);
            Op::SetMtu {
                name: l.name.clone(),
                mtu: s.mtu.clamp(lo, hi.max(lo)),
            }
        }
        OpKind::SetMaster => {
            let ports: Vec<&Link> = links
                .iter()
                .copied()
                .filter(|l| l.kind != LinkKind::Bridge)
                .collect();
            let port = pick(&s.a, &ports)?;
            let bridges: Vec<&Link> = state.bridges().collect();
            let master = match (&port.master, pick(&s.b, &bridges)) {
                (Some(m), _) if s.bit => Some(m.clone()),
                (Some(_), _) | (None, None) => None,
                (None, Some(b)) => Some(b.name.clone()),
            };
            Op::SetMaster {
                name: port.name.clone(),
                master,
            }
        }
        OpKind::SetUp => Op::SetUp {
            name: link?.name.clone(),
            up: s.bit || s.bit2,
        },
        OpKind::AddAddress => Op::add_address(s.addr.on(&link?.name)),
        OpKind::DelAddress => {
            let a = pick(&s.a, &state.addresses)?;
            Op::del_address(if s.bit {
                address_key_only(a)
            } else {
                a.clone()
            })
        }
        OpKind::AddRoute => Op::add_route(s.route.realise(state)?),
        OpKind::DelRoute => {
            let r = pick(&s.a, &state.routes)?;
            Op::del_route(if s.bit { route_key_only(r) } else { r.clone() })
        }
    })
}

/// An op for seed `s` that the model must refuse on `state`: about a link
/// that does not exist, creating a name that is taken, deleting what cannot
/// be recreated, an MTU out of range, a master that is no bridge, an address
/// or route that is there already or is not there, a route through a link
/// that is down.
pub fn realise_invalid(state: &Snapshot, s: &OpSeed) -> Op {
    let links: Vec<&Link> = state.links.iter().collect();
    let missing = fresh_name(state, &s.name, &[]);
    let fallback = || match s.kind {
        OpKind::SetMtu => Op::SetMtu {
            name: missing.clone(),
            mtu: 1500,
        },
        OpKind::DeleteLink => Op::DeleteLink {
            name: missing.clone(),
        },
        OpKind::AddAddress => Op::add_address(s.addr.on(&missing)),
        OpKind::SetMaster => Op::SetMaster {
            name: missing.clone(),
            master: None,
        },
        _ => Op::SetUp {
            name: missing.clone(),
            up: s.bit,
        },
    };
    let Some(link) = pick(&s.a, &links).copied() else {
        return fallback();
    };
    let op = match s.kind {
        OpKind::CreateBridge => Some(Op::CreateBridge {
            name: link.name.clone(),
            mac: s.mac,
            stp: false,
            forward_delay: 0,
        }),
        OpKind::CreateVeth => Some(Op::CreateVeth {
            name: if s.bit {
                link.name.clone()
            } else {
                missing.clone()
            },
            peer: if s.bit || s.bit2 {
                missing.clone()
            } else {
                link.name.clone()
            },
        }),
        OpKind::DeleteLink => links
            .iter()
            .find(|l| {
                matches!(l.kind, LinkKind::Tun | LinkKind::Other)
                    || (l.kind == LinkKind::Veth && l.peer.is_none())
            })
            .map(|l| Op::DeleteLink {
                name: l.name.clone(),
            }),
        OpKind::Rename => pick(&s.b, &links)
            .filter(|o| o.name != link.name)
            .map(|o| Op::Rename {
                name: link.name.clone(),
                to: o.name.clone(),
            }),
        OpKind::SetMtu => {
            // As the model reads the bounds: no maximum from the kernel is
            // none at all.
            let lo = link.min_mtu.unwrap_or(68);
            let none = if link.index == 0 {
                65535
            } else {
                i32::MAX as u32
            };
            let hi = link.max_mtu.unwrap_or(none);
            let mtu = if (s.bit || hi == none) && lo > 0 {
                lo - 1
            } else {
                hi.saturating_add(1 + s.mtu % 1000)
            };
            (mtu < lo || mtu > hi).then(|| Op::SetMtu {
                name: link.name.clone(),
                mtu,
            })
        }
        OpKind::SetMaster => {
            let other = pick(&s.b, &links).copied().unwrap_or(link);
            if other.kind != LinkKind::Bridge {
                Some(Op::SetMaster {
                    name: link.name.clone(),
                    master: Some(other.name.clone()),
                })
            } else if other.name == link.name {
                Some(Op::SetMaster {
                    name: link.name.clone(),
                    master: Some(link.name.clone()),
                })
            } else {
                match &link.master {
                    Some(m) if *m != other.name => Some(Op::SetMaster {
                        name: link.name.clone(),
                        master: Some(other.name.clone()),
                    }),
                    _ => None,
                }
            }
        }
        OpKind::AddAddress | OpKind::DelAddress => {
            if s.kind == OpKind::AddAddress && !state.addresses.is_empty() {
                Some(Op::add_address(s.a.get(&state.addresses).clone()))
            } else {
                let mut a = s.addr.on(&link.name);
                a.address = net(
                    if a.address.is_ipv4() {
                        v4(192, 0, 2, 251)
                    } else {
                        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xdead, 0, 0, 0, 0, 1))
                    },
                    a.address.prefix(),
                );
                a.peer = None;
                (!state
                    .addresses
                    .iter()
                    .any(|b| b.ifname == a.ifname && b.address == a.address))
                .then_some(Op::del_address(a))
            }
        }
        OpKind::AddRoute | OpKind::DelRoute => {
            let down: Vec<&Link> = links.iter().copied().filter(|l| !l.up).collect();
            if s.kind == OpKind::AddRoute && s.bit && !state.routes.is_empty() {
                Some(Op::add_route(s.a.get(&state.routes).clone()))
            } else if s.kind == OpKind::AddRoute && !down.is_empty() {
                let mut seed = s.route.clone();
                seed.blackhole = false;
                seed.realise_via(state, &down).map(Op::add_route)
            } else {
                let mut seed = s.route.clone();
                seed.dest = 3;
                seed.dest_n = 250;
                seed.realise(state)
                    .filter(|r| !state.routes.iter().any(|b| same_route(r, b)))
                    .map(Op::del_route)
            }
        }
        OpKind::SetMac | OpKind::SetUp => None,
    };
    op.unwrap_or_else(fallback)
}

/// Op patterns a law run may leave out because they hit a known, reported
/// gap (see `model_laws.rs`); each is off in [`Avoid::NOTHING`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Avoid {
    /// Giving a link (by creating it or renaming to it) a name that another
    /// link had earlier in the plan or on the host.
    pub name_reuse: bool,
    /// Deleting a link (or a veth whose other end) was renamed earlier in
    /// the plan.
    pub deleting_renamed: bool,
    /// Renaming a link that carries two IPv4 addresses or more.
    pub renaming_multi_ipv4: bool,
    /// Renaming at all.
    pub renaming: bool,
    /// Deleting a link that the undo of an earlier step names, or a veth at
    /// all (the other end comes back under a new index).
    pub deleting_touched: bool,
    /// Renaming a link that, on the host or at any step before, carried
    /// IPv4 addresses a rename relabels for good (two or more, or one
    /// labelled other than the link): the replay renames it there and
    /// back even when the rename never ran.
    pub renaming_labelled: bool,
}

impl Avoid {
    /// Every op pattern is generated.
    pub const NOTHING: Avoid = Avoid {
        name_reuse: false,
        deleting_renamed: false,
        renaming_multi_ipv4: false,
        renaming: false,
        deleting_touched: false,
        renaming_labelled: false,
    };

    fn refuses(&self, state: &Snapshot, h: &History, op: &Op) -> bool {
        let (seen, renamed, touched) = (&h.seen, &h.renamed, &h.touched);
        match op {
            Op::CreateBridge { name, .. } => self.name_reuse && seen.contains(name),
            Op::CreateVeth { name, peer } => {
                self.name_reuse && (seen.contains(name) || seen.contains(peer))
            }
            Op::Rename { name, to } => {
                self.renaming
                    || (self.renaming_labelled && h.labelled.contains(name))
                    || (self.name_reuse && seen.contains(to))
                    || (self.renaming_multi_ipv4
                        && state
                            .addresses_of(name)
                            .filter(|a| a.address.is_ipv4())
                            .count()
                            > 1)
            }
            Op::DeleteLink { name } => {
                let l = state.link(name);
                let peer = l.and_then(|l| l.peer.as_ref());
                (self.deleting_renamed
                    && (renamed.contains(name) || peer.is_some_and(|p| renamed.contains(p))))
                    || (self.deleting_touched
                        && (touched.contains(name) || l.is_some_and(|l| l.kind == LinkKind::Veth)))
            }
            _ => false,
        }
    }
}

/// Realises `seeds` one after the other on `host`, keeping the ops the model
/// accepts (with their undo) and dropping the others. Returns the ops and
/// how many seeds were dropped or had nothing to act on.
pub fn valid_ops(host: &Snapshot, seeds: &[OpSeed]) -> (Vec<Op>, usize) {
    valid_ops_avoiding(host, seeds, Avoid::NOTHING)
}

/// What a plan did so far, as [`Avoid`] needs to know.
#[derive(Debug, Default)]
struct History {
    /// Every name a link has had.
    seen: BTreeSet<IfName>,
    /// The names links have now after a rename in the plan.
    renamed: Vec<IfName>,
    /// The links the undo of a step names.
    touched: Vec<IfName>,
    /// Links (by their names now) that carried IPv4 addresses a rename
    /// relabels for good.
    labelled: BTreeSet<IfName>,
}

impl History {
    fn note_labels(&mut self, state: &Snapshot) {
        for l in &state.links {
            let v4: Vec<_> = state
                .addresses_of(&l.name)
                .filter(|a| a.address.is_ipv4())
                .collect();
            let bare = |a: &&Address| a.label.as_deref().is_none_or(|x| x == l.name.as_str());
            if v4.len() > 1 || v4.first().is_some_and(|a| !bare(a)) {
                self.labelled.insert(l.name.clone());
            }
        }
    }
}

/// [`valid_ops`], dropping the op patterns `avoid` names as well.
pub fn valid_ops_avoiding(host: &Snapshot, seeds: &[OpSeed], avoid: Avoid) -> (Vec<Op>, usize) {
    let mut seq = OpSequence::new(host, avoid);
    let dropped = seeds
        .iter()
        .filter(|s| !seq.offer(s, &|_, op| Some(op)))
        .count();
    (seq.ops, dropped)
}

/// A valid op sequence being built one seed at a time, on the model.
pub struct OpSequence {
    state: Snapshot,
    h: History,
    avoid: Avoid,
    /// The ops accepted so far.
    pub ops: Vec<Op>,
}

impl OpSequence {
    /// An empty sequence on `host`.
    pub fn new(host: &Snapshot, avoid: Avoid) -> OpSequence {
        let mut h = History {
            seen: host.links.iter().map(|l| l.name.clone()).collect(),
            ..History::default()
        };
        h.note_labels(host);
        OpSequence {
            state: host.clone(),
            h,
            avoid,
            ops: Vec::new(),
        }
    }

    /// The state the ops so far leave, as the model predicts it.
    pub fn state(&self) -> &Snapshot {
        &self.state
    }

    /// Realises seed `s` on the current state, passes the op through `fix`
    /// (which may change it, or drop it with `None`), and keeps it when the
    /// model accepts it with its undo. True when it was kept.
    pub fn offer(&mut self, s: &OpSeed, fix: &dyn Fn(&Snapshot, Op) -> Option<Op>) -> bool {
        let Some(op) = realise_valid(&self.state, &self.h.seen, s) else {
            return false;
        };
        let Some(op) = fix(&self.state, op) else {
            return false;
        };
        // A plan never adds what looks like the kernel's own (a link-local
        // address without `proto`, a `proto kernel` route): the model takes
        // such entries for ones the kernel makes again, so it neither
        // compares nor restores them, and the undo of the add would find
        // them gone. (A known gap, not a planner's case.)
        let kernels = match &op {
            Op::AddAddress(a) => a.is_kernel_made(),
            Op::AddRoute(r) => r.is_kernel_made(),
            _ => false,
        };
        if kernels || self.avoid.refuses(&self.state, &self.h, &op) {
            return false;
        }
        let h = &mut self.h;
        let Ok(undo) = apply_with_inverse(&mut self.state, &op) else {
            return false;
        };
        h.seen.extend(op.links().cloned());
        // The links the undo names (a port's old bridge, a deleted link's
        // ports and routes' links).
        h.touched
            .extend(undo.iter().flat_map(|u| u.links()).cloned());
        if let Op::Rename { name, to } = &op {
            h.seen.insert(to.clone());
            h.renamed.retain(|n| n != name);
            h.renamed.push(to.clone());
            h.touched.push(to.clone());
            if h.labelled.remove(name) {
                h.labelled.insert(to.clone());
            }
        }
        if let Op::DeleteLink { name } | Op::CreateBridge { name, .. } = &op {
            h.labelled.remove(name);
        }
        h.note_labels(&self.state);
        self.ops.push(op);
        true
    }
}

// ---------------------------------------------------------------- hosts

/// What one link (or veth pair) of a generated host is.
#[derive(Debug, Clone)]
pub enum Shape {
    /// A bridge.
    Bridge {
        /// Spanning tree.
        stp: bool,
        /// Forward delay.
        forward_delay: u32,
    },
    /// Both ends of a veth pair.
    VethPair,
    /// A veth whose other end lives in another namespace.
    VethElsewhere,
    /// A tap device.
    Tun,
    /// A physical NIC.
    Nic,
    /// A layer-3 tunnel or tun device: no MAC.
    Tunnel,
    /// A loopback device: MTU 65536, no upper bound.
    Loopback,
}

/// One link of a generated host.
#[derive(Debug, Clone)]
pub struct LinkRecipe {
    /// What it is.
    pub shape: Shape,
    /// Its MAC (the first end's, for a pair).
    pub mac: Option<MacAddr>,
    /// The second end's MAC.
    pub peer_mac: Option<MacAddr>,
    /// Its MTU.
    pub mtu: u32,
    /// The MTU range the kernel reports, if any.
    pub bounds: Option<(u32, u32)>,
    /// Up.
    pub up: bool,
    /// The second end up.
    pub peer_up: bool,
    /// Carries the kernel's link-local address and route.
    pub kernel_ll: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        // With spanning tree on, the kernel keeps the delay within 2 to 30
        // seconds, so no bridge has another.
        4 => (any::<bool>(), select(vec![0u32, 1500, 200]))
            .prop_map(|(stp, forward_delay)| Shape::Bridge {
                stp,
                forward_delay: if stp { forward_delay.clamp(200, 3000) } else { forward_delay },
            }),
        3 => Just(Shape::VethPair),
        1 => Just(Shape::VethElsewhere),
        2 => Just(Shape::Tun),
        3 => Just(Shape::Nic),
        1 => Just(Shape::Tunnel),
        1 => Just(Shape::Loopback),
    ]
}

/// A random [`LinkRecipe`].
pub fn link_recipe() -> impl Strategy<Value = LinkRecipe> {
    (
        shape(),
        unicast_mac().prop_map(Some),
        unicast_mac().prop_map(Some),
        mtu_value(),
        prop_oneof![
            2 => Just(None),
            2 => Just(Some((68u32, 65535u32))),
            1 => Just(Some((68, 9216))),
        ],
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.6),
        prop::bool::weighted(0.5),
    )
        .prop_map(
            |(shape, mac, peer_mac, mtu, bounds, up, peer_up, kernel_ll)| LinkRecipe {
                shape,
                mac,
                peer_mac,
                mtu,
                bounds,
                up,
                peer_up,
                kernel_ll,
            },
        )
}

/// A seed for building a host: ports, addresses and routes.
pub fn setup_seed() -> impl Strategy<Value = OpSeed> {
    // Only what ports, addresses and routes use: seeds are costly to draw.
    (
        prop_oneof![
            2 => Just(OpKind::SetMaster),
            5 => Just(OpKind::AddAddress),
            4 => Just(OpKind::AddRoute),
        ],
        any::<(Index, Index, bool, bool)>(),
        addr_seed(),
        route_seed(),
    )
        .prop_map(|(kind, (a, b, bit, bit2), addr, route)| {
            let name = IfName::new("unused").expect("valid");
            OpSeed {
                kind,
                a,
                b,
                name: name.clone(),
                name2: name,
                reuse: None,
                mac: None,
                mtu: 1500,
                bit,
                bit2,
                addr,
                route,
            }
        })
}

/// The raw material of a host.
#[derive(Debug, Clone)]
pub struct HostRecipe {
    /// Its links.
    pub links: Vec<LinkRecipe>,
    /// Names for them (unique; a pair takes two).
    pub names: Vec<IfName>,
    /// Ports, addresses and routes, added in order.
    pub setup: Vec<OpSeed>,
}

/// A random [`HostRecipe`].
pub fn host_recipe() -> impl Strategy<Value = HostRecipe> {
    (
        vec(link_recipe(), 0..=6),
        btree_set(ifname(), 12),
        vec(setup_seed(), 0..=24),
    )
        .prop_map(|(links, names, setup)| HostRecipe {
            links,
            names: names.into_iter().collect(),
            setup,
        })
}

/// A random consistent host.
pub fn host() -> impl Strategy<Value = Snapshot> {
    host_recipe().prop_map(|r| build_host(&r))
}

fn plain_link(index: u32, name: &IfName, kind: LinkKind, r: &LinkRecipe) -> Link {
    let (min_mtu, max_mtu) = match r.bounds {
        Some((lo, hi)) => (Some(lo), Some(hi)),
        None => (None, None),
    };
    let (lo, hi) = r.bounds.unwrap_or((68, 65535));
    Link {
        info_kind: match kind {
            LinkKind::Bridge => Some("bridge".into()),
            LinkKind::Veth => Some("veth".into()),
            LinkKind::Tun => Some("tun".into()),
            LinkKind::Other => None,
        },
        mac: r.mac,
        mtu: r.mtu.clamp(lo, hi),
        min_mtu,
        max_mtu,
        up: r.up,
        oper: if r.up { "up" } else { "down" }.into(),
        ..Link::new(index, name.clone(), kind)
    }
}

/// Builds the host a recipe describes (see the module documentation).
pub fn build_host(r: &HostRecipe) -> Snapshot {
    let mut s = Snapshot::default();
    let mut names = r.names.iter();
    let mut index = 0u32;
    let mut kernel_ll = Vec::new();
    for lr in &r.links {
        let Some(name) = names.next() else { break };
        index += 1;
        match &lr.shape {
            Shape::Bridge { stp, forward_delay } => {
                let mut l = plain_link(index, name, LinkKind::Bridge, lr);
                l.bridge = Some(BridgeInfo {
                    stp: *stp,
                    forward_delay: *forward_delay,
                });
                s.links.push(l);
            }
            Shape::VethPair => {
                let Some(peer) = names.next() else { break };
                let mut a = plain_link(index, name, LinkKind::Veth, lr);
                index += 1;
                let mut b = plain_link(index, peer, LinkKind::Veth, lr);
                a.peer = Some(peer.clone());
                b.peer = Some(name.clone());
                b.mac = lr.peer_mac;
                b.up = lr.peer_up;
                b.oper = if b.up { "up" } else { "down" }.into();
                s.links.push(a);
                s.links.push(b);
            }
            Shape::VethElsewhere => {
                let mut l = plain_link(index, name, LinkKind::Veth, lr);
                l.peer_elsewhere = true;
                s.links.push(l);
            }
            Shape::Tun => s.links.push(plain_link(index, name, LinkKind::Tun, lr)),
            Shape::Nic => s.links.push(plain_link(index, name, LinkKind::Other, lr)),
            Shape::Tunnel => {
                // An IP tunnel, or a tun device in layer-3 mode.
                let tun = lr.mac.is_some_and(|m| m.octets()[1] & 1 == 1);
                let kind = if tun { LinkKind::Tun } else { LinkKind::Other };
                let mut l = plain_link(index, name, kind, lr);
                l.mac = None;
                l.info_kind = Some(if tun { "tun" } else { "ipip" }.into());
                s.links.push(l);
            }
            Shape::Loopback => {
                let mut l = plain_link(index, name, LinkKind::Other, lr);
                l.mac = Some(MacAddr([0; 6]));
                l.mtu = 65536;
                l.min_mtu = Some(0);
                l.max_mtu = None;
                s.links.push(l);
            }
        }
        if lr.kernel_ll {
            kernel_ll.push(name.clone());
        }
    }
    // The kernel's own link-local addresses and routes, on links that are up
    // and have a MAC.
    for l in s.links.clone() {
        let carries = l.up && l.mtu >= 1280 && kernel_ll.contains(&l.name);
        let Some(mac) = l.mac.filter(|_| carries) else {
            continue;
        };
        let m = mac.octets();
        let a = Ipv6Addr::new(
            0xfe80,
            0,
            0,
            0,
            u16::from_be_bytes([m[0] ^ 2, m[1]]),
            u16::from_be_bytes([m[2], 0xff]),
            u16::from_be_bytes([0xfe, m[3]]),
            u16::from_be_bytes([m[4], m[5]]),
        );
        s.addresses.push(Address {
            ifname: l.name.clone(),
            address: net(IpAddr::V6(a), 64),
            peer: None,
            broadcast: None,
            label: None,
            scope: 253,
            flags: 0x80,
            proto: Some(IFAPROT_KERNEL_LL),
            metric: None,
            valid_lft: None,
            preferred_lft: None,
        });
        s.routes.push(Route {
            table: RT_TABLE_MAIN,
            destination: "fe80::/64".parse().expect("valid"),
            source: None,
            gateway: None,
            oif: Some(l.name.clone()),
            priority: Some(256),
            protocol: RTPROT_KERNEL,
            scope: 0,
            kind: 1,
            tos: 0,
            flags: 0,
            prefsrc: None,
            metrics: vec![],
            multipath: vec![],
            pref: Some(0),
            expires: None,
        });
    }
    let seen: BTreeSet<IfName> = s.links.iter().map(|l| l.name.clone()).collect();
    // A bridge's MAC, as a kernel reports it whatever its ports (the model
    // forgets it when they change: it cannot tell whether it was set).
    let macs: Vec<(IfName, Option<MacAddr>)> =
        s.bridges().map(|b| (b.name.clone(), b.mac)).collect();
    for seed in &r.setup {
        if let Some(op) = realise_valid(&s, &seen, seed) {
            let applied = s.apply(&op).is_ok();
            for (name, mac) in &macs {
                if let Some(b) = s.link_mut(name) {
                    b.mac = *mac;
                }
            }
            // The kernel's prefix route for an IPv4 address on a link that
            // is up (only when the address is there).
            if let (true, Op::AddAddress(a)) = (applied, &op) {
                let up = s.link(&a.ifname).is_some_and(|l| l.up);
                if up && a.address.is_ipv4() && seed.bit && a.address.prefix() < 32 {
                    let r = Route {
                        table: RT_TABLE_MAIN,
                        destination: a.address.network(),
                        source: None,
                        gateway: None,
                        oif: Some(a.ifname.clone()),
                        priority: a.metric,
                        protocol: RTPROT_KERNEL,
                        scope: 253,
                        kind: 1,
                        tos: 0,
                        flags: 0,
                        prefsrc: Some(a.address.addr()),
                        metrics: vec![],
                        multipath: vec![],
                        pref: None,
                        expires: None,
                    };
                    if !s.routes.iter().any(|b| same_route(&r, b)) {
                        s.routes.push(r);
                    }
                }
            }
        }
    }
    s
}

// ---------------------------------------------------------------- kernel hosts

/// What one link of a host built on a real kernel is: only what a test
/// namespace can make (no `dummy` driver, no physical NIC).
#[derive(Debug, Clone)]
pub enum KernelShape {
    /// A bridge, with a MAC of its own or the kernel's.
    Bridge {
        /// Its MAC, when given at creation.
        mac: Option<MacAddr>,
        /// Spanning tree.
        stp: bool,
        /// Forward delay (centiseconds).
        forward_delay: u32,
    },
    /// Both ends of a veth pair, in the namespace.
    VethPair,
    /// A NIC: a veth whose other end is in another namespace, up (carrier)
    /// or not.
    Nic {
        /// The other end is up, so this one has carrier.
        carrier: bool,
    },
    /// A persistent tap device.
    Tap,
}

/// One link of a host built on a real kernel, and its settings.
#[derive(Debug, Clone)]
pub struct KernelLink {
    /// What it is.
    pub shape: KernelShape,
    /// A MAC to set (the first end's, for a pair).
    pub mac: Option<MacAddr>,
    /// A MAC to set on the second end of a pair.
    pub peer_mac: Option<MacAddr>,
    /// An MTU to set.
    pub mtu: Option<u32>,
    /// An MTU to set on the second end of a pair.
    pub peer_mtu: Option<u32>,
    /// Up.
    pub up: bool,
    /// The second end of a pair up.
    pub peer_up: bool,
}

fn kernel_shape() -> impl Strategy<Value = KernelShape> {
    prop_oneof![
        4 => (
            prop::option::weighted(0.7, unicast_mac()),
            any::<bool>(),
            select(vec![0u32, 200, 1500]),
        )
            .prop_map(|(mac, stp, forward_delay)| KernelShape::Bridge {
                mac,
                stp,
                // With spanning tree on, the kernel keeps the delay within
                // 2 to 30 seconds.
                forward_delay: if stp { forward_delay.max(200) } else { forward_delay },
            }),
        3 => Just(KernelShape::VethPair),
        3 => any::<bool>().prop_map(|carrier| KernelShape::Nic { carrier }),
        2 => Just(KernelShape::Tap),
    ]
}

/// A random [`KernelLink`].
pub fn kernel_link() -> impl Strategy<Value = KernelLink> {
    (
        kernel_shape(),
        prop::option::weighted(0.5, unicast_mac()),
        prop::option::weighted(0.5, unicast_mac()),
        prop::option::weighted(0.4, mtu_value()),
        prop::option::weighted(0.3, mtu_value()),
        prop::bool::weighted(0.75),
        prop::bool::weighted(0.6),
    )
        .prop_map(
            |(shape, mac, peer_mac, mtu, peer_mtu, up, peer_up)| KernelLink {
                shape,
                mac,
                peer_mac,
                mtu,
                peer_mtu,
                up,
                peer_up,
            },
        )
}

impl KernelLink {
    /// The ops that give link `name` (and `peer`, the other end of a pair)
    /// its settings once it exists: MAC, MTU, up.
    pub fn settings(&self, name: &IfName, peer: Option<&IfName>) -> Vec<Op> {
        let mut ops = Vec::new();
        let mut set = |n: &IfName, mac: Option<MacAddr>, mtu: Option<u32>, up: bool| {
            if let Some(mac) = mac {
                ops.push(Op::SetMac {
                    name: n.clone(),
                    mac,
                });
            }
            if let Some(mtu) = mtu {
                ops.push(Op::SetMtu {
                    name: n.clone(),
                    mtu,
                });
            }
            if up {
                ops.push(Op::SetUp {
                    name: n.clone(),
                    up,
                });
            }
        };
        // A bridge's MAC is given at creation, or left to the kernel. Its
        // MTU is left to the kernel (it follows its ports): the kernel keeps
        // one that was set, and nothing in netlink says whether it was, so
        // for a set MTU that equals its ports' smallest the model can only
        // guess (it takes such a bridge to follow them; verification
        // catches the other case). Plans still set bridges' MTUs.
        let (mac, mtu) = match self.shape {
            KernelShape::Bridge { .. } => (None, None),
            _ => (self.mac, self.mtu),
        };
        set(name, mac, mtu, self.up);
        if let Some(p) = peer {
            set(p, self.peer_mac, self.peer_mtu, self.peer_up);
        }
        ops
    }
}

/// The raw material of a host built on a real kernel.
#[derive(Debug, Clone)]
pub struct KernelHostRecipe {
    /// Its links, besides the world's own NIC.
    pub links: Vec<KernelLink>,
    /// Names for them (unique; a pair takes two).
    pub names: Vec<IfName>,
    /// Ports, addresses and routes, added in order.
    pub setup: Vec<OpSeed>,
}

/// A random [`KernelHostRecipe`].
pub fn kernel_host_recipe() -> impl Strategy<Value = KernelHostRecipe> {
    (
        vec(kernel_link(), 0..=5),
        btree_set(ifname(), 10),
        vec(setup_seed(), 0..=20),
    )
        .prop_map(|(links, names, setup)| KernelHostRecipe {
            links,
            names: names.into_iter().collect(),
            setup,
        })
}

/// `op` made acceptable to a real kernel in ways the model does not check:
/// each gateway of a route inside a prefix connected on its output link (an
/// IPv4 address there), else on-link (IPv4) or link-local (IPv6); no route
/// with a gateway through loopback and no delete of the kernel's own
/// addresses and routes (`None`).
pub fn for_the_kernel(state: &Snapshot, op: Op) -> Option<Op> {
    // The kernel's own entries come and go on its own schedule, which the
    // model does not follow (it neither compares nor restores them), and
    // no planner touches them: leave them alone.
    let mut r = match op {
        Op::DelAddress(a) => {
            let kernels = a.is_kernel_made()
                || state
                    .addresses
                    .iter()
                    .any(|b| xenbr_core::state::apply::same_address(&a, b) && b.is_kernel_made());
            return (!kernels).then_some(Op::DelAddress(a));
        }
        Op::DelRoute(r) => {
            let kernels = state
                .routes
                .iter()
                .any(|b| same_route(&r, b) && b.is_kernel_made());
            return (!kernels).then_some(Op::DelRoute(r));
        }
        Op::AddRoute(r) => r,
        op => return Some(op),
    };
    // The kernel refuses gateways through loopback (a loopback prefix is
    // all local), which the model cannot tell from another link.
    let loopback = |n: &IfName| {
        state
            .link(n)
            .is_some_and(|l| l.kind == LinkKind::Other && l.mac.is_some_and(|m| m.is_zero()))
    };
    let gw_via_lo = r
        .oif
        .as_ref()
        .is_some_and(|o| r.gateway.is_some() && loopback(o))
        || r.multipath
            .iter()
            .any(|h| h.oif.as_ref().is_some_and(loopback));
    if gw_via_lo {
        return None;
    }
    let connect = |oif: &IfName, gw: IpAddr, flags: &mut u32| -> IpAddr {
        let pick = |n: u8| match gw {
            IpAddr::V4(_) => {
                let nets: Vec<IpNet> = state
                    .addresses_of(oif)
                    .filter(|a| a.address.is_ipv4() && a.peer.is_none())
                    .filter(|a| a.address.prefix() <= 29)
                    .map(|a| a.address)
                    .collect();
                let a = nets.get(usize::from(n) % nets.len().max(1))?;
                let IpAddr::V4(base) = a.network().addr() else {
                    return None;
                };
                // A host of the prefix (neither its network nor its
                // broadcast address) that is no address of this host.
                let hosts = (1u32 << (32 - a.prefix())) - 2;
                (0..hosts.min(8))
                    .map(|h| 1 + (u32::from(n) + h) % hosts)
                    .map(|h| IpAddr::V4(Ipv4Addr::from(u32::from(base) + h)))
                    .find(|ip| !state.addresses.iter().any(|b| b.address.addr() == *ip))
            }
            IpAddr::V6(_) => Some(IpAddr::V6(Ipv6Addr::new(
                0xfe80,
                0,
                0,
                0,
                0,
                0,
                0,
                u16::from(n) + 1,
            ))),
        };
        let n = match gw {
            IpAddr::V4(a) => a.octets()[3],
            IpAddr::V6(a) => a.octets()[15],
        };
        match pick(n) {
            Some(ip) => ip,
            None => {
                *flags |= 4; // RTNH_F_ONLINK
                gw
            }
        }
    };
    if let (Some(oif), Some(gw)) = (r.oif.clone(), r.gateway) {
        // IPv6 gateways become link-local even on-link: a global one would
        // have to be routed through this very link.
        if r.flags & 4 == 0 || !gw.is_ipv4() {
            let mut flags = r.flags;
            r.gateway = Some(connect(&oif, gw, &mut flags));
            r.flags = flags;
        }
    }
    for h in &mut r.multipath {
        if let (Some(oif), Some(gw)) = (h.oif.clone(), h.gateway) {
            let mut flags = u32::from(h.flags);
            h.gateway = Some(connect(&oif, gw, &mut flags));
            h.flags = flags as u8;
        }
    }
    Some(Op::AddRoute(r))
}

// ---------------------------------------------------------------- arbitrary ops

/// A name from a small fixed pool, so that arbitrary ops sometimes hit.
fn pool_name() -> impl Strategy<Value = IfName> {
    prop_oneof![
        3 => select(vec!["eth0", "peth0", "xenbr0", "vif1.0", "lo", "a", "b"])
            .prop_map(|n| IfName::new(n).expect("valid")),
        1 => ifname(),
    ]
}

fn any_ipnet() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(a, p)| net(IpAddr::V4(Ipv4Addr::from(a)), p)),
        (any::<u128>(), 0u8..=128).prop_map(|(a, p)| net(IpAddr::V6(Ipv6Addr::from(a)), p)),
    ]
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    any_ipnet().prop_map(|n| n.addr())
}

fn any_address() -> impl Strategy<Value = Address> {
    (
        (
            pool_name(),
            any_ipnet(),
            prop::option::of(any_ip()),
            prop::option::of(any::<u32>().prop_map(Ipv4Addr::from)),
            prop::option::of("[a-z0-9:.]{0,20}"),
        ),
        (
            any::<u8>(),
            any::<u32>(),
            prop::option::of(any::<u8>()),
            prop::option::of(any::<u32>()),
            prop::option::of(any::<u32>()),
        ),
    )
        .prop_map(
            |((ifname, address, peer, broadcast, label), (scope, flags, proto, metric, lft))| {
                Address {
                    ifname,
                    address,
                    peer,
                    broadcast,
                    label,
                    scope,
                    flags,
                    proto,
                    metric,
                    valid_lft: lft,
                    preferred_lft: lft,
                }
            },
        )
}

fn any_hop() -> impl Strategy<Value = NextHop> {
    (
        prop::option::of(any_ip()),
        prop::option::of(pool_name()),
        any::<u16>(),
        any::<u8>(),
    )
        .prop_map(|(gateway, oif, weight, flags)| NextHop {
            gateway,
            oif,
            weight,
            flags,
        })
}

fn any_route() -> impl Strategy<Value = Route> {
    (
        (
            any::<u32>(),
            any_ipnet(),
            prop::option::of(any_ipnet()),
            prop::option::of(any_ip()),
            prop::option::of(pool_name()),
            prop::option::of(any::<u32>()),
        ),
        (
            any::<(u8, u8, u8, u8, u32)>(),
            prop::option::of(any_ip()),
            vec(any::<(u16, u32)>(), 0..3),
            vec(any_hop(), 0..3),
            prop::option::of(any::<u8>()),
        ),
    )
        .prop_map(
            |(
                (table, destination, source, gateway, oif, priority),
                ((protocol, scope, kind, tos, flags), prefsrc, metrics, multipath, pref),
            )| Route {
                table,
                destination,
                source,
                gateway,
                oif,
                priority,
                protocol,
                scope,
                kind,
                tos,
                flags,
                prefsrc,
                metrics,
                multipath,
                pref,
                expires: None,
            },
        )
}

/// Any op at all, with no regard for any state: names from a small pool or
/// random, addresses and routes with every field random, MTUs of any size.
pub fn arbitrary_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            pool_name(),
            prop::option::of(unicast_mac()),
            any::<bool>(),
            any::<u32>()
        )
            .prop_map(|(name, mac, stp, forward_delay)| Op::CreateBridge {
                name,
                mac,
                stp,
                forward_delay
            }),
        (pool_name(), pool_name()).prop_map(|(name, peer)| Op::CreateVeth { name, peer }),
        pool_name().prop_map(|name| Op::DeleteLink { name }),
        (pool_name(), pool_name()).prop_map(|(name, to)| Op::Rename { name, to }),
        (pool_name(), any::<[u8; 6]>()).prop_map(|(name, m)| Op::SetMac {
            name,
            mac: MacAddr(m)
        }),
        (pool_name(), any::<u32>()).prop_map(|(name, mtu)| Op::SetMtu { name, mtu }),
        (pool_name(), prop::option::of(pool_name()))
            .prop_map(|(name, master)| Op::SetMaster { name, master }),
        (pool_name(), any::<bool>()).prop_map(|(name, up)| Op::SetUp { name, up }),
        any_address().prop_map(Op::add_address),
        any_address().prop_map(Op::del_address),
        any_route().prop_map(Op::add_route),
        any_route().prop_map(Op::del_route),
    ]
}
