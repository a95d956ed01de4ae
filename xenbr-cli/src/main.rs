//! The `xenbr` command: a thin front over xenbr-core. It parses arguments,
//! calls the library, and prints the result as text or JSON; errors go to
//! stderr as one sentence, with a sysexits exit code.

mod cli;
mod exit;
mod run;
mod sandbox;
mod signals;

use std::ffi::OsString;
use std::path::Path;

use clap::Parser;

/// The command line, with a call by the name of one of Xen's scripts (a
/// link named `vif-bridge` or `network-bridge`) turned into
/// `xenbr hotplug SCRIPT ...`.
fn args() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let script = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .filter(|n| matches!(*n, "vif-bridge" | "network-bridge"))
        .map(OsString::from);
    if let Some(script) = script {
        args.splice(1..1, [OsString::from("hotplug"), script]);
        args[0] = OsString::from("xenbr");
    }
    args
}

fn main() {
    let cli = match cli::Cli::try_parse_from(args()) {
        Ok(c) => c,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            std::process::exit(if usage { exit::USAGE } else { 0 });
        }
    };
    match run::run(cli) {
        Ok(out) => {
            if !out.is_empty() {
                println!("{}", out.trim_end());
            }
        }
        Err(e) => {
            eprintln!("xenbr: {e}");
            std::process::exit(exit::code(&e));
        }
    }
}
