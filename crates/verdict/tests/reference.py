# Writes reference.json: reference values for crates/verdict/tests/reference.rs.
# Run: python3 -m venv v && v/bin/pip install scipy statsmodels && v/bin/python reference.py > reference.json
import json, math
import numpy as np
from scipy import stats
from statsmodels.stats.weightstats import ttost_ind
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.meta_analysis import effectsize_smd
import scipy, statsmodels
rng = np.random.default_rng(20261201)
cases = []
for i, (na, nb, shift, sda, sdb) in enumerate([(3,3,0.5,1,1),(5,4,-1.2,0.5,2.0),(10,10,0.1,1,1),(2,6,3.0,0.2,1.5),(8,3,0.0,1.0,0.1),(20,20,0.3,0.8,1.2)]):
    a = np.round(rng.normal(shift, sda, na), 6); b = np.round(rng.normal(0, sdb, nb), 6)
    r = stats.ttest_ind(a, b, equal_var=False)
    ci = r.confidence_interval(0.95)
    margin = 0.5
    p_tost, lo, up = ttost_ind(a, b, -margin, margin, usevar='unequal')
    d, var = effectsize_smd(a.mean(), a.std(ddof=1), na, b.mean(), b.std(ddof=1), nb)
    cases.append(dict(a=a.tolist(), b=b.tolist(), t=float(r.statistic), df=float(r.df), p=float(r.pvalue),
        ci=[float(ci.low), float(ci.high)], margin=margin, tost_p=float(p_tost), tost_p_lower=float(lo[1]), tost_p_upper=float(up[1]), hedges_g=float(d)))
ps = [0.01, 0.04, 0.03, 0.2, 0.005, 0.5, 0.049]
holm = multipletests(ps, method='holm')[1].tolist()
power = []
for (sd, eff, alpha, pw) in [(1.0,0.5,0.05,0.8),(2.0,0.5,0.0125,0.8),(0.3,0.01*10,0.05,0.9),(1.5,1.0,0.01,0.8)]:
    n = TTestIndPower().solve_power(effect_size=eff/sd, alpha=alpha, power=pw, ratio=1.0, alternative='two-sided')
    power.append(dict(sd=sd, effect=eff, alpha=alpha, power=pw, n=float(n)))
out = dict(produced_by=f"scipy {scipy.__version__}, statsmodels {statsmodels.__version__}: scipy.stats.ttest_ind(a, b, equal_var=False) (t, df, p, confidence_interval(0.95)); statsmodels.stats.weightstats.ttost_ind(a, b, -margin, margin, usevar='unequal') (p, lower p, upper p); statsmodels.stats.meta_analysis.effectsize_smd (Hedges g); statsmodels.stats.multitest.multipletests(p, method='holm'); statsmodels.stats.power.TTestIndPower().solve_power(effect_size=effect/sd, alpha, power, ratio=1) (n per arm); script crates/verdict/tests/reference.py",
    welch=cases, holm=dict(p=ps, adjusted=holm), power=power)
rng = np.random.default_rng(7)
contrast = []
for k in range(3):
    arms = [np.round(rng.normal(mu, sd, n), 6) for (mu, sd, n) in [(1.0, 0.5, 4), (0.2, 0.8, 5), (0.6, 0.3, 3), (0.4, 1.0, 6)]]
    c = [1, -1, -1, 1]
    m = [a.mean() for a in arms]; v = [ci*ci*a.var(ddof=1)/len(a) for a, ci in zip(arms, c)]
    d = sum(ci*mi for ci, mi in zip(c, m)); se = np.sqrt(sum(v))
    df = sum(v)**2 / sum(vi*vi/(len(a)-1) for vi, a in zip(v, arms))
    t = d/se; p = 2*stats.t.sf(abs(t), df)
    contrast.append(dict(arms=[a.tolist() for a in arms], c=c, diff=float(d), t=float(t), df=float(df), p=float(p)))
out["contrast"] = contrast
out["produced_by"] += "; contrast: t = sum(c m) / sqrt(sum(c^2 s^2 / n)), Welch-Satterthwaite df, p = 2 * scipy.stats.t.sf(|t|, df)"
print(json.dumps(out, indent=1))
