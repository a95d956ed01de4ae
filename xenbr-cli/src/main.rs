//! The `xenbr` command: a thin front over xenbr-core. It parses arguments,
//! calls the library, and prints the result as text or JSON; errors go to
//! stderr as one sentence, with a sysexits exit code.

mod cli;
mod exit;
mod run;
mod sandbox;

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
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
