//! Unit tests of the argument checks and of the rule that every exported
//! function runs under the panic guard. The C programs in tests/c test the
//! API as C sees it.

use std::ffi::{c_char, CStr};

use xenbr_core::ErrorKind;

use crate::args;

#[test]
fn every_exported_function_body_is_guarded() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        let mut rest = src.as_str();
        while let Some(at) = rest.find("extern \"C\" fn ") {
            let after = &rest[at..];
            let open = after.find("{\n").expect("a body");
            let close = after.find("\n}\n").expect("a body's end");
            let body: String = after[open + 1..close]
                .lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("//") && !l.starts_with("const FUNC"))
                .collect();
            let name = after["extern \"C\" fn ".len()..].split('(').next().unwrap();
            assert!(
                ["catch(", "guard::catch(", "unsafe {guard::call("]
                    .iter()
                    .any(|g| body.starts_with(g)),
                "{}: {name} does not run under the guard: {body:.60}",
                path.display()
            );
            seen += 1;
            rest = &after[close..];
        }
    }
    assert!(seen >= 19, "found only {seen} exported functions");
}

fn c(s: &CStr) -> *const c_char {
    s.as_ptr()
}

#[test]
fn names_are_checked_with_a_message_naming_the_argument() {
    let e = unsafe { args::ifname(c(c"sixteen-bytes-xx"), "f", "vifs[2].name") }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string()
            .starts_with("f: vifs[2].name: invalid interface name"),
        "{e}"
    );
    assert!(e.to_string().contains("16 bytes"), "{e}");
    assert_eq!(e.interface(), Some("sixteen-bytes-xx"));

    let e = unsafe { args::ifname(c(c"vif\xff"), "f", "name") }.unwrap_err();
    assert_eq!(e.to_string(), "f: name is not UTF-8: \"vif\\xff\"");
    assert_eq!(e.interface(), Some("vif\u{fffd}"));

    let e = unsafe { args::ifname(std::ptr::null(), "f", "name") }.unwrap_err();
    assert_eq!(e.to_string(), "f: name is NULL");
    assert_eq!(
        unsafe { args::opt_ifname(std::ptr::null(), "f", "b", None) }.unwrap(),
        None
    );

    let owner = "vif1.0".parse().unwrap();
    let e =
        unsafe { args::opt_ifname(c(c"a:b"), "f", "vifs[0].bridge", Some(&owner)) }.unwrap_err();
    assert_eq!(
        e.interface(),
        Some("vif1.0"),
        "the vif the field belongs to"
    );
}

#[test]
fn arrays_are_checked() {
    let xs = [1u32, 2, 3];
    let got = unsafe { args::array(xs.as_ptr(), 3, "f", "xs", false) }.unwrap();
    assert_eq!(got, &xs);
    let e = unsafe { args::array(xs.as_ptr(), 0, "f", "xs", false) }.unwrap_err();
    assert_eq!(
        e.to_string(),
        "f: xs is empty (its length is 0): nothing to do"
    );
    assert!(
        unsafe { args::array(std::ptr::null::<u32>(), 0, "f", "xs", true) }
            .unwrap()
            .is_empty()
    );
    let e = unsafe { args::array(std::ptr::null::<u32>(), 2, "f", "xs", true) }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = unsafe { args::array(xs.as_ptr(), usize::MAX / 2, "f", "xs", true) }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = unsafe { args::opt_path(c(c""), "f", "state_dir") }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}
