//! The system's proxy for a URL, as Chromium finds it on Linux: the desktop's store first
//! when it is there and readable (KDE's `kioslaverc`; its answer is final), otherwise the
//! environment (`https_proxy`, `http_proxy`, `all_proxy`, `no_proxy`), otherwise
//! `/etc/sysconfig/proxy`; nothing configured is direct. `docs/proxy.md` has the rules and
//! where they differ from libproxy, curl and reqwest.

use std::collections::HashMap;
use std::path::PathBuf;

use remote_service_plugin_api::proxy::ProxyCandidates;

use crate::no_proxy::{bypasses, Destination};
use crate::pac::Pac;

/// The largest configuration file read (`kioslaverc`, sysconfig).
const MAX_FILE: u64 = 256 * 1024;

/// What detection reads: the environment and where the files are.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The environment.
    pub env: HashMap<String, String>,
    /// `/etc/sysconfig/proxy`, or `REMOTE_SERVICE_SYSCONFIG_PROXY`.
    pub sysconfig: PathBuf,
    /// KDE's `kioslaverc` (`$XDG_CONFIG_HOME/kioslaverc`).
    pub kioslaverc: Option<PathBuf>,
}

impl Inputs {
    /// The inputs of this process.
    pub fn of_process() -> Inputs {
        let env: HashMap<String, String> = std::env::vars().collect();
        let sysconfig = env
            .get("REMOTE_SERVICE_SYSCONFIG_PROXY")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/sysconfig/proxy"));
        let config_home = env
            .get("XDG_CONFIG_HOME")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                env.get("HOME")
                    .map(|home| PathBuf::from(home).join(".config"))
            });
        Inputs {
            kioslaverc: config_home.map(|folder| folder.join("kioslaverc")),
            env,
            sysconfig,
        }
    }

    fn desktop_is(&self, name: &str) -> bool {
        self.env.get("XDG_CURRENT_DESKTOP").is_some_and(|desktops| {
            desktops
                .split(':')
                .any(|desktop| desktop.eq_ignore_ascii_case(name))
        })
    }
}

/// The URL a connection goes to, as the rules look at it.
#[derive(Debug, Clone)]
struct Target {
    scheme: String,
    destination: Destination,
}

fn target(url: &str) -> Result<Target, String> {
    let parsed = url::Url::parse(url).map_err(|error| format!("{url:?} is not a URL ({error})"))?;
    let host = match parsed.host() {
        Some(url::Host::Ipv6(address)) => address.to_string(),
        Some(host) => host.to_string().to_ascii_lowercase(),
        None => return Err(format!("{url:?} has no host")),
    };
    Ok(Target {
        scheme: parsed.scheme().to_string(),
        destination: Destination {
            host: host.trim_end_matches('.').to_string(),
            port: parsed.port_or_known_default().unwrap_or(0),
        },
    })
}

/// The candidates for `url`; `pac` keeps the scripts fetched and their engines.
pub fn candidates(url: &str, inputs: &Inputs, pac: &mut Pac) -> Result<ProxyCandidates, String> {
    let target = target(url)?;
    if inputs.desktop_is("KDE") {
        if let Some(answer) = kde(&target, inputs)? {
            return desktop_answer(answer, url, pac);
        }
    }
    if GNOME_DESKTOPS
        .iter()
        .any(|desktop| inputs.desktop_is(desktop))
    {
        if let Some(answer) = gnome(&target)? {
            return desktop_answer(answer, url, pac);
        }
    }
    if let Some(answer) = environment(&target, &inputs.env)? {
        return Ok(answer);
    }
    if let Some(answer) = sysconfig(&target, inputs)? {
        return Ok(answer);
    }
    Ok(answer("none", vec![DIRECT.to_string()]))
}

const DIRECT: &str = "direct://";

/// The desktops whose proxy settings are GNOME's GSettings (as Chromium reads them).
const GNOME_DESKTOPS: [&str; 6] = [
    "GNOME",
    "Unity",
    "Cinnamon",
    "X-Cinnamon",
    "Pantheon",
    "Budgie",
];

/// GNOME's answer, final when GIO and the schema are there.
fn gnome(target: &Target) -> Result<Option<Desktop>, String> {
    let Some(settings) = crate::gnome::settings(&target.scheme) else {
        return Ok(None);
    };
    let direct = || {
        Ok(Some(Desktop::Candidates(answer(
            "gnome",
            vec![DIRECT.to_string()],
        ))))
    };
    match settings {
        crate::gnome::Gnome::Direct => direct(),
        crate::gnome::Gnome::Manual {
            proxy,
            ignore_hosts,
        } => {
            let Some(proxy) = proxy else {
                return direct();
            };
            if bypasses(&ignore_hosts.join(","), &target.destination) {
                return direct();
            }
            let proxy = proxy_uri(&proxy).map_err(|why| format!("GNOME's proxy setting: {why}"))?;
            Ok(Some(Desktop::Candidates(answer("gnome", vec![proxy]))))
        }
        crate::gnome::Gnome::Auto(Some(url)) => Ok(Some(Desktop::Script(url))),
        crate::gnome::Gnome::Auto(None) => Ok(Some(Desktop::Wpad)),
    }
}

/// What a desktop says: candidates, a PAC script to evaluate, or WPAD.
enum Desktop {
    Candidates(ProxyCandidates),
    Script(String),
    Wpad,
}

/// The WPAD script's one address: `wpad` in the local domain, never `wpad.<domain>` guesses.
const WPAD_URL: &str = "http://wpad/wpad.dat";

fn desktop_answer(
    answer_now: Desktop,
    url: &str,
    pac: &mut Pac,
) -> Result<ProxyCandidates, String> {
    match answer_now {
        Desktop::Candidates(candidates) => Ok(candidates),
        Desktop::Script(script) => Ok(answer("pac", pac.candidates(&script, url)?)),
        // A script where WPAD says is evaluated like any other; when nothing answers
        // there, direct.
        Desktop::Wpad => match pac.candidates(WPAD_URL, url) {
            Ok(candidates) => Ok(answer("wpad", candidates)),
            Err(why) if why.starts_with("cannot fetch") => {
                Ok(answer("wpad", vec![DIRECT.to_string()]))
            }
            Err(why) => Err(why),
        },
    }
}

fn answer(source: &str, candidates: Vec<String>) -> ProxyCandidates {
    ProxyCandidates {
        source: source.to_string(),
        candidates,
    }
}

/// A variable as the environment rules read it: the lower-case name first, and when it is
/// set (even empty) the upper-case one is not looked at; `HTTP_PROXY` never when
/// `REQUEST_METHOD` is set (a CGI program's environment, where a request header may set it).
fn variable<'a>(env: &'a HashMap<String, String>, lower: &str) -> Option<&'a str> {
    if let Some(value) = env.get(lower) {
        return Some(value);
    }
    let upper = lower.to_ascii_uppercase();
    if upper == "HTTP_PROXY" && env.contains_key("REQUEST_METHOD") {
        return None;
    }
    env.get(&upper).map(String::as_str)
}

fn environment(
    target: &Target,
    env: &HashMap<String, String>,
) -> Result<Option<ProxyCandidates>, String> {
    let scheme_variable = match target.scheme.as_str() {
        "https" | "wss" => Some("https_proxy"),
        "http" | "ws" => Some("http_proxy"),
        _ => None,
    };
    let found = scheme_variable
        .and_then(|name| variable(env, name).map(|value| (name, value)))
        .filter(|(_, value)| !value.trim().is_empty())
        .or_else(|| variable(env, "all_proxy").map(|value| ("all_proxy", value)))
        .filter(|(_, value)| !value.trim().is_empty());
    let Some((name, value)) = found else {
        return Ok(None);
    };
    if variable(env, "no_proxy").is_some_and(|rules| bypasses(rules, &target.destination)) {
        return Ok(Some(answer("env", vec![DIRECT.to_string()])));
    }
    let proxy = proxy_uri(value).map_err(|why| format!("{name}: {why}"))?;
    Ok(Some(answer("env", vec![proxy])))
}

/// A proxy as a variable or setting gives it (`host:port`, `http://user@host:port/`,
/// `socks5h://host`), written out as a candidate: scheme, host and port, never credentials.
pub fn proxy_uri(value: &str) -> Result<String, String> {
    let value = value.trim();
    let written = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let parsed = url::Url::parse(&written).map_err(|error| {
        format!(
            "{:?} is not a proxy address ({error})",
            without_credentials(value)
        )
    })?;
    let (scheme, default_port) = match parsed.scheme() {
        "http" => ("http", 80),
        "https" => ("https", 443),
        "socks4" => ("socks4", 1080),
        "socks4a" => ("socks4a", 1080),
        "socks5" | "socks5h" | "socks" => ("socks5", 1080),
        other => {
            return Err(format!(
                "{other}:// is not a proxy scheme (http, https, socks4, socks4a, socks5)"
            ))
        }
    };
    let host = match parsed.host() {
        Some(url::Host::Ipv6(address)) => format!("[{address}]"),
        Some(host) => host.to_string(),
        None => return Err(format!("{:?} has no host", without_credentials(value))),
    };
    let port = parsed.port().unwrap_or(default_port);
    Ok(format!("{scheme}://{host}:{port}"))
}

fn without_credentials(value: &str) -> String {
    match value.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => value.to_string(),
    }
}

/// A small configuration file, or `None` when it is not there. A file that is there but
/// cannot be read is an error: detection never falls back silently.
fn read_file(path: &std::path::Path) -> Result<Option<String>, String> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    };
    let metadata = file
        .metadata()
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if !metadata.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mut text = String::new();
    file.take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if text.len() as u64 > MAX_FILE {
        return Err(format!(
            "{} is larger than {} KiB",
            path.display(),
            MAX_FILE / 1024
        ));
    }
    Ok(Some(text))
}

/// `/etc/sysconfig/proxy` (SUSE): `PROXY_ENABLED`, `HTTP_PROXY`, `HTTPS_PROXY`,
/// `NO_PROXY`, shell assignments with quotes.
fn sysconfig(target: &Target, inputs: &Inputs) -> Result<Option<ProxyCandidates>, String> {
    let Some(text) = read_file(&inputs.sysconfig)? else {
        return Ok(None);
    };
    let values: HashMap<String, String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| {
            (
                key.trim().to_string(),
                value.trim().trim_matches(['"', '\'']).to_string(),
            )
        })
        .collect();
    let enabled = values
        .get("PROXY_ENABLED")
        .is_none_or(|value| value.eq_ignore_ascii_case("yes"));
    if !enabled {
        return Ok(Some(answer("sysconfig", vec![DIRECT.to_string()])));
    }
    let proxy = match target.scheme.as_str() {
        "https" | "wss" => values.get("HTTPS_PROXY"),
        "http" | "ws" => values.get("HTTP_PROXY"),
        _ => None,
    }
    .filter(|value| !value.is_empty());
    let Some(proxy) = proxy else {
        return Ok(Some(answer("sysconfig", vec![DIRECT.to_string()])));
    };
    if values
        .get("NO_PROXY")
        .is_some_and(|rules| bypasses(rules, &target.destination))
    {
        return Ok(Some(answer("sysconfig", vec![DIRECT.to_string()])));
    }
    let proxy = proxy_uri(proxy).map_err(|why| format!("{}: {why}", inputs.sysconfig.display()))?;
    Ok(Some(answer("sysconfig", vec![proxy])))
}

/// KDE's `[Proxy Settings]` in `kioslaverc`: `ProxyType` 0 (none), 1 (manual), 2 (a PAC
/// script), 3 (WPAD), 4 (the environment variables it names). Absent: not KDE's answer.
fn kde(target: &Target, inputs: &Inputs) -> Result<Option<Desktop>, String> {
    let Some(path) = &inputs.kioslaverc else {
        return Ok(None);
    };
    let Some(text) = read_file(path)? else {
        return Ok(None);
    };
    let mut in_section = false;
    let mut values: HashMap<String, String> = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[Proxy Settings]";
            continue;
        }
        if in_section {
            if let Some((key, value)) = line.split_once('=') {
                // `Key[$e]=…` (shell expansion marks) is the key.
                let key = key.split('[').next().unwrap_or(key).trim();
                values.insert(key.to_string(), value.trim().to_string());
            }
        }
    }
    let get = |key: &str| values.get(key).map(String::as_str).unwrap_or("");
    let proxy_key = match target.scheme.as_str() {
        "https" | "wss" => "httpsProxy",
        _ => "httpProxy",
    };
    match get("ProxyType") {
        "" | "0" => Ok(Some(Desktop::Candidates(answer(
            "kde",
            vec![DIRECT.to_string()],
        )))),
        "1" | "4" => {
            let environment = get("ProxyType") == "4";
            let lookup = |key: &str| -> String {
                let value = get(key);
                if environment {
                    variable(&inputs.env, &value.to_ascii_lowercase())
                        .unwrap_or("")
                        .to_string()
                } else {
                    value.to_string()
                }
            };
            let exceptions = lookup("NoProxyFor");
            let listed = bypasses(&exceptions, &target.destination);
            let reversed = get("ReversedException").eq_ignore_ascii_case("true");
            // ReversedException: only the listed hosts use the proxy.
            if listed != reversed {
                return Ok(Some(Desktop::Candidates(answer(
                    "kde",
                    vec![DIRECT.to_string()],
                ))));
            }
            let mut proxy = lookup(proxy_key);
            if proxy.trim().is_empty() {
                proxy = lookup("socksProxy");
                if !proxy.trim().is_empty() && !proxy.contains("://") {
                    proxy = format!("socks5://{proxy}");
                }
            }
            if proxy.trim().is_empty() {
                return Ok(Some(Desktop::Candidates(answer(
                    "kde",
                    vec![DIRECT.to_string()],
                ))));
            }
            // KDE writes `http://proxy.example.com 8080`: the port after a space.
            let proxy = match proxy.trim().rsplit_once(' ') {
                Some((host, port)) if port.parse::<u16>().is_ok() => format!("{host}:{port}"),
                _ => proxy.trim().to_string(),
            };
            let proxy = proxy_uri(&proxy)
                .map_err(|why| format!("KDE's proxy setting {proxy_key}: {why}"))?;
            Ok(Some(Desktop::Candidates(answer("kde", vec![proxy]))))
        }
        "2" => {
            let script = get("Proxy Config Script");
            if script.is_empty() {
                return Err(format!(
                    "KDE's ProxyType=2 in {} names no script (Proxy Config Script)",
                    path.display()
                ));
            }
            Ok(Some(Desktop::Script(script.to_string())))
        }
        "3" => Ok(Some(Desktop::Wpad)),
        other => Err(format!(
            "KDE's ProxyType={other} in {} is not a proxy type (0 to 4)",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Inputs {
        Inputs {
            env: pairs
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            sysconfig: PathBuf::from("/nonexistent/sysconfig/proxy"),
            kioslaverc: None,
        }
    }

    #[test]
    fn proxies_are_written_out_without_credentials() {
        assert_eq!(proxy_uri("proxy:3128").unwrap(), "http://proxy:3128");
        assert_eq!(proxy_uri("http://me:pw@proxy/").unwrap(), "http://proxy:80");
        assert_eq!(proxy_uri("socks5h://s").unwrap(), "socks5://s:1080");
        assert_eq!(proxy_uri("[::1]:8080").unwrap(), "http://[::1]:8080");
        assert!(!proxy_uri("ftp://me:pw@proxy").unwrap_err().contains("pw"));
    }

    #[test]
    fn the_environment_is_read_lower_case_first() {
        let url = "https://backoffice.example.com/";
        let found = |pairs: &[(&str, &str)]| {
            candidates(url, &env(pairs), &mut Pac::default())
                .unwrap()
                .candidates
        };
        assert_eq!(
            found(&[("https_proxy", "a:1"), ("HTTPS_PROXY", "b:2")]),
            ["http://a:1"]
        );
        assert_eq!(
            found(&[("https_proxy", ""), ("HTTPS_PROXY", "b:2")]),
            ["direct://"]
        );
        assert_eq!(found(&[("HTTPS_PROXY", "b:2")]), ["http://b:2"]);
        assert_eq!(found(&[("all_proxy", "socks5://s:1")]), ["socks5://s:1"]);
        assert_eq!(
            found(&[("https_proxy", "a:1"), ("no_proxy", ".example.com")]),
            ["direct://"]
        );
        let plain = candidates(
            "http://h/",
            &env(&[("HTTP_PROXY", "b:2"), ("REQUEST_METHOD", "GET")]),
            &mut Pac::default(),
        )
        .unwrap();
        assert_eq!(plain.candidates, ["direct://"]);
        assert_eq!(plain.source, "none");
    }
}
