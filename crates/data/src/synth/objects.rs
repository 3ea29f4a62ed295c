//! General-purpose, non-face classes for the `general` pretraining stage:
//! a shape filled with a texture, in a colour scheme when there are more
//! classes than shape × texture pairs.
//!
//! Class `c` is shape `c % 10`, texture `(c / 10) % 6` and colour scheme
//! `c / 60`, so the first classes differ by shape, the next by texture, and
//! colour only separates classes once those run out.

use tiny_skia::{Path, PathBuilder, Transform};

use super::canvas::{self, Canvas, Rgb, hsv, linear, luma, rect_path, rotate_about};
use super::rng::{Rng, stream};

const SHAPES: [&str; 10] = [
    "circle", "square", "triangle", "star", "ring", "cross", "hexagon", "crescent", "arrow",
    "heart",
];
const TEXTURES: [&str; 6] = [
    "solid", "striped", "dotted", "checker", "gradient", "ringed",
];
const PAIRS: u32 = (SHAPES.len() * TEXTURES.len()) as u32;
const HUE_NAMES: [&str; 12] = [
    "red", "orange", "yellow", "lime", "green", "teal", "cyan", "azure", "blue", "violet",
    "magenta", "rose",
];
const TONES: [&str; 3] = ["dark", "light", "grey"];
/// Most classes supported; beyond this colour bins get too fine to tell apart.
const MAX_CLASSES: u32 = 10_000;

/// General-purpose, non-face classes (shapes, textures) for the `general`
/// pretraining stage.
#[derive(Debug, Clone)]
pub struct SyntheticObjects {
    classes: u32,
    images_per_class: u32,
    seed: u64,
}

/// The colour constraints of one class; `None` fields are free per image.
#[derive(Debug, Clone, Copy)]
struct Scheme {
    /// `(bin, bins)`: foreground hue restricted to bin `bin` of `bins`.
    hue: Option<(u32, u32)>,
    tone: Option<u32>,
    /// `(bin, bins)`: background hue bin.
    back_hue: Option<(u32, u32)>,
}

impl SyntheticObjects {
    /// `classes` must be in `1..=10_000`.
    ///
    /// # Panics
    /// If `classes` is outside `1..=10_000`.
    pub fn new(classes: u32, images_per_class: u32, seed: u64) -> Self {
        assert!(
            (1..=MAX_CLASSES).contains(&classes),
            "SyntheticObjects supports 1..={MAX_CLASSES} classes, got {classes}"
        );
        Self {
            classes,
            images_per_class,
            seed,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        (u64::from(self.classes) * u64::from(self.images_per_class)) as usize
    }

    /// Whether the set has no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Class of image `index` (class-major: image i is of class
    /// `i / images_per_class`).
    ///
    /// # Panics
    /// If `index >= self.len()`.
    pub fn label(&self, index: usize) -> u32 {
        assert!(
            index < self.len(),
            "object index {index} out of range for {} images",
            self.len()
        );
        (index / self.images_per_class as usize) as u32
    }

    /// Human-readable class name such as `"striped-star"`, or
    /// `"striped-star-blue-on-light"` when colour is part of the class.
    pub fn class_name(&self, class: u32) -> String {
        let shape = SHAPES[(class % 10) as usize];
        let texture = TEXTURES[(class / 10 % 6) as usize];
        let mut name = format!("{texture}-{shape}");
        let s = self.scheme(class);
        if let Some((bin, bins)) = s.hue {
            let centre = (bin as f32 + 0.5) * 360.0 / bins as f32;
            let i = ((centre / 30.0).round() as usize) % HUE_NAMES.len();
            name.push('-');
            name.push_str(HUE_NAMES[i]);
        }
        if let Some(t) = s.tone {
            name.push_str("-on-");
            name.push_str(TONES[t as usize]);
        }
        if let Some((bin, _)) = s.back_hue {
            name.push_str(&format!("-bg{bin}"));
        }
        name
    }

    fn scheme(&self, class: u32) -> Scheme {
        let schemes = self.classes.div_ceil(PAIRS);
        if schemes <= 1 {
            return Scheme {
                hue: None,
                tone: None,
                back_hue: None,
            };
        }
        let k = class / PAIRS;
        let hues = schemes.min(12);
        let back_bins = schemes.div_ceil(hues * 3);
        Scheme {
            hue: Some((k % hues, hues)),
            tone: (schemes > hues).then_some(k / hues % 3),
            back_hue: (back_bins > 1).then_some((k / (hues * 3), back_bins)),
        }
    }

    /// Image `index` rendered at `size x size`, RGB8 row-major HWC.
    ///
    /// # Panics
    /// If `index >= self.len()` or `size == 0`.
    pub fn render(&self, index: usize, size: u32) -> Vec<u8> {
        let class = self.label(index);
        let j = (index % self.images_per_class as usize) as u64;
        let mut r = Rng::from_words(&[self.seed, stream::OBJECT, u64::from(class), j]);
        let s = self.scheme(class);
        let hue_in = |r: &mut Rng, bin: Option<(u32, u32)>| match bin {
            Some((b, n)) => (b as f32 + r.range(0.15, 0.85)) * 360.0 / n as f32,
            None => r.range(0.0, 360.0),
        };
        let fg_hue = hue_in(&mut r, s.hue);
        let mut c = Canvas::new(size);
        let fg_value = match s.tone {
            Some(tone) => {
                let (lo, hi) = [(0.08, 0.3), (0.8, 0.97), (0.45, 0.6)][tone as usize];
                let bg = hsv(
                    hue_in(&mut r, s.back_hue),
                    r.range(0.0, 0.5),
                    r.range(lo, hi),
                );
                if let Some(p) = rect_path(0.0, 0.0, 1.0, 1.0) {
                    c.fill(&p, bg, 1.0);
                }
                if tone == 1 {
                    r.range(0.35, 0.65)
                } else {
                    r.range(0.8, 1.0)
                }
            }
            None => {
                let v = r.range(0.35, 1.0);
                canvas::background(&mut c, &mut r, Some(v));
                v
            }
        };
        let fg = hsv(fg_hue, r.range(0.55, 1.0), fg_value);
        let second = hsv(
            fg_hue + 180.0 + r.range(-25.0, 25.0),
            r.range(0.4, 1.0),
            if luma(fg) > 0.5 { 0.25 } else { 0.95 },
        );

        let radius = r.range(0.26, 0.4);
        let (x, y) = (
            0.5 + r.range(-0.5, 0.5) * (0.9 - 2.0 * radius),
            0.5 + r.range(-0.5, 0.5) * (0.9 - 2.0 * radius),
        );
        let local = Transform::from_row(radius, 0.0, 0.0, radius, x, y).pre_concat(rotate_about(
            r.range(0.0, 360.0),
            0.0,
            0.0,
        ));
        let t = c.transform.pre_concat(local);
        let Some(path) = shape(class % 10) else {
            return c.finish([1.0; 3], 3.0, &mut r);
        };
        draw_textured(&mut c, &path, class / 10 % 6, fg, second, t);
        let mut noise = Rng::from_words(&[self.seed, stream::NOISE, u64::from(class), j]);
        let sigma = noise.range(1.0, 6.0);
        c.finish([1.0; 3], sigma, &mut noise)
    }
}

fn draw_textured(c: &mut Canvas, path: &Path, texture: u32, fg: Rgb, second: Rgb, t: Transform) {
    if texture == 4 {
        if let Some(shader) = linear(
            (-1.0, 0.0),
            (1.0, 0.0),
            &[(0.0, fg, 1.0), (1.0, second, 1.0)],
        ) {
            c.fill_shader(path, shader, t);
        }
        return;
    }
    c.fill_with(path, fg, 1.0, t);
    let mut pb = PathBuilder::new();
    match texture {
        1 => {
            for k in -3..=3 {
                if let Some(r) = tiny_skia::Rect::from_xywh(k as f32 * 0.4 - 0.1, -1.5, 0.2, 3.0) {
                    pb.push_rect(r);
                }
            }
        }
        2 => {
            for i in -3..=3 {
                for j in -3..=3 {
                    pb.push_circle(i as f32 * 0.42, j as f32 * 0.42, 0.12);
                }
            }
        }
        3 => {
            for i in -3i32..3 {
                for j in -3i32..3 {
                    if (i + j).rem_euclid(2) == 0
                        && let Some(r) =
                            tiny_skia::Rect::from_xywh(i as f32 * 0.42, j as f32 * 0.42, 0.42, 0.42)
                    {
                        pb.push_rect(r);
                    }
                }
            }
        }
        5 => {
            for k in 1..=3 {
                let r = k as f32 * 0.3;
                pb.push_circle(0.0, 0.0, r);
                reverse_circle(&mut pb, r - 0.13);
            }
        }
        _ => return,
    }
    let (Some(pattern), Some(mask)) = (pb.finish(), c.mask_of(path, t)) else {
        return;
    };
    c.fill_masked(&pattern, second, 1.0, t, &mask);
}

/// A circle wound the opposite way from `push_circle`, so that under the
/// non-zero rule it cuts a hole.
fn reverse_circle(pb: &mut PathBuilder, r: f32) {
    let k = 0.5523 * r;
    pb.move_to(r, 0.0);
    pb.cubic_to(r, -k, k, -r, 0.0, -r);
    pb.cubic_to(-k, -r, -r, -k, -r, 0.0);
    pb.cubic_to(-r, k, -k, r, 0.0, r);
    pb.cubic_to(k, r, r, k, r, 0.0);
    pb.close();
}

fn polygon(pb: &mut PathBuilder, points: &[(f32, f32)]) {
    for (i, &(x, y)) in points.iter().enumerate() {
        if i == 0 {
            pb.move_to(x, y);
        } else {
            pb.line_to(x, y);
        }
    }
    pb.close();
}

fn regular(n: u32, r: f32, inner: Option<f32>) -> Vec<(f32, f32)> {
    let steps = if inner.is_some() { 2 * n } else { n };
    (0..steps)
        .map(|i| {
            let rad = if i % 2 == 1 { inner.unwrap_or(r) } else { r };
            let (s, c) = super::rng::sin_cos_deg(i as f32 * 360.0 / steps as f32 - 90.0);
            (rad * c, rad * s)
        })
        .collect()
}

/// Shape `i` in local coordinates: centred on the origin, radius about 1.
fn shape(i: u32) -> Option<Path> {
    let mut pb = PathBuilder::new();
    match i {
        0 => pb.push_circle(0.0, 0.0, 1.0),
        1 => pb.push_rect(tiny_skia::Rect::from_xywh(-0.82, -0.82, 1.64, 1.64)?),
        2 => polygon(&mut pb, &regular(3, 1.1, None)),
        3 => polygon(&mut pb, &regular(5, 1.1, Some(0.45))),
        4 => {
            pb.push_circle(0.0, 0.0, 1.0);
            reverse_circle(&mut pb, 0.55);
        }
        5 => {
            let (a, b) = (0.32, 1.0);
            polygon(
                &mut pb,
                &[
                    (-a, -b),
                    (a, -b),
                    (a, -a),
                    (b, -a),
                    (b, a),
                    (a, a),
                    (a, b),
                    (-a, b),
                    (-a, a),
                    (-b, a),
                    (-b, -a),
                    (-a, -a),
                ],
            );
        }
        6 => polygon(&mut pb, &regular(6, 1.0, None)),
        7 => {
            let k = 0.5523;
            pb.move_to(0.3, -1.0);
            pb.cubic_to(0.3 - k, -1.0, -0.7, -k, -0.7, 0.0);
            pb.cubic_to(-0.7, k, 0.3 - k, 1.0, 0.3, 1.0);
            pb.cubic_to(0.3 - 0.45 * k, 0.8, -0.15, 0.45 * k, -0.15, 0.0);
            pb.cubic_to(-0.15, -0.45 * k, 0.3 - 0.45 * k, -0.8, 0.3, -1.0);
            pb.close();
        }
        8 => polygon(
            &mut pb,
            &[
                (-1.0, -0.25),
                (0.2, -0.25),
                (0.2, -0.7),
                (1.0, 0.0),
                (0.2, 0.7),
                (0.2, 0.25),
                (-1.0, 0.25),
            ],
        ),
        _ => {
            pb.move_to(0.0, 1.0);
            pb.cubic_to(-0.6, 0.55, -1.1, 0.1, -1.0, -0.4);
            pb.cubic_to(-0.9, -1.0, -0.15, -1.05, 0.0, -0.45);
            pb.cubic_to(0.15, -1.05, 0.9, -1.0, 1.0, -0.4);
            pb.cubic_to(1.1, 0.1, 0.6, 0.55, 0.0, 1.0);
            pb.close();
        }
    }
    pb.finish()
}
