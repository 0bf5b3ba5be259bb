"""One self-contained HTML page of tables: searchable, sortable, readable offline.

Reports (the permission register, the drift report) are mailed around and opened from a
laptop's disk, often without a network, so the page carries its own CSS and script and
names no URL at all; a Content-Security-Policy forbids every fetch, so a cell that happens
to hold a URL cannot make the browser load it. Every cell is escaped: names and group
titles come from volunteers and may hold anything. One search box filters every table
(case-insensitive substring over all cells); clicking a column header sorts that table,
numbers as numbers and text in Chinese collation, toggling ascending and descending.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

CSS = """
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;
margin:1.5rem;color:#1f2328;background:#fff}
h1{font-size:1.4rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:1.5rem 0 .4rem}
.subtitle{color:#59636e;margin:0 0 1rem}.notes{color:#59636e;font-size:.9rem}
.search{position:sticky;top:0;background:#fff;padding:.5rem 0;z-index:2}
.search input{font-size:1rem;padding:.35rem .5rem;width:min(40rem,100%)}
.count{color:#59636e;font-size:.85rem;margin:.2rem 0 .4rem}
table{border-collapse:collapse;font-size:.88rem;width:100%}
th,td{border:1px solid #d1d9e0;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:2.9rem}
th{cursor:pointer}th button{all:unset;display:block;width:100%;font-weight:600}
th button:focus-visible{outline:2px solid #0969da}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
tbody tr:nth-child(even){background:#f6f8fa}tr[hidden]{display:none}
"""

SCRIPT = """
(function () {
  "use strict";
  var tables = Array.prototype.slice.call(document.querySelectorAll("table[data-table]"));
  var search = document.getElementById("search");
  var collator = new Intl.Collator("zh");  // = localeCompare(b, "zh")
  function rowsOf(table) { return Array.prototype.slice.call(table.tBodies[0].rows); }
  function cellText(row, i) { var c = row.cells[i]; return c ? c.textContent : ""; }
  function asNumber(text) {
    var t = text.replace(/,/g, "").trim();
    return t !== "" && isFinite(Number(t)) ? Number(t) : null;
  }
  function count(table) {
    var all = rowsOf(table), shown = all.filter(function (r) { return !r.hidden; }).length;
    var el = document.querySelector('[data-count="' + table.getAttribute("data-table") + '"]');
    if (el) { el.textContent = shown + " of " + all.length + " rows"; }
  }
  tables.forEach(function (table) {
    rowsOf(table).forEach(function (r) { r._text = r.textContent.toLocaleLowerCase(); });
  });
  function filter() {
    var q = search.value.trim().toLocaleLowerCase();
    tables.forEach(function (table) {
      rowsOf(table).forEach(function (r) { r.hidden = q !== "" && r._text.indexOf(q) < 0; });
      count(table);
    });
  }
  function sort(table, th, index) {
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", dir);
    var rows = rowsOf(table);
    var numeric = rows.every(function (r) {
      var t = cellText(r, index);
      return t.trim() === "" || asNumber(t) !== null;
    });
    var sign = dir === "ascending" ? 1 : -1;
    rows.sort(function (a, b) {
      var x = cellText(a, index), y = cellText(b, index);
      if (numeric) {
        var nx = asNumber(x), ny = asNumber(y);
        if (nx === null || ny === null) { return nx === ny ? 0 : (nx === null ? 1 : -1); }
        return sign * (nx - ny);
      }
      return sign * collator.compare(x, y);
    });
    var body = table.tBodies[0];
    rows.forEach(function (r) { body.appendChild(r); });
  }
  tables.forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      // on the cell, not only its button: a click anywhere in a (wrapped, taller) header sorts
      th.addEventListener("click", function () { sort(table, th, index); });
    });
    count(table);
  });
  search.addEventListener("input", filter);
  filter();
})();
"""


@dataclass
class HtmlTable:
    """One table of a page: ``name`` is its id (``data-table``), ``title`` its heading."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]


def render_page(*, title: str, subtitle: str, tables: Sequence[HtmlTable], notes: Sequence[str] = (),
                search_label: str = "Search") -> str:
    """The whole page as one HTML document (inline CSS and script, no URL of any kind)."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="subtitle">{esc(subtitle)}</p>',
        f'<div class="search"><label>{esc(search_label)} '
        '<input type="search" id="search" autocomplete="off" spellcheck="false"></label></div>',
    ]
    if notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    for table in tables:
        parts.append(_table(table))
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def _table(table: HtmlTable) -> str:
    esc = html.escape
    name = esc(table.name)
    head = "".join(f'<th scope="col" aria-sort="none"><button type="button">{esc(c)}</button></th>'
                   for c in table.columns)
    body = "\n".join("<tr>" + "".join(f"<td>{esc(str(cell))}</td>" for cell in row) + "</tr>"
                     for row in table.rows)
    total = len(table.rows)
    return (f'<section><h2 id="t-{name}">{esc(table.title)}</h2>'
            f'<div class="count" data-count="{name}">{total} of {total} rows</div>'
            f'<table data-table="{name}" aria-labelledby="t-{name}"><thead><tr>{head}</tr></thead>'
            f"<tbody>\n{body}\n</tbody></table></section>")


__all__ = ["HtmlTable", "render_page"]
