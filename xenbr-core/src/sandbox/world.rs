//! A simulated dom0 with its wire: namespace `host` holds NIC `eth0` (a veth
//! whose other end `up0` is in namespace `upstream`), configured as a real
//! host would be; guests are namespaces reached through `vifN.0` in `host`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Netns;
use crate::error::Result;
use crate::names::{IfName, IpNet};
use crate::op::Op;
use crate::state::{Address, NextHop, Route, RT_TABLE_MAIN};

/// The upstream router's IPv4 address (on `up0`).
pub const UPSTREAM_ADDR4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The upstream router's IPv6 address.
pub const UPSTREAM_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// dom0's IPv4 address on `eth0`.
pub const HOST_ADDR4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// dom0's IPv6 address on `eth0`.
pub const HOST_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
/// The network guests get addresses in (the same wire as dom0).
pub const GUEST_NET: &str = "192.0.2.0/24";

/// IFA_F_PERMANENT | IFA_F_NODAD: configured by hand, no duplicate detection
/// delay (the sandbox's addresses are known to be unique).
const STATIC_NODAD: u32 = 0x80 | 0x02;

fn name(s: &str) -> IfName {
    s.parse().expect("a valid built-in name")
}

/// A static address as `ip addr add ADDR dev DEV [label L] nodad` makes it.
pub fn address(dev: &str, addr: &str, label: Option<&str>) -> Address {
    let a: IpNet = addr.parse().expect("a valid built-in address");
    let broadcast = match a.addr() {
        IpAddr::V4(v4) if a.prefix() < 31 => {
            let host_bits = u32::MAX >> a.prefix();
            Some(Ipv4Addr::from(u32::from(v4) | host_bits))
        }
        _ => None,
    };
    Address {
        ifname: name(dev),
        address: a,
        peer: None,
        broadcast,
        label: label.map(str::to_string),
        scope: 0,
        flags: if a.is_ipv4() { 0x80 } else { STATIC_NODAD },
        proto: None,
        metric: None,
        valid_lft: None,
        preferred_lft: None,
    }
}

/// A static route as `ip route add DEST via GW dev DEV [metric M] [table T]` makes it.
pub fn route(dest: &str, gw: Option<&str>, dev: &str, metric: Option<u32>, table: u32) -> Route {
    let destination: IpNet = if dest == "default" {
        "0.0.0.0/0".parse().expect("valid")
    } else if dest == "default6" {
        "::/0".parse().expect("valid")
    } else {
        dest.parse().expect("a valid built-in prefix")
    };
    let v6 = !destination.is_ipv4();
    Route {
        table,
        destination,
        source: None,
        gateway: gw.map(|g| g.parse().expect("a valid built-in gateway")),
        oif: Some(name(dev)),
        // The kernel gives IPv6 routes metric 1024 when none is asked for.
        priority: metric.or(v6.then_some(1024)),
        protocol: 4,
        scope: if gw.is_some() || v6 { 0 } else { 253 },
        kind: 1,
        tos: 0,
        flags: 0,
        prefsrc: None,
        metrics: Vec::new(),
        multipath: Vec::new(),
        pref: v6.then_some(0),
        expires: None,
    }
}

/// A next hop of a multipath route, `nexthop via GW dev DEV` (weight 1, no
/// flags).
pub fn hop(gw: &str, dev: &str) -> NextHop {
    NextHop {
        gateway: Some(gw.parse().expect("a valid built-in gateway")),
        oif: Some(name(dev)),
        weight: 1,
        flags: 0,
    }
}

/// The simulated dom0 and its upstream switch.
#[derive(Debug)]
pub struct World {
    /// dom0's namespace.
    pub host: Netns,
    /// The wire beyond the NIC, with the router at 192.0.2.1 and 2001:db8::1.
    pub upstream: Netns,
}

/// A guest: its namespace, reached from dom0's side through `vif`.
#[derive(Debug)]
pub struct Guest {
    /// The guest's namespace (its `eth0` is the other end of `vif`).
    pub ns: Netns,
    /// The backend interface in dom0 (`vif1.0`).
    pub vif: IfName,
    /// The guest's IPv4 address.
    pub addr: Ipv4Addr,
}

impl World {
    /// Builds the host of the foundation issue: `eth0` up with 192.0.2.10/24,
    /// a secondary 192.0.2.11/24 labelled `eth0:1`, 2001:db8::10/64, a default
    /// route via 192.0.2.1, a route to 198.51.100.0/24 with metric 50, a route
    /// in table 100, and an IPv6 route to 2001:db8:1::/48.
    pub fn new() -> Result<World> {
        Self::with_nic("eth0")
    }

    /// The same, with the NIC called `nic`.
    pub fn with_nic(nic: &str) -> Result<World> {
        let host = Netns::new("host")?;
        let upstream = Netns::new("upstream")?;
        host.veth_to(nic, &upstream, "up0")?;
        upstream.apply(&[
            Op::SetUp {
                name: name("up0"),
                up: true,
            },
            Op::add_address(address("up0", "192.0.2.1/24", None)),
            Op::add_address(address("up0", "2001:db8::1/64", None)),
            Op::add_address(address("up0", "198.51.100.1/24", None)),
        ])?;
        host.apply(&[
            Op::SetUp {
                name: name(nic),
                up: true,
            },
            Op::add_address(address(nic, "192.0.2.10/24", None)),
            Op::add_address(address(nic, "192.0.2.11/24", Some(&format!("{nic}:1")))),
            Op::add_address(address(nic, "2001:db8::10/64", None)),
            Op::add_route(route(
                "default",
                Some("192.0.2.1"),
                nic,
                None,
                RT_TABLE_MAIN,
            )),
            Op::add_route(route(
                "198.51.100.0/24",
                Some("192.0.2.1"),
                nic,
                Some(50),
                RT_TABLE_MAIN,
            )),
            Op::add_route(route("203.0.113.0/24", Some("192.0.2.1"), nic, None, 100)),
            Op::add_route(route(
                "2001:db8:1::/48",
                Some("2001:db8::1"),
                nic,
                None,
                RT_TABLE_MAIN,
            )),
        ])?;
        Ok(World { host, upstream })
    }

    /// Adds guest number `domid`: a namespace whose `eth0` (192.0.2.(50+domid)/24,
    /// default route via the upstream router) is the other end of `vif<domid>.0`
    /// in dom0. The vif is left down and unattached, as Xen's backend leaves it.
    pub fn add_guest(&self, domid: u32) -> Result<Guest> {
        let ns = Netns::new(&format!("guest{domid}"))?;
        let vif = format!("vif{domid}.0");
        let addr = Ipv4Addr::new(192, 0, 2, 50 + (domid % 200) as u8);
        self.host.veth_to(&vif, &ns, "eth0")?;
        ns.apply(&[
            Op::SetUp {
                name: name("eth0"),
                up: true,
            },
            Op::add_address(address("eth0", &format!("{addr}/24"), None)),
            Op::add_route(route(
                "default",
                Some("192.0.2.1"),
                "eth0",
                None,
                RT_TABLE_MAIN,
            )),
        ])?;
        Ok(Guest {
            ns,
            vif: vif.parse()?,
            addr,
        })
    }
}
