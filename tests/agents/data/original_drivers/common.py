"""Helpers of the driver that produced ../original_loss_reference.npz: it builds the original
code's models (Cerenaut/bilateral-motor-control, imported unmodified from a checkout named by
ORIGINAL_CODE) on MotorNet 0.1.5 and records what Keras computes. Run with a Python that has
benchmarks/motornet_tf/requirements.txt installed (TensorFlow cannot share the project's venv)."""
import os, sys
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.environ["ORIGINAL_CODE"])
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)
import copy
import motornet as mn
from motornet.plants.muscles import RigidTendonHillMuscle
import models as M
import tasks as T

def dual_weights(task, network):
    """Exactly notebook cell 2."""
    lw1 = copy.deepcopy(task.loss_weights); lw2 = copy.deepcopy(task.loss_weights)
    lw1['excitation'] = 0.
    for i in network.layer_state_names: lw1[i] = 0.02
    lw2['excitation'] = 2.
    for i in network.layer_state_names: lw2[i] = 0.
    lw1['cartesian position'] = 5.; lw1['cartesian position2'] = 0.
    lw2['cartesian position'] = 0.; lw2['cartesian position2'] = 5.
    return lw1, lw2

def build(kind, mode, seed=1, u=10, l=2, lr=0.001, lesion=None, taskname="reach"):
    """kind: unilateral | bi | bicc ; mode: unspec | dual | left | right (left/right: single-objective MotorNetModel
    compiled with the dual weight dicts -- not in the notebook, my inference for 'unilateral specialised')."""
    plant = mn.plants.RigidTendonArm26(RigidTendonHillMuscle())
    if kind == "unilateral":
        # n_units for the unilateral model: the notebook has no unilateral cell; we use int(u/2)=5 like the hemispheres
        network = M.unilateral(plant=plant, n_units=int(u / 2), n_hidden_layers=l, name='network')
    elif kind == "bi":
        network = M.bilateral_wtAdd_lesioned(plant=plant, n_units=int(u / 2), n_hidden_layers=l, name='network', lesion=lesion)
    else:
        network = M.bilateral_wtAdd_CC_lesioned(plant=plant, n_units=int(u / 2), n_hidden_layers=l, name='network', lesion=lesion)
    if taskname == "reach":
        task = T.RandomTargetReach(network=network, deriv_weight=0.05)
    else:
        task = T.HoldPositionWithLoads(network=network, deriv_weight=0.05, endpoint_load_bounds=[-10, 10])
    rnn = tf.keras.layers.RNN(cell=network, return_sequences=True, name='RNN')
    tf.random.set_seed(seed); np.random.seed(seed)
    input_dict = task.get_input_dict_layers()
    state0 = task.get_initial_state_layers()
    states_out = rnn(input_dict, state0)
    lw1, lw2 = dual_weights(task, network)
    if mode == "dual":
        model = M.MotorNetModelDual(inputs=[input_dict, state0], outputs=states_out, name='model', task=task,
                                    dual_loss_weights=[lw1, lw2])
        model.compile(optimizer=tf.optimizers.Adam(clipnorm=1., learning_rate=lr), loss=task.losses, loss_weights=task.loss_weights)
    else:
        model = mn.nets.MotorNetModel(inputs=[input_dict, state0], outputs=states_out, name='model', task=task)
        w = {"unspec": task.loss_weights, "left": lw1, "right": lw2}[mode]
        model.compile(optimizer=tf.optimizers.Adam(clipnorm=1., learning_rate=lr), loss=task.losses, loss_weights=w)
    return model, task, network, (lw1, lw2)

# ---- plain numpy formulas ----
DT = 0.01
def np_pos_abs(yt, cp): return np.mean(np.abs(yt[..., :2] - cp[..., :2]))
def np_pos_sq(yt, cp): return np.mean(np.square(10 * (yt[..., :2] - cp[..., :2]))) / 10
def np_exc(u): return np.mean(np.square(u))
def np_l2xdx(x, dw=0.05, dt=DT):
    d = (x[:, 1:] - x[:, :-1]) / dt
    return np.mean(np.square(x)) + dw * np.mean(np.square(d))
