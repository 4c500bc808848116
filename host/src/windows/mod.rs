//! Windows (the About box now, the settings window later). Each runs as its own process
//! of the same binary (`remote-service about`), a client of the local API, so that its
//! memory (an OpenGL context, fonts) is never held by the tray.

pub mod about;
