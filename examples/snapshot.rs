//! Reads the current network namespace's links, addresses and routes in one
//! call and prints them as JSON (what `xenbr status --json` prints).
//!
//! Run it somewhere harmless: `sudo unshare -n cargo run --example snapshot`.
fn main() {
    match xenbr::Snapshot::read() {
        Ok(s) => println!("{}", s.to_json()),
        Err(e) => {
            eprintln!("snapshot: {e}");
            std::process::exit(1);
        }
    }
}
