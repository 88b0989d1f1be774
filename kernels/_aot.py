"""Ahead-of-time compile specs: what bench/aot.py needs to compile a kernel without a GPU.

Each kernel module's `aot_specs()` lists, with `spec(...)`, every variant its launchers
can choose on a GPU (dtype x launch configuration x constexpr flags); bench/aot.py
compiles each with `triton.compile(ASTSource(...), target=GPUTarget(...))`.
"""


def spec(kernel, fn, dtype, constexprs, num_warps, num_stages=None, pointer_dtypes=None,
         floats=(), aligned=(), tensor_core_gemm=False):
    """One compile job. Pointers are `*dtype` unless named in pointer_dtypes; ints are
    i32; `aligned` ints are declared divisible by 16 (channel counts of the preset
    layers are), as Triton specialises them at run time; pointers always are (torch
    allocations are 16-byte aligned). tensor_core_gemm: a half-precision tl.dot
    that should compile to wgmma on sm_90."""
    pointer_dtypes = pointer_dtypes or {}
    signature, attrs = {}, {}
    for index, (name, param) in enumerate(zip(fn.arg_names, fn.params)):
        if param.is_constexpr:
            signature[name] = "constexpr"
            continue
        if name.endswith("_ptr"):
            signature[name] = "*" + pointer_dtypes.get(name, dtype)
        else:
            signature[name] = "fp32" if name in floats else "i32"
        if name.endswith("_ptr") or name in aligned:
            attrs[(index,)] = [["tt.divisibility", 16]]
    options = {"num_warps": num_warps}
    if num_stages is not None:
        options["num_stages"] = num_stages
    # Flags in the kernel's argument order, however the caller ordered them.
    flags = " ".join(f"{name}={constexprs[name]}" for name in fn.arg_names if name in constexprs)
    stages = f" stages={num_stages}" if num_stages is not None else ""
    return {
        "kernel": kernel,
        "config": f"{dtype} {flags} warps={num_warps}{stages}",
        "fn": fn,
        "signature": signature,
        "constexprs": dict(constexprs),
        "attrs": attrs,
        "options": options,
        "tensor_core_gemm": tensor_core_gemm,
    }
