/* curvecast dashboard: polls /api/state and redraws in place, without reloading.
   Data reach the page only through textContent, and plotly only as escaped text
   (plotly reads a subset of HTML in titles and hover text), so names stay inert. */
(function () {
  'use strict';
  var REFRESH = Math.max(200, 1000 * (parseFloat(document.body.dataset.refresh) || 2));
  var COLORS = {COMPLETE: '#8c8c8c', PRUNED: '#d62728', RUNNING: '#1f77b4', FAIL: '#ff7f0e',
                WAITING: '#9467bd'};
  var ORDER = ['COMPLETE', 'PRUNED', 'FAIL', 'WAITING', 'RUNNING'];
  var BANDS = [['0.95', 0.15], ['0.8', 0.25], ['0.5', 0.4]];
  var CONFIG = {responsive: true, displaylogo: false, displayModeBar: 'hover'};
  var COLUMNS = ['trial', 'run', 'state', 'decision', 'points', 'last step', 'last',
                 'final value', 'forecast median', 'lower', 'upper', 'forecast', 'ETA',
                 'params'];
  var TEXT = {0: true, 1: true, 2: true, 3: true, 11: true, 13: true};  // flush-left columns
  var version = null, last = null;
  window.curvecast = {renders: 0, version: null};  // read by the browser tests

  // Text for plotly's titles (a small subset of HTML): &, < and > escaped; not quotes,
  // since plotly decodes &amp; &lt; &gt; but would show &quot; as written.
  function esc(s) {
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }
  function fmt(v) {
    if (v === null || v === undefined) return '-';
    return typeof v === 'number' ? String(Number(v.toPrecision(5))) : String(v);
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function better(goal, a, b) { return goal === 'min' ? a - b : b - a; }

  function soonest(s) {
    var best = null;
    s.trials.forEach(function (t) {
      if (t.state === 'RUNNING' && t.eta !== null && (best === null || t.eta < best.eta)) best = t;
    });
    return best;
  }

  function renderStats(s) {
    var box = document.getElementById('stats');
    box.replaceChildren();
    function stat(value, label) {
      var d = el('div', undefined, 'stat');
      d.appendChild(el('b', value));
      d.appendChild(el('span', label));
      box.appendChild(d);
    }
    var c = s.counts;
    stat(String(c.RUNNING || 0), 'running');
    stat(String(c.COMPLETE || 0), 'completed');
    stat(String(c.PRUNED || 0), 'pruned');
    if (c.FAIL) stat(String(c.FAIL), 'failed');
    stat(s.best ? fmt(s.best.value) : '-',
         s.best ? 'best final (trial ' + s.best.trial + ')' : 'best final: none completed');
    var f = s.compute.fraction_saved;
    stat(f === null ? '-' : Math.round(100 * f) + '%',
         'compute saved by pruning (' + s.compute.saved + ' steps)');
    stat(String(s.compute.used), 'steps used so far');
    if (s.target !== null) {
      var t = soonest(s);
      stat(t ? 'step ' + fmt(t.eta) : '-', 'soonest ETA to ' + fmt(s.target) +
           (t ? ' (' + t.name + ', P \u2265 ' + s.prob + ')' : ' among running trials'));
    }
    var notes = document.getElementById('notes');
    notes.replaceChildren();
    s.notes.forEach(function (n) { notes.appendChild(el('p', n, 'note')); });
  }

  function targetShape(s) {
    return s.target === null ? [] : [{type: 'line', xref: 'paper', x0: 0, x1: 1, y0: s.target,
      y1: s.target, line: {color: '#2ca02c', dash: 'dot', width: 1}}];
  }

  function renderAll(s) {
    var traces = ORDER.filter(function (k) { return s.curves[k]; }).map(function (k) {
      var line = s.curves[k];
      return {type: 'scatter', mode: 'lines', name: k.toLowerCase(), x: line.x, y: line.y,
              customdata: line.trial, line: {color: COLORS[k], width: k === 'RUNNING' ? 2 : 1},
              opacity: k === 'RUNNING' ? 1 : 0.5,
              hovertemplate: 'trial %{customdata}<br>step %{x}<br>%{y}<extra></extra>'};
    });
    var layout = {margin: {l: 60, r: 10, t: 10, b: 40}, xaxis: {title: {text: 'step'}},
                  yaxis: {title: {text: 'value'}}, hovermode: 'closest', uirevision: 'all',
                  shapes: targetShape(s)};
    if (s.yrange) layout.yaxis.range = s.yrange;
    Plotly.react('all-trials', traces, layout, CONFIG);
  }

  function fanTraces(p) {
    var f = p.fan, r = p.recorded, traces = [];
    BANDS.forEach(function (b) {
      var band = f ? f.bands[b[0]] : null;
      traces.push({type: 'scatter', mode: 'lines', fill: 'toself', hoverinfo: 'skip',
        name: Math.round(100 * b[0]) + '% interval', line: {width: 0},
        fillcolor: 'rgba(31,119,180,' + b[1] + ')',
        x: band ? f.x.concat(f.x.slice().reverse()) : [],
        y: band ? band[1].concat(band[0].slice().reverse()) : []});
    });
    if (r) {  // the forecast a stop rested on, as recorded: its final only, not a path
      traces.push({type: 'scatter', mode: 'lines+markers', line: {color: '#1f77b4', dash: 'dot'},
                   name: 'forecast recorded at step ' + fmt(r.step), marker: {size: [0, 7]},
                   x: [r.step, r.final_step], y: [r.value, r.median],
                   error_y: {type: 'data', symmetric: false, thickness: 1.5, width: 6,
                             array: [0, r.upper - r.median], arrayminus: [0, r.median - r.lower]}});
    } else {
      traces.push({type: 'scatter', mode: 'lines', name: 'forecast median',
                   x: f ? f.x : [], y: f ? f.median : [], line: {color: '#1f77b4'}});
    }
    traces.push({type: 'scatter', mode: 'lines+markers', name: 'observed', x: p.steps,
                 y: p.values, line: {color: 'black'}, marker: {size: 3}});
    return traces;
  }

  function fanLayout(p, s) {
    // Two lines, each escaped; the <br> between them is ours.
    var title = esc(p.title + ' \u00b7 ' + p.state.toLowerCase()) + '<br><sub>' +
                esc(p.decision + (p.forecast_source ? ' \u00b7 ' + p.forecast_source : '')) +
                '</sub>';
    var layout = {title: {text: title, font: {size: 12}, x: 0.02, xanchor: 'left'},
                  margin: {l: 50, r: 10, t: 48, b: 35}, showlegend: false, hovermode: 'x',
                  xaxis: {title: {text: 'step'}}, uirevision: 'fan', shapes: targetShape(s)};
    if (s.final_step !== null && p.steps.length) {  // the whole run's length, for context
      var end = Math.max(s.final_step, p.steps[p.steps.length - 1],
                         p.recorded ? p.recorded.final_step : 0);
      // room for a recorded forecast's error bar at the final step
      layout.xaxis.range = [Math.min(p.steps[0], 0), p.recorded ? end * 1.03 : end];
    }
    if (p.yrange) layout.yaxis = {range: p.yrange};
    if (p.eta !== null && p.state === 'RUNNING') {  // where the forecast reaches the target
      layout.shapes.push({type: 'line', x0: p.eta, x1: p.eta, yref: 'paper', y0: 0, y1: 1,
                          line: {color: '#2ca02c', dash: 'dot', width: 1}});
    }
    if (p.stop) {
      layout.shapes.push({type: 'line', x0: p.stop.step, x1: p.stop.step, yref: 'paper', y0: 0,
                          y1: 1, line: {color: '#d62728', dash: 'dash', width: 1}});
    }
    if (p.recorded && p.recorded.best !== null) {  // the best final the stop compared with
      layout.shapes.push({type: 'line', xref: 'paper', x0: 0, x1: 1, y0: p.recorded.best,
                          y1: p.recorded.best, line: {color: '#888', dash: 'dot', width: 1}});
    }
    return layout;
  }

  function renderFans(s) {
    var box = document.getElementById('fans');
    var keep = {};
    s.fans.forEach(function (p) {
      var id = 'fan-' + p.number;
      keep[id] = true;
      var div = document.getElementById(id);
      if (!div) { div = el('div', undefined, 'plot'); div.id = id; }
      box.appendChild(div);  // appending an existing child moves it: panels keep s.fans' order
      Plotly.react(div, fanTraces(p), fanLayout(p, s), CONFIG);
    });
    Array.prototype.slice.call(box.children).forEach(function (div) {
      if (!keep[div.id]) { Plotly.purge(div); box.removeChild(div); }
    });
    document.getElementById('fans-heading').textContent =
      'Forecast fans (50/80/95%) of ' + s.fans.length + ' trials: running, latest pruned, ' +
      'best completed';
  }

  function rank(s) {
    var order = {RUNNING: 0, COMPLETE: 1, PRUNED: 2};
    function key(t) {
      if (t.state === 'COMPLETE') return t.value;
      return t.forecast ? t.forecast.median : null;
    }
    return s.trials.slice().sort(function (a, b) {
      var oa = a.state in order ? order[a.state] : 3, ob = b.state in order ? order[b.state] : 3;
      if (oa !== ob) return oa - ob;
      var ka = key(a), kb = key(b);
      if (ka === null || kb === null) return (ka === null) - (kb === null) || a.number - b.number;
      return better(s.goal, ka, kb);
    });
  }

  function renderTable(s) {
    var table = document.getElementById('trials');
    var head = el('tr');
    COLUMNS.forEach(function (c, j) { head.appendChild(el('th', c, TEXT[j] ? 'text' : '')); });
    table.tHead.replaceChildren(head);
    var body = document.createDocumentFragment();
    rank(s).forEach(function (t) {
      var fc = t.forecast || {};
      var params = Object.keys(t.params).map(function (k) { return k + '=' + t.params[k]; });
      var cells = [t.name, t.run || '-', t.state.toLowerCase(), t.decision, t.points,
                   t.last_step, t.last, t.value, fc.median, fc.lower, fc.upper,
                   t.forecast_source, t.eta, params.join(', ')];
      var tr = el('tr');
      cells.forEach(function (v, j) { tr.appendChild(el('td', fmt(v), TEXT[j] ? 'text' : '')); });
      body.appendChild(tr);
    });
    table.tBodies[0].replaceChildren(body);
    document.getElementById('total').textContent = s.trials.length;
    filter();
  }

  function filter() {
    var q = document.getElementById('filter').value.toLowerCase(), shown = 0;
    Array.prototype.forEach.call(document.getElementById('trials').tBodies[0].rows, function (tr) {
      var hit = tr.textContent.toLowerCase().indexOf(q) >= 0;
      tr.style.display = hit ? '' : 'none';
      shown += hit ? 1 : 0;
    });
    document.getElementById('shown').textContent = shown;
  }

  function render(s) {
    document.title = 'curvecast: ' + s.study;
    document.getElementById('title').textContent = 'curvecast dashboard: study ' + s.study;
    renderStats(s);
    renderAll(s);
    renderFans(s);
    renderTable(s);
    window.curvecast.renders += 1;
    window.curvecast.version = s.version;
  }

  function setStatus(s) {
    document.getElementById('status').textContent =
      s.storage + ' \u00b7 goal ' + s.goal + ' \u00b7 final step ' + fmt(s.final_step) +
      ' \u00b7 forecasts by ' + s.method + ' \u00b7 updated ' +
      new Date(1000 * s.updated).toLocaleTimeString() + ', checked ' +
      new Date(1000 * s.checked).toLocaleTimeString() + ' (every ' + REFRESH / 1000 + ' s)';
    document.getElementById('error').textContent = s.error || '';
  }

  function poll() {
    var url = '/api/state' + (version === null ? '' : '?since=' + version);
    fetch(url, {cache: 'no-store'}).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    }).then(function (s) {
      try {
        if (s.unchanged) {  // the page has this version: only the clock and errors
          last.checked = s.checked;
          last.error = s.error;
        } else if (s.version !== version) {
          render(s);
          version = s.version;
          last = s;
        }
        setStatus(last);
      } catch (e) {  // a bug of ours: on the console and the page, and polling goes on
        console.error(e);
        document.getElementById('error').textContent = 'cannot draw the state: ' + e.message;
      }
    }, function (e) {
      document.getElementById('error').textContent =
        'cannot reach the dashboard server (' + e.message + '); retrying';
    }).then(function () { setTimeout(poll, REFRESH); });
  }

  document.getElementById('filter').addEventListener('input', filter);
  poll();
})();
