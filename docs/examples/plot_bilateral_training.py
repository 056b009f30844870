"""
A small bilateral training
==========================

A bilateral controller (two hemispheres joined by the paper's corpus callosum) trained on the
unspecialised objective by back-propagation through the JAX arm, with ``agents.Trainer``: tiny
widths (2 x 8 units per hemisphere), batches of 16 reaches and a few updates per epoch, so it
runs in seconds. The runner's ``task=reach`` trains the same way at full size.
"""

import jax
import matplotlib.pyplot as plt
import numpy as np

from agents import EpisodeSampler, TrainConfig, Trainer, build_model, make_variant

variant = make_variant("bilateral_unspecialised_cc")
model = build_model(variant, (8, 8))
cfg = TrainConfig(task="reach", batch_size=16, updates_per_epoch=10, max_epochs=4,
                  val_episodes=16, learning_rate=1e-2)
trainer = Trainer(model, variant.objective, EpisodeSampler(), cfg)

state = jax.jit(trainer.init)(jax.random.key(0))
epoch = jax.jit(trainer.epoch)
val_loss = []
for _ in range(cfg.max_epochs):
    state, log = epoch(state)
    val_loss.append(float(log["val_loss"]))
print("validation loss per epoch:", np.round(val_loss, 3))

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(np.arange(1, len(val_loss) + 1), val_loss, "o-")
ax.set(xlabel="epoch", ylabel="validation loss", title=f"{variant.name}, 2 x 8 units per hemisphere")
fig.tight_layout()
plt.show()
