//! Proxy auto-config (PAC): a script's `FindProxyForURL(url, host)` evaluated in an embedded
//! JavaScript engine (QuickJS, through rquickjs) with the PAC helper functions, a time limit
//! and a memory cap. The script is fetched (`file://`, `http://`, `https://`) with a size and time
//! limit and kept: a file is read again when it changes, a URL fetched again after
//! [`REFETCH_AFTER`]. An error, a time-out or an empty or invalid result is an error the
//! user sees, never a silent "direct".

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rquickjs::{Context, Function, Runtime};

/// The largest PAC script fetched.
pub const MAX_SCRIPT: usize = 1024 * 1024;
/// How long a fetch may take.
pub const FETCH_LIMIT: Duration = Duration::from_secs(5);
/// How long one evaluation may run.
pub const EVALUATION_LIMIT: Duration = Duration::from_secs(1);
/// How much memory the JavaScript engine may use.
pub const MEMORY_LIMIT: usize = 16 * 1024 * 1024;
/// A script fetched over HTTP is fetched again after this long.
pub const REFETCH_AFTER: Duration = Duration::from_secs(300);

/// The PAC helper functions of the Netscape specification (and the "Ex" ones of IPv6), in
/// JavaScript over two native ones: `__resolve(host)` (the first address, or "") and
/// `__myAddress()`.
const HELPERS: &str = r#"
function isPlainHostName(host) { return String(host).indexOf('.') < 0; }
function dnsDomainIs(host, domain) {
  host = String(host).toLowerCase(); domain = String(domain).toLowerCase();
  return host.length >= domain.length && host.substring(host.length - domain.length) === domain;
}
function localHostOrDomainIs(host, hostdom) {
  host = String(host).toLowerCase(); hostdom = String(hostdom).toLowerCase();
  return host === hostdom || hostdom.lastIndexOf(host + '.', 0) === 0;
}
function dnsResolve(host) { var a = __resolve(String(host)); return a === '' ? null : a; }
function dnsResolveEx(host) { return __resolve(String(host)); }
function isResolvable(host) { return __resolve(String(host)) !== ''; }
function isResolvableEx(host) { return isResolvable(host); }
function myIpAddress() { return __myAddress(); }
function myIpAddressEx() { return __myAddress(); }
function dnsDomainLevels(host) { return String(host).split('.').length - 1; }
function convert_addr(ip) {
  var p = String(ip).split('.');
  return ((p[0] & 255) * 16777216) + ((p[1] & 255) << 16) + ((p[2] & 255) << 8) + (p[3] & 255);
}
function __isV4(text) { return /^\d{1,3}(\.\d{1,3}){3}$/.test(text); }
function isInNet(host, pattern, mask) {
  var address = __isV4(String(host)) ? String(host) : dnsResolve(host);
  if (address === null || !__isV4(address)) return false;
  return (convert_addr(address) & convert_addr(mask)) === (convert_addr(pattern) & convert_addr(mask));
}
function isInNetEx(host, prefix) {
  var parts = String(prefix).split('/');
  var bits = parts.length > 1 ? Number(parts[1]) : 32;
  var mask = bits <= 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  var address = __isV4(String(host)) ? String(host) : dnsResolve(host);
  if (address === null || !__isV4(address)) return false;
  return ((convert_addr(address) & mask) >>> 0) === ((convert_addr(parts[0]) & mask) >>> 0);
}
function sortIpAddressList(list) { return String(list).split(';').sort().join(';'); }
function getClientVersion() { return '1.0'; }
function shExpMatch(text, pattern) {
  var re = '^' + String(pattern).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$';
  return new RegExp(re).test(String(text));
}
var __days = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
var __months = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
function __gmt(args) { return args.length > 0 && args[args.length - 1] === 'GMT'; }
function __now(args) { return new Date(); }
function weekdayRange() {
  var args = Array.prototype.slice.call(arguments), gmt = __gmt(args), d = __now();
  if (gmt) args.pop();
  var today = gmt ? d.getUTCDay() : d.getDay();
  var from = __days.indexOf(String(args[0]).toUpperCase());
  var to = args.length > 1 ? __days.indexOf(String(args[1]).toUpperCase()) : from;
  if (from < 0 || to < 0) return false;
  return from <= to ? (today >= from && today <= to) : (today >= from || today <= to);
}
function __inRange(value, from, to) { return from <= to ? value >= from && value <= to : value >= from || value <= to; }
function dateRange() {
  var args = Array.prototype.slice.call(arguments), gmt = __gmt(args), d = __now();
  if (gmt) args.pop();
  var day = gmt ? d.getUTCDate() : d.getDate(), month = gmt ? d.getUTCMonth() : d.getMonth();
  var year = gmt ? d.getUTCFullYear() : d.getFullYear();
  function kind(v) { if (typeof v === 'number') return v > 31 ? 'y' : 'd'; return __months.indexOf(String(v).toUpperCase()) >= 0 ? 'm' : 'x'; }
  function value(v) { return kind(v) === 'm' ? __months.indexOf(String(v).toUpperCase()) : v; }
  if (args.length === 1) { var k = kind(args[0]); return k === 'd' ? day === args[0] : k === 'm' ? month === value(args[0]) : year === args[0]; }
  var half = args.length / 2, from = args.slice(0, half), to = args.slice(half);
  function stamp(parts) { var y = year, m = month, dd = day; parts.forEach(function (p) { var k = kind(p); if (k === 'y') y = p; else if (k === 'm') m = value(p); else dd = p; }); return y * 10000 + m * 100 + dd; }
  var now = year * 10000 + month * 100 + day;
  return __inRange(now, stamp(from), stamp(to));
}
function timeRange() {
  var args = Array.prototype.slice.call(arguments), gmt = __gmt(args), d = __now();
  if (gmt) args.pop();
  var now = (gmt ? d.getUTCHours() : d.getHours()) * 3600 + (gmt ? d.getUTCMinutes() : d.getMinutes()) * 60 + (gmt ? d.getUTCSeconds() : d.getSeconds());
  if (args.length === 1) return (gmt ? d.getUTCHours() : d.getHours()) === args[0];
  if (args.length === 2) return __inRange(Math.floor(now / 3600), args[0], args[1]);
  if (args.length === 4) return __inRange(Math.floor(now / 60), args[0] * 60 + args[1], args[2] * 60 + args[3]);
  if (args.length === 6) return __inRange(now, args[0] * 3600 + args[1] * 60 + args[2], args[3] * 3600 + args[4] * 60 + args[5]);
  return false;
}
"#;

/// A fetched script and how to tell it is still current.
struct Fetched {
    script: String,
    /// A file's modification time when read.
    modified: Option<SystemTime>,
    /// When it was fetched.
    at: Instant,
}

/// The scripts fetched so far and the engine that evaluates them (one per script, kept:
/// compiling the script is most of an evaluation's cost).
#[derive(Default)]
pub struct Pac {
    scripts: HashMap<String, Fetched>,
    engines: HashMap<String, Engine>,
}

struct Engine {
    script: String,
    runtime: Runtime,
    context: Context,
    expired: Arc<AtomicBool>,
    started: Arc<std::sync::Mutex<Instant>>,
}

impl Pac {
    /// The candidates `pac_url`'s script gives for `url`, or why there are none.
    pub fn candidates(&mut self, pac_url: &str, url: &str) -> Result<Vec<String>, String> {
        let script = self.script(pac_url)?;
        let stale = self
            .engines
            .get(pac_url)
            .is_none_or(|engine| engine.script != script);
        if stale {
            let engine =
                Engine::new(&script).map_err(|why| format!("the PAC script {pac_url}: {why}"))?;
            self.engines.insert(pac_url.to_string(), engine);
        }
        let engine = self.engines.get(pac_url).expect("made above");
        let (pac_target, host) = pac_arguments(url)?;
        let answer = engine
            .find_proxy(&pac_target, &host)
            .map_err(|why| format!("the PAC script {pac_url}: {why}"))?;
        parse_answer(&answer)
            .map_err(|why| format!("the PAC script {pac_url} returned {answer:?}: {why}"))
    }

    /// The script at `pac_url`, fetched again when it may have changed.
    fn script(&mut self, pac_url: &str) -> Result<String, String> {
        let current = self
            .scripts
            .get(pac_url)
            .is_some_and(|fetched| match fetched.modified {
                Some(modified) => {
                    file_path(pac_url).and_then(|path| {
                        std::fs::metadata(path)
                            .and_then(|meta| meta.modified())
                            .ok()
                    }) == Some(modified)
                }
                None => fetched.at.elapsed() < REFETCH_AFTER,
            });
        if !current {
            let fetched = fetch(pac_url)
                .map_err(|why| format!("cannot fetch the PAC script {pac_url}: {why}"))?;
            self.scripts.insert(pac_url.to_string(), fetched);
        }
        Ok(self.scripts[pac_url].script.clone())
    }

    /// The memory the engine of `pac_url` uses now (for the benchmark).
    pub fn memory_used(&self, pac_url: &str) -> Option<i64> {
        self.engines
            .get(pac_url)
            .map(|engine| engine.runtime.memory_usage().memory_used_size)
    }
}

impl Engine {
    fn new(script: &str) -> Result<Engine, String> {
        let runtime = Runtime::new().map_err(|error| error.to_string())?;
        runtime.set_memory_limit(MEMORY_LIMIT);
        runtime.set_max_stack_size(512 * 1024);
        let expired = Arc::new(AtomicBool::new(false));
        let started = Arc::new(std::sync::Mutex::new(Instant::now()));
        {
            let (expired, started) = (expired.clone(), started.clone());
            runtime.set_interrupt_handler(Some(Box::new(move || {
                let over = started
                    .lock()
                    .map(|started| started.elapsed() > EVALUATION_LIMIT)
                    .unwrap_or(true);
                if over {
                    expired.store(true, Ordering::SeqCst);
                }
                over
            })));
        }
        let context = Context::full(&runtime).map_err(|error| error.to_string())?;
        let engine = Engine {
            script: script.to_string(),
            runtime,
            context,
            expired,
            started,
        };
        engine.run(|ctx| {
            let globals = ctx.globals();
            globals.set(
                "__resolve",
                Function::new(ctx.clone(), |host: String| resolve(&host))?,
            )?;
            globals.set("__myAddress", Function::new(ctx.clone(), my_address)?)?;
            ctx.eval::<(), _>(HELPERS)?;
            ctx.eval::<(), _>(script)?;
            let find: rquickjs::Value = globals.get("FindProxyForURL")?;
            if !find.is_function() {
                return Ok(Err("it defines no function FindProxyForURL".to_string()));
            }
            Ok(Ok(String::new()))
        })?;
        Ok(engine)
    }

    fn find_proxy(&self, url: &str, host: &str) -> Result<String, String> {
        self.run(|ctx| {
            let find: Function = ctx.globals().get("FindProxyForURL")?;
            let answer: rquickjs::Value = find.call((url, host))?;
            Ok(match answer.as_string() {
                Some(text) => Ok(text.to_string()?),
                None => Err(format!(
                    "it returned a {}, not a string",
                    answer.type_name()
                )),
            })
        })
    }

    /// Runs `body` within the time limit, turning JavaScript exceptions into words.
    fn run(
        &self,
        body: impl FnOnce(&rquickjs::Ctx<'_>) -> rquickjs::Result<Result<String, String>>,
    ) -> Result<String, String> {
        if let Ok(mut started) = self.started.lock() {
            *started = Instant::now();
        }
        self.expired.store(false, Ordering::SeqCst);
        self.context.with(|ctx| match body(&ctx) {
            Ok(result) => result,
            Err(_) if self.expired.load(Ordering::SeqCst) => Err(format!(
                "it did not finish within {} s",
                EVALUATION_LIMIT.as_secs_f64()
            )),
            Err(rquickjs::Error::Exception) => {
                let caught = ctx.catch();
                let text = caught
                    .as_exception()
                    .and_then(|exception| exception.message())
                    .or_else(|| caught.as_string().and_then(|text| text.to_string().ok()))
                    .unwrap_or_else(|| "an exception".to_string());
                Err(if text.contains("out of memory") {
                    format!("it used more than {} MiB", MEMORY_LIMIT / (1024 * 1024))
                } else {
                    format!("error: {text}")
                })
            }
            Err(error) => Err(error.to_string()),
        })
    }
}

/// `FindProxyForURL`'s arguments for `url`: an https URL stripped to its scheme and host
/// (the path and query may hold secrets), and the host.
fn pac_arguments(url: &str) -> Result<(String, String), String> {
    let parsed = url::Url::parse(url).map_err(|error| format!("{url:?} is not a URL ({error})"))?;
    let host = match parsed.host() {
        Some(url::Host::Ipv6(address)) => address.to_string(),
        Some(host) => host.to_string(),
        None => return Err(format!("{url:?} has no host")),
    };
    let target = if parsed.scheme() == "https" || parsed.scheme() == "wss" {
        let authority = match parsed.port() {
            Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_string(),
        };
        format!("{}://{authority}/", parsed.scheme())
    } else {
        url.to_string()
    };
    Ok((target, host))
}

/// A PAC answer (`PROXY a:1; SOCKS b:2; DIRECT`) as candidates.
pub fn parse_answer(answer: &str) -> Result<Vec<String>, String> {
    let mut candidates = Vec::new();
    for part in answer
        .split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let mut words = part.split_whitespace();
        let kind = words.next().unwrap_or_default().to_ascii_uppercase();
        let target = words.next();
        if words.next().is_some() {
            return Err(format!("{part:?} is not one proxy"));
        }
        let scheme = match (kind.as_str(), target) {
            ("DIRECT", None) => {
                candidates.push("direct://".to_string());
                continue;
            }
            ("PROXY" | "HTTP", Some(_)) => "http",
            ("HTTPS", Some(_)) => "https",
            ("SOCKS" | "SOCKS4", Some(_)) => "socks4",
            ("SOCKS5", Some(_)) => "socks5",
            _ => {
                return Err(format!(
                    "{part:?} is not DIRECT, PROXY, HTTPS, SOCKS or SOCKS5 with a host:port"
                ))
            }
        };
        let target = target.unwrap_or_default();
        let (host, port) = target
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
            .ok_or_else(|| format!("{part:?} has no host:port"))?;
        if host.is_empty() {
            return Err(format!("{part:?} has no host"));
        }
        candidates.push(format!("{scheme}://{host}:{port}"));
    }
    if candidates.is_empty() {
        return Err("it is empty".to_string());
    }
    Ok(candidates)
}

/// How long a script's `dnsResolve` may wait for the system's resolver.
const RESOLVE_LIMIT: Duration = Duration::from_secs(2);

fn resolve(host: &str) -> String {
    lookup(host, 0, RESOLVE_LIMIT)
        .ok()
        .and_then(|addresses| addresses.into_iter().find(|address| address.is_ipv4()))
        .map(|address| address.ip().to_string())
        .unwrap_or_default()
}

/// The addresses of `host` within `limit`: the system's resolver has no time limit of its
/// own, so it is asked on a thread of its own, which is left to finish alone when late.
fn lookup(host: &str, port: u16, limit: Duration) -> Result<Vec<std::net::SocketAddr>, String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let name = host.to_string();
    std::thread::Builder::new()
        .name("pac-dns".into())
        .spawn(move || {
            let _ = sender.send(
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect::<Vec<_>>),
            );
        })
        .map_err(|error| error.to_string())?;
    match receiver.recv_timeout(limit) {
        Ok(Ok(addresses)) => Ok(addresses),
        Ok(Err(error)) => Err(format!("cannot resolve {host}: {error}")),
        Err(_) => Err(format!(
            "cannot resolve {host}: no answer within {} s",
            limit.as_secs_f64()
        )),
    }
}

/// This machine's address as the route to the outside gives it (no packet is sent).
fn my_address() -> String {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| {
            socket.connect("192.0.2.1:80")?;
            socket.local_addr()
        })
        .map(|address| address.ip())
        .ok()
        .filter(|ip: &IpAddr| !ip.is_unspecified())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
        .to_string()
}

fn file_path(pac_url: &str) -> Option<std::path::PathBuf> {
    url::Url::parse(pac_url).ok()?.to_file_path().ok()
}

fn fetch(pac_url: &str) -> Result<Fetched, String> {
    let parsed = url::Url::parse(pac_url).map_err(|error| format!("it is not a URL ({error})"))?;
    match parsed.scheme() {
        "file" => {
            let path = file_path(pac_url).ok_or("it is not a file path")?;
            let file = std::fs::File::open(&path).map_err(|error| error.to_string())?;
            let metadata = file.metadata().map_err(|error| error.to_string())?;
            if !metadata.is_file() {
                return Err("it is not a regular file".to_string());
            }
            let script = read_capped(file)?;
            Ok(Fetched {
                script,
                modified: metadata.modified().ok(),
                at: Instant::now(),
            })
        }
        "http" | "https" => Ok(Fetched {
            script: http_get(&parsed)?,
            modified: None,
            at: Instant::now(),
        }),
        other => Err(format!(
            "{other}:// is not a scheme a PAC script is fetched with"
        )),
    }
}

fn read_capped(reader: impl Read) -> Result<String, String> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_SCRIPT as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| error.to_string())?;
    if bytes.len() > MAX_SCRIPT {
        return Err(format!("it is larger than {} KiB", MAX_SCRIPT / 1024));
    }
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())
}

/// A byte stream to an HTTP server: TCP, or TLS over it.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// TLS for an https PAC URL: the system's trusted certificates (the platform verifier;
/// `SSL_CERT_FILE` names others, as for every TLS client of the system).
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map_err(|error| format!("TLS: {error}"))?
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// An HTTP/1.1 GET (over TLS for https) with a time limit on every step and the size cap.
pub fn http_get(url: &url::Url) -> Result<String, String> {
    let host = url.host_str().ok_or("it has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let deadline = Instant::now() + FETCH_LIMIT;
    let address = lookup(host.trim_matches(['[', ']']), port, FETCH_LIMIT)?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let tcp =
        TcpStream::connect_timeout(&address, FETCH_LIMIT).map_err(|error| error.to_string())?;
    // The time limits are the socket's, set through a second handle of it.
    let control = tcp.try_clone().map_err(|error| error.to_string())?;
    let mut stream: Box<dyn ReadWrite> = if url.scheme() == "https" {
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|error| format!("{host}: {error}"))?;
        let connection = rustls::ClientConnection::new(tls_config()?, name)
            .map_err(|error| format!("TLS: {error}"))?;
        Box::new(rustls::StreamOwned::new(connection, tcp))
    } else {
        Box::new(tcp)
    };
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    control
        .set_write_timeout(Some(left()))
        .map_err(|error| error.to_string())?;
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    // The request in one write: a server may answer (and close) once it has the head.
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: remote-service-proxy-detector\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|error| error.to_string())?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if Instant::now() >= deadline {
            return Err(format!(
                "no whole answer within {} s",
                FETCH_LIMIT.as_secs()
            ));
        }
        control
            .set_read_timeout(Some(left()))
            .map_err(|error| error.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            // A server that closes without TLS's close_notify: the answer is whole when
            // its head's length says so, which the reading below checks.
            Err(error)
                if error.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() =>
            {
                break
            }
            Ok(read) => answer.extend_from_slice(&chunk[..read]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!(
                    "no whole answer within {} s",
                    FETCH_LIMIT.as_secs()
                ))
            }
            Err(error) => return Err(error.to_string()),
        }
        if answer.len() > MAX_SCRIPT + 16 * 1024 {
            return Err(format!("it is larger than {} KiB", MAX_SCRIPT / 1024));
        }
    }
    let split = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("the answer is not HTTP")?;
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(format!("HTTP {status}"));
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err("a chunked answer is not read by this version".to_string());
    }
    read_capped(&answer[split + 4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_candidates() {
        assert_eq!(
            parse_answer("PROXY a:1; SOCKS b:2;SOCKS5 c:3 ; HTTPS d:4; DIRECT").unwrap(),
            [
                "http://a:1",
                "socks4://b:2",
                "socks5://c:3",
                "https://d:4",
                "direct://"
            ]
        );
        assert!(parse_answer("").unwrap_err().contains("empty"));
        assert!(parse_answer("PROXY").is_err());
        assert!(parse_answer("FTP a:1").is_err());
    }

    #[test]
    fn https_urls_are_stripped_to_scheme_and_host() {
        assert_eq!(
            pac_arguments("https://h.example.com:8443/secret/path?token=1").unwrap(),
            (
                "https://h.example.com:8443/".to_string(),
                "h.example.com".to_string()
            )
        );
        assert_eq!(pac_arguments("http://h/p?q").unwrap().0, "http://h/p?q");
    }
}
