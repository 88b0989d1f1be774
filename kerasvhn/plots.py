"""Matplotlib figures drawn off-screen (Agg), whatever pyplot's backend is."""


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
