//! End to end: the `xenbr` binary run as Xen's scripts, through links named
//! `vif-bridge` and `network-bridge`, with libxl's environment, inside a
//! network namespace, against a private real xenstored read back with Xen's
//! own `xenstore-read`; and `xenbr watch` stopped by SIGTERM and SIGINT.

#[path = "../../xenbr-core/tests/support/netns.rs"]
mod support;
#[path = "../../xenbr-core/tests/support/xenstored.rs"]
mod xenstored;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use xenbr_core::sandbox::Netns;
use xenbr_core::{IfName, MacAddr, Op, Snapshot, StartRequest};
use xenstored::Xenstored;

fn n(s: &str) -> IfName {
    s.parse().unwrap()
}

/// A link named `script` to the xenbr binary, as an installer would make it.
fn script(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("scripts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join(name);
    if !link.exists() {
        let _ = std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xenbr"), &link);
    }
    link
}

/// `program args` inside `ns`, with a clean environment plus `env`.
fn command(program: &Path, args: &[&str], env: &[(&str, &str)], ns: &Netns) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    let fd = ns.fd();
    // SAFETY: setns is async-signal-safe; it runs in the child before exec.
    unsafe {
        c.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

fn run(program: &Path, args: &[&str], env: &[(&str, &str)], ns: &Netns) -> Output {
    command(program, args, env, ns).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn snapshot(ns: &Netns) -> Snapshot {
    ns.socket().unwrap().snapshot().unwrap()
}

/// A namespace with bridges xenbr0 and xenbr1 and the taps, and a daemon.
fn rig(test: &str, taps: &[&str]) -> Option<(Xenstored, Netns)> {
    let d = Xenstored::start(test)?;
    let ns = support::netns(test)?;
    let bridge = |name: &str| Op::CreateBridge {
        name: n(name),
        mac: None,
        stp: false,
        forward_delay: 0,
    };
    ns.apply(&[bridge("xenbr0"), bridge("xenbr1")]).unwrap();
    ns.create_taps(&taps.iter().map(|t| n(t)).collect::<Vec<_>>())
        .unwrap();
    Some((d, ns))
}

/// The environment libxl gives vif-bridge, plus where xenstored and the
/// state directory are.
fn libxl_env<'a>(
    vif: &'a str,
    path: &'a str,
    socket: &'a str,
    state: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("script", "/etc/xen/scripts/vif-bridge"),
        ("XENBUS_TYPE", "vif"),
        ("XENBUS_PATH", path),
        ("XENBUS_BASE_PATH", "backend"),
        ("netdev", ""),
        ("vif", vif),
        ("XENSTORED_PATH", socket),
        ("XENBR_STATE_DIR", state),
    ]
}

#[test]
fn vif_bridge_online_as_libxl_runs_it() {
    let t = "cli_vif_bridge_online";
    let Some((d, ns)) = rig(t, &["vif5.0"]) else {
        return;
    };
    for (k, v) in [
        ("backend/vif/5/0/bridge", "xenbr1"),
        ("backend/vif/5/0/mtu", "1400"),
        ("backend/vif/5/0/mac", "00:16:3e:02:00:41"),
    ] {
        d.tool_ok("xenstore-write", &[k, v]);
    }
    let state = support::state_dir(t);
    let (socket, state) = (d.socket().to_str().unwrap(), state.to_str().unwrap());
    let env = libxl_env("vif5.0", "backend/vif/5/0", socket, state);

    let started = Instant::now();
    let out = run(&script("vif-bridge"), &["online", "type_if=vif"], &env, &ns);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("vif5.0 attached to xenbr1"),
        "{}",
        text(&out.stdout)
    );
    eprintln!("{t}: vif-bridge online took {took:?} (the whole process)");
    let s = snapshot(&ns);
    let l = s.link(&n("vif5.0")).unwrap();
    assert_eq!(
        (l.master.clone(), l.mtu, l.mac, l.up),
        (Some(n("xenbr1")), 1400, Some(MacAddr::BRIDGE_PORT), true)
    );
    assert_eq!(
        d.tool_ok("xenstore-read", &["backend/vif/5/0/hotplug-status"]),
        "connected"
    );

    // libxl runs the script for the emulated type too: nothing to do.
    let out = run(&script("vif-bridge"), &["online", "type_if=tap"], &env, &ns);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = run(
        &script("vif-bridge"),
        &["offline", "type_if=vif"],
        &env,
        &ns,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = snapshot(&ns);
    let l = s.link(&n("vif5.0")).unwrap();
    assert_eq!((l.master.clone(), l.up), (None, false));
    // Offline of an interface already gone does not fail the toolstack.
    ns.apply(&[Op::DeleteLink { name: n("vif5.0") }]).unwrap();
    let out = run(
        &script("vif-bridge"),
        &["offline", "type_if=vif"],
        &env,
        &ns,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("already gone"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn vif_bridge_failure_writes_hotplug_error_and_changes_nothing() {
    let t = "cli_vif_bridge_failure";
    let Some((d, ns)) = rig(t, &["vif6.0"]) else {
        return;
    };
    d.tool_ok("xenstore-write", &["backend/vif/6/0/bridge", "xenbr9"]);
    let state = support::state_dir(t);
    let (socket, state) = (d.socket().to_str().unwrap(), state.to_str().unwrap());
    let env = libxl_env("vif6.0", "backend/vif/6/0", socket, state);
    let before = snapshot(&ns);

    // The subcommand form, this time.
    let out = run(
        Path::new(env!("CARGO_BIN_EXE_xenbr")),
        &["hotplug", "vif-bridge", "online", "type_if=vif"],
        &env,
        &ns,
    );
    assert_eq!(out.status.code(), Some(69), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bridge xenbr9 does not exist"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        d.tool_ok("xenstore-read", &["backend/vif/6/0/hotplug-status"]),
        "error"
    );
    let msg = d.tool_ok("xenstore-read", &["backend/vif/6/0/hotplug-error"]);
    assert!(msg.contains("bridge xenbr9 does not exist"), "{msg}");
    support::assert_same(&before, &snapshot(&ns), "a failed vif-bridge online");

    // A frontend path is refused before anything is read or written.
    let mut env = env.clone();
    env[2] = ("XENBUS_PATH", "/local/domain/6/device/vif/0");
    let out = run(&script("vif-bridge"), &["online"], &env, &ns);
    assert_eq!(out.status.code(), Some(65), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("XSA-175"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn network_bridge_as_xend_ran_it() {
    let t = "cli_network_bridge";
    let Some(w) = support::world(t) else {
        return;
    };
    let state = support::state_dir(t);
    let env = [("XENBR_STATE_DIR", state.to_str().unwrap())];
    let nb = script("network-bridge");
    let before = snapshot(&w.host);

    let out = run(&nb, &["start", "bridge=null"], &env, &w.host);
    assert!(out.status.success(), "{}", text(&out.stderr));
    support::assert_same(&before, &snapshot(&w.host), "bridge=null");

    let out = run(
        &nb,
        &["start", "netdev=eth0", "bridge=xenbr0"],
        &env,
        &w.host,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("started xenbr0"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&nb, &["status"], &env, &w.host);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("peth0"), "{}", text(&out.stdout));
    let out = run(&nb, &["stop", "bridge=xenbr0"], &env, &w.host);
    assert!(out.status.success(), "{}", text(&out.stderr));
    support::assert_same(
        &before,
        &snapshot(&w.host),
        "network-bridge start then stop",
    );

    let out = run(&nb, &["start", "antispoof=yes"], &env, &w.host);
    assert_eq!(out.status.code(), Some(65), "{}", text(&out.stderr));
}

/// Kills a child still running when dropped: a failing test leaves no
/// `xenbr watch` behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn watch_stops_cleanly_on_sigterm_and_sigint() {
    let t = "cli_watch_signals";
    let Some(w) = support::world(t) else {
        return;
    };
    let state = support::state_dir(t);
    let mut host = w.host.host(&state).unwrap();
    host.start(&StartRequest::default()).unwrap();
    let env = [("XENSTORED_PATH", "/nonexistent/xenstored")];
    for (round, signal) in [(0u32, libc::SIGTERM), (1, libc::SIGINT)] {
        let mut child = KillOnDrop(
            command(
                Path::new(env!("CARGO_BIN_EXE_xenbr")),
                &["--state-dir", state.to_str().unwrap(), "watch"],
                &env,
                &w.host,
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        );
        let child = &mut child.0;
        let names: Vec<IfName> = (1..=5)
            .map(|i| n(&format!("vif{}.0", round * 10 + i)))
            .collect();
        w.host.create_taps(&names).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let s = host.snapshot().unwrap();
            if names.iter().all(|v| {
                s.link(v)
                    .is_some_and(|l| l.master == Some(n("xenbr0")) && l.up)
            }) {
                break;
            }
            assert!(child.try_wait().unwrap().is_none(), "watch exited early");
            assert!(Instant::now() < deadline, "the taps were not attached");
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: a signal to our own child, which has not been reaped.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "watch did not stop on signal {signal}"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(
            status.success(),
            "signal {signal}: {status}\n{stdout}\n{stderr}"
        );
        assert!(
            stdout.contains(&format!("attached {} to xenbr0", names[0])),
            "{stdout}"
        );
        assert!(stdout.contains("watch stopped:"), "{stdout}");
        assert!(host.unfinished().unwrap().is_none(), "no journal is left");
    }
}
