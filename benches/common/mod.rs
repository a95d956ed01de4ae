//! Helpers shared by the benchmarks in `benches/`: entering a namespace made
//! by [`xenbr::sandbox::Netns`] to run ip(8) there, building a realistic Xen
//! host of N links, timing contenders in alternation, and printing the
//! results. Nothing here touches the namespace the benchmark started in.
//!
//! Every benchmark includes this module with `mod common;`; each uses only
//! part of it.
#![allow(dead_code)]

pub mod raw;

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use xenbr::sandbox::Netns;
use xenbr::ErrorKind;

/// What a helper reports when it fails: a sentence for the bench's output.
pub type BenchResult<T> = std::result::Result<T, String>;

/// True when cargo ran us as a benchmark (`cargo bench` passes `--bench`);
/// false under `cargo test --benches`, where a benchmark should only prove
/// that it still works, quickly.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Creates a namespace for benchmark `bench`, or, when this process may not
/// create namespaces, prints why the benchmark is skipped and exits with
/// status 0 (a skipped benchmark is not a broken build). Any other failure
/// is printed and exits with status 1.
pub fn netns_or_skip(bench: &str, label: &str) -> Netns {
    match Netns::new(label) {
        Ok(ns) => ns,
        Err(e) if e.kind() == ErrorKind::Permission => {
            println!(
                "{bench}: SKIPPED: cannot create a network namespace ({e}).\n\
                 {bench}: run it as root (or with CAP_SYS_ADMIN and CAP_NET_ADMIN): \
                 sudo cargo bench --bench {bench}"
            );
            std::process::exit(0);
        }
        Err(e) => fail(
            bench,
            &format!("cannot create network namespace {label}: {e}"),
        ),
    }
}

/// Checks that `tool` (e.g. `ip`) can be run, or prints why benchmark
/// `bench` is skipped and exits with status 0.
pub fn tool_or_skip(bench: &str, tool: &str, version_arg: &str) {
    let ok = Command::new(tool)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("{bench}: SKIPPED: `{tool} {version_arg}` does not run; install iproute2");
        std::process::exit(0);
    }
}

/// Prints `msg` as benchmark `bench`'s failure and exits with status 1.
pub fn fail(bench: &str, msg: &str) -> ! {
    eprintln!("{bench}: FAILED: {msg}");
    std::process::exit(1);
}

/// Runs `f` on a thread inside `ns`: sockets it opens and processes it
/// spawns live in `ns` (a child inherits its parent thread's namespace), so
/// this is also how to run a tool there without `nsenter` and without timing
/// anything but the tool.
pub fn inside<T: Send>(ns: &Netns, f: impl FnOnce() -> BenchResult<T> + Send) -> BenchResult<T> {
    ns.run(f)
        .map_err(|e| format!("cannot enter {}: {e}", ns.label()))?
}

/// Gives the calling thread a mount namespace of its own with a sysfs of
/// its network namespace on `/sys`, so that processes it spawns (which
/// inherit both namespaces) see that namespace's `/sys/class/net`, as a
/// process started in it would. Xen's scripts read sysfs (`brif/`), and
/// without this they would read the sysfs of the namespace the benchmark
/// was started in.
///
/// Only this thread changes namespace (`unshare(CLONE_NEWNS)` is allowed in
/// a threaded process and copies only this thread's view); its mounts are
/// made private first so that nothing propagates back to the host. Call it
/// once per thread, after entering the network namespace and before
/// timing: it costs a copy of the mount table, which no tool would pay per
/// process.
pub fn private_sysfs() -> BenchResult<()> {
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
    let (none, root, sys, sysfs) = (c("none"), c("/"), c("/sys"), c("sysfs"));
    // SAFETY: namespace and mount calls on constant, NUL-terminated paths;
    // they affect only this thread.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(format!(
                "unshare(CLONE_NEWNS): {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::mount(
            none.as_ptr(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(format!(
                "make mounts private: {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::mount(
            sysfs.as_ptr(),
            sys.as_ptr(),
            sysfs.as_ptr(),
            0,
            std::ptr::null(),
        ) != 0
        {
            return Err(format!(
                "mount sysfs on /sys: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// The `xenbr` command built from this tree, in the profile the benchmark
/// itself was built in (release under `cargo bench`, debug under `cargo
/// test --benches`). It is built first, so that a benchmark never times a
/// stale binary; cargo has released its lock by the time a benchmark runs.
/// A release build is the one `scripts/build-cli` makes for installing
/// (statically linked), so that the benchmark times what a host runs.
/// `XENBR_BIN` names another binary and skips the build.
pub fn xenbr_cli(bench: &str) -> PathBuf {
    if let Some(p) = std::env::var_os("XENBR_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<bench>-<hash> -> target/<profile>/xenbr
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(bench, &format!("current_exe: {e}")));
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| fail(bench, "cannot tell the target directory"));
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    if release {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/build-cli");
        let out = Command::new(script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap_or_else(|e| fail(bench, &format!("{script}: {e}")));
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || path.is_empty() {
            fail(bench, &format!("{script} failed: {:?}", out.status));
        }
        return PathBuf::from(path);
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "-q", "-p", "xenbr-cli", "--bin", "xenbr"])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    match cmd.status() {
        Ok(s) if s.success() => {}
        other => fail(
            bench,
            &format!("building the xenbr command failed: {other:?}"),
        ),
    }
    let bin = profile_dir.join("xenbr");
    if !bin.exists() {
        fail(
            bench,
            &format!("{} is missing after the build", bin.display()),
        );
    }
    bin
}

/// The argument that makes a benchmark's binary act as [`peak_rss_kib`]'s
/// helper instead of benchmarking.
const RSS_HELPER: &str = "--xenbr-rss-helper";

/// For a smoke run, which does not build: the `xenbr` command that `cargo
/// test --workspace` built beside this benchmark (or `XENBR_BIN`), if it
/// exists.
pub fn built_xenbr_cli() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("XENBR_BIN").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("xenbr");
    bin.exists().then_some(bin)
}

/// Peak resident memory, in KiB, of `program` run with `args` (output to
/// `/dev/null`; a non-zero exit is an error).
///
/// A child's own `ru_maxrss` cannot be asked of a large parent: at `exec`
/// the kernel folds the high-water mark of the memory the child had until
/// then into it, and a child made by `fork` or `vfork` starts with its
/// parent's. So the benchmark's binary is started afresh as a small helper
/// (see [`rss_helper`]), which runs `program` and reports the `ru_maxrss`
/// of that grandchild from `wait4`: the larger of the program's own peak and
/// the helper's, an upper bound that errs against the program.
pub fn peak_rss_kib(program: &Path, args: &[&std::ffi::OsStr]) -> BenchResult<u64> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe)
        .arg(RSS_HELPER)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the memory helper: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{} {args:?} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    text.trim()
        .parse()
        .map_err(|_| format!("the memory helper printed {text:?}"))
}

/// When this process was started by [`peak_rss_kib`], does the helper's job
/// and exits; otherwise returns at once. A benchmark that measures memory
/// calls it first thing in `main`.
pub fn rss_helper() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_none_or(|a| a != RSS_HELPER) || args.len() < 3 {
        return;
    }
    let child = Command::new(&args[2])
        .args(&args[3..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot run {:?}: {e}", args[2]);
            std::process::exit(1);
        }
    };
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on the pid of the child just spawned, never waited for.
        let r = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut ru) };
        if r >= 0 {
            break;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            eprintln!("wait4: {}", std::io::Error::last_os_error());
            std::process::exit(1);
        }
    }
    if !std::process::ExitStatus::from_raw(status).success() {
        std::process::exit(1);
    }
    println!("{}", ru.ru_maxrss);
    std::process::exit(0);
}

/// Runs `cmd` (built by the caller, not yet spawned) and waits for it,
/// checking its exit status. Its output goes to `/dev/null`: call it from
/// [`inside`] to time a tool at its cheapest (nothing read, nothing parsed).
pub fn run_to_null(cmd: &mut Command) -> BenchResult<()> {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Runs `ip ARGS` inside `ns` and returns what it printed on stdout.
pub fn ip_output(ns: &Netns, args: &[&str]) -> BenchResult<String> {
    inside(ns, || {
        let out = Command::new("ip")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ip {} failed in {} ({}): {}",
                args.join(" "),
                ns.label(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        String::from_utf8(out.stdout).map_err(|e| format!("ip printed non-UTF-8: {e}"))
    })
}

/// Runs the ip(8) commands of `script` (one per line, without the leading
/// `ip`) with `ip -batch -` inside `ns`: one process for thousands of
/// changes. Stops at the first failing line and reports it.
pub fn ip_batch(ns: &Netns, script: &str) -> BenchResult<()> {
    inside(ns, || ip_batch_here(script)).map_err(|e| format!("{e} (in {})", ns.label()))
}

/// [`ip_batch`] in the calling thread's namespaces, as a timed tool runs it.
pub fn ip_batch_here(script: &str) -> BenchResult<()> {
    let mut child = Command::new("ip")
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ip -batch: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let written = stdin.write_all(script.as_bytes());
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| format!("ip -batch: {e}"))?;
    if !out.status.success() || written.is_err() {
        return Err(format!(
            "ip -batch failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// The path under which another process (ip's `netns` argument, `nsenter
/// --net=`) can open namespace `ns` while this process holds it.
pub fn ns_path(ns: &Netns) -> String {
    format!("/proc/{}/fd/{}", std::process::id(), ns.fd())
}

/// Writes `value` to the sysctl `key` (`net/ipv6/conf/default/accept_dad`)
/// of namespace `ns`: `/proc/sys/net` shows the namespace of the thread that
/// opens it, so this needs no remount.
pub fn sysctl(ns: &Netns, key: &str, value: &str) -> BenchResult<()> {
    let path = format!("/proc/sys/{key}");
    inside(ns, || {
        std::fs::write(&path, value)
            .map_err(|e| format!("cannot write {path} in {}: {e}", ns.label()))
    })
}

/// The shape of a simulated Xen host: how many links and how they are made.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Links in the host namespace, counting `lo`, the bridges and the NIC.
    pub links: usize,
    /// Bridges `xenbr0`..; the kernel allows at most 1024 ports per bridge.
    pub bridges: usize,
    /// Every `hvm_every`-th domain is an HVM guest and also has a tap
    /// `vif<D>.0-emu` (qemu's emulated NIC); 0 for none.
    pub hvm_every: usize,
    /// Every `address_every`-th domain's `vif<D>.0` carries an IPv6 address
    /// (routed setups give vifs addresses); 0 for none.
    pub address_every: usize,
    /// Make the vifs ports of the bridges (`ip link set VIF master xenbrB`),
    /// round robin, and set them up. When false they are left down and
    /// unattached, as Xen's backend leaves them before vif-bridge runs.
    pub attach: bool,
}

impl Layout {
    /// A dom0 with `links` interfaces: 8 bridges, every second domain HVM
    /// (a veth `vifD.0` and a tap `vifD.0-emu`), every eighth vif with an
    /// address, all attached and up.
    pub fn xen_host(links: usize) -> Layout {
        Layout {
            links,
            bridges: 8,
            hvm_every: 2,
            address_every: 8,
            attach: true,
        }
    }
}

/// What [`populate`] made.
#[derive(Debug, Clone, Default)]
pub struct Population {
    /// The bridges, `xenbr0`...
    pub bridges: Vec<String>,
    /// The NIC, a veth `eth0` whose other end `up0` is in the guests' namespace.
    pub nic: String,
    /// Backend veths `vifD.0`, whose other ends `dD` are in the guests' namespace.
    pub vifs: Vec<String>,
    /// Persistent taps `vifD.0-emu`.
    pub taps: Vec<String>,
    /// Addresses configured by hand (the kernel adds its own link-local ones).
    pub addresses: usize,
}

impl Population {
    /// Every link made in the host namespace (`lo` not included).
    pub fn links(&self) -> usize {
        self.bridges.len() + 1 + self.vifs.len() + self.taps.len()
    }

    /// How many links have a carrier once the kernel has caught up (see
    /// [`settle`]): the NIC and the bridges with a port that has one, and
    /// the vifs when they were attached (and so set up). The taps have no
    /// carrier: no qemu holds them.
    pub fn expected_up(&self, layout: &Layout) -> usize {
        if layout.attach {
            1 + self.bridges.len() + self.vifs.len()
        } else {
            2 // eth0 and xenbr0
        }
    }
}

/// Builds the host of `layout` in `host`, with the other ends of its veths
/// (the guests' NICs and the upstream switch port) in `guests`, using
/// `ip -batch` in each. The host is left in the steady state of one that has
/// been up a while: IPv6 duplicate address detection and router
/// solicitations are off (they would finish or stop anyway), and the guests'
/// namespace has IPv6 off so that it does not flood the bridges while the
/// benchmark measures.
pub fn populate(host: &Netns, guests: &Netns, layout: &Layout) -> BenchResult<Population> {
    for (key, value) in [
        ("net/ipv6/conf/all/accept_dad", "0"),
        ("net/ipv6/conf/default/accept_dad", "0"),
        ("net/ipv6/conf/all/router_solicitations", "0"),
        ("net/ipv6/conf/default/router_solicitations", "0"),
    ] {
        sysctl(host, key, value)?;
    }
    for key in [
        "net/ipv6/conf/all/disable_ipv6",
        "net/ipv6/conf/default/disable_ipv6",
    ] {
        sysctl(guests, key, "1")?;
    }
    let fixed = 1 + layout.bridges + 1; // lo, the bridges, the NIC
    if layout.links < fixed + 1 || layout.bridges == 0 {
        return Err(format!(
            "a host of {} links with {} bridges leaves no room for guests",
            layout.links, layout.bridges
        ));
    }
    let mut p = Population {
        nic: "eth0".into(),
        ..Population::default()
    };
    let peer_ns = ns_path(guests);
    let mut hs = String::new(); // the host's script
    let mut gs = String::new(); // the guests' script
    let line = |s: &mut String, l: std::fmt::Arguments<'_>| {
        use std::fmt::Write;
        let _ = s.write_fmt(l);
        s.push('\n');
    };
    for b in 0..layout.bridges {
        let br = format!("xenbr{b}");
        line(
            &mut hs,
            format_args!("link add {br} type bridge stp_state 0 forward_delay 0"),
        );
        line(&mut hs, format_args!("link set {br} up"));
        line(
            &mut hs,
            format_args!("addr add 2001:db8:0:{b:x}::10/64 dev {br} nodad"),
        );
        p.addresses += 1;
        p.bridges.push(br);
    }
    // dom0's own address and default route live on the first bridge, as
    // after network-bridge's takeover of eth0.
    line(&mut hs, format_args!("addr add 192.0.2.10/24 dev xenbr0"));
    p.addresses += 1;
    line(
        &mut hs,
        format_args!("link add eth0 type veth peer name up0 netns {peer_ns}"),
    );
    line(&mut hs, format_args!("link set eth0 master xenbr0 up"));
    line(
        &mut hs,
        format_args!("route add default via 192.0.2.1 dev xenbr0"),
    );
    line(&mut gs, format_args!("link set up0 up"));
    let mut left = layout.links - fixed;
    let mut domid = 0usize;
    while left > 0 {
        domid += 1;
        let br = &p.bridges[domid % layout.bridges];
        let vif = format!("vif{domid}.0");
        line(
            &mut hs,
            format_args!("link add {vif} type veth peer name d{domid} netns {peer_ns}"),
        );
        line(&mut gs, format_args!("link set d{domid} up"));
        if layout.attach {
            line(&mut hs, format_args!("link set {vif} master {br} up"));
        }
        if layout.address_every > 0 && domid % layout.address_every == 0 {
            line(
                &mut hs,
                format_args!("addr add 2001:db8:1:{domid:x}::1/64 dev {vif} nodad"),
            );
            p.addresses += 1;
        }
        p.vifs.push(vif);
        left -= 1;
        if left > 0 && layout.hvm_every > 0 && domid % layout.hvm_every == 0 {
            let tap = format!("vif{domid}.0-emu");
            line(&mut hs, format_args!("tuntap add dev {tap} mode tap"));
            if layout.attach {
                line(&mut hs, format_args!("link set {tap} master {br} up"));
            }
            p.taps.push(tap);
            left -= 1;
        }
    }
    ip_batch(host, &hs)?;
    ip_batch(guests, &gs)?;
    Ok(p)
}

/// Waits, up to `limit`, until the kernel has finished what it does on its
/// own after [`populate`]: it brings links with a carrier operationally up
/// in the background (the link watcher), and only then gives them their
/// IPv6 link-local addresses and routes. Settled means at least `want_up`
/// links are operationally up and the numbers of links, addresses and
/// routes have then stayed the same for `quiet_for`. A dump running into
/// such a change has to restart, which is noise, not speed; and a host
/// measured half-built is not the host described. Returns whether it
/// settled.
pub fn settle(
    ns: &Netns,
    want_up: usize,
    quiet_for: Duration,
    limit: Duration,
) -> BenchResult<bool> {
    // A snapshot whose dumps keep being interrupted (the kernel is still
    // busy with the host, on a loaded machine) reads as "still changing".
    const CHANGING: (usize, usize, usize, usize) = (usize::MAX, 0, 0, 0);
    let count = || -> BenchResult<(usize, usize, usize, usize)> {
        let s = inside(ns, || Ok(xenbr::Snapshot::read()))?;
        let s = match s {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::Busy => return Ok(CHANGING),
            Err(e) => return Err(e.to_string()),
        };
        let up = s.links.iter().filter(|l| l.oper == "up").count();
        Ok((s.links.len(), s.addresses.len(), s.routes.len(), up))
    };
    let start = Instant::now();
    let mut last = count()?;
    let mut since = Instant::now();
    while start.elapsed() < limit {
        // Each look is a full snapshot: look seldom enough not to slow
        // down what is being waited for.
        std::thread::sleep(Duration::from_millis(400));
        let now = count()?;
        if now != last || now == CHANGING || now.3 < want_up {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet_for {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The fraction of all CPUs' time spent busy (not idle, not waiting for
/// I/O) over `window`, from `/proc/stat`; `None` where that cannot be read.
pub fn cpu_busy(window: Duration) -> Option<f64> {
    fn sample() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
        let v: Vec<u64> = cpu
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is in user)
        let total: u64 = v.iter().take(8).sum();
        let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
        Some((total, idle))
    }
    let (t0, i0) = sample()?;
    std::thread::sleep(window);
    let (t1, i1) = sample()?;
    let dt = t1.saturating_sub(t0);
    (dt > 0).then(|| 1.0 - i1.saturating_sub(i0) as f64 / dt as f64)
}

/// Waits, up to `limit`, until the machine is quiet: CPUs busy less than
/// 15% of a quarter second. The kernel tears a network namespace down in
/// the background after its last holder lets go, which for thousands of
/// links keeps a CPU busy for seconds; measuring during that is measuring
/// the teardown. Returns the last busy fraction when the machine did not
/// quiet down in time (the caller warns that results will be noisy).
pub fn wait_for_quiet(limit: Duration) -> Option<f64> {
    let start = Instant::now();
    loop {
        let busy = cpu_busy(Duration::from_millis(250))?;
        if busy < 0.15 {
            return None;
        }
        if start.elapsed() >= limit {
            return Some(busy);
        }
    }
}

/// Median, minimum and maximum of a set of timings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// The middle timing (the mean of the two middle ones for an even count).
    pub median: Duration,
    /// The fastest.
    pub min: Duration,
    /// The slowest.
    pub max: Duration,
    /// How many timings.
    pub samples: usize,
}

impl Stats {
    /// The statistics of `samples`, which must not be empty.
    pub fn of(samples: &[Duration]) -> Stats {
        assert!(!samples.is_empty(), "no timings to summarise");
        let mut s = samples.to_vec();
        s.sort_unstable();
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2
        };
        Stats {
            median,
            min: s[0],
            max: s[n - 1],
            samples: n,
        }
    }
}

/// One of the things a benchmark compares: a name and a closure doing one
/// complete run of it (returning an error ends the benchmark).
pub struct Contender<'a> {
    /// Short name for the table (`xenbr`, `ip`).
    pub name: &'static str,
    /// One run; it is timed from call to return.
    pub run: Box<dyn FnMut() -> BenchResult<()> + Send + 'a>,
}

/// Times `contenders` inside `ns`, alternating them: `warmup` untimed
/// rounds, then `rounds` timed ones, each running every contender once,
/// starting with a different one each round so that none always follows
/// the same other. Returns their statistics in the same order. The thread
/// has its own sysfs mounted (see [`private_sysfs`]).
pub fn interleave(
    ns: &Netns,
    warmup: usize,
    rounds: usize,
    mut contenders: Vec<Contender<'_>>,
) -> BenchResult<Vec<Stats>> {
    inside(ns, move || {
        // Processes the contenders start see this namespace's sysfs.
        private_sysfs()?;
        let k = contenders.len();
        let mut times = vec![Vec::with_capacity(rounds); k];
        for round in 0..warmup + rounds {
            for j in 0..k {
                let c = &mut contenders[(round + j) % k];
                let t = Instant::now();
                (c.run)().map_err(|e| format!("{}: {e}", c.name))?;
                let dt = t.elapsed();
                if round >= warmup {
                    times[(round + j) % k].push(dt);
                }
            }
        }
        Ok(times.iter().map(|t| Stats::of(t)).collect())
    })
}

/// `d` in milliseconds with two decimals: `12.34`.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// `d / per` in microseconds with two decimals: time per link.
pub fn us_per(d: Duration, per: usize) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e6 / per as f64)
}

/// A text table: a header row, then rows, printed with each column as wide
/// as its widest cell, the first column left-aligned and the others right.
#[derive(Debug, Clone, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// Adds a row (as many cells as headers).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, with a rule under the header, each line indented
    /// by `indent` spaces.
    pub fn render(&self, indent: usize) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let pad = " ".repeat(indent);
        let mut out = String::new();
        for (i, r) in self.rows.iter().enumerate() {
            out.push_str(&pad);
            for (c, w) in widths.iter().enumerate() {
                let cell = r.get(c).map_or("", String::as_str);
                if c == 0 {
                    out.push_str(&format!("{cell:<w$}"));
                } else {
                    out.push_str(&format!("  {cell:>w$}"));
                }
            }
            out.push('\n');
            if i == 0 {
                let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
                out.push_str(&pad);
                out.push_str(&"-".repeat(total));
                out.push('\n');
            }
        }
        out
    }
}
