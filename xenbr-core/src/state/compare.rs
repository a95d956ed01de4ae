//! When are two snapshots "the same host"? When every name carries the same
//! configuration. What the kernel changes on its own is left out: counters,
//! operational state, lifetimes, kernel indices, the routes it derives from
//! addresses and link state (`proto kernel`), the IPv6 link-local addresses it
//! generates, and passing address states (tentative, deprecated). Nothing else
//! is left out.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use super::{Address, BridgeInfo, Link, LinkKind, NextHop, Route, Snapshot, IFA_F_TRANSIENT};
use crate::names::{IfName, IpNet, MacAddr};

/// A link's configuration: everything but index, counters and oper state.
type LinkKey<'a> = (
    LinkKind,
    Option<MacAddr>,
    u32,
    bool,
    Option<&'a IfName>,
    Option<&'a IfName>,
    bool,
    Option<BridgeInfo>,
);

/// An address's configuration, keyed by link and address.
type AddrKey<'a> = (
    &'a IfName,
    IpNet,
    Option<IpAddr>,
    Option<Ipv4Addr>,
    Option<&'a str>,
    u8,
    u32,
    Option<u8>,
    Option<u32>,
);

/// A route's configuration: everything but `expires`.
type RouteKey<'a> = (
    (
        u32,
        IpNet,
        Option<IpNet>,
        Option<IpAddr>,
        Option<&'a IfName>,
        Option<u32>,
    ),
    (u8, u8, u8, u8, u32, Option<IpAddr>),
    (&'a [(u16, u32)], Vec<NextHop>, Option<u8>),
);

fn link_key(l: &Link) -> LinkKey<'_> {
    (
        l.kind,
        l.mac,
        l.mtu,
        l.up,
        l.master.as_ref(),
        l.peer.as_ref(),
        l.peer_elsewhere,
        l.bridge,
    )
}

fn addr_key(a: &Address) -> AddrKey<'_> {
    // An IPv4 label equal to the link's name is what the kernel reports when
    // no label was given.
    let label = a.label.as_deref().filter(|l| *l != a.ifname.as_str());
    (
        &a.ifname,
        a.address,
        a.peer,
        a.broadcast,
        label,
        a.scope,
        a.flags & !IFA_F_TRANSIENT,
        a.proto.filter(|p| *p != 0),
        a.metric,
    )
}

fn route_key(r: &Route) -> RouteKey<'_> {
    // A hop's RTNH_F_LINKDOWN and RTNH_F_DEAD (16, 1) follow its link's
    // state, as the route's own do.
    let mut hops: Vec<NextHop> = r
        .multipath
        .iter()
        .map(|h| NextHop {
            flags: h.flags & !(1 | 16),
            ..h.clone()
        })
        .collect();
    hops.sort();
    (
        (
            r.table,
            r.destination,
            r.source,
            r.gateway,
            r.oif.as_ref(),
            r.priority,
        ),
        // RTNH_F_LINKDOWN and RTNH_F_DEAD (16, 1) follow the link's state.
        (
            r.protocol,
            r.scope,
            r.kind,
            r.tos,
            r.flags & !(1 | 16),
            r.prefsrc,
        ),
        (&r.metrics, hops, r.pref),
    )
}

/// The configuration part of a snapshot, in canonical order.
struct Canon<'a> {
    links: BTreeMap<&'a IfName, LinkKey<'a>>,
    addrs: BTreeMap<AddrKey<'a>, &'a Address>,
    routes: BTreeMap<RouteKey<'a>, &'a Route>,
}

impl<'a> Canon<'a> {
    fn of(s: &'a Snapshot) -> Self {
        Self::of_these(s, |_| true, |_| true, |_| true)
    }

    /// The canonical form of the links, addresses and routes of `s` that
    /// pass the filters, taken by reference.
    fn of_these(
        s: &'a Snapshot,
        link: impl Fn(&Link) -> bool,
        addr: impl Fn(&Address) -> bool,
        route: impl Fn(&Route) -> bool,
    ) -> Self {
        Canon {
            links: s
                .links
                .iter()
                .filter(|l| link(l))
                .map(|l| (&l.name, link_key(l)))
                .collect(),
            addrs: s
                .addresses
                .iter()
                .filter(|a| !a.is_kernel_made() && addr(a))
                .map(|a| (addr_key(a), a))
                .collect(),
            routes: s
                .routes
                .iter()
                .filter(|r| !r.is_kernel_made() && route(r))
                .map(|r| (route_key(r), r))
                .collect(),
        }
    }
}

impl PartialEq for Snapshot {
    /// Same configuration on the same names; see the module documentation for
    /// what is left out.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (Canon::of(self), Canon::of(other));
        a.links == b.links
            && a.addrs.keys().eq(b.addrs.keys())
            && a.routes.keys().eq(b.routes.keys())
    }
}

impl Eq for Snapshot {}

fn describe_link(l: &Link) -> String {
    format!(
        "{:?} mac {} mtu {} {} master {} peer {}{}",
        l.kind,
        l.mac
            .map(|m| m.to_string())
            .unwrap_or_else(|| "none".into()),
        l.mtu,
        if l.up { "up" } else { "down" },
        l.master.as_ref().map(|m| m.as_str()).unwrap_or("none"),
        l.peer.as_ref().map(|m| m.as_str()).unwrap_or("none"),
        l.bridge
            .map(|b| format!(" stp {} forward_delay {}", b.stp, b.forward_delay))
            .unwrap_or_default(),
    )
}

/// The differences from `before` to `after`, one readable line each
/// (`link eth0: mtu 1500 -> 9000`, `- address 192.0.2.10/24 ... dev eth0`,
/// `+ route default via ...`). Empty exactly when the snapshots are equal.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    diff_canon(before, after, Canon::of(before), Canon::of(after))
}

/// The differences between `a` (of `before`) and `b` (of `after`).
fn diff_canon(before: &Snapshot, after: &Snapshot, a: Canon<'_>, b: Canon<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, ka) in &a.links {
        match b.links.get(name) {
            None => out.push(format!("- link {name}")),
            Some(kb) if kb != ka => {
                let la = before.link(name).expect("canon link");
                let lb = after.link(name).expect("canon link");
                out.push(format!(
                    "link {name}: {} -> {}",
                    describe_link(la),
                    describe_link(lb)
                ))
            }
            _ => {}
        }
    }
    for name in b.links.keys().filter(|n| !a.links.contains_key(*n)) {
        out.push(format!("+ link {name}"));
    }
    for (k, addr) in &a.addrs {
        if !b.addrs.contains_key(k) {
            out.push(format!("- address {addr}"));
        }
    }
    for (k, addr) in &b.addrs {
        if !a.addrs.contains_key(k) {
            out.push(format!("+ address {addr}"));
        }
    }
    for (k, r) in &a.routes {
        if !b.routes.contains_key(k) {
            out.push(format!("- route {r}"));
        }
    }
    for (k, r) in &b.routes {
        if !a.routes.contains_key(k) {
            out.push(format!("+ route {r}"));
        }
    }
    out
}

impl Snapshot {
    /// Copies from `actual` the MACs this snapshot does not know (links a plan
    /// created, whose MAC the kernel chose), so that a model's prediction can
    /// be compared with the kernel.
    pub fn adopt_unknown_macs(&mut self, actual: &Snapshot) {
        for l in self.links.iter_mut().filter(|l| l.mac.is_none()) {
            l.mac = actual.link(&l.name).and_then(|a| a.mac);
        }
    }
}

/// The differences restricted to the links named in `names` and the addresses
/// and routes on them: how a transaction verifies its own work without being
/// confused by other changes on the host.
pub fn diff_on(before: &Snapshot, after: &Snapshot, names: &[IfName]) -> Vec<String> {
    // Links alone, every one the same: nothing to describe, and no
    // canonical forms to build (a batch of guests is verified this way).
    let links_only = [before, after]
        .iter()
        .all(|s| s.addresses.is_empty() && s.routes.is_empty());
    if links_only
        && names
            .iter()
            .all(|n| before.link(n).map(link_key) == after.link(n).map(link_key))
    {
        return Vec::new();
    }
    // Filtered by reference: a transaction verifies a batch of a thousand
    // links with this, and copying them first cost as much as comparing.
    let names: crate::fasthash::FastSet<&IfName> = names.iter().collect();
    let named = |n: &Option<IfName>| n.as_ref().is_some_and(|o| names.contains(o));
    let keep = |s| {
        Canon::of_these(
            s,
            |l| names.contains(&l.name),
            |a| names.contains(&a.ifname),
            |r| named(&r.oif) || r.multipath.iter().any(|h| named(&h.oif)),
        )
    };
    diff_canon(before, after, keep(before), keep(after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Links named `a`..`d`, each present or not, with a setting or two
    /// that may differ.
    fn host() -> impl Strategy<Value = Snapshot> {
        prop::collection::vec((any::<bool>(), 1499u32..1501, any::<bool>(), 0usize..3), 4).prop_map(
            |ls| {
                let names = ["a", "b", "c", "d"];
                let links = ls
                    .into_iter()
                    .zip(names)
                    .filter(|((present, ..), _)| *present)
                    .map(|((_, mtu, up, master), n)| {
                        let mut l = Link::new(1, IfName::new(n).unwrap(), LinkKind::Tun);
                        l.mtu = mtu;
                        l.up = up;
                        l.master = ["", "a", "b"][master]
                            .parse::<IfName>()
                            .ok()
                            .filter(|m| m.as_str() != n);
                        l
                    })
                    .collect();
                Snapshot::new(links, Vec::new(), Vec::new())
            },
        )
    }

    proptest! {
        /// The shortcut for links alone says "the same" exactly when the
        /// canonical comparison does.
        #[test]
        fn diff_on_links_alone_agrees_with_the_canonical_diff(
            a in host(),
            b in host(),
            names in prop::sample::subsequence(vec!["a", "b", "c", "d", "e"], 0..5),
        ) {
            let names: Vec<IfName> = names.iter().map(|n| IfName::new(n).unwrap()).collect();
            let set: std::collections::HashSet<&IfName> = names.iter().collect();
            let keep = |s| Canon::of_these(s, |l| set.contains(&l.name), |_| true, |_| true);
            let canonical = diff_canon(&a, &b, keep(&a), keep(&b));
            prop_assert_eq!(diff_on(&a, &b, &names), canonical);
        }
    }
}
