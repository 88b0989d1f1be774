"""The typefaces synthetic house numbers are drawn in.

The same seed must draw the same image on every machine, so the set of faces never
depends on what happens to be installed: every face is either a file shipped inside
kerasvhn (`kerasvhn/data/fontfiles/`, unmodified copies with their licences beside
them: SIL OFL 1.1 or Apache 2.0, see fontfiles/README.md; SHA256SUMS pins their
bytes) or one of the DejaVu, STIX and Computer Modern files inside matplotlib's
wheel (a required dependency). A missing file is an error naming it, never a
silent change of the set.

A face is a file, or a file and the named instance of a variable font ("Light",
"Bold"): `(path, variation)` with variation None for static fonts.

Some families are held out of training (HELD_OUT_FAMILIES), to measure a model on
faces it never saw. Digits-only faces that kerasvhn draws itself (seven segments,
dot matrix) live in `kerasvhn.data.glyphs` (DRAWN_FACES).

>>> from kerasvhn.data.fonts import font_families
>>> families = font_families("all")
>>> len(families) >= 20
True
>>> sorted(font_families("held_out"))
['Caladea', 'Lato', 'Overpass']
"""

import functools
import hashlib
import os

#: Where shipped font files live.
FONT_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fontfiles")

#: family -> (where: "matplotlib" or a folder of FONT_FOLDER, faces: file or (file, variation)).
FAMILIES = {
    "DejaVu Sans": ("matplotlib", ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf")),
    "DejaVu Sans Mono": ("matplotlib", ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")),
    "DejaVu Serif": ("matplotlib", ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf")),
    "STIX": ("matplotlib", ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf")),
    "Computer Modern Roman": ("matplotlib", ("cmr10.ttf", "cmb10.ttf", "cmti10.ttf")),
    "Computer Modern Sans": ("matplotlib", ("cmss10.ttf",)),
    "Computer Modern Typewriter": ("matplotlib", ("cmtt10.ttf",)),
    "Roboto": ("roboto", ("Roboto-Regular.ttf", "Roboto-Bold.ttf")),
    "Open Sans": ("opensans", ("OpenSans-Regular.ttf", "OpenSans-Bold.ttf", "OpenSans-ExtraBold.ttf")),
    "Source Sans Pro": ("sourcesanspro", ("SourceSansPro-Regular.otf", "SourceSansPro-Bold.otf",
                                          "SourceSansPro-Black.otf")),
    "Fjalla One": ("fjallaone", ("FjallaOne-Regular.ttf",)),
    "Manrope": ("manrope", ("Manrope-Regular.ttf", "Manrope-Bold.ttf", "Manrope-ExtraBold.ttf")),
    "Hanken Grotesk": ("hankengrotesk", ("HankenGrotesk-Regular.otf", "HankenGrotesk-Bold.otf",
                                         "HankenGrotesk-Light.otf")),
    # Plate and sign faces: DIN-like, condensed gothic, geometric (thin modern cut digits),
    # classical capitals (cast plaques), slab serif, stencil.
    "Barlow Condensed": ("barlowcondensed", ("BarlowCondensed-Regular.ttf", "BarlowCondensed-SemiBold.ttf",
                                             "BarlowCondensed-Light.ttf")),
    "Oswald": ("oswald", tuple(("Oswald-VariableFont_wght.ttf", v) for v in ("Light", "Regular", "Bold"))),
    "Jost": ("jost", tuple(("Jost-VariableFont_wght.ttf", v) for v in ("ExtraLight", "Light", "Regular", "SemiBold"))),
    "Cinzel": ("cinzel", tuple(("Cinzel-VariableFont_wght.ttf", v) for v in ("Regular", "Bold"))),
    "Roboto Slab": ("robotoslab", tuple(("RobotoSlab-VariableFont_wght.ttf", v) for v in ("Light", "Regular", "Bold"))),
    "Bebas Neue": ("bebasneue", ("BebasNeue-Regular.ttf",)),
    "Black Ops One": ("blackopsone", ("BlackOpsOne-Regular.ttf",)),
    "Lato": ("lato", ("Lato-Regular.ttf", "Lato-Bold.ttf", "Lato-Black.ttf", "Lato-Italic.ttf")),
    "Caladea": ("caladea", ("Caladea-Regular.ttf", "Caladea-Bold.ttf")),
    "Overpass": ("overpass", tuple(("Overpass-VariableFont_wght.ttf", v) for v in ("Light", "Regular", "Bold"))),
}

#: Families never used for training data: the held-out evaluation draws only these.
HELD_OUT_FAMILIES = ("Caladea", "Lato", "Overpass")
#: Stencil faces (the stencil style prefers them).
STENCIL_FAMILIES = ("Black Ops One",)

SPLITS = ("train", "held_out", "all")


def _folder(source):
    if source == "matplotlib":
        import matplotlib

        return os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    return os.path.join(FONT_FOLDER, source)


@functools.lru_cache(maxsize=None)
def _available():
    found = {}
    for family, (source, faces) in FAMILIES.items():
        paths = []
        for face in faces:
            name, variation = (face, None) if isinstance(face, str) else face
            path = os.path.join(_folder(source), name)
            if not os.path.isfile(path):
                where = "matplotlib's wheel (reinstall matplotlib)" if source == "matplotlib" else \
                    "kerasvhn's fontfiles (reinstall kerasvhn)"
                raise RuntimeError(f"font file {path} of {family} is missing from {where}: the synthetic images "
                                   "would differ from those drawn elsewhere with the same seed")
            paths.append((path, variation))
        found[family] = tuple(paths)
    return found


def font_families(split="train"):
    """{family: ((font file path, variation or None), ...)} of one split.

    split: "train" (all but HELD_OUT_FAMILIES), "held_out" or "all". Raises
    RuntimeError naming the file when one is missing.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    found = _available()
    if split == "all":
        return dict(found)
    held = split == "held_out"
    return {name: faces for name, faces in found.items() if (name in HELD_OUT_FAMILIES) == held}


def shipped_checksums():
    """{path relative to FONT_FOLDER: sha256} of the shipped font files, as recorded
    in fontfiles/SHA256SUMS (what tests compare the files against)."""
    sums = {}
    with open(os.path.join(FONT_FOLDER, "SHA256SUMS"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                digest, name = line.split(maxsplit=1)
                sums[name.strip()] = digest
    return sums


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
