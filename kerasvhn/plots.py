"""The plots kerasvhn writes (training curves, accuracy by length, reading grids,
contact sheets), drawn off-screen (Agg) whatever pyplot's backend is."""

import os

import numpy as np


def figure(width, height):
    """A matplotlib Figure of width x height inches on an Agg canvas.

    >>> fig = figure(2, 1)
    >>> [round(v) for v in fig.get_size_inches()]
    [2, 1]
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def training_curves(history, path):
    """Loss and whole-number accuracy per epoch, training and validation (a PNG)."""
    from matplotlib.ticker import MaxNLocator

    fig = figure(10, 4)
    panels = fig.subplots(1, 2)
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for panel, metric, title in (
        (panels[0], "loss", "loss"),
        (panels[1], "sequence_accuracy", "whole-number accuracy"),
    ):
        for key, label in ((metric, "training (random crops)"), (f"val_{metric}", "validation (centred)")):
            if key in history:
                panel.plot(epochs, history[key], marker="o", label=label)
        panel.set_title(title)
        panel.set_xlabel("epoch")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.grid(alpha=0.3)
        panel.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def accuracy_by_length(splits, path, title="the demo's model by number length"):
    """Bars of whole-number accuracy by number length, one colour per split: {name: evaluate_model scores}."""
    fig = figure(8, 4)
    axis = fig.subplots()
    lengths = sorted({n for scores in splits.values() for n in scores["by_length"]})
    width = 0.8 / len(splits)
    for index, (name, scores) in enumerate(splits.items()):
        rows = scores["by_length"]
        x = np.array([lengths.index(n) for n in rows]) + (index - (len(splits) - 1) / 2) * width
        bars = axis.bar(x, [100 * row["accuracy"] for row in rows.values()], width, label=name)
        axis.bar_label(bars, labels=[str(row["count"]) for row in rows.values()], fontsize=6)
    max_digits = next(iter(splits.values()))["max_digits"]
    axis.set_xticks(range(len(lengths)),
                    ["none" if n == 0 else f"{max_digits + 1}+" if n > max_digits else str(n) for n in lengths])
    axis.set_xlabel("digits in the number (bar labels: images)")
    axis.set_ylabel("whole-number accuracy (%)")
    axis.set_ylim(0, 118)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8, loc="upper center", ncol=len(splits))
    axis.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def readings_grid(images, numbers, confidences, truth, path, what, columns=8):
    """Images with their readings (confidence) and, when wrong, the truth: green right, red wrong."""
    rows = -(-len(images) // columns)
    fig = figure(columns * 1.4, rows * 1.85)
    axes = fig.subplots(rows, columns, squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= len(images):
            continue
        axis.imshow(images[index])
        right = numbers[index] == truth[index]
        text = f"{numbers[index] or 'none'} ({100 * confidences[index]:.0f}%)"
        if not right:
            text += f"\ntrue: {truth[index] or 'none'}"
        axis.set_title(text, fontsize=8, color="green" if right else "red")
    fig.suptitle(f"{what}: prediction (confidence); green right, red wrong", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def photo_readings(paths, boxed, whole, truth, path, columns=8):
    """Photos with two readings each, cropped by their boxes and whole."""
    from PIL import Image

    rows = -(-len(paths) // columns)
    fig = figure(columns * 1.6, rows * 1.6)
    axes = fig.subplots(rows, columns, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, photo, by_box, by_whole, true in zip(axes.flat, paths, boxed, whole, truth):
        with Image.open(photo) as image:
            axis.imshow(image.convert("RGB"))
        lines = [f"{name}: {r.number or 'none'} ({100 * r.confidence:.0f}%)" for name, r in
                 (("boxes", by_box), ("whole", by_whole))]
        colour = "green" if by_box.number == true else "red"
        axis.set_title("\n".join(lines + [f"true: {true}"]), fontsize=7, color=colour)
    fig.suptitle("the shipped model (read_numbers) on synthetic test photos: cropped by their boxes, "
                 "and whole; green: the boxed reading is right", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def synth_contact_sheet(folder, records, path, columns=8, title=None, row_labels=None):
    """A PNG of the images of a format-1 folder's records with their boxes and numbers.

    A record may carry its own "path" (an image outside `folder`); row_labels, one
    per row of `columns` images, name the rows (a sheet with a row per style).
    """
    from matplotlib.patches import Rectangle
    from PIL import Image

    records = list(records)
    rows = -(-len(records) // columns)
    fig = figure(columns * 1.6 + (0.9 if row_labels else 0), rows * 1.25)
    axes = fig.subplots(rows, columns, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, record in zip(axes.flat, records):
        with Image.open(record.get("path") or os.path.join(folder, record["name"])) as image:
            axis.imshow(image.convert("RGB"))
        for left, top, width, height in zip(record["left"], record["top"], record["width"], record["height"]):
            axis.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, lw=0.7, ec="#00e5ff"))
        number = "".join(str(int(label) % 10) for label in record["label"])
        axis.set_title(number, fontsize=8)
    for row, label in enumerate(row_labels or []):
        axes[row, 0].text(-0.08, 0.5, label, transform=axes[row, 0].transAxes, ha="right", va="center", fontsize=9)
    fig.suptitle(title or f"kerasvhn synth: {folder} (boxes from digitStruct.mat)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def captioned_photos(images, captions, path, title, colour="red", columns=6):
    """A contact sheet: each image (an RGB PIL image or array; None for an empty
    tile) above its caption, in `colour` (e.g. the misses of `kerasvhn evaluate --photos`).

    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "sheet.png")
    >>> captioned_photos([np.zeros((20, 30, 3), np.uint8), None], ["true: 12\\nread: 17", "unreadable"], path, "misses")
    >>> os.path.getsize(path) > 0
    True
    """
    rows = max(1, -(-len(images) // columns))
    fig = figure(columns * 2.0, rows * 2.2)
    axes = fig.subplots(rows, columns, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, caption in zip(axes.flat, images, captions):
        if image is not None:
            axis.imshow(np.asarray(image))
        axis.set_title(caption, fontsize=7, color=colour)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def annotated_photo(image, readings, located=()):
    """A copy of an RGB PIL image with its readings drawn: each number's box (the best
    in green, others in yellow) labelled with the number and its confidence, a reading
    of the whole photo (no box) written at its top left; `located`: more boxes
    (left, top, width, height[, score]) drawn thin in grey, e.g. every box the
    locator found. Pillow only (no matplotlib).

    >>> from PIL import Image
    >>> from kerasvhn.predict import Reading
    >>> out = annotated_photo(Image.new("RGB", (200, 100)), [Reading("12", 0.9, box=(20, 30, 40, 20))])
    >>> out.size, out.getpixel((20, 30))
    ((200, 100), (40, 220, 60))
    """
    from PIL import ImageDraw, ImageFont

    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    side = max(out.size)
    width = max(1, round(side / 300))
    font = ImageFont.load_default(size=max(10, round(side / 40)))
    for box in located:
        left, top, w, h = box[:4]
        draw.rectangle((left, top, left + w, top + h), outline=(160, 160, 160), width=max(1, width // 2))
    for rank, reading in enumerate(readings):
        colour = (40, 220, 60) if rank == 0 else (240, 200, 40)
        label = f"{reading.number or 'none'} ({reading.confidence:.2f})"
        if reading.box is None:
            draw.text((width + 2, width + 2), "whole photo: " + label, fill=colour, font=font, stroke_width=2,
                      stroke_fill=(0, 0, 0))
            continue
        left, top, w, h = reading.box
        draw.rectangle((left, top, left + w, top + h), outline=colour, width=width)
        text_top = top - font.size - 2 * width if top > font.size + 2 * width else top + h + width
        draw.text((left, text_top), label, fill=colour, font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return out


def boxed_photos_sheet(images, boxes, numbers, path, columns=6, tile=320):
    """A contact sheet (PNG, Pillow only) of whole photos with their house numbers'
    boxes drawn and labelled: images are RGB PIL images, boxes per photo (x0, y0, x1,
    y1) in its pixels, numbers per photo, one per box. Each photo is scaled to fit a
    `tile` x `tile` cell.

    >>> import os, tempfile
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "photos.png")
    >>> boxed_photos_sheet([Image.new("RGB", (400, 300))], [[(10, 20, 60, 40)]], [["12"]], path)
    >>> Image.open(path).size
    (320, 320)
    """
    from PIL import Image, ImageDraw, ImageFont

    images = list(images)
    columns = max(1, min(columns, len(images)))
    rows = max(1, -(-len(images) // columns))
    sheet = Image.new("RGB", (columns * tile, rows * tile), (255, 255, 255))
    font = ImageFont.load_default(size=12)
    for k, (image, found, texts) in enumerate(zip(images, boxes, numbers)):
        scale = min(tile / image.width, tile / image.height)
        small = image.convert("RGB").resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        draw = ImageDraw.Draw(small)
        for (x0, y0, x1, y1), text in zip(found, texts):
            box = (x0 * scale, y0 * scale, x1 * scale, y1 * scale)
            draw.rectangle(box, outline=(0, 229, 255), width=2)
            draw.text((box[0], max(0, box[1] - 14)), text, fill=(0, 229, 255), font=font, stroke_width=2,
                      stroke_fill=(0, 0, 0))
        if not texts:
            draw.text((3, 3), "no number", fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0))
        sheet.paste(small, ((k % columns) * tile, (k // columns) * tile))
    sheet.save(path)
