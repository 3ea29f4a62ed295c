//! Contact sheets: a grid of RGB tiles with a caption under each, encoded as
//! PNG. Captions use the DejaVu font embedded in the binary, so montages
//! render the same on machines without any system fonts.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use image::{ExtendedColorType, ImageEncoder, codecs::png::PngEncoder};

/// Why a montage could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MontageError {
    /// No tiles were given.
    #[error("a montage needs at least one tile")]
    NoTiles,
    /// `tile_size` or `columns` was zero.
    #[error("tile size and column count must be positive (got {tile_size} and {columns})")]
    ZeroDimension {
        /// The requested tile side in pixels.
        tile_size: u32,
        /// The requested number of columns.
        columns: u32,
    },
    /// A tile's pixel buffer is not `tile_size * tile_size * 3` bytes.
    #[error("tile {index} has {actual} bytes, expected {expected} (tile_size² × 3 RGB)")]
    TileLength {
        /// Position of the offending tile.
        index: usize,
        /// `tile_size * tile_size * 3`.
        expected: usize,
        /// The tile's actual length.
        actual: usize,
    },
    /// The sheet would exceed 16384 pixels on a side.
    #[error("montage of {width}x{height} pixels is too large")]
    TooLarge {
        /// Sheet width in pixels.
        width: u64,
        /// Sheet height in pixels.
        height: u64,
    },
    /// The embedded font failed to parse (a corrupt build).
    #[error("embedded caption font is invalid: {0}")]
    Font(#[from] ab_glyph::InvalidFont),
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Encode(#[from] image::ImageError),
}

const PAD: u32 = 2;
const MAX_SIDE: u64 = 16_384;
const PAPER: [u8; 3] = [245, 245, 242];
const INK: [u8; 3] = [20, 20, 24];

/// A labelled grid of images (each tile's caption drawn with the embedded
/// DejaVu font via ab_glyph, so no system fonts are needed), encoded as PNG.
///
/// Tiles are RGB8 row-major HWC of `tile_size * tile_size * 3` bytes, laid
/// out left to right in `columns` columns. Captions too wide for a tile are
/// shrunk, then clipped.
pub fn montage_png(
    tiles: &[(Vec<u8>, String)],
    tile_size: u32,
    columns: u32,
) -> Result<Vec<u8>, MontageError> {
    if tiles.is_empty() {
        return Err(MontageError::NoTiles);
    }
    if tile_size == 0 || columns == 0 {
        return Err(MontageError::ZeroDimension { tile_size, columns });
    }
    let expected = tile_size as usize * tile_size as usize * 3;
    if let Some((index, (px, _))) = tiles
        .iter()
        .enumerate()
        .find(|(_, (px, _))| px.len() != expected)
    {
        return Err(MontageError::TileLength {
            index,
            expected,
            actual: px.len(),
        });
    }
    let font = FontRef::try_from_slice(dejavu::sans::regular())?;
    let font_px = (tile_size as f32 * 0.17).clamp(9.0, 20.0);
    let caption_h = (font_px * 1.35).ceil() as u32;
    let cols = columns.min(u32::try_from(tiles.len()).unwrap_or(u32::MAX));
    let rows = u32::try_from(tiles.len().div_ceil(cols as usize)).unwrap_or(u32::MAX);
    let (cell_w, cell_h) = (tile_size + PAD, tile_size + caption_h + PAD);
    let width = u64::from(cols) * u64::from(cell_w) + u64::from(PAD);
    let height = u64::from(rows) * u64::from(cell_h) + u64::from(PAD);
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(MontageError::TooLarge { width, height });
    }
    let (width, height) = (width as u32, height as u32);
    let mut sheet = Sheet {
        width,
        height,
        pixels: PAPER.repeat(width as usize * height as usize),
    };
    for (i, (px, caption)) in tiles.iter().enumerate() {
        let (col, row) = (i as u32 % cols, i as u32 / cols);
        let (x0, y0) = (PAD + col * cell_w, PAD + row * cell_h);
        for y in 0..tile_size {
            let src = (y * tile_size * 3) as usize;
            let dst = (((y0 + y) * width + x0) * 3) as usize;
            sheet.pixels[dst..dst + (tile_size * 3) as usize]
                .copy_from_slice(&px[src..src + (tile_size * 3) as usize]);
        }
        sheet.caption(
            &font,
            caption,
            font_px,
            (x0, y0 + tile_size),
            (tile_size, caption_h),
        );
    }
    let mut out = Vec::new();
    PngEncoder::new(&mut out).write_image(&sheet.pixels, width, height, ExtendedColorType::Rgb8)?;
    Ok(out)
}

struct Sheet {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Sheet {
    /// Draws `text` centred in the box at `origin` of `extent`, clipped to it.
    fn caption(
        &mut self,
        font: &FontRef<'_>,
        text: &str,
        px: f32,
        origin: (u32, u32),
        extent: (u32, u32),
    ) {
        let natural = text_width(font, text, px);
        let avail = extent.0 as f32 - 2.0;
        let px = if natural > avail {
            (px * avail / natural).max(7.0)
        } else {
            px
        };
        let scaled = font.as_scaled(PxScale::from(px));
        let w = text_width(font, text, px);
        let mut x = origin.0 as f32 + ((extent.0 as f32 - w) * 0.5).max(1.0);
        let baseline =
            origin.1 as f32 + (extent.1 as f32 + scaled.ascent() + scaled.descent()) * 0.5;
        let (x_max, y_max) = (origin.0 + extent.0, (origin.1 + extent.1).min(self.height));
        let mut prev = None;
        for ch in text.chars() {
            let id = font.glyph_id(ch);
            if let Some(p) = prev {
                x += scaled.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(PxScale::from(px), point(x, baseline));
            x += scaled.h_advance(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cov| {
                let (sx, sy) = (
                    b.min.x as i64 + i64::from(gx),
                    b.min.y as i64 + i64::from(gy),
                );
                if sx < i64::from(origin.0)
                    || sy < i64::from(origin.1)
                    || sx >= i64::from(x_max)
                    || sy >= i64::from(y_max)
                {
                    return;
                }
                let at = ((sy as u64 * u64::from(self.width) + sx as u64) * 3) as usize;
                for (c, ink) in INK.iter().enumerate() {
                    let bg = f32::from(self.pixels[at + c]);
                    self.pixels[at + c] =
                        (bg + (f32::from(*ink) - bg) * cov.clamp(0.0, 1.0)).round() as u8;
                }
            });
        }
    }
}

fn text_width(font: &FontRef<'_>, text: &str, px: f32) -> f32 {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut prev = None;
    let mut w = 0.0;
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        if let Some(p) = prev {
            w += scaled.kern(p, id);
        }
        w += scaled.h_advance(id);
        prev = Some(id);
    }
    w
}

/// The tiles of a preview montage of built-in set `kind` (`synthetic-faces`:
/// four images of each person, so identity consistency shows too;
/// `synthetic-objects`): each image with its caption. `None` for another kind.
pub fn preview_tiles(
    kind: &str,
    count: usize,
    size: u32,
    seed: u64,
) -> Option<Vec<(Vec<u8>, String)>> {
    use super::{Gender, SyntheticFaces, SyntheticObjects};
    let count = count.clamp(1, 1024);
    let tiles: Vec<(Vec<u8>, String)> = match kind {
        "synthetic-faces" => {
            // Several images of each person, so identity consistency is visible too.
            let per = 4;
            let faces = SyntheticFaces::new(count.div_ceil(per) as u32, per as u32, seed);
            (0..count)
                .map(|i| {
                    let l = faces.label(i);
                    let g = if l.gender == Gender::Male { "m" } else { "f" };
                    (
                        faces.render(i, size),
                        format!("id{} {g} {}", l.identity, l.age),
                    )
                })
                .collect()
        }
        "synthetic-objects" => {
            let objects = SyntheticObjects::new(count.min(100) as u32, 1, seed);
            (0..count.min(objects.len()))
                .map(|i| {
                    (
                        objects.render(i, size),
                        objects.class_name(objects.label(i)),
                    )
                })
                .collect()
        }
        _ => return None,
    };
    Some(tiles)
}
