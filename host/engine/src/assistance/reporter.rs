//! What the back office hears of remote assistance, on a thread of its own (a request
//! waits for the network; the engine's thread never does): the allowance (`PUT
//! /v1/assistance`, again after every new session, which starts not allowed) and the
//! answers to requests (`POST /v1/assistance/{id}/answer`).

use std::thread;

use crossbeam_channel::{unbounded, Receiver, Sender};

use crate::connection::Link;

/// A message for the reporter.
pub enum Report {
    /// A session is up (or none is).
    Link(Option<Link>),
    /// The allowance now, as the body of `PUT /v1/assistance`.
    Allowance(serde_json::Value),
    /// The answer to a request.
    Answer {
        /// The request.
        request_id: String,
        /// The body of `POST /v1/assistance/{id}/answer`.
        body: serde_json::Value,
    },
}

/// Answers waiting for a session are kept up to this many.
const MAX_WAITING: usize = 64;

/// The reporter's end for the engine; dropping it ends the thread.
pub struct Reporter {
    sender: Sender<Report>,
}

impl Reporter {
    /// Starts the thread.
    pub fn start() -> Reporter {
        let (sender, receiver) = unbounded();
        let started = thread::Builder::new()
            .name("assistance-report".into())
            .spawn(move || run(&receiver));
        if let Err(error) = started {
            tracing::error!("cannot start the thread that reports remote assistance: {error}");
        }
        Reporter { sender }
    }

    /// Hands it a report.
    pub fn send(&self, report: Report) {
        let _ = self.sender.send(report);
    }
}

fn run(receiver: &Receiver<Report>) {
    let mut link: Option<Link> = None;
    let mut allowance: Option<serde_json::Value> = None;
    let mut allowance_sent = true;
    let mut answers: Vec<(String, serde_json::Value)> = Vec::new();
    while let Ok(first) = receiver.recv() {
        // Everything that is waiting, so that a burst of changes is one request.
        for report in std::iter::once(first).chain(receiver.try_iter()) {
            match report {
                Report::Link(new) => {
                    link = new;
                    // A new session starts not allowed.
                    allowance_sent = allowance
                        .as_ref()
                        .is_none_or(|body| body["allowed"] == false);
                }
                Report::Allowance(body) => {
                    allowance = Some(body);
                    allowance_sent = false;
                }
                Report::Answer { request_id, body } => {
                    if answers.len() < MAX_WAITING {
                        answers.push((request_id, body));
                    } else {
                        tracing::warn!(
                            "the answer to assistance request {request_id} is dropped: {MAX_WAITING} answers wait for the back office already"
                        );
                    }
                }
            }
        }
        let Some(link) = &link else { continue };
        // Answers first: the allowance that follows an answer carries its session.
        for (request_id, body) in answers.drain(..) {
            let path = format!("/v1/assistance/{request_id}/answer");
            match link.request("POST", &path, &body.to_string()) {
                Ok((status, _)) if (200..300).contains(&status) => {}
                Ok((status, answer)) => tracing::warn!(
                    "the back office refused the answer to assistance request {request_id}: {status} {}",
                    crate::connection::backoffice::shown_text(&answer, 200)
                ),
                Err(failure) => tracing::warn!(
                    "the answer to assistance request {request_id} did not reach the back office: {}",
                    failure.reason
                ),
            }
        }
        if !allowance_sent {
            if let Some(body) = &allowance {
                match link.request("PUT", "/v1/assistance", &body.to_string()) {
                    Ok((status, _)) if (200..300).contains(&status) => {}
                    Ok((status, answer)) => tracing::warn!(
                        "the back office refused the remote assistance state: {status} {}",
                        crate::connection::backoffice::shown_text(&answer, 200)
                    ),
                    Err(failure) => tracing::warn!(
                        "the remote assistance state did not reach the back office: {}",
                        failure.reason
                    ),
                }
            }
            // Sent again with the next session or change, not in a loop.
            allowance_sent = true;
        }
    }
}
