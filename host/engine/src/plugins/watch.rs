//! Watching the plugin folder, so that features follow what is installed: a plugin package
//! installed or removed while the engine runs is loaded or stopped without a restart.
//! Changes are gathered until the writes settle (a package's files arrive by rename), then
//! the engine's thread looks at the folder again ([`super::PluginManager::rescan`]).

use std::path::Path;
use std::thread;

use crossbeam_channel::{select, unbounded, Receiver, Sender};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use crate::licence::watch::{changes_content, SETTLE};

/// The running watch; dropping it ends it.
pub struct PluginFolderWatch {
    _watcher: RecommendedWatcher,
    _stop: Sender<()>,
}

impl PluginFolderWatch {
    /// Watches `folder`; `changed` hears once the writes of each change settled.
    pub fn start(folder: &Path, changed: Sender<()>) -> anyhow::Result<PluginFolderWatch> {
        let (raw_sender, raw) = unbounded();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|event| changes_content(&event.kind)) {
                    let _ = raw_sender.send(());
                }
            })?;
        watcher.watch(folder, RecursiveMode::NonRecursive)?;
        let (stop, stopped) = unbounded::<()>();
        thread::Builder::new()
            .name("plugin folder".into())
            .spawn(move || settle(&raw, &stopped, &changed))?;
        Ok(PluginFolderWatch {
            _watcher: watcher,
            _stop: stop,
        })
    }
}

fn settle(raw: &Receiver<()>, stopped: &Receiver<()>, changed: &Sender<()>) {
    loop {
        select! {
            recv(stopped) -> _ => return,
            recv(raw) -> event => {
                if event.is_err() {
                    return;
                }
                loop {
                    select! {
                        recv(stopped) -> _ => return,
                        recv(raw) -> _ => continue,
                        default(SETTLE) => break,
                    }
                }
                if changed.send(()).is_err() {
                    return;
                }
            }
        }
    }
}
