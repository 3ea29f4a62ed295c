//! Skin marks: wrinkles, under-eye bags, age spots and moles.
//!
//! Every wrinkle fades in over one to three decades (smoothstep on the
//! person's skin age), so the number and contrast of lines grow continuously
//! rather than switching on at fixed ages.

use tiny_skia::PathBuilder;

use super::canvas::{Canvas, Rgb, scale};
use super::faces::Geom;
use super::parts::skin_at;
use super::rng::{Rng, smoothstep, stream};
use super::traits::{AgeShape, Identity, Shot};

fn line(c: &mut Canvas, pts: [(f32, f32); 3], colour: Rgb, alpha: f32, width: f32) {
    if alpha < 0.01 {
        return;
    }
    let mut pb = PathBuilder::new();
    pb.move_to(pts[0].0, pts[0].1);
    pb.quad_to(pts[1].0, pts[1].1, pts[2].0, pts[2].1);
    if let Some(p) = pb.finish() {
        c.stroke(&p, colour, alpha, width);
    }
}

pub(crate) fn marks(c: &mut Canvas, who: &Identity, shot: &Shot, g: &Geom, a: &AgeShape) {
    let skin = skin_at(who, a);
    let crease = scale(skin, 0.55);
    let t = a.skin_age;
    let width = g.rx * (0.026 + 0.014 * a.old);
    let fx = g.cx + g.fx;

    // Forehead lines, the lowest first, fill in between brows and hairline.
    for i in 0..4 {
        let fi = i as f32;
        let alpha = 0.6 * smoothstep(28.0 + 9.0 * fi, 50.0 + 11.0 * fi, t);
        let y = g.brow_y - g.ry * (0.1 + 0.085 * fi);
        if y < g.hairline_y + g.ry * 0.04 {
            break;
        }
        let half = g.rx * (0.42 - 0.04 * fi);
        line(
            c,
            [
                (fx - half, y + g.ry * 0.015),
                (fx, y - g.ry * 0.03),
                (fx + half, y + g.ry * 0.015),
            ],
            crease,
            alpha,
            width,
        );
    }
    // Frown lines between the brows.
    let frown = 0.45 * smoothstep(40.0, 75.0, t);
    for side in [-1.0f32, 1.0] {
        let x = fx + side * g.rx * 0.07;
        line(
            c,
            [
                (x, g.brow_y - g.ry * 0.02),
                (x + side * g.rx * 0.01, g.brow_y + g.ry * 0.03),
                (x, g.brow_y + g.ry * 0.08),
            ],
            crease,
            frown,
            width * 0.8,
        );
    }
    for side in [-1.0f32, 1.0] {
        let ex = fx + side * g.eye_dx;
        let outer = ex + side * g.eye_w * 1.25;
        // Crow's feet: up to three short rays from the outer eye corner.
        for k in 0..3 {
            let fk = k as f32;
            let alpha = 0.55 * smoothstep(34.0 + 8.0 * fk, 60.0 + 8.0 * fk, t);
            let dy = (fk - 1.0) * g.eye_h * 1.1;
            let len = g.rx * 0.12;
            line(
                c,
                [
                    (outer, g.eye_y + dy * 0.4),
                    (outer + side * len * 0.5, g.eye_y + dy * 0.8),
                    (outer + side * len, g.eye_y + dy * 1.4),
                ],
                crease,
                alpha,
                width * 0.8,
            );
        }
        // Under-eye bags.
        let bag = 0.5 * smoothstep(36.0, 78.0, t);
        let by = g.eye_y + g.eye_h * 1.6;
        line(
            c,
            [
                (ex - g.eye_w * 0.8, by),
                (ex, by + g.eye_h * 1.1),
                (ex + g.eye_w * 0.8, by),
            ],
            crease,
            bag,
            width * 0.9,
        );
        // Nasolabial fold from the nose wing to past the mouth corner.
        let fold = 0.6 * smoothstep(26.0, 72.0, t)
            + 0.15 * shot.smile.max(0.0) * smoothstep(10.0, 30.0, t);
        let nx = g.cx + g.fx * 1.5 + side * g.nose_w * 1.15;
        let mx = g.cx + g.fx * 1.2 + side * (g.mouth_w + g.rx * 0.06);
        line(
            c,
            [
                (nx, g.nose_y - g.nose_w * 0.3),
                (
                    mx + side * g.rx * 0.04,
                    g.nose_y + (g.mouth_y - g.nose_y) * 0.5,
                ),
                (mx, g.mouth_y + g.ry * 0.05),
            ],
            crease,
            fold,
            width,
        );
        // Marionette lines and jowls in old age.
        let jowl = 0.5 * smoothstep(55.0, 88.0, t);
        line(
            c,
            [
                (mx - side * g.rx * 0.03, g.mouth_y + g.ry * 0.04),
                (mx, g.mouth_y + g.ry * 0.12),
                (mx + side * g.rx * 0.02, g.mouth_y + g.ry * 0.22),
            ],
            crease,
            jowl,
            width,
        );
    }

    // Spots and moles stay where they are for a person, so they are drawn
    // from the identity's own stream and only their number grows with age.
    let mut r = Rng::from_words(&[who.marks_seed, stream::MARKS]);
    let spots = (9.0 * smoothstep(50.0, 90.0, t)).round() as u32;
    let spot_colour = scale(skin, 0.68);
    for k in 0..9 {
        let (x, y) = (r.range(-0.75, 0.75), r.range(-0.8, 0.2));
        let rad = g.rx * r.range(0.025, 0.05);
        if k < spots {
            c.ellipse(
                g.cx + x * g.rx,
                g.cy + y * g.ry,
                rad,
                rad * 0.85,
                spot_colour,
                0.55,
            );
        }
    }
    if let Some((x, y)) = who.mole {
        c.ellipse(
            g.cx + x * g.rx,
            g.cy + y * g.ry,
            g.rx * 0.035,
            g.rx * 0.035,
            [0.25, 0.15, 0.1],
            0.85,
        );
    }
}
