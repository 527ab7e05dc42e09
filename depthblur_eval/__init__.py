"""Evaluation for tests and benchmarks: not part of the product, not in the wheel.

* :mod:`depthblur_eval.metrics` -- depth against ground truth (bad-N, boundary distances);
* :mod:`depthblur_eval.reference` -- exact thin-lens renders of random layered scenes,
  the plain layered and Gaussian-stack baselines, PSNR.
"""
