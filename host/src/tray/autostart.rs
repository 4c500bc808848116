//! "Start at login": an XDG autostart entry on Linux (the registry or a launch agent
//! elsewhere), through auto-launch.

use anyhow::{anyhow, Context, Result};
use auto_launch::{AutoLaunch, AutoLaunchBuilder};

fn auto_launch() -> Result<AutoLaunch> {
    let exe =
        std::env::current_exe().context("cannot find the path of the remote-service binary")?;
    let exe = exe
        .to_str()
        .ok_or_else(|| anyhow!("the binary's path {} is not UTF-8", exe.display()))?;
    AutoLaunchBuilder::new()
        .set_app_name("Remote Service")
        .set_app_path(exe)
        .set_args(&["tray"])
        .build()
        .map_err(|error| anyhow!("cannot set up start at login: {error}"))
}

/// Whether the tray starts at login.
pub fn is_enabled() -> bool {
    auto_launch()
        .and_then(|launch| launch.is_enabled().map_err(|error| anyhow!("{error}")))
        .unwrap_or(false)
}

/// Makes the tray start at login, or not.
pub fn set_enabled(enabled: bool) -> Result<()> {
    let launch = auto_launch()?;
    let result = if enabled {
        launch.enable()
    } else {
        launch.disable()
    };
    result.map_err(|error| anyhow!("cannot change start at login: {error}"))
}
