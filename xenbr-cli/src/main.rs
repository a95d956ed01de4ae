//! The `xenbr` command.
fn main() {}
