"""The layers of a synthetic scene, drawn on float RGB arrays in [0, 1]: colours,
plates and their shapes, relief lit from one side, screws, cast shadows, gloss, door
and window edges, clutter text and partial neighbouring digits. The styles
(kerasvhn.data.styles) compose them; the camera is kerasvhn.data.effects."""

import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from kerasvhn.data import textures
from kerasvhn.data.glyphs import LETTERS, MARGIN, layout


def luminance(rgb):
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def pick_colour(rng):
    """Mostly muted colours, as on walls and plates; some vivid ones; greys."""
    if rng.random() < 0.3:
        return (np.full(3, rng.uniform(0.03, 0.97)) + rng.normal(0, 0.02, 3)).astype(np.float32)
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.beta(0.7, 1.5), rng.uniform(0.05, 1.0))
    return np.clip(np.array(rgb, np.float32), 0, 1)


def contrasting(rng, base, contrast):
    for _ in range(30):
        colour = pick_colour(rng)
        if abs(luminance(colour) - luminance(base)) >= contrast:
            return np.clip(colour, 0, 1)
    light = luminance(base) < 0.5
    return np.clip(np.full(3, 0.92 if light else 0.06) + rng.uniform(-0.05, 0.05, 3), 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------- layers


def resample(image, box, width, height):
    """The float box (x0, y0, x1, y1) of an L image as (height, width) floats in [0, 1];
    outside the image is 0."""
    x0, y0, x1, y1 = box
    pad = int(math.ceil(max(0.0, -x0, -y0, x1 - image.size[0], y1 - image.size[1]))) + 1
    if pad > 1:
        padded = Image.new("L", (image.size[0] + 2 * pad, image.size[1] + 2 * pad), 0)
        padded.paste(image, (pad, pad))
        image, box = padded, (x0 + pad, y0 + pad, x1 + pad, y1 + pad)
    out = image.resize((width, height), Image.BILINEAR, box=tuple(float(c) for c in box))
    return np.asarray(out, np.float32) / 255.0


def blend(image, alpha, colour):
    """colour over image with coverage alpha (float32 throughout)."""
    out = np.asarray(colour, np.float32) - image
    out *= alpha[..., None]
    out += image
    return out


def blend_sparse(image, alpha, colour):
    """blend, in place, for an alpha that covers little of the image (edges, screws,
    lines): only the rows and columns it touches are computed. Returns the image."""
    rows = np.flatnonzero(alpha.max(axis=1) > 0)
    if rows.size == 0:
        return image
    cols = np.flatnonzero(alpha[rows[0] : rows[-1] + 1].max(axis=0) > 0)
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    colour = np.asarray(colour, np.float32)
    if colour.ndim == 3:
        colour = colour[window]
    image[window] = blend(image[window], alpha[window], colour)
    return image


def shift(alpha, dx, dy):
    """alpha moved by whole pixels (dx right, dy down), zero-filled."""
    out = np.zeros_like(alpha)
    h, w = alpha.shape
    dx, dy = int(dx), int(dy)
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = alpha[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def plate(rng, image, box_px, digit_colour, contrast, split):
    """A plate behind the digits (rounded, maybe bordered and bevelled); returns its colour."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box_px
    bh = y1 - y0
    grow = rng.uniform(0.1, 0.6, size=4) * bh
    rect = (x0 - grow[0], y0 - grow[1], x1 + grow[2], y1 + grow[3])
    plate_colour = contrasting(rng, digit_colour, contrast)
    mask = Image.new("L", (width, height), 0)
    radius = int(rng.uniform(0, 0.35) * bh) if rng.random() < 0.6 else 0
    ImageDraw.Draw(mask).rounded_rectangle(rect, radius=radius, fill=255)
    alpha = np.asarray(mask, np.float32) / 255.0
    plate = textures.surface(rng, plate_colour, width, height, split) if rng.random() < 0.3 else (
        plate_colour + rng.uniform(0, 0.15) * textures.ramp(rng, width, height)
    )
    image[:] = image * (1 - alpha[..., None]) + plate * alpha[..., None]
    if rng.random() < 0.5:  # bevel: lit top-left edge, shaded bottom-right edge
        step = max(1, int(round(bh * rng.uniform(0.03, 0.08))))
        light = np.clip(alpha - shift(alpha, step, step), 0, 1)
        dark = np.clip(alpha - shift(alpha, -step, -step), 0, 1)
        image[:] = blend(image, light * rng.uniform(0.3, 0.8), np.ones(3, np.float32))
        image[:] = blend(image, dark * rng.uniform(0.3, 0.8), np.zeros(3, np.float32))
    if rng.random() < 0.35:  # a painted border inside the edge
        border = Image.new("L", (width, height), 0)
        inset = max(1.0, 0.08 * bh)
        inner = (rect[0] + inset, rect[1] + inset, rect[2] - inset, rect[3] - inset)
        if inner[2] > inner[0] + 2 and inner[3] > inner[1] + 2:
            ImageDraw.Draw(border).rounded_rectangle(
                inner, radius=max(radius - int(inset), 0), outline=255, width=max(1, int(0.05 * bh))
            )
            image[:] = blend(image, np.asarray(border, np.float32) / 255.0, digit_colour)
    return plate_colour


def edges(rng, image, box_px):
    """Door and window frames, pipes, the edge of a neighbouring sign: straight bands
    outside the digits."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box_px
    for _ in range(int(rng.integers(1, 3))):
        band = Image.new("L", (width, height), 0)
        thick = max(1.0, rng.uniform(0.05, 0.4) * (y1 - y0))
        vertical = rng.random() < 0.6
        lo, hi, extent = (x0, x1, width) if vertical else (y0, y1, height)
        room = [(0.0, lo - thick), (hi, float(extent))]
        room = [r for r in room if r[1] > r[0]]
        if not room:
            continue
        start, stop = room[int(rng.integers(len(room)))]
        at = rng.uniform(start, stop)
        if vertical:  # a door or window frame, a pipe, left or right of the number
            tilt = rng.normal(0, 0.05) * height
            corners = [(at, 0), (at + thick, 0), (at + thick + tilt, height), (at + tilt, height)]
        else:  # a lintel, a sill, the edge of a sign, above or below
            tilt = rng.normal(0, 0.05) * width
            corners = [(0, at), (width, at + tilt), (width, at + tilt + thick), (0, at + thick)]
        ImageDraw.Draw(band).polygon(corners, fill=255)
        alpha = np.asarray(band.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1))), np.float32) / 255.0
        image[:] = blend(image, alpha, pick_colour(rng))


def paste_text(rng, image, glyphs, text, x, y, height_px, colour):
    """Draws text (a fresh layout) with its ink box's top-left at (x, y), height_px tall."""
    ink, _ = layout(rng, glyphs, text)
    ink_image = Image.fromarray(ink)
    h, w = ink.shape
    inner = h - 2 * MARGIN
    scale = height_px / max(inner, 1)
    box = (MARGIN - x / scale, MARGIN - y / scale)
    view = (box[0], box[1], box[0] + image.shape[1] / scale, box[1] + image.shape[0] / scale)
    alpha = resample(ink_image, view, image.shape[1], image.shape[0])
    image[:] = blend(image, alpha, colour)


def clutter_text(rng, image, faces, box_px, colour):
    """Smaller text above or below the number: a street name, a phone number, a sign."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box_px
    size = rng.uniform(0.2, 0.45) * (y1 - y0)
    glyphs = faces[int(rng.integers(len(faces)))][0]
    count = int(rng.integers(2, 8))
    pool = LETTERS + "0123456789" if rng.random() < 0.3 else LETTERS
    text = "".join(rng.choice(list(pool), size=count))
    gap = rng.uniform(0.1, 0.4) * (y1 - y0)
    y = y0 - gap - size if rng.random() < 0.5 else y1 + gap
    x = rng.uniform(-0.5, 1.0) * (x1 - x0) + x0
    paste_text(rng, image, glyphs, text, x, y, size, colour)


def partial_digit(rng, image, glyphs, box_px, digit_height, colour):
    """A neighbouring digit cut by the crop: at most 40% of it inside, at the left or
    right edge, never over the number."""
    width = image.shape[1]
    char = str(int(rng.integers(10)))
    glyph = glyphs[char]
    gw = glyph.mask.shape[1] * digit_height / glyph.mask.shape[0]
    visible = rng.uniform(0.1, 0.4) * gw
    if rng.random() < 0.5:
        x = visible - gw
        if x + gw > box_px[0] - 0.05 * digit_height:
            return
    else:
        x = width - visible
        if x < box_px[2] + 0.05 * digit_height:
            return
    y = box_px[1] + rng.normal(0, 0.05) * digit_height
    paste_text(rng, image, glyphs, char, x, y, digit_height, colour)


# ----------------------------------------------------------------------------- shapes and light


def shape_mask(width, height, rect, shape="rounded", radius=0.0, supersample=1):
    """A float (height, width) mask in [0, 1] of a plate's shape inside rect (x0, y0,
    x1, y1): "rounded" (radius in pixels), "oval", or "arched" (a round top)."""
    s = supersample
    mask = Image.new("L", (width * s, height * s), 0)
    draw = ImageDraw.Draw(mask)
    x0, y0, x1, y1 = (c * s for c in rect)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((height, width), np.float32)
    if shape == "oval":
        draw.ellipse((x0, y0, x1, y1), fill=255)
    elif shape == "arched":
        arch = min((x1 - x0) / 2, (y1 - y0) * 0.45)
        draw.ellipse((x0, y0, x1, y0 + 2 * arch), fill=255)
        draw.rectangle((x0, y0 + arch, x1, y1), fill=255)
    else:
        draw.rounded_rectangle((x0, y0, x1, y1), radius=max(0.0, radius * s), fill=255)
    return np.asarray(mask.resize((width, height), Image.BILINEAR), np.float32) / 255.0


def relief(image, alpha, angle, step, light=0.6, dark=0.6, raised=True):
    """Lights the edges of a shape (alpha) from one side: a highlight on the edges that
    face the light (angle: where the light comes from, radians, 0 = from the left,
    pi/2 = from above) and a shadow on the others; engraved (raised=False) swaps them.
    Returns the new image."""
    dx, dy = math.cos(angle) * step, math.sin(angle) * step
    sign = 1 if raised else -1
    ahead = shift(alpha, int(round(sign * dx)), int(round(sign * dy)))
    behind = shift(alpha, int(round(-sign * dx)), int(round(-sign * dy)))
    lit = np.clip(alpha - ahead, 0, 1)
    shaded = np.clip(alpha - behind, 0, 1)
    image = blend_sparse(image.copy(), lit * np.float32(light), np.ones(3, np.float32))
    return blend_sparse(image, shaded * np.float32(dark), np.zeros(3, np.float32))


def cast_shadow(image, alpha, dx, dy, blur, strength):
    """The soft shadow a shape standing off a wall casts on it (moved by dx, dy)."""
    shadow = shift(alpha, int(round(dx)), int(round(dy)))
    if blur > 0.3:
        shadow = np.asarray(Image.fromarray((shadow * 255).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(blur)), np.float32) / 255.0
    return image * (1 - strength * shadow[..., None])


def screws(rng, image, rect, size, layout="corners", colour=None):
    """Screw heads inside rect: at its corners, at its left and right middles
    ("sides") or at its top and bottom middles ("ends"), each with a highlight and a
    slot."""
    x0, y0, x1, y1 = rect
    inset = 1.4 * size
    if layout == "sides":
        points = [(x0 + inset, (y0 + y1) / 2), (x1 - inset, (y0 + y1) / 2)]
    elif layout == "ends":
        points = [((x0 + x1) / 2, y0 + inset), ((x0 + x1) / 2, y1 - inset)]
    else:
        points = [(x0 + inset, y0 + inset), (x1 - inset, y0 + inset), (x0 + inset, y1 - inset),
                  (x1 - inset, y1 - inset)]
    height, width = image.shape[:2]
    head = Image.new("L", (width, height), 0)
    slot = Image.new("L", (width, height), 0)
    glint = Image.new("L", (width, height), 0)
    draw, draw_slot, draw_glint = ImageDraw.Draw(head), ImageDraw.Draw(slot), ImageDraw.Draw(glint)
    r = size / 2
    for cx, cy in points:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        t = rng.uniform(0, math.pi)
        ex, ey = math.cos(t) * r * 0.8, math.sin(t) * r * 0.8
        draw_slot.line((cx - ex, cy - ey, cx + ex, cy + ey), fill=255, width=max(1, int(size / 6)))
        draw_glint.ellipse((cx - r * 0.7, cy - r * 0.7, cx - r * 0.1, cy - r * 0.1), fill=255)
    colour = np.clip(rng.uniform(0.45, 0.85) + rng.normal(0, 0.05, 3), 0, 1) if colour is None else colour
    image = blend_sparse(image.copy(), np.asarray(head, np.float32) / 255.0, colour)
    image = blend_sparse(image, np.asarray(glint, np.float32) / 255.0 * 0.5, np.ones(3, np.float32))
    return blend_sparse(image, np.asarray(slot, np.float32) / 255.0 * 0.8, np.asarray(colour) * 0.3)


def gloss(rng, image, mask, strength):
    """A specular streak across a glossy surface (enamel, glazed tile, glass)."""
    height, width = image.shape[:2]
    theta = rng.uniform(0, math.pi)
    xs = (np.arange(width, dtype=np.float32) - np.float32(rng.uniform(0, width))) * np.float32(math.cos(theta))
    ys = (np.arange(height, dtype=np.float32) - np.float32(rng.uniform(0, height))) * np.float32(math.sin(theta))
    along = (xs[None, :] + ys[:, None]) * np.float32(1 / (rng.uniform(0.05, 0.3) * max(width, height)))
    band = np.exp(-(along * along))
    band *= mask
    band *= np.float32(strength)
    return blend(image, band, np.ones(3, np.float32))


def glow(alpha, radius, strength):
    """Light that bleeds around bright strokes (a backlit sign, a lamp): alpha blurred."""
    halo = Image.fromarray((np.clip(alpha, 0, 1) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(halo, np.float32) / 255.0 * strength
