//! `remote-service test-connection`: each step to the back office on its own, with its
//! time: name resolution, TCP, TLS, an HTTP exchange in the protocol, and authentication
//! (`POST /v1/sessions/check`, which leaves a running session alone).

use std::sync::Arc;
use std::time::{Duration, Instant};

use remote_service_api::{Step, StepOutcome, TestReport};
use tokio::net::TcpStream;
use url::Url;

use super::{Backoffice, ConnectionConfig};
use crate::proxy::tunnel::{self, Authenticated, Target};
use crate::proxy::{Detector, Hop, ProxyMode, Purpose, Route};

struct Steps {
    steps: Vec<Step>,
    failed: bool,
}

impl Steps {
    fn record(&mut self, name: &str, started: Instant, result: Result<String, String>) -> bool {
        let milliseconds = started.elapsed().as_secs_f64() * 1000.0;
        let (outcome, detail) = match result {
            Ok(detail) => (StepOutcome::Pass, detail),
            Err(detail) => {
                self.failed = true;
                (StepOutcome::Fail, detail)
            }
        };
        self.steps.push(Step {
            name: name.to_string(),
            outcome,
            detail,
            milliseconds,
        });
        !self.failed
    }

    fn skip(&mut self, name: &str, detail: &str) {
        self.steps.push(Step {
            name: name.to_string(),
            outcome: StepOutcome::Skipped,
            detail: detail.to_string(),
            milliseconds: 0.0,
        });
    }
}

/// Runs the test with the settings `config`.
pub async fn test_connection(config: &ConnectionConfig, detector: Option<&Detector>) -> TestReport {
    let mut steps = Steps {
        steps: Vec::new(),
        failed: false,
    };
    let mut names = vec!["DNS", "TCP", "TLS", "HTTP", "authentication"];
    let started = Instant::now();
    let route = if config.proxy.settings.mode == ProxyMode::None {
        Some(Route::direct())
    } else {
        names.insert(0, "proxy");
        match config
            .proxy
            .resolve(Purpose::Backoffice, &config.url, detector)
            .await
        {
            Ok(resolution) => {
                let detail = format!(
                    "{} ({})",
                    resolution.candidates.join(", "),
                    match resolution.source.as_str() {
                        "manual" => "set by hand".to_string(),
                        source => format!("detected: {source}"),
                    }
                );
                steps.record("proxy", started, Ok(detail));
                Some(resolution.route)
            }
            Err(reason) => {
                steps.record("proxy", started, Err(reason));
                None
            }
        }
    };
    match route {
        Some(route) if route.is_direct() => run_steps(config, &route, &mut steps).await,
        Some(route) => {
            names = vec![
                "proxy",
                "proxy DNS",
                "proxy TCP",
                "proxy authentication",
                "tunnel",
                "TLS",
                "HTTP",
                "authentication",
            ];
            proxy_steps(config, &route, &mut steps).await;
        }
        None => {}
    }
    for name in names {
        if !steps.steps.iter().any(|step| step.name == name) {
            steps.skip(name, "not tried: an earlier step failed");
        }
    }
    TestReport {
        url: config.url.clone(),
        steps: steps.steps,
    }
}

async fn run_steps(config: &ConnectionConfig, route: &Route, steps: &mut Steps) {
    let limit = config.request_timeout;
    let started = Instant::now();
    let url = match super::check_backoffice_url(&config.url)
        .and_then(|url| Url::parse(&url).map_err(|error| error.to_string()))
    {
        Ok(url) => url,
        Err(reason) => {
            steps.record(
                "DNS",
                started,
                Err(format!("the back office URL: {reason}")),
            );
            return;
        }
    };
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);

    let Some(addresses) = dns_step("DNS", "", &host, port, limit, steps).await else {
        return;
    };

    let started = Instant::now();
    let mut tcp = None;
    let mut problems = Vec::new();
    for address in &addresses {
        match within(limit, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                tcp = Some((stream, *address));
                break;
            }
            Ok(Err(error)) => problems.push(
                super::backoffice::connection_words(&error, &address.to_string())
                    .unwrap_or_else(|| format!("{address}: {error}")),
            ),
            Err(()) => problems.push(format!("{address}: no answer within {limit:?}")),
        }
    }
    let Some((stream, address)) = tcp else {
        steps.record(
            "TCP",
            started,
            Err(format!("cannot connect: {}", problems.join("; "))),
        );
        return;
    };
    if !steps.record("TCP", started, Ok(format!("connected to {address}"))) {
        return;
    }

    if url.scheme() == "https" {
        if !tls_step(config, &host, port, stream, steps).await {
            return;
        }
    } else {
        drop(stream);
        steps.skip("TLS", "plain http (allowed on a loopback address only)");
    }

    exchange(config, route, steps, Instant::now()).await;
}

/// The steps through the route's first proxy: its name, a TCP connection to it, the
/// authentication it asks for, the tunnel to the back office, TLS with the back office
/// through the tunnel, then the protocol's exchange (through the relay, as the connection
/// goes).
async fn proxy_steps(config: &ConnectionConfig, route: &Route, steps: &mut Steps) {
    let limit = config.request_timeout;
    let Some(hop) = route.hops.iter().find(|hop| **hop != Hop::Direct) else {
        return;
    };
    let (host, port) = match hop {
        Hop::Http { host, port, .. }
        | Hop::Socks4 { host, port, .. }
        | Hop::Socks5 { host, port } => (host.clone(), *port),
        Hop::Direct => return,
    };
    let url = match Url::parse(&config.url) {
        Ok(url) => url,
        Err(error) => {
            steps.record(
                "proxy DNS",
                Instant::now(),
                Err(format!("the back office URL: {error}")),
            );
            return;
        }
    };
    let target = Target {
        host: url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string(),
        port: url.port_or_known_default().unwrap_or(443),
    };

    if dns_step("proxy DNS", "the proxy's name ", &host, port, limit, steps)
        .await
        .is_none()
    {
        return;
    }

    let started = Instant::now();
    let proxy = crate::proxy::authority(&host, port);
    match within(limit, TcpStream::connect((host.as_str(), port))).await {
        Ok(Ok(_)) => {
            steps.record(
                "proxy TCP",
                started,
                Ok(format!("connected to the proxy {proxy}")),
            );
        }
        Ok(Err(error)) => {
            steps.record(
                "proxy TCP",
                started,
                Err(format!("the proxy {proxy} cannot be reached: {error}")),
            );
            return;
        }
        Err(()) => {
            steps.record(
                "proxy TCP",
                started,
                Err(format!("the proxy {proxy} did not answer within {limit:?}")),
            );
            return;
        }
    }

    let started = Instant::now();
    let tls = match super::tls::client_config(config.ca_file.as_deref()) {
        Ok(tls) => Arc::new(tls),
        Err(error) => {
            steps.record("proxy authentication", started, Err(error.to_string()));
            return;
        }
    };
    let stream = match tunnel::open(
        hop,
        &target,
        &route.credentials,
        &tls,
        limit,
        Authenticated::NotAsked,
    )
    .await
    {
        Ok((stream, authenticated)) => {
            let how = match authenticated {
                Authenticated::Negotiate => {
                    "Negotiate, accepted with the current user's Kerberos ticket".to_string()
                }
                Authenticated::NotAsked => "the proxy asked for none".to_string(),
                Authenticated::Basic => format!(
                    "Basic, accepted for {}",
                    route.credentials.user.as_deref().unwrap_or_default()
                ),
            };
            steps.record("proxy authentication", started, Ok(how));
            steps.record(
                "tunnel",
                started,
                Ok(format!("to {} through {hop}", target.authority())),
            );
            stream
        }
        Err(failure) => {
            let authentication = failure.reason.contains("asks for authentication")
                || failure.reason.contains("refused the user name or password");
            if authentication {
                steps.record("proxy authentication", started, Err(failure.reason));
            } else {
                steps.skip("proxy authentication", "not reached");
                steps.record("tunnel", started, Err(failure.reason));
            }
            return;
        }
    };
    if url.scheme() == "https" {
        if !tls_step(config, &target.host, target.port, stream, steps).await {
            return;
        }
    } else {
        drop(stream);
        steps.skip("TLS", "plain http (allowed on a loopback address only)");
    }
    exchange(config, route, steps, Instant::now()).await;
}

/// A name-resolution step (`step`): the addresses of `host`, or `None` when it failed
/// (recorded, `what` naming the host in the reason).
async fn dns_step(
    step: &str,
    what: &str,
    host: &str,
    port: u16,
    limit: Duration,
    steps: &mut Steps,
) -> Option<Vec<std::net::SocketAddr>> {
    let started = Instant::now();
    let reason = match within(limit, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addresses)) => {
            let addresses = addresses.collect::<Vec<_>>();
            let listed: Vec<String> = addresses
                .iter()
                .map(|address| address.ip().to_string())
                .collect();
            return steps
                .record(
                    step,
                    started,
                    Ok(format!("{host} is {}", listed.join(", "))),
                )
                .then_some(addresses);
        }
        Ok(Err(error)) => format!("cannot resolve {what}{host}: {error}"),
        Err(()) => format!("no answer for {host} within {limit:?}"),
    };
    steps.record(step, started, Err(reason));
    None
}

/// The TLS step: a handshake with the back office over `stream` (direct, or a tunnel
/// through the proxy), with the certificate checked as the connection checks it.
async fn tls_step(
    config: &ConnectionConfig,
    host: &str,
    port: u16,
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    steps: &mut Steps,
) -> bool {
    let limit = config.request_timeout;
    let host = host.to_string();
    let started = Instant::now();
    let tls = match super::tls::client_config(config.ca_file.as_deref()) {
        Ok(tls) => tls,
        Err(error) => {
            steps.record("TLS", started, Err(error.to_string()));
            return false;
        }
    };
    let server_name = match rustls::pki_types::ServerName::try_from(host.clone()) {
        Ok(name) => name,
        Err(error) => {
            steps.record("TLS", started, Err(format!("{host}: {error}")));
            return false;
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let authority = format!("{host}:{port}");
    let result = match within(limit, connector.connect(server_name, stream)).await {
        Ok(Ok(session)) => {
            let (_, connection) = session.get_ref();
            Ok(format!(
                "{} with a trusted certificate for {host}",
                connection
                    .protocol_version()
                    .map(|version| format!("{version:?}").replace('_', "."))
                    .unwrap_or_else(|| "TLS".to_string())
            ))
        }
        Ok(Err(error)) => Err(
            match error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                Some(tls_error) => super::backoffice::certificate_reason(tls_error, &authority),
                None => format!("TLS handshake with {authority} failed: {error}"),
            },
        ),
        Err(()) => Err(format!("no TLS handshake within {limit:?}")),
    };
    steps.record("TLS", started, result)
}

/// The HTTP and authentication steps: a request in the protocol along `route`.
async fn exchange(config: &ConnectionConfig, route: &Route, steps: &mut Steps, started: Instant) {
    let limit = config.request_timeout;
    let backoffice = match Backoffice::new(&config.url, config.ca_file.as_deref(), limit, route) {
        Ok(backoffice) => backoffice,
        Err(failure) => {
            steps.record("HTTP", started, Err(failure.reason));
            return;
        }
    };
    let Some(credentials) = config.credentials() else {
        steps.record(
            "HTTP",
            started,
            Ok("not tried without credentials".to_string()),
        );
        let missing = config
            .missing_light()
            .and_then(|light| light.reason)
            .unwrap_or_else(|| "the credentials are incomplete".to_string());
        steps.record("authentication", started, Err(missing));
        return;
    };
    match backoffice.check(&credentials).await {
        Ok(()) => {
            steps.record(
                "HTTP",
                started,
                Ok("the back office answers in protocol v1".to_string()),
            );
            steps.record(
                "authentication",
                started,
                Ok(format!(
                    "organisation {} and serial number {} accepted",
                    credentials.organisation_id, credentials.serial_number
                )),
            );
        }
        Err(failure) if failure.credentials => {
            steps.record(
                "HTTP",
                started,
                Ok("the back office answers in protocol v1".to_string()),
            );
            steps.record("authentication", started, Err(failure.reason));
        }
        Err(failure) => {
            steps.record("HTTP", started, Err(failure.reason));
        }
    }
}

async fn within<T>(limit: Duration, future: impl std::future::Future<Output = T>) -> Result<T, ()> {
    tokio::time::timeout(limit, future).await.map_err(|_| ())
}
