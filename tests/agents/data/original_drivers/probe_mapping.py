"""Runs the original models on 8 episodes, records which output each Keras loss acts on and
the loss values, and checks them against plain numpy formulas. Usage:
ORIGINAL_CODE=<checkout> python probe_mapping.py <out.npz> (then keep the arrays
tests/agents/test_original_loss.py reads; see its docstring)."""
import sys, json, time, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import *

def probe(kind, mode, B=8, seed=1):
    t0 = time.time()
    model, task, network, (lw1, lw2) = build(kind, mode, seed=seed)
    np.random.seed(123); tf.random.set_seed(123)
    inputs, targets, init_states = task.generate(n_timesteps=50, batch_size=B)
    targets = tf.convert_to_tensor(targets)
    y_pred = model([inputs, init_states], training=False)
    print(f"\n===== {kind} / {mode}: type(y_pred)={type(y_pred).__name__}, keys={list(y_pred.keys()) if isinstance(y_pred, dict) else None}")
    print("model.losses (regularisation):", model.losses)
    print("model.output_names:", model.output_names)
    print("task.losses keys (insertion order):", list(task.losses.keys()))
    containers = [("compiled_loss", model.compiled_loss)]
    if mode == "dual":
        containers += [("dual_loss[0]", model.dual_loss[0]), ("dual_loss[1]", model.dual_loss[1])]
    outs_np = {k: v.numpy() for k, v in y_pred.items()}
    tgt = np.asarray(targets)
    res = {"kind": kind, "mode": mode, "containers": {}}
    for cname, cont in containers:
        total = cont(targets, y_pred)  # builds the container
        # instrument: wrap the callable inside each keras LossFunctionWrapper
        records = []
        flat_out_names = sorted(y_pred.keys())  # tf.nest.flatten order of a dict
        flat_outs = tf.nest.flatten(y_pred)
        for idx, lo in enumerate(cont._losses):
            if lo is None: continue
            inner = lo.fn
            def rec(y_t, y_p, _inner=inner, _idx=idx):
                hit = [n for n, o in zip(flat_out_names, flat_outs) if o is y_p]
                if not hit:
                    hit = [n + (' (squeezed last axis of size 1 by keras squeeze_or_expand_dimensions)' if o.shape != y_p.shape else '') for n, o in zip(flat_out_names, flat_outs) if o.shape.num_elements() == y_p.shape.num_elements() and np.array_equal(np.reshape(o.numpy(), y_p.shape), y_p.numpy())]
                v = _inner(y_t, y_p)
                records.append(dict(slot=_idx, inner_loss=type(_inner).__name__, inner_name=getattr(_inner, 'name', None),
                                    output=hit, y_pred_shape=list(y_p.shape), y_true_shape=list(y_t.shape),
                                    value=float(v.numpy()), value_shape=list(v.shape)))
                return v
            lo.fn = rec
        total2 = float(cont(targets, y_pred).numpy())
        lw = cont._loss_weights
        for r in records:
            r["weight"] = None if lw[r["slot"]] is None else float(lw[r["slot"]])
            r["reduction_outer"] = str(cont._losses[r["slot"]].reduction)
        # flattened loss-dict keys, in the same (sorted) order Keras uses
        loss_keys_sorted = sorted(task.losses.keys())
        for r in records:
            r["loss_key"] = loss_keys_sorted[r["slot"]]
        print(f"--- {cname}: total={total2:.6f} (first call {float(total.numpy()):.6f}); n_losses={len(cont._losses)} n_outputs={len(flat_outs)}")
        print("    sorted loss keys :", loss_keys_sorted)
        print("    sorted output keys:", flat_out_names)
        for r in records:
            print(f"    slot {r['slot']:2d} loss_key={r['loss_key']!r:28s} {r['inner_loss']:18s} w={r['weight']} -> output {r['output']} shape {r['y_pred_shape']} value={r['value']:.6g}")
        res["containers"][cname] = dict(total=total2, records=records, weights_sorted=[None if w is None else float(w) for w in lw])
    return res, model, task, (inputs, targets, init_states), outs_np


L2KEYS = {"unilateral": ["joint position", "muscle state"],
          "bi": ["joint position", "muscle state", "proprioceptive feedback", "visual feedback"]}
def np_objectives(kind, o, yt):
    keys = L2KEYS["unilateral" if kind == "unilateral" else "bi"]
    t = dict(pos_abs=np_pos_abs(yt, o["cartesian position"]), pos_sq=np_pos_sq(yt, o["cartesian position2"]),
             exc=np_exc(o["excitation"]))
    for k in ["joint position", "muscle state", "proprioceptive feedback", "visual feedback"]:
        t["l2xdx[" + k + "]"] = np_l2xdx(o[k])
    reg = sum(t["l2xdx[" + k + "]"] for k in keys)
    obj = dict(unspec=t["exc"] + 2.5 * t["pos_abs"] + 2.5 * t["pos_sq"] + 0.01 * reg,
               left=5 * t["pos_abs"] + 0.02 * reg,
               right=2 * t["exc"] + 5 * t["pos_sq"])
    return t, obj

if __name__ == "__main__":
    allres = []; npz = {}
    for kind, mode in [("unilateral", "unspec"), ("unilateral", "left"), ("bi", "dual"), ("bicc", "dual"), ("bicc", "unspec"), ("bi", "unspec")]:
        r, model, task, (inp, tgt, st0), o = probe(kind, mode)
        yt = np.asarray(tgt)
        t, obj = np_objectives(kind, o, yt)
        r["numpy_terms"] = {k: float(v) for k, v in t.items()}
        r["numpy_objectives"] = {k: float(v) for k, v in obj.items()}
        cmp = {"compiled_loss": obj["left" if mode == "left" else "unspec"]}
        if mode == "dual": cmp.update({"dual_loss[0]": obj["left"], "dual_loss[1]": obj["right"]})
        for c, v in cmp.items():
            kv = r["containers"][c]["total"]
            print(f"CHECK {kind}/{mode} {c}: keras={kv:.6f} numpy={v:.6f} rel.diff={abs(kv-v)/abs(v):.2e}")
            r["containers"][c]["numpy_total"] = float(v)
        for rec in r["containers"]["compiled_loss"]["records"]:
            pass
        allres.append(r)
        p = f"{kind}_{mode}/"
        npz[p + "inputs"] = inp["inputs"]
        for i, s in enumerate(st0): npz[p + f"init_state_{i}_{task.network.initial_state_names[i]}"] = np.asarray(s)
        npz[p + "targets"] = yt
        for k, v in o.items(): npz[p + "out/" + k] = v
        for k, v in t.items(): npz[p + "term/" + k] = np.float64(v)
        for k, v in obj.items(): npz[p + "objective/" + k] = np.float64(v)
        for c in r["containers"]: npz[p + "keras_total/" + c] = np.float64(r["containers"][c]["total"])
        for w in model.trainable_variables: npz[p + "weight/" + w.name] = w.numpy()
    json.dump(allres, open(sys.argv[1] + ".json", "w"), indent=1)
    np.savez(sys.argv[1], **npz)
    print("saved", len(npz), "arrays")
