# Writes anova.json, the reference values for crates/verdict/tests/anova.rs.
# Run: v/bin/python anova.py > anova.json (v: a venv with scipy, statsmodels, pandas)
import json, numpy as np, pandas as pd
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm
rng = np.random.default_rng(11)
cases = []
# balanced 3x2, 4 seeds; unbalanced 2x3 with 2-5 seeds; one factor 4 levels
for name, levels, reps in [("balanced", (["a0","a1","a2"], ["b0","b1"]), lambda i,j: 4),
                           ("unbalanced", (["a0","a1"], ["b0","b1","b2"]), lambda i,j: 2 + (i*3+j) % 4)]:
    rows = []
    for i, a in enumerate(levels[0]):
        for j, b in enumerate(levels[1]):
            for s in range(reps(i, j)):
                rows.append(dict(a=a, b=b, y=round(float(1.0 + 0.5*i - 0.3*j + 0.4*(i==1)*(j==1) + rng.normal(0, 0.3)), 6)))
    df = pd.DataFrame(rows)
    t = anova_lm(smf.ols("y ~ C(a) * C(b)", df).fit(), typ=2)
    cases.append(dict(name=name, factors=["a","b"], rows=rows,
        terms={k: dict(ss=float(t.loc[k,"sum_sq"]), df=float(t.loc[k,"df"]), F=float(t.loc[k,"F"]), p=float(t.loc[k,"PR(>F)"])) for k in ["C(a)","C(b)","C(a):C(b)"]},
        residual=dict(ss=float(t.loc["Residual","sum_sq"]), df=float(t.loc["Residual","df"]))))
rows = [dict(a=f"a{i}", y=round(float(0.2*i + rng.normal(0, 0.5)), 6)) for i in range(4) for s in range(3)]
df = pd.DataFrame(rows); t = anova_lm(smf.ols("y ~ C(a)", df).fit(), typ=2)
cases.append(dict(name="oneway", factors=["a"], rows=rows, terms={"C(a)": dict(ss=float(t.loc["C(a)","sum_sq"]), df=float(t.loc["C(a)","df"]), F=float(t.loc["C(a)","F"]), p=float(t.loc["C(a)","PR(>F)"]))}, residual=dict(ss=float(t.loc["Residual","sum_sq"]), df=float(t.loc["Residual","df"]))))
print(json.dumps(dict(produced_by="statsmodels.stats.anova.anova_lm(statsmodels.formula.api.ols('y ~ C(a) * C(b)', df).fit(), typ=2) (and 'y ~ C(a)' for oneway); crates/verdict/tests/anova.py", cases=cases), indent=1))
