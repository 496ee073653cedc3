//! The paper experiments under `cargo bench`: runs `twosafe bench all` (the same code as the
//! command) with the options given after `--`, e.g. `cargo bench --bench experiments --
//! --smoke`. Results go to target/twosafe-bench/ as with the command.

use std::process::Command;

fn main() {
    // cargo passes `--bench`; everything else is for `twosafe bench`.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let status =
        Command::new(env!("CARGO_BIN_EXE_twosafe")).args(["bench", "all"]).args(&args).status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            eprintln!("twosafe bench all: {s}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("cannot run twosafe: {e}");
            std::process::exit(1);
        }
    }
}
