"""The thin plotly layer: one function a chart, plain data in, a ``plotly`` figure out.

plotly is imported inside each function (the ``report`` extra). Every string a user wrote
goes through :func:`esc` before it becomes a label: plotly draws labels as HTML-like text
and decodes entities, so ``&lt;`` shows as ``<`` and nothing reads as markup; parallel
coordinates draw plain text, so their labels go through :func:`plain`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from bo_hpo.report.data import fmt
from bo_hpo.report.model import Contour, ModelView
from bo_hpo.report.trials import FailureData, ParallelData, TraceData

FONT = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
BLUE, ORANGE, GREY, GREEN, RED = "#2563eb", "#ea580c", "#9ca3af", "#16a34a", "#dc2626"
PROBLEM_COLOURS = ["#dc2626", "#9333ea", "#d97706", "#0891b2", "#be185d", "#4b5563"]


def esc(value: Any) -> str:
    """Any value as HTML-safe text (also what plotly labels get: it decodes entities)."""
    return html.escape(value if isinstance(value, str) else fmt(value), quote=True)


def plain(value: Any) -> str:
    """Text for labels that plotly draws as plain text (parallel coordinates' ticks): angle
    brackets become look-alikes, so nothing reads as markup and nothing shows as ``&lt;``."""
    text = value if isinstance(value, str) else fmt(value)
    return text.replace("<", "‹").replace(">", "›").replace("&", "＆")


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def _layout(fig: Any, title: str, height: int = 380, **kw: Any) -> Any:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        template="plotly_white", height=height, font={"family": FONT, "size": 12},
        margin={"l": 60, "r": 20, "t": 50, "b": 50}, hovermode="closest",
        legend={"orientation": "h", "y": -0.18, "x": 0}, **kw)
    return fig


def trace_figure(t: TraceData) -> Any:
    """Every trial's value, the best so far, the baseline, problems and nights."""
    go = _go()
    fig = go.Figure()
    for i, (night, x0, x1) in enumerate(t.nights):
        fig.add_vrect(x0=x0, x1=x1, fillcolor="#e0e7ff" if i % 2 == 0 else "#f1f5f9",
                      opacity=0.6, line_width=0, layer="below",
                      annotation_text=f"night {night}", annotation_position="top left",
                      annotation_font_size=11)
    fig.add_trace(go.Scatter(
        x=t.trials, y=t.values, mode="markers", name="trial",
        marker={"color": BLUE, "size": 8, "opacity": 0.75},
        error_y={"type": "data", "array": [s or 0.0 for s in t.sems], "visible": True,
                 "thickness": 1, "color": "rgba(37,99,235,0.35)"},
        text=[_lines(label) for label in t.labels],
        hovertemplate="%{text}<br>value %{y:.4g}<extra></extra>"))
    fig.add_trace(go.Scatter(x=t.best_trials, y=t.best_values, mode="lines", name="best so far",
                             line={"shape": "hv", "color": GREEN, "width": 2.5}))
    if t.baseline is not None:
        fig.add_hline(y=t.baseline, line_dash="dash", line_color=ORANGE,
                      annotation_text="baseline", annotation_position="bottom right",
                      annotation_font_color=ORANGE)
    if t.recommended is not None:
        fig.add_trace(go.Scatter(
            x=[t.recommended[0]], y=[t.recommended[1]], mode="markers", name="recommended",
            marker={"symbol": "star", "size": 16, "color": "#facc15",
                    "line": {"color": "#854d0e", "width": 1}}))
    y = t.problem_y if t.problem_y is not None else 0.0
    for i, (label, trials) in enumerate(t.problems.items()):
        fig.add_trace(go.Scatter(
            x=trials, y=[y] * len(trials), mode="markers", name=esc(label),
            marker={"symbol": "x", "size": 10, "color": PROBLEM_COLOURS[i % 6]},
            hovertemplate=f"trial %{{x}}: {esc(label)}<extra></extra>"))
    direction = "lower is better" if t.minimize else "higher is better"
    _layout(fig, f"Every trial's {esc(t.objective)} ({direction}); failures marked at the "
            f"worst value seen", height=420)
    fig.update_xaxes(title_text="trial")
    fig.update_yaxes(title_text=esc(t.objective), type="log" if t.log_y else "linear")
    return fig


def importance_figure(view: ModelView, objective: str) -> Any:
    go = _go()
    items = list(reversed(view.importance))
    fig = go.Figure(go.Bar(
        x=[share for _, share, _ in items], y=[esc(n) for n, _, _ in items], orientation="h",
        marker_color=BLUE, text=[f"{share:.0%}" for _, share, _ in items],
        textposition="outside", customdata=[spread for _, _, spread in items],
        hovertemplate="%{y}: %{x:.0%} (moves the prediction by %{customdata:.3g})"
                      "<extra></extra>"))
    _layout(fig, "Parameter importance (from the fitted model)",
            height=max(220, 60 + 34 * len(items)), showlegend=False)
    fig.update_xaxes(title_text="share of the total spread of the predicted "
                     + esc(objective), tickformat=".0%",
                     range=[0, max([s for _, s, _ in items] or [1]) * 1.2])
    return fig


def slices_figure(view: ModelView, objective: str, top: int = 6) -> Any:
    """The model's mean ± 2 SEM along the most important parameters, through the best config."""
    from plotly.subplots import make_subplots

    go = _go()
    slices = [s for s in view.slices if s.spread is not None][:top]
    cols = 2 if len(slices) > 1 else 1
    rows = math.ceil(len(slices) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[
        f"{esc(s.name)} ({s.importance:.0%})" for s in slices],
        horizontal_spacing=0.1, vertical_spacing=0.5 / max(rows, 1) if rows > 1 else 0.1)
    for k, s in enumerate(slices):
        row, col = k // cols + 1, k % cols + 1
        xs = [esc(x) for x in s.x] if s.categorical else s.x
        pts = [(x, m, e) for x, m, e in zip(xs, s.mean, s.sem, strict=True) if m is not None]
        px = [p[0] for p in pts]
        lo = [p[1] - 2 * (p[2] or 0.0) for p in pts]
        hi = [p[1] + 2 * (p[2] or 0.0) for p in pts]
        first = k == 0
        fig.add_trace(go.Scatter(
            x=s.observed_x if not s.categorical else [esc(x) for x in s.observed_x],
            y=s.observed_y, mode="markers", name="trials (other parameters differ)",
            marker={"color": GREY, "size": 5, "opacity": 0.6}, showlegend=first,
            legendgroup="obs", hovertemplate="%{x}: %{y:.4g}<extra>trial</extra>"),
            row=row, col=col)
        if s.categorical:
            fig.add_trace(go.Scatter(
                x=px, y=[p[1] for p in pts], mode="markers", name="model mean ± 2 SEM",
                marker={"color": BLUE, "size": 10}, showlegend=first, legendgroup="mean",
                error_y={"type": "data", "array": [2 * (p[2] or 0.0) for p in pts]}),
                row=row, col=col)
        else:
            fig.add_trace(go.Scatter(x=px + px[::-1], y=hi + lo[::-1], fill="toself",
                                     fillcolor="rgba(37,99,235,0.15)", line={"width": 0},
                                     hoverinfo="skip", showlegend=first, legendgroup="band",
                                     name="± 2 SEM"), row=row, col=col)
            fig.add_trace(go.Scatter(x=px, y=[p[1] for p in pts], mode="lines",
                                     line={"color": BLUE, "width": 2}, showlegend=first,
                                     legendgroup="mean", name="model mean"), row=row, col=col)
        at = esc(s.at) if s.categorical else s.at
        best_y = next((p[1] for p in pts if p[0] == at), None)
        if best_y is None and pts and not s.categorical:
            best_y = min(pts, key=lambda p: abs(_pos(p[0], s.log) - _pos(at, s.log)))[1]
        if best_y is not None:
            fig.add_trace(go.Scatter(
                x=[at], y=[best_y], mode="markers", name="recommended", showlegend=first,
                legendgroup="rec", marker={"symbol": "star", "size": 14, "color": "#facc15",
                                           "line": {"color": "#854d0e", "width": 1}}),
                row=row, col=col)
        if s.categorical:
            fig.update_xaxes(type="category", categoryorder="array", categoryarray=xs,
                             title_text=esc(s.name), row=row, col=col)
        else:
            fig.update_xaxes(type="log" if s.log else "linear", title_text=esc(s.name),
                             row=row, col=col)
        fig.update_yaxes(title_text=esc(objective) if col == 1 else None, row=row, col=col)
    _layout(fig, "What the model predicts along each parameter, the others at the "
            "recommended config", height=140 + 300 * rows)
    fig.update_layout(legend={"y": -0.35 / rows}, margin={"t": 90})
    return fig


def _pos(x: Any, log: bool) -> float:
    x = float(x)
    return math.log(x) if log and x > 0 else x


def contour_figure(c: Contour, objective: str) -> Any:
    go = _go()
    fig = go.Figure()
    fig.add_trace(go.Contour(
        x=c.x, y=c.y, z=c.mean, colorscale="Viridis_r", ncontours=18, connectgaps=False,
        colorbar={"title": {"text": "predicted", "side": "right"}},
        hovertemplate=f"{esc(c.x_name)} %{{x:.3g}}<br>{esc(c.y_name)} %{{y:.3g}}"
                      f"<br>predicted %{{z:.4g}}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[o[0] for o in c.observed], y=[o[1] for o in c.observed],
                             mode="markers", name="trials",
                             marker={"color": "white", "size": 7,
                                     "line": {"color": "black", "width": 1}},
                             text=[fmt(o[2]) for o in c.observed],
                             hovertemplate="observed %{text}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[c.at[0]], y=[c.at[1]], mode="markers", name="recommended",
                             marker={"symbol": "star", "size": 18, "color": "#facc15",
                                     "line": {"color": "#854d0e", "width": 1}}))
    _layout(fig, f"Predicted {esc(objective)} over {esc(c.x_name)} and {esc(c.y_name)}, "
            f"the others at the recommended config", height=480)
    fig.update_xaxes(title_text=esc(c.x_name), type="log" if c.x_log else "linear")
    fig.update_yaxes(title_text=esc(c.y_name), type="log" if c.y_log else "linear")
    return fig


def parallel_figure(p: ParallelData) -> Any:
    go = _go()
    dims = []
    for dim in p.dimensions:
        entry: dict[str, Any] = {"label": plain(dim["label"]), "values": dim["values"]}
        if dim["tickvals"] is not None:
            entry["tickvals"] = dim["tickvals"]
            entry["ticktext"] = [plain(t) for t in dim["ticktext"]]
        if dim["range"] is not None:
            entry["range"] = dim["range"]
        dims.append(entry)
    fig = go.Figure(go.Parcoords(
        dimensions=dims,
        line={"color": p.color, "colorscale": "Viridis_r" if p.minimize else "Viridis",
              "showscale": True, "colorbar": {"title": {"text": plain(p.objective)}}},
        labelfont={"size": 12}, tickfont={"size": 10}))
    _layout(fig, "All completed trials: one line a trial, coloured by its value "
            "(drag along an axis to filter)", height=460)
    fig.update_layout(margin={"l": 70, "r": 120, "t": 90, "b": 30})
    return fig


def failures_figure(f: FailureData) -> Any:
    from plotly.subplots import make_subplots

    go = _go()
    rows = len(f.strips)
    fig = make_subplots(rows=rows, cols=1, vertical_spacing=0.6 / max(rows, 2),
                        subplot_titles=[esc(s.name) for s in f.strips])
    colours: dict[str, str] = {"completed": GREY}
    for k, s in enumerate(f.strips):
        for label, xs in s.points.items():
            colour = colours.setdefault(
                label, PROBLEM_COLOURS[(len(colours) - 1) % len(PROBLEM_COLOURS)])
            fig.add_trace(go.Scatter(
                x=xs, y=[esc(label)] * len(xs), mode="markers", name=esc(label),
                legendgroup=label, showlegend=k == 0,
                marker={"color": colour, "size": 9 if label != "completed" else 7,
                        "symbol": "circle" if label == "completed" else "x"},
                text=[f"trial {t}" for t in s.trials[label]],
                hovertemplate="%{text}: %{x:.3g}<extra></extra>"), row=k + 1, col=1)
        fig.update_xaxes(type="log" if s.log else "linear", title_text=esc(s.name),
                         row=k + 1, col=1)
    _layout(fig, "Where failures happened, along the parameters that set them apart",
            height=90 + 190 * rows, showlegend=False)
    return fig


def nights_figure(rows: Sequence[Any]) -> Any:
    go = _go()
    fig = go.Figure()
    xs = [f"night {r.number}" for r in rows]
    fig.add_trace(go.Scatter(x=xs, y=[r.best_after for r in rows], mode="lines+markers",
                             name="best observed so far", line={"color": GREEN, "width": 2.5}))
    pred = [r.predicted[0] if r.predicted else None for r in rows]
    err = [2 * r.predicted[1] if r.predicted else 0.0 for r in rows]
    fig.add_trace(go.Scatter(x=xs, y=pred, mode="markers", name="recommendation, predicted",
                             marker={"color": BLUE, "size": 10},
                             error_y={"type": "data", "array": err}))
    drift = [(x, p) for x, p, r in zip(xs, pred, rows, strict=True) if r.drift and p is not None]
    if drift:
        fig.add_trace(go.Scatter(x=[x for x, _ in drift], y=[p for _, p in drift],
                                 mode="markers", name="recommendation changed",
                                 marker={"symbol": "circle-open", "size": 20,
                                         "color": ORANGE, "line": {"width": 2}}))
    _layout(fig, "Night by night", height=340)
    fig.update_yaxes(title_text="value")
    return fig


def _lines(label: str) -> str:
    return "<br>".join(esc(line) for line in label.split("\n"))


def to_div(fig: Any) -> str:
    height = fig.layout.height or 400
    return fig.to_html(full_html=False, include_plotlyjs=False, default_width="100%",
                       default_height=f"{height}px",
                       config={"displaylogo": False, "responsive": True})
