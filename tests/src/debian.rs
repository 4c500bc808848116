//! A throwaway Debian machine for the packages' tests: a debootstrap'd Debian 12 (minbase,
//! with systemd for `systemd-analyze` and the libraries the binary links), made once and
//! kept in `/var/cache/remote-service-tests/`, under an overlay of the test's own, so that
//! each test starts from the same clean system and leaves the cache as it was. The packages
//! are installed into it with `dpkg` in a `chroot`; the system service is started as its
//! unit says (its user, its runtime folder, its `ExecStart`), since no systemd runs there.
//!
//! Needs root (mounts, chroot), as CI is. Making the cache needs Debian's package archive
//! (deb.debian.org, as `apt-get` does); the tests themselves use nothing but the folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{KillOnDrop, Run};

/// The cached base system.
const CACHE: &str = "/var/cache/remote-service-tests/debian-bookworm";
/// What the base system has besides minbase: systemd (for `systemd-analyze verify` against
/// the root), the Wayland client library the tray links, and the tools the maintainer
/// scripts use (adduser is in minbase).
const INCLUDE: &str = "systemd,libwayland-client0";

/// The packages `installer/build` wrote (`target/debian`), by name.
pub fn package(name: &str) -> PathBuf {
    let folder = crate::artifact_dir()
        .parent()
        .expect("the target folder")
        .join("debian");
    let found = fs::read_dir(&folder)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|file| file.to_str())
                .is_some_and(|file| file.starts_with(&format!("{name}_")) && file.ends_with(".deb"))
        });
    found.unwrap_or_else(|| {
        panic!(
            "no {name}_*.deb in {}: run `installer/build --profile dev` first (tests/run does)",
            folder.display()
        )
    })
}

/// The base system, made now when it is not cached yet.
fn base() -> PathBuf {
    let cache = PathBuf::from(CACHE);
    if cache.join("usr/bin/dpkg").exists() {
        return cache;
    }
    let partial = cache.with_extension("partial");
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(partial.parent().unwrap()).expect("create the cache folder");
    let run: Run = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--include={INCLUDE}"),
            "bookworm",
        ])
        .arg(&partial)
        .arg("http://deb.debian.org/debian")
        .output()
        .expect("debootstrap (Debian package debootstrap; tests/run installs it)")
        .into();
    assert_eq!(
        run.code,
        Some(0),
        "debootstrap failed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    // No package lists or downloaded packages are needed any more.
    let _ = fs::remove_dir_all(partial.join("var/cache/apt/archives"));
    fs::rename(&partial, &cache).expect("keep the base system");
    cache
}

/// A Debian system of the test's own: an overlay over the cached base, with /proc and
/// /dev; unmounted and removed when dropped.
pub struct DebianRoot {
    scratch: tempfile::TempDir,
    root: PathBuf,
    mounts: Vec<PathBuf>,
}

impl DebianRoot {
    /// A clean system.
    pub fn new() -> DebianRoot {
        assert_eq!(
            crate::effective_uid(),
            0,
            "the package tests mount and chroot, which needs root: run them as root, as CI does"
        );
        let lower = base();
        let scratch = tempfile::tempdir().expect("scratch folder");
        let (upper, work, root) = (
            scratch.path().join("upper"),
            scratch.path().join("work"),
            scratch.path().join("root"),
        );
        for dir in [&upper, &work, &root] {
            fs::create_dir(dir).unwrap();
        }
        let mut this = DebianRoot {
            scratch,
            root: root.clone(),
            mounts: Vec::new(),
        };
        this.mount(
            &[
                "-t",
                "overlay",
                "overlay",
                "-o",
                &format!(
                    "lowerdir={},upperdir={},workdir={}",
                    lower.display(),
                    upper.display(),
                    work.display()
                ),
            ],
            &root,
        );
        this.mount(&["-t", "proc", "proc"], &root.join("proc"));
        this.mount(&["--bind", "/dev"], &root.join("dev"));
        // /run is a fresh tmpfs on a booted system: the service's runtime folder goes there.
        this.mount(
            &["-t", "tmpfs", "-o", "mode=0755", "tmpfs"],
            &root.join("run"),
        );
        this
    }

    fn mount(&mut self, args: &[&str], target: &Path) {
        let run: Run = Command::new("mount")
            .args(args)
            .arg(target)
            .output()
            .expect("mount")
            .into();
        assert_eq!(
            run.code,
            Some(0),
            "mount {args:?} {}: {}",
            target.display(),
            run.stderr
        );
        self.mounts.push(target.to_path_buf());
    }

    /// The root folder, as the host sees it.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `path` inside the system, as the host sees it.
    pub fn file(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// `command` run as root inside the system, with a clean environment as dpkg's.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("chroot");
        command
            .arg(&self.root)
            .args(args)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", "/root")
            .env("LANG", "C.UTF-8")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null());
        command
    }

    /// Runs `args` as root inside the system.
    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("chroot").into()
    }

    /// Copies `deb` into the system and installs it with `dpkg -i`.
    pub fn dpkg_install(&self, deb: &Path) -> Run {
        let name = deb.file_name().unwrap().to_str().unwrap();
        fs::copy(deb, self.file(&format!("/tmp/{name}"))).expect("copy the package in");
        self.run(&["dpkg", "-i", &format!("/tmp/{name}")])
    }

    /// The installed version of `package`, when dpkg says it is installed.
    pub fn installed_version(&self, package: &str) -> Option<String> {
        let run = self.run(&["dpkg-query", "-W", "-f=${Status} ${Version}", package]);
        run.stdout
            .strip_prefix("install ok installed ")
            .map(str::to_string)
    }

    /// The system service started as its unit says: as `User=`/`Group=`, with the
    /// `RuntimeDirectory=` made (mode `RuntimeDirectoryMode=`) and `ExecStart=` run. Ended
    /// when the returned process is dropped.
    pub fn start_service(&self, unit: &str) -> KillOnDrop {
        let text = fs::read_to_string(self.file(&format!("/lib/systemd/system/{unit}")))
            .unwrap_or_else(|error| panic!("the unit {unit} is not installed: {error}"));
        let value = |key: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{key}=")))
                .map(str::trim)
                .unwrap_or_else(|| panic!("{unit} has no {key}="))
                .to_string()
        };
        let (user, group) = (value("User"), value("Group"));
        let runtime = format!("/run/{}", value("RuntimeDirectory"));
        self.run(&[
            "install",
            "-d",
            "-m",
            &value("RuntimeDirectoryMode"),
            "-o",
            &user,
            "-g",
            &group,
            &runtime,
        ])
        .success();
        let exec = value("ExecStart");
        let mut args = vec![format!("--userspec={user}:{group}")];
        args.extend(exec.split_whitespace().map(str::to_string));
        let mut command = Command::new("chroot");
        command
            .args(&args[..1])
            .arg(&self.root)
            .args(&args[1..])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", "/var/lib/remote-service")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        KillOnDrop(command.spawn().expect("start the service"))
    }

    /// Waits until `args` (run as root inside) exits 0; its last run either way.
    pub fn wait_until_success(&self, limit: Duration, args: &[&str]) -> Run {
        let mut last = None;
        crate::wait_for(limit, || {
            let run = self.run(args);
            let ok = run.code == Some(0);
            last = Some(run);
            ok
        });
        last.expect("ran at least once")
    }
}

impl Default for DebianRoot {
    fn default() -> DebianRoot {
        DebianRoot::new()
    }
}

impl Drop for DebianRoot {
    fn drop(&mut self) {
        // Whatever still runs inside (a service the test left) goes first.
        let _ = Command::new("fuser")
            .args(["-k", "-m"])
            .arg(&self.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for target in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(target).status();
        }
        let _ = fs::remove_dir_all(self.scratch.path());
    }
}

/// A package like `deb` but with another version and release date: the test's "next
/// release" (`dpkg-deb -R`, the version in the control file and the date in `preinst`
/// changed, `dpkg-deb -b`). The binary in it is the same build.
pub fn repackaged(deb: &Path, version: &str, release_date: &str, into: &Path) -> PathBuf {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    let status = Command::new("dpkg-deb")
        .arg("-R")
        .arg(deb)
        .arg(&tree)
        .status()
        .unwrap();
    assert!(status.success(), "dpkg-deb -R {}", deb.display());
    let control = tree.join("DEBIAN/control");
    let text = fs::read_to_string(&control).unwrap();
    let old_version = text
        .lines()
        .find_map(|line| line.strip_prefix("Version: "))
        .expect("a Version field")
        .to_string();
    fs::write(
        &control,
        text.replace(
            &format!("Version: {old_version}"),
            &format!("Version: {version}"),
        ),
    )
    .unwrap();
    let preinst = tree.join("DEBIAN/preinst");
    let text = fs::read_to_string(&preinst).unwrap();
    let line = text
        .lines()
        .find(|line| line.starts_with("RELEASE_DATE="))
        .expect("preinst names its release date")
        .to_string();
    let text = text
        .replace(&line, &format!("RELEASE_DATE=\"{release_date}\""))
        .replace(
            &format!("VERSION=\"{old_version}\""),
            &format!("VERSION=\"{version}\""),
        );
    fs::write(&preinst, text).unwrap();
    let out = into.join(format!("remote-service_{version}_repacked.deb"));
    let status = Command::new("dpkg-deb")
        // Uncompressed: quick, and nothing checks its size.
        .args(["--root-owner-group", "-Znone", "-b"])
        .arg(&tree)
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "dpkg-deb -b");
    out
}
