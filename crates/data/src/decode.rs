//! Image files to square RGB8 pixels of the cache's size.

use std::path::Path;

use image::imageops::FilterType;

use crate::sample::SkipReason;

/// Decodes `path`, converts to RGB, crops the centred square and resizes it to `size`.
pub fn load_square(path: &Path, size: u32) -> Result<Vec<u8>, SkipReason> {
    let bytes = std::fs::read(path).map_err(|e| SkipReason::Unreadable(e.to_string()))?;
    let img = image::load_from_memory(&bytes).map_err(|e| SkipReason::Unreadable(e.to_string()))?;
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err(SkipReason::Unreadable("image has no pixels".into()));
    }
    // Faces are centred in every supported set, so a centred square keeps the face.
    let side = w.min(h);
    let img = if w == h {
        img
    } else {
        img.crop_imm((w - side) / 2, (h - side) / 2, side, side)
    };
    let rgb = img.to_rgb8();
    let out = if side == size {
        rgb
    } else {
        image::imageops::resize(&rgb, size, size, FilterType::Triangle)
    };
    Ok(out.into_raw())
}

/// Fully decodes `path` (truncated or corrupt files fail here, not only bad headers).
pub fn check_decodes(path: &Path) -> Result<(), SkipReason> {
    let bytes = std::fs::read(path).map_err(|e| SkipReason::Unreadable(e.to_string()))?;
    image::load_from_memory(&bytes)
        .map(|_| ())
        .map_err(|e| SkipReason::Unreadable(e.to_string()))
}
