// Resilience Telemetry dashboard: reads the admin API with the token kept in sessionStorage.
// Everything from the API is written with textContent, never as HTML: component names come from clients.
(function () {
  "use strict";

  var TOKEN_KEY = "resilience.adminToken";
  var NAME_KEY = "resilience.acknowledgedBy";
  var REFRESH_MS = 60 * 1000;
  var SVG = "http://www.w3.org/2000/svg";

  // How each rate is computed from signal counts: the server writes its own definitions into the page.
  // Thresholds are not among them: the charts draw those the API judges by (the active alert rules).
  var RATES = JSON.parse(document.getElementById("rate-definitions").textContent);

  // How each rate reads to people.
  var WORDING = {
    rollback_rate: {
      title: "Rollback rate",
      detail: function (m) { return m.numerator + " of " + m.denominator + " optimistic actions rolled back"; },
      nothing: "No optimistic actions finished in this period.",
    },
    retry_success_rate: {
      title: "Retry success rate",
      detail: function (m) { return m.numerator + " of " + m.denominator + " retried operations succeeded"; },
      nothing: "No retries finished in this period.",
    },
    error_recovery_rate: {
      title: "Error recovery rate",
      detail: function (m) { return m.numerator + " recoveries for " + m.denominator + " errors caught"; },
      nothing: "No error boundary caught an error in this period.",
    },
  };

  function wording(metric) {
    return WORDING[metric] || { title: metric, detail: function () { return ""; }, nothing: "No events in this period." };
  }

  var STATUS_TEXT = { healthy: "Healthy", alert: "Alert", no_data: "No data" };

  var state = { timer: null, loading: false, lastLoaded: null, refreshedAt: null, trends: null, limits: {}, view: null };

  // ---- the view: time range, component and alert, kept in the URL so it can be shared ------------

  var HOUR = 3600 * 1000, DAY = 24 * HOUR;
  var RANGES = { "1h": HOUR, "6h": 6 * HOUR, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY };
  var RANGE_TEXT = { "1h": "last hour", "6h": "last 6 hours", "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days" };
  var MAX_SPAN = 30 * DAY;

  function readView() {
    var params = new URLSearchParams(location.search);
    var view = { range: params.get("range"), from: null, to: null, component: params.get("component") || null, alert: params.get("alert") || null };
    var from = params.get("from") ? new Date(params.get("from")) : null;
    var to = params.get("to") ? new Date(params.get("to")) : null;
    if (from && to && !isNaN(from) && !isNaN(to) && from < to && to - from <= MAX_SPAN) {
      view.from = from; view.to = to; view.range = "custom";
    } else if (!(view.range in RANGES)) {
      view.range = "24h";
    }
    return view;
  }

  function viewQuery(view) {
    var params = new URLSearchParams();
    if (view.range === "custom") { params.set("from", view.from.toISOString()); params.set("to", view.to.toISOString()); }
    else if (view.range !== "24h") params.set("range", view.range);
    if (view.component) params.set("component", view.component);
    if (view.alert) params.set("alert", view.alert);
    var text = params.toString();
    return text ? "?" + text : "";
  }

  // Moves to another view: the URL changes (the browser's back button returns), then the data loads.
  function go(changes) {
    var view = Object.assign({}, state.view, changes);
    history.pushState(null, "", location.pathname + viewQuery(view));
    state.view = view;
    showView();
    return load();
  }

  function period(view) {
    if (view.range === "custom") return { from: view.from, to: view.to, text: formatTime(view.from.toISOString()) + " – " + formatTime(view.to.toISOString()) };
    var to = new Date();
    return { from: new Date(to.getTime() - RANGES[view.range]), to: to, text: RANGE_TEXT[view.range] };
  }

  function localInput(d) {
    var shifted = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 16);
  }

  function showView() {
    var view = state.view;
    $("range").value = view.range;
    $("custom-range").hidden = view.range !== "custom";
    if (view.range === "custom") { $("range-from").value = localInput(view.from); $("range-to").value = localInput(view.to); }
    var crumbs = clear($("crumbs"));
    if (view.component) {
      var all = el("a", { href: location.pathname + viewQuery(Object.assign({}, view, { component: null, alert: null })), "data-view": "all" }, "All components");
      all.addEventListener("click", function (event) { event.preventDefault(); go({ component: null, alert: null }); });
      crumbs.appendChild(all);
      crumbs.appendChild(document.createTextNode(" › "));
      crumbs.appendChild(el("span", { "data-component": view.component }, view.component));
    } else {
      crumbs.appendChild(el("span", {}, "All components"));
    }
    $("components-panel").hidden = Boolean(view.component);
  }

  // ---- small DOM helpers -------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    var children = Array.prototype.slice.call(arguments, 2);
    setAttrs(node, attrs);
    children.forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    });
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    setAttrs(node, attrs);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setAttrs(node, attrs) {
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.setAttribute("class", value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function formatRate(value) { return value === null || value === undefined ? "–" : Number(value).toFixed(1) + " %"; }

  function thresholdText(operator, threshold) {
    return (operator === "lt" ? "alert below " : "alert above ") + Number(threshold).toFixed(1) + " %";
  }

  function formatTime(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function clockTime(d) { return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" }); }

  function since(iso) {
    var d = new Date(iso);
    if (isNaN(d)) return "";
    var minutes = Math.max(0, Math.round((Date.now() - d.getTime()) / 60000));
    if (minutes < 1) return "just now";
    if (minutes < 60) return minutes + " min ago";
    var hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " h " + (minutes % 60) + " min ago";
    return Math.floor(hours / 24) + " days ago";
  }

  // ---- the API -----------------------------------------------------------------------------------

  function ApiError(status, message) {
    this.status = status;
    this.message = message;
  }

  function api(method, path, body) {
    var token = sessionStorage.getItem(TOKEN_KEY) || "";
    var init = { method: method, headers: { Authorization: "Bearer " + token, Accept: "application/json" }, cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    // Relative URLs: the page works under any base path the API is mounted on.
    return fetch(path, init).then(
      function (response) {
        return response.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          if (!response.ok) {
            var message = (data && data.message) || response.statusText || "request failed";
            throw new ApiError(response.status, message);
          }
          return data;
        });
      },
      function () { throw new ApiError(0, "the API could not be reached (network error)"); }
    );
  }

  function query(params) {
    return Object.keys(params).map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
  }

  // ---- signing in and out ------------------------------------------------------------------------

  function showSignIn(message) {
    stopRefresh();
    $("dashboard").hidden = true;
    $("bar-actions").hidden = true;
    $("refresh-status").textContent = "";
    $("sign-in").hidden = false;
    var error = $("sign-in-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("token").focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(message);
  }

  function showDashboard() {
    $("sign-in").hidden = true;
    $("dashboard").hidden = false;
    $("bar-actions").hidden = false;
  }

  function startRefresh() {
    stopRefresh();
    state.timer = setInterval(load, REFRESH_MS);
  }

  function stopRefresh() {
    if (state.timer !== null) clearInterval(state.timer);
    state.timer = null;
  }

  // ---- loading -----------------------------------------------------------------------------------

  function truncate(date, unit) {
    var d = new Date(date.getTime());
    d.setUTCMinutes(0, 0, 0);
    if (unit === "day") d.setUTCHours(0);
    return d;
  }

  function load() {
    if (state.loading) return Promise.resolve();
    if (!sessionStorage.getItem(TOKEN_KEY)) { showSignIn(); return Promise.resolve(); }
    state.loading = true;
    $("refresh-now").disabled = true;
    var view = state.view;
    var span = period(view);
    var scope = view.component ? { component: view.component } : {};
    // Hourly points over the range, at most its last 7 days; daily points over the 30 days it ends.
    var hourTo = truncate(new Date(span.to.getTime() - 1), "hour");
    var hours = Math.max(1, Math.min(7 * 24, Math.ceil((span.to - span.from) / HOUR)));
    var hourFrom = new Date(hourTo.getTime() - (hours - 1) * HOUR);
    var dayFrom = new Date(truncate(new Date(span.to.getTime() - 1), "day").getTime() - 29 * DAY);
    var bounds = Object.assign({ from: span.from.toISOString(), to: span.to.toISOString() }, scope);
    var seriesTo = span.to.toISOString();
    var sections = [
      { name: "rates", request: api("GET", "v1/metrics?" + query(bounds)), render: renderRates },
      { name: "hourly trend", request: api("GET", "v1/metrics/series?" + query(Object.assign({ granularity: "hour", from: hourFrom.toISOString(), to: seriesTo }, scope))),
        render: renderCharts, arg: { id: "charts-hour", unit: "hour", from: hourFrom, count: hours } },
      { name: "daily trend", request: api("GET", "v1/metrics/series?" + query(Object.assign({ granularity: "day", from: dayFrom.toISOString(), to: seriesTo }, scope))),
        render: renderCharts, arg: { id: "charts-day", unit: "day", from: dayFrom, count: 30 } },
      view.component ? null : { name: "components", request: api("GET", "v1/components?" + query(bounds)), render: renderComponents },
      { name: "alerts", request: api("GET", "v1/alerts?" + query(scope)), render: renderAlerts },
      { name: "silences", request: api("GET", "v1/silences?active=true"), render: renderSilences },
      view.alert ? { name: "alert history", request: api("GET", "v1/alerts/" + encodeURIComponent(view.alert)), render: renderAlertDetail } : null,
    ].filter(Boolean);
    var where = view.component ? " · " + view.component : "";
    $("rates-title").textContent = "Health, " + span.text + where;
    $("trend-hour-title").textContent = "Trend by hour, " + (span.to - span.from > 7 * DAY ? "the range's last 7 days" : span.text) + where;
    $("trend-day-title").textContent = "Trend by day, 30 days" + where;
    if (!view.alert) clear($("alert-detail"));
    // The heartbeats load beside the rest; the health check needs no token and answers even when other parts fail.
    var health = api("GET", "v1/health").then(renderJobs, function (error) { renderJobs(null, error); });
    return Promise.allSettled(sections.map(function (s) { return s.request; }).concat([health])).then(function (results) {
      state.loading = false;
      $("refresh-now").disabled = false;
      var refused = results.some(function (r) { return r.status === "rejected" && r.reason && r.reason.status === 401; });
      if (refused) { signOut("The admin token was refused. Sign in again."); return; }
      showDashboard();
      // Sections whose request failed keep what they showed; the message says which and why.
      var failures = {};
      var order = [];
      var answers = {};
      function fail(name, reason) {
        if (!(reason in failures)) { failures[reason] = []; order.push(reason); }
        failures[reason].push(name);
      }
      sections.forEach(function (section, index) {
        var r = results[index];
        if (r.status === "fulfilled") {
          answers[section.name] = r.value;
          try { section.render(r.value, section.arg); } catch (e) { fail(section.name, "the answer could not be shown (" + e.message + ")"); }
        } else {
          fail(section.name, describe(r.reason));
        }
      });
      var message = order.map(function (reason) { return failures[reason].join(", ") + ": " + reason; }).join(" · ");
      if (message) {
        message = "Could not load " + message + ".";
        if (state.lastLoaded) message += " What is shown is from " + clockTime(state.lastLoaded) + ".";
      }
      showError(message);
      var metrics = answers.rates;
      $("empty").hidden = !(metrics && isEmpty(metrics, answers.components, answers["hourly trend"]));
      if (!order.length) state.lastLoaded = new Date();
      state.refreshedAt = refreshedAt([metrics, answers["hourly trend"], answers.components]);
      renderStatus();
    });
  }

  function describe(error) {
    if (error instanceof ApiError) return error.status ? error.message + " (HTTP " + error.status + ")" : error.message;
    return String(error && error.message ? error.message : error);
  }

  function showError(message) {
    var node = $("error");
    node.hidden = !message;
    node.textContent = message;
  }

  function isEmpty(metrics, components, hourly) {
    var none = (metrics.metrics || []).every(function (m) { return !m.denominator; });
    var noComponents = !components || !(components.components || []).length;
    var noSeries = !hourly || !(hourly.series || []).length;
    return none && noComponents && noSeries;
  }

  // When the rollups behind the charts were last brought up to date, if the API says so.
  function refreshedAt(answers) {
    var keys = ["refreshed_at", "rollups_refreshed_at", "last_refresh", "as_of"];
    for (var i = 0; i < answers.length; i++) {
      var a = answers[i];
      if (!a) continue;
      for (var k = 0; k < keys.length; k++) if (a[keys[k]]) return a[keys[k]];
    }
    return null;
  }

  function renderStatus() {
    var parts = [];
    if (state.lastLoaded) parts.push("Updated " + clockTime(state.lastLoaded));
    if (state.refreshedAt) parts.push("rollups refreshed " + formatTime(state.refreshedAt));
    parts.push("refreshes every minute");
    var node = $("refresh-status");
    node.textContent = parts.join(" · ");
    if (state.lastLoaded) node.setAttribute("data-loaded-at", state.lastLoaded.toISOString());
  }

  // ---- rates -------------------------------------------------------------------------------------

  function renderRates(data) {
    var root = clear($("rates"));
    (data.metrics || []).forEach(function (m) {
      // The charts draw the thresholds the API applies, which configuration may have changed.
      if (m.threshold !== null && m.threshold !== undefined) state.limits[m.metric] = { threshold: Number(m.threshold), operator: m.operator };
      var def = wording(m.metric);
      var status = m.status || "no_data";
      var detail = m.denominator ? def.detail(m) : def.nothing;
      if (m.denominator && status === "no_data") detail += " (too few to judge)";
      root.appendChild(
        el("article", { className: "rate " + status, "data-metric": m.metric, "data-status": status, "data-value": m.value === null ? "" : m.value },
          el("h3", {}, def.title),
          el("p", { className: "value" }, formatRate(m.value)),
          el("p", {}, el("span", { className: "status " + status }, STATUS_TEXT[status] || status), " ",
            el("span", { className: "muted threshold" }, thresholdText(m.operator, m.threshold))),
          el("p", { className: "detail" }, detail)
        )
      );
    });
  }

  // ---- charts ------------------------------------------------------------------------------------

  function renderCharts(data, opts) {
    var step = opts.unit === "hour" ? 3600 * 1000 : 86400 * 1000;
    var buckets = [];
    var index = {};
    for (var i = 0; i < opts.count; i++) {
      var t = opts.from.getTime() + i * step;
      index[t] = buckets.length;
      buckets.push({ t: new Date(t), counts: {} });
    }
    (data.series || []).forEach(function (row) {
      var t = truncate(new Date(row.bucket), opts.unit).getTime();
      if (!(t in index)) return;
      var counts = buckets[index[t]].counts;
      counts[row.signal] = (counts[row.signal] || 0) + Number(row.count || 0);
    });
    state.trends = state.trends || {};
    state.trends[opts.id] = { buckets: buckets, unit: opts.unit };
    drawCharts(opts.id);
  }

  function drawCharts(id) {
    var trend = state.trends && state.trends[id];
    if (!trend) return;
    var root = clear($(id));
    var pending = [];
    RATES.forEach(function (rate) {
      // Until the rates have loaded once, the charts draw no threshold rather than a guessed one.
      var limit = state.limits[rate.metric] || {};
      var def = Object.assign({ metric: rate.metric, threshold: limit.threshold, operator: limit.operator }, wording(rate.metric));
      var points = trend.buckets.map(function (b) {
        var num = rate.numerator.reduce(function (s, k) { return s + (b.counts[k] || 0); }, 0);
        var den = rate.denominator.reduce(function (s, k) { return s + (b.counts[k] || 0); }, 0);
        var value = den > 0 ? (100 * num) / den : null;
        if (value !== null && rate.cap !== null) value = Math.min(value, rate.cap);
        return { t: b.t, value: value, numerator: num, denominator: den };
      });
      var box = el("figure", { className: "chart", "data-metric": def.metric, "data-unit": trend.unit });
      box.appendChild(el("h3", {}, def.title));
      root.appendChild(box);
      if (points.every(function (p) { return p.value === null; })) {
        box.setAttribute("data-empty", "true");
        box.appendChild(el("p", { className: "empty" }, def.nothing + " The chart fills in as clients report signals."));
      } else {
        pending.push({ box: box, points: points, def: def });
      }
    });
    // Measured once every box is in the grid, so each chart is drawn at the width it is shown.
    pending.forEach(function (c) {
      var width = c.box.clientWidth - 24;
      c.box.appendChild(chart(c.points, c.def, trend.unit, width));
    });
  }

  function niceCeiling(v) {
    var steps = [5, 10, 20, 25, 50, 100];
    for (var i = 0; i < steps.length; i++) if (v <= steps[i]) return steps[i];
    return 100;
  }

  function label(t, unit) {
    return unit === "hour"
      ? t.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      : t.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  }

  function chart(points, def, unit, width) {
    var W = Math.max(220, width || 300), H = 160;
    var left = 34, right = 8, top = 8, bottom = 22;
    var plotW = W - left - right, plotH = H - top - bottom;
    var n = points.length;
    function x(i) { return left + (n === 1 ? plotW / 2 : (i * plotW) / (n - 1)); }
    var shown = points.filter(function (p) { return p.value !== null; });
    // Rates alerting above a threshold live near zero: scale to what matters instead of 0-100 %.
    var peak = Math.max.apply(null, shown.map(function (p) { return p.value; }));
    var judged = def.threshold !== undefined;
    var yMax = def.operator === "gt" ? niceCeiling(Math.max(def.threshold * 2, peak * 1.1)) : 100;
    function y(v) { return top + plotH - (Math.max(0, Math.min(yMax, v)) * plotH) / yMax; }
    var last = shown[shown.length - 1];
    var root = svg("svg", {
      viewBox: "0 0 " + W + " " + H,
      role: "img",
      "aria-label": def.title + " by " + unit + ": " + shown.length + " of " + n + " periods with data; latest " + formatRate(last.value) + (judged ? ", " + thresholdText(def.operator, def.threshold) : ""),
    });
    [0, yMax / 2, yMax].forEach(function (v) {
      root.appendChild(svg("line", { className: v === 0 ? "axis" : "grid", x1: left, x2: W - right, y1: y(v), y2: y(v) }));
      root.appendChild(svg("text", { x: left - 4, y: y(v) + 4, "text-anchor": "end" }, v + "%"));
    });
    if (judged) {
      var ty = y(def.threshold);
      root.appendChild(svg("line", { className: "threshold", x1: left, x2: W - right, y1: ty, y2: ty }));
      // The label goes on the side of the line the data is not on: below for "alert below", above for "alert above".
      var below = def.operator === "lt" ? ty + 12 <= top + plotH : ty - top < 14;
      var labelY = below ? ty + 12 : ty - 4;
      root.appendChild(svg("text", { className: "threshold-label", x: left + 4, y: labelY }, "threshold " + def.threshold + "%"));
    }
    // A line through consecutive periods with data; a period without data breaks it.
    var segments = [], current = [];
    points.forEach(function (p, i) {
      if (p.value === null) { if (current.length) segments.push(current); current = []; return; }
      current.push(x(i).toFixed(1) + "," + y(p.value).toFixed(1));
    });
    if (current.length) segments.push(current);
    segments.forEach(function (seg) {
      if (seg.length > 1) root.appendChild(svg("polyline", { className: "line", points: seg.join(" ") }));
    });
    points.forEach(function (p, i) {
      if (p.value === null) return;
      var breach = judged && (def.operator === "gt" ? p.value > def.threshold : p.value < def.threshold);
      var dot = svg("circle", { className: breach ? "dot breach" : "dot", cx: x(i).toFixed(1), cy: y(p.value).toFixed(1), r: n > 24 ? 2.5 : 3 });
      dot.appendChild(svg("title", {}, label(p.t, unit) + ": " + formatRate(p.value) + " (" + p.numerator + "/" + p.denominator + ")"));
      root.appendChild(dot);
    });
    var ticks = plotW < 320 ? [0, Math.floor(n / 2), n - 1] : unit === "hour" ? [0, 6, 12, 18, n - 1] : [0, 7, 14, 21, n - 1];
    ticks.forEach(function (i, k) {
      if (i >= n || (k > 0 && i === ticks[k - 1])) return;
      var anchor = i === 0 ? "start" : i === n - 1 ? "end" : "middle";
      root.appendChild(svg("text", { x: x(i), y: H - 6, "text-anchor": anchor }, label(points[i].t, unit)));
    });
    return root;
  }

  // ---- components --------------------------------------------------------------------------------

  function eventCount(events) {
    if (typeof events === "number") return { total: events, title: "" };
    if (events && typeof events === "object") {
      var keys = Object.keys(events);
      var total = keys.reduce(function (s, k) { return s + Number(events[k] || 0); }, 0);
      return { total: total, title: keys.map(function (k) { return k + ": " + events[k]; }).join("\n") };
    }
    return { total: 0, title: "" };
  }

  function renderComponents(data) {
    var root = clear($("components"));
    var rows = data.components || [];
    if (!rows.length) {
      root.appendChild(el("p", { className: "notice", "data-empty": "true" },
        "No component reported signals in this period. Each component that does appears here, worst first."));
      return;
    }
    var head = el("tr", {}, el("th", { scope: "col" }, "Component"));
    RATES.forEach(function (rate) { head.appendChild(el("th", { scope: "col", className: "number" }, wording(rate.metric).title)); });
    head.appendChild(el("th", { scope: "col", className: "number" }, "Events"));
    var body = el("tbody", {});
    rows.forEach(function (c) {
      var byMetric = {};
      (c.metrics || []).forEach(function (m) { byMetric[m.metric] = m; });
      var link = el("a", { className: "component-link", href: location.pathname + viewQuery(Object.assign({}, state.view, { component: c.component, alert: null })) }, c.component);
      link.addEventListener("click", function (event) { event.preventDefault(); go({ component: c.component, alert: null }); });
      var tr = el("tr", { "data-component": c.component }, el("td", { className: "component-name", "data-label": "Component" }, link));
      RATES.forEach(function (rate) {
        var m = byMetric[rate.metric] || { value: null, status: "no_data", numerator: 0, denominator: 0 };
        var status = m.status || "no_data";
        tr.appendChild(el("td", { className: "number", "data-label": wording(rate.metric).title, "data-metric": rate.metric, "data-status": status, title: m.numerator + " / " + m.denominator },
          el("span", {}, formatRate(m.value), " ", el("span", { className: "status " + status }, STATUS_TEXT[status] || status))));
      });
      var count = eventCount(c.events);
      tr.appendChild(el("td", { className: "number", "data-label": "Events", title: count.title || null }, count.total.toLocaleString()));
      body.appendChild(tr);
    });
    root.appendChild(el("div", { className: "table-wrap" }, el("table", { className: "components" }, el("thead", {}, head), body)));
  }

  // ---- alerts ------------------------------------------------------------------------------------

  var STATE_ORDER = { firing: 0, pending: 1, resolved: 2 };

  function renderAlerts(data) {
    var root = clear($("alerts"));
    var alerts = (data.alerts || []).slice();
    if (!alerts.length) {
      root.appendChild(el("p", { className: "notice", "data-empty": "true" },
        (state.view.component ? "No alerts for " + state.view.component + ". " : "No alerts. ") +
        "An alert appears here when a rate breaches its threshold, and stays until it resolves."));
      return;
    }
    alerts.sort(function (a, b) {
      var order = (STATE_ORDER[a.state] === undefined ? 3 : STATE_ORDER[a.state]) - (STATE_ORDER[b.state] === undefined ? 3 : STATE_ORDER[b.state]);
      return order || String(b.started_at).localeCompare(String(a.started_at));
    });
    var list = el("ul", { className: "alerts" });
    alerts.forEach(function (a) { list.appendChild(alertItem(a)); });
    root.appendChild(list);
  }

  function measure(a) {
    // A burn-rate alert's value and threshold are how fast it burns its objective's error budget.
    if (a.objective !== null && a.objective !== undefined) {
      return "burning the " + a.objective + " % objective " + Number(a.value).toFixed(1) + "x (alert at " + a.threshold + "x)";
    }
    return formatRate(a.value) + " (" + thresholdText(a.operator, a.threshold) + ")";
  }

  function alertTitle(a) {
    var where = a.component ? a.component : "all components";
    return el("div", { className: "title" },
      el("span", { className: "status " + a.state }, a.state), " ",
      a.severity ? el("span", { className: "status " + a.severity }, a.severity) : null, " ",
      a.silenced ? el("span", { className: "status silenced", title: a.silenced_by || "" }, "silenced") : null, " ",
      (a.metric ? wording(a.metric).title : a.rule) + " · " + where);
  }

  function alertItem(a) {
    var acknowledged = Boolean(a.acknowledged_at);
    var item = el("li", { className: "alert-item", "data-alert-id": a.id, "data-state": a.state, "data-acknowledged": acknowledged ? "true" : "false", "data-silenced": a.silenced ? "true" : "false" });
    item.appendChild(alertTitle(a));
    var facts = [];
    if (a.value !== null && a.value !== undefined) facts.push(measure(a));
    if (a.started_at) facts.push("since " + formatTime(a.started_at) + " (" + since(a.started_at) + ")");
    if (a.resolved_at) facts.push("resolved " + formatTime(a.resolved_at));
    if (acknowledged) facts.push("acknowledged by " + (a.acknowledged_by || "someone") + " " + formatTime(a.acknowledged_at));
    if (a.silenced) facts.push("silenced: " + a.silenced_by);
    if (a.rule) facts.push("rule " + a.rule);
    item.appendChild(el("div", { className: "meta" }, facts.join(" · ")));
    var actions = el("div", { className: "actions" });
    if (!acknowledged && a.state !== "resolved") {
      var button = el("button", { type: "button", className: "acknowledge" }, "Acknowledge");
      button.addEventListener("click", function () { openAcknowledge(item, a, button); });
      actions.appendChild(button);
    } else if (acknowledged) {
      actions.appendChild(el("span", { className: "status acknowledged" }, "acknowledged"));
    }
    if (!a.silenced && a.state !== "resolved") {
      var hush = el("button", { type: "button", className: "quiet silence" }, "Silence for 1 h");
      hush.addEventListener("click", function () { openSilence(item, a, hush); });
      actions.appendChild(hush);
    }
    var history = el("a", { className: "history", href: location.pathname + viewQuery(Object.assign({}, state.view, { alert: String(a.id) })) }, "History");
    history.addEventListener("click", function (event) { event.preventDefault(); go({ alert: String(a.id) }); });
    actions.appendChild(history);
    item.appendChild(actions);
    return item;
  }

  // One small form in an alert's item: a name (remembered for the tab) and one more field, then Confirm.
  function inlineForm(item, button, className, second, submit) {
    if (item.querySelector("." + className)) return;
    button.hidden = true;
    var name = el("input", { type: "text", name: "by", required: true, maxlength: 200, placeholder: "Your name", "aria-label": second.byLabel, value: localName() });
    var other = el("input", { type: "text", name: second.name, required: second.required, maxlength: second.maxlength, placeholder: second.placeholder, "aria-label": second.label });
    var confirm = el("button", { type: "submit" }, "Confirm");
    var cancel = el("button", { type: "button", className: "quiet" }, "Cancel");
    var message = el("p", { className: "notice error", role: "alert", hidden: true });
    var form = el("form", { className: className }, name, other, confirm, cancel, message);
    cancel.addEventListener("click", function () { form.remove(); button.hidden = false; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var by = name.value.trim();
      if (!by) { name.focus(); return; }
      if (second.required && !other.value.trim()) { other.focus(); return; }
      sessionStorage.setItem(NAME_KEY, by);
      confirm.disabled = true;
      submit(by, other.value.trim()).then(
        function () { load(); },
        function (error) {
          confirm.disabled = false;
          if (error.status === 401) { signOut("The admin token was refused. Sign in again."); return; }
          message.hidden = false;
          message.textContent = second.failure + describe(error);
        }
      );
    });
    item.appendChild(form);
    (name.value ? other : name).focus();
  }

  function openSilence(item, a, button) {
    inlineForm(item, button, "silence-form-inline",
      { name: "comment", label: "Why silence", byLabel: "Silenced by", placeholder: "Why (required)", required: true, maxlength: 2000, failure: "Could not silence: " },
      function (by, comment) {
        var matchers = { rule: a.rule };
        if (a.component) matchers.component = a.component;
        var ends = new Date(Date.now() + HOUR);
        return api("POST", "v1/silences", { matchers: matchers, ends_at: ends.toISOString(), comment: comment, by: by });
      });
  }

  var EVENT_TEXT = {
    pending: "breaching: pending", firing: "firing", resolved: "resolved", notified: "notified",
    held: "notification held back", acknowledged: "acknowledged", silenced: "silenced", unsilenced: "silence ended",
  };

  function renderAlertDetail(a) {
    var root = clear($("alert-detail"));
    var box = el("article", { className: "alert-detail", "data-alert-id": a.id, "aria-label": "Alert " + a.id + " history" });
    box.appendChild(el("h3", {}, "Alert " + a.id + " · rule " + a.rule));
    var close = el("button", { type: "button", className: "quiet close-detail" }, "Close");
    close.addEventListener("click", function () { go({ alert: null }); });
    box.appendChild(close);
    box.appendChild(alertTitle(a));
    var list = el("ol", { className: "timeline" });
    (a.timeline || []).forEach(function (e) {
      var words = EVENT_TEXT[e.kind] || e.kind;
      if (e.kind === "acknowledged") words += " by " + (e.by || "someone") + (e.note ? ": " + e.note : "");
      if (e.detail) words += " (" + e.detail + ")";
      list.appendChild(el("li", { "data-kind": e.kind }, el("time", { datetime: e.at }, formatTime(e.at)), words));
    });
    if (!(a.timeline || []).length) list.appendChild(el("li", {}, "Nothing recorded yet."));
    box.appendChild(list);
    root.appendChild(box);
  }

  // ---- silences ----------------------------------------------------------------------------------

  function matcherText(m) {
    return ["component", "metric", "rule"].filter(function (k) { return m[k]; }).map(function (k) { return k + " " + m[k]; }).join(", ");
  }

  function renderSilences(data) {
    var root = clear($("silences"));
    var by = $("silence-form").elements.by;
    if (!by.value) by.value = localName();
    var silences = data.silences || [];
    if (!silences.length) {
      root.appendChild(el("p", { className: "notice", "data-empty": "true" }, "No silence is in force."));
      return;
    }
    var list = el("ul", { className: "silences" });
    silences.forEach(function (x) {
      var expire = el("button", { type: "button", className: "quiet" }, "Expire");
      expire.addEventListener("click", function () {
        expire.disabled = true;
        api("DELETE", "v1/silences/" + encodeURIComponent(x.id)).then(function () { load(); }, function (error) {
          expire.disabled = false;
          showError("Could not expire the silence: " + describe(error));
        });
      });
      list.appendChild(el("li", { "data-silence-id": x.id },
        el("span", {}, matcherText(x.matchers) + " · until " + formatTime(x.ends_at) + " · by " + x.created_by + ": " + x.comment),
        expire));
    });
    root.appendChild(list);
  }

  function submitSilence(event) {
    event.preventDefault();
    var form = $("silence-form");
    var message = form.querySelector(".notice");
    var matchers = {};
    ["component", "metric", "rule"].forEach(function (k) { var v = form.elements[k].value.trim(); if (v) matchers[k] = v; });
    var by = form.elements.by.value.trim();
    var comment = form.elements.comment.value.trim();
    if (!Object.keys(matchers).length) { message.hidden = false; message.textContent = "Name a component, a metric or a rule to silence."; return; }
    if (!by || !comment) { (by ? form.elements.comment : form.elements.by).focus(); return; }
    sessionStorage.setItem(NAME_KEY, by);
    var ends = new Date(Date.now() + Number(form.elements.hours.value) * HOUR);
    api("POST", "v1/silences", { matchers: matchers, ends_at: ends.toISOString(), comment: comment, by: by }).then(
      function () { message.hidden = true; form.elements.component.value = ""; form.elements.rule.value = ""; form.elements.comment.value = ""; load(); },
      function (error) { message.hidden = false; message.textContent = "Could not silence: " + describe(error); }
    );
  }

  // ---- heartbeats --------------------------------------------------------------------------------

  var JOB_TEXT = { alert_evaluation: "Alert evaluation", refresh: "Rollup refresh" };

  function renderJobs(health, error) {
    var node = clear($("jobs"));
    var late = $("late");
    if (!health) {
      node.textContent = "Jobs: unknown (" + describe(error) + ")";
      late.hidden = true;
      return;
    }
    var overdue = [];
    (health.jobs || []).forEach(function (job, i) {
      var name = JOB_TEXT[job.job] || job.job;
      var when = job.last_run_at ? "ran " + since(job.last_run_at) : "has not run yet";
      if (i) node.appendChild(document.createTextNode(" · "));
      node.appendChild(el("span", { className: job.status === "late" ? "jobs-late" : null, "data-job": job.job, "data-status": job.status }, name + " " + when + (job.status === "late" ? " (late)" : "")));
      if (job.status === "late") overdue.push(name + " is late: it last ran " + since(job.last_run_at) + ", on a schedule of " + job.schedule + ".");
    });
    late.hidden = !overdue.length;
    late.textContent = overdue.length ? overdue.join(" ") + " Until it runs, alerts cannot fire and the history falls behind." : "";
  }

  function openAcknowledge(item, a, button) {
    inlineForm(item, button, "ack-form",
      { name: "note", label: "Note", byLabel: "Acknowledged by", placeholder: "Note (optional)", required: false, maxlength: 1000, failure: "Could not acknowledge: " },
      function (by, note) {
        var body = { by: by };
        if (note) body.note = note;
        return api("POST", "v1/alerts/" + encodeURIComponent(a.id) + "/acknowledge", body).then(function (updated) {
          var replacement = alertItem(updated && updated.id ? updated : Object.assign({}, a, { acknowledged_at: new Date().toISOString(), acknowledged_by: by }));
          item.replaceWith(replacement);
        });
      });
  }

  function localName() { return sessionStorage.getItem(NAME_KEY) || ""; }

  // ---- start -------------------------------------------------------------------------------------

  function start() {
    state.view = readView();
    showView();
    RATES.forEach(function (rate) { $("silence-form").elements.metric.appendChild(el("option", { value: rate.metric }, wording(rate.metric).title)); });
    $("silence-form").elements.by.value = localName();
    $("silence-form").addEventListener("submit", submitSilence);
    $("range").addEventListener("change", function () {
      var range = $("range").value;
      if (range !== "custom") { go({ range: range, from: null, to: null }); return; }
      var span = period(state.view);
      $("range-from").value = localInput(span.from);
      $("range-to").value = localInput(span.to);
      $("custom-range").hidden = false;
      $("range-from").focus();
    });
    $("view").addEventListener("submit", function (event) {
      event.preventDefault();
      var from = new Date($("range-from").value), to = new Date($("range-to").value);
      if (isNaN(from) || isNaN(to) || from >= to) { showError("Choose a from before the to."); return; }
      if (to - from > MAX_SPAN) { showError("Choose at most 30 days."); return; }
      go({ range: "custom", from: from, to: to });
    });
    window.addEventListener("popstate", function () { state.view = readView(); showView(); load(); });
    $("sign-in-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var token = $("token").value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      $("token").value = "";
      load().then(function () { if (sessionStorage.getItem(TOKEN_KEY)) startRefresh(); });
    });
    $("sign-out").addEventListener("click", function () { signOut(""); });
    $("refresh-now").addEventListener("click", function () { load(); });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { drawCharts("charts-hour"); drawCharts("charts-day"); }, 150);
    });
    if (sessionStorage.getItem(TOKEN_KEY)) {
      showDashboard();
      load().then(function () { if (sessionStorage.getItem(TOKEN_KEY)) startRefresh(); });
    } else {
      showSignIn();
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
