//! Short builders for the [`Op`] values the integration tests apply, so a
//! test reads as the `ip` commands it stands for (`veth("v0", "v1")`,
//! `master("eth0", Some("br1"))`) instead of repeating the struct literals.
//! Each builder makes exactly the op its name says, nothing more; anything
//! unusual (a bridge with spanning tree, say) is still written out in full.
//!
//! Link names are given as `&str` or `&IfName` and must be valid; a bad one
//! panics, as it is a mistake in the test.
#![allow(dead_code)]

use xenbr_core::op::Op;
use xenbr_core::{IfName, MacAddr};

/// The MAC of [`fixed_bridge`]: locally administered, and no port's.
pub const FIXED_BRIDGE_MAC: &str = "02:00:00:00:00:b0";

/// An interface name.
pub fn n(s: &str) -> IfName {
    s.parse().unwrap()
}

/// A MAC address.
pub fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

/// `ip link add NAME type bridge stp_state 0 forward_delay 0`: a bridge
/// without a MAC of its own, which the kernel then derives from its ports.
pub fn bridge(name: impl AsRef<str>) -> Op {
    Op::CreateBridge {
        name: n(name.as_ref()),
        mac: None,
        stp: false,
        forward_delay: 0,
    }
}

/// `ip link add NAME address MAC type bridge stp_state 0 forward_delay 0`:
/// a bridge whose MAC was set, which it keeps whatever its ports.
pub fn bridge_with_mac(name: impl AsRef<str>, mac: MacAddr) -> Op {
    Op::CreateBridge {
        name: n(name.as_ref()),
        mac: Some(mac),
        stp: false,
        forward_delay: 0,
    }
}

/// [`bridge_with_mac`] with [`FIXED_BRIDGE_MAC`].
pub fn fixed_bridge(name: impl AsRef<str>) -> Op {
    bridge_with_mac(name, mac(FIXED_BRIDGE_MAC))
}

/// `ip link add NAME type veth peer name PEER`.
pub fn veth(name: impl AsRef<str>, peer: impl AsRef<str>) -> Op {
    Op::CreateVeth {
        name: n(name.as_ref()),
        peer: n(peer.as_ref()),
    }
}

/// `ip link set dev NAME address MAC`.
pub fn new_mac(name: impl AsRef<str>, mac: MacAddr) -> Op {
    Op::SetMac {
        name: n(name.as_ref()),
        mac,
    }
}

/// `ip link set dev NAME mtu MTU`.
pub fn new_mtu(name: impl AsRef<str>, mtu: u32) -> Op {
    Op::SetMtu {
        name: n(name.as_ref()),
        mtu,
    }
}

/// `ip link set dev PORT master BRIDGE` with `Some(BRIDGE)`,
/// `ip link set dev PORT nomaster` with `None`.
pub fn master(port: impl AsRef<str>, bridge: Option<&str>) -> Op {
    Op::SetMaster {
        name: n(port.as_ref()),
        master: bridge.map(n),
    }
}

/// `ip link set dev NAME up` (`true`) or `down` (`false`).
pub fn up(name: impl AsRef<str>, up: bool) -> Op {
    Op::SetUp {
        name: n(name.as_ref()),
        up,
    }
}

/// `ip link del dev NAME`.
pub fn delete(name: impl AsRef<str>) -> Op {
    Op::DeleteLink {
        name: n(name.as_ref()),
    }
}

/// `ip link set dev NAME name TO`.
pub fn rename(name: impl AsRef<str>, to: impl AsRef<str>) -> Op {
    Op::Rename {
        name: n(name.as_ref()),
        to: n(to.as_ref()),
    }
}
