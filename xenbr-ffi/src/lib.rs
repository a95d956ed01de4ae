//! The C ABI of xenbr: `libxenbr.so.0`, `libxenbr.a` and `include/xenbr.h`.
//!
//! A thin layer: each exported function checks its C arguments, turns them
//! into xenbr-core's types, calls [`xenbr_core::Host`] and turns the answer
//! back into a result code, an error kept in the context, and (on success)
//! its out-parameters. Anything a Rust caller would need too lives in
//! xenbr-core.
//!
//! The rules every function here follows (the header says them to C):
//! its body runs under `catch_unwind` (module `guard`), so a panic becomes
//! `XENBR_RESULT_PANIC`; every pointer is checked (module `args`); out-parameters
//! are written only on success; every returned pointer's owner is named in
//! its doc comment, which cbindgen copies into the header.
#![warn(missing_docs)]
// The C names (`xenbr_context`, `xenbr_result`) are the API.
#![allow(non_camel_case_types)]

// The header follows this order: codes and the library's version, the
// argument types, contexts and their errors, then the operations.
pub mod result;
// (Blank-line separated so that rustfmt keeps the order.)

pub mod types;

pub mod context;

pub mod api;

mod args;
mod guard;

#[cfg(test)]
mod tests;
