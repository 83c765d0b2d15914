"""The page: one HTML file with plotly.js embedded once, the figures of
:mod:`~bo_hpo.report.figures` as ``<div>``s, and the sections around them.

Nothing is fetched (a Content-Security-Policy in the page forbids it), so the file opens
from a disk or an e-mail attachment. Every string a user wrote (parameter names, choice
values, failure messages, the experiment's name) goes through :func:`esc`.
"""

from __future__ import annotations

import time
from typing import Any

from bo_hpo.report.answer import Answer
from bo_hpo.report.build import ReportData
from bo_hpo.report.data import fmt
from bo_hpo.report.figures import (
    contour_figure,
    esc,
    failures_figure,
    importance_figure,
    nights_figure,
    parallel_figure,
    slices_figure,
    to_div,
    trace_figure,
)
from bo_hpo.report.model import IMPORTANCE_TEXT
from bo_hpo.report.template import CSS, SORT_JS


# --------------------------------------------------------------------------- the page
def render(r: ReportData, plotly_js: str) -> str:
    """The whole page; ``plotly_js`` is the library's source, embedded once."""
    sections = [
        ("run", "The run", _run_section(r)),
        ("trace", "Optimization trace", to_div(trace_figure(r.trace))),
        ("model", "What mattered", _model_section(r)),
        ("trials", "All trials", _trials_section(r)),
        ("failures", "Failures", _failures_section(r)),
    ]
    if r.nights:
        sections.append(("nights", "Nights", _nights_section(r)))
    sections.append(("advice", "Advice for the next round", _advice_section(r)))
    nav = " ".join(f'<a href="#{sid}">{title}</a>' for sid, title, _ in sections)
    body = "\n".join(f'<section id="{sid}"><h2>{title}</h2>\n{content}\n</section>'
                     for sid, title, content in sections)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.generated_at))
    csp = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
           "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
           "worker-src blob:; connect-src 'none'")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(r.title)}: bo-hpo report</title>
<style>{CSS}</style>
<script>{plotly_js}</script>
</head>
<body>
<header>
<div class="eyebrow">bo-hpo report · {esc(when)}</div>
<h1>{esc(r.title)}</h1>
{_answer_section(r.answer)}
<nav>{nav}</nav>
</header>
<main>
{body}
</main>
<footer>Made by bo-hpo from the trial records; one file, nothing fetched from the network.
</footer>
<script>{SORT_JS}</script>
</body>
</html>
"""


def _value(v: float | None, sem: float | None = None, percent: bool = False) -> str:
    if v is None:
        return "—"
    if percent:
        text = f"{v * 100:.2f}%"
        return text + (f" <small>± {sem * 100:.2f}</small>" if sem else "")
    return fmt(v) + (f" <small>± {fmt(sem, 2)}</small>" if sem else "")


def _diff(v: float | None, percent: bool) -> str:
    """A signed difference: ``+3.40 pts`` for fractions, ``+0.0341`` otherwise."""
    if v is None:
        return "—"
    if v == 0:
        return "0"
    return f"{v * 100:+.2f} pts" if percent else f"{v:+.3g}"


def _answer_section(a: Answer) -> str:
    pct = a.as_percent
    cards = []
    if a.predicted is not None:
        lo, hi = a.interval or (None, None)
        cards.append(_card(f"predicted {esc(a.objective)}", _value(a.predicted[0], None, pct),
                           f"95% interval {_value(lo, None, pct)} to {_value(hi, None, pct)}",
                           big=True))
    if a.observed is not None:
        cards.append(_card(f"observed (trial {a.trial})", _value(*a.observed, percent=pct),
                           "the recommended trial's own measurement"))
    if a.baseline_observed is not None and a.baseline_observed[0] is not None:
        sub = (f"predicted {_value(a.baseline_predicted[0], None, pct)}"
               if a.baseline_predicted else "observed")
        cards.append(_card(f"baseline (trial {a.baseline_trial})",
                           _value(*a.baseline_observed, percent=pct), sub))
    if a.improvement is not None and a.baseline_trial is not None:
        better = a.improvement > 0
        text = _diff(a.improvement, pct)
        rel = f"{a.relative:+.1%} of the baseline" if a.relative is not None else ""
        cards.append(_card("improvement", text, rel + (f"; {a.confidence}" if a.confidence
                                                       else ""),
                           tone="good" if better else "bad"))
    finals = {f.which: f for f in a.final}
    if finals:
        rec, base = finals.get("recommended"), finals.get("baseline")
        main = _value(rec.value, rec.sem, pct) if rec else "—"
        measure = esc(next(iter(finals.values())).measure.replace("_", " "))
        sub = f"baseline {_value(base.value, base.sem, pct)}" if base else "no baseline"
        cards.append(_card(f"{measure} (retrained once)", main, sub))
    config = "".join(f"<span class='chip'><b>{esc(k)}</b> {esc(v)}</span>"
                     for k, v in a.config.items())
    notes = "".join(f"<p class='note'>{esc(n)}</p>" for n in a.notes + (
        [a.final_note] if a.final_note else []))
    head = "Recommended configuration" + (f" (trial {a.trial})" if a.trial is not None else "")
    return (f"<p class='verdict'>{esc(a.verdict)}</p>\n<div class='cards'>{''.join(cards)}"
            f"</div>\n<div class='config'><div class='label'>{head}</div>{config}</div>{notes}")


def _card(label: str, value: str, sub: str, big: bool = False, tone: str = "") -> str:
    cls = "card" + (" big" if big else "") + (f" {tone}" if tone else "")
    return (f"<div class='{cls}'><div class='label'>{label}</div>"
            f"<div class='value'>{value}</div><div class='sub'>{sub}</div></div>")


def _run_section(r: ReportData) -> str:
    facts = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in r.run.facts)
    spec = "".join(
        f"<tr><td><b>{esc(s.name)}</b></td><td>{esc(s.kind)}</td><td>{esc(s.range)}</td>"
        f"<td>{esc(s.scale)}</td><td>{esc(s.condition)}</td><td>{esc(s.recommended)}</td>"
        f"<td>{esc(s.baseline)}</td></tr>" for s in r.run.spec)
    extra = "".join(f"<li>constraint: <code>{esc(c)}</code></li>" for c in r.run.constraints)
    extra += "".join(f"<li>invalid if: <code>{esc(c)}</code></li>" for c in r.run.rules)
    versions = ", ".join(f"{esc(k)} {esc(v)}" for k, v in r.run.versions)
    return (f"<div class='two'><table class='facts'>{facts}</table>"
            f"<div><table class='grid'><thead><tr><th>parameter</th><th>kind</th>"
            f"<th>range / values</th><th>scale</th><th>condition</th><th>recommended</th>"
            f"<th>baseline</th></tr></thead><tbody>{spec}</tbody></table>"
            + (f"<ul class='plain'>{extra}</ul>" if extra else "")
            + (f"<p class='muted'>versions: {versions}</p>" if versions else "")
            + "</div></div>")


def _model_section(r: ReportData) -> str:
    view = r.model
    if not view.available:
        return f"<p class='muted'>{esc(view.note)}</p>"
    parts = [f"<p>Importance is {esc(IMPORTANCE_TEXT.format(objective=r.objective))}.</p>",
             to_div(importance_figure(view, r.objective))]
    if view.inactive:
        parts.append(f"<p class='muted'>Not active at the recommended config (left out): "
                     f"{esc(', '.join(view.inactive))}.</p>")
    parts.append(to_div(slices_figure(view, r.objective)))
    if view.contour is not None:
        parts.append(to_div(contour_figure(view.contour, r.objective)))
    return "\n".join(parts)


def _trials_section(r: ReportData) -> str:
    parts = []
    if r.parallel is not None and r.parallel.color:
        parts.append(to_div(parallel_figure(r.parallel)))
    heads = ["trial", "night", "status", "value", "SEM", "predicted", "reason", "seconds",
             "generator", "worker"] + r.params
    numeric = {"trial", "night", "value", "SEM", "predicted", "seconds"}
    th = "".join(f"<th data-type='{'num' if h in numeric else 'text'}'>{esc(h)}</th>"
                 for h in heads)
    rows = []
    for t in r.table:
        cells = [_num(t.trial), _num(t.night), _txt(t.status), _num(t.mean), _num(t.sem),
                 _num(t.predicted),
                 f"<td title='{esc(t.detail or '')}'>{esc(t.reason or '')}</td>",
                 _num(t.seconds), _txt(t.generator), _txt(t.worker or "")]
        cells += [_num(t.config[p]) if isinstance(t.config.get(p), (int, float))
                  and not isinstance(t.config.get(p), bool) else _txt(t.config.get(p, ""))
                  for p in r.params]
        cls = f"s-{esc(t.status)}" + (" rec" if t.is_recommended else "") + \
            (" base" if t.is_baseline else "")
        rows.append(f"<tr class='{cls}'>{''.join(cells)}</tr>")
    parts.append("<p class='muted'>Click a column to sort. ★ recommended, ◆ baseline; hover "
                 "a reason for the full message.</p>")
    parts.append(f"<div class='scroll'><table class='grid sortable'><thead><tr>{th}</tr>"
                 f"</thead><tbody>{''.join(rows)}</tbody></table></div>")
    return "\n".join(parts)


def _num(v: Any) -> str:
    if v is None:
        return "<td data-v=''>—</td>"
    return f"<td class='n' data-v='{float(v)!r}'>{esc(fmt(v))}</td>"


def _txt(v: Any) -> str:
    return f"<td>{esc('' if v is None else v)}</td>"


def _failures_section(r: ReportData) -> str:
    f = r.failures
    if not f.groups:
        return "<p>No trial failed and no proposal was invalid.</p>"
    items = []
    for g in f.groups:
        trials = ", ".join(str(t) for t in g.trials[:30]) + (" ..." if len(g.trials) > 30 else "")
        where = f" <span class='where'>at {esc(g.where)}</span>" if g.where else ""
        details = "".join(f"<li><code>{esc(d)}</code></li>" for d in g.details)
        items.append(f"<div class='group'><b>{esc(g.reason)}</b>: {g.count} of {f.total}"
                     f"{where}<div class='muted'>trials {trials}</div>"
                     + (f"<ul>{details}</ul>" if details else "") + "</div>")
    out = "".join(items)
    if f.strips:
        out += to_div(failures_figure(f))
    return out


def _nights_section(r: ReportData) -> str:
    pct = r.answer.as_percent
    rows = []
    for n in r.nights:
        start = time.strftime("%Y-%m-%d %H:%M", time.localtime(n.started_at)) \
            if n.started_at else "—"
        imp = _diff(n.improvement, pct)
        first = n is r.nights[0]
        drift = "<span class='tag drift'>changed</span>" if n.drift else (
            "same" if n.drift is not None and not first else "—")
        rows.append(
            f"<tr><td class='n'>{n.number}</td><td>{esc(start)}</td><td>{esc(n.status)}</td>"
            f"<td class='n'>{n.n_trials}</td><td class='n'>{_value(n.best_after, None, pct)}</td>"
            f"<td class='n'>{esc(imp)}</td><td class='n'>{esc(n.recommended_trial)}</td>"
            f"<td class='n'>{_value(*(n.predicted or (None, None)), percent=pct)}</td>"
            f"<td>{drift}</td><td>{esc('; '.join(n.changes))}</td></tr>")
    table = ("<table class='grid'><thead><tr><th>night</th><th>started</th><th>status</th>"
             "<th>trials</th><th>best so far</th><th>improvement</th><th>recommended</th>"
             "<th>predicted</th><th>drift</th><th>what changed</th></tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>")
    return table + to_div(nights_figure(r.nights))


def _advice_section(r: ReportData) -> str:
    if not r.advice:
        return "<p>The ranges look right: no parameter crowds an edge or a corner.</p>"
    icons = {"widen": "↔", "shift": "→", "narrow": "⟷", "extend": "+", "fix": "=",
             "baseline": "◆", "note": "ℹ"}
    items = "".join(f"<li><span class='tag {esc(a.kind)}'>{icons.get(a.kind, '')} "
                    f"{esc(a.kind)}</span> {esc(a.message)}</li>" for a in r.advice)
    out = f"<ul class='advice'>{items}</ul>"
    if r.refine_command and any(a.kind not in ("note",) for a in r.advice):
        out += (f"<p>Write these changes as a new experiment file: "
                f"<code>{esc(r.refine_command)}</code></p>")
    return out
