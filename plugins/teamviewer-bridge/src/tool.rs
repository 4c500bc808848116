//! Running the `teamviewer` program: found on the engine's PATH (or where the plugin's
//! settings say), each invocation in a process group of its own and with a time limit,
//! after which the whole group is ended (the tool is a shell script whose children would
//! otherwise outlive it and hold its output open).
//!
//! The daemon commands need root. The system service runs as root and runs them directly;
//! a per-user engine runs them as `sudo -n teamviewer daemon …`: the Debian package
//! installs a sudoers rule that allows the members of the `remote-service` group exactly
//! `teamviewer daemon enable|disable|start|stop` and `teamviewer info` (which reads the ID
//! out of the root-only `/opt/teamviewer/config/global.conf`), without a password. `-n`
//! makes sudo fail at once ("sudo: a password is required") instead of asking.
//!
//! Nothing secret is ever an argument: the bridge passes only command words.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// At most this much of each output stream is kept.
const OUTPUT_CAP: usize = 1 << 20;
/// How long a group asked to end (SIGTERM) has before it is killed (SIGKILL).
const GRACE: Duration = Duration::from_millis(500);
/// How long the output is still read after the program ended (a daemon it started may
/// hold the pipes open for ever).
const DRAIN: Duration = Duration::from_secs(1);

/// Where the program is and how it is run.
#[derive(Debug, Clone)]
pub struct Tool {
    /// The `teamviewer` program, an absolute path.
    pub program: PathBuf,
    /// The time limit of each invocation.
    pub time_limit: Duration,
    /// `sudo`, when the engine does not run as root and sudo is installed.
    sudo: Option<PathBuf>,
    /// Set when the plugin stops: a running invocation is ended at once.
    stopping: Arc<AtomicBool>,
}

/// What an invocation printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    /// The exit code (`None` when a signal ended it).
    pub code: Option<i32>,
    /// Standard output, as text.
    pub stdout: String,
    /// Standard error, as text.
    pub stderr: String,
}

impl Ran {
    /// Whether it exited with code 0.
    pub fn succeeded(&self) -> bool {
        self.code == Some(0)
    }
}

/// Why an invocation gave no answer.
#[derive(Debug)]
pub enum RunError {
    /// It did not end within the time limit; it was ended.
    TimedOut {
        /// The command line, in words (`teamviewer daemon start`).
        command: String,
        /// The limit.
        limit: Duration,
    },
    /// It could not be started.
    Spawn {
        /// The command line, in words.
        command: String,
        /// Why.
        error: std::io::Error,
    },
    /// The plugin is stopping; the invocation was ended.
    Stopping {
        /// The command line, in words.
        command: String,
    },
}

/// Why there is no program to run.
#[derive(Debug, PartialEq, Eq)]
pub enum Missing {
    /// No `name` program in any folder of PATH.
    NotOnPath(String),
    /// The path the settings give is not an executable file.
    NotAt(PathBuf),
}

impl Tool {
    /// Finds `program` (a name looked for on PATH, or a path) and says how to run it.
    pub fn find(
        program: &Path,
        time_limit: Duration,
        stopping: Arc<AtomicBool>,
    ) -> Result<Tool, Missing> {
        let path = if program.components().count() > 1 || program.is_absolute() {
            if !is_executable_file(program) {
                return Err(Missing::NotAt(program.to_path_buf()));
            }
            std::path::absolute(program).unwrap_or_else(|_| program.to_path_buf())
        } else {
            on_path(program.as_os_str())
                .ok_or_else(|| Missing::NotOnPath(program.display().to_string()))?
        };
        let sudo = if running_as_root() {
            None
        } else {
            on_path("sudo".as_ref())
        };
        Ok(Tool {
            program: path,
            time_limit,
            sudo,
            stopping,
        })
    }

    /// Whether privileged commands go through `sudo -n`.
    pub fn through_sudo(&self) -> bool {
        self.sudo.is_some()
    }

    /// Runs `teamviewer ARGS` as the engine's user.
    pub fn run(&self, args: &[&str]) -> Result<Ran, RunError> {
        let mut command = Command::new(&self.program);
        command.args(args);
        self.run_command(command, self.words(args, false))
    }

    /// Runs `teamviewer ARGS` as root: directly when the engine is root, otherwise through
    /// `sudo -n` (see the module's comment), or directly when there is no sudo (the tool
    /// then refuses in its own words).
    pub fn run_as_root(&self, args: &[&str]) -> Result<Ran, RunError> {
        match &self.sudo {
            Some(sudo) => {
                let mut command = Command::new(sudo);
                command.arg("-n").arg(&self.program).args(args);
                self.run_command(command, self.words(args, true))
            }
            None => self.run(args),
        }
    }

    /// The command line in words: `teamviewer daemon start`, `sudo -n teamviewer info`.
    pub fn words(&self, args: &[&str], as_root: bool) -> String {
        let name = self
            .program
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.program.display().to_string());
        let sudo = if as_root && self.sudo.is_some() {
            "sudo -n "
        } else {
            ""
        };
        format!("{sudo}{name} {}", args.join(" "))
    }

    fn run_command(&self, mut command: Command, words: String) -> Result<Ran, RunError> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err(RunError::Stopping { command: words });
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own, so that the whole tool (a script and its children) can be
            // ended, and so that no signal meant for the engine's group reaches it.
            .process_group(0);
        let mut child = command.spawn().map_err(|error| RunError::Spawn {
            command: words.clone(),
            error,
        })?;
        let stdout = read_to_end(child.stdout.take());
        let stderr = read_to_end(child.stderr.take());
        let deadline = Instant::now() + self.time_limit;
        let code = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) => {}
                Err(error) => {
                    end_group(&mut child);
                    return Err(RunError::Spawn {
                        command: words,
                        error,
                    });
                }
            }
            if self.stopping.load(Ordering::Relaxed) {
                end_group(&mut child);
                return Err(RunError::Stopping { command: words });
            }
            if Instant::now() >= deadline {
                end_group(&mut child);
                return Err(RunError::TimedOut {
                    command: words,
                    limit: self.time_limit,
                });
            }
            thread::sleep(Duration::from_millis(10));
        };
        let drained = Instant::now() + DRAIN;
        Ok(Ran {
            code,
            stdout: collect(stdout, drained),
            stderr: collect(stderr, drained),
        })
    }
}

/// Ends the child's process group: SIGTERM (which sudo passes on to the command it runs),
/// then SIGKILL to whatever is left after the grace time; reaps the child.
fn end_group(child: &mut Child) {
    let Ok(group) = libc::pid_t::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    // SAFETY: kill(2) with a negative pid signals the process group `group`, which
    // `process_group(0)` made for this child alone; it touches no memory of ours.
    unsafe {
        libc::kill(-group, libc::SIGTERM);
    }
    let until = Instant::now() + GRACE;
    while Instant::now() < until {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    // The group's other members may outlive its leader: kill them too, even when the
    // leader already ended (the group id stays theirs while any of them lives).
    // SAFETY: as above.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let _ = child.wait();
}

/// Reads `stream` to its end on a thread of its own (at most `OUTPUT_CAP` bytes kept).
fn read_to_end(stream: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    if let Some(mut stream) = stream {
        thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buffer = [0u8; 8192];
            loop {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = OUTPUT_CAP.saturating_sub(kept.len());
                        kept.extend_from_slice(&buffer[..n.min(room)]);
                    }
                }
            }
            let _ = sender.send(kept);
        });
    } else {
        let _ = sender.send(Vec::new());
    }
    receiver
}

fn collect(receiver: mpsc::Receiver<Vec<u8>>, until: Instant) -> String {
    let left = until.saturating_duration_since(Instant::now());
    let bytes = receiver.recv_timeout(left).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The first executable file called `name` in the folders of PATH.
fn on_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|folder| folder.is_absolute())
        .map(|folder| folder.join(name))
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Whether the engine runs as root (its effective user).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(program: &str, limit: Duration) -> Tool {
        Tool::find(Path::new(program), limit, Arc::new(AtomicBool::new(false)))
            .expect("the program is there")
    }

    #[test]
    fn a_program_is_found_on_path_or_at_its_path() {
        let stopping = Arc::new(AtomicBool::new(false));
        assert!(
            Tool::find(Path::new("sh"), Duration::from_secs(1), stopping.clone())
                .unwrap()
                .program
                .is_absolute()
        );
        assert_eq!(
            Tool::find(
                Path::new("no-such-program-here"),
                Duration::from_secs(1),
                stopping.clone()
            )
            .unwrap_err(),
            Missing::NotOnPath("no-such-program-here".into())
        );
        assert_eq!(
            Tool::find(
                Path::new("/nonexistent/teamviewer"),
                Duration::from_secs(1),
                stopping.clone()
            )
            .unwrap_err(),
            Missing::NotAt("/nonexistent/teamviewer".into())
        );
        // A file that cannot be executed is not the program.
        let folder = std::env::temp_dir().join(format!("tv-bridge-test-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let plain = folder.join("teamviewer");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            Tool::find(&plain, Duration::from_secs(1), stopping).unwrap_err(),
            Missing::NotAt(plain.clone())
        );
        std::fs::remove_dir_all(&folder).unwrap();
    }

    #[test]
    fn output_and_exit_code_are_kept() {
        let ran = tool("sh", Duration::from_secs(10))
            .run(&["-c", "echo out; echo err >&2; exit 3"])
            .unwrap();
        assert_eq!(ran.code, Some(3));
        assert_eq!(ran.stdout, "out\n");
        assert_eq!(ran.stderr, "err\n");
        assert!(!ran.succeeded());
    }

    #[test]
    fn a_hanging_program_and_its_children_are_ended_at_the_time_limit() {
        let folder = std::env::temp_dir().join(format!("tv-bridge-hang-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let pid_file = folder.join("child.pid");
        let script = format!("sleep 600 & echo $! > {}; wait", pid_file.display());
        let error = tool("sh", Duration::from_millis(300))
            .run(&["-c", &script])
            .unwrap_err();
        match error {
            RunError::TimedOut { command, limit } => {
                assert_eq!(command, format!("sh -c {script}"));
                assert_eq!(limit, Duration::from_millis(300));
            }
            other => panic!("expected a time-out, got {other:?}"),
        }
        let child: u32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild was killed with its group; whoever adopted it reaps it.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat"));
            let gone = match stat {
                Err(_) => true,
                Ok(stat) => stat
                    .rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('Z')),
            };
            if gone {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the sleeping grandchild {child} lives on"
            );
            thread::sleep(Duration::from_millis(20));
        }
        std::fs::remove_dir_all(&folder).unwrap();
    }

    #[test]
    fn a_stopping_plugin_ends_the_running_invocation() {
        let stopping = Arc::new(AtomicBool::new(false));
        let tool = Tool::find(Path::new("sh"), Duration::from_secs(600), stopping.clone()).unwrap();
        let runner = thread::spawn(move || tool.run(&["-c", "sleep 600"]));
        stopping.store(true, Ordering::Relaxed);
        match runner.join().unwrap() {
            Err(RunError::Stopping { command }) => assert_eq!(command, "sh -c sleep 600"),
            other => panic!("expected the invocation to be ended, got {other:?}"),
        }
    }
}
