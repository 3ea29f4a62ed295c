//! One study combination to trials (one per seed and fold), and the pretraining
//! trials they start from.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use crate::TrialId;
use crate::axes::{AxisValue, EncodingLabel, Tasks};
use crate::error::Ctx;
use crate::expand::{Assigned, Builder};
use crate::hash;
use crate::model::{Globals, Trial, TrialKind};
use crate::presets::Preset;
use crate::train::{Draft, Setting};
use crate::types::{
    AgeTask, DatasetSpec, Encoding, ExecSpec, ModelSpec, Objective, Split, TrainSpec, TrialConfig,
    Within,
};

/// Reports each distinct problem once per study, however many combinations share it.
struct Once<'a, 'c, 't> {
    ctx: &'c mut Ctx<'t>,
    seen: &'a mut HashSet<String>,
}

impl Once<'_, '_, '_> {
    fn error(&mut self, span: Range<usize>, key: &str, message: String, help: Option<String>) {
        if self.seen.insert(message.clone()) {
            self.ctx.error(span, key, message, help);
        }
    }
}

/// Where one combination's problems are reported: the study's key, the span of
/// its name, and the name.
struct At<'a> {
    path: &'a str,
    span: Range<usize>,
    study: &'a str,
}

/// What one combination's axes set (factors not set are `None`, width 1), with the
/// `[train]` draft they changed and the labels of those `[train]` axes.
struct Chosen<'a> {
    draft: Draft,
    data: Option<String>,
    encoding: Option<(Encoding, &'a Assigned)>,
    depth: Option<&'static Preset>,
    width: f64,
    pretrain: Option<String>,
    tasks: Option<Tasks>,
    labels: BTreeMap<String, String>,
}

fn choose<'a>(train: &Draft, assigned: &'a [Assigned]) -> Chosen<'a> {
    let mut c = Chosen {
        draft: train.clone(),
        data: None,
        encoding: None,
        depth: None,
        width: 1.0,
        pretrain: None,
        tasks: None,
        labels: BTreeMap::new(),
    };
    for a in assigned {
        match &a.value {
            AxisValue::Data(d) => c.data = Some(d.clone()),
            AxisValue::Encoding(e) => c.encoding = Some((e.clone(), a)),
            AxisValue::Depth(p) => c.depth = Some(*p),
            AxisValue::Width(w) => c.width = *w,
            AxisValue::Pretrain(p) => c.pretrain = p.clone(),
            AxisValue::Tasks(t) => c.tasks = Some(t.clone()),
            AxisValue::Train(s) => {
                c.draft.apply(s);
                c.labels.insert(a.axis.clone(), s.to_string());
            }
        }
    }
    c
}

/// A combination's settings, complete and checked: what its trials (one per
/// seed and fold) share.
struct Resolved<'g> {
    data: String,
    dataset: &'g DatasetSpec,
    tasks: Tasks,
    age: Option<AgeTask>,
    train: TrainSpec,
    model: ModelSpec,
    exec: ExecSpec,
    pretrain: Option<String>,
    labels: BTreeMap<String, String>,
}

impl Builder<'_, '_> {
    /// The trials of one combination of a study's axes, or `None` after reporting why not.
    pub(crate) fn combination(
        &mut self,
        ctx: &mut Ctx<'_>,
        path: &str,
        span: Range<usize>,
        study: &str,
        assigned: &[Assigned],
        reported: &mut HashSet<String>,
    ) -> Option<Vec<String>> {
        let mut once = Once {
            ctx,
            seen: reported,
        };
        let at = At { path, span, study };
        let resolved = settings(&mut once, &at, self.g, assigned)?;
        self.seed_trials(&mut once, &at, &resolved)
    }

    /// One study trial per seed and fold, each after the pretraining trial it starts from.
    fn seed_trials(
        &mut self,
        once: &mut Once<'_, '_, '_>,
        at: &At<'_>,
        r: &Resolved<'_>,
    ) -> Option<Vec<String>> {
        let folds: Vec<Option<u32>> = match r.dataset.split.folds() {
            Some(k) => (0..k).map(Some).collect(),
            None => vec![None],
        };
        let mut ids = Vec::new();
        for &seed in &self.g.seeds {
            for &fold in &folds {
                let consumer = Consumer {
                    study: at.study,
                    data: &r.data,
                    spec: r.dataset,
                    fold,
                    labels: &r.labels,
                };
                let init = match &r.pretrain {
                    Some(stage) => Some(self.pretrain_trial(
                        once,
                        at.span.clone(),
                        stage,
                        &r.model,
                        r.train.input_size,
                        seed,
                        &consumer,
                        0,
                    )?),
                    None => None,
                };
                let config = TrialConfig {
                    objective: Objective::Faces {
                        gender: r.tasks.gender,
                        age: r.age.clone(),
                    },
                    data: r.dataset.clone(),
                    fold,
                    train: r.train.clone(),
                    model: r.model.clone(),
                    init: init.clone().map(TrialId::from),
                    seed,
                    within: None,
                };
                let depends: Vec<String> = init.iter().cloned().collect();
                let id = self.insert(
                    config,
                    TrialKind::Train,
                    r.exec.clone(),
                    r.labels.clone(),
                    (Some(at.study), None),
                    depends,
                );
                if let Some(stage) = &r.pretrain {
                    let list = self.stage_dependants.entry(stage.clone()).or_default();
                    if !list.contains(&id) {
                        list.push(id.clone());
                    }
                }
                ids.push(id);
            }
        }
        Some(ids)
    }

    /// The pretraining trial of `stage` for this trunk shape, seed and consumer
    /// (created once, shared by every consumer that resolves to the same config).
    #[allow(clippy::too_many_arguments)]
    fn pretrain_trial(
        &mut self,
        once: &mut Once<'_, '_, '_>,
        span: Range<usize>,
        stage: &str,
        model: &ModelSpec,
        input_size: u32,
        seed: u64,
        consumer: &Consumer<'_>,
        depth: usize,
    ) -> Option<String> {
        let g = self.g;
        let def = g.stages.get(stage)?;
        if depth > g.stages.len() {
            return None; // a cycle; reported when the stages were read
        }
        let init = match &def.from {
            Some(parent) => Some(self.pretrain_trial(
                once,
                span.clone(),
                parent,
                model,
                input_size,
                seed,
                consumer,
                depth + 1,
            )?),
            None => None,
        };
        let mut draft = g.train.clone();
        for s in &def.overrides {
            draft.apply(s);
        }
        draft.apply(&Setting::InputSize(input_size));
        // A stage's own settings over [train]'s may not fit (epochs = 1 under
        // a warm-up epoch): said once, or its consumers would vanish unsaid.
        let train = match draft.finish() {
            Ok(t) => t,
            Err(msg) => {
                once.error(
                    def.span.clone(),
                    &format!("pretrain.{stage}"),
                    format!("pretraining stage \"{stage}\", its settings over [train]'s: {msg}"),
                    None,
                );
                return None;
            }
        };
        let objective = if def.task == "identity" {
            Objective::Identity
        } else {
            Objective::General
        };
        let (data, within) = stage_data(once, span, stage, &def.data, g, consumer)?;
        let fold = within.as_ref().and_then(|w| w.fold);
        let config = TrialConfig {
            objective,
            data,
            fold: None,
            train,
            model: model.clone(),
            init: init.clone().map(TrialId::from),
            seed,
            within,
        };
        let mut labels = BTreeMap::new();
        labels.insert("stage".into(), stage.to_string());
        labels.insert("task".into(), def.task.to_string());
        labels.insert("data".into(), def.data.clone());
        labels.insert("input_size".into(), input_size.to_string());
        if let Some(f) = fold {
            labels.insert("fold".into(), f.to_string());
        }
        for key in ["depth", "width"] {
            if let Some(v) = consumer.labels.get(key) {
                labels.insert(key.into(), v.clone());
            }
        }
        let id = self.insert(
            config,
            TrialKind::Pretrain,
            draft.exec.clone(),
            labels,
            (None, Some(stage)),
            init.into_iter().collect(),
        );
        let list = self.stage_trials.entry(stage.to_string()).or_default();
        if !list.contains(&id) {
            list.push(id.clone());
        }
        Some(id)
    }

    fn insert(
        &mut self,
        config: TrialConfig,
        kind: TrialKind,
        exec: ExecSpec,
        labels: BTreeMap<String, String>,
        owner: (Option<&str>, Option<&str>),
        depends_on: Vec<String>,
    ) -> String {
        let id = hash::trial_id(&config);
        let pos = match self.index.get(&id) {
            Some(&pos) => pos,
            None => {
                self.trials.push(Trial {
                    id: TrialId::new(id.clone()),
                    kind,
                    config,
                    exec,
                    labels: BTreeMap::new(),
                    studies: Vec::new(),
                    stages: Vec::new(),
                    depends_on: depends_on.into_iter().map(TrialId::new).collect(),
                });
                self.index.insert(id.clone(), self.trials.len() - 1);
                self.trials.len() - 1
            }
        };
        let t = &mut self.trials[pos];
        for (k, v) in labels {
            t.labels.entry(k).or_insert(v);
        }
        if let Some(s) = owner.0.filter(|s| !t.studies.iter().any(|x| x == s)) {
            t.studies.push(s.to_string());
        }
        if let Some(s) = owner.1.filter(|s| !t.stages.iter().any(|x| x == s)) {
            t.stages.push(s.to_string());
        }
        id
    }
}

/// A combination's axes checked and completed into what its trials share, or
/// `None` after reporting why not.
fn settings<'g>(
    once: &mut Once<'_, '_, '_>,
    at: &At<'_>,
    g: &'g Globals<'_>,
    assigned: &[Assigned],
) -> Option<Resolved<'g>> {
    let Chosen {
        draft,
        data,
        encoding,
        depth,
        width,
        pretrain,
        tasks,
        mut labels,
    } = choose(&g.train, assigned);
    let (path, study) = (at.path, at.study);
    let Some(depth) = depth else {
        let help = format!(
            "add depth to the study's `fixed` or grid, or to [defaults]: one of {}",
            crate::presets::names().join(", ")
        );
        once.error(
            at.span.clone(),
            path,
            format!("study \"{study}\" sets no `depth`"),
            Some(help),
        );
        return None;
    };
    let Some(tasks) = tasks else {
        once.error(at.span.clone(), path, format!("study \"{study}\" sets no `tasks`"), Some("add tasks = [\"gender\"], [\"age\"] or [\"gender\", \"age\"] to `fixed`, the grid, or [defaults]".into()));
        return None;
    };
    let data = match data {
        Some(d) => d,
        None => only_face_dataset(once, at, g)?,
    };
    let dataset = g.datasets.get(&data)?;
    check_task_labels(once, at, &tasks, &data, dataset)?;
    let has_age_std = dataset.source.labels().age_std;
    let age = age_task(once, at, &tasks, encoding, &data, has_age_std, &mut labels)?;
    let train = match draft.finish() {
        Ok(t) => t,
        Err(msg) => {
            once.error(at.span.clone(), path, msg, None);
            return None;
        }
    };
    if train.input_size < depth.min_input() {
        once.error(
            at.span.clone(),
            path,
            format!(
                "input_size = {} is too small for depth {} ({} pooling stages need at least {})",
                train.input_size,
                depth.name,
                depth.convs.len(),
                depth.min_input()
            ),
            None,
        );
        return None;
    }
    let model = depth.scaled(width, draft.batch_norm);
    labels.insert("data".into(), data.clone());
    labels.insert("depth".into(), depth.name.to_string());
    labels.insert("width".into(), width.to_string());
    labels.insert(
        "pretrain".into(),
        pretrain.clone().unwrap_or_else(|| "none".into()),
    );
    labels.insert("tasks".into(), AxisValue::Tasks(tasks.clone()).to_string());
    Some(Resolved {
        data,
        dataset,
        tasks,
        age,
        train,
        model,
        exec: draft.exec,
        pretrain,
        labels,
    })
}

/// Each task a combination trains needs its labels in the dataset.
fn check_task_labels(
    once: &mut Once<'_, '_, '_>,
    at: &At<'_>,
    tasks: &Tasks,
    data: &str,
    dataset: &DatasetSpec,
) -> Option<()> {
    let have = dataset.source.labels();
    for (task, on, has) in [
        ("gender", tasks.gender.is_some(), have.gender),
        ("age", tasks.age.is_some(), have.age),
    ] {
        if on && !has {
            once.error(
                at.span.clone(),
                at.path,
                format!(
                    "task \"{task}\" needs {task} labels, and dataset `{data}` ({}) has none",
                    dataset.source.kind()
                ),
                Some(
                    "train that task on a dataset that has those labels, or drop it from `tasks`"
                        .into(),
                ),
            );
            return None;
        }
    }
    Some(())
}

/// A study that names no dataset trains on the sweep's one face dataset, if it has one.
fn only_face_dataset(once: &mut Once<'_, '_, '_>, at: &At<'_>, g: &Globals<'_>) -> Option<String> {
    let faces: Vec<&String> = g
        .datasets
        .iter()
        .filter(|(_, d)| d.source.labels().age || d.source.labels().gender)
        .map(|(n, _)| n)
        .collect();
    if let [only] = faces.as_slice() {
        return Some((*only).clone());
    }
    once.error(
        at.span.clone(),
        at.path,
        format!(
            "study \"{}\" does not say which dataset it trains on",
            at.study
        ),
        Some(format!(
            "set data = \"NAME\" in `fixed` or [defaults]; face datasets: {}",
            faces
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    );
    None
}

/// The age task of a combination (`Some(None)`: it trains no age), labelling its
/// encoding; an encoding without age is refused where the study varies it.
fn age_task(
    once: &mut Once<'_, '_, '_>,
    at: &At<'_>,
    tasks: &Tasks,
    encoding: Option<(Encoding, &Assigned)>,
    data: &str,
    has_age_std: bool,
    labels: &mut BTreeMap<String, String>,
) -> Option<Option<AgeTask>> {
    let (path, study) = (at.path, at.study);
    match (tasks.age, encoding) {
        (Some(weight), Some((encoding, _))) => {
            if matches!(
                encoding,
                Encoding::Ldae {
                    use_age_std: true,
                    ..
                }
            ) && !has_age_std
            {
                once.error(
                    at.span.clone(),
                    path,
                    format!("use_age_std needs per-image age_std, and dataset `{data}` has none"),
                    Some("set age_std_column on a csv dataset, or drop use_age_std".into()),
                );
                return None;
            }
            labels.insert("encoding".into(), EncodingLabel(&encoding).to_string());
            Some(Some(AgeTask { weight, encoding }))
        }
        (Some(_), None) => {
            once.error(at.span.clone(), path, format!("study \"{study}\" trains age but sets no `encoding`"), Some("add encoding = \"classification\", \"regression\" or \"ldae\" (or a table such as { kind = \"ldae\", sigma = 2.5 })".into()));
            None
        }
        (None, Some((encoding, a))) if a.varied => {
            let enc = EncodingLabel(&encoding);
            once.error(a.span.clone(), path, format!("study \"{study}\" varies the age encoding ({enc}) on a gender-only trial, where it has no effect"), Some("add \"age\" to tasks, or exclude the gender-only combinations from the encoding grid".into()));
            None
        }
        (None, _) => Some(None),
    }
}

/// The study trial a pretraining chain is resolved for.
struct Consumer<'a> {
    study: &'a str,
    data: &'a str,
    spec: &'a DatasetSpec,
    fold: Option<u32>,
    labels: &'a BTreeMap<String, String>,
}

/// What a stage trains on for `consumer`: its own dataset whole, or, when that is
/// the consumer's dataset, only the consumer's training part (`Within`), split again
/// inside with the dataset's fractions (80/10/10 under a fold split).
fn stage_data(
    once: &mut Once<'_, '_, '_>,
    span: Range<usize>,
    stage: &str,
    name: &str,
    g: &Globals<'_>,
    consumer: &Consumer<'_>,
) -> Option<(DatasetSpec, Option<Within>)> {
    let spec = g.datasets.get(name)?;
    let key = format!("pretrain.{stage}");
    // The problem is the stage's choice of data: point at its section.
    let span = g.stages.get(stage).map_or(span, |d| d.span.clone());
    if spec.source != consumer.spec.source {
        if !matches!(spec.split, Split::Fractions { .. }) {
            once.error(
                span,
                &key,
                format!("pretraining data `{name}` uses a fold split, and study \"{}\" trains on another dataset (`{}`)", consumer.study, consumer.data),
                Some("a stage on another dataset trains once; give its dataset a fractions split (train/val/test)".into()),
            );
            return None;
        }
        return Some((spec.clone(), None));
    }
    if spec != consumer.spec {
        once.error(
            span,
            &key,
            format!("stage `{stage}` (data `{name}`) and study \"{}\" (data `{}`) read the same images through sections that differ in split, strict or max_images, so the study's held-out people cannot be kept out of pretraining", consumer.study, consumer.data),
            Some(format!("use data = \"{}\" in [pretrain.{stage}], or pretrain on a separate dataset", consumer.data)),
        );
        return None;
    }
    let inner = match spec.split {
        Split::Fractions { .. } => spec.split.clone(),
        Split::Kfold { seed, .. } => Split::Fractions {
            train: 0.8,
            val: 0.1,
            test: 0.1,
            seed,
        },
        Split::LeaveOnePersonOut { subjects, .. } => {
            once.error(
                span,
                &key,
                format!("stage `{stage}` pretrains on `{name}`, the leave-one-person-out dataset of study \"{}\": keeping each held-out person out of pretraining takes one stage trial per person ({subjects} per trunk shape and seed)", consumer.study),
                Some(format!("pretrain on a separate dataset: add a [data.NAME] section with other people and set data = \"NAME\" in [pretrain.{stage}]")),
            );
            return None;
        }
    };
    let within = Within {
        split: spec.split.clone(),
        fold: consumer.fold,
    };
    Some((
        DatasetSpec {
            split: inner,
            ..spec.clone()
        },
        Some(within),
    ))
}
