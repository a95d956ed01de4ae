//! The planners against fixture snapshots, without root or a kernel: each
//! plan, rendered as its `ip` commands, must equal a golden file in
//! `tests/fixtures/plans/`. `XENBR_BLESS=1 cargo test --test plans` rewrites
//! the golden files after a deliberate change; review the diff.
//!
//! The fixture snapshots in `tests/fixtures/hosts/` were captured from the
//! sandbox by `regenerate_fixtures` (ignored; run it as root with
//! `cargo test --test plans -- --ignored`).

#[path = "support/ops.rs"]
mod ops;

use std::path::PathBuf;

use ops::{mac, master, n, new_mac, up};
use xenbr_core::plan::takeover::{plan_start, plan_stop};
use xenbr_core::plan::vif::{plan_offline, plan_online};
use xenbr_core::{
    ErrorKind, IfName, Mode, Mtu, Pair, Plan, Records, Snapshot, StartRequest, StopRequest,
    VifRequest,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fixture host: its snapshot and xenbr's records on it.
fn host(name: &str) -> (Snapshot, Records) {
    let read =
        |ext: &str| std::fs::read_to_string(fixtures().join(format!("hosts/{name}.{ext}"))).ok();
    let snap =
        serde_json::from_str(&read("json").expect("fixture snapshot")).expect("valid fixture");
    (
        snap,
        Records::parse(read("records.json").as_deref()).unwrap(),
    )
}

#[track_caller]
fn golden(name: &str, plan: &Plan) {
    let text = format!("{plan}");
    let path = fixtures().join(format!("plans/{name}.txt"));
    if std::env::var("XENBR_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {}", path.display()));
    assert_eq!(text, want, "plan {name} differs from {}", path.display());
}

#[test]
fn start_classic() {
    let (s, r) = host("plain");
    let p = plan_start(&s, &r, &StartRequest::default()).unwrap();
    assert_eq!(p.started[0].bridge, n("xenbr0"));
    golden("start-classic", &p.plan);
}

#[test]
fn start_bridge_mode() {
    let (s, r) = host("plain");
    let req = StartRequest {
        mode: Mode::Bridge,
        pairs: vec![],
    };
    golden("start-bridge", &plan_start(&s, &r, &req).unwrap().plan);
}

#[test]
fn start_names_a_bridge_and_nic() {
    let (s, r) = host("plain");
    let req = StartRequest {
        mode: Mode::Classic,
        pairs: Pair::parse_xen_words(&["netdev=eth0", "bridge=xenbr3", "antispoof=no"]).unwrap(),
    };
    let p = plan_start(&s, &r, &req).unwrap();
    assert_eq!(
        (
            p.started[0].bridge.as_str(),
            p.started[0].veth.as_ref().unwrap().as_str()
        ),
        ("xenbr3", "veth0")
    );
}

#[test]
fn start_when_started_does_nothing() {
    let (s, r) = host("started-classic");
    let p = plan_start(&s, &r, &StartRequest::default()).unwrap();
    assert!(p.plan.is_empty() && p.started.is_empty() && p.already.len() == 1);
}

#[test]
fn stop_classic() {
    let (s, r) = host("started-classic");
    let p = plan_stop(&s, &r, &StopRequest::default()).unwrap();
    golden("stop-classic", &p.plan);
}

#[test]
fn stop_bridge_mode() {
    let (s, r) = host("started-bridge");
    golden(
        "stop-bridge",
        &plan_stop(&s, &r, &StopRequest::default()).unwrap().plan,
    );
}

#[test]
fn stop_with_guests_refuses_then_forces() {
    let (s, r) = host("guests");
    let e = plan_stop(&s, &r, &StopRequest::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("vif1.0, vif2.0, vif3.0"), "{e}");
    let p = plan_stop(
        &s,
        &r,
        &StopRequest {
            force: true,
            ..Default::default()
        },
    )
    .unwrap();
    golden("stop-classic-force", &p.plan);
}

#[test]
fn vif_online_batch() {
    let (s, r) = host("guests");
    let reqs: Vec<VifRequest> = ["vif1.0", "vif2.0", "vif3.0", "vif4.0"]
        .iter()
        .map(|v| VifRequest::new(n(v)))
        .collect();
    let p = plan_online(&s, &r, &reqs).unwrap();
    assert_eq!(p.unchanged, vec![n("vif1.0")], "vif1.0 is attached already");
    golden("vif-online", &p.plan);
}

#[test]
fn vif_online_rename_and_mtu() {
    let (s, r) = host("guests");
    let req = VifRequest {
        vifname: Some(n("web0")),
        mtu: Some(Mtu::new(1400).unwrap()),
        ..VifRequest::new(n("vif4.0"))
    };
    golden(
        "vif-online-rename",
        &plan_online(&s, &r, &[req]).unwrap().plan,
    );
}

#[test]
fn vif_offline_batch() {
    let (s, _) = host("guests");
    let p = plan_offline(&s, &[n("vif1.0"), n("vif2.0"), n("vif4.0"), n("vif9.0")]).unwrap();
    assert_eq!(p.gone, vec![n("vif9.0")]);
    assert_eq!(p.unchanged, vec![n("vif4.0")]);
    golden("vif-offline", &p.plan);
}

#[test]
fn refusals_name_what_is_wrong() {
    let (s, r) = host("plain");
    let start = |pairs: Vec<Pair>| {
        plan_start(
            &s,
            &r,
            &StartRequest {
                mode: Mode::Classic,
                pairs,
            },
        )
    };
    let e = start(vec![Pair {
        netdev: Some(n("eth9")),
        bridge: None,
    }])
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "start eth9 on xenbr9: interface eth9 does not exist"
    );
    let e = start(vec![Pair {
        netdev: Some(n("lo")),
        bridge: None,
    }])
    .unwrap_err();
    assert!(e.to_string().contains("lo has no Ethernet address"), "{e}");
    // No default route: ask for netdev=.
    let mut bare = s.clone();
    bare.routes.retain(|r| !r.is_default());
    let e = plan_start(&bare, &r, &StartRequest::default()).unwrap_err();
    assert!(e.to_string().contains("netdev="), "{e}");
    // bridge=null means no bridge at all, as in Xen.
    assert!(Pair::parse_xen_words(&["bridge=null"]).unwrap().is_empty());
    // antispoof=yes is refused, not silently ignored.
    let e = Pair::parse_xen_words(&["antispoof=yes"]).unwrap_err();
    assert!(e.to_string().contains("antispoof"), "{e}");
    // A vif and a bridge that do not exist.
    let (g, gr) = host("guests");
    let e = plan_online(&g, &gr, &[VifRequest::new(n("vif77.0"))]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "vif online vif77.0: interface vif77.0 does not exist"
    );
    let bad = VifRequest {
        bridge: Some(n("xenbr9")),
        ..VifRequest::new(n("vif2.0"))
    };
    let e = plan_online(&g, &gr, &[bad]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "vif online vif2.0: bridge xenbr9 does not exist"
    );
}

/// Captures the fixture hosts from the sandbox. Run as root, then review.
#[test]
#[ignore]
fn regenerate_fixtures() {
    use xenbr_core::sandbox::{address, World};
    use xenbr_core::{MacAddr, Op};
    let dir = fixtures().join("hosts");
    std::fs::create_dir_all(&dir).unwrap();
    let save = |name: &str, host: &mut xenbr_core::Host| {
        let mut s = host.snapshot().unwrap();
        for l in &mut s.links {
            l.stats = Default::default();
        }
        std::fs::write(dir.join(format!("{name}.json")), s.to_json() + "\n").unwrap();
        match host.records().unwrap().to_content() {
            Some(c) => std::fs::write(dir.join(format!("{name}.records.json")), c).unwrap(),
            None => {
                let _ = std::fs::remove_file(dir.join(format!("{name}.records.json")));
            }
        }
    };
    let state = std::env::temp_dir().join(format!("xenbr-fixtures-{}", std::process::id()));
    let w = World::new().unwrap();
    // A fixed MAC, so the golden plans do not change from one capture to the next.
    w.host
        .apply(&[new_mac("eth0", mac("00:16:3e:11:22:33"))])
        .unwrap();
    let mut h = w.host.host(&state.join("a")).unwrap();
    save("plain", &mut h);
    h.start(&StartRequest::default()).unwrap();
    save("started-classic", &mut h);
    let names: Vec<IfName> = (1..=4).map(|i| n(&format!("vif{i}.0"))).collect();
    w.host.create_taps(&names).unwrap();
    h.vif_online(&[VifRequest::new(n("vif1.0"))]).unwrap();
    w.host
        .apply(&[
            master("vif2.0", Some("xenbr0")),
            up("vif2.0", true),
            up("vif3.0", true),
            Op::add_address(address("vif3.0", "10.99.0.3/24", None)),
            master("vif3.0", Some("xenbr0")),
            new_mac("vif4.0", MacAddr::BRIDGE_PORT),
        ])
        .unwrap();
    save("guests", &mut h);
    let w2 = World::new().unwrap();
    w2.host
        .apply(&[new_mac("eth0", mac("00:16:3e:11:22:33"))])
        .unwrap();
    let mut h2 = w2.host.host(&state.join("b")).unwrap();
    h2.start(&StartRequest {
        mode: Mode::Bridge,
        pairs: vec![],
    })
    .unwrap();
    save("started-bridge", &mut h2);
    let _ = std::fs::remove_dir_all(&state);
}
