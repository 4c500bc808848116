//! Real proxies for the end-to-end tests: squid (Debian's package) on a loopback port of its
//! own, in a folder of its own, killed when dropped.

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::KillOnDrop;

/// The user squid lets through with [`SquidAuth::Basic`].
pub const PROXY_USER: &str = "alice";

/// How squid wants to be authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SquidAuth {
    /// Not at all.
    None,
    /// Basic (`basic_ncsa_auth`), [`PROXY_USER`] with this password.
    Basic(String),
    /// No authentication, and every tunnel refused (403), as a proxy whose rules do not
    /// allow the back office.
    RefuseAll,
    /// Negotiate (`negotiate_kerberos_auth`) with the service key of `HTTP/localhost` from
    /// this KDC: the proxy is to be reached as `localhost`.
    Negotiate(PathBuf, PathBuf),
}

/// A running squid; killed when dropped.
pub struct Squid {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<KillOnDrop>,
}

impl Squid {
    /// Starts squid on a free loopback port with `auth`, allowing `CONNECT` to any port of
    /// 127.0.0.1 (the back office's) and nothing else.
    pub fn start(auth: SquidAuth) -> Squid {
        Squid::start_with(auth, None)
    }

    /// Starts squid as [`Squid::start`] does, speaking TLS to its clients (`https_port`)
    /// with `tls`: the certificate and its key (see [`test_certificates`]).
    pub fn start_with(auth: SquidAuth, tls: Option<(&Path, &Path)>) -> Squid {
        let dir = tempfile::Builder::new()
            .prefix("remote-service-squid-")
            .tempdir()
            .expect("squid folder");
        let port = crate::restartable_port();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let listen = match tls {
            None => format!("http_port 127.0.0.1:{port}"),
            Some((cert, key)) => {
                fs::copy(cert, dir.path().join("server.pem")).unwrap();
                fs::copy(key, dir.path().join("server.key")).unwrap();
                format!(
                    "https_port 127.0.0.1:{port} tls-cert={} tls-key={}",
                    path("server.pem"),
                    path("server.key")
                )
            }
        };
        let mut config = format!(
            "{listen}\n\
             pid_filename none\n\
             cache_log {}\n\
             access_log stdio:{}\n\
             cache deny all\n\
             coredump_dir {}\n\
             shutdown_lifetime 0 seconds\n\
             acl loopback dst 127.0.0.1/32\n",
            path("cache.log"),
            path("access.log"),
            dir.path().display(),
        );
        match &auth {
            SquidAuth::None => config.push_str("http_access allow loopback\n"),
            SquidAuth::RefuseAll => {}
            SquidAuth::Basic(password) => {
                let mut openssl = Command::new("openssl")
                    .args(["passwd", "-apr1", "-stdin"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("openssl (Debian package openssl)");
                writeln!(openssl.stdin.take().unwrap(), "{password}").unwrap();
                let hashed = openssl.wait_with_output().unwrap();
                assert!(hashed.status.success(), "openssl passwd");
                fs::write(
                    dir.path().join("passwd"),
                    format!("{PROXY_USER}:{}", String::from_utf8_lossy(&hashed.stdout)),
                )
                .unwrap();
                config.push_str(&format!(
                    "auth_param basic program /usr/lib/squid/basic_ncsa_auth {}\n\
                     auth_param basic realm Remote Service test proxy\n\
                     acl authenticated proxy_auth REQUIRED\n\
                     http_access deny !authenticated\n\
                     http_access allow loopback\n",
                    path("passwd")
                ));
            }
            SquidAuth::Negotiate(krb5_conf, keytab) => {
                fs::copy(krb5_conf, dir.path().join("krb5.conf")).unwrap();
                fs::copy(keytab, dir.path().join("squid.keytab")).unwrap();
                config.push_str(&format!(
                    "auth_param negotiate program /usr/bin/env KRB5_KTNAME={} KRB5_CONFIG={} /usr/lib/squid/negotiate_kerberos_auth -s HTTP/localhost@{REALM}\n\
                     auth_param negotiate children 2\n\
                     acl authenticated proxy_auth REQUIRED\n\
                     http_access deny !authenticated\n\
                     http_access allow loopback\n",
                    path("squid.keytab"),
                    path("krb5.conf"),
                ));
            }
        }
        config.push_str("http_access deny all\n");
        fs::write(dir.path().join("squid.conf"), config).unwrap();
        // Started as root, squid runs as the user `proxy`, which must write its logs here.
        let _ = Command::new("chown")
            .args(["-R", "proxy:"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status();
        let mut squid = Squid {
            dir,
            port,
            child: None,
        };
        squid.restart();
        squid
    }

    /// Starts it again (on the same port) after [`Squid::kill`], and waits until it takes
    /// connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "squid already runs");
        let child = KillOnDrop(
            Command::new("squid")
                .arg("-N")
                .arg("-f")
                .arg(self.dir.path().join("squid.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("squid (Debian package squid)"),
        );
        self.child = Some(child);
        let port = self.port;
        let up = crate::wait_for(Duration::from_secs(60), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(
            up.is_some(),
            "squid takes connections on {port} within 60 s; its log:\n{}",
            self.cache_log()
        );
    }

    /// Kills it at once (SIGKILL).
    pub fn kill(&mut self) {
        self.child = None;
        let port = self.port;
        let gone = crate::wait_for(Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).is_err()
        });
        assert!(gone.is_some(), "squid stops listening on {port}");
    }

    /// `localhost:PORT`: the name a Kerberos proxy is reached by (its service is
    /// `HTTP/localhost`).
    pub fn address_by_name(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// `127.0.0.1:PORT`, as `proxy.url` takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its access log: one line per request, and per `CONNECT` tunnel once it closed.
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// Its own log.
    pub fn cache_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("cache.log")).unwrap_or_default()
    }

    /// Its folder (configuration, password file, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every file squid wrote (its logs), for the tests that look for a secret.
    pub fn log_files(&self) -> Vec<PathBuf> {
        vec![
            self.dir.path().join("access.log"),
            self.dir.path().join("cache.log"),
        ]
    }
}

/// The remote ends (`ip:port`) of the TCP connections process `pid` holds now, from its
/// file descriptors and `/proc/net/tcp` (IPv4 only: the tests' servers are on 127.0.0.1).
pub fn tcp_peers(pid: u32) -> Vec<std::net::SocketAddrV4> {
    let inodes: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let table = fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (remote, state, inode) = (fields.get(2)?, fields.get(3)?, fields.get(9)?);
            // 01: established.
            if *state != "01" || !inodes.iter().any(|known| known == inode) {
                return None;
            }
            let (ip, port) = remote.split_once(':')?;
            let ip = u32::from_str_radix(ip, 16).ok()?.to_le_bytes();
            let port = u16::from_str_radix(port, 16).ok()?;
            Some(std::net::SocketAddrV4::new(ip.into(), port))
        })
        .collect()
}

/// The port of a URL such as `http://127.0.0.1:40123`.
pub fn port_of(url: &str) -> u16 {
    url.trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("a port in the URL")
}

/// The throwaway Kerberos realm of [`Kdc`].
pub const REALM: &str = "REMOTE.TEST";

/// The user of [`Kdc`], and the password `kinit` is given (a test realm's, nothing else's).
pub const KERBEROS_USER: &str = "alice";
const KERBEROS_PASSWORD: &str = "kinit-only-test-pw";

/// A throwaway MIT Kerberos realm (krb5-kdc) on a loopback port, with the user
/// [`KERBEROS_USER`] and the proxy's service `HTTP/localhost` (its key in a keytab);
/// killed when dropped.
pub struct Kdc {
    dir: tempfile::TempDir,
    _child: KillOnDrop,
}

impl Kdc {
    /// Creates the realm's database and starts the KDC; waits until it takes connections.
    pub fn start() -> Kdc {
        let dir = tempfile::Builder::new()
            .prefix("remote-service-kdc-")
            .tempdir()
            .expect("kdc folder");
        let port = crate::restartable_port();
        let path = |name: &str| dir.path().join(name).display().to_string();
        fs::write(
            dir.path().join("krb5.conf"),
            format!(
                "[libdefaults]\n  default_realm = {REALM}\n  dns_lookup_kdc = false\n  dns_lookup_realm = false\n  dns_canonicalize_hostname = false\n  rdns = false\n  udp_preference_limit = 1\n\
                 [realms]\n  {REALM} = {{\n    kdc = 127.0.0.1:{port}\n  }}\n"
            ),
        )
        .unwrap();
        fs::write(
            dir.path().join("kdc.conf"),
            format!(
                "[kdcdefaults]\n  kdc_ports = {port}\n  kdc_tcp_ports = {port}\n[realms]\n  {REALM} = {{\n    database_name = {}\n    key_stash_file = {}\n    acl_file = {}\n  }}\n",
                path("principal"),
                path("stash"),
                path("kadm5.acl"),
            ),
        )
        .unwrap();
        let tool = |program: &str, args: &[&str]| {
            let output = Command::new(program)
                .args(args)
                .env("KRB5_CONFIG", dir.path().join("krb5.conf"))
                .env("KRB5_KDC_PROFILE", dir.path().join("kdc.conf"))
                .output()
                .unwrap_or_else(|error| {
                    panic!("{program} (Debian packages krb5-kdc, krb5-admin-server): {error}")
                });
            assert!(
                output.status.success(),
                "{program} {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        tool(
            "kdb5_util",
            &["create", "-s", "-r", REALM, "-P", "throwaway-master-key"],
        );
        tool(
            "kadmin.local",
            &[
                "-q",
                &format!("addprinc -pw {KERBEROS_PASSWORD} {KERBEROS_USER}"),
            ],
        );
        tool("kadmin.local", &["-q", "addprinc -randkey HTTP/localhost"]);
        tool(
            "kadmin.local",
            &[
                "-q",
                &format!("ktadd -k {} HTTP/localhost", path("squid.keytab")),
            ],
        );
        let child = KillOnDrop(
            Command::new("krb5kdc")
                .args(["-n", "-r", REALM])
                .env("KRB5_CONFIG", dir.path().join("krb5.conf"))
                .env("KRB5_KDC_PROFILE", dir.path().join("kdc.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("krb5kdc (Debian package krb5-kdc)"),
        );
        let up = crate::wait_for(Duration::from_secs(60), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(
            up.is_some(),
            "the KDC takes connections on {port} within 60 s"
        );
        Kdc { dir, _child: child }
    }

    /// The realm's `krb5.conf` (`KRB5_CONFIG` for the engine and the tools).
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// The proxy's keytab.
    pub fn keytab(&self) -> PathBuf {
        self.dir.path().join("squid.keytab")
    }

    /// `kinit` as [`KERBEROS_USER`] into the ticket cache file `cache`.
    pub fn kinit(&self, cache: &Path) {
        let mut kinit = Command::new("kinit")
            .arg(KERBEROS_USER)
            .env("KRB5_CONFIG", self.krb5_conf())
            .env("KRB5CCNAME", format!("FILE:{}", cache.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kinit (Debian package krb5-user)");
        writeln!(kinit.stdin.take().unwrap(), "{KERBEROS_PASSWORD}").unwrap();
        let output = kinit.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "kinit: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A throwaway certificate authority and a certificate it signed for `localhost` and
/// 127.0.0.1, made with openssl in `dir`: (the CA's certificate, the server's certificate,
/// its key).
pub fn test_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (cert, key, request) = (
        dir.join("server.pem"),
        dir.join("server.key"),
        dir.join("server.csr"),
    );
    let extensions = dir.join("server.ext");
    fs::write(
        &extensions,
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    let openssl = |args: &[&std::ffi::OsStr]| {
        let output = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl (Debian package openssl)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let os = |text: &str| std::ffi::OsString::from(text);
    openssl(&[
        &os("req"),
        &os("-x509"),
        &os("-newkey"),
        &os("rsa:2048"),
        &os("-nodes"),
        &os("-keyout"),
        ca_key.as_os_str(),
        &os("-out"),
        ca.as_os_str(),
        &os("-subj"),
        &os("/CN=Remote Service test CA"),
        &os("-days"),
        &os("2"),
    ]);
    openssl(&[
        &os("req"),
        &os("-newkey"),
        &os("rsa:2048"),
        &os("-nodes"),
        &os("-keyout"),
        key.as_os_str(),
        &os("-out"),
        request.as_os_str(),
        &os("-subj"),
        &os("/CN=localhost"),
    ]);
    openssl(&[
        &os("x509"),
        &os("-req"),
        &os("-in"),
        request.as_os_str(),
        &os("-CA"),
        ca.as_os_str(),
        &os("-CAkey"),
        ca_key.as_os_str(),
        &os("-CAcreateserial"),
        &os("-out"),
        cert.as_os_str(),
        &os("-days"),
        &os("2"),
        &os("-extfile"),
        extensions.as_os_str(),
    ]);
    (ca, cert, key)
}

/// `openssl s_server -WWW`: the files of `root` over HTTPS on a loopback port, with
/// `cert` and `key`; killed when dropped. Its port.
pub fn https_file_server(root: &Path, cert: &Path, key: &Path) -> (KillOnDrop, u16) {
    let port = crate::restartable_port();
    let child = KillOnDrop(
        Command::new("openssl")
            .arg("s_server")
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .arg("-WWW")
            .arg("-quiet")
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server"),
    );
    let up = crate::wait_for(Duration::from_secs(30), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up.is_some(), "openssl s_server takes connections on {port}");
    (child, port)
}

/// A SOCKS5 proxy (Dante, Debian's `dante-server`) on a loopback port, without
/// authentication, logging each connection it carries; killed when dropped.
pub struct Dante {
    dir: tempfile::TempDir,
    port: u16,
    _child: KillOnDrop,
}

impl Dante {
    /// Starts `danted` and waits until it takes connections.
    pub fn start() -> Dante {
        let dir = tempfile::Builder::new()
            .prefix("remote-service-dante-")
            .tempdir()
            .expect("dante folder");
        let port = crate::restartable_port();
        fs::write(
            dir.path().join("danted.conf"),
            format!(
                "logoutput: {}\n\
                 internal: 127.0.0.1 port = {port}\n\
                 external: 127.0.0.1\n\
                 clientmethod: none\n\
                 socksmethod: none\n\
                 user.unprivileged: nobody\n\
                 client pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n}}\n\
                 socks pass {{\n  from: 127.0.0.0/8 to: 127.0.0.0/8\n  command: connect\n  log: connect disconnect\n}}\n",
                dir.path().join("danted.log").display()
            ),
        )
        .unwrap();
        let child = KillOnDrop(
            Command::new("danted")
                .arg("-f")
                .arg(dir.path().join("danted.conf"))
                .arg("-p")
                .arg(dir.path().join("danted.pid"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("danted (Debian package dante-server)"),
        );
        let up = crate::wait_for(Duration::from_secs(60), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let log = fs::read_to_string(dir.path().join("danted.log")).unwrap_or_default();
        assert!(
            up.is_some(),
            "danted takes connections on {port} within 60 s; its log:\n{log}"
        );
        Dante {
            dir,
            port,
            _child: child,
        }
    }

    /// `socks5://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("socks5://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its log: a line per connection it opened and closed.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("danted.log")).unwrap_or_default()
    }
}
