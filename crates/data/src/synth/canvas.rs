//! Drawing plumbing shared by faces and objects: a tiny-skia pixmap with a
//! unit-square coordinate system, colour helpers, backgrounds, lighting and
//! the final per-pixel noise pass that turns the pixmap into RGB8.

use tiny_skia::{
    Color, FillRule, GradientStop, LineCap, LineJoin, LinearGradient, Mask, Paint, Path,
    PathBuilder, Pixmap, Point, Rect, Shader, SpreadMode, Stroke, Transform,
};

use super::rng::{Rng, sin_cos_deg};

/// Linear-ish sRGB colour with channels in `0..=1`.
pub(crate) type Rgb = [f32; 3];

pub(crate) fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

pub(crate) fn scale(c: Rgb, k: f32) -> Rgb {
    [c[0] * k, c[1] * k, c[2] * k]
}

pub(crate) fn luma(c: Rgb) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

/// HSV to RGB with hue in degrees; used for backgrounds and object colours.
pub(crate) fn hsv(h: f32, s: f32, v: f32) -> Rgb {
    let h = h.rem_euclid(360.0) / 60.0;
    let i = h.floor();
    let f = h - i;
    let p = v * (1.0 - s);
    let q = v * (1.0 - s * f);
    let t = v * (1.0 - s * (1.0 - f));
    match i as u32 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

fn to_color(c: Rgb, alpha: f32) -> Color {
    let q = |x: f32| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
    Color::from_rgba8(q(c[0]), q(c[1]), q(c[2]), q(alpha))
}

/// A square pixmap plus the transform from drawing units to pixels.
///
/// Drawing code works in the unit square `[0, 1]²` so the same scene renders
/// at any size; `transform` additionally carries pose jitter.
pub(crate) struct Canvas {
    pub(crate) pixmap: Pixmap,
    pub(crate) size: u32,
    pub(crate) transform: Transform,
}

impl Canvas {
    /// # Panics
    /// If `size` is zero (tiny-skia cannot allocate an empty pixmap).
    pub(crate) fn new(size: u32) -> Self {
        assert!(size > 0, "image size must be at least 1 pixel");
        let pixmap = Pixmap::new(size, size).expect("non-zero size checked above");
        let s = size as f32;
        Self {
            pixmap,
            size,
            transform: Transform::from_scale(s, s),
        }
    }

    /// Pixel transform for the unit square rotated by `deg` around its
    /// centre, scaled by `k` and shifted by `(dx, dy)` units. Built from our
    /// own sine so it does not depend on the platform libm.
    pub(crate) fn posed(size: u32, deg: f32, k: f32, dx: f32, dy: f32) -> Transform {
        let s = size as f32;
        let (sn, cs) = sin_cos_deg(deg);
        let (a, b) = (s * k * cs, s * k * sn);
        Transform::from_row(
            a,
            b,
            -b,
            a,
            s * (0.5 + dx) - (a * 0.5 - b * 0.5),
            s * (0.5 + dy) - (b * 0.5 + a * 0.5),
        )
    }

    pub(crate) fn fill(&mut self, path: &Path, c: Rgb, alpha: f32) {
        self.fill_with(path, c, alpha, self.transform);
    }

    pub(crate) fn fill_with(&mut self, path: &Path, c: Rgb, alpha: f32, t: Transform) {
        let mut paint = Paint::default();
        paint.set_color(to_color(c, alpha));
        self.pixmap
            .fill_path(path, &paint, FillRule::Winding, t, None);
    }

    /// A clip mask of `path` under the current transform, for drawing inside
    /// a shape (iris inside the eye, textures inside an object).
    pub(crate) fn mask_of(&self, path: &Path, t: Transform) -> Option<Mask> {
        let mut mask = Mask::new(self.size, self.size)?;
        mask.fill_path(path, FillRule::Winding, true, t);
        Some(mask)
    }

    pub(crate) fn fill_masked(
        &mut self,
        path: &Path,
        c: Rgb,
        alpha: f32,
        t: Transform,
        mask: &Mask,
    ) {
        let mut paint = Paint::default();
        paint.set_color(to_color(c, alpha));
        self.pixmap
            .fill_path(path, &paint, FillRule::Winding, t, Some(mask));
    }

    pub(crate) fn fill_shader(&mut self, path: &Path, shader: Shader<'_>, t: Transform) {
        let paint = Paint {
            shader,
            ..Paint::default()
        };
        self.pixmap
            .fill_path(path, &paint, FillRule::Winding, t, None);
    }

    /// Strokes with round caps; `width` is in drawing units.
    pub(crate) fn stroke(&mut self, path: &Path, c: Rgb, alpha: f32, width: f32) {
        self.stroke_with(path, c, alpha, width, self.transform);
    }

    pub(crate) fn stroke_with(
        &mut self,
        path: &Path,
        c: Rgb,
        alpha: f32,
        width: f32,
        t: Transform,
    ) {
        let mut paint = Paint::default();
        paint.set_color(to_color(c, alpha));
        let stroke = Stroke {
            width,
            line_cap: LineCap::Round,
            line_join: LineJoin::Round,
            ..Stroke::default()
        };
        self.pixmap.stroke_path(path, &paint, &stroke, t, None);
    }

    pub(crate) fn ellipse(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, c: Rgb, alpha: f32) {
        if let Some(p) = ellipse_path(cx, cy, rx, ry) {
            self.fill(&p, c, alpha);
        }
    }

    /// Converts to RGB8, applying a per-image colour gain and additive
    /// triangular noise of roughly `sigma` levels. Noise is drawn from its own
    /// stream so it never perturbs the scene parameters.
    pub(crate) fn finish(self, gain: Rgb, sigma: f32, rng: &mut Rng) -> Vec<u8> {
        let data = self.pixmap.data();
        let mut out = Vec::with_capacity(data.len() / 4 * 3);
        // Two 8-bit uniforms per channel (one u64 per pixel) sum to a
        // triangular variable on [-1, 1) with sd 1/sqrt(6) ≈ 0.408.
        let amp = sigma / 0.408 / 256.0;
        // Pixels are opaque (backgrounds fill everything), so premultiplied
        // data already is straight RGB.
        for px in data.chunks_exact(4) {
            let bits = rng.next_u64();
            for (ch, &g) in gain.iter().enumerate() {
                let u1 = ((bits >> (16 * ch)) & 0xFF) as f32;
                let u2 = ((bits >> (16 * ch + 8)) & 0xFF) as f32;
                let x = f32::from(px[ch]) * g + (u1 + u2 - 255.0) * amp;
                // Truncation after +0.5 rounds; cheaper than `round`.
                out.push((x.clamp(0.0, 255.0) + 0.5) as u8);
            }
        }
        out
    }
}

/// Rotation by `deg` degrees about `(px, py)`.
pub(crate) fn rotate_about(deg: f32, px: f32, py: f32) -> Transform {
    let (s, c) = sin_cos_deg(deg);
    Transform::from_row(c, s, -s, c, px - c * px + s * py, py - s * px - c * py)
}

pub(crate) fn ellipse_path(cx: f32, cy: f32, rx: f32, ry: f32) -> Option<Path> {
    let rect = Rect::from_xywh(cx - rx, cy - ry, 2.0 * rx, 2.0 * ry)?;
    PathBuilder::from_oval(rect)
}

pub(crate) fn rect_path(x: f32, y: f32, w: f32, h: f32) -> Option<Path> {
    Some(PathBuilder::from_rect(Rect::from_xywh(x, y, w, h)?))
}

pub(crate) fn linear(
    p0: (f32, f32),
    p1: (f32, f32),
    stops: &[(f32, Rgb, f32)],
) -> Option<Shader<'static>> {
    let stops = stops
        .iter()
        .map(|&(pos, c, a)| GradientStop::new(pos, to_color(c, a)))
        .collect();
    LinearGradient::new(
        Point::from_xy(p0.0, p0.1),
        Point::from_xy(p1.0, p1.1),
        stops,
        SpreadMode::Pad,
        Transform::identity(),
    )
}

/// A random background: solid or two-colour gradient, sometimes overlaid
/// with stripes, dots or soft blobs. `avoid` pushes its lightness away from
/// the subject so the subject stays visible.
pub(crate) fn background(canvas: &mut Canvas, rng: &mut Rng, avoid: Option<f32>) {
    let mut v = rng.range(0.25, 0.95);
    if let Some(l) = avoid
        && (v - l).abs() < 0.2
    {
        v = if l > 0.5 { v - 0.35 } else { v + 0.3 }.clamp(0.1, 1.0);
    }
    let c0 = hsv(rng.range(0.0, 360.0), rng.range(0.0, 0.6), v);
    let c1 = mix(
        c0,
        hsv(
            rng.range(0.0, 360.0),
            rng.range(0.0, 0.6),
            rng.range(0.2, 1.0),
        ),
        0.6,
    );
    let t = canvas.transform;
    let Some(full) = rect_path(0.0, 0.0, 1.0, 1.0) else {
        return;
    };
    let kind = rng.weighted(&[0.45, 0.4, 0.15]);
    let gradient = (kind == 1).then(|| {
        let (s, c) = sin_cos_deg(rng.range(0.0, 360.0));
        linear(
            (0.5 - 0.5 * c, 0.5 - 0.5 * s),
            (0.5 + 0.5 * c, 0.5 + 0.5 * s),
            &[(0.0, c0, 1.0), (1.0, c1, 1.0)],
        )
    });
    match gradient.flatten() {
        Some(shader) => canvas.fill_shader(&full, shader, t),
        None => canvas.fill_with(&full, c0, 1.0, t),
    }
    if kind == 2 {
        texture(canvas, rng, c1);
    }
}

fn texture(canvas: &mut Canvas, rng: &mut Rng, c: Rgb) {
    let t = canvas.transform;
    let alpha = rng.range(0.2, 0.5);
    let mut pb = PathBuilder::new();
    match rng.below(3) {
        0 => {
            let period = rng.range(0.06, 0.16);
            let mut x = -1.0;
            while x < 2.0 {
                if let Some(r) = Rect::from_xywh(x, -1.0, period * 0.5, 3.0) {
                    pb.push_rect(r);
                }
                x += period;
            }
        }
        1 => {
            let period = rng.range(0.08, 0.16);
            let r = period * rng.range(0.15, 0.35);
            let mut y = period * 0.5;
            while y < 1.0 {
                let mut x = period * 0.5;
                while x < 1.0 {
                    pb.push_circle(x, y, r);
                    x += period;
                }
                y += period;
            }
        }
        _ => {
            for _ in 0..6 {
                let (x, y) = (rng.unit(), rng.unit());
                let r = rng.range(0.05, 0.2);
                pb.push_circle(x, y, r);
            }
        }
    }
    let Some(path) = pb.finish() else { return };
    let rot = rotate_about(rng.range(0.0, 180.0), 0.5, 0.5);
    canvas.fill_with(&path, c, alpha, t.pre_concat(rot));
}

/// Directional light: a translucent white-to-black gradient across the whole
/// image, so shading varies with no relation to the labels.
pub(crate) fn lighting(canvas: &mut Canvas, rng: &mut Rng) {
    let (s, c) = sin_cos_deg(rng.range(0.0, 360.0));
    let lit = rng.range(0.0, 0.3);
    let dark = rng.range(0.0, 0.4);
    let warm = [1.0, rng.range(0.85, 1.0), rng.range(0.7, 1.0)];
    let Some(shader) = linear(
        (0.5 - 0.6 * c, 0.5 - 0.6 * s),
        (0.5 + 0.6 * c, 0.5 + 0.6 * s),
        &[
            (0.0, warm, lit),
            (0.5, [0.5; 3], 0.0),
            (1.0, [0.0; 3], dark),
        ],
    ) else {
        return;
    };
    let Some(full) = rect_path(0.0, 0.0, 1.0, 1.0) else {
        return;
    };
    let s = canvas.size as f32;
    canvas.fill_shader(&full, shader, Transform::from_scale(s, s));
}
