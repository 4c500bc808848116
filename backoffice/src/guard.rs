//! What stands between a guesser and the secrets: wrong verification codes and help-desk
//! passwords lock their organisation or user out, from the address that guessed, for a
//! time that doubles (counted in the database, so on every node at once); Argon2 checks
//! are fair between principals, so that a flood for one organisation does not starve
//! every other installation's sign-in; and a principal that does not exist costs as much
//! time as one that does, so that timing tells nobody which exist.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};

use crate::state::now_ms;
use crate::store::{lockouts, Store};

/// Wrong attempts allowed before a lockout.
const FREE_FAILURES: u32 = 5;
/// The first lockout; each further wrong attempt after it doubles it.
const FIRST_LOCKOUT: Duration = Duration::from_secs(30);
/// The longest lockout.
const LONGEST_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(60 * 60);
/// The queue key of every principal that does not exist, so that made-up names share one
/// queue.
pub const UNKNOWN: &str = "\u{0}unknown";

/// Lockouts and fair Argon2 checks.
pub struct Guard {
    /// One check in flight per principal; the others of that principal wait here.
    queues: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// One Argon2 check at a time in all: each takes 19 MiB and tens of milliseconds.
    argon2: Mutex<()>,
    /// A hash of a random secret, checked for principals that do not exist.
    decoy: String,
}

/// How long the lockout is after `count` wrong attempts: none for the first few, then
/// [`FIRST_LOCKOUT`], doubling with each further one up to [`LONGEST_LOCKOUT`].
fn lockout_after(count: u32) -> Option<Duration> {
    let doublings = count.checked_sub(FREE_FAILURES)?.min(16);
    Some(
        FIRST_LOCKOUT
            .saturating_mul(1 << doublings)
            .min(LONGEST_LOCKOUT),
    )
}

impl Guard {
    /// A guard with nothing remembered.
    pub fn new() -> anyhow::Result<Guard> {
        let secret: String = crate::state::random_token();
        let decoy = Argon2::default()
            .hash_password(secret.as_bytes(), &SaltString::generate(&mut OsRng))
            .map_err(|error| anyhow::anyhow!("cannot make the decoy hash: {error}"))?
            .to_string();
        Ok(Guard {
            queues: Mutex::new(HashMap::new()),
            argon2: Mutex::new(()),
            decoy,
        })
    }

    /// How long `principal` is locked out for `address`, if it is (whichever node counted
    /// the attempts).
    pub fn locked(
        &self,
        db: &mut Store,
        principal: &str,
        address: IpAddr,
    ) -> anyhow::Result<Option<Duration>> {
        let now = now_ms();
        Ok(lockouts::locked_until(db, principal, address, now)?
            .map(|until| Duration::from_millis(until.saturating_sub(now).max(0) as u64)))
    }

    /// A wrong code or password for `principal` from `address`: counted in the database.
    pub fn failed(&self, db: &mut Store, principal: &str, address: IpAddr) -> anyhow::Result<()> {
        let now = now_ms();
        lockouts::failed(
            db,
            principal,
            address,
            now,
            now - MEMORY.as_millis() as i64,
            |count| lockout_after(count).map(|lockout| lockout.as_millis() as i64),
        )
    }

    /// The right code or password: what `principal` failed from `address` is forgotten.
    pub fn succeeded(
        &self,
        db: &mut Store,
        principal: &str,
        address: IpAddr,
    ) -> anyhow::Result<()> {
        lockouts::succeeded(db, principal, address)
    }

    /// Forgets the wrong attempts older than [`MEMORY`] (every tick).
    pub fn forget_old(&self, db: &mut Store) -> anyhow::Result<()> {
        lockouts::forget_before(db, now_ms() - MEMORY.as_millis() as i64)
    }

    /// Checks `secret` against the Argon2 `hash` (`None`: the principal does not exist, and
    /// a decoy hash is checked instead, for the same time), in `principal`'s queue.
    pub fn verify(&self, principal: &str, hash: Option<&str>, secret: &str) -> bool {
        self.verify_unless(principal, hash, secret, || false)
    }

    /// As [`Guard::verify`], but `known` is asked again once it is this principal's turn:
    /// when it says the secret was verified meanwhile (by the check it queued behind), no
    /// check of its own is made. A burst of sessions with one code then costs one Argon2
    /// check (19 MiB and tens of milliseconds), not one each.
    pub fn verify_unless(
        &self,
        principal: &str,
        hash: Option<&str>,
        secret: &str,
        known: impl Fn() -> bool,
    ) -> bool {
        let queue = self
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(if hash.is_some() { principal } else { UNKNOWN }.to_string())
            .or_default()
            .clone();
        let _in_queue = queue.lock().unwrap_or_else(|p| p.into_inner());
        if hash.is_some() && known() {
            return true;
        }
        let _one_at_a_time = self.argon2.lock().unwrap_or_else(|p| p.into_inner());
        let checked = hash.unwrap_or(&self.decoy);
        let good = PasswordHash::new(checked)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(secret.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        good && hash.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(secret: &str) -> String {
        Argon2::default()
            .hash_password(secret.as_bytes(), &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string()
    }

    /// A secret verified while this check waited its turn is not checked again: the
    /// answer is the cache's (here a wrong secret, which Argon2 would refuse, is taken as
    /// known), and a principal that does not exist never is.
    #[test]
    fn a_check_that_waited_takes_what_the_one_before_it_verified() {
        let guard = Guard::new().unwrap();
        let hash = hash_of("right");
        assert!(guard.verify_unless("ORG-1", Some(&hash), "wrong", || true));
        assert!(!guard.verify_unless("ORG-1", Some(&hash), "wrong", || false));
        assert!(guard.verify_unless("ORG-1", Some(&hash), "right", || false));
        assert!(!guard.verify_unless("ORG-NONE", None, "right", || true));
    }

    #[test]
    fn wrong_attempts_lock_out_for_a_time_that_doubles_and_a_success_forgets_them() {
        let folder = tempfile::tempdir().unwrap();
        let location = crate::store::Location::Sqlite(folder.path().join("office.sqlite"));
        let mut db = Store::open(&location).unwrap();
        // Another node's connection to the same database sees the same attempts.
        let mut other = Store::open(&location).unwrap();
        let guard = Guard::new().unwrap();
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        let there: IpAddr = "::1".parse().unwrap();
        for _ in 0..FREE_FAILURES - 1 {
            guard.failed(&mut db, "ORG-1", here).unwrap();
        }
        assert!(guard.locked(&mut db, "ORG-1", here).unwrap().is_none());
        guard.failed(&mut other, "ORG-1", here).unwrap();
        let first = guard.locked(&mut db, "ORG-1", here).unwrap().unwrap();
        assert!(
            first <= FIRST_LOCKOUT && first > FIRST_LOCKOUT / 2,
            "{first:?}"
        );
        guard.failed(&mut db, "ORG-1", here).unwrap();
        let second = guard.locked(&mut other, "ORG-1", here).unwrap().unwrap();
        assert!(second > FIRST_LOCKOUT, "{second:?}");
        assert!(
            guard.locked(&mut db, "ORG-1", there).unwrap().is_none(),
            "per address"
        );
        assert!(
            guard.locked(&mut db, "ORG-2", here).unwrap().is_none(),
            "per principal"
        );
        guard.succeeded(&mut other, "ORG-1", here).unwrap();
        assert!(guard.locked(&mut db, "ORG-1", here).unwrap().is_none());
        guard.failed(&mut db, "ORG-1", here).unwrap();
        assert!(
            guard.locked(&mut db, "ORG-1", here).unwrap().is_none(),
            "counted from one again"
        );
    }

    #[test]
    fn lockouts_double_up_to_a_quarter_of_an_hour() {
        assert_eq!(lockout_after(FREE_FAILURES - 1), None);
        assert_eq!(lockout_after(FREE_FAILURES), Some(FIRST_LOCKOUT));
        assert_eq!(lockout_after(FREE_FAILURES + 1), Some(FIRST_LOCKOUT * 2));
        assert_eq!(
            lockout_after(FREE_FAILURES + 4),
            Some(LONGEST_LOCKOUT.min(FIRST_LOCKOUT * 16))
        );
        assert_eq!(lockout_after(u32::MAX), Some(LONGEST_LOCKOUT));
    }

    #[test]
    fn a_principal_that_does_not_exist_is_checked_against_a_decoy() {
        let guard = Guard::new().unwrap();
        let hash = hash_of("right");
        assert!(guard.verify("ORG-1", Some(&hash), "right"));
        assert!(!guard.verify("ORG-1", Some(&hash), "wrong"));
        assert!(!guard.verify("ORG-9", None, "right"));
    }
}
