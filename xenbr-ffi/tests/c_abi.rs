//! The C API as C sees it. Each test compiles a C program with the system
//! `cc` against the committed header and the library cargo built for this
//! test run, installed into a scratch prefix by `scripts/install-ffi` (so
//! the layout, the SONAME link and `xenbr.pc` are exercised too), and runs
//! it under `valgrind --leak-check=full --error-exitcode=1`.
//!
//! The programs in `tests/c` move themselves into new network and mount
//! namespaces before touching anything; the example in `examples/c` is run
//! inside `unshare(1)`. None touches this machine's own network.
//!
//! Without `cc`, `valgrind`, `pkg-config`, `ip` or the privilege to create
//! namespaces a test prints a SKIP line and passes, unless
//! `XENBR_REQUIRE_NETNS=1` (as `.ci/run` sets), where that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// A C test's exit status for "cannot create namespaces here".
const SKIP: i32 = 77;

/// Seconds a program may run (under valgrind) before it counts as hung.
const TIMEOUT: &str = "180";

fn required() -> bool {
    std::env::var("XENBR_REQUIRE_NETNS").is_ok_and(|v| v == "1")
}

/// Prints a SKIP line, or fails when skips are not allowed.
fn skip(test: &str, why: &str) {
    assert!(
        !required(),
        "{test}: cannot run ({why}) and XENBR_REQUIRE_NETNS=1"
    );
    eprintln!("SKIP {test}: {why}");
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where cargo put libxenbr.so and libxenbr.a for this profile: this test's
/// executable is `<target>/<profile>/deps/c_abi-<hash>`.
fn built() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_path_buf()
}

fn scratch() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_abi")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The first tool this needs that is not installed.
fn missing_tool() -> Option<&'static str> {
    [
        "cc",
        "valgrind",
        "pkg-config",
        "ip",
        "unshare",
        "readelf",
        "timeout",
    ]
    .into_iter()
    .find(|t| {
        !Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Builds libxenbr.so and libxenbr.a for this test's profile and target
/// directory. Cargo does not build a `cdylib`/`staticlib`-only library for
/// an integration test (nothing can link it), and it has released the
/// build directory's lock by the time tests run, so this asks it directly;
/// when they are up to date that takes a moment.
fn build_library() -> PathBuf {
    let dir = built();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "xenbr-ffi", "--lib", "--target-dir"])
        .arg(dir.parent().expect("target/<profile>"))
        .current_dir(root());
    if dir.file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        text(&out.stderr)
    );
    dir
}

/// The library installed under a scratch prefix, once per test process.
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let from = build_library();
        let prefix = scratch().join("prefix");
        let _ = std::fs::remove_dir_all(&prefix);
        let out = run(Command::new(root().join("scripts/install-ffi"))
            .arg("--from")
            .arg(&from)
            .arg("--prefix")
            .arg(&prefix));
        assert!(
            out.status.success(),
            "scripts/install-ffi failed: {}",
            text(&out.stderr)
        );
        prefix
    })
}

/// `pkg-config ARGS xenbr` against the scratch prefix, split into words.
fn pkg_config(args: &[&str]) -> Vec<String> {
    let out = run(Command::new("pkg-config")
        .args(args)
        .arg("xenbr")
        .env("PKG_CONFIG_PATH", prefix().join("lib/pkgconfig")));
    assert!(out.status.success(), "pkg-config: {}", text(&out.stderr));
    text(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// How to link: the shared library (found at run time through the
/// SONAME link in the prefix) or the static archive.
#[derive(Clone, Copy, PartialEq)]
enum Link {
    Shared,
    Static,
}

/// Compiles `source` into `scratch/bin/name` with `cflags`, or panics with
/// the compiler's complaints.
fn compile(name: &str, source: &Path, cflags: &[&str], link: Link) -> PathBuf {
    let bin = scratch().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join(name);
    let mut cmd = Command::new("cc");
    cmd.args(cflags)
        .args(["-g", "-o"])
        .arg(&exe)
        .arg(source)
        .args(pkg_config(&["--cflags"]));
    match link {
        Link::Shared => {
            cmd.args(pkg_config(&["--libs"]))
                .arg(format!("-Wl,-rpath,{}", prefix().join("lib").display()));
        }
        // `--static` adds what the archive needs; -lxenbr must pick the
        // archive although the shared library sits beside it.
        Link::Static => {
            cmd.args(pkg_config(&["--static", "--libs"]).into_iter().map(|w| {
                if w == "-lxenbr" {
                    "-Wl,-Bstatic,-lxenbr,-Bdynamic".to_string()
                } else {
                    w
                }
            }));
        }
    }
    cmd.arg("-lpthread");
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "{name}: {cmd:?} failed:\n{}",
        text(&out.stderr)
    );
    exe
}

/// The shared libraries `exe` asks the loader for.
fn needed(exe: &Path) -> Vec<String> {
    let out = run(Command::new("readelf").arg("-d").arg(exe));
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next().map(str::to_string))
        .collect()
}

/// `argv` under valgrind, with a time limit.
fn valgrind(argv: &[&str]) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "10", TIMEOUT, "valgrind", "-q", "--leak-check=full"])
        .args(["--error-exitcode=1", "--"])
        .args(argv);
    cmd
}

/// Checks a finished program: passes, skips (77) or fails with its output.
fn judge(test: &str, out: &Output) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    match out.status.code() {
        Some(0) => print!("{stdout}"),
        Some(SKIP) => skip(test, stderr.trim()),
        _ => panic!(
            "{test}: exit {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        ),
    }
}

/// Compiles `tests/c/NAME.c` and runs it under valgrind.
fn c_test(name: &str) {
    let test = format!("c_abi::{name}");
    if let Some(tool) = missing_tool() {
        return skip(&test, &format!("{tool} is not installed"));
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(format!("{name}.c"));
    let exe = compile(
        name,
        &source,
        &["-std=gnu11", "-Wall", "-Wextra", "-Werror"],
        Link::Shared,
    );
    assert!(
        needed(&exe).contains(&"libxenbr.so.0".to_string()),
        "{name} should load libxenbr.so.0 (the SONAME): {:?}",
        needed(&exe)
    );
    let out = run(&mut valgrind(&[exe.to_str().unwrap()]));
    judge(&test, &out);
    // The hooks of debug builds (a panic, a failing step) must have run.
    if cfg!(debug_assertions) {
        let stdout = text(&out.stdout);
        assert!(!stdout.contains("release build"), "{test}: {stdout}");
    }
}

#[test]
fn takeover_and_stop() {
    c_test("takeover");
}

#[test]
fn hundred_vifs_online_and_offline_in_one_call() {
    c_test("vifs");
}

#[test]
fn every_misuse_is_an_invalid_argument_that_changes_nothing() {
    c_test("misuse");
}

#[test]
fn two_contexts_in_two_threads() {
    c_test("threads");
}

/// The archive and `pkg-config --static` are enough to link a program that
/// then needs no libxenbr.so at all; it runs (natively: valgrind has
/// checked the same code above) the misuse test.
#[test]
fn static_library_links_and_runs() {
    let test = "c_abi::static_library_links_and_runs";
    if let Some(tool) = missing_tool() {
        return skip(test, &format!("{tool} is not installed"));
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/misuse.c");
    let exe = compile(
        "misuse-static",
        &source,
        &["-std=gnu11", "-Wall"],
        Link::Static,
    );
    let libs = needed(&exe);
    assert!(
        !libs.iter().any(|l| l.starts_with("libxenbr")),
        "a static link still needs {libs:?}"
    );
    judge(
        test,
        &run(Command::new("timeout").args([TIMEOUT]).arg(&exe)),
    );
}

/// The header compiles on its own as strict C99 and, where a C++ compiler
/// is installed, as C++.
#[test]
fn header_is_self_contained_c99() {
    let test = "c_abi::header_is_self_contained_c99";
    if let Some(tool) = missing_tool() {
        return skip(test, &format!("{tool} is not installed"));
    }
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let unit = scratch().join("only-the-header.c");
    std::fs::create_dir_all(scratch()).unwrap();
    std::fs::write(
        &unit,
        "#include <xenbr.h>\nint main(void) { return XENBR_RESULT_OK; }\n",
    )
    .unwrap();
    let mut compilers = vec![("cc", vec!["-std=c99", "-pedantic", "-x", "c"])];
    if run(Command::new("sh").args(["-c", "command -v c++"]))
        .status
        .success()
    {
        compilers.push(("c++", vec!["-std=c++11", "-pedantic", "-x", "c++"]));
    }
    for (cc, flags) in compilers {
        let out = run(Command::new(cc)
            .args(["-fsyntax-only", "-Wall", "-Wextra", "-Werror"])
            .args(&flags)
            .arg("-I")
            .arg(&include)
            .arg(&unit));
        assert!(
            out.status.success(),
            "{cc} {flags:?}: {}",
            text(&out.stderr)
        );
    }
}

/// The example compiles as documented (strict C99, warnings as errors) and
/// does its whole job, under valgrind, in a throwaway namespace with a veth
/// for the NIC and a tap for the guest.
#[test]
fn c_example_builds_and_runs() {
    let test = "c_abi::c_example_builds_and_runs";
    if let Some(tool) = missing_tool() {
        return skip(test, &format!("{tool} is not installed"));
    }
    let source = root().join("examples/c/plug_guest.c");
    let exe = compile(
        "plug_guest",
        &source,
        &["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror"],
        Link::Shared,
    );
    let world = "mount -t tmpfs tmpfs /run \
        && ip link set lo up \
        && ip link add eth0 type veth peer name up0 \
        && ip addr add 192.0.2.10/24 dev eth0 \
        && ip link set eth0 up && ip link set up0 up \
        && ip route add default via 192.0.2.1 \
        && ip tuntap add vif1.0 mode tap \
        && exec \"$@\"";
    let probe = run(Command::new("unshare").args(["--net", "--mount", "true"]));
    if !probe.status.success() {
        return skip(
            test,
            &format!("cannot create namespaces: {}", text(&probe.stderr).trim()),
        );
    }
    let exe = exe.to_str().unwrap();
    let cmd = valgrind(&[exe, "eth0", "vif1.0"]);
    let argv: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let out = run(Command::new("unshare")
        .args([
            "--net",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            world,
            "sh",
        ])
        .args(&argv));
    judge(test, &out);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\"attached\""), "{stdout}");
    assert!(stdout.contains("\"physical\": \"peth0\""), "{stdout}");
}
