//! The connection test's report (`POST /v1/test-connection`), and the words front-ends show
//! of it.

use serde::{Deserialize, Serialize};

/// How a step of the test went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepOutcome {
    /// It worked.
    Pass,
    /// It failed; the detail says why.
    Fail,
    /// Not tried (an earlier step failed, or it does not apply).
    Skipped,
}

impl StepOutcome {
    /// The word shown for it.
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Pass => "pass",
            StepOutcome::Fail => "fail",
            StepOutcome::Skipped => "skipped",
        }
    }
}

/// One step of the test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// `DNS`, `TCP`, `TLS`, `HTTP`, `authentication`.
    pub name: String,
    /// How it went.
    pub outcome: StepOutcome,
    /// What was found, or why it failed.
    pub detail: String,
    /// How long it took, in milliseconds.
    pub milliseconds: f64,
}

/// What the connection test found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestReport {
    /// The back office tested.
    pub url: String,
    /// The steps in order; after a failed step the rest are skipped.
    pub steps: Vec<Step>,
}

impl TestReport {
    /// Whether every step passed (TLS is skipped for plain http on loopback; after a
    /// failure the rest are skipped, so a failure is what decides).
    pub fn passed(&self) -> bool {
        !self.steps.is_empty()
            && self
                .steps
                .iter()
                .all(|step| step.outcome != StepOutcome::Fail)
    }

    /// The failed step, if one failed.
    pub fn failure(&self) -> Option<&Step> {
        self.steps
            .iter()
            .find(|step| step.outcome == StepOutcome::Fail)
    }

    /// The report as lines of text (`remote-service test-connection`).
    pub fn text(&self) -> String {
        let mut text = format!("Testing the connection to {}\n", self.url);
        for step in &self.steps {
            let time = if step.outcome == StepOutcome::Skipped {
                String::new()
            } else {
                format!(" ({:.1} ms)", step.milliseconds)
            };
            text.push_str(&format!(
                "  {:<15} {:<7} {}{time}\n",
                step.name,
                step.outcome.as_str(),
                step.detail
            ));
        }
        text.push_str(if self.passed() {
            "The connection to the back office works.\n"
        } else {
            "The connection to the back office does not work.\n"
        });
        text
    }

    /// The report as a notice: its title and one line (the tray's "Test connection").
    pub fn notice(&self) -> (&'static str, String) {
        if self.passed() {
            // Every step as the command line says it: its time, or that it was skipped
            // (TLS over plain http).
            let times: Vec<String> = self
                .steps
                .iter()
                .map(|step| match step.outcome {
                    StepOutcome::Skipped => format!("{} skipped", step.name),
                    _ => format!("{} {:.0} ms", step.name, step.milliseconds),
                })
                .collect();
            ("Connection test passed", times.join(", "))
        } else {
            (
                "Connection test failed",
                self.failure()
                    .map(|step| {
                        format!("{} failed. {}", step.name, crate::capitalised(&step.detail))
                    })
                    .unwrap_or_default(),
            )
        }
    }
}

/// What `remote-service proxy resolve URL` shows: what the engine would use for a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyResolution {
    /// The URL asked about.
    pub url: String,
    /// `proxy.mode`: `none`, `auto` or `manual`.
    pub mode: String,
    /// Where the answer came from: `none`, `manual`, `gnome`, `kde`, `env`, `sysconfig`,
    /// `pac` or `wpad`.
    pub source: String,
    /// The candidates in order, scheme written out (`http://host:port`, `direct://`);
    /// never credentials.
    pub candidates: Vec<String>,
    /// What the proxy would be offered: `none` or `basic`.
    pub authentication: String,
}
