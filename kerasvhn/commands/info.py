"""`kerasvhn info`: the backend, the version and the presets."""

import sys

HELP = "show the Keras backend, the package version and the presets"
DESCRIPTION = "Prints the Keras backend, the kerasvhn version, and each preset's parameter count and input shape."


def add_arguments(parser):
    pass


def run(args, out=None):
    import keras

    out = out or sys.stdout

    import kerasvhn
    from kerasvhn.model import MultiDigitNet
    from kerasvhn.presets import PRESETS, PRETRAINED

    print(f"kerasvhn {kerasvhn.__version__}", file=out)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}", file=out)
    print("presets:", file=out)
    for name in PRESETS:
        model = MultiDigitNet(name)
        shape = "x".join(str(d) for d in model.input_shape[1:])
        print(f"  {name:<12} {model.count_params():>12,} parameters   input {shape}", file=out)
        del model
    print("trained weights: " + ", ".join(f"{name} ({entry['preset']})" for name, entry in PRETRAINED.items()),
          file=out)
    return 0
