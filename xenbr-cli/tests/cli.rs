//! The `xenbr` command, run as a process inside namespaces the tests build:
//! its JSON, its exit codes, `--netns`, the warning and `recover` after a
//! crash, and the vif commands.

use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use xenbr_core::sandbox::{Netns, World};
use xenbr_core::ErrorKind;

fn world(test: &str) -> Option<World> {
    match World::new() {
        Ok(w) => Some(w),
        Err(e)
            if e.kind() == ErrorKind::Permission
                && std::env::var("XENBR_REQUIRE_NETNS").as_deref() != Ok("1") =>
        {
            eprintln!("SKIP {test}: {e}");
            None
        }
        Err(e) => panic!("{test}: {e}"),
    }
}

fn state_dir(test: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `xenbr ARGS` inside `ns` (entered before exec), optionally as `uid`.
fn xenbr(
    ns: &Netns,
    state: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    uid: Option<u32>,
) -> Output {
    let fd: RawFd = ns.fd();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xenbr"));
    cmd.arg("--state-dir")
        .arg(state)
        .args(args)
        .envs(env.iter().copied());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(u) = uid {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(u) != 0
                    || libc::setuid(u) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn ok(o: Output) -> String {
    let (out, err) = text(&o);
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{out}\nstderr:\n{err}",
        o.status.code()
    );
    out
}

/// The snapshot part of `status --json`, compared as the library compares hosts.
#[track_caller]
fn host_state(json: &str) -> xenbr_core::Snapshot {
    serde_json::from_str(json).expect("status --json is a snapshot")
}

#[track_caller]
fn same_host(a: &str, b: &str, what: &str) {
    let d = xenbr_core::state::compare::diff(&host_state(a), &host_state(b));
    assert!(d.is_empty(), "{what}:\n  {}", d.join("\n  "));
}

#[track_caller]
fn fails(o: Output, code: i32, needle: &str) {
    let (out, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one sentence on stderr:\n{err}"
    );
}

#[test]
fn status_json_carries_the_documented_fields() {
    let Some(w) = world("status_json") else {
        return;
    };
    let st = state_dir("status_json");
    let v: serde_json::Value =
        serde_json::from_str(&ok(xenbr(&w.host, &st, &["--json", "status"], &[], None))).unwrap();
    let eth0 = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "eth0")
        .expect("eth0");
    for k in ["name", "index", "kind", "mac", "mtu", "up", "master"] {
        assert!(eth0.get(k).is_some(), "links carry {k}: {eth0}");
    }
    assert_eq!(eth0["kind"], "veth");
    assert!(eth0["master"].is_null());
    let a = v["addresses"].as_array().unwrap();
    assert!(
        a.iter()
            .any(|a| a["ifname"] == "eth0" && a["address"] == "192.0.2.10/24"),
        "{a:?}"
    );
    assert!(v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["table"] == 100));
}

#[test]
fn start_plan_stop_and_exit_codes() {
    let Some(w) = world("cli_start") else { return };
    let st = state_dir("cli_start");
    let before = ok(xenbr(&w.host, &st, &["--json", "status"], &[], None));

    let plan = ok(xenbr(
        &w.host,
        &st,
        &["plan", "start", "netdev=eth0", "bridge=xenbr0"],
        &[],
        None,
    ));
    assert!(plan.contains("ip link set dev eth0 name peth0"), "{plan}");
    assert!(
        plan.contains("ip route add default via 192.0.2.1 dev eth0"),
        "{plan}"
    );
    same_host(
        &before,
        &ok(xenbr(&w.host, &st, &["--json", "status"], &[], None)),
        "plan changes nothing",
    );

    // Bad input: 65; missing: 69; usage: 64. None changes anything.
    fails(
        xenbr(
            &w.host,
            &st,
            &["start", "netdev=abcdefghijklmnop"],
            &[],
            None,
        ),
        65,
        "16 bytes long",
    );
    fails(
        xenbr(&w.host, &st, &["start", "--netdev", "eth9"], &[], None),
        69,
        "interface eth9 does not exist",
    );
    fails(
        xenbr(&w.host, &st, &["start", "bogus=1"], &[], None),
        65,
        "bogus",
    );
    let o = xenbr(&w.host, &st, &["start", "--mode", "sideways"], &[], None);
    assert_eq!(o.status.code(), Some(64));
    same_host(
        &before,
        &ok(xenbr(&w.host, &st, &["--json", "status"], &[], None)),
        "refusals change nothing",
    );

    let out = ok(xenbr(
        &w.host,
        &st,
        &["start", "netdev=eth0", "bridge=xenbr0", "antispoof=no"],
        &[],
        None,
    ));
    assert!(out.contains("started xenbr0"), "{out}");
    let tree = ok(xenbr(&w.host, &st, &["status"], &[], None));
    assert!(
        tree.contains("xenbr0  [classic takeover of eth0]"),
        "{tree}"
    );
    assert!(
        tree.contains("├── peth0") && tree.contains("physical"),
        "{tree}"
    );
    assert!(
        tree.contains("addresses: 192.0.2.10/24, 192.0.2.11/24 (eth0:1), 2001:db8::10/64"),
        "{tree}"
    );
    let again = ok(xenbr(&w.host, &st, &["start"], &[], None));
    assert!(again.contains("already started"), "{again}");

    let out = ok(xenbr(&w.host, &st, &["stop", "bridge=xenbr0"], &[], None));
    assert!(out.contains("stopped xenbr0"), "{out}");
    let after = ok(xenbr(&w.host, &st, &["--json", "status"], &[], None));
    same_host(&before, &after, "the host is as before start");
}

#[test]
fn without_cap_net_admin_it_says_which_capability() {
    let Some(w) = world("cli_perm") else { return };
    let st = state_dir("cli_perm");
    let mut perm = std::fs::metadata(&st).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o777);
    std::fs::set_permissions(&st, perm).unwrap();
    fails(
        xenbr(&w.host, &st, &["start"], &[], Some(65534)),
        77,
        "CAP_NET_ADMIN",
    );
    // Reading needs no privilege.
    ok(xenbr(&w.host, &st, &["status"], &[], Some(65534)));
}

#[test]
fn a_crash_is_shown_by_status_and_undone_by_recover() {
    let Some(w) = world("cli_crash") else { return };
    let st = state_dir("cli_crash");
    let before = ok(xenbr(&w.host, &st, &["--json", "status"], &[], None));
    let o = xenbr(
        &w.host,
        &st,
        &["start"],
        &[("XENBR_TEST_CRASH_AFTER", "12")],
        None,
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(libc::SIGKILL)
    );
    let tree = ok(xenbr(&w.host, &st, &["status"], &[], None));
    assert!(
        tree.starts_with("WARNING: a transaction was cut off"),
        "{tree}"
    );
    assert!(tree.contains("xenbr recover"), "{tree}");
    fails(
        xenbr(&w.host, &st, &["start"], &[], None),
        65,
        "run `xenbr recover` first",
    );
    let out = ok(xenbr(&w.host, &st, &["recover"], &[], None));
    assert!(out.contains("the host is as it was before it"), "{out}");
    same_host(
        &before,
        &ok(xenbr(&w.host, &st, &["--json", "status"], &[], None)),
        "recovered",
    );
    let out = ok(xenbr(&w.host, &st, &["recover"], &[], None));
    assert!(out.contains("nothing to recover"), "{out}");
}

#[test]
fn vif_commands_and_their_xen_aliases() {
    let Some(w) = world("cli_vif") else { return };
    let st = state_dir("cli_vif");
    ok(xenbr(&w.host, &st, &["start"], &[], None));
    let names: Vec<xenbr_core::IfName> = ["vif1.0", "vif2.0-emu"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    w.host.create_taps(&names).unwrap();
    let out = ok(xenbr(
        &w.host,
        &st,
        &["vif", "online", "vif1.0", "--mtu", "1400"],
        &[],
        None,
    ));
    assert_eq!(out.trim(), "attached vif1.0 to xenbr0");
    let out = ok(xenbr(
        &w.host,
        &st,
        &["vif", "add", "vif2.0-emu"],
        &[],
        None,
    ));
    assert_eq!(out.trim(), "attached vif2.0-emu to xenbr0");
    fails(
        xenbr(&w.host, &st, &["vif", "online", "vif7.0"], &[], None),
        69,
        "interface vif7.0 does not exist",
    );
    let o = xenbr(
        &w.host,
        &st,
        &["vif", "online", "vif1.0", "--mtu", "99999"],
        &[],
        None,
    );
    assert_eq!(o.status.code(), Some(64), "a bad MTU is a usage error");
    assert!(text(&o).1.contains("it must be between 68 and 65535"));
    let v: serde_json::Value =
        serde_json::from_str(&ok(xenbr(&w.host, &st, &["--json", "status"], &[], None))).unwrap();
    let vif1 = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "vif1.0")
        .unwrap();
    assert_eq!(
        (vif1["master"].as_str(), vif1["mtu"].as_u64()),
        (Some("xenbr0"), Some(1400))
    );
    let out = ok(xenbr(
        &w.host,
        &st,
        &["vif", "remove", "vif1.0", "vif2.0-emu", "vif3.0"],
        &[],
        None,
    ));
    assert!(
        out.contains("detached vif1.0") && out.contains("already gone: vif3.0"),
        "{out}"
    );
}

/// `--netns NAME` works on /run/netns/NAME, as `ip -n NAME` does.
#[test]
fn netns_by_name() {
    let Some(w) = world("cli_netns") else { return };
    let st = state_dir("cli_netns");
    let name = format!("xenbr-test-{}", std::process::id());
    let path = PathBuf::from("/run/netns").join(&name);
    std::fs::create_dir_all("/run/netns").unwrap();
    std::fs::write(&path, b"").unwrap();
    let src = std::ffi::CString::new(format!("/proc/self/fd/{}", w.host.fd())).unwrap();
    let dst = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a bind mount of our namespace onto an empty file we created, as `ip netns` does.
    let mounted = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    } == 0;
    struct Unmount(PathBuf, bool);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let p = std::ffi::CString::new(self.0.to_str().unwrap()).unwrap();
            if self.1 {
                // SAFETY: unmounting what this test mounted.
                unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
            }
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _guard = Unmount(path.clone(), mounted);
    assert!(mounted, "bind mount: {}", std::io::Error::last_os_error());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_xenbr"))
            .arg("--state-dir")
            .arg(&st)
            .args(args)
            .output()
            .unwrap()
    };
    let out = ok(run(&["--netns", &name, "status"]));
    assert!(
        out.contains("eth0") && out.contains("192.0.2.10/24"),
        "{out}"
    );
    fails(
        run(&["--netns", "no-such-ns-xenbr", "status"]),
        69,
        "/run/netns/no-such-ns-xenbr does not exist",
    );
}

#[test]
fn sandbox_walkthrough_succeeds() {
    if world("cli_sandbox").is_none() {
        return;
    }
    let o = Command::new(env!("CARGO_BIN_EXE_xenbr"))
        .args(["--json", "sandbox"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(o)).unwrap();
    assert_eq!(v["restored"], true, "{v}");
    assert!(
        v["proofs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["ok"] == true),
        "{v}"
    );
}

#[test]
fn start_from_a_xend_config() {
    let Some(w) = world("cli_xend") else { return };
    let st = state_dir("cli_xend");
    let conf = st.join("xend-config.sxp");
    std::fs::write(
        &conf,
        "# Xen 3 style\n(xend-relocation-server no)\n(network-script 'network-bridge netdev=eth0 bridge=xenbr1')\n(vif-script vif-bridge)\n",
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let plan = ok(xenbr(
        &w.host,
        &st,
        &["plan", "start", "--from-xend-config", conf],
        &[],
        None,
    ));
    assert!(plan.contains("ip link add xenbr1 "), "{plan}");
    let out = ok(xenbr(
        &w.host,
        &st,
        &["start", "--from-xend-config", conf],
        &[],
        None,
    ));
    assert!(out.contains("started xenbr1"), "{out}");
    std::fs::write(
        st.join("bad.sxp"),
        "(network-script 'network-bridge netdev=eth0 colour=blue')\n",
    )
    .unwrap();
    fails(
        xenbr(
            &w.host,
            &st,
            &[
                "plan",
                "start",
                "--from-xend-config",
                st.join("bad.sxp").to_str().unwrap(),
            ],
            &[],
            None,
        ),
        65,
        "colour",
    );
}
