//! The engine behind a proxy, end to end: a real squid on loopback between the engine and
//! the real back office, with Basic authentication; what the light says when the proxy
//! asks for more, refuses, or goes away; and where the proxy password never appears.

use std::fs;

use remote_service_tests::backoffice::Installation;
use remote_service_tests::proxy::{
    port_of, tcp_peers, Kdc, Squid, SquidAuth, KERBEROS_USER, PROXY_USER, REALM,
};

const PROXY_PASSWORD: &str = "Proxy-Passw0rd-7c1e";

#[test]
fn the_engine_connects_through_a_basic_proxy_and_the_light_says_why_when_it_cannot() {
    let installation = Installation::new();
    let mut squid = Squid::start(SquidAuth::Basic(PROXY_PASSWORD.to_string()));
    let back_office_port = port_of(installation.backoffice.url());
    use_proxy(&installation, &squid.address());
    assert_eq!(
        installation
            .run(&["config", "get", "proxy.url"])
            .success()
            .trim(),
        format!("http://{}", squid.address()),
        "host:port is kept as http://host:port"
    );
    let daemon = installation.daemon();

    // No user yet: the proxy's 407 and what it offers, with what to set.
    let reason = installation.wait_for_light("orange", "asks for authentication");
    assert!(
        reason.contains(&format!(
            "the proxy {} asks for authentication (it offers Basic)",
            squid.address()
        )) && reason.contains("proxy.user"),
        "{reason}"
    );

    // A wrong password: refused, in those words.
    installation
        .run(&["config", "set", "proxy.user", PROXY_USER])
        .success();
    installation
        .set_secret("proxy_password", "not-the-password")
        .success();
    let reason = installation.wait_for_light("orange", "refused the user name or password");
    assert!(reason.contains(&squid.address()), "{reason}");

    // The right one: green, through the proxy.
    installation
        .set_secret("proxy_password", PROXY_PASSWORD)
        .success();
    installation.wait_for_light("green", "");
    assert!(
        installation.backoffice.log().contains("session"),
        "the back office saw the session: {}",
        installation.backoffice.log()
    );

    // `proxy test`: every step through the proxy, each with its outcome.
    let report = installation.run(&["proxy", "test", "--json"]);
    assert_eq!(report.code, Some(0), "{}", report.stdout);
    let steps: Vec<(String, String, String)> = report.json()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            (
                step["name"].as_str().unwrap().to_string(),
                step["outcome"].as_str().unwrap().to_string(),
                step["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let names: Vec<&str> = steps.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "proxy",
            "proxy DNS",
            "proxy TCP",
            "proxy authentication",
            "tunnel",
            "TLS",
            "HTTP",
            "authentication"
        ],
        "{steps:?}"
    );
    let step = |name: &str| {
        steps
            .iter()
            .find(|(step, _, _)| step == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        step("proxy authentication").2,
        format!("Basic, accepted for {PROXY_USER}")
    );
    assert_eq!(step("tunnel").1, "pass", "{steps:?}");
    assert_eq!(step("authentication").1, "pass", "{steps:?}");

    // Only the proxy is connected to: no connection of the engine goes around it.
    assert_connected_only_through(daemon.pid(), &squid, back_office_port);

    // While it runs, the password is in none of its processes' arguments or environment.
    for pid in remote_service_tests::process_tree(daemon.pid()) {
        for file in ["cmdline", "environ"] {
            let content = fs::read(format!("/proc/{pid}/{file}")).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&content).contains(PROXY_PASSWORD),
                "the password is in /proc/{pid}/{file}"
            );
        }
    }

    // The proxy goes away: orange, "cannot be reached"; back: green.
    squid.kill();
    let reason = installation.wait_for_light("orange", "cannot be reached");
    assert!(
        reason.starts_with(&format!("the proxy {} cannot be reached", squid.address())),
        "{reason}"
    );
    squid.restart();
    installation.wait_for_light("green", "");

    // Every connection went through the proxy: once the engine stopped and its tunnels
    // closed, squid's access log has the user's tunnels to the back office, and none for
    // anyone else.
    assert_eq!(daemon.terminate(), Some(0));
    let tunnel = format!("CONNECT 127.0.0.1:{back_office_port} {PROXY_USER} HIER_DIRECT");
    assert_tunnel_logged(&squid, &tunnel);
    for line in squid.access_log().lines() {
        // The harness's own probes (is squid listening?) connect and close at once.
        let probe = line.contains("error:transaction-end-before-headers");
        assert!(
            probe || line.contains("TCP_DENIED/407") || line.contains(&tunnel),
            "every tunnel is the user's to the back office: {line}"
        );
    }

    // The password is in no log, no settings file, not in squid's or the back office's
    // logs.
    let mut files = vec![
        installation.scratch.log_file(),
        installation.backoffice.log_file(),
    ];
    files.extend(squid.log_files());
    files.extend(
        fs::read_dir(installation.scratch.config_dir())
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.is_file()),
    );
    for file in files {
        let content = fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&content).contains(PROXY_PASSWORD),
            "the proxy password is in {}",
            file.display()
        );
    }
}

#[test]
fn a_proxy_url_with_credentials_in_it_is_refused_and_nothing_changes() {
    let installation = Installation::new();
    let refused = installation.run(&[
        "config",
        "set",
        "proxy.url",
        "http://alice:secret@proxy.example.com:8080",
    ]);
    assert_ne!(refused.code, Some(0));
    assert!(
        refused
            .stderr
            .contains("must not contain a user name or password")
            && refused.stderr.contains("config set-secret proxy_password"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("secret@"), "{}", refused.stderr);
    assert!(installation
        .run(&["config", "get", "proxy.url"])
        .stdout
        .trim()
        .is_empty());
    let refused = installation.run(&["config", "set", "proxy.mode", "sometimes"]);
    assert!(
        refused
            .stderr
            .contains("none, auto (automatically detect settings) or manual"),
        "{}",
        refused.stderr
    );
}

/// The engine's TCP connections go to the proxy, none to the back office.
fn assert_connected_only_through(pid: u32, squid: &Squid, back_office_port: u16) {
    let peers = tcp_peers(pid);
    assert!(
        peers
            .iter()
            .any(|peer| peer.port() == port_of(&squid.address())),
        "the engine is connected to the proxy: {peers:?}"
    );
    assert!(
        peers.iter().all(|peer| peer.port() != back_office_port),
        "the engine is not connected to the back office directly: {peers:?}"
    );
}

#[test]
fn automatic_detection_from_the_environment_reaches_the_back_office_through_the_proxy() {
    let installation = Installation::new();
    let squid = Squid::start(SquidAuth::None);
    let back_office_port = port_of(installation.backoffice.url());
    installation
        .run(&["config", "set", "proxy.mode", "auto"])
        .success();
    // The engine's environment names the proxy (the back office is plain http on loopback).
    let mut command = installation.command(&["daemon"]);
    command.env("http_proxy", format!("http://{}", squid.address()));
    let daemon = remote_service_tests::Scratch::spawn_daemon(command);
    installation.wait_for_light("green", "");
    assert_connected_only_through(daemon.pid(), &squid, back_office_port);

    // `proxy resolve` answers as the engine sees it, whatever the command's environment.
    let resolved = installation
        .run(&["proxy", "resolve", installation.backoffice.url(), "--json"])
        .json();
    assert_eq!(resolved["mode"], "auto", "{resolved}");
    assert_eq!(resolved["source"], "env", "{resolved}");
    assert_eq!(
        resolved["candidates"],
        serde_json::json!([format!("http://{}", squid.address())]),
        "{resolved}"
    );

    assert_eq!(daemon.terminate(), Some(0));
    let tunnel = format!("CONNECT 127.0.0.1:{back_office_port} - HIER_DIRECT");
    assert_tunnel_logged(&squid, &tunnel);
}

#[test]
fn automatic_detection_from_gnome_settings_reaches_the_back_office_through_the_proxy() {
    let installation = Installation::new();
    let squid = Squid::start(SquidAuth::None);
    let back_office_port = port_of(installation.backoffice.url());
    installation
        .run(&["config", "set", "proxy.mode", "auto"])
        .success();
    // GNOME's settings through GSettings' keyfile backend (dconf on a desktop); the
    // environment names another proxy, which GNOME's answer overrides.
    let keyfile = installation
        .scratch
        .root()
        .join("config/glib-2.0/settings/keyfile");
    fs::create_dir_all(keyfile.parent().unwrap()).unwrap();
    fs::write(
        &keyfile,
        format!(
            // GNOME's default ignore-hosts bypass loopback, where the test's back office is.
            "[system/proxy]\nmode='manual'\nignore-hosts=@as []\n\n[system/proxy/http]\nhost='127.0.0.1'\nport={}\n",
            port_of(&squid.address())
        ),
    )
    .unwrap();
    let mut command = installation.command(&["daemon"]);
    command
        .env("XDG_CURRENT_DESKTOP", "GNOME")
        .env("GSETTINGS_BACKEND", "keyfile")
        .env("http_proxy", "http://127.0.0.1:9");
    let daemon = remote_service_tests::Scratch::spawn_daemon(command);
    installation.wait_for_light("green", "");
    assert_connected_only_through(daemon.pid(), &squid, back_office_port);
    let resolved = installation
        .run(&["proxy", "resolve", installation.backoffice.url(), "--json"])
        .json();
    assert_eq!(resolved["source"], "gnome", "{resolved}");
    assert_eq!(daemon.terminate(), Some(0));
    let tunnel = format!("CONNECT 127.0.0.1:{back_office_port} - HIER_DIRECT");
    assert_tunnel_logged(&squid, &tunnel);
}

#[test]
fn a_proxy_that_refuses_the_tunnel_is_orange_with_its_status() {
    let installation = Installation::new();
    let squid = Squid::start(SquidAuth::RefuseAll);
    let back_office_port = port_of(installation.backoffice.url());
    use_proxy(&installation, &squid.address());
    let _daemon = installation.daemon();
    let reason = installation.wait_for_light("orange", "refused the tunnel");
    assert_eq!(
        reason,
        format!(
            "the proxy {} refused the tunnel to 127.0.0.1:{back_office_port}: HTTP 403 Forbidden",
            squid.address()
        )
    );
    let report = installation.run(&["proxy", "test", "--json"]).json();
    let tunnel = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["name"] == "tunnel")
        .cloned()
        .unwrap();
    assert_eq!(tunnel["outcome"], "fail", "{report}");
    assert_eq!(tunnel["detail"].as_str(), Some(reason.as_str()), "{report}");
}

#[test]
fn a_proxy_spoken_to_over_tls_and_a_socks5_proxy_carry_the_connection() {
    let installation = Installation::new();
    let back_office_port = port_of(installation.backoffice.url());
    let certificates = installation.scratch.root().join("certificates");
    fs::create_dir_all(&certificates).unwrap();
    let (ca, cert, key) = remote_service_tests::proxy::test_certificates(&certificates);
    let squid = Squid::start_with(SquidAuth::None, Some((&cert, &key)));
    use_proxy(
        &installation,
        &format!("https://{}", squid.address_by_name()),
    );
    // The proxy's certificate is checked as the system checks one (SSL_CERT_FILE: the
    // throwaway CA).
    let mut command = installation.command(&["daemon"]);
    command.env("SSL_CERT_FILE", &ca);
    let daemon = remote_service_tests::Scratch::spawn_daemon(command);
    installation.wait_for_light("green", "");
    assert_connected_only_through(daemon.pid(), &squid, back_office_port);
    assert_eq!(daemon.terminate(), Some(0));
    assert_tunnel_logged(
        &squid,
        &format!("CONNECT 127.0.0.1:{back_office_port} - HIER_DIRECT"),
    );

    // Without trusting its certificate: orange, saying so.
    let untrusted = installation.daemon();
    let reason = installation.wait_for_light("orange", "TLS with the proxy");
    assert!(reason.contains(&squid.address_by_name()), "{reason}");
    drop(untrusted);

    // SOCKS5 (Dante).
    let dante = remote_service_tests::proxy::Dante::start();
    installation
        .run(&["config", "set", "proxy.url", &dante.url()])
        .success();
    let daemon = installation.daemon();
    installation.wait_for_light("green", "");
    let peers = tcp_peers(daemon.pid());
    assert!(
        peers.iter().any(|peer| peer.port() == dante.port())
            && peers.iter().all(|peer| peer.port() != back_office_port),
        "the engine is connected to the SOCKS proxy only: {peers:?}"
    );
    assert!(
        dante
            .log()
            .contains(&format!("127.0.0.1.{back_office_port}")),
        "dante's log has the connection to the back office:\n{}",
        dante.log()
    );
}

#[test]
fn automatic_detection_is_refused_without_the_proxy_detector_plugin() {
    let installation = Installation::new();
    fs::remove_file(
        installation
            .scratch
            .plugin_dir
            .join(remote_service_tests::library_file_name(
                "remote_service_plugin_proxy_detector",
            )),
    )
    .unwrap();
    let refused = installation.run(&["config", "set", "proxy.mode", "auto"]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains(
            "automatic proxy detection needs the proxy detector plugin, which is not installed"
        ),
        "{}",
        refused.stderr
    );
    assert_eq!(
        installation
            .run(&["config", "get", "proxy.mode"])
            .success()
            .trim(),
        "none"
    );
    // With the plugin back, it is accepted.
    let name = remote_service_tests::library_file_name("remote_service_plugin_proxy_detector");
    installation
        .scratch
        .add_plugin_file(&remote_service_tests::artifact(&name), &name);
    installation
        .run(&["config", "set", "proxy.mode", "auto"])
        .success();
}

#[test]
fn a_kerberos_proxy_lets_the_engine_through_with_the_users_ticket_and_no_password() {
    let installation = Installation::new();
    let kdc = Kdc::start();
    let squid = Squid::start(SquidAuth::Negotiate(kdc.krb5_conf(), kdc.keytab()));
    let back_office_port = port_of(installation.backoffice.url());
    use_proxy(&installation, &squid.address_by_name());
    let cache = installation.scratch.root().join("krb5cc");
    let kerberos = |mut command: std::process::Command| {
        command
            .env("KRB5_CONFIG", kdc.krb5_conf())
            .env("KRB5CCNAME", format!("FILE:{}", cache.display()));
        command
    };

    // No ticket yet: the proxy's offer, and what the user lacks.
    let daemon =
        remote_service_tests::Scratch::spawn_daemon(kerberos(installation.command(&["daemon"])));
    let reason = installation.wait_for_light("orange", "asks for authentication");
    assert!(
        reason.contains("(it offers Negotiate)") && reason.contains("Kerberos ticket"),
        "{reason}"
    );

    // The user logs in to the realm: the engine goes through with the ticket, by itself.
    kdc.kinit(&cache);
    installation.wait_for_light("green", "");
    assert_connected_only_through(daemon.pid(), &squid, back_office_port);
    let report = kerberos(installation.command(&["proxy", "test", "--json"]))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let authentication = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["name"] == "proxy authentication")
        .cloned()
        .unwrap();
    assert_eq!(authentication["outcome"], "pass", "{report}");
    assert!(
        authentication["detail"]
            .as_str()
            .unwrap()
            .starts_with("Negotiate"),
        "{report}"
    );
    // Nothing was stored for it.
    let view = installation.run(&["config", "show", "--json"]).json();
    assert_eq!(view["secrets"]["proxy_password"], "not set", "{view}");

    assert_eq!(daemon.terminate(), Some(0));
    let tunnel =
        format!("CONNECT 127.0.0.1:{back_office_port} {KERBEROS_USER}@{REALM} HIER_DIRECT");
    assert_tunnel_logged(&squid, &tunnel);
}

/// Waits (squid writes a tunnel's line once it closed) for `tunnel` in squid's access log.
fn assert_tunnel_logged(squid: &Squid, tunnel: &str) {
    let found = remote_service_tests::wait_for(std::time::Duration::from_secs(30), || {
        squid.access_log().contains(tunnel)
    });
    assert!(
        found.is_some(),
        "squid's access log has {tunnel:?}:\n{}",
        squid.access_log()
    );
}

/// "Use proxy server" with `url`, through the command line.
fn use_proxy(installation: &Installation, url: &str) {
    for (key, value) in [("proxy.mode", "manual"), ("proxy.url", url)] {
        installation.run(&["config", "set", key, value]).success();
    }
}
