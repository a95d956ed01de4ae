//! `vif online|offline` in namespaces: batches of taps, all or nothing,
//! MTU from the bridge, renames, bridge choice, concurrency, idempotence.

#[path = "support/ops.rs"]
mod ops;
#[path = "support/netns.rs"]
mod support;

use std::time::Duration;

use ops::{bridge, delete, n, new_mtu};
use xenbr_core::sandbox::{probe, Reach, World, UPSTREAM_ADDR4};
use xenbr_core::state::LinkKind;
use xenbr_core::{ErrorKind, Host, IfName, MacAddr, Mtu, StartRequest, VifRequest};

fn taps(count: usize, domid_from: usize) -> Vec<IfName> {
    (0..count)
        .map(|i| n(&format!("vif{}.0", domid_from + i)))
        .collect()
}

/// A world with `xenbr0` started, `count` fresh taps, and a Host on it.
fn started(test: &str, count: usize) -> Option<(World, Host, Vec<IfName>)> {
    let w = support::world(test)?;
    let mut host = w.host.host(&support::state_dir(test)).unwrap();
    host.start(&StartRequest::default()).unwrap();
    let names = taps(count, 1);
    w.host.create_taps(&names).unwrap();
    Some((w, host, names))
}

fn reqs(names: &[IfName]) -> Vec<VifRequest> {
    names.iter().cloned().map(VifRequest::new).collect()
}

#[test]
fn two_hundred_in_one_batch_then_offline() {
    let Some((_w, mut host, names)) = started("vif_200", 200) else {
        return;
    };
    let before = host.snapshot().unwrap();
    let out = host.vif_online(&reqs(&names)).unwrap();
    assert_eq!(out.attached.len(), 200);
    assert_eq!(
        out.applied.requests, 200,
        "one message per fresh tap: {:?}",
        out.applied
    );
    let s = host.snapshot().unwrap();
    let mtu = s.link(&n("xenbr0")).unwrap().mtu;
    for v in &names {
        let l = s.link(v).unwrap();
        assert_eq!(l.kind, LinkKind::Tun);
        assert_eq!(
            (l.master.clone(), l.up, l.mac, l.mtu),
            (Some(n("xenbr0")), true, Some(MacAddr::BRIDGE_PORT), mtu),
            "{v}"
        );
    }
    // Twice is a no-op.
    let again = host.vif_online(&reqs(&names)).unwrap();
    assert_eq!(
        (
            again.attached.len(),
            again.unchanged.len(),
            again.applied.steps
        ),
        (0, 200, 0)
    );

    let out = host.vif_offline(&names).unwrap();
    assert_eq!(out.detached.len(), 200);
    let s = host.snapshot().unwrap();
    for v in &names {
        let l = s.link(v).unwrap();
        assert_eq!(
            (l.master.clone(), l.up),
            (None, false),
            "{v} is detached and down"
        );
    }
    // Back to the state before, except the MAC vif-bridge gave them.
    let mut expected = before.clone();
    for l in expected
        .links
        .iter_mut()
        .filter(|l| names.contains(&l.name))
    {
        l.mac = Some(MacAddr::BRIDGE_PORT);
    }
    support::assert_same(&expected, &s, "online then offline");
}

#[test]
fn a_missing_interface_in_the_middle_refuses_the_whole_batch() {
    let Some((_w, mut host, mut names)) = started("vif_missing", 200) else {
        return;
    };
    let before = host.snapshot().unwrap();
    names.insert(100, n("vif999.0"));
    let e = host.vif_online(&reqs(&names)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string().contains("interface vif999.0 does not exist"),
        "{e}"
    );
    assert_eq!(e.interface(), Some("vif999.0"), "the request that failed");
    support::assert_same(&before, &host.snapshot().unwrap(), "a refused batch");
}

#[test]
fn a_kernel_failure_in_the_middle_rolls_all_back() {
    let Some((w, host, names)) = started("vif_rollback", 200) else {
        return;
    };
    let dir = host.state_dir().path().to_path_buf();
    let before = w.host.host(&dir).unwrap().snapshot().unwrap();
    let mut h = w.host.host(&dir).unwrap().test_faults(Some(400), None);
    let e = h.vif_online(&reqs(&names)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RolledBack, "{e}");
    let mut after = w.host.host(&dir).unwrap();
    support::assert_same(
        &before,
        &after.snapshot().unwrap(),
        "a batch rolled back half-way",
    );
    assert!(after.unfinished().unwrap().is_none());
}

#[test]
fn mtu_follows_the_bridge_unless_given() {
    let Some((w, mut host, names)) = started("vif_mtu", 2) else {
        return;
    };
    w.host.apply(&[new_mtu("xenbr0", 9000)]).unwrap();
    let mut r = reqs(&names);
    r[1].mtu = Some(Mtu::new(1400).unwrap());
    host.vif_online(&r).unwrap();
    let s = host.snapshot().unwrap();
    assert_eq!(s.link(&names[0]).unwrap().mtu, 9000);
    assert_eq!(s.link(&names[1]).unwrap().mtu, 1400);
    assert_eq!(
        s.link(&n("xenbr0")).unwrap().mtu,
        9000,
        "the bridge's MTU is fixed"
    );
    // A device's own bound is checked before anything changes.
    let big = VifRequest {
        mtu: Some(Mtu::new(65535).unwrap()),
        ..VifRequest::new(names[0].clone())
    };
    let before = host.snapshot().unwrap();
    let e = host.vif_online(&[big]).unwrap_err();
    assert!(e.to_string().contains("MTU 65535"), "{e}");
    assert_eq!(e.interface(), Some(names[0].as_str()), "{e}");
    support::assert_same(&before, &host.snapshot().unwrap(), "a refused MTU");
}

#[test]
fn vifname_renames_and_refuses_a_taken_name() {
    let Some((_w, mut host, names)) = started("vif_rename", 2) else {
        return;
    };
    let before = host.snapshot().unwrap();
    let taken = VifRequest {
        vifname: Some(names[1].clone()),
        ..VifRequest::new(names[0].clone())
    };
    let e = host.vif_online(&[taken]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Exists, "{e}");
    assert!(e.to_string().contains("vif2.0"), "{e}");
    assert_eq!(
        e.interface(),
        Some(names[0].as_str()),
        "the request, not the name taken"
    );
    support::assert_same(
        &before,
        &host.snapshot().unwrap(),
        "another guest's interface is untouched",
    );

    let ok = VifRequest {
        vifname: Some(n("web1")),
        ..VifRequest::new(names[0].clone())
    };
    let out = host.vif_online(&[ok]).unwrap();
    assert_eq!(out.attached, vec![(n("web1"), n("xenbr0"))]);
    let s = host.snapshot().unwrap();
    assert_eq!(s.link(&n("web1")).unwrap().master, Some(n("xenbr0")));
    assert!(s.link(&names[0]).is_none());
}

#[test]
fn bridge_choice_and_bad_bridges() {
    let Some(w) = support::world("vif_bridges") else {
        return;
    };
    let mut host = w.host.host(&support::state_dir("vif_bridges")).unwrap();
    let names = taps(3, 1);
    w.host.create_taps(&names).unwrap();
    // No bridge at all.
    let e = host.vif_online(&reqs(&names[..1])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // The only bridge there is.
    w.host.apply(&[bridge("eth1")]).unwrap();
    assert_eq!(
        host.vif_online(&reqs(&names[..1])).unwrap().attached[0].1,
        n("eth1")
    );
    // Xen's fallback: xenbr1 asked for, missing, eth1 is a bridge.
    let fallback = VifRequest {
        bridge: Some(n("xenbr1")),
        ..VifRequest::new(names[1].clone())
    };
    assert_eq!(
        host.vif_online(&[fallback]).unwrap().attached[0].1,
        n("eth1")
    );
    // Several bridges and none chosen: an error that lists them.
    w.host.apply(&[bridge("virbr0")]).unwrap();
    let before = host.snapshot().unwrap();
    let e = host.vif_online(&reqs(&names[2..])).unwrap_err();
    assert!(e.to_string().contains("eth1, virbr0"), "{e}");
    // A missing bridge, a port of another bridge.
    let missing = VifRequest {
        bridge: Some(n("xenbr7")),
        ..VifRequest::new(names[2].clone())
    };
    let e = host.vif_online(&[missing]).unwrap_err();
    assert!(
        e.to_string().contains("bridge xenbr7 does not exist"),
        "{e}"
    );
    assert_eq!(e.interface(), Some(names[2].as_str()));
    let other = VifRequest {
        bridge: Some(n("virbr0")),
        ..VifRequest::new(names[0].clone())
    };
    let e = host.vif_online(&[other]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.to_string().contains("vif1.0 is already a port of eth1"),
        "{e}"
    );
    assert_eq!(e.interface(), Some("vif1.0"));
    support::assert_same(&before, &host.snapshot().unwrap(), "refused requests");
    // Once xenbr has started a bridge, that is the host's bridge.
    host.start(&StartRequest::default()).unwrap();
    assert_eq!(
        host.vif_online(&reqs(&names[2..])).unwrap().attached[0].1,
        n("xenbr0")
    );
}

#[test]
fn two_processes_attach_different_interfaces_at_once() {
    let Some((w, host, names)) = started("vif_concurrent", 100) else {
        return;
    };
    let dir = host.state_dir().path().to_path_buf();
    std::thread::scope(|s| {
        for half in names.chunks(50) {
            let mut h = w.host.host(&dir).unwrap();
            s.spawn(move || h.vif_online(&reqs(half)).unwrap());
        }
    });
    let s = w.host.host(&dir).unwrap().snapshot().unwrap();
    assert_eq!(
        s.ports(&n("xenbr0")).count(),
        102,
        "peth0, vif0.0 and 100 guests"
    );
}

#[test]
fn offline_of_a_gone_interface_succeeds_and_says_so() {
    let Some((w, mut host, names)) = started("vif_gone", 1) else {
        return;
    };
    host.vif_online(&reqs(&names)).unwrap();
    w.host.apply(&[delete(&names[0])]).unwrap();
    let out = host.vif_offline(&names).unwrap();
    assert_eq!(out.gone, names);
    assert_eq!(out.applied.steps, 0);
}

#[test]
fn a_guest_on_an_attached_vif_reaches_the_wire() {
    let Some(w) = support::world("vif_traffic") else {
        return;
    };
    let mut host = w.host.host(&support::state_dir("vif_traffic")).unwrap();
    host.start(&StartRequest::default()).unwrap();
    let g = w.add_guest(3).unwrap();
    host.vif_online(&[VifRequest::new(g.vif.clone())]).unwrap();
    assert_eq!(
        probe(
            &g.ns,
            &w.upstream,
            UPSTREAM_ADDR4.into(),
            Duration::from_secs(3)
        )
        .unwrap(),
        Reach::Yes
    );
}

/// Runs `vif online` of `names` as a transaction whose model is wrong about
/// `names[0]` (`tamper` changes what the plan predicts for it), so that
/// verification must see the kernel differ and roll everything back.
fn attach_with_a_wrong_model(
    host: &mut Host,
    names: &[IfName],
    tamper: impl Fn(&mut xenbr_core::state::Link),
) -> xenbr_core::Error {
    let reqs = reqs(names);
    host.transact("vif online with a wrong model", |snap, rec| {
        let p = xenbr_core::plan::vif::plan_online(snap, &xenbr_core::Records::parse(rec)?, &reqs)?;
        let mut plan = p.plan;
        tamper(plan.expected.link_mut(&names[0]).unwrap());
        Ok((plan, None, ()))
    })
    .unwrap_err()
}

/// Verification compares the kernel with the model for every attribute a
/// vif's attach sets, in a batch small enough to read link by link and in
/// one large enough to be read with a dump, and a difference undoes it all.
#[test]
fn verification_catches_what_the_kernel_did_not_do_and_rolls_back() {
    type Tamper = fn(&mut xenbr_core::state::Link);
    let tampers: [(&str, Tamper); 4] = [
        ("mac", |l| l.mac = Some(MacAddr([2, 0, 0, 0, 0, 1]))),
        ("mtu", |l| l.mtu -= 100),
        ("up", |l| l.up = false),
        ("master", |l| l.master = None),
    ];
    for count in [3, 70] {
        let test = format!("vif_verify_{count}");
        let Some((_w, mut host, names)) = started(&test, count) else {
            return;
        };
        let before = host.snapshot().unwrap();
        for (what, tamper) in tampers {
            let e = attach_with_a_wrong_model(&mut host, &names, tamper);
            assert_eq!(e.kind(), ErrorKind::RolledBack, "{count} taps, {what}: {e}");
            let text = e.to_string();
            assert!(
                text.contains("does not show what the plan made") && text.contains("vif1.0"),
                "{count} taps, {what}: {text}"
            );
            let after = host.snapshot().unwrap();
            assert!(
                xenbr_core::state::compare::diff(&before, &after).is_empty(),
                "{count} taps, {what}: not rolled back: {:?}",
                xenbr_core::state::compare::diff(&before, &after)
            );
        }
    }
}

/// The same for taking a batch off the bridge (the links end as no one's
/// ports).
#[test]
fn verification_of_an_offline_batch_catches_a_difference() {
    let Some((_w, mut host, names)) = started("vif_verify_off", 70) else {
        return;
    };
    host.vif_online(&reqs(&names)).unwrap();
    let before = host.snapshot().unwrap();
    let e = host
        .transact("vif offline with a wrong model", |snap, _| {
            let p = xenbr_core::plan::vif::plan_offline(snap, &names)?;
            let mut plan = p.plan;
            plan.expected.link_mut(&names[0]).unwrap().up = true;
            Ok((plan, None, ()))
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RolledBack, "{e}");
    assert!(e.to_string().contains("vif1.0"), "{e}");
    let after = host.snapshot().unwrap();
    assert!(xenbr_core::state::compare::diff(&before, &after).is_empty());
}
