"""Triton kernels for kerasvhn, installed as `kerasvhn.kernels`.

One module per op (its @triton.jit kernels and the torch.autograd.Function that
launches them). Nothing here is imported unless `kerasvhn.fused` decides a kernel
can run: on the torch backend, never in a process where TensorFlow is loaded.
"""
