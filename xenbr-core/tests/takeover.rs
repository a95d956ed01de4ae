//! `network-bridge start|stop` end to end, in namespaces: the article's
//! scenario with real packets crossing the bridge, bridge mode, two NICs at
//! once, and the refusals that must change nothing.

#[path = "support/ops.rs"]
mod ops;
#[path = "support/netns.rs"]
mod support;

use std::net::IpAddr;
use std::time::Duration;

use ops::{bridge, delete, master, n, new_mac, up, veth};
use xenbr_core::op::Op;
use xenbr_core::sandbox::{
    probe, Guest, Netns, Reach, World, HOST_ADDR4, HOST_ADDR6, UPSTREAM_ADDR4, UPSTREAM_ADDR6,
};
use xenbr_core::state::LinkKind;
use xenbr_core::{ErrorKind, Host, MacAddr, Mode, Pair, Plan, Snapshot, StartRequest, StopRequest};

fn reach(from: &Netns, to: &Netns, addr: impl Into<IpAddr>) {
    let addr = addr.into();
    match probe(from, to, addr, Duration::from_secs(3)).unwrap() {
        Reach::Yes => {}
        Reach::No(why) => panic!(
            "{} cannot reach {addr} in {}: {why}",
            from.label(),
            to.label()
        ),
    }
}

/// Dom0's identity on `dev`: its addresses and the routes through it.
fn identity(s: &Snapshot, dev: &str) -> Snapshot {
    let (addresses, routes) = xenbr_core::plan::takeover::carried(s, &n(dev));
    Snapshot::new(vec![], addresses, routes)
}

/// Plugs a guest's vif into `bridge` the way vif-bridge does.
fn plug(host: &mut Host, g: &Guest, bridge: &str) {
    let ops = vec![
        new_mac(&g.vif, MacAddr::BRIDGE_PORT),
        master(&g.vif, Some(bridge)),
        up(&g.vif, true),
    ];
    host.transact("plug", |s, _| Ok((Plan::build(s, ops)?, None, ())))
        .unwrap();
}

/// The guest goes away, as Xen's backend deletes its vif on shutdown.
fn unplug(w: &World, g: &Guest) {
    w.host.apply(&[delete(&g.vif)]).unwrap();
}

fn setup(test: &str) -> Option<(World, Host)> {
    let w = support::world(test)?;
    let host = w.host.host(&support::state_dir(test)).unwrap();
    Some((w, host))
}

#[test]
fn classic_start_and_stop_as_the_article_shows() {
    let Some((w, mut host)) = setup("classic") else {
        return;
    };
    let before = host.snapshot().unwrap();
    let guest = w.add_guest(1).unwrap();
    let nic = before.link(&n("eth0")).unwrap().clone();

    let out = host.start(&StartRequest::default()).unwrap();
    assert_eq!(out.started.len(), 1);
    let t = &out.started[0];
    assert_eq!(
        (t.bridge.as_str(), t.physical.as_str()),
        ("xenbr0", "peth0")
    );
    assert!(
        out.applied.requests < out.applied.steps,
        "link changes were merged: {:?}",
        out.applied
    );

    let s = host.snapshot().unwrap();
    let l = |x: &str| s.link(&n(x)).unwrap_or_else(|| panic!("{x} missing"));
    assert_eq!(l("xenbr0").kind, LinkKind::Bridge);
    assert!(l("xenbr0").up);
    let br = l("xenbr0").bridge.unwrap();
    assert!(!br.stp && br.forward_delay == 0, "{br:?}");
    for port in ["peth0", "vif0.0"] {
        assert_eq!(l(port).master, Some(n("xenbr0")), "{port}");
        assert_eq!(l(port).mac, Some(MacAddr::BRIDGE_PORT), "{port}");
        assert!(l(port).up, "{port}");
        assert_eq!(
            s.addresses_of(&n(port))
                .filter(|a| !a.is_kernel_made())
                .count(),
            0,
            "{port}"
        );
    }
    let eth0 = l("eth0");
    assert_eq!(eth0.kind, LinkKind::Veth);
    assert_eq!(eth0.peer, Some(n("vif0.0")));
    assert_eq!((eth0.mac, eth0.mtu, eth0.up), (nic.mac, nic.mtu, true));
    support::assert_same(
        &identity(&before, "eth0"),
        &identity(&s, "eth0"),
        "dom0's addresses and routes",
    );

    // Packets: dom0 <-> the wire through vif0.0, xenbr0 and peth0, both families.
    reach(&w.host, &w.upstream, UPSTREAM_ADDR4);
    reach(&w.host, &w.upstream, UPSTREAM_ADDR6);
    reach(&w.upstream, &w.host, HOST_ADDR4);
    reach(&w.upstream, &w.host, HOST_ADDR6);
    // A guest on the bridge reaches the wire through peth0, and dom0.
    plug(&mut host, &guest, "xenbr0");
    reach(&guest.ns, &w.upstream, UPSTREAM_ADDR4);
    reach(&guest.ns, &w.host, HOST_ADDR4);

    // Stop refuses while a guest is attached, changing nothing ...
    let mid = host.snapshot().unwrap();
    let e = host.stop(&StopRequest::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("vif1.0"), "{e}");
    assert_eq!(e.interface(), Some("xenbr0"), "{e}");
    support::assert_same(&mid, &host.snapshot().unwrap(), "a refused stop");
    // ... and with --force detaches it in the same transaction.
    let out = host
        .stop(&StopRequest {
            force: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.detached, vec![n("vif1.0")]);
    unplug(&w, &guest);
    support::assert_same(&before, &host.snapshot().unwrap(), "stop after start");
    assert!(host.records().unwrap().takeovers.is_empty());
    reach(&w.host, &w.upstream, UPSTREAM_ADDR4);
}

#[test]
fn bridge_mode_start_and_stop() {
    let Some((w, mut host)) = setup("bridge_mode") else {
        return;
    };
    let before = host.snapshot().unwrap();
    let guest = w.add_guest(2).unwrap();
    let nic = before.link(&n("eth0")).unwrap().clone();
    host.start(&StartRequest {
        mode: Mode::Bridge,
        pairs: vec![],
    })
    .unwrap();
    let s = host.snapshot().unwrap();
    let eth0 = s.link(&n("eth0")).unwrap();
    assert_eq!(eth0.kind, LinkKind::Bridge);
    assert_eq!(eth0.mac, nic.mac, "the bridge takes the NIC's MAC");
    let peth0 = s.link(&n("peth0")).unwrap();
    assert_eq!(peth0.master, Some(n("eth0")));
    assert_eq!(peth0.mac, nic.mac, "the NIC keeps its MAC in bridge mode");
    support::assert_same(
        &identity(&before, "eth0"),
        &identity(&s, "eth0"),
        "dom0's identity on the bridge",
    );
    reach(&w.host, &w.upstream, UPSTREAM_ADDR4);
    reach(&w.upstream, &w.host, HOST_ADDR6);
    plug(&mut host, &guest, "eth0");
    reach(&guest.ns, &w.upstream, UPSTREAM_ADDR4);

    // Starting again is a no-op that says so.
    let again = host
        .start(&StartRequest {
            mode: Mode::Bridge,
            pairs: vec![],
        })
        .unwrap();
    assert!(
        again.started.is_empty() && again.already.len() == 1,
        "{again:?}"
    );

    host.stop(&StopRequest {
        bridges: vec![n("eth0")],
        force: true,
    })
    .unwrap();
    unplug(&w, &guest);
    support::assert_same(&before, &host.snapshot().unwrap(), "stop after start");
}

#[test]
fn two_nics_in_one_transaction() {
    let Some((w, mut host)) = setup("two_nics") else {
        return;
    };
    let up2 = Netns::new("upstream2").unwrap();
    w.host.veth_to("eth1", &up2, "up1").unwrap();
    up2.apply(&[
        up("up1", true),
        Op::add_address(xenbr_core::sandbox::address("up1", "198.51.100.1/24", None)),
    ])
    .unwrap();
    w.host
        .apply(&[
            up("eth1", true),
            Op::add_address(xenbr_core::sandbox::address(
                "eth1",
                "198.51.100.20/24",
                None,
            )),
        ])
        .unwrap();
    let before = host.snapshot().unwrap();
    let req = StartRequest {
        mode: Mode::Classic,
        pairs: vec![
            Pair {
                netdev: Some(n("eth0")),
                bridge: Some(n("xenbr0")),
            },
            Pair {
                netdev: Some(n("eth1")),
                bridge: Some(n("xenbr1")),
            },
        ],
    };
    let out = host.start(&req).unwrap();
    assert_eq!(out.started.len(), 2);
    let s = host.snapshot().unwrap();
    assert_eq!(s.link(&n("peth1")).unwrap().master, Some(n("xenbr1")));
    assert_eq!(s.link(&n("vif0.1")).unwrap().master, Some(n("xenbr1")));
    reach(&w.host, &w.upstream, UPSTREAM_ADDR4);
    reach(&w.host, &up2, "198.51.100.1".parse::<IpAddr>().unwrap());
    host.stop(&StopRequest::default()).unwrap();
    support::assert_same(&before, &host.snapshot().unwrap(), "stop after start");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let Some((w, mut host)) = setup("bad_input") else {
        return;
    };
    // A NIC with a 15-byte name: `p` + it does not fit.
    let long = "enx001122334455";
    let up = Netns::new("up-long").unwrap();
    w.host.veth_to(long, &up, "x0").unwrap();
    w.host.apply(&[bridge("br9")]).unwrap();
    w.host
        .apply(&[veth("ported", "ported1"), master("ported", Some("br9"))])
        .unwrap();
    let before = host.snapshot().unwrap();
    let start = |host: &mut Host, netdev: &str, bridge: Option<&str>| {
        host.start(&StartRequest {
            mode: Mode::Classic,
            pairs: vec![Pair {
                netdev: Some(n(netdev)),
                bridge: bridge.map(n),
            }],
        })
        .unwrap_err()
    };
    let e = start(&mut host, long, None);
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(
        e.to_string().contains("penx001122334455") && e.to_string().contains("15"),
        "{e}"
    );
    assert_eq!(e.interface(), Some(long), "{e}");
    let e = start(&mut host, "eth7", None);
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("eth7"), "{e}");
    assert_eq!(e.interface(), Some("eth7"), "{e}");
    let e = start(&mut host, "ported", None);
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(
        e.to_string().contains("already a port of bridge br9"),
        "{e}"
    );
    let e = start(&mut host, "eth0", Some("br9"));
    assert_eq!(e.kind(), ErrorKind::Exists, "{e}");
    assert!(
        e.to_string().contains("interface br9 already exists"),
        "{e}"
    );
    assert_eq!(e.interface(), Some("br9"), "{e}");
    let e = start(&mut host, "br9", None);
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    support::assert_same(&before, &host.snapshot().unwrap(), "refused starts");
    assert!(host.unfinished().unwrap().is_none());
}

#[test]
fn two_starts_at_once_one_does_it_the_other_finds_it_done() {
    let Some((w, host)) = setup("concurrent") else {
        return;
    };
    let dir = host.state_dir().path().to_path_buf();
    drop(host);
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let h = w.host.host(&dir).unwrap();
                s.spawn(move || {
                    let mut h = h;
                    h.start(&StartRequest::default())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
    });
    let started: usize = outcomes.iter().map(|o| o.started.len()).sum();
    let already: usize = outcomes.iter().map(|o| o.already.len()).sum();
    assert_eq!((started, already), (1, 1), "{outcomes:?}");
    reach(&w.host, &w.upstream, UPSTREAM_ADDR4);
}
