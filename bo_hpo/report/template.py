"""The page's inline CSS and the few lines of JavaScript that sort the trial table."""

from __future__ import annotations

CSS = """
:root { --ink: #111827; --muted: #6b7280; --line: #e5e7eb; --bg: #f8fafc; --card: #ffffff;
        --blue: #2563eb; --green: #15803d; --red: #b91c1c; --amber: #b45309; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); line-height: 1.5;
       font: 15px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto,
             "Helvetica Neue", Arial, sans-serif; }
header { background: linear-gradient(180deg, #eef2ff 0%, #f8fafc 100%);
         padding: 28px 40px 8px; border-bottom: 1px solid var(--line); }
main { padding: 0 40px 40px; max-width: 1400px; }
.eyebrow { color: var(--muted); font-size: 13px; letter-spacing: .04em;
           text-transform: uppercase; }
h1 { font-size: 30px; margin: 4px 0 10px; word-break: break-word; }
h2 { font-size: 21px; margin: 38px 0 12px; padding-bottom: 6px;
     border-bottom: 2px solid var(--line); }
.verdict { font-size: 19px; max-width: 1100px; margin: 0 0 18px; padding: 12px 16px;
           background: #fff; border-left: 5px solid var(--blue); border-radius: 6px;
           box-shadow: 0 1px 2px rgba(0,0,0,.05); }
.cards { display: flex; flex-wrap: wrap; gap: 14px; margin-bottom: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
        padding: 12px 18px; min-width: 190px; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
.card .label { color: var(--muted); font-size: 13px; }
.card .value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card.big .value { font-size: 38px; color: var(--blue); }
.card.good .value { color: var(--green); }
.card.bad .value { color: var(--red); }
.card .sub { color: var(--muted); font-size: 13px; }
.card small { font-size: 15px; color: var(--muted); font-weight: 400; }
.config { margin: 4px 0 12px; }
.config .label { color: var(--muted); font-size: 13px; margin-bottom: 4px; }
.chip { display: inline-block; margin: 0 6px 6px 0; padding: 3px 10px; border-radius: 999px;
        background: #fff; border: 1px solid var(--line); font-size: 14px; }
.chip b { font-weight: 600; color: #374151; margin-right: 4px; }
nav { margin: 10px 0 6px; }
nav a { color: var(--blue); text-decoration: none; margin-right: 16px; font-size: 14px; }
nav a:hover { text-decoration: underline; }
.note { color: var(--amber); margin: 4px 0; }
.muted { color: var(--muted); font-size: 14px; }
section { background: transparent; }
.two { display: grid; grid-template-columns: minmax(260px, 1fr) 2.2fr; gap: 24px; }
@media (max-width: 1000px) { .two { grid-template-columns: 1fr; } }
table { border-collapse: collapse; font-size: 14px; }
table.facts th { text-align: left; color: var(--muted); font-weight: 500; padding: 3px 14px 3px 0;
                 vertical-align: top; white-space: nowrap; }
table.facts td { padding: 3px 0; overflow-wrap: anywhere; }
table.grid { background: #fff; border: 1px solid var(--line); width: 100%; }
table.grid th { background: #f1f5f9; text-align: left; padding: 6px 8px; font-weight: 600;
                border-bottom: 1px solid var(--line); white-space: nowrap; }
table.grid td { padding: 4px 8px; border-bottom: 1px solid #f1f5f9; white-space: nowrap; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th.asc::after { content: " ▲"; } table.sortable th.desc::after { content: " ▼"; }
.scroll { overflow: auto; max-height: 560px; border-radius: 6px; }
.scroll thead th { position: sticky; top: 0; }
tr.s-failed td { background: #fef2f2; } tr.s-invalid td { background: #fffbeb; }
tr.s-interrupted td { background: #f5f3ff; } tr.s-running td { background: #eff6ff; }
tr.rec td { background: #fef9c3; font-weight: 600; }
tr.rec td:first-child::after { content: " ★"; color: #ca8a04; }
tr.base td:first-child::after { content: " ◆"; color: #ea580c; }
.group { background: #fff; border: 1px solid var(--line); border-left: 4px solid var(--red);
         border-radius: 6px; padding: 8px 14px; margin: 0 0 10px; }
.group ul { margin: 4px 0 0; padding-left: 20px; }
.group code { white-space: pre-wrap; word-break: break-word; font-size: 13px; }
.where { color: var(--red); font-weight: 600; }
.tag { display: inline-block; min-width: 84px; padding: 1px 8px; border-radius: 6px;
       font-size: 13px; font-weight: 600; background: #e0e7ff; color: #3730a3; }
.tag.drift, .tag.shift, .tag.widen, .tag.extend { background: #ffedd5; color: #9a3412; }
.tag.narrow { background: #dcfce7; color: #166534; }
.tag.fix { background: #f1f5f9; color: #334155; }
ul.advice { list-style: none; padding: 0; } ul.advice li { margin: 0 0 8px; }
ul.plain { padding-left: 18px; margin: 8px 0; }
code { background: #f1f5f9; padding: 1px 5px; border-radius: 4px; font-size: 13px; }
footer { color: var(--muted); font-size: 13px; padding: 16px 40px 30px; }
.js-plotly-plot, .plotly-graph-div { background: #fff; border-radius: 8px; margin: 8px 0 14px; }
"""

#: Click a header to sort by it (numbers by their data-v value); click again to reverse.
SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var asc = !th.classList.contains('asc');
      table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      var num = th.dataset.type === 'num', body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col];
        var u = num ? x.dataset.v : x.textContent, v = num ? y.dataset.v : y.textContent;
        if (num) {
          u = u === '' ? Infinity : parseFloat(u); v = v === '' ? Infinity : parseFloat(v);
          if (u === v) return 0;
          return asc ? u - v : v - u;
        }
        return asc ? u.localeCompare(v) : v.localeCompare(u);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""
