//! `Host::watch` in namespaces: a burst of 50 taps on the bridge within a
//! second of the last one's creation, gone without a trace once removed;
//! interfaces that were there first; batches that lose a member.

#[path = "support/ops.rs"]
mod ops;
#[path = "support/netns.rs"]
mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ops::{delete, n};
use xenbr_core::netlink::LinkEventStream;
use xenbr_core::sandbox::World;
use xenbr_core::state::LinkKind;
use xenbr_core::{Host, IfName, MacAddr, Op, StartRequest, VifRequest, WatchOptions, WatchReport};

fn taps(count: usize, domid_from: usize) -> Vec<IfName> {
    (0..count)
        .map(|i| n(&format!("vif{}.0", domid_from + i)))
        .collect()
}

/// A world with `xenbr0` started and a Host on it.
fn started(test: &str) -> Option<(World, Host)> {
    let w = support::world(test)?;
    let mut host = w.host.host(&support::state_dir(test)).unwrap();
    host.start(&StartRequest::default()).unwrap();
    Some((w, host))
}

fn on_bridge(host: &mut Host, names: &[IfName]) -> usize {
    let s = host.snapshot().unwrap();
    names
        .iter()
        .filter(|v| {
            s.link(v).is_some_and(|l| {
                l.master == Some(n("xenbr0")) && l.up && l.mac == Some(MacAddr::BRIDGE_PORT)
            })
        })
        .count()
}

#[test]
fn a_burst_of_fifty_is_on_the_bridge_within_a_second_and_leaves_no_trace() {
    let Some((w, mut host)) = started("watch_burst") else {
        return;
    };
    let dir = host.state_dir().path().to_path_buf();
    let before = host.snapshot().unwrap();
    let stream = w.host.run(LinkEventStream::open).unwrap().unwrap();
    let stopper = stream.stopper();
    let reports = Mutex::new(Vec::new());
    let names = taps(50, 1);

    std::thread::scope(|s| {
        let _stop = support::StopOnDrop(stopper.clone());
        let mut watcher = w.host.host(&dir).unwrap();
        let reports = &reports;
        let watching = s.spawn(move || {
            watcher.watch(stream, &WatchOptions::default(), None, |r| {
                reports.lock().unwrap().push(r)
            })
        });

        w.host.create_taps(&names).unwrap();
        let last_created = Instant::now();
        let deadline = last_created + Duration::from_secs(1);
        loop {
            let attached = on_bridge(&mut host, &names);
            if attached == names.len() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{attached} of 50 on the bridge 1 s after the last was created; reports: {:#?}",
                reports.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        eprintln!(
            "watch_burst: all 50 on xenbr0 {:?} after the last was created",
            last_created.elapsed()
        );
        // The kernel shows a batch before its transaction has verified and
        // committed it; removing the interfaces in between would make the
        // watch report them vanished, not forgotten. Wait for the commits.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let attached = reports
                .lock()
                .unwrap()
                .iter()
                .filter(|r| matches!(r, WatchReport::Attached { .. }))
                .count();
            if attached == names.len() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{attached} of 50 reported attached; reports: {:?}",
                reports.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(2));
        }

        let gone: Vec<Op> = names.iter().map(delete).collect();
        w.host.apply(&gone).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let forgotten = reports
                .lock()
                .unwrap()
                .iter()
                .filter(|r| matches!(r, WatchReport::Forgotten { .. }))
                .count();
            if forgotten == names.len() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{forgotten} of 50 forgotten; reports: {:?}",
                reports.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        stopper.stop();
        let summary = watching.join().unwrap().unwrap();
        assert_eq!(
            (summary.attached, summary.failed, summary.forgotten),
            (50, 0, 50),
            "{summary:?}"
        );
        eprintln!("watch_burst: {} batches", summary.batches);
        assert!(
            summary.batches < 50,
            "a burst is batched, not one interface at a time: {summary:?}"
        );
    });

    // No trace: the host is as before the burst, no journal, no record.
    support::assert_same(&before, &host.snapshot().unwrap(), "after the burst left");
    assert!(host.unfinished().unwrap().is_none());
    let reports = reports.into_inner().unwrap();
    assert!(
        reports
            .iter()
            .all(|r| !matches!(r, WatchReport::Failed { .. } | WatchReport::Warning { .. })),
        "{reports:#?}"
    );
    assert!(reports.contains(&WatchReport::Skipped {
        interface: n("vif0.0"),
        reason: "vif0.N is dom0's own end of a takeover".into(),
    }));
}

#[test]
fn interfaces_there_before_the_watch_are_caught_up() {
    let Some((w, mut host)) = started("watch_catch_up") else {
        return;
    };
    let names = taps(3, 1);
    w.host.create_taps(&names).unwrap();
    // One already on the bridge is left alone.
    host.vif_online(&[VifRequest::new(names[0].clone())])
        .unwrap();
    let stream = w.host.run(LinkEventStream::open).unwrap().unwrap();
    stream.stopper().stop();
    let mut reports = Vec::new();
    let summary = host
        .watch(stream, &WatchOptions::default(), None, |r| reports.push(r))
        .unwrap();
    assert_eq!(summary.attached, 2, "{reports:#?}");
    assert_eq!(on_bridge(&mut host, &names), 3);
    assert!(reports.contains(&WatchReport::Skipped {
        interface: names[0].clone(),
        reason: "it is already a port of a bridge".into(),
    }));

    // Without catch-up, nothing is touched.
    w.host.create_taps(&[n("vif9.0")]).unwrap();
    let stream = w.host.run(LinkEventStream::open).unwrap().unwrap();
    stream.stopper().stop();
    let opts = WatchOptions {
        catch_up: false,
        ..WatchOptions::default()
    };
    let summary = host.watch(stream, &opts, None, |_| {}).unwrap();
    assert_eq!(summary.attached, 0);
    assert_eq!(on_bridge(&mut host, &[n("vif9.0")]), 0);
}

#[test]
fn a_batch_goes_on_without_a_vanished_or_refused_interface() {
    let Some((w, mut host)) = started("watch_best_effort") else {
        return;
    };
    let names = taps(10, 1);
    w.host.create_taps(&names).unwrap();
    let mut reqs: Vec<VifRequest> = names.iter().cloned().map(VifRequest::new).collect();
    reqs.insert(5, VifRequest::new(n("vif999.0")));
    let out = host.vif_online_best_effort(&reqs);
    assert_eq!(out.attached.len(), 10);
    assert_eq!(out.vanished, vec![n("vif999.0")]);
    assert!(out.failed.is_empty());
    assert_eq!(out.attempts, 2, "the batch, then the batch without it");
    assert_eq!(on_bridge(&mut host, &names), 10);

    // A request that cannot work fails alone and changes nothing.
    let more = taps(4, 20);
    w.host.create_taps(&more).unwrap();
    let mut reqs: Vec<VifRequest> = more.iter().cloned().map(VifRequest::new).collect();
    reqs[2].bridge = Some(n("nosuchbr"));
    let out = host.vif_online_best_effort(&reqs);
    assert_eq!(out.attached.len(), 3);
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].0, more[2]);
    assert!(
        out.failed[0]
            .1
            .to_string()
            .contains("bridge nosuchbr does not exist"),
        "{}",
        out.failed[0].1
    );
    let s = host.snapshot().unwrap();
    let l = s.link(&more[2]).unwrap();
    assert_eq!(
        (l.master.clone(), l.up, l.kind),
        (None, false, LinkKind::Tun)
    );
    assert_ne!(l.mac, Some(MacAddr::BRIDGE_PORT), "untouched");
}
