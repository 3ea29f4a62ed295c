//! Occasional occluders (about one image in ten): glasses, sunglasses, a
//! hat, a hand or a bar across the face. They carry no label information and
//! teach models not to rely on any single region.

use tiny_skia::PathBuilder;

use super::canvas::{Canvas, Rgb, ellipse_path, hsv, rect_path, rotate_about, scale};
use super::faces::Geom;
use super::rng::Rng;

const FRAMES: [Rgb; 4] = [
    [0.05, 0.05, 0.05],
    [0.45, 0.3, 0.15],
    [0.7, 0.7, 0.72],
    [0.6, 0.1, 0.1],
];

/// Fraction of face images with an occluder.
const OCCLUDED: f32 = 0.1;

pub(crate) fn maybe_occlude(c: &mut Canvas, r: &mut Rng, g: &Geom) {
    if !r.chance(OCCLUDED) {
        return;
    }
    let colour = hsv(r.range(0.0, 360.0), r.range(0.0, 0.8), r.range(0.05, 0.9));
    match r.weighted(&[0.35, 0.15, 0.2, 0.15, 0.15]) {
        0 => glasses(c, g, *r.choice(&FRAMES), false),
        1 => glasses(c, g, [0.05, 0.05, 0.07], true),
        2 => hat(c, g, colour, r),
        3 => hand(c, g, r),
        _ => bar(c, g, colour, r),
    }
}

fn glasses(c: &mut Canvas, g: &Geom, frame: Rgb, dark: bool) {
    let rad = g.eye_w * 1.6;
    let width = g.rx * 0.045;
    let y = g.eye_y;
    for side in [-1.0f32, 1.0] {
        let x = g.cx + g.fx + side * g.eye_dx;
        if let Some(p) = ellipse_path(x, y, rad, rad * 0.8) {
            if dark {
                c.fill(&p, [0.08, 0.08, 0.1], 0.92);
            }
            c.stroke(&p, frame, 1.0, width);
        }
        let mut arm = PathBuilder::new();
        arm.move_to(x + side * rad, y - rad * 0.2);
        arm.line_to(g.cx + side * g.rx * 1.0, y - rad * 0.3);
        if let Some(p) = arm.finish() {
            c.stroke(&p, frame, 1.0, width);
        }
    }
    let mut bridge = PathBuilder::new();
    bridge.move_to(g.cx + g.fx - g.eye_dx + rad, y - rad * 0.2);
    bridge.quad_to(
        g.cx + g.fx,
        y - rad * 0.6,
        g.cx + g.fx + g.eye_dx - rad,
        y - rad * 0.2,
    );
    if let Some(p) = bridge.finish() {
        c.stroke(&p, frame, 1.0, width);
    }
}

fn hat(c: &mut Canvas, g: &Geom, colour: Rgb, r: &mut Rng) {
    let (cx, cy, rx, ry) = (g.cx, g.cy, g.rx, g.ry);
    let brim_y = g.brow_y - ry * r.range(0.05, 0.25);
    let mut pb = PathBuilder::new();
    pb.move_to(cx - rx * 1.15, brim_y);
    pb.cubic_to(
        cx - rx * 1.15,
        cy - ry * 1.4,
        cx + rx * 1.15,
        cy - ry * 1.4,
        cx + rx * 1.15,
        brim_y,
    );
    pb.close();
    if let Some(p) = pb.finish() {
        c.fill(&p, colour, 1.0);
    }
    let brim = rx * r.range(1.2, 1.6);
    if let Some(p) = rect_path(cx - brim, brim_y - ry * 0.06, brim * 2.0, ry * 0.1) {
        c.fill(&p, scale(colour, 0.7), 1.0);
    }
}

fn hand(c: &mut Canvas, g: &Geom, r: &mut Rng) {
    // Somebody's hand: its skin tone is unrelated to the face's.
    let tone = r.range(0.0, 1.0);
    let skin = [0.95 - 0.6 * tone, 0.8 - 0.58 * tone, 0.68 - 0.52 * tone];
    let side = if r.chance(0.5) { -1.0f32 } else { 1.0 };
    let px = g.cx + side * g.rx * r.range(0.2, 0.6);
    let py = g.mouth_y + g.ry * r.range(0.0, 0.4);
    let t = c
        .transform
        .pre_concat(rotate_about(r.range(-30.0, 30.0), px, py));
    if let Some(p) = ellipse_path(px, py, g.rx * 0.45, g.ry * 0.32) {
        c.fill_with(&p, skin, 1.0, t);
    }
    for k in 0..4 {
        let fx = px + g.rx * (-0.33 + 0.22 * k as f32);
        let mut pb = PathBuilder::new();
        pb.move_to(fx, py);
        pb.line_to(fx, py - g.ry * r.range(0.4, 0.55));
        if let Some(p) = pb.finish() {
            c.stroke_with(&p, scale(skin, 0.97), 1.0, g.rx * 0.17, t);
        }
    }
}

fn bar(c: &mut Canvas, g: &Geom, colour: Rgb, r: &mut Rng) {
    let y = if r.chance(0.5) { g.eye_y } else { g.mouth_y };
    let h = g.ry * r.range(0.15, 0.3);
    if let Some(p) = rect_path(-0.5, y - h * 0.5, 2.0, h) {
        let t = c
            .transform
            .pre_concat(rotate_about(r.range(-20.0, 20.0), g.cx, y));
        c.fill_with(&p, colour, 1.0, t);
    }
}
