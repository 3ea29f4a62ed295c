//! Studies to trials: grid and zip products, excludes, seeds and folds, and the
//! pretraining trials they wait on. Identical trials are merged by id.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use crate::axes::{self, AxisValue, Names};
use crate::error::Ctx;
use crate::model::{Globals, Stage, Study, Trial, TrialKind};
use crate::names;
use crate::value::{self, Table, Value, join};

pub(crate) struct Expanded {
    pub stages: Vec<Stage>,
    pub studies: Vec<Study>,
    pub trials: Vec<Trial>,
}

const STUDY_KEYS: &[&str] = &["name", "description", "fixed", "grid", "zip", "exclude"];

/// An axis value and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Assigned {
    pub axis: String,
    pub value: AxisValue,
    pub span: Range<usize>,
    /// False for `[defaults]`, whose values a study may not need (e.g. an encoding on a gender-only study).
    pub explicit: bool,
    /// Set by the study's grid or zip (rather than `fixed` or `[defaults]`).
    pub varied: bool,
}

pub(crate) struct Builder<'g, 'i> {
    pub g: &'g Globals<'i>,
    pub trials: Vec<Trial>,
    pub index: HashMap<String, usize>,
    pub stage_trials: BTreeMap<String, Vec<String>>,
    pub stage_dependants: BTreeMap<String, Vec<String>>,
}

pub(crate) fn expand(ctx: &mut Ctx<'_>, g: &Globals<'_>) -> Option<Expanded> {
    let mut b = Builder {
        g,
        trials: Vec::new(),
        index: HashMap::new(),
        stage_trials: BTreeMap::new(),
        stage_dependants: BTreeMap::new(),
    };
    validate_stages(ctx, g);
    if ctx.has_errors() {
        return None;
    }
    let mut studies = Vec::new();
    let mut seen = HashMap::<String, Range<usize>>::new();
    for (i, sv) in g.studies.iter().enumerate() {
        if let Some(study) = b.study(ctx, i, sv, &mut seen) {
            studies.push(study);
        }
    }
    if ctx.has_errors() {
        return None;
    }
    let stages = g
        .stages
        .iter()
        .map(|(name, def)| Stage {
            name: name.clone(),
            task: def.task.to_string(),
            data: def.data.clone(),
            from: def.from.clone(),
            trials: b.stage_trials.remove(name).unwrap_or_default(),
            dependants: b.stage_dependants.remove(name).unwrap_or_default(),
        })
        .collect();
    // Parents are always created before their dependants, so creation order is topological.
    let (mut trials, rest): (Vec<Trial>, Vec<Trial>) = b
        .trials
        .into_iter()
        .partition(|t| t.kind == TrialKind::Pretrain);
    trials.extend(rest);
    Some(Expanded {
        stages,
        studies,
        trials,
    })
}

fn validate_stages(ctx: &mut Ctx<'_>, g: &Globals<'_>) {
    for (name, def) in &g.stages {
        let Some(data) = g.datasets.get(&def.data) else {
            continue;
        };
        let labels = data.source.labels();
        let key = format!("pretrain.{name}");
        if def.task == "identity" && !labels.identity {
            ctx.error(
                def.span.clone(),
                &key,
                format!(
                    "task \"identity\" needs a dataset with identities, and `{}` ({}) has none",
                    def.data,
                    data.source.kind()
                ),
                Some(
                    "use a synthetic-faces, lfw, fgnet, or csv dataset with identity_column".into(),
                ),
            );
        }
        if def.task == "general" && !labels.classes {
            ctx.error(def.span.clone(), &key, format!("task \"general\" needs a non-face classification dataset, and `{}` is {}", def.data, data.source.kind()), Some("add [data.objects] with kind = \"synthetic-objects\" (or a csv dataset with class_column) and use data = \"objects\"".into()));
        }
    }
}

/// A varied axis: name, the key's span, and its values with their spans.
type AxisList = (String, Range<usize>, Vec<(AxisValue, Range<usize>)>);

/// `distinct`: a grid axis lists each value once; a zip axis may repeat values
/// (zip.lr = [0.02, 0.005, 0.02]) as long as the zipped tuples differ.
fn parse_axis_table(
    ctx: &mut Ctx<'_>,
    path: &str,
    t: &Table<'_>,
    names: &Names<'_>,
    distinct: bool,
) -> Vec<AxisList> {
    let axes = axes::all_axes();
    value::known_keys(ctx, path, t, &axes);
    let mut out = Vec::new();
    for (k, v) in t.iter() {
        let axis: &str = k.get_ref();
        if !axes.contains(&axis) {
            continue;
        }
        let key = join(path, axis);
        let Some(items) = value::array(ctx, &key, v) else {
            continue;
        };
        if items.is_empty() {
            ctx.error(
                v.span(),
                &key,
                "empty list: the study would have no trials",
                Some(format!(
                    "give at least one value, or move `{axis}` to `fixed`"
                )),
            );
            continue;
        }
        let mut values: Vec<(AxisValue, Range<usize>)> = Vec::new();
        for item in items.iter() {
            let Some(a) = axes::parse(ctx, &key, axis, item, names) else {
                continue;
            };
            if distinct
                && values
                    .iter()
                    .any(|(prev, _)| prev.to_string() == a.to_string())
            {
                ctx.error(
                    item.span(),
                    &key,
                    format!("value {a} is listed twice"),
                    Some("each value of an axis must differ".into()),
                );
                continue;
            }
            values.push((a, item.span()));
        }
        out.push((axis.to_string(), k.span(), values));
    }
    out
}

/// Odometer over axis sizes, last axis fastest: the order trials are listed and run in.
fn combinations(sizes: &[usize]) -> impl Iterator<Item = Vec<usize>> + '_ {
    let total: usize = sizes.iter().product();
    (0..total).map(move |mut n| {
        let mut idx = vec![0; sizes.len()];
        for (slot, size) in idx.iter_mut().zip(sizes).rev() {
            *slot = n % size;
            n /= size;
        }
        idx
    })
}

/// A study's table, its checked name and description.
struct Head<'a, 'i> {
    t: &'a Table<'i>,
    /// The `name` value: where problems of the whole study are reported.
    nv: &'a Value<'i>,
    name: String,
    /// `study.NAME`, the key its diagnostics name.
    path: String,
    description: Option<String>,
}

/// The axes a study varies: its grid, and its zip group (varied together).
struct Varied {
    grid: Vec<AxisList>,
    zip: Vec<AxisList>,
}

impl Varied {
    fn axes(&self) -> impl Iterator<Item = &AxisList> {
        self.grid.iter().chain(&self.zip)
    }

    fn names(&self) -> Vec<&str> {
        self.axes().map(|(a, _, _)| a.as_str()).collect()
    }

    /// One odometer digit per grid axis, plus one for the zip group (varied together).
    fn sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self.grid.iter().map(|(_, _, v)| v.len()).collect();
        if let Some(first) = self.zip.first() {
            sizes.insert(0, first.2.len());
        }
        sizes
    }

    /// `fixed` plus the values one combination (odometer digits, zip group first) gives the varied axes.
    fn assign(&self, fixed: &[Assigned], combo: &[usize]) -> Vec<Assigned> {
        let mut assigned = fixed.to_vec();
        let mut digits = combo.iter();
        if !self.zip.is_empty() {
            let z = *digits.next().unwrap_or(&0);
            for (axis, _, values) in &self.zip {
                assigned.push(Assigned {
                    axis: axis.clone(),
                    value: values[z].0.clone(),
                    span: values[z].1.clone(),
                    explicit: true,
                    varied: true,
                });
            }
        }
        for ((axis, _, values), d) in self.grid.iter().zip(digits) {
            assigned.push(Assigned {
                axis: axis.clone(),
                value: values[*d].0.clone(),
                span: values[*d].1.clone(),
                explicit: true,
                varied: true,
            });
        }
        assigned
    }

    /// Each varied axis with its value labels, as `Study::axes` lists them.
    fn summary(&self) -> Vec<(String, Vec<String>)> {
        self.axes()
            .map(|(a, _, v)| (a.clone(), v.iter().map(|(x, _)| x.to_string()).collect()))
            .collect()
    }
}

/// An exclude rule: (axis, value label) pairs that together leave a combination out.
type Exclude = Vec<(String, String)>;

/// Whether some rule matches every one of its (axis, value) pairs in `assigned`.
fn excluded_by(excludes: &[Exclude], assigned: &[Assigned]) -> bool {
    excludes.iter().any(|rule| {
        rule.iter().all(|(axis, label)| {
            assigned
                .iter()
                .any(|a| &a.axis == axis && &a.value.to_string() == label)
        })
    })
}

impl Builder<'_, '_> {
    /// One `[[study]]`: its axes checked, then every combination's trials.
    fn study(
        &mut self,
        ctx: &mut Ctx<'_>,
        i: usize,
        sv: &Value<'_>,
        seen: &mut HashMap<String, Range<usize>>,
    ) -> Option<Study> {
        let head = study_head(ctx, i, sv, seen)?;
        let names = Names {
            datasets: &self.g.dataset_names,
            stages: &self.g.stage_names,
        };
        let mut fixed = self.fixed_axes(ctx, &head, &names)?;
        let varied = varied_axes(ctx, &head, &names)?;
        check_zip(ctx, &head.path, &varied.zip)?;
        check_overlaps(ctx, &head.path, &varied, &fixed)?;
        let varied_names = varied.names();
        fixed.retain(|f| !varied_names.contains(&f.axis.as_str()));
        let excludes = match value::get(head.t, "exclude") {
            Some(ev) => {
                parse_excludes(ctx, &join(&head.path, "exclude"), ev, &varied_names, &names)?
            }
            None => Vec::new(),
        };
        if ctx.has_errors() {
            return None;
        }

        let sizes = varied.sizes();
        self.check_size(ctx, &head, &sizes)?;
        let total = sizes.iter().product::<usize>();
        let (ids, excluded) =
            self.combination_trials(ctx, &head, &fixed, &varied, &excludes, &sizes)?;
        self.check_encoding_used(ctx, &head, &fixed, &ids)?;
        if excluded == total {
            ctx.error(
                head.nv.span(),
                &head.path,
                format!(
                    "study \"{}\" expands to 0 trials: `exclude` removes all {total} combinations",
                    head.name
                ),
                Some("loosen the exclude rules".into()),
            );
            return None;
        }
        Some(Study {
            name: head.name,
            description: head.description,
            axes: varied.summary(),
            fixed: fixed
                .iter()
                .map(|f| (f.axis.clone(), f.value.to_string()))
                .collect(),
            combinations: total,
            excluded,
            trials: ids,
        })
    }

    /// `[defaults]`, overridden by the study's `fixed`.
    fn fixed_axes(
        &self,
        ctx: &mut Ctx<'_>,
        head: &Head<'_, '_>,
        names: &Names<'_>,
    ) -> Option<Vec<Assigned>> {
        let path = &head.path;
        let mut fixed: Vec<Assigned> = self
            .g
            .defaults
            .iter()
            .map(|(axis, value)| Assigned {
                axis: axis.clone(),
                value: value.clone(),
                span: head.nv.span(),
                explicit: false,
                varied: false,
            })
            .collect();
        if let Some(fv) = value::get(head.t, "fixed") {
            let ft = value::table(ctx, &join(path, "fixed"), fv)?;
            let axes = axes::all_axes();
            value::known_keys(ctx, &join(path, "fixed"), ft, &axes);
            for (k, v) in ft.iter() {
                if let Some(a) = axes::parse(
                    ctx,
                    &join(path, &format!("fixed.{}", k.get_ref())),
                    k.get_ref(),
                    v,
                    names,
                ) {
                    fixed.retain(|f| f.axis != k.get_ref().as_ref());
                    fixed.push(Assigned {
                        axis: k.get_ref().to_string(),
                        value: a,
                        span: v.span(),
                        explicit: true,
                        varied: false,
                    });
                }
            }
        }
        Some(fixed)
    }

    /// The number of trials must stay within `max_trials` (checked before any is made).
    fn check_size(&self, ctx: &mut Ctx<'_>, head: &Head<'_, '_>, sizes: &[usize]) -> Option<()> {
        let combos = sizes
            .iter()
            .try_fold(1u64, |acc, s| acc.checked_mul(*s as u64));
        let upper = combos.and_then(|c| c.checked_mul(self.g.seeds.len() as u64));
        if upper.is_none_or(|n| n > self.g.max_trials) {
            let shown = upper.map_or("more than 2^64".to_string(), |n| n.to_string());
            ctx.error(
                head.nv.span(),
                &head.path,
                format!(
                    "study \"{}\" expands to {shown} trials at {} seeds, past max_trials = {}",
                    head.name,
                    self.g.seeds.len(),
                    self.g.max_trials
                ),
                Some("shrink the grid or the seeds (adaptive seeds count at their max), or raise [sweep] max_trials if you mean it".into()),
            );
            return None;
        }
        Some(())
    }

    /// The trials of every combination not excluded, in run order, and how many
    /// combinations `exclude` removed.
    fn combination_trials(
        &mut self,
        ctx: &mut Ctx<'_>,
        head: &Head<'_, '_>,
        fixed: &[Assigned],
        varied: &Varied,
        excludes: &[Exclude],
        sizes: &[usize],
    ) -> Option<(Vec<String>, usize)> {
        let mut ids = Vec::new();
        let mut own = HashSet::new();
        let mut reported = HashSet::new();
        let mut excluded = 0;
        for combo in combinations(sizes) {
            let assigned = varied.assign(fixed, &combo);
            if excluded_by(excludes, &assigned) {
                excluded += 1;
                continue;
            }
            let span = head.nv.span();
            for id in
                self.combination(ctx, &head.path, span, &head.name, &assigned, &mut reported)?
            {
                if !own.insert(id.clone()) {
                    let combo_label: Vec<String> = assigned
                        .iter()
                        .filter(|a| a.explicit)
                        .map(|a| format!("{}={}", a.axis, a.value))
                        .collect();
                    ctx.error(head.nv.span(), &head.path, format!("two combinations of study \"{}\" give the same trial (one is {})", head.name, combo_label.join(", ")), Some("an axis value has no effect here (e.g. an encoding on a gender-only trial); remove the duplicate values".into()));
                    return None;
                }
                ids.push(id);
            }
        }
        Some((ids, excluded))
    }

    /// A fixed encoding is a mistake when none of the study's trials predicts age.
    fn check_encoding_used(
        &self,
        ctx: &mut Ctx<'_>,
        head: &Head<'_, '_>,
        fixed: &[Assigned],
        ids: &[String],
    ) -> Option<()> {
        let trains_age = ids.iter().any(|id| {
            let t = &self.trials[self.index[id]];
            matches!(
                t.config.objective,
                crate::types::Objective::Faces { age: Some(_), .. }
            )
        });
        if let Some(enc) = fixed
            .iter()
            .find(|f| f.explicit && f.axis == "encoding")
            .filter(|_| !trains_age && !ids.is_empty())
        {
            ctx.error(
                enc.span.clone(),
                &join(&head.path, "fixed.encoding"),
                format!(
                    "study \"{}\" sets an age encoding, but none of its trials predicts age",
                    head.name
                ),
                Some("add \"age\" to tasks, or remove `encoding` from this study".into()),
            );
            return None;
        }
        Some(())
    }
}

/// The study's table, with a name that is valid and not taken by an earlier study.
fn study_head<'a, 'i>(
    ctx: &mut Ctx<'_>,
    i: usize,
    sv: &'a Value<'i>,
    seen: &mut HashMap<String, Range<usize>>,
) -> Option<Head<'a, 'i>> {
    let anon = format!("study[{i}]");
    let t = value::table(ctx, &anon, sv)?;
    value::known_keys(ctx, &anon, t, STUDY_KEYS);
    let Some(nv) = value::get(t, "name") else {
        ctx.error(
            sv.span(),
            &anon,
            "study has no `name`",
            Some("add name = \"encoding\" (or another safe name) to this [[study]]".into()),
        );
        return None;
    };
    let name = names::check(ctx, &join(&anon, "name"), nv)?;
    if seen.insert(name.clone(), nv.span()).is_some() {
        ctx.error(
            nv.span(),
            &join(&anon, "name"),
            format!("study name \"{name}\" is used twice"),
            Some("give each [[study]] its own name".into()),
        );
        return None;
    }
    let path = format!("study.{name}");
    let description = match value::get(t, "description") {
        Some(d) => Some(value::string(ctx, &join(&path, "description"), d)?.to_string()),
        None => None,
    };
    Some(Head {
        t,
        nv,
        name,
        path,
        description,
    })
}

/// The study's grid and zip axes; a study must vary something.
fn varied_axes(ctx: &mut Ctx<'_>, head: &Head<'_, '_>, names: &Names<'_>) -> Option<Varied> {
    let (t, path) = (head.t, &head.path);
    let grid = match value::get(t, "grid") {
        Some(gv) => {
            let table = value::table(ctx, &join(path, "grid"), gv)?;
            parse_axis_table(ctx, &join(path, "grid"), table, names, true)
        }
        None => Vec::new(),
    };
    let zip = match value::get(t, "zip") {
        Some(zv) => {
            let table = value::table(ctx, &join(path, "zip"), zv)?;
            parse_axis_table(ctx, &join(path, "zip"), table, names, false)
        }
        None => Vec::new(),
    };
    if grid.is_empty() && zip.is_empty() {
        if value::get(t, "grid").is_none() && value::get(t, "zip").is_none() {
            ctx.error(
                head.nv.span(),
                path,
                format!("study \"{}\" varies nothing", head.name),
                Some("add a grid, e.g. grid.depth = [\"vgg7\", \"vgg11\"]".into()),
            );
        } else if !ctx.has_errors() {
            ctx.error(
                head.nv.span(),
                &join(path, "grid"),
                "empty grid",
                Some("give the grid at least one axis with values".into()),
            );
        }
        return None;
    }
    Some(Varied { grid, zip })
}

/// Zip axes have one length, and no zipped tuple is listed twice.
fn check_zip(ctx: &mut Ctx<'_>, path: &str, zip: &[AxisList]) -> Option<()> {
    let Some(first) = zip.first() else {
        return Some(());
    };
    for (axis, span, values) in &zip[1..] {
        if values.len() != first.2.len() {
            ctx.error(
                span.clone(),
                &join(path, &format!("zip.{axis}")),
                format!(
                    "zip axes vary together, but `{axis}` has {} values and `{}` has {}",
                    values.len(),
                    first.0,
                    first.2.len()
                ),
                Some("give every zip axis the same number of values".into()),
            );
            return None;
        }
    }
    // Values may repeat within one zip axis, but not a whole zipped tuple.
    let mut tuples: Vec<String> = Vec::new();
    for k in 0..first.2.len() {
        let tuple = zip
            .iter()
            .map(|(axis, _, v)| format!("{axis} = {}", v[k].0))
            .collect::<Vec<_>>()
            .join(", ");
        if tuples.contains(&tuple) {
            ctx.error(
                first.2[k].1.clone(),
                &join(path, &format!("zip.{}", first.0)),
                format!("the zipped values ({tuple}) are listed twice"),
                Some("each position of the zip lists must differ in some axis".into()),
            );
            return None;
        }
        tuples.push(tuple);
    }
    Some(())
}

/// Each axis is varied in one place, and never also fixed by the study.
fn check_overlaps(
    ctx: &mut Ctx<'_>,
    path: &str,
    varied: &Varied,
    fixed: &[Assigned],
) -> Option<()> {
    let names = varied.names();
    for (axis, span, _) in varied.axes() {
        if names.iter().filter(|v| **v == axis.as_str()).count() > 1 {
            ctx.error(
                span.clone(),
                &join(path, axis),
                format!("axis `{axis}` is in both grid and zip"),
                Some("vary each axis in one place".into()),
            );
            return None;
        }
        if let Some(f) = fixed.iter().find(|f| f.explicit && &f.axis == axis) {
            ctx.error(
                f.span.clone(),
                &join(path, &format!("fixed.{axis}")),
                format!("axis `{axis}` is both fixed and varied"),
                Some(format!("remove `{axis}` from `fixed` or from the grid")),
            );
            return None;
        }
    }
    Some(())
}

fn parse_excludes(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    varied: &[&str],
    names: &Names<'_>,
) -> Option<Vec<Exclude>> {
    let items = value::array(ctx, path, v)?;
    let mut rules = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let key = format!("{path}[{n}]");
        let t = value::table(ctx, &key, item)?;
        if t.is_empty() {
            ctx.error(item.span(), &key, "an empty exclude rule would remove every combination", Some("name the axis values to leave out, e.g. { depth = \"vgg7\", encoding = \"regression\" }".into()));
            return None;
        }
        let mut rule = Vec::new();
        for (k, val) in t.iter() {
            let axis: &str = k.get_ref();
            if !varied.contains(&axis) {
                ctx.error(
                    k.span(),
                    &join(&key, axis),
                    format!("exclude names `{axis}`, which this study does not vary"),
                    Some(format!(
                        "exclude rules match varied axes: {}",
                        varied.join(", ")
                    )),
                );
                return None;
            }
            rule.push((
                axis.to_string(),
                axes::parse(ctx, &join(&key, axis), axis, val, names)?.to_string(),
            ));
        }
        rules.push(rule);
    }
    Some(rules)
}
