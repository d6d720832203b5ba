"""One gradient step on the negative log-likelihood of a minibatch.

The one place where a model learns from labels, shared by the training loop
of the block codes (:func:`tfmdl.training.train`) and the online learner
(:mod:`tfmdl.codes.prequential.online`), so that both compute the loss the same way: the NLL
in nats from ``sparse_softmax_cross_entropy_with_logits`` of float32 logits,
summed and divided by an agreed normaliser, plus the model's own losses
(weight decay, the KL terms of Flipout layers) scaled as the caller says.
"""

import tensorflow as tf


def gradient_step(model, optimizer, x, y, *, normalizer,
                  regularization_scale=1.0, num_replicas: int = 1):
  """Take one optimizer step on ``x, y``; return the per-sample NLL (nats).

  The loss is ``sum(NLL) / normalizer + regularization_scale *
  sum(model.losses) / num_replicas``. Under a ``tf.distribute`` strategy
  each replica calls this on its share of a global batch: the normaliser is
  then the global batch size and the regularisation is split across the
  replicas, so that the summed gradient is that of one big batch.

  Args:
    model: a Keras model (either Keras) that outputs logits.
    optimizer: an optimizer of the model's own Keras, built on its
      trainable variables.
    x, y: the minibatch; integer labels.
    normalizer: float32 scalar that the summed NLL is divided by (the
      global batch size, or the minibatch's own size for a mean).
    regularization_scale: weight of ``model.losses``.
    num_replicas: replicas that share the global batch.
  """
  variables = model.trainable_variables
  with tf.GradientTape() as tape:
    logits = tf.cast(model(x, training=True), tf.float32)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
    loss = tf.reduce_sum(nll) / normalizer
    if model.losses:
      loss += regularization_scale * tf.add_n(model.losses) / num_replicas
  grads = tape.gradient(loss, variables)
  optimizer.apply_gradients(zip(grads, variables))
  return nll
