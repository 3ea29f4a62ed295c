//! Statistics showing that age, gender and identity are visible in the
//! pixels: strong enough to learn, not so clean that learning is trivial.

use super::super::*;

fn mean_sq_dist(a: &[u8], b: &[u8]) -> f64 {
    let s: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    s / a.len() as f64
}

fn mean_image(images: &[Vec<u8>]) -> Vec<f64> {
    let mut acc = vec![0.0; images[0].len()];
    for im in images {
        for (a, &v) in acc.iter_mut().zip(im) {
            *a += f64::from(v);
        }
    }
    acc.iter().map(|a| a / images.len() as f64).collect()
}

fn mean_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64
}

#[test]
fn old_and_young_faces_differ_more_than_random_halves() {
    let f = SyntheticFaces::new(240, 1, 99);
    let (mut old, mut young, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..f.len() {
        let px = f.render(i, 32);
        let age = f.label(i).age;
        if age >= 60 {
            old.push(px.clone());
        } else if age <= 15 {
            young.push(px.clone());
        }
        all.push(px);
    }
    assert!(
        old.len() >= 20 && young.len() >= 20,
        "{} old, {} young",
        old.len(),
        young.len()
    );
    let n = old.len().min(young.len());
    let signal = mean_dist(&mean_image(&old[..n]), &mean_image(&young[..n]));
    let (a, b) = all.split_at(all.len() / 2);
    let (a, b) = (&a[..n], &b[..n]);
    let chance = mean_dist(&mean_image(a), &mean_image(b));
    println!("age: signal {signal:.1}, chance {chance:.1}");
    assert!(
        signal > 2.0 * chance,
        "age signal {signal:.1} vs chance {chance:.1}"
    );
}

/// Trains linear models (logistic for gender, least squares for age) on raw
/// pixels by SGD and scores them on unseen identities: `(gender accuracy,
/// age MAE, MAE of predicting the training mean)`.
pub(super) fn linear_probe(
    train: &SyntheticFaces,
    test: &SyntheticFaces,
    size: u32,
    epochs: u32,
) -> (f32, f32, f32) {
    use rayon::prelude::*;
    let load = |f: &SyntheticFaces| -> Vec<(Vec<f32>, FaceLabel)> {
        (0..f.len())
            .into_par_iter()
            .map(|i| {
                (
                    f.render(i, size)
                        .iter()
                        .map(|&v| f32::from(v) / 255.0 - 0.5)
                        .collect(),
                    f.label(i),
                )
            })
            .collect()
    };
    let (tr, te) = (load(train), load(test));
    let dim = tr[0].0.len();
    let dot = |w: &[f32], x: &[f32]| w.iter().zip(x).map(|(a, b)| a * b).sum::<f32>();
    let (mut wg, mut bg) = (vec![0.0f32; dim], 0.0f32);
    let (mut wa, mut ba) = (vec![0.0f32; dim], 0.0f32);
    let mean_age = tr.iter().map(|(_, l)| f32::from(l.age)).sum::<f32>() / tr.len() as f32;
    for epoch in 0..epochs {
        let lr = 0.002 / (1.0 + epoch as f32 * 0.3);
        for (x, l) in &tr {
            let p = 1.0 / (1.0 + (-(dot(&wg, x) + bg)).exp());
            let gg = p - f32::from(l.gender.code());
            let ga = (dot(&wa, x) + ba) - (f32::from(l.age) - mean_age) / 30.0;
            for ((wgi, wai), xi) in wg.iter_mut().zip(wa.iter_mut()).zip(x) {
                *wgi -= lr * (gg * xi + 1e-4 * *wgi);
                *wai -= lr * (ga * xi + 1e-4 * *wai);
            }
            bg -= lr * gg;
            ba -= lr * ga;
        }
    }
    let (mut correct, mut mae, mut mae0) = (0, 0.0, 0.0);
    for (x, l) in &te {
        let female = dot(&wg, x) + bg > 0.0;
        correct += usize::from(female == (l.gender == Gender::Female));
        mae += ((dot(&wa, x) + ba) * 30.0 + mean_age - f32::from(l.age)).abs();
        mae0 += (mean_age - f32::from(l.age)).abs();
    }
    let n = te.len() as f32;
    (correct as f32 / n, mae / n, mae0 / n)
}

#[test]
fn gender_and_age_are_learnable_by_a_linear_probe() {
    let (acc, mae, mae0) = linear_probe(
        &SyntheticFaces::new(1200, 1, 31),
        &SyntheticFaces::new(300, 1, 32),
        32,
        4,
    );
    println!("probe: gender accuracy {acc:.3}, age MAE {mae:.1} vs {mae0:.1}");
    assert!(acc > 0.65, "gender accuracy {acc:.3}");
    assert!(
        mae < 0.8 * mae0,
        "age MAE {mae:.1} vs {mae0:.1} for the mean"
    );
}

#[test]
fn same_identity_images_are_closer_than_other_identities() {
    let per = 4;
    let f = SyntheticFaces::new(30, per, 17);
    let imgs: Vec<Vec<u8>> = (0..f.len()).map(|i| f.render(i, 32)).collect();
    let (mut within, mut wn, mut between, mut bn) = (0.0, 0, 0.0, 0);
    for i in 0..imgs.len() {
        for j in i + 1..imgs.len() {
            let d = mean_sq_dist(&imgs[i], &imgs[j]);
            if i / per as usize == j / per as usize {
                within += d;
                wn += 1;
            } else {
                between += d;
                bn += 1;
            }
        }
    }
    let (within, between) = (within / f64::from(wn), between / f64::from(bn));
    println!("identity: within {within:.0}, between {between:.0}");
    assert!(
        within < 0.75 * between,
        "within {within:.0} vs between {between:.0}"
    );
}
