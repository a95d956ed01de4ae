//! Writes `include/xenbr.h` from this crate's source with cbindgen
//! (configured by `cbindgen.toml`). With `--check` it writes nothing and
//! fails when the committed header differs from what it would write, which
//! is how CI keeps the two in step. Run it as `scripts/gen-header [--check]`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => {
            eprintln!("gen-header: unknown argument {other:?}; usage: gen-header [--check]");
            return ExitCode::from(64);
        }
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let header = dir.join("include").join("xenbr.h");
    let generated = match generate(&dir) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("gen-header: {e}");
            return ExitCode::FAILURE;
        }
    };
    let committed = std::fs::read(&header).unwrap_or_default();
    if committed == generated {
        println!("{} is up to date", header.display());
        return ExitCode::SUCCESS;
    }
    if check {
        let (old, new) = (
            String::from_utf8_lossy(&committed),
            String::from_utf8_lossy(&generated),
        );
        let line = old
            .lines()
            .zip(new.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(old.lines().count().min(new.lines().count()));
        eprintln!(
            "gen-header: {} differs from the header the source generates, from line {}:\n  \
             committed: {:?}\n  generated: {:?}\n\
             Run scripts/gen-header and commit the result.",
            header.display(),
            line + 1,
            old.lines().nth(line).unwrap_or("(end of file)"),
            new.lines().nth(line).unwrap_or("(end of file)"),
        );
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(&header, &generated) {
        eprintln!("gen-header: write {}: {e}", header.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {}", header.display());
    ExitCode::SUCCESS
}

/// The header cbindgen makes of the crate in `dir`.
fn generate(dir: &std::path::Path) -> Result<Vec<u8>, String> {
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .map_err(|e| format!("read cbindgen.toml: {e}"))?;
    let bindings = cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    Ok(out)
}
