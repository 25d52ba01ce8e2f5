"""Measurement on real networks: models with controlled spectra and attention, Jacobian
products dh_T/dh_t (torch, CPU or CUDA), tasks and training (THEORY.md sections 1, 2, 5-8).

Submodules import torch; this package's top level does not, so ``untangle bounds`` stays fast.
"""
