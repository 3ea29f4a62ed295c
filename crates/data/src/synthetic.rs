//! The built-in sets as datasets: labels from the generator, pixels rendered on demand.

use ablate_spec::types::Source;

use crate::sample::{Sample, Scan};
use crate::synth::{Gender, SyntheticFaces, SyntheticObjects};

/// A generated set, ready to render any image at any size.
#[derive(Debug, Clone)]
pub(crate) enum Generator {
    Faces(SyntheticFaces),
    Objects(SyntheticObjects),
}

impl Generator {
    pub(crate) fn new(source: &Source) -> Option<Self> {
        match source {
            Source::SyntheticFaces {
                identities,
                images_per_identity,
                seed,
            } => Some(Generator::Faces(SyntheticFaces::new(
                *identities,
                *images_per_identity,
                *seed,
            ))),
            Source::SyntheticObjects {
                classes,
                images_per_class,
                seed,
            } => Some(Generator::Objects(SyntheticObjects::new(
                *classes,
                *images_per_class,
                *seed,
            ))),
            _ => None,
        }
    }

    pub(crate) fn render(&self, index: usize, size: u32) -> Vec<u8> {
        match self {
            Generator::Faces(f) => f.render(index, size),
            Generator::Objects(o) => o.render(index, size),
        }
    }
}

/// The generator's index of a generated sample, from its path (`#<index>`): a
/// subset (`max_images`) keeps the original paths, so pixels come from the same
/// index as the labels.
pub(crate) fn index_of(path: &str) -> Option<usize> {
    path.strip_prefix('#')?.parse().ok()
}

/// Labels of every generated image; nothing is skipped in a generated set.
pub(crate) fn scan(source: &Source) -> Scan {
    let mut scan = Scan::default();
    match Generator::new(source) {
        Some(Generator::Faces(f)) => {
            let mut max_identity = 0;
            for i in 0..f.len() {
                let l = f.label(i);
                max_identity = max_identity.max(l.identity);
                scan.samples.push(Sample {
                    age: Some(f32::from(l.age)),
                    gender: Some(match l.gender {
                        Gender::Male => 0,
                        Gender::Female => 1,
                    }),
                    identity: Some(l.identity),
                    ..Sample::unlabelled(format!("#{i}"))
                });
            }
            scan.identities = (0..=max_identity)
                .map(|i| format!("person-{i:05}"))
                .collect();
        }
        Some(Generator::Objects(o)) => {
            let mut max_class = 0;
            for i in 0..o.len() {
                let c = o.label(i);
                max_class = max_class.max(c);
                scan.samples.push(Sample {
                    class: Some(c),
                    ..Sample::unlabelled(format!("#{i}"))
                });
            }
            scan.classes = (0..=max_class).map(|c| o.class_name(c)).collect();
        }
        None => {}
    }
    scan
}
