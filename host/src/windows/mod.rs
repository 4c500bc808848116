//! Windows (the About box, the settings window). Each runs as its own process of the same
//! binary (`remote-service about`, `remote-service settings`), a client of the local API,
//! so that its memory (an OpenGL context, fonts) is never held by the tray; one instance of
//! each per session (`single`): opening it again brings it to the front.

pub mod about;
pub mod settings;
pub mod single;

use eframe::egui;

/// A window of the product: its title, the desktop's application id, the product's icon.
pub fn viewport(title: &str, size: [f32; 2]) -> egui::ViewportBuilder {
    egui::ViewportBuilder::default()
        .with_title(title)
        .with_app_id("remote-service")
        .with_icon(window_icon())
        .with_inner_size(size)
}

/// The product's icon for the window (the green light).
pub fn window_icon() -> egui::IconData {
    match crate::tray::IconState::Connected.rgba() {
        Ok((rgba, width, height)) => egui::IconData {
            rgba,
            width,
            height,
        },
        Err(_) => egui::IconData::default(),
    }
}

/// Light or dark as the desktop prefers: a `GTK_THEME` ending in `:dark`, or what the
/// window system says; light when it says nothing (egui's own default is dark).
pub fn follow_desktop_theme(ctx: &egui::Context) {
    let dark =
        std::env::var("GTK_THEME").is_ok_and(|theme| theme.to_lowercase().ends_with(":dark"));
    ctx.options_mut(|options| {
        options.fallback_theme = egui::Theme::Light;
        options.theme_preference = if dark {
            egui::ThemePreference::Dark
        } else {
            egui::ThemePreference::System
        };
    });
}
