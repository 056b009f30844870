"""
An encoding fit and its noise ceiling
=====================================

A small version of the embedded synthetic experiment (one subject, short runs, ten vertices
per region): a ridge encoder (``brain.RidgeEncoder``, FIR delays, per-voxel penalties by
cross-validation) fitted on one layer of the video features, its test correlation per voxel,
and the split-half noise ceiling of the repeated test viewings. Voxels of the region
``noise`` have no signal: their ceiling is NaN or low and their r near zero.
"""

import matplotlib.pyplot as plt
import numpy as np

import brain

cfg = brain.SyntheticConfig(n_subjects=1, n_runs=2, trs_per_run=200, n_test_trs=200, n_layers=3,
                            n_features=16, vertices_per_region=10)
data = brain.make_synthetic(cfg, seed=0)
layer = 2
enc = brain.RidgeEncoder(delays=[1, 2, 3, 4])
enc.fit(data.features_train["video"][layer], data.bold_train[0], runs=data.runs)
test_mean = data.bold_test[0].mean(axis=0)  # average of the test viewings, (n_test_trs, n_voxels)
r = np.asarray(enc.score(data.features_test["video"][layer], test_mean))
ceiling = brain.split_half_reliability(data.bold_test[0], rng=np.random.default_rng(0),
                                       n_permutations=100).ceiling

fig, ax = plt.subplots(figsize=(5.5, 4))
for index, name in enumerate(data.region_names):
    keep = data.region == index
    ax.scatter(np.nan_to_num(ceiling[keep]), r[keep], s=14, label=name)
ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
ax.set(xlabel="split-half noise ceiling (NaN drawn at 0)", ylabel="test r",
       title=f"video layer {layer}, one synthetic subject")
ax.legend(fontsize=7, loc="upper left")
fig.tight_layout()
plt.show()
