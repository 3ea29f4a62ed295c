//! Scalp and facial hair: styles, greying, baldness and beards.
//!
//! Hair is the strongest identity cue at low resolution (colour, outline), so
//! random details such as curl positions come from the identity's own stream
//! and look the same in every image of a person.

use tiny_skia::{Path, PathBuilder};

use super::canvas::{Canvas, Rgb, mix, scale};
use super::faces::Geom;
use super::parts::skin_at;
use super::rng::{Rng, lerp, smoothstep, stream};
use super::traits::{AgeShape, FacialHair, HairStyle, Identity, Shot, greyed, hair_density};

fn colour(who: &Identity, a: &AgeShape) -> Rgb {
    greyed(who.hair_colour, a.grey)
}

/// Hair grows over the first decade, so long styles start short.
fn length(age: u8) -> f32 {
    (0.2 + f32::from(age) / 10.0).min(1.0)
}

/// Hair behind the head: long and bob curtains, curly volume, ponytail.
pub(crate) fn back(c: &mut Canvas, who: &Identity, a: &AgeShape, shot: &Shot, g: &Geom) {
    let col = scale(colour(who, a), 0.85);
    let alpha = hair_density(shot.age);
    let (cx, cy, rx, ry) = (g.cx, g.cy, g.rx, g.ry);
    let len = length(shot.age);
    match who.hair_style {
        HairStyle::Long | HairStyle::Bob => {
            let (bottom, wide) = if who.hair_style == HairStyle::Long {
                (lerp(0.2, 1.45, len), 1.3)
            } else {
                (lerp(0.1, 0.5, len), 1.2)
            };
            let y_end = cy + ry * bottom;
            let w = rx * wide * who.hair_volume;
            let mut pb = PathBuilder::new();
            pb.move_to(cx - w, y_end);
            pb.line_to(cx - w * 1.02, cy);
            pb.cubic_to(
                cx - w,
                cy - ry * 0.75,
                cx - w * 0.55,
                cy - ry * 1.14,
                cx,
                cy - ry * 1.14,
            );
            pb.cubic_to(
                cx + w * 0.55,
                cy - ry * 1.14,
                cx + w,
                cy - ry * 0.75,
                cx + w * 1.02,
                cy,
            );
            pb.line_to(cx + w, y_end);
            pb.quad_to(cx, y_end + ry * 0.12, cx - w, y_end);
            pb.close();
            if let Some(p) = pb.finish() {
                c.fill(&p, col, alpha);
            }
        }
        HairStyle::Curly => {
            let mut r = Rng::from_words(&[who.marks_seed, stream::HAIR, 1]);
            let reach = lerp(0.0, 0.55, len);
            for k in 0..16 {
                let t = k as f32 / 15.0;
                let side = if k % 2 == 0 { -1.0 } else { 1.0 };
                let x = cx + side * rx * (0.95 + r.range(0.0, 0.3));
                let y = cy - ry * 0.6 + ry * (0.6 + reach) * t;
                let rad = rx * r.range(0.22, 0.32);
                c.ellipse(x, y, rad, rad, col, alpha);
            }
        }
        HairStyle::Ponytail => {
            let side = if who.marks_seed & 1 == 0 { -1.0 } else { 1.0 };
            let x = cx + side * rx * 1.12;
            c.ellipse(
                x,
                cy + ry * lerp(0.1, 0.55, len),
                rx * 0.26,
                ry * lerp(0.15, 0.55, len),
                col,
                alpha,
            );
        }
        _ => {}
    }
}

fn volume(style: HairStyle) -> f32 {
    match style {
        HairStyle::Buzz => 1.0,
        HairStyle::Short | HairStyle::Bun | HairStyle::Ponytail => 1.04,
        HairStyle::SidePart | HairStyle::Long | HairStyle::Bob => 1.07,
        HairStyle::Curly => 1.12,
    }
}

/// The hair covering the cranium down to the hairline.
fn cap_path(who: &Identity, a: &AgeShape, g: &Geom, vol: f32) -> Option<Path> {
    let (cx, cy, rx, ry) = (g.cx, g.cy, g.rx, g.ry);
    let long_sides = matches!(
        who.hair_style,
        HairStyle::Long | HairStyle::Bob | HairStyle::Curly
    );
    let side_y = if long_sides {
        cy + ry * 0.25
    } else {
        g.eye_y - ry * 0.12
    };
    let orx = rx * 1.05 * vol;
    let top = cy - ry * (1.0 + 0.07 * vol * vol * vol);
    let fringe = if who.fringe {
        1.0 - smoothstep(0.1, 0.4, a.recession)
    } else {
        0.0
    };
    let mid_y = lerp(g.hairline_y, g.brow_y - ry * 0.1, fringe);
    // Temples recede faster than the centre: the M-shaped hairline.
    let temple_y =
        lerp(g.hairline_y + ry * 0.12, mid_y + ry * 0.02, fringe) - ry * 0.3 * a.recession;
    let part = match who.hair_style {
        HairStyle::SidePart => rx * 0.25,
        _ => 0.0,
    };
    let mut pb = PathBuilder::new();
    pb.move_to(cx - orx, side_y);
    pb.cubic_to(cx - orx * 1.02, cy - ry * 0.7, cx - orx * 0.6, top, cx, top);
    pb.cubic_to(
        cx + orx * 0.6,
        top,
        cx + orx * 1.02,
        cy - ry * 0.7,
        cx + orx,
        side_y,
    );
    // Back along the inner hairline, right to left.
    pb.line_to(cx + rx * 0.96, side_y);
    pb.quad_to(
        cx + rx * 0.98,
        temple_y + ry * 0.1,
        cx + rx * 0.72,
        temple_y,
    );
    pb.cubic_to(
        cx + rx * 0.45,
        mid_y - ry * 0.02,
        cx + part + rx * 0.2,
        mid_y,
        cx + part,
        mid_y + ry * 0.02 * fringe,
    );
    pb.cubic_to(
        cx + part - rx * 0.2,
        mid_y,
        cx - rx * 0.45,
        mid_y - ry * 0.02,
        cx - rx * 0.72,
        temple_y,
    );
    pb.quad_to(cx - rx * 0.98, temple_y + ry * 0.1, cx - rx * 0.96, side_y);
    pb.close();
    pb.finish()
}

pub(crate) fn cap(c: &mut Canvas, who: &Identity, a: &AgeShape, g: &Geom, age: u8) {
    let col = colour(who, a);
    let density = hair_density(age);
    let vol = volume(who.hair_style) * who.hair_volume;
    let (cx, cy, rx, ry) = (g.cx, g.cy, g.rx, g.ry);
    if who.hair_style == HairStyle::Bun {
        c.ellipse(
            cx,
            cy - ry * 1.05,
            rx * 0.36,
            rx * 0.32,
            scale(col, 0.9),
            density,
        );
    }
    // Past ~55% recession the crown thins out, leaving a horseshoe.
    let thin = smoothstep(0.5, 1.0, a.recession);
    let buzz = if who.hair_style == HairStyle::Buzz {
        0.35
    } else {
        0.0
    };
    let top_alpha = density * (1.0 - 0.85 * thin) * (1.0 - buzz * 0.4);
    let top_col = mix(col, skin_at(who, a), buzz);
    if let Some(p) = cap_path(who, a, g, vol) {
        c.fill(&p, top_col, top_alpha);
    }
    if thin > 0.0 {
        for side in [-1.0f32, 1.0] {
            c.ellipse(
                cx + side * rx * 0.95,
                g.eye_y - ry * 0.3,
                rx * 0.15,
                ry * 0.3,
                top_col,
                density * thin,
            );
        }
    }
    if who.hair_style == HairStyle::Curly {
        let mut r = Rng::from_words(&[who.marks_seed, stream::HAIR, 2]);
        for k in 0..11 {
            let t = k as f32 / 10.0;
            let x = cx + rx * 1.0 * vol * (t * 2.0 - 1.0);
            let y = cy - ry * (0.6 + 0.42 * (1.0 - (t * 2.0 - 1.0) * (t * 2.0 - 1.0)));
            let rad = rx * r.range(0.18, 0.26);
            c.ellipse(x, y, rad, rad, scale(col, r.range(0.85, 1.1)), top_alpha);
        }
    }
    if who.hair_style == HairStyle::SidePart && thin < 0.5 {
        let mut pb = PathBuilder::new();
        pb.move_to(cx + rx * 0.25, g.hairline_y + ry * 0.02);
        pb.line_to(cx + rx * 0.3, cy - ry * 0.92);
        if let Some(p) = pb.finish() {
            c.stroke(&p, scale(col, 0.6), top_alpha * 0.7, rx * 0.04);
        }
    }
}

/// Beard shape from sideburns round the jaw, with the cheeks and the mouth
/// region left open; `drop` extends it below the chin.
fn beard_path(g: &Geom, drop: f32) -> Option<Path> {
    let (cx, cy, rx, ry) = (g.cx, g.cy, g.rx, g.ry);
    let mx = cx + g.fx * 1.2;
    let top = g.eye_y + ry * 0.08;
    let (jx, jy) = (g.jaw_w * rx * 1.03, cy + g.jaw_y * ry + ry * 0.03);
    let chin = cy + ry * (1.03 + drop);
    let mut pb = PathBuilder::new();
    pb.move_to(cx - rx * 0.99, top);
    pb.cubic_to(
        cx - rx * 1.01,
        cy + ry * 0.25,
        cx - jx - rx * 0.05,
        jy - ry * 0.1,
        cx - jx,
        jy,
    );
    pb.cubic_to(cx - jx * 0.9, chin, cx - g.chin_w * rx, chin, cx, chin);
    pb.cubic_to(cx + g.chin_w * rx, chin, cx + jx * 0.9, chin, cx + jx, jy);
    pb.cubic_to(
        cx + jx + rx * 0.05,
        jy - ry * 0.1,
        cx + rx * 1.01,
        cy + ry * 0.25,
        cx + rx * 0.99,
        top,
    );
    pb.line_to(cx + rx * 0.86, top);
    pb.quad_to(
        cx + rx * 0.75,
        g.nose_y,
        mx + g.mouth_w * 1.2,
        g.mouth_y - g.lip_up,
    );
    pb.quad_to(
        mx,
        g.nose_y - g.ry * 0.02,
        mx - g.mouth_w * 1.2,
        g.mouth_y - g.lip_up,
    );
    pb.quad_to(cx - rx * 0.75, g.nose_y, cx - rx * 0.86, top);
    pb.close();
    pb.finish()
}

fn moustache_path(g: &Geom) -> Option<Path> {
    let mx = g.cx + g.fx * 1.2;
    let (w, low) = (g.mouth_w * 1.1, g.mouth_y - g.lip_up * 0.6);
    let high = g.nose_y + g.nose_w * 0.35;
    let mut pb = PathBuilder::new();
    pb.move_to(mx - w, low + g.lip_up * 0.6);
    pb.quad_to(mx - w * 0.7, high, mx, high);
    pb.quad_to(mx + w * 0.7, high, mx + w, low + g.lip_up * 0.6);
    pb.quad_to(mx, low - g.lip_up * 0.5, mx - w, low + g.lip_up * 0.6);
    pb.close();
    pb.finish()
}

fn goatee_path(g: &Geom) -> Option<Path> {
    let mx = g.cx + g.fx * 1.1;
    let (top, w) = (g.mouth_y + g.lip_low * 1.2, g.mouth_w * 0.6);
    let bottom = g.cy + g.ry * 1.06;
    let mut pb = PathBuilder::new();
    pb.move_to(mx - w, top);
    pb.quad_to(mx, top + g.ry * 0.04, mx + w, top);
    pb.quad_to(mx + w, bottom, mx, bottom);
    pb.quad_to(mx - w, bottom, mx - w, top);
    pb.close();
    pb.finish()
}

/// Drawn before nose and mouth so that they stay visible through the beard.
pub(crate) fn facial(c: &mut Canvas, who: &Identity, shot: &Shot, g: &Geom, a: &AgeShape) {
    let Some((kind, density)) = shot.facial_hair else {
        return;
    };
    // Beards grey a little earlier than scalp hair.
    let col = scale(greyed(who.hair_colour, (a.grey * 1.2).min(1.0)), 0.8);
    let stubble = mix(skin_at(who, a), col, 0.6);
    match kind {
        FacialHair::Stubble => {
            if let Some(p) = beard_path(g, 0.0) {
                c.fill(&p, stubble, 0.45 * density);
            }
        }
        FacialHair::FullBeard => {
            if let Some(p) = beard_path(g, 0.1 * density) {
                c.fill(&p, col, 0.95 * density);
            }
        }
        FacialHair::Moustache | FacialHair::Goatee => {
            if let Some(p) = beard_path(g, 0.0) {
                c.fill(&p, stubble, 0.15 * density);
            }
            if let Some(p) = moustache_path(g) {
                c.fill(&p, col, 0.95 * density);
            }
            if kind == FacialHair::Goatee
                && let Some(p) = goatee_path(g)
            {
                c.fill(&p, col, 0.95 * density);
            }
        }
    }
}
