//! The XenStore client against a real xenstored 4.17, one private daemon per
//! test, cross-checked with Xen's own xenstore-read / xenstore-write.
//! Run `scripts/fetch-xen-tools` first; see tests/support/xenstored.rs.

#[path = "support/xenstored.rs"]
mod support;

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use support::Xenstored;
use xenbr_core::xen::xenstore::{WatchEvent, XenStore, PAYLOAD_MAX, TRANSACTION_ATTEMPTS};
use xenbr_core::{Error, ErrorKind};

const WAIT: Duration = Duration::from_secs(5);

/// Starts a daemon and connects to it, or returns from the test (skipped).
macro_rules! daemon {
    ($name:expr) => {
        match Xenstored::start($name) {
            Some(d) => {
                let xs = XenStore::open_path(d.socket()).expect("connect to the test xenstored");
                (d, xs)
            }
            None => return,
        }
    };
}

#[test]
fn read_write_rm_directory_mkdir_round_trip() {
    let (_d, mut xs) = daemon!("read_write_rm_directory_mkdir_round_trip");

    xs.write("/test/a", "one").unwrap();
    xs.write("/test/b", b"two\0bytes").unwrap();
    assert_eq!(xs.read("/test/a").unwrap().as_deref(), Some("one"));
    assert_eq!(xs.read_required("/test/a").unwrap(), "one");
    assert_eq!(
        xs.read_bytes("/test/b").unwrap().as_deref(),
        Some(&b"two\0bytes"[..])
    );
    // Overwrite, and an empty value.
    xs.write("/test/a", "").unwrap();
    assert_eq!(xs.read("/test/a").unwrap().as_deref(), Some(""));

    xs.mkdir("/test/dir/sub").unwrap();
    assert_eq!(xs.read("/test/dir/sub").unwrap().as_deref(), Some(""));
    // mkdir of an existing node leaves its value alone.
    xs.mkdir("/test/b").unwrap();
    assert_eq!(
        xs.read_bytes("/test/b").unwrap().as_deref(),
        Some(&b"two\0bytes"[..])
    );

    let mut children = xs.directory("/test").unwrap();
    children.sort();
    assert_eq!(children, ["a", "b", "dir"]);
    assert!(xs.directory("/test/a").unwrap().is_empty());

    xs.rm("/test/dir").unwrap();
    assert_eq!(xs.read("/test/dir/sub").unwrap(), None);
    assert_eq!(xs.read("/test/dir").unwrap(), None);
    // xenstored accepts removing a missing node whose parent exists.
    xs.rm("/test/dir").unwrap();

    // A relative path is below /local/domain/0 for a socket connection.
    xs.write("backend/vif/5/0/bridge", "xenbr0").unwrap();
    assert_eq!(
        xs.read("/local/domain/0/backend/vif/5/0/bridge")
            .unwrap()
            .as_deref(),
        Some("xenbr0")
    );
}

#[test]
fn rust_and_xenstore_tools_see_the_same_store() {
    let (d, mut xs) = daemon!("rust_and_xenstore_tools_see_the_same_store");

    xs.write("/backend/vif/3/0/bridge", "xenbr1").unwrap();
    assert_eq!(
        d.tool_ok("xenstore-read", &["/backend/vif/3/0/bridge"]),
        "xenbr1"
    );

    d.tool_ok(
        "xenstore-write",
        &["/backend/vif/3/0/hotplug-status", "connected"],
    );
    assert_eq!(
        xs.read("/backend/vif/3/0/hotplug-status")
            .unwrap()
            .as_deref(),
        Some("connected")
    );

    let listed = d.tool_ok("xenstore-list", &["/backend/vif/3/0"]);
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort();
    let mut ours = xs.directory("/backend/vif/3/0").unwrap();
    ours.sort();
    assert_eq!(ours, listed);

    xs.rm("/backend/vif/3").unwrap();
    let out = d.tool("xenstore-read", &["/backend/vif/3/0/bridge"]);
    assert!(!out.status.success(), "xenstore-read found a removed node");
}

#[test]
fn missing_node_is_a_typed_not_found_naming_the_path() {
    let (_d, mut xs) = daemon!("missing_node_is_a_typed_not_found_naming_the_path");

    assert_eq!(xs.read("backend/vif/5/0/bridge").unwrap(), None);
    assert_eq!(xs.read_bytes("backend/vif/5/0/bridge").unwrap(), None);

    let e = xs.read_required("backend/vif/5/0/bridge").unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.to_string(),
        "xenstore read backend/vif/5/0/bridge: node does not exist"
    );

    let e = xs.directory("/no/such/dir").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.op(), "xenstore directory /no/such/dir");

    // rm of a node whose parent is missing too.
    let e = xs.rm("/no/such/dir").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    let e = xs.unwatch("/never/watched", "tok").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("/never/watched"), "{e}");
}

#[test]
fn invalid_path_is_refused_by_xenstored_with_einval() {
    let (_d, mut xs) = daemon!("invalid_path_is_refused_by_xenstored_with_einval");
    let e = xs.write("/bad path!", "x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(e.errno(), Some(libc::EINVAL));
    assert!(
        e.to_string().starts_with("xenstore write /bad path!: "),
        "{e}"
    );
    assert!(e.to_string().contains("EINVAL"), "{e}");
    // The connection is still good.
    xs.write("/good", "x").unwrap();
}

fn expect_event(xs: &mut XenStore, path: &str, token: &str) {
    let e = xs
        .next_event(Some(WAIT))
        .unwrap()
        .unwrap_or_else(|| panic!("no watch event for {path} within {WAIT:?}"));
    assert_eq!(
        e,
        WatchEvent {
            path: path.into(),
            token: token.into()
        }
    );
}

#[test]
fn watch_fires_on_a_write_by_xenstore_write() {
    let (d, mut xs) = daemon!("watch_fires_on_a_write_by_xenstore_write");

    xs.watch("/backend/vif", "vifs").unwrap();
    // xenstored fires every new watch once, for the watched path.
    expect_event(&mut xs, "/backend/vif", "vifs");
    assert_eq!(xs.next_event(Some(Duration::ZERO)).unwrap(), None);

    d.tool_ok("xenstore-write", &["/backend/vif/7/0/state", "2"]);
    // A caller's own poll loop sees the socket readable.
    let mut pfd = libc::pollfd {
        fd: xs.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, WAIT.as_millis() as i32) };
    assert_eq!(n, 1, "the socket did not become readable");
    expect_event(&mut xs, "/backend/vif/7/0/state", "vifs");

    // Nothing else happens: the wait times out, in about the time asked.
    let start = Instant::now();
    assert_eq!(
        xs.next_event(Some(Duration::from_millis(100))).unwrap(),
        None
    );
    assert!(start.elapsed() >= Duration::from_millis(100));

    xs.unwatch("/backend/vif", "vifs").unwrap();
    d.tool_ok("xenstore-write", &["/backend/vif/7/0/state", "4"]);
    assert_eq!(
        xs.next_event(Some(Duration::from_millis(200))).unwrap(),
        None
    );
}

#[test]
fn watch_event_interleaved_with_a_reply_is_queued() {
    let (d, mut xs) = daemon!("watch_event_interleaved_with_a_reply_is_queued");
    xs.write("/other", "x").unwrap();

    xs.watch("/vm", "t1").unwrap();
    xs.watch("/vm/1", "t2").unwrap();
    expect_event(&mut xs, "/vm", "t1");
    expect_event(&mut xs, "/vm/1", "t2");

    // The events for this write are on their way before our next request, so
    // they arrive ahead of its reply and must be kept, not taken for it.
    d.tool_ok("xenstore-write", &["/vm/1/name", "guest"]);
    assert_eq!(xs.read("/other").unwrap().as_deref(), Some("x"));
    assert_eq!(xs.pending_events(), 2);
    let mut got = vec![
        xs.next_event(Some(Duration::ZERO)).unwrap().unwrap(),
        xs.next_event(Some(Duration::ZERO)).unwrap().unwrap(),
    ];
    got.sort_by(|a, b| a.token.cmp(&b.token));
    assert_eq!(
        got,
        [
            WatchEvent {
                path: "/vm/1/name".into(),
                token: "t1".into()
            },
            WatchEvent {
                path: "/vm/1/name".into(),
                token: "t2".into()
            },
        ]
    );

    // The same when the writer is another client of ours, many times over.
    let mut other = XenStore::open_path(d.socket()).unwrap();
    for i in 0..20 {
        other.write("/vm/1/n", i.to_string()).unwrap();
        assert_eq!(xs.read("/other").unwrap().as_deref(), Some("x"));
    }
    for i in 0..40 {
        assert!(
            xs.next_event(Some(WAIT)).unwrap().is_some(),
            "event {i} missing"
        );
    }
    assert_eq!(xs.next_event(Some(Duration::ZERO)).unwrap(), None);
}

#[test]
fn conflicting_transaction_retries_and_ends_with_the_right_value() {
    let (d, mut xs) = daemon!("conflicting_transaction_retries_and_ends_with_the_right_value");
    let mut other = XenStore::open_path(d.socket()).unwrap();
    xs.write("/counter", "0").unwrap();

    let mut attempts = 0;
    let id = xs
        .transaction(|tx| {
            attempts += 1;
            let v: u32 = tx.read_required_number("/counter")?;
            if attempts == 1 {
                // Another client changes what this transaction read.
                other.write("/counter", "100")?;
            }
            tx.write("/counter", (v + 1).to_string())?;
            Ok(tx.id())
        })
        .unwrap();
    assert!(id > 0);
    assert_eq!(attempts, 2, "the first commit should have met EAGAIN");
    assert_eq!(xs.read("/counter").unwrap().as_deref(), Some("101"));
    assert_eq!(d.tool_ok("xenstore-read", &["/counter"]), "101");
}

/// Read helper for the transaction test.
trait ReadNumber {
    fn read_required_number(&mut self, path: &str) -> xenbr_core::Result<u32>;
}

impl ReadNumber for xenbr_core::xen::xenstore::Transaction<'_> {
    fn read_required_number(&mut self, path: &str) -> xenbr_core::Result<u32> {
        let v = self
            .read(path)?
            .ok_or_else(|| Error::not_found("read counter", path))?;
        v.parse()
            .map_err(|e| Error::invalid(format!("parse {path}"), e))
    }
}

#[test]
fn transaction_gives_up_when_conflicts_never_stop() {
    let (d, mut xs) = daemon!("transaction_gives_up_when_conflicts_never_stop");
    let mut other = XenStore::open_path(d.socket()).unwrap();
    xs.write("/hot", "0").unwrap();
    let mut attempts = 0;
    let e = xs
        .transaction(|tx| {
            attempts += 1;
            tx.read("/hot")?;
            other.write("/hot", attempts.to_string())?;
            tx.write("/hot", "mine")
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
    assert!(e.to_string().contains("EAGAIN"), "{e}");
    assert_eq!(attempts, TRANSACTION_ATTEMPTS);
    assert_eq!(
        xs.read("/hot").unwrap().as_deref(),
        Some(TRANSACTION_ATTEMPTS.to_string().as_str())
    );
}

#[test]
fn failed_closure_aborts_the_transaction() {
    let (_d, mut xs) = daemon!("failed_closure_aborts_the_transaction");
    xs.write("/keep", "old").unwrap();
    let e = xs
        .transaction(|tx| -> xenbr_core::Result<()> {
            tx.write("/keep", "new")?;
            tx.write("/added", "x")?;
            assert_eq!(tx.read("/keep")?.as_deref(), Some("new"));
            Err(Error::conflict("plan", "changed my mind"))
        })
        .unwrap_err();
    assert_eq!(e.to_string(), "plan: changed my mind");
    assert_eq!(xs.read("/keep").unwrap().as_deref(), Some("old"));
    assert_eq!(xs.read("/added").unwrap(), None);
}

#[test]
fn oversize_payload_is_refused_before_sending() {
    let (_d, mut xs) = daemon!("oversize_payload_is_refused_before_sending");
    let big = vec![b'x'; PAYLOAD_MAX];
    let e = xs.write("/big", &big).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().starts_with("xenstore write /big: "), "{e}");
    assert!(e.to_string().contains("4096"), "{e}");
    let long_path = format!("/{}", "p".repeat(PAYLOAD_MAX));
    assert_eq!(
        xs.read(&long_path).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // Nothing reached xenstored: had it, it would have dropped us.
    xs.write("/small", "ok").unwrap();
    assert_eq!(xs.read("/big").unwrap(), None);
    assert_eq!(xs.read("/small").unwrap().as_deref(), Some("ok"));

    // Exactly at the limit: path, NUL and value fill 4096 bytes.
    let value = vec![b'v'; PAYLOAD_MAX - "/big".len() - 1];
    xs.write("/big", &value).unwrap();
    assert_eq!(xs.read_bytes("/big").unwrap(), Some(value));

    // Within the wire limit but over xenstored's own path limit (3072): its
    // refusal is typed and keeps the errno.
    let long = format!("/{}", "q".repeat(3500));
    let e = xs.write(&long, "v").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(e.errno(), Some(libc::EINVAL));
    assert!(e.to_string().ends_with("(EINVAL from xenstored)"), "{e}");
}

#[test]
fn nul_in_a_path_is_refused() {
    let (_d, mut xs) = daemon!("nul_in_a_path_is_refused");
    let e = xs.write("/a\0b", "x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        xs.watch("/a", "to\0ken").unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    xs.write("/a", "x").unwrap();
}

#[test]
fn missing_socket_is_a_clear_not_found() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("xenbr-xs-missing-{}-{nanos}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("socket");
    let e = XenStore::open_path(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.to_string(),
        format!(
            "connect to xenstored: socket {} does not exist",
            path.display()
        )
    );

    // A socket file that nobody listens on any more (a dead xenstored).
    std::fs::create_dir_all(&dir).unwrap();
    drop(UnixListener::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display())));
    // A child another test thread forked (before its exec) may hold a copy of
    // the listener for a moment; nobody listens once the last copy closes.
    let deadline = Instant::now() + WAIT;
    let e = loop {
        match XenStore::open_path(&path) {
            Err(e) => break e,
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(_) => panic!("a socket nobody listens on still accepts after {WAIT:?}"),
        }
    };
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn daemon_going_away_is_an_error_not_a_hang() {
    let (d, mut xs) = daemon!("daemon_going_away_is_an_error_not_a_hang");
    xs.write("/x", "1").unwrap();
    drop(d);
    let e = xs.read("/x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().contains("closed the connection"), "{e}");
    // And stays an error.
    assert!(xs.write("/x", "2").is_err());
}
