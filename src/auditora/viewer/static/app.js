/* Auditora viewer: a dependency-free single-page app (vanilla JS + SVG).
 *
 * Security rule of this file: user content (ids, names, messages, metadata)
 * only ever reaches the page through textContent, setAttribute on
 * non-executable attributes, or createTextNode. No API that parses a string
 * as HTML or code is used anywhere in this file (a test checks), and links are
 * built from encodeURIComponent.
 *
 * Data comes from the JSON API (/api/...) when served by `auditora view`, or
 * from the JSON embedded in the page (the "auditora-data" script element) in the
 * static report written by `auditora report`.
 */
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  var embedded = null;
  var dataNode = document.getElementById("auditora-data");
  if (dataNode) {
    embedded = JSON.parse(dataNode.textContent);
  }

  // ---------------------------------------------------------------- DOM helpers
  var SAFE_ATTR = /^(class|id|href|title|colspan|role|tabindex|aria-[a-z-]+|data-[a-z-]+|x|y|x1|x2|y1|y2|cx|cy|r|width|height|rx|ry|viewBox|text-anchor|dominant-baseline|points|transform|fill|stroke|stroke-width|d|preserveAspectRatio)$/;

  function setAttrs(el, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (!SAFE_ATTR.test(k)) throw new Error("attribute not allowed: " + k);
      if (k === "href" && !/^#\//.test(String(v))) throw new Error("only internal links");
      el.setAttribute(k, String(v));
    });
  }

  function append(el, children) {
    children.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      if (Array.isArray(c)) { append(el, c); return; }
      el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    });
  }

  function h(tag, attrs) {
    var el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, Array.prototype.slice.call(arguments, 2));
    return el;
  }

  function s(tag, attrs) {
    var el = document.createElementNS(SVGNS, tag);
    setAttrs(el, attrs);
    append(el, Array.prototype.slice.call(arguments, 2));
    return el;
  }

  function link(parts, label, attrs) {
    var a = h("a", attrs || {}, label);
    a.setAttribute("href", "#/" + parts.map(encodeURIComponent).join("/"));
    return a;
  }

  // ---------------------------------------------------------------- formatting
  // These mirror auditora/cli/_format.py so the CLI and the pages agree.
  function fmtDuration(sec) {
    if (sec === null || sec === undefined || !isFinite(sec)) return "-";
    if (sec < 0) return "-" + fmtDuration(-sec);
    // Each unit's cut-off is where its rounded text would reach the next unit.
    if (sec * 1e6 < 9.95) return (sec * 1e6).toFixed(1) + " \u00b5s";
    if (sec * 1e6 < 999.5) return (sec * 1e6).toFixed(0) + " \u00b5s";
    if (sec * 1e3 < 9.95) return (sec * 1e3).toFixed(1) + " ms";
    if (sec * 1e3 < 999.5) return (sec * 1e3).toFixed(0) + " ms";
    if (sec < 59.995) return sec.toFixed(2) + " s";
    var t = Math.round(sec);
    if (t < 3600) {
      var m = Math.floor(t / 60), r = t % 60;
      return m + "m " + (r < 10 ? "0" : "") + r + "s";
    }
    var hh = Math.floor(t / 3600), mm = Math.floor((t % 3600) / 60);
    return hh + "h " + (mm < 10 ? "0" : "") + mm + "m";
  }
  function fmtInt(n) {
    if (n === null || n === undefined) return "-";
    return Math.trunc(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  function fmtCost(d) {
    // Below $1: 3 significant digits, at least 2 decimals ($0.000044, $0.0288, $0.50).
    if (d === null || d === undefined || !isFinite(d)) return "-";
    if (d < 0) return "-" + fmtCost(-d);
    if (d === 0) return "$0.00";
    if (Number(d.toFixed(2)) >= 1) return "$" + d.toFixed(2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var e = Math.floor(Math.log10(d));
    var t = d.toFixed(Math.max(0, 2 - e));
    if (Math.floor(Math.log10(Number(t))) !== e) t = d.toFixed(Math.max(0, 1 - e));
    var parts = t.split("."), dec = (parts[1] || "").replace(/0+$/, "");
    while (dec.length < 2) dec += "0";
    return "$" + parts[0] + "." + dec;
  }
  function fmtPct(r) {
    if (r === null || r === undefined) return "-";
    return (r * 100).toFixed(1) + "%";
  }
  function fmtNum(v) {
    if (v === null || v === undefined) return "-";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v)) return fmtInt(v);
    return String(Math.round(v * 10000) / 10000);
  }
  // A time with its date and the browser's UTC offset, as the CLI prints it:
  // 2026-12-02 14:21:50 +01:00.
  function fmtTime(ns) {
    if (ns === null || ns === undefined) return "-";
    var d = new Date(ns / 1e6);
    function p(n) { return (n < 10 ? "0" : "") + n; }
    var east = -d.getTimezoneOffset(), off = Math.abs(east);
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " +
      p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()) + " " +
      (east < 0 ? "-" : "+") + p(Math.floor(off / 60)) + ":" + p(off % 60);
  }

  // Round axis ticks: multiples of 1, 2 or 5 times a power of ten, about ``count``
  // of them across [0, span] (span 1.06 s gives 0, 0.2, 0.4 ... 1 s, never 264 ms).
  function niceTicks(span, count) {
    if (!(span > 0)) return [0];
    var raw = span / count, power = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * power; })
      .filter(function (st) { return st >= raw; })[0];
    var out = [];
    for (var v = 0; v <= span * (1 + 1e-9); v += step) out.push(Math.round(v / step) * step);
    return out;
  }
  function text(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "string") return v;
    return JSON.stringify(v);
  }

  // ---------------------------------------------------------------- data
  function load(key, url) {
    if (embedded) {
      if (Object.prototype.hasOwnProperty.call(embedded, key)) return Promise.resolve(embedded[key]);
      return Promise.reject(new Error("not included in this report: " + key));
    }
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body && body.error ? body.error : "HTTP " + r.status);
        return body;
      });
    });
  }
  function q(id) { return encodeURIComponent(id); }
  var api = {
    overview: function () { return load("overview", "/api/overview"); },
    sessions: function () { return load("sessions", "/api/sessions"); },
    session: function (id) { return load("session:" + id, "/api/session?id=" + q(id)); },
    trace: function (id) { return load("trace:" + id, "/api/trace?id=" + q(id)); },
    llm: function () { return load("llm", "/api/llm"); },
    evaluations: function () { return load("evaluations", "/api/evaluations"); },
    metrics: function () { return load("metrics", "/api/metrics"); }
  };

  // ---------------------------------------------------------------- widgets
  function cards(items) {
    return h("div", { class: "cards" }, items.map(function (it) {
      return h("div", { class: "card" + (it.cls ? " " + it.cls : ""), "data-card": it.key },
        h("div", { class: "card-value" }, it.value),
        h("div", { class: "card-label" }, it.label));
    }));
  }

  function summaryCards(sm, extra) {
    var items = (extra || []).concat([
      { key: "runs", label: "runs", value: fmtInt(sm.runs) },
      { key: "errors", label: "errors", value: fmtInt(sm.errors), cls: sm.errors ? "bad" : "" },
      { key: "duration", label: "duration", value: fmtDuration(sm.duration) },
      { key: "llm_calls", label: "LLM calls", value: fmtInt(sm.llm_calls) },
      { key: "tokens", label: "tokens", value: fmtInt(sm.tokens) },
      { key: "cost", label: "cost", value: fmtCost(sm.cost) },
      { key: "evaluations", label: "evaluations", value: fmtInt(sm.evaluations) },
      { key: "pass_rate", label: "pass rate", value: fmtPct(sm.pass_rate),
        cls: sm.pass_rate !== null && sm.pass_rate < 1 ? "warn" : "" }
    ]);
    return cards(items);
  }

  // columns: [{key, label, num, cell(row) -> node|string}]
  function table(columns, rows, opts) {
    opts = opts || {};
    if (!rows.length) return h("p", { class: "empty" }, opts.empty || "Nothing recorded.");
    return h("table", { class: "grid" + (opts.cls ? " " + opts.cls : ""), "data-table": opts.name || null },
      h("thead", null, h("tr", null, columns.map(function (c) {
        return h("th", { class: c.num ? "num" : null }, c.label);
      }))),
      h("tbody", null, rows.map(function (r) {
        var tr = h("tr", opts.rowAttrs ? opts.rowAttrs(r) : null);
        columns.forEach(function (c) {
          var v = c.cell ? c.cell(r) : text(r[c.key]);
          tr.appendChild(h("td", { class: c.num ? "num" : null, "data-field": c.key }, v));
        });
        return tr;
      })));
  }

  function status(st) {
    return h("span", { class: "status st-" + String(st).replace(/[^a-z]/gi, "") }, String(st));
  }
  function verdict(st) {
    return h("span", { class: "badge " + (st === "PASS" ? "pass" : "fail") }, String(st));
  }
  function section(title, body, attrs) {
    return h("section", attrs || null, h("h2", null, title), body);
  }
  // A note when the server sent only part of a long list.
  function cut(shown, total) {
    if (total === undefined || total === null || shown >= total) return null;
    return h("p", { class: "empty" }, "Showing " + fmtInt(shown) + " of " + fmtInt(total) +
      " (the most recent). Totals above count them all.");
  }
  function kv(obj) {
    var keys = Object.keys(obj || {});
    if (!keys.length) return h("p", { class: "empty" }, "None.");
    return h("table", { class: "kv" }, h("tbody", null, keys.map(function (k) {
      return h("tr", null, h("th", null, k), h("td", null, h("code", null, text(obj[k]))));
    })));
  }

  // The waterfall: one row per run, bars placed on a shared time axis.
  function waterfall(runs, opts) {
    opts = opts || {};
    if (!runs.length) return h("p", { class: "empty" }, "No runs.");
    var t0 = Infinity, t1 = -Infinity;
    runs.forEach(function (r) {
      t0 = Math.min(t0, r.start_ns);
      t1 = Math.max(t1, r.end_ns || r.start_ns);
    });
    var span = Math.max(1, t1 - t0);
    var W = 1100, LABEL = 320, BAR = W - LABEL - 90, ROW = 22, TOP = 26;
    var svg = s("svg", { class: "waterfall", viewBox: "0 0 " + W + " " + (TOP + ROW * runs.length + 6),
      width: "100%", role: "img", "aria-label": "run waterfall" });
    niceTicks(span / 1e9, 4).forEach(function (sec) {
      var x = LABEL + (sec * 1e9 / span) * BAR;
      svg.appendChild(s("line", { class: "tick", x1: x, x2: x, y1: TOP - 6, y2: TOP + ROW * runs.length }));
      svg.appendChild(s("text", { class: "tick-label", x: x, y: 14, "text-anchor": "middle", "data-tick": String(sec) },
        fmtDuration(sec)));
    });
    runs.forEach(function (r, i) {
      var y = TOP + i * ROW;
      var start = LABEL + ((r.start_ns - t0) / span) * BAR;
      var width = Math.max(2, (((r.end_ns || r.start_ns) - r.start_ns) / span) * BAR);
      var label = r.name + (r.agent ? "  [" + r.agent + "]" : "");
      var room = 44 - 2 * (r.depth || 0);
      if (label.length > room) label = label.slice(0, Math.max(4, room - 1)) + "\u2026";
      var g = s("g", { class: "wf-row" + (opts.selected === r.run_id ? " selected" : ""),
        "data-run-id": r.run_id, tabindex: "0" },
        s("rect", { class: "wf-hit", x: 0, y: y, width: W, height: ROW }),
        s("text", { class: "wf-label", x: 6 + 14 * Math.min(r.depth || 0, 10), y: y + 15 }, label),
        s("rect", { class: "wf-bar st-" + String(r.status).replace(/[^a-z]/gi, ""),
          x: start.toFixed(1), y: y + 4, width: width.toFixed(1), height: ROW - 8, rx: 2 }),
        s("text", { class: "wf-dur", x: Math.min(start + width + 4, W - 86).toFixed(1), y: y + 15 },
          fmtDuration(r.duration)));
      g.appendChild(s("title", null, r.name + " \u2014 " + r.status + " \u2014 " + fmtDuration(r.duration)));
      if (opts.onclick) {
        g.addEventListener("click", function () { opts.onclick(r); });
        g.addEventListener("keydown", function (ev) { if (ev.key === "Enter") opts.onclick(r); });
      }
      svg.appendChild(g);
    });
    return h("div", { class: "wf-wrap" }, svg);
  }

  // Horizontal bar chart: items [{label, value}]
  function barChart(items, fmt) {
    if (!items.length) return h("p", { class: "empty" }, "No values.");
    var W = 760, LABEL = 300, ROW = 20;
    var max = Math.max.apply(null, items.map(function (it) { return Math.abs(it.value) || 0; })) || 1;
    var svg = s("svg", { class: "bars", viewBox: "0 0 " + W + " " + (ROW * items.length + 4), width: "100%" });
    items.forEach(function (it, i) {
      var y = i * ROW;
      var w = Math.max(1, (Math.abs(it.value) / max) * (W - LABEL - 90));
      var label = it.label.length > 40 ? it.label.slice(0, 39) + "\u2026" : it.label;
      svg.appendChild(s("text", { class: "bar-label", x: 4, y: y + 14 }, label));
      svg.appendChild(s("rect", { class: "bar", x: LABEL, y: y + 3, width: w.toFixed(1), height: ROW - 6, rx: 2 }));
      svg.appendChild(s("text", { class: "bar-value", x: (LABEL + w + 4).toFixed(1), y: y + 14 }, fmt(it.value)));
    });
    return svg;
  }

  // Bars of equal buckets ``[{lo, hi, count}]``, the range's ends labelled with ``fmt``.
  function histogram(t, fmt) {
    fmt = fmt || fmtDuration;
    var W = 360, H = 110, B = 18;
    var max = Math.max.apply(null, t.histogram.map(function (b) { return b.count; })) || 1;
    var bw = W / t.histogram.length;
    var svg = s("svg", { class: "hist", viewBox: "0 0 " + W + " " + (H + B), width: "100%" });
    t.histogram.forEach(function (b, i) {
      var bh = (b.count / max) * H;
      var r = s("rect", { class: "bar", x: (i * bw + 1).toFixed(1), y: (H - bh).toFixed(1),
        width: Math.max(1, bw - 2).toFixed(1), height: bh.toFixed(1) });
      r.appendChild(s("title", null, fmt(b.lo) + " \u2013 " + fmt(b.hi) + ": " + fmtInt(b.count)));
      svg.appendChild(r);
    });
    svg.appendChild(s("text", { class: "tick-label", x: 0, y: H + 14 }, fmt(t.min)));
    svg.appendChild(s("text", { class: "tick-label", x: W, y: H + 14, "text-anchor": "end" }, fmt(t.max)));
    return svg;
  }

  // A time series ``[{start_ns, end_ns, count, total}]`` as bars of ``value(point)``.
  function series(points, value, fmt) {
    var W = 360, H = 80, B = 18;
    var max = Math.max.apply(null, points.map(function (p) { return Math.abs(value(p)) || 0; })) || 1;
    var bw = W / Math.max(1, points.length);
    var svg = s("svg", { class: "hist series", viewBox: "0 0 " + W + " " + (H + B), width: "100%" });
    points.forEach(function (p, i) {
      var bh = ((Math.abs(value(p)) || 0) / max) * H;
      var r = s("rect", { class: "bar", x: (i * bw + 1).toFixed(1), y: (H - bh).toFixed(1),
        width: Math.max(1, bw - 2).toFixed(1), height: bh.toFixed(1) });
      r.appendChild(s("title", null, fmtTime(p.start_ns) + " \u2013 " + fmtTime(p.end_ns) + ": " + fmt(value(p))));
      svg.appendChild(r);
    });
    if (points.length) {
      svg.appendChild(s("text", { class: "tick-label", x: 0, y: H + 14 }, fmtTime(points[0].start_ns)));
      svg.appendChild(s("text", { class: "tick-label", x: W, y: H + 14, "text-anchor": "end" }, fmtTime(points[points.length - 1].end_ns)));
    }
    return svg;
  }

  // ---------------------------------------------------------------- tables shared by pages
  function llmCallsTable(calls) {
    return table([
      { key: "time_ns", label: "time", cell: function (c) { return fmtTime(c.time_ns); } },
      { key: "model", label: "model" },
      { key: "provider", label: "provider" },
      { key: "input_tokens", label: "in", num: true, cell: function (c) { return fmtInt(c.input_tokens); } },
      { key: "output_tokens", label: "out", num: true, cell: function (c) { return fmtInt(c.output_tokens); } },
      { key: "cost", label: "cost", num: true, cell: function (c) { return fmtCost(c.cost); } },
      { key: "response_time", label: "latency", num: true, cell: function (c) { return fmtDuration(c.response_time); } },
      { key: "success", label: "result", cell: function (c) {
        return c.success ? status("ok") : h("span", null, status("error"), " ", c.error || "");
      } },
      { key: "trace", label: "", cell: function (c) {
        return c.trace_id ? link(["trace", c.trace_id, c.run_id || ""], "run \u203a") : "";
      } }
    ], calls, { name: "llm-calls", empty: "No LLM calls." });
  }

  function evaluationsTable(evals) {
    return table([
      { key: "time_ns", label: "time", cell: function (e) { return fmtTime(e.time_ns); } },
      { key: "metric_name", label: "metric" },
      { key: "value", label: "value", num: true, cell: function (e) { return fmtNum(e.value); } },
      { key: "threshold", label: "threshold", num: true, cell: function (e) {
        return e.threshold === null ? "-" : (e.direction === "lower" ? "\u2264 " : "\u2265 ") + fmtNum(e.threshold);
      } },
      { key: "status", label: "status", cell: function (e) { return verdict(e.status); } },
      { key: "label", label: "label" },
      { key: "trace", label: "", cell: function (e) {
        return e.trace_id ? link(["trace", e.trace_id, e.run_id || ""], "run \u203a") : "";
      } }
    ], evals, { name: "evaluations", empty: "No evaluations." });
  }

  function messagesTable(msgs) {
    return table([
      { key: "time_ns", label: "time", cell: function (m) { return fmtTime(m.time_ns); } },
      { key: "sender", label: "from" },
      { key: "recipient", label: "to" },
      { key: "message_kind", label: "kind" },
      { key: "content", label: "content", cell: function (m) {
        return h("code", null, m.content === null || m.content === undefined ? text(m.extra) : text(m.content));
      } }
    ], msgs || [], { name: "agent-messages", empty: "No agent messages." });
  }

  // Bars are scaled per metric name: counters of different units never share an axis.
  function countersTable(counters) {
    var maxBy = {};
    counters.forEach(function (c) {
      maxBy[c.name] = Math.max(maxBy[c.name] || 0, Math.abs(c.value) || 0);
    });
    var sorted = counters.slice().sort(function (a, b) {
      return a.name < b.name ? -1 : a.name > b.name ? 1 : String(a.session_id) < String(b.session_id) ? -1 : 1;
    });
    return table([
      { key: "name", label: "metric" },
      { key: "session_id", label: "session", cell: function (c) {
        return c.session_id === null ? "-" : link(["session", c.session_id], c.session_id);
      } },
      { key: "value", label: "value", num: true, cell: function (c) { return fmtNum(c.value); } },
      { key: "bar", label: "", cell: function (c) {
        var w = maxBy[c.name] ? (Math.abs(c.value) / maxBy[c.name]) * 200 : 0;
        return s("svg", { class: "inline-bar", width: 204, height: 12, viewBox: "0 0 204 12" },
          s("rect", { class: "bar", x: 0, y: 1, width: Math.max(1, w).toFixed(1), height: 10, rx: 2 }));
      } }
    ], sorted, { name: "counters", empty: "No metrics recorded." });
  }

  function byMetricTable(rows) {
    return table([
      { key: "metric_name", label: "metric" },
      { key: "count", label: "count", num: true, cell: function (m) { return fmtInt(m.count); } },
      { key: "mean", label: "mean", num: true, cell: function (m) { return fmtNum(m.mean); } },
      { key: "min", label: "min", num: true, cell: function (m) { return fmtNum(m.min); } },
      { key: "max", label: "max", num: true, cell: function (m) { return fmtNum(m.max); } },
      { key: "threshold", label: "threshold", num: true, cell: function (m) {
        return m.threshold === null ? "-" : (m.direction === "lower" ? "\u2264 " : "\u2265 ") + fmtNum(m.threshold);
      } },
      { key: "passed", label: "PASS", num: true, cell: function (m) { return fmtInt(m.passed); } },
      { key: "failed", label: "FAIL", num: true, cell: function (m) { return fmtInt(m.failed); } },
      { key: "pass_rate", label: "pass rate", num: true, cell: function (m) { return fmtPct(m.pass_rate); } }
    ], rows, { name: "by-metric", rowAttrs: function (m) { return { "data-metric": m.metric_name }; } });
  }

  // ---------------------------------------------------------------- pages
  function pageSessions(root) {
    return Promise.all([api.overview(), api.sessions()]).then(function (res) {
      var ov = res[0], rows = res[1];
      root.appendChild(h("h1", null, "Sessions"));
      root.appendChild(summaryCards(ov, [
        { key: "sessions", label: "sessions", value: fmtInt(ov.sessions) },
        { key: "traces", label: "traces", value: fmtInt(ov.traces) }
      ]));
      root.appendChild(table([
        { key: "session_id", label: "session", cell: function (r) {
          return h("span", null, link(["session", r.session_id], r.session_id),
            r.name ? h("span", { class: "muted" }, " \u2014 " + text(r.name)) : null,
            (r.tags || []).map(function (t) { return h("span", { class: "tag" }, text(t)); }));
        } },
        { key: "start_ns", label: "started", cell: function (r) { return fmtTime(r.start_ns); } },
        { key: "traces", label: "traces", num: true, cell: function (r) { return fmtInt(r.traces); } },
        { key: "runs", label: "runs", num: true, cell: function (r) { return fmtInt(r.runs); } },
        { key: "errors", label: "errors", num: true, cell: function (r) { return r.errors ? h("span", { class: "bad-text" }, fmtInt(r.errors)) : "0"; } },
        { key: "duration", label: "duration", num: true, cell: function (r) { return fmtDuration(r.duration); } },
        { key: "llm_calls", label: "LLM calls", num: true, cell: function (r) { return fmtInt(r.llm_calls); } },
        { key: "tokens", label: "tokens", num: true, cell: function (r) { return fmtInt(r.tokens); } },
        { key: "cost", label: "cost", num: true, cell: function (r) { return fmtCost(r.cost); } },
        { key: "evaluations", label: "evals", num: true, cell: function (r) { return fmtInt(r.evaluations); } },
        { key: "pass_rate", label: "pass rate", num: true, cell: function (r) { return fmtPct(r.pass_rate); } }
      ], rows, { name: "sessions", empty: "No sessions in this store.",
        rowAttrs: function (r) { return { "data-session-id": r.session_id }; } }));
    });
  }

  // The session's traces oldest first: the turns of a multi-turn pipeline.
  function turnsTable(rows) {
    return table([
      { key: "turn", label: "#", num: true, cell: function (t) { return fmtInt(rows.indexOf(t) + 1); } },
      { key: "name", label: "root run", cell: function (t) { return link(["trace", t.trace_id], t.name || t.trace_id); } },
      { key: "start_ns", label: "started", cell: function (t) { return fmtTime(t.start_ns); } },
      { key: "status", label: "status", cell: function (t) { return status(t.status); } },
      { key: "duration", label: "duration", num: true, cell: function (t) { return fmtDuration(t.duration_ns / 1e9); } },
      { key: "tokens", label: "tokens", num: true, cell: function (t) { return fmtInt(t.total_tokens); } },
      { key: "cost", label: "cost", num: true, cell: function (t) { return fmtCost(t.cost); } }
    ], rows, { name: "turns", rowAttrs: function (t) { return { "data-trace-id": t.trace_id }; } });
  }

  function pageSession(root, id) {
    // Served: also the turns (up to 200, the API's page limit) and the session's agent graph.
    var extra = embedded ? Promise.resolve([null, null]) : Promise.all([
      getJSON("/api/traces?" + qs({ session: id, order: "asc", limit: "200" })), graphOf("session", id)]);
    return Promise.all([api.session(id), extra]).then(function (res) {
      var d = res[0], turns = res[1][0], graph = res[1][1];
      root.appendChild(h("div", { class: "crumbs" }, link([""], "Sessions"), " \u203a session"));
      root.appendChild(h("h1", null, "Session ", h("code", { class: "ident" }, d.session.session_id)));
      if (d.session.tags && d.session.tags.length) {
        root.appendChild(h("div", { class: "tags" }, d.session.tags.map(function (t) { return h("span", { class: "tag" }, text(t)); })));
      }
      root.appendChild(summaryCards(d.summary, [{ key: "traces", label: "traces", value: fmtInt(d.summary.traces) }]));
      if (turns) root.appendChild(section("Turns", [turns.rows.length < turns.total ? h("p", { class: "empty" }, "Showing the first " +
        fmtInt(turns.rows.length) + " of " + fmtInt(turns.total) + ".") : null, turnsTable(turns.rows)], { "data-section": "turns" }));
      var agents = agentsSection(graph, graph && graph.traces ? "Over " + fmtInt(graph.traces) + " traces of this session." : null);
      if (agents) root.appendChild(agents);
      root.appendChild(section("Timeline", [cut(d.runs.length, d.runs_total), waterfall(d.runs, { onclick: function (r) {
        location.hash = "#/trace/" + encodeURIComponent(r.trace_id) + "/" + encodeURIComponent(r.run_id);
      } })]));
      root.appendChild(section("Traces", table([
        { key: "root", label: "root run", cell: function (t) { return link(["trace", t.trace_id], t.root || t.trace_id); } },
        { key: "status", label: "status", cell: function (t) { return status(t.status); } },
        { key: "runs", label: "runs", num: true, cell: function (t) { return fmtInt(t.runs); } },
        { key: "duration", label: "duration", num: true, cell: function (t) { return fmtDuration(t.duration); } },
        { key: "tokens", label: "tokens", num: true, cell: function (t) { return fmtInt(t.tokens); } },
        { key: "cost", label: "cost", num: true, cell: function (t) { return fmtCost(t.cost); } },
        { key: "pass_rate", label: "pass rate", num: true, cell: function (t) { return fmtPct(t.pass_rate); } },
        { key: "trace_id", label: "trace id", cell: function (t) { return h("code", null, t.trace_id); } }
      ], d.traces, { name: "traces", rowAttrs: function (t) { return { "data-trace-id": t.trace_id }; } })));
      root.appendChild(section("State", kv(d.session.state)));
      root.appendChild(section("LLM calls", [cut(d.llm_calls.length, d.llm_calls_total), llmCallsTable(d.llm_calls)]));
      root.appendChild(section("Evaluations", [cut(d.evaluations.length, d.evaluations_total), evaluationsTable(d.evaluations)]));
      root.appendChild(section("Agent messages", messagesTable(d.agent_messages)));
      root.appendChild(section("Metrics (latest values)", countersTable(d.metrics)));
    });
  }

  function runPanel(d, run) {
    function mine(list) { return (list || []).filter(function (x) { return x.run_id === run.run_id; }); }
    var facts = {
      name: run.name, status: run.status, duration: fmtDuration(run.duration),
      started: fmtTime(run.start_ns), agent: run.agent, kind: run.run_type || run.run_kind,
      session: run.session_id, run_id: run.run_id, parent_id: run.parent_id
    };
    if (run.error_type) { facts.error = run.error_type + ": " + (run.error_message || ""); }
    Object.keys(facts).forEach(function (k) { if (facts[k] === null || facts[k] === undefined) delete facts[k]; });
    var events = mine(d.events), logs = mine(d.logs);
    return h("div", { class: "panel", id: "run-panel", "data-run-id": run.run_id },
      h("h2", null, "Run ", h("span", { class: "run-name" }, run.name), " ", status(run.status)),
      kv(facts),
      run.traceback ? section("Traceback", h("pre", { class: "traceback" }, String(run.traceback))) : null,
      run.inputs ? section("Inputs", h("pre", { class: "io io-inputs" }, JSON.stringify(run.inputs, null, 2))) : null,
      run.output !== null && run.output !== undefined ? section("Output", h("pre", { class: "io io-output" }, typeof run.output === "string" ? run.output : JSON.stringify(run.output, null, 2))) : null,
      run.attributes ? section("Attributes", kv(run.attributes)) : null,
      section("Logs", table([
        { key: "time_ns", label: "time", cell: function (l) { return fmtTime(l.time_ns); } },
        { key: "level", label: "level", cell: function (l) { return h("span", { class: "lvl lvl-" + String(l.level).toLowerCase().replace(/[^a-z]/g, "") }, l.level); } },
        { key: "message", label: "message", cell: function (l) { return h("span", { class: "msg" }, text(l.message)); } },
        { key: "fields", label: "fields", cell: function (l) { return h("code", null, text(l.fields)); } }
      ], logs, { name: "logs", empty: "No logs." })),
      section("Events", table([
        { key: "time_ns", label: "time", cell: function (e) { return fmtTime(e.time_ns); } },
        { key: "name", label: "event" },
        { key: "duration", label: "duration", num: true, cell: function (e) { return fmtDuration(e.duration); } },
        { key: "metadata", label: "metadata", cell: function (e) { return h("code", null, text(e.metadata)); } }
      ], events, { name: "events", empty: "No events." })),
      section("LLM calls", llmCallsTable(mine(d.llm_calls))),
      section("Evaluations", evaluationsTable(mine(d.evaluations))),
      section("Agent messages", messagesTable(mine(d.agent_messages))));
  }

  function pageTrace(root, id, runId) {
    return api.trace(id).then(function (d) {
      var sel = null;
      d.runs.forEach(function (r) { if (r.run_id === runId) sel = r; });
      if (!sel) sel = d.runs[0];
      root.appendChild(h("div", { class: "crumbs" }, link([""], "Sessions"), " \u203a ",
        d.sessions.length === 1 ? link(["session", d.sessions[0]], d.sessions[0]) : "trace", " \u203a trace"));
      root.appendChild(h("h1", null, "Trace ", h("code", { class: "ident" }, d.trace_id)));
      root.appendChild(summaryCards(d.summary));
      root.appendChild(section("Waterfall", [cut(d.runs.length, d.runs_total), waterfall(d.runs, { selected: sel && sel.run_id, onclick: function (r) {
        location.hash = "#/trace/" + encodeURIComponent(id) + "/" + encodeURIComponent(r.run_id);
      } })]));
      if (sel) root.appendChild(runPanel(d, sel));
    });
  }

  // The calls or results under a summary page: in a report, the newest ones embedded;
  // served, a page at a time from the list API, with filters in the URL.
  function recordList(root, page, params, embeddedRows, total, url, fields, sorts, render) {
    if (embedded) {
      root.appendChild(section("Newest", [cut(embeddedRows.length, total), render(embeddedRows)]));
      return null;
    }
    return getJSON(url + "?" + qs(params)).then(function (body) {
      root.appendChild(section("All", [filterBar(page, params, fields, sorts), render(body.rows), pager(page, params, body)]));
    });
  }

  function pageLLM(root, params) {
    return api.llm().then(function (d) {
      root.appendChild(h("h1", null, "LLM calls"));
      root.appendChild(cards([
        { key: "llm_calls", label: "LLM calls", value: fmtInt(d.total.llm_calls) },
        { key: "llm_failures", label: "failed", value: fmtInt(d.total.llm_failures), cls: d.total.llm_failures ? "bad" : "" },
        { key: "input_tokens", label: "input tokens", value: fmtInt(d.total.input_tokens) },
        { key: "output_tokens", label: "output tokens", value: fmtInt(d.total.output_tokens) },
        { key: "cost", label: "cost", value: fmtCost(d.total.cost) }
      ]));
      root.appendChild(section("By model", table([
        { key: "model", label: "model", cell: function (m) { return m.model === null ? "-" : m.model; } },
        { key: "provider", label: "provider" },
        { key: "calls", label: "calls", num: true, cell: function (m) { return fmtInt(m.calls); } },
        { key: "failures", label: "failed", num: true, cell: function (m) { return fmtInt(m.failures); } },
        { key: "input_tokens", label: "input", num: true, cell: function (m) { return fmtInt(m.input_tokens); } },
        { key: "output_tokens", label: "output", num: true, cell: function (m) { return fmtInt(m.output_tokens); } },
        { key: "cost", label: "cost", num: true, cell: function (m) { return fmtCost(m.cost); } },
        { key: "mean_latency", label: "mean latency", num: true, cell: function (m) { return fmtDuration(m.mean_latency); } },
        { key: "p95_latency", label: "p95 latency", num: true, cell: function (m) { return fmtDuration(m.p95_latency); } }
      ], d.by_model, { name: "by-model", rowAttrs: function (m) { return { "data-model": m.model }; } })));
      root.appendChild(section("Cost by model", barChart(d.by_model.map(function (m) {
        return { label: m.model === null ? "-" : m.model, value: m.cost || 0 };
      }), fmtCost)));
      return recordList(root, "llm", params, d.calls, d.calls_total, "/api/llm_calls", [
        { name: "q", label: "search text" },
        { name: "model", label: "model" },
        { name: "status", label: "status", options: [["", "any status"], ["error", "failed"], ["ok", "ok"]] },
        { name: "session", label: "session" }
      ], ["start", "duration", "cost", "tokens"], llmCallsTable);
    });
  }

  function pageEvaluations(root, params) {
    return api.evaluations().then(function (d) {
      root.appendChild(h("h1", null, "Evaluations"));
      root.appendChild(section("By metric", byMetricTable(d.by_metric)));
      root.appendChild(section("Pass rate by metric", barChart(d.by_metric.map(function (m) {
        return { label: m.metric_name, value: m.pass_rate || 0 };
      }), fmtPct)));
      return recordList(root, "evaluations", params, d.evaluations, d.evaluations_total, "/api/evaluation_results", [
        { name: "metric", label: "metric" },
        { name: "status", label: "status", options: [["", "any status"], ["FAIL", "FAIL"], ["PASS", "PASS"]] },
        { name: "session", label: "session" }
      ], ["start", "value"], evaluationsTable);
    });
  }

  function pageMetrics(root) {
    return api.metrics().then(function (d) {
      root.appendChild(h("h1", null, "Metrics"));
      root.appendChild(section("Metrics (each session's latest value)", d.metrics.length ? h("div", { class: "timers" }, d.metrics.map(function (m) {
        return h("div", { class: "timer", "data-metric": m.name },
          h("h3", null, m.name),
          h("div", { class: "timer-stats" },
            "total " + fmtNum(m.total) + "  over " + fmtInt(m.sessions) + " sessions  mean " + fmtNum(m.mean) +
            "  min " + fmtNum(m.min) + "  max " + fmtNum(m.max)),
          h("div", { class: "muted" }, "sessions by value"),
          histogram(m, fmtNum),
          h("div", { class: "muted" }, "total by when it was last written"),
          series(m.series, function (p) { return p.total || 0; }, fmtNum));
      })) : h("p", { class: "empty" }, "No metrics recorded.")));
      root.appendChild(section("Timers", d.timers.length ? h("div", { class: "timers" }, d.timers.map(function (t) {
        return h("div", { class: "timer", "data-timer": t.name },
          h("h3", null, t.name),
          h("div", { class: "timer-stats" },
            "n=" + fmtInt(t.count) + "  mean " + fmtDuration(t.mean) + "  p50 " + fmtDuration(t.p50) +
            "  p95 " + fmtDuration(t.p95) + "  max " + fmtDuration(t.max)),
          histogram(t),
          h("div", { class: "muted" }, "timings over time"),
          series(t.series, function (p) { return p.count; }, fmtInt));
      })) : h("p", { class: "empty" }, "No timed events.")));
    });
  }

  // ---------------------------------------------------------------- searchable lists (served only)
  // Filters live in the URL: #/traces?status=error&q=timeout&offset=50 can be shared.
  function qs(params) {
    return Object.keys(params).filter(function (k) {
      return params[k] !== undefined && params[k] !== null && params[k] !== "";
    }).map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
  }
  function go(page, params) { location.hash = "#/" + page + (qs(params) ? "?" + qs(params) : ""); }
  function getJSON(url) { return load("-", url); }

  // A filter bar: fields [{name, label, type, options}]; submitting puts them in the URL.
  function filterBar(page, params, fields, sorts) {
    var form = h("form", { class: "filters", "data-filters": page });
    var inputs = {};
    fields.forEach(function (f) {
      var el;
      if (f.options) {
        el = h("select", { "data-filter": f.name, title: f.label }, f.options.map(function (o) {
          var opt = h("option", null, o[1]); opt.value = o[0]; return opt;
        }));
      } else {
        el = h("input", { "data-filter": f.name, title: f.label });
        el.type = f.type || "text";
        el.placeholder = f.label;
      }
      if (f.type === "datetime-local" && params[f.name]) {
        var d = new Date(Number(params[f.name]) / 1e6);
        el.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
      } else {
        el.value = params[f.name] || "";
      }
      inputs[f.name] = el;
      form.appendChild(h("label", null, h("span", { class: "muted" }, f.label), el));
    });
    var sort = h("select", { "data-filter": "sort", title: "sort" }, sorts.map(function (o) {
      var opt = h("option", null, "by " + o); opt.value = o; return opt;
    }));
    sort.value = params.sort || sorts[0];
    var order = h("select", { "data-filter": "order", title: "order" },
      [["desc", "high\u2192low / newest"], ["asc", "low\u2192high / oldest"]].map(function (o) {
        var opt = h("option", null, o[1]); opt.value = o[0]; return opt;
      }));
    order.value = params.order || "desc";
    var submit = h("button", { "data-action": "search" }, "Search");
    submit.type = "submit";
    form.appendChild(h("label", null, h("span", { class: "muted" }, "sort"), sort, order));
    form.appendChild(submit);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var next = { sort: sort.value === sorts[0] ? "" : sort.value, order: order.value === "desc" ? "" : order.value };
      Object.keys(inputs).forEach(function (k) {
        var v = inputs[k].value;
        if (inputs[k].type === "datetime-local" && v) v = String(new Date(v).getTime() * 1e6);
        next[k] = v;
      });
      go(page, next);
    });
    return form;
  }

  function pager(page, params, body) {
    var from = body.total ? body.offset + 1 : 0, to = body.offset + body.rows.length;
    var prev = h("button", { "data-action": "prev" }, "\u2039 newer"), next = h("button", { "data-action": "next" }, "older \u203a");
    prev.disabled = body.offset <= 0;
    next.disabled = to >= body.total && body.total_exact !== false;
    prev.addEventListener("click", function () {
      go(page, Object.assign({}, params, { offset: String(Math.max(0, body.offset - body.limit)) }));
    });
    next.addEventListener("click", function () {
      go(page, Object.assign({}, params, { offset: String(body.offset + body.limit) }));
    });
    return h("div", { class: "pager" }, prev,
      h("span", { class: "muted", "data-pager": "" }, "showing " + fmtInt(from) + "\u2013" + fmtInt(to) + " of " + fmtInt(body.total) + (body.total_exact === false ? "+" : "")),
      next);
  }

  function echo(params, body) {
    // The search box's echo: the text the user typed, shown as text, and how far back
    // the search read (the store searches the newest rows of each table).
    if (!params.q) return null;
    var bound = body && body.searched ? " among the newest " + fmtInt(body.searched) +
      " runs, logs and LLM calls (and every failed run); set a time range to search older ones" : "";
    return h("p", { class: "muted", "data-echo": "" }, "Matching \u201c", params.q, "\u201d",
      h("span", { "data-search-bound": "" }, bound));
  }

  var RUN_FILTERS = [
    { name: "q", label: "search text" },
    { name: "name", label: "name" },
    { name: "status", label: "status", options: [["", "any status"], ["error", "error"], ["ok", "ok"], ["cancelled", "cancelled"]] },
    { name: "session", label: "session" },
    { name: "agent", label: "agent" },
    { name: "kind", label: "kind" },
    { name: "model", label: "model" },
    { name: "since", label: "from", type: "datetime-local" },
    { name: "until", label: "to", type: "datetime-local" },
    { name: "min_duration_ms", label: "min ms", type: "number" },
    { name: "min_cost", label: "min $", type: "number" }
  ];
  var SORTS = ["start", "duration", "cost", "tokens", "errors"];

  function pageTraces(root, params) {
    return getJSON("/api/traces?" + qs(params)).then(function (body) {
      root.appendChild(h("h1", null, "Traces"));
      root.appendChild(filterBar("traces", params, RUN_FILTERS, SORTS));
      append(root, [echo(params, body)]);
      root.appendChild(table([
        { key: "name", label: "trace", cell: function (t) { return link(["trace", t.trace_id], t.name || t.trace_id); } },
        { key: "status", label: "status", cell: function (t) { return status(t.status); } },
        { key: "start_ns", label: "started", cell: function (t) { return fmtTime(t.start_ns); } },
        { key: "duration", label: "duration", num: true, cell: function (t) { return fmtDuration(t.duration_ns / 1e9); } },
        { key: "run_count", label: "runs", num: true, cell: function (t) { return fmtInt(t.run_count); } },
        { key: "error_count", label: "errors", num: true, cell: function (t) { return t.error_count ? h("span", { class: "bad-text" }, fmtInt(t.error_count)) : "0"; } },
        { key: "total_tokens", label: "tokens", num: true, cell: function (t) { return fmtInt(t.total_tokens); } },
        { key: "cost", label: "cost", num: true, cell: function (t) { return fmtCost(t.cost); } },
        { key: "session_id", label: "session", cell: function (t) { return t.session_id ? link(["session", t.session_id], t.session_id) : "-"; } },
        { key: "agent", label: "agent" }
      ], body.rows, { name: "trace-list", empty: "No trace matches.",
        rowAttrs: function (t) { return { "data-trace-id": t.trace_id }; } }));
      root.appendChild(pager("traces", params, body));
    });
  }

  function pageSessionList(root, params) {
    return Promise.all([api.overview(), getJSON("/api/sessions?" + qs(params))]).then(function (res) {
      var ov = res[0], body = res[1];
      root.appendChild(h("h1", null, "Sessions"));
      root.appendChild(summaryCards(ov, [
        { key: "sessions", label: "sessions", value: fmtInt(ov.sessions) },
        { key: "traces", label: "traces", value: fmtInt(ov.traces) }
      ]));
      root.appendChild(filterBar("sessions", params, [
        { name: "q", label: "search text" },
        { name: "since", label: "from", type: "datetime-local" },
        { name: "until", label: "to", type: "datetime-local" }
      ], ["last", "start", "duration", "errors", "cost", "tokens"]));
      append(root, [echo(params, body)]);
      root.appendChild(table([
        { key: "session_id", label: "session", cell: function (r) {
          return h("span", null, link(["session", r.session_id], r.session_id),
            r.name ? h("span", { class: "muted" }, " \u2014 " + text(r.name)) : null,
            (r.tags || []).map(function (t) { return h("span", { class: "tag" }, text(t)); }));
        } },
        { key: "first_ns", label: "started", cell: function (r) { return fmtTime(r.first_ns); } },
        { key: "run_count", label: "runs", num: true, cell: function (r) { return fmtInt(r.run_count); } },
        { key: "error_count", label: "errors", num: true, cell: function (r) { return r.error_count ? h("span", { class: "bad-text" }, fmtInt(r.error_count)) : "0"; } },
        { key: "duration", label: "duration", num: true, cell: function (r) { return fmtDuration(r.duration_ns / 1e9); } },
        { key: "llm_calls", label: "LLM calls", num: true, cell: function (r) { return fmtInt(r.llm_calls); } },
        { key: "total_tokens", label: "tokens", num: true, cell: function (r) { return fmtInt(r.total_tokens); } },
        { key: "cost", label: "cost", num: true, cell: function (r) { return fmtCost(r.cost); } },
        { key: "eval_pass_rate", label: "pass rate", num: true, cell: function (r) { return fmtPct(r.eval_pass_rate); } }
      ], body.rows, { name: "sessions", empty: "No session matches.",
        rowAttrs: function (r) { return { "data-session-id": r.session_id }; } }));
      root.appendChild(pager("sessions", params, body));
    });
  }

  // ---------------------------------------------------------------- the live trace view
  // The tree comes in windows of rows (the server walks it); collapsed subtrees are
  // kept per trace in the URL-independent set below, a deep link opens its ancestors.
  var collapsedBy = {};

  function chat(call) {
    var msgs = [];
    function add(role, content) {
      if (content === null || content === undefined || content === "") return;
      msgs.push(h("div", { class: "msg-bubble role-" + String(role).replace(/[^a-z]/gi, ""), "data-role": String(role) },
        h("div", { class: "msg-role" }, String(role)),
        h("pre", { class: "msg-content" }, typeof content === "string" ? content : JSON.stringify(content, null, 2))));
    }
    (Array.isArray(call.system_instructions) ? call.system_instructions : [call.system_instructions]).forEach(function (m) {
      add("system", m && m.content !== undefined ? m.content : m);
    });
    function each(v, fallback) {
      if (Array.isArray(v)) v.forEach(function (m) {
        if (m && typeof m === "object" && m.role) add(m.role, m.content !== undefined ? m.content : (m.parts || m.tool_calls || m));
        else add(fallback, m);
      });
      else add(fallback, v);
    }
    each(call.input, "user");
    each(call.output, "assistant");
    return msgs.length ? h("div", { class: "chat", "data-chat": "" }, msgs) : null;
  }

  function llmCallBlock(c) {
    var facts = {
      model: c.model, provider: c.provider, result: c.success ? "ok" : "error: " + (c.error || ""),
      "finish reason": c.finish_reason, "input tokens": fmtInt(c.input_tokens),
      "output tokens": fmtInt(c.output_tokens), "cached tokens": c.cached_tokens === null ? null : fmtInt(c.cached_tokens),
      "reasoning tokens": c.reasoning_tokens === null ? null : fmtInt(c.reasoning_tokens),
      latency: fmtDuration(c.response_time),
      "time to first token": c.time_to_first_token === null ? null : fmtDuration(c.time_to_first_token),
      cost: fmtCost(c.cost)
    };
    Object.keys(facts).forEach(function (k) { if (facts[k] === null || facts[k] === undefined) delete facts[k]; });
    return h("div", { class: "llm-call", "data-llm-call": "", "data-model": c.model }, kv(facts), chat(c));
  }

  function pretty(v) { return typeof v === "string" ? v : JSON.stringify(v, null, 2); }

  function livePanel(d) {
    var run = d.run;
    var facts = {
      name: run.name, status: run.status, duration: fmtDuration(run.duration),
      started: fmtTime(run.start_ns), agent: run.agent, kind: run.run_type || run.run_kind,
      session: run.session_id, run_id: run.run_id, parent_id: run.parent_id
    };
    if (run.error_type) facts.error = run.error_type + ": " + (run.error_message || "");
    Object.keys(facts).forEach(function (k) { if (facts[k] === null || facts[k] === undefined) delete facts[k]; });
    return h("div", { class: "panel side", id: "run-panel", "data-run-id": run.run_id },
      h("h2", null, "Run ", h("span", { class: "run-name" }, run.name), " ", status(run.status)),
      kv(facts),
      run.traceback ? section("Traceback", h("pre", { class: "traceback" }, String(run.traceback))) : null,
      run.inputs !== null && run.inputs !== undefined ? section("Inputs", h("pre", { class: "io io-inputs" }, pretty(run.inputs))) : null,
      run.output !== null && run.output !== undefined ? section("Output", h("pre", { class: "io io-output" }, pretty(run.output))) : null,
      d.llm_calls.length ? section("LLM calls", d.llm_calls.map(llmCallBlock)) : null,
      d.evaluations.length ? section("Evaluations", table([
        { key: "metric_name", label: "metric" },
        { key: "value", label: "value", num: true, cell: function (e) { return fmtNum(e.value); } },
        { key: "status", label: "status", cell: function (e) { return verdict(e.status); } },
        { key: "explanation", label: "explanation", cell: function (e) { return h("span", { class: "explanation" }, text(e.explanation)); } }
      ], d.evaluations, { name: "run-evaluations" })) : null,
      section("Logs", table([
        { key: "time_ns", label: "time", cell: function (l) { return fmtTime(l.time_ns); } },
        { key: "level", label: "level" },
        { key: "message", label: "message", cell: function (l) { return h("span", { class: "msg" }, text(l.message)); } }
      ], d.logs, { name: "logs", empty: "No logs." })),
      d.events.length ? section("Events", table([
        { key: "time_ns", label: "time", cell: function (e) { return fmtTime(e.time_ns); } },
        { key: "name", label: "event" },
        { key: "metadata", label: "metadata", cell: function (e) { return h("code", null, text(e.metadata)); } }
      ], d.events, { name: "events" })) : null,
      run.attributes ? section("Attributes", kv(run.attributes)) : null);
  }

  function pageTraceLive(root, id, runId, params) {
    var collapsed = collapsedBy[id] || (collapsedBy[id] = {});
    var p = { id: id, collapsed: Object.keys(collapsed).join(","), offset: params.offset };
    if (runId) p.focus = runId;
    return Promise.all([getJSON("/api/trace_window?" + qs(p)), graphOf("trace", id)]).then(function (res) {
      var d = res[0], graph = res[1];
      d.collapsed.forEach(function (c) { collapsed[c] = true; });
      Object.keys(collapsed).forEach(function (c) { if (d.collapsed.indexOf(c) < 0) delete collapsed[c]; });
      var sel = runId || (d.rows[0] && d.rows[0].run_id);
      root.appendChild(h("div", { class: "crumbs" }, link(["traces"], "Traces"), " \u203a ",
        d.sessions.length === 1 && d.sessions[0] ? link(["session", d.sessions[0]], d.sessions[0]) : "trace", " \u203a trace"));
      root.appendChild(h("h1", null, "Trace ", h("code", { class: "ident" }, d.trace_id), " ", status(d.status)));
      root.appendChild(cards([
        { key: "runs", label: "runs", value: fmtInt(d.summary.runs) },
        { key: "errors", label: "errors", value: fmtInt(d.summary.errors), cls: d.summary.errors ? "bad" : "" },
        { key: "duration", label: "duration", value: fmtDuration((d.summary.end_ns - d.summary.start_ns) / 1e9) },
        { key: "tokens", label: "tokens", value: fmtInt(d.summary.tokens) },
        { key: "cost", label: "cost", value: fmtCost(d.summary.cost) },
        { key: "started", label: "started", value: fmtTime(d.summary.start_ns) }
      ]));
      var agents = agentsSection(graph);
      if (agents) root.appendChild(agents);
      var tools = h("div", { class: "pager" });
      if (d.first_error) {
        var jump = h("button", { "data-action": "first-error" }, "Jump to first error");
        jump.addEventListener("click", function () {
          location.hash = "#/trace/" + encodeURIComponent(id) + "/" + encodeURIComponent(d.first_error);
        });
        tools.appendChild(jump);
      }
      function move(offset) {
        return function () { go("trace/" + encodeURIComponent(id), { offset: String(Math.max(0, offset)) }); };
      }
      var up = h("button", { "data-action": "earlier" }, "\u2039 earlier rows"), down = h("button", { "data-action": "later" }, "later rows \u203a");
      up.disabled = d.offset <= 0; down.disabled = d.offset + d.rows.length >= d.visible;
      up.addEventListener("click", move(d.offset - d.limit));
      down.addEventListener("click", move(d.offset + d.limit));
      tools.appendChild(up);
      tools.appendChild(h("span", { class: "muted", "data-pager": "" }, "rows " + fmtInt(d.offset + 1) + "\u2013" +
        fmtInt(d.offset + d.rows.length) + " of " + fmtInt(d.visible) + " shown (" + fmtInt(d.runs_total) + " runs)"));
      tools.appendChild(down);
      root.appendChild(tools);
      var t0 = d.summary.start_ns, span = Math.max(1, d.summary.end_ns - t0);
      var tree = h("div", { class: "tree", "data-tree": "" }, d.rows.map(function (r) {
        var toggle = h("button", { class: "toggle", "data-toggle": r.run_id, title: collapsed[r.run_id] ? "expand" : "collapse" },
          r.children ? (collapsed[r.run_id] ? "\u25b8" : "\u25be") : "\u00b7");
        toggle.disabled = !r.children;
        toggle.addEventListener("click", function (ev) {
          ev.stopPropagation();
          if (collapsed[r.run_id]) delete collapsed[r.run_id]; else collapsed[r.run_id] = true;
          route();
        });
        var left = ((r.start_ns - t0) / span) * 100, width = Math.max(0.3, (((r.end_ns || r.start_ns) - r.start_ns) / span) * 100);
        var bar = h("span", { class: "tree-bar" }, h("span", { class: "tree-fill st-" + String(r.status).replace(/[^a-z]/gi, "") }));
        bar.firstChild.style.marginLeft = left.toFixed(2) + "%";
        bar.firstChild.style.width = Math.min(width, 100 - left).toFixed(2) + "%";
        var row = h("div", { class: "tree-row" + (r.run_id === sel ? " selected" : "") + (r.status === "error" ? " failed" : ""),
          "data-run-id": r.run_id, tabindex: "0" },
          h("span", { class: "tree-name" }, toggle, h("span", { class: "name" }, r.name || r.run_id),
            r.children && collapsed[r.run_id] ? h("span", { class: "muted" }, " +" + fmtInt(r.descendants)) : null),
          bar,
          h("span", { class: "num" }, fmtDuration(r.duration_ns / 1e9)),
          h("span", { class: "num", "data-field": "tokens" }, r.total_tokens ? fmtInt(r.total_tokens) : ""),
          h("span", { class: "num", "data-field": "cost" }, r.cost ? fmtCost(r.cost) : ""),
          h("span", { class: "num bad-text", "data-field": "errors" }, r.errors ? "\u2717 " + fmtInt(r.errors) : ""));
        row.firstChild.firstChild.nextSibling.style.paddingLeft = (Math.min(r.depth, 30) * 12) + "px";
        row.addEventListener("click", function () {
          location.hash = "#/trace/" + encodeURIComponent(id) + "/" + encodeURIComponent(r.run_id);
        });
        return row;
      }));
      var side = h("div", { class: "side-wrap" });
      root.appendChild(h("div", { class: "trace-layout" }, tree, side));
      if (sel) {
        return getJSON("/api/run_detail?id=" + q(sel)).then(function (rd) { side.appendChild(livePanel(rd)); });
      }
    });
  }

  // ---------------------------------------------------------------- experiments (served only)
  // Data: viewer/_experiments.py (GET /api/experiments, GET /api/compare).
  function signed(v) {
    if (v === null || v === undefined) return "-";
    return (v > 0 ? "+" : "") + fmtNum(v);
  }

  // A metric's trend across the experiments on one dataset: a line, a dot per run.
  function sparkline(points) {
    var W = 160, H = 36, pad = 4;
    var vals = points.map(function (p) { return p.value; }).filter(function (v) { return typeof v === "number" && isFinite(v); });
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (!vals.length) { lo = 0; hi = 1; }
    var span = hi - lo || 1;
    var step = points.length > 1 ? (W - 2 * pad) / (points.length - 1) : 0;
    var svg = s("svg", { class: "spark", width: W, height: H, viewBox: "0 0 " + W + " " + H });
    var xy = [];
    points.forEach(function (p, i) {
      if (typeof p.value !== "number" || !isFinite(p.value)) return;
      var x = pad + i * step, y = H - pad - ((p.value - lo) / span) * (H - 2 * pad);
      xy.push([x, y, p]);
    });
    if (xy.length > 1) svg.appendChild(s("polyline", { class: "spark-line", points: xy.map(function (c) { return c[0].toFixed(1) + "," + c[1].toFixed(1); }).join(" ") }));
    xy.forEach(function (c) {
      svg.appendChild(s("circle", { class: "spark-dot", "data-point": c[2].name, cx: c[0].toFixed(1), cy: c[1].toFixed(1), r: 2.5 },
        s("title", null, text(c[2].name) + ": " + fmtNum(c[2].value))));
    });
    return svg;
  }

  function compareHref(base, candidate) {
    return "#/compare/" + encodeURIComponent(base) + "/" + encodeURIComponent(candidate);
  }

  function pageExperiments(root) {
    return getJSON("/api/experiments").then(function (d) {
      root.appendChild(h("h1", null, "Experiments"));
      var rows = d.experiments;
      // Pick two runs: base and candidate (default: the newest and the one before it).
      function picker(name, pick) {
        var sel = h("select", { "data-pick": name, title: name }, rows.map(function (e) {
          var opt = h("option", null, text(e.name) + " \u2014 " + fmtTime(e.started_ns)); opt.value = e.id; return opt;
        }));
        if (rows[pick]) sel.value = rows[pick].id;
        return sel;
      }
      if (rows.length) {
        var base = picker("base", rows.length > 1 ? 1 : 0), cand = picker("candidate", 0);
        var go2 = h("a", { class: "button", "data-action": "compare", href: compareHref(base.value, cand.value) }, "Compare");
        var sync = function () { go2.setAttribute("href", compareHref(base.value, cand.value)); };
        base.addEventListener("change", sync);
        cand.addEventListener("change", sync);
        root.appendChild(h("div", { class: "filters", "data-compare-form": "" },
          h("label", null, h("span", { class: "muted" }, "base"), base),
          h("label", null, h("span", { class: "muted" }, "candidate"), cand), go2));
      }
      var columns = [
        { key: "name", label: "experiment", cell: function (e) { return h("span", { class: "exp-name" }, text(e.name)); } },
        { key: "dataset", label: "dataset", cell: function (e) { return h("code", null, text(e.dataset)); } },
        { key: "started_ns", label: "started", cell: function (e) { return fmtTime(e.started_ns); } },
        { key: "items", label: "items", num: true, cell: function (e) { return fmtInt(e.items); } },
        { key: "trials", label: "trials", num: true, cell: function (e) { return fmtInt(e.trials); } },
        { key: "errors", label: "errors", num: true, cell: function (e) { return e.errors ? h("span", { class: "bad-text" }, fmtInt(e.errors)) : "0"; } }
      ];
      d.metrics.forEach(function (m) {
        columns.push({ key: "metric:" + m, label: m, num: true, cell: function (e) { return fmtNum(e.metrics[m]); } });
      });
      columns.push(
        { key: "cost", label: "cost", num: true, cell: function (e) { return fmtCost(e.cost); } },
        { key: "duration_s", label: "time", num: true, cell: function (e) { return fmtDuration(e.duration_s); } });
      root.appendChild(table(columns, rows, { name: "experiments", empty: "No experiment recorded (see auditora.experiments.run).",
        rowAttrs: function (e) { return { "data-experiment-id": e.id, "data-name": e.name }; } }));
      if (d.datasets.length) {
        root.appendChild(section("Trends by dataset", d.datasets.map(function (ds) {
          return h("div", { class: "trend", "data-dataset": ds.dataset },
            h("h3", null, "dataset ", h("code", null, text(ds.dataset)), h("span", { class: "muted" }, " \u2014 " + fmtInt(ds.experiments.length) + " runs")),
            table([
              { key: "metric", label: "metric" },
              { key: "spark", label: "trend (oldest \u2192 newest)", cell: function (t) { return sparkline(t.points); } },
              { key: "first", label: "first", num: true, cell: function (t) { return fmtNum(t.points[0].value); } },
              { key: "last", label: "latest", num: true, cell: function (t) { return fmtNum(t.points[t.points.length - 1].value); } }
            ], Object.keys(ds.trend).map(function (m) { return { metric: m, points: ds.trend[m] }; }),
            { name: "trend", rowAttrs: function (t) { return { "data-metric": t.metric }; } }));
        })));
      }
    });
  }

  // The text diff: deleted words/lines struck out, inserted ones highlighted.
  function diffView(diff, oneLine) {
    var box = h(oneLine ? "div" : "pre", { class: "diff" + (oneLine ? " diff-words" : ""), "data-diff": "" });
    diff.forEach(function (d, i) {
      var tag = d.op === "insert" ? "ins" : d.op === "delete" ? "del" : "span";
      box.appendChild(h(tag, { class: "diff-" + d.op }, d.text));
      if (i < diff.length - 1) box.appendChild(document.createTextNode(oneLine ? " " : "\n"));
    });
    return box;
  }

  function pageCompare(root, base, candidate, params) {
    var p = { base: base, candidate: candidate, sort: params.sort };
    return getJSON("/api/compare?" + qs(p)).then(function (d) {
      root.appendChild(h("div", { class: "crumbs" }, link(["experiments"], "Experiments"), " \u203a compare"));
      root.appendChild(h("h1", null, "Compare ", h("span", { "data-side": "base" }, text(d.base.name)), " \u2192 ",
        h("span", { "data-side": "candidate" }, text(d.candidate.name))));
      if (!d.same_dataset) root.appendChild(h("p", { class: "error" }, "The two runs are on different datasets: only shared items are compared."));
      root.appendChild(cards([
        { key: "regressed", label: "regressed", value: fmtInt(d.counts.regressed), cls: d.counts.regressed ? "bad" : "" },
        { key: "improved", label: "improved", value: fmtInt(d.counts.improved) },
        { key: "unchanged", label: "unchanged", value: fmtInt(d.counts.unchanged) },
        { key: "only_base", label: "only in base", value: fmtInt(d.counts.only_base) },
        { key: "only_candidate", label: "only in candidate", value: fmtInt(d.counts.only_candidate) },
        { key: "cost", label: "cost \u0394", value: d.cost.total.delta === null ? "-" : (d.cost.total.delta > 0 ? "+" : "") + fmtCost(d.cost.total.delta) },
        { key: "latency", label: "p50 latency \u0394", value: d.latency.p50.delta === null ? "-" : (d.latency.p50.delta > 0 ? "+" : "") + fmtDuration(d.latency.p50.delta) }
      ]));
      var pct = Math.round(d.confidence * 100);
      root.appendChild(section("Metrics", table([
        { key: "name", label: "metric" },
        { key: "base", label: "base", num: true, cell: function (m) { return fmtNum(m.base); } },
        { key: "candidate", label: "candidate", num: true, cell: function (m) { return fmtNum(m.candidate); } },
        { key: "delta", label: "\u0394", num: true, cell: function (m) { return signed(m.delta); } },
        { key: "ci", label: pct + "% interval", num: true, cell: function (m) { return "[" + signed(m.ci_low) + ", " + signed(m.ci_high) + "]"; } },
        { key: "n", label: "n", num: true, cell: function (m) { return fmtInt(m.n); } },
        { key: "significant", label: "significant", cell: function (m) {
          return m.significant ? h("span", { class: "badge " + (m.change === "regressed" ? "fail" : "pass") }, "significant " + text(m.change))
            : h("span", { class: "muted" }, "no"); } }
      ], d.metrics, { name: "metric-deltas", rowAttrs: function (m) { return { "data-metric": m.name }; } })));
      var sort = h("select", { "data-action": "sort", title: "sort items" }, [["change", "by change (regressed first)"], ["item", "by item"]].map(function (o) {
        var opt = h("option", null, o[1]); opt.value = o[0]; return opt;
      }));
      sort.value = params.sort || "change";
      sort.addEventListener("change", function () {
        go("compare/" + encodeURIComponent(base) + "/" + encodeURIComponent(candidate), { sort: sort.value === "change" ? "" : sort.value });
      });
      function trace(href, label) { return href ? h("a", { href: href }, label) : h("span", { class: "muted" }, "-"); }
      root.appendChild(section("Items", [h("div", { class: "filters" }, h("label", null, h("span", { class: "muted" }, "sort"), sort)), table([
        { key: "item", label: "item", cell: function (i) { return h("code", null, text(i.item)); } },
        { key: "change", label: "change", cell: function (i) { return h("span", { class: "change ch-" + String(i.change).replace(/[^a-z]/gi, "") }, text(i.change)); } },
        { key: "input", label: "input", cell: function (i) { return h("pre", { class: "io" }, pretty(i.input)); } },
        { key: "base_output", label: "base output", cell: function (i) {
          return h("pre", { class: "io" }, i.base_error ? "error: " + text(i.base_error) : pretty(i.base_output)); } },
        { key: "candidate_output", label: "candidate output", cell: function (i) {
          return h("pre", { class: "io" }, i.candidate_error ? "error: " + text(i.candidate_error) : pretty(i.candidate_output)); } },
        { key: "diff", label: "diff", cell: function (i) {
          var oneLine = i.diff.every(function (x) { return x.text.indexOf("\n") < 0; }) &&
            typeof i.base_output === "string" && typeof i.candidate_output === "string" &&
            i.base_output.indexOf("\n") < 0 && i.candidate_output.indexOf("\n") < 0;
          return diffView(i.diff, oneLine); } },
        { key: "scores", label: "scores (base \u2192 candidate)", cell: function (i) {
          return h("span", null, Object.keys(i.scores).map(function (k) {
            var sc = i.scores[k];
            return h("div", null, text(k) + ": " + fmtNum(sc.base) + " \u2192 " + fmtNum(sc.candidate));
          })); } },
        { key: "traces", label: "traces", cell: function (i) {
          return h("span", { class: "trace-links" }, trace(i.base_link, "base"), " \u00b7 ", trace(i.candidate_link, "candidate")); } }
      ], d.items, { name: "compare-items", empty: "No shared item.",
        rowAttrs: function (i) { return { "data-item": i.item, "data-change": i.change }; } })]));
      if (d.only_base.length || d.only_candidate.length) {
        root.appendChild(section("Unmatched items", kv({ "only in base": d.only_base.join(", ") || "-", "only in candidate": d.only_candidate.join(", ") || "-" })));
      }
    });
  }

  // ---------------------------------------------------------------- agent graph (served only)
  // Who called what (/api/agent_graph): agents in a column by first appearance,
  // each agent's tools beside it in a second column; hand-offs dashed.
  function hasAgents(g) {
    return g && (g.nodes || []).some(function (n) {
      return n.kind === "tool" || (n.kind === "agent" && n.name !== "(none)");
    });
  }

  function agentGraph(g) {
    var BW = 170, BH = 34, ROW = 46, AX = 260, TX = 610, W = 790;
    var pos = {}, agents = [], tools = [], callerOf = {}, y = 0;
    g.nodes.forEach(function (n) { (n.kind === "tool" ? tools : agents).push(n); });
    g.edges.forEach(function (e) { if (!(e.target in callerOf)) callerOf[e.target] = e.source; });
    function place(n, x, yy) { pos[n.id] = { x: x, y: yy + BH / 2 + 8, node: n }; }
    agents.forEach(function (a) {
      var mine = tools.filter(function (t) { return callerOf[t.id] === a.id; });
      place(a, AX, y);
      mine.forEach(function (t, i) { place(t, TX, y + i * ROW); });
      y += Math.max(1, mine.length) * ROW + 12;
    });
    tools.forEach(function (t) { if (!pos[t.id]) { place(t, TX, y); y += ROW; } });
    var svg = s("svg", { class: "agent-graph", viewBox: "0 0 " + W + " " + (y + 8), width: "100%",
      role: "img", "aria-label": "agent graph" });
    // Where the segment from a box's centre towards (dx, dy) leaves the box.
    function edgeOf(p, dx, dy) {
      var t = Math.min(dx ? (BW / 2) / Math.abs(dx) : Infinity, dy ? (BH / 2) / Math.abs(dy) : Infinity);
      return { x: p.x + dx * t, y: p.y + dy * t };
    }
    var pairs = {};
    g.edges.forEach(function (e) {
      var k = [e.source, e.target].sort().join("\u0000");
      e._i = (pairs[k] = (pairs[k] || 0) + 1) - 1;
    });
    g.edges.forEach(function (e) {
      var a = pos[e.source], b = pos[e.target];
      if (!a || !b) return;
      var n = pairs[[e.source, e.target].sort().join("\u0000")];
      var dx = b.x - a.x, dy = b.y - a.y, len = Math.sqrt(dx * dx + dy * dy) || 1;
      // Parallel edges bow apart; edges within the agent column bow to its left.
      var bend = dx === 0 ? -(BW / 2 + 40 + 60 * e._i) : (e._i - (n - 1) / 2) * 44;
      var cx = (a.x + b.x) / 2 + (dx === 0 ? bend : (-dy / len) * bend);
      var cy = (a.y + b.y) / 2 + (dx === 0 ? 0 : (dx / len) * bend);
      if (dx === 0) { a = { x: a.x - BW / 2, y: a.y }; b = { x: b.x - BW / 2, y: b.y }; }
      var p0 = dx === 0 ? a : edgeOf(a, cx - a.x, cy - a.y);
      var p2 = dx === 0 ? b : edgeOf(b, cx - b.x, cy - b.y);
      var ux = p2.x - cx, uy = p2.y - cy, ul = Math.sqrt(ux * ux + uy * uy) || 1;
      ux /= ul; uy /= ul;
      var head = [[p2.x, p2.y], [p2.x - 9 * ux - 4.5 * uy, p2.y - 9 * uy + 4.5 * ux],
        [p2.x - 9 * ux + 4.5 * uy, p2.y - 9 * uy - 4.5 * ux]];
      var mx = 0.25 * p0.x + 0.5 * cx + 0.25 * p2.x, my = 0.25 * p0.y + 0.5 * cy + 0.25 * p2.y;
      var kind = e.kind === "handoff" ? "handoff" : "call";
      // Labels of edges bowing left of the agent column sit left of their curve, stacked.
      var label = s("text", { class: "ag-label", x: (dx === 0 ? mx - 4 : mx).toFixed(1),
        y: (dx === 0 ? my + 4 + 16 * e._i : my - 4).toFixed(1), "text-anchor": dx === 0 ? "end" : "middle" },
        (kind === "handoff" ? "hand-off \u00d7" : "\u00d7") + fmtInt(e.count));
      if (e.errors > 0) label.appendChild(s("tspan", { class: "ag-err" }, " " + fmtInt(e.errors) + " failed"));
      svg.appendChild(s("g", { class: "ag-edge " + kind, "data-edge": kind, "data-count": e.count, "data-errors": e.errors },
        s("path", { class: "ag-line", d: "M" + p0.x.toFixed(1) + "," + p0.y.toFixed(1) + " Q" + cx.toFixed(1) + "," +
          cy.toFixed(1) + " " + p2.x.toFixed(1) + "," + p2.y.toFixed(1) }),
        s("polygon", { class: "ag-head", points: head.map(function (p) { return p[0].toFixed(1) + "," + p[1].toFixed(1); }).join(" ") }),
        label,
        s("title", null, kind + " " + text(e.source) + " \u2192 " + text(e.target) + ": " + fmtInt(e.count) +
          ", errors " + fmtInt(e.errors) + ", cost " + fmtCost(e.cost))));
    });
    Object.keys(pos).forEach(function (id) {
      var p = pos[id], n = p.node, name = text(n.name);
      if (name.length > 22) name = name.slice(0, 21) + "\u2026";
      var shape = n.kind === "tool"
        ? s("rect", { class: "ag-box", x: p.x - BW / 2, y: p.y - BH / 2, width: BW, height: BH, rx: BH / 2 })
        : s("rect", { class: "ag-box", x: p.x - BW / 2, y: p.y - BH / 2, width: BW, height: BH, rx: 4 });
      svg.appendChild(s("g", { class: "ag-node " + (n.kind === "tool" ? "tool" : "agent") + (n.errors ? " failed" : ""),
        "data-node": n.kind, "data-name": text(n.name), "data-calls": n.calls },
        shape,
        s("text", { class: "ag-name", x: p.x, y: p.y + 4, "text-anchor": "middle" }, name),
        s("title", null, n.kind + " " + text(n.name) + "\ncalls " + fmtInt(n.calls) + ", errors " + fmtInt(n.errors) +
          "\ntokens " + fmtInt(n.tokens) + ", cost " + fmtCost(n.cost))));
    });
    return svg;
  }

  // A collapsible "Agents" section; its open state survives re-renders (live refresh).
  var agentsOpen = true;
  function agentsSection(g, note) {
    if (g && g.error) return h("div", { class: "error", role: "alert" }, "Agent graph: " + g.error);
    if (!hasAgents(g)) return null;
    var box = h("details", { class: "agents", "data-section": "agents" },
      h("summary", null, h("h2", null, "Agents")),
      note ? h("p", { class: "muted" }, note) : null,
      h("div", { class: "wf-wrap" }, agentGraph(g)));
    box.open = agentsOpen;
    box.addEventListener("toggle", function () { agentsOpen = box.open; });
    return box;
  }
  function graphOf(param, id) {
    return getJSON("/api/agent_graph?" + param + "=" + q(id)).then(null, function (err) {
      return { error: String(err && err.message ? err.message : err) };
    });
  }

  // ---------------------------------------------------------------- router
  // The served viewer lands on Traces; a static report (embedded data) on Sessions.
  // Experiments and Comparison need the live API (a static report has no experiment data).
  var NAV = embedded ? [["", "Sessions"], ["llm", "LLM calls"], ["evaluations", "Evaluations"], ["metrics", "Metrics"]]
    : [["", "Traces"], ["sessions", "Sessions"], ["llm", "LLM calls"], ["evaluations", "Evaluations"], ["metrics", "Metrics"],
      ["experiments", "Experiments"]];

  var generation = 0;
  var shownPage = null;  // "kind/id" of the page on screen: selecting a run keeps the scroll

  function route() {
    // Each page renders into a detached element that replaces the main
    // element's content only if no newer navigation started meanwhile.
    var mine = ++generation;
    var hash = location.hash;
    var raw = hash.replace(/^#\/?/, "");
    var params = {};
    var cutAt = raw.indexOf("?");
    if (cutAt >= 0) {
      raw.slice(cutAt + 1).split("&").forEach(function (kv) {
        if (!kv) return;
        var i = kv.indexOf("="), k = i < 0 ? kv : kv.slice(0, i), v = i < 0 ? "" : kv.slice(i + 1);
        try { params[decodeURIComponent(k)] = decodeURIComponent(v.replace(/\+/g, " ")); } catch (e) { /* a broken escape is ignored */ }
      });
      raw = raw.slice(0, cutAt);
    }
    var parts = raw === "" ? [] : raw.split("/").map(function (p) {
      try { return decodeURIComponent(p); } catch (e) { return p; }
    });
    var main = document.getElementById("main");
    var root = h("div", { class: "page" });
    var nav = document.getElementById("nav");
    while (nav.firstChild) nav.removeChild(nav.firstChild);
    NAV.forEach(function (n) {
      var here = parts[0] === "traces" ? "" : (parts[0] || "");
      var active = here === n[0] || (n[0] === "" && parts[0] === "trace") ||
        ((embedded ? n[0] === "" : n[0] === "sessions") && parts[0] === "session") ||
        (n[0] === "experiments" && parts[0] === "compare");
      nav.appendChild(link(n[0] ? [n[0]] : [""], n[1], { class: active ? "active" : null }));
    });
    var page;
    if (parts[0] === "session" && parts[1] !== undefined) page = pageSession(root, parts[1]);
    else if (parts[0] === "trace" && parts[1] !== undefined) {
      page = embedded ? pageTrace(root, parts[1], parts[2]) : pageTraceLive(root, parts[1], parts[2], params);
    }
    else if (!embedded && parts[0] === "sessions") page = pageSessionList(root, params);
    else if (!embedded && (parts[0] === "traces" || parts[0] === undefined)) page = pageTraces(root, params);
    else if (!embedded && parts[0] === "experiments") page = pageExperiments(root);
    else if (!embedded && parts[0] === "compare" && parts[2] !== undefined) page = pageCompare(root, parts[1], parts[2], params);
    else if (parts[0] === "llm") page = pageLLM(root, params);
    else if (parts[0] === "evaluations") page = pageEvaluations(root, params);
    else if (parts[0] === "metrics") page = pageMetrics(root);
    else page = pageSessions(root);
    document.body.setAttribute("data-state", "loading");
    function show(state) {
      if (mine !== generation) return;  // a newer page is on its way
      while (main.firstChild) main.removeChild(main.firstChild);
      main.appendChild(root);
      var pageKey = parts.slice(0, 2).join("/");
      if (pageKey !== shownPage) window.scrollTo(0, 0);
      shownPage = pageKey;
      // data-route tells tests (and scripts) which route the shown page is.
      document.body.setAttribute("data-route", hash);
      document.body.setAttribute("data-state", state);
    }
    page.then(function () {
      show("ready");
    }, function (err) {
      root.appendChild(h("div", { class: "error", role: "alert" }, String(err && err.message ? err.message : err)));
      show("error");
    });
  }

  window.addEventListener("hashchange", route);
  route();

  // Live refresh: with "live" on, the page on screen is fetched again every few
  // seconds (unless the user is typing in it); the server reopens a replaced store.
  if (!embedded) {
    var live = h("input", { "data-action": "live", title: "refresh every 5 s" });
    live.type = "checkbox";
    document.getElementById("nav").parentNode.appendChild(h("label", { class: "live" }, live, " live"));
    setInterval(function () {
      var typing = document.activeElement && /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName) &&
        document.activeElement !== live;
      if (live.checked && !typing && document.visibilityState === "visible") route();
    }, 5000);
  }
  api.overview().then(function (ov) {
    document.getElementById("store").textContent = ov.store || "";
  }, function () {});
})();
