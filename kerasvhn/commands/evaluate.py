"""`kerasvhn evaluate`: a model's scores on a prepared split, synthetic images or a
folder of labelled photos."""

import json
from pathlib import Path

from kerasvhn.commands.arguments import (add_look_arguments, add_model_arguments, add_synthetic_arguments, int_at_least,
                                         looks, probability)

SYNTHETIC_OPTIONS = ("style", "effect", "no_degradations")
PHOTO_OPTIONS = ("tta", "adapt_bn", "out", "min_confidence", "locator", "no_locate", "min_score")

HELP = "score a model: whole-number and per-digit accuracy, coverage at 98%%, accuracy by length"
DESCRIPTION = (
    "Reads a prepared split (.h5 from `kerasvhn prepare`), freshly rendered synthetic numbers or a folder of "
    "labelled photos and prints the model's accuracy. Synthetic images are drawn for evaluation (purpose 'test' by "
    "default); a purpose and seed the model was trained on is refused; their accuracy is also given by style "
    "(the kind of house number: plate, stencil, vertical, ...), and --style / --effect draw only some looks. --photos DIR reads each photo listed in "
    "DIR/labels.csv (columns file, number and optionally framing: tight or loose, tight when missing) as "
    "`kerasvhn predict` does: in two stages when a number locator is at hand (the shipped one when installed, or "
    "--locator), and whole as well, for comparison; it reports whole-number accuracy by framing and length, lists "
    "the misses and writes a contact sheet of them and every reading to --out; a photo that cannot be read is one "
    "error line and a miss (exit status 1)."
)
SCORES = ("count", "whole_number_accuracy", "per_digit_accuracy", "coverage_at_98", "predict_images_per_s",
          "by_length", "by_style")


def add_arguments(parser):
    add_model_arguments(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="a prepared split, e.g. prepared/test.h5")
    source.add_argument("--synthetic", type=int_at_least(1), metavar="N", help="N synthetic images")
    source.add_argument("--photos", type=Path, metavar="DIR", help="a folder of photos and their labels.csv")
    add_synthetic_arguments(parser)
    parser.add_argument("--photo-share", type=probability, default=None,
                        help="with --synthetic: share of images framed like a whole street photo (default: 0.15)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    add_look_arguments(parser.add_argument_group("with --synthetic: the generator's looks"))
    photos = parser.add_argument_group("with --photos")
    photos.add_argument("--tta", action="store_true",
                        help="test-time augmentation: average the model's probabilities over 6 views of each photo "
                        "(the centre and corner 54x54 windows of its 64x64 frame, and the whole photo at 54x54)")
    photos.add_argument("--adapt-bn", nargs="?", const=True, default=False, type=Path, metavar="DIR",
                        help="AdaBN: read with a copy of the model whose batch-norm statistics are recomputed on "
                        "the photos (labels unused), or on every image in DIR")
    photos.add_argument("--out", type=Path, default=None,
                        help="where the misses' contact sheet and every reading go (default: reports/photos)")
    photos.add_argument("--min-confidence", type=probability, default=None,
                        help="answer \"\" for numbers less probable than this, as predict does (default: 0.3)")
    photos.add_argument("--locator", default=None, metavar="MODEL",
                        help="read in two stages with this NumberLocator (.keras or .weights.h5 file, or a preset "
                        "name; locator_synthetic is the shipped one), reported beside the one-stage reading")
    photos.add_argument("--no-locate", action="store_true", help="read each photo whole only (one stage)")
    photos.add_argument("--min-score", type=probability, default=None,
                        help="the least score of a located box (default: the locator's own)")


def run(args):
    from kerasvhn.commands.arguments import load_model_argument
    from kerasvhn.evaluate import accuracy_by, evaluate_model, summary_lines

    misused = [name for name in PHOTO_OPTIONS if getattr(args, name) not in (None, False)]
    if args.photos is None and misused:
        raise ValueError(f"--{misused[0].replace('_', '-')} applies to --photos only")
    misused = [name for name in SYNTHETIC_OPTIONS if getattr(args, name) not in (None, False)]
    if args.synthetic is None and misused:
        raise ValueError(f"--{misused[0].replace('_', '-')} applies to --synthetic only")
    model = load_model_argument(args)
    if args.photos is not None:
        return _photos(args, model)
    if args.data is not None:
        from kerasvhn.data.splits import read_split

        images, labels = read_split(args.data)
        what = str(args.data)
    else:
        images, labels, what, styles = _synthetic(args, model)
    scores = evaluate_model(model, images, labels)
    if args.synthetic is not None:
        scores["by_style"] = accuracy_by(styles, scores)
    if args.json:
        print(json.dumps({"data": what, **{key: scores[key] for key in SCORES if key in scores}}))
    else:
        for line in summary_lines(scores, what):
            print(line)
    return 0


def _synthetic(args, model):
    from kerasvhn.data.synth import PHOTO_SHARE, check_unseen, render_numbers

    check_unseen(getattr(model, "training_streams", None), args.purpose, args.seed, args.split)
    photo_share = PHOTO_SHARE if args.photo_share is None else args.photo_share
    styles, effects = looks(args)
    traces = []
    images, labels = render_numbers(args.synthetic, seed=args.seed, split=args.split, workers=2,
                                    purpose=args.purpose, lengths=args.lengths, photo_share=photo_share,
                                    traces=traces, styles=styles, effects=effects)
    what = (f"{args.synthetic} synthetic images (purpose {args.purpose}, seed {args.seed}, {args.split} fonts, "
            f"{args.lengths} lengths, photo share {photo_share}"
            + (f", styles {styles}" if styles else "") + (f", effects {effects}" if effects else "") + ")")
    return images, labels, what, [trace["style"] for trace in traces]


def _photos(args, model):
    """--photos: reads the folder's photos, prints the report, writes the sheet and JSON."""
    import sys

    from kerasvhn.photos import evaluate_photos, misses, write_report
    from kerasvhn.predict import MIN_CONFIDENCE, wants_locator

    if args.locator is not None and args.no_locate:
        raise ValueError("--locator and --no-locate contradict each other")
    if args.locator is not None and args.tta:
        raise ValueError("--tta reads whole photos: it cannot be used with --locator")
    threshold = MIN_CONFIDENCE if args.min_confidence is None else args.min_confidence
    locator = None
    if not args.no_locate and not args.tta and wants_locator(None, args.locator):
        from kerasvhn.locator import load_locator

        locator = load_locator(args.locator)
    result = evaluate_photos(model, args.photos, tta=args.tta, adapt_bn=args.adapt_bn, min_confidence=threshold,
                             locator=locator, min_score=args.min_score)
    for row in result["photos"]:
        if row["error"] is not None:
            print(f"kerasvhn: error: {row['error']}", file=sys.stderr)
    sheet, readings = write_report({**result, "model": args.model}, args.out or Path("reports") / "photos")
    if args.json:
        keys = ("count", "right", "accuracy", "unreadable", "by_framing", "by_length", "tta_views", "adapted_on",
                "located", "one_stage")
        missed = [{key: row[key] for key in ("file", "truth", "framing", "number", "confidence", "rejected",
                                             "rejected_confidence", "box", "error")} for row in misses(result)]
        print(json.dumps({"data": str(args.photos), "model": args.model, **{key: result[key] for key in keys},
                          "misses": missed, "contact_sheet": sheet and str(sheet), "readings": str(readings)}))
    else:
        for line in _photo_lines(result, args.model) + _written_lines(sheet, readings):
            print(line)
    return 1 if result["unreadable"] else 0


def _photo_lines(result, model_name):
    from kerasvhn.photos import misses, reading_text

    def part(name, tally):
        return f"{name} {tally['right']}/{tally['count']} ({100 * tally['accuracy']:.1f}%)"

    how = f"model {model_name}"
    if result["tta_views"]:
        how += f", test-time augmentation over {result['tta_views']} views"
    if result["adapted_on"]:
        how += f", AdaBN on {result['adapted_on']} images"
    framings = ", ".join(f"{tally['count']} {name}" for name, tally in result["by_framing"].items())
    missed = misses(result)
    read = "in two stages (locate, then read the best box)" if result["located"] else "whole"
    lines = [
        f"photos: {result['folder']}, {result['count']} read {read} ({framings}); {how}",
        "whole-number accuracy: " + part("all", result),
        "by framing: " + ", ".join(part(name, tally) for name, tally in result["by_framing"].items()),
    ]
    if result["one_stage"] is not None:
        one = result["one_stage"]
        lines.append("read whole (one stage) instead: " + part("all", one) + "; by framing: "
                     + ", ".join(part(name, tally) for name, tally in one["by_framing"].items()))
    lines += [
        "by length: " + ", ".join(part(f"{n} digit{'s' if n > 1 else ''}", tally)
                                  for n, tally in result["by_length"].items()),
        f"misses ({len(missed)}): file, framing, truth, reading (confidence)",
    ]
    width = max((len(row["file"]) for row in missed), default=0)
    lines += [f"  {row['file']:<{width}}  {row['framing']:<5}  {row['truth']:>6}  {reading_text(row)}"
              for row in missed]
    return lines


def _written_lines(sheet, readings):
    return [f"contact sheet of the misses: {sheet}" if sheet else "no miss: no contact sheet",
            f"every reading: {readings}"]
