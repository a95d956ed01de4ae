//! Gives libxenbr.so its SONAME, `libxenbr.so.<ABI>`, so that programs
//! linked against it keep loading the same ABI when a newer, incompatible
//! library is installed beside it. Bump `ABI` (and the `.pc`'s name stays)
//! whenever an exported signature or struct layout changes.

/// The ABI version in the SONAME.
const ABI: u32 = 0;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libxenbr.so.{ABI}");
}
