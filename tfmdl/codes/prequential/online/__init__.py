"""The online prequential code: one model, trained as the labels arrive.

Beyond the paper: Bornschein, Li & Hutter, "Sequential Learning of Neural
Networks for Prequential MDL" (2022). Instead of retraining a fresh model from
scratch for every block (:mod:`~tfmdl.codes.prequential.block`), one model is trained in a
single pass: each new minibatch is first *encoded* with the current model,
then *learned from*, together with replayed earlier examples. The codelength
is again ``sum -log2 p(y_i | x_i)`` over the samples in transmission order,
at a fraction of the compute of block retraining.

What Alice and Bob agree on in advance: the data order, ``model_fn``, the
:class:`OnlineConfig` (minibatch size B, replay count and kind R, learning
rate and schedule, augmentation, EMA decay, calibration, ensemble size) and
the seed. The n samples are cut into
``T = ceil(n / B)`` minibatches of B (the last may be shorter). Then:

* **Minibatch 0 is sent with the uniform code**: ``log2 K`` bits per label.
* **Minibatch t >= 1 is encoded before anything learns from it**, with
  ``log_softmax(logits / temperature)`` of the *encoding model*: the model's
  exponential moving average of the weights (EMA, debiased: the decay after
  k steps is ``min(ema_decay, (1 + k) / (10 + k))``) or, with
  ``ema_decay=0``, the raw weights. Its bits depend only on minibatches < t.
* **Calibration (forward):** the temperature (one scalar, parametrised by its
  log, starting at 1) takes one Adam step on the mean NLL of minibatch t
  under the logits that encoded it; it applies from minibatch t + 1 on.
* **Learning:** the raw weights take ``1 + R`` Adam steps (mean NLL of the
  step's minibatch, plus ``model.losses`` if the model has any): one on
  minibatch t, then R on replay minibatches of B samples of everything
  transmitted so far (minibatches 0..t), either drawn uniformly with
  replacement (from at most ``replay_memory`` of them, a uniform sample
  kept by reservoir sampling) or read by R *replay streams* that walk the
  sent samples in order and restart at random earlier points
  (:mod:`~.replay`), all from stateless generators seeded with
  ``(seed, t)``. ``R = 0`` is plain online SGD. The learning rate follows an
  agreed schedule of t (constant or cosine, optional warm-up,
  :mod:`~.schedule`); images may be shifted (and flipped) at
  random, from the same seeds. After each step the EMA weights are updated.
  Dropout is active during learning, off during encoding (its masks drawn
  from a generator whose state is a variable: saved with the rest).
* **Ensembles:** with ``ensemble = E``, E such learners from seeds
  ``seed .. seed + E - 1`` run side by side and each minibatch is encoded
  with the equal-weight average of their predictive distributions.
* **The online switch** (:class:`OnlineSwitch`): learners of several models
  (each an :class:`OnlineConfig`, one batch size) run side by side in the
  same pass, and every label from minibatch 1 on is coded with a switching
  mixture over their predictions (fixed share or the switch distribution,
  prior fixed in advance), its weights updated after each label with the
  bits each learner gave it: a small model that learns fast codes the early
  labels, a large one the late labels. Bob updates the weights with each
  label he decodes.
* **Uniform fallback:** summed into the blocks of the prequential timesteps,
  each block's labels are coded with the Bayes mixture of these predictions
  and the uniform code (prior ``2**-k`` on uniform in block k), as the block
  code does, so the first blocks never cost much more than uniform.

Bob decodes minibatch t with the same probabilities (they depend on
minibatches < t only), then runs the same learning step on the labels he has
just decoded. In code, both call :meth:`OnlineLearner.advance`, one traced
``tf.function`` whose iteration t learns from minibatch t - 1 (if t > 0) and
then predicts minibatch t (if t < T): Alice runs many iterations per call,
Bob one, decoding between calls. Same traced graph, same seeds: the same
floats, given op determinism on the same kind of machine
(:func:`tfmdl.training.make_deterministic`).

The inputs may be arrays or a ``tf.data`` stream (TFRecord files, TFDS), read
once, in order, never held whole: uniform replay then draws from a memory of
``replay_memory`` sent samples, kept by reservoir sampling from agreed seeds
(:mod:`~.replay`, :mod:`~.inputs`); on the same examples with the same replay,
a stream gives the floats of the arrays. Between calls the learner's whole
state can be saved and restored, and a run in a workdir resumes from its
last save with the bits of an uninterrupted run
(:mod:`tfmdl.codes.prequential.checkpoint`, docs/cluster.md).

For the switch code and TensorBoard, the per-sample bits are summed into the
blocks of the usual prequential timesteps (``t_1, 2 t_1, ...``), so an online
run and a block run of the same data order can be mixed. The test accuracy is
that of the final encoding model: no extra training.

Example::

    from tfmdl import data, models
    from tfmdl.codes import prequential
    ds = data.load("digits")
    result = prequential.prequential_code(
        lambda seed: models.build("mlp", ds.input_shape, ds.num_classes,
                                  seed=seed),
        ds.x_train, ds.y_train, ds.num_classes,
        learner=prequential.OnlineConfig(batch_size=16, replay=4))
    print(result.codelength_bits, result.compression_ratio)

Modules: :mod:`~.config` (what is agreed),
:mod:`~.learner` (the state both sides evolve and its step),
:mod:`~.replay` (which sent samples are rehearsed),
:mod:`~.inputs` (where the inputs come from: arrays or a stream),
:mod:`~.schedule` (the learning rate),
:mod:`~.calibration` (the temperature),
:mod:`~.ensemble` (learners side by side in the prequential protocol,
averaged or switched) and :mod:`~.defaults` (each zoo model's settings).
"""

from tfmdl.codes.prequential.online.config import OnlineConfig
from tfmdl.codes.prequential.online.config import OnlineSwitch
from tfmdl.codes.prequential.online.config import SwitchConfig
from tfmdl.codes.prequential.online.ensemble import OnlineEnsemble
from tfmdl.codes.prequential.online.learner import OnlineLearner

__all__ = ["OnlineConfig", "OnlineEnsemble", "OnlineLearner", "OnlineSwitch",
           "SwitchConfig"]
