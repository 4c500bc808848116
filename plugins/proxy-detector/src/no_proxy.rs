//! `no_proxy` rules (and KDE's `NoProxyFor`, sysconfig's `NO_PROXY`): which hosts go
//! direct.
//!
//! - `*` matches every host; `<local>` a host name without a dot (never an IP literal).
//! - An IP literal (`10.1.2.3`, `::1`, `[::1]`) or a CIDR block (`10.0.0.0/8`, `fd00::/8`)
//!   matches only a URL whose host is an IP literal: names are never resolved to check.
//! - A name `example.com`, `.example.com` or `*.example.com` matches `example.com` and every
//!   name below it, at a dot boundary (never `notexample.com`).
//! - An optional `:port` must match the URL's port (the scheme's default when it has none).
//! - Case does not matter; a trailing dot is ignored, on both sides.

use std::net::IpAddr;

/// The host and port a rule is matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The host, lower case, without a trailing dot or brackets.
    pub host: String,
    /// The port (the scheme's default when the URL has none).
    pub port: u16,
}

impl Destination {
    fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// Whether `rules` (a comma- or space-separated list) send `destination` direct.
pub fn bypasses(rules: &str, destination: &Destination) -> bool {
    rules
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|rule| !rule.is_empty())
        .any(|rule| matches(rule, destination))
}

fn matches(rule: &str, destination: &Destination) -> bool {
    let rule = rule.to_ascii_lowercase();
    if rule == "*" {
        return true;
    }
    if rule == "<local>" {
        return destination.ip().is_none() && !destination.host.contains('.');
    }
    let (pattern, port) = split_port(&rule);
    if let Some(port) = port {
        if port != destination.port {
            return false;
        }
    }
    if let Some(rule_ip) = ip_rule(pattern) {
        return match destination.ip() {
            Some(ip) => rule_ip.contains(ip),
            None => false,
        };
    }
    if destination.ip().is_some() {
        return false;
    }
    let name = pattern
        .trim_start_matches("*.")
        .trim_start_matches('*')
        .trim_start_matches('.')
        .trim_end_matches('.');
    if name.is_empty() {
        return false;
    }
    destination.host == name || destination.host.ends_with(&format!(".{name}"))
}

/// `rule` without a `:port` suffix, and the port. An IPv6 address is a port only when in
/// brackets (`[::1]:8080`); a bare `::1` has none.
fn split_port(rule: &str) -> (&str, Option<u16>) {
    if let Some(rest) = rule.strip_prefix('[') {
        if let Some((address, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|port| port.parse().ok());
            // `[fd00::]/8`: the prefix after the bracket stays with the address.
            if after.starts_with('/') {
                return (rule, None);
            }
            return (address, port);
        }
    }
    if rule.matches(':').count() == 1 {
        if let Some((pattern, port)) = rule.rsplit_once(':') {
            if let Ok(port) = port.parse() {
                return (pattern, Some(port));
            }
        }
    }
    (rule, None)
}

/// An IP literal or CIDR block.
struct IpRule {
    network: IpAddr,
    prefix: u8,
}

impl IpRule {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            // An IPv4-mapped address is the IPv4 address.
            (IpAddr::V4(_), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|ip| self.contains(IpAddr::V4(ip))),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

fn ip_rule(pattern: &str) -> Option<IpRule> {
    let pattern = pattern.trim_start_matches('[');
    let (address, prefix) = match pattern.split_once('/') {
        Some((address, prefix)) => (
            address.trim_end_matches(']'),
            Some(prefix.parse::<u8>().ok()?),
        ),
        None => (pattern.trim_end_matches(']'), None),
    };
    let network: IpAddr = address.parse().ok()?;
    let full = if network.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(full);
    (prefix <= full).then_some(IpRule { network, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(host: &str, port: u16) -> Destination {
        Destination {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn rules_match_as_documented() {
        let cases = [
            ("*", to("anything.example", 443), true),
            ("<local>", to("intranet", 443), true),
            ("<local>", to("intranet.example.com", 443), false),
            ("<local>", to("10.0.0.1", 443), false),
            ("example.com", to("example.com", 443), true),
            ("example.com", to("www.example.com", 443), true),
            ("example.com", to("notexample.com", 443), false),
            (".example.com", to("example.com", 443), true),
            ("*.example.com", to("a.b.example.com", 443), true),
            ("EXAMPLE.com.", to("www.example.com", 443), true),
            ("example.com:8443", to("example.com", 443), false),
            ("example.com:443", to("example.com", 443), true),
            ("10.0.0.0/8", to("10.1.2.3", 443), true),
            ("10.0.0.0/8", to("11.1.2.3", 443), false),
            ("10.0.0.0/8", to("ten.example.com", 443), false),
            ("127.0.0.1", to("127.0.0.1", 8080), true),
            ("127.0.0.1:8080", to("127.0.0.1", 8081), false),
            ("::1", to("::1", 443), true),
            ("[::1]", to("::1", 443), true),
            ("[::1]:8443", to("::1", 443), false),
            ("fd00::/8", to("fd12:3456::1", 443), true),
            ("fd00::/8", to("fe80::1", 443), false),
            ("0.0.0.0/0", to("192.0.2.1", 80), true),
            ("192.0.2.0/24", to("::ffff:192.0.2.7", 80), true),
        ];
        for (rule, destination, expected) in cases {
            assert_eq!(
                bypasses(rule, &destination),
                expected,
                "{rule} {destination:?}"
            );
        }
        assert!(bypasses("foo.test, example.com", &to("example.com", 443)));
        assert!(!bypasses("", &to("example.com", 443)));
    }
}
