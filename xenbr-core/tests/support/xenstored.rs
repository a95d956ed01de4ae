//! Test harness: a private, real xenstored (Debian's 4.17) per test.
//!
//! The binaries come from `scripts/fetch-xen-tools`, unpacked under
//! `$XENBR_XEN_TOOLS` or `<workspace>/target/xen-tools`. Without them a test
//! prints a SKIP line and passes, unless `XENBR_REQUIRE_XENSTORED=1`, which
//! turns the skip into a failure.
//!
//! Each daemon runs in the foreground (`-N`) with its socket, run dir, pid file
//! and trace in its own temp dir, so tests run in parallel. Without a
//! hypervisor xenstored stops at "Failed to open connection to hypervisor";
//! `xenstored_shim.c`, compiled here with `cc` and preloaded, stands in for
//! the few libxenctrl/libxengnttab/libxenevtchn calls and /proc/xen files it
//! opens at start. The guard kills the daemon by pid and removes its files.

#![allow(dead_code)]

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const XENSTORED: &str = "usr/lib/xen-4.17/bin/xenstored";
// By way of the workspace, so that other packages' tests can include this file.
const SHIM_SOURCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../xenbr-core/tests/support/xenstored_shim.c"
);

/// The unpacked Xen tools.
#[derive(Debug, Clone)]
pub struct Tools {
    root: PathBuf,
    lib_path: String,
    shim: PathBuf,
}

fn tools_root() -> PathBuf {
    match std::env::var_os("XENBR_XEN_TOOLS").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/xen-tools"),
    }
}

fn required() -> bool {
    std::env::var("XENBR_REQUIRE_XENSTORED").is_ok_and(|v| v == "1")
}

/// The tools, or `None` after printing why the calling test skips.
pub fn tools(test: &str) -> Option<Tools> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    match TOOLS.get_or_init(find_tools) {
        Ok(t) => Some(t.clone()),
        Err(why) if required() => panic!("{test}: XENBR_REQUIRE_XENSTORED=1 but {why}"),
        Err(why) => {
            // Straight to the terminal: cargo test captures println! of passing tests.
            let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
            None
        }
    }
}

fn find_tools() -> Result<Tools, String> {
    let root = tools_root();
    for bin in [XENSTORED, "usr/bin/xenstore-read", "usr/bin/xenstore-write"] {
        if !root.join(bin).is_file() {
            return Err(format!(
                "no {} (run scripts/fetch-xen-tools, or set XENBR_XEN_TOOLS)",
                root.join(bin).display()
            ));
        }
    }
    let mut dirs = Vec::new();
    for parent in ["usr/lib", "lib"] {
        if let Ok(entries) = fs::read_dir(root.join(parent)) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().ends_with("-linux-gnu") {
                    dirs.push(e.path().display().to_string());
                }
            }
        }
    }
    let shim = build_shim();
    Ok(Tools {
        root,
        lib_path: dirs.join(":"),
        shim,
    })
}

/// Compiles the shim once per source text, into the target dir. The file name
/// carries a hash of the source, and it is renamed into place, so parallel
/// test processes neither race nor pile up copies.
fn build_shim() -> PathBuf {
    let source = fs::read(SHIM_SOURCE).expect("read xenstored_shim.c");
    let mut h = DefaultHasher::new();
    source.hash(&mut h);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let lib = dir.join(format!("xenstored_shim-{:016x}.so", h.finish()));
    if lib.is_file() {
        return lib;
    }
    fs::create_dir_all(&dir).expect("create the shim's dir");
    let tmp = dir.join(format!("xenstored_shim.{}.so.tmp", std::process::id()));
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-Wall", "-o"])
        .arg(&tmp)
        .arg(SHIM_SOURCE)
        .arg("-ldl")
        .output()
        .unwrap_or_else(|e| panic!("run cc to build the xenstored shim: {e}"));
    assert!(
        out.status.success(),
        "cc {SHIM_SOURCE} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::rename(&tmp, &lib).expect("move the shim into place");
    lib
}

/// A running private xenstored; killed, and its files removed, on drop.
pub struct Xenstored {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    tools: Tools,
}

impl Xenstored {
    /// Starts a daemon for `test`, or returns `None` (after a SKIP line) when
    /// the tools are not there.
    pub fn start(test: &str) -> Option<Self> {
        let tools = tools(test)?;
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        // Short: a Unix socket path has at most 107 bytes.
        let dir = std::env::temp_dir().join(format!("xenbr-xs-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the daemon's temp dir");
        let socket = dir.join("socket");
        let log = fs::File::create(dir.join("stderr")).expect("create the daemon's log");
        let child = Command::new(tools.root.join(XENSTORED))
            .arg("--no-fork")
            .arg("--pid-file")
            .arg(dir.join("pid"))
            .arg("--trace-file")
            .arg(dir.join("trace"))
            .env("XENSTORED_PATH", &socket)
            .env("XENSTORED_RUNDIR", &dir)
            .env("LD_LIBRARY_PATH", &tools.lib_path)
            .env("LD_PRELOAD", &tools.shim)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{test}: start xenstored: {e}"));
        let mut d = Xenstored {
            child,
            dir,
            socket,
            tools,
        };
        d.wait_ready(test);
        Some(d)
    }

    fn wait_ready(&mut self, test: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{test}: xenstored exited ({status}) before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{test}: xenstored did not listen on {} within 10 s:\n{}",
                self.socket.display(),
                self.log()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// The daemon's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Runs one of the xenstore-* tools against this daemon.
    pub fn tool(&self, name: &str, args: &[&str]) -> Output {
        Command::new(self.tools.root.join("usr/bin").join(name))
            .args(args)
            .env("XENSTORED_PATH", &self.socket)
            .env("LD_LIBRARY_PATH", &self.tools.lib_path)
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {name}: {e}"))
    }

    /// Runs a xenstore-* tool and returns its standard output, trimmed;
    /// panics when it fails.
    pub fn tool_ok(&self, name: &str, args: &[&str]) -> String {
        let out = self.tool(name, args);
        assert!(
            out.status.success(),
            "{name} {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }
}

impl Drop for Xenstored {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.socket);
        if thread::panicking() {
            // Keep the trace of a failed test for a look.
            eprintln!(
                "xenstored trace kept in {} (stderr:\n{})",
                self.dir.display(),
                self.log()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
