"""The typefaces synthetic house numbers are drawn in.

Every face comes from a pip package kerasvhn depends on, so that a user gets the
same fonts offline on any machine: matplotlib's bundled DejaVu, STIX and Computer
Modern faces, and the font-only packages font-roboto, ttf-opensans,
font-source-sans-pro, font-fjallaone (condensed), font-manrope,
font-hanken-grotesk, font-lato and font-caladea (serif). Their licences are
permissive: DejaVu's (Bitstream Vera derivative), STIX's OFL, Computer Modern's
(Knuth, free), Apache 2.0 (Roboto, Open Sans, Caladea) and SIL OFL 1.1 (the rest).

Two families are held out of training (HELD_OUT_FAMILIES) so that a model's
accuracy on faces it never saw can be measured.

>>> from kerasvhn.data.fonts import font_families
>>> families = font_families("all")
>>> len(families) >= 10
True
>>> sorted(font_families("held_out"))
['Caladea', 'Lato']
"""

import functools
import importlib.util
import os

#: family -> (where the files are: "matplotlib" or a package name, the files).
FAMILIES = {
    "DejaVu Sans": ("matplotlib", ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf")),
    "DejaVu Sans Mono": ("matplotlib", ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")),
    "DejaVu Serif": ("matplotlib", ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf")),
    "STIX": ("matplotlib", ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf")),
    "Computer Modern Roman": ("matplotlib", ("cmr10.ttf", "cmb10.ttf", "cmti10.ttf")),
    "Computer Modern Sans": ("matplotlib", ("cmss10.ttf",)),
    "Computer Modern Typewriter": ("matplotlib", ("cmtt10.ttf",)),
    "Roboto": (
        "font_roboto",
        ("Roboto-Regular.ttf", "Roboto-Bold.ttf", "Roboto-Black.ttf", "Roboto-Light.ttf", "Roboto-Italic.ttf"),
    ),
    "Open Sans": ("ttf_opensans", ("OpenSans-Regular.ttf", "OpenSans-Bold.ttf", "OpenSans-ExtraBold.ttf")),
    "Source Sans Pro": (
        "font_source_sans_pro",
        ("SourceSansPro-Regular.ttf", "SourceSansPro-Bold.ttf", "SourceSansPro-Black.ttf"),
    ),
    "Fjalla One": ("font_fjallaone", ("FjallaOne-Regular.ttf",)),
    "Manrope": ("font_manrope", ("Manrope-Regular.ttf", "Manrope-Bold.ttf", "Manrope-ExtraBold.ttf")),
    "Hanken Grotesk": (
        "font_hanken_grotesk",
        ("HankenGrotesk-Regular.otf", "HankenGrotesk-Bold.otf", "HankenGrotesk-Light.otf"),
    ),
    "Lato": ("font_lato", ("Lato-Regular.ttf", "Lato-Bold.ttf", "Lato-Black.ttf", "Lato-Italic.ttf")),
    "Caladea": ("font_caladea", ("Caladea-Regular.ttf", "Caladea-Bold.ttf")),
}

#: Families never used for training data: the held-out evaluation draws only these.
HELD_OUT_FAMILIES = ("Caladea", "Lato")

SPLITS = ("train", "held_out", "all")


def _folder(source):
    if source == "matplotlib":
        import matplotlib

        return os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    spec = importlib.util.find_spec(source)
    if spec is None or not spec.submodule_search_locations:
        return None
    package = list(spec.submodule_search_locations)[0]
    for sub in ("files", "ttf"):
        if os.path.isdir(os.path.join(package, sub)):
            return os.path.join(package, sub)
    return None


@functools.lru_cache(maxsize=None)
def _available():
    found = {}
    for family, (source, files) in FAMILIES.items():
        folder = _folder(source)
        if folder is None:
            continue
        paths = tuple(os.path.join(folder, f) for f in files if os.path.isfile(os.path.join(folder, f)))
        if paths:
            found[family] = paths
    return found


def font_families(split="train"):
    """{family: (font file paths,)} of the installed families of one split.

    split: "train" (all but HELD_OUT_FAMILIES), "held_out" or "all".
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    found = _available()
    if not found:
        raise RuntimeError("no fonts found: is matplotlib installed?")
    if split == "all":
        return dict(found)
    held = split == "held_out"
    chosen = {name: paths for name, paths in found.items() if (name in HELD_OUT_FAMILIES) == held}
    if not chosen:
        raise RuntimeError(f"no {split} fonts installed (reinstall kerasvhn with its dependencies)")
    return chosen
