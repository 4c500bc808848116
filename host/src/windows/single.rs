//! One instance of a window per user session: the first holds a lock beside the engine's
//! socket and listens on a socket of its own; opening the window again tells it to come to
//! the front, and the second process ends.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};

/// What is called when another opening asks the window to come to the front.
type Wake = Arc<std::sync::Mutex<Option<Box<dyn Fn() + Send>>>>;

/// The window's claim; dropping it lets the next one open.
pub struct Instance {
    _lock: File,
    socket: PathBuf,
    raise: Arc<AtomicBool>,
    wake: Wake,
}

impl Instance {
    /// Claims window `name` (`settings`, `about`) in the folder of the engine's socket;
    /// `None` when it is open already (it was told to come to the front).
    pub fn claim(name: &str) -> Result<Option<Instance>> {
        let socket_path = remote_service_api::socket_path(false);
        let folder = socket_path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        if let Some(reason) = remote_service_api::distrust(&socket_path) {
            anyhow::bail!(
                "refused to use the Remote Service folder {}: {reason}",
                folder.display()
            );
        }
        let lock_path = folder.join(format!("{name}.lock"));
        let lock = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&lock_path)
                .with_context(|| format!("cannot open {}", lock_path.display()))?
        };
        let socket = folder.join(format!("{name}.sock"));
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                // Open already: ask it to come to the front.
                if let Ok(mut stream) = UnixStream::connect(&socket) {
                    let _ = stream.write_all(b"raise\n");
                }
                return Ok(None);
            }
            Err(std::fs::TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("cannot lock {}", lock_path.display()))
            }
        }
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)
            .with_context(|| format!("cannot listen on {}", socket.display()))?;
        let raise = Arc::new(AtomicBool::new(false));
        let wake: Wake = Arc::default();
        let (raised, woken) = (raise.clone(), wake.clone());
        std::thread::Builder::new()
            .name(format!("{name}-raise"))
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let mut line = [0u8; 6];
                    if stream.read_exact(&mut line).is_ok() && &line == b"raise\n" {
                        raised.store(true, Ordering::SeqCst);
                        if let Some(wake) = woken.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
                        {
                            wake();
                        }
                    }
                }
            })
            .context("cannot start the window's raise thread")?;
        Ok(Some(Instance {
            _lock: lock,
            socket,
            raise,
            wake,
        }))
    }

    /// `wake` is called when another opening asks the window to come to the front (to
    /// repaint it).
    pub fn on_raise(&self, wake: impl Fn() + Send + 'static) {
        *self.wake.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(wake));
    }

    /// Whether the window was asked to come to the front since the last call.
    pub fn take_raise(&self) -> bool {
        self.raise.swap(false, Ordering::SeqCst)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Brings the window to the front when another opening asked for it.
pub fn raise_if_asked(instance: Option<&Instance>, ctx: &eframe::egui::Context) {
    if instance.is_some_and(Instance::take_raise) {
        ctx.send_viewport_cmd(eframe::egui::ViewportCommand::Minimized(false));
        ctx.send_viewport_cmd(eframe::egui::ViewportCommand::Focus);
        ctx.send_viewport_cmd(eframe::egui::ViewportCommand::RequestUserAttention(
            eframe::egui::UserAttentionType::Informational,
        ));
    }
}
