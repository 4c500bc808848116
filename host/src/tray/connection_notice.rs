//! When to tell the user the connection to the back office was lost: only when it stays
//! lost for a grace period, never in the first minute after the tray starts, and never
//! because the computer just woke up (the network comes back by itself then).

use std::time::{Duration, Instant, SystemTime};

use remote_service_api::Light;

/// How long the light must stay orange before the user hears of it, and how long after the
/// start (connections are still being made) or a wake-up none is told: the setting
/// `tray.connection_lost_notice_s`, a minute unless changed.
pub const GRACE: Duration = Duration::from_secs(60);
/// A wall clock that ran this much further than the monotonic clock means the computer
/// was asleep.
const SLEEP_GAP: Duration = Duration::from_secs(5);

/// The clocks at one moment: the monotonic one stops while the computer sleeps, the wall
/// clock does not.
#[derive(Debug, Clone, Copy)]
pub struct Moment {
    /// Monotonic time.
    pub monotonic: Instant,
    /// Wall-clock time.
    pub wall: SystemTime,
}

impl Moment {
    /// Now.
    pub fn now() -> Moment {
        Moment {
            monotonic: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// Follows the light and says when a connection-lost notice is due.
#[derive(Debug)]
pub struct ConnectionWatch {
    grace: Duration,
    /// The start or the last wake-up: nothing is told until `grace` after it.
    quiet_from: Instant,
    last: Moment,
    /// Since when the light has been orange, and its reason; `None` while not orange.
    lost: Option<(Instant, String)>,
    notified: bool,
    /// The light turned green again after a connection-lost notice: to be said.
    restored: bool,
}

impl ConnectionWatch {
    /// A watch started at `start`, with the grace period [`GRACE`].
    pub fn new(start: Moment) -> ConnectionWatch {
        ConnectionWatch {
            grace: GRACE,
            quiet_from: start.monotonic,
            last: start,
            lost: None,
            notified: false,
            restored: false,
        }
    }

    /// Whether the connection came back after a connection-lost notice was told (once).
    pub fn take_restored(&mut self) -> bool {
        std::mem::take(&mut self.restored)
    }

    /// The light now (`None` when only time passed); returns the reason to tell the user
    /// when a connection-lost notice is due.
    pub fn observe(&mut self, light: Option<(Light, Option<&str>)>, now: Moment) -> Option<String> {
        let monotonic_gap = now.monotonic.saturating_duration_since(self.last.monotonic);
        let wall_gap = now.wall.duration_since(self.last.wall).unwrap_or_default();
        if wall_gap > monotonic_gap + SLEEP_GAP {
            // Woken from sleep: give the connection the same chance as after a start.
            self.quiet_from = now.monotonic;
            if let Some((since, _)) = &mut self.lost {
                *since = now.monotonic;
            }
        }
        self.last = now;
        match light {
            Some((Light::Orange, reason)) => {
                let reason = reason.unwrap_or("the connection failed").to_string();
                match &mut self.lost {
                    Some((_, known)) => *known = reason,
                    None => self.lost = Some((now.monotonic, reason)),
                }
            }
            // Green again, or disabled: a later loss is news again; green after a told loss
            // is news too.
            Some((light, _)) => {
                if light == Light::Green && self.notified {
                    self.restored = true;
                }
                self.lost = None;
                self.notified = false;
            }
            None => {}
        }
        let (since, reason) = self.lost.as_ref()?;
        let due = self.due(*since);
        (!self.notified && now.monotonic >= due).then(|| {
            self.notified = true;
            reason.clone()
        })
    }

    /// When to look again (the notice may be due then); `None` when nothing is pending, so
    /// that an idle tray does not wake up.
    pub fn deadline(&self) -> Option<Instant> {
        let (since, _) = self.lost.as_ref()?;
        (!self.notified).then(|| self.due(*since))
    }

    /// The grace period from now on (the setting changed).
    pub fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
    }

    fn due(&self, lost_since: Instant) -> Instant {
        (lost_since + self.grace).max(self.quiet_from + self.grace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock for tests: `at(seconds)` is that long after the start, on both clocks;
    /// `asleep(seconds)` moves the wall clock on as well.
    struct Clock {
        start: Moment,
        slept: Duration,
    }

    impl Clock {
        fn new() -> Clock {
            Clock {
                start: Moment::now(),
                slept: Duration::ZERO,
            }
        }

        fn at(&self, seconds: u64) -> Moment {
            let elapsed = Duration::from_secs(seconds);
            Moment {
                monotonic: self.start.monotonic + elapsed,
                wall: self.start.wall + elapsed + self.slept,
            }
        }

        fn sleep(&mut self, seconds: u64) {
            self.slept += Duration::from_secs(seconds);
        }
    }

    const ORANGE: Option<(Light, Option<&str>)> = Some((Light::Orange, Some("connection refused")));
    const GREEN: Option<(Light, Option<&str>)> = Some((Light::Green, None));

    #[test]
    fn a_loss_is_told_once_after_the_grace_period() {
        let clock = Clock::new();
        let mut watch = ConnectionWatch::new(clock.at(0));
        assert_eq!(watch.observe(GREEN, clock.at(100)), None);
        assert_eq!(watch.observe(ORANGE, clock.at(110)), None);
        assert_eq!(watch.deadline(), Some(clock.at(170).monotonic));
        assert_eq!(watch.observe(None, clock.at(169)), None);
        assert_eq!(
            watch.observe(None, clock.at(170)),
            Some("connection refused".to_string())
        );
        assert_eq!(watch.observe(ORANGE, clock.at(200)), None, "once");
        assert_eq!(watch.deadline(), None, "nothing pending: no wake-ups");
    }

    #[test]
    fn a_short_loss_is_not_told() {
        let clock = Clock::new();
        let mut watch = ConnectionWatch::new(clock.at(0));
        watch.observe(ORANGE, clock.at(100));
        assert_eq!(watch.observe(GREEN, clock.at(130)), None);
        assert_eq!(watch.observe(None, clock.at(200)), None);
        assert_eq!(watch.deadline(), None);
    }

    #[test]
    fn nothing_is_told_right_after_start() {
        let clock = Clock::new();
        let mut watch = ConnectionWatch::new(clock.at(0));
        assert_eq!(watch.observe(ORANGE, clock.at(1)), None);
        assert_eq!(watch.observe(None, clock.at(59)), None);
        // The grace period counts from the loss, and the quiet minute from the start.
        assert_eq!(
            watch.observe(None, clock.at(61)),
            Some("connection refused".to_string())
        );
    }

    #[test]
    fn nothing_is_told_right_after_the_computer_wakes_up() {
        let mut clock = Clock::new();
        let mut watch = ConnectionWatch::new(clock.at(0));
        watch.observe(GREEN, clock.at(100));
        clock.sleep(3600);
        // Woken: the first status says orange, as the network is not back yet.
        assert_eq!(watch.observe(ORANGE, clock.at(101)), None);
        assert_eq!(watch.observe(None, clock.at(150)), None);
        assert_eq!(watch.observe(GREEN, clock.at(155)), None);
        assert_eq!(watch.deadline(), None);
    }

    #[test]
    fn the_grace_period_is_the_setting() {
        let clock = Clock::new();
        let mut watch = ConnectionWatch::new(clock.at(0));
        watch.set_grace(Duration::from_secs(5));
        watch.observe(GREEN, clock.at(1));
        watch.observe(ORANGE, clock.at(2));
        assert_eq!(watch.deadline(), Some(clock.at(7).monotonic));
        assert_eq!(watch.observe(None, clock.at(6)), None);
        assert!(watch.observe(None, clock.at(7)).is_some());
    }

    #[test]
    fn a_new_loss_after_green_is_told_again() {
        let clock = Clock::new();
        let mut watch = ConnectionWatch::new(clock.at(0));
        watch.observe(ORANGE, clock.at(100));
        assert!(watch.observe(None, clock.at(160)).is_some());
        watch.observe(GREEN, clock.at(200));
        watch.observe(
            Some((Light::Orange, Some("proxy authentication required"))),
            clock.at(300),
        );
        assert_eq!(
            watch.observe(None, clock.at(360)),
            Some("proxy authentication required".to_string())
        );
    }
}
