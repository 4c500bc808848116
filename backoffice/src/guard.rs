//! What stands between a guesser and the secrets: wrong verification codes and help-desk
//! passwords lock their organisation or user out, from the address that guessed, for a
//! time that doubles; Argon2 checks are fair between principals, so that a flood for one
//! organisation does not starve every other installation's sign-in; and a principal that
//! does not exist costs as much time as one that does, so that timing tells nobody which
//! exist.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};

/// Wrong attempts allowed before a lockout.
const FREE_FAILURES: u32 = 5;
/// The first lockout; each further wrong attempt after it doubles it.
const FIRST_LOCKOUT: Duration = Duration::from_secs(30);
/// The longest lockout.
const LONGEST_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(60 * 60);
/// The most (principal, address) pairs remembered: a flood of made-up names must not grow
/// the map without bound (the oldest are forgotten first).
const MAX_REMEMBERED: usize = 100_000;
/// The queue key of every principal that does not exist, so that made-up names share one
/// queue.
pub const UNKNOWN: &str = "\u{0}unknown";

#[derive(Debug)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Lockouts and fair Argon2 checks.
pub struct Guard {
    failures: Mutex<HashMap<(String, IpAddr), Failures>>,
    /// One check in flight per principal; the others of that principal wait here.
    queues: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// One Argon2 check at a time in all: each takes 19 MiB and tens of milliseconds.
    argon2: Mutex<()>,
    /// A hash of a random secret, checked for principals that do not exist.
    decoy: String,
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
            failures: Mutex::new(HashMap::new()),
            queues: Mutex::new(HashMap::new()),
            argon2: Mutex::new(()),
            decoy,
        })
    }

    /// How long `principal` is locked out for `address`, if it is.
    pub fn locked(&self, principal: &str, address: IpAddr) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let until = failures
            .get(&(principal.to_string(), address))?
            .locked_until?;
        until.checked_duration_since(Instant::now())
    }

    /// A wrong code or password for `principal` from `address`.
    pub fn failed(&self, principal: &str, address: IpAddr) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|_, entry| now.duration_since(entry.last) < MEMORY);
        if failures.len() >= MAX_REMEMBERED {
            if let Some(oldest) = failures
                .iter()
                .min_by_key(|(_, entry)| entry.last)
                .map(|(key, _)| key.clone())
            {
                failures.remove(&oldest);
            }
        }
        let entry = failures
            .entry((principal.to_string(), address))
            .or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
            });
        entry.count += 1;
        entry.last = now;
        if entry.count >= FREE_FAILURES {
            let doublings = (entry.count - FREE_FAILURES).min(16);
            let lockout = FIRST_LOCKOUT
                .saturating_mul(1 << doublings)
                .min(LONGEST_LOCKOUT);
            entry.locked_until = Some(now + lockout);
        }
    }

    /// The right code or password: what `principal` failed from `address` is forgotten.
    pub fn succeeded(&self, principal: &str, address: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(principal.to_string(), address));
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

    /// A secret verified while this check waited its turn is not checked again: the
    /// answer is the cache's (here a wrong secret, which Argon2 would refuse, is taken as
    /// known), and a principal that does not exist never is.
    #[test]
    fn a_check_that_waited_takes_what_the_one_before_it_verified() {
        let guard = Guard::new().unwrap();
        let hash = Argon2::default()
            .hash_password(b"right", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(guard.verify_unless("ORG-1", Some(&hash), "wrong", || true));
        assert!(!guard.verify_unless("ORG-1", Some(&hash), "wrong", || false));
        assert!(guard.verify_unless("ORG-1", Some(&hash), "right", || false));
        assert!(!guard.verify_unless("ORG-NONE", None, "right", || true));
    }

    #[test]
    fn wrong_attempts_lock_out_for_a_time_that_doubles_and_a_success_forgets_them() {
        let guard = Guard::new().unwrap();
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        let there: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..FREE_FAILURES - 1 {
            guard.failed("ORG-1", here);
        }
        assert!(guard.locked("ORG-1", here).is_none());
        guard.failed("ORG-1", here);
        let first = guard.locked("ORG-1", here).unwrap();
        assert!(
            first <= FIRST_LOCKOUT && first > FIRST_LOCKOUT / 2,
            "{first:?}"
        );
        guard.failed("ORG-1", here);
        assert!(guard.locked("ORG-1", here).unwrap() > FIRST_LOCKOUT);
        assert!(guard.locked("ORG-1", there).is_none(), "per address");
        assert!(guard.locked("ORG-2", here).is_none(), "per principal");
        guard.succeeded("ORG-1", here);
        assert!(guard.locked("ORG-1", here).is_none());
    }

    #[test]
    fn a_principal_that_does_not_exist_is_checked_against_a_decoy() {
        let guard = Guard::new().unwrap();
        let hash = Argon2::default()
            .hash_password(b"right", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(guard.verify("ORG-1", Some(&hash), "right"));
        assert!(!guard.verify("ORG-1", Some(&hash), "wrong"));
        assert!(!guard.verify("ORG-9", None, "right"));
    }
}
