//! Rollback and crash recovery of arbitrary plans, on a real kernel: for
//! every step k of a plan, a failure injected at step k rolls back to a
//! snapshot equal to the one before, and a process killed with SIGKILL
//! after step k, followed by `recover`, gives the same.
//!
//! The cases are the shapes the recovery laws (`model_laws.rs`) found hard:
//! a delete whose undo re-creates a link under a new index, a delete and a
//! rename that never ran, a create whose name an earlier step frees, routes
//! through a link brought up by the plan.

#[path = "support/crash.rs"]
mod crash;
#[path = "support/ops.rs"]
mod ops;
#[path = "support/netns.rs"]
mod support;

use ops::{bridge, delete, fixed_bridge, master, n, new_mac, new_mtu, rename, up, veth};
use std::path::PathBuf;
use xenbr_core::op::Op;
use xenbr_core::sandbox::World;
use xenbr_core::sandbox::{address, hop, route};
use xenbr_core::{ErrorKind, Host, MacAddr, Plan, Recovered, Snapshot};

/// The child's side of a crash (see `support/crash.rs`).
#[test]
fn child() {
    crash::child_main();
}

#[track_caller]
fn same(host: &mut Host, before: &xenbr_core::Snapshot, what: &str) {
    let d = crash::changes(host, before);
    assert!(d.is_empty(), "{what}:\n  {}", d.join("\n  "));
}

/// A world for `test` prepared with `setup`: the world, a state directory,
/// a host on it and its snapshot; `None` after a SKIP line.
fn prepared(test: &str, setup: &[Op]) -> Option<(World, PathBuf, Host, Snapshot)> {
    let w = support::world(test)?;
    w.host
        .apply(setup)
        .unwrap_or_else(|e| panic!("{test}: setup: {e}"));
    let dir = support::state_dir(test);
    let mut host = w.host.host(&dir).unwrap();
    let before = host.snapshot().unwrap();
    Some((w, dir, host, before))
}

/// Every step of `ops` on a host prepared with `setup`: fail there, crash there.
fn every_step(test: &str, setup: &[Op], ops: &[Op]) {
    let Some((w, dir, mut host, before)) = prepared(test, setup) else {
        return;
    };
    let steps = Plan::build(&before, ops.to_vec())
        .unwrap_or_else(|e| panic!("{test}: {e}"))
        .steps
        .len();
    for k in 1..=steps {
        let mut h = w.host.host(&dir).unwrap().test_faults(Some(k), None);
        let e = crash::run(&mut h, ops).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::RolledBack,
            "{test}: failure at step {k}: {e}"
        );
        same(&mut host, &before, &format!("{test}: failure at step {k}"));
    }
    let netns = format!("/proc/{}/fd/{}", std::process::id(), w.host.fd());
    // A crash after step k, and a crash with the steps after k journaled
    // but not sent (the window where the undo of steps that never ran is
    // in the journal).
    let points = (0..=steps)
        .map(|k| ("XENBR_TEST_CRASH_AFTER", k))
        .chain((0..steps).map(|k| ("XENBR_TEST_CRASH_JOURNALED", k)));
    for (hook, k) in points {
        let c = crash::crash(&netns, &dir, ops, hook, k);
        assert!(
            matches!(c, crash::Crash::Killed),
            "{test}: the child survived {hook}={k}: {c:?}"
        );
        let r = host
            .recover()
            .unwrap_or_else(|e| panic!("{test}: recover after a crash at {k}: {e}"));
        assert!(matches!(r, Recovered::Undone { .. }), "{test}: {r:?}");
        same(
            &mut host,
            &before,
            &format!("{test}: crash at {hook}={k}, then recover"),
        );
    }
    crash::run(&mut host, ops).unwrap_or_else(|e| panic!("{test}: the plan itself: {e}"));
}

/// `ops` on a host prepared with `setup` are refused before they start,
/// because their undo could not put back what `names` names, and the host
/// is left as it was.
fn refused_as_not_undoable(test: &str, setup: &[Op], ops: &[Op], names: &str) {
    let Some((_world, _dir, mut host, before)) = prepared(test, setup) else {
        return;
    };
    let e = crash::run(&mut host, ops).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("could not undo") && text.contains(names),
        "{test}: {text}"
    );
    same(&mut host, &before, &format!("{test}: a refused plan"));
}

/// Deleting one end of a veth pair: the undo re-creates both ends under new
/// indices, and the settings of the other end (bound to its old index in
/// earlier entries) must come back too.
#[test]
fn delete_a_veth_end_with_settings_on_the_other() {
    every_step(
        "recovery_veth",
        &[
            veth("v0", "v1"),
            new_mtu("v1", 1400),
            up("v1", true),
            up("v0", true),
        ],
        &[
            new_mac("v1", MacAddr::BRIDGE_PORT),
            Op::add_address(address("v1", "10.6.6.1/24", None)),
            delete("v0"),
        ],
    );
}

/// The shape of network-bridge stop: free the port, take the bridge down,
/// delete it.
#[test]
fn free_a_port_and_delete_its_bridge() {
    every_step(
        "recovery_bridge",
        &[
            fixed_bridge("br1"),
            master("eth0", Some("br1")),
            up("br1", true),
        ],
        &[master("eth0", None), up("br1", false), delete("br1")],
    );
}

/// A rename then a delete of the renamed link: when neither ran, the undo
/// of the delete must not re-create the link beside the intact original.
#[test]
fn rename_then_delete() {
    every_step(
        "recovery_rename_delete",
        &[fixed_bridge("a"), up("a", true)],
        &[rename("a", "b"), delete("b")],
    );
}

/// Bridge mode's move: the NIC's name is freed by a rename, then a bridge
/// takes it. The create's undo (a delete by name) must never hit the NIC.
#[test]
fn a_create_takes_a_name_a_rename_freed() {
    every_step(
        "recovery_name_reuse",
        &[],
        &[
            up("eth0", false),
            rename("eth0", "peth0"),
            fixed_bridge("eth0"),
            master("peth0", Some("eth0")),
        ],
    );
}

/// Routes through a link the plan brings up, added and deleted again.
#[test]
fn routes_through_a_link_brought_up() {
    let r = route("198.51.100.0/24", None, "a", None, 254);
    every_step(
        "recovery_routes",
        &[fixed_bridge("a")],
        &[up("a", true), Op::add_route(r.clone()), Op::del_route(r)],
    );
}

/// A veth pair deleted, then one of its names taken by a new pair that is
/// renamed: the rollback deletes the new pair and re-creates the old one
/// with its settings.
#[test]
fn delete_a_veth_then_reuse_its_name() {
    every_step(
        "recovery_veth_reuse",
        &[
            veth("x", "y"),
            up("x", true),
            up("y", true),
            Op::add_address(address("x", "2001:db8:3::3/64", None)),
        ],
        &[delete("x"), veth("x", "i0"), rename("x", "y")],
    );
}

/// A link the plan creates and then deletes: the undo of the delete
/// re-creates it under a new index, and the undo of the create must delete
/// that one, not look for the index it was created with.
#[test]
fn create_then_delete() {
    every_step(
        "recovery_create_delete",
        &[],
        &[fixed_bridge("f"), delete("f")],
    );
}

/// A bridge created without a MAC has a random one until its first port,
/// then its ports' smallest, then all zeros once it has none: undoing the
/// port change must give it back the random one.
#[test]
fn a_port_change_on_a_bridge_that_chose_its_mac() {
    every_step(
        "recovery_bridge_auto_mac",
        &[bridge("br1"), up("br1", true)],
        &[master("eth0", Some("br1")), up("eth0", false)],
    );
}

/// A port's MTU below 1280 takes its bridge's (which follows its ports)
/// below too, and the bridge loses its IPv6: undoing must give it back.
#[test]
fn a_port_mtu_that_takes_a_bridge_below_1280() {
    every_step(
        "recovery_bridge_auto_mtu",
        &[
            bridge("br1"),
            up("br1", true),
            master("eth0", Some("br1")),
            Op::add_address(address("br1", "2001:db8:3::1/64", None)),
            Op::add_route(route("2001:db8:5::/48", None, "br1", None, 254)),
        ],
        &[new_mtu("eth0", 1279), up("eth0", false)],
    );
}

/// A bridge whose MTU was set, freed of its port and deleted: the undo
/// re-creates it, and it must keep its MTU when the port comes back.
#[test]
fn free_the_port_of_a_bridge_whose_mtu_was_set_and_delete_it() {
    every_step(
        "recovery_bridge_set_mtu",
        &[
            fixed_bridge("br1"),
            new_mtu("br1", 1400),
            new_mtu("br1", 1500),
            new_mtu("eth0", 9000),
            master("eth0", Some("br1")),
        ],
        &[master("eth0", None), delete("br1")],
    );
}

/// One name created, deleted and created again, then renamed: each
/// create's undo must delete the link that create made (the second one's,
/// or the first one's as its delete's undo re-created it).
#[test]
fn a_name_created_twice() {
    every_step(
        "recovery_created_twice",
        &[],
        &[
            fixed_bridge("f"),
            delete("f"),
            fixed_bridge("f"),
            rename("f", "g"),
        ],
    );
}

/// A bridge that chose its MAC (all zeros: it lost its ports) gets a port
/// and is deleted: its undo must let the kernel choose again, or the
/// bridge keeps its port's MAC when the port goes.
#[test]
fn delete_a_bridge_that_chose_its_mac() {
    every_step(
        "recovery_delete_auto_mac_bridge",
        &[
            bridge("br1"),
            veth("p", "q"),
            master("p", Some("br1")),
            master("p", None),
        ],
        &[master("p", Some("br1")), delete("br1")],
    );
}

/// Deleting one hop's link of an IPv6 multipath route leaves the other
/// hops; the undo deletes what is left and adds the whole route, which
/// must change nothing when the delete never ran (crash with it journaled).
#[test]
fn delete_a_hop_link_of_an_ipv6_multipath_route() {
    let mut r = route("fd00:3::/64", None, "eth0", None, 254);
    r.oif = None;
    r.multipath = vec![
        hop("fe80::1", "eth0"),
        hop("fe80::2", "v0"),
        hop("fe80::3", "v2"),
    ];
    let mut setup = Vec::new();
    for (a, b) in [("v0", "v1"), ("v2", "v3")] {
        setup.push(veth(a, b));
        setup.extend([up(a, true), up(b, true)]);
    }
    setup.push(Op::add_route(r));
    every_step(
        "recovery_v6_multipath_hop",
        &setup,
        &[delete("v0"), up("v2", false)],
    );
}

/// A name freed by a delete, taken by a rename, given up by another
/// rename: when none of it ran (crash with it journaled), renaming back
/// must not collide with the link that still has the name.
#[test]
fn rename_into_a_freed_name_then_away() {
    every_step(
        "recovery_rename_freed_name",
        &[veth("x", "q"), fixed_bridge("b")],
        &[delete("x"), rename("b", "q"), rename("q", "r")],
    );
}

/// A bridge following its port's MTU goes below 1280 with it, losing its
/// IPv6, and is then deleted: replaying the delete's undo when it never ran
/// sets the bridge's MTU; the earlier steps' undo must set it back before
/// putting the IPv6 address back.
#[test]
fn a_bridge_below_1280_then_deleted() {
    every_step(
        "recovery_bridge_mtu_then_delete",
        &[bridge("br1"), up("br1", true), master("eth0", Some("br1"))],
        &[
            Op::add_address(address("br1", "2001:db8:3::1/64", None)),
            new_mtu("eth0", 1279),
            delete("br1"),
        ],
    );
}

/// A bridge deleted, then its former port put on another bridge: when
/// neither ran (crash with them journaled), the second's undo frees the
/// port, and the first's must put it back on its bridge.
#[test]
fn delete_a_bridge_then_move_its_port() {
    every_step(
        "recovery_move_port",
        &[
            fixed_bridge("b1"),
            fixed_bridge("b2"),
            veth("p", "q"),
            master("p", Some("b1")),
        ],
        &[delete("b1"), master("p", Some("b2"))],
    );
}

/// A bridge that follows its ports' MTU gets a port of 1492, is renamed
/// and gets another: recovering from a crash with none of it run must not
/// set the bridge's MTU (replaying the undo of steps that never ran), or it
/// stops following its ports and the plan, run at last, fails to verify.
#[test]
fn recovery_leaves_a_bridge_following_its_ports() {
    every_step(
        "recovery_bridge_keeps_following",
        &[bridge("br"), veth("x", "y"), new_mtu("y", 1492)],
        &[
            master("y", Some("br")),
            rename("br", "br2"),
            master("x", Some("br2")),
        ],
    );
}

/// A create that finds its name taken (another tool made the link between
/// the snapshot and the send) fails with EEXIST; the rollback undoes the
/// steps before it and leaves the other party's link alone, which a replay
/// of the create's undo (delete by name) would have deleted.
#[test]
fn a_create_whose_name_was_taken_meanwhile_leaves_that_link() {
    let test = "recovery_create_name_taken";
    let Some(w) = support::world(test) else {
        return;
    };
    let dir = support::state_dir(test);
    let mut host = w.host.host(&dir).unwrap();
    let ops = [new_mtu("eth0", 1400), fixed_bridge("xb")];
    let mut after_snapshot = None;
    let e = host
        .transact("test plan", |s, _| {
            let plan = Plan::build(s, ops.to_vec())?;
            // The other party, after xenbr read the host.
            w.host.apply(&[veth("xb", "xc")])?;
            after_snapshot = Some(s.clone());
            Ok((plan, None, ()))
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RolledBack, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("xb"), "the error names the link: {msg}");
    let now = host.snapshot().unwrap();
    let theirs = now
        .link(&n("xb"))
        .expect("the other party's xb is still there");
    assert_eq!(theirs.kind, xenbr_core::state::LinkKind::Veth, "{theirs:?}");
    assert!(now.link(&n("xc")).is_some(), "and its peer");
    let eth0 = now.link(&n("eth0")).unwrap();
    let was = after_snapshot.unwrap().link(&n("eth0")).unwrap().mtu;
    assert_eq!(eth0.mtu, was, "step 1 was rolled back");
}

/// An IPv6 route added without a metric (the kernel gives it 1024) beside
/// the same prefix at a lower metric: its undo must delete the 1024 one, not
/// the first of that prefix the kernel finds.
#[test]
fn an_ipv6_route_without_a_metric_beside_a_lower_one() {
    let low = route("fd00:7::/64", None, "eth0", Some(50), 254);
    let mut unset = route("fd00:7::/64", None, "eth0", None, 254);
    unset.priority = None;
    every_step(
        "recovery_ipv6_default_metric",
        &[Op::add_route(low)],
        &[Op::add_route(unset), up("eth0", true)],
    );
}

/// A bridge that lost its last port has the kernel's placeholder MAC
/// (all zeros), which no one can set: a delete could not be undone as it
/// was, so it is refused before anything changes, naming the bridge.
#[test]
fn deleting_a_bridge_without_ports_or_a_mac_is_refused() {
    let test = "recovery_refuse_zero_mac_bridge";
    let Some(w) = support::world(test) else {
        return;
    };
    w.host
        .apply(&[
            bridge("br1"),
            veth("p", "q"),
            master("p", Some("br1")),
            master("p", None),
        ])
        .unwrap();
    let dir = support::state_dir(test);
    let mut host = w.host.host(&dir).unwrap();
    let before = host.snapshot().unwrap();
    let mac = before.link(&n("br1")).unwrap().mac.unwrap();
    assert!(mac.is_zero(), "the kernel's placeholder: {mac}");
    let e = crash::run(&mut host, &[delete("br1")]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("delete br1") && msg.contains("no ports"),
        "{msg}"
    );
    same(&mut host, &before, "a refused delete");
    // With a port, the bridge's MAC is its port's again and the delete can
    // be undone, so it goes ahead.
    crash::run(&mut host, &[master("p", Some("br1")), delete("br1")]).unwrap();
}

/// An IPv4 route of metric 0 added beside the same prefix via a gateway at
/// metric 50. When the add never ran (journaled, not sent), its undo must
/// not delete the other: a delete takes metric 0 and no gateway for "any".
#[test]
fn an_ipv4_route_of_metric_0_that_never_ran_beside_another() {
    // The world has 198.51.100.0/24 via 192.0.2.1 dev eth0 metric 50.
    let direct = route("198.51.100.0/24", None, "eth0", Some(0), 254);
    every_step(
        "recovery_ipv4_metric_0",
        &[],
        &[Op::add_route(direct), up("eth0", true)],
    );
}

/// An IPv6 address added to a link whose MTU the plan first raises to 1280
/// or more: when neither ran, the link has no IPv6 at all, and the undo's
/// delete of the address (ENXIO) is already so.
#[test]
fn an_ipv6_address_on_a_link_that_had_no_ipv6() {
    every_step(
        "recovery_ipv6_disabled",
        &[veth("v", "w"), new_mtu("v", 576)],
        &[
            new_mtu("v", 1500),
            Op::add_address(address("v", "2001:db8::5/64", None)),
        ],
    );
}

/// A port's MTU raised (its bridge follows it up), then the bridge's MTU
/// set. When neither ran (journaled, not sent), the kernel shows the
/// bridge at neither value the undo knows: the bridge's step is undone only
/// if the kernel shows what it set, or the undo would pin the bridge at the
/// port's MTU of a plan that never ran.
#[test]
fn a_bridge_mtu_after_a_port_mtu_neither_of_which_ran() {
    every_step(
        "recovery_bridge_mtu_after_port_mtu",
        &[fixed_bridge("br"), veth("p", "q"), master("p", Some("br"))],
        &[new_mtu("p", 9000), new_mtu("br", 68)],
    );
}

/// A link with two IPv4 addresses loses one and is renamed there and back.
/// The kernel relabels the addresses at each rename (the second becomes
/// `NAME:2`), so when none of it ran (journaled, not sent) replay must not
/// take the second rename for done because the link carries its name: a
/// rename a later step renames away again ends its segment.
#[test]
fn a_rename_there_and_back_that_never_ran() {
    every_step(
        "recovery_rename_there_and_back",
        &[
            veth("v", "u"),
            Op::add_address(address("v", "10.9.0.1/24", None)),
            Op::add_address(address("v", "10.9.1.1/24", None)),
        ],
        &[
            Op::del_address(address("v", "10.9.1.1/24", None)),
            rename("v", "w"),
            up("u", true),
            rename("w", "v"),
        ],
    );
}

/// An IPv4 multipath route whose hops' links lose their last IPv4 address
/// one after the other: the first loss marks its hop dead (the kernel keeps
/// the route), the second flushes the route. The model must see it go, so
/// that the undo puts it back, after a failure and after a crash (seed
/// 149255597443764717 of the recovery law lost it silently). The hop whose
/// link has no address left is on-link, so the route can be added back
/// before that address is.
#[test]
fn ipv4_multipath_route_whose_hops_lose_their_addresses() {
    let (setup, ops) = multipath_losing_addresses(4);
    every_step("recovery_v4_multipath_dead", &setup, &ops);
}

/// The same route with a gateway that only the deleted address made
/// reachable: the route could not be added back before that address, so
/// the plan is refused before it changes anything, naming the route.
#[test]
fn ipv4_multipath_route_that_could_not_come_back_is_refused() {
    let (setup, ops) = multipath_losing_addresses(0);
    refused_as_not_undoable("recovery_v4_multipath_refused", &setup, &ops, "10.7.0.0/16");
}

/// A host with an IPv4 multipath route 10.7.0.0/16 through v0 (hop flags
/// `v0_flags`) and eth0, and a plan deleting the last IPv4 address of v0,
/// then of eth0.
fn multipath_losing_addresses(v0_flags: u8) -> (Vec<Op>, Vec<Op>) {
    use xenbr_core::state::NextHop;
    let hop = |gw: &str, dev: &str, flags: u8| NextHop {
        flags,
        ..hop(gw, dev)
    };
    let mut r = route("10.7.0.0/16", None, "eth0", Some(50), 254);
    r.oif = None;
    r.scope = 0;
    r.multipath = vec![
        hop("198.18.1.2", "v0", v0_flags),
        hop("192.0.2.3", "eth0", 0),
    ];
    let setup = vec![
        veth("v0", "v1"),
        up("v0", true),
        up("v1", true),
        Op::add_address(address("v0", "198.18.1.1/24", None)),
        Op::add_route(r),
    ];
    let ops = vec![
        Op::del_address(address("v0", "198.18.1.1/24", None)),
        Op::del_address(address("eth0", "192.0.2.10/24", None)),
    ];
    (setup, ops)
}

/// A table-1000 route preferring an address of eth0 that sits inside
/// loopback's prefix: deleting the address leaves the source local (the
/// loopback prefix is a route of type local), taking eth0 down then flushes
/// the route, and its undo adds it back with that source.
#[test]
fn a_source_kept_local_by_loopback_prefix() {
    let (setup, ops) = source_inside_loopback_prefix(false);
    every_step("recovery_src_lo_prefix", &setup, &ops);
}

/// The same with a more specific prefix of eth0 covering the source: the
/// kernel looks sources up in the main and local tables together, finds
/// that prefix, and would refuse to add the route back once the address
/// is gone (seed 7285526241176206837 of the recovery law: "Invalid prefsrc
/// address" in a rollback). The plan is refused before it starts.
#[test]
fn a_source_a_closer_prefix_makes_remote_is_refused() {
    let (setup, ops) = source_inside_loopback_prefix(true);
    refused_as_not_undoable("recovery_src_closer_prefix", &setup, &ops, "172.0.0.0/9");
}

/// A preferred source that is loopback's address and also the broadcast
/// address of eth0's prefix, added before it: the local table holds eth0's
/// broadcast route under that key first, and the kernel refuses the source
/// ("Invalid prefsrc address"; law seed 2028506109906796379, where the plan
/// failed half-way and rolled back). The model refuses it before the first
/// change.
#[test]
fn a_source_that_is_also_a_broadcast_is_refused() {
    let test = "recovery_src_broadcast";
    let mut lo = address("lo", "192.0.2.255/24", None);
    lo.broadcast = Some("192.0.2.255".parse().unwrap());
    lo.scope = 254;
    let Some((_world, _dir, mut host, before)) =
        prepared(test, &[up("lo", true), Op::add_address(lo)])
    else {
        return;
    };
    let mut r = route("198.51.100.0/24", None, "eth0", Some(100), 254);
    r.prefsrc = Some("192.0.2.255".parse().unwrap());
    let ops = vec![
        Op::add_address(address("eth0", "203.0.113.9/32", None)),
        Op::add_route(r),
    ];
    let e = crash::run(&mut host, &ops).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("192.0.2.255") && text.contains("no local address"),
        "{test}: {text}"
    );
    same(&mut host, &before, &format!("{test}: a refused plan"));
}

/// Loopback with 198.18.5.1/24, eth0 with 198.18.5.10/24 (and, if
/// `closer`, 198.18.5.5/25), a route in table 1000 preferring
/// 198.18.5.10, and a plan deleting that address and taking eth0 down.
fn source_inside_loopback_prefix(closer: bool) -> (Vec<Op>, Vec<Op>) {
    let mut r = route("172.0.0.0/9", Some("192.0.2.4"), "eth0", Some(100), 1000);
    r.prefsrc = Some("198.18.5.10".parse().unwrap());
    let mut setup = vec![
        up("lo", true),
        Op::add_address(address("lo", "198.18.5.1/24", None)),
        Op::add_address(address("eth0", "198.18.5.10/24", None)),
    ];
    if closer {
        setup.push(Op::add_address(address("eth0", "198.18.5.5/25", None)));
    }
    setup.push(Op::add_route(r));
    let ops = vec![
        Op::del_address(address("eth0", "198.18.5.10/24", None)),
        up("eth0", false),
    ];
    (setup, ops)
}

/// Deleting a secondary address that a route prefers while loopback's
/// prefix covers it and a closer prefix of eth0 covers it too: the address
/// is no longer local and the kernel flushes the route (law seed
/// 4252489925426237541, where recover lost it silently). The model must
/// see it go, so that the undo adds it back.
#[test]
fn a_preferred_secondary_under_a_closer_prefix_goes() {
    let mut r = route("10.5.0.0/16", None, "eth0", None, 254);
    r.prefsrc = Some("198.18.5.11".parse().unwrap());
    every_step(
        "recovery_src_secondary",
        &[
            up("lo", true),
            Op::add_address(address("lo", "198.18.5.1/24", None)),
            Op::add_address(address("eth0", "198.18.5.10/24", None)),
            Op::add_address(address("eth0", "198.18.5.11/24", None)),
            Op::add_address(address("eth0", "198.18.5.5/25", None)),
            Op::add_route(r),
        ],
        &[Op::del_address(address("eth0", "198.18.5.11/24", None))],
    );
}

/// A port's MTU raised (its bridge follows it), another link put on the
/// bridge, then the bridge deleted, all journaled and never sent: the
/// delete's undo must not put that link on the bridge (it never joined),
/// which would make the join look done and its undo pin the bridge's MTU
/// (law seed 3276236170263023492).
#[test]
fn a_delete_that_never_ran_does_not_attach_a_port_that_never_joined() {
    every_step(
        "recovery_never_joined",
        &[
            bridge("b0"),
            veth("p0", "p1"),
            new_mtu("p0", 1492),
            master("p0", Some("b0")),
            up("b0", true),
        ],
        &[
            new_mtu("p0", 1500),
            master("eth0", Some("b0")),
            delete("b0"),
        ],
    );
}

/// A port's MTU taken below 1280 (its bridge follows, and loses IPv6), then
/// the bridge's MTU set back to 1500 and to 1280, all journaled and never
/// sent: the bridge showing 1500 must not make the second step look done,
/// whose undo would take the bridge below 1280 and lose its IPv6 address
/// for good (law seeds 5091803258828674135 and 4095891952066089881: a
/// setting back to where it was before the segment ends the segment).
#[test]
fn a_setting_set_back_within_a_segment_is_not_taken_for_done() {
    every_step(
        "recovery_set_back",
        &[
            bridge("b0"),
            veth("p0", "p1"),
            master("p0", Some("b0")),
            up("p0", true),
            up("b0", true),
            Op::add_address(address("b0", "2001:db8:7::1/64", None)),
        ],
        &[
            up("p1", true),
            new_mtu("p0", 1279),
            new_mtu("b0", 1500),
            new_mtu("b0", 1280),
        ],
    );
}

/// A route added and deleted again within one plan, preferring an address
/// the plan adds first, all journaled and never sent: the undo of the
/// delete must not try to add a route whose add never ran (the kernel
/// refuses its source; law seed 1781148960403963730).
#[test]
fn a_route_added_and_deleted_again_in_one_plan() {
    let mut r = route("10.8.0.0/16", None, "v0", Some(100), 1000);
    r.prefsrc = Some("198.18.3.1".parse().unwrap());
    every_step(
        "recovery_route_back_and_forth",
        &[veth("v0", "v1"), up("v0", true), up("v1", true)],
        &[
            Op::add_address(address("v0", "198.18.3.1/24", None)),
            Op::add_route(r.clone()),
            Op::del_route(r),
        ],
    );
}
