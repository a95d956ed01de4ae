//! The hotplug scripts' interface against a real xenstored and real links:
//! `vif-bridge` reading the backend and reporting to it, `network-bridge`,
//! and `watch` with backend directories. Each test has its own daemon and
//! namespaces.

#[path = "support/ops.rs"]
mod ops;
#[path = "support/netns.rs"]
mod support;
#[path = "support/xenstored.rs"]
mod xenstored;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ops::{bridge, delete, n};
use xenbr_core::netlink::LinkEventStream;
use xenbr_core::sandbox::Netns;
use xenbr_core::xen::hotplug::{NetworkBridgeCall, VifBridge, VifBridgeCall};
use xenbr_core::xen::xenstore::XenStore;
use xenbr_core::{
    ErrorKind, Host, IfName, MacAddr, NetworkBridgeOutcome, WatchOptions, WatchReport,
};
use xenstored::Xenstored;

/// A namespace with bridges `xenbr0` and `xenbr1` (MTU 1500) and taps, a
/// Host on it, a private xenstored and a connection to it.
struct Rig {
    ns: Netns,
    host: Host,
    xs: XenStore,
    d: Xenstored,
}

fn rig(test: &str, taps: &[&str]) -> Option<Rig> {
    let d = Xenstored::start(test)?;
    let ns = support::netns(test)?;
    ns.apply(&[bridge("xenbr0"), bridge("xenbr1")]).unwrap();
    let taps: Vec<IfName> = taps.iter().map(|t| n(t)).collect();
    ns.create_taps(&taps).unwrap();
    let host = ns.host(&support::state_dir(test)).unwrap();
    let xs = XenStore::open_path(d.socket()).unwrap();
    Some(Rig { ns, host, xs, d })
}

impl Rig {
    fn write(&self, key: &str, value: &str) {
        self.d.tool_ok("xenstore-write", &[key, value]);
    }

    fn read(&self, key: &str) -> Option<String> {
        let out = self.d.tool("xenstore-read", &[key]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }
}

/// libxl's environment for a PV interface.
fn libxl_env(vif: &str, path: &str) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<&str, String> = [
        ("script", "/etc/xen/scripts/vif-bridge".to_string()),
        ("XENBUS_TYPE", "vif".into()),
        ("XENBUS_PATH", path.into()),
        ("XENBUS_BASE_PATH", "backend".into()),
        ("netdev", String::new()),
        ("vif", vif.into()),
    ]
    .into_iter()
    .collect();
    move |k| m.get(k).cloned()
}

fn call(words: &[&str], env: &dyn Fn(&str) -> Option<String>) -> VifBridgeCall {
    match VifBridgeCall::parse(words, env).unwrap() {
        VifBridge::Run(c) => c,
        VifBridge::Nothing(why) => panic!("nothing to do: {why}"),
    }
}

#[test]
fn online_reads_the_backend_only_and_reports_connected() {
    let Some(mut r) = rig("hotplug_online", &["vif5.0"]) else {
        return;
    };
    r.write("backend/vif/5/0/bridge", "xenbr1");
    r.write("backend/vif/5/0/mtu", "1400");
    r.write("backend/vif/5/0/mac", "00:16:3e:02:00:41");
    r.write("backend/vif/5/0/ip", "192.0.2.50");
    // What the guest may write in its frontend directory is never read.
    r.write("/local/domain/5/device/vif/0/mtu", "9000");
    r.write("/local/domain/5/device/vif/0/bridge", "xenbr0");

    let c = call(
        &["online", "type_if=vif"],
        &libxl_env("vif5.0", "backend/vif/5/0"),
    );
    let out = r.host.vif_bridge(&c, Some(&mut r.xs)).unwrap();
    assert_eq!(out.bridge, Some(n("xenbr1")));
    assert_eq!(out.status.as_deref(), Some("connected"));
    assert!(out.notes.iter().any(|s| s.contains("iptables")), "{out:?}");
    let s = r.host.snapshot().unwrap();
    let l = s.link(&n("vif5.0")).unwrap();
    assert_eq!(
        (l.master.clone(), l.mtu, l.mac, l.up),
        (Some(n("xenbr1")), 1400, Some(MacAddr::BRIDGE_PORT), true),
        "the guest's MAC stays the guest's"
    );
    assert_eq!(
        r.read("/local/domain/0/backend/vif/5/0/hotplug-status")
            .as_deref(),
        Some("connected")
    );
    assert_eq!(r.read("backend/vif/5/0/hotplug-error"), None);

    // offline: down and off the bridge, and nothing written.
    let c = call(
        &["offline", "type_if=vif"],
        &libxl_env("vif5.0", "backend/vif/5/0"),
    );
    r.host.vif_bridge(&c, Some(&mut r.xs)).unwrap();
    let s = r.host.snapshot().unwrap();
    let l = s.link(&n("vif5.0")).unwrap();
    assert_eq!((l.master.clone(), l.up), (None, false));
    // The interface gone already: still a success, for the toolstack's sake.
    r.ns.apply(&[delete("vif5.0")]).unwrap();
    let out = r.host.vif_bridge(&c, Some(&mut r.xs)).unwrap();
    assert_eq!(out.vif.gone, vec![n("vif5.0")]);
    // And without XenStore at all.
    let out = r.host.vif_bridge(&c, None).unwrap();
    assert_eq!(out.vif.gone, vec![n("vif5.0")]);
}

#[test]
fn a_failure_rolls_back_and_writes_hotplug_error() {
    let Some(mut r) = rig("hotplug_failure", &["vif6.0"]) else {
        return;
    };
    let env = libxl_env("vif6.0", "backend/vif/6/0");
    let c = call(&["online", "type_if=vif"], &env);
    let before = r.host.snapshot().unwrap();

    // A bridge that is not there: refused before any change.
    r.write("backend/vif/6/0/bridge", "xenbr9");
    let e = r.host.vif_bridge(&c, Some(&mut r.xs)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(
        r.read("backend/vif/6/0/hotplug-status").as_deref(),
        Some("error")
    );
    let msg = r.read("backend/vif/6/0/hotplug-error").unwrap();
    assert!(msg.contains("bridge xenbr9 does not exist"), "{msg}");
    support::assert_same(&before, &r.host.snapshot().unwrap(), "a refused online");

    // A kernel failure half-way: rolled back, and said so.
    r.write("backend/vif/6/0/bridge", "xenbr0");
    let dir = r.host.state_dir().path().to_path_buf();
    let mut faulty = r.ns.host(&dir).unwrap().test_faults(Some(2), None);
    let e = faulty.vif_bridge(&c, Some(&mut r.xs)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RolledBack, "{e}");
    let msg = r.read("backend/vif/6/0/hotplug-error").unwrap();
    assert!(msg.contains("rolled back"), "{msg}");
    assert_eq!(
        r.read("backend/vif/6/0/hotplug-status").as_deref(),
        Some("error")
    );
    support::assert_same(&before, &r.host.snapshot().unwrap(), "a rolled-back online");

    // A bad key in the backend is an error too, reported the same way.
    r.write("backend/vif/6/0/mtu", "12");
    let e = r.host.vif_bridge(&c, Some(&mut r.xs)).unwrap_err();
    assert!(e.to_string().contains("backend/vif/6/0/mtu"), "{e}");
    let msg = r.read("backend/vif/6/0/hotplug-error").unwrap();
    assert!(msg.contains("between 68 and 65535"), "{msg}");

    // online needs XenStore.
    let e = r.host.vif_bridge(&c, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn vifname_renames_and_offline_follows_the_new_name() {
    let Some(mut r) = rig("hotplug_vifname", &["vif7.0", "vif7.0-emu"]) else {
        return;
    };
    r.write("backend/vif/7/0/bridge", "xenbr0");
    r.write("backend/vif/7/0/vifname", "web1");
    let env = libxl_env("vif7.0", "backend/vif/7/0");
    let out = r
        .host
        .vif_bridge(&call(&["online", "type_if=vif"], &env), Some(&mut r.xs))
        .unwrap();
    assert_eq!(out.interface, n("web1"));

    // The emulated twin: INTERFACE, add, and vifname with -emu.
    let tap_env = |k: &str| match k {
        "INTERFACE" => Some("vif7.0-emu".to_string()),
        k => env(k),
    };
    let out = r
        .host
        .vif_bridge(&call(&["add", "type_if=tap"], &tap_env), Some(&mut r.xs))
        .unwrap();
    assert_eq!(out.interface, n("web1-emu"));
    assert_eq!(out.status, None, "only a PV interface's online reports");
    let s = r.host.snapshot().unwrap();
    for name in ["web1", "web1-emu"] {
        assert_eq!(
            s.link(&n(name)).unwrap().master,
            Some(n("xenbr0")),
            "{name}"
        );
    }
    assert!(!s.has_link(&n("vif7.0")));

    for (words, e, name) in [
        (
            &["offline", "type_if=vif"][..],
            &env as &dyn Fn(&str) -> Option<String>,
            "web1",
        ),
        (&["remove", "type_if=tap"], &tap_env, "web1-emu"),
    ] {
        let out = r.host.vif_bridge(&call(words, e), Some(&mut r.xs)).unwrap();
        assert_eq!(out.vif.detached, vec![n(name)]);
    }
    let s = r.host.snapshot().unwrap();
    assert_eq!(s.ports(&n("xenbr0")).count(), 0);
}

#[test]
fn network_bridge_start_status_stop_and_null() {
    let Some(w) = support::world("hotplug_network_bridge") else {
        return;
    };
    let mut host = w
        .host
        .host(&support::state_dir("hotplug_network_bridge"))
        .unwrap();
    let before = host.snapshot().unwrap();
    let none = |_: &str| None;
    let run = |host: &mut Host, words: &[&str]| {
        host.network_bridge(&NetworkBridgeCall::parse(words, &none).unwrap())
    };
    for words in [&["start", "bridge=null"][..], &["stop", "bridge=null"]] {
        assert!(matches!(
            run(&mut host, words).unwrap(),
            NetworkBridgeOutcome::Nothing(_)
        ));
    }
    support::assert_same(&before, &host.snapshot().unwrap(), "bridge=null");

    match run(&mut host, &["start", "netdev=eth0", "bridge=xenbr0"]).unwrap() {
        NetworkBridgeOutcome::Started(o) => assert_eq!(o.started[0].bridge, n("xenbr0")),
        o => panic!("{o:?}"),
    }
    // Twice is fine, as for Xen's script.
    match run(&mut host, &["start", "netdev=eth0", "bridge=xenbr0"]).unwrap() {
        NetworkBridgeOutcome::Started(o) => assert_eq!(o.already.len(), 1),
        o => panic!("{o:?}"),
    }
    match run(&mut host, &["status"]).unwrap() {
        NetworkBridgeOutcome::Status(s) => assert!(s.to_text().contains("xenbr0")),
        o => panic!("{o:?}"),
    }
    assert!(matches!(
        run(&mut host, &["stop", "bridge=xenbr7"]).unwrap(),
        NetworkBridgeOutcome::Nothing(_)
    ));
    assert!(matches!(
        run(&mut host, &["stop", "antispoof=yes"]),
        Err(e) if e.to_string().contains("antispoof=yes is not supported")
    ));
    match run(&mut host, &["stop", "netdev=eth0"]).unwrap() {
        NetworkBridgeOutcome::Stopped(o) => assert_eq!(o.stopped.len(), 1),
        o => panic!("{o:?}"),
    }
    support::assert_same(&before, &host.snapshot().unwrap(), "start then stop");

    // mode=bridge: the later layout, the bridge takes the NIC's name.
    match run(&mut host, &["start", "mode=bridge"]).unwrap() {
        NetworkBridgeOutcome::Started(o) => assert_eq!(o.started[0].bridge, n("eth0")),
        o => panic!("{o:?}"),
    }
    match run(&mut host, &["stop"]).unwrap() {
        NetworkBridgeOutcome::Stopped(o) => assert_eq!(o.stopped.len(), 1),
        o => panic!("{o:?}"),
    }
    support::assert_same(&before, &host.snapshot().unwrap(), "bridge mode");
}

#[test]
fn watch_reads_backend_directories_and_reports_to_them() {
    let Some(r) = rig("hotplug_watch", &[]) else {
        return;
    };
    let Rig {
        ns, mut host, d, ..
    } = r;
    d.tool_ok("xenstore-write", &["backend/vif/7/0/bridge", "xenbr1"]);
    d.tool_ok("xenstore-write", &["backend/vif/7/0/mtu", "1400"]);
    d.tool_ok("xenstore-write", &["backend/vif/8/0/bridge", "nosuchbr"]);
    let stream = ns.run(LinkEventStream::open).unwrap().unwrap();
    let stopper = stream.stopper();
    let mut xs = XenStore::open_path(d.socket()).unwrap();
    let reports = Mutex::new(Vec::new());
    let opts = WatchOptions {
        bridge: Some(n("xenbr0")),
        ..WatchOptions::default()
    };
    let dir = host.state_dir().path().to_path_buf();
    std::thread::scope(|s| {
        let _stop = support::StopOnDrop(stopper.clone());
        let mut watcher = ns.host(&dir).unwrap();
        let (reports, opts, xs) = (&reports, &opts, &mut xs);
        let watching = s.spawn(move || {
            watcher.watch(stream, opts, Some(xs), |r| reports.lock().unwrap().push(r))
        });
        // With a backend (good and bad), and without one.
        ns.create_taps(&[n("vif7.0"), n("vif8.0"), n("vif9.0")])
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let done = reports
                .lock()
                .unwrap()
                .iter()
                .filter(|r| matches!(r, WatchReport::Attached { .. } | WatchReport::Failed { .. }))
                .count();
            if done == 3 {
                break;
            }
            assert!(Instant::now() < deadline, "{:#?}", reports.lock().unwrap());
            std::thread::sleep(Duration::from_millis(2));
        }
        stopper.stop();
        watching.join().unwrap().unwrap();
    });
    let s = host.snapshot().unwrap();
    let l = s.link(&n("vif7.0")).unwrap();
    assert_eq!((l.master.clone(), l.mtu), (Some(n("xenbr1")), 1400));
    assert_eq!(s.link(&n("vif9.0")).unwrap().master, Some(n("xenbr0")));
    assert_eq!(s.link(&n("vif8.0")).unwrap().master, None);
    let read = |k: &str| d.tool_ok("xenstore-read", &[k]);
    assert_eq!(read("backend/vif/7/0/hotplug-status"), "connected");
    assert_eq!(read("backend/vif/8/0/hotplug-status"), "error");
    assert!(read("backend/vif/8/0/hotplug-error").contains("nosuchbr"));
    assert!(
        !d.tool("xenstore-read", &["backend/vif/9/0"])
            .status
            .success(),
        "no backend directory is made for an interface without one"
    );
}
