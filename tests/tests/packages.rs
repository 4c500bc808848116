//! The Debian packages `installer/build` writes (tests/run builds them first): what lintian
//! says of them, what they hold, and their whole life on a real Debian system (a
//! debootstrap'd root, `tests/src/debian.rs`): install, the service answering, a plugin
//! package appearing in the running engine, an upgrade the licence's maintenance covers, one
//! it does not (refused, naming both dates, the old version still working), remove, purge.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use remote_service_tests::debian::{package, repackaged, DebianRoot};
use remote_service_tests::{PayloadBuilder, Run, Scratch};

const PLUGINS: [&str; 3] = ["licence-updater", "teamviewer-bridge", "proxy-detector"];

/// Generous: a loaded CI machine, a debug build.
const LIMIT: Duration = Duration::from_secs(60);

fn run(command: &mut Command) -> Run {
    command.output().expect("the command runs").into()
}

/// `dpkg-deb --contents`: (mode, owner, path) of every entry.
fn contents(deb: &Path) -> Vec<(String, String, String)> {
    let listing = run(Command::new("dpkg-deb").arg("--contents").arg(deb));
    listing
        .success()
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (
                fields[0].to_string(),
                fields[1].to_string(),
                fields[5].trim_start_matches('.').to_string(),
            )
        })
        .collect()
}

fn field(deb: &Path, name: &str) -> String {
    run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name))
        .success()
        .trim()
        .to_string()
}

#[test]
fn the_packages_pass_lintian_and_hold_what_they_should() {
    let main = package("remote-service");
    let plugins: Vec<_> = PLUGINS
        .iter()
        .map(|plugin| package(&format!("remote-service-plugin-{plugin}")))
        .collect();

    let mut lintian = Command::new("lintian");
    lintian
        .args(["--pedantic", "--fail-on", "error,warning"])
        .arg(&main)
        .args(&plugins);
    let checked = run(&mut lintian);
    let complaints: Vec<&str> = checked
        .stdout
        .lines()
        .filter(|line| line.starts_with("E:") || line.starts_with("W:"))
        .collect();
    assert!(complaints.is_empty(), "lintian:\n{}", complaints.join("\n"));
    assert_eq!(
        checked.code,
        Some(0),
        "lintian: {}{}",
        checked.stdout,
        checked.stderr
    );

    let files = contents(&main);
    let entry = |path: &str| {
        files
            .iter()
            .find(|(_, _, listed)| listed == path)
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{files:#?}"))
            .clone()
    };
    for (path, mode) in [
        ("/usr/bin/remote-service", "-rwxr-xr-x"),
        ("/etc/remote-service/vendor-2026.pub", "-rw-r--r--"),
        ("/lib/systemd/system/remote-service.service", "-rw-r--r--"),
        (
            "/usr/share/applications/remote-service.desktop",
            "-rw-r--r--",
        ),
        ("/etc/xdg/autostart/remote-service.desktop", "-rw-r--r--"),
        ("/etc/sudoers.d/remote-service", "-r--r-----"),
        (
            "/usr/share/icons/hicolor/scalable/apps/remote-service.svg",
            "-rw-r--r--",
        ),
        (
            "/usr/share/icons/hicolor/48x48/apps/remote-service.png",
            "-rw-r--r--",
        ),
        ("/usr/share/man/man1/remote-service.1.gz", "-rw-r--r--"),
        (
            "/usr/share/man/man1/remote-service-entitlement-check.1.gz",
            "-rw-r--r--",
        ),
        (
            "/usr/share/bash-completion/completions/remote-service",
            "-rw-r--r--",
        ),
        (
            "/usr/share/zsh/vendor-completions/_remote-service",
            "-rw-r--r--",
        ),
        (
            "/usr/share/fish/vendor_completions.d/remote-service.fish",
            "-rw-r--r--",
        ),
        ("/usr/share/doc/remote-service/copyright", "-rw-r--r--"),
    ] {
        let (listed_mode, owner, _) = entry(path);
        assert_eq!(
            (listed_mode.as_str(), owner.as_str()),
            (mode, "root/root"),
            "{path}"
        );
    }
    for size in [16, 22, 24, 32, 48, 64] {
        entry(&format!(
            "/usr/share/icons/hicolor/{size}x{size}/apps/remote-service.png"
        ));
    }
    assert!(
        files.iter().all(|(_, owner, _)| owner == "root/root"),
        "everything is root's"
    );
    // The keys, the autostart entry and the sudoers rule are the administrator's to change.
    let extracted = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(&main)
        .arg(extracted.path()))
    .success();
    let conffiles = fs::read_to_string(extracted.path().join("conffiles")).unwrap();
    for conffile in [
        "/etc/remote-service/vendor-2026.pub",
        "/etc/xdg/autostart/remote-service.desktop",
        "/etc/sudoers.d/remote-service",
    ] {
        assert!(
            conffiles.lines().any(|line| line == conffile),
            "{conffile} in {conffiles}"
        );
    }
    // The release date is in the package (its description and preinst) and in the binary.
    let data = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&main)
        .arg(data.path()))
    .success();
    let version_line =
        run(Command::new(data.path().join("usr/bin/remote-service")).arg("--version"));
    let stamped = version_line
        .success()
        .trim()
        .rsplit_once("(released ")
        .and_then(|(_, date)| date.strip_suffix(')'))
        .expect("--version names the release date")
        .to_string();
    assert!(
        field(&main, "Description").contains(&format!("released on {stamped}")),
        "{}",
        field(&main, "Description")
    );
    let preinst = fs::read_to_string(extracted.path().join("preinst")).unwrap();
    assert!(
        preinst.contains(&format!("RELEASE_DATE=\"{stamped}\"")),
        "{preinst}"
    );
    // The desktop entries and the unit are valid as their tools say.
    let validated = run(Command::new("desktop-file-validate")
        .arg(
            data.path()
                .join("usr/share/applications/remote-service.desktop"),
        )
        .arg(data.path().join("etc/xdg/autostart/remote-service.desktop")));
    assert_eq!(
        validated.code,
        Some(0),
        "{}{}",
        validated.stdout,
        validated.stderr
    );
    assert!(
        !validated.stdout.contains("error"),
        "desktop-file-validate: {}",
        validated.stdout
    );

    // The plugin API: the host provides the version it serves, each plugin needs it.
    let provided = field(&main, "Provides");
    assert_eq!(provided, "remote-service-plugin-api-1 (= 1.2)");
    let recommends = field(&main, "Recommends");
    for (plugin, deb) in PLUGINS.iter().zip(&plugins) {
        assert!(
            recommends.contains(&format!("remote-service-plugin-{plugin}")),
            "{recommends}"
        );
        assert!(
            field(deb, "Depends").contains("remote-service-plugin-api-1 (>= 1.2)"),
            "{}",
            field(deb, "Depends")
        );
        let library = format!(
            "/usr/lib/remote-service/plugins/libremote_service_plugin_{}.so",
            plugin.replace('-', "_")
        );
        let listed = contents(deb);
        let (mode, owner, _) = listed
            .iter()
            .find(|(_, _, path)| *path == library)
            .unwrap_or_else(|| panic!("{library} in {listed:#?}"));
        assert_eq!((mode.as_str(), owner.as_str()), ("-rw-r--r--", "root/root"));
        let (folder_mode, _, _) = listed
            .iter()
            .find(|(_, _, path)| path == "/usr/lib/remote-service/plugins/")
            .expect("the plugin folder");
        assert_eq!(folder_mode, "drwxr-xr-x");
    }
}

/// What `remote-service plugins --json` lists inside `root`.
fn plugin_ids(root: &DebianRoot) -> Vec<String> {
    let listed = root.run(&["remote-service", "plugins", "--json"]);
    if listed.code != Some(0) {
        return Vec::new();
    }
    listed
        .json()
        .as_array()
        .map(|plugins| {
            plugins
                .iter()
                .filter_map(|plugin| plugin["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn install_upgrade_refused_upgrade_remove_and_purge_on_a_debian_system() {
    let root = DebianRoot::new();
    let main = package("remote-service");

    // Install: the files, the system user, the unit, the service answering.
    root.dpkg_install(&main).success();
    assert_eq!(
        root.installed_version("remote-service").as_deref(),
        Some("0.1.0")
    );
    let user = root.run(&["getent", "passwd", "remote-service"]);
    assert!(
        user.success().contains(":/var/lib/remote-service:"),
        "{}",
        user.stdout
    );
    let licences = root.file("/var/lib/remote-service/DroppedLicense");
    let owner = fs::metadata(&licences).expect("the licence folder").uid();
    let service_uid: u32 = user.stdout.split(':').nth(2).unwrap().parse().unwrap();
    assert_eq!(owner, service_uid, "the service owns its licence folder");
    assert!(
        fs::symlink_metadata(
            root.file("/etc/systemd/system/multi-user.target.wants/remote-service.service")
        )
        .is_ok(),
        "the service is enabled"
    );
    let verified = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.path().display()))
        .arg("remote-service.service"));
    assert_eq!(
        verified.code,
        Some(0),
        "systemd-analyze verify: {}{}",
        verified.stdout,
        verified.stderr
    );

    // A key the administrator trusts (read when the service starts).
    let scratch = Scratch::new();
    let key = scratch.trusted_key("customer");
    let trusted = root.file("/etc/remote-service/customer.pub");
    fs::copy(&key.public, &trusted).unwrap();
    fs::set_permissions(&trusted, fs::Permissions::from_mode(0o644)).unwrap();

    // systemd's own score of the sandboxing: "1.5 OK" today; above 2.0 is a regression.
    let security = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(format!("--root={}", root.path().display()))
        .arg("remote-service.service"));
    let exposure: f64 = security
        .stdout
        .lines()
        .find_map(|line| {
            line.split("Overall exposure level for remote-service.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in:\n{}{}",
                security.stdout, security.stderr
            )
        });
    assert!(exposure <= 2.0, "exposure {exposure}:\n{}", security.stdout);

    let service = root.start_service("remote-service.service");
    let status = root.wait_until_success(LIMIT, &["remote-service", "status", "--json"]);
    assert_eq!(
        status.code,
        Some(0),
        "status: {}{}",
        status.stdout,
        status.stderr
    );
    assert!(
        status.json()["connection"]["state"].is_string(),
        "{}",
        status.stdout
    );
    // As the service's user, the socket is the system service's.
    let socket =
        fs::metadata(root.file("/run/remote-service/api.sock")).expect("the system socket");
    assert_eq!(socket.mode() & 0o777, 0o660);

    // A licence signed with it, whose maintenance runs through the last day of 2027.
    let payload = PayloadBuilder::new("RS-4242", 1)
        .feature("remote-assistance")
        .maintenance_through("2027-12-31");
    let licence = scratch.licence_file(&key, &payload, "customer.lic");
    fs::copy(&licence, root.file("/tmp/customer.lic")).unwrap();
    root.run(&["remote-service", "licence", "install", "/tmp/customer.lic"])
        .success();
    root.run(&[
        "remote-service",
        "config",
        "set",
        "organisation_id",
        "ORG-KEPT",
    ])
    .success();

    // A plugin package installed while the service runs: loaded at once.
    assert!(!plugin_ids(&root).contains(&"licence-updater".to_string()));
    root.dpkg_install(&package("remote-service-plugin-licence-updater"))
        .success();
    let mut listed = Vec::new();
    remote_service_tests::wait_for(LIMIT, || {
        listed = plugin_ids(&root);
        listed.contains(&"licence-updater".to_string())
    });
    assert!(
        listed.contains(&"licence-updater".to_string()),
        "plugins: {listed:?}"
    );

    // An upgrade released on the last day of maintenance: covered, installed.
    let releases = tempfile::tempdir().unwrap();
    let covered = repackaged(&main, "0.1.1", "2027-12-31", releases.path());
    let upgraded = root.dpkg_install(&covered);
    upgraded.success();
    assert_eq!(
        root.installed_version("remote-service").as_deref(),
        Some("0.1.1")
    );

    // One released the day after, with the service stopped (the check then reads the
    // licence itself): refused, both dates named, the old version in place and working.
    drop(service);
    let refused = root.dpkg_install(&repackaged(&main, "0.2.0", "2028-01-01", releases.path()));
    assert_ne!(refused.code, Some(0), "the upgrade must be refused");
    for words in ["2028-01-01", "2027-12-31", "Renew the maintenance contract"] {
        assert!(
            refused.stderr.contains(words),
            "{words:?} in:\n{}",
            refused.stderr
        );
    }
    assert_eq!(
        root.installed_version("remote-service").as_deref(),
        Some("0.1.1")
    );
    let service = root.start_service("remote-service.service");
    let status = root.wait_until_success(LIMIT, &["remote-service", "status", "--json"]);
    assert_eq!(
        status.code,
        Some(0),
        "after the refusal: {}{}",
        status.stdout,
        status.stderr
    );
    assert_eq!(
        status.json()["licence"]["serial_number"],
        "RS-4242",
        "{}",
        status.stdout
    );

    // Remove: the licences and the settings stay.
    drop(service);
    root.run(&[
        "dpkg",
        "-r",
        "remote-service-plugin-licence-updater",
        "remote-service",
    ])
    .success();
    assert_eq!(root.installed_version("remote-service"), None);
    assert!(!root.file("/usr/bin/remote-service").exists());
    let kept = |path: &str| root.file(path).exists();
    assert!(
        fs::read_dir(&licences).unwrap().count() > 0,
        "the licence is kept"
    );
    let settings = fs::read_to_string(root.file("/var/lib/remote-service/settings.toml"))
        .expect("the settings are kept");
    assert!(settings.contains("ORG-KEPT"), "{settings}");
    assert!(
        kept("/etc/remote-service/vendor-2026.pub"),
        "conffiles stay until purge"
    );

    // Purge: the settings go, the DroppedLicense folder and its licence never.
    root.run(&["dpkg", "-P", "remote-service"]).success();
    assert!(
        !kept("/var/lib/remote-service/settings.toml"),
        "settings removed"
    );
    assert!(
        !kept("/etc/remote-service/vendor-2026.pub"),
        "conffiles removed"
    );
    let left: Vec<_> = fs::read_dir(&licences)
        .expect("the DroppedLicense folder is kept")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name())
        .collect();
    assert!(!left.is_empty(), "the licence is kept: {left:?}");
}
