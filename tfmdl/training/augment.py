"""Seeded data augmentation that Bob can replay: random shifts and flips;
and the fixed shifts of test-time augmentation.

Augmentation is part of a code's training procedure, so it must be a fixed
function of agreed seeds: every random number comes from a stateless
generator seeded by the caller (a block's seed, an online step's index), and
Bob, replaying the same training, draws the same shifts and flips.
"""

import tensorflow as tf


def augment_batch(x, seed, shift_pixels: int, flip: bool = True):
  """Random per-sample shifts (and horizontal flips) of images ``x``.

  Args:
    x: float images, shape (batch, height, width, channels).
    seed: shape-(2,) int seed of the stateless generators.
    shift_pixels: largest shift, in pixels, along each axis; the uncovered
      border is filled with zeros.
    flip: also mirror each image left-right with probability 1/2 (for data
      whose classes are mirror-symmetric: clothes, objects; not digits).
  """
  batch = tf.shape(x)[0]
  seeds = tf.random.experimental.stateless_split(seed, 2)
  shifts = tf.random.stateless_uniform(
      [batch, 2], seeds[0], minval=-shift_pixels, maxval=shift_pixels + 1,
      dtype=tf.int32)
  if flip:
    mirrored = tf.random.stateless_uniform([batch], seeds[1]) < 0.5
    x = tf.where(mirrored[:, None, None, None], tf.reverse(x, axis=[2]), x)
  return shift_images(x, tf.cast(shifts, tf.float32))


def shift_images(x, shifts):
  """Images ``x`` (batch, height, width, channels) shifted by ``shifts``
  (batch, 2) pixels (x, y), the uncovered border filled with zeros."""
  batch = tf.shape(x)[0]
  ones = tf.ones([batch], tf.float32)
  zeros = tf.zeros([batch], tf.float32)
  # Projective transform [a0 a1 a2 b0 b1 b2 c0 c1] mapping output to input.
  transforms = tf.stack([ones, zeros, -shifts[:, 0], zeros, ones,
                         -shifts[:, 1], zeros, zeros], axis=1)
  return tf.raw_ops.ImageProjectiveTransformV3(
      images=x, transforms=transforms, output_shape=tf.shape(x)[1:3],
      fill_value=0.0, interpolation="NEAREST", fill_mode="CONSTANT")


def shifted_views(x, pixels: int):
  """``x`` and its four shifts by ``pixels`` (right, left, down, up),
  stacked: shape (5 * batch, ...), the views in that order."""
  batch = tf.shape(x)[0]
  views = [x]
  for dx, dy in ((pixels, 0), (-pixels, 0), (0, pixels), (0, -pixels)):
    shifts = tf.tile(tf.constant([[dx, dy]], tf.float32), [batch, 1])
    views.append(shift_images(x, shifts))
  return tf.concat(views, axis=0)
