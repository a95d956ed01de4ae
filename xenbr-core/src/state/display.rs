//! Text forms of addresses and routes, written the way `ip` writes them, for
//! diffs, plans and `xenbr status`.

use std::fmt;

use super::{Address, Route, RT_TABLE_MAIN};

const ADDR_FLAGS: &[(u32, &str)] = &[
    (0x01, "secondary"),
    (0x02, "nodad"),
    (0x04, "optimistic"),
    (0x08, "dadfailed"),
    (0x10, "home"),
    (0x20, "deprecated"),
    (0x40, "tentative"),
    (0x100, "mngtmpaddr"),
    (0x200, "noprefixroute"),
    (0x400, "autojoin"),
    (0x800, "stable-privacy"),
];

/// The names `ip addr` prints for `IFA_F_*` flags; `dynamic` stands for the
/// absence of `IFA_F_PERMANENT`.
pub fn addr_flag_names(flags: u32) -> Vec<&'static str> {
    let mut out: Vec<&str> = ADDR_FLAGS
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if flags & 0x80 == 0 {
        out.push("dynamic");
    }
    out
}

/// The name `ip route` prints for a route protocol (`/etc/iproute2/rt_protos`).
pub fn route_protocol_name(p: u8) -> String {
    match p {
        0 => "unspec".into(),
        1 => "redirect".into(),
        2 => "kernel".into(),
        3 => "boot".into(),
        4 => "static".into(),
        9 => "ra".into(),
        16 => "dhcp".into(),
        n => n.to_string(),
    }
}

/// The name `ip route` prints for a scope.
pub fn route_scope_name(s: u8) -> String {
    match s {
        0 => "global".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string(),
    }
}

/// The name `ip route` prints for a route type.
pub fn route_type_name(t: u8) -> String {
    match t {
        1 => "unicast".into(),
        2 => "local".into(),
        3 => "broadcast".into(),
        4 => "anycast".into(),
        5 => "multicast".into(),
        6 => "blackhole".into(),
        7 => "unreachable".into(),
        8 => "prohibit".into(),
        9 => "throw".into(),
        10 => "nat".into(),
        n => n.to_string(),
    }
}

impl fmt::Display for Address {
    /// `192.0.2.11/24 brd 192.0.2.255 scope global secondary label eth0:1 dev eth0`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.address)?;
        if let Some(p) = self.peer {
            write!(f, " peer {p}")?;
        }
        if let Some(b) = self.broadcast {
            write!(f, " brd {b}")?;
        }
        write!(f, " scope {}", route_scope_name(self.scope))?;
        for n in addr_flag_names(self.flags) {
            write!(f, " {n}")?;
        }
        if let Some(l) = &self.label {
            if l != self.ifname.as_str() {
                write!(f, " label {l}")?;
            }
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        write!(f, " dev {}", self.ifname)
    }
}

impl fmt::Display for Route {
    /// `default via 192.0.2.1 dev eth0 table 100 proto static metric 50 src 192.0.2.10`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind != 1 {
            write!(f, "{} ", route_type_name(self.kind))?;
        }
        if self.is_default() {
            write!(f, "default")?;
            if !self.destination.is_ipv4() {
                write!(f, " (ipv6)")?;
            }
        } else {
            write!(f, "{}", self.destination)?;
        }
        if let Some(s) = self.source {
            write!(f, " from {s}")?;
        }
        if let Some(g) = self.gateway {
            write!(f, " via {g}")?;
        }
        if let Some(d) = &self.oif {
            write!(f, " dev {d}")?;
        }
        if self.table != RT_TABLE_MAIN {
            write!(f, " table {}", self.table)?;
        }
        if self.protocol != 4 && self.protocol != 3 {
            write!(f, " proto {}", route_protocol_name(self.protocol))?;
        }
        if self.scope != 0 {
            write!(f, " scope {}", route_scope_name(self.scope))?;
        }
        if let Some(m) = self.priority {
            write!(f, " metric {m}")?;
        }
        if let Some(s) = self.prefsrc {
            write!(f, " src {s}")?;
        }
        if self.flags & 4 != 0 {
            write!(f, " onlink")?;
        }
        for (k, v) in &self.metrics {
            write!(f, " rtax{k} {v}")?;
        }
        for h in &self.multipath {
            write!(f, " nexthop")?;
            if let Some(g) = h.gateway {
                write!(f, " via {g}")?;
            }
            if let Some(d) = &h.oif {
                write!(f, " dev {d}")?;
            }
            write!(f, " weight {}", h.weight)?;
        }
        Ok(())
    }
}
