//! The tray icons: PNGs rendered from the SVG sources in `icons/` (see `icons/generate`),
//! built into the binary.

use tray_icon::Icon;

use remote_service_api::Light;

/// What the icon shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconState {
    /// Green circle with a check mark.
    Connected,
    /// Orange triangle with an exclamation mark.
    Failed,
    /// Grey ring with a bar.
    Disabled,
    /// Blue screen with a pointer: a remote session is active.
    // Shown once remote assistance runs sessions (the remote-assistance issue); the icon
    // is made and checked with the others already.
    RemoteSession,
}

impl IconState {
    /// The icon for a light.
    pub fn of(light: Light) -> IconState {
        match light {
            Light::Green => IconState::Connected,
            Light::Orange => IconState::Failed,
            Light::Grey => IconState::Disabled,
        }
    }

    fn png(self) -> &'static [u8] {
        match self {
            IconState::Connected => include_bytes!("../../../icons/png/connected-32.png"),
            IconState::Failed => include_bytes!("../../../icons/png/failed-32.png"),
            IconState::Disabled => include_bytes!("../../../icons/png/disabled-32.png"),
            IconState::RemoteSession => include_bytes!("../../../icons/png/remote-session-32.png"),
        }
    }

    /// The icon's pixels, RGBA, with its width and height.
    pub fn rgba(self) -> Result<(Vec<u8>, u32, u32), String> {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(self.png()));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
        let mut reader = decoder.read_info().map_err(|error| error.to_string())?;
        let mut pixels = vec![0; reader.output_buffer_size().ok_or("the icon is too large")?];
        let info = reader
            .next_frame(&mut pixels)
            .map_err(|error| error.to_string())?;
        pixels.truncate(info.buffer_size());
        if info.color_type != png::ColorType::Rgba || info.bit_depth != png::BitDepth::Eight {
            return Err(format!(
                "the icon is {:?} {:?}, not 8-bit RGBA",
                info.color_type, info.bit_depth
            ));
        }
        Ok((pixels, info.width, info.height))
    }

    /// The tray icon.
    pub fn icon(self) -> Result<Icon, String> {
        let (pixels, width, height) = self.rgba()?;
        Icon::from_rgba(pixels, width, height).map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [IconState; 4] = [
        IconState::Connected,
        IconState::Failed,
        IconState::Disabled,
        IconState::RemoteSession,
    ];

    #[test]
    fn every_icon_decodes_to_32_by_32_rgba() {
        for state in ALL {
            let (pixels, width, height) = state.rgba().unwrap();
            assert_eq!(
                (width, height, pixels.len()),
                (32, 32, 32 * 32 * 4),
                "{state:?}"
            );
            state.icon().unwrap();
        }
    }

    /// Colour-blind users and monochrome panels see shapes: the opaque outlines of the
    /// icons must differ from each other, not only their colours.
    #[test]
    fn the_icons_differ_in_shape() {
        let masks: Vec<Vec<bool>> = ALL
            .iter()
            .map(|state| {
                state
                    .rgba()
                    .unwrap()
                    .0
                    .chunks(4)
                    .map(|pixel| pixel[3] > 128)
                    .collect()
            })
            .collect();
        for (a, mask_a) in masks.iter().enumerate() {
            for (b, mask_b) in masks.iter().enumerate().skip(a + 1) {
                let different = mask_a.iter().zip(mask_b).filter(|(x, y)| x != y).count();
                assert!(
                    different > 60,
                    "{:?} and {:?} differ in only {different} pixels of shape",
                    ALL[a],
                    ALL[b]
                );
            }
        }
    }
}
