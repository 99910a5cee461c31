"""Structure-aware mutators, one module per loader; each `cases(seeds, rng, n)` returns n cases."""
from . import arrays, assembly, audio, config, container, model, options, paths

#: loader name -> its module, in the order the counts are printed.
LOADERS = {"container": container, "model": model, "npz": arrays.Npz, "npy": arrays.Npy, "wav": audio,
           "config": config, "assembler": assembly, "paths": paths, "options": options}

__all__ = ["LOADERS"]
