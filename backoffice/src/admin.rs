//! The administration commands: organisations, serial numbers, help-desk accounts, signing
//! keys and licences, each on the database the command names.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::store::{Location, Store};

use anyhow::{anyhow, bail, Context, Result};
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::Argon2;

use crate::{signing, store};

/// `org add ID --name NAME`: the verification code comes from standard input.
pub fn add_organisation(db: &Location, id: &str, name: &str) -> Result<()> {
    check_identifier("organisation ID", id)?;
    let code = read_secret("verification code")?;
    let hash = hash_secret(&code)?;
    store::add_organisation(&mut Store::open(db)?, id, name, &hash)?;
    println!("organisation {id} added");
    Ok(())
}

/// `serial add SERIAL… --org ORG`: all in one transaction, so that a refused serial number
/// leaves none of them registered.
pub fn add_serials(
    db: &Location,
    serials: &[String],
    org: &str,
    product_id: &str,
    product_name: &str,
) -> Result<()> {
    for serial in serials {
        check_identifier("serial number", serial)?;
    }
    Store::open(db)?.transaction(|store| {
        for serial in serials {
            store::add_serial(
                store,
                &store::Serial {
                    serial: serial.clone(),
                    organisation_id: org.to_string(),
                    product_id: product_id.to_string(),
                    product_name: product_name.to_string(),
                },
            )?;
        }
        Ok(())
    })?;
    match serials {
        [serial] => println!("serial number {serial} registered with {org}"),
        _ => println!("{} serial numbers registered with {org}", serials.len()),
    }
    Ok(())
}

/// `helpdesk add USER --org ORG`: the password comes from standard input.
pub fn add_helpdesk_user(db: &Location, user: &str, org: &str) -> Result<()> {
    check_identifier("user name", user)?;
    let password = read_secret("password")?;
    let hash = hash_secret(&password)?;
    store::add_helpdesk_user(&mut Store::open(db)?, user, org, &hash)?;
    println!("help-desk account {user} added for {org}");
    Ok(())
}

/// `keys generate --out DIR`.
pub fn generate_keys(out: &Path) -> Result<()> {
    let (public, secret) = signing::generate_keys(out)?;
    println!(
        "public key {} (installations trust it), secret key {} (keep it safe)",
        public.display(),
        secret.display()
    );
    Ok(())
}

/// `licence reports SERIAL`: one JSON object per line.
pub fn licence_reports(db: &Location, serial: &str) -> Result<()> {
    for report in store::install_reports(&mut Store::open(db)?, serial)? {
        println!("{report}");
    }
    Ok(())
}

/// `licence issue SERIAL …`: the licence on standard output, what was issued on standard
/// error.
pub fn issue_licence(
    db: &Location,
    serial: &str,
    terms: &signing::LicenceTerms,
    key: &Path,
) -> Result<()> {
    let issued = signing::issue_licence(&mut Store::open(db)?, serial, terms, key)?;
    eprintln!(
        "licence {} (sequence {}) issued for {serial}",
        issued.licence_id, issued.sequence
    );
    print!("{}", issued.text);
    std::io::stdout().flush()?;
    Ok(())
}

/// `migrate --from FILE --to URL`: the SQLite back office's data copied into an empty
/// PostgreSQL database whose schema is brought up to date first; the counts on standard
/// output. The source is only read.
pub fn migrate(from: &Location, to: &Location) -> Result<()> {
    let Location::Sqlite(path) = from else {
        bail!("--from {from} is not a SQLite file: the migration reads a SQLite back office (PATH or sqlite:PATH)");
    };
    if !matches!(to, Location::Postgres { .. }) {
        bail!("--to {to} is not a PostgreSQL URL: the migration writes into PostgreSQL (postgres://USER@HOST/DATABASE)");
    }
    let (mut source, version) = Store::open_read_only(path)?;
    let mut target = Store::open(to)?;
    let counts = store::copy_all(&mut source, &mut target, &to.to_string())
        .with_context(|| format!("cannot migrate {from} to {to}"))?;
    println!("migrated {from} (schema version {version}) to {to}");
    println!("{counts}");
    Ok(())
}

pub fn check_identifier(what: &str, value: &str) -> Result<()> {
    if value.is_empty()
        || value.len() > 128
        || value.chars().any(|character| {
            character.is_whitespace() || character.is_control() || character == '/'
        })
    {
        bail!("{what} {value:?} must be 1 to 128 characters without spaces or '/'");
    }
    Ok(())
}

/// One line of standard input without its line break; never echoed, never logged.
fn read_secret(what: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    let value = line.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        bail!("no {what} on standard input; nothing was changed");
    }
    Ok(value)
}

fn hash_secret(secret: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|error| anyhow!("cannot hash: {error}"))?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for good in ["ORG-DEMO", "RS-000001", "anna", "a.b_c"] {
            assert!(check_identifier("serial number", good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("RS 1", "space"),
            ("a/b", "slash"),
            ("a\tb", "tab"),
        ] {
            let error = check_identifier("serial number", bad).expect_err(why);
            assert_eq!(
                error.to_string(),
                format!("serial number {bad:?} must be 1 to 128 characters without spaces or '/'")
            );
        }
        assert!(check_identifier("user name", &"x".repeat(129)).is_err());
    }
}
