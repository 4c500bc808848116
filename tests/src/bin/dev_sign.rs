//! `remote-service-dev-sign`: makes minisign key pairs and signs licence payloads, so that
//! tests and the demo use real licences. Test support only: never installed.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use remote_service_tests::licence_kit;

/// Development licence signer (never part of the installed product).
#[derive(Debug, Parser)]
#[command(name = "remote-service-dev-sign", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a key pair: DIR/NAME.pub (minisign public key) and DIR/NAME.key (unencrypted secret key, mode 0600).
    Keygen {
        #[arg(long)]
        out_dir: PathBuf,
        #[arg(long)]
        name: String,
    },
    /// Sign a payload JSON file into a licence.
    Sign {
        /// The secret key file.
        #[arg(long)]
        key: PathBuf,
        /// The payload JSON; its bytes are signed exactly as they are.
        #[arg(long)]
        payload: PathBuf,
        /// Where to write the licence (standard output when absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Keygen { out_dir, name } => {
            let key = licence_kit::generate_key(&out_dir, &name)?;
            println!(
                "key id {}: {} and {}",
                key.key_id,
                key.public.display(),
                key.secret.display()
            );
        }
        Command::Sign { key, payload, out } => {
            let payload =
                fs::read(&payload).with_context(|| format!("cannot read {}", payload.display()))?;
            let licence = licence_kit::sign_licence(&key, &payload)?;
            match out {
                Some(out) => fs::write(&out, licence)
                    .with_context(|| format!("cannot write {}", out.display()))?,
                None => print!("{licence}"),
            }
        }
    }
    Ok(())
}
