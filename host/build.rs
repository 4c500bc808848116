//! Stamps the release date into the binary (the About box shows it, the installer's
//! entitlement check compares the licence's maintenance with it) and writes the man pages
//! and shell completions from the command line's own definition (`src/cli/args.rs`) into
//! `$OUT_DIR/man` and `$OUT_DIR/completions`, where `installer/build` takes them from.
//!
//! The release date is `REMOTE_SERVICE_RELEASE_DATE` (YYYY-MM-DD, which `installer/build`
//! sets), else the day of `SOURCE_DATE_EPOCH`, else today (UTC).

#[allow(dead_code)]
#[path = "src/cli/args.rs"]
mod args;

use std::env;
use std::fs;
use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

const RELEASE_DATE_ENV: &str = "REMOTE_SERVICE_RELEASE_DATE";

fn release_date() -> String {
    if let Some(text) = env::var(RELEASE_DATE_ENV)
        .ok()
        .filter(|text| !text.is_empty())
    {
        return match args::parse_date(&text) {
            Ok(date) => date.to_string(),
            Err(reason) => panic!("{RELEASE_DATE_ENV}: {reason}"),
        };
    }
    let seconds = match env::var("SOURCE_DATE_EPOCH")
        .ok()
        .filter(|text| !text.is_empty())
    {
        Some(text) => text
            .parse::<i64>()
            .unwrap_or_else(|_| panic!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds")),
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs() as i64,
    };
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .expect("a date within time's range")
        .date()
        .to_string()
}

/// One page per command and subcommand (`remote-service-config-set.1`), as
/// `clap_mangen::generate_to` writes them, with the release date on each.
fn man_pages(command: &clap::Command, dir: &std::path::Path, date: &str) {
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        man_pages(sub, dir, date);
    }
    clap_mangen::Man::new(command.clone())
        .date(date)
        .source(format!("Remote Service {}", env!("CARGO_PKG_VERSION")))
        .manual("Remote Service")
        .generate_to(dir)
        .expect("write a man page");
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/cli/args.rs");
    println!("cargo:rerun-if-env-changed={RELEASE_DATE_ENV}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let date = release_date();
    println!("cargo:rustc-env={RELEASE_DATE_ENV}={date}");

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let man = out.join("man");
    let completions = out.join("completions");
    for dir in [&man, &completions] {
        fs::create_dir_all(dir).expect("create the output folders");
    }
    let mut command = args::Cli::command().disable_help_subcommand(true);
    command.build();
    man_pages(&command, &man, &date);
    let mut command = command;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut command, "remote-service", &completions)
            .expect("write the completions");
    }
}
