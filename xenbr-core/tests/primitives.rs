//! Every primitive op, applied to a real kernel in its own namespaces through
//! a transaction: the kernel's state afterwards equals what the in-memory
//! model predicted, and applying the op's undo gives back a snapshot equal
//! to the one before.

#[path = "support/ops.rs"]
mod ops;
#[path = "support/netns.rs"]
mod support;

use ops::{bridge, delete, fixed_bridge, mac, master, n, new_mac, new_mtu, rename, up, veth};
use xenbr_core::op::Op;
use xenbr_core::sandbox::{address, hop, route};
use xenbr_core::state::RT_TABLE_MAIN;
use xenbr_core::{ErrorKind, IfName, MacAddr, Plan};

/// One op on one host: `setup` (applied directly) then `op` (transaction).
fn check(test: &str, setup: Vec<Op>, op: Op) {
    let w = world!(test);
    w.host
        .apply(&setup)
        .unwrap_or_else(|e| panic!("{test}: setup: {e}"));
    let mut host = w.host.host(&support::state_dir(test)).unwrap();
    let before = host.snapshot().unwrap();

    let mut model = before.clone();
    model
        .apply(&op)
        .unwrap_or_else(|e| panic!("{test}: the model refuses {op}: {e}"));
    let plan = Plan::build(&before, vec![op.clone()]).unwrap();
    host.transact(test, |s, _| {
        Ok((Plan::build(s, vec![op.clone()])?, None, ()))
    })
    .unwrap_or_else(|e| panic!("{test}: {op}: {e}"));
    let after = host.snapshot().unwrap();
    model.adopt_unknown_macs(&after);
    support::assert_same(
        &model,
        &after,
        &format!("{test}: model vs kernel after {op}"),
    );

    let undo = plan.undo_all();
    host.transact(&format!("{test} undo"), |s, _| {
        Ok((Plan::build(s, undo.clone())?, None, ()))
    })
    .unwrap_or_else(|e| panic!("{test}: undo of {op} ({undo:?}): {e}"));
    support::assert_same(
        &before,
        &host.snapshot().unwrap(),
        &format!("{test}: do then undo {op}"),
    );
}

#[test]
fn create_bridge() {
    check("create_bridge", vec![], fixed_bridge("xenbr0"));
}

#[test]
fn create_veth() {
    check("create_veth", vec![], veth("veth0", "vif0.0"));
}

#[test]
fn delete_bridge_restores_ports_addresses_routes() {
    check(
        "delete_bridge",
        vec![
            fixed_bridge("br1"),
            veth("p0", "p1"),
            master("p0", Some("br1")),
            up("br1", true),
            up("p0", true),
            Op::add_address(address("br1", "10.9.9.1/24", None)),
            Op::add_route(route(
                "10.8.0.0/16",
                Some("10.9.9.254"),
                "br1",
                Some(7),
                RT_TABLE_MAIN,
            )),
        ],
        delete("br1"),
    );
}

#[test]
fn delete_veth_restores_both_ends() {
    check(
        "delete_veth",
        vec![
            veth("v0", "v1"),
            new_mac("v0", mac("02:00:00:00:00:01")),
            new_mtu("v1", 1400),
            up("v0", true),
            Op::add_address(address("v0", "10.7.7.1/24", None)),
        ],
        delete("v1"),
    );
}

#[test]
fn rename_relabels_addresses() {
    check("rename", vec![], rename("eth0", "peth0"));
}

#[test]
fn set_mac() {
    check("set_mac", vec![], new_mac("eth0", MacAddr::BRIDGE_PORT));
}

#[test]
fn set_mtu() {
    check("set_mtu", vec![], new_mtu("eth0", 9000));
}

#[test]
fn set_master() {
    check(
        "set_master",
        vec![fixed_bridge("xenbr0")],
        master("eth0", Some("xenbr0")),
    );
}

#[test]
fn clear_master() {
    check(
        "clear_master",
        vec![fixed_bridge("xenbr0"), master("eth0", Some("xenbr0"))],
        master("eth0", None),
    );
}

#[test]
fn down_drops_ipv6_and_routes_and_undo_brings_them_back() {
    check("down", vec![], up("eth0", false));
}

#[test]
fn bring_up() {
    check("up", vec![veth("v0", "v1")], up("v0", true));
}

#[test]
fn add_secondary_address() {
    check(
        "add_address",
        vec![],
        Op::add_address(address("eth0", "192.0.2.12/24", Some("eth0:2"))),
    );
}

#[test]
fn add_ipv6_address() {
    check(
        "add_address6",
        vec![],
        Op::add_address(address("eth0", "2001:db8::99/64", None)),
    );
}

#[test]
fn delete_primary_address_takes_secondary_and_routes() {
    let a = address("eth0", "192.0.2.10/24", None);
    check("del_primary", vec![], Op::del_address(a));
}

#[test]
fn delete_ipv6_address() {
    check(
        "del_address6",
        vec![],
        Op::del_address(address("eth0", "2001:db8::10/64", None)),
    );
}

#[test]
fn add_route() {
    check(
        "add_route",
        vec![],
        Op::add_route(route(
            "10.1.0.0/16",
            Some("192.0.2.1"),
            "eth0",
            Some(9),
            200,
        )),
    );
}

#[test]
fn delete_default_route() {
    check(
        "del_route",
        vec![],
        Op::del_route(route(
            "default",
            Some("192.0.2.1"),
            "eth0",
            None,
            RT_TABLE_MAIN,
        )),
    );
}

#[test]
fn delete_ipv6_route() {
    check(
        "del_route6",
        vec![],
        Op::del_route(route(
            "2001:db8:1::/48",
            Some("2001:db8::1"),
            "eth0",
            None,
            RT_TABLE_MAIN,
        )),
    );
}

#[test]
fn errors_name_the_operation_and_interface() {
    let w = world!("errors");
    let mut host = w.host.host(&support::state_dir("errors")).unwrap();
    let before = host.snapshot().unwrap();

    // Refused by the model, before anything is sent.
    let e = host
        .transact("t", |s, _| {
            Ok((Plan::build(s, vec![fixed_bridge("eth0")])?, None, ()))
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Exists, "{e}");
    assert!(
        e.to_string()
            .contains("create bridge eth0: interface eth0 already exists"),
        "{e}"
    );

    let e = host
        .transact("t", |s, _| {
            Ok((Plan::build(s, vec![up("nosuch0", true)])?, None, ()))
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string()
            .contains("bring nosuch0 up: interface nosuch0 does not exist"),
        "{e}"
    );

    // The kernel's own answer to a create of an existing name names it too.
    let e = w.host.apply(&[fixed_bridge("eth0")]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Exists, "{e}");
    assert!(
        e.to_string()
            .starts_with("create bridge eth0: interface eth0 already exists"),
        "{e}"
    );

    // A 16-byte name never becomes a request.
    let e = "abcdefghijklmnop".parse::<IfName>().unwrap_err();
    assert!(e.to_string().contains("16 bytes long"), "{e}");

    support::assert_same(&before, &host.snapshot().unwrap(), "errors change nothing");
}

#[test]
fn a_scoped_snapshot_agrees_with_the_full_one() {
    use xenbr_core::netlink::Scope;
    let w = world!("scoped");
    w.host
        .apply(&[
            fixed_bridge("xenbr0"),
            veth("vif1.0", "vif1.1"),
            master("vif1.0", Some("xenbr0")),
            Op::add_address(address("vif1.1", "10.5.5.5/24", None)),
        ])
        .unwrap();
    let mut sock = w.host.socket().unwrap();
    let full = sock.snapshot().unwrap();
    let names = vec![n("eth0"), n("vif1.0"), n("nosuch0")];
    let scoped = sock
        .snapshot_of(&Scope {
            links: names.clone(),
            bridges: true,
            addresses: true,
            routes: true,
        })
        .unwrap();
    let held: Vec<IfName> = scoped.links.iter().map(|l| l.name.clone()).collect();
    for must in ["eth0", "vif1.0", "xenbr0", "vif1.1"] {
        assert!(held.contains(&n(must)), "{must} held: {held:?}");
    }
    let d = xenbr_core::state::compare::diff_on(&full, &scoped, &held);
    assert!(d.is_empty(), "scoped differs:\n  {}", d.join("\n  "));
    assert!(!scoped.routes.is_empty() && scoped.addresses.iter().any(|a| a.ifname == "vif1.1"));
}

#[test]
fn a_link_local_added_by_hand_is_carried_like_any_address() {
    let w = world!("user_link_local");
    w.host
        .apply(&[Op::add_address(address("eth0", "fe80::1/64", None))])
        .unwrap();
    let mut host = w.host.host(&support::state_dir("user_link_local")).unwrap();
    let s = host.snapshot().unwrap();
    let mine = s
        .addresses
        .iter()
        .find(|a| a.address.to_string() == "fe80::1/64")
        .unwrap();
    assert!(!mine.is_kernel_made(), "{mine:?}");
    assert!(
        s.addresses
            .iter()
            .any(|a| a.ifname == "eth0" && a.is_kernel_made()),
        "the kernel's own link-local"
    );
    // A takeover carries it to dom0's new eth0 and back.
    host.start(&xenbr_core::StartRequest::default()).unwrap();
    let started = host.snapshot().unwrap();
    assert!(started
        .addresses
        .iter()
        .any(|a| a.ifname == "eth0" && a.address.to_string() == "fe80::1/64"));
    host.stop(&xenbr_core::StopRequest::default()).unwrap();
    support::assert_same(
        &s,
        &host.snapshot().unwrap(),
        "start and stop with a hand-made link-local",
    );
}

/// A multipath route with one hop on a link in scope and another on a link
/// outside it reads as in a full snapshot: every hop with its link's name.
/// (A scoped read named only hops on links it held, so verifying a plan
/// that touched one hop's link saw the other hop without a link.)
#[test]
fn a_scoped_snapshot_names_every_hop_of_a_multipath_route() {
    use xenbr_core::netlink::Scope;
    use xenbr_core::state::NextHop;
    let w = world!("scoped_multipath");
    w.host.veth_to("nic1", &w.upstream, "up1").unwrap();
    w.upstream.apply(&[up("up1", true)]).unwrap();
    let mut r = route("10.9.0.0/16", None, "eth0", None, RT_TABLE_MAIN);
    r.oif = None;
    r.scope = 0;
    r.multipath = vec![
        hop("192.0.2.1", "eth0"),
        NextHop {
            weight: 2,
            ..hop("198.51.100.1", "nic1")
        },
    ];
    w.host
        .apply(&[
            up("nic1", true),
            Op::add_address(address("nic1", "198.51.100.10/24", None)),
            Op::add_route(r.clone()),
        ])
        .unwrap();
    let mut sock = w.host.socket().unwrap();
    let full = sock.snapshot().unwrap();
    let hops = |x: &xenbr_core::state::Route| {
        x.multipath
            .iter()
            .map(|h| (h.gateway, h.oif.clone()))
            .collect::<Vec<_>>()
    };
    assert!(
        full.routes.iter().any(|x| hops(x) == hops(&r)),
        "{:?}",
        full.routes
    );
    let scoped = sock
        .snapshot_of(&Scope {
            links: vec![n("eth0")],
            bridges: false,
            addresses: true,
            routes: true,
        })
        .unwrap();
    let held: Vec<IfName> = scoped.links.iter().map(|l| l.name.clone()).collect();
    assert_eq!(held, vec![n("eth0")]);
    let d = xenbr_core::state::compare::diff_on(&full, &scoped, &held);
    assert!(d.is_empty(), "scoped differs:\n  {}", d.join("\n  "));
}

/// Both the model and the kernel refuse `op` on a host prepared with
/// `setup`, the kernel with `errno`; the host is unchanged.
fn refused(test: &str, setup: Vec<Op>, op: Op, errno: i32) {
    let w = world!(test);
    w.host
        .apply(&setup)
        .unwrap_or_else(|e| panic!("{test}: setup: {e}"));
    let mut host = w.host.host(&support::state_dir(test)).unwrap();
    let before = host.snapshot().unwrap();
    let e = before
        .clone()
        .apply(&op)
        .expect_err(&format!("{test}: the model accepts {op}"));
    assert_eq!(e.errno(), Some(errno), "{test}: the model: {e}");
    assert!(Plan::build(&before, vec![op.clone()]).is_err());
    let e = w
        .host
        .apply(std::slice::from_ref(&op))
        .expect_err(&format!("{test}: the kernel accepts {op}"));
    assert_eq!(e.errno(), Some(errno), "{test}: the kernel: {e}");
    support::assert_same(&before, &host.snapshot().unwrap(), test);
}

/// Measured on Linux 6.18: an address with a finite lifetime is not
/// `permanent`, whatever flags were asked (set_ifa_lifetime); a metric of 0
/// is no metric.
#[test]
fn an_address_with_a_lifetime_is_not_permanent() {
    let mut a = address("eth0", "198.51.100.7/24", None);
    a.valid_lft = Some(600);
    a.preferred_lft = Some(20);
    a.metric = Some(0);
    check("lifetime4", vec![], Op::add_address(a));
    let mut a = address("eth0", "2001:db8:7::7/64", None);
    a.valid_lft = Some(600);
    a.preferred_lft = Some(0);
    a.metric = Some(0);
    check("lifetime6", vec![], Op::add_address(a));
}

/// Measured on Linux 6.18: an IPv6 route added with metric 0, or none, has
/// metric 1024; an IPv4 one with metric 0 has none.
#[test]
fn a_route_metric_of_zero() {
    check(
        "metric0_v6",
        vec![],
        Op::add_route(route("2001:db8:9::/48", None, "eth0", Some(0), 100)),
    );
    let mut r = route("2001:db8:8::/48", None, "eth0", None, 100);
    r.priority = None;
    check("metric_none_v6", vec![], Op::add_route(r));
    check(
        "metric0_v4",
        vec![],
        Op::add_route(route("10.9.0.0/16", None, "eth0", Some(0), 100)),
    );
}

/// Measured on Linux 6.18: a bridge with spanning tree on keeps its
/// forward delay within 2 and 30 seconds (`stp_state 1 forward_delay 0`
/// gives 200, 5000 gives 3000).
#[test]
fn spanning_tree_bounds_the_forward_delay() {
    for (fd, test) in [(0, "stp_fd0"), (5000, "stp_fd5000")] {
        check(
            test,
            vec![],
            Op::CreateBridge {
                name: n("br1"),
                mac: Some(mac("02:00:00:00:00:b1")),
                stp: true,
                forward_delay: fd,
            },
        );
    }
}

/// Measured on Linux 6.18: loopback cannot be a port (EINVAL), no link
/// takes a zero or group MAC (EADDRNOTAVAIL), so loopback's cannot be set
/// back once changed.
#[test]
fn ports_and_macs_must_be_ethernet() {
    refused(
        "lo_port",
        vec![fixed_bridge("br1")],
        master("lo", Some("br1")),
        libc::EINVAL,
    );
    for (mac, test) in [
        ("00:00:00:00:00:00", "mac_zero"),
        ("01:00:5e:00:00:01", "mac_group"),
    ] {
        refused(
            test,
            vec![],
            new_mac("eth0", mac.parse().unwrap()),
            libc::EADDRNOTAVAIL,
        );
    }
    let w = world!("lo_mac");
    let before = w.host.socket().unwrap().snapshot().unwrap();
    let e = Plan::build(&before, vec![new_mac("lo", mac("02:00:00:00:00:01"))]).unwrap_err();
    assert!(e.to_string().contains("could not undo"), "{e}");
}

/// Measured on Linux 6.18: an IPv6 address a link has with one prefix is
/// refused with another (EEXIST); an IPv4 address that would be a secondary
/// of one of another scope is refused (EINVAL, "Invalid scope value").
#[test]
fn addresses_the_kernel_refuses() {
    refused(
        "v6_other_prefix",
        vec![],
        Op::add_address(address("eth0", "2001:db8::10/128", None)),
        libc::EEXIST,
    );
    let mut a = address("eth0", "192.0.2.12/24", None);
    a.scope = 254;
    refused(
        "v4_secondary_scope",
        vec![],
        Op::add_address(a),
        libc::EINVAL,
    );
}

/// Measured on Linux 6.18: a route is refused (EEXIST) when one with the
/// same table, destination, TOS and metric exists, even through another
/// link or gateway, IPv4 and IPv6 alike.
#[test]
fn a_route_with_the_key_of_another_is_refused() {
    let setup = || {
        vec![
            fixed_bridge("br1"),
            up("br1", true),
            Op::add_route(route("10.8.0.0/16", None, "br1", None, RT_TABLE_MAIN)),
            Op::add_route(route("2001:db8:8::/48", None, "br1", None, RT_TABLE_MAIN)),
        ]
    };
    refused(
        "same_key_v4",
        setup(),
        Op::add_route(route(
            "10.8.0.0/16",
            Some("192.0.2.1"),
            "eth0",
            None,
            RT_TABLE_MAIN,
        )),
        libc::EEXIST,
    );
    refused(
        "same_key_v6",
        setup(),
        Op::add_route(route("2001:db8:8::/48", None, "eth0", None, RT_TABLE_MAIN)),
        libc::EEXIST,
    );
}

/// Measured on Linux 6.18: a route named by its key alone (as `ip route
/// del` names it, scope 0) deletes one of scope link or host.
#[test]
fn a_route_named_by_its_key_is_deleted_whatever_its_scope() {
    let mut r = route("10.7.0.0/16", None, "eth0", None, RT_TABLE_MAIN);
    assert_eq!(r.scope, 253);
    let w = world!("del_by_key");
    w.host.apply(&[Op::add_route(r.clone())]).unwrap();
    r.scope = 0;
    r.protocol = 0;
    w.host.apply(&[Op::del_route(r.clone())]).unwrap();
    let s = w.host.socket().unwrap().snapshot().unwrap();
    assert!(!s.routes.iter().any(|x| x.destination == r.destination));
}

/// Measured on Linux 6.18: a bridge created without a MAC takes the
/// smallest MAC of its ports, and 00:00:00:00:00:00 once it has none; one
/// whose MAC was set keeps it. The model predicts the all-zero one's next
/// MAC, and undoing a port change puts a bridge's MAC back.
#[test]
fn a_bridge_that_chose_its_mac_follows_its_ports() {
    let w = world!("bridge_auto_mac");
    w.host
        .apply(&[
            bridge("br1"),
            veth("v0", "v1"),
            new_mac("v0", mac("02:00:00:00:00:05")),
            new_mac("v1", mac("02:00:00:00:00:03")),
        ])
        .unwrap();
    let mut sock = w.host.socket().unwrap();
    let br_mac = |sock: &mut xenbr_core::netlink::Socket| {
        sock.snapshot()
            .unwrap()
            .link(&n("br1"))
            .unwrap()
            .mac
            .unwrap()
    };
    let random = br_mac(&mut sock);
    w.host.apply(&[master("v0", Some("br1"))]).unwrap();
    assert_eq!(br_mac(&mut sock), mac("02:00:00:00:00:05"));
    w.host.apply(&[master("v1", Some("br1"))]).unwrap();
    assert_eq!(br_mac(&mut sock), mac("02:00:00:00:00:03"));
    w.host
        .apply(&[master("v1", None), master("v0", None)])
        .unwrap();
    assert!(br_mac(&mut sock).is_zero(), "{random}");

    // All zeros is the kernel's choice: the model knows what comes next.
    let before = sock.snapshot().unwrap();
    let plan = Plan::build(&before, vec![master("v1", Some("br1"))]).unwrap();
    let predicted = plan.expected.link(&n("br1")).unwrap().mac;
    w.host.apply(&[master("v1", Some("br1"))]).unwrap();
    assert_eq!(predicted, Some(br_mac(&mut sock)));
    assert_eq!(predicted, Some(mac("02:00:00:00:00:03")));
}

/// The other half: a bridge whose MAC was set keeps it, and one that chose
/// its MAC gets it back when a port change is undone.
#[test]
fn undoing_a_port_change_puts_a_bridges_mac_back() {
    for b in ["br1", "br2"] {
        check(
            &format!("bridge_mac_back_{b}"),
            vec![bridge("br1"), fixed_bridge("br2")],
            master("eth0", Some(b)),
        );
    }
}

/// A rollback that gives a bridge its kernel-chosen MAC back by putting its
/// ports back does not set it: the bridge still follows its ports after.
#[test]
fn a_rollback_leaves_a_kernel_chosen_mac_to_the_kernel() {
    let w = world!("bridge_mac_stays_auto");
    w.host
        .apply(&[
            bridge("br1"),
            veth("v0", "v1"),
            new_mac("v0", mac("02:00:00:00:00:05")),
            new_mac("v1", mac("02:00:00:00:00:03")),
            master("v0", Some("br1")),
        ])
        .unwrap();
    let dir = support::state_dir("bridge_mac_stays_auto");
    let mut host = w.host.host(&dir).unwrap();
    let before = host.snapshot().unwrap();
    let ops = vec![master("v1", Some("br1")), up("br1", true)];
    let mut failing = w.host.host(&dir).unwrap().test_faults(Some(2), None);
    let e = failing
        .transact("t", |s, _| Ok((Plan::build(s, ops.clone())?, None, ())))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RolledBack, "{e}");
    support::assert_same(&before, &host.snapshot().unwrap(), "rolled back");
    w.host
        .apply(&[new_mac("v0", mac("02:00:00:00:00:01"))])
        .unwrap();
    let br = host.snapshot().unwrap().link(&n("br1")).unwrap().mac;
    assert_eq!(br, Some(mac("02:00:00:00:00:01")), "br1 still follows v0");
}

/// Measured on Linux 6.18: a bridge whose MTU was never set takes the
/// smallest of its ports' MTUs (1500 without ports), and loses its IPv6
/// addresses and routes when that falls below 1280, which do not come back
/// with the MTU. The model predicts it, and the undo puts them back.
#[test]
fn a_bridge_that_chose_its_mtu_follows_its_ports() {
    let setup = || {
        vec![
            bridge("br1"),
            up("br1", true),
            veth("v0", "v1"),
            master("v0", Some("br1")),
            Op::add_address(address("br1", "2001:db8:4::1/64", None)),
            Op::add_route(route("2001:db8:5::/48", None, "br1", None, RT_TABLE_MAIN)),
        ]
    };
    check("bridge_auto_mtu_dip", setup(), new_mtu("v0", 1200));
    check("bridge_auto_mtu_port", setup(), master("eth0", Some("br1")));
}

/// A bridge whose MTU was set keeps it whatever its ports, and keeps it
/// when deleted and re-created by an undo (setting an MTU to what it is
/// does not count as setting it, so the undo must make it count).
#[test]
fn a_bridge_whose_mtu_was_set_keeps_it() {
    check(
        "bridge_set_mtu_kept",
        vec![
            fixed_bridge("br1"),
            new_mtu("br1", 1400),
            new_mtu("br1", 1500),
            new_mtu("eth0", 9000),
            master("eth0", Some("br1")),
        ],
        delete("br1"),
    );
}

/// Both the model and the kernel refuse `op` after `setup`, whatever errno
/// each gives; the host is unchanged.
fn refused_any(test: &str, setup: Vec<Op>, op: Op) {
    let w = world!(test);
    w.host
        .apply(&setup)
        .unwrap_or_else(|e| panic!("{test}: setup: {e}"));
    let mut host = w.host.host(&support::state_dir(test)).unwrap();
    let before = host.snapshot().unwrap();
    assert!(
        Plan::build(&before, vec![op.clone()]).is_err(),
        "{test}: the model accepts {op}"
    );
    assert!(
        w.host.apply(std::slice::from_ref(&op)).is_err(),
        "{test}: the kernel accepts {op}"
    );
    support::assert_same(&before, &host.snapshot().unwrap(), test);
}

/// Measured on Linux 6.18: a gateway must be reachable through the route's
/// link unless `onlink`; it must not be a local address with `onlink`
/// (IPv4) or at all (IPv6); an IPv4 preferred source must be local.
#[test]
fn a_route_the_addresses_of_the_moment_refuse() {
    let r = |dest: &str, gw: &str| route(dest, Some(gw), "eth0", None, RT_TABLE_MAIN);
    // 203.0.113.1 is in no prefix of eth0's.
    refused_any(
        "gw_unreachable4",
        vec![],
        Op::add_route(r("10.1.0.0/16", "203.0.113.1")),
    );
    refused_any(
        "gw_unreachable6",
        vec![],
        Op::add_route(r("2001:db8:9::/48", "2001:db8:7::1")),
    );
    refused_any(
        "gw_local6",
        vec![],
        Op::add_route(r("2001:db8:9::/48", "2001:db8::10")),
    );
    let mut onlink = r("10.1.0.0/16", "192.0.2.10");
    onlink.flags = 4;
    refused_any("gw_local_onlink4", vec![], Op::add_route(onlink));
    let mut src = r("10.1.0.0/16", "192.0.2.1");
    src.prefsrc = Some("198.51.100.77".parse().unwrap());
    refused_any("prefsrc_not_local", vec![], Op::add_route(src));
    // Reachable through eth0's prefix, or on-link, they are taken.
    check(
        "gw_ok4",
        vec![],
        Op::add_route(r("10.1.0.0/16", "192.0.2.1")),
    );
    let mut onlink = r("10.2.0.0/16", "203.0.113.1");
    onlink.flags = 4;
    check("gw_onlink4", vec![], Op::add_route(onlink));
    check(
        "gw_ok6",
        vec![],
        Op::add_route(r("2001:db8:9::/48", "2001:db8::1")),
    );
}

/// Measured on Linux 6.18: a route whose gateway's prefix goes with an
/// address stays, but the kernel would not add it back: a plan that then
/// deletes it could not be undone, and is refused.
#[test]
fn a_route_kept_without_its_gateways_prefix_cannot_be_deleted() {
    let gw_route = route("10.0.0.0/8", Some("192.0.2.1"), "br1", None, RT_TABLE_MAIN);
    let w = world!("kept_route");
    w.host
        .apply(&[
            fixed_bridge("br1"),
            up("br1", true),
            Op::add_address(address("br1", "192.0.2.5/24", None)),
            Op::add_address(address("br1", "198.51.100.5/24", None)),
            Op::add_route(gw_route.clone()),
        ])
        .unwrap();
    let mut sock = w.host.socket().unwrap();
    let before = sock.snapshot().unwrap();
    let del_addr = Op::del_address(address("br1", "192.0.2.5/24", None));
    let e = Plan::build(
        &before,
        vec![del_addr.clone(), Op::del_route(gw_route.clone())],
    )
    .unwrap_err();
    assert!(e.to_string().contains("could not undo"), "{e}");
    w.host.apply(&[del_addr]).unwrap();
    let kept = sock.snapshot().unwrap();
    assert!(kept
        .routes
        .iter()
        .any(|r| r.destination == gw_route.destination));
    w.host.apply(&[Op::del_route(gw_route.clone())]).unwrap();
    assert!(w.host.apply(&[Op::add_route(gw_route)]).is_err());
}

/// Measured on Linux 6.18: deleting a link deletes its addresses, and the
/// routes elsewhere that prefer one of them as source go too.
#[test]
fn deleting_a_link_takes_the_routes_preferring_its_addresses() {
    let mut r = route("10.2.0.0/16", None, "eth0", None, RT_TABLE_MAIN);
    r.prefsrc = Some("10.1.1.5".parse().unwrap());
    check(
        "delete_link_prefsrc",
        vec![
            veth("v0", "v1"),
            up("v0", true),
            Op::add_address(address("v0", "10.1.1.5/24", None)),
            Op::add_route(r),
        ],
        delete("v0"),
    );
}

/// Measured on Linux 6.18: deleting a link whose secondary address is the
/// route's preferred source keeps the route (a secondary of a link being
/// unregistered flushes nothing), where deleting the address would take
/// it. The route is then one no one could add back (its source is not
/// local), so xenbr refuses that delete, naming the route, and changes
/// nothing; the kernel, told directly, does as described.
#[test]
fn a_deleted_links_secondary_keeps_its_routes() {
    let test = "delete_link_secondary_prefsrc";
    let mut r = route("10.2.0.0/16", None, "eth0", None, RT_TABLE_MAIN);
    r.prefsrc = Some("10.1.1.6".parse().unwrap());
    let w = world!(test);
    w.host
        .apply(&[
            veth("v0", "v1"),
            up("v0", true),
            Op::add_address(address("v0", "10.1.1.5/24", None)),
            Op::add_address(address("v0", "10.1.1.6/24", None)),
            Op::add_route(r),
        ])
        .unwrap();
    let mut host = w.host.host(&support::state_dir(test)).unwrap();
    let before = host.snapshot().unwrap();
    let e = host
        .transact(test, |s, _| {
            Ok((Plan::build(s, vec![delete("v0")])?, None, ()))
        })
        .unwrap_err();
    assert_eq!(e.kind(), xenbr_core::ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("10.2.0.0/16"), "{e}");
    support::assert_same(&before, &host.snapshot().unwrap(), "refused");
    w.host.apply(&[delete("v0")]).unwrap();
    let after = host.snapshot().unwrap();
    assert!(
        after
            .routes
            .iter()
            .any(|x| x.prefsrc == Some("10.1.1.6".parse().unwrap())),
        "the kernel kept the route"
    );
}

/// The kernel keeps an on-link route whose gateway becomes a local
/// address, but would refuse to add it back: the model refuses to make it
/// local, since nothing that removed the route could then be undone.
#[test]
fn an_address_that_is_an_on_link_gateway_is_refused() {
    let mut r = route(
        "10.1.0.0/16",
        Some("203.0.113.1"),
        "eth0",
        None,
        RT_TABLE_MAIN,
    );
    r.flags = 4;
    let w = world!("onlink_gw_local");
    w.host.apply(&[Op::add_route(r.clone())]).unwrap();
    let before = w.host.socket().unwrap().snapshot().unwrap();
    let add = Op::add_address(address("eth0", "203.0.113.1/24", None));
    assert!(Plan::build(&before, vec![add.clone()]).is_err());
    w.host.apply(&[add]).unwrap();
    w.host.apply(&[Op::del_route(r.clone())]).unwrap();
    assert!(w.host.apply(&[Op::add_route(r)]).is_err());
}

/// Measured on Linux 6.18: a multipath route's hop through a link without
/// carrier is flagged `linkdown`, which follows the link's state and is no
/// configuration, as for a route's own flags.
#[test]
fn a_hops_link_state_flags_are_not_configuration() {
    let mut r = route("10.9.0.0/16", None, "eth0", None, RT_TABLE_MAIN);
    r.oif = None;
    r.scope = 0;
    r.multipath = ["eth0", "nic1"]
        .iter()
        .zip(["192.0.2.1", "198.51.100.1"])
        .map(|(dev, gw)| hop(gw, dev))
        .collect();
    let w = world!("hop_linkdown");
    // nic1's other end stays down: no carrier.
    w.host.veth_to("nic1", &w.upstream, "up1").unwrap();
    w.host
        .apply(&[
            up("nic1", true),
            Op::add_address(address("nic1", "198.51.100.10/24", None)),
        ])
        .unwrap();
    let mut host = w.host.host(&support::state_dir("hop_linkdown")).unwrap();
    let before = host.snapshot().unwrap();
    let plan = Plan::build(&before, vec![Op::add_route(r.clone())]).unwrap();
    host.transact("t", |s, _| {
        Ok((Plan::build(s, vec![Op::add_route(r.clone())])?, None, ()))
    })
    .unwrap();
    let after = host.snapshot().unwrap();
    let read = after
        .routes
        .iter()
        .find(|x| x.destination == r.destination)
        .unwrap();
    assert!(read.multipath.iter().any(|h| h.flags & 16 != 0), "{read:?}");
    support::assert_same(&plan.expected, &after, "linkdown is no configuration");
}

/// Measured on Linux 6.18: IPv6 reports a blackhole route with loopback as
/// its link, IPv4 with none; it has none.
#[test]
fn a_blackhole_route_has_no_link() {
    for dest in ["2001:db8:6::/48", "10.6.0.0/16"] {
        let mut r = route(dest, None, "eth0", None, 100);
        r.oif = None;
        r.scope = 0;
        r.kind = 6;
        check(
            &format!("blackhole_{}", r.destination.is_ipv4()),
            vec![],
            Op::add_route(r),
        );
    }
}

/// Measured on Linux 6.18: loopback's ::1/128 (`proto kernel_lo`) and
/// 127.0.0.1/8 (no protocol) are the kernel's: ::1 goes when loopback goes
/// down, and both are put there again when it comes up.
#[test]
fn loopbacks_own_addresses_are_the_kernels() {
    let w = world!("lo_own");
    let s = w.host.socket().unwrap().snapshot().unwrap();
    let lo = n("lo");
    let own: Vec<_> = s.addresses_of(&lo).filter(|a| a.is_kernel_made()).collect();
    assert_eq!(own.len(), 2, "{own:?}");
    drop(w);
    check("lo_down", vec![], up("lo", false));
}

/// Multipath routes through eth0 and veths v0 and v2 (whose other ends
/// v1 and v3 are up, so they have carrier).
fn multipath_setup() -> Vec<Op> {
    use xenbr_core::state::NextHop;
    let multipath = |dest: &str, hops: Vec<NextHop>| {
        let mut r = route(dest, None, "eth0", None, RT_TABLE_MAIN);
        r.oif = None;
        r.scope = 0;
        r.multipath = hops;
        Op::add_route(r)
    };
    let mut ops = Vec::new();
    for (a, b) in [("v0", "v1"), ("v2", "v3")] {
        ops.push(veth(a, b));
        ops.extend([up(a, true), up(b, true)]);
    }
    ops.extend([
        Op::add_address(address("v0", "10.1.1.5/24", None)),
        multipath(
            "10.3.0.0/16",
            vec![hop("192.0.2.1", "eth0"), hop("10.1.1.1", "v0")],
        ),
        multipath(
            "fd00:3::/64",
            vec![
                hop("fe80::1", "eth0"),
                hop("fe80::2", "v0"),
                hop("fe80::3", "v2"),
            ],
        ),
        multipath(
            "fd00:4::/64",
            vec![hop("fe80::1", "eth0"), hop("fe80::2", "v0")],
        ),
    ]);
    ops
}

/// Measured on Linux 6.18: a link going down, or losing its last IPv4
/// address, leaves the multipath routes through it (the kernel marks the
/// hop dead) unless all their hops are down.
#[test]
fn a_multipath_route_outlives_one_hop_going_down() {
    check("multipath_down", multipath_setup(), up("v0", false));
    check(
        "multipath_last_ipv4",
        multipath_setup(),
        Op::del_address(address("v0", "10.1.1.5/24", None)),
    );
}

/// Measured on Linux 6.18: deleting a link removes an IPv4 multipath route
/// through it whole, but only the hop through it of an IPv6 one (a set of
/// siblings; with one hop left it shows as a plain route). The undo adds
/// the whole route back. An MTU below 1280 takes the hop too; as replaying
/// that undo for a step that never ran would take the other hops, the
/// model refuses it.
#[test]
fn an_ipv6_multipath_route_loses_only_the_hop_that_went_away() {
    check("multipath_delete", multipath_setup(), delete("v0"));
    let w = world!("multipath_mtu");
    w.host.apply(&multipath_setup()).unwrap();
    let mut sock = w.host.socket().unwrap();
    let before = sock.snapshot().unwrap();
    let mtu = new_mtu("v0", 1200);
    let mut model = before.clone();
    model.apply(&mtu).unwrap();
    assert!(Plan::build(&before, vec![mtu.clone()]).is_err());
    w.host.apply(&[mtu]).unwrap();
    let after = sock.snapshot().unwrap();
    support::assert_same(&model, &after, "an MTU below 1280 takes the hop");
    let left = after
        .routes
        .iter()
        .find(|r| r.destination.to_string() == "fd00:3::/64")
        .unwrap();
    assert_eq!(left.multipath.len(), 2, "{left:?}");
}

/// Measured on Linux 6.18: renaming a link relabels its IPv4 addresses,
/// cutting the new name by bytes to fit a label's suffix, which can leave
/// half a character. The host must still be readable, with the label cut
/// by characters as the model cuts it.
#[test]
fn a_label_cut_inside_a_character_is_read() {
    check(
        "label_cut_utf8",
        vec![
            fixed_bridge("a"),
            Op::add_address(address("a", "192.0.2.1/24", None)),
            Op::add_address(address("a", "192.0.2.2/24", Some("a:x"))),
        ],
        rename("a", "éééééééa"),
    );
}

/// Measured on Linux 6.18: when an IPv4 address goes, the routes preferring
/// it as source go only from the main table (fib_sync_down_addr); and an
/// on-link gateway must not be a broadcast address (the prefix's).
#[test]
fn preferred_sources_and_on_link_gateways() {
    let with_src = |dest: &str, table: u32| {
        let mut r = route(dest, None, "eth0", None, table);
        r.prefsrc = Some("192.0.2.11".parse().unwrap());
        Op::add_route(r)
    };
    check(
        "prefsrc_main_only",
        vec![
            with_src("10.1.0.0/16", RT_TABLE_MAIN),
            with_src("10.2.0.0/16", 100),
        ],
        Op::del_address(address("eth0", "192.0.2.11/24", Some("eth0:1"))),
    );
    let mut r = route(
        "10.4.0.0/16",
        Some("198.51.100.7"),
        "eth0",
        None,
        RT_TABLE_MAIN,
    );
    r.flags = 4;
    refused_any(
        "gw_onlink_broadcast",
        vec![Op::add_address(address("eth0", "198.51.100.5/30", None))],
        Op::add_route(r),
    );
}

/// A bridge whose MAC is all zeros chose it (it has no ports): with a port
/// it takes the port's; setting it then is refused, as the bridge would no
/// longer follow its ports and nothing could undo that.
#[test]
fn setting_the_mac_a_bridge_chose_is_refused() {
    let w = world!("zero_mac_set");
    w.host
        .apply(&[
            bridge("br1"),
            master("eth0", Some("br1")),
            master("eth0", None),
        ])
        .unwrap();
    let s = w.host.socket().unwrap().snapshot().unwrap();
    let br = s.link(&n("br1")).unwrap();
    assert!(br.mac.unwrap().is_zero() && br.mac_follows_ports, "{br:?}");
    let attach = master("eth0", Some("br1"));
    let set = new_mac("br1", mac("02:00:00:00:00:09"));
    let plan = Plan::build(&s, vec![attach.clone()]).unwrap();
    let eth0 = s.link(&n("eth0")).unwrap().mac;
    assert_eq!(plan.expected.link(&n("br1")).unwrap().mac, eth0);
    let e = Plan::build(&s, vec![attach, set]).unwrap_err();
    assert!(e.to_string().contains("could not undo"), "{e}");
}

/// Measured on Linux 6.18: an address on loopback makes its whole prefix
/// local (its prefix route is of type local), so an on-link gateway inside
/// it is refused; the model refuses to add such an address under an
/// on-link gateway, as the route could not be added back.
#[test]
fn a_loopback_prefix_is_all_local() {
    let mut r = route(
        "10.5.0.0/16",
        Some("198.51.100.2"),
        "eth0",
        None,
        RT_TABLE_MAIN,
    );
    r.flags = 4;
    let on_lo = Op::add_address(address("lo", "198.51.100.1/24", None));
    refused_any(
        "gw_in_lo_prefix",
        vec![on_lo.clone()],
        Op::add_route(r.clone()),
    );
    let w = world!("lo_prefix_under_gw");
    w.host.apply(&[Op::add_route(r.clone())]).unwrap();
    let before = w.host.socket().unwrap().snapshot().unwrap();
    assert!(Plan::build(&before, vec![on_lo.clone()]).is_err());
    w.host.apply(&[on_lo, Op::del_route(r.clone())]).unwrap();
    assert!(w.host.apply(&[Op::add_route(r)]).is_err());
}

/// A link taken down and brought up again in one plan is up: the two
/// changes go in two messages (merged into one, the down won).
#[test]
fn down_then_up_in_one_plan() {
    let w = world!("down_up");
    let mut host = w.host.host(&support::state_dir("down_up")).unwrap();
    let ops = vec![up("eth0", false), up("eth0", true)];
    host.transact("t", |s, _| Ok((Plan::build(s, ops.clone())?, None, ())))
        .unwrap();
    let s = host.snapshot().unwrap();
    assert!(s.link(&n("eth0")).unwrap().up);
}

/// An IPv6 route that sends nowhere, to `dest`, of kind `kind`.
fn reject6(dest: &str, kind: u8) -> Op {
    let mut r = route(dest, None, "eth0", Some(100), RT_TABLE_MAIN);
    r.oif = None;
    r.kind = kind;
    Op::add_route(r)
}

/// Measured on Linux 6.18: IPv6 routes that send nowhere (blackhole,
/// unreachable) hang on loopback: they go when it goes down, or below an
/// MTU of 1280.
#[test]
fn ipv6_reject_routes_hang_on_loopback() {
    let setup = || vec![reject6("2001:db8:5::/48", 6), reject6("2001:db8:6::/48", 7)];
    check("rejects_lo_down", setup(), up("lo", false));
    check("rejects_lo_mtu", setup(), new_mtu("lo", 1279));
}

/// Measured on Linux 6.18: an IPv6 route's `mtu` follows its link's MTU,
/// down to it when above it, up with it when it was the link's (IPv4's
/// does not).
#[test]
fn an_ipv6_routes_mtu_follows_its_link() {
    let with_mtu = |dest: &str, mtu: u32| {
        let mut r = route(dest, None, "eth0", None, RT_TABLE_MAIN);
        r.metrics = vec![(2, mtu)];
        Op::add_route(r)
    };
    let setup = || {
        vec![
            with_mtu("2001:db8:8::/48", 1400),
            with_mtu("2001:db8:9::/48", 1500),
            with_mtu("10.9.0.0/16", 1400),
        ]
    };
    for (mtu, test) in [(1300, "route_mtu_down"), (9000, "route_mtu_up")] {
        check(test, setup(), new_mtu("eth0", mtu));
    }
}

/// An address inside a loopback prefix stays local when another link's
/// copy of it goes, and the routes preferring it as source stay.
#[test]
fn a_source_local_through_loopback_stays() {
    let mut r = route("10.1.0.0/16", None, "eth0", None, RT_TABLE_MAIN);
    r.prefsrc = Some("198.51.100.7".parse().unwrap());
    check(
        "prefsrc_lo_prefix",
        vec![
            Op::add_address(address("lo", "198.51.100.1/24", None)),
            veth("v0", "v1"),
            up("v0", true),
            Op::add_address(address("v0", "198.51.100.7/32", None)),
            Op::add_route(r),
        ],
        delete("v0"),
    );
}

/// A bridge whose MTU a plan set keeps it when its ports change, even when
/// their smallest comes to equal it (the kernel keeps an MTU that was set;
/// the model knows this one was).
#[test]
fn a_bridge_mtu_set_by_the_plan_is_kept() {
    let w = world!("bridge_mtu_set_kept");
    w.host
        .apply(&[bridge("br1"), master("eth0", Some("br1"))])
        .unwrap();
    let mut host = w
        .host
        .host(&support::state_dir("bridge_mtu_set_kept"))
        .unwrap();
    let ops = vec![
        new_mtu("br1", 1400),
        new_mtu("eth0", 1400),
        new_mtu("eth0", 1300),
    ];
    host.transact("t", |s, _| Ok((Plan::build(s, ops.clone())?, None, ())))
        .unwrap();
    assert_eq!(host.snapshot().unwrap().link(&n("br1")).unwrap().mtu, 1400);
}

/// Measured on Linux 6.18: loopback gets 127.0.0.1/8 back each time it
/// comes up (with no protocol); it is the kernel's, like ::1.
#[test]
fn loopback_gets_127_0_0_1_back() {
    let w = world!("lo_127");
    let mut host = w.host.host(&support::state_dir("lo_127")).unwrap();
    let lo = address("lo", "127.0.0.1/8", None);
    let ops = vec![Op::del_address(lo), up("lo", false), up("lo", true)];
    host.transact("t", |s, _| Ok((Plan::build(s, ops.clone())?, None, ())))
        .unwrap();
    let s = host.snapshot().unwrap();
    let lo = n("lo");
    let back = s.addresses_of(&lo).find(|a| a.address.is_ipv4()).unwrap();
    assert!(back.is_kernel_made(), "{back:?}");
}
