//! Link events in namespaces: taps appearing, renamed, put on a bridge and
//! taken off it, removed; the kernel dropping events and the monitor
//! resynchronising; the stream and its stopper.

#[path = "support/ops.rs"]
mod ops;
#[path = "support/netns.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::StreamExt;
use ops::{bridge, delete, master, n, rename};
use xenbr_core::netlink::{LinkEvent, LinkEventStream, LinkMonitor, LinkState};
use xenbr_core::{IfName, Op};

const WAIT: Duration = Duration::from_secs(5);

fn names(prefix: &str, count: usize) -> Vec<IfName> {
    (0..count).map(|i| n(&format!("{prefix}{i}.0"))).collect()
}

/// Takes events until `done` says so, or fails after `WAIT`.
fn until(m: &mut LinkMonitor, mut done: impl FnMut(&LinkEvent) -> bool) -> Vec<LinkEvent> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match m.next_event(Some(left)).unwrap() {
            Some(e) => {
                let stop = done(&e);
                seen.push(e);
                if stop {
                    return seen;
                }
            }
            None => panic!("no matching event within {WAIT:?}; saw {seen:#?}"),
        }
    }
}

/// The names a consumer knows after `events`, starting from `start`.
fn replay(start: &[LinkState], events: &[LinkEvent]) -> BTreeMap<u32, String> {
    let mut v: BTreeMap<u32, String> = start
        .iter()
        .map(|l| (l.index, l.name.to_string()))
        .collect();
    for e in events {
        match e {
            LinkEvent::Added(l) | LinkEvent::Changed(l) => {
                v.insert(l.index, l.name.to_string());
            }
            LinkEvent::Removed(l) => {
                v.remove(&l.index);
            }
            LinkEvent::Overrun => {}
        }
    }
    v
}

#[test]
fn taps_added_renamed_bridged_and_removed() {
    let Some(ns) = support::netns("events_lifecycle") else {
        return;
    };
    let mut m = ns.run(LinkMonitor::open).unwrap().unwrap();
    assert!(m.links().iter().any(|l| l.name == "lo"));
    ns.create_taps(&[n("vif1.0")]).unwrap();
    let seen = until(
        &mut m,
        |e| matches!(e, LinkEvent::Added(l) if l.name == "vif1.0"),
    );
    let index = seen.last().unwrap().link().unwrap().index;

    ns.apply(&[
        bridge("xenbr0"),
        rename("vif1.0", "web1"),
        master("web1", Some("xenbr0")),
        master("web1", None),
        delete("web1"),
    ])
    .unwrap();
    let seen = until(
        &mut m,
        |e| matches!(e, LinkEvent::Removed(l) if l.index == index),
    );
    let mine: Vec<&LinkEvent> = seen
        .iter()
        .filter(|e| e.link().is_some_and(|l| l.index == index))
        .collect();
    assert!(
        mine.iter()
            .any(|e| matches!(e, LinkEvent::Changed(l) if l.name == "web1")),
        "the rename is a change of the same index: {mine:#?}"
    );
    assert!(
        mine.iter()
            .any(|e| matches!(e, LinkEvent::Changed(l) if l.master.is_some())),
        "joining the bridge is a change: {mine:#?}"
    );
    let removed: Vec<_> = mine
        .iter()
        .filter(|e| matches!(e, LinkEvent::Removed(_)))
        .collect();
    assert_eq!(
        removed.len(),
        1,
        "leaving the bridge (AF_BRIDGE DELLINK) is not a removal: {mine:#?}"
    );
    assert!(seen
        .iter()
        .any(|e| matches!(e, LinkEvent::Added(l) if l.name == "xenbr0")));
    assert!(!m.links().iter().any(|l| l.index == index));
    assert_eq!(m.overruns(), 0);
}

#[test]
fn a_full_receive_buffer_is_resynchronised_from_a_dump() {
    let Some(ns) = support::netns("events_overrun") else {
        return;
    };
    // The smallest buffer the kernel allows holds a couple of notifications.
    let mut m = ns
        .run(|| LinkMonitor::open_with_buffer(1))
        .unwrap()
        .unwrap();
    let start = m.links();
    let taps = names("vif", 300);
    // Nobody reads while the kernel announces 300 taps, then 100 removals.
    ns.create_taps(&taps).unwrap();
    let gone: Vec<Op> = taps[..100].iter().map(delete).collect();
    ns.apply(&gone).unwrap();

    let mut events = Vec::new();
    while let Some(e) = m.next_event(Some(Duration::from_millis(300))).unwrap() {
        events.push(e);
    }
    assert!(m.overruns() >= 1, "the kernel dropped nothing?");
    assert!(events.contains(&LinkEvent::Overrun));
    let mut kernel: BTreeMap<u32, String> = BTreeMap::new();
    for l in ns.socket().unwrap().snapshot().unwrap().links {
        kernel.insert(l.index, l.name.to_string());
    }
    assert_eq!(
        replay(&start, &events),
        kernel,
        "the events add up to the kernel's links"
    );
    assert_eq!(kernel.len(), 201, "lo and 200 taps");
}

#[test]
fn the_stream_delivers_then_stops() {
    let Some(ns) = support::netns("events_stream") else {
        return;
    };
    let mut stream = ns.run(LinkEventStream::open).unwrap().unwrap();
    let stopper = stream.stopper();
    let taps = names("vif", 20);
    ns.create_taps(&taps).unwrap();
    let mut added = Vec::new();
    block_on(async {
        while added.len() < taps.len() {
            match stream.next().await {
                Some(Ok(LinkEvent::Added(l))) => added.push(l.name),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("{e}"),
                None => panic!("the stream ended early"),
            }
        }
    });
    added.sort();
    let mut want = taps.clone();
    want.sort();
    assert_eq!(added, want);

    assert!(!stopper.is_stopped());
    stopper.stop();
    assert!(stopper.is_stopped());
    // Whatever came before the stop is still delivered, then the end.
    let deadline = Instant::now() + WAIT;
    while block_on(stream.next()).is_some() {
        assert!(Instant::now() < deadline, "the stream does not end");
    }
    drop(stream); // joins its thread
}
