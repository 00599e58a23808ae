use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = nfknock::cli::Cli::parse();
    match nfknock::app::run(cli) {
        Ok(()) => ExitCode::from(nfknock::exit::Exit::Success as u8),
        Err(e) => {
            eprintln!("nfknock: {e}");
            ExitCode::from(e.exit as u8)
        }
    }
}
